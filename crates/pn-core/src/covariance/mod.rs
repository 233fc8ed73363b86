//! Structured covariance matrices.
//!
//! A [`Covariance`] is a symmetric positive (semi-)definite matrix stored in the form that makes
//! its algebra cheap. Every form offers the same operations — products, solves, log-determinants,
//! a square root for sampling — each in the cost its structure allows:
//!
//! | form | storage | `Σ⁻¹ b` | `log det Σ` |
//! |---|---|---|---|
//! | [`Covariance::Dense`] | `n²` (+ cached Cholesky) | `O(n²)` after `O(n³/3)` once | free after the factor |
//! | [`Covariance::Cholesky`] | `L`, `Σ = L Lᵀ` | `O(n²)` | `O(n)` |
//! | [`Covariance::Diagonal`] | `n` | `O(n)` | `O(n)` |
//! | [`Covariance::ScaledIdentity`] | `1` | `O(n)` | `O(1)` |
//! | [`Covariance::Kronecker`] | `A ⊗ B` | `O(mp(m+p))` | from the factors |
//! | [`Covariance::LowRankUpdate`] | `B + U diag(w) Uᵀ` | Woodbury | determinant lemma |

mod kronecker;
mod low_rank;

pub use low_rank::LowRank;

use std::sync::{Arc, OnceLock};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};

use crate::dense::{self, Cholesky, Triangle};
use crate::error::{Error, Result, check};
use crate::map::LinearMap;
use crate::operator::LinearOperator;

/// A dense symmetric positive semi-definite matrix with its Cholesky factor cached on first use.
#[derive(Debug, Clone)]
pub struct DenseCov {
    matrix: Arc<Array2<f64>>,
    root: Arc<OnceLock<Root>>,
}

/// How a dense covariance is factored: Cholesky if it is numerically positive definite, else a
/// symmetric eigen-square-root with the (round-off) negative eigenvalues clipped to zero.
#[derive(Debug)]
enum Root {
    Cholesky(Cholesky),
    /// Positive semi-definite: `root rootᵀ = Σ`; `pivot` is where Cholesky failed.
    Eigen {
        root: Array2<f64>,
        pivot: usize,
    },
    /// Not positive semi-definite beyond round-off.
    Indefinite {
        pivot: usize,
    },
}

impl DenseCov {
    fn new_trusted(matrix: Array2<f64>) -> Self {
        Self {
            matrix: Arc::new(matrix),
            root: Arc::new(OnceLock::new()),
        }
    }

    /// The matrix.
    pub fn matrix(&self) -> ArrayView2<'_, f64> {
        self.matrix.view()
    }

    fn root(&self) -> &Root {
        self.root
            .get_or_init(|| match dense::cholesky(self.matrix.view()) {
                Ok(c) => Root::Cholesky(c),
                Err(e) => {
                    let pivot = match e {
                        Error::NotPositiveDefinite { pivot } => pivot,
                        _ => 0,
                    };
                    match psd_root(self.matrix.view()) {
                        Ok(root) => Root::Eigen { root, pivot },
                        Err(_) => Root::Indefinite { pivot },
                    }
                }
            })
    }

    /// The Cholesky factor, or [`Error::NotPositiveDefinite`] if the matrix is only
    /// positive semi-definite (to working precision).
    pub fn cholesky(&self) -> Result<&Cholesky> {
        match self.root() {
            Root::Cholesky(c) => Ok(c),
            Root::Eigen { pivot, .. } | Root::Indefinite { pivot } => {
                Err(Error::NotPositiveDefinite { pivot: *pivot })
            }
        }
    }
}

/// A symmetric square root `V diag(√λ⁺)` of a PSD matrix, rejecting eigenvalues more negative
/// than round-off (`-1e-10 · max|λ| · n`).
fn psd_root(a: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let (vals, vecs) = dense::eigh(a)?;
    let n = vals.len();
    let scale = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = 1e-10 * scale * (n.max(1) as f64);
    let mut root = vecs;
    for (j, &l) in vals.iter().enumerate() {
        if l < -tol {
            return Err(Error::NotPositiveDefinite { pivot: j });
        }
        let s = l.max(0.0).sqrt();
        root.column_mut(j).mapv_inplace(|v| v * s);
    }
    Ok(root)
}

/// A structured symmetric positive semi-definite matrix. See the [module docs](self).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Covariance {
    /// A dense matrix (Cholesky factor cached on first use).
    Dense(DenseCov),
    /// Square-root form `Σ = L Lᵀ`, `L` lower triangular with a non-negative diagonal.
    Cholesky(Arc<Array2<f64>>),
    /// `diag(d)`, `dᵢ ≥ 0`.
    Diagonal(Arc<Array1<f64>>),
    /// `s · I` of order `n`: the fields are `(n, s)`.
    ScaledIdentity(usize, f64),
    /// `A ⊗ B`, acting on row-major stacked vectors: `(A ⊗ B) vec(X) = vec(A X Bᵀ)`.
    Kronecker(Box<Covariance>, Box<Covariance>),
    /// `B + U diag(w) Uᵀ` for a structured base `B`.
    LowRankUpdate(LowRank),
}

impl Covariance {
    /// A dense covariance. Errors unless `a` is square, finite, symmetric and positive
    /// semi-definite (a Cholesky is attempted, then an eigendecomposition; clearly negative
    /// eigenvalues give [`Error::NotPositiveDefinite`] with the failed Cholesky pivot).
    pub fn dense(a: Array2<f64>) -> Result<Self> {
        check::square("Covariance::dense", &a)?;
        check::finite("covariance", &a)?;
        check::symmetric(&a)?;
        let c = DenseCov::new_trusted(a);
        if let Root::Indefinite { pivot } = c.root() {
            return Err(Error::NotPositiveDefinite { pivot: *pivot });
        }
        Ok(Covariance::Dense(c))
    }

    /// Square-root form `Σ = L Lᵀ` from a lower-triangular `L` (the strict upper triangle is
    /// ignored). Errors if `L` is not square, not finite, or has a negative diagonal entry.
    pub fn cholesky_factor(l: Array2<f64>) -> Result<Self> {
        let n = check::square("Covariance::cholesky_factor", &l)?;
        check::finite("L", &l)?;
        let mut l = l;
        for i in 0..n {
            if l[[i, i]] < 0.0 {
                return Err(Error::InvalidParameter {
                    name: "L[i, i]",
                    value: l[[i, i]],
                    reason: "the diagonal of a Cholesky factor must be >= 0",
                });
            }
            l.slice_mut(s![i, i + 1..]).fill(0.0);
        }
        Ok(Covariance::Cholesky(Arc::new(l)))
    }

    /// `diag(d)`. Errors on non-finite or negative entries.
    pub fn diagonal(d: Array1<f64>) -> Result<Self> {
        check::finite("d", &d)?;
        if let Some(&v) = d.iter().find(|&&v| v < 0.0) {
            return Err(Error::InvalidParameter {
                name: "d",
                value: v,
                reason: "variances must be >= 0",
            });
        }
        Ok(Covariance::Diagonal(Arc::new(d)))
    }

    /// `s · I` of order `n`. Errors unless `s` is finite and `≥ 0`.
    pub fn scaled_identity(n: usize, s: f64) -> Result<Self> {
        crate::validate::non_negative("s", s)?;
        Ok(Covariance::ScaledIdentity(n, s))
    }

    /// `A ⊗ B`.
    pub fn kronecker(a: Covariance, b: Covariance) -> Self {
        Covariance::Kronecker(Box::new(a), Box::new(b))
    }

    /// `B + U diag(w) Uᵀ`. See [`LowRank::new`] for the checks (shapes, finiteness, and
    /// positive definiteness of the result when some weights are negative).
    pub fn low_rank_update(base: Covariance, u: Array2<f64>, w: Array1<f64>) -> Result<Self> {
        Ok(Covariance::LowRankUpdate(LowRank::new(base, u, w)?))
    }

    /// The order `n`.
    pub fn dim(&self) -> usize {
        match self {
            Covariance::Dense(c) => c.matrix.nrows(),
            Covariance::Cholesky(l) => l.nrows(),
            Covariance::Diagonal(d) => d.len(),
            Covariance::ScaledIdentity(n, _) => *n,
            Covariance::Kronecker(a, b) => a.dim() * b.dim(),
            Covariance::LowRankUpdate(lr) => lr.dim(),
        }
    }

    /// A short name of the structure (`"dense"`, `"cholesky"`, …), for messages and reports.
    pub fn structure(&self) -> &'static str {
        match self {
            Covariance::Dense(_) => "dense",
            Covariance::Cholesky(_) => "cholesky",
            Covariance::Diagonal(_) => "diagonal",
            Covariance::ScaledIdentity(..) => "scaled-identity",
            Covariance::Kronecker(..) => "kronecker",
            Covariance::LowRankUpdate(_) => "low-rank-update",
        }
    }

    /// `Σ⁻¹ b`. Errors on a length mismatch, non-finite `b`, or a singular `Σ`.
    pub fn solve(&self, b: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        Ok(self.solve_mat(b.insert_axis(Axis(1)))?.remove_axis(Axis(1)))
    }

    /// `Σ⁻¹ B`. Errors on a row-count mismatch, non-finite `B`, or a singular `Σ`.
    pub fn solve_mat(&self, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check::shape("Covariance::solve", &[self.dim()], &[b.nrows()])?;
        check::finite("B", &b)?;
        self.solve_unchecked(b)
    }

    pub(crate) fn solve_unchecked(&self, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        match self {
            Covariance::Dense(c) => c.cholesky()?.solve_mat(b),
            Covariance::Cholesky(l) => {
                nonsingular_diag(l.diag())?;
                let y = dense::trsm(l.view(), b, Triangle::Lower, false);
                Ok(dense::trsm(l.view(), y.view(), Triangle::Lower, true))
            }
            Covariance::Diagonal(d) => {
                nonsingular_diag(d.view())?;
                let mut out = b.to_owned();
                for (mut row, &di) in out.axis_iter_mut(Axis(0)).zip(d.iter()) {
                    row /= di;
                }
                Ok(out)
            }
            Covariance::ScaledIdentity(_, s) => {
                nonsingular_diag(ArrayView1::from(std::slice::from_ref(s)))?;
                Ok(b.mapv(|v| v / s))
            }
            Covariance::Kronecker(a, bb) => kronecker::solve(a, bb, b),
            Covariance::LowRankUpdate(lr) => lr.solve(b),
        }
    }

    /// `log det Σ`. Errors if `Σ` is singular.
    pub fn logdet(&self) -> Result<f64> {
        match self {
            Covariance::Dense(c) => Ok(c.cholesky()?.logdet()),
            Covariance::Cholesky(l) => {
                nonsingular_diag(l.diag())?;
                Ok(2.0 * l.diag().iter().map(|v| v.ln()).sum::<f64>())
            }
            Covariance::Diagonal(d) => {
                nonsingular_diag(d.view())?;
                Ok(d.iter().map(|v| v.ln()).sum())
            }
            Covariance::ScaledIdentity(n, s) => {
                nonsingular_diag(ArrayView1::from(std::slice::from_ref(s)))?;
                Ok(*n as f64 * s.ln())
            }
            Covariance::Kronecker(a, b) => {
                Ok(b.dim() as f64 * a.logdet()? + a.dim() as f64 * b.logdet()?)
            }
            Covariance::LowRankUpdate(lr) => lr.logdet(),
        }
    }

    /// A square root `R` with `R Rᵀ = Σ`, as a dense `n × r` matrix (lower triangular where
    /// the structure allows). Errors only if `Σ` is not positive semi-definite.
    pub fn root_dense(&self) -> Result<Array2<f64>> {
        match self {
            Covariance::Dense(c) => match c.root() {
                Root::Cholesky(ch) => Ok(ch.l().to_owned()),
                Root::Eigen { root, .. } => Ok(root.clone()),
                Root::Indefinite { pivot } => Err(Error::NotPositiveDefinite { pivot: *pivot }),
            },
            Covariance::Cholesky(l) => Ok((**l).clone()),
            Covariance::Diagonal(d) => Ok(Array2::from_diag(&d.mapv(f64::sqrt))),
            Covariance::ScaledIdentity(n, s) => Ok(Array2::eye(*n) * s.sqrt()),
            Covariance::Kronecker(a, b) => {
                Ok(crate::map::kron_dense(&a.root_dense()?, &b.root_dense()?))
            }
            Covariance::LowRankUpdate(lr) => lr.root_dense(),
        }
    }

    /// `R Z` for the structure's square root `R` (`R Rᵀ = Σ`) and `Z` with
    /// [`root_cols`](Self::root_cols) rows: with `Z` standard normal, the columns of `R Z` are
    /// draws from `N(0, Σ)`.
    pub(crate) fn root_mul(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        match self {
            Covariance::Diagonal(d) => {
                let mut out = z.to_owned();
                for (mut row, &di) in out.axis_iter_mut(Axis(0)).zip(d.iter()) {
                    row *= di.sqrt();
                }
                Ok(out)
            }
            Covariance::ScaledIdentity(_, s) => Ok(z.mapv(|v| v * s.sqrt())),
            Covariance::Kronecker(a, b) => kronecker::root_mul(a, b, z),
            Covariance::LowRankUpdate(lr) => lr.root_mul(z),
            Covariance::Cholesky(l) => Ok(dense::mm(l.view(), z)),
            Covariance::Dense(_) => Ok(dense::mm(self.root_dense()?.view(), z)),
        }
    }

    /// The number of columns of the square root used by sampling.
    pub(crate) fn root_cols(&self) -> usize {
        match self {
            Covariance::Kronecker(a, b) => a.root_cols() * b.root_cols(),
            Covariance::LowRankUpdate(lr) => lr.root_cols(),
            _ => self.dim(),
        }
    }

    /// `c · Σ` for `c ≥ 0`, keeping the structure (a square-root form is scaled by `√c`).
    pub fn scale(&self, c: f64) -> Result<Self> {
        crate::validate::non_negative("c", c)?;
        Ok(match self {
            Covariance::Dense(d) => Covariance::Dense(DenseCov::new_trusted(&*d.matrix * c)),
            Covariance::Cholesky(l) => Covariance::Cholesky(Arc::new(&**l * c.sqrt())),
            Covariance::Diagonal(d) => Covariance::Diagonal(Arc::new(&**d * c)),
            Covariance::ScaledIdentity(n, s) => Covariance::ScaledIdentity(*n, s * c),
            Covariance::Kronecker(a, b) => Covariance::kronecker(a.scale(c)?, (**b).clone()),
            Covariance::LowRankUpdate(lr) => lr.scale(c)?,
        })
    }

    /// `A Σ Aᵀ`, keeping structure where the algebra allows: identity maps return `Σ`,
    /// selections take sub-structures, diagonal maps keep diagonal forms, Kronecker maps of
    /// Kronecker covariances stay Kronecker, and square-root forms stay square-root forms
    /// (`A L` is re-triangularised by QR, `A Σ Aᵀ` is never formed).
    pub(crate) fn congruence(&self, a: &LinearMap) -> Result<Covariance> {
        use LinearMap as M;
        Ok(match (a, self) {
            (M::Identity(_), _) => self.clone(),
            (M::Kronecker(ma, mb), Covariance::Kronecker(ca, cb))
                if ma.shape().1 == ca.dim() && mb.shape().1 == cb.dim() =>
            {
                Covariance::kronecker(ca.congruence(ma)?, cb.congruence(mb)?)
            }
            (M::Diagonal(d), Covariance::Diagonal(v)) => {
                Covariance::Diagonal(Arc::new(&d.mapv(|x| x * x) * &**v))
            }
            (M::Diagonal(d), Covariance::ScaledIdentity(_, s)) => {
                Covariance::Diagonal(Arc::new(d.mapv(|x| x * x * s)))
            }
            (M::Selection(idx, _), Covariance::Diagonal(v)) => {
                Covariance::Diagonal(Arc::new(v.select(Axis(0), idx)))
            }
            (M::Selection(idx, _), Covariance::ScaledIdentity(_, s)) if distinct(idx) => {
                Covariance::ScaledIdentity(idx.len(), *s)
            }
            (M::Selection(idx, _), Covariance::Dense(c)) => Covariance::Dense(
                DenseCov::new_trusted(c.matrix.select(Axis(0), idx).select(Axis(1), idx)),
            ),
            (M::Selection(idx, _), Covariance::LowRankUpdate(lr)) => {
                Covariance::LowRankUpdate(lr.select(a, idx)?)
            }
            (_, Covariance::Cholesky(l)) => {
                let al = a.left_mul(l.view());
                Covariance::Cholesky(Arc::new(dense::cholesky_of_sum(&[al.view()])?))
            }
            _ => {
                // General case: A Σ Aᵀ through Σ's structured product, then symmetrised.
                let sat = self.matmat(a.to_dense().t());
                let m = a.left_mul(sat.view());
                Covariance::Dense(DenseCov::new_trusted(symmetrise(m)))
            }
        })
    }

    /// `Σ + N` (same order), keeping square-root and diagonal forms where possible.
    pub(crate) fn add(&self, noise: &Covariance) -> Result<Covariance> {
        Ok(match (self, noise) {
            (Covariance::Diagonal(a), Covariance::Diagonal(b)) => {
                Covariance::Diagonal(Arc::new(&**a + &**b))
            }
            (Covariance::ScaledIdentity(n, a), Covariance::ScaledIdentity(_, b)) => {
                Covariance::ScaledIdentity(*n, a + b)
            }
            (Covariance::Diagonal(a), Covariance::ScaledIdentity(_, b))
            | (Covariance::ScaledIdentity(_, b), Covariance::Diagonal(a)) => {
                Covariance::Diagonal(Arc::new(a.mapv(|v| v + b)))
            }
            (Covariance::Cholesky(l), _) => {
                let rn = noise.root_dense()?;
                Covariance::Cholesky(Arc::new(dense::cholesky_of_sum(&[l.view(), rn.view()])?))
            }
            _ => Covariance::Dense(DenseCov::new_trusted(symmetrise(
                self.to_dense() + noise.to_dense(),
            ))),
        })
    }

    /// The dense matrix wrapped as [`Covariance::Dense`] without the PSD check (internal: the
    /// caller guarantees it by construction).
    pub(crate) fn dense_trusted(a: Array2<f64>) -> Self {
        Covariance::Dense(DenseCov::new_trusted(a))
    }
}

fn distinct(idx: &[usize]) -> bool {
    let mut v = idx.to_vec();
    v.sort_unstable();
    v.windows(2).all(|w| w[0] != w[1])
}

/// `(M + Mᵀ) / 2`.
pub(crate) fn symmetrise(mut m: Array2<f64>) -> Array2<f64> {
    let n = m.nrows();
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (m[[i, j]] + m[[j, i]]);
            m[[i, j]] = v;
            m[[j, i]] = v;
        }
    }
    m
}

fn nonsingular_diag(d: ArrayView1<'_, f64>) -> Result<()> {
    match d.iter().position(|&v| v <= 0.0) {
        Some(i) => Err(Error::Singular {
            index: i,
            value: d[i],
        }),
        None => Ok(()),
    }
}

impl LinearOperator for Covariance {
    fn shape(&self) -> (usize, usize) {
        (self.dim(), self.dim())
    }

    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.matmat(x.insert_axis(Axis(1))).remove_axis(Axis(1))
    }

    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.matvec(x)
    }

    fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        match self {
            Covariance::Dense(c) => dense::mm(c.matrix.view(), x),
            Covariance::Cholesky(l) => {
                let ltx = dense::mm(l.t(), x);
                dense::mm(l.view(), ltx.view())
            }
            Covariance::Diagonal(d) => {
                let mut out = x.to_owned();
                for (mut row, &di) in out.axis_iter_mut(Axis(0)).zip(d.iter()) {
                    row *= di;
                }
                out
            }
            Covariance::ScaledIdentity(_, s) => x.mapv(|v| v * s),
            Covariance::Kronecker(a, b) => kronecker::matmat(a, b, x),
            Covariance::LowRankUpdate(lr) => lr.matmat(x),
        }
    }

    fn diagonal(&self) -> Array1<f64> {
        match self {
            Covariance::Dense(c) => c.matrix.diag().to_owned(),
            Covariance::Cholesky(l) => l.map_axis(Axis(1), |r| r.dot(&r)),
            Covariance::Diagonal(d) => (**d).clone(),
            Covariance::ScaledIdentity(n, s) => Array1::from_elem(*n, *s),
            Covariance::Kronecker(a, b) => {
                let (da, db) = (a.diagonal(), b.diagonal());
                Array1::from_iter(da.iter().flat_map(|&x| db.iter().map(move |&y| x * y)))
            }
            Covariance::LowRankUpdate(lr) => lr.diagonal(),
        }
    }

    fn to_dense(&self) -> Array2<f64> {
        match self {
            Covariance::Dense(c) => (*c.matrix).clone(),
            Covariance::Cholesky(l) => dense::mm(l.view(), l.t()),
            Covariance::Diagonal(d) => Array2::from_diag(&**d),
            Covariance::ScaledIdentity(n, s) => Array2::eye(*n) * *s,
            Covariance::Kronecker(a, b) => crate::map::kron_dense(&a.to_dense(), &b.to_dense()),
            Covariance::LowRankUpdate(lr) => lr.to_dense(),
        }
    }
}

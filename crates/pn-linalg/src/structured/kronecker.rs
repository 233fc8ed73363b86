//! Kronecker-structured GP regression on grids.

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, Axis, IxDyn};
use pn_core::LinearOperator;
use pn_core::kernels::Kernel;

use crate::error::Result;
use crate::iterative::{check_finite, check_len};

/// `⊗_d M_d` (or its transpose) applied to `v` of length `Π cols(M_d)`, in row-major order
/// (the last dimension varies fastest), by one mode product per dimension.
fn kron_apply(
    mats: &[ArrayView2<'_, f64>],
    v: ArrayView1<'_, f64>,
    transpose: bool,
) -> Array1<f64> {
    let dims: Vec<usize> = mats
        .iter()
        .map(|m| if transpose { m.nrows() } else { m.ncols() })
        .collect();
    let mut t: ArrayD<f64> = v
        .to_owned()
        .into_shape_with_order(IxDyn(&dims))
        .expect("length is the product of the dimensions");
    let nd = mats.len();
    for (d, m) in mats.iter().enumerate() {
        let mut perm: Vec<usize> = (0..nd).collect();
        perm.swap(0, d);
        let tp = t
            .view()
            .permuted_axes(IxDyn(&perm))
            .as_standard_layout()
            .into_owned();
        let mut sh = tp.shape().to_vec();
        let rest: usize = sh[1..].iter().product();
        let mat = tp
            .into_shape_with_order((sh[0], rest))
            .expect("standard layout");
        let res = if transpose {
            m.t().dot(&mat)
        } else {
            m.dot(&mat)
        };
        sh[0] = res.nrows();
        t = res
            .into_shape_with_order(IxDyn(&sh))
            .expect("sizes agree")
            .permuted_axes(IxDyn(&perm))
            .as_standard_layout()
            .into_owned();
    }
    let len = t.len();
    t.into_shape_with_order(len).expect("standard layout")
}

/// `⊗_d u_d` for vectors (row-major).
fn kron_vectors(us: &[Array1<f64>]) -> Array1<f64> {
    let mut out = Array1::from_elem(1, 1.0);
    for u in us {
        let mut next = Array1::zeros(out.len() * u.len());
        for (i, &a) in out.iter().enumerate() {
            next.slice_mut(ndarray::s![i * u.len()..(i + 1) * u.len()])
                .assign(&(u * a));
        }
        out = next;
    }
    out
}

/// GP regression with a product kernel `k(x, x') = Π_d k_d(x_d, x'_d)` on the Cartesian grid
/// `G = g₁ × g₂ × … × g_D` (`N = Π nᵢ` points, row-major: the last coordinate varies fastest),
/// with noise `σ² I`. The kernel matrix is `K = K₁ ⊗ … ⊗ K_D`; with `K_d = Q_d Λ_d Q_dᵀ`,
///
/// ```text
/// (K + σ² I)⁻¹ = Q (Λ + σ² I)⁻¹ Qᵀ,  Q = ⊗ Q_d,  Λ = ⊗ Λ_d,  log det(K + σ² I) = Σⱼ log(Λⱼ + σ²).
/// ```
///
/// It is also the [`LinearOperator`] `K + σ² I` (products in `O(N Σ nᵢ)`).
#[derive(Debug, Clone)]
pub struct KroneckerGp {
    kernels: Vec<Box<dyn Kernel>>,
    grids: Vec<Array1<f64>>,
    kmats: Vec<Array2<f64>>,
    qs: Vec<Array2<f64>>,
    lambda: Array1<f64>,
    noise: f64,
}

impl KroneckerGp {
    /// One 1-D kernel and one grid per dimension (the output scales multiply), noise `σ² ≥ 0`.
    ///
    /// Errors: no dimensions, different numbers of kernels and grids, an empty grid, NaN/∞,
    /// a kernel that rejects 1-D inputs, negative noise, and a singular `K + σ² I`
    /// (`σ² = 0` with a rank-deficient `K`).
    pub fn new(kernels: Vec<Box<dyn Kernel>>, grids: Vec<Array1<f64>>, noise: f64) -> Result<Self> {
        pn_core::validate::non_negative("noise", noise)?;
        if kernels.is_empty() {
            return Err(pn_core::Error::Empty { what: "kernels" }.into());
        }
        check_len(
            "KroneckerGp::new (kernels vs grids)",
            kernels.len(),
            grids.len(),
        )?;
        let mut kmats = Vec::new();
        let mut qs = Vec::new();
        let mut eigs = Vec::new();
        for (k, g) in kernels.iter().zip(&grids) {
            if g.is_empty() {
                return Err(pn_core::Error::Empty { what: "grid" }.into());
            }
            check_finite("grid", g.iter())?;
            let pts = g.view().insert_axis(Axis(1));
            let km = k.matrix(pts, pts)?;
            let (ev, q) = pn_core::dense::eigh(((&km + &km.t()) * 0.5).view())?;
            kmats.push(km);
            qs.push(q);
            eigs.push(ev.mapv(|e| e.max(0.0)));
        }
        let lambda = kron_vectors(&eigs);
        // Eigenvalues below round-off of the largest count as zero.
        let lmax = lambda.iter().fold(0.0f64, |m, &l| m.max(l));
        let floor = 1e-12 * lmax;
        if let Some((i, &l)) = lambda
            .iter()
            .enumerate()
            .find(|(_, l)| **l + noise <= floor)
        {
            return Err(pn_core::Error::Singular {
                index: i,
                value: l + noise,
            }
            .into());
        }
        Ok(Self {
            kernels,
            grids,
            kmats,
            qs,
            lambda,
            noise,
        })
    }

    /// Number of grid points `N`.
    pub fn len(&self) -> usize {
        self.lambda.len()
    }

    /// Whether the grid is empty (never: construction rejects empty grids).
    pub fn is_empty(&self) -> bool {
        self.lambda.is_empty()
    }

    /// The grid points as an `N × D` matrix, row-major (last coordinate fastest) — the order
    /// of `y` everywhere in this type.
    pub fn points(&self) -> Array2<f64> {
        let d = self.grids.len();
        let n = self.len();
        let mut out = Array2::zeros((n, d));
        for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
            let mut rem = i;
            for dd in (0..d).rev() {
                let nd = self.grids[dd].len();
                row[dd] = self.grids[dd][rem % nd];
                rem /= nd;
            }
        }
        out
    }

    fn qviews(&self) -> Vec<ArrayView2<'_, f64>> {
        self.qs.iter().map(|q| q.view()).collect()
    }

    /// `(K + σ² I)⁻¹ y`. Errors: wrong length, NaN/∞.
    pub fn solve(&self, y: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        check_len("KroneckerGp::solve", self.len(), y.len())?;
        check_finite("y", y.iter())?;
        let qs = self.qviews();
        let mut z = kron_apply(&qs, y, true);
        z.zip_mut_with(&self.lambda, |zi, l| *zi /= l + self.noise);
        Ok(kron_apply(&qs, z.view(), false))
    }

    /// `log det(K + σ² I)`.
    pub fn logdet(&self) -> f64 {
        self.lambda.iter().map(|l| (l + self.noise).ln()).sum()
    }

    /// The log marginal likelihood `−½ yᵀ(K + σ²I)⁻¹y − ½ log det(K + σ²I) − (N/2) log 2π`.
    pub fn log_marginal_likelihood(&self, y: ArrayView1<'_, f64>) -> Result<f64> {
        let a = self.solve(y)?;
        Ok(-0.5 * y.dot(&a)
            - 0.5 * self.logdet()
            - 0.5 * self.len() as f64 * (2.0 * std::f64::consts::PI).ln())
    }

    /// Conditions on `y` (grid order, see [`points`](Self::points)).
    pub fn fit(&self, y: ArrayView1<'_, f64>) -> Result<KroneckerPosterior<'_>> {
        let alpha = self.solve(y)?;
        Ok(KroneckerPosterior { gp: self, alpha })
    }
}

impl LinearOperator for KroneckerGp {
    fn shape(&self) -> (usize, usize) {
        (self.len(), self.len())
    }
    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        let ks: Vec<ArrayView2<'_, f64>> = self.kmats.iter().map(|k| k.view()).collect();
        kron_apply(&ks, x, false) + &x * self.noise
    }
    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.matvec(x)
    }
    fn diagonal(&self) -> Array1<f64> {
        let diags: Vec<Array1<f64>> = self.kmats.iter().map(|k| k.diag().to_owned()).collect();
        kron_vectors(&diags) + self.noise
    }
}

/// The posterior of a [`KroneckerGp`] given data on its grid.
#[derive(Debug, Clone)]
pub struct KroneckerPosterior<'a> {
    gp: &'a KroneckerGp,
    alpha: Array1<f64>,
}

impl KroneckerPosterior<'_> {
    /// `α = (K + σ² I)⁻¹ y`.
    pub fn alpha(&self) -> ArrayView1<'_, f64> {
        self.alpha.view()
    }

    /// Posterior mean and variance of the latent `f` at the rows of `xs` (`m × D`, anywhere,
    /// not only on the grid): `O(N)` per point.
    ///
    /// Errors: wrong number of columns, NaN/∞.
    pub fn predict(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let gp = self.gp;
        let d = gp.grids.len();
        check_len("KroneckerPosterior::predict", d, xs.ncols())?;
        check_finite("xs", xs.iter())?;
        // Per-dimension cross-covariances (m × n_d) and prior variances.
        let mut cross = Vec::with_capacity(d);
        let mut kss = Array1::<f64>::ones(xs.nrows());
        for (dd, (k, g)) in gp.kernels.iter().zip(&gp.grids).enumerate() {
            let col = xs.column(dd).to_owned().insert_axis(Axis(1));
            cross.push(k.matrix(col.view(), g.view().insert_axis(Axis(1)))?);
            kss *= &k.diag(col.view())?;
        }
        let denom = gp.lambda.mapv(|l| l + gp.noise);
        let mut mean = Array1::zeros(xs.nrows());
        let mut var = Array1::zeros(xs.nrows());
        for p in 0..xs.nrows() {
            let ks: Vec<Array1<f64>> = cross.iter().map(|c| c.row(p).to_owned()).collect();
            mean[p] = kron_vectors(&ks).dot(&self.alpha);
            let us: Vec<Array1<f64>> = ks.iter().zip(&gp.qs).map(|(k, q)| q.t().dot(k)).collect();
            let w = kron_vectors(&us);
            let red: f64 = w.iter().zip(&denom).map(|(w, d)| w * w / d).sum();
            var[p] = (kss[p] - red).max(0.0);
        }
        Ok((mean, var))
    }
}

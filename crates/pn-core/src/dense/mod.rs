//! Dense factorisations on `ndarray` inputs.
//!
//! The default backend is [`faer`] (pure Rust): `ndarray` views are handed to it without a copy
//! (any strides, including transposed and non-contiguous views). With the cargo feature
//! `lapack`, the factorisations go through `ndarray-linalg` and a system OpenBLAS/LAPACK
//! instead; the functions, their checks and their results are the same.
//!
//! Every function validates its input (shape, finiteness, symmetry where required) and returns
//! an [`Error`] instead of panicking.
//!
//! | function | computes |
//! |---|---|
//! | [`cholesky`], [`cholesky_owned`] | `A = L Lᵀ`, reporting the first non-positive pivot (the second in the input's own buffer) |
//! | [`solve_triangular`] | `T X = B` or `Tᵀ X = B` for triangular `T` |
//! | [`qr`], [`qr_r`] | thin `A = Q R` (or only `R`) |
//! | [`eigh`] | `A = V diag(λ) Vᵀ`, eigenvalues ascending |
//! | [`logdet_spd`] | `log det A = 2 Σ log Lᵢᵢ` |
//! | [`cholesky_of_sum`] | lower `L` with `L Lᵀ = Σ Fᵢ Fᵢᵀ`, by QR, without forming the sum |
//! | [`matmul`] | `A B` with faer's GEMM |

#[cfg(all(not(feature = "lapack"), target_arch = "x86_64"))]
mod blocked;
#[cfg(not(feature = "lapack"))]
mod faer_backend;
#[cfg(not(feature = "lapack"))]
use faer_backend as backend;
#[cfg(feature = "lapack")]
mod lapack_backend;
#[cfg(feature = "lapack")]
use lapack_backend as backend;

mod bridge;
pub use bridge::{faer_from_ndarray, faer_from_ndarray_mut, ndarray_from_faer};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Error, Result, check};

/// Which triangle of a matrix holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triangle {
    /// Entries on and below the diagonal.
    Lower,
    /// Entries on and above the diagonal.
    Upper,
}

/// The Cholesky factorisation `A = L Lᵀ` of a symmetric positive definite matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Cholesky {
    l: Array2<f64>,
}

impl Cholesky {
    /// Wrap a lower-triangular factor with a positive diagonal.
    ///
    /// Errors if `l` is not square, holds non-finite values, or has a diagonal entry `≤ 0`
    /// (entries above the diagonal are ignored and zeroed).
    pub fn from_factor(l: Array2<f64>) -> Result<Self> {
        let n = check::square("Cholesky::from_factor", &l)?;
        check::finite("L", &l)?;
        let mut l = l;
        for i in 0..n {
            let d = l[[i, i]];
            if d <= 0.0 {
                return Err(Error::Singular { index: i, value: d });
            }
            for j in i + 1..n {
                l[[i, j]] = 0.0;
            }
        }
        Ok(Self { l })
    }

    /// Internal constructor for factors known to be valid.
    pub(crate) fn from_factor_unchecked(l: Array2<f64>) -> Self {
        Self { l }
    }

    /// The order `n` of the factored matrix.
    pub fn dim(&self) -> usize {
        self.l.nrows()
    }

    /// The lower-triangular factor `L`.
    pub fn l(&self) -> ArrayView2<'_, f64> {
        self.l.view()
    }

    /// Consume the factorisation, returning `L`.
    pub fn into_l(self) -> Array2<f64> {
        self.l
    }

    /// `log det A = 2 Σᵢ log Lᵢᵢ`.
    pub fn logdet(&self) -> f64 {
        2.0 * self.l.diag().iter().map(|d| d.ln()).sum::<f64>()
    }

    /// `A⁻¹ b`, by two triangular solves.
    pub fn solve(&self, b: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        let b2 = b.insert_axis(Axis(1));
        Ok(self.solve_mat(b2)?.remove_axis(Axis(1)))
    }

    /// `A⁻¹ B`, by two triangular solves.
    pub fn solve_mat(&self, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check::shape("Cholesky::solve", &[self.dim()], &[b.nrows()])?;
        check::finite("B", &b)?;
        let y = backend::solve_triangular(self.l.view(), b, Triangle::Lower, false);
        Ok(backend::solve_triangular(
            self.l.view(),
            y.view(),
            Triangle::Lower,
            true,
        ))
    }

    /// `L⁻¹ B` (whitening), one triangular solve.
    pub fn solve_l(&self, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check::shape("Cholesky::solve_l", &[self.dim()], &[b.nrows()])?;
        check::finite("B", &b)?;
        Ok(backend::solve_triangular(
            self.l.view(),
            b,
            Triangle::Lower,
            false,
        ))
    }

    /// `A = L Lᵀ` as a dense matrix.
    pub fn reconstruct(&self) -> Array2<f64> {
        bridge::matmul(self.l.view(), self.l.t())
    }
}

/// Cholesky factorisation `A = L Lᵀ` of a symmetric positive definite matrix.
///
/// Only the lower triangle is read by the factorisation, but `A` must be symmetric to a relative
/// tolerance of `1e-8`. Errors: [`Error::ShapeMismatch`] if not square,
/// [`Error::NonFinite`], [`Error::NotSymmetric`], and [`Error::NotPositiveDefinite`] with the
/// zero-based index of the first pivot that was not positive.
///
/// ```
/// use ndarray::array;
/// let a = array![[4.0, 2.0], [2.0, 3.0]];
/// let c = pn_core::dense::cholesky(a.view()).unwrap();
/// assert!((c.l()[[1, 1]] - 2f64.sqrt()).abs() < 1e-15);
/// let err = pn_core::dense::cholesky(array![[1.0, 2.0], [2.0, 1.0]].view()).unwrap_err();
/// assert_eq!(err, pn_core::Error::NotPositiveDefinite { pivot: 1 });
/// ```
pub fn cholesky(a: ArrayView2<'_, f64>) -> Result<Cholesky> {
    check::square("cholesky", &a)?;
    // The backend checks finiteness and symmetry (fused with its copy where it can).
    backend::cholesky_checked(a).map(Cholesky::from_factor_unchecked)
}

/// [`cholesky`] of a matrix the caller no longer needs, factored in its own buffer: no second
/// `n × n` allocation (at `n = 8000` that is 512 MB whose first touch alone costs about a
/// second). Row-major and column-major inputs are both used in place (a symmetric row-major
/// matrix is its own column-major transpose); other layouts are copied once.
///
/// `A` must be symmetric (checked to `1e-8` relative, as in [`cholesky`]); which triangle the
/// factorisation reads is an implementation detail. Errors as [`cholesky`]; on error the matrix
/// is gone (rebuild it to retry, e.g. with jitter).
///
/// ```
/// use ndarray::array;
/// let a = array![[4.0, 2.0], [2.0, 3.0]];
/// let c = pn_core::dense::cholesky_owned(a.clone()).unwrap();
/// assert_eq!(c, pn_core::dense::cholesky(a.view()).unwrap());
/// ```
pub fn cholesky_owned(a: Array2<f64>) -> Result<Cholesky> {
    check::square("cholesky", &a)?;
    backend::cholesky_owned(a).map(Cholesky::from_factor_unchecked)
}

/// Solve `T X = B` (or `Tᵀ X = B` when `transpose`) for triangular `T`.
///
/// Only the given `triangle` of `T` is read. Errors if shapes disagree, inputs are not finite,
/// or a diagonal entry of `T` is zero ([`Error::Singular`]).
pub fn solve_triangular(
    t: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
    triangle: Triangle,
    transpose: bool,
) -> Result<Array2<f64>> {
    let n = check::square("solve_triangular", &t)?;
    check::shape("solve_triangular", &[n], &[b.nrows()])?;
    check::finite("T", &t)?;
    check::finite("B", &b)?;
    for i in 0..n {
        let d = t[[i, i]];
        if d == 0.0 {
            return Err(Error::Singular { index: i, value: d });
        }
    }
    Ok(backend::solve_triangular(t, b, triangle, transpose))
}

/// Thin QR factorisation `A = Q R` of an `m × n` matrix: `Q` is `m × k` with orthonormal
/// columns and `R` is `k × n` upper triangular, `k = min(m, n)`.
pub fn qr(a: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Array2<f64>)> {
    check::finite("A", &a)?;
    Ok(backend::qr(a))
}

/// Only the `k × n` triangular factor `R` of the thin QR factorisation of `A` (`k = min(m, n)`),
/// so that `Rᵀ R = Aᵀ A`. Cheaper than [`qr`] when `Q` is not needed.
pub fn qr_r(a: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    check::finite("A", &a)?;
    Ok(backend::qr_r(a))
}

/// Symmetric eigendecomposition `A = V diag(λ) Vᵀ`, eigenvalues in ascending order and the
/// eigenvectors as the columns of `V`.
pub fn eigh(a: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    check::square("eigh", &a)?;
    check::finite("A", &a)?;
    check::symmetric(&a)?;
    backend::eigh(a)
}

/// `log det A` of a symmetric positive definite matrix, via its Cholesky factor.
pub fn logdet_spd(a: ArrayView2<'_, f64>) -> Result<f64> {
    Ok(cholesky(a)?.logdet())
}

/// `A B` through faer's matrix multiplication (parallel, cache-blocked). Errors on an inner
/// dimension mismatch.
pub fn matmul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    check::shape("matmul", &[a.ncols()], &[b.nrows()])?;
    Ok(bridge::matmul(a, b))
}

/// The lower-triangular square root of a sum of outer products, `L Lᵀ = Σᵢ Fᵢ Fᵢᵀ`, computed as
/// the transposed `R` of a QR factorisation of the stacked `[F₁ F₂ …]ᵀ` — the sum is never formed,
/// so the result stays accurate when the sum is ill-conditioned ("triangularisation" in
/// square-root Kalman filtering). The diagonal of `L` is made non-negative.
///
/// Each `Fᵢ` must have `n` rows; they may have any number of columns.
pub fn cholesky_of_sum(factors: &[ArrayView2<'_, f64>]) -> Result<Array2<f64>> {
    let Some(first) = factors.first() else {
        return Err(Error::Empty { what: "factors" });
    };
    let n = first.nrows();
    let total: usize = factors.iter().map(|f| f.ncols()).sum();
    let mut stacked = Array2::zeros((total, n));
    let mut row = 0;
    for f in factors {
        check::shape("cholesky_of_sum", &[n], &[f.nrows()])?;
        check::finite("F", f)?;
        stacked
            .slice_mut(ndarray::s![row..row + f.ncols(), ..])
            .assign(&f.t());
        row += f.ncols();
    }
    Ok(lower_from_r(backend::qr_r(stacked.view()), n))
}

/// `Rᵀ` padded to `n × n` with rows of `R` sign-flipped so that the diagonal is non-negative.
pub(crate) fn lower_from_r(mut r: Array2<f64>, n: usize) -> Array2<f64> {
    let k = r.nrows();
    for i in 0..k.min(n) {
        if r[[i, i]] < 0.0 {
            r.row_mut(i).mapv_inplace(|v| -v);
        }
    }
    let mut l = Array2::zeros((n, n));
    l.slice_mut(ndarray::s![.., ..k.min(n)])
        .assign(&r.slice(ndarray::s![..k.min(n), ..]).t());
    l
}

/// Unchecked matrix product for internal use (shapes are known to agree).
pub(crate) fn mm(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    bridge::matmul(a, b)
}

/// Unchecked triangular solve for internal use.
pub(crate) fn trsm(
    t: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
    triangle: Triangle,
    transpose: bool,
) -> Array2<f64> {
    backend::solve_triangular(t, b, triangle, transpose)
}

/// Unchecked QR `R` factor for internal use.
pub(crate) fn qr_r_unchecked(a: ArrayView2<'_, f64>) -> Array2<f64> {
    backend::qr_r(a)
}

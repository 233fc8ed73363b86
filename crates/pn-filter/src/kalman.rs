//! Square-root Kalman predict and update, and the backward kernels of RTS smoothing.
//!
//! A belief is kept as `(m, L)` with `Σ = L Lᵀ` ([`SqrtGaussian`]). Every step triangularises
//! a block matrix by QR (`tria(M)` is the lower-triangular `L` with `L Lᵀ = M Mᵀ`), so
//! covariances are never formed, never re-factorised, and stay positive semi-definite to
//! working precision. All algebra is done in the preconditioned coordinates `x̄ = T⁻¹ x` of the
//! step's [`Transition`].

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};
use pn_core::dense::{Triangle, cholesky_of_sum, solve_triangular};
use pn_core::{Covariance, Gaussian};

use crate::error::{Error, Result};
use crate::prior::{Transition, scale_rows};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// A Gaussian in square-root form: mean `m` and lower-triangular `L` with `Σ = L Lᵀ`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqrtGaussian {
    /// The mean.
    pub mean: Array1<f64>,
    /// The lower-triangular square root of the covariance.
    pub chol: Array2<f64>,
}

impl SqrtGaussian {
    /// From a mean and a lower-triangular factor; errors on mismatched shapes or non-finite
    /// entries.
    pub fn new(mean: Array1<f64>, chol: Array2<f64>) -> Result<Self> {
        let n = mean.len();
        if chol.dim() != (n, n) {
            return Err(pn_core::Error::ShapeMismatch {
                op: "SqrtGaussian::new",
                expected: vec![n, n],
                found: chol.shape().to_vec(),
            }
            .into());
        }
        // Validation (finite, non-negative diagonal) through pn-core's constructors.
        Covariance::cholesky_factor(chol.clone())?;
        Gaussian::new(mean.clone(), Covariance::ScaledIdentity(n, 1.0))?;
        Ok(Self { mean, chol })
    }

    /// From any pn-core Gaussian (its covariance's square root is taken).
    pub fn from_gaussian(g: &Gaussian) -> Result<Self> {
        let chol = match g.cov() {
            Covariance::Cholesky(l) => (**l).clone(),
            other => {
                let r = other.root_dense()?;
                if r.ncols() == r.nrows() && is_lower(&r) {
                    r
                } else {
                    cholesky_of_sum(&[r.view()])?
                }
            }
        };
        Ok(Self {
            mean: g.mean().to_owned(),
            chol,
        })
    }

    /// As a pn-core [`Gaussian`] with a [`Covariance::Cholesky`] covariance.
    pub fn to_gaussian(&self) -> Result<Gaussian> {
        Ok(Gaussian::new(
            self.mean.clone(),
            Covariance::cholesky_factor(self.chol.clone())?,
        )?)
    }

    /// The marginal standard deviations (row norms of `L`).
    pub fn std(&self) -> Array1<f64> {
        self.chol.map_axis(Axis(1), |r| r.dot(&r).sqrt())
    }

    /// The same belief with the covariance scaled by `s ≥ 0` (`L ↦ √s L`).
    pub fn scaled(&self, s: f64) -> Self {
        Self {
            mean: self.mean.clone(),
            chol: &self.chol * s.max(0.0).sqrt(),
        }
    }

    /// The covariance `L Lᵀ` (dense).
    pub fn cov(&self) -> Array2<f64> {
        self.chol.dot(&self.chol.t())
    }

    fn to_precond(&self, t: &Array1<f64>) -> (Array1<f64>, Array2<f64>) {
        let inv = t.mapv(|v| 1.0 / v);
        (&self.mean / t, scale_rows(&self.chol, inv.view()))
    }

    fn from_precond(mean: Array1<f64>, chol: Array2<f64>, t: &Array1<f64>) -> Self {
        Self {
            mean: mean * t,
            chol: scale_rows(&chol, t.view()),
        }
    }
}

fn is_lower(a: &Array2<f64>) -> bool {
    a.indexed_iter().all(|((i, j), &v)| j <= i || v == 0.0)
}

/// The backward kernel `p(x_k | x_{k+1}) = N(G x_{k+1} + g, Λ)` of one predict step, stored in
/// the step's preconditioned coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct BackwardKernel {
    gain: Array2<f64>,
    offset: Array1<f64>,
    chol: Array2<f64>,
    precond: Array1<f64>,
}

impl BackwardKernel {
    /// The same kernel with its covariance scaled by `s ≥ 0` (the gain is scale-free).
    pub fn scaled(&self, s: f64) -> Self {
        Self {
            gain: self.gain.clone(),
            offset: self.offset.clone(),
            chol: &self.chol * s.max(0.0).sqrt(),
            precond: self.precond.clone(),
        }
    }

    /// Push a belief over `x_{k+1}` through the kernel: the belief over `x_k`
    /// `N(G m + g, G Σ Gᵀ + Λ)`, in square-root form `tria([G L, Λ^{1/2}])`.
    pub fn marginalise(&self, next: &SqrtGaussian) -> Result<SqrtGaussian> {
        let (m, l) = next.to_precond(&self.precond);
        let mean = self.gain.dot(&m) + &self.offset;
        let gl = self.gain.dot(&l);
        let chol = cholesky_of_sum(&[gl.view(), self.chol.view()])?;
        Ok(SqrtGaussian::from_precond(mean, chol, &self.precond))
    }

    /// A draw of `x_k` given a value of `x_{k+1}` and standard-normal `z`.
    pub fn sample_given(&self, next: ArrayView1<'_, f64>, z: ArrayView1<'_, f64>) -> Array1<f64> {
        let xbar = &next / &self.precond;
        (self.gain.dot(&xbar) + &self.offset + self.chol.dot(&z)) * &self.precond
    }
}

/// Predict over one transition: the belief over `x_{k+1} = A x_k + w`, without a backward
/// kernel (filtering only). Costs one QR of an `n × 2n` matrix.
pub fn predict(state: &SqrtGaussian, tr: &Transition) -> Result<SqrtGaussian> {
    let (m, l) = state.to_precond(&tr.precond);
    let mean = tr.a.dot(&m);
    let al = tr.a.dot(&l);
    let chol = cholesky_of_sum(&[al.view(), tr.q_chol.view()])?;
    Ok(SqrtGaussian::from_precond(mean, chol, &tr.precond))
}

/// Predict and return the backward kernel for smoothing, from one QR of the `2n × 2n` pre-array
/// `[[Ā L̄, L̄_Q], [L̄, 0]]`: its triangular factor `[[X, 0], [Y, Z]]` holds the predicted
/// factor `X`, the smoothing gain `G = Y X⁻¹` and the backward covariance's factor `Z`.
pub fn predict_with_kernel(
    state: &SqrtGaussian,
    tr: &Transition,
) -> Result<(SqrtGaussian, BackwardKernel)> {
    let n = state.mean.len();
    let (m, l) = state.to_precond(&tr.precond);
    let mean = tr.a.dot(&m);
    let mut pre = Array2::zeros((2 * n, 2 * n));
    pre.slice_mut(s![..n, ..n]).assign(&tr.a.dot(&l));
    pre.slice_mut(s![..n, n..]).assign(&tr.q_chol);
    pre.slice_mut(s![n.., ..n]).assign(&l);
    let low = cholesky_of_sum(&[pre.view()])?;
    let x = low.slice(s![..n, ..n]);
    let y = low.slice(s![n.., ..n]);
    let z = low.slice(s![n.., n..]).to_owned();
    let gain = right_solve_lower(x, y)?;
    let offset = &m - &gain.dot(&mean);
    let kernel = BackwardKernel {
        gain,
        offset,
        chol: z,
        precond: tr.precond.clone(),
    };
    Ok((
        SqrtGaussian::from_precond(mean, x.to_owned(), &tr.precond),
        kernel,
    ))
}

/// `Y X⁻¹` for lower-triangular `X`. Directions with a zero pivot (no predicted uncertainty)
/// carry no information backwards and get a zero gain column.
fn right_solve_lower(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let scale = x.diag().iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if x.diag().iter().all(|&d| d > 1e-300 + 1e-15 * scale) {
        // (Y X⁻¹)ᵀ = X⁻ᵀ Yᵀ.
        return Ok(solve_triangular(x, y.t(), Triangle::Lower, true)?.reversed_axes());
    }
    // Rank-deficient predicted covariance: least-squares gain through the pseudo-inverse.
    let xx = x.dot(&x.t());
    let (vals, vecs) = pn_core::dense::eigh(xx.view())?;
    let tol = 1e-14 * vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut pinv = Array2::zeros(xx.raw_dim());
    for (k, &v) in vals.iter().enumerate() {
        if v > tol {
            let col = vecs.column(k);
            for i in 0..col.len() {
                for j in 0..col.len() {
                    pinv[[i, j]] += col[i] * col[j] / v;
                }
            }
        }
    }
    Ok(y.dot(&x.t()).dot(&pinv))
}

/// A linear-Gaussian observation `y = H x + e`, `e ~ N(0, R)`, with `R = R^{1/2} R^{1/2}ᵀ`.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// `H` (`m × n`).
    pub h: Array2<f64>,
    /// A square root of `R` (`m × r`, any `r`; zero columns for noise-free observations).
    pub noise_chol: Array2<f64>,
    /// The observed `y` (length `m`).
    pub y: Array1<f64>,
}

impl Observation {
    /// `y = H x + e`, `e ~ N(0, noise)`. Errors on mismatched shapes or non-finite entries.
    pub fn new(h: Array2<f64>, noise: &Covariance, y: Array1<f64>) -> Result<Self> {
        let m = h.nrows();
        for (what, found) in [("y", y.len()), ("noise", noise.dim())] {
            if found != m {
                return Err(pn_core::Error::ShapeMismatch {
                    op: if what == "y" {
                        "Observation (y)"
                    } else {
                        "Observation (noise)"
                    },
                    expected: vec![m],
                    found: vec![found],
                }
                .into());
            }
        }
        pn_core::LinearMap::dense(h.clone())?;
        Gaussian::new(y.clone(), Covariance::ScaledIdentity(m, 1.0))?;
        Ok(Self {
            h,
            noise_chol: noise.root_dense()?,
            y,
        })
    }

    /// A noise-free observation `y = H x`.
    pub fn exact(h: Array2<f64>, y: Array1<f64>) -> Result<Self> {
        let m = h.nrows();
        Self::new(h, &Covariance::ScaledIdentity(m, 0.0), y)
    }
}

/// What an update learned: the evidence of the observation and its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateInfo {
    /// `log N(y; H m, S)` with `S = H Σ Hᵀ + R`.
    pub log_likelihood: f64,
    /// The squared Mahalanobis norm of the innovation, `rᵀ S⁻¹ r` (used for calibration).
    pub mahalanobis_sq: f64,
    /// `log det S`.
    pub logdet: f64,
}

/// Condition on an observation by the square-root update (QR of
/// `[[R^{1/2}, H̄ L̄], [0, L̄]]`), in the coordinates given by `precond` (pass the preconditioner
/// of the step that produced the prediction, or ones). Returns the posterior and its
/// [`UpdateInfo`].
pub fn update(
    pred: &SqrtGaussian,
    obs: &Observation,
    precond: &Array1<f64>,
) -> Result<(SqrtGaussian, UpdateInfo)> {
    let n = pred.mean.len();
    let m = obs.y.len();
    if obs.h.ncols() != n || precond.len() != n {
        return Err(pn_core::Error::ShapeMismatch {
            op: "update (columns of H)",
            expected: vec![n],
            found: vec![obs.h.ncols()],
        }
        .into());
    }
    let (mbar, lbar) = pred.to_precond(precond);
    let mut hbar = obs.h.clone();
    for (mut col, &t) in hbar.columns_mut().into_iter().zip(precond.iter()) {
        col *= t;
    }
    let q = obs.noise_chol.ncols();
    let mut pre = Array2::zeros((m + n, q + n));
    pre.slice_mut(s![..m, ..q]).assign(&obs.noise_chol);
    pre.slice_mut(s![..m, q..]).assign(&hbar.dot(&lbar));
    pre.slice_mut(s![m.., q..]).assign(&lbar);
    let low = cholesky_of_sum(&[pre.view()])?;
    let x = low.slice(s![..m, ..m]);
    let scale = x.diag().iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if let Some(i) = x.diag().iter().position(|&d| d <= 1e-300 + 1e-14 * scale) {
        return Err(Error::Core(pn_core::Error::NotPositiveDefinite {
            pivot: i,
        }));
    }
    let r = &obs.y - &hbar.dot(&mbar);
    let z = solve_triangular(x, r.view().insert_axis(Axis(1)), Triangle::Lower, false)?;
    let z = z.column(0);
    let mean = &mbar + &low.slice(s![m.., ..m]).dot(&z);
    let chol = low.slice(s![m.., m..]).to_owned();
    let logdet = 2.0 * x.diag().iter().map(|d| d.ln()).sum::<f64>();
    let mahalanobis_sq = z.dot(&z);
    let info = UpdateInfo {
        log_likelihood: -0.5 * (mahalanobis_sq + logdet + m as f64 * LN_2PI),
        mahalanobis_sq,
        logdet,
    };
    Ok((SqrtGaussian::from_precond(mean, chol, precond), info))
}

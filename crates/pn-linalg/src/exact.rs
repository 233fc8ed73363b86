//! Exact GP regression by a dense Cholesky factorisation.
//!
//! For training inputs `X` (`n × d`, one point per row), targets `y` and a zero-mean GP prior
//! `f ~ GP(0, k)` observed with Gaussian noise of variance `σ²`, the posterior at test inputs `X*`
//! is Gaussian with
//!
//! ```text
//! mean  = K*ᵀ α,               α = (K + σ²I)⁻¹ y
//! cov   = K** − K*ᵀ (K + σ²I)⁻¹ K*
//! log p(y) = −½ yᵀα − ½ log det(K + σ²I) − (n/2) log 2π
//! ∂ log p(y)/∂θ = ½ tr((ααᵀ − (K + σ²I)⁻¹) ∂K/∂θ)
//! ```
//!
//! (Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006, Alg. 2.1 and Eq. 5.9),
//! computed from one Cholesky factorisation `K + σ²I = L Lᵀ`.
//!
//! **Jitter.** When `K + σ²I` is numerically singular (duplicate inputs without noise, very long
//! lengthscales, noise-free interpolation), a bounded *jitter ladder* adds `c · mean(diag K)` to the
//! diagonal for the rungs `c` of [`ExactOptions::jitter_ladder`] (default `1e-10, 1e-8, 1e-6,
//! 1e-4`), stopping at the first that factorises. A pivot `Lᵢᵢ² ≤ n ε · mean(diag K)` (zero up to
//! the round-off of the elimination) counts as a failed factorisation. What was added is reported by
//! [`ExactGp::jitter`] and is part of the model from then on (the effective noise variance is
//! `σ² + jitter`). Past the last rung the construction fails with
//! [`Error::JitterExhausted`].
//!
//! The prior mean is zero: centre (or standardise) the targets first if they are not.
//!
//! ```
//! use ndarray::array;
//! use pn_core::kernels::SquaredExponential;
//! use pn_linalg::exact::ExactGp;
//!
//! let x = array![[0.0], [0.4], [1.1], [1.5]];
//! let y = array![0.2, 0.7, -0.1, -0.4];
//! let gp = ExactGp::new(Box::new(SquaredExponential::new(0.5, 1.0)?), 0.01, x.view(), y.view())?;
//! let (mean, var) = gp.predict(array![[0.4], [3.0]].view())?;
//! assert!((mean[0] - 0.7).abs() < 0.05 && var[0] < 0.01); // near a data point
//! assert!(var[1] > 0.9); // far away: back to the prior
//! let grad = gp.lml_gradient()?; // ∂/∂(log ℓ, log σ_f², log σ²)
//! assert_eq!(grad.len(), 3);
//! # Ok::<(), pn_linalg::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};
use pn_core::dense::{self, Cholesky};
use pn_core::kernels::Kernel;
use pn_core::{Covariance, Gaussian};
use rand::Rng;

use crate::error::{Error, Result};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Options of [`ExactGp`]: the jitter ladder.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExactOptions {
    /// Jitter rungs relative to the mean of `diag K`, tried in order after a plain factorisation
    /// of `K + σ²I` fails. Default `[1e-10, 1e-8, 1e-6, 1e-4]`; empty disables jitter.
    pub jitter_ladder: Vec<f64>,
}

impl Default for ExactOptions {
    fn default() -> Self {
        Self {
            jitter_ladder: vec![1e-10, 1e-8, 1e-6, 1e-4],
        }
    }
}

impl ExactOptions {
    /// Sets the relative jitter rungs (each finite and `> 0`, increasing).
    pub fn jitter_ladder(mut self, rungs: Vec<f64>) -> Self {
        self.jitter_ladder = rungs;
        self
    }

    /// No jitter: a singular `K + σ²I` is an error.
    pub fn no_jitter(self) -> Self {
        self.jitter_ladder(Vec::new())
    }

    fn validate(&self) -> Result<()> {
        validate_ladder(&self.jitter_ladder)
    }
}

/// An exact GP posterior: the kernel, the noise variance, the training data and the Cholesky
/// factor of `K + (σ² + jitter) I`.
#[derive(Debug, Clone)]
pub struct ExactGp {
    kernel: Box<dyn Kernel>,
    noise_variance: f64,
    jitter: f64,
    /// The rung of the ladder in use: `jitter / mean(diag(K + σ²I))`.
    jitter_rel: f64,
    x: Array2<f64>,
    y: Array1<f64>,
    chol: Cholesky,
    alpha: Array1<f64>,
    lml: f64,
    options: ExactOptions,
}

/// Validates training data: non-empty, matching lengths, finite, dimension accepted by `kernel`.
pub(crate) fn check_data(
    kernel: &dyn Kernel,
    x: &ArrayView2<'_, f64>,
    y: &ArrayView1<'_, f64>,
) -> Result<()> {
    if x.nrows() != y.len() {
        return Err(pn_core::Error::ShapeMismatch {
            op: "GP training data (rows of x vs length of y)",
            expected: vec![x.nrows()],
            found: vec![y.len()],
        }
        .into());
    }
    if x.nrows() == 0 {
        return Err(pn_core::Error::Empty {
            what: "training data",
        }
        .into());
    }
    if x.ncols() == 0 {
        return Err(pn_core::Error::Empty {
            what: "input dimension",
        }
        .into());
    }
    kernel.check_input_dim(x.ncols())?;
    finite("x", x.iter(), x.ncols())?;
    finite("y", y.iter(), 1)?;
    Ok(())
}

fn finite<'a>(what: &'static str, it: impl Iterator<Item = &'a f64>, ncols: usize) -> Result<()> {
    for (k, &v) in it.enumerate() {
        if !v.is_finite() {
            let index = if ncols == 1 {
                vec![k]
            } else {
                vec![k / ncols, k % ncols]
            };
            return Err(pn_core::Error::NonFinite {
                what,
                index,
                value: v,
            }
            .into());
        }
    }
    Ok(())
}

/// Checks a jitter ladder: every rung finite and `> 0`, rungs strictly increasing.
pub(crate) fn validate_ladder(rungs: &[f64]) -> Result<()> {
    let mut prev = 0.0;
    for &c in rungs {
        pn_core::validate::positive("jitter rung", c)?;
        if c <= prev {
            return Err(pn_core::Error::InvalidParameter {
                name: "jitter rung",
                value: c,
                reason: "jitter rungs must increase",
            }
            .into());
        }
        prev = c;
    }
    Ok(())
}

/// Factorises `k` (which already holds `K + σ²I`) in its own buffer, climbing the jitter
/// ladder if that fails. Returns the factor and the absolute jitter that was added.
///
/// The first attempt consumes `k` ([`dense::cholesky_owned`]: no second `n × n` buffer, whose
/// first touch alone costs about a second at `n = 8000`); only if it fails is the matrix built
/// again by `rebuild` for the rungs of the ladder.
pub(crate) fn factorise_with_jitter(
    k: Array2<f64>,
    ladder: &[f64],
    rebuild: &dyn Fn() -> Result<Array2<f64>>,
) -> Result<(Cholesky, f64)> {
    let n = k.nrows();
    let scale = k.diag().sum() / n as f64;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(pn_core::Error::InvalidParameter {
            name: "mean of diag(K + σ²I)",
            value: scale,
            reason: "must be finite and > 0",
        }
        .into());
    }
    // A pivot L_ii² at the level of the rounding error of the elimination (n ε mean diag) is a
    // zero pivot: the factor exists but its solves amplify round-off beyond use.
    let floor = n as f64 * f64::EPSILON * scale;
    let judge = |r: pn_core::Result<Cholesky>| -> Result<std::result::Result<Cholesky, usize>> {
        match r {
            Ok(c) => match c.l().diag().iter().position(|&d| d * d <= floor) {
                Some(pivot) => Ok(Err(pivot)),
                None => Ok(Ok(c)),
            },
            Err(pn_core::Error::NotPositiveDefinite { pivot }) => Ok(Err(pivot)),
            Err(e) => Err(e.into()),
        }
    };
    let mut last_pivot = match judge(dense::cholesky_owned(k))? {
        Ok(c) => return Ok((c, 0.0)),
        Err(pivot) => pivot,
    };
    let mut added = 0.0;
    if ladder.is_empty() {
        return Err(Error::JitterExhausted {
            jitter: added,
            pivot: last_pivot,
        });
    }
    let mut k = rebuild()?;
    for &c in ladder {
        let target = c * scale;
        k.diag_mut().mapv_inplace(|v| v + (target - added));
        added = target;
        match judge(dense::cholesky(k.view()))? {
            Ok(chol) => return Ok((chol, added)),
            Err(pivot) => last_pivot = pivot,
        }
    }
    Err(Error::JitterExhausted {
        jitter: added,
        pivot: last_pivot,
    })
}

impl ExactGp {
    /// Conditions the GP prior with `kernel` on `y = f(x) + ε`, `ε ~ N(0, noise_variance · I)`,
    /// with the default [`ExactOptions`].
    ///
    /// Errors: mismatched shapes ([`pn_core::Error::ShapeMismatch`]), empty data
    /// ([`pn_core::Error::Empty`]), NaN/∞ in `x` or `y` ([`pn_core::Error::NonFinite`]), a
    /// negative or non-finite noise ([`pn_core::Error::InvalidParameter`]), and
    /// [`Error::JitterExhausted`] if `K + σ²I` is not positive definite even with the largest jitter.
    pub fn new(
        kernel: Box<dyn Kernel>,
        noise_variance: f64,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
    ) -> Result<Self> {
        Self::with_options(kernel, noise_variance, x, y, &ExactOptions::default())
    }

    /// As [`new`](Self::new), with explicit options.
    pub fn with_options(
        kernel: Box<dyn Kernel>,
        noise_variance: f64,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        options: &ExactOptions,
    ) -> Result<Self> {
        pn_core::validate::non_negative("noise_variance", noise_variance)?;
        options.validate()?;
        check_data(kernel.as_ref(), &x, &y)?;
        let build = || -> Result<Array2<f64>> {
            let mut k = kernel.matrix(x, x)?;
            k.diag_mut().mapv_inplace(|v| v + noise_variance);
            Ok(k)
        };
        let k_noisy = build()?;
        let scale = k_noisy.diag().mean().unwrap_or(0.0);
        let (chol, jitter) = factorise_with_jitter(k_noisy, &options.jitter_ladder, &build)?;
        let jitter_rel = if jitter > 0.0 { jitter / scale } else { 0.0 };
        let alpha = chol.solve(y)?;
        let n = y.len() as f64;
        let lml = -0.5 * (y.dot(&alpha) + chol.logdet() + n * LN_2PI);
        Ok(Self {
            kernel,
            noise_variance,
            jitter,
            jitter_rel,
            x: x.to_owned(),
            y: y.to_owned(),
            chol,
            alpha,
            lml,
            options: options.clone(),
        })
    }

    /// The kernel (with the hyperparameters this posterior was built with).
    pub fn kernel(&self) -> &dyn Kernel {
        self.kernel.as_ref()
    }

    /// The noise variance `σ²` as given (without the jitter).
    pub fn noise_variance(&self) -> f64 {
        self.noise_variance
    }

    /// The absolute jitter the ladder added to the diagonal (`0` if none was needed).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The options used.
    pub fn options(&self) -> &ExactOptions {
        &self.options
    }

    /// The training inputs (`n × d`).
    pub fn x(&self) -> ArrayView2<'_, f64> {
        self.x.view()
    }

    /// The training targets.
    pub fn y(&self) -> ArrayView1<'_, f64> {
        self.y.view()
    }

    /// The number of training points.
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// The Cholesky factorisation of `K + (σ² + jitter) I`.
    pub fn cholesky(&self) -> &Cholesky {
        &self.chol
    }

    /// The representer weights `α = (K + σ²I)⁻¹ y`.
    pub fn alpha(&self) -> ArrayView1<'_, f64> {
        self.alpha.view()
    }

    /// `log p(y) = −½ yᵀα − ½ log det(K + σ²I) − (n/2) log 2π`.
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.lml
    }

    /// All log-hyperparameters: the kernel's [`log_params`](Kernel::log_params) followed by
    /// `log σ²` (`−∞` for zero noise).
    pub fn log_params(&self) -> Array1<f64> {
        let mut p = self.kernel.log_params().to_vec();
        p.push(self.noise_variance.ln());
        Array1::from(p)
    }

    /// Names matching [`log_params`](Self::log_params): the kernel's, then `"noise_variance"`.
    pub fn param_names(&self) -> Vec<String> {
        let mut names = self.kernel.param_names();
        names.push("noise_variance".into());
        names
    }

    /// The gradient of [`log_marginal_likelihood`](Self::log_marginal_likelihood) with respect to
    /// the kernel's log-hyperparameters (in the order of [`Kernel::log_params`]) followed by
    /// `log σ²` (zero when `σ² = 0`): `½ tr((ααᵀ − (K + σ²I)⁻¹) ∂K/∂θ)`.
    ///
    /// Costs `O(n³)` for the inverse plus `O(p n²)`.
    pub fn lml_gradient(&self) -> Result<Array1<f64>> {
        let (_, grads) = self.kernel.matrix_with_grad(self.x.view())?;
        lml_gradient_from(
            &self.chol,
            self.alpha.view(),
            &grads,
            self.noise_variance,
            self.jitter_rel,
        )
    }

    fn check_test(&self, xs: &ArrayView2<'_, f64>) -> Result<()> {
        if xs.ncols() != self.x.ncols() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "GP prediction (input dimension)",
                expected: vec![self.x.ncols()],
                found: vec![xs.ncols()],
            }
            .into());
        }
        finite("test inputs", xs.iter(), xs.ncols())
    }

    /// `K(X, X*)` and the whitened `V = L⁻¹ K(X, X*)`.
    fn cross(&self, xs: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Array2<f64>)> {
        let ks = self.kernel.matrix(self.x.view(), xs)?;
        let v = self.chol.solve_l(ks.view())?;
        Ok((ks, v))
    }

    /// Posterior mean and variance of the latent `f` at the rows of `xs` (`m × d`):
    /// `μ = K*ᵀα`, `σ²ᵢ = k(x*ᵢ, x*ᵢ) − ‖L⁻¹ k*ᵢ‖²` (clamped at 0 against round-off).
    ///
    /// Errors on a dimension mismatch or non-finite test inputs.
    pub fn predict(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        self.check_test(&xs)?;
        if xs.nrows() == 0 {
            return Ok((Array1::zeros(0), Array1::zeros(0)));
        }
        let (ks, v) = self.cross(xs)?;
        let mean = ks.t().dot(&self.alpha);
        let prior = self.kernel.diag(xs)?;
        let mut var = prior;
        Zip::from(&mut var)
            .and(v.axis_iter(Axis(1)))
            .for_each(|s, col| *s = (*s - col.dot(&col)).max(0.0));
        Ok((mean, var))
    }

    /// As [`predict`](Self::predict) for a noisy observation `y* = f(x*) + ε`: the variance
    /// includes `σ² + jitter`.
    pub fn predict_noisy(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let (mean, var) = self.predict(xs)?;
        let s = self.noise_variance + self.jitter;
        Ok((mean, var.mapv(|v| v + s)))
    }

    /// The joint posterior of `f` at the rows of `xs` as a [`Gaussian`] with a dense covariance
    /// `K** − VᵀV`, `V = L⁻¹ K*` (symmetrised). Costs `O(n² m + n m²)`.
    pub fn predict_full(&self, xs: ArrayView2<'_, f64>) -> Result<Gaussian> {
        self.check_test(&xs)?;
        if xs.nrows() == 0 {
            return Ok(Gaussian::standard(0));
        }
        let (ks, v) = self.cross(xs)?;
        let mean = ks.t().dot(&self.alpha);
        let kss = self.kernel.matrix(xs, xs)?;
        let vtv = dense::matmul(v.t(), v.view())?;
        let mut cov = kss - vtv;
        let m = cov.nrows();
        for i in 0..m {
            cov[[i, i]] = cov[[i, i]].max(0.0);
            for j in 0..i {
                let s = 0.5 * (cov[[i, j]] + cov[[j, i]]);
                cov[[i, j]] = s;
                cov[[j, i]] = s;
            }
        }
        Ok(Gaussian::new(mean, Covariance::dense(cov)?)?)
    }

    /// `n_samples` joint draws of the latent `f` at the rows of `xs` from the posterior, one draw
    /// per row of the result (`n_samples × m`). Reproducible for a seeded `rng`.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        xs: ArrayView2<'_, f64>,
        n_samples: usize,
        rng: &mut R,
    ) -> Result<Array2<f64>> {
        let g = self.predict_full(xs)?;
        if g.dim() == 0 {
            return Ok(Array2::zeros((n_samples, 0)));
        }
        Ok(g.sample(rng, n_samples)?)
    }

    /// Leave-one-out predictive means and variances of the noisy targets, in closed form from
    /// `(K + σ²I)⁻¹` (Rasmussen & Williams Eq. 5.12): `μ₋ᵢ = yᵢ − αᵢ / [K⁻¹]ᵢᵢ`,
    /// `σ²₋ᵢ = 1 / [K⁻¹]ᵢᵢ`. Costs `O(n³)`.
    pub fn loo(&self) -> Result<(Array1<f64>, Array1<f64>)> {
        let kinv_diag = inverse(&self.chol)?.diag().to_owned();
        let var = kinv_diag.mapv(|d| 1.0 / d);
        let mean = Zip::from(&self.y)
            .and(&self.alpha)
            .and(&kinv_diag)
            .map_collect(|&y, &a, &d| y - a / d);
        Ok((mean, var))
    }

    /// Rebuilds the posterior with new hyperparameters `log_params` (kernel's, then `log σ²`),
    /// reusing the training data and options.
    pub fn with_log_params(&self, log_params: ArrayView1<'_, f64>) -> Result<Self> {
        let p = self.kernel.n_params();
        if log_params.len() != p + 1 {
            return Err(pn_core::Error::ShapeMismatch {
                op: "ExactGp::with_log_params",
                expected: vec![p + 1],
                found: vec![log_params.len()],
            }
            .into());
        }
        let mut kernel = self.kernel.clone();
        kernel.set_log_params(log_params.slice(ndarray::s![..p]))?;
        let noise = log_params[p].exp();
        Self::with_options(kernel, noise, self.x.view(), self.y.view(), &self.options)
    }
}

/// `(K + σ²I)⁻¹` from its Cholesky factor.
pub(crate) fn inverse(chol: &Cholesky) -> Result<Array2<f64>> {
    let n = chol.dim();
    let linv = chol.solve_l(Array2::eye(n).view())?;
    Ok(dense::matmul(linv.t(), linv.view())?)
}

/// `½ tr((ααᵀ − K⁻¹) ∂K/∂θₚ)` for every kernel derivative, then the noise term `½ σ² tr(ααᵀ − K⁻¹)`.
///
/// `jitter_rel` is the rung `c` of the jitter ladder in use (`0` if none): the jitter
/// `c · mean(diag(K + σ²I))` moves with the hyperparameters, which adds
/// `½ tr(ααᵀ − K⁻¹) · c · mean(diag ∂K/∂θₚ)` (and `… · c σ²` for the noise), so that the gradient
/// is that of the evidence actually computed.
pub(crate) fn lml_gradient_from(
    chol: &Cholesky,
    alpha: ArrayView1<'_, f64>,
    grads: &[Array2<f64>],
    noise_variance: f64,
    jitter_rel: f64,
) -> Result<Array1<f64>> {
    let mut w = inverse(chol)?;
    // W = ααᵀ − K⁻¹
    Zip::indexed(&mut w).for_each(|(i, j), v| *v = alpha[i] * alpha[j] - *v);
    let tr_w = w.diag().sum();
    let n = w.nrows().max(1) as f64;
    let mut g = Vec::with_capacity(grads.len() + 1);
    for dk in grads {
        let s: f64 = Zip::from(&w).and(dk).fold(0.0, |acc, &a, &b| acc + a * b);
        let djitter = jitter_rel * dk.diag().sum() / n;
        g.push(0.5 * (s + tr_w * djitter));
    }
    g.push(0.5 * noise_variance * (1.0 + jitter_rel) * tr_w);
    Ok(Array1::from(g))
}

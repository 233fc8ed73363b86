//! The front door: GP regression in one call, choosing the method for the data.
//!
//! ```text
//! GpRegression::new(kernel, noise).fit(x, y)?   →   GpPosterior
//! ```
//!
//! standardises the targets (optional), fits the hyperparameters by maximum marginal likelihood
//! (optional, on by default; see [`fit`](crate::fit)), conditions the GP with the method that
//! suits the data and returns a [`GpPosterior`] that reports which method it used. Predictions,
//! samples and the marginal likelihood are in the units of the original targets.
//!
//! | method | when [`Method::Auto`] picks it | cost |
//! |---|---|---|
//! | [`Method::Exact`] ([`ExactGp`]) | `n ≤ exact_max_n` (default 5000), or any kernel that has no structured path | `O(n³)` time, `O(n²)` memory |
//! | [`Method::StateSpace`] ([`StateSpaceGp`]) | 1-D inputs, a sum of Matérn-½/³⁄₂/⁵⁄₂ kernels (built with [`GpRegression::matern`]) and `n > exact_max_n` | `O(n)` |
//! | [`Method::Toeplitz`] ([`Toeplitz`] products inside CG) | 1-D inputs on a sorted regular grid, a stationary kernel and `n > exact_max_n` | `O(n log n)` per CG iteration, `O(n)` memory; one block CG solve per batch of test points for the variances |
//! | [`Method::IterGp`] ([`IterGp`], pivoted-Cholesky-then-CG policy) | `n > exact_max_n` otherwise | `O(n² · iterations)` time, `O(n · iterations)` memory, matrix-free |
//! | [`Method::Cg`] (preconditioned [`cg`], block CG for variances) | never (ask for it) | `O(n² · iterations)` time, `O(n k)` memory for a rank-`k` preconditioner, matrix-free |
//!
//! When the conditioning is not exact, the hyperparameters are fitted by the exact GP on an evenly
//! spaced subsample of at most `fit_max_n` points (default 2000), then used on all the data. The
//! IterGP posterior's variance is the combined (mathematical + computational) variance; with a
//! CG-type policy its actions depend on `y`, so that variance is not guaranteed to be calibrated when
//! the iteration stops early (see [`crate::itergp`]); it has no marginal likelihood
//! ([`GpPosterior::log_marginal_likelihood`] is `None`).
//!
//! ```
//! use ndarray::Array2;
//! use pn_core::kernels::SquaredExponential;
//! use pn_linalg::gp::{GpRegression, Method};
//!
//! let x = Array2::from_shape_fn((50, 1), |(i, _)| i as f64 / 10.0);
//! let y = x.column(0).mapv(|t| 10.0 + 3.0 * t.sin());
//! let post = GpRegression::new(Box::new(SquaredExponential::new(1.0, 1.0)?), 0.01).fit(x.view(), y.view())?;
//! assert_eq!(post.method(), Method::Exact);
//! let (mean, std) = post.predict_mean_std(Array2::from_elem((1, 1), 2.55).view())?;
//! assert!((mean[0] - (10.0 + 3.0 * 2.55f64.sin())).abs() < 0.01 && std[0] < 0.01);
//! # Ok::<(), pn_linalg::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use pn_core::kernels::{Kernel, KernelMatrix, Matern12, Matern32, Matern52, Sum};
use pn_core::{Covariance, Gaussian};
use rand::Rng;

use crate::error::{Error, Result};
use crate::exact::{ExactGp, check_data};
use crate::fit::{FitInfo, FitOptions, fit};
use crate::iterative::{
    CgParams, LowRankPlusDiagonal, PivotedCholesky, Preconditioner, cg, cg_batch,
};
use crate::itergp::{IterGp, IterGpParams, IterGpPosterior, Policy};
use crate::state_space::{MaternComponent, Nu, StateSpaceGp, StateSpacePosterior};
use crate::structured::Toeplitz;

/// How the GP is conditioned on the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Method {
    /// Choose from the data and the kernel (see the [module docs](self)).
    #[default]
    Auto,
    /// Dense Cholesky factorisation ([`ExactGp`]).
    Exact,
    /// Kalman filtering and smoothing on 1-D inputs ([`StateSpaceGp`]); needs a kernel built with
    /// [`GpRegression::matern`].
    StateSpace,
    /// Conjugate gradients with FFT Toeplitz products ([`Toeplitz`]) on a regular 1-D grid with a
    /// stationary kernel.
    Toeplitz,
    /// Computation-aware GP ([`IterGp`]) with the pivoted-Cholesky-then-CG policy, matrix-free.
    IterGp,
    /// Preconditioned conjugate gradients on the matrix-free `K + σ²I` ([`cg`], preconditioner
    /// `L Lᵀ + σ²I` from a pivoted Cholesky of rank [`GpOptions::cg_preconditioner_rank`]) for the
    /// representer weights, and block CG ([`cg_batch`]) on the test points' cross-covariances
    /// for the variances; any kernel and input dimension. Never chosen by [`Method::Auto`].
    Cg,
}

/// Options of [`GpRegression`]. Defaults: [`Method::Auto`], hyperparameters fitted with
/// [`FitOptions::default`], targets standardised, `exact_max_n = 5000`, `fit_max_n = 2000`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GpOptions {
    /// The method, or [`Method::Auto`].
    pub method: Method,
    /// Fit the hyperparameters (else they are used as given).
    pub optimize: bool,
    /// Options of the hyperparameter fit.
    pub fit: FitOptions,
    /// Subtract the targets' mean and divide by their standard deviation before fitting (the
    /// kernel's output scales and the noise variance are then in units of the standardised
    /// targets; predictions are transformed back).
    pub normalize_y: bool,
    /// [`Method::Auto`] conditions exactly up to this many points.
    pub exact_max_n: usize,
    /// When the conditioning is not exact, fit the hyperparameters on at most this many points.
    pub fit_max_n: usize,
    /// Options of the [`Method::IterGp`] path (default: 300 pivoted-Cholesky unit-vector steps,
    /// then CG deflated by them, relative residual `1e-6`, at most 1000 iterations — at
    /// n = 20 000 its combined variance gave mean z² 0.56 where the rank-100 preconditioned-CG
    /// policy gave 0.01, both with the exact GP's test RMSE to 0.05 %).
    pub itergp: IterGpParams,
    /// Stopping rule of CG on the [`Method::Toeplitz`] and [`Method::Cg`] paths (default:
    /// relative residual `1e-8`).
    pub cg: CgParams,
    /// Rank of the pivoted-Cholesky preconditioner of the [`Method::Cg`] path (default 100;
    /// capped at `n`).
    pub cg_preconditioner_rank: usize,
}

impl Default for GpOptions {
    fn default() -> Self {
        Self {
            method: Method::Auto,
            optimize: true,
            fit: FitOptions::default(),
            normalize_y: true,
            exact_max_n: 5000,
            fit_max_n: 2000,
            itergp: IterGpParams::default()
                .policy(Policy::PivotedCholeskyThenCg { rank: 300 })
                .max_iter(1000)
                .rtol(1e-6),
            cg: CgParams::default().rtol(1e-8),
            cg_preconditioner_rank: 100,
        }
    }
}

/// GP regression `y = f(x) + ε`, `f ~ GP(m, k)`, `ε ~ N(0, σ²)`, with `m` the targets' mean when
/// they are standardised (else 0). Configure with the builder methods, then [`fit`](Self::fit).
#[derive(Debug, Clone)]
pub struct GpRegression {
    kernel: Box<dyn Kernel>,
    components: Option<Vec<MaternComponent>>,
    noise_variance: f64,
    options: GpOptions,
}

impl GpRegression {
    /// With any pn-core kernel and an initial noise variance.
    pub fn new(kernel: Box<dyn Kernel>, noise_variance: f64) -> Self {
        Self {
            kernel,
            components: None,
            noise_variance,
            options: GpOptions::default(),
        }
    }

    /// With a sum of Matérn kernels on 1-D inputs, which can also be conditioned in state-space
    /// form. Errors on an empty list or invalid hyperparameters.
    pub fn matern(components: &[MaternComponent], noise_variance: f64) -> Result<Self> {
        Ok(Self {
            kernel: kernel_of(components)?,
            components: Some(components.to_vec()),
            noise_variance,
            options: GpOptions::default(),
        })
    }

    /// Sets all options.
    pub fn options(mut self, options: GpOptions) -> Self {
        self.options = options;
        self
    }
    /// Sets the method.
    pub fn method(mut self, method: Method) -> Self {
        self.options.method = method;
        self
    }
    /// Fit the hyperparameters (`true`, the default) or use them as given.
    pub fn optimize(mut self, optimize: bool) -> Self {
        self.options.optimize = optimize;
        self
    }
    /// Sets the options of the hyperparameter fit.
    pub fn fit_options(mut self, fit: FitOptions) -> Self {
        self.options.fit = fit;
        self
    }
    /// Standardise the targets (`true`, the default).
    pub fn normalize_y(mut self, normalize: bool) -> Self {
        self.options.normalize_y = normalize;
        self
    }
    /// Sets the size up to which [`Method::Auto`] conditions exactly.
    pub fn exact_max_n(mut self, n: usize) -> Self {
        self.options.exact_max_n = n;
        self
    }

    /// The method [`fit`](Self::fit) will use for `n` points of dimension `d`, before looking at
    /// the inputs: where this says [`Method::IterGp`] for 1-D inputs, `fit` takes
    /// [`Method::Toeplitz`] instead if the inputs form a sorted regular grid and the kernel is
    /// stationary on it.
    pub fn choose(&self, n: usize, d: usize) -> Method {
        match self.options.method {
            Method::Auto => {
                if n <= self.options.exact_max_n {
                    Method::Exact
                } else if d == 1 && self.components.is_some() {
                    Method::StateSpace
                } else {
                    Method::IterGp
                }
            }
            m => m,
        }
    }

    /// Fits (unless disabled) and conditions on `x` (`n × d`) and `y` (`n`).
    ///
    /// Errors: bad data as in [`ExactGp::new`]; [`pn_core::Error::Unsupported`] for
    /// [`Method::StateSpace`] without Matérn components or with `d > 1`; failures of the fit.
    pub fn fit(&self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<GpPosterior> {
        check_data(self.kernel.as_ref(), &x, &y)?;
        let (n, d) = x.dim();
        let mut method = self.choose(n, d);
        // A regular 1-D grid with a stationary kernel: Toeplitz structure instead of IterGP
        // (checked on the initial kernel; the check is repeated after fitting).
        if self.options.method == Method::Auto
            && method == Method::IterGp
            && d == 1
            && Toeplitz::from_kernel(self.kernel.as_ref(), x.column(0), self.noise_variance).is_ok()
        {
            method = Method::Toeplitz;
        }
        if method == Method::StateSpace && (self.components.is_none() || d != 1) {
            return Err(pn_core::Error::Unsupported {
                what: "the state-space method needs 1-D inputs and a kernel built with GpRegression::matern",
            }
            .into());
        }
        if method == Method::Toeplitz && d != 1 {
            return Err(pn_core::Error::Unsupported {
                what: "the Toeplitz method needs 1-D inputs on a regular grid",
            }
            .into());
        }
        let (y_mean, y_scale) = if self.options.normalize_y {
            let m = y.mean().unwrap_or(0.0);
            let s = y.mapv(|v| (v - m) * (v - m)).mean().unwrap_or(0.0).sqrt();
            (m, if s > 0.0 { s } else { 1.0 })
        } else {
            (0.0, 1.0)
        };
        let z = y.mapv(|v| (v - y_mean) / y_scale);

        // Hyperparameters: fitted exactly, on a subsample when the conditioning is not exact.
        let (kernel, noise, fit_info, exact) = if self.options.optimize {
            let m = if method == Method::Exact {
                n
            } else {
                n.min(self.options.fit_max_n.max(1))
            };
            let fitted = if m == n {
                fit(
                    self.kernel.clone(),
                    self.noise_variance,
                    x,
                    z.view(),
                    &self.options.fit,
                )?
            } else {
                let idx: Vec<usize> = (0..m).map(|i| i * n / m).collect();
                let xs = x.select(Axis(0), &idx);
                let zs = z.select(Axis(0), &idx);
                fit(
                    self.kernel.clone(),
                    self.noise_variance,
                    xs.view(),
                    zs.view(),
                    &self.options.fit,
                )?
            };
            let kernel = fitted.gp.kernel().box_clone();
            // The fitted model is `K + (σ² + jitter) I`: the other paths condition on that same
            // model, so the jitter the fit needed is carried over as noise.
            let noise = fitted.gp.noise_variance() + fitted.gp.jitter();
            let exact = (m == n).then_some(fitted.gp);
            (kernel, noise, Some(fitted.info), exact)
        } else {
            (self.kernel.clone(), self.noise_variance, None, None)
        };

        let inner = match method {
            Method::StateSpace => {
                let comps = components_from(
                    self.components.as_deref().unwrap_or(&[]),
                    kernel.log_params().view(),
                );
                let ss = StateSpaceGp::new(&comps, noise)?.fit(x.column(0), z.view())?;
                Inner::StateSpace(ss)
            }
            Method::Toeplitz => {
                let op = Toeplitz::from_kernel(kernel.as_ref(), x.column(0), noise)?;
                let sol = cg(&op, z.view(), None, None, &self.options.cg, |_| {
                    crate::iterative::Control::Continue
                })?;
                Inner::Toeplitz(Box::new(ToeplitzPath {
                    op,
                    kernel: kernel.clone(),
                    x: x.column(0).to_owned(),
                    cg: self.options.cg.clone(),
                    iterations: sol.info.iterations,
                    alpha: sol.x,
                }))
            }
            Method::Cg => Inner::Cg(Box::new(CgPath::new(
                kernel.clone(),
                x,
                z.view(),
                noise,
                self.options.cg_preconditioner_rank,
                &self.options.cg,
            )?)),
            Method::IterGp => {
                let post = IterGp::new(kernel.as_ref(), x, noise)?.fit(
                    z.view(),
                    &self.options.itergp,
                    |_| crate::iterative::Control::Continue,
                )?;
                Inner::IterGp(post)
            }
            _ => match exact {
                Some(gp) => Inner::Exact(gp),
                None => Inner::Exact(ExactGp::with_options(
                    kernel.clone(),
                    noise,
                    x,
                    z.view(),
                    &self.options.fit.exact,
                )?),
            },
        };
        let lml_z = match &inner {
            Inner::Exact(gp) => Some(gp.log_marginal_likelihood()),
            Inner::StateSpace(ss) => Some(ss.log_marginal_likelihood()),
            Inner::IterGp(_) | Inner::Toeplitz(_) | Inner::Cg(_) => None,
        };
        Ok(GpPosterior {
            method: if method == Method::Auto {
                Method::Exact
            } else {
                method
            },
            inner,
            kernel,
            noise_variance: noise,
            y_mean,
            y_scale,
            d,
            log_marginal_likelihood: lml_z.map(|l| l - n as f64 * y_scale.ln()),
            fit_info,
        })
    }
}

/// The pn-core kernel `Σᵢ kᵢ` of Matérn components (parameters `log ℓ, log σ²` per component).
fn kernel_of(components: &[MaternComponent]) -> Result<Box<dyn Kernel>> {
    let mut parts: Vec<Box<dyn Kernel>> = Vec::new();
    for c in components {
        parts.push(match c.nu {
            Nu::Half => Box::new(Matern12::new(c.lengthscale, c.variance)?),
            Nu::ThreeHalves => Box::new(Matern32::new(c.lengthscale, c.variance)?),
            _ => Box::new(Matern52::new(c.lengthscale, c.variance)?),
        });
    }
    match parts.len() {
        0 => Err(pn_core::Error::Empty {
            what: "Matérn components",
        }
        .into()),
        1 => Ok(parts.pop().expect("one part")),
        _ => Ok(Box::new(Sum::new(parts)?)),
    }
}

/// Matérn components with the hyperparameters of the kernel's log-parameters.
fn components_from(
    template: &[MaternComponent],
    log_params: ArrayView1<'_, f64>,
) -> Vec<MaternComponent> {
    template
        .iter()
        .enumerate()
        .map(|(i, c)| MaternComponent {
            nu: c.nu,
            lengthscale: log_params[2 * i].exp(),
            variance: log_params[2 * i + 1].exp(),
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Inner {
    Exact(ExactGp),
    StateSpace(StateSpacePosterior),
    IterGp(IterGpPosterior),
    Toeplitz(Box<ToeplitzPath>),
    Cg(Box<CgPath>),
}

/// The CG path's posterior: `α` by preconditioned CG, variances by block CG at prediction time.
#[derive(Debug, Clone)]
struct CgPath {
    kernel: Box<dyn Kernel>,
    x: Array2<f64>,
    noise: f64,
    precond: Option<LowRankPlusDiagonal>,
    alpha: Array1<f64>,
    cg: CgParams,
    iterations: usize,
}

impl CgPath {
    fn new(
        kernel: Box<dyn Kernel>,
        x: ArrayView2<'_, f64>,
        z: ArrayView1<'_, f64>,
        noise: f64,
        rank: usize,
        params: &CgParams,
    ) -> Result<Self> {
        let n = x.nrows();
        // A zero noise leaves no diagonal to make the low-rank preconditioner invertible: plain CG.
        let precond = if noise > 0.0 && rank > 0 {
            let pc = PivotedCholesky::from_kernel(kernel.as_ref(), x, rank.min(n), 0.0)?;
            Some(pc.preconditioner(noise)?)
        } else {
            None
        };
        let op = KernelMatrix::symmetric(kernel.as_ref(), x)?.with_noise(noise)?;
        let sol = cg(
            &op,
            z,
            None,
            precond.as_ref().map(|p| p as &dyn Preconditioner),
            params,
            |_| crate::iterative::Control::Continue,
        )?;
        Ok(Self {
            kernel,
            x: x.to_owned(),
            noise,
            precond,
            alpha: sol.x,
            cg: params.clone(),
            iterations: sol.info.iterations,
        })
    }

    fn predict(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let ksx = self.kernel.matrix(xs, self.x.view())?;
        let mean = ksx.dot(&self.alpha);
        let op =
            KernelMatrix::symmetric(self.kernel.as_ref(), self.x.view())?.with_noise(self.noise)?;
        let (w, _) = cg_batch(
            &op,
            ksx.t(),
            self.precond.as_ref().map(|p| p as &dyn Preconditioner),
            &self.cg,
        )?;
        let red = (&ksx * &w.t()).sum_axis(Axis(1));
        let kss = self.kernel.diag(xs)?;
        Ok((mean, (kss - red).mapv(|v| v.max(0.0))))
    }
}

/// The Toeplitz path's posterior: `α` by CG, variances by block CG at prediction time.
#[derive(Debug, Clone)]
struct ToeplitzPath {
    op: Toeplitz,
    kernel: Box<dyn Kernel>,
    x: Array1<f64>,
    alpha: Array1<f64>,
    cg: CgParams,
    iterations: usize,
}

impl ToeplitzPath {
    fn predict(&self, xs: ArrayView1<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let a = xs.insert_axis(Axis(1));
        let ksx = self.kernel.matrix(a, self.x.view().insert_axis(Axis(1)))?;
        let mean = ksx.dot(&self.alpha);
        let (w, _) = cg_batch(&self.op, ksx.t(), None, &self.cg)?;
        let red = (&ksx * &w.t()).sum_axis(Axis(1));
        let kss = self.kernel.diag(a)?;
        Ok((mean, (kss - red).mapv(|v| v.max(0.0))))
    }
}

/// A GP posterior belief from [`GpRegression::fit`], in the units of the original targets.
#[derive(Debug, Clone)]
pub struct GpPosterior {
    method: Method,
    inner: Inner,
    kernel: Box<dyn Kernel>,
    noise_variance: f64,
    y_mean: f64,
    y_scale: f64,
    d: usize,
    log_marginal_likelihood: Option<f64>,
    fit_info: Option<FitInfo>,
}

impl GpPosterior {
    /// The method that was used (never [`Method::Auto`]).
    pub fn method(&self) -> Method {
        self.method
    }

    /// The (fitted) kernel, in units of the standardised targets.
    pub fn kernel(&self) -> &dyn Kernel {
        self.kernel.as_ref()
    }

    /// The (fitted) noise variance in units of the standardised targets.
    pub fn noise_variance(&self) -> f64 {
        self.noise_variance
    }

    /// The (fitted) noise variance in the units of the targets, `σ² · scale²`.
    pub fn noise_variance_original(&self) -> f64 {
        self.noise_variance * self.y_scale * self.y_scale
    }

    /// The offset and scale of the standardisation, `y = mean + scale · z` (`0, 1` if off).
    pub fn y_transform(&self) -> (f64, f64) {
        (self.y_mean, self.y_scale)
    }

    /// `log p(y)` of the original targets (`log p(z) − n log scale`); `None` for
    /// [`Method::IterGp`], which does not compute it.
    pub fn log_marginal_likelihood(&self) -> Option<f64> {
        self.log_marginal_likelihood
    }

    /// What the hyperparameter fit did (`None` if it was disabled).
    pub fn fit_info(&self) -> Option<&FitInfo> {
        self.fit_info.as_ref()
    }

    /// Iterations of the iterative solver that computed the representer weights: CG steps for
    /// [`Method::Cg`] and [`Method::Toeplitz`], IterGP steps for [`Method::IterGp`]; `None` for
    /// the direct methods.
    pub fn solver_iterations(&self) -> Option<usize> {
        match &self.inner {
            Inner::Cg(cp) => Some(cp.iterations),
            Inner::Toeplitz(tp) => Some(tp.iterations),
            Inner::IterGp(ip) => Some(ip.info().iterations),
            Inner::Exact(_) | Inner::StateSpace(_) => None,
        }
    }

    /// The exact posterior, when the method was [`Method::Exact`].
    pub fn exact(&self) -> Option<&ExactGp> {
        match &self.inner {
            Inner::Exact(gp) => Some(gp),
            _ => None,
        }
    }

    fn check(&self, xs: &ArrayView2<'_, f64>) -> Result<()> {
        if xs.ncols() != self.d {
            return Err(pn_core::Error::ShapeMismatch {
                op: "GpPosterior prediction (input dimension)",
                expected: vec![self.d],
                found: vec![xs.ncols()],
            }
            .into());
        }
        Ok(())
    }

    /// Posterior mean and variance of the latent `f` at the rows of `xs`.
    pub fn predict(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        self.check(&xs)?;
        let (m, v) = match &self.inner {
            Inner::Exact(gp) => gp.predict(xs)?,
            Inner::StateSpace(ss) => {
                if let Some(i) = xs.iter().position(|v| !v.is_finite()) {
                    return Err(pn_core::Error::NonFinite {
                        what: "test inputs",
                        index: vec![i],
                        value: xs[[i, 0]],
                    }
                    .into());
                }
                let (m, v) = ss.predict(xs.column(0))?;
                (m, v.mapv(|s| s.max(0.0)))
            }
            Inner::IterGp(ip) => ip.predict(xs)?,
            Inner::Toeplitz(tp) => {
                if xs.nrows() == 0 {
                    (Array1::zeros(0), Array1::zeros(0))
                } else {
                    tp.predict(xs.column(0))?
                }
            }
            Inner::Cg(cp) => {
                if xs.nrows() == 0 {
                    (Array1::zeros(0), Array1::zeros(0))
                } else {
                    cp.predict(xs)?
                }
            }
        };
        let s2 = self.y_scale * self.y_scale;
        Ok((m.mapv(|v| self.y_mean + self.y_scale * v), v * s2))
    }

    /// Posterior mean and standard deviation of the latent `f`.
    pub fn predict_mean_std(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let (m, v) = self.predict(xs)?;
        Ok((m, v.mapv(f64::sqrt)))
    }

    /// Predictive mean and variance of a new noisy observation `y* = f(x*) + ε`.
    pub fn predict_noisy(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let (m, v) = self.predict(xs)?;
        let extra = match &self.inner {
            Inner::Exact(gp) => gp.noise_variance() + gp.jitter(),
            _ => self.noise_variance,
        };
        let s2 = self.y_scale * self.y_scale;
        Ok((m, v.mapv(|v| v + extra * s2)))
    }

    /// Mean negative log predictive density of noisy targets `y_test` at `xs`,
    /// `−(1/m) Σ log N(yᵢ; μᵢ, σᵢ² + σ²)`.
    pub fn nlpd(&self, xs: ArrayView2<'_, f64>, y_test: ArrayView1<'_, f64>) -> Result<f64> {
        if xs.nrows() != y_test.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "GpPosterior::nlpd",
                expected: vec![xs.nrows()],
                found: vec![y_test.len()],
            }
            .into());
        }
        if let Some(i) = y_test.iter().position(|v| !v.is_finite()) {
            return Err(pn_core::Error::NonFinite {
                what: "y_test",
                index: vec![i],
                value: y_test[i],
            }
            .into());
        }
        let (m, v) = self.predict_noisy(xs)?;
        let n = y_test.len().max(1) as f64;
        Ok(m.iter()
            .zip(&v)
            .zip(y_test)
            .map(|((m, v), y)| 0.5 * ((2.0 * std::f64::consts::PI * v).ln() + (y - m).powi(2) / v))
            .sum::<f64>()
            / n)
    }

    /// The joint posterior of `f` at the rows of `xs` (for [`Method::IterGp`] with the combined
    /// covariance). The state-space and Toeplitz paths give marginals
    /// ([`predict`](Self::predict)) and error with [`pn_core::Error::Unsupported`].
    pub fn predict_full(&self, xs: ArrayView2<'_, f64>) -> Result<Gaussian> {
        self.check(&xs)?;
        if xs.nrows() == 0 {
            return Ok(Gaussian::standard(0));
        }
        let g = match &self.inner {
            Inner::Exact(gp) => gp.predict_full(xs)?,
            Inner::IterGp(ip) => ip.predict_belief(xs)?,
            Inner::StateSpace(_) | Inner::Toeplitz(_) | Inner::Cg(_) => {
                return Err(Error::Core(pn_core::Error::Unsupported {
                    what: "a joint posterior covariance from the state-space, Toeplitz or CG path",
                }));
            }
        };
        let mean = g.mean().mapv(|v| self.y_mean + self.y_scale * v);
        let cov = g.cov_dense() * (self.y_scale * self.y_scale);
        Ok(Gaussian::new(mean, Covariance::dense(cov)?)?)
    }

    /// `n_samples` joint posterior draws of `f` at the rows of `xs` (`n_samples × m`); not for
    /// [`Method::StateSpace`] or [`Method::Toeplitz`].
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
}

/// Real data sets shipped with the crate (sources and licences in the repository's
/// `docs/data.md`), parsed from the CSV files in `data/`.
pub mod datasets {
    use ndarray::{Array1, Array2};

    fn parse(csv: &str) -> (Array2<f64>, Array1<f64>) {
        let rows: Vec<(f64, f64)> = csv
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut it = l
                    .split(',')
                    .map(|v| v.trim().parse::<f64>().expect("shipped CSV is numeric"));
                (
                    it.next().expect("two columns"),
                    it.next().expect("two columns"),
                )
            })
            .collect();
        let x = Array2::from_shape_fn((rows.len(), 1), |(i, _)| rows[i].0);
        let y = Array1::from_iter(rows.iter().map(|r| r.1));
        (x, y)
    }

    /// The motorcycle-accident data (`MASS::mcycle`, Silverman 1985): 133 measurements of head
    /// acceleration (g, the target) against time after impact (ms, the input). Heteroscedastic:
    /// the noise is small before ~14 ms and large afterwards.
    pub fn mcycle() -> (Array2<f64>, Array1<f64>) {
        parse(include_str!("../data/mcycle.csv"))
    }

    /// Monthly atmospheric CO₂ at Mauna Loa (R's `datasets::co2`, Keeling & Whorf, SIO): 468
    /// months from January 1959 to December 1997, as decimal year (input) and ppm (target).
    pub fn co2() -> (Array2<f64>, Array1<f64>) {
        parse(include_str!("../data/co2.csv"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pn_core::kernels::Matern52;

    /// The CG path with the exact path's hyperparameters reproduces its mean and variance.
    #[test]
    fn cg_path_agrees_with_the_exact_path() {
        let x = Array2::from_shape_fn((150, 2), |(i, j)| ((i * (2 * j + 3)) % 37) as f64 / 9.0);
        let y = x.column(0).mapv(f64::sin) + x.column(1).mapv(|v| (0.5 * v).cos());
        let xs = Array2::from_shape_fn((7, 2), |(i, j)| 0.3 + (i + j) as f64 * 0.5);
        let k = Box::new(Matern52::ard(vec![1.0, 2.0], 1.0).expect("kernel"));
        let exact = GpRegression::new(k.clone(), 0.05)
            .optimize(false)
            .method(Method::Exact)
            .fit(x.view(), y.view())
            .expect("exact");
        let cgp = GpRegression::new(k, 0.05)
            .optimize(false)
            .method(Method::Cg)
            .fit(x.view(), y.view())
            .expect("cg");
        assert_eq!(cgp.method(), Method::Cg);
        assert!(cgp.log_marginal_likelihood().is_none());
        let iters = cgp.solver_iterations().expect("iterations");
        assert!(iters > 0 && iters < 150, "{iters} iterations");
        let (m0, v0) = exact.predict(xs.view()).expect("exact predict");
        let (m1, v1) = cgp.predict(xs.view()).expect("cg predict");
        for i in 0..7 {
            assert!(
                (m0[i] - m1[i]).abs() < 1e-6,
                "mean {i}: {} vs {}",
                m0[i],
                m1[i]
            );
            assert!(
                (v0[i] - v1[i]).abs() < 1e-6,
                "var {i}: {} vs {}",
                v0[i],
                v1[i]
            );
        }
        assert!(cgp.predict_full(xs.view()).is_err());
    }
}

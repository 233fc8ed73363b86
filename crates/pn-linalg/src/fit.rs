//! Hyperparameter fitting by maximising the log marginal likelihood (type-II maximum likelihood).
//!
//! The objective is `−log p(y | θ) / n` over the log-hyperparameters `θ` (the kernel's
//! [`log_params`](pn_core::kernels::Kernel::log_params), then `log σ²`), with its analytic
//! gradient from [`ExactGp`]. It is minimised by L-BFGS with a Moré–Thuente line search
//! ([`argmin`], `Vec<f64>` backend), from the initial values and from `restarts` further starts
//! drawn log-uniformly around them (seeded), and the best optimum is returned with what happened
//! at every start.
//!
//! - **Fixed parameters**: [`FitOptions::fix_noise`] keeps `σ²` as given — with `σ² = 0` this is
//!   noise-free interpolation with only the jitter of the ladder, as Bayesian quadrature needs;
//!   [`FitOptions::fix`] keeps any kernel parameter.
//! - **Priors**: [`FitOptions::prior`] puts a Gaussian on a log-parameter (maximum a posteriori).
//! - **Bounds** on log-parameters are exact: a bounded parameter is optimised through the
//!   logistic map `θ = lo + (hi − lo) / (1 + e^{−u})` over an unbounded `u`.
//! - **Wild trial steps**: unbounded log-parameters enter the model unchanged within `±40` and
//!   only logarithmically beyond, so a line-search trial far out (after a huge first gradient)
//!   evaluates to a poor but finite likelihood instead of an overflow.
//! - **Observer**: [`fit_with_observer`] calls a closure after every L-BFGS iteration with the
//!   current state; returning [`Control::Stop`] ends the fit with the best point so far.
//!
//! ```
//! use ndarray::Array2;
//! use pn_core::kernels::SquaredExponential;
//! use pn_linalg::fit::{FitOptions, fit};
//!
//! let x = Array2::from_shape_fn((30, 1), |(i, _)| i as f64 / 10.0);
//! let y = x.column(0).mapv(|t| (2.0 * t).sin());
//! let fitted = fit(
//!     Box::new(SquaredExponential::new(1.0, 1.0)?),
//!     0.1,
//!     x.view(),
//!     y.view(),
//!     &FitOptions::default().restarts(2).seed(7),
//! )?;
//! assert!(fitted.gp.noise_variance() < 1e-3); // the data are noise-free
//! assert!(fitted.info.starts.len() == 3);
//! # Ok::<(), pn_linalg::Error>(())
//! ```

use std::cell::RefCell;

use argmin::core::{
    CostFunction, Gradient, IterState, Problem, Solver, State, TerminationReason, TerminationStatus,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{Array1, ArrayView1, ArrayView2, s};
use pn_core::kernels::Kernel;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::error::{Error, Result};
use crate::exact::{ExactGp, ExactOptions, check_data, factorise_with_jitter, lml_gradient_from};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// What an observer tells the fit to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// Go on.
    #[default]
    Continue,
    /// Stop now and return the best point found so far.
    Stop,
}

/// Options of [`fit`]. Defaults: 3 random restarts, seed 0, 200 L-BFGS iterations per start,
/// starts spread by a factor `e^{±2.3} ≈ 10` around the initial values, gradient tolerance
/// `1e-6` on `−log p(y)/n`, L-BFGS memory 10, the noise fitted, no bounds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FitOptions {
    /// Random starts in addition to the initial values.
    pub restarts: usize,
    /// Seed of the restarts' generator ([`rand_pcg::Pcg64`]).
    pub seed: u64,
    /// L-BFGS iterations per start.
    pub max_iters: u64,
    /// Restarts draw each free log-parameter uniformly in `θ₀ ± restart_spread`.
    pub restart_spread: f64,
    /// Stop when the gradient norm of `−log p(y)/n` (in the optimiser's coordinates) is below.
    pub grad_tol: f64,
    /// Stop when `−log p(y)/n` changes by less than this between iterations.
    pub cost_tol: f64,
    /// History length of L-BFGS.
    pub memory: usize,
    /// Keep the noise variance as given.
    pub fix_noise: bool,
    /// Indices of kernel log-parameters kept as given.
    pub fixed: Vec<usize>,
    /// `(index, lo, hi)`: bounds on log-parameters (index `p` = the kernel's `n_params()` is
    /// `log σ²`).
    pub bounds: Vec<(usize, f64, f64)>,
    /// `(index, mean, std)`: independent Gaussian priors `N(mean, std²)` on log-parameters; the
    /// fit then maximises `log p(y | θ) + log p(θ)` (MAP).
    pub priors: Vec<(usize, f64, f64)>,
    /// Options of the factorisation (the jitter ladder) at every evaluation.
    pub exact: ExactOptions,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            restarts: 3,
            seed: 0,
            max_iters: 200,
            restart_spread: 2.3,
            grad_tol: 1e-6,
            cost_tol: 1e-12,
            memory: 10,
            fix_noise: false,
            fixed: Vec::new(),
            bounds: Vec::new(),
            priors: Vec::new(),
            exact: ExactOptions::default(),
        }
    }
}

impl FitOptions {
    /// Sets the number of random restarts.
    pub fn restarts(mut self, n: usize) -> Self {
        self.restarts = n;
        self
    }
    /// Sets the seed of the restarts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the L-BFGS iterations per start.
    pub fn max_iters(mut self, n: u64) -> Self {
        self.max_iters = n;
        self
    }
    /// Sets the half-width (in log space) of the restarts' box around the initial values.
    pub fn restart_spread(mut self, w: f64) -> Self {
        self.restart_spread = w;
        self
    }
    /// Sets the gradient tolerance.
    pub fn grad_tol(mut self, tol: f64) -> Self {
        self.grad_tol = tol;
        self
    }
    /// Sets the tolerance on the change of the objective.
    pub fn cost_tol(mut self, tol: f64) -> Self {
        self.cost_tol = tol;
        self
    }
    /// Sets the L-BFGS history length.
    pub fn memory(mut self, m: usize) -> Self {
        self.memory = m;
        self
    }
    /// Keeps the noise variance fixed at its initial value (e.g. `0` for interpolation).
    pub fn fix_noise(mut self) -> Self {
        self.fix_noise = true;
        self
    }
    /// Keeps the kernel log-parameter `index` fixed.
    pub fn fix(mut self, index: usize) -> Self {
        self.fixed.push(index);
        self
    }
    /// Bounds log-parameter `index` (kernel's, then `n_params()` for `log σ²`) to `[lo, hi]`.
    pub fn bound(mut self, index: usize, lo: f64, hi: f64) -> Self {
        self.bounds.push((index, lo, hi));
        self
    }
    /// A Gaussian prior `N(mean, std²)` on log-parameter `index` (kernel's, then `n_params()`
    /// for `log σ²`).
    pub fn prior(mut self, index: usize, mean: f64, std: f64) -> Self {
        self.priors.push((index, mean, std));
        self
    }
    /// Sets the factorisation options.
    pub fn exact(mut self, exact: ExactOptions) -> Self {
        self.exact = exact;
        self
    }
}

/// What the observer of [`fit_with_observer`] sees after each L-BFGS iteration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FitState {
    /// Which start (0 = the initial values).
    pub start: usize,
    /// Iteration within this start.
    pub iteration: u64,
    /// All log-parameters at the current iterate (kernel's, then `log σ²`).
    pub log_params: Array1<f64>,
    /// `log p(y)` at the current iterate (plus the log prior density if priors are set).
    pub log_marginal_likelihood: f64,
    /// Norm of the gradient of the objective `−log p(y)/n` in the optimiser's coordinates.
    pub grad_norm: f64,
}

/// What happened at one start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartInfo {
    /// The log-parameters it started from.
    pub initial_log_params: Array1<f64>,
    /// The best log-parameters it reached.
    pub log_params: Array1<f64>,
    /// `log p(y)` there (`−∞` if no evaluation succeeded).
    pub log_marginal_likelihood: f64,
    /// The maximised objective there: `log p(y)` plus the log prior density of the
    /// log-parameters if [`FitOptions::prior`] was used (up to its normalising constant).
    pub objective: f64,
    /// L-BFGS iterations spent.
    pub iterations: u64,
    /// Whether L-BFGS met its gradient or objective tolerance.
    pub converged: bool,
    /// Why it stopped, in words.
    pub termination: String,
}

/// What happened during [`fit`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FitInfo {
    /// One entry per start, the initial values first.
    pub starts: Vec<StartInfo>,
    /// Index of the start whose optimum was returned.
    pub best_start: usize,
    /// Evaluations of the marginal likelihood and its gradient, over all starts.
    pub evaluations: usize,
    /// Names of the log-parameters, in order.
    pub param_names: Vec<String>,
}

/// The result of [`fit`]: the GP at the fitted hyperparameters, and how it was found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fitted {
    /// The exact GP posterior with the fitted kernel and noise variance.
    pub gp: ExactGp,
    /// Per-start details.
    pub info: FitInfo,
}

impl Fitted {
    /// `log p(y)` at the fitted hyperparameters.
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.gp.log_marginal_likelihood()
    }
    /// The fitted kernel.
    pub fn kernel(&self) -> &dyn Kernel {
        self.gp.kernel()
    }
    /// The fitted noise variance.
    pub fn noise_variance(&self) -> f64 {
        self.gp.noise_variance()
    }
    /// Whether the start that was returned converged.
    pub fn converged(&self) -> bool {
        self.info.starts[self.info.best_start].converged
    }
}

/// Fits the kernel's hyperparameters and the noise variance by maximising `log p(y)`, starting
/// from the values in `kernel` and `noise_variance`; see the [module docs](self).
///
/// Errors: bad data as in [`ExactGp::new`]; invalid options
/// ([`pn_core::Error::InvalidParameter`], e.g. `σ² = 0` without [`FitOptions::fix_noise`], an
/// index out of range, `lo ≥ hi`, an initial value outside its bounds); [`Error::FitFailed`] if
/// the likelihood could not be evaluated at any start.
pub fn fit(
    kernel: Box<dyn Kernel>,
    noise_variance: f64,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    options: &FitOptions,
) -> Result<Fitted> {
    fit_with_observer(kernel, noise_variance, x, y, options, |_| Control::Continue)
}

/// As [`fit`], calling `observer` after every L-BFGS iteration of every start.
pub fn fit_with_observer(
    kernel: Box<dyn Kernel>,
    noise_variance: f64,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    options: &FitOptions,
    mut observer: impl FnMut(&FitState) -> Control,
) -> Result<Fitted> {
    pn_core::validate::non_negative("noise_variance", noise_variance)?;
    check_data(kernel.as_ref(), &x, &y)?;
    let p = kernel.n_params();
    let map = ParamMap::new(p, noise_variance, options)?;
    let mut theta0 = kernel.log_params().to_vec();
    theta0.push(noise_variance.ln());
    map.check_inside(&theta0)?;
    let objective = Objective {
        kernel: kernel.clone(),
        x,
        y,
        map: &map,
        theta_fixed: theta0.clone(),
        exact: &options.exact,
        cache: RefCell::new(None),
        best: RefCell::new(None),
        priors: &options.priors,
        evaluations: RefCell::new(0),
        grads: RefCell::new(Vec::new()),
    };

    let mut rng = Pcg64::seed_from_u64(options.seed);
    let mut starts = Vec::new();
    let mut stop = false;
    for start in 0..=options.restarts {
        if stop {
            break;
        }
        let mut theta_start = theta0.clone();
        if start > 0 {
            for &i in &map.free {
                let (lo, hi) = match map.bounds[i] {
                    Some((lo, hi)) => (
                        (theta0[i] - options.restart_spread).max(lo + 1e-6 * (hi - lo)),
                        (theta0[i] + options.restart_spread).min(hi - 1e-6 * (hi - lo)),
                    ),
                    None => (
                        theta0[i] - options.restart_spread,
                        theta0[i] + options.restart_spread,
                    ),
                };
                theta_start[i] = if hi > lo {
                    rng.random_range(lo..hi)
                } else {
                    lo
                };
            }
        }
        *objective.best.borrow_mut() = None;
        // A failed line search (a non-descent direction from a poor curvature model, an
        // evaluation that failed) restarts L-BFGS with a fresh memory from the best point, as
        // long as the previous run made progress and iterations remain.
        let mut done = 0;
        let mut from = theta_start.clone();
        let mut outcome;
        loop {
            let before = objective.best.borrow().as_ref().map(|b| b.0);
            let mut run_options = options.clone();
            run_options.max_iters = options.max_iters - done;
            outcome = run_lbfgs(&objective, &from, &run_options, |it, u, cost, g| {
                let theta = map.to_theta(u, &objective.theta_fixed);
                let state = FitState {
                    start,
                    iteration: done + it,
                    log_params: Array1::from(theta),
                    log_marginal_likelihood: -cost * y.len() as f64,
                    grad_norm: g,
                };
                let c = observer(&state);
                if c == Control::Stop {
                    stop = true;
                }
                c
            });
            done += outcome.iterations;
            outcome.iterations = done;
            let best = objective.best.borrow().clone();
            let improved = match (before, &best) {
                (Some(b), Some((a, _, _))) => *a > b + 1e-9 * b.abs().max(1.0),
                (None, Some(_)) => true,
                _ => false,
            };
            match best {
                Some((_, _, theta))
                    if outcome.line_search_failed
                        && improved
                        && !stop
                        && done < options.max_iters =>
                {
                    from = theta;
                }
                _ => break,
            }
        }
        let best = objective.best.borrow().clone();
        let (log_params, lml, objective_value) = match best {
            Some((obj, lml, theta)) => (Array1::from(theta), lml, obj),
            None => (
                Array1::from(theta_start.clone()),
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ),
        };
        starts.push(StartInfo {
            initial_log_params: Array1::from(theta_start),
            log_params,
            log_marginal_likelihood: lml,
            objective: objective_value,
            iterations: outcome.iterations,
            converged: outcome.converged,
            termination: outcome.termination,
        });
    }
    let best_start = (0..starts.len())
        .filter(|&i| starts[i].objective.is_finite())
        .max_by(|&a, &b| starts[a].objective.total_cmp(&starts[b].objective))
        .ok_or_else(|| Error::FitFailed {
            reason: starts
                .last()
                .map(|s| s.termination.clone())
                .unwrap_or_default(),
        })?;
    let theta = &starts[best_start].log_params;
    let mut k = kernel;
    k.set_log_params(theta.slice(s![..p]))?;
    let noise = if options.fix_noise {
        noise_variance
    } else {
        theta[p].exp()
    };
    let gp = ExactGp::with_options(k, noise, x, y, &options.exact)?;
    let mut param_names = gp.kernel().param_names();
    param_names.push("noise_variance".into());
    let evaluations = *objective.evaluations.borrow();
    Ok(Fitted {
        gp,
        info: FitInfo {
            starts,
            best_start,
            evaluations,
            param_names,
        },
    })
}

/// Which log-parameters are free, and the logistic maps of the bounded ones (shared with
/// [`crate::iterative::fit_iterative`]).
pub(crate) struct ParamMap {
    pub(crate) free: Vec<usize>,
    pub(crate) bounds: Vec<Option<(f64, f64)>>,
}

impl ParamMap {
    fn new(p: usize, noise_variance: f64, options: &FitOptions) -> Result<Self> {
        let invalid = |name, value: f64, reason| -> Error {
            pn_core::Error::InvalidParameter {
                name,
                value,
                reason,
            }
            .into()
        };
        if !options.fix_noise && noise_variance == 0.0 {
            return Err(invalid(
                "noise_variance",
                0.0,
                "a zero noise variance cannot be fitted in log space: give a positive start or fix it with FitOptions::fix_noise",
            ));
        }
        for (name, v) in [
            ("restart_spread", options.restart_spread),
            ("grad_tol", options.grad_tol),
            ("cost_tol", options.cost_tol),
        ] {
            pn_core::validate::non_negative(name, v)?;
        }
        if options.memory == 0 {
            return Err(invalid(
                "memory",
                0.0,
                "L-BFGS needs a history of at least 1",
            ));
        }
        for &(i, mean, std) in &options.priors {
            if i > p {
                return Err(pn_core::Error::IndexOutOfBounds {
                    index: i,
                    len: p + 1,
                }
                .into());
            }
            if !mean.is_finite() {
                return Err(invalid("prior mean", mean, "must be finite"));
            }
            pn_core::validate::positive("prior std", std)?;
        }
        Self::from_parts(p, options.fix_noise, &options.fixed, &options.bounds)
    }

    /// The map for `p` kernel log-parameters plus the log noise variance (index `p`): `fixed`
    /// kernel indices, the noise fixed or not, and `(index, lo, hi)` bounds on log-parameters.
    pub(crate) fn from_parts(
        p: usize,
        fix_noise: bool,
        fixed_indices: &[usize],
        bound_list: &[(usize, f64, f64)],
    ) -> Result<Self> {
        let mut fixed = vec![false; p + 1];
        fixed[p] = fix_noise;
        for &i in fixed_indices {
            if i >= p {
                return Err(pn_core::Error::IndexOutOfBounds { index: i, len: p }.into());
            }
            fixed[i] = true;
        }
        let mut bounds = vec![None; p + 1];
        for &(i, lo, hi) in bound_list {
            if i > p {
                return Err(pn_core::Error::IndexOutOfBounds {
                    index: i,
                    len: p + 1,
                }
                .into());
            }
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(pn_core::Error::InvalidParameter {
                    name: "bound",
                    value: lo,
                    reason: "bounds must be finite with lo < hi",
                }
                .into());
            }
            bounds[i] = Some((lo, hi));
        }
        Ok(Self {
            free: (0..=p).filter(|&i| !fixed[i]).collect(),
            bounds,
        })
    }

    pub(crate) fn check_inside(&self, theta: &[f64]) -> Result<()> {
        for &i in &self.free {
            if let Some((lo, hi)) = self.bounds[i]
                && !(lo < theta[i] && theta[i] < hi)
            {
                return Err(pn_core::Error::InvalidParameter {
                    name: "initial log-parameter",
                    value: theta[i],
                    reason: "must lie strictly inside its bounds",
                }
                .into());
            }
        }
        Ok(())
    }

    /// Optimiser coordinates of the free parameters.
    pub(crate) fn to_u(&self, theta: &[f64]) -> Vec<f64> {
        self.free
            .iter()
            .map(|&i| match self.bounds[i] {
                Some((lo, hi)) => {
                    let t = ((theta[i] - lo) / (hi - lo)).clamp(1e-12, 1.0 - 1e-12);
                    (t / (1.0 - t)).ln()
                }
                None => soft_inverse(theta[i]),
            })
            .collect()
    }

    /// All log-parameters from the optimiser's coordinates (fixed ones from `fixed`).
    pub(crate) fn to_theta(&self, u: &[f64], fixed: &[f64]) -> Vec<f64> {
        let mut theta = fixed.to_vec();
        for (&i, &ui) in self.free.iter().zip(u) {
            theta[i] = match self.bounds[i] {
                Some((lo, hi)) => lo + (hi - lo) / (1.0 + (-ui).exp()),
                None => soft(ui),
            };
        }
        theta
    }

    /// `dθᵢ/duᵢ` for each free parameter.
    pub(crate) fn jacobian(&self, u: &[f64]) -> Vec<f64> {
        self.free
            .iter()
            .zip(u)
            .map(|(&i, &ui)| match self.bounds[i] {
                Some((lo, hi)) => {
                    let s = 1.0 / (1.0 + (-ui).exp());
                    (hi - lo) * s * (1.0 - s)
                }
                None => soft_derivative(ui),
            })
            .collect()
    }
}

/// Unbounded log-parameters are used as they are within `±SOFT` (`e^{±40}`), and grow only
/// logarithmically beyond, `θ = ±(SOFT + ln(1 + |u| − SOFT))` (continuous with its derivative):
/// a wild line-search trial (e.g. `u = −1400` after a huge gradient) then still evaluates to a
/// finite, poor likelihood that the line search backs away from, instead of overflowing.
const SOFT: f64 = 40.0;

pub(crate) fn soft(u: f64) -> f64 {
    if u.abs() <= SOFT {
        u
    } else {
        u.signum() * (SOFT + (1.0 + u.abs() - SOFT).ln())
    }
}

pub(crate) fn soft_inverse(theta: f64) -> f64 {
    if theta.abs() <= SOFT {
        theta
    } else {
        theta.signum() * (SOFT + (theta.abs() - SOFT).exp() - 1.0)
    }
}

fn soft_derivative(u: f64) -> f64 {
    if u.abs() <= SOFT {
        1.0
    } else {
        1.0 / (1.0 + u.abs() - SOFT)
    }
}

type Evaluation = std::result::Result<(f64, Vec<f64>), String>;

/// `−log p(y)/n` and its gradient in the optimiser's coordinates.
struct Objective<'a> {
    kernel: Box<dyn Kernel>,
    x: ArrayView2<'a, f64>,
    y: ArrayView1<'a, f64>,
    map: &'a ParamMap,
    theta_fixed: Vec<f64>,
    exact: &'a ExactOptions,
    cache: RefCell<Option<(Vec<f64>, Evaluation)>>,
    /// Best `(objective, log p(y), θ)` evaluated in the current start.
    best: RefCell<Option<(f64, f64, Vec<f64>)>>,
    /// Gaussian priors `(index, mean, std)` on log-parameters.
    priors: &'a [(usize, f64, f64)],
    evaluations: RefCell<usize>,
    /// `∂K/∂(log θₚ)`, kept between evaluations (allocating and first touching `p` fresh
    /// `n × n` matrices per evaluation cost as much as computing them).
    grads: RefCell<Vec<ndarray::Array2<f64>>>,
}

impl Objective<'_> {
    fn evaluate(&self, u: &[f64]) -> Evaluation {
        if let Some((cu, ev)) = self.cache.borrow().as_ref()
            && cu.as_slice() == u
        {
            return ev.clone();
        }
        let ev = self.compute(u);
        *self.cache.borrow_mut() = Some((u.to_vec(), ev.clone()));
        ev
    }

    fn compute(&self, u: &[f64]) -> Evaluation {
        *self.evaluations.borrow_mut() += 1;
        if u.iter().any(|v| !v.is_finite()) {
            return Err("non-finite iterate".into());
        }
        let theta = self.map.to_theta(u, &self.theta_fixed);
        let p = self.kernel.n_params();
        let mut kernel = self.kernel.clone();
        kernel
            .set_log_params(ArrayView1::from(&theta[..p]))
            .map_err(|e| e.to_string())?;
        let noise = theta[p].exp();
        let m = self.x.nrows();
        let mut grads = self.grads.borrow_mut();
        if grads.len() != p {
            *grads = (0..p).map(|_| ndarray::Array2::zeros((m, m))).collect();
        }
        // K itself is fresh: the factorisation takes it over.
        let mut k = ndarray::Array2::zeros((m, m));
        kernel
            .matrix_with_grad_into(self.x, &mut k, &mut grads)
            .map_err(|e| e.to_string())?;
        k.diag_mut().mapv_inplace(|v| v + noise);
        let scale = k.diag().mean().unwrap_or(0.0);
        let rebuild = || -> crate::Result<ndarray::Array2<f64>> {
            let mut k = kernel.matrix(self.x, self.x)?;
            k.diag_mut().mapv_inplace(|v| v + noise);
            Ok(k)
        };
        let (chol, jitter) = factorise_with_jitter(k, &self.exact.jitter_ladder, &rebuild)
            .map_err(|e| e.to_string())?;
        let jitter_rel = if jitter > 0.0 { jitter / scale } else { 0.0 };
        let alpha = chol.solve(self.y).map_err(|e| e.to_string())?;
        let n = self.y.len() as f64;
        let lml = -0.5 * (self.y.dot(&alpha) + chol.logdet() + n * LN_2PI);
        let g = lml_gradient_from(&chol, alpha.view(), &grads, noise, jitter_rel)
            .map_err(|e| e.to_string())?;
        if !lml.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return Err("non-finite marginal likelihood".into());
        }
        let mut g = g;
        let mut objective = lml;
        for &(i, mean, std) in self.priors {
            let z = (theta[i] - mean) / std;
            objective -= 0.5 * z * z;
            g[i] -= z / std;
        }
        let jac = self.map.jacobian(u);
        let grad_u: Vec<f64> = self
            .map
            .free
            .iter()
            .zip(&jac)
            .map(|(&i, &d)| -g[i] * d / n)
            .collect();
        let mut best = self.best.borrow_mut();
        if best.as_ref().is_none_or(|(b, _, _)| objective > *b) {
            *best = Some((objective, lml, theta));
        }
        Ok((-objective / n, grad_u))
    }
}

/// What argmin holds: a borrow of the objective, which outlives every start.
struct ObjectiveRef<'r, 'a>(&'r Objective<'a>);

impl CostFunction for ObjectiveRef<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        self.0
            .evaluate(u)
            .map(|(c, _)| c)
            .map_err(argmin::core::Error::msg)
    }
}

impl Gradient for ObjectiveRef<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.0
            .evaluate(u)
            .map(|(_, g)| g)
            .map_err(argmin::core::Error::msg)
    }
}

type Lbfgs = LBFGS<MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64>, Vec<f64>, Vec<f64>, f64>;

struct Outcome {
    iterations: u64,
    converged: bool,
    termination: String,
    /// The run ended in a failed line search (worth restarting from the best point).
    line_search_failed: bool,
}

/// L-BFGS from `theta_start`, one iteration at a time so that the observer sees each.
fn run_lbfgs(
    objective: &Objective<'_>,
    theta_start: &[f64],
    options: &FitOptions,
    mut observe: impl FnMut(u64, &[f64], f64, f64) -> Control,
) -> Outcome {
    let u0 = objective.map.to_u(theta_start);
    let failed = |iterations, e: argmin::core::Error| Outcome {
        iterations,
        converged: false,
        termination: format!("evaluation failed: {e}"),
        line_search_failed: false,
    };
    if u0.is_empty() {
        // Nothing to optimise: one evaluation records the value.
        return match objective.evaluate(&u0) {
            Ok(_) => Outcome {
                iterations: 0,
                converged: true,
                termination: "no free parameters".into(),
                line_search_failed: false,
            },
            Err(e) => failed(0, argmin::core::Error::msg(e)),
        };
    }
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), options.memory)
        .with_tolerance_grad(options.grad_tol)
        .and_then(|s| s.with_tolerance_cost(options.cost_tol));
    let mut solver = match solver {
        Ok(s) => s,
        Err(e) => return failed(0, e),
    };
    let mut problem = Problem::new(ObjectiveRef(objective));
    let state: IterState<Vec<f64>, Vec<f64>, (), (), (), f64> =
        IterState::new().param(u0).max_iters(options.max_iters);
    let mut state = match solver.init(&mut problem, state) {
        Ok((s, _)) => s,
        Err(e) => return failed(0, e),
    };
    state.update();
    loop {
        // A line search that fails terminates the state inside `next_iter` (and takes its
        // gradient): report that reason rather than asking the solver again.
        if let TerminationStatus::Terminated(reason) = state.get_termination_status() {
            return Outcome {
                iterations: state.get_iter(),
                converged: *reason == TerminationReason::SolverConverged,
                termination: reason.text().to_string(),
                line_search_failed: matches!(reason, TerminationReason::SolverExit(_)),
            };
        }
        if let TerminationStatus::Terminated(reason) =
            <Lbfgs as Solver<ObjectiveRef<'_, '_>, _>>::terminate_internal(&mut solver, &state)
        {
            return Outcome {
                iterations: state.get_iter(),
                converged: reason == TerminationReason::SolverConverged,
                termination: reason.text().to_string(),
                line_search_failed: false,
            };
        }
        let iter = state.get_iter();
        state = match solver.next_iter(&mut problem, state) {
            Ok((s, _)) => s,
            Err(e) => {
                return Outcome {
                    iterations: iter,
                    converged: false,
                    termination: format!("line search or evaluation failed: {e}"),
                    line_search_failed: true,
                };
            }
        };
        state.update();
        let g = state
            .get_gradient()
            .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
            .unwrap_or(f64::NAN);
        let u = state.get_param().cloned().unwrap_or_default();
        if observe(iter, &u, state.get_cost(), g) == Control::Stop {
            return Outcome {
                iterations: iter + 1,
                converged: false,
                termination: "stopped by the observer".into(),
                line_search_failed: false,
            };
        }
        state.increment_iter();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_map_round_trips_and_differentiates() {
        let opts = FitOptions::default().bound(0, -1.0, 2.0).fix(1);
        let map = ParamMap::new(2, 0.1, &opts).unwrap();
        assert_eq!(map.free, vec![0, 2]);
        let theta = vec![0.7, 5.0, -3.0];
        let u = map.to_u(&theta);
        let back = map.to_theta(&u, &theta);
        assert!((back[0] - 0.7).abs() < 1e-12 && back[2] == -3.0 && back[1] == 5.0);
        let h = 1e-6;
        let jac = map.jacobian(&u);
        let fd = (map.to_theta(&[u[0] + h, u[1]], &theta)[0]
            - map.to_theta(&[u[0] - h, u[1]], &theta)[0])
            / (2.0 * h);
        assert!((jac[0] - fd).abs() < 1e-8);
        assert_eq!(jac[1], 1.0);
    }

    #[test]
    fn soft_map_is_identity_inside_and_smooth_outside() {
        for &u in &[-3.0, 0.0, 39.9] {
            assert_eq!(soft(u), u);
        }
        for &u in &[-1417.0, -45.0, 41.0, 1e6] {
            assert!((soft_inverse(soft(u)) - u).abs() < 1e-9 * u.abs());
            let h = 1e-6;
            let fd = (soft(u + h) - soft(u - h)) / (2.0 * h);
            assert!((fd - soft_derivative(u)).abs() < 1e-6);
            assert!(soft(u).abs() < 60.0);
        }
        // C¹ at the threshold.
        let (a, b) = (soft(SOFT - 1e-9), soft(SOFT + 1e-9));
        assert!((a - b).abs() < 1e-8 && soft_derivative(SOFT + 1e-12) > 0.999_999);
    }
}

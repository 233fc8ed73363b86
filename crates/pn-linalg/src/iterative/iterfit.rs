//! Hyperparameter fitting without a Cholesky: L-BFGS on the matrix-free estimate of the log
//! marginal likelihood and its gradient.

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

use super::bbmm::{ProbeBase, check_inputs, evaluate};
use super::{BbmmParams, Control, IterativeLml, PivotedCholesky};
use crate::error::{Error, Result};
use crate::fit::ParamMap;

/// Options of [`fit_iterative`], in the style of [`crate::fit::FitOptions`].
///
/// Defaults: 1 random restart, seed 0, 60 L-BFGS iterations per start, restarts drawn in
/// `θ₀ ± 2.3`, gradient tolerance `1e-6` and objective tolerance `1e-8` on `−log p(y)/n`, noise
/// floor 0.5, L-BFGS memory 10, the noise fitted, no bounds, the estimator's defaults
/// ([`BbmmParams::default`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IterFitOptions {
    /// Random starts in addition to the initial values.
    pub restarts: usize,
    /// Seed of the restarts' generator ([`rand_pcg::Pcg64`]); the probes have their own seed in
    /// [`estimator`](Self::estimator).
    pub seed: u64,
    /// L-BFGS iterations per start.
    pub max_iters: u64,
    /// Restarts draw each free log-parameter uniformly in `θ₀ ± restart_spread`.
    pub restart_spread: f64,
    /// Stop when the gradient norm of `−log p(y)/n` (optimiser's coordinates) is below.
    pub grad_tol: f64,
    /// Stop when `−log p(y)/n` changes by less than this between iterations.
    pub cost_tol: f64,
    /// Stop (converged) when every free entry of the estimated gradient is within
    /// `noise_floor` standard errors of zero: beyond that the iteration follows the noise of
    /// the estimate, not the likelihood (`0`: never).
    pub noise_floor: f64,
    /// History length of L-BFGS.
    pub memory: usize,
    /// Keep the noise variance as given (it must be positive).
    pub fix_noise: bool,
    /// Indices of kernel log-parameters kept as given.
    pub fixed: Vec<usize>,
    /// `(index, lo, hi)`: bounds on log-parameters (index `p` = the kernel's `n_params()` is
    /// `log σ²`), enforced exactly through a logistic map.
    pub bounds: Vec<(usize, f64, f64)>,
    /// The estimator of every evaluation: probes (fixed for the whole fit), preconditioner,
    /// CG tolerance.
    pub estimator: BbmmParams,
}

impl Default for IterFitOptions {
    fn default() -> Self {
        Self {
            restarts: 1,
            seed: 0,
            max_iters: 60,
            restart_spread: 2.3,
            grad_tol: 1e-6,
            cost_tol: 1e-8,
            noise_floor: 0.5,
            memory: 10,
            fix_noise: false,
            fixed: Vec::new(),
            bounds: Vec::new(),
            estimator: BbmmParams::default(),
        }
    }
}

impl IterFitOptions {
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
    /// Sets the noise floor (in standard errors of the gradient entries).
    pub fn noise_floor(mut self, z: f64) -> Self {
        self.noise_floor = z;
        self
    }
    /// Sets the L-BFGS history length.
    pub fn memory(mut self, m: usize) -> Self {
        self.memory = m;
        self
    }
    /// Keeps the noise variance fixed at its initial value.
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
    /// Sets the estimator's options.
    pub fn estimator(mut self, params: BbmmParams) -> Self {
        self.estimator = params;
        self
    }
}

/// What the observer of [`fit_iterative_with_observer`] sees after each L-BFGS iteration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IterFitState {
    /// Which start (0 = the initial values).
    pub start: usize,
    /// Iteration within this start.
    pub iteration: u64,
    /// All log-parameters at the current iterate (kernel's, then `log σ²`).
    pub log_params: Array1<f64>,
    /// Estimated `log p(y)` at the current iterate.
    pub log_marginal_likelihood: f64,
    /// Its standard error.
    pub lml_std_error: f64,
    /// Norm of the estimated gradient of `−log p(y)/n` in the optimiser's coordinates.
    pub grad_norm: f64,
    /// CG iterations so far, over all evaluations.
    pub cg_iterations: usize,
}

/// What happened at one start of [`fit_iterative`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IterStartInfo {
    /// The log-parameters it started from.
    pub initial_log_params: Array1<f64>,
    /// The best log-parameters it reached (by the estimated `log p(y)`).
    pub log_params: Array1<f64>,
    /// Estimated `log p(y)` there (`−∞` if no evaluation succeeded).
    pub log_marginal_likelihood: f64,
    /// L-BFGS iterations spent.
    pub iterations: u64,
    /// Whether L-BFGS met its gradient or objective tolerance, or its line search stalled
    /// where the estimated gradient is within 4 standard errors of zero (the estimate's noise
    /// floor).
    pub converged: bool,
    /// Why it stopped, in words.
    pub termination: String,
}

/// What happened during [`fit_iterative`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IterFitInfo {
    /// One entry per start, the initial values first.
    pub starts: Vec<IterStartInfo>,
    /// Index of the start whose optimum was returned.
    pub best_start: usize,
    /// Evaluations of the estimator, over all starts.
    pub evaluations: usize,
    /// CG iterations (block products with `K̂`), over all evaluations.
    pub cg_iterations: usize,
    /// The estimate (log marginal likelihood, its gradient, their standard errors) at the
    /// returned hyperparameters, in the order of [`param_names`](Self::param_names).
    pub estimate: IterativeLml,
    /// Names of the log-parameters, in order.
    pub param_names: Vec<String>,
}

/// The result of [`fit_iterative`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IterFitted {
    /// The kernel with the fitted hyperparameters.
    pub kernel: Box<dyn Kernel>,
    /// The fitted noise variance.
    pub noise_variance: f64,
    /// Per-start details and the estimate at the optimum.
    pub info: IterFitInfo,
}

impl IterFitted {
    /// Estimated `log p(y)` at the fitted hyperparameters.
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.info.estimate.lml
    }
    /// Its standard error.
    pub fn lml_std_error(&self) -> f64 {
        self.info.estimate.lml_std_error
    }
    /// Whether the start that was returned converged.
    pub fn converged(&self) -> bool {
        self.info.starts[self.info.best_start].converged
    }
}

/// Fits the kernel's hyperparameters and the noise variance by maximising the matrix-free
/// estimate of `log p(y)` of [`lml_bbmm`](super::lml_bbmm): no Cholesky factorisation and no
/// `n × n` matrix, only block products with `K + σ² I` and tiled derivative products.
///
/// Mirrors [`crate::fit::fit`]: L-BFGS (argmin, Moré–Thuente line search) over the
/// log-hyperparameters with seeded restarts, fixed parameters, exact bounds and the same
/// soft cap on wild trial steps. The objective is deterministic (common random numbers): the
/// Rademacher base vectors of the probes are drawn once for the whole fit, and the
/// pivoted-Cholesky pivots are chosen afresh at the first point of every L-BFGS run and kept
/// through it, so that preconditioner and probes change smoothly with `θ` within a run. The
/// estimated gradient is unbiased but not the exact derivative of the estimated objective, so
/// a line search may stall at the noise floor; the fit restarts L-BFGS from the best point once
/// and counts a stall where the gradient is within 4 standard errors of zero as converged.
///
/// Errors: bad data (shapes, NaN/∞), `σ² ≤ 0` (the preconditioner needs a positive noise),
/// invalid options (zero probes, an index out of range, `lo ≥ hi`, an initial value outside
/// its bounds); [`Error::FitFailed`] if the estimate could not be evaluated at any start.
///
/// ```
/// use ndarray::Array2;
/// use pn_core::kernels::SquaredExponential;
/// use pn_linalg::iterative::{IterFitOptions, fit_iterative};
///
/// let x = Array2::from_shape_fn((200, 1), |(i, _)| i as f64 / 40.0);
/// let y = x.column(0).mapv(|t| (2.0 * t).sin() + 0.1 * (37.0 * t).sin());
/// let k = SquaredExponential::new(1.0, 1.0)?;
/// let fitted = fit_iterative(Box::new(k), 0.1, x.view(), y.view(), &IterFitOptions::default())?;
/// assert!(fitted.noise_variance < 0.02 && fitted.info.evaluations > 3);
/// # Ok::<(), pn_linalg::Error>(())
/// ```
pub fn fit_iterative(
    kernel: Box<dyn Kernel>,
    noise_variance: f64,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    options: &IterFitOptions,
) -> Result<IterFitted> {
    fit_iterative_with_observer(kernel, noise_variance, x, y, options, |_| Control::Continue)
}

/// As [`fit_iterative`], calling `observer` after every L-BFGS iteration of every start;
/// [`Control::Stop`] ends the fit with the best point so far.
pub fn fit_iterative_with_observer(
    kernel: Box<dyn Kernel>,
    noise_variance: f64,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    options: &IterFitOptions,
    mut observer: impl FnMut(&IterFitState) -> Control,
) -> Result<IterFitted> {
    options.estimator.validate()?;
    check_inputs(kernel.as_ref(), x, y, noise_variance)?;
    let p = kernel.n_params();
    let map = param_map(p, options)?;
    let mut theta0 = kernel.log_params().to_vec();
    theta0.push(noise_variance.ln());
    map.check_inside(&theta0)?;
    let n = x.nrows();
    let rank = options.estimator.precond_rank.min(n);
    let objective = Objective {
        kernel: kernel.clone(),
        x,
        y,
        map: &map,
        theta_fixed: theta0.clone(),
        params: &options.estimator,
        base: ProbeBase::new(n, rank, options.estimator.probes, options.estimator.seed),
        pivots: RefCell::new(Vec::new()),
        cache: RefCell::new(None),
        best: RefCell::new(None),
        evaluations: RefCell::new(0),
        cg_iterations: RefCell::new(0),
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
        let mut done = 0;
        let mut from = theta_start.clone();
        let mut outcome;
        let mut runs = 0;
        loop {
            runs += 1;
            objective.choose_pivots(&from);
            let before = objective.best.borrow().as_ref().map(|b| b.0);
            outcome = run_lbfgs(
                &objective,
                &from,
                options,
                options.max_iters - done,
                |it, u| {
                    let theta = map.to_theta(u, &objective.theta_fixed);
                    let Some((_, Ok(ev))) = objective.cache.borrow().clone() else {
                        return Control::Continue;
                    };
                    let state = IterFitState {
                        start,
                        iteration: done + it,
                        log_params: Array1::from(theta),
                        log_marginal_likelihood: ev.lml,
                        lml_std_error: ev.lml_std_error,
                        grad_norm: ev.grad_u.iter().map(|g| g * g).sum::<f64>().sqrt(),
                        cg_iterations: *objective.cg_iterations.borrow(),
                    };
                    let c = observer(&state);
                    if c == Control::Stop {
                        stop = true;
                    }
                    c
                },
            );
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
                        && runs < 3
                        && done < options.max_iters =>
                {
                    from = theta;
                }
                _ => break,
            }
        }
        // A stalled line search at a point whose estimated gradient is pure noise is as far as
        // the estimate can take the fit.
        let mut converged = outcome.converged;
        if let Some((_, ev, _)) = objective.best.borrow().as_ref()
            && outcome.line_search_failed
            && map
                .free
                .iter()
                .all(|&i| ev.gradient[i].abs() <= 4.0 * ev.gradient_std_error[i])
        {
            converged = true;
        }
        let best = objective.best.borrow().clone();
        let (log_params, lml) = match best {
            Some((lml, _, theta)) => (Array1::from(theta), lml),
            None => (Array1::from(theta_start.clone()), f64::NEG_INFINITY),
        };
        starts.push(IterStartInfo {
            initial_log_params: Array1::from(theta_start),
            log_params,
            log_marginal_likelihood: lml,
            iterations: outcome.iterations,
            converged,
            termination: outcome.termination,
        });
    }
    let best_start = (0..starts.len())
        .filter(|&i| starts[i].log_marginal_likelihood.is_finite())
        .max_by(|&a, &b| {
            starts[a]
                .log_marginal_likelihood
                .total_cmp(&starts[b].log_marginal_likelihood)
        })
        .ok_or_else(|| Error::FitFailed {
            reason: starts
                .last()
                .map(|s| s.termination.clone())
                .unwrap_or_default(),
        })?;
    let theta = starts[best_start].log_params.clone();
    let mut k = kernel;
    k.set_log_params(theta.slice(s![..p]))?;
    let noise = if options.fix_noise {
        noise_variance
    } else {
        theta[p].exp()
    };
    // The estimate at the optimum, with pivots chosen there.
    objective.choose_pivots(&theta.to_vec());
    let estimate = evaluate(
        k.as_ref(),
        x,
        y,
        noise,
        &objective.pivots.borrow(),
        &objective.base,
        &options.estimator,
    )?;
    *objective.evaluations.borrow_mut() += 1;
    *objective.cg_iterations.borrow_mut() += estimate.cg_iterations;
    let mut param_names = k.param_names();
    param_names.push("noise_variance".into());
    let evaluations = *objective.evaluations.borrow();
    let cg_iterations = *objective.cg_iterations.borrow();
    Ok(IterFitted {
        kernel: k,
        noise_variance: noise,
        info: IterFitInfo {
            starts,
            best_start,
            evaluations,
            cg_iterations,
            estimate,
            param_names,
        },
    })
}

/// The optimiser's options checked, and the parameter map of [`crate::fit`].
fn param_map(p: usize, options: &IterFitOptions) -> Result<ParamMap> {
    let invalid = |name, value: f64, reason| -> Error {
        pn_core::Error::InvalidParameter {
            name,
            value,
            reason,
        }
        .into()
    };
    for (name, v) in [
        ("restart_spread", options.restart_spread),
        ("grad_tol", options.grad_tol),
        ("cost_tol", options.cost_tol),
        ("noise_floor", options.noise_floor),
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
    ParamMap::from_parts(p, options.fix_noise, &options.fixed, &options.bounds)
}

/// One evaluation in the optimiser's coordinates.
#[derive(Debug, Clone)]
struct Evaluated {
    cost: f64,
    grad_u: Vec<f64>,
    grad_se_u: Vec<f64>,
    lml: f64,
    lml_std_error: f64,
}

type Evaluation = std::result::Result<Evaluated, String>;

struct Objective<'a> {
    kernel: Box<dyn Kernel>,
    x: ArrayView2<'a, f64>,
    y: ArrayView1<'a, f64>,
    map: &'a ParamMap,
    theta_fixed: Vec<f64>,
    params: &'a BbmmParams,
    base: ProbeBase,
    pivots: RefCell<Vec<usize>>,
    cache: RefCell<Option<(Vec<f64>, Evaluation)>>,
    /// Best `(estimated log p(y), its estimate, θ)` of the current start.
    best: RefCell<Option<(f64, IterativeLml, Vec<f64>)>>,
    evaluations: RefCell<usize>,
    cg_iterations: RefCell<usize>,
}

impl Objective<'_> {
    /// Pivots of the pivoted Cholesky at `theta` (kept until the next call); the cache is
    /// cleared since the estimate changes with them.
    fn choose_pivots(&self, theta: &[f64]) {
        let p = self.kernel.n_params();
        let mut kernel = self.kernel.clone();
        let rank = self.params.precond_rank.min(self.x.nrows());
        let pivots = if rank == 0
            || kernel
                .set_log_params(ArrayView1::from(&theta[..p]))
                .is_err()
        {
            Vec::new()
        } else {
            PivotedCholesky::from_kernel(kernel.as_ref(), self.x, rank, 0.0)
                .map(|pc| pc.pivots)
                .unwrap_or_default()
        };
        *self.pivots.borrow_mut() = pivots;
        *self.cache.borrow_mut() = None;
    }

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
        if !(noise > 0.0 && noise.is_finite()) {
            return Err("noise variance out of range".into());
        }
        let est = evaluate(
            kernel.as_ref(),
            self.x,
            self.y,
            noise,
            &self.pivots.borrow(),
            &self.base,
            self.params,
        )
        .map_err(|e| e.to_string())?;
        *self.cg_iterations.borrow_mut() += est.cg_iterations;
        let n = self.y.len() as f64;
        let jac = self.map.jacobian(u);
        let grad_u: Vec<f64> = self
            .map
            .free
            .iter()
            .zip(&jac)
            .map(|(&i, &d)| -est.gradient[i] * d / n)
            .collect();
        let grad_se_u: Vec<f64> = self
            .map
            .free
            .iter()
            .zip(&jac)
            .map(|(&i, &d)| est.gradient_std_error[i] * d.abs() / n)
            .collect();
        let out = Evaluated {
            cost: -est.lml / n,
            grad_u,
            grad_se_u,
            lml: est.lml,
            lml_std_error: est.lml_std_error,
        };
        let mut best = self.best.borrow_mut();
        if best.as_ref().is_none_or(|(b, _, _)| est.lml > *b) {
            *best = Some((est.lml, est, theta));
        }
        Ok(out)
    }
}

struct ObjectiveRef<'r, 'a>(&'r Objective<'a>);

impl CostFunction for ObjectiveRef<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        self.0
            .evaluate(u)
            .map(|e| e.cost)
            .map_err(argmin::core::Error::msg)
    }
}

impl Gradient for ObjectiveRef<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.0
            .evaluate(u)
            .map(|e| e.grad_u)
            .map_err(argmin::core::Error::msg)
    }
}

type Lbfgs = LBFGS<MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64>, Vec<f64>, Vec<f64>, f64>;

struct Outcome {
    iterations: u64,
    converged: bool,
    termination: String,
    line_search_failed: bool,
}

/// L-BFGS from `theta_start`, one iteration at a time so that the observer sees each.
fn run_lbfgs(
    objective: &Objective<'_>,
    theta_start: &[f64],
    options: &IterFitOptions,
    max_iters: u64,
    mut observe: impl FnMut(u64, &[f64]) -> Control,
) -> Outcome {
    let u0 = objective.map.to_u(theta_start);
    let failed = |iterations, e: argmin::core::Error| Outcome {
        iterations,
        converged: false,
        termination: format!("evaluation failed: {e}"),
        line_search_failed: false,
    };
    if u0.is_empty() {
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
        IterState::new().param(u0).max_iters(max_iters);
    let mut state = match solver.init(&mut problem, state) {
        Ok((s, _)) => s,
        Err(e) => return failed(0, e),
    };
    state.update();
    loop {
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
        let u = state.get_param().cloned().unwrap_or_default();
        // The cache then holds the accepted iterate for the observer.
        let at_floor = objective.evaluate(&u).is_ok_and(|e| {
            e.grad_u
                .iter()
                .zip(&e.grad_se_u)
                .all(|(g, se)| g.abs() <= options.noise_floor * se)
        });
        if observe(iter, &u) == Control::Stop {
            return Outcome {
                iterations: iter + 1,
                converged: false,
                termination: "stopped by the observer".into(),
                line_search_failed: false,
            };
        }
        if at_floor {
            return Outcome {
                iterations: iter + 1,
                converged: true,
                termination: "estimated gradient within the noise floor".into(),
                line_search_failed: false,
            };
        }
        state.increment_iter();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{soft, soft_inverse};

    #[test]
    fn soft_map_round_trips() {
        for &u in &[-3.0, 0.0, 39.9, -1417.0, 45.0, 1e6] {
            assert!((soft_inverse(soft(u)) - u).abs() <= 1e-9 * u.abs().max(1.0));
        }
        let opts = IterFitOptions::default().bound(0, -1.0, 2.0).fix(1);
        let map = param_map(2, &opts).unwrap();
        assert_eq!(map.free, vec![0, 2]);
        let theta = vec![0.7, 5.0, -3.0];
        let back = map.to_theta(&map.to_u(&theta), &theta);
        assert!((back[0] - 0.7).abs() < 1e-12 && back[1] == 5.0 && back[2] == -3.0);
    }
}

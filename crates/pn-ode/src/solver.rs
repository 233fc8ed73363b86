//! The ODE filter: EK0 and EK1 with adaptive steps and diffusion calibration.
//!
//! Each step predicts the state `X = (x, x', …, x^{(q)})` under the IWP(q) prior, linearises
//! the information operator `z(X) = E₁X − f(t, E₀X)` at the predicted mean — EK0 with
//! `H = E₁`, EK1 with `H = E₁ − J E₀`, `J = ∂f/∂x` — and conditions on `z = 0` by the
//! square-root Kalman update of pn-filter, in preconditioned coordinates.
//!
//! **Calibration.** The prior's diffusion `σ²` sets the scale of the uncertainty. Its local
//! quasi-maximum-likelihood estimate on a step is `σ̂² = zᵀ (H Q Hᵀ)⁻¹ z / d` (Schober et al.,
//! 2019; Bosch et al., 2021): the residual `z` explained by the process noise of this step alone,
//! as if the step started from an exact state. *Dynamic* calibration uses `σ̂²` for that step's
//! process noise; *global* calibration runs with `σ² = 1` and rescales every covariance at the
//! end by `σ²_MLE = Σₖ zₖᵀ Sₖ⁻¹ zₖ / (N d)`, where `Sₖ = H (A P Aᵀ + σ² Q) Hᵀ` is the *full*
//! innovation covariance.
//!
//! The local estimate double counts: part of `z` is already explained by the belief `P` carried
//! into the step, so the dynamic EK1 piles up variance that its errors do not show (measured:
//! χ² of the final error 10⁻³–10⁻² on smooth problems, i.e. errors of 0.03–0.1 σ). For the
//! first-order linearisations ([`Method::Ek1`], [`Method::DiagonalEk1`]) dynamic calibration
//! therefore ends with the same quasi-MLE as the global one, applied on top of the dynamic
//! profile: every covariance is multiplied by `κ = Σₖ zₖᵀ Sₖ⁻¹ zₖ / (N d)` with the full
//! innovation covariances of the dynamic run — the maximum-likelihood scale of the innovations,
//! under which they have unit variance on average. Means and steps do not change. The EK0 does
//! not get it: its covariance does not carry errors along the flow (no Jacobian), which the
//! double-counted variance partly makes up for (measured: with the rescaling its final χ² rises
//! to 10²–10⁴ on oscillatory problems, without it to 1–10³).
//!
//! **Step control.** The local error estimate is `eᵢ = hᵒ σ̂ √(H Q Hᵀ)ᵢᵢ` (the residual is in
//! units of `x⁽ᵒ⁾`; the factor `hᵒ` puts it in units of `x`, as in ProbNumDiffEq.jl), its scaled
//! RMS norm `‖e / (atol + rtol·max(|xᵢ|, |x̃ᵢ|))‖` decides acceptance (`≤ 1`), and the next step
//! is `h · clamp(0.9 · err^{−0.7/(q+1)} · err_prev^{0.4/(q+1)}, 0.2, 10)` — a PI controller
//! (Gustafsson, 1991) for a local error of order `q + 1`. (The standard deviation that one
//! step's process noise leaves in `x` *after* the update, `σ̂ √(Q − Q Hᵀ (H Q Hᵀ)⁻¹ H Q)ₓₓ`, is
//! 10–30× smaller for `q = 2…5`; measured as the step-size criterion it halved the steps at equal
//! tolerance but not at equal error — the EK0's actual local errors are about `hᵒ |z|`, since its
//! update leaves `x' = f(x̂⁻)` at the *predicted* `x` — and on ROBER it let the EK1's first step
//! leave y₂ at −8·10⁻⁴ unnoticed, after which the solve diverged. The residual's standard
//! deviation without the factor `hᵒ`, as probdiffeq uses it, took 9 % more steps at equal final
//! error on the 2-d problems of the benchmarks, EK1 q = 4, 5.)

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1, s};
use pn_core::dense;
use pn_core::{Covariance, Gaussian};
use pn_filter::{FilterPosterior, GaussMarkov, Iwp, SmoothPosterior, SqrtGaussian};
use rand::Rng;

use crate::blockwise::{
    BlockPosterior, BlockState, Kind, Prior1d, Workspace, condition_factor, condition_mean,
    predict_state,
};
use crate::dense_filter::DenseFilter;
use crate::error::{Error, Result};
use crate::function::VectorField;

/// How the vector field is linearised, and which covariance structure the filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Zeroth-order linearisation `H = E₁` (no Jacobian), with the Kronecker covariance
    /// `Σ ⊗ I_d` it implies: cost and memory linear in `d`. Cheap; for non-stiff problems.
    Ek0,
    /// First-order linearisation `H = E₁ − J E₀` with the exact Jacobian and a dense covariance
    /// (cost cubic in `d`): handles stiffness, the most accurate uncertainty.
    Ek1,
    /// First-order linearisation with the diagonal of the Jacobian, `Hⱼ = E₁ − Jⱼⱼ E₀`: a
    /// block-diagonal covariance (one block per coordinate), cost linear in `d`. For large
    /// systems whose stiffness sits on the diagonal (e.g. reaction terms).
    DiagonalEk1,
    /// The EK0 with a dense covariance (cost cubic in `d`). Mathematically equal to
    /// [`Method::Ek0`] with a scalar diffusion; kept for comparison and testing.
    DenseEk0,
}

impl Method {
    fn is_ek0(self) -> bool {
        matches!(self, Method::Ek0 | Method::DenseEk0)
    }
}

/// How the diffusion (the scale of the uncertainty) is set.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Calibration {
    /// Re-estimated on every step (the default): adapts to changing dynamics. For the EK1 and
    /// the diagonal EK1 the dynamic diffusions are rescaled at the end by their global
    /// quasi-maximum-likelihood factor.
    Dynamic,
    /// One quasi-maximum-likelihood value for the whole solve, applied at the end.
    ///
    /// The filter runs with one diffusion for all steps. Where the local diffusions span many
    /// orders of magnitude (close encounters in n-body problems, fast transients) the carried
    /// covariance then dominates the prediction and the update moves the solution by more than
    /// the exact-start error estimate assumes; the filter mean can drift far from the solution
    /// while that estimate stays below 1 (Pleiades: final error 1.7e9 at `rtol = atol = 1e-5`).
    /// With adaptive steps the dense methods (EK1, dense EK0) therefore also check the update's
    /// correction of the extrapolated solution (RMS in units of the tolerances, at most 10),
    /// retry the step smaller, and return [`Error::CalibrationBreakdown`] when this keeps
    /// failing. The block-diagonal methods do not check this yet.
    Global,
    /// A fixed diffusion `σ²` (the same correction check as [`Calibration::Global`]).
    Fixed(f64),
}

/// How the initial derivatives `x'(t₀), …, x^{(q)}(t₀)` are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Init {
    /// Exact Taylor coefficients when the field provides them (vector fields written over dual
    /// numbers), else [`Init::RungeKutta`].
    Auto,
    /// Exact Taylor coefficients (Taylor-mode automatic differentiation); an error if the field
    /// cannot provide them.
    Taylor,
    /// A classical solver: a few small fourth-order Runge–Kutta steps from `x₀`, whose values and
    /// slopes condition the prior, smoothed back to `t₀` (for fields without Taylor
    /// coefficients, e.g. [`Closure`](crate::Closure)).
    RungeKutta,
}

/// Step-size selection.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Steps {
    /// Adaptive steps with an optional first step (else chosen from `f` at the start).
    Adaptive {
        /// The first step to try.
        initial: Option<f64>,
    },
    /// A fixed step `h` (the last step is shortened to land on the end time).
    Fixed(f64),
}

/// Options of [`solve`] and [`OdeFilter`], with documented defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Linearisation (default [`Method::Ek1`]).
    pub method: Method,
    /// The IWP order `q`; `None` (default) chooses by tolerance: 3 for `rtol ≥ 1e-4`, 4 for
    /// `≥ 1e-7`, 5 for `≥ 1e-10`, else 6.
    pub order: Option<usize>,
    /// Relative tolerance (default `1e-6`).
    pub rtol: f64,
    /// Absolute tolerance (default `1e-8`).
    pub atol: f64,
    /// Step selection (default adaptive).
    pub steps: Steps,
    /// Calibration (default [`Calibration::Dynamic`]).
    pub calibration: Calibration,
    /// Maximum number of accepted steps (default 100 000).
    pub max_steps: usize,
    /// Whether to compute the smoothing posterior (default `true`).
    pub smooth: bool,
    /// One diffusion per coordinate instead of one for all (default `false`): for systems whose
    /// components live on different scales. Needs a block-diagonal method ([`Method::Ek0`],
    /// [`Method::DiagonalEk1`]).
    pub per_dimension: bool,
    /// How the derivatives `x', …, x^{(q)}` at `t₀` are initialised (default
    /// [`Init::Auto`]).
    pub init: Init,
    /// Times at which to keep the (filtering) belief, instead of storing every step: memory
    /// independent of the number of steps. `None` (default) stores every step, which gives
    /// smoothing, dense output and trajectory samples.
    pub save_at: Option<Vec<f64>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            method: Method::Ek1,
            order: None,
            rtol: 1e-6,
            atol: 1e-8,
            steps: Steps::Adaptive { initial: None },
            calibration: Calibration::Dynamic,
            max_steps: 100_000,
            smooth: true,
            per_dimension: false,
            init: Init::Auto,
            save_at: None,
        }
    }
}

impl Options {
    /// Set the method.
    pub fn method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }
    /// Set the order `q`.
    pub fn order(mut self, q: usize) -> Self {
        self.order = Some(q);
        self
    }
    /// Set both tolerances.
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        self.rtol = rtol;
        self.atol = atol;
        self
    }
    /// Use fixed steps of size `h`.
    pub fn fixed_step(mut self, h: f64) -> Self {
        self.steps = Steps::Fixed(h);
        self
    }
    /// Set the calibration.
    pub fn calibration(mut self, c: Calibration) -> Self {
        self.calibration = c;
        self
    }
    /// Set the maximum number of steps.
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n;
        self
    }
    /// Whether to smooth.
    pub fn smooth(mut self, yes: bool) -> Self {
        self.smooth = yes;
        self
    }
    /// Set the initialisation.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// One diffusion per coordinate (block-diagonal methods only).
    pub fn per_dimension(mut self, yes: bool) -> Self {
        self.per_dimension = yes;
        self
    }
    /// Keep the belief only at these times (sorted, inside the time span).
    pub fn save_at(mut self, times: impl Into<Vec<f64>>) -> Self {
        self.save_at = Some(times.into());
        self
    }

    /// The order used: the explicit one, or the default for the tolerance.
    pub fn resolved_order(&self) -> usize {
        self.order.unwrap_or(if self.rtol >= 1e-4 {
            3
        } else if self.rtol >= 1e-7 {
            4
        } else if self.rtol >= 1e-10 {
            5
        } else {
            6
        })
    }
}

/// Counts of the work done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected step attempts.
    pub rejected: usize,
    /// Vector-field evaluations.
    pub f_evals: usize,
    /// Jacobian evaluations.
    pub jac_evals: usize,
}

/// What one accepted step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// The time reached.
    pub t: f64,
    /// The step taken.
    pub h: f64,
    /// The scaled local error estimate (`≤ 1` when accepted adaptively).
    pub error: f64,
    /// The local diffusion estimate `σ̂²`.
    pub diffusion: f64,
}

/// The largest correction of the extrapolated solution by an update (RMS, in units of the
/// tolerances) that a step with one diffusion for all steps may make: the exact-start error
/// estimate bounds it near 1 when the carried covariance is negligible; beyond this the step is
/// retried with a smaller one.
const CORRECTION_LIMIT: f64 = 10.0;

/// The step-size controller's safety factor. probdiffeq's 0.95 was measured and not adopted: it
/// takes ≈ 10 % fewer accepted steps at equal final error (EK1, q = 4, 5, Lotka–Volterra,
/// FitzHugh–Nagumo, Van der Pol; log-log fit of steps against error over 25 tolerances,
/// evaluated at 1e-8), but rejects 4–11 % of the steps instead of 0.2–1.4 %, and on a logistic
/// system (q = 3, rtol 1e-7) its step sizes oscillate between accepted and rejected values: a
/// relative rounding difference of 1e-13 grows to 1e-3 within 60 steps.
const SAFETY: f64 = 0.9;

/// Consecutive rejections by the correction check after which a solve with one diffusion
/// gives up with [`Error::CalibrationBreakdown`] (each shrinks the step by at least 0.9, at most
/// 0.2).
const MAX_CORRECTION_REJECTS: usize = 12;

/// The number of accepted steps after which the EK0 checks for stiffness (and again when
/// `max_steps` is reached).
const STIFF_CHECK_AT: usize = 10_000;
/// `ρ(∂f/∂x) · (t₁ − t₀)` above which a problem that needs many EK0 steps is called stiff.
const STIFF_SPAN: f64 = 1e3;

/// The ODE filter as a stepper: [`step`](Self::step) until [`done`](Self::done), then
/// [`finish`](Self::finish). [`solve`] is this loop.
pub struct OdeFilter<'a, F: VectorField> {
    f: &'a F,
    opts: Options,
    q: usize,
    d: usize,
    engine: Engine,
    t: f64,
    t0: f64,
    t_end: f64,
    h: f64,
    err_prev: f64,
    /// Consecutive rejections by the correction check (global or fixed diffusion).
    correction_rejects: usize,
    stats: Stats,
    x: Array1<f64>,
    fx: Array1<f64>,
    save_at: Vec<f64>,
    saved: Vec<(f64, Gaussian)>,
}

/// The state algebra of one method.
// One engine per solve, never moved in a loop: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Dense(DenseEngine),
    Block(BlockEngine),
}

struct DenseEngine {
    prior: Arc<Iwp>,
    ek1: bool,
    filter: DenseFilter,
    /// Every filtered belief with its time, when all steps are stored.
    stored: Option<Vec<(f64, SqrtGaussian)>>,
    /// The diffusion used on each stored step.
    diffusions: Vec<f64>,
    mahalanobis_sum: f64,
    /// The diffusion used on the last accepted step.
    sigma2_used: f64,
    // The attempted step.
    sigma2: f64,
}

struct BlockEngine {
    prior: Prior1d,
    kind: Kind,
    /// The order of the equation (1 or 2).
    order: usize,
    per_dimension: bool,
    state: BlockState,
    stored: Option<Vec<BlockState>>,
    ws: Workspace,
    /// Per block: `Σ r² / S` over steps (global calibration).
    mahalanobis: Vec<f64>,
    // The attempted step.
    p: Vec<f64>,
    mbar: Vec<f64>,
    jdiag: Vec<f64>,
    /// `h̄ⱼ Q̄ h̄ⱼᵀ` per coordinate.
    hqh: Vec<f64>,
    /// Local diffusions `zⱼ² / (h̄ⱼ Q̄ h̄ⱼᵀ)`.
    sigma2: Vec<f64>,
    fx: Vec<f64>,
}

impl<'a, F: VectorField> OdeFilter<'a, F> {
    /// Start at `x(t0) = x0`, to integrate until `t1 > t0`.
    pub fn new(
        f: &'a F,
        t_span: (f64, f64),
        x0: ArrayView1<'_, f64>,
        opts: Options,
    ) -> Result<Self> {
        let (t0, t1) = t_span;
        let d = f.dim();
        check_finite("t0", t0)?;
        check_finite("t1", t1)?;
        if t1 <= t0 {
            return Err(Error::InvalidInput {
                what: "t1",
                value: t1,
                reason: "must be > t0",
            });
        }
        if d == 0 {
            return Err(pn_core::Error::Empty {
                what: "state (d = 0)",
            }
            .into());
        }
        let o = f.order();
        if x0.len() != o * d {
            return Err(pn_core::Error::ShapeMismatch {
                op: "OdeFilter::new (x0; [x0, v0] for a second-order equation)",
                expected: vec![o * d],
                found: vec![x0.len()],
            }
            .into());
        }
        if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
            return Err(pn_core::Error::NonFinite {
                what: "x0",
                index: vec![i],
                value: x0[i],
            }
            .into());
        }
        for (what, v) in [("rtol", opts.rtol), ("atol", opts.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidInput {
                    what,
                    value: v,
                    reason: "must be finite and >= 0",
                });
            }
        }
        if opts.rtol == 0.0 && opts.atol == 0.0 {
            return Err(Error::InvalidInput {
                what: "atol",
                value: 0.0,
                reason: "rtol and atol cannot both be 0",
            });
        }
        if let Calibration::Fixed(s) = opts.calibration
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::InvalidInput {
                what: "diffusion",
                value: s,
                reason: "must be finite and > 0",
            });
        }
        let q = opts.resolved_order();
        if q < o {
            return Err(Error::InvalidInput {
                what: "order",
                value: q as f64,
                reason: "must be at least the order of the equation (the filter observes x', or x'')",
            });
        }
        if opts.per_dimension && matches!(opts.method, Method::Ek1 | Method::DenseEk0) {
            return Err(Error::InvalidInput {
                what: "per_dimension",
                value: 1.0,
                reason: "per-dimension diffusions need a block-diagonal method (ek0, diagonal-ek1)",
            });
        }
        let save_at = match &opts.save_at {
            None => Vec::new(),
            Some(ts) => {
                let mut prev = t0;
                for &s in ts {
                    if !(s.is_finite() && s >= prev && s <= t1) {
                        return Err(Error::InvalidInput {
                            what: "save_at",
                            value: s,
                            reason: "save_at times must be finite, sorted and inside the time span",
                        });
                    }
                    prev = s;
                }
                ts.clone()
            }
        };
        let storing = opts.save_at.is_none();
        let mut stats = Stats::default();
        let (init_mean, init_scale) =
            initial_mean(f, t0, x0, q, opts.init, opts.rtol, opts.atol, &mut stats)?;
        let h = match opts.steps {
            Steps::Fixed(h) => {
                if !(h.is_finite() && h > 0.0) {
                    return Err(Error::InvalidInput {
                        what: "h",
                        value: h,
                        reason: "must be finite and > 0",
                    });
                }
                h
            }
            Steps::Adaptive { initial: Some(h) } => {
                if !(h.is_finite() && h > 0.0) {
                    return Err(Error::InvalidInput {
                        what: "initial step",
                        value: h,
                        reason: "must be finite and > 0",
                    });
                }
                h
            }
            Steps::Adaptive { initial: None } => {
                let f0 = init_mean.slice(s![d..2 * d]).to_owned();
                initial_step(x0, f0.view(), opts.rtol, opts.atol, q)
            }
        };
        let n = (q + 1) * d;
        let engine = match opts.method {
            Method::Ek1 | Method::DenseEk0 => {
                let prior = Arc::new(Iwp::new(q, d)?);
                let mut chol = vec![0.0; n * n];
                if let Some(scale) = init_scale {
                    for i in (o + 1) * d..n {
                        chol[i * n + i] = scale;
                    }
                }
                let ek1 = opts.method == Method::Ek1;
                let filter = DenseFilter::new(q, d, o, ek1, init_mean.to_vec(), chol)?;
                let stored = storing.then(|| vec![(t0, filter.belief())]);
                Engine::Dense(DenseEngine {
                    prior,
                    ek1,
                    filter,
                    stored,
                    diffusions: Vec::new(),
                    mahalanobis_sum: 0.0,
                    sigma2_used: 1.0,
                    sigma2: 0.0,
                })
            }
            Method::Ek0 | Method::DiagonalEk1 => {
                let kind = if opts.method == Method::Ek0 {
                    Kind::Ek0
                } else {
                    Kind::DiagonalEk1
                };
                let blocks = if kind == Kind::Ek0 && !opts.per_dimension {
                    1
                } else {
                    d
                };
                let m = q + 1;
                let mut chol = vec![0.0; blocks * m * m];
                if let Some(scale) = init_scale {
                    for b in 0..blocks {
                        for k in o + 1..m {
                            chol[b * m * m + k * m + k] = scale;
                        }
                    }
                }
                let state = BlockState {
                    t: t0,
                    mean: init_mean.to_vec(),
                    chol,
                    diffusion: vec![1.0; blocks],
                };
                Engine::Block(BlockEngine {
                    prior: Prior1d::new(q)?,
                    kind,
                    order: o,
                    per_dimension: opts.per_dimension,
                    stored: storing.then(|| vec![state.clone()]),
                    state,
                    ws: Workspace::default(),
                    mahalanobis: vec![0.0; blocks],
                    p: vec![0.0; m],
                    mbar: vec![0.0; n],
                    jdiag: vec![0.0; o * d],
                    hqh: vec![0.0; d],
                    sigma2: vec![0.0; d],
                    fx: vec![0.0; d],
                })
            }
        };
        let mut filter = Self {
            f,
            opts,
            q,
            d,
            engine,
            t: t0,
            t0,
            t_end: t1,
            h: h.min(t1 - t0),
            err_prev: 1.0,
            correction_rejects: 0,
            stats,
            x: Array1::zeros(o * d),
            fx: Array1::zeros(d),
            save_at,
            saved: Vec::new(),
        };
        filter.save_between(t0, None)?;
        Ok(filter)
    }

    /// The current time.
    pub fn time(&self) -> f64 {
        self.t
    }

    /// Whether the end time has been reached.
    pub fn done(&self) -> bool {
        self.t >= self.t_end
    }

    /// The current filtering belief over `x(t)`.
    pub fn state(&self) -> Result<Gaussian> {
        match &self.engine {
            Engine::Dense(e) => project(&e.current(), self.d),
            Engine::Block(e) => block_x_belief(&e.state, self.d, self.q + 1),
        }
    }

    /// The work done so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Take one accepted step (retrying with smaller steps as needed).
    pub fn step(&mut self) -> Result<StepInfo> {
        let adaptive = matches!(self.opts.steps, Steps::Adaptive { .. });
        loop {
            let t = self.t;
            if self.stats.steps >= self.opts.max_steps {
                if self.opts.method.is_ek0() && self.stats.steps > 0 && self.f.order() == 1 {
                    self.check_stiffness(t, self.h)?;
                }
                return Err(Error::MaxSteps {
                    t,
                    steps: self.stats.steps,
                    hint: if self.opts.method.is_ek0() {
                        " (if the problem is stiff, use the EK1)"
                    } else {
                        ""
                    },
                });
            }
            let remaining = self.t_end - t;
            let mut h = self.h.min(remaining);
            // Land on the end time instead of leaving a sliver of a step (a step of ~1e-15 would
            // make the preconditioner h^{q+1/2} underflow towards 0).
            if remaining - h <= 1e-8 * h {
                h = remaining;
            }
            if h <= 16.0 * f64::EPSILON * t.abs().max(1.0) {
                return Err(Error::StepSizeUnderflow { t, h });
            }
            let t_new = t + h;
            let (err, sigma2) = match &mut self.engine {
                Engine::Dense(e) => e.attempt(
                    self.f,
                    &self.opts,
                    t_new,
                    h,
                    &mut self.x,
                    &mut self.fx,
                    &mut self.stats,
                )?,
                Engine::Block(e) => e.attempt(
                    self.f,
                    &self.opts,
                    t_new,
                    h,
                    &mut self.x,
                    &mut self.fx,
                    &mut self.stats,
                )?,
            };
            let k = (self.q + 1) as f64;
            if !err.is_finite() {
                // f and the Jacobian are finite here (checked), so the error estimate overflowed
                // or `H Q Hᵀ` lost definiteness in floating point: the step is far too large
                // (ROBER's first trial step at rtol 1e-8). Retry smaller; the step-size
                // underflow check ends a hopeless retry loop with a clear error.
                if adaptive {
                    self.stats.rejected += 1;
                    self.h = h * 0.2;
                    continue;
                }
                return Err(Error::NonFiniteField {
                    t: t_new,
                    component: 0,
                });
            }
            if adaptive && err > 1.0 {
                self.stats.rejected += 1;
                self.h = h * (SAFETY * err.powf(-1.0 / k)).clamp(0.2, 1.0);
                continue;
            }
            // Accept.
            if self.opts.method.is_ek0()
                && self.stats.steps + 1 == STIFF_CHECK_AT
                && self.f.order() == 1
            {
                self.check_stiffness(t_new, h)?;
            }
            // Keep the state before the step only if a save_at time falls inside it.
            let inside = self
                .save_at
                .get(self.saved.len())
                .is_some_and(|&s| s < t_new);
            let prev = match &self.engine {
                Engine::Dense(e) if inside => Some(Prev::Dense(e.current())),
                Engine::Block(e) if inside => Some(Prev::Block(e.state.clone())),
                _ => None,
            };
            let calibration = self.opts.calibration;
            match &mut self.engine {
                Engine::Dense(e) => {
                    // With a diffusion not matched to the step (global or fixed), the carried
                    // covariance can dominate the prediction, and the update then moves the
                    // solution by more than the exact-start error estimate assumes: check the
                    // actual correction and retry with a smaller step (see `Calibration::Global`).
                    let check = adaptive && calibration != Calibration::Dynamic;
                    let xcorr = e.accept(t_new, calibration, check.then_some(&self.opts));
                    if let Some(c) = xcorr
                        && c > CORRECTION_LIMIT
                    {
                        self.stats.rejected += 1;
                        self.correction_rejects += 1;
                        if self.correction_rejects >= MAX_CORRECTION_REJECTS {
                            return Err(Error::CalibrationBreakdown { t, correction: c });
                        }
                        self.h = h * (0.9 * (c / CORRECTION_LIMIT).powf(-1.0 / k)).clamp(0.2, 0.9);
                        continue;
                    }
                }
                Engine::Block(e) => e.accept(t_new, calibration),
            }
            self.correction_rejects = 0;
            self.save_between(t_new, prev.map(|p| (t, p)))?;
            self.t = t_new;
            self.stats.steps += 1;
            if adaptive {
                let e = err.max(1e-10);
                let factor = SAFETY * e.powf(-0.7 / k) * self.err_prev.powf(0.4 / k);
                self.h = h * factor.clamp(0.2, 10.0);
                self.err_prev = e;
            } else if let Steps::Fixed(hf) = self.opts.steps {
                self.h = hf;
            }
            return Ok(StepInfo {
                t: t_new,
                h,
                error: err,
                diffusion: sigma2,
            });
        }
    }

    /// Record the beliefs at the `save_at` times in `(t_prev, t_new]` (filtering beliefs: the
    /// prediction from the previous step, or the updated belief at `t_new` itself).
    fn save_between(&mut self, t_new: f64, prev: Option<(f64, Prev)>) -> Result<()> {
        let d = self.d;
        while let Some(&s) = self.save_at.get(self.saved.len()) {
            if s > t_new {
                break;
            }
            let belief = match &prev {
                Some((tp, p)) if s < t_new => match (p, &self.engine) {
                    (Prev::Dense(st), Engine::Dense(e)) => {
                        let diffusion = e.last_diffusion();
                        let tr = e.prior.transition(s - tp)?.scaled(diffusion);
                        project(&pn_filter::kalman::predict(st, &tr)?, d)?
                    }
                    (Prev::Block(st), Engine::Block(e)) => {
                        let mut ws = Workspace::default();
                        let mid =
                            predict_state(&e.prior, st, d, s - tp, &e.state.diffusion, &mut ws);
                        block_x_belief(&mid, d, self.q + 1)?
                    }
                    _ => unreachable!("the engine does not change"),
                },
                _ => self.state()?,
            };
            self.saved.push((s, belief));
        }
        Ok(())
    }

    /// Stiffness diagnosis for the EK0 after [`STIFF_CHECK_AT`] steps and when the step budget
    /// runs out: the spectral radius `ρ` of `∂f/∂x` at the last predicted state by power
    /// iteration on directional derivatives (finite differences of `f` — a diagnostic, not part
    /// of the solution). The EK0's steps are stability-limited at `h ρ ≈ 0.1–0.2` (measured on
    /// HIRES and ROBER), where accuracy-limited steps on non-stiff problems sit too at loose
    /// tolerances; what separates the two is `ρ (t₁ − t₀)`, the number of stability-limited
    /// steps the span needs. [`Error::Stiff`] when it exceeds [`STIFF_SPAN`].
    fn check_stiffness(&mut self, t: f64, h: f64) -> Result<()> {
        let d = self.d;
        let x = self.x.as_slice().expect("contiguous");
        let f0 = self.fx.as_slice().expect("contiguous");
        let xnorm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        // A fixed, deterministic start vector with all components.
        let mut v: Vec<f64> = (0..d)
            .map(|i| 1.0 + 0.618 * ((i * 7 + 3) % 11) as f64)
            .collect();
        let mut rho = 0.0;
        let mut xe = vec![0.0; d];
        let mut fe = vec![0.0; d];
        for _ in 0..8 {
            let vn = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if !(vn > 0.0 && vn.is_finite()) {
                return Ok(());
            }
            let eps = f64::EPSILON.sqrt() * (1.0 + xnorm);
            for i in 0..d {
                xe[i] = x[i] + eps * v[i] / vn;
            }
            self.f.f(t, &xe, &mut fe);
            self.stats.f_evals += 1;
            for i in 0..d {
                v[i] = (fe[i] - f0[i]) / eps;
            }
            rho = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        }
        if rho.is_finite() && rho * (self.t_end - self.t0) > STIFF_SPAN {
            return Err(Error::Stiff {
                t,
                stiffness: h * rho,
                span: rho * (self.t_end - self.t0),
            });
        }
        Ok(())
    }

    /// Finish: apply the global calibration if chosen, smooth if asked, and return the
    /// solution.
    pub fn finish(self) -> Result<OdeSolution> {
        let steps = self.stats.steps;
        let d = self.d;
        // Dynamic calibration of the first-order linearisations ends with the global
        // quasi-MLE rescaling of the dynamic diffusions (module documentation).
        let rescale_dynamic = self.opts.calibration == Calibration::Dynamic
            && matches!(self.opts.method, Method::Ek1 | Method::DiagonalEk1);
        let global = (self.opts.calibration == Calibration::Global || rescale_dynamic) && steps > 0;
        let mut global_diffusion = None;
        let belief = match self.engine {
            Engine::Dense(e) => {
                let s2 = (e.mahalanobis_sum / (steps * d) as f64).max(f64::MIN_POSITIVE);
                if global {
                    global_diffusion = Some(vec![s2]);
                }
                match e.stored {
                    Some(stored) => {
                        let (times, filtered): (Vec<f64>, Vec<SqrtGaussian>) =
                            stored.into_iter().unzip();
                        let mut post = FilterPosterior::from_filtered(
                            e.prior.clone(),
                            times,
                            filtered,
                            e.diffusions,
                            f64::NAN,
                        )?;
                        if global {
                            post.calibrate(s2)?;
                        }
                        let smoothed = if self.opts.smooth {
                            Some(post.smooth()?)
                        } else {
                            None
                        };
                        Belief::Dense { post, smoothed }
                    }
                    None => Belief::Saved(rescale_saved(self.saved, &[s2], global)?),
                }
            }
            Engine::Block(e) => {
                let blocks = e.mahalanobis.len();
                let scale: Vec<f64> = if blocks == 1 {
                    vec![(e.mahalanobis[0] / (steps * d) as f64).max(f64::MIN_POSITIVE)]
                } else {
                    e.mahalanobis
                        .iter()
                        .map(|m| (m / steps as f64).max(f64::MIN_POSITIVE))
                        .collect()
                };
                // Global calibration with one diffusion for all blocks (diagonal EK1 without
                // per-dimension diffusions): pool the blocks.
                let scale = if blocks > 1 && !e.per_dimension {
                    let pooled = e.mahalanobis.iter().sum::<f64>() / (steps * d) as f64;
                    vec![pooled.max(f64::MIN_POSITIVE); blocks]
                } else {
                    scale
                };
                if global {
                    global_diffusion = Some(scale.clone());
                }
                match e.stored {
                    Some(filtered) => {
                        let mut post = BlockPosterior {
                            prior: e.prior,
                            d,
                            filtered,
                            smoothed: None,
                        };
                        if global {
                            post.calibrate(&scale);
                        }
                        if self.opts.smooth {
                            post.smooth();
                        }
                        Belief::Block(post)
                    }
                    None => Belief::Saved(rescale_saved(self.saved, &scale, global)?),
                }
            }
        };
        Ok(OdeSolution {
            d,
            q: self.q,
            method: self.opts.method,
            belief,
            stats: self.stats,
            global_diffusion,
        })
    }
}

/// The state before an accepted step (to interpolate `save_at` times inside it).
enum Prev {
    Dense(SqrtGaussian),
    Block(BlockState),
}

/// Apply a global calibration to the saved beliefs (one scale, or one per coordinate).
fn rescale_saved(
    saved: Vec<(f64, Gaussian)>,
    scale: &[f64],
    global: bool,
) -> Result<Vec<(f64, Gaussian)>> {
    if !global {
        return Ok(saved);
    }
    saved
        .into_iter()
        .map(|(t, g)| {
            let d = g.dim();
            let s = Array1::from_shape_fn(d, |j| scale[j.min(scale.len() - 1)].sqrt());
            let cov = g.cov_dense();
            let scaled = Array2::from_shape_fn((d, d), |(i, j)| cov[[i, j]] * s[i] * s[j]);
            Ok((
                t,
                Gaussian::new(g.mean().to_owned(), Covariance::dense(scaled)?)?,
            ))
        })
        .collect()
}

/// `fx = f(t, x)`, counted, and an error naming `t` if it is not finite.
fn evaluate<F: VectorField>(
    f: &F,
    t: f64,
    x: &Array1<f64>,
    fx: &mut Array1<f64>,
    stats: &mut Stats,
) -> Result<()> {
    f.f(
        t,
        x.as_slice().expect("contiguous"),
        fx.as_slice_mut().expect("contiguous"),
    );
    stats.f_evals += 1;
    match fx.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::NonFiniteField { t, component: i }),
        None => Ok(()),
    }
}

impl DenseEngine {
    fn current(&self) -> SqrtGaussian {
        self.filter.belief()
    }

    fn last_diffusion(&self) -> f64 {
        self.sigma2_used
    }

    /// Predict the mean, evaluate the field, and return the scaled error estimate and `σ̂²`.
    #[allow(clippy::too_many_arguments)]
    fn attempt<F: VectorField>(
        &mut self,
        f: &F,
        opts: &Options,
        t_new: f64,
        h: f64,
        x: &mut Array1<f64>,
        fx: &mut Array1<f64>,
        stats: &mut Stats,
    ) -> Result<(f64, f64)> {
        let d = fx.len();
        let o = x.len() / d;
        self.filter
            .predict_mean(h, x.as_slice_mut().expect("contiguous"));
        evaluate(f, t_new, x, fx, stats)?;
        if self.ek1 {
            let jac = self.filter.jac_mut();
            f.jacobian(t_new, x.as_slice().expect("contiguous"), jac);
            stats.jac_evals += 1;
            if let Some(i) = jac.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFiniteField {
                    t: t_new,
                    component: i / d,
                });
            }
        }
        let att = self.filter.measure(fx.as_slice().expect("contiguous"));
        let x_prev = &self.filter.mean[..d];
        let sigma = att.sigma2.sqrt();
        let mut acc = 0.0;
        for i in 0..d {
            let sc = opts.atol + opts.rtol * x_prev[i].abs().max(x[i].abs());
            // The residual lives in units of x' (x''); hᵒ · (its std) is the local error in x.
            let e = h.powi(o as i32) * sigma * self.filter.sd()[i] / sc;
            acc += e * e;
        }
        let err = (acc / d as f64).sqrt();
        self.sigma2 = att.sigma2;
        Ok((err, att.sigma2))
    }

    /// Accept the attempted step. With `check`, first measure the update's correction of the
    /// extrapolated `x, …, x^{(o−1)}` in units of the tolerances (RMS, like the error
    /// estimate); when it exceeds [`CORRECTION_LIMIT`] the step is undone and the measure returned.
    fn accept(
        &mut self,
        t_new: f64,
        calibration: Calibration,
        check: Option<&Options>,
    ) -> Option<f64> {
        let diffusion = match calibration {
            Calibration::Dynamic => self.sigma2.max(f64::MIN_POSITIVE),
            Calibration::Global => 1.0,
            Calibration::Fixed(s) => s,
        };
        let backup = check.map(|_| (self.filter.mean.clone(), self.filter.chol.clone()));
        let maha = self.filter.accept(diffusion);
        if let (Some(opts), Some((mean, chol))) = (check, backup) {
            let xc = &self.filter.x_correction;
            let mut acc = 0.0;
            for (i, c) in xc.iter().enumerate() {
                let sc = opts.atol + opts.rtol * mean[i].abs().max(self.filter.mean[i].abs());
                acc += (c / sc).powi(2);
            }
            let xcorr = (acc / xc.len() as f64).sqrt();
            if xcorr.is_nan() || xcorr > CORRECTION_LIMIT {
                self.filter.mean = mean;
                self.filter.chol = chol;
                return Some(if xcorr.is_nan() { f64::INFINITY } else { xcorr });
            }
        }
        self.sigma2_used = diffusion;
        self.mahalanobis_sum += maha;
        if let Some(stored) = &mut self.stored {
            stored.push((t_new, self.filter.belief()));
            self.diffusions.push(diffusion);
        }
        None
    }
}

impl BlockEngine {
    /// Predict the mean, evaluate the field (and the Jacobian's diagonal), and return the scaled
    /// error estimate and the mean local diffusion `σ̂²`.
    #[allow(clippy::too_many_arguments)]
    fn attempt<F: VectorField>(
        &mut self,
        f: &F,
        opts: &Options,
        t_new: f64,
        h: f64,
        x: &mut Array1<f64>,
        fx: &mut Array1<f64>,
        stats: &mut Stats,
    ) -> Result<(f64, f64)> {
        let d = fx.len();
        let o = self.order;
        let n = self.prior.n;
        self.prior.precond(h, &mut self.p);
        let p = &self.p;
        let a = self.prior.a();
        let m = &self.state.mean;
        for i in 0..n {
            for j in 0..d {
                let mut v = 0.0;
                for l in i..n {
                    v += a[i * n + l] * m[l * d + j] / p[l];
                }
                self.mbar[i * d + j] = v;
            }
        }
        for k in 0..o {
            for j in 0..d {
                x[k * d + j] = self.mbar[k * d + j] * p[k];
            }
        }
        evaluate(f, t_new, x, fx, stats)?;
        self.fx.clear();
        self.fx.extend(fx.iter());
        if self.kind == Kind::DiagonalEk1 {
            f.jacobian_diagonal(t_new, x.as_slice().expect("contiguous"), &mut self.jdiag);
            stats.jac_evals += 1;
            if let Some(i) = self.jdiag.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFiniteField {
                    t: t_new,
                    component: i,
                });
            }
        }
        let mut hb = vec![0.0; n];
        let mut mean_sigma2 = 0.0;
        for j in 0..d {
            self.hb(j, &mut hb);
            let s = self.prior.hqh(&hb);
            let z = self.mbar[o * d + j] * p[o] - fx[j];
            self.sigma2[j] = z * z / s;
            mean_sigma2 += self.sigma2[j] / d as f64;
            self.hqh[j] = s;
        }
        let x_prev = &self.state.mean[..d];
        let mut acc = 0.0;
        for j in 0..d {
            let sc = opts.atol + opts.rtol * x_prev[j].abs().max(x[j].abs());
            let s2 = if self.per_dimension {
                self.sigma2[j]
            } else {
                mean_sigma2
            };
            let e = h.powi(o as i32) * (s2 * self.hqh[j]).sqrt() / sc;
            acc += e * e;
        }
        Ok(((acc / d as f64).sqrt(), mean_sigma2))
    }

    /// The observation row of coordinate `j` in preconditioned coordinates.
    fn hb(&self, j: usize, hb: &mut [f64]) {
        let (o, d) = (self.order, self.fx.len());
        hb.fill(0.0);
        hb[o] = self.p[o];
        if self.kind == Kind::DiagonalEk1 {
            for k in 0..o {
                hb[k] = -self.jdiag[k * d + j] * self.p[k];
            }
        }
    }

    fn accept(&mut self, t_new: f64, calibration: Calibration) {
        let d = self.fx.len();
        let o = self.order;
        let n = self.prior.n;
        let blocks = self.mahalanobis.len();
        let diffusion: Vec<f64> = (0..blocks)
            .map(|b| match calibration {
                Calibration::Dynamic if self.per_dimension => self.sigma2[b],
                Calibration::Dynamic => self.sigma2.iter().sum::<f64>() / d as f64,
                Calibration::Global => 1.0,
                Calibration::Fixed(s) => s,
            })
            .map(|v| v.max(f64::MIN_POSITIVE))
            .collect();
        let p = self.p.clone();
        let mut chol = vec![0.0; blocks * n * n];
        for b in 0..blocks {
            self.prior.predict_block(
                &p,
                &self.state.chol[b * n * n..(b + 1) * n * n],
                diffusion[b].sqrt(),
                &mut self.ws,
                &mut chol[b * n * n..(b + 1) * n * n],
            );
        }
        let mut hb = vec![0.0; n];
        let mut mb = vec![0.0; n];
        let mut gain = None;
        for j in 0..d {
            let b = if blocks == 1 { 0 } else { j };
            self.hb(j, &mut hb);
            if blocks > 1 || j == 0 {
                gain = Some(condition_factor(&hb, &mut chol[b * n * n..(b + 1) * n * n]));
            }
            let g = gain.as_ref().expect("set for j = 0");
            for i in 0..n {
                mb[i] = self.mbar[i * d + j];
            }
            // y = f(x̂) − Σₖ (∂f/∂x⁽ᵏ⁾)ⱼⱼ x̂ⱼ⁽ᵏ⁾ (diagonal EK1) or f(x̂) (EK0), with
            // x̂⁽ᵏ⁾ⱼ = m̄⁻ₖ pₖ, k below the order of the equation.
            let mut y = self.fx[j];
            if self.kind == Kind::DiagonalEk1 {
                for k in 0..o {
                    y -= self.jdiag[k * d + j] * mb[k] * p[k];
                }
            }
            let r = condition_mean(&hb, y, &mut mb, g);
            if g.s > 0.0 {
                self.mahalanobis[b] += r * r / g.s;
            }
            for i in 0..n {
                self.state.mean[i * d + j] = mb[i] * p[i];
            }
        }
        for b in 0..blocks {
            let lb = &mut chol[b * n * n..(b + 1) * n * n];
            for i in 0..n {
                for c in 0..n {
                    lb[i * n + c] *= p[i];
                }
            }
        }
        self.state.chol = chol;
        self.state.t = t_new;
        self.state.diffusion = diffusion;
        if let Some(stored) = &mut self.stored {
            stored.push(self.state.clone());
        }
    }
}

fn check_finite(what: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what,
            value: v,
            reason: "must be finite",
        })
    }
}

/// The initial mean `(x₀, x₀', …, x₀^{(q)})` (derivative-major) and, when the higher derivatives
/// are not known exactly, the standard deviation to give derivatives `2…q`: exact Taylor
/// coefficients when the field provides them (zero covariance); otherwise `x₀` and `f(t₀, x₀)`
/// exactly and the higher derivatives unknown with a standard deviation scaled to the problem.
#[allow(clippy::too_many_arguments)]
fn initial_mean<F: VectorField>(
    f: &F,
    t0: f64,
    x0: ArrayView1<'_, f64>,
    q: usize,
    init: Init,
    rtol: f64,
    atol: f64,
    stats: &mut Stats,
) -> Result<(Array1<f64>, Option<f64>)> {
    let d = f.dim();
    let o = f.order();
    let n = (q + 1) * d;
    let mut mean = Array1::zeros(n);
    let taylor = match init {
        Init::RungeKutta => None,
        _ => f.taylor(t0, x0, q),
    };
    if taylor.is_none() && init == Init::Taylor {
        return Err(Error::InvalidInput {
            what: "init",
            value: q as f64,
            reason: "this vector field provides no Taylor coefficients (use Init::RungeKutta)",
        });
    }
    if taylor.is_none() && o == 1 && q >= 2 {
        return runge_kutta_init(f, t0, x0, q, rtol, atol, stats);
    }
    if let Some(coeffs) = taylor {
        stats.f_evals += q;
        for (k, c) in coeffs.iter().enumerate() {
            if let Some(i) = c.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFiniteField {
                    t: t0,
                    component: i,
                });
            }
            mean.slice_mut(s![k * d..(k + 1) * d]).assign(c);
        }
        return Ok((mean, None));
    }
    let mut fx = vec![0.0; d];
    f.f(t0, x0.as_slice().unwrap_or(&x0.to_vec()), &mut fx);
    stats.f_evals += 1;
    if let Some(i) = fx.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteField {
            t: t0,
            component: i,
        });
    }
    // x₀ (and v₀) and f exactly; the higher derivatives unknown.
    mean.slice_mut(s![..o * d]).assign(&x0);
    mean.slice_mut(s![o * d..(o + 1) * d])
        .assign(&Array1::from(fx.clone()));
    let scale = fx.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    Ok((mean, Some(scale)))
}

/// Initial derivatives from a classical solver: `q` steps of RK4 with a step `h` small enough
/// for its error (`O(h⁵)`) to sit far below the tolerance, then the IWP(q) prior conditioned on
/// the values and slopes `(x(tᵢ), f(tᵢ, x(tᵢ)))` at these `q + 1` points (a tiny observation
/// noise keeps it well posed) and smoothed back to `t₀`. Its mean is the initial mean; the
/// derivatives keep the spread the smoother leaves them.
fn runge_kutta_init<F: VectorField>(
    f: &F,
    t0: f64,
    x0: ArrayView1<'_, f64>,
    q: usize,
    rtol: f64,
    atol: f64,
    stats: &mut Stats,
) -> Result<(Array1<f64>, Option<f64>)> {
    let d = f.dim();
    let mut fx = vec![0.0; d];
    let x0v = x0.to_vec();
    f.f(t0, &x0v, &mut fx);
    stats.f_evals += 1;
    if let Some(i) = fx.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteField {
            t: t0,
            component: i,
        });
    }
    let h = 0.05 * initial_step(x0, ArrayView1::from(&fx), rtol, atol, 1);
    let mut xs = vec![x0v];
    let mut fs = vec![fx];
    let (mut k1, mut k2, mut k3, mut k4) = (vec![0.0; d], vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let mut tmp = vec![0.0; d];
    for i in 0..q {
        let t = t0 + i as f64 * h;
        let x = xs[i].clone();
        k1.copy_from_slice(&fs[i]);
        for j in 0..d {
            tmp[j] = x[j] + 0.5 * h * k1[j];
        }
        f.f(t + 0.5 * h, &tmp, &mut k2);
        for j in 0..d {
            tmp[j] = x[j] + 0.5 * h * k2[j];
        }
        f.f(t + 0.5 * h, &tmp, &mut k3);
        for j in 0..d {
            tmp[j] = x[j] + h * k3[j];
        }
        f.f(t + h, &tmp, &mut k4);
        let xn: Vec<f64> = (0..d)
            .map(|j| x[j] + h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]))
            .collect();
        let mut fxn = vec![0.0; d];
        f.f(t + h, &xn, &mut fxn);
        stats.f_evals += 4;
        if let Some(c) = xn.iter().chain(&fxn).position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteField {
                t: t + h,
                component: c % d,
            });
        }
        xs.push(xn);
        fs.push(fxn);
    }
    // Condition IWP(q) on (x, x') at the RK points and smooth back to t₀.
    let prior = Arc::new(Iwp::new(q, d)?);
    let n = (q + 1) * d;
    let scale = fs[0]
        .iter()
        .chain(&xs[0])
        .fold(1.0f64, |m, v| m.max(v.abs()));
    let mut chol = Array2::eye(n) * scale;
    for i in 0..d {
        chol[[i, i]] = 0.0;
        chol[[d + i, d + i]] = 0.0;
    }
    let mut m0 = Array1::zeros(n);
    m0.slice_mut(s![..d]).assign(&ArrayView1::from(&xs[0]));
    m0.slice_mut(s![d..2 * d]).assign(&ArrayView1::from(&fs[0]));
    let mut hm = Array2::zeros((2 * d, n));
    for i in 0..2 * d {
        hm[[i, i]] = 1.0;
    }
    let noise = Covariance::diagonal(Array1::from_elem(2 * d, (1e-3 * atol.max(1e-300)).powi(2)))?;
    let mut times = Vec::with_capacity(q + 1);
    let mut obs = Vec::with_capacity(q + 1);
    for i in 0..=q {
        times.push(t0 + i as f64 * h);
        if i == 0 {
            obs.push(None);
            continue;
        }
        let mut y = Array1::zeros(2 * d);
        y.slice_mut(s![..d]).assign(&ArrayView1::from(&xs[i]));
        y.slice_mut(s![d..]).assign(&ArrayView1::from(&fs[i]));
        obs.push(Some(pn_filter::Observation::new(hm.clone(), &noise, y)?));
    }
    let post = pn_filter::filter(prior, SqrtGaussian::new(m0, chol)?, &times, &obs)?;
    let smoothed = post.smooth()?;
    let first = &smoothed.marginals()[0];
    // What the data leave open about the higher derivatives becomes their initial spread.
    let spread = (2 * d..n)
        .map(|i| first.chol.row(i).dot(&first.chol.row(i)).sqrt())
        .fold(0.0f64, f64::max);
    Ok((first.mean.clone(), (spread > 0.0).then_some(spread)))
}

/// Hairer's first step guess, scaled for a method of order `q`.
fn initial_step(
    x0: ArrayView1<'_, f64>,
    f0: ArrayView1<'_, f64>,
    rtol: f64,
    atol: f64,
    q: usize,
) -> f64 {
    let sc: Array1<f64> = x0.mapv(|v| atol + rtol * v.abs());
    let rms = |v: ArrayView1<'_, f64>| {
        (v.iter()
            .zip(sc.iter())
            .map(|(v, s)| (v / s).powi(2))
            .sum::<f64>()
            / v.len() as f64)
            .sqrt()
    };
    let (d0, d1) = (rms(x0), rms(f0));
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    // A high-order filter can take larger first steps than a first-order guess suggests.
    h0 * (q as f64).max(1.0).sqrt()
}

/// The belief over `x` in a dense state (its first `d` coordinates).
fn project(b: &SqrtGaussian, d: usize) -> Result<Gaussian> {
    let rows = b.chol.slice(s![..d, ..]).to_owned();
    let l = dense::cholesky_of_sum(&[rows.view()])?;
    Ok(Gaussian::new(
        b.mean.slice(s![..d]).to_owned(),
        Covariance::cholesky_factor(l)?,
    )?)
}

/// The belief over `x` in a block state: independent coordinates.
fn block_x_belief(st: &BlockState, d: usize, n: usize) -> Result<Gaussian> {
    let mean = Array1::from_iter(st.mean[..d].iter().copied());
    let var = Array1::from_iter((0..d).map(|j| st.var(0, j, n)));
    Ok(Gaussian::new(mean, Covariance::diagonal(var)?)?)
}

/// What an [`OdeSolution`] holds.
enum Belief {
    /// Every step, dense covariances.
    Dense {
        post: FilterPosterior,
        smoothed: Option<SmoothPosterior>,
    },
    /// Every step, block-diagonal covariances.
    Block(BlockPosterior),
    /// Only the `save_at` times (filtering beliefs over `x`).
    Saved(Vec<(f64, Gaussian)>),
}

/// The result of an ODE solve: a Gauss–Markov posterior over the whole trajectory (or, with
/// `save_at`, the beliefs at the requested times).
pub struct OdeSolution {
    d: usize,
    q: usize,
    method: Method,
    belief: Belief,
    stats: Stats,
    global_diffusion: Option<Vec<f64>>,
}

impl OdeSolution {
    /// The times of the beliefs: every step (including `t₀` and `t₁`), or the `save_at` times.
    pub fn times(&self) -> Vec<f64> {
        match &self.belief {
            Belief::Dense { post, .. } => post.times().to_vec(),
            Belief::Block(b) => b.filtered.iter().map(|s| s.t).collect(),
            Belief::Saved(s) => s.iter().map(|(t, _)| *t).collect(),
        }
    }

    /// The method used.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The IWP order used.
    pub fn order(&self) -> usize {
        self.q
    }

    /// Work counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The global diffusion estimate(s): with [`Calibration::Global`] the diffusion, with
    /// [`Calibration::Dynamic`] of the EK1 and the diagonal EK1 the final rescaling factor `κ`
    /// of the dynamic diffusions (docs/ode.md, "Calibration"); one value, or one per
    /// coordinate with per-dimension diffusions. `None` otherwise.
    pub fn global_diffusion(&self) -> Option<&[f64]> {
        self.global_diffusion.as_deref()
    }

    /// The dense filtering posterior over the full state (EK1 and dense EK0, all steps stored).
    pub fn filter_posterior(&self) -> Option<&FilterPosterior> {
        match &self.belief {
            Belief::Dense { post, .. } => Some(post),
            _ => None,
        }
    }

    /// The dense smoothing posterior, if it was computed.
    pub fn smooth_posterior(&self) -> Option<&SmoothPosterior> {
        match &self.belief {
            Belief::Dense { smoothed, .. } => smoothed.as_ref(),
            _ => None,
        }
    }

    /// Means of `x` at [`times`](Self::times) (`len × d`; smoothed if available, else filtered).
    pub fn mean(&self) -> Array2<f64> {
        let d = self.d;
        match &self.belief {
            Belief::Dense { post, smoothed } => {
                let m = dense_marginals(post, smoothed.as_ref());
                Array2::from_shape_fn((m.len(), d), |(k, i)| m[k].mean[i])
            }
            Belief::Block(b) => b.mean_x(),
            Belief::Saved(s) => Array2::from_shape_fn((s.len(), d), |(k, i)| s[k].1.mean()[i]),
        }
    }

    /// Standard deviations of `x` at [`times`](Self::times) (`len × d`).
    pub fn std(&self) -> Array2<f64> {
        let d = self.d;
        match &self.belief {
            Belief::Dense { post, smoothed } => {
                let m = dense_marginals(post, smoothed.as_ref());
                let mut out = Array2::zeros((m.len(), d));
                for (k, b) in m.iter().enumerate() {
                    for i in 0..d {
                        let r = b.chol.row(i);
                        out[[k, i]] = r.dot(&r).sqrt();
                    }
                }
                out
            }
            Belief::Block(b) => b.std_x(),
            Belief::Saved(s) => {
                let mut out = Array2::zeros((s.len(), d));
                for (k, (_, g)) in s.iter().enumerate() {
                    out.row_mut(k).assign(&g.std());
                }
                out
            }
        }
    }

    /// The belief over `x(t)` at any `t` in the span (dense output through the smoothing
    /// posterior, or the filtering one if smoothing was off). With `save_at`, only the saved
    /// times are available.
    pub fn at(&self, t: f64) -> Result<Gaussian> {
        match &self.belief {
            Belief::Dense { post, smoothed } => {
                let b = match smoothed {
                    Some(s) => s.at(t)?,
                    None => post.at(t)?,
                };
                project(&b, self.d)
            }
            Belief::Block(b) => block_x_belief(&b.at(t)?, self.d, self.q + 1),
            Belief::Saved(s) => s
                .iter()
                .find(|(ts, _)| (ts - t).abs() <= 1e-12 * t.abs().max(1.0))
                .map(|(_, g)| g.clone())
                .ok_or(Error::InvalidInput {
                    what: "t",
                    value: t,
                    reason: "not a save_at time (dense output needs every step: solve without save_at)",
                }),
        }
    }

    /// The belief over `x(t₁)` at the end (with `save_at`: at the last saved time).
    pub fn final_belief(&self) -> Result<Gaussian> {
        match &self.belief {
            Belief::Dense { post, smoothed } => {
                let m = dense_marginals(post, smoothed.as_ref());
                project(&m[m.len() - 1], self.d)
            }
            Belief::Block(b) => {
                let m = b.marginals();
                block_x_belief(&m[m.len() - 1], self.d, self.q + 1)
            }
            Belief::Saved(s) => s.last().map(|(_, g)| g.clone()).ok_or(Error::InvalidInput {
                what: "save_at",
                value: 0.0,
                reason: "no save_at times were given",
            }),
        }
    }

    /// `n` joint draws of the trajectory of `x` at the step times (each `steps × d`). Needs every
    /// step stored (not available with `save_at`).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Result<Vec<Array2<f64>>> {
        let d = self.d;
        match &self.belief {
            Belief::Dense { post, .. } => Ok(post
                .sample(rng, n)
                .into_iter()
                .map(|s| s.slice(s![.., ..d]).to_owned())
                .collect()),
            Belief::Block(b) => Ok(b.sample(rng, n)),
            Belief::Saved(_) => Err(Error::InvalidInput {
                what: "save_at",
                value: 0.0,
                reason: "trajectory samples need every step: solve without save_at",
            }),
        }
    }
}

fn dense_marginals<'a>(
    post: &'a FilterPosterior,
    smoothed: Option<&'a SmoothPosterior>,
) -> &'a [SqrtGaussian] {
    match smoothed {
        Some(s) => s.marginals(),
        None => post.filtered(),
    }
}

/// Solve `x' = f(t, x)`, `x(t₀) = x₀` on `[t₀, t₁]` — the front door, in the spirit of SciPy's
/// `solve_ivp`. The defaults ([`Options::default`]): EK1, order by tolerance, adaptive steps,
/// dynamic calibration, `rtol = 1e-6`, `atol = 1e-8`, smoothing on.
pub fn solve<F: VectorField>(
    f: &F,
    t_span: (f64, f64),
    x0: ArrayView1<'_, f64>,
    opts: Options,
) -> Result<OdeSolution> {
    let mut filter = OdeFilter::new(f, t_span, x0, opts)?;
    while !filter.done() {
        filter.step()?;
    }
    filter.finish()
}

/// What an observer of [`solve_observed`] tells the solver after each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop here: the solution covers `[t₀, t]` of the last accepted step.
    Stop,
}

/// [`solve`] with an observer that sees every accepted step (time, step size, error estimate,
/// local diffusion) and the current belief over `x(t)`, and may stop the solve early — for
/// logging, plotting, or events.
///
/// ```
/// use ndarray::array;
/// use num_dual::DualNum;
/// use pn_ode::{AutoDiff, Control, OdeFunction, Options, solve_observed};
///
/// struct Decay;
/// impl OdeFunction for Decay {
///     fn dim(&self) -> usize { 1 }
///     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
///         dx[0] = -x[0];
///     }
/// }
/// // Stop once x has fallen below 0.5 (at t ≈ ln 2).
/// let sol = solve_observed(&AutoDiff(Decay), (0.0, 10.0), array![1.0].view(), Options::default(),
///     |_, belief| if belief.mean()[0] < 0.5 { Control::Stop } else { Control::Continue })?;
/// let t_stop = *sol.times().last().unwrap();
/// assert!(t_stop > 2f64.ln() && t_stop < 1.5);
/// # Ok::<(), pn_ode::Error>(())
/// ```
pub fn solve_observed<F: VectorField>(
    f: &F,
    t_span: (f64, f64),
    x0: ArrayView1<'_, f64>,
    opts: Options,
    mut observer: impl FnMut(&StepInfo, &Gaussian) -> Control,
) -> Result<OdeSolution> {
    let mut filter = OdeFilter::new(f, t_span, x0, opts)?;
    while !filter.done() {
        let info = filter.step()?;
        if observer(&info, &filter.state()?) == Control::Stop {
            break;
        }
    }
    filter.finish()
}

//! Options of the samplers and of a run: plain structs with documented defaults and
//! builder-style setters.

use serde::{Deserialize, Serialize};

/// The mass matrix (metric) adapted during warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum MetricKind {
    /// The identity, never adapted.
    Unit,
    /// A diagonal inverse metric from the warm-up variances (Stan's default `diag_e`).
    Diag,
    /// A diagonal inverse metric `√(Var xᵢ / Var ∂ᵢ log p)` from the warm-up draws and their
    /// gradients, started at `1/|∂ᵢ log p(x₀)|` (the estimate used by nutpie): exact for
    /// Gaussians with axis-aligned covariance after few draws, so warm-up is cheaper. The
    /// default.
    #[default]
    DiagGrad,
    /// A dense inverse metric from the warm-up covariance (Stan's `dense_e`): for strongly
    /// correlated targets, at `O(d²)` per leapfrog step.
    Dense,
}

/// How the warm-up is divided between metric and step-size adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Schedule {
    /// [`Schedule::Continuous`] for the diagonal metrics, [`Schedule::Stan`] for the dense
    /// one (whose estimate needs the long final window of Stan's schedule: on a 100-d Gaussian
    /// the continuous schedule's shorter windows left it twice as expensive). The default.
    #[default]
    Auto,
    /// Stan's windows: a fast buffer (`init_buffer`, step size only, under the initial metric),
    /// slow windows of doubling length starting at `base_window` — the metric is re-estimated
    /// from each window's draws alone at its end, after which the step size is searched afresh
    /// and dual averaging restarts — and a final fast buffer (`term_buffer`).
    Stan,
    /// Continuous adaptation (the scheme of nutpie): the metric is re-estimated after *every*
    /// warm-up iteration from a running estimator, so it is useful from the third draw on.
    /// Two estimators run side by side; every so often the older one is dropped and the
    /// younger one (which holds only the draws since the last switch) takes its place, so
    /// early, unrepresentative draws are forgotten. Switches come every `early_window`
    /// iterations during the first `early_fraction` of warm-up, then after windows that start
    /// at `main_window` iterations and grow by `window_growth`; the last `final_fraction` of
    /// warm-up adapts only the step size. Dual averaging restarts once, after the first metric
    /// update (with a fresh step-size search), and then runs without restarts to the end of
    /// warm-up. A dense metric is refactorised at the switches only (every iteration for
    /// `d ≤ 16`).
    Continuous,
}

/// The warm-up: dual averaging of the step size (Hoffman & Gelman 2014, with Stan's
/// constants) and metric adaptation on a [`Schedule`].
///
/// Defaults: `δ = 0.8`, `γ = 0.05`, `κ = 0.75`, `t₀ = 10` (Stan's); the gradient-based
/// diagonal metric ([`MetricKind::DiagGrad`]) on the continuous schedule (switches every 10
/// iterations in the first 30 % of warm-up, then windows of 80 × 1.5ᵏ, step size alone in
/// the last 15 %); a dense metric on Stan's windows 75/25/50 ([`Schedule::Auto`]).
/// [`AdaptOptions::stan`] is Stan's `diag_e` warm-up exactly. `docs/mcmc.md` has the
/// measurements behind the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdaptOptions {
    /// Target mean acceptance statistic δ (0.8). Raise (0.9–0.99) for smaller steps on hard
    /// geometry.
    pub target_accept: f64,
    /// Dual-averaging regularisation scale γ (0.05).
    pub gamma: f64,
    /// Dual-averaging relaxation exponent κ (0.75).
    pub kappa: f64,
    /// Dual-averaging iteration offset t₀ (10).
    pub t0: f64,
    /// The step size from which the initialisation heuristic starts (1).
    pub init_step_size: f64,
    /// Which metric to adapt.
    pub metric: MetricKind,
    /// Initial fast buffer (75 iterations).
    pub init_buffer: usize,
    /// Final fast buffer (50 iterations).
    pub term_buffer: usize,
    /// First slow window (25 iterations), doubled each time.
    pub base_window: usize,
    /// The adaptation schedule ([`Schedule::Auto`]).
    pub schedule: Schedule,
    /// Continuous schedule: the fraction of warm-up with short windows (0.3).
    pub early_fraction: f64,
    /// Continuous schedule: the window length in the early phase (10 iterations).
    pub early_window: usize,
    /// Continuous schedule: the first window after the early phase (80 iterations).
    pub main_window: usize,
    /// Continuous schedule: the growth factor of the later windows (1.5).
    pub window_growth: f64,
    /// Continuous schedule: the final fraction of warm-up that adapts only the step size
    /// (0.15).
    pub final_fraction: f64,
}

impl Default for AdaptOptions {
    fn default() -> Self {
        Self {
            target_accept: 0.8,
            gamma: 0.05,
            kappa: 0.75,
            t0: 10.0,
            init_step_size: 1.0,
            metric: MetricKind::DiagGrad,
            init_buffer: 75,
            term_buffer: 50,
            base_window: 25,
            schedule: Schedule::Auto,
            early_fraction: 0.3,
            early_window: 10,
            main_window: 80,
            window_growth: 1.5,
            final_fraction: 0.15,
        }
    }
}

impl AdaptOptions {
    /// Sets the target acceptance statistic.
    pub fn target_accept(mut self, v: f64) -> Self {
        self.target_accept = v;
        self
    }
    /// Sets the metric.
    pub fn metric(mut self, m: MetricKind) -> Self {
        self.metric = m;
        self
    }
    /// Sets the dual-averaging constants `(γ, κ, t₀)`.
    pub fn dual_averaging(mut self, gamma: f64, kappa: f64, t0: f64) -> Self {
        self.gamma = gamma;
        self.kappa = kappa;
        self.t0 = t0;
        self
    }
    /// Sets the schedule.
    pub fn schedule(mut self, s: Schedule) -> Self {
        self.schedule = s;
        self
    }
    /// Stan's warm-up exactly: the windowed diagonal metric from the draws' variances
    /// (`diag_e`) on Stan's schedule.
    pub fn stan() -> Self {
        Self::default()
            .metric(MetricKind::Diag)
            .schedule(Schedule::Stan)
    }
    /// Sets the continuous schedule's parameters: early fraction and window, first main
    /// window and its growth, final step-size-only fraction.
    pub fn continuous(
        mut self,
        early_fraction: f64,
        early_window: usize,
        main_window: usize,
        window_growth: f64,
        final_fraction: f64,
    ) -> Self {
        self.early_fraction = early_fraction;
        self.early_window = early_window;
        self.main_window = main_window;
        self.window_growth = window_growth;
        self.final_fraction = final_fraction;
        self
    }
    /// Sets Stan's window sizes (initial buffer, first slow window, final buffer).
    pub fn windows(mut self, init_buffer: usize, base_window: usize, term_buffer: usize) -> Self {
        self.init_buffer = init_buffer;
        self.base_window = base_window;
        self.term_buffer = term_buffer;
        self
    }
}

/// The No-U-Turn sampler (Hoffman & Gelman 2014) in Stan's form (Betancourt 2017):
/// multinomial sampling of the trajectory, the generalised no-U-turn criterion (also checked
/// across the two halves of every subtree), divergence when the energy error exceeds
/// `max_energy_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NutsOptions {
    /// Maximum tree depth (10: at most 1023 leapfrog steps per draw).
    pub max_depth: usize,
    /// Energy error above which a trajectory is divergent (1000).
    pub max_energy_error: f64,
    /// Warm-up settings.
    pub adapt: AdaptOptions,
}

impl Default for NutsOptions {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_energy_error: 1000.0,
            adapt: AdaptOptions::default(),
        }
    }
}

impl NutsOptions {
    /// Sets the maximum tree depth.
    pub fn max_depth(mut self, v: usize) -> Self {
        self.max_depth = v;
        self
    }
    /// Sets the target acceptance statistic.
    pub fn target_accept(mut self, v: f64) -> Self {
        self.adapt.target_accept = v;
        self
    }
    /// Sets the metric.
    pub fn metric(mut self, m: MetricKind) -> Self {
        self.adapt.metric = m;
        self
    }
    /// Replaces the warm-up settings.
    pub fn adapt(mut self, a: AdaptOptions) -> Self {
        self.adapt = a;
        self
    }
}

/// Static HMC: a fixed number of leapfrog steps per draw, with the same warm-up of step size
/// and metric as NUTS ([`AdaptOptions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HmcOptions {
    /// Leapfrog steps per draw (20).
    pub n_steps: usize,
    /// Energy error above which a trajectory is divergent (1000).
    pub max_energy_error: f64,
    /// Step-size jitter `j` (0.2): each transition uses `ε (1 + j (2u − 1))`, `u ~ U(0, 1)`,
    /// which breaks the resonances of a fixed trajectory length (Neal 2011, §5.4.2.2).
    pub jitter: f64,
    /// Warm-up settings (target acceptance 0.8 by default; static HMC is often tuned to 0.65).
    pub adapt: AdaptOptions,
}

impl Default for HmcOptions {
    fn default() -> Self {
        Self {
            n_steps: 20,
            jitter: 0.2,
            max_energy_error: 1000.0,
            adapt: AdaptOptions::default(),
        }
    }
}

impl HmcOptions {
    /// Sets the number of leapfrog steps.
    pub fn n_steps(mut self, v: usize) -> Self {
        self.n_steps = v;
        self
    }
    /// Sets the step-size jitter (in `[0, 1)`).
    pub fn jitter(mut self, j: f64) -> Self {
        self.jitter = j;
        self
    }
    /// Replaces the warm-up settings.
    pub fn adapt(mut self, a: AdaptOptions) -> Self {
        self.adapt = a;
        self
    }
}

/// Random-walk Metropolis with an adaptive Gaussian proposal (Haario, Saksman & Tamminen 2001):
/// during warm-up the proposal covariance is `s² (Σ̂ + ε I)` with `Σ̂` the running covariance
/// of the chain, and the scale `s` (started at `2.38/√d`) is tuned by Robbins–Monro towards
/// the acceptance rate `target_accept` (Andrieu & Thoms 2008). Adaptation stops after warm-up,
/// so the draws come from a fixed, valid Metropolis kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RwmOptions {
    /// Target acceptance rate (0.234, optimal for Gaussian targets in high dimension).
    pub target_accept: f64,
    /// Iterations before the covariance estimate is used (100).
    pub covariance_start: usize,
    /// Regularisation `ε` added to the diagonal of the covariance (1e-8).
    pub epsilon: f64,
}

impl Default for RwmOptions {
    fn default() -> Self {
        Self {
            target_accept: 0.234,
            covariance_start: 100,
            epsilon: 1e-8,
        }
    }
}

impl RwmOptions {
    /// Sets the target acceptance rate.
    pub fn target_accept(mut self, v: f64) -> Self {
        self.target_accept = v;
        self
    }
}

/// Univariate slice sampling with stepping out and shrinkage (Neal 2003), one coordinate at
/// a time. During warm-up each coordinate's initial width is set to twice its mean absolute
/// move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SliceOptions {
    /// Initial bracket width `w` (1).
    pub width: f64,
    /// Maximum number of stepping-out steps `m` per side (100).
    pub max_steps: usize,
    /// Whether to adapt the widths during warm-up (true).
    pub adapt_width: bool,
}

impl Default for SliceOptions {
    fn default() -> Self {
        Self {
            width: 1.0,
            max_steps: 100,
            adapt_width: true,
        }
    }
}

impl SliceOptions {
    /// Sets the initial width.
    pub fn width(mut self, w: f64) -> Self {
        self.width = w;
        self
    }
}

/// The affine-invariant ensemble sampler with the stretch move (Goodman & Weare 2010; the
/// `emcee` algorithm with its parallel red–black update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnsembleOptions {
    /// Walkers per ensemble (0 = `max(2d, 4)` rounded up to even).
    pub walkers: usize,
    /// Stretch scale `a` (2).
    pub a: f64,
}

impl Default for EnsembleOptions {
    fn default() -> Self {
        Self { walkers: 0, a: 2.0 }
    }
}

impl EnsembleOptions {
    /// Sets the number of walkers.
    pub fn walkers(mut self, k: usize) -> Self {
        self.walkers = k;
        self
    }
    /// Sets the stretch scale.
    pub fn a(mut self, a: f64) -> Self {
        self.a = a;
        self
    }
}

/// A sampler with its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Sampler {
    /// The No-U-Turn sampler.
    Nuts(NutsOptions),
    /// Static HMC.
    Hmc(HmcOptions),
    /// Adaptive random-walk Metropolis.
    Rwm(RwmOptions),
    /// Coordinate-wise slice sampling.
    Slice(SliceOptions),
    /// The affine-invariant ensemble sampler.
    Ensemble(EnsembleOptions),
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::Nuts(NutsOptions::default())
    }
}

impl Sampler {
    /// A short name: `nuts`, `hmc`, `rwm`, `slice`, `ensemble`.
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Nuts(_) => "nuts",
            Sampler::Hmc(_) => "hmc",
            Sampler::Rwm(_) => "rwm",
            Sampler::Slice(_) => "slice",
            Sampler::Ensemble(_) => "ensemble",
        }
    }
    /// Whether the sampler uses gradients.
    pub fn needs_gradient(&self) -> bool {
        matches!(self, Sampler::Nuts(_) | Sampler::Hmc(_))
    }
}

/// How chains are started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Init {
    /// Uniform on `(−2, 2)ᵈ` (Stan's default), retried up to 100 times until the
    /// log-density (and gradient, where used) is finite.
    #[default]
    Random,
    /// Uniform on `(−r, r)ᵈ`.
    Uniform(f64),
    /// The same given point for every chain (an error if its density is zero).
    Point(Vec<f64>),
    /// One given point per chain.
    PerChain(Vec<Vec<f64>>),
}

/// What a run does: chains, iterations, seed, initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunOptions {
    /// Independent chains (4), run in parallel with rayon.
    pub chains: usize,
    /// Warm-up iterations per chain (1000), discarded.
    pub warmup: usize,
    /// Kept draws per chain (1000).
    pub draws: usize,
    /// Keep every `thin`-th draw (1).
    pub thin: usize,
    /// Seed: chain `c` uses the PCG stream `(seed, c)`, so the draws do not depend on the
    /// number of threads.
    pub seed: u64,
    /// Initial points.
    pub init: Init,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            chains: 4,
            warmup: 1000,
            draws: 1000,
            thin: 1,
            seed: 0,
            init: Init::Random,
        }
    }
}

impl RunOptions {
    /// Sets the number of chains.
    pub fn chains(mut self, n: usize) -> Self {
        self.chains = n;
        self
    }
    /// Sets the warm-up length.
    pub fn warmup(mut self, n: usize) -> Self {
        self.warmup = n;
        self
    }
    /// Sets the number of kept draws per chain.
    pub fn draws(mut self, n: usize) -> Self {
        self.draws = n;
        self
    }
    /// Sets the thinning.
    pub fn thin(mut self, n: usize) -> Self {
        self.thin = n;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Sets the initialisation.
    pub fn init(mut self, i: Init) -> Self {
        self.init = i;
        self
    }
}

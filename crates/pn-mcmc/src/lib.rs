//! # pn-mcmc — samplers and the diagnostics that say when to trust them
//!
//! Markov chain Monte Carlo for expectations `E_p[g(x)]` under an unnormalised density `p` on
//! `ℝᵈ`, with the modern convergence diagnostics that state how far to trust the answer.
//!
//! - **Targets**: the [`LogDensity`] trait (`dim`, `logp`, `logp_and_grad`); exact gradients
//!   from a function written once over dual numbers ([`DualDensity`] + [`AutoDiff`]), or by
//!   hand ([`FnDensityWithGrad`]); gradient-free closures ([`FnDensity`]).
//! - **Samplers** ([`Sampler`]): NUTS with dual averaging of the step size (Stan's γ = 0.05,
//!   κ = 0.75, t₀ = 10, δ = 0.8), metric adaptation ([`MetricKind`]: the gradient-based
//!   diagonal estimate `√(Var x / Var ∇ log p)` by default, Stan's diagonal, or dense) on a
//!   [`Schedule`] (continuous re-estimation as in nutpie by default for diagonal metrics,
//!   Stan's windows 75/25…/50 for the dense one and on request — [`AdaptOptions::stan`]),
//!   divergences and maximum tree depth; static HMC, adaptive random-walk Metropolis (Haario), slice sampling
//!   with stepping out, the affine-invariant ensemble sampler (stretch move), and elliptical
//!   slice sampling for Gaussian priors ([`sample_elliptical`]).
//! - **Chains** run in parallel with rayon; chain `c` draws from the PCG stream `(seed, c)`, so
//!   the same seed gives bit-identical draws for any number of threads.
//! - **Diagnostics** ([`diagnostics`]): rank-normalised split-R̂, bulk/tail ESS, MCSE of means,
//!   sds and quantiles (Vehtari et al. 2021, equal to ArviZ), HDI, energy BFMI; the
//!   ArviZ-like [`Summary`] with warnings for divergences, tree-depth saturation, leapfrog
//!   steps past the integrator's stability limit (`εω > 2` for the curvature along the step:
//!   [`FitDiagnostics::unstable_steps`]), low BFMI, R̂ > 1.01 and low ESS.
//! - **Output**: [`Fit::draws`] as `chains × draws × dim`, CSV and JSON writers.
//! - **Models** ([`models`]): Gaussians, Neal's funnel, banana, eight schools, Bayesian
//!   logistic regression on the Wisconsin breast-cancer data.
//!
//! Bad input gets an [`enum@Error`]: zero dimension, initial points outside the support, `+∞`
//! log-densities, shape mismatches. A NaN log-density is a rejection, counted in
//! [`ChainStats::nan_logp`] and reported in the summary's warnings.
//!
//! ```
//! use num_dual::DualNum;
//! use pn_mcmc::{AutoDiff, DualDensity, RunOptions, Sampler, sample};
//!
//! /// A correlated 2-d Gaussian, written once for f64 and dual numbers.
//! struct Corr;
//! impl DualDensity for Corr {
//!     fn dim(&self) -> usize { 2 }
//!     fn logp<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
//!         // precision of [[1, 0.8], [0.8, 1]]
//!         let (a, b) = (1.0 / 0.36, -0.8 / 0.36);
//!         (x[0] * x[0] * a + x[0] * x[1] * (2.0 * b) + x[1] * x[1] * a) * (-0.5)
//!     }
//! }
//! let run = RunOptions::default().chains(2).warmup(300).draws(300).seed(1);
//! let fit = sample(&AutoDiff(Corr), &Sampler::default(), &run).unwrap();
//! let summary = fit.summary();
//! assert!(summary.rows[0].r_hat < 1.05);
//! assert!(summary.rows[0].mean.abs() < 5.0 * summary.rows[0].mcse_mean);
//! println!("{summary}");
//! ```

mod chain;
pub mod diagnostics;
mod elliptical;
mod ensemble;
mod error;
mod fit;
mod hmc;
pub mod models;
mod options;
mod rwm;
mod slice;
mod target;

pub use chain::{Control, Progress, chain_rng, sample, sample_with_observer};
pub use elliptical::sample_elliptical;
pub use error::{Error, Result};
pub use fit::{ChainStats, Fit, FitDiagnostics, SamplerStats, Summary, SummaryRow};
pub use options::{
    AdaptOptions, EnsembleOptions, HmcOptions, Init, MetricKind, NutsOptions, RunOptions,
    RwmOptions, Sampler, Schedule, SliceOptions,
};
pub use target::{AutoDiff, DualDensity, FnDensity, FnDensityWithGrad, LogDensity};

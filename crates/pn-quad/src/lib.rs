//! # pn-quad — Bayesian quadrature: integrals with error bars
//!
//! A Gaussian-process prior on an integrand `f` turns its evaluations into a Gaussian belief
//! over `∫ f dp`: with kernel `k`, kernel mean `z(x) = ∫ k(x, x') dp(x')` and nodes `X`,
//!
//! ```text
//! ∫ f dp | f(X)  ~  N( zᵀ K⁻¹ f(X),  ∫∫ k dp dp − zᵀ K⁻¹ z ).
//! ```
//!
//! What exists:
//!
//! - **Front door** — [`integrate`]: integrand + [`Measure`] + budget or tolerance → a
//!   [`QuadResult`] with the [`IntegralBelief`] (converts to a [`pn_core::Gaussian`]), the nodes,
//!   weights, fitted kernel and diagnostics. Adaptive node selection by integral-variance
//!   reduction (default), uncertainty sampling or mutual information ([`Acquisition`]), greedy
//!   batches, stopping at a standard-deviation tolerance or the budget, an observer callback;
//!   lengthscales and output scale refitted by marginal likelihood as nodes arrive
//!   ([`fit_lengthscales`]: profile likelihood over the log-lengthscales, projected BFGS with
//!   exact gradients).
//! - **Vanilla BQ** — [`bayesian_quadrature`] on given nodes, with zero or diffuse
//!   constant/linear prior means ([`PriorMean`]), the output scale by maximum likelihood or
//!   leave-one-out (the larger), a pivoted Cholesky that drops numerically redundant nodes instead
//!   of adding jitter, and a variance floor from a rounding-error bound (never negative, never
//!   more precise than double precision can certify).
//! - **Kernel embeddings** in closed form ([`kernel_mean`], [`initial_variance`]): squared
//!   exponential (ARD) against Gaussian measures with full covariance and against boxes;
//!   product Matérn ½, ³⁄₂, ⁵⁄₂ against boxes; Wiener and integrated Wiener kernels on intervals
//!   ([`QuadKernel`]).
//! - **Classical rules as special cases**: the Wiener-process posterior mean is the trapezoid
//!   rule; the integrated-Wiener posterior with a diffuse linear mean integrates the natural
//!   cubic spline (both tested).
//! - **WSABI-L** ([`wsabi_l`]) for non-negative integrands, e.g. model evidences
//!   `∫ likelihood × Gaussian prior`.
//! - **Baselines in the same terms** ([`rules`]): Monte Carlo, scrambled-Halton and
//!   scrambled-Sobol' QMC (Joe–Kuo direction numbers, linear matrix scrambling + digital shift),
//!   tensor Gauss–Legendre / Gauss–Hermite.
//! - **Lengthscale fitting** ([`fit_lengthscales`]): profile marginal likelihood over the
//!   log-lengthscales with the output scale in closed form, projected BFGS with exact gradients;
//!   one Cholesky factorisation and one inverse per evaluation.
//! - **Test integrands** ([`genz`]): Genz's six families with closed-form integrals, Gaussian
//!   integrands against Gaussian measures.
//!
//! ```
//! use pn_quad::genz::GenzFamily;
//! use pn_quad::{QuadOptions, integrate};
//!
//! // Genz's "product peak" in 2-D, whose integral is known in closed form.
//! let p = GenzFamily::ProductPeak.instance(vec![3.0, 2.0], vec![0.4, 0.6])?;
//! let res = integrate(|x| p.eval(x), &p.measure(), &QuadOptions::default().budget(40))?;
//! let (lo, hi) = res.belief.interval(0.95);
//! println!("∫ = {:.6} ± {:.1e} (truth {:.6})", res.belief.mean, res.belief.std(), p.integral());
//! assert!((res.belief.mean - p.integral()).abs() < 1e-2 * p.integral());
//! assert!(lo < hi && res.posterior.nodes.nrows() == 40);
//! let belief = res.belief.to_gaussian()?; // a pn_core::Gaussian
//! assert_eq!(belief.dim(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bq;
mod embedding;
mod error;
mod fastla;
mod fit;
pub mod genz;
mod integrate;
mod kernel;
mod measure;
pub mod rules;
mod sobol;
mod wsabi;

pub use bq::{
    BqOptions, BqPosterior, Conditioning, Diagnostics, IntegralBelief, PriorMean,
    bayesian_quadrature,
};
pub use embedding::{initial_variance, kernel_mean};
pub use error::{Error, Result};
pub use fit::{FitInfo, FitOptions, fit_lengthscales};
pub use integrate::{
    Acquisition, Control, Design, Hyperparameters, QuadOptions, QuadResult, QuadState, StopReason,
    default_kernel, integrate, integrate_with_observer,
};
pub use kernel::{KernelKind, MaternOrder, QuadKernel};
pub use measure::{BoxDomain, GaussianMeasure, Measure};
pub use wsabi::{WsabiOptions, WsabiResult, wsabi_l};

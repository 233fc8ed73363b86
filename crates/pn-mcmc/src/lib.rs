//! # pn-mcmc — samplers and the diagnostics that say when to trust them
//!
//! High-dimensional expectations `E_p[g(x)]` under an unnormalised density are estimated by
//! Markov chain Monte Carlo. This crate will offer:
//!
//! - random-walk Metropolis with an adaptive proposal, slice sampling, elliptical slice
//!   sampling, HMC and NUTS with Stan's warm-up (dual averaging, windowed mass-matrix
//!   adaptation, divergence detection), and the affine-invariant ensemble sampler;
//! - log-density targets with exact gradients from dual numbers or from the user;
//! - chains run in parallel with seeded, reproducible streams;
//! - rank-normalised split-R̂, bulk and tail effective sample sizes and Monte Carlo standard
//!   errors.
//!
//! It builds on [`pn_core`] for its error type and Gaussian beliefs.
//!
//! Nothing is implemented here yet.

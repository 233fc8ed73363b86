//! # pn-ode — ODE solvers that are Bayesian filters
//!
//! An ODE solve is inference: the residual `x'(t) − f(t, x(t))` is *observed* to be zero at each
//! step under a Gauss–Markov prior, and Kalman filtering and smoothing return a Gaussian belief
//! over the whole trajectory. This crate will offer:
//!
//! - first-order `x' = f(t, x)` and second-order `x'' = f(t, x, x')` problems, with vector fields
//!   written once over dual numbers for exact Jacobians and Taylor-mode initialisation;
//! - the EK0 (Kronecker covariance, linear in the dimension), EK1 and diagonal EK1 filters with
//!   fixed or adaptive steps, and global or local diffusion calibration;
//! - filtering and smoothing posteriors, dense output, joint samples of trajectories, `save_at`,
//!   and solver statistics;
//! - a catalogue of standard test problems with independent reference solutions.
//!
//! It builds on `pn-filter` (priors and square-root filtering) and [`pn_core`] (beliefs).
//!
//! Nothing is implemented here yet.

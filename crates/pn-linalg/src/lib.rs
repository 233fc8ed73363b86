//! # pn-linalg — GP regression and linear solvers that know how wrong they are
//!
//! Least-squares and Gaussian-process regression reduce to solving `(K + σ²I) x = y`. This crate
//! will offer that solve in every form a practitioner needs, each returning a belief:
//!
//! - **Exact GP regression** by Cholesky (with a bounded, reported jitter ladder), posterior mean,
//!   variance, covariance and samples, the log marginal likelihood with its analytic gradient, and
//!   hyperparameter fitting by L-BFGS with restarts.
//! - **Iterative solvers**: (preconditioned) conjugate gradients, Lanczos with full
//!   reorthogonalisation, the pivoted-Cholesky preconditioner, stochastic Lanczos quadrature for
//!   log-determinants and Hutchinson trace estimates for marginal-likelihood gradients.
//! - **Probabilistic linear solvers**: BayesCG and the matrix-based solver, calibrated so that the
//!   reported uncertainty matches the actual error.
//! - **Computation-aware GPs (IterGP)**, whose variance is mathematical plus computational
//!   uncertainty, with unit-vector, CG, random and pseudo-input policies.
//! - **Structure**: Kronecker kernels on grids, Toeplitz kernels with FFT products, and
//!   state-space GPs (Matérn ν = 1/2, 3/2, 5/2) at linear cost through `pn-filter`.
//!
//! Kernels, kernel matrices and the Gaussian belief come from [`pn_core`].
//!
//! Nothing is implemented here yet.

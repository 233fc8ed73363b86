//! # pn-linalg — GP regression and linear solvers that know how wrong they are
//!
//! Least-squares and Gaussian-process regression reduce to solving `(K + σ²I) x = y`. This crate
//! offers that solve in the forms a practitioner needs, each returning a belief. Built so far:
//!
//! - **State-space GPs** ([`state_space`]): exact GP regression with sums of Matérn-½, ³⁄₂, ⁵⁄₂
//!   kernels on 1-D inputs at linear cost, through `pn-filter`'s square-root Kalman filter and
//!   smoother — the same posterior and marginal likelihood as the dense computation.
//!
//! - **Exact GPs** ([`exact`]): any pn-core kernel (sums and products included), a Cholesky of
//!   `K + σ²I` with a bounded, reported jitter ladder; posterior mean, variance, full covariance
//!   and samples; log marginal likelihood and its analytic gradient in all log-hyperparameters.
//! - **Hyperparameter fitting** ([`fit`]): type-II maximum likelihood by L-BFGS (argmin) with
//!   seeded restarts, fixed parameters (e.g. noise-free interpolation), bounds and an observer.
//! - **The front door** ([`gp`]): `GpRegression::new(kernel, noise).fit(x, y)?` standardises the
//!   targets, fits the hyperparameters, picks the method (exact; above a size state-space for
//!   1-D Matérn sums, IterGP otherwise) and returns a [`gp::GpPosterior`] that says which it
//!   used; the real data sets `mcycle` and Mauna Loa CO₂ ship in [`gp::datasets`].
//!
//! Still to come: (preconditioned) conjugate
//! gradients and Lanczos, stochastic log-determinants, the probabilistic linear solvers
//! (BayesCG, matrix-based), computation-aware GPs (IterGP), and Kronecker/Toeplitz structure.
//!
//! ```
//! use ndarray::Array2;
//! use pn_core::kernels::{Matern32, SquaredExponential};
//! use pn_linalg::fit::{FitOptions, fit};
//!
//! let x = Array2::from_shape_fn((40, 1), |(i, _)| i as f64 / 8.0);
//! let y = x.column(0).mapv(|t| t.sin() + 0.3 * (3.0 * t).cos());
//! let kernel = SquaredExponential::new(1.0, 1.0)? + Matern32::new(0.5, 0.1)?;
//! let fitted = fit(Box::new(kernel), 0.01, x.view(), y.view(), &FitOptions::default())?;
//! let (mean, var) = fitted.gp.predict(Array2::from_elem((1, 1), 2.05).view())?;
//! assert!((mean[0] - (2.05f64.sin() + 0.3 * 6.15f64.cos())).abs() < 0.05 && var[0] < 0.01);
//! # Ok::<(), pn_linalg::Error>(())
//! ```
//!
//! ```
//! use ndarray::array;
//! use pn_linalg::state_space::{MaternComponent, Nu, StateSpaceGp};
//!
//! let gp = StateSpaceGp::new(
//!     &[MaternComponent { nu: Nu::ThreeHalves, lengthscale: 0.5, variance: 1.0 }],
//!     0.01,
//! )?;
//! let post = gp.fit(array![0.0, 0.3, 0.9, 1.4].view(), array![0.1, 0.5, -0.2, 0.3].view())?;
//! let (mean, var) = post.predict(array![0.6].view())?;
//! assert!(var[0] > 0.0 && var[0] < 1.0 && mean[0].is_finite());
//! # Ok::<(), pn_linalg::Error>(())
//! ```

mod error;
pub mod exact;
pub mod fit;
pub mod gp;
pub mod iterative;
pub mod itergp;
pub mod probabilistic;
pub mod state_space;
pub mod structured;

pub use error::{Error, Result};

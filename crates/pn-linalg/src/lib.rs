//! # pn-linalg — GP regression and linear solvers that know how wrong they are
//!
//! Least-squares and Gaussian-process regression reduce to solving `(K + σ²I) x = y`. This crate
//! offers that solve in the forms a practitioner needs, each returning a belief. Built so far:
//!
//! - **State-space GPs** ([`state_space`]): exact GP regression with sums of Matérn-½, ³⁄₂, ⁵⁄₂
//!   kernels on 1-D inputs at linear cost, by a square-root Kalman filter and smoother on a
//!   closed-form discretisation of the Matérn SDEs (flat buffers, no per-step allocation; about
//!   1 µs per data point for Matérn-³⁄₂) — the same posterior and marginal likelihood as the
//!   dense computation.
//!
//! - **Exact GPs** ([`exact`]): any pn-core kernel (sums and products included), a Cholesky of
//!   `K + σ²I` with a bounded, reported jitter ladder; posterior mean, variance, full covariance
//!   and samples; log marginal likelihood and its analytic gradient in all log-hyperparameters.
//! - **Hyperparameter fitting** ([`fit`]): type-II maximum likelihood by L-BFGS (argmin) with
//!   seeded restarts, fixed parameters (e.g. noise-free interpolation), bounds and an observer.
//! - **The front door** ([`gp`]): `GpRegression::new(kernel, noise).fit(x, y)?` standardises the
//!   targets, fits the hyperparameters, picks the method (exact; above a size state-space for
//!   1-D Matérn sums, Toeplitz on regular 1-D grids, IterGP otherwise) and returns a
//!   [`gp::GpPosterior`] that says which it used; the real data sets `mcycle` and Mauna Loa CO₂
//!   ship in [`gp::datasets`].
//!
//! - **Iterative solvers** ([`iterative`]): matrix-free (preconditioned) conjugate gradients
//!   with a stated stopping rule and an observer, block CG, Lanczos with full
//!   reorthogonalisation, the pivoted-Cholesky preconditioner with its exact log-determinant,
//!   stochastic Lanczos quadrature and Hutchinson estimates of the log marginal likelihood and
//!   its gradient without a Cholesky factorisation.
//! - **Computation-aware GPs** ([`itergp`]): IterGP, whose variance adds the error of stopping
//!   the solver early to the posterior variance (policies: unit vectors, pivoted Cholesky,
//!   (preconditioned) CG, random, pseudo-inputs).
//! - **Probabilistic linear solvers** ([`probabilistic`]): BayesCG and the matrix-based solver,
//!   returning a calibrated Gaussian over the solution of `A x = b`.
//! - **Structure** ([`structured`]): Kronecker products of 1-D kernels on grids (exact solves
//!   and log-determinants from per-dimension eigendecompositions) and Toeplitz kernel matrices
//!   on regular 1-D grids with FFT products inside CG.
//!
//! ```
//! use ndarray::Array2;
//! use pn_core::kernels::SquaredExponential;
//! use pn_linalg::iterative::Control;
//! use pn_linalg::itergp::{IterGp, IterGpParams, Policy};
//!
//! let x = Array2::from_shape_fn((200, 2), |(i, j)| ((i * (j + 3)) % 17) as f64 / 17.0);
//! let y = x.column(0).mapv(f64::sin) + x.column(1);
//! let k = SquaredExponential::new(0.5, 1.0)?;
//! // Ten preconditioned CG steps: mean and a variance that includes the solver's error.
//! let policy = Policy::Cg { preconditioner_rank: 20 };
//! let params = IterGpParams::default().policy(policy).max_iter(10);
//! let post = IterGp::new(&k, x.view(), 0.01)?.fit(y.view(), &params, |_| Control::Continue)?;
//! let (mean, var) = post.predict(x.slice(ndarray::s![..3, ..]))?;
//! assert!(mean.iter().zip(&y).all(|(m, y)| (m - y).abs() < 0.1) && var.iter().all(|v| *v >= 0.0));
//! # Ok::<(), pn_linalg::Error>(())
//! ```
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

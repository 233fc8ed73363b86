//! # pn-linalg — GP regression and linear solvers that know how wrong they are
//!
//! Least-squares and Gaussian-process regression reduce to solving `(K + σ²I) x = y`. This crate
//! offers that solve in the forms a practitioner needs, each returning a belief. Built so far:
//!
//! - **State-space GPs** ([`state_space`]): exact GP regression with sums of Matérn-½, ³⁄₂, ⁵⁄₂
//!   kernels on 1-D inputs at linear cost, through `pn-filter`'s square-root Kalman filter and
//!   smoother — the same posterior and marginal likelihood as the dense computation.
//!
//! Still to come: exact GP regression with hyperparameter fitting, (preconditioned) conjugate
//! gradients and Lanczos, stochastic log-determinants, the probabilistic linear solvers
//! (BayesCG, matrix-based), computation-aware GPs (IterGP), and Kronecker/Toeplitz structure.
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
pub mod state_space;

pub use error::{Error, Result};

//! # pn-filter — Gauss–Markov priors and square-root Kalman filtering
//!
//! The state-space machinery shared by the ODE filters (`pn-ode`), the state-space Gaussian
//! processes of `pn-linalg` and the probabilistic line search of `pn-optim`:
//!
//! - **Gauss–Markov priors with exact discretisation** ([`prior`]): the integrated Wiener
//!   process [`Iwp`] (closed-form transition and process-noise Cholesky factor in
//!   preconditioned coordinates), the integrated Ornstein–Uhlenbeck process [`Ioup`] and
//!   half-integer [`Matern`] processes, across `d` coordinates with Kronecker structure.
//! - **Square-root Kalman filtering** ([`kalman`]): predict and update by QR of stacked
//!   square-root factors, so covariances stay positive semi-definite at high orders and tight
//!   tolerances.
//! - **Rauch–Tung–Striebel smoothing** in square-root form with stored backward kernels, the
//!   marginal log-likelihood of the data, joint posterior samples of whole trajectories, and
//!   interpolation at any time ([`FilterPosterior`], [`SmoothPosterior`]).
//!
//! ```
//! use std::sync::Arc;
//! use ndarray::{array, Array1, Array2};
//! use pn_filter::{Iwp, GaussMarkov, Observation, SqrtGaussian, filter};
//!
//! // A once-integrated Wiener process (cubic-spline prior) observed with noise at three times.
//! let prior = Arc::new(Iwp::new(1, 1)?);
//! let init = SqrtGaussian::new(Array1::zeros(2), Array2::eye(2))?;
//! let times = [0.0, 0.5, 1.0];
//! let noise = pn_core::Covariance::scaled_identity(1, 1e-4)?;
//! let obs: Vec<_> = [0.0, 0.25, 1.0]
//!     .iter()
//!     .map(|&y| Observation::new(prior.projection(0), &noise, array![y]).map(Some))
//!     .collect::<Result<_, _>>()?;
//! let post = filter(prior, init, &times, &obs)?.smooth()?;
//! let mid = post.at(0.75)?;
//! assert!((mid.mean[0] - 0.56).abs() < 0.1);
//! # Ok::<(), pn_filter::Error>(())
//! ```

mod error;
pub mod kalman;
mod linalg;
mod posterior;
pub mod prior;

pub use error::{Error, Result};
pub use kalman::{BackwardKernel, Observation, SqrtGaussian, UpdateInfo};
pub use posterior::{FilterPosterior, KalmanFilter, SmoothPosterior, filter};
pub use prior::{GaussMarkov, Ioup, Iwp, Matern, Stacked, Transition};

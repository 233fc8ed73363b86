//! # pn-core — beliefs for probabilistic numerics
//!
//! Probabilistic numerical methods return a *belief* over the quantity they compute. In pn that
//! belief is almost always a multivariate normal, and the speed of every method comes from the
//! structure of its covariance. This crate holds what all pn crates share:
//!
//! - [`Gaussian`]: a multivariate normal `N(μ, Σ)` whose covariance is a structured
//!   [`Covariance`] (dense, Cholesky factor, diagonal, scaled identity, Kronecker product,
//!   low-rank update), with sampling, log-density, affine push-forward, conditioning on
//!   linear-Gaussian observations (with the marginal log-likelihood), and marginals — keeping the
//!   structure wherever the algebra allows.
//! - [`LinearOperator`]: the matrix-free interface implemented by dense matrices, every
//!   covariance structure and kernel matrices evaluated on the fly.
//! - [`kernels`]: covariance functions with ARD lengthscales, sums, products and gradients with
//!   respect to their log-hyperparameters.
//! - [`dense`]: Cholesky, triangular solves, QR, symmetric eigendecomposition and
//!   log-determinants on `ndarray` inputs, through faer (default) or LAPACK (feature `lapack`).
//! - [`Error`]: the error type; no public function panics or silently returns NaN on bad input.
//!
//! ```
//! use ndarray::array;
//! use pn_core::{Covariance, Gaussian, LinearMap};
//!
//! // Prior belief over (f(0), f(1)) and a noisy observation of f(0).
//! let prior = Gaussian::new(array![0.0, 0.0], Covariance::dense(array![[1.0, 0.8], [0.8, 1.0]])?)?;
//! let h = array![[1.0, 0.0]];
//! let obs = prior.condition(&h, array![1.0].view(), &Covariance::scaled_identity(1, 0.01)?)?;
//! // What we learned about f(1) from f(0):
//! assert!((obs.posterior.mean()[1] - 0.8 / 1.01).abs() < 1e-12);
//! # Ok::<(), pn_core::Error>(())
//! ```

pub mod covariance;
pub mod dense;
mod error;
mod gaussian;
pub mod kernels;
pub mod map;
pub mod memory;
mod operator;
pub mod testing;
pub mod validate;

pub use covariance::Covariance;
pub use error::{Error, Result};
pub use gaussian::{Conditioned, Gaussian};
pub use map::LinearMap;
pub use operator::{LinearOperator, LinearOperatorExt};

//! # pn-quad — Bayesian quadrature: integrals with error bars
//!
//! (crate docs below are completed as the modules land)

mod bq;
mod embedding;
mod error;
pub mod genz;
mod kernel;
mod measure;
pub mod rules;

pub use bq::{BqOptions, BqPosterior, Diagnostics, IntegralBelief, PriorMean, bayesian_quadrature};
pub use embedding::{initial_variance, kernel_mean};
pub use error::{Error, Result};
pub use kernel::{KernelKind, MaternOrder, QuadKernel};
pub use measure::{BoxDomain, GaussianMeasure, Measure};

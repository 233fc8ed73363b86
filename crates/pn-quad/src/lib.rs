//! # pn-quad — Bayesian quadrature: integrals with error bars
//!
//! (crate docs below are completed as the modules land)

mod bq;
mod embedding;
mod error;
mod fit;
pub mod genz;
mod integrate;
mod kernel;
mod measure;
pub mod rules;
mod wsabi;

pub use bq::{BqOptions, BqPosterior, Diagnostics, IntegralBelief, PriorMean, bayesian_quadrature};
pub use embedding::{initial_variance, kernel_mean};
pub use error::{Error, Result};
pub use integrate::{
    Acquisition, Control, Design, Hyperparameters, QuadOptions, QuadResult, QuadState, StopReason,
    default_kernel, integrate, integrate_with_observer,
};
pub use kernel::{KernelKind, MaternOrder, QuadKernel};
pub use measure::{BoxDomain, GaussianMeasure, Measure};
pub use wsabi::{WsabiOptions, WsabiResult, wsabi_l};

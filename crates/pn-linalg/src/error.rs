//! Errors of pn-linalg.

/// What can go wrong in GP regression and linear solves.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of pn-core (shapes, non-finite input, factorisations).
    #[error(transparent)]
    Core(#[from] pn_core::Error),
    /// An error of the state-space machinery.
    #[error(transparent)]
    Filter(#[from] pn_filter::Error),
    /// An iterative solver used its iteration budget without meeting its tolerance.
    #[error(
        "{what} did not converge within {iterations} iterations (relative residual {relative_residual:e})"
    )]
    NoConvergence {
        /// The routine.
        what: &'static str,
        /// Iterations spent.
        iterations: usize,
        /// `‖b − A x‖ / ‖b‖` when it stopped.
        relative_residual: f64,
    },
    /// A solver for symmetric positive definite systems met a direction of non-positive
    /// curvature `pᵀ A p ≤ 0`: the operator (or the preconditioner) is not positive definite.
    #[error(
        "{what}: operator is not positive definite (curvature {curvature:e} at iteration {iteration})"
    )]
    NotPositiveDefinite {
        /// The routine.
        what: &'static str,
        /// Zero-based iteration at which it happened.
        iteration: usize,
        /// The offending value of `pᵀ A p`.
        curvature: f64,
    },
    /// `K + σ²I` was not positive definite even after the largest rung of the jitter ladder.
    #[error(
        "kernel matrix is not positive definite even with jitter {jitter:e} added to its diagonal (Cholesky failed at pivot {pivot})"
    )]
    JitterExhausted {
        /// The largest (absolute) jitter tried.
        jitter: f64,
        /// Zero-based pivot at which the last factorisation failed.
        pivot: usize,
    },
    /// Hyperparameter fitting found no start at which the marginal likelihood could be evaluated.
    #[error("hyperparameter fitting failed: {reason}")]
    FitFailed {
        /// What went wrong at the last start tried.
        reason: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

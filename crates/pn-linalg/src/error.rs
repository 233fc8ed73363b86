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

//! Errors of pn-quad.

/// What can go wrong in quadrature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of pn-core (shapes, non-finite input, factorisations, parameters).
    #[error(transparent)]
    Core(#[from] pn_core::Error),
    /// The integrand returned NaN or ±∞ at a node.
    #[error("integrand returned {value} at node {index} ({point:?})")]
    NonFiniteIntegrand {
        /// Index of the node in the evaluation order.
        index: usize,
        /// The node.
        point: Vec<f64>,
        /// The value returned.
        value: f64,
    },
    /// A measure or domain that has no volume or no density (zero-width box, singular
    /// covariance, empty dimension).
    #[error("degenerate measure: {reason}")]
    DegenerateMeasure {
        /// What is degenerate.
        reason: String,
    },
    /// The kernel has no closed-form embedding against this measure.
    #[error("no closed-form kernel embedding of {kernel} against {measure}")]
    NoEmbedding {
        /// The kernel.
        kernel: &'static str,
        /// The measure.
        measure: &'static str,
    },
    /// The integrand must be non-negative (WSABI) but is not.
    #[error("integrand must be non-negative, got {value} at node {index}")]
    NegativeIntegrand {
        /// Index of the node.
        index: usize,
        /// The value returned.
        value: f64,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! Errors of pn-filter.

/// What can go wrong in filtering and smoothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the beliefs and dense algebra of pn-core.
    #[error(transparent)]
    Core(#[from] pn_core::Error),
    /// Times must be finite and strictly increasing.
    #[error("times must be finite and strictly increasing: t[{index}] = {value} after {previous}")]
    NonIncreasingTimes {
        /// Position of the offending time.
        index: usize,
        /// Its value.
        value: f64,
        /// The time before it.
        previous: f64,
    },
    /// A step size that is zero, negative or not finite.
    #[error("invalid step size h = {h}: must be finite and > 0")]
    InvalidStep {
        /// The step.
        h: f64,
    },
    /// An order outside the supported range.
    #[error("unsupported order {order}: supported are {min}..={max}")]
    UnsupportedOrder {
        /// The order asked for.
        order: usize,
        /// Smallest supported.
        min: usize,
        /// Largest supported.
        max: usize,
    },
    /// A time outside the span of the posterior where it cannot be evaluated.
    #[error("time {t} is before the first time {t0} of the posterior")]
    TimeOutOfRange {
        /// Requested time.
        t: f64,
        /// First time of the posterior.
        t0: f64,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

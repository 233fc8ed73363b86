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
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

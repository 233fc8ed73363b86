//! The error type of pn-mcmc.

/// Everything a user's input (or a badly behaved target) can make go wrong in `pn-mcmc`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from `pn-core` (shapes, non-finite inputs, factorisations).
    #[error(transparent)]
    Core(#[from] pn_core::Error),
    /// The target has no coordinates.
    #[error("the target density has dimension zero")]
    ZeroDimension,
    /// The log-density was `+∞` somewhere: the target is improper or has a singularity.
    #[error("log-density is +inf at x = {x:?}: the target is improper or singular there")]
    InfiniteLogDensity {
        /// The point at which it happened.
        x: Vec<f64>,
    },
    /// An initial point has zero density (log-density `−∞` or NaN), or a non-finite gradient.
    #[error(
        "initial point of chain {chain} is outside the support (log-density {logp}) at x = {x:?}"
    )]
    InitialPointOutsideSupport {
        /// The chain.
        chain: usize,
        /// The log-density found there.
        logp: f64,
        /// The point.
        x: Vec<f64>,
    },
    /// No point of positive density with a finite gradient was found by random initialisation.
    #[error(
        "no initial point with finite log-density and gradient found for chain {chain} after {attempts} attempts"
    )]
    NoInitialPoint {
        /// The chain.
        chain: usize,
        /// How many random points were tried.
        attempts: usize,
    },
    /// The step-size search went to zero or to infinity.
    #[error("step-size initialisation failed: {reason}")]
    StepSize {
        /// What happened.
        reason: &'static str,
    },
    /// An option is out of range.
    #[error("invalid option `{name}`: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What was expected.
        reason: String,
    },
    /// The sampler needs gradients but the target provides none.
    #[error("sampler `{sampler}` needs gradients, but the target provides only log-density values")]
    GradientRequired {
        /// The sampler that was asked for.
        sampler: &'static str,
    },
    /// Input/output failed while writing draws.
    #[error("i/o error: {0}")]
    Io(String),
    /// A catalogue model name that does not exist.
    #[error("unknown model `{0}` (see `pn_mcmc::models::NAMES`)")]
    UnknownModel(String),
}

/// `Result` with [`enum@Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

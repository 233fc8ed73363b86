//! The error type of the `pn` binary.

use std::path::PathBuf;

/// Everything that can make a `pn` subcommand fail.
///
/// `main` prints it (with its chain of causes) to stderr and exits with status 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A numerical routine of pn-core rejected its input or failed.
    #[error("numerical computation failed")]
    Core(#[from] pn_core::Error),
    /// An ODE solve failed (stiffness detected, step-size underflow, too many steps, …).
    #[error("the ODE solver failed")]
    Ode(#[from] pn_ode::Error),
    /// Sampling failed (a log-density returning +∞, an initial point outside the support, …).
    #[error("MCMC sampling failed")]
    Mcmc(#[source] pn_mcmc::Error),
    /// Quadrature failed (an integrand returning NaN or ±∞, a kernel without an embedding for
    /// the measure, …).
    #[error("the quadrature failed")]
    Quad(#[source] pn_quad::Error),
    /// GP regression failed (an iterative solver without convergence, the jitter ladder
    /// exhausted, no start of the hyperparameter fit could be evaluated, …).
    #[error("GP regression failed (in the computation chosen by {arg})")]
    Gp {
        /// The flag that chose the failing computation (`--kernel`, `--solver`, …).
        arg: &'static str,
        /// What pn-linalg reported.
        #[source]
        source: pn_linalg::Error,
    },
    /// A file or directory could not be created or written.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was attempted ("create directory", "write", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A plot could not be drawn or saved.
    #[error("cannot draw plot `{}`: {message}", path.display())]
    Plot {
        /// The SVG file being written.
        path: PathBuf,
        /// What the plotting backend reported.
        message: String,
    },
    /// A command-line value is valid syntax but unusable (e.g. `--plot out.png`).
    #[error("invalid argument {arg}: {reason}")]
    InvalidArgument {
        /// The flag, e.g. `--plot`.
        arg: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The JSON report could not be serialised or written.
    #[error("cannot write JSON output")]
    Json(#[from] serde_json::Error),
}

/// `Result` with [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

//! `pn`: the command-line face of the pn probabilistic-numerics workspace.
//!
//! Every subcommand follows the conventions of [`common::Common`]: `--json` for one JSON
//! document on stdout (narration on stderr), `--plot FILE.svg`, `--seed N`, and a sensible
//! default case when run without arguments. `pn` without a subcommand prints this help.

mod common;
mod demo;
mod error;
mod gp;
mod mcmc;
mod ode;
mod plot;
mod quad;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Probabilistic numerics: numerical methods that return calibrated Gaussian beliefs.
#[derive(Debug, Parser)]
#[command(name = "pn", version)]
#[command(
    after_help = "Every subcommand accepts --json, --plot FILE.svg and --seed N, \
                        and runs a default case when given no arguments.\n\
                        Start with: pn demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute a few beliefs with pn and draw them as SVG figures (default: ./pn-demo/).
    Demo(demo::DemoArgs),
    /// Solve an ODE test problem with a probabilistic solver (EK0/EK1): mean ± σ of x(t).
    Ode(ode::OdeArgs),
    /// Sample a model with MCMC (NUTS, HMC, Metropolis, slice, ensemble): summary table with
    /// R-hat, ESS, MCSE and warnings.
    Mcmc(mcmc::McmcArgs),
    /// Integrate a test integrand by Bayesian quadrature (or a classical rule): estimate ± std
    /// against the closed-form truth.
    Quad(quad::QuadArgs),
    /// Fit a GP to a CSV file (hyperparameters by marginal likelihood) and predict mean ± std
    /// at test rows; default: the motorcycle data with a held-out split.
    Gp(gp::GpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Demo(args)) => demo::run(args),
        Some(Command::Ode(args)) => ode::run(args),
        Some(Command::Mcmc(args)) => mcmc::run(args),
        Some(Command::Quad(args)) => quad::run(args),
        Some(Command::Gp(args)) => gp::run(args),
        None => {
            // No subcommand: show what there is. This is not an error.
            let help = Cli::command().render_help().to_string();
            common::print_stdout(help.trim_end())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

/// Print an error and its chain of causes to stderr.
fn report(err: &dyn std::error::Error) {
    eprintln!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

//! Conventions shared by every `pn` subcommand.
//!
//! Every subcommand flattens [`Common`] into its arguments, so each one accepts
//!
//! - `--json`: print exactly one JSON document on stdout; all human-readable text (progress,
//!   what is being done, the files written) goes to stderr, so `pn <cmd> --json | jq` works;
//! - `--plot FILE.svg`: where the subcommand's main figure goes (each subcommand documents its
//!   default location);
//! - `--seed N`: the seed of every random number used (default 0); same seed, same output.
//!
//! and runs a sensible default case when given no arguments at all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::Serialize;

use crate::error::{CliError, Result};

/// The flags every subcommand accepts (flattened into each subcommand's arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Print one JSON document on stdout; human-readable text goes to stderr.
    #[arg(long)]
    pub json: bool,

    /// Write the main figure to FILE.svg instead of the subcommand's default location.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Seed for all randomness: the same seed gives the same numbers and plots.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
}

impl Common {
    /// `--plot`, checked to name an SVG file.
    pub fn plot_path(&self) -> Result<Option<&Path>> {
        match &self.plot {
            None => Ok(None),
            Some(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) => {
                Ok(Some(p.as_path()))
            }
            Some(p) => Err(CliError::InvalidArgument {
                arg: "--plot",
                reason: format!(
                    "`{}` must end in .svg (only SVG output is supported)",
                    p.display()
                ),
            }),
        }
    }

    /// A reporter for human-readable progress on stderr.
    pub fn reporter(&self) -> Reporter {
        Reporter::new(self.json)
    }

    /// Print `value` as the subcommand's one JSON document on stdout (only with `--json`).
    pub fn emit_json<T: Serialize>(&self, value: &T) -> Result<()> {
        if self.json {
            let text = serde_json::to_string_pretty(value)?;
            print_stdout(&text)?;
        }
        Ok(())
    }
}

/// Human-readable output: messages and progress bars, always on stderr.
///
/// Progress bars are hidden with `--json` and whenever stderr is not a terminal (indicatif's
/// stderr target checks that), so logs and pipes stay clean; messages are always printed.
#[derive(Debug)]
pub struct Reporter {
    bars: bool,
    current: Option<ProgressBar>,
}

impl Reporter {
    fn new(json: bool) -> Self {
        Self {
            bars: !json,
            current: None,
        }
    }

    /// Print a line to stderr without tearing an active progress bar.
    pub fn say(&self, msg: impl AsRef<str>) {
        let msg = msg.as_ref();
        match &self.current {
            Some(bar) => bar.suspend(|| eprintln!("{msg}")),
            None => eprintln!("{msg}"),
        }
    }

    /// Start a progress bar over `len` steps (replacing any previous one) and return it.
    pub fn progress(&mut self, len: u64, what: &str) -> ProgressBar {
        if let Some(old) = self.current.take() {
            old.finish_and_clear();
        }
        let target = if self.bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        let style = ProgressStyle::with_template("  {prefix} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.current = Some(bar.clone());
        bar
    }

    /// Remove the active progress bar, if any.
    pub fn finish(&mut self) {
        if let Some(bar) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Write `text` and a newline to stdout. A closed pipe (`pn … | head -1`) is not an error.
pub fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Io {
            action: "write to",
            path: "stdout".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The generator every random number in `pn` comes from: PCG64 seeded with `seed`.
pub fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

/// Create `dir` (and its parents) or explain why it cannot be.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::Io {
            action: "use as output directory",
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file (not a directory) already exists at this path",
            ),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}

//! `pn demo`: a tour of pn in figures.
//!
//! The demo is a list of [`Panel`]s, each of which computes one belief with the pn crates and
//! draws it to its own SVG file. Later areas (ODE filters, Bayesian quadrature, …) add a panel
//! to [`PANELS`]; nothing else changes.
//!
//! Output: each panel writes `<out>/<panel file>`; `--plot FILE.svg` overrides where the first
//! (headline) panel goes. Without `--json` the written paths are printed on stdout, one per
//! line; with `--json`, one JSON document (see [`run`]). Narration goes to stderr.

mod gp;
mod mcmc;
mod ode;
mod quad;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::common::{Common, Reporter, ensure_dir, print_stdout};
use crate::error::Result;

/// Arguments of `pn demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Directory for the figures (created if missing).
    #[arg(long, value_name = "DIR", default_value = "pn-demo")]
    pub out: PathBuf,

    #[command(flatten)]
    pub common: Common,
}

/// One figure of the demo.
struct Panel {
    /// Short machine-readable name (the key in the JSON report).
    name: &'static str,
    /// One line saying what the panel shows.
    title: &'static str,
    /// File name inside `--out`.
    file: &'static str,
    /// Computes the belief, draws it to `ctx.path` and returns the panel's numbers.
    run: fn(&mut PanelContext<'_>) -> Result<Map<String, Value>>,
}

/// What a panel gets to work with.
pub(crate) struct PanelContext<'a> {
    /// Where the panel's SVG goes (its parent directory exists).
    pub path: PathBuf,
    /// `--seed`; each panel seeds its own generator with it, so adding a panel never changes
    /// another panel's numbers.
    pub seed: u64,
    /// Narration and progress bars on stderr.
    pub reporter: &'a mut Reporter,
}

/// The panels, in the order they run. The first is the headline panel.
const PANELS: &[Panel] = &[
    Panel {
        name: "gp_regression",
        title: "Gaussian-process regression by Gaussian conditioning",
        file: "gp-regression.svg",
        run: gp::run,
    },
    Panel {
        name: "ode_lotka_volterra",
        title: "An ODE solve with error bars: the EK1 on Lotka–Volterra (bands are mean ± 2σ)",
        file: "ode-lotka-volterra.svg",
        run: ode::run,
    },
    Panel {
        name: "mcmc_banana",
        title: "MCMC with diagnostics: NUTS on the banana (b = 0.02), traces and marginal densities",
        file: "mcmc-banana.svg",
        run: mcmc::run,
    },
    Panel {
        name: "quad_genz_gaussian",
        title: "Integrals with error bars: Bayesian quadrature of a 2-D Genz peak vs Monte Carlo and QMC",
        file: "quad-genz-gaussian.svg",
        run: quad::run,
    },
];

/// The fields of a JSON object (a non-object is kept under the key `value`).
pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => Map::from_iter([("value".to_owned(), other)]),
    }
}

/// Run `pn demo`.
///
/// The JSON document (`--json`) has `seed`, `out_dir`, `files` (every SVG written), `panels`
/// (per panel: `name`, `title`, `file` and its numbers under `metrics`), and, at the top level,
/// the numbers of the headline GP panel: `n_train`, `log_marginal_likelihood`,
/// `rmse_vs_truth`, `coverage_2sigma` and the hyperparameters used. The ODE panel's metrics are
/// the solver settings, `stats`, `final_mean`/`final_std`, and the error against an
/// independent SciPy reference (`max_error_vs_reference`, `reference_within_2sigma`).
pub fn run(args: &DemoArgs) -> Result<()> {
    let common = &args.common;
    let plot_override = common.plot_path()?;
    let mut reporter = common.reporter();

    // Decide every output path first, so a bad --out or --plot fails before any work is done.
    let paths: Vec<PathBuf> = PANELS
        .iter()
        .enumerate()
        .map(|(i, panel)| match plot_override {
            Some(p) if i == 0 => p.to_path_buf(),
            _ => args.out.join(panel.file),
        })
        .collect();
    for path in &paths {
        ensure_dir(path.parent().unwrap_or(Path::new("")))?;
    }

    reporter.say(format!(
        "pn demo: {} panel(s), seed {}, figures in {}",
        PANELS.len(),
        common.seed,
        args.out.display()
    ));

    let mut files = Vec::new();
    let mut panels = Vec::new();
    let mut headline = Map::new();
    for (i, (panel, path)) in PANELS.iter().zip(paths).enumerate() {
        reporter.say(format!("[{}/{}] {}", i + 1, PANELS.len(), panel.title));
        let mut ctx = PanelContext {
            path: path.clone(),
            seed: common.seed,
            reporter: &mut reporter,
        };
        let metrics = (panel.run)(&mut ctx)?;
        reporter.finish();
        reporter.say(format!("      wrote {}", path.display()));
        if i == 0 {
            headline = metrics.clone();
        }
        panels.push(json!({
            "name": panel.name,
            "title": panel.title,
            "file": path,
            "metrics": metrics,
        }));
        files.push(path);
    }

    if common.json {
        let mut doc = Map::new();
        doc.insert("seed".into(), json!(common.seed));
        doc.insert("out_dir".into(), json!(args.out));
        doc.insert("files".into(), json!(files));
        doc.extend(headline);
        doc.insert("panels".into(), Value::Array(panels));
        common.emit_json(&Value::Object(doc))?;
    } else {
        for f in &files {
            print_stdout(&f.display().to_string())?;
        }
    }
    Ok(())
}

//! `pn mcmc`: sample a model of pn-mcmc's catalogue and print the summary table.
//!
//! MCMC returns draws, not a Gaussian belief; what says how far to trust them are the
//! diagnostics: rank-normalised split-R̂, bulk and tail ESS, Monte Carlo standard errors,
//! divergences, tree depth and energy BFMI. Every reason for distrust is printed as a warning.
//!
//! Output: the summary table on stdout (warnings on stderr); with `--json`, one JSON document
//! on stdout (see [`run`]). `--plot FILE.svg` draws trace plots and marginal densities of the
//! first two reported quantities; `--csv FILE` writes every draw.

use std::path::Path;
use std::time::Instant;

use plotters::prelude::*;
use pn_mcmc::models::{self, Model, NAMES};
use pn_mcmc::{
    AdaptOptions, Control, EnsembleOptions, Fit, HmcOptions, MetricKind, NutsOptions, Progress,
    RunOptions, RwmOptions, Sampler, SliceOptions, sample_with_observer,
};
use serde_json::{Value, json};

use crate::common::{Common, Reporter, print_stdout};
use crate::error::{CliError, Result};

/// The sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerArg {
    /// NUTS with a diagonal metric from draws and gradients, re-estimated throughout warm-up
    /// (pn-mcmc's default; nutpie's scheme).
    Nuts,
    /// NUTS with a dense metric: for strongly correlated targets.
    NutsDense,
    /// NUTS with Stan's warm-up exactly: windowed diagonal metric from the draws' variances.
    NutsStan,
    /// Static HMC (20 leapfrog steps, jittered step size).
    Hmc,
    /// Adaptive random-walk Metropolis (Haario).
    Rwm,
    /// Coordinate-wise slice sampling with stepping out.
    Slice,
    /// Affine-invariant ensemble sampler (stretch move); walkers are reported as chains.
    Ensemble,
}

/// Arguments of `pn mcmc`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
    pn mcmc\n  \
    pn mcmc --model banana --target-accept 0.95 --plot banana.svg\n  \
    pn mcmc --model corr10 --sampler nuts-dense --json\n  \
    pn mcmc --list")]
pub struct McmcArgs {
    /// The model (see --list).
    #[arg(long, value_name = "NAME", default_value = "eight-schools")]
    pub model: String,

    /// The sampler.
    #[arg(long, value_enum, default_value_t = SamplerArg::Nuts)]
    pub sampler: SamplerArg,

    /// Chains, run in parallel (for the ensemble sampler: independent ensembles).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub chains: usize,

    /// Kept draws per chain.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub draws: usize,

    /// Warm-up iterations per chain (adaptation; discarded).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub warmup: usize,

    /// Target acceptance statistic of the step-size adaptation (NUTS/HMC), in (0, 1).
    #[arg(long, value_name = "DELTA", default_value_t = 0.8)]
    pub target_accept: f64,

    /// Maximum NUTS tree depth.
    #[arg(long, value_name = "D", default_value_t = 10)]
    pub max_depth: usize,

    /// Write every draw (and its sampler statistics) as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<std::path::PathBuf>,

    /// List the models of the catalogue and exit.
    #[arg(long)]
    pub list: bool,

    #[command(flatten)]
    pub common: Common,
}

fn invalid(arg: &'static str, reason: impl Into<String>) -> CliError {
    CliError::InvalidArgument {
        arg,
        reason: reason.into(),
    }
}

/// A pn-mcmc error as a CLI error (core errors keep their type).
pub(crate) fn mcmc_error(e: pn_mcmc::Error) -> CliError {
    match e {
        pn_mcmc::Error::Core(c) => CliError::Core(c),
        other => CliError::Mcmc(other),
    }
}

impl SamplerArg {
    fn sampler(self, args: &McmcArgs) -> Sampler {
        let nuts = NutsOptions::default()
            .max_depth(args.max_depth)
            .target_accept(args.target_accept);
        match self {
            Self::Nuts => Sampler::Nuts(nuts),
            Self::NutsDense => Sampler::Nuts(nuts.metric(MetricKind::Dense)),
            Self::NutsStan => Sampler::Nuts(
                NutsOptions::default()
                    .max_depth(args.max_depth)
                    .adapt(AdaptOptions::stan())
                    .target_accept(args.target_accept),
            ),
            Self::Hmc => {
                let o = HmcOptions::default();
                let adapt = o.adapt.clone().target_accept(args.target_accept);
                Sampler::Hmc(o.adapt(adapt))
            }
            Self::Rwm => Sampler::Rwm(RwmOptions::default()),
            Self::Slice => Sampler::Slice(SliceOptions::default()),
            Self::Ensemble => Sampler::Ensemble(EnsembleOptions::default()),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Nuts => "nuts",
            Self::NutsDense => "nuts-dense",
            Self::NutsStan => "nuts-stan",
            Self::Hmc => "hmc",
            Self::Rwm => "rwm",
            Self::Slice => "slice",
            Self::Ensemble => "ensemble",
        }
    }
}

fn check(args: &McmcArgs) -> Result<Model> {
    let name = args.model.as_str();
    if !NAMES.contains(&name) {
        return Err(invalid(
            "--model",
            format!(
                "unknown model `{name}`; the models are: {} (see `pn mcmc --list`)",
                NAMES.join(", ")
            ),
        ));
    }
    for (arg, v) in [("--chains", args.chains), ("--draws", args.draws)] {
        if v == 0 {
            return Err(invalid(arg, "must be at least 1"));
        }
    }
    if args.draws < 4 {
        return Err(invalid(
            "--draws",
            "at least 4 draws per chain are needed for the diagnostics",
        ));
    }
    if !(args.target_accept > 0.0 && args.target_accept < 1.0) {
        return Err(invalid(
            "--target-accept",
            format!("{} must be in (0, 1)", args.target_accept),
        ));
    }
    if args.max_depth == 0 || args.max_depth > 20 {
        return Err(invalid(
            "--max-depth",
            format!("{} must be in 1..=20", args.max_depth),
        ));
    }
    if let Some(p) = &args.csv
        && p.is_dir()
    {
        return Err(invalid(
            "--csv",
            format!("`{}` is a directory", p.display()),
        ));
    }
    args.common.plot_path()?;
    models::model(name).map_err(mcmc_error)
}

/// `pn mcmc --list`.
fn list(common: &Common) -> Result<()> {
    let all: Vec<Model> = NAMES.iter().filter_map(|n| models::model(n).ok()).collect();
    if common.json {
        let v: Vec<Value> = all
            .iter()
            .map(|m| {
                json!({"name": m.name, "dim": m.target.dim(), "known_truth": m.truth.is_some(),
                       "hard": m.hard, "description": m.description})
            })
            .collect();
        return common.emit_json(&json!({ "models": v }));
    }
    let mut out = format!(
        "{:<14} {:>4}  {:<6} {:<5} {}\n",
        "model", "dim", "truth", "hard", "description"
    );
    for m in &all {
        out.push_str(&format!(
            "{:<14} {:>4}  {:<6} {:<5} {}\n",
            m.name,
            m.target.dim(),
            if m.truth.is_some() { "yes" } else { "-" },
            if m.hard { "yes" } else { "-" },
            m.description
        ));
    }
    print_stdout(out.trim_end())
}

/// Samples `model` with a progress bar over all chains' iterations (hidden with --json or when
/// stderr is not a terminal).
pub(crate) fn sample_with_progress(
    reporter: &mut Reporter,
    model: &Model,
    sampler: &Sampler,
    run: &RunOptions,
) -> Result<Fit> {
    let total = (run.chains * (run.warmup + run.draws * run.thin)) as u64;
    let bar = reporter.progress(total, "sampling");
    let observer = |p: &Progress| {
        bar.inc(1);
        if p.iteration == 1 || p.iteration.is_multiple_of(200) {
            bar.set_message(if p.warmup { "warm-up" } else { "sampling" });
        }
        Control::Continue
    };
    let fit = sample_with_observer(&model.target, sampler, run, &observer).map_err(mcmc_error)?;
    reporter.finish();
    Ok(fit)
}

/// Run `pn mcmc`.
///
/// The JSON document (`--json`) has `model`, `description`, `dim`, `sampler`, `chains`,
/// `draws`, `warmup`, `seed`, `seconds`, `summary` (per quantity: `name`, `mean`, `sd`,
/// `hdi_low`/`hdi_high` (94 %), `q5`, `median`, `q95`, `mcse_quantiles` (of those three),
/// `mcse_mean`, `mcse_sd`, `ess_bulk`,
/// `ess_tail`, `r_hat`), `diagnostics` (`divergences`, `max_depth_hits`, `unstable_steps` and
/// `leapfrog_steps` (steps after warm-up past the leapfrog's stability limit, of all), `nan_logp`,
/// `bfmi` per chain, `grad_evals`, `logp_evals`, `mean_accept`, `step_size` per chain),
/// `warnings` (sentences; empty when nothing was found), `trustworthy` (no warnings), and
/// for models with a known answer `truth` (`mean`, `sd`) with `z_mean` = (mean − truth)/mcse
/// and `sd_rel_error` per quantity.
pub fn run(args: &McmcArgs) -> Result<()> {
    let common = &args.common;
    if args.list {
        return list(common);
    }
    let model = check(args)?;
    let mut reporter = common.reporter();
    let sampler = args.sampler.sampler(args);
    let run = RunOptions::default()
        .chains(args.chains)
        .draws(args.draws)
        .warmup(args.warmup)
        .seed(common.seed);
    reporter.say(format!(
        "pn mcmc: {} ({}), {} × ({} warm-up + {} draws), seed {}",
        model.name,
        args.sampler.name(),
        args.chains,
        args.warmup,
        args.draws,
        common.seed
    ));
    let start = Instant::now();
    let fit = sample_with_progress(&mut reporter, &model, &sampler, &run)?;
    let seconds = start.elapsed().as_secs_f64();
    let report = model.report(&fit).map_err(mcmc_error)?;
    let summary = report.summary();

    if let Some(path) = &args.csv {
        let file = std::fs::File::create(path).map_err(|source| CliError::Io {
            action: "create",
            path: path.clone(),
            source,
        })?;
        report
            .write_csv(std::io::BufWriter::new(file))
            .map_err(|e| CliError::Io {
                action: "write",
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        reporter.say(format!("wrote {}", path.display()));
    }
    if let Some(path) = common.plot_path()? {
        let idx: Vec<usize> = (0..report.dim().min(2)).collect();
        let title = format!(
            "{} by {}: traces and marginal densities",
            model.name,
            args.sampler.name()
        );
        trace_and_density(path, &report, &idx, model.truth.as_ref(), &title)?;
        reporter.say(format!("wrote {}", path.display()));
    }

    let truth = model.truth.as_ref().map(|t| {
        let z: Vec<f64> = summary
            .rows
            .iter()
            .zip(&t.mean)
            .map(|(r, m)| (r.mean - m) / r.mcse_mean)
            .collect();
        let rel: Vec<f64> = summary
            .rows
            .iter()
            .zip(&t.sd)
            .map(|(r, s)| r.sd / s - 1.0)
            .collect();
        json!({"mean": t.mean, "sd": t.sd, "z_mean": z, "sd_rel_error": rel})
    });
    if common.json {
        let doc = json!({
            "model": model.name,
            "description": model.description,
            "dim": model.target.dim(),
            "sampler": args.sampler.name(),
            "chains": args.chains,
            "draws": args.draws,
            "warmup": args.warmup,
            "seed": common.seed,
            "seconds": seconds,
            "summary": summary.rows,
            "diagnostics": summary.diagnostics,
            "warnings": summary.warnings,
            "trustworthy": summary.warnings.is_empty(),
            "truth": truth,
        });
        return common.emit_json(&doc);
    }
    reporter.say(format!("{:.2} s; {}", seconds, model.description));
    let mut text = summary.to_string();
    // Warnings go to stderr (they are also in the table's text for logs).
    let table: String = text
        .lines()
        .filter(|l| !l.starts_with("WARNING"))
        .collect::<Vec<_>>()
        .join("\n");
    text = table;
    print_stdout(&text)?;
    if summary.warnings.is_empty() {
        reporter.say("no warnings: R-hat ≤ 1.01, ESS ≥ 100 per chain, no divergences");
    }
    for w in &summary.warnings {
        reporter.say(format!("WARNING: {w}"));
    }
    Ok(())
}

/// Colours of the chains (matplotlib's first six).
const CHAINS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Gaussian kernel density estimate (Silverman's bandwidth) of `x` on `grid`.
fn kde(x: &[f64], grid: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let h = (1.06 * sd * n.powf(-0.2)).max(1e-12);
    let c = 1.0 / (n * h * (2.0 * std::f64::consts::PI).sqrt());
    grid.iter()
        .map(|g| {
            c * x
                .iter()
                .map(|v| (-0.5 * ((g - v) / h).powi(2)).exp())
                .sum::<f64>()
        })
        .collect()
}

/// Trace plots (left) and marginal densities (right) of the quantities `idx` of `fit`, with the
/// true normal density where the truth is known and Gaussian (dashed).
pub(crate) fn trace_and_density(
    path: &Path,
    fit: &Fit,
    idx: &[usize],
    truth: Option<&models::Truth>,
    title: &str,
) -> Result<()> {
    draw(path, fit, idx, truth, title).map_err(|message| CliError::Plot {
        path: path.to_path_buf(),
        message,
    })
}

fn draw(
    path: &Path,
    fit: &Fit,
    idx: &[usize],
    truth: Option<&models::Truth>,
    title: &str,
) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let rows = idx.len().max(1);
    let root = SVGBackend::new(path, (900, 300 * rows as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
    let areas = root.split_evenly((rows, 2));
    let (m, n, _) = fit.draws.dim();
    // Thin the traces to at most 500 points per chain (the SVG stays small).
    let step = n.div_ceil(500).max(1);
    for (r, &i) in idx.iter().enumerate() {
        let x = fit.param(i);
        let name = &fit.names[i];
        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = 0.05 * (hi - lo).max(1e-12);
        let (lo, hi) = (lo - pad, hi + pad);
        let mut trace = ChartBuilder::on(&areas[2 * r])
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .caption(format!("trace of {name} ({m} chains)"), ("sans-serif", 16))
            .build_cartesian_2d(0f64..n as f64, lo..hi)
            .map_err(err)?;
        trace
            .configure_mesh()
            .x_desc("draw")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for c in 0..m.min(CHAINS.len()) {
            let pts = (0..n).step_by(step).map(|t| (t as f64, x[[c, t]]));
            trace
                .draw_series(LineSeries::new(pts, CHAINS[c].mix(0.8).stroke_width(1)))
                .map_err(err)?;
        }
        let grid: Vec<f64> = (0..200)
            .map(|k| lo + (hi - lo) * k as f64 / 199.0)
            .collect();
        let all: Vec<f64> = x.iter().copied().collect();
        let dens = kde(&all, &grid);
        let true_dens: Option<Vec<f64>> = truth.map(|t| {
            let (mu, s) = (t.mean[i], t.sd[i]);
            grid.iter()
                .map(|g| {
                    (-0.5 * ((g - mu) / s).powi(2)).exp()
                        / (s * (2.0 * std::f64::consts::PI).sqrt())
                })
                .collect()
        });
        let top = dens
            .iter()
            .chain(true_dens.iter().flatten())
            .copied()
            .fold(0.0, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&areas[2 * r + 1])
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .caption(format!("marginal density of {name}"), ("sans-serif", 16))
            .build_cartesian_2d(lo..hi, 0.0..top.max(1e-12))
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let fill: Vec<(f64, f64)> = grid
            .iter()
            .copied()
            .zip(dens.iter().copied())
            .chain([(hi, 0.0), (lo, 0.0)])
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                fill,
                CHAINS[0].mix(0.2).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                grid.iter().copied().zip(dens.iter().copied()),
                CHAINS[0].stroke_width(2),
            ))
            .map_err(err)?
            .label("kernel density of all draws")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], CHAINS[0].stroke_width(2)));
        if let Some(td) = true_dens {
            // Only meaningful where the truth is Gaussian; it is drawn as "normal with the true
            // mean and sd" and labelled so.
            chart
                .draw_series(DashedLineSeries::new(
                    grid.iter().copied().zip(td),
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(err)?
                .label("normal with the true mean and sd")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(1)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

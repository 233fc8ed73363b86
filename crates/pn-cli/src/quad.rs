//! `pn quad`: integrate a test integrand with a closed-form answer by Bayesian quadrature (or
//! a classical rule) and compare the belief with the truth.
//!
//! The catalogue: Genz's six families on `[0, 1]ᵈ` (d = 1…5, random instances drawn from
//! `--seed`) and a Gaussian integrand against a correlated Gaussian measure. Bayesian quadrature
//! returns a Gaussian belief `N(m, s²)` over the integral; the command prints `m ± s`, the true
//! value, the error and `|error| / s`.
//!
//! Output: a summary on stderr and one line `estimate std truth error` on stdout; with `--json`,
//! one JSON document on stdout (see [`run`]). `--plot FILE.svg` draws the absolute error and the
//! reported standard deviation against the number of evaluations, with Monte Carlo and
//! scrambled-Halton QMC errors at the same numbers for comparison.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView1};
use plotters::prelude::*;
use pn_quad::genz::{GaussianIntegrand, GenzFamily};
use pn_quad::rules::{gauss_tensor, monte_carlo, quasi_monte_carlo};
use pn_quad::{
    Acquisition, Design, GaussianMeasure, MaternOrder, Measure, QuadKernel, QuadOptions, integrate,
};
use serde_json::{Value, json};

use crate::common::{Common, ensure_dir, print_stdout, rng};
use crate::error::{CliError, Result};

/// How the integral is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Bayesian quadrature, nodes by integral-variance reduction (default).
    Bq,
    /// Bayesian quadrature, nodes by uncertainty sampling.
    BqUs,
    /// Bayesian quadrature, nodes by mutual information.
    BqMi,
    /// Bayesian quadrature on scrambled-Halton nodes (non-adaptive).
    BqHalton,
    /// Monte Carlo (reported std = standard error).
    Mc,
    /// Randomised QMC: scrambled Halton.
    Qmc,
    /// Tensor Gauss–Legendre (boxes) / Gauss–Hermite (Gaussian measures), ⌊budget^{1/d}⌋ per
    /// dimension.
    Gauss,
}

impl MethodArg {
    fn name(self) -> &'static str {
        match self {
            Self::Bq => "bq",
            Self::BqUs => "bq-us",
            Self::BqMi => "bq-mi",
            Self::BqHalton => "bq-halton",
            Self::Mc => "mc",
            Self::Qmc => "qmc",
            Self::Gauss => "gauss",
        }
    }

    fn design(self) -> Option<Design> {
        match self {
            Self::Bq => Some(Design::Adaptive(Acquisition::IntegralVarianceReduction)),
            Self::BqUs => Some(Design::Adaptive(Acquisition::UncertaintySampling)),
            Self::BqMi => Some(Design::Adaptive(Acquisition::MutualInformation)),
            Self::BqHalton => Some(Design::Halton),
            _ => None,
        }
    }
}

/// The prior kernel of Bayesian quadrature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelArg {
    /// Product Matérn-5/2 on boxes, squared exponential against Gaussian measures.
    Auto,
    /// Squared exponential (ARD).
    Se,
    /// Product Matérn-1/2.
    Matern12,
    /// Product Matérn-3/2.
    Matern32,
    /// Product Matérn-5/2.
    Matern52,
}

/// Arguments of `pn quad`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
    pn quad\n  \
    pn quad --family oscillatory --dim 3 --budget 128 --plot osc.svg\n  \
    pn quad --family gaussian --dim 1 --method bq-halton --kernel se --json\n  \
    pn quad --family gaussian-measure --dim 2 --tol 1e-6\n  \
    pn quad --list")]
pub struct QuadArgs {
    /// The integrand family (see --list).
    #[arg(long, value_name = "NAME", default_value = "gaussian")]
    pub family: String,

    /// Dimension d (1 to 5).
    #[arg(long, value_name = "D", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=5))]
    pub dim: u16,

    /// How to integrate.
    #[arg(long, value_enum, default_value_t = MethodArg::Bq)]
    pub method: MethodArg,

    /// Prior kernel of Bayesian quadrature.
    #[arg(long, value_enum, default_value_t = KernelArg::Auto)]
    pub kernel: KernelArg,

    /// Maximal number of integrand evaluations.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub budget: u32,

    /// Stop Bayesian quadrature once the integral's standard deviation is below TOL.
    #[arg(long, value_name = "TOL", allow_hyphen_values = true)]
    pub tol: Option<f64>,

    /// Nodes per adaptive round of Bayesian quadrature.
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: u32,

    /// Total difficulty Σ aₖ of the Genz instance [default: the family's].
    #[arg(long, value_name = "A", allow_hyphen_values = true)]
    pub difficulty: Option<f64>,

    /// List the integrand families and methods, then exit.
    #[arg(long)]
    pub list: bool,

    #[command(flatten)]
    pub common: Common,
}

/// A boxed integrand.
pub(crate) type Integrand = Box<dyn Fn(ArrayView1<'_, f64>) -> f64>;

/// A catalogue problem: integrand, measure, truth.
pub(crate) struct Problem {
    pub name: String,
    pub measure: Measure,
    pub truth: f64,
    pub f: Integrand,
    pub params: Value,
}

/// Families of the catalogue besides Genz's.
const EXTRA: [(&str, &str); 1] = [(
    "gaussian-measure",
    "exp(−½ (x − c)ᵀB⁻¹(x − c)) against N(μ, Σ) with correlated Σ",
)];

fn bad(arg: &'static str, reason: String) -> CliError {
    CliError::InvalidArgument { arg, reason }
}

/// Build the problem `family` in `d` dimensions from `seed`.
pub(crate) fn problem(
    family: &str,
    d: usize,
    difficulty: Option<f64>,
    seed: u64,
) -> Result<Problem> {
    let mut r = rng(seed);
    if let Some(fam) = GenzFamily::from_name(family) {
        let h = difficulty.unwrap_or_else(|| fam.default_difficulty(d));
        let p = fam
            .random(d, h, &mut r)
            .map_err(|e| bad("--difficulty", e.to_string()))?;
        let truth = p.integral();
        let params = json!({"a": p.a, "u": p.u});
        let measure = p.measure();
        return Ok(Problem {
            name: fam.name().into(),
            measure,
            truth,
            f: Box::new(move |x| p.eval(x)),
            params,
        });
    }
    if family == "gaussian-measure" {
        // Σ with correlation 0.5 between neighbours, unit variances; B = 0.5 I; c = 1/2.
        let mut sigma = Array2::eye(d);
        for i in 0..d.saturating_sub(1) {
            sigma[[i, i + 1]] = 0.5;
            sigma[[i + 1, i]] = 0.5;
        }
        let mean = Array1::zeros(d);
        let g = GaussianMeasure::new(mean, sigma).map_err(|e| bad("--dim", e.to_string()))?;
        let c = Array1::from_elem(d, 0.5);
        let b = Array2::eye(d) * 0.5;
        let gi =
            GaussianIntegrand::new(c.clone(), b, g).map_err(|e| bad("--dim", e.to_string()))?;
        let truth = gi.integral();
        let measure = gi.measure();
        return Ok(Problem {
            name: family.into(),
            measure,
            truth,
            f: Box::new(move |x| gi.eval(x)),
            params: json!({"centre": c.to_vec(), "width": 0.5, "correlation": 0.5}),
        });
    }
    Err(bad(
        "--family",
        format!("unknown family `{family}`; see `pn quad --list`"),
    ))
}

fn kernel(arg: KernelArg, measure: &Measure) -> Option<QuadKernel> {
    let d = measure.dim();
    let ls = match measure {
        Measure::Lebesgue(b) => (&b.upper() - &b.lower()).mapv(|w| 0.25 * w).to_vec(),
        Measure::Gaussian(g) => g.cov().diag().mapv(f64::sqrt).to_vec(),
        _ => vec![1.0; d],
    };
    let k = match arg {
        KernelArg::Auto => return None,
        KernelArg::Se => QuadKernel::squared_exponential(ls, 1.0),
        KernelArg::Matern12 => QuadKernel::product_matern(MaternOrder::Half, ls, 1.0),
        KernelArg::Matern32 => QuadKernel::product_matern(MaternOrder::ThreeHalves, ls, 1.0),
        KernelArg::Matern52 => QuadKernel::product_matern(MaternOrder::FiveHalves, ls, 1.0),
    };
    k.ok()
}

/// The outcome of one method on one problem.
pub(crate) struct Outcome {
    pub estimate: f64,
    pub std: Option<f64>,
    pub n_evals: usize,
    /// `(n, mean, std)` per round (Bayesian quadrature) or the single point.
    pub history: Vec<(usize, f64, Option<f64>)>,
    pub extra: Value,
}

/// pn-quad's errors: pn-core's pass through, the others keep pn-quad's type.
pub(crate) fn quad_error(e: pn_quad::Error) -> CliError {
    match e {
        pn_quad::Error::Core(c) => CliError::Core(c),
        other => CliError::Quad(other),
    }
}

/// Run `method` on `p` with `budget` evaluations.
pub(crate) fn solve(
    p: &Problem,
    method: MethodArg,
    kernel_arg: KernelArg,
    budget: usize,
    tol: Option<f64>,
    batch: usize,
    seed: u64,
) -> Result<Outcome> {
    let f = &p.f;
    if let Some(design) = method.design() {
        let mut opts = QuadOptions::default()
            .budget(budget)
            .design(design)
            .batch(batch)
            .seed(seed);
        if let Some(t) = tol {
            opts = opts.tol(t);
        }
        if let Some(k) = kernel(kernel_arg, &p.measure) {
            opts = opts.kernel(k);
        }
        let res = integrate(|x| f(x), &p.measure, &opts).map_err(quad_error)?;
        let k = &res.posterior.kernel;
        let dg = &res.posterior.diagnostics;
        let extra = json!({
            "stop": format!("{:?}", res.stop).to_lowercase(),
            "kernel": {"name": k.name(), "lengthscales": k.lengthscales(), "outputscale": k.outputscale()},
            "diagnostics": {
                "kept_nodes": dg.kept.len(),
                "pivoted": dg.pivoted,
                "min_rel_pivot": dg.min_rel_pivot,
                "variance_floor": dg.variance_floor,
                "variance_clamped": dg.clamped,
                "mean_rounding": dg.mean_rounding,
            },
        });
        return Ok(Outcome {
            estimate: res.belief.mean,
            std: Some(res.belief.std()),
            n_evals: res.posterior.nodes.nrows(),
            history: res
                .history
                .iter()
                .map(|&(n, m, s)| (n, m, Some(s)))
                .collect(),
            extra,
        });
    }
    let mut r = rng(seed);
    let est = match method {
        MethodArg::Mc => monte_carlo(|x| f(x), &p.measure, budget, &mut r),
        MethodArg::Qmc => quasi_monte_carlo(|x| f(x), &p.measure, budget, &mut r),
        _ => {
            let d = p.measure.dim() as f64;
            let per = ((budget as f64).powf(1.0 / d) + 1e-9).floor().max(1.0) as usize;
            gauss_tensor(|x| f(x), &p.measure, per)
        }
    }
    .map_err(quad_error)?;
    let n = est.nodes.nrows();
    Ok(Outcome {
        estimate: est.value,
        std: est.std_error,
        n_evals: n,
        history: vec![(n, est.value, est.std_error)],
        extra: json!({}),
    })
}

fn list() -> Result<()> {
    let mut s = String::from("integrand families (pn quad --family NAME, --dim 1..5):\n");
    for fam in GenzFamily::ALL {
        s.push_str(&format!(
            "  {:<17} Genz {} on [0,1]^d, default difficulty Σa = {:.2}·d-scaled{}\n",
            fam.name(),
            fam.name(),
            fam.default_difficulty(1),
            if fam.is_smooth() { "" } else { " (not smooth)" }
        ));
    }
    for (name, what) in EXTRA {
        s.push_str(&format!("  {name:<17} {what}\n"));
    }
    s.push_str("methods (--method): bq (adaptive, integral-variance reduction), bq-us (uncertainty sampling), bq-mi (mutual information), bq-halton, mc, qmc (scrambled Halton), gauss (tensor Gauss-Legendre/Hermite)\n");
    s.push_str("kernels (--kernel): auto, se, matern12, matern32, matern52");
    print_stdout(&s)
}

/// Run `pn quad`.
///
/// The JSON document (`--json`) has `family`, `dim`, `method`, `params` (the instance),
/// `budget`, `n_evals`, `estimate`, `std` (null for rules without one), `truth`, `error`,
/// `z` (error / std), `inside_95`, `seconds`, `history` (per round: `n`, `estimate`, `std`,
/// `error`) and, for Bayesian quadrature, `stop`, `kernel` (fitted hyperparameters) and
/// `diagnostics` (kept nodes, pivoting, variance floor).
pub fn run(args: &QuadArgs) -> Result<()> {
    if args.list {
        return list();
    }
    let common = &args.common;
    let plot_path = common.plot_path()?;
    if let Some(t) = args.tol
        && !(t.is_finite() && t > 0.0)
    {
        return Err(bad("--tol", format!("must be finite and > 0, got {t}")));
    }
    if let Some(a) = args.difficulty
        && !(a.is_finite() && a > 0.0)
    {
        return Err(bad(
            "--difficulty",
            format!("must be finite and > 0, got {a}"),
        ));
    }
    if let Some(p) = plot_path {
        ensure_dir(p.parent().unwrap_or(Path::new("")))?;
    }
    let reporter = common.reporter();
    let d = args.dim as usize;
    let p = problem(&args.family, d, args.difficulty, common.seed)?;
    reporter.say(format!(
        "pn quad: {} in d = {d}, method {}, budget {}, seed {}",
        p.name,
        args.method.name(),
        args.budget,
        common.seed
    ));
    let t0 = Instant::now();
    let out = solve(
        &p,
        args.method,
        args.kernel,
        args.budget as usize,
        args.tol,
        args.batch as usize,
        common.seed,
    )?;
    let seconds = t0.elapsed().as_secs_f64();
    let err = out.estimate - p.truth;
    let z = out.std.map(|s| err / s);
    let inside = out.std.map(|s| err.abs() <= 1.959_963_985 * s);
    match out.std {
        Some(s) => reporter.say(format!(
            "  estimate {:.10e} ± {:.2e}   truth {:.10e}   error {:+.2e}   |error|/std {:.2}   ({} evaluations, {:.3} s)",
            out.estimate,
            s,
            p.truth,
            err,
            err.abs() / s,
            out.n_evals,
            seconds
        )),
        None => reporter.say(format!(
            "  estimate {:.10e}   truth {:.10e}   error {:+.2e}   ({} evaluations, {:.3} s)",
            out.estimate, p.truth, err, out.n_evals, seconds
        )),
    }
    if let Some(path) = plot_path {
        convergence_plot(path, &p, args, &out, common.seed)?;
        reporter.say(format!("  wrote {}", path.display()));
    }
    if common.json {
        let mut doc = json!({
            "family": p.name,
            "dim": d,
            "method": args.method.name(),
            "params": p.params,
            "budget": args.budget,
            "n_evals": out.n_evals,
            "estimate": out.estimate,
            "std": out.std,
            "truth": p.truth,
            "error": err,
            "z": z,
            "inside_95": inside,
            "seconds": seconds,
            "history": out.history.iter().map(|&(n, m, s)| json!({"n": n, "estimate": m, "std": s, "error": m - p.truth})).collect::<Vec<_>>(),
        });
        if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, out.extra) {
            doc.extend(extra);
        }
        common.emit_json(&doc)?;
    } else {
        print_stdout(&format!(
            "{:.17e} {} {:.17e} {:.3e}",
            out.estimate,
            out.std.map_or("nan".to_string(), |s| format!("{s:.3e}")),
            p.truth,
            err
        ))?;
    }
    Ok(())
}

/// Error and reported std of the run against n, with MC and QMC errors at the same n.
fn convergence_plot(
    path: &Path,
    p: &Problem,
    args: &QuadArgs,
    out: &Outcome,
    seed: u64,
) -> Result<()> {
    let mut bq: Vec<(f64, f64, Option<f64>)> = out
        .history
        .iter()
        .map(|&(n, m, s)| (n as f64, (m - p.truth).abs(), s))
        .collect();
    if bq.len() == 1 {
        // A one-shot rule: run it at a ladder of budgets instead.
        bq.clear();
        for n in ladder(args.budget as usize) {
            let o = solve(p, args.method, args.kernel, n, None, 1, seed)?;
            bq.push((o.n_evals as f64, (o.estimate - p.truth).abs(), o.std));
        }
    }
    // Baselines at a ladder of budgets.
    let mut mc = vec![];
    let mut qmc = vec![];
    for n in ladder(args.budget as usize) {
        let o = solve(p, MethodArg::Mc, args.kernel, n, None, 1, seed)?;
        mc.push((n as f64, (o.estimate - p.truth).abs()));
        let o = solve(p, MethodArg::Qmc, args.kernel, n, None, 1, seed)?;
        qmc.push((n as f64, (o.estimate - p.truth).abs()));
    }
    let title = format!(
        "{} (d = {}), {}: |error| and reported std vs evaluations",
        p.name,
        p.measure.dim(),
        args.method.name()
    );
    let curves = vec![
        Curve {
            label: format!("{} |error|", args.method.name()),
            points: bq.iter().map(|&(n, e, _)| (n, e)).collect(),
            color: RGBColor(31, 119, 180),
            dashed: false,
        },
        Curve {
            label: format!("{} reported std", args.method.name()),
            points: bq
                .iter()
                .filter_map(|&(n, _, s)| s.map(|s| (n, s)))
                .collect(),
            color: RGBColor(31, 119, 180),
            dashed: true,
        },
        Curve {
            label: "Monte Carlo |error|".into(),
            points: mc,
            color: RGBColor(214, 39, 40),
            dashed: false,
        },
        Curve {
            label: "scrambled Halton |error|".into(),
            points: qmc,
            color: RGBColor(44, 160, 44),
            dashed: false,
        },
    ];
    loglog(path, &title, &curves)
}

/// Budgets 4, 8, 16, … up to and including `budget`.
pub(crate) fn ladder(budget: usize) -> Vec<usize> {
    let mut v: Vec<usize> = std::iter::successors(Some(4usize), |n| Some(n * 2))
        .take_while(|&n| n < budget)
        .collect();
    v.push(budget.max(1));
    v
}

/// One line of a log–log chart.
pub(crate) struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub dashed: bool,
}

/// Draw curves on log–log axes (non-positive values are clipped to the smallest positive one).
pub(crate) fn loglog(path: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    draw_loglog(path, title, curves).map_err(|message| CliError::Plot {
        path: path.to_path_buf(),
        message,
    })
}

fn draw_loglog(path: &Path, title: &str, curves: &[Curve]) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let all: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .collect();
    let pos_min = all
        .iter()
        .map(|p| p.1)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let floor = if pos_min.is_finite() { pos_min } else { 1e-16 };
    let ymin = all
        .iter()
        .map(|p| p.1.max(floor))
        .fold(f64::INFINITY, f64::min);
    let ymax = all.iter().map(|p| p.1.max(floor)).fold(0.0f64, f64::max);
    let xmin = all
        .iter()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let xmax = all.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let (ymin, ymax) = if ymin.is_finite() && ymax > ymin {
        (ymin / 2.0, ymax * 2.0)
    } else {
        (1e-16, 1.0)
    };
    let (xmin, xmax) = if xmax > xmin {
        (xmin, xmax)
    } else {
        (xmin, xmin * 2.0)
    };
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("integrand evaluations n")
        .y_desc("absolute error / std")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for c in curves {
        if c.points.is_empty() {
            continue;
        }
        let pts: Vec<(f64, f64)> = c.points.iter().map(|&(x, y)| (x, y.max(floor))).collect();
        let color = c.color;
        let style = color.stroke_width(2);
        let series = if c.dashed {
            chart.draw_series(std::iter::once(plotters::element::DashedPathElement::new(
                pts.clone(),
                6,
                4,
                style,
            )))
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))
        }
        .map_err(err)?;
        series.label(c.label.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
        if !c.dashed {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

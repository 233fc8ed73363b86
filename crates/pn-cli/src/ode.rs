//! `pn ode`: solve a test problem of pn-ode's catalogue with a probabilistic ODE solver.
//!
//! The solver (an ODE filter: EK0 or EK1 under an integrated-Wiener-process prior) returns a
//! Gaussian belief over the whole trajectory; this command reports its mean and standard
//! deviation at the solver's steps, or at the times given with `--at` (dense output).
//!
//! Output: a summary on stderr; with `--json`, one JSON document on stdout (see [`run`]);
//! without it, a table on stdout of the times given with `--at` (`t`, the means, the standard
//! deviations; one row per time).
//! `--plot FILE.svg` draws the belief (no figure is written without it).

use std::path::Path;
use std::time::Instant;

use ndarray::{Array1, Array2, Axis, s};
use pn_ode::problems::{NAMES, Problem, ProblemInfo, catalogue};
use pn_ode::{AutoDiff, MAX_TAYLOR_ORDER, Method, OdeFilter, OdeSolution, Options};
use serde_json::{Map, Value, json};

use crate::common::{Common, Reporter, ensure_dir, print_stdout};
use crate::error::{CliError, Result};
use crate::plot::{MAX_COMPONENTS, Trajectory, trajectory};

/// The linearisation of the vector field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Zeroth order (no Jacobian), Kronecker covariance: cheap, for non-stiff problems.
    Ek0,
    /// First order with the exact Jacobian, dense covariance: handles stiffness.
    Ek1,
    /// First order with the diagonal of the Jacobian, block-diagonal covariance (linear in d).
    DiagEk1,
}

impl MethodArg {
    /// The solver's method.
    fn method(self) -> Result<Method> {
        Ok(match self {
            Self::Ek0 => Method::Ek0,
            Self::Ek1 => Method::Ek1,
            Self::DiagEk1 => Method::DiagonalEk1,
        })
    }
}

/// Arguments of `pn ode`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
    pn ode\n  \
    pn ode --problem van-der-pol --param mu=1000 --rtol 1e-4 --plot vdp.svg\n  \
    pn ode --problem logistic --at 0.5,1,2 --json\n  \
    pn ode --list")]
pub struct OdeArgs {
    /// The test problem (see --list).
    #[arg(long, value_name = "NAME", default_value = "lotka-volterra")]
    pub problem: String,

    /// The linearisation: ek1 (exact Jacobian; for stiff problems), ek0 (no Jacobian).
    #[arg(long, value_enum, default_value_t = MethodArg::Ek1)]
    pub method: MethodArg,

    /// Order q of the integrated-Wiener-process prior [default: 3 for rtol ≥ 1e-4, 4 for
    /// ≥ 1e-7, 5 for ≥ 1e-10, else 6].
    #[arg(long, value_name = "Q",
          value_parser = clap::value_parser!(u16).range(1..=MAX_TAYLOR_ORDER as i64))]
    pub order: Option<u16>,

    /// Relative tolerance of the adaptive step control.
    #[arg(
        long,
        value_name = "RTOL",
        default_value = "1e-6",
        allow_hyphen_values = true
    )]
    pub rtol: f64,

    /// Absolute tolerance of the adaptive step control.
    #[arg(
        long,
        value_name = "ATOL",
        default_value = "1e-6",
        allow_hyphen_values = true
    )]
    pub atol: f64,

    /// Initial value, overriding the problem's (one number per component).
    #[arg(
        long,
        value_name = "A,B,…",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub y0: Option<Vec<f64>>,

    /// Time span, overriding the problem's.
    #[arg(
        long = "t-span",
        value_name = "T0,T1",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub t_span: Option<Vec<f64>>,

    /// Override a parameter of the problem by name, e.g. `--param mu=1000` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, f64)>,

    /// Report the belief at these times (dense output) instead of at the solver's steps.
    #[arg(
        long,
        value_name = "T1,T2,…",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub at: Option<Vec<f64>>,

    /// List the problems of the catalogue and exit.
    #[arg(long)]
    pub list: bool,

    #[command(flatten)]
    pub common: Common,
}

/// `NAME=VALUE` with a finite number.
fn parse_param(s: &str) -> std::result::Result<(String, f64), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not of the form NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{s}` has no parameter name before `=`"));
    }
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("the value of `{name}` (`{value}`) is not a number"))?;
    if !value.is_finite() {
        return Err(format!("the value of `{name}` must be finite"));
    }
    Ok((name.to_owned(), value))
}

/// Everything a solve needs, checked.
struct Setup {
    problem: Problem,
    info: ProblemInfo,
    t_span: (f64, f64),
    x0: Vec<f64>,
    /// Whether `t0` and `x0` are the catalogue's (so `Problem::exact` applies).
    default_start: bool,
    options: Options,
    method: &'static str,
}

fn invalid(arg: &'static str, reason: impl Into<String>) -> CliError {
    CliError::InvalidArgument {
        arg,
        reason: reason.into(),
    }
}

/// Check every argument and build the problem, before any work is done.
fn setup(args: &OdeArgs) -> Result<Setup> {
    let method = args.method.method()?;
    let name = args.problem.as_str();
    if !NAMES.contains(&name) {
        return Err(invalid(
            "--problem",
            format!(
                "unknown problem `{name}`; the problems are: {} (see `pn ode --list`)",
                NAMES.join(", ")
            ),
        ));
    }
    let defaults = Problem::by_name(name, &[])?;
    let known = defaults.param_names();
    for (p, _) in &args.params {
        if !known.contains(&p.as_str()) {
            let reason = if known.is_empty() {
                format!("`{p}`: the problem {name} has no parameters")
            } else {
                format!(
                    "`{p}` is not a parameter of {name}; its parameters are: {}",
                    known.join(", ")
                )
            };
            return Err(invalid("--param", reason));
        }
    }
    let params: Vec<(&str, f64)> = args.params.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let problem = Problem::by_name(name, &params).map_err(|e| invalid("--param", e.to_string()))?;
    let info = problem.info();

    let x0 = match &args.y0 {
        None => info.x0.clone(),
        Some(y0) => {
            if y0.len() != info.dim() {
                return Err(invalid(
                    "--y0",
                    format!(
                        "{name} has {} components, but {} value(s) were given",
                        info.dim(),
                        y0.len()
                    ),
                ));
            }
            if let Some(v) = y0.iter().find(|v| !v.is_finite()) {
                return Err(invalid("--y0", format!("{v} is not a finite number")));
            }
            y0.clone()
        }
    };
    let t_span = match args.t_span.as_deref() {
        None => (info.t0, info.t1),
        Some(&[t0, t1]) => {
            if !(t0.is_finite() && t1.is_finite()) {
                return Err(invalid("--t-span", "the times must be finite"));
            }
            if t1 <= t0 {
                return Err(invalid(
                    "--t-span",
                    format!("the end time must be after the start time, got {t0},{t1}"),
                ));
            }
            (t0, t1)
        }
        Some(other) => {
            return Err(invalid(
                "--t-span",
                format!("expected two times T0,T1, got {} value(s)", other.len()),
            ));
        }
    };
    for (arg, v) in [("--rtol", args.rtol), ("--atol", args.atol)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(invalid(arg, format!("{v}: must be a finite number ≥ 0")));
        }
    }
    if args.rtol == 0.0 && args.atol == 0.0 {
        return Err(invalid("--atol", "rtol and atol cannot both be 0"));
    }
    let inside = |t: f64| t.is_finite() && t >= t_span.0 && t <= t_span.1;
    if let Some(t) = args.at.iter().flatten().find(|&&t| !inside(t)) {
        return Err(invalid(
            "--at",
            format!("{t} is outside the time span [{}, {}]", t_span.0, t_span.1),
        ));
    }

    let mut options = Options::default()
        .method(method)
        .tolerances(args.rtol, args.atol);
    if let Some(q) = args.order {
        options = options.order(usize::from(q));
    }
    let default_start = t_span.0 == info.t0 && x0 == info.x0;
    Ok(Setup {
        problem,
        info,
        t_span,
        x0,
        default_start,
        options,
        method: method_name(method),
    })
}

/// The method as written on the command line.
pub(crate) fn method_name(method: Method) -> &'static str {
    match method {
        Method::Ek0 => "ek0",
        Method::DiagonalEk1 => "diag-ek1",
        Method::DenseEk0 => "dense-ek0",
        _ => "ek1",
    }
}

/// Solve with a progress bar over the time span (shown only on a terminal, never with --json).
pub(crate) fn solve_with_progress(
    reporter: &mut Reporter,
    problem: Problem,
    t_span: (f64, f64),
    x0: &[f64],
    options: Options,
) -> Result<OdeSolution> {
    let field = AutoDiff(problem);
    let x0 = Array1::from(x0.to_vec());
    let mut filter = OdeFilter::new(&field, t_span, x0.view(), options)?;
    const TICKS: u64 = 1000;
    let bar = reporter.progress(TICKS, "solving");
    let width = t_span.1 - t_span.0;
    while !filter.done() {
        let info = filter.step()?;
        let frac = ((info.t - t_span.0) / width).clamp(0.0, 1.0);
        bar.set_position((frac * TICKS as f64) as u64);
        bar.set_message(format!("t = {:.4}", info.t));
    }
    reporter.finish();
    Ok(filter.finish()?)
}

/// The exact solution through `x(t0) = x0` at `t`, for the problems with a closed form.
fn exact_solution(setup: &Setup, t: f64) -> Option<Vec<f64>> {
    if setup.default_start {
        return setup.problem.exact(t);
    }
    let (t0, x0) = (setup.t_span.0, &setup.x0);
    match &setup.problem {
        Problem::Logistic(p) => Some(vec![p.solution(t0, x0[0], t)]),
        Problem::Linear100(p) => Some(p.solution(t0, x0, t)),
        _ => None,
    }
}

/// Means and standard deviations (`times × d`) at `times` by dense output.
fn beliefs_at(sol: &OdeSolution, times: &[f64], d: usize) -> Result<(Array2<f64>, Array2<f64>)> {
    let mut mean = Array2::zeros((times.len(), d));
    let mut std = Array2::zeros((times.len(), d));
    for (k, &t) in times.iter().enumerate() {
        let b = sol.at(t)?;
        mean.row_mut(k).assign(&b.mean());
        std.row_mut(k).assign(&b.std());
    }
    Ok((mean, std))
}

/// A number with about 8 significant digits, without an exponent where that reads well.
pub(crate) fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-3..1e6).contains(&a) {
        let digits = if a == 0.0 {
            0
        } else {
            (7 - a.log10().floor() as i32).max(0) as usize
        };
        format!("{v:.digits$}")
    } else {
        format!("{v:.7e}")
    }
}

/// `pn ode --list`: the catalogue, as a table on stdout or one JSON document.
fn list(common: &Common) -> Result<()> {
    let cat = catalogue();
    if common.json {
        let problems: Vec<Value> = cat
            .iter()
            .map(|p| {
                let params: Map<String, Value> = p
                    .params
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), json!(v)))
                    .collect();
                let problem = Problem::by_name(p.name, &[]).ok();
                json!({
                    "name": p.name,
                    "dim": p.dim(),
                    "t_span": [p.t0, p.t1],
                    "x0": p.x0,
                    "params": params,
                    "stiff": p.stiff,
                    "exact_solution": problem.is_some_and(|q| q.exact(p.t0).is_some()),
                    "description": p.description,
                })
            })
            .collect();
        return common.emit_json(&json!({ "problems": problems }));
    }
    let mut out = format!(
        "{:<16} {:>4}  {:<16} {:<6} {}\n",
        "problem", "dim", "t-span", "stiff", "parameters (defaults)"
    );
    for p in &cat {
        let params = if p.params.is_empty() {
            "-".to_owned()
        } else {
            p.params
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push_str(&format!(
            "{:<16} {:>4}  {:<16} {:<6} {}\n",
            p.name,
            p.dim(),
            format!("[{}, {}]", p.t0, p.t1),
            if p.stiff { "yes" } else { "no" },
            params
        ));
    }
    out.push_str("\nOverride with --param NAME=VALUE, --y0 A,B,… and --t-span T0,T1.");
    print_stdout(&out)
}

/// Run `pn ode`.
///
/// The JSON document (`--json`) has `problem`, `description`, `dim`, `params` (name → value),
/// `t_span`, `y0`, `method`, `order`, `rtol`, `atol`, `output` (`"steps"` or `"at"`), `t` (the
/// output times), `mean` and `std` (one row per time, one entry per component), `final`
/// (`t`, `mean`, `std` at the end of the span), `stats` (`steps`, `rejected`, `f_evals`,
/// `jac_evals`), `plot` (the SVG written, or null) and, for problems with a closed-form
/// solution, `error_vs_exact` (the largest |mean − exact| over the output times and
/// components) and `exact_within_2sigma` (the fraction of those entries where
/// |mean − exact| ≤ 2σ).
pub fn run(args: &OdeArgs) -> Result<()> {
    let common = &args.common;
    if args.list {
        return list(common);
    }
    let plot_path = common.plot_path()?;
    let setup = setup(args)?;
    if let Some(p) = plot_path {
        ensure_dir(p.parent().unwrap_or(Path::new("")))?;
    }
    let mut reporter = common.reporter();
    let info = &setup.info;
    let d = info.dim();
    let (t0, t1) = setup.t_span;
    reporter.say(format!(
        "pn ode: {} ({d} equation{}) on [{t0}, {t1}]; {} with rtol {:e}, atol {:e}",
        info.name,
        if d == 1 { "" } else { "s" },
        setup.method.to_uppercase(),
        args.rtol,
        args.atol
    ));
    if info.stiff && setup.options.method == Method::Ek0 {
        reporter.say("      note: this problem is stiff; the EK1 (--method ek1) suits it better");
    }

    let start = Instant::now();
    let sol = solve_with_progress(
        &mut reporter,
        setup.problem,
        setup.t_span,
        &setup.x0,
        setup.options.clone(),
    )?;
    let elapsed = start.elapsed().as_secs_f64();
    let stats = sol.stats();
    let order = sol.order();

    let (output, times, mean, std) = match &args.at {
        Some(at) => {
            let (m, s) = beliefs_at(&sol, at, d)?;
            ("at", at.clone(), m, s)
        }
        None => ("steps", sol.times().to_vec(), sol.mean(), sol.std()),
    };
    let end = sol.final_belief()?;

    // Error against the closed form, where there is one.
    let mut error_vs_exact = None;
    if exact_solution(&setup, t0).is_some() {
        let mut max_err = 0.0f64;
        let mut covered = 0usize;
        for (k, &t) in times.iter().enumerate() {
            let exact = exact_solution(&setup, t).unwrap_or_default();
            for (i, x) in exact.iter().enumerate() {
                let e = (mean[[k, i]] - x).abs();
                max_err = max_err.max(e);
                covered += usize::from(e <= 2.0 * std[[k, i]]);
            }
        }
        error_vs_exact = Some((max_err, covered as f64 / (times.len() * d) as f64));
    }

    // Summary on stderr.
    reporter.say(format!(
        "      order {order}: {} steps ({} rejected), {} f evaluations, {} Jacobian evaluations, \
         {elapsed:.2} s",
        stats.steps, stats.rejected, stats.f_evals, stats.jac_evals
    ));
    let shown = d.min(MAX_COMPONENTS);
    let values: Vec<String> = (0..shown)
        .map(|i| format!("{} ± {:.1e}", fmt_value(end.mean()[i]), end.std()[i]))
        .collect();
    reporter.say(format!(
        "      x({t1}) = ({}{})   (mean ± σ)",
        values.join(", "),
        if d > shown {
            format!(", … {} more", d - shown)
        } else {
            String::new()
        }
    ));
    if let Some((e, cov)) = error_vs_exact {
        reporter.say(format!(
            "      max |mean − exact| = {e:.2e} over the {} output times; within ±2σ for {:.0}% \
             of the values",
            times.len(),
            100.0 * cov
        ));
    }

    if let Some(path) = plot_path {
        draw(path, &setup, &sol, order)?;
        reporter.say(format!("      wrote {}", path.display()));
    }

    if common.json {
        let params: Map<String, Value> = info
            .params
            .iter()
            .map(|(n, v)| ((*n).to_owned(), json!(v)))
            .collect();
        let mut doc = json!({
            "problem": info.name,
            "description": info.description,
            "dim": d,
            "params": params,
            "t_span": [t0, t1],
            "y0": setup.x0,
            "method": setup.method,
            "order": order,
            "rtol": args.rtol,
            "atol": args.atol,
            "output": output,
            "t": times,
            "mean": rows(&mean),
            "std": rows(&std),
            "final": {
                "t": t1,
                "mean": end.mean().to_vec(),
                "std": end.std().to_vec(),
            },
            "stats": stats,
            "plot": plot_path,
        });
        if let (Some((e, cov)), Some(map)) = (error_vs_exact, doc.as_object_mut()) {
            map.insert("error_vs_exact".into(), json!(e));
            map.insert("exact_within_2sigma".into(), json!(cov));
        }
        common.emit_json(&doc)?;
    } else if args.at.is_some() {
        // The values asked for, as a whitespace-separated table.
        let mut table = format!("#{:>15}", "t");
        for prefix in ["mean", "std"] {
            for i in 1..=d {
                table.push_str(&format!(" {:>16}", format!("{prefix}_x{i}")));
            }
        }
        for (k, t) in times.iter().enumerate() {
            table.push_str(&format!("\n{t:>16.9e}"));
            for v in mean.row(k).iter().chain(std.row(k).iter()) {
                table.push_str(&format!(" {v:>16.9e}"));
            }
        }
        print_stdout(&table)?;
    } else {
        reporter.say(format!(
            "      (--json for the belief at all {} steps, --at T1,T2,… for chosen times)",
            times.len()
        ));
    }
    Ok(())
}

/// The rows of a matrix as vectors (for JSON).
fn rows(a: &Array2<f64>) -> Vec<Vec<f64>> {
    a.axis_iter(Axis(0)).map(|r| r.to_vec()).collect()
}

/// Above this many state entries, `d (q + 1)`, dense output on a fine grid costs more than it
/// is worth for a figure, and the plot uses the solver's steps.
const DENSE_PLOT_MAX_STATE: usize = 60;
/// Points of the dense plotting grid.
const PLOT_POINTS: usize = 400;

/// The figure of `--plot`: the first components' means with ±2σ bands, and their σ (and the
/// error, with a closed form) on a log scale.
fn draw(path: &Path, setup: &Setup, sol: &OdeSolution, order: usize) -> Result<()> {
    let info = &setup.info;
    let d = info.dim();
    let k = d.min(MAX_COMPONENTS);
    let (t0, t1) = setup.t_span;
    let (grid, mean, std) = if d * (order + 1) <= DENSE_PLOT_MAX_STATE {
        let grid: Vec<f64> = Array1::linspace(t0, t1, PLOT_POINTS).to_vec();
        let (m, s) = beliefs_at(sol, &grid, d)?;
        (grid, m, s)
    } else {
        (sol.times().to_vec(), sol.mean(), sol.std())
    };
    let grid = Array1::from(grid);
    let mean = mean.slice(s![.., ..k]).to_owned();
    let std = std.slice(s![.., ..k]).to_owned();
    let names: Vec<String> = (1..=k).map(|i| format!("x{i}")).collect();

    let title = if d > k {
        format!(
            "{}: {} order {order} (components 1–{k} of {d})",
            info.name,
            setup.method.to_uppercase()
        )
    } else {
        format!(
            "{}: {} order {order}, rtol {:e}",
            info.name,
            setup.method.to_uppercase(),
            setup.options.rtol
        )
    };
    let exact: Option<Array2<f64>> = exact_solution(setup, t0).map(|_| {
        Array2::from_shape_fn((grid.len(), k), |(j, i)| {
            exact_solution(setup, grid[j]).map_or(f64::NAN, |x| x[i])
        })
    });
    let errors = exact.as_ref().map(|x| (&mean - x).mapv(f64::abs));
    let mut plot = Trajectory::new(&title, grid.view(), mean.view(), std.view(), names)
        .std_chart("posterior standard deviation σ (log scale); bands above are mean ± 2σ");
    if let (Some(x), Some(e)) = (&exact, &errors) {
        plot = plot
            .reference("exact solution", grid.view(), x.view())
            .errors("|mean − exact|", grid.view(), e.view());
    }
    trajectory(path, &plot)
}

//! Work–precision measurements for `benches/ode_wp.sh`: one JSON object per line (per problem,
//! method, order and tolerance) with the final error against the SciPy reference stored in
//! `crates/pn-ode/data/<problem>.json`, the steps and the median wall time of the solve.
//!
//! ```text
//! cargo run --release -p pn-ode --example wp_bench -- \
//!     [--problems lotka-volterra,hires] [--methods ek0,ek1,diag-ek1] [--orders 3,4,5] \
//!     [--tols 1e-4,1e-6,1e-8] [--atol-scale 1] [--reps 5] [--smooth] [--max-seconds 2]
//! ```
//!
//! Timing: one untimed warm-up solve, then `--reps` timed solves (at least 5), median reported
//! (`time_s`, also min and max). By default the solve is filter-only: smoothing off and
//! `save_at(vec![t1])`, the counterpart of a terminal-value solve; `--smooth` times the full
//! smoothing posterior instead (every step stored, `smooth(true)`, no `save_at`).
//! The error is `max_i |x_i − ref_i| / max(|ref_i|, floor)` with `floor` the reference file's
//! `relative_error_floor`. `--atol-scale s` sets `atol = s · rtol` (HIRES has components of
//! size 1e-3, so it gets `s = 1e-3`). A tolerance whose warm-up solve takes longer than
//! `--max-seconds` ends the sweep of that (method, order) after it is recorded.

use std::time::Instant;

use ndarray::Array1;
use pn_ode::problems::{FitzHughNagumo, Hires, LotkaVolterra, Pleiades, VanDerPol};
use pn_ode::{AutoDiff, Method, OdeFunction, Options, solve};
use serde_json::{Value, json};

struct Args {
    problems: Vec<String>,
    methods: Vec<String>,
    orders: Vec<usize>,
    tols: Vec<f64>,
    atol_scale: f64,
    reps: usize,
    smooth: bool,
    max_seconds: f64,
}

fn list<T: std::str::FromStr>(s: &str, what: &str) -> Vec<T> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.trim()
                .parse()
                .unwrap_or_else(|_| panic!("wp_bench: cannot parse {what} `{p}`"))
        })
        .collect()
}

fn parse_args() -> Args {
    let mut a = Args {
        problems: [
            "lotka-volterra",
            "fitzhugh-nagumo",
            "van-der-pol",
            "pleiades",
            "hires",
        ]
        .map(String::from)
        .to_vec(),
        methods: ["ek0", "ek1"].map(String::from).to_vec(),
        orders: vec![3, 4, 5],
        tols: vec![1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10],
        atol_scale: 1.0,
        reps: 5,
        smooth: false,
        max_seconds: 2.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| panic!("wp_bench: {flag} needs a value"))
        };
        match flag.as_str() {
            "--problems" => a.problems = list(&value(), "problem"),
            "--methods" => a.methods = list(&value(), "method"),
            "--orders" => a.orders = list(&value(), "order"),
            "--tols" => a.tols = list(&value(), "tolerance"),
            "--atol-scale" => a.atol_scale = list(&value(), "atol scale")[0],
            "--reps" => a.reps = list::<usize>(&value(), "reps")[0].max(5),
            "--max-seconds" => a.max_seconds = list(&value(), "seconds")[0],
            "--smooth" => a.smooth = true,
            other => panic!("wp_bench: unknown argument {other}"),
        }
    }
    a
}

/// The stored SciPy reference: `(t0, t1, x0, x(t1), relative_error_floor)`.
fn reference(name: &str) -> (f64, f64, Vec<f64>, Vec<f64>, f64) {
    let path = format!("{}/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("reference JSON");
    let vec = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("{path}: no {k}"))
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    (
        v["t0"].as_f64().expect("t0"),
        v["t1"].as_f64().expect("t1"),
        vec("x0"),
        vec("x_t1"),
        v["relative_error_floor"].as_f64().unwrap_or(1.0),
    )
}

fn method(name: &str) -> Method {
    match name {
        "ek0" => Method::Ek0,
        "ek1" => Method::Ek1,
        "diag-ek1" => Method::DiagonalEk1,
        other => panic!("wp_bench: unknown method {other} (ek0, ek1, diag-ek1)"),
    }
}

fn run<P: OdeFunction + Clone>(name: &str, p: P, a: &Args) {
    let (t0, t1, x0, exact, floor) = reference(name);
    let x0 = Array1::from(x0);
    let f = AutoDiff(p);
    for m in &a.methods {
        for &q in &a.orders {
            for &tol in &a.tols {
                let mut opts = Options::default()
                    .method(method(m))
                    .order(q)
                    .tolerances(tol, tol * a.atol_scale)
                    .smooth(a.smooth);
                if !a.smooth {
                    opts = opts.save_at(vec![t1]);
                }
                let once = || solve(&f, (t0, t1), x0.view(), opts.clone());
                let head = json!({
                    "tool": "pn", "problem": name, "method": m, "order": q,
                    "rtol": tol, "atol": tol * a.atol_scale, "smooth": a.smooth,
                });
                let start = Instant::now();
                let warm = once();
                let warm_s = start.elapsed().as_secs_f64();
                let sol = match warm {
                    Ok(sol) => sol,
                    Err(e) => {
                        let mut line = head.clone();
                        line["error"] = json!(e.to_string());
                        println!("{line}");
                        break;
                    }
                };
                let mut times = Vec::with_capacity(a.reps);
                for _ in 0..a.reps {
                    let start = Instant::now();
                    let s = once();
                    times.push(start.elapsed().as_secs_f64());
                    std::hint::black_box(s.ok());
                }
                times.sort_by(f64::total_cmp);
                let median = times[times.len() / 2];
                let mean = sol.final_belief().map(|b| b.mean().to_vec());
                let Ok(mean) = mean else {
                    let mut line = head.clone();
                    line["error"] = json!("no final belief");
                    println!("{line}");
                    break;
                };
                let err = mean
                    .iter()
                    .zip(&exact)
                    .map(|(x, r)| (x - r).abs() / r.abs().max(floor))
                    .fold(0.0f64, f64::max);
                let abs_err = mean
                    .iter()
                    .zip(&exact)
                    .map(|(x, r)| (x - r).abs())
                    .fold(0.0f64, f64::max);
                let st = sol.stats();
                let mut line = head;
                line["error_rel"] = json!(err);
                line["error_abs"] = json!(abs_err);
                line["steps"] = json!(st.steps);
                line["rejected"] = json!(st.rejected);
                line["f_evals"] = json!(st.f_evals);
                line["jac_evals"] = json!(st.jac_evals);
                line["time_s"] = json!(median);
                line["time_min_s"] = json!(times[0]);
                line["time_max_s"] = json!(times[times.len() - 1]);
                line["reps"] = json!(times.len());
                line["us_per_step"] = json!(median * 1e6 / st.steps.max(1) as f64);
                println!("{line}");
                if warm_s > a.max_seconds {
                    break;
                }
            }
        }
    }
}

fn main() {
    let a = parse_args();
    for name in &a.problems {
        match name.as_str() {
            "lotka-volterra" => run(name, LotkaVolterra::default(), &a),
            "fitzhugh-nagumo" => run(name, FitzHughNagumo::default(), &a),
            "van-der-pol" => run(name, VanDerPol::new(1.0), &a),
            "pleiades" => run(name, Pleiades::new(), &a),
            "hires" => run(name, Hires::new(), &a),
            other => panic!("wp_bench: unknown problem {other}"),
        }
    }
}

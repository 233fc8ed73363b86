//! Classical Rust ODE solvers on pn-ode's work–precision problems, for `benches/ode_wp.sh`:
//! diffsol's Tsitouras 5(4) (`tsit45`) and BDF, and ode_solvers' DOP853. Prints one JSON object
//! per line: final error against the SciPy reference in `crates/pn-ode/data/<problem>.json`
//! (same definition as pn's `wp_bench`), steps, and the median wall time of ≥ 5 timed solves after
//! one untimed warm-up.
//!
//! ```text
//! cargo run --release -- [--problems lotka-volterra,hires] [--solvers tsit45,bdf,dop853]
//!                        [--tols 1e-4,1e-8] [--atol-scale 1] [--reps 7]
//! ```
//!
//! Every solve ends exactly at `t1` (diffsol: `set_stop_time(t1)`; ode_solvers: sparse output,
//! i.e. the accepted steps themselves — its dense output is not used, see the notes in
//! docs/benchmarks.md), so the reported error is the integrator's own.

use std::time::Instant;

use diffsol::{NalgebraLU, NalgebraMat, OdeBuilder, OdeSolverMethod, OdeSolverStopReason, Vector};
use ode_solvers::dop_shared::{OutputType, System};
use ode_solvers::{Dop853, SVector};
use serde_json::{json, Value};

type Rhs = fn(&[f64], &mut [f64]);
type Jv = fn(&[f64], &[f64], &mut [f64]);

// ---------------------------------------------------------------- problems (as in pn_ode::problems)

fn lotka_volterra(x: &[f64], d: &mut [f64]) {
    let (a, b, c, dd) = (0.5, 0.05, 0.5, 0.05);
    d[0] = a * x[0] - b * x[0] * x[1];
    d[1] = -c * x[1] + dd * x[0] * x[1];
}
fn lotka_volterra_jv(x: &[f64], v: &[f64], d: &mut [f64]) {
    let (a, b, c, dd) = (0.5, 0.05, 0.5, 0.05);
    d[0] = (a - b * x[1]) * v[0] - b * x[0] * v[1];
    d[1] = dd * x[1] * v[0] + (-c + dd * x[0]) * v[1];
}

fn fitzhugh_nagumo(x: &[f64], d: &mut [f64]) {
    let (a, b, c) = (0.2, 0.2, 3.0);
    d[0] = c * (x[0] - x[0].powi(3) / 3.0 + x[1]);
    d[1] = -(x[0] - a + b * x[1]) / c;
}
fn fitzhugh_nagumo_jv(x: &[f64], v: &[f64], d: &mut [f64]) {
    let (b, c) = (0.2, 3.0);
    d[0] = c * ((1.0 - x[0] * x[0]) * v[0] + v[1]);
    d[1] = -(v[0] + b * v[1]) / c;
}

fn van_der_pol(x: &[f64], d: &mut [f64]) {
    let mu = 1.0;
    d[0] = x[1];
    d[1] = mu * ((1.0 - x[0] * x[0]) * x[1] - x[0]);
}
fn van_der_pol_jv(x: &[f64], v: &[f64], d: &mut [f64]) {
    let mu = 1.0;
    d[0] = v[1];
    d[1] = mu * ((-2.0 * x[0] * x[1] - 1.0) * v[0] + (1.0 - x[0] * x[0]) * v[1]);
}

fn pleiades(x: &[f64], d: &mut [f64]) {
    const N: usize = 7;
    d[..2 * N].copy_from_slice(&x[2 * N..]);
    for v in &mut d[2 * N..] {
        *v = 0.0;
    }
    for i in 0..N {
        let mi = (i + 1) as f64;
        for j in (i + 1)..N {
            let mj = (j + 1) as f64;
            let dx = x[j] - x[i];
            let dy = x[N + j] - x[N + i];
            let r2 = dx * dx + dy * dy;
            let inv_r3 = 1.0 / (r2 * r2.sqrt());
            let (fx, fy) = (dx * inv_r3, dy * inv_r3);
            d[2 * N + i] += fx * mj;
            d[3 * N + i] += fy * mj;
            d[2 * N + j] -= fx * mi;
            d[3 * N + j] -= fy * mi;
        }
    }
}
/// Jacobian–vector product of the Pleiades field by a central difference of the exact field
/// (only used by BDF, which needs a Jacobian; Tsit5 and DOP853 never call it).
fn pleiades_jv(x: &[f64], v: &[f64], d: &mut [f64]) {
    let eps = 1e-7;
    let xp: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + eps * b).collect();
    let xm: Vec<f64> = x.iter().zip(v).map(|(a, b)| a - eps * b).collect();
    let (mut fp, mut fm) = (vec![0.0; 28], vec![0.0; 28]);
    pleiades(&xp, &mut fp);
    pleiades(&xm, &mut fm);
    for i in 0..28 {
        d[i] = (fp[i] - fm[i]) / (2.0 * eps);
    }
}

fn hires(y: &[f64], d: &mut [f64]) {
    let r = 280.0 * y[5] * y[7];
    d[0] = -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007;
    d[1] = 1.71 * y[0] - 8.75 * y[1];
    d[2] = -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4];
    d[3] = 8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3];
    d[4] = -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6];
    d[5] = -r + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6];
    d[6] = r - 1.81 * y[6];
    d[7] = -r + 1.81 * y[6];
}
fn hires_jv(y: &[f64], v: &[f64], d: &mut [f64]) {
    let dr = 280.0 * (v[5] * y[7] + y[5] * v[7]);
    d[0] = -1.71 * v[0] + 0.43 * v[1] + 8.32 * v[2];
    d[1] = 1.71 * v[0] - 8.75 * v[1];
    d[2] = -10.03 * v[2] + 0.43 * v[3] + 0.035 * v[4];
    d[3] = 8.32 * v[1] + 1.71 * v[2] - 1.12 * v[3];
    d[4] = -1.745 * v[4] + 0.43 * v[5] + 0.43 * v[6];
    d[5] = -dr + 0.69 * v[3] + 1.71 * v[4] - 0.43 * v[5] + 0.69 * v[6];
    d[6] = dr - 1.81 * v[6];
    d[7] = -dr + 1.81 * v[6];
}

// ---------------------------------------------------------------- reference data

struct Reference {
    t0: f64,
    t1: f64,
    x0: Vec<f64>,
    x1: Vec<f64>,
    floor: f64,
}

fn reference(name: &str) -> Reference {
    let path = format!(
        "{}/../../crates/pn-ode/data/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("reference JSON");
    let vec = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("{path}: no {k}"))
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    Reference {
        t0: v["t0"].as_f64().expect("t0"),
        t1: v["t1"].as_f64().expect("t1"),
        x0: vec("x0"),
        x1: vec("x_t1"),
        floor: v["relative_error_floor"].as_f64().unwrap_or(1.0),
    }
}

fn errors(x: &[f64], r: &Reference) -> (f64, f64) {
    let rel = x
        .iter()
        .zip(&r.x1)
        .map(|(a, b)| (a - b).abs() / b.abs().max(r.floor))
        .fold(0.0, f64::max);
    let abs = x
        .iter()
        .zip(&r.x1)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    (rel, abs)
}

// ---------------------------------------------------------------- solvers

/// One solve: the end value and the number of accepted steps.
type Outcome = Result<(Vec<f64>, usize), String>;

fn diffsol_solve(solver: &str, f: Rhs, jv: Jv, r: &Reference, rtol: f64, atol: f64) -> Outcome {
    let n = r.x0.len();
    let x0 = r.x0.clone();
    let problem = OdeBuilder::<NalgebraMat<f64>>::new()
        .t0(r.t0)
        .rtol(rtol)
        .atol([atol])
        .rhs_implicit(
            move |x: &[f64], _p: &[f64], _t: f64, y: &mut [f64]| f(x, y),
            move |x: &[f64], _p: &[f64], _t: f64, v: &[f64], y: &mut [f64]| jv(x, v, y),
        )
        .init(
            move |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(&x0),
            n,
        )
        .build()
        .map_err(|e| e.to_string())?;
    macro_rules! drive {
        ($s:expr) => {{
            let mut s = $s.map_err(|e| e.to_string())?;
            s.set_stop_time(r.t1).map_err(|e| e.to_string())?;
            loop {
                match s.step().map_err(|e| e.to_string())? {
                    OdeSolverStopReason::TstopReached => break,
                    _ => {}
                }
            }
            let y = s.state().y.clone();
            let steps = s.get_statistics().number_of_steps;
            let end: Vec<f64> = (0..n).map(|i| y.get_index(i)).collect();
            Ok((end, steps))
        }};
    }
    match solver {
        "tsit45" => drive!(problem.tsit45()),
        "bdf" => drive!(problem.bdf::<NalgebraLU<f64>>()),
        other => Err(format!("unknown diffsol solver {other}")),
    }
}

struct OsSystem(Rhs);

impl<const N: usize> System<f64, SVector<f64, N>> for OsSystem {
    fn system(&self, _t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        (self.0)(y.as_slice(), dy.as_mut_slice());
    }
}

fn dop853_solve<const N: usize>(f: Rhs, r: &Reference, rtol: f64, atol: f64) -> Outcome {
    let y0 = SVector::<f64, N>::from_column_slice(&r.x0);
    // Defaults of Dop853::new, but sparse output (the accepted steps; the last one ends at t1).
    let mut s = Dop853::from_param(
        OsSystem(f),
        r.t0,
        r.t1,
        0.0,
        y0,
        rtol,
        atol,
        0.9,
        0.0,
        0.333,
        6.0,
        r.t1 - r.t0,
        0.0,
        1_000_000,
        1000,
        OutputType::Sparse,
    );
    let stats = s.integrate().map_err(|e| format!("{e:?}"))?;
    let (ts, ys) = s.results().get();
    let t_last = *ts.last().ok_or("no output")?;
    if (t_last - r.t1).abs() > 1e-12 * r.t1.abs().max(1.0) {
        return Err(format!("dop853 ended at t = {t_last}, not {}", r.t1));
    }
    let y = ys.last().ok_or("no output")?;
    Ok((y.as_slice().to_vec(), stats.accepted_steps as usize))
}

// ---------------------------------------------------------------- driver

fn list<T: std::str::FromStr>(s: &str) -> Vec<T> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.trim()
                .parse()
                .unwrap_or_else(|_| panic!("cannot parse `{p}`"))
        })
        .collect()
}

fn main() {
    let mut problems: Vec<String> = [
        "lotka-volterra",
        "fitzhugh-nagumo",
        "van-der-pol",
        "pleiades",
        "hires",
    ]
    .map(String::from)
    .to_vec();
    let mut solvers: Vec<String> = ["tsit45", "bdf", "dop853"].map(String::from).to_vec();
    let mut tols: Vec<f64> = vec![1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11];
    let mut atol_scale = 1.0;
    let mut reps = 7usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--problems" => problems = list(&v),
            "--solvers" => solvers = list(&v),
            "--tols" => tols = list(&v),
            "--atol-scale" => atol_scale = list(&v)[0],
            "--reps" => reps = list::<usize>(&v)[0].max(5),
            other => panic!("unknown argument {other}"),
        }
    }
    for name in &problems {
        let r = reference(name);
        let (f, jv): (Rhs, Jv) = match name.as_str() {
            "lotka-volterra" => (lotka_volterra, lotka_volterra_jv),
            "fitzhugh-nagumo" => (fitzhugh_nagumo, fitzhugh_nagumo_jv),
            "van-der-pol" => (van_der_pol, van_der_pol_jv),
            "pleiades" => (pleiades, pleiades_jv),
            "hires" => (hires, hires_jv),
            other => panic!("unknown problem {other}"),
        };
        for solver in &solvers {
            let (tool, method) = match solver.as_str() {
                "dop853" => ("ode_solvers", "dop853"),
                s => ("diffsol", s),
            };
            for &tol in &tols {
                let atol = tol * atol_scale;
                let once = || -> Outcome {
                    match solver.as_str() {
                        "dop853" => match r.x0.len() {
                            2 => dop853_solve::<2>(f, &r, tol, atol),
                            8 => dop853_solve::<8>(f, &r, tol, atol),
                            28 => dop853_solve::<28>(f, &r, tol, atol),
                            n => Err(format!("no DOP853 instance for dimension {n}")),
                        },
                        s => diffsol_solve(s, f, jv, &r, tol, atol),
                    }
                };
                let head = json!({"tool": tool, "problem": name, "method": method, "rtol": tol, "atol": atol});
                let start = Instant::now();
                let warm = once();
                let warm_s = start.elapsed().as_secs_f64();
                let (x, steps) = match warm {
                    Ok(v) => v,
                    Err(e) => {
                        let mut line = head.clone();
                        line["error"] = json!(e);
                        println!("{line}");
                        continue;
                    }
                };
                let reps_here = if warm_s > 1.0 { 5 } else { reps };
                let mut times = Vec::with_capacity(reps_here);
                for _ in 0..reps_here {
                    let start = Instant::now();
                    let out = once();
                    times.push(start.elapsed().as_secs_f64());
                    std::hint::black_box(out.ok());
                }
                times.sort_by(f64::total_cmp);
                let median = times[times.len() / 2];
                let (rel, abs) = errors(&x, &r);
                let mut line = head;
                line["error_rel"] = json!(rel);
                line["error_abs"] = json!(abs);
                line["steps"] = json!(steps);
                line["time_s"] = json!(median);
                line["time_min_s"] = json!(times[0]);
                line["time_max_s"] = json!(times[times.len() - 1]);
                line["reps"] = json!(times.len());
                line["us_per_step"] = json!(median * 1e6 / steps.max(1) as f64);
                println!("{line}");
            }
        }
    }
}

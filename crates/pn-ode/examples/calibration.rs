//! Calibration report: the χ² statistic `eᵀ Σ⁻¹ e` of the final error `e` against the final
//! posterior covariance `Σ`, for the EK0 and the EK1 (dynamic and global calibration), on every
//! problem of the catalogue against its independent reference (`data/<name>.json`: SciPy
//! DOP853/Radau at 1e-13/1e-12, or a closed form), at tolerances `rtol = atol = 1e-3 … 1e-8`.
//! A case passes when `χ²` lies inside the 1 %–99 % band of the `χ²(d)` distribution.
//!
//! The reference's own error bound (stored with the data) is added to `Σ` as an independent
//! variance, so that a reference error cannot pose as a solver error; it is ≤ 5e-11 relative and
//! matters only where the posterior standard deviation is of that size.
//!
//! ```text
//! cargo run --release -p pn-ode --example calibration            # the whole table (markdown)
//! cargo run --release -p pn-ode --example calibration -- ek1 lotka-volterra   # a selection
//! ```
//!
//! The tables in `docs/ode.md` come from it.

use ndarray::{Array1, Array2};
use pn_ode::problems::{NAMES, Problem};
use pn_ode::{AutoDiff, Calibration, Error, Method, Options, solve};
use serde_json::Value;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The reference at `t₁` and the variance of its error per component.
fn reference(name: &str) -> (Array1<f64>, Array1<f64>) {
    let path = format!("{}/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let x: Vec<f64> = v["x_t1"]
        .as_array()
        .expect("x_t1")
        .iter()
        .map(|a| a.as_f64().expect("number"))
        .collect();
    let bound = v["relative_error_bound"].as_f64().expect("bound");
    let floor: Vec<f64> = match &v["relative_error_floor"] {
        Value::Array(a) => a.iter().map(|a| a.as_f64().expect("number")).collect(),
        f => vec![f.as_f64().expect("floor"); x.len()],
    };
    let var = Array1::from_iter(
        x.iter()
            .zip(&floor)
            .map(|(x, f)| (bound * x.abs().max(*f)).powi(2)),
    );
    (Array1::from(x), var)
}

/// `eᵀ Σ⁻¹ e` by a Cholesky factorisation of the `d × d` matrix.
fn mahalanobis(cov: &Array2<f64>, e: &Array1<f64>) -> f64 {
    let d = e.len();
    let mut l = cov.clone();
    for j in 0..d {
        let mut v = l[[j, j]];
        for k in 0..j {
            v -= l[[j, k]] * l[[j, k]];
        }
        if v <= 0.0 {
            return f64::INFINITY;
        }
        l[[j, j]] = v.sqrt();
        for i in j + 1..d {
            let mut w = l[[i, j]];
            for k in 0..j {
                w -= l[[i, k]] * l[[j, k]];
            }
            l[[i, j]] = w / l[[j, j]];
        }
    }
    let mut w = vec![0.0; d];
    let mut acc = 0.0;
    for i in 0..d {
        let mut v = e[i];
        for k in 0..i {
            v -= l[[i, k]] * w[k];
        }
        w[i] = v / l[[i, i]];
        acc += w[i] * w[i];
    }
    acc
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pick = |group: &[&str], s: &str| {
        let any = args.iter().any(|a| group.contains(&a.as_str()));
        !any || args.iter().any(|a| a == s)
    };
    let tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8];
    println!(
        "| method | calibration | problem | d | rtol = atol | steps | max error | χ² | band | |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for (method, mname) in [(Method::Ek0, "ek0"), (Method::Ek1, "ek1")] {
        if !pick(&["ek0", "ek1"], mname) {
            continue;
        }
        for (calibration, cname) in [
            (Calibration::Dynamic, "dynamic"),
            (Calibration::Global, "global"),
        ] {
            if !pick(&["dynamic", "global"], cname) {
                continue;
            }
            let (mut inside, mut total, mut under, mut over, mut failed) = (0, 0, 0, 0, 0);
            for name in NAMES {
                if !pick(&NAMES, name) {
                    continue;
                }
                let p = Problem::by_name(name, &[]).expect("catalogue problem");
                let info = p.info();
                if method == Method::Ek0 && info.stiff {
                    continue;
                }
                let d = info.dim();
                let chi = ChiSquared::new(d as f64).expect("d > 0");
                let (lo, hi) = (chi.inverse_cdf(0.01), chi.inverse_cdf(0.99));
                let (exact, ref_var) = reference(name);
                for tol in tols {
                    let opts = Options::default()
                        .method(method)
                        .tolerances(tol, tol)
                        .calibration(calibration)
                        .save_at(vec![info.t1]);
                    let x0 = Array1::from(info.x0.clone());
                    let sol = match solve(&AutoDiff(p), (info.t0, info.t1), x0.view(), opts) {
                        Ok(s) => s,
                        Err(e) => {
                            if !matches!(e, Error::Stiff { .. }) {
                                failed += 1;
                            }
                            println!(
                                "| {mname} | {cname} | {name} | {d} | {tol:.0e} | – | – | – | – | {e} |"
                            );
                            continue;
                        }
                    };
                    let b = sol.final_belief().expect("final belief");
                    let e = &exact - &b.mean();
                    let mut cov = b.cov_dense();
                    for i in 0..d {
                        cov[[i, i]] += ref_var[i];
                    }
                    let c2 = mahalanobis(&cov, &e);
                    let err = e.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    let verdict = if c2 < lo {
                        under += 1;
                        "under"
                    } else if c2 > hi {
                        over += 1;
                        "OVER"
                    } else {
                        inside += 1;
                        "ok"
                    };
                    total += 1;
                    println!(
                        "| {mname} | {cname} | {name} | {d} | {tol:.0e} | {} | {err:.1e} | {c2:.3} | {lo:.3}–{hi:.1} | {verdict} |",
                        sol.stats().steps
                    );
                }
            }
            summary.push(format!(
                "{mname} {cname}: {inside}/{total} inside the band ({under} underconfident, {over} overconfident); {failed} solves failed"
            ));
        }
    }
    println!();
    for s in summary {
        println!("{s}");
    }
}

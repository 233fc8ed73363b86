//! Demo panel: an ODE solve that returns its own error bars.
//!
//! The EK1 (an ODE filter) solves the Lotka–Volterra predator–prey equations and returns a
//! Gaussian belief over the trajectory. The solve is deliberately coarse, so that the ±2σ bands
//! are wide enough to see against the solution's scale; the lower chart shows σ and the actual
//! error on a log scale, against an independent SciPy reference at 20 times.

use ndarray::{Array1, Array2};
use pn_ode::problems::Problem;
use pn_ode::{Method, Options};
use serde_json::{Map, Value, json};

use super::{PanelContext, object};
use crate::error::Result;
use crate::ode::{fmt_value, method_name, solve_with_progress};
use crate::plot::{Trajectory, trajectory};

/// Tolerances of the solve: loose on purpose, so the uncertainty is visible in the figure.
/// (At `pn ode`'s default of 1e-6 the bands are ~1e-6 wide: invisible at this scale.)
const TOL: f64 = 0.1;
/// Order of the integrated-Wiener-process prior.
const ORDER: usize = 2;
/// Points of the dense-output grid the figure is drawn on.
const N_GRID: usize = 400;

/// Times of the reference solution.
const REFERENCE_T: [f64; 20] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0,
    18.0, 19.0, 20.0,
];

/// Lotka–Volterra (default parameters, `x(0) = (20, 20)`) at [`REFERENCE_T`], computed
/// independently with SciPy's DOP853 at `rtol = atol = 1e-13`: the `x` field of
/// `crates/pn-ode/data/lotka-volterra.json` (a unit test keeps the two equal).
const REFERENCE_X: [[f64; 2]; 20] = [
    [10.128172380454005, 25.49535300911524],
    [4.962426016397188, 22.095711107977174],
    [3.1357866116510924, 16.27414498179715],
    [2.6063959774240413, 11.356879862023824],
    [2.673657667898515, 7.845235901771752],
    [3.170956893438588, 5.497297220913152],
    [4.135846619041557, 3.9937600918389737],
    [5.724281129232552, 3.090020545744806],
    [8.191921625036407, 2.6426176988937873],
    [11.861508464199542, 2.63118858415523],
    [16.939463222611785, 3.2601822204942046],
    [22.73637506523153, 5.338972696438804],
    [25.404804768531477, 11.093768557752687],
    [18.792253173672165, 21.138516654941352],
    [9.245518142877387, 25.447336153150133],
    [4.630257193340672, 21.428386770650686],
    [3.027843827639112, 15.624278412564852],
    [2.5893677069120096, 10.87238347855392],
    [2.71046115128494, 7.514723374462759],
    [3.258253845054193, 5.281929427439708],
];

/// Run the panel: solve, compare with the reference, draw.
pub(super) fn run(ctx: &mut PanelContext<'_>) -> Result<Map<String, Value>> {
    let problem = Problem::by_name("lotka-volterra", &[])?;
    let info = problem.info();
    let options = Options::default()
        .method(Method::Ek1)
        .order(ORDER)
        .tolerances(TOL, TOL);
    ctx.reporter.say(format!(
        "      EK1, order {ORDER}, rtol = atol = {TOL}: deliberately coarse, so that the ±2σ \
         bands are wide enough to see (at `pn ode`'s default rtol 1e-6 they are ~1e-6 wide)"
    ));
    let sol = solve_with_progress(
        ctx.reporter,
        problem,
        (info.t0, info.t1),
        &info.x0,
        options.clone(),
    )?;
    let stats = sol.stats();

    // The belief on a fine grid (dense output) for the figure, and at the reference times.
    let grid = Array1::linspace(info.t0, info.t1, N_GRID);
    let d = info.dim();
    let mut mean = Array2::zeros((N_GRID, d));
    let mut std = Array2::zeros((N_GRID, d));
    for (k, &t) in grid.iter().enumerate() {
        let b = sol.at(t)?;
        mean.row_mut(k).assign(&b.mean());
        std.row_mut(k).assign(&b.std());
    }
    let ref_t = Array1::from(REFERENCE_T.to_vec());
    let ref_x = Array2::from_shape_fn((REFERENCE_T.len(), d), |(k, i)| REFERENCE_X[k][i]);
    let mut errors = Array2::zeros(ref_x.dim());
    let mut covered = 0usize;
    let mut max_z = 0.0f64;
    for (k, &t) in REFERENCE_T.iter().enumerate() {
        let b = sol.at(t)?;
        for i in 0..d {
            let e = (b.mean()[i] - ref_x[[k, i]]).abs();
            errors[[k, i]] = e;
            covered += usize::from(e <= 2.0 * b.std()[i]);
            max_z = max_z.max(e / b.std()[i]);
        }
    }
    let coverage = covered as f64 / errors.len() as f64;
    let max_error = errors.iter().fold(0.0f64, |m, &v| m.max(v));
    let max_std = std.iter().fold(0.0f64, |m, &v| m.max(v));
    let end = sol.final_belief()?;
    ctx.reporter.say(format!(
        "      {} steps ({} rejected); x(20) = ({} ± {:.2}, {} ± {:.2}); max |error| vs SciPy \
         reference {max_error:.3}, within ±2σ at {:.0}% of the 40 reference values",
        stats.steps,
        stats.rejected,
        fmt_value(end.mean()[0]),
        end.std()[0],
        fmt_value(end.mean()[1]),
        end.std()[1],
        100.0 * coverage
    ));

    let title = format!(
        "Lotka–Volterra by the EK1 (order {ORDER}, rtol {TOL}): {} steps, bands mean ± 2σ",
        stats.steps
    );
    let plot = Trajectory::new(
        &title,
        grid.view(),
        mean.view(),
        std.view(),
        vec!["x1 (prey)".into(), "x2 (predators)".into()],
    )
    .reference(
        "SciPy reference (DOP853, tol 1e-13)",
        ref_t.view(),
        ref_x.view(),
    )
    .std_chart("σ (lines) and actual error at the reference times (dots), log scale")
    .errors("|mean − reference|", ref_t.view(), errors.view());
    trajectory(&ctx.path, &plot)?;

    let metrics = json!({
        "problem": info.name,
        "method": method_name(options.method),
        "order": sol.order(),
        "rtol": options.rtol,
        "atol": options.atol,
        "stats": stats,
        "final_mean": end.mean().to_vec(),
        "final_std": end.std().to_vec(),
        "max_std": max_std,
        "reference": "SciPy DOP853, rtol = atol = 1e-13, at t = 1, 2, …, 20",
        "max_error_vs_reference": max_error,
        "reference_within_2sigma": coverage,
        "max_error_over_std": max_z,
    });
    Ok(object(metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded reference is the data file's (which pn-ode's tests check against SciPy).
    #[test]
    fn reference_matches_the_data_file() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pn-ode/data/lotka-volterra.json"
        );
        let text = std::fs::read_to_string(path).expect("pn-ode's reference data");
        let doc: Value = serde_json::from_str(&text).unwrap();
        let t: Vec<f64> = serde_json::from_value(doc["t"].clone()).unwrap();
        let x: Vec<[f64; 2]> = serde_json::from_value(doc["x"].clone()).unwrap();
        assert_eq!(t, REFERENCE_T);
        assert_eq!(x.len(), REFERENCE_X.len());
        // serde_json's default float parsing may be off by an ulp.
        for (a, b) in x.iter().flatten().zip(REFERENCE_X.iter().flatten()) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON * b.abs(), "{a} vs {b}");
        }
    }
}

//! Initialisation without Taylor coefficients: the Runge–Kutta start against exact Taylor-mode
//! initialisation.

use ndarray::{Array2, array};
use pn_ode::problems::LotkaVolterra;
use pn_ode::{AutoDiff, Closure, Init, Method, Options, solve, taylor_coefficients};

fn lv(t: f64, x: &[f64], dx: &mut [f64]) {
    let _ = t;
    dx[0] = 0.5 * x[0] - 0.05 * x[0] * x[1];
    dx[1] = 0.05 * x[0] * x[1] - 0.5 * x[1];
}
fn lv_jac(_t: f64, x: &[f64], j: &mut Array2<f64>) {
    j[[0, 0]] = 0.5 - 0.05 * x[1];
    j[[0, 1]] = -0.05 * x[0];
    j[[1, 0]] = 0.05 * x[1];
    j[[1, 1]] = 0.05 * x[0] - 0.5;
}

#[test]
fn runge_kutta_start_solves_as_well_as_taylor() {
    let exact = array![3.258253845054193, 5.281929427439708]; // SciPy reference at t = 20
    let x0 = array![20.0, 20.0];
    for method in [Method::Ek1, Method::Ek0] {
        for q in [3, 5] {
            let opts = Options::default()
                .method(method)
                .order(q)
                .tolerances(1e-7, 1e-7);
            let taylor = solve(
                &AutoDiff(LotkaVolterra::default()),
                (0.0, 20.0),
                x0.view(),
                opts.clone().init(Init::Taylor),
            )
            .unwrap();
            let rk = solve(
                &AutoDiff(LotkaVolterra::default()),
                (0.0, 20.0),
                x0.view(),
                opts.clone().init(Init::RungeKutta),
            )
            .unwrap();
            let closure =
                solve(&Closure::new(2, lv, lv_jac), (0.0, 20.0), x0.view(), opts).unwrap();
            let err = |s: &pn_ode::OdeSolution| {
                let b = s.final_belief().unwrap();
                (&b.mean() - &exact)
                    .iter()
                    .fold(0.0f64, |m, v| m.max(v.abs()))
            };
            let (et, er, ec) = (err(&taylor), err(&rk), err(&closure));
            assert!(
                et < 1e-4 && er < 1e-4 && ec < 1e-4,
                "{method:?} q={q}: {et:e} {er:e} {ec:e}"
            );
            // Comparable work: the start costs a few steps at most.
            let (st, sr) = (taylor.stats().steps, rk.stats().steps);
            assert!(
                sr <= st + st / 5 + 5,
                "{method:?} q={q}: {sr} vs {st} steps"
            );
        }
    }
}

#[test]
fn taylor_init_is_refused_when_unavailable() {
    let err = solve(
        &Closure::new(2, lv, lv_jac),
        (0.0, 1.0),
        array![20.0, 20.0].view(),
        Options::default().init(Init::Taylor),
    );
    assert!(err.is_err());
    // The Taylor coefficients the closure cannot give exist for the dual-number field.
    assert!(
        taylor_coefficients(&LotkaVolterra::default(), 0.0, array![20.0, 20.0].view(), 4).is_some()
    );
}

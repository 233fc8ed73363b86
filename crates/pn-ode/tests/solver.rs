//! The ODE filter against closed-form solutions: Taylor initialisation, convergence order,
//! accuracy at the requested tolerance, calibration of the reported uncertainty, bad input.

use ndarray::{Array1, Array2, array};
use num_dual::DualNum;
use pn_ode::{
    AutoDiff, Calibration, Closure, Error, Method, OdeFunction, Options, VectorField, solve,
    taylor_coefficients,
};

/// x' = r x (1 − x); x(t) = 1 / (1 + (1/x₀ − 1) e^{−r t}).
struct Logistic(f64);
impl OdeFunction for Logistic {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[0] * (-x[0] + 1.0) * self.0;
    }
}
fn logistic_exact(r: f64, x0: f64, t: f64) -> f64 {
    1.0 / (1.0 + (1.0 / x0 - 1.0) * (-r * t).exp())
}

/// The harmonic oscillator x'' = −ω² x as a first-order system; exact rotation.
struct Oscillator(f64);
impl OdeFunction for Oscillator {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[1];
        dx[1] = x[0] * (-self.0 * self.0);
    }
}
fn oscillator_exact(w: f64, x0: [f64; 2], t: f64) -> Array1<f64> {
    let (c, s) = ((w * t).cos(), (w * t).sin());
    array![x0[0] * c + x0[1] / w * s, -x0[0] * w * s + x0[1] * c]
}

/// A time-dependent, linear, damped-forced problem: x' = −x + sin(3t); closed form.
struct Forced;
impl OdeFunction for Forced {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]) {
        dx[0] = -x[0] + (t * 3.0).sin();
    }
}
fn forced_exact(x0: f64, t: f64) -> f64 {
    // particular solution (sin 3t − 3 cos 3t)/10, homogeneous C e^{−t}
    let p = |t: f64| ((3.0 * t).sin() - 3.0 * (3.0 * t).cos()) / 10.0;
    p(t) + (x0 - p(0.0)) * (-t).exp()
}

/// x' = x² from x₀: x(t) = x₀ / (1 − x₀ t), blowing up at t = 1/x₀; x^{(k)}(0) = k! x₀^{k+1}.
struct Square;
impl OdeFunction for Square {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[0] * x[0];
    }
}

#[test]
fn taylor_coefficients_are_exact() {
    let x0 = 0.7f64;
    let c = taylor_coefficients(&Square, 0.0, array![x0].view(), 9).unwrap();
    let mut fact = 1.0;
    for (k, ck) in c.iter().enumerate() {
        if k > 0 {
            fact *= k as f64;
        }
        let exact = fact * x0.powi(k as i32 + 1);
        assert!(
            (ck[0] - exact).abs() <= 1e-12 * exact.abs(),
            "k={k}: {} vs {exact}",
            ck[0]
        );
    }
    // Time dependence: x' = −x + sin 3t at t₀ = 0.4 with x₀ = 0.2, against the closed form's
    // derivatives (differentiate the exact solution analytically).
    let (t0, x0) = (0.4f64, 0.2f64);
    let c = taylor_coefficients(&Forced, t0, array![x0].view(), 4).unwrap();
    // x' = −x + sin 3t, x'' = −x' + 3 cos 3t, x''' = −x'' − 9 sin 3t, x'''' = −x''' − 27 cos 3t.
    let d1 = -x0 + (3.0 * t0).sin();
    let d2 = -d1 + 3.0 * (3.0 * t0).cos();
    let d3 = -d2 - 9.0 * (3.0 * t0).sin();
    let d4 = -d3 - 27.0 * (3.0 * t0).cos();
    for (k, want) in [x0, d1, d2, d3, d4].iter().enumerate() {
        assert!((c[k][0] - want).abs() < 1e-13, "k={k}");
    }
    // The oscillator: x^{(k)} rotates with ω^k.
    let c = taylor_coefficients(&Oscillator(2.0), 0.0, array![1.0, 0.0].view(), 6).unwrap();
    assert!(
        (c[2][0] + 4.0).abs() < 1e-14
            && (c[4][0] - 16.0).abs() < 1e-13
            && (c[6][0] + 64.0).abs() < 1e-12
    );
}

fn final_error(sol: &pn_ode::OdeSolution, exact: &Array1<f64>) -> (f64, f64) {
    let b = sol.final_belief().unwrap();
    let e = exact - &b.mean();
    let err = e.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let cov = b.cov_dense();
    let chi2 = e.dot(&solve_spd(&cov, &e));
    (err, chi2)
}

fn solve_spd(a: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    pn_core::dense::cholesky(a.view())
        .unwrap()
        .solve(b.view())
        .unwrap()
}

/// Fixed steps: the global error (maximum over the grid, so that a zero crossing of the error
/// at one time cannot fake a rate) falls at least like h^q for IWP(q), for both calibrations.
#[test]
fn fixed_step_convergence_order() {
    for method in [Method::Ek0, Method::Ek1] {
        for calibration in [Calibration::Global, Calibration::Dynamic] {
            for q in 1..=4usize {
                let errs: Vec<f64> = [0.1, 0.05, 0.025]
                    .iter()
                    .map(|&h| {
                        let opts = Options::default()
                            .method(method)
                            .order(q)
                            .fixed_step(h)
                            .smooth(false)
                            .calibration(calibration);
                        let sol =
                            solve(&AutoDiff(Forced), (0.0, 2.0), array![0.5].view(), opts).unwrap();
                        let mean = sol.mean();
                        sol.times()
                            .iter()
                            .enumerate()
                            .map(|(k, &t)| (mean[[k, 0]] - forced_exact(0.5, t)).abs())
                            .fold(0.0f64, f64::max)
                    })
                    .collect();
                // The rate over the two finer steps (the coarsest can be pre-asymptotic).
                let rate = (errs[1] / errs[2]).log2();
                println!("{method:?} {calibration:?} q={q}: max errors {errs:?} rate {rate:.2}");
                assert!(
                    rate > q as f64 - 0.5,
                    "{method:?} {calibration:?} q={q}: rate {rate}"
                );
                assert!(
                    rate < q as f64 + 2.5,
                    "{method:?} {calibration:?} q={q}: rate {rate}"
                );
            }
        }
    }
}

/// Adaptive steps reach the requested accuracy.
#[test]
fn adaptive_solves_meet_the_tolerance() {
    for method in [Method::Ek0, Method::Ek1] {
        for tol in [1e-4, 1e-6, 1e-8] {
            let opts = Options::default().method(method).tolerances(tol, tol);
            let sol = solve(
                &AutoDiff(Logistic(1.5)),
                (0.0, 5.0),
                array![0.05].view(),
                opts.clone(),
            )
            .unwrap();
            let (err, _) = final_error(&sol, &array![logistic_exact(1.5, 0.05, 5.0)]);
            assert!(
                err < 50.0 * tol,
                "{method:?} tol {tol}: logistic error {err}"
            );
            let sol = solve(
                &AutoDiff(Oscillator(2.0)),
                (0.0, 10.0),
                array![1.0, 0.5].view(),
                opts,
            )
            .unwrap();
            let (err, _) = final_error(&sol, &oscillator_exact(2.0, [1.0, 0.5], 10.0));
            assert!(
                err < 200.0 * tol,
                "{method:?} tol {tol}: oscillator error {err} in {} steps",
                sol.stats().steps
            );
        }
    }
}

#[test]
fn closures_with_a_user_jacobian_work() {
    let f = Closure::new(
        1,
        |_t: f64, x: &[f64], dx: &mut [f64]| dx[0] = 1.5 * x[0] * (1.0 - x[0]),
        |_t: f64, x: &[f64], j: &mut Array2<f64>| j[[0, 0]] = 1.5 * (1.0 - 2.0 * x[0]),
    );
    assert_eq!(f.dim(), 1);
    let sol = solve(&f, (0.0, 5.0), array![0.05].view(), Options::default()).unwrap();
    let (err, _) = final_error(&sol, &array![logistic_exact(1.5, 0.05, 5.0)]);
    assert!(err < 1e-4, "error {err}");
}

#[test]
fn bad_input_and_failures_are_reported_with_their_time() {
    let f = AutoDiff(Logistic(1.0));
    let x0 = array![0.1];
    assert!(matches!(
        solve(&f, (0.0, 0.0), x0.view(), Options::default()),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        solve(&f, (0.0, f64::NAN), x0.view(), Options::default()),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        solve(&f, (0.0, 1.0), array![0.1, 0.2].view(), Options::default()),
        Err(Error::Filter(_))
    ));
    assert!(matches!(
        solve(&f, (0.0, 1.0), array![f64::NAN].view(), Options::default()),
        Err(Error::Filter(_))
    ));
    assert!(matches!(
        solve(
            &f,
            (0.0, 1.0),
            x0.view(),
            Options::default().fixed_step(0.0)
        ),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        solve(
            &f,
            (0.0, 1.0),
            x0.view(),
            Options::default().tolerances(-1.0, 1e-6)
        ),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        solve(&f, (0.0, 1.0), x0.view(), Options::default().order(11)),
        Err(Error::Filter(_))
    ));
    // A field that returns NaN past t = 0.5.
    let nan = Closure::new(
        1,
        |t: f64, _x: &[f64], dx: &mut [f64]| dx[0] = if t > 0.5 { f64::NAN } else { 1.0 },
        |_t: f64, _x: &[f64], j: &mut Array2<f64>| j[[0, 0]] = 0.0,
    );
    match solve(&nan, (0.0, 1.0), x0.view(), Options::default()) {
        Err(Error::NonFiniteField { t, .. }) => assert!(t > 0.5 && t <= 1.0),
        other => panic!("expected NonFiniteField, got {:?}", other.err()),
    }
    // Finite-time blow-up of x' = x² at t = 1: the solver stops near it with a clear error.
    match solve(
        &AutoDiff(Square),
        (0.0, 2.0),
        array![1.0].view(),
        Options::default(),
    ) {
        Err(Error::StepSizeUnderflow { t, .. })
        | Err(Error::NonFiniteField { t, .. })
        | Err(Error::MaxSteps { t, .. }) => {
            assert!((t - 1.0).abs() < 0.05, "stopped at {t}")
        }
        other => panic!("expected a failure near t = 1, got {:?}", other.err()),
    }
}

/// A stiff problem handed to the EK0 is reported as such (quickly), and the EK1 solves it.
#[test]
fn stiff_problem_with_ek0_is_an_error_ek1_solves_it() {
    struct Stiff;
    impl OdeFunction for Stiff {
        fn dim(&self) -> usize {
            1
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]) {
            dx[0] = (x[0] - t.cos()) * -1e4;
        }
    }
    let opts = Options::default().tolerances(1e-6, 1e-6);
    match solve(
        &AutoDiff(Stiff),
        (0.0, 10.0),
        array![1.0].view(),
        opts.clone().method(Method::Ek0),
    ) {
        Err(Error::Stiff { t, span, .. }) => {
            assert!(t < 10.0);
            // ρ(∂f/∂x) (t₁ − t₀) = 1e4 · 10.
            assert!((span / 1e5 - 1.0).abs() < 0.05, "span {span}");
        }
        other => panic!("expected a stiffness error, got {:?}", other.err()),
    }
    let sol = solve(
        &AutoDiff(Stiff),
        (0.0, 10.0),
        array![1.0].view(),
        opts.method(Method::Ek1),
    )
    .unwrap();
    let end = sol.final_belief().unwrap().mean()[0];
    // x ≈ cos t + O(1e-4) after the transient.
    assert!((end - 10f64.cos()).abs() < 1e-3, "end {end}");
    assert!(sol.stats().steps < 2000, "{} steps", sol.stats().steps);
}

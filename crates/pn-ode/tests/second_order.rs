//! Native second-order problems `x'' = f(t, x, x')` against closed forms and against the same
//! equation written as a first-order system.

use ndarray::{Array1, array};
use num_dual::DualNum;
use pn_ode::{
    AutoDiff, Method, OdeFunction, Options, SecondOrder, SecondOrderFunction, solve,
    taylor_coefficients_second_order,
};

/// x'' = −ω² x − γ x' (a damped oscillator): closed form.
struct Damped {
    w: f64,
    g: f64,
}
impl SecondOrderFunction for Damped {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], v: &[D], a: &mut [D]) {
        a[0] = x[0] * (-self.w * self.w) - v[0] * self.g;
    }
}
/// x(t) for x(0) = 1, x'(0) = 0 (underdamped).
fn damped_exact(w: f64, g: f64, t: f64) -> f64 {
    let wd = (w * w - g * g / 4.0).sqrt();
    (-g * t / 2.0).exp() * ((wd * t).cos() + g / (2.0 * wd) * (wd * t).sin())
}

/// Van der Pol, μ = 1, as x'' = μ (1 − x²) x' − x ...
struct Vdp2;
impl SecondOrderFunction for Vdp2 {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], v: &[D], a: &mut [D]) {
        a[0] = (-x[0] * x[0] + 1.0) * v[0] - x[0];
    }
}
/// ... and as the first-order system (x, v).
struct Vdp1;
impl OdeFunction for Vdp1 {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[1];
        dx[1] = (-x[0] * x[0] + 1.0) * x[1] - x[0];
    }
}

/// Two coupled pendula (a non-diagonal Jacobian in both x and x').
struct Coupled;
impl SecondOrderFunction for Coupled {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], v: &[D], a: &mut [D]) {
        a[0] = -x[0].sin() + (x[1] - x[0]) * 0.3 - v[0] * 0.05;
        a[1] = -x[1].sin() - (x[1] - x[0]) * 0.3 - v[1] * 0.1 + v[0] * 0.02;
    }
}
struct Coupled1;
impl OdeFunction for Coupled1 {
    fn dim(&self) -> usize {
        4
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[2];
        dx[1] = x[3];
        let mut a = [x[0], x[0]];
        Coupled.eval(t, &x[..2], &x[2..], &mut a);
        dx[2] = a[0];
        dx[3] = a[1];
    }
}

#[test]
fn second_order_taylor_coefficients_are_exact() {
    // x = cos ω t: x⁽ᵏ⁾(0) = ωᵏ cos(kπ/2).
    let w = 1.7;
    let c =
        taylor_coefficients_second_order(&Damped { w, g: 0.0 }, 0.0, array![1.0, 0.0].view(), 7)
            .unwrap();
    for (k, ck) in c.iter().enumerate() {
        let want = w.powi(k as i32) * (k as f64 * std::f64::consts::FRAC_PI_2).cos();
        assert!((ck[0] - want).abs() < 1e-10 * w.powi(k as i32), "k = {k}");
    }
}

#[test]
fn damped_oscillator_matches_the_closed_form() {
    let f = SecondOrder(Damped { w: 2.0, g: 0.3 });
    for method in [Method::Ek1, Method::Ek0, Method::DiagonalEk1] {
        let sol = solve(
            &f,
            (0.0, 10.0),
            array![1.0, 0.0].view(),
            Options::default().method(method).tolerances(1e-8, 1e-10),
        )
        .unwrap();
        for &t in &[1.3, 5.0, 10.0] {
            let b = sol.at(t).unwrap();
            let e = b.mean()[0] - damped_exact(2.0, 0.3, t);
            assert!(e.abs() < 2e-6, "{method:?} t = {t}: error {e}");
        }
    }
}

#[test]
fn native_second_order_equals_the_first_order_system() {
    let opts = Options::default()
        .method(Method::Ek1)
        .tolerances(1e-9, 1e-9);
    let a = solve(
        &SecondOrder(Vdp2),
        (0.0, 6.0),
        array![2.0, 0.0].view(),
        opts.clone(),
    )
    .unwrap();
    let b = solve(
        &AutoDiff(Vdp1),
        (0.0, 6.0),
        array![2.0, 0.0].view(),
        opts.clone(),
    )
    .unwrap();
    let (ea, eb) = (a.final_belief().unwrap(), b.final_belief().unwrap());
    assert!((ea.mean()[0] - eb.mean()[0]).abs() < 1e-6);
    // The native solve has a d-dimensional state per derivative, half the first-order one.
    assert_eq!(a.final_belief().unwrap().mean().len(), 1);

    let x0 = array![0.5, -0.2, 0.1, 0.3];
    let c = solve(&SecondOrder(Coupled), (0.0, 8.0), x0.view(), opts.clone()).unwrap();
    let d = solve(&AutoDiff(Coupled1), (0.0, 8.0), x0.view(), opts).unwrap();
    let (ec, ed) = (c.final_belief().unwrap(), d.final_belief().unwrap());
    for i in 0..2 {
        assert!((ec.mean()[i] - ed.mean()[i]).abs() < 1e-6, "component {i}");
        assert!(ec.std()[i] > 0.0);
    }
}

#[test]
fn second_order_bad_input() {
    let f = SecondOrder(Damped { w: 1.0, g: 0.0 });
    // x0 must hold x and x'.
    assert!(solve(&f, (0.0, 1.0), array![1.0].view(), Options::default()).is_err());
    // The order of the prior must reach x''.
    assert!(
        solve(
            &f,
            (0.0, 1.0),
            array![1.0, 0.0].view(),
            Options::default().order(1)
        )
        .is_err()
    );
    // The lowest admissible order works: x = cos t.
    let sol = solve(
        &f,
        (0.0, 1.0),
        Array1::from(vec![1.0, 0.0]).view(),
        Options::default().order(2),
    )
    .unwrap();
    let end = sol.final_belief().unwrap().mean()[0];
    assert!((end - 1f64.cos()).abs() < 1e-4, "x(1) = {end}");
}

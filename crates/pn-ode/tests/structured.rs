//! The block-diagonal filters (Kronecker EK0, diagonal EK1, per-dimension diffusions) against the
//! dense filters they must equal, `save_at` against the stored posterior, and an EK0 solve in
//! 10 000 dimensions.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, array};
use num_dual::DualNum;
use pn_core::testing::assert_allclose;
use pn_ode::problems::LotkaVolterra;
use pn_ode::{AutoDiff, Calibration, Method, OdeFunction, OdeSolution, Options, solve};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Independent logistic equations with different rates: a diagonal Jacobian, so the diagonal
/// EK1 is the EK1.
struct Logistics(Vec<f64>);
impl OdeFunction for Logistics {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        for (j, r) in self.0.iter().enumerate() {
            dx[j] = x[j] * (-x[j] + 1.0) * *r;
        }
    }
}

/// `xⱼ' = −λⱼ xⱼ + sin t`: decoupled, linear, closed form.
struct Relax(Vec<f64>);
impl OdeFunction for Relax {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]) {
        let s = t.sin();
        for (j, l) in self.0.iter().enumerate() {
            dx[j] = s - x[j] * *l;
        }
    }
}
fn relax_exact(l: f64, x0: f64, t: f64) -> f64 {
    // particular (λ sin t − cos t)/(1 + λ²), homogeneous C e^{−λt}
    let p = |t: f64| (l * t.sin() - t.cos()) / (1.0 + l * l);
    p(t) + (x0 - p(0.0)) * (-l * t).exp()
}

fn close1(a: ArrayView1<'_, f64>, b: ArrayView1<'_, f64>, rtol: f64, atol: f64) {
    assert_allclose(&a, &b, rtol, atol);
}

fn close2(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>, rtol: f64, atol: f64) {
    assert_allclose(&a, &b, rtol, atol);
}

fn compare(a: &OdeSolution, b: &OdeSolution, rtol: f64) {
    assert_eq!(a.stats().steps, b.stats().steps);
    close1(
        ArrayView1::from(&a.times()),
        ArrayView1::from(&b.times()),
        rtol,
        0.0,
    );
    close2(a.mean().view(), b.mean().view(), rtol, 1e-12);
    close2(a.std().view(), b.std().view(), rtol, 1e-14);
}

#[test]
fn kronecker_ek0_equals_the_dense_ek0() {
    let f = AutoDiff(LotkaVolterra::default());
    for calibration in [
        Calibration::Dynamic,
        Calibration::Global,
        Calibration::Fixed(0.3),
    ] {
        for smooth in [false, true] {
            let opts = Options::default()
                .order(4)
                .fixed_step(0.05)
                .calibration(calibration)
                .smooth(smooth);
            let x0 = array![20.0, 20.0];
            let kron = solve(&f, (0.0, 8.0), x0.view(), opts.clone().method(Method::Ek0)).unwrap();
            let dense = solve(&f, (0.0, 8.0), x0.view(), opts.method(Method::DenseEk0)).unwrap();
            compare(&kron, &dense, 1e-9);
            // Dense output between the steps.
            let times = kron.times();
            for w in times.windows(2).step_by(7) {
                let t = 0.3 * w[0] + 0.7 * w[1];
                let (a, b) = (kron.at(t).unwrap(), dense.at(t).unwrap());
                close1(a.mean().view(), b.mean().view(), 1e-9, 1e-12);
                close1(a.std().view(), b.std().view(), 1e-8, 1e-14);
            }
            if calibration == Calibration::Global {
                let (a, b) = (
                    kron.global_diffusion().unwrap(),
                    dense.global_diffusion().unwrap(),
                );
                assert!((a[0] - b[0]).abs() <= 1e-9 * b[0]);
            }
        }
    }
}

#[test]
fn adaptive_block_and_dense_solves_agree() {
    // Adaptive steps amplify rounding differences through the controller, so the two
    // implementations agree to the controller's sensitivity, not to rounding.
    let f = AutoDiff(LotkaVolterra::default());
    let x0 = array![20.0, 20.0];
    let opts = Options::default().order(4).tolerances(1e-6, 1e-6);
    let kron = solve(&f, (0.0, 8.0), x0.view(), opts.clone().method(Method::Ek0)).unwrap();
    let dense = solve(&f, (0.0, 8.0), x0.view(), opts.method(Method::DenseEk0)).unwrap();
    compare(&kron, &dense, 1e-6);
    let f = AutoDiff(Logistics(vec![1.5, 0.7, 3.0]));
    let x0 = array![0.05, 0.2, 0.01];
    let opts = Options::default().order(3).tolerances(1e-7, 1e-9);
    let diag = solve(
        &f,
        (0.0, 5.0),
        x0.view(),
        opts.clone().method(Method::DiagonalEk1),
    )
    .unwrap();
    let full = solve(&f, (0.0, 5.0), x0.view(), opts.method(Method::Ek1)).unwrap();
    compare(&diag, &full, 1e-6);
}

#[test]
fn diagonal_ek1_equals_the_ek1_on_a_diagonal_jacobian() {
    let f = AutoDiff(Logistics(vec![1.5, 0.7, 3.0]));
    let x0 = array![0.05, 0.2, 0.01];
    for calibration in [Calibration::Dynamic, Calibration::Global] {
        let opts = Options::default()
            .order(3)
            .fixed_step(0.01)
            .calibration(calibration);
        let diag = solve(
            &f,
            (0.0, 5.0),
            x0.view(),
            opts.clone().method(Method::DiagonalEk1),
        )
        .unwrap();
        let full = solve(&f, (0.0, 5.0), x0.view(), opts.method(Method::Ek1)).unwrap();
        compare(&diag, &full, 1e-8);
        let end = diag.final_belief().unwrap().mean().to_owned();
        for (j, (r, x)) in [1.5f64, 0.7, 3.0].iter().zip(x0.iter()).enumerate() {
            let exact = 1.0 / (1.0 + (1.0 / x - 1.0) * (-r * 5.0f64).exp());
            assert!((end[j] - exact).abs() < 1e-5, "{j}: {} vs {exact}", end[j]);
        }
    }
}

#[test]
fn per_dimension_diffusions_equal_separate_solves() {
    // With fixed steps the coordinates of a decoupled system are independent filters.
    let rates = [0.5, 2.0, 4.0];
    let x0 = array![1.0, -0.5, 2.0];
    for method in [Method::Ek0, Method::DiagonalEk1] {
        for calibration in [Calibration::Dynamic, Calibration::Global] {
            let opts = Options::default()
                .order(3)
                .fixed_step(0.05)
                .calibration(calibration)
                .method(method);
            let joint = solve(
                &AutoDiff(Relax(rates.to_vec())),
                (0.0, 3.0),
                x0.view(),
                opts.clone().per_dimension(true),
            )
            .unwrap();
            for (j, &l) in rates.iter().enumerate() {
                let single = solve(
                    &AutoDiff(Relax(vec![l])),
                    (0.0, 3.0),
                    array![x0[j]].view(),
                    opts.clone().method(if method == Method::Ek0 {
                        Method::DenseEk0
                    } else {
                        Method::Ek1
                    }),
                )
                .unwrap();
                close1(joint.mean().column(j), single.mean().column(0), 1e-9, 1e-12);
                close1(joint.std().column(j), single.std().column(0), 1e-8, 1e-14);
            }
        }
    }
    // Per-dimension diffusions need a block-diagonal method.
    let err = solve(
        &AutoDiff(Relax(rates.to_vec())),
        (0.0, 1.0),
        x0.view(),
        Options::default().method(Method::Ek1).per_dimension(true),
    );
    assert!(err.is_err());
}

#[test]
fn save_at_equals_the_filtering_posterior() {
    let f = AutoDiff(LotkaVolterra::default());
    let x0 = array![20.0, 20.0];
    let save = vec![0.0, 0.37, 1.0, 2.5, 2.5000001, 4.0];
    for method in [Method::Ek0, Method::Ek1, Method::DiagonalEk1] {
        let opts = Options::default()
            .method(method)
            .order(4)
            .tolerances(1e-6, 1e-6)
            .smooth(false);
        let full = solve(&f, (0.0, 4.0), x0.view(), opts.clone()).unwrap();
        let saved = solve(&f, (0.0, 4.0), x0.view(), opts.save_at(save.clone())).unwrap();
        assert_eq!(saved.times(), save);
        assert_eq!(saved.stats(), full.stats());
        for (k, &t) in save.iter().enumerate() {
            let a = full.at(t).unwrap();
            let b = saved.at(t).unwrap();
            close1(b.mean().view(), a.mean().view(), 1e-10, 1e-12);
            close1(saved.std().row(k), a.std().view(), 1e-8, 1e-14);
        }
        assert!(saved.at(1.5).is_err(), "not a saved time");
        assert!(saved.sample(&mut Pcg64::seed_from_u64(1), 2).is_err());
    }
    // Unsorted or out-of-span save_at times are an error.
    for bad in [vec![1.0, 0.5], vec![-1.0], vec![5.0], vec![f64::NAN]] {
        assert!(solve(&f, (0.0, 4.0), x0.view(), Options::default().save_at(bad)).is_err());
    }
}

#[test]
fn block_samples_have_the_smoothing_covariance() {
    // Joint draws of the Kronecker EK0 posterior: empirical mean and variance at the steps match
    // the smoothing marginals (4 000 draws, ≤ 5 standard errors).
    let f = AutoDiff(Relax(vec![1.0, 3.0]));
    let sol = solve(
        &f,
        (0.0, 2.0),
        array![1.0, 0.0].view(),
        Options::default()
            .method(Method::DiagonalEk1)
            .order(2)
            .tolerances(1e-3, 1e-3)
            .calibration(Calibration::Fixed(1e-2)),
    )
    .unwrap();
    let mut rng = Pcg64::seed_from_u64(7);
    let n = 4000;
    let draws = sol.sample(&mut rng, n).unwrap();
    let (mean, std) = (sol.mean(), sol.std());
    let steps = mean.nrows();
    let mut m = Array2::<f64>::zeros((steps, 2));
    let mut v = Array2::<f64>::zeros((steps, 2));
    for d in &draws {
        m += d;
    }
    m /= n as f64;
    for d in &draws {
        v += &(d - &m).mapv(|x| x * x);
    }
    v /= (n - 1) as f64;
    for k in 1..steps {
        for j in 0..2 {
            let s = std[[k, j]];
            assert!((m[[k, j]] - mean[[k, j]]).abs() < 5.0 * s / (n as f64).sqrt() + 1e-12);
            let se = s * s * (2.0 / n as f64).sqrt();
            assert!(
                (v[[k, j]] - s * s).abs() < 5.0 * se + 1e-18,
                "step {k} coord {j}"
            );
        }
    }
}

#[test]
fn ek0_in_ten_thousand_dimensions() {
    let d = 10_000;
    let rates: Vec<f64> = (0..d).map(|j| 0.5 + j as f64 / d as f64).collect();
    let x0 = Array1::from_shape_fn(d, |j| (j as f64 * 0.37).sin());
    let sol = solve(
        &AutoDiff(Relax(rates.clone())),
        (0.0, 2.0),
        x0.view(),
        Options::default()
            .method(Method::Ek0)
            .order(3)
            .tolerances(1e-5, 1e-7)
            .save_at(vec![1.0, 2.0]),
    )
    .unwrap();
    let end = sol.final_belief().unwrap();
    let mean = end.mean();
    let std = end.std();
    let mut z2 = 0.0;
    for j in 0..d {
        let e = mean[j] - relax_exact(rates[j], x0[j], 2.0);
        assert!(e.abs() < 1e-4, "coordinate {j}: error {e}");
        z2 += e * e / (std[j] * std[j]);
    }
    assert!(z2.is_finite());
    assert!(sol.stats().steps < 200, "{} steps", sol.stats().steps);
}

#[test]
fn stiff_catalogue_problems_are_diagnosed_for_the_ek0() {
    // HIRES: instead of exhausting its step budget the EK0 stops with a stiffness error that
    // names the time and the size of the problem.
    use pn_ode::problems::Hires;
    let err = solve(
        &AutoDiff(Hires::new()),
        (Hires::T0, Hires::T1),
        Array1::from(Hires::X0.to_vec()).view(),
        Options::default()
            .method(Method::Ek0)
            .tolerances(1e-6, 1e-6),
    )
    .err()
    .expect("the EK0 must not solve HIRES silently");
    match err {
        pn_ode::Error::Stiff { t, span, .. } => {
            assert!(t > Hires::T0 && t < Hires::T1);
            assert!(span > 1e3, "span {span}");
        }
        other => panic!("expected Error::Stiff, got {other}"),
    }
}

//! Matrix-free derivative products, the BBMM estimate of the log marginal likelihood and its
//! gradient, and hyperparameter fitting without a Cholesky — all against the exact (Cholesky)
//! computations of `pn_linalg::exact` and `pn_linalg::fit`.

use ndarray::{Array1, Array2, s};
use pn_core::kernels::{Kernel, Matern32, Matern52, RationalQuadratic, SquaredExponential};
use pn_core::testing::assert_allclose;
use pn_linalg::exact::ExactGp;
use pn_linalg::fit::{FitOptions, fit};
use pn_linalg::iterative::{
    BbmmParams, Control, IterFitOptions, fit_iterative, fit_iterative_with_observer,
    kernel_grad_products, lml_bbmm,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn points(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| rng.random::<f64>())
}

/// Smooth targets plus N(0, 0.1²) noise.
fn targets(x: &Array2<f64>, seed: u64) -> Array1<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    Array1::from_shape_fn(x.nrows(), |i| {
        let r = x.row(i);
        let f = (6.0 * r[0]).sin() + r.iter().skip(1).map(|v| (3.0 * v).cos()).sum::<f64>();
        f + 0.1 * rng.sample::<f64, _>(StandardNormal)
    })
}

fn composite() -> Box<dyn Kernel> {
    Box::new(
        SquaredExponential::ard(vec![0.4, 0.7], 1.2).unwrap()
            + Matern32::new(0.3, 0.2).unwrap() * RationalQuadratic::new(0.9, 1.5, 1.0).unwrap(),
    )
}

#[test]
fn derivative_products_equal_the_dense_products() {
    let x = points(37, 2, 1);
    let mut rng = Pcg64::seed_from_u64(2);
    let v = Array2::from_shape_fn((37, 3), |_| rng.sample::<f64, _>(StandardNormal));
    let k = composite();
    let (kd, gd) = k.matrix_with_grad(x.view()).unwrap();
    for tile in [1, 5, 8, 37, 100] {
        let (kv, gv) = kernel_grad_products(k.as_ref(), x.view(), v.view(), tile).unwrap();
        assert_allclose(&kv, &kd.dot(&v), 1e-10, 1e-12);
        assert_eq!(gv.len(), k.n_params());
        for (g, d) in gv.iter().zip(&gd) {
            assert_allclose(g, &d.dot(&v), 1e-10, 1e-12);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Linear in V and equal to the dense products for any size and tile.
    #[test]
    fn derivative_products_are_the_dense_ones(n in 1usize..40, t in 1usize..4, tile in 1usize..20, seed in 0u64..1000) {
        let x = points(n, 3, seed);
        let mut rng = Pcg64::seed_from_u64(seed + 1);
        let v = Array2::from_shape_fn((n, t), |_| rng.sample::<f64, _>(StandardNormal));
        let k = Matern52::ard(vec![0.5, 0.8, 1.1], 0.7).unwrap();
        let (kd, gd) = k.matrix_with_grad(x.view()).unwrap();
        let (kv, gv) = kernel_grad_products(&k, x.view(), v.view(), tile).unwrap();
        prop_assert!(pn_core::testing::first_mismatch(&kv, &kd.dot(&v), 1e-10, 1e-12).is_none());
        for (g, d) in gv.iter().zip(&gd) {
            prop_assert!(pn_core::testing::first_mismatch(g, &d.dot(&v), 1e-10, 1e-12).is_none());
        }
    }
}

/// The exact log marginal likelihood and gradient (Cholesky; its gradient is checked against
/// finite differences in `tests/exact.rs`).
fn exact(kernel: &dyn Kernel, noise: f64, x: &Array2<f64>, y: &Array1<f64>) -> (f64, Array1<f64>) {
    let gp = ExactGp::new(kernel.box_clone(), noise, x.view(), y.view()).unwrap();
    (gp.log_marginal_likelihood(), gp.lml_gradient().unwrap())
}

#[test]
fn estimate_agrees_with_the_exact_lml_and_gradient_within_its_standard_errors() {
    let x = points(500, 2, 3);
    let y = targets(&x, 4);
    let cases: Vec<(Box<dyn Kernel>, f64)> = vec![
        (Box::new(SquaredExponential::new(0.3, 1.0).unwrap()), 0.02),
        (Box::new(Matern52::ard(vec![0.2, 0.5], 0.8).unwrap()), 0.05),
        (composite(), 0.01),
    ];
    for (k, noise) in cases {
        let (lml, grad) = exact(k.as_ref(), noise, &x, &y);
        let params = BbmmParams::default().probes(32);
        let est = lml_bbmm(k.as_ref(), x.view(), y.view(), noise, &params).unwrap();
        let z_lml = (est.lml - lml) / est.lml_std_error;
        let z_grad = (&est.gradient - &grad) / &est.gradient_std_error;
        eprintln!(
            "{:?}: lml {:.4} vs {lml:.4} (se {:.3}, z {z_lml:.2}); grad z {:.2}; cg {}",
            k.param_names(),
            est.lml,
            est.lml_std_error,
            z_grad,
            est.cg_iterations
        );
        assert!(z_lml.abs() < 4.0, "lml z = {z_lml}");
        assert!(
            z_grad.iter().all(|z| z.abs() < 4.0),
            "gradient z = {z_grad}"
        );
        // The quadratic term is exact up to the CG tolerance: the representer weights.
        let alpha = ExactGp::new(k.box_clone(), noise, x.view(), y.view()).unwrap();
        assert_allclose(
            &est.alpha,
            &alpha.alpha().to_owned(),
            1e-2,
            1e-3 * y.len() as f64,
        );
    }
}

#[test]
fn standard_errors_are_calibrated_over_probe_seeds() {
    // Mean of z² over 30 independent probe sets for the LML and every gradient entry: about 1
    // (a t-statistic with 15 degrees of freedom has E z² = 15/13) when the standard errors
    // describe the actual error.
    let x = points(300, 2, 5);
    let y = targets(&x, 6);
    let k = SquaredExponential::ard(vec![0.3, 0.6], 1.0).unwrap();
    let noise = 0.03;
    let (lml, grad) = exact(&k, noise, &x, &y);
    let (mut z2_lml, mut z2_grad) = (0.0, Array1::<f64>::zeros(grad.len()));
    let seeds = 30;
    for seed in 0..seeds {
        let p = BbmmParams::default()
            .seed(seed)
            .precond_rank(20)
            .cg_rtol(1e-6);
        let est = lml_bbmm(&k, x.view(), y.view(), noise, &p).unwrap();
        z2_lml += ((est.lml - lml) / est.lml_std_error).powi(2) / seeds as f64;
        z2_grad +=
            &(((&est.gradient - &grad) / &est.gradient_std_error).mapv(|v| v * v) / seeds as f64);
    }
    eprintln!("mean z²: lml {z2_lml:.3}, gradient {z2_grad:.3}");
    assert!((0.5..2.0).contains(&z2_lml), "lml mean z² {z2_lml}");
    assert!(
        z2_grad.iter().all(|z| (0.5..2.0).contains(z)),
        "gradient mean z² {z2_grad}"
    );
}

#[test]
fn standard_error_shrinks_with_probes() {
    let x = points(400, 1, 7);
    let y = targets(&x, 8);
    let k = Matern32::new(0.2, 1.0).unwrap();
    let (lml, _) = exact(&k, 0.01, &x, &y);
    let few = lml_bbmm(
        &k,
        x.view(),
        y.view(),
        0.01,
        &BbmmParams::default().probes(4).precond_rank(10),
    )
    .unwrap();
    let many = lml_bbmm(
        &k,
        x.view(),
        y.view(),
        0.01,
        &BbmmParams::default().probes(64).precond_rank(10),
    )
    .unwrap();
    eprintln!(
        "4 probes: se {:.4}, error {:.4}; 64 probes: se {:.4}, error {:.4}",
        few.lml_std_error,
        few.lml - lml,
        many.lml_std_error,
        many.lml - lml
    );
    assert!(many.lml_std_error < few.lml_std_error / 2.0);
    assert!((many.lml - lml).abs() < 4.0 * many.lml_std_error);
}

/// Exact LML at log-parameters `theta` (kernel's, then log σ²).
fn exact_at(kernel: &dyn Kernel, theta: &Array1<f64>, x: &Array2<f64>, y: &Array1<f64>) -> f64 {
    let p = kernel.n_params();
    let mut k = kernel.box_clone();
    k.set_log_params(theta.slice(s![..p])).unwrap();
    exact(k.as_ref(), theta[p].exp(), x, y).0
}

/// The covariance of the optimum's displacement by gradient noise: `H⁻¹ diag(se²) H⁻¹`, with the
/// Hessian `H` of the exact LML by central differences of the exact gradient.
fn optimum_sd(
    kernel: &dyn Kernel,
    theta: &Array1<f64>,
    se: &Array1<f64>,
    x: &Array2<f64>,
    y: &Array1<f64>,
) -> Array1<f64> {
    let q = theta.len();
    let p = kernel.n_params();
    let grad_at = |t: &Array1<f64>| {
        let mut k = kernel.box_clone();
        k.set_log_params(t.slice(s![..p])).unwrap();
        exact(k.as_ref(), t[p].exp(), x, y).1
    };
    let h = 1e-4;
    let mut hess = Array2::zeros((q, q));
    for j in 0..q {
        let (mut a, mut b) = (theta.clone(), theta.clone());
        a[j] += h;
        b[j] -= h;
        hess.column_mut(j)
            .assign(&((grad_at(&a) - grad_at(&b)) / (2.0 * h)));
    }
    let hess = (&hess + &hess.t()) / 2.0;
    // (−H)⁻¹ with eigenvalues clipped at 1e-8 of the largest: a direction in which the exact
    // LML is flat leaves the parameter free (huge sd); the LML check covers it.
    let (ev, v) = pn_core::dense::eigh((-&hess).view()).unwrap();
    let top = ev.iter().fold(0.0f64, |m, e| m.max(*e));
    let inv = ev.mapv(|e| 1.0 / e.max(1e-8 * top));
    let hinv = (&v * &inv).dot(&v.t());
    let cov = hinv.dot(&Array2::from_diag(&se.mapv(|v| v * v))).dot(&hinv);
    cov.diag().mapv(f64::sqrt)
}

/// Fits by the exact L-BFGS and by `fit_iterative` from the same start and compares: every
/// log-parameter within 4 sd of the displacement that the estimate's gradient noise causes
/// (`H⁻¹ diag(se²) H⁻¹` at the exact optimum), and the exact LML at the iterative optimum within
/// 0.5 nats (a Δ log p of 0.5 is a likelihood ratio of 1.6, far inside any posterior spread of
/// the hyperparameters) of the exact optimum.
fn fit_agrees(k0: Box<dyn Kernel>, d: usize, n: usize) {
    let x = points(n, d, 10 + d as u64);
    let y = targets(&x, 20 + d as u64);
    let ex = fit(
        k0.clone(),
        0.1,
        x.view(),
        y.view(),
        &FitOptions::default().restarts(0),
    )
    .unwrap();
    let theta_ex = ex.gp.log_params();
    let lml_ex = ex.log_marginal_likelihood();
    let opts = IterFitOptions::default().restarts(0);
    let it = fit_iterative(k0.clone(), 0.1, x.view(), y.view(), &opts).unwrap();
    let mut theta_it = it.kernel.log_params().to_vec();
    theta_it.push(it.noise_variance.ln());
    let theta_it = Array1::from(theta_it);
    let lml_it_exact = exact_at(k0.as_ref(), &theta_it, &x, &y);
    let sd = optimum_sd(
        k0.as_ref(),
        &theta_ex,
        &it.info.estimate.gradient_std_error,
        &x,
        &y,
    );
    let z = (&theta_it - &theta_ex) / &sd;
    eprintln!(
        "d = {d}: exact θ {theta_ex:.4}, iterative θ {theta_it:.4}, sd {sd:.4}, z {z:.2}; \
         exact LML {lml_ex:.4}, exact LML at iterative θ {lml_it_exact:.4}, \
         estimate {:.4} ± {:.4}; {} evaluations (exact fit: {}), {} CG iterations, converged {}, {}",
        it.log_marginal_likelihood(),
        it.lml_std_error(),
        it.info.evaluations,
        ex.info.evaluations,
        it.info.cg_iterations,
        it.converged(),
        it.info.starts[it.info.best_start].termination
    );
    assert!(it.converged());
    assert!(z.iter().all(|z| z.abs() < 4.0), "θ deviation in sd: {z}");
    assert!(
        lml_ex - lml_it_exact < 0.5,
        "exact LML lost: {}",
        lml_ex - lml_it_exact
    );
    // The estimate at the optimum describes the exact LML there.
    let est = &it.info.estimate;
    assert!((est.lml - lml_it_exact).abs() < 4.0 * est.lml_std_error + 1e-3 * lml_it_exact.abs());
}

#[test]
fn fit_agrees_with_the_exact_fit_se_1d() {
    fit_agrees(Box::new(SquaredExponential::new(1.0, 1.0).unwrap()), 1, 400);
}

#[test]
fn fit_agrees_with_the_exact_fit_matern_ard_2d() {
    fit_agrees(
        Box::new(Matern52::ard(vec![1.0, 1.0], 1.0).unwrap()),
        2,
        400,
    );
}

#[test]
fn fit_agrees_with_the_exact_fit_sum_3d() {
    let k = SquaredExponential::new(1.0, 1.0).unwrap() + Matern32::new(0.3, 0.1).unwrap();
    fit_agrees(Box::new(k), 3, 500);
}

#[test]
fn observer_sees_each_iteration_and_can_stop() {
    let x = points(150, 1, 30);
    let y = targets(&x, 31);
    let k = Box::new(SquaredExponential::new(1.0, 1.0).unwrap());
    let mut seen = Vec::new();
    let fitted = fit_iterative_with_observer(
        k,
        0.1,
        x.view(),
        y.view(),
        &IterFitOptions::default().restarts(2),
        |s| {
            seen.push((
                s.start,
                s.iteration,
                s.log_marginal_likelihood,
                s.lml_std_error,
            ));
            if s.iteration >= 1 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    // Stopped in the first start after its second iteration: no further starts.
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.0 == 0 && s.2.is_finite() && s.3 >= 0.0)
    );
    assert_eq!(fitted.info.starts.len(), 1);
    assert!(!fitted.converged());
    assert!(fitted.info.starts[0].termination.contains("observer"));
}

#[test]
fn fixed_and_bounded_parameters_are_respected() {
    let x = points(200, 2, 32);
    let y = targets(&x, 33);
    let k = Box::new(SquaredExponential::new(0.5, 1.0).unwrap());
    let opts = IterFitOptions::default()
        .restarts(0)
        .fix(1)
        .bound(0, (0.4f64).ln(), (2.0f64).ln())
        .fix_noise();
    let fitted = fit_iterative(k, 0.05, x.view(), y.view(), &opts).unwrap();
    let p = fitted.kernel.log_params();
    assert_eq!(p[1], 0.0);
    assert_eq!(fitted.noise_variance, 0.05);
    assert!(p[0] > (0.4f64).ln() && p[0] < (2.0f64).ln());
}

#[test]
fn bad_input_gives_errors() {
    let x = points(50, 2, 40);
    let y = targets(&x, 41);
    let k = SquaredExponential::new(0.5, 1.0).unwrap();
    let p = BbmmParams::default();
    let bx = || -> Box<dyn Kernel> { Box::new(k.clone()) };
    let opts = IterFitOptions::default();
    // NaN targets and inputs.
    let mut yn = y.clone();
    yn[3] = f64::NAN;
    assert!(lml_bbmm(&k, x.view(), yn.view(), 0.1, &p).is_err());
    assert!(fit_iterative(bx(), 0.1, x.view(), yn.view(), &opts).is_err());
    let mut xn = x.clone();
    xn[[7, 1]] = f64::INFINITY;
    assert!(lml_bbmm(&k, xn.view(), y.view(), 0.1, &p).is_err());
    // Shapes: targets of the wrong length, an ARD kernel of the wrong dimension, V of the
    // wrong height.
    assert!(lml_bbmm(&k, x.view(), y.slice(s![..49]), 0.1, &p).is_err());
    let ard = SquaredExponential::ard(vec![1.0, 1.0, 1.0], 1.0).unwrap();
    assert!(lml_bbmm(&ard, x.view(), y.view(), 0.1, &p).is_err());
    assert!(kernel_grad_products(&k, x.view(), Array2::zeros((49, 2)).view(), 8).is_err());
    assert!(kernel_grad_products(&k, x.view(), Array2::zeros((50, 2)).view(), 0).is_err());
    // Zero probes, zero noise, no data, a zero CG budget, bad options.
    assert!(lml_bbmm(&k, x.view(), y.view(), 0.1, &p.clone().probes(0)).is_err());
    let zero_probes = IterFitOptions::default().estimator(BbmmParams::default().probes(0));
    assert!(fit_iterative(bx(), 0.1, x.view(), y.view(), &zero_probes).is_err());
    assert!(lml_bbmm(&k, x.view(), y.view(), 0.0, &p).is_err());
    assert!(fit_iterative(bx(), 0.0, x.view(), y.view(), &opts).is_err());
    assert!(lml_bbmm(&k, x.slice(s![..0, ..]), y.slice(s![..0]), 0.1, &p).is_err());
    assert!(lml_bbmm(&k, x.view(), y.view(), 0.1, &p.clone().cg_max_iter(0)).is_err());
    let too_few = p.clone().cg_max_iter(2).precond_rank(0).cg_rtol(1e-12);
    assert!(matches!(
        lml_bbmm(&k, x.view(), y.view(), 0.1, &too_few),
        Err(pn_linalg::Error::NoConvergence { .. })
    ));
    assert!(fit_iterative(bx(), 0.1, x.view(), y.view(), &opts.clone().fix(5)).is_err());
    assert!(
        fit_iterative(
            bx(),
            0.1,
            x.view(),
            y.view(),
            &opts.clone().bound(0, 1.0, 0.0)
        )
        .is_err()
    );
    // Initial value outside its bounds.
    assert!(
        fit_iterative(
            bx(),
            0.1,
            x.view(),
            y.view(),
            &opts.clone().bound(0, 1.0, 2.0)
        )
        .is_err()
    );
}

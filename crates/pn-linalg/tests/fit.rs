//! Hyperparameter fitting: recovery of known hyperparameters from draws of a GP, a stationary
//! optimum by central finite differences, fixed and bounded parameters, observer, bad options.

use ndarray::{Array1, Array2, array};
use pn_core::kernels::{Kernel, Matern32, Matern52, Periodic, SquaredExponential};
use pn_core::{Covariance, Gaussian};
use pn_linalg::Error;
use pn_linalg::exact::ExactGp;
use pn_linalg::fit::{Control, FitOptions, fit, fit_with_observer};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// `y = f(x) + ε` with `f ~ GP(0, kernel)` at `n` uniform inputs in `[0, width]ᵈ`.
fn draw(
    kernel: &dyn Kernel,
    noise: f64,
    n: usize,
    d: usize,
    width: f64,
    seed: u64,
) -> (Array2<f64>, Array1<f64>) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, d), |_| rng.random_range(0.0..width));
    let mut k = kernel.matrix(x.view(), x.view()).unwrap();
    k.diag_mut().mapv_inplace(|v| v + noise);
    let y = Gaussian::new(Array1::zeros(n), Covariance::dense(k).unwrap())
        .unwrap()
        .sample(&mut rng, 1)
        .unwrap()
        .row(0)
        .to_owned();
    (x, y)
}

fn fd_lml_gradient(gp: &ExactGp, h: f64) -> Array1<f64> {
    let p = gp.log_params();
    Array1::from_shape_fn(p.len(), |i| {
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        (gp.with_log_params(a.view())
            .unwrap()
            .log_marginal_likelihood()
            - gp.with_log_params(b.view())
                .unwrap()
                .log_marginal_likelihood())
            / (2.0 * h)
    })
}

#[test]
fn recovers_hyperparameters_of_a_known_gp() {
    // Truth: ℓ = 0.3, σ_f² = 1.5, σ² = 0.04; 400 points over 33 lengthscales.
    let truth = SquaredExponential::new(0.3, 1.5).unwrap();
    let (x, y) = draw(&truth, 0.04, 400, 1, 10.0, 11);
    let start = Box::new(SquaredExponential::new(1.0, 1.0).unwrap());
    let fitted = fit(start, 0.5, x.view(), y.view(), &FitOptions::default()).unwrap();
    let p = fitted.gp.log_params().mapv(f64::exp);
    let (l, sf2, sn2) = (p[0], p[1], p[2]);
    eprintln!("recovered: ℓ = {l:.4}, σ_f² = {sf2:.4}, σ² = {sn2:.5}");
    // Tolerances: ~3 standard errors of the estimators at this n (lengthscale and noise are
    // well determined; the output scale only through ~33 independent lengthscales).
    assert!((l / 0.3 - 1.0).abs() < 0.1, "lengthscale {l}");
    assert!((sf2 / 1.5 - 1.0).abs() < 0.5, "outputscale {sf2}");
    assert!((sn2 / 0.04 - 1.0).abs() < 0.25, "noise {sn2}");
    assert!(fitted.converged(), "{:?}", fitted.info.starts);
    assert_eq!(fitted.info.starts.len(), 4);
    assert_eq!(
        fitted.info.param_names,
        vec!["lengthscale", "outputscale", "noise_variance"]
    );
    // The returned optimum is the best of the starts, and no worse than the truth's likelihood
    // (a maximum-likelihood estimate must beat the data-generating parameters).
    let best = fitted.log_marginal_likelihood();
    assert!(
        fitted
            .info
            .starts
            .iter()
            .all(|s| s.log_marginal_likelihood <= best + 1e-9)
    );
    let at_truth = ExactGp::new(Box::new(truth), 0.04, x.view(), y.view()).unwrap();
    assert!(best >= at_truth.log_marginal_likelihood());

    // Stationary point: central differences of log p(y) vanish (compared with the gradient's
    // size at the truth, which is far from zero on this scale).
    let fd = fd_lml_gradient(&fitted.gp, 1e-4);
    let at_truth_grad = at_truth.lml_gradient().unwrap();
    let gmax = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    eprintln!("FD gradient at the optimum: max |·| = {gmax:.2e}; at the truth: {at_truth_grad}");
    assert!(gmax < 2e-3, "FD gradient at the optimum {fd}");
    assert!(at_truth_grad.iter().any(|v| v.abs() > 100.0 * gmax));
}

#[test]
fn recovers_ard_lengthscales_in_two_dimensions() {
    let truth = Matern52::ard(vec![0.5, 2.0], 1.0).unwrap();
    let (x, y) = draw(&truth, 0.01, 300, 2, 5.0, 12);
    let start = Box::new(Matern52::ard(vec![1.0, 1.0], 1.0).unwrap());
    let fitted = fit(
        start,
        0.1,
        x.view(),
        y.view(),
        &FitOptions::default().restarts(1),
    )
    .unwrap();
    let p = fitted.gp.log_params().mapv(f64::exp);
    assert!((p[0] / 0.5 - 1.0).abs() < 0.2, "ℓ₁ {}", p[0]);
    assert!((p[1] / 2.0 - 1.0).abs() < 0.35, "ℓ₂ {}", p[1]);
    assert!((p[3] / 0.01 - 1.0).abs() < 0.35, "noise {}", p[3]);
}

#[test]
fn composite_kernel_fit_improves_and_is_stationary() {
    // Sum and product: SE trend + SE × periodic.
    let truth = SquaredExponential::new(3.0, 1.0).unwrap()
        + SquaredExponential::new(4.0, 0.5).unwrap() * Periodic::new(1.0, 1.0, 1.0).unwrap();
    let (x, y) = draw(&truth, 0.01, 150, 1, 10.0, 13);
    let start: Box<dyn Kernel> = Box::new(
        SquaredExponential::new(2.0, 1.0).unwrap()
            + SquaredExponential::new(2.0, 1.0).unwrap() * Periodic::new(1.0, 1.05, 1.0).unwrap(),
    );
    let initial = ExactGp::new(start.clone(), 0.1, x.view(), y.view()).unwrap();
    let fitted = fit(
        start,
        0.1,
        x.view(),
        y.view(),
        &FitOptions::default().restarts(1).max_iters(300),
    )
    .unwrap();
    assert!(fitted.log_marginal_likelihood() > initial.log_marginal_likelihood() + 10.0);
    let period = fitted.gp.log_params()[5].exp();
    assert!((period - 1.0).abs() < 0.01, "period {period}");
    let fd = fd_lml_gradient(&fitted.gp, 1e-4);
    assert!(
        fd.iter().all(|v| v.abs() < 2e-2),
        "FD gradient at optimum {fd}"
    );
}

#[test]
fn noise_free_fit_keeps_zero_noise() {
    // Bayesian quadrature's case: deterministic evaluations, only the kernel is fitted.
    let x = Array2::from_shape_fn((25, 1), |(i, _)| i as f64 / 24.0);
    let y = x.column(0).mapv(|t| (6.0 * t).sin() + t * t);
    let fitted = fit(
        Box::new(Matern52::new(1.0, 1.0).unwrap()),
        0.0,
        x.view(),
        y.view(),
        &FitOptions::default().fix_noise().restarts(1),
    )
    .unwrap();
    assert_eq!(fitted.noise_variance(), 0.0);
    assert_eq!(fitted.gp.log_params().len(), 3);
    let (m, v) = fitted.gp.predict(x.view()).unwrap();
    for i in 0..25 {
        assert!((m[i] - y[i]).abs() < 1e-4, "interpolates");
        assert!(v[i] < 1e-6);
    }
    // It is a maximum: moving the lengthscale either way lowers the likelihood.
    let lml = fitted.log_marginal_likelihood();
    let p = fitted.gp.log_params();
    for d in [-0.05, 0.05] {
        let mut q = p.clone();
        q[0] += d;
        let k = fitted.gp.kernel().box_clone();
        let mut k2 = k.clone();
        k2.set_log_params(q.slice(ndarray::s![..2])).unwrap();
        let other = ExactGp::new(k2, 0.0, x.view(), y.view()).unwrap();
        assert!(other.log_marginal_likelihood() < lml + 1e-6);
    }
}

#[test]
fn seeded_restarts_are_reproducible_and_spread() {
    let truth = Matern32::new(0.5, 1.0).unwrap();
    let (x, y) = draw(&truth, 0.05, 80, 1, 5.0, 14);
    let opts = FitOptions::default().restarts(3).seed(42);
    let a = fit(Box::new(truth.clone()), 0.05, x.view(), y.view(), &opts).unwrap();
    let b = fit(Box::new(truth.clone()), 0.05, x.view(), y.view(), &opts).unwrap();
    assert_eq!(a.gp.log_params(), b.gp.log_params());
    let starts: Vec<_> = a
        .info
        .starts
        .iter()
        .map(|s| s.initial_log_params.clone())
        .collect();
    assert_eq!(starts[0], array![0.5f64.ln(), 0.0, 0.05f64.ln()]);
    for s in &starts[1..] {
        assert!(*s != starts[0]);
        assert!(
            s.iter()
                .zip(starts[0].iter())
                .all(|(u, v)| (u - v).abs() <= 2.3)
        );
    }
    let c = fit(
        Box::new(truth),
        0.05,
        x.view(),
        y.view(),
        &opts.clone().seed(43),
    )
    .unwrap();
    assert_ne!(c.info.starts[1].initial_log_params, starts[1]);
}

#[test]
fn bounds_and_fixed_parameters_are_respected() {
    let truth = SquaredExponential::new(0.3, 1.0).unwrap();
    let (x, y) = draw(&truth, 0.01, 100, 1, 5.0, 15);
    // Lengthscale confined to [0.5, 2]: the optimum sits at the lower bound.
    let opts = FitOptions::default()
        .bound(0, 0.5f64.ln(), 2.0f64.ln())
        .bound(2, -10.0, 0.0);
    let fitted = fit(
        Box::new(SquaredExponential::new(1.0, 1.0).unwrap()),
        0.1,
        x.view(),
        y.view(),
        &opts,
    )
    .unwrap();
    let l = fitted.gp.log_params()[0].exp();
    assert!((0.5..=0.52).contains(&l), "lengthscale {l}");
    for s in &fitted.info.starts {
        assert!(s.initial_log_params[0] > 0.5f64.ln() && s.initial_log_params[0] < 2.0f64.ln());
    }
    // The output scale held fixed.
    let fitted = fit(
        Box::new(SquaredExponential::new(1.0, 3.0).unwrap()),
        0.1,
        x.view(),
        y.view(),
        &FitOptions::default().fix(1).restarts(1),
    )
    .unwrap();
    assert_eq!(fitted.gp.log_params()[1], 3.0f64.ln());
}

#[test]
fn gaussian_priors_give_the_map_estimate() {
    let truth = SquaredExponential::new(0.3, 1.0).unwrap();
    let (x, y) = draw(&truth, 0.01, 100, 1, 5.0, 17);
    // A prior N(log 0.6, 0.2²) on log ℓ pulls the lengthscale away from the likelihood's optimum.
    let (mu, sd) = (0.6f64.ln(), 0.2);
    let start = || Box::new(SquaredExponential::new(1.0, 1.0).unwrap());
    let ml = fit(start(), 0.1, x.view(), y.view(), &FitOptions::default()).unwrap();
    let map = fit(
        start(),
        0.1,
        x.view(),
        y.view(),
        &FitOptions::default().prior(0, mu, sd),
    )
    .unwrap();
    let (l_ml, l_map) = (ml.gp.log_params()[0], map.gp.log_params()[0]);
    assert!(
        l_ml < l_map && l_map < mu,
        "ML {l_ml}, MAP {l_map}, prior mean {mu}"
    );
    // Stationary point of log p(y | θ) + log N(θ₀; μ, s²): central differences vanish.
    let p = map.gp.log_params();
    let objective = |q: &Array1<f64>| {
        map.gp
            .with_log_params(q.view())
            .unwrap()
            .log_marginal_likelihood()
            - 0.5 * ((q[0] - mu) / sd).powi(2)
    };
    for i in 0..p.len() {
        let h = 1e-4;
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        let d = (objective(&a) - objective(&b)) / (2.0 * h);
        assert!(d.abs() < 1e-3, "d/dθ{i} = {d}");
    }
    let s = &map.info.starts[map.info.best_start];
    assert!(
        (s.objective - (s.log_marginal_likelihood - 0.5 * ((p[0] - mu) / sd).powi(2))).abs() < 1e-9
    );
    assert!(
        fit(
            start(),
            0.1,
            x.view(),
            y.view(),
            &FitOptions::default().prior(0, 0.0, 0.0)
        )
        .is_err()
    );
}

#[test]
fn observer_sees_every_iteration_and_can_stop() {
    let truth = SquaredExponential::new(0.3, 1.0).unwrap();
    let (x, y) = draw(&truth, 0.01, 60, 1, 5.0, 16);
    let mut seen = Vec::new();
    let fitted = fit_with_observer(
        Box::new(SquaredExponential::new(1.0, 1.0).unwrap()),
        0.1,
        x.view(),
        y.view(),
        &FitOptions::default(),
        |s| {
            seen.push((s.start, s.iteration, s.log_marginal_likelihood));
            if s.iteration >= 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.0 == 0));
    assert_eq!(fitted.info.starts.len(), 1);
    assert!(!fitted.converged());
    assert_eq!(fitted.info.starts[0].termination, "stopped by the observer");
    // L-BFGS with a line search never goes downhill.
    assert!(seen.windows(2).all(|w| w[1].2 >= w[0].2 - 1e-9));
}

#[test]
fn bad_options_are_clear_errors() {
    let x = array![[0.0], [1.0], [2.0]];
    let y = array![0.0, 1.0, 0.5];
    let k = || -> Box<dyn Kernel> { Box::new(SquaredExponential::new(0.5, 1.0).unwrap()) };
    let run = |noise, opts: FitOptions| fit(k(), noise, x.view(), y.view(), &opts);
    // Zero noise cannot be fitted in log space unless fixed.
    assert!(matches!(
        run(0.0, FitOptions::default()),
        Err(Error::Core(pn_core::Error::InvalidParameter { .. }))
    ));
    assert!(run(0.0, FitOptions::default().fix_noise()).is_ok());
    assert!(run(0.1, FitOptions::default().fix(2)).is_err());
    assert!(run(0.1, FitOptions::default().bound(3, 0.0, 1.0)).is_err());
    assert!(run(0.1, FitOptions::default().bound(0, 1.0, 0.0)).is_err());
    // The initial lengthscale (log 0.5 < 0) lies outside [0, 1].
    assert!(run(0.1, FitOptions::default().bound(0, 0.0, 1.0)).is_err());
    assert!(run(0.1, FitOptions::default().memory(0)).is_err());
    assert!(run(-1.0, FitOptions::default()).is_err());
    assert!(
        fit(
            k(),
            0.1,
            x.view(),
            array![0.0, f64::NAN, 1.0].view(),
            &FitOptions::default()
        )
        .is_err()
    );
}

//! The front door `GpRegression`: method choice, equality of the paths, units of the
//! standardised targets, calibration, errors.

use ndarray::{Array1, Array2, Axis, array, concatenate, s};
use pn_core::kernels::{Kernel, Matern12, Matern32, SquaredExponential};
use pn_core::testing::assert_allclose;
use pn_core::{Covariance, Gaussian};
use pn_linalg::Error;
use pn_linalg::fit::FitOptions;
use pn_linalg::gp::{GpRegression, Method};
use pn_linalg::state_space::{MaternComponent, Nu};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn comps() -> Vec<MaternComponent> {
    vec![
        MaternComponent {
            nu: Nu::ThreeHalves,
            lengthscale: 0.5,
            variance: 1.0,
        },
        MaternComponent {
            nu: Nu::Half,
            lengthscale: 3.0,
            variance: 0.2,
        },
    ]
}

fn data_1d(n: usize, seed: u64) -> (Array2<f64>, Array1<f64>) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, 1), |_| rng.random_range(0.0..10.0));
    let y = x.column(0).mapv(|t: f64| 5.0 + 2.0 * (1.3 * t).sin())
        + Array1::from_shape_fn(n, |_| 0.2 * rng.sample::<f64, _>(StandardNormal));
    (x, y)
}

#[test]
fn auto_picks_exact_for_small_and_state_space_for_large_matern_problems() {
    let (x, y) = data_1d(120, 1);
    let reg = GpRegression::matern(&comps(), 0.05)
        .unwrap()
        .optimize(false);
    assert_eq!(reg.choose(120, 1), Method::Exact);
    let small = reg.fit(x.view(), y.view()).unwrap();
    assert_eq!(small.method(), Method::Exact);
    let big = reg
        .clone()
        .exact_max_n(100)
        .fit(x.view(), y.view())
        .unwrap();
    assert_eq!(big.method(), Method::StateSpace);
    // Not a Matérn sum, or 2-D: no structured path, the iterative one.
    let other = GpRegression::new(Box::new(SquaredExponential::new(1.0, 1.0).unwrap()), 0.1)
        .exact_max_n(10);
    assert_eq!(other.choose(120, 1), Method::IterGp);
    assert_eq!(other.choose(10, 1), Method::Exact);
    assert_eq!(reg.clone().exact_max_n(10).choose(120, 2), Method::IterGp);

    // Both paths give the same posterior and evidence (state-space = dense GP).
    let xs = array![[-1.0], [0.37], [5.5], [11.0]];
    let (m1, v1) = small.predict(xs.view()).unwrap();
    let (m2, v2) = big.predict(xs.view()).unwrap();
    assert_allclose(&m1, &m2, 1e-8, 1e-10);
    assert_allclose(&v1, &v2, 1e-7, 1e-10);
    let (a, b) = (
        small.log_marginal_likelihood().unwrap(),
        big.log_marginal_likelihood().unwrap(),
    );
    assert!((a - b).abs() < 1e-8 * a.abs(), "{a} vs {b}");
    let (_, n1) = small.predict_noisy(xs.view()).unwrap();
    let (_, n2) = big.predict_noisy(xs.view()).unwrap();
    assert_allclose(&n1, &n2, 1e-7, 1e-10);
}

#[test]
fn standardised_targets_report_the_original_units() {
    // With fixed hyperparameters θ for the standardised z = (y − m)/s, the model for y is
    // N(m·1, s² (K + σ²I)); check the evidence and predictions against that directly.
    let (x, y) = data_1d(40, 2);
    let kernel = Matern32::new(0.7, 1.1).unwrap();
    let noise = 0.03;
    let post = GpRegression::new(Box::new(kernel.clone()), noise)
        .optimize(false)
        .fit(x.view(), y.view())
        .unwrap();
    let (m, s) = post.y_transform();
    assert!((m - y.mean().unwrap()).abs() < 1e-12);
    assert!((s - y.std(0.0)).abs() < 1e-12);
    let xs = array![[0.5], [4.2]];
    let all = concatenate(Axis(0), &[x.view(), xs.view()]).unwrap();
    let n = x.nrows();
    let mut k = kernel.matrix(all.view(), all.view()).unwrap() * (s * s);
    let mut kn = k.slice(s![..n, ..n]).to_owned();
    kn.diag_mut().mapv_inplace(|v| v + noise * s * s);
    let evidence = Gaussian::new(Array1::from_elem(n, m), Covariance::dense(kn).unwrap())
        .unwrap()
        .logpdf(y.view())
        .unwrap();
    assert!((post.log_marginal_likelihood().unwrap() - evidence).abs() < 1e-9 * evidence.abs());
    // Prediction: the Schur complement of the joint covariance over [train; test].
    for i in 0..n {
        k[[i, i]] += noise * s * s;
    }
    let kxx = k.slice(s![..n, ..n]).to_owned();
    let ksx = k.slice(s![n.., ..n]).to_owned();
    let chol = pn_core::dense::cholesky(kxx.view()).unwrap();
    let w = chol.solve_mat(ksx.t()).unwrap();
    let mean = Array1::from_elem(2, m) + w.t().dot(&(&y - m));
    let var = Array1::from_shape_fn(2, |i| k[[n + i, n + i]] - ksx.row(i).dot(&w.column(i)));
    let (pm, pv) = post.predict(xs.view()).unwrap();
    assert_allclose(&pm, &mean, 1e-9, 1e-9);
    assert_allclose(&pv, &var, 1e-8, 1e-10);
    assert!((post.noise_variance_original() - noise * s * s).abs() < 1e-14);
    // Full covariance and samples through the front door.
    let full = post.predict_full(xs.view()).unwrap();
    assert_allclose(&full.var(), &var, 1e-8, 1e-10);
    let draws = post
        .sample(xs.view(), 4000, &mut Pcg64::seed_from_u64(3))
        .unwrap();
    let emp = draws.mean_axis(Axis(0)).unwrap();
    for i in 0..2 {
        assert!((emp[i] - mean[i]).abs() < 5.0 * (var[i] / 4000.0).sqrt());
    }
}

#[test]
fn fitted_front_door_is_calibrated_on_draws_from_the_prior() {
    // Data from a known GP; hyperparameters fitted each time; z² of held-out latent values.
    let truth = SquaredExponential::new(0.6, 1.0).unwrap();
    let mut rng = Pcg64::seed_from_u64(4);
    let (n, m, draws) = (40, 8, 40);
    let mut z2 = Vec::new();
    for _ in 0..draws {
        let x = Array2::from_shape_fn((n + m, 1), |_| rng.random_range(0.0..5.0));
        let f = Gaussian::new(
            Array1::zeros(n + m),
            Covariance::dense(truth.matrix(x.view(), x.view()).unwrap()).unwrap(),
        )
        .unwrap()
        .sample(&mut rng, 1)
        .unwrap()
        .row(0)
        .to_owned();
        let y = f.slice(s![..n]).to_owned()
            + Array1::from_shape_fn(n, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
        let post = GpRegression::new(Box::new(SquaredExponential::new(1.0, 1.0).unwrap()), 0.1)
            .fit_options(FitOptions::default().restarts(0))
            .fit(x.slice(s![..n, ..]), y.view())
            .unwrap();
        let (mu, var) = post.predict(x.slice(s![n.., ..])).unwrap();
        for i in 0..m {
            z2.push((f[n + i] - mu[i]).powi(2) / var[i]);
        }
    }
    let mean_z2 = z2.iter().sum::<f64>() / z2.len() as f64;
    eprintln!("front door, fitted each time: mean z² = {mean_z2:.3}");
    // Fitted hyperparameters make it a little overconfident on average; still within the band.
    assert!((0.8..=1.25).contains(&mean_z2), "mean z² = {mean_z2}");
}

#[test]
fn state_space_path_fits_on_a_subsample() {
    let (x, y) = data_1d(600, 5);
    let mut opts = pn_linalg::gp::GpOptions::default();
    opts.exact_max_n = 300;
    opts.fit_max_n = 150;
    opts.fit = FitOptions::default().restarts(0);
    let post = GpRegression::matern(&comps(), 0.1)
        .unwrap()
        .options(opts)
        .fit(x.view(), y.view())
        .unwrap();
    assert_eq!(post.method(), Method::StateSpace);
    assert!(post.exact().is_none());
    let info = post.fit_info().unwrap();
    assert_eq!(info.starts.len(), 1);
    // The noise level of the data (0.2² in original units) is recovered from the subsample.
    let noise = post.noise_variance_original();
    assert!((noise / 0.04 - 1.0).abs() < 0.5, "noise {noise}");
    let xs = Array2::from_shape_fn((50, 1), |(i, _)| 0.1 + i as f64 * 0.19);
    let (mean, _) = post.predict(xs.view()).unwrap();
    let truth = xs.column(0).mapv(|t: f64| 5.0 + 2.0 * (1.3 * t).sin());
    let rmse = ((&mean - &truth).mapv(|e| e * e).mean().unwrap()).sqrt();
    assert!(rmse < 0.1, "rmse {rmse}");
    // The state-space path has no joint covariance: a clear error.
    assert!(matches!(
        post.predict_full(xs.view()),
        Err(Error::Core(pn_core::Error::Unsupported { .. }))
    ));
}

#[test]
fn iterative_path_above_the_exact_size_agrees_with_the_exact_gp() {
    // 2-D inputs and a squared-exponential kernel: no state-space path, so Auto takes IterGP
    // (preconditioned CG policy) above `exact_max_n`.
    let mut rng = Pcg64::seed_from_u64(7);
    let n = 400;
    let x: Array2<f64> = Array2::from_shape_fn((n, 2), |_| rng.random_range(-2.0..2.0));
    let y = x.map_axis(Axis(1), |r| (1.5 * r[0]).sin() * r[1].cos())
        + Array1::from_shape_fn(n, |_| 0.05 * rng.sample::<f64, _>(StandardNormal));
    let reg = GpRegression::new(Box::new(SquaredExponential::new(0.8, 1.0).unwrap()), 0.01)
        .optimize(false);
    let exact = reg.clone().fit(x.view(), y.view()).unwrap();
    let iter = reg.exact_max_n(100).fit(x.view(), y.view()).unwrap();
    assert_eq!(exact.method(), Method::Exact);
    assert_eq!(iter.method(), Method::IterGp);
    assert!(iter.log_marginal_likelihood().is_none());
    let xs = Array2::from_shape_fn((30, 2), |_| rng.random_range(-2.5..2.5));
    let (m1, v1) = exact.predict(xs.view()).unwrap();
    let (m2, v2) = iter.predict(xs.view()).unwrap();
    assert_allclose(&m2, &m1, 1e-4, 1e-5);
    // Combined variance: never below the exact posterior variance (the computational part is
    // ≥ 0) and never above the prior variance (here s² · 1 in the targets' units).
    let (_, s) = iter.y_transform();
    for i in 0..30 {
        assert!(v2[i] >= v1[i] - 1e-10, "{} < {}", v2[i], v1[i]);
        assert!(v2[i] <= s * s + 1e-10);
    }
    let full = iter.predict_full(xs.view()).unwrap();
    assert_allclose(&full.var(), &v2, 1e-8, 1e-10);
}

#[test]
fn regular_grids_take_the_toeplitz_path() {
    // A sorted regular 1-D grid and a stationary kernel that is not a Matérn sum.
    let n = 300;
    let x = Array2::from_shape_fn((n, 1), |(i, _)| i as f64 * 0.05);
    let mut rng = Pcg64::seed_from_u64(8);
    let y = x.column(0).mapv(|t: f64| (2.0 * t).sin())
        + Array1::from_shape_fn(n, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    let reg = GpRegression::new(Box::new(SquaredExponential::new(0.4, 1.0).unwrap()), 0.02)
        .optimize(false);
    let exact = reg.clone().fit(x.view(), y.view()).unwrap();
    let toep = reg
        .clone()
        .exact_max_n(100)
        .fit(x.view(), y.view())
        .unwrap();
    assert_eq!(toep.method(), Method::Toeplitz);
    let xs = array![[-0.3], [1.234], [7.77], [16.0]];
    let (m1, v1) = exact.predict(xs.view()).unwrap();
    let (m2, v2) = toep.predict(xs.view()).unwrap();
    assert_allclose(&m2, &m1, 1e-6, 1e-8);
    assert_allclose(&v2, &v1, 1e-5, 1e-8);
    assert!(toep.log_marginal_likelihood().is_none());
    assert!(toep.predict_full(xs.view()).is_err());
    // Shuffled inputs are not a grid: IterGP instead.
    let mut idx: Vec<usize> = (0..n).collect();
    idx.swap(3, 200);
    let xr = x.select(Axis(0), &idx);
    let yr = y.select(Axis(0), &idx);
    let other = reg.exact_max_n(100).fit(xr.view(), yr.view()).unwrap();
    assert_eq!(other.method(), Method::IterGp);
}

#[test]
fn bad_requests_are_clear_errors() {
    let (x, y) = data_1d(20, 6);
    let se: Box<dyn Kernel> = Box::new(SquaredExponential::new(1.0, 1.0).unwrap());
    let err = GpRegression::new(se.clone(), 0.1)
        .method(Method::StateSpace)
        .fit(x.view(), y.view())
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Core(pn_core::Error::Unsupported { .. })
    ));
    let x2 = Array2::from_shape_fn((20, 2), |(i, j)| (i + j) as f64);
    let err = GpRegression::matern(&comps(), 0.1)
        .unwrap()
        .method(Method::StateSpace)
        .fit(x2.view(), y.view())
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Core(pn_core::Error::Unsupported { .. })
    ));
    assert!(GpRegression::matern(&[], 0.1).is_err());
    assert!(
        GpRegression::new(se.clone(), 0.1)
            .fit(x.view(), y.slice(s![..10]))
            .is_err()
    );
    let mut yn = y.clone();
    yn[3] = f64::NAN;
    assert!(
        GpRegression::new(se.clone(), 0.1)
            .fit(x.view(), yn.view())
            .is_err()
    );
    let post = GpRegression::new(Box::new(Matern12::new(1.0, 1.0).unwrap()), 0.1)
        .optimize(false)
        .fit(x.view(), y.view())
        .unwrap();
    assert!(post.predict(x2.view()).is_err());
    assert!(post.nlpd(x.view(), y.slice(s![..5])).is_err());
    // A non-finite test target is an error, not a NaN density.
    assert!(matches!(
        post.nlpd(x.view(), yn.view()),
        Err(Error::Core(pn_core::Error::NonFinite { .. }))
    ));
    // Constant targets: standardisation keeps scale 1 rather than dividing by zero.
    let flat = Array1::from_elem(20, 3.0);
    let post = GpRegression::new(se, 0.1)
        .optimize(false)
        .fit(x.view(), flat.view())
        .unwrap();
    let (m, _) = post.predict(x.view()).unwrap();
    assert!(m.iter().all(|&v| (v - 3.0).abs() < 1e-12));
}

/// A fit with the noise fixed at zero on repeated inputs needs the jitter ladder; the other
/// paths then condition on the fitted model `K + (σ² + jitter) I`, not on a singular `K`.
#[test]
fn fitted_jitter_is_carried_to_the_other_paths() {
    let (x1, y1) = data_1d(15, 11);
    let x = concatenate![Axis(0), x1, x1];
    let y = concatenate![Axis(0), y1, y1];
    let se: Box<dyn Kernel> = Box::new(SquaredExponential::new(1.0, 1.0).unwrap());
    let fit = FitOptions::default().fix_noise().restarts(0);
    let exact = GpRegression::new(se.clone(), 0.0)
        .fit_options(fit.clone())
        .method(Method::Exact)
        .fit(x.view(), y.view())
        .unwrap();
    let jitter = exact.exact().unwrap().jitter();
    assert!(jitter > 0.0, "repeated inputs without noise need jitter");
    let cg = GpRegression::new(se, 0.0)
        .fit_options(fit)
        .method(Method::Cg)
        .fit(x.view(), y.view())
        .unwrap();
    assert_eq!(cg.noise_variance(), jitter);
    let (me, ve) = exact.predict(x1.view()).unwrap();
    let (mc, vc) = cg.predict(x1.view()).unwrap();
    assert_allclose(&mc, &me, 1e-5, 1e-5);
    assert_allclose(&vc, &ve, 1e-4, 1e-6);
}

//! Exact GP regression against independent references: pn-core's dense Gaussian conditioning,
//! closed forms for one and two points, central finite differences, the state-space GP, and
//! calibration over draws from the prior.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, array, concatenate, s};
use pn_core::kernels::{
    Kernel, Linear, Matern12, Matern32, Matern52, Periodic, RationalQuadratic, SquaredExponential,
};
use pn_core::testing::assert_allclose;
use pn_core::{Covariance, Gaussian, LinearMap};
use pn_linalg::Error;
use pn_linalg::exact::{ExactGp, ExactOptions};
use pn_linalg::state_space::{MaternComponent, Nu, StateSpaceGp};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn uniform(rng: &mut Pcg64, n: usize, d: usize, lo: f64, hi: f64) -> Array2<f64> {
    Array2::from_shape_fn((n, d), |_| rng.random_range(lo..hi))
}

fn normal(rng: &mut Pcg64, n: usize) -> Array1<f64> {
    Array1::from_shape_fn(n, |_| rng.sample(StandardNormal))
}

/// A composite kernel exercising sums, products and every parameter kind.
fn composite() -> Box<dyn Kernel> {
    Box::new(
        SquaredExponential::ard(vec![0.7, 1.3], 1.2).unwrap()
            + Matern32::new(0.5, 0.4).unwrap() * Periodic::new(0.9, 1.7, 0.8).unwrap()
            + RationalQuadratic::new(0.4, 1.5, 0.3).unwrap(),
    )
}

/// Dense reference: the joint prior over `[train; test]` conditioned with pn-core.
fn dense_reference(
    kernel: &dyn Kernel,
    noise: f64,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    xs: ArrayView2<'_, f64>,
) -> (Gaussian, f64) {
    let all = concatenate(Axis(0), &[x, xs]).unwrap();
    let n = all.nrows();
    let k = kernel.matrix(all.view(), all.view()).unwrap();
    let prior = Gaussian::new(Array1::zeros(n), Covariance::dense(k).unwrap()).unwrap();
    let h = LinearMap::selection((0..x.nrows()).collect(), n).unwrap();
    let out = prior
        .condition(
            h,
            y,
            &Covariance::scaled_identity(x.nrows(), noise).unwrap(),
        )
        .unwrap();
    let test: Vec<usize> = (x.nrows()..n).collect();
    (
        out.posterior.marginal(&test).unwrap(),
        out.log_marginal_likelihood,
    )
}

#[test]
fn matches_dense_gaussian_conditioning() {
    let mut rng = Pcg64::seed_from_u64(1);
    for (case, noise) in [0.3, 0.01, 1e-4].into_iter().enumerate() {
        let x = uniform(&mut rng, 25 + 10 * case, 2, -2.0, 2.0);
        let y = normal(&mut rng, x.nrows());
        let xs = uniform(&mut rng, 7, 2, -2.5, 2.5);
        let k = composite();
        let gp = ExactGp::new(k.clone(), noise, x.view(), y.view()).unwrap();
        assert_eq!(gp.jitter(), 0.0);
        let (reference, lml) = dense_reference(k.as_ref(), noise, x.view(), y.view(), xs.view());
        let (mean, var) = gp.predict(xs.view()).unwrap();
        assert_allclose(&mean, &reference.mean(), 1e-8, 1e-10);
        assert_allclose(&var, &reference.var(), 1e-7, 1e-10);
        let full = gp.predict_full(xs.view()).unwrap();
        assert_allclose(&full.cov_dense(), &reference.cov_dense(), 1e-7, 1e-10);
        assert_allclose(&full.mean(), &reference.mean(), 1e-8, 1e-10);
        assert!(
            (gp.log_marginal_likelihood() - lml).abs() < 1e-9 * lml.abs().max(1.0),
            "{} vs {lml}",
            gp.log_marginal_likelihood()
        );
        // Noisy predictive adds exactly σ².
        let (_, vn) = gp.predict_noisy(xs.view()).unwrap();
        assert_allclose(&(&vn - &var), &Array1::from_elem(7, noise), 1e-12, 1e-14);
    }
}

#[test]
fn one_and_two_points_closed_form() {
    let (l, sf2, sn2) = (0.8, 1.7, 0.2);
    let k = |a: f64, b: f64| sf2 * (-(a - b) * (a - b) / (2.0 * l * l)).exp();
    // n = 1
    let (x0, y0, xs) = (0.3, 1.1, 0.9);
    let gp = ExactGp::new(
        Box::new(SquaredExponential::new(l, sf2).unwrap()),
        sn2,
        array![[x0]].view(),
        array![y0].view(),
    )
    .unwrap();
    let (m, v) = gp.predict(array![[xs]].view()).unwrap();
    let s = k(x0, x0) + sn2;
    assert!((m[0] - k(xs, x0) / s * y0).abs() < 1e-14);
    assert!((v[0] - (sf2 - k(xs, x0).powi(2) / s)).abs() < 1e-14);
    let lml = -0.5 * y0 * y0 / s - 0.5 * (2.0 * std::f64::consts::PI * s).ln();
    assert!((gp.log_marginal_likelihood() - lml).abs() < 1e-14);

    // n = 2, with the explicit 2 × 2 inverse.
    let (xa, xb, ya, yb) = (-0.4, 0.5, 0.7, -0.2);
    let gp = ExactGp::new(
        Box::new(SquaredExponential::new(l, sf2).unwrap()),
        sn2,
        array![[xa], [xb]].view(),
        array![ya, yb].view(),
    )
    .unwrap();
    let (a, b, d) = (k(xa, xa) + sn2, k(xa, xb), k(xb, xb) + sn2);
    let det = a * d - b * b;
    let inv = [[d / det, -b / det], [-b / det, a / det]];
    let alpha = [
        inv[0][0] * ya + inv[0][1] * yb,
        inv[1][0] * ya + inv[1][1] * yb,
    ];
    let ks = [k(xs, xa), k(xs, xb)];
    let mean = ks[0] * alpha[0] + ks[1] * alpha[1];
    let quad = ks[0] * (inv[0][0] * ks[0] + inv[0][1] * ks[1])
        + ks[1] * (inv[1][0] * ks[0] + inv[1][1] * ks[1]);
    let (m, v) = gp.predict(array![[xs]].view()).unwrap();
    assert!((m[0] - mean).abs() < 1e-13);
    assert!((v[0] - (sf2 - quad)).abs() < 1e-13);
    let lml =
        -0.5 * (ya * alpha[0] + yb * alpha[1]) - 0.5 * det.ln() - (2.0 * std::f64::consts::PI).ln();
    assert!((gp.log_marginal_likelihood() - lml).abs() < 1e-13);
    // Leave-one-out: predicting point b from a alone.
    let (lm, lv) = gp.loo().unwrap();
    let s_a = k(xa, xa) + sn2;
    assert!((lm[1] - k(xb, xa) / s_a * ya).abs() < 1e-12);
    assert!((lv[1] - (sf2 + sn2 - k(xb, xa).powi(2) / s_a)).abs() < 1e-12);
}

fn fd_gradient(gp: &ExactGp, h: f64) -> Array1<f64> {
    let p = gp.log_params();
    Array1::from_shape_fn(p.len(), |i| {
        let mut plus = p.clone();
        let mut minus = p.clone();
        plus[i] += h;
        minus[i] -= h;
        let fp = gp.with_log_params(plus.view()).unwrap();
        let fm = gp.with_log_params(minus.view()).unwrap();
        (fp.log_marginal_likelihood() - fm.log_marginal_likelihood()) / (2.0 * h)
    })
}

#[test]
fn gradient_matches_central_differences() {
    let mut rng = Pcg64::seed_from_u64(2);
    let x = uniform(&mut rng, 40, 2, -2.0, 2.0);
    let y = normal(&mut rng, 40).mapv(|v| 0.8 * v);
    let kernels: Vec<Box<dyn Kernel>> = vec![
        composite(),
        Box::new(Matern12::new(0.6, 1.1).unwrap() + Linear::with_bias(0.3, 0.5).unwrap()),
        Box::new(Matern52::ard(vec![0.5, 2.0], 0.9).unwrap()),
    ];
    for k in kernels {
        let gp = ExactGp::new(k, 0.05, x.view(), y.view()).unwrap();
        let g = gp.lml_gradient().unwrap();
        let fd = fd_gradient(&gp, 1e-5);
        assert_eq!(g.len(), gp.kernel().n_params() + 1);
        assert_eq!(gp.param_names().len(), g.len());
        let scale = g.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in g.iter().zip(fd.iter()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * scale,
                "param {i} ({}): analytic {a} vs FD {b}",
                gp.param_names()[i]
            );
        }
    }
}

#[test]
fn gradient_includes_the_jitter_it_added() {
    // Duplicate inputs, zero noise: the ladder adds c · mean(diag K), which moves with the
    // output scale. The analytic gradient must be that of the evidence actually computed.
    let x = array![[0.0], [0.4], [0.4], [0.9], [1.3], [1.3]];
    let y = array![0.1, 0.5, 0.5, -0.2, 0.3, 0.3];
    // One coarse rung keeps the matrix well conditioned, so that central differences are exact
    // enough to check it (without the term the output-scale derivative is −1.17 instead of −2.17).
    let gp = ExactGp::with_options(
        Box::new(Matern52::new(0.6, 1.3).unwrap()),
        0.0,
        x.view(),
        y.view(),
        &ExactOptions::default().jitter_ladder(vec![1e-3]),
    )
    .unwrap();
    assert!((gp.jitter() - 1.3e-3).abs() < 1e-15);
    let g = gp.lml_gradient().unwrap();
    // Central differences over the kernel's parameters at the same rung (h small enough that the
    // ladder stops at the same rung on both sides).
    let p = gp.log_params();
    for i in 0..2 {
        let h = 1e-5;
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        let (ga, gb) = (
            gp.with_log_params(a.view()).unwrap(),
            gp.with_log_params(b.view()).unwrap(),
        );
        assert_eq!(ga.jitter() > 0.0, gb.jitter() > 0.0);
        let fd = (ga.log_marginal_likelihood() - gb.log_marginal_likelihood()) / (2.0 * h);
        assert!(
            (g[i] - fd).abs() <= 1e-6 * fd.abs().max(1.0),
            "param {i}: analytic {} vs FD {fd}",
            g[i]
        );
    }
}

#[test]
fn lml_equals_state_space_gp_for_matern_sums() {
    let mut rng = Pcg64::seed_from_u64(3);
    let n = 60;
    let x = uniform(&mut rng, n, 1, 0.0, 5.0);
    let y = normal(&mut rng, n);
    let xs = array![[-0.5], [1.3], [2.71], [6.0]];
    let comps = [
        MaternComponent {
            nu: Nu::ThreeHalves,
            lengthscale: 0.6,
            variance: 1.2,
        },
        MaternComponent {
            nu: Nu::Half,
            lengthscale: 2.0,
            variance: 0.3,
        },
        MaternComponent {
            nu: Nu::FiveHalves,
            lengthscale: 0.3,
            variance: 0.5,
        },
    ];
    let kernel = Box::new(
        Matern32::new(0.6, 1.2).unwrap()
            + Matern12::new(2.0, 0.3).unwrap()
            + Matern52::new(0.3, 0.5).unwrap(),
    );
    let noise = 0.05;
    let gp = ExactGp::new(kernel, noise, x.view(), y.view()).unwrap();
    let ss = StateSpaceGp::new(&comps, noise)
        .unwrap()
        .fit(x.column(0), y.view())
        .unwrap();
    let (a, b) = (gp.log_marginal_likelihood(), ss.log_marginal_likelihood());
    assert!((a - b).abs() <= 1e-8 * b.abs(), "{a} vs {b}");
    let (m1, v1) = gp.predict(xs.view()).unwrap();
    let (m2, v2) = ss.predict(xs.column(0)).unwrap();
    assert_allclose(&m1, &m2, 1e-8, 1e-10);
    assert_allclose(&v1, &v2, 1e-8, 1e-10);
}

#[test]
fn calibrated_over_draws_from_the_prior() {
    // f ~ GP(0, k) at train ∪ test, y = f(train) + noise; z² of the latent at test points.
    let mut rng = Pcg64::seed_from_u64(4);
    let kernel: Box<dyn Kernel> =
        Box::new(SquaredExponential::new(0.5, 1.0).unwrap() + Matern32::new(1.5, 0.5).unwrap());
    let noise: f64 = 0.1;
    let (n, m, draws) = (30, 10, 200);
    let mut z2 = Vec::new();
    let mut chi2 = Vec::new();
    for _ in 0..draws {
        let x = uniform(&mut rng, n, 2, -2.0, 2.0);
        let xs = uniform(&mut rng, m, 2, -2.5, 2.5);
        let all = concatenate(Axis(0), &[x.view(), xs.view()]).unwrap();
        let prior = Gaussian::new(
            Array1::zeros(n + m),
            Covariance::dense(kernel.matrix(all.view(), all.view()).unwrap()).unwrap(),
        )
        .unwrap();
        let f = prior.sample(&mut rng, 1).unwrap().row(0).to_owned();
        let y = &f.slice(s![..n]) + &normal(&mut rng, n).mapv(|e| noise.sqrt() * e);
        let gp = ExactGp::new(kernel.clone(), noise, x.view(), y.view()).unwrap();
        let (mu, var) = gp.predict(xs.view()).unwrap();
        let truth = f.slice(s![n..]);
        for i in 0..m {
            z2.push((truth[i] - mu[i]).powi(2) / var[i]);
        }
        // Joint check: the Mahalanobis distance under the full posterior has mean m.
        let full = gp.predict_full(xs.view()).unwrap();
        let lp = full.logpdf(truth).unwrap();
        let logdet = full.cov().logdet().unwrap();
        chi2.push(-2.0 * lp - logdet - m as f64 * (2.0 * std::f64::consts::PI).ln());
    }
    let mean_z2 = z2.iter().sum::<f64>() / z2.len() as f64;
    let mean_chi2 = chi2.iter().sum::<f64>() / chi2.len() as f64 / m as f64;
    eprintln!("calibration: mean z² = {mean_z2:.3}, mean χ²/m = {mean_chi2:.3}");
    assert!((0.8..=1.25).contains(&mean_z2), "mean z² = {mean_z2}");
    assert!((0.8..=1.25).contains(&mean_chi2), "mean χ²/m = {mean_chi2}");
}

#[test]
fn samples_have_the_posterior_moments() {
    let mut rng = Pcg64::seed_from_u64(5);
    let x = uniform(&mut rng, 15, 1, -1.0, 1.0);
    let y = x.column(0).mapv(|v| (3.0 * v).sin());
    let gp = ExactGp::new(
        Box::new(SquaredExponential::new(0.4, 1.0).unwrap()),
        0.01,
        x.view(),
        y.view(),
    )
    .unwrap();
    let xs = array![[-1.5], [0.05], [1.7]];
    let n = 20_000;
    let draws = gp
        .sample(xs.view(), n, &mut Pcg64::seed_from_u64(6))
        .unwrap();
    assert_eq!(draws.dim(), (n, 3));
    let again = gp
        .sample(xs.view(), n, &mut Pcg64::seed_from_u64(6))
        .unwrap();
    assert_eq!(draws, again, "same seed, same draws");
    let (mean, var) = gp.predict(xs.view()).unwrap();
    let emp_mean = draws.mean_axis(Axis(0)).unwrap();
    let emp_var = draws.var_axis(Axis(0), 1.0);
    for i in 0..3 {
        // Monte Carlo error: 5 standard errors.
        assert!((emp_mean[i] - mean[i]).abs() < 5.0 * (var[i] / n as f64).sqrt());
        assert!((emp_var[i] / var[i] - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt());
    }
}

#[test]
fn duplicate_inputs_without_noise_use_documented_jitter() {
    let x = array![[0.0], [0.5], [0.5], [1.0]];
    let y = array![0.0, 1.0, 1.0, 0.5];
    let k = || -> Box<dyn Kernel> { Box::new(SquaredExponential::new(0.5, 2.0).unwrap()) };
    let gp = ExactGp::new(k(), 0.0, x.view(), y.view()).unwrap();
    // The ladder stops at a rung of the documented ladder relative to the mean diagonal (2.0).
    let rel = gp.jitter() / 2.0;
    assert!(
        [1e-10, 1e-8, 1e-6, 1e-4]
            .iter()
            .any(|&c| (rel - c).abs() < 1e-12 * c),
        "jitter {}",
        gp.jitter()
    );
    let (m, v) = gp.predict(array![[0.5]].view()).unwrap();
    assert!((m[0] - 1.0).abs() < 1e-6 && v[0] < 1e-6);
    assert!(gp.log_marginal_likelihood().is_finite());
    // Without a ladder the same data are a clear error.
    let err = ExactGp::with_options(
        k(),
        0.0,
        x.view(),
        y.view(),
        &ExactOptions::default().no_jitter(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::JitterExhausted { .. }), "{err}");
}

#[test]
fn noise_free_interpolation_through_the_data() {
    let x = array![[0.0], [0.3], [0.7], [1.0]];
    let y = array![0.0, 0.4, -0.3, 0.2];
    let gp = ExactGp::new(
        Box::new(Matern52::new(0.3, 1.0).unwrap()),
        0.0,
        x.view(),
        y.view(),
    )
    .unwrap();
    let (m, v) = gp.predict(x.view()).unwrap();
    assert_allclose(&m, &y, 1e-6, 1e-8);
    assert!(v.iter().all(|&s| (0.0..1e-8).contains(&s)));
}

/// Not positive semi-definite: `k(x, y) = −|x − y|`.
#[derive(Debug, Clone)]
struct Indefinite;

impl Kernel for Indefinite {
    fn input_dim(&self) -> Option<usize> {
        None
    }
    fn n_params(&self) -> usize {
        0
    }
    fn log_params(&self) -> Array1<f64> {
        Array1::zeros(0)
    }
    fn set_log_params(&mut self, _: ArrayView1<'_, f64>) -> pn_core::Result<()> {
        Ok(())
    }
    fn param_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn box_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }
    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        1.0 - 3.0 * (&x - &y).mapv(f64::abs).sum()
    }
    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        (self.matrix_unchecked(x, x), Vec::new())
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let k = || -> Box<dyn Kernel> { Box::new(SquaredExponential::new(0.5, 1.0).unwrap()) };
    let x = array![[0.0], [1.0], [2.0]];
    let y = array![0.0, 1.0, 0.5];
    // NaN target, with its index.
    let err = ExactGp::new(k(), 0.1, x.view(), array![0.0, f64::NAN, 0.5].view()).unwrap_err();
    assert!(
        matches!(&err, Error::Core(pn_core::Error::NonFinite { what: "y", index, .. }) if index == &vec![1]),
        "{err}"
    );
    // Infinite input.
    let err = ExactGp::new(
        k(),
        0.1,
        array![[0.0], [f64::INFINITY], [2.0]].view(),
        y.view(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Core(pn_core::Error::NonFinite { what: "x", .. })
    ));
    // Mismatched lengths.
    let err = ExactGp::new(k(), 0.1, x.view(), array![0.0, 1.0].view()).unwrap_err();
    assert!(matches!(
        err,
        Error::Core(pn_core::Error::ShapeMismatch { .. })
    ));
    // Empty data.
    let err = ExactGp::new(
        k(),
        0.1,
        Array2::zeros((0, 1)).view(),
        Array1::zeros(0).view(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Core(pn_core::Error::Empty { .. })));
    // Negative / NaN noise.
    for bad in [-0.1, f64::NAN] {
        let err = ExactGp::new(k(), bad, x.view(), y.view()).unwrap_err();
        assert!(matches!(
            err,
            Error::Core(pn_core::Error::InvalidParameter { .. })
        ));
    }
    // ARD kernel of the wrong dimension.
    let ard = Box::new(SquaredExponential::ard(vec![1.0, 1.0], 1.0).unwrap());
    assert!(ExactGp::new(ard, 0.1, x.view(), y.view()).is_err());
    // Test inputs of the wrong dimension or non-finite.
    let gp = ExactGp::new(k(), 0.1, x.view(), y.view()).unwrap();
    assert!(gp.predict(array![[0.0, 1.0]].view()).is_err());
    assert!(gp.predict(array![[f64::NAN]].view()).is_err());
    assert!(gp.predict_full(array![[0.0, 1.0]].view()).is_err());
    assert!(gp.with_log_params(array![0.0].view()).is_err());
    assert!(
        gp.with_log_params(array![0.0, f64::NAN, 0.0].view())
            .is_err()
    );
    // Empty test set is fine.
    let (m, v) = gp.predict(Array2::zeros((0, 1)).view()).unwrap();
    assert!(m.is_empty() && v.is_empty());
    // A bad jitter ladder.
    let opts = ExactOptions::default().jitter_ladder(vec![1e-6, 1e-8]);
    assert!(ExactGp::with_options(k(), 0.1, x.view(), y.view(), &opts).is_err());
    // A "kernel" that is not positive semi-definite: the ladder cannot rescue it.
    let xi = Array2::from_shape_fn((6, 1), |(i, _)| i as f64);
    let err = ExactGp::new(
        Box::new(Indefinite),
        0.0,
        xi.view(),
        Array1::zeros(6).view(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::JitterExhausted { .. }), "{err}");
    assert!(err.to_string().contains("not positive definite"));
}

#[test]
fn singular_hyperparameters_are_rescued_or_reported() {
    // A lengthscale 10⁶ times the data's spread makes K a rank-one matrix of ones.
    let x = Array2::from_shape_fn((20, 1), |(i, _)| i as f64 / 19.0);
    let y = x.column(0).mapv(|v| v * 0.01);
    let k = Box::new(SquaredExponential::new(1e6, 1.0).unwrap());
    let gp = ExactGp::new(k.clone(), 0.0, x.view(), y.view()).unwrap();
    assert!(gp.jitter() > 0.0 && gp.jitter() <= 1e-4);
    assert!(gp.log_marginal_likelihood().is_finite());
    let (m, v) = gp.predict(array![[0.5]].view()).unwrap();
    assert!(m[0].is_finite() && v[0].is_finite() && v[0] >= 0.0);
    let err = ExactGp::with_options(
        k,
        0.0,
        x.view(),
        y.view(),
        &ExactOptions::default().no_jitter(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::JitterExhausted { .. }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The LML is the log density of y under N(0, K + σ²I) (pn-core's Gaussian), and the
    /// posterior variance lies between 0 and the prior variance.
    #[test]
    fn lml_is_the_evidence_and_variance_shrinks(
        seed in 0u64..1000,
        n in 1usize..12,
        log_l in -1.5f64..1.0,
        log_noise in -6.0f64..0.0,
    ) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let x = uniform(&mut rng, n, 2, -1.0, 1.0);
        let y = normal(&mut rng, n);
        let kernel = Matern52::new(log_l.exp(), 1.3).unwrap();
        let noise = log_noise.exp();
        let gp = ExactGp::new(Box::new(kernel.clone()), noise, x.view(), y.view()).unwrap();
        let mut k = kernel.matrix(x.view(), x.view()).unwrap();
        k.diag_mut().mapv_inplace(|v| v + noise + gp.jitter());
        let evidence = Gaussian::new(Array1::zeros(n), Covariance::dense(k).unwrap())
            .unwrap()
            .logpdf(y.view())
            .unwrap();
        prop_assert!((gp.log_marginal_likelihood() - evidence).abs() < 1e-8 * evidence.abs().max(1.0));
        let xs = uniform(&mut rng, 5, 2, -1.5, 1.5);
        let (_, var) = gp.predict(xs.view()).unwrap();
        prop_assert!(var.iter().all(|&v| (0.0..=1.3 + 1e-12).contains(&v)));
    }
}

//! The Gaussian belief: conditioning, push-forwards, marginals and densities against closed forms
//! computed independently here, with property tests over seeded random problems.

mod common;

use common::{inv, logabsdet, randn, randn1, rng, spd};
use ndarray::{Array1, Array2, array, s};
use pn_core::testing::assert_allclose;
use pn_core::{Covariance, Error, Gaussian, LinearMap};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Deterministic proptest configuration: fixed algorithm and seed, no files written.
fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x5eed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Dense closed-form log N(y; m, S).
fn logpdf_ref(y: &Array1<f64>, m: &Array1<f64>, s: &Array2<f64>) -> f64 {
    let r = y - m;
    -0.5 * (r.dot(&inv(s).dot(&r)) + logabsdet(s) + y.len() as f64 * LN_2PI)
}

/// The joint-Gaussian conditional, written out: for `(x, y)` jointly Gaussian with
/// `Cov(x, y) = Σ Hᵀ` and `Cov(y) = H Σ Hᵀ + R`.
fn closed_form(
    mu: &Array1<f64>,
    sigma: &Array2<f64>,
    h: &Array2<f64>,
    r: &Array2<f64>,
    y: &Array1<f64>,
) -> (Array1<f64>, Array2<f64>, f64) {
    let sxy = sigma.dot(&h.t());
    let syy = h.dot(&sxy) + r;
    let syy_inv = inv(&syy);
    let mean = mu + &sxy.dot(&syy_inv.dot(&(y - &h.dot(mu))));
    let cov = sigma - &sxy.dot(&syy_inv).dot(&sxy.t());
    (mean, cov, logpdf_ref(y, &h.dot(mu), &syy))
}

/// `(μ, Σ, H, R, y)` of a random conditioning problem.
type Problem = (
    Array1<f64>,
    Array2<f64>,
    Array2<f64>,
    Array2<f64>,
    Array1<f64>,
);

fn problem(seed: u64, n: usize, m: usize) -> Problem {
    let mut r = rng(seed);
    let mu = randn1(&mut r, n);
    let sigma = spd(&mut r, n, 0.3);
    let h = randn(&mut r, m, n);
    let noise = spd(&mut r, m, 0.2);
    let y = randn1(&mut r, m) * 2.0;
    (mu, sigma, h, noise, y)
}

fn lower(a: &Array2<f64>) -> Array2<f64> {
    pn_core::dense::cholesky(a.view()).unwrap().into_l()
}

proptest! {
    #![proptest_config(config(48))]

    /// Conditioning on y then marginalising equals the closed-form joint-Gaussian conditional.
    #[test]
    fn condition_then_marginal_is_the_closed_form(seed in any::<u64>(), n in 2usize..8, m in 1usize..5, k in 1usize..3) {
        let (mu, sigma, h, noise, y) = problem(seed, n, m);
        let prior = Gaussian::new(mu.clone(), Covariance::dense(sigma.clone()).unwrap()).unwrap();
        let out = prior.condition(h.clone(), y.view(), &Covariance::dense(noise.clone()).unwrap()).unwrap();
        let (mean, cov, lml) = closed_form(&mu, &sigma, &h, &noise, &y);
        let idx: Vec<usize> = (0..n).rev().step_by(k).collect();
        let marg = out.posterior.marginal(&idx).unwrap();
        let mean_idx = mean.select(ndarray::Axis(0), &idx);
        let cov_idx = cov.select(ndarray::Axis(0), &idx).select(ndarray::Axis(1), &idx);
        assert_allclose(&marg.mean(), &mean_idx, 1e-8, 1e-9);
        assert_allclose(&marg.cov_dense(), &cov_idx, 1e-8, 1e-9);
        prop_assert!((out.log_marginal_likelihood - lml).abs() < 1e-8 * (1.0 + lml.abs()));
    }

    /// Kalman (gain) form on a dense prior, the QR square-root update on a Cholesky prior, and
    /// the low-rank posterior of a structured prior all agree.
    #[test]
    fn kalman_square_root_and_low_rank_conditioning_agree(seed in any::<u64>(), n in 2usize..8, m in 1usize..5) {
        let (mu, sigma, h, noise, y) = problem(seed, n, m);
        let noise_cov = Covariance::dense(noise.clone()).unwrap();
        let dense = Gaussian::new(mu.clone(), Covariance::dense(sigma.clone()).unwrap()).unwrap()
            .condition(h.clone(), y.view(), &noise_cov).unwrap();
        let sqrt = Gaussian::new(mu.clone(), Covariance::cholesky_factor(lower(&sigma)).unwrap()).unwrap()
            .condition(h.clone(), y.view(), &noise_cov).unwrap();
        prop_assert_eq!(sqrt.posterior.cov().structure(), "cholesky");
        assert_allclose(&sqrt.posterior.mean(), &dense.posterior.mean(), 1e-9, 1e-10);
        assert_allclose(&sqrt.posterior.cov_dense(), &dense.posterior.cov_dense(), 1e-9, 1e-10);
        prop_assert!((sqrt.log_marginal_likelihood - dense.log_marginal_likelihood).abs() < 1e-9 * (1.0 + dense.log_marginal_likelihood.abs()));

        // A diagonal prior keeps its structure under a low-rank correction.
        let d = sigma.diag().to_owned();
        let diag = Gaussian::new(mu.clone(), Covariance::diagonal(d.clone()).unwrap()).unwrap()
            .condition(h.clone(), y.view(), &noise_cov).unwrap();
        prop_assert_eq!(diag.posterior.cov().structure(), "low-rank-update");
        let (mean, cov, lml) = closed_form(&mu, &Array2::from_diag(&d), &h, &noise, &y);
        assert_allclose(&diag.posterior.mean(), &mean, 1e-9, 1e-10);
        assert_allclose(&diag.posterior.cov_dense(), &cov, 1e-9, 1e-10);
        prop_assert!((diag.log_marginal_likelihood - lml).abs() < 1e-8 * (1.0 + lml.abs()));
        // The posterior's density, through the Woodbury solve and the determinant lemma.
        let x = randn1(&mut rng(seed ^ 1), n);
        let lp = diag.posterior.logpdf(x.view()).unwrap();
        prop_assert!((lp - logpdf_ref(&x, &mean, &cov)).abs() < 1e-7 * (1.0 + lp.abs()));
    }

    /// Kronecker solves equal dense solves; Kronecker stays Kronecker under Kronecker maps.
    #[test]
    fn kronecker_solves_and_maps(seed in any::<u64>(), m in 1usize..5, p in 1usize..5) {
        let mut r = rng(seed);
        let a = spd(&mut r, m, 0.5);
        let b = spd(&mut r, p, 0.5);
        let kron = |x: &Array2<f64>, y: &Array2<f64>| {
            let (q, t) = (y.nrows(), y.ncols());
            Array2::from_shape_fn((x.nrows() * q, x.ncols() * t), |(i, j)| x[[i / q, j / t]] * y[[i % q, j % t]])
        };
        let cov = Covariance::kronecker(Covariance::dense(a.clone()).unwrap(), Covariance::cholesky_factor(lower(&b)).unwrap());
        let rhs = randn1(&mut r, m * p);
        let k = kron(&a, &b);
        assert_allclose(&cov.solve(rhs.view()).unwrap(), &inv(&k).dot(&rhs), 1e-8, 1e-9);
        let g = Gaussian::new(Array1::zeros(m * p), cov).unwrap();
        let ma = randn(&mut r, 2, m);
        let mb = randn(&mut r, 3, p);
        let pushed = g.affine(LinearMap::kronecker(LinearMap::dense(ma.clone()).unwrap(), LinearMap::dense(mb.clone()).unwrap()), None, None).unwrap();
        prop_assert_eq!(pushed.cov().structure(), "kronecker");
        let big = kron(&ma, &mb);
        assert_allclose(&pushed.cov_dense(), &big.dot(&k).dot(&big.t()), 1e-9, 1e-10);
    }

    /// Square-root (QR) and dense push-forwards agree, and the square-root form is kept.
    #[test]
    fn square_root_and_dense_affine_agree(seed in any::<u64>(), n in 1usize..7, m in 1usize..7) {
        let mut r = rng(seed);
        let mu = randn1(&mut r, n);
        let sigma = spd(&mut r, n, 0.3);
        let a = randn(&mut r, m, n);
        let b = randn1(&mut r, m);
        let q = spd(&mut r, m, 0.2);
        let noise = Covariance::dense(q.clone()).unwrap();
        let d = Gaussian::new(mu.clone(), Covariance::dense(sigma.clone()).unwrap()).unwrap()
            .affine(a.clone(), Some(b.view()), Some(&noise)).unwrap();
        let s = Gaussian::new(mu.clone(), Covariance::cholesky_factor(lower(&sigma)).unwrap()).unwrap()
            .affine(a.clone(), Some(b.view()), Some(&noise)).unwrap();
        prop_assert_eq!(s.cov().structure(), "cholesky");
        let expect = a.dot(&sigma).dot(&a.t()) + &q;
        assert_allclose(&d.mean(), &(a.dot(&mu) + &b), 1e-12, 1e-12);
        assert_allclose(&s.mean(), &d.mean(), 1e-12, 1e-12);
        assert_allclose(&d.cov_dense(), &expect, 1e-10, 1e-11);
        assert_allclose(&s.cov_dense(), &expect, 1e-10, 1e-11);
    }
}

#[test]
fn logpdf_matches_closed_form_for_every_structure() {
    let mut r = rng(21);
    let sigma = spd(&mut r, 4, 0.4);
    let mu = randn1(&mut r, 4);
    let x = randn1(&mut r, 4);
    let d = array![0.5, 1.0, 2.0, 0.1];
    for (cov, dense) in [
        (Covariance::dense(sigma.clone()).unwrap(), sigma.clone()),
        (
            Covariance::cholesky_factor(lower(&sigma)).unwrap(),
            sigma.clone(),
        ),
        (
            Covariance::diagonal(d.clone()).unwrap(),
            Array2::from_diag(&d),
        ),
        (
            Covariance::scaled_identity(4, 0.3).unwrap(),
            Array2::eye(4) * 0.3,
        ),
    ] {
        let g = Gaussian::new(mu.clone(), cov).unwrap();
        let lp = g.logpdf(x.view()).unwrap();
        assert!((lp - logpdf_ref(&x, &mu, &dense)).abs() < 1e-10);
    }
    // Standard normal in 1-D at 0: −½ log 2π.
    let lp = Gaussian::standard(1).logpdf(array![0.0].view()).unwrap();
    assert!((lp + 0.5 * LN_2PI).abs() < 1e-15);
}

#[test]
fn structure_is_kept_by_marginals_and_maps() {
    let mut r = rng(22);
    let sigma = spd(&mut r, 5, 0.4);
    let d = array![1.0, 2.0, 3.0, 4.0, 5.0];
    let g_diag = Gaussian::new(Array1::zeros(5), Covariance::diagonal(d.clone()).unwrap()).unwrap();
    let m = g_diag.marginal(&[4, 1]).unwrap();
    assert_eq!(m.cov().structure(), "diagonal");
    assert_allclose(&m.var(), &array![5.0, 2.0], 0.0, 0.0);
    let g_iso = Gaussian::standard(5);
    assert_eq!(
        g_iso.marginal(&[0, 2]).unwrap().cov().structure(),
        "scaled-identity"
    );
    assert_eq!(
        g_iso
            .affine(LinearMap::identity(5), None, None)
            .unwrap()
            .cov()
            .structure(),
        "scaled-identity"
    );
    assert_eq!(
        g_diag
            .affine(
                LinearMap::diagonal(array![1.0, 2.0, 1.0, 1.0, 1.0]).unwrap(),
                None,
                None
            )
            .unwrap()
            .var()[1],
        8.0
    );
    let g_sqrt = Gaussian::new(
        Array1::zeros(5),
        Covariance::cholesky_factor(lower(&sigma)).unwrap(),
    )
    .unwrap();
    let ms = g_sqrt.marginal(&[3, 0, 2]).unwrap();
    assert_eq!(ms.cov().structure(), "cholesky");
    let idx = [3usize, 0, 2];
    let expect = sigma
        .select(ndarray::Axis(0), &idx)
        .select(ndarray::Axis(1), &idx);
    assert_allclose(&ms.cov_dense(), &expect, 1e-12, 1e-12);
    // Low-rank posterior of a Kronecker prior, then a marginal: still low-rank of Kronecker.
    let kron = Gaussian::new(
        Array1::zeros(6),
        Covariance::kronecker(
            Covariance::scaled_identity(2, 1.0).unwrap(),
            Covariance::dense(spd(&mut r, 3, 0.5)).unwrap(),
        ),
    )
    .unwrap();
    let post = kron
        .condition(
            LinearMap::selection(vec![1], 6).unwrap(),
            array![0.5].view(),
            &Covariance::scaled_identity(1, 0.1).unwrap(),
        )
        .unwrap()
        .posterior;
    assert_eq!(post.cov().structure(), "low-rank-update");
    assert_eq!(
        post.marginal(&[0, 1, 2]).unwrap().cov().structure(),
        "low-rank-update"
    );
}

/// Noise-free observations of a square-root prior: the posterior is exactly singular in the
/// observed directions, and must stay free of NaN with non-negative variances.
#[test]
fn noise_free_square_root_update_stays_valid() {
    let mut r = rng(23);
    let sigma = spd(&mut r, 6, 0.2);
    let g = Gaussian::new(
        Array1::zeros(6),
        Covariance::cholesky_factor(lower(&sigma)).unwrap(),
    )
    .unwrap();
    let h = LinearMap::selection(vec![0, 3], 6).unwrap();
    let out = g
        .condition(
            h,
            array![1.0, -1.0].view(),
            &Covariance::scaled_identity(2, 0.0).unwrap(),
        )
        .unwrap();
    let post = out.posterior;
    assert!(post.var().iter().all(|v| v.is_finite() && *v >= 0.0));
    assert!(post.var()[0] < 1e-20 && post.var()[3] < 1e-20);
    assert!((post.mean()[0] - 1.0).abs() < 1e-12 && (post.mean()[3] + 1.0).abs() < 1e-12);
    let samples = post.sample(&mut rng(1), 10).unwrap();
    assert!(samples.column(0).iter().all(|v| (v - 1.0).abs() < 1e-9));
}

/// Calibration of the belief machinery: draw a truth from the prior, observe it with noise,
/// condition, and check that the standardised errors of the posterior mean follow N(0, 1):
/// the normalised squared error `eᵀ Σ_post⁻¹ e` averaged over 400 problems must be near its
/// expectation `n` (χ²_n), within 4 standard errors.
#[test]
fn posterior_is_calibrated_chi_square() {
    let (n, m, trials) = (5usize, 3usize, 400usize);
    let mut r = rng(24);
    let mut total = 0.0;
    for _ in 0..trials {
        let sigma = spd(&mut r, n, 0.3);
        let prior =
            Gaussian::new(Array1::zeros(n), Covariance::dense(sigma.clone()).unwrap()).unwrap();
        let truth = prior.sample(&mut r, 1).unwrap().row(0).to_owned();
        let h = randn(&mut r, m, n);
        let noise = Covariance::scaled_identity(m, 0.05).unwrap();
        let eps = Gaussian::new(Array1::zeros(m), noise.clone())
            .unwrap()
            .sample(&mut r, 1)
            .unwrap();
        let y = h.dot(&truth) + eps.row(0);
        let post = prior.condition(h, y.view(), &noise).unwrap().posterior;
        let e = &truth - &post.mean();
        let pc = post.cov_dense();
        total += e.dot(&inv(&pc).dot(&e));
    }
    let mean_chi2 = total / trials as f64;
    let se = (2.0 * n as f64 / trials as f64).sqrt();
    assert!(
        (mean_chi2 - n as f64).abs() < 4.0 * se,
        "mean χ² {mean_chi2} vs {n} ± {se}"
    );
}

#[test]
fn bad_input_to_gaussian_operations() {
    let g = Gaussian::standard(3);
    assert!(matches!(
        Gaussian::new(
            array![0.0, 1.0],
            Covariance::scaled_identity(3, 1.0).unwrap()
        ),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Gaussian::new(
            array![0.0, f64::NAN],
            Covariance::scaled_identity(2, 1.0).unwrap()
        ),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        g.logpdf(array![0.0].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        g.logpdf(array![0.0, f64::NAN, 0.0].view()),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(g.marginal(&[]), Err(Error::Empty { .. })));
    assert!(matches!(
        g.marginal(&[3]),
        Err(Error::IndexOutOfBounds { index: 3, len: 3 })
    ));
    let r1 = Covariance::scaled_identity(1, 1.0).unwrap();
    assert!(matches!(
        g.condition(Array2::zeros((1, 2)), array![0.0].view(), &r1),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        g.condition(Array2::zeros((1, 3)), array![0.0, 1.0].view(), &r1),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        g.condition(
            Array2::zeros((1, 3)),
            array![0.0].view(),
            &Covariance::scaled_identity(2, 1.0).unwrap()
        ),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        g.condition(Array2::zeros((1, 3)), array![f64::NAN].view(), &r1),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        g.condition(array![[f64::NAN, 0.0, 0.0]], array![1.0].view(), &r1),
        Err(Error::NonFinite { .. })
    ));
    // Noise-free observation of a direction with zero prior variance: S is singular.
    let zero = Covariance::scaled_identity(1, 0.0).unwrap();
    assert!(matches!(
        g.condition(Array2::zeros((1, 3)), array![1.0].view(), &zero),
        Err(Error::NotPositiveDefinite { .. })
    ));
    let sq = Gaussian::new(
        Array1::zeros(3),
        Covariance::cholesky_factor(Array2::eye(3)).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        sq.condition(Array2::zeros((1, 3)), array![1.0].view(), &zero),
        Err(Error::NotPositiveDefinite { .. })
    ));
    assert!(matches!(
        LinearMap::selection(vec![0, 5], 3),
        Err(Error::IndexOutOfBounds { index: 5, len: 3 })
    ));
    assert!(matches!(
        LinearMap::dense(array![[f64::INFINITY]]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        LinearMap::diagonal(array![f64::NAN]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        g.affine(Array2::zeros((2, 2)), None, None),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        g.affine(Array2::zeros((2, 3)), Some(array![1.0].view()), None),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        g.affine(
            Array2::zeros((2, 3)),
            Some(array![1.0, f64::NAN].view()),
            None
        ),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        g.affine(Array2::zeros((2, 3)), None, Some(&r1)),
        Err(Error::ShapeMismatch { .. })
    ));
    // A selection map built by hand with a bad index is caught when used.
    assert!(matches!(
        g.affine(LinearMap::Selection(vec![7], 3), None, None),
        Err(Error::IndexOutOfBounds { .. })
    ));
    let _ = s![..];
}

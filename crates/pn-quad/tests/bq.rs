//! Vanilla Bayesian quadrature: algebraic identities, conditioning, bad input.

use ndarray::{Array1, Array2, array};
use pn_quad::genz::GenzFamily;
use pn_quad::rules::halton_scrambled;
use pn_quad::{
    BoxDomain, BqOptions, Design, GaussianMeasure, Hyperparameters, MaternOrder, Measure,
    QuadKernel, QuadOptions, bayesian_quadrature, integrate,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn unit_nodes(n: usize, d: usize, seed: u64) -> Array2<f64> {
    halton_scrambled(n, d, &mut Pcg64::seed_from_u64(seed)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The posterior mean is linear in the values and equals Σ wᵢ fᵢ with the reported weights;
    /// the variance does not depend on the values when the output scale is fixed.
    #[test]
    fn mean_is_linear_in_the_values(seed in 0u64..1000, a in -3.0f64..3.0, b in -3.0f64..3.0) {
        let x = unit_nodes(12, 2, seed);
        let mut rng = Pcg64::seed_from_u64(seed);
        let f = halton_scrambled(12, 1, &mut rng).unwrap().column(0).to_owned();
        let g = x.column(0).mapv(|t| (3.0 * t).cos());
        let k = QuadKernel::product_matern(MaternOrder::ThreeHalves, vec![0.4, 0.3], 1.0).unwrap();
        let m: Measure = BoxDomain::unit(2).unwrap().into();
        let opts = BqOptions::default().fit_outputscale(false);
        let pf = bayesian_quadrature(&k, &m, x.view(), f.view(), &opts).unwrap();
        let pg = bayesian_quadrature(&k, &m, x.view(), g.view(), &opts).unwrap();
        let h = &f * a + &g * b;
        let ph = bayesian_quadrature(&k, &m, x.view(), h.view(), &opts).unwrap();
        let want = a * pf.belief.mean + b * pg.belief.mean;
        prop_assert!((ph.belief.mean - want).abs() < 1e-10 * (1.0 + want.abs()));
        prop_assert!((ph.weights.dot(&h) - ph.belief.mean).abs() < 1e-10 * (1.0 + want.abs()));
        prop_assert!((ph.belief.var - pf.belief.var).abs() < 1e-12);
    }

    /// Permuting the nodes changes nothing.
    #[test]
    fn nodes_are_exchangeable(seed in 0u64..1000) {
        let x = unit_nodes(10, 1, seed);
        let f = x.column(0).mapv(|t| (4.0 * t).sin() + t);
        let k = QuadKernel::squared_exponential(vec![0.3], 1.0).unwrap();
        let m: Measure = BoxDomain::unit(1).unwrap().into();
        let p1 = bayesian_quadrature(&k, &m, x.view(), f.view(), &BqOptions::default()).unwrap();
        let perm: Vec<usize> = (0..10).rev().collect();
        let xp = x.select(ndarray::Axis(0), &perm);
        let fp = f.select(ndarray::Axis(0), &perm);
        let p2 = bayesian_quadrature(&k, &m, xp.view(), fp.view(), &BqOptions::default()).unwrap();
        prop_assert!((p1.belief.mean - p2.belief.mean).abs() < 1e-10);
        // Equal up to rounding, which the variance floor bounds.
        let tol = 1e-6 * p1.belief.var + 4.0 * p1.diagnostics.variance_floor;
        prop_assert!((p1.belief.var - p2.belief.var).abs() <= tol);
    }
}

#[test]
fn functions_in_the_span_of_the_kernel_are_integrated_exactly() {
    // f = Σⱼ cⱼ k(·, yⱼ) with every yⱼ a node: the posterior mean of f is f itself, so BQ must
    // return ∫ f dp = Σⱼ cⱼ z(yⱼ) (z from the closed-form embedding), with a tiny variance only
    // if the nodes pin f down everywhere — here they do not, so we check the mean only.
    let k = QuadKernel::squared_exponential(vec![0.5, 0.7], 1.3).unwrap();
    let g = GaussianMeasure::new(array![0.1, -0.2], array![[0.6, 0.2], [0.2, 0.9]]).unwrap();
    let m: Measure = g.into();
    let x = m.from_unit_cube(unit_nodes(25, 2, 7).view());
    let centres = x.slice(ndarray::s![..6, ..]).to_owned();
    let c = array![1.0, -0.5, 2.0, 0.3, -1.2, 0.8];
    use pn_core::kernels::Kernel;
    let f = k.matrix(x.view(), centres.view()).unwrap().dot(&c);
    let truth = pn_quad::kernel_mean(&k, &m, centres.view())
        .unwrap()
        .dot(&c);
    let opts = BqOptions::default().fit_outputscale(false);
    let post = bayesian_quadrature(&k, &m, x.view(), f.view(), &opts).unwrap();
    assert!(
        (post.belief.mean - truth).abs() < 1e-10 * truth.abs().max(1.0),
        "{} vs {truth}",
        post.belief.mean
    );
    // The posterior interpolates and is certain at the nodes, uncertain far away.
    let (mu, var) = post.predict(x.view()).unwrap();
    for i in 0..x.nrows() {
        assert!((mu[i] - f[i]).abs() < 1e-8 * f[i].abs().max(1.0));
        assert!(var[i] < 1e-8);
    }
    let (_, far) = post.predict(array![[8.0, 8.0]].view()).unwrap();
    assert!(far[0] > 0.5 * post.kernel.outputscale());
}

/// The 1-D Genz "gaussian" problem with a = 10 on which an absolute jitter makes the reported
/// std 10⁴ times the error: the kernel matrix is numerically singular from n ≈ 30. Here the
/// pivoted factorisation drops redundant nodes and the variance floor accounts for rounding,
/// so the std is never below the error and stays within a modest factor of it.
#[test]
fn ill_conditioned_one_dimensional_gaussian_peak() {
    let mut ratios = vec![];
    for u in [0.3, 0.5, 0.77] {
        let p = GenzFamily::Gaussian.instance(vec![10.0], vec![u]).unwrap();
        let truth = p.integral();
        for n in [64usize, 128, 256] {
            let opts = QuadOptions::default()
                .budget(n)
                .design(Design::Halton)
                .hyperparameters(Hyperparameters::Fixed)
                .kernel(QuadKernel::squared_exponential(vec![0.1], 1.0).unwrap());
            let res = integrate(|x| p.eval(x), &p.measure(), &opts).unwrap();
            let err = (res.belief.mean - truth).abs();
            let std = res.belief.std();
            assert!(res.belief.var > 0.0);
            assert!(
                res.posterior.diagnostics.pivoted,
                "K must be singular in floating point here"
            );
            assert!(err < 1e-5, "u = {u}, n = {n}: error {err:e}");
            assert!(
                err < 2.0 * std,
                "u = {u}, n = {n}: error {err:e} vs std {std:e} (overconfident)"
            );
            assert!(std < 2e-5, "u = {u}, n = {n}: std {std:e}");
            ratios.push(std / err.max(1e-300));
        }
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    assert!(
        median < 300.0,
        "median std/error {median} (an absolute jitter of 1e-8 gives ~1e4)"
    );
}

#[test]
fn bad_input_is_an_error() {
    let k = QuadKernel::squared_exponential(vec![0.3], 1.0).unwrap();
    let m: Measure = BoxDomain::unit(1).unwrap().into();
    let x = array![[0.1], [0.5], [0.9]];
    let o = BqOptions::default();
    assert!(matches!(
        bayesian_quadrature(&k, &m, x.view(), array![1.0, f64::NAN, 0.0].view(), &o),
        Err(pn_quad::Error::NonFiniteIntegrand { index: 1, .. })
    ));
    assert!(bayesian_quadrature(&k, &m, x.view(), array![1.0, 2.0].view(), &o).is_err());
    assert!(
        bayesian_quadrature(
            &k,
            &m,
            Array2::zeros((0, 1)).view(),
            Array1::zeros(0).view(),
            &o
        )
        .is_err()
    );
    assert!(
        bayesian_quadrature(&k, &m, array![[0.1, 0.2]].view(), array![1.0].view(), &o).is_err()
    );
    assert!(
        bayesian_quadrature(
            &k,
            &m,
            array![[f64::INFINITY]].view(),
            array![1.0].view(),
            &o
        )
        .is_err()
    );
    assert!(
        bayesian_quadrature(
            &k,
            &m,
            x.view(),
            array![1.0, 2.0, 3.0].view(),
            &BqOptions::default().pivot_tol(-1.0)
        )
        .is_err()
    );
    // Integrands that blow up are reported with the node.
    let r = integrate(
        |x| 1.0 / x[0],
        &m,
        &QuadOptions::default().budget(8).design(Design::Halton),
    );
    assert!(r.is_ok() || matches!(r, Err(pn_quad::Error::NonFiniteIntegrand { .. })));
    let r = integrate(
        |x| if x[0] > 0.5 { f64::INFINITY } else { 1.0 },
        &m,
        &QuadOptions::default().budget(8),
    );
    assert!(
        matches!(r, Err(pn_quad::Error::NonFiniteIntegrand { value, .. }) if value.is_infinite())
    );
    assert!(integrate(|_| 1.0, &m, &QuadOptions::default().budget(0)).is_err());
    assert!(integrate(|_| 1.0, &m, &QuadOptions::default().batch(0)).is_err());
    assert!(integrate(|_| 1.0, &m, &QuadOptions::default().tol(-1.0)).is_err());
    // Kernel of the wrong dimension, kernel without an embedding.
    let m2: Measure = BoxDomain::unit(2).unwrap().into();
    assert!(integrate(|_| 1.0, &m2, &QuadOptions::default().kernel(k.clone())).is_err());
    let mat = QuadKernel::product_matern(MaternOrder::Half, vec![1.0], 1.0).unwrap();
    let g: Measure = GaussianMeasure::standard(1).unwrap().into();
    assert!(matches!(
        integrate(|_| 1.0, &g, &QuadOptions::default().kernel(mat)),
        Err(pn_quad::Error::NoEmbedding { .. })
    ));
    // Degenerate measures and kernels.
    assert!(BoxDomain::new(array![0.0, 1.0], array![1.0, 1.0]).is_err());
    assert!(BoxDomain::new(array![0.0], array![f64::NAN]).is_err());
    assert!(BoxDomain::new(Array1::zeros(0), Array1::zeros(0)).is_err());
    assert!(GaussianMeasure::new(array![0.0], array![[0.0]]).is_err());
    assert!(GaussianMeasure::new(array![0.0, 0.0], array![[1.0, 0.0]]).is_err());
    assert!(QuadKernel::squared_exponential(vec![0.0], 1.0).is_err());
    assert!(QuadKernel::squared_exponential(Vec::<f64>::new(), 1.0).is_err());
    assert!(QuadKernel::wiener(f64::NAN, 0.0, 1.0).is_err());
}

#[test]
fn all_zero_values_keep_the_prior_scale() {
    let k = QuadKernel::squared_exponential(vec![0.3], 1.0).unwrap();
    let m: Measure = BoxDomain::unit(1).unwrap().into();
    let x = array![[0.1], [0.5], [0.9]];
    let post = bayesian_quadrature(
        &k,
        &m,
        x.view(),
        Array1::zeros(3).view(),
        &BqOptions::default(),
    )
    .unwrap();
    assert_eq!(post.belief.mean, 0.0);
    assert!(
        post.belief.std() > 1e-3,
        "no data-driven scale: the prior's is kept"
    );
}

#[test]
fn nugget_conditioning_keeps_every_node_and_stays_honest() {
    let p = GenzFamily::Gaussian
        .instance(vec![10.0], vec![0.4])
        .unwrap();
    let truth = p.integral();
    for n in [64usize, 256] {
        let opts = QuadOptions::default()
            .budget(n)
            .design(Design::Halton)
            .hyperparameters(Hyperparameters::Fixed)
            .kernel(QuadKernel::squared_exponential(vec![0.1], 1.0).unwrap())
            .bq(BqOptions::default().conditioning(pn_quad::Conditioning::Nugget));
        let res = integrate(|x| p.eval(x), &p.measure(), &opts).unwrap();
        let dg = &res.posterior.diagnostics;
        assert_eq!(dg.kept.len(), n);
        assert!(dg.nugget > 0.0 && dg.nugget < 1e-8);
        let err = (res.belief.mean - truth).abs();
        assert!(
            err < 2.0 * res.belief.std() && err < 1e-5,
            "n = {n}: {err:e} vs {:e}",
            res.belief.std()
        );
    }
}

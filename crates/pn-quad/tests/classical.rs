//! Classical rules as Bayesian quadrature: Wiener prior ⇒ trapezoid rule; integrated Wiener
//! prior with a diffuse linear mean ⇒ integral of the natural cubic spline.

use ndarray::{Array1, Array2};
use pn_quad::{BoxDomain, BqOptions, Measure, PriorMean, QuadKernel, bayesian_quadrature};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

fn random_nodes(rng: &mut Pcg64, n: usize, a: f64, b: f64) -> Vec<f64> {
    let mut t: Vec<f64> = (0..n - 2).map(|_| rng.random_range(a..b)).collect();
    t.push(a);
    t.push(b);
    t.sort_by(f64::total_cmp);
    t
}

#[test]
fn wiener_posterior_mean_is_the_trapezoid_rule() {
    let mut rng = Pcg64::seed_from_u64(1);
    for trial in 0..20 {
        let n = 3 + trial;
        let (a, b) = (0.5, 2.5);
        let t = random_nodes(&mut rng, n, a, b);
        let f: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let trap: f64 = (0..n - 1)
            .map(|i| 0.5 * (t[i + 1] - t[i]) * (f[i] + f[i + 1]))
            .sum();
        let k = QuadKernel::wiener(0.0, 1.0 + trial as f64 * 0.1, 1.0).unwrap();
        let m: Measure = BoxDomain::interval(a, b).unwrap().into();
        let x = Array2::from_shape_vec((n, 1), t.clone()).unwrap();
        let post = bayesian_quadrature(
            &k,
            &m,
            x.view(),
            Array1::from(f.clone()).view(),
            &BqOptions::default(),
        )
        .unwrap();
        assert!(
            (post.belief.mean - trap).abs() < 1e-11 * (1.0 + trap.abs()),
            "n = {n}: BQ {} vs trapezoid {trap}",
            post.belief.mean
        );
        // The weights are the trapezoid weights.
        for i in 0..n {
            let left = if i > 0 { t[i] - t[i - 1] } else { 0.0 };
            let right = if i + 1 < n { t[i + 1] - t[i] } else { 0.0 };
            assert!((post.weights[i] - 0.5 * (left + right)).abs() < 1e-11);
        }
    }
}

/// Integral of the natural cubic spline through `(t, f)`, by the classical tridiagonal system
/// for the second derivatives `M` (`M₀ = Mₙ = 0`): `∫ s = Σ hᵢ (fᵢ + fᵢ₊₁)/2 − Σ hᵢ³ (Mᵢ + Mᵢ₊₁)/24`.
fn natural_spline_integral(t: &[f64], f: &[f64]) -> f64 {
    let n = t.len();
    let h: Vec<f64> = (0..n - 1).map(|i| t[i + 1] - t[i]).collect();
    // Thomas algorithm for interior M₁…Mₙ₋₂.
    let m_int = n - 2;
    let mut diag = vec![0.0; m_int];
    let mut rhs = vec![0.0; m_int];
    let mut sub = vec![0.0; m_int];
    let mut sup = vec![0.0; m_int];
    for j in 0..m_int {
        let i = j + 1;
        diag[j] = 2.0 * (h[i - 1] + h[i]);
        sub[j] = h[i - 1];
        sup[j] = h[i];
        rhs[j] = 6.0 * ((f[i + 1] - f[i]) / h[i] - (f[i] - f[i - 1]) / h[i - 1]);
    }
    for j in 1..m_int {
        let w = sub[j] / diag[j - 1];
        diag[j] -= w * sup[j - 1];
        rhs[j] -= w * rhs[j - 1];
    }
    let mut mm = vec![0.0; n];
    for j in (0..m_int).rev() {
        let next = if j + 1 < m_int { mm[j + 2] } else { 0.0 };
        mm[j + 1] = (rhs[j] - sup[j] * next) / diag[j];
    }
    (0..n - 1)
        .map(|i| 0.5 * h[i] * (f[i] + f[i + 1]) - h[i].powi(3) * (mm[i] + mm[i + 1]) / 24.0)
        .sum()
}

#[test]
fn integrated_wiener_with_diffuse_linear_mean_is_the_natural_cubic_spline() {
    let mut rng = Pcg64::seed_from_u64(2);
    for trial in 0..15 {
        let n = 4 + trial;
        let (a, b) = (0.0, 1.0 + trial as f64 * 0.2);
        let t = random_nodes(&mut rng, n, a, b);
        let f: Vec<f64> = t
            .iter()
            .map(|&s| (2.0 * s).sin() + rng.random_range(-0.5..0.5))
            .collect();
        let spline = natural_spline_integral(&t, &f);
        // The origin lies below the interval: at the origin itself the prior variance is 0 and
        // a node there would carry no information about the (diffuse) linear part.
        let k = QuadKernel::integrated_wiener(a - 0.25, 1.0).unwrap();
        let m: Measure = BoxDomain::interval(a, b).unwrap().into();
        let x = Array2::from_shape_vec((n, 1), t.clone()).unwrap();
        let opts = BqOptions::default().prior_mean(PriorMean::DiffuseLinear);
        let post = bayesian_quadrature(&k, &m, x.view(), Array1::from(f).view(), &opts).unwrap();
        assert!(
            (post.belief.mean - spline).abs() < 1e-8 * (1.0 + spline.abs()),
            "n = {n}: BQ {} vs natural spline {spline} ({:?})",
            post.belief.mean,
            post.diagnostics
        );
        assert!(post.belief.var >= 0.0);
    }
}

#[test]
fn zero_mean_integrated_wiener_is_not_the_natural_spline() {
    // Guard against a test that cannot fail: without the diffuse linear mean the answer differs.
    let t = [0.0, 0.3, 0.55, 1.0];
    let f = [1.0, 2.0, 0.5, 1.5];
    let k = QuadKernel::integrated_wiener(0.0, 1.0).unwrap();
    let m: Measure = BoxDomain::interval(0.0, 1.0).unwrap().into();
    let x = Array2::from_shape_vec((4, 1), t.to_vec()).unwrap();
    // IWP anchored at 0 has k(0, 0) = 0: the node at the origin carries no information and is
    // dropped by the pivoted factorisation.
    let post = bayesian_quadrature(
        &k,
        &m,
        x.view(),
        Array1::from(f.to_vec()).view(),
        &BqOptions::default(),
    )
    .unwrap();
    assert!(post.diagnostics.pivoted && post.diagnostics.kept.len() == 3);
    assert!((post.belief.mean - natural_spline_integral(&t, &f)).abs() > 1e-3);
}

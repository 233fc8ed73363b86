//! Kernel embeddings against high-accuracy numerical integration (composite Gauss–Legendre,
//! written here independently of the crate, with panels split at the kernel's kinks).

use ndarray::{Array2, array};
use pn_core::kernels::Kernel;
use pn_quad::{
    BoxDomain, GaussianMeasure, MaternOrder, Measure, QuadKernel, initial_variance, kernel_mean,
};

/// Gauss–Legendre nodes/weights on [-1, 1] by Newton iteration on P_n.
fn gl(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..60 {
            let (mut p0, mut p1) = (1.0, z);
            for k in 2..=n {
                let k = k as f64;
                let p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (z * p1 - p0) / (z * z - 1.0);
            z -= p1 / dp;
        }
        x[i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
    (x, w)
}

/// ∫_a^b f, composite 20-point Gauss–Legendre on `panels` panels, split at `breaks`.
fn integrate(f: &dyn Fn(f64) -> f64, a: f64, b: f64, breaks: &[f64], panels: usize) -> f64 {
    let (x, w) = gl(20);
    let mut pts = vec![a];
    pts.extend(breaks.iter().copied().filter(|&t| t > a && t < b));
    pts.push(b);
    pts.sort_by(f64::total_cmp);
    let mut s = 0.0;
    for seg in pts.windows(2) {
        let h = (seg[1] - seg[0]) / panels as f64;
        for p in 0..panels {
            let lo = seg[0] + p as f64 * h;
            for (xi, wi) in x.iter().zip(&w) {
                s += 0.5 * h * wi * f(lo + 0.5 * h * (xi + 1.0));
            }
        }
    }
    s
}

fn k1(k: &QuadKernel, s: f64, t: f64) -> f64 {
    k.eval(array![s].view(), array![t].view()).unwrap()
}

fn check(name: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{name}: closed form {got:.16e} vs numerical {want:.16e} (diff {:e})",
        (got - want).abs()
    );
}

fn kernels_1d() -> Vec<(QuadKernel, Measure)> {
    let b: Measure = BoxDomain::interval(-0.5, 1.2).unwrap().into();
    vec![
        (
            QuadKernel::squared_exponential(vec![0.3], 1.7).unwrap(),
            b.clone(),
        ),
        (
            QuadKernel::product_matern(MaternOrder::Half, vec![0.4], 1.3).unwrap(),
            b.clone(),
        ),
        (
            QuadKernel::product_matern(MaternOrder::ThreeHalves, vec![0.25], 0.8).unwrap(),
            b.clone(),
        ),
        (
            QuadKernel::product_matern(MaternOrder::FiveHalves, vec![0.6], 2.0).unwrap(),
            b.clone(),
        ),
        (
            QuadKernel::wiener(-1.0, 0.3, 1.5).unwrap(),
            BoxDomain::interval(0.2, 1.5).unwrap().into(),
        ),
        (
            QuadKernel::integrated_wiener(0.0, 0.7).unwrap(),
            BoxDomain::interval(0.3, 2.0).unwrap().into(),
        ),
    ]
}

#[test]
fn one_dimensional_embeddings_match_numerical_integration() {
    for (k, m) in kernels_1d() {
        let Measure::Lebesgue(b) = &m else {
            unreachable!()
        };
        let (lo, hi) = (b.lower()[0], b.upper()[0]);
        // Points inside and (for stationary kernels) outside the interval.
        let stationary = k.lengthscales().len() == 1;
        let mut pts = vec![lo, lo + 0.13, 0.5 * (lo + hi), hi - 0.01, hi];
        if stationary {
            pts.extend([lo - 0.4, hi + 0.25]);
        }
        let x = Array2::from_shape_vec((pts.len(), 1), pts.clone()).unwrap();
        let z = kernel_mean(&k, &m, x.view()).unwrap();
        for (i, &s) in pts.iter().enumerate() {
            let want = integrate(&|t| k1(&k, s, t), lo, hi, &[s], 40);
            check(&format!("{} z({s})", k.name()), z[i], want, 1e-10);
        }
        let kk = initial_variance(&k, &m).unwrap();
        let want = integrate(
            &|s| integrate(&|t| k1(&k, s, t), lo, hi, &[s], 8),
            lo,
            hi,
            &[],
            16,
        );
        check(&format!("{} kk", k.name()), kk, want, 1e-10);
    }
}

#[test]
fn two_dimensional_box_embeddings_match_numerical_integration() {
    let b = BoxDomain::new(array![-0.3, 0.0], array![0.7, 2.0]).unwrap();
    let m: Measure = b.clone().into();
    let ks = [
        QuadKernel::squared_exponential(vec![0.3, 0.8], 1.2).unwrap(),
        QuadKernel::product_matern(MaternOrder::Half, vec![0.5, 0.3], 1.0).unwrap(),
        QuadKernel::product_matern(MaternOrder::ThreeHalves, vec![0.2, 0.9], 0.5).unwrap(),
        QuadKernel::product_matern(MaternOrder::FiveHalves, vec![0.4, 0.4], 3.0).unwrap(),
    ];
    let pts = array![[0.1, 0.5], [-0.3, 2.0], [0.69, 1.1], [1.0, -0.2]];
    for k in &ks {
        let z = kernel_mean(k, &m, pts.view()).unwrap();
        for (i, p) in pts.rows().into_iter().enumerate() {
            let want = integrate(
                &|u| {
                    integrate(
                        &|v| k.eval(p, array![u, v].view()).unwrap(),
                        0.0,
                        2.0,
                        &[p[1]],
                        10,
                    )
                },
                -0.3,
                0.7,
                &[p[0]],
                10,
            );
            check(&format!("{} z({p})", k.name()), z[i], want, 1e-10);
        }
        // κ = ∫ z(x) dx with the (now verified) closed-form z, integrated numerically.
        let zfun = |u: f64, v: f64| kernel_mean(k, &m, array![[u, v]].view()).unwrap()[0];
        let want = integrate(
            &|u| integrate(&|v| zfun(u, v), 0.0, 2.0, &[], 4),
            -0.3,
            0.7,
            &[],
            4,
        );
        check(
            &format!("{} kk", k.name()),
            initial_variance(k, &m).unwrap(),
            want,
            1e-10,
        );
    }
}

#[test]
fn squared_exponential_against_gaussian_measures() {
    // 1-D: N(0.3, 0.5²).
    let k = QuadKernel::squared_exponential(vec![0.7], 1.4).unwrap();
    let g = GaussianMeasure::new(array![0.3], array![[0.25]]).unwrap();
    let m: Measure = g.into();
    let phi = |t: f64| {
        (-(t - 0.3f64).powi(2) / (2.0 * 0.25)).exp() / (2.0 * std::f64::consts::PI * 0.25).sqrt()
    };
    let pts = [-1.0, 0.3, 2.5];
    let x = Array2::from_shape_vec((3, 1), pts.to_vec()).unwrap();
    let z = kernel_mean(&k, &m, x.view()).unwrap();
    for (i, &s) in pts.iter().enumerate() {
        let want = integrate(&|t| k1(&k, s, t) * phi(t), -8.0, 8.0, &[], 40);
        check("SE-Gauss 1-D z", z[i], want, 1e-10);
    }
    let want = integrate(
        &|s| integrate(&|t| k1(&k, s, t) * phi(t), -8.0, 8.0, &[], 20) * phi(s),
        -8.0,
        8.0,
        &[],
        20,
    );
    check(
        "SE-Gauss 1-D kk",
        initial_variance(&k, &m).unwrap(),
        want,
        1e-10,
    );

    // 2-D with a full covariance: y = μ + L u, u ~ N(0, I).
    let k = QuadKernel::squared_exponential(vec![0.6, 1.3], 0.9).unwrap();
    let mu = array![0.2, -0.4];
    let cov = array![[0.5, 0.3], [0.3, 0.8]];
    let m: Measure = GaussianMeasure::new(mu.clone(), cov.clone())
        .unwrap()
        .into();
    let l11 = cov[[0, 0]].sqrt();
    let l21 = cov[[1, 0]] / l11;
    let l22 = (cov[[1, 1]] - l21 * l21).sqrt();
    let std_phi = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let expect2 = |h: &dyn Fn(f64, f64) -> f64| {
        integrate(
            &|u| {
                integrate(
                    &|v| h(mu[0] + l11 * u, mu[1] + l21 * u + l22 * v) * std_phi(v),
                    -9.0,
                    9.0,
                    &[],
                    12,
                ) * std_phi(u)
            },
            -9.0,
            9.0,
            &[],
            12,
        )
    };
    let pts = array![[0.0, 0.0], [1.0, -1.5], [-0.7, 0.9]];
    let z = kernel_mean(&k, &m, pts.view()).unwrap();
    for (i, p) in pts.rows().into_iter().enumerate() {
        let want = expect2(&|a, b| k.eval(p, array![a, b].view()).unwrap());
        check("SE-Gauss 2-D z", z[i], want, 1e-10);
    }
    let want = expect2(&|a, b| kernel_mean(&k, &m, array![[a, b]].view()).unwrap()[0]);
    check(
        "SE-Gauss 2-D kk",
        initial_variance(&k, &m).unwrap(),
        want,
        1e-10,
    );
}

#[test]
fn embeddings_reject_unsupported_pairs_and_bad_points() {
    let g: Measure = GaussianMeasure::standard(1).unwrap().into();
    let matern = QuadKernel::product_matern(MaternOrder::Half, vec![1.0], 1.0).unwrap();
    assert!(matches!(
        initial_variance(&matern, &g),
        Err(pn_quad::Error::NoEmbedding { .. })
    ));
    let w = QuadKernel::wiener(0.5, 0.0, 1.0).unwrap();
    let b: Measure = BoxDomain::interval(0.0, 1.0).unwrap().into();
    assert!(matches!(
        initial_variance(&w, &b),
        Err(pn_quad::Error::NoEmbedding { .. })
    ));
    let se = QuadKernel::squared_exponential(vec![1.0], 1.0).unwrap();
    assert!(kernel_mean(&se, &b, array![[f64::NAN]].view()).is_err());
    assert!(kernel_mean(&se, &b, array![[0.1, 0.2]].view()).is_err());
    let se2 = QuadKernel::squared_exponential(vec![1.0, 1.0], 1.0).unwrap();
    assert!(initial_variance(&se2, &b).is_err());
}

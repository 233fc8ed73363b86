//! Kronecker and Toeplitz structure against the dense GP.

use ndarray::{Array1, Array2, Axis, array};
use pn_core::LinearOperator;
use pn_core::kernels::{Kernel, Linear, Matern32, Matern52, SquaredExponential};
use pn_core::testing::assert_allclose;
use pn_linalg::iterative::CgParams;
use pn_linalg::structured::{KroneckerGp, Toeplitz, ToeplitzGp};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

/// Exact GP by dense Cholesky: (α, logdet, mean, var) at xs.
fn dense_gp(
    kxx: &Array2<f64>,
    kxs: &Array2<f64>,
    kss: &Array1<f64>,
    y: &Array1<f64>,
    s2: f64,
) -> (Array1<f64>, f64, Array1<f64>, Array1<f64>) {
    let mut khat = kxx.clone();
    khat.diag_mut().mapv_inplace(|v| v + s2);
    let c = pn_core::dense::cholesky(khat.view()).unwrap();
    let alpha = c.solve(y.view()).unwrap();
    let mean = kxs.t().dot(&alpha);
    let w = c.solve_l(kxs.view()).unwrap();
    let var = kss - &w.map_axis(Axis(0), |c| c.dot(&c));
    (alpha, c.logdet(), mean, var)
}

fn grid(n: usize, lo: f64, hi: f64) -> Array1<f64> {
    Array1::linspace(lo, hi, n)
}

#[test]
fn kronecker_se_equals_dense_ard_se() {
    // Π_d σ_d² exp(−(x_d − x'_d)²/(2ℓ_d²)) is the ARD squared exponential with σ² = Π σ_d².
    let grids = vec![grid(5, 0.0, 1.0), grid(6, -1.0, 2.0), grid(4, 0.5, 1.5)];
    let kernels: Vec<Box<dyn Kernel>> = vec![
        Box::new(SquaredExponential::new(0.4, 1.5).unwrap()),
        Box::new(SquaredExponential::new(0.9, 1.0).unwrap()),
        Box::new(SquaredExponential::new(0.3, 0.8).unwrap()),
    ];
    let s2 = 0.05;
    let gp = KroneckerGp::new(kernels, grids, s2).unwrap();
    let x = gp.points();
    assert_eq!(x.dim(), (120, 3));
    assert_eq!(x.row(1).to_vec(), vec![0.0, -1.0, 0.5 + 1.0 / 3.0]);
    let ard = SquaredExponential::ard(array![0.4, 0.9, 0.3], 1.5 * 0.8).unwrap();
    let mut rng = Pcg64::seed_from_u64(1);
    let y = Array1::from_shape_fn(120, |_| rng.sample::<f64, _>(StandardNormal));
    let xs = Array2::from_shape_fn((15, 3), |_| rng.random::<f64>() * 1.5 - 0.2);
    let kxx = ard.matrix(x.view(), x.view()).unwrap();
    let kxs = ard.matrix(x.view(), xs.view()).unwrap();
    let kss = ard.diag(xs.view()).unwrap();
    let (alpha, logdet, mean, var) = dense_gp(&kxx, &kxs, &kss, &y, s2);
    assert_allclose(&gp.solve(y.view()).unwrap(), &alpha, 1e-8, 1e-12);
    assert!((gp.logdet() - logdet).abs() <= 1e-8 * logdet.abs());
    let lml = -0.5 * y.dot(&alpha) - 0.5 * logdet - 60.0 * (2.0 * std::f64::consts::PI).ln();
    assert!((gp.log_marginal_likelihood(y.view()).unwrap() - lml).abs() <= 1e-8 * lml.abs());
    let post = gp.fit(y.view()).unwrap();
    let (m, v) = post.predict(xs.view()).unwrap();
    assert_allclose(&m, &mean, 1e-8, 1e-10);
    assert_allclose(&v, &var, 1e-8, 1e-10);
    // The operator and its diagonal.
    let mut khat = kxx.clone();
    khat.diag_mut().mapv_inplace(|v| v + s2);
    assert_allclose(&gp.matvec(y.view()), &khat.dot(&y), 1e-10, 1e-12);
    assert_allclose(&gp.diagonal(), &khat.diag(), 1e-12, 0.0);
}

#[test]
fn kronecker_matern_product_equals_dense_hadamard_product() {
    let grids = vec![grid(7, 0.0, 3.0), grid(5, 0.0, 1.0)];
    let k1 = Matern32::new(0.8, 2.0).unwrap();
    let k2 = Matern52::new(0.3, 0.5).unwrap();
    let s2 = 1e-3;
    let gp = KroneckerGp::new(vec![Box::new(k1.clone()), Box::new(k2.clone())], grids, s2).unwrap();
    let x = gp.points();
    let c0 = x.column(0).to_owned().insert_axis(Axis(1));
    let c1 = x.column(1).to_owned().insert_axis(Axis(1));
    let kxx = k1.matrix(c0.view(), c0.view()).unwrap() * k2.matrix(c1.view(), c1.view()).unwrap();
    let xs = array![[0.1, 0.2], [2.9, 0.95], [1.5, 0.5], [3.5, -0.2]];
    let s0 = xs.column(0).to_owned().insert_axis(Axis(1));
    let s1 = xs.column(1).to_owned().insert_axis(Axis(1));
    let kxs = k1.matrix(c0.view(), s0.view()).unwrap() * k2.matrix(c1.view(), s1.view()).unwrap();
    let kss = Array1::from_elem(4, 2.0 * 0.5);
    let y = x.map_axis(Axis(1), |r| (2.0 * r[0]).sin() + r[1]);
    let (alpha, logdet, mean, var) = dense_gp(&kxx, &kxs, &kss, &y, s2);
    assert_allclose(&gp.solve(y.view()).unwrap(), &alpha, 1e-8, 1e-10);
    assert!((gp.logdet() - logdet).abs() <= 1e-8 * logdet.abs());
    let (m, v) = gp.fit(y.view()).unwrap().predict(xs.view()).unwrap();
    assert_allclose(&m, &mean, 1e-8, 1e-10);
    assert_allclose(&v, &var, 1e-8, 1e-10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn kronecker_solve_is_a_dense_solve(n1 in 1usize..6, n2 in 1usize..6, ell in 0.1f64..2.0, s2 in 0.01f64..1.0, seed in 0u64..1000) {
        let kernels: Vec<Box<dyn Kernel>> = vec![
            Box::new(SquaredExponential::new(ell, 1.0).unwrap()),
            Box::new(Matern52::new(ell * 0.5, 1.0).unwrap()),
        ];
        let gp = KroneckerGp::new(kernels, vec![grid(n1, 0.0, 1.0), grid(n2, 0.0, 1.0)], s2).unwrap();
        let k = gp.to_dense();
        let mut rng = Pcg64::seed_from_u64(seed);
        let y = Array1::from_shape_fn(n1 * n2, |_| rng.sample::<f64, _>(StandardNormal));
        let x = gp.solve(y.view()).unwrap();
        let back = k.dot(&x);
        prop_assert!(pn_core::testing::first_mismatch(&back, &y, 1e-9, 1e-9).is_none());
    }
}

#[test]
fn toeplitz_products_equal_dense_kernel_matrices() {
    let k = Matern32::new(0.7, 1.3).unwrap();
    for n in [1, 2, 3, 17, 64, 101] {
        let x = grid(n, -2.0, 3.0);
        let t = Toeplitz::from_kernel(&k, x.view(), 0.2).unwrap();
        let pts = x.view().insert_axis(Axis(1));
        let mut dense = k.matrix(pts, pts).unwrap();
        dense.diag_mut().mapv_inplace(|v| v + 0.2);
        let mut rng = Pcg64::seed_from_u64(n as u64);
        let v = Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal));
        assert_allclose(&t.matvec(v.view()), &dense.dot(&v), 1e-12, 1e-12);
        assert_allclose(&t.to_dense(), &dense, 1e-14, 1e-14);
    }
}

#[test]
fn toeplitz_gp_by_cg_equals_the_dense_gp() {
    let n = 300;
    let x = grid(n, 0.0, 10.0);
    let k = SquaredExponential::new(0.5, 1.0).unwrap();
    let s2 = 0.1;
    let mut rng = Pcg64::seed_from_u64(3);
    let y = x.mapv(|t| t.sin())
        + Array1::from_shape_fn(n, |_| 0.3 * rng.sample::<f64, _>(StandardNormal));
    let xs = array![0.05, 3.33, 7.01, 9.99, 11.0];
    let pts = x.view().insert_axis(Axis(1));
    let spts = xs.view().insert_axis(Axis(1));
    let kxx = k.matrix(pts, pts).unwrap();
    let kxs = k.matrix(pts, spts).unwrap();
    let kss = k.diag(spts).unwrap();
    let (alpha, _, mean, var) = dense_gp(&kxx, &kxs, &kss, &y, s2);
    let gp = ToeplitzGp::new(&k, x.view(), s2).unwrap();
    let post = gp.fit(y.view(), &CgParams::default().rtol(1e-13)).unwrap();
    assert!(post.info().converged);
    assert_allclose(&post.alpha(), &alpha, 1e-8, 1e-10);
    let (m, v) = post.predict(xs.view()).unwrap();
    assert_allclose(&m, &mean, 1e-8, 1e-10);
    assert_allclose(&v, &var, 1e-8, 1e-10);
    assert_allclose(&post.predict_mean(xs.view()).unwrap(), &mean, 1e-8, 1e-10);
}

#[test]
fn bad_input_gives_errors() {
    let k = SquaredExponential::new(0.5, 1.0).unwrap();
    assert!(Toeplitz::from_kernel(&k, array![0.0, 0.1, 0.3].view(), 0.1).is_err());
    assert!(Toeplitz::from_kernel(&k, array![0.0, f64::NAN, 0.3].view(), 0.1).is_err());
    assert!(Toeplitz::from_kernel(&k, array![0.0, 0.0, 0.0].view(), 0.1).is_err());
    assert!(Toeplitz::from_kernel(&k, Array1::<f64>::zeros(0).view(), 0.1).is_err());
    assert!(Toeplitz::from_kernel(&k, grid(5, 0.0, 1.0).view(), -0.1).is_err());
    let lin = Linear::new(1.0).unwrap();
    let e = Toeplitz::from_kernel(&lin, grid(5, 1.0, 2.0).view(), 0.1).unwrap_err();
    assert!(format!("{e}").contains("stationary"), "{e}");
    let kb: Vec<Box<dyn Kernel>> = vec![Box::new(k.clone())];
    assert!(KroneckerGp::new(kb.clone(), vec![], 0.1).is_err());
    assert!(KroneckerGp::new(kb.clone(), vec![Array1::zeros(0)], 0.1).is_err());
    assert!(KroneckerGp::new(vec![], vec![], 0.1).is_err());
    // Zero noise on a rank-deficient K (repeated grid points) is singular.
    assert!(KroneckerGp::new(kb.clone(), vec![array![0.0, 0.0, 1.0]], 0.0).is_err());
    let gp = KroneckerGp::new(kb, vec![grid(4, 0.0, 1.0)], 0.1).unwrap();
    assert!(gp.solve(array![1.0, 2.0].view()).is_err());
    assert!(gp.solve(array![1.0, 2.0, f64::NAN, 0.0].view()).is_err());
    let post = gp.fit(array![1.0, 2.0, 3.0, 0.0].view()).unwrap();
    assert!(post.predict(array![[0.1, 0.2]].view()).is_err());
}

//! Tests of `pn_core::kernels`: closed forms, matrix assembly, analytic gradients against finite
//! differences, positive semi-definiteness, the matrix-free kernel matrix, and input validation.

use ndarray::{Array1, Array2, ArrayView2, array, s};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use pn_core::kernels::{
    Kernel, KernelMatrix, Linear, Matern12, Matern32, Matern52, Periodic, Product,
    RationalQuadratic, SquaredExponential, Sum,
};
use pn_core::{Error, LinearOperator, LinearOperatorExt};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The one tolerance rule of this file: `|a − b| ≤ rel · |b| + abs`.
fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= rel * b.abs() + abs
}

/// Asserts [`close`] entrywise, naming the first offending entry.
fn assert_all_close(a: &Array2<f64>, b: &Array2<f64>, rel: f64, abs: f64, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}: shapes differ");
    for ((idx, &u), &v) in a.indexed_iter().zip(b.iter()) {
        assert!(
            close(u, v, rel, abs),
            "{what}: entry {idx:?} is {u:e}, expected {v:e}"
        );
    }
}

fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

/// `n` points uniform in `[-2, 2]ᵈ`.
fn points(rng: &mut Pcg64, n: usize, d: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, d), |_| rng.random_range(-2.0..2.0))
}

/// Every kernel kind, isotropic and ARD, plus sums, products and a nested sum of products, for
/// inputs of dimension `d` (ARD lengthscales differ per dimension).
fn all_kernels(d: usize) -> Vec<(String, Box<dyn Kernel>)> {
    let ls: Vec<f64> = (0..d).map(|k| 0.6 + 0.45 * k as f64).collect();
    let mut ks: Vec<(String, Box<dyn Kernel>)> = vec![
        (
            "se".into(),
            SquaredExponential::new(0.8, 1.3).unwrap().into(),
        ),
        (
            "se-ard".into(),
            SquaredExponential::ard(ls.clone(), 0.7).unwrap().into(),
        ),
        ("m12".into(), Matern12::new(0.9, 1.1).unwrap().into()),
        (
            "m12-ard".into(),
            Matern12::ard(ls.clone(), 1.4).unwrap().into(),
        ),
        ("m32".into(), Matern32::new(0.7, 0.9).unwrap().into()),
        (
            "m32-ard".into(),
            Matern32::ard(ls.clone(), 1.2).unwrap().into(),
        ),
        ("m52".into(), Matern52::new(1.1, 2.0).unwrap().into()),
        (
            "m52-ard".into(),
            Matern52::ard(ls.clone(), 0.6).unwrap().into(),
        ),
        (
            "rq".into(),
            RationalQuadratic::new(0.9, 0.7, 1.5).unwrap().into(),
        ),
        (
            "rq-ard".into(),
            RationalQuadratic::ard(ls.clone(), 2.5, 0.8).unwrap().into(),
        ),
        (
            "periodic".into(),
            Periodic::new(0.8, 1.7, 1.2).unwrap().into(),
        ),
        (
            "periodic-ard".into(),
            Periodic::ard(ls.clone(), 2.3, 0.9).unwrap().into(),
        ),
        ("linear".into(), Linear::new(0.6).unwrap().into()),
        (
            "linear-bias".into(),
            Linear::with_bias(0.4, 0.3).unwrap().into(),
        ),
    ];
    ks.push((
        "sum".into(),
        (SquaredExponential::new(0.5, 1.0).unwrap() + Linear::with_bias(0.2, 0.1).unwrap()).into(),
    ));
    ks.push((
        "product".into(),
        (Matern52::ard(ls.clone(), 1.0).unwrap() * Periodic::new(1.0, 1.5, 0.8).unwrap()).into(),
    ));
    ks.push((
        "nested".into(),
        (SquaredExponential::ard(ls.clone(), 0.9).unwrap()
            * (Periodic::new(0.7, 2.0, 1.1).unwrap() + Matern12::new(1.3, 0.5).unwrap())
            + Matern32::new(0.6, 0.4).unwrap() * RationalQuadratic::ard(ls, 1.5, 1.2).unwrap()
            + Linear::new(0.05).unwrap())
        .into(),
    ));
    ks
}

/// Smallest and largest eigenvalue of a symmetric matrix.
fn eig_range(a: ArrayView2<'_, f64>) -> (f64, f64) {
    let (w, _) = pn_core::dense::eigh(a).expect("symmetric finite matrix");
    (w[0], w[w.len() - 1])
}

// ---------------------------------------------------------------------------------------------
// Closed forms
// ---------------------------------------------------------------------------------------------

#[test]
fn squared_exponential_closed_form() {
    // Unit kernel at distance 1: e^{-1/2}.
    let k = SquaredExponential::new(1.0, 1.0).unwrap();
    let v = k.eval(array![0.0].view(), array![1.0].view()).unwrap();
    assert!(close(v, 0.606_530_659_712_633_4, 1e-14, 0.0));
    // ℓ = 2, σ² = 1.5, x − y = (1, 1.5): r² = 0.25 + 0.5625.
    let k = SquaredExponential::new(2.0, 1.5).unwrap();
    let v = k
        .eval(array![1.0, 2.0].view(), array![0.0, 0.5].view())
        .unwrap();
    assert!(close(v, 1.5 * (-0.5f64 * 0.8125).exp(), 1e-14, 0.0));
    // k(x, x) = σ².
    assert_eq!(
        k.eval(array![3.0, -1.0].view(), array![3.0, -1.0].view())
            .unwrap(),
        1.5
    );
}

#[test]
fn ard_closed_form() {
    // ℓ = (0.5, 2), x − y = (0.4, −3): r² = 0.64 + 2.25.
    let k = SquaredExponential::ard(vec![0.5, 2.0], 0.8).unwrap();
    let v = k
        .eval(array![0.4, -1.0].view(), array![0.0, 2.0].view())
        .unwrap();
    assert!(close(v, 0.8 * (-0.5f64 * 2.89).exp(), 1e-14, 0.0));
    let k = Matern52::ard(array![0.5, 2.0], 0.8).unwrap();
    let r = 2.89f64.sqrt();
    let expected = 0.8 * (1.0 + 5f64.sqrt() * r + 5.0 * 2.89 / 3.0) * (-(5f64.sqrt()) * r).exp();
    let v = k
        .eval(array![0.4, -1.0].view(), array![0.0, 2.0].view())
        .unwrap();
    assert!(close(v, expected, 1e-14, 0.0));
}

#[test]
fn matern12_closed_form() {
    // ℓ = 0.5, σ² = 2, |x − y| = 0.7: r = 1.4, k = 2 e^{-1.4}.
    let k = Matern12::new(0.5, 2.0).unwrap();
    let v = k.eval(array![0.3].view(), array![1.0].view()).unwrap();
    assert!(close(v, 2.0 * (-1.4f64).exp(), 1e-14, 0.0));
    assert!(close(v, 0.493_193_927_883_213_6, 1e-14, 0.0));
}

#[test]
fn matern32_closed_form() {
    // ℓ = 0.5, σ² = 1.2, x − y = (0.3, 0.4): r = 0.5 / 0.5 = 1, k = 1.2 (1 + √3) e^{-√3}.
    let k = Matern32::new(0.5, 1.2).unwrap();
    let v = k
        .eval(array![0.3, 0.4].view(), array![0.0, 0.0].view())
        .unwrap();
    let s3 = 3f64.sqrt();
    assert!(close(v, 1.2 * (1.0 + s3) * (-s3).exp(), 1e-14, 0.0));
    // Unit kernel at r = 1: (1 + √3) e^{-√3} = 0.4833577245965077.
    let k = Matern32::new(1.0, 1.0).unwrap();
    let v = k.eval(array![1.0].view(), array![0.0].view()).unwrap();
    assert!(close(v, 0.483_357_724_596_507_7, 1e-14, 0.0));
}

#[test]
fn matern52_closed_form() {
    // ℓ = 0.8, σ² = 0.7, |x − y| = 1.2: r = 1.5, k = 0.7 (1 + 1.5√5 + 5·2.25/3) e^{-1.5√5}.
    let k = Matern52::new(0.8, 0.7).unwrap();
    let v = k.eval(array![-0.2].view(), array![1.0].view()).unwrap();
    let s5 = 5f64.sqrt();
    let expected = 0.7 * (1.0 + 1.5 * s5 + 5.0 * 2.25 / 3.0) * (-1.5 * s5).exp();
    assert!(close(v, expected, 1e-14, 0.0));
    // Unit kernel at r = 1: (1 + √5 + 5/3) e^{-√5} = 0.5239941088318203.
    let k = Matern52::new(1.0, 1.0).unwrap();
    let v = k.eval(array![0.0].view(), array![1.0].view()).unwrap();
    assert!(close(v, 0.523_994_108_831_820_3, 1e-14, 0.0));
}

#[test]
fn rational_quadratic_closed_form() {
    // ℓ = 1.3, α = 0.5, σ² = 2, |x − y| = 2.6: r² = 4, k = 2 (1 + 4)^{-1/2}.
    let k = RationalQuadratic::new(1.3, 0.5, 2.0).unwrap();
    let v = k.eval(array![1.0].view(), array![-1.6].view()).unwrap();
    assert!(close(v, 2.0 / 5f64.sqrt(), 1e-14, 0.0));
    // α = 2, r² = 1: (1 + 1/4)^{-2} = 0.64.
    let k = RationalQuadratic::new(1.0, 2.0, 1.0).unwrap();
    let v = k
        .eval(array![0.0, 1.0].view(), array![0.0, 0.0].view())
        .unwrap();
    assert!(close(v, 0.64, 1e-14, 0.0));
    // Large α approaches the squared exponential.
    let k = RationalQuadratic::new(1.0, 1e8, 1.0).unwrap();
    let v = k.eval(array![0.0].view(), array![1.0].view()).unwrap();
    assert!(close(v, (-0.5f64).exp(), 1e-7, 0.0));
}

#[test]
fn periodic_closed_form() {
    // ℓ = 0.7, p = 2, σ² = 1.3, |x − y| = 0.8: k = 1.3 exp(−2 sin²(0.4π) / 0.49).
    let k = Periodic::new(0.7, 2.0, 1.3).unwrap();
    let s = (0.4 * std::f64::consts::PI).sin();
    let expected = 1.3 * (-2.0 * s * s / 0.49).exp();
    let v = k.eval(array![0.3].view(), array![1.1].view()).unwrap();
    assert!(close(v, expected, 1e-14, 0.0));
    // Quarter period at ℓ = 1: sin²(π/4) = 1/2, k = e^{-1}.
    let k = Periodic::new(1.0, 4.0, 1.0).unwrap();
    let v = k.eval(array![0.0].view(), array![1.0].view()).unwrap();
    assert!(close(v, (-1.0f64).exp(), 1e-14, 0.0));
    // Periodic in each coordinate with period p.
    let k = Periodic::ard(vec![0.6, 1.4], 1.5, 0.9).unwrap();
    let a = k
        .eval(array![0.2, -0.4].view(), array![1.0, 0.3].view())
        .unwrap();
    let b = k
        .eval(
            array![0.2 + 1.5, -0.4 - 3.0].view(),
            array![1.0, 0.3].view(),
        )
        .unwrap();
    assert!(close(a, b, 1e-13, 0.0));
    let m = k.matrix(
        array![[0.2, -0.4]].view(),
        array![[1.0, 0.3], [1.0 - 4.5, 0.3]].view(),
    );
    let m = m.unwrap();
    assert!(close(m[[0, 0]], a, 1e-13, 0.0) && close(m[[0, 1]], a, 1e-12, 0.0));
}

#[test]
fn linear_closed_form() {
    // xᵀy = −1 + 1 + 6 = 6.
    let x = array![1.0, 2.0, 3.0];
    let y = array![-1.0, 0.5, 2.0];
    let k = Linear::new(0.5).unwrap();
    assert!(close(k.eval(x.view(), y.view()).unwrap(), 3.0, 1e-15, 0.0));
    let k = Linear::with_bias(0.5, 0.25).unwrap();
    assert!(close(k.eval(x.view(), y.view()).unwrap(), 3.25, 1e-15, 0.0));
    assert_eq!(k.bias(), Some(0.25));
    assert_eq!(k.variance(), 0.5);
}

#[test]
fn sum_and_product_closed_form() {
    let x = array![0.3, -0.2];
    let y = array![1.0, 0.4];
    let a = SquaredExponential::new(1.2, 0.8).unwrap();
    let b = Matern32::new(0.9, 1.5).unwrap();
    let c = Linear::with_bias(0.3, 0.2).unwrap();
    let (ka, kb, kc) = (
        a.eval(x.view(), y.view()).unwrap(),
        b.eval(x.view(), y.view()).unwrap(),
        c.eval(x.view(), y.view()).unwrap(),
    );
    let k = a.clone() * b.clone() + c.clone();
    assert!(close(
        k.eval(x.view(), y.view()).unwrap(),
        ka * kb + kc,
        1e-14,
        0.0
    ));
    let k = (a.clone() + b.clone()) * c.clone();
    assert!(close(
        k.eval(x.view(), y.view()).unwrap(),
        (ka + kb) * kc,
        1e-14,
        0.0
    ));
    let k = Product::new(vec![a.into(), b.into(), c.into()]).unwrap();
    assert!(close(
        k.eval(x.view(), y.view()).unwrap(),
        ka * kb * kc,
        1e-14,
        0.0
    ));
}

// ---------------------------------------------------------------------------------------------
// Matrices
// ---------------------------------------------------------------------------------------------

#[test]
fn matrix_equals_elementwise_eval() {
    let mut r = rng(1);
    for d in 1..=3 {
        let x = points(&mut r, 23, d);
        let y = points(&mut r, 17, d);
        for (name, k) in all_kernels(d) {
            let m = k.matrix(x.view(), y.view()).unwrap();
            assert_eq!(m.dim(), (23, 17));
            let e = Array2::from_shape_fn((23, 17), |(i, j)| k.eval(x.row(i), y.row(j)).unwrap());
            assert_all_close(&m, &e, 1e-13, 1e-14, &format!("{name}, d = {d}"));
        }
    }
}

#[test]
fn matrix_is_symmetric_and_diag_matches() {
    let mut r = rng(2);
    for d in 1..=3 {
        // Enough points for several parallel blocks.
        let x = points(&mut r, 301, d);
        for (name, k) in all_kernels(d) {
            let m = k.matrix(x.view(), x.view()).unwrap();
            assert_all_close(
                &m,
                &m.t().to_owned(),
                1e-14,
                1e-15,
                &format!("{name}: symmetry"),
            );
            let diag = k.diag(x.view()).unwrap();
            for i in 0..x.nrows() {
                assert!(close(diag[i], m[[i, i]], 1e-13, 1e-15), "{name}: diag {i}");
            }
            let (kg, grads) = k.matrix_with_grad(x.view()).unwrap();
            assert_all_close(&kg, &m, 1e-13, 1e-15, &format!("{name}: matrix_with_grad"));
            assert_eq!(grads.len(), k.n_params(), "{name}");
        }
    }
}

#[test]
fn large_distances_underflow_to_zero_without_nan() {
    let x = array![[0.0], [1e3]];
    for (name, k) in all_kernels(1) {
        let m = k.matrix(x.view(), x.view()).unwrap();
        assert!(m.iter().all(|v| v.is_finite()), "{name}");
    }
    let k = SquaredExponential::new(1.0, 1.0).unwrap();
    let m = k.matrix(x.view(), x.view()).unwrap();
    assert_eq!(m[[0, 1]], 0.0);
    assert_eq!(m[[1, 1]], 1.0);
}

// ---------------------------------------------------------------------------------------------
// Gradients
// ---------------------------------------------------------------------------------------------

/// `matrix_with_grad` against central differences in every log-parameter.
fn check_gradients(name: &str, k: &dyn Kernel, x: ArrayView2<'_, f64>) {
    const H: f64 = 1e-5;
    let p0 = k.log_params();
    assert_eq!(p0.len(), k.n_params(), "{name}");
    assert_eq!(k.param_names().len(), k.n_params(), "{name}");
    let (kx, grads) = k.matrix_with_grad(x).unwrap();
    assert_eq!(grads.len(), k.n_params(), "{name}");
    let scale = kx.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (p, g) in grads.iter().enumerate() {
        let mut plus = k.box_clone();
        let mut minus = k.box_clone();
        let mut pp = p0.clone();
        pp[p] += H;
        plus.set_log_params(pp.view()).unwrap();
        pp[p] -= 2.0 * H;
        minus.set_log_params(pp.view()).unwrap();
        let fd = (plus.matrix(x, x).unwrap() - minus.matrix(x, x).unwrap()) / (2.0 * H);
        let what = format!("{name}: ∂K/∂{}", k.param_names()[p]);
        assert_all_close(g, &fd, 1e-6, 1e-9 * scale, &what);
    }
}

#[test]
fn gradients_match_finite_differences() {
    let mut r = rng(3);
    for d in 1..=3 {
        let x = points(&mut r, 9, d);
        for (name, k) in all_kernels(d) {
            check_gradients(&format!("{name}, d = {d}"), k.as_ref(), x.view());
        }
    }
}

#[test]
fn gradients_of_deeply_nested_kernels() {
    let mut r = rng(4);
    let x = points(&mut r, 8, 2);
    let inner = (Matern12::ard(vec![0.7, 1.9], 0.8).unwrap() + Linear::new(0.3).unwrap())
        * RationalQuadratic::new(1.1, 0.4, 1.3).unwrap();
    let k = (inner.clone() + Periodic::ard(vec![1.2, 0.5], 1.1, 0.6).unwrap())
        * (SquaredExponential::new(2.0, 1.0).unwrap() + inner);
    check_gradients("deeply nested", &k, x.view());
    assert_eq!(k.param_names()[0], "0.0.0.0.lengthscale[0]");
}

#[test]
fn log_params_roundtrip_and_names() {
    let mut k = RationalQuadratic::ard(vec![0.5, 2.0], 3.0, 1.5).unwrap();
    let p = k.log_params();
    let expected = array![0.5f64.ln(), 2f64.ln(), 3f64.ln(), 1.5f64.ln()];
    assert!((&p - &expected).iter().all(|e| e.abs() < 1e-15));
    assert_eq!(
        k.param_names(),
        ["lengthscale[0]", "lengthscale[1]", "alpha", "outputscale"]
    );
    k.set_log_params(array![0.0, 1.0, 2.0, 3.0].view()).unwrap();
    assert!(close(k.lengthscales()[1], 1f64.exp(), 1e-15, 0.0));
    assert!(close(k.alpha(), 2f64.exp(), 1e-15, 0.0));
    assert!(close(k.outputscale(), 3f64.exp(), 1e-15, 0.0));
    assert!(k.is_ard());

    let mut p = Periodic::new(0.5, 2.0, 1.5).unwrap();
    assert_eq!(p.param_names(), ["lengthscale", "period", "outputscale"]);
    p.set_log_params(array![0.1, 0.2, 0.3].view()).unwrap();
    assert!(close(p.period(), 0.2f64.exp(), 1e-15, 0.0));
    assert_eq!(
        Linear::with_bias(1.0, 1.0).unwrap().param_names(),
        ["variance", "bias"]
    );

    let s = SquaredExponential::new(1.0, 2.0).unwrap() + Linear::new(3.0).unwrap();
    assert_eq!(
        s.param_names(),
        ["0.lengthscale", "0.outputscale", "1.variance"]
    );
    assert_eq!(s.input_dim(), None);
}

// ---------------------------------------------------------------------------------------------
// Positive semi-definiteness
// ---------------------------------------------------------------------------------------------

/// `d` in 1..=3 and 30 points in `[-3, 3]ᵈ`.
fn point_sets() -> impl Strategy<Value = Array2<f64>> {
    (1usize..=3).prop_flat_map(|d| {
        proptest::collection::vec(-3.0..3.0f64, 30 * d)
            .prop_map(move |v| Array2::from_shape_vec((30, d), v).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x5eed_7e57),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn kernel_matrices_are_psd(x in point_sets()) {
        for (name, k) in all_kernels(x.ncols()) {
            let m = k.matrix(x.view(), x.view()).unwrap();
            let (lo, hi) = eig_range(m.view());
            prop_assert!(hi > 0.0, "{}: largest eigenvalue {}", name, hi);
            prop_assert!(lo >= -1e-10 * hi, "{}: eigenvalues in [{:e}, {:e}]", name, lo, hi);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// KernelMatrix
// ---------------------------------------------------------------------------------------------

#[test]
fn kernel_matrix_matches_dense() {
    let mut r = rng(5);
    // More than one tile in both directions (tiles are 64 × 1024).
    let x = points(&mut r, 150, 2);
    let y = points(&mut r, 1100, 2);
    let v = Array1::from_shape_fn(1100, |_| r.random_range(-1.0..1.0));
    let u = Array1::from_shape_fn(150, |_| r.random_range(-1.0..1.0));
    let vm = Array2::from_shape_fn((1100, 3), |_| r.random_range(-1.0..1.0));
    for (name, k) in all_kernels(2) {
        let dense = k.matrix(x.view(), y.view()).unwrap();
        let op = KernelMatrix::new(k.as_ref(), x.view(), y.view()).unwrap();
        assert_eq!(op.shape(), (150, 1100));
        let tol = |a: &Array1<f64>, b: &Array1<f64>, what: &str| {
            let s = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for i in 0..a.len() {
                assert!(
                    close(a[i], b[i], 1e-12, 1e-12 * s),
                    "{name}: {what} entry {i}"
                );
            }
        };
        tol(&op.matvec(v.view()), &dense.dot(&v), "matvec");
        tol(&op.apply(v.view()).unwrap(), &dense.dot(&v), "apply");
        tol(&op.rmatvec(u.view()), &dense.t().dot(&u), "rmatvec");
        let mm = op.matmat(vm.view());
        let expected = dense.dot(&vm);
        assert_all_close(&mm, &expected, 1e-12, 1e-11, &format!("{name}: matmat"));
        let diag = op.diagonal();
        assert_eq!(diag.len(), 150);
        tol(&diag, &dense.diag().to_owned(), "diagonal");
        assert_all_close(
            &op.to_dense(),
            &dense,
            1e-14,
            0.0,
            &format!("{name}: to_dense"),
        );
    }
}

#[test]
fn symmetric_kernel_matrix_with_noise() {
    let mut r = rng(6);
    let x = points(&mut r, 90, 3);
    let v = Array1::from_shape_fn(90, |_| r.random_range(-1.0..1.0));
    let k = Matern52::ard(vec![0.5, 1.0, 2.0], 1.3).unwrap() + Linear::new(0.2).unwrap();
    let op = KernelMatrix::symmetric(&k, x.view())
        .unwrap()
        .with_noise(0.25)
        .unwrap();
    assert_eq!(op.noise(), 0.25);
    let mut dense = k.matrix(x.view(), x.view()).unwrap();
    dense.diag_mut().mapv_inplace(|d| d + 0.25);
    let s = dense.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mv = op.matvec(v.view());
    let rv = op.rmatvec(v.view());
    let expected = dense.dot(&v);
    for i in 0..90 {
        assert!(close(mv[i], expected[i], 1e-12, 1e-12 * s));
        assert!(close(rv[i], expected[i], 1e-12, 1e-12 * s));
    }
    assert_all_close(&op.to_dense(), &dense, 1e-14, 0.0, "to_dense");
    let diag = op.diagonal();
    for i in 0..90 {
        assert!(close(diag[i], dense[[i, i]], 1e-13, 0.0));
    }
    // The non-symmetric constructor on equal points gives the same operator.
    let op2 = KernelMatrix::new(&k, x.view(), x.view())
        .unwrap()
        .with_noise(0.25)
        .unwrap();
    assert_all_close(&op2.to_dense(), &dense, 1e-14, 0.0, "new(x, x)");
    let d2 = op2.diagonal();
    assert!((&d2 - &diag).iter().all(|e| e.abs() < 1e-13));
}

#[test]
fn kernel_matrix_rejects_bad_input() {
    let k = SquaredExponential::ard(vec![1.0, 2.0], 1.0).unwrap();
    let x = array![[0.0, 1.0], [2.0, 3.0]];
    let y = array![[0.0, 1.0]];
    let bad = array![[0.0, f64::NAN]];
    assert!(matches!(
        KernelMatrix::new(&k, x.view(), array![[1.0, 2.0, 3.0]].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        KernelMatrix::symmetric(&k, array![[1.0]].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        KernelMatrix::new(&k, x.view(), bad.view()),
        Err(Error::NonFinite { what: "y", .. })
    ));
    assert!(matches!(
        KernelMatrix::symmetric(&k, bad.view()),
        Err(Error::NonFinite { what: "x", .. })
    ));
    let op = KernelMatrix::new(&k, x.view(), y.view()).unwrap();
    assert!(matches!(
        op.clone().with_noise(0.1),
        Err(Error::ShapeMismatch { .. })
    ));
    let sq = KernelMatrix::symmetric(&k, x.view()).unwrap();
    for noise in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            sq.clone().with_noise(noise),
            Err(Error::InvalidParameter { name: "noise", .. })
        ));
    }
    assert!(sq.clone().with_noise(0.0).is_ok());
    // Checked application through the operator extension trait.
    assert!(matches!(
        op.apply(array![1.0, 2.0].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        op.apply(array![f64::NAN].view()),
        Err(Error::NonFinite { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn is_invalid<T: std::fmt::Debug>(r: pn_core::Result<T>) -> bool {
    matches!(r, Err(Error::InvalidParameter { .. }))
}

#[test]
fn constructors_reject_invalid_hyperparameters() {
    let bad = [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    for &b in &bad {
        assert!(is_invalid(SquaredExponential::new(b, 1.0)), "{b}");
        assert!(is_invalid(SquaredExponential::new(1.0, b)), "{b}");
        assert!(
            is_invalid(SquaredExponential::ard(vec![1.0, b], 1.0)),
            "{b}"
        );
        assert!(is_invalid(SquaredExponential::ard(vec![1.0], b)), "{b}");
        assert!(is_invalid(Matern12::new(b, 1.0)) && is_invalid(Matern12::new(1.0, b)));
        assert!(is_invalid(Matern32::new(b, 1.0)) && is_invalid(Matern32::new(1.0, b)));
        assert!(is_invalid(Matern52::new(b, 1.0)) && is_invalid(Matern52::new(1.0, b)));
        assert!(is_invalid(Matern12::ard(vec![b], 1.0)));
        assert!(is_invalid(Matern32::ard(vec![b, 1.0], 1.0)));
        assert!(is_invalid(Matern52::ard(vec![1.0, 1.0, b], 1.0)));
        assert!(is_invalid(RationalQuadratic::new(b, 1.0, 1.0)));
        assert!(is_invalid(RationalQuadratic::new(1.0, b, 1.0)));
        assert!(is_invalid(RationalQuadratic::new(1.0, 1.0, b)));
        assert!(is_invalid(RationalQuadratic::ard(vec![1.0], b, 1.0)));
        assert!(is_invalid(Periodic::new(b, 1.0, 1.0)));
        assert!(is_invalid(Periodic::new(1.0, b, 1.0)));
        assert!(is_invalid(Periodic::new(1.0, 1.0, b)));
        assert!(is_invalid(Periodic::ard(vec![b], 1.0, 1.0)));
        assert!(is_invalid(Linear::new(b)));
        assert!(is_invalid(Linear::with_bias(b, 1.0)) && is_invalid(Linear::with_bias(1.0, b)));
    }
    let empty = Vec::<f64>::new();
    assert!(matches!(
        SquaredExponential::ard(empty.clone(), 1.0),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        Matern12::ard(empty.clone(), 1.0),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        RationalQuadratic::ard(empty.clone(), 1.0, 1.0),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        Periodic::ard(empty, 1.0, 1.0),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(Sum::new(vec![]), Err(Error::Empty { .. })));
    assert!(matches!(Product::new(vec![]), Err(Error::Empty { .. })));
    let a: Box<dyn Kernel> = SquaredExponential::ard(vec![1.0, 1.0], 1.0).unwrap().into();
    let b: Box<dyn Kernel> = Matern32::ard(vec![1.0, 1.0, 1.0], 1.0).unwrap().into();
    assert!(matches!(
        Sum::new(vec![a.clone(), b.clone()]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Product::new(vec![a.clone(), b.clone()]),
        Err(Error::ShapeMismatch { .. })
    ));
    // Built with an operator, the conflict is reported at evaluation.
    let s = a + b;
    for d in [2, 3] {
        let x = Array2::<f64>::zeros((2, d));
        assert!(matches!(
            s.matrix(x.view(), x.view()),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}

#[test]
fn methods_reject_non_finite_inputs() {
    let mut x = array![[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]];
    let y = array![[0.0, 1.0]];
    x[[1, 1]] = f64::NAN;
    for (name, k) in all_kernels(2) {
        let nonfinite = |r: pn_core::Result<()>, what: &str, idx: &[usize]| match r {
            Err(Error::NonFinite { what: w, index, .. }) => {
                assert_eq!(w, what, "{name}");
                assert_eq!(index, idx, "{name}");
            }
            other => panic!("{name}: expected NonFinite, got {other:?}"),
        };
        nonfinite(k.matrix(x.view(), y.view()).map(drop), "x", &[1, 1]);
        nonfinite(k.matrix(y.view(), x.view()).map(drop), "y", &[1, 1]);
        nonfinite(k.diag(x.view()).map(drop), "x", &[1, 1]);
        nonfinite(k.matrix_with_grad(x.view()).map(drop), "x", &[1, 1]);
        nonfinite(k.eval(x.row(1), y.row(0)).map(drop), "x", &[1]);
        let inf = array![f64::INFINITY, 0.0];
        nonfinite(k.eval(y.row(0), inf.view()).map(drop), "y", &[0]);
    }
}

#[test]
fn methods_reject_mismatched_dimensions() {
    let x2 = array![[0.0, 1.0], [2.0, 3.0]];
    let x3 = array![[0.0, 1.0, 2.0]];
    for (name, k) in all_kernels(2) {
        let mismatch = |r: pn_core::Result<()>| matches!(r, Err(Error::ShapeMismatch { .. }));
        assert!(mismatch(k.matrix(x2.view(), x3.view()).map(drop)), "{name}");
        assert!(mismatch(k.eval(x2.row(0), x3.row(0)).map(drop)), "{name}");
        if k.input_dim().is_some() {
            // ARD lengthscales fix the dimension.
            assert_eq!(k.input_dim(), Some(2), "{name}");
            assert!(mismatch(k.matrix(x3.view(), x3.view()).map(drop)), "{name}");
            assert!(mismatch(k.diag(x3.view()).map(drop)), "{name}");
            assert!(mismatch(k.matrix_with_grad(x3.view()).map(drop)), "{name}");
            assert!(mismatch(k.eval(x3.row(0), x3.row(0)).map(drop)), "{name}");
        } else {
            assert!(k.matrix(x3.view(), x3.view()).is_ok(), "{name}");
        }
    }
}

#[test]
fn set_log_params_rejects_bad_vectors_and_changes_nothing() {
    for (name, mut k) in all_kernels(2) {
        let p = k.log_params();
        let n = p.len();
        let before = k.matrix(
            array![[0.1, 0.2], [0.5, -0.3]].view(),
            array![[1.0, 0.0]].view(),
        );
        let before = before.unwrap();
        let short = Array1::zeros(n - 1);
        let long = Array1::zeros(n + 1);
        assert!(
            matches!(
                k.set_log_params(short.view()),
                Err(Error::ShapeMismatch { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                k.set_log_params(long.view()),
                Err(Error::ShapeMismatch { .. })
            ),
            "{name}"
        );
        let mut nan = p.clone();
        nan[n - 1] = f64::NAN;
        assert!(
            matches!(k.set_log_params(nan.view()), Err(Error::NonFinite { .. })),
            "{name}"
        );
        let mut huge = p.clone();
        huge[n - 1] = 1e3;
        assert!(
            matches!(
                k.set_log_params(huge.view()),
                Err(Error::InvalidParameter { .. })
            ),
            "{name}"
        );
        huge[n - 1] = -1e3;
        assert!(
            matches!(
                k.set_log_params(huge.view()),
                Err(Error::InvalidParameter { .. })
            ),
            "{name}"
        );
        assert_eq!(
            k.log_params(),
            p,
            "{name}: parameters changed by a rejected update"
        );
        let after = k.matrix(
            array![[0.1, 0.2], [0.5, -0.3]].view(),
            array![[1.0, 0.0]].view(),
        );
        assert_eq!(after.unwrap(), before, "{name}");
    }
}

#[test]
fn empty_inputs_give_empty_outputs() {
    let empty = Array2::<f64>::zeros((0, 2));
    let some = array![[0.0, 1.0], [1.0, 2.0]];
    for (name, k) in all_kernels(2) {
        assert_eq!(
            k.matrix(empty.view(), empty.view()).unwrap().dim(),
            (0, 0),
            "{name}"
        );
        assert_eq!(
            k.matrix(empty.view(), some.view()).unwrap().dim(),
            (0, 2),
            "{name}"
        );
        assert_eq!(
            k.matrix(some.view(), empty.view()).unwrap().dim(),
            (2, 0),
            "{name}"
        );
        assert_eq!(k.diag(empty.view()).unwrap().len(), 0, "{name}");
        let (m, g) = k.matrix_with_grad(empty.view()).unwrap();
        assert_eq!(m.dim(), (0, 0));
        assert_eq!(g.len(), k.n_params());
        assert!(g.iter().all(|g| g.dim() == (0, 0)));
        let op = KernelMatrix::symmetric(k.as_ref(), empty.view()).unwrap();
        assert_eq!(op.matvec(Array1::zeros(0).view()).len(), 0);
        assert_eq!(op.diagonal().len(), 0);
        let op = KernelMatrix::new(k.as_ref(), some.view(), empty.view()).unwrap();
        assert_eq!(op.matvec(Array1::zeros(0).view()), Array1::<f64>::zeros(2));
        assert_eq!(op.rmatvec(array![1.0, 2.0].view()).len(), 0);
    }
    // Zero-dimensional points: every stationary kernel is its output scale.
    let z = Array2::<f64>::zeros((3, 0));
    let k = Matern32::new(1.0, 2.5).unwrap();
    assert!(
        k.matrix(z.view(), z.view())
            .unwrap()
            .iter()
            .all(|&v| v == 2.5)
    );
}

#[test]
fn operators_build_flat_sums_and_products() {
    let a = SquaredExponential::new(1.0, 1.0).unwrap();
    let b = Matern12::new(1.0, 1.0).unwrap();
    let c = Linear::new(1.0).unwrap();
    assert_eq!((a.clone() + b.clone() + c.clone()).kernels().len(), 3);
    assert_eq!((a.clone() * b.clone() * c.clone()).kernels().len(), 3);
    let mixed = a.clone() * b.clone() + c.clone();
    assert_eq!(mixed.kernels().len(), 2);
    assert_eq!(mixed.n_params(), 2 + 2 + 1);
    // Boxed kernels combine too, and a boxed kernel is a kernel.
    let boxed: Box<dyn Kernel> = a.into();
    let s = boxed.clone() + boxed.clone() * c;
    assert_eq!(s.n_params(), 2 + 2 + 1);
    let x = array![[0.2], [0.9]];
    let m = s.matrix(x.view(), x.view()).unwrap();
    let e = boxed.matrix(x.view(), x.view()).unwrap();
    assert!(close(m[[0, 0]], e[[0, 0]] + e[[0, 0]] * 0.04, 1e-14, 0.0));
}

#[test]
fn box_clone_is_independent() {
    let k: Box<dyn Kernel> = (Matern32::new(1.0, 1.0).unwrap() + Linear::new(1.0).unwrap()).into();
    let mut c = k.clone();
    c.set_log_params(array![0.5, 0.5, 0.5].view()).unwrap();
    assert_eq!(k.log_params(), array![0.0, 0.0, 0.0]);
    assert_eq!(c.log_params(), array![0.5, 0.5, 0.5]);
    // Debug output names the kernels.
    assert!(format!("{k:?}").contains("Matern32"));
}

#[test]
fn strided_and_transposed_views_are_accepted() {
    let mut r = rng(7);
    let base = points(&mut r, 40, 6);
    // Every other row, columns 1 and 4: a non-contiguous view; and a transposed one.
    let x = base.slice(s![..;2, 1..5;3]);
    let xc = x.to_owned();
    let t = base.t().to_owned();
    let tv = t.t();
    for (name, k) in all_kernels(2) {
        let a = k.matrix(x, x).unwrap();
        let b = k.matrix(xc.view(), xc.view()).unwrap();
        assert_all_close(&a, &b, 0.0, 0.0, &format!("{name}: strided"));
        let (ga, _) = k.matrix_with_grad(x).unwrap();
        assert_all_close(&ga, &b, 1e-13, 1e-15, &format!("{name}: strided grad"));
    }
    let k = SquaredExponential::new(1.3, 1.0).unwrap();
    let a = k.matrix(tv, tv).unwrap();
    let b = k.matrix(base.view(), base.view()).unwrap();
    assert_all_close(&a, &b, 0.0, 0.0, "transposed");
}

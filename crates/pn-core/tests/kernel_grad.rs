//! `Kernel::matrix_with_grad` and `matrix_with_grad_into` of random sum/product trees of every
//! kernel: the matrix against `Kernel::matrix` (a separate assembly path) and elementwise
//! `eval`, the gradients against central finite differences, exact symmetry, reuse of dirty
//! buffers, kernels that only implement whole matrices, and input validation.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ShapeBuilder};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use pn_core::kernels::{
    Kernel, Linear, Matern12, Matern32, Matern52, Periodic, Product, RationalQuadratic,
    SquaredExponential, Sum,
};
use pn_core::{Error, Result};

/// `|a − b| ≤ rel · |b| + abs` entrywise, naming the first offending entry.
fn assert_all_close(a: &Array2<f64>, b: &Array2<f64>, rel: f64, abs: f64, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}: shapes differ");
    for ((idx, &u), &v) in a.indexed_iter().zip(b.iter()) {
        assert!(
            (u - v).abs() <= rel * v.abs() + abs,
            "{what}: entry {idx:?} is {u:e}, expected {v:e}"
        );
    }
}

fn max_abs(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// A constant kernel `k(x, y) = c` (log-parameter `log c`) that implements only the required
/// methods, so that sums and products fall back to the default `Kernel::grad_rows`.
#[derive(Debug, Clone)]
struct Constant(f64);

impl Kernel for Constant {
    fn input_dim(&self) -> Option<usize> {
        None
    }
    fn n_params(&self) -> usize {
        1
    }
    fn log_params(&self) -> Array1<f64> {
        Array1::from(vec![self.0.ln()])
    }
    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
        self.0 = p[0].exp();
        Ok(())
    }
    fn param_names(&self) -> Vec<String> {
        vec!["constant".into()]
    }
    fn box_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }
    fn eval_unchecked(&self, _x: ArrayView1<'_, f64>, _y: ArrayView1<'_, f64>) -> f64 {
        self.0
    }
    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        let k = Array2::from_elem((x.nrows(), x.nrows()), self.0);
        (k.clone(), vec![k])
    }
}

/// A random leaf kernel for inputs of dimension `d`, hyperparameters log-uniform around 1.
fn random_leaf(r: &mut Pcg64, d: usize) -> Box<dyn Kernel> {
    let mut v = |lo: f64, hi: f64| r.random_range(lo..hi);
    let ls: Vec<f64> = (0..d).map(|_| v(0.4, 2.5)).collect();
    let (l, s) = (v(0.4, 2.5), v(0.3, 2.0));
    match (v(0.0, 12.0)) as usize {
        0 => SquaredExponential::new(l, s).unwrap().into(),
        1 => SquaredExponential::ard(ls, s).unwrap().into(),
        2 => Matern12::ard(ls, s).unwrap().into(),
        3 => Matern32::new(l, s).unwrap().into(),
        4 => Matern52::ard(ls, s).unwrap().into(),
        5 => RationalQuadratic::new(l, v(0.2, 5.0), s).unwrap().into(),
        6 => RationalQuadratic::ard(ls, v(0.2, 5.0), s).unwrap().into(),
        7 => Periodic::new(l, v(0.5, 3.0), s).unwrap().into(),
        8 => Periodic::ard(ls, v(0.5, 3.0), s).unwrap().into(),
        9 => Linear::with_bias(s, v(0.1, 1.0)).unwrap().into(),
        10 => Linear::new(s).unwrap().into(),
        _ => Box::new(Constant(s)),
    }
}

/// A random sum/product tree of depth at most `depth` with 1–3 children per node.
fn random_kernel(r: &mut Pcg64, d: usize, depth: usize) -> Box<dyn Kernel> {
    if depth == 0 || r.random_range(0.0..1.0) < 0.3 {
        return random_leaf(r, d);
    }
    let parts = (0..r.random_range(1..=3))
        .map(|_| random_kernel(r, d, depth - 1))
        .collect();
    if r.random_range(0.0..1.0) < 0.5 {
        Box::new(Sum::new(parts).unwrap())
    } else {
        Box::new(Product::new(parts).unwrap())
    }
}

/// Every check of this file on one kernel and one point set.
fn check_kernel(k: &dyn Kernel, x: ArrayView2<'_, f64>, what: &str) {
    const H: f64 = 1e-5;
    let n = x.nrows();
    let (kx, grads) = k.matrix_with_grad(x).unwrap();
    assert_eq!(grads.len(), k.n_params(), "{what}");
    // K against the blockwise `matrix` path and against `eval` of single pairs.
    let reference = k.matrix(x, x).unwrap();
    let scale = max_abs(&reference);
    assert_all_close(&kx, &reference, 1e-12, 1e-15 * scale, &format!("{what}: K"));
    for (i, j) in [(0, n - 1), (n / 2, n / 3), (n - 1, 0)] {
        let e = k.eval(x.row(i), x.row(j)).unwrap();
        assert!(
            (kx[[i, j]] - e).abs() <= 1e-12 * e.abs() + 1e-15 * scale,
            "{what}"
        );
    }
    // Exactly symmetric matrices.
    for (p, m) in std::iter::once(&kx).chain(&grads).enumerate() {
        assert_eq!(m, &m.t(), "{what}: matrix {p} is not symmetric");
    }
    // Gradients against central differences of `matrix` in each log-parameter.
    let p0 = k.log_params();
    for (p, g) in grads.iter().enumerate() {
        let (mut plus, mut minus) = (k.box_clone(), k.box_clone());
        let mut q = p0.clone();
        q[p] += H;
        plus.set_log_params(q.view()).unwrap();
        q[p] -= 2.0 * H;
        minus.set_log_params(q.view()).unwrap();
        let fd = (plus.matrix(x, x).unwrap() - minus.matrix(x, x).unwrap()) / (2.0 * H);
        // Rounding in the differences is about ε·max|K|/H ≈ 2·10⁻¹¹ max|K|.
        let abs = 1e-9 * scale + 1e-8 * max_abs(&fd);
        assert_all_close(g, &fd, 1e-6, abs, &format!("{what}: gradient {p}"));
    }
    // Into dirty buffers (one of them column-major): the same numbers.
    let mut k2 = Array2::from_elem((n, n), f64::NAN);
    let mut g2: Vec<Array2<f64>> = (0..grads.len())
        .map(|p| {
            if p == 0 {
                Array2::from_elem((n, n).f(), 7.0)
            } else {
                Array2::from_elem((n, n), -3.0)
            }
        })
        .collect();
    k.matrix_with_grad_into(x, &mut k2, &mut g2).unwrap();
    assert_eq!(k2, kx, "{what}: into");
    assert_eq!(g2, grads, "{what}: into");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x6a4d_0001),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random trees of depth ≤ 3 over every kernel, 2–24 points in 1–3 dimensions.
    #[test]
    fn random_composite_kernels(seed in any::<u64>(), n in 2usize..25, d in 1usize..=3) {
        let mut r = Pcg64::seed_from_u64(seed);
        let k = random_kernel(&mut r, d, 3);
        let x = Array2::from_shape_fn((n, d), |_| r.random_range(-2.0..2.0));
        check_kernel(k.as_ref(), x.view(), &format!("{k:?}"));
    }
}

/// The CO₂ kernel of Rasmussen & Williams §5.4.3 on 150 monthly times: many parallel blocks of
/// rows and several tiles of the mirrored triangle.
#[test]
fn co2_kernel_on_many_rows() {
    let k = SquaredExponential::new(50.0, 1.0).unwrap()
        + SquaredExponential::new(100.0, 0.1).unwrap() * Periodic::new(1.0, 1.0, 1.0).unwrap()
        + RationalQuadratic::new(1.0, 1.0, 0.01).unwrap()
        + SquaredExponential::new(0.1, 0.001).unwrap();
    let t = Array2::from_shape_fn((150, 1), |(i, _)| 1959.0 + (i as f64 + 0.5) / 12.0);
    check_kernel(&k, t.view(), "co2");
}

/// Closed form of one product at two points: `k = s₁ e^{−r²/2} · s₂ (1 + r²/(2α))^{−α}`.
#[test]
fn product_gradient_closed_form() {
    let (l1, s1, l2, a, s2) = (0.7, 1.3, 1.1, 0.8, 0.6);
    let k = SquaredExponential::new(l1, s1).unwrap() * RationalQuadratic::new(l2, a, s2).unwrap();
    let x = ndarray::array![[0.0], [0.9]];
    let (_, g) = k.matrix_with_grad(x.view()).unwrap();
    let d2 = 0.81;
    let se = s1 * (-0.5 * d2 / (l1 * l1)).exp();
    let z = d2 / (2.0 * a * l2 * l2);
    let rq = s2 * (1.0 + z).powf(-a);
    // ∂/∂log ℓ₁ of the SE: se · r₁²; ∂/∂log ℓ₂ of the RQ: rq · 2αz/(1 + z); ∂/∂log α of the RQ:
    // rq · α (z/(1 + z) − ln(1 + z)).
    let expected = [
        se * d2 / (l1 * l1) * rq,
        se * rq,
        se * rq * 2.0 * a * z / (1.0 + z),
        se * rq * a * (z / (1.0 + z) - z.ln_1p()),
        se * rq,
    ];
    for (p, e) in expected.iter().enumerate() {
        assert!((g[p][[0, 1]] - e).abs() <= 1e-13 * e.abs(), "param {p}");
        assert_eq!(g[p][[0, 1]], g[p][[1, 0]]);
    }
}

#[test]
fn into_rejects_bad_buffers_and_input() {
    let k = SquaredExponential::new(1.0, 1.0).unwrap() * Periodic::new(1.0, 2.0, 1.0).unwrap();
    let x = Array2::from_shape_fn((5, 1), |(i, _)| i as f64);
    let ok = || (Array2::zeros((5, 5)), vec![Array2::zeros((5, 5)); 5]);
    let mismatch = |r: Result<()>| matches!(r, Err(Error::ShapeMismatch { .. }));

    let (mut kk, mut gg) = ok();
    assert!(k.matrix_with_grad_into(x.view(), &mut kk, &mut gg).is_ok());
    let (mut kk, mut gg) = ok();
    gg.pop();
    assert!(mismatch(k.matrix_with_grad_into(
        x.view(),
        &mut kk,
        &mut gg
    )));
    let (_, mut gg) = ok();
    let mut kk = Array2::zeros((5, 4));
    assert!(mismatch(k.matrix_with_grad_into(
        x.view(),
        &mut kk,
        &mut gg
    )));
    let (mut kk, mut gg) = ok();
    gg[3] = Array2::zeros((4, 5));
    assert!(mismatch(k.matrix_with_grad_into(
        x.view(),
        &mut kk,
        &mut gg
    )));
    let (mut kk, mut gg) = ok();
    let mut bad = x.clone();
    bad[[2, 0]] = f64::NAN;
    assert!(matches!(
        k.matrix_with_grad_into(bad.view(), &mut kk, &mut gg),
        Err(Error::NonFinite { .. })
    ));
    // An ARD kernel of dimension 2 rejects points of dimension 1.
    let ard = SquaredExponential::ard(vec![1.0, 2.0], 1.0).unwrap();
    let (mut kk, mut gg) = (Array2::zeros((5, 5)), vec![Array2::zeros((5, 5)); 3]);
    assert!(mismatch(ard.matrix_with_grad_into(
        x.view(),
        &mut kk,
        &mut gg
    )));
    // No points: empty matrices, no error.
    let empty = Array2::<f64>::zeros((0, 1));
    let (mut kk, mut gg) = (Array2::zeros((0, 0)), vec![Array2::zeros((0, 0)); 5]);
    assert!(
        k.matrix_with_grad_into(empty.view(), &mut kk, &mut gg)
            .is_ok()
    );
}

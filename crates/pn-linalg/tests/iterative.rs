//! CG, PCG, Lanczos, pivoted Cholesky, SLQ and Hutchinson against dense computations.

use ndarray::{Array1, Array2, Axis, array};
use pn_core::LinearOperator;
use pn_core::kernels::{Kernel, KernelMatrix, SquaredExponential};
use pn_core::testing::assert_allclose;
use pn_linalg::Error;
use pn_linalg::iterative::{
    CgParams, Control, PivotedCholesky, Preconditioner, Probes, SlqParams, cg, cg_batch,
    hutchinson_trace, lanczos, lml_slq_kernel, slq_logdet,
};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn random_spd(n: usize, cond: f64, seed: u64) -> Array2<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let g = Array2::from_shape_fn((n, n), |_| rng.sample::<f64, _>(StandardNormal));
    let (q, _) = pn_core::dense::qr(g.view()).unwrap();
    let ev = Array1::from_shape_fn(n, |i| cond.powf(i as f64 / (n - 1) as f64));
    let a = (&q * &ev).dot(&q.t());
    (&a + &a.t()) / 2.0
}

fn dense_solve(a: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    pn_core::dense::cholesky(a.view())
        .unwrap()
        .solve(b.view())
        .unwrap()
}

fn points(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| rng.random::<f64>())
}

fn randn(n: usize, seed: u64) -> Array1<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    Array1::from_shape_fn(n, |_| rng.sample(StandardNormal))
}

#[test]
fn cg_matches_dense_solve_and_meets_its_stopping_rule() {
    let a = random_spd(60, 1e3, 1);
    let b = randn(60, 2);
    let exact = dense_solve(&a, &b);
    let p = CgParams::default().rtol(1e-12);
    let sol = cg(&a, b.view(), None, None, &p, |_| Control::Continue).unwrap();
    assert!(sol.info.converged);
    assert_allclose(&sol.x, &exact, 1e-9, 1e-12);
    // The stopping rule, checked independently of the solver's own residual.
    let r = &b - &a.dot(&sol.x);
    assert!(r.dot(&r).sqrt() <= 1e-12 * b.dot(&b).sqrt());
    assert!((sol.info.relative_residual - r.dot(&r).sqrt() / b.dot(&b).sqrt()).abs() < 1e-14);
    // A warm start at the solution converges with no iterations.
    let warm = cg(&a, b.view(), Some(exact.view()), None, &p, |_| {
        Control::Continue
    })
    .unwrap();
    assert_eq!(warm.info.iterations, 0);
}

#[test]
fn cg_is_invariant_to_the_scale_of_b() {
    let a = random_spd(30, 1e2, 3);
    let b = randn(30, 4);
    let p = CgParams::default().rtol(1e-10);
    let base = cg(&a, b.view(), None, None, &p, |_| Control::Continue).unwrap();
    for s in [1e-120, 1e120] {
        let sol = cg(&a, (&b * s).view(), None, None, &p, |_| Control::Continue).unwrap();
        assert!(sol.info.iterations.abs_diff(base.info.iterations) <= 1);
        assert_allclose(&(&sol.x / s), &base.x, 1e-9, 0.0);
    }
    let zero = cg(&a, Array1::zeros(30).view(), None, None, &p, |_| {
        Control::Continue
    })
    .unwrap();
    assert!(zero.info.converged && zero.x.iter().all(|&v| v == 0.0));
}

#[test]
fn cg_terminates_in_n_steps_on_a_small_spd_system() {
    // Exact arithmetic: at most n steps; with 4 distinct eigenvalues at most 4.
    let mut rng = Pcg64::seed_from_u64(5);
    let g = Array2::from_shape_fn((40, 40), |_| rng.sample::<f64, _>(StandardNormal));
    let (q, _) = pn_core::dense::qr(g.view()).unwrap();
    let ev = Array1::from_shape_fn(40, |i| [1.0, 2.0, 5.0, 10.0][i % 4]);
    let a = (&q * &ev).dot(&q.t());
    let b = randn(40, 6);
    let sol = cg(
        &a,
        b.view(),
        None,
        None,
        &CgParams::default().rtol(1e-10),
        |_| Control::Continue,
    )
    .unwrap();
    assert!(sol.info.iterations <= 5, "{}", sol.info.iterations);
}

#[test]
fn observer_sees_every_iterate_and_can_stop() {
    let a = random_spd(50, 1e4, 7);
    let b = randn(50, 8);
    let mut seen = Vec::new();
    let sol = cg(
        &a,
        b.view(),
        None,
        None,
        &CgParams::default().require_convergence(false),
        |s| {
            seen.push((s.iteration, s.relative_residual, s.x.to_owned()));
            if s.iteration == 4 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(sol.info.iterations, 5);
    assert!(!sol.info.converged);
    assert_allclose(&sol.x, &seen[4].2, 0.0, 0.0);
    // The A-norm error decreases monotonically along CG iterates.
    let exact = dense_solve(&a, &b);
    let anorm = |x: &Array1<f64>| {
        let e = x - &exact;
        e.dot(&a.dot(&e))
    };
    for w in seen.windows(2) {
        assert!(anorm(&w[1].2) < anorm(&w[0].2));
    }
    // Running out of iterations is an error when convergence is required.
    let err = cg(
        &a,
        b.view(),
        None,
        None,
        &CgParams::default().max_iter(3),
        |_| Control::Continue,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::NoConvergence { iterations: 3, relative_residual, .. } if relative_residual > 1e-6)
    );
}

#[test]
fn bad_input_gives_errors() {
    let a = array![[1.0, 0.0], [0.0, -1.0]];
    let b = array![1.0, 1.0];
    let p = CgParams::default();
    let e = cg(&a, b.view(), None, None, &p, |_| Control::Continue).unwrap_err();
    assert!(matches!(e, Error::NotPositiveDefinite { .. }), "{e:?}");
    let spd = array![[2.0, 0.0], [0.0, 1.0]];
    assert!(
        cg(&spd, array![1.0, f64::NAN].view(), None, None, &p, |_| {
            Control::Continue
        })
        .is_err()
    );
    assert!(
        cg(&spd, array![1.0].view(), None, None, &p, |_| {
            Control::Continue
        })
        .is_err()
    );
    assert!(
        cg(
            &spd,
            b.view(),
            None,
            None,
            &CgParams::default().rtol(-1.0),
            |_| Control::Continue
        )
        .is_err()
    );
    let rect = Array2::<f64>::zeros((2, 3));
    assert!(cg(&rect, b.view(), None, None, &p, |_| Control::Continue).is_err());
    assert!(lanczos(&spd, array![0.0, 0.0].view(), 2).is_err());
    assert!(
        PivotedCholesky::from_operator(&spd, 2, 0.0)
            .unwrap()
            .preconditioner(0.0)
            .is_err()
    );
}

#[test]
fn batched_cg_equals_dense_solves() {
    let a = random_spd(40, 1e3, 9);
    let mut rng = Pcg64::seed_from_u64(10);
    let mut b = Array2::from_shape_fn((40, 4), |_| rng.sample::<f64, _>(StandardNormal));
    b.column_mut(2).fill(0.0);
    b.column_mut(3).mapv_inplace(|v| v * 1e8);
    let (x, infos) = cg_batch(&a, b.view(), None, &CgParams::default().rtol(1e-11)).unwrap();
    let exact = pn_core::dense::cholesky(a.view())
        .unwrap()
        .solve_mat(b.view())
        .unwrap();
    assert_allclose(&x, &exact, 1e-8, 1e-10);
    assert!(infos.iter().all(|i| i.converged));
    assert_eq!(infos[2].iterations, 0);
}

#[test]
fn pivoted_cholesky_is_exact_at_full_rank_and_its_preconditioner_is_right() {
    let x = points(80, 2, 11);
    let k = SquaredExponential::new(0.3, 1.3).unwrap();
    let kxx = k.matrix(x.view(), x.view()).unwrap();
    // Rank 20: L Lᵀ interpolates K on the pivot rows/columns, residual trace is tr(K - LLᵀ).
    let pc = PivotedCholesky::from_kernel(&k, x.view(), 20, 0.0).unwrap();
    let llt = pc.l.dot(&pc.l.t());
    let resid = &kxx - &llt;
    assert!((pc.residual_trace - resid.diag().sum()).abs() < 1e-10);
    for &p in &pc.pivots {
        assert_allclose(&llt.row(p), &kxx.row(p), 1e-10, 1e-12);
    }
    // The same from the operator interface.
    let op = KernelMatrix::symmetric(&k, x.view()).unwrap();
    let pc2 = PivotedCholesky::from_operator(&op, 20, 0.0).unwrap();
    assert_eq!(pc.pivots, pc2.pivots);
    assert_allclose(&pc.l, &pc2.l, 1e-10, 1e-12);
    // Full rank of a well-conditioned matrix: exact.
    let a = random_spd(30, 10.0, 12);
    let full = PivotedCholesky::from_operator(&a, 30, 0.0).unwrap();
    assert_allclose(&full.l.dot(&full.l.t()), &a, 1e-10, 1e-12);
    // P = LLᵀ + σ²I: Woodbury solve and determinant lemma vs dense.
    let s2 = 0.05;
    let p = pc.preconditioner(s2).unwrap();
    let mut pd = llt.clone();
    pd.diag_mut().mapv_inplace(|v| v + s2);
    let r = randn(80, 13);
    assert_allclose(&p.solve(r.view()), &dense_solve(&pd, &r), 1e-9, 1e-12);
    let ld = pn_core::dense::logdet_spd(pd.view()).unwrap();
    assert!((p.logdet() - ld).abs() < 1e-9 * ld.abs().max(1.0));
    assert_allclose(&p.solve_mat(pd.view()), &Array2::eye(80), 1e-8, 1e-9);
}

#[test]
fn pcg_on_a_se_gp_needs_far_fewer_iterations() {
    // The smaller version of the benchmark case (examples/iter_pcg_counts.rs runs n = 3000).
    let n = 600;
    let x = points(n, 3, 14);
    let k = SquaredExponential::new(0.2, 1.0).unwrap();
    let mut a = k.matrix(x.view(), x.view()).unwrap();
    a.diag_mut().mapv_inplace(|v| v + 0.01);
    let y = randn(n, 15);
    let p = CgParams::default().rtol(1e-8);
    let plain = cg(&a, y.view(), None, None, &p, |_| Control::Continue).unwrap();
    let pc = PivotedCholesky::from_kernel(&k, x.view(), 100, 0.0).unwrap();
    let pre = pc.preconditioner(0.01).unwrap();
    let sol = cg(&a, y.view(), None, Some(&pre), &p, |_| Control::Continue).unwrap();
    let exact = dense_solve(&a, &y);
    assert_allclose(&sol.x, &exact, 1e-5, 1e-8);
    assert!(
        3 * sol.info.iterations < plain.info.iterations,
        "{} vs {}",
        sol.info.iterations,
        plain.info.iterations
    );
    // Matrix-free: the same through the on-the-fly kernel matrix.
    let op = KernelMatrix::symmetric(&k, x.view())
        .unwrap()
        .with_noise(0.01)
        .unwrap();
    let sol2 = cg(&op, y.view(), None, Some(&pre), &p, |_| Control::Continue).unwrap();
    assert_allclose(&sol2.x, &exact, 1e-5, 1e-8);
}

#[test]
fn lanczos_is_orthonormal_and_its_quadrature_exact_at_full_rank() {
    let n = 50;
    let a = random_spd(n, 1e3, 16);
    let v = randn(n, 17);
    let l = lanczos(&a, v.view(), 30).unwrap();
    assert_allclose(&l.q.t().dot(&l.q), &Array2::eye(30), 0.0, 1e-12);
    assert_allclose(&l.q.t().dot(&a).dot(&l.q), &l.tridiagonal(), 1e-10, 1e-10);
    // vᵀ log(A) v from an eigendecomposition vs k = n Gauss quadrature.
    let (ev, vecs) = pn_core::dense::eigh(a.view()).unwrap();
    let c = vecs.t().dot(&v);
    let exact: f64 = c.iter().zip(&ev).map(|(c, e)| c * c * e.ln()).sum();
    let full = lanczos(&a, v.view(), n).unwrap();
    assert!((full.quadrature(f64::ln).unwrap() - exact).abs() < 1e-9 * exact.abs());
    // An invariant subspace stops the iteration early.
    let d = Array2::from_diag(&array![1.0, 2.0, 3.0, 4.0]);
    let l = lanczos(&d, array![1.0, 1.0, 0.0, 0.0].view(), 4).unwrap();
    assert!(l.invariant && l.steps() == 2);
}

#[test]
fn slq_logdet_converges_to_the_exact_logdet() {
    let n = 300;
    let x = points(n, 2, 18);
    let k = SquaredExponential::new(0.3, 1.0).unwrap();
    let s2 = 0.05;
    // Dense products keep the debug-profile test fast; the operator is the same.
    let op = KernelMatrix::symmetric(&k, x.view())
        .unwrap()
        .with_noise(s2)
        .unwrap()
        .to_dense();
    let exact = pn_core::dense::logdet_spd(op.to_dense().view()).unwrap();
    let mut errs = Vec::new();
    for m in [8, 128] {
        let est = slq_logdet(&op, None, &SlqParams::default().probes(m).seed(19)).unwrap();
        let err = (est.value - exact).abs();
        assert!(
            err < 4.0 * est.std_error + 1e-6 * exact.abs(),
            "m={m}: {err} vs se {}",
            est.std_error
        );
        errs.push((err, est.std_error));
    }
    // The standard error shrinks like 1/√m (16x more probes: about 4x smaller).
    assert!(errs[1].1 < errs[0].1 / 2.5);
    // Preconditioned: exact log det P plus a small stochastic remainder.
    let pc = PivotedCholesky::from_kernel(&k, x.view(), 60, 0.0).unwrap();
    let p = pc.preconditioner(s2).unwrap();
    let est = slq_logdet(&op, Some(&p), &SlqParams::default().probes(8).seed(20)).unwrap();
    assert!((est.value - exact).abs() < 4.0 * est.std_error + 1e-8 * exact.abs());
    assert!(
        est.std_error < errs[0].1 / 10.0,
        "{} vs {}",
        est.std_error,
        errs[0].1
    );
    // Hutchinson: unbiased trace estimate.
    let t = hutchinson_trace(&op, 64, Probes::Gaussian, 21).unwrap();
    let tr = n as f64 * (1.0 + s2);
    assert!((t.value - tr).abs() < 4.0 * t.std_error);
}

fn exact_lml_and_grad(
    k: &dyn Kernel,
    x: &Array2<f64>,
    y: &Array1<f64>,
    s2: f64,
) -> (f64, Array1<f64>) {
    let (kxx, dk) = k.matrix_with_grad(x.view()).unwrap();
    let n = y.len();
    let mut khat = kxx;
    khat.diag_mut().mapv_inplace(|v| v + s2);
    let c = pn_core::dense::cholesky(khat.view()).unwrap();
    let alpha = c.solve(y.view()).unwrap();
    let kinv = c.solve_mat(Array2::eye(n).view()).unwrap();
    let lml = -0.5 * y.dot(&alpha)
        - 0.5 * c.logdet()
        - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let mut g: Vec<f64> = dk
        .iter()
        .map(|d| 0.5 * alpha.dot(&d.dot(&alpha)) - 0.5 * (&kinv * d).sum())
        .collect();
    g.push(0.5 * s2 * alpha.dot(&alpha) - 0.5 * s2 * kinv.diag().sum());
    (lml, Array1::from(g))
}

#[test]
fn iterative_lml_and_gradient_match_the_exact_ones() {
    let n = 250;
    let x = points(n, 2, 22);
    let k = SquaredExponential::ard(array![0.4, 0.7], 1.2).unwrap();
    let y = Array1::from_shape_fn(n, |i| (3.0 * x[[i, 0]]).sin() + x[[i, 1]]) + randn(n, 23) * 0.1;
    let s2 = 0.02;
    let (lml, grad) = exact_lml_and_grad(&k, &x, &y, s2);
    // The exact gradient formula itself against central finite differences of the exact LML.
    let theta = k.log_params();
    for j in 0..theta.len() {
        let h = 1e-5;
        let f = |d: f64| {
            let mut kk = k.clone();
            let mut t = theta.clone();
            t[j] += d;
            kk.set_log_params(t.view()).unwrap();
            exact_lml_and_grad(&kk, &x, &y, s2).0
        };
        let fd = (f(h) - f(-h)) / (2.0 * h);
        assert!(
            (fd - grad[j]).abs() < 1e-5 * grad[j].abs().max(1.0),
            "{j}: {fd} vs {}",
            grad[j]
        );
    }
    let est = lml_slq_kernel(
        &k,
        x.view(),
        y.view(),
        s2,
        &SlqParams::default().probes(32).precond_rank(40).seed(24),
    )
    .unwrap();
    assert!(
        (est.lml - lml).abs() < 4.0 * est.lml_std_error + 1e-6 * lml.abs(),
        "{} vs {lml} ± {}",
        est.lml,
        est.lml_std_error
    );
    for j in 0..grad.len() {
        let tol = 4.0 * est.gradient_std_error[j] + 1e-6 * grad[j].abs().max(1.0);
        assert!(
            (est.gradient[j] - grad[j]).abs() < tol,
            "{j}: {} vs {} (se {})",
            est.gradient[j],
            grad[j],
            est.gradient_std_error[j]
        );
    }
    // Relative accuracy that matters for optimisation.
    assert!((&est.gradient - &grad).mapv(f64::abs).sum() < 0.05 * grad.mapv(f64::abs).sum());
    let _ = est.alpha.len_of(Axis(0));
}

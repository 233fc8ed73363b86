//! BayesCG and the matrix-based solver: against CG, Gaussian conditioning, and calibration.

use ndarray::{Array1, Array2, Axis, array, s};
use pn_core::testing::assert_allclose;
use pn_linalg::Error;
use pn_linalg::iterative::{CgParams, Control, cg};
use pn_linalg::probabilistic::{
    BayesCgParams, BayesCgPrior, MatrixBasedParams, bayescg, matrix_based,
};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn problem(n: usize, kappa: f64, rng: &mut Pcg64) -> (Array2<f64>, Array1<f64>, Array1<f64>) {
    let g = Array2::from_shape_fn((n, n), |_| rng.sample::<f64, _>(StandardNormal));
    let (q, _) = pn_core::dense::qr(g.view()).unwrap();
    let ev = Array1::from_shape_fn(n, |_| kappa.powf(rng.random::<f64>()));
    let a = (&q * &ev).dot(&q.t());
    let a = (&a + &a.t()) / 2.0;
    let b = Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal));
    let x = pn_core::dense::cholesky(a.view())
        .unwrap()
        .solve(b.view())
        .unwrap();
    (a, b, x)
}

fn cg_iterate(a: &Array2<f64>, b: &Array1<f64>, m: usize) -> Array1<f64> {
    let p = CgParams::default()
        .max_iter(m)
        .require_convergence(false)
        .rtol(0.0)
        .recompute_every(0);
    cg(a, b.view(), None, None, &p, |_| Control::Continue)
        .unwrap()
        .x
}

#[test]
fn bayescg_means_are_cg_iterates_for_the_inverse_and_krylov_priors() {
    let mut rng = Pcg64::seed_from_u64(1);
    let (a, b, x) = problem(40, 1e2, &mut rng);
    let ainv = pn_core::dense::cholesky(a.view())
        .unwrap()
        .solve_mat(Array2::eye(40).view())
        .unwrap();
    for m in [3, 8] {
        let xm = cg_iterate(&a, &b, m);
        for prior in [
            BayesCgPrior::Dense(ainv.clone()),
            BayesCgPrior::Krylov { delay: 4 },
        ] {
            let sol = bayescg(
                &a,
                b.view(),
                &BayesCgParams::default().prior(prior).max_iter(m).rtol(0.0),
                |_| Control::Continue,
            )
            .unwrap();
            assert_eq!(sol.info.iterations, m);
            assert_allclose(&sol.belief.mean(), &xm, 1e-8, 1e-10);
        }
    }
    // Run to convergence: the mean is the solution.
    for prior in [BayesCgPrior::Identity, BayesCgPrior::Krylov { delay: 3 }] {
        let sol = bayescg(
            &a,
            b.view(),
            &BayesCgParams::default()
                .prior(prior)
                .rtol(1e-10)
                .max_iter(400),
            |_| Control::Continue,
        )
        .unwrap();
        assert!(sol.info.converged);
        assert_allclose(&sol.belief.mean(), &x, 1e-7, 1e-9);
    }
}

#[test]
fn bayescg_with_identity_prior_is_gaussian_conditioning_on_its_krylov_space() {
    // Σ₀ = I: BayesCG is CG on A Σ₀ A = A², so its directions span K_m(A², r₀) and the
    // posterior is the prior conditioned on Vᵀ A x = Vᵀ b for any basis V of that space.
    let mut rng = Pcg64::seed_from_u64(2);
    let (a, b, _) = problem(30, 20.0, &mut rng);
    let m = 4;
    let a2 = a.dot(&a);
    let mut k = Array2::zeros((30, m));
    let mut v = b.clone();
    for j in 0..m {
        v /= v.dot(&v).sqrt();
        k.column_mut(j).assign(&v);
        v = a2.dot(&v);
    }
    let (basis, _) = pn_core::dense::qr(k.view()).unwrap();
    let h = basis.t().dot(&a); // observation operator Vᵀ A
    let g = h.dot(&h.t());
    let gi = pn_core::dense::cholesky(g.view())
        .unwrap()
        .solve_mat(Array2::eye(m).view())
        .unwrap();
    let mean = h.t().dot(&gi.dot(&basis.t().dot(&b)));
    let cov = Array2::<f64>::eye(30) - h.t().dot(&gi).dot(&h);
    let sol = bayescg(
        &a,
        b.view(),
        &BayesCgParams::default()
            .prior(BayesCgPrior::Identity)
            .max_iter(m)
            .rtol(0.0)
            .calibrate(false),
        |_| Control::Continue,
    )
    .unwrap();
    assert_allclose(&sol.belief.mean(), &mean, 1e-7, 1e-9);
    assert_allclose(&sol.belief.cov_dense(), &cov, 1e-7, 1e-9);
    assert_eq!(sol.info.scale, 1.0);
    // Calibrated: the same covariance scaled by ν̂ > 0.
    let cal = bayescg(
        &a,
        b.view(),
        &BayesCgParams::default()
            .prior(BayesCgPrior::Identity)
            .max_iter(m)
            .rtol(0.0),
        |_| Control::Continue,
    )
    .unwrap();
    assert_allclose(
        &cal.belief.cov_dense(),
        &(&cov * cal.info.scale),
        1e-7,
        1e-9,
    );
}

#[test]
fn matrix_based_mean_is_cg_and_its_beliefs_reproduce_the_observations() {
    let mut rng = Pcg64::seed_from_u64(3);
    let (a, b, x) = problem(50, 1e2, &mut rng);
    let m = 7;
    let sol = matrix_based(
        &a,
        b.view(),
        &MatrixBasedParams::default().max_iter(m).rtol(0.0),
        |_, _, _| Control::Continue,
    )
    .unwrap();
    assert_eq!(sol.iterations, m);
    assert_allclose(&sol.belief.mean(), &cg_iterate(&a, &b, m), 1e-8, 1e-10);
    assert_allclose(
        &sol.inverse_mean_apply(b.view()).unwrap(),
        &sol.belief.mean(),
        1e-8,
        1e-10,
    );
    for j in 0..m {
        let sj = sol.s.column(j);
        assert_allclose(
            &sol.matrix_mean_apply(sj).unwrap(),
            &a.dot(&sj),
            1e-8,
            1e-10,
        );
        assert_allclose(
            &sol.inverse_mean_apply(a.dot(&sj).view()).unwrap(),
            &sj,
            1e-8,
            1e-10,
        );
    }
    let full = matrix_based(
        &a,
        b.view(),
        &MatrixBasedParams::default().rtol(1e-10).max_iter(200),
        |_, _, _| Control::Continue,
    )
    .unwrap();
    assert!(full.converged);
    assert_allclose(&full.belief.mean(), &x, 1e-7, 1e-9);
    assert!(full.belief.var().sum().sqrt() < 1e-6 * x.dot(&x).sqrt());
}

#[test]
fn reported_uncertainty_matches_the_actual_error() {
    // Random SPD problems stopped early: √tr Cov against ‖x − x*‖. (ProbNum's problinsolve
    // reports √tr Cov ≈ 2.5e-4 for an actual error of 1.2e-3 — a ratio of 0.2.)
    let (n, problems, m) = (60, 60, 15);
    for which in 0..2 {
        let mut rng = Pcg64::seed_from_u64(4);
        let mut ratios = Vec::new();
        let mut covered = 0;
        for _ in 0..problems {
            let (a, b, x) = problem(n, 1e3, &mut rng);
            let (mean, tr) = if which == 0 {
                let s = bayescg(
                    &a,
                    b.view(),
                    &BayesCgParams::default().max_iter(m).rtol(0.0),
                    |_| Control::Continue,
                )
                .unwrap();
                (s.belief.mean().to_owned(), s.belief.var().sum())
            } else {
                let s = matrix_based(
                    &a,
                    b.view(),
                    &MatrixBasedParams::default().max_iter(m).rtol(0.0),
                    |_, _, _| Control::Continue,
                )
                .unwrap();
                (s.belief.mean().to_owned(), s.belief.var().sum())
            };
            let e = (&mean - &x).mapv(|v| v * v).sum().sqrt();
            ratios.push(tr.sqrt() / e);
            covered += usize::from(e <= 2.0 * tr.sqrt());
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios[problems / 2];
        eprintln!(
            "solver {which}: median √tr Cov / ‖e‖ = {median:.2}, covered {covered}/{problems}"
        );
        assert!(
            (0.5..=2.0).contains(&median),
            "solver {which}: median ratio {median}"
        );
        assert!(
            covered as f64 >= 0.8 * problems as f64,
            "solver {which}: {covered}"
        );
    }
}

#[test]
fn bad_input_gives_errors() {
    let a = array![[2.0, 0.0], [0.0, 1.0]];
    let bp = BayesCgParams::default();
    let mp = MatrixBasedParams::default();
    assert!(bayescg(&a, array![1.0, f64::NAN].view(), &bp, |_| Control::Continue).is_err());
    assert!(bayescg(&a, array![1.0].view(), &bp, |_| Control::Continue).is_err());
    assert!(
        matrix_based(&a, array![1.0, f64::INFINITY].view(), &mp, |_, _, _| {
            Control::Continue
        })
        .is_err()
    );
    let indefinite = array![[1.0, 0.0], [0.0, -1.0]];
    let e = bayescg(&indefinite, array![0.0, 1.0].view(), &bp, |_| {
        Control::Continue
    })
    .unwrap_err();
    assert!(matches!(e, Error::NotPositiveDefinite { .. }), "{e:?}");
    let e = matrix_based(&indefinite, array![0.0, 1.0].view(), &mp, |_, _, _| {
        Control::Continue
    })
    .unwrap_err();
    assert!(matches!(e, Error::NotPositiveDefinite { .. }), "{e:?}");
    let wrong_prior = BayesCgParams::default().prior(BayesCgPrior::Dense(Array2::eye(3)));
    assert!(
        bayescg(&a, array![1.0, 1.0].view(), &wrong_prior, |_| {
            Control::Continue
        })
        .is_err()
    );
    assert!(
        bayescg(
            &a,
            array![1.0, 1.0].view(),
            &BayesCgParams::default()
                .prior(BayesCgPrior::Krylov { delay: 0 })
                .max_iter(1),
            |_| Control::Continue
        )
        .is_err()
    );
    // b = 0: the solution is 0 with no uncertainty.
    let z = bayescg(&a, array![0.0, 0.0].view(), &bp, |_| Control::Continue).unwrap();
    assert!(z.belief.mean().iter().all(|&v| v == 0.0));
    let _ = (Axis(0), s![..]);
}

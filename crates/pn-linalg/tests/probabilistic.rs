//! BayesCG and the matrix-based solver: against CG, Gaussian conditioning, and calibration.

use ndarray::{Array1, Array2, Axis, array, s};
use pn_core::testing::assert_allclose;
use pn_linalg::Error;
use pn_linalg::iterative::{CgParams, Control, cg};
use pn_linalg::probabilistic::{
    BayesCgParams, BayesCgPrior, MatrixBasedCalibration, MatrixBasedParams, bayescg, matrix_based,
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
        |_| Control::Continue,
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
        |_| Control::Continue,
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
                    |_| Control::Continue,
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
        matrix_based(&a, array![1.0, f64::INFINITY].view(), &mp, |_| {
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
    let e = matrix_based(&indefinite, array![0.0, 1.0].view(), &mp, |_| {
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

/// `W ⊛ W` as an `n² × n²` matrix (row-major `vec`: index `i n + j` for `Mᵢⱼ`).
fn sym_kron(w: &Array2<f64>) -> Array2<f64> {
    let n = w.nrows();
    Array2::from_shape_fn((n * n, n * n), |(p, q)| {
        let (i, j, k, l) = (p / n, p % n, q / n, q % n);
        0.5 * (w[[i, k]] * w[[j, l]] + w[[i, l]] * w[[j, k]])
    })
}

/// Dense Gaussian conditioning of `vec M ~ N(0, Σ)` on `M R = L` (`R`, `L`: `n × m`), with a
/// pseudo-inverse for the redundant (symmetric) observations. Returns mean and covariance.
fn condition_on_products(
    sigma: &Array2<f64>,
    r: &Array2<f64>,
    l: &Array2<f64>,
) -> (Array2<f64>, Array2<f64>) {
    let (n, m) = r.dim();
    // Observation (i, c): Σⱼ Mᵢⱼ Rⱼc = Lᵢc.
    let o = Array2::from_shape_fn((n * m, n * n), |(row, q)| {
        let (i, c) = (row / m, row % m);
        let (k, j) = (q / n, q % n);
        if k == i { r[[j, c]] } else { 0.0 }
    });
    let obs = Array1::from_shape_fn(n * m, |row| l[[row / m, row % m]]);
    let so = sigma.dot(&o.t());
    let gram = o.dot(&so);
    let (ev, v) = pn_core::dense::eigh(gram.view()).unwrap();
    let top = ev.iter().cloned().fold(0.0, f64::max);
    let inv = ev.mapv(|e| if e > 1e-10 * top { 1.0 / e } else { 0.0 });
    let pinv = (&v * &inv).dot(&v.t());
    let mean = so.dot(&pinv.dot(&obs));
    let cov = sigma - &so.dot(&pinv).dot(&so.t());
    (mean.into_shape_with_order((n, n)).unwrap(), cov)
}

#[test]
fn matrix_based_covariances_are_the_symmetric_kronecker_posterior() {
    // Brute force at n = 5: condition N(0, W₀ ⊛ W₀) on H Y = S (and A S = Y) by dense
    // Gaussian conditioning in ℝ²⁵ and compare mean, covariance, bilinear-form variances and
    // the induced belief over x = H b with the solver's low-rank factors.
    let mut rng = Pcg64::seed_from_u64(11);
    let n = 5;
    let (a, b, _) = problem(n, 30.0, &mut rng);
    let sol = matrix_based(
        &a,
        b.view(),
        &MatrixBasedParams::default()
            .max_iter(3)
            .rtol(0.0)
            .calibration(MatrixBasedCalibration::Rayleigh),
        |_| Control::Continue,
    )
    .unwrap();
    assert_eq!(sol.iterations, 3);
    assert!(
        (sol.phi - 1.0).abs() > 1e-3,
        "a non-trivial scale: {}",
        sol.phi
    );
    let (s_, y_) = (&sol.s, &sol.y);
    let sty = s_.t().dot(y_);
    let g = pn_core::dense::cholesky(sty.view())
        .unwrap()
        .solve_mat(Array2::eye(3).view())
        .unwrap();
    let p = Array2::<f64>::eye(n) - s_.dot(&g).dot(&y_.t());
    for (which, phi) in [(0, sol.phi), (1, 1.0 / sol.phi)] {
        // H: prior W₀ = S G Sᵀ + φ P Pᵀ (so W₀ Y = S), observe H Y = S.
        // A: prior W₀ = Y G Yᵀ + φ⁻¹ Pᵀ P (so W₀ S = Y), observe A S = Y.
        let (l, r, q) = if which == 0 {
            (s_, y_, p.clone())
        } else {
            (y_, s_, p.t().to_owned())
        };
        let w0 = l.dot(&g).dot(&l.t()) + q.dot(&q.t()) * phi;
        let (mean, cov) = condition_on_products(&sym_kron(&w0), r, l);
        let f = if which == 0 {
            sol.inverse_covariance_factor()
        } else {
            sol.matrix_covariance_factor()
        };
        let w = f.to_dense();
        assert_allclose(&cov, &sym_kron(&w), 1e-7, 1e-9 * phi * phi);
        assert_allclose(&f.diag(), &w.diag(), 1e-10, 1e-12 * phi);
        assert!((f.trace() - w.diag().sum()).abs() < 1e-9 * phi);
        let apply_mean = |v: Array1<f64>| {
            if which == 0 {
                sol.inverse_mean_apply(v.view()).unwrap()
            } else {
                sol.matrix_mean_apply(v.view()).unwrap()
            }
        };
        for j in 0..n {
            let mut e = Array1::zeros(n);
            e[j] = 1.0;
            assert_allclose(&apply_mean(e.clone()), &mean.column(j), 1e-8, 1e-10);
            assert_allclose(
                &f.apply(e.view()).unwrap(),
                &w.column(j),
                1e-10,
                1e-12 * phi,
            );
        }
        for _ in 0..4 {
            let u = Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal));
            let v = Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal));
            let uv = Array1::from_shape_fn(n * n, |k| u[k / n] * v[k % n]);
            let brute = uv.dot(&cov.dot(&uv));
            let got = f.bilinear_variance(u.view(), v.view()).unwrap();
            assert!(
                (got - brute).abs() <= 1e-7 * brute.abs() + 1e-12,
                "{got} vs {brute}"
            );
            assert!(
                (f.bilinear(u.view(), v.view()).unwrap() - u.dot(&w.dot(&v))).abs() < 1e-9 * phi
            );
        }
        if which == 0 {
            // x = H b: Cov(x) = (I ⊗ bᵀ) Cov(vec H) (I ⊗ b).
            let ob =
                Array2::from_shape_fn((n, n * n), |(i, q)| if q / n == i { b[q % n] } else { 0.0 });
            let cx = ob.dot(&cov).dot(&ob.t());
            assert_allclose(&sol.belief.cov_dense(), &cx, 1e-7, 1e-10 * cx.diag().sum());
            assert_allclose(&sol.belief.mean(), &mean.dot(&b), 1e-8, 1e-10);
        }
    }
    // Bad input to the factor methods.
    let f = sol.inverse_covariance_factor();
    assert!(f.apply(array![1.0].view()).is_err());
    assert!(
        f.bilinear_variance(b.view(), array![1.0, 0.0, f64::NAN, 0.0, 0.0].view())
            .is_err()
    );
}

#[test]
fn matrix_based_observer_sees_the_current_beliefs() {
    let mut rng = Pcg64::seed_from_u64(12);
    let (a, b, _) = problem(30, 1e2, &mut rng);
    let mut seen = Vec::new();
    let sol = matrix_based(
        &a,
        b.view(),
        &MatrixBasedParams::default()
            .rtol(0.0)
            .calibration(MatrixBasedCalibration::None),
        |st| {
            assert_eq!(st.actions.ncols(), st.iteration + 1);
            assert_eq!(st.observations.ncols(), st.iteration + 1);
            seen.push((
                st.mean.to_owned(),
                st.inverse_factor.trace(),
                st.matrix_factor.trace(),
            ));
            if st.iteration == 5 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    assert_eq!(sol.iterations, 6);
    assert_eq!(seen.len(), 6);
    for (k, (mean, trh, tra)) in seen.iter().enumerate() {
        let at = matrix_based(
            &a,
            b.view(),
            &MatrixBasedParams::default()
                .rtol(0.0)
                .max_iter(k + 1)
                .calibration(MatrixBasedCalibration::None),
            |_| Control::Continue,
        )
        .unwrap();
        assert_allclose(mean, &at.belief.mean(), 1e-12, 1e-14);
        assert!((trh - at.inverse_covariance_factor().trace()).abs() < 1e-9 * trh);
        assert!((tra - at.matrix_covariance_factor().trace()).abs() < 1e-9 * tra);
        // The uncertainty about H shrinks: tr W = n − k − 1 ... at least not growing much.
        assert!(*trh > 0.0);
    }
}

#[test]
fn krylov_delay_zero_is_rejected_before_iterating() {
    // An indefinite matrix would fail in the first iteration: the parameter error must come
    // first, and the observer must never run.
    let indefinite = array![[1.0, 0.0], [0.0, -1.0]];
    let mut calls = 0;
    let e = bayescg(
        &indefinite,
        array![0.0, 1.0].view(),
        &BayesCgParams::default().prior(BayesCgPrior::Krylov { delay: 0 }),
        |_| {
            calls += 1;
            Control::Continue
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Core(pn_core::Error::InvalidParameter { name: "delay", .. })
        ),
        "{e:?}"
    );
    assert_eq!(calls, 0);
    let e = matrix_based(
        &array![[2.0, 0.0], [0.0, 1.0]],
        array![1.0, 1.0].view(),
        &MatrixBasedParams::default().calibration(MatrixBasedCalibration::Quadrature { steps: 0 }),
        |_| Control::Continue,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Core(pn_core::Error::InvalidParameter { .. })),
        "{e:?}"
    );
}

#[test]
fn matrix_based_covariance_has_the_shape_of_the_error() {
    // Per-coordinate calibration separated from the scale: with φ set per problem so that
    // tr Cov = ‖e‖² (an oracle), the mean of z² = (xᵢ − μᵢ)²/Σᵢᵢ over all coordinates of
    // all problems must be ≈ 1 if the covariance's shape matches the error's. (The shipped
    // scale estimates are not this good; docs/linsolve.md reports both.)
    let (n, problems, m) = (60, 60, 15);
    let mut rng = Pcg64::seed_from_u64(13);
    let (mut z2, mut count) = (0.0, 0);
    for _ in 0..problems {
        let (a, b, x) = problem(n, 1e3, &mut rng);
        let s = matrix_based(
            &a,
            b.view(),
            &MatrixBasedParams::default()
                .max_iter(m)
                .rtol(0.0)
                .calibration(MatrixBasedCalibration::None),
            |_| Control::Continue,
        )
        .unwrap();
        let e = &s.belief.mean() - &x;
        let var = s.belief.var();
        let scale = e.dot(&e) / var.sum();
        z2 += e
            .iter()
            .zip(&var)
            .map(|(ei, vi)| ei * ei / (scale * vi))
            .sum::<f64>();
        count += n;
    }
    let mean = z2 / count as f64;
    eprintln!("matrix-based, oracle scale: mean z² = {mean:.3}");
    assert!((0.8..=1.25).contains(&mean), "{mean}");
}

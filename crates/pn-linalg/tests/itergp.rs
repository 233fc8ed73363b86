//! IterGP against the exact GP posterior, CG, and calibration over draws from the prior.

use ndarray::{Array1, Array2, Axis, concatenate, s};
use pn_core::kernels::{Kernel, Matern52, SquaredExponential};
use pn_core::testing::assert_allclose;
use pn_linalg::iterative::{CgParams, Control, PivotedCholesky, Preconditioner, cg};
use pn_linalg::itergp::{IterGp, IterGpParams, Policy};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn points(n: usize, d: usize, rng: &mut Pcg64) -> Array2<f64> {
    Array2::from_shape_fn((n, d), |_| rng.random::<f64>())
}

/// Exact posterior mean and variance of the latent f by dense Cholesky.
fn exact(
    k: &dyn Kernel,
    x: &Array2<f64>,
    y: &Array1<f64>,
    s2: f64,
    xs: &Array2<f64>,
) -> (Array1<f64>, Array1<f64>) {
    let mut khat = k.matrix(x.view(), x.view()).unwrap();
    khat.diag_mut().mapv_inplace(|v| v + s2);
    let c = pn_core::dense::cholesky(khat.view()).unwrap();
    let kxs = k.matrix(x.view(), xs.view()).unwrap();
    let mean = kxs.t().dot(&c.solve(y.view()).unwrap());
    let w = c.solve_l(kxs.view()).unwrap();
    let var = k.diag(xs.view()).unwrap() - w.map_axis(Axis(0), |c| c.dot(&c));
    (mean, var)
}

fn problem(n: usize, seed: u64) -> (Matern52, Array2<f64>, Array1<f64>, Array2<f64>) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let x = points(n, 2, &mut rng);
    let xs = points(30, 2, &mut rng);
    let y = x.map_axis(Axis(1), |r| (4.0 * r[0]).sin() + r[1] * r[1])
        + Array1::from_shape_fn(n, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    (Matern52::new(0.3, 1.0).unwrap(), x, y, xs)
}

#[test]
fn n_unit_vector_steps_give_the_exact_gp() {
    let n = 80;
    let (k, x, y, xs) = problem(n, 1);
    let s2 = 0.01;
    let (m, v) = exact(&k, &x, &y, s2, &xs);
    let gp = IterGp::new(&k, x.view(), s2).unwrap();
    for policy in [Policy::UnitVectors, Policy::PivotedCholesky] {
        let post = gp
            .fit(
                y.view(),
                &IterGpParams::default().policy(policy).rtol(0.0),
                |_| Control::Continue,
            )
            .unwrap();
        assert_eq!(post.info().iterations, n);
        let (pm, pv) = post.predict(xs.view()).unwrap();
        assert_allclose(&pm, &m, 1e-8, 1e-8);
        assert_allclose(&pv, &v, 1e-8, 1e-8);
    }
}

/// In exact arithmetic the iterates agree at every step; in floating point CG loses
/// orthogonality (IterGP reorthogonalises), so the comparison uses a moderately conditioned
/// system and the first 10 steps.
#[test]
fn cg_policy_reproduces_cg_iterates() {
    let n = 120;
    let (k, x, y, _) = problem(n, 2);
    let s2 = 0.5;
    let mut khat = k.matrix(x.view(), x.view()).unwrap();
    khat.diag_mut().mapv_inplace(|v| v + s2);
    let gp = IterGp::new(&k, x.view(), s2).unwrap();
    for rank in [0, 10] {
        let pre = PivotedCholesky::from_kernel(&k, x.view(), 10, 0.0)
            .unwrap()
            .preconditioner(s2)
            .unwrap();
        let pc: Option<&dyn Preconditioner> = if rank > 0 { Some(&pre) } else { None };
        let mut cg_iterates = Vec::new();
        cg(
            &khat,
            y.view(),
            None,
            pc,
            &CgParams::default()
                .max_iter(10)
                .require_convergence(false)
                .recompute_every(0),
            |st| {
                cg_iterates.push(st.x.to_owned());
                Control::Continue
            },
        )
        .unwrap();
        let mut gp_iterates = Vec::new();
        gp.fit(
            y.view(),
            &IterGpParams::default()
                .policy(Policy::Cg {
                    preconditioner_rank: rank,
                })
                .max_iter(10)
                .rtol(0.0),
            |st| {
                gp_iterates.push(st.representer_weights.to_owned());
                Control::Continue
            },
        )
        .unwrap();
        assert_eq!(cg_iterates.len(), 10);
        assert_eq!(gp_iterates.len(), 10);
        for (i, (a, b)) in cg_iterates.iter().zip(&gp_iterates).enumerate() {
            let rel = (a - b).mapv(f64::abs).fold(0.0f64, |m, v| m.max(*v))
                / a.mapv(f64::abs).fold(0.0f64, |m, v| m.max(*v));
            assert!(
                rel < 1e-8,
                "rank {rank}, iteration {i}: relative difference {rel:e}"
            );
        }
    }
}

#[test]
fn combined_variance_is_at_least_the_exact_variance() {
    let n = 100;
    let (k, x, y, xs) = problem(n, 3);
    let s2 = 0.02;
    let (m_exact, v_exact) = exact(&k, &x, &y, s2, &xs);
    let gp = IterGp::new(&k, x.view(), s2).unwrap();
    let z = x.slice(s![..25, ..]).to_owned();
    let policies = [
        Policy::UnitVectors,
        Policy::PivotedCholesky,
        Policy::Cg {
            preconditioner_rank: 0,
        },
        Policy::Cg {
            preconditioner_rank: 5,
        },
        Policy::Random { seed: 4 },
        Policy::PivotedCholeskyThenCg { rank: 3 },
        Policy::PseudoInputs(z),
    ];
    for p in policies {
        let mut prev: Option<Array1<f64>> = None;
        for iters in [5, 20] {
            let post = gp
                .fit(
                    y.view(),
                    &IterGpParams::default()
                        .policy(p.clone())
                        .max_iter(iters)
                        .rtol(0.0),
                    |_| Control::Continue,
                )
                .unwrap();
            let (m, v) = post.predict(xs.view()).unwrap();
            assert!(m.iter().all(|v| v.is_finite()));
            for (a, b) in v.iter().zip(&v_exact) {
                assert!(*a >= *b - 1e-10, "{p:?}: {a} < {b}");
            }
            // More computation never increases the variance.
            if let Some(pv) = &prev {
                assert!(v.iter().zip(pv).all(|(a, b)| *a <= *b + 1e-10));
            }
            prev = Some(v);
            let _ = &m_exact;
        }
    }
    // The belief form agrees with predict.
    let post = gp
        .fit(y.view(), &IterGpParams::default().max_iter(10), |_| {
            Control::Continue
        })
        .unwrap();
    let b = post.predict_belief(xs.view()).unwrap();
    let (m, v) = post.predict(xs.view()).unwrap();
    assert_allclose(&b.mean(), &m, 1e-12, 1e-12);
    assert_allclose(&b.var(), &v, 1e-10, 1e-12);
}

#[test]
fn combined_variance_is_calibrated_over_draws_from_the_prior() {
    // Draw (f(X), f(X*)) from the GP prior, y = f(X) + noise, stop IterGP early with
    // data-independent policies; z² = (f* − μ)² / σ²_combined must average to 1.
    let (n, ns, draws, s2) = (60, 20, 150, 0.01);
    let k = SquaredExponential::new(0.25, 1.0).unwrap();
    let mut rng = Pcg64::seed_from_u64(5);
    let x = points(n, 2, &mut rng);
    let xs = points(ns, 2, &mut rng);
    let all = concatenate![Axis(0), x, xs];
    let mut kall = k.matrix(all.view(), all.view()).unwrap();
    kall.diag_mut().mapv_inplace(|v| v + 1e-10);
    let l = pn_core::dense::cholesky(kall.view()).unwrap();
    let gp = IterGp::new(&k, x.view(), s2).unwrap();
    let z = points(12, 2, &mut rng);
    for policy in [
        Policy::Random { seed: 6 },
        Policy::UnitVectors,
        Policy::PseudoInputs(z),
    ] {
        let mut sum = 0.0;
        let mut count = 0;
        for _ in 0..draws {
            let e = Array1::from_shape_fn(n + ns, |_| rng.sample::<f64, _>(StandardNormal));
            let f = l.l().dot(&e);
            let y = f.slice(s![..n]).to_owned()
                + Array1::from_shape_fn(n, |_| s2.sqrt() * rng.sample::<f64, _>(StandardNormal));
            let post = gp
                .fit(
                    y.view(),
                    &IterGpParams::default()
                        .policy(policy.clone())
                        .max_iter(12)
                        .rtol(0.0),
                    |_| Control::Continue,
                )
                .unwrap();
            let (m, v) = post.predict(xs.view()).unwrap();
            for j in 0..ns {
                sum += (f[n + j] - m[j]).powi(2) / v[j];
                count += 1;
            }
        }
        let mean_z2 = sum / count as f64;
        eprintln!("{policy:?}: mean z² = {mean_z2:.3}");
        assert!(
            (0.8..=1.25).contains(&mean_z2),
            "{policy:?}: mean z² = {mean_z2}"
        );
    }
}

#[test]
fn bad_input_gives_errors() {
    let (k, x, y, _) = problem(20, 7);
    assert!(IterGp::new(&k, x.view(), -1.0).is_err());
    assert!(IterGp::new(&k, x.slice(s![..0, ..]), 0.1).is_err());
    let gp = IterGp::new(&k, x.view(), 0.1).unwrap();
    let mut bad = y.clone();
    bad[3] = f64::NAN;
    assert!(
        gp.fit(bad.view(), &IterGpParams::default(), |_| Control::Continue)
            .is_err()
    );
    assert!(
        gp.fit(y.slice(s![..5]), &IterGpParams::default(), |_| {
            Control::Continue
        })
        .is_err()
    );
    let wrong_dim = Array2::zeros((3, 5));
    assert!(
        gp.fit(
            y.view(),
            &IterGpParams::default().policy(Policy::PseudoInputs(wrong_dim)),
            |_| Control::Continue
        )
        .is_err()
    );
    let post = gp
        .fit(y.view(), &IterGpParams::default(), |_| Control::Continue)
        .unwrap();
    assert!(
        post.predict(Array2::from_elem((2, 2), f64::NAN).view())
            .is_err()
    );
    // Duplicate inputs with zero noise: the singular K̂ is handled (dependent actions skipped).
    let xd = concatenate![Axis(0), x, x];
    let yd = concatenate![Axis(0), y, y];
    let gp0 = IterGp::new(&k, xd.view(), 0.0).unwrap();
    let post = gp0
        .fit(
            yd.view(),
            &IterGpParams::default()
                .policy(Policy::UnitVectors)
                .rtol(0.0),
            |_| Control::Continue,
        )
        .unwrap();
    assert!(post.info().skipped >= 15, "{:?}", post.info());
    let (m, v) = post.predict(x.view()).unwrap();
    assert!(m.iter().chain(v.iter()).all(|v| v.is_finite()));
}

#[test]
fn deflated_cg_policy_converges_to_the_exact_gp() {
    let n = 150;
    let (k, x, y, xs) = problem(n, 8);
    let s2 = 0.01;
    let (m, v) = exact(&k, &x, &y, s2, &xs);
    let gp = IterGp::new(&k, x.view(), s2).unwrap();
    let params = IterGpParams::default()
        .policy(Policy::PivotedCholeskyThenCg { rank: 30 })
        .rtol(1e-10)
        .max_iter(n);
    let post = gp.fit(y.view(), &params, |_| Control::Continue).unwrap();
    assert!(post.info().converged);
    let (pm, pv) = post.predict(xs.view()).unwrap();
    assert_allclose(&pm, &m, 1e-6, 1e-8);
    assert!(pv.iter().zip(&v).all(|(a, b)| *a >= *b - 1e-10));
}

#[test]
fn conflicting_duplicates_at_zero_noise_get_jitter_or_an_error_never_nonsense() {
    // 30 points duplicated with y + 0.1 on the copies and zero noise: K̂ is singular and y is
    // not in its range. Every policy must either climb the jitter ladder and return the GP
    // with that jitter as noise (checked against a dense solve of that model), or fail with a
    // typed error — never silently return huge means.
    let (k, x, y, xs) = problem(30, 21);
    let xd = concatenate![Axis(0), x, x];
    let yd = concatenate![Axis(0), y, y.mapv(|v| v + 0.1)];
    let gp = IterGp::new(&k, xd.view(), 0.0).unwrap();
    let policies = [
        Policy::UnitVectors,
        Policy::PivotedCholesky,
        Policy::Cg {
            preconditioner_rank: 0,
        },
        Policy::Cg {
            preconditioner_rank: 5,
        },
        Policy::PivotedCholeskyThenCg { rank: 5 },
        Policy::Random { seed: 3 },
        Policy::PseudoInputs(concatenate![Axis(0), x, xs]),
    ];
    for policy in policies {
        let post = gp
            .fit(
                yd.view(),
                &IterGpParams::default().policy(policy.clone()).rtol(1e-8),
                |_| Control::Continue,
            )
            .unwrap_or_else(|e| panic!("{policy:?}: {e}"));
        let info = post.info().clone();
        // Kernel columns at pseudo-inputs are the same for both copies of a duplicate: they
        // only see the average of the conflicting targets, consistent data, no jitter needed.
        let pseudo = matches!(policy, Policy::PseudoInputs(_));
        assert!(pseudo || info.jitter > 0.0, "{policy:?}: {info:?}");
        assert_eq!(post.jitter(), info.jitter);
        let (m, v) = post.predict(xs.view()).unwrap();
        let (me, ve) = exact(&k, &xd, &yd, info.jitter.max(1e-10), &xs);
        // The jittered model: the midpoint of the conflicting targets at the inputs.
        let dev = m
            .iter()
            .zip(&me)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let (mt, _) = post.predict(x.view()).unwrap();
        let mid = y.mapv(|v| v + 0.05);
        let dev_mid = mt
            .iter()
            .zip(&mid)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!("{info:?}: max |m − exact| = {dev:.1e}, |m − midpoint| = {dev_mid:.1e}");
        assert!(
            dev <= 1e-4 && dev_mid <= 1e-4,
            "{policy:?}: {info:?}\n{m}\n{me}"
        );
        assert!(v.iter().zip(&ve).all(|(a, b)| *a >= b - 1e-8), "{policy:?}");
        assert!(m.iter().chain(v.iter()).all(|v| v.is_finite()));
    }
    // Without a ladder the breakdown is a typed error naming the iteration.
    for policy in [
        Policy::UnitVectors,
        Policy::Cg {
            preconditioner_rank: 5,
        },
        Policy::Random { seed: 3 },
    ] {
        let e = gp
            .fit(
                yd.view(),
                &IterGpParams::default().policy(policy.clone()).no_jitter(),
                |_| Control::Continue,
            )
            .unwrap_err();
        assert!(
            matches!(e, pn_linalg::Error::NotPositiveDefinite { .. }),
            "{policy:?}: {e:?}"
        );
    }
    // Bad rungs.
    assert!(
        gp.fit(
            yd.view(),
            &IterGpParams::default().jitter_ladder(vec![1e-6, 1e-8]),
            |_| Control::Continue
        )
        .is_err()
    );
    // Consistent duplicates need no jitter (dependent actions are skipped).
    let yc = concatenate![Axis(0), y, y];
    for policy in [Policy::UnitVectors, Policy::Random { seed: 3 }] {
        let post = gp
            .fit(
                yc.view(),
                &IterGpParams::default().policy(policy).rtol(0.0),
                |_| Control::Continue,
            )
            .unwrap();
        assert_eq!(post.info().jitter, 0.0);
    }
}

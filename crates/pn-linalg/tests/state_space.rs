//! State-space GP regression against the dense GP computed with pn-core's kernels and
//! Gaussian conditioning.

use ndarray::{Array1, Array2, Axis, concatenate};
use pn_core::kernels::{Kernel, Matern12, Matern32, Matern52};
use pn_core::{Covariance, Gaussian, LinearMap};
use pn_linalg::state_space::{MaternComponent, Nu, StateSpaceGp};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn kernel_of(c: &MaternComponent) -> Box<dyn Kernel> {
    match c.nu {
        Nu::Half => Box::new(Matern12::new(c.lengthscale, c.variance).unwrap()),
        Nu::ThreeHalves => Box::new(Matern32::new(c.lengthscale, c.variance).unwrap()),
        _ => Box::new(Matern52::new(c.lengthscale, c.variance).unwrap()),
    }
}

/// Dense reference: joint prior over [train; test], conditioned on noisy train values.
fn dense(
    comps: &[MaternComponent],
    noise: f64,
    x: &Array1<f64>,
    y: &Array1<f64>,
    xs: &Array1<f64>,
) -> (Array1<f64>, Array1<f64>, f64) {
    let all = concatenate(Axis(0), &[x.view(), xs.view()]).unwrap();
    let pts = all.view().insert_axis(Axis(1));
    let n = all.len();
    let mut k = Array2::<f64>::zeros((n, n));
    for c in comps {
        k = k + kernel_of(c).matrix(pts, pts).unwrap();
    }
    let prior = Gaussian::new(Array1::zeros(n), Covariance::dense(k).unwrap()).unwrap();
    let h = LinearMap::selection((0..x.len()).collect(), n).unwrap();
    let out = prior
        .condition(
            h,
            y.view(),
            &Covariance::scaled_identity(x.len(), noise).unwrap(),
        )
        .unwrap();
    let test: Vec<usize> = (x.len()..n).collect();
    let m = out.posterior.marginal(&test).unwrap();
    (m.mean().to_owned(), m.var(), out.log_marginal_likelihood)
}

#[test]
fn state_space_equals_dense_gp() {
    let cases: Vec<Vec<MaternComponent>> = vec![
        vec![MaternComponent {
            nu: Nu::Half,
            lengthscale: 0.7,
            variance: 1.3,
        }],
        vec![MaternComponent {
            nu: Nu::ThreeHalves,
            lengthscale: 0.4,
            variance: 0.8,
        }],
        vec![MaternComponent {
            nu: Nu::FiveHalves,
            lengthscale: 1.1,
            variance: 2.0,
        }],
        vec![
            MaternComponent {
                nu: Nu::FiveHalves,
                lengthscale: 2.0,
                variance: 1.0,
            },
            MaternComponent {
                nu: Nu::Half,
                lengthscale: 0.2,
                variance: 0.3,
            },
            MaternComponent {
                nu: Nu::ThreeHalves,
                lengthscale: 0.5,
                variance: 0.5,
            },
        ],
    ];
    let mut rng = Pcg64::seed_from_u64(17);
    for comps in cases {
        // Unsorted inputs with a repeated value.
        let mut x = Array1::from_shape_simple_fn(25, || rng.random_range(-2.0..3.0));
        x[7] = x[3];
        let y = x.mapv(|v: f64| (2.0 * v).sin())
            + Array1::from_shape_simple_fn(25, || 0.1 * rng.sample::<f64, _>(StandardNormal));
        // Test points inside, outside (left and right) and on a training input.
        let xs = Array1::from(vec![-3.0, -1.0, 0.123, x[5], 2.5, 4.0]);
        let noise = 0.02;
        let post = StateSpaceGp::new(&comps, noise)
            .unwrap()
            .fit(x.view(), y.view())
            .unwrap();
        let (m, v) = post.predict(xs.view()).unwrap();
        let (md, vd, lml) = dense(&comps, noise, &x, &y, &xs);
        for i in 0..xs.len() {
            assert!(
                (m[i] - md[i]).abs() < 1e-9 * (1.0 + md[i].abs()),
                "mean at {}: {} vs {}",
                xs[i],
                m[i],
                md[i]
            );
            assert!(
                (v[i] - vd[i]).abs() < 1e-9 * (1.0 + vd[i]),
                "var at {}: {} vs {}",
                xs[i],
                v[i],
                vd[i]
            );
        }
        let got = post.log_marginal_likelihood();
        assert!(
            (got - lml).abs() < 1e-9 * (1.0 + lml.abs()),
            "lml {got} vs {lml}"
        );
    }
}

#[test]
fn bad_input() {
    let c = [MaternComponent {
        nu: Nu::Half,
        lengthscale: 1.0,
        variance: 1.0,
    }];
    assert!(StateSpaceGp::new(&[], 0.1).is_err());
    assert!(StateSpaceGp::new(&c, -0.1).is_err());
    assert!(
        StateSpaceGp::new(
            &[MaternComponent {
                nu: Nu::Half,
                lengthscale: 0.0,
                variance: 1.0
            }],
            0.1
        )
        .is_err()
    );
    let gp = StateSpaceGp::new(&c, 0.1).unwrap();
    assert!(
        gp.fit(Array1::zeros(3).view(), Array1::zeros(2).view())
            .is_err()
    );
    assert!(
        gp.fit(Array1::zeros(0).view(), Array1::zeros(0).view())
            .is_err()
    );
    assert!(
        gp.fit(
            ndarray::array![0.0, f64::NAN].view(),
            Array1::zeros(2).view()
        )
        .is_err()
    );
    let post = gp
        .fit(
            ndarray::array![0.0, 1.0].view(),
            ndarray::array![1.0, 2.0].view(),
        )
        .unwrap();
    assert!(post.predict(ndarray::array![f64::NAN].view()).is_err());
}

/// The closed-form discretisation against pn-core's kernels: one observation `y₀ = 1` at 0
/// with noise `s²` gives the posterior mean `k(h)/(k(0) + s²)` and variance
/// `k(0) − k(h)²/(k(0) + s²)` at `h`, on both sides and from tiny to huge steps.
#[test]
fn one_observation_reproduces_the_kernel_at_every_distance() {
    for nu in [Nu::Half, Nu::ThreeHalves, Nu::FiveHalves] {
        let c = MaternComponent {
            nu,
            lengthscale: 0.3,
            variance: 1.7,
        };
        let k = kernel_of(&c);
        let s2 = 0.4;
        let post = StateSpaceGp::new(&[c], s2)
            .unwrap()
            .fit(ndarray::array![0.0].view(), ndarray::array![1.0].view())
            .unwrap();
        let hs = [1e-9, 1e-6, 1e-3, 0.05, 0.3, 1.0, 4.0, 50.0, 1e4];
        let xs: Vec<f64> = hs.iter().flat_map(|&h| [h, -h]).collect();
        let xs = Array1::from(xs);
        let (m, v) = post.predict(xs.view()).unwrap();
        let zero = Array2::zeros((1, 1));
        for (i, &t) in xs.iter().enumerate() {
            let kh = k
                .matrix(zero.view(), Array2::from_elem((1, 1), t).view())
                .unwrap()[[0, 0]];
            let (mw, vw) = (kh / (1.7 + s2), 1.7 - kh * kh / (1.7 + s2));
            assert!(
                (m[i] - mw).abs() < 1e-13 * (1.0 + mw.abs()),
                "{nu:?} mean at {t}: {} vs {mw}",
                m[i]
            );
            assert!(
                (v[i] - vw).abs() < 1e-13 * vw.max(1e-3),
                "{nu:?} var at {t}: {} vs {vw}",
                v[i]
            );
        }
    }
}

/// Against pn-filter's general square-root filter and smoother (matrix exponentials and
/// quadrature for the discretisation) on clustered inputs — gaps from 1e-6 to 1 lengthscales —
/// with a sum of all three smoothness orders, where the dense GP would be ill-conditioned.
#[test]
fn state_space_equals_the_general_kalman_smoother_of_pn_filter() {
    use pn_filter::{GaussMarkov, Matern, Observation, SqrtGaussian, Stacked, filter};
    use std::sync::Arc;
    let comps = [
        MaternComponent {
            nu: Nu::FiveHalves,
            lengthscale: 1.5,
            variance: 1.0,
        },
        MaternComponent {
            nu: Nu::ThreeHalves,
            lengthscale: 0.2,
            variance: 0.5,
        },
        MaternComponent {
            nu: Nu::Half,
            lengthscale: 0.05,
            variance: 0.1,
        },
    ];
    let mut rng = Pcg64::seed_from_u64(3);
    let mut x = Vec::new();
    let mut t = 0.0;
    for _ in 0..120 {
        let gap: f64 = 10f64.powf(rng.random_range(-6.0..0.0));
        t += gap;
        x.push(t);
    }
    let x = Array1::from(x);
    let y = x.mapv(|v| (3.0 * v).sin()) + x.mapv(|_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    let noise = 0.01;
    let post = StateSpaceGp::new(&comps, noise)
        .unwrap()
        .fit(x.view(), y.view())
        .unwrap();
    let (m, v) = post.at_inputs();

    let parts: Vec<Arc<dyn GaussMarkov>> = comps
        .iter()
        .map(|c| {
            let p = match c.nu {
                Nu::Half => 0,
                Nu::ThreeHalves => 1,
                _ => 2,
            };
            Arc::new(Matern::new(p, c.lengthscale, c.variance, 1).unwrap()) as Arc<dyn GaussMarkov>
        })
        .collect();
    let prior = Arc::new(Stacked::new(parts).unwrap());
    let h = prior.value_sum();
    let obs: Vec<Option<Observation>> = y
        .iter()
        .map(|&yi| {
            Some(
                Observation::new(
                    h.clone(),
                    &Covariance::scaled_identity(1, noise).unwrap(),
                    ndarray::array![yi],
                )
                .unwrap(),
            )
        })
        .collect();
    let init = SqrtGaussian::from_gaussian(&prior.stationary().unwrap()).unwrap();
    let reference = filter(prior, init, x.as_slice().unwrap(), &obs).unwrap();
    let smooth = reference.smooth().unwrap();
    let lml = reference.log_marginal_likelihood();
    assert!(
        (post.log_marginal_likelihood() - lml).abs() < 1e-9 * lml.abs(),
        "lml {} vs {lml}",
        post.log_marginal_likelihood()
    );
    for (k, b) in smooth.marginals().iter().enumerate() {
        let mr = h.row(0).dot(&b.mean);
        let hl = h.dot(&b.chol);
        let vr = hl.row(0).dot(&hl.row(0));
        assert!((m[k] - mr).abs() < 1e-9 * (1.0 + mr.abs()), "mean {k}");
        assert!((v[k] - vr).abs() < 1e-9 * vr, "var {k}: {} vs {vr}", v[k]);
    }
}

/// Calibration: over draws of `f` from the GP prior (sampled densely, independently of the
/// filter), the mean of `z² = (f(x*) − μ)²/σ²` at test points is ≈ 1.
#[test]
fn posterior_variance_is_calibrated_on_prior_draws() {
    let comps = [MaternComponent {
        nu: Nu::ThreeHalves,
        lengthscale: 0.4,
        variance: 1.0,
    }];
    let kernel = kernel_of(&comps[0]);
    let noise = 0.05;
    let mut rng = Pcg64::seed_from_u64(11);
    let (n, ns, draws) = (30, 10, 300);
    let gp = StateSpaceGp::new(&comps, noise).unwrap();
    let mut z2 = Vec::new();
    for _ in 0..draws {
        let all = Array1::from_shape_simple_fn(n + ns, || rng.random_range(0.0..3.0));
        let pts = all.view().insert_axis(Axis(1));
        let k = kernel.matrix(pts, pts).unwrap() + Array2::<f64>::eye(n + ns) * 1e-10;
        let l = pn_core::dense::cholesky(k.view()).unwrap();
        let z = Array1::from_shape_simple_fn(n + ns, || rng.sample::<f64, _>(StandardNormal));
        let f = l.l().dot(&z);
        let x = all.slice(ndarray::s![..n]).to_owned();
        let y = &f.slice(ndarray::s![..n])
            + &Array1::from_shape_simple_fn(n, || {
                noise.sqrt() * rng.sample::<f64, _>(StandardNormal)
            });
        let post = gp.fit(x.view(), y.view()).unwrap();
        let (m, v) = post.predict(all.slice(ndarray::s![n..])).unwrap();
        for j in 0..ns {
            z2.push((f[n + j] - m[j]).powi(2) / v[j]);
        }
    }
    let mean = z2.iter().sum::<f64>() / z2.len() as f64;
    assert!((0.85..1.18).contains(&mean), "mean z² = {mean}");
}

#[test]
fn duplicates_at_zero_noise_get_the_exact_paths_jitter() {
    // Conflicting and consistent duplicate inputs with zero noise: the state-space path climbs
    // the same jitter ladder as the exact path, to the same rung, and then equals the dense
    // GP with that jitter as noise (posterior and evidence).
    let c = [
        MaternComponent {
            nu: Nu::ThreeHalves,
            lengthscale: 0.4,
            variance: 1.3,
        },
        MaternComponent {
            nu: Nu::Half,
            lengthscale: 2.0,
            variance: 0.2,
        },
    ];
    let mut rng = Pcg64::seed_from_u64(31);
    let x0 = Array1::from_shape_fn(25, |_| rng.random::<f64>() * 3.0);
    let y0 = x0.mapv(f64::sin);
    let x = concatenate![Axis(0), x0, x0.slice(ndarray::s![..6])];
    let xs = Array1::linspace(-0.5, 3.5, 17);
    for shift in [0.0, 0.3] {
        let y = concatenate![Axis(0), y0, y0.slice(ndarray::s![..6]).mapv(|v| v + shift)];
        let post = StateSpaceGp::new(&c, 0.0)
            .unwrap()
            .fit(x.view(), y.view())
            .unwrap();
        let kernel = pn_core::kernels::Sum::new(vec![kernel_of(&c[0]), kernel_of(&c[1])]).unwrap();
        let exact = pn_linalg::exact::ExactGp::new(
            Box::new(kernel),
            0.0,
            x.view().insert_axis(Axis(1)),
            y.view(),
        )
        .unwrap();
        assert!(post.jitter() > 0.0);
        assert!(
            (post.jitter() - exact.jitter()).abs() <= 1e-12 * exact.jitter(),
            "state space {} vs exact {}",
            post.jitter(),
            exact.jitter()
        );
        let (m, v, lml) = dense(&c, post.jitter(), &x, &y, &xs);
        let (pm, pv) = post.predict(xs.view()).unwrap();
        for i in 0..xs.len() {
            assert!(
                (pm[i] - m[i]).abs() <= 1e-6 * (1.0 + m[i].abs()),
                "{shift}: {pm} vs {m}"
            );
            assert!(
                (pv[i] - v[i]).abs() <= 1e-6 * (1.0 + v[i]),
                "{shift}: {pv} vs {v}"
            );
        }
        let rel = (post.log_marginal_likelihood() - lml).abs() / lml.abs().max(1.0);
        assert!(
            rel < 1e-6,
            "{shift}: {} vs {lml}",
            post.log_marginal_likelihood()
        );
        // Without a ladder: a clear error naming the observation, as on the exact path.
        let e = StateSpaceGp::new(&c, 0.0)
            .unwrap()
            .with_jitter_ladder(vec![])
            .unwrap()
            .fit(x.view(), y.view())
            .unwrap_err();
        assert!(
            matches!(e, pn_linalg::Error::JitterExhausted { jitter: 0.0, .. }),
            "{e:?}"
        );
    }
    assert!(
        StateSpaceGp::new(&c, 0.0)
            .unwrap()
            .with_jitter_ladder(vec![1e-4, 1e-6])
            .is_err()
    );
}

#[test]
fn overflowing_input_differences_are_reported_as_such() {
    let c = [MaternComponent {
        nu: Nu::ThreeHalves,
        lengthscale: 1.0,
        variance: 1.0,
    }];
    let gp = StateSpaceGp::new(&c, 0.1).unwrap();
    let e = gp
        .fit(
            ndarray::array![-1e308, 1e308].view(),
            ndarray::array![1.0, 2.0].view(),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            pn_linalg::Error::Core(pn_core::Error::NonFinite { what, .. }) if what.contains("overflow")
        ),
        "{e:?}"
    );
    let post = gp
        .fit(
            ndarray::array![1e308, 0.0].view(),
            ndarray::array![1.0, 2.0].view(),
        )
        .unwrap();
    // Two inputs 1e308 apart are independent: each posterior is the one-point posterior.
    let (m, v) = post.predict(ndarray::array![0.0, 1e308].view()).unwrap();
    for (i, yv) in [2.0, 1.0].iter().enumerate() {
        assert!((m[i] - yv / 1.1).abs() < 1e-12, "{m}");
        assert!((v[i] - (1.0 - 1.0 / 1.1)).abs() < 1e-12, "{v}");
    }
    let e = post.predict(ndarray::array![-1e308].view()).unwrap_err();
    assert!(
        matches!(e, pn_linalg::Error::Core(pn_core::Error::NonFinite { .. })),
        "{e:?}"
    );
}

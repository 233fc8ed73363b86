//! The square-root filter and smoother against batch Gaussian conditioning in pn-core, the
//! priors against their textbook closed forms, and stability at high order.

use std::sync::Arc;

use ndarray::{Array1, Array2, array, s};
use pn_core::kernels::{Kernel, Matern32, Matern52};
use pn_core::testing::assert_allclose;
use pn_core::{Covariance, Gaussian};
use pn_filter::{
    Error, FilterPosterior, GaussMarkov, Ioup, Iwp, Matern, Observation, SqrtGaussian, filter,
};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn factorial(k: usize) -> f64 {
    (1..=k).map(|v| v as f64).product()
}

/// The IWP(q) transition and noise in original coordinates, from the textbook formulas.
fn iwp_textbook(q: usize, h: f64) -> (Array2<f64>, Array2<f64>) {
    let a = Array2::from_shape_fn((q + 1, q + 1), |(i, j)| {
        if j >= i {
            h.powi((j - i) as i32) / factorial(j - i)
        } else {
            0.0
        }
    });
    let qm = Array2::from_shape_fn((q + 1, q + 1), |(i, j)| {
        let p = 2 * q + 1 - i - j;
        h.powi(p as i32) / (p as f64 * factorial(q - i) * factorial(q - j))
    });
    (a, qm)
}

#[test]
fn iwp_transition_is_the_textbook_one() {
    for q in 0..=6 {
        for h in [0.37, 2.0, 1e-3] {
            let tr = Iwp::new(q, 1).unwrap().transition(h).unwrap();
            let (a, qm) = iwp_textbook(q, h);
            assert_allclose(&tr.a_original(), &a, 1e-13, 0.0);
            assert_allclose(&tr.q_original(), &qm, 1e-12, 1e-300);
        }
    }
    // Per-coordinate diffusion and derivative-major ordering across d = 2.
    let tr = Iwp::with_diffusion(1, array![1.0, 4.0])
        .unwrap()
        .transition(0.5)
        .unwrap();
    let (_, q1) = iwp_textbook(1, 0.5);
    let qd = tr.q_original();
    // state order: (x₀, x₁, x₀', x₁')
    assert!((qd[[0, 0]] - q1[[0, 0]]).abs() < 1e-15);
    assert!((qd[[1, 1]] - 4.0 * q1[[0, 0]]).abs() < 1e-15);
    assert!((qd[[1, 3]] - 4.0 * q1[[0, 1]]).abs() < 1e-15);
    assert_eq!(qd[[0, 1]], 0.0);
}

/// `A(h₁ + h₂) = A(h₂) A(h₁)` and `Q(h₁ + h₂) = A(h₂) Q(h₁) A(h₂)ᵀ + Q(h₂)` for every prior.
#[test]
fn discretisations_compose_chapman_kolmogorov() {
    let priors: Vec<Box<dyn GaussMarkov>> = vec![
        Box::new(Iwp::new(3, 1).unwrap()),
        Box::new(Ioup::new(2, 1.5, 1).unwrap()),
        Box::new(Ioup::new(1, -0.5, 2).unwrap()),
        Box::new(Matern::new(1, 0.7, 2.0, 1).unwrap()),
        Box::new(Matern::new(2, 1.3, 0.5, 1).unwrap()),
    ];
    for p in priors {
        let (h1, h2) = (0.3, 0.45);
        let t1 = p.transition(h1).unwrap();
        let t2 = p.transition(h2).unwrap();
        let t12 = p.transition(h1 + h2).unwrap();
        let a2 = t2.a_original();
        assert_allclose(&t12.a_original(), &a2.dot(&t1.a_original()), 1e-12, 1e-14);
        let q = a2.dot(&t1.q_original()).dot(&a2.t()) + t2.q_original();
        assert_allclose(&t12.q_original(), &q, 1e-11, 1e-14);
    }
}

#[test]
fn ioup_with_zero_rate_is_iwp() {
    for q in [0, 2, 5] {
        let a = Ioup::new(q, 0.0, 1).unwrap().transition(0.8).unwrap();
        let b = Iwp::new(q, 1).unwrap().transition(0.8).unwrap();
        assert_allclose(&a.a_original(), &b.a_original(), 1e-13, 1e-15);
        assert_allclose(&a.q_original(), &b.q_original(), 1e-11, 1e-15);
    }
}

/// The Matérn state-space model reproduces the Matérn kernel: with the stationary initial
/// belief, `Cov(f(h), f(0)) = [A(h) P∞]₀₀ = k(h)`, checked against pn-core's kernels.
#[test]
fn matern_state_space_reproduces_the_kernel() {
    let (ell, var) = (0.8, 1.7);
    let cases: Vec<(Matern, Box<dyn Kernel>)> = vec![
        (
            Matern::new(1, ell, var, 1).unwrap(),
            Box::new(Matern32::new(ell, var).unwrap()),
        ),
        (
            Matern::new(2, ell, var, 1).unwrap(),
            Box::new(Matern52::new(ell, var).unwrap()),
        ),
    ];
    for (m, k) in cases {
        let p_inf = m.stationary().unwrap().cov_dense();
        assert!((p_inf[[0, 0]] - var).abs() < 1e-12);
        for h in [0.05, 0.4, 1.5] {
            let a = m.transition(h).unwrap().a_original();
            let cov = a.dot(&p_inf)[[0, 0]];
            let kh = k.eval(array![h].view(), array![0.0].view()).unwrap();
            assert!((cov - kh).abs() < 1e-12, "h={h}: {cov} vs {kh}");
            // Stationarity: A P∞ Aᵀ + Q = P∞.
            let tr = m.transition(h).unwrap();
            let p = a.dot(&p_inf).dot(&a.t()) + tr.q_original();
            assert_allclose(&p, &p_inf, 1e-11, 1e-13);
        }
    }
}

/// Batch reference: the joint Gaussian over all states on the grid, built from the original-
/// coordinate transitions, conditioned with pn-core's dense Gaussian conditioning.
struct Batch {
    post: Gaussian,
    lml: f64,
    n: usize,
}

fn batch(
    prior: &dyn GaussMarkov,
    m0: &Array1<f64>,
    s0: &Array2<f64>,
    times: &[f64],
    obs: &[Option<Observation>],
) -> Batch {
    let n = prior.state_dim();
    let k = times.len();
    // x = B w with w = (x₀, w₁, …) independent; B's block (i, j) is A(tᵢ − tⱼ) for j ≤ i.
    let mut trans = vec![Array2::<f64>::eye(n)];
    let mut qs = vec![s0.clone()];
    for i in 1..k {
        let tr = prior.transition(times[i] - times[i - 1]).unwrap();
        trans.push(tr.a_original());
        qs.push(tr.q_original());
    }
    let mut b = Array2::<f64>::zeros((k * n, k * n));
    for j in 0..k {
        let mut acc = Array2::<f64>::eye(n);
        for i in j..k {
            if i > j {
                acc = trans[i].dot(&acc);
            }
            b.slice_mut(s![i * n..(i + 1) * n, j * n..(j + 1) * n])
                .assign(&acc);
        }
    }
    let mut w = Array2::<f64>::zeros((k * n, k * n));
    for (i, q) in qs.iter().enumerate() {
        w.slice_mut(s![i * n..(i + 1) * n, i * n..(i + 1) * n])
            .assign(q);
    }
    let mut mean = Array1::<f64>::zeros(k * n);
    let mut cur = m0.clone();
    for i in 0..k {
        if i > 0 {
            cur = trans[i].dot(&cur);
        }
        mean.slice_mut(s![i * n..(i + 1) * n]).assign(&cur);
    }
    let cov = b.dot(&w).dot(&b.t());
    let cov = (&cov + &cov.t()) * 0.5;
    let joint = Gaussian::new(mean, Covariance::dense(cov).unwrap()).unwrap();
    let rows: usize = obs.iter().flatten().map(|o| o.y.len()).sum();
    let mut h = Array2::<f64>::zeros((rows, k * n));
    let mut r = Array2::<f64>::zeros((rows, rows));
    let mut y = Array1::<f64>::zeros(rows);
    let mut row = 0;
    for (i, o) in obs.iter().enumerate() {
        if let Some(o) = o {
            let m = o.y.len();
            h.slice_mut(s![row..row + m, i * n..(i + 1) * n])
                .assign(&o.h);
            r.slice_mut(s![row..row + m, row..row + m])
                .assign(&o.noise_chol.dot(&o.noise_chol.t()));
            y.slice_mut(s![row..row + m]).assign(&o.y);
            row += m;
        }
    }
    let out = joint
        .condition(h, y.view(), &Covariance::dense(r).unwrap())
        .unwrap();
    Batch {
        post: out.posterior,
        lml: out.log_marginal_likelihood,
        n,
    }
}

fn noisy_obs(
    prior: &dyn GaussMarkov,
    times: &[f64],
    seed: u64,
    skip: usize,
) -> Vec<Option<Observation>> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let d = prior.dim();
    let e0 = prior.projection(0);
    let e1 = prior.projection(1);
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            if i % skip == skip - 1 {
                return None;
            }
            // Alternate between observing values and a mix of value and slope.
            let h = if i % 2 == 0 {
                e0.clone()
            } else {
                &e0 + &(&e1 * 0.5)
            };
            let noise = Covariance::diagonal(Array1::from_elem(d, 0.05 + 0.01 * i as f64)).unwrap();
            let y = Array1::from_shape_fn(d, |j| {
                (2.0 * t + j as f64).sin() + 0.1 * rng.sample::<f64, _>(StandardNormal)
            });
            Some(Observation::new(h, &noise, y).unwrap())
        })
        .collect()
}

fn check_against_batch(prior: Arc<dyn GaussMarkov>, times: &[f64], init_scale: f64) {
    let n = prior.state_dim();
    let m0 = Array1::from_shape_fn(n, |i| 0.3 * i as f64 - 0.2);
    let l0 = Array2::from_shape_fn((n, n), |(i, j)| {
        if i == j {
            init_scale
        } else if j < i {
            0.1
        } else {
            0.0
        }
    });
    let obs = noisy_obs(&*prior, times, 7, 4);
    let post: FilterPosterior = filter(
        prior.clone(),
        SqrtGaussian::new(m0.clone(), l0.clone()).unwrap(),
        times,
        &obs,
    )
    .unwrap();
    let reference = batch(&*prior, &m0, &l0.dot(&l0.t()), times, &obs);
    let nb = reference.n;
    assert!(
        (post.log_marginal_likelihood() - reference.lml).abs()
            < 1e-10 * (1.0 + reference.lml.abs()),
        "lml {} vs {}",
        post.log_marginal_likelihood(),
        reference.lml
    );
    let smooth = post.smooth().unwrap();
    let k = times.len();
    for (i, s) in smooth.marginals().iter().enumerate() {
        let idx: Vec<usize> = (i * nb..(i + 1) * nb).collect();
        let b = reference.post.marginal(&idx).unwrap();
        assert_allclose(&s.mean, &b.mean(), 1e-10, 1e-11);
        assert_allclose(&s.cov(), &b.cov_dense(), 1e-10, 1e-11);
    }
    // Filtering at the last time is the smoothing marginal there.
    let last = &post.filtered()[k - 1];
    assert_allclose(&last.mean, &smooth.marginals()[k - 1].mean, 1e-14, 1e-14);
    // Filtering at an intermediate time equals batch conditioning on the data up to it.
    let cut = k / 2;
    let partial = batch(&*prior, &m0, &l0.dot(&l0.t()), &times[..=cut], &obs[..=cut]);
    let idx: Vec<usize> = (cut * nb..(cut + 1) * nb).collect();
    let b = partial.post.marginal(&idx).unwrap();
    assert_allclose(&post.filtered()[cut].mean, &b.mean(), 1e-10, 1e-11);
    assert_allclose(&post.filtered()[cut].cov(), &b.cov_dense(), 1e-10, 1e-11);
}

#[test]
fn filter_and_smoother_equal_batch_conditioning() {
    let times: Vec<f64> = (0..9)
        .map(|i| 0.25 * i as f64 + 0.05 * (i % 3) as f64)
        .collect();
    check_against_batch(Arc::new(Iwp::new(2, 2).unwrap()), &times, 1.0);
    check_against_batch(
        Arc::new(Iwp::with_diffusion(1, array![0.5, 3.0]).unwrap()),
        &times,
        0.5,
    );
    check_against_batch(Arc::new(Ioup::new(2, 0.8, 1).unwrap()), &times, 1.0);
    check_against_batch(Arc::new(Matern::new(1, 0.6, 1.5, 2).unwrap()), &times, 0.8);
    check_against_batch(Arc::new(Matern::new(0, 0.3, 1.0, 1).unwrap()), &times, 1.0);
}

#[test]
fn posterior_from_filtered_beliefs_smooths_like_the_filter() {
    // The backward kernels rebuilt from the filtered beliefs give the same smoother.
    let times: Vec<f64> = (0..7)
        .map(|i| 0.3 * i as f64 + 0.02 * (i % 2) as f64)
        .collect();
    let prior: Arc<dyn GaussMarkov> = Arc::new(Iwp::new(2, 2).unwrap());
    let n = prior.state_dim();
    let init = SqrtGaussian::new(Array1::zeros(n), Array2::eye(n)).unwrap();
    let obs = noisy_obs(&*prior, &times, 3, 3);
    let post = filter(prior.clone(), init, &times, &obs).unwrap();
    let rebuilt = FilterPosterior::from_filtered(
        prior.clone(),
        times.clone(),
        post.filtered().to_vec(),
        post.diffusions().to_vec(),
        post.log_marginal_likelihood(),
    )
    .unwrap();
    let (a, b) = (post.smooth().unwrap(), rebuilt.smooth().unwrap());
    for (x, y) in a.marginals().iter().zip(b.marginals()) {
        assert_allclose(&x.mean, &y.mean, 1e-12, 1e-12);
        assert_allclose(&x.cov(), &y.cov(), 1e-12, 1e-12);
    }
    // Lengths that do not fit are an error.
    assert!(
        FilterPosterior::from_filtered(prior, times, post.filtered().to_vec(), vec![], 0.0)
            .is_err()
    );
}

/// Interpolation: the smoothing belief at an off-grid time equals the smoothing belief on a
/// grid that contains that time without an observation there.
#[test]
fn interpolation_equals_an_unobserved_grid_point() {
    let prior: Arc<dyn GaussMarkov> = Arc::new(Iwp::new(3, 1).unwrap());
    let times = [0.0, 0.4, 1.0, 1.3];
    let obs = noisy_obs(&*prior, &times, 3, 100);
    let init = SqrtGaussian::new(Array1::zeros(4), Array2::eye(4)).unwrap();
    let post = filter(prior.clone(), init.clone(), &times, &obs).unwrap();
    let smooth = post.smooth().unwrap();
    for t in [0.1, 0.7, 1.25, 2.0] {
        let mut t2: Vec<f64> = times.to_vec();
        let mut o2 = obs.clone();
        let pos = t2.partition_point(|&s| s < t);
        t2.insert(pos, t);
        o2.insert(pos, None);
        let post2 = filter(prior.clone(), init.clone(), &t2, &o2).unwrap();
        let s2 = post2.smooth().unwrap();
        let got = smooth.at(t).unwrap();
        assert_allclose(&got.mean, &s2.marginals()[pos].mean, 1e-10, 1e-12);
        assert_allclose(&got.cov(), &s2.marginals()[pos].cov(), 1e-10, 1e-12);
        let fgot = post.at(t).unwrap();
        assert_allclose(&fgot.mean, &post2.filtered()[pos].mean, 1e-10, 1e-12);
        assert!((post2.log_marginal_likelihood() - post.log_marginal_likelihood()).abs() < 1e-10);
    }
    assert!(matches!(smooth.at(-1.0), Err(Error::TimeOutOfRange { .. })));
    let (m, sd) = smooth.derivative_at(1, &[0.5, 0.9]).unwrap();
    assert_eq!(m.dim(), (2, 1));
    assert!(sd.iter().all(|v| v.is_finite() && *v > 0.0));
}

/// Prior draws of IWP(2) from a known start: the empirical covariance of the state at the end
/// (after several steps) must match the closed-form `Q(T)` within 5 standard errors, and the
/// joint draws must have the right covariance between two times.
#[test]
fn iwp_samples_have_the_right_covariance() {
    let prior: Arc<dyn GaussMarkov> = Arc::new(Iwp::new(2, 1).unwrap());
    let times = [0.0, 0.3, 0.7, 1.2];
    let obs = vec![None; 4];
    let init = SqrtGaussian::new(Array1::zeros(3), Array2::zeros((3, 3))).unwrap();
    let post = filter(prior, init, &times, &obs).unwrap();
    let mut rng = Pcg64::seed_from_u64(99);
    const N: usize = 20_000;
    let draws = post.sample(&mut rng, N);
    let (_, q_end) = iwp_textbook(2, 1.2);
    let (a_rest, q_mid) = iwp_textbook(2, 0.7);
    let (a_tail, _) = iwp_textbook(2, 0.5);
    // Cov(x(1.2), x(0.7)) = A(0.5) Q(0.7).
    let cross = a_tail.dot(&q_mid);
    let _ = a_rest;
    let mut emp_end = Array2::<f64>::zeros((3, 3));
    let mut emp_cross = Array2::<f64>::zeros((3, 3));
    for d in &draws {
        let xe = d.row(3);
        let xm = d.row(2);
        for i in 0..3 {
            for j in 0..3 {
                emp_end[[i, j]] += xe[i] * xe[j] / N as f64;
                emp_cross[[i, j]] += xe[i] * xm[j] / N as f64;
            }
        }
    }
    for i in 0..3 {
        for j in 0..3 {
            let se = ((q_end[[i, i]] * q_end[[j, j]] + q_end[[i, j]].powi(2)) / N as f64).sqrt();
            assert!(
                (emp_end[[i, j]] - q_end[[i, j]]).abs() < 5.0 * se,
                "end ({i},{j})"
            );
            let se_c = ((q_end[[i, i]] * q_mid[[j, j]] + cross[[i, j]].powi(2)) / N as f64).sqrt();
            assert!(
                (emp_cross[[i, j]] - cross[[i, j]]).abs() < 5.0 * se_c,
                "cross ({i},{j})"
            );
        }
    }
}

/// Posterior draws match the smoothing marginals (mean and variance) at every time.
#[test]
fn posterior_samples_match_smoothed_marginals() {
    let prior: Arc<dyn GaussMarkov> = Arc::new(Matern::new(1, 0.5, 1.0, 1).unwrap());
    let times: Vec<f64> = (0..6).map(|i| 0.3 * i as f64).collect();
    let obs = noisy_obs(&*prior, &times, 5, 3);
    let init = SqrtGaussian::from_gaussian(&prior.stationary().unwrap()).unwrap();
    let post = filter(prior, init, &times, &obs).unwrap();
    let smooth = post.smooth().unwrap();
    const N: usize = 20_000;
    let draws = post.sample(&mut Pcg64::seed_from_u64(4), N);
    for (k, marg) in smooth.marginals().iter().enumerate() {
        let cov = marg.cov();
        for i in 0..2 {
            let vals: Vec<f64> = draws.iter().map(|d| d[[k, i]]).collect();
            let mean = vals.iter().sum::<f64>() / N as f64;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (N - 1) as f64;
            let sd = cov[[i, i]].sqrt();
            assert!(
                (mean - marg.mean[i]).abs() < 5.0 * sd / (N as f64).sqrt(),
                "mean k={k} i={i}"
            );
            assert!(
                (var - cov[[i, i]]).abs() < 5.0 * cov[[i, i]] * (2.0 / N as f64).sqrt(),
                "var k={k} i={i}"
            );
        }
    }
}

/// IWP(8) with tiny steps and exact observations (the regime of an ODE filter at tolerance
/// 1e-12): no NaN, no negative variance, and the data are tracked.
#[test]
fn high_order_tiny_steps_stay_finite_and_psd() {
    for &(q, h) in &[(8usize, 1e-3), (8, 1e-2), (10, 1e-3)] {
        let prior: Arc<dyn GaussMarkov> = Arc::new(Iwp::new(q, 1).unwrap());
        let n = q + 1;
        // Exact Taylor initialisation of sin at 0.
        let m0 = Array1::from_shape_fn(n, |k| [0.0, 1.0, 0.0, -1.0][k % 4]);
        let mut kf = pn_filter::KalmanFilter::new(
            prior.clone(),
            SqrtGaussian::new(m0, Array2::zeros((n, n))).unwrap(),
            0.0,
        )
        .unwrap();
        let e0 = prior.projection(0);
        for step in 1..=500 {
            let t = step as f64 * h;
            kf.predict_to(t).unwrap();
            kf.update(&Observation::exact(e0.clone(), array![t.sin()]).unwrap())
                .unwrap();
            let s = kf.state();
            assert!(
                s.mean.iter().all(|v| v.is_finite()),
                "q={q} h={h} step {step}"
            );
            assert!(s.chol.iter().all(|v| v.is_finite()));
            assert!(s.chol.diag().iter().all(|&v| v >= 0.0));
        }
        let s = kf.state();
        let t = 500.0 * h;
        assert!(
            (s.mean[1] - t.cos()).abs() < 1e-8,
            "q={q} h={h}: slope {} vs {}",
            s.mean[1],
            t.cos()
        );
        let post = kf.finish().smooth().unwrap();
        for m in post.marginals() {
            assert!(m.std().iter().all(|v| v.is_finite() && *v >= 0.0));
        }
    }
}

#[test]
fn bad_input_is_reported() {
    assert!(matches!(
        Iwp::new(11, 1),
        Err(Error::UnsupportedOrder { order: 11, .. })
    ));
    assert!(matches!(
        Iwp::new(2, 0),
        Err(Error::Core(pn_core::Error::Empty { .. }))
    ));
    assert!(matches!(
        Iwp::with_diffusion(2, array![1.0, -1.0]),
        Err(Error::Core(pn_core::Error::InvalidParameter { .. }))
    ));
    assert!(matches!(
        Iwp::new(2, 1).unwrap().transition(0.0),
        Err(Error::InvalidStep { .. })
    ));
    assert!(matches!(
        Iwp::new(2, 1).unwrap().transition(f64::NAN),
        Err(Error::InvalidStep { .. })
    ));
    assert!(matches!(
        Ioup::new(2, f64::INFINITY, 1),
        Err(Error::Core(pn_core::Error::InvalidParameter { .. }))
    ));
    assert!(matches!(
        Matern::new(1, -1.0, 1.0, 1),
        Err(Error::Core(pn_core::Error::InvalidParameter { .. }))
    ));
    assert!(matches!(
        Matern::new(1, 1.0, 0.0, 1),
        Err(Error::Core(pn_core::Error::InvalidParameter { .. }))
    ));
    let prior: Arc<dyn GaussMarkov> = Arc::new(Iwp::new(1, 1).unwrap());
    let init = SqrtGaussian::new(Array1::zeros(2), Array2::eye(2)).unwrap();
    assert!(matches!(
        pn_filter::KalmanFilter::new(
            prior.clone(),
            SqrtGaussian::new(Array1::zeros(3), Array2::eye(3)).unwrap(),
            0.0
        ),
        Err(Error::Core(pn_core::Error::ShapeMismatch { .. }))
    ));
    assert!(matches!(
        pn_filter::KalmanFilter::new(prior.clone(), init.clone(), f64::NAN),
        Err(Error::Core(pn_core::Error::NonFinite { .. }))
    ));
    let mut kf = pn_filter::KalmanFilter::new(prior.clone(), init.clone(), 0.0).unwrap();
    assert!(matches!(
        kf.predict_to(0.0),
        Err(Error::NonIncreasingTimes { .. })
    ));
    assert!(matches!(
        kf.predict_to(f64::NAN),
        Err(Error::NonIncreasingTimes { .. })
    ));
    assert!(matches!(
        filter(
            prior.clone(),
            init.clone(),
            &[0.0, 1.0, 0.5],
            &[None, None, None]
        ),
        Err(Error::NonIncreasingTimes { index: 2, .. })
    ));
    assert!(matches!(
        filter(prior.clone(), init.clone(), &[0.0, 1.0], &[None]),
        Err(Error::Core(pn_core::Error::ShapeMismatch { .. }))
    ));
    assert!(matches!(
        filter(prior.clone(), init.clone(), &[], &[]),
        Err(Error::Core(pn_core::Error::Empty { .. }))
    ));
    assert!(matches!(
        SqrtGaussian::new(Array1::zeros(2), Array2::eye(3)),
        Err(Error::Core(pn_core::Error::ShapeMismatch { .. }))
    ));
    assert!(matches!(
        SqrtGaussian::new(array![0.0, f64::NAN], Array2::eye(2)),
        Err(Error::Core(pn_core::Error::NonFinite { .. }))
    ));
    let noise = Covariance::scaled_identity(1, 0.1).unwrap();
    assert!(matches!(
        Observation::new(Array2::zeros((1, 2)), &noise, array![1.0, 2.0]),
        Err(Error::Core(pn_core::Error::ShapeMismatch { .. }))
    ));
    assert!(matches!(
        Observation::new(Array2::zeros((1, 2)), &noise, array![f64::NAN]),
        Err(Error::Core(pn_core::Error::NonFinite { .. }))
    ));
    let wrong = Observation::new(Array2::zeros((1, 3)), &noise, array![1.0]).unwrap();
    assert!(matches!(
        kf.update(&wrong),
        Err(Error::Core(pn_core::Error::ShapeMismatch { .. }))
    ));
    // Exactly observing a direction with no uncertainty left is singular, not NaN.
    let mut kf0 = pn_filter::KalmanFilter::new(
        prior,
        SqrtGaussian::new(Array1::zeros(2), Array2::zeros((2, 2))).unwrap(),
        0.0,
    )
    .unwrap();
    assert!(matches!(
        kf0.update(&Observation::exact(array![[1.0, 0.0]], array![1.0]).unwrap()),
        Err(Error::Core(pn_core::Error::NotPositiveDefinite { .. }))
    ));
}

//! Samplers on targets with known moments: means and variances within 4 MCSE of the truth,
//! R̂ and ESS floors for NUTS, reproducibility, and the hard cases flagged.

use std::sync::Arc;

use ndarray::{Array1, Array2};
use num_dual::DualNum;
use pn_mcmc::diagnostics as d;
use pn_mcmc::models::{self, DenseGaussian, DiagGaussian};
use pn_mcmc::*;

/// Checks mean and variance of every coordinate against the truth within `k` MCSE:
/// the variance through the mean of `(x − μ)²`, whose MCSE comes from its own ESS.
fn check_moments(fit: &Fit, mean: &[f64], sd: &[f64], k: f64, label: &str) {
    for i in 0..fit.dim() {
        let x = fit.param(i);
        let m = x.mean().unwrap();
        let se = d::mcse_mean(x);
        assert!(
            (m - mean[i]).abs() < k * se,
            "{label}: mean[{i}] = {m:.4} vs {:.4} (mcse {se:.4})",
            mean[i]
        );
        let sq = x.mapv(|v| (v - mean[i]).powi(2));
        let v = sq.mean().unwrap();
        let se_v = d::mcse_mean(sq.view());
        let tv = sd[i] * sd[i];
        assert!(
            (v - tv).abs() < k * se_v,
            "{label}: var[{i}] = {v:.4} vs {tv:.4} (mcse {se_v:.4})"
        );
    }
}

fn min_ess_bulk(fit: &Fit) -> f64 {
    (0..fit.dim())
        .map(|i| d::ess_bulk(fit.param(i)))
        .fold(f64::INFINITY, f64::min)
}

fn max_rhat(fit: &Fit) -> f64 {
    (0..fit.dim())
        .map(|i| d::rhat(fit.param(i)))
        .fold(0.0, f64::max)
}

fn corr_gaussian(d: usize, rho: f64) -> DenseGaussian {
    let cov = Array2::from_shape_fn((d, d), |(i, j)| {
        if i == j {
            1.0 + i as f64
        } else {
            rho * ((1.0 + i as f64) * (1.0 + j as f64)).sqrt()
        }
    });
    DenseGaussian::from_cov(&cov).unwrap()
}

fn corr_sd(d: usize) -> Vec<f64> {
    (0..d).map(|i| (1.0 + i as f64).sqrt()).collect()
}

const RUN: fn() -> RunOptions = || {
    RunOptions::default()
        .chains(4)
        .warmup(500)
        .draws(500)
        .seed(11)
};

#[test]
fn nuts_correlated_gaussian_moments_rhat_ess() {
    let target = corr_gaussian(5, 0.6);
    let fit = sample(&target, &Sampler::default(), &RUN()).unwrap();
    check_moments(&fit, &[0.0; 5], &corr_sd(5), 4.0, "nuts diag");
    assert!(max_rhat(&fit) < 1.01, "R-hat {}", max_rhat(&fit));
    // Floor: 100 per chain (the usual requirement for trusting R-hat and MCSE).
    assert!(min_ess_bulk(&fit) > 400.0, "ESS {}", min_ess_bulk(&fit));
    let dg = fit.diagnostics();
    assert_eq!(dg.divergences, 0);
    // Dual averaging targets 0.8 during warm-up; the final averaged step size is a little
    // smaller, so (as in Stan) the sampling-phase mean lies somewhat above 0.8.
    assert!(
        (0.75..0.97).contains(&dg.mean_accept),
        "mean acceptance {}",
        dg.mean_accept
    );
    assert!(fit.warnings().is_empty(), "{:?}", fit.warnings());
}

#[test]
fn nuts_dense_metric_beats_diagonal_on_strong_correlation() {
    let m = models::model("corr10").unwrap();
    let run = RunOptions::default()
        .chains(2)
        .warmup(500)
        .draws(500)
        .seed(3);
    let diag = sample(&m.target, &Sampler::Nuts(NutsOptions::default()), &run).unwrap();
    let dense = sample(
        &m.target,
        &Sampler::Nuts(NutsOptions::default().metric(MetricKind::Dense)),
        &run,
    )
    .unwrap();
    check_moments(&dense, &[0.0; 10], &[1.0; 10], 4.0, "nuts dense");
    let per_grad = |f: &Fit| min_ess_bulk(f) / f.diagnostics().grad_evals as f64;
    assert!(
        per_grad(&dense) > 5.0 * per_grad(&diag),
        "dense {} vs diag {}",
        per_grad(&dense),
        per_grad(&diag)
    );
}

#[test]
fn nuts_gradient_based_metric() {
    let target = DiagGaussian {
        var: vec![0.01, 1.0, 100.0, 4.0],
    };
    let s = Sampler::Nuts(NutsOptions::default().metric(MetricKind::DiagGrad));
    let fit = sample(&target, &s, &RUN()).unwrap();
    check_moments(
        &fit,
        &[0.0; 4],
        &[0.1, 1.0, 10.0, 2.0],
        4.0,
        "nuts diag-grad",
    );
    assert!(max_rhat(&fit) < 1.01, "R-hat {}", max_rhat(&fit));
    // The adapted inverse metric is the variance, to within the estimate's noise.
    for inv in fit.inv_metric.iter().flatten() {
        for (v, t) in inv.iter().zip(&target.var) {
            assert!(
                (v / t - 1.0).abs() < 0.3,
                "inverse metric {v} vs variance {t}"
            );
        }
    }
}

/// The default warm-up (gradient-based diagonal metric, continuous schedule) against Stan's
/// (`diag_e`, windows 75/25/50) on an axis-aligned Gaussian with condition number 10⁴: the
/// same answer for much less warm-up, and the metric exact.
#[test]
fn default_warmup_is_cheaper_than_stans_on_ill_conditioned_diagonal() {
    let d = 20;
    let var: Vec<f64> = (0..d)
        .map(|i| 10f64.powf(4.0 * i as f64 / (d - 1) as f64 - 2.0))
        .collect();
    let sd: Vec<f64> = var.iter().map(|v| v.sqrt()).collect();
    let target = DiagGaussian { var: var.clone() };
    let run = RunOptions::default()
        .chains(4)
        .warmup(500)
        .draws(500)
        .seed(4);
    let warm = |f: &Fit| f.diagnostics().grad_evals as f64 - f.stats.n_steps.sum() as f64;
    let default = sample(&target, &Sampler::default(), &run).unwrap();
    let stan = sample(
        &target,
        &Sampler::Nuts(NutsOptions::default().adapt(AdaptOptions::stan())),
        &run,
    )
    .unwrap();
    check_moments(&default, &vec![0.0; d], &sd, 4.0, "default warm-up");
    check_moments(&stan, &vec![0.0; d], &sd, 4.0, "Stan's warm-up");
    assert!(max_rhat(&default) < 1.01, "R-hat {}", max_rhat(&default));
    eprintln!(
        "warm-up gradients: default {}, Stan {}; min bulk ESS: {:.0} vs {:.0}",
        warm(&default),
        warm(&stan),
        min_ess_bulk(&default),
        min_ess_bulk(&stan)
    );
    assert!(
        warm(&default) < 0.6 * warm(&stan),
        "{} vs {}",
        warm(&default),
        warm(&stan)
    );
    // For a Gaussian, √(Var x / Var ∇) is the variance itself, whatever the sample.
    for inv in default.inv_metric.iter().flatten() {
        for (a, v) in inv.iter().zip(&var) {
            assert!((a / v - 1.0).abs() < 1e-6, "inverse metric {a} vs {v}");
        }
    }
}

/// The dense metric on the 10-d Gaussian with all correlations 0.9 reaches nuts-rs's low-rank
/// efficiency (0.12 bulk ESS per gradient, warm-up included, measured for nuts-rs 0.19 in the
/// benchmarks) with the benchmark's run (4 chains × (1000 + 1000)).
#[test]
fn dense_metric_efficiency_on_corr10() {
    let m = models::model("corr10").unwrap();
    let run = RunOptions::default().seed(0);
    let fit = sample(
        &m.target,
        &Sampler::Nuts(NutsOptions::default().metric(MetricKind::Dense)),
        &run,
    )
    .unwrap();
    check_moments(&fit, &[0.0; 10], &[1.0; 10], 4.0, "corr10 dense");
    assert!(max_rhat(&fit) < 1.01, "R-hat {}", max_rhat(&fit));
    let per_grad = min_ess_bulk(&fit) / fit.diagnostics().grad_evals as f64;
    eprintln!("corr10 dense: min bulk ESS per gradient {per_grad:.3}");
    assert!(per_grad > 0.12, "ESS per gradient {per_grad}");
}

#[test]
fn static_hmc_gaussian() {
    let target = corr_gaussian(3, 0.3);
    let s = Sampler::Hmc(HmcOptions::default().n_steps(10));
    let fit = sample(&target, &s, &RUN()).unwrap();
    check_moments(&fit, &[0.0; 3], &corr_sd(3), 4.0, "hmc");
    assert!(max_rhat(&fit) < 1.01, "R-hat {}", max_rhat(&fit));
}

#[test]
fn nuts_non_centred_funnel() {
    let m = models::model("funnel-nc").unwrap();
    let fit = sample(&m.target, &Sampler::default(), &RUN().draws(1000)).unwrap();
    // Sampled coordinates are standard normal.
    check_moments(&fit, &[0.0; 10], &[1.0; 10], 4.0, "funnel-nc raw");
    let rep = m.report(&fit).unwrap();
    let v = rep.param(0);
    let q5 = d::quantile(v, 0.05);
    let truth_q5 = 3.0 * d::normal_quantile(0.05); // −4.935
    assert!(
        (q5 - truth_q5).abs() < 4.0 * d::mcse_quantile(v, 0.05),
        "v q5 {q5} vs {truth_q5}"
    );
    assert!(max_rhat(&fit) < 1.01, "R-hat {}", max_rhat(&fit));
    assert_eq!(fit.diagnostics().divergences, 0);
}

#[test]
fn nuts_mild_banana() {
    let m = models::model("banana-mild").unwrap();
    let run = RunOptions::default()
        .chains(4)
        .warmup(1000)
        .draws(2000)
        .seed(5);
    let fit = sample(
        &m.target,
        &Sampler::Nuts(NutsOptions::default().target_accept(0.95)),
        &run,
    )
    .unwrap();
    let t = m.truth.as_ref().unwrap();
    check_moments(&fit, &t.mean, &t.sd, 4.0, "banana b = 0.02");
    assert!(max_rhat(&fit) < 1.01, "R-hat {}", max_rhat(&fit));
    assert!(min_ess_bulk(&fit) > 400.0, "ESS {}", min_ess_bulk(&fit));
}

/// The hard cases: either accurate (marginal sds within 10 %) or loudly flagged.
#[test]
fn hard_cases_are_accurate_or_flagged() {
    for name in ["banana", "funnel"] {
        let m = models::model(name).unwrap();
        for seed in [1, 2] {
            let run = RunOptions::default()
                .chains(4)
                .warmup(1000)
                .draws(1000)
                .seed(seed);
            let fit = sample(&m.target, &Sampler::default(), &run).unwrap();
            let t = m.truth.as_ref().unwrap();
            let s = fit.summary();
            let worst = s
                .rows
                .iter()
                .zip(&t.sd)
                .map(|(r, sd)| (r.sd / sd - 1.0).abs())
                .fold(0.0, f64::max);
            let accurate = worst < 0.10;
            eprintln!(
                "{name} seed {seed}: worst sd error {worst:.3}, {} warning(s)",
                s.warnings.len()
            );
            assert!(
                accurate || !s.warnings.is_empty(),
                "{name} seed {seed}: sd off by {worst:.2} and no warning"
            );
            if name == "funnel" {
                // The centred funnel is never sampled well with these settings: it must be flagged.
                assert!(!s.warnings.is_empty());
                assert!(
                    s.warnings.iter().any(|w| w.contains("R-hat")
                        || w.contains("divergent")
                        || w.contains("BFMI"))
                );
            }
        }
    }
}

/// The banana (b = 0.1) with δ = 0.95: seeds 5 and 9 used to end 15 % and 18 % off in sd(y₂)
/// with R̂ < 1.01, bulk ESS > 600, no divergences and no warning. The step size, adapted to the
/// bulk, is beyond the leapfrog's stability limit in the curved arms, which the chains then
/// rarely enter; the count of such steps must raise a warning. On a Gaussian (all curvatures
/// within the limit once the metric is adapted) there are none.
#[test]
fn banana_at_high_acceptance_is_flagged_by_the_stability_check() {
    let m = models::model("banana").unwrap();
    let t = m.truth.as_ref().unwrap();
    let nuts = Sampler::Nuts(NutsOptions::default().target_accept(0.95));
    for seed in [5, 9] {
        let fit = sample(&m.target, &nuts, &RunOptions::default().seed(seed)).unwrap();
        let s = fit.summary();
        let err = s.rows[1].sd / t.sd[1] - 1.0;
        let d = fit.diagnostics();
        eprintln!(
            "banana δ = 0.95 seed {seed}: sd(y2) error {err:.3}, unstable steps {} of {}, warnings {:?}",
            d.unstable_steps, d.leapfrog_steps, s.warnings
        );
        assert!(
            err.abs() > 0.1,
            "seed {seed} is no longer a silent failure case"
        );
        assert!(
            s.warnings.iter().any(|w| w.contains("stability limit")),
            "seed {seed}: no stability warning"
        );
    }
    let g = models::model("corr10").unwrap();
    let fit = sample(
        &g.target,
        &Sampler::default(),
        &RunOptions::default().seed(1),
    )
    .unwrap();
    let d = fit.diagnostics();
    assert_eq!(d.unstable_steps, 0);
    assert!(d.leapfrog_steps > 20_000);
    assert!(!fit.warnings().iter().any(|w| w.contains("stability limit")));
}

#[test]
fn rwm_slice_ensemble_on_gaussian() {
    let target = corr_gaussian(3, 0.5);
    let truth = corr_sd(3);
    let run = RunOptions::default()
        .chains(4)
        .warmup(1000)
        .draws(3000)
        .seed(21);
    let rwm = sample(&target, &Sampler::Rwm(RwmOptions::default()), &run).unwrap();
    check_moments(&rwm, &[0.0; 3], &truth, 4.0, "rwm");
    let acc = rwm.diagnostics().mean_accept;
    assert!((acc - 0.234).abs() < 0.1, "rwm acceptance {acc}");
    let slice = sample(
        &target,
        &Sampler::Slice(SliceOptions::default()),
        &run.clone().draws(1500),
    )
    .unwrap();
    check_moments(&slice, &[0.0; 3], &truth, 4.0, "slice");
    let ens = sample(
        &target,
        &Sampler::Ensemble(EnsembleOptions::default()),
        &run.clone().chains(2),
    )
    .unwrap();
    assert_eq!(ens.n_chains(), 2 * 6, "walkers are reported as chains");
    check_moments(&ens, &[0.0; 3], &truth, 4.0, "ensemble");
}

/// Gaussian prior × Gaussian likelihood: the posterior is Gaussian in closed form.
#[test]
fn elliptical_slice_gaussian_posterior() {
    let dim = 3;
    let prior_cov = Array2::from_shape_fn((dim, dim), |(i, j)| {
        (-((i as f64 - j as f64).powi(2)) / 2.0).exp() + if i == j { 0.1 } else { 0.0 }
    });
    let prior_mean = Array1::from(vec![0.5, -0.5, 0.0]);
    let y = [1.0, 0.2, -0.7];
    let noise = 0.3;
    let lik = FnDensity::new(dim, move |f: &[f64]| {
        f.iter()
            .zip(&y)
            .map(|(a, b)| -0.5 * (a - b).powi(2) / noise)
            .sum()
    });
    // Posterior: Σ = (K⁻¹ + I/r)⁻¹, μ = Σ (K⁻¹ m + y/r).
    let kinv = pn_core::dense::cholesky(prior_cov.view())
        .unwrap()
        .solve_mat(Array2::eye(dim).view())
        .unwrap();
    let prec = &kinv + &(Array2::<f64>::eye(dim) / noise);
    let post_cov = pn_core::dense::cholesky(prec.view())
        .unwrap()
        .solve_mat(Array2::eye(dim).view())
        .unwrap();
    let rhs = kinv.dot(&prior_mean) + Array1::from(y.to_vec()) / noise;
    let post_mean = post_cov.dot(&rhs);
    let run = RunOptions::default()
        .chains(4)
        .warmup(200)
        .draws(2000)
        .seed(8);
    let fit = sample_elliptical(prior_mean.view(), prior_cov.view(), &lik, &run).unwrap();
    let sd: Vec<f64> = (0..dim).map(|i| post_cov[[i, i]].sqrt()).collect();
    check_moments(&fit, post_mean.as_slice().unwrap(), &sd, 4.0, "elliptical");
}

/// Over many seeded runs, the reported MCSEs match the actual errors: mean z² ≈ 1.
#[test]
fn mcse_is_calibrated_over_seeds() {
    let target = DiagGaussian {
        var: vec![1.0, 4.0, 0.25],
    };
    let mut z2 = Vec::new();
    for seed in 0..20 {
        let run = RunOptions::default()
            .chains(2)
            .warmup(200)
            .draws(200)
            .seed(1000 + seed);
        let fit = sample(&target, &Sampler::default(), &run).unwrap();
        for i in 0..3 {
            let x = fit.param(i);
            z2.push((x.mean().unwrap() / d::mcse_mean(x)).powi(2));
        }
    }
    let mean_z2 = z2.iter().sum::<f64>() / z2.len() as f64;
    eprintln!(
        "mean z² of (mean − truth)/MCSE over {} estimates: {mean_z2:.3}",
        z2.len()
    );
    // χ²₆₀/60 lies in [0.55, 1.55] with probability > 99.5 %.
    assert!((0.55..1.55).contains(&mean_z2), "mean z² = {mean_z2}");
}

#[test]
fn same_seed_same_draws_for_any_thread_count() {
    let m = models::model("eight-schools").unwrap();
    let run = RunOptions::default()
        .chains(3)
        .warmup(100)
        .draws(100)
        .seed(42);
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    for s in [
        Sampler::default(),
        Sampler::Slice(SliceOptions::default()),
        Sampler::Ensemble(EnsembleOptions::default()),
    ] {
        let a = pool(1).install(|| sample(&m.target, &s, &run).unwrap());
        let b = pool(3).install(|| sample(&m.target, &s, &run).unwrap());
        assert_eq!(a.draws, b.draws, "{}", s.name());
        assert_eq!(a.stats.accept_stat, b.stats.accept_stat);
        assert_eq!(a.stats.n_steps, b.stats.n_steps);
        let bits = |f: &Fit| {
            f.stats
                .energy
                .iter()
                .map(|e| e.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a), bits(&b));
        let c = sample(&m.target, &s, &run.clone().seed(43)).unwrap();
        assert_ne!(a.draws, c.draws);
    }
}

/// A funnel written over dual numbers: its exact gradient equals the hand-written one.
struct DualFunnel;
impl DualDensity for DualFunnel {
    fn dim(&self) -> usize {
        4
    }
    fn logp<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
        let v = x[0];
        let mut lp = v * v * (-1.0 / 18.0) - v * 1.5;
        for xi in &x[1..] {
            lp -= *xi * *xi * (-v).exp() * 0.5;
        }
        lp
    }
}

#[test]
fn autodiff_gradient_equals_hand_gradient() {
    let hand = models::Funnel { dim: 4 };
    let auto = AutoDiff(DualFunnel);
    for x in [[0.3, -1.0, 2.0, 0.5], [-2.0, 0.1, 0.0, -3.0]] {
        let (mut g1, mut g2) = ([0.0; 4], [0.0; 4]);
        let l1 = hand.logp_and_grad(&x, &mut g1);
        let l2 = auto.logp_and_grad(&x, &mut g2);
        assert!((l1 - l2).abs() < 1e-12);
        assert!((l1 - auto.logp(&x)).abs() < 1e-12);
        for i in 0..4 {
            assert!((g1[i] - g2[i]).abs() < 1e-12 * (1.0 + g1[i].abs()));
        }
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let run = RunOptions::default().chains(2).warmup(50).draws(50);
    // Zero dimension.
    let zero = FnDensityWithGrad::new(0, |_: &[f64], _: &mut [f64]| 0.0);
    assert_eq!(
        sample(&zero, &Sampler::default(), &run).unwrap_err(),
        Error::ZeroDimension
    );
    // +∞ log-density.
    let inf = FnDensityWithGrad::new(1, |x: &[f64], g: &mut [f64]| {
        g[0] = -x[0];
        if x[0] > 3.0 {
            f64::INFINITY
        } else {
            -0.5 * x[0] * x[0]
        }
    });
    let e = sample(
        &inf,
        &Sampler::default(),
        &run.clone().init(Init::Point(vec![4.0])),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InfiniteLogDensity { .. }), "{e}");
    // Initial point outside the support.
    let half = FnDensityWithGrad::new(1, |x: &[f64], g: &mut [f64]| {
        g[0] = -1.0;
        if x[0] < 0.0 { f64::NEG_INFINITY } else { -x[0] }
    });
    let e = sample(
        &half,
        &Sampler::default(),
        &run.clone().init(Init::Point(vec![-1.0])),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::InitialPointOutsideSupport { chain: 0, .. }),
        "{e}"
    );
    // Wrong-length or non-finite initial point.
    assert!(matches!(
        sample(
            &half,
            &Sampler::default(),
            &run.clone().init(Init::Point(vec![1.0, 2.0]))
        ),
        Err(Error::Core(_))
    ));
    assert!(matches!(
        sample(
            &half,
            &Sampler::default(),
            &run.clone().init(Init::Point(vec![f64::NAN]))
        ),
        Err(Error::Core(_))
    ));
    // Gradient-based sampler on a target without gradient.
    let nograd = FnDensity::new(2, |x: &[f64]| -0.5 * (x[0] * x[0] + x[1] * x[1]));
    assert_eq!(
        sample(&nograd, &Sampler::default(), &run).unwrap_err(),
        Error::GradientRequired { sampler: "nuts" }
    );
    // Zero chains/draws.
    assert!(matches!(
        sample(
            &nograd,
            &Sampler::Rwm(RwmOptions::default()),
            &run.clone().chains(0)
        ),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        sample(
            &nograd,
            &Sampler::Rwm(RwmOptions::default()),
            &run.clone().draws(0)
        ),
        Err(Error::InvalidOption { .. })
    ));
    // Options out of range.
    let g = DiagGaussian { var: vec![1.0] };
    assert!(matches!(
        sample(
            &g,
            &Sampler::Nuts(NutsOptions::default().target_accept(1.5)),
            &run
        ),
        Err(Error::InvalidOption {
            name: "target_accept",
            ..
        })
    ));
    assert!(matches!(
        sample(
            &g,
            &Sampler::Nuts(NutsOptions::default().max_depth(0)),
            &run
        ),
        Err(Error::InvalidOption {
            name: "max_depth",
            ..
        })
    ));
    assert!(matches!(
        sample(&g, &Sampler::Hmc(HmcOptions::default().n_steps(0)), &run),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        sample(
            &g,
            &Sampler::Ensemble(EnsembleOptions::default().a(0.5)),
            &run
        ),
        Err(Error::InvalidOption { name: "a", .. })
    ));
    // Schedule parameters out of range.
    for (adapt, name) in [
        (
            AdaptOptions::default().continuous(1.2, 10, 80, 1.5, 0.15),
            "early_fraction",
        ),
        (
            AdaptOptions::default().continuous(0.3, 10, 80, 1.5, -0.1),
            "final_fraction",
        ),
        (
            AdaptOptions::default().continuous(0.3, 10, 80, 0.5, 0.15),
            "window_growth",
        ),
        (
            AdaptOptions::default().continuous(0.3, 0, 80, 1.5, 0.15),
            "early_window/main_window",
        ),
    ] {
        let err = sample(
            &g,
            &Sampler::Nuts(NutsOptions::default().adapt(adapt)),
            &run,
        );
        assert!(
            matches!(&err, Err(Error::InvalidOption { name: n, .. }) if *n == name),
            "{name}: {err:?}"
        );
    }
    // Unknown model.
    assert!(matches!(models::model("nope"), Err(Error::UnknownModel(_))));
}

/// A NaN log-density is a rejection: counted, reported, and the answer stays right.
#[test]
fn nan_logp_is_a_counted_rejection() {
    // Standard normal restricted to |x| < 2, signalling the outside by NaN.
    let t = FnDensityWithGrad::new(1, |x: &[f64], g: &mut [f64]| {
        g[0] = -x[0];
        if x[0].abs() > 2.0 {
            f64::NAN
        } else {
            -0.5 * x[0] * x[0]
        }
    });
    let run = RunOptions::default()
        .chains(2)
        .warmup(300)
        .draws(1000)
        .seed(4);
    for s in [Sampler::default(), Sampler::Rwm(RwmOptions::default())] {
        let fit = sample(&t, &s, &run).unwrap();
        assert!(fit.param(0).iter().all(|v| v.abs() <= 2.0));
        let dg = fit.diagnostics();
        assert!(dg.nan_logp > 0, "{}", s.name());
        assert!(fit.warnings().iter().any(|w| w.contains("NaN")));
        // Truncated normal on (−2, 2): variance 1 − 2·2φ(2)/(2Φ(2) − 1).
        let phi2 = (-2.0f64).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let var = 1.0 - 4.0 * phi2 / 0.954_499_736_103_641_6;
        check_moments(&fit, &[0.0], &[var.sqrt()], 4.0, s.name());
    }
}

#[test]
fn observer_sees_progress_and_can_stop() {
    let target = DiagGaussian { var: vec![1.0; 2] };
    let run = RunOptions::default()
        .chains(2)
        .warmup(100)
        .draws(1000)
        .seed(1);
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let fit = sample_with_observer(&target, &Sampler::default(), &run, &|p: &Progress| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !p.warmup && p.iteration >= 300 {
            Control::Stop
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert!(
        fit.n_draws() < 1000 && fit.n_draws() >= 150,
        "{}",
        fit.n_draws()
    );
    assert!(seen.load(std::sync::atomic::Ordering::Relaxed) >= 400);
}

#[test]
fn csv_and_json_round_trip() {
    let target = DiagGaussian { var: vec![1.0; 2] };
    let fit = sample(
        &target,
        &Sampler::default(),
        &RunOptions::default().chains(2).warmup(50).draws(20).seed(2),
    )
    .unwrap();
    let mut buf = Vec::new();
    fit.write_csv(&mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * 20);
    assert!(lines[0].starts_with("chain,draw,x[0],x[1],accept_stat"));
    let v: f64 = lines[5].split(',').nth(3).unwrap().parse().unwrap();
    assert_eq!(v, fit.draws[[0, 4, 1]]);
    let j = fit.to_json().unwrap();
    let back: Vec<Vec<Vec<f64>>> = serde_json::from_value(j["draws"].clone()).unwrap();
    assert_eq!(back[1][7][0], fit.draws[[1, 7, 0]]);
    assert_eq!(j["summary"]["rows"].as_array().unwrap().len(), 2);
}

#[test]
fn logistic_regression_gradient_and_fit() {
    let m = models::model("logistic").unwrap();
    assert_eq!(m.target.dim(), 31);
    // Gradient against a central difference of the log-density (a check of the hand-written
    // gradient, not used by any algorithm).
    let x: Vec<f64> = (0..31).map(|i| 0.1 * ((i * 7 % 5) as f64 - 2.0)).collect();
    let mut g = vec![0.0; 31];
    m.target.logp_and_grad(&x, &mut g);
    for i in [0, 3, 17, 30] {
        let h = 1e-6;
        let (mut a, mut b) = (x.clone(), x.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (m.target.logp(&a) - m.target.logp(&b)) / (2.0 * h);
        assert!(
            (fd - g[i]).abs() < 1e-5 * (1.0 + g[i].abs()),
            "{i}: {fd} vs {}",
            g[i]
        );
    }
    let _: Arc<dyn LogDensity> = m.target.clone();
    let run = RunOptions::default()
        .chains(2)
        .warmup(200)
        .draws(200)
        .seed(9);
    let fit = m
        .report(&sample(&m.target, &Sampler::default(), &run).unwrap())
        .unwrap();
    let s = fit.summary();
    assert_eq!(s.rows[0].name, "intercept");
    assert!(max_rhat(&fit) < 1.05);
    // Benign cases dominate (357 of 569): a positive intercept on standardised features.
    assert!(s.rows[0].mean > 0.0);
}

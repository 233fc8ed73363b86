//! Efficiency of NUTS on catalogue targets: minimum bulk ESS per gradient evaluation (all
//! evaluations, warm-up included, and sampling phase only) and per second, 4 chains × (1000 +
//! 1000), several seeds, with what explains it: gradients spent in warm-up, mean leapfrog steps
//! per draw, the adapted step size, the mean acceptance statistic, how far the adapted metric's
//! diagonal is from the true variances (max over coordinates of |log(M⁻¹ᵢᵢ / Var xᵢ)|, median
//! over chains; only where the sampled coordinates' variances are known), whether the answer is
//! right (every reported mean within 5 MCSE and sd within 10 % of the truth, where known), the
//! largest relative error of a reported sd, and the number of warnings of the summary.
//! `WARMUP` in the environment sets the warm-up length (1000).
//!
//! ```text
//! cargo run --release -p pn-mcmc --example ess_per_grad -- [SEEDS [DELTA [TARGETS [METRICS [SCHEDULES]]]]]
//! ```
//!
//! SEEDS: number of seeds (3); DELTA: target acceptance (0.8); TARGETS: comma-separated
//! catalogue names or `bench` (diag100, corr10, gauss100: the default) or `all`; METRICS:
//! comma-separated from `diag`, `diag-grad`, `dense` (default: all three); SCHEDULES:
//! comma-separated from `stan`, `continuous`, `auto` (default: `stan,continuous`).
use std::time::Instant;

use pn_mcmc::diagnostics::{ess_bulk, mcse_mean, sd};
use pn_mcmc::{
    AdaptOptions, MetricKind, NutsOptions, RunOptions, Sampler, Schedule, models, sample,
};

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn list(arg: Option<String>, default: &[&str]) -> Vec<String> {
    match arg {
        Some(s) => s.split(',').map(str::to_string).collect(),
        None => default.iter().map(|s| s.to_string()).collect(),
    }
}

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let seeds: u64 = arg(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let delta: f64 = arg(2).and_then(|s| s.parse().ok()).unwrap_or(0.8);
    let bench = ["diag100", "corr10", "gauss100"];
    let targets = match arg(3).as_deref() {
        None | Some("bench") => bench.iter().map(|s| s.to_string()).collect(),
        Some("all") => models::NAMES.iter().map(|s| s.to_string()).collect(),
        Some(_) => list(arg(3), &[]),
    };
    let metrics = list(arg(4), &["diag", "diag-grad", "dense"]);
    let schedules = list(arg(5), &["stan", "continuous"]);
    let warmup: usize = std::env::var("WARMUP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    println!(
        "target,metric,schedule,seed,min_ess_bulk,grad_total,grad_warmup,grad_sampling,ess_per_grad_total,ess_per_grad_sampling,seconds,ess_per_second,divergences,steps_per_draw,step_size,mean_accept,metric_log_error,valid,worst_sd_error,warnings"
    );
    for name in &targets {
        let m = models::model(name).unwrap();
        // Variances of the sampled coordinates, where the model reports them unchanged.
        let var: Option<Vec<f64>> = match (&m.truth, &m.transform) {
            (Some(t), None) => Some(t.sd.iter().map(|s| s * s).collect()),
            _ => None,
        };
        for label in &metrics {
            let metric = match label.as_str() {
                "diag" => MetricKind::Diag,
                "diag-grad" => MetricKind::DiagGrad,
                "dense" => MetricKind::Dense,
                other => panic!("unknown metric {other}"),
            };
            for sched in &schedules {
                let schedule = match sched.as_str() {
                    "stan" => Schedule::Stan,
                    "continuous" => Schedule::Continuous,
                    "auto" => Schedule::Auto,
                    other => panic!("unknown schedule {other}"),
                };
                for seed in 0..seeds {
                    let run = RunOptions::default().seed(seed).warmup(warmup);
                    let adapt = AdaptOptions::default()
                        .metric(metric)
                        .schedule(schedule)
                        .target_accept(delta);
                    let s = Sampler::Nuts(NutsOptions::default().adapt(adapt));
                    let t = Instant::now();
                    let fit = sample(&m.target, &s, &run).unwrap();
                    let secs = t.elapsed().as_secs_f64();
                    let ess = (0..fit.dim())
                        .map(|i| ess_bulk(fit.param(i)))
                        .fold(f64::INFINITY, f64::min);
                    let valid = m.truth.as_ref().map(|t| {
                        let rep = m.report(&fit).unwrap();
                        (0..rep.dim()).all(|i| {
                            let x = rep.param(i);
                            let z = (x.mean().unwrap() - t.mean[i]) / mcse_mean(x);
                            z.abs() < 5.0 && (sd(x) / t.sd[i] - 1.0).abs() < 0.1
                        })
                    });
                    // The largest relative error of a reported sd.
                    let sd_err = m.truth.as_ref().map_or(f64::NAN, |t| {
                        let rep = m.report(&fit).unwrap();
                        (0..rep.dim())
                            .map(|i| sd(rep.param(i)) / t.sd[i] - 1.0)
                            .fold(0.0, |a: f64, e| if e.abs() > a.abs() { e } else { a })
                    });
                    let warnings = fit.warnings().len();
                    let diag = fit.diagnostics();
                    let total = diag.grad_evals as f64;
                    let sampling = fit.stats.n_steps.iter().sum::<usize>() as f64;
                    let draws = fit.stats.n_steps.len() as f64;
                    let metric_err = var.as_ref().map_or(f64::NAN, |var| {
                        median(
                            fit.inv_metric
                                .iter()
                                .flatten()
                                .map(|inv| {
                                    inv.iter()
                                        .zip(var)
                                        .map(|(a, v)| (a / v).ln().abs())
                                        .fold(0.0, f64::max)
                                })
                                .collect(),
                        )
                    });
                    println!(
                        "{name},{label},{sched},{seed},{ess:.0},{total},{},{sampling},{:.4},{:.4},{secs:.3},{:.0},{},{:.2},{:.4},{:.3},{metric_err:.3},{},{sd_err:.3},{warnings}",
                        total - sampling,
                        ess / total,
                        ess / sampling,
                        ess / secs,
                        diag.divergences,
                        sampling / draws,
                        median(diag.step_size.clone()),
                        diag.mean_accept,
                        valid.map_or("unknown".to_string(), |v| v.to_string()),
                    );
                }
            }
        }
    }
}

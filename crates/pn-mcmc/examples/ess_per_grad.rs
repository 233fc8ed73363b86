//! Efficiency of NUTS on the benchmark targets: minimum bulk ESS per gradient evaluation (all
//! evaluations, warm-up included, and sampling phase only) and per second, 4 chains × (1000 +
//! 1000), several seeds. `cargo run --release -p pn-mcmc --example ess_per_grad [-- SEEDS [DELTA [TARGET]]]`
//! (DELTA: target acceptance, default 0.8; TARGET: run only this catalogue model)
use std::time::Instant;

use pn_mcmc::diagnostics::ess_bulk;
use pn_mcmc::{MetricKind, NutsOptions, RunOptions, Sampler, models, sample};

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let delta: f64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.8);
    let only: Option<String> = std::env::args().nth(3);
    println!(
        "target,metric,seed,min_ess_bulk,grad_total,grad_sampling,ess_per_grad_total,ess_per_grad_sampling,seconds,ess_per_second,divergences"
    );
    for (name, metric) in [
        ("diag100", MetricKind::Diag),
        ("diag100", MetricKind::DiagGrad),
        ("corr10", MetricKind::Diag),
        ("corr10", MetricKind::DiagGrad),
        ("corr10", MetricKind::Dense),
        ("gauss100", MetricKind::Dense),
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let m = models::model(name).unwrap();
        for seed in 0..seeds {
            let run = RunOptions::default().seed(seed);
            let s = Sampler::Nuts(NutsOptions::default().metric(metric).target_accept(delta));
            let t = Instant::now();
            let fit = sample(&m.target, &s, &run).unwrap();
            let secs = t.elapsed().as_secs_f64();
            let ess = (0..fit.dim())
                .map(|i| ess_bulk(fit.param(i)))
                .fold(f64::INFINITY, f64::min);
            let total = fit.diagnostics().grad_evals as f64;
            let sampling = fit.stats.n_steps.iter().sum::<usize>() as f64;
            println!(
                "{name},{metric:?},{seed},{ess:.0},{total},{sampling},{:.4},{:.4},{secs:.3},{:.0},{}",
                ess / total,
                ess / sampling,
                ess / secs,
                fit.diagnostics().divergences
            );
        }
    }
}

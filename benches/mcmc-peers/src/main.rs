//! pn-mcmc NUTS vs nuts-rs 0.19 NUTS on the same log-densities (pn_mcmc::models, one shared
//! implementation), 4 chains × (1000 warm-up + 1000 draws), the same seeds; both run their 4
//! chains in parallel with rayon. Efficiency is measured with the same diagnostic for both
//! (pn_mcmc::diagnostics::ess_bulk, equal to ArviZ): the minimum over parameters of the bulk ESS,
//! per gradient evaluation (sampling phase and total) and per second. Before timing counts, each
//! run's answer is validated against the known truth (means within 5 MCSE, sds within 10 %).
//!
//! Output: CSV on stdout, one line per (target, sampler, seed); runs alternate pn / nuts-rs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ndarray::Array3;
use nuts_rs::rand::SeedableRng;
use nuts_rs::{Chain, CpuLogpFunc, CpuMath, DiagNutsSettings, HasDims, LogpError, LowRankNutsSettings, Settings};
use pn_mcmc::diagnostics::{ess_bulk, mcse_mean, sd};
use pn_mcmc::{AdaptOptions, LogDensity, MetricKind, NutsOptions, RunOptions, Sampler, models, sample};
use rayon::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("non-finite log-density")]
struct NonFinite;
impl LogpError for NonFinite {
    fn is_recoverable(&self) -> bool {
        true
    }
}

/// A pn-mcmc target as a nuts-rs log-density (the same code evaluates both samplers' targets).
struct Logp(Arc<dyn LogDensity>);

impl HasDims for Logp {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([("unconstrained_parameter".to_string(), self.0.dim() as u64), ("dim".to_string(), self.0.dim() as u64)])
    }
}

impl CpuLogpFunc for Logp {
    type LogpError = NonFinite;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn logp(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, NonFinite> {
        let lp = self.0.logp_and_grad(x, g);
        if lp.is_finite() { Ok(lp) } else { Err(NonFinite) }
    }
    fn expand_vector<R: nuts_rs::rand::Rng + ?Sized>(&mut self, _: &mut R, a: &[f64]) -> Result<Vec<f64>, nuts_rs::CpuMathError> {
        Ok(a.to_vec())
    }
}

struct Outcome {
    draws: Array3<f64>,
    grad_total: u64,
    grad_sampling: u64,
    seconds: f64,
    divergences: u64,
    /// Mean leapfrog steps per kept draw.
    steps_per_draw: f64,
    /// Median over chains of the mean step size of the sampling phase (nuts-rs jitters it).
    step_size: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

const CHAINS: usize = 4;
const TUNE: usize = 1000;
const DRAWS: usize = 1000;

fn run_nuts_rs(target: &Arc<dyn LogDensity>, seed: u64, low_rank: bool) -> Outcome {
    let d = target.dim();
    let start = Instant::now();
    let chains: Vec<(Vec<Vec<f64>>, u64, u64, u64, f64)> = (0..CHAINS)
        .into_par_iter()
        .map(|c| {
            let mut rng = nuts_rs::rand::rngs::StdRng::seed_from_u64(seed * 1000 + c as u64);
            let math = CpuMath::new(Logp(target.clone()));
            let mut chain: Box<dyn FnMut() -> (Box<[f64]>, nuts_rs::Progress)> = if low_rank {
                let s = LowRankNutsSettings { num_tune: TUNE as u64, num_draws: DRAWS as u64, num_chains: CHAINS, seed, ..Default::default() };
                let mut ch = s.new_chain(c as u64, math, &mut rng).unwrap();
                ch.set_position(&vec![0.5; d]).unwrap();
                Box::new(move || ch.draw().unwrap())
            } else {
                let s = DiagNutsSettings { num_tune: TUNE as u64, num_draws: DRAWS as u64, num_chains: CHAINS, seed, ..Default::default() };
                let mut ch = s.new_chain(c as u64, math, &mut rng).unwrap();
                ch.set_position(&vec![0.5; d]).unwrap();
                Box::new(move || ch.draw().unwrap())
            };
            let (mut out, mut total, mut sampling, mut div, mut eps) = (Vec::with_capacity(DRAWS), 0, 0, 0, 0.0);
            for _ in 0..TUNE + DRAWS {
                let (x, p) = chain();
                total += p.num_gradients;
                if !p.tuning {
                    sampling += p.num_gradients;
                    div += p.diverging as u64;
                    eps += p.step_size / DRAWS as f64;
                    out.push(x.to_vec());
                }
            }
            (out, total, sampling, div, eps)
        })
        .collect();
    let seconds = start.elapsed().as_secs_f64();
    let mut draws = Array3::zeros((CHAINS, DRAWS, d));
    for (c, (ch, ..)) in chains.iter().enumerate() {
        for (t, x) in ch.iter().enumerate() {
            for i in 0..d {
                draws[[c, t, i]] = x[i];
            }
        }
    }
    Outcome {
        draws,
        grad_total: chains.iter().map(|c| c.1).sum(),
        grad_sampling: chains.iter().map(|c| c.2).sum(),
        seconds,
        divergences: chains.iter().map(|c| c.3).sum(),
        steps_per_draw: chains.iter().map(|c| c.2).sum::<u64>() as f64 / (CHAINS * DRAWS) as f64,
        step_size: median(chains.iter().map(|c| c.4).collect()),
    }
}

fn run_pn(target: &Arc<dyn LogDensity>, seed: u64, adapt: &AdaptOptions) -> Outcome {
    let run = RunOptions::default().chains(CHAINS).warmup(TUNE).draws(DRAWS).seed(seed);
    let start = Instant::now();
    let fit = sample(target, &Sampler::Nuts(NutsOptions::default().adapt(adapt.clone())), &run).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let dg = fit.diagnostics();
    Outcome {
        grad_sampling: fit.stats.n_steps.iter().sum::<usize>() as u64,
        grad_total: dg.grad_evals,
        divergences: dg.divergences as u64,
        steps_per_draw: fit.stats.n_steps.iter().sum::<usize>() as f64 / fit.stats.n_steps.len() as f64,
        step_size: median(dg.step_size.clone()),
        draws: fit.draws,
        seconds,
    }
}

/// CPU time of the whole process in seconds (load-robust, unlike the wall clock).
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + 1e-9 * t.tv_nsec as f64
}

/// `time TARGET REPS`: the CPU time per gradient evaluation of both samplers on one chain each
/// (rayon on one thread, runs alternating, 1000 + 1000 iterations, seeds 0..REPS), and of the
/// log-density and gradient call alone. Prints one line per run and the medians.
fn timing(name: &str, reps: u64) {
    rayon::ThreadPoolBuilder::new().num_threads(1).build_global().unwrap();
    let m = models::model(name).unwrap();
    let d = m.target.dim();
    let (mut pn_t, mut rs_t) = (Vec::new(), Vec::new());
    println!("target,sampler,seed,cpu_seconds,gradients,ns_per_gradient,min_ess_bulk");
    for seed in 0..reps {
        for peer in ["pn-mcmc", "nuts-rs"] {
            // TIME_ONLY=pn-mcmc (or nuts-rs) runs one side alone (for a profiler).
            if std::env::var("TIME_ONLY").is_ok_and(|o| o != peer) {
                continue;
            }
            let t0 = cpu_seconds();
            let (draws, grads) = if peer == "pn-mcmc" {
                let run = RunOptions::default().chains(1).warmup(TUNE).draws(DRAWS).seed(seed);
                let fit = sample(&m.target, &Sampler::Nuts(NutsOptions::default()), &run).unwrap();
                let g = fit.diagnostics().grad_evals;
                (fit.draws, g)
            } else {
                let mut rng = nuts_rs::rand::rngs::StdRng::seed_from_u64(seed * 1000);
                let s = DiagNutsSettings { num_tune: TUNE as u64, num_draws: DRAWS as u64, num_chains: 1, seed, ..Default::default() };
                let mut ch = s.new_chain(0, CpuMath::new(Logp(m.target.clone())), &mut rng).unwrap();
                ch.set_position(&vec![0.5; d]).unwrap();
                let mut draws = Array3::zeros((1, DRAWS, d));
                let mut g = 0;
                for t in 0..TUNE + DRAWS {
                    let (x, p) = ch.draw().unwrap();
                    g += p.num_gradients;
                    if t >= TUNE {
                        for i in 0..d {
                            draws[[0, t - TUNE, i]] = x[i];
                        }
                    }
                }
                (draws, g)
            };
            let secs = cpu_seconds() - t0;
            let ess = if std::env::var("TIME_ONLY").is_ok() { f64::NAN } else { (0..d).map(|i| ess_bulk(draws.index_axis(ndarray::Axis(2), i))).fold(f64::INFINITY, f64::min) };
            let ns = 1e9 * secs / grads as f64;
            if peer == "pn-mcmc" { pn_t.push(ns) } else { rs_t.push(ns) }
            println!("{name},{peer},{seed},{secs:.4},{grads},{ns:.1},{ess:.0}");
        }
    }
    // The log-density and gradient alone, at a fixed point.
    let x: Vec<f64> = (0..d).map(|i| 0.1 * (i as f64).sin()).collect();
    let mut g = vec![0.0; d];
    let n = 2_000_000 / d.max(1);
    let t0 = cpu_seconds();
    let mut acc = 0.0;
    for _ in 0..n {
        acc += m.target.logp_and_grad(std::hint::black_box(&x), &mut g);
    }
    let ld = 1e9 * (cpu_seconds() - t0) / n as f64;
    if pn_t.is_empty() || rs_t.is_empty() {
        return;
    }
    let (a, b) = (median(pn_t), median(rs_t));
    println!("# medians ns/gradient: pn {a:.1}, nuts-rs {b:.1}, ratio pn/nuts-rs {:.3}; log-density+gradient alone {ld:.1} ns ({acc:.1e})", a / b);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("time") {
        let name = std::env::args().nth(2).unwrap_or_else(|| "diag100".into());
        let reps = std::env::args().nth(3).and_then(|s| s.parse().ok()).unwrap_or(5);
        return timing(&name, reps);
    }
    let seeds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    // Optional second argument: run only this target.
    let only = std::env::args().nth(2);
    println!("target,sampler,metric,seed,min_ess_bulk,grad_total,grad_sampling,ess_per_grad_sampling,ess_per_grad_total,seconds,ess_per_second,divergences,valid,steps_per_draw,step_size");
    // pn's rows: its defaults (the gradient-based diagonal metric on the continuous schedule),
    // Stan's warm-up exactly (AdaptOptions::stan()), and the dense metric; nuts-rs always runs
    // with its defaults (diagonal, or low-rank against pn's dense).
    for (name, label, adapt) in [
        ("diag100", "default", AdaptOptions::default()),
        ("diag100", "stan", AdaptOptions::stan()),
        ("corr10", "default", AdaptOptions::default()),
        ("corr10", "stan", AdaptOptions::stan()),
        ("corr10", "dense", AdaptOptions::default().metric(MetricKind::Dense)),
        ("funnel-nc", "default", AdaptOptions::default()),
        ("eight-schools", "default", AdaptOptions::default()),
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let dense = adapt.metric == MetricKind::Dense;
        let m = models::model(name).unwrap();
        let d = m.target.dim();
        // The truth of the sampled coordinates: the catalogue's where they are reported as
        // they are, standard normal for the non-centred funnel, none for eight schools.
        let truth: Option<(Vec<f64>, Vec<f64>)> = match name {
            "funnel-nc" => Some((vec![0.0; d], vec![1.0; d])),
            _ => m.truth.clone().filter(|_| m.transform.is_none()).map(|t| (t.mean, t.sd)),
        };
        for seed in 0..seeds {
            for peer in ["pn-mcmc", "nuts-rs"] {
                let o = if peer == "pn-mcmc" { run_pn(&m.target, seed, &adapt) } else { run_nuts_rs(&m.target, seed, dense) };
                let dim = o.draws.dim().2;
                let mut ess = f64::INFINITY;
                let mut valid = true;
                for i in 0..dim {
                    let x = o.draws.index_axis(ndarray::Axis(2), i);
                    ess = ess.min(ess_bulk(x));
                    if let Some((mean, s)) = &truth {
                        let z = (x.mean().unwrap() - mean[i]) / mcse_mean(x);
                        valid &= z.abs() < 5.0 && (sd(x) / s[i] - 1.0).abs() < 0.1;
                    }
                }
                let valid = if truth.is_some() { valid.to_string() } else { "no-truth".to_string() };
                let metric = match (peer, dense) {
                    ("pn-mcmc", _) => label,
                    (_, true) => "low-rank",
                    _ => "diag",
                };
                println!(
                    "{name},{peer},{metric},{seed},{ess:.0},{},{},{:.4},{:.4},{:.3},{:.0},{},{valid},{:.2},{:.4}",
                    o.grad_total,
                    o.grad_sampling,
                    ess / o.grad_sampling as f64,
                    ess / o.grad_total as f64,
                    o.seconds,
                    ess / o.seconds,
                    o.divergences,
                    o.steps_per_draw,
                    o.step_size
                );
            }
        }
    }
}

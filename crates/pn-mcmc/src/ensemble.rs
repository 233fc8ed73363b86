//! The affine-invariant ensemble sampler with the stretch move (Goodman & Weare 2010), updated
//! in two halves as in emcee (Foreman-Mackey et al. 2013).

use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::chain::{
    ChainOutput, Control, Counters, Progress, StepInfo, assemble, chain_rng, initial_point,
};
use crate::error::{Error, Result};
use crate::fit::{ChainStats, Fit};
use crate::options::{EnsembleOptions, Init, RunOptions};
use crate::rwm::eval;
use crate::target::LogDensity;

/// The number of walkers: the option, or `max(2d, 4)` rounded up to even.
pub(crate) fn walkers(d: usize, o: &EnsembleOptions) -> usize {
    let k = if o.walkers == 0 {
        (2 * d).max(4)
    } else {
        o.walkers
    };
    k + k % 2
}

/// Runs `run.chains` independent ensembles; walker `k` of ensemble `c` becomes chain
/// `c · K + k` of the fit.
pub(crate) fn run<T, O>(
    target: &T,
    o: &EnsembleOptions,
    run: &RunOptions,
    observer: &O,
) -> Result<Fit>
where
    T: LogDensity + ?Sized,
    O: Fn(&Progress) -> Control + Sync,
{
    let d = target.dim();
    if o.a.is_nan() || o.a <= 1.0 {
        return Err(Error::InvalidOption {
            name: "a",
            reason: format!("stretch scale must exceed 1, got {}", o.a),
        });
    }
    if o.walkers != 0 && o.walkers < 2 * d {
        return Err(Error::InvalidOption {
            name: "walkers",
            reason: format!(
                "need at least 2d = {} walkers for an ensemble that spans the space, got {}",
                2 * d,
                o.walkers
            ),
        });
    }
    let k = walkers(d, o);
    let per: Vec<Result<Vec<ChainOutput>>> = (0..run.chains)
        .into_par_iter()
        .map(|c| run_ensemble(target, o, run, c, k, observer))
        .collect();
    let mut outputs = Vec::with_capacity(run.chains * k);
    for p in per {
        outputs.extend(p?);
    }
    Ok(assemble(outputs, d, "ensemble", run, None))
}

fn run_ensemble<T, O>(
    target: &T,
    o: &EnsembleOptions,
    run: &RunOptions,
    c: usize,
    k: usize,
    observer: &O,
) -> Result<Vec<ChainOutput>>
where
    T: LogDensity + ?Sized,
    O: Fn(&Progress) -> Control + Sync,
{
    let d = target.dim();
    let mut rng = chain_rng(run.seed, c);
    let mut counters = Counters::default();
    // Initial walkers: independent random points, or a small ball around a given point.
    let mut xs: Vec<Vec<f64>> = Vec::with_capacity(k);
    let centre = match &run.init {
        Init::Point(x) => Some(x.clone()),
        Init::PerChain(xs) => Some(xs[c].clone()),
        _ => None,
    };
    for _ in 0..k {
        let x = match &centre {
            Some(x0) => {
                let mut ok = None;
                for _ in 0..100 {
                    let x: Vec<f64> = x0
                        .iter()
                        .map(|v| v + 1e-3 * (1.0 + v.abs()) * rng.sample::<f64, _>(StandardNormal))
                        .collect();
                    if eval(target, &x, &mut counters)?.is_finite() {
                        ok = Some(x);
                        break;
                    }
                }
                ok.ok_or(Error::InitialPointOutsideSupport {
                    chain: c,
                    logp: target.logp(x0),
                    x: x0.clone(),
                })?
            }
            None => initial_point(target, run, c, false, &mut rng)?,
        };
        xs.push(x);
    }
    let mut lps: Vec<f64> = Vec::with_capacity(k);
    for x in &xs {
        lps.push(eval(target, x, &mut counters)?);
    }
    let total = run.warmup + run.draws * run.thin;
    let mut draws: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(run.draws); k];
    let mut infos: Vec<Vec<StepInfo>> = vec![Vec::with_capacity(run.draws); k];
    let half = k / 2;
    let mut accept = vec![0.0; k];
    for it in 0..total {
        for (lo, hi, other) in [(0, half, half..k), (half, k, 0..half)] {
            for w in lo..hi {
                let j = rng.random_range(other.clone());
                let u: f64 = rng.random();
                let z = ((o.a - 1.0) * u + 1.0).powi(2) / o.a;
                let y: Vec<f64> = (0..d)
                    .map(|i| xs[j][i] + z * (xs[w][i] - xs[j][i]))
                    .collect();
                let lp_y = eval(target, &y, &mut counters)?;
                let log_q = (d as f64 - 1.0) * z.ln() + lp_y - lps[w];
                let a = if log_q.is_nan() {
                    0.0
                } else {
                    log_q.exp().min(1.0)
                };
                accept[w] = a;
                if rng.random::<f64>() < a {
                    xs[w] = y;
                    lps[w] = lp_y;
                }
            }
        }
        if it >= run.warmup && (it - run.warmup + 1).is_multiple_of(run.thin) {
            for w in 0..k {
                draws[w].push(xs[w].clone());
                infos[w].push(StepInfo {
                    accept_stat: accept[w],
                    tree_depth: 0,
                    n_steps: 1,
                    divergent: false,
                    energy: f64::NAN,
                    step_size: o.a,
                });
            }
        }
        let progress = Progress {
            chain: c,
            iteration: it + 1,
            total,
            warmup: it < run.warmup,
            divergences: 0,
        };
        if observer(&progress) == Control::Stop {
            break;
        }
    }
    // Evaluations are shared by the ensemble; they are reported on its first walker.
    Ok(draws
        .into_iter()
        .zip(infos)
        .enumerate()
        .map(|(w, (dr, inf))| {
            let mut stats = ChainStats::default();
            if w == 0 {
                stats.logp_evals = counters.logp_evals;
                stats.nan_logp = counters.nan_logp;
            }
            stats.step_size = o.a;
            ChainOutput {
                draws: dr,
                infos: inf,
                stats,
                inv_metric: None,
            }
        })
        .collect())
}

//! Running chains: the per-chain kernel interface, seeding, initialisation, and the parallel
//! driver that collects draws and statistics into a [`Fit`].

use ndarray::{Array2, Array3};
use rand::{Rng, RngCore};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::fit::{ChainStats, Fit, SamplerStats};
use crate::hmc::{HmcKernel, Trajectory};
use crate::options::{Init, RunOptions, Sampler};
use crate::target::LogDensity;

/// Evaluation counters of one chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub grad_evals: u64,
    pub logp_evals: u64,
    pub nan_logp: u64,
    /// Leapfrog steps after warm-up beyond the integrator's stability limit (NUTS, HMC).
    pub unstable_steps: u64,
}

/// What one transition reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepInfo {
    pub accept_stat: f64,
    pub tree_depth: usize,
    pub n_steps: usize,
    pub divergent: bool,
    pub energy: f64,
    pub step_size: f64,
}

/// One chain's transition kernel.
pub(crate) trait Kernel {
    /// One transition; adapts when `warmup`.
    fn step(&mut self, rng: &mut dyn RngCore, warmup: bool) -> Result<StepInfo>;
    /// Called once between warm-up and sampling (freezes adaptation).
    fn end_warmup(&mut self);
    /// The current state.
    fn position(&self) -> &[f64];
    /// Evaluation counters so far.
    fn counters(&self) -> &Counters;
    /// The adapted inverse metric's diagonal, for samplers that have one.
    fn inv_metric_diag(&self) -> Option<Vec<f64>> {
        None
    }
}

/// Progress of one chain, passed to the observer of [`sample_with_observer`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// The chain.
    pub chain: usize,
    /// Iterations done (warm-up and sampling together).
    pub iteration: usize,
    /// Total iterations of this chain.
    pub total: usize,
    /// Whether the chain is still warming up.
    pub warmup: bool,
    /// Divergent transitions so far in the sampling phase.
    pub divergences: usize,
}

/// What the observer tells the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop the chain that reported this progress after its current iteration; the fit keeps
    /// the draws made so far (the shortest chain sets the length). Other chains go on until
    /// the observer stops them too, so the result does not depend on thread scheduling.
    Stop,
}

/// The PCG stream of chain `chain` under `seed`: independent of threads and other chains.
pub fn chain_rng(seed: u64, chain: usize) -> Pcg64 {
    Pcg64::new(
        ((seed as u128) << 64) | 0x853c_49e6_748f_ea9b,
        chain as u128,
    )
}

/// Checks the dimension and the run options shared by all samplers.
pub(crate) fn validate(d: usize, run: &RunOptions) -> Result<()> {
    if d == 0 {
        return Err(Error::ZeroDimension);
    }
    if run.chains == 0 {
        return Err(Error::InvalidOption {
            name: "chains",
            reason: "must be at least 1".into(),
        });
    }
    if run.draws == 0 {
        return Err(Error::InvalidOption {
            name: "draws",
            reason: "must be at least 1".into(),
        });
    }
    if run.thin == 0 {
        return Err(Error::InvalidOption {
            name: "thin",
            reason: "must be at least 1".into(),
        });
    }
    let check = |x: &Vec<f64>| -> Result<()> {
        if x.len() != d {
            return Err(pn_core::Error::ShapeMismatch {
                op: "initial point",
                expected: vec![d],
                found: vec![x.len()],
            }
            .into());
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(pn_core::Error::NonFinite {
                what: "initial point",
                index: vec![i],
                value: x[i],
            }
            .into());
        }
        Ok(())
    };
    match &run.init {
        Init::Point(x) => check(x)?,
        Init::PerChain(xs) => {
            if xs.len() != run.chains {
                return Err(pn_core::Error::ShapeMismatch {
                    op: "initial points (one per chain)",
                    expected: vec![run.chains],
                    found: vec![xs.len()],
                }
                .into());
            }
            for x in xs {
                check(x)?;
            }
        }
        Init::Uniform(r) => pn_core::validate::positive("init radius", *r)?,
        Init::Random => {}
    }
    Ok(())
}

fn bad(name: &'static str, reason: String) -> Error {
    Error::InvalidOption { name, reason }
}

/// Checks the sampler's options.
pub(crate) fn validate_sampler(sampler: &Sampler) -> Result<()> {
    let adapt = |a: &crate::options::AdaptOptions| -> Result<()> {
        if !(a.target_accept > 0.0 && a.target_accept < 1.0) {
            return Err(bad(
                "target_accept",
                format!("must be in (0, 1), got {}", a.target_accept),
            ));
        }
        pn_core::validate::positive("gamma", a.gamma)?;
        pn_core::validate::positive("kappa", a.kappa)?;
        pn_core::validate::non_negative("t0", a.t0)?;
        pn_core::validate::positive("init_step_size", a.init_step_size)?;
        let frac = |name: &'static str, v: f64| -> Result<()> {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(bad(name, format!("must be in [0, 1), got {v}")))
            }
        };
        frac("early_fraction", a.early_fraction)?;
        frac("final_fraction", a.final_fraction)?;
        if a.early_window == 0 || a.main_window == 0 {
            return Err(bad("early_window/main_window", "must be at least 1".into()));
        }
        if !(a.window_growth >= 1.0 && a.window_growth.is_finite()) {
            return Err(bad(
                "window_growth",
                format!("must be a finite number ≥ 1, got {}", a.window_growth),
            ));
        }
        Ok(())
    };
    match sampler {
        Sampler::Nuts(o) => {
            if o.max_depth == 0 {
                return Err(bad("max_depth", "must be at least 1".into()));
            }
            pn_core::validate::positive("max_energy_error", o.max_energy_error)?;
            adapt(&o.adapt)
        }
        Sampler::Hmc(o) => {
            if o.n_steps == 0 {
                return Err(bad("n_steps", "must be at least 1".into()));
            }
            if !(0.0..1.0).contains(&o.jitter) {
                return Err(bad(
                    "jitter",
                    format!("must be in [0, 1), got {}", o.jitter),
                ));
            }
            pn_core::validate::positive("max_energy_error", o.max_energy_error)?;
            adapt(&o.adapt)
        }
        _ => Ok(()),
    }
}

/// The initial point of `chain`: given, or uniform on `(−r, r)ᵈ` until the density (and, if
/// `grad`, the gradient) is finite.
pub(crate) fn initial_point<T: LogDensity + ?Sized>(
    target: &T,
    run: &RunOptions,
    chain: usize,
    grad: bool,
    rng: &mut dyn RngCore,
) -> Result<Vec<f64>> {
    let d = target.dim();
    let ok = |x: &[f64]| -> Result<(bool, f64)> {
        let lp = if grad {
            let mut g = vec![0.0; d];
            let lp = target.logp_and_grad(x, &mut g);
            if lp.is_finite() && g.iter().any(|v| !v.is_finite()) {
                return Ok((false, f64::NAN));
            }
            lp
        } else {
            target.logp(x)
        };
        if lp == f64::INFINITY {
            return Err(Error::InfiniteLogDensity { x: x.to_vec() });
        }
        Ok((lp.is_finite(), lp))
    };
    let given = match &run.init {
        Init::Point(x) => Some(x.clone()),
        Init::PerChain(xs) => Some(xs[chain].clone()),
        _ => None,
    };
    if let Some(x) = given {
        let (good, lp) = ok(&x)?;
        if !good {
            return Err(Error::InitialPointOutsideSupport { chain, logp: lp, x });
        }
        return Ok(x);
    }
    let r = match run.init {
        Init::Uniform(r) => r,
        _ => 2.0,
    };
    const ATTEMPTS: usize = 100;
    for _ in 0..ATTEMPTS {
        let x: Vec<f64> = (0..d).map(|_| rng.random_range(-r..r)).collect();
        if ok(&x)?.0 {
            return Ok(x);
        }
    }
    Err(Error::NoInitialPoint {
        chain,
        attempts: ATTEMPTS,
    })
}

/// Everything one chain produced.
pub(crate) struct ChainOutput {
    pub draws: Vec<Vec<f64>>,
    pub infos: Vec<StepInfo>,
    pub stats: ChainStats,
    pub inv_metric: Option<Vec<f64>>,
}

/// Runs one chain: warm-up, then `draws × thin` iterations keeping every `thin`-th.
pub(crate) fn run_chain<O>(
    kernel: &mut dyn Kernel,
    rng: &mut dyn RngCore,
    run: &RunOptions,
    chain: usize,
    observer: &O,
) -> Result<ChainOutput>
where
    O: Fn(&Progress) -> Control + Sync,
{
    let total = run.warmup + run.draws * run.thin;
    let mut draws = Vec::with_capacity(run.draws);
    let mut infos = Vec::with_capacity(run.draws);
    let mut stats = ChainStats::default();
    let mut divergences = 0;
    for it in 0..total {
        let warm = it < run.warmup;
        if it == run.warmup {
            kernel.end_warmup();
        }
        let info = kernel.step(rng, warm)?;
        if warm {
            stats.warmup_divergences += info.divergent as usize;
        } else {
            divergences += info.divergent as usize;
            if (it - run.warmup + 1).is_multiple_of(run.thin) {
                draws.push(kernel.position().to_vec());
                infos.push(info);
            }
        }
        let progress = Progress {
            chain,
            iteration: it + 1,
            total,
            warmup: warm,
            divergences,
        };
        if observer(&progress) == Control::Stop {
            break;
        }
    }
    if run.warmup == total {
        kernel.end_warmup();
    }
    let c = kernel.counters();
    stats.grad_evals = c.grad_evals;
    stats.logp_evals = c.logp_evals;
    stats.nan_logp = c.nan_logp;
    stats.unstable_steps = c.unstable_steps;
    stats.divergences = divergences;
    stats.step_size = infos.last().map(|i| i.step_size).unwrap_or(f64::NAN);
    Ok(ChainOutput {
        draws,
        infos,
        stats,
        inv_metric: kernel.inv_metric_diag(),
    })
}

/// Assembles the chains into a [`Fit`] (truncated to the shortest chain if stopped early).
pub(crate) fn assemble(
    outputs: Vec<ChainOutput>,
    d: usize,
    sampler: &str,
    run: &RunOptions,
    max_tree_depth: Option<usize>,
) -> Fit {
    let m = outputs.len();
    let n = outputs.iter().map(|o| o.draws.len()).min().unwrap_or(0);
    let mut draws = Array3::zeros((m, n, d));
    let mut accept = Array2::zeros((m, n));
    let mut depth = Array2::zeros((m, n));
    let mut steps = Array2::zeros((m, n));
    let mut div = Array2::from_elem((m, n), false);
    let mut energy = Array2::zeros((m, n));
    let mut chains = Vec::with_capacity(m);
    let mut inv_metric = Vec::with_capacity(m);
    for (c, o) in outputs.into_iter().enumerate() {
        for t in 0..n {
            for i in 0..d {
                draws[[c, t, i]] = o.draws[t][i];
            }
            let s = &o.infos[t];
            accept[[c, t]] = s.accept_stat;
            depth[[c, t]] = s.tree_depth;
            steps[[c, t]] = s.n_steps;
            div[[c, t]] = s.divergent;
            energy[[c, t]] = s.energy;
        }
        let mut st = o.stats;
        st.max_depth_hits = match max_tree_depth {
            Some(md) => o
                .infos
                .iter()
                .take(n)
                .filter(|s| s.tree_depth >= md)
                .count(),
            None => 0,
        };
        chains.push(st);
        inv_metric.push(o.inv_metric);
    }
    Fit {
        draws,
        names: (0..d).map(|i| format!("x[{i}]")).collect(),
        sampler: sampler.to_string(),
        seed: run.seed,
        warmup: run.warmup,
        max_tree_depth,
        stats: SamplerStats {
            accept_stat: accept,
            tree_depth: depth,
            n_steps: steps,
            divergent: div,
            energy,
        },
        chains,
        inv_metric,
    }
}

/// Draws from `target` with `sampler`: `run.chains` chains in parallel (rayon), each seeded
/// from `(run.seed, chain)`, so the result is bit-identical for any number of threads.
///
/// For the ensemble sampler every walker is reported as a chain (as ArviZ does for emcee).
pub fn sample<T: LogDensity + ?Sized>(
    target: &T,
    sampler: &Sampler,
    run: &RunOptions,
) -> Result<Fit> {
    sample_with_observer(target, sampler, run, &|_: &Progress| Control::Continue)
}

/// [`sample`] with an observer called after every iteration of every chain (from the chain's
/// thread): for progress bars, logging, or stopping early with [`Control::Stop`].
pub fn sample_with_observer<T, O>(
    target: &T,
    sampler: &Sampler,
    run: &RunOptions,
    observer: &O,
) -> Result<Fit>
where
    T: LogDensity + ?Sized,
    O: Fn(&Progress) -> Control + Sync,
{
    let d = target.dim();
    validate(d, run)?;
    validate_sampler(sampler)?;
    if sampler.needs_gradient() && !target.has_gradient() {
        return Err(Error::GradientRequired {
            sampler: sampler.name(),
        });
    }
    if let Sampler::Ensemble(o) = sampler {
        return crate::ensemble::run(target, o, run, observer);
    }
    let outputs: Vec<Result<ChainOutput>> = (0..run.chains)
        .into_par_iter()
        .map(|c| {
            let mut rng = chain_rng(run.seed, c);
            let q0 = initial_point(target, run, c, sampler.needs_gradient(), &mut rng)?;
            let mut kernel: Box<dyn Kernel + '_> = match sampler {
                Sampler::Nuts(o) => Box::new(HmcKernel::new(
                    target,
                    &q0,
                    Trajectory::Nuts {
                        max_depth: o.max_depth,
                        max_energy_error: o.max_energy_error,
                    },
                    &o.adapt,
                    run.warmup,
                    c,
                    &mut rng,
                )?),
                Sampler::Hmc(o) => Box::new(HmcKernel::new(
                    target,
                    &q0,
                    Trajectory::Static {
                        n_steps: o.n_steps,
                        max_energy_error: o.max_energy_error,
                        jitter: o.jitter,
                    },
                    &o.adapt,
                    run.warmup,
                    c,
                    &mut rng,
                )?),
                Sampler::Rwm(o) => Box::new(crate::rwm::RwmKernel::new(target, &q0, o, c)?),
                Sampler::Slice(o) => Box::new(crate::slice::SliceKernel::new(target, &q0, o, c)?),
                Sampler::Ensemble(_) => unreachable!("handled above"),
            };
            run_chain(kernel.as_mut(), &mut rng, run, c, observer)
        })
        .collect();
    let outputs = outputs.into_iter().collect::<Result<Vec<_>>>()?;
    let depth = match sampler {
        Sampler::Nuts(o) => Some(o.max_depth),
        _ => None,
    };
    Ok(assemble(outputs, d, sampler.name(), run, depth))
}

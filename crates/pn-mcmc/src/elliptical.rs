//! Elliptical slice sampling (Murray, Adams & MacKay 2010) for posteriors
//! `p(f) ∝ N(f; μ, Σ) · L(f)` with a Gaussian prior, e.g. latent Gaussian-process models.

use ndarray::{ArrayView1, ArrayView2};
use rand::{Rng, RngCore};
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::chain::{
    ChainOutput, Control, Counters, Kernel, Progress, StepInfo, assemble, chain_rng, run_chain,
    validate,
};
use crate::error::{Error, Result};
use crate::fit::Fit;
use crate::hmc::cholesky;
use crate::options::{Init, RunOptions};
use crate::rwm::eval;
use crate::target::LogDensity;

struct EllipticalKernel<'a, L: ?Sized> {
    loglik: &'a L,
    mean: Vec<f64>,
    chol: Vec<f64>,
    f: Vec<f64>,
    ll: f64,
    counters: Counters,
}

impl<L: LogDensity + ?Sized> EllipticalKernel<'_, L> {
    fn prior_draw(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        let d = self.mean.len();
        let z: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        (0..d)
            .map(|i| (0..=i).map(|k| self.chol[i * d + k] * z[k]).sum())
            .collect()
    }
}

impl<L: LogDensity + ?Sized> Kernel for EllipticalKernel<'_, L> {
    fn step(&mut self, rng: &mut dyn RngCore, _warmup: bool) -> Result<StepInfo> {
        let d = self.mean.len();
        let nu = self.prior_draw(rng);
        let log_y = self.ll + rng.random::<f64>().ln();
        let mut theta = rng.random::<f64>() * std::f64::consts::TAU;
        let (mut lo, mut hi) = (theta - std::f64::consts::TAU, theta);
        let before = self.counters.logp_evals;
        let mut prop = vec![0.0; d];
        loop {
            let (s, c) = theta.sin_cos();
            for i in 0..d {
                prop[i] = (self.f[i] - self.mean[i]) * c + nu[i] * s + self.mean[i];
            }
            let ll = eval(self.loglik, &prop, &mut self.counters)?;
            if ll > log_y {
                self.f.copy_from_slice(&prop);
                self.ll = ll;
                break;
            }
            if theta < 0.0 {
                lo = theta;
            } else {
                hi = theta;
            }
            if hi - lo < 1e-12 {
                break; // shrunk onto the current state
            }
            theta = lo + rng.random::<f64>() * (hi - lo);
        }
        Ok(StepInfo {
            accept_stat: 1.0,
            tree_depth: 0,
            n_steps: (self.counters.logp_evals - before) as usize,
            divergent: false,
            energy: f64::NAN,
            step_size: f64::NAN,
        })
    }
    fn end_warmup(&mut self) {}
    fn position(&self) -> &[f64] {
        &self.f
    }
    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Draws from `p(f) ∝ N(f; mean, cov) · exp(loglik(f))` by elliptical slice sampling, with
/// `run.chains` chains in parallel. Only `loglik.logp` is used (no gradients).
///
/// With [`Init::Random`] each chain starts from a prior draw. Errors: shape mismatches, a
/// covariance that is not positive definite, a start with zero likelihood.
pub fn sample_elliptical<L: LogDensity + ?Sized>(
    mean: ArrayView1<'_, f64>,
    cov: ArrayView2<'_, f64>,
    loglik: &L,
    run: &RunOptions,
) -> Result<Fit> {
    let d = mean.len();
    validate(d, run)?;
    if cov.dim() != (d, d) {
        return Err(pn_core::Error::ShapeMismatch {
            op: "elliptical slice prior covariance",
            expected: vec![d, d],
            found: cov.shape().to_vec(),
        }
        .into());
    }
    if loglik.dim() != d {
        return Err(pn_core::Error::ShapeMismatch {
            op: "elliptical slice likelihood",
            expected: vec![d],
            found: vec![loglik.dim()],
        }
        .into());
    }
    if let Some((i, v)) = mean.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(pn_core::Error::NonFinite {
            what: "prior mean",
            index: vec![i],
            value: *v,
        }
        .into());
    }
    if let Some(((i, j), v)) = cov.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(pn_core::Error::NonFinite {
            what: "prior covariance",
            index: vec![i, j],
            value: *v,
        }
        .into());
    }
    // Row-major copy (iteration order of an ndarray view is logical, whatever its strides).
    let flat: Vec<f64> = cov.iter().copied().collect();
    let chol = cholesky(&flat, d).ok_or(Error::Core(pn_core::Error::NotPositiveDefinite {
        pivot: 0,
    }))?;
    let mean_v = mean.to_vec();
    let observer = |_: &Progress| Control::Continue;
    let outputs: Vec<Result<ChainOutput>> = (0..run.chains)
        .into_par_iter()
        .map(|c| {
            let mut rng = chain_rng(run.seed, c);
            let mut k = EllipticalKernel {
                loglik,
                mean: mean_v.clone(),
                chol: chol.clone(),
                f: mean_v.clone(),
                ll: 0.0,
                counters: Counters::default(),
            };
            let start = match &run.init {
                Init::Point(x) => Some(x.clone()),
                Init::PerChain(xs) => Some(xs[c].clone()),
                _ => None,
            };
            match start {
                Some(x) => {
                    let ll = eval(loglik, &x, &mut k.counters)?;
                    if !ll.is_finite() {
                        return Err(Error::InitialPointOutsideSupport {
                            chain: c,
                            logp: ll,
                            x,
                        });
                    }
                    k.f = x;
                    k.ll = ll;
                }
                None => {
                    let mut found = false;
                    for _ in 0..100 {
                        let z = k.prior_draw(&mut rng);
                        let x: Vec<f64> = z.iter().zip(&mean_v).map(|(a, m)| a + m).collect();
                        let ll = eval(loglik, &x, &mut k.counters)?;
                        if ll.is_finite() {
                            k.f = x;
                            k.ll = ll;
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Err(Error::NoInitialPoint {
                            chain: c,
                            attempts: 100,
                        });
                    }
                }
            }
            run_chain(&mut k, &mut rng, run, c, &observer)
        })
        .collect();
    let outputs = outputs.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(assemble(outputs, d, "elliptical", run, None))
}

//! Random-walk Metropolis with an adaptive Gaussian proposal (Haario et al. 2001) whose scale
//! is tuned by Robbins–Monro during warm-up (Andrieu & Thoms 2008).

use rand::{Rng, RngCore};
use rand_distr::StandardNormal;

use crate::chain::{Counters, Kernel, StepInfo};
use crate::error::{Error, Result};
use crate::hmc::{Welford, cholesky};
use crate::options::RwmOptions;
use crate::target::LogDensity;

/// Evaluates `log p`, counting; NaN is counted and returned as `−∞` (a rejection), `+∞` is an
/// error.
pub(crate) fn eval<T: LogDensity + ?Sized>(target: &T, x: &[f64], c: &mut Counters) -> Result<f64> {
    c.logp_evals += 1;
    let lp = target.logp(x);
    if lp.is_nan() {
        c.nan_logp += 1;
        return Ok(f64::NEG_INFINITY);
    }
    if lp == f64::INFINITY {
        return Err(Error::InfiniteLogDensity { x: x.to_vec() });
    }
    Ok(lp)
}

pub(crate) struct RwmKernel<'a, T: ?Sized> {
    target: &'a T,
    opts: RwmOptions,
    x: Vec<f64>,
    lp: f64,
    log_scale: f64,
    chol: Option<Vec<f64>>,
    est: Welford,
    iter: usize,
    counters: Counters,
}

impl<'a, T: LogDensity + ?Sized> RwmKernel<'a, T> {
    pub(crate) fn new(target: &'a T, x0: &[f64], opts: &RwmOptions, chain: usize) -> Result<Self> {
        if !(opts.target_accept > 0.0 && opts.target_accept < 1.0) {
            return Err(Error::InvalidOption {
                name: "target_accept",
                reason: format!("must be in (0, 1), got {}", opts.target_accept),
            });
        }
        let d = x0.len();
        let mut counters = Counters::default();
        let lp = eval(target, x0, &mut counters)?;
        if !lp.is_finite() {
            return Err(Error::InitialPointOutsideSupport {
                chain,
                logp: lp,
                x: x0.to_vec(),
            });
        }
        Ok(Self {
            target,
            opts: opts.clone(),
            x: x0.to_vec(),
            lp,
            log_scale: (2.38 / (d as f64).sqrt()).ln(),
            chol: None,
            est: Welford::new(d, true),
            iter: 0,
            counters,
        })
    }
}

impl<T: LogDensity + ?Sized> Kernel for RwmKernel<'_, T> {
    fn step(&mut self, rng: &mut dyn RngCore, warmup: bool) -> Result<StepInfo> {
        let d = self.x.len();
        let z: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        let s = self.log_scale.exp();
        let mut y = self.x.clone();
        match &self.chol {
            Some(l) => {
                for i in 0..d {
                    let lz: f64 = (0..=i).map(|k| l[i * d + k] * z[k]).sum();
                    y[i] += s * lz;
                }
            }
            None => {
                for i in 0..d {
                    y[i] += s * z[i];
                }
            }
        }
        let lp_y = eval(self.target, &y, &mut self.counters)?;
        let log_alpha = lp_y - self.lp;
        let alpha = if log_alpha.is_nan() {
            0.0
        } else {
            log_alpha.exp().min(1.0)
        };
        if rng.random::<f64>() < alpha {
            self.x = y;
            self.lp = lp_y;
        }
        if warmup {
            self.iter += 1;
            let t = self.iter as f64;
            self.log_scale += t.powf(-0.6) * (alpha - self.opts.target_accept);
            self.est.add(&self.x);
            if self.iter >= self.opts.covariance_start && self.iter.is_multiple_of(25) {
                let mut cov = self.est.regularised();
                for i in 0..d {
                    cov[i * d + i] += self.opts.epsilon;
                }
                if let Some(l) = cholesky(&cov, d) {
                    // Express the proposal relative to the estimated covariance; the scale
                    // restarts at the Gaussian optimum 2.38/√d the first time.
                    if self.chol.is_none() {
                        self.log_scale = (2.38 / (d as f64).sqrt()).ln();
                    }
                    self.chol = Some(l);
                }
            }
        }
        Ok(StepInfo {
            accept_stat: alpha,
            tree_depth: 0,
            n_steps: 1,
            divergent: false,
            energy: f64::NAN,
            step_size: s,
        })
    }
    fn end_warmup(&mut self) {}
    fn position(&self) -> &[f64] {
        &self.x
    }
    fn counters(&self) -> &Counters {
        &self.counters
    }
}

//! Coordinate-wise slice sampling with stepping out and shrinkage (Neal 2003, §4).

use rand::{Rng, RngCore};

use crate::chain::{Counters, Kernel, StepInfo};
use crate::error::{Error, Result};
use crate::options::SliceOptions;
use crate::rwm::eval;
use crate::target::LogDensity;

pub(crate) struct SliceKernel<'a, T: ?Sized> {
    target: &'a T,
    opts: SliceOptions,
    x: Vec<f64>,
    lp: f64,
    width: Vec<f64>,
    moved: Vec<f64>,
    iter: usize,
    counters: Counters,
}

impl<'a, T: LogDensity + ?Sized> SliceKernel<'a, T> {
    pub(crate) fn new(
        target: &'a T,
        x0: &[f64],
        opts: &SliceOptions,
        chain: usize,
    ) -> Result<Self> {
        pn_core::validate::positive("slice width", opts.width)?;
        if opts.max_steps == 0 {
            return Err(Error::InvalidOption {
                name: "max_steps",
                reason: "must be at least 1".into(),
            });
        }
        let mut counters = Counters::default();
        let lp = eval(target, x0, &mut counters)?;
        if !lp.is_finite() {
            return Err(Error::InitialPointOutsideSupport {
                chain,
                logp: lp,
                x: x0.to_vec(),
            });
        }
        let d = x0.len();
        Ok(Self {
            target,
            opts: opts.clone(),
            x: x0.to_vec(),
            lp,
            width: vec![opts.width; d],
            moved: vec![0.0; d],
            iter: 0,
            counters,
        })
    }

    fn logp_at(&mut self, i: usize, v: f64) -> Result<f64> {
        let old = self.x[i];
        self.x[i] = v;
        let lp = eval(self.target, &self.x, &mut self.counters);
        self.x[i] = old;
        lp
    }
}

impl<T: LogDensity + ?Sized> Kernel for SliceKernel<'_, T> {
    fn step(&mut self, rng: &mut dyn RngCore, warmup: bool) -> Result<StepInfo> {
        let d = self.x.len();
        let before = self.counters.logp_evals;
        for i in 0..d {
            let x0 = self.x[i];
            let w = self.width[i];
            // The slice level: log y = log p(x) − Exp(1).
            let log_y = self.lp + rng.random::<f64>().ln();
            let mut l = x0 - w * rng.random::<f64>();
            let mut r = l + w;
            let mut j = (self.opts.max_steps as f64 * rng.random::<f64>()) as usize;
            let mut k = self.opts.max_steps - 1 - j;
            while j > 0 && self.logp_at(i, l)? > log_y {
                l -= w;
                j -= 1;
            }
            while k > 0 && self.logp_at(i, r)? > log_y {
                r += w;
                k -= 1;
            }
            loop {
                let x1 = l + rng.random::<f64>() * (r - l);
                let lp1 = self.logp_at(i, x1)?;
                if lp1 > log_y {
                    self.x[i] = x1;
                    self.lp = lp1;
                    break;
                }
                if x1 < x0 {
                    l = x1;
                } else {
                    r = x1;
                }
                if r - l <= f64::EPSILON * (1.0 + x0.abs()) {
                    break; // the interval has shrunk onto the current point
                }
            }
            if warmup {
                self.moved[i] += (self.x[i] - x0).abs();
            }
        }
        if warmup && self.opts.adapt_width {
            self.iter += 1;
            if self.iter >= 10 {
                for i in 0..d {
                    let w = 2.0 * self.moved[i] / self.iter as f64;
                    if w > 0.0 && w.is_finite() {
                        self.width[i] = w;
                    }
                }
            }
        }
        Ok(StepInfo {
            accept_stat: 1.0,
            tree_depth: 0,
            n_steps: (self.counters.logp_evals - before) as usize,
            divergent: false,
            energy: f64::NAN,
            step_size: self.width.iter().sum::<f64>() / d as f64,
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

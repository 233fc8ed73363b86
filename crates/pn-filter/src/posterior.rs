//! Running a filter over a time grid, and the filtering and smoothing posteriors it returns.

use std::sync::Arc;

use ndarray::{Array1, Array2, Axis};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::{Error, Result};
use crate::kalman::{
    BackwardKernel, Observation, SqrtGaussian, UpdateInfo, predict, predict_with_kernel, update,
};
use crate::prior::GaussMarkov;

/// A Kalman filter stepping forward in time: [`predict_to`](Self::predict_to) a new time,
/// optionally [`update`](Self::update) on an observation, and [`finish`](Self::finish) into a
/// [`FilterPosterior`] that can smooth, sample and interpolate.
#[derive(Debug, Clone)]
pub struct KalmanFilter {
    prior: Arc<dyn GaussMarkov>,
    times: Vec<f64>,
    filtered: Vec<SqrtGaussian>,
    kernels: Vec<BackwardKernel>,
    diffusions: Vec<f64>,
    precond: Array1<f64>,
    log_likelihood: f64,
}

impl KalmanFilter {
    /// Start at time `t0` with the belief `init` over the state (of the prior's state size).
    pub fn new(prior: Arc<dyn GaussMarkov>, init: SqrtGaussian, t0: f64) -> Result<Self> {
        let n = prior.state_dim();
        if init.mean.len() != n {
            return Err(pn_core::Error::ShapeMismatch {
                op: "KalmanFilter::new (initial state)",
                expected: vec![n],
                found: vec![init.mean.len()],
            }
            .into());
        }
        if !t0.is_finite() {
            return Err(pn_core::Error::NonFinite {
                what: "t0",
                index: vec![],
                value: t0,
            }
            .into());
        }
        Ok(Self {
            prior,
            times: vec![t0],
            filtered: vec![init],
            kernels: Vec::new(),
            diffusions: Vec::new(),
            precond: Array1::ones(n),
            log_likelihood: 0.0,
        })
    }

    /// The current time.
    pub fn time(&self) -> f64 {
        *self.times.last().expect("never empty")
    }

    /// The current belief.
    pub fn state(&self) -> &SqrtGaussian {
        self.filtered.last().expect("never empty")
    }

    /// The log-likelihood of all observations so far, `Σ log p(y_k | y_{<k})`.
    pub fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }

    /// Predict to a later time `t` (storing the backward kernel for smoothing).
    pub fn predict_to(&mut self, t: f64) -> Result<()> {
        self.predict_to_scaled(t, 1.0)
    }

    /// Predict to a later time `t` with the prior's process noise scaled by the diffusion
    /// `σ² > 0` on this step (local calibration, as in ODE filters).
    pub fn predict_to_scaled(&mut self, t: f64, diffusion: f64) -> Result<()> {
        pn_core::validate::non_negative("diffusion", diffusion)?;
        let now = self.time();
        if !(t.is_finite() && t > now) {
            return Err(Error::NonIncreasingTimes {
                index: self.times.len(),
                value: t,
                previous: now,
            });
        }
        let tr = self.prior.transition(t - now)?.scaled(diffusion);
        let (pred, kernel) = predict_with_kernel(self.state(), &tr)?;
        self.precond = tr.precond;
        self.times.push(t);
        self.filtered.push(pred);
        self.kernels.push(kernel);
        self.diffusions.push(diffusion);
        Ok(())
    }

    /// Condition the current belief on an observation.
    pub fn update(&mut self, obs: &Observation) -> Result<UpdateInfo> {
        let (post, info) = update(self.state(), obs, &self.precond)?;
        *self.filtered.last_mut().expect("never empty") = post;
        self.log_likelihood += info.log_likelihood;
        Ok(info)
    }

    /// The filtering posterior over the whole grid visited.
    pub fn finish(self) -> FilterPosterior {
        FilterPosterior {
            prior: self.prior,
            times: self.times,
            filtered: self.filtered,
            kernels: self.kernels,
            diffusions: self.diffusions,
            log_likelihood: self.log_likelihood,
        }
    }
}

/// Filter a sequence: start from `init` at `times[0]`, and at every `times[k]` condition on
/// `observations[k]` (if any). `times` must be finite and strictly increasing.
pub fn filter(
    prior: Arc<dyn GaussMarkov>,
    init: SqrtGaussian,
    times: &[f64],
    observations: &[Option<Observation>],
) -> Result<FilterPosterior> {
    if times.is_empty() {
        return Err(pn_core::Error::Empty { what: "times" }.into());
    }
    if observations.len() != times.len() {
        return Err(pn_core::Error::ShapeMismatch {
            op: "filter (one observation slot per time)",
            expected: vec![times.len()],
            found: vec![observations.len()],
        }
        .into());
    }
    let mut kf = KalmanFilter::new(prior, init, times[0])?;
    for (k, (&t, obs)) in times.iter().zip(observations).enumerate() {
        if k > 0 {
            kf.predict_to(t)?;
        }
        if let Some(obs) = obs {
            kf.update(obs)?;
        }
    }
    Ok(kf.finish())
}

/// The filtering posterior: beliefs `p(x_k | y_{≤k})` at every time, the backward kernels that
/// turn them into the smoothing posterior, and the marginal likelihood of the data.
#[derive(Debug, Clone)]
pub struct FilterPosterior {
    prior: Arc<dyn GaussMarkov>,
    times: Vec<f64>,
    filtered: Vec<SqrtGaussian>,
    kernels: Vec<BackwardKernel>,
    /// The diffusion used on each step (one fewer than times).
    diffusions: Vec<f64>,
    log_likelihood: f64,
}

impl FilterPosterior {
    /// Assemble the posterior from filtering beliefs computed elsewhere (e.g. by a specialised
    /// forward pass): `filtered[k]` at `times[k]`, and the diffusion `diffusions[k]` used on the
    /// step `times[k] → times[k + 1]`. The backward kernels are computed here, from each filtered
    /// belief and the prior's transition over its step; the marginal likelihood is not known and
    /// is set to `log_likelihood`.
    ///
    /// Errors: lengths that do not fit (`times`, `filtered` non-empty and equal, one diffusion
    /// per step), states of the wrong size, times not increasing.
    pub fn from_filtered(
        prior: Arc<dyn GaussMarkov>,
        times: Vec<f64>,
        filtered: Vec<SqrtGaussian>,
        diffusions: Vec<f64>,
        log_likelihood: f64,
    ) -> Result<Self> {
        if times.is_empty() {
            return Err(pn_core::Error::Empty { what: "times" }.into());
        }
        if filtered.len() != times.len() || diffusions.len() + 1 != times.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "FilterPosterior::from_filtered (times, filtered, diffusions)",
                expected: vec![times.len(), times.len(), times.len() - 1],
                found: vec![times.len(), filtered.len(), diffusions.len()],
            }
            .into());
        }
        let n = prior.state_dim();
        if let Some(f) = filtered
            .iter()
            .find(|f| f.mean.len() != n || f.chol.dim() != (n, n))
        {
            return Err(pn_core::Error::ShapeMismatch {
                op: "FilterPosterior::from_filtered (state)",
                expected: vec![n, n],
                found: vec![f.mean.len(), f.chol.nrows()],
            }
            .into());
        }
        let mut kernels = Vec::with_capacity(diffusions.len());
        for k in 0..diffusions.len() {
            let h = times[k + 1] - times[k];
            if h.is_nan() || h <= 0.0 {
                return Err(Error::NonIncreasingTimes {
                    index: k + 1,
                    value: times[k + 1],
                    previous: times[k],
                });
            }
            pn_core::validate::non_negative("diffusion", diffusions[k])?;
            let tr = prior.transition(h)?.scaled(diffusions[k]);
            kernels.push(predict_with_kernel(&filtered[k], &tr)?.1);
        }
        Ok(Self {
            prior,
            times,
            filtered,
            kernels,
            diffusions,
            log_likelihood,
        })
    }

    /// The diffusion `σ²` used on each step (`times − 1` entries).
    pub fn diffusions(&self) -> &[f64] {
        &self.diffusions
    }

    /// Scale every covariance by `s > 0` — the global (quasi-maximum-likelihood) calibration of
    /// a filter run with unit diffusion: filtered beliefs, backward kernels and per-step
    /// diffusions are scaled, gains and means are unchanged.
    pub fn calibrate(&mut self, s: f64) -> Result<()> {
        pn_core::validate::positive("s", s)?;
        for f in &mut self.filtered {
            *f = f.scaled(s);
        }
        for k in &mut self.kernels {
            *k = k.scaled(s);
        }
        for d in &mut self.diffusions {
            *d *= s;
        }
        Ok(())
    }

    /// The time grid.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// The filtering beliefs `p(x_k | y_{≤k})`.
    pub fn filtered(&self) -> &[SqrtGaussian] {
        &self.filtered
    }

    /// `log p(y_1, …, y_N)`, the marginal likelihood of all observations under the prior.
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.log_likelihood
    }

    /// Rauch–Tung–Striebel smoothing in square-root form: `p(x_k | y_{1:N})` at every time, by
    /// pushing each smoothed belief back through the stored backward kernel.
    pub fn smooth(&self) -> Result<SmoothPosterior> {
        let n = self.filtered.len();
        let mut smoothed = vec![self.filtered[n - 1].clone(); n];
        for k in (0..n - 1).rev() {
            smoothed[k] = self.kernels[k].marginalise(&smoothed[k + 1])?;
        }
        Ok(SmoothPosterior {
            diffusions: self.diffusions.clone(),
            prior: self.prior.clone(),
            times: self.times.clone(),
            smoothed,
            filtered: self.filtered.clone(),
        })
    }

    /// `n` joint draws of the whole trajectory from the smoothing posterior, by backward
    /// sampling: `x_N ~ p(x_N | y)`, then `x_k ~ p(x_k | x_{k+1}, y_{≤k})`. Each draw is a
    /// `times × state` matrix.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Vec<Array2<f64>> {
        let steps = self.filtered.len();
        let d = self.prior.state_dim();
        let mut normal =
            |len: usize| Array1::from_shape_simple_fn(len, || rng.sample::<f64, _>(StandardNormal));
        (0..n)
            .map(|_| {
                let mut out = Array2::zeros((steps, d));
                let last = &self.filtered[steps - 1];
                let z = normal(d);
                out.row_mut(steps - 1)
                    .assign(&(&last.mean + &last.chol.dot(&z)));
                for k in (0..steps - 1).rev() {
                    let z = normal(d);
                    let next = out.row(k + 1).to_owned();
                    out.row_mut(k)
                        .assign(&self.kernels[k].sample_given(next.view(), z.view()));
                }
                out
            })
            .collect()
    }

    /// The filtering belief at any time `t ≥ t₀`: at a grid time, the stored belief; in between
    /// or beyond, the prediction from the last grid time before `t`.
    pub fn at(&self, t: f64) -> Result<SqrtGaussian> {
        let (k, exact) = locate(&self.times, t)?;
        if exact {
            return Ok(self.filtered[k].clone());
        }
        let tr = self.prior.transition(t - self.times[k])?;
        predict(
            &self.filtered[k],
            &tr.scaled(diffusion_after(&self.diffusions, k)),
        )
    }
}

/// The smoothing posterior `p(x(t) | all data)`, available at any time.
#[derive(Debug, Clone)]
pub struct SmoothPosterior {
    diffusions: Vec<f64>,
    prior: Arc<dyn GaussMarkov>,
    times: Vec<f64>,
    smoothed: Vec<SqrtGaussian>,
    filtered: Vec<SqrtGaussian>,
}

impl SmoothPosterior {
    /// The time grid.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// The smoothed beliefs at the grid times.
    pub fn marginals(&self) -> &[SqrtGaussian] {
        &self.smoothed
    }

    /// The smoothing belief at any `t ≥ t₀`. Between grid times `t_k < t < t_{k+1}`: predict the
    /// filtering belief to `t`, then condition on the smoothed `x_{k+1}` through the backward
    /// kernel of the step `t → t_{k+1}`; beyond the grid it is the prediction.
    pub fn at(&self, t: f64) -> Result<SqrtGaussian> {
        let (k, exact) = locate(&self.times, t)?;
        if exact {
            return Ok(self.smoothed[k].clone());
        }
        let diffusion = diffusion_after(&self.diffusions, k);
        let to_t = self.prior.transition(t - self.times[k])?.scaled(diffusion);
        if k + 1 == self.times.len() {
            return predict(&self.smoothed[k], &to_t);
        }
        let at_t = predict(&self.filtered[k], &to_t)?;
        let onward = self
            .prior
            .transition(self.times[k + 1] - t)?
            .scaled(diffusion);
        let (_, kernel) = predict_with_kernel(&at_t, &onward)?;
        kernel.marginalise(&self.smoothed[k + 1])
    }

    /// Means and standard deviations of the `k`-th derivative of every coordinate at the given
    /// times, as two `times × d` matrices.
    pub fn derivative_at(&self, k: usize, ts: &[f64]) -> Result<(Array2<f64>, Array2<f64>)> {
        let e = self.prior.projection(k);
        let d = e.nrows();
        let mut means = Array2::zeros((ts.len(), d));
        let mut stds = Array2::zeros((ts.len(), d));
        for (i, &t) in ts.iter().enumerate() {
            let b = self.at(t)?;
            means.row_mut(i).assign(&e.dot(&b.mean));
            let el = e.dot(&b.chol);
            stds.row_mut(i)
                .assign(&el.map_axis(Axis(1), |r| r.dot(&r).sqrt()));
        }
        Ok((means, stds))
    }
}

/// The diffusion between `times[k]` and `times[k+1]`, or of the last step beyond the grid.
fn diffusion_after(diffusions: &[f64], k: usize) -> f64 {
    diffusions
        .get(k)
        .or(diffusions.last())
        .copied()
        .unwrap_or(1.0)
}

/// The index of the last grid time `≤ t`, and whether it equals `t`.
fn locate(times: &[f64], t: f64) -> Result<(usize, bool)> {
    if !t.is_finite() || t < times[0] {
        return Err(Error::TimeOutOfRange { t, t0: times[0] });
    }
    let k = times.partition_point(|&s| s <= t) - 1;
    Ok((k, times[k] == t))
}

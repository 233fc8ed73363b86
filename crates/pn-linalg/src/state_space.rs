//! State-space Gaussian processes: exact GP regression on 1-D inputs in `O(n)`.
//!
//! A Matérn-ν kernel with half-integer `ν = p + ½` is the covariance of a linear SDE with a
//! `(p+1)`-dimensional state (Hartikainen & Särkkä, 2010), and a sum of such kernels is the sum
//! of independent processes. On sorted inputs, the GP posterior and its marginal likelihood are
//! then computed by the square-root Kalman filter and RTS smoother of `pn-filter` at a cost
//! linear in the number of data points — the same numbers as the dense `O(n³)` computation, to
//! round-off.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1, Axis};
use pn_core::Covariance;
use pn_filter::{GaussMarkov, Matern, Observation, SmoothPosterior, SqrtGaussian, Stacked, filter};

use crate::error::Result;

/// Half-integer smoothness of a Matérn kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nu {
    /// `ν = ½` (exponential kernel, Ornstein–Uhlenbeck process).
    Half,
    /// `ν = 3/2`.
    ThreeHalves,
    /// `ν = 5/2`.
    FiveHalves,
}

impl Nu {
    fn p(self) -> usize {
        match self {
            Nu::Half => 0,
            Nu::ThreeHalves => 1,
            Nu::FiveHalves => 2,
        }
    }
}

/// One Matérn component `σ² k_ν(|x − x'| / ℓ)` of the kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaternComponent {
    /// Smoothness.
    pub nu: Nu,
    /// Lengthscale `ℓ > 0`.
    pub lengthscale: f64,
    /// Variance (output scale) `σ² > 0`.
    pub variance: f64,
}

/// GP regression `y = f(x) + ε`, `f ~ GP(0, Σᵢ kᵢ)`, `ε ~ N(0, σ_n²)`, on 1-D inputs, solved in
/// state-space form.
#[derive(Debug, Clone)]
pub struct StateSpaceGp {
    prior: Arc<Stacked>,
    noise_variance: f64,
}

impl StateSpaceGp {
    /// A GP with the kernel `Σᵢ componentsᵢ` and observation noise variance `σ_n² ≥ 0`.
    /// Errors on an empty list, invalid hyperparameters or a negative/non-finite noise.
    pub fn new(components: &[MaternComponent], noise_variance: f64) -> Result<Self> {
        pn_core::validate::non_negative("noise_variance", noise_variance)?;
        let parts = components
            .iter()
            .map(|c| {
                Matern::new(c.nu.p(), c.lengthscale, c.variance, 1)
                    .map(|m| Arc::new(m) as Arc<dyn GaussMarkov>)
            })
            .collect::<pn_filter::Result<Vec<_>>>()?;
        Ok(Self {
            prior: Arc::new(Stacked::new(parts)?),
            noise_variance,
        })
    }

    /// Condition on data `(xᵢ, yᵢ)` (any order; repeated inputs allowed). Cost `O(n log n)`
    /// for the sort and `O(n)` for the filter and smoother.
    pub fn fit(
        &self,
        x: ArrayView1<'_, f64>,
        y: ArrayView1<'_, f64>,
    ) -> Result<StateSpacePosterior> {
        if x.len() != y.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "StateSpaceGp::fit (x and y)",
                expected: vec![x.len()],
                found: vec![y.len()],
            }
            .into());
        }
        if x.is_empty() {
            return Err(pn_core::Error::Empty { what: "data" }.into());
        }
        for (what, a) in [("x", &x), ("y", &y)] {
            if let Some(i) = a.iter().position(|v| !v.is_finite()) {
                return Err(pn_core::Error::NonFinite {
                    what,
                    index: vec![i],
                    value: a[i],
                }
                .into());
            }
        }
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
        // Group repeated inputs into one observation with several rows.
        let h1 = self.prior.value_sum();
        let mut times = Vec::new();
        let mut obs = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let t = x[order[i]];
            let mut j = i;
            while j < order.len() && x[order[j]] == t {
                j += 1;
            }
            let m = j - i;
            let h = Array2::from_shape_fn((m, h1.ncols()), |(_, c)| h1[[0, c]]);
            let ys = Array1::from_iter(order[i..j].iter().map(|&k| y[k]));
            let noise = Covariance::scaled_identity(m, self.noise_variance)?;
            times.push(t);
            obs.push(Some(Observation::new(h, &noise, ys)?));
            i = j;
        }
        let init = self.prior.stationary().ok_or(pn_core::Error::Unsupported {
            what: "a prior without a stationary distribution",
        })?;
        let post = filter(
            self.prior.clone(),
            SqrtGaussian::from_gaussian(&init)?,
            &times,
            &obs,
        )?;
        Ok(StateSpacePosterior {
            log_marginal_likelihood: post.log_marginal_likelihood(),
            smooth: post.smooth()?,
            h: h1,
            t0: times[0],
            prior: self.prior.clone(),
        })
    }
}

/// The posterior of a [`StateSpaceGp`].
#[derive(Debug, Clone)]
pub struct StateSpacePosterior {
    smooth: SmoothPosterior,
    h: Array2<f64>,
    t0: f64,
    prior: Arc<Stacked>,
    log_marginal_likelihood: f64,
}

impl StateSpacePosterior {
    /// `log p(y)`, the log marginal likelihood of the data.
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.log_marginal_likelihood
    }

    /// Posterior mean and variance of the latent `f` at the test inputs (any order).
    pub fn predict(&self, x: ArrayView1<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let mut mean = Array1::zeros(x.len());
        let mut var = Array1::zeros(x.len());
        for (i, &t) in x.iter().enumerate() {
            let b = if t >= self.t0 {
                self.smooth.at(t)?
            } else {
                self.before_start(t)?
            };
            mean[i] = self.h.row(0).dot(&b.mean);
            let hl = self.h.dot(&b.chol);
            var[i] = hl.index_axis(Axis(0), 0).dot(&hl.index_axis(Axis(0), 0));
        }
        Ok((mean, var))
    }

    /// Left of the first input: the stationary prior at `t` conditioned on the smoothed state
    /// at the first input, through the backward kernel of the step `t → t₀` (the stationary
    /// prior is time-reversible in distribution, so the forward kernel from `t` is exact).
    fn before_start(&self, t: f64) -> Result<SqrtGaussian> {
        let init = self.prior.stationary().ok_or(pn_core::Error::Unsupported {
            what: "a prior without a stationary distribution",
        })?;
        let at_t = SqrtGaussian::from_gaussian(&init)?;
        let tr = self.prior.transition(self.t0 - t)?;
        let (_, kernel) = pn_filter::kalman::predict_with_kernel(&at_t, &tr)?;
        Ok(kernel.marginalise(&self.smooth.marginals()[0])?)
    }
}

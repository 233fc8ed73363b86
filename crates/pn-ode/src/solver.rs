//! The ODE filter: EK0 and EK1 with adaptive steps and diffusion calibration.
//!
//! Each step predicts the state `X = (x, x', …, x^{(q)})` under the IWP(q) prior, linearises
//! the information operator `z(X) = E₁X − f(t, E₀X)` at the predicted mean — EK0 with
//! `H = E₁`, EK1 with `H = E₁ − J E₀`, `J = ∂f/∂x` — and conditions on `z = 0` by the
//! square-root Kalman update of pn-filter, in preconditioned coordinates.
//!
//! **Calibration.** The prior's diffusion `σ²` sets the scale of the uncertainty. Its local
//! quasi-maximum-likelihood estimate on a step is `σ̂² = zᵀ (H Q Hᵀ)⁻¹ z / d` (Schober et al.,
//! 2019; Bosch et al., 2021). *Dynamic* calibration uses `σ̂²` for that step's process noise;
//! *global* calibration runs with `σ² = 1` and rescales every covariance at the end by
//! `σ²_MLE = Σₖ zₖᵀ Sₖ⁻¹ zₖ / (N d)`.
//!
//! **Step control.** The local error estimate is `eᵢ = h σ̂ √(H Q Hᵀ)ᵢᵢ` (the residual is in
//! units of `x'`; the factor `h` puts it in units of `x`, as in ProbNumDiffEq.jl), its scaled RMS norm
//! `‖e / (atol + rtol·max(|xᵢ|, |x̃ᵢ|))‖` decides acceptance (`≤ 1`), and the next step is
//! `h · clamp(0.9 · err^{−0.7/(q+1)} · err_prev^{0.4/(q+1)}, 0.2, 10)` — a PI controller
//! (Gustafsson, 1991) for a local error of order `q + 1`.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1, Axis, s};
use pn_core::dense::{self, Triangle};
use pn_core::{Covariance, Gaussian};
use pn_filter::{
    FilterPosterior, GaussMarkov, Iwp, KalmanFilter, Observation, SmoothPosterior, SqrtGaussian,
};
use rand::Rng;

use crate::error::{Error, Result};
use crate::function::VectorField;

/// How the vector field is linearised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Zeroth-order linearisation `H = E₁` (no Jacobian): cheap, for non-stiff problems.
    Ek0,
    /// First-order linearisation `H = E₁ − J E₀` with the exact Jacobian: handles stiffness.
    Ek1,
}

/// How the diffusion (the scale of the uncertainty) is set.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Calibration {
    /// Re-estimated on every step (the default): adapts to changing dynamics.
    Dynamic,
    /// One quasi-maximum-likelihood value for the whole solve, applied at the end.
    Global,
    /// A fixed diffusion `σ²`.
    Fixed(f64),
}

/// Step-size selection.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Steps {
    /// Adaptive steps with an optional first step (else chosen from `f` at the start).
    Adaptive {
        /// The first step to try.
        initial: Option<f64>,
    },
    /// A fixed step `h` (the last step is shortened to land on the end time).
    Fixed(f64),
}

/// Options of [`solve`] and [`OdeFilter`], with documented defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Linearisation (default [`Method::Ek1`]).
    pub method: Method,
    /// The IWP order `q`; `None` (default) chooses by tolerance: 3 for `rtol ≥ 1e-4`, 4 for
    /// `≥ 1e-7`, 5 for `≥ 1e-10`, else 6.
    pub order: Option<usize>,
    /// Relative tolerance (default `1e-6`).
    pub rtol: f64,
    /// Absolute tolerance (default `1e-8`).
    pub atol: f64,
    /// Step selection (default adaptive).
    pub steps: Steps,
    /// Calibration (default [`Calibration::Dynamic`]).
    pub calibration: Calibration,
    /// Maximum number of accepted steps (default 100 000).
    pub max_steps: usize,
    /// Whether to compute the smoothing posterior (default `true`).
    pub smooth: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            method: Method::Ek1,
            order: None,
            rtol: 1e-6,
            atol: 1e-8,
            steps: Steps::Adaptive { initial: None },
            calibration: Calibration::Dynamic,
            max_steps: 100_000,
            smooth: true,
        }
    }
}

impl Options {
    /// Set the method.
    pub fn method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }
    /// Set the order `q`.
    pub fn order(mut self, q: usize) -> Self {
        self.order = Some(q);
        self
    }
    /// Set both tolerances.
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        self.rtol = rtol;
        self.atol = atol;
        self
    }
    /// Use fixed steps of size `h`.
    pub fn fixed_step(mut self, h: f64) -> Self {
        self.steps = Steps::Fixed(h);
        self
    }
    /// Set the calibration.
    pub fn calibration(mut self, c: Calibration) -> Self {
        self.calibration = c;
        self
    }
    /// Set the maximum number of steps.
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n;
        self
    }
    /// Whether to smooth.
    pub fn smooth(mut self, yes: bool) -> Self {
        self.smooth = yes;
        self
    }

    /// The order used: the explicit one, or the default for the tolerance.
    pub fn resolved_order(&self) -> usize {
        self.order.unwrap_or(if self.rtol >= 1e-4 {
            3
        } else if self.rtol >= 1e-7 {
            4
        } else if self.rtol >= 1e-10 {
            5
        } else {
            6
        })
    }
}

/// Counts of the work done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected step attempts.
    pub rejected: usize,
    /// Vector-field evaluations.
    pub f_evals: usize,
    /// Jacobian evaluations.
    pub jac_evals: usize,
}

/// What one accepted step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// The time reached.
    pub t: f64,
    /// The step taken.
    pub h: f64,
    /// The scaled local error estimate (`≤ 1` when accepted adaptively).
    pub error: f64,
    /// The local diffusion estimate `σ̂²`.
    pub diffusion: f64,
}

/// The ODE filter as a stepper: [`step`](Self::step) until [`done`](Self::done), then
/// [`finish`](Self::finish). [`solve`] is this loop.
pub struct OdeFilter<'a, F: VectorField> {
    f: &'a F,
    opts: Options,
    q: usize,
    d: usize,
    prior: Arc<Iwp>,
    kf: KalmanFilter,
    t_end: f64,
    h: f64,
    err_prev: f64,
    stats: Stats,
    mahalanobis_sum: f64,
    stiff_run: usize,
    last_f: Option<(Array1<f64>, Array1<f64>)>,
    jac: Array2<f64>,
}

impl<'a, F: VectorField> OdeFilter<'a, F> {
    /// Start at `x(t0) = x0`, to integrate until `t1 > t0`.
    pub fn new(
        f: &'a F,
        t_span: (f64, f64),
        x0: ArrayView1<'_, f64>,
        opts: Options,
    ) -> Result<Self> {
        let (t0, t1) = t_span;
        let d = f.dim();
        check_finite("t0", t0)?;
        check_finite("t1", t1)?;
        if t1 <= t0 {
            return Err(Error::InvalidInput {
                what: "t1",
                value: t1,
                reason: "must be > t0",
            });
        }
        if x0.len() != d {
            return Err(pn_core::Error::ShapeMismatch {
                op: "OdeFilter::new (x0)",
                expected: vec![d],
                found: vec![x0.len()],
            }
            .into());
        }
        if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
            return Err(pn_core::Error::NonFinite {
                what: "x0",
                index: vec![i],
                value: x0[i],
            }
            .into());
        }
        for (what, v) in [("rtol", opts.rtol), ("atol", opts.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidInput {
                    what,
                    value: v,
                    reason: "must be finite and >= 0",
                });
            }
        }
        if opts.rtol == 0.0 && opts.atol == 0.0 {
            return Err(Error::InvalidInput {
                what: "atol",
                value: 0.0,
                reason: "rtol and atol cannot both be 0",
            });
        }
        if let Calibration::Fixed(s) = opts.calibration
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::InvalidInput {
                what: "diffusion",
                value: s,
                reason: "must be finite and > 0",
            });
        }
        let q = opts.resolved_order();
        let prior = Arc::new(Iwp::new(q, d)?);
        let mut stats = Stats::default();
        let init = initial_state(f, t0, x0, q, &mut stats)?;
        let h = match opts.steps {
            Steps::Fixed(h) => {
                if !(h.is_finite() && h > 0.0) {
                    return Err(Error::InvalidInput {
                        what: "h",
                        value: h,
                        reason: "must be finite and > 0",
                    });
                }
                h
            }
            Steps::Adaptive { initial: Some(h) } => {
                if !(h.is_finite() && h > 0.0) {
                    return Err(Error::InvalidInput {
                        what: "initial step",
                        value: h,
                        reason: "must be finite and > 0",
                    });
                }
                h
            }
            Steps::Adaptive { initial: None } => {
                let f0 = init.mean.slice(s![d..2 * d]).to_owned();
                initial_step(x0, f0.view(), opts.rtol, opts.atol, q)
            }
        };
        let kf = KalmanFilter::new(prior.clone(), init, t0)?;
        Ok(Self {
            f,
            opts,
            q,
            d,
            prior,
            kf,
            t_end: t1,
            h: h.min(t1 - t0),
            err_prev: 1.0,
            stats,
            mahalanobis_sum: 0.0,
            stiff_run: 0,
            last_f: None,
            jac: Array2::zeros((d, d)),
        })
    }

    /// The current time.
    pub fn time(&self) -> f64 {
        self.kf.time()
    }

    /// Whether the end time has been reached.
    pub fn done(&self) -> bool {
        self.kf.time() >= self.t_end
    }

    /// The current filtering belief over the full state `(x, x', …, x^{(q)})`.
    pub fn state(&self) -> &SqrtGaussian {
        self.kf.state()
    }

    /// The work done so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Take one accepted step (retrying with smaller steps as needed).
    pub fn step(&mut self) -> Result<StepInfo> {
        let d = self.d;
        let adaptive = matches!(self.opts.steps, Steps::Adaptive { .. });
        loop {
            let t = self.kf.time();
            if self.stats.steps >= self.opts.max_steps {
                return Err(Error::MaxSteps {
                    t,
                    steps: self.stats.steps,
                    hint: if self.opts.method == Method::Ek0 {
                        " (if the problem is stiff, use the EK1)"
                    } else {
                        ""
                    },
                });
            }
            let remaining = self.t_end - t;
            let mut h = self.h.min(remaining);
            if remaining - h <= 1e-12 * remaining.abs().max(h) {
                h = remaining;
            }
            if h <= 16.0 * f64::EPSILON * t.abs().max(1.0) {
                return Err(Error::StepSizeUnderflow { t, h });
            }
            let t_new = t + h;
            let tr = self.prior.transition(h)?;
            let state = self.kf.state();
            let mpred = (tr.a.dot(&(&state.mean / &tr.precond))) * &tr.precond;
            let x = mpred.slice(s![..d]).to_owned();
            let mut fx = vec![0.0; d];
            self.f.f(t_new, x.as_slice().expect("contiguous"), &mut fx);
            self.stats.f_evals += 1;
            if let Some(i) = fx.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFiniteField {
                    t: t_new,
                    component: i,
                });
            }
            let fx = Array1::from(fx);
            let z = &mpred.slice(s![d..2 * d]) - &fx;
            // H = E₁ − J E₀ (EK1) or E₁ (EK0), in original coordinates.
            let n = self.prior.state_dim();
            let mut hmat = Array2::zeros((d, n));
            for i in 0..d {
                hmat[[i, d + i]] = 1.0;
            }
            if self.opts.method == Method::Ek1 {
                self.f
                    .jacobian(t_new, x.as_slice().expect("contiguous"), &mut self.jac);
                self.stats.jac_evals += 1;
                if let Some(i) = self.jac.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFiniteField {
                        t: t_new,
                        component: i / d,
                    });
                }
                hmat.slice_mut(s![.., ..d]).assign(&(-&self.jac));
            }
            // Local calibration and error estimate from H Q Hᵀ (unit diffusion).
            let mut hbar = hmat.clone();
            for (mut col, &p) in hbar.axis_iter_mut(Axis(1)).zip(tr.precond.iter()) {
                col *= p;
            }
            let hl = hbar.dot(&tr.q_chol);
            let sq = dense::cholesky_of_sum(&[hl.view()])?;
            if let Some(i) = sq.diag().iter().position(|&v| v <= 0.0) {
                return Err(pn_core::Error::NotPositiveDefinite { pivot: i }.into());
            }
            let w = dense::solve_triangular(
                sq.view(),
                z.view().insert_axis(Axis(1)),
                Triangle::Lower,
                false,
            )?;
            let sigma2 = w.iter().map(|v| v * v).sum::<f64>() / d as f64;
            let sd = hl.map_axis(Axis(1), |r| r.dot(&r).sqrt());
            let x_prev = state.mean.slice(s![..d]);
            let err = {
                let mut acc = 0.0;
                for i in 0..d {
                    let sc = self.opts.atol + self.opts.rtol * x_prev[i].abs().max(x[i].abs());
                    // The residual lives in units of x'; h · (its std) is the local error in x.
                    let e = h * sigma2.sqrt() * sd[i] / sc;
                    acc += e * e;
                }
                (acc / d as f64).sqrt()
            };
            if !err.is_finite() {
                return Err(Error::NonFiniteField {
                    t: t_new,
                    component: 0,
                });
            }
            let k = (self.q + 1) as f64;
            if adaptive && err > 1.0 {
                self.stats.rejected += 1;
                self.h = h * (0.9 * err.powf(-1.0 / k)).clamp(0.2, 1.0);
                continue;
            }
            // Accept.
            if self.opts.method == Method::Ek0 {
                self.check_stiffness(t_new, h, &x, &fx)?;
            }
            let diffusion = match self.opts.calibration {
                Calibration::Dynamic => sigma2.max(f64::MIN_POSITIVE),
                Calibration::Global => 1.0,
                Calibration::Fixed(s) => s,
            };
            self.kf.predict_to_scaled(t_new, diffusion)?;
            let y = hmat.dot(&mpred) - &z;
            let obs = Observation {
                h: hmat,
                noise_chol: Array2::zeros((d, 0)),
                y,
            };
            let info = self.kf.update(&obs)?;
            self.mahalanobis_sum += info.mahalanobis_sq;
            self.stats.steps += 1;
            if adaptive {
                let e = err.max(1e-10);
                let factor = 0.9 * e.powf(-0.7 / k) * self.err_prev.powf(0.4 / k);
                self.h = h * factor.clamp(0.2, 10.0);
                self.err_prev = e;
            } else if let Steps::Fixed(hf) = self.opts.steps {
                self.h = hf;
            }
            return Ok(StepInfo {
                t: t_new,
                h,
                error: err,
                diffusion: sigma2,
            });
        }
    }

    /// Stiffness detection for the EK0: the Lipschitz estimate `ρ ≈ ‖Δf‖/‖Δx‖` along the
    /// solution times the step must not stay large for many steps.
    fn check_stiffness(&mut self, t: f64, h: f64, x: &Array1<f64>, fx: &Array1<f64>) -> Result<()> {
        if let Some((xp, fp)) = &self.last_f {
            let dx = (x - xp).mapv(|v| v * v).sum().sqrt();
            let df = (fx - fp).mapv(|v| v * v).sum().sqrt();
            if dx > 0.0 {
                let stiffness = h * df / dx;
                if stiffness > 5.0 {
                    self.stiff_run += 1;
                } else {
                    self.stiff_run = 0;
                }
                if self.stiff_run >= 50 && self.stats.steps > 500 {
                    return Err(Error::Stiff { t, stiffness });
                }
            }
        }
        self.last_f = Some((x.clone(), fx.clone()));
        Ok(())
    }

    /// Finish: apply the global calibration if chosen, smooth if asked, and return the
    /// solution.
    pub fn finish(self) -> Result<OdeSolution> {
        let mut post = self.kf.finish();
        let mut diffusion = None;
        if self.opts.calibration == Calibration::Global && self.stats.steps > 0 {
            let s2 =
                (self.mahalanobis_sum / (self.stats.steps * self.d) as f64).max(f64::MIN_POSITIVE);
            post.calibrate(s2)?;
            diffusion = Some(s2);
        }
        let smoothed = if self.opts.smooth {
            Some(post.smooth()?)
        } else {
            None
        };
        Ok(OdeSolution {
            d: self.d,
            q: self.q,
            method: self.opts.method,
            prior: self.prior,
            posterior: post,
            smoothed,
            stats: self.stats,
            global_diffusion: diffusion,
        })
    }
}

fn check_finite(what: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what,
            value: v,
            reason: "must be finite",
        })
    }
}

/// The initial belief: exact Taylor coefficients when the field provides them (zero
/// covariance); otherwise `x₀` and `f(t₀, x₀)` exactly and the higher derivatives unknown with a
/// variance scaled to the problem.
fn initial_state<F: VectorField>(
    f: &F,
    t0: f64,
    x0: ArrayView1<'_, f64>,
    q: usize,
    stats: &mut Stats,
) -> Result<SqrtGaussian> {
    let d = x0.len();
    let n = (q + 1) * d;
    let mut mean = Array1::zeros(n);
    let mut chol = Array2::zeros((n, n));
    if let Some(coeffs) = f.taylor(t0, x0, q) {
        stats.f_evals += q;
        for (k, c) in coeffs.iter().enumerate() {
            if let Some(i) = c.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFiniteField {
                    t: t0,
                    component: i,
                });
            }
            mean.slice_mut(s![k * d..(k + 1) * d]).assign(c);
        }
    } else {
        let mut fx = vec![0.0; d];
        f.f(t0, x0.as_slice().unwrap_or(&x0.to_vec()), &mut fx);
        stats.f_evals += 1;
        if let Some(i) = fx.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteField {
                t: t0,
                component: i,
            });
        }
        mean.slice_mut(s![..d]).assign(&x0);
        mean.slice_mut(s![d..2 * d])
            .assign(&Array1::from(fx.clone()));
        let scale = fx.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for i in 2 * d..n {
            chol[[i, i]] = scale;
        }
    }
    Ok(SqrtGaussian { mean, chol })
}

/// Hairer's first step guess, scaled for a method of order `q`.
fn initial_step(
    x0: ArrayView1<'_, f64>,
    f0: ArrayView1<'_, f64>,
    rtol: f64,
    atol: f64,
    q: usize,
) -> f64 {
    let sc: Array1<f64> = x0.mapv(|v| atol + rtol * v.abs());
    let rms = |v: ArrayView1<'_, f64>| {
        (v.iter()
            .zip(sc.iter())
            .map(|(v, s)| (v / s).powi(2))
            .sum::<f64>()
            / v.len() as f64)
            .sqrt()
    };
    let (d0, d1) = (rms(x0), rms(f0));
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    // A high-order filter can take larger first steps than a first-order guess suggests.
    h0 * (q as f64).max(1.0).sqrt()
}

/// The result of an ODE solve: a Gauss–Markov posterior over the whole trajectory.
pub struct OdeSolution {
    d: usize,
    q: usize,
    method: Method,
    prior: Arc<Iwp>,
    posterior: FilterPosterior,
    smoothed: Option<SmoothPosterior>,
    stats: Stats,
    global_diffusion: Option<f64>,
}

impl OdeSolution {
    /// The step times (including `t₀` and `t₁`).
    pub fn times(&self) -> &[f64] {
        self.posterior.times()
    }

    /// The method used.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The IWP order used.
    pub fn order(&self) -> usize {
        self.q
    }

    /// Work counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The global diffusion estimate, if global calibration was used.
    pub fn global_diffusion(&self) -> Option<f64> {
        self.global_diffusion
    }

    /// The filtering posterior (beliefs given the information up to each step).
    pub fn filter_posterior(&self) -> &FilterPosterior {
        &self.posterior
    }

    /// The smoothing posterior, if it was computed.
    pub fn smooth_posterior(&self) -> Option<&SmoothPosterior> {
        self.smoothed.as_ref()
    }

    fn marginals(&self) -> &[SqrtGaussian] {
        match &self.smoothed {
            Some(s) => s.marginals(),
            None => self.posterior.filtered(),
        }
    }

    /// Means of `x` at the steps (`steps × d`; smoothed if available, else filtered).
    pub fn mean(&self) -> Array2<f64> {
        let m = self.marginals();
        Array2::from_shape_fn((m.len(), self.d), |(k, i)| m[k].mean[i])
    }

    /// Standard deviations of `x` at the steps (`steps × d`).
    pub fn std(&self) -> Array2<f64> {
        let m = self.marginals();
        let mut out = Array2::zeros((m.len(), self.d));
        for (k, b) in m.iter().enumerate() {
            for i in 0..self.d {
                let r = b.chol.row(i);
                out[[k, i]] = r.dot(&r).sqrt();
            }
        }
        out
    }

    /// The belief over `x(t)` at any `t` in the span (dense output through the smoothing
    /// posterior, or the filtering one if smoothing was off).
    pub fn at(&self, t: f64) -> Result<Gaussian> {
        let b = match &self.smoothed {
            Some(s) => s.at(t)?,
            None => self.posterior.at(t)?,
        };
        self.project(&b)
    }

    /// The belief over `x(t₁)` at the end.
    pub fn final_belief(&self) -> Result<Gaussian> {
        let m = self.marginals();
        self.project(&m[m.len() - 1])
    }

    fn project(&self, b: &SqrtGaussian) -> Result<Gaussian> {
        let d = self.d;
        let rows = b.chol.slice(s![..d, ..]).to_owned();
        let l = dense::cholesky_of_sum(&[rows.view()])?;
        Ok(Gaussian::new(
            b.mean.slice(s![..d]).to_owned(),
            Covariance::cholesky_factor(l)?,
        )?)
    }

    /// `n` joint draws of the trajectory of `x` at the step times (each `steps × d`).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Vec<Array2<f64>> {
        let d = self.d;
        self.posterior
            .sample(rng, n)
            .into_iter()
            .map(|s| s.slice(s![.., ..d]).to_owned())
            .collect()
    }

    /// The prior used.
    pub fn prior(&self) -> &Iwp {
        &self.prior
    }
}

/// Solve `x' = f(t, x)`, `x(t₀) = x₀` on `[t₀, t₁]` — the front door, in the spirit of SciPy's
/// `solve_ivp`. The defaults ([`Options::default`]): EK1, order by tolerance, adaptive steps,
/// dynamic calibration, `rtol = 1e-6`, `atol = 1e-8`, smoothing on.
pub fn solve<F: VectorField>(
    f: &F,
    t_span: (f64, f64),
    x0: ArrayView1<'_, f64>,
    opts: Options,
) -> Result<OdeSolution> {
    let mut filter = OdeFilter::new(f, t_span, x0, opts)?;
    while !filter.done() {
        filter.step()?;
    }
    filter.finish()
}

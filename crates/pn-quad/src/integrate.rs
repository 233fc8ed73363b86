//! The front door: integrand + measure + budget/tolerance → a Gaussian belief over the integral,
//! with adaptive node selection.
//!
//! **Acquisitions** (scored on a fresh scrambled-Halton candidate set each round):
//!
//! - integral-variance reduction (default): `IVR(x) = Cov[∫f, f(x)]² / Var[f(x)]`, the drop of
//!   `Var[∫f]` if `f(x)` were observed;
//! - uncertainty sampling: `Var[f(x)] p(x)²` (the measure's density);
//! - mutual information between `∫f` and `f(x)`: `−½ log(1 − IVR(x)/Var[∫f])`. For one node at
//!   a time and a fixed model it ranks candidates exactly as IVR does (it is a monotone function
//!   of it); it is offered for users who think in information terms.
//!
//! **Batches** are chosen greedily with the posterior variance updated after each pick as if the
//! picked node had been observed ("kriging believer"); since GP variances do not depend on the
//! observed values, this is exact greedy variance reduction.

use ndarray::{Array1, ArrayView1, Axis, concatenate};
use pn_core::kernels::Kernel;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::bq::{BqOptions, BqPosterior, IntegralBelief, bayesian_quadrature, solve_l};
use crate::embedding;
use crate::error::{Error, Result};
use crate::kernel::QuadKernel;
use crate::measure::Measure;
use crate::rules::{evaluate, halton_scrambled};

/// How the next node is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Acquisition {
    /// Maximal reduction of the integral's variance (default).
    #[default]
    IntegralVarianceReduction,
    /// Maximal `Var[f(x)] p(x)²`.
    UncertaintySampling,
    /// Maximal mutual information between `∫f` and `f(x)`.
    MutualInformation,
}

/// Where the nodes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Design {
    /// Adaptive selection with an acquisition.
    Adaptive(Acquisition),
    /// The whole budget at once from a scrambled Halton sequence (non-adaptive BQ).
    Halton,
}

impl Default for Design {
    fn default() -> Self {
        Self::Adaptive(Acquisition::default())
    }
}

/// How the kernel's hyperparameters are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Hyperparameters {
    /// Lengthscales as given; output scale by its closed-form maximum-likelihood value.
    Fixed,
    /// Lengthscales and output scale by maximum marginal likelihood, refitted as nodes arrive
    /// (every round with fewer than 32 nodes, then every time the node count grows by 25 %).
    #[default]
    MarginalLikelihood,
}

/// Options of [`integrate`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QuadOptions {
    /// Maximal number of integrand evaluations (default 64).
    pub budget: usize,
    /// Stop when the integral's standard deviation is below this (default: none).
    pub tol: Option<f64>,
    /// Node design (default adaptive, integral-variance reduction).
    pub design: Design,
    /// Nodes per adaptive round (default 1).
    pub batch: usize,
    /// Initial scrambled-Halton nodes before adaptive selection (default `0` = `max(4, 2d + 2)`).
    pub initial: usize,
    /// Candidates scored per round (default `0` = `256 d`, at most 2048).
    pub candidates: usize,
    /// The prior kernel (default: [`default_kernel`]).
    pub kernel: Option<QuadKernel>,
    /// Hyperparameter choice (default marginal likelihood).
    pub hyperparameters: Hyperparameters,
    /// Options of each Bayesian-quadrature solve.
    pub bq: BqOptions,
    /// Seed of the node generator (default 0).
    pub seed: u64,
}

impl Default for QuadOptions {
    fn default() -> Self {
        Self {
            budget: 64,
            tol: None,
            design: Design::default(),
            batch: 1,
            initial: 0,
            candidates: 0,
            kernel: None,
            hyperparameters: Hyperparameters::default(),
            bq: BqOptions::default(),
            seed: 0,
        }
    }
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident: $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$name = v;
            self
        }
    };
}

impl QuadOptions {
    setter!(/// Set [`budget`](Self::budget).
        budget: usize);
    setter!(/// Set [`design`](Self::design).
        design: Design);
    setter!(/// Set [`batch`](Self::batch).
        batch: usize);
    setter!(/// Set [`initial`](Self::initial).
        initial: usize);
    setter!(/// Set [`candidates`](Self::candidates).
        candidates: usize);
    setter!(/// Set [`hyperparameters`](Self::hyperparameters).
        hyperparameters: Hyperparameters);
    setter!(/// Set [`bq`](Self::bq).
        bq: BqOptions);
    setter!(/// Set [`seed`](Self::seed).
        seed: u64);

    /// Set [`tol`](Self::tol).
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = Some(tol);
        self
    }

    /// Set [`kernel`](Self::kernel).
    pub fn kernel(mut self, k: QuadKernel) -> Self {
        self.kernel = Some(k);
        self
    }
}

/// What the observer sees after every round.
#[derive(Debug, Clone, PartialEq)]
pub struct QuadState {
    /// Integrand evaluations so far.
    pub n_evals: usize,
    /// The current belief.
    pub belief: IntegralBelief,
    /// The current kernel (fitted hyperparameters).
    pub kernel: QuadKernel,
}

/// What the observer tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop now and return the current belief.
    Stop,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The standard deviation fell below the tolerance.
    Tolerance,
    /// The evaluation budget is spent.
    Budget,
    /// The observer asked to stop.
    Observer,
}

/// The result of [`integrate`].
#[derive(Debug, Clone)]
pub struct QuadResult {
    /// The belief over `∫ f dp`.
    pub belief: IntegralBelief,
    /// The final posterior: nodes, values, weights, fitted kernel, diagnostics.
    pub posterior: BqPosterior,
    /// `(evaluations, mean, std)` after every round.
    pub history: Vec<(usize, f64, f64)>,
    /// Why it stopped.
    pub stop: StopReason,
}

/// Default kernel for a measure: on a box, the product Matérn-⁵⁄₂ with lengthscales a quarter
/// of each side (its finite smoothness keeps the intervals honest on integrands that are less
/// smooth than a squared-exponential prior assumes, and its kernel matrices are better
/// conditioned); against a Gaussian, the squared exponential with lengthscales the measure's
/// marginal standard deviations. Output scale 1 (it is fitted).
pub fn default_kernel(measure: &Measure) -> QuadKernel {
    match measure {
        Measure::Lebesgue(b) => {
            let ls: Vec<f64> = (&b.upper() - &b.lower()).iter().map(|w| 0.25 * w).collect();
            QuadKernel::product_matern(crate::kernel::MaternOrder::FiveHalves, ls, 1.0)
        }
        Measure::Gaussian(g) => QuadKernel::squared_exponential(
            g.cov().diag().iter().map(|v| v.sqrt()).collect::<Vec<_>>(),
            1.0,
        ),
    }
    .expect("positive lengthscales")
}

/// Integrate `f` against `measure`: the belief over `∫ f dp` after at most `options.budget`
/// evaluations (or fewer, once its standard deviation is below `options.tol`).
///
/// Errors: the integrand returning NaN/±∞ ([`Error::NonFiniteIntegrand`]), a kernel without a
/// closed-form embedding against the measure ([`Error::NoEmbedding`]), a zero budget or batch,
/// a kernel of the wrong dimension.
///
/// ```
/// use pn_quad::{GaussianMeasure, QuadOptions, integrate};
///
/// // E[sin(x)² ] under N(0, 1) = (1 − e^{−2}) / 2.
/// let measure = GaussianMeasure::standard(1)?.into();
/// let res = integrate(|x| x[0].sin().powi(2), &measure, &QuadOptions::default().budget(20))?;
/// let truth = 0.5 * (1.0 - (-2f64).exp());
/// assert!((res.belief.mean - truth).abs() < 1e-4);
/// assert!((res.belief.mean - truth).abs() < 4.0 * res.belief.std());
/// # Ok::<(), pn_quad::Error>(())
/// ```
pub fn integrate<F>(f: F, measure: &Measure, options: &QuadOptions) -> Result<QuadResult>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
{
    integrate_with_observer(f, measure, options, |_| Control::Continue)
}

/// [`integrate`] with an observer called after every round.
pub fn integrate_with_observer<F, O>(
    mut f: F,
    measure: &Measure,
    options: &QuadOptions,
    mut observer: O,
) -> Result<QuadResult>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
    O: FnMut(&QuadState) -> Control,
{
    let d = measure.dim();
    if options.budget == 0 {
        return Err(pn_core::Error::Empty {
            what: "evaluation budget",
        }
        .into());
    }
    if options.batch == 0 {
        return Err(pn_core::Error::Empty { what: "batch" }.into());
    }
    if let Some(t) = options.tol {
        pn_core::validate::positive("tol", t)?;
    }
    let mut kernel = options
        .kernel
        .clone()
        .unwrap_or_else(|| default_kernel(measure));
    embedding::check_pair(&kernel, measure)?;
    let mut rng = Pcg64::seed_from_u64(options.seed);
    let n0 = match options.design {
        Design::Halton => options.budget,
        Design::Adaptive(_) => {
            let n0 = if options.initial == 0 {
                (2 * d + 2).max(4)
            } else {
                options.initial
            };
            n0.min(options.budget)
        }
    };
    let u = halton_scrambled(n0, d, &mut rng)?;
    let mut x = measure.from_unit_cube(u.view());
    let mut y = evaluate(&mut f, x.view(), 0)?;
    let mut history = Vec::new();
    let mut last_fit = 0usize;
    loop {
        let n = x.nrows();
        if options.hyperparameters == Hyperparameters::MarginalLikelihood
            && (n < 32 || 4 * n >= 5 * last_fit)
        {
            kernel = crate::fit::refit(&kernel, x.view(), y.view(), options.seed)?;
            last_fit = n;
        }
        let post = bayesian_quadrature(&kernel, measure, x.view(), y.view(), &options.bq)?;
        history.push((n, post.belief.mean, post.belief.std()));
        let state = QuadState {
            n_evals: n,
            belief: post.belief,
            kernel: post.kernel.clone(),
        };
        let stop = if options.tol.is_some_and(|t| post.belief.std() < t) {
            Some(StopReason::Tolerance)
        } else if n >= options.budget {
            Some(StopReason::Budget)
        } else if observer(&state) == Control::Stop {
            Some(StopReason::Observer)
        } else {
            None
        };
        if let Some(stop) = stop {
            return Ok(QuadResult {
                belief: post.belief,
                posterior: post,
                history,
                stop,
            });
        }
        let Design::Adaptive(acq) = options.design else {
            unreachable!("a Halton design spends the budget at once")
        };
        let k = options.batch.min(options.budget - n);
        let ncand = if options.candidates == 0 {
            (256 * d).min(2048)
        } else {
            options.candidates
        };
        let cand = measure.from_unit_cube(halton_scrambled(ncand, d, &mut rng)?.view());
        let picks = select_batch(&post, measure, cand.view(), acq, k)?;
        let new_x = ndarray::stack(
            Axis(0),
            &picks.iter().map(|&i| cand.row(i)).collect::<Vec<_>>(),
        )
        .expect("same width");
        let new_y = evaluate(&mut f, new_x.view(), n)?;
        x = concatenate![Axis(0), x, new_x];
        y = concatenate![Axis(0), y, new_y];
    }
}

/// Greedy batch of `k` candidate indices by the acquisition, updating the posterior variance
/// after each pick (exact for variances).
pub(crate) fn select_batch(
    post: &BqPosterior,
    measure: &Measure,
    cand: ndarray::ArrayView2<'_, f64>,
    acq: Acquisition,
    k: usize,
) -> Result<Vec<usize>> {
    let base = post.base_kernel();
    let kept = post.kept_nodes();
    let kc = base.matrix(kept.view(), cand)?;
    let mut w = solve_l(&post.l, kc.view()); // m × N
    let mut s2: Array1<f64> = &base.diag(cand)? - &w.map_axis(Axis(0), |c| c.dot(&c));
    let zc = embedding::kernel_mean_unchecked(&base, measure, cand);
    let mut c: Array1<f64> = &zc - &w.t().dot(&post.zw);
    let mut v = post
        .raw_var
        .max(post.diagnostics.variance_floor / post.diagnostics.outputscale_factor);
    let dens: Array1<f64> = match acq {
        Acquisition::UncertaintySampling => cand
            .rows()
            .into_iter()
            .map(|r| measure.density(r))
            .collect(),
        _ => Array1::ones(cand.nrows()),
    };
    let prior_scale = base.outputscale();
    let mut picks = Vec::with_capacity(k);
    for _ in 0..k {
        let mut best = None;
        let mut best_score = f64::NEG_INFINITY;
        for j in 0..cand.nrows() {
            if picks.contains(&j) || s2[j] <= 1e-12 * prior_scale {
                continue;
            }
            let ivr = c[j] * c[j] / s2[j];
            let score = match acq {
                Acquisition::IntegralVarianceReduction => ivr,
                Acquisition::UncertaintySampling => s2[j] * dens[j] * dens[j],
                Acquisition::MutualInformation => -0.5 * (1.0 - (ivr / v).min(1.0 - 1e-15)).ln(),
            };
            if score > best_score {
                best_score = score;
                best = Some(j);
            }
        }
        // Where the model claims to know f everywhere, take the least-known candidate.
        let best = best.or_else(|| {
            (0..cand.nrows())
                .filter(|j| !picks.contains(j))
                .max_by(|&a, &b| s2[a].total_cmp(&s2[b]))
        });
        let Some(j) = best else { break };
        if s2[j] <= 0.0 {
            picks.push(j);
            continue;
        }
        picks.push(j);
        // Condition the candidate statistics on the picked node (value-independent).
        let sj = s2[j].sqrt();
        let wj = w.column(j).to_owned();
        let kj = base
            .matrix(cand.row(j).insert_axis(Axis(0)), cand)?
            .row(0)
            .to_owned();
        let e: Array1<f64> = (&kj - &w.t().dot(&wj)) / sj;
        let cj = c[j] / sj;
        s2 = &s2 - &e.mapv(|a| a * a);
        c = &c - &(&e * cj);
        v -= cj * cj;
        w.push_row(e.view()).expect("same width");
    }
    if picks.is_empty() {
        return Err(Error::DegenerateMeasure {
            reason: "no candidate with positive posterior variance left".into(),
        });
    }
    Ok(picks)
}

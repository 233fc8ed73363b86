//! WSABI-L: Bayesian quadrature for non-negative integrands such as likelihoods, for model
//! evidences `Z = ∫ ℓ(x) π(x) dx` with a Gaussian prior `π = N(μ, Σ)`.
//!
//! Gunter, Osborne, Garnett, Hennig, Roberts (2014), "Sampling for inference in probabilistic
//! models with fast Bayesian quadrature". The model:
//!
//! - **square-root warping**: `ℓ(x) = α + ½ g(x)²` with `g ~ GP(0, k)`, `k` squared
//!   exponential, fitted to `g(xᵢ) = √(2 (ℓ(xᵢ) − α))`; `α = 0.8 minᵢ ℓ(xᵢ)` keeps the
//!   warping defined and the model non-negative;
//! - **linearisation** (the "L"): `ℓ` is replaced by its first-order expansion around the
//!   posterior mean `m` of `g`, `ℓ ≈ α + ½ m² + m (g − m)`, a GP with mean `α + ½ m(x)²` and
//!   covariance `m(x) C(x, x') m(x')` (`C` the posterior covariance of `g`). This ignores the
//!   `½ Var[g]` term of the mean (WSABI-M keeps it) and all non-Gaussianity of `½ g²`; it is
//!   accurate where `g` is well determined, and overconfident where `m ≈ 0` and `g` is still
//!   uncertain (the linearised variance vanishes with `m`).
//!
//! Under the linearised model the evidence is Gaussian with closed-form moments (for SE `k`
//! and Gaussian `π`): with `w = K⁻¹ g`,
//!
//! ```text
//! E[Z] = α + ½ wᵀ Q w,                Qᵢⱼ = ∫ k(xᵢ, x) k(x, xⱼ) π(x) dx,
//! Var[Z] = wᵀ R w − wᵀ Q K⁻¹ Q w,     Rᵢⱼ = ∫∫ k(xᵢ, x) k(x, x') k(x', xⱼ) π(x) π(x') dx dx'.
//! ```
//!
//! Nodes are chosen by uncertainty sampling of the linearised model, `m(x)² C(x, x) π(x)²`.

use ndarray::{Array1, Array2, ArrayView1, Axis, concatenate};
use pn_core::dense::{self, Cholesky};
use pn_core::kernels::Kernel;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::bq::{IntegralBelief, factor, solve_l, solve_lt};
use crate::error::{Error, Result};
use crate::kernel::QuadKernel;
use crate::measure::{GaussianMeasure, Measure};
use crate::rules::halton_scrambled;

/// Options of [`wsabi_l`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WsabiOptions {
    /// Likelihood evaluations (default 40).
    pub budget: usize,
    /// Initial nodes: the prior mean plus scrambled-Halton points of the prior (default
    /// `0` = `max(4, 2d + 2)`).
    pub initial: usize,
    /// Candidates per step (default `0` = `256 d`, at most 2048).
    pub candidates: usize,
    /// Refit the lengthscales of `g` by marginal likelihood as nodes arrive (default `true`).
    pub refit: bool,
    /// Seed (default 0).
    pub seed: u64,
}

impl Default for WsabiOptions {
    fn default() -> Self {
        Self {
            budget: 40,
            initial: 0,
            candidates: 0,
            refit: true,
            seed: 0,
        }
    }
}

impl WsabiOptions {
    /// Set [`budget`](Self::budget).
    pub fn budget(mut self, n: usize) -> Self {
        self.budget = n;
        self
    }
    /// Set [`initial`](Self::initial).
    pub fn initial(mut self, n: usize) -> Self {
        self.initial = n;
        self
    }
    /// Set [`refit`](Self::refit).
    pub fn refit(mut self, on: bool) -> Self {
        self.refit = on;
        self
    }
    /// Set [`seed`](Self::seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// The result of [`wsabi_l`].
#[derive(Debug, Clone)]
pub struct WsabiResult {
    /// The belief over the evidence `∫ ℓ π`.
    pub belief: IntegralBelief,
    /// The nodes (rows).
    pub nodes: Array2<f64>,
    /// The likelihood at the nodes.
    pub values: Array1<f64>,
    /// The offset `α`.
    pub alpha: f64,
    /// The kernel of `g` (fitted).
    pub kernel: QuadKernel,
    /// `(evaluations, mean, std)` after every step.
    pub history: Vec<(usize, f64, f64)>,
}

/// `N(u; 0, C)` for a factored `C`.
fn gauss_density(diff: ArrayView1<'_, f64>, c: &Cholesky) -> f64 {
    let w = c.solve_l(diff.insert_axis(Axis(1))).expect("shapes agree");
    let q: f64 = w.iter().map(|v| v * v).sum();
    let d = diff.len() as f64;
    (-0.5 * q - 0.5 * c.logdet() - 0.5 * d * (2.0 * std::f64::consts::PI).ln()).exp()
}

/// The WSABI-L evidence moments for fixed nodes and `g` values.
struct Moments {
    mean: f64,
    var: f64,
}

fn moments(
    kernel: &QuadKernel,
    prior: &GaussianMeasure,
    x: &Array2<f64>,
    g: &Array1<f64>,
    alpha: f64,
) -> Result<(Moments, Array2<f64>, Vec<usize>)> {
    let d = prior.dim();
    let s2 = kernel.outputscale();
    let lam: Array1<f64> = kernel.lengthscales().iter().map(|l| l * l).collect();
    let kmat = kernel.matrix(x.view(), x.view())?;
    let fac = factor(kmat.view(), 1e-13)?;
    let kept = fac.kept.clone();
    let m = kept.len();
    let xk = ndarray::stack(Axis(0), &kept.iter().map(|&i| x.row(i)).collect::<Vec<_>>())
        .expect("same width");
    let gk: Array1<f64> = kept.iter().map(|&i| g[i]).collect();
    let gw = solve_l(&fac.l, gk.view().insert_axis(Axis(1)));
    let w = solve_lt(&fac.l, gw.view()).column(0).to_owned();
    // Constants.
    let sig = prior.cov();
    let mu = prior.mean();
    let lam_mat = Array2::from_diag(&lam);
    let two_pi = 2.0 * std::f64::consts::PI;
    let det_lam: f64 = lam.iter().product();
    let c2 = dense::cholesky((&lam_mat * 2.0).view())?;
    let c_half = dense::cholesky((&lam_mat * 0.5 + sig).view())?;
    let c_ls = dense::cholesky((&lam_mat + &sig).view())?;
    // S = (Λ⁻¹ + Σ⁻¹)⁻¹ and the shifted means m_a = S(Λ⁻¹a + Σ⁻¹μ).
    let sig_inv = prior.cholesky().solve_mat(Array2::eye(d).view())?;
    let mut prec = sig_inv.clone();
    for k in 0..d {
        prec[[k, k]] += 1.0 / lam[k];
    }
    let cp = dense::cholesky(prec.view())?;
    let s_mat = cp.solve_mat(Array2::eye(d).view())?;
    let s_mat = (&s_mat + &s_mat.t()) * 0.5;
    let c_r = dense::cholesky((&lam_mat + &(&s_mat * 2.0)).view())?;
    let sig_inv_mu = sig_inv.dot(&mu);
    let shifted: Vec<Array1<f64>> = (0..m)
        .map(|i| {
            let a = xk.row(i);
            let v: Array1<f64> = a
                .iter()
                .zip(&lam)
                .map(|(a, l)| a / l)
                .collect::<Array1<f64>>()
                + &sig_inv_mu;
            s_mat.dot(&v)
        })
        .collect();
    let zk: Vec<f64> = (0..m)
        .map(|i| {
            s2 * two_pi.powf(d as f64 / 2.0)
                * det_lam.sqrt()
                * gauss_density((&xk.row(i) - &mu).view(), &c_ls)
        })
        .collect();
    let mut q = Array2::zeros((m, m));
    let mut r = Array2::zeros((m, m));
    let cq = s2 * s2 * two_pi.powf(d as f64) * det_lam;
    let cr = s2 * two_pi.powf(d as f64 / 2.0) * det_lam.sqrt();
    for i in 0..m {
        for j in 0..=i {
            let (a, b) = (xk.row(i), xk.row(j));
            let mid = (&a + &b) * 0.5;
            let qv = cq
                * gauss_density((&a - &b).view(), &c2)
                * gauss_density((&mid - &mu).view(), &c_half);
            let rv = zk[i] * zk[j] * cr * gauss_density((&shifted[i] - &shifted[j]).view(), &c_r);
            q[[i, j]] = qv;
            q[[j, i]] = qv;
            r[[i, j]] = rv;
            r[[j, i]] = rv;
        }
    }
    let qw = q.dot(&w);
    let mean = alpha + 0.5 * w.dot(&qw);
    let qw_white = solve_l(&fac.l, qw.view().insert_axis(Axis(1)));
    let var = w.dot(&r.dot(&w)) - qw_white.iter().map(|v| v * v).sum::<f64>();
    // Floor as in vanilla BQ: the terms are known to relative ε through the weights.
    let w1: f64 = w.iter().map(|v| v.abs()).sum();
    let scale = r.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let floor = 2.0 * f64::EPSILON * w1 * w1 * scale;
    Ok((
        Moments {
            mean,
            var: var.max(floor),
        },
        fac.l,
        kept,
    ))
}

/// WSABI-L estimate of the evidence `∫ ℓ(x) π(x) dx` for a non-negative likelihood `ℓ` and a
/// Gaussian prior `π`, with adaptively chosen nodes.
///
/// Errors: the likelihood returning NaN/±∞ ([`Error::NonFiniteIntegrand`]) or a negative value
/// ([`Error::NegativeIntegrand`]), a zero budget.
///
/// ```
/// use ndarray::array;
/// use pn_quad::{GaussianMeasure, WsabiOptions, wsabi_l};
///
/// // Gaussian likelihood N(y; x, s²) with prior N(0, 1): evidence N(y; 0, 1 + s²).
/// let (y, s2) = (0.8, 0.3);
/// let lik = |x: ndarray::ArrayView1<'_, f64>| {
///     (-(y - x[0]).powi(2) / (2.0 * s2)).exp() / (2.0 * std::f64::consts::PI * s2).sqrt()
/// };
/// let prior = GaussianMeasure::standard(1)?;
/// let res = wsabi_l(lik, &prior, &WsabiOptions::default().budget(20))?;
/// let truth = (-y * y / (2.0 * (1.0 + s2))).exp() / (2.0 * std::f64::consts::PI * (1.0 + s2)).sqrt();
/// assert!((res.belief.mean - truth).abs() < 1e-2 * truth);
/// # Ok::<(), pn_quad::Error>(())
/// ```
pub fn wsabi_l<F>(
    mut likelihood: F,
    prior: &GaussianMeasure,
    options: &WsabiOptions,
) -> Result<WsabiResult>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
{
    if options.budget == 0 {
        return Err(pn_core::Error::Empty {
            what: "evaluation budget",
        }
        .into());
    }
    let d = prior.dim();
    let measure: Measure = prior.clone().into();
    let mut rng = Pcg64::seed_from_u64(options.seed);
    let n0 = if options.initial == 0 {
        (2 * d + 2).max(4)
    } else {
        options.initial
    }
    .min(options.budget);
    let mut x = prior.mean().to_owned().insert_axis(Axis(0));
    if n0 > 1 {
        let u = halton_scrambled(n0 - 1, d, &mut rng)?;
        x = concatenate![Axis(0), x, measure.from_unit_cube(u.view())];
    }
    let mut eval = |x: ArrayView1<'_, f64>, index: usize| -> Result<f64> {
        let v = likelihood(x);
        if !v.is_finite() {
            return Err(Error::NonFiniteIntegrand {
                index,
                point: x.to_vec(),
                value: v,
            });
        }
        if v < 0.0 {
            return Err(Error::NegativeIntegrand { index, value: v });
        }
        Ok(v)
    };
    let mut y = Array1::zeros(x.nrows());
    for i in 0..x.nrows() {
        y[i] = eval(x.row(i), i)?;
    }
    let mut kernel =
        QuadKernel::squared_exponential(prior.cov().diag().mapv(f64::sqrt).to_vec(), 1.0)?;
    let mut history = Vec::new();
    loop {
        let alpha = 0.8 * y.iter().fold(f64::INFINITY, |a, v| a.min(*v));
        let g = y.mapv(|v| (2.0 * (v - alpha)).max(0.0).sqrt());
        if options.refit {
            kernel = crate::fit::refit(&kernel, x.view(), g.view(), options.seed)?;
        }
        let (mom, l, kept) = moments(&kernel, prior, &x, &g, alpha)?;
        let belief = IntegralBelief {
            mean: mom.mean,
            var: mom.var,
        };
        history.push((x.nrows(), belief.mean, belief.std()));
        if x.nrows() >= options.budget {
            return Ok(WsabiResult {
                belief,
                nodes: x,
                values: y,
                alpha,
                kernel,
                history,
            });
        }
        // Uncertainty sampling of the linearised model.
        let ncand = if options.candidates == 0 {
            (256 * d).min(2048)
        } else {
            options.candidates
        };
        let cand = measure.from_unit_cube(halton_scrambled(ncand, d, &mut rng)?.view());
        let xk = ndarray::stack(Axis(0), &kept.iter().map(|&i| x.row(i)).collect::<Vec<_>>())
            .expect("same width");
        let gk: Array1<f64> = kept.iter().map(|&i| g[i]).collect();
        let kc = kernel.matrix(xk.view(), cand.view())?;
        let wc = solve_l(&l, kc.view());
        let gw = solve_l(&l, gk.view().insert_axis(Axis(1)));
        let mc = wc.t().dot(&gw.column(0));
        let vc = &kernel.diag(cand.view())? - &wc.map_axis(Axis(0), |c| c.dot(&c));
        let best = (0..cand.nrows())
            .max_by(|&a, &b| {
                let sa = mc[a].powi(2) * vc[a].max(0.0) * measure.density(cand.row(a)).powi(2);
                let sb = mc[b].powi(2) * vc[b].max(0.0) * measure.density(cand.row(b)).powi(2);
                sa.total_cmp(&sb)
            })
            .expect("candidates");
        let xn = cand.row(best).to_owned();
        let yn = eval(xn.view(), x.nrows())?;
        x.push_row(xn.view()).expect("same width");
        y = concatenate![Axis(0), y, Array1::from_elem(1, yn)];
    }
}

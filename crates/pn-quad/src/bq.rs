//! Vanilla Bayesian quadrature: the GP posterior over `∫ f dp` given `f` at nodes.
//!
//! With a zero prior mean, kernel matrix `K`, kernel mean `z` and initial variance
//! `κ = ∫∫ k dp dp`,
//!
//! ```text
//! E[∫ f dp | f] = zᵀ K⁻¹ f,        Var[∫ f dp | f] = κ − zᵀ K⁻¹ z.
//! ```
//!
//! With a *diffuse* polynomial prior mean `φ(x)ᵀβ`, `β` flat (universal kriging), let
//! `H = φ(X)`, `h = ∫ φ dp`, `A = Hᵀ K⁻¹ H` and `r = h − Hᵀ K⁻¹ z`; then the mean gains
//! `rᵀ A⁻¹ Hᵀ K⁻¹ f` and the variance `rᵀ A⁻¹ r`.
//!
//! **Conditioning.** `K` is factored by Cholesky; when a pivot falls below
//! `pivot_tol · max Kᵢᵢ` (numerically redundant nodes), a diagonally pivoted Cholesky is used
//! instead and stops there: nodes whose conditional prior variance given the kept nodes is
//! below that threshold are dropped from the conditioning set (their values are predicted by
//! the others to within `√(pivot_tol)` of the prior std). No jitter is ever added, so the
//! reported variance is that of an exact GP posterior given the kept nodes.
//!
//! **Variance floor.** `κ − zᵀK⁻¹z` is computed as `κ − yᵀy` with `y = L⁻¹z` over `m` kept
//! nodes, a difference of two numbers of size `κ`. To first order in the machine epsilon `ε`
//! (Higham, *Accuracy and Stability of Numerical Algorithms*, Thms 3.1, 8.5, 10.3), with the
//! weights `w = K⁻¹z`, its rounding error is at most
//! `ε (κ + m yᵀy + 2|w|ᵀ|z| + (m+1)‖w‖₁² max Kᵢᵢ + 2m |w|ᵀ|L||y|)`: `z` and `κ` known to
//! relative `ε`, the Cholesky backward error `|ΔK| ≤ (m+1)ε|L||L|ᵀ` (whose entries are at most
//! `max Kᵢᵢ`), the forward substitution's `|ΔL| ≤ mε|L|`, and the dot product. The reported
//! variance is `max(computed, variance_floor)` with `variance_floor` twice that bound, so it is
//! never negative and never claims more precision than double precision can certify;
//! [`Diagnostics::clamped`] says when the floor was used. The rounding error of the mean
//! `zᵀK⁻¹f`, bounded to first order by `ε (|z|ᵀ|α| + |w|ᵀ|K||α| + |w|ᵀ|f|)` with `α = K⁻¹f`,
//! is added to the variance as an independent error ([`Diagnostics::mean_rounding`]).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ShapeBuilder};
use pn_core::dense::{self, Triangle};
use pn_core::kernels::Kernel;
use pn_core::{Covariance, Gaussian};

use crate::embedding::{self, basis_integrals, basis_row};
use crate::error::{Error, Result};
use crate::fastla;
use crate::kernel::QuadKernel;
use crate::measure::Measure;

/// A Gaussian belief `N(mean, var)` over a scalar integral.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegralBelief {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior variance (`≥ 0`).
    pub var: f64,
}

impl IntegralBelief {
    /// Standard deviation.
    pub fn std(&self) -> f64 {
        self.var.sqrt()
    }

    /// The central interval holding probability `level` (e.g. 0.95).
    pub fn interval(&self, level: f64) -> (f64, f64) {
        let z = std::f64::consts::SQRT_2
            * statrs::function::erf::erf_inv(level.clamp(0.0, 1.0 - 1e-16));
        (self.mean - z * self.std(), self.mean + z * self.std())
    }

    /// As a one-dimensional [`pn_core::Gaussian`] (a tiny positive variance replaces 0).
    pub fn to_gaussian(&self) -> pn_core::Result<Gaussian> {
        Gaussian::new(
            Array1::from_elem(1, self.mean),
            Covariance::diagonal(Array1::from_elem(1, self.var.max(f64::MIN_POSITIVE)))?,
        )
    }
}

/// The prior mean of the integrand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PriorMean {
    /// Zero.
    #[default]
    Zero,
    /// An unknown constant with a flat prior (integrated out).
    DiffuseConstant,
    /// An unknown linear function `β₀ + βᵀx` with a flat prior (integrated out).
    DiffuseLinear,
}

impl PriorMean {
    fn degree(self) -> Option<usize> {
        match self {
            Self::Zero => None,
            Self::DiffuseConstant => Some(0),
            Self::DiffuseLinear => Some(1),
        }
    }
}

/// What to do when the kernel matrix is numerically singular (a Cholesky pivot below
/// `pivot_tol · max Kᵢᵢ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Conditioning {
    /// Diagonally pivoted Cholesky that drops the nodes whose conditional prior variance is
    /// below the threshold: an exact GP posterior on the kept nodes (default).
    #[default]
    Pivoted,
    /// Keep every node and add a scale-aware nugget `δ max Kᵢᵢ` to the diagonal (`δ` from
    /// `pivot_tol` upwards by factors of 10 until the factorisation succeeds). The reported
    /// variance `κ − zᵀ(K + δ)⁻¹z` is then an upper bound on the mean-square error of the
    /// (regularised) estimate under the prior.
    Nugget,
}

/// Options of [`bayesian_quadrature`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BqOptions {
    /// Prior mean (default zero).
    pub prior_mean: PriorMean,
    /// Replace the kernel's output scale by its closed-form maximum-likelihood value
    /// `σ̂² = σ² fᵀK⁻¹f / m` (REML with `m − p` for a diffuse mean) (default `true`; all-zero
    /// values keep the kernel's output scale).
    pub fit_outputscale: bool,
    /// Also estimate the output scale by leave-one-out cross-validation,
    /// `σ̂²_LOO = σ² mean(αᵢ² / [K⁻¹]ᵢᵢ)` with `α = K⁻¹f`, and use the larger of the two
    /// estimates (default `true`; zero prior mean only). The LOO estimate standardises the
    /// prediction errors actually made at the nodes and is robust when the kernel is
    /// misspecified, where the likelihood estimate is overconfident (Bachoc 2013).
    pub loo_outputscale: bool,
    /// Relative pivot threshold below which nodes are treated as redundant (default `1e-13`).
    pub pivot_tol: f64,
    /// Remedy for a numerically singular kernel matrix (default [`Conditioning::Pivoted`]).
    pub conditioning: Conditioning,
}

impl Default for BqOptions {
    fn default() -> Self {
        Self {
            prior_mean: PriorMean::Zero,
            fit_outputscale: true,
            loo_outputscale: true,
            pivot_tol: 1e-13,
            conditioning: Conditioning::Pivoted,
        }
    }
}

impl BqOptions {
    /// Set [`prior_mean`](Self::prior_mean).
    pub fn prior_mean(mut self, m: PriorMean) -> Self {
        self.prior_mean = m;
        self
    }
    /// Set [`fit_outputscale`](Self::fit_outputscale).
    pub fn fit_outputscale(mut self, on: bool) -> Self {
        self.fit_outputscale = on;
        self
    }
    /// Set [`loo_outputscale`](Self::loo_outputscale).
    pub fn loo_outputscale(mut self, on: bool) -> Self {
        self.loo_outputscale = on;
        self
    }
    /// Set [`conditioning`](Self::conditioning).
    pub fn conditioning(mut self, c: Conditioning) -> Self {
        self.conditioning = c;
        self
    }
    /// Set [`pivot_tol`](Self::pivot_tol).
    pub fn pivot_tol(mut self, tol: f64) -> Self {
        self.pivot_tol = tol;
        self
    }
}

/// What the factorisation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostics {
    /// Number of nodes given.
    pub n_nodes: usize,
    /// Indices of the nodes used for conditioning, in pivot order.
    pub kept: Vec<usize>,
    /// Whether the pivoted factorisation was needed.
    pub pivoted: bool,
    /// Relative nugget added to the diagonal ([`Conditioning::Nugget`]), 0 if none.
    pub nugget: f64,
    /// Smallest kept pivot `Lᵢᵢ²` relative to `max Kᵢᵢ`.
    pub min_rel_pivot: f64,
    /// The floor below which the variance is not resolved in double precision (see the
    /// module documentation), with the fitted output scale.
    pub variance_floor: f64,
    /// First-order bound on the rounding error of the posterior mean; its square is included
    /// in the reported variance.
    pub mean_rounding: f64,
    /// Whether the variance was raised to the floor.
    pub clamped: bool,
    /// The output-scale factor applied (`σ̂²/σ²`; 1 if not fitted).
    pub outputscale_factor: f64,
    /// The leave-one-out cross-validation estimate of `σ̂²/σ²`, where computed.
    pub loo_outputscale_factor: Option<f64>,
    /// The prior variance `κ = ∫∫ k dp dp` (with the kernel's output scale).
    pub initial_variance: f64,
}

/// The Bayesian-quadrature posterior: the belief over the integral, the nodes, the weights and
/// the fitted model.
#[derive(Debug, Clone)]
pub struct BqPosterior {
    /// The belief over `∫ f dp`.
    pub belief: IntegralBelief,
    /// The nodes (rows).
    pub nodes: Array2<f64>,
    /// `f` at the nodes.
    pub values: Array1<f64>,
    /// Quadrature weights: `E[∫ f dp] = Σᵢ wᵢ fᵢ` (0 for dropped nodes).
    pub weights: Array1<f64>,
    /// The kernel, with the fitted output scale.
    pub kernel: QuadKernel,
    /// The measure.
    pub measure: Measure,
    /// Factorisation and calibration diagnostics.
    pub diagnostics: Diagnostics,
    /// Lower Cholesky factor of `K` over the kept nodes (kernel with its *original* scale).
    pub(crate) l: Array2<f64>,
    /// `L⁻¹ z` over the kept nodes.
    pub(crate) zw: Array1<f64>,
    /// Kernel mean at all nodes (original scale).
    pub(crate) _z: Array1<f64>,
    /// The unscaled posterior variance (original output scale, before clamping).
    pub(crate) raw_var: f64,
}

/// Factorisation of a kernel matrix over a subset of nodes.
pub(crate) struct Factor {
    pub l: Array2<f64>,
    pub kept: Vec<usize>,
    pub pivoted: bool,
    pub min_rel_pivot: f64,
    /// Relative nugget `δ` added to the diagonal (`K + δ max Kᵢᵢ I`), 0 if none.
    pub nugget: f64,
}

/// Cholesky of `k`, falling back to a diagonally pivoted Cholesky that stops at
/// `tol · max diag`.
pub(crate) fn factor(k: ArrayView2<'_, f64>, tol: f64) -> Result<Factor> {
    factor_with(k, tol, Conditioning::Pivoted)
}

/// [`factor`] with the choice of remedy for an ill-conditioned `K`.
pub(crate) fn factor_with(k: ArrayView2<'_, f64>, tol: f64, how: Conditioning) -> Result<Factor> {
    let n = k.nrows();
    let maxd = k.diag().iter().fold(0.0f64, |m, v| m.max(*v));
    if n == 0 || maxd <= 0.0 {
        return Err(pn_core::Error::Empty {
            what: "nodes with positive prior variance",
        }
        .into());
    }
    // A short pivoted probe first: when K is numerically low-rank (smooth kernels, many nodes)
    // it stops after a few dozen steps, O(n·m²), and the full Cholesky, which would fail or fall
    // below the threshold (the product of its pivots is det K, below the threshold's share),
    // is never attempted. A probe that runs to its step limit is discarded.
    if how == Conditioning::Pivoted
        && n > PROBE_STEPS
        && let Some(f) = pivoted(k, tol, maxd, PROBE_STEPS)
    {
        return Ok(f);
    }
    if let Some(l) = fastla::cholesky(k) {
        let minp = l.diag().iter().fold(f64::INFINITY, |m, v| m.min(v * v));
        if minp >= tol * maxd {
            return Ok(Factor {
                l,
                kept: (0..n).collect(),
                pivoted: false,
                min_rel_pivot: minp / maxd,
                nugget: 0.0,
            });
        }
    }
    if how == Conditioning::Nugget {
        // K + δ max Kᵢᵢ I with δ = tol, 10 tol, …: every node kept, pivots ≥ δ max Kᵢᵢ.
        let mut delta = tol;
        while delta < 1e-2 {
            let mut kn = k.to_owned();
            kn.diag_mut().mapv_inplace(|v| v + delta * maxd);
            if let Some(l) = fastla::cholesky(kn.view()) {
                let minp = l.diag().iter().fold(f64::INFINITY, |m, v| m.min(v * v));
                if minp >= 0.5 * delta * maxd {
                    return Ok(Factor {
                        l,
                        kept: (0..n).collect(),
                        pivoted: false,
                        min_rel_pivot: minp / maxd,
                        nugget: delta,
                    });
                }
            }
            delta *= 10.0;
        }
    }
    Ok(pivoted(k, tol, maxd, n).expect("runs to the threshold"))
}

/// Steps of the pivoted probe in [`factor_with`].
const PROBE_STEPS: usize = 64;
/// Steps after which (and after twice which) the probe checks its residual's decay rate.
const PROBE_CHECK: usize = 16;

/// Pivoted (rank-revealing) Cholesky, left-looking, one column of L at a time: column m is
/// `K[perm[m..], perm[m]] − Σ_c L[m.., c] L[m, c]`, an axpy per earlier column over contiguous
/// storage; the remaining diagonal is updated as the columns arrive. Stops when the largest
/// remaining conditional variance is below `tol · maxd`; `None` if `max_steps < n` columns were
/// taken without reaching that point.
fn pivoted(k: ArrayView2<'_, f64>, tol: f64, maxd: f64, max_steps: usize) -> Option<Factor> {
    let n = k.nrows();
    let a = k;
    let mut perm: Vec<usize> = (0..n).collect();
    let mut diag: Vec<f64> = (0..n).map(|i| a[[i, i]]).collect();
    // cols[c][i]: L[i, c] for rows i in the current pivot order.
    let mut cols: Vec<Vec<f64>> = Vec::new();
    let mut m = 0;
    let mut minp = f64::INFINITY;
    while m < n {
        // Largest remaining residual variance.
        let (j, &dj) = diag[m..]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(j, d)| (j + m, d))
            .expect("non-empty");
        if dj < tol * maxd {
            break;
        }
        if m == max_steps {
            return None;
        }
        // A probe (max_steps < n) gives up early when the residual variance is decaying too
        // slowly to reach the threshold within its step limit: extrapolated geometrically from
        // the first m steps, with a margin of 10⁴ because smooth kernels decay faster than
        // geometrically. A well-conditioned K (every node kept) is then passed to the full
        // Cholesky after a few cheap steps instead of 64.
        if max_steps < n
            && (m == PROBE_CHECK || m == 2 * PROBE_CHECK)
            && (dj / maxd).powf(max_steps as f64 / m as f64) > 1e4 * tol
        {
            return None;
        }
        perm.swap(m, j);
        diag.swap(m, j);
        for c in cols.iter_mut() {
            c.swap(m, j);
        }
        let piv = dj.sqrt();
        minp = minp.min(dj);
        let pm = perm[m];
        let mut v: Vec<f64> = vec![0.0; n];
        for i in m + 1..n {
            v[i] = a[[perm[i], pm]];
        }
        for c in &cols {
            let lmc = c[m];
            for (vi, &li) in v[m + 1..].iter_mut().zip(&c[m + 1..]) {
                *vi -= li * lmc;
            }
        }
        v[m] = piv;
        let inv = piv.recip();
        for (vi, di) in v[m + 1..].iter_mut().zip(&mut diag[m + 1..]) {
            *vi *= inv;
            *di -= *vi * *vi;
        }
        cols.push(v);
        m += 1;
    }
    let mut lk = Array2::<f64>::zeros((m, m).f());
    for (c, colv) in cols.iter().enumerate() {
        for i in c..m {
            lk[[i, c]] = colv[i];
        }
    }
    Some(Factor {
        l: lk,
        kept: perm[..m].to_vec(),
        pivoted: true,
        min_rel_pivot: minp / maxd,
        nugget: 0.0,
    })
}

pub(crate) fn solve_l(l: &Array2<f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    fastla::solve_l_mat(l, b)
}

pub(crate) fn solve_lt(l: &Array2<f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    fastla::solve_lt_mat(l, b)
}

fn col(v: ArrayView1<'_, f64>) -> ArrayView2<'_, f64> {
    v.insert_axis(ndarray::Axis(1))
}

/// Bayesian quadrature of `f` (given at the rows of `nodes`) against `measure` with the GP
/// prior `kernel`.
///
/// Errors: shape mismatches and non-finite nodes or values ([`Error::Core`], values as
/// [`Error::NonFiniteIntegrand`]), [`Error::NoEmbedding`] for a kernel–measure pair without a
/// closed form, an empty node set, fewer kept nodes than basis functions of a diffuse mean.
///
/// ```
/// use ndarray::Array2;
/// use pn_quad::{BoxDomain, BqOptions, QuadKernel, bayesian_quadrature};
///
/// let measure = BoxDomain::unit(1)?.into();
/// let x = Array2::from_shape_fn((12, 1), |(i, _)| (i as f64 + 0.5) / 12.0);
/// let f = x.column(0).mapv(|t| (3.0 * t).sin());
/// let kernel = QuadKernel::squared_exponential(vec![0.3], 1.0)?;
/// let post = bayesian_quadrature(&kernel, &measure, x.view(), f.view(), &BqOptions::default())?;
/// let truth = (1.0 - 3f64.cos()) / 3.0;
/// assert!((post.belief.mean - truth).abs() < 1e-4);
/// assert!((post.belief.mean - truth).abs() < 5.0 * post.belief.std());
/// # Ok::<(), pn_quad::Error>(())
/// ```
pub fn bayesian_quadrature(
    kernel: &QuadKernel,
    measure: &Measure,
    nodes: ArrayView2<'_, f64>,
    values: ArrayView1<'_, f64>,
    options: &BqOptions,
) -> Result<BqPosterior> {
    embedding::check_pair(kernel, measure)?;
    let d = measure.dim();
    embedding::check_points(d, nodes)?;
    let n = nodes.nrows();
    if n == 0 {
        return Err(pn_core::Error::Empty { what: "nodes" }.into());
    }
    if values.len() != n {
        return Err(pn_core::Error::ShapeMismatch {
            op: "bayesian_quadrature values",
            expected: vec![n],
            found: vec![values.len()],
        }
        .into());
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteIntegrand {
            index: i,
            point: nodes.row(i).to_vec(),
            value: values[i],
        });
    }
    pn_core::validate::positive("pivot_tol", options.pivot_tol)?;
    let kmat = kernel.matrix(nodes, nodes)?;
    let fac = factor_with(kmat.view(), options.pivot_tol, options.conditioning)?;
    let z = embedding::kernel_mean_unchecked(kernel, measure, nodes);
    let kappa = embedding::initial_variance_unchecked(kernel, measure);
    let m = fac.kept.len();
    let zk: Array1<f64> = fac.kept.iter().map(|&i| z[i]).collect();
    let fk: Array1<f64> = fac.kept.iter().map(|&i| values[i]).collect();
    let zw = fastla::solve_l_vec(&fac.l, zk.view());
    let fw = fastla::solve_l_vec(&fac.l, fk.view());
    let mut mean = zw.dot(&fw);
    let mut var = kappa - zw.dot(&zw);
    // Whitened weights u with w = L⁻ᵀ u.
    let mut u = zw.clone();
    let mut resid_sq = fw.dot(&fw);
    let mut dof = m as f64;
    if let Some(deg) = options.prior_mean.degree() {
        let p = if deg == 0 { 1 } else { 1 + d };
        if m <= p {
            return Err(pn_core::Error::InvalidParameter {
                name: "kept nodes",
                value: m as f64,
                reason: "a diffuse prior mean needs more kept nodes than basis functions",
            }
            .into());
        }
        let mut h = Array2::zeros((m, p));
        for (r, &i) in fac.kept.iter().enumerate() {
            for (c, v) in basis_row(nodes.row(i), deg).into_iter().enumerate() {
                h[[r, c]] = v;
            }
        }
        let hw = solve_l(&fac.l, h.view());
        // A = HᵀK⁻¹H = RᵀR from a QR factorisation of the whitened basis (never formed).
        let rq = dense::qr_r(hw.view())?;
        let a_solve = |b: ArrayView1<'_, f64>| -> Result<Array1<f64>> {
            let y = dense::solve_triangular(rq.view(), col(b), Triangle::Upper, true)?;
            Ok(
                dense::solve_triangular(rq.view(), y.view(), Triangle::Upper, false)?
                    .column(0)
                    .to_owned(),
            )
        };
        let hbar = basis_integrals(measure, deg);
        let r = &hbar - &hw.t().dot(&zw);
        let ar = a_solve(r.view())?;
        let beta = a_solve(hw.t().dot(&fw).view())?;
        mean += r.dot(&beta);
        var += r.dot(&ar);
        u = &u + &hw.dot(&ar);
        let res = &fw - &hw.dot(&beta);
        resid_sq = res.dot(&res);
        dof = (m - p) as f64;
    }
    let weights_kept = fastla::solve_lt_vec(&fac.l, u.view());
    let mut weights = Array1::zeros(n);
    for (r, &i) in fac.kept.iter().enumerate() {
        weights[i] = weights_kept[r];
    }
    // With all values 0 the data carry no scale: keep the prior's.
    let mut factor_scale = if options.fit_outputscale && resid_sq > 0.0 {
        resid_sq / dof
    } else {
        1.0
    };
    let mut loo_factor = None;
    if options.fit_outputscale
        && options.loo_outputscale
        && options.prior_mean == PriorMean::Zero
        && m > 1
        && resid_sq > 0.0
    {
        // Leave-one-out: residual rᵢ = αᵢ/[K⁻¹]ᵢᵢ with variance 1/[K⁻¹]ᵢᵢ (unit output scale),
        // so the scale that standardises them is mean(αᵢ² / [K⁻¹]ᵢᵢ).
        let kinv_diag = fastla::inverse_diag(&fac.l);
        let alpha_k = fastla::solve_lt_vec(&fac.l, fw.view());
        let mut acc = 0.0;
        for i in 0..m {
            acc += alpha_k[i] * alpha_k[i] / kinv_diag[i];
        }
        let cv = acc / m as f64;
        if cv.is_finite() && cv > 0.0 {
            loo_factor = Some(cv);
            factor_scale = factor_scale.max(cv);
        }
    }
    let raw_var = var;
    // Rounding floor of v = κ − yᵀy, y = L⁻¹z (first order; Higham, Accuracy and Stability of
    // Numerical Algorithms, Thms 3.1, 8.5, 10.3), with w = K⁻¹z = L⁻ᵀy:
    //   z known to relative ε            → 2ε |w|ᵀ|z|
    //   K known to relative ε, Cholesky  → |wᵀ ΔK w| ≤ (m+1)ε |w|ᵀ|L||L|ᵀ|w| ≤ (m+1)ε ‖w‖₁² max Kᵢᵢ
    //   forward substitution (L+ΔL)ŷ = z → 2|wᵀ ΔL ŷ| ≤ 2mε |w|ᵀ|L||ŷ|
    //   the dot product yᵀy and κ − yᵀy  → ε (m yᵀy + κ)
    // The reported floor is twice their sum.
    let wk_abs: Vec<f64> = weights_kept.iter().map(|v| v.abs()).collect();
    let w1: f64 = wk_abs.iter().sum();
    let wz: f64 = wk_abs.iter().zip(zk.iter()).map(|(w, z)| w * z.abs()).sum();
    let maxd = kmat.diag().iter().fold(0.0f64, |a, v| a.max(*v));
    let mut wly = 0.0;
    {
        // |L| column-major: column c holds L[c.., c]; (|L||ŷ|)ᵢ = Σ_{c ≤ i} |Lᵢc| |ŷc|.
        let mut ly = vec![0.0; m];
        for c in 0..m {
            let yc = zw[c].abs();
            for (o, l) in ly[c..].iter_mut().zip(fac.l.column(c).iter().skip(c)) {
                *o += l.abs() * yc;
            }
        }
        for (w, v) in wk_abs.iter().zip(&ly) {
            wly += w * v;
        }
    }
    let mf = m as f64;
    let floor_var = 2.0
        * f64::EPSILON
        * (kappa.abs()
            + mf * zw.dot(&zw)
            + 2.0 * wz
            + (mf + 1.0) * w1 * w1 * maxd
            + 2.0 * mf * wly);
    // The mean zᵀK⁻¹f is perturbed in the same way: with α = K⁻¹f (kept nodes),
    // |δ mean| ≲ ε (|z|ᵀ|α| + |w|ᵀ|K||α| + |w|ᵀ|f|). Its square is added to the variance (in
    // units of the fitted output scale below), so that rounding is part of the reported error.
    let alpha = fastla::solve_lt_vec(&fac.l, fw.view());
    // |α| scattered back to node order (0 at dropped nodes), so that |K||α| runs over rows.
    let mut abs_alpha_all = vec![0.0; n];
    for (r, &i) in fac.kept.iter().enumerate() {
        abs_alpha_all[i] = alpha[r].abs();
    }
    let abs_alpha = alpha.mapv(f64::abs);
    let mut k_alpha = 0.0;
    for (r, &i) in fac.kept.iter().enumerate() {
        let row: f64 = kmat
            .row(i)
            .iter()
            .zip(&abs_alpha_all)
            .map(|(k, a)| k.abs() * a)
            .sum();
        k_alpha += weights_kept[r].abs() * row;
    }
    let z_alpha: f64 = zk
        .iter()
        .zip(abs_alpha.iter())
        .map(|(z, a)| z.abs() * a)
        .sum();
    let w_f: f64 = weights_kept
        .iter()
        .zip(fk.iter())
        .map(|(w, f)| (w * f).abs())
        .sum();
    let mean_rounding = 2.0 * f64::EPSILON * (z_alpha + k_alpha + w_f);
    let floor = floor_var;
    let clamped = var < floor;
    let var_used = var.max(floor) * factor_scale + mean_rounding * mean_rounding;
    let fitted = kernel.with_outputscale(kernel.outputscale() * factor_scale)?;
    Ok(BqPosterior {
        belief: IntegralBelief {
            mean,
            var: var_used,
        },
        nodes: nodes.to_owned(),
        values: values.to_owned(),
        weights,
        kernel: fitted,
        measure: measure.clone(),
        diagnostics: Diagnostics {
            n_nodes: n,
            kept: fac.kept,
            pivoted: fac.pivoted,
            nugget: fac.nugget,
            min_rel_pivot: fac.min_rel_pivot,
            variance_floor: floor * factor_scale,
            mean_rounding,
            clamped,
            outputscale_factor: factor_scale,
            loo_outputscale_factor: loo_factor,
            initial_variance: kappa,
        },
        l: fac.l,
        zw,
        _z: z,
        raw_var,
    })
}

impl BqPosterior {
    /// Posterior mean and variance of `f` at the rows of `x` (zero-mean part of the model; with
    /// the fitted output scale).
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        embedding::check_points(self.measure.dim(), x)?;
        let base = self.base_kernel();
        let kept = self.kept_nodes();
        let kx = base.matrix(kept.view(), x)?;
        let w = solve_l(&self.l, kx.view());
        let fk: Array1<f64> = self
            .diagnostics
            .kept
            .iter()
            .map(|&i| self.values[i])
            .collect();
        let fw = solve_l(&self.l, col(fk.view())).column(0).to_owned();
        let mean = w.t().dot(&fw);
        let prior = base.diag(x)?;
        let var = (&prior - &w.map_axis(ndarray::Axis(0), |c| c.dot(&c)))
            .mapv(|v| v.max(0.0) * self.diagnostics.outputscale_factor);
        Ok((mean, var))
    }

    /// The kernel with its output scale before fitting.
    pub(crate) fn base_kernel(&self) -> QuadKernel {
        self.kernel
            .with_outputscale(self.kernel.outputscale() / self.diagnostics.outputscale_factor)
            .expect("positive")
    }

    /// The kept nodes in pivot order.
    pub(crate) fn kept_nodes(&self) -> Array2<f64> {
        let d = self.nodes.ncols();
        let mut out = Array2::zeros((self.diagnostics.kept.len(), d));
        for (r, &i) in self.diagnostics.kept.iter().enumerate() {
            out.row_mut(r).assign(&self.nodes.row(i));
        }
        out
    }
}

#[cfg(test)]
mod factor_tests {
    use super::*;

    /// The short pivoted probe returns the same factor as the pivoted factorisation run to the
    /// threshold, and that factor reproduces K on the kept nodes.
    #[test]
    fn probe_equals_the_full_pivoted_factorisation() {
        let n = 150;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| ((i as f64) * 0.618_034).fract());
        let k = QuadKernel::squared_exponential(vec![0.2], 1.0)
            .unwrap()
            .matrix(x.view(), x.view())
            .unwrap();
        let f = factor_with(k.view(), 1e-13, Conditioning::Pivoted).unwrap();
        let g = pivoted(k.view(), 1e-13, 1.0, n).unwrap();
        assert!(f.pivoted && f.kept.len() < PROBE_STEPS);
        assert_eq!(f.kept, g.kept);
        assert_eq!(f.l, g.l);
        let kk = Array2::from_shape_fn((f.kept.len(), f.kept.len()), |(i, j)| {
            k[[f.kept[i], f.kept[j]]]
        });
        pn_core::testing::assert_allclose(&f.l.dot(&f.l.t()), &kk, 1e-12, 1e-12);
        // With the probe's step limit below the rank, the probe gives up.
        assert!(pivoted(k.view(), 1e-13, 1.0, 5).is_none());
    }

    /// On a well-conditioned K (3-D, short lengthscale) the probe gives up at its first decay
    /// check and the plain Cholesky keeps every node; the factor reproduces K.
    #[test]
    fn probe_gives_up_early_on_a_well_conditioned_matrix() {
        let n = 200;
        let x = Array2::from_shape_fn((n, 3), |(i, j)| {
            ((i as f64 + 1.0) * [0.618_034, 0.414_214, 0.732_051][j]).fract()
        });
        let k = QuadKernel::squared_exponential(vec![0.1; 3], 1.0)
            .unwrap()
            .matrix(x.view(), x.view())
            .unwrap();
        assert!(pivoted(k.view(), 1e-13, 1.0, PROBE_STEPS).is_none());
        let f = factor_with(k.view(), 1e-13, Conditioning::Pivoted).unwrap();
        assert!(!f.pivoted && f.kept.len() == n && f.min_rel_pivot > 1e-6);
        pn_core::testing::assert_allclose(&f.l.dot(&f.l.t()), &k, 1e-12, 1e-12);
    }
}

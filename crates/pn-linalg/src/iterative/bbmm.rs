//! The log marginal likelihood and its gradient from one block preconditioned-CG solve
//! (blackbox matrix–matrix inference, Gardner et al., 2018), matrix-free.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};
use pn_core::LinearOperator;
use pn_core::kernels::{Kernel, KernelMatrix};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::{
    IterativeLml, LowRankPlusDiagonal, PivotedCholesky, Preconditioner, SlqEstimate, check_finite,
    check_len, kernel_grad_products, norm,
};
use crate::error::{Error, Result};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Options of [`lml_bbmm`] (and of every evaluation of
/// [`fit_iterative`](super::fit_iterative)).
///
/// Defaults: 16 probes, seed 0, a rank-100 pivoted-Cholesky preconditioner, CG to a relative
/// residual of `1e-4` within at most 1000 iterations, tiles of 512 rows for the derivative
/// products.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BbmmParams {
    /// Number of probe vectors `t` (≥ 1; 2 or more for a standard error). The standard errors
    /// fall as `1/√t`.
    pub probes: usize,
    /// Seed of the `Pcg64` generator drawing the Rademacher base vectors of the probes.
    pub seed: u64,
    /// Rank of the pivoted-Cholesky preconditioner `P = L Lᵀ + σ² I` (capped at `n`; 0: none,
    /// then `P = σ² I`).
    pub precond_rank: usize,
    /// Relative residual at which a column of the block CG stops.
    pub cg_rtol: f64,
    /// Iteration budget of the block CG; running out is [`Error::NoConvergence`].
    pub cg_max_iter: usize,
    /// Rows per tile of the derivative products ([`kernel_grad_products`]); larger tiles cost
    /// fewer per-tile overheads and `(1 + p) (2 tile)²` values of memory per thread (at
    /// n = 20 000, d = 3, p = 4: 19 s of CPU with 512 rows, 33 s with 256).
    pub tile: usize,
}

impl Default for BbmmParams {
    fn default() -> Self {
        Self {
            probes: 16,
            seed: 0,
            precond_rank: 100,
            cg_rtol: 1e-4,
            cg_max_iter: 1000,
            tile: 512,
        }
    }
}

impl BbmmParams {
    /// Sets [`probes`](Self::probes).
    pub fn probes(mut self, t: usize) -> Self {
        self.probes = t;
        self
    }
    /// Sets [`seed`](Self::seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets [`precond_rank`](Self::precond_rank).
    pub fn precond_rank(mut self, k: usize) -> Self {
        self.precond_rank = k;
        self
    }
    /// Sets [`cg_rtol`](Self::cg_rtol).
    pub fn cg_rtol(mut self, rtol: f64) -> Self {
        self.cg_rtol = rtol;
        self
    }
    /// Sets [`cg_max_iter`](Self::cg_max_iter).
    pub fn cg_max_iter(mut self, it: usize) -> Self {
        self.cg_max_iter = it;
        self
    }
    /// Sets [`tile`](Self::tile).
    pub fn tile(mut self, rows: usize) -> Self {
        self.tile = rows;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |name, value: usize, reason| -> Error {
            pn_core::Error::InvalidParameter {
                name,
                value: value as f64,
                reason,
            }
            .into()
        };
        if self.probes == 0 {
            return Err(invalid("probes", 0, "at least one probe vector is needed"));
        }
        if self.cg_max_iter == 0 {
            return Err(invalid(
                "cg_max_iter",
                0,
                "at least one CG iteration is needed",
            ));
        }
        if self.tile == 0 {
            return Err(invalid("tile", 0, "a tile needs at least one row"));
        }
        pn_core::validate::positive("cg_rtol", self.cg_rtol)?;
        Ok(())
    }
}

/// The fixed random numbers of the probes: Rademacher base vectors `r₁` (`rank × t`) and `r₂`
/// (`n × t`), so that `z = L r₁ + σ r₂` has `E[z zᵀ] = L Lᵀ + σ² I = P` for every `θ`.
#[derive(Debug, Clone)]
pub(crate) struct ProbeBase {
    r1: Array2<f64>,
    r2: Array2<f64>,
}

impl ProbeBase {
    pub(crate) fn new(n: usize, rank: usize, t: usize, seed: u64) -> Self {
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut draw =
            |r, c| Array2::from_shape_fn((r, c), |_| if rng.random::<bool>() { 1.0 } else { -1.0 });
        let r2 = draw(n, t);
        let r1 = draw(rank, t);
        Self { r1, r2 }
    }
}

/// The pivoted-Cholesky factor with a prescribed pivot order (the Nyström factor on those
/// points, `L Lᵀ = K_{:,S} K_{S,S}⁻¹ K_{S,:}`): smooth in the hyperparameters for fixed
/// pivots. A pivot whose remaining diagonal has fallen below `1e-10 · max diag` is skipped.
pub(crate) fn factor_with_pivots(
    kernel: &dyn Kernel,
    x: ArrayView2<'_, f64>,
    pivots: &[usize],
) -> Array2<f64> {
    let n = x.nrows();
    let mut d = kernel.diag_unchecked(x);
    let dmax = d.iter().fold(0.0f64, |m, v| m.max(*v));
    let rows = kernel.matrix_unchecked(x.select(Axis(0), pivots).view(), x);
    let mut l = Array2::<f64>::zeros((n, pivots.len()));
    let mut taken = vec![false; n];
    let mut m = 0;
    for (r, &piv) in pivots.iter().enumerate() {
        let dp = d[piv];
        if taken[piv] || dp.is_nan() || dp <= 1e-10 * dmax || !dp.is_finite() {
            continue;
        }
        let lp = l.row(piv).slice(s![..m]).to_owned();
        let mut col = &rows.row(r) - &l.slice(s![.., ..m]).dot(&lp);
        let sq = dp.sqrt();
        col /= sq;
        for (i, t) in taken.iter().enumerate() {
            if *t {
                col[i] = 0.0;
            }
        }
        col[piv] = sq;
        d.zip_mut_with(&col, |di, c| *di -= c * c);
        d[piv] = 0.0;
        taken[piv] = true;
        l.column_mut(m).assign(&col);
        m += 1;
    }
    l.slice_move(s![.., ..m])
}

/// What one block CG solve did.
pub(crate) struct BlockSolve {
    pub(crate) x: Array2<f64>,
    /// `(αₖ, βₖ)` of each column's recursion, for the Lanczos tridiagonal.
    pub(crate) coefs: Vec<(Vec<f64>, Vec<f64>)>,
    pub(crate) iterations: usize,
}

/// Block preconditioned CG on `A X = B` from `X = 0`, columns in lock-step (one block product per
/// iteration), converged columns frozen; each column keeps its step lengths `αₖ` and
/// coefficients `βₖ`. Stops when every column has `‖r‖ ≤ rtol ‖b‖`, verified with the explicit
/// residual `B − A X` of all columns at the end.
pub(crate) fn block_pcg(
    a: &dyn LinearOperator,
    b: ArrayView2<'_, f64>,
    precond: &dyn Preconditioner,
    rtol: f64,
    max_iter: usize,
) -> Result<BlockSolve> {
    let (n, c) = b.dim();
    let bnorm: Vec<f64> = b.axis_iter(Axis(1)).map(norm).collect();
    let mut x = Array2::<f64>::zeros((n, c));
    let mut r = b.to_owned();
    let mut z = precond.solve_mat(r.view());
    let mut p = z.clone();
    let mut rz: Vec<f64> = (0..c).map(|j| r.column(j).dot(&z.column(j))).collect();
    let mut coefs = vec![(Vec::new(), Vec::new()); c];
    let mut iterations = 0;
    let done = |r: &Array2<f64>, j: usize| norm(r.column(j)) <= rtol * bnorm[j];
    loop {
        let active: Vec<usize> = (0..c).filter(|&j| !done(&r, j)).collect();
        if active.is_empty() {
            break;
        }
        if iterations >= max_iter {
            let worst = active
                .iter()
                .map(|&j| norm(r.column(j)) / bnorm[j])
                .fold(0.0, f64::max);
            return Err(Error::NoConvergence {
                what: "block CG of the marginal-likelihood estimate",
                iterations,
                relative_residual: worst,
            });
        }
        let pa = p.select(Axis(1), &active);
        let q = a.matmat(pa.view());
        for (col, &j) in active.iter().enumerate() {
            let qj = q.column(col);
            let pq = p.column(j).dot(&qj);
            if !(pq > 0.0 && pq.is_finite()) {
                return Err(Error::NotPositiveDefinite {
                    what: "block CG of the marginal-likelihood estimate",
                    iteration: iterations,
                    curvature: pq,
                });
            }
            let alpha = rz[j] / pq;
            let pj = p.column(j).to_owned();
            x.column_mut(j).scaled_add(alpha, &pj);
            r.column_mut(j).scaled_add(-alpha, &qj);
            coefs[j].0.push(alpha);
        }
        let ra = r.select(Axis(1), &active);
        let za = precond.solve_mat(ra.view());
        for (col, &j) in active.iter().enumerate() {
            let zj = za.column(col);
            let rz_new = r.column(j).dot(&zj);
            if !(rz_new.is_finite() && rz_new >= 0.0) {
                return Err(Error::NotPositiveDefinite {
                    what: "preconditioner of the marginal-likelihood estimate",
                    iteration: iterations,
                    curvature: rz_new,
                });
            }
            let beta = rz_new / rz[j];
            rz[j] = rz_new;
            coefs[j].1.push(beta);
            let pj = p.column(j).to_owned();
            let mut pc = p.column_mut(j);
            pc.assign(&zj);
            pc.scaled_add(beta, &pj);
            z.column_mut(j).assign(&zj);
        }
        iterations += 1;
    }
    // The recursive residuals drift from the true ones: check the explicit residual (a loose
    // factor 10, the recursion's drift is small at these tolerances).
    let ax = a.matmat(x.view());
    for j in 0..c {
        let re = norm((&b.column(j) - &ax.column(j)).view());
        if re > 10.0 * rtol * bnorm[j] {
            return Err(Error::NoConvergence {
                what: "block CG of the marginal-likelihood estimate (explicit residual)",
                iterations,
                relative_residual: re / bnorm[j],
            });
        }
    }
    Ok(BlockSolve {
        x,
        coefs,
        iterations,
    })
}

/// `e₁ᵀ log(T) e₁` for the Lanczos tridiagonal `T` of a (preconditioned) CG run with step
/// lengths `αₖ` and coefficients `βₖ`: `Tₖₖ = 1/αₖ + βₖ₋₁/αₖ₋₁`, `Tₖ,ₖ₊₁ = √βₖ / αₖ`
/// (Saad, 2003, §6.7.3).
fn log_quadrature(alpha: &[f64], beta: &[f64]) -> Result<f64> {
    let m = alpha.len();
    if m == 0 {
        return Ok(0.0);
    }
    let mut t = Array2::<f64>::zeros((m, m));
    for k in 0..m {
        t[[k, k]] = 1.0 / alpha[k]
            + if k > 0 {
                beta[k - 1] / alpha[k - 1]
            } else {
                0.0
            };
        if k + 1 < m {
            let off = beta[k].sqrt() / alpha[k];
            t[[k, k + 1]] = off;
            t[[k + 1, k]] = off;
        }
    }
    let (theta, v) = pn_core::dense::eigh(t.view())?;
    let mut sum = 0.0;
    for (&th, &tau) in theta.iter().zip(v.row(0)) {
        if th.is_nan() || th <= 0.0 {
            return Err(Error::NotPositiveDefinite {
                what: "Lanczos quadrature of the log-determinant",
                iteration: 0,
                curvature: th,
            });
        }
        sum += tau * tau * th.ln();
    }
    Ok(sum)
}

/// The log marginal likelihood and its gradient of `y = f(X) + ε`, `f ~ GP(0, k)`,
/// `ε ~ N(0, σ² I)`, estimated matrix-free from one block preconditioned-CG solve (blackbox
/// matrix–matrix inference, Gardner et al., 2018):
///
/// 1. `P = L Lᵀ + σ² I` from a rank-`precond_rank` pivoted Cholesky of `K`; probes
///    `zᵢ = L r₁ᵢ + σ r₂ᵢ` with seeded Rademacher `r` (so `E[z zᵀ] = P`), `i = 1…t`.
/// 2. One block PCG solve of `K̂ [α, u₁ … u_t] = [y, z₁ … z_t]`, `K̂ = K + σ² I` applied on the
///    fly ([`KernelMatrix`]).
/// 3. `log det K̂ = log det P + tr log(P^{-1/2} K̂ P^{-1/2})`: the first term exact, the second
///    by stochastic Lanczos quadrature from the CG coefficients of the probe columns,
///    `(zᵢᵀ P⁻¹ zᵢ) · e₁ᵀ log(Tᵢ) e₁` (no extra products).
/// 4. `∂ log p / ∂θⱼ = ½ αᵀ ∂ⱼK̂ α − ½ tr(K̂⁻¹ ∂ⱼK̂)`, the trace by the Hutchinson estimate
///    `(1/t) Σᵢ uᵢᵀ ∂ⱼK̂ wᵢ`, `wᵢ = P⁻¹ zᵢ` (unbiased because `E[wᵢ zᵢᵀ] = I`), all derivative
///    products in one tiled pass ([`kernel_grad_products`]); `∂K̂/∂log σ² = σ² I`.
///
/// The gradient is in the order of [`Kernel::log_params`], then `log σ²`. Standard errors are
/// those of the probe means. Memory is `O(n (t + rank))` plus tiles; nothing of size `n²`.
///
/// Errors: shapes, NaN/∞ in `x` or `y`, `σ² ≤ 0`, invalid params (e.g. zero probes),
/// [`Error::NoConvergence`] when the CG budget runs out, [`Error::NotPositiveDefinite`].
///
/// ```
/// use ndarray::Array2;
/// use pn_core::kernels::SquaredExponential;
/// use pn_linalg::exact::ExactGp;
/// use pn_linalg::iterative::{BbmmParams, lml_bbmm};
///
/// let x = Array2::from_shape_fn((300, 2), |(i, j)| ((i * (j + 5)) % 97) as f64 / 97.0);
/// let y = x.column(0).mapv(|t| (6.0 * t).sin()) + x.column(1);
/// let k = SquaredExponential::new(0.3, 1.0)?;
/// let est = lml_bbmm(&k, x.view(), y.view(), 0.05, &BbmmParams::default().probes(32))?;
/// let exact = ExactGp::new(Box::new(k), 0.05, x.view(), y.view())?.log_marginal_likelihood();
/// assert!((est.lml - exact).abs() < 5.0 * est.lml_std_error + 1e-6 * exact.abs());
/// # Ok::<(), pn_linalg::Error>(())
/// ```
pub fn lml_bbmm(
    kernel: &dyn Kernel,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    noise: f64,
    params: &BbmmParams,
) -> Result<IterativeLml> {
    params.validate()?;
    check_inputs(kernel, x, y, noise)?;
    let n = x.nrows();
    let rank = params.precond_rank.min(n);
    let pivots = if rank > 0 {
        PivotedCholesky::from_kernel(kernel, x, rank, 0.0)?.pivots
    } else {
        Vec::new()
    };
    let base = ProbeBase::new(n, rank, params.probes, params.seed);
    evaluate(kernel, x, y, noise, &pivots, &base, params)
}

pub(crate) fn check_inputs(
    kernel: &dyn Kernel,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    noise: f64,
) -> Result<()> {
    check_len("lml_bbmm: targets", x.nrows(), y.len())?;
    if x.nrows() == 0 {
        return Err(pn_core::Error::InvalidParameter {
            name: "n",
            value: 0.0,
            reason: "at least one data point is needed",
        }
        .into());
    }
    kernel.check_input_dim(x.ncols())?;
    check_finite("x", x.iter())?;
    check_finite("y", y.iter())?;
    pn_core::validate::positive("noise", noise)?;
    Ok(())
}

/// [`lml_bbmm`] with a given pivot order and probe base (validated inputs).
pub(crate) fn evaluate(
    kernel: &dyn Kernel,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    noise: f64,
    pivots: &[usize],
    base: &ProbeBase,
    params: &BbmmParams,
) -> Result<IterativeLml> {
    let n = x.nrows();
    let t = params.probes;
    let l = factor_with_pivots(kernel, x, pivots);
    check_finite("preconditioner factor", l.iter())?;
    let k = l.ncols();
    let precond = LowRankPlusDiagonal::new(l, noise)?;
    // Probes z = L r₁ + σ r₂ (only the rank actually reached).
    let mut z = &base.r2 * noise.sqrt();
    if k > 0 {
        z += &precond.l().dot(&base.r1.slice(s![..k, ..]));
    }
    let mut rhs = Array2::zeros((n, t + 1));
    rhs.column_mut(0).assign(&y);
    rhs.slice_mut(s![.., 1..]).assign(&z);
    let khat = KernelMatrix::symmetric(kernel, x)?.with_noise(noise)?;
    let sol = block_pcg(
        &khat,
        rhs.view(),
        &precond,
        params.cg_rtol,
        params.cg_max_iter,
    )?;
    let alpha = sol.x.column(0).to_owned();
    let u = sol.x.slice(s![.., 1..]);
    let w = precond.solve_mat(z.view());
    // Log-determinant by SLQ from the CG coefficients of the probe columns.
    let mut ld = Vec::with_capacity(t);
    for i in 0..t {
        let (a, b) = &sol.coefs[i + 1];
        let scale = z.column(i).dot(&w.column(i));
        ld.push(scale * log_quadrature(a, b)?);
    }
    let logdet = SlqEstimate::from_samples(precond.logdet(), ld);
    let lml = -0.5 * (y.dot(&alpha) + logdet.value + n as f64 * LN_2PI);
    // Derivative products with V = [α, w₁ … w_t].
    let mut v = Array2::zeros((n, t + 1));
    v.column_mut(0).assign(&alpha);
    v.slice_mut(s![.., 1..]).assign(&w);
    let (_, gv) = kernel_grad_products(kernel, x, v.view(), params.tile)?;
    let p = gv.len();
    let mut gradient = Array1::zeros(p + 1);
    let mut gse = Array1::zeros(p + 1);
    let mut put = |j: usize, quad: f64, samples: Vec<f64>| {
        let tr = SlqEstimate::from_samples(0.0, samples);
        gradient[j] = 0.5 * quad - 0.5 * tr.value;
        gse[j] = 0.5 * tr.std_error;
    };
    for (j, g) in gv.iter().enumerate() {
        let samples = (0..t).map(|i| u.column(i).dot(&g.column(i + 1))).collect();
        put(j, alpha.dot(&g.column(0)), samples);
    }
    let samples = (0..t)
        .map(|i| noise * u.column(i).dot(&w.column(i)))
        .collect();
    put(p, noise * alpha.dot(&alpha), samples);
    if !lml.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
        return Err(Error::NotPositiveDefinite {
            what: "lml_bbmm",
            iteration: sol.iterations,
            curvature: lml,
        });
    }
    Ok(IterativeLml {
        lml,
        lml_std_error: 0.5 * logdet.std_error,
        gradient,
        gradient_std_error: gse,
        alpha,
        logdet,
        cg_iterations: sol.iterations,
    })
}

//! Stochastic Lanczos quadrature and Hutchinson trace estimates for GP marginal likelihoods.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};
use pn_core::LinearOperator;
use pn_core::kernels::{Kernel, KernelMatrix};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

use super::lanczos::lanczos_general;
use super::{
    CgParams, LowRankPlusDiagonal, PivotedCholesky, Preconditioner, cg_batch, check_finite,
    check_len, square_dim,
};
use crate::error::{Error, Result};

/// Distribution of the random probe vectors `z` with `E[z zᵀ] = I`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Probes {
    /// Independent ±1 entries (smallest variance of `zᵀ A z` among such probes, Hutchinson 1989).
    #[default]
    Rademacher,
    /// Independent standard normal entries.
    Gaussian,
}

impl Probes {
    fn draw<R: Rng + ?Sized>(self, rng: &mut R, n: usize, m: usize) -> Array2<f64> {
        match self {
            Probes::Rademacher => {
                Array2::from_shape_fn((n, m), |_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            }
            Probes::Gaussian => Array2::from_shape_fn((n, m), |_| StandardNormal.sample(rng)),
        }
    }
}

/// Options of the stochastic estimators.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SlqParams {
    /// Number of probe vectors (default 16). The standard error falls as `1/√probes`.
    pub probes: usize,
    /// Lanczos steps per probe (default 40; capped at `n`).
    pub lanczos_steps: usize,
    /// Probe distribution without a preconditioner (default Rademacher). With a
    /// preconditioner `P` the probes are `N(0, P)` draws.
    pub probe_kind: Probes,
    /// Seed of the `Pcg64` generator drawing the probes (default 0).
    pub seed: u64,
    /// Rank of the pivoted-Cholesky preconditioner used by [`lml_slq_kernel`] (default 100,
    /// capped at `n`; 0: none).
    pub precond_rank: usize,
    /// Options of the conjugate-gradient solves (default `rtol = 1e-8`).
    pub cg: CgParams,
}

impl Default for SlqParams {
    fn default() -> Self {
        Self {
            probes: 16,
            lanczos_steps: 40,
            probe_kind: Probes::Rademacher,
            seed: 0,
            precond_rank: 100,
            cg: CgParams::default().rtol(1e-8),
        }
    }
}

impl SlqParams {
    /// Sets [`probes`](Self::probes).
    pub fn probes(mut self, m: usize) -> Self {
        self.probes = m;
        self
    }
    /// Sets [`lanczos_steps`](Self::lanczos_steps).
    pub fn lanczos_steps(mut self, k: usize) -> Self {
        self.lanczos_steps = k;
        self
    }
    /// Sets [`probe_kind`](Self::probe_kind).
    pub fn probe_kind(mut self, p: Probes) -> Self {
        self.probe_kind = p;
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
    /// Sets [`cg`](Self::cg).
    pub fn cg(mut self, cg: CgParams) -> Self {
        self.cg = cg;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.probes == 0 || self.lanczos_steps == 0 {
            return Err(pn_core::Error::InvalidParameter {
                name: "probes / lanczos_steps",
                value: 0.0,
                reason: "at least one probe and one Lanczos step are needed",
            }
            .into());
        }
        Ok(())
    }
}

/// A Monte-Carlo estimate with its standard error.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SlqEstimate {
    /// The estimate (mean over probes, plus any exact part).
    pub value: f64,
    /// Standard error of the mean over probes, `sd / √probes` (0 for one probe).
    pub std_error: f64,
    /// The per-probe values.
    pub samples: Vec<f64>,
}

impl SlqEstimate {
    pub(crate) fn from_samples(offset: f64, samples: Vec<f64>) -> Self {
        let m = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / m;
        let var = if samples.len() > 1 {
            samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0)
        } else {
            0.0
        };
        Self {
            value: offset + mean,
            std_error: (var / m).sqrt(),
            samples,
        }
    }
}

/// `log det A` of a symmetric positive definite operator by stochastic Lanczos quadrature
/// (Ubaru, Chen & Saad, 2017): `log det A = tr log A ≈ (1/m) Σᵢ zᵢᵀ log(A) zᵢ`, each quadratic
/// form by `k`-step Lanczos Gauss quadrature.
///
/// With a preconditioner `P = L Lᵀ + σ² I` the estimate is
/// `log det P + tr log(P^{-1/2} A P^{-1/2})`: the first term exact, the second by Lanczos on
/// `P⁻¹ A` in the `P`-inner product from `P⁻¹ u`, `u ~ N(0, P)` (equivalent to standard normal
/// probes for the symmetric `P^{-1/2} A P^{-1/2}`, without forming `P^{-1/2}`). A good `P`
/// makes the spectrum of the second term cluster at 1, so few steps and probes suffice.
///
/// Errors: shapes, invalid params, [`Error::NotPositiveDefinite`] if a Ritz value is not
/// positive.
pub fn slq_logdet<A: LinearOperator + ?Sized>(
    a: &A,
    precond: Option<&LowRankPlusDiagonal>,
    params: &SlqParams,
) -> Result<SlqEstimate> {
    params.validate()?;
    let n = square_dim("slq_logdet", &a)?;
    let mut rng = Pcg64::seed_from_u64(params.seed);
    let ln = |t: f64| if t > 0.0 { t.ln() } else { f64::NAN };
    let mut samples = Vec::with_capacity(params.probes);
    let offset = match precond {
        None => {
            let z = params.probe_kind.draw(&mut rng, n, params.probes);
            for zi in z.axis_iter(Axis(1)) {
                let l = lanczos_general(n, zi, params.lanczos_steps, &|x| a.matvec(x), None)?;
                samples.push(l.quadrature(ln)?);
            }
            0.0
        }
        Some(p) => {
            check_len("slq_logdet preconditioner", n, Preconditioner::dim(p))?;
            let u = p.sample(&mut rng, params.probes);
            let v = p.solve_mat(u.view());
            let op = |x: ArrayView1<'_, f64>| p.solve(a.matvec(x).view());
            let metric = |x: ArrayView1<'_, f64>| p.matvec(x);
            for vi in v.axis_iter(Axis(1)) {
                let l = lanczos_general(n, vi, params.lanczos_steps, &op, Some(&metric))?;
                samples.push(l.quadrature(ln)?);
            }
            p.logdet()
        }
    };
    if let Some(&bad) = samples.iter().find(|v| !v.is_finite()) {
        return Err(Error::NotPositiveDefinite {
            what: "slq_logdet",
            iteration: 0,
            curvature: bad,
        });
    }
    Ok(SlqEstimate::from_samples(offset, samples))
}

/// Hutchinson's estimate `tr A ≈ (1/m) Σᵢ zᵢᵀ A zᵢ` with `m = probes` seeded probe vectors
/// (Hutchinson, 1989). Unbiased for any square `A`.
pub fn hutchinson_trace<A: LinearOperator + ?Sized>(
    a: &A,
    probes: usize,
    kind: Probes,
    seed: u64,
) -> Result<SlqEstimate> {
    let n = square_dim("hutchinson_trace", &a)?;
    if probes == 0 {
        return Err(pn_core::Error::InvalidParameter {
            name: "probes",
            value: 0.0,
            reason: "at least one probe is needed",
        }
        .into());
    }
    let mut rng = Pcg64::seed_from_u64(seed);
    let z = kind.draw(&mut rng, n, probes);
    let az = a.matmat(z.view());
    let samples = (0..probes)
        .map(|i| z.column(i).dot(&az.column(i)))
        .collect();
    Ok(SlqEstimate::from_samples(0.0, samples))
}

/// The GP log marginal likelihood and its gradient, estimated without a Cholesky factor.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IterativeLml {
    /// `log p(y) = −½ yᵀ K̂⁻¹ y − ½ log det K̂ − (n/2) log 2π`, with the log-determinant by SLQ.
    pub lml: f64,
    /// Standard error of `lml` (that of the SLQ estimate, halved).
    pub lml_std_error: f64,
    /// `∂ log p(y) / ∂θⱼ = ½ αᵀ (∂K̂/∂θⱼ) α − ½ tr(K̂⁻¹ ∂K̂/∂θⱼ)`, `α = K̂⁻¹ y`, one entry per
    /// derivative operator given.
    pub gradient: Array1<f64>,
    /// Standard errors of the gradient entries (from the trace estimates).
    pub gradient_std_error: Array1<f64>,
    /// The representer weights `α = K̂⁻¹ y` (by CG).
    pub alpha: Array1<f64>,
    /// The log-determinant estimate.
    pub logdet: SlqEstimate,
    /// CG iterations of the solve for `α` (the probes are solved in the same block).
    pub cg_iterations: usize,
}

/// Log marginal likelihood and gradient of `y ~ N(0, K̂)` from products with `K̂` and with
/// the derivatives `∂K̂/∂θⱼ` only.
///
/// `α = K̂⁻¹ y` and `K̂⁻¹ Z` for the probes `Z` are computed together by block (preconditioned)
/// CG ([`cg_batch`]); `log det K̂` by [`slq_logdet`]; each trace `tr(K̂⁻¹ ∂K̂/∂θⱼ)` by the
/// Hutchinson estimate `(1/m) Σᵢ (K̂⁻¹zᵢ)ᵀ (∂K̂/∂θⱼ) wᵢ` with Rademacher `zᵢ = wᵢ` without a
/// preconditioner, and `zᵢ ~ N(0, P)`, `wᵢ = P⁻¹ zᵢ` with one (unbiased since
/// `E[wᵢ zᵢᵀ] = I`, and of lower variance when `P ≈ K̂`; Gardner et al., 2018).
///
/// Errors: shapes, NaN/∞ in `y`, the errors of [`cg_batch`] and [`slq_logdet`].
pub fn lml_slq<A: LinearOperator + ?Sized>(
    khat: &A,
    grads: &[&dyn LinearOperator],
    y: ArrayView1<'_, f64>,
    precond: Option<&LowRankPlusDiagonal>,
    params: &SlqParams,
) -> Result<IterativeLml> {
    params.validate()?;
    let n = square_dim("lml_slq", &khat)?;
    check_len("lml_slq", n, y.len())?;
    check_finite("y", y.iter())?;
    for g in grads {
        square_dim("lml_slq gradient operator", g)?;
        check_len("lml_slq gradient operator", n, g.shape().0)?;
    }
    let m = params.probes;
    // Probes for the traces; a different stream from the SLQ probes.
    let mut rng = Pcg64::seed_from_u64(params.seed ^ 0x9e37_79b9_7f4a_7c15);
    let (z, w) = match precond {
        None => {
            let z = params.probe_kind.draw(&mut rng, n, m);
            (z.clone(), z)
        }
        Some(p) => {
            let z = p.sample(&mut rng, m);
            let w = p.solve_mat(z.view());
            (z, w)
        }
    };
    let mut rhs = Array2::zeros((n, m + 1));
    rhs.column_mut(0).assign(&y);
    rhs.slice_mut(s![.., 1..]).assign(&z);
    let pc = precond.map(|p| p as &dyn Preconditioner);
    let (sol, infos) = cg_batch(khat, rhs.view(), pc, &params.cg)?;
    let alpha = sol.column(0).to_owned();
    let u = sol.slice(s![.., 1..]);
    let logdet = slq_logdet(khat, precond, params)?;
    let lml = -0.5 * y.dot(&alpha)
        - 0.5 * logdet.value
        - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let mut gradient = Array1::zeros(grads.len());
    let mut gse = Array1::zeros(grads.len());
    for (j, g) in grads.iter().enumerate() {
        let ga = g.matvec(alpha.view());
        let gw = g.matmat(w.view());
        let samples: Vec<f64> = (0..m).map(|i| u.column(i).dot(&gw.column(i))).collect();
        let tr = SlqEstimate::from_samples(0.0, samples);
        gradient[j] = 0.5 * alpha.dot(&ga) - 0.5 * tr.value;
        gse[j] = 0.5 * tr.std_error;
    }
    Ok(IterativeLml {
        lml,
        lml_std_error: 0.5 * logdet.std_error,
        gradient,
        gradient_std_error: gse,
        alpha,
        cg_iterations: infos[0].iterations,
        logdet,
    })
}

/// [`lml_slq`] for `y = f(X) + ε`, `f ~ GP(0, k)`, `ε ~ N(0, σ² I)`: products with
/// `K̂ = K + σ² I` on the fly, a rank-`precond_rank` pivoted-Cholesky preconditioner, and the
/// gradient with respect to the kernel's log-hyperparameters (in the order of
/// [`Kernel::log_params`]) followed by `log σ²`.
///
/// The derivative matrices come from [`Kernel::matrix_with_grad`] (dense, `O(n²)` memory per
/// hyperparameter); the solves and the log-determinant never factorise `K̂`.
///
/// Errors: invalid points or targets, `σ² ≤ 0`, and those of [`lml_slq`].
pub fn lml_slq_kernel(
    kernel: &dyn Kernel,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    noise: f64,
    params: &SlqParams,
) -> Result<IterativeLml> {
    pn_core::validate::positive("noise", noise)?;
    check_len("lml_slq_kernel", x.nrows(), y.len())?;
    let khat = KernelMatrix::symmetric(kernel, x)?.with_noise(noise)?;
    let (_, dk) = kernel.matrix_with_grad(x)?;
    let noise_grad = NoiseGrad(x.nrows(), noise);
    let mut grads: Vec<&dyn LinearOperator> = dk.iter().map(|g| g as &dyn LinearOperator).collect();
    grads.push(&noise_grad);
    let precond = if params.precond_rank > 0 {
        let pc = PivotedCholesky::from_kernel(kernel, x, params.precond_rank, 0.0)?;
        Some(pc.preconditioner(noise)?)
    } else {
        None
    };
    lml_slq(&khat, &grads, y, precond.as_ref(), params)
}

/// `∂(σ² I)/∂ log σ² = σ² I`.
struct NoiseGrad(usize, f64);

impl LinearOperator for NoiseGrad {
    fn shape(&self) -> (usize, usize) {
        (self.0, self.0)
    }
    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        &x * self.1
    }
    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        &x * self.1
    }
    fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        &x * self.1
    }
}

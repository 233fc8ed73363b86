//! Computation-aware Gaussian-process regression (IterGP; Wenger et al., 2022, "Posterior and
//! computational uncertainty in Gaussian processes", NeurIPS).
//!
//! Exact GP regression needs `K̂⁻¹ y` with `K̂ = K(X, X) + σ² I`. IterGP never forms `K̂⁻¹`:
//! in iteration `i` a *policy* picks an action `sᵢ ∈ ℝⁿ`, one product `K̂ sᵢ` is computed, and
//! a low-rank approximation `Cᵢ ≈ K̂⁻¹` with `Cᵢ K̂ Cᵢ = Cᵢ` is updated:
//!
//! ```text
//! dᵢ = (I − Cᵢ₋₁ K̂) sᵢ,   ηᵢ = sᵢᵀ K̂ dᵢ,   Cᵢ = Cᵢ₋₁ + dᵢ dᵢᵀ / ηᵢ,   vᵢ = Cᵢ y.
//! ```
//!
//! The posterior after `i` iterations is
//! `μᵢ(x) = k(x, X) vᵢ`, `kᵢ(x, x') = k(x, x') − k(x, X) Cᵢ k(X, x')`. Its covariance is the
//! exact posterior covariance (the *mathematical* uncertainty) plus
//! `k(x, X) (K̂⁻¹ − Cᵢ) k(X, x')` (the *computational* uncertainty, ≥ 0): it is the exact
//! posterior given the projected data `Sᵢᵀ y` and therefore stays calibrated however early the
//! iteration stops, as long as the actions do not depend on `y`. After `n` linearly independent
//! actions `Cₙ = K̂⁻¹` and the exact GP posterior is recovered.
//!
//! Policies ([`Policy`]): unit vectors (in index order or in the pivot order of a pivoted
//! Cholesky factorisation), conjugate gradients (residuals, optionally preconditioned — then
//! `vᵢ` are the (P)CG iterates), seeded random Gaussian actions, and kernel columns at
//! pseudo-inputs.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use pn_core::kernels::{Kernel, KernelMatrix};
use pn_core::{Covariance, Gaussian, LinearOperator};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

use crate::error::{Error, Result};
use crate::iterative::{
    Control, LowRankPlusDiagonal, PivotedCholesky, Preconditioner, check_finite, check_len, norm,
};

/// How IterGP chooses its actions `sᵢ`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Policy {
    /// `sᵢ = e_i` in index order (a partial Cholesky factorisation of `K̂` in that order).
    UnitVectors,
    /// `sᵢ = e_{πᵢ}` with `π` the pivot order of a greedy pivoted Cholesky factorisation of
    /// `K(X, X)` (largest remaining posterior variance first).
    PivotedCholesky,
    /// `sᵢ = P⁻¹ rᵢ₋₁`, the (preconditioned) residual: the representer weights are then the
    /// conjugate-gradient iterates. `preconditioner_rank > 0` uses the pivoted-Cholesky
    /// preconditioner of that rank. Depends on `y`: fast, but the combined variance is not
    /// guaranteed to be calibrated.
    Cg {
        /// Rank of the pivoted-Cholesky preconditioner (0: none).
        preconditioner_rank: usize,
    },
    /// First `rank` unit vectors in pivoted-Cholesky order (each costs one kernel column, not
    /// a product), then residuals `sᵢ = rᵢ₋₁` — CG deflated by the pivot subspace, so that the
    /// approximate precision `Cᵢ` also holds the low-rank information a preconditioner would
    /// use. Depends on `y` after the first `rank` steps.
    PivotedCholeskyThenCg {
        /// Number of unit-vector steps.
        rank: usize,
    },
    /// Independent standard normal actions from a `Pcg64` seeded with `seed`.
    Random {
        /// The seed.
        seed: u64,
    },
    /// `sᵢ = k(X, zᵢ)`: kernel columns at the rows `zᵢ` of the given pseudo-inputs
    /// (as many iterations as rows at most).
    PseudoInputs(Array2<f64>),
}

/// Options of [`IterGp::fit`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IterGpParams {
    /// The policy (default [`Policy::Cg`] with a rank-0 preconditioner).
    pub policy: Policy,
    /// Iteration budget (default `None`: `n`; memory is `O(n · iterations)`).
    pub max_iter: Option<usize>,
    /// Stop when `‖y − K̂ vᵢ‖ ≤ rtol ‖y‖` (default `1e-6`; `0` runs the whole budget).
    pub rtol: f64,
    /// Jitter rungs relative to `mean(diag K̂)`, tried in order after a breakdown (see
    /// [`IterGp::fit`]); the same default as the exact path's ladder, `[1e-10, 1e-8, 1e-6,
    /// 1e-4]`. Empty: a breakdown is an error.
    pub jitter_ladder: Vec<f64>,
}

impl Default for IterGpParams {
    fn default() -> Self {
        Self {
            policy: Policy::Cg {
                preconditioner_rank: 0,
            },
            max_iter: None,
            rtol: 1e-6,
            jitter_ladder: vec![1e-10, 1e-8, 1e-6, 1e-4],
        }
    }
}

impl IterGpParams {
    /// Sets [`policy`](Self::policy).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// Sets [`max_iter`](Self::max_iter).
    pub fn max_iter(mut self, k: usize) -> Self {
        self.max_iter = Some(k);
        self
    }
    /// Sets [`rtol`](Self::rtol).
    pub fn rtol(mut self, rtol: f64) -> Self {
        self.rtol = rtol;
        self
    }
    /// Sets [`jitter_ladder`](Self::jitter_ladder) (each rung finite, `> 0`, increasing).
    pub fn jitter_ladder(mut self, rungs: Vec<f64>) -> Self {
        self.jitter_ladder = rungs;
        self
    }
    /// No jitter: a breakdown is an error.
    pub fn no_jitter(self) -> Self {
        self.jitter_ladder(Vec::new())
    }
}

/// What the observer of [`IterGp::fit`] sees after each iteration.
#[derive(Debug)]
#[non_exhaustive]
pub struct IterGpState<'a> {
    /// Zero-based index of the iteration just completed.
    pub iteration: usize,
    /// The action `sᵢ`.
    pub action: ArrayView1<'a, f64>,
    /// The representer weights `vᵢ = Cᵢ y`.
    pub representer_weights: ArrayView1<'a, f64>,
    /// `‖y − K̂ vᵢ‖ / ‖y‖`.
    pub relative_residual: f64,
}

/// What [`IterGp::fit`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IterGpInfo {
    /// Iterations (products with `K̂`).
    pub iterations: usize,
    /// Whether the residual tolerance was met.
    pub converged: bool,
    /// `‖y − K̂ v‖ / ‖y‖` at the end (recursively updated).
    pub relative_residual: f64,
    /// Actions skipped because they added nothing new (`ηᵢ ≈ 0` and `dᵢᵀ rᵢ₋₁ ≈ 0`).
    pub skipped: usize,
    /// The absolute jitter added to the diagonal after a breakdown (`0` when none was
    /// needed): the model conditioned is then `K + (σ² + jitter) I`.
    pub jitter: f64,
}

/// A GP prior `f ~ GP(0, k)` with Gaussian noise `σ²` on training inputs `X`, to be conditioned
/// by IterGP.
#[derive(Debug, Clone)]
pub struct IterGp<'a> {
    kernel: &'a dyn Kernel,
    x: ArrayView2<'a, f64>,
    noise: f64,
}

impl<'a> IterGp<'a> {
    /// Errors: invalid points (dimension, NaN/∞), no points, negative or non-finite noise.
    pub fn new(kernel: &'a dyn Kernel, x: ArrayView2<'a, f64>, noise: f64) -> Result<Self> {
        pn_core::validate::non_negative("noise", noise)?;
        if x.nrows() == 0 {
            return Err(pn_core::Error::Empty { what: "x" }.into());
        }
        KernelMatrix::symmetric(kernel, x)?;
        Ok(Self { kernel, x, noise })
    }

    /// Runs IterGP on targets `y` (prior mean 0: subtract a mean beforehand) with an observer
    /// that sees the state after each iteration and may stop it.
    ///
    /// **Breakdown and jitter.** An action whose new direction has curvature
    /// `ηᵢ = dᵢᵀ K̂ dᵢ ≤ n ε · mean(diag K̂) · ‖dᵢ‖²` — zero up to round-off, the exact path's
    /// zero-pivot criterion — lies in the (numerical) null space of `K̂`. If the targets are
    /// consistent along it (`|dᵢᵀ rᵢ₋₁| ≤ √ε ‖dᵢ‖ ‖y‖`, e.g. duplicate inputs with equal
    /// targets) the action carries nothing new and is skipped. Otherwise `K̂ v = y` has no
    /// solution (e.g. duplicate inputs with different targets at zero noise) and a step would
    /// divide by round-off; the same holds when the residual grows beyond `10⁸ ‖y‖`, which the
    /// monotone energy norm forbids unless `K̂` is numerically singular. Either is a
    /// *breakdown*: as on the exact path, the fit restarts with `c · mean(diag K̂)` added to the
    /// diagonal for the rungs `c` of [`IterGpParams::jitter_ladder`], reports the jitter in
    /// [`IterGpInfo::jitter`], and conditions `K + (σ² + jitter) I` from then on; the observer
    /// then sees the iterations again from 0. With zero noise the preconditioner of
    /// [`Policy::Cg`] uses the mean diagonal its low-rank part misses,
    /// `tr(K − L Lᵀ)/n` (at least the smallest rung), or `σ² + jitter` when that is positive.
    ///
    /// Errors: wrong length or NaN/∞ in `y`, invalid pseudo-inputs or jitter rungs, a failing
    /// preconditioner, and [`Error::NotPositiveDefinite`] (with the iteration and the
    /// curvature) when the last rung still breaks down.
    pub fn fit<F>(
        &self,
        y: ArrayView1<'_, f64>,
        params: &IterGpParams,
        mut observer: F,
    ) -> Result<IterGpPosterior>
    where
        F: FnMut(&IterGpState<'_>) -> Control,
    {
        let n = self.x.nrows();
        check_len("IterGp::fit", n, y.len())?;
        check_finite("y", y.iter())?;
        pn_core::validate::non_negative("rtol", params.rtol)?;
        crate::exact::validate_ladder(&params.jitter_ladder)?;
        let mean_diag = self.kernel.diag(self.x)?.sum() / n as f64 + self.noise;
        if !(mean_diag.is_finite() && mean_diag > 0.0) {
            return Err(pn_core::Error::InvalidParameter {
                name: "mean of diag(K + σ²I)",
                value: mean_diag,
                reason: "must be finite and > 0",
            }
            .into());
        }
        let rungs = std::iter::once(0.0).chain(params.jitter_ladder.iter().map(|c| c * mean_diag));
        let mut last = None;
        for jitter in rungs {
            match self.attempt(y, params, jitter, mean_diag, &mut observer)? {
                Ok(post) => return Ok(post),
                Err(b) => last = Some(b),
            }
        }
        let b = last.expect("at least one attempt");
        Err(Error::NotPositiveDefinite {
            what: "IterGp::fit (K + σ²I is numerically singular and the targets are not in its range, even with the largest jitter rung: duplicate inputs with different targets at zero noise? add noise)",
            iteration: b.iteration,
            curvature: b.curvature,
        })
    }

    /// One IterGP run on `K + (σ² + jitter) I`; `Ok(Err(_))` on a breakdown.
    fn attempt<F>(
        &self,
        y: ArrayView1<'_, f64>,
        params: &IterGpParams,
        jitter: f64,
        mean_diag: f64,
        observer: &mut F,
    ) -> Result<std::result::Result<IterGpPosterior, Breakdown>>
    where
        F: FnMut(&IterGpState<'_>) -> Control,
    {
        let n = self.x.nrows();
        let noise = self.noise + jitter;
        let mean_diag = mean_diag + jitter;
        let khat = KernelMatrix::symmetric(self.kernel, self.x)?.with_noise(noise)?;
        let mut budget = params.max_iter.unwrap_or(n);
        let mut order: Vec<usize> = Vec::new();
        let mut precond: Option<LowRankPlusDiagonal> = None;
        let mut pseudo: Option<Array2<f64>> = None;
        let mut rng = Pcg64::seed_from_u64(0);
        match &params.policy {
            Policy::UnitVectors => {
                order = (0..n).collect();
                budget = budget.min(n);
            }
            Policy::PivotedCholesky => {
                let pc = PivotedCholesky::from_kernel(self.kernel, self.x, budget.min(n), 0.0)?;
                order = pc.pivots;
                let mut taken = vec![false; n];
                order.iter().for_each(|&i| taken[i] = true);
                order.extend((0..n).filter(|&i| !taken[i]));
                budget = budget.min(n);
            }
            Policy::Cg {
                preconditioner_rank,
            } => {
                if *preconditioner_rank > 0 {
                    let pc = PivotedCholesky::from_kernel(
                        self.kernel,
                        self.x,
                        *preconditioner_rank,
                        0.0,
                    )?;
                    let s2 = if noise > 0.0 {
                        noise
                    } else {
                        (pc.residual_trace / n as f64).max(1e-10 * mean_diag)
                    };
                    precond = Some(pc.preconditioner(s2)?);
                }
            }
            Policy::PivotedCholeskyThenCg { rank } => {
                order =
                    PivotedCholesky::from_kernel(self.kernel, self.x, (*rank).min(n), 0.0)?.pivots;
            }
            Policy::Random { seed } => rng = Pcg64::seed_from_u64(*seed),
            Policy::PseudoInputs(z) => {
                let kzx = self.kernel.matrix(z.view(), self.x)?;
                budget = budget.min(z.nrows());
                pseudo = Some(kzx);
            }
        }
        let ynorm = norm(y);
        let zero_curvature = n as f64 * f64::EPSILON * mean_diag;
        let consistent = f64::EPSILON.sqrt() * ynorm;
        let mut v = Array1::<f64>::zeros(n);
        let mut r = y.to_owned();
        let mut d_cols: Vec<Array1<f64>> = Vec::new();
        let mut kd_cols: Vec<Array1<f64>> = Vec::new();
        let mut info = IterGpInfo {
            iterations: 0,
            converged: ynorm == 0.0,
            relative_residual: 0.0,
            skipped: 0,
            jitter,
        };
        let rel = |r: &Array1<f64>| {
            if ynorm > 0.0 {
                norm(r.view()) / ynorm
            } else {
                0.0
            }
        };
        // K̂ eⱼ is a kernel column plus σ² eⱼ: O(n) evaluations instead of a product.
        let kernel_column = |j: usize| {
            let mut col = self
                .kernel
                .matrix_unchecked(self.x, self.x.slice(ndarray::s![j..=j, ..]))
                .remove_axis(Axis(1));
            col[j] += noise;
            col
        };
        while !info.converged && info.iterations < budget {
            let i = info.iterations;
            let s: Array1<f64> = match &params.policy {
                Policy::UnitVectors | Policy::PivotedCholesky => {
                    let mut e = Array1::zeros(n);
                    e[order[i]] = 1.0;
                    e
                }
                Policy::PivotedCholeskyThenCg { .. } if i < order.len() => {
                    let mut e = Array1::zeros(n);
                    e[order[i]] = 1.0;
                    e
                }
                Policy::PivotedCholeskyThenCg { .. } => r.clone(),
                Policy::Cg { .. } => match &precond {
                    Some(p) => p.solve(r.view()),
                    None => r.clone(),
                },
                Policy::Random { .. } => {
                    Array1::from_shape_fn(n, |_| StandardNormal.sample(&mut rng))
                }
                Policy::PseudoInputs(_) => pseudo.as_ref().expect("set above").row(i).to_owned(),
            };
            info.iterations += 1;
            let z = match &params.policy {
                Policy::UnitVectors | Policy::PivotedCholesky => kernel_column(order[i]),
                Policy::PivotedCholeskyThenCg { .. } if i < order.len() => kernel_column(order[i]),
                _ => khat.matvec(s.view()),
            };
            // d = (I − C K̂) s, projected twice for numerical orthogonality.
            let mut d = s.clone();
            let mut kd = z.clone();
            for pass in 0..2 {
                // C K̂ w = Σ d̃ⱼ (d̃ⱼᵀ K̂ w): against z = K̂ s first, then against K̂ d.
                let coef: Vec<f64> = if pass == 0 {
                    d_cols.iter().map(|dc| dc.dot(&z)).collect()
                } else {
                    kd_cols.iter().map(|kdc| kdc.dot(&d)).collect()
                };
                for ((dc, kdc), c) in d_cols.iter().zip(&kd_cols).zip(coef) {
                    d.scaled_add(-c, dc);
                    kd.scaled_add(-c, kdc);
                }
            }
            let eta = d.dot(&kd);
            let dd = d.dot(&d);
            let alpha = d.dot(&r);
            if eta.is_nan() || eta <= zero_curvature * dd {
                let dn = dd.sqrt();
                if dn == 0.0 || alpha.abs() <= consistent * dn {
                    // Nothing new, and the targets agree: skip the action.
                    info.skipped += 1;
                    let residual_phase = match params.policy {
                        Policy::Cg { .. } => true,
                        Policy::PivotedCholeskyThenCg { .. } => i >= order.len(),
                        _ => false,
                    };
                    if residual_phase {
                        break;
                    }
                    continue;
                }
                return Ok(Err(Breakdown {
                    iteration: i,
                    curvature: eta,
                }));
            }
            v.scaled_add(alpha / eta, &d);
            r.scaled_add(-alpha / eta, &kd);
            let sq = eta.sqrt();
            d_cols.push(d / sq);
            kd_cols.push(kd / sq);
            info.relative_residual = rel(&r);
            if info.relative_residual.is_nan() || info.relative_residual > 1e8 {
                return Ok(Err(Breakdown {
                    iteration: i,
                    curvature: eta,
                }));
            }
            info.converged = info.relative_residual <= params.rtol;
            let ctl = observer(&IterGpState {
                iteration: i,
                action: s.view(),
                representer_weights: v.view(),
                relative_residual: info.relative_residual,
            });
            if ctl == Control::Stop {
                break;
            }
        }
        let k = d_cols.len();
        let mut d = Array2::zeros((n, k));
        for (j, c) in d_cols.into_iter().enumerate() {
            d.column_mut(j).assign(&c);
        }
        Ok(Ok(IterGpPosterior {
            kernel: self.kernel.box_clone(),
            x: self.x.to_owned(),
            noise: self.noise,
            v,
            d,
            info,
        }))
    }
}

/// Where an IterGP run broke down.
#[derive(Debug, Clone, Copy)]
struct Breakdown {
    iteration: usize,
    curvature: f64,
}

/// The IterGP posterior: mean `k(x, X) v`, covariance `k(x, x') − k(x, X) D Dᵀ k(X, x')` with
/// `C = D Dᵀ ≈ K̂⁻¹` of rank `iterations`.
#[derive(Debug, Clone)]
pub struct IterGpPosterior {
    kernel: Box<dyn Kernel>,
    x: Array2<f64>,
    noise: f64,
    v: Array1<f64>,
    d: Array2<f64>,
    info: IterGpInfo,
}

impl IterGpPosterior {
    /// The representer weights `v = C y`.
    pub fn representer_weights(&self) -> ArrayView1<'_, f64> {
        self.v.view()
    }

    /// The factor `D` (`n × rank`) of the approximate precision `C = D Dᵀ ≈ K̂⁻¹`.
    pub fn precision_factor(&self) -> ArrayView2<'_, f64> {
        self.d.view()
    }

    /// Iterations and convergence.
    pub fn info(&self) -> &IterGpInfo {
        &self.info
    }

    /// The noise variance `σ²` of the model (without the jitter, see
    /// [`jitter`](Self::jitter)).
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// The jitter added to the diagonal after a breakdown (see [`IterGp::fit`]); the model
    /// conditioned is `K + (σ² + jitter) I`, and a new observation has variance
    /// `σ² + jitter` on top of the latent one.
    pub fn jitter(&self) -> f64 {
        self.info.jitter
    }

    /// Mean and *combined* (mathematical + computational) variance of the latent `f` at the
    /// rows of `xs` (add [`noise`](Self::noise) for the variance of a new observation).
    ///
    /// Errors: wrong dimension or NaN/∞ in `xs`.
    pub fn predict(&self, xs: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let ksx = self.kernel.matrix(xs, self.x.view())?;
        let mean = ksx.dot(&self.v);
        let a = ksx.dot(&self.d);
        let var = self.kernel.diag(xs)? - a.map_axis(Axis(1), |r| r.dot(&r));
        Ok((mean, var.mapv(|v| v.max(0.0))))
    }

    /// The joint belief over `f` at the rows of `xs`, with the combined covariance.
    ///
    /// Errors: as [`predict`](Self::predict), and a covariance that is not positive
    /// semi-definite to round-off (repeated test points are fine).
    pub fn predict_belief(&self, xs: ArrayView2<'_, f64>) -> Result<Gaussian> {
        let ksx = self.kernel.matrix(xs, self.x.view())?;
        let mean = ksx.dot(&self.v);
        let a = ksx.dot(&self.d);
        let mut cov = self.kernel.matrix(xs, xs)? - a.dot(&a.t());
        cov = (&cov + &cov.t()) / 2.0;
        Ok(Gaussian::new(mean, Covariance::dense(cov)?)?)
    }
}

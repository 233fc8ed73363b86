//! The matrix-based probabilistic linear solver with symmetric-Kronecker beliefs.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, ShapeBuilder};
use pn_core::{Covariance, Gaussian, LinearOperator};

use crate::error::{Error, Result};
use crate::iterative::{Control, check_finite, check_len, norm, square_dim};

/// How [`matrix_based`] sets the scale `φ` of its uncertainty about `H = A⁻¹` in the subspace
/// the iteration has not explored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatrixBasedCalibration {
    /// `φ = 1`: the prior scale, whatever the problem (as an uncalibrated solver does).
    None,
    /// `φ` such that `tr Cov(x) = ê²`, with the error estimate `ê = ‖rₘ‖ / λ̂` and `λ̂` the
    /// smallest Ritz value of the Lanczos tridiagonal matrix behind CG (the smallest Rayleigh
    /// quotient of `A` on the explored Krylov space): since `‖A⁻¹ r‖ ≤ ‖r‖ / λ_min` this
    /// errs on the side of caution. No extra products.
    Rayleigh,
    /// `φ` such that `tr Cov(x) = ê²`, where `ê` estimates `‖x − xₘ‖ = ‖A⁻¹ rₘ‖` as the
    /// geometric mean of a lower bound — Gauss quadrature of `rₘᵀ A⁻² rₘ` from `steps` Lanczos
    /// steps started at the residual (Golub & Meurant, 2010) — and the cautious `‖rₘ‖ / θ_min`
    /// of [`Rayleigh`](Self::Rayleigh). Costs `steps` further products with `A` (default, with
    /// 10 steps).
    Quadrature {
        /// Lanczos steps (≥ 1).
        steps: usize,
    },
}

impl Default for MatrixBasedCalibration {
    fn default() -> Self {
        MatrixBasedCalibration::Quadrature { steps: 10 }
    }
}

/// Options of [`matrix_based`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MatrixBasedParams {
    /// Stop when `‖b − A xₘ‖ ≤ rtol ‖b‖` (default `1e-6`).
    pub rtol: f64,
    /// Iteration budget (default `n`); not meeting `rtol` is not an error.
    pub max_iter: Option<usize>,
    /// Calibration of the uncertainty (default [`MatrixBasedCalibration::Quadrature`] with 10
    /// steps).
    pub calibration: MatrixBasedCalibration,
}

impl Default for MatrixBasedParams {
    fn default() -> Self {
        Self {
            rtol: 1e-6,
            max_iter: None,
            calibration: MatrixBasedCalibration::default(),
        }
    }
}

impl MatrixBasedParams {
    /// Sets [`rtol`](Self::rtol).
    pub fn rtol(mut self, rtol: f64) -> Self {
        self.rtol = rtol;
        self
    }
    /// Sets [`max_iter`](Self::max_iter).
    pub fn max_iter(mut self, k: usize) -> Self {
        self.max_iter = Some(k);
        self
    }
    /// Sets [`calibration`](Self::calibration).
    pub fn calibration(mut self, c: MatrixBasedCalibration) -> Self {
        self.calibration = c;
        self
    }
}

/// The factor `W` of a symmetric-Kronecker covariance `W ⊛ W` of the matrix-based solver's
/// beliefs, in the low-rank form `W = c · Q Qᵀ` with `Q = I − L G Rᵀ` (`G` diagonal):
/// for `H = A⁻¹`, `L = S`, `R = Y` (`Q = P`); for `A`, `L = Y`, `R = S` (`Q = Pᵀ`).
///
/// Borrowed from a [`MatrixBasedSolution`] or a [`MatrixBasedState`]; every method costs
/// `O(n m)` per vector (`m` iterations), [`diag`](Self::diag) `O(n m²)`, and nothing forms an
/// `n × n` matrix except [`to_dense`](Self::to_dense).
///
/// For `M ~ N(M̄, W ⊛ W)` (`M` symmetric), `Cov(uᵀ M v, u'ᵀ M v') = ½ ((uᵀ W u')(vᵀ W v') +
/// (uᵀ W v')(vᵀ W u'))`, hence [`bilinear_variance`](Self::bilinear_variance).
#[derive(Debug, Clone, Copy)]
pub struct SymmetricKroneckerFactor<'a> {
    l: ArrayView2<'a, f64>,
    r: ArrayView2<'a, f64>,
    g: ArrayView1<'a, f64>,
    scale: f64,
}

impl<'a> SymmetricKroneckerFactor<'a> {
    /// The order `n`.
    pub fn dim(&self) -> usize {
        self.l.nrows()
    }

    /// The scale `c` (`φ` for `H`, `1/φ` for `A`).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    fn q_t(&self, v: ArrayView1<'_, f64>) -> Array1<f64> {
        // Qᵀ v = v − R G Lᵀ v
        let c = &self.l.t().dot(&v) * &self.g;
        &v - &self.r.dot(&c)
    }

    fn check(&self, what: &'static str, v: ArrayView1<'_, f64>) -> Result<()> {
        check_len(what, self.dim(), v.len())?;
        check_finite("v", v.iter())
    }

    /// `W v`.
    ///
    /// Errors: wrong length or NaN/∞ in `v`.
    pub fn apply(&self, v: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        self.check("SymmetricKroneckerFactor::apply", v)?;
        let w = self.q_t(v);
        // Q w = w − L G Rᵀ w
        let c = &self.r.t().dot(&w) * &self.g;
        Ok((&w - &self.l.dot(&c)) * self.scale)
    }

    /// `uᵀ W v`.
    ///
    /// Errors: wrong lengths or NaN/∞.
    pub fn bilinear(&self, u: ArrayView1<'_, f64>, v: ArrayView1<'_, f64>) -> Result<f64> {
        self.check("SymmetricKroneckerFactor::bilinear", u)?;
        self.check("SymmetricKroneckerFactor::bilinear", v)?;
        Ok(self.scale * self.q_t(u).dot(&self.q_t(v)))
    }

    /// The marginal variance of the bilinear form `uᵀ M v` under `M ~ N(M̄, W ⊛ W)`:
    /// `½ ((uᵀ W u)(vᵀ W v) + (uᵀ W v)²)` (for `u = v = eᵢ`: `Var(Mᵢᵢ) = Wᵢᵢ²`).
    ///
    /// Errors: wrong lengths or NaN/∞.
    pub fn bilinear_variance(&self, u: ArrayView1<'_, f64>, v: ArrayView1<'_, f64>) -> Result<f64> {
        self.check("SymmetricKroneckerFactor::bilinear_variance", u)?;
        self.check("SymmetricKroneckerFactor::bilinear_variance", v)?;
        let (qu, qv) = (self.q_t(u), self.q_t(v));
        let (uu, vv, uv) = (qu.dot(&qu), qv.dot(&qv), qu.dot(&qv));
        Ok(0.5 * self.scale * self.scale * (uu * vv + uv * uv))
    }

    /// The diagonal of `W` (`O(n m²)`); the variances of the diagonal entries `Mᵢᵢ` are its
    /// squares.
    pub fn diag(&self) -> Array1<f64> {
        // (Q Qᵀ)ᵢᵢ = 1 − 2 (L G)ᵢ·Rᵢ + (L G)ᵢ (RᵀR) (L G)ᵢᵀ
        let lg = &self.l * &self.g;
        let rtr = self.r.t().dot(&self.r);
        let lgr = lg.dot(&rtr);
        let d = 1.0 - 2.0 * (&lg * &self.r).sum_axis(Axis(1)) + (&lgr * &lg).sum_axis(Axis(1));
        d.mapv(|v| self.scale * v.max(0.0))
    }

    /// `tr W` (`O(n m²)`).
    pub fn trace(&self) -> f64 {
        self.diag().sum()
    }

    /// `W` as a dense matrix (`O(n² m)` time, `O(n²)` memory; for small `n` and tests).
    pub fn to_dense(&self) -> Array2<f64> {
        let n = self.dim();
        let lg = &self.l * &self.g;
        let rtr = self.r.t().dot(&self.r);
        let mut w = Array2::<f64>::eye(n);
        let lgr = lg.dot(&self.r.t());
        w -= &lgr;
        w -= &lgr.t();
        w += &lg.dot(&rtr).dot(&lg.t());
        w *= self.scale;
        (&w + &w.t()) * 0.5
    }
}

/// What the observer of [`matrix_based`] sees after each iteration: the current beliefs at
/// the prior scale `φ = 1` (the belief of [`MatrixBasedCalibration::None`]; the calibrated
/// scale needs the final residual and is applied to the returned solution only).
#[derive(Debug)]
#[non_exhaustive]
pub struct MatrixBasedState<'a> {
    /// Zero-based index of the iteration just completed.
    pub iteration: usize,
    /// The mean `xₘ = H̄ b` of the belief over the solution (the CG iterate).
    pub mean: ArrayView1<'a, f64>,
    /// `‖b − A xₘ‖ / ‖b‖`.
    pub relative_residual: f64,
    /// The actions `S` so far (`n × (iteration + 1)`).
    pub actions: ArrayView2<'a, f64>,
    /// The observations `Y = A S` so far.
    pub observations: ArrayView2<'a, f64>,
    /// The covariance factor `W` of the belief `N(S (SᵀY)⁻¹ Sᵀ, W ⊛ W)` over `H = A⁻¹`
    /// (scale 1).
    pub inverse_factor: SymmetricKroneckerFactor<'a>,
    /// The covariance factor of the belief `N(Y (SᵀY)⁻¹ Yᵀ, W ⊛ W)` over `A` (scale 1).
    pub matrix_factor: SymmetricKroneckerFactor<'a>,
}

/// The beliefs returned by [`matrix_based`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MatrixBasedSolution {
    /// The induced belief `N(xₘ, Cov)` over the solution (dense covariance, `O(n²)` memory,
    /// `O(n² m)` time).
    pub belief: Gaussian,
    /// The actions `S` (`n × m`, the CG directions).
    pub s: Array2<f64>,
    /// The observations `Y = A S`.
    pub y: Array2<f64>,
    /// The scale `φ` of the uncertainty about `A⁻¹` in the unexplored subspace (the belief
    /// over `A` uses `1/φ`).
    pub phi: f64,
    /// Iterations `m`.
    pub iterations: usize,
    /// Whether `rtol` was met.
    pub converged: bool,
    /// `‖b − A xₘ‖ / ‖b‖`.
    pub relative_residual: f64,
    g: Array1<f64>,
}

impl MatrixBasedSolution {
    /// The posterior mean of `H = A⁻¹` applied to `v`: `S (Sᵀ Y)⁻¹ Sᵀ v` (so that `H̄ b = xₘ`).
    pub fn inverse_mean_apply(&self, v: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        check_len("inverse_mean_apply", self.s.nrows(), v.len())?;
        Ok(self.s.dot(&(&self.s.t().dot(&v) * &self.g)))
    }

    /// The posterior mean of `A` applied to `v`: `Y (Sᵀ Y)⁻¹ Yᵀ v` (exact on the span of `S`).
    pub fn matrix_mean_apply(&self, v: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        check_len("matrix_mean_apply", self.y.nrows(), v.len())?;
        Ok(self.y.dot(&(&self.y.t().dot(&v) * &self.g)))
    }

    /// The factor `W_H = φ P Pᵀ`, `P = I − S (SᵀY)⁻¹ Yᵀ`, of the posterior covariance
    /// `W_H ⊛ W_H` of `H = A⁻¹`. It vanishes on the observations (`W_H Y = 0`: `H Y = S` is
    /// known exactly).
    pub fn inverse_covariance_factor(&self) -> SymmetricKroneckerFactor<'_> {
        factor(&self.s, &self.y, &self.g, self.phi)
    }

    /// The factor `W_A = φ⁻¹ Pᵀ P` of the posterior covariance `W_A ⊛ W_A` of `A`
    /// (`W_A S = 0`: `A S = Y` is known exactly). The scale `1/φ`: on the unexplored subspace
    /// `H ≈ A⁻¹`, so a spread `φ` for `H` means a spread `1/φ` for `A`.
    pub fn matrix_covariance_factor(&self) -> SymmetricKroneckerFactor<'_> {
        factor(&self.y, &self.s, &self.g, 1.0 / self.phi)
    }
}

fn factor<'a>(
    l: &'a Array2<f64>,
    r: &'a Array2<f64>,
    g: &'a Array1<f64>,
    scale: f64,
) -> SymmetricKroneckerFactor<'a> {
    SymmetricKroneckerFactor {
        l: l.view(),
        r: r.view(),
        g: g.view(),
        scale,
    }
}

/// The matrix-based probabilistic linear solver for symmetric positive definite `A` (Hennig,
/// 2015; Wenger & Hennig, 2020): Gaussian beliefs over `A` and `H = A⁻¹` with
/// symmetric-Kronecker covariances `W ⊛ W`, conditioned on `Y = A S` for the conjugate-gradient
/// actions `S`.
///
/// With the hereditary prior (`W₀ Y = S`) on `H`, conditioning `N(0, W₀ ⊛ W₀)` on `H Y = S`
/// gives the mean `H̄ = S (SᵀY)⁻¹ Sᵀ` (so `H̄ b = xₘ`, the CG iterate) and the covariance
/// factor `W₀ − S (YᵀS)⁻¹ Sᵀ = φ P Pᵀ`, `P = I − S (SᵀY)⁻¹ Yᵀ` (for the prior
/// `W₀ = S (SᵀY)⁻¹ Sᵀ + φ P Pᵀ`), which vanishes on the explored directions; likewise for `A`
/// with `Y (SᵀY)⁻¹ Yᵀ` and `φ⁻¹ Pᵀ P` ([`MatrixBasedSolution::inverse_covariance_factor`],
/// [`MatrixBasedSolution::matrix_covariance_factor`]). The induced belief over `x = H b` is
/// `N(xₘ, ½ (W (bᵀ W b) + (W b)(W b)ᵀ))`, where `Pᵀ b = rₘ` is the residual. The scale `φ`
/// is set by [`MatrixBasedCalibration`]. Cost: `m` products with `A` plus `O(n m²)` for the
/// factors and `O(n² m)` for the dense covariance of `x`.
///
/// The observer sees a [`MatrixBasedState`] after each iteration and may stop the iteration.
///
/// Errors: shapes, NaN/∞, [`Error::NotPositiveDefinite`] on a direction with `sᵀ A s ≤ 0`.
pub fn matrix_based<A, F>(
    a: &A,
    b: ArrayView1<'_, f64>,
    params: &MatrixBasedParams,
    mut observer: F,
) -> Result<MatrixBasedSolution>
where
    A: LinearOperator + ?Sized,
    F: FnMut(&MatrixBasedState<'_>) -> Control,
{
    const WHAT: &str = "matrix_based";
    let n = square_dim(WHAT, &a)?;
    check_len(WHAT, n, b.len())?;
    check_finite("b", b.iter())?;
    pn_core::validate::non_negative("rtol", params.rtol)?;
    if let MatrixBasedCalibration::Quadrature { steps: 0 } = params.calibration {
        return Err(pn_core::Error::InvalidParameter {
            name: "steps",
            value: 0.0,
            reason: "the quadrature calibration needs at least one Lanczos step",
        }
        .into());
    }
    let max_iter = params.max_iter.unwrap_or(n);
    let bnorm = norm(b);
    let mut x = Array1::<f64>::zeros(n);
    let mut r = b.to_owned();
    let mut p = r.clone();
    let mut rr = r.dot(&r);
    let mut s = Array2::<f64>::zeros((n, 0).f());
    let mut y = Array2::<f64>::zeros((n, 0).f());
    let mut g = Array1::<f64>::zeros(0);
    let mut lam_min = f64::INFINITY;
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let rel = |r: &Array1<f64>| {
        if bnorm > 0.0 {
            norm(r.view()) / bnorm
        } else {
            0.0
        }
    };
    let mut m = 0;
    while rel(&r) > params.rtol && m < max_iter && rr > 0.0 {
        let q = a.matvec(p.view());
        let eta = p.dot(&q);
        if !(eta.is_finite() && eta > 0.0) {
            return Err(Error::NotPositiveDefinite {
                what: WHAT,
                iteration: m,
                curvature: eta,
            });
        }
        lam_min = lam_min.min(eta / p.dot(&p));
        let alpha = rr / eta;
        x.scaled_add(alpha, &p);
        r.scaled_add(-alpha, &q);
        let rr_new = r.dot(&r);
        alphas.push(alpha);
        betas.push(rr_new / rr);
        s.push_column(p.view()).expect("n rows");
        y.push_column(q.view()).expect("n rows");
        g = g.into_iter().chain(std::iter::once(1.0 / eta)).collect();
        p = &r + &(&p * (rr_new / rr));
        rr = rr_new;
        m += 1;
        let state = MatrixBasedState {
            iteration: m - 1,
            mean: x.view(),
            relative_residual: rel(&r),
            actions: s.view(),
            observations: y.view(),
            inverse_factor: factor(&s, &y, &g, 1.0),
            matrix_factor: factor(&y, &s, &g, 1.0),
        };
        if observer(&state) == Control::Stop {
            break;
        }
    }
    // Unit-scale beliefs: W = P Pᵀ, bᵀ W b = ‖Pᵀ b‖², tr Cov(x) = ½ (bᵀWb tr W + ‖W b‖²).
    let unit = factor(&s, &y, &g, 1.0);
    let wb = unit.apply(b)?;
    let bwb = unit.bilinear(b, b)?.max(0.0);
    let tr_unit = 0.5 * (bwb * unit.trace() + wb.dot(&wb));
    let rnorm2 = r.dot(&r);
    if let Some(t) = super::cg_ritz_min(&alphas, &betas) {
        lam_min = lam_min.min(t);
    }
    let phi = match params.calibration {
        MatrixBasedCalibration::None => 1.0,
        MatrixBasedCalibration::Quadrature { steps } => {
            let ritz = lam_min.is_finite().then_some(lam_min);
            match super::error_estimate(a, &r, ritz, steps)? {
                Some(e) if tr_unit > 0.0 => e / tr_unit.sqrt(),
                _ => 1.0,
            }
        }
        MatrixBasedCalibration::Rayleigh => {
            if tr_unit > 0.0 && lam_min.is_finite() {
                let e2 = rnorm2 / (lam_min * lam_min);
                (e2 / tr_unit).sqrt()
            } else {
                1.0
            }
        }
    };
    let relative_residual = rel(&r);
    let belief = if rnorm2 == 0.0 || tr_unit == 0.0 {
        Gaussian::new(x, Covariance::scaled_identity(n, 0.0)?)?
    } else {
        let wb2 = wb.view().insert_axis(Axis(1));
        let mut cov = (unit.to_dense() * bwb + wb2.dot(&wb2.t())) * (0.5 * phi * phi);
        cov = (&cov + &cov.t()) * 0.5;
        Gaussian::new(x, Covariance::dense(cov)?)?
    };
    Ok(MatrixBasedSolution {
        belief,
        s,
        y,
        phi,
        iterations: m,
        converged: relative_residual <= params.rtol,
        relative_residual,
        g,
    })
}

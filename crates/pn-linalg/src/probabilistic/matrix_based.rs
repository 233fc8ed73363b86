//! The matrix-based probabilistic linear solver with symmetric-Kronecker beliefs.

use ndarray::{Array1, Array2, ArrayView1, Axis};
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

/// The beliefs returned by [`matrix_based`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MatrixBasedSolution {
    /// The induced belief `N(xₘ, Cov)` over the solution (dense covariance, `O(n²)` memory).
    pub belief: Gaussian,
    /// The actions `S` (`n × m`, the CG directions).
    pub s: Array2<f64>,
    /// The observations `Y = A S`.
    pub y: Array2<f64>,
    /// The scale `φ` of the uncertainty about `A⁻¹` in the unexplored subspace.
    pub phi: f64,
    /// Iterations `m`.
    pub iterations: usize,
    /// Whether `rtol` was met.
    pub converged: bool,
    /// `‖b − A xₘ‖ / ‖b‖`.
    pub relative_residual: f64,
}

impl MatrixBasedSolution {
    /// The posterior mean of `H = A⁻¹` applied to `v`: `S (Sᵀ Y)⁻¹ Sᵀ v` (so that `H̄ b = xₘ`).
    pub fn inverse_mean_apply(&self, v: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        check_len("inverse_mean_apply", self.s.nrows(), v.len())?;
        let g = self.gram_inv();
        Ok(self.s.dot(&(&self.s.t().dot(&v) * &g)))
    }

    /// The posterior mean of `A` applied to `v`: `Y (Sᵀ Y)⁻¹ Yᵀ v` (exact on the span of `S`).
    pub fn matrix_mean_apply(&self, v: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        check_len("matrix_mean_apply", self.y.nrows(), v.len())?;
        let g = self.gram_inv();
        Ok(self.y.dot(&(&self.y.t().dot(&v) * &g)))
    }

    fn gram_inv(&self) -> Array1<f64> {
        (&self.s * &self.y).sum_axis(Axis(0)).mapv(|e| 1.0 / e)
    }
}

/// The matrix-based probabilistic linear solver for symmetric positive definite `A` (Hennig,
/// 2015; Wenger & Hennig, 2020): Gaussian beliefs over `A` and `H = A⁻¹` with
/// symmetric-Kronecker covariances `W ⊛ W`, conditioned on `Y = A S` for the conjugate-gradient
/// actions `S`.
///
/// With the hereditary prior `W₀ Y = S` on `H`, the posterior mean is `H̄ = S (SᵀY)⁻¹ Sᵀ` (so
/// `H̄ b = xₘ`, the CG iterate) and the posterior covariance factor is
/// `Wₘ = φ P Pᵀ`, `P = I − S (SᵀY)⁻¹ Yᵀ`, which vanishes on the explored directions. The
/// induced belief over `x = H b` is `N(xₘ, ½ (Wₘ (bᵀ Wₘ b) + (Wₘ b)(Wₘ b)ᵀ))`, where
/// `Pᵀ b = rₘ` is the residual. The scale `φ` is set by [`MatrixBasedCalibration`].
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
    F: FnMut(usize, ArrayView1<'_, f64>, f64) -> Control,
{
    const WHAT: &str = "matrix_based";
    let n = square_dim(WHAT, &a)?;
    check_len(WHAT, n, b.len())?;
    check_finite("b", b.iter())?;
    pn_core::validate::non_negative("rtol", params.rtol)?;
    let max_iter = params.max_iter.unwrap_or(n);
    let bnorm = norm(b);
    let mut x = Array1::<f64>::zeros(n);
    let mut r = b.to_owned();
    let mut p = r.clone();
    let mut rr = r.dot(&r);
    let mut s_cols = Vec::new();
    let mut y_cols = Vec::new();
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
        s_cols.push(p.clone());
        y_cols.push(q);
        p = &r + &(&p * (rr_new / rr));
        rr = rr_new;
        m += 1;
        if observer(m - 1, x.view(), rel(&r)) == Control::Stop {
            break;
        }
    }
    let stack = |cols: &[Array1<f64>]| {
        let mut out = Array2::zeros((n, cols.len()));
        for (j, c) in cols.iter().enumerate() {
            out.column_mut(j).assign(c);
        }
        out
    };
    let s = stack(&s_cols);
    let y = stack(&y_cols);
    let g = (&s * &y).sum_axis(Axis(0)).mapv(|e| 1.0 / e);
    // P = I − S G Yᵀ (dense), Pr and tr(P Pᵀ).
    let mut pm = Array2::<f64>::eye(n);
    pm -= &(&s * &g).dot(&y.t());
    let pr = pm.dot(&r);
    let ppt = pm.dot(&pm.t());
    let rnorm2 = r.dot(&r);
    let tr_unit = 0.5 * (rnorm2 * ppt.diag().sum() + pr.dot(&pr));
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
    let pr2 = pr.view().insert_axis(Axis(1));
    let mut cov = (&ppt * rnorm2 + &pr2.dot(&pr2.t())) * (0.5 * phi * phi);
    cov = (&cov + &cov.t()) * 0.5;
    let relative_residual = rel(&r);
    let belief = if rnorm2 == 0.0 {
        Gaussian::new(x, Covariance::scaled_identity(n, 0.0)?)?
    } else {
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
    })
}

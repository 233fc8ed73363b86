//! Probabilistic linear solvers: beliefs over the solution `x` of `A x = b` (`A` symmetric
//! positive definite) whose covariance states how far the early-stopped iterate may be from
//! the truth.
//!
//! - [`bayescg`]: BayesCG (Cockayne, Oates, Ipsen & Girolami, 2019), a solution-based solver
//!   with a Gaussian prior `N(x₀, ν Σ₀)` over `x`, conditioned on the projections `sᵢᵀ A x =
//!   sᵢᵀ b` along conjugate-gradient-like directions; with an arbitrary `Σ₀` (identity by
//!   default) and the empirical-Bayes scale `ν̂`, or with the Krylov-subspace prior (Reid,
//!   Cockayne, Oates, Ipsen & Girolami, 2022) built from a few further CG steps.
//! - [`matrix_based`]: the matrix-based solver (Hennig, 2015; Wenger & Hennig, 2020) with
//!   symmetric-Kronecker beliefs over `A` and `H = A⁻¹` whose posterior mean reproduces CG; its
//!   uncertainty in the unexplored subspace is scaled so that the reported spread matches an
//!   estimate of the error.
//!
//! Both return a [`pn_core::Gaussian`] over `x`. Their calibration over random problems is
//! measured in `docs/linsolve.md`.

mod bayes_cg;
mod matrix_based;

pub use bayes_cg::{
    BayesCgInfo, BayesCgParams, BayesCgPrior, BayesCgSolution, BayesCgState, bayescg,
};
pub use matrix_based::{
    MatrixBasedCalibration, MatrixBasedParams, MatrixBasedSolution, MatrixBasedState,
    SymmetricKroneckerFactor, matrix_based,
};

use ndarray::{Array1, Array2};
use pn_core::LinearOperator;

use crate::error::Result;

/// The smallest Ritz value of the Lanczos matrix behind `m` CG steps with coefficients
/// `αⱼ`, `βⱼ = ‖rⱼ₊₁‖²/‖rⱼ‖²`: `T_jj = 1/αⱼ + βⱼ₋₁/αⱼ₋₁`, `T_{j,j+1} = √βⱼ / αⱼ`.
pub(crate) fn cg_ritz_min(alphas: &[f64], betas: &[f64]) -> Option<f64> {
    let m = alphas.len();
    if m == 0 {
        return None;
    }
    let mut t = Array2::<f64>::zeros((m, m));
    for j in 0..m {
        t[[j, j]] = 1.0 / alphas[j]
            + if j > 0 {
                betas[j - 1] / alphas[j - 1]
            } else {
                0.0
            };
        if j + 1 < m {
            let o = betas[j].sqrt() / alphas[j];
            t[[j, j + 1]] = o;
            t[[j + 1, j]] = o;
        }
    }
    let (theta, _) = pn_core::dense::eigh(t.view()).ok()?;
    (theta[0] > 0.0 && theta[0].is_finite()).then_some(theta[0])
}

/// Estimate of `‖A⁻¹ r‖` (the error of an iterate with residual `r`) from two one-sided
/// estimates: the Gauss-quadrature value of `rᵀ A⁻² r` from `steps` Lanczos steps at `r` (a
/// lower bound, since all even derivatives of `t⁻²` are positive), and `‖r‖ / θ_min` with
/// `θ_min` the smallest Ritz value seen (of this Lanczos run or of `ritz_min`), which tends to
/// lie above. Returns their geometric mean, or `None` for `r = 0`.
pub(crate) fn error_estimate<A: LinearOperator + ?Sized>(
    a: &A,
    r: &Array1<f64>,
    ritz_min: Option<f64>,
    steps: usize,
) -> Result<Option<f64>> {
    let rn = r.dot(r).sqrt();
    if rn == 0.0 || steps == 0 {
        return Ok(None);
    }
    let l = crate::iterative::lanczos(a, r.view(), steps)?;
    let (theta, _) = pn_core::dense::eigh(l.tridiagonal().view())?;
    let lower2 = l.quadrature(|t| if t > 0.0 { 1.0 / (t * t) } else { f64::NAN })?;
    let mut tmin = theta[0];
    if let Some(t) = ritz_min {
        tmin = tmin.min(t);
    }
    if !(lower2.is_finite() && lower2 > 0.0 && tmin > 0.0) {
        return Ok(None);
    }
    let upper = rn / tmin;
    Ok(Some((lower2.sqrt() * upper).sqrt()))
}

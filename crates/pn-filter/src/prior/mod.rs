//! Gauss–Markov priors: linear time-invariant SDEs `dx = F x dt + L dW` discretised exactly.
//!
//! A step of length `h` is the transition `x(t + h) = A(h) x(t) + w`, `w ~ N(0, Q(h))`. Every
//! prior here hands it out in **preconditioned coordinates** ([`Transition`]): with a diagonal
//! `T(h)`, `A = T Ā T⁻¹` and `Q = T L̄ L̄ᵀ Tᵀ`, where `Ā` and `L̄` are well scaled even when
//! `A` and `Q` span many orders of magnitude (high orders, tiny steps). Filters work with
//! `x̄ = T⁻¹ x` and never form the badly conditioned `Q`.
//!
//! States of a `d`-dimensional process are stored **derivative-major**: entry `k·d + j` is the
//! `k`-th derivative of coordinate `j`, so that the per-coordinate model `A₁` acts on the stack
//! as `A₁ ⊗ I_d` (pn-core's Kronecker convention).

mod iwp;
mod lti;
mod stacked;

pub use iwp::Iwp;
pub use lti::{Ioup, Matern};
pub use stacked::Stacked;

use ndarray::{Array1, Array2, ArrayView1};
use pn_core::Gaussian;

use crate::error::Result;

/// One exact discretisation step in preconditioned coordinates.
///
/// `A = T Ā T⁻¹`, `Q = (T L̄)(T L̄)ᵀ`, `T = diag(precond)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// `Ā`, the transition in preconditioned coordinates.
    pub a: Array2<f64>,
    /// `L̄`, a lower-triangular square root of the preconditioned process noise `Q̄`.
    pub q_chol: Array2<f64>,
    /// The diagonal of the preconditioner `T`.
    pub precond: Array1<f64>,
}

impl Transition {
    /// `A` in the original coordinates.
    pub fn a_original(&self) -> Array2<f64> {
        let t = &self.precond;
        Array2::from_shape_fn(self.a.raw_dim(), |(i, j)| t[i] * self.a[[i, j]] / t[j])
    }

    /// The same step with the process noise scaled by a diffusion `σ² ≥ 0` (`Q ↦ σ² Q`).
    pub fn scaled(&self, diffusion: f64) -> Transition {
        Transition {
            a: self.a.clone(),
            q_chol: &self.q_chol * diffusion.max(0.0).sqrt(),
            precond: self.precond.clone(),
        }
    }

    /// `Q` in the original coordinates (dense; for tests and small problems).
    pub fn q_original(&self) -> Array2<f64> {
        let tl = scale_rows(&self.q_chol, self.precond.view());
        tl.dot(&tl.t())
    }
}

/// `diag(t) M`.
pub(crate) fn scale_rows(m: &Array2<f64>, t: ArrayView1<'_, f64>) -> Array2<f64> {
    let mut out = m.clone();
    for (mut row, &ti) in out.rows_mut().into_iter().zip(t.iter()) {
        row *= ti;
    }
    out
}

/// A Gauss–Markov prior: a linear time-invariant SDE with exact discretisation.
pub trait GaussMarkov: Send + Sync + std::fmt::Debug {
    /// The number of coordinates `d` of the modelled process.
    fn dim(&self) -> usize;

    /// The number of derivatives in the state besides the value (`q` for IWP(q), `ν − ½` for
    /// Matérn-ν): the state has `(q + 1)·d` entries.
    fn order(&self) -> usize;

    /// The size of the state, `(order + 1) · dim`.
    fn state_dim(&self) -> usize {
        (self.order() + 1) * self.dim()
    }

    /// The exact transition over a step `h > 0`, in preconditioned coordinates.
    fn transition(&self, h: f64) -> Result<Transition>;

    /// The stationary distribution, for priors that have one (Matérn, IOUP is not stationary
    /// in its integrated components).
    fn stationary(&self) -> Option<Gaussian> {
        None
    }

    /// The `state_dim`-wide selection matrix `E_k` picking the `k`-th derivative of every
    /// coordinate (`E_0 x` is the value).
    fn projection(&self, k: usize) -> Array2<f64> {
        let d = self.dim();
        let mut e = Array2::zeros((d, self.state_dim()));
        if k <= self.order() {
            for j in 0..d {
                e[[j, k * d + j]] = 1.0;
            }
        }
        e
    }
}

/// Check a step size.
pub(crate) fn check_step(h: f64) -> Result<()> {
    if h.is_finite() && h > 0.0 {
        Ok(())
    } else {
        Err(crate::Error::InvalidStep { h })
    }
}

/// Check per-coordinate diffusions (finite and > 0).
pub(crate) fn check_diffusion(g: &Array1<f64>) -> Result<()> {
    for &v in g {
        pn_core::validate::positive("diffusion", v)?;
    }
    if g.is_empty() {
        return Err(pn_core::Error::Empty { what: "diffusion" }.into());
    }
    Ok(())
}

/// Lift a one-coordinate transition to `d` coordinates with per-coordinate diffusions `γ`:
/// `Ā ⊗ I_d`, `L̄ ⊗ diag(√γ)`, `t ⊗ 1_d` (derivative-major).
pub(crate) fn lift(
    a1: &Array2<f64>,
    l1: &Array2<f64>,
    t1: &Array1<f64>,
    diffusion: &Array1<f64>,
) -> Transition {
    let d = diffusion.len();
    let n1 = a1.nrows();
    let n = n1 * d;
    let mut a = Array2::zeros((n, n));
    let mut l = Array2::zeros((n, n));
    for i in 0..n1 {
        for k in 0..n1 {
            for j in 0..d {
                a[[i * d + j, k * d + j]] = a1[[i, k]];
                l[[i * d + j, k * d + j]] = l1[[i, k]] * diffusion[j].sqrt();
            }
        }
    }
    let precond = Array1::from_shape_fn(n, |idx| t1[idx / d]);
    Transition {
        a,
        q_chol: l,
        precond,
    }
}

//! Iterative solvers for symmetric positive definite systems `A x = b`, matrix-free.
//!
//! - [`cg`] / [`cg_batch`]: (preconditioned) conjugate gradients with a stated stopping rule,
//!   right-hand-side scaling and periodic recomputation of the explicit residual.
//! - [`lanczos`]: Lanczos tridiagonalisation with full reorthogonalisation.
//! - [`PivotedCholesky`]: the greedy partial Cholesky factorisation `K ≈ L Lᵀ` computed from
//!   kernel rows on the fly, and [`LowRankPlusDiagonal`], the preconditioner
//!   `P = L Lᵀ + σ² I` it defines, applied by the Woodbury identity with its exact
//!   log-determinant.
//! - [`slq_logdet`] (stochastic Lanczos quadrature), [`hutchinson_trace`] and
//!   [`lml_slq`] / [`lml_slq_kernel`]: the log-determinant and the trace terms of a GP marginal
//!   likelihood and its gradient, without a Cholesky factorisation.
//! - [`kernel_grad_products`]: `K V` and every `(∂K/∂log θⱼ) V`, tile by tile, without an
//!   `n × n` matrix; [`lml_bbmm`]: the log marginal likelihood and its gradient from one block
//!   preconditioned-CG solve (log-determinant by SLQ from the CG coefficients, traces by
//!   Hutchinson); [`fit_iterative`]: hyperparameters by L-BFGS on that estimate, no Cholesky.
//!
//! Every long-running routine takes an observer `FnMut(&State) -> Control` that sees the state
//! after each iteration and may stop the iteration.

mod bbmm;
mod cg;
mod gradprod;
mod iterfit;
mod lanczos;
mod pivchol;
mod slq;

pub use bbmm::{BbmmParams, lml_bbmm};
pub use cg::{CgInfo, CgParams, CgSolution, CgState, cg, cg_batch};
pub use gradprod::kernel_grad_products;
pub use iterfit::{
    IterFitInfo, IterFitOptions, IterFitState, IterFitted, IterStartInfo, fit_iterative,
    fit_iterative_with_observer,
};
pub use lanczos::{Lanczos, lanczos};
pub use pivchol::{LowRankPlusDiagonal, PivotedCholesky};
pub use slq::{
    IterativeLml, Probes, SlqEstimate, SlqParams, hutchinson_trace, lml_slq, lml_slq_kernel,
    slq_logdet,
};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use pn_core::LinearOperator;

use crate::error::Result;

/// What an observer tells the iteration to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// Go on.
    #[default]
    Continue,
    /// Stop now and return the current iterate (reported as not converged unless the
    /// tolerance is met).
    Stop,
}

/// A symmetric positive definite preconditioner `P ≈ A`, known through `P⁻¹`.
pub trait Preconditioner: Send + Sync {
    /// The order `n` of `P`.
    fn dim(&self) -> usize;

    /// `P⁻¹ r`.
    fn solve(&self, r: ArrayView1<'_, f64>) -> Array1<f64>;

    /// `P⁻¹ R` column by column (override when a blocked form is faster).
    fn solve_mat(&self, r: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut out = Array2::zeros(r.raw_dim());
        for (j, c) in r.axis_iter(Axis(1)).enumerate() {
            out.column_mut(j).assign(&self.solve(c));
        }
        out
    }
}

/// The identity preconditioner: plain CG.
#[derive(Debug, Clone, Copy)]
pub struct Identity(pub usize);

impl Preconditioner for Identity {
    fn dim(&self) -> usize {
        self.0
    }
    fn solve(&self, r: ArrayView1<'_, f64>) -> Array1<f64> {
        r.to_owned()
    }
    fn solve_mat(&self, r: ArrayView2<'_, f64>) -> Array2<f64> {
        r.to_owned()
    }
}

/// Square operator of order `n`, or a shape error naming `op`.
pub(crate) fn square_dim(op: &'static str, a: &dyn LinearOperator) -> Result<usize> {
    let (m, n) = a.shape();
    if m != n {
        return Err(pn_core::Error::ShapeMismatch {
            op,
            expected: vec![n, n],
            found: vec![m, n],
        }
        .into());
    }
    Ok(n)
}

/// Shape check `found == expected`.
pub(crate) fn check_len(op: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected != found {
        return Err(pn_core::Error::ShapeMismatch {
            op,
            expected: vec![expected],
            found: vec![found],
        }
        .into());
    }
    Ok(())
}

/// Every entry finite, or [`pn_core::Error::NonFinite`] with the first offender.
pub(crate) fn check_finite<'a>(
    what: &'static str,
    v: impl IntoIterator<Item = &'a f64>,
) -> Result<()> {
    if let Some((i, &x)) = v.into_iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(pn_core::Error::NonFinite {
            what,
            index: vec![i],
            value: x,
        }
        .into());
    }
    Ok(())
}

/// Euclidean norm.
pub(crate) fn norm(v: ArrayView1<'_, f64>) -> f64 {
    v.dot(&v).sqrt()
}

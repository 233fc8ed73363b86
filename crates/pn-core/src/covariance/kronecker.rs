//! `A ⊗ B` products, solves and square roots through the factors, never the `mp × mp` matrix.
//!
//! Vectors of length `m·p` are row-major stacks of `m × p` matrices `X`, so that
//! `(A ⊗ B) vec(X) = vec(A X Bᵀ)`.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::Covariance;
use crate::error::Result;
use crate::operator::LinearOperator;

fn per_column(
    x: ArrayView2<'_, f64>,
    rows_in: (usize, usize),
    rows_out: usize,
    mut f: impl FnMut(Array2<f64>) -> Result<Array2<f64>>,
) -> Result<Array2<f64>> {
    let mut out = Array2::zeros((rows_out, x.ncols()));
    for (j, col) in x.axis_iter(Axis(1)).enumerate() {
        let xm = col
            .to_owned()
            .into_shape_with_order(rows_in)
            .expect("length m·p checked by caller");
        let y = f(xm)?;
        let y = y.as_standard_layout().into_owned();
        let n = y.len();
        let y: Array1<f64> = y.into_shape_with_order(n).expect("contiguous");
        out.column_mut(j).assign(&y);
    }
    Ok(out)
}

/// `(A ⊗ B) X`.
pub(super) fn matmat(a: &Covariance, b: &Covariance, x: ArrayView2<'_, f64>) -> Array2<f64> {
    let (m, p) = (a.dim(), b.dim());
    per_column(x, (m, p), m * p, |xm| {
        let ax = a.matmat(xm.view());
        Ok(b.matmat(ax.t()).reversed_axes())
    })
    .expect("infallible")
}

/// `(A ⊗ B)⁻¹ X = vec(A⁻¹ X B⁻¹)` column by column.
pub(super) fn solve(a: &Covariance, b: &Covariance, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let (m, p) = (a.dim(), b.dim());
    per_column(x, (m, p), m * p, |xm| {
        let ax = a.solve_unchecked(xm.view())?;
        Ok(b.solve_unchecked(ax.t())?.reversed_axes())
    })
}

/// `(R_A ⊗ R_B) Z` for the factors' square roots.
pub(super) fn root_mul(
    a: &Covariance,
    b: &Covariance,
    z: ArrayView2<'_, f64>,
) -> Result<Array2<f64>> {
    let (ra, rb) = (a.root_cols(), b.root_cols());
    let (m, p) = (a.dim(), b.dim());
    per_column(z, (ra, rb), m * p, |zm| {
        let az = a.root_mul(zm.view())?;
        Ok(b.root_mul(az.t())?.reversed_axes())
    })
}

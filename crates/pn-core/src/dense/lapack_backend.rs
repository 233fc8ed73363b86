//! The optional LAPACK backend (`--features lapack`): `ndarray-linalg` on a system OpenBLAS.

use ndarray::{Array1, Array2, ArrayView2};
use ndarray_linalg::{Cholesky as _, Diag, Eigh as _, QR as _, SolveTriangular as _, UPLO};

use super::Triangle;
use crate::error::{Error, Result};

/// A fresh standard-layout copy: LAPACK wrappers reject the zero strides ndarray uses for
/// axes of length one and arbitrary views.
fn owned(a: ArrayView2<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn(a.dim(), |(i, j)| a[[i, j]])
}

fn lapack_failure(e: ndarray_linalg::error::LinalgError) -> Option<i32> {
    match e {
        ndarray_linalg::error::LinalgError::Lapack(
            lax::error::Error::LapackComputationalFailure { return_code },
        ) => Some(return_code),
        _ => None,
    }
}

/// The LAPACK path copies anyway (see [`owned`]), so the owned variant is the checked one.
pub(super) fn cholesky_owned(a: Array2<f64>) -> Result<Array2<f64>> {
    cholesky_checked(a.view())
}

pub(super) fn cholesky_checked(a: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    crate::error::check::finite("A", &a)?;
    crate::error::check::symmetric(&a)?;
    if a.nrows() == 0 {
        return Ok(Array2::zeros((0, 0)));
    }
    owned(a)
        .cholesky(UPLO::Lower)
        .map_err(|e| match lapack_failure(e) {
            // LAPACK's `info = k` means the leading minor of order k is not positive definite.
            Some(k) if k > 0 => Error::NotPositiveDefinite {
                pivot: (k - 1) as usize,
            },
            _ => Error::NotPositiveDefinite { pivot: 0 },
        })
}

pub(super) fn solve_triangular(
    t: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
    triangle: Triangle,
    transpose: bool,
) -> Array2<f64> {
    if t.nrows() == 0 || b.ncols() == 0 {
        return b.to_owned();
    }
    // `solve_triangular` has no transpose flag: solving with Tᵀ means solving with the
    // transposed view, whose stored triangle is the opposite one.
    let (tt, uplo) = match (triangle, transpose) {
        (Triangle::Lower, false) => (owned(t), UPLO::Lower),
        (Triangle::Lower, true) => (owned(t.t()), UPLO::Upper),
        (Triangle::Upper, false) => (owned(t), UPLO::Upper),
        (Triangle::Upper, true) => (owned(t.t()), UPLO::Lower),
    };
    tt.solve_triangular(uplo, Diag::NonUnit, &owned(b))
        .expect("shapes and diagonal were checked by the caller")
}

pub(super) fn qr(a: ArrayView2<'_, f64>) -> (Array2<f64>, Array2<f64>) {
    let (m, n) = a.dim();
    let k = m.min(n);
    if k == 0 {
        return (Array2::zeros((m, k)), Array2::zeros((k, n)));
    }
    let (q, r) = owned(a)
        .qr()
        .expect("finite input was checked by the caller");
    (
        q.slice(ndarray::s![.., ..k]).to_owned(),
        r.slice(ndarray::s![..k, ..]).to_owned(),
    )
}

pub(super) fn qr_r(a: ArrayView2<'_, f64>) -> Array2<f64> {
    qr(a).1
}

pub(super) fn eigh(a: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    if a.nrows() == 0 {
        return Ok((Array1::zeros(0), Array2::zeros((0, 0))));
    }
    owned(a)
        .eigh(UPLO::Lower)
        .map_err(|_| Error::NoConvergence {
            what: "symmetric eigendecomposition",
            iterations: 0,
        })
}

//! The default dense backend: faer.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{LltError, LltRegularization};
use faer::{Accum, Side};
use ndarray::{Array1, Array2, ArrayView2, ShapeBuilder};

use super::Triangle;
use super::bridge::{faer_from_ndarray, faer_from_ndarray_mut, ndarray_from_faer};
use crate::error::{Error, Result};

fn par() -> faer::Par {
    faer::get_global_parallelism()
}

pub(super) fn matmul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut out = Array2::zeros((a.nrows(), b.ncols()).f());
    let mut ov = out.view_mut();
    faer::linalg::matmul::matmul(
        faer_from_ndarray_mut(&mut ov),
        Accum::Replace,
        faer_from_ndarray(&a),
        faer_from_ndarray(&b),
        1.0,
        par(),
    );
    out
}

pub(super) fn cholesky(a: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::zeros((n, n).f());
    // `a` is symmetric (checked by the caller), so for row-major input its transpose has the
    // same entries and copies into column-major storage as one contiguous sweep.
    if a.is_standard_layout() {
        l.assign(&a.t());
    } else {
        l.assign(&a);
    }
    {
        let mut lv = l.view_mut();
        let params = Default::default();
        let mut mem = MemBuffer::new(
            faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(n, par(), params),
        );
        let stack = MemStack::new(&mut mem);
        faer::linalg::cholesky::llt::factor::cholesky_in_place(
            faer_from_ndarray_mut(&mut lv),
            LltRegularization::default(),
            par(),
            stack,
            params,
        )
        .map_err(
            |LltError::NonPositivePivot { index }| Error::NotPositiveDefinite { pivot: index },
        )?;
    }
    for j in 1..n {
        for i in 0..j {
            l[[i, j]] = 0.0;
        }
    }
    Ok(l)
}

pub(super) fn solve_triangular(
    t: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
    triangle: Triangle,
    transpose: bool,
) -> Array2<f64> {
    let mut x = Array2::zeros(b.raw_dim().f());
    x.assign(&b);
    let tf = faer_from_ndarray(&t);
    let (tf, lower) = match (triangle, transpose) {
        (Triangle::Lower, false) => (tf, true),
        (Triangle::Lower, true) => (tf.transpose(), false),
        (Triangle::Upper, false) => (tf, false),
        (Triangle::Upper, true) => (tf.transpose(), true),
    };
    {
        let mut xv = x.view_mut();
        let xf = faer_from_ndarray_mut(&mut xv);
        if lower {
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(tf, xf, par());
        } else {
            faer::linalg::triangular_solve::solve_upper_triangular_in_place(tf, xf, par());
        }
    }
    x
}

pub(super) fn qr(a: ArrayView2<'_, f64>) -> (Array2<f64>, Array2<f64>) {
    let (m, n) = a.dim();
    if m == 0 || n == 0 {
        let k = m.min(n);
        return (Array2::zeros((m, k)), Array2::zeros((k, n)));
    }
    let f = faer::linalg::solvers::Qr::new(faer_from_ndarray(&a));
    let q = ndarray_from_faer(f.compute_thin_Q().as_ref());
    let r = ndarray_from_faer(f.thin_R());
    (q, upper(r))
}

pub(super) fn qr_r(a: ArrayView2<'_, f64>) -> Array2<f64> {
    let (m, n) = a.dim();
    if m == 0 || n == 0 {
        return Array2::zeros((m.min(n), n));
    }
    let f = faer::linalg::solvers::Qr::new(faer_from_ndarray(&a));
    upper(ndarray_from_faer(f.thin_R()))
}

fn upper(mut r: Array2<f64>) -> Array2<f64> {
    for i in 0..r.nrows() {
        for j in 0..i.min(r.ncols()) {
            r[[i, j]] = 0.0;
        }
    }
    r
}

pub(super) fn eigh(a: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    let n = a.nrows();
    if n == 0 {
        return Ok((Array1::zeros(0), Array2::zeros((0, 0))));
    }
    let e = faer::linalg::solvers::SelfAdjointEigen::new(faer_from_ndarray(&a), Side::Lower)
        .map_err(|_| Error::NoConvergence {
            what: "symmetric eigendecomposition",
            iterations: 0,
        })?;
    let s = e.S().column_vector();
    let vals = Array1::from_shape_fn(n, |i| s[i]);
    Ok((vals, ndarray_from_faer(e.U())))
}

//! The default dense backend: faer.

use faer::Side;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{LltError, LltRegularization};
use ndarray::{Array1, Array2, ArrayView2, ShapeBuilder};

use super::Triangle;
use super::bridge::{faer_from_ndarray, faer_from_ndarray_mut, ndarray_from_faer, par_for};
use crate::error::{Error, Result, check};

/// Check (finite, symmetric) and copy the lower triangle of `a` into a fresh column-major
/// buffer in one tiled pass, then factor in place.
pub(super) fn cholesky_checked(a: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let n = a.nrows();
    let mut l =
        Array2::from_shape_vec((n, n).f(), crate::memory::zeroed(n * n)).expect("length n·n");
    check_symmetric_into(a, Some(&mut l))?;
    factor_in_place(&mut l)?;
    Ok(l)
}

/// Factor an owned square matrix in its own buffer. A standard-layout (row-major) `a` is read as
/// the column-major `aᵀ = a` (symmetry is checked), so neither layout costs a copy; any other
/// layout is copied once.
pub(super) fn cholesky_owned(a: Array2<f64>) -> Result<Array2<f64>> {
    let mut l = if a.t().is_standard_layout() {
        a
    } else if a.is_standard_layout() {
        a.reversed_axes()
    } else {
        return cholesky_checked(a.view());
    };
    check_symmetric_into(l.view(), None)?;
    factor_in_place(&mut l)?;
    Ok(l)
}

/// One tiled pass over the lower triangle of `a`: finiteness, symmetry to `1e-8` relative to the
/// largest entry, and (if `out` is given) a copy of the lower triangle into `out`.
fn check_symmetric_into(a: ArrayView2<'_, f64>, mut out: Option<&mut Array2<f64>>) -> Result<()> {
    const TILE: usize = 64;
    let n = a.nrows();
    let mut scale = 0.0f64;
    let mut worst = (0usize, 0usize, 0.0f64);
    let mut all_finite = true;
    for bj in (0..n).step_by(TILE) {
        for bi in (bj..n).step_by(TILE) {
            for j in bj..(bj + TILE).min(n) {
                for i in bi.max(j)..(bi + TILE).min(n) {
                    // SAFETY: i, j < n and `a` is n × n (checked by the caller).
                    let (v, w) = unsafe { (*a.uget((i, j)), *a.uget((j, i))) };
                    all_finite &= v.is_finite() && w.is_finite();
                    scale = scale.max(v.abs()).max(w.abs());
                    let d = (v - w).abs();
                    if d > worst.2 {
                        worst = (i, j, d);
                    }
                    if let Some(l) = out.as_deref_mut() {
                        // SAFETY: as above, and `l` is n × n.
                        unsafe { *l.uget_mut((i, j)) = v };
                    }
                }
            }
        }
    }
    if !all_finite {
        check::finite("A", &a)?;
    }
    if worst.2 > 1e-8 * scale + 1e-300 {
        return Err(Error::NotSymmetric {
            i: worst.0,
            j: worst.1,
            difference: worst.2,
        });
    }
    Ok(())
}

/// faer's in-place LLᵀ of the lower triangle of the column-major `l`; the strict upper triangle
/// is cleared afterwards.
fn factor_in_place(l: &mut Array2<f64>) -> Result<()> {
    let n = l.nrows();
    let par = par_for(n * n * n / 3);
    #[cfg(target_arch = "x86_64")]
    if n >= super::blocked::MIN_ORDER && l.strides()[0] == 1 && super::blocked::available() {
        let mut lv = l.view_mut();
        super::blocked::cholesky_in_place(faer_from_ndarray_mut(&mut lv), par)
            .map_err(|pivot| Error::NotPositiveDefinite { pivot })?;
        clear_upper(l);
        return Ok(());
    }
    {
        let mut lv = l.view_mut();
        let params = Default::default();
        let mut mem = MemBuffer::new(
            faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(n, par, params),
        );
        let stack = MemStack::new(&mut mem);
        faer::linalg::cholesky::llt::factor::cholesky_in_place(
            faer_from_ndarray_mut(&mut lv),
            LltRegularization::default(),
            par,
            stack,
            params,
        )
        .map_err(
            |LltError::NonPositivePivot { index }| Error::NotPositiveDefinite { pivot: index },
        )?;
    }
    clear_upper(l);
    Ok(())
}

/// The factorisations may use the strict upper triangle as workspace: clear it (contiguous per
/// column).
fn clear_upper(l: &mut Array2<f64>) {
    for (j, mut col) in l.columns_mut().into_iter().enumerate() {
        col.slice_mut(ndarray::s![..j]).fill(0.0);
    }
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
        let par = par_for(t.nrows() * t.nrows() * x.ncols());
        let mut xv = x.view_mut();
        let xf = faer_from_ndarray_mut(&mut xv);
        #[cfg(target_arch = "x86_64")]
        if lower
            && tf.row_stride() == 1
            && t.nrows() >= super::blocked::MIN_ORDER
            && xf.ncols() >= super::blocked::MIN_COLUMNS
            && super::blocked::available()
        {
            super::blocked::solve_lower_in_place(tf, xf, par);
            return x;
        }
        if lower {
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(tf, xf, par);
        } else {
            faer::linalg::triangular_solve::solve_upper_triangular_in_place(tf, xf, par);
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
    // Householder QR in place on a column-major copy, with parallelism chosen by size (faer's
    // `Qr::new` always uses the global setting, which is slow for the small matrices of filters).
    use faer::linalg::qr::no_pivoting::factor as qrf;
    let k = m.min(n);
    let mut w = Array2::zeros((m, n).f());
    w.assign(&a);
    let block = qrf::recommended_block_size::<f64>(m, n);
    let mut coeff = faer::Mat::<f64>::zeros(block, k);
    let par = par_for(2 * m * n * k);
    let params = Default::default();
    let mut mem = MemBuffer::new(qrf::qr_in_place_scratch::<f64>(m, n, block, par, params));
    {
        let mut wv = w.view_mut();
        qrf::qr_in_place(
            faer_from_ndarray_mut(&mut wv),
            coeff.as_mut(),
            par,
            MemStack::new(&mut mem),
            params,
        );
    }
    upper(w.slice(ndarray::s![..k, ..]).to_owned())
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

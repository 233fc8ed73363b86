//! Zero-copy conversion between `ndarray` views and `faer` matrices.

use faer::{MatMut, MatRef};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// View an `ndarray` matrix as a faer [`MatRef`] without copying: the strides (in elements, any
/// sign) are passed through, so transposed, sliced and stepped views work.
pub fn faer_from_ndarray<'a>(a: &ArrayView2<'a, f64>) -> MatRef<'a, f64> {
    let (m, n) = a.dim();
    let s = a.strides();
    // SAFETY: `a` borrows `m × n` elements addressed by `ptr + i·s[0] + j·s[1]` for the
    // lifetime `'a`, which is exactly the memory faer will read; ndarray's pointer is never null.
    unsafe { MatRef::from_raw_parts(a.as_ptr(), m, n, s[0], s[1]) }
}

/// View a mutable `ndarray` matrix as a faer [`MatMut`] without copying.
pub fn faer_from_ndarray_mut<'a>(a: &'a mut ArrayViewMut2<'_, f64>) -> MatMut<'a, f64> {
    let (m, n) = a.dim();
    let (s0, s1) = (a.strides()[0], a.strides()[1]);
    // SAFETY: as for `faer_from_ndarray`; the exclusive borrow of `a` guarantees no aliasing,
    // and ndarray never hands out a mutable view with overlapping elements.
    unsafe { MatMut::from_raw_parts_mut(a.as_mut_ptr(), m, n, s0, s1) }
}

/// Copy a faer matrix into a new (column-major) `ndarray` matrix.
pub fn ndarray_from_faer(a: MatRef<'_, f64>) -> Array2<f64> {
    let mut out = Array2::zeros(ndarray::ShapeBuilder::f((a.nrows(), a.ncols())));
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            out[[i, j]] = a[(i, j)];
        }
    }
    out
}

/// `A B` with faer's GEMM into a fresh column-major buffer (both backends: faer's GEMM is as fast
/// as OpenBLAS's and needs no copy of strided inputs).
pub(super) fn matmul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut out = Array2::from_shape_vec(
        ndarray::ShapeBuilder::f((a.nrows(), b.ncols())),
        crate::memory::zeroed(a.nrows() * b.ncols()),
    )
    .expect("length m·n");
    let mut ov = out.view_mut();
    faer::linalg::matmul::matmul(
        faer_from_ndarray_mut(&mut ov),
        faer::Accum::Replace,
        faer_from_ndarray(&a),
        faer_from_ndarray(&b),
        1.0,
        par_for(a.nrows() * a.ncols() * b.ncols()),
    );
    out
}

/// faer's parallelism for an operation of about `flops` floating-point operations: sequential when
/// rayon has a single thread or the work is too small to pay for task start-up (below ~2²² flops,
/// about a millisecond: at the 10 × 10 to 100 × 100 sizes of Kalman filters, fork–join costs more
/// than the arithmetic — measured 14× slower per ODE-filter step), else the global setting.
pub(super) fn par_for(flops: usize) -> faer::Par {
    const SEQUENTIAL_BELOW: usize = 1 << 22;
    if flops < SEQUENTIAL_BELOW || rayon::current_num_threads() <= 1 {
        faer::Par::Seq
    } else {
        faer::get_global_parallelism()
    }
}

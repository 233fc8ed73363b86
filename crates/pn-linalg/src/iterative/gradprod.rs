//! Matrix-free products with a kernel matrix and its hyperparameter derivatives.

use ndarray::{Array2, ArrayView2, Axis, concatenate, s};
use pn_core::kernels::Kernel;
use rayon::prelude::*;

use super::{check_finite, check_len};
use crate::error::Result;

/// `K V` and `(∂K/∂log θⱼ) V` for every log-hyperparameter `θⱼ` of `kernel` (in the order of
/// [`Kernel::log_params`]), with `K = K(X, X)` of the rows of `x` (`n × d`) and a block `V`
/// (`n × t`), without ever storing an `n × n` matrix.
///
/// The points are cut into blocks of `tile` rows. Each diagonal block `(a, a)` and each pair of
/// blocks `a < b` is evaluated once by [`Kernel::matrix_with_grad`] on the points of the block
/// (or of the two blocks together), and its tiles are multiplied into the output by symmetry:
/// `out_b += G_ba V_a`, `out_a += G_baᵀ V_b`. The pairs are spread over the rayon threads, each
/// with its own accumulator. Memory: `O((1 + p) · (2 tile)²)` per task for the tiles plus
/// `O((1 + p) · n · t)` per accumulator, instead of the `O(p n²)` of dense derivative
/// matrices; kernel evaluations: about `n² (1 + p)` in all, like one product with a non-symmetric
/// kernel matrix.
///
/// Returns `(K V, [∂K/∂log θ₀ V, …])`.
///
/// Errors: shapes (`V` must have `n` rows, the kernel must accept `d`), NaN/∞ in `x` or `V`,
/// `tile = 0`.
///
/// ```
/// use ndarray::{Array2, array};
/// use pn_core::kernels::{Kernel, Matern52};
/// use pn_linalg::iterative::kernel_grad_products;
///
/// let k = Matern52::new(0.7, 1.3)?;
/// let x = Array2::from_shape_fn((9, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 11.0);
/// let v = Array2::from_shape_fn((9, 2), |(i, j)| (i as f64 - 4.0) * (j as f64 + 1.0));
/// let (kv, gv) = kernel_grad_products(&k, x.view(), v.view(), 4)?;
/// let (kd, gd) = k.matrix_with_grad(x.view())?;
/// assert!((&kv - &kd.dot(&v)).iter().all(|e| e.abs() < 1e-12));
/// assert!((&gv[0] - &gd[0].dot(&v)).iter().all(|e| e.abs() < 1e-12));
/// # Ok::<(), pn_linalg::Error>(())
/// ```
pub fn kernel_grad_products(
    kernel: &dyn Kernel,
    x: ArrayView2<'_, f64>,
    v: ArrayView2<'_, f64>,
    tile: usize,
) -> Result<(Array2<f64>, Vec<Array2<f64>>)> {
    let n = x.nrows();
    check_len("kernel_grad_products: rows of V", n, v.nrows())?;
    kernel.check_input_dim(x.ncols())?;
    check_finite("x", x.iter())?;
    check_finite("V", v.iter())?;
    if tile == 0 {
        return Err(pn_core::Error::InvalidParameter {
            name: "tile",
            value: 0.0,
            reason: "a tile needs at least one row",
        }
        .into());
    }
    let p = kernel.n_params();
    let t = v.ncols();
    let zero = || -> Vec<Array2<f64>> { (0..=p).map(|_| Array2::zeros((n, t))).collect() };
    if n == 0 || t == 0 {
        let mut out = zero();
        let k = out.remove(0);
        return Ok((k, out));
    }
    let nb = n.div_ceil(tile);
    let range = |a: usize| (a * tile, ((a + 1) * tile).min(n));
    // Pairs (a, b) with a ≤ b, the costly off-diagonal ones first for the load balance.
    let mut pairs: Vec<(usize, usize)> =
        (0..nb).flat_map(|a| (a..nb).map(move |b| (a, b))).collect();
    pairs.sort_by_key(|&(a, b)| a == b);
    let chunks = (4 * rayon::current_num_threads()).clamp(1, pairs.len());
    let per = pairs.len().div_ceil(chunks);
    let acc = pairs
        .par_chunks(per)
        .map(|chunk| {
            let mut out = zero();
            for &(a, b) in chunk {
                let (a0, a1) = range(a);
                if a == b {
                    let (k, g) = kernel.matrix_with_grad_unchecked(x.slice(s![a0..a1, ..]));
                    let va = v.slice(s![a0..a1, ..]);
                    for (o, m) in out.iter_mut().zip(std::iter::once(&k).chain(&g)) {
                        let mut oa = o.slice_mut(s![a0..a1, ..]);
                        oa += &m.dot(&va);
                    }
                } else {
                    let (b0, b1) = range(b);
                    let xab =
                        concatenate(Axis(0), &[x.slice(s![a0..a1, ..]), x.slice(s![b0..b1, ..])])
                            .expect("blocks of the same points have equal widths");
                    let (k, g) = kernel.matrix_with_grad_unchecked(xab.view());
                    let na = a1 - a0;
                    let (va, vb) = (v.slice(s![a0..a1, ..]), v.slice(s![b0..b1, ..]));
                    for (o, m) in out.iter_mut().zip(std::iter::once(&k).chain(&g)) {
                        let gba = m.slice(s![na.., ..na]);
                        let mut ob = o.slice_mut(s![b0..b1, ..]);
                        ob += &gba.dot(&va);
                        let mut oa = o.slice_mut(s![a0..a1, ..]);
                        oa += &gba.t().dot(&vb);
                    }
                }
            }
            out
        })
        .reduce(zero, |mut acc, other| {
            for (a, o) in acc.iter_mut().zip(other) {
                *a += &o;
            }
            acc
        });
    let mut acc = acc;
    let k = acc.remove(0);
    Ok((k, acc))
}

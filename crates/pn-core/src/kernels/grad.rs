//! Kernel matrices with their hyperparameter gradients, assembled row by row into the caller's
//! buffers.
//!
//! [`Kernel::grad_rows`] prepares a kernel for a set of points `X` once (scaled points, sines and
//! cosines, …) and returns a [`GradRows`], which writes row `i` of `K(X, X)` and of every
//! `∂K/∂log θₚ` — only the columns `0..=i`, the lower triangle — straight into slices it is
//! handed. Sums and products hand their parts sub-slices of the same output rows (a product's
//! factors write their gradient rows in place and the product rule scales them by the other
//! factors' value rows), so a nested kernel needs no temporary matrix, evaluates each part once
//! per entry and each entry of the symmetric matrices once. [`assemble`] runs the rows in
//! parallel and mirrors the lower triangles.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// Row-by-row evaluation of `K(X, X)` and its derivatives `∂K/∂log θₚ` for one fixed set of
/// points `X` (`n × d`), built by [`Kernel::grad_rows`](super::Kernel::grad_rows).
///
/// Only the lower triangle is asked for: a call for row `i` receives slices of length `m ≤ i + 1`
/// (in practice `m = i + 1`) and fills the columns `0..m` of that row.
pub trait GradRows: Sync {
    /// The number of hyperparameters, `grads.len()` in [`fill_row`](Self::fill_row).
    fn n_params(&self) -> usize;

    /// The length of the scratch buffer that [`fill_row`](Self::fill_row) needs for rows of
    /// `m` columns (0 for most kernels; sums and products need room for their parts' rows).
    fn scratch_len(&self, m: usize) -> usize {
        let _ = m;
        0
    }

    /// Writes `K[i, j]` into `k[j]` and `∂K/∂log θₚ[i, j]` into `grads[p][j]` for
    /// `j < k.len()`. Every slice has the same length `m ≤ i + 1`, and `scratch` at least
    /// [`scratch_len(m)`](Self::scratch_len) entries; their prior contents are arbitrary and
    /// every entry of `k` and of `grads[p]` must be overwritten.
    fn fill_row(&self, i: usize, k: &mut [f64], grads: &mut [&mut [f64]], scratch: &mut [f64]);
}

/// The [`GradRows`] of a kernel that only provides whole matrices: computed once, rows copied out.
pub(crate) struct Precomputed {
    k: Array2<f64>,
    grads: Vec<Array2<f64>>,
}

impl Precomputed {
    pub(crate) fn new((k, grads): (Array2<f64>, Vec<Array2<f64>>)) -> Self {
        Self { k, grads }
    }
}

impl GradRows for Precomputed {
    fn n_params(&self) -> usize {
        self.grads.len()
    }

    fn fill_row(&self, i: usize, k: &mut [f64], grads: &mut [&mut [f64]], _scratch: &mut [f64]) {
        let m = k.len();
        for (o, &v) in k.iter_mut().zip(self.k.row(i).iter().take(m)) {
            *o = v;
        }
        for (g, src) in grads.iter_mut().zip(&self.grads) {
            for (o, &v) in g.iter_mut().zip(src.row(i).iter().take(m)) {
                *o = v;
            }
        }
    }
}

/// Rows per parallel task: small enough that the triangle's uneven rows balance over threads.
fn rows_per_task(n: usize) -> usize {
    let by_work = (1usize << 15) / n.max(1);
    let by_balance = n.div_ceil(8 * rayon::current_num_threads()).max(1);
    by_work.clamp(1, 64).min(by_balance)
}

/// `K(X, X)` and `∂K/∂log θₚ` (`n × n` each) from `rows`, in fresh matrices.
pub(crate) fn assemble(rows: &dyn GradRows, n: usize) -> (Array2<f64>, Vec<Array2<f64>>) {
    let count = 1 + rows.n_params();
    let mut bufs: Vec<Vec<f64>> = (0..count).map(|_| crate::memory::zeroed(n * n)).collect();
    let mut outs: Vec<&mut [f64]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
    fill(rows, n, &mut outs);
    let mut mats = bufs
        .into_iter()
        .map(|b| Array2::from_shape_vec((n, n), b).expect("the buffer holds n·n entries"));
    let k = mats.next().expect("K is the first buffer");
    (k, mats.collect())
}

/// [`assemble`] into given `n × n` matrices (one per hyperparameter in `grads`).
pub(crate) fn assemble_into(
    rows: &dyn GradRows,
    n: usize,
    k: &mut Array2<f64>,
    grads: &mut [Array2<f64>],
) {
    let contiguous = std::iter::once(&*k)
        .chain(grads.iter())
        .all(|a| a.is_standard_layout());
    if !contiguous {
        let (kk, gg) = assemble(rows, n);
        k.assign(&kk);
        for (g, gv) in grads.iter_mut().zip(&gg) {
            g.assign(gv);
        }
        return;
    }
    let mut outs: Vec<&mut [f64]> = std::iter::once(k)
        .chain(grads.iter_mut())
        .map(|a| a.as_slice_mut().expect("standard layout"))
        .collect();
    fill(rows, n, &mut outs);
}

/// Fills the row-major `n × n` buffers `outs` (`K`, then one per hyperparameter): the lower
/// triangles in parallel over blocks of rows, then mirrored.
fn fill(rows: &dyn GradRows, n: usize, outs: &mut [&mut [f64]]) {
    if n == 0 {
        return;
    }
    let count = outs.len();
    let per = rows_per_task(n);
    let mut blocks: Vec<Vec<&mut [f64]>> = (0..n.div_ceil(per))
        .map(|_| Vec::with_capacity(count))
        .collect();
    for buf in outs.iter_mut() {
        for (c, block) in buf.chunks_mut(per * n).enumerate() {
            blocks[c].push(block);
        }
    }
    blocks.into_par_iter().enumerate().for_each(|(c, b)| {
        let i0 = c * per;
        let nrows = b[0].len() / n;
        let mut scratch = vec![0.0; rows.scratch_len(i0 + nrows)];
        let mut row_iters: Vec<_> = b.into_iter().map(|blk| blk.chunks_exact_mut(n)).collect();
        let mut out: Vec<&mut [f64]> = Vec::with_capacity(count);
        for r in 0..nrows {
            let i = i0 + r;
            out.extend(row_iters.iter_mut().map(|it| {
                let row = it.next().expect("a block holds whole rows");
                &mut row[..=i]
            }));
            let (k, g) = out.split_at_mut(1);
            rows.fill_row(i, k[0], g, &mut scratch);
            out.clear();
        }
    });
    outs.par_iter_mut().for_each(|b| mirror_lower(b, n));
}

/// Copies the strict lower triangle of the row-major `n × n` matrix `a` onto its upper
/// triangle, tile by tile so that the strided reads stay in cache.
fn mirror_lower(a: &mut [f64], n: usize) {
    const T: usize = 32;
    for ib in (0..n).step_by(T) {
        for jb in (ib..n).step_by(T) {
            // Upper tile rows ib.., columns jb.. ← lower tile rows jb.., columns ib...
            for i in ib..(ib + T).min(n) {
                for j in jb.max(i + 1)..(jb + T).min(n) {
                    a[i * n + j] = a[j * n + i];
                }
            }
        }
    }
}

/// `K(X, X)` and its gradients of a kernel through its [`GradRows`].
pub(crate) fn matrix_with_grad<K: super::Kernel + ?Sized>(
    kernel: &K,
    x: ArrayView2<'_, f64>,
) -> (Array2<f64>, Vec<Array2<f64>>) {
    assemble(&*kernel.grad_rows(x), x.nrows())
}

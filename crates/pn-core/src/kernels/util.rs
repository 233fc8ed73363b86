//! Shared machinery of the kernels: input and parameter validation, parallel assembly into
//! row-major buffers.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;

use super::Kernel;
use super::simd::madd;
use crate::error::{Error, Result, check};

/// Checks shared by [`Kernel::eval`]: equal lengths, accepted dimension, finite entries.
pub(crate) fn check_vectors<K: Kernel + ?Sized>(
    k: &K,
    x: &ArrayView1<'_, f64>,
    y: &ArrayView1<'_, f64>,
) -> Result<()> {
    check::shape("Kernel::eval", &[x.len()], &[y.len()])?;
    k.check_input_dim(x.len())?;
    check::finite("x", x)?;
    check::finite("y", y)
}

/// Checks shared by the matrix-valued methods: equal column counts, accepted dimension, finite
/// entries.
pub(crate) fn check_points<K: Kernel + ?Sized>(
    k: &K,
    op: &'static str,
    x: &ArrayView2<'_, f64>,
    y: Option<&ArrayView2<'_, f64>>,
) -> Result<()> {
    if let Some(y) = y {
        check::shape(op, &[x.ncols()], &[y.ncols()])?;
    }
    k.check_input_dim(x.ncols())?;
    check::finite("x", x)?;
    if let Some(y) = y {
        check::finite("y", y)?;
    }
    Ok(())
}

/// Validates a vector of log-hyperparameters of length `n` and returns their exponentials.
///
/// Every entry must be finite and its exponential finite and strictly positive (so that
/// `exp(±800)` is rejected rather than turned into `∞` or `0`).
pub(crate) fn exp_params(p: &ArrayView1<'_, f64>, n: usize) -> Result<Vec<f64>> {
    check::shape("Kernel::set_log_params", &[n], &[p.len()])?;
    check::finite("log_params", p)?;
    p.iter()
        .map(|&v| {
            let e = v.exp();
            if e.is_finite() && e > 0.0 {
                Ok(e)
            } else {
                Err(Error::InvalidParameter {
                    name: "log_params",
                    value: v,
                    reason: "its exponential must be finite and > 0",
                })
            }
        })
        .collect()
}

/// Validates lengthscales: at least one, each finite and > 0.
pub(crate) fn lengthscales(ls: Array1<f64>) -> Result<Vec<f64>> {
    if ls.is_empty() {
        return Err(Error::Empty {
            what: "lengthscales",
        });
    }
    for &l in &ls {
        check::positive("lengthscale", l)?;
    }
    Ok(ls.to_vec())
}

/// Parameter names `lengthscale` (one shared) or `lengthscale[i]` (ARD).
pub(crate) fn lengthscale_names(n: usize, ard: bool) -> Vec<String> {
    if ard {
        (0..n).map(|i| format!("lengthscale[{i}]")).collect()
    } else {
        vec!["lengthscale".to_string()]
    }
}

/// `1/ℓₖ` for each of the `d` input dimensions (a shared lengthscale repeated).
pub(crate) fn per_dim(ls: &[f64], d: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
    if ls.len() == 1 {
        vec![f(ls[0]); d]
    } else {
        ls.iter().map(|&l| f(l)).collect()
    }
}

/// The rows of `x` with column `k` multiplied by `w[k]`, as a row-major `n × d` buffer.
pub(crate) fn scaled_rows(x: &ArrayView2<'_, f64>, w: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.rows() {
        out.extend(row.iter().zip(w).map(|(&v, &s)| v * s));
    }
    out
}

/// The columns of `y` (dimension `k` of every point) multiplied by `w[k]`, as a row-major
/// `d × m` buffer: the transposed layout that makes the inner loop over points contiguous.
pub(crate) fn scaled_cols(y: &ArrayView2<'_, f64>, w: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(y.len());
    for (col, &s) in y.columns().into_iter().zip(w) {
        out.extend(col.iter().map(|&v| v * s));
    }
    out
}

/// `row[j] = Σₖ (xᵢₖ − yₖⱼ)²` for one scaled point `xi` against the transposed scaled points
/// `yt` (`d × s` row-major, `s ≥ m = row.len()`: the first `m` points are used). Exactly
/// symmetric under exchanging the two points.
#[inline(always)]
pub(crate) fn sqdist_row<const FMA: bool>(xi: &[f64], yt: &[f64], row: &mut [f64]) {
    let m = row.len();
    let s = if xi.is_empty() {
        m
    } else {
        yt.len() / xi.len()
    };
    match xi.len() {
        0 => row.fill(0.0),
        1 => {
            let a = xi[0];
            for (o, &b) in row.iter_mut().zip(&yt[..m]) {
                let t = a - b;
                *o = t * t;
            }
        }
        2 => {
            let (a0, a1) = (xi[0], xi[1]);
            let (y0, y1) = yt.split_at(s);
            for ((o, &b0), &b1) in row.iter_mut().zip(&y0[..m]).zip(&y1[..m]) {
                let t0 = a0 - b0;
                let t1 = a1 - b1;
                *o = madd::<FMA>(t1, t1, t0 * t0);
            }
        }
        _ => {
            let a = xi[0];
            for (o, &b) in row.iter_mut().zip(&yt[..m]) {
                let t = a - b;
                *o = t * t;
            }
            for (k, &a) in xi.iter().enumerate().skip(1) {
                for (o, &b) in row.iter_mut().zip(&yt[k * s..k * s + m]) {
                    let t = a - b;
                    *o = madd::<FMA>(t, t, *o);
                }
            }
        }
    }
}

/// Rows per parallel task for an output with `m` columns: about 16k entries per task.
fn rows_per_task(n: usize, m: usize) -> usize {
    let by_work = (1usize << 14) / m.max(1);
    let by_balance = n.div_ceil(4 * rayon::current_num_threads()).max(1);
    by_work.clamp(1, 256).min(by_balance)
}

/// An `n × m` matrix filled in parallel over blocks of rows: `fill(first_row, block)` receives
/// the row-major storage of rows `first_row..first_row + block.len() / m`.
pub(crate) fn par_fill(
    n: usize,
    m: usize,
    fill: impl Fn(usize, &mut [f64]) + Sync + Send,
) -> Array2<f64> {
    par_fill_rows(n, m, rows_per_task(n, m), fill)
}

/// [`par_fill`] with blocks of `rows` rows (the last may be shorter).
pub(crate) fn par_fill_rows(
    n: usize,
    m: usize,
    rows: usize,
    fill: impl Fn(usize, &mut [f64]) + Sync + Send,
) -> Array2<f64> {
    let mut buf = crate::memory::zeroed(n * m);
    if n > 0 && m > 0 {
        let rows = rows.max(1);
        buf.par_chunks_mut(rows * m)
            .enumerate()
            .for_each(|(c, block)| fill(c * rows, block));
    }
    Array2::from_shape_vec((n, m), buf).expect("the buffer holds n·m entries")
}

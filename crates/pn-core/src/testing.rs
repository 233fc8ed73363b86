//! Tolerances for comparing numbers in tests and examples — one documented helper instead of
//! magic constants scattered over test files.
//!
//! Two arrays are *close* when every pair of entries satisfies
//! `|a − b| ≤ atol + rtol · max(|a|, |b|)`, the rule NumPy's `allclose` uses (symmetrised).

use ndarray::{ArrayBase, Data, Dimension};

/// Relative tolerance for results of backward-stable dense algorithms on well-conditioned
/// problems of moderate size (`n ≲ 100`).
pub const RTOL_DENSE: f64 = 1e-10;

/// Whether `|a − b| ≤ atol + rtol · max(|a|, |b|)`.
pub fn close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    (a - b).abs() <= atol + rtol * a.abs().max(b.abs())
}

/// The first pair of entries that is not [`close`], as `(flat index, a, b)`, or `None`.
/// Arrays of different shapes report index `usize::MAX`.
pub fn first_mismatch<S1, S2, D>(
    a: &ArrayBase<S1, D>,
    b: &ArrayBase<S2, D>,
    rtol: f64,
    atol: f64,
) -> Option<(usize, f64, f64)>
where
    S1: Data<Elem = f64>,
    S2: Data<Elem = f64>,
    D: Dimension,
{
    if a.shape() != b.shape() {
        return Some((usize::MAX, f64::NAN, f64::NAN));
    }
    a.iter()
        .zip(b.iter())
        .enumerate()
        .find(|(_, (x, y))| !close(**x, **y, rtol, atol))
        .map(|(i, (x, y))| (i, *x, *y))
}

/// Panics with the first mismatching entry unless `a` and `b` are close.
#[track_caller]
pub fn assert_allclose<S1, S2, D>(a: &ArrayBase<S1, D>, b: &ArrayBase<S2, D>, rtol: f64, atol: f64)
where
    S1: Data<Elem = f64>,
    S2: Data<Elem = f64>,
    D: Dimension,
{
    if let Some((i, x, y)) = first_mismatch(a, b, rtol, atol) {
        panic!(
            "arrays differ at flat index {i}: {x:e} vs {y:e} (rtol {rtol:e}, atol {atol:e}); shapes {:?} / {:?}",
            a.shape(),
            b.shape()
        );
    }
}

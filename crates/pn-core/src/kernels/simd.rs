//! Row-wise kernel-matrix assembly compiled twice — for the baseline target and, on x86-64,
//! for AVX2 + FMA, chosen at run time — and the branch-free `exp` and `ln` its loops vectorise
//! with.
//!
//! A kernel describes how to fill one row of its matrix by implementing [`RowFill`]; every
//! function it calls from [`RowFill::row`] is `#[inline(always)]`, so the whole row loop is
//! compiled inside [`assemble`]'s target-feature function and vectorised with 4-wide FMA
//! instructions where the CPU has them.

use ndarray::Array2;

use super::util::par_fill;

/// How to fill one row of a kernel matrix. `FMA` selects fused multiply–adds (only true when
/// the code is compiled with the `fma` target feature, where they are single instructions).
pub(crate) trait RowFill: Sync {
    /// Writes row `i` of the matrix into `out` (length `m`, the number of columns).
    fn row<const FMA: bool>(&self, i: usize, out: &mut [f64]);
}

/// The `n × m` matrix whose rows `op` fills, in parallel over blocks of rows, with AVX2 + FMA
/// code when the CPU supports it.
pub(crate) fn assemble<R: RowFill>(n: usize, m: usize, op: &R) -> Array2<f64> {
    let fast = fma_available();
    par_fill(n, m, |i0, block| {
        if fast {
            fill_block_fast(op, i0, block, m);
        } else {
            fill_block::<R, false>(op, i0, block, m);
        }
    })
}

#[inline(always)]
fn fill_block<R: RowFill, const FMA: bool>(op: &R, i0: usize, block: &mut [f64], m: usize) {
    for (r, row) in block.chunks_exact_mut(m).enumerate() {
        op.row::<FMA>(i0 + r, row);
    }
}

#[cfg(target_arch = "x86_64")]
fn fma_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_available() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fill_block_avx2<R: RowFill>(op: &R, i0: usize, block: &mut [f64], m: usize) {
    fill_block::<R, true>(op, i0, block, m);
}

/// Only called when [`fma_available`] is true.
fn fill_block_fast<R: RowFill>(op: &R, i0: usize, block: &mut [f64], m: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `assemble` calls this only after `fma_available()` detected AVX2 and FMA.
    unsafe {
        fill_block_avx2(op, i0, block, m);
    }
    #[cfg(not(target_arch = "x86_64"))]
    fill_block::<R, false>(op, i0, block, m);
}

/// How to fill one row of a kernel matrix and of its gradients (see
/// [`GradRows`](super::GradRows)), compiled like [`RowFill`].
pub(crate) trait GradRowFill: Sync {
    /// [`GradRows::fill_row`](super::GradRows::fill_row) with fused multiply–adds when `FMA`.
    fn grad_row<const FMA: bool>(
        &self,
        i: usize,
        k: &mut [f64],
        grads: &mut [&mut [f64]],
        scratch: &mut [f64],
    );
}

/// Runs [`GradRowFill::grad_row`] with AVX2 + FMA code when the CPU supports it.
#[inline]
pub(crate) fn grad_row<R: GradRowFill>(
    op: &R,
    i: usize,
    k: &mut [f64],
    grads: &mut [&mut [f64]],
    scratch: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    if fma_available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { grad_row_avx2(op, i, k, grads, scratch) };
        return;
    }
    op.grad_row::<false>(i, k, grads, scratch);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn grad_row_avx2<R: GradRowFill>(
    op: &R,
    i: usize,
    k: &mut [f64],
    grads: &mut [&mut [f64]],
    scratch: &mut [f64],
) {
    op.grad_row::<true>(i, k, grads, scratch);
}

/// `a · b + c`, fused (one rounding) when `FMA`.
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// `ln 2` split into a part with trailing zero bits and the remainder (Cody–Waite), so that
/// `k · LN2_HI` is exact for `|k| < 2¹¹`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5 · 2⁵²`: adding it rounds to an integer held in the low mantissa bits.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `eˣ`, branch-free so that loops over slices vectorise; within a few ulp of `f64::exp`.
///
/// `x = k ln 2 + r` with `|r| ≲ ln 2 / 2`, `eʳ` by its Taylor polynomial of degree 13
/// (truncation below 10⁻¹⁷ relative), and `2ᵏ` assembled from its bits. Arguments below −708
/// give 0 (the true value is below 3.4·10⁻³⁰⁸); above 709 they saturate at e⁷⁰⁹.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(x: f64) -> f64 {
    let xc = x.clamp(-708.0, 709.0);
    let t = madd::<FMA>(xc, LOG2_E, ROUND);
    let k = t - ROUND;
    let r = madd::<FMA>(-k, LN2_LO, madd::<FMA>(-k, LN2_HI, xc));
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = madd::<FMA>(p, r, c);
    }
    // The low mantissa bits of `t` hold `k` (two's complement); add the exponent bias and shift
    // them into the exponent field: `2ᵏ` for −1022 ≤ k ≤ 1023.
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    if x < -708.0 { 0.0 } else { p * scale }
}

const MANTISSA: u64 = (1 << 52) - 1;
const ONE_BITS: u64 = 1023 << 52;
/// `2⁵²` as bits: OR-ing a small integer into them gives `2⁵² + integer` exactly.
const TWO52_BITS: u64 = 0x4330_0000_0000_0000;
const TWO52: f64 = 4_503_599_627_370_496.0;

/// `ln u` for finite, normal `u > 0`, branch-free; within a few ulp of `f64::ln`.
///
/// `u = 2ᵉ m` with `m ∈ [√½, √2)`, and `ln m = 2 atanh t = 2 (t + t³/3 + … + t²¹/21)` with
/// `t = (m − 1)/(m + 1)`, `|t| ≤ 0.172` (truncation below 10⁻¹⁸ relative).
#[inline(always)]
pub(crate) fn ln<const FMA: bool>(u: f64) -> f64 {
    let bits = u.to_bits();
    let m = f64::from_bits((bits & MANTISSA) | ONE_BITS);
    let e = f64::from_bits(TWO52_BITS | (bits >> 52)) - (TWO52 + 1023.0);
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * m } else { m };
    let e = if big { e + 1.0 } else { e };
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let mut p = 1.0 / 21.0;
    for c in [
        1.0 / 19.0,
        1.0 / 17.0,
        1.0 / 15.0,
        1.0 / 13.0,
        1.0 / 11.0,
        1.0 / 9.0,
        1.0 / 7.0,
        1.0 / 5.0,
        1.0 / 3.0,
        1.0,
    ] {
        p = madd::<FMA>(p, t2, c);
    }
    madd::<FMA>(e, LN2_HI, madd::<FMA>(e, LN2_LO, 2.0 * t * p))
}

#[cfg(test)]
mod tests {
    use super::{exp, ln};

    fn worst<F: Fn(f64) -> f64, G: Fn(f64) -> f64>(xs: &[f64], f: F, g: G) -> f64 {
        xs.iter()
            .map(|&x| ((f(x) - g(x)) / g(x)).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn fast_exp_matches_std() {
        let mut xs: Vec<f64> = (0..81_800).map(|i| -707.9 + 0.01731 * i as f64).collect();
        xs.extend([
            0.0, -1e-300, 1e-12, -0.5, 0.34657, -0.34658, 1.0, -1.0, 708.9,
        ]);
        let (a, b) = (
            worst(&xs, exp::<false>, f64::exp),
            worst(&xs, exp::<true>, f64::exp),
        );
        assert!(a < 1e-15 && b < 1e-15, "{a:e} {b:e}");
        assert_eq!(exp::<false>(-800.0), 0.0);
        assert_eq!(exp::<false>(0.0), 1.0);
    }

    #[test]
    fn fast_ln_matches_std() {
        let mut xs: Vec<f64> = (0..100_000).map(|i| 1.0 + 0.000_137 * i as f64).collect();
        xs.extend((0..2_000).map(|i| 1.0001f64.powi(i * 311)));
        xs.extend([
            1.0 + 1e-15,
            1.5,
            2.0,
            std::f64::consts::SQRT_2,
            1e-300,
            0.3,
            1e300,
        ]);
        // Relative error near u = 1, where ln u → 0, measured against |ln u| + ulp-scale floor.
        let worst = xs
            .iter()
            .map(|&x| (ln::<false>(x) - x.ln()).abs() / (x.ln().abs() + 1e-300))
            .fold(0.0, f64::max);
        assert!(worst < 1e-14, "{worst:e}");
        let worst = xs
            .iter()
            .map(|&x| (ln::<true>(x) - x.ln()).abs() / (x.ln().abs() + 1e-300))
            .fold(0.0, f64::max);
        assert!(worst < 1e-14, "{worst:e}");
        assert_eq!(ln::<false>(1.0), 0.0);
    }
}

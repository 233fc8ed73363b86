//! The dense kernels of the hot path: kernel matrices assembled row by row with a
//! vectorisable exponential, and faer's sequential Cholesky and triangular routines called
//! directly (the inputs are validated once, at the public entry points).
//!
//! At the sizes of Bayesian quadrature (`n` up to a few thousand) a libm `exp` per kernel entry
//! costs as much as the Cholesky factorisation itself; [`exp_slice`] evaluates a whole row at
//! once with a branch-free polynomial that the compiler vectorises.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::{MatMut, MatRef, Par};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ShapeBuilder};

/// `exp(x)` for every element `x ≤ 709`, to within a few ulp, branch-free (vectorisable; with
/// AVX2 and FMA where the CPU has them).
///
/// Range reduction `x = k ln 2 + r`, `|r| ≤ ½ ln 2`, with `ln 2` split in two parts
/// (Cody–Waite: `k·LN2_HI` is exact for `|k| < 2¹¹`), a degree-13 Taylor polynomial for
/// `e^r` (truncation error below `2⁻⁵⁷` relative) evaluated by Estrin's scheme, and `2^k` assembled from its bits. Arguments
/// below `−708` give 0 (the true value is below the smallest normal number).
pub(crate) fn exp_slice(v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features `exp_slice_avx2` is compiled for.
            unsafe { exp_slice_avx2(v) };
            return;
        }
    }
    exp_kernel::<false>(v);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_slice_avx2(v: &mut [f64]) {
    exp_kernel::<true>(v);
}

/// `a + b c`, fused when `FMA` (only used where the CPU has FMA: otherwise `mul_add` is a slow
/// library call).
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { b.mul_add(c, a) } else { a + b * c }
}

#[inline(always)]
fn exp_kernel<const FMA: bool>(v: &mut [f64]) {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2: the high part has 11 trailing zero bits.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    // 1.5 · 2⁵²: adding it rounds to an integer held in the low mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    const C: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    for o in v.iter_mut() {
        let x0 = *o;
        let x = x0.clamp(-708.0, 709.0);
        let t = x * LOG2E + SHIFTER;
        let k = t - SHIFTER;
        let r = (x - k * LN2_HI) - k * LN2_LO;
        // Estrin's scheme: a short dependency chain, so that the loop pipelines.
        let r2 = r * r;
        let r4 = r2 * r2;
        let r8 = r4 * r4;
        let a0 = madd::<FMA>(C[0], C[1], r);
        let a1 = madd::<FMA>(C[2], C[3], r);
        let a2 = madd::<FMA>(C[4], C[5], r);
        let a3 = madd::<FMA>(C[6], C[7], r);
        let a4 = madd::<FMA>(C[8], C[9], r);
        let a5 = madd::<FMA>(C[10], C[11], r);
        let a6 = madd::<FMA>(C[12], C[13], r);
        let b0 = madd::<FMA>(a0, a1, r2);
        let b1 = madd::<FMA>(a2, a3, r2);
        let b2 = madd::<FMA>(a4, a5, r2);
        let c0 = madd::<FMA>(b0, b1, r4);
        let c1 = madd::<FMA>(b2, a6, r4);
        let p = madd::<FMA>(c0, c1, r8);
        // The low bits of t hold k; (k + 1023) << 52 is 2^k.
        let scale = f64::from_bits((t.to_bits().wrapping_add(1023)) << 52);
        let y = p * scale;
        *o = if x0 < -708.0 { 0.0 } else { y };
    }
}

/// Scaled coordinates laid out by dimension: `out[k][j] = x[j, k] / ℓₖ`.
pub(crate) fn scaled_columns(x: ArrayView2<'_, f64>, ls: &[f64]) -> Vec<Vec<f64>> {
    (0..x.ncols())
        .map(|k| x.column(k).iter().map(|v| v / ls[k]).collect())
        .collect()
}

/// Squared-exponential matrix `σ² exp(−½ Σₖ (xᵢₖ − yⱼₖ)²/ℓₖ²)` (row-major `n × m`). When `sym`
/// (`x` and `y` are the same points) the scaled coordinates are computed once; every entry is
/// still computed (exactly symmetric: the same operations in the same order), which at these
/// sizes is faster than mirroring a triangle through strided writes.
pub(crate) fn se_matrix(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    ls: &[f64],
    var: f64,
    sym: bool,
) -> Array2<f64> {
    let (n, m) = (x.nrows(), y.nrows());
    let xs = scaled_columns(x, ls);
    let ys = if sym {
        xs.clone()
    } else {
        scaled_columns(y, ls)
    };
    let mut out = Array2::<f64>::zeros((n, m));
    let mut buf = vec![0.0; m];
    for i in 0..n {
        let len = m;
        let row = &mut buf[..len];
        row.fill(0.0);
        for (xk, yk) in xs.iter().zip(&ys) {
            let xi = xk[i];
            for (o, &yj) in row.iter_mut().zip(&yk[..len]) {
                let d = xi - yj;
                *o += d * d;
            }
        }
        for o in row.iter_mut() {
            *o *= -0.5;
        }
        exp_slice(row);
        let dst = out.row_mut(i).into_slice().expect("standard layout");
        for (o, &r) in dst[..len].iter_mut().zip(row.iter()) {
            *o = var * r;
        }
    }
    out
}

/// Product Matérn matrix `σ² Πₖ p(c rₖ) e^{−c rₖ}`, `rₖ = |xᵢₖ − yⱼₖ|/ℓₖ` (row-major).
pub(crate) fn matern_matrix(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    ls: &[f64],
    var: f64,
    order: crate::kernel::MaternOrder,
    sym: bool,
) -> Array2<f64> {
    use crate::kernel::MaternOrder;
    let (n, m) = (x.nrows(), y.nrows());
    let c = order.rate();
    let cls: Vec<f64> = ls.iter().map(|l| l / c).collect();
    let xs = scaled_columns(x, &cls);
    let ys = if sym {
        xs.clone()
    } else {
        scaled_columns(y, &cls)
    };
    let mut out = Array2::<f64>::zeros((n, m));
    let mut sum = vec![0.0; m];
    let mut prod = vec![0.0; m];
    for i in 0..n {
        let len = m;
        let (s, p) = (&mut sum[..len], &mut prod[..len]);
        s.fill(0.0);
        p.fill(1.0);
        for (xk, yk) in xs.iter().zip(&ys) {
            let xi = xk[i];
            match order {
                MaternOrder::Half => {
                    for (o, &yj) in s.iter_mut().zip(&yk[..len]) {
                        *o += (xi - yj).abs();
                    }
                }
                MaternOrder::ThreeHalves => {
                    for ((o, q), &yj) in s.iter_mut().zip(p.iter_mut()).zip(&yk[..len]) {
                        let u = (xi - yj).abs();
                        *o += u;
                        *q *= 1.0 + u;
                    }
                }
                MaternOrder::FiveHalves => {
                    for ((o, q), &yj) in s.iter_mut().zip(p.iter_mut()).zip(&yk[..len]) {
                        let u = (xi - yj).abs();
                        *o += u;
                        *q *= 1.0 + u + u * u / 3.0;
                    }
                }
            }
        }
        for o in s.iter_mut() {
            *o = -*o;
        }
        exp_slice(s);
        let dst = out.row_mut(i).into_slice().expect("standard layout");
        for ((o, &e), &q) in dst[..len].iter_mut().zip(s.iter()).zip(p.iter()) {
            *o = var * e * q;
        }
    }
    out
}

/// Lower Cholesky factor of the symmetric `k` (only its values are read, no checks), as a
/// column-major matrix with a zero upper triangle, or `None` if a pivot is not positive.
pub(crate) fn cholesky(k: ArrayView2<'_, f64>) -> Option<Array2<f64>> {
    let n = k.nrows();
    // A symmetric matrix in standard layout is its own column-major transpose: copy the
    // memory as it lies.
    let mut l = match k.as_slice() {
        Some(sl) => Array2::from_shape_vec((n, n).f(), sl.to_vec()).expect("n × n"),
        None => {
            let mut l = Array2::<f64>::zeros((n, n).f());
            l.assign(&k);
            l
        }
    };
    let ok = {
        let mut lv = l.view_mut();
        let lm = pn_core::dense::faer_from_ndarray_mut(&mut lv);
        cholesky_in_place(lm)
    };
    if !ok {
        return None;
    }
    for j in 1..n {
        for i in 0..j {
            l[[i, j]] = 0.0;
        }
    }
    Some(l)
}

fn cholesky_in_place(a: MatMut<'_, f64>) -> bool {
    use faer::linalg::cholesky::llt::factor;
    let n = a.nrows();
    let mut buf = MemBuffer::new(factor::cholesky_in_place_scratch::<f64>(
        n,
        Par::Seq,
        Default::default(),
    ));
    factor::cholesky_in_place(
        a,
        Default::default(),
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .is_ok()
}

fn fmat(a: &Array2<f64>) -> MatRef<'_, f64> {
    pn_core::dense::faer_from_ndarray(&a.view())
}

/// `L⁻¹ b` for lower-triangular `L` (no checks).
pub(crate) fn solve_l_vec(l: &Array2<f64>, b: ArrayView1<'_, f64>) -> Array1<f64> {
    let mut x = b.to_owned();
    {
        let xs = x.as_slice_mut().expect("contiguous");
        let xm = faer::MatMut::from_column_major_slice_mut(xs, b.len(), 1);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(fmat(l), xm, Par::Seq);
    }
    x
}

/// `L⁻ᵀ b` for lower-triangular `L` (no checks).
pub(crate) fn solve_lt_vec(l: &Array2<f64>, b: ArrayView1<'_, f64>) -> Array1<f64> {
    let mut x = b.to_owned();
    {
        let xs = x.as_slice_mut().expect("contiguous");
        let xm = faer::MatMut::from_column_major_slice_mut(xs, b.len(), 1);
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(
            fmat(l).transpose(),
            xm,
            Par::Seq,
        );
    }
    x
}

/// `L⁻¹ B` for lower-triangular `L` (no checks), column-major result.
pub(crate) fn solve_l_mat(l: &Array2<f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut x = Array2::<f64>::zeros(b.raw_dim().f());
    x.assign(&b);
    {
        let mut xv = x.view_mut();
        let xm = pn_core::dense::faer_from_ndarray_mut(&mut xv);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(fmat(l), xm, Par::Seq);
    }
    x
}

/// `L⁻ᵀ B` for lower-triangular `L` (no checks), column-major result.
pub(crate) fn solve_lt_mat(l: &Array2<f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut x = Array2::<f64>::zeros(b.raw_dim().f());
    x.assign(&b);
    {
        let mut xv = x.view_mut();
        let xm = pn_core::dense::faer_from_ndarray_mut(&mut xv);
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(
            fmat(l).transpose(),
            xm,
            Par::Seq,
        );
    }
    x
}

/// `diag(K⁻¹)` from the lower Cholesky factor `L` of `K`: the squared column norms of `L⁻¹`.
///
/// Column `j` of `L⁻¹` is zero above row `j` and solves `L[j.., j..] x = e₀`; the columns are
/// computed in blocks of [`INV_BLOCK`] by triangular solves on the trailing factor, in one
/// `n × INV_BLOCK` buffer (the same `n³/3` flops as a full triangular inverse, without an
/// `n × n` allocation).
pub(crate) fn inverse_diag(l: &Array2<f64>) -> Vec<f64> {
    let n = l.nrows();
    let lf = fmat(l);
    let mut out = vec![0.0; n];
    let mut buf = faer::Mat::<f64>::zeros(n, INV_BLOCK);
    let mut j0 = 0;
    while j0 < n {
        let b = INV_BLOCK.min(n - j0);
        let rows = n - j0;
        let mut x = buf.as_mut().submatrix_mut(0, 0, rows, b);
        x.fill(0.0);
        for c in 0..b {
            x[(c, c)] = 1.0;
        }
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(
            lf.submatrix(j0, j0, rows, rows),
            x.as_mut(),
            Par::Seq,
        );
        for c in 0..b {
            let col = x.as_ref().col(c);
            out[j0 + c] = (c..rows).map(|i| col[i] * col[i]).sum();
        }
        j0 += b;
    }
    out
}

/// Columns per block of [`inverse_diag`].
const INV_BLOCK: usize = 32;

/// `K⁻¹` (full, symmetric, column-major) from the lower Cholesky factor `L` of `K`.
#[cfg(test)]
pub(crate) fn inverse(l: &Array2<f64>) -> Array2<f64> {
    let mut out = inverse_lower(l);
    let n = l.nrows();
    for j in 0..n {
        for i in 0..j {
            out[[i, j]] = out[[j, i]];
        }
    }
    out
}

/// The lower triangle of `K⁻¹` (column-major; the strict upper triangle is unspecified) from the
/// lower Cholesky factor `L` of `K`.
pub(crate) fn inverse_lower(l: &Array2<f64>) -> Array2<f64> {
    use faer::linalg::cholesky::llt::inverse;
    let n = l.nrows();
    let mut out = Array2::<f64>::zeros((n, n).f());
    let mut buf = MemBuffer::new(inverse::inverse_scratch::<f64>(n, Par::Seq));
    {
        let mut ov = out.view_mut();
        let om = pn_core::dense::faer_from_ndarray_mut(&mut ov);
        inverse::inverse(om, fmat(l), Par::Seq, MemStack::new(&mut buf));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_to_a_few_ulp() {
        let mut xs: Vec<f64> = (0..20_001)
            .map(|i| -708.0 + 1417.0 * i as f64 / 20_000.0)
            .collect();
        xs.extend([0.0, -0.0, 1e-300, -1e-17, -0.5 * 1e-3, -745.0, -1e4]);
        let mut ys = xs.clone();
        exp_slice(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let e = x.exp();
            if *x < -708.0 {
                assert_eq!(*y, 0.0);
            } else {
                assert!(
                    (y - e).abs() <= 4.0 * f64::EPSILON * e,
                    "exp({x}) = {y} vs {e}"
                );
            }
        }
    }

    #[test]
    fn factor_solves_and_inverse_match_the_definition() {
        let n = 7;
        let a = Array2::from_shape_fn((n, n), |(i, j)| {
            1.0 / (1.0 + (i as f64 - j as f64).abs()) + if i == j { n as f64 } else { 0.0 }
        });
        let l = cholesky(a.view()).unwrap();
        pn_core::testing::assert_allclose(&l.dot(&l.t()), &a, 1e-13, 1e-13);
        let b = Array1::from_shape_fn(n, |i| (i as f64).sin());
        let x = solve_lt_vec(&l, solve_l_vec(&l, b.view()).view());
        pn_core::testing::assert_allclose(&a.dot(&x), &b, 1e-12, 1e-12);
        let inv = inverse(&l);
        pn_core::testing::assert_allclose(&a.dot(&inv), &Array2::eye(n), 1e-12, 1e-12);
        let d = inverse_diag(&l);
        for i in 0..n {
            assert!((d[i] - inv[[i, i]]).abs() < 1e-14);
        }
        let bm = Array2::from_shape_fn((n, 2), |(i, j)| (i + j) as f64);
        let xm = solve_lt_mat(&l, solve_l_mat(&l, bm.view()).view());
        pn_core::testing::assert_allclose(&a.dot(&xm), &bm, 1e-12, 1e-12);
        let mut bad = a.clone();
        bad[[3, 3]] = -1.0;
        assert!(cholesky(bad.view()).is_none());
    }
}

#[cfg(test)]
mod matrix_tests {
    use crate::kernel::{MaternOrder, QuadKernel};
    use ndarray::{Array2, s};
    use pn_core::kernels::Kernel;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// The row-wise matrices equal entry-by-entry evaluation (symmetric and rectangular).
    #[test]
    fn fast_matrices_equal_entrywise_evaluation() {
        let mut rng = Pcg64::seed_from_u64(3);
        let x = Array2::from_shape_fn((9, 3), |_| rng.random::<f64>());
        let y = Array2::from_shape_fn((4, 3), |_| rng.random::<f64>());
        let kernels = [
            QuadKernel::squared_exponential(vec![0.3, 0.7, 0.2], 1.7).unwrap(),
            QuadKernel::product_matern(MaternOrder::Half, vec![0.3, 0.7, 0.2], 0.5).unwrap(),
            QuadKernel::product_matern(MaternOrder::ThreeHalves, vec![0.3, 0.7, 0.2], 1.0).unwrap(),
            QuadKernel::product_matern(MaternOrder::FiveHalves, vec![0.3, 0.7, 0.2], 2.0).unwrap(),
        ];
        for k in kernels {
            for (a, b) in [
                (x.view(), x.view()),
                (x.view(), y.view()),
                (x.slice(s![..;2, ..]), x.view()),
            ] {
                let m = k.matrix(a, b).unwrap();
                let e = Array2::from_shape_fn((a.nrows(), b.nrows()), |(i, j)| {
                    k.eval_unchecked(a.row(i), b.row(j))
                });
                pn_core::testing::assert_allclose(&m, &e, 4e-15, 1e-300);
            }
            let m = k.matrix(x.view(), x.view()).unwrap();
            assert_eq!(m, m.t());
        }
    }
}

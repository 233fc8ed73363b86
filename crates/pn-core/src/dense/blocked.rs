//! A right-looking blocked Cholesky whose trailing update runs on a packed AVX2/FMA kernel.
//!
//! `A = L Lᵀ` in panels of `NB` columns: factor the `NB × NB` diagonal block (faer), solve the
//! panel below it against that block (faer's triangular solve), then update the lower triangle
//! of the trailing matrix, `A₂₂ ← A₂₂ − L₂₁ L₂₁ᵀ`. The update carries all but `O(n² NB)` of the
//! `n³/3` flops; it is done here by a register-blocked 8 × 6 micro-kernel on packed panels
//! (the GotoBLAS/BLIS scheme: `B` packed once per panel and kept in L3, `MC × KC` slices of `A`
//! packed into L2, micro-panels of `B` in L1), tiles strictly above the diagonal skipped.
//!
//! Measured against faer's own recursive factorisation on the 2-core AVX2 machine of
//! `docs/benchmarks.md`, this is about 20 % faster at `n = 4000 … 8000` on one thread, which
//! is what brings pn within reach of OpenBLAS's `dpotrf`. Used only on x86-64 when the CPU has
//! AVX2 and FMA (checked at run time) and the matrix is large enough for the blocking to pay;
//! everything else goes through faer.

use std::arch::x86_64::{
    __m256d, _MM_HINT_T0, _mm_prefetch, _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_loadu_pd,
    _mm256_setzero_pd, _mm256_storeu_pd, _mm256_sub_pd,
};

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{LltError, LltRegularization};
use faer::{MatMut, Par};
use rayon::prelude::*;

/// Rows of the micro-tile (two 4-wide AVX2 registers).
const MR: usize = 8;
/// Columns of the micro-tile (broadcast values); `2 · NR = 12` accumulators.
const NR: usize = 6;
/// Depth of one packed slice (`MR × KC` doubles of `A` stay in L1 while a tile is computed).
const KC: usize = 256;
/// Rows of `A` packed at once (`MC × KC` doubles = 192 KiB, inside a 512 KiB L2).
const MC: usize = 96;
/// Panel width of the factorisation (one `KC` slice per trailing update).
const NB: usize = KC;
/// Below this order faer's recursive factorisation is as fast and the blocking does not pay.
pub(super) const MIN_ORDER: usize = 4 * NB;
/// Fewest right-hand sides for which the blocked triangular solve pays (a tile is `NR` wide).
pub(super) const MIN_COLUMNS: usize = 4 * NR;

/// Whether this CPU can run the kernel.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Factor the lower triangle of the column-major `a` (unit row stride) in place. On failure,
/// the zero-based index of the first pivot that was not positive. The strict upper triangle is
/// left with workspace values.
///
/// The caller guarantees [`available`] and that `a` is square with row stride 1.
pub(super) fn cholesky_in_place(mut a: MatMut<'_, f64>, par: Par) -> Result<(), usize> {
    let n = a.nrows();
    debug_assert!(a.ncols() == n && a.row_stride() == 1);
    let lda = a.col_stride() as usize;
    let params = Default::default();
    let mut mem = MemBuffer::new(
        faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(NB, Par::Seq, params),
    );
    let mut packed_b = Vec::new();
    let mut j = 0;
    while j < n {
        let w = NB.min(n - j);
        let (mut diag, below) = a.as_mut().submatrix_mut(j, j, n - j, w).split_at_row_mut(w);
        faer::linalg::cholesky::llt::factor::cholesky_in_place(
            diag.as_mut(),
            LltRegularization::default(),
            Par::Seq,
            MemStack::new(&mut mem),
            params,
        )
        .map_err(|LltError::NonPositivePivot { index }| j + index)?;
        let r = n - j - w;
        solve_panel(diag.as_ref(), below, par, &mut packed_b);
        if r > 0 {
            let base = a.as_mut().as_ptr_mut();
            // SAFETY: the panel `L₂₁` (r × w, starting at (j + w, j)) and the trailing matrix
            // (r × r, starting at (j + w, j + w)) lie inside `a` (n × n, column stride lda ≥ n,
            // row stride 1) and do not overlap; the kernel was checked to be available.
            unsafe {
                let panel = base.add(j * lda + j + w);
                let trailing = base.add((j + w) * lda + j + w);
                update(
                    Update {
                        m: r,
                        n: r,
                        k: w,
                        lower: true,
                    },
                    (panel, lda),
                    (panel, 1, lda),
                    (trailing, lda),
                    par,
                    &mut packed_b,
                );
            }
        }
        j += w;
    }
    Ok(())
}

/// `X ← L⁻¹ X` for the `n × n` lower-triangular, column-major `l` and the `n × m` column-major
/// `x` (both with unit row stride): in row slices of `NB`, each slice is solved against its
/// diagonal block (faer) and then removed from the rows below it by one product on the packed
/// kernel, which carries all but `O(n · NB · m)` of the `n² m` flops.
///
/// The caller guarantees [`available`].
pub(super) fn solve_lower_in_place(l: faer::MatRef<'_, f64>, mut x: MatMut<'_, f64>, par: Par) {
    let (n, m) = (x.nrows(), x.ncols());
    debug_assert!(l.nrows() == n && l.row_stride() == 1 && x.row_stride() == 1);
    // The columns of X are independent problems: with several threads, each solves its own
    // group of columns from start to end, without the synchronisation after every row slice
    // that a parallel product per slice needs (the per-slice version ran only 1.2–1.6× faster
    // on two threads than on one at n = 8000, m = 500).
    let threads = match par {
        Par::Seq => 1,
        Par::Rayon(t) => t.get(),
    };
    let parts = threads.min(m / MIN_COLUMNS);
    if parts > 1 {
        fn split(l: faer::MatRef<'_, f64>, x: MatMut<'_, f64>, parts: usize) {
            if parts == 1 {
                solve_lower_in_place(l, x, Par::Seq);
            } else {
                let left = parts / 2;
                let mid = x.ncols() * left / parts;
                let (a, b) = x.split_at_col_mut(mid);
                rayon::join(|| split(l, a, left), || split(l, b, parts - left));
            }
        }
        split(l, x, parts);
        return;
    }
    let (ldl, ldx) = (l.col_stride() as usize, x.col_stride() as usize);
    let mut packed_b = Vec::new();
    let mut i0 = 0;
    while i0 < n {
        let s = NB.min(n - i0);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(
            l.submatrix(i0, i0, s, s),
            x.as_mut().subrows_mut(i0, s),
            par,
        );
        let r = n - i0 - s;
        if r > 0 {
            let xp = x.as_mut().as_ptr_mut();
            // SAFETY: L[i0 + s.., i0..i0 + s] is r × s inside `l` (unit row stride, column
            // stride ldl); X[i0..i0 + s, :]ᵀ is m × s with row stride ldx and column stride 1;
            // the rows X[i0 + s.., :] written are disjoint from the rows i0..i0 + s read; the
            // kernel is available (caller).
            unsafe {
                update(
                    Update {
                        m: r,
                        n: m,
                        k: s,
                        lower: false,
                    },
                    (l.as_ptr().add(i0 * ldl + i0 + s), ldl),
                    (xp.add(i0).cast_const(), ldx, 1),
                    (xp.add(i0 + s), ldx),
                    par,
                    &mut packed_b,
                );
            }
        }
        i0 += s;
    }
}

/// A raw pointer that may be shared between the tasks of one update: each task writes a
/// disjoint block of rows of `C` and only reads the packed panel.
#[derive(Clone, Copy)]
struct Shared(*mut f64);
// SAFETY: see the type's documentation; the tasks never touch the same element.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// `X ← X D⁻ᵀ` for the `r × w` panel `X` below the factored diagonal block `D` (lower
/// triangular): in column slices of `SLICE`, each slice first loses the contribution of the
/// slices already solved (a product on the packed kernel, which carries most of the flops),
/// then is solved against its own small triangle by faer.
fn solve_panel(
    d: faer::MatRef<'_, f64>,
    mut x: MatMut<'_, f64>,
    par: Par,
    packed_b: &mut Vec<f64>,
) {
    const SLICE: usize = 64;
    let (r, w) = (x.nrows(), x.ncols());
    if r == 0 {
        return;
    }
    let (ldx, ldd) = (x.col_stride() as usize, d.col_stride() as usize);
    let mut c0 = 0;
    while c0 < w {
        let s = SLICE.min(w - c0);
        if c0 > 0 {
            let xp = x.as_mut().as_ptr_mut();
            // SAFETY: X[:, ..c0] (r × c0) and X[:, c0..c0 + s] are disjoint column ranges of the
            // r × w panel (unit row stride, column stride ldx); D[c0.., ..c0] is s × c0 inside
            // the w × w block (unit row stride, column stride ldd); the kernel was checked to be
            // available by the caller of `cholesky_in_place`.
            unsafe {
                update(
                    Update {
                        m: r,
                        n: s,
                        k: c0,
                        lower: false,
                    },
                    (xp.cast_const(), ldx),
                    (d.as_ptr().add(c0), 1, ldd),
                    (xp.add(c0 * ldx), ldx),
                    par,
                    packed_b,
                );
            }
        }
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(
            d.submatrix(c0, c0, s, s),
            x.as_mut().subcols_mut(c0, s).transpose_mut(),
            par,
        );
        c0 += s;
    }
}

/// Sizes of one product update `C ← C − A Bᵀ`: `C` is `m × n`, `A` is `m × k`, `B` is `n × k`;
/// with `lower` (and `m = n`) only the tiles that meet the lower triangle of `C` are computed.
#[derive(Clone, Copy)]
struct Update {
    m: usize,
    n: usize,
    k: usize,
    lower: bool,
}

/// `C ← C − A Bᵀ` (see [`Update`]) for column-major `A` and `C` given as (pointer, column
/// stride) and `B` given as (pointer, row stride, column stride).
///
/// # Safety
/// Each pointer must address a block of the size given by `size` (`A` and `C` with unit row
/// stride and the given column stride, `B` with the given strides); `C` must not overlap `A` or
/// `B`; `k ≤ KC`; the CPU must support AVX2 and FMA.
unsafe fn update(
    size: Update,
    (a, lda): (*const f64, usize),
    (b, b_rs, b_cs): (*const f64, usize, usize),
    (c, ldc): (*mut f64, usize),
    par: Par,
    packed_b: &mut Vec<f64>,
) {
    let Update { m, n, k, lower } = size;
    debug_assert!(k <= KC && (!lower || m == n));
    packed_b.clear();
    packed_b.resize(n.div_ceil(NR) * NR * k, 0.0);
    // SAFETY: `b` is n × k with strides (b_rs, b_cs) (caller).
    unsafe { pack::<NR>(b, b_rs, b_cs, n, k, packed_b) };
    let bp: &[f64] = packed_b;
    let blocks = m.div_ceil(MC);
    let c = Shared(c);
    let a = Shared(a.cast_mut());
    let task = |block: usize, packed_a: &mut Vec<f64>| {
        let (c, a) = (c, a);
        let i0 = block * MC;
        let mc = MC.min(m - i0);
        packed_a.clear();
        packed_a.resize(mc.div_ceil(MR) * MR * k, 0.0);
        // SAFETY: rows i0..i0 + mc of A exist (i0 + mc ≤ m).
        unsafe { pack::<MR>(a.0.add(i0), 1, lda, mc, k, packed_a) };
        // With `lower`, column tiles only up to the last row of this block.
        let last = if lower { (i0 + mc).min(n) } else { n };
        let mut j0 = 0;
        while j0 < last {
            let cols = NR.min(n - j0);
            let mut ir = 0;
            while ir < mc {
                let rows = MR.min(mc - ir);
                if !lower || i0 + ir + rows > j0 {
                    // SAFETY: the tile (i0 + ir .. + rows, j0 .. + cols) lies inside C; the
                    // packed slices hold k steps of MR and NR values; AVX2/FMA per the caller.
                    unsafe {
                        micro(
                            k,
                            packed_a.as_ptr().add(ir * k),
                            bp.as_ptr().add(j0 * k),
                            c.0.add(j0 * ldc + i0 + ir),
                            ldc,
                            rows,
                            cols,
                        );
                    }
                }
                ir += MR;
            }
            j0 += NR;
        }
    };
    if matches!(par, Par::Seq) || blocks < 4 {
        let mut packed_a = Vec::new();
        for block in 0..blocks {
            task(block, &mut packed_a);
        }
    } else {
        // Later row blocks carry more tiles; rayon's work stealing balances them.
        (0..blocks)
            .into_par_iter()
            .rev()
            .for_each_init(Vec::new, |packed_a, block| task(block, packed_a));
    }
}

/// Pack `rows` rows × `k` columns of `b` (row stride `rs`, column stride `cs`) into `W`-row
/// micro-panels: panel `q` holds, for each column `t`, the rows `q·W .. q·W + W` (zero-padded
/// past `rows`). `W = MR` for the left operand, `NR` for the right one.
///
/// # Safety
/// `b` must point to a `rows × k` block with the given strides.
unsafe fn pack<const W: usize>(
    b: *const f64,
    rs: usize,
    cs: usize,
    rows: usize,
    k: usize,
    out: &mut [f64],
) {
    for (q, panel) in out.chunks_exact_mut(W * k).enumerate() {
        let valid = W.min(rows - q * W);
        for (t, dst) in panel.chunks_exact_mut(W).enumerate() {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = if i < valid {
                    // SAFETY: row q·W + i < rows and column t < k are inside the block.
                    unsafe { *b.add((q * W + i) * rs + t * cs) }
                } else {
                    0.0
                };
            }
        }
    }
}

/// `C[tile] ← C[tile] − Σₜ a[·, t] b[·, t]ᵀ` for one `rows × cols` tile (at most `MR × NR`) of
/// the column-major `C`, from packed micro-panels `a` (`MR` per step) and `b` (`NR` per step).
///
/// # Safety
/// `a` and `b` must hold `k` steps; `c` must point to a `rows × cols` block with unit row stride
/// and column stride `ldc`; the CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn micro(
    k: usize,
    a: *const f64,
    b: *const f64,
    c: *mut f64,
    ldc: usize,
    rows: usize,
    cols: usize,
) {
    let mut acc: [[__m256d; 2]; NR] = [[_mm256_setzero_pd(); 2]; NR];
    let (mut a, mut b) = (a, b);
    for j in 0..cols {
        // Column j < cols of the tile exists; prefetching is only a hint.
        _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(j * ldc).cast::<i8>());
    }
    // One step of the rank-k update: two loads of `a`, NR broadcasts of `b`, 2·NR FMAs.
    macro_rules! step {
        ($o:expr) => {{
            // SAFETY: step $o of the current group is < k, so MR values of `a` and NR of `b`
            // are inside the packed panels.
            let (a0, a1) = unsafe {
                (
                    _mm256_loadu_pd(a.add($o * MR)),
                    _mm256_loadu_pd(a.add($o * MR + 4)),
                )
            };
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let bj = unsafe { _mm256_broadcast_sd(&*b.add($o * NR + j)) };
                acc[0] = _mm256_fmadd_pd(a0, bj, acc[0]);
                acc[1] = _mm256_fmadd_pd(a1, bj, acc[1]);
            }
        }};
    }
    let mut t = 0;
    while t + 4 <= k {
        // Prefetching may point past the panel; it never faults.
        _mm_prefetch::<_MM_HINT_T0>(a.wrapping_add(8 * MR).cast::<i8>());
        step!(0);
        step!(1);
        _mm_prefetch::<_MM_HINT_T0>(a.wrapping_add(10 * MR).cast::<i8>());
        step!(2);
        step!(3);
        // SAFETY: four steps were inside the panels, so the pointers stay in (or one past) them.
        unsafe {
            a = a.add(4 * MR);
            b = b.add(4 * NR);
        }
        t += 4;
    }
    while t < k {
        step!(0);
        // SAFETY: as above, one step.
        unsafe {
            a = a.add(MR);
            b = b.add(NR);
        }
        t += 1;
    }
    if rows == MR && cols == NR {
        for (j, acc) in acc.iter().enumerate() {
            // SAFETY: the full MR × NR tile is inside C.
            unsafe {
                let cj = c.add(j * ldc);
                _mm256_storeu_pd(cj, _mm256_sub_pd(_mm256_loadu_pd(cj), acc[0]));
                let cj4 = cj.add(4);
                _mm256_storeu_pd(cj4, _mm256_sub_pd(_mm256_loadu_pd(cj4), acc[1]));
            }
        }
    } else {
        let mut tile = [0.0f64; MR * NR];
        for (j, acc) in acc.iter().enumerate() {
            // SAFETY: `tile` holds MR × NR values.
            unsafe {
                _mm256_storeu_pd(tile.as_mut_ptr().add(j * MR), acc[0]);
                _mm256_storeu_pd(tile.as_mut_ptr().add(j * MR + 4), acc[1]);
            }
        }
        for j in 0..cols {
            for i in 0..rows {
                // SAFETY: (i, j) is inside the rows × cols tile of C.
                unsafe { *c.add(j * ldc + i) -= tile[j * MR + i] };
            }
        }
    }
}

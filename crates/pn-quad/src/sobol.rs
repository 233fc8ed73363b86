//! Sobol' points (Joe–Kuo direction numbers) with linear matrix scrambling and a digital shift.
//!
//! Dimension `j` of the Sobol' sequence is a digital sequence in base 2 with generator columns
//! `vₖ = mₖ 2^{B−k}` (`B = 52` bits): the `s` initial odd integers `mₖ < 2ᵏ` come from Joe and
//! Kuo's table, and further ones from the recurrence of a primitive polynomial
//! `x^s + a₁x^{s−1} + … + a_{s−1}x + 1` over GF(2):
//!
//! ```text
//! vₖ = a₁vₖ₋₁ ⊕ a₂vₖ₋₂ ⊕ … ⊕ a_{s−1}vₖ₋ₛ₊₁ ⊕ vₖ₋ₛ ⊕ (vₖ₋ₛ ≫ s).
//! ```
//!
//! Point `i` XORs the `vₖ` of the bits of its Gray code `i ⊕ (i ≫ 1)` (the same points as the
//! binary order up to the order within each block of `2ᵐ`, so every block of `2ᵐ` consecutive
//! points starting at a multiple of `2ᵐ` is a `(t, m, s)`-net).
//!
//! **Scrambling** (Matoušek's linear matrix scrambling with a digital shift, as in SciPy and
//! Owen's analysis of scrambled nets): each dimension draws a random lower-triangular binary
//! `B × B` matrix `M` with a unit diagonal and a random `B`-bit shift `e`; the generator
//! columns become `M vₖ` and every point is XORed with `e`. Both preserve the net property
//! (`M` is invertible and acts digit-wise from the most significant digit down), and each point
//! becomes uniform on `[0, 1)ᵈ`, so the rule is unbiased and its error can be estimated from
//! independent replicates.

use ndarray::Array2;
use rand::Rng;

use crate::error::Result;

/// Bits of each coordinate.
const BITS: u32 = 52;

/// (primitive polynomial with its leading and constant terms, initial direction numbers m₁…m_s)
/// for dimensions 2…64 (dimension 1 is van der Corput), from Joe & Kuo's file
/// `new-joe-kuo-6.21201` (S. Joe, F. Y. Kuo, "Constructing Sobol sequences with better
/// two-dimensional projections", SIAM J. Sci. Comput. 30 (2008) 2635–2654;
/// https://web.maths.unsw.edu.au/~fkuo/sobol/), first 63 rows.
const JOE_KUO: [(u32, &[u32]); 63] = [
    (3, &[1]),
    (7, &[1, 3]),
    (11, &[1, 3, 1]),
    (13, &[1, 1, 1]),
    (19, &[1, 1, 3, 3]),
    (25, &[1, 3, 5, 13]),
    (37, &[1, 1, 5, 5, 17]),
    (41, &[1, 1, 5, 5, 5]),
    (47, &[1, 1, 7, 11, 19]),
    (55, &[1, 1, 5, 1, 1]),
    (59, &[1, 1, 1, 3, 11]),
    (61, &[1, 3, 5, 5, 31]),
    (67, &[1, 3, 3, 9, 7, 49]),
    (91, &[1, 1, 1, 15, 21, 21]),
    (97, &[1, 3, 1, 13, 27, 49]),
    (103, &[1, 1, 1, 15, 7, 5]),
    (109, &[1, 3, 1, 15, 13, 25]),
    (115, &[1, 1, 5, 5, 19, 61]),
    (131, &[1, 3, 7, 11, 23, 15, 103]),
    (137, &[1, 3, 7, 13, 13, 15, 69]),
    (143, &[1, 1, 3, 13, 7, 35, 63]),
    (145, &[1, 3, 5, 9, 1, 25, 53]),
    (157, &[1, 3, 1, 13, 9, 35, 107]),
    (167, &[1, 3, 1, 5, 27, 61, 31]),
    (171, &[1, 1, 5, 11, 19, 41, 61]),
    (185, &[1, 3, 5, 3, 3, 13, 69]),
    (191, &[1, 1, 7, 13, 1, 19, 1]),
    (193, &[1, 3, 7, 5, 13, 19, 59]),
    (203, &[1, 1, 3, 9, 25, 29, 41]),
    (211, &[1, 3, 5, 13, 23, 1, 55]),
    (213, &[1, 3, 7, 3, 13, 59, 17]),
    (229, &[1, 3, 1, 3, 5, 53, 69]),
    (239, &[1, 1, 5, 5, 23, 33, 13]),
    (241, &[1, 1, 7, 7, 1, 61, 123]),
    (247, &[1, 1, 7, 9, 13, 61, 49]),
    (253, &[1, 3, 3, 5, 3, 55, 33]),
    (285, &[1, 3, 1, 15, 31, 13, 49, 245]),
    (299, &[1, 3, 5, 15, 31, 59, 63, 97]),
    (301, &[1, 3, 1, 11, 11, 11, 77, 249]),
    (333, &[1, 3, 1, 11, 27, 43, 71, 9]),
    (351, &[1, 1, 7, 15, 21, 11, 81, 45]),
    (355, &[1, 3, 7, 3, 25, 31, 65, 79]),
    (357, &[1, 3, 1, 1, 19, 11, 3, 205]),
    (361, &[1, 1, 5, 9, 19, 21, 29, 157]),
    (369, &[1, 3, 7, 11, 1, 33, 89, 185]),
    (391, &[1, 3, 3, 3, 15, 9, 79, 71]),
    (397, &[1, 3, 7, 11, 15, 39, 119, 27]),
    (425, &[1, 1, 3, 1, 11, 31, 97, 225]),
    (451, &[1, 1, 1, 3, 23, 43, 57, 177]),
    (463, &[1, 3, 7, 7, 17, 17, 37, 71]),
    (487, &[1, 3, 1, 5, 27, 63, 123, 213]),
    (501, &[1, 1, 3, 5, 11, 43, 53, 133]),
    (529, &[1, 3, 5, 5, 29, 17, 47, 173, 479]),
    (539, &[1, 3, 3, 11, 3, 1, 109, 9, 69]),
    (545, &[1, 1, 1, 5, 17, 39, 23, 5, 343]),
    (557, &[1, 3, 1, 5, 25, 15, 31, 103, 499]),
    (563, &[1, 1, 1, 11, 11, 17, 63, 105, 183]),
    (601, &[1, 1, 5, 11, 9, 29, 97, 231, 363]),
    (607, &[1, 1, 5, 15, 19, 45, 41, 7, 383]),
    (617, &[1, 3, 7, 7, 31, 19, 83, 137, 221]),
    (623, &[1, 1, 1, 3, 23, 15, 111, 223, 83]),
    (631, &[1, 1, 5, 13, 31, 15, 55, 25, 161]),
    (637, &[1, 1, 3, 13, 25, 47, 39, 87, 257]),
];

/// Largest supported dimension.
pub(crate) const MAX_DIM: usize = JOE_KUO.len() + 1;

/// The `BITS` generator columns of dimension `j` (0-based), most significant first.
fn directions(j: usize) -> [u64; BITS as usize] {
    let mut v = [0u64; BITS as usize];
    if j == 0 {
        for (k, vk) in v.iter_mut().enumerate() {
            *vk = 1u64 << (BITS - 1 - k as u32);
        }
        return v;
    }
    let (poly, m) = JOE_KUO[j - 1];
    let s = (32 - poly.leading_zeros() - 1) as usize;
    debug_assert_eq!(m.len(), s);
    // Interior coefficients a₁ … a_{s−1} of the polynomial (bit s−1−i of `poly >> 1`).
    let a = (poly >> 1) & ((1u32 << (s - 1)) - 1);
    for k in 0..(BITS as usize) {
        if k < s {
            v[k] = u64::from(m[k]) << (BITS - 1 - k as u32);
        } else {
            let mut x = v[k - s] ^ (v[k - s] >> s);
            for i in 1..s {
                if (a >> (s - 1 - i)) & 1 == 1 {
                    x ^= v[k - i];
                }
            }
            v[k] = x;
        }
    }
    v
}

fn check(n: usize, d: usize) -> Result<()> {
    if d == 0 || d > MAX_DIM {
        return Err(pn_core::Error::InvalidParameter {
            name: "dimension",
            value: d as f64,
            reason: "Sobol' points support 1 to 64 dimensions",
        }
        .into());
    }
    if n as u64 >= 1u64 << BITS {
        return Err(pn_core::Error::InvalidParameter {
            name: "n",
            value: n as f64,
            reason: "at most 2^52 Sobol' points",
        }
        .into());
    }
    Ok(())
}

/// The points `0 … n−1` in Gray-code order from generator columns `v` (one array per dimension)
/// XORed with `shift`.
fn generate(n: usize, dirs: &[[u64; BITS as usize]], shifts: &[u64]) -> Array2<f64> {
    let d = dirs.len();
    let mut out = Array2::zeros((n, d));
    let mut state: Vec<u64> = shifts.to_vec();
    let scale = 1.0 / (1u64 << BITS) as f64;
    for i in 0..n {
        if i > 0 {
            // Gray code: point i differs from point i−1 in the column of the lowest zero bit
            // of i−1.
            let c = (!(i - 1)).trailing_zeros() as usize;
            for (st, v) in state.iter_mut().zip(dirs) {
                *st ^= v[c];
            }
        }
        for k in 0..d {
            out[[i, k]] = state[k] as f64 * scale;
        }
    }
    out
}

/// The first `n` unscrambled Sobol' points in `[0, 1)ᵈ` (Gray-code order; the first point is
/// the origin), `1 ≤ d ≤ 64`.
///
/// ```
/// let x = pn_quad::rules::sobol(4, 2)?;
/// assert_eq!(x.row(1).to_vec(), vec![0.5, 0.5]);
/// # Ok::<(), pn_quad::Error>(())
/// ```
pub fn sobol(n: usize, d: usize) -> Result<Array2<f64>> {
    check(n, d)?;
    let dirs: Vec<_> = (0..d).map(directions).collect();
    Ok(generate(n, &dirs, &vec![0; d]))
}

/// The first `n` scrambled Sobol' points (linear matrix scrambling and a digital shift, drawn
/// from `rng`) in `(0, 1)ᵈ`, `1 ≤ d ≤ 64`. Every block of `2ᵐ` points starting at a multiple of
/// `2ᵐ` keeps the `(t, m, d)`-net property of the unscrambled sequence, and each point is
/// uniformly distributed: averages over them are unbiased. Use powers of two for `n`.
pub fn sobol_scrambled<R: Rng + ?Sized>(n: usize, d: usize, rng: &mut R) -> Result<Array2<f64>> {
    check(n, d)?;
    let mut dirs = Vec::with_capacity(d);
    let mut shifts = Vec::with_capacity(d);
    let mask = (1u64 << BITS) - 1;
    for j in 0..d {
        let v = directions(j);
        // Row r of M (digit r counted from the most significant): ones on the diagonal, random
        // bits to its left (more significant digits), as a mask over the BITS-bit integer.
        let rows: Vec<u64> = (0..BITS)
            .map(|r| {
                let diag = 1u64 << (BITS - 1 - r);
                let above = !((diag << 1).wrapping_sub(1)) & mask; // more significant bits
                (rng.random::<u64>() & above) | diag
            })
            .collect();
        let mut sv = [0u64; BITS as usize];
        for (k, out) in sv.iter_mut().enumerate() {
            let mut x = 0u64;
            for (r, row) in rows.iter().enumerate() {
                if (row & v[k]).count_ones() & 1 == 1 {
                    x |= 1u64 << (BITS - 1 - r as u32);
                }
            }
            *out = x;
        }
        dirs.push(sv);
        shifts.push(rng.random::<u64>() & mask);
    }
    let mut x = generate(n, &dirs, &shifts);
    // A shifted point can be exactly 0 only with probability 2⁻⁵²; keep the open interval.
    x.mapv_inplace(|v| v.max(0.5 / (1u64 << BITS) as f64));
    Ok(x)
}

//! The `q`-times integrated Wiener process, in closed form.

use ndarray::{Array1, Array2};

use super::{GaussMarkov, Transition, check_diffusion, check_step, lift};
use crate::error::{Error, Result};

/// The `q`-times integrated Wiener process IWP(q): `x^{(q)}` is a Wiener process with
/// diffusion `γ` (per coordinate), and `x, x', …, x^{(q−1)}` are its integrals.
///
/// Its exact transition over a step `h` is `A_{ij} = h^{j−i}/(j−i)!` (`j ≥ i`) with noise
/// `Q_{ij} = γ h^{2q+1−i−j} / ((2q+1−i−j)(q−i)!(q−j)!)`. With the preconditioner
/// `T = √h diag(h^{q−i}/(q−i)!)` (Krämer & Hennig, 2020) both become independent of `h`:
/// `Ā_{ij} = C(q−i, j−i)` and `Q̄_{ij} = γ/(2q+1−i−j)`, a Cauchy (Hilbert-type) matrix whose
/// Cholesky factor is known in closed form, so no numerical factorisation of this notoriously
/// ill-conditioned matrix is ever done.
#[derive(Debug, Clone, PartialEq)]
pub struct Iwp {
    q: usize,
    diffusion: Array1<f64>,
    a1: Array2<f64>,
    l1: Array2<f64>,
}

/// The largest supported order.
pub const MAX_ORDER: usize = 10;

impl Iwp {
    /// IWP(q) on `d` coordinates with unit diffusion. Errors unless `q ≤ 10` and `d ≥ 1`.
    pub fn new(q: usize, d: usize) -> Result<Self> {
        Self::with_diffusion(q, Array1::ones(d))
    }

    /// IWP(q) with a diffusion `γⱼ > 0` per coordinate (its length is `d`).
    pub fn with_diffusion(q: usize, diffusion: Array1<f64>) -> Result<Self> {
        if q > MAX_ORDER {
            return Err(Error::UnsupportedOrder {
                order: q,
                min: 0,
                max: MAX_ORDER,
            });
        }
        check_diffusion(&diffusion)?;
        Ok(Self {
            q,
            diffusion,
            a1: preconditioned_transition(q),
            l1: preconditioned_noise_cholesky(q),
        })
    }

    /// The per-coordinate diffusions `γ`.
    pub fn diffusion(&self) -> &Array1<f64> {
        &self.diffusion
    }

    /// The diagonal of the one-coordinate preconditioner `T(h) = √h diag(h^{q−i}/(q−i)!)`.
    pub fn preconditioner(&self, h: f64) -> Array1<f64> {
        let q = self.q;
        Array1::from_shape_fn(q + 1, |i| {
            let k = q - i;
            h.sqrt() * h.powi(k as i32) / factorial(k)
        })
    }
}

impl GaussMarkov for Iwp {
    fn dim(&self) -> usize {
        self.diffusion.len()
    }

    fn order(&self) -> usize {
        self.q
    }

    fn transition(&self, h: f64) -> Result<Transition> {
        check_step(h)?;
        Ok(lift(
            &self.a1,
            &self.l1,
            &self.preconditioner(h),
            &self.diffusion,
        ))
    }
}

pub(crate) fn factorial(k: usize) -> f64 {
    (1..=k).map(|v| v as f64).product()
}

fn binomial(n: usize, k: usize) -> f64 {
    factorial(n) / (factorial(k) * factorial(n - k))
}

/// `Ā_{ij} = C(q−i, j−i)` for `j ≥ i`.
fn preconditioned_transition(q: usize) -> Array2<f64> {
    Array2::from_shape_fn((q + 1, q + 1), |(i, j)| {
        if j >= i { binomial(q - i, j - i) } else { 0.0 }
    })
}

/// The Cholesky factor of `Q̄_{ij} = 1/(x_i + x_j)`, `x_i = q − i + ½`, from the closed-form
/// LDLᵀ of a symmetric Cauchy matrix: the Schur complements of Cauchy matrices are Cauchy-like,
/// which gives
///
/// `D_j = 1/(2x_j) · Π_{k<j} (x_j − x_k)²/(x_j + x_k)²`,
/// `L_{ij} = 2x_j/(x_i + x_j) · Π_{k<j} (x_i − x_k)(x_j + x_k) / ((x_j − x_k)(x_i + x_k))`,
///
/// and the factor is `L diag(√D)`.
fn preconditioned_noise_cholesky(q: usize) -> Array2<f64> {
    let n = q + 1;
    let x: Vec<f64> = (0..n).map(|i| (q - i) as f64 + 0.5).collect();
    let mut l = Array2::zeros((n, n));
    for j in 0..n {
        let mut dj = 1.0 / (2.0 * x[j]);
        for k in 0..j {
            let r = (x[j] - x[k]) / (x[j] + x[k]);
            dj *= r * r;
        }
        let sj = dj.sqrt();
        for i in j..n {
            let mut lij = 2.0 * x[j] / (x[i] + x[j]);
            for k in 0..j {
                lij *= (x[i] - x[k]) * (x[j] + x[k]) / ((x[j] - x[k]) * (x[i] + x[k]));
            }
            l[[i, j]] = lij * sj;
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_cholesky_reproduces_the_hilbert_type_matrix() {
        for q in 0..=MAX_ORDER {
            let l = preconditioned_noise_cholesky(q);
            let rec = l.dot(&l.t());
            for i in 0..=q {
                for j in 0..=q {
                    let exact = 1.0 / (2 * q + 1 - i - j) as f64;
                    assert!(
                        (rec[[i, j]] - exact).abs() <= 4e-16 * (q as f64 + 1.0) * exact.max(1.0),
                        "q={q} ({i},{j}): {} vs {exact}",
                        rec[[i, j]]
                    );
                }
                assert!(l[[i, i]] > 0.0);
            }
        }
    }
}

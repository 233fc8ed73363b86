//! Small dense helpers for state-space models (matrices of order ≲ 100).

use ndarray::{Array1, Array2};

use crate::error::Result;

/// `exp(M)` by scaling and squaring with a degree-18 Taylor polynomial: `M` is scaled by `2⁻ˢ`
/// until its 1-norm is below ½ (truncation error `< 2⁻¹⁹/19! ≈ 1.6e-23` relative), then the
/// result is squared `s` times.
pub(crate) fn expm(m: &Array2<f64>) -> Array2<f64> {
    let n = m.nrows();
    let norm = (0..n)
        .map(|j| m.column(j).iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0f64, f64::max);
    let mut s = 0i32;
    if norm > 0.5 {
        s = (norm / 0.5).log2().ceil() as i32;
    }
    let a = m * 2f64.powi(-s);
    let mut term = Array2::<f64>::eye(n);
    let mut sum = Array2::<f64>::eye(n);
    for k in 1..=18 {
        term = term.dot(&a) / k as f64;
        sum += &term;
    }
    for _ in 0..s {
        sum = sum.dot(&sum);
    }
    sum
}

/// Gauss–Legendre nodes and weights on `[−1, 1]` by the Golub–Welsch algorithm (eigen-
/// decomposition of the Jacobi matrix of the Legendre recurrence).
pub(crate) fn gauss_legendre(m: usize) -> Result<(Array1<f64>, Array1<f64>)> {
    let mut j = Array2::zeros((m, m));
    for k in 1..m {
        let b = k as f64 / ((4 * k * k - 1) as f64).sqrt();
        j[[k, k - 1]] = b;
        j[[k - 1, k]] = b;
    }
    let (x, v) = pn_core::dense::eigh(j.view())?;
    let w = Array1::from_shape_fn(m, |k| 2.0 * v[[0, k]] * v[[0, k]]);
    Ok((x, w))
}

/// The solution `P` of the Lyapunov equation `F P + P Fᵀ + G = 0`, by Gaussian elimination
/// with partial pivoting on the `n² × n²` Kronecker system (fine for `n ≤ 11`).
pub(crate) fn lyapunov(f: &Array2<f64>, g: &Array2<f64>) -> Result<Array2<f64>> {
    let n = f.nrows();
    let nn = n * n;
    // vec(F P + P Fᵀ) (row-major vec) = (F ⊗ I + I ⊗ F) vec(P).
    let mut a = Array2::<f64>::zeros((nn, nn));
    for i in 0..n {
        for j in 0..n {
            let row = i * n + j;
            for k in 0..n {
                a[[row, k * n + j]] += f[[i, k]];
                a[[row, i * n + k]] += f[[j, k]];
            }
        }
    }
    let mut b: Array1<f64> = Array1::from_shape_fn(nn, |r| -g[[r / n, r % n]]);
    for c in 0..nn {
        let p = (c..nn)
            .max_by(|&x, &y| a[[x, c]].abs().total_cmp(&a[[y, c]].abs()))
            .unwrap_or(c);
        if a[[p, c]] == 0.0 {
            return Err(pn_core::Error::Singular {
                index: c,
                value: 0.0,
            }
            .into());
        }
        if p != c {
            for k in 0..nn {
                a.swap([c, k], [p, k]);
            }
            b.swap(c, p);
        }
        for r in c + 1..nn {
            let factor = a[[r, c]] / a[[c, c]];
            if factor != 0.0 {
                for k in c..nn {
                    a[[r, k]] -= factor * a[[c, k]];
                }
                b[r] -= factor * b[c];
            }
        }
    }
    let mut x = Array1::<f64>::zeros(nn);
    for r in (0..nn).rev() {
        let s: f64 = (r + 1..nn).map(|k| a[[r, k]] * x[k]).sum();
        x[r] = (b[r] - s) / a[[r, r]];
    }
    Ok(Array2::from_shape_fn((n, n), |(i, j)| x[i * n + j]))
}

/// `(M + Mᵀ)/2`.
pub(crate) fn symmetrise(m: Array2<f64>) -> Array2<f64> {
    let mt = m.t().to_owned();
    (m + mt) * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn expm_of_a_rotation_generator_and_a_nilpotent() {
        let t = 2.5f64;
        let e = expm(&array![[0.0, -t], [t, 0.0]]);
        let want = array![[t.cos(), -t.sin()], [t.sin(), t.cos()]];
        for (a, b) in e.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-14);
        }
        // exp of [[0,h],[0,0]] = [[1,h],[0,1]] exactly.
        let e = expm(&array![[0.0, 7.0], [0.0, 0.0]]);
        assert!((e[[0, 1]] - 7.0).abs() < 1e-13 && (e[[0, 0]] - 1.0).abs() < 1e-14);
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let (x, w) = gauss_legendre(5).unwrap();
        // ∫_{-1}^{1} x^8 dx = 2/9 (degree 8 ≤ 2·5 − 1).
        let v: f64 = x.iter().zip(w.iter()).map(|(x, w)| w * x.powi(8)).sum();
        assert!((v - 2.0 / 9.0).abs() < 1e-15);
        assert!((w.sum() - 2.0).abs() < 1e-14);
    }

    #[test]
    fn lyapunov_of_ornstein_uhlenbeck() {
        // dx = −θ x dt + √q dW: stationary variance q / (2θ).
        let p = lyapunov(&array![[-3.0]], &array![[1.5]]).unwrap();
        assert!((p[[0, 0]] - 0.25).abs() < 1e-15);
    }
}

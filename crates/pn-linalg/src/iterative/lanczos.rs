//! Lanczos tridiagonalisation with full reorthogonalisation.

use ndarray::{Array1, Array2, ArrayView1, s};
use pn_core::LinearOperator;

use super::{check_finite, check_len, square_dim};
use crate::error::Result;

/// The result of `k` Lanczos steps on a symmetric `A` from a start vector `v`:
/// `A Q = Q T + βₖ qₖ₊₁ eₖᵀ` with `Q` (`n × k`) orthonormal (in the inner product the iteration
/// used) and `T` (`k × k`) symmetric tridiagonal with diagonal `alpha` and off-diagonal `beta`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Lanczos {
    /// The Lanczos vectors as columns, `q₁ = v / ‖v‖`.
    pub q: Array2<f64>,
    /// Diagonal of `T` (length `k`).
    pub alpha: Array1<f64>,
    /// Off-diagonal of `T` (length `k − 1`).
    pub beta: Array1<f64>,
    /// `‖v‖` of the start vector.
    pub start_norm: f64,
    /// Whether the iteration stopped early because the Krylov space became invariant (then
    /// the quadrature below is exact).
    pub invariant: bool,
}

impl Lanczos {
    /// Number of steps `k`.
    pub fn steps(&self) -> usize {
        self.alpha.len()
    }

    /// `T` as a dense `k × k` matrix.
    pub fn tridiagonal(&self) -> Array2<f64> {
        let k = self.steps();
        let mut t = Array2::zeros((k, k));
        for i in 0..k {
            t[[i, i]] = self.alpha[i];
            if i + 1 < k {
                t[[i, i + 1]] = self.beta[i];
                t[[i + 1, i]] = self.beta[i];
            }
        }
        t
    }

    /// Gauss quadrature `vᵀ f(A) v ≈ ‖v‖² e₁ᵀ f(T) e₁ = ‖v‖² Σⱼ τⱼ² f(θⱼ)` over the Ritz values
    /// `θⱼ` (eigenvalues of `T`) with weights `τⱼ` (first components of its eigenvectors),
    /// exact for polynomials of degree `< 2k`.
    pub fn quadrature(&self, f: impl Fn(f64) -> f64) -> Result<f64> {
        let (theta, v) = pn_core::dense::eigh(self.tridiagonal().view())?;
        let sum: f64 = theta
            .iter()
            .zip(v.row(0))
            .map(|(&t, &tau)| tau * tau * f(t))
            .sum();
        Ok(self.start_norm * self.start_norm * sum)
    }
}

/// `k` steps of the Lanczos iteration on the symmetric operator `a` from `v` (Lanczos, 1950),
/// with full reorthogonalisation against all previous vectors (classical Gram–Schmidt applied
/// twice), so that `Q` stays orthonormal to working precision. Stops early, with
/// `invariant = true`, when `βⱼ ≤ 1e-12 · ‖T‖` (an invariant subspace was found).
///
/// Errors: non-square `a`, wrong length, NaN/∞ or zero `v`, `k = 0`.
///
/// ```
/// use ndarray::array;
/// use pn_linalg::iterative::lanczos;
/// let a = array![[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]];
/// let l = lanczos(&a, array![1.0, 0.0, 0.0].view(), 3)?;
/// // With k = n the Ritz values are the eigenvalues: trace is preserved.
/// assert!((l.alpha.sum() - 9.0).abs() < 1e-12);
/// # Ok::<(), pn_linalg::Error>(())
/// ```
pub fn lanczos<A: LinearOperator + ?Sized>(
    a: &A,
    v: ArrayView1<'_, f64>,
    k: usize,
) -> Result<Lanczos> {
    let n = square_dim("lanczos", &a)?;
    lanczos_general(n, v, k, &|x| a.matvec(x), None)
}

/// Lanczos on an operator `B` self-adjoint in the inner product `⟨x, y⟩_M = xᵀ M y`
/// (`metric = None`: Euclidean). `Q` is `M`-orthonormal.
#[allow(clippy::type_complexity)]
pub(crate) fn lanczos_general(
    n: usize,
    v: ArrayView1<'_, f64>,
    k: usize,
    op: &dyn Fn(ArrayView1<'_, f64>) -> Array1<f64>,
    metric: Option<&dyn Fn(ArrayView1<'_, f64>) -> Array1<f64>>,
) -> Result<Lanczos> {
    check_len("lanczos", n, v.len())?;
    check_finite("v", v.iter())?;
    if k == 0 {
        return Err(pn_core::Error::InvalidParameter {
            name: "k",
            value: 0.0,
            reason: "at least one Lanczos step is needed",
        }
        .into());
    }
    let apply_m = |x: ArrayView1<'_, f64>| match metric {
        Some(m) => m(x),
        None => x.to_owned(),
    };
    let mv = apply_m(v);
    let vnorm = v.dot(&mv).sqrt();
    if !(vnorm > 0.0 && vnorm.is_finite()) {
        return Err(pn_core::Error::InvalidParameter {
            name: "v",
            value: vnorm,
            reason: "the start vector must be nonzero",
        }
        .into());
    }
    let k = k.min(n);
    let mut q = Array2::<f64>::zeros((n, k));
    let mut mq = Array2::<f64>::zeros((n, k));
    q.column_mut(0).assign(&(&v / vnorm));
    mq.column_mut(0).assign(&(&mv / vnorm));
    let mut alpha = Vec::with_capacity(k);
    let mut beta: Vec<f64> = Vec::with_capacity(k);
    let mut invariant = false;
    let mut tnorm = 0.0f64;
    for j in 0..k {
        let mut w = op(q.column(j));
        let a_j = mq.column(j).dot(&w);
        alpha.push(a_j);
        tnorm = tnorm.max(a_j.abs());
        // Full reorthogonalisation (twice is enough).
        for _ in 0..2 {
            let qs = q.slice(s![.., ..=j]);
            let mqs = mq.slice(s![.., ..=j]);
            let c = mqs.t().dot(&w);
            w -= &qs.dot(&c);
        }
        if j + 1 == k {
            break;
        }
        let mw = apply_m(w.view());
        let b = w.dot(&mw).max(0.0).sqrt();
        tnorm = tnorm.max(b);
        if b.is_nan() || b <= 1e-12 * tnorm {
            invariant = true;
            break;
        }
        beta.push(b);
        q.column_mut(j + 1).assign(&(&w / b));
        mq.column_mut(j + 1).assign(&(&mw / b));
    }
    let m = alpha.len();
    check_finite("Lanczos coefficients", alpha.iter().chain(beta.iter()))?;
    Ok(Lanczos {
        q: q.slice_move(s![.., ..m]),
        alpha: Array1::from(alpha),
        beta: Array1::from(beta),
        start_norm: vnorm,
        invariant,
    })
}

//! Pivoted partial Cholesky factorisation and the low-rank-plus-diagonal preconditioner.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use pn_core::LinearOperator;
use pn_core::dense::Cholesky;
use pn_core::kernels::Kernel;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{Preconditioner, check_finite, square_dim};
use crate::error::Result;

/// The greedy pivoted partial Cholesky factorisation `K ≈ L Lᵀ` of a symmetric positive
/// semi-definite `K` (`L` is `n × k`): at each step the largest remaining diagonal entry of the
/// Schur complement `K − L Lᵀ` is the pivot, and one row of `K` is evaluated (Harbrecht, Peters
/// & Schneider, 2012; used as a GP preconditioner by Gardner et al., 2018). Cost `O(n k²)` plus
/// `k` kernel rows; `K` is never formed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PivotedCholesky {
    /// The factor `L` (`n × k`); `L[pivots[j], j]` is the `j`-th pivot's square root.
    pub l: Array2<f64>,
    /// Pivot order (the rows chosen, in order).
    pub pivots: Vec<usize>,
    /// `tr(K − L Lᵀ)`: the remaining error in trace norm.
    pub residual_trace: f64,
}

impl PivotedCholesky {
    /// Up to `rank` steps on the kernel matrix `K(X, X)` of the rows of `x`, evaluated row by
    /// row. Stops early when the remaining trace falls below `tol · tr K` (`tol = 0`: only
    /// exactly zero).
    ///
    /// Errors: invalid points (dimension, NaN/∞), negative or non-finite `tol`.
    pub fn from_kernel(
        kernel: &dyn Kernel,
        x: ArrayView2<'_, f64>,
        rank: usize,
        tol: f64,
    ) -> Result<Self> {
        let diag = kernel.diag(x)?;
        Self::run(diag, rank, tol, |i| {
            kernel
                .matrix_unchecked(x.slice(ndarray::s![i..=i, ..]), x)
                .row(0)
                .to_owned()
        })
    }

    /// The same factorisation of a symmetric operator, one column `K eᵢ` per step.
    ///
    /// Errors: non-square operator, negative or non-finite `tol`, NaN in its diagonal.
    pub fn from_operator<A: LinearOperator + ?Sized>(a: &A, rank: usize, tol: f64) -> Result<Self> {
        let n = square_dim("PivotedCholesky::from_operator", &a)?;
        let diag = a.diagonal();
        check_finite("diagonal", diag.iter())?;
        let mut e = Array1::zeros(n);
        Self::run(diag, rank, tol, |i| {
            e.fill(0.0);
            e[i] = 1.0;
            a.matvec(e.view())
        })
    }

    fn run(
        mut d: Array1<f64>,
        rank: usize,
        tol: f64,
        mut row: impl FnMut(usize) -> Array1<f64>,
    ) -> Result<Self> {
        pn_core::validate::non_negative("tol", tol)?;
        let n = d.len();
        let k = rank.min(n);
        let trace0: f64 = d.iter().map(|v| v.max(0.0)).sum();
        let mut l = Array2::<f64>::zeros((n, k));
        let mut pivots = Vec::with_capacity(k);
        let mut taken = vec![false; n];
        for m in 0..k {
            let (piv, &dmax) = d
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken[*i])
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("m < n leaves an untaken index");
            let remaining: f64 = d
                .iter()
                .zip(&taken)
                .filter(|(_, t)| !**t)
                .map(|(v, _)| v.max(0.0))
                .sum();
            if dmax <= 0.0 || remaining <= tol * trace0 {
                break;
            }
            let mut col = row(piv);
            check_finite("kernel row", col.iter())?;
            let lp = l.row(piv).slice(ndarray::s![..m]).to_owned();
            col -= &l.slice(ndarray::s![.., ..m]).dot(&lp);
            let s = dmax.sqrt();
            col /= s;
            for (i, t) in taken.iter().enumerate() {
                if *t {
                    col[i] = 0.0;
                }
            }
            col[piv] = s;
            d.zip_mut_with(&col, |di, c| *di -= c * c);
            d[piv] = 0.0;
            taken[piv] = true;
            l.column_mut(m).assign(&col);
            pivots.push(piv);
        }
        let r = pivots.len();
        let residual_trace = d
            .iter()
            .zip(&taken)
            .filter(|(_, t)| !**t)
            .map(|(v, _)| v.max(0.0))
            .sum();
        Ok(Self {
            l: l.slice_move(ndarray::s![.., ..r]),
            pivots,
            residual_trace,
        })
    }

    /// The rank actually reached.
    pub fn rank(&self) -> usize {
        self.pivots.len()
    }

    /// The preconditioner `P = L Lᵀ + σ² I` for `K + σ² I`.
    ///
    /// Errors: `σ² ≤ 0` or not finite.
    pub fn preconditioner(&self, sigma2: f64) -> Result<LowRankPlusDiagonal> {
        LowRankPlusDiagonal::new(self.l.clone(), sigma2)
    }
}

/// `P = L Lᵀ + σ² I` (`L` is `n × k`, `σ² > 0`), applied as `P⁻¹` by the Woodbury identity
/// `P⁻¹ = σ⁻² (I − L (σ² I + Lᵀ L)⁻¹ Lᵀ)` in `O(n k)` per vector after an `O(n k²)` setup,
/// with the exact `log det P = (n − k) log σ² + log det(σ² I + Lᵀ L)` (matrix determinant
/// lemma). It is itself a [`LinearOperator`] (products with `P`).
#[derive(Debug, Clone)]
pub struct LowRankPlusDiagonal {
    l: Array2<f64>,
    sigma2: f64,
    inner: Cholesky,
    logdet: f64,
}

impl LowRankPlusDiagonal {
    /// Builds `P = L Lᵀ + σ² I`. Errors on `σ² ≤ 0`, NaN/∞ in `L`.
    pub fn new(l: Array2<f64>, sigma2: f64) -> Result<Self> {
        pn_core::validate::positive("sigma2", sigma2)?;
        check_finite("L", l.iter())?;
        let (n, k) = l.dim();
        let mut c = l.t().dot(&l);
        c.diag_mut().mapv_inplace(|v| v + sigma2);
        let inner = pn_core::dense::cholesky(c.view())?;
        let logdet = (n as f64 - k as f64) * sigma2.ln() + inner.logdet();
        Ok(Self {
            l,
            sigma2,
            inner,
            logdet,
        })
    }

    /// `log det P`, exact.
    pub fn logdet(&self) -> f64 {
        self.logdet
    }

    /// The low-rank factor `L`.
    pub fn l(&self) -> ArrayView2<'_, f64> {
        self.l.view()
    }

    /// The diagonal shift `σ²`.
    pub fn sigma2(&self) -> f64 {
        self.sigma2
    }

    /// `m` draws from `N(0, P)` as the columns of an `n × m` matrix: `L ε₁ + σ ε₂`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, m: usize) -> Array2<f64> {
        let (n, k) = self.l.dim();
        let e1 = Array2::from_shape_fn((k, m), |_| StandardNormal.sample(rng));
        let e2: Array2<f64> = Array2::from_shape_fn((n, m), |_| StandardNormal.sample(rng));
        self.l.dot(&e1) + e2 * self.sigma2.sqrt()
    }
}

impl Preconditioner for LowRankPlusDiagonal {
    fn dim(&self) -> usize {
        self.l.nrows()
    }
    fn solve(&self, r: ArrayView1<'_, f64>) -> Array1<f64> {
        self.solve_mat(r.insert_axis(Axis(1))).remove_axis(Axis(1))
    }
    fn solve_mat(&self, r: ArrayView2<'_, f64>) -> Array2<f64> {
        let ltr = self.l.t().dot(&r);
        // The inner solve fails only on non-finite input: propagate NaN, which the solvers
        // report as an error.
        let c = self
            .inner
            .solve_mat(ltr.view())
            .unwrap_or_else(|_| Array2::from_elem(ltr.raw_dim(), f64::NAN));
        (&r - &self.l.dot(&c)) / self.sigma2
    }
}

impl LinearOperator for LowRankPlusDiagonal {
    fn shape(&self) -> (usize, usize) {
        let n = self.l.nrows();
        (n, n)
    }
    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.l.dot(&self.l.t().dot(&x)) + &x * self.sigma2
    }
    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.matvec(x)
    }
    fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        self.l.dot(&self.l.t().dot(&x)) + &x * self.sigma2
    }
    fn diagonal(&self) -> Array1<f64> {
        self.l.map_axis(Axis(1), |r| r.dot(&r)) + self.sigma2
    }
}

//! Covariance functions (kernels) `k(x, y)` on `ℝᵈ`, their matrices and their gradients.
//!
//! Points are the **rows** of an `ArrayView2<f64>`: `x` of shape `n × d` holds `n` points of
//! dimension `d`.
//!
//! | kernel | `k(x, y)` | log-parameters, in order |
//! |---|---|---|
//! | [`SquaredExponential`] | `σ² exp(−r²/2)` | `log ℓ…`, `log σ²` |
//! | [`Matern12`] | `σ² exp(−r)` | `log ℓ…`, `log σ²` |
//! | [`Matern32`] | `σ² (1 + √3 r) exp(−√3 r)` | `log ℓ…`, `log σ²` |
//! | [`Matern52`] | `σ² (1 + √5 r + 5r²/3) exp(−√5 r)` | `log ℓ…`, `log σ²` |
//! | [`RationalQuadratic`] | `σ² (1 + r²/(2α))^(−α)` | `log ℓ…`, `log α`, `log σ²` |
//! | [`Periodic`] | `σ² exp(−2 Σₖ sin²(π (xₖ − yₖ)/p) / ℓₖ²)` | `log ℓ…`, `log p`, `log σ²` |
//! | [`Linear`] | `σ² xᵀy + b` | `log σ²` (, `log b`) |
//! | [`Sum`], [`Product`] | `Σᵢ kᵢ`, `Πᵢ kᵢ` | the parts', concatenated |
//!
//! with the scaled distance `r² = Σₖ (xₖ − yₖ)² / ℓₖ²`. Stationary kernels are isotropic (`new`:
//! one lengthscale for every dimension, any input dimension accepted) or ARD (`ard`: one
//! lengthscale per dimension, which fixes the input dimension). `σ²` is the output scale, the
//! variance `k(x, x)` of a stationary kernel.
//!
//! Every kernel implements [`Kernel`]: checked evaluation ([`eval`](Kernel::eval)), cross
//! matrices assembled in parallel ([`matrix`](Kernel::matrix)), diagonals, and the matrix with
//! its derivatives with respect to the log-hyperparameters
//! ([`matrix_with_grad`](Kernel::matrix_with_grad)) for marginal-likelihood optimisation —
//! or, with [`matrix_with_grad_into`](Kernel::matrix_with_grad_into), into matrices kept
//! between evaluations. Sums and products assemble these row by row through their parts'
//! [`GradRows`], in place, evaluating only the lower triangle.
//! Kernels combine with `+` and `*` into [`Sum`] and [`Product`], which nest freely.
//! [`KernelMatrix`] is a kernel matrix as a matrix-free [`LinearOperator`](crate::LinearOperator).
//!
//! ```
//! use ndarray::array;
//! use pn_core::kernels::{Kernel, Linear, Matern32, Periodic, SquaredExponential};
//!
//! // A smooth trend, a decaying periodic component and a linear part.
//! let k = SquaredExponential::new(2.0, 1.0)?
//!     + Matern32::new(5.0, 0.5)? * Periodic::new(1.0, 0.7, 1.0)?
//!     + Linear::new(0.1)?;
//! assert_eq!(k.n_params(), 2 + (2 + 3) + 1);
//!
//! let x = array![[0.0], [0.5], [1.2]];
//! let kxx = k.matrix(x.view(), x.view())?;
//! assert!((kxx[[0, 1]] - k.eval(x.row(0), x.row(1))?).abs() < 1e-12);
//!
//! // ∂K/∂log θ for every hyperparameter θ, in the order of `param_names`.
//! let (_, grads) = k.matrix_with_grad(x.view())?;
//! assert_eq!(grads.len(), k.param_names().len());
//!
//! // Bad input is an error, not a panic.
//! assert!(k.matrix(x.view(), array![[0.0, 1.0]].view()).is_err());
//! # Ok::<(), pn_core::Error>(())
//! ```

use std::fmt::Debug;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::error::{Result, check};

mod combinators;
mod grad;
mod linear;
mod matrix;
mod periodic;
mod simd;
mod stationary;
mod util;

pub use combinators::{Product, Sum};
pub use grad::GradRows;
pub use linear::Linear;
pub use matrix::KernelMatrix;
pub use periodic::Periodic;
pub use stationary::{Matern12, Matern32, Matern52, RationalQuadratic, SquaredExponential};

use util::{check_points, check_vectors};

/// A covariance function `k: ℝᵈ × ℝᵈ → ℝ`: symmetric, `k(x, y) = k(y, x)`, and positive
/// semi-definite.
///
/// The trait is object safe; `Box<dyn Kernel>` is itself a kernel and is `Clone`.
///
/// **Using a kernel.** Call the checked methods — [`eval`](Self::eval), [`matrix`](Self::matrix),
/// [`diag`](Self::diag), [`matrix_with_grad`](Self::matrix_with_grad). They validate the inputs
/// (equal dimensions of `x` and `y`, a dimension the kernel accepts, finite entries) and return
/// an [`Error`](crate::Error) instead of panicking; empty inputs give empty outputs.
///
/// **Implementing a kernel.** Provide the hyperparameter methods, [`eval_unchecked`],
/// [`matrix_with_grad_unchecked`] and [`box_clone`](Self::box_clone); override
/// [`matrix_unchecked`] and [`diag_unchecked`] where a faster form exists. The `*_unchecked`
/// methods may assume validated input; the checked methods have the right defaults and are not
/// meant to be overridden.
///
/// [`eval_unchecked`]: Self::eval_unchecked
/// [`matrix_unchecked`]: Self::matrix_unchecked
/// [`diag_unchecked`]: Self::diag_unchecked
/// [`matrix_with_grad_unchecked`]: Self::matrix_with_grad_unchecked
pub trait Kernel: Send + Sync + Debug {
    /// The input dimension the kernel requires (`Some(d)` for ARD lengthscales), or `None` if it
    /// accepts any.
    fn input_dim(&self) -> Option<usize>;

    /// `Ok` if inputs of dimension `d` are accepted, else [`Error::ShapeMismatch`]. The default
    /// compares with [`input_dim`](Self::input_dim); sums and products ask every part.
    ///
    /// [`Error::ShapeMismatch`]: crate::Error::ShapeMismatch
    fn check_input_dim(&self, d: usize) -> Result<()> {
        match self.input_dim() {
            Some(expected) => check::shape("Kernel input dimension", &[expected], &[d]),
            None => Ok(()),
        }
    }

    /// The number of hyperparameters.
    fn n_params(&self) -> usize;

    /// All hyperparameters in log space, in the documented order of the kernel (for the stationary
    /// kernels: log lengthscales, any shape parameter, log output scale).
    fn log_params(&self) -> Array1<f64>;

    /// Sets the hyperparameters from their logarithms, in the order of
    /// [`log_params`](Self::log_params). Nothing changes on error.
    ///
    /// Errors: [`Error::ShapeMismatch`] for a vector of the wrong length, [`Error::NonFinite`]
    /// for NaN or ±∞, [`Error::InvalidParameter`] for a value whose exponential overflows or
    /// underflows to 0.
    ///
    /// [`Error::ShapeMismatch`]: crate::Error::ShapeMismatch
    /// [`Error::NonFinite`]: crate::Error::NonFinite
    /// [`Error::InvalidParameter`]: crate::Error::InvalidParameter
    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()>;

    /// A name for each hyperparameter, in the order of [`log_params`](Self::log_params), e.g.
    /// `"lengthscale"`, `"lengthscale[1]"`, `"outputscale"`, `"0.period"` (inside a sum or
    /// product, prefixed by the part's index).
    fn param_names(&self) -> Vec<String>;

    /// `k(x, y)` for two points.
    ///
    /// Errors: [`Error::ShapeMismatch`] if the lengths differ or the kernel does not accept
    /// them, [`Error::NonFinite`] for NaN or ±∞.
    ///
    /// [`Error::ShapeMismatch`]: crate::Error::ShapeMismatch
    /// [`Error::NonFinite`]: crate::Error::NonFinite
    fn eval(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> Result<f64> {
        check_vectors(self, &x, &y)?;
        Ok(self.eval_unchecked(x, y))
    }

    /// The cross matrix `Kᵢⱼ = k(xᵢ, yⱼ)` (`n × m`) of the rows of `x` (`n × d`) and `y`
    /// (`m × d`), assembled in parallel.
    ///
    /// Errors: [`Error::ShapeMismatch`] if `x` and `y` have different numbers of columns or the
    /// kernel does not accept that dimension, [`Error::NonFinite`] for NaN or ±∞.
    ///
    /// [`Error::ShapeMismatch`]: crate::Error::ShapeMismatch
    /// [`Error::NonFinite`]: crate::Error::NonFinite
    fn matrix(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_points(self, "Kernel::matrix", &x, Some(&y))?;
        Ok(self.matrix_unchecked(x, y))
    }

    /// The diagonal `k(xᵢ, xᵢ)` of `K(X, X)`, without forming the matrix.
    ///
    /// Errors as for [`matrix`](Self::matrix).
    fn diag(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        check_points(self, "Kernel::diag", &x, None)?;
        Ok(self.diag_unchecked(x))
    }

    /// `K = K(X, X)` and its derivatives `∂K/∂(log θₚ)`, one matrix per hyperparameter in the
    /// order of [`log_params`](Self::log_params), in closed form.
    ///
    /// Errors as for [`matrix`](Self::matrix).
    fn matrix_with_grad(&self, x: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Vec<Array2<f64>>)> {
        check_points(self, "Kernel::matrix_with_grad", &x, None)?;
        Ok(self.matrix_with_grad_unchecked(x))
    }

    /// [`matrix_with_grad`](Self::matrix_with_grad) into caller-provided matrices: `K` into
    /// `k` (`n × n`) and `∂K/∂(log θₚ)` into `grads[p]` (`n × n` each, one per hyperparameter),
    /// all overwritten.
    ///
    /// An optimiser of the marginal likelihood that keeps these matrices between evaluations
    /// saves allocating and first touching `(1 + p) n²` doubles per evaluation — at `n` in the
    /// hundreds that costs as much as computing them.
    ///
    /// Errors as for [`matrix`](Self::matrix), and [`Error::ShapeMismatch`] if `k` or a matrix
    /// of `grads` is not `n × n` or `grads.len()` differs from [`n_params`](Self::n_params).
    ///
    /// [`Error::ShapeMismatch`]: crate::Error::ShapeMismatch
    fn matrix_with_grad_into(
        &self,
        x: ArrayView2<'_, f64>,
        k: &mut Array2<f64>,
        grads: &mut [Array2<f64>],
    ) -> Result<()> {
        check_points(self, "Kernel::matrix_with_grad_into", &x, None)?;
        let n = x.nrows();
        let op = "Kernel::matrix_with_grad_into";
        check::shape(op, &[self.n_params()], &[grads.len()])?;
        check::shape(op, &[n, n], k.shape())?;
        for g in grads.iter() {
            check::shape(op, &[n, n], g.shape())?;
        }
        grad::assemble_into(&*self.grad_rows(x), n, k, grads);
        Ok(())
    }

    /// A boxed copy of the kernel (what makes `Box<dyn Kernel>` `Clone`).
    fn box_clone(&self) -> Box<dyn Kernel>;

    /// `k(x, y)` for inputs already validated (equal, accepted lengths; finite).
    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64;

    /// [`matrix`](Self::matrix) for inputs already validated. The default evaluates
    /// [`eval_unchecked`](Self::eval_unchecked) entry by entry, in parallel over rows.
    fn matrix_unchecked(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        let m = y.nrows();
        util::par_fill(x.nrows(), m, |i0, block| {
            for (r, row) in block.chunks_exact_mut(m).enumerate() {
                let xi = x.row(i0 + r);
                for (o, yj) in row.iter_mut().zip(y.rows()) {
                    *o = self.eval_unchecked(xi, yj);
                }
            }
        })
    }

    /// [`diag`](Self::diag) for inputs already validated. The default evaluates
    /// [`eval_unchecked`](Self::eval_unchecked) at each `(xᵢ, xᵢ)`.
    fn diag_unchecked(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        x.rows()
            .into_iter()
            .map(|r| self.eval_unchecked(r, r))
            .collect()
    }

    /// [`matrix_with_grad`](Self::matrix_with_grad) for inputs already validated.
    fn matrix_with_grad_unchecked(&self, x: ArrayView2<'_, f64>)
    -> (Array2<f64>, Vec<Array2<f64>>);

    /// The row-by-row evaluator of `K(X, X)` and `∂K/∂log θₚ` for validated points `x`: what a
    /// [`Sum`] or [`Product`] asks of its parts, so that a nested kernel fills its output rows
    /// in place, without a temporary matrix per part.
    ///
    /// The default computes [`matrix_with_grad_unchecked`](Self::matrix_with_grad_unchecked)
    /// once and copies rows out of it; the kernels of this module prepare their inputs (scaled
    /// points, sines and cosines) and evaluate each row directly.
    fn grad_rows<'a>(&'a self, x: ArrayView2<'a, f64>) -> Box<dyn GradRows + 'a> {
        Box::new(grad::Precomputed::new(self.matrix_with_grad_unchecked(x)))
    }
}

impl Clone for Box<dyn Kernel> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// A boxed kernel is a kernel: every method forwards to the boxed one.
impl Kernel for Box<dyn Kernel> {
    fn input_dim(&self) -> Option<usize> {
        (**self).input_dim()
    }
    fn check_input_dim(&self, d: usize) -> Result<()> {
        (**self).check_input_dim(d)
    }
    fn n_params(&self) -> usize {
        (**self).n_params()
    }
    fn log_params(&self) -> Array1<f64> {
        (**self).log_params()
    }
    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
        (**self).set_log_params(p)
    }
    fn param_names(&self) -> Vec<String> {
        (**self).param_names()
    }
    fn eval(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> Result<f64> {
        (**self).eval(x, y)
    }
    fn matrix(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        (**self).matrix(x, y)
    }
    fn diag(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        (**self).diag(x)
    }
    fn matrix_with_grad(&self, x: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Vec<Array2<f64>>)> {
        (**self).matrix_with_grad(x)
    }
    fn matrix_with_grad_into(
        &self,
        x: ArrayView2<'_, f64>,
        k: &mut Array2<f64>,
        grads: &mut [Array2<f64>],
    ) -> Result<()> {
        (**self).matrix_with_grad_into(x, k, grads)
    }
    fn box_clone(&self) -> Box<dyn Kernel> {
        (**self).box_clone()
    }
    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        (**self).eval_unchecked(x, y)
    }
    fn matrix_unchecked(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        (**self).matrix_unchecked(x, y)
    }
    fn diag_unchecked(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        (**self).diag_unchecked(x)
    }
    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        (**self).matrix_with_grad_unchecked(x)
    }
    fn grad_rows<'a>(&'a self, x: ArrayView2<'a, f64>) -> Box<dyn GradRows + 'a> {
        (**self).grad_rows(x)
    }
}

//! Matrix-free linear operators.
//!
//! [`LinearOperator`] is the small core trait: an operator knows its shape and how to multiply.
//! Everything else (checked application, solves through structure) sits on top of it in
//! [`LinearOperatorExt`], which every operator gets for free.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Result, check};

/// A linear map `A: ℝⁿ → ℝᵐ` known through its action on vectors.
///
/// Implementations may assume that the vectors they receive have the right length; users call
/// the checked methods of [`LinearOperatorExt`] (`apply`, `apply_transpose`, `apply_mat`), which
/// validate shapes and finiteness first and return an [`Error`](crate::Error) otherwise.
pub trait LinearOperator: Send + Sync {
    /// `(m, n)`: the number of rows and columns.
    fn shape(&self) -> (usize, usize);

    /// `A x` for `x` of length `n` (unchecked: see the trait docs).
    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64>;

    /// `Aᵀ x` for `x` of length `m` (unchecked: see the trait docs).
    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64>;

    /// `A X` for `X` with `n` rows (unchecked). The default applies [`matvec`](Self::matvec)
    /// column by column; structured operators override it.
    fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let (m, _) = self.shape();
        let mut out = Array2::zeros((m, x.ncols()));
        for (j, col) in x.axis_iter(Axis(1)).enumerate() {
            out.column_mut(j).assign(&self.matvec(col));
        }
        out
    }

    /// The main diagonal `(A₀₀, A₁₁, …)`, of length `min(m, n)`.
    ///
    /// The default probes with unit vectors (`min(m, n)` products); structured operators
    /// override it with their closed form.
    fn diagonal(&self) -> Array1<f64> {
        let (m, n) = self.shape();
        let k = m.min(n);
        let mut e = Array1::zeros(n);
        Array1::from_shape_fn(k, |i| {
            e[i] = 1.0;
            let v = self.matvec(e.view())[i];
            e[i] = 0.0;
            v
        })
    }

    /// The operator as a dense `m × n` matrix.
    fn to_dense(&self) -> Array2<f64> {
        let (_, n) = self.shape();
        self.matmat(Array2::eye(n).view())
    }
}

/// Checked application of any [`LinearOperator`].
pub trait LinearOperatorExt: LinearOperator {
    /// `A x`, after checking that `x` has `n` finite entries.
    fn apply(&self, x: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        check::shape("LinearOperator::apply", &[self.shape().1], &[x.len()])?;
        check::finite("x", &x)?;
        Ok(self.matvec(x))
    }

    /// `Aᵀ x`, after checking that `x` has `m` finite entries.
    fn apply_transpose(&self, x: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        check::shape(
            "LinearOperator::apply_transpose",
            &[self.shape().0],
            &[x.len()],
        )?;
        check::finite("x", &x)?;
        Ok(self.rmatvec(x))
    }

    /// `A X`, after checking that `X` has `n` rows of finite entries.
    fn apply_mat(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check::shape("LinearOperator::apply_mat", &[self.shape().1], &[x.nrows()])?;
        check::finite("X", &x)?;
        Ok(self.matmat(x))
    }

    /// Whether the operator is square.
    fn is_square(&self) -> bool {
        let (m, n) = self.shape();
        m == n
    }
}

impl<T: LinearOperator + ?Sized> LinearOperatorExt for T {}

/// References and boxes of operators are operators.
macro_rules! forward_operator {
    ($($ty:ty),*) => {$(
        impl<T: LinearOperator + ?Sized> LinearOperator for $ty {
            fn shape(&self) -> (usize, usize) {
                (**self).shape()
            }
            fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
                (**self).matvec(x)
            }
            fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
                (**self).rmatvec(x)
            }
            fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
                (**self).matmat(x)
            }
            fn diagonal(&self) -> Array1<f64> {
                (**self).diagonal()
            }
            fn to_dense(&self) -> Array2<f64> {
                (**self).to_dense()
            }
        }
    )*};
}

forward_operator!(&T, Box<T>);

/// A dense matrix is the simplest operator. Products go through [`crate::dense::matmul`].
impl LinearOperator for Array2<f64> {
    fn shape(&self) -> (usize, usize) {
        self.dim()
    }
    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.dot(&x)
    }
    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.t().dot(&x)
    }
    fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        crate::dense::mm(self.view(), x)
    }
    fn diagonal(&self) -> Array1<f64> {
        self.diag().to_owned()
    }
    fn to_dense(&self) -> Array2<f64> {
        self.clone()
    }
}

impl LinearOperator for ArrayView2<'_, f64> {
    fn shape(&self) -> (usize, usize) {
        self.dim()
    }
    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.dot(&x)
    }
    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.t().dot(&x)
    }
    fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        crate::dense::mm(self.view(), x)
    }
    fn diagonal(&self) -> Array1<f64> {
        self.diag().to_owned()
    }
    fn to_dense(&self) -> Array2<f64> {
        self.to_owned()
    }
}

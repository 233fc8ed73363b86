//! Linear maps applied to beliefs: `x ↦ A x`.
//!
//! A [`LinearMap`] is the `A` in [`Gaussian::affine`](crate::Gaussian::affine) and the
//! observation matrix `H` in [`Gaussian::condition`](crate::Gaussian::condition). Keeping the
//! map's structure (selection, diagonal, Kronecker) is what lets a structured covariance stay
//! structured after the operation.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Error, Result, check};
use crate::operator::LinearOperator;

/// A structured linear map `ℝⁿ → ℝᵐ`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LinearMap {
    /// A dense `m × n` matrix.
    Dense(Array2<f64>),
    /// The identity on `ℝⁿ`.
    Identity(usize),
    /// `diag(d)`.
    Diagonal(Array1<f64>),
    /// Picks entries: `(A x)ᵢ = x[indices[i]]`, from `ℝⁿ` with `n` the second field.
    Selection(Vec<usize>, usize),
    /// `A ⊗ B` acting on row-major stacked vectors: `(A ⊗ B) vec(X) = vec(A X Bᵀ)`.
    Kronecker(Box<LinearMap>, Box<LinearMap>),
}

impl From<Array2<f64>> for LinearMap {
    fn from(a: Array2<f64>) -> Self {
        LinearMap::Dense(a)
    }
}

impl From<&Array2<f64>> for LinearMap {
    fn from(a: &Array2<f64>) -> Self {
        LinearMap::Dense(a.clone())
    }
}

impl From<ArrayView2<'_, f64>> for LinearMap {
    fn from(a: ArrayView2<'_, f64>) -> Self {
        LinearMap::Dense(a.to_owned())
    }
}

impl LinearMap {
    /// A dense map; errors on non-finite entries.
    pub fn dense(a: Array2<f64>) -> Result<Self> {
        check::finite("A", &a)?;
        Ok(LinearMap::Dense(a))
    }

    /// The identity on `ℝⁿ`.
    pub fn identity(n: usize) -> Self {
        LinearMap::Identity(n)
    }

    /// `diag(d)`; errors on non-finite entries.
    pub fn diagonal(d: Array1<f64>) -> Result<Self> {
        check::finite("d", &d)?;
        Ok(LinearMap::Diagonal(d))
    }

    /// The map picking `x[indices]` out of `x ∈ ℝⁿ`; errors on an index `≥ n`.
    pub fn selection(indices: Vec<usize>, n: usize) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::IndexOutOfBounds { index: bad, len: n });
        }
        Ok(LinearMap::Selection(indices, n))
    }

    /// `A ⊗ B`.
    pub fn kronecker(a: LinearMap, b: LinearMap) -> Self {
        LinearMap::Kronecker(Box::new(a), Box::new(b))
    }

    /// Checks every entry is finite and every index in range (maps built through `From`
    /// are validated here when they are used).
    pub fn validate(&self) -> Result<()> {
        match self {
            LinearMap::Dense(a) => check::finite("A", a),
            LinearMap::Diagonal(d) => check::finite("d", d),
            LinearMap::Identity(_) => Ok(()),
            LinearMap::Selection(idx, n) => match idx.iter().find(|&&i| i >= *n) {
                Some(&bad) => Err(Error::IndexOutOfBounds {
                    index: bad,
                    len: *n,
                }),
                None => Ok(()),
            },
            LinearMap::Kronecker(a, b) => {
                a.validate()?;
                b.validate()
            }
        }
    }

    /// `A X` for a matrix `X` with `n` rows (unchecked).
    pub(crate) fn left_mul(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        match self {
            LinearMap::Dense(a) => crate::dense::mm(a.view(), x),
            LinearMap::Identity(_) => x.to_owned(),
            LinearMap::Diagonal(d) => {
                let mut out = x.to_owned();
                for (mut row, &di) in out.axis_iter_mut(Axis(0)).zip(d) {
                    row *= di;
                }
                out
            }
            LinearMap::Selection(idx, _) => x.select(Axis(0), idx),
            LinearMap::Kronecker(..) => self.matmat(x),
        }
    }

    /// `X Aᵀ` for a matrix `X` with `n` columns (unchecked).
    pub(crate) fn right_mul_t(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        self.left_mul(x.t()).reversed_axes()
    }
}

fn kron_apply(
    a: &LinearMap,
    b: &LinearMap,
    x: ArrayView1<'_, f64>,
    transpose: bool,
) -> Array1<f64> {
    // (A ⊗ B) vec(X) = vec(A X Bᵀ) with X of shape (cols(A), cols(B)), row-major.
    let (ra, ca) = a.shape();
    let (rb, cb) = b.shape();
    let (ca_in, cb_in) = if transpose { (ra, rb) } else { (ca, cb) };
    let xm = x
        .to_shape((ca_in, cb_in))
        .expect("length checked by caller")
        .to_owned();
    let y = if transpose {
        // Aᵀ X B
        let ax = a.left_mul_t(xm.view());
        b.left_mul_t(ax.t()).reversed_axes()
    } else {
        let ax = a.left_mul(xm.view());
        b.right_mul_t(ax.view())
    };
    let n = y.len();
    y.as_standard_layout()
        .into_owned()
        .into_shape_with_order(n)
        .expect("contiguous")
}

impl LinearMap {
    /// `Aᵀ X` (unchecked).
    pub(crate) fn left_mul_t(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        match self {
            LinearMap::Dense(a) => crate::dense::mm(a.t(), x),
            LinearMap::Identity(_) | LinearMap::Diagonal(_) => self.left_mul(x),
            LinearMap::Selection(idx, n) => {
                let mut out = Array2::zeros((*n, x.ncols()));
                for (r, &i) in idx.iter().enumerate() {
                    let mut row = out.row_mut(i);
                    row += &x.row(r);
                }
                out
            }
            LinearMap::Kronecker(..) => {
                let (_, n) = self.shape();
                let mut out = Array2::zeros((n, x.ncols()));
                for (j, col) in x.axis_iter(Axis(1)).enumerate() {
                    out.column_mut(j).assign(&self.rmatvec(col));
                }
                out
            }
        }
    }
}

impl LinearOperator for LinearMap {
    fn shape(&self) -> (usize, usize) {
        match self {
            LinearMap::Dense(a) => a.dim(),
            LinearMap::Identity(n) => (*n, *n),
            LinearMap::Diagonal(d) => (d.len(), d.len()),
            LinearMap::Selection(idx, n) => (idx.len(), *n),
            LinearMap::Kronecker(a, b) => {
                let (ra, ca) = a.shape();
                let (rb, cb) = b.shape();
                (ra * rb, ca * cb)
            }
        }
    }

    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        match self {
            LinearMap::Kronecker(a, b) => kron_apply(a, b, x, false),
            _ => self.left_mul(x.insert_axis(Axis(1))).remove_axis(Axis(1)),
        }
    }

    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        match self {
            LinearMap::Kronecker(a, b) => kron_apply(a, b, x, true),
            _ => self.left_mul_t(x.insert_axis(Axis(1))).remove_axis(Axis(1)),
        }
    }

    fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        match self {
            LinearMap::Kronecker(..) => {
                let (m, _) = self.shape();
                let mut out = Array2::zeros((m, x.ncols()));
                for (j, col) in x.axis_iter(Axis(1)).enumerate() {
                    out.column_mut(j).assign(&self.matvec(col));
                }
                out
            }
            _ => self.left_mul(x),
        }
    }

    fn to_dense(&self) -> Array2<f64> {
        match self {
            LinearMap::Dense(a) => a.clone(),
            LinearMap::Kronecker(a, b) => kron_dense(&a.to_dense(), &b.to_dense()),
            _ => {
                let (_, n) = self.shape();
                self.left_mul(Array2::eye(n).view())
            }
        }
    }
}

/// The dense Kronecker product `A ⊗ B`.
pub(crate) fn kron_dense(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let (ra, ca) = a.dim();
    let (rb, cb) = b.dim();
    let mut out = Array2::zeros((ra * rb, ca * cb));
    for i in 0..ra {
        for j in 0..ca {
            let aij = a[[i, j]];
            out.slice_mut(ndarray::s![i * rb..(i + 1) * rb, j * cb..(j + 1) * cb])
                .assign(&(b * aij));
        }
    }
    out
}

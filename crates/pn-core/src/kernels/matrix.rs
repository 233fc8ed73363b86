//! Kernel matrices evaluated on the fly.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, s};

use super::Kernel;
use super::util::{check_points, par_fill, par_fill_rows};
use crate::error::{Result, check};
use crate::operator::LinearOperator;

/// Rows of a tile evaluated at once by the matrix-free products.
const TILE_ROWS: usize = 64;
/// Columns of a tile: a `64 × 1024` tile of `f64` is 512 KiB.
const TILE_COLS: usize = 1024;

/// The kernel matrix `K(X, Y) + σ² I`, `Kᵢⱼ = k(xᵢ, yⱼ)`, as a [`LinearOperator`] that never
/// stores it: products evaluate it tile by tile (in parallel over blocks of rows), so memory stays
/// `O((n + m) d)` plus one tile per thread.
///
/// The diagonal shift `σ² I` (default 0, set with [`with_noise`](Self::with_noise)) needs a square
/// matrix. Products with `Kᵀ` use the symmetry of kernels, `K(X, Y)ᵀ = K(Y, X)`.
///
/// ```
/// use ndarray::array;
/// use pn_core::LinearOperator;
/// use pn_core::kernels::{Kernel, KernelMatrix, Matern32};
///
/// let k = Matern32::new(0.5, 1.0)?;
/// let x = array![[0.0], [0.3], [1.0]];
/// let op = KernelMatrix::symmetric(&k, x.view())?.with_noise(0.1)?;
/// let v = array![1.0, -1.0, 2.0];
/// let mut dense = k.matrix(x.view(), x.view())?;
/// dense.diag_mut().mapv_inplace(|d| d + 0.1);
/// assert!((op.matvec(v.view()) - dense.dot(&v)).iter().all(|e| e.abs() < 1e-12));
/// # Ok::<(), pn_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KernelMatrix<'a> {
    kernel: &'a dyn Kernel,
    x: ArrayView2<'a, f64>,
    y: ArrayView2<'a, f64>,
    /// Whether `y` is `x` (built by [`KernelMatrix::symmetric`]).
    symmetric: bool,
    noise: f64,
}

impl<'a> KernelMatrix<'a> {
    /// The cross matrix `K(X, Y)` of the points in the rows of `x` (`n × d`) and `y` (`m × d`).
    ///
    /// Errors: [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) if `x` and `y` have different numbers of columns or the
    /// kernel does not accept that dimension, [`Error::NonFinite`](crate::Error::NonFinite) for NaN or ±∞ in the inputs.
    pub fn new(
        kernel: &'a dyn Kernel,
        x: ArrayView2<'a, f64>,
        y: ArrayView2<'a, f64>,
    ) -> Result<Self> {
        check_points(kernel, "KernelMatrix::new", &x, Some(&y))?;
        Ok(Self {
            kernel,
            x,
            y,
            symmetric: false,
            noise: 0.0,
        })
    }

    /// The symmetric matrix `K(X, X)` of the points in the rows of `x`.
    ///
    /// Errors: [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) if the kernel does not accept `x.ncols()` dimensions,
    /// [`Error::NonFinite`](crate::Error::NonFinite) for NaN or ±∞ in `x`.
    pub fn symmetric(kernel: &'a dyn Kernel, x: ArrayView2<'a, f64>) -> Result<Self> {
        check_points(kernel, "KernelMatrix::symmetric", &x, None)?;
        Ok(Self {
            kernel,
            x,
            y: x,
            symmetric: true,
            noise: 0.0,
        })
    }

    /// The same matrix plus `noise · I` (replacing any earlier shift).
    ///
    /// Errors: [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) if the matrix is not square, [`Error::InvalidParameter`](crate::Error::InvalidParameter)
    /// if `noise` is negative or not finite.
    pub fn with_noise(mut self, noise: f64) -> Result<Self> {
        let (n, m) = self.shape();
        check::shape("KernelMatrix::with_noise", &[n, n], &[n, m])?;
        crate::validate::non_negative("noise", noise)?;
        self.noise = noise;
        Ok(self)
    }

    /// The kernel.
    pub fn kernel(&self) -> &'a dyn Kernel {
        self.kernel
    }

    /// The diagonal shift `σ²` (0 unless set by [`with_noise`](Self::with_noise)).
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// The row points `X` (`n × d`).
    pub fn x(&self) -> ArrayView2<'a, f64> {
        self.x
    }

    /// The column points `Y` (`m × d`).
    pub fn y(&self) -> ArrayView2<'a, f64> {
        self.y
    }

    /// `K(A, B) V` for `V` with `|B|` rows, tile by tile.
    fn product(
        &self,
        a: ArrayView2<'_, f64>,
        b: ArrayView2<'_, f64>,
        v: ArrayView2<'_, f64>,
    ) -> Array2<f64> {
        let (n, m, p) = (a.nrows(), b.nrows(), v.ncols());
        if n == 0 || m == 0 || p == 0 {
            return Array2::zeros((n, p));
        }
        par_fill_rows(n, p, TILE_ROWS, |i0, block| {
            let rows = block.len() / p;
            let mut block =
                ArrayViewMut2::from_shape((rows, p), block).expect("a block holds whole rows");
            let xs = a.slice(s![i0..i0 + rows, ..]);
            for j0 in (0..m).step_by(TILE_COLS) {
                let j1 = (j0 + TILE_COLS).min(m);
                let tile = self.kernel.matrix_unchecked(xs, b.slice(s![j0..j1, ..]));
                block += &tile.dot(&v.slice(s![j0..j1, ..]));
            }
        })
    }

    /// Adds `noise · x` to `out` (both of length `n`).
    fn add_noise(&self, out: &mut Array2<f64>, x: ArrayView2<'_, f64>) {
        if self.noise != 0.0 {
            out.scaled_add(self.noise, &x);
        }
    }

    fn column(v: ArrayView1<'_, f64>) -> ArrayView2<'_, f64> {
        v.insert_axis(Axis(1))
    }
}

impl LinearOperator for KernelMatrix<'_> {
    fn shape(&self) -> (usize, usize) {
        (self.x.nrows(), self.y.nrows())
    }

    fn matvec(&self, v: ArrayView1<'_, f64>) -> Array1<f64> {
        self.matmat(Self::column(v)).remove_axis(Axis(1))
    }

    fn rmatvec(&self, v: ArrayView1<'_, f64>) -> Array1<f64> {
        let vc = Self::column(v);
        let mut out = self.product(self.y, self.x, vc);
        self.add_noise(&mut out, vc);
        out.remove_axis(Axis(1))
    }

    fn matmat(&self, v: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut out = self.product(self.x, self.y, v);
        self.add_noise(&mut out, v);
        out
    }

    fn diagonal(&self) -> Array1<f64> {
        let k = self.x.nrows().min(self.y.nrows());
        let mut d = if self.symmetric {
            self.kernel.diag_unchecked(self.x)
        } else {
            let (x, y, kernel) = (self.x, self.y, self.kernel);
            let pairs = par_fill(k, 1, |i0, block| {
                for (r, o) in block.iter_mut().enumerate() {
                    *o = kernel.eval_unchecked(x.row(i0 + r), y.row(i0 + r));
                }
            });
            pairs.remove_axis(Axis(1))
        };
        d += self.noise;
        d
    }

    fn to_dense(&self) -> Array2<f64> {
        let mut k = self.kernel.matrix_unchecked(self.x, self.y);
        if self.noise != 0.0 {
            k.diag_mut().mapv_inplace(|v| v + self.noise);
        }
        k
    }
}

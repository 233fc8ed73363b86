//! Symmetric Toeplitz matrices with FFT products, and GP regression on regular 1-D grids.

use std::fmt;
use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use pn_core::LinearOperator;
use pn_core::kernels::Kernel;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::error::Result;
use crate::iterative::{CgInfo, CgParams, Control, cg, cg_batch, check_finite};

/// A symmetric Toeplitz matrix `Tᵢⱼ = c_{|i−j|}` plus `σ² I`, stored by its first column.
/// Products cost `O(n log n)`: `T` is embedded in a circulant matrix of order `m ≥ 2n − 1` with
/// first column `(c₀, …, c_{n−1}, 0, …, 0, c_{n−1}, …, c₁)`, which the FFT diagonalises; `m` is
/// the smallest 5-smooth number (`2ᵃ3ᵇ5ᶜ`) at least `2n`, so the FFTs never fall back to the slow
/// algorithms for large prime factors (`2n = 63 246 = 2·3·83·127` made CG 10× slower per
/// product than at `n = 10⁴`).
#[derive(Clone)]
pub struct Toeplitz {
    col: Array1<f64>,
    noise: f64,
    spectrum: Arc<Vec<Complex<f64>>>,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
}

impl fmt::Debug for Toeplitz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toeplitz")
            .field("n", &self.col.len())
            .field("first_column", &self.col)
            .field("noise", &self.noise)
            .finish()
    }
}

impl Toeplitz {
    /// From the first column `c` (length `n ≥ 1`) and a diagonal shift `σ² ≥ 0`.
    ///
    /// Errors: empty or non-finite `c`, negative or non-finite noise.
    pub fn new(first_column: Array1<f64>, noise: f64) -> Result<Self> {
        pn_core::validate::non_negative("noise", noise)?;
        if first_column.is_empty() {
            return Err(pn_core::Error::Empty {
                what: "first_column",
            }
            .into());
        }
        check_finite("first_column", first_column.iter())?;
        let n = first_column.len();
        let m = smooth_size(2 * n);
        let mut planner = FftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(m);
        let inverse = planner.plan_fft_inverse(m);
        let mut buf = vec![Complex::new(0.0, 0.0); m];
        for i in 0..n {
            buf[i].re = first_column[i];
        }
        for i in 1..n {
            buf[m - i].re = first_column[i];
        }
        forward.process(&mut buf);
        Ok(Self {
            col: first_column,
            noise,
            spectrum: Arc::new(buf),
            forward,
            inverse,
        })
    }

    /// `K + σ² I` for a stationary `kernel` on the regular grid `x` (`xᵢ = x₀ + i h`, checked
    /// to a relative tolerance of `1e-9` of the range).
    ///
    /// Errors: fewer than one point, NaN/∞, an irregular grid, a kernel that rejects 1-D inputs,
    /// a kernel that is visibly not stationary on the grid ([`pn_core::Error::Unsupported`]).
    pub fn from_kernel(kernel: &dyn Kernel, x: ArrayView1<'_, f64>, noise: f64) -> Result<Self> {
        check_regular(x)?;
        let pts = x.insert_axis(Axis(1));
        let first = kernel
            .matrix(pts.slice(ndarray::s![0..1, ..]), pts)?
            .row(0)
            .to_owned();
        let n = x.len();
        if n >= 3 {
            // Stationarity spot check: the second row must be the first, shifted.
            let second = kernel
                .matrix(pts.slice(ndarray::s![1..2, ..]), pts)?
                .row(0)
                .to_owned();
            for j in 1..n {
                let a = second[j];
                let b = first[j - 1];
                if (a - b).abs() > 1e-10 * (a.abs() + b.abs() + first[0].abs()) {
                    return Err(pn_core::Error::Unsupported {
                        what: "Toeplitz structure needs a stationary kernel",
                    }
                    .into());
                }
            }
        }
        Self::new(first, noise)
    }

    /// The first column `c` (without the noise).
    pub fn first_column(&self) -> ArrayView1<'_, f64> {
        self.col.view()
    }

    /// The diagonal shift `σ²`.
    pub fn noise(&self) -> f64 {
        self.noise
    }
}

/// The smallest `2ᵃ3ᵇ5ᶜ ≥ n`.
fn smooth_size(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5] {
            while r.is_multiple_of(p) {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

fn check_regular(x: ArrayView1<'_, f64>) -> Result<()> {
    if x.is_empty() {
        return Err(pn_core::Error::Empty { what: "x" }.into());
    }
    check_finite("x", x.iter())?;
    let n = x.len();
    if n < 3 {
        return Ok(());
    }
    let h = (x[n - 1] - x[0]) / (n - 1) as f64;
    let range = (x[n - 1] - x[0]).abs();
    for (i, &xi) in x.iter().enumerate() {
        let dev = xi - (x[0] + i as f64 * h);
        if dev.abs() > 1e-9 * range || h == 0.0 {
            return Err(pn_core::Error::InvalidParameter {
                name: "x",
                value: xi,
                reason: "Toeplitz structure needs a regular grid x_i = x_0 + i h with h != 0",
            }
            .into());
        }
    }
    Ok(())
}

impl LinearOperator for Toeplitz {
    fn shape(&self) -> (usize, usize) {
        (self.col.len(), self.col.len())
    }
    fn matvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        let n = self.col.len();
        let m = self.spectrum.len();
        let mut buf = vec![Complex::new(0.0, 0.0); m];
        for (b, &v) in buf.iter_mut().zip(x.iter()) {
            b.re = v;
        }
        self.forward.process(&mut buf);
        for (b, s) in buf.iter_mut().zip(self.spectrum.iter()) {
            *b *= s;
        }
        self.inverse.process(&mut buf);
        let scale = 1.0 / m as f64;
        Array1::from_shape_fn(n, |i| buf[i].re * scale + self.noise * x[i])
    }
    fn rmatvec(&self, x: ArrayView1<'_, f64>) -> Array1<f64> {
        self.matvec(x)
    }
    fn diagonal(&self) -> Array1<f64> {
        Array1::from_elem(self.col.len(), self.col[0] + self.noise)
    }
    fn to_dense(&self) -> Array2<f64> {
        let n = self.col.len();
        Array2::from_shape_fn((n, n), |(i, j)| {
            self.col[i.abs_diff(j)] + if i == j { self.noise } else { 0.0 }
        })
    }
}

/// GP regression with a stationary kernel on a regular 1-D grid: `(K + σ² I)⁻¹ y` by CG with
/// `O(n log n)` Toeplitz products (memory `O(n)`).
#[derive(Debug, Clone)]
pub struct ToeplitzGp<'a> {
    kernel: &'a dyn Kernel,
    x: Array1<f64>,
    op: Toeplitz,
}

impl<'a> ToeplitzGp<'a> {
    /// Errors: those of [`Toeplitz::from_kernel`].
    pub fn new(kernel: &'a dyn Kernel, x: ArrayView1<'_, f64>, noise: f64) -> Result<Self> {
        let op = Toeplitz::from_kernel(kernel, x, noise)?;
        Ok(Self {
            kernel,
            x: x.to_owned(),
            op,
        })
    }

    /// The operator `K + σ² I`.
    pub fn operator(&self) -> &Toeplitz {
        &self.op
    }

    /// Solves for `α = (K + σ² I)⁻¹ y` by CG (see [`CgParams`] for the stopping rule).
    ///
    /// Errors: wrong length or NaN/∞ in `y`, and those of [`cg`].
    pub fn fit(&self, y: ArrayView1<'_, f64>, params: &CgParams) -> Result<ToeplitzPosterior<'_>> {
        let sol = cg(&self.op, y, None, None, params, |_| Control::Continue)?;
        Ok(ToeplitzPosterior {
            gp: self,
            alpha: sol.x,
            info: sol.info,
            params: params.clone(),
        })
    }
}

/// The posterior of a [`ToeplitzGp`].
#[derive(Debug, Clone)]
pub struct ToeplitzPosterior<'a> {
    gp: &'a ToeplitzGp<'a>,
    alpha: Array1<f64>,
    info: CgInfo,
    params: CgParams,
}

impl ToeplitzPosterior<'_> {
    /// `α = (K + σ² I)⁻¹ y`.
    pub fn alpha(&self) -> ArrayView1<'_, f64> {
        self.alpha.view()
    }

    /// What CG did.
    pub fn info(&self) -> &CgInfo {
        &self.info
    }

    /// Posterior mean of the latent `f` at the points `xs` (anywhere).
    pub fn predict_mean(&self, xs: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        let ksx = self.cross(xs)?;
        Ok(ksx.dot(&self.alpha))
    }

    /// Posterior mean and variance at `xs`; the variance needs one CG solve per point (run
    /// as a block).
    pub fn predict(&self, xs: ArrayView1<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        let ksx = self.cross(xs)?;
        let mean = ksx.dot(&self.alpha);
        let (w, _) = cg_batch(&self.gp.op, ksx.t(), None, &self.params)?;
        let red = (&ksx * &w.t()).sum_axis(Axis(1));
        let kss = self.gp.kernel.diag(xs.insert_axis(Axis(1)))?;
        Ok((mean, (kss - red).mapv(|v| v.max(0.0))))
    }

    fn cross(&self, xs: ArrayView1<'_, f64>) -> Result<Array2<f64>> {
        check_finite("xs", xs.iter())?;
        let a: ArrayView2<'_, f64> = xs.insert_axis(Axis(1));
        Ok(self
            .gp
            .kernel
            .matrix(a, self.gp.x.view().insert_axis(Axis(1)))?)
    }
}

//! The linear (dot-product) kernel.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::simd::{self, GradRowFill, RowFill};
use super::util::{self, exp_params};
use super::{GradRows, Kernel};
use crate::error::{Result, check};

/// Linear kernel `k(x, y) = σ² xᵀy + b`, with variance `σ² > 0` and an optional bias `b > 0`.
///
/// A GP with this kernel is Bayesian linear regression `f(x) = wᵀx + c` with
/// `w ~ N(0, σ² I)` and `c ~ N(0, b)`. Without a bias the kernel has one log-parameter,
/// `log σ²`; with one it has two, `log σ²` then `log b`. It accepts inputs of any dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    variance: f64,
    bias: Option<f64>,
}

impl Linear {
    /// `k(x, y) = variance · xᵀy` (no bias).
    ///
    /// `variance` must be finite and > 0, else [`Error::InvalidParameter`](crate::Error).
    pub fn new(variance: f64) -> Result<Self> {
        check::positive("variance", variance)?;
        Ok(Self {
            variance,
            bias: None,
        })
    }

    /// `k(x, y) = variance · xᵀy + bias`.
    ///
    /// Both must be finite and > 0, else [`Error::InvalidParameter`](crate::Error).
    pub fn with_bias(variance: f64, bias: f64) -> Result<Self> {
        check::positive("variance", variance)?;
        check::positive("bias", bias)?;
        Ok(Self {
            variance,
            bias: Some(bias),
        })
    }

    /// The variance `σ²` of the weights.
    pub fn variance(&self) -> f64 {
        self.variance
    }

    /// The bias `b`, if the kernel has one.
    pub fn bias(&self) -> Option<f64> {
        self.bias
    }
}

/// One row of a linear kernel matrix: `σ² xᵢᵀyⱼ + b`, with the products summed in the same order
/// for `(i, j)` and `(j, i)` so that `K(X, X)` is exactly symmetric.
struct LinearRows {
    /// Row points, `n × d` row-major.
    xs: Vec<f64>,
    /// Column points, transposed: `d × m` row-major.
    yt: Vec<f64>,
    d: usize,
    variance: f64,
    bias: f64,
}

impl RowFill for LinearRows {
    #[inline(always)]
    fn row<const FMA: bool>(&self, i: usize, out: &mut [f64]) {
        let (d, m) = (self.d, out.len());
        out.fill(0.0);
        for k in 0..d {
            let a = self.xs[i * d + k];
            for (o, &v) in out.iter_mut().zip(&self.yt[k * m..(k + 1) * m]) {
                *o = simd::madd::<FMA>(a, v, *o);
            }
        }
        for o in out.iter_mut() {
            *o = simd::madd::<FMA>(self.variance, *o, self.bias);
        }
    }
}

/// Rows of a linear kernel matrix and of its gradients (see [`GradRows`]).
struct LinearGrad {
    /// Points, `n × d` row-major, and transposed, `d × n` row-major.
    xs: Vec<f64>,
    xt: Vec<f64>,
    n: usize,
    d: usize,
    variance: f64,
    bias: Option<f64>,
}

impl GradRows for LinearGrad {
    fn n_params(&self) -> usize {
        1 + usize::from(self.bias.is_some())
    }

    fn fill_row(&self, i: usize, k: &mut [f64], grads: &mut [&mut [f64]], scratch: &mut [f64]) {
        simd::grad_row(self, i, k, grads, scratch);
    }
}

impl GradRowFill for LinearGrad {
    #[inline(always)]
    fn grad_row<const FMA: bool>(
        &self,
        i: usize,
        krow: &mut [f64],
        gb: &mut [&mut [f64]],
        _scratch: &mut [f64],
    ) {
        let (n, d, m) = (self.n, self.d, krow.len());
        // ∂K/∂log σ² = σ² xᵢᵀxⱼ, ∂K/∂log b = b, K = σ² xᵢᵀxⱼ + b.
        let g = &mut gb[0][..m];
        g.fill(0.0);
        for k in 0..d {
            let a = self.xs[i * d + k];
            for (o, &v) in g.iter_mut().zip(&self.xt[k * n..k * n + m]) {
                *o = simd::madd::<FMA>(a, v, *o);
            }
        }
        for o in g.iter_mut() {
            *o *= self.variance;
        }
        krow.copy_from_slice(g);
        if let Some(b) = self.bias {
            for o in krow.iter_mut() {
                *o += b;
            }
            gb[1][..m].fill(b);
        }
    }
}

impl Kernel for Linear {
    fn input_dim(&self) -> Option<usize> {
        None
    }

    fn n_params(&self) -> usize {
        1 + usize::from(self.bias.is_some())
    }

    fn log_params(&self) -> Array1<f64> {
        let mut p = vec![self.variance.ln()];
        p.extend(self.bias.map(f64::ln));
        Array1::from(p)
    }

    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
        let v = exp_params(&p, self.n_params())?;
        self.variance = v[0];
        if let Some(b) = &mut self.bias {
            *b = v[1];
        }
        Ok(())
    }

    fn param_names(&self) -> Vec<String> {
        let mut names = vec!["variance".to_string()];
        if self.bias.is_some() {
            names.push("bias".to_string());
        }
        names
    }

    fn box_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }

    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        self.variance * x.dot(&y) + self.bias.unwrap_or(0.0)
    }

    fn matrix_unchecked(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        let d = x.ncols();
        let ones = vec![1.0; d];
        let rows = LinearRows {
            xs: util::scaled_rows(&x, &ones),
            yt: util::scaled_cols(&y, &ones),
            d,
            variance: self.variance,
            bias: self.bias.unwrap_or(0.0),
        };
        simd::assemble(x.nrows(), y.nrows(), &rows)
    }

    fn diag_unchecked(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        let b = self.bias.unwrap_or(0.0);
        x.rows()
            .into_iter()
            .map(|r| self.variance * r.dot(&r) + b)
            .collect()
    }

    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        super::grad::matrix_with_grad(self, x)
    }

    fn grad_rows<'a>(&'a self, x: ArrayView2<'a, f64>) -> Box<dyn GradRows + 'a> {
        let ones = vec![1.0; x.ncols()];
        Box::new(LinearGrad {
            xs: util::scaled_rows(&x, &ones),
            xt: util::scaled_cols(&x, &ones),
            n: x.nrows(),
            d: x.ncols(),
            variance: self.variance,
            bias: self.bias,
        })
    }
}

//! The periodic (exp-sine-squared) kernel.

use std::f64::consts::PI;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::simd::{self, GradRowFill, RowFill};
use super::util::{self, exp_params, lengthscale_names, per_dim};
use super::{GradRows, Kernel};
use crate::error::{Result, check};

/// Periodic kernel in MacKay's form,
/// `k(x, y) = σ² exp(−2 Σₖ sin²(π |xₖ − yₖ| / p) / ℓₖ²)`,
/// with one period `p` shared by all dimensions.
///
/// It is the squared-exponential kernel applied to the embedding of each coordinate on a circle
/// of circumference `p`, so it is positive semi-definite, and `k(x + p eₖ, y) = k(x, y)`.
/// Log-parameters, in order: `log ℓ` (one, or one per dimension for ARD), `log p`, `log σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct Periodic {
    lengthscales: Vec<f64>,
    ard: bool,
    period: f64,
    outputscale: f64,
}

impl Periodic {
    /// An isotropic periodic kernel: one `lengthscale` for every dimension, `period` and output
    /// scale (variance) `outputscale`.
    ///
    /// All must be finite and > 0, else [`Error::InvalidParameter`](crate::Error).
    pub fn new(lengthscale: f64, period: f64, outputscale: f64) -> Result<Self> {
        check::positive("lengthscale", lengthscale)?;
        Self::build(vec![lengthscale], false, period, outputscale)
    }

    /// An ARD periodic kernel: one lengthscale per input dimension, a shared `period` and output
    /// scale (variance) `outputscale`.
    ///
    /// Errors: [`Error::Empty`](crate::Error) for no lengthscales,
    /// [`Error::InvalidParameter`](crate::Error) for a value that is not finite and > 0.
    pub fn ard(
        lengthscales: impl Into<Array1<f64>>,
        period: f64,
        outputscale: f64,
    ) -> Result<Self> {
        let ls = util::lengthscales(lengthscales.into())?;
        Self::build(ls, true, period, outputscale)
    }

    fn build(lengthscales: Vec<f64>, ard: bool, period: f64, outputscale: f64) -> Result<Self> {
        check::positive("period", period)?;
        check::positive("outputscale", outputscale)?;
        Ok(Self {
            lengthscales,
            ard,
            period,
            outputscale,
        })
    }

    /// The lengthscales: one shared value, or one per input dimension (ARD).
    pub fn lengthscales(&self) -> &[f64] {
        &self.lengthscales
    }

    /// The period `p`.
    pub fn period(&self) -> f64 {
        self.period
    }

    /// The output scale (variance) `σ² = k(x, x)`.
    pub fn outputscale(&self) -> f64 {
        self.outputscale
    }

    /// Whether the kernel has one lengthscale per input dimension.
    pub fn is_ard(&self) -> bool {
        self.ard
    }

    /// `sin(π xₖ / p)` and `cos(π xₖ / p)` of every point, each as a row-major `n × d` buffer,
    /// and the same transposed (`d × n`).
    fn angles(&self, x: &ArrayView2<'_, f64>) -> [Vec<f64>; 4] {
        let w = vec![PI / self.period; x.ncols()];
        let a = util::scaled_rows(x, &w);
        let at = util::scaled_cols(x, &w);
        [
            a.iter().map(|v| v.sin()).collect(),
            a.iter().map(|v| v.cos()).collect(),
            at.iter().map(|v| v.sin()).collect(),
            at.iter().map(|v| v.cos()).collect(),
        ]
    }
}

/// One row of a periodic kernel matrix from the sines and cosines of the scaled inputs.
struct PeriodicRows {
    /// `2 / ℓₖ²` per dimension.
    w: Vec<f64>,
    /// `sin`, `cos` of `π xᵢₖ / p`, `n × d` row-major.
    sx: Vec<f64>,
    cx: Vec<f64>,
    /// `sin`, `cos` of `π yⱼₖ / p`, transposed: `d × m` row-major.
    syt: Vec<f64>,
    cyt: Vec<f64>,
    var: f64,
}

impl RowFill for PeriodicRows {
    #[inline(always)]
    fn row<const FMA: bool>(&self, i: usize, out: &mut [f64]) {
        let (d, m) = (self.w.len(), out.len());
        out.fill(0.0);
        for k in 0..d {
            let (sa, ca, wk) = (self.sx[i * d + k], self.cx[i * d + k], self.w[k]);
            let sb = &self.syt[k * m..(k + 1) * m];
            let cb = &self.cyt[k * m..(k + 1) * m];
            for ((o, &sb), &cb) in out.iter_mut().zip(sb).zip(cb) {
                // sin(a − b) = sin a cos b − cos a sin b: no trigonometry per entry. Unfused, so
                // that it is exactly antisymmetric and exactly 0 for a = b.
                let t = sa * cb - ca * sb;
                *o = simd::madd::<FMA>(wk * t, t, *o);
            }
        }
        for o in out.iter_mut() {
            *o = self.var * simd::exp::<FMA>(-*o);
        }
    }
}

/// Rows of a periodic kernel matrix and of its gradients (see [`GradRows`]).
struct PeriodicGrad {
    /// `2 / ℓₖ²` per dimension.
    w: Vec<f64>,
    /// `θ = π x / p`, its sine and cosine, `n × d` row-major.
    th: Vec<f64>,
    sx: Vec<f64>,
    cx: Vec<f64>,
    /// The same transposed, `d × n` row-major.
    tht: Vec<f64>,
    sxt: Vec<f64>,
    cxt: Vec<f64>,
    n: usize,
    var: f64,
    ard: bool,
    /// The number of lengthscales.
    nl: usize,
}

impl GradRows for PeriodicGrad {
    fn n_params(&self) -> usize {
        self.nl + 2
    }

    fn fill_row(&self, i: usize, k: &mut [f64], grads: &mut [&mut [f64]], scratch: &mut [f64]) {
        simd::grad_row(self, i, k, grads, scratch);
    }
}

impl GradRowFill for PeriodicGrad {
    #[inline(always)]
    fn grad_row<const FMA: bool>(
        &self,
        i: usize,
        krow: &mut [f64],
        gb: &mut [&mut [f64]],
        _scratch: &mut [f64],
    ) {
        let (n, d, nl, m) = (self.n, self.w.len(), self.nl, krow.len());
        let np = gb.len();
        krow.fill(0.0);
        for g in gb[..=nl].iter_mut() {
            g[..m].fill(0.0);
        }
        // E = Σₖ wₖ sin²θₖ into K; ∂E/∂log ℓₖ = −2 wₖ sin²θₖ; ∂E/∂log p = −Σₖ wₖ θₖ sin 2θₖ.
        for k in 0..d {
            let at = i * d + k;
            let (sa, ca, ta, wk) = (self.sx[at], self.cx[at], self.th[at], self.w[k]);
            let (gl, gp) = gb.split_at_mut(nl);
            let gl = &mut gl[if self.ard { k } else { 0 }][..m];
            let gp = &mut gp[0][..m];
            let cols = k * n..k * n + m;
            let (sb, cb, tb) = (
                &self.sxt[cols.clone()],
                &self.cxt[cols.clone()],
                &self.tht[cols],
            );
            for j in 0..m {
                // sin(a − b), cos(a − b) without trigonometry per entry; unfused, so that both
                // are exactly (anti)symmetric.
                let s = sa * cb[j] - ca * sb[j];
                let c = ca * cb[j] + sa * sb[j];
                let e = wk * s * s;
                krow[j] += e;
                gl[j] += 2.0 * e;
                gp[j] += wk * (ta - tb[j]) * 2.0 * s * c;
            }
        }
        for kv in krow.iter_mut() {
            *kv = self.var * simd::exp::<FMA>(-*kv);
        }
        for g in gb[..=nl].iter_mut() {
            for (gv, &kv) in g[..m].iter_mut().zip(krow.iter()) {
                *gv *= kv;
            }
        }
        gb[np - 1][..m].copy_from_slice(krow);
    }
}

impl Kernel for Periodic {
    fn input_dim(&self) -> Option<usize> {
        self.ard.then_some(self.lengthscales.len())
    }

    fn n_params(&self) -> usize {
        self.lengthscales.len() + 2
    }

    fn log_params(&self) -> Array1<f64> {
        let mut p: Vec<f64> = self.lengthscales.iter().map(|l| l.ln()).collect();
        p.push(self.period.ln());
        p.push(self.outputscale.ln());
        Array1::from(p)
    }

    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
        let v = exp_params(&p, self.n_params())?;
        let nl = self.lengthscales.len();
        self.lengthscales.copy_from_slice(&v[..nl]);
        self.period = v[nl];
        self.outputscale = v[nl + 1];
        Ok(())
    }

    fn param_names(&self) -> Vec<String> {
        let mut names = lengthscale_names(self.lengthscales.len(), self.ard);
        names.push("period".to_string());
        names.push("outputscale".to_string());
        names
    }

    fn box_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }

    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        let e: f64 = x
            .iter()
            .zip(y.iter())
            .enumerate()
            .map(|(k, (&a, &b))| {
                let l = self.lengthscales[if self.ard { k } else { 0 }];
                let s = (PI * (a - b) / self.period).sin();
                2.0 * s * s / (l * l)
            })
            .sum();
        self.outputscale * (-e).exp()
    }

    fn matrix_unchecked(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        let d = x.ncols();
        let [sx, cx, _, _] = self.angles(&x);
        let [_, _, syt, cyt] = self.angles(&y);
        let rows = PeriodicRows {
            w: per_dim(&self.lengthscales, d, |l| 2.0 / (l * l)),
            sx,
            cx,
            syt,
            cyt,
            var: self.outputscale,
        };
        simd::assemble(x.nrows(), y.nrows(), &rows)
    }

    fn diag_unchecked(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        Array1::from_elem(x.nrows(), self.outputscale)
    }

    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        super::grad::matrix_with_grad(self, x)
    }

    fn grad_rows<'a>(&'a self, x: ArrayView2<'a, f64>) -> Box<dyn GradRows + 'a> {
        let (n, d) = x.dim();
        let scale = vec![PI / self.period; d];
        let [sx, cx, sxt, cxt] = self.angles(&x);
        Box::new(PeriodicGrad {
            w: per_dim(&self.lengthscales, d, |l| 2.0 / (l * l)),
            th: util::scaled_rows(&x, &scale),
            sx,
            cx,
            tht: util::scaled_cols(&x, &scale),
            sxt,
            cxt,
            n,
            var: self.outputscale,
            ard: self.ard,
            nl: self.lengthscales.len(),
        })
    }
}

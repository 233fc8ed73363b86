//! Kernels with closed-form embeddings: squared exponential (ARD), product-form Matérn,
//! Wiener and integrated Wiener.
//!
//! pn-core's Matérn kernels are radial (a function of the scaled distance over all dimensions);
//! their integrals over a box have no closed form beyond one dimension. Bayesian quadrature on
//! boxes therefore uses the *product* Matérn kernel `σ² Πₖ gᵥ(|xₖ − yₖ| / ℓₖ)`, a product of
//! one-dimensional Matérns, whose box integrals factorise.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use pn_core::kernels::Kernel;

use crate::error::{Error, Result};

/// The smoothness `ν` of a Matérn kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MaternOrder {
    /// `ν = ½`: `g(r) = e^{−r}` (continuous, nowhere differentiable paths).
    Half,
    /// `ν = ³⁄₂`: `g(r) = (1 + √3 r) e^{−√3 r}` (once differentiable).
    ThreeHalves,
    /// `ν = ⁵⁄₂`: `g(r) = (1 + √5 r + 5r²/3) e^{−√5 r}` (twice differentiable).
    FiveHalves,
}

impl MaternOrder {
    /// `(g(r), −r g'(r))` for `r ≥ 0`.
    pub(crate) fn profile(self, r: f64) -> (f64, f64) {
        match self {
            Self::Half => {
                let e = (-r).exp();
                (e, r * e)
            }
            Self::ThreeHalves => {
                let s = 3f64.sqrt() * r;
                let e = (-s).exp();
                ((1.0 + s) * e, s * s * e)
            }
            Self::FiveHalves => {
                let s = 5f64.sqrt() * r;
                let e = (-s).exp();
                ((1.0 + s + s * s / 3.0) * e, s * s / 3.0 * (1.0 + s) * e)
            }
        }
    }

    /// The rate `c` with `g(r) = p(c r) e^{−c r}`: 1, √3, √5.
    pub(crate) fn rate(self) -> f64 {
        match self {
            Self::Half => 1.0,
            Self::ThreeHalves => 3f64.sqrt(),
            Self::FiveHalves => 5f64.sqrt(),
        }
    }
}

/// Which family a [`QuadKernel`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum KernelKind {
    /// `σ² exp(−½ Σₖ (xₖ − yₖ)²/ℓₖ²)`.
    SquaredExponential,
    /// `σ² Πₖ gᵥ(|xₖ − yₖ|/ℓₖ)` (product of one-dimensional Matérns).
    ProductMatern(MaternOrder),
    /// Brownian motion started at `origin` with a random start of variance `σ² · offset`:
    /// `σ² (offset + min(s − o, t − o))` for `s, t ≥ o`.
    Wiener {
        /// The time origin `o`.
        origin: f64,
        /// Prior variance of `f(o)` in units of `σ²`.
        offset: f64,
    },
    /// Once-integrated Brownian motion from `origin` (cubic-spline prior):
    /// `σ² (m³/3 + |u − v| m²/2)` with `u = s − o`, `v = t − o`, `m = min(u, v)`.
    IntegratedWiener {
        /// The time origin `o`.
        origin: f64,
    },
}

/// A covariance function with closed-form embeddings against the measures of this crate.
///
/// Implements [`pn_core::kernels::Kernel`] (matrices, gradients with respect to the
/// log-hyperparameters), so it can be fitted by marginal likelihood like any pn kernel.
/// Log-parameters: `log ℓ₁ … log ℓ_d, log σ²` (squared exponential, product Matérn) or
/// `log σ²` (Wiener kernels).
#[derive(Debug, Clone, PartialEq)]
pub struct QuadKernel {
    kind: KernelKind,
    lengthscales: Vec<f64>,
    outputscale: f64,
}

fn check_lengthscales(ls: &[f64]) -> Result<()> {
    if ls.is_empty() {
        return Err(pn_core::Error::Empty {
            what: "lengthscales",
        }
        .into());
    }
    for &l in ls {
        pn_core::validate::positive("lengthscale", l)?;
    }
    Ok(())
}

impl QuadKernel {
    /// Squared exponential with one lengthscale per dimension (ARD) and output scale `σ²`.
    pub fn squared_exponential(
        lengthscales: impl Into<Vec<f64>>,
        outputscale: f64,
    ) -> Result<Self> {
        let lengthscales = lengthscales.into();
        check_lengthscales(&lengthscales)?;
        pn_core::validate::positive("outputscale", outputscale)?;
        Ok(Self {
            kind: KernelKind::SquaredExponential,
            lengthscales,
            outputscale,
        })
    }

    /// Product of one-dimensional Matérn kernels of order `order`, one lengthscale per dimension.
    pub fn product_matern(
        order: MaternOrder,
        lengthscales: impl Into<Vec<f64>>,
        outputscale: f64,
    ) -> Result<Self> {
        let lengthscales = lengthscales.into();
        check_lengthscales(&lengthscales)?;
        pn_core::validate::positive("outputscale", outputscale)?;
        Ok(Self {
            kind: KernelKind::ProductMatern(order),
            lengthscales,
            outputscale,
        })
    }

    /// Wiener kernel `σ² (offset + min(s − o, t − o))` on `[o, ∞)` (one-dimensional).
    /// `offset ≥ 0` is the prior variance of `f(o)` in units of `σ²`.
    pub fn wiener(origin: f64, offset: f64, outputscale: f64) -> Result<Self> {
        if !origin.is_finite() {
            return Err(pn_core::Error::InvalidParameter {
                name: "origin",
                value: origin,
                reason: "must be finite",
            }
            .into());
        }
        pn_core::validate::non_negative("offset", offset)?;
        pn_core::validate::positive("outputscale", outputscale)?;
        Ok(Self {
            kind: KernelKind::Wiener { origin, offset },
            lengthscales: vec![],
            outputscale,
        })
    }

    /// Integrated Wiener kernel (cubic-spline prior) from `origin`, one-dimensional.
    pub fn integrated_wiener(origin: f64, outputscale: f64) -> Result<Self> {
        if !origin.is_finite() {
            return Err(pn_core::Error::InvalidParameter {
                name: "origin",
                value: origin,
                reason: "must be finite",
            }
            .into());
        }
        pn_core::validate::positive("outputscale", outputscale)?;
        Ok(Self {
            kind: KernelKind::IntegratedWiener { origin },
            lengthscales: vec![],
            outputscale,
        })
    }

    /// The family.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// The lengthscales (empty for the Wiener kernels).
    pub fn lengthscales(&self) -> &[f64] {
        &self.lengthscales
    }

    /// The output scale `σ²`.
    pub fn outputscale(&self) -> f64 {
        self.outputscale
    }

    /// The same kernel with output scale `σ²`.
    pub fn with_outputscale(&self, outputscale: f64) -> Result<Self> {
        pn_core::validate::positive("outputscale", outputscale)?;
        Ok(Self {
            outputscale,
            ..self.clone()
        })
    }

    /// The same kernel with new lengthscales (same number).
    pub fn with_lengthscales(&self, lengthscales: &[f64]) -> Result<Self> {
        if lengthscales.len() != self.lengthscales.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "QuadKernel::with_lengthscales",
                expected: vec![self.lengthscales.len()],
                found: vec![lengthscales.len()],
            }
            .into());
        }
        for &l in lengthscales {
            pn_core::validate::positive("lengthscale", l)?;
        }
        Ok(Self {
            lengthscales: lengthscales.to_vec(),
            ..self.clone()
        })
    }

    /// A short name.
    pub fn name(&self) -> &'static str {
        match self.kind {
            KernelKind::SquaredExponential => "squared exponential",
            KernelKind::ProductMatern(MaternOrder::Half) => "product Matérn-1/2",
            KernelKind::ProductMatern(MaternOrder::ThreeHalves) => "product Matérn-3/2",
            KernelKind::ProductMatern(MaternOrder::FiveHalves) => "product Matérn-5/2",
            KernelKind::Wiener { .. } => "Wiener",
            KernelKind::IntegratedWiener { .. } => "integrated Wiener",
        }
    }

    /// `k(x, y)` and, if `grad` is given, `∂k/∂log θ` into it.
    fn eval_grad(
        &self,
        x: ArrayView1<'_, f64>,
        y: ArrayView1<'_, f64>,
        grad: Option<&mut [f64]>,
    ) -> f64 {
        let var = self.outputscale;
        match self.kind {
            KernelKind::SquaredExponential => {
                let mut s = 0.0;
                for ((a, b), l) in x.iter().zip(y.iter()).zip(&self.lengthscales) {
                    let r = (a - b) / l;
                    s += r * r;
                }
                let k = var * (-0.5 * s).exp();
                if let Some(g) = grad {
                    for (j, ((a, b), l)) in
                        x.iter().zip(y.iter()).zip(&self.lengthscales).enumerate()
                    {
                        let r = (a - b) / l;
                        g[j] = k * r * r;
                    }
                    g[self.lengthscales.len()] = k;
                }
                k
            }
            KernelKind::ProductMatern(order) => {
                let d = self.lengthscales.len();
                let mut gs = [0.0; 16];
                let mut hs = [0.0; 16];
                let mut big_g = vec![];
                let mut big_h = vec![];
                let (gv, hv): (&mut [f64], &mut [f64]) = if d <= 16 {
                    (&mut gs[..d], &mut hs[..d])
                } else {
                    big_g.resize(d, 0.0);
                    big_h.resize(d, 0.0);
                    (&mut big_g[..], &mut big_h[..])
                };
                let mut k = var;
                for j in 0..d {
                    let r = (x[j] - y[j]).abs() / self.lengthscales[j];
                    let (g, h) = order.profile(r);
                    gv[j] = g;
                    hv[j] = h;
                    k *= g;
                }
                if let Some(grad) = grad {
                    for j in 0..d {
                        let mut p = var * hv[j];
                        for i in 0..d {
                            if i != j {
                                p *= gv[i];
                            }
                        }
                        grad[j] = p;
                    }
                    grad[d] = k;
                }
                k
            }
            KernelKind::Wiener { origin, offset } => {
                let m = (x[0].min(y[0]) - origin).max(0.0);
                let k = var * (offset + m);
                if let Some(g) = grad {
                    g[0] = k;
                }
                k
            }
            KernelKind::IntegratedWiener { origin } => {
                let u = (x[0] - origin).max(0.0);
                let v = (y[0] - origin).max(0.0);
                let m = u.min(v);
                let k = var * (m * m * m / 3.0 + (u - v).abs() * m * m / 2.0);
                if let Some(g) = grad {
                    g[0] = k;
                }
                k
            }
        }
    }

    /// Validated dimension check for public entry points of this crate.
    pub(crate) fn check_dim(&self, d: usize) -> Result<()> {
        self.check_input_dim(d).map_err(Error::from)
    }
}

impl Kernel for QuadKernel {
    fn input_dim(&self) -> Option<usize> {
        match self.kind {
            KernelKind::SquaredExponential | KernelKind::ProductMatern(_) => {
                Some(self.lengthscales.len())
            }
            KernelKind::Wiener { .. } | KernelKind::IntegratedWiener { .. } => Some(1),
        }
    }

    fn n_params(&self) -> usize {
        self.lengthscales.len() + 1
    }

    fn log_params(&self) -> Array1<f64> {
        self.lengthscales
            .iter()
            .map(|l| l.ln())
            .chain(std::iter::once(self.outputscale.ln()))
            .collect()
    }

    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> pn_core::Result<()> {
        let n = self.n_params();
        if p.len() != n {
            return Err(pn_core::Error::ShapeMismatch {
                op: "QuadKernel::set_log_params",
                expected: vec![n],
                found: vec![p.len()],
            });
        }
        let vals: Vec<f64> = p.iter().map(|v| v.exp()).collect();
        for (i, (&lp, &v)) in p.iter().zip(&vals).enumerate() {
            if !lp.is_finite() {
                return Err(pn_core::Error::NonFinite {
                    what: "log_params",
                    index: vec![i],
                    value: lp,
                });
            }
            pn_core::validate::positive(
                if i + 1 == n {
                    "outputscale"
                } else {
                    "lengthscale"
                },
                v,
            )?;
        }
        self.lengthscales.copy_from_slice(&vals[..n - 1]);
        self.outputscale = vals[n - 1];
        Ok(())
    }

    fn param_names(&self) -> Vec<String> {
        let d = self.lengthscales.len();
        let mut names: Vec<String> = (0..d)
            .map(|j| {
                if d == 1 {
                    "lengthscale".to_string()
                } else {
                    format!("lengthscale[{j}]")
                }
            })
            .collect();
        names.push("outputscale".into());
        names
    }

    fn box_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }

    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        self.eval_grad(x, y, None)
    }

    fn matrix_unchecked(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        // The same points (same memory, shape and strides): compute one triangle.
        let sym = x.as_ptr() == y.as_ptr() && x.dim() == y.dim() && x.strides() == y.strides();
        match self.kind {
            KernelKind::SquaredExponential => {
                crate::fastla::se_matrix(x, y, &self.lengthscales, self.outputscale, sym)
            }
            KernelKind::ProductMatern(order) => {
                crate::fastla::matern_matrix(x, y, &self.lengthscales, self.outputscale, order, sym)
            }
            _ => Array2::from_shape_fn((x.nrows(), y.nrows()), |(i, j)| {
                self.eval_grad(x.row(i), y.row(j), None)
            }),
        }
    }

    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        let n = x.nrows();
        let p = self.n_params();
        let mut k = Array2::zeros((n, n));
        let mut grads = vec![Array2::zeros((n, n)); p];
        let mut g = vec![0.0; p];
        for i in 0..n {
            for j in 0..=i {
                let v = self.eval_grad(x.row(i), x.row(j), Some(&mut g));
                k[[i, j]] = v;
                k[[j, i]] = v;
                for (gm, gv) in grads.iter_mut().zip(&g) {
                    gm[[i, j]] = *gv;
                    gm[[j, i]] = *gv;
                }
            }
        }
        (k, grads)
    }
}

//! Radial (isotropic or ARD) stationary kernels: `k(x, y) = σ² f(r²)` with the scaled squared
//! distance `r² = Σₖ (xₖ − yₖ)² / ℓₖ²`.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::simd::{self, GradRowFill, RowFill};
use super::util::{self, exp_params, lengthscale_names, per_dim};
use super::{GradRows, Kernel};
use crate::error::{Result, check};

/// The shape `f` of a radial kernel, `f(0) = 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Profile {
    SquaredExponential,
    Matern12,
    Matern32,
    Matern52,
    RationalQuadratic { alpha: f64 },
}

impl Profile {
    /// `f(s)` at `s = r²` (standard library `exp`: the reference path).
    fn value(self, s: f64) -> f64 {
        match self {
            Self::SquaredExponential => (-0.5 * s).exp(),
            Self::Matern12 => (-s.sqrt()).exp(),
            Self::Matern32 => {
                let r = (3.0 * s).sqrt();
                (1.0 + r) * (-r).exp()
            }
            Self::Matern52 => {
                let r = (5.0 * s).sqrt();
                (1.0 + r + 5.0 / 3.0 * s) * (-r).exp()
            }
            Self::RationalQuadratic { alpha } => (-alpha * (s / (2.0 * alpha)).ln_1p()).exp(),
        }
    }

    /// `row[j] ← σ² f(row[j])` over a row of squared distances (vectorised `exp`).
    #[inline(always)]
    fn apply<const FMA: bool>(self, row: &mut [f64], var: f64) {
        use simd::{exp, ln};
        match self {
            Self::SquaredExponential => {
                for o in row {
                    *o = var * exp::<FMA>(-0.5 * *o);
                }
            }
            Self::Matern12 => {
                for o in row {
                    *o = var * exp::<FMA>(-o.sqrt());
                }
            }
            Self::Matern32 => {
                for o in row {
                    let r = (3.0 * *o).sqrt();
                    *o = var * (1.0 + r) * exp::<FMA>(-r);
                }
            }
            Self::Matern52 => {
                for o in row {
                    let s = *o;
                    let r = (5.0 * s).sqrt();
                    *o = var * (1.0 + r + 5.0 / 3.0 * s) * exp::<FMA>(-r);
                }
            }
            Self::RationalQuadratic { alpha } => {
                let c = 0.5 / alpha;
                for o in row {
                    *o = var * exp::<FMA>(-alpha * ln::<FMA>(simd::madd::<FMA>(c, *o, 1.0)));
                }
            }
        }
    }

    fn alpha(self) -> Option<f64> {
        match self {
            Self::RationalQuadratic { alpha } => Some(alpha),
            _ => None,
        }
    }
}

/// One row of a radial kernel matrix: squared distances of the scaled points, then the profile.
struct RadialRows {
    /// Scaled row points, `n × d` row-major.
    xs: Vec<f64>,
    /// Scaled column points, transposed: `d × m` row-major.
    yt: Vec<f64>,
    d: usize,
    profile: Profile,
    var: f64,
}

impl RowFill for RadialRows {
    #[inline(always)]
    fn row<const FMA: bool>(&self, i: usize, out: &mut [f64]) {
        let d = self.d;
        util::sqdist_row::<FMA>(&self.xs[i * d..(i + 1) * d], &self.yt, out);
        self.profile.apply::<FMA>(out, self.var);
    }
}

/// Rows of a radial kernel matrix and of its gradients (see [`GradRows`]).
pub(crate) struct RadialGrad {
    /// Scaled points, `n × d` row-major.
    xs: Vec<f64>,
    /// Scaled points, transposed: `d × n` row-major.
    xt: Vec<f64>,
    n: usize,
    d: usize,
    profile: Profile,
    var: f64,
    ard: bool,
    /// The number of lengthscales.
    nl: usize,
}

impl GradRows for RadialGrad {
    fn n_params(&self) -> usize {
        self.nl + usize::from(self.profile.alpha().is_some()) + 1
    }

    fn scratch_len(&self, m: usize) -> usize {
        m
    }

    fn fill_row(&self, i: usize, k: &mut [f64], grads: &mut [&mut [f64]], scratch: &mut [f64]) {
        simd::grad_row(self, i, k, grads, scratch);
    }
}

impl GradRowFill for RadialGrad {
    #[inline(always)]
    fn grad_row<const FMA: bool>(
        &self,
        i: usize,
        krow: &mut [f64],
        gb: &mut [&mut [f64]],
        scratch: &mut [f64],
    ) {
        use simd::{exp, madd};
        let (n, d, nl, var, m) = (self.n, self.d, self.nl, self.var, krow.len());
        let np = gb.len();
        let xi = &self.xs[i * d..(i + 1) * d];
        if self.ard {
            // Per-dimension squared distances straight into the lengthscale gradients.
            krow.fill(0.0);
            for (k, &a) in xi.iter().enumerate() {
                let g = &mut gb[k][..m];
                for ((gv, kv), &b) in g.iter_mut().zip(krow.iter_mut()).zip(&self.xt[k * n..]) {
                    let t = a - b;
                    *gv = t * t;
                    *kv += t * t;
                }
            }
        } else {
            util::sqdist_row::<false>(xi, &self.xt, krow);
            gb[0][..m].copy_from_slice(krow);
        }
        // K and σ² g, with g = −2 f'(r²), into `scale` (and ∂K/∂log α) from the squared
        // distances …
        let scale = &mut scratch[..m];
        match self.profile {
            Profile::SquaredExponential => {
                for (kv, sc) in krow.iter_mut().zip(scale.iter_mut()) {
                    let f = var * exp::<FMA>(-0.5 * *kv);
                    *kv = f;
                    *sc = f;
                }
            }
            Profile::Matern12 => {
                for (kv, sc) in krow.iter_mut().zip(scale.iter_mut()) {
                    let r = kv.sqrt();
                    let f = exp::<FMA>(-r);
                    // g·rₖ² ≤ f·r → 0 as r → 0, so g = 0 at r = 0 gives the right limit.
                    let g = if r > 0.0 { f / r } else { 0.0 };
                    *kv = var * f;
                    *sc = var * g;
                }
            }
            Profile::Matern32 => {
                for (kv, sc) in krow.iter_mut().zip(scale.iter_mut()) {
                    let r = (3.0 * *kv).sqrt();
                    let e = exp::<FMA>(-r);
                    *kv = var * ((1.0 + r) * e);
                    *sc = var * (3.0 * e);
                }
            }
            Profile::Matern52 => {
                for (kv, sc) in krow.iter_mut().zip(scale.iter_mut()) {
                    let s = *kv;
                    let r = (5.0 * s).sqrt();
                    let e = exp::<FMA>(-r);
                    *kv = var * ((1.0 + r + 5.0 / 3.0 * s) * e);
                    *sc = var * (5.0 / 3.0 * (1.0 + r) * e);
                }
            }
            Profile::RationalQuadratic { alpha } => {
                let ga = &mut gb[nl][..m];
                for ((kv, sc), h) in krow.iter_mut().zip(scale.iter_mut()).zip(ga.iter_mut()) {
                    let s = *kv;
                    let z = s / (2.0 * alpha);
                    let u = 1.0 + z;
                    // ln(1 + z) = ln u + (z − (u − 1))/u: the rounding of u corrected to first
                    // order, as accurate as ln_1p and vectorisable.
                    let l = madd::<FMA>(z - (u - 1.0), 1.0 / u, simd::ln::<FMA>(u));
                    let f = exp::<FMA>(-alpha * l);
                    *kv = var * f;
                    *sc = var * (f / u);
                    *h = var * (f * (0.5 * s / u - alpha * l));
                }
            }
        }
        // … then ∂K/∂log ℓₖ = σ² g rₖ² (rₖ² or r² already stored there), ∂K/∂log σ² = K.
        for gk in gb[..nl].iter_mut() {
            for (gv, &sc) in gk[..m].iter_mut().zip(scale.iter()) {
                *gv *= sc;
            }
        }
        gb[np - 1][..m].copy_from_slice(krow);
    }
}

/// The shared implementation of the radial kernels.
///
/// Log-parameters, in order: `log ℓ` (one, or one per dimension for ARD), `log α` (rational
/// quadratic only), `log σ²`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Radial {
    profile: Profile,
    lengthscales: Vec<f64>,
    ard: bool,
    outputscale: f64,
}

impl Radial {
    pub(crate) fn iso(profile: Profile, lengthscale: f64, outputscale: f64) -> Result<Self> {
        check::positive("lengthscale", lengthscale)?;
        Self::build(profile, vec![lengthscale], false, outputscale)
    }

    pub(crate) fn ard(
        profile: Profile,
        lengthscales: Array1<f64>,
        outputscale: f64,
    ) -> Result<Self> {
        let ls = util::lengthscales(lengthscales)?;
        Self::build(profile, ls, true, outputscale)
    }

    fn build(
        profile: Profile,
        lengthscales: Vec<f64>,
        ard: bool,
        outputscale: f64,
    ) -> Result<Self> {
        check::positive("outputscale", outputscale)?;
        if let Some(alpha) = profile.alpha() {
            check::positive("alpha", alpha)?;
        }
        Ok(Self {
            profile,
            lengthscales,
            ard,
            outputscale,
        })
    }

    pub(crate) fn lengthscales(&self) -> &[f64] {
        &self.lengthscales
    }

    pub(crate) fn outputscale(&self) -> f64 {
        self.outputscale
    }

    pub(crate) fn is_ard(&self) -> bool {
        self.ard
    }

    pub(crate) fn alpha(&self) -> Option<f64> {
        self.profile.alpha()
    }

    fn n_extra(&self) -> usize {
        usize::from(self.profile.alpha().is_some())
    }

    pub(crate) fn input_dim(&self) -> Option<usize> {
        self.ard.then_some(self.lengthscales.len())
    }

    pub(crate) fn n_params(&self) -> usize {
        self.lengthscales.len() + self.n_extra() + 1
    }

    pub(crate) fn log_params(&self) -> Array1<f64> {
        let mut p: Vec<f64> = self.lengthscales.iter().map(|l| l.ln()).collect();
        if let Some(alpha) = self.profile.alpha() {
            p.push(alpha.ln());
        }
        p.push(self.outputscale.ln());
        Array1::from(p)
    }

    pub(crate) fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
        let v = exp_params(&p, self.n_params())?;
        let nl = self.lengthscales.len();
        self.lengthscales.copy_from_slice(&v[..nl]);
        if let Profile::RationalQuadratic { alpha } = &mut self.profile {
            *alpha = v[nl];
        }
        self.outputscale = v[v.len() - 1];
        Ok(())
    }

    pub(crate) fn param_names(&self) -> Vec<String> {
        let mut names = lengthscale_names(self.lengthscales.len(), self.ard);
        if self.profile.alpha().is_some() {
            names.push("alpha".to_string());
        }
        names.push("outputscale".to_string());
        names
    }

    /// `r²` between two points.
    fn sqdist(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        let ls = &self.lengthscales;
        x.iter()
            .zip(y.iter())
            .enumerate()
            .map(|(k, (&a, &b))| {
                let t = (a - b) / ls[if self.ard { k } else { 0 }];
                t * t
            })
            .sum()
    }

    pub(crate) fn eval(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        self.outputscale * self.profile.value(self.sqdist(x, y))
    }

    pub(crate) fn matrix(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        let d = x.ncols();
        let inv = per_dim(&self.lengthscales, d, f64::recip);
        let rows = RadialRows {
            xs: util::scaled_rows(&x, &inv),
            yt: util::scaled_cols(&y, &inv),
            d,
            profile: self.profile,
            var: self.outputscale,
        };
        simd::assemble(x.nrows(), y.nrows(), &rows)
    }

    pub(crate) fn diag(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        Array1::from_elem(x.nrows(), self.outputscale)
    }

    pub(crate) fn grad_rows(&self, x: ArrayView2<'_, f64>) -> RadialGrad {
        let (n, d) = x.dim();
        let inv = per_dim(&self.lengthscales, d, f64::recip);
        RadialGrad {
            xs: util::scaled_rows(&x, &inv),
            xt: util::scaled_cols(&x, &inv),
            n,
            d,
            profile: self.profile,
            var: self.outputscale,
            ard: self.ard,
            nl: self.lengthscales.len(),
        }
    }
}

/// Implements [`Kernel`] for a newtype around [`Radial`].
macro_rules! radial_kernel {
    ($name:ident) => {
        impl Kernel for $name {
            fn input_dim(&self) -> Option<usize> {
                self.0.input_dim()
            }
            fn n_params(&self) -> usize {
                self.0.n_params()
            }
            fn log_params(&self) -> Array1<f64> {
                self.0.log_params()
            }
            fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
                self.0.set_log_params(p)
            }
            fn param_names(&self) -> Vec<String> {
                self.0.param_names()
            }
            fn box_clone(&self) -> Box<dyn Kernel> {
                Box::new(self.clone())
            }
            fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
                self.0.eval(x, y)
            }
            fn matrix_unchecked(
                &self,
                x: ArrayView2<'_, f64>,
                y: ArrayView2<'_, f64>,
            ) -> Array2<f64> {
                self.0.matrix(x, y)
            }
            fn diag_unchecked(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
                self.0.diag(x)
            }
            fn matrix_with_grad_unchecked(
                &self,
                x: ArrayView2<'_, f64>,
            ) -> (Array2<f64>, Vec<Array2<f64>>) {
                super::grad::matrix_with_grad(self, x)
            }
            fn grad_rows<'a>(&'a self, x: ArrayView2<'a, f64>) -> Box<dyn GradRows + 'a> {
                Box::new(self.0.grad_rows(x))
            }
        }

        impl $name {
            /// The lengthscales: one shared value, or one per input dimension (ARD).
            pub fn lengthscales(&self) -> &[f64] {
                self.0.lengthscales()
            }

            /// The output scale (variance) `σ² = k(x, x)`.
            pub fn outputscale(&self) -> f64 {
                self.0.outputscale()
            }

            /// Whether the kernel has one lengthscale per input dimension.
            pub fn is_ard(&self) -> bool {
                self.0.is_ard()
            }
        }
    };
}

/// Constructors `new` (one shared lengthscale) and `ard` (one per dimension) for the kernels
/// without a shape parameter.
macro_rules! radial_constructors {
    ($name:ident, $profile:expr) => {
        impl $name {
            /// An isotropic kernel: one `lengthscale` shared by every input dimension (so it
            /// accepts inputs of any dimension) and output scale (variance) `outputscale`.
            ///
            /// Both must be finite and > 0, else [`Error::InvalidParameter`](crate::Error).
            pub fn new(lengthscale: f64, outputscale: f64) -> Result<Self> {
                Radial::iso($profile, lengthscale, outputscale).map(Self)
            }

            /// An ARD kernel: one lengthscale per input dimension (inputs must then have
            /// `lengthscales.len()` columns) and output scale (variance) `outputscale`.
            ///
            /// Errors: [`Error::Empty`](crate::Error) for no lengthscales,
            /// [`Error::InvalidParameter`](crate::Error) for a value that is not finite and > 0.
            pub fn ard(lengthscales: impl Into<Array1<f64>>, outputscale: f64) -> Result<Self> {
                Radial::ard($profile, lengthscales.into(), outputscale).map(Self)
            }
        }
    };
}

/// Squared-exponential (RBF, Gaussian) kernel
/// `k(x, y) = σ² exp(−r²/2)` with `r² = Σₖ (xₖ − yₖ)² / ℓₖ²`.
///
/// Infinitely smooth sample paths. Log-parameters: `log ℓ` (one, or one per dimension for ARD),
/// then `log σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct SquaredExponential(Radial);
radial_constructors!(SquaredExponential, Profile::SquaredExponential);
radial_kernel!(SquaredExponential);

/// Matérn ν = ½ (exponential, Ornstein–Uhlenbeck) kernel `k(x, y) = σ² exp(−r)` with
/// `r = √(Σₖ (xₖ − yₖ)² / ℓₖ²)`.
///
/// Continuous, nowhere-differentiable sample paths. Log-parameters: `log ℓ` (one, or one per
/// dimension for ARD), then `log σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matern12(Radial);
radial_constructors!(Matern12, Profile::Matern12);
radial_kernel!(Matern12);

/// Matérn ν = 3⁄2 kernel `k(x, y) = σ² (1 + √3 r) exp(−√3 r)` with
/// `r = √(Σₖ (xₖ − yₖ)² / ℓₖ²)`.
///
/// Once-differentiable sample paths. Log-parameters: `log ℓ` (one, or one per dimension for
/// ARD), then `log σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matern32(Radial);
radial_constructors!(Matern32, Profile::Matern32);
radial_kernel!(Matern32);

/// Matérn ν = 5⁄2 kernel `k(x, y) = σ² (1 + √5 r + 5r²/3) exp(−√5 r)` with
/// `r = √(Σₖ (xₖ − yₖ)² / ℓₖ²)`.
///
/// Twice-differentiable sample paths. Log-parameters: `log ℓ` (one, or one per dimension for
/// ARD), then `log σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matern52(Radial);
radial_constructors!(Matern52, Profile::Matern52);
radial_kernel!(Matern52);

/// Rational-quadratic kernel `k(x, y) = σ² (1 + r² / (2α))^(−α)` with
/// `r² = Σₖ (xₖ − yₖ)² / ℓₖ²`.
///
/// A scale mixture of squared-exponential kernels; `α → ∞` recovers the squared exponential.
/// Log-parameters: `log ℓ` (one, or one per dimension for ARD), `log α`, then `log σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct RationalQuadratic(Radial);
radial_kernel!(RationalQuadratic);

impl RationalQuadratic {
    /// An isotropic kernel with one shared `lengthscale`, shape `alpha` and output scale
    /// (variance) `outputscale`.
    ///
    /// All must be finite and > 0, else [`Error::InvalidParameter`](crate::Error).
    pub fn new(lengthscale: f64, alpha: f64, outputscale: f64) -> Result<Self> {
        Radial::iso(
            Profile::RationalQuadratic { alpha },
            lengthscale,
            outputscale,
        )
        .map(Self)
    }

    /// An ARD kernel with one lengthscale per input dimension, shape `alpha` and output scale
    /// (variance) `outputscale`.
    ///
    /// Errors: [`Error::Empty`](crate::Error) for no lengthscales,
    /// [`Error::InvalidParameter`](crate::Error) for a value that is not finite and > 0.
    pub fn ard(lengthscales: impl Into<Array1<f64>>, alpha: f64, outputscale: f64) -> Result<Self> {
        Radial::ard(
            Profile::RationalQuadratic { alpha },
            lengthscales.into(),
            outputscale,
        )
        .map(Self)
    }

    /// The shape parameter `α`.
    pub fn alpha(&self) -> f64 {
        self.0.alpha().expect("a rational-quadratic kernel has α")
    }
}

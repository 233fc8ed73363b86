//! Log-density targets: the trait the samplers use, the dual-number adapter that gives exact
//! gradients, and closure wrappers.

use num_dual::{Dual64, DualNum};

/// An unnormalised log-density `log p(x) + const` on `ℝᵈ`.
///
/// Conventions the samplers rely on:
/// - `−∞` means "outside the support" (zero density): proposals there are rejected;
/// - `NaN` is treated as a rejection too, and every such event is counted and reported
///   ([`crate::ChainStats::nan_logp`]);
/// - `+∞` is an error ([`crate::Error::InfiniteLogDensity`]): the target is improper there.
pub trait LogDensity: Send + Sync {
    /// The dimension `d ≥ 1`.
    fn dim(&self) -> usize;

    /// `log p(x)`.
    fn logp(&self, x: &[f64]) -> f64;

    /// `log p(x)`, writing `∇ log p(x)` into `grad` (length `d`).
    ///
    /// Targets without gradients return `NaN` here and `false` from
    /// [`has_gradient`](Self::has_gradient); gradient-based samplers then refuse to run.
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64;

    /// Whether [`logp_and_grad`](Self::logp_and_grad) is implemented.
    fn has_gradient(&self) -> bool {
        true
    }
}

impl<T: LogDensity + ?Sized> LogDensity for &T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn logp(&self, x: &[f64]) -> f64 {
        (**self).logp(x)
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        (**self).logp_and_grad(x, grad)
    }
    fn has_gradient(&self) -> bool {
        (**self).has_gradient()
    }
}

impl<T: LogDensity + ?Sized> LogDensity for Box<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn logp(&self, x: &[f64]) -> f64 {
        (**self).logp(x)
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        (**self).logp_and_grad(x, grad)
    }
    fn has_gradient(&self) -> bool {
        (**self).has_gradient()
    }
}

impl<T: LogDensity + ?Sized> LogDensity for std::sync::Arc<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn logp(&self, x: &[f64]) -> f64 {
        (**self).logp(x)
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        (**self).logp_and_grad(x, grad)
    }
    fn has_gradient(&self) -> bool {
        (**self).has_gradient()
    }
}

/// A log-density written once for any dual-number type, so that [`AutoDiff`] can compute its
/// exact gradient (forward mode, no finite differences).
///
/// ```
/// use num_dual::DualNum;
/// use pn_mcmc::{AutoDiff, DualDensity, LogDensity};
///
/// /// A standard normal in two dimensions.
/// struct Normal2;
/// impl DualDensity for Normal2 {
///     fn dim(&self) -> usize { 2 }
///     fn logp<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
///         (x[0] * x[0] + x[1] * x[1]) * (-0.5)
///     }
/// }
/// let target = AutoDiff(Normal2);
/// let mut g = [0.0; 2];
/// let lp = target.logp_and_grad(&[1.0, 2.0], &mut g);
/// assert_eq!(lp, -2.5);
/// assert_eq!(g, [-1.0, -2.0]);
/// ```
pub trait DualDensity: Send + Sync {
    /// The dimension `d ≥ 1`.
    fn dim(&self) -> usize;

    /// `log p(x)` for any scalar type: `f64`, or dual numbers for derivatives.
    fn logp<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D;
}

/// Exact gradients of a [`DualDensity`] by forward-mode dual numbers.
///
/// One gradient costs `d` evaluations with [`Dual64`] (one per coordinate), so this adapter
/// suits small and moderate `d`; for large models hand-written gradients
/// ([`FnDensityWithGrad`]) are faster.
#[derive(Debug, Clone)]
pub struct AutoDiff<M>(pub M);

impl<M: DualDensity> LogDensity for AutoDiff<M> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn logp(&self, x: &[f64]) -> f64 {
        self.0.logp::<f64>(x)
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let mut xd: Vec<Dual64> = x.iter().map(|&v| Dual64::from_re(v)).collect();
        let mut lp = f64::NAN;
        for j in 0..x.len() {
            xd[j].eps = 1.0;
            let r = self.0.logp(&xd);
            lp = r.re;
            grad[j] = r.eps;
            xd[j].eps = 0.0;
        }
        if x.is_empty() {
            lp = self.0.logp::<f64>(x);
        }
        lp
    }
}

/// A log-density from a plain closure `x ↦ log p(x)`, without gradient (for Metropolis,
/// slice, elliptical slice and ensemble samplers).
pub struct FnDensity<F> {
    dim: usize,
    f: F,
}

impl<F: Fn(&[f64]) -> f64 + Send + Sync> FnDensity<F> {
    /// A `dim`-dimensional target.
    pub fn new(dim: usize, f: F) -> Self {
        Self { dim, f }
    }
}

impl<F: Fn(&[f64]) -> f64 + Send + Sync> LogDensity for FnDensity<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn logp(&self, x: &[f64]) -> f64 {
        (self.f)(x)
    }
    fn logp_and_grad(&self, _x: &[f64], grad: &mut [f64]) -> f64 {
        grad.iter_mut().for_each(|g| *g = f64::NAN);
        f64::NAN
    }
    fn has_gradient(&self) -> bool {
        false
    }
}

/// A log-density with a hand-written gradient: the closure `(x, grad) ↦ log p(x)` writes
/// `∇ log p(x)` into `grad`.
pub struct FnDensityWithGrad<F> {
    dim: usize,
    f: F,
}

impl<F: Fn(&[f64], &mut [f64]) -> f64 + Send + Sync> FnDensityWithGrad<F> {
    /// A `dim`-dimensional target with gradient.
    pub fn new(dim: usize, f: F) -> Self {
        Self { dim, f }
    }
}

impl<F: Fn(&[f64], &mut [f64]) -> f64 + Send + Sync> LogDensity for FnDensityWithGrad<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn logp(&self, x: &[f64]) -> f64 {
        let mut g = vec![0.0; self.dim];
        (self.f)(x, &mut g)
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        (self.f)(x, grad)
    }
}

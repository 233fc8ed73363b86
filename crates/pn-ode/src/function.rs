//! Vector fields: written once over dual numbers, or as plain closures with a Jacobian.

use ndarray::{Array1, Array2, ArrayView1};
use num_dual::{Dual, DualNum};

/// A first-order ODE right-hand side `x' = f(t, x)` written once for any dual-number type.
///
/// Evaluating it with `f64` gives `f`, with [`Dual`] numbers its exact Jacobian (forward mode,
/// one column per evaluation), and with nested duals the exact Taylor coefficients of the
/// solution (used to initialise the filter). Implementations must write every entry of `dx`.
///
/// ```
/// use num_dual::DualNum;
/// use pn_ode::OdeFunction;
///
/// /// The logistic equation x' = r x (1 − x).
/// struct Logistic { r: f64 }
/// impl OdeFunction for Logistic {
///     fn dim(&self) -> usize { 1 }
///     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
///         dx[0] = x[0] * (-x[0] + 1.0) * self.r;
///     }
/// }
/// ```
pub trait OdeFunction: Send + Sync {
    /// The number of equations `d`.
    fn dim(&self) -> usize;

    /// Write `f(t, x)` into `dx` (both of length `d`).
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]);
}

/// What the solvers need of a vector field: values, Jacobians and (optionally) exact Taylor
/// coefficients of the solution at the initial point.
pub trait VectorField: Send + Sync {
    /// The number of equations `d`.
    fn dim(&self) -> usize;

    /// `f(t, x)` into `dx`.
    fn f(&self, t: f64, x: &[f64], dx: &mut [f64]);

    /// The Jacobian `∂f/∂x (t, x)` into `jac` (`d × d`).
    fn jacobian(&self, t: f64, x: &[f64], jac: &mut Array2<f64>);

    /// The diagonal `∂fᵢ/∂xᵢ (t, x)` into `diag` (length `d`; for a second-order field the
    /// diagonals of both blocks, length `2d`), for the diagonal EK1. The default takes the
    /// diagonal of [`jacobian`](Self::jacobian); override it when the diagonal is cheaper than
    /// the whole matrix (large systems).
    fn jacobian_diagonal(&self, t: f64, x: &[f64], diag: &mut [f64]) {
        let d = self.dim();
        let o = self.order();
        let mut jac = Array2::zeros((d, o * d));
        self.jacobian(t, x, &mut jac);
        for k in 0..o {
            for i in 0..d {
                diag[k * d + i] = jac[[i, k * d + i]];
            }
        }
    }

    /// The order of the equation: 1 for `x' = f(t, x)` (the default), 2 for
    /// `x'' = f(t, x, x')`. A second-order field receives `[x, x']` (length `2d`) wherever `x` is
    /// passed, and its Jacobian is `[∂f/∂x, ∂f/∂x']` (`d × 2d`).
    fn order(&self) -> usize {
        1
    }

    /// The derivatives `x(t₀), x'(t₀), …, x^{(q)}(t₀)` of the solution through `x₀`, exactly,
    /// if the field can provide them.
    fn taylor(&self, _t0: f64, _x0: ArrayView1<'_, f64>, _q: usize) -> Option<Vec<Array1<f64>>> {
        None
    }
}

/// Wraps an [`OdeFunction`]: Jacobians by forward-mode dual numbers and Taylor coefficients by
/// nested dual numbers (exact; the cost of the latter grows like `2^q`, paid once at
/// initialisation).
#[derive(Debug, Clone)]
pub struct AutoDiff<F>(pub F);

impl<F: OdeFunction> VectorField for AutoDiff<F> {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn f(&self, t: f64, x: &[f64], dx: &mut [f64]) {
        self.0.eval(t, x, dx);
    }

    fn jacobian(&self, t: f64, x: &[f64], jac: &mut Array2<f64>) {
        let d = self.0.dim();
        let mut xd: Vec<Dual<f64>> = x.iter().map(|&v| Dual::from_re(v)).collect();
        let mut out = vec![Dual::from_re(0.0); d];
        for j in 0..d {
            xd[j].eps = 1.0;
            self.0.eval(Dual::from_re(t), &xd, &mut out);
            for i in 0..d {
                jac[[i, j]] = out[i].eps;
            }
            xd[j].eps = 0.0;
        }
    }

    fn taylor(&self, t0: f64, x0: ArrayView1<'_, f64>, q: usize) -> Option<Vec<Array1<f64>>> {
        taylor_coefficients(&self.0, t0, x0, q)
    }
}

/// A vector field from plain closures: `f(t, x, dx)` and its Jacobian `jac(t, x, J)`.
pub struct Closure<F, J> {
    dim: usize,
    f: F,
    jac: J,
}

impl<F, J> Closure<F, J>
where
    F: Fn(f64, &[f64], &mut [f64]) + Send + Sync,
    J: Fn(f64, &[f64], &mut Array2<f64>) + Send + Sync,
{
    /// A `d`-dimensional field with its user-supplied Jacobian.
    pub fn new(dim: usize, f: F, jac: J) -> Self {
        Self { dim, f, jac }
    }
}

impl<F, J> VectorField for Closure<F, J>
where
    F: Fn(f64, &[f64], &mut [f64]) + Send + Sync,
    J: Fn(f64, &[f64], &mut Array2<f64>) + Send + Sync,
{
    fn dim(&self) -> usize {
        self.dim
    }
    fn f(&self, t: f64, x: &[f64], dx: &mut [f64]) {
        (self.f)(t, x, dx)
    }
    fn jacobian(&self, t: f64, x: &[f64], jac: &mut Array2<f64>) {
        (self.jac)(t, x, jac)
    }
}

/// A second-order ODE `x'' = f(t, x, x')` written once for any dual-number type, solved
/// natively (the filter's state holds `x, x', x'', …` and observes `x'' − f(t, x, x') = 0`; no
/// doubling of the dimension).
///
/// ```
/// use num_dual::DualNum;
/// use pn_ode::SecondOrderFunction;
///
/// /// The damped pendulum θ'' = −sin θ − γ θ'.
/// struct Pendulum { gamma: f64 }
/// impl SecondOrderFunction for Pendulum {
///     fn dim(&self) -> usize { 1 }
///     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], v: &[D], a: &mut [D]) {
///         a[0] = -x[0].sin() - v[0] * self.gamma;
///     }
/// }
/// ```
pub trait SecondOrderFunction: Send + Sync {
    /// The dimension `d` of `x`.
    fn dim(&self) -> usize;

    /// Write `f(t, x, v)` into `a` (all of length `d`).
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], v: &[D], a: &mut [D]);
}

/// A [`SecondOrderFunction`] as a (second-order) [`VectorField`]: exact Jacobians and Taylor
/// coefficients from dual numbers.
pub struct SecondOrder<F>(pub F);

impl<F: SecondOrderFunction> VectorField for SecondOrder<F> {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn order(&self) -> usize {
        2
    }

    fn f(&self, t: f64, xv: &[f64], a: &mut [f64]) {
        let d = self.0.dim();
        self.0.eval(t, &xv[..d], &xv[d..2 * d], a);
    }

    fn jacobian(&self, t: f64, xv: &[f64], jac: &mut Array2<f64>) {
        let d = self.0.dim();
        let mut xd: Vec<Dual<f64>> = xv.iter().map(|&v| Dual::from_re(v)).collect();
        let mut out = vec![Dual::from_re(0.0); d];
        for j in 0..2 * d {
            xd[j].eps = 1.0;
            self.0
                .eval(Dual::from_re(t), &xd[..d], &xd[d..2 * d], &mut out);
            for i in 0..d {
                jac[[i, j]] = out[i].eps;
            }
            xd[j].eps = 0.0;
        }
    }

    fn taylor(&self, t0: f64, xv0: ArrayView1<'_, f64>, q: usize) -> Option<Vec<Array1<f64>>> {
        taylor_coefficients_second_order(&self.0, t0, xv0, q)
    }
}

/// Jets: a nested dual number `Dual<Dual<…>>` of depth `k` represents a polynomial in
/// `τ = ε₁ + … + ε_k` (all `εᵢ² = 0`), so `τʲ/j!` is the sum of all products of `j` distinct
/// `ε`'s and the coefficient of `ε₁⋯ε_k` of `g(x(τ))` is `dᵏ/dτᵏ g` at `τ = 0`.
trait Jet: DualNum<Primitive = f64> + Copy {
    /// `Σⱼ cⱼ τʲ / j!` truncated at the depth.
    fn lift(c: &[f64]) -> Self;
    /// The coefficient of `ε₁⋯ε_k`.
    fn top(&self) -> f64;
}

impl Jet for f64 {
    fn lift(c: &[f64]) -> Self {
        c.first().copied().unwrap_or(0.0)
    }
    fn top(&self) -> f64 {
        *self
    }
}

impl<T: Jet> Jet for Dual<T>
where
    Dual<T>: DualNum<Primitive = f64> + Copy,
{
    fn lift(c: &[f64]) -> Self {
        let tail = if c.is_empty() { &[][..] } else { &c[1..] };
        Dual::new(T::lift(c), T::lift(tail))
    }
    fn top(&self) -> f64 {
        self.eps.top()
    }
}

/// The `k`-th derivative along the solution: `dᵏ/dτᵏ f(t₀ + τ, x(τ))` with `x` known to order `k`.
fn jet_derivative<F: OdeFunction, J: Jet>(f: &F, t0: f64, coeffs: &[Array1<f64>]) -> Array1<f64> {
    let d = f.dim();
    let x: Vec<J> = (0..d)
        .map(|i| {
            let c: Vec<f64> = coeffs.iter().map(|a| a[i]).collect();
            J::lift(&c)
        })
        .collect();
    let t = J::lift(&[t0, 1.0]);
    let mut out = vec![J::lift(&[0.0]); d];
    f.eval(t, &x, &mut out);
    Array1::from_iter(out.iter().map(|v| v.top()))
}

/// The `k`-th derivative along the solution of a second-order equation:
/// `dᵏ/dτᵏ f(t₀ + τ, x(τ), x'(τ))` with `x` known to order `k + 1`.
fn jet_derivative2<F: SecondOrderFunction, J: Jet>(
    f: &F,
    t0: f64,
    coeffs: &[Array1<f64>],
) -> Array1<f64> {
    let d = f.dim();
    let lift = |from: usize| -> Vec<J> {
        (0..d)
            .map(|i| {
                let c: Vec<f64> = coeffs[from..].iter().map(|a| a[i]).collect();
                J::lift(&c)
            })
            .collect()
    };
    let (x, v) = (lift(0), lift(1));
    let t = J::lift(&[t0, 1.0]);
    let mut out = vec![J::lift(&[0.0]); d];
    f.eval(t, &x, &v, &mut out);
    Array1::from_iter(out.iter().map(|v| v.top()))
}

/// `x(t₀), x'(t₀), …, x^{(q)}(t₀)` of `x'' = f(t, x, x')` through `[x₀, v₀]` (length `2d`), by
/// Taylor-mode automatic differentiation with nested duals.
pub fn taylor_coefficients_second_order<F: SecondOrderFunction>(
    f: &F,
    t0: f64,
    xv0: ArrayView1<'_, f64>,
    q: usize,
) -> Option<Vec<Array1<f64>>> {
    let d = f.dim();
    if q > MAX_TAYLOR_ORDER || xv0.len() != 2 * d {
        return None;
    }
    let mut coeffs = vec![
        xv0.slice(ndarray::s![..d]).to_owned(),
        xv0.slice(ndarray::s![d..]).to_owned(),
    ];
    for k in 2..=q {
        // x^{(k)} = d^{k−2}/dτ^{k−2} f(t₀ + τ, x(τ), x'(τ)), with x known through order k − 1.
        let next = derivative_with_depth(&SecondOrderJets(f), k - 2, t0, &coeffs);
        coeffs.push(next);
    }
    coeffs.truncate(q + 1);
    Some(coeffs)
}

/// A derivative along the solution, evaluated with jets of any depth.
trait AlongSolution {
    /// `dᵏ/dτᵏ f(…)` along the solution whose Taylor coefficients are `coeffs`, `k` the depth of
    /// `J`.
    fn derivative<J: Jet>(&self, t0: f64, coeffs: &[Array1<f64>]) -> Array1<f64>;
}

struct FirstOrderJets<'a, F>(&'a F);
impl<F: OdeFunction> AlongSolution for FirstOrderJets<'_, F> {
    fn derivative<J: Jet>(&self, t0: f64, coeffs: &[Array1<f64>]) -> Array1<f64> {
        jet_derivative::<F, J>(self.0, t0, coeffs)
    }
}

struct SecondOrderJets<'a, F>(&'a F);
impl<F: SecondOrderFunction> AlongSolution for SecondOrderJets<'_, F> {
    fn derivative<J: Jet>(&self, t0: f64, coeffs: &[Array1<f64>]) -> Array1<f64> {
        jet_derivative2::<F, J>(self.0, t0, coeffs)
    }
}

/// The `depth`-th derivative along the solution, with nested duals of that depth (at most 9).
fn derivative_with_depth<A: AlongSolution>(
    a: &A,
    depth: usize,
    t0: f64,
    coeffs: &[Array1<f64>],
) -> Array1<f64> {
    type D1 = Dual<f64>;
    type D2 = Dual<D1>;
    type D3 = Dual<D2>;
    type D4 = Dual<D3>;
    type D5 = Dual<D4>;
    type D6 = Dual<D5>;
    type D7 = Dual<D6>;
    type D8 = Dual<D7>;
    type D9 = Dual<D8>;
    match depth {
        0 => a.derivative::<f64>(t0, coeffs),
        1 => a.derivative::<D1>(t0, coeffs),
        2 => a.derivative::<D2>(t0, coeffs),
        3 => a.derivative::<D3>(t0, coeffs),
        4 => a.derivative::<D4>(t0, coeffs),
        5 => a.derivative::<D5>(t0, coeffs),
        6 => a.derivative::<D6>(t0, coeffs),
        7 => a.derivative::<D7>(t0, coeffs),
        8 => a.derivative::<D8>(t0, coeffs),
        _ => a.derivative::<D9>(t0, coeffs),
    }
}

/// The maximum order of exact Taylor initialisation (nested duals of depth 9: `2⁹` work).
pub const MAX_TAYLOR_ORDER: usize = 10;

/// `x(t₀), x'(t₀), …, x^{(q)}(t₀)` by Taylor-mode automatic differentiation with nested duals.
pub fn taylor_coefficients<F: OdeFunction>(
    f: &F,
    t0: f64,
    x0: ArrayView1<'_, f64>,
    q: usize,
) -> Option<Vec<Array1<f64>>> {
    if q > MAX_TAYLOR_ORDER {
        return None;
    }
    let mut coeffs = vec![x0.to_owned()];
    for k in 1..=q {
        // x^{(k)} = d^{k−1}/dτ^{k−1} f(t₀ + τ, x(τ)), with x known through order k − 1.
        let next = derivative_with_depth(&FirstOrderJets(f), k - 1, t0, &coeffs);
        coeffs.push(next);
    }
    Some(coeffs)
}

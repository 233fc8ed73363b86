//! Kernel embeddings: the kernel mean `z(x) = ∫ k(x, x') dp(x')` and the initial variance
//! `∫∫ k(x, x') dp(x) dp(x')`, in closed form.
//!
//! | kernel | measure | formula |
//! |---|---|---|
//! | squared exponential, `Λ = diag(ℓ²)` | `N(μ, Σ)` | `z(x) = σ² √(|Λ|/|Λ+Σ|) exp(−½ (x−μ)ᵀ(Λ+Σ)⁻¹(x−μ))`, `∫∫ = σ² √(|Λ|/|Λ+2Σ|)` |
//! | squared exponential | box | `Πₖ ℓₖ √(π/2) [erf((bₖ−xₖ)/(√2ℓₖ)) − erf((aₖ−xₖ)/(√2ℓₖ))]` |
//! | product Matérn ½, ³⁄₂, ⁵⁄₂ | box | `Πₖ [S(bₖ−xₖ) − S(aₖ−xₖ)]`, `S(u) = sign(u) ∫₀^{|u|} g(t/ℓ) dt` |
//! | Wiener, integrated Wiener | interval `[a, b]`, `a ≥ o` | piecewise polynomials |
//!
//! The double integrals over a box use `∫₀ʷ∫₀ʷ g(|x−y|) = 2 ∫₀ʷ (w − t) g(t) dt`.

use ndarray::{Array1, ArrayView1, ArrayView2};
use statrs::function::erf::{erf, erfc};

use crate::error::{Error, Result};
use crate::kernel::{KernelKind, MaternOrder, QuadKernel};
use crate::measure::{BoxDomain, GaussianMeasure, Measure};

const SQRT_PI_2: f64 = 1.253_314_137_315_500_3; // √(π/2)

/// The kernel mean `z(xᵢ) = ∫ k(xᵢ, x') dp(x')` at the rows of `x` (`n × d`).
///
/// Errors: shape mismatch or non-finite points ([`Error::Core`]), [`Error::NoEmbedding`] for a
/// kernel–measure pair without a closed form (Matérn or Wiener against a Gaussian, Wiener
/// kernels on a box that starts before their origin or has more than one dimension).
pub fn kernel_mean(
    kernel: &QuadKernel,
    measure: &Measure,
    x: ArrayView2<'_, f64>,
) -> Result<Array1<f64>> {
    check_pair(kernel, measure)?;
    check_points(measure.dim(), x)?;
    Ok(kernel_mean_unchecked(kernel, measure, x))
}

/// The initial variance `∫∫ k(x, x') dp(x) dp(x')` of the integral under the prior.
///
/// Errors as for [`kernel_mean`].
pub fn initial_variance(kernel: &QuadKernel, measure: &Measure) -> Result<f64> {
    check_pair(kernel, measure)?;
    Ok(initial_variance_unchecked(kernel, measure))
}

pub(crate) fn check_points(d: usize, x: ArrayView2<'_, f64>) -> Result<()> {
    if x.ncols() != d {
        return Err(pn_core::Error::ShapeMismatch {
            op: "points (columns = dimension)",
            expected: vec![x.nrows(), d],
            found: x.shape().to_vec(),
        }
        .into());
    }
    if let Some((i, v)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(pn_core::Error::NonFinite {
            what: "points",
            index: vec![i / d.max(1), i % d.max(1)],
            value: *v,
        }
        .into());
    }
    Ok(())
}

pub(crate) fn check_pair(kernel: &QuadKernel, measure: &Measure) -> Result<()> {
    kernel.check_dim(measure.dim())?;
    let none = || Error::NoEmbedding {
        kernel: kernel.name(),
        measure: measure.name(),
    };
    match (kernel.kind(), measure) {
        (KernelKind::SquaredExponential, _) => Ok(()),
        (KernelKind::ProductMatern(_), Measure::Lebesgue(_)) => Ok(()),
        (
            KernelKind::Wiener { origin, .. } | KernelKind::IntegratedWiener { origin },
            Measure::Lebesgue(b),
        ) => {
            if b.dim() == 1 && b.lower()[0] >= origin {
                Ok(())
            } else {
                Err(none())
            }
        }
        _ => Err(none()),
    }
}

pub(crate) fn kernel_mean_unchecked(
    kernel: &QuadKernel,
    measure: &Measure,
    x: ArrayView2<'_, f64>,
) -> Array1<f64> {
    let var = kernel.outputscale();
    match (kernel.kind(), measure) {
        (KernelKind::SquaredExponential, Measure::Gaussian(g)) => se_gauss_mean(kernel, g, x),
        (KernelKind::SquaredExponential, Measure::Lebesgue(b)) => {
            box_product(b, x, var, |k, lo, hi, xk| {
                se_interval(kernel.lengthscales()[k], lo, hi, xk)
            })
        }
        (KernelKind::ProductMatern(order), Measure::Lebesgue(b)) => {
            box_product(b, x, var, |k, lo, hi, xk| {
                let l = kernel.lengthscales()[k];
                matern_s(order, l, hi - xk) - matern_s(order, l, lo - xk)
            })
        }
        (KernelKind::Wiener { origin, offset }, Measure::Lebesgue(b)) => {
            let (a, c) = (b.lower()[0] - origin, b.upper()[0] - origin);
            x.column(0)
                .mapv(|s| var * wiener_mean(a, c, offset, s - origin))
        }
        (KernelKind::IntegratedWiener { origin }, Measure::Lebesgue(b)) => {
            let (a, c) = (b.lower()[0] - origin, b.upper()[0] - origin);
            x.column(0)
                .mapv(|s| var * iwp_mean(a, c, (s - origin).max(0.0)))
        }
        _ => unreachable!("checked by check_pair"),
    }
}

pub(crate) fn initial_variance_unchecked(kernel: &QuadKernel, measure: &Measure) -> f64 {
    let var = kernel.outputscale();
    match (kernel.kind(), measure) {
        (KernelKind::SquaredExponential, Measure::Gaussian(g)) => {
            let d = g.dim();
            let mut m = g.cov().to_owned() * 2.0;
            let mut logdet_l = 0.0;
            for k in 0..d {
                let l2 = kernel.lengthscales()[k].powi(2);
                m[[k, k]] += l2;
                logdet_l += l2.ln();
            }
            let c = pn_core::dense::cholesky(m.view()).expect("Λ + 2Σ is positive definite");
            var * (0.5 * (logdet_l - c.logdet())).exp()
        }
        (KernelKind::SquaredExponential, Measure::Lebesgue(b)) => {
            let mut p = var;
            for k in 0..b.dim() {
                let l = kernel.lengthscales()[k];
                let w = b.upper()[k] - b.lower()[k];
                let t = w / (std::f64::consts::SQRT_2 * l);
                // 2 [w ℓ √(π/2) erf(t) − ℓ² (1 − e^{−t²})]
                p *= 2.0 * (w * l * SQRT_PI_2 * erf(t) + l * l * (-t * t).exp_m1());
            }
            p
        }
        (KernelKind::ProductMatern(order), Measure::Lebesgue(b)) => {
            let mut p = var;
            for k in 0..b.dim() {
                let l = kernel.lengthscales()[k];
                let w = b.upper()[k] - b.lower()[k];
                p *= 2.0 * (w * matern_g(order, l, w) - matern_h(order, l, w));
            }
            p
        }
        (KernelKind::Wiener { .. } | KernelKind::IntegratedWiener { .. }, Measure::Lebesgue(b)) => {
            // z is a polynomial of degree ≤ 4 on the interval: three-point Gauss–Legendre is exact.
            let (lo, hi) = (b.lower()[0], b.upper()[0]);
            let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
            let r = (0.6f64).sqrt();
            let pts = ndarray::array![[mid - half * r], [mid], [mid + half * r]];
            let z = kernel_mean_unchecked(kernel, measure, pts.view());
            half * (5.0 / 9.0 * (z[0] + z[2]) + 8.0 / 9.0 * z[1])
        }
        _ => unreachable!("checked by check_pair"),
    }
}

/// `σ² Πₖ f(k, aₖ, bₖ, xₖ)` over the rows of `x`.
fn box_product(
    b: &BoxDomain,
    x: ArrayView2<'_, f64>,
    var: f64,
    f: impl Fn(usize, f64, f64, f64) -> f64,
) -> Array1<f64> {
    x.rows()
        .into_iter()
        .map(|r| {
            let mut p = var;
            for k in 0..r.len() {
                p *= f(k, b.lower()[k], b.upper()[k], r[k]);
            }
            p
        })
        .collect()
}

/// `∫_lo^hi exp(−(x − y)²/(2ℓ²)) dy`, using `erfc` where `erf` would cancel.
pub(crate) fn se_interval(l: f64, lo: f64, hi: f64, x: f64) -> f64 {
    let s = std::f64::consts::SQRT_2 * l;
    let (p, q) = ((lo - x) / s, (hi - x) / s); // p < q
    let diff = if p > 0.0 {
        erfc(p) - erfc(q)
    } else if q < 0.0 {
        erfc(-q) - erfc(-p)
    } else {
        erf(q) - erf(p)
    };
    l * SQRT_PI_2 * diff
}

fn se_gauss_mean(kernel: &QuadKernel, g: &GaussianMeasure, x: ArrayView2<'_, f64>) -> Array1<f64> {
    let d = g.dim();
    let mut m = g.cov().to_owned();
    let mut logdet_l = 0.0;
    for k in 0..d {
        let l2 = kernel.lengthscales()[k].powi(2);
        m[[k, k]] += l2;
        logdet_l += l2.ln();
    }
    let c = pn_core::dense::cholesky(m.view()).expect("Λ + Σ is positive definite");
    let scale = kernel.outputscale() * (0.5 * (logdet_l - c.logdet())).exp();
    let mut diff = x.t().to_owned();
    for mut col in diff.columns_mut() {
        col -= &g.mean();
    }
    let w = c.solve_l(diff.view()).expect("shapes agree");
    w.columns()
        .into_iter()
        .map(|col| scale * (-0.5 * col.dot(&col)).exp())
        .collect()
}

/// `G(u) = ∫₀ᵘ g(t/ℓ) dt` for the one-dimensional Matérn profile, `u ≥ 0`.
fn matern_g(order: MaternOrder, l: f64, u: f64) -> f64 {
    let c = order.rate() / l;
    let v = c * u;
    let e = (-v).exp();
    match order {
        MaternOrder::Half => -l * (-v).exp_m1(),
        MaternOrder::ThreeHalves => (2.0 - (2.0 + v) * e) / c,
        MaternOrder::FiveHalves => (8.0 - (8.0 + 5.0 * v + v * v) * e) / (3.0 * c),
    }
}

/// `H(u) = ∫₀ᵘ t g(t/ℓ) dt`, `u ≥ 0`.
fn matern_h(order: MaternOrder, l: f64, u: f64) -> f64 {
    let c = order.rate() / l;
    let v = c * u;
    let e = (-v).exp();
    match order {
        MaternOrder::Half => l * l * (1.0 - (1.0 + v) * e),
        MaternOrder::ThreeHalves => (3.0 - (3.0 + 3.0 * v + v * v) * e) / (c * c),
        MaternOrder::FiveHalves => {
            (15.0 - (15.0 + 15.0 * v + 6.0 * v * v + v * v * v) * e) / (3.0 * c * c)
        }
    }
}

/// `S(u) = sign(u) G(|u|)`, so that `∫_a^b g(|x − y|/ℓ) dy = S(b − x) − S(a − x)`.
fn matern_s(order: MaternOrder, l: f64, u: f64) -> f64 {
    u.signum() * matern_g(order, l, u.abs())
}

/// `∫_a^c (offset + min(u, v)) dv` for `0 ≤ a < c`, `u ≥ 0`.
fn wiener_mean(a: f64, c: f64, offset: f64, u: f64) -> f64 {
    let u = u.max(0.0);
    let m = u.clamp(a, c);
    offset * (c - a) + 0.5 * (m * m - a * a) + u * (c - m)
}

/// `∫_a^c (m³/3 + |u − v| m²/2) dv`, `m = min(u, v)`, for `0 ≤ a < c`, `u ≥ 0`.
fn iwp_mean(a: f64, c: f64, u: f64) -> f64 {
    let m = u.clamp(a, c);
    let f1 = |v: f64| u * v.powi(3) / 6.0 - v.powi(4) / 24.0; // v ≤ u
    let f2 = |v: f64| u * u * v * v / 4.0 - u.powi(3) * v / 6.0; // v ≥ u
    (f1(m) - f1(a)) + (f2(c) - f2(m))
}

/// `∫ φ dp` for the basis `φ = (1, x₁, …, x_d)` of a diffuse linear prior mean.
pub(crate) fn basis_integrals(measure: &Measure, degree: usize) -> Array1<f64> {
    let mass = measure.total_mass();
    let c = measure.centre();
    let mut h = vec![mass];
    if degree >= 1 {
        h.extend(c.iter().map(|v| v * mass));
    }
    Array1::from(h)
}

/// Basis values `(1, x₁, …, x_d)` at a point.
pub(crate) fn basis_row(x: ArrayView1<'_, f64>, degree: usize) -> Vec<f64> {
    let mut h = vec![1.0];
    if degree >= 1 {
        h.extend(x.iter().copied());
    }
    h
}

//! Test integrands with closed-form integrals: Genz's six families on `[0, 1]ᵈ` and Gaussian
//! integrands against Gaussian measures.
//!
//! Genz (1984), "Testing multidimensional integration routines". With difficulty parameters
//! `aₖ > 0` and shifts `uₖ ∈ [0, 1]`:
//!
//! | family | `f(x)` | `∫_{[0,1]ᵈ} f` |
//! |---|---|---|
//! | oscillatory | `cos(2π u₁ + Σ aₖ xₖ)` | `Re[e^{2πiu₁} Πₖ (e^{iaₖ} − 1)/(iaₖ)]` |
//! | product peak | `Πₖ (aₖ⁻² + (xₖ − uₖ)²)⁻¹` | `Πₖ aₖ [atan(aₖ(1 − uₖ)) + atan(aₖuₖ)]` |
//! | corner peak | `(1 + Σ aₖxₖ)^{−(d+1)}` | `(d! Πaₖ)⁻¹ Σ_{v∈{0,1}ᵈ} (−1)^{|v|} / (1 + a·v)` |
//! | gaussian | `exp(−Σ aₖ²(xₖ − uₖ)²)` | `Πₖ √π/(2aₖ) [erf(aₖ(1 − uₖ)) + erf(aₖuₖ)]` |
//! | continuous | `exp(−Σ aₖ|xₖ − uₖ|)` | `Πₖ aₖ⁻¹ [2 − e^{−aₖuₖ} − e^{−aₖ(1−uₖ)}]` |
//! | discontinuous | `0` if `x₁ > u₁` or `x₂ > u₂`, else `exp(Σ aₖxₖ)` | `Πₖ (e^{aₖcₖ} − 1)/aₖ`, `cₖ = uₖ` for `k ≤ 2`, else 1 |

use ndarray::{Array1, Array2, ArrayView1};
use rand::Rng;
use statrs::function::erf::erf;

use crate::error::Result;
use crate::measure::{BoxDomain, GaussianMeasure, Measure};

/// A Genz family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GenzFamily {
    /// `cos(2π u₁ + Σ aₖ xₖ)`.
    Oscillatory,
    /// `Πₖ (aₖ⁻² + (xₖ − uₖ)²)⁻¹`.
    ProductPeak,
    /// `(1 + Σ aₖxₖ)^{−(d+1)}`.
    CornerPeak,
    /// `exp(−Σ aₖ²(xₖ − uₖ)²)`.
    Gaussian,
    /// `exp(−Σ aₖ|xₖ − uₖ|)`.
    Continuous,
    /// `exp(Σ aₖxₖ)` on `x₁ ≤ u₁, x₂ ≤ u₂`, else 0.
    Discontinuous,
}

impl GenzFamily {
    /// All six, in Genz's order.
    pub const ALL: [GenzFamily; 6] = [
        Self::Oscillatory,
        Self::ProductPeak,
        Self::CornerPeak,
        Self::Gaussian,
        Self::Continuous,
        Self::Discontinuous,
    ];

    /// Name used by the CLI (`oscillatory`, `product-peak`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Oscillatory => "oscillatory",
            Self::ProductPeak => "product-peak",
            Self::CornerPeak => "corner-peak",
            Self::Gaussian => "gaussian",
            Self::Continuous => "continuous",
            Self::Discontinuous => "discontinuous",
        }
    }

    /// Parse a [`name`](Self::name).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Whether the integrand is infinitely smooth.
    pub fn is_smooth(self) -> bool {
        !matches!(self, Self::Continuous | Self::Discontinuous)
    }

    /// The default total difficulty `Σ aₖ` (moderate values of Genz's tables, scaled so that
    /// the problems stay comparable across dimensions).
    pub fn default_difficulty(self, d: usize) -> f64 {
        let d = d as f64;
        match self {
            Self::Oscillatory => 4.5 * d.sqrt(),
            Self::ProductPeak => 5.0 * d,
            Self::CornerPeak => 1.85 * d,
            Self::Gaussian => 5.0 * d,
            Self::Continuous => 2.0 * d,
            Self::Discontinuous => 1.0 * d,
        }
    }

    /// A problem instance with explicit `a` and `u` (each of length `d ≥ 1`).
    pub fn instance(self, a: Vec<f64>, u: Vec<f64>) -> Result<GenzProblem> {
        if a.is_empty() || a.len() != u.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "GenzFamily::instance",
                expected: vec![a.len().max(1)],
                found: vec![u.len()],
            }
            .into());
        }
        for &v in &a {
            pn_core::validate::positive("a", v)?;
        }
        for &v in &u {
            if !(0.0..=1.0).contains(&v) {
                return Err(pn_core::Error::InvalidParameter {
                    name: "u",
                    value: v,
                    reason: "must lie in [0, 1]",
                }
                .into());
            }
        }
        Ok(GenzProblem { family: self, a, u })
    }

    /// A random instance in `d` dimensions: `u ~ U[0, 1]ᵈ`, `aₖ ∝ wₖ ~ U[0.5, 1.5]` scaled so
    /// that `Σ aₖ = difficulty` (Genz's normalisation). For the discontinuous family `u₁, u₂`
    /// are drawn from `[0.2, 0.8]` so that the integral is not negligibly small.
    pub fn random<R: Rng + ?Sized>(
        self,
        d: usize,
        difficulty: f64,
        rng: &mut R,
    ) -> Result<GenzProblem> {
        if d == 0 {
            return Err(pn_core::Error::Empty { what: "dimension" }.into());
        }
        pn_core::validate::positive("difficulty", difficulty)?;
        let w: Vec<f64> = (0..d).map(|_| rng.random_range(0.5..1.5)).collect();
        let s: f64 = w.iter().sum();
        let a = w.iter().map(|v| v * difficulty / s).collect();
        let u = (0..d)
            .map(|k| {
                if self == Self::Discontinuous && k < 2 {
                    rng.random_range(0.2..0.8)
                } else {
                    rng.random::<f64>()
                }
            })
            .collect();
        self.instance(a, u)
    }
}

/// One Genz integrand on `[0, 1]ᵈ` with its exact integral.
#[derive(Debug, Clone, PartialEq)]
pub struct GenzProblem {
    /// The family.
    pub family: GenzFamily,
    /// Difficulty parameters `aₖ`.
    pub a: Vec<f64>,
    /// Shift parameters `uₖ`.
    pub u: Vec<f64>,
}

impl GenzProblem {
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.a.len()
    }

    /// The domain `[0, 1]ᵈ` as a measure.
    pub fn measure(&self) -> Measure {
        BoxDomain::unit(self.dim()).expect("d ≥ 1").into()
    }

    /// `f(x)`.
    pub fn eval(&self, x: ArrayView1<'_, f64>) -> f64 {
        let (a, u) = (&self.a, &self.u);
        match self.family {
            GenzFamily::Oscillatory => (2.0 * std::f64::consts::PI * u[0]
                + x.iter().zip(a).map(|(x, a)| a * x).sum::<f64>())
            .cos(),
            GenzFamily::ProductPeak => x
                .iter()
                .zip(a.iter().zip(u))
                .map(|(x, (a, u))| 1.0 / (a.powi(-2) + (x - u).powi(2)))
                .product(),
            GenzFamily::CornerPeak => (1.0 + x.iter().zip(a).map(|(x, a)| a * x).sum::<f64>())
                .powi(-(self.dim() as i32 + 1)),
            GenzFamily::Gaussian => (-x
                .iter()
                .zip(a.iter().zip(u))
                .map(|(x, (a, u))| (a * (x - u)).powi(2))
                .sum::<f64>())
            .exp(),
            GenzFamily::Continuous => (-x
                .iter()
                .zip(a.iter().zip(u))
                .map(|(x, (a, u))| a * (x - u).abs())
                .sum::<f64>())
            .exp(),
            GenzFamily::Discontinuous => {
                if x[0] > u[0] || (self.dim() > 1 && x[1] > u[1]) {
                    0.0
                } else {
                    x.iter().zip(a).map(|(x, a)| a * x).sum::<f64>().exp()
                }
            }
        }
    }

    /// The exact integral over `[0, 1]ᵈ`.
    pub fn integral(&self) -> f64 {
        let (a, u) = (&self.a, &self.u);
        let d = self.dim();
        match self.family {
            GenzFamily::Oscillatory => {
                // Complex product: (e^{ia} − 1)/(ia) = (sin a + i(1 − cos a))/a.
                let (mut re, mut im) = (
                    (2.0 * std::f64::consts::PI * u[0]).cos(),
                    (2.0 * std::f64::consts::PI * u[0]).sin(),
                );
                for &ak in a {
                    let (cr, ci) = (ak.sin() / ak, (1.0 - ak.cos()) / ak);
                    (re, im) = (re * cr - im * ci, re * ci + im * cr);
                }
                re
            }
            GenzFamily::ProductPeak => a
                .iter()
                .zip(u)
                .map(|(a, u)| a * ((a * (1.0 - u)).atan() + (a * u).atan()))
                .product(),
            GenzFamily::CornerPeak => {
                let mut s = 0.0;
                for v in 0..(1usize << d) {
                    let mut dot = 0.0;
                    let mut bits = 0;
                    for k in 0..d {
                        if v >> k & 1 == 1 {
                            dot += a[k];
                            bits += 1;
                        }
                    }
                    let sign = if bits % 2 == 0 { 1.0 } else { -1.0 };
                    s += sign / (1.0 + dot);
                }
                let fact: f64 = (1..=d).map(|k| k as f64).product();
                s / (fact * a.iter().product::<f64>())
            }
            GenzFamily::Gaussian => a
                .iter()
                .zip(u)
                .map(|(a, u)| {
                    std::f64::consts::PI.sqrt() / (2.0 * a) * (erf(a * (1.0 - u)) + erf(a * u))
                })
                .product(),
            GenzFamily::Continuous => a
                .iter()
                .zip(u)
                .map(|(a, u)| (2.0 - (-a * u).exp() - (-a * (1.0 - u)).exp()) / a)
                .product(),
            GenzFamily::Discontinuous => (0..d)
                .map(|k| {
                    let c = if k < 2 { u[k] } else { 1.0 };
                    (a[k] * c).exp_m1() / a[k]
                })
                .product(),
        }
    }
}

/// `f(x) = exp(−½ (x − c)ᵀ B⁻¹ (x − c))` against `N(μ, Σ)`, with the integral
/// `√(|B| / |B + Σ|) exp(−½ (μ − c)ᵀ (B + Σ)⁻¹ (μ − c))`.
#[derive(Debug, Clone)]
pub struct GaussianIntegrand {
    centre: Array1<f64>,
    b_chol: pn_core::dense::Cholesky,
    measure: GaussianMeasure,
    integral: f64,
}

impl GaussianIntegrand {
    /// The integrand with centre `c` and (positive definite) width matrix `B`, against `measure`.
    pub fn new(centre: Array1<f64>, b: Array2<f64>, measure: GaussianMeasure) -> Result<Self> {
        let d = measure.dim();
        if centre.len() != d || b.dim() != (d, d) {
            return Err(pn_core::Error::ShapeMismatch {
                op: "GaussianIntegrand::new",
                expected: vec![d, d],
                found: b.shape().to_vec(),
            }
            .into());
        }
        let b_chol = pn_core::dense::cholesky(b.view())?;
        let sum = &b + &measure.cov();
        let s_chol = pn_core::dense::cholesky(sum.view())?;
        let diff = &measure.mean() - &centre;
        let w = s_chol.solve(diff.view())?;
        let integral = (0.5 * (b_chol.logdet() - s_chol.logdet()) - 0.5 * diff.dot(&w)).exp();
        Ok(Self {
            centre,
            b_chol,
            measure,
            integral,
        })
    }

    /// The measure.
    pub fn measure(&self) -> Measure {
        self.measure.clone().into()
    }

    /// `f(x)`.
    pub fn eval(&self, x: ArrayView1<'_, f64>) -> f64 {
        let diff = (&x - &self.centre).insert_axis(ndarray::Axis(1));
        let w = self.b_chol.solve_l(diff.view()).expect("shapes agree");
        (-0.5 * w.iter().map(|v| v * v).sum::<f64>()).exp()
    }

    /// The exact integral.
    pub fn integral(&self) -> f64 {
        self.integral
    }
}

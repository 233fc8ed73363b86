//! Integration measures: Lebesgue measure on a box and Gaussian measures `N(μ, Σ)`.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use pn_core::dense::{self, Cholesky};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::{Error, Result};

/// Lebesgue measure on the box `[a₁, b₁] × … × [a_d, b_d]` (an interval when `d = 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct BoxDomain {
    lower: Array1<f64>,
    upper: Array1<f64>,
}

impl BoxDomain {
    /// The box with corners `lower` and `upper`.
    ///
    /// Errors: [`Error::Core`] with a shape mismatch or a non-finite bound,
    /// [`Error::DegenerateMeasure`] for no dimensions or a side with `bₖ ≤ aₖ`.
    pub fn new(lower: impl Into<Array1<f64>>, upper: impl Into<Array1<f64>>) -> Result<Self> {
        let (lower, upper) = (lower.into(), upper.into());
        if lower.len() != upper.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "BoxDomain::new",
                expected: vec![lower.len()],
                found: vec![upper.len()],
            }
            .into());
        }
        if lower.is_empty() {
            return Err(Error::DegenerateMeasure {
                reason: "box with no dimensions".into(),
            });
        }
        for (what, v) in [("lower", &lower), ("upper", &upper)] {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(pn_core::Error::NonFinite {
                    what,
                    index: vec![i],
                    value: v[i],
                }
                .into());
            }
        }
        if let Some(k) = (0..lower.len()).find(|&k| upper[k] <= lower[k]) {
            return Err(Error::DegenerateMeasure {
                reason: format!(
                    "box side {k} has zero or negative width: [{}, {}]",
                    lower[k], upper[k]
                ),
            });
        }
        Ok(Self { lower, upper })
    }

    /// The unit cube `[0, 1]ᵈ`.
    pub fn unit(d: usize) -> Result<Self> {
        Self::new(Array1::zeros(d), Array1::ones(d))
    }

    /// The interval `[a, b]`.
    pub fn interval(a: f64, b: f64) -> Result<Self> {
        Self::new(ndarray::array![a], ndarray::array![b])
    }

    /// Lower corner.
    pub fn lower(&self) -> ArrayView1<'_, f64> {
        self.lower.view()
    }

    /// Upper corner.
    pub fn upper(&self) -> ArrayView1<'_, f64> {
        self.upper.view()
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.lower.len()
    }

    /// Volume `Πₖ (bₖ − aₖ)`.
    pub fn volume(&self) -> f64 {
        (&self.upper - &self.lower).product()
    }
}

/// The Gaussian measure `N(μ, Σ)` with a full, positive definite covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMeasure {
    mean: Array1<f64>,
    cov: Array2<f64>,
    chol: Cholesky,
}

impl GaussianMeasure {
    /// `N(mean, cov)`.
    ///
    /// Errors: shape mismatch or non-finite entries ([`Error::Core`]),
    /// [`Error::DegenerateMeasure`] for no dimensions or a covariance that is not positive
    /// definite (a degenerate Gaussian has no density to integrate against).
    pub fn new(mean: impl Into<Array1<f64>>, cov: Array2<f64>) -> Result<Self> {
        let mean = mean.into();
        if mean.is_empty() {
            return Err(Error::DegenerateMeasure {
                reason: "Gaussian with no dimensions".into(),
            });
        }
        let d = mean.len();
        if cov.dim() != (d, d) {
            return Err(pn_core::Error::ShapeMismatch {
                op: "GaussianMeasure::new",
                expected: vec![d, d],
                found: cov.shape().to_vec(),
            }
            .into());
        }
        if let Some(i) = mean.iter().position(|x| !x.is_finite()) {
            return Err(pn_core::Error::NonFinite {
                what: "mean",
                index: vec![i],
                value: mean[i],
            }
            .into());
        }
        let chol = match dense::cholesky(cov.view()) {
            Ok(c) => c,
            Err(pn_core::Error::NotPositiveDefinite { pivot }) => {
                return Err(Error::DegenerateMeasure {
                    reason: format!("covariance is not positive definite (pivot {pivot})"),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let scale = cov.diag().iter().fold(0.0f64, |m, v| m.max(*v));
        let min_pivot = chol
            .l()
            .diag()
            .iter()
            .fold(f64::INFINITY, |m, v| m.min(v * v));
        if min_pivot <= 1e-14 * scale {
            return Err(Error::DegenerateMeasure {
                reason: format!(
                    "covariance is numerically singular (smallest pivot {min_pivot:e} against scale {scale:e})"
                ),
            });
        }
        Ok(Self { mean, cov, chol })
    }

    /// The standard normal `N(0, I)` in `d` dimensions.
    pub fn standard(d: usize) -> Result<Self> {
        Self::new(Array1::zeros(d), Array2::eye(d))
    }

    /// `N(mean, diag(variances))`.
    pub fn diagonal(
        mean: impl Into<Array1<f64>>,
        variances: impl Into<Array1<f64>>,
    ) -> Result<Self> {
        Self::new(mean, Array2::from_diag(&variances.into()))
    }

    /// Mean `μ`.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// Covariance `Σ`.
    pub fn cov(&self) -> ArrayView2<'_, f64> {
        self.cov.view()
    }

    /// Lower Cholesky factor of `Σ`.
    pub fn cholesky(&self) -> &Cholesky {
        &self.chol
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}

/// A measure to integrate against: `∫ f dp`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Measure {
    /// Lebesgue measure on a box (total mass = the volume).
    Lebesgue(BoxDomain),
    /// A Gaussian probability measure.
    Gaussian(GaussianMeasure),
}

impl From<BoxDomain> for Measure {
    fn from(b: BoxDomain) -> Self {
        Self::Lebesgue(b)
    }
}

impl From<GaussianMeasure> for Measure {
    fn from(g: GaussianMeasure) -> Self {
        Self::Gaussian(g)
    }
}

impl Measure {
    /// Dimension of the space.
    pub fn dim(&self) -> usize {
        match self {
            Self::Lebesgue(b) => b.dim(),
            Self::Gaussian(g) => g.dim(),
        }
    }

    /// Total mass `∫ dp`: the volume of a box, 1 for a Gaussian.
    pub fn total_mass(&self) -> f64 {
        match self {
            Self::Lebesgue(b) => b.volume(),
            Self::Gaussian(_) => 1.0,
        }
    }

    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Lebesgue(_) => "Lebesgue measure on a box",
            Self::Gaussian(_) => "Gaussian measure",
        }
    }

    /// The mean `∫ x dp / ∫ dp` (centre of the box, or `μ`).
    pub fn centre(&self) -> Array1<f64> {
        match self {
            Self::Lebesgue(b) => (&b.lower + &b.upper) * 0.5,
            Self::Gaussian(g) => g.mean.clone(),
        }
    }

    /// Map points of the unit cube `(0, 1)ᵈ` (rows of `u`) to the measure: affinely onto a box,
    /// or by the inverse normal CDF and `μ + L z` onto a Gaussian. Uniform points map to
    /// points distributed as `p / ∫ dp`.
    pub fn from_unit_cube(&self, u: ArrayView2<'_, f64>) -> Array2<f64> {
        match self {
            Self::Lebesgue(b) => {
                let w = &b.upper - &b.lower;
                let mut x = u.to_owned();
                for mut r in x.rows_mut() {
                    r *= &w;
                    r += &b.lower;
                }
                x
            }
            Self::Gaussian(g) => {
                let z = u.mapv(|v| {
                    let v = v.clamp(1e-300, 1.0 - f64::EPSILON / 2.0);
                    std::f64::consts::SQRT_2 * statrs::function::erf::erf_inv(2.0 * v - 1.0)
                });
                let mut x = z.dot(&g.chol.l().t());
                for mut r in x.rows_mut() {
                    r += &g.mean;
                }
                x
            }
        }
    }

    /// `n` independent draws from `p / ∫ dp` (rows).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Array2<f64> {
        let d = self.dim();
        match self {
            Self::Lebesgue(_) => {
                let u = Array2::from_shape_simple_fn((n, d), || rng.random::<f64>());
                self.from_unit_cube(u.view())
            }
            Self::Gaussian(g) => {
                let z =
                    Array2::from_shape_simple_fn((n, d), || rng.sample::<f64, _>(StandardNormal));
                let mut x = z.dot(&g.chol.l().t());
                for mut r in x.rows_mut() {
                    r += &g.mean;
                }
                x
            }
        }
    }

    /// The density of `p` with respect to Lebesgue measure at `x` (1 inside a box, 0 outside).
    pub fn density(&self, x: ArrayView1<'_, f64>) -> f64 {
        match self {
            Self::Lebesgue(b) => {
                let inside = x
                    .iter()
                    .zip(b.lower.iter().zip(&b.upper))
                    .all(|(v, (a, c))| v >= a && v <= c);
                if inside { 1.0 } else { 0.0 }
            }
            Self::Gaussian(g) => {
                let diff = (&x - &g.mean).insert_axis(ndarray::Axis(1));
                let w = g.chol.solve_l(diff.view()).expect("shapes agree");
                let q: f64 = w.iter().map(|v| v * v).sum();
                let d = g.dim() as f64;
                (-0.5 * q - 0.5 * g.chol.logdet() - 0.5 * d * (2.0 * std::f64::consts::PI).ln())
                    .exp()
            }
        }
    }
}

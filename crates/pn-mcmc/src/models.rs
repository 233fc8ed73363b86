//! A catalogue of standard targets with known answers (where they exist) and known
//! difficulties, for tests, benchmarks and the `pn mcmc` command.
//!
//! | name | d | what | truth |
//! |---|---|---|---|
//! | `gauss100` | 100 | Gaussian, random rotation, covariance eigenvalues 10⁻²…10² (condition number 10⁴) | mean 0, sds from Σ |
//! | `diag100` | 100 | the same eigenvalues on the diagonal | mean 0, sds 10⁻¹…10 |
//! | `corr10` | 10 | unit variances, all correlations 0.9 | mean 0, sd 1 |
//! | `funnel` | 10 | Neal's funnel, centred: `v ~ N(0, 3²)`, `xᵢ ~ N(0, eᵛ)` (hard) | v: sd 3, 5 % quantile −4.93; xᵢ: sd e^{2.25} |
//! | `funnel-nc` | 10 | the same funnel, non-centred (`v = 3ṽ`, `xᵢ = e^{v/2} x̃ᵢ`) | as above |
//! | `banana` | 2 | twisted Gaussian, b = 0.1 (hard) | sds 10 and √201 ≈ 14.18 |
//! | `banana-mild` | 2 | twisted Gaussian, b = 0.02 | sds 10 and 3 |
//! | `eight-schools` | 10 | eight schools, non-centred (Rubin 1981) | — |
//! | `logistic` | 31 | Bayesian logistic regression, Wisconsin breast-cancer data (569 × 30, standardised) | — |

use std::sync::Arc;

use ndarray::Array2;
use num_dual::DualNum;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};
use crate::fit::Fit;
use crate::target::{AutoDiff, DualDensity, LogDensity};

/// The names of the catalogue's models.
pub const NAMES: &[&str] = &[
    "gauss100",
    "diag100",
    "corr10",
    "funnel",
    "funnel-nc",
    "banana",
    "banana-mild",
    "eight-schools",
    "logistic",
];

/// Known posterior means and standard deviations of a model's reported quantities.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Truth {
    /// Means.
    pub mean: Vec<f64>,
    /// Standard deviations.
    pub sd: Vec<f64>,
}

/// Maps sampled (unconstrained) coordinates to the reported quantities.
pub type Transform = Arc<dyn Fn(&[f64]) -> Vec<f64> + Send + Sync>;

/// A catalogue model: the target, names, an optional transform to natural parameters, and the
/// truth where known.
#[non_exhaustive]
pub struct Model {
    /// The catalogue name.
    pub name: &'static str,
    /// One line on what it is and why it is there.
    pub description: String,
    /// The density of the sampled coordinates.
    pub target: Arc<dyn LogDensity>,
    /// Names of the sampled coordinates.
    pub param_names: Vec<String>,
    /// Names of the reported quantities (after the transform).
    pub output_names: Vec<String>,
    /// Sampled coordinates → reported quantities (identity if `None`).
    pub transform: Option<Transform>,
    /// Truth of the reported quantities, where known.
    pub truth: Option<Truth>,
    /// Whether the model is a known hard case (where a silent wrong answer is the risk).
    pub hard: bool,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("dim", &self.target.dim())
            .finish()
    }
}

impl Model {
    /// The reported quantities of a fit of [`Model::target`] (names and transform applied).
    pub fn report(&self, fit: &Fit) -> Result<Fit> {
        match &self.transform {
            Some(t) => fit.map_draws(self.output_names.clone(), |x| t(x)),
            None => fit.clone().with_names(self.output_names.clone()),
        }
    }
}

/// The catalogue model called `name` (see [`NAMES`]).
pub fn model(name: &str) -> Result<Model> {
    match name {
        "gauss100" => Ok(rotated_gaussian(100, 1e4, 7)),
        "diag100" => Ok(diagonal_gaussian(100, 1e4)),
        "corr10" => Ok(equicorrelated_gaussian(10, 0.9)),
        "funnel" => Ok(funnel(10, true)),
        "funnel-nc" => Ok(funnel(10, false)),
        "banana" => Ok(banana(0.1)),
        "banana-mild" => Ok(banana(0.02)),
        "eight-schools" => Ok(eight_schools()),
        "logistic" => logistic_breast_cancer(),
        _ => Err(Error::UnknownModel(name.to_string())),
    }
}

fn names(prefix: &str, d: usize) -> Vec<String> {
    (0..d).map(|i| format!("{prefix}[{i}]")).collect()
}

/// A Gaussian `N(0, Σ)` with dense precision `P = Σ⁻¹`: `log p = −½ xᵀ P x`, `∇ = −P x`.
#[derive(Debug, Clone)]
pub struct DenseGaussian {
    prec: Array2<f64>,
}

impl DenseGaussian {
    /// From a covariance matrix (Cholesky-inverted; an error if not positive definite).
    pub fn from_cov(cov: &Array2<f64>) -> Result<Self> {
        let d = cov.nrows();
        let chol = pn_core::dense::cholesky(cov.view())?;
        let prec = chol.solve_mat(Array2::eye(d).view())?;
        // Standard (row-major) layout for the row dot products.
        let prec = Array2::from_shape_vec((d, d), prec.iter().copied().collect()).expect("d × d");
        Ok(Self { prec })
    }
}

impl LogDensity for DenseGaussian {
    fn dim(&self) -> usize {
        self.prec.nrows()
    }
    fn logp(&self, x: &[f64]) -> f64 {
        let mut g = vec![0.0; x.len()];
        self.logp_and_grad(x, &mut g)
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let d = x.len();
        let mut lp = 0.0;
        let prec = self.prec.as_slice().expect("standard layout");
        for i in 0..d {
            let s = crate::hmc::dot(&prec[i * d..(i + 1) * d], x);
            grad[i] = -s;
            lp -= 0.5 * x[i] * s;
        }
        lp
    }
}

/// `N(0, diag(var))`.
#[derive(Debug, Clone)]
pub struct DiagGaussian {
    /// The variances.
    pub var: Vec<f64>,
}

impl LogDensity for DiagGaussian {
    fn dim(&self) -> usize {
        self.var.len()
    }
    fn logp(&self, x: &[f64]) -> f64 {
        x.iter().zip(&self.var).map(|(a, v)| -0.5 * a * a / v).sum()
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let mut lp = 0.0;
        for i in 0..x.len() {
            grad[i] = -x[i] / self.var[i];
            lp -= 0.5 * x[i] * x[i] / self.var[i];
        }
        lp
    }
}

fn log_spaced(d: usize, cond: f64) -> Vec<f64> {
    // Variances from cond^(−1/2) to cond^(1/2).
    (0..d)
        .map(|i| cond.powf(i as f64 / (d.max(2) - 1) as f64 - 0.5))
        .collect()
}

/// `N(0, Q diag(λ) Qᵀ)` with `λ` log-spaced over a condition number `cond` around 1 and `Q` a
/// random rotation (QR of a seeded Gaussian matrix).
pub fn rotated_gaussian(d: usize, cond: f64, seed: u64) -> Model {
    let lam = log_spaced(d, cond);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let g = Array2::from_shape_fn((d, d), |_| StandardNormal.sample(&mut rng));
    let (q, _) = pn_core::dense::qr(g.view()).expect("a Gaussian matrix has a QR factorisation");
    let cov = Array2::from_shape_fn((d, d), |(i, j)| {
        (0..d).map(|k| q[[i, k]] * lam[k] * q[[j, k]]).sum::<f64>()
    });
    let sd = (0..d).map(|i| cov[[i, i]].sqrt()).collect();
    let target = DenseGaussian::from_cov(&cov).expect("positive definite by construction");
    Model {
        name: "gauss100",
        description: format!(
            "{d}-d Gaussian, random rotation, eigenvalues {:.0e}..{:.0e} (condition number {cond:.0e})",
            lam[0],
            lam[d - 1]
        ),
        target: Arc::new(target),
        param_names: names("x", d),
        output_names: names("x", d),
        transform: None,
        truth: Some(Truth {
            mean: vec![0.0; d],
            sd,
        }),
        hard: false,
    }
}

/// `N(0, diag(λ))` with `λ` log-spaced over a condition number `cond` around 1.
pub fn diagonal_gaussian(d: usize, cond: f64) -> Model {
    let lam = log_spaced(d, cond);
    Model {
        name: "diag100",
        description: format!(
            "{d}-d diagonal Gaussian, variances {:.0e}..{:.0e}",
            lam[0],
            lam[d - 1]
        ),
        truth: Some(Truth {
            mean: vec![0.0; d],
            sd: lam.iter().map(|v| v.sqrt()).collect(),
        }),
        target: Arc::new(DiagGaussian { var: lam }),
        param_names: names("x", d),
        output_names: names("x", d),
        transform: None,
        hard: false,
    }
}

/// `N(0, Σ)` with unit variances and all correlations `rho`.
pub fn equicorrelated_gaussian(d: usize, rho: f64) -> Model {
    let cov = Array2::from_shape_fn((d, d), |(i, j)| if i == j { 1.0 } else { rho });
    Model {
        name: "corr10",
        description: format!("{d}-d Gaussian, unit variances, all correlations {rho}"),
        target: Arc::new(
            DenseGaussian::from_cov(&cov).expect("positive definite for -1/(d-1) < rho < 1"),
        ),
        param_names: names("x", d),
        output_names: names("x", d),
        transform: None,
        truth: Some(Truth {
            mean: vec![0.0; d],
            sd: vec![1.0; d],
        }),
        hard: false,
    }
}

/// Neal's funnel: `v ~ N(0, 3²)`, `xᵢ | v ~ N(0, eᵛ)`, `i = 1 … d−1`.
#[derive(Debug, Clone, Copy)]
pub struct Funnel {
    /// Total dimension (v and d − 1 x's).
    pub dim: usize,
}

impl LogDensity for Funnel {
    fn dim(&self) -> usize {
        self.dim
    }
    fn logp(&self, x: &[f64]) -> f64 {
        let mut g = vec![0.0; x.len()];
        self.logp_and_grad(x, &mut g)
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let v = x[0];
        let k = (x.len() - 1) as f64;
        let e = (-v).exp();
        let ss: f64 = x[1..].iter().map(|a| a * a).sum();
        grad[0] = -v / 9.0 + 0.5 * ss * e - 0.5 * k;
        for i in 1..x.len() {
            grad[i] = -x[i] * e;
        }
        -v * v / 18.0 - 0.5 * ss * e - 0.5 * k * v
    }
}

/// Neal's funnel in `d` dimensions, centred (hard: the neck needs step sizes the mouth does
/// not) or non-centred (`ṽ, x̃ ~ N(0, 1)`, reported as `v = 3ṽ`, `xᵢ = e^{v/2} x̃ᵢ`).
pub fn funnel(d: usize, centred: bool) -> Model {
    let mut out = vec!["v".to_string()];
    out.extend((1..d).map(|i| format!("x[{i}]")));
    let truth = Some(Truth {
        mean: vec![0.0; d],
        sd: std::iter::once(3.0)
            .chain(std::iter::repeat_n((4.5f64).exp().sqrt(), d - 1))
            .collect(),
    });
    if centred {
        Model {
            name: "funnel",
            description: format!(
                "Neal's funnel, centred, d = {d}: v ~ N(0, 9), x_i ~ N(0, e^v) (hard)"
            ),
            target: Arc::new(Funnel { dim: d }),
            param_names: out.clone(),
            output_names: out,
            transform: None,
            truth,
            hard: true,
        }
    } else {
        let mut pn = vec!["v_raw".to_string()];
        pn.extend((1..d).map(|i| format!("x_raw[{i}]")));
        Model {
            name: "funnel-nc",
            description: format!(
                "Neal's funnel, non-centred, d = {d}: v = 3 v_raw, x_i = e^(v/2) x_raw_i with standard normal raws"
            ),
            target: Arc::new(DiagGaussian { var: vec![1.0; d] }),
            param_names: pn,
            output_names: out,
            transform: Some(Arc::new(|z: &[f64]| {
                let v = 3.0 * z[0];
                std::iter::once(v)
                    .chain(z[1..].iter().map(|x| (0.5 * v).exp() * x))
                    .collect()
            })),
            truth,
            hard: false,
        }
    }
}

/// The twisted Gaussian ("banana") of Haario et al. (1999): `x ~ N(0, diag(100, 1))` pushed
/// through `y₁ = x₁`, `y₂ = x₂ − b (x₁² − 100)`.
#[derive(Debug, Clone, Copy)]
pub struct Banana {
    /// The twist `b`.
    pub b: f64,
}

impl LogDensity for Banana {
    fn dim(&self) -> usize {
        2
    }
    fn logp(&self, x: &[f64]) -> f64 {
        let r = x[1] + self.b * x[0] * x[0] - 100.0 * self.b;
        -x[0] * x[0] / 200.0 - 0.5 * r * r
    }
    fn logp_and_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let r = x[1] + self.b * x[0] * x[0] - 100.0 * self.b;
        grad[0] = -x[0] / 100.0 - r * 2.0 * self.b * x[0];
        grad[1] = -r;
        -x[0] * x[0] / 200.0 - 0.5 * r * r
    }
}

/// The banana with twist `b`: means 0, sds 10 and `√(1 + 2·10⁴ b²)`.
pub fn banana(b: f64) -> Model {
    Model {
        name: if b >= 0.05 { "banana" } else { "banana-mild" },
        description: format!(
            "twisted Gaussian (banana), b = {b}: y1 = x1, y2 = x2 - b (x1^2 - 100), x ~ N(0, diag(100, 1))"
        ),
        target: Arc::new(Banana { b }),
        param_names: vec!["y1".into(), "y2".into()],
        output_names: vec!["y1".into(), "y2".into()],
        transform: None,
        truth: Some(Truth {
            mean: vec![0.0, 0.0],
            sd: vec![10.0, (1.0 + 2e4 * b * b).sqrt()],
        }),
        hard: b >= 0.05,
    }
}

/// The eight-schools model, non-centred: `μ ~ N(0, 5²)`, `τ ~ half-Cauchy(0, 5)` (sampled as
/// `log τ`), `θ̃ⱼ ~ N(0, 1)`, `yⱼ ~ N(μ + τ θ̃ⱼ, σⱼ²)`; gradients by dual numbers.
#[derive(Debug, Clone, Copy)]
pub struct EightSchools;

const SCHOOLS_Y: [f64; 8] = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0];
const SCHOOLS_SIGMA: [f64; 8] = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0];

impl DualDensity for EightSchools {
    fn dim(&self) -> usize {
        10
    }
    fn logp<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
        let mu = x[0];
        let log_tau = x[1];
        let tau = log_tau.exp();
        // μ ~ N(0, 25); τ ~ half-Cauchy(0, 5) with the log-Jacobian of τ = e^{log τ}.
        let mut lp = mu * mu * (-0.5 / 25.0) - (tau * tau / 25.0 + 1.0).ln() + log_tau;
        for j in 0..8 {
            let t = x[2 + j];
            let r = (mu + tau * t - SCHOOLS_Y[j]) / SCHOOLS_SIGMA[j];
            lp -= (t * t + r * r) * 0.5;
        }
        lp
    }
}

/// The eight-schools model (non-centred).
pub fn eight_schools() -> Model {
    let mut pn = vec!["mu".to_string(), "log_tau".to_string()];
    pn.extend((0..8).map(|j| format!("theta_raw[{j}]")));
    let mut out = vec!["mu".to_string(), "tau".to_string()];
    out.extend((0..8).map(|j| format!("theta[{j}]")));
    Model {
        name: "eight-schools",
        description: "eight schools (Rubin 1981), non-centred; gradients by dual numbers".into(),
        target: Arc::new(AutoDiff(EightSchools)),
        param_names: pn,
        output_names: out,
        transform: Some(Arc::new(|z: &[f64]| {
            let tau = z[1].exp();
            let mut o = vec![z[0], tau];
            o.extend(z[2..].iter().map(|t| z[0] + tau * t));
            o
        })),
        truth: None,
        hard: false,
    }
}

/// Bayesian logistic regression `P(yᵢ = 1) = σ(α + xᵢᵀβ)` with `α ~ N(0, 5²)`, `βⱼ ~ N(0, 1)`
/// on standardised features; hand-written gradient `Xᵀ(y − σ(η))` minus the prior terms.
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    x: Array2<f64>,
    y: Vec<f64>,
}

impl LogisticRegression {
    /// From features `x` (`n × p`, used as given) and labels `y ∈ {0, 1}`.
    pub fn new(x: Array2<f64>, y: Vec<f64>) -> Result<Self> {
        if x.nrows() != y.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "logistic regression labels",
                expected: vec![x.nrows()],
                found: vec![y.len()],
            }
            .into());
        }
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(pn_core::Error::Empty {
                what: "logistic regression data",
            }
            .into());
        }
        Ok(Self { x, y })
    }
}

impl LogDensity for LogisticRegression {
    fn dim(&self) -> usize {
        self.x.ncols() + 1
    }
    fn logp(&self, w: &[f64]) -> f64 {
        let mut g = vec![0.0; w.len()];
        self.logp_and_grad(w, &mut g)
    }
    fn logp_and_grad(&self, w: &[f64], grad: &mut [f64]) -> f64 {
        let p = self.x.ncols();
        let (alpha, beta) = (w[0], &w[1..]);
        grad[0] = -alpha / 25.0;
        let mut lp = -0.5 * alpha * alpha / 25.0;
        for j in 0..p {
            grad[1 + j] = -beta[j];
            lp -= 0.5 * beta[j] * beta[j];
        }
        for (i, row) in self.x.rows().into_iter().enumerate() {
            let eta = alpha + row.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>();
            // log σ(η) = −log(1 + e^{−η}), computed stably.
            let log1pexp = if eta > 0.0 {
                eta + (-eta).exp().ln_1p()
            } else {
                eta.exp().ln_1p()
            };
            lp += self.y[i] * eta - log1pexp;
            let s = 1.0 / (1.0 + (-eta).exp());
            let r = self.y[i] - s;
            grad[0] += r;
            for j in 0..p {
                grad[1 + j] += r * row[j];
            }
        }
        lp
    }
}

/// The Wisconsin diagnostic breast-cancer data (569 × 30 and the class, 1 = benign); see
/// `docs/data.md` for source and licence.
pub const BREAST_CANCER_CSV: &str = include_str!("../data/breast_cancer.csv");

/// Parses [`BREAST_CANCER_CSV`] into (feature names, standardised features, labels).
pub fn breast_cancer() -> Result<(Vec<String>, Array2<f64>, Vec<f64>)> {
    let mut lines = BREAST_CANCER_CSV.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    let p = header.len().saturating_sub(1);
    let mut vals = Vec::new();
    let mut y = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let row: Vec<f64> = line
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| Error::Io(format!("bad number `{s}` in breast_cancer.csv")))
            })
            .collect::<Result<_>>()?;
        if row.len() != p + 1 {
            return Err(Error::Io("ragged row in breast_cancer.csv".into()));
        }
        vals.extend_from_slice(&row[..p]);
        y.push(row[p]);
    }
    let n = y.len();
    let mut x = Array2::from_shape_vec((n, p), vals).map_err(|e| Error::Io(e.to_string()))?;
    for mut col in x.columns_mut() {
        let m = col.sum() / n as f64;
        let sd = (col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64).sqrt();
        col.mapv_inplace(|v| (v - m) / sd);
    }
    Ok((header[..p].to_vec(), x, y))
}

/// Bayesian logistic regression on the breast-cancer data (31 parameters).
pub fn logistic_breast_cancer() -> Result<Model> {
    let (feat, x, y) = breast_cancer()?;
    let mut pn = vec!["intercept".to_string()];
    pn.extend(feat);
    Ok(Model {
        name: "logistic",
        description: format!(
            "Bayesian logistic regression, Wisconsin breast-cancer data ({} x {}, standardised)",
            x.nrows(),
            x.ncols()
        ),
        target: Arc::new(LogisticRegression::new(x, y)?),
        param_names: pn.clone(),
        output_names: pn,
        transform: None,
        truth: None,
        hard: false,
    })
}

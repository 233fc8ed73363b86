//! Classical rules in the same API, for comparisons at equal numbers of evaluations: Monte
//! Carlo, randomised quasi-Monte Carlo (scrambled Halton or scrambled Sobol'), and tensor
//! Gauss–Legendre (boxes) /
//! Gauss–Hermite (Gaussian measures) rules.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::measure::Measure;
pub use crate::sobol::{sobol, sobol_scrambled};

/// The result of a classical rule: `Σᵢ wᵢ f(xᵢ)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleEstimate {
    /// The estimate `Σᵢ wᵢ f(xᵢ)`.
    pub value: f64,
    /// The standard error where the rule has one (Monte Carlo: sample standard deviation / √n);
    /// `None` for deterministic rules and single-replicate QMC.
    pub std_error: Option<f64>,
    /// The nodes (rows).
    pub nodes: Array2<f64>,
    /// The weights.
    pub weights: Array1<f64>,
    /// `f` at the nodes.
    pub values: Array1<f64>,
}

/// Evaluate `f` at every row of `x`, rejecting NaN and ±∞ with [`Error::NonFiniteIntegrand`].
pub fn evaluate<F: FnMut(ArrayView1<'_, f64>) -> f64>(
    f: &mut F,
    x: ArrayView2<'_, f64>,
    offset: usize,
) -> Result<Array1<f64>> {
    let mut out = Array1::zeros(x.nrows());
    for (i, r) in x.rows().into_iter().enumerate() {
        let v = f(r);
        if !v.is_finite() {
            return Err(Error::NonFiniteIntegrand {
                index: offset + i,
                point: r.to_vec(),
                value: v,
            });
        }
        out[i] = v;
    }
    Ok(out)
}

fn finish(
    nodes: Array2<f64>,
    weights: Array1<f64>,
    values: Array1<f64>,
    std_error: Option<f64>,
) -> RuleEstimate {
    RuleEstimate {
        value: weights.dot(&values),
        std_error,
        nodes,
        weights,
        values,
    }
}

fn check_n(n: usize) -> Result<()> {
    if n == 0 {
        return Err(pn_core::Error::Empty {
            what: "number of nodes",
        }
        .into());
    }
    Ok(())
}

/// Plain Monte Carlo with `n` independent draws from `p / ∫ dp`.
pub fn monte_carlo<F, R>(mut f: F, measure: &Measure, n: usize, rng: &mut R) -> Result<RuleEstimate>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
    R: Rng + ?Sized,
{
    check_n(n)?;
    let x = measure.sample(rng, n);
    let y = evaluate(&mut f, x.view(), 0)?;
    let mass = measure.total_mass();
    let se = if n > 1 {
        let m = y.mean().unwrap_or(0.0);
        let v = y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        Some(mass * (v / n as f64).sqrt())
    } else {
        None
    };
    Ok(finish(x, Array1::from_elem(n, mass / n as f64), y, se))
}

/// Randomised quasi-Monte Carlo with `n` points of a scrambled Halton sequence mapped to the
/// measure (see [`halton_scrambled`]).
pub fn quasi_monte_carlo<F, R>(
    mut f: F,
    measure: &Measure,
    n: usize,
    rng: &mut R,
) -> Result<RuleEstimate>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
    R: Rng + ?Sized,
{
    check_n(n)?;
    let u = halton_scrambled(n, measure.dim(), rng)?;
    equal_weights(&mut f, measure, u)
}

/// The equal-weight rule `mass · (1/n) Σ f(xᵢ)` on unit-cube points `u` (one per row) mapped to
/// the measure.
fn equal_weights<F>(f: &mut F, measure: &Measure, u: Array2<f64>) -> Result<RuleEstimate>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
{
    let n = u.nrows();
    let x = measure.from_unit_cube(u.view());
    let y = evaluate(f, x.view(), 0)?;
    let mass = measure.total_mass();
    Ok(finish(x, Array1::from_elem(n, mass / n as f64), y, None))
}

const PRIMES: [u64; 32] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131,
];

/// Randomised quasi-Monte Carlo with scrambled Sobol' points ([`sobol_scrambled`]): the equal-
/// weight rule `mass · (1/n) Σ f(xᵢ)` on `n` points mapped from the unit cube to the measure.
/// Use a power of two for `n` (the points then form a scrambled `(t, m, d)`-net).
///
/// ```
/// use pn_quad::BoxDomain;
/// use pn_quad::rules::quasi_monte_carlo_sobol;
/// use rand::SeedableRng;
///
/// let m = BoxDomain::unit(2)?.into();
/// let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
/// let est = quasi_monte_carlo_sobol(|x| x[0] * x[1], &m, 256, &mut rng)?;
/// assert!((est.value - 0.25).abs() < 1e-3);
/// # Ok::<(), pn_quad::Error>(())
/// ```
pub fn quasi_monte_carlo_sobol<F, R>(
    mut f: F,
    measure: &Measure,
    n: usize,
    rng: &mut R,
) -> Result<RuleEstimate>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
    R: Rng + ?Sized,
{
    check_n(n)?;
    let u = sobol_scrambled(n, measure.dim(), rng)?;
    equal_weights(&mut f, measure, u)
}

/// The first `n` points of the Halton sequence in `(0, 1)ᵈ` (`d ≤ 32`), scrambled by an
/// independent random permutation of the digits `0…p−1` for every dimension and digit position
/// (random digit permutation, which keeps every point uniformly distributed and the
/// low-discrepancy structure of the sequence).
pub fn halton_scrambled<R: Rng + ?Sized>(n: usize, d: usize, rng: &mut R) -> Result<Array2<f64>> {
    if d == 0 || d > PRIMES.len() {
        return Err(pn_core::Error::InvalidParameter {
            name: "dimension",
            value: d as f64,
            reason: "scrambled Halton supports 1 to 32 dimensions",
        }
        .into());
    }
    let mut out = Array2::zeros((n, d));
    for k in 0..d {
        let p = PRIMES[k];
        // Enough digits that p^{-digits} is below double precision.
        let digits = (53.0 / (p as f64).log2()).ceil() as usize + 1;
        let perms: Vec<Vec<u64>> = (0..digits)
            .map(|_| {
                let mut v: Vec<u64> = (0..p).collect();
                v.shuffle(rng);
                v
            })
            .collect();
        let inv_p = 1.0 / p as f64;
        for i in 0..n {
            let mut idx = i as u64;
            let mut scale = inv_p;
            let mut x = 0.0;
            for perm in &perms {
                let digit = idx % p;
                idx /= p;
                x += perm[digit as usize] as f64 * scale;
                scale *= inv_p;
            }
            out[[i, k]] = x.clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON / 2.0);
        }
    }
    Ok(out)
}

/// Gauss–Legendre nodes and weights on `[−1, 1]` (exact for polynomials of degree `2n − 1`),
/// by Newton's method on the Legendre polynomial from Chebyshev-like initial guesses.
pub fn gauss_legendre(n: usize) -> Result<(Array1<f64>, Array1<f64>)> {
    check_n(n)?;
    let mut x = Array1::zeros(n);
    let mut w = Array1::zeros(n);
    let m = n.div_ceil(2);
    for i in 0..m {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (p, d) = legendre(n, z);
            dp = d;
            let dz = p / d;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        let (_, d) = legendre(n, z);
        dp = if d.is_finite() { d } else { dp };
        x[i] = -z;
        x[n - 1 - i] = z;
        let wi = 2.0 / ((1.0 - z * z) * dp * dp);
        w[i] = wi;
        w[n - 1 - i] = wi;
    }
    Ok((x, w))
}

/// `(Pₙ(z), Pₙ'(z))` by the three-term recurrence.
fn legendre(n: usize, z: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, z);
    if n == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let d = n as f64 * (z * p1 - p0) / (z * z - 1.0);
    (p1, d)
}

/// Gauss–Hermite nodes and weights for the standard normal `N(0, 1)` (weights sum to 1), by
/// the Golub–Welsch eigenvalue method on the Jacobi matrix of the probabilists' Hermite
/// polynomials (off-diagonal `√k`).
pub fn gauss_hermite(n: usize) -> Result<(Array1<f64>, Array1<f64>)> {
    check_n(n)?;
    let mut j = Array2::zeros((n, n));
    for k in 1..n {
        let b = (k as f64).sqrt();
        j[[k, k - 1]] = b;
        j[[k - 1, k]] = b;
    }
    let (x, v) = pn_core::dense::eigh(j.view())?;
    let w = v.row(0).mapv(|a| a * a);
    Ok((x, w))
}

/// Tensor Gauss rule with `per_dim` points per dimension (`per_dimᵈ` nodes): Gauss–Legendre
/// on a box, Gauss–Hermite mapped through `μ + L z` for a Gaussian measure.
pub fn gauss_tensor<F>(mut f: F, measure: &Measure, per_dim: usize) -> Result<RuleEstimate>
where
    F: FnMut(ArrayView1<'_, f64>) -> f64,
{
    check_n(per_dim)?;
    let d = measure.dim();
    let total = per_dim
        .checked_pow(d as u32)
        .filter(|&t| t <= 50_000_000)
        .ok_or(pn_core::Error::InvalidParameter {
            name: "per_dim",
            value: per_dim as f64,
            reason: "per_dim^d nodes exceed 5e7",
        })?;
    let (z1, w1) = match measure {
        Measure::Lebesgue(_) => gauss_legendre(per_dim)?,
        Measure::Gaussian(_) => gauss_hermite(per_dim)?,
    };
    let mut unit = Array2::zeros((total, d));
    let mut weights = Array1::ones(total);
    for i in 0..total {
        let mut idx = i;
        for k in 0..d {
            let j = idx % per_dim;
            idx /= per_dim;
            unit[[i, k]] = z1[j];
            weights[i] *= w1[j];
        }
    }
    let nodes = match measure {
        Measure::Lebesgue(b) => {
            let mut x = unit;
            for mut r in x.rows_mut() {
                for k in 0..d {
                    let (lo, hi) = (b.lower()[k], b.upper()[k]);
                    r[k] = 0.5 * (lo + hi) + 0.5 * (hi - lo) * r[k];
                }
            }
            weights *= b.volume() / 2f64.powi(d as i32);
            x
        }
        Measure::Gaussian(g) => {
            let mut x = unit.dot(&g.cholesky().l().t());
            for mut r in x.rows_mut() {
                r += &g.mean();
            }
            x
        }
    };
    let y = evaluate(&mut f, nodes.view(), 0)?;
    Ok(finish(nodes, weights, y, None))
}

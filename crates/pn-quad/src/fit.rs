//! Lengthscales by marginal likelihood, with the output scale profiled out.
//!
//! For noise-free values `f` at nodes `X` and a kernel `σ² k₁` (unit output scale), the log
//! marginal likelihood maximised over `σ²` (at `σ̂² = fᵀK₁⁻¹f / n`) is, up to a constant,
//!
//! ```text
//! L(θ) = −(n/2) log(fᵀK₁⁻¹f) − ½ log|K₁|,      θ = log ℓ,
//! ∂L/∂θₖ = ½ Σᵢⱼ (n αᵢαⱼ / fᵀα − [K₁⁻¹]ᵢⱼ) [∂K₁/∂θₖ]ᵢⱼ,    α = K₁⁻¹f.
//! ```
//!
//! It is maximised over the log-lengthscales alone (one dimension fewer than a joint fit, and
//! the output scale never wanders) by a projected BFGS iteration inside bounds
//! `[0.3 s n^{−1/d}, 2 s]` (`s` the spread of the nodes in that dimension, `s n^{−1/d}` their
//! typical spacing); the bounds keep the optimum away from the flat ends of the likelihood (at
//! few nodes it can be maximal at "no variation along this axis", a lengthscale of 10⁴ on a
//! unit box, which collapses the integral's variance). Optionally ([`FitOptions::prior`]) a
//! weak Gaussian prior on each `log ℓₖ`, centred in the log-middle of the bounds with a
//! standard deviation of a quarter of their log-width, turns the fit into a MAP estimate.
//!
//! Each evaluation costs one kernel matrix, one Cholesky factorisation and one inverse
//! (`≈ n³` flops). Where the kernel matrix at the starting point is numerically singular (a
//! pivot below `10⁻¹² max Kᵢᵢ`), the fit uses a fixed nugget `δ I` on `K₁` (`δ` from `10⁻¹⁰`
//! upwards by factors of 100), chosen once so that the objective stays one smooth function; the
//! Bayesian-quadrature solve afterwards uses the pivoted factorisation without any nugget.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use pn_core::kernels::Kernel;

use crate::error::Result;
use crate::fastla;
use crate::kernel::{KernelKind, QuadKernel};

const LOWER: f64 = 0.3;
const UPPER: f64 = 2.0;

/// Options of [`fit_lengthscales`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FitOptions {
    /// Most objective evaluations (default 40).
    pub max_evals: usize,
    /// Stop when no log-lengthscale moves by more than this in an iteration (default `0.03`,
    /// a 3 % change of the lengthscale: finer than that does not move the integral's estimate
    /// by a fraction of its standard deviation).
    pub step_tol: f64,
    /// Add the weak prior on the log-lengthscales (default `false`: the likelihood alone
    /// inside the bounds). Off by default: at few nodes it pulls the lengthscales of narrow
    /// features towards the middle of the bounds, which is too long for them.
    pub prior: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            max_evals: 40,
            step_tol: 0.03,
            prior: false,
        }
    }
}

impl FitOptions {
    /// Set [`max_evals`](Self::max_evals).
    pub fn max_evals(mut self, n: usize) -> Self {
        self.max_evals = n;
        self
    }
    /// Set [`step_tol`](Self::step_tol).
    pub fn step_tol(mut self, t: f64) -> Self {
        self.step_tol = t;
        self
    }
    /// Set [`prior`](Self::prior).
    pub fn prior(mut self, on: bool) -> Self {
        self.prior = on;
        self
    }
}

/// The result of [`fit_lengthscales`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FitInfo {
    /// The kernel with the fitted lengthscales and output scale `σ̂² = fᵀK₁⁻¹f / n`.
    pub kernel: QuadKernel,
    /// The maximised objective (profile log marginal likelihood plus log prior, up to
    /// constants).
    pub objective: f64,
    /// Objective evaluations used (each one Cholesky factorisation and one inverse).
    pub evaluations: usize,
    /// Whether the step tolerance was reached within the budget of evaluations.
    pub converged: bool,
    /// The nugget `δ` added to the unit-scale kernel matrix during the fit (0 if none).
    pub nugget: f64,
}

/// One evaluation: `−objective`, its gradient, `σ̂²` and the smallest pivot of `K₁`.
struct Eval {
    f: f64,
    g: Vec<f64>,
    outputscale: f64,
    min_pivot: f64,
}

struct Problem<'a> {
    kernel: QuadKernel,
    x: ArrayView2<'a, f64>,
    y: ArrayView1<'a, f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    mu: Vec<f64>,
    prior_var: Option<Vec<f64>>,
    nugget: f64,
}

impl Problem<'_> {
    /// `(−objective, −gradient)` at log-lengthscales `theta`, `None` if `K₁` is not positive
    /// definite there.
    fn eval(&self, theta: &[f64]) -> Option<Eval> {
        let d = theta.len();
        let ls: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
        let k1 = self
            .kernel
            .with_lengthscales(&ls)
            .ok()?
            .with_outputscale(1.0)
            .ok()?;
        let n = self.x.nrows();
        let (mut kmat, grads) = match k1.kind() {
            KernelKind::SquaredExponential => (k1.matrix_unchecked(self.x, self.x), None),
            _ => {
                let (k, g) = k1.matrix_with_grad_unchecked(self.x);
                (k, Some(g))
            }
        };
        if self.nugget > 0.0 {
            kmat.diag_mut().mapv_inplace(|v| v + self.nugget);
        }
        let l = fastla::cholesky(kmat.view())?;
        let min_pivot = l.diag().iter().fold(f64::INFINITY, |m, v| m.min(v * v));
        let logdet: f64 = 2.0 * l.diag().iter().map(|v| v.ln()).sum::<f64>();
        let alpha = fastla::solve_lt_vec(&l, fastla::solve_l_vec(&l, self.y).view());
        let q = self.y.dot(&alpha);
        if !(q > 0.0 && q.is_finite() && logdet.is_finite()) {
            return None;
        }
        let nf = n as f64;
        let mut obj = -0.5 * nf * q.ln() - 0.5 * logdet;
        let kinv = fastla::inverse_lower(&l);
        let kinv_s = kinv.as_slice_memory_order().expect("contiguous");
        // W = n ααᵀ/q − K⁻¹; ∂L/∂θₖ = ½ Σᵢⱼ Wᵢⱼ ∂Kᵢⱼ. `kinv` is column-major with the lower
        // triangle filled: column j holds [K⁻¹]ᵢⱼ for i ≥ j contiguously.
        let c = nf / q;
        let mut grad = vec![0.0; d];
        let mut w = vec![0.0; n];
        let alpha_s = alpha.as_slice().expect("contiguous");
        match grads {
            None => {
                // SE: ∂K/∂θₖ = K ∘ (xᵢₖ − xⱼₖ)²/ℓₖ²; symmetric, zero on the diagonal, so
                // ½ Σᵢⱼ = Σ_{i>j}.
                let xs = fastla::scaled_columns(self.x, &ls);
                for j in 0..n {
                    let aj = c * alpha_s[j];
                    // K is symmetric and row-major: row j holds K[i, j] for all i.
                    let krow = &kmat.as_slice().expect("standard layout")[j * n..(j + 1) * n];
                    let kcol = &kinv_s[j * n..(j + 1) * n];
                    let wj = &mut w[j + 1..];
                    for (((o, &ai), &ki), &kk) in wj
                        .iter_mut()
                        .zip(&alpha_s[j + 1..])
                        .zip(&kcol[j + 1..])
                        .zip(&krow[j + 1..])
                    {
                        *o = (aj * ai - ki) * kk;
                    }
                    for k in 0..d {
                        let xk = &xs[k];
                        let xj = xk[j];
                        let mut acc = 0.0;
                        for (&o, &xi) in wj.iter().zip(&xk[j + 1..]) {
                            let r = xi - xj;
                            acc += o * r * r;
                        }
                        grad[k] += acc;
                    }
                }
            }
            Some(g) => {
                for k in 0..d {
                    let gk = &g[k];
                    let mut acc = 0.0;
                    for j in 0..n {
                        acc += (c * alpha_s[j] * alpha_s[j] - kinv_s[j * n + j]) * gk[[j, j]];
                        for i in j + 1..n {
                            acc += 2.0
                                * (c * alpha_s[i] * alpha_s[j] - kinv_s[j * n + i])
                                * gk[[i, j]];
                        }
                    }
                    grad[k] = 0.5 * acc;
                }
            }
        }
        if let Some(pv) = &self.prior_var {
            for k in 0..d {
                let u = theta[k] - self.mu[k];
                obj -= 0.5 * u * u / pv[k];
                grad[k] -= u / pv[k];
            }
        }
        if !obj.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return None;
        }
        Some(Eval {
            f: -obj,
            g: grad.into_iter().map(|g| -g).collect(),
            outputscale: q / nf,
            min_pivot,
        })
    }
}

/// Fit the lengthscales of `kernel` (squared exponential or product Matérn) to noise-free
/// values `y` at the rows of `x` by maximum profile marginal likelihood (see the module
/// documentation); the output scale is returned at its closed-form optimum.
///
/// Kernels without lengthscales (Wiener), fewer than 3 nodes or all-zero values return the
/// kernel unchanged (`evaluations = 0`). Errors: shape mismatch, non-finite nodes or values.
///
/// ```
/// use ndarray::Array2;
/// use pn_quad::{FitOptions, QuadKernel, fit_lengthscales};
///
/// let x = Array2::from_shape_fn((30, 1), |(i, _)| (i as f64 + 0.5) / 30.0);
/// let y = x.column(0).mapv(|t| (6.0 * t).sin());
/// let k0 = QuadKernel::squared_exponential(vec![0.05], 1.0)?;
/// let fit = fit_lengthscales(&k0, x.view(), y.view(), &FitOptions::default())?;
/// let ell = fit.kernel.lengthscales()[0];
/// assert!(ell > 0.1 && ell < 1.0, "{ell}");
/// # Ok::<(), pn_quad::Error>(())
/// ```
pub fn fit_lengthscales(
    kernel: &QuadKernel,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    options: &FitOptions,
) -> Result<FitInfo> {
    crate::embedding::check_points(x.ncols(), x)?;
    kernel.check_dim(x.ncols())?;
    if y.len() != x.nrows() {
        return Err(pn_core::Error::ShapeMismatch {
            op: "fit_lengthscales values",
            expected: vec![x.nrows()],
            found: vec![y.len()],
        }
        .into());
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(crate::Error::NonFiniteIntegrand {
            index: i,
            point: x.row(i).to_vec(),
            value: y[i],
        });
    }
    pn_core::validate::positive("step_tol", options.step_tol)?;
    let unchanged = || FitInfo {
        kernel: kernel.clone(),
        objective: f64::NAN,
        evaluations: 0,
        converged: false,
        nugget: 0.0,
    };
    let d = kernel.lengthscales().len();
    let ms = y.iter().map(|v| v * v).sum::<f64>() / y.len().max(1) as f64;
    if d == 0 || x.nrows() < 3 || !(ms > 1e-300 && ms < 1e300) {
        return Ok(unchanged());
    }
    let n = x.nrows() as f64;
    let mut lo = vec![0.0; d];
    let mut hi = vec![0.0; d];
    for k in 0..d {
        let (a, b) = x
            .column(k)
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        let s = (b - a).max(1e-8 * (1.0 + b.abs()));
        lo[k] = (LOWER * s / n.powf(1.0 / d as f64)).ln();
        hi[k] = (UPPER * s).ln();
    }
    let mu: Vec<f64> = lo.iter().zip(&hi).map(|(a, b)| 0.5 * (a + b)).collect();
    let prior_var = options.prior.then(|| {
        lo.iter()
            .zip(&hi)
            .map(|(a, b)| ((b - a) / 4.0).powi(2))
            .collect()
    });
    let mut prob = Problem {
        kernel: kernel.clone(),
        x,
        y,
        lo: lo.clone(),
        hi: hi.clone(),
        mu,
        prior_var,
        nugget: 0.0,
    };
    let clamp = |t: &mut [f64]| {
        for k in 0..d {
            t[k] = t[k].clamp(lo[k], hi[k]);
        }
    };
    let mut theta: Vec<f64> = kernel.lengthscales().iter().map(|l| l.ln()).collect();
    clamp(&mut theta);
    // Nugget, chosen once at the start.
    let mut evals = 0;
    let mut cur = None;
    for &delta in &[0.0, 1e-10, 1e-8, 1e-6] {
        prob.nugget = delta;
        evals += 1;
        // The bare matrix only if it is comfortably positive definite.
        if let Some(e) = prob.eval(&theta)
            && (delta > 0.0 || e.min_pivot >= 1e-12)
        {
            cur = Some(e);
            break;
        }
    }
    let Some(first) = cur else {
        return Ok(unchanged());
    };
    let (mut f, mut g, mut sigma2) = (first.f, first.g, first.outputscale);
    // Projected BFGS on the box.
    let mut h = Array2::<f64>::eye(d);
    let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let h0 = if gmax > 0.0 {
        (0.5 / gmax).min(1.0)
    } else {
        1.0
    };
    h *= h0;
    let mut converged = false;
    while evals < options.max_evals {
        // Components at a bound whose gradient pushes outward are held fixed.
        let free: Vec<bool> = (0..d)
            .map(|k| {
                !((theta[k] <= prob.lo[k] && g[k] > 0.0) || (theta[k] >= prob.hi[k] && g[k] < 0.0))
            })
            .collect();
        let ga = Array1::from_shape_fn(d, |k| if free[k] { g[k] } else { 0.0 });
        if ga.iter().all(|v| *v == 0.0) {
            converged = true;
            break;
        }
        let mut p = -h.dot(&ga);
        for k in 0..d {
            if !free[k] {
                p[k] = 0.0;
            }
        }
        if p.dot(&ga) >= 0.0 {
            h = Array2::eye(d) * h0;
            p = -&ga * h0;
        }
        let pmax = p.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if pmax > 1.0 {
            p /= pmax;
        }
        let mut t = 1.0;
        let mut accepted = None;
        while evals < options.max_evals {
            let mut tn: Vec<f64> = (0..d).map(|k| theta[k] + t * p[k]).collect();
            clamp(&mut tn);
            let step: Vec<f64> = (0..d).map(|k| tn[k] - theta[k]).collect();
            let dec: f64 = step.iter().zip(&g).map(|(s, gk)| s * gk).sum();
            evals += 1;
            if let Some(e) = prob.eval(&tn)
                && e.f <= f + 1e-4 * dec.min(0.0)
            {
                accepted = Some((tn, e, step));
                break;
            }
            t *= 0.25;
            if t < 1e-3 {
                break;
            }
        }
        let Some((tn, e, s)) = accepted else {
            // No decrease along the direction: as good as the step size resolves.
            converged = true;
            break;
        };
        let (fnew, gnew) = (e.f, e.g);
        sigma2 = e.outputscale;
        let yv: Vec<f64> = (0..d).map(|k| gnew[k] - g[k]).collect();
        let sy: f64 = s.iter().zip(&yv).map(|(a, b)| a * b).sum();
        if sy > 1e-12 {
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
            let rho = 1.0 / sy;
            let sv = Array1::from(s.clone());
            let yv = Array1::from(yv);
            let hy = h.dot(&yv);
            let yhy = yv.dot(&hy);
            for i in 0..d {
                for j in 0..d {
                    h[[i, j]] += -rho * (sv[i] * hy[j] + hy[i] * sv[j])
                        + (rho * rho * yhy + rho) * sv[i] * sv[j];
                }
            }
        }
        let smax = s.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let fchange = (f - fnew).abs();
        theta = tn;
        f = fnew;
        g = gnew;
        if smax < options.step_tol || fchange < 1e-10 * (1.0 + f.abs()) {
            converged = true;
            break;
        }
    }
    let ls: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    Ok(FitInfo {
        kernel: kernel.with_lengthscales(&ls)?.with_outputscale(sigma2)?,
        objective: -f,
        evaluations: evals,
        converged,
        nugget: prob.nugget,
    })
}

/// Refit inside the adaptive loops: [`fit_lengthscales`] with default options; a kernel
/// without lengthscales or a failed fit leaves the kernel as it was.
pub(crate) fn refit(
    kernel: &QuadKernel,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    _seed: u64,
) -> Result<QuadKernel> {
    Ok(fit_lengthscales(kernel, x, y, &FitOptions::default())?.kernel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::MaternOrder;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    fn problem<'a>(
        kernel: QuadKernel,
        x: ArrayView2<'a, f64>,
        y: ArrayView1<'a, f64>,
        prior: bool,
    ) -> Problem<'a> {
        let d = x.ncols();
        Problem {
            kernel,
            x,
            y,
            lo: vec![-5.0; d],
            hi: vec![1.0; d],
            mu: vec![-1.0; d],
            prior_var: prior.then(|| vec![0.7; d]),
            nugget: 0.0,
        }
    }

    /// The analytic gradient of the profile likelihood against central differences.
    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = Pcg64::seed_from_u64(11);
        let x = Array2::from_shape_fn((25, 2), |_| rng.random::<f64>());
        let y = Array1::from_shape_fn(25, |i| {
            (3.0 * x[[i, 0]]).sin() + x[[i, 1]] * x[[i, 1]] + 0.1
        });
        let kernels = [
            QuadKernel::squared_exponential(vec![0.3, 0.5], 2.0).unwrap(),
            QuadKernel::product_matern(MaternOrder::FiveHalves, vec![0.4, 0.6], 1.0).unwrap(),
            QuadKernel::product_matern(MaternOrder::ThreeHalves, vec![0.4, 0.6], 1.0).unwrap(),
        ];
        for k in kernels {
            for prior in [false, true] {
                let p = problem(k.clone(), x.view(), y.view(), prior);
                let th = [(0.35f64).ln(), (0.45f64).ln()];
                let e = p.eval(&th).unwrap();
                for j in 0..2 {
                    let h = 1e-5;
                    let mut a = th;
                    let mut b = th;
                    a[j] += h;
                    b[j] -= h;
                    let fd = (p.eval(&a).unwrap().f - p.eval(&b).unwrap().f) / (2.0 * h);
                    assert!(
                        (fd - e.g[j]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "{} prior {prior}: {fd} vs {}",
                        k.name(),
                        e.g[j]
                    );
                }
            }
        }
    }

    /// On a sample path of a GP with a known lengthscale the fit lands near it, and the
    /// objective at the fit is at least that of the truth and of the start.
    #[test]
    fn fit_recovers_the_lengthscale_of_a_gp_sample() {
        let mut rng = Pcg64::seed_from_u64(5);
        let n = 30;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| (i as f64 + rng.random::<f64>()) / n as f64);
        let truth = QuadKernel::squared_exponential(vec![0.1], 1.0).unwrap();
        let kmat = truth.matrix(x.view(), x.view()).unwrap();
        let l = fastla::cholesky(kmat.view()).unwrap();
        let z = Array1::from_shape_fn(n, |_| {
            rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng)
        });
        let y = l.dot(&z);
        let start = QuadKernel::squared_exponential(vec![0.05], 1.0).unwrap();
        let fit = fit_lengthscales(&start, x.view(), y.view(), &FitOptions::default()).unwrap();
        let ell = fit.kernel.lengthscales()[0];
        assert!(fit.converged && fit.evaluations < 40);
        assert!(fit.nugget == 0.0);
        assert!(ell > 0.07 && ell < 0.14, "{ell}");
        let s2 = fit.kernel.outputscale();
        assert!(s2 > 0.3 && s2 < 3.0, "{s2}");
    }

    #[test]
    fn bad_input_and_degenerate_cases() {
        let x = Array2::from_shape_fn((5, 1), |(i, _)| i as f64 / 4.0);
        let k = QuadKernel::squared_exponential(vec![0.3], 1.0).unwrap();
        let mut y = x.column(0).to_owned();
        y[2] = f64::NAN;
        assert!(matches!(
            fit_lengthscales(&k, x.view(), y.view(), &FitOptions::default()),
            Err(crate::Error::NonFiniteIntegrand { index: 2, .. })
        ));
        let y0 = Array1::zeros(5);
        let f = fit_lengthscales(&k, x.view(), y0.view(), &FitOptions::default()).unwrap();
        assert_eq!((f.kernel, f.evaluations), (k.clone(), 0));
        let short = Array1::zeros(4);
        assert!(fit_lengthscales(&k, x.view(), short.view(), &FitOptions::default()).is_err());
        assert!(
            fit_lengthscales(
                &k,
                x.view(),
                x.column(0),
                &FitOptions::default().step_tol(0.0)
            )
            .is_err()
        );
    }
}

//! Hyperparameter refitting by marginal likelihood, through pn-linalg's exact GP and its
//! L-BFGS fit ([`pn_linalg::fit`]).

use ndarray::{ArrayView1, ArrayView2};
use pn_core::kernels::Kernel;
use pn_linalg::exact::ExactGp;
use pn_linalg::fit::{FitOptions, fit};

use crate::error::Result;
use crate::kernel::QuadKernel;

const RESTARTS: usize = 0;
const LOWER: f64 = 0.3;
const UPPER: f64 = 2.0;
const SCALINGS: [f64; 7] = [0.25, 0.4, 0.6, 1.0, 1.6, 2.5, 4.0];

/// Refit the lengthscales and output scale of `kernel` to noise-free data `(x, y)` by maximum
/// marginal likelihood. Lengthscales are bounded to `[0.3 s n^{−1/d}, 2 s]` with `s` the spread
/// of the nodes in that dimension (`s n^{−1/d}` is the typical node spacing).
/// Kernels without lengthscales (Wiener) are returned unchanged: their output scale has a
/// closed form.
pub(crate) fn refit(
    kernel: &QuadKernel,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    seed: u64,
) -> Result<QuadKernel> {
    let d = kernel.lengthscales().len();
    if d == 0 || x.nrows() < 3 {
        return Ok(kernel.clone());
    }
    let ms = y.iter().map(|v| v * v).sum::<f64>() / y.len() as f64;
    if !(ms > 1e-300 && ms < 1e300) {
        // All values 0 (or absurdly large): nothing to learn a scale from.
        return Ok(kernel.clone());
    }
    let n = x.nrows() as f64;
    let mut lower = vec![0.0; d];
    let mut upper = vec![0.0; d];
    for k in 0..d {
        let col = x.column(k);
        let (lo, hi) = col
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        let s = (hi - lo).max(1e-8 * (1.0 + hi.abs()));
        // Below a fraction of the node spacing the model is white noise between nodes; far
        // above the spread it is a polynomial of low degree: neither is a useful integrand prior.
        let spacing = s / n.powf(1.0 / d as f64);
        lower[k] = LOWER * spacing;
        upper[k] = UPPER * s;
    }
    // Starting point: the best of a few common rescalings of the current lengthscales (clamped
    // into the bounds) by the profile likelihood with the output scale in closed form. A start
    // near the optimum keeps L-BFGS away from the flat ends of the bounded parametrisation.
    let mut best: Option<(f64, QuadKernel)> = None;
    for &c in &SCALINGS {
        let ls: Vec<f64> = (0..d)
            .map(|k| (kernel.lengthscales()[k] * c).clamp(lower[k] * 1.5, upper[k] / 1.5))
            .collect();
        let unit = kernel.with_lengthscales(&ls)?.with_outputscale(1.0)?;
        if let Ok(gp) = ExactGp::new(Box::new(unit.clone()), 0.0, x, y) {
            if gp.jitter() > 0.0 {
                continue;
            }
            let q = y.dot(&gp.alpha()) / n;
            let prof = -0.5 * n * q.ln() - 0.5 * gp.cholesky().logdet();
            if q > 0.0 && prof.is_finite() && best.as_ref().is_none_or(|(b, _)| prof > *b) {
                best = Some((prof, unit.with_outputscale(q)?));
            }
        }
    }
    let start = match best {
        Some((_, k)) => k,
        None => kernel.with_outputscale(ms)?,
    };
    let mut opts = FitOptions::default()
        .fix_noise()
        .restarts(RESTARTS)
        .seed(seed)
        .max_iters(60);
    for k in 0..d {
        opts = opts.bound(k, lower[k].ln(), upper[k].ln());
    }
    let start_kernel = start.clone();
    match fit(Box::new(start.clone()), 0.0, x, y, &opts) {
        Ok(fitted) => {
            let mut k = start;
            k.set_log_params(fitted.gp.kernel().log_params().view())?;
            Ok(k)
        }
        // A fit that fails (e.g. a matrix singular beyond the jitter ladder) falls back to the
        // best starting point rather than aborting the integration: the values were validated.
        Err(_) => Ok(start_kernel),
    }
}

//! Demo panel: 1-D Gaussian-process regression, written as plain Gaussian conditioning.
//!
//! A GP is a Gaussian belief over the function values at whatever points we care about. Here
//! those are the training inputs and a plotting grid, stacked into one vector `f`; observing
//! `y = f[train] + ε` is a linear-Gaussian observation, and `Gaussian::condition` returns the
//! posterior over `f` together with the log marginal likelihood `log p(y)`, which also picks the
//! kernel hyperparameters.

use ndarray::{Array1, Array2, ArrayView1, Axis};
use rand::Rng;
use rand_distr::StandardNormal;
use serde_json::{Map, Value, json};

use pn_core::kernels::{Kernel, SquaredExponential};
use pn_core::{Conditioned, Covariance, Gaussian, LinearMap};

use super::{PanelContext, object};
use crate::common::rng;
use crate::error::Result;
use crate::plot::{Belief1d, belief_1d};

/// Number of noisy observations.
const N_TRAIN: usize = 20;
/// Number of plotting-grid points.
const N_GRID: usize = 200;
/// Standard deviation of the observation noise (known to the model).
const NOISE_STD: f64 = 0.1;
/// The input interval.
const DOMAIN: (f64, f64) = (-3.0, 3.0);
/// Number of posterior samples drawn on the grid.
const N_SAMPLES: usize = 3;
/// Jitter added to the prior covariance, relative to the kernel's variance, so that the
/// covariance of 220 strongly correlated function values stays numerically positive definite.
const JITTER: f64 = 1e-8;

/// The function the data come from.
fn truth(x: f64) -> f64 {
    (3.0 * x).sin() + 0.3 * x
}

/// Inputs as an `n × 1` matrix (rows = points), the layout kernels take.
fn as_points(x: ArrayView1<'_, f64>) -> Array2<f64> {
    x.to_owned().insert_axis(Axis(1))
}

/// Prior belief over `f` at the points `x` under the kernel `k`, with relative jitter.
fn prior(k: &SquaredExponential, x: ArrayView1<'_, f64>) -> Result<Gaussian> {
    let pts = as_points(x);
    let mut kxx = k.matrix(pts.view(), pts.view())?;
    let scale = kxx.diag().iter().fold(0.0f64, |m, &v| m.max(v));
    kxx.diag_mut().mapv_inplace(|v| v + JITTER * scale);
    Ok(Gaussian::new(
        Array1::zeros(x.len()),
        Covariance::dense(kxx)?,
    )?)
}

/// Condition `prior` on noisy observations `y` of its first `y.len()` entries.
fn observe_first(prior: Gaussian, y: ArrayView1<'_, f64>) -> Result<Conditioned> {
    let n = prior.mean().len();
    let h = LinearMap::selection((0..y.len()).collect(), n)?;
    let noise = Covariance::scaled_identity(y.len(), NOISE_STD * NOISE_STD)?;
    Ok(prior.condition(h, y, &noise)?)
}

/// Run the panel: data, hyperparameters by marginal likelihood, posterior, figure.
pub(super) fn run(ctx: &mut PanelContext<'_>) -> Result<Map<String, Value>> {
    let mut rng = rng(ctx.seed);

    // Data: a seeded noisy sample of a smooth function at random inputs, one uniformly placed
    // in each of N_TRAIN equal cells (stratified, so no seed leaves a large gap in the data).
    let cell = (DOMAIN.1 - DOMAIN.0) / N_TRAIN as f64;
    let x_train =
        Array1::from_iter((0..N_TRAIN).map(|i| DOMAIN.0 + cell * (i as f64 + rng.random::<f64>())));
    let y_train = x_train.mapv(|x| truth(x) + NOISE_STD * rng.sample::<f64, _>(StandardNormal));
    let grid = Array1::linspace(DOMAIN.0, DOMAIN.1, N_GRID);
    let f_grid = grid.mapv(truth);
    ctx.reporter.say(format!(
        "      data: {N_TRAIN} observations of sin(3x) + 0.3x on [{}, {}], noise std {NOISE_STD}",
        DOMAIN.0, DOMAIN.1
    ));

    // Hyperparameters: maximise log p(y | lengthscale, outputscale) over a small grid.
    let lengthscales = Array1::logspace(10.0, (0.15f64).log10(), (3.0f64).log10(), 16);
    // The output scale is the prior variance k(x, x).
    let outputscales = [0.25, 0.5, 1.0, 2.0, 4.0];
    let bar = ctx.reporter.progress(
        (lengthscales.len() * outputscales.len()) as u64,
        "kernel hyperparameters",
    );
    let mut best = (lengthscales[0], outputscales[0], f64::NEG_INFINITY);
    for &ell in &lengthscales {
        for &sigma in &outputscales {
            let k = SquaredExponential::new(ell, sigma)?;
            let lml =
                observe_first(prior(&k, x_train.view())?, y_train.view())?.log_marginal_likelihood;
            if lml > best.2 {
                best = (ell, sigma, lml);
            }
            bar.inc(1);
        }
    }
    ctx.reporter.finish();
    let (ell, sigma, _) = best;
    ctx.reporter.say(format!(
        "      squared-exponential kernel: lengthscale {ell:.3}, output variance {sigma} \
         (maximum marginal likelihood over a {}×{} grid)",
        lengthscales.len(),
        outputscales.len()
    ));

    // Posterior: one joint Gaussian over f at [training inputs; grid], conditioned on y.
    let k = SquaredExponential::new(ell, sigma)?;
    let points: Array1<f64> = x_train.iter().chain(grid.iter()).copied().collect();
    let Conditioned {
        posterior,
        log_marginal_likelihood,
    } = observe_first(prior(&k, points.view())?, y_train.view())?;
    let grid_indices: Vec<usize> = (N_TRAIN..N_TRAIN + N_GRID).collect();
    let grid_post = posterior.marginal(&grid_indices)?;
    let mean = grid_post.mean().to_owned();
    // √diag Σ, with round-off below zero (never more than ~1e-15 here) clamped.
    let std = grid_post.var().mapv(|v| v.max(0.0).sqrt());
    let samples = grid_post.sample(&mut rng, N_SAMPLES)?;

    // How good is the belief? Error of the mean, and how often the truth lies in mean ± 2σ.
    let err = &mean - &f_grid;
    let rmse = (err.mapv(|e| e * e).sum() / N_GRID as f64).sqrt();
    let covered = err
        .iter()
        .zip(std.iter())
        .filter(|(e, s)| e.abs() <= 2.0 * **s)
        .count();
    let coverage = covered as f64 / N_GRID as f64;
    ctx.reporter.say(format!(
        "      log marginal likelihood {log_marginal_likelihood:.3}; RMSE of the mean vs truth \
         {rmse:.4}; mean ± 2σ covers the truth at {:.1}% of the grid",
        100.0 * coverage
    ));

    let title = format!("GP posterior: {N_TRAIN} noisy observations of sin(3x) + 0.3x");
    let plot = Belief1d::new(&title, grid.view(), mean.view(), std.view())
        .labels("x", "f(x)")
        .samples(samples.view())
        .truth(f_grid.view())
        .data(x_train.view(), y_train.view());
    belief_1d(&ctx.path, &plot)?;

    let metrics = json!({
        "n_train": N_TRAIN,
        "n_grid": N_GRID,
        "noise_std": NOISE_STD,
        "lengthscale": ell,
        "outputscale": sigma,
        "log_marginal_likelihood": log_marginal_likelihood,
        "rmse_vs_truth": rmse,
        "coverage_2sigma": coverage,
        "max_posterior_std": std.iter().fold(0.0f64, |m, &v| m.max(v)),
        "samples_drawn": samples.nrows(),
    });
    Ok(object(metrics))
}

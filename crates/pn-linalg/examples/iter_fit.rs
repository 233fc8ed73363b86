//! Hyperparameters without a Cholesky: `fit_iterative` on the data of `iter_bench_20k`
//! (x ~ U[0,1]³, f(x) = sin(2π x₀) cos(π x₁) + x₂², y = f + N(0, 0.1²), 2000 test points),
//! against the exact L-BFGS fit (`fit::fit`) on a random 2000-point subsample and, when asked,
//! on a larger one.
//!
//! Kernel: ARD squared exponential (3 lengthscales, output scale) plus the noise variance,
//! started at ℓ = 0.5, σ_f² = 1, σ² = 0.1 for every method. Reported per method: wall and
//! process CPU time, evaluations, CG iterations, fitted hyperparameters, the LML (estimated,
//! with its standard error, for the iterative fit) and the test RMSE of the posterior mean
//! (the iterative fit's mean uses the representer weights of its final CG solve).
//!
//! The iterative fit starts from the optimum of the 2000-point exact fit (fifth argument
//! `cold`: from the initial values).
//!
//! Run: `cargo run --release -p pn-linalg --example iter_fit [n] [exact_n] [max_iters] [probes] [cold]`
//! (defaults 20000, 0 = no larger exact fit, 30, 8).

use std::time::Instant;

use ndarray::{Array1, Array2, Axis};
use pn_core::LinearOperator;
use pn_core::kernels::{Kernel, KernelMatrix, SquaredExponential};
use pn_linalg::fit::{FitOptions, fit};
use pn_linalg::iterative::{BbmmParams, Control, IterFitOptions, fit_iterative_with_observer};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn f(r: ndarray::ArrayView1<'_, f64>) -> f64 {
    (2.0 * std::f64::consts::PI * r[0]).sin() * (std::f64::consts::PI * r[1]).cos() + r[2] * r[2]
}

fn rmse(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    ((a - b).mapv(|v| v * v).sum() / a.len() as f64).sqrt()
}

/// CPU seconds of this process (user + system), from `/proc/self/stat` (Linux; NaN elsewhere).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let ut: f64 = rest.get(11)?.parse().ok()?;
            let st: f64 = rest.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn hypers(theta: &[f64]) -> String {
    let e: Vec<String> = theta.iter().map(|t| format!("{:.4}", t.exp())).collect();
    e.join(", ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (n, exact_n, max_iters, probes) = (arg(1, 20_000), arg(2, 0), arg(3, 30), arg(4, 8));
    let (nt, d) = (2_000, 3);
    let mut rng = Pcg64::seed_from_u64(20_000);
    let x = Array2::from_shape_fn((n, d), |_| rng.random::<f64>());
    let xs = Array2::from_shape_fn((nt, d), |_| rng.random::<f64>());
    let y = x.map_axis(Axis(1), f)
        + Array1::from_shape_fn(n, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    let ys = xs.map_axis(Axis(1), f)
        + Array1::from_shape_fn(nt, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    let k0 = SquaredExponential::ard(vec![0.5; 3], 1.0)?;
    println!(
        "n = {n}, d = {d}, {nt} test points; ARD SE + noise from ℓ = 0.5, σ_f² = 1, σ² = 0.1; \
         threads {}; load at start {}",
        rayon::current_num_threads(),
        load()
    );
    println!(
        "| method | wall [s] | CPU [s] | evaluations | CG iterations | ℓ₁, ℓ₂, ℓ₃, σ_f², σ² | LML | test RMSE |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    let mut warm: Option<(Box<dyn Kernel>, f64)> = None;
    let mut sub = vec![2_000.min(n)];
    if exact_n > 0 {
        sub.push(exact_n.min(n));
    }
    for m in sub {
        let idx = sample(&mut Pcg64::seed_from_u64(7), n, m).into_vec();
        let xm = x.select(Axis(0), &idx);
        let ym = y.select(Axis(0), &idx);
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let fitted = fit(
            Box::new(k0.clone()),
            0.1,
            xm.view(),
            ym.view(),
            &FitOptions::default().restarts(0),
        )?;
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        // Test RMSE of the exact posterior mean with these hyperparameters on the subsample.
        let (mean, _) = fitted.gp.predict(xs.view())?;
        if warm.is_none() {
            warm = Some((fitted.kernel().box_clone(), fitted.noise_variance()));
        }
        println!(
            "| exact L-BFGS, {m}-point subsample | {wall:.1} | {cpu:.1} | {} | – | {} | {:.2} (on {m} points) | {:.5} |",
            fitted.info.evaluations,
            hypers(fitted.gp.log_params().as_slice().unwrap_or(&[])),
            fitted.log_marginal_likelihood(),
            rmse(&mean, &ys)
        );
    }

    let est = BbmmParams::default()
        .probes(probes)
        .precond_rank(300)
        .cg_rtol(1e-3);
    let opts = IterFitOptions::default()
        .restarts(0)
        .max_iters(max_iters as u64)
        .estimator(est);
    // Started from the subsample's optimum (what a front door that fits a subsample first
    // would do); `cold` as fifth argument starts from the initial values instead.
    let cold = std::env::args().nth(5).is_some_and(|a| a == "cold");
    let (start_kernel, start_noise) = match (cold, warm) {
        (false, Some(w)) => w,
        _ => (Box::new(k0.clone()) as Box<dyn Kernel>, 0.1),
    };
    let start = if cold {
        "cold start"
    } else {
        "from the subsample fit"
    };
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let fitted = fit_iterative_with_observer(
        start_kernel,
        start_noise,
        x.view(),
        y.view(),
        &opts,
        |s| {
            eprintln!(
                "  iteration {:>2}: {:7.1} s, LML {:.2} ± {:.2}, |g| {:.2e}, CG iterations so far {}, θ = [{}], load {}",
                s.iteration,
                t0.elapsed().as_secs_f64(),
                s.log_marginal_likelihood,
                s.lml_std_error,
                s.grad_norm,
                s.cg_iterations,
                hypers(s.log_params.as_slice().unwrap_or(&[])),
                load()
            );
            Control::Continue
        },
    )?;
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let mean = KernelMatrix::new(fitted.kernel.as_ref(), xs.view(), x.view())?
        .matvec(fitted.info.estimate.alpha.view());
    let mut theta = fitted.kernel.log_params().to_vec();
    theta.push(fitted.noise_variance.ln());
    println!(
        "| fit_iterative, all {n} points, {start} ({probes} probes, rank 300, CG rtol 1e-3) | {wall:.1} | {cpu:.1} | {} | {} | {} | {:.2} ± {:.2} | {:.5} |",
        fitted.info.evaluations,
        fitted.info.cg_iterations,
        hypers(&theta),
        fitted.log_marginal_likelihood(),
        fitted.lml_std_error(),
        rmse(&mean, &ys)
    );
    println!(
        "termination: {}; converged {}; gradient at the optimum {:.3e} ± {:.3e}; load at end {}",
        fitted.info.starts[fitted.info.best_start].termination,
        fitted.converged(),
        fitted.info.estimate.gradient,
        fitted.info.estimate.gradient_std_error,
        load()
    );
    Ok(())
}

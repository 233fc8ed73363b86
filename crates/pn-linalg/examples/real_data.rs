//! GP regression on the two real data sets shipped with pn-linalg, with the kernels and splits
//! that `benches/gp_real_data.py` gives scikit-learn's `GaussianProcessRegressor`.
//!
//! ```text
//! cargo run --release -p pn-linalg --example real_data [-- --json]
//! ```
//!
//! * **mcycle** (133 points): squared exponential + noise; test set = every fifth point
//!   (indices 2, 7, 12, …; 27 points), the rest trains.
//! * **co2** (468 months): the composite kernel of Rasmussen & Williams §5.4.3 — long-term SE
//!   trend + SE × periodic (seasonal, period fitted) + rational quadratic (medium term) + short SE
//!   + noise; train on 1959–1990 (384 months), test on 1991–1997 (84 months, extrapolation).
//!
//! Targets are standardised (mean 0, standard deviation 1 on the training set), as scikit-learn's
//! `normalize_y=True`; RMSE and NLPD (mean negative log predictive density of the noisy test
//! targets) are in the targets' units. Restarts: 3 (seed 0) in addition to the initial values;
//! up to 1000 L-BFGS iterations per start for CO₂ (the likelihood has a long, flat ridge between
//! the trend and the noise terms; 200 iterations stop short of scikit-learn's evidence).

use std::time::Instant;

use ndarray::{Array1, Array2, Axis};
use pn_core::kernels::{Kernel, Periodic, RationalQuadratic, SquaredExponential};
use pn_linalg::fit::FitOptions;
use pn_linalg::gp::{GpPosterior, GpRegression, datasets};

struct Outcome {
    name: &'static str,
    n_train: usize,
    n_test: usize,
    rmse: f64,
    nlpd: f64,
    lml: f64,
    seconds: f64,
    params: Vec<(String, f64)>,
    noise: f64,
}

fn split(
    x: &Array2<f64>,
    y: &Array1<f64>,
    is_test: impl Fn(usize) -> bool,
) -> (Array2<f64>, Array1<f64>, Array2<f64>, Array1<f64>) {
    let (test, train): (Vec<usize>, Vec<usize>) = (0..y.len()).partition(|&i| is_test(i));
    (
        x.select(Axis(0), &train),
        y.select(Axis(0), &train),
        x.select(Axis(0), &test),
        y.select(Axis(0), &test),
    )
}

fn run(
    name: &'static str,
    reg: GpRegression,
    data: (Array2<f64>, Array1<f64>, Array2<f64>, Array1<f64>),
) -> Result<Outcome, pn_linalg::Error> {
    let (xt, yt, xs, ys) = data;
    let t = Instant::now();
    let post: GpPosterior = reg.fit(xt.view(), yt.view())?;
    let seconds = t.elapsed().as_secs_f64();
    let (mean, _) = post.predict(xs.view())?;
    let rmse = ((&mean - &ys).mapv(|e| e * e).mean().unwrap_or(0.0)).sqrt();
    let nlpd = post.nlpd(xs.view(), ys.view())?;
    let names = post.kernel().param_names();
    let params = names
        .into_iter()
        .zip(post.kernel().log_params().iter().map(|v| v.exp()))
        .collect();
    Ok(Outcome {
        name,
        n_train: yt.len(),
        n_test: ys.len(),
        rmse,
        nlpd,
        lml: post.log_marginal_likelihood().unwrap_or(f64::NAN),
        seconds,
        params,
        noise: post.noise_variance(),
    })
}

/// The composite CO₂ kernel and its initial values (standardised targets, time in years).
fn co2_kernel() -> Box<dyn Kernel> {
    Box::new(
        SquaredExponential::new(50.0, 1.0).expect("valid")
            + SquaredExponential::new(100.0, 0.1).expect("valid")
                * Periodic::new(1.0, 1.0, 1.0).expect("valid")
            + RationalQuadratic::new(1.0, 1.0, 0.01).expect("valid")
            + SquaredExponential::new(0.1, 0.001).expect("valid"),
    )
}

fn main() -> Result<(), pn_linalg::Error> {
    let json = std::env::args().any(|a| a == "--json");
    let (x, y) = datasets::mcycle();
    let mcycle = run(
        "mcycle",
        GpRegression::new(Box::new(SquaredExponential::new(5.0, 1.0)?), 0.1)
            .fit_options(FitOptions::default().restarts(3).seed(0)),
        split(&x, &y, |i| i % 5 == 2),
    )?;
    let (x, y) = datasets::co2();
    let co2 = run(
        "co2",
        // Parameter 6 (the periodic factor's output scale) duplicates the SE factor's: fixed.
        GpRegression::new(co2_kernel(), 0.001).fit_options(
            FitOptions::default()
                .restarts(3)
                .seed(0)
                .max_iters(1000)
                .fix(6),
        ),
        split(&x, &y, |i| x[[i, 0]] >= 1991.0),
    )?;
    for o in [&mcycle, &co2] {
        if json {
            let params: Vec<String> = o
                .params
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v:e}"))
                .collect();
            println!(
                "{{\"data\": \"{}\", \"n_train\": {}, \"n_test\": {}, \"rmse\": {:e}, \"nlpd\": {:e}, \"lml\": {:e}, \"seconds\": {:e}, \"noise_variance\": {:e}, \"params\": {{{}}}}}",
                o.name,
                o.n_train,
                o.n_test,
                o.rmse,
                o.nlpd,
                o.lml,
                o.seconds,
                o.noise,
                params.join(", ")
            );
        } else {
            println!(
                "{}: n = {} train / {} test, fitted in {:.2} s\n  test RMSE {:.4}, NLPD {:.4}, log p(y_train) {:.3}",
                o.name, o.n_train, o.n_test, o.seconds, o.rmse, o.nlpd, o.lml
            );
            println!("  hyperparameters (standardised targets):");
            for (k, v) in &o.params {
                println!("    {k:<24} {v:.6}");
            }
            println!("    {:<24} {:.6}", "noise_variance", o.noise);
        }
    }
    Ok(())
}

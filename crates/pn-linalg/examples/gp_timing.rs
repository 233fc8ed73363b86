//! Times exact GP regression end to end inside the process and prints one JSON line.
//!
//! Used by `benches/gp_exact_vs_numpy.py` (run it through `benches/run_gp.sh`), which alternates
//! these runs with the NumPy/SciPy recipe on the same inputs.
//!
//! ```text
//! gp_timing exact N [REPS]      # ExactGp::new (assemble K, add σ², Cholesky, α) + predict 500 points
//! gp_timing cholesky N [REPS]   # only pn_core::dense::cholesky of K + σ²I (K built untimed)
//! gp_timing cholesky_inplace N [REPS]  # pn_core::dense::cholesky_owned of an untimed copy
//! gp_timing phases N [REPS]     # the steps of `exact`, timed one by one (where the time goes)
//! ```
//!
//! Squared-exponential kernel (ℓ = 1, σ_f² = 1), noise σ² = 1e-2, d = 2; deterministic inputs
//! `xᵢ = 2 (sin(0.7 i + 0.3), cos(1.3 i))`, targets `yᵢ = sin(3 xᵢ₀) + cos(2 xᵢ₁)`, test points
//! `x*ⱼ = 2 (sin(0.37 j + 1.1), cos(0.91 j))`, so Python builds the same arrays. One untimed
//! warm-up, then `REPS` timed runs (`Instant` around the library calls). Threads follow
//! `RAYON_NUM_THREADS`.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use ndarray::{Array1, Array2};
use pn_core::dense;
use pn_core::kernels::{Kernel, SquaredExponential};
use pn_linalg::exact::ExactGp;

const NOISE: f64 = 1e-2;
const N_TEST: usize = 500;

fn points(n: usize, a: f64, b: f64, c: f64) -> Array2<f64> {
    Array2::from_shape_fn((n, 2), |(i, k)| {
        let t = i as f64;
        if k == 0 {
            2.0 * (a * t + b).sin()
        } else {
            2.0 * (c * t).cos()
        }
    })
}

fn targets(x: &Array2<f64>) -> Array1<f64> {
    x.rows()
        .into_iter()
        .map(|r| (3.0 * r[0]).sin() + (2.0 * r[1]).cos())
        .collect()
}

fn run(task: &str, n: usize, reps: usize) -> pn_linalg::Result<String> {
    let x = points(n, 0.7, 0.3, 1.3);
    let xs = points(N_TEST, 0.37, 1.1, 0.91);
    let y = targets(&x);
    let kernel = SquaredExponential::new(1.0, 1.0)?;
    let mut seconds = Vec::with_capacity(reps);
    let extra = match task {
        "exact" => {
            let once = || -> pn_linalg::Result<(f64, Array1<f64>, Array1<f64>)> {
                let gp = ExactGp::new(Box::new(kernel.clone()), NOISE, x.view(), y.view())?;
                let (m, v) = gp.predict(xs.view())?;
                Ok((gp.log_marginal_likelihood(), m, v))
            };
            black_box(once()?);
            let mut last = None;
            for _ in 0..reps {
                let t0 = Instant::now();
                let r = once()?;
                seconds.push(t0.elapsed().as_secs_f64());
                last = Some(black_box(r));
            }
            let (lml, m, v) = last.expect("one repetition");
            format!(
                "\"lml\":{lml:.17e},\"mean_sum\":{:.17e},\"mean_abs_sum\":{:.17e},\"var_sum\":{:.17e},\"mean0\":{:.17e},\"var0\":{:.17e}",
                m.sum(),
                m.mapv(f64::abs).sum(),
                v.sum(),
                m[0],
                v[0]
            )
        }
        "cholesky" => {
            let mut a = kernel.matrix(x.view(), x.view())?;
            a.diag_mut().mapv_inplace(|d| d + NOISE);
            black_box(dense::cholesky(a.view())?);
            let mut last = None;
            for _ in 0..reps {
                let t0 = Instant::now();
                let c = dense::cholesky(black_box(a.view()))?;
                seconds.push(t0.elapsed().as_secs_f64());
                last = Some(black_box(c));
            }
            format!("\"logdet\":{:.17e}", last.expect("one repetition").logdet())
        }
        "cholesky_inplace" => {
            let mut a = kernel.matrix(x.view(), x.view())?;
            a.diag_mut().mapv_inplace(|d| d + NOISE);
            black_box(dense::cholesky_owned(a.clone())?);
            let mut last = None;
            for _ in 0..reps {
                // The copy touches every page of the buffer before the clock starts.
                let b = a.clone();
                let t0 = Instant::now();
                let c = dense::cholesky_owned(black_box(b))?;
                seconds.push(t0.elapsed().as_secs_f64());
                last = Some(black_box(c));
            }
            format!("\"logdet\":{:.17e}", last.expect("one repetition").logdet())
        }
        "phases" => {
            // The steps ExactGp::new + predict take, in order, each timed on its own.
            let mut rows: Vec<(&str, Vec<f64>)> = [
                "assemble K (kernel.matrix, n x n)",
                "add noise to the diagonal",
                "Cholesky in place (cholesky_owned)",
                "alpha = (K + s2 I)^-1 y, log det",
                "cross-covariance K* (n x 500)",
                "V = L^-1 K* (triangular solve, 500 columns)",
                "mean K*^T alpha, variances",
            ]
            .into_iter()
            .map(|s| (s, Vec::new()))
            .collect();
            for rep in 0..=reps {
                let mut lap = Instant::now();
                let mut record = |i: usize, rows: &mut Vec<(&str, Vec<f64>)>| {
                    if rep > 0 {
                        rows[i].1.push(lap.elapsed().as_secs_f64());
                    }
                    lap = Instant::now();
                };
                let mut k = kernel.matrix(x.view(), x.view())?;
                record(0, &mut rows);
                k.diag_mut().mapv_inplace(|d| d + NOISE);
                record(1, &mut rows);
                let chol = dense::cholesky_owned(k)?;
                record(2, &mut rows);
                let alpha = chol.solve(y.view())?;
                black_box(chol.logdet());
                record(3, &mut rows);
                let ks = kernel.matrix(x.view(), xs.view())?;
                record(4, &mut rows);
                let v = chol.solve_l(ks.view())?;
                record(5, &mut rows);
                let m = ks.t().dot(&alpha);
                let var = kernel.diag(xs.view())? - v.map_axis(ndarray::Axis(0), |c| c.dot(&c));
                black_box((m, var));
                record(6, &mut rows);
            }
            rows.iter()
                .map(|(name, t)| {
                    let v: Vec<String> = t.iter().map(|s| format!("{s:.6e}")).collect();
                    format!("\"{name}\":[{}]", v.join(","))
                })
                .collect::<Vec<_>>()
                .join(",")
        }
        _ => unreachable!("checked in main"),
    };
    let secs: Vec<String> = seconds.iter().map(|s| format!("{s:.9e}")).collect();
    Ok(format!(
        "{{\"task\":\"{task}\",\"n\":{n},\"threads\":{},\"seconds\":[{}],{extra}}}",
        rayon::current_num_threads(),
        secs.join(",")
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [t, n, rest @ ..]
            if ["exact", "cholesky", "cholesky_inplace", "phases"].contains(&t.as_str())
                && rest.len() <= 1 =>
        {
            let n = n.parse::<usize>().ok().filter(|&n| n >= 8);
            let reps = rest.first().map_or(Some(1), |r| r.parse::<usize>().ok());
            n.zip(reps).map(|(n, r)| (t.clone(), n, r.max(1)))
        }
        _ => None,
    };
    let Some((task, n, reps)) = parsed else {
        eprintln!("usage: gp_timing (exact|cholesky|cholesky_inplace|phases) N [REPS]");
        return ExitCode::from(2);
    };
    match run(&task, n, reps) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gp_timing: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Times one pn-core operation inside the process and prints one JSON line.
//!
//! Used by `benches/core_vs_numpy.py` (run it through `benches/run_core.sh`), which alternates
//! these runs with NumPy/SciPy doing the same work on the same inputs.
//!
//! ```text
//! timing assemble N [REPS]   # K = k_SE(X, X), ℓ = 1, σ² = 1, X ∈ ℝ^{N×2}
//! timing cholesky N [REPS]   # L Lᵀ = K + 1e-2 I (K built as above, untimed)
//! ```
//!
//! The inputs are deterministic, `xᵢ = 2 (sin(0.7 i + 0.3), cos(1.3 i))`, so that Python builds
//! exactly the same points without sharing a random number generator. Each run first does one
//! untimed warm-up of the operation (thread pool start-up, first-touch page faults), then `REPS`
//! (default 1) timed ones; `seconds` lists each timed run, measured with `Instant` around the
//! library call only. Thread counts follow `RAYON_NUM_THREADS` (faer uses rayon's pool).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use ndarray::Array2;
use pn_core::dense;
use pn_core::kernels::{Kernel, SquaredExponential};

/// Lengthscale and output scale of the squared-exponential kernel.
const LENGTHSCALE: f64 = 1.0;
const OUTPUTSCALE: f64 = 1.0;
/// Diagonal noise added to the Gram matrix before the Cholesky factorisation.
const NOISE: f64 = 1e-2;

fn points(n: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, 2), |(i, k)| {
        let t = i as f64;
        if k == 0 {
            2.0 * (0.7 * t + 0.3).sin()
        } else {
            2.0 * (1.3 * t).cos()
        }
    })
}

/// A few fixed entries `(i, j, K[i, j])` for the cross-check against NumPy.
fn probes(k: &Array2<f64>) -> String {
    let n = k.nrows();
    let idx = [
        (0, 1),
        (n / 2, n / 3),
        (n - 1, 0),
        (n - 1, n - 1),
        (n / 7, (5 * n) / 7),
    ];
    let items: Vec<String> = idx
        .iter()
        .map(|&(i, j)| format!("[{i},{j},{:.17e}]", k[[i, j]]))
        .collect();
    format!("[{}]", items.join(","))
}

/// The sum of all entries, compensated (Neumaier) so that it is accurate to a few ulp whatever
/// the summation order NumPy uses on its side.
fn checksum(k: &Array2<f64>) -> f64 {
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for &v in k {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            comp += (sum - t) + v;
        } else {
            comp += (v - t) + sum;
        }
        sum = t;
    }
    sum + comp
}

fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:.9e}")).collect();
    format!("[{}]", items.join(","))
}

fn run(task: &str, n: usize, reps: usize) -> pn_core::Result<String> {
    let x = points(n);
    let kernel = SquaredExponential::new(LENGTHSCALE, OUTPUTSCALE)?;
    let mut seconds = Vec::with_capacity(reps);
    let extra = match task {
        "assemble" => {
            black_box(kernel.matrix(x.view(), x.view())?);
            let mut last = None;
            for _ in 0..reps {
                let t0 = Instant::now();
                let k = kernel.matrix(black_box(x.view()), black_box(x.view()))?;
                seconds.push(t0.elapsed().as_secs_f64());
                last = Some(black_box(k));
            }
            let k = last.expect("at least one repetition");
            format!(
                "\"checksum\":{:.17e},\"entries\":{}",
                checksum(&k),
                probes(&k)
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
            let c = last.expect("at least one repetition");
            format!(
                "\"checksum\":{:.17e},\"logdet\":{:.17e}",
                checksum(&a),
                c.logdet()
            )
        }
        _ => unreachable!("checked in main"),
    };
    let backend = if cfg!(feature = "lapack") {
        "lapack"
    } else {
        "faer"
    };
    Ok(format!(
        "{{\"task\":\"{task}\",\"n\":{n},\"backend\":\"{backend}\",\"threads\":{},\"seconds\":{},{extra}}}",
        rayon::current_num_threads(),
        json_list(&seconds),
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: timing (assemble|cholesky) N [REPS]";
    let (task, n, reps) = match args.as_slice() {
        [t, n, rest @ ..] if (t == "assemble" || t == "cholesky") && rest.len() <= 1 => {
            let n = n.parse::<usize>().ok().filter(|&n| n >= 8);
            let reps = match rest.first() {
                Some(r) => r.parse::<usize>().ok().filter(|&r| r >= 1),
                None => Some(1),
            };
            match (n, reps) {
                (Some(n), Some(r)) => (t.as_str(), n, r),
                _ => {
                    eprintln!("{usage}\n(N ≥ 8 and REPS ≥ 1 are integers)");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match run(task, n, reps) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("timing {task} {n}: {e}");
            ExitCode::FAILURE
        }
    }
}

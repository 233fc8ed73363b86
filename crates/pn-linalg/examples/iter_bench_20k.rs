//! Preconditioned CG and IterGP against the exact (Cholesky) GP at n = 20 000, d = 3.
//!
//! Data: x ~ U[0,1]³ (seeded `Pcg64`), f(x) = sin(2π x₀) cos(π x₁) + x₂², y = f + N(0, 0.1²);
//! 20 000 training and 2 000 test points; SE kernel with lengthscale 0.2, output scale 1, noise
//! variance 0.01 (fixed, the same for every method). Reported: wall time of each stage, CG
//! iterations and the test RMSE against the noisy test targets.
//!
//! Run: `cargo run --release -p pn-linalg --example iter_bench_20k [n_train]`
//!
//! `iter_bench_20k N peer DIR` is the pn side of `benches/gp_gpytorch_cg.py`: it writes the
//! data (`DIR/train.csv`, `DIR/test.csv`) and, unless `DIR/exact_mean.csv` exists, the exact
//! predictive mean (Cholesky in place) there, then prints one JSON line per preconditioned-CG
//! configuration (rank 100/300 × rtol 1e-2/1e-3) on a stored `K + σ²I` — as GPyTorch's CG path
//! stores its kernel matrix — with times, iterations, test RMSE and the largest deviation of the
//! mean from the exact one.

use std::time::Instant;

use ndarray::{Array1, Array2, Axis};
use pn_core::kernels::{Kernel, KernelMatrix, SquaredExponential};
use pn_linalg::iterative::{CgParams, Control, PivotedCholesky, cg};
use pn_linalg::itergp::{IterGp, IterGpParams, Policy};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn f(r: ndarray::ArrayView1<'_, f64>) -> f64 {
    (2.0 * std::f64::consts::PI * r[0]).sin() * (std::f64::consts::PI * r[1]).cos() + r[2] * r[2]
}

fn rmse(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    ((a - b).mapv(|v| v * v).sum() / a.len() as f64).sqrt()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(20_000, |a| a.parse().expect("n"));
    // Second argument `itergp`: only the IterGP rows; `peer DIR`: the GPyTorch comparison.
    let only_itergp = std::env::args().nth(2).is_some_and(|a| a == "itergp");
    let peer_dir = std::env::args()
        .nth(2)
        .filter(|a| a == "peer")
        .and_then(|_| std::env::args().nth(3));
    let (nt, d, s2) = (2_000, 3, 0.01);
    let mut rng = Pcg64::seed_from_u64(20_000);
    let x = Array2::from_shape_fn((n, d), |_| rng.random::<f64>());
    let xs = Array2::from_shape_fn((nt, d), |_| rng.random::<f64>());
    let y = x.map_axis(Axis(1), f)
        + Array1::from_shape_fn(n, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    let ys = xs.map_axis(Axis(1), f)
        + Array1::from_shape_fn(nt, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    let k = SquaredExponential::new(0.2, 1.0)?;
    if let Some(dir) = peer_dir {
        return peer(&dir, &k, s2, (&x, &y), (&xs, &ys));
    }
    println!(
        "n = {n}, d = {d}, {nt} test points, SE(ℓ = 0.2), σ² = {s2}; threads: {}",
        rayon::current_num_threads()
    );
    println!(
        "| method | setup [s] | solve [s] | predict [s] | total [s] | iterations | test RMSE |"
    );
    println!("|---|---|---|---|---|---|---|");

    let mut rmse_exact = f64::NAN;
    if !only_itergp {
        // Exact GP: assemble, factorise, solve, predict the mean.
        let t0 = Instant::now();
        let mut kxx = k.matrix(x.view(), x.view())?;
        kxx.diag_mut().mapv_inplace(|v| v + s2);
        let t_asm = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let chol = pn_core::dense::cholesky(kxx.view())?;
        drop(kxx);
        let alpha = chol.solve(y.view())?;
        let t_fact = t1.elapsed().as_secs_f64();
        drop(chol);
        let t2 = Instant::now();
        let mean_exact = k.matrix(xs.view(), x.view())?.dot(&alpha);
        let t_pred = t2.elapsed().as_secs_f64();
        rmse_exact = rmse(&mean_exact, &ys);
        println!(
            "| exact (Cholesky) | {t_asm:.2} | {t_fact:.2} | {t_pred:.2} | {:.2} | – | {rmse_exact:.5} |",
            t_asm + t_fact + t_pred
        );

        for (rank, rtol) in [(100, 1e-2), (100, 1e-3), (300, 1e-3)] {
            let t0 = Instant::now();
            let pc = PivotedCholesky::from_kernel(&k, x.view(), rank, 0.0)?;
            let pre = pc.preconditioner(s2)?;
            let t_setup = t0.elapsed().as_secs_f64();
            let op = KernelMatrix::symmetric(&k, x.view())?.with_noise(s2)?;
            let t1 = Instant::now();
            let sol = cg(
                &op,
                y.view(),
                None,
                Some(&pre),
                &CgParams::default().rtol(rtol),
                |_| Control::Continue,
            )?;
            let t_solve = t1.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let mean = k.matrix(xs.view(), x.view())?.dot(&sol.x);
            let t_pred = t2.elapsed().as_secs_f64();
            println!(
                "| PCG, rank {rank}, rtol {rtol:.0e} (on-the-fly K) | {t_setup:.2} | {t_solve:.2} | {t_pred:.2} | {:.2} | {} | {:.5} ({:+.2} %) |",
                t_setup + t_solve + t_pred,
                sol.info.iterations,
                rmse(&mean, &ys),
                100.0 * (rmse(&mean, &ys) / rmse_exact - 1.0)
            );
        }
    }
    // IterGP: preconditioned-CG policy, and the deflated policy (pivoted-Cholesky unit vectors,
    // then residuals): mean and combined variance.
    let policies = [
        (
            "PCG policy rank 100",
            Policy::Cg {
                preconditioner_rank: 100,
            },
        ),
        (
            "deflated policy, 300 pivots then CG",
            Policy::PivotedCholeskyThenCg { rank: 300 },
        ),
    ];
    for (name, policy) in policies {
        let t0 = Instant::now();
        let gp = IterGp::new(&k, x.view(), s2)?;
        let params = IterGpParams::default().policy(policy).rtol(1e-2);
        let post = gp.fit(y.view(), &params, |_| Control::Continue)?;
        let t_fit = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let (mean, var) = post.predict(xs.view())?;
        let t_pred = t1.elapsed().as_secs_f64();
        let z2 = ((&mean - &ys).mapv(|v| v * v) / (&var + s2))
            .mean()
            .unwrap_or(f64::NAN);
        println!(
            "| IterGP, {name}, rtol 1e-2 (mean + variance) | – | {t_fit:.2} | {t_pred:.2} | {:.2} | {} | {:.5} ({:+.2} %); mean z² of y* {:.2} |",
            t_fit + t_pred,
            post.info().iterations,
            rmse(&mean, &ys),
            100.0 * (rmse(&mean, &ys) / rmse_exact - 1.0),
            z2
        );
    }
    Ok(())
}

fn write_csv(path: &str, x: &Array2<f64>, y: &Array1<f64>) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut out = String::from("x0,x1,x2,y\n");
    for (r, v) in x.rows().into_iter().zip(y) {
        let _ = writeln!(out, "{:.17e},{:.17e},{:.17e},{v:.17e}", r[0], r[1], r[2]);
    }
    std::fs::write(path, out)
}

/// The pn side of the GPyTorch comparison (see the module documentation).
fn peer(
    dir: &str,
    k: &SquaredExponential,
    s2: f64,
    (x, y): (&Array2<f64>, &Array1<f64>),
    (xs, ys): (&Array2<f64>, &Array1<f64>),
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    write_csv(&format!("{dir}/train.csv"), x, y)?;
    write_csv(&format!("{dir}/test.csv"), xs, ys)?;
    let exact_path = format!("{dir}/exact_mean.csv");
    let exact: Array1<f64> = if let Ok(text) = std::fs::read_to_string(&exact_path) {
        text.lines()
            .map(|l| l.trim().parse::<f64>())
            .collect::<Result<_, _>>()?
    } else {
        let t0 = Instant::now();
        let mut kxx = k.matrix(x.view(), x.view())?;
        kxx.diag_mut().mapv_inplace(|v| v + s2);
        let chol = pn_core::dense::cholesky_owned(kxx)?;
        let alpha = chol.solve(y.view())?;
        drop(chol);
        let mean = k.matrix(xs.view(), x.view())?.dot(&alpha);
        let text: Vec<String> = mean.iter().map(|v| format!("{v:.17e}")).collect();
        std::fs::write(&exact_path, text.join("\n") + "\n")?;
        println!(
            "{{\"tool\":\"pn\",\"method\":\"exact (Cholesky in place)\",\"seconds\":{:.3},\"rmse\":{:.6}}}",
            t0.elapsed().as_secs_f64(),
            rmse(&mean, ys)
        );
        mean
    };
    let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let t0 = Instant::now();
    let mut kxx = k.matrix(x.view(), x.view())?;
    kxx.diag_mut().mapv_inplace(|v| v + s2);
    let t_asm = t0.elapsed().as_secs_f64();
    let ksx = k.matrix(xs.view(), x.view())?;
    for rank in [100, 300] {
        for rtol in [1e-2, 1e-3] {
            let t0 = Instant::now();
            let pc = PivotedCholesky::from_kernel(k, x.view(), rank, 0.0)?;
            let pre = pc.preconditioner(s2)?;
            let t_setup = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let sol = cg(
                &kxx,
                y.view(),
                None,
                Some(&pre),
                &CgParams::default().rtol(rtol),
                |_| Control::Continue,
            )?;
            let t_solve = t1.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let mean = ksx.dot(&sol.x);
            let t_pred = t2.elapsed().as_secs_f64();
            let dev = (&mean - &exact).iter().fold(0.0f64, |m, v| m.max(v.abs())) / scale;
            println!(
                "{{\"tool\":\"pn\",\"method\":\"PCG, stored K\",\"rank\":{rank},\"rtol\":{rtol:e},\"threads\":{},\"assemble_s\":{t_asm:.3},\"precond_s\":{t_setup:.3},\"solve_s\":{t_solve:.3},\"predict_s\":{t_pred:.3},\"iterations\":{},\"rmse\":{:.6},\"max_dev_rel\":{dev:.3e}}}",
                rayon::current_num_threads(),
                sol.info.iterations,
                rmse(&mean, ys)
            );
        }
    }
    Ok(())
}

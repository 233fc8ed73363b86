//! Time per fit + integrate and error at equal n against MC, QMC and tensor Gauss–Legendre, on
//! Genz "gaussian" problems in 1-D (a = 10) and 3-D (a = 5 per dimension), scrambled-Halton
//! nodes, n = 16 … 256.
//!
//! `cargo run --release -p pn-quad --example timing`

use std::time::Instant;

use pn_quad::genz::GenzFamily;
use pn_quad::rules::{gauss_tensor, halton_scrambled, monte_carlo, quasi_monte_carlo};
use pn_quad::{BqOptions, FitOptions, QuadKernel, bayesian_quadrature, fit_lengthscales};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    println!(
        "| d | n | BQ fixed ℓ: ms | BQ fitted ℓ: ms | BQ |err| (fitted) | BQ std | MC |err| (median of 20) | QMC |err| (median of 20) | Gauss–Legendre |err| (nodes) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (d, a) in [(1usize, 10.0), (3, 5.0)] {
        let p = GenzFamily::Gaussian
            .instance(vec![a; d], vec![0.5; d])
            .unwrap();
        let truth = p.integral();
        let m = p.measure();
        for n in [16usize, 32, 64, 128, 256] {
            let x = halton_scrambled(n, d, &mut Pcg64::seed_from_u64(1)).unwrap();
            let y: ndarray::Array1<f64> = x.rows().into_iter().map(|r| p.eval(r)).collect();
            let k0 = QuadKernel::squared_exponential(vec![0.5 / a; d], 1.0).unwrap();
            let reps = if n <= 64 { 50 } else { 10 };
            let mut t_fixed = vec![];
            for _ in 0..reps {
                let t = Instant::now();
                let post = bayesian_quadrature(&k0, &m, x.view(), y.view(), &BqOptions::default())
                    .unwrap();
                t_fixed.push(t.elapsed().as_secs_f64() * 1e3);
                std::hint::black_box(post.belief);
            }
            // Fitted: lengthscales by profile marginal likelihood (pn_quad::fit_lengthscales), then BQ.
            let mut t_fit = vec![];
            let mut post = None;
            for _ in 0..reps.min(10) {
                let t = Instant::now();
                let k = fit_lengthscales(&k0, x.view(), y.view(), &FitOptions::default())
                    .unwrap()
                    .kernel;
                let pst =
                    bayesian_quadrature(&k, &m, x.view(), y.view(), &BqOptions::default()).unwrap();
                t_fit.push(t.elapsed().as_secs_f64() * 1e3);
                post = Some(pst);
            }
            let post = post.unwrap();
            let mut rng = Pcg64::seed_from_u64(7);
            let mc: Vec<f64> = (0..20)
                .map(|_| (monte_carlo(|x| p.eval(x), &m, n, &mut rng).unwrap().value - truth).abs())
                .collect();
            let qmc: Vec<f64> = (0..20)
                .map(|_| {
                    (quasi_monte_carlo(|x| p.eval(x), &m, n, &mut rng)
                        .unwrap()
                        .value
                        - truth)
                        .abs()
                })
                .collect();
            let per = ((n as f64).powf(1.0 / d as f64) + 1e-9).floor() as usize;
            let gl = gauss_tensor(|x| p.eval(x), &m, per).unwrap();
            println!(
                "| {d} | {n} | {:.3} | {:.2} | {:.1e} | {:.1e} | {:.1e} | {:.1e} | {:.1e} ({}) |",
                median(t_fixed),
                median(t_fit),
                (post.belief.mean - truth).abs(),
                post.belief.std(),
                median(mc),
                median(qmc),
                (gl.value - truth).abs(),
                gl.nodes.nrows()
            );
        }
    }
}

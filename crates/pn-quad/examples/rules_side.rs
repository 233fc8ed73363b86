//! The pn side of `benches/quad_rules.py`: errors of Monte Carlo, scrambled-Sobol' QMC, tensor
//! Gauss–Legendre and Bayesian quadrature at given numbers of evaluations, on the Genz
//! "gaussian" integrand `exp(−Σ a²(xₖ − ½)²)` on `[0, 1]ᵈ` (d = 1: a = 10; d = 3: a = 5).
//!
//! `cargo run --release -p pn-quad --example rules_side -- D N1 N2 …` prints one JSON line per
//! n: median |error| of MC and Sobol' over 20 seeds, the Gauss–Legendre error with
//! ⌊n^{1/d}⌋ points per dimension (and that node count), and BQ's |error| and std (SE kernel,
//! scrambled Sobol' nodes, lengthscales by [`pn_quad::fit_lengthscales`]; only for n ≤ 1024).

use ndarray::Array1;
use pn_quad::genz::GenzFamily;
use pn_quad::rules::{gauss_tensor, monte_carlo, quasi_monte_carlo_sobol, sobol_scrambled};
use pn_quad::{BqOptions, FitOptions, QuadKernel, bayesian_quadrature, fit_lengthscales};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("integer"))
        .collect();
    let d = args[0];
    let a = if d == 1 { 10.0 } else { 5.0 };
    let p = GenzFamily::Gaussian
        .instance(vec![a; d], vec![0.5; d])
        .unwrap();
    let m = p.measure();
    let truth = p.integral();
    for &n in &args[1..] {
        let mut rng = Pcg64::seed_from_u64(n as u64);
        let mc = median(
            (0..20)
                .map(|_| (monte_carlo(|x| p.eval(x), &m, n, &mut rng).unwrap().value - truth).abs())
                .collect(),
        );
        let qmc = median(
            (0..20)
                .map(|_| {
                    (quasi_monte_carlo_sobol(|x| p.eval(x), &m, n, &mut rng)
                        .unwrap()
                        .value
                        - truth)
                        .abs()
                })
                .collect(),
        );
        let per = ((n as f64).powf(1.0 / d as f64) + 1e-9).floor() as usize;
        let gl = (gauss_tensor(|x| p.eval(x), &m, per).unwrap().value - truth).abs();
        let (mut bq_err, mut bq_std) = (f64::NAN, f64::NAN);
        if n <= 1024 {
            let x = sobol_scrambled(n, d, &mut Pcg64::seed_from_u64(0)).unwrap();
            let y: Array1<f64> = x.rows().into_iter().map(|r| p.eval(r)).collect();
            let k0 = QuadKernel::squared_exponential(vec![0.5 / a; d], 1.0).unwrap();
            let k = fit_lengthscales(&k0, x.view(), y.view(), &FitOptions::default())
                .unwrap()
                .kernel;
            let post =
                bayesian_quadrature(&k, &m, x.view(), y.view(), &BqOptions::default()).unwrap();
            bq_err = (post.belief.mean - truth).abs();
            bq_std = post.belief.std();
        }
        println!(
            "{{\"d\": {d}, \"n\": {n}, \"mc\": {mc:e}, \"sobol\": {qmc:e}, \"gl\": {gl:e}, \"gl_n\": {}, \"bq\": {}, \"bq_std\": {}}}",
            per.pow(d as u32),
            if bq_err.is_nan() {
                "null".to_string()
            } else {
                format!("{bq_err:e}")
            },
            if bq_std.is_nan() {
                "null".to_string()
            } else {
                format!("{bq_std:e}")
            },
        );
    }
}

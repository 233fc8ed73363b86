//! The pn side of `benches/quad_peers.py`: reads node sets from a file, times Bayesian
//! quadrature (fixed lengthscale, and lengthscales fitted by
//! [`pn_quad::fit_lengthscales`]) on them, prints one JSON line per case.
//!
//! Input file, one case per line: `d a u n ell x_11 … x_1d x_21 …` (Genz "gaussian"
//! `exp(−Σ a²(xₖ − u)²)` on `[0, 1]ᵈ`, n nodes row-major, initial SE lengthscale ell).
//!
//! `cargo run --release -p pn-quad --example peer_side -- FILE REPS`

use std::time::Instant;

use ndarray::{Array1, Array2};
use pn_quad::genz::GenzFamily;
use pn_quad::{BqOptions, FitOptions, QuadKernel, bayesian_quadrature, fit_lengthscales};

/// CPU time of this thread in seconds (Linux `/proc/thread-self/schedstat`, first field in ns;
/// updated at scheduler events, so only differences over ≥ 0.1 s are meaningful); 0 where
/// unavailable. Wall times on a shared machine include time spent descheduled.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns * 1e-9)
}

/// CPU seconds per call of `f`, repeated for at least 0.2 s of wall time.
fn cpu_per_call(mut f: impl FnMut()) -> f64 {
    let (t0, c0) = (Instant::now(), cpu_s());
    let mut k = 0usize;
    while k < 3 || t0.elapsed().as_secs_f64() < 0.2 {
        f();
        k += 1;
    }
    (cpu_s() - c0) / k as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("node file");
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        let (d, a, u, n, ell) = (v[0] as usize, v[1], v[2], v[3] as usize, v[4]);
        let x = Array2::from_shape_vec((n, d), v[5..5 + n * d].to_vec()).unwrap();
        let p = GenzFamily::Gaussian
            .instance(vec![a; d], vec![u; d])
            .unwrap();
        let m = p.measure();
        let y: Array1<f64> = x.rows().into_iter().map(|r| p.eval(r)).collect();
        let k0 = QuadKernel::squared_exponential(vec![ell; d], 1.0).unwrap();
        let opts = BqOptions::default();
        let mut t_fixed = vec![];
        let mut fixed = None;
        let c0 = cpu_s();
        for _ in 0..reps {
            let t = Instant::now();
            let post = bayesian_quadrature(&k0, &m, x.view(), y.view(), &opts).unwrap();
            t_fixed.push(t.elapsed().as_secs_f64());
            fixed = Some(post.belief);
        }
        let cpu_fixed = cpu_per_call(|| {
            std::hint::black_box(bayesian_quadrature(&k0, &m, x.view(), y.view(), &opts).unwrap());
        });
        let _ = c0;
        let mut t_fit = vec![];
        let mut fitted = None;
        let mut evals = 0;
        let c0 = cpu_s();
        for _ in 0..reps {
            let t = Instant::now();
            let fit = fit_lengthscales(&k0, x.view(), y.view(), &FitOptions::default()).unwrap();
            let k = fit.kernel;
            evals = fit.evaluations;
            let post = bayesian_quadrature(&k, &m, x.view(), y.view(), &opts).unwrap();
            t_fit.push(t.elapsed().as_secs_f64());
            fitted = Some((post.belief, k.lengthscales().to_vec()));
        }
        let cpu_fitted = cpu_per_call(|| {
            let k = fit_lengthscales(&k0, x.view(), y.view(), &FitOptions::default())
                .unwrap()
                .kernel;
            std::hint::black_box(bayesian_quadrature(&k, &m, x.view(), y.view(), &opts).unwrap());
        });
        let _ = c0;
        let (fb, fk) = fitted.unwrap();
        let fx = fixed.unwrap();
        println!(
            "{{\"d\": {d}, \"n\": {n}, \"fixed_s\": {}, \"fixed_cpu_s\": {cpu_fixed}, \"fitted_cpu_s\": {cpu_fitted}, \"fixed_mean\": {}, \"fixed_std\": {}, \"fitted_s\": {}, \"fitted_mean\": {}, \"fitted_std\": {}, \"fitted_ell\": {:?}, \"fit_evals\": {evals}, \"truth\": {}}}",
            median(t_fixed),
            fx.mean,
            fx.std(),
            median(t_fit),
            fb.mean,
            fb.std(),
            fk,
            p.integral()
        );
    }
}

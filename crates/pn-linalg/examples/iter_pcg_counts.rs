//! CG iteration counts on a squared-exponential GP with and without a rank-100
//! pivoted-Cholesky preconditioner (the case of the iterative-solver benchmark).
//!
//! Data: n = 3000 points uniform in [0, 1]³ (seeded `Pcg64`), SE kernel with output scale 1 and
//! lengthscales 0.2 and 0.5 (or those given as arguments), noise σ² ∈ {0.1, 1e-3} in the
//! system `(K + σ² I) v = y`, right-hand side `y = sin(6 x₁) + cos(4 x₂) x₃ + 0.1 ε`,
//! `ε ~ N(0, I)` (any y works; CG counts depend only weakly on it), stopping rule
//! ‖r‖ ≤ 1e-6 ‖y‖ (relative residual, explicitly verified).
//!
//! Run: `cargo run --release -p pn-linalg --example iter_pcg_counts [lengthscale ...]`

use ndarray::{Array1, Array2};
use pn_core::kernels::{Kernel, SquaredExponential};
use pn_linalg::iterative::{CgParams, Control, PivotedCholesky, Preconditioner, cg};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 3000;
    let d = 3;
    let ells: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a lengthscale"))
        .collect();
    let ells = if ells.is_empty() {
        vec![0.2, 0.5]
    } else {
        ells
    };
    let mut rng = Pcg64::seed_from_u64(3000);
    let x = Array2::from_shape_fn((n, d), |_| rng.random::<f64>());
    let y: Array1<f64> =
        Array1::from_shape_fn(n, |i| {
            let r = x.row(i);
            (6.0 * r[0]).sin() + (4.0 * r[1]).cos() * r[2]
        }) + Array1::from_shape_fn(n, |_| 0.1 * rng.sample::<f64, _>(StandardNormal));
    println!("n = {n}, d = {d}, x ~ U[0,1]^3, rtol = 1e-6");
    println!(
        "| lengthscale | σ² | CG iterations | PCG (rank 100) iterations | rank-100 residual trace / n |"
    );
    println!("|---|---|---|---|---|");
    for &ell in &ells {
        let k = SquaredExponential::new(ell, 1.0)?;
        let kxx = k.matrix(x.view(), x.view())?;
        let pc = PivotedCholesky::from_kernel(&k, x.view(), 100, 0.0)?;
        for &s2 in &[0.1, 1e-3] {
            let mut a = kxx.clone();
            a.diag_mut().mapv_inplace(|v| v + s2);
            let params = CgParams::default().rtol(1e-6).max_iter(20 * n);
            let plain = cg(&a, y.view(), None, None, &params, |_| Control::Continue)?;
            let p = pc.preconditioner(s2)?;
            let pre = cg(
                &a,
                y.view(),
                None,
                Some(&p as &dyn Preconditioner),
                &params,
                |_| Control::Continue,
            )?;
            println!(
                "| {ell} | {s2} | {} | {} | {:.2e} |",
                plain.info.iterations,
                pre.info.iterations,
                pc.residual_trace / n as f64
            );
        }
    }
    Ok(())
}

//! Work–precision on Lotka–Volterra (`x(0) = (20, 20)`, `a = c = 0.5`, `b = d = 0.05`,
//! `t ∈ [0, 20]`): final error against the SciPy reference stored in `data/`, steps and the median
//! wall time of the solve. `cargo run --release -p pn-ode --example work_precision [--smooth] [--final]`
//! (`--final`: keep only the final belief, as a terminal-value solve).

use std::time::Instant;

use ndarray::array;
use pn_ode::problems::LotkaVolterra;
use pn_ode::{AutoDiff, Method, Options, solve};

fn main() -> Result<(), pn_ode::Error> {
    let smooth = std::env::args().any(|a| a == "--smooth");
    let final_only = std::env::args().any(|a| a == "--final");
    let exact = array![3.258253845054193, 5.281929427439708];
    let f = AutoDiff(LotkaVolterra::default());
    println!("method q tol steps rejected err_inf time_ms us_per_step");
    for method in [Method::Ek0, Method::Ek1] {
        for q in [3, 4, 5] {
            for tol in [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10] {
                let opts = Options::default()
                    .method(method)
                    .order(q)
                    .tolerances(tol, tol)
                    .smooth(smooth);
                let opts = if final_only {
                    opts.save_at(vec![20.0])
                } else {
                    opts
                };
                let mut times = Vec::new();
                let mut last = None;
                for _ in 0..7 {
                    let t0 = Instant::now();
                    let sol = solve(&f, (0.0, 20.0), array![20.0, 20.0].view(), opts.clone())?;
                    times.push(t0.elapsed().as_secs_f64());
                    last = Some(sol);
                }
                times.sort_by(f64::total_cmp);
                let sol = last.expect("ran");
                let fb = sol.final_belief()?;
                let m = fb.mean();
                let err = (&m - &exact).iter().fold(0.0f64, |a, v| a.max(v.abs()));
                let st = sol.stats();
                println!(
                    "{method:?} {q} {tol:.0e} {} {} {err:.2e} {:.3} {:.2}",
                    st.steps,
                    st.rejected,
                    times[3] * 1e3,
                    times[3] * 1e6 / st.steps as f64
                );
            }
        }
    }
    Ok(())
}

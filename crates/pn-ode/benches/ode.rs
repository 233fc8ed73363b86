//! Criterion benchmarks of pn-ode: a Lotka–Volterra solve (x(0) = (20, 20), t ∈ [0, 20],
//! rtol = atol = 1e-8, q = 4) with each method, terminal value only and with the smoothing
//! posterior, and a 1 000-dimensional EK0 solve. The side-by-side comparison with probdiffeq,
//! ProbNum, SciPy and classical Rust solvers lives in `benches/ode_wp.sh` at the repository root.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::{Array1, array};
use num_dual::DualNum;
use pn_ode::problems::LotkaVolterra;
use pn_ode::{AutoDiff, Method, OdeFunction, Options, solve};

fn lotka_volterra(c: &mut Criterion) {
    let mut g = c.benchmark_group("lotka_volterra_q4_tol1e-8");
    g.sample_size(20).warm_up_time(Duration::from_millis(500));
    let f = AutoDiff(LotkaVolterra::default());
    let x0 = array![20.0, 20.0];
    for method in [Method::Ek0, Method::DiagonalEk1, Method::Ek1] {
        let base = Options::default()
            .method(method)
            .order(4)
            .tolerances(1e-8, 1e-8);
        for (label, opts) in [
            ("terminal", base.clone().smooth(false).save_at(vec![20.0])),
            ("smoothed", base.clone()),
        ] {
            g.bench_with_input(
                BenchmarkId::new(format!("{method:?}"), label),
                &opts,
                |b, opts| {
                    b.iter(|| {
                        let sol = solve(&f, (0.0, 20.0), x0.view(), opts.clone()).expect("solves");
                        black_box(sol.stats().steps)
                    })
                },
            );
        }
    }
    g.finish();
}

/// `xⱼ' = −λⱼ xⱼ + sin t`, λ ∈ [0.5, 1.5): decoupled and non-stiff.
struct Relax(Vec<f64>);
impl OdeFunction for Relax {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]) {
        let s = t.sin();
        for (j, l) in self.0.iter().enumerate() {
            dx[j] = s - x[j] * *l;
        }
    }
}

fn high_dimensional_ek0(c: &mut Criterion) {
    let mut g = c.benchmark_group("ek0_d1000");
    g.sample_size(10).warm_up_time(Duration::from_millis(500));
    let d = 1000;
    let f = AutoDiff(Relax((0..d).map(|j| 0.5 + j as f64 / d as f64).collect()));
    let x0 = Array1::from_shape_fn(d, |j| (j as f64 * 0.37).sin());
    let opts = Options::default()
        .method(Method::Ek0)
        .order(3)
        .tolerances(1e-6, 1e-8)
        .save_at(vec![2.0]);
    g.bench_function("relax_t2", |b| {
        b.iter(|| {
            black_box(
                solve(&f, (0.0, 2.0), x0.view(), opts.clone())
                    .expect("solves")
                    .stats(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, lotka_volterra, high_dimensional_ek0);
criterion_main!(benches);

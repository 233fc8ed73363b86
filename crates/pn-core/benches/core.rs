//! Criterion benchmarks of pn-core's hot paths: squared-exponential kernel-matrix assembly,
//! kernel matrices with their hyperparameter gradients (`Kernel::matrix_with_grad`) of composite
//! kernels, dense Cholesky, and conditioning a dense Gaussian on a linear observation.
//!
//! Inputs are seeded, so every run times the same work. Sample sizes are kept small so that
//! `cargo bench -p pn-core` finishes in a few minutes on two cores; the side-by-side
//! comparison with NumPy/SciPy lives in `benches/run_core.sh` at the repository root.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array1, Array2};
use pn_core::kernels::{Kernel, Periodic, RationalQuadratic, SquaredExponential};
use pn_core::{Covariance, Gaussian, dense};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

const SEED: u64 = 0x5EED_C0DE;

/// `n` points uniform on `[-2, 2]^d`, from a fixed seed.
fn points(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| rng.random_range(-2.0..2.0))
}

/// A well-conditioned SPD matrix: the SE Gram matrix of `n` seeded points plus `noise · I`.
fn gram(n: usize, noise: f64) -> Array2<f64> {
    let x = points(n, 2, SEED ^ n as u64);
    let k = SquaredExponential::new(1.0, 1.0).expect("valid hyperparameters");
    let mut a = k.matrix(x.view(), x.view()).expect("finite inputs");
    a.diag_mut().mapv_inplace(|v| v + noise);
    a
}

fn kernel_assembly(c: &mut Criterion) {
    let mut g = c.benchmark_group("se_matrix_d2");
    g.sample_size(10).warm_up_time(Duration::from_millis(500));
    let k = SquaredExponential::new(0.7, 1.3).expect("valid hyperparameters");
    for n in [1000usize, 4000] {
        let x = points(n, 2, SEED);
        g.throughput(Throughput::Elements((n * n) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &x, |b, x| {
            b.iter(|| k.matrix(black_box(x.view()), black_box(x.view())).unwrap());
        });
    }
    g.finish();
}

/// The Mauna Loa CO₂ kernel of Rasmussen & Williams §5.4.3 (trend SE + SE × periodic + RQ +
/// short SE; 11 log-hyperparameters), as pn-linalg's `real_data` example fits it.
fn co2_kernel() -> Box<dyn Kernel> {
    Box::new(
        SquaredExponential::new(50.0, 1.0).expect("valid")
            + SquaredExponential::new(100.0, 0.1).expect("valid")
                * Periodic::new(1.0, 1.0, 1.0).expect("valid")
            + RationalQuadratic::new(1.0, 1.0, 0.01).expect("valid")
            + SquaredExponential::new(0.1, 0.001).expect("valid"),
    )
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): unlike wall time, hardly affected
/// by other processes competing for the cores.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Duration {
    std::time::Instant::now().elapsed()
}

/// `matrix_with_grad` of the CO₂ kernel at n = 384 and of a product of two ARD SE kernels at
/// n = 1000, d = 3: wall time with all threads (`matrix_with_grad`), and the CPU time of one
/// thread in a one-thread pool (`matrix_with_grad_cpu1`, which stays meaningful on a loaded
/// machine), also into reused buffers (`…_into`).
fn kernel_grad(c: &mut Criterion) {
    // Monthly times in years, as the CO₂ training set (1959–1990, 384 months).
    let t = Array2::from_shape_fn((384, 1), |(i, _)| 1959.0 + (i as f64 + 0.5) / 12.0);
    let co2 = co2_kernel();
    let x = points(1000, 3, SEED + 2);
    let ard = SquaredExponential::ard(vec![0.8, 1.1, 1.5], 1.2).expect("valid")
        * SquaredExponential::ard(vec![2.0, 0.6, 0.9], 0.7).expect("valid");
    let cases: [(&str, &dyn Kernel, &Array2<f64>); 2] = [
        ("co2_n384", &co2, &t),
        ("ard_se_product_n1000_d3", &ard, &x),
    ];
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let mut g = c.benchmark_group("matrix_with_grad_cpu1");
    g.sample_size(20).warm_up_time(Duration::from_millis(500));
    for (name, k, x) in cases {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                one.install(|| {
                    let t0 = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(k.matrix_with_grad(black_box(x.view())).unwrap());
                    }
                    thread_cpu_time() - t0
                })
            });
        });
    }
    // The same into buffers kept between calls: no allocation, no first-touch page faults.
    for (name, k, x) in cases {
        let n = x.nrows();
        let mut kk = Array2::zeros((n, n));
        let mut gg = vec![Array2::zeros((n, n)); k.n_params()];
        g.bench_function(format!("{name}_into"), |b| {
            b.iter_custom(|iters| {
                one.install(|| {
                    let t0 = thread_cpu_time();
                    for _ in 0..iters {
                        k.matrix_with_grad_into(black_box(x.view()), &mut kk, &mut gg)
                            .unwrap();
                    }
                    thread_cpu_time() - t0
                })
            });
        });
    }
    g.finish();
    let mut g = c.benchmark_group("matrix_with_grad");
    g.sample_size(20).warm_up_time(Duration::from_millis(500));
    for (name, k, x) in cases {
        g.bench_function(name, |b| {
            b.iter(|| k.matrix_with_grad(black_box(x.view())).unwrap());
        });
        let n = x.nrows();
        let mut kk = Array2::zeros((n, n));
        let mut gg = vec![Array2::zeros((n, n)); k.n_params()];
        g.bench_function(format!("{name}_into"), |b| {
            b.iter(|| {
                k.matrix_with_grad_into(black_box(x.view()), &mut kk, &mut gg)
                    .unwrap()
            });
        });
    }
    g.finish();
}

fn cholesky(c: &mut Criterion) {
    let mut g = c.benchmark_group("cholesky");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8));
    for n in [500usize, 2000] {
        let a = gram(n, 1e-2);
        g.bench_with_input(BenchmarkId::from_parameter(n), &a, |b, a| {
            b.iter(|| dense::cholesky(black_box(a.view())).unwrap());
        });
    }
    g.finish();
}

fn gaussian_condition(c: &mut Criterion) {
    let (n, m) = (200usize, 20usize);
    let prior = Gaussian::new(
        Array1::zeros(n),
        Covariance::dense(gram(n, 1e-6)).expect("SPD prior"),
    )
    .expect("matching shapes");
    let mut rng = Pcg64::seed_from_u64(SEED + 1);
    let h = Array2::from_shape_fn((m, n), |_| rng.random_range(-1.0..1.0) / (n as f64).sqrt());
    let y = Array1::from_shape_fn(m, |_| rng.random_range(-1.0..1.0));
    let noise = Covariance::scaled_identity(m, 1e-2).expect("valid noise");

    let mut g = c.benchmark_group("gaussian_condition");
    g.sample_size(20).warm_up_time(Duration::from_millis(500));
    g.bench_function(BenchmarkId::new("dense", format!("n{n}_m{m}")), |b| {
        b.iter(|| {
            prior
                .condition(black_box(&h), black_box(y.view()), &noise)
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(
    benches,
    kernel_assembly,
    kernel_grad,
    cholesky,
    gaussian_condition
);
criterion_main!(benches);

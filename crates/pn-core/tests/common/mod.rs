//! Shared fixtures: seeded generators and random test matrices.
#![allow(dead_code)]

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

/// A portable seeded generator.
pub fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

pub fn randn(rng: &mut Pcg64, r: usize, c: usize) -> Array2<f64> {
    Array2::from_shape_simple_fn((r, c), || rng.sample(StandardNormal))
}

pub fn randn1(rng: &mut Pcg64, n: usize) -> Array1<f64> {
    Array1::from_shape_simple_fn(n, || rng.sample(StandardNormal))
}

/// A random SPD matrix `G Gᵀ / n + shift · I` (condition number modest for shift ~ 0.5).
pub fn spd(rng: &mut Pcg64, n: usize, shift: f64) -> Array2<f64> {
    let g = randn(rng, n, n);
    g.dot(&g.t()) / n as f64 + Array2::<f64>::eye(n) * shift
}

/// Dense inverse by Gauss–Jordan elimination with partial pivoting, independent of the
/// library's factorisations (used as the reference in tests).
pub fn inv(a: &Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    let mut m = a.clone();
    let mut out = Array2::<f64>::eye(n);
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| m[[i, c]].abs().total_cmp(&m[[j, c]].abs()))
            .unwrap();
        for k in 0..n {
            m.swap([c, k], [p, k]);
            out.swap([c, k], [p, k]);
        }
        let d = m[[c, c]];
        for k in 0..n {
            m[[c, k]] /= d;
            out[[c, k]] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = m[[r, c]];
                if f != 0.0 {
                    for k in 0..n {
                        m[[r, k]] -= f * m[[c, k]];
                        out[[r, k]] -= f * out[[c, k]];
                    }
                }
            }
        }
    }
    out
}

/// log |det A| by Gaussian elimination with partial pivoting (independent reference).
pub fn logabsdet(a: &Array2<f64>) -> f64 {
    let n = a.nrows();
    let mut m = a.clone();
    let mut acc = 0.0;
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| m[[i, c]].abs().total_cmp(&m[[j, c]].abs()))
            .unwrap();
        for k in 0..n {
            m.swap([c, k], [p, k]);
        }
        let d = m[[c, c]];
        acc += d.abs().ln();
        for r in c + 1..n {
            let f = m[[r, c]] / d;
            for k in c..n {
                m[[r, k]] -= f * m[[c, k]];
            }
        }
    }
    acc
}

/// Sample covariance of the rows of `x` (unbiased).
pub fn sample_cov(x: &Array2<f64>) -> (Array1<f64>, Array2<f64>) {
    let n = x.nrows() as f64;
    let mean = x.mean_axis(ndarray::Axis(0)).unwrap();
    let c = x - &mean;
    (mean, c.t().dot(&c) / (n - 1.0))
}

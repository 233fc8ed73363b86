//! Sobol' points: the unscrambled sequence against SciPy's, the net property before and after
//! scrambling, uniformity of the scrambled points, and QMC beating Monte Carlo on a smooth
//! integrand at equal n.

use ndarray::Array2;
use pn_quad::BoxDomain;
use pn_quad::genz::GenzFamily;
use pn_quad::rules::{monte_carlo, quasi_monte_carlo_sobol, sobol, sobol_scrambled};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// SciPy 1.16 (Joe–Kuo 6.21201 direction numbers), produced by
/// `x = scipy.stats.qmc.Sobol(d=64, scramble=False).random(32);
///  (x * 2**30).astype(int)[[1, 2, 3, 5, 7, 13, 21, 31]][:, [0, 1, 2, 5, 11, 20, 40, 63]]`.
const SCIPY_ROWS: [usize; 8] = [1, 2, 3, 5, 7, 13, 21, 31];
const SCIPY_DIMS: [usize; 8] = [0, 1, 2, 5, 11, 20, 40, 63];
const SCIPY: [[i64; 8]; 8] = [
    [
        536870912, 536870912, 536870912, 536870912, 536870912, 536870912, 536870912, 536870912,
    ],
    [
        805306368, 268435456, 268435456, 805306368, 805306368, 268435456, 268435456, 805306368,
    ],
    [
        268435456, 805306368, 805306368, 268435456, 268435456, 805306368, 805306368, 268435456,
    ],
    [
        939524096, 939524096, 134217728, 671088640, 939524096, 671088640, 402653184, 671088640,
    ],
    [
        134217728, 671088640, 402653184, 402653184, 134217728, 939524096, 134217728, 402653184,
    ],
    [
        872415232, 738197504, 872415232, 1006632960, 1006632960, 603979776, 1006632960, 67108864,
    ],
    [
        1040187392, 637534208, 369098752, 369098752, 570425344, 100663296, 33554432, 771751936,
    ],
    [
        33554432, 570425344, 973078528, 838860800, 369098752, 436207616, 905969664, 838860800,
    ],
];

#[test]
fn unscrambled_points_match_scipy() {
    let x = sobol(32, 64).unwrap();
    for (r, &i) in SCIPY_ROWS.iter().enumerate() {
        for (c, &k) in SCIPY_DIMS.iter().enumerate() {
            let v = (x[[i, k]] * (1u64 << 30) as f64) as i64;
            assert_eq!(v, SCIPY[r][c], "point {i}, dimension {k}");
        }
    }
    assert!(x.row(0).iter().all(|v| *v == 0.0));
}

/// The quality parameter t of the two-dimensional projection (j, k) of the first 2ᵐ points:
/// the smallest t such that every elementary box of volume 2^{t−m} holds exactly 2ᵗ points.
fn t_value(x: &Array2<f64>, j: usize, k: usize, m: u32) -> u32 {
    let n = x.nrows();
    assert_eq!(n, 1 << m);
    'next: for t in 0..=m {
        for a in 0..=(m - t) {
            let b = m - t - a;
            let mut counts = vec![0usize; 1 << (m - t)];
            for i in 0..n {
                let u = (x[[i, j]] * (1u64 << a) as f64).floor() as usize;
                let v = (x[[i, k]] * (1u64 << b) as f64).floor() as usize;
                counts[(u << b) | v] += 1;
            }
            if counts.iter().any(|&c| c != 1 << t) {
                continue 'next;
            }
        }
        return t;
    }
    m
}

#[test]
fn scrambling_keeps_the_net_property() {
    let m = 8;
    let n = 1usize << m;
    let d = 12;
    let plain = sobol(n, d).unwrap();
    let mut rng = Pcg64::seed_from_u64(9);
    for _ in 0..3 {
        let x = sobol_scrambled(n, d, &mut rng).unwrap();
        assert!(x.iter().all(|v| *v > 0.0 && *v < 1.0));
        // One-dimensional projections: one point in each interval [i/n, (i+1)/n).
        for k in 0..d {
            let mut seen = vec![false; n];
            for i in 0..n {
                let cell = (x[[i, k]] * n as f64).floor() as usize;
                assert!(!seen[cell], "dimension {k}: two points in cell {cell}");
                seen[cell] = true;
            }
        }
        // Two-dimensional projections: the same t as the unscrambled net; (0, 1) is a (0, m, 2)-net.
        assert_eq!(t_value(&x, 0, 1, m), 0);
        for j in 0..d {
            for k in j + 1..d {
                assert_eq!(t_value(&x, j, k, m), t_value(&plain, j, k, m), "({j}, {k})");
            }
        }
        // Every block of 2^5 points starting at a multiple of 2^5 is itself a net in 1-D.
        for block in 0..(n / 32) {
            let mut seen = [false; 32];
            for i in block * 32..(block + 1) * 32 {
                seen[(x[[i, 2]] * 32.0).floor() as usize] = true;
            }
            assert!(seen.iter().all(|s| *s));
        }
    }
}

/// Each scrambled point is uniform: over many scramblings the mean and variance of a fixed
/// point's coordinate are ½ and 1/12 (a digital shift alone would already give that; the
/// matrix scrambling must not spoil it), and coordinates are uncorrelated across dimensions.
#[test]
fn scrambled_points_are_uniform() {
    let mut rng = Pcg64::seed_from_u64(4);
    let reps = 4000;
    let (mut s, mut s2, mut sxy) = ([0.0; 3], [0.0; 3], 0.0);
    for _ in 0..reps {
        let x = sobol_scrambled(8, 3, &mut rng).unwrap();
        for k in 0..3 {
            let v = x[[5, k]];
            s[k] += v;
            s2[k] += v * v;
        }
        sxy += (x[[5, 0]] - 0.5) * (x[[5, 1]] - 0.5);
    }
    let r = reps as f64;
    for k in 0..3 {
        let mean = s[k] / r;
        let var = s2[k] / r - mean * mean;
        // Standard errors: 0.0046 for the mean, ~0.0013 for the variance.
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.006, "{var}");
    }
    assert!((sxy / r).abs() < 0.006);
}

#[test]
fn sobol_qmc_beats_monte_carlo_on_smooth_integrands() {
    let mut rng = Pcg64::seed_from_u64(21);
    for (fam, d) in [
        (GenzFamily::ProductPeak, 3),
        (GenzFamily::Oscillatory, 3),
        (GenzFamily::Gaussian, 2),
    ] {
        let p = fam.random(d, fam.default_difficulty(d), &mut rng).unwrap();
        let truth = p.integral();
        let m = p.measure();
        let (mut e_mc, mut e_qmc) = (0.0, 0.0);
        let reps = 30;
        for _ in 0..reps {
            let q = quasi_monte_carlo_sobol(|x| p.eval(x), &m, 256, &mut rng).unwrap();
            let c = monte_carlo(|x| p.eval(x), &m, 256, &mut rng).unwrap();
            e_qmc += (q.value - truth).powi(2);
            e_mc += (c.value - truth).powi(2);
        }
        let (rq, rm) = ((e_qmc / reps as f64).sqrt(), (e_mc / reps as f64).sqrt());
        assert!(
            rq < rm / 5.0,
            "{}: Sobol RMSE {rq:e} vs MC {rm:e}",
            fam.name()
        );
    }
}

#[test]
fn bad_dimensions_and_sizes_are_errors() {
    let mut rng = Pcg64::seed_from_u64(0);
    assert!(sobol(4, 0).is_err());
    assert!(sobol(4, 65).is_err());
    assert!(sobol_scrambled(4, 65, &mut rng).is_err());
    let m = BoxDomain::unit(2).unwrap().into();
    assert!(quasi_monte_carlo_sobol(|_| 1.0, &m, 0, &mut rng).is_err());
    assert!(quasi_monte_carlo_sobol(|_| f64::NAN, &m, 4, &mut rng).is_err());
}

//! Genz closed forms against numerical integration; classical rules against known moments.

use ndarray::{Array1, array};
use pn_quad::genz::{GaussianIntegrand, GenzFamily};
use pn_quad::rules::{
    gauss_hermite, gauss_legendre, gauss_tensor, halton_scrambled, monte_carlo, quasi_monte_carlo,
};
use pn_quad::{BoxDomain, GaussianMeasure, Measure};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Composite 3-point Gauss–Legendre per panel on [0, 1] with `panels` panels, split at `brk`
/// (independent of the crate's rules).
fn comp(f: &dyn Fn(f64) -> f64, brk: f64, panels: usize) -> f64 {
    let r = 0.6f64.sqrt();
    let mut s = 0.0;
    for (lo, hi) in [(0.0, brk), (brk, 1.0)] {
        let h = (hi - lo) / panels as f64;
        for p in 0..panels {
            let m = lo + (p as f64 + 0.5) * h;
            s += h / 2.0
                * (5.0 / 9.0 * (f(m - r * h / 2.0) + f(m + r * h / 2.0)) + 8.0 / 9.0 * f(m));
        }
    }
    s
}

#[test]
fn genz_closed_forms_match_numerical_integration_in_1d_and_2d() {
    let mut rng = Pcg64::seed_from_u64(3);
    for fam in GenzFamily::ALL {
        for d in [1usize, 2] {
            for _ in 0..3 {
                let p = fam.random(d, fam.default_difficulty(d), &mut rng).unwrap();
                let num = if d == 1 {
                    comp(&|x| p.eval(array![x].view()), p.u[0], 400)
                } else {
                    comp(
                        &|x| comp(&|y| p.eval(array![x, y].view()), p.u[1], 200),
                        p.u[0],
                        200,
                    )
                };
                let exact = p.integral();
                assert!(
                    (num - exact).abs() < 1e-9 * exact.abs().max(1.0),
                    "{} d = {d}: closed form {exact} vs numerical {num}",
                    fam.name()
                );
            }
        }
    }
}

#[test]
fn genz_closed_forms_in_3d_and_5d_match_tensor_gauss_legendre() {
    // Smooth families only (tensor Gauss–Legendre converges spectrally).
    let mut rng = Pcg64::seed_from_u64(4);
    for fam in [
        GenzFamily::Oscillatory,
        GenzFamily::ProductPeak,
        GenzFamily::CornerPeak,
        GenzFamily::Gaussian,
    ] {
        for (d, per) in [(3usize, 40usize), (5, 14)] {
            let p = fam
                .random(d, fam.default_difficulty(d) * 0.5, &mut rng)
                .unwrap();
            let est = gauss_tensor(|x| p.eval(x), &p.measure(), per).unwrap();
            let exact = p.integral();
            assert!(
                (est.value - exact).abs() < 1e-7 * exact.abs().max(1e-3),
                "{} d = {d}: closed form {exact} vs tensor GL {}",
                fam.name(),
                est.value
            );
        }
    }
}

#[test]
fn gaussian_integrand_against_gaussian_measure_matches_gauss_hermite() {
    let g = GaussianMeasure::new(array![0.3, -0.2], array![[1.0, 0.4], [0.4, 0.7]]).unwrap();
    let f = GaussianIntegrand::new(array![1.0, 0.5], array![[0.8, -0.1], [-0.1, 0.5]], g).unwrap();
    let est = gauss_tensor(|x| f.eval(x), &f.measure(), 40).unwrap();
    assert!(
        (est.value - f.integral()).abs() < 1e-12,
        "{} vs {}",
        est.value,
        f.integral()
    );
}

#[test]
fn gauss_rules_integrate_polynomials_exactly() {
    for n in [1usize, 2, 5, 17, 64] {
        let (x, w) = gauss_legendre(n).unwrap();
        for deg in 0..(2 * n).min(40) {
            let got: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(deg as i32)).sum();
            let want = if deg % 2 == 1 {
                0.0
            } else {
                2.0 / (deg as f64 + 1.0)
            };
            assert!(
                (got - want).abs() < 1e-13,
                "GL n = {n} degree {deg}: {got} vs {want}"
            );
        }
    }
    for n in [1usize, 3, 8, 20] {
        let (x, w) = gauss_hermite(n).unwrap();
        for deg in 0..(2 * n).min(24) {
            let got: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(deg as i32)).sum();
            // E[Z^deg] = (deg − 1)!! for even deg.
            let want = if deg % 2 == 1 {
                0.0
            } else {
                (1..deg).step_by(2).map(|k| k as f64).product()
            };
            let size: f64 = x
                .iter()
                .zip(&w)
                .map(|(x, w)| w * x.abs().powi(deg as i32))
                .sum();
            assert!(
                (got - want).abs() < 1e-12 * size.max(1.0),
                "GH n = {n} degree {deg}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn monte_carlo_and_halton_are_unbiased_with_honest_errors() {
    let m: Measure = BoxDomain::unit(3).unwrap().into();
    let p = GenzFamily::Gaussian
        .instance(vec![2.0, 3.0, 1.0], vec![0.3, 0.6, 0.5])
        .unwrap();
    let exact = p.integral();
    let mut rng = Pcg64::seed_from_u64(5);
    let mut z2 = 0.0;
    let (mut err_mc, mut err_qmc) = (0.0, 0.0);
    let reps = 200;
    for _ in 0..reps {
        let mc = monte_carlo(|x| p.eval(x), &m, 256, &mut rng).unwrap();
        z2 += ((mc.value - exact) / mc.std_error.unwrap()).powi(2);
        err_mc += (mc.value - exact).powi(2);
        let q = quasi_monte_carlo(|x| p.eval(x), &m, 256, &mut rng).unwrap();
        err_qmc += (q.value - exact).powi(2);
    }
    let z2 = z2 / reps as f64;
    assert!((0.7..1.4).contains(&z2), "MC mean z² = {z2}");
    assert!(
        err_qmc < 0.3 * err_mc,
        "scrambled Halton RMSE² {err_qmc} vs MC {err_mc}"
    );
    // Halton points are in the open cube and their mean is near 1/2.
    let h = halton_scrambled(1000, 5, &mut rng).unwrap();
    assert!(h.iter().all(|&v| v > 0.0 && v < 1.0));
    let mean: Array1<f64> = h.mean_axis(ndarray::Axis(0)).unwrap();
    assert!(mean.iter().all(|m| (m - 0.5).abs() < 0.01), "{mean}");
}

#[test]
fn bad_input_to_rules_and_problems() {
    assert!(gauss_legendre(0).is_err());
    let m: Measure = BoxDomain::unit(1).unwrap().into();
    let mut rng = Pcg64::seed_from_u64(0);
    assert!(matches!(
        monte_carlo(|_| f64::NAN, &m, 4, &mut rng),
        Err(pn_quad::Error::NonFiniteIntegrand { index: 0, .. })
    ));
    assert!(matches!(
        BoxDomain::interval(1.0, 1.0),
        Err(pn_quad::Error::DegenerateMeasure { .. })
    ));
    assert!(matches!(
        GaussianMeasure::new(array![0.0, 0.0], array![[1.0, 1.0], [1.0, 1.0]]),
        Err(pn_quad::Error::DegenerateMeasure { .. })
    ));
    assert!(GenzFamily::Gaussian.instance(vec![1.0], vec![1.5]).is_err());
    assert!(
        GenzFamily::Gaussian
            .instance(vec![-1.0], vec![0.5])
            .is_err()
    );
    assert!(halton_scrambled(3, 0, &mut rng).is_err());
}

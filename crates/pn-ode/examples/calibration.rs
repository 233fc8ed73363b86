//! Calibration report: the χ² statistic of the final error against the final posterior
//! covariance, for the EK0 and the EK1 with both calibrations, on three problems with closed-form
//! solutions and tolerances 1e-3 … 1e-8. Run with `cargo run --release -p pn-ode --example
//! calibration`; the table in `docs/ode.md` comes from it.

use ndarray::{Array1, array};
use num_dual::DualNum;
use pn_ode::{AutoDiff, Calibration, Method, OdeFunction, OdeSolution, Options, solve};

struct Logistic;
impl OdeFunction for Logistic {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[0] * (-x[0] + 1.0) * 1.5;
    }
}

struct Oscillator;
impl OdeFunction for Oscillator {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[1];
        dx[1] = x[0] * -4.0;
    }
}

struct Forced;
impl OdeFunction for Forced {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]) {
        dx[0] = -x[0] + (t * 3.0).sin();
    }
}

/// (error ∞-norm, χ²) of the final belief against the exact final value.
fn chi2(sol: &OdeSolution, exact: &Array1<f64>) -> (f64, f64) {
    let b = sol.final_belief().expect("final belief");
    let e = exact - &b.mean();
    let x = b
        .cov()
        .solve(e.view())
        .expect("non-singular final covariance");
    (e.iter().fold(0.0f64, |m, v| m.max(v.abs())), e.dot(&x))
}

fn main() -> Result<(), pn_ode::Error> {
    let logistic = 1.0 / (1.0 + (1.0 / 0.05 - 1.0) * (-1.5f64 * 5.0).exp());
    let (c, s) = ((20.0f64).cos(), (20.0f64).sin());
    let oscillator = array![c + 0.5 / 2.0 * s, -2.0 * s + 0.5 * c];
    let p = |t: f64| ((3.0 * t).sin() - 3.0 * (3.0 * t).cos()) / 10.0;
    let forced = p(6.0) + (0.5 - p(0.0)) * (-6.0f64).exp();
    println!("method calibration tol | logistic err chi2 | oscillator err chi2 | forced err chi2");
    for method in [Method::Ek0, Method::Ek1] {
        for calibration in [Calibration::Dynamic, Calibration::Global] {
            for tol in [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8] {
                let opts = Options::default()
                    .method(method)
                    .tolerances(tol, tol)
                    .calibration(calibration);
                let a = chi2(
                    &solve(
                        &AutoDiff(Logistic),
                        (0.0, 5.0),
                        array![0.05].view(),
                        opts.clone(),
                    )?,
                    &array![logistic],
                );
                let b = chi2(
                    &solve(
                        &AutoDiff(Oscillator),
                        (0.0, 10.0),
                        array![1.0, 0.5].view(),
                        opts.clone(),
                    )?,
                    &oscillator,
                );
                let f = chi2(
                    &solve(&AutoDiff(Forced), (0.0, 6.0), array![0.5].view(), opts)?,
                    &array![forced],
                );
                println!(
                    "{method:?} {calibration:?} {tol:e} | {:.1e} {:.2} | {:.1e} {:.2} | {:.1e} {:.2}",
                    a.0, a.1, b.0, b.1, f.0, f.1
                );
            }
        }
    }
    Ok(())
}

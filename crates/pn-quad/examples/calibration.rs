//! Convergence and calibration of Bayesian quadrature on Genz's families.
//!
//! `cargo run --release -p pn-quad --example calibration [instances]`
//!
//! For every smooth family and d = 1…3, random instances are integrated with BQ (scrambled
//! Halton nodes and adaptive IVR nodes, lengthscales by marginal likelihood), Monte Carlo and
//! scrambled Halton QMC at equal n; prints median errors and the coverage of the 95 % interval.

use pn_quad::genz::GenzFamily;
use pn_quad::rules::{monte_carlo, quasi_monte_carlo};
use pn_quad::{BqOptions, Design, PriorMean, QuadOptions, integrate};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let only: Option<String> = std::env::args().nth(2);
    let mean = match std::env::args().nth(3).as_deref() {
        Some("constant") => PriorMean::DiffuseConstant,
        _ => PriorMean::Zero,
    };
    let mut rng = Pcg64::seed_from_u64(2024);
    println!(
        "| family | d | n | design | median abs err BQ | median MC | median QMC | coverage 95% | mean z² |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for fam in GenzFamily::ALL {
        if only
            .as_deref()
            .is_some_and(|o| o == "smooth" && !fam.is_smooth())
        {
            continue;
        }
        for d in 1..=3usize {
            for n in [16usize, 64] {
                for design in [Design::Halton, Design::default()] {
                    let (mut eb, mut em, mut eq, mut inside, mut z2) =
                        (vec![], vec![], vec![], 0, 0.0);
                    for r in 0..reps {
                        let p = fam.random(d, fam.default_difficulty(d), &mut rng).unwrap();
                        let truth = p.integral();
                        let m = p.measure();
                        let opts = QuadOptions::default()
                            .budget(n)
                            .design(design)
                            .seed(r as u64)
                            .bq(BqOptions::default().prior_mean(mean));
                        let res = integrate(|x| p.eval(x), &m, &opts).unwrap();
                        let e = res.belief.mean - truth;
                        eb.push(e.abs());
                        let (lo, hi) = res.belief.interval(0.95);
                        inside += usize::from(lo <= truth && truth <= hi);
                        z2 += (e / res.belief.std()).powi(2);
                        em.push(
                            (monte_carlo(|x| p.eval(x), &m, n, &mut rng).unwrap().value - truth)
                                .abs(),
                        );
                        eq.push(
                            (quasi_monte_carlo(|x| p.eval(x), &m, n, &mut rng)
                                .unwrap()
                                .value
                                - truth)
                                .abs(),
                        );
                    }
                    println!(
                        "| {} | {d} | {n} | {} | {:.2e} | {:.2e} | {:.2e} | {:.0}% | {:.2} |",
                        fam.name(),
                        if design == Design::Halton {
                            "Halton"
                        } else {
                            "adaptive IVR"
                        },
                        median(eb),
                        median(em),
                        median(eq),
                        100.0 * inside as f64 / reps as f64,
                        z2 / reps as f64
                    );
                }
            }
        }
    }
}

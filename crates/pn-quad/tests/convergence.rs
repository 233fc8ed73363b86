//! Convergence and calibration on Genz's smooth families (d = 1…3), against closed-form
//! integrals: BQ's error falls with n and beats Monte Carlo at equal n; the 95 % interval
//! covers the truth in at least 80 % of random instances.

use pn_quad::genz::GenzFamily;
use pn_quad::rules::monte_carlo;
use pn_quad::{Design, QuadOptions, integrate};
use rand::SeedableRng;
use rand_pcg::Pcg64;

const SMOOTH: [GenzFamily; 4] = [
    GenzFamily::Oscillatory,
    GenzFamily::ProductPeak,
    GenzFamily::CornerPeak,
    GenzFamily::Gaussian,
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn error_decreases_with_n_and_beats_monte_carlo() {
    let mut rng = Pcg64::seed_from_u64(11);
    for fam in SMOOTH {
        for d in 1..=3usize {
            let (mut e8, mut e32, mut emc) = (vec![], vec![], vec![]);
            for r in 0..5u64 {
                let p = fam.random(d, fam.default_difficulty(d), &mut rng).unwrap();
                let truth = p.integral();
                let scale = truth.abs().max(1e-3);
                for (n, out) in [(8usize, &mut e8), (32, &mut e32)] {
                    let opts = QuadOptions::default()
                        .budget(n)
                        .design(Design::Halton)
                        .seed(r);
                    let res = integrate(|x| p.eval(x), &p.measure(), &opts).unwrap();
                    out.push((res.belief.mean - truth).abs() / scale);
                }
                for _ in 0..4 {
                    let mc = monte_carlo(|x| p.eval(x), &p.measure(), 32, &mut rng).unwrap();
                    emc.push((mc.value - truth).abs() / scale);
                }
            }
            let (m8, m32, mmc) = (median(e8), median(e32), median(emc));
            assert!(
                m32 < m8,
                "{} d = {d}: median rel. error {m8:.2e} at n = 8, {m32:.2e} at n = 32",
                fam.name()
            );
            assert!(
                m32 < mmc,
                "{} d = {d}: BQ {m32:.2e} vs MC {mmc:.2e} at n = 32",
                fam.name()
            );
        }
    }
}

#[test]
fn intervals_are_calibrated_over_random_instances() {
    // Coverage is reported per family (stderr, `--nocapture`) and asserted in aggregate; the
    // corner peak is known to be overconfident (a stationary prior on an integrand whose
    // amplitude changes 100–2000× across the box, see docs/quad.md) and is asserted only not
    // to be worse than it was measured.
    let mut rng = Pcg64::seed_from_u64(12);
    let (mut inside, mut total, mut z2) = (0usize, 0usize, vec![]);
    for fam in SMOOTH {
        let (mut fin, mut ftot) = (0usize, 0usize);
        for d in 1..=3usize {
            for r in 0..4u64 {
                let p = fam.random(d, fam.default_difficulty(d), &mut rng).unwrap();
                let truth = p.integral();
                for design in [Design::Halton, Design::default()] {
                    let opts = QuadOptions::default().budget(32).design(design).seed(r);
                    let res = integrate(|x| p.eval(x), &p.measure(), &opts).unwrap();
                    let (lo, hi) = res.belief.interval(0.95);
                    let hit = usize::from(lo <= truth && truth <= hi);
                    inside += hit;
                    fin += hit;
                    total += 1;
                    ftot += 1;
                    z2.push(((res.belief.mean - truth) / res.belief.std()).powi(2));
                }
            }
        }
        let c = fin as f64 / ftot as f64;
        eprintln!("{}: coverage {fin}/{ftot} = {c:.2}", fam.name());
        if fam == GenzFamily::CornerPeak {
            assert!(c >= 0.6, "corner peak coverage {c:.2}");
        } else {
            assert!(c >= 0.75, "{}: coverage {c:.2}", fam.name());
        }
    }
    let coverage = inside as f64 / total as f64;
    eprintln!(
        "coverage of the 95% interval: {inside}/{total} = {coverage:.3}; median z² {:.2}",
        median(z2)
    );
    assert!(
        coverage >= 0.8,
        "coverage {coverage:.3} < 0.8 over {total} instances"
    );
}

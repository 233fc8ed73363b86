//! Diagnostics against ArviZ (stored reference values), closed forms (AR(1)) and invariances.

use ndarray::Array2;
use pn_mcmc::diagnostics as d;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * b.abs().max(1e-300)
}

/// ArviZ 0.23 on seven fixed sets of chains (iid, AR(1), odd length, shifted chains, heavy
/// tails, ties, skewed); the chains and values were made by `benches/mcmc_arviz_reference.py`
/// (command stored in the JSON file).
#[test]
fn diagnostics_equal_arviz() {
    let text = include_str!("data/arviz_reference.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert!(
        v["command"]
            .as_str()
            .unwrap()
            .contains("mcmc_arviz_reference.py")
    );
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    let f = |x: &serde_json::Value| x.as_f64().unwrap();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let rows: Vec<Vec<f64>> = c["chains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(f).collect())
            .collect();
        let (m, n) = (rows.len(), rows[0].len());
        let x = Array2::from_shape_vec((m, n), rows.concat()).unwrap();
        let x = x.view();
        let tol = 1e-8;
        let check = |what: &str, ours: f64, theirs: f64| {
            assert!(
                close(ours, theirs, tol),
                "{name}: {what} = {ours} but ArviZ gives {theirs}"
            );
        };
        check("rhat", d::rhat(x), f(&c["rhat"]));
        check("rhat_bulk", d::rhat_bulk(x), f(&c["rhat_bulk"]));
        check("ess_bulk", d::ess_bulk(x), f(&c["ess_bulk"]));
        check("ess_tail", d::ess_tail(x), f(&c["ess_tail"]));
        check("ess_mean", d::ess_mean(x), f(&c["ess_mean"]));
        check("ess_sd", d::ess_sd(x), f(&c["ess_sd"]));
        check("mcse_mean", d::mcse_mean(x), f(&c["mcse_mean"]));
        check("mcse_sd", d::mcse_sd(x), f(&c["mcse_sd"]));
        check("mean", x.mean().unwrap(), f(&c["mean"]));
        check("sd", d::sd(x), f(&c["sd"]));
        let probs: Vec<f64> = c["quantile_probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(f)
            .collect();
        for (k, p) in probs.iter().enumerate() {
            check(
                &format!("ess_quantile({p})"),
                d::ess_quantile(x, *p),
                f(&c["ess_quantile"][k]),
            );
            check(
                &format!("mcse_quantile({p})"),
                d::mcse_quantile(x, *p),
                f(&c["mcse_quantile"][k]),
            );
        }
        let (lo, hi) = d::hdi(x, 0.94);
        check("hdi low", lo, f(&c["hdi_94"][0]));
        check("hdi high", hi, f(&c["hdi_94"][1]));
        let b = d::bfmi(x);
        for (k, bk) in b.iter().enumerate() {
            check("bfmi", *bk, f(&c["bfmi"][k]));
        }
    }
}

fn ar1(m: usize, n: usize, phi: f64, seed: u64) -> Array2<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut x = Array2::zeros((m, n));
    for c in 0..m {
        let mut v: f64 = StandardNormal.sample(&mut rng);
        v /= (1.0 - phi * phi).sqrt();
        for t in 0..n {
            if t > 0 {
                let e: f64 = StandardNormal.sample(&mut rng);
                v = phi * v + e;
            }
            x[[c, t]] = v;
        }
    }
    x
}

/// For AR(1) chains the integrated autocorrelation time is (1 + φ)/(1 − φ), so
/// ESS = N (1 − φ)/(1 + φ).
#[test]
fn ar1_ess_matches_closed_form() {
    for (k, &phi) in [-0.3, 0.0, 0.5, 0.8, 0.9].iter().enumerate() {
        let (m, n) = (4, 20_000);
        let x = ar1(m, n, phi, 100 + k as u64);
        let truth = (m * n) as f64 * (1.0 - phi) / (1.0 + phi);
        for (what, ess) in [
            ("mean", d::ess_mean(x.view())),
            ("bulk", d::ess_bulk(x.view())),
        ] {
            let rel = ess / truth - 1.0;
            eprintln!(
                "AR(1) phi {phi}: ESS {what} {ess:.0} vs N(1-phi)/(1+phi) = {truth:.0} ({rel:+.3})"
            );
            assert!(
                rel.abs() < 0.10,
                "phi {phi}: ESS {what} {ess:.0} vs {truth:.0} ({rel:+.3})"
            );
        }
    }
}

/// Chains in different modes are flagged; chains from one distribution are not.
#[test]
fn rhat_flags_chains_in_different_modes() {
    let mut x = ar1(4, 1000, 0.5, 7);
    let good = d::rhat(x.view());
    assert!(good < 1.01, "mixed chains: R-hat {good}");
    for t in 0..1000 {
        x[[2, t]] += 3.0;
        x[[3, t]] += 3.0;
    }
    let bad = d::rhat(x.view());
    assert!(bad > 1.5, "chains 3 sd apart: R-hat {bad}");
    // Different scales only (same mean): caught by the folded (tail) part.
    let mut y = ar1(4, 1000, 0.5, 8);
    for t in 0..1000 {
        y[[0, t]] *= 4.0;
    }
    assert!(d::rhat_bulk(y.view()) < 1.05);
    assert!(
        d::rhat(y.view()) > 1.1,
        "scale difference: R-hat {}",
        d::rhat(y.view())
    );
    // Within-chain drift (non-stationarity) is caught by splitting.
    let mut z = ar1(4, 1000, 0.5, 9);
    for c in 0..4 {
        for t in 0..1000 {
            z[[c, t]] += 4.0 * t as f64 / 1000.0;
        }
    }
    assert!(d::rhat(z.view()) > 1.1);
}

#[test]
fn autocovariance_equals_direct_sum() {
    let x: Vec<f64> = ar1(1, 37, 0.6, 3).iter().copied().collect();
    let n = x.len();
    let m = x.iter().sum::<f64>() / n as f64;
    let a = d::autocovariance(&x);
    for t in 0..n {
        let direct: f64 = (0..n - t).map(|i| (x[i] - m) * (x[i + t] - m)).sum::<f64>() / n as f64;
        assert!((a[t] - direct).abs() < 1e-12, "lag {t}");
    }
}

#[test]
fn nan_or_too_short_gives_nan() {
    let mut x = ar1(2, 50, 0.1, 1);
    x[[1, 3]] = f64::NAN;
    assert!(d::rhat(x.view()).is_nan());
    assert!(d::ess_bulk(x.view()).is_nan());
    let short = ar1(2, 3, 0.1, 1);
    assert!(d::ess_bulk(short.view()).is_nan());
    let one = ar1(1, 100, 0.1, 1);
    assert!(d::rhat(one.view()).is_nan());
    assert!(d::ess_bulk(one.view()).is_finite());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Rank-based diagnostics (not the folded part of R̂, which depends on distances to the
    /// median) are invariant under strictly increasing transforms.
    #[test]
    fn rank_diagnostics_invariant_under_monotone_maps(seed in 0u64..1000, a in 0.1f64..5.0, b in -3.0f64..3.0) {
        let x = ar1(3, 60, 0.4, seed);
        let y = x.mapv(|v| (a * v + b).exp());
        prop_assert!((d::rhat_bulk(x.view()) - d::rhat_bulk(y.view())).abs() < 1e-12);
        prop_assert!((d::ess_bulk(x.view()) - d::ess_bulk(y.view())).abs() < 1e-9);
        prop_assert!((d::ess_tail(x.view()) - d::ess_tail(y.view())).abs() < 1e-9);
    }

    /// ESS of the mean is affine invariant; the MCSE of the mean scales with |a|.
    #[test]
    fn ess_mean_affine(seed in 0u64..1000, a in 0.1f64..10.0, b in -10.0f64..10.0) {
        let x = ar1(2, 80, 0.3, seed);
        let y = x.mapv(|v| a * v + b);
        let (ex, ey) = (d::ess_mean(x.view()), d::ess_mean(y.view()));
        prop_assert!((ex - ey).abs() < 1e-8 * ex);
        prop_assert!((a * d::mcse_mean(x.view()) - d::mcse_mean(y.view())).abs() < 1e-9 * a);
    }
}

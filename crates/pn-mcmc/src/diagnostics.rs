//! Convergence diagnostics (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021, "Rank-normalization,
//! folding, and localization: an improved R̂"), with the definitions used by Stan and ArviZ.
//!
//! Every function takes the draws of one scalar quantity as an array `chains × draws` and
//! returns NaN where ArviZ does (any NaN in the input, fewer than 4 draws, or fewer than 2
//! chains for R̂).
//!
//! - [`rhat`]: `max(R̂_bulk, R̂_tail)` where both are the split-R̂ of the rank-normalised draws,
//!   the second after folding around the median `|x − median|`;
//! - [`ess_bulk`], [`ess_tail`], [`ess_mean`], [`ess_sd`], [`ess_quantile`]: effective sample
//!   sizes `S = M N / τ̂` with `τ̂ = −1 + 2 Σ ρ̂ₜ` summed with Geyer's initial monotone sequence
//!   over the multi-chain autocorrelations `ρ̂ₜ = 1 − (W − mean acovₜ) / var⁺`;
//! - [`mcse_mean`], [`mcse_sd`], [`mcse_quantile`]: Monte Carlo standard errors;
//! - [`hdi`], [`quantile`], [`bfmi`].

use std::sync::Arc;

use ndarray::{Array2, ArrayView1, ArrayView2, Axis, concatenate, s};
use rustfft::{FftPlanner, num_complex::Complex};

fn invalid(x: &ArrayView2<'_, f64>, min_chains: usize) -> bool {
    x.iter().any(|v| v.is_nan()) || x.ncols() < 4 || x.nrows() < min_chains
}

/// Splits each chain into its first and last halves (the middle draw is dropped when the
/// number of draws is odd): `M × N → 2M × ⌊N/2⌋`.
pub fn split_chains(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let n = x.ncols();
    let half = n / 2;
    concatenate(
        Axis(0),
        &[x.slice(s![.., ..half]), x.slice(s![.., n - half..])],
    )
    .expect("halves have equal shape")
}

/// Ranks of all entries (1-based, ties averaged), in the same shape.
fn ranks(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let flat: Vec<f64> = x.iter().copied().collect();
    let mut idx: Vec<usize> = (0..flat.len()).collect();
    idx.sort_by(|&a, &b| flat[a].total_cmp(&flat[b]));
    let mut r = vec![0.0; flat.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && flat[idx[j + 1]] == flat[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    Array2::from_shape_vec(x.raw_dim(), r).expect("shape preserved")
}

/// The standard normal quantile `Φ⁻¹(p)`.
pub fn normal_quantile(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

/// Rank normalisation: `Φ⁻¹((r − 3/8) / (S + 1/4))` of the pooled ranks `r` (Blom 1958).
pub fn rank_normalize(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let size = x.len() as f64;
    ranks(x).mapv(|r| normal_quantile((r - 0.375) / (size + 0.25)))
}

/// The classic (non-split) potential scale reduction `√((B/W + N − 1) / N)` of the chains as
/// given (Gelman & Rubin 1992, in the form of BDA3 without the degrees-of-freedom correction).
pub fn rhat_basic(x: ArrayView2<'_, f64>) -> f64 {
    if x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let n = x.ncols() as f64;
    let means: Vec<f64> = x
        .rows()
        .into_iter()
        .map(|r| r.mean().unwrap_or(f64::NAN))
        .collect();
    let vars: Vec<f64> = x.rows().into_iter().map(|r| var(r, 1.0)).collect();
    let between = n * var(ArrayView1::from(&means[..]), 1.0);
    let within = vars.iter().sum::<f64>() / vars.len() as f64;
    ((between / within + n - 1.0) / n).sqrt()
}

fn var(x: ArrayView1<'_, f64>, ddof: f64) -> f64 {
    let n = x.len() as f64;
    let m = x.sum() / n;
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - ddof)
}

fn median(x: ArrayView2<'_, f64>) -> f64 {
    quantile(x, 0.5)
}

/// Rank-normalised split-R̂: the larger of the bulk value (rank-normalised split chains) and
/// the tail value (the same after folding, `|x − median|`). Values above 1.01 say that the
/// chains have not mixed.
pub fn rhat(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 2) {
        return f64::NAN;
    }
    let split = split_chains(x);
    let bulk = rhat_basic(rank_normalize(split.view()).view());
    let med = median(split.view());
    let folded = split.mapv(|v| (v - med).abs());
    let tail = rhat_basic(rank_normalize(folded.view()).view());
    bulk.max(tail)
}

/// R̂ of the rank-normalised split chains only (the "bulk" part of [`rhat`]).
pub fn rhat_bulk(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 2) {
        return f64::NAN;
    }
    rhat_basic(rank_normalize(split_chains(x).view()).view())
}

/// Biased autocovariances `acovₜ = (1/N) Σᵢ (xᵢ − x̄)(xᵢ₊ₜ − x̄)`, `t = 0 … N−1`, by FFT.
pub fn autocovariance(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return vec![];
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let m = (2 * n).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let fwd: Arc<dyn rustfft::Fft<f64>> = planner.plan_fft_forward(m);
    let inv = planner.plan_fft_inverse(m);
    let mut buf: Vec<Complex<f64>> = x.iter().map(|v| Complex::new(v - mean, 0.0)).collect();
    buf.resize(m, Complex::new(0.0, 0.0));
    fwd.process(&mut buf);
    for c in buf.iter_mut() {
        *c = Complex::new(c.norm_sqr(), 0.0);
    }
    inv.process(&mut buf);
    buf.iter()
        .take(n)
        .map(|c| c.re / (m as f64 * n as f64))
        .collect()
}

/// The effective sample size of the chains as given (no splitting, no rank normalisation):
/// Geyer's initial monotone sequence on the multi-chain autocorrelation estimate (Stan's and
/// ArviZ's `_ess`).
pub fn ess_basic(x: ArrayView2<'_, f64>) -> f64 {
    if x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let (m, n) = x.dim();
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if hi - lo < 1e-15 {
        return (m * n) as f64;
    }
    let nf = n as f64;
    let acov: Vec<Vec<f64>> = x
        .rows()
        .into_iter()
        .map(|r| autocovariance(&r.to_vec()))
        .collect();
    let mean_acov = |t: usize| acov.iter().map(|a| a[t]).sum::<f64>() / m as f64;
    let chain_means: Vec<f64> = x.rows().into_iter().map(|r| r.sum() / nf).collect();
    let mean_var = mean_acov(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if m > 1 {
        var_plus += var(ArrayView1::from(&chain_means[..]), 1.0);
    }
    let mut rho = vec![0.0; n];
    let mut rho_even = 1.0;
    rho[0] = rho_even;
    let mut rho_odd = 1.0 - (mean_var - mean_acov(1)) / var_plus;
    rho[1] = rho_odd;
    // Geyer's initial positive sequence.
    let mut t = 1;
    while t + 3 < n && rho_even + rho_odd > 0.0 {
        rho_even = 1.0 - (mean_var - mean_acov(t + 1)) / var_plus;
        rho_odd = 1.0 - (mean_var - mean_acov(t + 2)) / var_plus;
        if rho_even + rho_odd >= 0.0 {
            rho[t + 1] = rho_even;
            rho[t + 2] = rho_odd;
        }
        t += 2;
    }
    let max_t = t - 2;
    // An even-lag term beyond the last pair, if positive, improves the estimate.
    if rho_even > 0.0 {
        rho[max_t + 1] = rho_even;
    }
    // Geyer's initial monotone sequence.
    let mut t = 1;
    while t + 2 <= max_t {
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t] {
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0;
            rho[t + 2] = rho[t + 1];
        }
        t += 2;
    }
    let total = (m * n) as f64;
    let mut tau =
        -1.0 + 2.0 * rho[..=max_t].iter().sum::<f64>() + rho.get(max_t + 1).copied().unwrap_or(0.0);
    tau = tau.max(1.0 / total.log10());
    if rho.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    total / tau
}

/// Bulk effective sample size: [`ess_basic`] of the rank-normalised split chains. Reliable
/// for the centre of the distribution even with heavy tails; ≥ 100 per chain is the usual
/// floor for trusting R̂ and MCSEs.
pub fn ess_bulk(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    ess_basic(rank_normalize(split_chains(x).view()).view())
}

/// Effective sample size of the indicator `I(x ≤ q_p)` for the empirical `p`-quantile.
pub fn ess_quantile(x: ArrayView2<'_, f64>, p: f64) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    let q = quantile(x, p);
    let ind = x.mapv(|v| if v <= q { 1.0 } else { 0.0 });
    ess_basic(split_chains(ind.view()).view())
}

/// Tail effective sample size: the smaller of [`ess_quantile`] at 5 % and 95 %.
pub fn ess_tail(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    ess_quantile(x, 0.05).min(ess_quantile(x, 0.95))
}

/// Effective sample size for the mean: [`ess_basic`] of the split chains.
pub fn ess_mean(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    ess_basic(split_chains(x).view())
}

/// Effective sample size for the standard deviation: [`ess_mean`] of `(x − x̄)²`.
pub fn ess_sd(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    let m = x.mean().unwrap_or(f64::NAN);
    let sq = x.mapv(|v| (v - m) * (v - m));
    ess_basic(split_chains(sq.view()).view())
}

/// Monte Carlo standard error of the mean: `sd / √ESS_mean`.
pub fn mcse_mean(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    sd(x) / ess_mean(x).sqrt()
}

/// Monte Carlo standard error of the standard deviation (delta method on the variance with
/// the ESS of `(x − x̄)²`, as ArviZ).
pub fn mcse_sd(x: ArrayView2<'_, f64>) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    let m = x.mean().unwrap_or(f64::NAN);
    let sq = x.mapv(|v| (v - m) * (v - m));
    let ess = ess_mean(sq.view());
    let evar = sq.mean().unwrap_or(f64::NAN);
    let varvar = (sq.mapv(|v| v * v).mean().unwrap_or(f64::NAN) - evar * evar) / ess;
    (varvar / evar / 4.0).sqrt()
}

/// Monte Carlo standard error of the `p`-quantile: half the width of the ±1σ interval of the
/// quantile's order statistic, from a Beta distribution with the quantile's ESS.
pub fn mcse_quantile(x: ArrayView2<'_, f64>, p: f64) -> f64 {
    if invalid(&x, 1) {
        return f64::NAN;
    }
    let ess = ess_quantile(x, p);
    let (a, b) = (ess * p + 1.0, ess * (1.0 - p) + 1.0);
    let lo_p = statrs::function::beta::inv_beta_reg(a, b, 0.158_655_3);
    let hi_p = statrs::function::beta::inv_beta_reg(a, b, 0.841_344_7);
    let mut sorted: Vec<f64> = x.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let size = sorted.len() as f64;
    let i1 = (lo_p * size - 1.0).max(0.0).floor() as usize;
    let i2 = (hi_p * size - 1.0).min(size - 1.0).ceil() as usize;
    (sorted[i2] - sorted[i1]) / 2.0
}

/// Sample standard deviation (`ddof = 1`) over all chains.
pub fn sd(x: ArrayView2<'_, f64>) -> f64 {
    let flat: Vec<f64> = x.iter().copied().collect();
    var(ArrayView1::from(&flat[..]), 1.0).sqrt()
}

/// The empirical `p`-quantile of all draws with linear interpolation (NumPy's default).
pub fn quantile(x: ArrayView2<'_, f64>, p: f64) -> f64 {
    let mut v: Vec<f64> = x.iter().copied().collect();
    if v.is_empty() || v.iter().any(|a| a.is_nan()) {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// The highest-density interval of probability `prob` of all draws (the shortest interval
/// between order statistics containing `⌊prob · S⌋ + 1` draws; unimodal).
pub fn hdi(x: ArrayView2<'_, f64>, prob: f64) -> (f64, f64) {
    let mut v: Vec<f64> = x.iter().copied().filter(|a| !a.is_nan()).collect();
    if v.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let inc = (prob * n as f64).floor() as usize;
    let n_int = n - inc;
    if n_int == 0 || inc >= n {
        return (v[0], v[n - 1]);
    }
    let mut best = 0;
    let mut width = f64::INFINITY;
    for i in 0..n_int {
        let w = v[i + inc] - v[i];
        if w < width {
            width = w;
            best = i;
        }
    }
    (v[best], v[best + inc])
}

/// Energy Bayesian fraction of missing information per chain,
/// `mean (Eₜ − Eₜ₋₁)² / var E` with the sample variance (`ddof = 1`, as ArviZ) (Betancourt 2016); below 0.3 the momentum resampling
/// explores the energy distribution poorly (heavy tails, funnels).
pub fn bfmi(energy: ArrayView2<'_, f64>) -> Vec<f64> {
    energy
        .rows()
        .into_iter()
        .map(|e| {
            let n = e.len() as f64;
            if e.len() < 2 {
                return f64::NAN;
            }
            let num: f64 = e
                .windows(2)
                .into_iter()
                .map(|w| (w[1] - w[0]).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            num / var(e, 1.0)
        })
        .collect()
}

//! The result of a run: draws, sampler statistics, the summary table, warnings and writers.

use std::fmt;
use std::io::Write;

use ndarray::{Array2, Array3, ArrayView2, Axis};
use serde::Serialize;

use crate::diagnostics as diag;
use crate::error::{Error, Result};

/// Per-chain counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChainStats {
    /// Gradient evaluations (warm-up included).
    pub grad_evals: u64,
    /// Log-density evaluations without gradient (warm-up included).
    pub logp_evals: u64,
    /// Evaluations that returned NaN (treated as rejections / divergences).
    pub nan_logp: u64,
    /// Divergent transitions after warm-up.
    pub divergences: usize,
    /// Leapfrog steps after warm-up whose step size exceeded the integrator's stability limit
    /// for the curvature along the step (`εω > 2`; NUTS and HMC).
    pub unstable_steps: u64,
    /// Divergent transitions during warm-up.
    pub warmup_divergences: usize,
    /// Draws whose NUTS tree reached the maximum depth.
    pub max_depth_hits: usize,
    /// The final (adapted) step size, or the sampler's scale parameter.
    pub step_size: f64,
}

/// Per-draw sampler statistics, each `chains × draws`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SamplerStats {
    /// Acceptance statistic (NUTS: mean Metropolis probability over the trajectory).
    pub accept_stat: Array2<f64>,
    /// NUTS tree depth.
    pub tree_depth: Array2<usize>,
    /// Leapfrog steps (or log-density evaluations) per draw.
    pub n_steps: Array2<usize>,
    /// Whether the transition diverged.
    pub divergent: Array2<bool>,
    /// Hamiltonian at the draw (NaN for samplers without one).
    pub energy: Array2<f64>,
}

/// Draws and statistics of a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Fit {
    /// The draws, `chains × draws × dim`.
    pub draws: Array3<f64>,
    /// Parameter names (`x[0]`, … unless set with [`Fit::with_names`]).
    pub names: Vec<String>,
    /// The sampler's short name.
    pub sampler: String,
    /// The seed of the run.
    pub seed: u64,
    /// Warm-up iterations per chain.
    pub warmup: usize,
    /// NUTS maximum tree depth, if NUTS.
    pub max_tree_depth: Option<usize>,
    /// Per-draw statistics.
    pub stats: SamplerStats,
    /// Per-chain counts.
    pub chains: Vec<ChainStats>,
    /// The adapted inverse metric's diagonal per chain (HMC/NUTS).
    pub inv_metric: Vec<Option<Vec<f64>>>,
}

/// One row of the [`Summary`]: the estimates of one parameter and how far to trust them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SummaryRow {
    /// Parameter name.
    pub name: String,
    /// Posterior mean estimate.
    pub mean: f64,
    /// Posterior standard deviation estimate.
    pub sd: f64,
    /// Lower end of the highest-density interval.
    pub hdi_low: f64,
    /// Upper end of the highest-density interval.
    pub hdi_high: f64,
    /// 5 % quantile.
    pub q5: f64,
    /// Median.
    pub median: f64,
    /// 95 % quantile.
    pub q95: f64,
    /// Monte Carlo standard errors of the 5 %, 50 % and 95 % quantiles.
    pub mcse_quantiles: [f64; 3],
    /// Monte Carlo standard error of the mean.
    pub mcse_mean: f64,
    /// Monte Carlo standard error of the sd.
    pub mcse_sd: f64,
    /// Bulk effective sample size.
    pub ess_bulk: f64,
    /// Tail effective sample size.
    pub ess_tail: f64,
    /// Rank-normalised split-R̂.
    pub r_hat: f64,
}

/// Sampler-level diagnostics of a fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FitDiagnostics {
    /// Divergent transitions after warm-up (all chains).
    pub divergences: usize,
    /// Draws at the maximum tree depth (all chains).
    pub max_depth_hits: usize,
    /// Leapfrog steps after warm-up beyond the integrator's stability limit `εω < 2`, `ω²`
    /// the curvature of `−log p` along the step in the metric (all chains; NUTS and HMC).
    pub unstable_steps: u64,
    /// Leapfrog steps after warm-up (all chains; 0 for samplers without them).
    pub leapfrog_steps: u64,
    /// NaN log-densities met (all chains, warm-up included).
    pub nan_logp: u64,
    /// Energy BFMI per chain (empty without energies).
    pub bfmi: Vec<f64>,
    /// Gradient evaluations (all chains, warm-up included).
    pub grad_evals: u64,
    /// Log-density evaluations without gradient.
    pub logp_evals: u64,
    /// Mean acceptance statistic after warm-up.
    pub mean_accept: f64,
    /// Final step size per chain.
    pub step_size: Vec<f64>,
}

/// An ArviZ-like summary table: one [`SummaryRow`] per parameter, plus sampler diagnostics
/// and warnings. Prints as a table, serialises to JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// The sampler.
    pub sampler: String,
    /// Chains × draws.
    pub chains: usize,
    /// Draws per chain.
    pub draws: usize,
    /// HDI probability (0.94 as ArviZ).
    pub hdi_prob: f64,
    /// The rows.
    pub rows: Vec<SummaryRow>,
    /// Sampler diagnostics.
    pub diagnostics: FitDiagnostics,
    /// Warnings: every reason not to trust the estimates.
    pub warnings: Vec<String>,
}

impl SummaryRow {
    /// The row for the draws `x` (`chains × draws`).
    pub fn from_draws(name: &str, x: ArrayView2<'_, f64>, hdi_prob: f64) -> Self {
        let (lo, hi) = diag::hdi(x, hdi_prob);
        Self {
            name: name.to_string(),
            mean: x.mean().unwrap_or(f64::NAN),
            sd: diag::sd(x),
            hdi_low: lo,
            hdi_high: hi,
            q5: diag::quantile(x, 0.05),
            median: diag::quantile(x, 0.5),
            q95: diag::quantile(x, 0.95),
            mcse_quantiles: [0.05, 0.5, 0.95].map(|p| diag::mcse_quantile(x, p)),
            mcse_mean: diag::mcse_mean(x),
            mcse_sd: diag::mcse_sd(x),
            ess_bulk: diag::ess_bulk(x),
            ess_tail: diag::ess_tail(x),
            r_hat: diag::rhat(x),
        }
    }
}

impl Fit {
    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.draws.dim().0
    }
    /// Draws per chain.
    pub fn n_draws(&self) -> usize {
        self.draws.dim().1
    }
    /// The dimension.
    pub fn dim(&self) -> usize {
        self.draws.dim().2
    }

    /// Renames the parameters (must be one name per dimension).
    pub fn with_names(mut self, names: Vec<String>) -> Result<Self> {
        if names.len() != self.dim() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "parameter names",
                expected: vec![self.dim()],
                found: vec![names.len()],
            }
            .into());
        }
        self.names = names;
        Ok(self)
    }

    /// Replaces every draw `x` by `f(x)` (e.g. unconstrained → natural parameters, or derived
    /// quantities), with new names; statistics are kept.
    pub fn map_draws<F: Fn(&[f64]) -> Vec<f64>>(&self, names: Vec<String>, f: F) -> Result<Self> {
        let (m, n, _) = self.draws.dim();
        let k = names.len();
        let mut out = Array3::zeros((m, n, k));
        for c in 0..m {
            for t in 0..n {
                let x: Vec<f64> = self.draws.slice(ndarray::s![c, t, ..]).to_vec();
                let y = f(&x);
                if y.len() != k {
                    return Err(pn_core::Error::ShapeMismatch {
                        op: "map_draws output",
                        expected: vec![k],
                        found: vec![y.len()],
                    }
                    .into());
                }
                for i in 0..k {
                    out[[c, t, i]] = y[i];
                }
            }
        }
        let mut fit = self.clone();
        fit.draws = out;
        fit.names = names;
        Ok(fit)
    }

    /// The draws of parameter `i` as `chains × draws`.
    pub fn param(&self, i: usize) -> ArrayView2<'_, f64> {
        self.draws.index_axis(Axis(2), i)
    }

    /// Sampler-level diagnostics.
    pub fn diagnostics(&self) -> FitDiagnostics {
        let has_energy = self.stats.energy.iter().any(|e| e.is_finite());
        FitDiagnostics {
            divergences: self.chains.iter().map(|c| c.divergences).sum(),
            max_depth_hits: self.chains.iter().map(|c| c.max_depth_hits).sum(),
            unstable_steps: self.chains.iter().map(|c| c.unstable_steps).sum(),
            leapfrog_steps: self.stats.n_steps.iter().map(|&n| n as u64).sum(),
            nan_logp: self.chains.iter().map(|c| c.nan_logp).sum(),
            bfmi: if has_energy {
                diag::bfmi(self.stats.energy.view())
            } else {
                vec![]
            },
            grad_evals: self.chains.iter().map(|c| c.grad_evals).sum(),
            logp_evals: self.chains.iter().map(|c| c.logp_evals).sum(),
            mean_accept: self.stats.accept_stat.mean().unwrap_or(f64::NAN),
            step_size: self.chains.iter().map(|c| c.step_size).collect(),
        }
    }

    /// The summary table with a 94 % HDI.
    pub fn summary(&self) -> Summary {
        self.summary_with(0.94)
    }

    /// The summary table with an HDI of probability `hdi_prob`.
    pub fn summary_with(&self, hdi_prob: f64) -> Summary {
        let rows: Vec<SummaryRow> = (0..self.dim())
            .map(|i| SummaryRow::from_draws(&self.names[i], self.param(i), hdi_prob))
            .collect();
        let diagnostics = self.diagnostics();
        let warnings = self.warnings_for(&rows, &diagnostics);
        Summary {
            sampler: self.sampler.clone(),
            chains: self.n_chains(),
            draws: self.n_draws(),
            hdi_prob,
            rows,
            diagnostics,
            warnings,
        }
    }

    /// Every reason not to trust the estimates, as sentences (empty when none is found).
    pub fn warnings(&self) -> Vec<String> {
        self.summary().warnings
    }

    fn warnings_for(&self, rows: &[SummaryRow], d: &FitDiagnostics) -> Vec<String> {
        let mut w = Vec::new();
        let total = self.n_chains() * self.n_draws();
        if d.divergences > 0 {
            w.push(format!(
                "{} of {} transitions after warm-up were divergent: the sampler cannot follow the geometry (funnel, sharp curvature); the estimates may be biased. Reparameterise or raise target_accept.",
                d.divergences, total
            ));
        }
        if let Some(md) = self.max_tree_depth
            && d.max_depth_hits > 0
        {
            w.push(format!(
                "{} of {} transitions hit the maximum tree depth {md}: trajectories were cut short; exploration may be incomplete.",
                d.max_depth_hits, total
            ));
        }
        // More than 3 in 10⁵ steps beyond the stability limit: measured on the catalogue
        // (4 × 1000 + 1000), the banana (b = 0.1, δ = 0.95) has 1.6–30 in 10⁴ in every run,
        // including those 11–18 % off in sd(y₂) with no other warning; the Gaussians,
        // funnel-nc and logistic regression none; eight schools at δ = 0.95 about 0.7 in 10⁵.
        if d.unstable_steps > 0 && d.unstable_steps as f64 > 3e-5 * d.leapfrog_steps as f64 {
            w.push(format!(
                "{} of {} leapfrog steps after warm-up exceeded the integrator's stability limit for the local curvature (step size x curvature frequency > 2): regions of high curvature are probably under-explored and the estimates (tails, sds) may be biased even without divergences. Raise target_accept, reparameterise, or check with longer runs.",
                d.unstable_steps, d.leapfrog_steps
            ));
        }
        for (c, b) in d.bfmi.iter().enumerate() {
            if *b < 0.3 {
                w.push(format!("chain {c}: energy BFMI {b:.3} < 0.3: momentum resampling explores the energy distribution poorly (heavy tails or funnel)."));
            }
        }
        if d.nan_logp > 0 {
            w.push(format!(
                "the log-density returned NaN {} times (treated as rejections).",
                d.nan_logp
            ));
        }
        let bad_rhat: Vec<&SummaryRow> = rows
            .iter()
            .filter(|r| r.r_hat.is_nan() || r.r_hat > 1.01)
            .collect();
        if let Some(worst) = bad_rhat.iter().max_by(|a, b| a.r_hat.total_cmp(&b.r_hat)) {
            w.push(format!(
                "R-hat > 1.01 for {} of {} parameters (worst {} = {:.3}): the chains have not mixed; do not trust the estimates.",
                bad_rhat.len(), rows.len(), worst.name, worst.r_hat
            ));
        }
        let floor = 100.0 * self.n_chains().min(4) as f64;
        let low_ess: Vec<&SummaryRow> = rows
            .iter()
            .filter(|r| {
                r.ess_bulk.is_nan()
                    || r.ess_tail.is_nan()
                    || r.ess_bulk < floor
                    || r.ess_tail < floor
            })
            .collect();
        if let Some(worst) = low_ess.iter().min_by(|a, b| {
            a.ess_bulk
                .min(a.ess_tail)
                .total_cmp(&b.ess_bulk.min(b.ess_tail))
        }) {
            w.push(format!(
                "bulk or tail ESS below {floor:.0} for {} of {} parameters (worst {}: bulk {:.0}, tail {:.0}): R-hat and MCSE are unreliable; run longer.",
                low_ess.len(), rows.len(), worst.name, worst.ess_bulk, worst.ess_tail
            ));
        }
        w
    }

    /// Writes the draws as CSV: a header `chain,draw,<names…>,accept_stat,divergent,tree_depth,n_steps,energy`
    /// and one line per draw.
    pub fn write_csv<W: Write>(&self, mut w: W) -> Result<()> {
        write!(w, "chain,draw")?;
        for n in &self.names {
            write!(w, ",{}", csv_field(n))?;
        }
        writeln!(w, ",accept_stat,divergent,tree_depth,n_steps,energy")?;
        let (m, n, d) = self.draws.dim();
        for c in 0..m {
            for t in 0..n {
                write!(w, "{c},{t}")?;
                for i in 0..d {
                    write!(w, ",{:e}", self.draws[[c, t, i]])?;
                }
                writeln!(
                    w,
                    ",{},{},{},{},{:e}",
                    self.stats.accept_stat[[c, t]],
                    self.stats.divergent[[c, t]] as u8,
                    self.stats.tree_depth[[c, t]],
                    self.stats.n_steps[[c, t]],
                    self.stats.energy[[c, t]]
                )?;
            }
        }
        Ok(())
    }

    /// The draws, per-draw statistics and summary as one JSON document:
    /// `{"names", "draws": [chain][draw][dim], "stats": {...}, "summary": {...}}`.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        let (m, n, _) = self.draws.dim();
        let draws: Vec<Vec<Vec<f64>>> = (0..m)
            .map(|c| {
                (0..n)
                    .map(|t| self.draws.slice(ndarray::s![c, t, ..]).to_vec())
                    .collect()
            })
            .collect();
        let rows2 = |a: &Array2<f64>| -> Vec<Vec<f64>> {
            a.rows().into_iter().map(|r| r.to_vec()).collect()
        };
        let v = serde_json::json!({
            "sampler": self.sampler,
            "seed": self.seed,
            "warmup": self.warmup,
            "names": self.names,
            "draws": draws,
            "stats": {
                "accept_stat": rows2(&self.stats.accept_stat),
                "divergent": self.stats.divergent.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                "tree_depth": self.stats.tree_depth.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                "n_steps": self.stats.n_steps.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                "energy": rows2(&self.stats.energy).into_iter().map(|r| r.into_iter().map(finite_or_null).collect::<Vec<_>>()).collect::<Vec<_>>(),
            },
            "chains": self.chains,
            "summary": self.summary(),
        });
        Ok(v)
    }

    /// Writes [`to_json`](Self::to_json) to `w`.
    pub fn write_json<W: Write>(&self, w: W) -> Result<()> {
        serde_json::to_writer(w, &self.to_json()?).map_err(|e| Error::Io(e.to_string()))
    }
}

fn finite_or_null(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::Value::from(v)
    } else {
        serde_json::Value::Null
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let lo = format!("hdi_{:.0}%", (1.0 - self.hdi_prob) / 2.0 * 100.0);
        let hi = format!("hdi_{:.0}%", (1.0 + self.hdi_prob) / 2.0 * 100.0);
        writeln!(
            f,
            "{:w$} {:>10} {:>9} {:>10} {:>10} {:>9} {:>8} {:>8} {:>8} {:>6}",
            "", "mean", "sd", lo, hi, "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:w$} {:>10.3} {:>9.3} {:>10.3} {:>10.3} {:>9.3} {:>8.3} {:>8.0} {:>8.0} {:>6.3}",
                r.name,
                r.mean,
                r.sd,
                r.hdi_low,
                r.hdi_high,
                r.mcse_mean,
                r.mcse_sd,
                r.ess_bulk,
                r.ess_tail,
                r.r_hat
            )?;
        }
        let d = &self.diagnostics;
        write!(
            f,
            "{}: {} chains × {} draws; divergences {}; max-depth hits {}; unstable leapfrog steps {}; NaN log-densities {}; gradient evaluations {}; log-density evaluations {}",
            self.sampler,
            self.chains,
            self.draws,
            d.divergences,
            d.max_depth_hits,
            d.unstable_steps,
            d.nan_logp,
            d.grad_evals,
            d.logp_evals
        )?;
        if !d.bfmi.is_empty() {
            let b: Vec<String> = d.bfmi.iter().map(|v| format!("{v:.2}")).collect();
            write!(f, "; E-BFMI [{}]", b.join(", "))?;
        }
        writeln!(f)?;
        for warn in &self.warnings {
            writeln!(f, "WARNING: {warn}")?;
        }
        Ok(())
    }
}

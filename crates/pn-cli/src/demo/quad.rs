//! Demo panel: Bayesian quadrature of a 2-D Genz "gaussian" peak, whose integral is known in
//! closed form. Adaptive BQ (integral-variance reduction, hyperparameters by marginal
//! likelihood) reports a Gaussian belief over the integral after every evaluation; the panel
//! draws its absolute error and its reported standard deviation against the number of
//! evaluations, next to the errors of Monte Carlo and scrambled-Halton QMC at the same budgets.

use plotters::style::RGBColor;
use serde_json::{Map, Value, json};

use super::{PanelContext, object};
use crate::error::Result;
use crate::quad::{Curve, KernelArg, MethodArg, ladder, loglog, problem, solve};

/// Evaluation budget of the panel.
const BUDGET: usize = 48;

/// Run the panel: integrate, compare, draw.
pub(super) fn run(ctx: &mut PanelContext<'_>) -> Result<Map<String, Value>> {
    let p = problem("gaussian", 2, None, ctx.seed)?;
    let bq = solve(
        &p,
        MethodArg::Bq,
        KernelArg::Auto,
        BUDGET,
        None,
        1,
        ctx.seed,
    )?;
    let std = bq.std.unwrap_or(f64::NAN);
    let err = bq.estimate - p.truth;
    ctx.reporter.say(format!(
        "      ∫ = {:.6} ± {:.1e} (truth {:.6}, error {:+.1e}, |error|/std {:.2}) after {} evaluations",
        bq.estimate,
        std,
        p.truth,
        err,
        err.abs() / std,
        bq.n_evals
    ));
    let mut mc = vec![];
    let mut qmc = vec![];
    for n in ladder(BUDGET) {
        let o = solve(&p, MethodArg::Mc, KernelArg::Auto, n, None, 1, ctx.seed)?;
        mc.push((n as f64, (o.estimate - p.truth).abs()));
        let o = solve(&p, MethodArg::Qmc, KernelArg::Auto, n, None, 1, ctx.seed)?;
        qmc.push((n as f64, (o.estimate - p.truth).abs()));
    }
    let mc_err = mc.last().map(|v| v.1);
    let qmc_err = qmc.last().map(|v| v.1);
    let blue = RGBColor(31, 119, 180);
    let curves = [
        Curve {
            label: "Bayesian quadrature |error|".into(),
            points: bq
                .history
                .iter()
                .map(|&(n, m, _)| (n as f64, (m - p.truth).abs()))
                .collect(),
            color: blue,
            dashed: false,
        },
        Curve {
            label: "Bayesian quadrature reported std".into(),
            points: bq
                .history
                .iter()
                .filter_map(|&(n, _, s)| s.map(|s| (n as f64, s)))
                .collect(),
            color: blue,
            dashed: true,
        },
        Curve {
            label: "Monte Carlo |error|".into(),
            points: mc,
            color: RGBColor(214, 39, 40),
            dashed: false,
        },
        Curve {
            label: "scrambled Halton QMC |error|".into(),
            points: qmc,
            color: RGBColor(44, 160, 44),
            dashed: false,
        },
    ];
    loglog(
        &ctx.path,
        "Bayesian quadrature of a 2-D Genz peak: error and reported std vs evaluations",
        &curves,
    )?;
    Ok(object(json!({
        "family": "gaussian",
        "dim": 2,
        "params": p.params,
        "n_evals": bq.n_evals,
        "estimate": bq.estimate,
        "std": std,
        "truth": p.truth,
        "error": err,
        "inside_95": err.abs() <= 1.959_963_985 * std,
        "mc_error": mc_err,
        "qmc_error": qmc_err,
    })))
}

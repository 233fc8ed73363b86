//! Calibration of the probabilistic linear solvers over random SPD problems stopped early.
//!
//! For each of `P` seeded problems (`A = Q diag(λ) Qᵀ`, Haar-random `Q`, eigenvalues
//! log-uniform in `[1, κ]`, `b ~ N(0, I)`), each solver is stopped after `m` iterations and we
//! compare its reported `√tr Cov` with the actual error `‖x − x*‖₂` (`x*` by dense Cholesky).
//! Reported: the median of `√tr Cov / ‖e‖` (1 is ideal), the mean of `‖e‖² / tr Cov` (1 is
//! ideal for a calibrated scale), the per-coordinate mean `z² = (xᵢ − μᵢ)² / Σᵢᵢ` over all
//! coordinates of all problems (1 is ideal; the statistic used for IterGP) with its median,
//! and the fraction of problems with the error within `2 √tr Cov`.
//!
//! Writes the scatter plot of `‖e‖` against `√tr Cov` for κ = 1e3 to the SVG file given as the
//! first argument (default `docs/img/iter-linsolve-calibration.svg`).
//!
//! Run: `cargo run --release -p pn-linalg --example iter_linsolve_calibration [out.svg]`

use ndarray::{Array1, Array2};
use pn_linalg::iterative::Control;
use pn_linalg::probabilistic::{
    BayesCgParams, BayesCgPrior, MatrixBasedCalibration, MatrixBasedParams, bayescg, matrix_based,
};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn problem(n: usize, kappa: f64, rng: &mut Pcg64) -> (Array2<f64>, Array1<f64>, Array1<f64>) {
    let g = Array2::from_shape_fn((n, n), |_| rng.sample::<f64, _>(StandardNormal));
    let (q, _) = pn_core::dense::qr(g.view()).unwrap();
    let ev = Array1::from_shape_fn(n, |_| kappa.powf(rng.random::<f64>()));
    let a = (&q * &ev).dot(&q.t());
    let a = (&a + &a.t()) / 2.0;
    let b = Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal));
    let x = pn_core::dense::cholesky(a.view())
        .unwrap()
        .solve(b.view())
        .unwrap();
    (a, b, x)
}

/// A solver run: the mean and the marginal variances of its belief.
type Solver = Box<dyn Fn(&Array2<f64>, &Array1<f64>) -> (Array1<f64>, Array1<f64>)>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (n, problems) = (100, 200);
    println!(
        "n = {n}, {problems} problems per row, eigenvalues log-uniform in [1, κ], b ~ N(0, I)"
    );
    println!(
        "| solver | κ | iterations | median ‖e‖ | median √tr Cov | median √tr Cov / ‖e‖ | mean ‖e‖²/tr Cov | mean z² | median z² | ‖e‖ ≤ 2√tr Cov |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut scatter: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for &(kappa, m) in &[(1e2, 10), (1e2, 25), (1e3, 20), (1e4, 40)] {
        let solvers: Vec<(&str, Solver)> = vec![
            (
                "BayesCG, Krylov prior (delay 5)",
                Box::new(move |a, b| {
                    let s = bayescg(
                        a,
                        b.view(),
                        &BayesCgParams::default()
                            .prior(BayesCgPrior::Krylov { delay: 5 })
                            .max_iter(m)
                            .rtol(0.0),
                        |_| Control::Continue,
                    )
                    .unwrap();
                    (s.belief.mean().to_owned(), s.belief.var())
                }),
            ),
            (
                "BayesCG, Σ₀ = I, ν̂",
                Box::new(move |a, b| {
                    let s = bayescg(
                        a,
                        b.view(),
                        &BayesCgParams::default()
                            .prior(BayesCgPrior::Identity)
                            .max_iter(m)
                            .rtol(0.0),
                        |_| Control::Continue,
                    )
                    .unwrap();
                    (s.belief.mean().to_owned(), s.belief.var())
                }),
            ),
            (
                "matrix-based, φ = 1",
                Box::new(move |a, b| {
                    let s = matrix_based(
                        a,
                        b.view(),
                        &MatrixBasedParams::default()
                            .calibration(MatrixBasedCalibration::None)
                            .max_iter(m)
                            .rtol(0.0),
                        |_| Control::Continue,
                    )
                    .unwrap();
                    (s.belief.mean().to_owned(), s.belief.var())
                }),
            ),
            (
                "matrix-based, Ritz-value φ",
                Box::new(move |a, b| {
                    let s = matrix_based(
                        a,
                        b.view(),
                        &MatrixBasedParams::default()
                            .calibration(MatrixBasedCalibration::Rayleigh)
                            .max_iter(m)
                            .rtol(0.0),
                        |_| Control::Continue,
                    )
                    .unwrap();
                    (s.belief.mean().to_owned(), s.belief.var())
                }),
            ),
            (
                "matrix-based, quadrature φ (10 steps)",
                Box::new(move |a, b| {
                    let s = matrix_based(
                        a,
                        b.view(),
                        &MatrixBasedParams::default().max_iter(m).rtol(0.0),
                        |_| Control::Continue,
                    )
                    .unwrap();
                    (s.belief.mean().to_owned(), s.belief.var())
                }),
            ),
        ];
        for (name, solve) in &solvers {
            let mut rng = Pcg64::seed_from_u64(42);
            let mut ratios = Vec::new();
            let mut errs = Vec::new();
            let mut sds = Vec::new();
            let mut z2 = 0.0;
            let mut points = Vec::new();
            let mut covered = 0;
            let mut zc: Vec<f64> = Vec::new();
            for _ in 0..problems {
                let (a, b, x) = problem(n, kappa, &mut rng);
                let (mean, var) = solve(&a, &b);
                let tr = var.sum();
                zc.extend(
                    mean.iter()
                        .zip(&x)
                        .zip(&var)
                        .map(|((m, t), v)| (m - t) * (m - t) / v),
                );
                let e = (&mean - &x).mapv(|v| v * v).sum().sqrt();
                ratios.push(tr.sqrt() / e);
                errs.push(e);
                sds.push(tr.sqrt());
                z2 += e * e / tr;
                points.push((e, tr.sqrt()));
                if e <= 2.0 * tr.sqrt() {
                    covered += 1;
                }
            }
            let med = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let zmean = zc.iter().sum::<f64>() / zc.len() as f64;
            println!(
                "| {name} | {kappa:.0e} | {m} | {:.2e} | {:.2e} | {:.2} | {:.2} | {zmean:.2} | {:.3} | {:.0} % |",
                med(&mut errs),
                med(&mut sds),
                med(&mut ratios),
                z2 / problems as f64,
                med(&mut zc),
                100.0 * covered as f64 / problems as f64
            );
            if kappa == 1e3 {
                scatter.push((name.to_string(), points));
            }
        }
    }
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/img/iter-linsolve-calibration.svg".into());
    plot(&out, &scatter)?;
    eprintln!("wrote {out}");
    Ok(())
}

/// Log–log scatter of actual error against reported √tr Cov, with the lines y = x and y = x/2.
fn plot(out: &str, series: &[(String, Vec<(f64, f64)>)]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(out, (720, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let (lo, hi) = (1e-2f64, 1e2f64);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Reported √tr Cov vs actual error (κ = 1e3, 20 iterations, n = 100)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("actual error ‖x − x*‖")
        .y_desc("reported √tr Cov")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            vec![(lo, lo), (hi, hi)],
            BLACK.stroke_width(1),
        ))?
        .label("calibrated: √tr Cov = ‖e‖")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    let colors = [RED, BLUE, GREEN, MAGENTA, CYAN];
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        chart
            .draw_series(
                pts.iter()
                    .map(|&(e, s)| Circle::new((e.clamp(lo, hi), s.clamp(lo, hi)), 2, c.filled())),
            )?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, c.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

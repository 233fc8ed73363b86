//! Time against n for three exact 1-D GP paths with a Matérn-³⁄₂ kernel: state space (Kalman
//! filter and smoother), dense Cholesky, and Toeplitz (regular grid, FFT products inside CG).
//!
//! ```text
//! cargo run --release -p pn-linalg --example gp_scaling -- \
//!     [--max-n 1000000] [--dense-max 8000] [--toeplitz-max 1000000] [--reps 3] \
//!     [--general-max 10000] [--json benches/results/gp_scaling.json] [--svg docs/img/gp-scaling.svg] \
//!     [--sizes 100000,1000000] [--no-random]
//! ```
//!
//! Problem: Matérn-³⁄₂ (ℓ = 0.5, σ² = 1), noise σ_n² = 0.01, inputs on the regular grid
//! `xᵢ = 0.01 i` (so the data density, and the conditioning of `K + σ_n² I`, do not change
//! with n), targets `yᵢ = sin(2π xᵢ/3) + 0.5 cos(5 xᵢ) + 0.1 εᵢ` with seeded `Pcg64` noise.
//!
//! What each path computes inside the timed region:
//!
//! - **state space**: `StateSpaceGp::new` + `fit` (sort, filter, smoother, log marginal
//!   likelihood) + posterior mean and variance of `f` at every training input (`at_inputs`).
//!   A second series ("random inputs") uses `n` unsorted uniform inputs on the same interval
//!   and `predict` at the training inputs, so it includes the sort and a binary search per
//!   point.
//! - **dense**: `ExactGp::new` (assemble `K`, add σ_n², Cholesky, `α`, log marginal
//!   likelihood) — timed alone — and then `predict` at every training input (mean and
//!   variance: a triangular solve with n right-hand sides).
//! - **Toeplitz**: `ToeplitzGp::new` (first column, FFT of the circulant embedding) + CG for
//!   `α` to relative residual 1e-10 + posterior mean at the training inputs (`y − σ_n² α`). No
//!   variances and no log marginal likelihood (they would need n more solves / a stochastic
//!   estimate): this path does less work than the other two.
//!
//! - **pn-filter general smoother** (up to `--general-max`, default 10⁴): the same model
//!   through pn-filter's `Matern` prior (matrix exponentials and quadrature per step), `filter`
//!   and `smooth` — the state-space path before its closed-form discretisation.
//!
//! Before timing, at every n where two paths run, their answers are compared: state space
//! against dense (mean, variance, log marginal likelihood; relative 1e-8 demanded) and
//! Toeplitz means against state-space means (relative 1e-7, limited by the CG tolerance).
//! One untimed warm-up, then medians of `--reps` runs (fewer for the largest dense sizes).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use ndarray::{Array1, Array2, Axis};
use pn_core::kernels::Matern32;
use pn_linalg::exact::ExactGp;
use pn_linalg::iterative::CgParams;
use pn_linalg::state_space::{MaternComponent, Nu, StateSpaceGp};
use pn_linalg::structured::ToeplitzGp;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

const ELL: f64 = 0.5;
const VAR: f64 = 1.0;
const NOISE: f64 = 0.01;
const DX: f64 = 0.01;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn target(x: f64) -> f64 {
    (2.0 * std::f64::consts::PI * x / 3.0).sin() + 0.5 * (5.0 * x).cos()
}

fn data(n: usize, random: bool) -> (Array1<f64>, Array1<f64>) {
    let mut rng = Pcg64::seed_from_u64(n as u64);
    let span = DX * (n as f64 - 1.0);
    let x = Array1::from_shape_fn(n, |i| {
        if random {
            rng.random_range(0.0..span)
        } else {
            DX * i as f64
        }
    });
    let y = x.mapv(|v| target(v) + 0.1 * rng.sample::<f64, _>(StandardNormal));
    (x, y)
}

fn comps() -> [MaternComponent; 1] {
    [MaternComponent {
        nu: Nu::ThreeHalves,
        lengthscale: ELL,
        variance: VAR,
    }]
}

struct Answer {
    mean: Array1<f64>,
    var: Option<Array1<f64>>,
    lml: Option<f64>,
}

fn state_space(x: &Array1<f64>, y: &Array1<f64>, random: bool) -> Res<Answer> {
    let post = StateSpaceGp::new(&comps(), NOISE)?.fit(x.view(), y.view())?;
    let (mean, var) = if random {
        post.predict(x.view())?
    } else {
        post.at_inputs()
    };
    Ok(Answer {
        mean,
        var: Some(var),
        lml: Some(post.log_marginal_likelihood()),
    })
}

fn dense_new(x2: &Array2<f64>, y: &Array1<f64>) -> Res<ExactGp> {
    Ok(ExactGp::new(
        Box::new(Matern32::new(ELL, VAR)?),
        NOISE,
        x2.view(),
        y.view(),
    )?)
}

fn dense(x2: &Array2<f64>, y: &Array1<f64>) -> Res<Answer> {
    let gp = dense_new(x2, y)?;
    let (mean, var) = gp.predict(x2.view())?;
    Ok(Answer {
        mean,
        var: Some(var),
        lml: Some(gp.log_marginal_likelihood()),
    })
}

fn toeplitz(x: &Array1<f64>, y: &Array1<f64>) -> Res<(Answer, usize)> {
    let kernel = Matern32::new(ELL, VAR)?;
    let gp = ToeplitzGp::new(&kernel, x.view(), NOISE)?;
    let post = gp.fit(y.view(), &CgParams::default().rtol(1e-10))?;
    let mean = y - &(&post.alpha() * NOISE);
    Ok((
        Answer {
            mean,
            var: None,
            lml: None,
        },
        post.info().iterations,
    ))
}

/// The same posterior through pn-filter's general machinery (`Matern` prior discretised by
/// matrix exponentials and quadrature at every step, `filter`, `smooth`): what the state-space
/// path computed before its closed-form discretisation.
fn general(x: &Array1<f64>, y: &Array1<f64>) -> Res<Answer> {
    use pn_filter::{GaussMarkov, Matern, Observation, SqrtGaussian, filter};
    use std::sync::Arc;
    let prior: Arc<dyn GaussMarkov> = Arc::new(Matern::new(1, ELL, VAR, 1)?);
    let h = prior.projection(0);
    let noise = pn_core::Covariance::scaled_identity(1, NOISE)?;
    let obs = y
        .iter()
        .map(|&v| Observation::new(h.clone(), &noise, ndarray::array![v]).map(Some))
        .collect::<Result<Vec<_>, _>>()?;
    let init = SqrtGaussian::from_gaussian(&prior.stationary().ok_or("no stationary prior")?)?;
    let post = filter(prior, init, x.as_slice().ok_or("layout")?, &obs)?;
    let smooth = post.smooth()?;
    let (mut mean, mut var) = (Array1::zeros(x.len()), Array1::zeros(x.len()));
    for (k, b) in smooth.marginals().iter().enumerate() {
        mean[k] = h.row(0).dot(&b.mean);
        let hl = h.dot(&b.chol);
        var[k] = hl.row(0).dot(&hl.row(0));
    }
    Ok(Answer {
        mean,
        var: Some(var),
        lml: Some(post.log_marginal_likelihood()),
    })
}

fn rel(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
        / scale
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn time<T>(reps: usize, mut f: impl FnMut() -> Res<T>) -> Res<Vec<f64>> {
    black_box(f()?);
    let mut out = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        black_box(f()?);
        out.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

struct Row {
    path: &'static str,
    n: usize,
    seconds: Vec<f64>,
    note: String,
}

fn main() -> Res<()> {
    let mut max_n = 1_000_000usize;
    let mut dense_max = 8000usize;
    let mut toeplitz_max = 1_000_000usize;
    let mut general_max = 10_000usize;
    let mut reps = 3usize;
    let mut random = true;
    let mut only: Option<Vec<usize>> = None;
    let mut json = "benches/results/gp_scaling.json".to_string();
    let mut svg = "docs/img/gp-scaling.svg".to_string();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--max-n" => max_n = val()?.parse()?,
            "--dense-max" => dense_max = val()?.parse()?,
            "--toeplitz-max" => toeplitz_max = val()?.parse()?,
            "--general-max" => general_max = val()?.parse()?,
            "--reps" => reps = val()?.parse()?,
            "--no-random" => random = false,
            "--sizes" => {
                only = Some(
                    val()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?,
                )
            }
            "--json" => json = val()?,
            "--svg" => svg = val()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let sizes: Vec<usize> = [
        1000, 2000, 4000, 8000, 10_000, 31_623, 100_000, 316_228, 1_000_000,
    ]
    .into_iter()
    .filter(|&n| n <= max_n)
    .collect();
    let sizes = only.unwrap_or(sizes);
    let mut rows: Vec<Row> = Vec::new();
    let mut checks = String::new();
    for &n in &sizes {
        let (x, y) = data(n, false);
        let x2 = x.view().insert_axis(Axis(1)).to_owned();
        // Validation (untimed).
        let ss = state_space(&x, &y, false)?;
        if n <= dense_max {
            let de = dense(&x2, &y)?;
            let (em, ev) = (
                rel(&ss.mean, &de.mean),
                rel(ss.var.as_ref().unwrap(), de.var.as_ref().unwrap()),
            );
            let el = (ss.lml.unwrap() - de.lml.unwrap()).abs() / de.lml.unwrap().abs();
            eprintln!(
                "n = {n}: state space vs dense: mean {em:.1e}, var {ev:.1e}, lml {el:.1e} (relative)"
            );
            if em > 1e-8 || ev > 1e-8 || el > 1e-8 {
                return Err(format!("state space and dense disagree at n = {n}").into());
            }
            let _ = write!(
                checks,
                "{{\"n\": {n}, \"pair\": \"state space vs dense\", \"mean\": {em:e}, \"var\": {ev:e}, \"lml\": {el:e}}},"
            );
        }
        if n <= general_max {
            let ge = general(&x, &y)?;
            let (em, ev) = (
                rel(&ss.mean, &ge.mean),
                rel(ss.var.as_ref().unwrap(), ge.var.as_ref().unwrap()),
            );
            let el = (ss.lml.unwrap() - ge.lml.unwrap()).abs() / ge.lml.unwrap().abs();
            eprintln!(
                "n = {n}: state space vs pn-filter's general smoother: mean {em:.1e}, var {ev:.1e}, lml {el:.1e}"
            );
            if em > 1e-8 || ev > 1e-8 || el > 1e-8 {
                return Err(format!("state space and pn-filter disagree at n = {n}").into());
            }
        }
        if n <= toeplitz_max {
            let (tp, iters) = toeplitz(&x, &y)?;
            let em = rel(&tp.mean, &ss.mean);
            eprintln!("n = {n}: Toeplitz (CG, {iters} iterations) vs state space: mean {em:.1e}");
            if em > 1e-7 {
                return Err(format!("Toeplitz and state space disagree at n = {n}").into());
            }
            let _ = write!(
                checks,
                "{{\"n\": {n}, \"pair\": \"Toeplitz vs state space\", \"mean\": {em:e}, \"cg_iterations\": {iters}}},"
            );
        }
        // Timing: alternate the paths at each n.
        let r = if n >= 316_228 {
            reps.min(3)
        } else {
            reps.max(3)
        };
        let t = time(r, || state_space(&x, &y, false))?;
        rows.push(Row {
            path: "state space",
            n,
            seconds: t,
            note: String::new(),
        });
        if random {
            let (xr, yr) = data(n, true);
            let t = time(r, || state_space(&xr, &yr, true))?;
            rows.push(Row {
                path: "state space, random inputs",
                n,
                seconds: t,
                note: String::new(),
            });
        }
        if n <= dense_max {
            let rd = if n >= 8000 { reps.min(2) } else { reps };
            let t = time(rd, || dense_new(&x2, &y))?;
            rows.push(Row {
                path: "dense (ExactGp::new: K, Cholesky, alpha, lml)",
                n,
                seconds: t,
                note: String::new(),
            });
            let t = time(rd, || dense(&x2, &y))?;
            rows.push(Row {
                path: "dense (+ mean and variance at the inputs)",
                n,
                seconds: t,
                note: String::new(),
            });
        }
        if n <= general_max {
            let t = time(reps.min(2), || general(&x, &y))?;
            rows.push(Row {
                path: "pn-filter general smoother",
                n,
                seconds: t,
                note: String::new(),
            });
        }
        if n <= toeplitz_max {
            let mut iters = 0;
            let t = time(r, || {
                let (a, k) = toeplitz(&x, &y)?;
                iters = k;
                Ok(a)
            })?;
            rows.push(Row {
                path: "Toeplitz (FFT + CG, mean only)",
                n,
                seconds: t,
                note: format!("{iters} CG iterations"),
            });
        }
        for row in rows.iter().filter(|r| r.n == n) {
            eprintln!(
                "n = {n:>8}  {:<48} {:>10.4} s  {}",
                row.path,
                median(row.seconds.clone()),
                row.note
            );
        }
    }
    // JSON.
    let mut out = String::from(
        "{\n  \"problem\": \"Matern-3/2 (ell = 0.5, var = 1), noise 0.01, grid x_i = 0.01 i\",\n",
    );
    let _ = writeln!(out, "  \"checks\": [{}],", checks.trim_end_matches(','));
    out.push_str("  \"rows\": [\n");
    for (i, r) in rows.iter().enumerate() {
        let secs: Vec<String> = r.seconds.iter().map(|s| format!("{s:.6}")).collect();
        let _ = writeln!(
            out,
            "    {{\"path\": \"{}\", \"n\": {}, \"median_s\": {:.6}, \"seconds\": [{}], \"note\": \"{}\"}}{}",
            r.path,
            r.n,
            median(r.seconds.clone()),
            secs.join(", "),
            r.note,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    out.push_str("  ]\n}\n");
    std::fs::write(&json, out)?;
    eprintln!("wrote {json}");
    plot(&svg, &rows)?;
    eprintln!("wrote {svg}");
    Ok(())
}

fn plot(out: &str, rows: &[Row]) -> Res<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(out, (760, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let paths = [
        ("state space", "state space (mean, var, lml)", BLUE),
        (
            "state space, random inputs",
            "state space, unsorted random inputs",
            CYAN,
        ),
        (
            "dense (ExactGp::new: K, Cholesky, alpha, lml)",
            "dense Cholesky (lml, mean)",
            RED,
        ),
        (
            "dense (+ mean and variance at the inputs)",
            "dense (+ variances)",
            MAGENTA,
        ),
        (
            "Toeplitz (FFT + CG, mean only)",
            "Toeplitz FFT + CG (mean only)",
            GREEN,
        ),
        (
            "pn-filter general smoother",
            "state space via pn-filter's general priors",
            RGBColor(120, 120, 120),
        ),
    ];
    let (xlo, xhi) = (700.0f64, 1.5e6f64);
    let meds: Vec<f64> = rows.iter().map(|r| median(r.seconds.clone())).collect();
    let ylo = meds.iter().cloned().fold(f64::INFINITY, f64::min) / 2.0;
    let yhi = meds.iter().cloned().fold(0.0f64, f64::max) * 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "1-D Matérn-3/2 GP: time against n (median)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((xlo..xhi).log_scale(), (ylo..yhi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("n (training points)")
        .y_desc("seconds")
        .draw()?;
    for (key, label, color) in paths {
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.path == key)
            .map(|r| (r.n as f64, median(r.seconds.clone())))
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    // Reference slope: linear in n through the state-space point at the smallest n.
    if let Some(r) = rows.iter().find(|r| r.path == "state space") {
        let t0 = median(r.seconds.clone());
        let n0 = r.n as f64;
        chart
            .draw_series(LineSeries::new(
                vec![(n0, t0), (1e6, t0 * 1e6 / n0)],
                BLACK.mix(0.4).stroke_width(1),
            ))?
            .label("∝ n")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
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

//! Why Bayesian quadrature is overconfident in some Genz cells: the same node sets re-solved
//! under alternative models, to separate hyperparameter estimation from model misfit.
//!
//! `cargo run --release -p pn-quad --example calibration_causes -- FAMILY D N [INSTANCES]`
//! (e.g. `corner-peak 2 16 40`). Instances and scrambled-Halton nodes are drawn as in the
//! `calibration` example's Halton rows (seed 2024 for the problems, seed r for instance r).
//!
//! Each row prints `z = (estimate − truth)/std` for:
//!
//! - `default`: product Matérn-⁵⁄₂, lengthscales by marginal likelihood, output scale
//!   `max(ML, LOO)` (pn-quad's defaults);
//! - `ml`: output scale by maximum likelihood alone;
//! - `const`: a diffuse constant prior mean (universal kriging);
//! - `half`: the fitted lengthscales halved;
//! - `marg`: the lengthscales marginalised on a 5ᵈ grid of log-lengthscales over the fit's box
//!   (uniform prior on log ℓ), the output scale profiled (Jeffreys prior, weights
//!   `∝ (fᵀK⁻¹f)^{−n/2}|K|^{−1/2}`), the Gaussian mixture collapsed to its mean and variance;
//! - `log`: a GP on `log f` (positive integrands only; constant offset the mean of `log f`,
//!   same kernel family and fit), whose integral `∫ exp(g)` has the exact lognormal moments
//!   `E = ∫ e^{m + s²/2}`, `Var = ∫∫ e^{m(x)+m(x')+(s²(x)+s²(x'))/2}(e^{C(x,x')} − 1)`,
//!   evaluated on a tensor Gauss–Legendre grid (128, 48², 14³ points).
//!
//! The last lines give the coverage of the 95 % interval, mean z² and the median |error| of
//! each model.

use ndarray::{Array1, Array2, Axis};
use pn_core::kernels::Kernel;
use pn_quad::genz::GenzFamily;
use pn_quad::rules::{gauss_legendre, halton_scrambled};
use pn_quad::{
    BqOptions, FitOptions, Measure, PriorMean, QuadKernel, bayesian_quadrature, default_kernel,
    fit_lengthscales,
};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Lower Cholesky factor (small matrices; pivots floored at `1e-12 · K₀₀`).
fn chol(k: &Array2<f64>) -> Array2<f64> {
    let n = k.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut s = k[[j, j]];
        for c in 0..j {
            s -= l[[j, c]] * l[[j, c]];
        }
        let p = s.max(1e-12 * k[[0, 0]]).sqrt();
        l[[j, j]] = p;
        for i in j + 1..n {
            let mut t = k[[i, j]];
            for c in 0..j {
                t -= l[[i, c]] * l[[j, c]];
            }
            l[[i, j]] = t / p;
        }
    }
    l
}

/// `L⁻¹ B`.
fn lsolve(l: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let mut w = b.clone();
    for i in 0..l.nrows() {
        for c in 0..i {
            let rowc = w.row(c).to_owned();
            w.row_mut(i).scaled_add(-l[[i, c]], &rowc);
        }
        let d = l[[i, i]];
        w.row_mut(i).mapv_inplace(|v| v / d);
    }
    w
}

/// Profile log marginal likelihood `−(n/2) log(fᵀK⁻¹f) − ½ log|K|`.
fn profile_loglik(k: &Array2<f64>, y: &Array1<f64>) -> f64 {
    let l = chol(k);
    let w = lsolve(&l, &y.clone().insert_axis(Axis(1)));
    let q: f64 = w.iter().map(|v| v * v).sum();
    let logdet: f64 = l.diag().iter().map(|v| 2.0 * v.ln()).sum();
    -0.5 * y.len() as f64 * q.ln() - 0.5 * logdet
}

/// Lengthscales marginalised on a grid (see the module documentation).
fn marginalised(kf: &QuadKernel, m: &Measure, x: &Array2<f64>, y: &Array1<f64>) -> (f64, f64) {
    let (n, d) = x.dim();
    let nn = n as f64;
    let mut lo = vec![];
    let mut hi = vec![];
    for k in 0..d {
        let (a, b) = x
            .column(k)
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        lo.push((0.3 * (b - a) / nn.powf(1.0 / d as f64)).ln());
        hi.push((2.0 * (b - a)).ln());
    }
    let per = 5usize;
    let mut lw = vec![];
    let mut ms = vec![];
    for gi in 0..per.pow(d as u32) {
        let mut t = gi;
        let ls: Vec<f64> = (0..d)
            .map(|k| {
                let j = t % per;
                t /= per;
                (lo[k] + (hi[k] - lo[k]) * j as f64 / (per - 1) as f64).exp()
            })
            .collect();
        let k = kf
            .with_lengthscales(&ls)
            .unwrap()
            .with_outputscale(1.0)
            .unwrap();
        let km = k.matrix(x.view(), x.view()).unwrap();
        let opts = BqOptions::default().loo_outputscale(false);
        if let Ok(post) = bayesian_quadrature(&k, m, x.view(), y.view(), &opts) {
            lw.push(profile_loglik(&km, y));
            // Student-t with n degrees of freedom from the Jeffreys prior on the scale.
            ms.push((post.belief.mean, post.belief.var * nn / (nn - 2.0)));
        }
    }
    let mx = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ws: Vec<f64> = lw.iter().map(|l| (l - mx).exp()).collect();
    let sw: f64 = ws.iter().sum();
    let mean = ws.iter().zip(&ms).map(|(w, m)| w * m.0).sum::<f64>() / sw;
    let var = ws
        .iter()
        .zip(&ms)
        .map(|(w, m)| w * (m.1 + (m.0 - mean).powi(2)))
        .sum::<f64>()
        / sw;
    (mean, var)
}

/// GP on `log f`, exact lognormal moments of `∫ exp(g)` on a Gauss–Legendre grid over `[0, 1]ᵈ`.
fn log_warped(x: &Array2<f64>, y: &Array1<f64>, m: &Measure) -> (f64, f64) {
    let d = x.ncols();
    let ylog = y.mapv(f64::ln);
    let off = ylog.mean().unwrap();
    let yc = ylog.mapv(|v| v - off);
    let fit = fit_lengthscales(
        &default_kernel(m),
        x.view(),
        yc.view(),
        &FitOptions::default(),
    )
    .unwrap();
    let post =
        bayesian_quadrature(&fit.kernel, m, x.view(), yc.view(), &BqOptions::default()).unwrap();
    let k = post.kernel;
    let per = match d {
        1 => 128,
        2 => 48,
        _ => 14,
    };
    let (gx, gw) = gauss_legendre(per).unwrap();
    let total = per.pow(d as u32);
    let mut grid = Array2::zeros((total, d));
    let mut wts = Array1::<f64>::ones(total);
    for i in 0..total {
        let mut t = i;
        for kk in 0..d {
            let j = t % per;
            t /= per;
            grid[[i, kk]] = 0.5 * (gx[j] + 1.0);
            wts[i] *= 0.5 * gw[j];
        }
    }
    let l = chol(&k.matrix(x.view(), x.view()).unwrap());
    let w = lsolve(&l, &k.matrix(x.view(), grid.view()).unwrap());
    let yw = lsolve(&l, &yc.insert_axis(Axis(1))).column(0).to_owned();
    let mg = w.t().dot(&yw);
    let c = k.matrix(grid.view(), grid.view()).unwrap() - w.t().dot(&w);
    let a: Array1<f64> = Array1::from_shape_fn(total, |i| {
        wts[i] * (mg[i] + off + 0.5 * c[[i, i]].max(0.0)).exp()
    });
    let e = a.sum();
    let mut v = 0.0f64;
    for i in 0..total {
        let row = c.row(i);
        let acc: f64 = (0..total).map(|j| a[j] * row[j].exp_m1()).sum();
        v += a[i] * acc;
    }
    (e, v.max(0.0))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "FAMILY D N [INSTANCES]";
    let fam = GenzFamily::ALL
        .into_iter()
        .find(|f| args.get(1).is_some_and(|a| a == f.name()))
        .expect(usage);
    let d: usize = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).expect(usage);
    let reps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(40);
    let names = ["default", "ml", "const", "half", "marg", "log"];
    let mut inside = [0usize; 6];
    let mut count = [0usize; 6];
    let mut z2 = [0.0f64; 6];
    let mut errs: Vec<Vec<f64>> = vec![vec![]; 6];
    let mut rng = Pcg64::seed_from_u64(2024);
    for r in 0..reps {
        let p = fam.random(d, fam.default_difficulty(d), &mut rng).unwrap();
        let truth = p.integral();
        let m = p.measure();
        let mut hr = Pcg64::seed_from_u64(r as u64);
        let x = m.from_unit_cube(halton_scrambled(n, d, &mut hr).unwrap().view());
        let y: Array1<f64> = x.rows().into_iter().map(|row| p.eval(row)).collect();
        let fit = fit_lengthscales(
            &default_kernel(&m),
            x.view(),
            y.view(),
            &FitOptions::default(),
        )
        .unwrap();
        let kf = fit.kernel;
        let half: Vec<f64> = kf.lengthscales().iter().map(|l| 0.5 * l).collect();
        let solve = |k: &QuadKernel, o: BqOptions| {
            let b = bayesian_quadrature(k, &m, x.view(), y.view(), &o)
                .unwrap()
                .belief;
            (b.mean, b.var)
        };
        let mut res = vec![
            Some(solve(&kf, BqOptions::default())),
            Some(solve(&kf, BqOptions::default().loo_outputscale(false))),
            Some(solve(
                &kf,
                BqOptions::default().prior_mean(PriorMean::DiffuseConstant),
            )),
            Some(solve(
                &kf.with_lengthscales(&half).unwrap(),
                BqOptions::default(),
            )),
            Some(marginalised(&kf, &m, &x, &y)),
        ];
        res.push(
            (y.iter().all(|v| *v > 0.0) && d <= 3 && m.dim() == d).then(|| log_warped(&x, &y, &m)),
        );
        let mut line = format!("{r:3} ℓ = {:.3?}", kf.lengthscales());
        for (i, o) in res.iter().enumerate() {
            if let Some((mean, var)) = o {
                let z = (mean - truth) / var.sqrt();
                count[i] += 1;
                inside[i] += usize::from(z.abs() <= 1.96);
                z2[i] += z * z;
                errs[i].push((mean - truth).abs());
                line += &format!(" {}: {z:+.2}", names[i]);
            }
        }
        println!("{line}");
    }
    println!("| model | coverage 95 % | mean z² | median abs err |");
    println!("|---|---|---|---|");
    for i in 0..6 {
        if count[i] == 0 {
            continue;
        }
        errs[i].sort_by(f64::total_cmp);
        println!(
            "| {} | {}/{} | {:.2} | {:.2e} |",
            names[i],
            inside[i],
            count[i],
            z2[i] / count[i] as f64,
            errs[i][errs[i].len() / 2]
        );
    }
}

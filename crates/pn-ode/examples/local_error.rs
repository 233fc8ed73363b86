//! The actual local error of every accepted step (from the filter mean at the start of the step, by 200 RK4 substeps) next to the solver's scaled error estimate: `cargo run --release -p pn-ode --example local_error -- lotka-volterra ek1 1e-6`.
use ndarray::Array1;
use pn_ode::problems::Problem;
use pn_ode::{AutoDiff, Method, OdeFilter, OdeFunction, Options};

fn rk4(p: &Problem, t0: f64, x0: &[f64], t1: f64) -> Vec<f64> {
    let n = 200;
    let h = (t1 - t0) / n as f64;
    let d = x0.len();
    let mut x = x0.to_vec();
    let f = |t: f64, x: &[f64]| {
        let mut dx = vec![0.0; d];
        p.eval(t, x, &mut dx);
        dx
    };
    for k in 0..n {
        let t = t0 + k as f64 * h;
        let k1 = f(t, &x);
        let x2: Vec<f64> = (0..d).map(|i| x[i] + 0.5 * h * k1[i]).collect();
        let k2 = f(t + 0.5 * h, &x2);
        let x3: Vec<f64> = (0..d).map(|i| x[i] + 0.5 * h * k2[i]).collect();
        let k3 = f(t + 0.5 * h, &x3);
        let x4: Vec<f64> = (0..d).map(|i| x[i] + h * k3[i]).collect();
        let k4 = f(t + h, &x4);
        for i in 0..d {
            x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    x
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map(String::as_str).unwrap_or("lotka-volterra");
    let method = if args.get(1).map(String::as_str) == Some("ek0") {
        Method::Ek0
    } else {
        Method::Ek1
    };
    let tol: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1e-6);
    let p = Problem::by_name(name, &[]).unwrap();
    let info = p.info();
    let f = AutoDiff(p);
    let x0 = Array1::from(info.x0.clone());
    let opts = Options::default()
        .method(method)
        .tolerances(tol, tol)
        .save_at(vec![info.t1]);
    let mut filt = OdeFilter::new(&f, (info.t0, info.t1), x0.view(), opts).unwrap();
    let mut prev = filt.state().unwrap();
    let mut k = 0;
    let (mut sum_r2, mut cnt) = (0.0, 0);
    while !filt.done() {
        let t = filt.time();
        let info = filt.step().unwrap();
        let now = filt.state().unwrap();
        let truth = rk4(&p, t, prev.mean().as_slice().unwrap(), info.t);
        let e: Vec<f64> = (0..truth.len()).map(|i| truth[i] - now.mean()[i]).collect();
        let en = e.iter().map(|v| v * v).sum::<f64>().sqrt();
        let sc = tol * (1.0 + now.mean().iter().map(|v| v * v).sum::<f64>().sqrt());
        sum_r2 += (en / sc).powi(2);
        cnt += 1;
        if k % 20 == 0 {
            println!(
                "t {:.3} h {:.3e} est(scaled) {:.3e} actual |e| {:.3e} actual/sc {:.3e} sigma2 {:.3e}",
                info.t,
                info.h,
                info.error,
                en,
                en / sc,
                info.diffusion
            );
        }
        k += 1;
        prev = now;
    }
    println!("rms actual/sc {:.3e}", (sum_r2 / cnt as f64).sqrt());
}

//! The catalogue of test problems against the independent SciPy references in `data/`
//! (produced by `benches/ode_reference.sh`).

use pn_core::Error;
use pn_ode::OdeFunction;
use pn_ode::problems::{
    FitzHughNagumo, Hires, Linear100, Logistic, LotkaVolterra, NAMES, Pleiades, Problem,
    ProblemInfo, RigidBody, Rober, Sir, VanDerPol, catalogue,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run benches/ode_reference.sh)"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(num)
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("an array of rows")
        .iter()
        .map(nums)
        .collect()
}

fn eval(p: &Problem, t: f64, x: &[f64]) -> Vec<f64> {
    let mut dx = vec![f64::NAN; x.len()];
    p.eval(t, x, &mut dx);
    dx
}

/// `max_i |a_i − b_i| / max(|b_i|, floor)`.
fn rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(floor))
        .fold(0.0, f64::max)
}

#[test]
fn catalogue_lists_every_problem_once_and_by_name_round_trips() {
    let infos = catalogue();
    assert_eq!(infos.len(), NAMES.len());
    for (info, name) in infos.iter().zip(NAMES) {
        assert_eq!(info.name, name);
        let p = Problem::by_name(name, &[]).unwrap();
        assert_eq!(p.name(), name);
        assert_eq!(&p.info(), info);
        assert_eq!(p.dim(), info.dim(), "{name}");
        let names: Vec<&str> = info.params.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, p.param_names(), "{name}");
        assert!(info.t1 > info.t0, "{name}");
        assert!(!info.description.is_empty());
        let dx = eval(&p, info.t0, &info.x0);
        assert!(
            dx.iter().all(|v| v.is_finite()),
            "{name}: f(t0, x0) = {dx:?}"
        );
    }
    let stiff: Vec<&str> = infos.iter().filter(|i| i.stiff).map(|i| i.name).collect();
    assert_eq!(stiff, ["hires", "rober", "linear-100"]);
}

#[test]
fn reference_data_describe_the_rust_problems() {
    for info in catalogue() {
        let name = info.name;
        let data = load(name);
        assert_eq!(data["name"], name);
        assert_eq!(num(&data["t0"]), info.t0, "{name}");
        assert_eq!(num(&data["t1"]), info.t1, "{name}");
        assert_eq!(nums(&data["x0"]), info.x0, "{name}");
        assert_eq!(data["stiff"].as_bool(), Some(info.stiff), "{name}");
        let params = data["params"].as_object().expect("params");
        assert_eq!(params.len(), info.params.len(), "{name}");
        for &(key, value) in &info.params {
            assert_eq!(
                params.get(key).map(num),
                Some(value),
                "{name}: parameter {key}"
            );
        }
        let t = nums(&data["t"]);
        let x = rows(&data["x"]);
        assert!(
            (15..=25).contains(&t.len()),
            "{name}: {} save times",
            t.len()
        );
        assert_eq!(x.len(), t.len(), "{name}");
        assert!(x.iter().all(|row| row.len() == info.dim()), "{name}");
        assert!(
            t.windows(2).all(|w| w[0] < w[1]) && t[0] > info.t0,
            "{name}"
        );
        assert_eq!(*t.last().unwrap(), info.t1, "{name}");
        assert_eq!(&nums(&data["x_t1"]), x.last().unwrap(), "{name}");
        // The reference is accurate: its cross-checks agree (see the JSON's `cross_checks`).
        let bound = num(&data["relative_error_bound"]);
        let allowed = if name == "pleiades" || name == "lorenz" {
            1e-9
        } else {
            1e-10
        };
        assert!(bound < allowed, "{name}: reference error bound {bound:e}");
        assert_eq!(
            data["cross_checks"].as_array().map(Vec::len),
            Some(2),
            "{name}"
        );
    }
}

#[test]
fn rust_vector_fields_equal_the_python_ones() {
    for p in Problem::all() {
        let name = p.name();
        let data = load(name);
        let checks = data["f_checks"].as_array().expect("f_checks");
        assert_eq!(checks.len(), 3, "{name}");
        let info = p.info();
        assert_eq!(num(&checks[0]["t"]), info.t0, "{name}");
        assert_eq!(nums(&checks[0]["x"]), info.x0, "{name}");
        for check in checks {
            let (t, x, f_py) = (num(&check["t"]), nums(&check["x"]), nums(&check["f"]));
            let f_rs = eval(&p, t, &x);
            // Relative 1e-12 per component, measured against ‖f‖∞ where a component is a
            // cancellation of larger terms (evaluation order differs between the two sides).
            let scale = f_py.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (i, (a, b)) in f_rs.iter().zip(&f_py).enumerate() {
                let tol = 1e-12 * b.abs().max(scale) + 1e-300;
                assert!(
                    (a - b).abs() <= tol,
                    "{name}: f({t}, x)[{i}] = {a:e} (Rust) vs {b:e} (Python)"
                );
            }
        }
    }
}

#[test]
fn logistic_closed_form_matches_the_reference() {
    let p = Logistic::default();
    let data = load(Logistic::NAME);
    let (t, x) = (nums(&data["t"]), rows(&data["x"]));
    for (ti, xi) in t.iter().zip(&x) {
        let exact = p.exact(*ti);
        assert!(
            rel_err(&exact, xi, 0.0) < 1e-12,
            "t = {ti}: {exact:?} vs {xi:?}"
        );
    }
    assert_eq!(p.exact(Logistic::T0), Logistic::X0);
    // Closed form against the ODE itself: x'(t) = f(x(t)), by a central difference.
    let mut dx = [0.0];
    let (s, h) = (1.3, 1e-5);
    p.eval(s, &p.exact(s), &mut dx);
    let fd = (p.exact(s + h)[0] - p.exact(s - h)[0]) / (2.0 * h);
    assert!((fd - dx[0]).abs() < 1e-9);
    // Other parameters and start points; saturation without overflow.
    let q = Logistic::with_params(&[("r", 3.0), ("K", 2.0)]).unwrap();
    assert!((q.solution(1.0, 0.5, 1.0) - 0.5).abs() < 1e-15);
    assert!((q.solution(0.0, 0.5, 1e4) - 2.0).abs() < 1e-15);
    assert_eq!(q.solution(0.0, 0.0, 3.0), 0.0);
}

#[test]
fn linear_100_exact_solution_matches_the_reference() {
    let p = Linear100::default();
    let info = p.info();
    // The eigenpairs used by the closed form are those of the matrix that `eval` applies.
    let a = p.matrix();
    let x0 = ndarray::Array1::from(info.x0.clone());
    let ax = a.dot(&x0);
    assert!(
        rel_err(
            &eval(&Problem::from(p), 0.0, &info.x0),
            ax.as_slice().unwrap(),
            1.0
        ) < 1e-13
    );
    for k in [1, 2, 37, 100] {
        let v = ndarray::Array1::from_shape_fn(Linear100::N, |j| {
            Linear100::eigenvector_entry(k, j + 1)
        });
        let av = a.dot(&v);
        let lv = &v * p.eigenvalue(k);
        assert!(
            rel_err(av.as_slice().unwrap(), lv.as_slice().unwrap(), 1.0) < 1e-10,
            "k = {k}"
        );
        assert!((v.dot(&v) - 1.0).abs() < 1e-13);
    }
    assert!((p.spectral_radius() - 4080.0).abs() < 1.0);
    let data = load(Linear100::NAME);
    let (t, x) = (nums(&data["t"]), rows(&data["x"]));
    for (ti, xi) in t.iter().zip(&x) {
        let exact = p.exact(*ti);
        // Entries are O(1) at most: absolute 1e-12.
        assert!(rel_err(&exact, xi, 1.0) < 1e-12, "t = {ti}");
    }
    assert!(rel_err(&p.exact(0.0), &info.x0, 1.0) < 1e-13);
}

/// Classical RK4 with `n` equal steps.
fn rk4(p: &Problem, t0: f64, t1: f64, x0: &[f64], n: usize) -> Vec<f64> {
    let d = x0.len();
    let h = (t1 - t0) / n as f64;
    let mut x = x0.to_vec();
    let (mut k1, mut k2, mut k3, mut k4) = (vec![0.0; d], vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let mut tmp = vec![0.0; d];
    for i in 0..n {
        let t = t0 + i as f64 * h;
        p.eval(t, &x, &mut k1);
        for j in 0..d {
            tmp[j] = x[j] + 0.5 * h * k1[j];
        }
        p.eval(t + 0.5 * h, &tmp, &mut k2);
        for j in 0..d {
            tmp[j] = x[j] + 0.5 * h * k2[j];
        }
        p.eval(t + 0.5 * h, &tmp, &mut k3);
        for j in 0..d {
            tmp[j] = x[j] + h * k3[j];
        }
        p.eval(t + h, &tmp, &mut k4);
        for j in 0..d {
            x[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
        }
    }
    x
}

/// An independent check of the non-stiff references: a fixed-step RK4 with `n` and `2n` steps.
/// Its error must fall by the factor 2⁴ = 16 of a fourth-order method — so it is truncation
/// error, not a disagreement with the reference, which would not shrink — down to a level that
/// the reference must then match.
#[test]
fn rk4_converges_to_the_non_stiff_references() {
    // (name, n, tolerance for the error with 2n steps, relative with floor 1: 3–10× what is
    // observed)
    let cases = [
        ("lotka-volterra", 500, 5e-9),
        ("fitzhugh-nagumo", 2000, 1e-8),
        ("van-der-pol", 1000, 1e-9),
        ("rigid-body", 2000, 4e-9),
        ("sir", 600, 5e-9),
        ("pleiades", 60000, 5e-8),
        ("logistic", 40, 1e-8),
        ("lorenz", 20000, 2e-10),
    ];
    let nonstiff: Vec<&str> = catalogue()
        .iter()
        .filter(|i| !i.stiff)
        .map(|i| i.name)
        .collect();
    assert_eq!(nonstiff, cases.map(|c| c.0));
    for (name, n, tol) in cases {
        let p = Problem::by_name(name, &[]).unwrap();
        let info = p.info();
        let reference = nums(&load(name)["x_t1"]);
        let coarse = rel_err(&rk4(&p, info.t0, info.t1, &info.x0, n), &reference, 1.0);
        let fine = rel_err(&rk4(&p, info.t0, info.t1, &info.x0, 2 * n), &reference, 1.0);
        let ratio = coarse / fine;
        eprintln!(
            "{name}: RK4 error {coarse:.2e} ({n} steps), {fine:.2e} ({} steps), ratio {ratio:.1}",
            2 * n
        );
        assert!(fine < tol, "{name}: RK4 error {fine:e} ≥ {tol:e}");
        assert!(
            (12.0..21.0).contains(&ratio),
            "{name}: error ratio {ratio} is not ≈ 16"
        );
    }
}

/// HIRES at t₁ against the literature: the reference solution of the Test Set for IVP Solvers
/// (Mazzia & Magherini, Bari), a third independent source.
#[test]
fn hires_reference_matches_the_test_set() {
    let test_set = [
        0.7371312573325668e-3,
        0.1442485726316185e-3,
        0.5888729740967575e-4,
        0.1175651343283149e-2,
        0.2386356198831331e-2,
        0.6238968252742796e-2,
        0.2849998395185769e-2,
        0.2850001604814231e-2,
    ];
    let ours = nums(&load(Hires::NAME)["x_t1"]);
    assert!(rel_err(&ours, &test_set, 0.0) < 1e-11, "{ours:?}");
}

/// Conserved quantities hold along the stored references (independent of either f).
#[test]
fn reference_trajectories_conserve_the_invariants() {
    let along = |name: &str| {
        let data = load(name);
        let mut x = vec![nums(&data["x0"])];
        x.extend(rows(&data["x"]));
        x
    };
    let spread = |values: Vec<f64>| {
        let first = values[0];
        values
            .iter()
            .map(|v| (v - first).abs() / first.abs().max(1.0))
            .fold(0.0, f64::max)
    };
    // Lotka–Volterra: d x − c ln x + b y − a ln y.
    let lv = LotkaVolterra::default();
    let v = along(LotkaVolterra::NAME)
        .iter()
        .map(|u| lv.d * u[0] - lv.c * u[0].ln() + lv.b * u[1] - lv.a * u[1].ln())
        .collect();
    assert!(spread(v) < 1e-11);
    // Rigid body: Σ cᵢ yᵢ² for c ⊥ (I1, I2, I3).
    let rb = RigidBody::default();
    for c in [[rb.i2, -rb.i1, 0.0], [0.0, rb.i3, -rb.i2]] {
        let v = along(RigidBody::NAME)
            .iter()
            .map(|y| c[0] * y[0] * y[0] + c[1] * y[1] * y[1] + c[2] * y[2] * y[2])
            .collect();
        assert!(spread(v) < 1e-11);
    }
    // SIR: S + I + R; ROBER: y1 + y2 + y3.
    for name in [Sir::NAME, Rober::NAME] {
        let v = along(name).iter().map(|y| y.iter().sum()).collect();
        assert!(spread(v) < 1e-12, "{name}");
    }
    // Pleiades: the energy ½ Σ mᵢ |vᵢ|² − Σ_{i<j} mᵢ mⱼ / rᵢⱼ.
    let energy = |u: &Vec<f64>| {
        let m = |i: usize| (i + 1) as f64;
        let mut e = 0.0;
        for i in 0..7 {
            e += 0.5 * m(i) * (u[14 + i] * u[14 + i] + u[21 + i] * u[21 + i]);
            for j in (i + 1)..7 {
                e -= m(i) * m(j) / (u[j] - u[i]).hypot(u[7 + j] - u[7 + i]);
            }
        }
        e
    };
    assert!(spread(along(Pleiades::NAME).iter().map(energy).collect()) < 1e-10);
}

#[test]
fn with_params_overrides_by_name_and_rejects_the_rest() {
    let vdp = VanDerPol::with_params(&[("mu", 1e3)]).unwrap();
    assert_eq!(vdp.mu, 1e3);
    assert!(vdp.info().stiff && !VanDerPol::default().info().stiff);
    let lv = LotkaVolterra::with_params(&[("b", 0.1), ("d", 0.2)]).unwrap();
    assert_eq!(
        lv.params(),
        [("a", 0.5), ("b", 0.1), ("c", 0.5), ("d", 0.2)]
    );
    assert_eq!(
        Problem::by_name("sir", &[("population", 500.0)])
            .unwrap()
            .info()
            .param("population"),
        Some(500.0)
    );
    assert!(
        !Linear100::with_params(&[("nu", 1e-3)])
            .unwrap()
            .info()
            .stiff
    );

    let invalid = |r: Result<Problem, Error>| match r {
        Err(Error::InvalidParameter { name, .. }) => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    };
    // A name of another problem is named in the error; an unknown string is not.
    assert_eq!(
        invalid(Problem::by_name("lotka-volterra", &[("mu", 1.0)])),
        "mu"
    );
    assert_eq!(
        invalid(Problem::by_name("lorenz", &[("Sigma", 1.0)])),
        "(unknown name)"
    );
    assert_eq!(
        invalid(Problem::by_name("pleiades", &[("G", 1.0)])),
        "(unknown name)"
    );
    assert_eq!(invalid(Problem::by_name("hires", &[("k1", 1.0)])), "k1");
    for name in NAMES {
        invalid(Problem::by_name(name, &[("no-such-parameter", 1.0)]));
        for &key in Problem::by_name(name, &[]).unwrap().param_names() {
            assert_eq!(invalid(Problem::by_name(name, &[(key, f64::NAN)])), key);
            assert!(
                Problem::by_name(name, &[(key, 0.7)]).is_ok(),
                "{name}: {key}"
            );
        }
    }
    // Ranges.
    assert_eq!(
        invalid(Problem::by_name("van-der-pol", &[("mu", 0.0)])),
        "mu"
    );
    assert_eq!(
        invalid(Problem::by_name("sir", &[("population", -1.0)])),
        "population"
    );
    assert_eq!(invalid(Problem::by_name("logistic", &[("K", 0.0)])), "K");
    assert_eq!(
        invalid(Problem::by_name("linear-100", &[("nu", -0.1)])),
        "nu"
    );
    assert_eq!(
        invalid(Problem::by_name("fitzhugh-nagumo", &[("c", 0.0)])),
        "c"
    );
    assert!(FitzHughNagumo::with_params(&[("zz", 1.0)]).is_err());
    assert!(Hires::with_params(&[]).is_ok() && Pleiades::with_params(&[]).is_ok());

    // On error nothing changes, even if an earlier entry was valid.
    let mut p = Problem::by_name("rober", &[]).unwrap();
    assert!(p.set_params(&[("k1", 1.0), ("k4", 1.0)]).is_err());
    assert_eq!(p, Problem::by_name("rober", &[]).unwrap());
    p.set_params(&[("k1", 1.0)]).unwrap();
    assert_eq!(p.info().param("k1"), Some(1.0));

    assert!(matches!(
        Problem::by_name("lotka_volterra", &[]),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn problem_infos_are_consistent_with_the_structs() {
    let info: ProblemInfo = Rober::default().info();
    assert_eq!((info.t0, info.t1), (Rober::T0, Rober::T1));
    assert_eq!(info.param("k2"), Some(3e7));
    assert_eq!(info.param("k4"), None);
    assert_eq!(Pleiades.info().params, []);
    assert_eq!(Problem::from(Hires).dim(), 8);
    assert_eq!(
        Problem::by_name("logistic", &[]).unwrap().exact(1.0),
        Some(Logistic::default().exact(1.0))
    );
    assert_eq!(Problem::from(Pleiades).exact(1.0), None);
}

/// ROBER with the EK1 at rtol = atol = 1e-8: the first trial step from the default initial step
/// is far too large, and its error estimate overflows; the solver must shrink the step (it used
/// to stop with a non-finite-field error at t = 0.05) and reach the SciPy Radau reference.
#[test]
fn rober_ek1_at_tight_tolerance_recovers_from_a_non_finite_error_estimate() {
    use ndarray::Array1;
    use pn_ode::{AutoDiff, Method, Options, solve};
    let p = Problem::by_name(Rober::NAME, &[]).unwrap();
    let info = p.info();
    let x0 = Array1::from(info.x0.clone());
    let opts = Options::default()
        .method(Method::Ek1)
        .tolerances(1e-8, 1e-8)
        .save_at(vec![info.t1]);
    let sol = solve(&AutoDiff(p), (info.t0, info.t1), x0.view(), opts).unwrap();
    assert!(sol.stats().rejected >= 1);
    let reference = nums(&load(Rober::NAME)["x_t1"]);
    let x = sol.final_belief().unwrap().mean().to_vec();
    for (i, (a, b)) in x.iter().zip(&reference).enumerate() {
        let err = (a - b).abs() / b.abs();
        assert!(
            err < 1e-6,
            "component {i}: {a} against {b} (relative error {err:.1e})"
        );
    }
}

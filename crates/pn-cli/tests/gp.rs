//! End-to-end tests of `pn gp`: run the binary on small CSV files and check its numbers against
//! independent truths (closed forms, the exact GP computed directly through pn-linalg, and
//! scikit-learn's stored output on the same split).

use std::path::Path;
use std::process::{Command, Output};

use ndarray::Array1;
use pn_core::kernels::SquaredExponential;
use pn_linalg::exact::ExactGp;
use serde_json::Value;

fn pn(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the pn binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn pn_json(dir: &Path, args: &[&str]) -> Value {
    let out = pn(dir, args);
    assert!(
        out.status.success(),
        "pn {args:?} failed:\n{}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The value of the hyperparameter `name` in the JSON document.
fn hyper(doc: &Value, name: &str) -> f64 {
    doc["hyperparameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no hyperparameter {name} in {}", doc["hyperparameters"]))["value"]
        .as_f64()
        .unwrap()
}

/// `pn gp` fails (not a panic) with every one of `needles` on stderr and nothing on stdout.
fn assert_fails_with(dir: &Path, args: &[&str], needles: &[&str]) {
    let out = pn(dir, args);
    let err = stderr(&out);
    assert!(!out.status.success(), "pn {args:?} should fail");
    assert!(!err.contains("panicked"), "pn {args:?} panicked:\n{err}");
    assert_ne!(out.status.code(), Some(101), "exit code 101 is a panic");
    for n in needles {
        assert!(err.contains(n), "pn {args:?}: `{n}` not in:\n{err}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
}

/// The shipped mcycle copy split as the benchmarks split it: rows with `i % 5 == 2` are the test
/// set. Returns the two file names written into `dir` and the parsed columns.
fn mcycle_split(dir: &Path) -> (Array1<f64>, Array1<f64>, Array1<f64>, Array1<f64>) {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcycle.csv"))
            .unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let (mut train, mut test) = (vec![header], vec![header]);
    let (mut xtr, mut ytr, mut xte, mut yte) = (vec![], vec![], vec![], vec![]);
    for (i, r) in rows.iter().enumerate() {
        let mut it = r.split(',').map(|v| v.trim().parse::<f64>().unwrap());
        let (x, y) = (it.next().unwrap(), it.next().unwrap());
        if i % 5 == 2 {
            test.push(r);
            xte.push(x);
            yte.push(y);
        } else {
            train.push(r);
            xtr.push(x);
            ytr.push(y);
        }
    }
    std::fs::write(dir.join("train.csv"), train.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("test.csv"), test.join("\n") + "\n").unwrap();
    (
        Array1::from(xtr),
        Array1::from(ytr),
        Array1::from(xte),
        Array1::from(yte),
    )
}

#[test]
fn gp_without_arguments_fits_mcycle_like_scikit_learn() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["gp"]);
    assert!(out.status.success(), "pn gp failed:\n{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "mcycle",
        "n = 106",
        "method: cholesky",
        "se.lengthscale",
        "noise_variance",
        "log marginal likelihood: -491.42",
        "RMSE 28.077",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
    // The same split and model through scikit-learn 1.9.1's GaussianProcessRegressor
    // (1.0 * RBF + WhiteKernel, normalize_y, 3 restarts): benches/results/gp_real_data.json,
    // produced by `benches/.venv/bin/python benches/gp_real_data.py`.
    let doc = pn_json(tmp.path(), &["gp", "--json"]);
    let m = &doc["test_metrics"];
    assert!(
        (m["rmse"].as_f64().unwrap() - 28.077_168_037).abs() < 1e-3,
        "{m}"
    );
    assert!(
        (m["nlpd"].as_f64().unwrap() - 4.841_882_519).abs() < 1e-4,
        "{m}"
    );
    let lml = doc["log_marginal_likelihood"].as_f64().unwrap();
    assert!((lml - -491.424_813_026).abs() < 1e-4, "lml {lml}");
    assert!((hyper(&doc, "se.lengthscale") - 4.8).abs() < 0.01);
}

#[test]
fn gp_json_has_one_mean_and_std_per_test_row_equal_to_the_exact_gp() {
    let tmp = tempfile::tempdir().unwrap();
    let (xtr, ytr, xte, yte) = mcycle_split(tmp.path());
    let doc = pn_json(
        tmp.path(),
        &[
            "gp",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--restarts",
            "1",
            "--json",
        ],
    );
    let (mean, std, std_noisy) = (
        floats(&doc["mean"]),
        floats(&doc["std"]),
        floats(&doc["std_noisy"]),
    );
    assert_eq!(mean.len(), xte.len());
    assert_eq!(std.len(), xte.len());
    assert_eq!(std_noisy.len(), xte.len());
    assert_eq!(doc["n_train"], 106);
    assert_eq!(doc["method"], "cholesky");
    assert_eq!(doc["target"], "accel_g");
    assert_eq!(doc["predict_at"], "test rows");

    // Independent truth: the exact GP built here in the data's units from the reported
    // hyperparameters (no standardisation, no centring: prior mean = the reported constant,
    // kernel variance and noise in g²) must give the same predictions.
    let (l, v, s2) = (
        hyper(&doc, "se.lengthscale"),
        hyper(&doc, "se.variance"),
        hyper(&doc, "noise_variance"),
    );
    let m0 = doc["prior_mean"].as_f64().unwrap();
    assert!((m0 - ytr.mean().unwrap()).abs() < 1e-9);
    let x = xtr.clone().insert_axis(ndarray::Axis(1));
    let gp = ExactGp::new(
        Box::new(SquaredExponential::new(l, v).unwrap()),
        s2,
        x.view(),
        ytr.mapv(|y| y - m0).view(),
    )
    .unwrap();
    let xs = xte.clone().insert_axis(ndarray::Axis(1));
    let (mu, var) = gp.predict(xs.view()).unwrap();
    let scale = ytr.std(0.0);
    for i in 0..xte.len() {
        assert!((mean[i] - (m0 + mu[i])).abs() < 1e-8 * scale, "mean {i}");
        assert!((std[i] - var[i].sqrt()).abs() < 1e-8 * scale, "std {i}");
        let sn = (var[i] + s2).sqrt();
        assert!((std_noisy[i] - sn).abs() < 1e-8 * scale, "std_noisy {i}");
    }
    // The reported evidence is that of the data in g (the exact GP's here, same model).
    let lml = doc["log_marginal_likelihood"].as_f64().unwrap();
    assert!((lml - gp.log_marginal_likelihood()).abs() < 1e-7 * lml.abs());
    // Test RMSE from the predictions and the held-out targets.
    let rmse = (mean
        .iter()
        .zip(&yte)
        .map(|(m, y)| (m - y).powi(2))
        .sum::<f64>()
        / yte.len() as f64)
        .sqrt();
    assert!((doc["test_metrics"]["rmse"].as_f64().unwrap() - rmse).abs() < 1e-9 * rmse);
}

#[test]
fn gp_reproduces_closed_forms_on_tiny_data_sets() {
    let tmp = tempfile::tempdir().unwrap();
    // Two points, fixed hyperparameters: the posterior by hand. y = [1, 3] has mean 2 and
    // standard deviation 1, so the standardised targets are z = [−1, 1]; with k(x, x') = v e^{−(x−x')²/2}
    // and noise s2, K̂ = [[a, b], [b, a]] with a = v + s2, b = v e^{−1/2}.
    std::fs::write(tmp.path().join("two.csv"), "x,y\n0,1\n1,3\n").unwrap();
    std::fs::write(tmp.path().join("at.csv"), "x\n-0.5\n0.25\n2\n").unwrap();
    let (v, s2) = (2.0, 0.1);
    let doc = pn_json(
        tmp.path(),
        &[
            "gp",
            "--train",
            "two.csv",
            "--test",
            "at.csv",
            "--kernel",
            "se(l=1, var=2)",
            "--noise",
            "0.1",
            "--fix-noise",
            "--no-fit",
            "--json",
        ],
    );
    let (a, b) = (v + s2, v * (-0.5f64).exp());
    let det = a * a - b * b;
    let k = |x: f64, xp: f64| v * (-(x - xp) * (x - xp) / 2.0).exp();
    let (mean, std) = (floats(&doc["mean"]), floats(&doc["std"]));
    for (i, xs) in [-0.5, 0.25, 2.0].into_iter().enumerate() {
        let (k0, k1) = (k(xs, 0.0), k(xs, 1.0));
        // (K̂⁻¹ z) = [−1, 1] / (a − b); K̂⁻¹ = [[a, −b], [−b, a]] / det.
        let m = 2.0 + (k1 - k0) / (a - b);
        let var = v - (a * (k0 * k0 + k1 * k1) - 2.0 * b * k0 * k1) / det;
        assert!(
            (mean[i] - m).abs() < 1e-12,
            "mean at {xs}: {} vs {m}",
            mean[i]
        );
        assert!((std[i] - var.sqrt()).abs() < 1e-12, "std at {xs}");
    }
    assert!(doc["fit"]["optimized"] == false);

    // Points on a line y = 2x + 1 with a linear kernel and a fitted noise: the posterior mean is
    // the line (inside and outside the data) and the function is known almost exactly.
    std::fs::write(
        tmp.path().join("line.csv"),
        "x,y\n0,1\n1,3\n2,5\n3,7\n4,9\n5,11\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("far.csv"), "x\n-3\n2.5\n10\n").unwrap();
    let doc = pn_json(
        tmp.path(),
        &[
            "gp",
            "--train",
            "line.csv",
            "--test",
            "far.csv",
            "--kernel",
            "linear",
            "--restarts",
            "1",
            "--json",
        ],
    );
    let (mean, std) = (floats(&doc["mean"]), floats(&doc["std"]));
    for (i, xs) in [-3.0, 2.5, 10.0].into_iter().enumerate() {
        assert!(
            (mean[i] - (2.0 * xs + 1.0)).abs() < 1e-3,
            "line at {xs}: {}",
            mean[i]
        );
        assert!(std[i] < 1e-2, "std at {xs}: {}", std[i]);
    }
}

#[test]
fn every_solver_agrees_with_cholesky_on_mcycle() {
    let tmp = tempfile::tempdir().unwrap();
    mcycle_split(tmp.path());
    let run = |solver: &str| {
        pn_json(
            tmp.path(),
            &[
                "gp",
                "--train",
                "train.csv",
                "--test",
                "test.csv",
                "--kernel",
                "matern32",
                "--restarts",
                "1",
                "--solver",
                solver,
                "--json",
            ],
        )
    };
    let exact = run("cholesky");
    let (m0, s0) = (floats(&exact["mean"]), floats(&exact["std"]));
    let scale = exact["target_std"].as_f64().unwrap();
    for (solver, method, mean_tol, std_tol) in [
        // The same hyperparameters (fitted by the exact GP on all 106 rows), then:
        ("auto", "cholesky", 0.0, 0.0),
        // CG to a relative residual of 1e-8 (block CG for the variances).
        ("cg", "cg", 1e-7, 1e-7),
        // The Kalman filter/smoother: the same posterior in O(n).
        ("state-space", "state-space", 1e-9, 1e-9),
    ] {
        let doc = run(solver);
        assert_eq!(doc["method"], method);
        assert_eq!(doc["fit"]["points"], 106, "{solver}: fitted on all rows");
        let (m, s) = (floats(&doc["mean"]), floats(&doc["std"]));
        for i in 0..m.len() {
            assert!(
                (m[i] - m0[i]).abs() <= mean_tol * scale,
                "{solver} mean {i}"
            );
            assert!((s[i] - s0[i]).abs() <= std_tol * scale, "{solver} std {i}");
        }
        // Identical hyperparameters: the fits are the same computation.
        assert_eq!(doc["hyperparameters"], exact["hyperparameters"], "{solver}");
    }
    // IterGP: mean close to the exact one; its combined variance includes the error of stopping
    // early, so its std is never below the exact one and only somewhat above it.
    let doc = run("itergp");
    assert_eq!(doc["method"], "itergp");
    assert!(doc["log_marginal_likelihood"].is_null());
    let (m, s) = (floats(&doc["mean"]), floats(&doc["std"]));
    for i in 0..m.len() {
        assert!((m[i] - m0[i]).abs() <= 1e-3 * scale, "itergp mean {i}");
        assert!(s[i] >= s0[i] * (1.0 - 1e-9), "itergp std {i} below exact");
        assert!(
            s[i] <= s0[i] * 1.25 + 1e-3 * scale,
            "itergp std {i}: {} vs {}",
            s[i],
            s0[i]
        );
    }
}

#[test]
fn multi_input_csv_with_a_label_column_plots_and_writes_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    // y = sin(a) + b²/2 on a small scattered design; `name` is not numeric and is ignored.
    let mut csv = String::from("a,name,b,y\n");
    let mut test = String::from("a,name,b,y\n");
    for i in 0..40 {
        let a = ((i * 7) % 40) as f64 / 10.0 - 2.0;
        let b = ((i * 13) % 40) as f64 / 20.0 - 1.0;
        let row = format!("{a},p{i},{b},{}\n", a.sin() + 0.5 * b * b);
        if i % 8 == 3 {
            test.push_str(&row);
        } else {
            csv.push_str(&row);
        }
    }
    std::fs::write(tmp.path().join("tr.csv"), csv).unwrap();
    std::fs::write(tmp.path().join("te.csv"), test).unwrap();
    let doc = pn_json(
        tmp.path(),
        &[
            "gp",
            "--train",
            "tr.csv",
            "--test",
            "te.csv",
            "--restarts",
            "1",
            "--json",
            "--plot",
            "figs/pva.svg",
            "--predictions",
            "pred.csv",
        ],
    );
    assert_eq!(doc["d"], 2);
    assert_eq!(doc["ignored_columns"][0], "name");
    // ARD: one lengthscale per input, named after the column.
    hyper(&doc, "se.lengthscale[a]");
    hyper(&doc, "se.lengthscale[b]");
    let rmse = doc["test_metrics"]["rmse"].as_f64().unwrap();
    assert!(rmse < 0.05, "rmse {rmse}");
    let svg = std::fs::read_to_string(tmp.path().join("figs/pva.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<circle").count() >= 5);
    let pred = std::fs::read_to_string(tmp.path().join("pred.csv")).unwrap();
    let mut lines = pred.lines();
    assert_eq!(lines.next().unwrap(), "a,b,mean,std,std_noisy,y");
    assert_eq!(lines.count(), 5);

    // 1-D with no test file: a grid, and the plot has the ±2σ band.
    let doc = pn_json(
        tmp.path(),
        &[
            "gp",
            "--train",
            "tr.csv",
            "--target",
            "y",
            "--restarts",
            "0",
            "--json",
            "--plot",
            "band.svg",
            "--grid",
            "50",
        ],
    );
    assert_eq!(doc["predict_at"], "training rows");
    mcycle_split(tmp.path());
    let doc = pn_json(
        tmp.path(),
        &[
            "gp",
            "--train",
            "train.csv",
            "--restarts",
            "0",
            "--grid",
            "50",
            "--json",
            "--plot",
            "band.svg",
        ],
    );
    assert_eq!(doc["predict_at"], "grid");
    assert_eq!(floats(&doc["mean"]).len(), 50);
    assert!(doc["test_metrics"].is_null());
    let svg = std::fs::read_to_string(tmp.path().join("band.svg")).unwrap();
    assert!(svg.contains("<polygon"), "no ±2σ band");
}

#[test]
fn same_seed_same_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let a = pn_json(
        tmp.path(),
        &["gp", "--json", "--kernel", "matern52", "--seed", "3"],
    );
    let b = pn_json(
        tmp.path(),
        &["gp", "--json", "--kernel", "matern52", "--seed", "3"],
    );
    assert_eq!(a["mean"], b["mean"]);
    assert_eq!(a["hyperparameters"], b["hyperparameters"]);
}

#[test]
fn gp_bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let w = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    w("ok.csv", "t,u,y\n0,1,2\n1,0,3\n2,2,1\n3,1,0\n");
    w("noheader.csv", "0,1,2\n1,0,3\n");
    w("cell.csv", "t,u,y\n0,1,2\n1,abc,3\n2,2,1\n");
    w("nan.csv", "t,u,y\n0,1,2\n1,0,NaN\n2,2,1\n");
    w("inf.csv", "t,u,y\n0,1,2\n1,0,3\n2,2,inf\n");
    w("empty.csv", "t,u,y\n0,1,2\n1,0,\n2,2,1\n");
    w("ragged.csv", "t,u,y\n0,1,2\n1,0\n");
    w("one.csv", "t,u,y\n0,1,2\n");
    w("other.csv", "t,v,y\n0,1,2\n");
    w("fewer.csv", "t\n0\n");
    w("testcell.csv", "t,u\n0,1\n1,x\n");
    w("nothing.csv", "");
    w("text.csv", "name,y\na,1\nb,2\n");
    w("oned.csv", "t,y\n0,1\n1,2\n2,0\n");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--train", "missing.csv"],
            vec!["cannot read `missing.csv`"],
        ),
        (vec!["--train", "nothing.csv"], vec!["is empty"]),
        (vec!["--train", "noheader.csv"], vec!["no header", "line 1"]),
        (
            vec!["--train", "cell.csv"],
            vec!["line 3", "input column `u`", "`abc` is not a number"],
        ),
        (
            vec!["--train", "nan.csv"],
            vec!["line 3", "target column `y`", "not a finite number"],
        ),
        (
            vec!["--train", "inf.csv"],
            vec!["line 4", "target column `y`", "not a finite number"],
        ),
        (
            vec!["--train", "empty.csv"],
            vec!["line 3", "target column `y`", "empty cell"],
        ),
        (
            vec!["--train", "ragged.csv"],
            vec!["line 3", "2 fields", "3 columns"],
        ),
        (vec!["--train", "one.csv"], vec!["1 data row", "at least 2"]),
        (
            vec!["--train", "ok.csv", "--target", "z"],
            vec!["no column `z`", "t, u, y"],
        ),
        (
            vec!["--train", "ok.csv", "--test", "other.csv"],
            vec!["--test", "missing: u", "not in the training file: v"],
        ),
        (
            vec!["--train", "ok.csv", "--test", "fewer.csv"],
            vec!["--test", "missing: u"],
        ),
        (
            vec!["--train", "ok.csv", "--test", "testcell.csv"],
            vec!["testcell.csv", "line 3", "`u`", "`x`"],
        ),
        (vec!["--train", "text.csv"], vec!["no numeric input column"]),
        (
            vec!["--train", "ok.csv", "--kernel", "se + wiggly"],
            vec!["unknown kernel `wiggly`", "matern52"],
        ),
        (
            vec!["--train", "ok.csv", "--kernel", "se(l=0)"],
            vec!["--kernel", "> 0"],
        ),
        (
            vec!["--train", "ok.csv", "--kernel", "(se"],
            vec!["--kernel", "expected `)`"],
        ),
        (
            vec!["--train", "ok.csv", "--solver", "qr"],
            vec!["invalid value 'qr'", "--solver"],
        ),
        (
            vec![
                "--train",
                "ok.csv",
                "--solver",
                "state-space",
                "--kernel",
                "matern32",
            ],
            vec!["state-space needs 1-D inputs", "t, u"],
        ),
        (
            vec![
                "--train",
                "oned.csv",
                "--solver",
                "state-space",
                "--kernel",
                "se",
            ],
            vec!["Matérn"],
        ),
        (
            vec!["--train", "ok.csv", "--noise", "-1"],
            vec!["--noise", "> 0"],
        ),
        (vec!["--test", "ok.csv"], vec!["need a training file"]),
        (
            vec!["--train", "ok.csv", "--plot", "out.png"],
            vec!["--plot", ".svg"],
        ),
    ];
    for (args, needles) in cases {
        let mut full = vec!["gp"];
        full.extend(args);
        assert_fails_with(d, &full, &needles);
    }
    // A sanity check that the good file itself works (so the failures above are the cells').
    let doc = pn_json(d, &["gp", "--train", "ok.csv", "--restarts", "0", "--json"]);
    assert_eq!(doc["predict_at"], "training rows");
}

/// Draws from a GP prior, fitted by `pn gp` with its defaults: the reported `std_noisy` matches
/// the actual errors at held-out points (mean z² near 1) and the 95 % band covers about 95 %.
#[test]
fn reported_std_is_calibrated_on_draws_from_a_gp_prior() {
    use pn_core::kernels::Kernel;
    use pn_core::{Covariance, Gaussian};
    use rand::{Rng, SeedableRng};

    let tmp = tempfile::tempdir().unwrap();
    let kernel = SquaredExponential::new(1.5, 4.0).unwrap();
    let (n_train, n_test, noise) = (30, 10, 0.1);
    let mut z2 = Vec::new();
    let mut inside = 0;
    for seed in 0..20u64 {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let n = n_train + n_test;
        let x = Array1::from_iter((0..n).map(|_| 10.0 * rng.random::<f64>()));
        let pts = x.clone().insert_axis(ndarray::Axis(1));
        let mut k = kernel.matrix(pts.view(), pts.view()).unwrap();
        k.diag_mut().mapv_inplace(|v| v + noise);
        let prior =
            Gaussian::new(Array1::from_elem(n, 3.0), Covariance::dense(k).unwrap()).unwrap();
        let y = prior.sample(&mut rng, 1).unwrap().row(0).to_owned();
        let row = |i: usize| format!("{},{}\n", x[i], y[i]);
        let train: String = std::iter::once("x,y\n".to_string())
            .chain((0..n_train).map(row))
            .collect();
        let test: String = std::iter::once("x,y\n".to_string())
            .chain((n_train..n).map(row))
            .collect();
        std::fs::write(tmp.path().join("tr.csv"), train).unwrap();
        std::fs::write(tmp.path().join("te.csv"), test).unwrap();
        let doc = pn_json(
            tmp.path(),
            &[
                "gp",
                "--train",
                "tr.csv",
                "--test",
                "te.csv",
                "--restarts",
                "1",
                "--seed",
                &seed.to_string(),
                "--json",
            ],
        );
        let (m, s) = (floats(&doc["mean"]), floats(&doc["std_noisy"]));
        for i in 0..n_test {
            let z = (y[n_train + i] - m[i]) / s[i];
            z2.push(z * z);
            if z.abs() <= 1.96 {
                inside += 1;
            }
        }
    }
    let mean_z2 = z2.iter().sum::<f64>() / z2.len() as f64;
    let coverage = inside as f64 / z2.len() as f64;
    eprintln!(
        "mean z² = {mean_z2:.3}, 95% coverage = {coverage:.3} over {} points",
        z2.len()
    );
    assert!((0.75..=1.35).contains(&mean_z2), "mean z² {mean_z2}");
    assert!((0.88..=0.99).contains(&coverage), "coverage {coverage}");
}

/// A solver other than Cholesky with more rows than `--fit-rows`: the hyperparameters come from
/// the exact GP on a subset, and the output says so.
#[test]
fn iterative_solvers_fit_on_a_subset_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "gp",
        "--solver",
        "cg",
        "--fit-rows",
        "50",
        "--restarts",
        "0",
    ];
    let doc = pn_json(tmp.path(), &[&args[..], &["--json"]].concat());
    assert_eq!(doc["fit"]["points"], 50);
    assert_eq!(doc["fit"]["of"], 106);
    assert_eq!(doc["method"], "cg");
    assert!(doc["solver_iterations"].as_u64().unwrap() >= 1);
    let out = pn(tmp.path(), &args);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("by the exact GP on 50 evenly spaced of 106 rows, then conditioned by cg"),
        "{text}"
    );
    assert!(text.contains("log marginal likelihood: not computed by the cg path"));
}

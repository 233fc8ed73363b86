//! End-to-end tests of the `pn` binary: run it in a temporary directory and check what it
//! writes and prints.

use std::path::Path;
use std::process::{Command, Output};

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

fn assert_no_panic(out: &Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "pn panicked:\n{err}");
    assert_ne!(
        out.status.code(),
        Some(101),
        "exit code 101 is a panic:\n{err}"
    );
}

#[test]
fn demo_writes_an_svg_with_the_belief_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["demo", "--out", "figs"]);
    assert!(out.status.success(), "pn demo failed:\n{}", stderr(&out));

    let svg_path = tmp.path().join("figs").join("gp-regression.svg");
    let svg = std::fs::read_to_string(&svg_path).expect("the GP panel was written");
    assert!(svg.starts_with("<svg"), "not an SVG document");
    assert!(svg.contains("<polygon"), "no ±2σ band");
    // mean + 3 samples are polylines; the dashed truth is a set of short paths/lines.
    assert!(
        svg.matches("<polyline").count() >= 4,
        "mean and samples missing"
    );
    assert!(svg.matches("<circle").count() >= 20, "data points missing");
    // Without --json the written files are listed on stdout.
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("gp-regression.svg"), "stdout: {stdout}");
}

#[test]
fn demo_json_reports_a_calibrated_accurate_posterior() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["demo", "--json", "--out", "d"]);
    assert!(
        out.status.success(),
        "pn demo --json failed:\n{}",
        stderr(&out)
    );

    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let files = doc["files"].as_array().expect("files is an array");
    assert!(!files.is_empty());
    for f in files {
        let f = tmp.path().join(f.as_str().unwrap());
        assert!(f.metadata().unwrap().len() > 0, "{} is empty", f.display());
    }
    assert_eq!(doc["n_train"].as_u64(), Some(20));
    assert!(doc["log_marginal_likelihood"].as_f64().unwrap().is_finite());
    let rmse = doc["rmse_vs_truth"].as_f64().unwrap();
    assert!(rmse < 0.15, "rmse {rmse}");
    let coverage = doc["coverage_2sigma"].as_f64().unwrap();
    assert!((0.8..=1.0).contains(&coverage), "coverage {coverage}");
    assert_eq!(doc["panels"][0]["name"], "gp_regression");
}

#[test]
fn demo_is_reproducible_for_a_seed_and_varies_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |seed: &str| {
        let out = pn(tmp.path(), &["demo", "--json", "--seed", seed]);
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["log_marginal_likelihood"].as_f64().unwrap()
    };
    assert_eq!(run("7"), run("7"));
    assert_ne!(run("7"), run("8"));
}

#[test]
fn plot_flag_overrides_where_the_figure_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["demo", "--plot", "sub/gp.svg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tmp.path().join("sub/gp.svg").is_file());

    let out = pn(tmp.path(), &["demo", "--plot", "gp.png"]);
    assert!(!out.status.success());
    assert_no_panic(&out);
    assert!(stderr(&out).contains(".svg"), "{}", stderr(&out));
}

#[test]
fn out_pointing_at_a_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("not-a-dir"), "x").unwrap();
    let out = pn(tmp.path(), &["demo", "--out", "not-a-dir"]);
    assert!(!out.status.success());
    assert_no_panic(&out);
    let err = stderr(&out);
    assert!(err.contains("error:") && err.contains("not-a-dir"), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
}

#[test]
fn bad_arguments_are_reported_not_panicked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["demo", "--seed", "minus-one"]);
    assert!(!out.status.success());
    assert_no_panic(&out);
    assert!(stderr(&out).contains("--seed"));
}

#[test]
fn no_subcommand_prints_help() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("demo"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// pn ode
// ---------------------------------------------------------------------------------------------

/// Run `pn` and parse its stdout as one JSON document, failing with stderr if it did not succeed.
fn pn_json(dir: &Path, args: &[&str]) -> Value {
    let out = pn(dir, args);
    assert!(
        out.status.success(),
        "pn {args:?} failed:\n{}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

/// pn-ode's independent reference for Lotka–Volterra (SciPy DOP853 at rtol = atol = 1e-13).
fn lotka_volterra_reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pn-ode/data/lotka-volterra.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_rel_close(got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= rtol * w.abs(),
            "got {got:?}, want {want:?} (rtol {rtol})"
        );
    }
}

/// `pn ode` fails with a message on stderr that contains every one of `needles`.
fn assert_fails_with(dir: &Path, args: &[&str], needles: &[&str]) {
    let out = pn(dir, args);
    assert!(!out.status.success(), "pn {args:?} should fail");
    assert_no_panic(&out);
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "pn {args:?}: `{n}` not in:\n{err}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
}

#[test]
fn ode_json_matches_the_lotka_volterra_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(
        tmp.path(),
        &["ode", "--problem", "lotka-volterra", "--json"],
    );
    let reference = lotka_volterra_reference();
    let want = floats(&reference["x_t1"]);

    assert_eq!(doc["problem"], "lotka-volterra");
    assert_eq!(doc["method"], "ek1");
    assert_eq!(
        doc["order"].as_u64(),
        Some(4),
        "order by tolerance for rtol 1e-6"
    );
    assert_eq!(doc["rtol"].as_f64(), Some(1e-6));
    assert_eq!(doc["atol"].as_f64(), Some(1e-6));
    let t = floats(&doc["t"]);
    let (mean, std) = (
        doc["mean"].as_array().unwrap(),
        doc["std"].as_array().unwrap(),
    );
    assert!(t.len() > 10);
    assert_eq!((mean.len(), std.len()), (t.len(), t.len()));
    assert!(
        mean.iter()
            .chain(std)
            .all(|row| row.as_array().unwrap().len() == 2)
    );
    assert_eq!((t[0], t[t.len() - 1]), (0.0, 20.0));
    assert!(t.windows(2).all(|w| w[0] < w[1]), "step times increase");

    // The last step and the final belief are at t1 and agree with SciPy to 1e-4 relative.
    assert_rel_close(&floats(&mean[mean.len() - 1]), &want, 1e-4);
    assert_rel_close(&floats(&doc["final"]["mean"]), &want, 1e-4);
    let final_std = floats(&doc["final"]["std"]);
    assert!(
        final_std.iter().all(|&s| s > 0.0 && s < 1e-3),
        "{final_std:?}"
    );

    let stats = &doc["stats"];
    assert_eq!(
        stats["steps"].as_u64().unwrap() as usize,
        t.len() - 1,
        "one output row per step plus t0"
    );
    for key in ["rejected", "f_evals", "jac_evals"] {
        assert!(stats[key].is_u64(), "stats.{key}: {stats}");
    }
    assert!(stats["jac_evals"].as_u64().unwrap() >= stats["steps"].as_u64().unwrap());
    assert!(
        doc.get("error_vs_exact").is_none(),
        "no closed form for Lotka–Volterra"
    );
}

#[test]
fn ode_block_diagonal_methods_match_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let want = floats(&lotka_volterra_reference()["x_t1"]);
    for method in ["ek0", "diag-ek1"] {
        let doc = pn_json(tmp.path(), &["ode", "--method", method, "--json"]);
        assert_eq!(doc["method"], method);
        assert_rel_close(&floats(&doc["final"]["mean"]), &want, 1e-4);
    }
}

#[test]
fn ode_without_arguments_solves_lotka_volterra_and_summarises() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["ode"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lotka-volterra") && err.contains("EK1"),
        "{err}"
    );
    assert!(err.contains("steps") && err.contains("3.25825"), "{err}");
    assert!(err.contains('±'), "{err}");
}

#[test]
fn ode_at_reports_the_requested_times() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(tmp.path(), &["ode", "--json", "--at", "0,2.5,10,20"]);
    assert_eq!(doc["output"], "at");
    assert_eq!(floats(&doc["t"]), [0.0, 2.5, 10.0, 20.0]);
    let mean = doc["mean"].as_array().unwrap();
    assert_eq!(mean.len(), 4);
    assert_eq!(floats(&mean[0]), [20.0, 20.0]);
    // t = 10 and t = 20 are save times of the reference.
    let reference = lotka_volterra_reference();
    let x_ref = reference["x"].as_array().unwrap();
    assert_rel_close(&floats(&mean[2]), &floats(&x_ref[9]), 1e-4);
    assert_rel_close(&floats(&mean[3]), &floats(&reference["x_t1"]), 1e-4);

    // Without --json: a table on stdout, a header and one row per requested time.
    let out = pn(tmp.path(), &["ode", "--at", "1,2,3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with('#') && lines[0].contains("mean_x2"),
        "{stdout}"
    );
    let row: Vec<f64> = lines[2]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(row.len(), 5);
    assert_eq!(row[0], 2.0);
}

#[test]
fn ode_logistic_error_vs_exact_is_small() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(tmp.path(), &["ode", "--problem", "logistic", "--json"]);
    let err = doc["error_vs_exact"]
        .as_f64()
        .expect("logistic has a closed form");
    assert!(err < 1e-6, "error vs exact {err}");
    let within = doc["exact_within_2sigma"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&within));

    // Overriding y0 and the span: the exact solution follows them.
    let doc = pn_json(
        tmp.path(),
        &[
            "ode",
            "--problem",
            "logistic",
            "--y0",
            "0.5",
            "--t-span",
            "1,3",
            "--json",
        ],
    );
    assert_eq!(floats(&doc["t_span"]), [1.0, 3.0]);
    let err = doc["error_vs_exact"].as_f64().unwrap();
    assert!(err < 1e-6, "error vs exact {err}");
    let x_end = 1.0 / (1.0 + (1.0 / 0.5 - 1.0) * (-2.0f64).exp());
    assert_rel_close(&floats(&doc["final"]["mean"]), &[x_end], 1e-6);
}

#[test]
fn ode_param_overrides_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(
        tmp.path(),
        &[
            "ode",
            "--problem",
            "van-der-pol",
            "--param",
            "mu=2",
            "--json",
        ],
    );
    assert_eq!(doc["problem"], "van-der-pol");
    assert_eq!(doc["params"]["mu"].as_f64(), Some(2.0));
    let end = floats(&doc["final"]["mean"]);
    assert!(
        end.iter().all(|v| v.is_finite() && v.abs() < 10.0),
        "{end:?}"
    );

    // The EK0, with an explicit order and a negative initial value.
    let doc = pn_json(
        tmp.path(),
        &[
            "ode",
            "--problem",
            "van-der-pol",
            "--method",
            "ek0",
            "--order",
            "3",
            "--y0",
            "-2,0",
            "--rtol",
            "1e-4",
            "--json",
        ],
    );
    assert_eq!(doc["method"], "ek0");
    assert_eq!(doc["order"].as_u64(), Some(3));
    assert_eq!(doc["stats"]["jac_evals"].as_u64(), Some(0));
    assert_eq!(floats(&doc["y0"]), [-2.0, 0.0]);
}

#[test]
fn ode_bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_fails_with(
        dir,
        &["ode", "--problem", "nope"],
        &["nope", "lotka-volterra", "lorenz"],
    );
    assert_fails_with(
        dir,
        &["ode", "--problem", "van-der-pol", "--param", "nu=1"],
        &["--param", "nu", "mu"],
    );
    assert_fails_with(
        dir,
        &["ode", "--param", "a=abc"],
        &["--param", "not a number"],
    );
    assert_fails_with(dir, &["ode", "--param", "a"], &["--param", "NAME=VALUE"]);
    assert_fails_with(
        dir,
        &["ode", "--problem", "van-der-pol", "--param", "mu=-1"],
        &["--param", "mu"],
    );
    assert_fails_with(
        dir,
        &["ode", "--problem", "pleiades", "--param", "a=1"],
        &["no parameters"],
    );
    assert_fails_with(
        dir,
        &["ode", "--y0", "1,2,3"],
        &["--y0", "2 components", "3"],
    );
    assert_fails_with(dir, &["ode", "--y0", "1,x"], &["--y0", "x"]);
    assert_fails_with(dir, &["ode", "--t-span", "5,1"], &["--t-span", "after"]);
    assert_fails_with(dir, &["ode", "--t-span", "5"], &["--t-span", "two"]);
    assert_fails_with(dir, &["ode", "--method", "rk4"], &["--method", "ek1"]);
    assert_fails_with(dir, &["ode", "--at", "1,25"], &["--at", "25", "outside"]);
    assert_fails_with(dir, &["ode", "--rtol", "-1"], &["--rtol"]);
    assert_fails_with(dir, &["ode", "--order", "0"], &["--order"]);
    assert_fails_with(dir, &["ode", "--plot", "x.png"], &[".svg"]);
}

#[test]
fn ode_plot_writes_an_svg_with_bands() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(
        tmp.path(),
        &[
            "ode",
            "--problem",
            "logistic",
            "--plot",
            "figs/logistic.svg",
            "--json",
        ],
    );
    assert_eq!(doc["plot"], "figs/logistic.svg");
    let svg = std::fs::read_to_string(tmp.path().join("figs/logistic.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "not an SVG document");
    assert!(svg.contains("<polygon"), "no ±2σ band");
    assert!(svg.matches("<polyline").count() >= 2, "mean and σ curves");
    assert!(svg.contains("mean ± 2σ") && svg.contains("exact"), "legend");

    // Many components: the first six are drawn, and the title says so.
    let out = pn(
        tmp.path(),
        &[
            "ode",
            "--problem",
            "rigid-body",
            "--t-span",
            "0,1",
            "--plot",
            "rb.svg",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = std::fs::read_to_string(tmp.path().join("rb.svg")).unwrap();
    assert_eq!(svg.matches("<polygon").count(), 3, "one band per component");
}

#[test]
fn ode_list_shows_the_catalogue() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["ode", "--list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for name in [
        "lotka-volterra",
        "van-der-pol",
        "pleiades",
        "linear-100",
        "rober",
    ] {
        assert!(stdout.contains(name), "{name} missing:\n{stdout}");
    }
    assert!(stdout.contains("mu=1"), "{stdout}");

    let doc = pn_json(tmp.path(), &["ode", "--list", "--json"]);
    let problems = doc["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 11);
    let lv = &problems[0];
    assert_eq!(lv["name"], "lotka-volterra");
    assert_eq!(lv["dim"].as_u64(), Some(2));
    assert_eq!(floats(&lv["t_span"]), [0.0, 20.0]);
    assert_eq!(lv["stiff"], false);
    assert!(problems.iter().any(|p| p["exact_solution"] == true));
}

#[test]
fn demo_json_lists_the_ode_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(tmp.path(), &["demo", "--json", "--out", "d"]);
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let file = files
        .iter()
        .find(|f| f.ends_with("ode-lotka-volterra.svg"))
        .unwrap_or_else(|| panic!("no ODE figure in {files:?}"));
    let svg = std::fs::read_to_string(tmp.path().join(file)).unwrap();
    assert!(
        svg.matches("<polygon").count() >= 2,
        "bands of both components"
    );
    assert!(svg.contains("2σ"), "the figure says what the bands are");

    let panel = doc["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ode_lotka_volterra")
        .expect("the ODE panel is listed");
    assert_eq!(panel["file"].as_str(), Some(*file));
    let m = &panel["metrics"];
    assert_eq!(m["method"], "ek1");
    // A coarse solve whose error bars cover the independent reference.
    let err = m["max_error_vs_reference"].as_f64().unwrap();
    assert!(err > 1e-4 && err < 1.0, "max error {err}");
    let within = m["reference_within_2sigma"].as_f64().unwrap();
    assert!(within >= 0.9, "reference within ±2σ: {within}");
}

#[test]
fn mcmc_without_arguments_samples_eight_schools() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["mcmc"]);
    assert!(out.status.success(), "pn mcmc failed:\n{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for needle in ["mu", "tau", "theta[7]", "ess_bulk", "r_hat", "divergences"] {
        assert!(
            stdout.contains(needle),
            "`{needle}` missing from:\n{stdout}"
        );
    }
}

#[test]
fn mcmc_json_recovers_a_known_gaussian() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "mcmc",
        "--model",
        "corr10",
        "--sampler",
        "nuts-dense",
        "--chains",
        "2",
    ];
    let doc = pn_json(
        tmp.path(),
        &[&args[..], &["--draws", "500", "--warmup", "500", "--json"]].concat(),
    );
    assert_eq!(doc["model"], "corr10");
    let rows = doc["summary"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    // The truth is N(0, Σ) with unit variances: |mean| within 4 MCSE, R-hat ≤ 1.01.
    for (row, z) in rows.iter().zip(doc["truth"]["z_mean"].as_array().unwrap()) {
        assert!(z.as_f64().unwrap().abs() < 4.0, "{row}");
        assert!(row["r_hat"].as_f64().unwrap() < 1.01, "{row}");
        assert!((row["sd"].as_f64().unwrap() - 1.0).abs() < 0.15, "{row}");
    }
    assert_eq!(doc["diagnostics"]["divergences"], 0);
    assert_eq!(doc["trustworthy"], true);
}

#[test]
fn mcmc_flags_the_centred_funnel() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(
        tmp.path(),
        &[
            "mcmc", "--model", "funnel", "--draws", "400", "--warmup", "400", "--json",
        ],
    );
    assert_eq!(doc["trustworthy"], false);
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(!warnings.is_empty());
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("R-hat") || w.contains("BFMI") || w.contains("divergent")),
        "{warnings:?}"
    );
}

#[test]
fn mcmc_plot_and_csv_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(
        tmp.path(),
        &[
            "mcmc",
            "--model",
            "banana-mild",
            "--sampler",
            "slice",
            "--draws",
            "200",
            "--warmup",
            "200",
            "--plot",
            "b.svg",
            "--csv",
            "b.csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = std::fs::read_to_string(tmp.path().join("b.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(
        svg.matches("<polyline").count() >= 8 + 2,
        "4 traces per quantity and two densities"
    );
    let csv = std::fs::read_to_string(tmp.path().join("b.csv")).unwrap();
    assert!(csv.starts_with("chain,draw,y1,y2,"));
    assert_eq!(csv.lines().count(), 1 + 4 * 200);
}

#[test]
fn mcmc_list_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(tmp.path(), &["mcmc", "--list", "--json"]);
    let names: Vec<&str> = doc["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for n in [
        "gauss100",
        "funnel",
        "funnel-nc",
        "banana",
        "eight-schools",
        "logistic",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert_fails_with(
        tmp.path(),
        &["mcmc", "--model", "nope"],
        &["unknown model", "--list"],
    );
    assert_fails_with(tmp.path(), &["mcmc", "--chains", "0"], &["--chains"]);
    assert_fails_with(
        tmp.path(),
        &["mcmc", "--target-accept", "1.5"],
        &["--target-accept"],
    );
    assert_fails_with(tmp.path(), &["mcmc", "--plot", "x.png"], &[".svg"]);
    assert_fails_with(tmp.path(), &["mcmc", "--draws", "2"], &["--draws"]);
}

#[test]
fn demo_lists_the_mcmc_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(tmp.path(), &["demo", "--json", "--out", "d"]);
    let panel = doc["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mcmc_banana")
        .expect("MCMC panel");
    let svg = std::fs::read_to_string(tmp.path().join(panel["file"].as_str().unwrap())).unwrap();
    assert!(svg.contains("trace of y1"));
    let m = &panel["metrics"];
    // The banana's marginal sds are 10 and 3: the estimates are within 4 of their MCSEs.
    for (row, sd) in m["summary"].as_array().unwrap().iter().zip([10.0, 3.0]) {
        let (est, se) = (
            row["sd"].as_f64().unwrap(),
            row["mcse_sd"].as_f64().unwrap(),
        );
        assert!((est - sd).abs() < 4.0 * se + 0.05 * sd, "{row}");
    }
}

/// ∫₀¹ f by composite Simpson with 20 000 panels (independent of pn-quad).
fn simpson(f: impl Fn(f64) -> f64) -> f64 {
    let m = 20_000;
    let h = 1.0 / m as f64;
    let mut s = f(0.0) + f(1.0);
    for i in 1..m {
        s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(i as f64 * h);
    }
    s * h / 3.0
}

#[test]
fn quad_without_arguments_runs_the_default_case() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["quad"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(fields.len(), 4, "estimate std truth error: {line}");
    assert!((fields[0] - fields[2] - fields[3]).abs() < 1e-3 * fields[3].abs() + 1e-15);
    assert!(stderr(&out).contains("estimate"));
}

#[test]
fn quad_json_matches_an_independent_integral_within_its_std() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(
        tmp.path(),
        &[
            "quad", "--family", "gaussian", "--dim", "1", "--budget", "24", "--json",
        ],
    );
    let a = doc["params"]["a"][0].as_f64().unwrap();
    let u = doc["params"]["u"][0].as_f64().unwrap();
    let truth = simpson(|x| (-(a * (x - u)).powi(2)).exp());
    assert!((doc["truth"].as_f64().unwrap() - truth).abs() < 1e-10);
    let est = doc["estimate"].as_f64().unwrap();
    let std = doc["std"].as_f64().unwrap();
    assert!(
        (est - truth).abs() < 1e-3 * truth,
        "estimate {est} vs {truth}"
    );
    assert!(
        (est - truth).abs() < 4.0 * std,
        "error {} vs std {std}",
        est - truth
    );
    assert_eq!(doc["n_evals"], 24);
    let hist = doc["history"].as_array().unwrap();
    assert_eq!(hist.last().unwrap()["n"], 24);
    assert!(doc["kernel"]["lengthscales"].as_array().is_some());
}

#[test]
fn quad_every_method_runs_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    for m in ["bq-halton", "bq-us", "bq-mi", "mc", "qmc", "gauss"] {
        let doc = pn_json(
            tmp.path(),
            &[
                "quad", "--dim", "2", "--budget", "16", "--method", m, "--json",
            ],
        );
        let err = doc["error"].as_f64().unwrap();
        let truth = doc["truth"].as_f64().unwrap();
        match doc["std"].as_f64() {
            // Monte Carlo with 16 points: within 5 standard errors.
            Some(se) if m == "mc" => assert!(err.abs() < 5.0 * se, "{m}: error {err} vs se {se}"),
            _ => assert!(err.abs() < truth.abs(), "{m}: error {err} vs truth {truth}"),
        }
    }
    let out = pn(
        tmp.path(),
        &[
            "quad",
            "--family",
            "oscillatory",
            "--dim",
            "2",
            "--budget",
            "20",
            "--plot",
            "q.svg",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = std::fs::read_to_string(tmp.path().join("q.svg")).unwrap();
    assert!(svg.contains("reported std") && svg.contains("Monte Carlo"));
    let doc = pn_json(
        tmp.path(),
        &[
            "quad",
            "--family",
            "gaussian-measure",
            "--dim",
            "2",
            "--tol",
            "1e-3",
            "--json",
        ],
    );
    assert_eq!(doc["stop"], "tolerance");
    assert!(doc["std"].as_f64().unwrap() < 1e-3);
}

#[test]
fn quad_list_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pn(tmp.path(), &["quad", "--list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "oscillatory",
        "corner-peak",
        "discontinuous",
        "gaussian-measure",
        "bq-mi",
    ] {
        assert!(text.contains(name), "{name} missing from --list");
    }
    assert_fails_with(
        tmp.path(),
        &["quad", "--family", "nope"],
        &["--family", "nope"],
    );
    assert_fails_with(tmp.path(), &["quad", "--dim", "9"], &["--dim"]);
    assert_fails_with(tmp.path(), &["quad", "--plot", "x.png"], &[".svg"]);
    assert_fails_with(tmp.path(), &["quad", "--tol", "-1"], &["--tol"]);
    assert_fails_with(
        tmp.path(),
        &[
            "quad",
            "--family",
            "gaussian-measure",
            "--kernel",
            "matern12",
        ],
        &["embedding"],
    );
}

#[test]
fn demo_lists_the_quad_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pn_json(tmp.path(), &["demo", "--json", "--out", "d"]);
    let panel = doc["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "quad_genz_gaussian")
        .expect("quadrature panel");
    let svg = std::fs::read_to_string(tmp.path().join(panel["file"].as_str().unwrap())).unwrap();
    assert!(svg.contains("Bayesian quadrature"));
    let m = &panel["metrics"];
    let err = m["error"].as_f64().unwrap().abs();
    assert!(err < 4.0 * m["std"].as_f64().unwrap());
    assert!(err < m["mc_error"].as_f64().unwrap());
}

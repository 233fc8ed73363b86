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

//! `tflrs bench`: times invokes and reports order statistics, as text or one JSON object.

use std::process::Command;
use tflrs_testdata::{Case, testdata_dir};

fn tflrs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tflrs"))
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = tflrs().arg("bench").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn json_has_ordered_statistics_with_random_and_given_inputs() {
    let case = Case::load("cnn_small_float32").unwrap();
    let root = testdata_dir();
    let model = root.join(&case.entry.model);
    let input = root.join(&case.entry.inputs[0].file);
    for (backend, with_input) in [("scalar", false), ("simd", true), ("host-device", false)] {
        let mut args = vec![
            model.to_str().unwrap(),
            "--json",
            "--runs",
            "3",
            "--warmup",
            "1",
        ];
        args.extend(["--backend", backend]);
        if with_input {
            args.extend(["-i", input.to_str().unwrap()]);
        }
        let j = json_of(&args);
        let f = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("{k} in {j}"));
        assert!(f("min_us") > 0.0, "{j}");
        assert!(
            f("min_us") <= f("p10_us") && f("p10_us") <= f("median_us"),
            "{j}"
        );
        assert!(f("median_us") <= f("p90_us"), "{j}");
        assert_eq!(j["runs"], 3);
        assert_eq!(j["backend"], backend);
        assert!(j["arena_bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn text_output_and_errors() {
    let case = Case::load("mlp_int8").unwrap();
    let model = testdata_dir().join(&case.entry.model);
    let out = tflrs()
        .args(["bench", model.to_str().unwrap(), "--runs", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("median ") && stdout.contains("arena: "),
        "{stdout}"
    );
    // Two inputs for a one-input model: a clear error, no panic.
    let input = testdata_dir().join(&case.entry.inputs[0].file);
    let out = tflrs()
        .arg("bench")
        .arg(&model)
        .args(["-i", input.to_str().unwrap(), "-i", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("takes 1 input(s), 2 given"), "{stderr}");
    let out = tflrs()
        .args(["bench", model.to_str().unwrap(), "--runs", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "zero runs are refused");
}

#[test]
fn profile_lists_every_step_and_the_operator_totals() {
    let case = Case::load("cnn_small_float32").unwrap();
    let model = testdata_dir().join(&case.entry.model);
    let model = model.to_str().unwrap();
    let j = json_of(&[
        model,
        "--json",
        "--runs",
        "2",
        "--profile",
        "--backend",
        "simd",
    ]);
    let steps = j["profile"].as_array().expect("a profile array");
    // cnn_small's main subgraph: every node runs a kernel (no reshape to alias).
    let ops: Vec<&str> = steps.iter().map(|s| s["op"].as_str().unwrap()).collect();
    assert!(
        ops.contains(&"CONV_2D") && ops.contains(&"SOFTMAX"),
        "{ops:?}"
    );
    let nodes: Vec<u64> = steps.iter().map(|s| s["node"].as_u64().unwrap()).collect();
    assert!(nodes.windows(2).all(|w| w[0] < w[1]), "{nodes:?}");
    assert!(steps.iter().all(|s| s["us"].as_f64().unwrap() >= 0.0));
    let out = tflrs()
        .args(["bench", model, "--runs", "2", "--profile"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("time per operator type") && stdout.contains("slowest steps"),
        "{stdout}"
    );
}

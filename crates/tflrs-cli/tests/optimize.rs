//! `tflrs optimize IN -o OUT` with no flags is the identity through the IR: the written model
//! imports to the same graph, on every testdata model.

use std::path::PathBuf;
use std::process::Command;

fn tflrs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tflrs"))
}

/// A scratch directory of this test process and test (tests run in parallel).
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tflrs-optimize-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn optimize_without_flags_keeps_every_testdata_graph() {
    let root = tflrs_testdata::testdata_dir();
    let manifest = tflrs_testdata::manifest().unwrap();
    let dir = scratch_dir("identity");
    let output = dir.join("out.tflite");
    // Whole models and a sample of per-operator models keep the test quick.
    for case in manifest
        .cases
        .iter()
        .filter(|c| !c.name.starts_with("op_") || c.name.ends_with("_i8"))
    {
        let input = root.join(&case.model);
        let status = tflrs()
            .arg("optimize")
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .status()
            .unwrap();
        assert!(status.success(), "{}", case.name);
        let (a, b) = (
            std::fs::read(&input).unwrap(),
            std::fs::read(&output).unwrap(),
        );
        assert_eq!(
            tflrs_ir::Graph::from_tflite(&a).unwrap(),
            tflrs_ir::Graph::from_tflite(&b).unwrap(),
            "{}",
            case.name
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn optimize_names_the_bad_file() {
    let dir = scratch_dir("bad");
    let bad = dir.join("bad.tflite");
    std::fs::write(&bad, b"not a model").unwrap();
    let out = tflrs()
        .arg("optimize")
        .arg(&bad)
        .arg("-o")
        .arg(dir.join("o.tflite"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.tflite"), "{stderr}");
    let missing = tflrs()
        .args(["optimize", "missing.tflite", "-o", "o.tflite"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing.tflite"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn list_passes_names_the_fusion_set() {
    let out = tflrs()
        .args(["optimize", "--list-passes"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for pass in tflrs_passes::passes() {
        assert!(
            text.contains(pass.name),
            "{} missing from:\n{text}",
            pass.name
        );
    }
    assert!(text.contains("* fuse-activation"));
}

#[test]
fn fuse_removes_the_standalone_relus_of_a_mediapipe_model_and_reports_it() {
    let root = tflrs_testdata::testdata_dir();
    let input = root.join("models/mediapipe_face_detection_short_range/model.tflite");
    let dir = scratch_dir("fuse");
    let output = dir.join("fused.tflite");
    let out = tflrs()
        .arg("optimize")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("--fuse")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("fuse-activation"), "{text}");
    let count = |path: &std::path::Path, op: &str| {
        let bytes = std::fs::read(path).unwrap();
        let g = tflrs_ir::Graph::from_tflite(&bytes).unwrap();
        g.subgraphs[0]
            .nodes
            .iter()
            .filter(|n| n.op.name() == op)
            .count()
    };
    assert_eq!(count(&input, "RELU"), 17);
    assert_eq!(count(&output, "RELU"), 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unknown_pass_is_an_error_naming_the_known_ones() {
    let root = tflrs_testdata::testdata_dir();
    let input = root.join("models/mlp_float32/model.tflite");
    let dir = scratch_dir("unknown");
    let out = tflrs()
        .arg("optimize")
        .arg(&input)
        .arg("-o")
        .arg(dir.join("x.tflite"))
        .args(["--passes", "fuse-everything"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown pass \"fuse-everything\"") && err.contains("fuse-activation"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

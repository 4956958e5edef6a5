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

//! `tflrs run` on every testdata model: the `.npy` files it writes equal LiteRT's reference
//! outputs (integers bit for bit, floats within the manifest's tolerance); bad inputs are
//! refused with a clear message.

use std::path::PathBuf;
use std::process::Command;
use tflrs_testdata::conformance::{CaseRun, Suite};
use tflrs_testdata::{Npy, testdata_dir};

fn tflrs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tflrs"))
}

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tflrs-run-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_writes_litert_reference_outputs_for_every_testdata_model() {
    let root = testdata_dir();
    let dir = scratch_dir("all");
    // The scalar suite, through the binary: the runtime's golden test checks the plans, so this
    // one checks outputs and known gaps only.
    let report = Suite::new("scalar")
        .run(|case| {
            let entry = &case.entry;
            let out_dir = dir.join(&entry.name);
            let mut cmd = tflrs();
            cmd.arg("run").arg(root.join(&entry.model));
            for input in &entry.inputs {
                cmd.arg("-i").arg(root.join(&input.file));
            }
            let out = cmd
                .arg("-o")
                .arg(&out_dir)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            let outputs = (0..entry.outputs.len())
                .map(|k| Npy::read(&out_dir.join(format!("output_{k}.npy"))))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            Ok(CaseRun {
                outputs,
                plan: Vec::new(),
            })
        })
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(report.passed() > 400, "only {} cases pass", report.passed());
    if let Err(e) = report.check() {
        panic!("{e}");
    }
}

#[test]
fn run_prints_outputs_and_plan() {
    let root = testdata_dir();
    let run = |backend: &str| {
        let out = tflrs()
            .arg("run")
            .arg(root.join("models/mlp_int8/model.tflite"))
            .arg("-i")
            .arg(root.join("models/mlp_int8/input_0.npy"))
            .args(["--plan", "--backend", backend])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let output_line = |stdout: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with("output 0 "))
            .map(str::to_owned)
    };
    let stdout = run("scalar");
    assert!(stdout.contains("fully_connected_i8__scalar"), "{stdout}");
    assert!(stdout.contains("arena:"), "{stdout}");
    assert!(
        stdout.contains("output 0 'StatefulPartitionedCall_1:0': int8 [1, 4] = ["),
        "{stdout}"
    );
    // The default (SIMD) plan names its own kernels and prints the same int8 outputs.
    let simd = run("simd");
    assert!(!simd.contains("fully_connected_i8__scalar"), "{simd}");
    assert!(simd.contains("fully_connected_i8__"), "{simd}");
    assert_eq!(output_line(&simd), output_line(&stdout));
}

#[test]
fn run_refuses_wrong_inputs_clearly() {
    let root = testdata_dir();
    let model = root.join("models/mlp_int8/model.tflite");
    let dir = scratch_dir("bad");
    let run = |inputs: &[PathBuf]| {
        let mut cmd = tflrs();
        cmd.arg("run").arg(&model);
        for i in inputs {
            cmd.arg("-i").arg(i);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let write = |name: &str, array: Npy| {
        let p = dir.join(name);
        std::fs::write(&p, array.to_bytes()).unwrap();
        p
    };
    // float32 where the model takes int8.
    let f = write("f32.npy", Npy::from_slice(vec![1, 8], &[0f32; 8]).unwrap());
    let err = run(&[f]);
    assert!(
        err.contains("input 0") && err.contains("int8") && err.contains("float32"),
        "{err}"
    );
    // A fixed dimension of the wrong size.
    let s = write("shape.npy", Npy::from_slice(vec![1, 5], &[0i8; 5]).unwrap());
    let err = run(&[s]);
    assert!(err.contains("input 0") && err.contains("[1, 5]"), "{err}");
    // Too many inputs.
    let ok = root.join("models/mlp_int8/input_0.npy");
    let err = run(&[ok.clone(), ok]);
    assert!(err.contains("takes 1 input(s), 2 given"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

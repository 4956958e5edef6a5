//! `tflrs optimize --quantize int8`: a model calibrated from a stacked `.npy` is written and
//! reported; bad calibration data is refused with a message that says what is wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tflrs_npy::Npy;

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tflrs-ptq-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn model(name: &str) -> PathBuf {
    tflrs_testdata::Case::load(name).unwrap().model_path
}

fn optimize(input: &Path, out: &Path, extra: &[&str], calib: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tflrs"));
    c.arg("optimize").arg(input).arg("-o").arg(out);
    c.args(["--quantize", "int8"]).args(extra);
    for f in calib {
        c.arg("--calibration").arg(f);
    }
    c.output().unwrap()
}

fn write(path: &Path, npy: &Npy) {
    std::fs::write(path, npy.to_bytes()).unwrap();
}

/// `n` samples of the MLP's 8 features.
fn mlp_samples(n: usize) -> Vec<f32> {
    (0..n * 8)
        .map(|i| ((i * 37 % 101) as f32 / 25.0) - 2.0)
        .collect()
}

#[test]
fn quantizes_the_mlp_and_reports() {
    let dir = scratch_dir("ok");
    let calib = dir.join("calib.npy");
    write(
        &calib,
        &Npy::from_slice(vec![10, 8], &mlp_samples(10)).unwrap(),
    );
    let out = dir.join("mlp_int8.tflite");
    for io in ["float", "int8", "uint8"] {
        let o = optimize(&model("mlp_float32"), &out, &["--io", io], &[&calib]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{io}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.contains("SQNR"), "{stdout}");
        assert!(stdout.contains("10 calibration samples"), "{stdout}");
        assert!(stdout.contains("per layer"), "{stdout}");
        let bytes = std::fs::read(&out).unwrap();
        let g = tflrs_ir::Graph::from_tflite(&bytes).unwrap();
        let sg = &g.subgraphs[0];
        let want = match io {
            "float" => tflrs_ir::DType::Float32,
            "int8" => tflrs_ir::DType::Int8,
            _ => tflrs_ir::DType::UInt8,
        };
        assert_eq!(sg.values[sg.inputs[0].index()].dtype, want);
        assert_eq!(sg.values[sg.outputs[0].index()].dtype, want);
        assert!(
            sg.nodes
                .iter()
                .any(|n| matches!(n.op, tflrs_ir::Op::FullyConnected(_)))
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn refuses_bad_calibration_data() {
    let dir = scratch_dir("bad");
    let out = dir.join("o.tflite");
    let mlp = model("mlp_float32");
    let cases: Vec<(&str, Option<Npy>, &str)> = vec![
        (
            "int32",
            Some(Npy::from_slice(vec![2, 8], &[1i32; 16]).unwrap()),
            "is float32, the file holds int32",
        ),
        (
            "shape",
            Some(Npy::from_slice(vec![2, 7], &[0.5f32; 14]).unwrap()),
            "not N samples",
        ),
        (
            "rank",
            Some(Npy::from_slice(vec![16], &[0.5f32; 16]).unwrap()),
            "not N samples",
        ),
        (
            "nan",
            Some(Npy::from_slice(vec![2, 8], &[0.5, f32::NAN].repeat(8)).unwrap()),
            "NaN",
        ),
        (
            "empty",
            Some(Npy::from_slice::<f32>(vec![0, 8], &[]).unwrap()),
            "not a positive multiple",
        ),
        ("missing", None, "needs a representative dataset"),
    ];
    for (what, npy, msg) in cases {
        let f = dir.join(format!("{what}.npy"));
        let o = match &npy {
            Some(n) => {
                write(&f, n);
                optimize(&mlp, &out, &[], &[&f])
            }
            None => optimize(&mlp, &out, &[], &[]),
        };
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{what} accepted");
        assert!(stderr.contains(msg), "{what}: {stderr}");
        if npy.is_some() {
            assert!(stderr.contains(&format!("{what}.npy")), "{what}: {stderr}");
        }
    }
    // One file per input: two files for one input.
    let f = dir.join("ok.npy");
    write(&f, &Npy::from_slice(vec![2, 8], &mlp_samples(2)).unwrap());
    let o = optimize(&mlp, &out, &[], &[&f, &f]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 files for 1 model inputs"));
    // A missing file.
    let o = optimize(&mlp, &out, &[], &[&dir.join("nope.npy")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.npy"));
    std::fs::remove_dir_all(&dir).ok();
}

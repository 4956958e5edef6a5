//! `tflrs inspect` run as a binary on the converter-made models of `testdata/`, checked against
//! what LiteRT's Python interpreter reported for the same files (`testdata/manifest.json`), and
//! on malformed files.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tflrs_testdata::{CaseEntry, LitertTensor, Manifest, testdata_dir};

fn tflrs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tflrs"))
        .args(args)
        .output()
        .expect("the tflrs binary runs")
}

fn manifest() -> Manifest {
    let dir = testdata_dir();
    let manifest = Manifest::load(&dir).unwrap_or_else(|e| panic!("testdata manifest: {e}"));
    assert!(
        !manifest.cases.is_empty(),
        "{} lists no cases",
        dir.display()
    );
    manifest
}

fn model_path(case: &CaseEntry) -> PathBuf {
    testdata_dir().join(&case.model)
}

fn inspect_json(path: &Path) -> Value {
    let out = tflrs(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "tflrs inspect --json {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("{v} is not an array"))
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// A scale as the `f32` it is in the file; JSON carries its shortest decimal form.
fn f32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| (x.as_f64().unwrap() as f32).to_bits())
        .collect()
}

/// The NumPy dtype name LiteRT's Python interpreter gives a schema `TensorType`.
fn numpy_dtype(schema: &str) -> String {
    match schema {
        // numpy has no resource or variant type: LiteRT reports them as objects, which the
        // manifest writes as "string".
        "STRING" | "RESOURCE" | "VARIANT" => "string".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// Whether tensor `t` of subgraph `sg` is read by no operator and is no subgraph output.
fn unused(sg: &Value, t: i64) -> bool {
    let read = sg["operators"]
        .as_array()
        .unwrap()
        .iter()
        .any(|op| ints(&op["inputs"]).contains(&t));
    !read && !ints(&sg["outputs"]).contains(&t)
}

/// Every difference between `inspect --json` and LiteRT's report of the main subgraph.
fn differences(case: &CaseEntry, report: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let sg = &report["subgraphs"][0];
    let ops = sg["operators"].as_array().unwrap();
    let tensors = sg["tensors"].as_array().unwrap();
    let litert = &case.litert;

    if ops.len() != litert.ops.len() {
        diffs.push(format!(
            "{} operators, LiteRT has {}",
            ops.len(),
            litert.ops.len()
        ));
    }
    for (lop, op) in litert.ops.iter().zip(ops) {
        let at = format!("operator {}", lop.index);
        if op["index"].as_u64() != Some(lop.index as u64) {
            diffs.push(format!("{at}: index {}", op["index"]));
        }
        if op["op"] != lop.op_name.as_str() {
            diffs.push(format!("{at}: op {} vs LiteRT {}", op["op"], lop.op_name));
        }
        if ints(&op["inputs"]) != lop.inputs {
            diffs.push(format!(
                "{at}: inputs {} vs LiteRT {:?}",
                op["inputs"], lop.inputs
            ));
        }
        let outputs = ints(&op["outputs"]);
        // LiteRT's WHILE kernel marks outputs nothing reads as omitted (-1) when it prepares
        // the node; the file holds the real tensor index, which is what inspect reports.
        let same = outputs.len() == lop.outputs.len()
            && outputs.iter().zip(&lop.outputs).all(|(&ours, &theirs)| {
                ours == theirs || (theirs == -1 && lop.op_name == "WHILE" && unused(sg, ours))
            });
        if !same {
            diffs.push(format!(
                "{at}: outputs {outputs:?} vs LiteRT {:?}",
                lop.outputs
            ));
        }
    }

    // LiteRT also lists the temporaries its kernels add (im2col buffers, hybrid scratch),
    // after the model's own tensors; only the model's tensors are compared.
    let model_tensors: Vec<&LitertTensor> = litert
        .tensors
        .iter()
        .filter(|t| t.index < tensors.len())
        .collect();
    let indices: Vec<usize> = model_tensors.iter().map(|t| t.index).collect();
    if indices != (0..tensors.len()).collect::<Vec<_>>() {
        diffs.push(format!(
            "LiteRT reports tensors {indices:?} of the file's {}",
            tensors.len()
        ));
    }
    for lt in model_tensors {
        let t = &tensors[lt.index];
        let at = format!("tensor {} ({})", lt.index, lt.name);
        let mut check = |what: &str, ours: String, theirs: String| {
            if ours != theirs {
                diffs.push(format!("{at}: {what} {ours} vs LiteRT {theirs}"));
            }
        };
        // LiteRT's reference DENSIFY kernel renames its output to "Densify_output" when it
        // prepares the node; the file holds the converter's name, which inspect reports.
        let densify_output =
            sg["operators"].as_array().unwrap().iter().any(|op| {
                op["op"] == "DENSIFY" && ints(&op["outputs"]).contains(&(lt.index as i64))
            });
        if !(densify_output && lt.name == "Densify_output") {
            check("name", t["name"].as_str().unwrap().into(), lt.name.clone());
        }
        check(
            "dtype",
            numpy_dtype(t["dtype"].as_str().unwrap()),
            lt.dtype.clone(),
        );
        let shape = ints(&t["shape"]);
        // For a tensor with dynamic dimensions the file holds a placeholder shape; LiteRT's
        // report was taken after the test-data generator resized the inputs, so only the
        // signature can agree.
        let dynamic = !t["shape_signature"].is_null() && ints(&t["shape_signature"]).contains(&-1);
        // An empty shape without `has_rank` is a tensor of unknown rank, decided at run time.
        let unknown_rank = shape.is_empty() && t["has_rank"] == false;
        if !dynamic && !unknown_rank {
            check("shape", format!("{shape:?}"), format!("{:?}", lt.shape));
        }
        // Without a stored signature LiteRT reports the shape as the signature.
        let signature = if t["shape_signature"].is_null() {
            shape
        } else {
            ints(&t["shape_signature"])
        };
        if !unknown_rank {
            check(
                "shape_signature",
                format!("{signature:?}"),
                format!("{:?}", lt.shape_signature),
            );
        }
        let q = &t["quantization"];
        let (scales, zero_points, axis) =
            if q.is_null() || q["scales"].as_array().unwrap().is_empty() {
                (Vec::new(), Vec::new(), 0)
            } else {
                (
                    f32s(&q["scales"]),
                    ints(&q["zero_points"]),
                    q["quantized_dimension"].as_i64().unwrap(),
                )
            };
        let litert_scales: Vec<u32> = lt.scales.iter().map(|&s| (s as f32).to_bits()).collect();
        check(
            "scales (f32 bits)",
            format!("{scales:x?}"),
            format!("{litert_scales:x?}"),
        );
        check(
            "zero_points",
            format!("{zero_points:?}"),
            format!("{:?}", lt.zero_points),
        );
        check(
            "quantized_dimension",
            axis.to_string(),
            lt.quantized_dimension.to_string(),
        );
    }
    diffs
}

#[test]
fn inspect_json_agrees_with_litert_on_every_testdata_model() {
    let manifest = manifest();
    let mut failures = Vec::new();
    let (mut per_channel, mut per_tensor) = (0, 0);
    for case in &manifest.cases {
        let report = inspect_json(&model_path(case));
        for diff in differences(case, &report) {
            failures.push(format!("{}: {diff}", case.name));
        }
        for t in report["subgraphs"][0]["tensors"].as_array().unwrap() {
            match t["quantization"]["scales"].as_array().map(Vec::len) {
                Some(n) if n > 1 => per_channel += 1,
                Some(1) => per_tensor += 1,
                _ => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "inspect --json disagrees with LiteRT:\n{}",
        failures.join("\n")
    );
    // The comparison is not vacuous: quantized models were among the cases.
    assert!(
        per_channel > 0 && per_tensor > 0,
        "no quantized tensors compared"
    );
}

#[test]
fn inspect_json_reports_file_facts_and_summary() {
    for case in &manifest().cases {
        let r = inspect_json(&model_path(case));
        assert_eq!(r["format"], "tflrs-inspect", "{}", case.name);
        assert_eq!(r["format_version"], 1, "{}", case.name);
        assert_eq!(
            r["file_size"].as_u64(),
            Some(case.model_bytes),
            "{}",
            case.name
        );
        assert_eq!(r["schema_version"], 3, "{}", case.name);
        let s = &r["summary"];
        assert_eq!(s["file_size"].as_u64(), Some(case.model_bytes));
        // The histogram of the main subgraph's operators is included in the model's.
        for op in &case.operators {
            let want = case.operators.iter().filter(|o| *o == op).count() as u64;
            let got = s["op_histogram"][op.as_str()].as_u64().unwrap_or(0);
            assert!(
                got >= want,
                "{}: {op} counted {got}, LiteRT lists {want}",
                case.name
            );
        }
        // Parameters by dtype add up to the totals.
        let by_dtype = s["parameters_by_dtype"].as_object().unwrap();
        let count: u64 = by_dtype
            .values()
            .map(|p| p["count"].as_u64().unwrap())
            .sum();
        let bytes: u64 = by_dtype
            .values()
            .map(|p| p["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(s["parameters"].as_u64(), Some(count), "{}", case.name);
        assert_eq!(s["parameter_bytes"].as_u64(), Some(bytes), "{}", case.name);
        // Whole models have weights; a per-operator model may have none (ABS on an input).
        if !case.name.starts_with("op_") {
            assert!(count > 0 && bytes > 0, "{}: no parameters", case.name);
        }
    }
}

/// The MACs of the main subgraph's convolutions and fully connected layers, recomputed from
/// the shapes LiteRT reported. `inspect` estimates from the shapes the file stores, so layers
/// whose output LiteRT gave another shape (a case run on a resized batch, a dynamic batch's
/// placeholder shapes) are left out.
#[test]
fn macs_match_litert_shapes() {
    let mut checked = 0;
    for case in &manifest().cases {
        let r = inspect_json(&model_path(case));
        let shape = |t: i64| -> Vec<u64> {
            let lt = &case.litert.tensors[usize::try_from(t).unwrap()];
            assert_eq!(lt.index as i64, t);
            lt.shape.iter().map(|&d| d as u64).collect()
        };
        let stored = |t: i64| -> Vec<u64> {
            r["subgraphs"][0]["tensors"][usize::try_from(t).unwrap()]["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect()
        };
        let elements = |s: &[u64]| s.iter().product::<u64>();
        for (lop, op) in case
            .litert
            .ops
            .iter()
            .zip(r["subgraphs"][0]["operators"].as_array().unwrap())
        {
            let layer = matches!(
                lop.op_name.as_str(),
                "CONV_2D" | "DEPTHWISE_CONV_2D" | "FULLY_CONNECTED"
            );
            if layer && shape(lop.outputs[0]) != stored(lop.outputs[0]) {
                continue;
            }
            let out = || elements(&shape(lop.outputs[0]));
            let expected = match lop.op_name.as_str() {
                "CONV_2D" => {
                    let f = shape(lop.inputs[1]);
                    out() * f[1] * f[2] * f[3]
                }
                "DEPTHWISE_CONV_2D" => {
                    let f = shape(lop.inputs[1]);
                    out() * f[1] * f[2]
                }
                "FULLY_CONNECTED" => out() * shape(lop.inputs[1])[1],
                _ => continue,
            };
            assert_eq!(
                op["macs"].as_u64(),
                Some(expected),
                "{} operator {} {}",
                case.name,
                lop.index,
                lop.op_name
            );
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "no convolution or fully connected layer checked"
    );
}

#[test]
fn inspect_json_is_deterministic() {
    let manifest = manifest();
    let case = &manifest.cases[0];
    let path = model_path(case);
    let path = path.to_str().unwrap();
    let a = tflrs(&["inspect", "--json", path]);
    let b = tflrs(&["inspect", "--json", path]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn human_output_shows_every_section() {
    let manifest = manifest();
    let case = manifest
        .cases
        .iter()
        .find(|c| c.name == "mlp_int8")
        .or_else(|| manifest.cases.first())
        .unwrap();
    let path = model_path(case);
    let out = tflrs(&["inspect", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Subgraphs (1)",
        "operators (",
        "tensors (",
        "Summary",
        "parameters by dtype",
        "operators by kind",
        "estimated MACs",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    for op in &case.operators {
        assert!(text.contains(op.as_str()), "missing {op} in:\n{text}");
    }
    for t in &case.litert.tensors {
        if t.scales.len() > 1 {
            let q = format!(
                "per-channel({}) axis {}",
                t.scales.len(),
                t.quantized_dimension
            );
            assert!(text.contains(&q), "missing {q:?} in:\n{text}");
        }
    }
    assert!(text.lines().all(|l| l == l.trim_end()), "trailing spaces");
}

/// Runs inspect on `bytes` written to a scratch file; returns the error line it printed.
fn inspect_error(name: &str, bytes: &[u8]) -> String {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).unwrap();
    for args in [&["inspect"][..], &["inspect", "--json"][..]] {
        let mut args = args.to_vec();
        args.push(path.to_str().unwrap());
        let out = tflrs(&args);
        assert!(!out.status.success(), "{name}: inspect succeeded");
        assert!(out.stdout.is_empty(), "{name}: printed to stdout");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{name}: not one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    }
    let out = tflrs(&["inspect", path.to_str().unwrap()]);
    String::from_utf8(out.stderr).unwrap()
}

fn a_real_model() -> Vec<u8> {
    let manifest = manifest();
    std::fs::read(model_path(&manifest.cases[0])).unwrap()
}

#[test]
fn truncated_model_is_refused() {
    let model = a_real_model();
    let err = inspect_error("truncated.tflite", &model[..model.len() / 2]);
    assert!(err.contains("is not a valid .tflite model"), "{err}");
    assert!(err.contains("malformed FlatBuffer"), "{err}");
}

#[test]
fn wrong_identifier_is_refused() {
    let mut model = a_real_model();
    model[4..8].copy_from_slice(b"ONNX");
    let err = inspect_error("wrong_identifier.tflite", &model);
    assert!(err.contains("file identifier"), "{err}");
    assert!(err.contains("TFL3"), "{err}");
}

#[test]
fn tiny_file_is_refused() {
    let err = inspect_error("tiny.tflite", b"TFL");
    assert!(err.contains("too short"), "{err}");
}

#[test]
fn missing_file_is_refused() {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("does_not_exist.tflite");
    let out = tflrs(&["inspect", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("error: cannot read "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

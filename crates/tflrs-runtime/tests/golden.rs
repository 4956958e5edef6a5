//! Every model in `testdata/` through the interpreter, compared with LiteRT's reference
//! kernels (`BUILTIN_REF`): integer outputs bit for bit, float outputs within the manifest's
//! tolerance.
//!
//! Cases that do not pass yet are listed, one name a line, in `tests/known_gaps.txt`. The test
//! fails when a case outside that list fails, and when a listed case passes (so the list only
//! shrinks). Run with `-- --nocapture` for a table of every case.

use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::{Case, Npy, manifest, npy};

/// Runs a case through the scalar interpreter, returning its outputs and arena size.
fn run_case(case: &Case) -> Result<(Vec<Npy>, usize), String> {
    let bytes = case.model_bytes().map_err(|e| e.to_string())?;
    let model = Model::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let mut interp = Interpreter::builder(&model)
        .build()
        .map_err(|e| e.to_string())?;
    if interp.num_inputs() != case.inputs.len() {
        return Err(format!(
            "model has {} inputs, the case {}",
            interp.num_inputs(),
            case.inputs.len()
        ));
    }
    for (i, input) in case.inputs.iter().enumerate() {
        let info = interp.input_info(i).map_err(|e| e.to_string())?;
        if info.shape != input.shape {
            interp
                .resize_input(i, &input.shape)
                .map_err(|e| e.to_string())?;
        }
        let dst = interp.input_bytes_mut(i).map_err(|e| e.to_string())?;
        if dst.len() != input.data.len() {
            return Err(format!(
                "input {i}: {} bytes, the case has {}",
                dst.len(),
                input.data.len()
            ));
        }
        dst.copy_from_slice(&input.data);
    }
    interp.invoke().map_err(|e| e.to_string())?;
    let mut outputs = Vec::new();
    for k in 0..interp.num_outputs() {
        let info = interp.output_info(k).map_err(|e| e.to_string())?;
        let dtype = npy::DType::from_name(info.dtype.name())
            .ok_or_else(|| format!("output {k}: no .npy type for {}", info.dtype.name()))?;
        let shape = info.shape.clone();
        let data = interp.output_bytes(k).map_err(|e| e.to_string())?.to_vec();
        outputs.push(Npy::new(dtype, shape, data).map_err(|e| e.to_string())?);
    }
    Ok((outputs, interp.arena_bytes()))
}

#[test]
fn testdata_models_match_litert_reference() {
    let manifest = manifest().expect("testdata/manifest.json loads");
    let gaps_text = include_str!("known_gaps.txt");
    let gaps: Vec<&str> = gaps_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let root = tflrs_testdata::testdata_dir();
    let mut unexpected_failures = Vec::new();
    let mut unexpected_passes = Vec::new();
    let mut passed = 0;
    for entry in &manifest.cases {
        let case = Case::from_entry(&root, entry).expect("case files load");
        let result = run_case(&case).and_then(|(outputs, arena)| {
            case.check_ref_outputs(&outputs)
                .map(|()| arena)
                .map_err(|e| e.to_string())
        });
        let known_gap = gaps.contains(&entry.name.as_str());
        match &result {
            Ok(arena) => {
                println!("PASS {:<48} arena {arena} bytes", entry.name);
                passed += 1;
                if known_gap {
                    unexpected_passes.push(entry.name.clone());
                }
            }
            Err(e) => {
                println!("FAIL {:<48} {e}", entry.name);
                if !known_gap {
                    unexpected_failures.push(format!("{}: {e}", entry.name));
                }
            }
        }
    }
    println!("{passed} of {} cases pass", manifest.cases.len());
    assert!(
        unexpected_failures.is_empty(),
        "cases failing that are not in tests/known_gaps.txt:\n{}",
        unexpected_failures.join("\n")
    );
    assert!(
        unexpected_passes.is_empty(),
        "cases passing that tests/known_gaps.txt still lists (remove them):\n{}",
        unexpected_passes.join("\n")
    );
}

/// With `preserve_inputs(false)` the arena is never larger, and the whole-model cases still
/// match LiteRT (inputs are written before the one invoke).
#[test]
fn reusing_input_memory_shrinks_the_arena_and_keeps_results() {
    let manifest = manifest().expect("testdata/manifest.json loads");
    let root = tflrs_testdata::testdata_dir();
    for entry in manifest.cases.iter().filter(|c| !c.name.starts_with("op_")) {
        let case = Case::from_entry(&root, entry).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let preserved = Interpreter::builder(&model).build().unwrap().arena_bytes();
        let mut interp = Interpreter::builder(&model)
            .preserve_inputs(false)
            .build()
            .unwrap();
        assert!(interp.arena_bytes() <= preserved, "{}", entry.name);
        for (i, input) in case.inputs.iter().enumerate() {
            interp
                .input_bytes_mut(i)
                .unwrap()
                .copy_from_slice(&input.data);
        }
        interp.invoke().unwrap();
        let outputs: Vec<Npy> = (0..interp.num_outputs())
            .map(|k| {
                let info = interp.output_info(k).unwrap();
                let dtype = npy::DType::from_name(info.dtype.name()).unwrap();
                Npy::new(
                    dtype,
                    info.shape.clone(),
                    interp.output_bytes(k).unwrap().to_vec(),
                )
                .unwrap()
            })
            .collect();
        case.check_ref_outputs(&outputs).unwrap();
        println!(
            "{:<40} arena {preserved} bytes, {} reusing input memory",
            entry.name,
            interp.arena_bytes()
        );
    }
}

/// Reshape-like nodes whose shape is known at planning share their input's memory and do not
/// run; the plan report says so.
#[test]
fn reshapes_alias_their_input() {
    let case = Case::load("lstm_small_float32").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let interp = Interpreter::builder(&model).build().unwrap();
    let report = interp.plan_report();
    let reshapes: Vec<_> = report.iter().filter(|e| e.op == "RESHAPE").collect();
    assert!(!reshapes.is_empty());
    assert!(
        reshapes.iter().any(|e| e.kernel == "alias__runtime"),
        "{reshapes:?}"
    );
}

//! Every model in `testdata/` through the interpreter, compared with LiteRT's reference
//! kernels (`BUILTIN_REF`): integer outputs bit for bit, float outputs within the manifest's
//! tolerance; once per backend, with `tflrs_testdata::conformance`.
//!
//! Cases that do not pass yet are listed, one name a line, in tflrs-testdata's
//! `known_gaps/<backend>.txt`. A suite fails when a case outside its list fails, when a listed
//! case passes (so the lists only shrink), and when the backend under test did not plan the
//! nodes it must claim. The scalar suite's plans also check DESIGN's first invariant (every
//! typed operator in the manifest has a scalar kernel) and the kernel-name grammar. Run with
//! `-- --nocapture` for a table of every case.

mod common;

use std::sync::OnceLock;
use tflrs_example_counting_backend::CountingBackend;
use tflrs_kernels::Backend;
use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::conformance::{self, ALIAS_KERNEL, CaseRun, PlannedNode, Report, Suite};
use tflrs_testdata::{Case, Npy, manifest, npy};

/// Runs a case's own model through an interpreter asking `backends` in order (the scalar
/// backend last), returning its outputs and plan.
fn run_case(case: &Case, backends: Vec<Box<dyn Backend>>) -> Result<CaseRun, String> {
    let bytes = case.model_bytes().map_err(|e| e.to_string())?;
    common::case::run_case_bytes(case, &bytes, backends)
}

/// The scalar suite, run once for the tests that read it.
fn scalar_suite() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        Suite::new("scalar")
            // Every node the runtime does not alias runs a scalar kernel.
            .must_claim(|_, node| node.kernel != ALIAS_KERNEL)
            .run(|case| run_case(case, Vec::new()))
            .expect("testdata loads")
    })
}

#[test]
fn testdata_models_match_litert_reference() {
    let report = scalar_suite();
    if let Err(e) = report.check() {
        panic!("{e}");
    }
}

/// Reshape-like operators that every golden case has the runtime alias, so that no plan shows
/// their scalar kernel; [`scalar_kernel_for`] asks the scalar backend for one directly. The test
/// fails when a golden plan shows one of them with a kernel (then remove it here).
const ALIASED_IN_EVERY_CASE: &[&str] = &["SQUEEZE", "EXPAND_DIMS"];

/// The scalar backend's kernel name for a small node of `op` (one of [`ALIASED_IN_EVERY_CASE`]).
fn scalar_kernel_for(op: &str) -> Option<String> {
    use tflrs_ir::{DType, Op, SqueezeAttrs};
    use tflrs_kernels::testing::{TestInput, make_kernel};
    use tflrs_kernels::{ScalarBackend, TensorInfo};
    let x = |shape: &[usize]| {
        Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Float32, shape),
            &[1f32, 2.0],
        ))
    };
    let (op, inputs) = match op {
        "SQUEEZE" => (
            Op::Squeeze(SqueezeAttrs { squeeze_dims: None }),
            vec![x(&[1, 2])],
        ),
        "EXPAND_DIMS" => (
            Op::ExpandDims,
            vec![
                x(&[2, 1]),
                Some(TestInput::const_from_slice(
                    TensorInfo::new("axis", DType::Int32, []),
                    &[0i32],
                )),
            ],
        ),
        _ => return None,
    };
    let out_shape: &[usize] = if matches!(op, Op::Squeeze(_)) {
        &[2]
    } else {
        &[1, 2, 1]
    };
    let out = TensorInfo::new("y", DType::Float32, out_shape);
    let kernel = make_kernel(&ScalarBackend, &op, &inputs, &[out]).ok()??;
    Some(kernel.name().to_owned())
}

/// DESIGN's first invariant, on the golden models: every typed operator the manifest uses runs
/// a scalar kernel (not only the runtime's alias) in some case.
#[test]
fn every_typed_op_in_the_manifest_gets_a_scalar_kernel() {
    let manifest = manifest().expect("testdata/manifest.json loads");
    let report = scalar_suite();
    let mut present = 0;
    let mut missing = Vec::new();
    for &(_, op) in tflrs_ir::TYPED_BUILTINS {
        if !manifest.cases.iter().any(|c| c.uses_op(op)) {
            continue;
        }
        present += 1;
        let has_kernel = report
            .planned_nodes()
            .any(|(_, n)| n.op == op && n.backend == "scalar" && n.kernel != ALIAS_KERNEL);
        let aliased_only = ALIASED_IN_EVERY_CASE.contains(&op);
        if has_kernel && aliased_only {
            missing.push(format!(
                "{op} now has a kernel in a golden plan: remove it from ALIASED_IN_EVERY_CASE"
            ));
        } else if !has_kernel && !aliased_only {
            missing.push(format!("{op}: no scalar kernel in any golden plan"));
        } else if aliased_only {
            let aliased = report
                .planned_nodes()
                .any(|(_, n)| n.op == op && n.kernel == ALIAS_KERNEL);
            match scalar_kernel_for(op) {
                Some(name) if aliased && name.starts_with(&op.to_ascii_lowercase()) => {}
                got => missing.push(format!(
                    "{op}: aliased in a golden plan: {aliased}, scalar kernel: {got:?}"
                )),
            }
        }
    }
    assert!(
        present > 80,
        "only {present} typed operators in the manifest"
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Every kernel of every golden plan is named `{op}_{dtype}__{backend}[_{variant}]`
/// (`conformance::check_kernel_name` has the details).
#[test]
fn kernel_names_follow_the_grammar() {
    let report = scalar_suite();
    let mut bad: Vec<String> = report
        .planned_nodes()
        .filter_map(|(case, n)| {
            conformance::check_kernel_name(n)
                .err()
                .map(|e| format!("{case}: {e}"))
        })
        .collect();
    bad.sort();
    bad.dedup();
    assert!(report.planned_nodes().count() > 1000);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The example backend of `examples/counting-backend` under the same suite: it must plan, and
/// run, the float32 ADDs of the float models.
#[test]
fn counting_backend_matches_litert_reference_and_claims_its_adds() {
    let counting = CountingBackend::new();
    let report = Suite::new("counting")
        .must_claim(|case, node| node.op == "ADD" && COUNTING_ADDS.contains(&case.name.as_str()))
        .run(|case| run_case(case, vec![Box::new(counting.clone())]))
        .expect("testdata loads");
    if let Err(e) = report.check() {
        panic!("{e}");
    }
    let claimed = report
        .planned_nodes()
        .filter(|(_, n)| n.backend == "counting")
        .count();
    // Each case is invoked once, so each claimed node ran at least once.
    assert!(
        counting.calls() >= claimed && claimed >= COUNTING_ADDS.len(),
        "{} runs of {claimed} claimed nodes",
        counting.calls()
    );
}

/// The device-owning test backend (`tflrs_runtime::host_device`) under the same suite: every
/// convolution, fully-connected and elementwise ADD/MUL node runs inside one of its partitions,
/// and the outputs still match LiteRT.
#[test]
fn host_device_backend_matches_litert_reference_and_claims_its_partitions() {
    use tflrs_runtime::host_device::HostDeviceBackend;
    const MUST: &[&str] = &[
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "ADD",
        "MUL",
    ];
    let report = Suite::new("host-device")
        .must_claim(|_, node| MUST.contains(&node.op.as_str()))
        .run(|case| run_case(case, vec![Box::new(HostDeviceBackend::new())]))
        .expect("testdata loads");
    if let Err(e) = report.check() {
        panic!("{e}");
    }
}

/// The SIMD backend (`tflrs-simd`) at this host's level (or the lower one `TFLRS_SIMD_ISA`
/// names) under the same suite, named as the level (`avx2`, `sse41`, `portable`), so that its
/// known gaps are `known_gaps/<level>.txt`: it must plan every float32 node of the operators
/// it has kernels for ([`SIMD_MUST_CLAIM`]), and its kernels' names follow the grammar.
#[test]
fn simd_backend_matches_litert_reference_and_claims_its_kernels() {
    use tflrs_simd::SimdBackend;
    let simd = SimdBackend::new();
    let name = simd.isa().name();
    let report = Suite::new(name)
        .must_claim(|case, node| simd_must_claim(&case.name, node))
        .run(|case| run_case(case, vec![Box::new(simd)]))
        .expect("testdata loads");
    if let Err(e) = report.check() {
        panic!("{e}");
    }
    let mut bad: Vec<String> = report
        .planned_nodes()
        .filter(|(_, n)| n.backend == name)
        .filter_map(|(case, n)| {
            conformance::check_kernel_name(n)
                .err()
                .map(|e| format!("{case}: {e}"))
        })
        .collect();
    bad.sort();
    bad.dedup();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let mut by_op = std::collections::BTreeMap::<&str, usize>::new();
    for (_, n) in report.planned_nodes().filter(|(_, n)| n.backend == name) {
        *by_op.entry(n.op.as_str()).or_default() += 1;
    }
    println!("nodes planned by backend {name}: {by_op:?}");
}

/// Operators whose float32 nodes the SIMD backend must plan: the GEMM family's (CONV_2D,
/// FULLY_CONNECTED, BATCH_MATMUL, TRANSPOSE_CONV), DEPTHWISE_CONV_2D, the elementwise family's
/// (`tflrs_simd::elementwise`), the pools, the activations LOGISTIC, TANH, HARD_SWISH and
/// GELU, and SOFTMAX.
const SIMD_MUST_CLAIM: &[&str] = &[
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "SUB",
    "MUL",
    "MAXIMUM",
    "MINIMUM",
    "SQUARED_DIFFERENCE",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "LEAKY_RELU",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "BATCH_MATMUL",
    "TRANSPOSE_CONV",
    "LOGISTIC",
    "TANH",
    "HARD_SWISH",
    "GELU",
    "SOFTMAX",
];

/// Cases whose float32 MEAN nodes average over the spatial axes (`[1, 2]` of NHWC), which the
/// SIMD backend's MEAN kernel takes (it declines other axes).
const SIMD_SPATIAL_MEAN: &[&str] = &["op_mean_f32_axis12_keep"];

/// Cases whose int8 weights are computed (a DENSIFY of sparse weights): the int8 GEMM packs
/// only constant weights, so the scalar kernel runs them.
const SIMD_INT8_COMPUTED_WEIGHTS: &[&str] = &["op_densify_i8_conv"];

/// Whether `node` is a float32 node of one of [`SIMD_MUST_CLAIM`]'s operators: its kernel,
/// whichever backend made it, is named `{op}_f32__...` (a float16 or quantized node's is not,
/// nor a hybrid one's); or an int8 FULLY_CONNECTED, CONV_2D or TRANSPOSE_CONV
/// (`fully_connected_i8__...`, `conv_2d_i8__...`, `transpose_conv_i8__...`), which the exact int8
/// GEMM takes whenever the weights are constant and, for CONV_2D, there is one group, an int8
/// DEPTHWISE_CONV_2D (constant filter), or an int8 ADD, SUB, MUL, MAX_POOL_2D or
/// AVERAGE_POOL_2D: every such node here but those of [`SIMD_INT8_COMPUTED_WEIGHTS`]; or a
/// hybrid FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, BATCH_MATMUL or TRANSPOSE_CONV
/// (`{op}_hybrid_i8__...`, constant int8 weights, one group).
fn simd_must_claim(case: &str, node: &PlannedNode) -> bool {
    let op = node.op.to_ascii_lowercase();
    let int8 = matches!(
        node.op.as_str(),
        "FULLY_CONNECTED"
            | "CONV_2D"
            | "TRANSPOSE_CONV"
            | "DEPTHWISE_CONV_2D"
            | "ADD"
            | "SUB"
            | "MUL"
            | "MAX_POOL_2D"
            | "AVERAGE_POOL_2D"
    ) && !SIMD_INT8_COMPUTED_WEIGHTS.contains(&case);
    let hybrid = matches!(
        node.op.as_str(),
        "FULLY_CONNECTED" | "CONV_2D" | "DEPTHWISE_CONV_2D" | "BATCH_MATMUL" | "TRANSPOSE_CONV"
    );
    let spatial_mean = node.op == "MEAN" && SIMD_SPATIAL_MEAN.contains(&case);
    (SIMD_MUST_CLAIM.contains(&node.op.as_str()) || spatial_mean)
        && (node.kernel.starts_with(&format!("{op}_f32__"))
            || (int8 && node.kernel.starts_with(&format!("{op}_i8__")))
            || (hybrid && node.kernel.starts_with(&format!("{op}_hybrid_i8__"))))
}

/// Cases whose every ADD is a float32 ADD (the float models' residual connections).
const COUNTING_ADDS: &[&str] = &[
    "cnn_small_dynamic_range",
    "cnn_small_float16",
    "cnn_small_float32",
    "mobilenet_v2_035_96_dynamic_range",
    "mobilenet_v2_035_96_float16",
    "mobilenet_v2_035_96_float32",
];

/// With `preserve_inputs(false)` the arena is never larger, and the whole-model cases still
/// match LiteRT (inputs are written before the one invoke; inputs of another batch than the
/// stored one are resized first). Known gaps of the scalar suite are left out.
#[test]
fn reusing_input_memory_shrinks_the_arena_and_keeps_results() {
    let manifest = manifest().expect("testdata/manifest.json loads");
    let root = tflrs_testdata::testdata_dir();
    let gaps = conformance::known_gaps("scalar").expect("known gaps load");
    let whole_models = manifest
        .cases
        .iter()
        .filter(|c| !c.name.starts_with("op_") && !gaps.contains(&c.name));
    for entry in whole_models {
        let case = Case::from_entry(&root, entry).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let build = |preserve: bool| {
            let mut interp = Interpreter::builder(&model)
                .preserve_inputs(preserve)
                .build()
                .unwrap();
            for (i, input) in case.inputs.iter().enumerate() {
                if interp.input_info(i).unwrap().shape != input.shape {
                    interp.resize_input(i, &input.shape).unwrap();
                }
            }
            interp
        };
        let preserved = build(true).arena_bytes();
        let mut interp = build(false);
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

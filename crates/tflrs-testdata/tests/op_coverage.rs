//! Every builtin operator the interpreter must run (issue 5's list) has a golden case in float32
//! and in int8, or a recorded skip that says why not.

use tflrs_testdata::{Mode, manifest};

/// The builtin operators of the interpreter issue, in its order.
const OPERATORS: &[&str] = &[
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "TRANSPOSE_CONV",
    "BATCH_MATMUL",
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "SQUARED_DIFFERENCE",
    "MAXIMUM",
    "MINIMUM",
    "ABS",
    "NEG",
    "EXP",
    "LOG",
    "SQRT",
    "RSQRT",
    "POW",
    "SQUARE",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "LEAKY_RELU",
    "PRELU",
    "HARD_SWISH",
    "GELU",
    "LOGISTIC",
    "TANH",
    "SOFTMAX",
    "LOG_SOFTMAX",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "L2_NORMALIZATION",
    "MEAN",
    "SUM",
    "REDUCE_MAX",
    "REDUCE_MIN",
    "ARG_MAX",
    "ARG_MIN",
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "TRANSPOSE",
    "CONCATENATION",
    "PACK",
    "UNPACK",
    "SPLIT",
    "SPLIT_V",
    "SLICE",
    "STRIDED_SLICE",
    "GATHER",
    "PAD",
    "PADV2",
    "MIRROR_PAD",
    "TILE",
    "FILL",
    "SHAPE",
    "CAST",
    "QUANTIZE",
    "DEQUANTIZE",
    "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR",
    "DEPTH_TO_SPACE",
    "SPACE_TO_DEPTH",
    "SELECT_V2",
    "EQUAL",
    "LESS",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "NOT_EQUAL",
    "LOGICAL_AND",
    "LOGICAL_OR",
    "LOGICAL_NOT",
    "ZEROS_LIKE",
    "DENSIFY",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "WHILE",
    "IF",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "CALL_ONCE",
];

#[test]
fn the_list_is_issue_fives() {
    assert_eq!(OPERATORS.len(), 84);
    let mut sorted = OPERATORS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        OPERATORS.len(),
        "duplicate operator in the list"
    );
}

#[test]
fn every_operator_has_a_float32_and_an_int8_case_or_a_skip() {
    let manifest =
        manifest().expect("testdata/manifest.json loads (run `cargo xtask gen-testdata`)");
    let mut missing = Vec::new();
    for &op in OPERATORS {
        for (mode, dtype) in [(Mode::Float32, "float32"), (Mode::Int8, "int8")] {
            let case = manifest
                .cases
                .iter()
                .any(|c| c.mode == mode && c.uses_op(op));
            let skip = manifest
                .skips
                .iter()
                .any(|s| s.op == op && s.dtype == dtype && !s.reason.trim().is_empty());
            if !case && !skip {
                missing.push(format!("{op} {dtype}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} (operator, dtype) combinations of the interpreter issue have neither a case \
         (a {{float32, int8}}-mode model using the operator) nor a recorded skip in \
         testdata/manifest.json; add them to xtask/testdata/op_models.py and run \
         `cargo xtask gen-testdata`:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

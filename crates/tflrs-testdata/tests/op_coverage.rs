//! Every typed builtin operator of the IR (`tflrs_ir::TYPED_BUILTINS`, the operators tflrs
//! runs) has a golden case in float32 and in int8, or a recorded skip that says why not.

use tflrs_testdata::{Mode, manifest};

#[test]
fn every_typed_operator_has_a_float32_and_an_int8_case_or_a_skip() {
    let manifest =
        manifest().expect("testdata/manifest.json loads (run `cargo xtask gen-testdata`)");
    let mut missing = Vec::new();
    assert!(!tflrs_ir::TYPED_BUILTINS.is_empty());
    for &(_, op) in tflrs_ir::TYPED_BUILTINS {
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
        "{} (typed operator, dtype) combinations have neither a case \
         (a {{float32, int8}}-mode model using the operator) nor a recorded skip in \
         testdata/manifest.json; add them to xtask/testdata/op_models.py and run \
         `cargo xtask gen-testdata`:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

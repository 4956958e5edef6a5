//! Stateful models keep their variables across invokes. The golden of the resource-variable
//! case is one invoke on a fresh interpreter (LiteRT's `acc = acc * 0.5 + x`, with `acc`
//! initialized by a CALL_ONCE subgraph); later invokes follow from it.

use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::Case;

#[test]
fn variables_accumulate_across_invokes_from_litert_first_result() {
    let case = Case::load("op_var_handle_f32_accumulate").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let ops: Vec<String> = Interpreter::new(&model)
        .unwrap()
        .plan_report()
        .into_iter()
        .map(|e| e.op)
        .collect();
    for op in [
        "CALL_ONCE",
        "VAR_HANDLE",
        "READ_VARIABLE",
        "ASSIGN_VARIABLE",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} not in {ops:?}");
    }
    let mut interp = Interpreter::new(&model).unwrap();
    let x: Vec<f32> = bytemuck::cast_slice(&case.inputs[0].data).to_vec();
    let mut acc: Vec<f32> = bytemuck::cast_slice(&case.ref_outputs[0].data).to_vec();
    for round in 0..4 {
        interp.input_mut::<f32>(0).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        let got = interp.output::<f32>(0).unwrap();
        for (k, (g, w)) in got.iter().zip(&acc).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "invoke {round} [{k}]: {g} vs {w}"
            );
        }
        for (a, x) in acc.iter_mut().zip(&x) {
            *a = *a * 0.5 + x;
        }
    }
}

//! Running a `testdata/` case through an interpreter, for the conformance suites.
#![allow(dead_code)]

use tflrs_kernels::Backend;
use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::conformance::{CaseRun, PlannedNode};
use tflrs_testdata::{Case, Npy, npy};

/// Runs `case`'s inputs through the model `bytes` (the case's own model, or one made from it)
/// with an interpreter asking `backends` in order (the scalar backend last), returning its
/// outputs and plan.
pub fn run_case_bytes(
    case: &Case,
    bytes: &[u8],
    backends: Vec<Box<dyn Backend>>,
) -> Result<CaseRun, String> {
    let model = Model::from_bytes(bytes).map_err(|e| e.to_string())?;
    // The backend under test, then the scalar reference: no default SIMD backend in between.
    let mut builder = Interpreter::builder(&model).reference_kernels(true);
    for b in backends {
        builder = builder.boxed_backend(b);
    }
    let mut interp = builder.build().map_err(|e| e.to_string())?;
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
    // After invoke: plans made while running (resized inputs) are in the report too.
    let plan = interp
        .plan_report()
        .into_iter()
        .map(|e| PlannedNode {
            subgraph: e.subgraph,
            node: e.node,
            op: e.op,
            kernel: e.kernel,
            backend: e.backend,
        })
        .collect();
    Ok(CaseRun { outputs, plan })
}

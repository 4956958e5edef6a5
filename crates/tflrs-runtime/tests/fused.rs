//! Every model in `testdata/` after the default fusion passes (`tflrs optimize --fuse`:
//! `tflrs_passes::fuse_passes`, constants folded by the scalar kernels), written to a `.tflite`,
//! read back and run on the scalar backend, compared with LiteRT's reference outputs of the
//! original model: integer outputs bit for bit, float outputs within the manifest's tolerance.
//! Run with `-- --nocapture` for the node counts before and after, per model.

mod common;

use std::sync::Mutex;
use tflrs_ir::Graph;
use tflrs_passes::{PassCtx, fuse_passes};
use tflrs_runtime::ScalarEval;
use tflrs_testdata::conformance::Suite;

#[test]
fn testdata_models_after_fuse_match_litert_reference() {
    let counts = Mutex::new(Vec::new());
    let report = Suite::new("fused")
        .run(|case| {
            let bytes = case.model_bytes().map_err(|e| e.to_string())?;
            let mut graph = Graph::from_tflite(&bytes).map_err(|e| e.to_string())?;
            let eval = ScalarEval::default();
            let passes = fuse_passes()
                .run_report(&mut graph, &PassCtx::new().with_eval(&eval))
                .map_err(|e| e.to_string())?;
            let (before, after) = (passes[0].before.nodes, passes[passes.len() - 1].after.nodes);
            counts
                .lock()
                .unwrap()
                .push((case.name().to_string(), before, after));
            let fused = graph.to_tflite().map_err(|e| e.to_string())?;
            common::case::run_case_bytes(case, &fused, Vec::new())
        })
        .expect("testdata loads");
    let counts = counts.into_inner().unwrap();
    let changed: Vec<_> = counts.iter().filter(|(_, b, a)| a != b).collect();
    println!("fuse: {} of {} models changed", changed.len(), counts.len());
    for (name, before, after) in &changed {
        println!("  {name}: {before} -> {after} nodes");
    }
    if let Err(e) = report.check() {
        panic!("{e}");
    }
}

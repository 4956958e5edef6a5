//! Fuzz entry point of the IR: bytes -> graph -> verify, shape inference, dump -> bytes ->
//! graph, which must equal the first graph.
//!
//! The cargo-fuzz target `import_export` wraps [`import_export`]; the test suite replays it on
//! testdata models, structured mutations of them and saved regressions.

use crate::Graph;

/// Imports `data`; when it imports, exercises verify, shape inference and dump, exports it and
/// checks that the export imports to the same graph: equal, or (where the graph holds a NaN,
/// which is never equal to itself) exporting again gives the same bytes. Panics only on a
/// real bug (a round trip that changes the graph), which is what a fuzzer should report.
pub fn import_export(data: &[u8]) {
    let Ok(graph) = Graph::from_tflite(data) else {
        return;
    };
    let _ = graph.verify();
    let _ = core::hint::black_box(graph.dump());
    let mut inferred = graph.clone();
    let _ = inferred.infer_shapes();
    let Ok(bytes) = graph.to_tflite() else {
        return;
    };
    let again = Graph::from_tflite(&bytes).expect("an exported graph imports");
    if again != graph {
        let twice = again.to_tflite().expect("a re-imported graph exports");
        assert!(
            twice == bytes,
            "import -> export -> import changed the graph"
        );
    }
}

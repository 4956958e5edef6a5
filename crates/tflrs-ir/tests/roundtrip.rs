//! Every model in `testdata/` survives import -> export -> import unchanged, inline and with
//! buffer offsets, with constant data 16-byte aligned.

use std::path::{Path, PathBuf};
use tflrs_ir::{ExportOptions, Graph, Op, export_with};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// `(case name, model path)` of every case in the manifest, plus any model under
/// `testdata/models/` the manifest does not list yet (none when testdata is absent).
fn cases() -> Vec<(String, PathBuf)> {
    let root = testdata();
    let mut cases: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(text) = std::fs::read_to_string(root.join("manifest.json")) {
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        for c in manifest["cases"].as_array().into_iter().flatten() {
            let path = root.join(c["model"].as_str().unwrap());
            if path.exists() {
                cases.push((c["name"].as_str().unwrap().to_string(), path));
            }
        }
    } else {
        eprintln!("no testdata/manifest.json");
    }
    if let Ok(dir) = std::fs::read_dir(root.join("models")) {
        let mut extra: Vec<_> = dir
            .filter_map(|e| e.ok())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.path().join("model.tflite"),
                )
            })
            .filter(|(n, p)| p.exists() && !cases.iter().any(|(c, _)| c == n))
            .collect();
        extra.sort();
        cases.extend(extra);
    }
    cases
}

/// Checks that every buffer with data starts at a 16-byte aligned offset of `bytes`.
fn assert_aligned(name: &str, bytes: &[u8]) {
    let model = tflrs_schema::Model::from_bytes(bytes).unwrap();
    let n = model.root().buffers().map_or(0, |b| b.len());
    for i in 1..n as u32 {
        let data = model.buffer_data(i);
        if !data.is_empty() {
            let offset = data.as_ptr() as usize - bytes.as_ptr() as usize;
            assert_eq!(offset % 16, 0, "{name}: buffer {i} at offset {offset}");
        }
    }
}

#[test]
fn testdata_models_round_trip() {
    let cases = cases();
    let mut opaque = Vec::new();
    for (name, path) in &cases {
        let bytes = std::fs::read(path).unwrap();
        let graph = Graph::from_tflite(&bytes).unwrap_or_else(|e| panic!("{name}: import: {e}"));
        for (s, sg) in graph.subgraphs.iter().enumerate() {
            for (n, node) in sg.nodes.iter().enumerate() {
                if let Op::Opaque(o) = &node.op {
                    opaque.push(format!("{name}: subgraph {s} node {n}: {}", o.name()));
                }
            }
        }
        // Export copies into a Vec with arbitrary alignment; copy into 16-aligned storage
        // before checking offsets relative to the start.
        for threshold in [u64::MAX, 0] {
            let opts = ExportOptions {
                offset_threshold: threshold,
            };
            let out = export_with(&graph, &opts).unwrap_or_else(|e| panic!("{name}: export: {e}"));
            let again = Graph::from_tflite(&out)
                .unwrap_or_else(|e| panic!("{name}: reimport (threshold {threshold}): {e}"));
            assert!(
                again == graph,
                "{name}: graph changed (threshold {threshold})"
            );
            assert_aligned(name, &out);
            // Exporting the re-imported graph gives the same bytes: export is deterministic.
            assert_eq!(export_with(&again, &opts).unwrap(), out, "{name}");
        }
    }
    eprintln!("{} testdata models round-tripped", cases.len());
    for o in &opaque {
        eprintln!("opaque: {o}");
    }
}

/// TensorFlow's converter writes, for each operator, the largest version any of its nodes
/// needs; the per-node rule of `min_version` must give the same maximum. The MediaPipe models
/// (`mediapipe_*`) were written by an older converter with other version numbers (DEQUANTIZE
/// of float16 as 2, not 3), so only the models this repository's converter made are compared.
#[test]
fn imported_versions_match_the_minimal_version_rule() {
    use std::collections::BTreeMap;
    let mut mismatches = Vec::new();
    for (name, path) in cases()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("mediapipe_"))
    {
        let bytes = std::fs::read(&path).unwrap();
        let graph = Graph::from_tflite(&bytes).unwrap();
        // op name -> (largest file version, largest computed version)
        let mut by_op: BTreeMap<String, (i32, i32)> = BTreeMap::new();
        for sg in &graph.subgraphs {
            for node in &sg.nodes {
                if node.op.is_opaque() {
                    continue;
                }
                let computed = tflrs_ir::tflite::min_version(node, sg);
                let e = by_op.entry(node.op.name().into_owned()).or_default();
                e.0 = e.0.max(node.version.unwrap_or(1));
                e.1 = e.1.max(computed);
            }
        }
        for (op, (file, computed)) in by_op {
            if file != computed {
                mismatches.push(format!(
                    "{name}: {op} file version {file}, rule gives {computed}"
                ));
            }
        }
    }
    mismatches.sort();
    mismatches.dedup();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn testdata_models_verify() {
    let mut failures = Vec::new();
    for (name, path) in cases() {
        let bytes = std::fs::read(&path).unwrap();
        let graph = Graph::from_tflite(&bytes).unwrap();
        if let Err(e) = graph.verify() {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Corrupted models: whatever the loader accepts imports, verifies (or not), shape-infers and
/// exports without a panic, and exports to the same graph. A few models by default; all of
/// them with `TFLRS_MUTATE_ALL=1`.
#[test]
fn mutated_models_never_panic() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0;
    let all = std::env::var_os("TFLRS_MUTATE_ALL").is_some();
    for (name, path) in cases().into_iter().filter(|(n, _)| {
        all || n.starts_with("mlp_")
            || n.starts_with("op_strided")
            || n.starts_with("op_reshape")
            || n.starts_with("op_gather")
            || n.starts_with("lstm_small_float32")
    }) {
        let original = std::fs::read(&path).unwrap();
        for _ in 0..300 {
            let mut bytes = original.clone();
            for _ in 0..1 + rand() % 4 {
                let i = (rand() % bytes.len() as u64) as usize;
                bytes[i] = rand() as u8;
            }
            let Ok(graph) = Graph::from_tflite(&bytes) else {
                continue;
            };
            accepted += 1;
            let _ = graph.verify();
            let mut g = graph.clone();
            let _ = g.infer_shapes();
            let _ = graph.dump();
            let out = export_with(&graph, &ExportOptions::default())
                .unwrap_or_else(|e| panic!("{name}: export of an imported model failed: {e}"));
            let again = Graph::from_tflite(&out).unwrap();
            // (NaN scales make `==` false; the dump compares their bits.)
            assert!(
                again == graph || again.dump() == graph.dump(),
                "{name}: mutated model changed"
            );
        }
    }
    eprintln!("{accepted} mutated models accepted by the loader");
}

//! Replays, on stable, what the `build_and_invoke` fuzz target sees: every testdata model,
//! structured mutations of the small ones, and saved crashes in
//! `testdata/fuzz-regressions/build_and_invoke/`.

use std::path::PathBuf;
use tflrs_runtime::fuzz::build_and_invoke;

fn models() -> Vec<PathBuf> {
    let root = tflrs_testdata::testdata_dir();
    let manifest = tflrs_testdata::manifest().expect("manifest loads");
    manifest.cases.iter().map(|c| root.join(&c.model)).collect()
}

#[test]
fn testdata_models_and_mutations_never_panic() {
    let models = models();
    assert!(!models.is_empty());
    for path in models {
        let bytes = std::fs::read(&path).unwrap();
        build_and_invoke(&bytes);
        if bytes.len() <= 64 * 1024 {
            for m in tflrs_schema::fuzz::structured_mutations(&bytes, 40) {
                build_and_invoke(&m);
            }
        }
    }
}

#[test]
fn saved_regressions_replay() {
    let dir = tflrs_testdata::testdata_dir().join("fuzz-regressions/build_and_invoke");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        build_and_invoke(&std::fs::read(e.path()).unwrap());
    }
}

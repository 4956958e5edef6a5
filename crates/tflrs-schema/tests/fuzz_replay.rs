//! Replays, on stable, what the `load_model` fuzz target sees: every testdata model, structured
//! mutations of each, and every saved crash in `testdata/fuzz-regressions/load_model/`.

use std::path::{Path, PathBuf};
use tflrs_schema::{Model, fuzz};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn models() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![testdata().join("models")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "tflite") {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn testdata_models_load() {
    let models = models();
    assert!(!models.is_empty(), "no .tflite files under testdata/models");
    for path in models {
        let bytes = std::fs::read(&path).unwrap();
        if let Err(e) = Model::from_bytes(&bytes) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn structured_mutations_of_testdata_never_panic() {
    let mut mutations = 0;
    let mut refused = 0;
    for path in models() {
        let bytes = std::fs::read(&path).unwrap();
        for m in fuzz::structured_mutations(&bytes, 300) {
            mutations += 1;
            refused += usize::from(Model::from_bytes(&m).is_err());
            fuzz::load_model(&m);
        }
    }
    assert!(mutations > 0);
    // Most mutations write values the checks must refuse; if none is refused, the checks
    // (or the mutator) are broken.
    assert!(
        refused * 2 > mutations,
        "only {refused} of {mutations} mutations refused"
    );
}

#[test]
fn saved_regressions_replay() {
    let dir = testdata().join("fuzz-regressions/load_model");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        fuzz::load_model(&bytes);
    }
}

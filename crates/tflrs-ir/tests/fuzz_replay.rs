//! Replays, on stable, what the `import_export` fuzz target sees: testdata models, structured
//! mutations of the small ones, and saved crashes in `testdata/fuzz-regressions/import_export/`.

use std::path::Path;
use tflrs_ir::fuzz::import_export;

fn testdata() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

#[test]
fn testdata_models_and_mutations_round_trip() {
    let dir = testdata().join("models");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = e.path().join("model.tflite");
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        import_export(&bytes);
        n += 1;
        if bytes.len() <= 16 * 1024 {
            for m in tflrs_schema::fuzz::structured_mutations(&bytes, 30) {
                import_export(&m);
            }
        }
    }
    assert!(n > 0, "no models under {}", dir.display());
}

#[test]
fn saved_regressions_replay() {
    let Ok(entries) = std::fs::read_dir(testdata().join("fuzz-regressions/import_export")) else {
        return;
    };
    for e in entries.flatten() {
        import_export(&std::fs::read(e.path()).unwrap());
    }
}

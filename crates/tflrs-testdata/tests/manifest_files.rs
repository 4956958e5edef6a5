//! Every manifest entry's files exist and hold what the manifest says.

use std::collections::BTreeSet;

use tflrs_testdata::{Case, Family, Mode, compare, manifest, testdata_dir};

#[test]
fn every_case_loads_with_the_manifest_shapes_and_dtypes() {
    let root = testdata_dir();
    let manifest =
        manifest().expect("testdata/manifest.json loads (run `cargo xtask gen-testdata`)");
    assert!(!manifest.cases.is_empty(), "the manifest has no cases");
    let mut failures = Vec::new();
    for entry in &manifest.cases {
        match Case::from_entry(&root, entry) {
            Ok(case) => {
                let model = case.model_bytes().expect("model readable");
                // A FlatBuffer with the TFLite file identifier.
                if model.get(4..8) != Some(b"TFL3".as_slice()) {
                    failures.push(format!(
                        "{}: model.tflite has no TFL3 identifier",
                        entry.name
                    ));
                }
                if case.inputs.len() != entry.inputs.len() || case.ref_outputs.is_empty() {
                    failures.push(format!("{}: no inputs or outputs", entry.name));
                }
                // LiteRT's two paths agree with each other as recorded.
                for (k, (r, x)) in case
                    .ref_outputs
                    .iter()
                    .zip(&case.xnnpack_outputs)
                    .enumerate()
                {
                    let recorded = entry.outputs[k].xnnpack_max_abs_diff;
                    if let Err(m) = compare(r, x, tflrs_testdata::Tolerance::within(recorded)) {
                        failures.push(format!(
                            "{}: output {k}: xnnpack_max_abs_diff is wrong: {m}",
                            entry.name
                        ));
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", entry.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn names_are_unique_and_folders_match() {
    let root = testdata_dir();
    let manifest = manifest().unwrap();
    let mut names = BTreeSet::new();
    for n in manifest
        .cases
        .iter()
        .map(|c| &c.name)
        .chain(manifest.skips.iter().map(|s| &s.name))
    {
        assert!(names.insert(n.clone()), "name {n} used twice");
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "bad name {n}"
        );
    }
    let folders: BTreeSet<String> = std::fs::read_dir(root.join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let cases: BTreeSet<String> = manifest.cases.iter().map(|c| c.name.clone()).collect();
    assert_eq!(
        folders, cases,
        "folders under testdata/models and manifest cases differ"
    );
    for s in &manifest.skips {
        assert!(!s.reason.trim().is_empty(), "skip {} has no reason", s.name);
    }
}

#[test]
fn architectures_cover_the_four_modes() {
    let manifest = manifest().unwrap();
    for arch in [
        "mlp",
        "cnn_small",
        "kws_dscnn",
        "mobilenet_v2_035_96",
        "lstm_small",
    ] {
        for mode in [Mode::Float32, Mode::DynamicRange, Mode::Float16, Mode::Int8] {
            let name = format!("{arch}_{mode}");
            let case = manifest.case(&name);
            let skipped = manifest.skips.iter().any(|s| s.name == name);
            assert!(case.is_some() || skipped, "no case and no skip for {name}");
            if let Some(c) = case {
                assert_eq!((c.family, c.mode), (Family::Arch, mode), "{name}");
            }
        }
    }
}

#[test]
fn testdata_stays_small() {
    fn size(p: &std::path::Path) -> u64 {
        let meta = std::fs::metadata(p).unwrap();
        if meta.is_dir() {
            std::fs::read_dir(p)
                .unwrap()
                .map(|e| size(&e.unwrap().path()))
                .sum()
        } else {
            meta.len()
        }
    }
    let total = size(&testdata_dir());
    assert!(
        total < 15 * 1024 * 1024,
        "testdata/ is {total} bytes, over 15 MiB"
    );
}

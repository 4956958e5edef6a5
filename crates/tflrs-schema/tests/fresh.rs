//! The committed bindings must come from the committed `.fbs`: regenerate with
//! `cargo xtask gen-schema` after editing `schema/schema.fbs`.

use sha2::{Digest, Sha256};

#[test]
fn generated_bindings_match_the_schema() {
    let fbs = include_bytes!("../schema/schema.fbs");
    let hash: String = Sha256::digest(fbs)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        tflrs_schema::GENERATED_FROM_SHA256,
        hash,
        "crates/tflrs-schema/src/generated/schema_generated.rs is stale: run `cargo xtask gen-schema`"
    );
}

//! The README's library block is `examples/classify.rs` (which `cargo test` builds), so that
//! the code a reader copies compiles as shown.

#[test]
fn readme_library_block_is_the_classify_example() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = include_str!("../examples/classify.rs");
    let body: Vec<&str> = example.lines().filter(|l| !l.starts_with("//!")).collect();
    let block = format!("```rust\n{}\n```\n", body.join("\n").trim());
    assert!(
        readme.contains(&block),
        "README.md's library block differs from examples/classify.rs; it should read:\n{block}"
    );
}

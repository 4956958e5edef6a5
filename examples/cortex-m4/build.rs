//! Embeds a model, its inputs and (if present) its reference outputs into the firmware.
//!
//! `TFLRS_FW_CASE` names a directory laid out like a `testdata/models/<case>/` one:
//! `model.tflite`, `input_<k>.npy` for k = 0, 1, ... and optionally `ref_output_<k>.npy`
//! (default: `testdata/models/mlp_int8`). `TFLRS_FW_HEAP` is the heap's size in bytes (default
//! 262144). The `.npy` files' data (C order) is what the firmware copies into the inputs and
//! compares the outputs with.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());

    // The linker script cortex-m-rt's link.x includes.
    fs::copy(manifest.join("memory.x"), out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=TFLRS_FW_CASE");
    println!("cargo:rerun-if-env-changed=TFLRS_FW_HEAP");

    let case = env::var_os("TFLRS_FW_CASE").map_or_else(
        || manifest.join("../../testdata/models/mlp_int8"),
        PathBuf::from,
    );
    let heap: usize = env::var("TFLRS_FW_HEAP")
        .ok()
        .map(|v| v.parse().expect("TFLRS_FW_HEAP is a number of bytes"))
        .unwrap_or(256 * 1024);

    let model = case.join("model.tflite");
    println!("cargo:rerun-if-changed={}", model.display());
    fs::copy(&model, out.join("model.tflite"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", model.display()));

    let mut src = String::new();
    let _ = writeln!(src, "pub const HEAP_BYTES: usize = {heap};");
    for (list, prefix) in [("INPUTS", "input_"), ("REFERENCES", "ref_output_")] {
        let _ = writeln!(src, "pub static {list}: &[&[u8]] = &[");
        for k in 0.. {
            let file = case.join(format!("{prefix}{k}.npy"));
            println!("cargo:rerun-if-changed={}", file.display());
            let Ok(bytes) = fs::read(&file) else { break };
            let name = format!("{prefix}{k}.bin");
            fs::write(out.join(&name), npy_data(&file, &bytes)).unwrap();
            let _ = writeln!(
                src,
                "    include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}\")),"
            );
        }
        let _ = writeln!(src, "];");
    }
    fs::write(out.join("data.rs"), src).unwrap();
}

/// The data of a `.npy` file (after its header).
fn npy_data<'a>(file: &Path, bytes: &'a [u8]) -> &'a [u8] {
    assert!(
        bytes.len() >= 10 && bytes.starts_with(b"\x93NUMPY"),
        "{} is not a .npy file",
        file.display()
    );
    let start = if bytes[6] == 1 {
        10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))
    } else {
        assert!(bytes.len() >= 12, "{} is truncated", file.display());
        12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    assert!(start <= bytes.len(), "{} is truncated", file.display());
    &bytes[start..]
}

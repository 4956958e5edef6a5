//! bytes -> IR -> bytes -> IR, which must be the same graph.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tflrs_ir::fuzz::import_export(data));

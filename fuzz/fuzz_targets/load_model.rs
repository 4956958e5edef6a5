//! bytes -> verified model -> every part of it read.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tflrs_schema::fuzz::load_model(data));

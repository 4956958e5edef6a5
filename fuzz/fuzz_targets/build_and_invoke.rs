//! bytes -> verified model -> interpreter within small limits -> invoke with seeded inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tflrs_runtime::fuzz::build_and_invoke(data));

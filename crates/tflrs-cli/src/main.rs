//! The `tflrs` command-line tool.
fn main() {}

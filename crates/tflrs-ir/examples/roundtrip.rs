//! Reads a `.tflite`, imports it, exports it and writes the result: the identity that
//! `tflrs optimize` applies with no flags, with a knob for the buffer-offset layout.
//!
//! ```text
//! cargo run -p tflrs-ir --example roundtrip -- IN.tflite OUT.tflite [--offset-threshold BYTES]
//! ```

use std::process::ExitCode;
use tflrs_ir::{ExportOptions, Graph, export_with};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, output) = match (args.first(), args.get(1)) {
        (Some(i), Some(o)) => (i, o),
        _ => {
            eprintln!("usage: roundtrip IN.tflite OUT.tflite [--offset-threshold BYTES]");
            return ExitCode::from(2);
        }
    };
    let mut options = ExportOptions::default();
    if let Some(pos) = args.iter().position(|a| a == "--offset-threshold") {
        match args.get(pos + 1).and_then(|v| v.parse().ok()) {
            Some(t) => options.offset_threshold = t,
            None => {
                eprintln!("--offset-threshold needs a number of bytes");
                return ExitCode::from(2);
            }
        }
    }
    let result = std::fs::read(input)
        .map_err(|e| format!("reading {input}: {e}"))
        .and_then(|bytes| {
            let graph = Graph::from_tflite(&bytes).map_err(|e| format!("{input}: {e}"))?;
            let out = export_with(&graph, &options).map_err(|e| format!("{input}: {e}"))?;
            std::fs::write(output, out).map_err(|e| format!("writing {output}: {e}"))
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

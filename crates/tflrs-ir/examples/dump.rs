//! Prints a model's graph in the stable text form of `Graph::dump`.
//!
//! ```text
//! cargo run -p tflrs-ir --example dump -- MODEL.tflite
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: dump MODEL.tflite");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: reading {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match tflrs_ir::Graph::from_tflite(&bytes) {
        Ok(graph) => {
            print!("{}", graph.dump());
            if let Err(e) = graph.verify() {
                eprintln!("verify: {e}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}

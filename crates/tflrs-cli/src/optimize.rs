//! `tflrs optimize IN -o OUT`: read a model through the IR and write it back.
//!
//! With no flags no pass runs: the model is imported and exported unchanged (the identity),
//! which normalizes the file (deduplicated, 16-byte aligned buffers) without changing what
//! LiteRT computes. The passes add their flags here later.

use anyhow::Context;
use std::path::Path;

/// Reads `input`, imports it into the graph IR, exports it and writes `output`.
pub fn run(input: &Path, output: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let graph = tflrs_ir::Graph::from_tflite(&bytes)
        .with_context(|| format!("loading {}", input.display()))?;
    let out = graph
        .to_tflite()
        .with_context(|| format!("writing the model of {}", input.display()))?;
    std::fs::write(output, out).with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}

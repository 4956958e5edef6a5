//! `cargo xtask`: project automation for tflrs.
//!
//! - `cargo xtask gen-schema [--check]`: regenerate the FlatBuffers bindings of `tflrs-schema`.
//! - `cargo xtask gen-testdata`: rebuild `testdata/` with TensorFlow and LiteRT.
//! - `cargo xtask bench [--runs N]`: tflrs beside LiteRT (reference, XNNPACK) on testdata models.
//! - `cargo xtask fuzz [--seconds N]`: run the cargo-fuzz targets, saving crashes as regressions.
//! - `cargo xtask qemu MODEL -i IN.npy -o OUTDIR`: run a model on a Cortex-M4F firmware in QEMU.

mod bench;
mod fuzz;
mod qemu;
mod schema;
mod testdata;
mod venv;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "tflrs project automation")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Regenerate crates/tflrs-schema/src/generated from schema/schema.fbs with flatc.
    GenSchema {
        /// Do not write: fail if the committed bindings differ from what flatc generates.
        #[arg(long)]
        check: bool,
    },
    /// Rebuild testdata/ (models, inputs, LiteRT goldens, manifest) with TensorFlow and LiteRT.
    GenTestdata(testdata::Args),
    /// Time tflrs beside LiteRT (reference kernels, XNNPACK) on the same models and inputs.
    Bench(bench::Args),
    /// Run each fuzz target for a time budget; crashes land in testdata/fuzz-regressions/.
    Fuzz(fuzz::Args),
    /// Run a model in the Cortex-M4F firmware (examples/cortex-m4) under QEMU; outputs as .npy,
    /// RAM and flash figures as JSON.
    Qemu(qemu::Args),
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::GenSchema { check } => schema::gen_schema(check),
        Cmd::GenTestdata(args) => testdata::gen_testdata(args),
        Cmd::Bench(args) => bench::bench(args),
        Cmd::Fuzz(args) => fuzz::fuzz(args),
        Cmd::Qemu(args) => qemu::qemu(args),
    }
}

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

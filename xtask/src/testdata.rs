//! `cargo xtask gen-testdata`: placeholder until the test-data generator lands.

use anyhow::{Result, bail};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn gen_testdata(_args: Args) -> Result<()> {
    bail!("gen-testdata is not implemented yet")
}

//! `cargo xtask gen-testdata [--only PATTERN]... [--module NAME]...`
//!
//! Creates (or updates) the virtualenv `.venv-testdata` with the exact packages pinned in
//! `xtask/testdata/requirements.txt` (TensorFlow, LiteRT, NumPy and what they pull in), then runs
//! `xtask/testdata/gen_testdata.py testdata/`, which trains and converts the models, runs LiteRT
//! on them and writes `testdata/models/<case>/` and `testdata/manifest.json`. The output is
//! deterministic: running it twice leaves `git status` clean.

use crate::venv::{Venv, run};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;
use std::process::Command;

const VENV: &str = ".venv-testdata";
const REQUIREMENTS: &str = "xtask/testdata/requirements.txt";
const SCRIPT: &str = "xtask/testdata/gen_testdata.py";
const OUT: &str = "testdata";
/// Written into the virtualenv after a successful install: the hash of the requirements file.
const STAMP: &str = "tflrs-requirements.sha256";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Regenerate only the cases whose name matches (a glob with `*?[`, else a substring);
    /// other manifest entries are kept. Repeatable. Without it, everything is rewritten and
    /// stale case folders are deleted.
    #[arg(long, value_name = "PATTERN")]
    only: Vec<String>,
    /// Run only this builder module (`arch_models`, `op_models`, `op_models_math`,
    /// `op_models_index`, `op_models_rest`, `keras_models` or `real_models`); repeatable.
    #[arg(long, value_name = "NAME")]
    module: Vec<String>,
}

pub fn gen_testdata(args: Args) -> Result<()> {
    let root = crate::root();
    let venv = Venv::open(&root, VENV)?;
    ensure_requirements(&root, &venv)?;

    let mut cmd = Command::new(venv.bin("python"));
    cmd.current_dir(&root)
        .arg(root.join(SCRIPT))
        .arg(root.join(OUT))
        // Fixed hashing, CPU only, one thread, deterministic TensorFlow ops.
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("CUDA_VISIBLE_DEVICES", "")
        .env("TF_DETERMINISTIC_OPS", "1")
        .env("TF_ENABLE_ONEDNN_OPTS", "0")
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .env("OMP_NUM_THREADS", "1");
    for pattern in &args.only {
        cmd.arg("--only").arg(pattern);
    }
    for module in &args.module {
        cmd.arg("--module").arg(module);
    }
    run(&mut cmd).context("generating testdata/")?;
    eprintln!("xtask: testdata/ regenerated; check `git status` and commit it");
    Ok(())
}

/// Installs the pinned requirements unless this exact file was installed before.
fn ensure_requirements(root: &Path, venv: &Venv) -> Result<()> {
    let req_path = root.join(REQUIREMENTS);
    let req = fs::read(&req_path).with_context(|| format!("reading {}", req_path.display()))?;
    let hash: String = Sha256::digest(&req)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stamp = venv.dir().join(STAMP);
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == hash) {
        return Ok(());
    }
    let req_arg = req_path
        .to_str()
        .context("the repository path is not UTF-8")?;
    venv.pip_install(&["-r", req_arg])?;
    fs::write(&stamp, format!("{hash}\n"))
        .with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

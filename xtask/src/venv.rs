//! Python virtual environments that xtask commands create on demand (ignored by git).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A virtualenv under the workspace root, created with `python3 -m venv` when missing.
#[derive(Debug)]
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// Opens (creating if needed) the virtualenv `dir_name` at the workspace root.
    pub fn open(root: &Path, dir_name: &str) -> Result<Self> {
        let dir = root.join(dir_name);
        if !dir.join("bin/python").exists() {
            eprintln!("xtask: creating virtualenv {}", dir.display());
            run(Command::new("python3").arg("-m").arg("venv").arg(&dir))
                .context("creating a Python virtualenv (is python3 with venv installed?)")?;
        }
        Ok(Self { dir })
    }

    /// The virtualenv's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of an executable inside the virtualenv.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// `pip install` the given requirement specifiers (pinned versions) quietly.
    pub fn pip_install(&self, requirements: &[&str]) -> Result<()> {
        eprintln!("xtask: pip install {}", requirements.join(" "));
        run(Command::new(self.bin("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(requirements))
    }
}

/// Runs a command, failing with its command line when it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("spawning {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

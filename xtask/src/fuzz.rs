//! `cargo xtask fuzz [--seconds N] [--target T]`: runs each cargo-fuzz target for a time
//! budget on a corpus seeded from `testdata/` (the models and structured mutations of them),
//! and copies every crash into `testdata/fuzz-regressions/<target>/`, where an ordinary
//! `cargo test` replays it.

use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fuzz targets, in the order they run.
pub const TARGETS: &[&str] = &["load_model", "import_export", "build_and_invoke"];

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Fuzz only this target.
    #[arg(long)]
    target: Option<String>,
    /// Parallel fuzzing jobs per target.
    #[arg(long, default_value_t = 1)]
    jobs: u32,
}

pub fn fuzz(args: Args) -> Result<()> {
    let root = crate::root();
    let targets: Vec<&str> = match &args.target {
        Some(t) if TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => bail!("unknown fuzz target {t}; targets: {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let mut failed = Vec::new();
    for target in targets {
        let corpus = root.join("fuzz/corpus").join(target);
        let seeds = seed_corpus(&root, &corpus)?;
        eprintln!(
            "xtask: fuzzing {target} for {}s ({seeds} seeds added)",
            args.seconds
        );
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&root)
            .args(["+nightly", "fuzz", "run", "--fuzz-dir"])
            .arg(root.join("fuzz"))
            .arg(target)
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={}", args.seconds))
            .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]);
        if args.jobs > 1 {
            // libFuzzer writes fuzz-<job>.log files into the working directory.
            cmd.current_dir(root.join("fuzz"))
                .arg(format!("-jobs={}", args.jobs))
                .arg(format!("-workers={}", args.jobs));
        }
        let status = cmd
            .status()
            .context("running cargo +nightly fuzz (install it with `cargo install cargo-fuzz`)")?;
        let saved = save_crashes(&root, target)?;
        let corpus_size = fs::read_dir(&corpus)?.count();
        eprintln!("xtask: {target}: corpus now {corpus_size} files; {saved} crash file(s) saved");
        if !status.success() || saved > 0 {
            failed.push(target);
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzzing found problems in {}: see testdata/fuzz-regressions/",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Writes the testdata models and their structured mutations into the corpus directory.
fn seed_corpus(root: &Path, corpus: &Path) -> Result<usize> {
    fs::create_dir_all(corpus)?;
    let mut n = 0;
    for model in tflite_files(&root.join("testdata/models"))? {
        let bytes = fs::read(&model)?;
        let stem = model
            .parent()
            .and_then(Path::file_name)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Large models slow every execution down; the small ones cover the same structure.
        if bytes.len() > 256 * 1024 {
            continue;
        }
        fs::write(corpus.join(format!("seed_{stem}")), &bytes)?;
        n += 1;
        for (i, m) in tflrs_schema::fuzz::structured_mutations(&bytes, 64)
            .into_iter()
            .enumerate()
        {
            fs::write(corpus.join(format!("seed_{stem}_m{i}")), m)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Moves crash/timeout/oom artifacts of a target into testdata/fuzz-regressions/<target>/.
fn save_crashes(root: &Path, target: &str) -> Result<usize> {
    let artifacts = root.join("fuzz/artifacts").join(target);
    let Ok(entries) = fs::read_dir(&artifacts) else {
        return Ok(0);
    };
    let dest = root.join("testdata/fuzz-regressions").join(target);
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ["crash-", "timeout-", "oom-", "leak-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            fs::create_dir_all(&dest)?;
            fs::copy(e.path(), dest.join(&name))?;
            fs::remove_file(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

pub fn tflite_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "tflite") {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
}

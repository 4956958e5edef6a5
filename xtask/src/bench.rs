//! `cargo xtask bench [--runs N] [--backend scalar|simd] [--python PY] [MODEL ...]`: tflrs
//! beside LiteRT on the same models and inputs, in one run, as a table of medians and ratios.
//!
//! tflrs: the `time-models` binary of `tflrs-benches` (release build; the SIMD backend unless
//! `--backend scalar`). LiteRT: `xtask/scripts/bench_litert.py` in `.venv-testdata` (made by
//! `cargo xtask gen-testdata`), or any Python with `ai-edge-litert` and `numpy` given with
//! `--python`, with the reference kernels (`BUILTIN_REF`) and the default XNNPACK path, both on
//! one thread. LiteRT's times include the Python call overhead of `invoke()` (a few
//! microseconds), which matters only for the smallest models.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::process::Command;

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Timed runs per model and runtime (the median is reported).
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// tflrs's backend in front of the scalar one (`scalar` for none).
    #[arg(long, default_value = "simd", value_parser = ["scalar", "simd"])]
    backend: String,
    /// A Python with `ai-edge-litert` and `numpy` (default: `.venv-testdata/bin/python`).
    #[arg(long)]
    python: Option<std::path::PathBuf>,
    /// Models (testdata case names); default: the whole-model cases.
    models: Vec<String>,
}

const DEFAULT_MODELS: &[&str] = &[
    "mlp_float32",
    "mlp_int8",
    "kws_dscnn_float32",
    "kws_dscnn_int8",
    "cnn_small_float32",
    "cnn_small_int8",
    "mobilenet_v2_035_96_float32",
    "mobilenet_v2_035_96_int8",
];

type Row = BTreeMap<String, serde_json::Value>;

fn parse_lines(out: &[u8]) -> Result<BTreeMap<String, Row>> {
    let mut rows = BTreeMap::new();
    for line in String::from_utf8_lossy(out)
        .lines()
        .filter(|l| l.starts_with('{'))
    {
        let row: Row = serde_json::from_str(line).with_context(|| format!("parsing {line}"))?;
        let name = row
            .get("model")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        rows.insert(name, row);
    }
    Ok(rows)
}

pub fn bench(args: Args) -> Result<()> {
    let root = crate::root();
    let models: Vec<String> = if args.models.is_empty() {
        DEFAULT_MODELS.iter().map(|s| s.to_string()).collect()
    } else {
        args.models
    };
    let python = args
        .python
        .clone()
        .unwrap_or_else(|| root.join(".venv-testdata/bin/python"));
    if !python.exists() {
        bail!(
            "{} is missing: run `cargo xtask gen-testdata` once to create it, or pass --python",
            python.display()
        );
    }
    eprintln!("xtask: timing tflrs (release, {} backend)", args.backend);
    let out = Command::new("cargo")
        .current_dir(&root)
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "tflrs-benches",
            "--bin",
            "time-models",
            "--",
            "--backend",
            &args.backend,
            "--runs",
        ])
        .arg(args.runs.to_string())
        .args(&models)
        .output()
        .context("running time-models")?;
    if !out.status.success() {
        bail!(
            "time-models failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ours = parse_lines(&out.stdout)?;
    eprintln!("xtask: timing LiteRT (reference kernels, XNNPACK; 1 thread)");
    let out = Command::new(&python)
        .arg(root.join("xtask/scripts/bench_litert.py"))
        .arg(root.join("testdata"))
        .arg(args.runs.to_string())
        .args(&models)
        .output()
        .context("running bench_litert.py")?;
    if !out.status.success() {
        bail!(
            "bench_litert.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let theirs = parse_lines(&out.stdout)?;

    let us = |row: Option<&Row>, key: &str| row.and_then(|r| r.get(key)).and_then(|v| v.as_f64());
    println!(
        "{:<30} {:>12} {:>14} {:>14} {:>9} {:>9}",
        "model", "tflrs us", "LiteRT ref us", "XNNPACK us", "ref/tflrs", "xnn/tflrs"
    );
    for name in &models {
        let t = us(ours.get(name), "median_us");
        let r = us(theirs.get(name), "ref_median_us");
        let x = us(theirs.get(name), "xnnpack_median_us");
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "-".to_string(),
        };
        println!(
            "{:<30} {:>12} {:>14} {:>14} {:>9} {:>9}",
            name,
            fmt(t),
            fmt(r),
            fmt(x),
            ratio(r, t),
            ratio(x, t)
        );
        for (who, row) in [("tflrs", ours.get(name)), ("LiteRT", theirs.get(name))] {
            if let Some(e) = row.and_then(|r| r.get("error")) {
                println!("  {who}: {e}");
            }
        }
    }
    println!("(ratios above 1 mean tflrs is faster)");
    Ok(())
}

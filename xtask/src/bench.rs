//! `cargo xtask bench [--runs N] [--backend scalar|simd] [--threads 1,2] [--python PY]
//! [MODEL ...]`: tflrs beside LiteRT on the same models and inputs, in one run, as a table of
//! medians and ratios, at each thread count.
//!
//! tflrs: the `time-models` binary of `tflrs-benches` (release build; the SIMD backend unless
//! `--backend scalar`; `InterpreterBuilder::threads`). LiteRT: `xtask/scripts/bench_litert.py`
//! in `.venv-testdata` (made by `cargo xtask gen-testdata`), or any Python with
//! `ai-edge-litert` and `numpy` given with `--python`, with the reference kernels
//! (`BUILTIN_REF`, one thread) and the default XNNPACK path at each thread count
//! (`num_threads`). LiteRT's times include the Python call overhead of `invoke()` (a few
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
    /// Thread counts, comma-separated: tflrs and XNNPACK run at each.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
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

/// Rows by `(model, threads)` (threads 1 when a row has none).
fn parse_lines(out: &[u8]) -> Result<BTreeMap<(String, u64), Row>> {
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
        let threads = row.get("threads").and_then(|t| t.as_u64()).unwrap_or(1);
        rows.insert((name, threads), row);
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
    let threads: Vec<usize> = args.threads.iter().map(|&t| t.max(1)).collect();
    let list = threads
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",");
    eprintln!(
        "xtask: timing tflrs (release, {} backend, threads {list})",
        args.backend
    );
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
            "--threads",
            &list,
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
    eprintln!("xtask: timing LiteRT (reference kernels on 1 thread, XNNPACK on {list})");
    let out = Command::new(&python)
        .arg(root.join("xtask/scripts/bench_litert.py"))
        .args(["--threads", &list])
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
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_string(),
    };
    println!(
        "{:<30} {:>4} {:>12} {:>14} {:>14} {:>9} {:>9} {:>10} {:>10}",
        "model",
        "thr",
        "tflrs us",
        "LiteRT ref us",
        "XNNPACK us",
        "ref/tflrs",
        "xnn/tflrs",
        "tflrs 1T/T",
        "xnn 1T/T"
    );
    for name in &models {
        let litert = theirs.get(&(name.clone(), 1));
        let t1 = us(ours.get(&(name.clone(), 1)), "median_us");
        let x1 = us(litert, "xnnpack_1t_median_us").or(us(litert, "xnnpack_median_us"));
        for &th in &threads {
            let mine = ours.get(&(name.clone(), th as u64));
            let t = us(mine, "median_us");
            let r = (th == 1).then(|| us(litert, "ref_median_us")).flatten();
            let x = us(litert, &format!("xnnpack_{th}t_median_us"));
            println!(
                "{:<30} {:>4} {:>12} {:>14} {:>14} {:>9} {:>9} {:>10} {:>10}",
                name,
                th,
                fmt(t),
                fmt(r),
                fmt(x),
                ratio(r, t),
                ratio(x, t),
                ratio(t1, t),
                ratio(x1, x)
            );
            for (who, row) in [("tflrs", mine), ("LiteRT", litert)] {
                if let Some(e) = row.and_then(|r| r.get("error")) {
                    println!("  {who}: {e}");
                }
            }
        }
    }
    println!("(ref/tflrs, xnn/tflrs above 1: tflrs is faster; 1T/T: speed-up of T threads over 1)");
    Ok(())
}

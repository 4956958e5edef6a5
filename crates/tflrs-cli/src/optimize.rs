//! `tflrs optimize IN -o OUT [--fuse] [--passes a,b,c]`, `tflrs optimize --list-passes`.
//!
//! With no pass flags no pass runs: the model is imported and exported unchanged (the
//! identity), which normalizes the file (deduplicated, 16-byte aligned buffers) without
//! changing what LiteRT computes. `--fuse` runs the default fusion set
//! (`tflrs_passes::fuse_passes`), `--passes` the named ones in the order given; each pass's
//! effect (nodes and constant bytes before and after) is printed.

use anyhow::{Context, bail};
use std::path::PathBuf;
use tflrs_passes::{PassCtx, PassManager, PassReport};
use tflrs_runtime::ScalarEval;

/// Arguments of `tflrs optimize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to read.
    #[arg(required_unless_present = "list_passes")]
    input: Option<PathBuf>,
    /// Where to write the optimized model.
    #[arg(short, long, required_unless_present = "list_passes")]
    output: Option<PathBuf>,
    /// Run the default fusion and folding passes (integer outputs stay bit-exact; float
    /// outputs change only by rounding).
    #[arg(long)]
    fuse: bool,
    /// Run these passes, in this order (comma-separated; see --list-passes); after --fuse's
    /// when both are given.
    #[arg(long, value_delimiter = ',', value_name = "PASS,...")]
    passes: Vec<String>,
    /// List the passes and exit.
    #[arg(long)]
    list_passes: bool,
}

/// Runs `tflrs optimize`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.list_passes {
        for p in tflrs_passes::passes() {
            let mark = if p.in_fuse { "*" } else { " " };
            println!("{mark} {:<28} {}", p.name, p.about);
        }
        println!("(* = in --fuse)");
        return Ok(());
    }
    let (Some(input), Some(output)) = (&args.input, &args.output) else {
        bail!("optimize needs a model and -o OUTPUT");
    };
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let mut graph = tflrs_ir::Graph::from_tflite(&bytes)
        .with_context(|| format!("loading {}", input.display()))?;

    let mut manager = if args.fuse {
        tflrs_passes::fuse_passes()
    } else {
        PassManager::new()
    };
    for name in &args.passes {
        let Some(pass) = tflrs_passes::pass(name) else {
            let known: Vec<_> = tflrs_passes::passes().iter().map(|p| p.name).collect();
            bail!("unknown pass {name:?}; passes: {}", known.join(", "));
        };
        manager.add_boxed(pass);
    }
    let eval = ScalarEval::default();
    let reports = manager
        .run_report(&mut graph, &PassCtx::new().with_eval(&eval))
        .with_context(|| format!("optimizing {}", input.display()))?;

    let out = graph
        .to_tflite()
        .with_context(|| format!("writing the model of {}", input.display()))?;
    std::fs::write(output, &out).with_context(|| format!("writing {}", output.display()))?;
    print_summary(&reports, bytes.len(), out.len(), output);
    Ok(())
}

fn print_summary(
    reports: &[PassReport],
    in_bytes: usize,
    out_bytes: usize,
    output: &std::path::Path,
) {
    if !reports.is_empty() {
        println!("{:<28} {:>15} {:>25}", "pass", "nodes", "constant bytes");
        for r in reports {
            let what = if r.changed { "" } else { "  (no change)" };
            println!(
                "{:<28} {:>6} -> {:<6} {:>11} -> {:<11}{what}",
                r.pass,
                r.before.nodes,
                r.after.nodes,
                r.before.constant_bytes,
                r.after.constant_bytes
            );
        }
    }
    println!(
        "wrote {} ({in_bytes} -> {out_bytes} bytes)",
        output.display()
    );
}

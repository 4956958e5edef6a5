//! `tflrs bench MODEL [-i in0.npy ...] [--backend NAME] [--threads N] [--runs N] [--warmup N]
//! [--json] [--profile]`: time `invoke()`, and with `--profile` each step (node or device partition) of
//! the main subgraph, as LiteRT's `benchmark_model` op profiling does.
//!
//! Inputs come from `.npy` files, or, without `-i`, from seeded pseudo-random data (floats in
//! [-1, 1), booleans 0 or 1, other types random bytes), the same on every run of the command.
//! Prints the median, 10th and 90th percentiles and the minimum of `--runs` timed invokes in
//! microseconds, after `--warmup` untimed ones, and the arena size; `--json` prints one JSON
//! object instead (`median_us`, `p10_us`, `p90_us`, `min_us`, `runs`, `warmup`, `backend`,
//! `arena_bytes`, `threads`). One thread unless `--threads`; compare numbers only within one
//! run of a machine.

use crate::run::{BACKENDS, feed_input, with_backend};
use crate::table::{Align, Table, thousands};
use anyhow::{Context as _, bail};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;
use tflrs_ir::DType;
use tflrs_runtime::{Interpreter, Model, StepObserver};

/// Arguments of `tflrs bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.tflite` model.
    pub model: PathBuf,
    /// An input as a `.npy` file; repeat in the model's input order (default: seeded random).
    #[arg(short, long = "input", value_name = "NPY")]
    pub inputs: Vec<PathBuf>,
    /// The backend to prefer: `simd` (the default), `scalar` (reference kernels only), or
    /// `host-device`.
    #[arg(long, default_value = "simd", value_parser = BACKENDS)]
    pub backend: String,
    /// With `--backend host-device`: the operators it claims, comma-separated.
    #[arg(long, value_name = "OPS", value_delimiter = ',')]
    pub device_ops: Option<Vec<String>>,
    /// Threads the kernels may split their work over (the interpreter's worker pool).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Timed invokes.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub runs: u32,
    /// Untimed invokes before the timed ones.
    #[arg(long, default_value_t = 5)]
    pub warmup: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also time every step (node or device partition) of the main subgraph and print the time
    /// per operator type and the slowest nodes (with `--json`: a `profile` array).
    #[arg(long)]
    pub profile: bool,
}

/// Runs `tflrs bench`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let path = &args.model;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = Model::from_bytes(&bytes)
        .with_context(|| format!("{} is not a model tflrs can load", path.display()))?;
    let builder = with_backend(
        Interpreter::builder(&model).threads(args.threads as usize),
        &args.backend,
        args.device_ops.as_deref(),
    )?;
    let mut interp = builder
        .build()
        .with_context(|| format!("cannot plan {}", path.display()))?;
    if args.inputs.is_empty() {
        fill_random(&mut interp)?;
    } else {
        if args.inputs.len() != interp.num_inputs() {
            bail!(
                "{} takes {} input(s), {} given (-i once per input, in order, or none for random data)",
                path.display(),
                interp.num_inputs(),
                args.inputs.len()
            );
        }
        for (i, file) in args.inputs.iter().enumerate() {
            feed_input(&mut interp, i, file)?;
        }
    }
    for _ in 0..args.warmup {
        interp.invoke().context("invoke failed")?;
    }
    let mut times = Vec::with_capacity(args.runs as usize);
    for _ in 0..args.runs {
        let t = Instant::now();
        interp.invoke().context("invoke failed")?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let profile = if args.profile {
        Some(profile(&mut interp, args.runs)?)
    } else {
        None
    };
    let stats = Stats::of(&mut times);
    let arena = interp.arena_bytes();
    if args.json {
        let json = serde_json::json!({
            "model": path.display().to_string(),
            "backend": args.backend,
            "median_us": stats.median,
            "p10_us": stats.p10,
            "p90_us": stats.p90,
            "min_us": stats.min,
            "runs": args.runs,
            "warmup": args.warmup,
            "arena_bytes": arena,
            "threads": interp.threads(),
        });
        let mut json = json;
        if let Some(p) = &profile {
            json["profile"] = serde_json::Value::Array(
                p.iter()
                    .map(|s| {
                        serde_json::json!({
                            "node": s.node, "nodes": s.nodes, "op": s.op, "kernel": s.kernel,
                            "backend": s.backend, "us": s.us,
                        })
                    })
                    .collect(),
            );
        }
        println!("{json}");
    } else {
        println!(
            "{}: {} invokes on {}, {} thread(s) (after {} warm-up)",
            path.display(),
            args.runs,
            args.backend,
            interp.threads(),
            args.warmup
        );
        println!(
            "median {:.1} us, p10 {:.1} us, p90 {:.1} us, min {:.1} us",
            stats.median, stats.p10, stats.p90, stats.min
        );
        println!("arena: {} bytes", thousands(arena as u64));
        if let Some(p) = &profile {
            print_profile(p);
        }
    }
    Ok(())
}

/// The time of one step of the main subgraph, averaged over the profiled invokes.
struct Step {
    /// Its first node.
    node: usize,
    /// How many nodes it runs (more than one for a device partition).
    nodes: usize,
    op: String,
    kernel: String,
    backend: String,
    us: f64,
}

/// Times every step over `runs` more invokes (separate from the timed ones, so the observer's
/// cost does not enter the totals above).
fn profile(interp: &mut Interpreter<'_>, runs: u32) -> anyhow::Result<Vec<Step>> {
    struct Clock {
        start: Option<Instant>,
        total_us: Vec<f64>,
        nodes: Vec<usize>,
    }
    impl StepObserver for Clock {
        fn before(&mut self, _: Range<usize>) {
            self.start = Some(Instant::now());
        }
        fn after(&mut self, nodes: Range<usize>) {
            if let (Some(t), Some(slot)) = (self.start.take(), self.total_us.get_mut(nodes.start)) {
                *slot += t.elapsed().as_secs_f64() * 1e6;
                self.nodes[nodes.start] = nodes.len();
            }
        }
    }
    let report: Vec<_> = interp
        .plan_report()
        .into_iter()
        .filter(|e| e.subgraph == 0)
        .collect();
    let n = report.iter().map(|e| e.node + 1).max().unwrap_or(0);
    let mut clock = Clock {
        start: None,
        total_us: vec![0.0; n],
        nodes: vec![0; n],
    };
    for _ in 0..runs {
        interp
            .invoke_observed(&mut clock)
            .context("invoke failed")?;
    }
    Ok(report
        .into_iter()
        .filter(|e| clock.nodes.get(e.node).is_some_and(|&k| k > 0))
        .map(|e| Step {
            node: e.node,
            nodes: clock.nodes[e.node],
            op: if clock.nodes[e.node] > 1 {
                format!("partition of {} nodes", clock.nodes[e.node])
            } else {
                e.op
            },
            kernel: e.kernel,
            backend: e.backend,
            us: clock.total_us[e.node] / f64::from(runs),
        })
        .collect())
}

fn print_table(t: &Table) {
    let mut out = String::new();
    t.render("", &mut out);
    print!("{out}");
}

/// Prints the time per operator type and the ten slowest steps.
fn print_profile(steps: &[Step]) {
    let total: f64 = steps.iter().map(|s| s.us).sum();
    let mut by_op: Vec<(String, usize, f64)> = Vec::new();
    for s in steps {
        match by_op.iter_mut().find(|(op, _, _)| *op == s.op) {
            Some(row) => {
                row.1 += 1;
                row.2 += s.us;
            }
            None => by_op.push((s.op.clone(), 1, s.us)),
        }
    }
    by_op.sort_by(|a, b| b.2.total_cmp(&a.2));
    let pct = |us: f64| if total > 0.0 { 100.0 * us / total } else { 0.0 };
    println!();
    println!("time per operator type (mean of the profiled invokes, {total:.1} us in steps):");
    let mut t = Table::new(&[
        ("op", Align::Left),
        ("steps", Align::Right),
        ("us", Align::Right),
        ("%", Align::Right),
    ]);
    for (op, count, us) in &by_op {
        t.row(vec![
            op.clone(),
            count.to_string(),
            format!("{us:.1}"),
            format!("{:.1}", pct(*us)),
        ]);
    }
    print_table(&t);
    let mut slow: Vec<&Step> = steps.iter().collect();
    slow.sort_by(|a, b| b.us.total_cmp(&a.us));
    println!();
    println!("slowest steps:");
    let mut t = Table::new(&[
        ("node", Align::Right),
        ("op", Align::Left),
        ("kernel", Align::Left),
        ("backend", Align::Left),
        ("us", Align::Right),
        ("%", Align::Right),
    ]);
    for s in slow.into_iter().take(10) {
        t.row(vec![
            s.node.to_string(),
            s.op.clone(),
            s.kernel.clone(),
            s.backend.clone(),
            format!("{:.1}", s.us),
            format!("{:.1}", pct(s.us)),
        ]);
    }
    print_table(&t);
}

/// Order statistics of the timed invokes.
struct Stats {
    median: f64,
    p10: f64,
    p90: f64,
    min: f64,
}

impl Stats {
    /// Of `times` (not empty), which it sorts.
    fn of(times: &mut [f64]) -> Self {
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        Self {
            median: at(0.5),
            p10: at(0.1),
            p90: at(0.9),
            min: times[0],
        }
    }
}

/// Fills every input with seeded pseudo-random data of its type.
pub(crate) fn fill_random(interp: &mut Interpreter<'_>) -> anyhow::Result<()> {
    // xorshift64*: small, deterministic, good enough for benchmark inputs.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for i in 0..interp.num_inputs() {
        let dtype = interp.input_info(i)?.dtype;
        let bytes = interp.input_bytes_mut(i)?;
        match dtype {
            DType::Float32 => {
                for c in bytes.chunks_exact_mut(4) {
                    let v = (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
                    c.copy_from_slice(&v.to_le_bytes());
                }
            }
            DType::Float64 => {
                for c in bytes.chunks_exact_mut(8) {
                    let v = (next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
                    c.copy_from_slice(&v.to_le_bytes());
                }
            }
            DType::Bool => bytes.iter_mut().for_each(|b| *b = (next() & 1) as u8),
            _ => bytes.iter_mut().for_each(|b| *b = next() as u8),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Stats;

    #[test]
    fn order_statistics_of_ten_values() {
        let mut t: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let s = Stats::of(&mut t);
        assert_eq!((s.min, s.p10, s.median, s.p90), (1.0, 2.0, 6.0, 9.0));
    }
}

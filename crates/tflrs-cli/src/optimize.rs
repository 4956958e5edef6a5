//! `tflrs optimize IN -o OUT [--fuse] [--passes a,b,c]`, `tflrs optimize --list-passes`.
//!
//! With no pass flags no pass runs: the model is imported and exported unchanged (the
//! identity), which normalizes the file (deduplicated, 16-byte aligned buffers) without
//! changing what LiteRT computes. `--fuse` runs the default fusion set
//! (`tflrs_passes::fuse_passes`), `--passes` the named ones in the order given; each pass's
//! effect (nodes and constant bytes before and after) is printed.

use anyhow::{Context, bail};
use std::path::PathBuf;
use tflrs_passes::quantize::{FullInteger, IoType};
use tflrs_passes::{LayerReport, PassCtx, PassManager, PassReport, Prune, PruneFormat};
use tflrs_runtime::ScalarEval;
use tflrs_runtime::calibrate::{Method, calibrate_with};

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
    /// Quantize: `float16` (float16 weights behind DEQUANTIZE) or `dynamic` (int8 weights of
    /// the hybrid operators), as TensorFlow's converter does; runs first.
    #[arg(long, value_name = "MODE", value_parser = ["float16", "dynamic", "int8", "int16x8"])]
    quantize: Option<String>,
    /// Magnitude-prune FULLY_CONNECTED and CONV_2D float weights to this fraction of zeros
    /// (before the other passes).
    #[arg(long, value_name = "SPARSITY")]
    prune: Option<f32>,
    /// Block shape of pruning, ROWSxCOLS (1x4 and 1x16 are LiteRT's sparse kernels' blocks).
    #[arg(long, value_name = "RxC", default_value = "1x1", value_parser = parse_block)]
    block: (usize, usize),
    /// Prune only layers whose weights or output tensor name contains one of these.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    layers: Vec<String>,
    /// One magnitude threshold over all pruned layers instead of one per layer.
    #[arg(long)]
    global: bool,
    /// How pruned weights are stored: `sparse` (TFLite's sparse format, smaller) or `dense`.
    #[arg(long, value_name = "FORMAT", default_value = "sparse", value_parser = parse_format)]
    prune_format: PruneFormat,
    /// Inputs (`.npy`, one per model input, in order) on which the pruned model's outputs are
    /// compared with the original's; seeded random inputs without it.
    /// With `--quantize int8`: the representative dataset, one float32 `.npy` per model input
    /// (in input order) holding N samples stacked along the batch dimension.
    #[arg(long, value_name = "NPY")]
    calibration: Vec<PathBuf>,
    /// With `--quantize int8`: the type of the model's inputs and outputs.
    #[arg(long, value_name = "TYPE", default_value = "float", value_parser = ["float", "int8", "uint8"])]
    io: String,
    /// With `--quantize int8`: how ranges are taken from the calibration samples: `minmax` (the
    /// converter's), `moving-average` (the AI Edge Quantizer's, smoothing 0.95) or
    /// `percentile` (99.99%) or `mse` (the range of least expected quantization error).
    #[arg(long, value_name = "METHOD", default_value = "minmax", value_parser = ["minmax", "moving-average", "percentile", "mse"])]
    calibration_method: String,
    /// With `--quantize int8`: keep operators without an int8 rule in float (between
    /// DEQUANTIZE and QUANTIZE) instead of failing.
    #[arg(long)]
    float_fallback: bool,
}

fn parse_block(s: &str) -> Result<(usize, usize), String> {
    let (r, c) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("block {s:?} is not ROWSxCOLS"))?;
    let n = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|e| format!("block {s:?}: {e}"))
    };
    Ok((n(r)?, n(c)?))
}

fn parse_format(s: &str) -> Result<PruneFormat, String> {
    match s {
        "sparse" => Ok(PruneFormat::Sparse),
        "dense" => Ok(PruneFormat::Dense),
        _ => Err(format!("prune format {s:?}: sparse or dense")),
    }
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

    let mut int8_samples = None;
    let quantized = match args.quantize.as_deref() {
        None => false,
        Some("int8") => {
            let samples = read_calibration(&graph, &args.calibration)?;
            let method = match args.calibration_method.as_str() {
                "moving-average" => Method::MovingAverage(0.95),
                "percentile" => Method::Percentile(0.9999),
                "mse" => Method::Mse,
                _ => Method::MinMax,
            };
            let ranges = calibrate_with(&graph, &samples, method).context("calibrating")?;
            let io = match args.io.as_str() {
                "int8" => IoType::Int8,
                "uint8" => IoType::UInt8,
                _ => IoType::Float,
            };
            let pass = FullInteger {
                ranges,
                io,
                float_fallback: args.float_fallback,
            };
            PassManager::new()
                .with(pass)
                .run(&mut graph, &PassCtx::new())
                .context("quantizing (int8)")?;
            int8_samples = Some(samples);
            true
        }
        Some(mode) => {
            let pass: Box<dyn tflrs_passes::Pass> = match mode {
                "float16" => Box::new(tflrs_passes::quantize::Float16),
                "dynamic" => Box::new(tflrs_passes::quantize::DynamicRange::default()),
                other => {
                    bail!("--quantize {other}: not implemented yet (float16, dynamic and int8 are)")
                }
            };
            PassManager::new()
                .with_boxed(pass)
                .run(&mut graph, &PassCtx::new())
                .with_context(|| format!("quantizing ({mode})"))?;
            true
        }
    };
    let pruned = match args.prune {
        Some(sparsity) => {
            let prune = Prune {
                sparsity,
                block: args.block,
                layers: args.layers.clone(),
                global: args.global,
                format: args.prune_format,
            };
            Some(prune.apply(&mut graph).context("pruning")?)
        }
        None => None,
    };
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
    if let Some(layers) = &pruned {
        print_prune_report(layers);
    }
    print_summary(&reports, bytes.len(), out.len(), output);
    if let Some(samples) = &int8_samples {
        print_int8_error(&bytes, &out, samples)?;
    } else if pruned.is_some() || quantized {
        print_output_error(&bytes, &out, &args.calibration)?;
    }
    Ok(())
}

fn print_prune_report(layers: &[LayerReport]) {
    println!(
        "{:<16} {:<48} {:>9} {:>8} {:>8}",
        "layer", "weights", "elements", "before", "after"
    );
    for l in layers {
        let name = if l.weights.len() > 48 {
            format!("...{}", &l.weights[l.weights.len() - 45..])
        } else {
            l.weights.clone()
        };
        let before = l.zeros_before as f64 / l.elements.max(1) as f64;
        match &l.skipped {
            Some(why) => println!(
                "{:<16} {name:<48} {:>9} {:>7.1}% skipped: {why}",
                l.op,
                l.elements,
                100.0 * before
            ),
            None => println!(
                "{:<16} {name:<48} {:>9} {:>7.1}% {:>7.1}%",
                l.op,
                l.elements,
                100.0 * before,
                100.0 * l.sparsity()
            ),
        }
    }
}

/// Runs the original and the optimized model on the same inputs and prints, per output, the
/// largest absolute difference and the RMS difference relative to the original's RMS.
fn print_output_error(original: &[u8], optimized: &[u8], inputs: &[PathBuf]) -> anyhow::Result<()> {
    let a = tflrs_runtime::Model::from_bytes(original).context("loading the original model")?;
    let b = tflrs_runtime::Model::from_bytes(optimized).context("loading the optimized model")?;
    let mut ia = tflrs_runtime::Interpreter::builder(&a).build()?;
    let mut ib = tflrs_runtime::Interpreter::builder(&b).build()?;
    if inputs.is_empty() {
        crate::bench::fill_random(&mut ia)?;
        for i in 0..ia.num_inputs() {
            let x = ia.input_bytes_mut(i)?.to_vec();
            ib.input_bytes_mut(i)?.copy_from_slice(&x);
        }
    } else {
        if inputs.len() != ia.num_inputs() {
            bail!(
                "--calibration: {} files for {} model inputs",
                inputs.len(),
                ia.num_inputs()
            );
        }
        for (i, f) in inputs.iter().enumerate() {
            crate::run::feed_input(&mut ia, i, f)?;
            crate::run::feed_input(&mut ib, i, f)?;
        }
    }
    ia.invoke()?;
    ib.invoke()?;
    let source = if inputs.is_empty() {
        "seeded random inputs"
    } else {
        "--calibration inputs"
    };
    println!("output error against the original model ({source}):");
    for k in 0..ia.num_outputs() {
        let info = ia.output_info(k)?;
        if info.dtype != tflrs_ir::DType::Float32 {
            println!(
                "  output {k} '{}': {} (compared only for float32)",
                info.name, info.dtype
            );
            continue;
        }
        let f = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let (x, y) = (f(ia.output_bytes(k)?), f(ib.output_bytes(k)?));
        let max = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let rms = |v: &mut dyn Iterator<Item = f64>| {
            let (s, n) = v.fold((0.0, 0usize), |(s, n), t| (s + t * t, n + 1));
            (s / n.max(1) as f64).sqrt()
        };
        let diff = rms(&mut x.iter().zip(&y).map(|(a, b)| f64::from(a - b)));
        let base = rms(&mut x.iter().map(|&a| f64::from(a)));
        println!(
            "  output {k} '{}': max |diff| {max:.4e}, RMS diff / RMS {:.2}%",
            info.name,
            100.0 * diff / base.max(f64::MIN_POSITIVE)
        );
    }
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

/// Reads the representative dataset of `--quantize int8`: one float32 `.npy` per input of
/// `graph`, N samples along the batch dimension; returns `samples[s][input]`.
fn read_calibration(
    graph: &tflrs_ir::Graph<'_>,
    files: &[PathBuf],
) -> anyhow::Result<Vec<Vec<Vec<f32>>>> {
    let sg = graph
        .subgraphs
        .first()
        .context("the model has no subgraph")?;
    if files.is_empty() {
        bail!(
            "--quantize int8 needs a representative dataset: --calibration FILE.npy for each of \
             the model's {} inputs",
            sg.inputs.len()
        );
    }
    if files.len() != sg.inputs.len() {
        bail!(
            "--calibration: {} files for {} model inputs (one .npy per input, in input order)",
            files.len(),
            sg.inputs.len()
        );
    }
    let mut per_input: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut count = None;
    for (i, (f, &v)) in files.iter().zip(&sg.inputs).enumerate() {
        let value = sg.value(v).context("bad input")?;
        let name = &value.name;
        let array = tflrs_npy::Npy::read(f)
            .with_context(|| format!("--calibration {} (input {i} '{name}')", f.display()))?;
        if array.dtype.name() != "float32" {
            bail!(
                "--calibration {}: input {i} '{name}' is float32, the file holds {}",
                f.display(),
                array.dtype.name()
            );
        }
        let dims: Vec<usize> = value
            .shape
            .dims
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect();
        let want = &dims[1.min(dims.len())..];
        if array.shape.len() != dims.len() || array.shape[1.min(dims.len())..] != *want {
            bail!(
                "--calibration {}: input {i} '{name}' has shape {:?}; the file's shape {:?} is \
                 not N samples of it stacked along the batch dimension [N, {}]",
                f.display(),
                dims,
                array.shape,
                want.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let values: Vec<f32> = array
            .to_vec::<f32>()
            .with_context(|| format!("--calibration {}", f.display()))?;
        if let Some(k) = values.iter().position(|x| !x.is_finite()) {
            bail!(
                "--calibration {}: element {k} is {} (NaN or infinite values are refused)",
                f.display(),
                values[k]
            );
        }
        let per: usize = dims.iter().product::<usize>().max(1);
        let n = values.len() / per;
        if n == 0 || !values.len().is_multiple_of(per) {
            bail!(
                "--calibration {}: holds {} values, not a positive multiple of the {} of one \
                 sample of input {i} '{name}' {:?}",
                f.display(),
                values.len(),
                per,
                dims
            );
        }
        if let Some(c) = count
            && c != n
        {
            bail!(
                "--calibration {}: {n} samples, the first file holds {c}",
                f.display()
            );
        }
        count = Some(n);
        per_input.push(values.chunks_exact(per).map(<[f32]>::to_vec).collect());
    }
    let n = count.unwrap_or(0);
    Ok((0..n)
        .map(|s| per_input.iter().map(|inp| inp[s].clone()).collect())
        .collect())
}

/// A copy of `graph` whose main-subgraph outputs are its own outputs followed by every other
/// float32 or int8 value a node computes; returns it and those values' names.
fn traced<'a>(graph: &tflrs_ir::Graph<'a>) -> (tflrs_ir::Graph<'a>, Vec<String>) {
    let mut g = graph.clone();
    g.signatures.clear();
    let sg = &mut g.subgraphs[0];
    let mut outs = sg.outputs.clone();
    for node in &sg.nodes {
        for &o in &node.outputs {
            let keep = sg.value(o).is_some_and(|v| {
                matches!(v.dtype, tflrs_ir::DType::Float32 | tflrs_ir::DType::Int8)
                    && !v.is_constant()
            });
            if keep && !outs.contains(&o) && !sg.inputs.contains(&o) {
                outs.push(o);
            }
        }
    }
    let names = outs
        .iter()
        .map(|&o| sg.value(o).map_or_else(String::new, |v| v.name.clone()))
        .collect();
    sg.outputs = outs;
    (g, names)
}

/// Feeds float `x` to input `i`, quantized when the input is int8 or uint8.
fn feed(it: &mut tflrs_runtime::Interpreter<'_>, i: usize, x: &[f32]) -> anyhow::Result<()> {
    let info = it.input_info(i)?.clone();
    let (scale, zp) = info
        .quant
        .as_ref()
        .map(|q| (q.scales()[0], q.zero_points()[0]))
        .unwrap_or((1.0, 0));
    let dst = it.input_bytes_mut(i)?;
    match info.dtype {
        tflrs_ir::DType::Float32 => {
            for (d, v) in dst.chunks_exact_mut(4).zip(x) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
        tflrs_ir::DType::Int8 | tflrs_ir::DType::UInt8 => {
            let lo = if info.dtype == tflrs_ir::DType::Int8 {
                -128.0
            } else {
                0.0
            };
            for (d, &v) in dst.iter_mut().zip(x) {
                let t = (f64::from(v) / f64::from(scale) + zp as f64)
                    .round()
                    .clamp(lo, lo + 255.0) as i32;
                *d = t as u8;
            }
        }
        other => bail!("model input {i} is {other}"),
    }
    Ok(())
}

/// Output `k` of `it` as real values (dequantized when int8 or uint8), or `None` for other
/// types.
fn real_output(it: &tflrs_runtime::Interpreter<'_>, k: usize) -> anyhow::Result<Option<Vec<f32>>> {
    let info = it.output_info(k)?;
    let bytes = it.output_bytes(k)?;
    let (scale, zp) = info
        .quant
        .as_ref()
        .map(|q| (q.scales()[0], q.zero_points()[0]))
        .unwrap_or((1.0, 0));
    Ok(match info.dtype {
        tflrs_ir::DType::Float32 => Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        tflrs_ir::DType::Int8 => Some(
            bytes
                .iter()
                .map(|&v| (i64::from(v as i8) - zp) as f32 * scale)
                .collect(),
        ),
        tflrs_ir::DType::UInt8 => Some(
            bytes
                .iter()
                .map(|&v| (i64::from(v) - zp) as f32 * scale)
                .collect(),
        ),
        _ => None,
    })
}

fn db(sig: f64, err: f64) -> f64 {
    10.0 * (sig / err.max(1e-30)).log10()
}

/// Runs the float model and its int8 quantization on every calibration sample and prints, per
/// model output and then per layer (each int8 tensor against the float tensor of the same name,
/// worst first), the SQNR of the quantized values against the float ones over all samples.
fn print_int8_error(
    original: &[u8],
    quantized: &[u8],
    samples: &[Vec<Vec<f32>>],
) -> anyhow::Result<()> {
    let ga = tflrs_ir::Graph::from_tflite(original).context("loading the original model")?;
    let gb = tflrs_ir::Graph::from_tflite(quantized).context("loading the quantized model")?;
    let outputs = ga.subgraphs[0].outputs.len();
    let (ta, names_a) = traced(&ga);
    let (tb, names_b) = traced(&gb);
    let a = tflrs_runtime::Model::from_graph(ta);
    let b = tflrs_runtime::Model::from_graph(tb);
    let mut ia = tflrs_runtime::Interpreter::builder(&a).build()?;
    let mut ib = tflrs_runtime::Interpreter::builder(&b).build()?;
    // Pairs (float output, quantized output): the model outputs, then int8 tensors by name.
    let mut pairs: Vec<(usize, usize)> = (0..outputs).map(|k| (k, k)).collect();
    for (kb, name) in names_b.iter().enumerate().skip(outputs) {
        if ib.output_info(kb)?.dtype != tflrs_ir::DType::Int8 {
            continue;
        }
        if let Some(ka) = names_a.iter().position(|n| n == name) {
            pairs.push((ka, kb));
        }
    }
    let mut sig = vec![0.0f64; pairs.len()];
    let mut err = vec![0.0f64; pairs.len()];
    for sample in samples {
        for (i, x) in sample.iter().enumerate() {
            feed(&mut ia, i, x)?;
            feed(&mut ib, i, x)?;
        }
        ia.invoke()?;
        ib.invoke()?;
        for (p, &(ka, kb)) in pairs.iter().enumerate() {
            let (Some(x), Some(y)) = (real_output(&ia, ka)?, real_output(&ib, kb)?) else {
                continue;
            };
            for (u, v) in x.iter().zip(&y) {
                sig[p] += f64::from(*u).powi(2);
                err[p] += (f64::from(*u) - f64::from(*v)).powi(2);
            }
        }
    }
    println!(
        "output error against the float model ({} calibration samples):",
        samples.len()
    );
    for k in 0..outputs {
        let name = &names_a[k];
        println!("  output {k} '{name}': SQNR {:.1} dB", db(sig[k], err[k]));
    }
    let mut layers: Vec<(f64, &str)> = (outputs..pairs.len())
        .map(|p| (db(sig[p], err[p]), names_b[pairs[p].1].as_str()))
        .collect();
    layers.sort_by(|x, y| x.0.total_cmp(&y.0));
    if !layers.is_empty() {
        println!("per layer (int8 tensors against the float model's), worst first:");
        for (d, name) in layers.iter().take(10) {
            let n = name.chars().count();
            let name: String = if n > 70 {
                let tail: String = name.chars().skip(n - 67).collect();
                format!("...{tail}")
            } else {
                name.to_string()
            };
            println!("  {d:>7.1} dB  {name}");
        }
        if layers.len() > 10 {
            println!("  ({} more)", layers.len() - 10);
        }
    }
    Ok(())
}

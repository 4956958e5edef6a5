//! `tflrs run MODEL -i in0.npy [-i in1.npy ...] [-o OUTDIR] [--backend NAME] [--device-ops OPS] [--threads N] [--plan]`:
//! run a model on `.npy` inputs.
//!
//! Inputs are given in the model's input order; each must have the input's dtype, and its
//! shape, or a shape the input can be resized to (dynamic dimensions). Outputs are printed (name,
//! dtype, shape and the first values) and, with `-o`, written as `OUTDIR/output_<k>.npy` in the
//! model's output order with the dtype and shape the model gives them. `--plan` prints, before
//! running, the kernel and backend chosen for every node, the device partitions and the
//! transfers at their edges, and the arena size.
//!
//! By default the SIMD backend (`tflrs_simd`, the host's best instruction set) is asked before
//! the scalar one; `--backend scalar` runs the reference kernels only; `--backend host-device` runs the nodes it claims as partitions on a device whose memory is
//! host memory (`tflrs_runtime::host_device`): the device plumbing without a GPU.

use crate::table::{Align, Table, thousands};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use tflrs_npy::{DType as NpyDType, Npy, Value};
use tflrs_runtime::host_device::HostDeviceBackend;
use tflrs_runtime::{Direction, Interpreter, InterpreterBuilder, Model};

/// Arguments of `tflrs run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.tflite` model to run.
    pub model: PathBuf,
    /// An input as a `.npy` file; repeat in the model's input order.
    #[arg(short, long = "input", value_name = "NPY")]
    pub inputs: Vec<PathBuf>,
    /// Write each output as `OUTDIR/output_<k>.npy`.
    #[arg(short, long = "output-dir", value_name = "OUTDIR")]
    pub output_dir: Option<PathBuf>,
    /// The backend to prefer: `simd` (the default; the scalar backend covers the rest),
    /// `scalar` (the reference kernels only), or `host-device` (then the scalar kernels).
    #[arg(long, default_value = "simd", value_parser = BACKENDS)]
    pub backend: String,
    /// With `--backend host-device`: the operators it claims, comma-separated
    /// (`CONV_2D,ADD`); all it can run when not given.
    #[arg(long, value_name = "OPS", value_delimiter = ',')]
    pub device_ops: Option<Vec<String>>,
    /// Threads the kernels may split their work over (outputs do not depend on it for
    /// integer models).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Print the plan: node, op, kernel, backend, and the arena size.
    #[arg(long)]
    pub plan: bool,
    /// Let the inputs' memory be reused once they are read (a smaller arena, as TensorFlow
    /// Lite Micro plans it; the default keeps inputs for the whole run, as LiteRT does).
    #[arg(long)]
    pub reuse_input_memory: bool,
}

/// Runs `tflrs run`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let path = &args.model;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = Model::from_bytes(&bytes)
        .with_context(|| format!("{} is not a model tflrs can load", path.display()))?;
    let builder = Interpreter::builder(&model)
        .preserve_inputs(!args.reuse_input_memory)
        .threads(args.threads as usize);
    let builder = with_backend(builder, &args.backend, args.device_ops.as_deref())?;
    let mut interp = builder
        .build()
        .with_context(|| format!("cannot plan {}", path.display()))?;

    if args.inputs.len() != interp.num_inputs() {
        bail!(
            "{} takes {} input(s), {} given (-i once per input, in order)",
            path.display(),
            interp.num_inputs(),
            args.inputs.len()
        );
    }
    for (i, file) in args.inputs.iter().enumerate() {
        feed_input(&mut interp, i, file)?;
    }
    if args.plan {
        print_plan(&interp);
    }
    interp.invoke().context("invoke failed")?;

    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for k in 0..interp.num_outputs() {
        let info = interp.output_info(k)?;
        let dtype = NpyDType::from_name(info.dtype.name()).with_context(|| {
            format!(
                "output {k} is {}, which .npy cannot hold",
                info.dtype.name()
            )
        })?;
        let array = Npy::new(dtype, info.shape.clone(), interp.output_bytes(k)?.to_vec())
            .with_context(|| format!("output {k}"))?;
        println!("{}", describe(k, &info.name, &array));
        if let Some(dir) = &args.output_dir {
            let file = dir.join(format!("output_{k}.npy"));
            std::fs::write(&file, array.to_bytes())
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
    }
    Ok(())
}

/// The backends `tflrs run` and `tflrs bench` can put in front of the scalar one.
pub(crate) const BACKENDS: [&str; 3] = ["scalar", "simd", "host-device"];

/// Asks `backend` (one of [`BACKENDS`]) before the scalar backend; `device_ops` are the
/// operators `host-device` claims (all it can run when `None`).
pub(crate) fn with_backend<'m>(
    builder: InterpreterBuilder<'m>,
    backend: &str,
    device_ops: Option<&[String]>,
) -> anyhow::Result<InterpreterBuilder<'m>> {
    if device_ops.is_some() && backend != "host-device" {
        bail!("--device-ops needs --backend host-device");
    }
    Ok(match backend {
        // Only the scalar reference kernels (LiteRT's BUILTIN_REF).
        "scalar" => builder.reference_kernels(true),
        // The default: the SIMD backend before the scalar one.
        "simd" => builder,
        // The reference device backend, with the scalar kernels for the rest (its partitions
        // run the scalar kernels too, so its outputs are the reference's bit for bit).
        "host-device" => builder.reference_kernels(true).backend(match device_ops {
            Some(ops) => HostDeviceBackend::with_ops(ops.iter().cloned()),
            None => HostDeviceBackend::new(),
        }),
        other => bail!(
            "unknown backend {other:?} (available: {})",
            BACKENDS.join(", ")
        ),
    })
}

/// Copies a `.npy` file into input `i`, resizing the input when its shape allows the file's.
pub(crate) fn feed_input(
    interp: &mut Interpreter<'_>,
    i: usize,
    file: &Path,
) -> anyhow::Result<()> {
    let array = Npy::read(file).with_context(|| format!("input {i}"))?;
    let info = interp.input_info(i)?;
    if array.dtype.name() != info.dtype.name() {
        bail!(
            "input {i} ('{}') is {} {:?}, but {} holds {} {:?}",
            info.name,
            info.dtype.name(),
            info.shape,
            file.display(),
            array.dtype.name(),
            array.shape
        );
    }
    if array.shape != info.shape {
        let (name, shape) = (info.name.clone(), info.shape.clone());
        interp.resize_input(i, &array.shape).with_context(|| {
            format!(
                "input {i} ('{name}') has shape {shape:?}, but {} holds {:?}",
                file.display(),
                array.shape
            )
        })?;
    }
    interp.input_bytes_mut(i)?.copy_from_slice(&array.data);
    Ok(())
}

fn print_plan(interp: &Interpreter<'_>) {
    let mut table = Table::new(&[
        ("subgraph", Align::Right),
        ("node", Align::Right),
        ("op", Align::Left),
        ("kernel", Align::Left),
        ("backend", Align::Left),
        ("partition", Align::Right),
    ]);
    for e in interp.plan_report() {
        table.row(vec![
            e.subgraph.to_string(),
            e.node.to_string(),
            e.op,
            e.kernel,
            e.backend,
            e.partition.map_or_else(String::new, |p| p.to_string()),
        ]);
    }
    let mut out = String::new();
    table.render("", &mut out);
    let partitions = interp.partition_report();
    if !partitions.is_empty() {
        let mut table = Table::new(&[
            ("subgraph", Align::Right),
            ("partition", Align::Right),
            ("nodes", Align::Left),
            ("backend", Align::Left),
            ("device", Align::Left),
            ("kernel", Align::Left),
        ]);
        for p in partitions {
            table.row(vec![
                p.subgraph.to_string(),
                p.index.to_string(),
                format!("{}..{}", p.nodes.start, p.nodes.end),
                p.backend,
                p.device,
                p.kernel,
            ]);
        }
        out.push_str("\npartitions:\n");
        table.render("", &mut out);
        let mut table = Table::new(&[
            ("subgraph", Align::Right),
            ("partition", Align::Right),
            ("tensor", Align::Right),
            ("name", Align::Left),
            ("direction", Align::Left),
            ("bytes", Align::Right),
        ]);
        let transfers = interp.transfer_report();
        let total: usize = transfers.iter().map(|t| t.bytes).sum();
        for t in transfers {
            table.row(vec![
                t.subgraph.to_string(),
                t.partition.to_string(),
                t.tensor.to_string(),
                short(&t.name),
                match t.direction {
                    Direction::ToDevice => "to device".to_string(),
                    Direction::ToHost => "to host".to_string(),
                },
                thousands(t.bytes as u64),
            ]);
        }
        out.push_str("\ntransfers per invoke:\n");
        table.render("", &mut out);
        out.push_str(&format!(
            "transferred: {} bytes per invoke\n",
            thousands(total as u64)
        ));
    }
    print!("{out}");
    println!("arena: {} bytes\n", thousands(interp.arena_bytes() as u64));
}

/// `name`, cut to 48 characters (TFLite's fused tensor names run to hundreds).
fn short(name: &str) -> String {
    const MAX: usize = 48;
    if name.chars().count() <= MAX {
        return name.to_string();
    }
    let head: String = name.chars().take(MAX - 3).collect();
    format!("{head}...")
}

/// `output 0 'name': float32 [1, 4] = [0.1, 0.2, ...]`, with at most 8 values.
fn describe(k: usize, name: &str, array: &Npy) -> String {
    const SHOWN: usize = 8;
    let values: Vec<String> = (0..array.len().min(SHOWN))
        .map(|i| match array.value(i) {
            Value::Float(v) => format!("{v:.6}"),
            Value::Int(v) => v.to_string(),
        })
        .collect();
    let more = if array.len() > SHOWN { ", ..." } else { "" };
    format!(
        "output {k} '{name}': {} {:?} = [{}{more}]",
        array.dtype.name(),
        array.shape,
        values.join(", ")
    )
}

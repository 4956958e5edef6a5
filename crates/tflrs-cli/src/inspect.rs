//! `tflrs inspect MODEL [--json]`: what a `.tflite` file holds.
//!
//! The human form prints, in order: the file header, subgraphs, signatures, metadata, then for
//! every subgraph a table of operators and a table of tensors, then the summary.
//!
//! `--json` prints the same data as one JSON object: `"format": "tflrs-inspect"` and
//! `"format_version": 1`, followed by the fields of [`tflrs_schema::report::ModelReport`]
//! (`file_size`, `schema_version`, `description`, `subgraphs` (each with `operators` and
//! `tensors`), `signatures`, `metadata`, `summary`), whose doc comments document every field.
//! Lists keep file order, maps are sorted by key, so the output of a file never changes between
//! runs. A new field may be added within a format version; a renamed or removed one bumps it.

use crate::table::{Align, Table, thousands};
use anyhow::Context as _;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use tflrs_schema::Model;
use tflrs_schema::report::{ModelReport, QuantReport, SubgraphReport, TensorReport};

/// Version of the `--json` layout; bumped when a field is renamed or removed.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Arguments of `tflrs inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.tflite` model to inspect.
    pub model: PathBuf,
    /// Print stable JSON for scripts instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` document: a format tag, then the report's fields.
#[derive(serde::Serialize)]
struct JsonDocument<'a> {
    format: &'static str,
    format_version: u32,
    #[serde(flatten)]
    report: &'a ModelReport,
}

/// Runs `tflrs inspect`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let path = args.model.display();
    let bytes = std::fs::read(&args.model).with_context(|| format!("cannot read {path}"))?;
    let model = Model::from_bytes(&bytes)
        .with_context(|| format!("{path} is not a valid .tflite model"))?;
    let report = ModelReport::new(&model);
    let mut out = if args.json {
        let doc = JsonDocument {
            format: "tflrs-inspect",
            format_version: JSON_FORMAT_VERSION,
            report: &report,
        };
        serde_json::to_string_pretty(&doc)? + "\n"
    } else {
        render(&path.to_string(), &report)
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    write_stdout(&out)
}

/// Writes to stdout; a closed pipe (`tflrs inspect m.tflite | head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

/// The human form of a report.
pub fn render(path: &str, report: &ModelReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{path}: {} bytes, schema version {}",
        thousands(report.file_size),
        report.schema_version
    );
    if let Some(d) = report.description.as_deref().filter(|d| !d.is_empty()) {
        let _ = write!(out, ", description {d:?}");
    }
    out.push('\n');

    section(&mut out, "Subgraphs", report.subgraphs.len());
    let mut t = Table::new(&[
        ("#", Align::Right),
        ("name", Align::Left),
        ("inputs", Align::Left),
        ("outputs", Align::Left),
        ("operators", Align::Right),
        ("tensors", Align::Right),
    ]);
    for sg in &report.subgraphs {
        t.row(vec![
            sg.index.to_string(),
            sg.name.clone(),
            list(&sg.inputs),
            list(&sg.outputs),
            sg.operators.len().to_string(),
            sg.tensors.len().to_string(),
        ]);
    }
    t.render("  ", &mut out);

    if !report.signatures.is_empty() {
        section(&mut out, "Signatures", report.signatures.len());
        let mut t = Table::new(&[
            ("signature", Align::Left),
            ("subgraph", Align::Right),
            ("", Align::Left),
            ("name", Align::Left),
            ("tensor", Align::Right),
        ]);
        for sig in &report.signatures {
            let ios = sig
                .inputs
                .iter()
                .map(|io| ("input", io))
                .chain(sig.outputs.iter().map(|io| ("output", io)));
            let mut first = true;
            for (kind, io) in ios {
                let (key, subgraph) = if first {
                    (sig.key.clone(), sig.subgraph.to_string())
                } else {
                    (String::new(), String::new())
                };
                first = false;
                t.row(vec![
                    key,
                    subgraph,
                    kind.to_string(),
                    io.name.clone(),
                    io.tensor.to_string(),
                ]);
            }
            if first {
                t.row(vec![sig.key.clone(), sig.subgraph.to_string()]);
            }
        }
        t.render("  ", &mut out);
    }

    if !report.metadata.is_empty() {
        section(&mut out, "Metadata", report.metadata.len());
        let mut t = Table::new(&[
            ("name", Align::Left),
            ("bytes", Align::Right),
            ("value", Align::Left),
        ]);
        for m in &report.metadata {
            t.row(vec![
                m.name.clone(),
                thousands(m.bytes),
                m.text
                    .as_deref()
                    .map_or_else(String::new, |v| format!("{v:?}")),
            ]);
        }
        t.render("  ", &mut out);
    }

    for sg in &report.subgraphs {
        operators(&mut out, sg);
        tensors(&mut out, sg);
    }
    summary(&mut out, report);
    out
}

fn section(out: &mut String, title: &str, count: usize) {
    let _ = writeln!(out, "\n{title} ({count})");
}

fn subgraph_title(sg: &SubgraphReport) -> String {
    if sg.name.is_empty() {
        format!("Subgraph {}", sg.index)
    } else {
        format!("Subgraph {} {:?}", sg.index, sg.name)
    }
}

fn operators(out: &mut String, sg: &SubgraphReport) {
    section(
        out,
        &format!("{}: operators", subgraph_title(sg)),
        sg.operators.len(),
    );
    let mut t = Table::new(&[
        ("#", Align::Right),
        ("op", Align::Left),
        ("version", Align::Right),
        ("inputs", Align::Left),
        ("outputs", Align::Left),
        ("activation", Align::Left),
        ("MACs", Align::Right),
    ]);
    for op in &sg.operators {
        let name = if op.custom {
            format!("{} (custom)", op.op)
        } else {
            op.op.clone()
        };
        t.row(vec![
            op.index.to_string(),
            name,
            op.version.to_string(),
            list(&op.inputs),
            list(&op.outputs),
            op.fused_activation.clone().unwrap_or_default(),
            op.macs.map_or_else(String::new, thousands),
        ]);
    }
    t.render("  ", out);
}

fn tensors(out: &mut String, sg: &SubgraphReport) {
    section(
        out,
        &format!("{}: tensors", subgraph_title(sg)),
        sg.tensors.len(),
    );
    // The name comes last: converter names run to hundreds of characters, and a long last
    // column does not push the others out of line.
    let mut t = Table::new(&[
        ("#", Align::Right),
        ("dtype", Align::Left),
        ("shape", Align::Left),
        ("quantization", Align::Left),
        ("bytes", Align::Right),
        ("kind", Align::Left),
        ("name", Align::Left),
    ]);
    for tensor in &sg.tensors {
        t.row(vec![
            tensor.index.to_string(),
            tensor.dtype.clone(),
            shape(tensor),
            tensor.quantization.as_ref().map_or_else(String::new, quant),
            tensor.bytes.map_or_else(|| "-".to_string(), thousands),
            kind(sg, tensor),
            tensor.name.clone(),
        ]);
    }
    t.render("  ", out);
}

/// The shape; a shape signature that differs from it (dynamic dimensions) follows it.
fn shape(t: &TensorReport) -> String {
    match &t.shape_signature {
        Some(sig) if *sig != t.shape => format!("{} sig {}", list(&t.shape), list(sig)),
        _ => list(&t.shape),
    }
}

/// Per-tensor parameters as `scale S zp Z`, per-channel ones as `per-channel(N) axis A`.
fn quant(q: &QuantReport) -> String {
    let mut parts = Vec::new();
    if q.is_per_channel() {
        parts.push(format!(
            "per-channel({}) axis {}",
            q.scales.len(),
            q.quantized_dimension
        ));
    } else if let Some(scale) = q.scales.first() {
        let zp = q.zero_points.first().copied().unwrap_or(0);
        parts.push(format!("scale {scale} zp {zp}"));
    }
    if q.scales.is_empty() && (!q.min.is_empty() || !q.max.is_empty()) {
        match (q.min.as_slice(), q.max.as_slice()) {
            ([min], [max]) => parts.push(format!("range [{min}, {max}]")),
            (min, max) => parts.push(format!("range({})", min.len().max(max.len()))),
        }
    }
    if let Some(d) = &q.details {
        parts.push(format!("details {d}"));
    }
    parts.join(", ")
}

/// What a tensor is: a subgraph input or output, a constant, a variable, or (empty) an
/// intermediate activation.
fn kind(sg: &SubgraphReport, t: &TensorReport) -> String {
    let index = i32::try_from(t.index).unwrap_or(i32::MAX);
    let mut kinds = Vec::new();
    if sg.inputs.contains(&index) {
        kinds.push("input");
    }
    if sg.outputs.contains(&index) {
        kinds.push("output");
    }
    if t.constant {
        kinds.push(if t.sparse { "const sparse" } else { "const" });
    }
    if t.variable {
        kinds.push("variable");
    }
    kinds.join(", ")
}

fn summary(out: &mut String, report: &ModelReport) {
    let s = &report.summary;
    let _ = writeln!(out, "\nSummary");
    let mut t = Table::new(&[("", Align::Left), ("", Align::Left)]);
    let mut kv = |k: &str, v: String| t.row(vec![k.to_string(), v]);
    kv("file size", format!("{} bytes", thousands(s.file_size)));
    kv("subgraphs", thousands(s.subgraphs as u64));
    kv("operators", thousands(s.operators as u64));
    kv("tensors", thousands(s.tensors as u64));
    kv(
        "parameters",
        format!(
            "{} ({} bytes)",
            thousands(s.parameters),
            thousands(s.parameter_bytes)
        ),
    );
    kv("estimated MACs", thousands(s.macs));
    render_without_header(&t, out);

    if !s.parameters_by_dtype.is_empty() {
        let _ = writeln!(out, "\n  parameters by dtype");
        let mut t = Table::new(&[
            ("dtype", Align::Left),
            ("count", Align::Right),
            ("bytes", Align::Right),
        ]);
        for (dtype, p) in &s.parameters_by_dtype {
            t.row(vec![dtype.clone(), thousands(p.count), thousands(p.bytes)]);
        }
        t.render("    ", out);
    }

    if !s.op_histogram.is_empty() {
        let _ = writeln!(out, "\n  operators by kind");
        let mut t = Table::new(&[
            ("op", Align::Left),
            ("count", Align::Right),
            ("MACs", Align::Right),
        ]);
        let mut ops: Vec<(&String, &u64)> = s.op_histogram.iter().collect();
        // Most frequent first; ties by name, so the order is stable.
        ops.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        for (op, count) in ops {
            t.row(vec![
                op.clone(),
                thousands(*count),
                s.macs_by_op
                    .get(op)
                    .map_or_else(String::new, |m| thousands(*m)),
            ]);
        }
        t.render("    ", out);
    }
}

/// Renders a two-column key/value table without its (empty) header line.
fn render_without_header(t: &Table, out: &mut String) {
    let mut text = String::new();
    t.render("  ", &mut text);
    if let Some((_, rows)) = text.split_once('\n') {
        out.push_str(rows);
    }
}

fn list(items: &[i32]) -> String {
    let inner: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", inner.join(", "))
}

//! `tflrs embed MODEL [--lang c|rust] [--name NAME] [-o FILE]`: a model as source code, the
//! `xxd -i` step of a microcontroller build done well.
//!
//! C (the default) writes `alignas(16) const unsigned char NAME[]` and
//! `const unsigned int NAME_len`, which compiles with `-Wall -Werror` (C11 and later, and C++11);
//! Rust writes `pub static NAME: Aligned16<[u8; N]>` (a `#[repr(C, align(16))]` wrapper; `.0` is
//! the array) and `pub const NAME_LEN: usize`, a module of its own. Both are headed by a comment
//! that names the model's operators, its inputs and outputs (name, dtype, shape), and the arena
//! tflrs plans for it with the scalar kernels and the inputs' memory reused once read (what a
//! firmware built on `tflrs-runtime` without default features runs). The interpreter's heap (its
//! plan and kernels) is not known on the host: `cargo xtask qemu` measures it on a Cortex-M4.
//!
//! `NAME` defaults to the file's stem (`g_model` for `model.tflite`), made a C and Rust
//! identifier; Rust upper-cases it. Without `-o` the source goes to stdout.

use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tflrs_runtime::{Interpreter, Model};

/// Arguments of `tflrs embed`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.tflite` model to embed.
    pub model: PathBuf,
    /// The language of the source: `c` or `rust`.
    #[arg(long, default_value = "c", value_parser = ["c", "rust"])]
    pub lang: String,
    /// The array's name (default: the file's stem, `g_model` for `model.tflite`).
    #[arg(long)]
    pub name: Option<String>,
    /// Write the source to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What the header comment says about a model.
#[derive(Debug)]
struct Summary {
    file: String,
    bytes: usize,
    /// Operator names with how many nodes use them, in first-use order.
    ops: Vec<(String, usize)>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    arena_bytes: usize,
}

/// Runs `tflrs embed`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let path = &args.model;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let summary = summarize(path, &bytes)?;
    let name = match &args.name {
        Some(n) => {
            if !is_identifier(n) {
                bail!("--name {n:?} is not a C and Rust identifier ([A-Za-z_][A-Za-z0-9_]*)");
            }
            n.clone()
        }
        None => default_name(path),
    };
    let text = match args.lang.as_str() {
        "c" => render_c(&name, &summary, &bytes),
        _ => render_rust(&name.to_uppercase(), &summary, &bytes),
    };
    match &args.output {
        Some(file) => std::fs::write(file, text)
            .with_context(|| format!("cannot write {}", file.display()))?,
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(e).context("cannot write to stdout");
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Loads and plans the model as the firmware does (scalar kernels, inputs' memory reused).
fn summarize(path: &Path, bytes: &[u8]) -> anyhow::Result<Summary> {
    let model = Model::from_bytes(bytes)
        .with_context(|| format!("{} is not a model tflrs can load", path.display()))?;
    let interp = Interpreter::builder(&model)
        .reference_kernels(true)
        .preserve_inputs(false)
        .build()
        .with_context(|| format!("cannot plan {}", path.display()))?;
    let mut ops: Vec<(String, usize)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for e in interp.plan_report() {
        match index.get(&e.op) {
            Some(&k) => ops[k].1 += 1,
            None => {
                index.insert(e.op.clone(), ops.len());
                ops.push((e.op, 1));
            }
        }
    }
    let describe = |info: &tflrs_runtime::TensorInfo| {
        format!("'{}' {} {:?}", info.name, info.dtype.name(), info.shape)
    };
    let mut inputs = Vec::new();
    for i in 0..interp.num_inputs() {
        inputs.push(describe(interp.input_info(i)?));
    }
    let mut outputs = Vec::new();
    for k in 0..interp.num_outputs() {
        outputs.push(describe(interp.output_info(k)?));
    }
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    Ok(Summary {
        file,
        bytes: bytes.len(),
        ops,
        inputs,
        outputs,
        arena_bytes: interp.arena_bytes(),
    })
}

/// The header comment's lines (without comment markers).
fn header_lines(s: &Summary) -> Vec<String> {
    let mut lines = vec![
        format!("{}: {} bytes, embedded by `tflrs embed`.", s.file, s.bytes),
        format!(
            "Operators: {}.",
            s.ops
                .iter()
                .map(|(op, n)| if *n == 1 {
                    op.clone()
                } else {
                    format!("{op} x{n}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    for (k, t) in s.inputs.iter().enumerate() {
        lines.push(format!("Input {k}: {t}"));
    }
    for (k, t) in s.outputs.iter().enumerate() {
        lines.push(format!("Output {k}: {t}"));
    }
    lines.push(format!(
        "tflrs arena: {} bytes (scalar kernels, inputs' memory reused once read).",
        s.arena_bytes
    ));
    lines.push(
        "RAM = arena + the interpreter's heap peak; `cargo xtask qemu` measures both on a Cortex-M4."
            .to_string(),
    );
    // Names come from the model: keep them from ending the comment or the line.
    lines
        .into_iter()
        .map(|l| {
            l.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
                .replace("*/", "* /")
        })
        .collect()
}

fn render_c(name: &str, s: &Summary, bytes: &[u8]) -> String {
    let mut out = String::from("/*\n");
    for l in header_lines(s) {
        let _ = writeln!(out, " * {l}");
    }
    out.push_str(" */\n");
    // `alignas` is a keyword in C++11 and C23, a macro of <stdalign.h> in C11.
    out.push_str("#ifndef __cplusplus\n#include <stdalign.h>\n#endif\n\n");
    let _ = writeln!(out, "alignas(16) const unsigned char {name}[] = {{");
    hex_rows(&mut out, bytes);
    out.push_str("};\n");
    let _ = writeln!(out, "const unsigned int {name}_len = {};", bytes.len());
    out
}

fn render_rust(name: &str, s: &Summary, bytes: &[u8]) -> String {
    let mut out = String::new();
    for l in header_lines(s) {
        let _ = writeln!(out, "// {l}");
    }
    out.push_str(
        "\n/// 16-byte alignment for the model's bytes (flatbuffers read scalars in place).\n\
         #[repr(C, align(16))]\n\
         pub struct Aligned16<T: ?Sized>(pub T);\n\n",
    );
    let _ = writeln!(out, "/// The length of [`{name}`] in bytes.");
    let _ = writeln!(out, "pub const {name}_LEN: usize = {};", bytes.len());
    let _ = writeln!(out, "/// The model; `&{name}.0` is its bytes.");
    let _ = writeln!(
        out,
        "pub static {name}: Aligned16<[u8; {name}_LEN]> = Aligned16(["
    );
    hex_rows(&mut out, bytes);
    out.push_str("]);\n");
    out
}

/// Bytes as `0x..` literals, 12 a row, each row indented and ending in a comma.
fn hex_rows(out: &mut String, bytes: &[u8]) {
    for row in bytes.chunks(12) {
        out.push_str("   ");
        for b in row {
            let _ = write!(out, " 0x{b:02x},");
        }
        out.push('\n');
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The file's stem as an identifier: other characters become `_`, a leading digit (or a stem
/// that is a keyword-prone `model`) gets a `g_` prefix, as TFLM's examples name theirs.
fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || name == "model" {
        name.insert_str(0, "g_");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_identifiers() {
        assert_eq!(default_name(Path::new("a/model.tflite")), "g_model");
        assert_eq!(
            default_name(Path::new("kws-dscnn.v2.tflite")),
            "kws_dscnn_v2"
        );
        assert_eq!(default_name(Path::new("3x.tflite")), "g_3x");
        for p in [
            "a/model.tflite",
            "kws-dscnn.v2.tflite",
            "3x.tflite",
            ".tflite",
        ] {
            assert!(is_identifier(&default_name(Path::new(p))), "{p}");
        }
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier(""));
    }
}

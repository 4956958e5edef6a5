//! [`Graph::dump`]: a stable, complete text form of a graph for snapshot tests and debugging.
//!
//! The format, one item per line:
//!
//! ```text
//! graph "MLIR Converted."
//! subgraph 0 "main" (%0) -> (%7)
//!   %0 "input" float32[?=1, 28, 28] quant(per_tensor 0.0039215684 -128)
//!   %1 "w" int8[16, 3, 3, 1] const(144 bytes #0f3a...) quant(per_axis 0 [0.1, ...] (16 scales #...))
//!   node 0 CONV_2D v3 (%0, %1, %2) -> (%3) Conv2dAttrs { padding: Same, ... }
//! signature "serving_default" subgraph 0 in(x=%0) out(y=%7)
//! metadata "min_runtime_version" 16 bytes #...
//! ```
//!
//! Constants show their size and a content hash, and their values when they have at most 16
//! elements; long quantization arrays show their first values, count and hash. Everything
//! that import reads appears, so two graphs that dump the same are equal.

use crate::dtype::DType;
use crate::graph::*;
use crate::ops::{Op, RawOptions, RawValue};
use crate::quant::*;
use alloc::string::String;
use core::fmt::{self, Write};

/// FNV-1a 64 of `bytes`, for compact content fingerprints.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

struct Bytes<'b>(&'b [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes #{:016x}", self.0.len(), fnv(self.0))
    }
}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T], hash: &[u8]) -> fmt::Result {
    f.write_str("[")?;
    let shown = if items.len() <= 8 { items.len() } else { 4 };
    for (i, x) in items.iter().take(shown).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{x}")?;
    }
    if shown < items.len() {
        write!(f, ", ... ({} values #{:016x})", items.len(), fnv(hash))?;
    }
    f.write_str("]")
}

fn f32_bytes(v: &[f32]) -> alloc::vec::Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: &[i64]) -> alloc::vec::Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn write_ids(f: &mut fmt::Formatter<'_>, ids: &[ValueId]) -> fmt::Result {
    f.write_str("(")?;
    for (i, v) in ids.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str(")")
}

fn write_small_constant(
    f: &mut fmt::Formatter<'_>,
    dtype: DType,
    data: &[u8],
    n: u64,
) -> fmt::Result {
    let n = n as usize;
    macro_rules! show {
        ($t:ty, $size:expr) => {{
            f.write_str(" = [")?;
            for (i, c) in data.chunks_exact($size).take(n).enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                let mut b = [0u8; $size];
                b.copy_from_slice(c);
                write!(f, "{}", <$t>::from_le_bytes(b))?;
            }
            f.write_str("]")
        }};
    }
    match dtype {
        DType::Float32 => show!(f32, 4),
        DType::Int32 => show!(i32, 4),
        DType::Int64 => show!(i64, 8),
        DType::Int16 => show!(i16, 2),
        DType::Int8 => show!(i8, 1),
        DType::UInt8 | DType::Bool => show!(u8, 1),
        _ => Ok(()),
    }
}

fn write_quant(f: &mut fmt::Formatter<'_>, q: &QuantParams) -> fmt::Result {
    f.write_str(" quant(")?;
    match &q.scheme {
        None => f.write_str("none")?,
        Some(QuantScheme::PerTensor { scale, zero_point }) => {
            write!(f, "per_tensor {scale:?} {zero_point}")?
        }
        Some(QuantScheme::PerAxis {
            axis,
            scales,
            zero_points,
        }) => {
            write!(f, "per_axis {axis} ")?;
            list(f, scales, &f32_bytes(scales))?;
            f.write_str(" ")?;
            list(f, zero_points, &i64_bytes(zero_points))?;
        }
    }
    if !q.min.is_empty() || !q.max.is_empty() {
        f.write_str(" min ")?;
        list(f, &q.min, &f32_bytes(&q.min))?;
        f.write_str(" max ")?;
        list(f, &q.max, &f32_bytes(&q.max))?;
    }
    match &q.details {
        QuantDetails::None => {}
        QuantDetails::Custom(c) => write!(f, " custom({})", Bytes(c))?,
        d => write!(f, " {d:?}")?,
    }
    f.write_str(")")
}

fn write_value(f: &mut fmt::Formatter<'_>, id: ValueId, v: &Value<'_>) -> fmt::Result {
    write!(f, "  {id} {:?} {}{}", v.name, v.dtype, v.shape)?;
    if let Some(d) = &v.data {
        write!(f, " const({})", Bytes(d))?;
        if v.sparsity.is_none()
            && let Some(n) = v.shape.num_elements()
            && n <= 16
        {
            write_small_constant(f, v.dtype, d, n)?;
        }
    }
    if v.is_variable {
        f.write_str(" variable")?;
    }
    if let Some(q) = &v.quant {
        write_quant(f, q)?;
    }
    if let Some(sp) = &v.sparsity {
        write!(f, " sparsity{sp:?}")?;
    }
    if !v.variant_subtypes.is_empty() {
        write!(f, " variants{:?}", v.variant_subtypes)?;
    }
    if v.external_buffer != 0 {
        write!(f, " external_buffer={}", v.external_buffer)?;
    }
    f.write_str("\n")
}

fn write_raw(f: &mut fmt::Formatter<'_>, what: &str, r: &RawOptions, second: bool) -> fmt::Result {
    let name = crate::tflite::options_table_name(r.union_type, second).unwrap_or("?");
    write!(f, " {what}={name}{{")?;
    for (i, field) in r.fields.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        match &field.value {
            RawValue::Scalar { size, bits } => write!(f, "{}: s{size}:{bits:#x}", field.id)?,
            RawValue::String(s) => write!(f, "{}: {:?}", field.id, String::from_utf8_lossy(s))?,
            RawValue::Vector { elem_size, data } => {
                write!(f, "{}: v{elem_size}:{}", field.id, Bytes(data))?
            }
        }
    }
    f.write_str("}")
}

fn write_node(f: &mut fmt::Formatter<'_>, n: usize, node: &Node<'_>) -> fmt::Result {
    write!(f, "  node {n} {}", node.op.name())?;
    match node.version {
        Some(v) => write!(f, " v{v}")?,
        None => f.write_str(" v?")?,
    }
    f.write_str(" (")?;
    for (i, v) in node.inputs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        match v {
            Some(v) => write!(f, "{v}")?,
            None => f.write_str("-")?,
        }
    }
    f.write_str(") -> ")?;
    write_ids(f, &node.outputs)?;
    match &node.op {
        Op::Opaque(o) => {
            if o.custom_code.is_some() && o.builtin_code != crate::ops::CUSTOM_CODE {
                write!(f, " builtin={} custom={:?}", o.builtin_code, o.custom_code)?;
            }
            if let Some(r) = &o.options {
                write_raw(f, "options", r, false)?;
            }
            if let Some(r) = &o.options_2 {
                write_raw(f, "options_2", r, true)?;
            }
            if let Some(c) = &o.custom_options {
                write!(f, " custom_options({})", Bytes(c))?;
            }
            if o.custom_options_format != 0 {
                write!(f, " custom_options_format={}", o.custom_options_format)?;
            }
        }
        op => {
            // The attributes' Debug form (field names are the schema's).
            let text = alloc::format!("{op:?}");
            if let Some(open) = text.find('(') {
                write!(f, " {}", &text[open + 1..text.len() - 1])?;
            }
        }
    }
    if !node.intermediates.is_empty() {
        f.write_str(" intermediates")?;
        write_ids(f, &node.intermediates)?;
    }
    if !node.mutating_variable_inputs.is_empty() {
        write!(
            f,
            " mutating_variable_inputs={:?}",
            node.mutating_variable_inputs
        )?;
    }
    if node.debug_metadata_index != -1 {
        write!(f, " debug_metadata_index={}", node.debug_metadata_index)?;
    }
    f.write_str("\n")
}

impl fmt::Display for Graph<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "graph {:?}", self.description)?;
        for (s, sg) in self.subgraphs.iter().enumerate() {
            write!(f, "subgraph {s} {:?} ", sg.name)?;
            write_ids(f, &sg.inputs)?;
            f.write_str(" -> ")?;
            write_ids(f, &sg.outputs)?;
            if sg.debug_metadata_index != -1 {
                write!(f, " debug_metadata_index={}", sg.debug_metadata_index)?;
            }
            f.write_str("\n")?;
            for (v, value) in sg.values.iter().enumerate() {
                write_value(f, ValueId(v as u32), value)?;
            }
            for (n, node) in sg.nodes.iter().enumerate() {
                write_node(f, n, node)?;
            }
        }
        for sig in &self.signatures {
            write!(f, "signature {:?} subgraph {} in(", sig.key, sig.subgraph)?;
            for (i, t) in sig.inputs.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                write!(f, "{sep}{}={}", t.name, t.value)?;
            }
            f.write_str(") out(")?;
            for (i, t) in sig.outputs.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                write!(f, "{sep}{}={}", t.name, t.value)?;
            }
            f.write_str(")\n")?;
        }
        for m in &self.metadata {
            writeln!(f, "metadata {:?} {}", m.name, Bytes(&m.data))?;
        }
        for d in &self.metadata_buffers {
            writeln!(f, "metadata_buffer {}", Bytes(d))?;
        }
        for g in &self.external_buffer_groups {
            writeln!(f, "external_buffer_group {g:?}")?;
        }
        for b in &self.external_buffers {
            writeln!(f, "external_buffer {b:?}")?;
        }
        Ok(())
    }
}

impl Graph<'_> {
    /// The graph as stable text (see the module documentation of `dump`): one line per value,
    /// node, signature and metadata entry.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "{self}");
        s
    }
}

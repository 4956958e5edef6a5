//! [`Float16`]: float32 constants stored as float16 behind DEQUANTIZE.

use super::{dequantize, readers};
use crate::manager::{Pass, PassCtx, PassError};
use std::borrow::Cow;
use tflrs_ir::{DType, Graph, Metadata, Patch, RefSite, UseMap, Value};

/// The converter's float16 mode: every float32 constant that an operator reads (weights,
/// biases, constant operands) becomes a FLOAT16 constant (values clamped to ±65504, then
/// rounded to the nearest half) and one DEQUANTIZE, inserted before its first reader, feeds
/// every reader. A constant that is a subgraph output, or that nothing reads, is left alone.
/// The model gets the converter's `reduced_precision_support = "fp16accfp32"` metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct Float16;

impl Pass for Float16 {
    fn name(&self) -> &str {
        "quantize-float16"
    }

    fn run(&self, graph: &mut Graph<'_>, _: &PassCtx<'_>) -> Result<bool, PassError> {
        let mut changed = false;
        for s in 0..graph.subgraphs.len() {
            let uses = UseMap::with_signatures(graph, s);
            let sg = &graph.subgraphs[s];
            let mut patch = Patch::new(sg);
            for v in sg.value_ids() {
                let Some(value) = sg.value(v) else { continue };
                if value.dtype != DType::Float32
                    || !value.is_constant()
                    || value.quant.is_some()
                    || value.sparsity.is_some()
                    || value.is_variable
                    || uses
                        .uses(v)
                        .iter()
                        .any(|u| !matches!(u, RefSite::NodeInput { .. }))
                {
                    continue;
                }
                let Some(data) = value.constant_as::<f32>() else {
                    continue;
                };
                let rs = readers(sg, v);
                let Some(&(first, _)) = rs.first() else {
                    continue;
                };
                let halves: Vec<u8> = data
                    .iter()
                    .flat_map(|&x| half::f16::from_f32(x.clamp(-65504.0, 65504.0)).to_le_bytes())
                    .collect();
                let mut h = Value::new(value.name.clone(), DType::Float16, value.shape.clone());
                h.data = (!halves.is_empty()).then_some(Cow::Owned(halves));
                let h = patch.add_value(h);
                let d = patch.add_value(Value::new(
                    format!("{}_dequantize", value.name),
                    DType::Float32,
                    value.shape.clone(),
                ));
                patch.insert_node(first, dequantize(h, d));
                patch.replace_all_uses(v, d);
                changed = true;
            }
            patch.apply(graph, s)?;
        }
        if changed {
            graph.compact();
            set_metadata(graph, "reduced_precision_support", b"fp16accfp32");
        }
        Ok(changed)
    }
}

/// Sets metadata entry `name` to `value` (replacing one of that name).
fn set_metadata(graph: &mut Graph<'_>, name: &str, value: &[u8]) {
    graph.metadata.retain(|m| m.name != name);
    graph.metadata.push(Metadata {
        name: name.into(),
        data: Cow::Owned(value.to_vec()),
    });
}

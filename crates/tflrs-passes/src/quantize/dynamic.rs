//! [`DynamicRange`]: int8 weights for hybrid operators (the converter's `Optimize.DEFAULT`
//! without a representative dataset).

use super::dequantize;
use crate::manager::{Pass, PassCtx, PassError};
use std::borrow::Cow;
use tflrs_ir::{DType, Graph, Op, Patch, QuantParams, Value, ValueId};

/// Dynamic-range quantization as TensorFlow's converter does it (its MLIR path):
///
/// - float32 constant weights with at least [`min_elements`](Self::min_elements) elements
///   (1024) become symmetric int8 in the narrow range `[-127, 127]`, `scale = max|w| / 127`
///   per output channel where the operator has one (CONV_2D axis 0, DEPTHWISE_CONV_2D axis 3,
///   FULLY_CONNECTED axis 0, TRANSPOSE_CONV axis 0), per tensor otherwise;
/// - CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL (its second operand) read the
///   int8 weights themselves: hybrid kernels, which quantize their float input at run time
///   (FULLY_CONNECTED and BATCH_MATMUL with `asymmetric_quantize_inputs`, as the converter
///   sets it);
/// - TRANSPOSE_CONV, GATHER (its params) and EMBEDDING_LOOKUP (its table) get the int8 weights
///   behind a DEQUANTIZE (weight-only);
/// - inputs, outputs, biases and everything else stay float32.
#[derive(Debug, Clone, Copy)]
pub struct DynamicRange {
    /// Weights with fewer elements stay float (the converter's 1024).
    pub min_elements: usize,
}

impl Default for DynamicRange {
    fn default() -> Self {
        Self { min_elements: 1024 }
    }
}

/// How an operator takes int8 weights.
#[derive(Clone, Copy)]
struct Target {
    /// The weights' input slot.
    slot: usize,
    /// The per-channel axis, or `None` for per-tensor.
    axis: Option<usize>,
    /// Hybrid (the operator reads int8) or weight-only (DEQUANTIZE before it).
    hybrid: bool,
}

fn target(op: &Op<'_>) -> Option<Target> {
    let t = |slot, axis, hybrid| Some(Target { slot, axis, hybrid });
    match op {
        Op::Conv2d(_) => t(1, Some(0), true),
        Op::DepthwiseConv2d(_) => t(1, Some(3), true),
        Op::FullyConnected(_) => t(1, Some(0), true),
        Op::BatchMatMul(_) => t(1, None, true),
        Op::TransposeConv(_) => t(1, Some(0), false),
        Op::Gather(_) => t(0, None, false),
        Op::EmbeddingLookup => t(1, None, false),
        _ => None,
    }
}

/// Symmetric narrow-range int8 of `w` (shape `dims`) along `axis` (or per tensor): the values
/// and one scale per slice.
pub(crate) fn quantize_symmetric(
    w: &[f32],
    dims: &[usize],
    axis: Option<usize>,
) -> (Vec<i8>, Vec<f32>) {
    let (slices, inner) = match axis {
        Some(a) => (dims[a], dims[a + 1..].iter().product::<usize>()),
        None => (1, w.len()),
    };
    let slice_of = |i: usize| (i / inner) % slices;
    let mut max = vec![0.0f64; slices];
    for (i, &x) in w.iter().enumerate() {
        let m = &mut max[slice_of(i)];
        *m = m.max(f64::from(x).abs());
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { (m / 127.0) as f32 } else { 1.0 })
        .collect();
    let q = w
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let s = f64::from(scales[slice_of(i)]);
            (f64::from(x) / s).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    (q, scales)
}

impl Pass for DynamicRange {
    fn name(&self) -> &str {
        "quantize-dynamic"
    }

    fn run(&self, graph: &mut Graph<'_>, _: &PassCtx<'_>) -> Result<bool, PassError> {
        let mut changed = false;
        for s in 0..graph.subgraphs.len() {
            let sg = &graph.subgraphs[s];
            let mut patch = Patch::new(sg);
            // One int8 copy per weight constant, shared by its readers.
            let mut made: Vec<(ValueId, ValueId, Option<ValueId>)> = Vec::new();
            for (n, node) in sg.nodes.iter().enumerate() {
                let Some(t) = target(&node.op) else { continue };
                let Some(w) = node.input(t.slot) else {
                    continue;
                };
                let Some(wv) = sg.value(w) else { continue };
                if wv.dtype != DType::Float32
                    || !wv.is_constant()
                    || wv.quant.is_some()
                    || wv.sparsity.is_some()
                    || !wv.shape.is_static()
                    || (wv.shape.num_elements().unwrap_or(0) as usize) < self.min_elements
                {
                    continue;
                }
                let dims: Vec<usize> = wv.shape.dims.iter().map(|&d| d as usize).collect();
                if t.axis.is_some_and(|a| a >= dims.len()) {
                    continue;
                }
                let Some(data) = wv.constant_as::<f32>() else {
                    continue;
                };
                if data.len() != dims.iter().product::<usize>() {
                    continue;
                }
                let existing = made.iter().find(|m| m.0 == w).copied();
                let (q, deq) = match existing {
                    Some((_, q, deq)) if deq.is_some() || t.hybrid => (q, deq),
                    _ => {
                        let (values, scales) = quantize_symmetric(&data, &dims, t.axis);
                        let mut v = Value::new(wv.name.clone(), DType::Int8, wv.shape.clone());
                        v.data = Some(Cow::Owned(values.iter().map(|&x| x as u8).collect()));
                        v.quant = Some(match t.axis {
                            Some(a) => QuantParams::per_axis(
                                a as i32,
                                scales.clone(),
                                vec![0; scales.len()],
                            ),
                            None => QuantParams::per_tensor(scales[0], 0),
                        });
                        let q = patch.add_value(v);
                        (q, None)
                    }
                };
                let mut new = node.clone();
                new.version = None;
                if t.hybrid {
                    new.inputs[t.slot] = Some(q);
                    match &mut new.op {
                        Op::FullyConnected(a) => a.asymmetric_quantize_inputs = true,
                        Op::BatchMatMul(a) => a.asymmetric_quantize_inputs = true,
                        _ => {}
                    }
                    made.push((w, q, None));
                } else {
                    let d = match deq {
                        Some(d) => d,
                        None => {
                            let d = patch.add_value(Value::new(
                                format!("{}_dequantize", wv.name),
                                DType::Float32,
                                wv.shape.clone(),
                            ));
                            patch.insert_node(n, dequantize(q, d));
                            d
                        }
                    };
                    new.inputs[t.slot] = Some(d);
                    made.push((w, q, Some(d)));
                }
                patch.insert_node(n, new);
                patch.remove_node(n);
                changed = true;
            }
            patch.apply(graph, s)?;
        }
        if changed {
            graph.compact();
        }
        Ok(changed)
    }
}

//! [`FullInteger`]: full-integer int8 quantization from calibrated ranges (the converter's
//! `Optimize.DEFAULT` with a representative dataset and `TFLITE_BUILTINS_INT8`).

use crate::manager::{Pass, PassCtx, PassError};
use std::borrow::Cow;
use tflrs_ir::{DType, Graph, Node, Op, QuantParams, Subgraph, Value, ValueId};

/// Calibrated ranges of the values of a graph's main subgraph (subgraph 0): `(min, max)` per
/// [`ValueId`], `None` where nothing was recorded (constants, non-float values).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ranges {
    /// `values[v.index()]`: the range of value `v`.
    pub values: Vec<Option<(f32, f32)>>,
}

impl Ranges {
    /// No ranges for `n` values.
    pub fn new(n: usize) -> Self {
        Self {
            values: vec![None; n],
        }
    }

    /// The range of `v`, if recorded.
    pub fn get(&self, v: ValueId) -> Option<(f32, f32)> {
        self.values.get(v.index()).copied().flatten()
    }

    /// Records the range of `v` (growing the table as needed).
    pub fn set(&mut self, v: ValueId, min: f32, max: f32) {
        if self.values.len() <= v.index() {
            self.values.resize(v.index() + 1, None);
        }
        self.values[v.index()] = Some((min, max));
    }
}

/// The element type of the model's inputs and outputs after [`FullInteger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoType {
    /// float32, with QUANTIZE after each input and DEQUANTIZE before each output (the
    /// converter's default).
    #[default]
    Float,
    /// int8 (`inference_input_type = tf.int8`).
    Int8,
    /// uint8, zero points shifted by 128, with QUANTIZE uint8 -> int8 at the inputs and int8
    /// -> uint8 at the outputs (`inference_input_type = tf.uint8`).
    UInt8,
}

/// Full-integer int8 post-training quantization, with the converter's formulas (its MLIR
/// quantizer with `legacy_float_scale`):
///
/// - activations: asymmetric per-tensor int8 from the calibrated range ([`activation_params`]);
/// - CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED weights: symmetric per-channel int8 in
///   `[-127, 127]` (axis 0, 3, 0; [`quantize_weights`]); their biases int32 at
///   `input_scale * weight_scale[c]` (with the converter's overflow guard);
/// - SOFTMAX and LOGISTIC outputs at (1/256, -128), TANH at (1/128, 0), LOG_SOFTMAX at
///   (16/256, 127), L2_NORMALIZATION at (1/128, 0);
/// - the operators that must keep their input's scale (RESHAPE, the pools, PAD, ...) take their
///   input's parameters; CONCATENATION, PACK, MAXIMUM and MINIMUM take their output's range,
///   which the producers of their inputs take where they can, a requantizing QUANTIZE
///   elsewhere;
/// - other float constant operands (of ADD, MUL, ...) are quantized as activations, from their
///   own range;
/// - int32 operators (shape arithmetic) are left alone.
///
/// Operators with no int8 rule make the pass fail naming them, or, with
/// [`float_fallback`](Self::float_fallback), stay float between DEQUANTIZE and QUANTIZE.
#[derive(Debug, Clone, Default)]
pub struct FullInteger {
    /// The calibrated ranges of subgraph 0's values.
    pub ranges: Ranges,
    /// The model's input and output type.
    pub io: IoType,
    /// Keep operators without an int8 rule in float instead of failing.
    pub float_fallback: bool,
}

/// The converter's (legacy float) asymmetric int8 parameters of the range `[min, max]`: the
/// range is widened to include 0, `scale = (max - min) / 255` in f32 and
/// `zero_point = round(-128 - min / scale)` clamped to `[-128, 127]`, so that 0.0 is exact. A
/// range of zero width gets `(1.0, -128)`.
pub fn activation_params(min: f32, max: f32) -> (f32, i64) {
    let lo = if min.is_nan() { 0.0 } else { min.min(0.0) };
    let hi = if max.is_nan() { 0.0 } else { max.max(0.0) };
    let scale = (hi - lo) / 255.0;
    if !scale.is_normal() {
        return (1.0, -128);
    }
    let zp = (-128.0f32 - lo / scale).round().clamp(-128.0, 127.0);
    (scale, zp as i64)
}

/// `x` quantized with `(scale, zero_point)` into int8: `round(x / scale + zero_point)`, half
/// away from zero, clamped.
fn quantize_value(x: f32, scale: f32, zp: i64) -> i8 {
    (f64::from(x) / f64::from(scale) + zp as f64)
        .round()
        .clamp(-128.0, 127.0) as i8
}

/// The converter's per-channel scales of weights `w` (shape `dims`) along `axis`: per slice,
/// `max(|min|, |max|) / 127` in f32 (a range narrower than 1e-6 widened to +-5e-7 first).
pub fn weight_scales(w: &[f32], dims: &[usize], axis: usize) -> Vec<f32> {
    let slices = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let mut lo = vec![0.0f32; slices];
    let mut hi = vec![0.0f32; slices];
    for (i, &x) in w.iter().enumerate() {
        let c = (i / inner.max(1)) % slices.max(1);
        if x.is_finite() {
            lo[c] = lo[c].min(x);
            hi[c] = hi[c].max(x);
        }
    }
    lo.iter()
        .zip(&hi)
        .map(|(&l, &h)| {
            let (l, h) = if h - l <= 1e-6 {
                (-5e-7f32, 5e-7f32)
            } else {
                (l, h)
            };
            let absmax = l.abs().max(h.abs());
            (2.0 * absmax) / 254.0
        })
        .collect()
}

/// Weights `w` quantized with per-slice `scales` along `axis` as the converter does it:
/// `clamp(round(w * (1 / scale)), -127, 127)` in f32.
pub fn quantize_weights(w: &[f32], dims: &[usize], axis: usize, scales: &[f32]) -> Vec<i8> {
    let slices = dims[axis].max(1);
    let inner: usize = dims[axis + 1..].iter().product::<usize>().max(1);
    let inv: Vec<f32> = scales.iter().map(|&s| 1.0 / s).collect();
    w.iter()
        .enumerate()
        .map(|(i, &x)| (x * inv[(i / inner) % slices]).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// The converter's bias limit (`kBiasMax`): a bias whose quantized value would pass it gets a
/// larger scale.
const BIAS_MAX: f64 = (i32::MAX / 2) as f64;

/// How the pass treats an operator.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Weights at slot 1 per channel along `axis`, bias at slot 2.
    Weighted { axis: usize },
    /// Output parameters from its own range.
    Free,
    /// Fixed output parameters.
    Fixed(f32, i64),
    /// Output takes the parameters of the input at this slot.
    Same(usize),
    /// Several operands of one scale: the output's range wins.
    MultiSame,
    /// Reads float (quantized) input, writes no float (SHAPE).
    Reader,
    /// No int8 rule.
    Unsupported,
}

fn kind(op: &Op<'_>) -> Kind {
    match op {
        Op::Conv2d(_) => Kind::Weighted { axis: 0 },
        Op::DepthwiseConv2d(_) => Kind::Weighted { axis: 3 },
        Op::FullyConnected(_) => Kind::Weighted { axis: 0 },
        Op::Add(_)
        | Op::Sub(_)
        | Op::Mul(_)
        | Op::Mean(_)
        | Op::Sum(_)
        | Op::Relu
        | Op::Relu6
        | Op::ReluN1To1
        | Op::LeakyRelu(_)
        | Op::HardSwish
        | Op::SquaredDifference
        | Op::Abs => Kind::Free,
        Op::Softmax(_) | Op::Logistic => Kind::Fixed(1.0 / 256.0, -128),
        Op::Tanh => Kind::Fixed(1.0 / 128.0, 0),
        Op::LogSoftmax => Kind::Fixed(16.0 / 256.0, 127),
        Op::L2Normalization(_) => Kind::Fixed(1.0 / 128.0, 0),
        Op::Reshape(_)
        | Op::MaxPool2d(_)
        | Op::AveragePool2d(_)
        | Op::Pad
        | Op::PadV2
        | Op::MirrorPad(_)
        | Op::Squeeze(_)
        | Op::ExpandDims
        | Op::StridedSlice(_)
        | Op::Slice
        | Op::Transpose
        | Op::ResizeBilinear(_)
        | Op::ResizeNearestNeighbor(_)
        | Op::DepthToSpace(_)
        | Op::SpaceToDepth(_)
        | Op::ReduceMax(_)
        | Op::ReduceMin(_)
        | Op::Tile
        | Op::Gather(_) => Kind::Same(0),
        Op::Concatenation(_) | Op::Pack(_) | Op::Maximum | Op::Minimum => Kind::MultiSame,
        Op::Shape(_) => Kind::Reader,
        _ => Kind::Unsupported,
    }
}

fn is_float(sg: &Subgraph<'_>, v: ValueId) -> bool {
    sg.value(v).is_some_and(|v| v.dtype == DType::Float32)
}

fn is_const(sg: &Subgraph<'_>, v: ValueId) -> bool {
    sg.value(v).is_some_and(|v| v.is_constant())
}

fn fail(msg: impl Into<String>) -> PassError {
    PassError::Failed(msg.into())
}

/// Where a non-constant float value lives after the pass.
#[derive(Clone, Copy, PartialEq)]
enum Domain {
    /// Stays float32 (graph inputs with float I/O, outputs of float operators).
    Float,
    /// Becomes int8 in place with these parameters.
    Int8(f32, i64),
}

impl FullInteger {
    fn range(&self, sg: &Subgraph<'_>, v: ValueId) -> Result<(f32, i64), PassError> {
        let (lo, hi) = self.ranges.get(v).ok_or_else(|| {
            fail(format!(
                "no calibrated range for tensor {v} '{}'",
                sg.value(v).map_or("", |x| x.name.as_str())
            ))
        })?;
        Ok(activation_params(lo, hi))
    }
}

impl Pass for FullInteger {
    fn name(&self) -> &str {
        "quantize-int8"
    }

    fn run(&self, graph: &mut Graph<'_>, _: &PassCtx<'_>) -> Result<bool, PassError> {
        if graph.subgraphs.len() != 1 {
            return Err(fail(format!(
                "int8 quantization of models with {} subgraphs (control flow) is not supported",
                graph.subgraphs.len()
            )));
        }
        let sg = &graph.subgraphs[0];
        let n_values = sg.values.len();
        let kinds: Vec<Kind> = sg.nodes.iter().map(|n| kind(&n.op)).collect();
        let touches_float = |node: &Node<'_>| {
            node.inputs.iter().flatten().any(|&v| is_float(sg, v))
                || node.outputs.iter().any(|&v| is_float(sg, v))
        };
        // Which nodes run in int8.
        let mut quantized = vec![false; sg.nodes.len()];
        let mut refused: Vec<String> = Vec::new();
        for (n, node) in sg.nodes.iter().enumerate() {
            if !touches_float(node) {
                continue;
            }
            if kinds[n] == Kind::Unsupported {
                let name = node.op.name().into_owned();
                if !refused.contains(&name) {
                    refused.push(name);
                }
            } else {
                quantized[n] = true;
            }
        }
        if !refused.is_empty() && !self.float_fallback {
            return Err(fail(format!(
                "no int8 rule for {} (keep them float with the float fallback)",
                refused.join(", ")
            )));
        }

        let mut producer: Vec<Option<usize>> = vec![None; n_values];
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n_values];
        for (n, node) in sg.nodes.iter().enumerate() {
            for &o in &node.outputs {
                if let Some(p) = producer.get_mut(o.index()) {
                    *p = Some(n);
                }
            }
            for &i in node.inputs.iter().flatten() {
                if let Some(r) = readers.get_mut(i.index()) {
                    r.push(n);
                }
            }
        }

        // Producers that may take the range of the multi-operand op they alone feed.
        let mut take: Vec<Option<ValueId>> = vec![None; n_values];
        for (n, node) in sg.nodes.iter().enumerate() {
            if !quantized[n] || kinds[n] != Kind::MultiSame {
                continue;
            }
            let out = node.outputs[0];
            for &x in node.inputs.iter().flatten() {
                let Some(p) = producer[x.index()] else {
                    continue;
                };
                let free = matches!(kinds[p], Kind::Free | Kind::Weighted { .. });
                if quantized[p]
                    && free
                    && readers[x.index()].len() == 1
                    && !sg.outputs.contains(&x)
                    && node.inputs.iter().flatten().filter(|&&y| y == x).count() == 1
                {
                    take[x.index()] = Some(out);
                }
            }
        }

        // The domain of every non-constant float value.
        let mut domain: Vec<Option<Domain>> = vec![None; n_values];
        for &i in &sg.inputs {
            if !is_float(sg, i) {
                continue;
            }
            domain[i.index()] = Some(match self.io {
                IoType::Float | IoType::UInt8 => Domain::Float,
                IoType::Int8 => {
                    let (s, z) = self.range(sg, i)?;
                    Domain::Int8(s, z)
                }
            });
        }
        // Parameters an int8 operand must have, per (node, slot), where it is not its own.
        let mut want: Vec<Vec<Option<(f32, i64)>>> = Vec::with_capacity(sg.nodes.len());
        for (n, node) in sg.nodes.iter().enumerate() {
            let mut w = vec![None; node.inputs.len()];
            let float_outs: Vec<ValueId> = node
                .outputs
                .iter()
                .copied()
                .filter(|&o| is_float(sg, o))
                .collect();
            if !quantized[n] {
                for o in float_outs {
                    domain[o.index()] = Some(Domain::Float);
                }
                want.push(w);
                continue;
            }
            let own = |d: &Vec<Option<Domain>>, v: ValueId| -> Result<(f32, i64), PassError> {
                match d[v.index()] {
                    Some(Domain::Int8(s, z)) => Ok((s, z)),
                    _ => self.range(sg, v),
                }
            };
            let out_params = match kinds[n] {
                Kind::Weighted { .. } | Kind::Free => {
                    let mut p = Vec::new();
                    for &o in &float_outs {
                        let src = take[o.index()].unwrap_or(o);
                        p.push(self.range(sg, src)?);
                    }
                    p
                }
                Kind::Fixed(s, z) => vec![(s, z); float_outs.len()],
                Kind::Same(slot) => {
                    let x = node
                        .input(slot)
                        .ok_or_else(|| fail(format!("node {n}: no input {slot}")))?;
                    let p = own(&domain, x)?;
                    w[slot] = Some(p);
                    vec![p; float_outs.len()]
                }
                Kind::MultiSame => {
                    let mut p = Vec::new();
                    for &o in &float_outs {
                        p.push(self.range(sg, o)?);
                    }
                    if let Some(&first) = p.first() {
                        for (k, x) in node.inputs.iter().enumerate() {
                            if x.is_some_and(|x| is_float(sg, x)) {
                                w[k] = Some(first);
                            }
                        }
                    }
                    p
                }
                Kind::Reader | Kind::Unsupported => Vec::new(),
            };
            for (o, p) in float_outs.iter().zip(out_params) {
                domain[o.index()] = Some(Domain::Int8(p.0, p.1));
            }
            want.push(w);
        }

        // Rewrite.
        let graph_outputs = graph.subgraphs[0].outputs.clone();
        let graph_inputs = graph.subgraphs[0].inputs.clone();
        let sg = &mut graph.subgraphs[0];
        let was_float: Vec<bool> = sg
            .values
            .iter()
            .map(|v| v.dtype == DType::Float32)
            .collect();
        let old_nodes = std::mem::take(&mut sg.nodes);
        let mut nodes: Vec<Node<'_>> = Vec::with_capacity(old_nodes.len() + 8);
        // Int8 copies of float values (graph inputs, fallback outputs) and float copies of
        // int8 values (read by float operators), made once and shared.
        let mut int8_copy: Vec<(ValueId, (f32, i64), ValueId)> = Vec::new();
        let mut float_copy: Vec<(ValueId, ValueId)> = Vec::new();

        // uint8 inputs: the input itself becomes uint8, an int8 copy follows.
        for &i in &graph_inputs {
            if self.io != IoType::UInt8 || !is_float(sg, i) {
                continue;
            }
            let (s, z) = self.range(sg, i)?;
            let v = &mut sg.values[i.index()];
            let mut q = Value::new(format!("{}_int8", v.name), DType::Int8, v.shape.clone());
            q.quant = Some(QuantParams::per_tensor(s, z));
            v.dtype = DType::UInt8;
            v.quant = Some(QuantParams::per_tensor(s, z + 128));
            let q = sg.add_value(q);
            nodes.push(Node::new(Op::Quantize, vec![Some(i)], vec![q]));
            int8_copy.push((i, (s, z), q));
        }

        for (n, mut node) in old_nodes.into_iter().enumerate() {
            if !quantized[n] {
                // Float operator: int8 operands go through DEQUANTIZE.
                for slot in 0..node.inputs.len() {
                    let Some(x) = node.inputs[slot] else { continue };
                    if !matches!(domain.get(x.index()), Some(Some(Domain::Int8(..)))) {
                        continue;
                    }
                    let f = match float_copy.iter().find(|c| c.0 == x) {
                        Some(c) => c.1,
                        None => {
                            let v = &sg.values[x.index()];
                            let f = Value::new(
                                format!("{}_dequantize", v.name),
                                DType::Float32,
                                v.shape.clone(),
                            );
                            let f = sg.add_value(f);
                            nodes.push(Node::new(Op::Dequantize, vec![Some(x)], vec![f]));
                            float_copy.push((x, f));
                            f
                        }
                    };
                    node.inputs[slot] = Some(f);
                    node.version = None;
                }
                nodes.push(node);
                continue;
            }
            node.version = None;
            let k = kinds[n];
            // Weights and bias.
            if let Kind::Weighted { axis } = k {
                self.quantize_weighted(sg, &mut node, axis, &domain, n)?;
            }
            for slot in 0..node.inputs.len() {
                let Some(x) = node.inputs[slot] else { continue };
                let wanted = want[n].get(slot).copied().flatten();
                if !was_float.get(x.index()).copied().unwrap_or(false) {
                    continue;
                }
                if matches!(k, Kind::Weighted { .. }) && slot > 0 {
                    continue;
                }
                if is_const(sg, x) {
                    // A constant operand: quantized as an activation, with the operator's
                    // parameters where it must share them.
                    let v = &sg.values[x.index()];
                    let data = v
                        .constant_as::<f32>()
                        .ok_or_else(|| fail(format!("constant '{}' unreadable", v.name)))?;
                    let (s, z) = match wanted {
                        Some(p) => p,
                        None => {
                            let lo = data.iter().copied().filter(|x| x.is_finite());
                            let (a, b) =
                                lo.fold((0.0f32, 0.0f32), |(a, b), x| (a.min(x), b.max(x)));
                            activation_params(a, b)
                        }
                    };
                    let q: Vec<u8> = data
                        .iter()
                        .map(|&x| quantize_value(x, s, z) as u8)
                        .collect();
                    let mut nv = Value::new(v.name.clone(), DType::Int8, v.shape.clone());
                    nv.data = Some(Cow::Owned(q));
                    nv.quant = Some(QuantParams::per_tensor(s, z));
                    let id = sg.add_value(nv);
                    node.inputs[slot] = Some(id);
                    continue;
                }
                // A computed (or input) operand: int8 already, or given an int8 copy.
                let have = match domain.get(x.index()).copied().flatten() {
                    Some(Domain::Int8(s, z)) => Some((s, z)),
                    _ => None,
                };
                let need = match wanted {
                    Some(p) => p,
                    None => match have {
                        Some(p) => p,
                        None => self.range(sg, x)?,
                    },
                };
                if have == Some(need) {
                    continue;
                }
                let copy = int8_copy
                    .iter()
                    .find(|c| c.0 == x && c.1 == need)
                    .map(|c| c.2);
                let id = match copy {
                    Some(c) => c,
                    None => {
                        let v = &sg.values[x.index()];
                        let mut q = Value::new(
                            format!("{}_requantized", v.name),
                            DType::Int8,
                            v.shape.clone(),
                        );
                        q.quant = Some(QuantParams::per_tensor(need.0, need.1));
                        let q = sg.add_value(q);
                        nodes.push(Node::new(Op::Quantize, vec![Some(x)], vec![q]));
                        int8_copy.push((x, need, q));
                        q
                    }
                };
                node.inputs[slot] = Some(id);
            }
            nodes.push(node);
        }
        // Int8 in place.
        for (v, d) in domain.iter().enumerate() {
            if let Some(Domain::Int8(s, z)) = d {
                let val = &mut sg.values[v];
                if val.dtype == DType::Float32 && !val.is_constant() {
                    val.dtype = DType::Int8;
                    val.quant = Some(QuantParams::per_tensor(*s, *z));
                }
            }
        }
        // Outputs.
        for (k, &o) in graph_outputs.iter().enumerate() {
            let Some(Some(Domain::Int8(s, z))) = domain.get(o.index()).copied() else {
                continue;
            };
            if graph_inputs.contains(&o) {
                continue;
            }
            let (op, dtype, quant) = match self.io {
                IoType::Int8 => continue,
                IoType::Float => (Op::Dequantize, DType::Float32, None),
                IoType::UInt8 => (
                    Op::Quantize,
                    DType::UInt8,
                    Some(QuantParams::per_tensor(s, z + 128)),
                ),
            };
            let v = &mut sg.values[o.index()];
            let name = std::mem::take(&mut v.name);
            v.name = format!("{name}_int8");
            let mut out = Value::new(name, dtype, v.shape.clone());
            out.quant = quant;
            let out = sg.add_value(out);
            nodes.push(Node::new(op, vec![Some(o)], vec![out]));
            sg.outputs[k] = out;
        }
        sg.nodes = nodes;
        for sig in &mut graph.signatures {
            if sig.subgraph != 0 {
                continue;
            }
            for t in &mut sig.outputs {
                if let Some(k) = graph_outputs.iter().position(|&o| o == t.value) {
                    t.value = graph.subgraphs[0].outputs[k];
                }
            }
        }
        graph.compact();
        Ok(true)
    }
}

impl FullInteger {
    /// Replaces the weights (slot 1) and bias (slot 2) of node `n` with their int8 and int32
    /// forms.
    fn quantize_weighted(
        &self,
        sg: &mut Subgraph<'_>,
        node: &mut Node<'_>,
        axis: usize,
        domain: &[Option<Domain>],
        n: usize,
    ) -> Result<(), PassError> {
        let x = node
            .input(0)
            .ok_or_else(|| fail(format!("node {n}: no input")))?;
        let input_scale = match domain.get(x.index()).copied().flatten() {
            Some(Domain::Int8(s, _)) => s,
            _ => self.range(sg, x)?.0,
        };
        let w = node
            .input(1)
            .ok_or_else(|| fail(format!("node {n}: no weights")))?;
        let wv = &sg.values[w.index()];
        if wv.dtype != DType::Float32 || !wv.is_constant() || wv.sparsity.is_some() {
            return Err(fail(format!(
                "node {n} ({}): weights '{}' are not a dense float32 constant",
                node.op.name(),
                wv.name
            )));
        }
        let dims: Vec<usize> = wv.shape.dims.iter().map(|&d| d.max(0) as usize).collect();
        let data = wv
            .constant_as::<f32>()
            .ok_or_else(|| fail(format!("weights '{}' unreadable", wv.name)))?;
        if axis >= dims.len() || data.len() != dims.iter().product::<usize>() {
            return Err(fail(format!("weights '{}': bad shape", wv.name)));
        }
        let mut scales = weight_scales(&data, &dims, axis);
        // The bias, with the converter's guard against int32 overflow.
        let bias = node
            .input(2)
            .filter(|&b| is_float(sg, b) && is_const(sg, b));
        let mut bias_q = None;
        if let Some(b) = bias {
            let bv = &sg.values[b.index()];
            let bd = bv
                .constant_as::<f32>()
                .ok_or_else(|| fail(format!("bias '{}' unreadable", bv.name)))?;
            if bd.len() != scales.len() {
                return Err(fail(format!(
                    "bias '{}': {} values for {} channels",
                    bv.name,
                    bd.len(),
                    scales.len()
                )));
            }
            let mut bscales = Vec::with_capacity(bd.len());
            for (c, &bc) in bd.iter().enumerate() {
                let mut s = input_scale * scales[c];
                if s > 0.0 && f64::from(bc.abs()) / f64::from(s) >= BIAS_MAX {
                    s = (f64::from(bc.abs()) / BIAS_MAX) as f32;
                    scales[c] = s / input_scale;
                }
                bscales.push(s);
            }
            let q: Vec<i32> = bd
                .iter()
                .zip(&bscales)
                .map(|(&bc, &s)| {
                    let inv = 1.0f32 / s;
                    (f64::from(bc * inv))
                        .round()
                        .clamp(-f64::from(i32::MAX), f64::from(i32::MAX)) as i32
                })
                .collect();
            let mut nv = Value::constant(bv.name.clone(), bv.shape.clone(), &q);
            nv.quant = Some(QuantParams::per_axis(
                0,
                bscales.clone(),
                vec![0; bscales.len()],
            ));
            bias_q = Some(nv);
        }
        let q = quantize_weights(&data, &dims, axis, &scales);
        let mut nv = Value::new(wv.name.clone(), DType::Int8, wv.shape.clone());
        nv.data = Some(Cow::Owned(q.iter().map(|&x| x as u8).collect()));
        nv.quant = Some(QuantParams::per_axis(
            axis as i32,
            scales.clone(),
            vec![0; scales.len()],
        ));
        let id = sg.add_value(nv);
        node.inputs[1] = Some(id);
        if let Some(bq) = bias_q {
            let id = sg.add_value(bq);
            node.inputs[2] = Some(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_params_keep_zero_exact() {
        // [-1, 1]: scale 2/255, zero point round(-128 + 127.5) = round(-0.5) = -1 (half away
        // from zero).
        assert_eq!(activation_params(-1.0, 1.0), (2.0 / 255.0, -1));
        // A positive range widens to include 0: 0.0 maps to -128.
        assert_eq!(activation_params(0.5, 2.0), (2.0 / 255.0, -128));
        // A negative range: 0.0 maps to 127.
        assert_eq!(activation_params(-3.0, -1.0), (3.0 / 255.0, 127));
        // Zero width (an all-zero tensor) gets the guard, not a denormal scale.
        assert_eq!(activation_params(0.0, 0.0), (1.0, -128));
        assert_eq!(activation_params(f32::NAN, f32::NAN), (1.0, -128));
        for (lo, hi) in [(-0.3f32, 5.1f32), (-7.0, 0.01), (-1e-3, 1e-3)] {
            let (s, z) = activation_params(lo, hi);
            // 0.0 is on the grid, and the range is covered to within one step.
            assert!((-128..=127).contains(&z));
            assert!(s * (-128 - z) as f32 <= lo + s && s * (127 - z) as f32 >= hi - s);
        }
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        // Two output channels of 3 values (axis 0), one all zero.
        let w = [0.5, -1.27, 0.1, 0.0, 0.0, 0.0];
        let s = weight_scales(&w, &[2, 3], 0);
        assert_eq!(s[0], 1.27f32 / 127.0);
        // The all-zero channel: the converter's +-5e-7 range, a tiny nonzero scale.
        assert_eq!(s[1], 1e-6f32 / 254.0);
        let q = quantize_weights(&w, &[2, 3], 0, &s);
        assert_eq!(q, [50, -127, 10, 0, 0, 0]);
        // Depthwise: axis 3 of [1, 1, 2, 2].
        let w = [1.0, -4.0, -2.0, 2.0];
        let s = weight_scales(&w, &[1, 1, 2, 2], 3);
        assert_eq!(s, [2.0 / 127.0, 4.0 / 127.0]);
        assert_eq!(
            quantize_weights(&w, &[1, 1, 2, 2], 3, &s),
            [64, -127, -127, 64]
        );
    }

    #[test]
    fn bias_overflow_moves_the_weight_scale() {
        use tflrs_ir::{FullyConnectedAttrs, GraphBuilder};
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [1, 2]);
        let w = b.constant_f32("w", [1, 2], &[1e-3, -1e-3]);
        let bias = b.constant_f32("b", [1], &[1e6]);
        let y = b
            .op(
                Op::FullyConnected(FullyConnectedAttrs::default()),
                &[x, w, bias],
            )
            .unwrap();
        b.output(y);
        let mut g = b.finish().unwrap();
        let mut ranges = Ranges::default();
        ranges.set(x, -1.0, 1.0);
        ranges.set(y, -1e6, 1e6);
        let pass = FullInteger {
            ranges,
            io: IoType::Int8,
            float_fallback: false,
        };
        pass.run(&mut g, &PassCtx::new()).unwrap();
        g.verify().unwrap();
        let sg = &g.subgraphs[0];
        let fc = sg
            .nodes
            .iter()
            .find(|n| matches!(n.op, Op::FullyConnected(_)))
            .unwrap();
        let wv = sg.value(fc.input(1).unwrap()).unwrap();
        let bv = sg.value(fc.input(2).unwrap()).unwrap();
        assert_eq!((wv.dtype, bv.dtype), (DType::Int8, DType::Int32));
        let bs = bv.quant.as_ref().unwrap().scales()[0];
        let ws = wv.quant.as_ref().unwrap().scales()[0];
        let input_scale = 2.0f32 / 255.0;
        assert_eq!(bs, (1e6 / BIAS_MAX) as f32);
        assert_eq!(ws, bs / input_scale);
        let q = i32::from_le_bytes(bv.data.as_deref().unwrap()[..4].try_into().unwrap());
        assert!((f64::from(q) - BIAS_MAX).abs() <= 64.0, "{q}");
    }
}

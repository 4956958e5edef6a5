//! [`FoldBatchNorm`]: a MUL, ADD or SUB by a per-channel constant folded into the weights and
//! bias of the CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED before it (a batch
//! normalization left unfolded is such a MUL followed by such an ADD).

use crate::manager::PassError;
use crate::rule::{Rule, RuleCx, replace_node};
use tflrs_ir::{Activation, DType, Op, Patch, Value, ValueId, WeightsFormat};

/// `y = CONV(x, w, b); z = y * c` (or `y + c`, `c + y`, `y - c`), with `c` a float32 constant
/// holding one value or one per output channel (shape `[]`, `[C]` or `[1, .., 1, C]`), becomes
/// `z = CONV(x, w', b')`: `w'` and `b'` are `w` and `b` scaled by `c` per output channel (MUL)
/// or `b' = b + c` (ADD; `b - c` for SUB). The producer's activation must be NONE (its output
/// is then linear in `c`) and `y` must have no other reader; the MUL's or ADD's activation
/// moves onto the producer.
///
/// Float graphs only (float32 weights, no quantization): the folded model rounds differently
/// (`(x*w)*c` against `x*(w*c)`), within float tolerance. New weight and bias constants are
/// made; the old ones go when nothing else reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct FoldBatchNorm;

/// Which arithmetic the node does with the constant.
#[derive(Clone, Copy, PartialEq)]
enum Arith {
    Mul,
    Add,
    Sub,
}

impl Rule for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold-batch-norm"
    }

    fn about(&self) -> &'static str {
        "MUL/ADD/SUB by a per-channel constant into the weights and bias of the CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED before it (float graphs)"
    }

    fn rewrite<'a>(&self, cx: &RuleCx<'_, 'a>, n: usize) -> Result<Option<Patch<'a>>, PassError> {
        let Some(node) = cx.node(n) else {
            return Ok(None);
        };
        let (arith, act) = match &node.op {
            Op::Mul(a) => (Arith::Mul, a.fused_activation_function),
            Op::Add(a) => (Arith::Add, a.fused_activation_function),
            Op::Sub(a) => (Arith::Sub, a.fused_activation_function),
            _ => return Ok(None),
        };
        let ([Some(a), Some(b)], [z]) = (node.inputs.as_slice(), node.outputs.as_slice()) else {
            return Ok(None);
        };
        // The computed operand and the constant; SUB only as `y - c`.
        let (y, c) = match (cx.constant(*a), cx.constant(*b)) {
            (None, Some(_)) => (*a, *b),
            (Some(_), None) if arith != Arith::Sub => (*b, *a),
            _ => return Ok(None),
        };
        let Some(fold) = Fold::find(cx, y, c, *z)? else {
            return Ok(None);
        };
        let p = fold.producer;
        let mut conv = cx
            .node(p)
            .cloned()
            .ok_or_else(|| PassError::Failed("no producer".into()))?;
        let mut patch = cx.patch();
        let channels = fold.channels;
        let cvals: Vec<f32> = (0..channels).map(|k| fold.c[k % fold.c.len()]).collect();
        let bias: Vec<f32> = match &fold.bias {
            Some(b) => b.clone(),
            None => vec![0.0; channels],
        };
        let (new_w, new_b): (Option<Vec<f32>>, Vec<f32>) = match arith {
            Arith::Mul => {
                let mut w = fold.weights.clone();
                scale_weights(&mut w, &fold.layout, &cvals);
                (
                    Some(w),
                    bias.iter().zip(&cvals).map(|(b, c)| b * c).collect(),
                )
            }
            Arith::Add => (None, bias.iter().zip(&cvals).map(|(b, c)| b + c).collect()),
            Arith::Sub => (None, bias.iter().zip(&cvals).map(|(b, c)| b - c).collect()),
        };
        let sg = cx.sg();
        if let Some(w) = new_w {
            let old = sg
                .value(fold.w)
                .ok_or_else(|| PassError::Failed("no weights".into()))?;
            let id = patch.add_value(with_data(old, &format!("{}_folded", old.name), &w));
            conv.inputs[1] = Some(id);
        }
        // A MUL leaves a missing bias missing (it stays zero).
        let bias_value = match fold.b.and_then(|b| sg.value(b)) {
            Some(old) => Some(with_data(old, &format!("{}_folded", old.name), &new_b)),
            None if arith == Arith::Mul => None,
            None => {
                let zv = sg.value(*z).map(|v| v.name.as_str()).unwrap_or("bias");
                Some(Value::constant(
                    format!("{zv}_bias"),
                    [channels as i32],
                    &new_b,
                ))
            }
        };
        if let Some(bias_value) = bias_value {
            let bias_id = patch.add_value(bias_value);
            if conv.inputs.len() < 3 {
                conv.inputs.resize(3, None);
            }
            conv.inputs[2] = Some(bias_id);
        }
        if let Some(a) = conv.op.fused_activation_mut() {
            *a = act;
        }
        conv.outputs = vec![*z];
        conv.version = None;
        replace_node(&mut patch, p, conv);
        patch.remove_node(n);
        Ok(Some(patch))
    }
}

/// The value `old` (name, type, shape) with new float32 `data`.
fn with_data<'a>(old: &Value<'_>, name: &str, data: &[f32]) -> Value<'a> {
    let mut v = Value::constant(name, old.shape.dims.clone(), data);
    v.shape = old.shape.clone();
    v
}

/// Where the output channel of each weight element is.
enum Layout {
    /// `[O, ...]`: channel-major (CONV_2D `[O, H, W, I]`, FULLY_CONNECTED `[O, I]`).
    Outer,
    /// `[..., C]`: channel-minor (DEPTHWISE_CONV_2D `[1, H, W, C]`).
    Inner,
}

fn scale_weights(w: &mut [f32], layout: &Layout, c: &[f32]) {
    let channels = c.len();
    match layout {
        Layout::Outer => {
            let per = w.len() / channels;
            for (k, chunk) in w.chunks_exact_mut(per).enumerate() {
                chunk.iter_mut().for_each(|x| *x *= c[k]);
            }
        }
        Layout::Inner => {
            for (i, x) in w.iter_mut().enumerate() {
                *x *= c[i % channels];
            }
        }
    }
}

/// A matched pattern, with the data the fold needs.
struct Fold {
    producer: usize,
    channels: usize,
    w: ValueId,
    b: Option<ValueId>,
    weights: Vec<f32>,
    bias: Option<Vec<f32>>,
    layout: Layout,
    c: Vec<f32>,
}

impl Fold {
    fn find(
        cx: &RuleCx<'_, '_>,
        y: ValueId,
        c: ValueId,
        z: ValueId,
    ) -> Result<Option<Self>, PassError> {
        let Some((p, producer)) = cx.producer(y) else {
            return Ok(None);
        };
        let layout = match &producer.op {
            Op::Conv2d(_) => Layout::Outer,
            Op::DepthwiseConv2d(_) => Layout::Inner,
            Op::FullyConnected(a) if a.weights_format == WeightsFormat::Default => Layout::Outer,
            _ => return Ok(None),
        };
        if producer.op.fused_activation() != Some(Activation::None)
            || producer.outputs.as_slice() != [y]
            || !cx.single_use(y)
        {
            return Ok(None);
        }
        let (Some(yv), Some(zv), Some(cv)) = (cx.value(y), cx.value(z), cx.value(c)) else {
            return Ok(None);
        };
        let float = |v: &Value<'_>| v.dtype == DType::Float32 && v.quant.is_none();
        if !float(yv) || !float(zv) || !float(cv) || yv.shape.dims != zv.shape.dims {
            return Ok(None);
        }
        if !yv.shape.is_static() || yv.shape.dims.is_empty() {
            return Ok(None);
        }
        let channels = *yv.shape.dims.last().unwrap_or(&0) as usize;
        // The constant varies along the last axis at most, and is no higher-ranked than y.
        let cd = &cv.shape.dims;
        let cn = cd.last().copied().unwrap_or(1) as usize;
        if cd.len() > yv.shape.dims.len()
            || cd.iter().rev().skip(1).any(|&d| d != 1)
            || (cn != 1 && cn != channels)
        {
            return Ok(None);
        }
        let Some(cdata) = cv.constant_as::<f32>() else {
            return Ok(None);
        };
        if cdata.len() != cn {
            return Ok(None);
        }
        let (Some(w), b) = (producer.input(1), producer.input(2)) else {
            return Ok(None);
        };
        let Some(wv) = cx.constant(w).filter(|v| float(v)) else {
            return Ok(None);
        };
        let Some(weights) = wv.constant_as::<f32>() else {
            return Ok(None);
        };
        let w_channels = match layout {
            Layout::Outer => wv.shape.dims.first(),
            Layout::Inner => wv.shape.dims.last(),
        };
        if w_channels.map(|&d| d as usize) != Some(channels)
            || channels == 0
            || weights.len() % channels != 0
            || wv.shape.num_elements() != Some(weights.len() as u64)
        {
            return Ok(None);
        }
        let bias = match b {
            None => None,
            Some(b) => {
                let Some(bv) = cx.constant(b).filter(|v| float(v)) else {
                    return Ok(None);
                };
                match bv.constant_as::<f32>() {
                    Some(d) if d.len() == channels => Some(d.into_owned()),
                    _ => return Ok(None),
                }
            }
        };
        Ok(Some(Fold {
            producer: p,
            channels,
            w,
            b,
            weights: weights.into_owned(),
            bias,
            layout,
            c: cdata.into_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{conv_graph, count_ops, run_rule};
    use tflrs_ir::{AddAttrs, MulAttrs, QuantParams};

    fn mul(
        b: &mut tflrs_ir::GraphBuilder<'static>,
        y: ValueId,
        c: &[f32],
        shape: &[i32],
    ) -> ValueId {
        let c = b.constant_f32("scale", shape.to_vec(), c);
        b.op(Op::Mul(MulAttrs::default()), &[y, c]).unwrap()
    }

    #[test]
    fn mul_then_add_fold_into_the_conv() {
        let (mut g, _) = conv_graph(DType::Float32, None, |b, y| {
            let m = mul(b, y, &[2.0, 0.5, -1.0, 3.0], &[4]);
            let d = b.constant_f32("shift", [1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
            b.op(
                Op::Add(AddAttrs {
                    fused_activation_function: Activation::Relu6,
                    ..Default::default()
                }),
                &[d, m],
            )
            .unwrap()
        });
        assert!(run_rule(FoldBatchNorm, &mut g));
        assert_eq!(count_ops(&g, "MUL") + count_ops(&g, "ADD"), 0);
        let sg = &g.subgraphs[0];
        let conv = &sg.nodes[0];
        assert_eq!(conv.op.fused_activation(), Some(Activation::Relu6));
        let bias = sg.value(conv.input(2).unwrap()).unwrap();
        // b * c + d for b = [0.5, -0.25, 0, 1].
        assert_eq!(
            bias.constant_as::<f32>().unwrap().as_ref(),
            &[2.0, 1.875, 3.0, 7.0]
        );
        let w = sg.value(conv.input(1).unwrap()).unwrap();
        let w = w.constant_as::<f32>().unwrap();
        // Filter 2 is scaled by -1: its first weight was ((54*7) % 11 - 5) / 8.
        assert_eq!(w[54], -((((54 * 7) % 11) as f32 - 5.0) / 8.0));
    }

    #[test]
    fn a_constant_varying_along_another_axis_does_not_fold() {
        let (mut g, _) = conv_graph(DType::Float32, None, |b, y| {
            mul(b, y, &[1.0, 2.0, 3.0], &[1, 3, 1, 1])
        });
        assert!(!run_rule(FoldBatchNorm, &mut g));
    }

    #[test]
    fn sub_folds_only_with_the_constant_second() {
        let (mut g, _) = conv_graph(DType::Float32, None, |b, y| {
            let c = b.constant_f32("c", [], &[1.0]);
            b.op(Op::Sub(Default::default()), &[c, y]).unwrap()
        });
        assert!(!run_rule(FoldBatchNorm, &mut g));
        let (mut g, _) = conv_graph(DType::Float32, None, |b, y| {
            let c = b.constant_f32("c", [], &[1.0]);
            b.op(Op::Sub(Default::default()), &[y, c]).unwrap()
        });
        assert!(run_rule(FoldBatchNorm, &mut g));
    }

    #[test]
    fn quantized_graphs_are_left_alone() {
        let q = QuantParams::per_tensor(0.05, 0);
        let (mut g, _) = conv_graph(DType::Int8, Some(q.clone()), |b, y| {
            let c = b.constant("c", DType::Int8, [4], vec![1u8, 2, 3, 4]);
            b.quantize(c, q.clone());
            let z = b.value(tflrs_ir::Value::new("z", DType::Int8, [1, 3, 3, 4]));
            b.node(Op::Mul(MulAttrs::default()), &[Some(y), Some(c)], &[z]);
            z
        });
        assert!(!run_rule(FoldBatchNorm, &mut g));
    }

    #[test]
    fn an_activation_on_the_conv_blocks_the_fold() {
        let (mut g, _) = conv_graph(DType::Float32, None, |b, y| {
            let r = b.op(Op::Relu, &[y]).unwrap();
            mul(b, r, &[2.0; 4], &[4])
        });
        // The MUL reads a RELU, not the conv.
        assert!(!run_rule(FoldBatchNorm, &mut g));
    }
}

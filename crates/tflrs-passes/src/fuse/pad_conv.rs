//! [`PadIntoConv`]: a PAD whose padding is exactly what SAME padding would add, folded into
//! the VALID CONV_2D or DEPTHWISE_CONV_2D that reads it.

use crate::manager::PassError;
use crate::rule::{Rule, RuleCx, replace_node};
use tflrs_ir::{Op, Padding, Patch, ValueId, window};

/// `p = PAD(x, paddings); y = CONV(p, w, b)` with CONV VALID becomes `y = CONV(x, w, b)` with
/// SAME padding, when `paddings` is constant, pads only the two spatial axes, and pads them as
/// LiteRT's SAME padding would for this convolution (`before = total / 2`, the odd remainder
/// after), and `p` has no other reader.
///
/// Exact for every type: the padded taps hold zero (float) or the zero point (quantized: PAD
/// writes the output zero point, the same as its input's), and a convolution's SAME padding
/// skips those taps, whose contribution `(zero_point - zero_point) * w` or `0 * w` is zero.
#[derive(Debug, Clone, Copy, Default)]
pub struct PadIntoConv;

impl Rule for PadIntoConv {
    fn name(&self) -> &'static str {
        "pad-into-conv"
    }

    fn about(&self) -> &'static str {
        "PAD that equals SAME padding into the VALID CONV_2D or DEPTHWISE_CONV_2D after it"
    }

    fn rewrite<'a>(&self, cx: &RuleCx<'_, 'a>, n: usize) -> Result<Option<Patch<'a>>, PassError> {
        let Some(conv) = cx.node(n) else {
            return Ok(None);
        };
        let (padding, stride, dilation) = match &conv.op {
            Op::Conv2d(a) => (
                a.padding,
                (a.stride_h, a.stride_w),
                (a.dilation_h_factor, a.dilation_w_factor),
            ),
            Op::DepthwiseConv2d(a) => (
                a.padding,
                (a.stride_h, a.stride_w),
                (a.dilation_h_factor, a.dilation_w_factor),
            ),
            _ => return Ok(None),
        };
        if padding != Padding::Valid {
            return Ok(None);
        }
        let (Some(p), Some(w), Some(&y)) = (conv.input(0), conv.input(1), conv.outputs.first())
        else {
            return Ok(None);
        };
        let Some((pi, pad)) = cx.producer(p) else {
            return Ok(None);
        };
        if !matches!(pad.op, Op::Pad) || !cx.single_use(p) {
            return Ok(None);
        }
        let (Some(x), Some(amounts)) = (pad.input(0), pad.input(1)) else {
            return Ok(None);
        };
        let Some(amounts) = paddings(cx, amounts) else {
            return Ok(None);
        };
        let (Some(xv), Some(pv), Some(wv), Some(yv)) =
            (cx.value(x), cx.value(p), cx.value(w), cx.value(y))
        else {
            return Ok(None);
        };
        let scheme = |v: &tflrs_ir::Value<'_>| v.quant.as_ref().and_then(|q| q.scheme.clone());
        if xv.dtype != pv.dtype
            || scheme(xv) != scheme(pv)
            || !xv.shape.is_static()
            || xv.shape.dims.len() != 4
            || wv.shape.dims.len() != 4
            || yv.shape.dims.len() != 4
            || amounts.len() != 8
            || amounts[0] != 0
            || amounts[1] != 0
            || amounts[6] != 0
            || amounts[7] != 0
        {
            return Ok(None);
        }
        let dim = |d: i32| usize::try_from(d).ok();
        for axis in 0..2 {
            let (Some(input), Some(filter), Some(out), Some(s), Some(d)) = (
                dim(xv.shape.dims[1 + axis]),
                dim(wv.shape.dims[1 + axis]),
                dim(yv.shape.dims[1 + axis]),
                dim(if axis == 0 { stride.0 } else { stride.1 }),
                dim(if axis == 0 { dilation.0 } else { dilation.1 }),
            ) else {
                return Ok(None);
            };
            let Some((same_out, same_pad)) = window::conv_axis(Padding::Same, input, filter, s, d)
            else {
                return Ok(None);
            };
            let (before, after) = (amounts[2 + 2 * axis], amounts[3 + 2 * axis]);
            if same_out != out
                || before != same_pad.before as i64
                || after != (same_pad.before + same_pad.offset) as i64
            {
                return Ok(None);
            }
        }
        let mut node = conv.clone();
        match &mut node.op {
            Op::Conv2d(a) => a.padding = Padding::Same,
            Op::DepthwiseConv2d(a) => a.padding = Padding::Same,
            _ => return Ok(None),
        }
        node.inputs[0] = Some(x);
        node.version = None;
        let mut patch = cx.patch();
        replace_node(&mut patch, n, node);
        patch.remove_node(pi);
        Ok(Some(patch))
    }
}

/// The constant paddings of a PAD (int32 or int64), flattened.
fn paddings(cx: &RuleCx<'_, '_>, v: ValueId) -> Option<Vec<i64>> {
    let c = cx.constant(v)?;
    if let Some(d) = c.constant_as::<i32>() {
        return Some(d.iter().map(|&x| i64::from(x)).collect());
    }
    c.constant_as::<i64>().map(|d| d.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{count_ops, run_rule};
    use tflrs_ir::{Activation, Conv2dAttrs, DType, GraphBuilder, QuantParams};

    /// `x [1, 6, 6, 2] -> PAD(pads) -> CONV_2D 3x3 VALID stride 2`.
    fn graph(pads: [i32; 8], stride: i32, quant: bool) -> tflrs_ir::Graph<'static> {
        let mut b = GraphBuilder::new();
        let dtype = if quant { DType::Int8 } else { DType::Float32 };
        let x = b.input("x", dtype, [1, 6, 6, 2]);
        let p = b.constant_i32("pads", [4, 2], &pads);
        let w = if quant {
            let w = b.constant("w", DType::Int8, [3, 3, 3, 2], vec![1u8; 54]);
            b.quantize(w, QuantParams::per_tensor(0.1, 0));
            w
        } else {
            b.constant_f32("w", [3, 3, 3, 2], &[0.5; 54])
        };
        if quant {
            b.quantize(x, QuantParams::per_tensor(0.5, 3));
        }
        let y = b.op(Op::Pad, &[x, p]).unwrap();
        if quant {
            b.quantize(y, QuantParams::per_tensor(0.5, 3));
        }
        let z = b
            .op(
                Op::Conv2d(Conv2dAttrs {
                    padding: Padding::Valid,
                    stride_w: stride,
                    stride_h: stride,
                    fused_activation_function: Activation::None,
                    dilation_w_factor: 1,
                    dilation_h_factor: 1,
                    quantized_bias_type: DType::Float32,
                }),
                &[y, w],
            )
            .unwrap();
        if quant {
            b.quantize(z, QuantParams::per_tensor(1.0, 0));
        }
        b.output(z);
        b.finish().unwrap()
    }

    #[test]
    fn same_like_padding_folds() {
        // SAME for in 6, k 3, s 1: total 2, 1 before and 1 after.
        let mut g = graph([0, 0, 1, 1, 1, 1, 0, 0], 1, false);
        assert!(run_rule(PadIntoConv, &mut g));
        assert_eq!(count_ops(&g, "PAD"), 0);
        let Op::Conv2d(a) = &g.subgraphs[0].nodes[0].op else {
            panic!()
        };
        assert_eq!(a.padding, Padding::Same);
        // s 2: out 3, total (3-1)*2+3-6 = 1: 0 before, 1 after. Quantized graphs too.
        let mut g = graph([0, 0, 0, 1, 0, 1, 0, 0], 2, true);
        assert!(run_rule(PadIntoConv, &mut g));
    }

    #[test]
    fn other_padding_stays() {
        // TensorFlow's explicit symmetric padding for stride 2 (1 and 1) is not SAME's.
        let mut g = graph([0, 0, 1, 1, 1, 1, 0, 0], 2, false);
        assert!(!run_rule(PadIntoConv, &mut g));
        let mut g = graph([0, 0, 2, 0, 1, 1, 0, 0], 1, false);
        assert!(!run_rule(PadIntoConv, &mut g));
    }
}

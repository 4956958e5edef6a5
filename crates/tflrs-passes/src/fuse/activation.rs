//! [`FuseActivation`]: a standalone RELU, RELU6 or RELU_N1_TO_1 folded into the
//! `fused_activation_function` of the node producing its input.

use crate::manager::PassError;
use crate::rule::{Rule, RuleCx, replace_node};
use tflrs_ir::{Activation, Op, Patch};

/// `y = OP(...); z = RELU(y)` becomes `z = OP(..., fused_activation_function = RELU)` when `y`
/// has no other reader, `OP` is CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB or MUL
/// with no activation yet, and the activation is RELU, RELU6 or RELU_N1_TO_1.
///
/// Float graphs: the fused clamp is the standalone op's, so outputs are the same. Quantized
/// graphs: the rule fires only when `y` and `z` have the same type and the same scale and zero
/// point; the standalone quantized activation then requantizes by exactly 1 and clamps to the
/// range LiteRT's fused clamp uses (`CalculateActivationRangeQuantized`), so outputs are
/// bit-identical. With different parameters fusing would change the rounding, and the rule
/// does not fire. CONCATENATION is left alone: LiteRT's kernel refuses a fused activation.
#[derive(Debug, Clone, Copy, Default)]
pub struct FuseActivation;

/// The fused form of a standalone activation node.
fn fused_form(op: &Op<'_>) -> Option<Activation> {
    Some(match op {
        Op::Relu => Activation::Relu,
        Op::Relu6 => Activation::Relu6,
        Op::ReluN1To1 => Activation::ReluN1To1,
        _ => return None,
    })
}

/// Whether LiteRT's kernel for `op` applies a fused activation.
fn takes_activation(op: &Op<'_>) -> bool {
    matches!(
        op,
        Op::Conv2d(_)
            | Op::DepthwiseConv2d(_)
            | Op::FullyConnected(_)
            | Op::Add(_)
            | Op::Sub(_)
            | Op::Mul(_)
    )
}

impl Rule for FuseActivation {
    fn name(&self) -> &'static str {
        "fuse-activation"
    }

    fn about(&self) -> &'static str {
        "RELU/RELU6/RELU_N1_TO_1 into the CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB or MUL before it"
    }

    fn rewrite<'a>(&self, cx: &RuleCx<'_, 'a>, n: usize) -> Result<Option<Patch<'a>>, PassError> {
        let Some(act) = cx.node(n) else {
            return Ok(None);
        };
        let Some(fused) = fused_form(&act.op) else {
            return Ok(None);
        };
        let (Some(y), [z]) = (act.input(0), act.outputs.as_slice()) else {
            return Ok(None);
        };
        let Some((p, producer)) = cx.producer(y) else {
            return Ok(None);
        };
        if !takes_activation(&producer.op)
            || producer.outputs.as_slice() != [y]
            || producer.op.fused_activation() != Some(Activation::None)
            || !cx.single_use(y)
        {
            return Ok(None);
        }
        let (Some(yv), Some(zv)) = (cx.value(y), cx.value(*z)) else {
            return Ok(None);
        };
        let same_quant = yv.quant.as_ref().and_then(|q| q.scheme.as_ref())
            == zv.quant.as_ref().and_then(|q| q.scheme.as_ref());
        if yv.dtype != zv.dtype || !same_quant || yv.shape.dims != zv.shape.dims {
            return Ok(None);
        }
        let mut node = producer.clone();
        if let Some(a) = node.op.fused_activation_mut() {
            *a = fused;
        }
        node.outputs = vec![*z];
        node.version = None;
        let mut patch = cx.patch();
        replace_node(&mut patch, p, node);
        patch.remove_node(n);
        Ok(Some(patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{conv_graph, count_ops, run_rule};
    use tflrs_ir::{DType, GraphBuilder, QuantParams};

    #[test]
    fn relu6_after_a_float_conv_is_fused() {
        let (mut g, _) = conv_graph(DType::Float32, None, |b, y| b.op(Op::Relu6, &[y]).unwrap());
        assert!(run_rule(FuseActivation, &mut g));
        let sg = &g.subgraphs[0];
        assert_eq!(sg.nodes.len(), 1);
        assert_eq!(sg.nodes[0].op.fused_activation(), Some(Activation::Relu6));
        assert_eq!(sg.outputs, sg.nodes[0].outputs);
    }

    #[test]
    fn a_second_reader_of_the_conv_output_blocks_the_fusion() {
        let (mut g, _) = conv_graph(DType::Float32, None, |b, y| {
            let r = b.op(Op::Relu, &[y]).unwrap();
            b.output(y);
            r
        });
        assert!(!run_rule(FuseActivation, &mut g));
        assert_eq!(count_ops(&g, "RELU"), 1);
    }

    #[test]
    fn an_activation_already_fused_blocks_a_second_one() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [4]);
        let c = b.input("c", DType::Float32, [4]);
        let y = b
            .op(
                Op::Add(tflrs_ir::AddAttrs {
                    fused_activation_function: Activation::Relu,
                    ..Default::default()
                }),
                &[x, c],
            )
            .unwrap();
        let z = b.op(Op::Relu6, &[y]).unwrap();
        b.output(z);
        let mut g = b.finish().unwrap();
        assert!(!run_rule(FuseActivation, &mut g));
    }

    #[test]
    fn quantized_fusion_needs_equal_parameters() {
        let q = QuantParams::per_tensor(0.05, -3);
        let (mut g, _) = conv_graph(DType::Int8, Some(q.clone()), |b, y| {
            b.op(Op::Relu, &[y]).unwrap()
        });
        // conv_graph gives the RELU's output the conv output's parameters.
        assert!(run_rule(FuseActivation, &mut g));
        assert_eq!(count_ops(&g, "RELU"), 0);

        let (mut g, _) = conv_graph(DType::Int8, Some(q), |b, y| {
            let z = b.op(Op::Relu, &[y]).unwrap();
            b.quantize(z, QuantParams::per_tensor(0.025, -128));
            z
        });
        assert!(!run_rule(FuseActivation, &mut g));
        assert_eq!(count_ops(&g, "RELU"), 1);
    }

    #[test]
    fn a_concatenation_keeps_its_relu() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [2]);
        let y = b
            .op(
                Op::Concatenation(tflrs_ir::ConcatenationAttrs::default()),
                &[x, x],
            )
            .unwrap();
        let z = b.op(Op::Relu, &[y]).unwrap();
        b.output(z);
        let mut g = b.finish().unwrap();
        assert!(!run_rule(FuseActivation, &mut g));
    }
}

//! Small graphs for the rules' tests.

use crate::manager::{PassCtx, PassManager};
use crate::rule::{Rule, RulePass};
use tflrs_ir::{
    Activation, Conv2dAttrs, DType, Graph, GraphBuilder, Padding, QuantParams, ValueId,
};

/// `x [1, 5, 5, 3] -> CONV_2D (4 filters of 3x3, stride 1, VALID, bias) -> tail -> output`.
/// With `quant` (int8): the input, the conv output and the tail's result get `quant` unless
/// the tail set one; weights are per-channel int8, the bias int32.
pub(crate) fn conv_graph(
    dtype: DType,
    quant: Option<QuantParams>,
    tail: impl FnOnce(&mut GraphBuilder<'static>, ValueId) -> ValueId,
) -> (Graph<'static>, ValueId) {
    let mut b = GraphBuilder::new();
    let x = b.input("x", dtype, [1, 5, 5, 3]);
    let n_w = 4 * 3 * 3 * 3;
    let (w, bias) = if dtype == DType::Float32 {
        let w: Vec<f32> = (0..n_w)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 8.0)
            .collect();
        (
            b.constant_f32("w", [4, 3, 3, 3], &w),
            b.constant_f32("b", [4], &[0.5, -0.25, 0.0, 1.0]),
        )
    } else {
        let w: Vec<u8> = (0..n_w).map(|i| ((i * 7 % 11) as i8 - 5) as u8).collect();
        let w = b.constant("w", DType::Int8, [4, 3, 3, 3], w);
        b.quantize(
            w,
            QuantParams::per_axis(0, vec![0.01, 0.02, 0.03, 0.04], vec![0; 4]),
        );
        let bias = b.constant_i32("b", [4], &[10, -20, 0, 40]);
        b.quantize(
            bias,
            QuantParams::per_axis(0, vec![0.0005, 0.001, 0.0015, 0.002], vec![0; 4]),
        );
        (w, bias)
    };
    if let Some(q) = &quant {
        b.quantize(x, q.clone());
    }
    let y = b
        .op(
            tflrs_ir::Op::Conv2d(Conv2dAttrs {
                padding: Padding::Valid,
                stride_w: 1,
                stride_h: 1,
                fused_activation_function: Activation::None,
                dilation_w_factor: 1,
                dilation_h_factor: 1,
                quantized_bias_type: DType::Float32,
            }),
            &[x, w, bias],
        )
        .unwrap();
    if let Some(q) = &quant {
        b.quantize(y, q.clone());
    }
    let z = tail(&mut b, y);
    if let Some(q) = &quant
        && b.graph().subgraphs[0]
            .value(z)
            .is_some_and(|v| v.quant.is_none())
    {
        b.quantize(z, q.clone());
    }
    b.output(z);
    (b.finish().unwrap(), z)
}

/// Runs `rule` once through a verifying manager; whether it changed the graph.
pub(crate) fn run_rule(rule: impl Rule + 'static, g: &mut Graph<'_>) -> bool {
    PassManager::new()
        .with(RulePass(rule))
        .run(g, &PassCtx::new())
        .unwrap()
}

/// How many nodes of `op` (its builtin name) the graph has.
pub(crate) fn count_ops(g: &Graph<'_>, op: &str) -> usize {
    g.subgraphs
        .iter()
        .flat_map(|s| &s.nodes)
        .filter(|n| n.op.name() == op)
        .count()
}

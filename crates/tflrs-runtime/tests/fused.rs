//! Every model in `testdata/` after the default fusion passes (`tflrs optimize --fuse`:
//! `tflrs_passes::fuse_passes`, constants folded by the scalar kernels), written to a `.tflite`,
//! read back and run on the scalar backend, compared with LiteRT's reference outputs of the
//! original model: integer outputs bit for bit, float outputs within the manifest's tolerance.
//! Run with `-- --nocapture` for the node counts before and after, per model.

mod common;

use std::sync::Mutex;
use tflrs_ir::Graph;
use tflrs_passes::{PassCtx, fuse_passes};
use tflrs_runtime::ScalarEval;
use tflrs_testdata::conformance::Suite;

#[test]
fn testdata_models_after_fuse_match_litert_reference() {
    let counts = Mutex::new(Vec::new());
    let report = Suite::new("fused")
        .run(|case| {
            let bytes = case.model_bytes().map_err(|e| e.to_string())?;
            let mut graph = Graph::from_tflite(&bytes).map_err(|e| e.to_string())?;
            let eval = ScalarEval::default();
            let passes = fuse_passes()
                .run_report(&mut graph, &PassCtx::new().with_eval(&eval))
                .map_err(|e| e.to_string())?;
            let (before, after) = (passes[0].before.nodes, passes[passes.len() - 1].after.nodes);
            counts
                .lock()
                .unwrap()
                .push((case.name().to_string(), before, after));
            let fused = graph.to_tflite().map_err(|e| e.to_string())?;
            common::case::run_case_bytes(case, &fused, Vec::new())
        })
        .expect("testdata loads");
    let counts = counts.into_inner().unwrap();
    let changed: Vec<_> = counts.iter().filter(|(_, b, a)| a != b).collect();
    println!("fuse: {} of {} models changed", changed.len(), counts.len());
    for (name, before, after) in &changed {
        println!("  {name}: {before} -> {after} nodes");
    }
    if let Err(e) = report.check() {
        panic!("{e}");
    }
}

/// Runs `graph` on the scalar backend with `input` (raw bytes) and returns output 0's bytes.
fn run_graph(graph: Graph<'static>, input: &[u8]) -> Vec<u8> {
    let model = tflrs_runtime::Model::from_graph(graph);
    let mut interp = tflrs_runtime::Interpreter::builder(&model)
        .reference_kernels(true)
        .build()
        .unwrap();
    interp.input_bytes_mut(0).unwrap().copy_from_slice(input);
    interp.invoke().unwrap();
    interp.output_bytes(0).unwrap().to_vec()
}

/// `graph` before and after the fusion set: the outputs, and the node counts.
fn before_after(graph: Graph<'static>, input: &[u8]) -> ((Vec<u8>, usize), (Vec<u8>, usize)) {
    let mut fused = graph.clone();
    let eval = ScalarEval::default();
    fuse_passes()
        .run(&mut fused, &PassCtx::new().with_eval(&eval))
        .unwrap();
    let n = |g: &Graph<'_>| g.subgraphs[0].nodes.len();
    let (nb, na) = (n(&graph), n(&fused));
    ((run_graph(graph, input), nb), (run_graph(fused, input), na))
}

fn conv_attrs(padding: tflrs_ir::Padding, stride: i32) -> tflrs_ir::Conv2dAttrs {
    tflrs_ir::Conv2dAttrs {
        padding,
        stride_w: stride,
        stride_h: stride,
        fused_activation_function: tflrs_ir::Activation::None,
        dilation_w_factor: 1,
        dilation_h_factor: 1,
        quantized_bias_type: tflrs_ir::DType::Float32,
    }
}

#[test]
fn folded_batch_norm_and_relu_keep_float_outputs_within_rounding() {
    use tflrs_ir::{DType, GraphBuilder, Op, Padding};
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 7, 7, 3]);
    let w: Vec<f32> = (0..8 * 27)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 16.0)
        .collect();
    let w = b.constant_f32("w", [8, 3, 3, 3], &w);
    let bias = b.constant_f32("b", [8], &[0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]);
    let y = b
        .op(Op::Conv2d(conv_attrs(Padding::Same, 2)), &[x, w, bias])
        .unwrap();
    let scale = b.constant_f32("gamma", [8], &[1.5, 0.5, -2.0, 0.25, 1.0, 3.0, -0.75, 2.5]);
    let m = b.op(Op::Mul(Default::default()), &[y, scale]).unwrap();
    let shift = b.constant_f32(
        "beta",
        [1, 1, 1, 8],
        &[0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 0.25, -0.5],
    );
    let a = b.op(Op::Add(Default::default()), &[m, shift]).unwrap();
    let r = b.op(Op::Relu6, &[a]).unwrap();
    b.output(r);
    let graph = b.finish().unwrap();
    let input: Vec<u8> = (0..147)
        .flat_map(|i| (((i * 29 % 31) as f32 - 15.0) / 7.0).to_le_bytes())
        .collect();
    let ((want, nb), (got, na)) = before_after(graph, &input);
    assert_eq!((nb, na), (4, 1), "MUL, ADD and RELU6 fold into the conv");
    let f = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (want, got) = (f(&want), f(&got));
    assert!(
        want.iter().any(|&v| v > 0.0 && v < 6.0),
        "the test reaches the unclamped range"
    );
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        // 27 products per output, rescaled once: a few ulps of the largest term.
        assert!(
            (w - g).abs() <= 1e-5 * (1.0 + w.abs()),
            "element {i}: {w} vs {g}"
        );
    }
}

#[test]
fn fused_int8_pad_conv_relu_is_bit_exact() {
    use tflrs_ir::{DType, GraphBuilder, Op, Padding, QuantParams};
    let mut b = GraphBuilder::new();
    let q_in = QuantParams::per_tensor(0.05, -7);
    let q_out = QuantParams::per_tensor(0.1, 3);
    let x = b.input("x", DType::Int8, [1, 6, 6, 2]);
    b.quantize(x, q_in.clone());
    let pads = b.constant_i32("pads", [4, 2], &[0, 0, 0, 1, 0, 1, 0, 0]);
    let p = b.op(Op::Pad, &[x, pads]).unwrap();
    b.quantize(p, q_in);
    let w: Vec<u8> = (0..4 * 18)
        .map(|i| ((i * 53 % 255) - 127) as i8 as u8)
        .collect();
    let w = b.constant("w", DType::Int8, [4, 3, 3, 2], w);
    b.quantize(
        w,
        QuantParams::per_axis(0, vec![0.01, 0.02, 0.005, 0.03], vec![0; 4]),
    );
    let bias = b.constant_i32("b", [4], &[100, -200, 50, 0]);
    b.quantize(
        bias,
        QuantParams::per_axis(0, vec![0.0005, 0.001, 0.00025, 0.0015], vec![0; 4]),
    );
    let y = b
        .op(Op::Conv2d(conv_attrs(Padding::Valid, 2)), &[p, w, bias])
        .unwrap();
    b.quantize(y, q_out.clone());
    let r = b.op(Op::Relu, &[y]).unwrap();
    b.quantize(r, q_out);
    b.output(r);
    let graph = b.finish().unwrap();
    let input: Vec<u8> = (0..72)
        .map(|i| ((i * 97 % 256) - 128) as i8 as u8)
        .collect();
    let ((want, nb), (got, na)) = before_after(graph, &input);
    assert_eq!((nb, na), (3, 1), "PAD and RELU fold into the conv");
    assert_eq!(want, got);
    assert!(
        want.iter().any(|&v| v as i8 > 3),
        "not everything is clamped"
    );
}

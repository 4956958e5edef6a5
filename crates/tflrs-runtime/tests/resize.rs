//! `resize_input`: a testdata model with a dynamic batch (shape signature -1) run on a batch
//! of rows gives, row by row, what it gives each row alone; shapes flow through control flow.

use tflrs_ir::{AddAttrs, DType, GraphBuilder, MulAttrs, Op, Shape, Value, WhileAttrs};
use tflrs_runtime::{Error, Interpreter, Model};
use tflrs_testdata::{Case, DType as NpyType, Npy};

/// Row `k` of a batch made from the case's one-row input: the row shifted a little per `k`
/// (float rows scaled and offset, integer rows offset with saturation).
fn row(case: &Case, k: usize) -> Vec<u8> {
    let base = &case.inputs[0].data;
    match case.inputs[0].dtype {
        NpyType::Float32 => bytemuck::cast_slice::<u8, f32>(base)
            .iter()
            .enumerate()
            .flat_map(|(j, &v)| (v * (1.0 + 0.1 * k as f32) + 0.03 * (k * j) as f32).to_le_bytes())
            .collect(),
        NpyType::Int8 => base
            .iter()
            .enumerate()
            .map(|(j, &b)| (b as i8).saturating_add(((k * 7 + j) % 11) as i8 - 5) as u8)
            .collect(),
        other => panic!("no rows for {other:?}"),
    }
}

fn check_batch(name: &str, batch: usize) {
    let case = Case::load(name).unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut interp = Interpreter::new(&model).unwrap();
    let one = interp.input_info(0).unwrap().shape.clone();
    assert_eq!(one[0], 1, "{name}: batch of the stored shape");
    // Each row alone.
    let mut alone = Vec::new();
    for k in 0..batch {
        interp
            .input_bytes_mut(0)
            .unwrap()
            .copy_from_slice(&row(&case, k));
        interp.invoke().unwrap();
        alone.push(interp.output_bytes(0).unwrap().to_vec());
    }
    // All rows together.
    let mut shape = one.clone();
    shape[0] = batch;
    interp.resize_input(0, &shape).unwrap();
    assert_eq!(interp.input_info(0).unwrap().shape, shape);
    let out_shape = interp.output_info(0).unwrap().shape.clone();
    assert_eq!(out_shape[0], batch, "{name}: output batch");
    let input: Vec<u8> = (0..batch).flat_map(|k| row(&case, k)).collect();
    interp.input_bytes_mut(0).unwrap().copy_from_slice(&input);
    interp.invoke().unwrap();
    let together = interp.output_bytes(0).unwrap();
    let n = alone[0].len();
    assert_eq!(together.len(), n * batch);
    for (k, want) in alone.iter().enumerate() {
        let got = &together[k * n..(k + 1) * n];
        if case.ref_outputs[0].dtype == NpyType::Float32 {
            let (g, w) = (
                bytemuck::cast_slice::<u8, f32>(got),
                bytemuck::cast_slice::<u8, f32>(want),
            );
            for (j, (g, w)) in g.iter().zip(w).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                    "{name} row {k} [{j}]: {g} vs {w}"
                );
            }
        } else {
            assert_eq!(got, want.as_slice(), "{name} row {k}");
        }
    }
}

#[test]
fn resized_batch_matches_rows_run_alone_mlp() {
    check_batch("mlp_float32", 5);
    check_batch("mlp_int8", 5);
}

#[test]
fn resized_batch_matches_rows_run_alone_cnn() {
    check_batch("cnn_small_float32", 3);
    check_batch("cnn_small_int8", 3);
    check_batch("kws_dscnn_int8", 2);
}

#[test]
fn resizing_a_fixed_dimension_is_refused_and_the_interpreter_still_runs() {
    let case = Case::load("mlp_float32").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut interp = Interpreter::new(&model).unwrap();
    for bad in [&[1usize, 9][..], &[1, 8, 1]] {
        let err = interp.resize_input(0, bad).unwrap_err();
        assert!(matches!(err, Error::BadResize { index: 0, .. }), "{err}");
    }
    assert_eq!(interp.input_info(0).unwrap().shape, [1, 8]);
    interp
        .input_bytes_mut(0)
        .unwrap()
        .copy_from_slice(&case.inputs[0].data);
    interp.invoke().unwrap();
    let outputs = [Npy::new(
        NpyType::Float32,
        vec![1, 4],
        interp.output_bytes(0).unwrap().to_vec(),
    )
    .unwrap()];
    case.check_ref_outputs(&outputs).unwrap();
}

/// main(i, x: [?, 3]) = WHILE(i < 3) { i += 1; x = x * 0.5 + 1 } with builtin ops: resizing
/// x's batch flows into the loop's subgraphs.
#[test]
fn resize_flows_into_loop_subgraphs() {
    let mut b = GraphBuilder::new();
    let i = b.input("i", DType::Int32, Vec::<i32>::new());
    let x = b.input("x", DType::Float32, Shape::with_signature([1, 3], [-1, 3]));
    let i_out = b.value(Value::new("i_out", DType::Int32, Vec::<i32>::new()));
    let x_out = b.value(Value::new(
        "x_out",
        DType::Float32,
        Shape::with_signature([1, 3], [-1, 3]),
    ));
    b.node(
        Op::While(WhileAttrs {
            cond_subgraph_index: 1,
            body_subgraph_index: 2,
        }),
        &[Some(i), Some(x)],
        &[i_out, x_out],
    );
    b.output(i_out);
    b.output(x_out);
    b.subgraph("cond");
    let ci = b.input("ci", DType::Int32, Vec::<i32>::new());
    b.input("cx", DType::Float32, Shape::with_signature([1, 3], [-1, 3]));
    let three = b.constant_i32("three", Vec::<i32>::new(), &[3]);
    let c = b.op(Op::Less, &[ci, three]).unwrap();
    b.output(c);
    b.subgraph("body");
    let bi = b.input("bi", DType::Int32, Vec::<i32>::new());
    let bx = b.input("bx", DType::Float32, Shape::with_signature([1, 3], [-1, 3]));
    let one = b.constant_i32("one", Vec::<i32>::new(), &[1]);
    let half = b.constant_f32("half", [3], &[0.5; 3]);
    let onef = b.constant_f32("onef", [1], &[1.0]);
    let bi2 = b.op(Op::Add(AddAttrs::default()), &[bi, one]).unwrap();
    let m = b.op(Op::Mul(MulAttrs::default()), &[bx, half]).unwrap();
    let bx2 = b.op(Op::Add(AddAttrs::default()), &[m, onef]).unwrap();
    b.output(bi2);
    b.output(bx2);
    let model = Model::from_graph(b.finish().unwrap());

    let mut interp = Interpreter::new(&model).unwrap();
    interp.resize_input(1, &[4, 3]).unwrap();
    assert_eq!(interp.output_info(1).unwrap().shape, [4, 3]);
    let x: Vec<f32> = (0..12).map(|k| k as f32 - 4.0).collect();
    interp.input_mut::<f32>(1).unwrap().copy_from_slice(&x);
    interp.invoke().unwrap();
    assert_eq!(interp.output::<i32>(0).unwrap(), [3]);
    let want: Vec<f32> = x
        .iter()
        .map(|&v| ((v * 0.5 + 1.0) * 0.5 + 1.0) * 0.5 + 1.0)
        .collect();
    assert_eq!(interp.output::<f32>(1).unwrap(), want.as_slice());
}

/// Keras 3's `UpSampling2D` under a dynamic batch, in one dimension: `y = RESHAPE(TILE(
/// EXPAND_DIMS(x, 2), [1, 1, 2, 1]), CONCATENATION(batch, 2 * height, channels))` where batch
/// and height come from `SHAPE(x)` through `STRIDED_SLICE` and `MUL`. As the converter does, the
/// model stores a placeholder shape for `y` ([1, 1, 4]); LiteRT's `Prepare` computes [1, 6, 4]
/// from the shape chain's values, and so must planning, at build and after `resize_input`.
fn upsampling_graph() -> Model<'static> {
    use tflrs_ir::{ConcatenationAttrs, ShapeAttrs, StridedSliceAttrs};
    let dynamic = |dims: &[i32]| {
        let mut sig = dims.to_vec();
        sig[0] = -1;
        Shape::with_signature(dims.to_vec(), sig)
    };
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, dynamic(&[1, 3, 4]));
    let axis = b.constant_i32("axis", Vec::<i32>::new(), &[2]);
    let e = b.value(Value::new("e", DType::Float32, dynamic(&[1, 3, 1, 4])));
    b.node(Op::ExpandDims, &[Some(x), Some(axis)], &[e]);
    let reps = b.constant_i32("reps", [4], &[1, 1, 2, 1]);
    let t = b.value(Value::new("t", DType::Float32, dynamic(&[1, 3, 2, 4])));
    b.node(Op::Tile, &[Some(e), Some(reps)], &[t]);
    let s = b.value(Value::new("s", DType::Int32, [3]));
    b.node(
        Op::Shape(ShapeAttrs {
            out_type: DType::Int32,
        }),
        &[Some(x)],
        &[s],
    );
    let slice = |b: &mut GraphBuilder<'static>, name: &str, at: i32| {
        let begin = b.constant_i32(format!("{name}_begin"), [1], &[at]);
        let end = b.constant_i32(format!("{name}_end"), [1], &[at + 1]);
        let strides = b.constant_i32(format!("{name}_strides"), [1], &[1]);
        let v = b.value(Value::new(name, DType::Int32, [1]));
        b.node(
            Op::StridedSlice(StridedSliceAttrs::default()),
            &[Some(s), Some(begin), Some(end), Some(strides)],
            &[v],
        );
        v
    };
    let batch = slice(&mut b, "batch", 0);
    let height = slice(&mut b, "height", 1);
    let two = b.constant_i32("two", [1], &[2]);
    let height2 = b.value(Value::new("height2", DType::Int32, [1]));
    b.node(
        Op::Mul(MulAttrs::default()),
        &[Some(height), Some(two)],
        &[height2],
    );
    let channels = b.constant_i32("channels", [1], &[4]);
    let target = b.value(Value::new("target", DType::Int32, [3]));
    b.node(
        Op::Concatenation(ConcatenationAttrs::default()),
        &[Some(batch), Some(height2), Some(channels)],
        &[target],
    );
    // The placeholder the converter stores: 4 elements where the data has 24.
    let y = b.value(Value::new(
        "y",
        DType::Float32,
        Shape::with_signature([1, 1, 4], [-1, -1, 4]),
    ));
    b.node(Op::Reshape(None), &[Some(t), Some(target)], &[y]);
    b.output(y);
    Model::from_graph(b.finish_unchecked())
}

#[test]
fn planning_computes_reshape_targets_from_shape_chains_at_build_and_after_resize() {
    let model = upsampling_graph();
    let mut interp = Interpreter::new(&model).unwrap();
    for batch in [1usize, 4, 2] {
        if batch != 1 {
            interp.resize_input(0, &[batch, 3, 4]).unwrap();
        }
        assert_eq!(interp.output_info(0).unwrap().shape, [batch, 6, 4]);
        let x: Vec<f32> = (0..batch * 12).map(|k| k as f32 * 0.5 - 3.0).collect();
        interp.input_mut::<f32>(0).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        // Every row of 4 channels twice, in order.
        let want: Vec<f32> = x
            .chunks_exact(4)
            .flat_map(|row| row.iter().chain(row).copied())
            .collect();
        assert_eq!(interp.output::<f32>(0).unwrap(), want.as_slice());
    }
}

#[test]
fn resized_batch_matches_rows_run_alone_keras_zoo() {
    check_batch("keras_upsampling2d_nearest_float32", 4);
    check_batch("keras_time_distributed_int8", 4);
    check_batch("keras_mobilenet_v3_block_int8", 4);
    check_batch("keras_layer_norm_int8", 4);
    check_batch("keras_unet_float32", 4);
}

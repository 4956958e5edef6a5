//! Unit tests of the convolution family: hand-computed expectations for float and quantized
//! kernels, LiteRT's padding rules, and typed errors for inconsistent nodes. (Bit-exactness with
//! LiteRT on real models is checked by the runtime's golden tests.)

use crate::testing::{TestInput, make_kernel, run_node};
use crate::{KernelError, ScalarBackend, TensorInfo};
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::*;

fn f32t(name: &str, shape: &[usize]) -> TensorInfo {
    TensorInfo::new(name, DType::Float32, shape.to_vec())
}

fn qt(name: &str, dtype: DType, shape: &[usize], scale: f32, zp: i64) -> TensorInfo {
    TensorInfo::new(name, dtype, shape.to_vec()).with_quant(scale, zp)
}

fn per_axis(name: &str, dtype: DType, shape: &[usize], axis: i32, scales: &[f32]) -> TensorInfo {
    let mut t = TensorInfo::new(name, dtype, shape.to_vec());
    t.quant = Some(QuantParams::per_axis(
        axis,
        scales.to_vec(),
        vec![0; scales.len()],
    ));
    t
}

fn input<T: bytemuck::Pod>(info: TensorInfo, v: &[T]) -> Option<TestInput> {
    Some(TestInput::from_slice(info, v))
}

fn constant<T: bytemuck::Pod>(info: TensorInfo, v: &[T]) -> Option<TestInput> {
    Some(TestInput::const_from_slice(info, v))
}

fn run1<T: bytemuck::Pod>(op: &Op<'_>, inputs: &[Option<TestInput>], out: TensorInfo) -> Vec<T> {
    let outs = run_node(&ScalarBackend, op, inputs, &[out]).expect("kernel runs");
    super::common::pod_vec(&outs[0])
}

fn err(op: &Op<'_>, inputs: &[Option<TestInput>], out: TensorInfo) -> KernelError {
    match make_kernel(&ScalarBackend, op, inputs, &[out]) {
        Err(e) => e,
        Ok(k) => panic!(
            "expected an error, got kernel {:?}",
            k.map(|k| k.name().to_owned())
        ),
    }
}

fn conv(
    padding: Padding,
    stride: (i32, i32),
    dilation: (i32, i32),
    act: Activation,
) -> Op<'static> {
    Op::Conv2d(Conv2dAttrs {
        padding,
        stride_h: stride.0,
        stride_w: stride.1,
        dilation_h_factor: dilation.0,
        dilation_w_factor: dilation.1,
        fused_activation_function: act,
        ..Default::default()
    })
}

fn iota(n: usize, start: f32) -> Vec<f32> {
    (0..n).map(|i| start + i as f32).collect()
}

#[test]
fn conv_f32_valid_with_bias() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::None);
    let out = run1::<f32>(
        &op,
        &[
            input(f32t("x", &[1, 3, 3, 1]), &iota(9, 1.0)),
            constant(f32t("w", &[1, 2, 2, 1]), &[1.0f32, 0.0, 0.0, 1.0]),
            constant(f32t("b", &[1]), &[0.5f32]),
        ],
        f32t("y", &[1, 2, 2, 1]),
    );
    assert_eq!(out, [6.5, 8.5, 12.5, 14.5]);
}

#[test]
fn conv_f32_same_stride2_pads_at_the_end() {
    // 4x4 input, 3x3 window, stride 2: total padding 1 goes after the last row and column.
    let op = conv(Padding::Same, (2, 2), (1, 1), Activation::Relu);
    let out = run1::<f32>(
        &op,
        &[
            input(f32t("x", &[1, 4, 4, 1]), &iota(16, 1.0)),
            constant(f32t("w", &[1, 3, 3, 1]), &[1.0f32; 9]),
            constant(f32t("b", &[1]), &[-60.0f32]),
        ],
        f32t("y", &[1, 2, 2, 1]),
    );
    assert_eq!(out, [0.0, 0.0, 12.0, 0.0]);
}

#[test]
fn conv_f32_dilation_and_no_bias() {
    let op = conv(Padding::Valid, (1, 1), (2, 2), Activation::None);
    let out = run1::<f32>(
        &op,
        &[
            input(f32t("x", &[1, 5, 5, 1]), &iota(25, 0.0)),
            constant(f32t("w", &[1, 2, 2, 1]), &[1.0f32; 4]),
            None,
        ],
        f32t("y", &[1, 3, 3, 1]),
    );
    let expect: Vec<f32> = (0..3)
        .flat_map(|y| (0..3).map(move |x| (y * 5 + x) as f32))
        .map(|v| v + (v + 2.0) + (v + 10.0) + (v + 12.0))
        .collect();
    assert_eq!(out, expect);
}

#[test]
fn conv_f32_groups() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::None);
    let out = run1::<f32>(
        &op,
        &[
            input(f32t("x", &[1, 1, 1, 4]), &[1.0f32, 2.0, 3.0, 4.0]),
            constant(f32t("w", &[2, 1, 1, 2]), &[1.0f32, 1.0, 1.0, -1.0]),
            constant(f32t("b", &[2]), &[0.0f32, 0.0]),
        ],
        f32t("y", &[1, 1, 1, 2]),
    );
    assert_eq!(out, [3.0, -1.0]);
}

#[test]
fn conv_i8_per_channel_rounds_half_away() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::None);
    let x = qt("x", DType::Int8, &[1, 2, 2, 1], 0.5, -1);
    let w = per_axis("w", DType::Int8, &[2, 1, 1, 1], 0, &[0.25, 0.125]);
    let y = qt("y", DType::Int8, &[1, 2, 2, 2], 0.5, 3);
    let xs = [1i8, 5, -1, 126];
    let no_bias = run1::<i8>(
        &op,
        &[input(x.clone(), &xs), constant(w.clone(), &[2i8, -4]), None],
        y.clone(),
    );
    // acc = w * (x + 1); multipliers 0.25 and 0.125; +-63.5 rounds away from zero.
    assert_eq!(no_bias, [4, 2, 6, 0, 3, 3, 67, -61]);
    let b = TensorInfo::new("b", DType::Int32, vec![2]);
    let with_bias = run1::<i8>(
        &op,
        &[
            input(x, &xs),
            constant(w, &[2i8, -4]),
            constant(b, &[10i32, 0]),
        ],
        y,
    );
    assert_eq!(with_bias, [7, 2, 9, 0, 6, 3, 69, -61]);
}

#[test]
fn conv_i8_activation_clamps_in_the_quantized_domain() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::Relu6);
    let x = qt("x", DType::Int8, &[1, 1, 1, 1], 1.0, 0);
    let w = qt("w", DType::Int8, &[1, 1, 1, 1], 1.0, 0);
    // Output scale 0.1, zero point -128: relu6 is [-128, -68].
    let y = qt("y", DType::Int8, &[1, 1, 1, 1], 0.1, -128);
    let run = |v: i8| {
        run1::<i8>(
            &op,
            &[input(x.clone(), &[v]), constant(w.clone(), &[1i8]), None],
            y.clone(),
        )[0]
    };
    assert_eq!(run(-5), -128);
    assert_eq!(run(3), -98);
    assert_eq!(run(100), -68);
}

#[test]
fn conv_i16_with_64_bit_bias() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::None);
    let x = qt("x", DType::Int16, &[1, 1, 2, 1], 1.0, 0);
    let w = qt("w", DType::Int8, &[1, 1, 1, 1], 1.0, 0);
    let b = TensorInfo::new("b", DType::Int64, vec![1]);
    let y = qt("y", DType::Int16, &[1, 1, 2, 1], 4.0, 0);
    let out = run1::<i16>(
        &op,
        &[
            input(x, &[30000i16, -30000]),
            constant(w, &[100i8]),
            constant(b, &[2i64]),
        ],
        y,
    );
    // (x * 100 + 2) / 4, saturated to int16.
    assert_eq!(out, [i16::MAX, i16::MIN]);
}

#[test]
fn conv_hybrid_per_tensor_quantizes_the_batch_symmetrically() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::None);
    let w = qt("w", DType::Int8, &[1, 1, 1, 2], 0.5, 0);
    let out = run1::<f32>(
        &op,
        &[
            input(f32t("x", &[1, 1, 1, 2]), &[1.27f32, -0.635]),
            constant(w, &[2i8, 4]),
            constant(f32t("b", &[1]), &[1.0f32]),
        ],
        f32t("y", &[1, 1, 1, 1]),
    );
    // q = [127, -64] with scale 0.01; acc = 254 - 256 = -2; -2 * 0.01 * 0.5 + 1.
    let sf = (1.27f32 / 127.0) * 0.5;
    assert_eq!(out, [-2.0 * sf + 1.0]);
}

#[test]
fn conv_rejects_inconsistent_nodes() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::None);
    let x = input(f32t("x", &[1, 3, 3, 1]), &iota(9, 0.0));
    let w = constant(f32t("w", &[1, 2, 2, 1]), &[1.0f32; 4]);
    let e = err(&op, &[x.clone(), w.clone(), None], f32t("y", &[1, 3, 3, 1]));
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
    let bad_stride = conv(Padding::Valid, (0, 1), (1, 1), Activation::None);
    let e = err(
        &bad_stride,
        &[x.clone(), w.clone(), None],
        f32t("y", &[1, 2, 2, 1]),
    );
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
    let w16 = constant(
        TensorInfo::new("w", DType::Int16, vec![1, 2, 2, 1]),
        &[1i16; 4],
    );
    let e = err(&op, &[x, w16, None], f32t("y", &[1, 2, 2, 1]));
    assert!(matches!(e, KernelError::Unsupported(_)), "{e:?}");
}

#[test]
fn padding_matches_litert() {
    use super::common::taps;
    use tflrs_ir::window::{out_size, padding};
    let padding = |s, d, i, f, o| padding(s, d, i, f, o).map(|p| (p.before, p.offset));
    assert_eq!(out_size(Padding::Same, 5, 3, 2, 1), Some(3));
    assert_eq!(out_size(Padding::Valid, 5, 3, 2, 1), Some(2));
    assert_eq!(out_size(Padding::Valid, 5, 3, 1, 2), Some(1));
    assert_eq!(padding(2, 1, 4, 3, 2), Some((0, 1)));
    assert_eq!(padding(1, 1, 5, 3, 5), Some((1, 0)));
    assert_eq!(padding(1, 2, 5, 3, 5), Some((2, 0)));
    // Taps of a dilated window starting above the image.
    assert_eq!(taps(-3, 2, 3, 5), (2, 3));
    assert_eq!(taps(3, 2, 3, 5), (0, 1));
    assert_eq!(taps(-1, 1, 3, 1), (1, 2));
}

fn depthwise(padding: Padding, stride: i32, act: Activation) -> Op<'static> {
    Op::DepthwiseConv2d(DepthwiseConv2dAttrs {
        padding,
        stride_h: stride,
        stride_w: stride,
        depth_multiplier: 2,
        dilation_h_factor: 1,
        dilation_w_factor: 1,
        fused_activation_function: act,
    })
}

#[test]
fn depthwise_f32_multiplier_2() {
    let op = depthwise(Padding::Valid, 1, Activation::None);
    // Channels c0, c1 at four pixels; outputs (c0*m0, c0*m1, c1*m0, c1*m1).
    let x: Vec<f32> = vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0];
    let w: Vec<f32> = (0..16)
        .map(|i| (i % 4 + 1) as f32 * if i < 8 { 1.0 } else { -1.0 })
        .collect();
    let out = run1::<f32>(
        &op,
        &[
            input(f32t("x", &[1, 2, 2, 2]), &x),
            constant(f32t("w", &[1, 2, 2, 4]), &w),
            constant(f32t("b", &[4]), &[0.0f32, 1.0, 2.0, 3.0]),
        ],
        f32t("y", &[1, 1, 1, 4]),
    );
    // Taps weigh +1,+2 | +3,+4 for pixels 0, 1 and the negatives for pixels 2, 3.
    let c0 = 1.0 + 2.0 - 3.0 - 4.0;
    let c1 = 10.0 + 20.0 - 30.0 - 40.0;
    assert_eq!(
        out,
        [c0 * 1.0, c0 * 2.0 + 1.0, c1 * 3.0 + 2.0, c1 * 4.0 + 3.0]
    );
}

#[test]
fn depthwise_i8_per_channel() {
    let op = depthwise(Padding::Same, 1, Activation::None);
    let x = qt("x", DType::Int8, &[1, 1, 1, 1], 1.0, 10);
    let w = per_axis("w", DType::Int8, &[1, 1, 1, 2], 3, &[1.0, 0.5]);
    let y = qt("y", DType::Int8, &[1, 1, 1, 2], 1.0, 0);
    let out = run1::<i8>(&op, &[input(x, &[15i8]), constant(w, &[3i8, 3]), None], y);
    assert_eq!(out, [15, 8]); // 3 * 5 and 3 * 5 * 0.5 = 7.5 -> 8
}

#[test]
fn depthwise_rejects_bad_filter_shape() {
    let op = depthwise(Padding::Valid, 1, Activation::None);
    let e = err(
        &op,
        &[
            input(f32t("x", &[1, 2, 2, 2]), &[0.0f32; 8]),
            constant(f32t("w", &[2, 2, 2, 2]), &[0.0f32; 16]),
            None,
        ],
        f32t("y", &[1, 1, 1, 2]),
    );
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
}

fn fc(act: Activation, keep: bool, asym: bool) -> Op<'static> {
    Op::FullyConnected(FullyConnectedAttrs {
        fused_activation_function: act,
        keep_num_dims: keep,
        asymmetric_quantize_inputs: asym,
        ..Default::default()
    })
}

#[test]
fn fully_connected_f32_keep_num_dims() {
    let op = fc(Activation::ReluN1To1, true, false);
    let out = run1::<f32>(
        &op,
        &[
            input(f32t("x", &[2, 1, 3]), &[0.1f32, 0.2, 0.3, 1.0, 2.0, 3.0]),
            constant(f32t("w", &[2, 3]), &[1.0f32, 1.0, 1.0, -1.0, 0.0, 0.0]),
            None,
        ],
        f32t("y", &[2, 1, 2]),
    );
    assert_eq!(out, [0.1 + 0.2 + 0.3, -0.1, 1.0, -1.0]);
}

#[test]
fn fully_connected_i8_requantizes_in_double() {
    let op = fc(Activation::None, false, false);
    let x = qt("x", DType::Int8, &[1, 2], 0.5, 0);
    let w = qt("w", DType::Int8, &[1, 2], 0.5, 0);
    let b = TensorInfo::new("b", DType::Int32, vec![1]);
    let y = qt("y", DType::Int8, &[1, 1], 1.0, -5);
    // acc = 3*3 + 1*1 + 0 = 10 -> 2.5 -> 3 (half away) - 5.
    let out = run1::<i8>(
        &op,
        &[
            input(x.clone(), &[3i8, 1]),
            constant(w.clone(), &[3i8, 1]),
            constant(b.clone(), &[0i32]),
        ],
        y.clone(),
    );
    assert_eq!(out, [-2]);
    // Negative half rounds away too: -10 * 0.25 = -2.5 -> -3.
    let out = run1::<i8>(
        &op,
        &[
            input(x, &[-3i8, -1]),
            constant(w, &[3i8, 1]),
            constant(b, &[0i32]),
        ],
        y,
    );
    assert_eq!(out, [-8]);
}

#[test]
fn fully_connected_hybrid_symmetric_and_asymmetric() {
    let w = qt("w", DType::Int8, &[1, 2], 0.5, 0);
    let x = [1.27f32, -0.635];
    let sym = run1::<f32>(
        &fc(Activation::None, false, false),
        &[
            input(f32t("x", &[1, 2]), &x),
            constant(w.clone(), &[2i8, 4]),
            constant(f32t("b", &[1]), &[1.0f32]),
        ],
        f32t("y", &[1, 1]),
    );
    let sf = 1.27f32 / 127.0 * 0.5;
    assert_eq!(sym, [1.0 + (2 * 127 + 4 * -64) as f32 * sf]);
    let asym = run1::<f32>(
        &fc(Activation::Relu, false, true),
        &[input(f32t("x", &[1, 2]), &x), constant(w, &[2i8, 4]), None],
        f32t("y", &[1, 1]),
    );
    // Recompute with the module's quantizer: sum w * (q - zp) * sf * 0.5.
    let mut q = [0i8; 2];
    let (sf, zp) = super::hybrid::quantize_asymmetric(&x, &mut q);
    let dot = 2 * (i32::from(q[0]) - zp) + 4 * (i32::from(q[1]) - zp);
    assert_eq!(asym, [(dot as f32 * (sf * 0.5)).max(0.0)]);
}

#[test]
fn fully_connected_zero_depth_writes_zeros() {
    let out = run1::<f32>(
        &fc(Activation::None, false, false),
        &[
            input(f32t("x", &[3, 0]), &[] as &[f32]),
            constant(f32t("w", &[2, 0]), &[] as &[f32]),
            None,
        ],
        f32t("y", &[3, 2]),
    );
    assert_eq!(out, [0.0; 6]);
}

#[test]
fn fully_connected_rejects_ragged_input_and_tanh() {
    let e = err(
        &fc(Activation::None, false, false),
        &[
            input(f32t("x", &[5]), &[0.0f32; 5]),
            constant(f32t("w", &[1, 2]), &[0.0f32; 2]),
            None,
        ],
        f32t("y", &[2, 1]),
    );
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
    let e = err(
        &fc(Activation::Tanh, false, false),
        &[
            input(f32t("x", &[1, 2]), &[0.0f32; 2]),
            constant(f32t("w", &[1, 2]), &[0.0f32; 2]),
            None,
        ],
        f32t("y", &[1, 1]),
    );
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
}

fn tconv(padding: Padding, stride: i32) -> Op<'static> {
    Op::TransposeConv(TransposeConvAttrs {
        padding,
        stride_h: stride,
        stride_w: stride,
        ..Default::default()
    })
}

fn shape_input(shape: &[i32]) -> Option<TestInput> {
    constant(TensorInfo::new("shape", DType::Int32, vec![4]), shape)
}

#[test]
fn transpose_conv_f32_same_stride1() {
    // LiteRT's transpose_conv_test `SimpleTest`.
    let out = run1::<f32>(
        &tconv(Padding::Same, 1),
        &[
            shape_input(&[1, 4, 4, 1]),
            constant(f32t("w", &[1, 3, 3, 1]), &iota(9, 1.0)),
            input(f32t("x", &[1, 4, 4, 1]), &iota(16, 1.0)),
        ],
        f32t("y", &[1, 4, 4, 1]),
    );
    assert_eq!(
        out,
        [
            29.0, 62.0, 83.0, 75.0, 99.0, 192.0, 237.0, 198.0, 207.0, 372.0, 417.0, 330.0, 263.0,
            446.0, 485.0, 365.0
        ]
    );
}

#[test]
fn transpose_conv_f32_valid_stride2() {
    // LiteRT's transpose_conv_test `StrideValidTest`.
    let out = run1::<f32>(
        &tconv(Padding::Valid, 2),
        &[
            shape_input(&[1, 5, 5, 1]),
            constant(f32t("w", &[1, 3, 3, 1]), &iota(9, 1.0)),
            input(f32t("x", &[1, 2, 2, 1]), &[1.0f32, 2.0, 3.0, 4.0]),
            None,
        ],
        f32t("y", &[1, 5, 5, 1]),
    );
    let expect = [
        1.0, 2.0, 5.0, 4.0, 6.0, 4.0, 5.0, 14.0, 10.0, 12.0, 10.0, 14.0, 36.0, 24.0, 30.0, 12.0,
        15.0, 34.0, 20.0, 24.0, 21.0, 24.0, 55.0, 32.0, 36.0,
    ];
    assert_eq!(out, expect);
}

#[test]
fn transpose_conv_i8_with_bias() {
    let x = qt("x", DType::Int8, &[1, 1, 1, 1], 1.0, -1);
    let w = per_axis("w", DType::Int8, &[2, 1, 2, 1], 0, &[1.0, 0.5]);
    let b = TensorInfo::new("b", DType::Int32, vec![2]);
    let y = qt("y", DType::Int8, &[1, 1, 2, 2], 1.0, 1);
    let out = run1::<i8>(
        &tconv(Padding::Valid, 1),
        &[
            shape_input(&[1, 1, 2, 2]),
            constant(w, &[1i8, 2, 3, 4]),
            input(x, &[4i8]),
            constant(b, &[0i32, 1]),
        ],
        y,
    );
    // x - zp = 5. Column 0: oc0 5 -> 6, oc1 (15 + 1) / 2 -> 9; column 1: oc0 10 -> 11,
    // oc1 (20 + 1) / 2 = 10.5 -> 11 -> 12 (output zero point 1).
    assert_eq!(out, [6, 9, 11, 12]);
}

#[test]
fn transpose_conv_checks_output_shape_operand() {
    let e = err(
        &tconv(Padding::Same, 1),
        &[
            shape_input(&[1, 3, 4, 1]),
            constant(f32t("w", &[1, 3, 3, 1]), &iota(9, 1.0)),
            input(f32t("x", &[1, 4, 4, 1]), &iota(16, 1.0)),
        ],
        f32t("y", &[1, 4, 4, 1]),
    );
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
}

fn bmm(adj_x: bool, adj_y: bool) -> Op<'static> {
    Op::BatchMatMul(BatchMatMulAttrs {
        adj_x,
        adj_y,
        asymmetric_quantize_inputs: false,
    })
}

/// Plain `[.., m, k] x [.., k, n]` with broadcasting over one batch dimension.
fn matmul_ref(
    a: &[f32],
    b: &[f32],
    ab: usize,
    bb: usize,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let batches = ab.max(bb);
    let mut out = vec![0.0; batches * m * n];
    for t in 0..batches {
        let (ta, tb) = (if ab == 1 { 0 } else { t }, if bb == 1 { 0 } else { t });
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for p in 0..k {
                    acc += a[(ta * m + i) * k + p] * b[(tb * k + p) * n + j];
                }
                out[(t * m + i) * n + j] = acc;
            }
        }
    }
    out
}

fn transpose(v: &[f32], batches: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; v.len()];
    for b in 0..batches {
        for r in 0..rows {
            for c in 0..cols {
                t[(b * cols + c) * rows + r] = v[(b * rows + r) * cols + c];
            }
        }
    }
    t
}

#[test]
fn batch_matmul_f32_broadcast_and_adjoints() {
    let (m, k, n) = (2, 3, 4);
    let a = iota(2 * m * k, -3.0);
    let b: Vec<f32> = iota(k * n, 0.5).iter().map(|v| v * 0.5).collect();
    let expect = matmul_ref(&a, &b, 2, 1, m, k, n);
    let plain = run1::<f32>(
        &bmm(false, false),
        &[
            input(f32t("a", &[2, m, k]), &a),
            input(f32t("b", &[1, k, n]), &b),
        ],
        f32t("y", &[2, m, n]),
    );
    assert_eq!(plain, expect);
    // Same product with both operands stored transposed; the right one constant and rank 2.
    let adj = run1::<f32>(
        &bmm(true, true),
        &[
            input(f32t("a", &[2, k, m]), &transpose(&a, 2, m, k)),
            constant(f32t("b", &[n, k]), &transpose(&b, 1, k, n)),
        ],
        f32t("y", &[2, m, n]),
    );
    assert_eq!(adj, expect);
    let cached = run1::<f32>(
        &bmm(false, false),
        &[
            input(f32t("a", &[2, m, k]), &a),
            constant(f32t("b", &[k, n]), &b),
        ],
        f32t("y", &[2, m, n]),
    );
    assert_eq!(cached, expect);
}

/// A transposed operand with no rows gives an empty product, not a panic.
#[test]
fn batch_matmul_f32_empty_adjoint_operand() {
    let out = run1::<f32>(
        &bmm(true, false),
        &[
            input::<f32>(f32t("a", &[2, 3, 0]), &[]),
            input(f32t("b", &[2, 3, 4]), &[1.0f32; 24]),
        ],
        f32t("y", &[2, 0, 4]),
    );
    assert!(out.is_empty());
}

#[test]
fn batch_matmul_i8_and_i32_output() {
    let a = qt("a", DType::Int8, &[1, 2], 0.5, 1);
    let b = qt("b", DType::Int8, &[2, 1], 0.25, -1);
    let y = qt("y", DType::Int8, &[1, 1], 0.125, 2);
    // (3-1)*(1+1) + (5-1)*(3+1) = 20; 20 * 0.125 / 0.125 + 2.
    let out = run1::<i8>(
        &bmm(false, false),
        &[input(a.clone(), &[3i8, 5]), input(b.clone(), &[1i8, 3])],
        y,
    );
    assert_eq!(out, [22]);
    let raw = run1::<i32>(
        &bmm(false, false),
        &[input(a, &[3i8, 5]), input(b, &[1i8, 3])],
        TensorInfo::new("y", DType::Int32, vec![1, 1]),
    );
    assert_eq!(raw, [18]);
}

#[test]
fn batch_matmul_rejects_mismatched_shapes() {
    let e = err(
        &bmm(false, false),
        &[
            input(f32t("a", &[2, 2, 3]), &[0.0f32; 12]),
            input(f32t("b", &[3, 3, 1]), &[0.0f32; 9]),
        ],
        f32t("y", &[2, 2, 1]),
    );
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
    let e = err(
        &bmm(false, false),
        &[
            input(f32t("a", &[2, 3]), &[0.0f32; 6]),
            input(f32t("b", &[2, 1]), &[0.0f32; 2]),
        ],
        f32t("y", &[2, 1]),
    );
    assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
}

/// The family alone, as a backend.
struct ConvFamily;

impl crate::Backend for ConvFamily {
    fn name(&self) -> &str {
        "conv-family"
    }

    fn kernel_for(
        &self,
        node: &crate::NodeCtx<'_>,
    ) -> Result<Option<alloc::boxed::Box<dyn crate::Kernel>>, KernelError> {
        super::kernel_for(node)
    }
}

#[test]
fn other_operators_are_declined() {
    let k = make_kernel(
        &ConvFamily,
        &Op::Relu,
        &[input(f32t("x", &[1]), &[0.0f32])],
        &[f32t("y", &[1])],
    )
    .unwrap();
    assert!(k.is_none());
}

#[test]
fn kernel_names_follow_the_convention() {
    let op = conv(Padding::Valid, (1, 1), (1, 1), Activation::None);
    let k = make_kernel(
        &ScalarBackend,
        &op,
        &[
            input(f32t("x", &[1, 1, 1, 1]), &[1.0f32]),
            constant(f32t("w", &[1, 1, 1, 1]), &[1.0f32]),
            None,
        ],
        &[f32t("y", &[1, 1, 1, 1])],
    )
    .unwrap()
    .unwrap();
    assert_eq!(k.name(), "conv_2d_f32__scalar");
}

/// A small deterministic generator for test data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as u8 as i8).collect()
    }
}

/// LiteRT's `reference_integer_ops::ConvPerChannel` loop, written out plainly.
#[allow(clippy::too_many_arguments)]
fn naive_conv_i8(
    x: &[i8],
    [n, ih, iw, ic]: [usize; 4],
    w: &[i8],
    [oc, kh, kw, kc]: [usize; 4],
    bias: &[i32],
    (oh, ow): (usize, usize),
    (sh, sw, dh, dw, ph, pw): (usize, usize, usize, usize, i64, i64),
    in_zp: i32,
    out_zp: i32,
    mult: &[(i32, i32)],
) -> Vec<i8> {
    let per_group = oc / (ic / kc);
    let mut out = Vec::new();
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let g = o / per_group;
                    let mut acc = 0i32;
                    for fy in 0..kh {
                        for fx in 0..kw {
                            let iy = (oy * sh) as i64 - ph + (dh * fy) as i64;
                            let ix = (ox * sw) as i64 - pw + (dw * fx) as i64;
                            if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                continue;
                            }
                            for c in 0..kc {
                                let xv = i32::from(
                                    x[((b * ih + iy as usize) * iw + ix as usize) * ic
                                        + g * kc
                                        + c],
                                );
                                let wv = i32::from(w[((o * kh + fy) * kw + fx) * kc + c]);
                                acc += wv * (xv - in_zp);
                            }
                        }
                    }
                    acc += bias[o];
                    let (m, s) = mult[o];
                    let v =
                        crate::scalar::qmath::multiply_by_quantized_multiplier(acc, m, s) + out_zp;
                    out.push(v.clamp(-128, 127) as i8);
                }
            }
        }
    }
    out
}

#[test]
fn conv_i8_matches_the_reference_loop_over_geometries() {
    let mut rng = Lcg(7);
    // (input hw, channels, filters, kernel hw, stride, dilation, padding, groups)
    let cases = [
        ((7, 6), 3, 4, (3, 3), (2, 1), (1, 1), Padding::Same, 1),
        ((5, 9), 1, 8, (10, 4), (2, 2), (1, 1), Padding::Same, 1),
        ((8, 8), 16, 5, (3, 3), (1, 1), (2, 2), Padding::Same, 1),
        ((6, 5), 4, 6, (2, 3), (1, 2), (1, 1), Padding::Valid, 2),
        ((4, 4), 24, 9, (1, 1), (1, 1), (1, 1), Padding::Valid, 1),
        ((5, 5), 9, 3, (5, 5), (3, 3), (1, 1), Padding::Same, 1),
    ];
    for (i, &((ih, iw), ic, oc, (kh, kw), (sh, sw), (dh, dw), padding, groups)) in
        cases.iter().enumerate()
    {
        let kc = ic / groups;
        let (oh, ph) = tflrs_ir::window::conv_axis(padding, ih, kh, sh, dh).unwrap();
        let (ow, pw) = tflrs_ir::window::conv_axis(padding, iw, kw, sw, dw).unwrap();
        let (ph, pw) = (ph.before as i64, pw.before as i64);
        let x = rng.i8s(2 * ih * iw * ic);
        let w: Vec<i8> = rng
            .i8s(oc * kh * kw * kc)
            .into_iter()
            .map(|v| v.max(-127))
            .collect();
        let bias: Vec<i32> = (0..oc).map(|_| (rng.next() % 2001) as i32 - 1000).collect();
        let scales: Vec<f32> = (0..oc).map(|o| 0.002 + 0.001 * o as f32).collect();
        let (in_zp, out_zp) = ((i % 3) as i64 * 40 - 40, 5 - i as i64);
        let op = Op::Conv2d(Conv2dAttrs {
            padding,
            stride_h: sh as i32,
            stride_w: sw as i32,
            dilation_h_factor: dh as i32,
            dilation_w_factor: dw as i32,
            ..Default::default()
        });
        let got = run1::<i8>(
            &op,
            &[
                input(qt("x", DType::Int8, &[2, ih, iw, ic], 0.5, in_zp), &x),
                constant(
                    per_axis("w", DType::Int8, &[oc, kh, kw, kc], 0, &scales),
                    &w,
                ),
                constant(TensorInfo::new("b", DType::Int32, vec![oc]), &bias),
            ],
            qt("y", DType::Int8, &[2, oh, ow, oc], 0.25, out_zp),
        );
        let mult: Vec<(i32, i32)> = scales
            .iter()
            .map(|&s| {
                crate::scalar::qmath::quantize_multiplier(0.5f64 * f64::from(s) / 0.25).unwrap()
            })
            .collect();
        let want = naive_conv_i8(
            &x,
            [2, ih, iw, ic],
            &w,
            [oc, kh, kw, kc],
            &bias,
            (oh, ow),
            (sh, sw, dh, dw, ph, pw),
            in_zp as i32,
            out_zp as i32,
            &mult,
        );
        assert_eq!(got, want, "case {i}");
    }
}

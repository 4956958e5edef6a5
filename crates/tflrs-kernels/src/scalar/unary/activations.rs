//! Tests of RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, PRELU, HARD_SWISH, GELU, LOGISTIC and TANH
//! (LiteRT's `activations.cc` and its `reference/` headers), whose kernels are the executors
//! in [`super`] of the plans of [`prep::unary`](crate::prep::unary).

use crate::TensorInfo;
use tflrs_ir::{DType, Op};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarBackend;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{GeluAttrs, LeakyReluAttrs};

    fn run<I: bytemuck::Pod, O: bytemuck::Pod>(
        op: Op<'_>,
        x: TensorInfo,
        v: &[I],
        y: TensorInfo,
    ) -> Vec<O> {
        let out = run_node(
            &ScalarBackend,
            &op,
            &[Some(TestInput::from_slice(x, v))],
            &[y],
        )
        .unwrap();
        bytemuck::cast_slice(&out[0]).to_vec()
    }

    fn q(dt: DType, n: usize, s: f32, z: i64) -> TensorInfo {
        TensorInfo::new("t", dt, vec![n]).with_quant(s, z)
    }

    fn f(n: usize) -> TensorInfo {
        TensorInfo::new("t", DType::Float32, vec![n])
    }

    #[test]
    fn float_activations() {
        let x = [-4.0f32, -1.0, -0.5, 0.0, 0.5, 2.0, 7.0];
        let y: Vec<f32> = run(Op::Relu6, f(7), &x, f(7));
        assert_eq!(y, vec![0.0, 0.0, 0.0, 0.0, 0.5, 2.0, 6.0]);
        let y: Vec<f32> = run(Op::ReluN1To1, f(7), &x, f(7));
        assert_eq!(y, vec![-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0]);
        let y: Vec<f32> = run(Op::HardSwish, f(7), &x, f(7));
        assert_eq!(
            y,
            vec![
                0.0,
                -1.0 / 3.0,
                -0.5 * 2.5 / 6.0,
                0.0,
                0.5 * 3.5 / 6.0,
                2.0 * 5.0 / 6.0,
                7.0
            ]
        );
        let y: Vec<f32> = run(
            Op::LeakyRelu(LeakyReluAttrs { alpha: 0.1 }),
            f(2),
            &[-2.0f32, 3.0],
            f(2),
        );
        assert_eq!(y, vec![-0.2, 3.0]);
        let y: Vec<f32> = run(Op::Logistic, f(3), &[0.0f32, 20.0, -20.0], f(3));
        assert_eq!(y[..2], [0.5, 1.0]);
        assert!((y[2] - (-20.0f32).exp()).abs() < 1e-12);
        let y: Vec<f32> = run(
            Op::Gelu(GeluAttrs { approximate: false }),
            f(3),
            &[0.0f32, 1.0, -1.0],
            f(3),
        );
        assert!(
            (y[1] - 0.841_344_7).abs() < 1e-6 && (y[2] + 0.158_655_3).abs() < 1e-6,
            "{y:?}"
        );
        let y: Vec<f32> = run(
            Op::Gelu(GeluAttrs { approximate: true }),
            f(1),
            &[1.0f32],
            f(1),
        );
        assert!((y[0] - 0.841_192).abs() < 1e-5, "{y:?}");
    }

    #[test]
    fn quantized_relus() {
        // Input 0.1/0, output 0.05/-128: relu6 clamps at 6.0 -> 120 - 128.
        let y: Vec<i8> = run(
            Op::Relu6,
            q(DType::Int8, 4, 0.1, 0),
            &[-5i8, 10, 50, 127],
            q(DType::Int8, 4, 0.05, -128),
        );
        assert_eq!(y, vec![-128, -108, -28, -8]);
        let y: Vec<i8> = run(
            Op::Relu,
            q(DType::Int8, 2, 0.1, 0),
            &[-5i8, 10],
            q(DType::Int8, 2, 0.1, 0),
        );
        assert_eq!(y, vec![0, 10]);
        let y: Vec<i8> = run(
            Op::ReluN1To1,
            q(DType::Int8, 3, 0.1, 0),
            &[-20i8, 5, 20],
            q(DType::Int8, 3, 1.0 / 64.0, 0),
        );
        assert_eq!(y, vec![-64, 32, 64]);
    }

    #[test]
    fn quantized_leaky_and_prelu() {
        let op = Op::LeakyRelu(LeakyReluAttrs { alpha: -0.5 });
        let y: Vec<i8> = run(
            op,
            q(DType::Int8, 3, 0.1, 0),
            &[-10i8, 0, 10],
            q(DType::Int8, 3, 0.1, 0),
        );
        assert_eq!(y, vec![5, 0, 10]);
        let inputs = [
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Int8, vec![2, 2]).with_quant(0.1, 0),
                &[-10i8, 10, -20, 20],
            )),
            Some(TestInput::from_slice(
                TensorInfo::new("a", DType::Int8, vec![2]).with_quant(0.01, 0),
                &[50i8, 25],
            )),
        ];
        let out = run_node(
            &ScalarBackend,
            &Op::Prelu,
            &inputs,
            &[TensorInfo::new("y", DType::Int8, vec![2, 2]).with_quant(0.1, 0)],
        )
        .unwrap();
        // -1.0 * 0.5 = -0.5 -> -5; 1.0 -> 10; -2.0 * 0.5 = -1.0 -> -10; 2.0 -> 20.
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&out[0]), &[-5, 10, -10, 20]);
    }

    #[test]
    fn quantized_hard_swish_close_to_float() {
        let (si, zi, so, zo) = (0.04f32, -1i32, 0.021f32, -110i32);
        let xs: Vec<i8> = (-128..=127).map(|v| v as i8).collect();
        let y: Vec<i8> = run(
            Op::HardSwish,
            q(DType::Int8, 256, si, zi.into()),
            &xs,
            q(DType::Int8, 256, so, zo.into()),
        );
        for (&x, &got) in xs.iter().zip(&y) {
            let r = si * (i32::from(x) - zi) as f32;
            let want = (r * (r + 3.0).clamp(0.0, 6.0) / 6.0 / so + zo as f32).clamp(-128.0, 127.0);
            assert!(
                (f32::from(got) - want).abs() <= 1.01,
                "{x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn quantized_logistic_tanh() {
        let y: Vec<i8> = run(
            Op::Logistic,
            q(DType::Int8, 3, 0.1, 0),
            &[0i8, 127, -128],
            q(DType::Int8, 3, 1.0 / 256.0, -128),
        );
        assert_eq!(y, vec![0, 127, -128]);
        let y: Vec<i8> = run(
            Op::Tanh,
            q(DType::Int8, 3, 0.1, 0),
            &[0i8, 5, -127],
            q(DType::Int8, 3, 1.0 / 128.0, 0),
        );
        // tanh(0.5) = 0.4621 -> 59.
        assert_eq!(y, vec![0, 59, -128]);
        // int16: scale 2^-12 in, 2^-15 out.
        let xs = [0i16, 4096, -4096, 32767, -32768];
        let y: Vec<i16> = run(
            Op::Logistic,
            q(DType::Int16, 5, 1.0 / 4096.0, 0),
            &xs,
            q(DType::Int16, 5, 1.0 / 32768.0, 0),
        );
        for (&x, &got) in xs.iter().zip(&y) {
            let want = 32768.0 / (1.0 + (-f64::from(x) / 4096.0).exp());
            assert!(
                (f64::from(got) - want.min(32767.0)).abs() <= 2.0,
                "{x}: {got} vs {want}"
            );
        }
        let y: Vec<i16> = run(
            Op::Tanh,
            q(DType::Int16, 5, 1.0 / 8192.0, 0),
            &xs,
            q(DType::Int16, 5, 1.0 / 32768.0, 0),
        );
        for (&x, &got) in xs.iter().zip(&y) {
            let want = 32768.0 * (f64::from(x) / 8192.0).tanh();
            assert!(
                (f64::from(got) - want.clamp(-32768.0, 32767.0)).abs() <= 3.0,
                "{x}: {got} vs {want}"
            );
        }
    }
}

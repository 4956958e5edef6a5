//! ELU and RELU_0_TO_1 (LiteRT's `activations.cc`).
//!
//! ELU: float32 computes `x < 0 ? expm1(x) : x`; int8 looks the same function up in a table
//! built at preparation as LiteRT's `LUTPopulate` does. RELU_0_TO_1: float32 clamps to
//! `[0, 1]`; int8 and uint8 requantize and clamp as `QuantizedReluX` with bounds 0 and 1.

use crate::kernel::NodeCtx;
use crate::math;
use crate::prep::unary::{RequantizeParams, UnaryLut, same_dtype_io as same_dtype, unsupported};
use crate::scalar::binary::elementwise::{map, quant_in_range};
use crate::scalar::binary::kname;
use crate::scalar::qmath::lut::Lut8Elem;
use crate::scalar::qmath::{quantize_multiplier, round_f32};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use tflrs_ir::{DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    match node.op {
        Op::Elu => elu(node).map(Some),
        Op::Relu0To1 => relu_0_to_1(node).map(Some),
        _ => Ok(None),
    }
}

fn elu_f32(v: f32) -> f32 {
    if v < 0.0 { math::expm1f(v) } else { v }
}

fn elu(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let n = x.num_elements();
    let name = kname!("elu", x.dtype);
    Ok(match x.dtype {
        DType::Float32 => map(name, n, elu_f32),
        DType::Int8 => match UnaryLut::build(x, y, elu_f32)? {
            UnaryLut::I8(t) => map(name, n, move |v: i8| t[v.slot()]),
            _ => return Err(unsupported(node, x.dtype)),
        },
        dt => return Err(unsupported(node, dt)),
    })
}

fn relu_0_to_1(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let n = x.num_elements();
    let dt = x.dtype;
    let name = kname!("relu_0_to_1", dt);
    let (min, max) = match dt {
        DType::Float32 => {
            // NaN stays NaN and -0 stays -0, as LiteRT's comparisons leave them.
            return Ok(map(name, n, |v: f32| v.clamp(0.0, 1.0)));
        }
        DType::Int8 => (-128, 127),
        DType::UInt8 => (0, 255),
        _ => return Err(unsupported(node, dt)),
    };
    let (si, zi) = quant_in_range(x, min, max)?;
    let (so, zo) = quant_in_range(y, min, max)?;
    let (output_multiplier, output_shift) = quantize_multiplier(f64::from(si / so))?;
    let bound = |f: f32| zo.saturating_add(round_f32(f / so) as i32);
    let p = RequantizeParams {
        input_zero_point: zi,
        output_multiplier,
        output_shift,
        output_zero_point: zo,
        act_min: min.max(bound(0.0)),
        act_max: max.min(bound(1.0)),
    };
    Ok(if dt == DType::Int8 {
        map(name, n, move |v: i8| p.eval(i32::from(v)) as i8)
    } else {
        map(name, n, move |v: u8| p.eval(i32::from(v)) as u8)
    })
}

#[cfg(test)]
mod tests {
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use tflrs_ir::{DType, Op};

    #[test]
    fn float_elu_and_relu_0_to_1() {
        let t = TensorInfo::new("t", DType::Float32, vec![4]);
        let x = [-1.0f32, -0.0, 0.5, 3.0];
        let run = |op: Op<'_>| {
            let out = run_node(
                &ScalarBackend,
                &op,
                &[Some(TestInput::from_slice(t.clone(), &x))],
                core::slice::from_ref(&t),
            )
            .unwrap();
            bytemuck::cast_slice::<u8, f32>(&out[0]).to_vec()
        };
        let e = run(Op::Elu);
        assert!((e[0] - (-0.632_120_56)).abs() < 1e-7);
        assert_eq!(&e[1..], [-0.0, 0.5, 3.0]);
        assert_eq!(run(Op::Relu0To1), [0.0, -0.0, 0.5, 1.0]);
    }

    #[test]
    fn int8_elu_table_and_relu_0_to_1_bounds() {
        let q = |s, z| TensorInfo::new("t", DType::Int8, vec![3]).with_quant(s, z);
        let run = |op: Op<'_>, x: &[i8], qi: TensorInfo, qo: TensorInfo| {
            let out = run_node(
                &ScalarBackend,
                &op,
                &[Some(TestInput::from_slice(qi, x))],
                &[qo],
            )
            .unwrap();
            bytemuck::cast_slice::<u8, i8>(&out[0]).to_vec()
        };
        // elu(-1) = -0.632 -> round(-0.632 / 0.02) = -32; elu(0) = 0; elu(1) = 1 -> 50.
        let y = run(Op::Elu, &[-10, 0, 10], q(0.1, 0), q(0.02, 0));
        assert_eq!(y, [-32, 0, 50]);
        // Real -1, 0.5, 2 clamped to [0, 1] at scale 1/100, zero point -128.
        let y = run(Op::Relu0To1, &[-10, 5, 20], q(0.1, 0), q(0.01, -128));
        assert_eq!(y, [-128, -78, -28]);
    }
}

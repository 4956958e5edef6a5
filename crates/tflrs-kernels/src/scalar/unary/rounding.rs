//! FLOOR, CEIL, ROUND, SIGN, SIN and COS (LiteRT's `floor.cc`, `ceil.cc`, `round.cc`,
//! `sign.cc` and `elementwise.cc`). LiteRT registers them for float32 only, except SIGN
//! (float32, float64 and int32); other types fail at preparation.

use crate::kernel::NodeCtx;
use crate::math;
use crate::prep::unary::{same_dtype_io as same_dtype, unsupported};
use crate::scalar::binary::elementwise::map;
use crate::scalar::binary::kname;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use tflrs_ir::{DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let (name, f): (&'static str, fn(f32) -> f32) = match node.op {
        Op::Floor => (kname!("floor", DType::Float32), math::floorf),
        Op::Ceil => (kname!("ceil", DType::Float32), math::ceilf),
        Op::Round => (kname!("round", DType::Float32), round_half_even),
        Op::Sin => (kname!("sin", DType::Float32), math::sinf),
        Op::Cos => (kname!("cos", DType::Float32), math::cosf),
        Op::Sign => return sign(node).map(Some),
        _ => return Ok(None),
    };
    let (x, _) = same_dtype(node)?;
    if x.dtype != DType::Float32 {
        return Err(unsupported(node, x.dtype));
    }
    Ok(Some(map(name, x.num_elements(), f)))
}

/// LiteRT's `RoundToNearest`: to the nearest integer, ties to the even one.
pub(crate) fn round_half_even(v: f32) -> f32 {
    let floor = math::floorf(v);
    let diff = v - floor;
    if diff < 0.5 || (diff == 0.5 && math::floorf(floor * 0.5) * 2.0 == floor) {
        floor
    } else {
        floor + 1.0
    }
}

/// `-1`, `0` or `1` by the sign of `v`, computed as LiteRT's `(0 < v) - (v < 0)` (so NaN
/// gives 0).
fn sign_f32(v: f32) -> f32 {
    f32::from(u8::from(v > 0.0)) - f32::from(u8::from(v < 0.0))
}

fn sign(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, _) = same_dtype(node)?;
    let n = x.num_elements();
    let name = kname!("sign", x.dtype);
    Ok(match x.dtype {
        DType::Float32 => map(name, n, sign_f32),
        DType::Float64 => map(name, n, |v: f64| {
            f64::from(u8::from(v > 0.0)) - f64::from(u8::from(v < 0.0))
        }),
        DType::Int32 => map(name, n, |v: i32| v.signum()),
        dt => return Err(unsupported(node, dt)),
    })
}

#[cfg(test)]
mod tests {
    use super::round_half_even;
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op};

    fn run_f32(op: Op<'_>, v: &[f32]) -> Result<Vec<f32>, crate::KernelError> {
        let t = TensorInfo::new("t", DType::Float32, vec![v.len()]);
        let out = run_node(
            &ScalarBackend,
            &op,
            &[Some(TestInput::from_slice(t.clone(), v))],
            &[t],
        )?;
        Ok(bytemuck::cast_slice(&out[0]).to_vec())
    }

    #[test]
    fn round_is_half_to_even() {
        let x = [0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6, 3.0];
        let want = [0.0f32, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, 3.0, -3.0, 3.0];
        assert_eq!(run_f32(Op::Round, &x).unwrap(), want);
        // Beyond 2^24 every float is an integer.
        assert_eq!(round_half_even(16_777_217.0), 16_777_217.0);
    }

    #[test]
    fn floor_ceil_sign_trig() {
        let x = [-1.5f32, -0.0, 0.25, 2.0];
        assert_eq!(run_f32(Op::Floor, &x).unwrap(), [-2.0, -0.0, 0.0, 2.0]);
        assert_eq!(run_f32(Op::Ceil, &x).unwrap(), [-1.0, -0.0, 1.0, 2.0]);
        assert_eq!(run_f32(Op::Sign, &x).unwrap(), [-1.0, 0.0, 1.0, 1.0]);
        let y = run_f32(Op::Sin, &[0.0, core::f32::consts::FRAC_PI_2]).unwrap();
        assert_eq!(y, [0.0, 1.0]);
        let y = run_f32(Op::Cos, &[0.0]).unwrap();
        assert_eq!(y, [1.0]);
    }

    #[test]
    fn sign_int32_and_unsupported_types() {
        let t = TensorInfo::new("t", DType::Int32, vec![3]);
        let out = run_node(
            &ScalarBackend,
            &Op::Sign,
            &[Some(TestInput::from_slice(t.clone(), &[-7i32, 0, 9]))],
            &[t],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&out[0]), [-1, 0, 1]);
        let q = TensorInfo::new("t", DType::Int8, vec![1]).with_quant(0.1, 0);
        let err = run_node(
            &ScalarBackend,
            &Op::Floor,
            &[Some(TestInput::from_slice(q.clone(), &[1i8]))],
            &[q],
        );
        assert!(err.is_err());
    }
}

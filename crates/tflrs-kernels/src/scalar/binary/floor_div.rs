//! FLOOR_DIV, FLOOR_MOD, ATAN2, BITWISE_XOR and RIGHT_SHIFT, with broadcasting (LiteRT's
//! `floor_div.cc`, `floor_mod.cc`, `atan2.cc`, `bitwise_xor.cc`, `right_shift.cc`).
//!
//! Integer operands are raw integers (no quantization), as in LiteRT. An integer divisor of
//! zero fails the run ("division by zero"), as LiteRT's checks before it divides do.

use super::broadcast::Broadcast;
use super::elementwise::{CheckParams, no_zero_divisor, zip, zip_checked};
use super::kname;
use crate::kernel::NodeCtx;
use crate::math;
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(
        node.op,
        Op::FloorDiv | Op::FloorMod | Op::Atan2 | Op::BitwiseXor | Op::RightShift
    ) {
        return Ok(None);
    }
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (a, b, out) = (node.input(0)?, node.input(1)?, node.output(0)?);
    let op = node.op.name();
    ensure!(
        a.dtype == b.dtype && out.dtype == a.dtype,
        "{op}: inputs and output differ in type ({}, {} -> {})",
        a.dtype,
        b.dtype,
        out.dtype
    );
    let bc = Broadcast::new(&out.shape, [&a.shape, &b.shape])?;
    let dt = a.dtype;
    let k = match node.op {
        Op::FloorDiv => floor_div(dt, bc),
        Op::FloorMod => floor_mod(dt, bc),
        Op::Atan2 => match dt {
            DType::Float32 => Some(zip(kname!("atan2", dt), bc, math::atan2f)),
            DType::Float64 => Some(zip(kname!("atan2", dt), bc, |y: f64, x: f64| {
                libm::atan2(y, x)
            })),
            _ => None,
        },
        Op::BitwiseXor => bitwise_xor(dt, bc),
        _ => right_shift(dt, bc),
    };
    k.map(Some)
        .ok_or_else(|| KernelError::unsupported(format!("{op} on {dt} tensors")))
}

const NONZERO: CheckParams = CheckParams { zero_point: 0 };

/// LiteRT's `FloorDiv`: the quotient in double precision, rounded down.
fn floor_div(dt: DType, bc: Broadcast<2>) -> Option<Box<dyn Kernel>> {
    let name = kname!("floor_div", dt);
    Some(match dt {
        DType::Float32 => zip(name, bc, |x: f32, y: f32| {
            math::floor(f64::from(x) / f64::from(y)) as f32
        }),
        DType::Int32 => zip_checked(
            name,
            bc,
            |x: i32, y: i32| math::floor(f64::from(x) / f64::from(y)) as i32,
            no_zero_divisor::<i32>,
            NONZERO,
        ),
        _ => return None,
    })
}

/// LiteRT's `FloorMod`: the truncated remainder, moved by the divisor when the signs differ.
macro_rules! floor_mod_int {
    ($t:ty) => {
        |x: $t, y: $t| {
            let r = x.wrapping_rem(y);
            if r != 0 && ((y < 0) != (r < 0)) {
                r.wrapping_add(y)
            } else {
                r
            }
        }
    };
}

pub(crate) fn floor_mod_f32(x: f32, y: f32) -> f32 {
    let r = math::fmodf(x, y);
    if r != 0.0 && ((y < 0.0) != (r < 0.0)) {
        r + y
    } else {
        r
    }
}

fn floor_mod(dt: DType, bc: Broadcast<2>) -> Option<Box<dyn Kernel>> {
    let name = kname!("floor_mod", dt);
    Some(match dt {
        DType::Float32 => zip(name, bc, floor_mod_f32),
        DType::Int8 => zip_checked(name, bc, floor_mod_int!(i8), no_zero_divisor::<i8>, NONZERO),
        DType::Int16 => zip_checked(
            name,
            bc,
            floor_mod_int!(i16),
            no_zero_divisor::<i16>,
            NONZERO,
        ),
        DType::Int32 => zip_checked(
            name,
            bc,
            floor_mod_int!(i32),
            no_zero_divisor::<i32>,
            NONZERO,
        ),
        DType::Int64 => zip_checked(
            name,
            bc,
            floor_mod_int!(i64),
            no_zero_divisor::<i64>,
            NONZERO,
        ),
        _ => return None,
    })
}

fn bitwise_xor(dt: DType, bc: Broadcast<2>) -> Option<Box<dyn Kernel>> {
    let name = kname!("bitwise_xor", dt);
    // XOR of the bits: only the width matters.
    Some(match dt {
        DType::Int8 | DType::UInt8 => zip(name, bc, |x: u8, y: u8| x ^ y),
        DType::Int16 | DType::UInt16 => zip(name, bc, |x: u16, y: u16| x ^ y),
        DType::Int32 | DType::UInt32 => zip(name, bc, |x: u32, y: u32| x ^ y),
        _ => return None,
    })
}

/// LiteRT's `RightShift`: the shift clamped to `[0, bits - 1]`; arithmetic for signed types.
macro_rules! shift {
    ($t:ty) => {
        |x: $t, y: $t| {
            let max = (<$t>::BITS - 1) as $t;
            #[allow(unused_comparisons)]
            let s = if y < 0 {
                0
            } else if y > max {
                max
            } else {
                y
            };
            x >> s
        }
    };
}

fn right_shift(dt: DType, bc: Broadcast<2>) -> Option<Box<dyn Kernel>> {
    let name = kname!("right_shift", dt);
    Some(match dt {
        DType::Int8 => zip(name, bc, shift!(i8)),
        DType::UInt8 => zip(name, bc, shift!(u8)),
        DType::Int16 => zip(name, bc, shift!(i16)),
        DType::UInt16 => zip(name, bc, shift!(u16)),
        DType::Int32 => zip(name, bc, shift!(i32)),
        DType::UInt32 => zip(name, bc, shift!(u32)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op};

    fn run<T: bytemuck::Pod>(
        op: Op<'_>,
        dt: DType,
        a: &[T],
        b: &[T],
    ) -> Result<Vec<T>, crate::KernelError> {
        let t = |n: usize| TensorInfo::new("t", dt, alloc::vec![n]);
        let out = run_node(
            &ScalarBackend,
            &op,
            &[
                Some(TestInput::from_slice(t(a.len()), a)),
                Some(TestInput::from_slice(t(b.len()), b)),
            ],
            &[t(a.len().max(b.len()))],
        )?;
        Ok(bytemuck::cast_slice(&out[0]).to_vec())
    }

    #[test]
    fn floor_mod_takes_the_divisor_sign() {
        let a = [7i32, -7, 7, -7, 6, i32::MIN];
        let b = [3i32, 3, -3, -3, -3, -1];
        assert_eq!(
            run(Op::FloorMod, DType::Int32, &a, &b).unwrap(),
            [1, 2, -2, -1, 0, 0]
        );
        let y = run(
            Op::FloorMod,
            DType::Float32,
            &[7.5f32, -7.5, 7.5],
            &[2.0f32, 2.0, -2.0],
        );
        assert_eq!(y.unwrap(), [1.5, 0.5, -0.5]);
        assert!(run(Op::FloorMod, DType::Int8, &[1i8, 2], &[1i8, 0]).is_err());
    }

    #[test]
    fn floor_div_rounds_down_and_rejects_integer_zero() {
        let y = run(
            Op::FloorDiv,
            DType::Int32,
            &[7i32, -7, 7, -7],
            &[2i32, 2, -2, -2],
        );
        assert_eq!(y.unwrap(), [3, -4, -4, 3]);
        let err = run(Op::FloorDiv, DType::Int32, &[1i32, 2], &[1i32, 0]).unwrap_err();
        assert!(format!("{err}").contains("division by zero"), "{err}");
        // Float division by zero is not checked: +-inf, as LiteRT's double division gives.
        let y = run(
            Op::FloorDiv,
            DType::Float32,
            &[-7.0f32, 1.0],
            &[2.0f32, 0.0],
        )
        .unwrap();
        assert_eq!(y, [-4.0, f32::INFINITY]);
        assert!(run(Op::FloorDiv, DType::Int64, &[1i64], &[1i64]).is_err());
    }

    #[test]
    fn shifts_clamp_and_xor() {
        let y = run(
            Op::RightShift,
            DType::Int8,
            &[-128i8, 64, 100, 5],
            &[1i8, 9, -3, 2],
        );
        assert_eq!(y.unwrap(), [-64, 0, 100, 1]);
        let y = run(Op::RightShift, DType::UInt16, &[0xffffu16], &[20u16]).unwrap();
        assert_eq!(y, [1]);
        let y = run(Op::BitwiseXor, DType::Int32, &[-1i32, 5], &[1i32, 3]).unwrap();
        assert_eq!(y, [-2, 6]);
        let y = run(Op::Atan2, DType::Float32, &[1.0f32], &[-1.0f32]).unwrap();
        assert_eq!(y, [3.0 * core::f32::consts::FRAC_PI_4]);
    }
}

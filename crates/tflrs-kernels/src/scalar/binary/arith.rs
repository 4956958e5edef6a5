//! ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM and POW: executors of the plans
//! of [`prep::binary`](crate::prep::binary), which documents where each constant comes from.
//! Float kernels compute in `f32` as LiteRT's reference kernels do; plain integer arithmetic
//! wraps on overflow; quantized kernels apply the plan's per-element functions.

use super::elementwise::{CheckParams, QElem, no_zero_divisor, zip, zip_checked};
use super::kname;
use crate::math;
use crate::prep::binary::{
    BinaryOp, BinaryParams, BinaryPlan, Broadcast, MulI16ToI8Params, PotAddSubParams, RescaleParams,
};
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{Activation, DType};

/// The kernel of an arithmetic plan (not a comparison or logical operator).
pub(super) fn kernel(plan: BinaryPlan) -> Result<Box<dyn Kernel>, KernelError> {
    let BinaryPlan {
        op,
        dtype,
        activation,
        broadcast: bc,
        params,
        ..
    } = plan;
    let unsupported = || KernelError::unsupported(format!("{op:?} on {dtype} tensors"));
    Ok(match params {
        BinaryParams::Float { act_min, act_max } => float_kernel(op, act_min, act_max, bc),
        BinaryParams::Int => match dtype {
            DType::Int16 => int_kernel::<i16>(op, activation, bc),
            DType::Int32 => int_kernel::<i32>(op, activation, bc),
            DType::Int64 => int_kernel::<i64>(op, activation, bc),
            _ => return Err(unsupported()),
        },
        BinaryParams::Raw | BinaryParams::Rescale(_) | BinaryParams::MulDiv(_) => match dtype {
            DType::Int8 => quant_kernel::<i8>(op, dtype, params, bc),
            DType::UInt8 => quant_kernel::<u8>(op, dtype, params, bc),
            DType::Int16 => quant_kernel::<i16>(op, dtype, params, bc),
            _ => None,
        }
        .ok_or_else(unsupported)?,
        BinaryParams::PotAddSub(p) => pot_add_sub(op, p, bc),
        BinaryParams::MulI16ToI8(p) => mul_i16_to_i8(p, bc),
        BinaryParams::Compare(_) => return Err(unsupported()),
    })
}

fn float_kernel(op: BinaryOp, lo: f32, hi: f32, bc: Broadcast<2>) -> Box<dyn Kernel> {
    let f32_ = DType::Float32;
    match op {
        BinaryOp::Add => zip(kname!("add", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x + y, lo, hi)
        }),
        BinaryOp::Sub => zip(kname!("sub", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x - y, lo, hi)
        }),
        BinaryOp::Mul => zip(kname!("mul", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x * y, lo, hi)
        }),
        BinaryOp::Div => zip(kname!("div", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x / y, lo, hi)
        }),
        BinaryOp::SquaredDifference => {
            zip(kname!("squared_difference", f32_), bc, |x: f32, y: f32| {
                let d = x - y;
                d * d
            })
        }
        BinaryOp::Maximum => zip(
            kname!("maximum", f32_),
            bc,
            |x: f32, y: f32| if x > y { x } else { y },
        ),
        BinaryOp::Minimum => zip(
            kname!("minimum", f32_),
            bc,
            |x: f32, y: f32| if x < y { x } else { y },
        ),
        BinaryOp::Pow => zip(kname!("pow", f32_), bc, math::powf),
        _ => unreachable!("not an arithmetic operator"),
    }
}

/// Plain integer arithmetic (wrapping on overflow, as LiteRT's kernels do in practice).
trait IntElem: bytemuck::Pod + Ord + Send + Into<i64> + 'static {
    const DTYPE: DType;
    const LOWEST: Self;
    const HIGHEST: Self;
    fn from_i8(v: i8) -> Self;
    fn wrapping_add(self, o: Self) -> Self;
    fn wrapping_sub(self, o: Self) -> Self;
    fn wrapping_mul(self, o: Self) -> Self;
    fn wrapping_div(self, o: Self) -> Self;
    fn saturate_i128(v: i128) -> Self;
}

macro_rules! int_elem {
    ($($t:ty => $dt:ident),*) => {$(
        impl IntElem for $t {
            const DTYPE: DType = DType::$dt;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            fn from_i8(v: i8) -> Self { Self::from(v) }
            fn wrapping_add(self, o: Self) -> Self { <$t>::wrapping_add(self, o) }
            fn wrapping_sub(self, o: Self) -> Self { <$t>::wrapping_sub(self, o) }
            fn wrapping_mul(self, o: Self) -> Self { <$t>::wrapping_mul(self, o) }
            fn wrapping_div(self, o: Self) -> Self { <$t>::wrapping_div(self, o) }
            fn saturate_i128(v: i128) -> Self {
                v.clamp(i128::from(<$t>::MIN), i128::from(<$t>::MAX)) as $t
            }
        }
    )*};
}
int_elem!(i16 => Int16, i32 => Int32, i64 => Int64);

/// The clamp range of a fused activation on plain integers (LiteRT's
/// `CalculateActivationRange<int>`).
fn int_activation_range<T: IntElem>(act: Activation) -> (T, T) {
    match act {
        Activation::Relu => (T::from_i8(0), T::HIGHEST),
        Activation::Relu6 => (T::from_i8(0), T::from_i8(6)),
        Activation::ReluN1To1 => (T::from_i8(-1), T::from_i8(1)),
        _ => (T::LOWEST, T::HIGHEST),
    }
}

/// `base^exp` for `exp >= 0`, saturating where the exact result does not fit.
fn int_pow<T: IntElem>(base: T, exp: T) -> T {
    let mut result: i128 = 1;
    let mut b = i128::from(base.into());
    let mut e = exp.into();
    while e > 0 {
        if e & 1 == 1 {
            result = result.saturating_mul(b);
        }
        e >>= 1;
        if e > 0 {
            b = b.saturating_mul(b);
        }
    }
    T::saturate_i128(result)
}

fn no_negative<T: Copy + Into<i64>>(b: &[T], _: &CheckParams) -> Result<(), &'static str> {
    if b.iter().any(|&v| v.into() < 0) {
        Err("negative exponents are not supported for integers")
    } else {
        Ok(())
    }
}

fn int_kernel<T: IntElem>(op: BinaryOp, act: Activation, bc: Broadcast<2>) -> Box<dyn Kernel> {
    let (lo, hi) = int_activation_range::<T>(act);
    let dt = T::DTYPE;
    match op {
        BinaryOp::Add => zip(kname!("add", dt), bc, move |x: T, y: T| {
            x.wrapping_add(y).clamp(lo, hi)
        }),
        BinaryOp::Sub => zip(kname!("sub", dt), bc, move |x: T, y: T| {
            x.wrapping_sub(y).clamp(lo, hi)
        }),
        BinaryOp::Mul => zip(kname!("mul", dt), bc, move |x: T, y: T| {
            x.wrapping_mul(y).clamp(lo, hi)
        }),
        BinaryOp::Div => zip_checked(
            kname!("div", dt),
            bc,
            move |x: T, y: T| x.wrapping_div(y).clamp(lo, hi),
            no_zero_divisor::<T>,
            CheckParams::default(),
        ),
        BinaryOp::SquaredDifference => zip(kname!("squared_difference", dt), bc, |x: T, y: T| {
            let d = x.wrapping_sub(y);
            d.wrapping_mul(d)
        }),
        BinaryOp::Maximum => zip(
            kname!("maximum", dt),
            bc,
            |x: T, y: T| if x > y { x } else { y },
        ),
        BinaryOp::Minimum => zip(
            kname!("minimum", dt),
            bc,
            |x: T, y: T| if x < y { x } else { y },
        ),
        BinaryOp::Pow => zip_checked(
            kname!("pow", dt),
            bc,
            int_pow::<T>,
            no_negative::<T>,
            CheckParams::default(),
        ),
        _ => unreachable!("not an arithmetic operator"),
    }
}

/// Quantized MAXIMUM/MINIMUM (raw values), ADD/SUB/SQUARED_DIFFERENCE ([`RescaleParams`]),
/// MUL and DIV ([`MulDivParams`](crate::prep::binary::MulDivParams)); `None` for a combination the plan does not make.
fn quant_kernel<T: QElem>(
    op: BinaryOp,
    dt: DType,
    params: BinaryParams,
    bc: Broadcast<2>,
) -> Option<Box<dyn Kernel>> {
    let rescale = |p: RescaleParams, f: fn(&RescaleParams, i32, i32) -> i32| {
        move |x: T, y: T| T::from_i32(f(&p, x.to_i32(), y.to_i32()))
    };
    Some(match (op, params) {
        (BinaryOp::Maximum, _) => zip(kname!("maximum", dt), bc, |x: T, y: T| {
            if x.to_i32() > y.to_i32() { x } else { y }
        }),
        (BinaryOp::Minimum, _) => zip(kname!("minimum", dt), bc, |x: T, y: T| {
            if x.to_i32() < y.to_i32() { x } else { y }
        }),
        (BinaryOp::Add, BinaryParams::Rescale(p)) => {
            zip(kname!("add", dt), bc, rescale(p, RescaleParams::add))
        }
        (BinaryOp::Sub, BinaryParams::Rescale(p)) => {
            zip(kname!("sub", dt), bc, rescale(p, RescaleParams::sub))
        }
        (BinaryOp::SquaredDifference, BinaryParams::Rescale(p)) => zip(
            kname!("squared_difference", dt),
            bc,
            rescale(p, RescaleParams::squared_difference_of),
        ),
        (BinaryOp::Mul, BinaryParams::MulDiv(p)) => {
            zip(kname!("mul", dt), bc, move |x: T, y: T| {
                T::from_i32(p.mul(x.to_i32(), y.to_i32()))
            })
        }
        (BinaryOp::Div, BinaryParams::MulDiv(p)) => zip_checked(
            kname!("div", dt),
            bc,
            move |x: T, y: T| T::from_i32(p.div(x.to_i32(), y.to_i32())),
            |b: &[T], c: &CheckParams| {
                if b.iter().any(|&v| v.to_i32() == c.zero_point) {
                    Err("division by zero")
                } else {
                    Ok(())
                }
            },
            CheckParams {
                zero_point: -p.input2_offset,
            },
        ),
        _ => return None,
    })
}

/// int16 ADD/SUB with power-of-two scales ([`PotAddSubParams`]).
fn pot_add_sub(op: BinaryOp, p: PotAddSubParams, bc: Broadcast<2>) -> Box<dyn Kernel> {
    if op == BinaryOp::Sub {
        zip(
            kname!("sub", DType::Int16, "_pot"),
            bc,
            move |x: i16, y: i16| p.sub(x, y),
        )
    } else {
        zip(
            kname!("add", DType::Int16, "_pot"),
            bc,
            move |x: i16, y: i16| p.add(x, y),
        )
    }
}

/// MUL of two int16 tensors into int8 ([`MulI16ToI8Params`]).
fn mul_i16_to_i8(p: MulI16ToI8Params, bc: Broadcast<2>) -> Box<dyn Kernel> {
    zip(
        kname!("mul", DType::Int16, "_i8out"),
        bc,
        move |x: i16, y: i16| p.mul(x, y),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{AddAttrs, DivAttrs, MulAttrs, Op, SubAttrs};

    fn f32_info(shape: &[usize]) -> TensorInfo {
        TensorInfo::new("t", DType::Float32, shape.to_vec())
    }

    fn q(dt: DType, shape: &[usize], scale: f32, zp: i64) -> TensorInfo {
        TensorInfo::new("t", dt, shape.to_vec()).with_quant(scale, zp)
    }

    fn run2<A: bytemuck::Pod, B: bytemuck::Pod, O: bytemuck::Pod>(
        op: Op<'_>,
        a: (TensorInfo, &[A]),
        b: (TensorInfo, &[B]),
        out: TensorInfo,
    ) -> Vec<O> {
        let inputs = [
            Some(TestInput::from_slice(a.0, a.1)),
            Some(TestInput::from_slice(b.0, b.1)),
        ];
        let outs = run_node(&ScalarBackend, &op, &inputs, &[out]).unwrap();
        bytemuck::cast_slice(&outs[0]).to_vec()
    }

    fn add(act: Activation) -> Op<'static> {
        Op::Add(AddAttrs {
            fused_activation_function: act,
            pot_scale_int16: false,
        })
    }

    #[test]
    fn float_broadcast_and_activation() {
        let y: Vec<f32> = run2(
            add(Activation::Relu6),
            (f32_info(&[2, 1, 3]), &[1.0f32, -2.0, 3.0, 4.0, 5.0, -6.0]),
            (f32_info(&[2, 1]), &[0.5f32, 10.0]),
            f32_info(&[2, 2, 3]),
        );
        assert_eq!(
            y,
            vec![1.5, 0.0, 3.5, 6.0, 6.0, 6.0, 4.5, 5.5, 0.0, 6.0, 6.0, 4.0]
        );
        let y: Vec<f32> = run2(
            Op::Sub(SubAttrs {
                fused_activation_function: Activation::ReluN1To1,
                pot_scale_int16: false,
            }),
            (f32_info(&[3]), &[1.0f32, 0.25, -3.0]),
            (f32_info(&[]), &[0.5f32]),
            f32_info(&[3]),
        );
        assert_eq!(y, vec![0.5, -0.25, -1.0]);
        let y: Vec<f32> = run2(
            Op::Maximum,
            (f32_info(&[2]), &[1.0f32, -1.0]),
            (f32_info(&[1]), &[0.0f32]),
            f32_info(&[2]),
        );
        assert_eq!(y, vec![1.0, 0.0]);
        let y: Vec<f32> = run2(
            Op::Pow,
            (f32_info(&[2]), &[2.0f32, 9.0]),
            (f32_info(&[2]), &[3.0f32, 0.5]),
            f32_info(&[2]),
        );
        assert_eq!(y, vec![8.0, 3.0]);
    }

    #[test]
    fn int_arithmetic() {
        let i = |s: &[usize]| TensorInfo::new("t", DType::Int32, s.to_vec());
        let y: Vec<i32> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (i(&[4]), &[7i32, -7, 9, i32::MIN]),
            (i(&[4]), &[2i32, 2, -3, -1]),
            i(&[4]),
        );
        assert_eq!(y, vec![3, -3, -3, i32::MIN]);
        let inputs = [
            Some(TestInput::from_slice(i(&[2]), &[1i32, 2])),
            Some(TestInput::from_slice(i(&[2]), &[1i32, 0])),
        ];
        let err = run_node(
            &ScalarBackend,
            &Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            &inputs,
            &[i(&[2])],
        );
        assert!(err.is_err());
        let y: Vec<i32> = run2(
            Op::Pow,
            (i(&[3]), &[3i32, -2, 2]),
            (i(&[1]), &[3i32]),
            i(&[3]),
        );
        assert_eq!(y, vec![27, -8, 8]);
        let y: Vec<i32> = run2(
            add(Activation::Relu),
            (i(&[2]), &[i32::MAX, -5]),
            (i(&[1]), &[1i32]),
            i(&[2]),
        );
        assert_eq!(y, vec![0, 0]); // wraps to MIN, then relu
    }

    /// Float model of quantized ADD: dequantize, add, requantize.
    fn add_model(
        a: i8,
        b: i8,
        (s1, z1): (f32, i32),
        (s2, z2): (f32, i32),
        (so, zo): (f32, i32),
    ) -> f64 {
        let r = f64::from(s1) * f64::from(i32::from(a) - z1)
            + f64::from(s2) * f64::from(i32::from(b) - z2);
        r / f64::from(so) + f64::from(zo)
    }

    #[test]
    fn int8_add_sub_mul_close_to_float_model() {
        let (qa, qb, qo) = ((0.0078, -1), (0.0037, -78), (0.0115, -26));
        let a: Vec<i8> = (-128..=127).step_by(5).map(|v| v as i8).collect();
        let b: Vec<i8> = (-128..=127).step_by(7).map(|v| v as i8).collect();
        let (na, nb) = (a.len(), b.len());
        let y: Vec<i8> = run2(
            add(Activation::None),
            (q(DType::Int8, &[na, 1], qa.0, qa.1 as i64), &a),
            (q(DType::Int8, &[nb], qb.0, qb.1 as i64), &b),
            q(DType::Int8, &[na, nb], qo.0, qo.1 as i64),
        );
        for (i, &x) in a.iter().enumerate() {
            for (j, &z) in b.iter().enumerate() {
                let want = add_model(x, z, qa, qb, qo).clamp(-128.0, 127.0);
                let got = f64::from(y[i * nb + j]);
                assert!((got - want).abs() <= 0.51, "{x} + {z}: {got} vs {want}");
            }
        }
        let y: Vec<i8> = run2(
            Op::Mul(MulAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[3], 0.1, 0), &[10i8, -20, 127]),
            (q(DType::Int8, &[1], 0.05, 2), &[22i8]),
            q(DType::Int8, &[3], 0.1, 1),
        );
        // 1.0 * 1.0 = 1.0 -> 10 + 1; -2 -> -20 + 1; 12.7 -> saturates.
        assert_eq!(y, vec![11, -19, 127]);
    }

    #[test]
    fn int8_add_matches_hand_computed_fixed_point() {
        // Scales 0.5 and 0.25, output 1.0: multipliers 0.5 and 0.25 of 2^20-shifted values.
        let y: Vec<i8> = run2(
            add(Activation::Relu),
            (q(DType::Int8, &[4], 0.5, 0), &[3i8, -8, 100, 1]),
            (q(DType::Int8, &[4], 0.25, 0), &[2i8, 0, 127, 1]),
            q(DType::Int8, &[4], 1.0, -10),
        );
        // 1.5+0.5=2 -> -8; -4 -> -14 clamped at relu (q(0) = -10); 50+31.75=81.75 -> 72;
        // 0.5+0.25=0.75 -> round 1 -> -9.
        assert_eq!(y, vec![-8, -10, 72, -9]);
    }

    #[test]
    fn int8_div_and_zero_divisor() {
        let y: Vec<i8> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[4], 0.1, 0), &[10i8, -30, 127, 0]),
            (q(DType::Int8, &[4], 0.1, 0), &[20i8, 10, -10, 5]),
            q(DType::Int8, &[4], 0.05, 0),
        );
        // 0.5 -> 10, -3 -> -60, -12.7 -> -128 (saturated), 0 -> 0.
        assert_eq!(y, vec![10, -60, -128, 0]);
        let inputs = [
            Some(TestInput::from_slice(q(DType::Int8, &[1], 0.1, 0), &[1i8])),
            Some(TestInput::from_slice(q(DType::Int8, &[1], 0.1, 3), &[3i8])),
        ];
        let err = run_node(
            &ScalarBackend,
            &Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            &inputs,
            &[q(DType::Int8, &[1], 0.1, 0)],
        );
        assert!(err.is_err());
    }

    /// Dividends of 0 and ±1 with a small multiplier push LiteRT's rounding shift past 31 bits,
    /// and huge scale ratios make it negative; these outputs were read from LiteRT
    /// (BUILTIN_REF) for the same parameters.
    #[test]
    fn int8_div_matches_litert_out_of_range_shifts() {
        let y: Vec<i8> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[3], 0.01, 5), &[5i8, 4, 6]),
            (q(DType::Int8, &[3], 0.2, 0), &[1i8, 2, 3]),
            q(DType::Int8, &[3], 0.1, -7),
        );
        assert_eq!(y, vec![-6, -128, 127]);
        let y: Vec<i8> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[4], 1.0, 0), &[127i8, 100, -128, 64]),
            (q(DType::Int8, &[4], 1e-4, 0), &[1i8, 1, 1, 2]),
            q(DType::Int8, &[4], 1e-4, 0),
        );
        assert_eq!(y, vec![3, 3, -3, 1]);
    }

    #[test]
    fn int16_pot_add() {
        let op = Op::Add(AddAttrs {
            fused_activation_function: Activation::None,
            pot_scale_int16: true,
        });
        let y: Vec<i16> = run2(
            op,
            (
                q(DType::Int16, &[3], 1.0 / 4096.0, 0),
                &[4096i16, -3, 30000],
            ),
            (q(DType::Int16, &[3], 1.0 / 1024.0, 0), &[1024i16, 1, 2000]),
            q(DType::Int16, &[3], 1.0 / 1024.0, 0),
        );
        // 1 + 1 = 2 -> 2048; -3/4 -> -1 (rounded away) + 1 = 0; 7500 + 2000 = 9500.
        assert_eq!(y, vec![2048, 0, 9500]);
    }

    #[test]
    fn int16_mul_to_int8() {
        let y: Vec<i8> = run2(
            Op::Mul(MulAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int16, &[2], 1.0 / 32768.0, 0), &[16384i16, -32768]),
            (q(DType::Int16, &[2], 1.0 / 32768.0, 0), &[16384i16, 16384]),
            q(DType::Int8, &[2], 1.0 / 128.0, 3),
        );
        // 0.25 -> 8192 >> 8 = 32 (+3); -0.5 -> -16384 >> 8 = -64 (+3).
        assert_eq!(y, vec![35, -61]);
    }

    #[test]
    fn rejects_bad_shapes_and_types() {
        let inputs = [
            Some(TestInput::from_slice(f32_info(&[2, 3]), &[0f32; 6])),
            Some(TestInput::from_slice(f32_info(&[3, 2]), &[0f32; 6])),
        ];
        assert!(
            run_node(
                &ScalarBackend,
                &add(Activation::None),
                &inputs,
                &[f32_info(&[2, 3])]
            )
            .is_err()
        );
        let inputs = [
            Some(TestInput::from_slice(f32_info(&[2]), &[0f32; 2])),
            Some(TestInput::from_slice(
                TensorInfo::new("t", DType::Int32, vec![2]),
                &[0i32; 2],
            )),
        ];
        assert!(
            run_node(
                &ScalarBackend,
                &add(Activation::None),
                &inputs,
                &[f32_info(&[2])]
            )
            .is_err()
        );
    }
}

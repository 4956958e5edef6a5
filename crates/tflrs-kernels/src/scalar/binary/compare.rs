//! Comparisons (EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL), LOGICAL_AND,
//! LOGICAL_OR and SELECT_V2, all with broadcasting.
//!
//! Quantized comparisons follow LiteRT's `comparisons.cc`: both inputs are brought to a common
//! real scale (offset, shifted left by 8 bits, multiplied by their own scale as a quantized
//! multiplier) and the results compared, so inputs with different scales compare by value.

use super::broadcast::Broadcast;
use super::elementwise::{QElem, quant_of, zip, zip3};
use super::kname;
use crate::kernel::NodeCtx;
use crate::scalar::qmath::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::{Kernel, KernelError, TensorInfo, ensure};
use alloc::boxed::Box;
use alloc::format;
use half::{bf16, f16};
use tflrs_ir::{DType, Op};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

impl Cmp {
    #[inline]
    fn eval<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Equal => a == b,
            Cmp::NotEqual => a != b,
            Cmp::Less => a < b,
            Cmp::LessEqual => a <= b,
            Cmp::Greater => a > b,
            Cmp::GreaterEqual => a >= b,
        }
    }

    fn name(self, dt: DType) -> &'static str {
        match self {
            Cmp::Equal => kname!("equal", dt),
            Cmp::NotEqual => kname!("not_equal", dt),
            Cmp::Less => kname!("less", dt),
            Cmp::LessEqual => kname!("less_equal", dt),
            Cmp::Greater => kname!("greater", dt),
            Cmp::GreaterEqual => kname!("greater_equal", dt),
        }
    }
}

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let cmp = match node.op {
        Op::Equal => Cmp::Equal,
        Op::NotEqual => Cmp::NotEqual,
        Op::Less => Cmp::Less,
        Op::LessEqual => Cmp::LessEqual,
        Op::Greater => Cmp::Greater,
        Op::GreaterEqual => Cmp::GreaterEqual,
        Op::LogicalAnd | Op::LogicalOr => return logical(node).map(Some),
        Op::SelectV2 => return select_v2(node).map(Some),
        _ => return Ok(None),
    };
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let a = node.input(0)?;
    let b = node.input(1)?;
    let out = node.output(0)?;
    ensure!(
        a.dtype == b.dtype,
        "inputs have different types ({} and {})",
        a.dtype,
        b.dtype
    );
    ensure!(
        out.dtype == DType::Bool,
        "output type {} is not bool",
        out.dtype
    );
    let bc = Broadcast::new(&out.shape, [&a.shape, &b.shape])?;
    let name = cmp.name(a.dtype);
    let quantized = a.quant.is_some() && b.quant.is_some();
    Ok(Some(match a.dtype {
        DType::Float32 => zip(name, bc, move |x: f32, y: f32| u8::from(cmp.eval(x, y))),
        DType::Float16 => zip(name, bc, move |x: u16, y: u16| {
            u8::from(cmp.eval(f16::from_bits(x).to_f32(), f16::from_bits(y).to_f32()))
        }),
        DType::BFloat16 => zip(name, bc, move |x: u16, y: u16| {
            u8::from(cmp.eval(bf16::from_bits(x).to_f32(), bf16::from_bits(y).to_f32()))
        }),
        DType::Int32 => zip(name, bc, move |x: i32, y: i32| u8::from(cmp.eval(x, y))),
        DType::Int64 => zip(name, bc, move |x: i64, y: i64| u8::from(cmp.eval(x, y))),
        DType::Int8 if quantized => quantized_cmp::<i8>(cmp, name, a, b, bc)?,
        DType::UInt8 if quantized => quantized_cmp::<u8>(cmp, name, a, b, bc)?,
        DType::Int16 if quantized => quantized_cmp::<i16>(cmp, name, a, b, bc)?,
        DType::Int8 => zip(name, bc, move |x: i8, y: i8| u8::from(cmp.eval(x, y))),
        DType::UInt8 => zip(name, bc, move |x: u8, y: u8| u8::from(cmp.eval(x, y))),
        DType::Int16 => zip(name, bc, move |x: i16, y: i16| u8::from(cmp.eval(x, y))),
        DType::Bool if matches!(cmp, Cmp::Equal | Cmp::NotEqual) => {
            zip(name, bc, move |x: u8, y: u8| {
                u8::from(cmp.eval(x != 0, y != 0))
            })
        }
        dt => {
            return Err(KernelError::unsupported(format!(
                "{} on {dt} tensors",
                node.op.name()
            )));
        }
    }))
}

fn quantized_cmp<T: QElem>(
    cmp: Cmp,
    name: &'static str,
    a: &TensorInfo,
    b: &TensorInfo,
    bc: Broadcast<2>,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (s1, z1) = quant_of::<T>(a)?;
    let (s2, z2) = quant_of::<T>(b)?;
    // The input scales themselves are the multipliers; 8 bits of headroom keep precision.
    let (m1, sh1) = quantize_multiplier(f64::from(s1))?;
    let (m2, sh2) = quantize_multiplier(f64::from(s2))?;
    const LEFT_SHIFT: i32 = 8;
    Ok(zip(name, bc, move |x: T, y: T| {
        let u = multiply_by_quantized_multiplier((x.to_i32() - z1) * (1 << LEFT_SHIFT), m1, sh1);
        let v = multiply_by_quantized_multiplier((y.to_i32() - z2) * (1 << LEFT_SHIFT), m2, sh2);
        u8::from(cmp.eval(u, v))
    }))
}

fn logical(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let a = node.input(0)?;
    let b = node.input(1)?;
    let out = node.output(0)?;
    ensure!(
        a.dtype == DType::Bool && b.dtype == DType::Bool && out.dtype == DType::Bool,
        "{} needs bool tensors (got {}, {} -> {})",
        node.op.name(),
        a.dtype,
        b.dtype,
        out.dtype
    );
    let bc = Broadcast::new(&out.shape, [&a.shape, &b.shape])?;
    Ok(if matches!(node.op, Op::LogicalAnd) {
        zip(kname!("logical_and", DType::Bool), bc, |x: u8, y: u8| {
            u8::from(x != 0 && y != 0)
        })
    } else {
        zip(kname!("logical_or", DType::Bool), bc, |x: u8, y: u8| {
            u8::from(x != 0 || y != 0)
        })
    })
}

fn select_v2(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(3, 3)?;
    node.expect_outputs(1)?;
    let c = node.input(0)?;
    let x = node.input(1)?;
    let y = node.input(2)?;
    let out = node.output(0)?;
    ensure!(
        c.dtype == DType::Bool,
        "SELECT_V2 condition has type {}, not bool",
        c.dtype
    );
    ensure!(
        x.dtype == y.dtype && out.dtype == x.dtype,
        "SELECT_V2 values and output differ in type ({}, {} -> {})",
        x.dtype,
        y.dtype,
        out.dtype
    );
    let bc = Broadcast::new(&out.shape, [&c.shape, &x.shape, &y.shape])?;
    let name = kname!("select_v2", x.dtype);
    // Selection moves elements without looking at them: only their width matters.
    fn pick<T: bytemuck::Pod>(c: u8, a: T, b: T) -> T {
        if c != 0 { a } else { b }
    }
    Ok(match x.dtype.bits() {
        Some(8) => zip3(name, bc, pick::<u8>),
        Some(16) => zip3(name, bc, pick::<u16>),
        Some(32) => zip3(name, bc, pick::<u32>),
        Some(64) => zip3(name, bc, pick::<u64>),
        Some(128) => zip3(name, bc, pick::<u128>),
        _ => {
            return Err(KernelError::unsupported(format!(
                "SELECT_V2 on {} tensors",
                x.dtype
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op};

    fn t(dt: DType, shape: &[usize]) -> TensorInfo {
        TensorInfo::new("t", dt, shape.to_vec())
    }

    #[test]
    fn float_comparisons_broadcast() {
        let inputs = [
            Some(TestInput::from_slice(
                t(DType::Float32, &[2, 2]),
                &[1.0f32, 2.0, 3.0, f32::NAN],
            )),
            Some(TestInput::from_slice(
                t(DType::Float32, &[2]),
                &[2.0f32, 2.0],
            )),
        ];
        let out = [t(DType::Bool, &[2, 2])];
        let run = |op: Op<'_>| {
            run_node(&ScalarBackend, &op, &inputs, &out)
                .unwrap()
                .remove(0)
        };
        assert_eq!(run(Op::Less), vec![1, 0, 0, 0]);
        assert_eq!(run(Op::LessEqual), vec![1, 1, 0, 0]);
        assert_eq!(run(Op::Greater), vec![0, 0, 1, 0]);
        assert_eq!(run(Op::GreaterEqual), vec![0, 1, 1, 0]);
        assert_eq!(run(Op::Equal), vec![0, 1, 0, 0]);
        assert_eq!(run(Op::NotEqual), vec![1, 0, 1, 1]);
    }

    #[test]
    fn quantized_comparison_uses_real_values() {
        // 10 * 0.1 = 1.0 vs (4 - 2) * 0.5 = 1.0: equal in real terms, not in raw ones.
        let inputs = [
            Some(TestInput::from_slice(
                t(DType::Int8, &[3]).with_quant(0.1, 0),
                &[10i8, 11, 9],
            )),
            Some(TestInput::from_slice(
                t(DType::Int8, &[1]).with_quant(0.5, 2),
                &[4i8],
            )),
        ];
        let out = [t(DType::Bool, &[3])];
        let eq = run_node(&ScalarBackend, &Op::Equal, &inputs, &out)
            .unwrap()
            .remove(0);
        assert_eq!(eq, vec![1, 0, 0]);
        let gt = run_node(&ScalarBackend, &Op::Greater, &inputs, &out)
            .unwrap()
            .remove(0);
        assert_eq!(gt, vec![0, 1, 0]);
    }

    #[test]
    fn logical_and_select() {
        let inputs = [
            Some(TestInput::from_slice(t(DType::Bool, &[2, 1]), &[1u8, 0])),
            Some(TestInput::from_slice(t(DType::Bool, &[2]), &[1u8, 0])),
        ];
        let out = [t(DType::Bool, &[2, 2])];
        let and = run_node(&ScalarBackend, &Op::LogicalAnd, &inputs, &out)
            .unwrap()
            .remove(0);
        assert_eq!(and, vec![1, 0, 0, 0]);
        let or = run_node(&ScalarBackend, &Op::LogicalOr, &inputs, &out)
            .unwrap()
            .remove(0);
        assert_eq!(or, vec![1, 1, 1, 0]);

        let inputs = [
            Some(TestInput::from_slice(t(DType::Bool, &[2, 1]), &[1u8, 0])),
            Some(TestInput::from_slice(
                t(DType::Float32, &[3]),
                &[1.0f32, 2.0, 3.0],
            )),
            Some(TestInput::from_slice(t(DType::Float32, &[]), &[-1.0f32])),
        ];
        let y = run_node(
            &ScalarBackend,
            &Op::SelectV2,
            &inputs,
            &[t(DType::Float32, &[2, 3])],
        )
        .unwrap();
        let y: Vec<f32> = bytemuck::cast_slice(&y[0]).to_vec();
        assert_eq!(y, vec![1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    }
}

//! Comparisons (EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL), LOGICAL_AND and
//! LOGICAL_OR, executors of the plans of [`prep::binary`](crate::prep::binary); SELECT_V2,
//! whose only preparation is its broadcast. All with broadcasting.

use super::elementwise::{QElem, zip, zip3};
use super::kname;
use crate::kernel::NodeCtx;
use crate::prep::binary::{BinaryOp, BinaryParams, BinaryPlan, Broadcast, CompareParams};
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use half::{bf16, f16};
use tflrs_ir::DType;

fn name(op: BinaryOp, dt: DType) -> &'static str {
    match op {
        BinaryOp::Equal => kname!("equal", dt),
        BinaryOp::NotEqual => kname!("not_equal", dt),
        BinaryOp::Less => kname!("less", dt),
        BinaryOp::LessEqual => kname!("less_equal", dt),
        BinaryOp::Greater => kname!("greater", dt),
        BinaryOp::GreaterEqual => kname!("greater_equal", dt),
        BinaryOp::LogicalAnd => kname!("logical_and", DType::Bool),
        _ => kname!("logical_or", DType::Bool),
    }
}

/// The kernel of a comparison or logical plan.
pub(super) fn kernel(plan: BinaryPlan) -> Result<Box<dyn Kernel>, KernelError> {
    let BinaryPlan {
        op,
        dtype,
        broadcast: bc,
        params,
        ..
    } = plan;
    let name = name(op, dtype);
    match op {
        BinaryOp::LogicalAnd => {
            return Ok(zip(name, bc, |x: u8, y: u8| u8::from(x != 0 && y != 0)));
        }
        BinaryOp::LogicalOr => {
            return Ok(zip(name, bc, |x: u8, y: u8| u8::from(x != 0 || y != 0)));
        }
        _ => {}
    }
    if let BinaryParams::Compare(p) = params {
        return Ok(match dtype {
            DType::Int8 => quantized_cmp::<i8>(op, name, p, bc),
            DType::UInt8 => quantized_cmp::<u8>(op, name, p, bc),
            _ => quantized_cmp::<i16>(op, name, p, bc),
        });
    }
    Ok(match dtype {
        DType::Float32 => zip(name, bc, move |x: f32, y: f32| u8::from(op.compare(x, y))),
        DType::Float16 => zip(name, bc, move |x: u16, y: u16| {
            u8::from(op.compare(f16::from_bits(x).to_f32(), f16::from_bits(y).to_f32()))
        }),
        DType::BFloat16 => zip(name, bc, move |x: u16, y: u16| {
            u8::from(op.compare(bf16::from_bits(x).to_f32(), bf16::from_bits(y).to_f32()))
        }),
        DType::Int32 => zip(name, bc, move |x: i32, y: i32| u8::from(op.compare(x, y))),
        DType::Int64 => zip(name, bc, move |x: i64, y: i64| u8::from(op.compare(x, y))),
        DType::Int8 => zip(name, bc, move |x: i8, y: i8| u8::from(op.compare(x, y))),
        DType::UInt8 => zip(name, bc, move |x: u8, y: u8| u8::from(op.compare(x, y))),
        DType::Int16 => zip(name, bc, move |x: i16, y: i16| u8::from(op.compare(x, y))),
        DType::Bool => zip(name, bc, move |x: u8, y: u8| {
            u8::from(op.compare(x != 0, y != 0))
        }),
        dt => return Err(KernelError::unsupported(format!("{op:?} on {dt} tensors"))),
    })
}

fn quantized_cmp<T: QElem>(
    op: BinaryOp,
    name: &'static str,
    p: CompareParams,
    bc: Broadcast<2>,
) -> Box<dyn Kernel> {
    zip(name, bc, move |x: T, y: T| {
        let (u, v) = p.scaled(x.to_i32(), y.to_i32());
        u8::from(op.compare(u, v))
    })
}

/// SELECT_V2, or `Ok(None)` for another operator.
pub(super) fn select_v2(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, tflrs_ir::Op::SelectV2) {
        return Ok(None);
    }
    select_v2_kernel(node).map(Some)
}

fn select_v2_kernel(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
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

//! SELECT (version 1, LiteRT's `select.cc`): no general broadcasting. The condition has the
//! values' shape, or is a scalar, or has rank 1 and the values' first dimension (then it picks
//! whole rows); `x`, `y` and the output share one shape. Types: bool, float32, uint8, int8,
//! int16, int32, int64.

use super::broadcast::Broadcast;
use super::elementwise::zip3;
use super::kname;
use crate::kernel::NodeCtx;
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::Select) {
        return Ok(None);
    }
    node.expect_inputs(3, 3)?;
    node.expect_outputs(1)?;
    let (c, x, y, out) = (
        node.input(0)?,
        node.input(1)?,
        node.input(2)?,
        node.output(0)?,
    );
    ensure!(
        c.dtype == DType::Bool,
        "SELECT condition has type {}, not bool",
        c.dtype
    );
    ensure!(
        x.dtype == y.dtype && out.dtype == x.dtype,
        "SELECT values and output differ in type ({}, {} -> {})",
        x.dtype,
        y.dtype,
        out.dtype
    );
    ensure!(
        x.shape == y.shape && out.shape == x.shape,
        "SELECT values and output differ in shape ({:?}, {:?} -> {:?})",
        x.shape,
        y.shape,
        out.shape
    );
    // The condition as a shape that broadcasts to the values' one.
    let cond: Vec<usize> = if c.shape == x.shape || c.shape.is_empty() {
        c.shape.clone()
    } else if c.shape.len() == 1 && x.shape.first() == Some(&c.shape[0]) {
        let mut s = alloc::vec![1; x.shape.len()];
        s[0] = c.shape[0];
        s
    } else {
        return Err(KernelError::invalid(format!(
            "SELECT condition of shape {:?} is neither the values' shape {:?}, a scalar, nor \
             rank 1 of their first dimension",
            c.shape, x.shape
        )));
    };
    let bc = Broadcast::new(&out.shape, [&cond, &x.shape, &y.shape])?;
    let name = kname!("select", x.dtype);
    fn pick<T: bytemuck::Pod>(c: u8, a: T, b: T) -> T {
        if c != 0 { a } else { b }
    }
    Ok(Some(match x.dtype {
        DType::Bool | DType::UInt8 | DType::Int8 => zip3(name, bc, pick::<u8>),
        DType::Int16 => zip3(name, bc, pick::<u16>),
        DType::Float32 | DType::Int32 => zip3(name, bc, pick::<u32>),
        DType::Int64 => zip3(name, bc, pick::<u64>),
        dt => return Err(KernelError::unsupported(format!("SELECT on {dt} tensors"))),
    }))
}

#[cfg(test)]
mod tests {
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op};

    fn select(cond: (&[usize], &[u8]), shape: &[usize]) -> Result<Vec<i32>, crate::KernelError> {
        let n: usize = shape.iter().product();
        let x: Vec<i32> = (0..n as i32).collect();
        let y: Vec<i32> = (0..n as i32).map(|v| -v - 100).collect();
        let t = |s: &[usize]| TensorInfo::new("t", DType::Int32, s.to_vec());
        let out = run_node(
            &ScalarBackend,
            &Op::Select,
            &[
                Some(TestInput::from_slice(
                    TensorInfo::new("c", DType::Bool, cond.0.to_vec()),
                    cond.1,
                )),
                Some(TestInput::from_slice(t(shape), &x)),
                Some(TestInput::from_slice(t(shape), &y)),
            ],
            &[t(shape)],
        )?;
        Ok(bytemuck::cast_slice(&out[0]).to_vec())
    }

    #[test]
    fn select_rank_rules() {
        // Same shape: elementwise.
        let y = select((&[2, 2], &[1, 0, 0, 1]), &[2, 2]).unwrap();
        assert_eq!(y, [0, -101, -102, 3]);
        // Rank 1 over the first dimension: whole rows.
        let y = select((&[2], &[0, 1]), &[2, 3]).unwrap();
        assert_eq!(y, [-100, -101, -102, 3, 4, 5]);
        // A rank-1 condition that is not the first dimension, or a broadcast shape: refused.
        assert!(select((&[3], &[0, 1, 1]), &[2, 3]).is_err());
        assert!(select((&[1, 3], &[0, 1, 1]), &[2, 3]).is_err());
    }
}

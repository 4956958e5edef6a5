//! DYNAMIC_UPDATE_SLICE: the operand with `update` written at `start_indices`, each start
//! clamped into `[0, operand_dim - update_dim]` (XLA's semantics, LiteRT's kernel; at most 8
//! dimensions). Works on bytes, so every fixed-size element type is exact.

use super::util::{
    CopyPlan, check_len, int_at, kernel_name, require_elem_size, same_dtype, strides,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::DType;

/// LiteRT's kernel handles at most this many dimensions.
const MAX_RANK: usize = 8;

#[derive(Debug)]
struct DynamicUpdateSlice {
    name: &'static str,
    esize: usize,
    shape: Vec<usize>,
    update: Vec<usize>,
    /// Row-major strides of the operand and the update, in elements.
    strides: Vec<usize>,
    update_strides: Vec<usize>,
}

impl Kernel for DynamicUpdateSlice {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (operand, update, start) = (inputs.get(0)?, inputs.get(1)?, inputs.get(2)?);
        let out = outputs.get(0)?;
        let es = self.esize;
        let total: usize = self.shape.iter().product();
        let utotal: usize = self.update.iter().product();
        check_len(self.name, operand.bytes.len(), total * es)?;
        check_len(self.name, out.bytes.len(), total * es)?;
        check_len(self.name, update.bytes.len(), utotal * es)?;
        out.bytes[..total * es].copy_from_slice(&operand.bytes[..total * es]);
        if utotal == 0 {
            return Ok(());
        }
        let st = &self.strides;
        let mut base = 0i64;
        for (k, (&n, &u)) in self.shape.iter().zip(&self.update).enumerate() {
            let s = int_at(start.info.dtype, start.bytes, k).ok_or_else(|| {
                KernelError::invalid("DYNAMIC_UPDATE_SLICE: start_indices are too short".into())
            })?;
            let s = s.clamp(0, (n - u) as i64);
            base += s * st[k] as i64;
        }
        let ust = &self.update_strides;
        let mut plan = CopyPlan::new(0, base);
        for (k, &u) in self.update.iter().enumerate() {
            plan.push(u, ust[k] as isize, st[k] as isize)?;
        }
        plan.check(utotal, total)?;
        plan.run(update.bytes, out.bytes, es);
        Ok(())
    }
}

pub(super) fn dynamic_update_slice(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "DYNAMIC_UPDATE_SLICE";
    node.expect_inputs(3, 3)?;
    node.expect_outputs(1)?;
    let (operand, update, start, output) = (
        node.input(0)?,
        node.input(1)?,
        node.input(2)?,
        node.output(0)?,
    );
    same_dtype(OP, operand, update)?;
    same_dtype(OP, operand, output)?;
    let esize = require_elem_size(OP, operand)?;
    let rank = operand.rank();
    crate::ensure!(
        (1..=MAX_RANK).contains(&rank),
        "{OP}: rank {rank} is outside the 1 to {MAX_RANK} LiteRT supports"
    );
    crate::ensure!(
        matches!(start.dtype, DType::Int32 | DType::Int64)
            && start.rank() == 1
            && start.num_elements() == rank,
        "{OP}: start_indices '{}' must be an int32 or int64 vector of {rank} values",
        start.name
    );
    crate::ensure!(
        update.rank() == rank && update.shape.iter().zip(&operand.shape).all(|(u, n)| u <= n),
        "{OP}: update {:?} does not fit in operand {:?}",
        update.shape,
        operand.shape
    );
    crate::ensure!(
        output.shape == operand.shape,
        "{OP}: output {:?} differs from operand {:?}",
        output.shape,
        operand.shape
    );
    Ok(Box::new(DynamicUpdateSlice {
        name: kernel_name!("dynamic_update_slice", operand.dtype),
        esize,
        shape: operand.shape.clone(),
        update: update.shape.clone(),
        strides: strides(&operand.shape),
        update_strides: strides(&update.shape),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn clamps_start() {
        let x = [0i32; 12];
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Int32, &[3, 4]), &x)),
            Some(TestInput::from_slice(
                ti("u", DType::Int32, &[2, 2]),
                &[1i32, 2, 3, 4],
            )),
            Some(TestInput::from_slice(
                ti("s", DType::Int64, &[2]),
                &[5i64, -3],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::DynamicUpdateSlice,
            &inputs,
            &[ti("y", DType::Int32, &[3, 4])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, i32>(&got[0]),
            &[0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0]
        );
    }
}

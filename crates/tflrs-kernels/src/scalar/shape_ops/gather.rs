//! GATHER: slices of the input along `axis`, picked by int16/int32/int64 indices, with
//! `batch_dims` leading dimensions shared by input and indices (LiteRT's
//! `reference_ops::Gather`).
//!
//! Constant indices are checked at preparation. Computed indices are checked as they are read:
//! an index outside `[0, dim)` stops the run with an error (LiteRT fails the invoke the same
//! way), it is never used to address memory.

use super::util::{
    check_len, const_ints, expect_shape, int_at, kernel_name, product, require_elem_size,
    same_dtype,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, GatherAttrs};

#[derive(Debug)]
struct Gather {
    name: &'static str,
    esize: usize,
    batch: usize,
    outer: usize,
    axis_size: usize,
    inner: usize,
    coords: usize,
}

impl Kernel for Gather {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (input, idx) = (inputs.get(0)?, inputs.get(1)?);
        let out = outputs.get(0)?;
        let es = self.esize;
        let row = self.inner * es;
        check_len(
            self.name,
            input.bytes.len(),
            self.batch * self.outer * self.axis_size * row,
        )?;
        check_len(
            self.name,
            out.bytes.len(),
            self.batch * self.outer * self.coords * row,
        )?;
        for b in 0..self.batch {
            for o in 0..self.outer {
                for i in 0..self.coords {
                    let c = int_at(idx.info.dtype, idx.bytes, b * self.coords + i).ok_or_else(
                        || KernelError::invalid("GATHER: indices are too short".into()),
                    )?;
                    if c < 0 || c as u64 >= self.axis_size as u64 {
                        return Err(KernelError::invalid(format!(
                            "GATHER: index {c} is out of range [0, {})",
                            self.axis_size
                        )));
                    }
                    let from = ((b * self.outer + o) * self.axis_size + c as usize) * row;
                    let to = ((b * self.outer + o) * self.coords + i) * row;
                    out.bytes[to..to + row].copy_from_slice(&input.bytes[from..from + row]);
                }
            }
        }
        Ok(())
    }
}

pub(super) fn gather(
    node: &NodeCtx<'_>,
    attrs: &GatherAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "GATHER";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, idx, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(OP, input, output)?;
    let esize = require_elem_size(OP, input)?;
    crate::ensure!(
        matches!(idx.dtype, DType::Int16 | DType::Int32 | DType::Int64),
        "{OP}: indices '{}' are {}, expected int16, int32 or int64",
        idx.name,
        idx.dtype
    );
    let (rank, irank) = (input.rank() as i64, idx.rank() as i64);
    let axis = if attrs.axis < 0 {
        i64::from(attrs.axis) + rank
    } else {
        i64::from(attrs.axis)
    };
    crate::ensure!(
        (0..rank).contains(&axis),
        "{OP}: axis {} is out of range for rank {rank}",
        attrs.axis
    );
    let bd = if attrs.batch_dims < 0 {
        i64::from(attrs.batch_dims) + irank
    } else {
        i64::from(attrs.batch_dims)
    };
    crate::ensure!(
        bd >= 0 && bd <= axis && bd < rank && bd <= irank,
        "{OP}: batch_dims {} does not fit axis {axis}, input rank {rank} and indices rank {irank}",
        attrs.batch_dims
    );
    let (axis, bd) = (axis as usize, bd as usize);
    crate::ensure!(
        input.shape[..bd] == idx.shape[..bd],
        "{OP}: the first {bd} dimensions of input {:?} and indices {:?} differ",
        input.shape,
        idx.shape
    );
    let mut expected = input.shape[..axis].to_vec();
    expected.extend_from_slice(&idx.shape[bd..]);
    expected.extend_from_slice(&input.shape[axis + 1..]);
    expect_shape(OP, output, &expected)?;
    let axis_size = input.shape[axis];
    if let Some(values) = const_ints(node, 1)?
        && let Some(bad) = values
            .iter()
            .find(|&&v| v < 0 || v as u64 >= axis_size as u64)
    {
        return Err(KernelError::invalid(format!(
            "{OP}: index {bad} of indices '{}' is out of range [0, {axis_size})",
            idx.name
        )));
    }
    Ok(Box::new(Gather {
        name: kernel_name!("gather", input.dtype),
        esize,
        batch: product(&input.shape[..bd]),
        outer: product(&input.shape[bd..axis]),
        axis_size,
        inner: product(&input.shape[axis + 1..]),
        coords: product(&idx.shape[bd..]),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{KernelError, ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, GatherAttrs, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn gather_axis1() {
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let op = Op::Gather(GatherAttrs {
            axis: 1,
            batch_dims: 0,
        });
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Float32, &[2, 3]), &x)),
            Some(TestInput::from_slice(
                ti("i", DType::Int64, &[2, 2]),
                &[2i64, 0, 1, 1],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::Float32, &[2, 2, 2])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[2., 0., 1., 1., 5., 3., 4., 4.]
        );
    }

    #[test]
    fn gather_batch_dims() {
        // input [2, 3], indices [2, 1], batch_dims 1, axis 1 -> [2, 1]
        let x = [10i8, 11, 12, 20, 21, 22];
        let op = Op::Gather(GatherAttrs {
            axis: 1,
            batch_dims: 1,
        });
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Int8, &[2, 3]), &x)),
            Some(TestInput::from_slice(
                ti("i", DType::Int32, &[2, 1]),
                &[2i32, 0],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::Int8, &[2, 1])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[12, 20]);
    }

    #[test]
    fn gather_out_of_range() {
        let x = [1u8, 2, 3];
        let op = Op::Gather(GatherAttrs {
            axis: 0,
            batch_dims: 0,
        });
        let out = [ti("y", DType::UInt8, &[1])];
        // Constant: refused at preparation.
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::UInt8, &[3]), &x)),
            Some(TestInput::const_from_slice(
                ti("i", DType::Int32, &[1]),
                &[3i32],
            )),
        ];
        let err = crate::testing::make_kernel(&ScalarBackend, &op, &inputs, &out).err();
        assert!(matches!(err, Some(KernelError::Invalid(_))));
        // Computed: an error at run time.
        for bad in [3i32, -1] {
            let inputs = [
                Some(TestInput::from_slice(ti("x", DType::UInt8, &[3]), &x)),
                Some(TestInput::from_slice(ti("i", DType::Int32, &[1]), &[bad])),
            ];
            assert!(matches!(
                run_node(&ScalarBackend, &op, &inputs, &out),
                Err(KernelError::Invalid(_))
            ));
        }
    }
}

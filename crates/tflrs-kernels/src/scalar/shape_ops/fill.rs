//! FILL (a tensor of one value) and SHAPE (a tensor's shape as a tensor).

use super::util::{
    check_len, const_ints, expect_shape, fill_bytes, int_at, is_index_type, kernel_name,
    require_elem_size, same_dtype,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, ShapeAttrs};

#[derive(Debug)]
struct Fill {
    name: &'static str,
    esize: usize,
    out_shape: Vec<usize>,
    /// Whether the dims operand (input 0) is computed and must be checked at each run.
    check_dims: bool,
}

impl Kernel for Fill {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        if self.check_dims {
            let dims = inputs.get(0)?;
            for (i, &d) in self.out_shape.iter().enumerate() {
                if int_at(dims.info.dtype, dims.bytes, i) != Some(d as i64) {
                    return Err(KernelError::invalid(format!(
                        "FILL: dims operand disagrees with the planned output shape {:?}",
                        self.out_shape
                    )));
                }
            }
        }
        let value = inputs.get(1)?;
        let out = outputs.get(0)?;
        let n = self.out_shape.iter().product::<usize>() * self.esize;
        check_len(self.name, value.bytes.len(), self.esize)?;
        check_len(self.name, out.bytes.len(), n)?;
        fill_bytes(&mut out.bytes[..n], &value.bytes[..self.esize]);
        Ok(())
    }
}

pub(super) fn fill(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "FILL";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (dims, value, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(OP, value, output)?;
    let esize = require_elem_size(OP, value)?;
    crate::ensure!(
        value.num_elements() == 1,
        "{OP}: value '{}' must be a scalar",
        value.name
    );
    crate::ensure!(
        is_index_type(dims.dtype) && dims.rank() == 1 && dims.num_elements() == output.rank(),
        "{OP}: dims '{}' must be {} int32 or int64 values",
        dims.name,
        output.rank()
    );
    let check_dims = match const_ints(node, 0)? {
        Some(d) => {
            crate::ensure!(
                d.iter().all(|&v| v >= 0),
                "{OP}: dims {d:?} has a negative dimension"
            );
            let want: Vec<usize> = d.iter().map(|&v| v as usize).collect();
            expect_shape(OP, output, &want)?;
            false
        }
        None => true,
    };
    Ok(Box::new(Fill {
        name: kernel_name!("fill", output.dtype),
        esize,
        out_shape: output.shape.clone(),
        check_dims,
    }))
}

/// Writes precomputed bytes.
#[derive(Debug)]
struct Constant {
    name: &'static str,
    bytes: Vec<u8>,
}

impl Kernel for Constant {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (_, mut outputs, _, _) = io.split();
        let out = outputs.get(0)?;
        check_len(self.name, out.bytes.len(), self.bytes.len())?;
        out.bytes[..self.bytes.len()].copy_from_slice(&self.bytes);
        Ok(())
    }
}

pub(super) fn shape(
    node: &NodeCtx<'_>,
    attrs: &ShapeAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "SHAPE";
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    crate::ensure!(
        output.dtype == attrs.out_type || attrs.out_type == DType::Float32,
        "{OP}: out_type {} but output '{}' is {}",
        attrs.out_type,
        output.name,
        output.dtype
    );
    expect_shape(OP, output, &[input.rank()])?;
    let mut bytes = Vec::new();
    let name = match output.dtype {
        DType::Int32 => {
            for &d in &input.shape {
                let d = i32::try_from(d).map_err(|_| {
                    KernelError::invalid(format!("{OP}: dimension {d} exceeds int32"))
                })?;
                bytes.extend_from_slice(&d.to_le_bytes());
            }
            "shape_i32__scalar"
        }
        DType::Int64 => {
            for &d in &input.shape {
                bytes.extend_from_slice(&(d as i64).to_le_bytes());
            }
            "shape_i64__scalar"
        }
        other => {
            return Err(KernelError::invalid(format!(
                "{OP}: output type {other}, expected int32 or int64"
            )));
        }
    };
    let _ = same_dtype;
    Ok(Box::new(Constant { name, bytes }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op, ShapeAttrs};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn fill_and_shape() {
        let inputs = [
            Some(TestInput::from_slice(
                ti("d", DType::Int64, &[2]),
                &[2i64, 3],
            )),
            Some(TestInput::from_slice(ti("v", DType::Int16, &[]), &[-7i16])),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::Fill,
            &inputs,
            &[ti("y", DType::Int16, &[2, 3])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i16>(&got[0]), &[-7; 6]);
        assert!(
            run_node(
                &ScalarBackend,
                &Op::Fill,
                &inputs,
                &[ti("y", DType::Int16, &[3, 2])]
            )
            .is_err()
        );

        let inputs = [Some(TestInput::from_slice(
            ti("x", DType::Float32, &[4, 1, 3]),
            &[0f32; 12],
        ))];
        let op = Op::Shape(ShapeAttrs {
            out_type: DType::Int64,
        });
        let got = run_node(&ScalarBackend, &op, &inputs, &[ti("y", DType::Int64, &[3])]).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i64>(&got[0]), &[4, 1, 3]);
    }
}

//! RESHAPE, SQUEEZE and EXPAND_DIMS: the bytes stay as they are, only the shape changes.
//!
//! The output shape is the planner's; these kernels check that the operands (shape attribute
//! or shape input, squeeze dimensions, axis) agree with it, at preparation when they are
//! constants and at run time otherwise.

use super::util::{
    check_len, const_ints, int_at, kernel_name, require_elem_size, same_count, same_dtype,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, ReshapeAttrs, SqueezeAttrs};

/// Copies the input's bytes to the output; optionally re-checks a run-time shape operand.
#[derive(Debug)]
struct CopyKernel {
    name: &'static str,
    bytes: usize,
    /// For RESHAPE with a computed shape input: the input count and the planned output shape,
    /// against which the shape operand is checked at each run.
    dynamic_shape: Option<(usize, Vec<usize>)>,
}

impl Kernel for CopyKernel {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(0)?;
        if let Some((in_count, out_shape)) = &self.dynamic_shape {
            let shape = inputs.get(1)?;
            check_shape_operand(
                shape.info.dtype,
                shape.bytes,
                shape.info.num_elements(),
                *in_count,
                out_shape,
            )?;
        }
        let out = outputs.get(0)?;
        check_len(self.name, input.bytes.len(), self.bytes)?;
        check_len(self.name, out.bytes.len(), self.bytes)?;
        out.bytes[..self.bytes].copy_from_slice(&input.bytes[..self.bytes]);
        Ok(())
    }
}

/// Checks a RESHAPE shape operand (at most one -1, other entries non-negative) against the
/// input's element count and the planned output shape, without allocating.
fn check_shape_operand(
    dtype: DType,
    bytes: &[u8],
    n: usize,
    in_count: usize,
    out_shape: &[usize],
) -> Result<(), KernelError> {
    let bad = |why: &str| {
        Err(KernelError::invalid(format!(
            "RESHAPE: shape operand {why}"
        )))
    };
    if n != out_shape.len() {
        return bad("has a different rank than the planned output");
    }
    let mut stretch = None;
    let mut known: usize = 1;
    for (i, &want) in out_shape.iter().enumerate() {
        let v = int_at(dtype, bytes, i)
            .ok_or_else(|| KernelError::invalid("RESHAPE: shape operand is not int32".into()))?;
        if v == -1 {
            if stretch.is_some() {
                return bad("has more than one -1");
            }
            stretch = Some(i);
        } else if v < 0 {
            return bad("has a negative dimension");
        } else {
            if v as u64 != want as u64 {
                return bad("disagrees with the planned output shape");
            }
            known = known.saturating_mul(v as usize);
        }
    }
    let total = match stretch {
        Some(i) => known.saturating_mul(out_shape[i]),
        None => known,
    };
    if total != in_count {
        return bad("does not keep the element count");
    }
    Ok(())
}

fn copy_kernel(
    name: &'static str,
    op: &str,
    node: &NodeCtx<'_>,
    dynamic_shape: Option<(usize, Vec<usize>)>,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_outputs(1)?;
    let input = node.input(0)?;
    let output = node.output(0)?;
    same_dtype(op, input, output)?;
    let esize = require_elem_size(op, input)?;
    same_count(op, output, input.num_elements())?;
    Ok(Box::new(CopyKernel {
        name,
        bytes: input.num_elements() * esize,
        dynamic_shape,
    }))
}

/// Validates a target shape (with at most one -1) against the input count; returns the
/// resolved shape.
fn resolve_shape(values: &[i64], in_count: usize) -> Result<Vec<usize>, KernelError> {
    let mut stretch = None;
    let mut known: u128 = 1;
    for (i, &v) in values.iter().enumerate() {
        if v == -1 {
            crate::ensure!(
                stretch.is_none(),
                "RESHAPE: shape {values:?} has more than one -1"
            );
            stretch = Some(i);
        } else {
            crate::ensure!(v >= 0, "RESHAPE: shape {values:?} has a negative dimension");
            known = known.saturating_mul(v as u128);
        }
    }
    let mut out: Vec<usize> = values.iter().map(|&v| v.max(0) as usize).collect();
    if let Some(i) = stretch {
        crate::ensure!(
            known != 0 && (in_count as u128).is_multiple_of(known),
            "RESHAPE: cannot infer the -1 of shape {values:?} for {in_count} elements"
        );
        out[i] = (in_count as u128 / known) as usize;
    } else {
        crate::ensure!(
            known == in_count as u128,
            "RESHAPE: shape {values:?} has {known} elements, the input has {in_count}"
        );
    }
    Ok(out)
}

pub(super) fn reshape(
    node: &NodeCtx<'_>,
    attrs: Option<&ReshapeAttrs>,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(1, 2)?;
    let input = node.input(0)?;
    let output = node.output(0)?;
    let in_count = input.num_elements();
    let name = kernel_name!("reshape", input.dtype);
    // LiteRT takes the shape from the second input when it is an int32 vector, and from the
    // attribute otherwise.
    let shape_input = node
        .optional_input(1)
        .filter(|s| s.rank() == 1 && s.dtype == DType::Int32);
    let mut dynamic = None;
    if let Some(shape) = shape_input {
        match const_ints(node, 1)? {
            Some(values) => check_resolved(&values, in_count, output)?,
            None => dynamic = Some((in_count, output.shape.clone())),
        }
        let _ = shape;
    } else if let Some(new_shape) = attrs.and_then(|a| a.new_shape.as_ref()) {
        // Legacy models write [0] for a scalar.
        let values: Vec<i64> = if new_shape.as_slice() == [0] {
            Vec::new()
        } else {
            new_shape.iter().map(|&v| i64::from(v)).collect()
        };
        check_resolved(&values, in_count, output)?;
    }
    copy_kernel(name, "RESHAPE", node, dynamic)
}

fn check_resolved(values: &[i64], in_count: usize, output: &TensorInfo) -> Result<(), KernelError> {
    let resolved = resolve_shape(values, in_count)?;
    crate::ensure!(
        super::util::product(&resolved) == output.num_elements(),
        "RESHAPE: shape {values:?} resolves to {resolved:?}, but output '{}' is {:?}",
        output.name,
        output.shape
    );
    Ok(())
}

pub(super) fn squeeze(
    node: &NodeCtx<'_>,
    attrs: &SqueezeAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(1, 1)?;
    let input = node.input(0)?;
    let output = node.output(0)?;
    let rank = input.rank();
    let dims = attrs.squeeze_dims.as_deref().unwrap_or(&[]);
    let mut squeezed = alloc::vec![false; rank];
    if dims.is_empty() {
        for (s, &d) in squeezed.iter_mut().zip(&input.shape) {
            *s = d == 1;
        }
    } else {
        for &d in dims {
            let a = super::util::resolve_axis(i64::from(d), rank).ok_or_else(|| {
                KernelError::invalid(format!(
                    "SQUEEZE: dimension {d} is out of range for rank {rank}"
                ))
            })?;
            crate::ensure!(
                input.shape[a] == 1,
                "SQUEEZE: dimension {d} of input '{}' {:?} is not 1",
                input.name,
                input.shape
            );
            squeezed[a] = true;
        }
    }
    let expected: Vec<usize> = input
        .shape
        .iter()
        .zip(&squeezed)
        .filter(|(_, s)| !**s)
        .map(|(&d, _)| d)
        .collect();
    super::util::expect_shape("SQUEEZE", output, &expected)?;
    copy_kernel(kernel_name!("squeeze", input.dtype), "SQUEEZE", node, None)
}

pub(super) fn expand_dims(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    let input = node.input(0)?;
    let output = node.output(0)?;
    let axis_info = node.input(1)?;
    crate::ensure!(
        super::util::is_index_type(axis_info.dtype) && axis_info.num_elements() == 1,
        "EXPAND_DIMS: axis '{}' must be one int32 or int64",
        axis_info.name
    );
    if let Some(v) = const_ints(node, 1)? {
        let rank = input.rank() as i64;
        let axis = v[0];
        crate::ensure!(
            (-rank - 1..=rank).contains(&axis),
            "EXPAND_DIMS: axis {axis} is out of range for rank {rank}"
        );
        let a = if axis < 0 { axis + rank + 1 } else { axis } as usize;
        let mut expected = input.shape.clone();
        expected.insert(a, 1);
        super::util::expect_shape("EXPAND_DIMS", output, &expected)?;
    }
    copy_kernel(
        kernel_name!("expand_dims", input.dtype),
        "EXPAND_DIMS",
        node,
        None,
    )
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{KernelError, ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op, ReshapeAttrs, SqueezeAttrs};

    fn f32s(b: &[u8]) -> Vec<f32> {
        bytemuck::cast_slice::<u8, f32>(b).to_vec()
    }

    #[test]
    fn reshape_with_shape_input_and_stretch() {
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let inputs = [
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, [2, 3]),
                &x,
            )),
            Some(TestInput::const_from_slice(
                TensorInfo::new("s", DType::Int32, [2]),
                &[-1i32, 2],
            )),
        ];
        let out = [TensorInfo::new("y", DType::Float32, [3, 2])];
        let op = Op::Reshape(Some(ReshapeAttrs { new_shape: None }));
        let got = run_node(&ScalarBackend, &op, &inputs, &out).unwrap();
        assert_eq!(f32s(&got[0]), x);
    }

    #[test]
    fn reshape_rejects_bad_shapes() {
        let x = [0f32; 6];
        let op = Op::Reshape(Some(ReshapeAttrs { new_shape: None }));
        for shape in [[-1i32, -1], [4, 2], [-2, 3]] {
            let inputs = [
                Some(TestInput::from_slice(
                    TensorInfo::new("x", DType::Float32, [2, 3]),
                    &x,
                )),
                Some(TestInput::const_from_slice(
                    TensorInfo::new("s", DType::Int32, [2]),
                    &shape,
                )),
            ];
            let out = [TensorInfo::new("y", DType::Float32, [3, 2])];
            assert!(matches!(
                run_node(&ScalarBackend, &op, &inputs, &out),
                Err(KernelError::Invalid(_))
            ));
        }
        // Element counts must agree with the planned output.
        let inputs = [Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Float32, [2, 3]),
            &x,
        ))];
        let out = [TensorInfo::new("y", DType::Float32, [7])];
        assert!(run_node(&ScalarBackend, &op, &inputs, &out).is_err());
    }

    #[test]
    fn reshape_dynamic_shape_checked_at_run() {
        let x = [1i8, 2, 3, 4];
        let op = Op::Reshape(Some(ReshapeAttrs { new_shape: None }));
        let mk = |s: [i32; 2]| {
            [
                Some(TestInput::from_slice(
                    TensorInfo::new("x", DType::Int8, [4]),
                    &x,
                )),
                Some(TestInput::from_slice(
                    TensorInfo::new("s", DType::Int32, [2]),
                    &s,
                )),
            ]
        };
        let out = [TensorInfo::new("y", DType::Int8, [2, 2])];
        assert_eq!(
            run_node(&ScalarBackend, &op, &mk([2, -1]), &out).unwrap()[0],
            [1, 2, 3, 4]
        );
        assert!(run_node(&ScalarBackend, &op, &mk([1, 4]), &out).is_err());
    }

    #[test]
    fn squeeze_and_expand_dims() {
        let x = [1i32, 2, 3];
        let op = Op::Squeeze(SqueezeAttrs {
            squeeze_dims: Some(vec![0, -1]),
        });
        let inputs = [Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Int32, [1, 3, 1]),
            &x,
        ))];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[TensorInfo::new("y", DType::Int32, [3])],
        )
        .unwrap();
        assert_eq!(got[0], bytemuck::cast_slice::<i32, u8>(&x));
        let bad = Op::Squeeze(SqueezeAttrs {
            squeeze_dims: Some(vec![1]),
        });
        assert!(
            run_node(
                &ScalarBackend,
                &bad,
                &inputs,
                &[TensorInfo::new("y", DType::Int32, [3])]
            )
            .is_err()
        );

        let inputs = [
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Int32, [3]),
                &x,
            )),
            Some(TestInput::const_from_slice(
                TensorInfo::new("a", DType::Int32, []),
                &[-1i32],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::ExpandDims,
            &inputs,
            &[TensorInfo::new("y", DType::Int32, [3, 1])],
        )
        .unwrap();
        assert_eq!(got[0], bytemuck::cast_slice::<i32, u8>(&x));
        assert!(
            run_node(
                &ScalarBackend,
                &Op::ExpandDims,
                &inputs,
                &[TensorInfo::new("y", DType::Int32, [1, 3])]
            )
            .is_err()
        );
    }
}

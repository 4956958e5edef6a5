//! CUMSUM (LiteRT's `cumsum.cc`: float32, int32, int64) along the axis of input 1, with the
//! `exclusive` and `reverse` options; sums accumulate in the element type (integers wrap), in
//! the order LiteRT walks the axis.

use super::util::{check_len, const_ints, int_at, is_index_type, kernel_name, resolve_axis};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{CumsumAttrs, DType};

struct Cumsum {
    name: &'static str,
    dtype: DType,
    shape: Vec<usize>,
    attrs: CumsumAttrs,
    /// `(outer, along, inner)` when the axis is a constant.
    split: Option<(usize, usize, usize)>,
}

fn split(shape: &[usize], axis: i64) -> Result<(usize, usize, usize), KernelError> {
    let a = resolve_axis(axis, shape.len()).ok_or_else(|| {
        KernelError::invalid(format!(
            "CUMSUM axis {axis} is out of range for rank {}",
            shape.len()
        ))
    })?;
    Ok((
        shape[..a].iter().product(),
        shape[a],
        shape[a + 1..].iter().product(),
    ))
}

pub(super) fn cumsum(
    node: &NodeCtx<'_>,
    attrs: &CumsumAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (x, axis, y) = (node.input(0)?, node.input(1)?, node.output(0)?);
    ensure!(
        x.dtype == y.dtype && x.shape == y.shape,
        "CUMSUM output ({} {:?}) differs from its input ({} {:?})",
        y.dtype,
        y.shape,
        x.dtype,
        x.shape
    );
    ensure!(
        is_index_type(axis.dtype) && axis.num_elements() == 1,
        "CUMSUM axis '{}' must be one int32",
        axis.name
    );
    let name = match x.dtype {
        DType::Float32 | DType::Int32 | DType::Int64 => kernel_name!("cumsum", x.dtype),
        dt => return Err(KernelError::unsupported(format!("CUMSUM on {dt} tensors"))),
    };
    let split = match const_ints(node, 1)? {
        Some(v) => Some(split(&x.shape, v[0])?),
        None => None,
    };
    Ok(Box::new(Cumsum {
        name,
        dtype: x.dtype,
        shape: x.shape.clone(),
        attrs: attrs.clone(),
        split,
    }))
}

/// Cumulative sums of `x` into `y` over the middle axis of `(outer, along, inner)`.
pub(crate) fn run_cumsum<T: Copy>(
    x: &[T],
    y: &mut [T],
    (outer, along, inner): (usize, usize, usize),
    zero: T,
    exclusive: bool,
    reverse: bool,
    add: impl Fn(T, T) -> T,
) {
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = zero;
            for s in 0..along {
                let k = if reverse { along - 1 - s } else { s };
                let at = (o * along + k) * inner + i;
                if exclusive {
                    y[at] = acc;
                    acc = add(acc, x[at]);
                } else {
                    acc = add(acc, x[at]);
                    y[at] = acc;
                }
            }
        }
    }
}

impl Kernel for Cumsum {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let parts = match self.split {
            Some(s) => s,
            None => {
                let t = inputs.get(1)?;
                let a = int_at(t.info.dtype, t.bytes, 0)
                    .ok_or_else(|| KernelError::invalid("CUMSUM axis is empty".into()))?;
                split(&self.shape, a)?
            }
        };
        let n = parts.0 * parts.1 * parts.2;
        let input = inputs.get(0)?;
        let mut out = outputs.get(0)?;
        let esize = self.dtype.bits().unwrap_or(8) as usize / 8;
        check_len(self.name, input.bytes.len(), n * esize)?;
        check_len(self.name, out.bytes.len(), n * esize)?;
        let (ex, rev) = (self.attrs.exclusive, self.attrs.reverse);
        match self.dtype {
            DType::Float32 => run_cumsum(
                &input.as_slice::<f32>()?[..n],
                &mut out.as_slice_mut::<f32>()?[..n],
                parts,
                0.0,
                ex,
                rev,
                |a, b| a + b,
            ),
            DType::Int32 => run_cumsum(
                &input.as_slice::<i32>()?[..n],
                &mut out.as_slice_mut::<i32>()?[..n],
                parts,
                0,
                ex,
                rev,
                i32::wrapping_add,
            ),
            _ => run_cumsum(
                &input.as_slice::<i64>()?[..n],
                &mut out.as_slice_mut::<i64>()?[..n],
                parts,
                0,
                ex,
                rev,
                i64::wrapping_add,
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use alloc::vec::Vec;
    use tflrs_ir::{CumsumAttrs, DType, Op};

    fn cumsum(exclusive: bool, reverse: bool, axis: i32) -> Vec<i32> {
        let t = TensorInfo::new("x", DType::Int32, alloc::vec![2, 3]);
        let a = TensorInfo::new("axis", DType::Int32, alloc::vec![]);
        let y = run_node(
            &ScalarBackend,
            &Op::Cumsum(CumsumAttrs { exclusive, reverse }),
            &[
                Some(TestInput::from_slice(t.clone(), &[1i32, 2, 3, 4, 5, 6])),
                Some(TestInput::const_from_slice(a, &[axis])),
            ],
            &[t],
        )
        .unwrap();
        bytemuck::cast_slice(&y[0]).to_vec()
    }

    #[test]
    fn exclusive_and_reverse() {
        assert_eq!(cumsum(false, false, 1), [1, 3, 6, 4, 9, 15]);
        assert_eq!(cumsum(true, false, 1), [0, 1, 3, 0, 4, 9]);
        assert_eq!(cumsum(false, true, 1), [6, 5, 3, 15, 11, 6]);
        assert_eq!(cumsum(true, true, -1), [5, 3, 0, 11, 6, 0]);
        assert_eq!(cumsum(true, true, 0), [4, 5, 6, 0, 0, 0]);
    }
}

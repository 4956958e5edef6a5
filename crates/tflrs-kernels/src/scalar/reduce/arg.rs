//! ARG_MAX and ARG_MIN: the index of the largest (smallest) element along an axis; ties go to
//! the first index. For floats, NaN never wins and any number beats a NaN (LiteRT's NaN-aware
//! comparator), so an all-NaN row gives 0.

use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::shape_ops::util::{
    check_len, const_ints, int_at, is_index_type, product, resolve_axis,
};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::DType;

#[derive(Debug)]
struct Arg {
    name: &'static str,
    max: bool,
    dtype: DType,
    out_dtype: DType,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    /// The axis, when it is a constant.
    axis: Option<usize>,
}

/// Whether `cand` replaces `cur` as the running best.
trait Better: Copy {
    fn better(cand: Self, cur: Self, max: bool) -> bool;
}

macro_rules! better_ord {
    ($($t:ty),*) => {$(
        impl Better for $t {
            #[inline]
            fn better(cand: Self, cur: Self, max: bool) -> bool {
                if max { cand > cur } else { cand < cur }
            }
        }
    )*};
}
better_ord!(i8, u8, i16, i32, i64);

impl Better for f32 {
    #[inline]
    fn better(cand: Self, cur: Self, max: bool) -> bool {
        !cand.is_nan() && (cur.is_nan() || if max { cand > cur } else { cand < cur })
    }
}

fn arg<T: Better + bytemuck::Pod>(
    x: &[T],
    outer: usize,
    axis: usize,
    inner: usize,
    max: bool,
    mut put: impl FnMut(usize, usize),
) {
    for o in 0..outer {
        for i in 0..inner {
            let base = o * axis * inner + i;
            let (mut best, mut at) = (x[base], 0usize);
            for k in 1..axis {
                let v = x[base + k * inner];
                if T::better(v, best, max) {
                    best = v;
                    at = k;
                }
            }
            put(o * inner + i, at);
        }
    }
}

impl Kernel for Arg {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let rank = self.in_shape.len();
        let axis = match self.axis {
            Some(a) => a,
            None => {
                let t = inputs.get(1)?;
                let v = int_at(t.info.dtype, t.bytes, 0)
                    .ok_or_else(|| KernelError::invalid("ARG_MIN/MAX: axis is empty".into()))?;
                let a = resolve_axis(v, rank).ok_or_else(|| {
                    KernelError::invalid(format!(
                        "ARG_MIN/MAX: axis {v} is out of range for rank {rank}"
                    ))
                })?;
                check_out_shape(&self.in_shape, &self.out_shape, a)?;
                a
            }
        };
        let (outer, n, inner) = (
            product(&self.in_shape[..axis]),
            self.in_shape[axis],
            product(&self.in_shape[axis + 1..]),
        );
        let input = inputs.get(0)?;
        let out = outputs.get(0)?;
        let esize = self.dtype.bits().unwrap_or(8) as usize / 8;
        check_len(self.name, input.bytes.len(), outer * n * inner * esize)?;
        let count = outer * inner;
        let oe = if self.out_dtype == DType::Int64 { 8 } else { 4 };
        check_len(self.name, out.bytes.len(), count * oe)?;
        let bytes = &mut out.bytes[..count * oe];
        let mut put = |i: usize, at: usize| {
            if oe == 8 {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&(at as i64).to_le_bytes());
            } else {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&(at as i32).to_le_bytes());
            }
        };
        let m = self.max;
        match self.dtype {
            DType::Float32 => arg(input.as_slice::<f32>()?, outer, n, inner, m, &mut put),
            DType::Int8 => arg(input.as_slice::<i8>()?, outer, n, inner, m, &mut put),
            DType::UInt8 | DType::Bool => {
                arg(input.as_slice::<u8>()?, outer, n, inner, m, &mut put)
            }
            DType::Int16 => arg(input.as_slice::<i16>()?, outer, n, inner, m, &mut put),
            DType::Int32 => arg(input.as_slice::<i32>()?, outer, n, inner, m, &mut put),
            DType::Int64 => arg(input.as_slice::<i64>()?, outer, n, inner, m, &mut put),
            other => {
                return Err(KernelError::unsupported(format!(
                    "{}: type {other}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

fn check_out_shape(
    in_shape: &[usize],
    out_shape: &[usize],
    axis: usize,
) -> Result<(), KernelError> {
    if in_shape[axis] == 0 {
        return Err(KernelError::invalid(
            "ARG_MIN/MAX over an empty axis".into(),
        ));
    }
    let ok = out_shape.len() + 1 == in_shape.len()
        && out_shape[..axis] == in_shape[..axis]
        && out_shape[axis..] == in_shape[axis + 1..];
    if !ok {
        return Err(KernelError::invalid(format!(
            "ARG_MIN/MAX: output shape {out_shape:?} is not {in_shape:?} without axis {axis}"
        )));
    }
    Ok(())
}

pub(super) fn arg_min_max(node: &NodeCtx<'_>, max: bool) -> Result<Box<dyn Kernel>, KernelError> {
    let op = if max { "ARG_MAX" } else { "ARG_MIN" };
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, axis_t, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    crate::ensure!(
        is_index_type(axis_t.dtype) && axis_t.num_elements() == 1,
        "{op}: axis '{}' must be one int32 or int64",
        axis_t.name
    );
    crate::ensure!(
        matches!(output.dtype, DType::Int32 | DType::Int64),
        "{op}: output '{}' is {}, expected int32 or int64",
        output.name,
        output.dtype
    );
    crate::ensure!(
        input.rank() >= 1,
        "{op}: input '{}' must have at least one dimension",
        input.name
    );
    if !matches!(
        input.dtype,
        DType::Float32
            | DType::Int8
            | DType::UInt8
            | DType::Bool
            | DType::Int16
            | DType::Int32
            | DType::Int64
    ) {
        return Err(KernelError::unsupported(format!(
            "{op}: type {} of '{}'",
            input.dtype, input.name
        )));
    }
    let axis = match const_ints(node, 1)? {
        Some(v) => {
            let a = resolve_axis(v[0], input.rank()).ok_or_else(|| {
                KernelError::invalid(format!(
                    "{op}: axis {} is out of range for rank {}",
                    v[0],
                    input.rank()
                ))
            })?;
            check_out_shape(&input.shape, &output.shape, a)?;
            Some(a)
        }
        None => {
            crate::ensure!(
                output.rank() + 1 == input.rank(),
                "{op}: output '{}' {:?} must have one dimension fewer than input {:?}",
                output.name,
                output.shape,
                input.shape
            );
            None
        }
    };
    let name = match (max, output.dtype == DType::Int64) {
        (true, false) => crate::scalar::shape_ops::util::kernel_name!("arg_max", input.dtype),
        (true, true) => {
            crate::scalar::shape_ops::util::kernel_name!("arg_max", input.dtype, "_i64out")
        }
        (false, false) => crate::scalar::shape_ops::util::kernel_name!("arg_min", input.dtype),
        (false, true) => {
            crate::scalar::shape_ops::util::kernel_name!("arg_min", input.dtype, "_i64out")
        }
    };
    Ok(Box::new(Arg {
        name,
        max,
        dtype: input.dtype,
        out_dtype: output.dtype,
        in_shape: input.shape.clone(),
        out_shape: output.shape.clone(),
        axis,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{ArgMaxAttrs, ArgMinAttrs, DType, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn argmax_ties_first_and_nan() {
        let x = [1f32, 3., 3., f32::NAN, 2., f32::NAN];
        let op = Op::ArgMax(ArgMaxAttrs {
            output_type: DType::Int32,
        });
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Float32, &[2, 3]), &x)),
            Some(TestInput::from_slice(ti("a", DType::Int32, &[1]), &[-1i32])),
        ];
        let got = run_node(&ScalarBackend, &op, &inputs, &[ti("y", DType::Int32, &[2])]).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[0]), &[1, 1]);
    }

    #[test]
    fn argmin_axis0_int64_out() {
        let x = [5i8, -3, 2, -3, 9, 1];
        let op = Op::ArgMin(ArgMinAttrs {
            output_type: DType::Int64,
        });
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Int8, &[3, 2]), &x)),
            Some(TestInput::const_from_slice(
                ti("a", DType::Int64, &[]),
                &[0i64],
            )),
        ];
        let out = [ti("y", DType::Int64, &[2])];
        let k = crate::testing::make_kernel(&ScalarBackend, &op, &inputs, &out)
            .unwrap()
            .unwrap();
        assert_eq!(k.name(), "arg_min_i8__scalar_i64out");
        let got = run_node(&ScalarBackend, &op, &inputs, &out).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i64>(&got[0]), &[1, 0]);
        assert!(run_node(&ScalarBackend, &op, &inputs, &[ti("y", DType::Int64, &[3])]).is_err());
    }
}

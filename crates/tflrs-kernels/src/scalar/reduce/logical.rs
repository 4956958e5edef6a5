//! REDUCE_PROD (float32, int32, int64), REDUCE_ANY and REDUCE_ALL (bool), LiteRT's
//! `reduce.cc`: each output starts from the identity (1, false, true) and folds its inputs in
//! row-major order. Integer products wrap. Quantized REDUCE_PROD (int8/int16, which LiteRT
//! computes with a per-step requantization) is not implemented and fails at preparation.

use super::reducer::{Axes, resolve, walk};
use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::shape_ops::util::{
    MAX_DIMS, check_len, const_ints, int_at, is_index_type, kernel_name, product, same_dtype,
};
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, Op, ReducerAttrs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prod,
    Any,
    All,
}

struct Fold {
    name: &'static str,
    kind: Kind,
    dtype: DType,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    keep_dims: bool,
    axes: Option<Axes>,
}

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let (kind, attrs): (Kind, &ReducerAttrs) = match node.op {
        Op::ReduceProd(a) => (Kind::Prod, a),
        Op::ReduceAny(a) => (Kind::Any, a),
        Op::ReduceAll(a) => (Kind::All, a),
        _ => return Ok(None),
    };
    let op = node.op.name();
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, axes_t, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(&op, input, output)?;
    ensure!(
        is_index_type(axes_t.dtype),
        "{op}: axes '{}' must be int32",
        axes_t.name
    );
    ensure!(
        input.rank() <= MAX_DIMS,
        "{op}: rank {} is above {MAX_DIMS}",
        input.rank()
    );
    let dtype = input.dtype;
    let name = match (kind, dtype) {
        (Kind::Prod, DType::Float32 | DType::Int32 | DType::Int64) => {
            kernel_name!("reduce_prod", dtype)
        }
        (Kind::Any, DType::Bool) => kernel_name!("reduce_any", dtype),
        (Kind::All, DType::Bool) => kernel_name!("reduce_all", dtype),
        _ => {
            return Err(KernelError::unsupported(format!(
                "{op} on {dtype} tensors ('{}')",
                input.name
            )));
        }
    };
    let axes = match const_ints(node, 1)? {
        Some(v) => Some(resolve(
            &input.shape,
            &output.shape,
            attrs.keep_dims,
            v.len(),
            |i| v.get(i).copied(),
        )?),
        None => None,
    };
    Ok(Some(Box::new(Fold {
        name,
        kind,
        dtype,
        in_shape: input.shape.clone(),
        out_shape: output.shape.clone(),
        keep_dims: attrs.keep_dims,
        axes,
    })))
}

fn fold<T: bytemuck::Pod>(
    x: &[T],
    y: &mut [T],
    in_shape: &[usize],
    axes: &Axes,
    init: T,
    f: impl Fn(T, T) -> T,
) {
    y.fill(init);
    walk(in_shape, &axes.ostride, |i, o| y[o] = f(y[o], x[i]));
}

impl Kernel for Fold {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let axes = match self.axes {
            Some(a) => a,
            None => {
                let t = inputs.get(1)?;
                resolve(
                    &self.in_shape,
                    &self.out_shape,
                    self.keep_dims,
                    t.info.num_elements(),
                    |i| int_at(t.info.dtype, t.bytes, i),
                )?
            }
        };
        let input = inputs.get(0)?;
        let mut out = outputs.get(0)?;
        let (n_in, n_out) = (product(&self.in_shape), product(&self.out_shape));
        let esize = self.dtype.bits().unwrap_or(8) as usize / 8;
        check_len(self.name, input.bytes.len(), n_in * esize)?;
        check_len(self.name, out.bytes.len(), n_out * esize)?;
        macro_rules! go {
            ($t:ty, $init:expr, $f:expr) => {
                fold(
                    &input.as_slice::<$t>()?[..n_in],
                    &mut out.as_slice_mut::<$t>()?[..n_out],
                    &self.in_shape,
                    &axes,
                    $init,
                    $f,
                )
            };
        }
        match (self.kind, self.dtype) {
            (Kind::Prod, DType::Float32) => go!(f32, 1.0, |a, b| a * b),
            (Kind::Prod, DType::Int32) => go!(i32, 1, |a: i32, b| a.wrapping_mul(b)),
            (Kind::Prod, DType::Int64) => go!(i64, 1, |a: i64, b| a.wrapping_mul(b)),
            (Kind::Any, _) => go!(u8, 0, |a, b| u8::from(a != 0 || b != 0)),
            (Kind::All, _) => go!(u8, 1, |a, b| u8::from(a != 0 && b != 0)),
            _ => return Err(KernelError::unsupported(format!("{}", self.name))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op, ReducerAttrs};

    fn run<T: bytemuck::Pod>(
        op: Op<'_>,
        dt: DType,
        shape: &[usize],
        x: &[T],
        axes: &[i32],
        out: &[usize],
    ) -> Vec<T> {
        let a = TensorInfo::new("axes", DType::Int32, alloc::vec![axes.len()]);
        let y = run_node(
            &ScalarBackend,
            &op,
            &[
                Some(TestInput::from_slice(
                    TensorInfo::new("x", dt, shape.to_vec()),
                    x,
                )),
                Some(TestInput::const_from_slice(a, axes)),
            ],
            &[TensorInfo::new("y", dt, out.to_vec())],
        )
        .unwrap();
        bytemuck::cast_slice(&y[0]).to_vec()
    }

    #[test]
    fn prod_any_all() {
        let k = ReducerAttrs { keep_dims: false };
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y = run(
            Op::ReduceProd(k.clone()),
            DType::Float32,
            &[2, 3],
            &x,
            &[1],
            &[2],
        );
        assert_eq!(y, [6.0, 120.0]);
        let y = run(
            Op::ReduceProd(k.clone()),
            DType::Float32,
            &[2, 3],
            &x,
            &[0, -1],
            &[],
        );
        assert_eq!(y, [720.0]);
        let xi = [65536i32, 65536, 3, -2];
        let y = run(
            Op::ReduceProd(k.clone()),
            DType::Int32,
            &[2, 2],
            &xi,
            &[1],
            &[2],
        );
        assert_eq!(y, [0, -6]);
        let b = [1u8, 0, 1, 1, 1, 1];
        let keep = ReducerAttrs { keep_dims: true };
        let y = run(Op::ReduceAll(keep), DType::Bool, &[2, 3], &b, &[1], &[2, 1]);
        assert_eq!(y, [0, 1]);
        let y = run(
            Op::ReduceAny(k.clone()),
            DType::Bool,
            &[2, 3],
            &[0u8, 0, 0, 0, 1, 0],
            &[0],
            &[3],
        );
        assert_eq!(y, [0, 1, 0]);
    }
}

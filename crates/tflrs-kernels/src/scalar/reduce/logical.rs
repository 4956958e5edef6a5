//! REDUCE_PROD (float32, int32, int64, int8 and int16), REDUCE_ANY and REDUCE_ALL
//! (bool), LiteRT's `reduce.cc`: each output starts from the identity (1, false, true) and folds
//! its inputs in row-major order. Integer products wrap.
//!
//! Quantized REDUCE_PROD is LiteRT's `QuantizedReduceProd`: the first element of each output
//! is `x - zp`, each further one multiplies the running product (in 64 bits) by `x - zp` and
//! rescales it by `s_in / s_out^(1/n)` (`n` the elements per output, quantized once at
//! preparation); the result is rescaled once more, offset by the output's zero point and
//! clamped.

use super::reducer::{Axes, resolve, walk};
use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::{multiply_by_quantized_multiplier_i64 as mbqm64, quantize_multiplier};
use crate::scalar::shape_ops::util::{
    MAX_DIMS, check_len, const_ints, int_at, is_index_type, kernel_name, product, quant_of,
    same_dtype,
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
    quant: Option<ProdQuant>,
}

/// Constants of quantized REDUCE_PROD.
#[derive(Debug, Clone, Copy)]
struct ProdQuant {
    in_zp: i32,
    out_zp: i32,
    multiplier: i32,
    shift: i32,
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
        (Kind::Prod, DType::Int8 | DType::Int16) => kernel_name!("reduce_prod", dtype),
        (Kind::Any, DType::Bool) => kernel_name!("reduce_any", dtype),
        (Kind::All, DType::Bool) => kernel_name!("reduce_all", dtype),
        _ => {
            return Err(KernelError::unsupported(format!(
                "{op} on {dtype} tensors ('{}')",
                input.name
            )));
        }
    };
    let mut quant = None;
    // Quantized int8/int16 products rescale; without quantization they are plain wrapping
    // products, as LiteRT's EvalGeneric computes them.
    if kind == Kind::Prod && matches!(dtype, DType::Int8 | DType::Int16) && input.quant.is_some() {
        let ((si, zi), (so, zo)) = match (quant_of(input), quant_of(output)) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                return Err(KernelError::invalid(format!(
                    "{op}: quantized input '{}' needs a quantized output",
                    input.name
                )));
            }
        };
        ensure!(si > 0.0 && so > 0.0, "{op}: scales must be positive");
        let (n_in, n_out) = (product(&input.shape), product(&output.shape));
        let (mut multiplier, mut shift) = (0, 0);
        if n_in > 0 && n_out > 0 {
            // LiteRT's GetQuantProdScaling.
            let per_output = (n_in / n_out) as f64;
            let scaling = f64::from(si) / crate::math::pow(f64::from(so), 1.0 / per_output);
            (multiplier, shift) = quantize_multiplier(scaling)?;
            ensure!(
                (-31..=7).contains(&shift),
                "{op}: rescale {scaling} is outside LiteRT's range"
            );
        }
        quant = Some(ProdQuant {
            in_zp: zi,
            out_zp: zo,
            multiplier,
            shift,
        });
    }
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
        quant,
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

/// Quantized REDUCE_PROD (see the module documentation); `acc` holds one slot per output,
/// `i64::MIN` while the output has seen no element.
#[allow(clippy::too_many_arguments)]
fn quantized_prod<T: bytemuck::Pod + Into<i32>>(
    x: &[T],
    y: &mut [T],
    acc: &mut [i64],
    in_shape: &[usize],
    axes: &Axes,
    q: ProdQuant,
    (lo, hi): (i32, i32),
    narrow: impl Fn(i32) -> T,
) {
    acc.fill(i64::MIN);
    walk(in_shape, &axes.ostride, |i, o| {
        let v = x[i].into() - q.in_zp;
        acc[o] = if acc[o] == i64::MIN {
            i64::from(v)
        } else {
            i64::from(mbqm64(acc[o] * i64::from(v), q.multiplier, q.shift))
        };
    });
    for (out, &a) in y.iter_mut().zip(acc.iter()) {
        let r = mbqm64(a, q.multiplier, q.shift).saturating_add(q.out_zp);
        *out = narrow(r.clamp(lo, hi));
    }
}

/// The aligned `i64` slots of `scratch`.
fn slots(scratch: &mut [u8], n: usize) -> Result<&mut [i64], KernelError> {
    let off = scratch.as_ptr().align_offset(8);
    let bytes = scratch
        .get_mut(off..off + n * 8)
        .ok_or_else(|| KernelError::invalid("REDUCE_PROD scratch is too small".into()))?;
    bytemuck::try_cast_slice_mut(bytes)
        .map_err(|_| KernelError::invalid("REDUCE_PROD scratch is misaligned".into()))
}

impl Kernel for Fold {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        if self.quant.is_some() {
            (product(&self.out_shape) + 1) * 8
        } else {
            0
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, scratch, _) = io.split();
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
        if let Some(q) = self.quant {
            if n_in == 0 {
                return Ok(());
            }
            let acc = slots(scratch, n_out)?;
            if self.dtype == DType::Int8 {
                let (x, y) = (
                    &input.as_slice::<i8>()?[..n_in],
                    &mut out.as_slice_mut::<i8>()?[..n_out],
                );
                quantized_prod(x, y, acc, &self.in_shape, &axes, q, (-128, 127), |v| {
                    v as i8
                });
            } else {
                let (x, y) = (
                    &input.as_slice::<i16>()?[..n_in],
                    &mut out.as_slice_mut::<i16>()?[..n_out],
                );
                quantized_prod(x, y, acc, &self.in_shape, &axes, q, (-32768, 32767), |v| {
                    v as i16
                });
            }
            return Ok(());
        }
        match (self.kind, self.dtype) {
            (Kind::Prod, DType::Float32) => go!(f32, 1.0, |a, b| a * b),
            (Kind::Prod, DType::Int8) => go!(i8, 1, |a: i8, b| a.wrapping_mul(b)),
            (Kind::Prod, DType::Int16) => go!(i16, 1, |a: i16, b| a.wrapping_mul(b)),
            (Kind::Prod, DType::Int32) => go!(i32, 1, |a: i32, b| a.wrapping_mul(b)),
            (Kind::Prod, DType::Int64) => go!(i64, 1, |a: i64, b| a.wrapping_mul(b)),
            (Kind::Any, _) => go!(u8, 0, |a, b| u8::from(a != 0 || b != 0)),
            (Kind::All, _) => go!(u8, 1, |a, b| u8::from(a != 0 && b != 0)),
            _ => return Err(KernelError::unsupported(self.name.into())),
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
    fn int8_prod_plain_and_quantized() {
        let k = ReducerAttrs { keep_dims: false };
        // Without quantization: a wrapping product (100 * 2 = 200 -> -56).
        let y = run(
            Op::ReduceProd(k.clone()),
            DType::Int8,
            &[1, 2],
            &[100i8, 2],
            &[1],
            &[1],
        );
        assert_eq!(y, [-56]);
        // Quantized, scale 0.5 in and 0.25 out, two elements per output: the per-step rescale is
        // 0.5 / sqrt(0.25) = 1, so the result is (x0 * x1) * 1, rescaled once more by 1.
        let x = TensorInfo::new("x", DType::Int8, alloc::vec![2, 2]).with_quant(0.5, 0);
        let a = TensorInfo::new("axes", DType::Int32, alloc::vec![1]);
        let out = run_node(
            &ScalarBackend,
            &Op::ReduceProd(k),
            &[
                Some(TestInput::from_slice(x, &[3i8, 4, -5, 30])),
                Some(TestInput::const_from_slice(a, &[1i32])),
            ],
            &[TensorInfo::new("y", DType::Int8, alloc::vec![2]).with_quant(0.25, 0)],
        )
        .unwrap();
        // Real 1.5 * 2 = 3 -> 12; -2.5 * 15 = -37.5 -> -150, clamped to -128.
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&out[0]), [12, -128]);
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

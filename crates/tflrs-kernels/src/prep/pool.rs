//! Plans of the pool family (see [the module docs](super)): MAX_POOL_2D and AVERAGE_POOL_2D
//! over NHWC tensors.

use crate::KernelError;
use crate::kernel::NodeCtx;
use crate::scalar::qmath::{activation_range_f32, activation_range_quantized};
use crate::scalar::shape_ops::util::{expect_shape, same_dtype};
use tflrs_ir::{DType, Op, Pool2dAttrs, window};

/// Which reduction a pool applies over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// MAX_POOL_2D.
    Max,
    /// AVERAGE_POOL_2D: the mean of the window's elements inside the input (padding is never
    /// counted).
    Average,
}

/// A MAX_POOL_2D or AVERAGE_POOL_2D, validated: shapes, window, padding and clamp range.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPlan {
    /// Max or average.
    pub kind: PoolKind,
    /// The element type of input and output (float32, int8, int16 or uint8).
    pub dtype: DType,
    /// Input shape `[batches, height, width, channels]`.
    pub input: [usize; 4],
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Window height.
    pub filter_h: usize,
    /// Window width.
    pub filter_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Padding before the first row (LiteRT's `ComputePaddingHeightWidth`).
    pub pad_h: usize,
    /// Padding before the first column.
    pub pad_w: usize,
    /// Output clamp of a float32 pool (fused activation).
    pub float_range: (f32, f32),
    /// Output clamp of an integer pool, in the output's quantized values: the fused activation
    /// over the type's range (the type's range when the output is not quantized).
    pub quant_range: (i32, i32),
}

impl PoolPlan {
    /// The window of output `(oy, ox)` clipped to the input, as `[y0, y1) x [x0, x1)` (empty
    /// ranges never occur: [`pool2d`] refuses windows that lie in the padding).
    #[inline]
    pub fn window(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let [_, ih, iw, _] = self.input;
        let (y0, y1) = clip(oy * self.stride_h, self.pad_h, self.filter_h, ih);
        let (x0, x1) = clip(ox * self.stride_w, self.pad_w, self.filter_w, iw);
        (y0, y1, x0, x1)
    }

    /// Elements of the input.
    pub fn in_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Elements of the output.
    pub fn out_len(&self) -> usize {
        self.input[0] * self.out_h * self.out_w * self.input[3]
    }
}

/// The window starting at `start - pad` of `filter` taps, clipped to `0..n`.
#[inline]
fn clip(start: usize, pad: usize, filter: usize, n: usize) -> (usize, usize) {
    let lo = start.saturating_sub(pad).min(n);
    let hi = (start + filter).saturating_sub(pad).min(n);
    (lo, hi.max(lo))
}

/// The plan of a MAX_POOL_2D or AVERAGE_POOL_2D node. Errors are those the scalar kernel
/// reports: an op of another kind, wrong arity, types or shapes, non-positive strides or
/// filters, and windows that lie entirely in the padding (LiteRT fails those at invoke).
pub fn pool2d(node: &NodeCtx<'_>) -> Result<PoolPlan, KernelError> {
    let (a, kind) = match node.op {
        Op::MaxPool2d(a) => (a, PoolKind::Max),
        Op::AveragePool2d(a) => (a, PoolKind::Average),
        op => {
            return Err(KernelError::invalid(alloc::format!(
                "{} is not a 2-D pool",
                op.name()
            )));
        }
    };
    plan(node, a, kind)
}

fn plan(node: &NodeCtx<'_>, a: &Pool2dAttrs, kind: PoolKind) -> Result<PoolPlan, KernelError> {
    let op = match kind {
        PoolKind::Max => "MAX_POOL_2D",
        PoolKind::Average => "AVERAGE_POOL_2D",
    };
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    same_dtype(op, input, output)?;
    crate::ensure!(
        input.rank() == 4,
        "{op}: input '{}' must be 4-D (NHWC), got {:?}",
        input.name,
        input.shape
    );
    crate::ensure!(
        a.stride_h > 0 && a.stride_w > 0 && a.filter_height > 0 && a.filter_width > 0,
        "{op}: strides ({}, {}) and filter ({}, {}) must be positive",
        a.stride_h,
        a.stride_w,
        a.filter_height,
        a.filter_width
    );
    let [n, ih, iw, c] = [
        input.shape[0],
        input.shape[1],
        input.shape[2],
        input.shape[3],
    ];
    let (sh, sw, fh, fw) = (
        a.stride_h as usize,
        a.stride_w as usize,
        a.filter_height as usize,
        a.filter_width as usize,
    );
    // Pools saturate a VALID window larger than the input to an empty output.
    let (Some((oh, ph)), Some((ow, pw))) = (
        window::pool_axis(a.padding, ih, fh, sh),
        window::pool_axis(a.padding, iw, fw, sw),
    ) else {
        return Err(KernelError::invalid(alloc::format!(
            "{op}: window {fh}x{fw}, stride {sh}x{sw} over input {ih}x{iw} overflows"
        )));
    };
    expect_shape(op, output, &[n, oh, ow, c])?;
    let act = a.fused_activation_function;
    let (qmin, qmax) = match input.dtype {
        DType::Float32 => (0, 0),
        DType::Int8 => (-128, 127),
        DType::Int16 => (-32768, 32767),
        DType::UInt8 => (0, 255),
        other => {
            return Err(KernelError::unsupported(alloc::format!(
                "{op}: type {other} of '{}'",
                input.name
            )));
        }
    };
    let quant_range = match output.per_tensor_quant() {
        Some((scale, zp)) => activation_range_quantized(act, scale, zp, qmin, qmax),
        None => (qmin, qmax),
    };
    let plan = PoolPlan {
        kind,
        dtype: input.dtype,
        input: [n, ih, iw, c],
        out_h: oh,
        out_w: ow,
        filter_h: fh,
        filter_w: fw,
        stride_h: sh,
        stride_w: sw,
        pad_h: ph.before,
        pad_w: pw.before,
        float_range: activation_range_f32(act),
        quant_range,
    };
    // Every window must hold an input element (LiteRT fails the invoke otherwise); rows and
    // columns clip independently.
    for oy in 0..oh {
        let (y0, y1, _, _) = plan.window(oy, 0);
        crate::ensure!(
            y1 > y0,
            "{op}: the window of output row {oy} lies in the padding"
        );
    }
    for ox in 0..ow {
        let (_, _, x0, x1) = plan.window(0, ox);
        crate::ensure!(
            x1 > x0,
            "{op}: the window of output column {ox} lies in the padding"
        );
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorInfo;
    use tflrs_ir::{Activation, Padding};

    fn plan_of(op: &Op<'_>, x: &TensorInfo, y: &TensorInfo) -> Result<PoolPlan, KernelError> {
        let inputs = [Some(x)];
        let node = NodeCtx {
            subgraph: 0,
            index: 0,
            op,
            inputs: &inputs,
            constants: &[None],
            outputs: &[y],
            intermediates: &[],
        };
        pool2d(&node)
    }

    fn attrs(padding: Padding, stride: i32, filter: i32) -> Pool2dAttrs {
        Pool2dAttrs {
            padding,
            stride_w: stride,
            stride_h: stride,
            filter_width: filter,
            filter_height: filter,
            fused_activation_function: Activation::Relu6,
        }
    }

    #[test]
    fn pool_plan_has_litert_geometry_and_clamp() {
        let op = Op::AveragePool2d(attrs(Padding::Same, 2, 3));
        let x = TensorInfo::new("x", DType::Int8, [1, 5, 6, 3]).with_quant(0.1, -10);
        let y = TensorInfo::new("y", DType::Int8, [1, 3, 3, 3]).with_quant(0.1, -10);
        let p = plan_of(&op, &x, &y).unwrap();
        assert_eq!(p.kind, PoolKind::Average);
        assert_eq!((p.out_h, p.out_w), (3, 3));
        // Height 5: total padding (3-1)*2+3-5 = 2; width 6: 1, all of it after.
        assert_eq!((p.pad_h, p.pad_w), (1, 0));
        // The first row's window starts in the padding and is clipped; the last column's too.
        assert_eq!(p.window(0, 2), (0, 2, 4, 6));
        // RELU6 in the output's quantized values: zero point -10, 6 / 0.1 = 60 steps above it.
        assert_eq!(p.quant_range, (-10, 50));
        assert_eq!((p.in_len(), p.out_len()), (90, 27));
    }

    #[test]
    fn pool_plan_errors_are_typed() {
        let x = TensorInfo::new("x", DType::Float32, [1, 2, 2, 1]);
        // A VALID window larger than the input gives an empty output, which the output
        // tensor must then have.
        let op = Op::MaxPool2d(attrs(Padding::Valid, 1, 5));
        let empty = TensorInfo::new("y", DType::Float32, [1, 0, 0, 1]);
        assert_eq!(plan_of(&op, &x, &empty).unwrap().out_h, 0);
        let y = TensorInfo::new("y", DType::Float32, [1, 1, 1, 1]);
        let e = plan_of(&op, &x, &y).unwrap_err();
        assert!(
            matches!(&e, KernelError::Invalid(m) if m.contains("shape")),
            "{e:?}"
        );
        let e = plan_of(&Op::Relu, &x, &y).unwrap_err();
        assert!(matches!(e, KernelError::Invalid(_)), "{e:?}");
        let xi = TensorInfo::new("x", DType::Int32, [1, 2, 2, 1]);
        let yi = TensorInfo::new("y", DType::Int32, [1, 2, 2, 1]);
        let op = Op::MaxPool2d(attrs(Padding::Same, 1, 1));
        assert!(matches!(
            plan_of(&op, &xi, &yi),
            Err(KernelError::Unsupported(_))
        ));
    }
}

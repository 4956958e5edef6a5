//! CONCATENATION and PACK (join rows of several inputs), SPLIT, SPLIT_V and UNPACK (cut rows
//! of one input into several outputs).
//!
//! Along an axis with `outer` rows before it, each tensor contributes one contiguous run of
//! `dim[axis] * inner` elements per row, so both directions are loops of row copies.

use super::util::{
    check_len, const_ints, expect_shape, int_at, is_index_type, kernel_name, product, quant_of,
    require_elem_size, resolve_axis, same_dtype,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::{
    activation_range_f32, activation_range_quantized, clamp_f32, round_f32,
};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{
    Activation, ConcatenationAttrs, DType, PackAttrs, SplitAttrs, SplitVAttrs, UnpackAttrs,
};

/// How one input's elements reach the output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Bytes as they are.
    Copy,
    /// Requantized as LiteRT's `ConcatenationWithScaling` does: `round(q * scale + bias) +
    /// out_zero_point` in float, clamped to the type.
    Requant { scale: f32, bias: f32 },
}

/// What the output gets after all inputs are in place (a fused activation).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Post {
    None,
    ClampF32(f32, f32),
    ClampInt(i32, i32),
}

#[derive(Debug)]
struct Part {
    /// Elements this input contributes to each output row.
    row: usize,
    mode: Mode,
}

/// Joins the rows of its inputs: CONCATENATION and PACK.
#[derive(Debug)]
struct Concat {
    name: &'static str,
    dtype: DType,
    esize: usize,
    outer: usize,
    out_row: usize,
    out_zero_point: i32,
    parts: Vec<Part>,
    post: Post,
}

impl Kernel for Concat {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let mut out = outputs.get(0)?;
        let es = self.esize;
        check_len(self.name, out.bytes.len(), self.outer * self.out_row * es)?;
        let mut col = 0;
        for (i, part) in self.parts.iter().enumerate() {
            let input = inputs.get(i)?;
            check_len(self.name, input.bytes.len(), self.outer * part.row * es)?;
            for k in 0..self.outer {
                let src = &input.bytes[k * part.row * es..(k + 1) * part.row * es];
                let start = (k * self.out_row + col) * es;
                let dst = &mut out.bytes[start..start + part.row * es];
                match part.mode {
                    Mode::Copy => dst.copy_from_slice(src),
                    Mode::Requant { scale, bias } => {
                        requant(self.dtype, src, dst, scale, bias, self.out_zero_point)
                    }
                }
            }
            col += part.row;
        }
        let n = self.outer * self.out_row;
        match self.post {
            Post::None => {}
            Post::ClampF32(lo, hi) => {
                for v in out.as_slice_mut::<f32>()?[..n].iter_mut() {
                    *v = clamp_f32(*v, lo, hi);
                }
            }
            Post::ClampInt(lo, hi) => clamp_int(self.dtype, &mut out.bytes[..n * es], lo, hi),
        }
        Ok(())
    }
}

fn requant(dtype: DType, src: &[u8], dst: &mut [u8], scale: f32, bias: f32, zp: i32) {
    let q = |v: f32, lo: i32, hi: i32| (round_f32(v * scale + bias) as i32 + zp).clamp(lo, hi);
    match dtype {
        DType::Int8 => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = q(f32::from(s as i8), -128, 127) as i8 as u8;
            }
        }
        DType::UInt8 => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = q(f32::from(s), 0, 255) as u8;
            }
        }
        DType::Int16 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                let v = i16::from_le_bytes([s[0], s[1]]);
                d.copy_from_slice(&(q(f32::from(v), -32768, 32767) as i16).to_le_bytes());
            }
        }
        _ => {}
    }
}

fn clamp_int(dtype: DType, bytes: &mut [u8], lo: i32, hi: i32) {
    match dtype {
        DType::Int8 => bytes
            .iter_mut()
            .for_each(|b| *b = i32::from(*b as i8).clamp(lo, hi) as i8 as u8),
        DType::UInt8 => bytes
            .iter_mut()
            .for_each(|b| *b = i32::from(*b).clamp(lo, hi) as u8),
        DType::Int16 => {
            for c in bytes.chunks_exact_mut(2) {
                let v = i32::from(i16::from_le_bytes([c[0], c[1]])).clamp(lo, hi) as i16;
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {}
    }
}

fn int_range(dtype: DType) -> Option<(i32, i32)> {
    match dtype {
        DType::Int8 => Some((-128, 127)),
        DType::UInt8 => Some((0, 255)),
        DType::Int16 => Some((-32768, 32767)),
        _ => None,
    }
}

/// The mode of input `info` joining `output`: a copy when the quantization agrees (or there
/// is none), else a requantization.
fn join_mode(op: &str, info: &TensorInfo, output: &TensorInfo) -> Result<Mode, KernelError> {
    let (Some((si, zi)), Some((so, zo))) = (quant_of(info), quant_of(output)) else {
        return Ok(Mode::Copy);
    };
    if si == so && zi == zo {
        return Ok(Mode::Copy);
    }
    crate::ensure!(
        int_range(info.dtype).is_some() && so > 0.0,
        "{op}: input '{}' ({}) and output '{}' have different quantization",
        info.name,
        info.dtype,
        output.name
    );
    let scale = si * (1.0 / so);
    Ok(Mode::Requant {
        scale,
        bias: -(zi as f32) * scale,
    })
}

fn post_for(op: &str, act: Activation, output: &TensorInfo) -> Result<Post, KernelError> {
    if act == Activation::None {
        return Ok(Post::None);
    }
    crate::ensure!(
        matches!(
            act,
            Activation::Relu | Activation::Relu6 | Activation::ReluN1To1
        ),
        "{op}: fused activation {act} is not supported"
    );
    if output.dtype == DType::Float32 {
        let (lo, hi) = activation_range_f32(act);
        return Ok(Post::ClampF32(lo, hi));
    }
    match (int_range(output.dtype), quant_of(output)) {
        (Some((qmin, qmax)), Some((scale, zp))) => {
            let (lo, hi) = activation_range_quantized(act, scale, zp, qmin, qmax);
            Ok(Post::ClampInt(lo, hi))
        }
        _ => Err(KernelError::unsupported(format!(
            "{op}: fused activation {act} on {} output '{}'",
            output.dtype, output.name
        ))),
    }
}

pub(super) fn concatenation(
    node: &NodeCtx<'_>,
    attrs: &ConcatenationAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "CONCATENATION";
    node.expect_outputs(1)?;
    crate::ensure!(!node.inputs.is_empty(), "{OP}: no inputs");
    let output = node.output(0)?;
    let first = node.input(0)?;
    let esize = require_elem_size(OP, output)?;
    let rank = first.rank();
    let mut parts = Vec::with_capacity(node.inputs.len());
    let post = post_for(OP, attrs.fused_activation_function, output)?;
    if rank == 0 {
        // Scalars concatenate into a vector (LiteRT allows this for constants).
        for i in 0..node.inputs.len() {
            let t = node.input(i)?;
            same_dtype(OP, t, output)?;
            crate::ensure!(
                t.rank() == 0,
                "{OP}: input '{}' is not a scalar like the first",
                t.name
            );
            parts.push(Part {
                row: 1,
                mode: join_mode(OP, t, output)?,
            });
        }
        expect_shape(OP, output, &[parts.len()])?;
        return Ok(Box::new(Concat {
            name: kernel_name!("concatenation", output.dtype),
            dtype: output.dtype,
            esize,
            outer: 1,
            out_row: parts.len(),
            out_zero_point: quant_of(output).map_or(0, |q| q.1),
            parts,
            post,
        }));
    }
    let axis = resolve_axis(i64::from(attrs.axis), rank).ok_or_else(|| {
        KernelError::invalid(format!(
            "{OP}: axis {} is out of range for rank {rank}",
            attrs.axis
        ))
    })?;
    let inner = product(&first.shape[axis + 1..]);
    let mut sum = 0usize;
    for i in 0..node.inputs.len() {
        let t = node.input(i)?;
        same_dtype(OP, t, output)?;
        let same_rank = t.rank() == rank;
        crate::ensure!(
            same_rank && (0..rank).all(|d| d == axis || t.shape[d] == first.shape[d]),
            "{OP}: input '{}' {:?} does not match '{}' {:?} outside axis {axis}",
            t.name,
            t.shape,
            first.name,
            first.shape
        );
        sum += t.shape[axis];
        parts.push(Part {
            row: t.shape[axis] * inner,
            mode: join_mode(OP, t, output)?,
        });
    }
    let mut expected = first.shape.clone();
    expected[axis] = sum;
    expect_shape(OP, output, &expected)?;
    Ok(Box::new(Concat {
        name: kernel_name!("concatenation", output.dtype),
        dtype: output.dtype,
        esize,
        outer: product(&first.shape[..axis]),
        out_row: sum * inner,
        out_zero_point: quant_of(output).map_or(0, |q| q.1),
        parts,
        post,
    }))
}

pub(super) fn pack(node: &NodeCtx<'_>, attrs: &PackAttrs) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "PACK";
    node.expect_outputs(1)?;
    let n = node.inputs.len();
    crate::ensure!(
        n >= 1 && attrs.values_count as usize == n,
        "{OP}: values_count {} but {n} inputs",
        attrs.values_count
    );
    let output = node.output(0)?;
    let first = node.input(0)?;
    let esize = require_elem_size(OP, output)?;
    let axis = resolve_axis(i64::from(attrs.axis), first.rank() + 1).ok_or_else(|| {
        KernelError::invalid(format!("{OP}: axis {} is out of range", attrs.axis))
    })?;
    let mut parts = Vec::with_capacity(n);
    for i in 0..n {
        let t = node.input(i)?;
        same_dtype(OP, t, output)?;
        crate::ensure!(
            t.shape == first.shape,
            "{OP}: input '{}' {:?} differs from {:?}",
            t.name,
            t.shape,
            first.shape
        );
        let mode = join_mode(OP, t, output)?;
        crate::ensure!(
            mode == Mode::Copy,
            "{OP}: input '{}' is quantized differently from the output",
            t.name
        );
        parts.push(Part {
            row: product(&first.shape[axis..]),
            mode,
        });
    }
    let mut expected = first.shape.clone();
    expected.insert(axis, n);
    expect_shape(OP, output, &expected)?;
    Ok(Box::new(Concat {
        name: kernel_name!("pack", output.dtype),
        dtype: output.dtype,
        esize,
        outer: product(&first.shape[..axis]),
        out_row: n * product(&first.shape[axis..]),
        out_zero_point: 0,
        parts,
        post: Post::None,
    }))
}

/// Where SPLIT / SPLIT_V find their axis.
#[derive(Debug)]
enum AxisSrc {
    Known(usize),
    /// A computed scalar input.
    Input(usize),
}

/// Extra checks of a split at run time, when its operands are computed.
#[derive(Debug)]
enum SplitCheck {
    None,
    /// SPLIT: every output gets `dim / n`.
    Equal,
    /// SPLIT_V with computed size_splits (input 1).
    Sizes,
}

/// Cuts the rows of input `data` into the outputs: SPLIT, SPLIT_V and UNPACK.
#[derive(Debug)]
struct Split {
    name: &'static str,
    esize: usize,
    data: usize,
    axis: AxisSrc,
    /// UNPACK: outputs drop the axis instead of keeping it at a smaller size.
    drop_axis: bool,
    check: SplitCheck,
    in_shape: Vec<usize>,
}

impl Kernel for Split {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(self.data)?;
        let rank = self.in_shape.len();
        let axis = match self.axis {
            AxisSrc::Known(a) => a,
            AxisSrc::Input(i) => {
                let t = inputs.get(i)?;
                let v = int_at(t.info.dtype, t.bytes, 0)
                    .ok_or_else(|| KernelError::invalid("split axis is empty".into()))?;
                resolve_axis(v, rank).ok_or_else(|| {
                    KernelError::invalid(format!("split axis {v} is out of range for rank {rank}"))
                })?
            }
        };
        let es = self.esize;
        let dim = self.in_shape[axis];
        let outer = product(&self.in_shape[..axis]);
        let inner = product(&self.in_shape[axis + 1..]);
        check_len(self.name, input.bytes.len(), outer * dim * inner * es)?;
        let n_out = outputs.len();
        let sizes = match self.check {
            SplitCheck::Sizes => Some(inputs.get(1)?),
            _ => None,
        };
        let mut col = 0usize;
        let in_row = dim * inner;
        let in_shape = &self.in_shape;
        let drop_axis = self.drop_axis;
        let equal = matches!(self.check, SplitCheck::Equal);
        outputs.for_each(|j, out| {
            let shape = out.info.shape.as_slice();
            // The output must be the input with the axis cut (or dropped).
            let (len, ok) = if drop_axis {
                let ok = shape.len() + 1 == rank
                    && shape[..axis] == in_shape[..axis]
                    && shape[axis..] == in_shape[axis + 1..];
                (1, ok)
            } else {
                let ok =
                    shape.len() == rank && (0..rank).all(|d| d == axis || shape[d] == in_shape[d]);
                (shape.get(axis).copied().unwrap_or(0), ok)
            };
            let ok = ok
                && (!equal || len * n_out == dim)
                && sizes.is_none_or(|s| match int_at(s.info.dtype, s.bytes, j) {
                    Some(-1) => true,
                    Some(v) => v as u64 == len as u64,
                    None => false,
                });
            if !ok || col + len > dim {
                return Err(KernelError::invalid(format!(
                    "split output {j} {shape:?} does not fit input {in_shape:?} along axis {axis}"
                )));
            }
            let row = len * inner;
            check_len("split output", out.bytes.len(), outer * row * es)?;
            for k in 0..outer {
                let s = (k * in_row + col * inner) * es;
                out.bytes[k * row * es..(k + 1) * row * es]
                    .copy_from_slice(&input.bytes[s..s + row * es]);
            }
            col += len;
            Ok(())
        })?;
        if col != dim {
            return Err(KernelError::invalid(format!(
                "split outputs cover {col} of {dim} along axis {axis}"
            )));
        }
        Ok(())
    }
}

fn check_outputs_dtype(
    op: &str,
    node: &NodeCtx<'_>,
    input: &TensorInfo,
) -> Result<(), KernelError> {
    for o in node.outputs {
        same_dtype(op, input, o)?;
    }
    Ok(())
}

/// Checks the outputs against per-output sizes along `axis` at preparation.
fn expect_split_shapes(
    op: &str,
    node: &NodeCtx<'_>,
    input: &TensorInfo,
    axis: usize,
    sizes: &[usize],
) -> Result<(), KernelError> {
    for (o, &s) in node.outputs.iter().zip(sizes) {
        let mut want = input.shape.clone();
        want[axis] = s;
        expect_shape(op, o, &want)?;
    }
    Ok(())
}

pub(super) fn split(
    node: &NodeCtx<'_>,
    attrs: &SplitAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "SPLIT";
    node.expect_inputs(2, 2)?;
    let (axis_t, input) = (node.input(0)?, node.input(1)?);
    let n = node.outputs.len();
    crate::ensure!(
        n >= 1 && attrs.num_splits as usize == n,
        "{OP}: num_splits {} but {n} outputs",
        attrs.num_splits
    );
    crate::ensure!(
        is_index_type(axis_t.dtype) && axis_t.num_elements() == 1,
        "{OP}: axis '{}' must be one int32",
        axis_t.name
    );
    check_outputs_dtype(OP, node, input)?;
    let esize = require_elem_size(OP, input)?;
    let axis = match const_ints(node, 0)? {
        Some(v) => {
            let a = resolve_axis(v[0], input.rank()).ok_or_else(|| {
                KernelError::invalid(format!(
                    "{OP}: axis {} is out of range for rank {}",
                    v[0],
                    input.rank()
                ))
            })?;
            let dim = input.shape[a];
            crate::ensure!(
                dim % n == 0,
                "{OP}: dimension {dim} of axis {a} is not divisible into {n} splits"
            );
            expect_split_shapes(OP, node, input, a, &alloc::vec![dim / n; n])?;
            AxisSrc::Known(a)
        }
        None => AxisSrc::Input(0),
    };
    Ok(Box::new(Split {
        name: kernel_name!("split", input.dtype),
        esize,
        data: 1,
        axis,
        drop_axis: false,
        check: SplitCheck::Equal,
        in_shape: input.shape.clone(),
    }))
}

pub(super) fn split_v(
    node: &NodeCtx<'_>,
    attrs: &SplitVAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "SPLIT_V";
    node.expect_inputs(3, 3)?;
    let (input, sizes_t, axis_t) = (node.input(0)?, node.input(1)?, node.input(2)?);
    let n = node.outputs.len();
    crate::ensure!(
        n >= 1 && attrs.num_splits as usize == n,
        "{OP}: num_splits {} but {n} outputs",
        attrs.num_splits
    );
    crate::ensure!(
        is_index_type(sizes_t.dtype) && sizes_t.rank() == 1 && sizes_t.num_elements() == n,
        "{OP}: size_splits '{}' must be {n} int32 or int64 values",
        sizes_t.name
    );
    crate::ensure!(
        is_index_type(axis_t.dtype) && axis_t.num_elements() == 1,
        "{OP}: axis '{}' must be one int32",
        axis_t.name
    );
    check_outputs_dtype(OP, node, input)?;
    let esize = require_elem_size(OP, input)?;
    let const_sizes = const_ints(node, 1)?;
    let axis = match const_ints(node, 2)? {
        Some(v) => {
            let a = resolve_axis(v[0], input.rank()).ok_or_else(|| {
                KernelError::invalid(format!(
                    "{OP}: axis {} is out of range for rank {}",
                    v[0],
                    input.rank()
                ))
            })?;
            if let Some(sizes) = &const_sizes {
                let resolved = resolve_split_sizes(sizes, input.shape[a])?;
                expect_split_shapes(OP, node, input, a, &resolved)?;
            }
            AxisSrc::Known(a)
        }
        None => AxisSrc::Input(2),
    };
    Ok(Box::new(Split {
        name: kernel_name!("split_v", input.dtype),
        esize,
        data: 0,
        axis,
        drop_axis: false,
        check: if const_sizes.is_some() {
            SplitCheck::None
        } else {
            SplitCheck::Sizes
        },
        in_shape: input.shape.clone(),
    }))
}

/// Resolves SPLIT_V sizes: at most one -1, which takes what the others leave.
fn resolve_split_sizes(sizes: &[i64], dim: usize) -> Result<Vec<usize>, KernelError> {
    let mut minus_one = None;
    let mut sum: i64 = 0;
    for (i, &s) in sizes.iter().enumerate() {
        if s == -1 {
            crate::ensure!(
                minus_one.is_none(),
                "SPLIT_V: size_splits {sizes:?} has more than one -1"
            );
            minus_one = Some(i);
        } else {
            crate::ensure!(s >= 0, "SPLIT_V: size_splits {sizes:?} has a negative size");
            sum = sum.saturating_add(s);
        }
    }
    let dim = dim as i64;
    let mut out: Vec<usize> = sizes.iter().map(|&s| s.max(0) as usize).collect();
    match minus_one {
        Some(i) => {
            crate::ensure!(
                sum <= dim,
                "SPLIT_V: size_splits {sizes:?} exceed dimension {dim}"
            );
            out[i] = (dim - sum) as usize;
        }
        None => crate::ensure!(
            sum == dim,
            "SPLIT_V: size_splits {sizes:?} must sum to dimension {dim}"
        ),
    }
    Ok(out)
}

pub(super) fn unpack(
    node: &NodeCtx<'_>,
    attrs: &UnpackAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "UNPACK";
    node.expect_inputs(1, 1)?;
    let input = node.input(0)?;
    let n = node.outputs.len();
    let axis = resolve_axis(i64::from(attrs.axis), input.rank()).ok_or_else(|| {
        KernelError::invalid(format!(
            "{OP}: axis {} is out of range for rank {}",
            attrs.axis,
            input.rank()
        ))
    })?;
    crate::ensure!(
        attrs.num as usize == n && input.shape[axis] == n,
        "{OP}: num {} and {n} outputs must equal dimension {} of axis {axis}",
        attrs.num,
        input.shape[axis]
    );
    check_outputs_dtype(OP, node, input)?;
    let esize = require_elem_size(OP, input)?;
    let mut want = input.shape.clone();
    want.remove(axis);
    for o in node.outputs {
        expect_shape(OP, o, &want)?;
    }
    Ok(Box::new(Split {
        name: kernel_name!("unpack", input.dtype),
        esize,
        data: 0,
        axis: AxisSrc::Known(axis),
        drop_axis: true,
        check: SplitCheck::None,
        in_shape: input.shape.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{
        Activation, ConcatenationAttrs, DType, Op, PackAttrs, SplitAttrs, SplitVAttrs, UnpackAttrs,
    };

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn concat_axis1_with_relu() {
        let a = [1f32, -2., 3., 4.];
        let b = [5f32, -6.];
        let op = Op::Concatenation(ConcatenationAttrs {
            axis: -1,
            fused_activation_function: Activation::Relu,
        });
        let inputs = [
            Some(TestInput::from_slice(ti("a", DType::Float32, &[2, 2]), &a)),
            Some(TestInput::from_slice(ti("b", DType::Float32, &[2, 1]), &b)),
        ];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::Float32, &[2, 3])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[1., 0., 5., 3., 4., 0.]
        );
        assert!(
            run_node(
                &ScalarBackend,
                &op,
                &inputs,
                &[ti("y", DType::Float32, &[2, 4])]
            )
            .is_err()
        );
    }

    #[test]
    fn concat_int8_requantizes_differing_inputs() {
        let a = [10i8, -10];
        let b = [100i8, -128];
        let op = Op::Concatenation(ConcatenationAttrs {
            axis: 0,
            fused_activation_function: Activation::None,
        });
        let inputs = [
            Some(TestInput::from_slice(
                ti("a", DType::Int8, &[2]).with_quant(0.5, 0),
                &a,
            )),
            Some(TestInput::from_slice(
                ti("b", DType::Int8, &[2]).with_quant(0.25, 2),
                &b,
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::Int8, &[4]).with_quant(0.5, 0)],
        )
        .unwrap();
        // b: (100 - 2) * 0.5 = 49; (-128 - 2) * 0.5 = -65
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[10, -10, 49, -65]);
    }

    #[test]
    fn pack_unpack_round_trip() {
        let a = [1i32, 2, 3];
        let b = [4i32, 5, 6];
        let op = Op::Pack(PackAttrs {
            values_count: 2,
            axis: 1,
        });
        let inputs = [
            Some(TestInput::from_slice(ti("a", DType::Int32, &[3]), &a)),
            Some(TestInput::from_slice(ti("b", DType::Int32, &[3]), &b)),
        ];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::Int32, &[3, 2])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, i32>(&got[0]),
            &[1, 4, 2, 5, 3, 6]
        );
        let op = Op::Unpack(UnpackAttrs { num: 2, axis: -1 });
        let inputs = [Some(TestInput::new(
            ti("y", DType::Int32, &[3, 2]),
            got[0].clone(),
        ))];
        let outs = [ti("a", DType::Int32, &[3]), ti("b", DType::Int32, &[3])];
        let got = run_node(&ScalarBackend, &op, &inputs, &outs).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[0]), &a);
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[1]), &b);
    }

    #[test]
    fn split_and_split_v() {
        let x: Vec<u8> = (0..12).collect();
        let op = Op::Split(SplitAttrs { num_splits: 2 });
        for constant in [true, false] {
            let axis = if constant {
                TestInput::const_from_slice(ti("a", DType::Int32, &[]), &[1i32])
            } else {
                TestInput::from_slice(ti("a", DType::Int32, &[]), &[1i32])
            };
            let inputs = [
                Some(axis),
                Some(TestInput::from_slice(ti("x", DType::UInt8, &[2, 6]), &x)),
            ];
            let outs = [
                ti("p", DType::UInt8, &[2, 3]),
                ti("q", DType::UInt8, &[2, 3]),
            ];
            let got = run_node(&ScalarBackend, &op, &inputs, &outs).unwrap();
            assert_eq!(got[0], [0, 1, 2, 6, 7, 8]);
            assert_eq!(got[1], [3, 4, 5, 9, 10, 11]);
        }
        let op = Op::SplitV(SplitVAttrs { num_splits: 2 });
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::UInt8, &[2, 6]), &x)),
            Some(TestInput::const_from_slice(
                ti("s", DType::Int32, &[2]),
                &[-1i32, 4],
            )),
            Some(TestInput::const_from_slice(
                ti("a", DType::Int32, &[]),
                &[-1i32],
            )),
        ];
        let outs = [
            ti("p", DType::UInt8, &[2, 2]),
            ti("q", DType::UInt8, &[2, 4]),
        ];
        let got = run_node(&ScalarBackend, &op, &inputs, &outs).unwrap();
        assert_eq!(got[0], [0, 1, 6, 7]);
        assert_eq!(got[1], [2, 3, 4, 5, 8, 9, 10, 11]);
        let bad = [
            ti("p", DType::UInt8, &[2, 3]),
            ti("q", DType::UInt8, &[2, 3]),
        ];
        assert!(run_node(&ScalarBackend, &op, &inputs, &bad).is_err());
        // Two -1 are refused.
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::UInt8, &[2, 6]), &x)),
            Some(TestInput::const_from_slice(
                ti("s", DType::Int32, &[2]),
                &[-1i32, -1],
            )),
            Some(TestInput::const_from_slice(
                ti("a", DType::Int32, &[]),
                &[1i32],
            )),
        ];
        assert!(run_node(&ScalarBackend, &op, &inputs, &outs).is_err());
    }
}

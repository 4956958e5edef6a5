//! SLICE and STRIDED_SLICE.
//!
//! STRIDED_SLICE follows LiteRT's `strided_slice.cc` (`BuildStridedSliceParams`: ellipsis and
//! new-axis expansion into an "effective" input shape) and `reference/strided_slice.h`
//! (`StartForAxis` / `EndForAxis` clamping, the `offset` attribute) step for step. Both ops
//! become one [`CopyPlan`], built at preparation when begin/end/size are constants and in
//! `run` otherwise, and checked against the buffers and the planned output either way.

use super::util::{
    CopyPlan, MAX_DIMS, check_len, const_ints, int_at, is_index_type, kernel_name, product,
    require_elem_size, same_dtype,
};
use crate::kernel::{Inputs, KernelIo, NodeCtx};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, StridedSliceAttrs};

#[derive(Debug)]
enum Which {
    Slice,
    Strided(StridedSliceAttrs),
}

#[derive(Debug)]
struct SliceKernel {
    name: &'static str,
    esize: usize,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    which: Which,
    /// The plan, when the index operands are constants.
    fixed: Option<CopyPlan>,
}

impl Kernel for SliceKernel {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let plan = match self.fixed {
            Some(p) => p,
            None => match &self.which {
                Which::Slice => slice_plan(&self.in_shape, &self.out_shape, |i, k| {
                    operand(&inputs, i, k)
                })?,
                Which::Strided(a) => {
                    let n = inputs.get(1)?.info.num_elements();
                    strided_plan(&self.in_shape, &self.out_shape, a, n, |i, k| {
                        operand(&inputs, i, k)
                    })?
                }
            },
        };
        let input = inputs.get(0)?;
        let out = outputs.get(0)?;
        let (n_in, n_out) = (product(&self.in_shape), product(&self.out_shape));
        plan.check(n_in, n_out)?;
        check_len(self.name, input.bytes.len(), n_in * self.esize)?;
        check_len(self.name, out.bytes.len(), n_out * self.esize)?;
        plan.run(input.bytes, out.bytes, self.esize);
        Ok(())
    }
}

/// Element `k` of index input `i` at run time.
fn operand(inputs: &Inputs<'_>, i: usize, k: usize) -> Result<i64, KernelError> {
    let t = inputs.get(i)?;
    int_at(t.info.dtype, t.bytes, k)
        .ok_or_else(|| KernelError::invalid(format!("index operand {i} has no element {k}")))
}

/// The SLICE copy: `begin` (input 1) and `size` (input 2, -1 meaning "to the end").
fn slice_plan(
    in_shape: &[usize],
    out_shape: &[usize],
    get: impl Fn(usize, usize) -> Result<i64, KernelError>,
) -> Result<CopyPlan, KernelError> {
    let rank = in_shape.len();
    if out_shape.len() != rank {
        return Err(KernelError::invalid(format!(
            "SLICE: output rank {} differs from input rank {rank}",
            out_shape.len()
        )));
    }
    let mut in_stride = 1usize;
    let mut base = 0i64;
    let mut dims = [(0usize, 0usize); MAX_DIMS];
    if rank > MAX_DIMS {
        return Err(KernelError::unsupported(format!(
            "SLICE: rank {rank} is above {MAX_DIMS}"
        )));
    }
    for i in (0..rank).rev() {
        let dim = in_shape[i] as i64;
        let b = get(1, i)?;
        let s = get(2, i)?;
        // Hostile operands may be near the ends of i64: check before any arithmetic.
        if b < 0 || b > dim || s < -1 {
            return Err(KernelError::invalid(format!(
                "SLICE: begin {b} and size {s} do not fit dimension {i} of size {dim}"
            )));
        }
        let size = if s == -1 { dim - b } else { s };
        if size > dim - b {
            return Err(KernelError::invalid(format!(
                "SLICE: begin {b} and size {s} do not fit dimension {i} of size {dim}"
            )));
        }
        if size as u64 != out_shape[i] as u64 {
            return Err(KernelError::invalid(format!(
                "SLICE: size {size} of dimension {i} disagrees with output shape {out_shape:?}"
            )));
        }
        base += b * in_stride as i64;
        dims[i] = (size as usize, in_stride);
        in_stride = in_stride.saturating_mul(in_shape[i]);
    }
    let mut plan = CopyPlan::new(base, 0);
    let mut out_stride = product(out_shape);
    for &(count, stride) in &dims[..rank] {
        out_stride /= count.max(1);
        plan.push(count, stride as isize, out_stride as isize)?;
    }
    Ok(plan)
}

/// STRIDED_SLICE parameters over the effective (new-axis expanded) input shape.
#[derive(Debug, Clone, Copy)]
struct Effective {
    n: usize,
    shape: [usize; MAX_DIMS],
    start: [i64; MAX_DIMS],
    stop: [i64; MAX_DIMS],
    stride: [i64; MAX_DIMS],
    begin_mask: u64,
    end_mask: u64,
    shrink: u64,
}

/// LiteRT's `BuildStridedSliceParams`. `get(i, k)` reads element `k` of input `i` (1: begin,
/// 2: end, 3: strides); begin and end are read only when `with_indices`.
fn build_effective(
    in_shape: &[usize],
    begin_count: usize,
    a: &StridedSliceAttrs,
    get: &impl Fn(usize, usize) -> Result<i64, KernelError>,
    with_indices: bool,
) -> Result<Effective, KernelError> {
    let bit =
        |mask: i32, i: i64| -> bool { (0..32).contains(&i) && (mask as u32) & (1u32 << i) != 0 };
    let input_dims = in_shape.len() as i64;
    let bc = begin_count as i64;
    let num_add_axis = (0..bc)
        .filter(|&i| !bit(a.ellipsis_mask, i) && bit(a.new_axis_mask, i))
        .count() as i64;
    let eff = input_dims + num_add_axis;
    if eff as usize > MAX_DIMS {
        return Err(KernelError::unsupported(format!(
            "STRIDED_SLICE: {eff} effective dimensions are above {MAX_DIMS}"
        )));
    }
    let mut eff_ellipsis = 0u64;
    let mut eff_new_axis = 0u64;
    let mut ellipsis_start = eff;
    let mut expanded = 0i64;
    let mut i = 0i64;
    while i < eff {
        if bit(a.ellipsis_mask, i) {
            ellipsis_start = i;
            let end = (i + 1).max((i + 1 + num_add_axis + input_dims - bc).min(eff));
            expanded = end - ellipsis_start - 1;
            while i < end {
                eff_ellipsis |= 1 << i;
                i += 1;
            }
            continue;
        }
        if bit(a.new_axis_mask, i - expanded) {
            eff_new_axis |= 1 << i;
        }
        i += 1;
    }
    let n = eff as usize;
    let mut e = Effective {
        n,
        shape: [0; MAX_DIMS],
        start: [0; MAX_DIMS],
        stop: [0; MAX_DIMS],
        stride: [1; MAX_DIMS],
        begin_mask: 0,
        end_mask: 0,
        shrink: 0,
    };
    let dim_of = |k: i64| -> Result<usize, KernelError> {
        usize::try_from(k)
            .ok()
            .and_then(|k| in_shape.get(k).copied())
            .ok_or_else(|| {
                KernelError::invalid("STRIDED_SLICE: masks do not fit the input rank".into())
            })
    };
    let (mut added_ellipsis, mut added_axes) = (0i64, 0i64);
    for i in 0..eff {
        let u = i as usize;
        if eff_ellipsis & (1 << i) != 0 {
            added_ellipsis = (i - ellipsis_start).max(0);
            e.begin_mask |= 1 << i;
            e.end_mask |= 1 << i;
            e.stride[u] = 1;
            e.shape[u] = dim_of(i - added_axes)?;
        } else if eff_new_axis & (1 << i) != 0 {
            e.start[u] = 0;
            e.stop[u] = 1;
            e.stride[u] = 1;
            e.shape[u] = 1;
            added_axes += 1;
        } else if i >= bc + expanded {
            e.begin_mask |= 1 << i;
            e.end_mask |= 1 << i;
            e.shape[u] = dim_of(i - added_axes)?;
        } else {
            let orig = i - added_ellipsis;
            let o = usize::try_from(orig)
                .ok()
                .filter(|&o| o < begin_count)
                .ok_or_else(|| {
                    KernelError::invalid(
                        "STRIDED_SLICE: masks do not fit the index operands".into(),
                    )
                })?;
            if with_indices {
                e.start[u] = get(1, o)?;
                e.stop[u] = get(2, o)?;
            }
            e.stride[u] = get(3, o)?;
            if bit(a.begin_mask, orig) {
                e.begin_mask |= 1 << i;
            }
            if bit(a.end_mask, orig) {
                e.end_mask |= 1 << i;
            }
            if bit(a.shrink_axis_mask, orig) {
                e.shrink |= 1 << i;
            }
            e.shape[u] = dim_of(i - added_axes)?;
        }
    }
    Ok(e)
}

/// The STRIDED_SLICE copy, after checking that it writes exactly the planned output (and, at
/// preparation, that the kept dimensions are the output's shape).
fn strided_plan(
    in_shape: &[usize],
    out_shape: &[usize],
    a: &StridedSliceAttrs,
    begin_count: usize,
    get: impl Fn(usize, usize) -> Result<i64, KernelError>,
) -> Result<CopyPlan, KernelError> {
    let e = build_effective(in_shape, begin_count, a, &get, true)?;
    let clamp = |v: i64, lo: i64, hi: i64| {
        if v > hi {
            hi
        } else if v < lo {
            lo
        } else {
            v
        }
    };
    let mut in_strides = [0i64; MAX_DIMS];
    let mut s = 1i64;
    for i in (0..e.n).rev() {
        in_strides[i] = s;
        s = s.saturating_mul(e.shape[i] as i64);
    }
    let mut counts = [0usize; MAX_DIMS];
    let mut base = 0i64;
    for i in 0..e.n {
        let size = e.shape[i] as i64;
        let stride = e.stride[i];
        if stride == 0 {
            return Err(KernelError::invalid("STRIDED_SLICE: stride 0".into()));
        }
        // StartForAxis.
        let mut start = e.start[i];
        if start < 0 {
            start += size;
        }
        start = if stride > 0 {
            clamp(start, 0, size)
        } else {
            clamp(start, -1, size - 1)
        };
        if e.begin_mask & (1 << i) != 0 {
            start = if stride > 0 { 0 } else { size - 1 };
        }
        // EndForAxis.
        let stop = if e.shrink & (1 << i) != 0 {
            if start >= size { start } else { start + 1 }
        } else {
            let mut end = e.stop[i];
            if a.offset {
                end += start;
            }
            if end < 0 {
                end += size;
            }
            end = if stride > 0 {
                clamp(end, 0, size)
            } else {
                clamp(end, -1, size - 1)
            };
            if e.end_mask & (1 << i) != 0 {
                end = if stride > 0 { size } else { -1 };
            }
            end
        };
        let count = if stride > 0 {
            if stop > start {
                (stop - start + stride - 1) / stride
            } else {
                0
            }
        } else if start > stop {
            (start - stop + (-stride) - 1) / (-stride)
        } else {
            0
        };
        counts[i] = count as usize;
        if count > 0 {
            base += start * in_strides[i];
        }
    }
    let total: usize = counts[..e.n].iter().product();
    if total != product(out_shape) {
        return Err(KernelError::invalid(format!(
            "STRIDED_SLICE: the slice has {total} elements, output {out_shape:?} has {}",
            product(out_shape)
        )));
    }
    if !a.offset {
        // The kept (non-shrunk) dimensions are the output shape.
        let mut k = 0;
        for (i, &c) in counts[..e.n].iter().enumerate() {
            if e.shrink & (1 << i) != 0 {
                continue;
            }
            if out_shape.get(k) != Some(&c) {
                return Err(KernelError::invalid(format!(
                    "STRIDED_SLICE: slice dimension {i} has {c} elements, output shape is {out_shape:?}"
                )));
            }
            k += 1;
        }
        if k != out_shape.len() {
            return Err(KernelError::invalid(format!(
                "STRIDED_SLICE: the slice has rank {k}, output shape is {out_shape:?}"
            )));
        }
    }
    let mut plan = CopyPlan::new(if total == 0 { 0 } else { base }, 0);
    let mut out_stride = total;
    for i in 0..e.n {
        out_stride /= counts[i].max(1);
        plan.push(
            counts[i],
            (e.stride[i] * in_strides[i]) as isize,
            out_stride as isize,
        )?;
    }
    Ok(plan)
}

pub(super) fn slice(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "SLICE";
    node.expect_inputs(3, 3)?;
    node.expect_outputs(1)?;
    let (input, begin, size, output) = (
        node.input(0)?,
        node.input(1)?,
        node.input(2)?,
        node.output(0)?,
    );
    same_dtype(OP, input, output)?;
    let esize = require_elem_size(OP, input)?;
    for t in [begin, size] {
        crate::ensure!(
            is_index_type(t.dtype) && t.rank() == 1 && t.num_elements() == input.rank(),
            "{OP}: '{}' must be {} int32 or int64 values",
            t.name,
            input.rank()
        );
    }
    let fixed = match (const_ints(node, 1)?, const_ints(node, 2)?) {
        (Some(b), Some(s)) => Some(slice_plan(&input.shape, &output.shape, |i, k| {
            Ok(if i == 1 { b[k] } else { s[k] })
        })?),
        _ => None,
    };
    Ok(Box::new(SliceKernel {
        name: kernel_name!("slice", input.dtype),
        esize,
        in_shape: input.shape.clone(),
        out_shape: output.shape.clone(),
        which: Which::Slice,
        fixed,
    }))
}

pub(super) fn strided_slice(
    node: &NodeCtx<'_>,
    attrs: &StridedSliceAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "STRIDED_SLICE";
    node.expect_inputs(4, 4)?;
    node.expect_outputs(1)?;
    let input = node.input(0)?;
    let output = node.output(0)?;
    same_dtype(OP, input, output)?;
    let esize = require_elem_size(OP, input)?;
    let idx: Vec<&TensorInfo> = (1..4).map(|i| node.input(i)).collect::<Result<_, _>>()?;
    let n = idx[0].num_elements();
    for t in &idx {
        crate::ensure!(
            t.dtype == DType::Int32 && t.rank() == 1 && t.num_elements() == n,
            "{OP}: begin, end and strides must be int32 vectors of one length ('{}' is {} {:?})",
            t.name,
            t.dtype,
            t.shape
        );
    }
    crate::ensure!(n <= 31, "{OP}: {n} indices, at most 31 are supported");
    let consts: Vec<Option<Vec<i64>>> = (1..4)
        .map(|i| const_ints(node, i))
        .collect::<Result<_, _>>()?;
    let fixed = if consts.iter().all(Option::is_some) {
        let v: Vec<&Vec<i64>> = consts.iter().flatten().collect();
        Some(strided_plan(
            &input.shape,
            &output.shape,
            attrs,
            n,
            |i, k| Ok(v[i - 1][k]),
        )?)
    } else {
        None
    };
    Ok(Box::new(SliceKernel {
        name: kernel_name!("strided_slice", input.dtype),
        esize,
        in_shape: input.shape.clone(),
        out_shape: output.shape.clone(),
        which: Which::Strided(attrs.clone()),
        fixed,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op, StridedSliceAttrs};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    fn ss(
        attrs: StridedSliceAttrs,
        x_shape: &[usize],
        b: &[i32],
        e: &[i32],
        s: &[i32],
        out: &[usize],
        constant: bool,
    ) -> Result<Vec<i32>, crate::KernelError> {
        let n: usize = x_shape.iter().product();
        let x: Vec<i32> = (0..n as i32).collect();
        let mk = |name: &str, v: &[i32]| {
            let info = ti(name, DType::Int32, &[v.len()]);
            if constant {
                TestInput::const_from_slice(info, v)
            } else {
                TestInput::from_slice(info, v)
            }
        };
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Int32, x_shape), &x)),
            Some(mk("b", b)),
            Some(mk("e", e)),
            Some(mk("s", s)),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::StridedSlice(attrs),
            &inputs,
            &[ti("y", DType::Int32, out)],
        )?;
        Ok(bytemuck::cast_slice::<u8, i32>(&got[0]).to_vec())
    }

    fn attrs() -> StridedSliceAttrs {
        StridedSliceAttrs {
            begin_mask: 0,
            end_mask: 0,
            ellipsis_mask: 0,
            new_axis_mask: 0,
            shrink_axis_mask: 0,
            offset: false,
        }
    }

    #[test]
    fn slice_with_minus_one() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        for constant in [true, false] {
            let mk = |name: &str, v: &[i64]| {
                let info = ti(name, DType::Int64, &[2]);
                if constant {
                    TestInput::const_from_slice(info, v)
                } else {
                    TestInput::from_slice(info, v)
                }
            };
            let inputs = [
                Some(TestInput::from_slice(ti("x", DType::Float32, &[3, 4]), &x)),
                Some(mk("b", &[1, 1])),
                Some(mk("s", &[-1, 2])),
            ];
            let got = run_node(
                &ScalarBackend,
                &Op::Slice,
                &inputs,
                &[ti("y", DType::Float32, &[2, 2])],
            )
            .unwrap();
            assert_eq!(bytemuck::cast_slice::<u8, f32>(&got[0]), &[5., 6., 9., 10.]);
            // Hostile begin: refused, never out of bounds.
            let inputs = [
                Some(TestInput::from_slice(ti("x", DType::Float32, &[3, 4]), &x)),
                Some(mk("b", &[2, 3])),
                Some(mk("s", &[2, 2])),
            ];
            assert!(
                run_node(
                    &ScalarBackend,
                    &Op::Slice,
                    &inputs,
                    &[ti("y", DType::Float32, &[2, 2])]
                )
                .is_err()
            );
        }
    }

    #[test]
    fn strided_slice_basic_negative_and_shrink() {
        for c in [true, false] {
            // x[1:3, ::-2] of a [3, 4]
            assert_eq!(
                ss(attrs(), &[3, 4], &[1, -1], &[3, -5], &[1, -2], &[2, 2], c).unwrap(),
                [7, 5, 11, 9]
            );
            // x[:, 2] with shrink on axis 1
            let a = StridedSliceAttrs {
                begin_mask: 1,
                end_mask: 1,
                shrink_axis_mask: 2,
                ..attrs()
            };
            assert_eq!(
                ss(a, &[3, 4], &[0, 2], &[0, 3], &[1, 1], &[3], c).unwrap(),
                [2, 6, 10]
            );
            // Stride 0 is refused.
            assert!(ss(attrs(), &[3, 4], &[0, 0], &[1, 1], &[0, 1], &[1, 1], c).is_err());
            // Output that does not match the slice is refused.
            assert!(ss(attrs(), &[3, 4], &[0, 0], &[2, 2], &[1, 1], &[2, 3], c).is_err());
        }
    }

    #[test]
    fn strided_slice_ellipsis_new_axis_and_offset() {
        // x[..., 1] on [2, 3, 4] with shrink: ellipsis at 0, index at 1.
        let a = StridedSliceAttrs {
            ellipsis_mask: 1,
            shrink_axis_mask: 2,
            ..attrs()
        };
        let got = ss(a, &[2, 3, 4], &[0, 1], &[0, 2], &[1, 1], &[2, 3], true).unwrap();
        assert_eq!(got, [1, 5, 9, 13, 17, 21]);
        // x[tf.newaxis, 1:] on [3]
        let a = StridedSliceAttrs {
            new_axis_mask: 1,
            ..attrs()
        };
        assert_eq!(
            ss(a, &[3], &[0, 1], &[1, 3], &[1, 1], &[1, 2], true).unwrap(),
            [1, 2]
        );
        // offset: end is a length from begin.
        let a = StridedSliceAttrs {
            offset: true,
            ..attrs()
        };
        assert_eq!(
            ss(a, &[6], &[2], &[3], &[1], &[3], true).unwrap(),
            [2, 3, 4]
        );
    }
}

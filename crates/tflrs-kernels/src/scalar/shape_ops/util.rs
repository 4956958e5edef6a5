//! Helpers shared by the data-movement, reduction, resize and pooling families: element sizes,
//! kernel names, integer operands, and [`CopyPlan`], a strided N-d copy that is checked
//! against its buffers before it runs.

use crate::KernelError;
use crate::kernel::NodeCtx;
use crate::tensor::TensorInfo;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::DType;

/// Most dimensions a [`CopyPlan`] holds (after dropping size-1 dimensions); TILE doubles the
/// rank of its input, so this allows rank-8 tiles.
pub(crate) const MAX_DIMS: usize = 16;

/// `"{op}_{dtype}__scalar[{variant}]"` as a `&'static str`, for each fixed-size element type.
macro_rules! kernel_name {
    ($op:literal, $dt:expr) => {
        $crate::scalar::shape_ops::util::kernel_name!($op, $dt, "")
    };
    ($op:literal, $dt:expr, $variant:literal) => {
        match $dt {
            tflrs_ir::DType::Float32 => concat!($op, "_f32__scalar", $variant),
            tflrs_ir::DType::Float16 => concat!($op, "_f16__scalar", $variant),
            tflrs_ir::DType::BFloat16 => concat!($op, "_bf16__scalar", $variant),
            tflrs_ir::DType::Float64 => concat!($op, "_f64__scalar", $variant),
            tflrs_ir::DType::Int8 => concat!($op, "_i8__scalar", $variant),
            tflrs_ir::DType::UInt8 => concat!($op, "_u8__scalar", $variant),
            tflrs_ir::DType::Int16 => concat!($op, "_i16__scalar", $variant),
            tflrs_ir::DType::UInt16 => concat!($op, "_u16__scalar", $variant),
            tflrs_ir::DType::Int32 => concat!($op, "_i32__scalar", $variant),
            tflrs_ir::DType::UInt32 => concat!($op, "_u32__scalar", $variant),
            tflrs_ir::DType::Int64 => concat!($op, "_i64__scalar", $variant),
            tflrs_ir::DType::UInt64 => concat!($op, "_u64__scalar", $variant),
            tflrs_ir::DType::Bool => concat!($op, "_bool__scalar", $variant),
            tflrs_ir::DType::Complex64 => concat!($op, "_c64__scalar", $variant),
            tflrs_ir::DType::Complex128 => concat!($op, "_c128__scalar", $variant),
            tflrs_ir::DType::Float8E4M3FN => concat!($op, "_f8e4m3fn__scalar", $variant),
            tflrs_ir::DType::Float8E5M2 => concat!($op, "_f8e5m2__scalar", $variant),
            _ => concat!($op, "__scalar", $variant),
        }
    };
}
pub(crate) use kernel_name;

/// Size in bytes of one element, for types whose elements are whole bytes.
pub(crate) fn elem_size(dtype: DType) -> Option<usize> {
    match dtype.bits()? {
        b @ (8 | 16 | 32 | 64 | 128) => Some(b as usize / 8),
        _ => None,
    }
}

/// [`elem_size`], or `Unsupported` naming the operator and type.
pub(crate) fn require_elem_size(op: &str, info: &TensorInfo) -> Result<usize, KernelError> {
    elem_size(info.dtype).ok_or_else(|| {
        KernelError::unsupported(format!(
            "{op}: tensor '{}' has type {}, which the scalar backend does not move element-wise",
            info.name, info.dtype
        ))
    })
}

/// Fails unless `a` and `b` have the same element type.
pub(crate) fn same_dtype(op: &str, a: &TensorInfo, b: &TensorInfo) -> Result<(), KernelError> {
    crate::ensure!(
        a.dtype == b.dtype,
        "{op}: tensor '{}' is {} but tensor '{}' is {}",
        a.name,
        a.dtype,
        b.name,
        b.dtype
    );
    Ok(())
}

/// Fails unless `info` holds `n` elements.
pub(crate) fn same_count(op: &str, info: &TensorInfo, n: usize) -> Result<(), KernelError> {
    crate::ensure!(
        info.num_elements() == n,
        "{op}: tensor '{}' {:?} has {} elements, expected {n}",
        info.name,
        info.shape,
        info.num_elements()
    );
    Ok(())
}

/// Fails unless `info` has exactly `shape`.
pub(crate) fn expect_shape(
    op: &str,
    info: &TensorInfo,
    shape: &[usize],
) -> Result<(), KernelError> {
    crate::ensure!(
        info.shape == shape,
        "{op}: output '{}' has shape {:?}, but the operands give {:?}",
        info.name,
        info.shape,
        shape
    );
    Ok(())
}

/// Whether `dtype` is one of the index types (int32, int64) operands such as axes use.
pub(crate) fn is_index_type(dtype: DType) -> bool {
    matches!(dtype, DType::Int32 | DType::Int64)
}

/// Element `i` of an integer tensor's little-endian bytes, widened (int8, int16, int32, int64,
/// uint8, bool); `None` past the end or for other types.
#[inline]
pub(crate) fn int_at(dtype: DType, bytes: &[u8], i: usize) -> Option<i64> {
    Some(match dtype {
        DType::Int32 => {
            let b = bytes.get(i.checked_mul(4)?..i * 4 + 4)?;
            i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        DType::Int64 => {
            let b = bytes.get(i.checked_mul(8)?..i * 8 + 8)?;
            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        }
        DType::Int16 => {
            let b = bytes.get(i.checked_mul(2)?..i * 2 + 2)?;
            i64::from(i16::from_le_bytes([b[0], b[1]]))
        }
        DType::Int8 => i64::from(*bytes.get(i)? as i8),
        DType::UInt8 | DType::Bool => i64::from(*bytes.get(i)?),
        _ => return None,
    })
}

/// All elements of an integer operand (see [`int_at`]), for preparation-time use.
pub(crate) fn ints(info: &TensorInfo, bytes: &[u8]) -> Result<Vec<i64>, KernelError> {
    let n = info.num_elements();
    (0..n)
        .map(|i| {
            int_at(info.dtype, bytes, i).ok_or_else(|| {
                KernelError::invalid(format!(
                    "tensor '{}' ({} {:?}) has too few bytes or is not an integer tensor",
                    info.name, info.dtype, info.shape
                ))
            })
        })
        .collect()
}

/// The values of input `i` if it is a constant integer tensor.
pub(crate) fn const_ints(node: &NodeCtx<'_>, i: usize) -> Result<Option<Vec<i64>>, KernelError> {
    match (node.optional_input(i), node.constant(i)) {
        (Some(info), Some(bytes)) => ints(info, bytes).map(Some),
        _ => Ok(None),
    }
}

/// Resolves a possibly negative `axis` against `rank` (TFLite's `axis < 0 ? axis + rank : axis`).
pub(crate) fn resolve_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    (0..rank as i64).contains(&a).then_some(a as usize)
}

/// Row-major strides (in elements) of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = alloc::vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(shape[i + 1]);
    }
    s
}

/// Product of `dims`, saturating (sizes the planner accepted cannot overflow).
pub(crate) fn product(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

/// Per-tensor `(scale, zero_point)` if the tensor is quantized per tensor, else `None`.
pub(crate) fn quant_of(info: &TensorInfo) -> Option<(f32, i32)> {
    info.per_tensor_quant()
}

/// Checks that a run-time buffer has the bytes its description promises.
#[inline]
pub(crate) fn check_len(what: &str, bytes: usize, want: usize) -> Result<(), KernelError> {
    if bytes < want {
        return Err(KernelError::invalid(format!(
            "{what}: buffer has {bytes} bytes, needs {want}"
        )));
    }
    Ok(())
}

/// One dimension of a [`CopyPlan`]: how many steps, and how far each step moves in the source
/// and the destination (in elements, possibly negative or zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PlanDim {
    /// Number of steps.
    pub count: usize,
    /// Source step in elements.
    pub src: isize,
    /// Destination step in elements.
    pub dst: isize,
}

/// A strided copy of `esize`-byte elements from a source buffer into a destination buffer:
/// for every multi-index over `dims`, `dst[dst_base + Σ i_k·dst_k] = src[src_base + Σ
/// i_k·src_k]`. Transposes, slices, tiles, pads and space/depth shuffles are all such copies.
///
/// A plan is built without allocating (a fixed array), so kernels whose operands arrive at run
/// time build and [`check`](Self::check) one in `run`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyPlan {
    dims: [PlanDim; MAX_DIMS],
    len: usize,
    src_base: i64,
    dst_base: i64,
    empty: bool,
}

impl CopyPlan {
    /// An empty plan copying one element from `src_base` to `dst_base` until dimensions are
    /// pushed.
    pub(crate) fn new(src_base: i64, dst_base: i64) -> Self {
        Self {
            dims: [PlanDim::default(); MAX_DIMS],
            len: 0,
            src_base,
            dst_base,
            empty: false,
        }
    }

    /// Appends an inner dimension. Size-1 dimensions are dropped; a size-0 one makes the plan
    /// copy nothing.
    pub(crate) fn push(&mut self, count: usize, src: isize, dst: isize) -> Result<(), KernelError> {
        if count == 0 {
            self.empty = true;
            return Ok(());
        }
        if count == 1 {
            return Ok(());
        }
        if let Some(last) = self.len.checked_sub(1).map(|i| self.dims[i]) {
            // Merge with the previous (outer) dimension when the two walk memory as one.
            let c = count as isize;
            if last.src == src.wrapping_mul(c)
                && last.dst == dst.wrapping_mul(c)
                && let Some(n) = last.count.checked_mul(count)
            {
                self.dims[self.len - 1] = PlanDim { count: n, src, dst };
                return Ok(());
            }
        }
        if self.len == MAX_DIMS {
            return Err(KernelError::unsupported(format!(
                "copy needs more than {MAX_DIMS} non-trivial dimensions"
            )));
        }
        self.dims[self.len] = PlanDim { count, src, dst };
        self.len += 1;
        Ok(())
    }

    /// Number of elements the plan writes.
    #[cfg(test)]
    pub(crate) fn total(&self) -> usize {
        if self.empty {
            return 0;
        }
        self.dims[..self.len]
            .iter()
            .fold(1usize, |n, d| n.saturating_mul(d.count))
    }

    /// Fails unless every element read is inside `src_elems` and every one written is inside
    /// `dst_elems`.
    pub(crate) fn check(&self, src_elems: usize, dst_elems: usize) -> Result<(), KernelError> {
        if self.empty {
            return Ok(());
        }
        let range = |base: i64, pick: fn(&PlanDim) -> isize| {
            let (mut lo, mut hi) = (i128::from(base), i128::from(base));
            for d in &self.dims[..self.len] {
                let span = (d.count as i128 - 1) * pick(d) as i128;
                if span < 0 {
                    lo += span;
                } else {
                    hi += span;
                }
            }
            (lo, hi)
        };
        let (slo, shi) = range(self.src_base, |d| d.src);
        let (dlo, dhi) = range(self.dst_base, |d| d.dst);
        if slo < 0 || shi >= src_elems as i128 || dlo < 0 || dhi >= dst_elems as i128 {
            return Err(KernelError::invalid(format!(
                "copy reaches source elements {slo}..={shi} of {src_elems} and destination \
                 elements {dlo}..={dhi} of {dst_elems}"
            )));
        }
        Ok(())
    }

    /// Runs the copy. Call [`check`](Self::check) with the buffers' element counts first; the
    /// copy itself still indexes safely.
    pub(crate) fn run(&self, src: &[u8], dst: &mut [u8], esize: usize) {
        if self.empty {
            return;
        }
        match esize {
            1 => self.run_n::<1>(src, dst),
            2 => self.run_n::<2>(src, dst),
            4 => self.run_n::<4>(src, dst),
            8 => self.run_n::<8>(src, dst),
            16 => self.run_n::<16>(src, dst),
            _ => {}
        }
    }

    fn run_n<const N: usize>(&self, src: &[u8], dst: &mut [u8]) {
        let (s0, d0) = (self.src_base as isize, self.dst_base as isize);
        if self.len == 0 {
            copy_elem::<N>(src, dst, s0, d0);
            return;
        }
        let outer = &self.dims[..self.len - 1];
        let inner = self.dims[self.len - 1];
        let mut idx = [0usize; MAX_DIMS];
        let (mut s, mut d) = (s0, d0);
        loop {
            if inner.src == 1 && inner.dst == 1 {
                let (s, d, n) = (s as usize * N, d as usize * N, inner.count * N);
                if let (Some(from), Some(to)) = (src.get(s..s + n), dst.get_mut(d..d + n)) {
                    to.copy_from_slice(from);
                }
            } else {
                let (mut si, mut di) = (s, d);
                for _ in 0..inner.count {
                    copy_elem::<N>(src, dst, si, di);
                    si += inner.src;
                    di += inner.dst;
                }
            }
            // Odometer over the outer dimensions, innermost first.
            let mut k = outer.len();
            loop {
                if k == 0 {
                    return;
                }
                k -= 1;
                idx[k] += 1;
                s += outer[k].src;
                d += outer[k].dst;
                if idx[k] < outer[k].count {
                    break;
                }
                s -= outer[k].src * outer[k].count as isize;
                d -= outer[k].dst * outer[k].count as isize;
                idx[k] = 0;
            }
        }
    }
}

#[inline(always)]
fn copy_elem<const N: usize>(src: &[u8], dst: &mut [u8], s: isize, d: isize) {
    let (s, d) = (s as usize * N, d as usize * N);
    if let (Some(from), Some(to)) = (src.get(s..s + N), dst.get_mut(d..d + N)) {
        to.copy_from_slice(from);
    }
}

/// Fills `dst` with copies of the `esize`-byte pattern `value`.
pub(crate) fn fill_bytes(dst: &mut [u8], value: &[u8]) {
    if value.iter().all(|&b| b == value[0]) {
        dst.fill(value[0]);
        return;
    }
    for chunk in dst.chunks_exact_mut(value.len()) {
        chunk.copy_from_slice(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_merges_contiguous_dims_and_drops_ones() {
        let mut p = CopyPlan::new(0, 0);
        p.push(2, 12, 12).unwrap();
        p.push(1, 99, 99).unwrap();
        p.push(3, 4, 4).unwrap();
        p.push(4, 1, 1).unwrap();
        assert_eq!(p.len, 1);
        assert_eq!(p.total(), 24);
    }

    #[test]
    fn plan_transposes() {
        // [2, 3] -> [3, 2]
        let src: Vec<u8> = (0..6).collect();
        let mut dst = [0u8; 6];
        let mut p = CopyPlan::new(0, 0);
        p.push(3, 1, 2).unwrap();
        p.push(2, 3, 1).unwrap();
        p.check(6, 6).unwrap();
        p.run(&src, &mut dst, 1);
        assert_eq!(dst, [0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn plan_negative_strides_and_bounds() {
        let src: Vec<u8> = (0..5).collect();
        let mut dst = [0u8; 5];
        let mut p = CopyPlan::new(4, 0);
        p.push(5, -1, 1).unwrap();
        p.check(5, 5).unwrap();
        p.run(&src, &mut dst, 1);
        assert_eq!(dst, [4, 3, 2, 1, 0]);
        let mut bad = CopyPlan::new(4, 0);
        bad.push(6, -1, 1).unwrap();
        assert!(bad.check(5, 6).is_err());
    }

    #[test]
    fn int_at_reads_little_endian() {
        let b = 300i32.to_le_bytes();
        assert_eq!(int_at(DType::Int32, &b, 0), Some(300));
        assert_eq!(int_at(DType::Int32, &b, 1), None);
        assert_eq!(int_at(DType::Int8, &[0xFF], 0), Some(-1));
    }
}

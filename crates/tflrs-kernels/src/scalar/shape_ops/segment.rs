//! SEGMENT_SUM and UNSORTED_SEGMENT_SUM / PROD / MAX / MIN over float32 and int32 data with
//! int32 segment ids (LiteRT's `reference_ops::SegmentSum` and `UnsortedSegmentRef`).
//!
//! Each output segment starts at the reduction's identity (0, 1, the type's lowest, the type's
//! largest) and folds in the data rows whose id names it, in row order; integer sums and
//! products wrap, as LiteRT's `WrappingAdd` / `WrappingMul`. SEGMENT_SUM's ids must start at 0
//! and grow by 0 or 1 (LiteRT's check); unsorted ids below 0 are skipped and ids at or above
//! `num_segments` fail the run, as in LiteRT.

use super::util::{check_len, const_ints, int_at, same_dtype};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reduce {
    Sum,
    Prod,
    Max,
    Min,
}

#[derive(Debug)]
struct Segment {
    name: &'static str,
    op: &'static str,
    dtype: DType,
    reduce: Reduce,
    /// SEGMENT_SUM's id rules.
    sorted: bool,
    ids: usize,
    segments: usize,
    inner: usize,
}

fn fold_f32(r: Reduce, a: f32, b: f32) -> f32 {
    match r {
        Reduce::Sum => a + b,
        Reduce::Prod => a * b,
        // std::max(a, b) / std::min(a, b): `a < b ? b : a` and `b < a ? b : a`.
        Reduce::Max => {
            if a < b {
                b
            } else {
                a
            }
        }
        Reduce::Min => {
            if b < a {
                b
            } else {
                a
            }
        }
    }
}

fn fold_i32(r: Reduce, a: i32, b: i32) -> i32 {
    match r {
        Reduce::Sum => a.wrapping_add(b),
        Reduce::Prod => a.wrapping_mul(b),
        Reduce::Max => a.max(b),
        Reduce::Min => a.min(b),
    }
}

impl Kernel for Segment {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (data, ids) = (inputs.get(0)?, inputs.get(1)?);
        let out = outputs.get(0)?;
        let n = self.segments * self.inner;
        check_len(self.name, data.bytes.len(), self.ids * self.inner * 4)?;
        check_len(self.name, out.bytes.len(), n * 4)?;
        let id = |i: usize| {
            int_at(DType::Int32, ids.bytes, i).ok_or_else(|| {
                KernelError::invalid(format!("{}: segment ids are too short", self.op))
            })
        };
        // Validate every id before writing.
        let mut prev = -1i64;
        for i in 0..self.ids {
            let s = id(i)?;
            if self.sorted {
                let ok = if i == 0 {
                    s == 0
                } else {
                    s == prev || s == prev + 1
                };
                crate::ensure!(
                    ok,
                    "{}: segment ids must start at 0 and grow by 0 or 1 (id {s} after {prev})",
                    self.op
                );
                prev = s;
            }
            crate::ensure!(
                s < self.segments as i64,
                "{}: segment id {s} is not below the {} output segments",
                self.op,
                self.segments
            );
        }
        if self.sorted {
            let last = prev.saturating_add(1).max(0) as usize;
            crate::ensure!(
                last == self.segments,
                "{}: the ids name {last} segments, the output was planned for {}",
                self.op,
                self.segments
            );
        }
        let (ob, db) = (&mut out.bytes[..n * 4], data.bytes);
        let init: [u8; 4] = match (self.dtype, self.reduce) {
            (_, Reduce::Sum) => [0; 4],
            (DType::Float32, Reduce::Prod) => 1f32.to_le_bytes(),
            (DType::Float32, Reduce::Max) => f32::MIN.to_le_bytes(),
            (DType::Float32, Reduce::Min) => f32::MAX.to_le_bytes(),
            (_, Reduce::Prod) => 1i32.to_le_bytes(),
            (_, Reduce::Max) => i32::MIN.to_le_bytes(),
            (_, Reduce::Min) => i32::MAX.to_le_bytes(),
        };
        for c in ob.chunks_exact_mut(4) {
            c.copy_from_slice(&init);
        }
        for i in 0..self.ids {
            let s = id(i)?;
            if s < 0 {
                continue;
            }
            let s = s as usize;
            for j in 0..self.inner {
                let (o, d) = ((s * self.inner + j) * 4, (i * self.inner + j) * 4);
                let a = [ob[o], ob[o + 1], ob[o + 2], ob[o + 3]];
                let b = [db[d], db[d + 1], db[d + 2], db[d + 3]];
                let v = if self.dtype == DType::Float32 {
                    fold_f32(self.reduce, f32::from_le_bytes(a), f32::from_le_bytes(b))
                        .to_le_bytes()
                } else {
                    fold_i32(self.reduce, i32::from_le_bytes(a), i32::from_le_bytes(b))
                        .to_le_bytes()
                };
                ob[o..o + 4].copy_from_slice(&v);
            }
        }
        Ok(())
    }
}

pub(super) fn segment(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (op, reduce, sorted) = match node.op {
        Op::SegmentSum => ("SEGMENT_SUM", Reduce::Sum, true),
        Op::UnsortedSegmentSum => ("UNSORTED_SEGMENT_SUM", Reduce::Sum, false),
        Op::UnsortedSegmentProd => ("UNSORTED_SEGMENT_PROD", Reduce::Prod, false),
        Op::UnsortedSegmentMax => ("UNSORTED_SEGMENT_MAX", Reduce::Max, false),
        _ => ("UNSORTED_SEGMENT_MIN", Reduce::Min, false),
    };
    let n_in = if sorted { 2 } else { 3 };
    node.expect_inputs(n_in, n_in)?;
    node.expect_outputs(1)?;
    let (data, ids, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(op, data, output)?;
    crate::ensure!(
        matches!(data.dtype, DType::Float32 | DType::Int32),
        "{op}: data '{}' is {}; LiteRT's kernel takes float32 and int32",
        data.name,
        data.dtype
    );
    crate::ensure!(
        ids.dtype == DType::Int32,
        "{op}: segment ids '{}' are {}, expected int32",
        ids.name,
        ids.dtype
    );
    let ir = if sorted { 1 } else { ids.rank() };
    crate::ensure!(
        ids.rank() == ir && ir >= 1 && ir <= data.rank() && data.shape[..ir] == ids.shape[..],
        "{op}: segment ids {:?} are not a prefix of data {:?}",
        ids.shape,
        data.shape
    );
    let Some((&segments, rest)) = output.shape.split_first() else {
        return Err(KernelError::invalid(format!(
            "{op}: output '{}' is a scalar",
            output.name
        )));
    };
    crate::ensure!(
        rest == &data.shape[ir..],
        "{op}: output {:?} does not fit data {:?}",
        output.shape,
        data.shape
    );
    if !sorted {
        let num = node.input(2)?;
        crate::ensure!(
            num.dtype == DType::Int32 && num.num_elements() == 1 && num.rank() <= 1,
            "{op}: num_segments '{}' must be one int32 value",
            num.name
        );
        if let Some(c) = const_ints(node, 2)? {
            crate::ensure!(
                c.first() == Some(&(segments as i64)),
                "{op}: num_segments {c:?} differs from the output's {segments} segments"
            );
        }
    }
    let name = match (node.op, data.dtype) {
        (Op::SegmentSum, DType::Float32) => "segment_sum_f32__scalar",
        (Op::SegmentSum, _) => "segment_sum_i32__scalar",
        (Op::UnsortedSegmentSum, DType::Float32) => "unsorted_segment_sum_f32__scalar",
        (Op::UnsortedSegmentSum, _) => "unsorted_segment_sum_i32__scalar",
        (Op::UnsortedSegmentProd, DType::Float32) => "unsorted_segment_prod_f32__scalar",
        (Op::UnsortedSegmentProd, _) => "unsorted_segment_prod_i32__scalar",
        (Op::UnsortedSegmentMax, DType::Float32) => "unsorted_segment_max_f32__scalar",
        (Op::UnsortedSegmentMax, _) => "unsorted_segment_max_i32__scalar",
        (_, DType::Float32) => "unsorted_segment_min_f32__scalar",
        _ => "unsorted_segment_min_i32__scalar",
    };
    Ok(Box::new(Segment {
        name,
        op,
        dtype: data.dtype,
        reduce,
        sorted,
        ids: ids.num_elements(),
        segments,
        inner: data.shape[ir..].iter().product(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn sorted_and_unsorted() {
        let data = [1i32, 2, 3, 4, 5, 6];
        let inputs = [
            Some(TestInput::from_slice(ti("d", DType::Int32, &[3, 2]), &data)),
            Some(TestInput::from_slice(
                ti("s", DType::Int32, &[3]),
                &[0i32, 0, 1],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::SegmentSum,
            &inputs,
            &[ti("y", DType::Int32, &[2, 2])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[0]), &[4, 6, 5, 6]);
        let inputs = [
            Some(TestInput::from_slice(ti("d", DType::Int32, &[3, 2]), &data)),
            Some(TestInput::from_slice(
                ti("s", DType::Int32, &[3]),
                &[2i32, -1, 2],
            )),
            Some(TestInput::const_from_slice(
                ti("n", DType::Int32, &[]),
                &[3i32],
            )),
        ];
        let out = [ti("y", DType::Int32, &[3, 2])];
        let got = run_node(&ScalarBackend, &Op::UnsortedSegmentMax, &inputs, &out).unwrap();
        let lo = i32::MIN;
        assert_eq!(
            bytemuck::cast_slice::<u8, i32>(&got[0]),
            &[lo, lo, lo, lo, 5, 6]
        );
        let got = run_node(&ScalarBackend, &Op::UnsortedSegmentProd, &inputs, &out).unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, i32>(&got[0]),
            &[1, 1, 1, 1, 5, 12]
        );
        // An id at num_segments fails the run.
        let inputs = [
            Some(TestInput::from_slice(ti("d", DType::Int32, &[3, 2]), &data)),
            Some(TestInput::from_slice(
                ti("s", DType::Int32, &[3]),
                &[0i32, 3, 1],
            )),
            Some(TestInput::const_from_slice(
                ti("n", DType::Int32, &[]),
                &[3i32],
            )),
        ];
        assert!(run_node(&ScalarBackend, &Op::UnsortedSegmentSum, &inputs, &out).is_err());
    }
}

//! NON_MAX_SUPPRESSION_V4 and V5 on float32 boxes `[n, 4]` (`[y1, x1, y2, x2]`) and scores
//! (LiteRT's `reference_ops::NonMaxSuppression`): candidates above `score_threshold` are taken
//! best first; one whose IoU with an already selected box reaches `iou_threshold` is dropped;
//! V5 with `soft_nms_sigma > 0` decays a candidate's score by `exp(-0.5 / sigma * iou^2)` per
//! overlap and puts it back while it stays above the threshold. The outputs have
//! `max_output_size` entries; those past the number selected are zero.
//!
//! The candidate queue is a binary max-heap on the score run with the same sift steps as the
//! C++ standard library's `push_heap` / `pop_heap` (libstdc++), so that candidates with equal
//! scores come out in LiteRT's order.

use super::util::{check_len, const_ints, int_at};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, Op};

#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    score: f32,
    suppress_begin: usize,
}

/// libstdc++'s `__push_heap`: moves `value` up from `hole` (not above `top`).
fn sift_up(h: &mut [Candidate], mut hole: usize, top: usize, value: Candidate) {
    while hole > top {
        let parent = (hole - 1) / 2;
        // `parent < value` on the scores, as `operator<` (a NaN never moves).
        if h[parent].score < value.score {
            h[hole] = h[parent];
            hole = parent;
        } else {
            break;
        }
    }
    h[hole] = value;
}

/// `std::push_heap` after a `push_back`.
fn push(heap: &mut Vec<Candidate>, c: Candidate) {
    heap.push(c);
    let n = heap.len();
    sift_up(heap, n - 1, 0, c);
}

/// `std::pop_heap` then `pop_back`: the best candidate.
fn pop(heap: &mut Vec<Candidate>) -> Option<Candidate> {
    let len = heap.len();
    if len == 0 {
        return None;
    }
    let top = heap[0];
    let value = heap[len - 1];
    heap[len - 1] = top;
    // __adjust_heap over the first len - 1 elements, hole at 0.
    let n = len - 1;
    let h = &mut heap[..n];
    let mut hole = 0;
    let mut child = 0;
    while n >= 2 && child < (n - 1) / 2 {
        child = 2 * (child + 1);
        if h[child].score < h[child - 1].score {
            child -= 1;
        }
        h[hole] = h[child];
        hole = child;
    }
    if n >= 2 && n.is_multiple_of(2) && child == (n - 2) / 2 {
        child = 2 * (child + 1);
        h[hole] = h[child - 1];
        hole = child - 1;
    }
    if n > 0 {
        sift_up(h, hole, 0, value);
    }
    heap.pop();
    Some(top)
}

/// LiteRT's float IoU of boxes `i` and `j`.
fn iou(boxes: &[f32], i: usize, j: usize) -> f32 {
    let b = |k: usize| {
        let c = &boxes[k * 4..k * 4 + 4];
        (
            c[0].min(c[2]),
            c[0].max(c[2]),
            c[1].min(c[3]),
            c[1].max(c[3]),
        )
    };
    // std::min / std::max keep the first argument on ties and NaN: (a < b) ? a : b.
    let (ymin1, ymax1, xmin1, xmax1) = b(i);
    let (ymin2, ymax2, xmin2, xmax2) = b(j);
    let area1 = (ymax1 - ymin1) * (xmax1 - xmin1);
    let area2 = (ymax2 - ymin2) * (xmax2 - xmin2);
    if area1 <= 0.0 || area2 <= 0.0 {
        return 0.0;
    }
    let min = |a: f32, b: f32| if b < a { b } else { a };
    let max = |a: f32, b: f32| if a < b { b } else { a };
    let ih = max(min(ymax1, ymax2) - max(ymin1, ymin2), 0.0);
    let iw = max(min(xmax1, xmax2) - max(xmin1, xmin2), 0.0);
    let inter = ih * iw;
    let union = area1 + area2 - inter;
    if union == 0.0 { 0.0 } else { inter / union }
}

#[derive(Debug)]
struct Nms {
    name: &'static str,
    soft: bool,
    boxes: usize,
    max_out: usize,
    heap: Vec<Candidate>,
    selected: Vec<usize>,
}

fn scalar_f32(bytes: &[u8], what: &str) -> Result<f32, KernelError> {
    let b = bytes
        .get(..4)
        .ok_or_else(|| KernelError::invalid(format!("NON_MAX_SUPPRESSION: {what} is empty")))?;
    Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl Kernel for Nms {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let n = self.boxes;
        let boxes = inputs.get(0)?;
        let scores = inputs.get(1)?;
        let max_t = inputs.get(2)?;
        let m = int_at(DType::Int32, max_t.bytes, 0);
        if m != Some(self.max_out as i64) {
            return Err(KernelError::invalid(format!(
                "NON_MAX_SUPPRESSION: max_output_size is {m:?}, the outputs were planned for {}",
                self.max_out
            )));
        }
        let iou_threshold = scalar_f32(inputs.get(3)?.bytes, "iou_threshold")?;
        let score_threshold = scalar_f32(inputs.get(4)?.bytes, "score_threshold")?;
        let sigma = if self.soft {
            scalar_f32(inputs.get(5)?.bytes, "soft_nms_sigma")?
        } else {
            0.0
        };
        if sigma < 0.0 {
            return Err(KernelError::invalid(format!(
                "NON_MAX_SUPPRESSION_V5: soft_nms_sigma {sigma} is negative"
            )));
        }
        check_len(self.name, boxes.bytes.len(), n * 16)?;
        check_len(self.name, scores.bytes.len(), n * 4)?;
        let boxes: &[f32] = bytemuck::try_cast_slice(&boxes.bytes[..n * 16]).map_err(|_| {
            KernelError::invalid("NON_MAX_SUPPRESSION: boxes are misaligned".into())
        })?;
        let scores: &[f32] = bytemuck::try_cast_slice(&scores.bytes[..n * 4]).map_err(|_| {
            KernelError::invalid("NON_MAX_SUPPRESSION: scores are misaligned".into())
        })?;
        let heap = &mut self.heap;
        heap.clear();
        for (i, &s) in scores.iter().enumerate() {
            if s > score_threshold {
                push(
                    heap,
                    Candidate {
                        index: i,
                        score: s,
                        suppress_begin: 0,
                    },
                );
            }
        }
        let selected = &mut self.selected;
        selected.clear();
        let num_outputs = heap.len().min(self.max_out);
        let scale = if sigma > 0.0 { -0.5 / sigma } else { 0.0 };
        // Scores of the selected boxes, written straight into the V5 output.
        let mut out_scores_at = 0usize;
        {
            let scores_out = if self.soft {
                Some(outputs.get(1)?)
            } else {
                None
            };
            let mut scores_out = scores_out;
            if let Some(o) = scores_out.as_mut() {
                check_len(self.name, o.bytes.len(), self.max_out * 4)?;
                o.bytes[..self.max_out * 4].fill(0);
            }
            while selected.len() < num_outputs {
                let Some(mut c) = pop(heap) else { break };
                let original = c.score;
                let mut hard = false;
                for j in (c.suppress_begin..selected.len()).rev() {
                    let v = iou(boxes, c.index, selected[j]);
                    if v >= iou_threshold {
                        hard = true;
                        break;
                    }
                    if sigma > 0.0 {
                        c.score *= crate::math::expf(scale * v * v);
                    }
                    if c.score <= score_threshold {
                        break;
                    }
                }
                c.suppress_begin = selected.len();
                if !hard {
                    if c.score == original {
                        selected.push(c.index);
                        if let Some(o) = scores_out.as_mut() {
                            let at = out_scores_at * 4;
                            o.bytes[at..at + 4].copy_from_slice(&c.score.to_le_bytes());
                        }
                        out_scores_at += 1;
                    }
                    if c.score > score_threshold {
                        push(heap, c);
                    }
                }
            }
        }
        let idx = outputs.get(0)?;
        check_len(self.name, idx.bytes.len(), self.max_out * 4)?;
        idx.bytes[..self.max_out * 4].fill(0);
        for (k, &i) in selected.iter().enumerate() {
            idx.bytes[k * 4..k * 4 + 4].copy_from_slice(&(i as i32).to_le_bytes());
        }
        let count = outputs.get(if self.soft { 2 } else { 1 })?;
        check_len(self.name, count.bytes.len(), 4)?;
        count.bytes[..4].copy_from_slice(&(selected.len() as i32).to_le_bytes());
        Ok(())
    }
}

pub(super) fn non_max_suppression(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let soft = matches!(node.op, Op::NonMaxSuppressionV5);
    let op = if soft {
        "NON_MAX_SUPPRESSION_V5"
    } else {
        "NON_MAX_SUPPRESSION_V4"
    };
    let n_in = if soft { 6 } else { 5 };
    node.expect_inputs(n_in, n_in)?;
    node.expect_outputs(if soft { 3 } else { 2 })?;
    let (boxes, scores, max_t) = (node.input(0)?, node.input(1)?, node.input(2)?);
    crate::ensure!(
        boxes.dtype == DType::Float32 && scores.dtype == DType::Float32,
        "{op}: boxes '{}' and scores '{}' are {} and {}; tflrs runs LiteRT's float32 kernel \
         (its int8 and int16 variants are not implemented)",
        boxes.name,
        scores.name,
        boxes.dtype,
        scores.dtype
    );
    crate::ensure!(
        boxes.rank() == 2 && boxes.shape[1] == 4 && scores.shape == [boxes.shape[0]],
        "{op}: boxes {:?} and scores {:?}, expected [n, 4] and [n]",
        boxes.shape,
        scores.shape
    );
    crate::ensure!(
        max_t.dtype == DType::Int32 && max_t.rank() == 0,
        "{op}: max_output_size '{}' must be an int32 scalar",
        max_t.name
    );
    for i in 3..n_in {
        let t = node.input(i)?;
        crate::ensure!(
            t.dtype == DType::Float32 && t.rank() == 0,
            "{op}: input {i} '{}' must be a float32 scalar",
            t.name
        );
    }
    let idx = node.output(0)?;
    crate::ensure!(
        idx.dtype == DType::Int32 && idx.rank() == 1,
        "{op}: selected_indices '{}' must be an int32 vector",
        idx.name
    );
    let max_out = idx.shape[0];
    if soft {
        let s = node.output(1)?;
        crate::ensure!(
            s.dtype == DType::Float32 && s.shape == [max_out],
            "{op}: selected_scores '{}' must be float32 [{max_out}]",
            s.name
        );
    }
    let count = node.output(if soft { 2 } else { 1 })?;
    crate::ensure!(
        count.dtype == DType::Int32 && count.num_elements() == 1,
        "{op}: valid_outputs '{}' must be one int32",
        count.name
    );
    if let Some(c) = const_ints(node, 2)? {
        crate::ensure!(
            c.first() == Some(&(max_out as i64)),
            "{op}: max_output_size {c:?} differs from the outputs' {max_out}"
        );
    }
    let n = boxes.shape[0];
    Ok(Box::new(Nms {
        name: if soft {
            "non_max_suppression_v5_f32__scalar"
        } else {
            "non_max_suppression_v4_f32__scalar"
        },
        soft,
        boxes: n,
        max_out,
        heap: Vec::with_capacity(n),
        selected: Vec::with_capacity(max_out.min(n)),
    }))
}

#[cfg(test)]
mod tests {
    use super::{Candidate, pop, push};
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn heap_pops_best_first() {
        let mut h = Vec::new();
        for (i, s) in [0.3f32, 0.9, 0.1, 0.5, 0.7, 0.2].iter().enumerate() {
            push(
                &mut h,
                Candidate {
                    index: i,
                    score: *s,
                    suppress_begin: 0,
                },
            );
        }
        let order: Vec<usize> = core::iter::from_fn(|| pop(&mut h).map(|c| c.index)).collect();
        assert_eq!(order, [1, 4, 3, 0, 5, 2]);
    }

    #[test]
    fn suppresses_overlaps() {
        // Boxes 0 and 1 overlap (IoU 0.81 / 1.19 > 0.5); box 2 is apart.
        let boxes = [
            0.0f32, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 2.0, 2.0, 3.0, 3.0,
        ];
        let scores = [0.8f32, 0.9, 0.3];
        let inputs = [
            Some(TestInput::from_slice(
                ti("b", DType::Float32, &[3, 4]),
                &boxes,
            )),
            Some(TestInput::from_slice(
                ti("s", DType::Float32, &[3]),
                &scores,
            )),
            Some(TestInput::const_from_slice(
                ti("m", DType::Int32, &[]),
                &[3i32],
            )),
            Some(TestInput::from_slice(
                ti("i", DType::Float32, &[]),
                &[0.5f32],
            )),
            Some(TestInput::from_slice(
                ti("t", DType::Float32, &[]),
                &[0.0f32],
            )),
        ];
        let outs = [ti("idx", DType::Int32, &[3]), ti("n", DType::Int32, &[])];
        let got = run_node(&ScalarBackend, &Op::NonMaxSuppressionV4, &inputs, &outs).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[0]), &[1, 2, 0]);
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[1]), &[2]);
    }
}

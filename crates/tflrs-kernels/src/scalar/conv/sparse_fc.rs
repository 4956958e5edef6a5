//! FULLY_CONNECTED with sparse float32 weights (TFLite's sparse tensor format on the weights,
//! read by the operator itself as LiteRT's kernel does: random sparsity, or `1xC` column
//! blocks such as its `1x4` layout).
//!
//! The weights are checked and expanded once at preparation (`DENSIFY`'s converter), then kept
//! as rows of column blocks that hold a non-zero: each output is the sum, in column order, of
//! the kept blocks' products, then bias and clamp. LiteRT's reference kernel densifies and sums
//! every column; the skipped products are `x * 0 = ±0`, which leave a sum unchanged, so the
//! outputs are the same bits for finite inputs (an infinite or NaN input times a skipped zero
//! would have made the dense sum NaN).

use super::common::{check_len, check_len_mut};
use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::conv::{Bias, Quant, fully_connected};
use crate::scalar::qmath::clamp_f32;
use crate::scalar::shape_ops::densify::densify;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::{DType, DimFormat};

/// The kernel of a FULLY_CONNECTED whose weights (input 1) are a sparse constant, or `None`
/// when they are not sparse.
pub(super) fn make(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let w = node.input(1)?;
    let Some(sparsity) = &w.sparsity else {
        return Ok(None);
    };
    let plan = fully_connected(node)?;
    let Quant::F32 { lo, hi } = plan.quant else {
        return Err(KernelError::unsupported(alloc::format!(
            "FULLY_CONNECTED with sparse {} weights (float32 only)",
            w.dtype
        )));
    };
    crate::ensure!(
        w.dtype == DType::Float32,
        "sparse FULLY_CONNECTED weights must be float32"
    );
    let values = node.constant(1).ok_or_else(|| {
        KernelError::invalid("FULLY_CONNECTED: sparse weights must be a constant".into())
    })?;
    let (units, depth) = (plan.units, plan.depth);
    let dense = densify(sparsity, &[units, depth], 4, values)?;
    // The column block of LiteRT's block layout (`[dense O, CSR K/C, dense C]`), else 1.
    let md = &sparsity.dim_metadata;
    let block = match md.as_slice() {
        [a, b, c]
            if sparsity.block_map == [1]
                && a.format == DimFormat::Dense
                && b.format == DimFormat::SparseCsr
                && c.format == DimFormat::Dense
                && c.dense_size > 0
                && depth % c.dense_size as usize == 0 =>
        {
            c.dense_size as usize
        }
        _ => 1,
    };
    let w: Vec<f32> = dense
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut segments = Vec::with_capacity(units + 1);
    let mut columns = Vec::new();
    let mut kept = Vec::new();
    segments.push(0u32);
    for row in w.chunks_exact(depth.max(1)).take(units) {
        for (j, blk) in row.chunks_exact(block).enumerate() {
            if blk.iter().any(|&v| v != 0.0) {
                columns.push((j * block) as u32);
                kept.extend_from_slice(blk);
            }
        }
        segments.push(columns.len() as u32);
    }
    Ok(Some(Box::new(SparseFc {
        name: if block == 1 {
            "fully_connected_f32__scalar_sparse"
        } else {
            "fully_connected_f32__scalar_sparse_blocks"
        },
        batches: plan.batches,
        units,
        depth,
        lo,
        hi,
        block,
        segments,
        columns,
        values: kept,
    })))
}

/// Rows of kept column blocks.
struct SparseFc {
    name: &'static str,
    batches: usize,
    units: usize,
    depth: usize,
    lo: f32,
    hi: f32,
    block: usize,
    /// `columns[segments[u]..segments[u + 1]]`: the first column of each kept block of row `u`.
    segments: Vec<u32>,
    columns: Vec<u32>,
    /// `block` weights per kept block, in the order of `columns`.
    values: Vec<f32>,
}

impl Kernel for SparseFc {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let mut out_t = outputs.get(0)?;
        let (batches, units, depth) = (self.batches, self.units, self.depth);
        if depth == 0 {
            out_t.bytes.fill(0);
            return Ok(());
        }
        let x_t = inputs.get(0)?;
        let bias = Bias::view(inputs.optional(2), units)?;
        let bias = bias.float();
        let x = check_len(x_t.as_slice::<f32>()?, batches * depth, x_t.info)?;
        let info = out_t.info;
        let out = check_len_mut(out_t.as_slice_mut::<f32>()?, batches * units, info)?;
        let b = self.block;
        for (xs, outs) in x.chunks_exact(depth).zip(out.chunks_exact_mut(units)) {
            for (u, o) in outs.iter_mut().enumerate() {
                let (s, e) = (self.segments[u] as usize, self.segments[u + 1] as usize);
                let mut acc = 0.0f32;
                for (k, &c) in self.columns[s..e].iter().enumerate() {
                    let c = c as usize;
                    let ws = &self.values[(s + k) * b..(s + k + 1) * b];
                    for (&xv, &wv) in xs[c..c + b].iter().zip(ws) {
                        acc += xv * wv;
                    }
                }
                let bv = bias.map_or(0.0, |bias| bias[u]);
                *o = clamp_f32(acc + bv, self.lo, self.hi);
            }
        }
        Ok(())
    }
}

//! SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND on 3-D `[batch, height, depth]` and 4-D
//! `[batch, height, width, depth]` inputs with one or two block dimensions, as LiteRT's
//! reference kernels: output batch `b` takes block offset `b / input_batch` (row-major over
//! the block shape) of input batch `b % input_batch`. SPACE_TO_BATCH_ND fills the padding with
//! the output's zero point for uint8 and int8 (0 otherwise); BATCH_TO_SPACE_ND drops the crops.
//!
//! The block shape and paddings or crops decide the output shape, so they must be constants.

use super::util::{check_len, const_ints, kernel_name, quant_of, require_elem_size, same_dtype};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::DType;

/// The 4-D geometry both directions share: `space` is the side with spatial extent
/// `[batch, h, w, depth]`, `blocks` the side with `batch * bh * bw` batches of `[oh, ow]`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    h: usize,
    w: usize,
    depth: usize,
    bh: usize,
    bw: usize,
    oh: usize,
    ow: usize,
    top: usize,
    left: usize,
}

#[derive(Debug)]
struct BatchSpace {
    name: &'static str,
    esize: usize,
    g: Geometry,
    to_batch: bool,
    /// The padding element (SPACE_TO_BATCH_ND).
    pad: Vec<u8>,
}

impl Kernel for BatchSpace {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(0)?;
        let out = outputs.get(0)?;
        let g = self.g;
        let es = self.esize;
        let space = g.batch * g.h * g.w * g.depth * es;
        let blocks = g.batch * g.bh * g.bw * g.oh * g.ow * g.depth * es;
        let (src_len, dst_len) = if self.to_batch {
            (space, blocks)
        } else {
            (blocks, space)
        };
        check_len(self.name, input.bytes.len(), src_len)?;
        check_len(self.name, out.bytes.len(), dst_len)?;
        let row = g.depth * es;
        for blk in 0..g.batch * g.bh * g.bw {
            let b = blk % g.batch;
            let shift = blk / g.batch;
            let (sh, sw) = (shift / g.bw, shift % g.bw);
            for y in 0..g.oh {
                for x in 0..g.ow {
                    let blocked = (((blk * g.oh) + y) * g.ow + x) * row;
                    let (py, px) = (y * g.bh + sh, x * g.bw + sw);
                    let inside =
                        py >= g.top && py < g.top + g.h && px >= g.left && px < g.left + g.w;
                    let spatial =
                        inside.then(|| (((b * g.h) + py - g.top) * g.w + px - g.left) * row);
                    match (self.to_batch, spatial) {
                        (true, Some(s)) => out.bytes[blocked..blocked + row]
                            .copy_from_slice(&input.bytes[s..s + row]),
                        (true, None) => {
                            for e in out.bytes[blocked..blocked + row].chunks_exact_mut(es) {
                                e.copy_from_slice(&self.pad);
                            }
                        }
                        (false, Some(s)) => out.bytes[s..s + row]
                            .copy_from_slice(&input.bytes[blocked..blocked + row]),
                        (false, None) => {}
                    }
                }
            }
        }
        Ok(())
    }
}

fn batch_space(node: &NodeCtx<'_>, to_batch: bool) -> Result<Box<dyn Kernel>, KernelError> {
    let op = if to_batch {
        "SPACE_TO_BATCH_ND"
    } else {
        "BATCH_TO_SPACE_ND"
    };
    node.expect_inputs(3, 3)?;
    node.expect_outputs(1)?;
    let (input, block, pads, output) = (
        node.input(0)?,
        node.input(1)?,
        node.input(2)?,
        node.output(0)?,
    );
    same_dtype(op, input, output)?;
    crate::ensure!(
        matches!(
            input.dtype,
            DType::Float32
                | DType::UInt8
                | DType::Int8
                | DType::Int16
                | DType::Int32
                | DType::Int64
        ),
        "{op}: input '{}' is {}; LiteRT's kernel takes float32, uint8, int8, int16, int32 and \
         int64",
        input.name,
        input.dtype
    );
    let esize = require_elem_size(op, input)?;
    crate::ensure!(
        block.dtype == DType::Int32 && pads.dtype == DType::Int32,
        "{op}: block shape and paddings/crops must be int32 (LiteRT supports no other type)"
    );
    let (Some(bs), Some(ps)) = (const_ints(node, 1)?, const_ints(node, 2)?) else {
        return Err(KernelError::unsupported(format!(
            "{op}: a computed block shape or padding decides the output shape at run time; \
             tflrs needs them constant"
        )));
    };
    let rank = input.rank();
    crate::ensure!(
        (rank == 3 && bs.len() == 1) || (rank == 4 && bs.len() == 2),
        "{op}: input rank {rank} with {} block dimensions (LiteRT handles 3-D inputs with one \
         and 4-D inputs with two)",
        bs.len()
    );
    crate::ensure!(
        ps.len() == 2 * bs.len() && block.rank() == 1 && pads.rank() == 2,
        "{op}: {} paddings or crops for {} block dimensions",
        ps.len(),
        bs.len()
    );
    crate::ensure!(
        bs.iter().all(|&b| (1..=1 << 16).contains(&b))
            && ps.iter().all(|&p| (0..1 << 24).contains(&p)),
        "{op}: block shape {bs:?} and paddings or crops {ps:?} out of range"
    );
    let bs: Vec<usize> = bs.iter().map(|&b| b as usize).collect();
    let ps: Vec<usize> = ps.iter().map(|&p| p as usize).collect();
    let (bh, bw) = (bs[0], bs.get(1).copied().unwrap_or(1));
    let (top, left) = (ps[0], if rank == 4 { ps[2] } else { 0 });
    let (bottom, right) = (ps[1], if rank == 4 { ps[3] } else { 0 });
    crate::ensure!(
        output.rank() == rank,
        "{op}: output {:?} for input {:?}",
        output.shape,
        input.shape
    );
    // [batch, h, w, depth] of the spatial side and the blocked side.
    let dims4 = |s: &[usize]| {
        if rank == 4 {
            [s[0], s[1], s[2], s[3]]
        } else {
            [s[0], s[1], 1, s[2]]
        }
    };
    let (space, blocked) = if to_batch {
        (dims4(&input.shape), output.shape.clone())
    } else {
        (dims4(&output.shape), input.shape.clone())
    };
    crate::ensure!(
        blocked.len() == rank,
        "{op}: output {:?} for input {:?}",
        output.shape,
        input.shape
    );
    let blk = dims4(&blocked);
    let nb = bh * bw;
    let padded_h = space[1].saturating_add(top).saturating_add(bottom);
    let padded_w = space[2].saturating_add(left).saturating_add(right);
    let ok = Some(blk[0]) == space[0].checked_mul(nb)
        && blk[3] == space[3]
        && Some(padded_h) == blk[1].checked_mul(bh)
        && Some(padded_w) == blk[2].checked_mul(bw)
        && top < padded_h.max(1)
        && left < padded_w.max(1);
    crate::ensure!(
        ok,
        "{op}: shapes {:?} and {:?} do not match block shape {bs:?} and paddings or crops {ps:?}",
        input.shape,
        output.shape
    );
    let pad = match (to_batch, input.dtype) {
        (true, DType::Int8) => {
            let zp = quant_of(output).map_or(0, |q| q.1);
            vec![zp.clamp(-128, 127) as i8 as u8]
        }
        (true, DType::UInt8) => {
            let zp = quant_of(output).map_or(0, |q| q.1);
            vec![zp.clamp(0, 255) as u8]
        }
        _ => vec![0; esize],
    };
    let g = Geometry {
        batch: space[0],
        h: space[1],
        w: space[2],
        depth: space[3],
        bh,
        bw,
        oh: blk[1],
        ow: blk[2],
        top,
        left,
    };
    let name = if to_batch {
        kernel_name!("space_to_batch_nd", input.dtype)
    } else {
        kernel_name!("batch_to_space_nd", input.dtype)
    };
    Ok(Box::new(BatchSpace {
        name,
        esize,
        g,
        to_batch,
        pad,
    }))
}

pub(super) fn space_to_batch_nd(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    batch_space(node, true)
}

pub(super) fn batch_to_space_nd(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    batch_space(node, false)
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
    fn round_trip_with_padding() {
        // [1, 2, 3, 1], block [2, 2], paddings [[0, 0], [1, 0]] -> [4, 1, 2, 1].
        let x = [1i8, 2, 3, 4, 5, 6];
        let block = TestInput::const_from_slice(ti("b", DType::Int32, &[2]), &[2i32, 2]);
        let pads = TestInput::const_from_slice(ti("p", DType::Int32, &[2, 2]), &[0i32, 0, 1, 0]);
        let y = ti("y", DType::Int8, &[4, 1, 2, 1]).with_quant(0.5, -3);
        let inputs = [
            Some(TestInput::from_slice(
                ti("x", DType::Int8, &[1, 2, 3, 1]),
                &x,
            )),
            Some(block.clone()),
            Some(pads.clone()),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::SpaceToBatchNd,
            &inputs,
            core::slice::from_ref(&y),
        )
        .unwrap();
        let blocked = bytemuck::cast_slice::<u8, i8>(&got[0]).to_vec();
        // Padded rows [p 1 2 3] / [p 4 5 6]; offsets (0,0) (0,1) (1,0) (1,1).
        assert_eq!(blocked, [-3, 2, 1, 3, -3, 5, 4, 6]);
        let inputs = [
            Some(TestInput::from_slice(y, &blocked)),
            Some(block),
            Some(pads),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::BatchToSpaceNd,
            &inputs,
            &[ti("z", DType::Int8, &[1, 2, 3, 1])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &x);
    }
}

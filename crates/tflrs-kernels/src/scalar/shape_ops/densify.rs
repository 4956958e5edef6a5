//! DENSIFY: a sparse constant (TFLite's `SparsityParameters`: traversal order, block map, and
//! per-level dense or CSR metadata) expanded to its dense tensor, as LiteRT's
//! `FormatConverter::SparseToDense` does.
//!
//! The expansion happens once, at preparation, after the metadata is checked: traversal order
//! a permutation (original dimensions first, then block dimensions), CSR segments
//! non-decreasing and sized by the level above, CSR indices and every element's position
//! inside the dense shape, and exactly one value per stored element. `run` copies the result.

use super::util::{check_len, elem_size, kernel_name, product};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DimFormat, Sparsity};

/// Expands `values` (the stored elements of a sparse tensor, `esize` bytes each) into the
/// dense row-major bytes of `shape`; absent elements are zero bytes.
pub(crate) fn densify(
    sparsity: &Sparsity,
    shape: &[usize],
    esize: usize,
    values: &[u8],
) -> Result<Vec<u8>, KernelError> {
    let bad = |why: alloc::string::String| KernelError::invalid(format!("DENSIFY: {why}"));
    let rank = shape.len();
    let order: Vec<usize> = sparsity
        .traversal_order
        .iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| bad(format!("traversal order entry {v} is negative")))
        })
        .collect::<Result<_, _>>()?;
    let total = order.len();
    let blocks = sparsity.block_map.len();
    if total != rank + blocks || sparsity.dim_metadata.len() != total {
        return Err(bad(format!(
            "traversal order has {total} entries and {} dimension metadata for rank {rank} with {blocks} block dimensions",
            sparsity.dim_metadata.len()
        )));
    }
    let mut seen = alloc::vec![false; total];
    for (i, &o) in order.iter().enumerate() {
        let in_range = if i < rank {
            o < rank
        } else {
            (rank..total).contains(&o)
        };
        if !in_range || seen[o] {
            return Err(bad(format!(
                "traversal order {:?} is not a permutation with block dimensions last",
                sparsity.traversal_order
            )));
        }
        seen[o] = true;
    }
    let block_map: Vec<usize> = sparsity
        .block_map
        .iter()
        .map(|&v| usize::try_from(v).ok().filter(|&v| v < rank))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            bad(format!(
                "block map {:?} names dimensions outside rank {rank}",
                sparsity.block_map
            ))
        })?;

    // Per level: dense size, or CSR segments and indices (as usize).
    enum Level {
        Dense(usize),
        Csr(Vec<usize>, Vec<usize>),
    }
    let mut levels = Vec::with_capacity(total);
    let mut positions: usize = 1;
    for (l, m) in sparsity.dim_metadata.iter().enumerate() {
        match m.format {
            DimFormat::Dense => {
                let d = usize::try_from(m.dense_size)
                    .map_err(|_| bad(format!("level {l} has dense size {}", m.dense_size)))?;
                positions = positions
                    .checked_mul(d)
                    .ok_or_else(|| bad("element count overflows".into()))?;
                levels.push(Level::Dense(d));
            }
            DimFormat::SparseCsr => {
                let (Some(seg), Some(idx)) = (&m.array_segments, &m.array_indices) else {
                    return Err(bad(format!("CSR level {l} lacks segments or indices")));
                };
                let seg: Vec<usize> = (0..seg.len())
                    .map(|i| seg.get(i).and_then(|v| usize::try_from(v).ok()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad(format!("CSR level {l} has a negative segment")))?;
                let idx: Vec<usize> = (0..idx.len())
                    .map(|i| idx.get(i).and_then(|v| usize::try_from(v).ok()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad(format!("CSR level {l} has a negative index")))?;
                if seg.len() != positions + 1
                    || seg[0] != 0
                    || seg.windows(2).any(|w| w[0] > w[1])
                    || seg[positions] != idx.len()
                {
                    return Err(bad(format!(
                        "CSR level {l} needs {} non-decreasing segments from 0 to {} indices",
                        positions + 1,
                        idx.len()
                    )));
                }
                positions = idx.len();
                levels.push(Level::Csr(seg, idx));
            }
        }
    }
    let n_values = values.len() / esize.max(1);
    if positions != n_values {
        return Err(bad(format!(
            "the metadata stores {positions} elements, the tensor has {n_values} values"
        )));
    }
    // Block sizes as LiteRT reads them: the dense size of the level the block dimension is
    // traversed at.
    let mut block_size = alloc::vec![1usize; blocks];
    for (b, size) in block_size.iter_mut().enumerate() {
        let level = order[rank + b];
        *size = match &levels[level] {
            Level::Dense(d) => *d,
            Level::Csr(..) => return Err(bad(format!("block dimension {b} is not dense"))),
        };
    }
    let dense_len = product(shape);
    let mut out = alloc::vec![0u8; dense_len.checked_mul(esize).ok_or_else(|| bad("dense size overflows".into()))?];
    let strides = super::util::strides(shape);

    // Depth-first walk over the levels; `pos[l]` is the position at level l.
    let mut coord = alloc::vec![0usize; total];
    let mut src = 0usize;
    walk(&levels, 0, 0, &mut coord, &mut |coord: &[usize]| {
        let mut orig = alloc::vec![0usize; rank];
        for i in 0..rank {
            orig[order[i]] = coord[i];
        }
        for i in rank..total {
            let b = order[i] - rank;
            let d = block_map[b];
            orig[d] = orig[d]
                .saturating_mul(block_size[b])
                .saturating_add(coord[i]);
        }
        let mut flat = 0usize;
        for d in 0..rank {
            if orig[d] >= shape[d] {
                return Err(bad(format!(
                    "element at {orig:?} is outside the dense shape {shape:?}"
                )));
            }
            flat += orig[d] * strides[d];
        }
        out[flat * esize..(flat + 1) * esize]
            .copy_from_slice(&values[src * esize..(src + 1) * esize]);
        src += 1;
        Ok(())
    })?;
    return Ok(out);

    fn walk(
        levels: &[Level],
        l: usize,
        prev: usize,
        coord: &mut Vec<usize>,
        leaf: &mut dyn FnMut(&[usize]) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        if l == levels.len() {
            return leaf(coord);
        }
        match &levels[l] {
            Level::Dense(d) => {
                for i in 0..*d {
                    coord[l] = i;
                    walk(levels, l + 1, prev * d + i, coord, leaf)?;
                }
            }
            Level::Csr(seg, idx) => {
                for (i, &c) in idx.iter().enumerate().take(seg[prev + 1]).skip(seg[prev]) {
                    coord[l] = c;
                    walk(levels, l + 1, i, coord, leaf)?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Densified {
    name: &'static str,
    bytes: Vec<u8>,
}

impl Kernel for Densified {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (_, mut outputs, _, _) = io.split();
        let out = outputs.get(0)?;
        check_len(self.name, out.bytes.len(), self.bytes.len())?;
        out.bytes[..self.bytes.len()].copy_from_slice(&self.bytes);
        Ok(())
    }
}

pub(super) fn densify_op(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "DENSIFY";
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    super::util::same_dtype(OP, input, output)?;
    super::util::expect_shape(OP, output, &input.shape)?;
    let esize = elem_size(input.dtype).ok_or_else(|| {
        KernelError::unsupported(format!("{OP}: type {} of '{}'", input.dtype, input.name))
    })?;
    let sparsity = input.sparsity.as_ref().ok_or_else(|| {
        KernelError::invalid(format!("{OP}: input '{}' is not sparse", input.name))
    })?;
    let values = node.constant(0).ok_or_else(|| {
        KernelError::invalid(format!("{OP}: input '{}' is not a constant", input.name))
    })?;
    Ok(Box::new(Densified {
        name: kernel_name!("densify", input.dtype),
        bytes: densify(sparsity, &input.shape, esize, values)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::densify;
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, DimFormat, DimMetadata, IndexVector, Op, Sparsity};

    fn dense(n: i32) -> DimMetadata {
        DimMetadata {
            format: DimFormat::Dense,
            dense_size: n,
            array_segments: None,
            array_indices: None,
        }
    }

    fn csr(seg: Vec<i32>, idx: Vec<i32>) -> DimMetadata {
        DimMetadata {
            format: DimFormat::SparseCsr,
            dense_size: 0,
            array_segments: Some(IndexVector::I32(seg)),
            array_indices: Some(IndexVector::U8(idx.into_iter().map(|v| v as u8).collect())),
        }
    }

    #[test]
    fn csr_matrix() {
        // [[1, 0, 0, 2], [0, 0, 3, 0], [0, 0, 0, 0]] as CSR rows.
        let sp = Sparsity {
            traversal_order: vec![0, 1],
            block_map: vec![],
            dim_metadata: vec![dense(3), csr(vec![0, 2, 3, 3], vec![0, 3, 2])],
        };
        let values = [1f32, 2., 3.];
        let mut info = TensorInfo::new("w", DType::Float32, [3, 4]);
        info.sparsity = Some(sp.clone());
        let inputs = [Some(TestInput::const_from_slice(info, &values))];
        let got = run_node(
            &ScalarBackend,
            &Op::Densify,
            &inputs,
            &[TensorInfo::new("y", DType::Float32, [3, 4])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[1., 0., 0., 2., 0., 0., 3., 0., 0., 0., 0., 0.]
        );
        // An index outside the row is refused.
        let mut bad = sp.clone();
        bad.dim_metadata[1] = csr(vec![0, 2, 3, 3], vec![0, 4, 2]);
        assert!(densify(&bad, &[3, 4], 4, bytemuck::cast_slice(&values)).is_err());
        // So are segments that do not cover the values.
        let mut bad = sp;
        bad.dim_metadata[1] = csr(vec![0, 2, 3, 2], vec![0, 3, 2]);
        assert!(densify(&bad, &[3, 4], 4, bytemuck::cast_slice(&values)).is_err());
    }

    #[test]
    fn block_sparse() {
        // 2x4 matrix in 1x2 blocks: block row 0 keeps block col 1, block row 1 keeps block col 0.
        let sp = Sparsity {
            traversal_order: vec![0, 1, 2],
            block_map: vec![1],
            dim_metadata: vec![dense(2), csr(vec![0, 1, 2], vec![1, 0]), dense(2)],
        };
        let values = [1i8, 2, 3, 4];
        let got = densify(&sp, &[2, 4], 1, bytemuck::cast_slice(&values)).unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, i8>(&got),
            &[0, 0, 1, 2, 3, 4, 0, 0]
        );
    }
}

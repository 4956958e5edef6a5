//! EMBEDDING_LOOKUP (LiteRT's `embedding_lookup.cc`): output row `i` is row `ids[i]` of the
//! table (input 1, rank 2 or more, rows along dimension 0); ids are int32 and must be in range
//! (checked at every run, as LiteRT does). A float32 table, or an int8/uint8 one with an output
//! of its type, is copied byte for byte. An int8/uint8 table with a float32 output is the
//! hybrid path: each element read as int8 (for uint8 tables too, as LiteRT reads them) times
//! the table's per-tensor scale, in double precision. Per-channel and int4 tables are not
//! supported.

use super::util::check_len;
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::DType;

struct EmbeddingLookup {
    name: &'static str,
    ids: usize,
    rows: usize,
    /// Bytes of one table row.
    row_bytes: usize,
    /// Hybrid: the table's scale (elements are int8, the output float32).
    scale: Option<f64>,
}

pub(super) fn embedding_lookup(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (ids, table, out) = (node.input(0)?, node.input(1)?, node.output(0)?);
    ensure!(
        ids.dtype == DType::Int32 && ids.rank() == 1,
        "EMBEDDING_LOOKUP ids '{}' must be a vector of int32",
        ids.name
    );
    ensure!(
        table.rank() >= 2,
        "EMBEDDING_LOOKUP table '{}' has rank {}, needs 2 or more",
        table.name,
        table.rank()
    );
    let mut want = table.shape.clone();
    want[0] = ids.shape[0];
    ensure!(
        out.shape == want,
        "EMBEDDING_LOOKUP output '{}' has shape {:?}, expected {want:?}",
        out.name,
        out.shape
    );
    let rows = table.shape[0];
    let cols: usize = table.shape[1..].iter().product();
    let (name, scale, esize) = match (table.dtype, out.dtype) {
        (DType::Float32, DType::Float32) => ("embedding_lookup_f32__scalar", None, 4),
        (DType::Int8, DType::Int8) => ("embedding_lookup_i8__scalar", None, 1),
        (DType::UInt8, DType::UInt8) => ("embedding_lookup_u8__scalar", None, 1),
        (DType::Int8 | DType::UInt8, DType::Float32) => {
            let scales = table.scales();
            let zero_points_zero = table
                .quant
                .as_ref()
                .is_none_or(|q| q.zero_points().iter().all(|&z| z == 0));
            ensure!(
                scales.len() == 1 && zero_points_zero,
                "EMBEDDING_LOOKUP hybrid table '{}' needs one scale and a zero point of 0",
                table.name
            );
            (
                "embedding_lookup_f32__scalar_hybrid",
                Some(f64::from(scales[0])),
                1,
            )
        }
        (a, b) => {
            return Err(KernelError::unsupported(format!(
                "EMBEDDING_LOOKUP from a {a} table to {b} rows"
            )));
        }
    };
    Ok(Box::new(EmbeddingLookup {
        name,
        ids: ids.shape[0],
        rows,
        row_bytes: cols * esize,
        scale,
    }))
}

impl Kernel for EmbeddingLookup {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let ids = inputs.get(0)?.as_slice::<i32>()?;
        let table = inputs.get(1)?.bytes;
        let out = outputs.get(0)?;
        check_len(self.name, ids.len(), self.ids)?;
        check_len(self.name, table.len(), self.rows * self.row_bytes)?;
        let out_row = if self.scale.is_some() {
            self.row_bytes * 4
        } else {
            self.row_bytes
        };
        check_len(self.name, out.bytes.len(), self.ids * out_row)?;
        for &id in ids {
            ensure!(
                usize::try_from(id).is_ok_and(|r| r < self.rows),
                "{}: index {id} is out of bounds [0, {})",
                self.name,
                self.rows
            );
        }
        if self.row_bytes == 0 {
            return Ok(());
        }
        for (&id, dst) in ids.iter().zip(out.bytes.chunks_exact_mut(out_row)) {
            let r = id as usize * self.row_bytes;
            let src = &table[r..r + self.row_bytes];
            match self.scale {
                None => dst.copy_from_slice(src),
                Some(s) => {
                    for (d, &v) in dst.chunks_exact_mut(4).zip(src) {
                        let f = (f64::from(v as i8) * s) as f32;
                        d.copy_from_slice(&f.to_le_bytes());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op};

    fn lookup(
        ids: &[i32],
        table: TensorInfo,
        t: &[u8],
        out: DType,
    ) -> Result<Vec<u8>, crate::KernelError> {
        let mut shape = table.shape.clone();
        shape[0] = ids.len();
        let y = run_node(
            &ScalarBackend,
            &Op::EmbeddingLookup,
            &[
                Some(TestInput::from_slice(
                    TensorInfo::new("ids", DType::Int32, alloc::vec![ids.len()]),
                    ids,
                )),
                Some(TestInput::from_slice(table, t)),
            ],
            &[TensorInfo::new("y", out, shape)],
        )?;
        Ok(y.into_iter().next().unwrap_or_default())
    }

    #[test]
    fn rows_copied_dequantized_and_bounds_checked() {
        let t = TensorInfo::new("t", DType::Int8, alloc::vec![3, 2]);
        let data = [1u8, 2, 3, 4, 5, 6];
        let y = lookup(&[2, 0, 2], t.clone(), &data, DType::Int8).unwrap();
        assert_eq!(y, [5, 6, 1, 2, 5, 6]);
        assert!(lookup(&[3], t.clone(), &data, DType::Int8).is_err());
        assert!(lookup(&[-1], t, &data, DType::Int8).is_err());
        let h = TensorInfo::new("t", DType::Int8, alloc::vec![2, 2]).with_quant(0.5, 0);
        let y = lookup(&[1], h, &[0, 0, 0xfe, 7], DType::Float32).unwrap();
        let y: Vec<f32> = y
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(y, [-1.0, 3.5]);
    }
}

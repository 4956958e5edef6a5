//! GATHER_ND and SCATTER_ND: slices addressed by the last axis of an index tensor
//! (`reference_ops::GatherNd`, `reference_ops::ScatterNd`).
//!
//! GATHER_ND copies slices of `params`; SCATTER_ND starts from zeros and adds each update slice
//! at its place (duplicates add up, in the update type's arithmetic, wrapping for integers as
//! LiteRT's C++ does). An index outside its dimension stops the run with an error, as LiteRT
//! fails the invoke; constant indices are checked at preparation.

use super::util::{
    check_len, const_ints, expect_shape, int_at, kernel_name, product, require_elem_size,
    same_dtype, strides,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::DType;

/// Offset (in elements) of the slice that index row `row` addresses, or an error naming the
/// index outside its dimension.
fn slice_offset(
    op: &str,
    dtype: DType,
    bytes: &[u8],
    row: usize,
    dims: &[usize],
    dim_strides: &[usize],
) -> Result<usize, KernelError> {
    let nd = dims.len();
    let mut at = 0usize;
    for j in 0..nd {
        let c = int_at(dtype, bytes, row * nd + j)
            .ok_or_else(|| KernelError::invalid(format!("{op}: indices are too short")))?;
        if c < 0 || c as u64 >= dims[j] as u64 {
            return Err(KernelError::invalid(format!(
                "{op}: index {c} is out of range [0, {}) for dimension {j}",
                dims[j]
            )));
        }
        at += c as usize * dim_strides[j];
    }
    Ok(at)
}

#[derive(Debug)]
struct GatherNd {
    name: &'static str,
    esize: usize,
    /// The dimensions the index rows address, and their strides in elements.
    dims: Vec<usize>,
    dim_strides: Vec<usize>,
    slices: usize,
    slice: usize,
    params_elems: usize,
}

impl Kernel for GatherNd {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (params, idx) = (inputs.get(0)?, inputs.get(1)?);
        let out = outputs.get(0)?;
        let (es, row) = (self.esize, self.slice * self.esize);
        check_len(self.name, params.bytes.len(), self.params_elems * es)?;
        check_len(self.name, out.bytes.len(), self.slices * row)?;
        for i in 0..self.slices {
            let from = slice_offset(
                "GATHER_ND",
                idx.info.dtype,
                idx.bytes,
                i,
                &self.dims,
                &self.dim_strides,
            )? * es;
            out.bytes[i * row..(i + 1) * row].copy_from_slice(&params.bytes[from..from + row]);
        }
        Ok(())
    }
}

/// Checks constant index rows against `dims` at preparation.
fn check_const_rows(
    op: &str,
    node: &NodeCtx<'_>,
    i: usize,
    dims: &[usize],
) -> Result<(), KernelError> {
    if let Some(values) = const_ints(node, i)? {
        let nd = dims.len().max(1);
        for (k, &v) in values.iter().enumerate() {
            let d = dims.get(k % nd).copied().unwrap_or(0);
            crate::ensure!(
                v >= 0 && (v as u64) < d as u64,
                "{op}: index {v} is out of range [0, {d})"
            );
        }
    }
    Ok(())
}

pub(super) fn gather_nd(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "GATHER_ND";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (params, idx, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(OP, params, output)?;
    crate::ensure!(
        matches!(
            params.dtype,
            DType::BFloat16
                | DType::Float16
                | DType::Float32
                | DType::UInt8
                | DType::Int8
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::Bool
        ),
        "{OP}: params '{}' are {}, which LiteRT's GATHER_ND does not take",
        params.name,
        params.dtype
    );
    let esize = require_elem_size(OP, params)?;
    crate::ensure!(
        matches!(idx.dtype, DType::Int16 | DType::Int32 | DType::Int64),
        "{OP}: indices '{}' are {}, expected int16, int32 or int64",
        idx.name,
        idx.dtype
    );
    let Some((&nd, outer)) = idx.shape.split_last() else {
        return Err(KernelError::invalid(format!(
            "{OP}: indices '{}' are a scalar",
            idx.name
        )));
    };
    crate::ensure!(
        params.rank() >= 1 && nd <= params.rank(),
        "{OP}: index rows of {nd} values for params of rank {}",
        params.rank()
    );
    let mut expected = outer.to_vec();
    expected.extend_from_slice(&params.shape[nd..]);
    expect_shape(OP, output, &expected)?;
    let dims = params.shape[..nd].to_vec();
    check_const_rows(OP, node, 1, &dims)?;
    let dim_strides = strides(&params.shape)[..nd].to_vec();
    Ok(Box::new(GatherNd {
        name: kernel_name!("gather_nd", params.dtype),
        esize,
        dims,
        dim_strides,
        slices: product(outer),
        slice: product(&params.shape[nd..]),
        params_elems: params.num_elements(),
    }))
}

#[derive(Debug)]
struct ScatterNd {
    name: &'static str,
    dtype: DType,
    dims: Vec<usize>,
    dim_strides: Vec<usize>,
    slices: usize,
    slice: usize,
    out_elems: usize,
}

/// `out[k] += upd[k]` for one slice, in `dtype`'s arithmetic.
fn add_slice(dtype: DType, out: &mut [u8], upd: &[u8]) {
    macro_rules! add {
        ($t:ty, $n:literal, $op:expr) => {
            for (o, u) in out.chunks_exact_mut($n).zip(upd.chunks_exact($n)) {
                let a = <$t>::from_le_bytes(o.try_into().unwrap_or([0; $n]));
                let b = <$t>::from_le_bytes(u.try_into().unwrap_or([0; $n]));
                let f: fn($t, $t) -> $t = $op;
                o.copy_from_slice(&f(a, b).to_le_bytes());
            }
        };
    }
    match dtype {
        DType::Float32 => add!(f32, 4, |a, b| a + b),
        DType::Int32 => add!(i32, 4, i32::wrapping_add),
        DType::Int64 => add!(i64, 8, i64::wrapping_add),
        DType::Int8 => add!(i8, 1, i8::wrapping_add),
        DType::UInt8 => add!(u8, 1, u8::wrapping_add),
        _ => {}
    }
}

impl Kernel for ScatterNd {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (idx, upd, shape) = (inputs.get(0)?, inputs.get(1)?, inputs.get(2)?);
        let out = outputs.get(0)?;
        let es = self.dtype.bits().unwrap_or(8) as usize / 8;
        let row = self.slice * es;
        // The shape operand must be the shape the output was planned with.
        let planned = out.info.shape.as_slice();
        for (i, &d) in planned.iter().enumerate() {
            let got = int_at(shape.info.dtype, shape.bytes, i);
            if got != Some(d as i64) {
                return Err(KernelError::invalid(format!(
                    "SCATTER_ND: shape operand {got:?} at {i} differs from the planned output \
                     shape {planned:?}"
                )));
            }
        }
        check_len(self.name, upd.bytes.len(), self.slices * row)?;
        check_len(self.name, out.bytes.len(), self.out_elems * es)?;
        out.bytes[..self.out_elems * es].fill(0);
        for i in 0..self.slices {
            let to = slice_offset(
                "SCATTER_ND",
                idx.info.dtype,
                idx.bytes,
                i,
                &self.dims,
                &self.dim_strides,
            )? * es;
            add_slice(
                self.dtype,
                &mut out.bytes[to..to + row],
                &upd.bytes[i * row..(i + 1) * row],
            );
        }
        Ok(())
    }
}

pub(super) fn scatter_nd(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "SCATTER_ND";
    node.expect_inputs(3, 3)?;
    node.expect_outputs(1)?;
    let (idx, upd, shape, output) = (
        node.input(0)?,
        node.input(1)?,
        node.input(2)?,
        node.output(0)?,
    );
    same_dtype(OP, upd, output)?;
    crate::ensure!(
        matches!(
            upd.dtype,
            DType::Float32 | DType::UInt8 | DType::Int8 | DType::Int32 | DType::Int64
        ),
        "{OP}: updates '{}' are {}; LiteRT scatters float32, uint8, int8, int32 and int64",
        upd.name,
        upd.dtype
    );
    crate::ensure!(
        idx.dtype == DType::Int32 && shape.dtype == DType::Int32,
        "{OP}: indices '{}' and shape '{}' are {} and {}; LiteRT takes int32 for both",
        idx.name,
        shape.name,
        idx.dtype,
        shape.dtype
    );
    let out_rank = output.rank();
    crate::ensure!(
        shape.rank() == 1 && shape.num_elements() == out_rank,
        "{OP}: shape '{}' {:?} does not describe the rank-{out_rank} output",
        shape.name,
        shape.shape
    );
    if let Some(values) = const_ints(node, 2)? {
        crate::ensure!(
            values
                .iter()
                .zip(&output.shape)
                .all(|(&v, &d)| v == d as i64),
            "{OP}: shape {values:?} differs from output '{}' {:?}",
            output.name,
            output.shape
        );
    }
    let Some((&ix, outer)) = idx.shape.split_last() else {
        return Err(KernelError::invalid(format!(
            "{OP}: indices '{}' are a scalar",
            idx.name
        )));
    };
    let od = outer.len();
    crate::ensure!(
        ix <= out_rank
            && upd.rank() >= od
            && upd.shape[..od] == *outer
            && upd.shape[od..] == output.shape[ix..],
        "{OP}: indices {:?} and updates {:?} do not fit the output {:?}",
        idx.shape,
        upd.shape,
        output.shape
    );
    let dims = output.shape[..ix].to_vec();
    check_const_rows(OP, node, 0, &dims)?;
    let dim_strides = strides(&output.shape)[..ix].to_vec();
    Ok(Box::new(ScatterNd {
        name: kernel_name!("scatter_nd", upd.dtype),
        dtype: upd.dtype,
        dims,
        dim_strides,
        slices: product(outer),
        slice: product(&output.shape[ix..]),
        out_elems: output.num_elements(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, make_kernel, run_node};
    use crate::{KernelError, ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn gather_nd_rows_and_elements() {
        let p: Vec<f32> = (0..12).map(|v| v as f32).collect();
        // Index pairs into [3, 4]: elements.
        let inputs = [
            Some(TestInput::from_slice(ti("p", DType::Float32, &[3, 4]), &p)),
            Some(TestInput::from_slice(
                ti("i", DType::Int32, &[2, 2]),
                &[2i32, 1, 0, 3],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::GatherNd,
            &inputs,
            &[ti("y", DType::Float32, &[2])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, f32>(&got[0]), &[9., 3.]);
        // Single indices: rows.
        let inputs = [
            Some(TestInput::from_slice(ti("p", DType::Float32, &[3, 4]), &p)),
            Some(TestInput::from_slice(
                ti("i", DType::Int64, &[1, 1]),
                &[1i64],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::GatherNd,
            &inputs,
            &[ti("y", DType::Float32, &[1, 4])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, f32>(&got[0]), &[4., 5., 6., 7.]);
        // Out of range, computed: an error at run time.
        let inputs = [
            Some(TestInput::from_slice(ti("p", DType::Float32, &[3, 4]), &p)),
            Some(TestInput::from_slice(
                ti("i", DType::Int32, &[1, 2]),
                &[0i32, 4],
            )),
        ];
        assert!(matches!(
            run_node(
                &ScalarBackend,
                &Op::GatherNd,
                &inputs,
                &[ti("y", DType::Float32, &[1])]
            ),
            Err(KernelError::Invalid(_))
        ));
    }

    #[test]
    fn scatter_nd_adds_duplicates() {
        let inputs = [
            Some(TestInput::from_slice(
                ti("i", DType::Int32, &[3, 1]),
                &[1i32, 3, 1],
            )),
            Some(TestInput::from_slice(
                ti("u", DType::Int8, &[3]),
                &[5i8, 7, 127],
            )),
            Some(TestInput::const_from_slice(
                ti("s", DType::Int32, &[1]),
                &[4i32],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::ScatterNd,
            &inputs,
            &[ti("y", DType::Int8, &[4])],
        )
        .unwrap();
        // 5 + 127 wraps in int8, as LiteRT's C++ does.
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[0, -124, 0, 7]);
        let bad = [
            Some(TestInput::const_from_slice(
                ti("i", DType::Int32, &[1, 1]),
                &[4i32],
            )),
            Some(TestInput::from_slice(ti("u", DType::Int8, &[1]), &[1i8])),
            Some(TestInput::const_from_slice(
                ti("s", DType::Int32, &[1]),
                &[4i32],
            )),
        ];
        assert!(
            make_kernel(
                &ScalarBackend,
                &Op::ScatterNd,
                &bad,
                &[ti("y", DType::Int8, &[4])]
            )
            .is_err()
        );
    }
}

//! TOPK_V2: the `k` largest values of each row (the last axis), largest first, with their
//! int32 indices. Ties keep the lower index first, as LiteRT's `TopContainer` orders them
//! (value descending, then index ascending: a total order, so the result does not depend on
//! the selection algorithm). Float zeros of either sign tie; NaN, which LiteRT's comparison
//! leaves unordered, sorts above every number here.

use super::util::{check_len, const_ints, int_at, kernel_name, require_elem_size, same_dtype};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;
use tflrs_ir::DType;

#[derive(Debug)]
struct TopK {
    name: &'static str,
    dtype: DType,
    esize: usize,
    rows: usize,
    row: usize,
    k: usize,
    /// Index scratch of one row (allocated at preparation).
    order: Vec<u32>,
}

/// Element `i` of `bytes` as a sortable key: floats by IEEE total order with `-0.0` read as
/// `+0.0`, integers widened.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Key {
    F(f32),
    I(i64),
}

fn key(dtype: DType, bytes: &[u8], i: usize) -> Key {
    if dtype == DType::Float32 {
        let b = bytes.get(i * 4..i * 4 + 4).unwrap_or(&[0; 4]);
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        Key::F(if v == 0.0 { 0.0 } else { v })
    } else {
        Key::I(int_at(dtype, bytes, i).unwrap_or(0))
    }
}

fn cmp_key(a: Key, b: Key) -> Ordering {
    match (a, b) {
        (Key::F(x), Key::F(y)) => x.total_cmp(&y),
        (Key::I(x), Key::I(y)) => x.cmp(&y),
        _ => Ordering::Equal,
    }
}

impl Kernel for TopK {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (input, kt) = (inputs.get(0)?, inputs.get(1)?);
        let k = int_at(kt.info.dtype, kt.bytes, 0);
        if k != Some(self.k as i64) {
            return Err(KernelError::invalid(format!(
                "TOPK_V2: k is {k:?}, the outputs were planned for {}",
                self.k
            )));
        }
        let (es, row, k) = (self.esize, self.row, self.k);
        check_len(self.name, input.bytes.len(), self.rows * row * es)?;
        let dtype = self.dtype;
        {
            let values = outputs.get(0)?;
            check_len(self.name, values.bytes.len(), self.rows * k * es)?;
        }
        {
            let idx = outputs.get(1)?;
            check_len(self.name, idx.bytes.len(), self.rows * k * 4)?;
        }
        for r in 0..self.rows {
            let data = &input.bytes[r * row * es..(r + 1) * row * es];
            let order = &mut self.order[..row];
            for (i, o) in order.iter_mut().enumerate() {
                *o = i as u32;
            }
            // Largest first; equal values by ascending index.
            let by = |a: &u32, b: &u32| {
                cmp_key(key(dtype, data, *b as usize), key(dtype, data, *a as usize)).then(a.cmp(b))
            };
            if k > 0 && k < row {
                order.select_nth_unstable_by(k - 1, by);
            }
            order[..k].sort_unstable_by(by);
            let values = outputs.get(0)?;
            for (j, &i) in order[..k].iter().enumerate() {
                let to = (r * k + j) * es;
                let from = i as usize * es;
                values.bytes[to..to + es].copy_from_slice(&data[from..from + es]);
            }
            let idx = outputs.get(1)?;
            for (j, &i) in order[..k].iter().enumerate() {
                let to = (r * k + j) * 4;
                idx.bytes[to..to + 4].copy_from_slice(&(i as i32).to_le_bytes());
            }
        }
        Ok(())
    }
}

pub(super) fn topk_v2(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "TOPK_V2";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(2)?;
    let (input, kt) = (node.input(0)?, node.input(1)?);
    let (values, indices) = (node.output(0)?, node.output(1)?);
    same_dtype(OP, input, values)?;
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
        "{OP}: input '{}' is {}; LiteRT's TOPK_V2 takes float32, uint8, int8, int16, int32 \
         and int64",
        input.name,
        input.dtype
    );
    let esize = require_elem_size(OP, input)?;
    crate::ensure!(
        kt.dtype == DType::Int32 && kt.num_elements() == 1,
        "{OP}: k '{}' must be one int32 value",
        kt.name
    );
    crate::ensure!(
        indices.dtype == DType::Int32,
        "{OP}: indices output '{}' is {}, expected int32",
        indices.name,
        indices.dtype
    );
    let Some((&row, lead)) = input.shape.split_last() else {
        return Err(KernelError::invalid(format!(
            "{OP}: input '{}' is a scalar",
            input.name
        )));
    };
    let k = values.shape.last().copied().unwrap_or(0);
    let mut want = lead.to_vec();
    want.push(k);
    crate::ensure!(
        values.shape == want && indices.shape == want && k <= row,
        "{OP}: outputs {:?} and {:?} do not fit input {:?} (k at most {row})",
        values.shape,
        indices.shape,
        input.shape
    );
    if let Some(c) = const_ints(node, 1)? {
        crate::ensure!(
            c.first() == Some(&(k as i64)),
            "{OP}: k {c:?} differs from the outputs' last dimension {k}"
        );
    }
    crate::ensure!(
        u32::try_from(row).is_ok() && i32::try_from(row).is_ok(),
        "{OP}: rows of {row} elements are too long for int32 indices"
    );
    Ok(Box::new(TopK {
        name: kernel_name!("topk_v2", input.dtype),
        dtype: input.dtype,
        esize,
        rows: lead.iter().product(),
        row,
        k,
        order: vec![0; row],
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
    fn ties_keep_the_lower_index() {
        let x = [1.0f32, 3.0, -0.0, 3.0, 0.0, 2.0, 5.0, 5.0];
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Float32, &[2, 4]), &x)),
            Some(TestInput::const_from_slice(
                ti("k", DType::Int32, &[]),
                &[3i32],
            )),
        ];
        let outs = [
            ti("v", DType::Float32, &[2, 3]),
            ti("i", DType::Int32, &[2, 3]),
        ];
        let got = run_node(&ScalarBackend, &Op::TopkV2, &inputs, &outs).unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[3., 3., 1., 5., 5., 2.]
        );
        assert_eq!(
            bytemuck::cast_slice::<u8, i32>(&got[1]),
            &[1, 3, 0, 2, 3, 1]
        );
        // Signed zeros tie: the earlier one comes first.
        let x = [-0.0f32, 0.0, -1.0];
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Float32, &[3]), &x)),
            Some(TestInput::const_from_slice(
                ti("k", DType::Int32, &[1]),
                &[2i32],
            )),
        ];
        let outs = [ti("v", DType::Float32, &[2]), ti("i", DType::Int32, &[2])];
        let got = run_node(&ScalarBackend, &Op::TopkV2, &inputs, &outs).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[1]), &[0, 1]);
    }
}

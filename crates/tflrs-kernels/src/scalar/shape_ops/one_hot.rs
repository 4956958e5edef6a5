//! ONE_HOT (`on_value` where the index equals the position along the new axis, `off_value`
//! elsewhere; LiteRT compares the index cast to `int`, so int64 indices are truncated as
//! there) and WHERE (the coordinates of the non-zero elements, int64 `[count, rank]`).
//!
//! WHERE's output shape is the number of true elements, known only from the values. tflrs
//! plans every shape before running: a constant input's coordinates are computed at
//! preparation; when the input is a model input, the runtime counts its true elements when
//! planning and plans again when the input's values change (as for other inputs whose values
//! decide shapes). A WHERE on values computed inside the model cannot be planned: the runtime
//! refuses it at `build()`; a run whose count differs from the planned shape fails.

use super::util::{check_len, const_ints, int_at, kernel_name, require_elem_size, same_dtype};
use crate::kernel::{KernelIo, NodeCtx};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, OneHotAttrs};

#[derive(Debug)]
struct OneHot {
    name: &'static str,
    esize: usize,
    prefix: usize,
    depth: usize,
    suffix: usize,
}

impl Kernel for OneHot {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (idx, depth, on, off) = (
            inputs.get(0)?,
            inputs.get(1)?,
            inputs.get(2)?,
            inputs.get(3)?,
        );
        let out = outputs.get(0)?;
        let d = int_at(depth.info.dtype, depth.bytes, 0);
        if d != Some(self.depth as i64) {
            return Err(KernelError::invalid(format!(
                "ONE_HOT: depth is {d:?}, the output was planned for {}",
                self.depth
            )));
        }
        let es = self.esize;
        check_len(self.name, on.bytes.len(), es)?;
        check_len(self.name, off.bytes.len(), es)?;
        check_len(
            self.name,
            out.bytes.len(),
            self.prefix * self.depth * self.suffix * es,
        )?;
        let (on, off) = (&on.bytes[..es], &off.bytes[..es]);
        let mut at = 0;
        for i in 0..self.prefix {
            for j in 0..self.depth {
                for k in 0..self.suffix {
                    let v = int_at(idx.info.dtype, idx.bytes, i * self.suffix + k).ok_or_else(
                        || KernelError::invalid("ONE_HOT: indices are too short".into()),
                    )?;
                    let hit = v as i32 as i64 == j as i64;
                    out.bytes[at..at + es].copy_from_slice(if hit { on } else { off });
                    at += es;
                }
            }
        }
        Ok(())
    }
}

pub(super) fn one_hot(
    node: &NodeCtx<'_>,
    attrs: &OneHotAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "ONE_HOT";
    node.expect_inputs(4, 4)?;
    node.expect_outputs(1)?;
    let (idx, depth, on, off, output) = (
        node.input(0)?,
        node.input(1)?,
        node.input(2)?,
        node.input(3)?,
        node.output(0)?,
    );
    same_dtype(OP, on, output)?;
    same_dtype(OP, off, output)?;
    crate::ensure!(
        matches!(
            output.dtype,
            DType::Float32 | DType::Int32 | DType::Int64 | DType::Int8 | DType::UInt8 | DType::Bool
        ),
        "{OP}: output '{}' is {}; LiteRT's ONE_HOT writes float32, int32, int64, int8, uint8 \
         and bool",
        output.name,
        output.dtype
    );
    let esize = require_elem_size(OP, output)?;
    crate::ensure!(
        matches!(idx.dtype, DType::Int32 | DType::Int64),
        "{OP}: indices '{}' are {}, expected int32 or int64",
        idx.name,
        idx.dtype
    );
    crate::ensure!(
        depth.dtype == DType::Int32
            && depth.num_elements() == 1
            && on.num_elements() == 1
            && off.num_elements() == 1,
        "{OP}: depth (int32), on_value and off_value must hold one value each"
    );
    let rank = idx.rank();
    let axis = if attrs.axis == -1 {
        rank
    } else {
        usize::try_from(attrs.axis)
            .ok()
            .filter(|&a| a <= rank)
            .ok_or_else(|| {
                KernelError::invalid(format!("{OP}: axis {} is out of range", attrs.axis))
            })?
    };
    crate::ensure!(
        output.rank() == rank + 1,
        "{OP}: output {:?} for indices {:?}",
        output.shape,
        idx.shape
    );
    let d = output.shape[axis];
    let mut want = idx.shape.clone();
    want.insert(axis, d);
    crate::ensure!(
        output.shape == want,
        "{OP}: output {:?}, expected {want:?}",
        output.shape
    );
    if let Some(c) = const_ints(node, 1)? {
        crate::ensure!(
            c.first() == Some(&(d as i64)),
            "{OP}: depth {c:?} differs from the output's dimension {d}"
        );
    }
    Ok(Box::new(OneHot {
        name: kernel_name!("one_hot", output.dtype),
        esize,
        prefix: idx.shape[..axis].iter().product(),
        depth: d,
        suffix: idx.shape[axis..].iter().product(),
    }))
}

/// WHERE on a computed input: the plan's output holds `count` rows, which the runtime made
/// from the input's values (a model input whose values decide the shape, re-planned when they
/// change); a run whose input has another number of true elements is refused.
#[derive(Debug)]
struct Where {
    name: &'static str,
    esize: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
    count: usize,
}

impl Kernel for Where {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(0)?;
        let out = outputs.get(0)?;
        let n: usize = self.shape.iter().product();
        let rank = self.shape.len();
        check_len(self.name, input.bytes.len(), n * self.esize)?;
        check_len(self.name, out.bytes.len(), self.count * rank * 8)?;
        let found = (0..n)
            .filter(|&i| truthy(input.info, input.bytes, i, self.esize))
            .count();
        if found != self.count {
            return Err(KernelError::invalid(format!(
                "WHERE: the input has {found} true elements, but the output was planned for {} \
                 (its shape depends on values tflrs could not know when planning)",
                self.count
            )));
        }
        let mut at = 0;
        for i in (0..n).filter(|&i| truthy(input.info, input.bytes, i, self.esize)) {
            for (k, &s) in self.strides.iter().enumerate() {
                let c = (i / s.max(1)) % self.shape[k].max(1);
                out.bytes[at..at + 8].copy_from_slice(&(c as i64).to_le_bytes());
                at += 8;
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ConstWhere {
    name: &'static str,
    bytes: Vec<u8>,
}

impl Kernel for ConstWhere {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (_, mut outputs, _, _) = io.split();
        let out = outputs.get(0)?;
        let n = self.bytes.len();
        check_len(self.name, out.bytes.len(), n)?;
        out.bytes[..n].copy_from_slice(&self.bytes);
        Ok(())
    }
}

/// Whether element `i` of a WHERE input is non-zero (`-0.0` is zero).
fn truthy(info: &TensorInfo, bytes: &[u8], i: usize, esize: usize) -> bool {
    let b = bytes.get(i * esize..(i + 1) * esize).unwrap_or(&[]);
    match info.dtype {
        DType::Float32 => b.len() == 4 && f32::from_le_bytes([b[0], b[1], b[2], b[3]]) != 0.0,
        _ => b.iter().any(|&x| x != 0),
    }
}

pub(super) fn where_op(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "WHERE";
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    crate::ensure!(
        matches!(
            input.dtype,
            DType::Bool
                | DType::Float32
                | DType::Int8
                | DType::UInt8
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::UInt32
        ),
        "{OP}: input '{}' is {}, which LiteRT's WHERE does not take",
        input.name,
        input.dtype
    );
    crate::ensure!(
        output.dtype == DType::Int64,
        "{OP}: output '{}' is {}, expected int64",
        output.name,
        output.dtype
    );
    let esize = require_elem_size(OP, input)?;
    let Some(data) = node.constant(0) else {
        crate::ensure!(
            output.rank() == 2 && output.shape[1] == input.rank(),
            "{OP}: output '{}' {:?}, expected [count, {}]",
            output.name,
            output.shape,
            input.rank()
        );
        return Ok(Box::new(Where {
            name: kernel_name!("where", input.dtype),
            esize,
            shape: input.shape.clone(),
            strides: super::util::strides(&input.shape),
            count: output.shape[0],
        }));
    };
    let rank = input.rank();
    let n = input.num_elements();
    check_len(OP, data.len(), n * esize)?;
    let st = super::util::strides(&input.shape);
    let mut bytes = Vec::new();
    let mut count = 0usize;
    for i in 0..n {
        if truthy(input, data, i, esize) {
            count += 1;
            for (k, &s) in st.iter().enumerate() {
                let c = (i / s.max(1)) % input.shape[k].max(1);
                bytes.extend_from_slice(&(c as i64).to_le_bytes());
            }
        }
    }
    crate::ensure!(
        output.shape == [count, rank],
        "{OP}: output '{}' {:?}, but the constant input has {count} true elements",
        output.name,
        output.shape
    );
    Ok(Box::new(ConstWhere {
        name: kernel_name!("where", input.dtype),
        bytes,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, make_kernel, run_node};
    use crate::{KernelError, ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, OneHotAttrs, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn one_hot_axis0() {
        let inputs = [
            Some(TestInput::from_slice(
                ti("i", DType::Int32, &[3]),
                &[2i32, -1, 0],
            )),
            Some(TestInput::const_from_slice(
                ti("d", DType::Int32, &[]),
                &[3i32],
            )),
            Some(TestInput::from_slice(
                ti("on", DType::Float32, &[]),
                &[5.0f32],
            )),
            Some(TestInput::from_slice(
                ti("off", DType::Float32, &[]),
                &[-1.0f32],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::OneHot(OneHotAttrs { axis: 0 }),
            &inputs,
            &[ti("y", DType::Float32, &[3, 3])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[-1., -1., 5., -1., -1., -1., 5., -1., -1.]
        );
    }

    #[test]
    fn where_constant_and_computed() {
        let x = [false as u8, true as u8, true as u8, false as u8];
        let inputs = [Some(TestInput::const_from_slice(
            ti("c", DType::Bool, &[2, 2]),
            &x,
        ))];
        let got = run_node(
            &ScalarBackend,
            &Op::Where,
            &inputs,
            &[ti("y", DType::Int64, &[2, 2])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i64>(&got[0]), &[0, 1, 1, 0]);
        // Computed: the planned count must match the values.
        let inputs = [Some(TestInput::from_slice(
            ti("c", DType::Bool, &[2, 2]),
            &x,
        ))];
        let got = run_node(
            &ScalarBackend,
            &Op::Where,
            &inputs,
            &[ti("y", DType::Int64, &[2, 2])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i64>(&got[0]), &[0, 1, 1, 0]);
        assert!(matches!(
            run_node(
                &ScalarBackend,
                &Op::Where,
                &inputs,
                &[ti("y", DType::Int64, &[3, 2])]
            ),
            Err(KernelError::Invalid(_))
        ));
        assert!(
            make_kernel(
                &ScalarBackend,
                &Op::Where,
                &inputs,
                &[ti("y", DType::Int64, &[2])]
            )
            .is_err()
        );
    }
}

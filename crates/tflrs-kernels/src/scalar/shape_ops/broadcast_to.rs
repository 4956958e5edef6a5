//! BROADCAST_TO and REVERSE_V2: strided copies ([`CopyPlan`]) whose source steps are 0 along
//! broadcast dimensions (LiteRT's `reference_ops::BroadcastTo`, at most 8 dimensions) or
//! negative along reversed axes (`reference_ops::Reverse`).
//!
//! REVERSE_V2 takes any set of distinct axes (negative ones count from the end); LiteRT's
//! kernel refuses axes that are not contiguous, which tflrs reverses all the same.
//!
//! BROADCAST_TO's shape operand must agree with the output shape the plan was made for: a
//! constant is checked at preparation, a computed one at each run. REVERSE_V2's axes are read
//! at run time when computed; the plan is then rebuilt on the stack.

use super::util::{
    CopyPlan, check_len, const_ints, int_at, kernel_name, require_elem_size, same_dtype, strides,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::DType;

/// LiteRT's `BroadcastTo` handles at most this many dimensions.
const MAX_BROADCAST_DIMS: usize = 8;

#[derive(Debug)]
struct BroadcastTo {
    name: &'static str,
    esize: usize,
    plan: CopyPlan,
    in_elems: usize,
    out_shape: Vec<usize>,
}

impl Kernel for BroadcastTo {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (input, shape) = (inputs.get(0)?, inputs.get(1)?);
        let out = outputs.get(0)?;
        for (i, &want) in self.out_shape.iter().enumerate() {
            let got = int_at(shape.info.dtype, shape.bytes, i);
            if got != Some(want as i64) {
                return Err(KernelError::invalid(format!(
                    "BROADCAST_TO: shape operand {got:?} at {i} differs from the planned output \
                     shape {:?}",
                    self.out_shape
                )));
            }
        }
        check_len(self.name, input.bytes.len(), self.in_elems * self.esize)?;
        check_len(
            self.name,
            out.bytes.len(),
            self.out_shape.iter().product::<usize>() * self.esize,
        )?;
        self.plan.run(input.bytes, out.bytes, self.esize);
        Ok(())
    }
}

pub(super) fn broadcast_to(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "BROADCAST_TO";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, shape, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(OP, input, output)?;
    let esize = require_elem_size(OP, input)?;
    crate::ensure!(
        matches!(shape.dtype, DType::Int32 | DType::Int64),
        "{OP}: shape '{}' is {}, expected int32 or int64",
        shape.name,
        shape.dtype
    );
    let (rank, out_rank) = (input.rank(), output.rank());
    crate::ensure!(
        out_rank <= MAX_BROADCAST_DIMS && rank <= out_rank,
        "{OP}: input rank {rank} and output rank {out_rank} (LiteRT allows output ranks up to \
         {MAX_BROADCAST_DIMS}, not below the input's)"
    );
    crate::ensure!(
        shape.num_elements() == out_rank,
        "{OP}: shape '{}' has {} values for output rank {out_rank}",
        shape.name,
        shape.num_elements()
    );
    if let Some(values) = const_ints(node, 1)? {
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
    let lead = out_rank - rank;
    let (in_st, out_st) = (strides(&input.shape), strides(&output.shape));
    let mut plan = CopyPlan::new(0, 0);
    for (k, &n) in output.shape.iter().enumerate() {
        let src = match k.checked_sub(lead) {
            None => 0,
            Some(j) if input.shape[j] == n => in_st[j] as isize,
            Some(j) if input.shape[j] == 1 => 0,
            Some(j) => {
                return Err(KernelError::invalid(format!(
                    "{OP}: input {:?} does not broadcast to {:?} (dimension {j})",
                    input.shape, output.shape
                )));
            }
        };
        plan.push(n, src, out_st[k] as isize)?;
    }
    plan.check(input.num_elements(), output.num_elements())?;
    Ok(Box::new(BroadcastTo {
        name: kernel_name!("broadcast_to", input.dtype),
        esize,
        plan,
        in_elems: input.num_elements(),
        out_shape: output.shape.clone(),
    }))
}

#[derive(Debug)]
struct Reverse {
    name: &'static str,
    esize: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
    /// The axes when they are constant.
    fixed: Option<CopyPlan>,
}

/// The copy that reverses `shape` along the axes flagged in `mask` (bit `k`: axis `k`).
/// `st` holds `shape`'s row-major strides (computed at preparation: `run` must not allocate).
fn reverse_plan(shape: &[usize], st: &[usize], mask: u32) -> Result<CopyPlan, KernelError> {
    let mut base = 0i64;
    for (k, &n) in shape.iter().enumerate() {
        if mask & (1 << k) != 0 && n > 0 {
            base += (n as i64 - 1) * st[k] as i64;
        }
    }
    let mut plan = CopyPlan::new(base, 0);
    for (k, &n) in shape.iter().enumerate() {
        let s = st[k] as isize;
        plan.push(n, if mask & (1 << k) != 0 { -s } else { s }, s)?;
    }
    let total = shape.iter().product();
    plan.check(total, total)?;
    Ok(plan)
}

/// The axis mask of `axes` (negative axes count from the end; repeats are refused).
fn axis_mask(axes: impl Iterator<Item = Option<i64>>, rank: usize) -> Result<u32, KernelError> {
    let mut mask = 0u32;
    for a in axes {
        let a = a.ok_or_else(|| KernelError::invalid("REVERSE_V2: axes are too short".into()))?;
        let k = super::util::resolve_axis(a, rank).ok_or_else(|| {
            KernelError::invalid(format!(
                "REVERSE_V2: axis {a} is out of range for rank {rank}"
            ))
        })?;
        crate::ensure!(mask & (1 << k) == 0, "REVERSE_V2: axis {a} is repeated");
        mask |= 1 << k;
    }
    Ok(mask)
}

impl Kernel for Reverse {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (input, axes) = (inputs.get(0)?, inputs.get(1)?);
        let out = outputs.get(0)?;
        let total: usize = self.shape.iter().product();
        check_len(self.name, input.bytes.len(), total * self.esize)?;
        check_len(self.name, out.bytes.len(), total * self.esize)?;
        let plan = match self.fixed {
            Some(p) => p,
            None => {
                let n = axes.info.num_elements();
                let mask = axis_mask(
                    (0..n).map(|i| int_at(axes.info.dtype, axes.bytes, i)),
                    self.shape.len(),
                )?;
                reverse_plan(&self.shape, &self.strides, mask)?
            }
        };
        plan.run(input.bytes, out.bytes, self.esize);
        Ok(())
    }
}

pub(super) fn reverse_v2(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "REVERSE_V2";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, axes, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(OP, input, output)?;
    crate::ensure!(
        matches!(
            input.dtype,
            DType::Float32
                | DType::UInt8
                | DType::Int8
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::Bool
        ),
        "{OP}: input '{}' is {}; LiteRT reverses float32, uint8, int8, int16, int32, int64 and \
         bool",
        input.name,
        input.dtype
    );
    let esize = require_elem_size(OP, input)?;
    crate::ensure!(
        axes.dtype == DType::Int32 && axes.rank() == 1 && axes.num_elements() <= input.rank(),
        "{OP}: axes '{}' must be an int32 vector of at most {} values",
        axes.name,
        input.rank()
    );
    crate::ensure!(
        input.shape == output.shape,
        "{OP}: output {:?} differs from input {:?}",
        output.shape,
        input.shape
    );
    crate::ensure!(
        input.rank() <= 16,
        "{OP}: rank {} is above 16",
        input.rank()
    );
    let fixed = match const_ints(node, 1)? {
        Some(a) => Some(reverse_plan(
            &input.shape,
            &strides(&input.shape),
            axis_mask(a.into_iter().map(Some), input.rank())?,
        )?),
        None => None,
    };
    Ok(Box::new(Reverse {
        name: kernel_name!("reverse_v2", input.dtype),
        esize,
        shape: input.shape.clone(),
        strides: strides(&input.shape),
        fixed,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, make_kernel, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn broadcast_to_rank_up() {
        let inputs = [
            Some(TestInput::from_slice(
                ti("x", DType::Int8, &[3, 1]),
                &[1i8, 2, 3],
            )),
            Some(TestInput::const_from_slice(
                ti("s", DType::Int32, &[3]),
                &[2i32, 3, 2],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::BroadcastTo,
            &inputs,
            &[ti("y", DType::Int8, &[2, 3, 2])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, i8>(&got[0]),
            &[1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]
        );
        // A shape that does not broadcast is refused.
        let bad = [
            Some(TestInput::from_slice(
                ti("x", DType::Int8, &[3, 2]),
                &[0i8; 6],
            )),
            Some(TestInput::const_from_slice(
                ti("s", DType::Int32, &[2]),
                &[3i32, 3],
            )),
        ];
        assert!(
            make_kernel(
                &ScalarBackend,
                &Op::BroadcastTo,
                &bad,
                &[ti("y", DType::Int8, &[3, 3])]
            )
            .is_err()
        );
    }

    #[test]
    fn reverse_two_axes_and_computed() {
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let out = [ti("y", DType::Float32, &[2, 3])];
        for constant in [true, false] {
            let axes = ti("a", DType::Int32, &[2]);
            let axes = if constant {
                TestInput::const_from_slice(axes, &[0i32, -1])
            } else {
                TestInput::from_slice(axes, &[0i32, -1])
            };
            let inputs = [
                Some(TestInput::from_slice(ti("x", DType::Float32, &[2, 3]), &x)),
                Some(axes),
            ];
            let got = run_node(&ScalarBackend, &Op::ReverseV2, &inputs, &out).unwrap();
            assert_eq!(
                bytemuck::cast_slice::<u8, f32>(&got[0]),
                &[5., 4., 3., 2., 1., 0.]
            );
        }
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Float32, &[2, 3]), &x)),
            Some(TestInput::from_slice(ti("a", DType::Int32, &[1]), &[2i32])),
        ];
        assert!(run_node(&ScalarBackend, &Op::ReverseV2, &inputs, &out).is_err());
    }
}

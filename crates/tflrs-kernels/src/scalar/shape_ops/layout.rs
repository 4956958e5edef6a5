//! TRANSPOSE, TILE, DEPTH_TO_SPACE and SPACE_TO_DEPTH: each output element is one input
//! element at a strided position, so each is one [`CopyPlan`].

use super::util::{
    CopyPlan, MAX_DIMS, check_len, const_ints, expect_shape, int_at, is_index_type, kernel_name,
    require_elem_size, same_dtype, strides,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DepthToSpaceAttrs, SpaceToDepthAttrs};

/// How the plan of a [`PlanKernel`] is obtained.
#[derive(Debug)]
enum Source {
    /// Built at preparation.
    Fixed(Box<CopyPlan>),
    /// TRANSPOSE with a computed permutation (input 1).
    Transpose {
        in_shape: Vec<usize>,
        out_shape: Vec<usize>,
    },
    /// TILE with computed multiples (input 1).
    Tile {
        in_shape: Vec<usize>,
        out_shape: Vec<usize>,
    },
}

/// Runs one strided copy from input 0 to output 0.
#[derive(Debug)]
struct PlanKernel {
    name: &'static str,
    esize: usize,
    in_elems: usize,
    out_elems: usize,
    source: Source,
}

impl Kernel for PlanKernel {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(0)?;
        let plan = match &self.source {
            Source::Fixed(p) => **p,
            Source::Transpose {
                in_shape,
                out_shape,
            } => {
                let perm = inputs.get(1)?;
                let mut p = [0usize; MAX_DIMS];
                let rank = in_shape.len();
                for (i, slot) in p.iter_mut().enumerate().take(rank) {
                    let v = int_at(perm.info.dtype, perm.bytes, i).ok_or_else(|| {
                        KernelError::invalid("TRANSPOSE: permutation is too short".into())
                    })?;
                    // Negative entries count from the end, as LiteRT allows.
                    let v = if v < 0 { v + rank as i64 } else { v };
                    *slot = usize::try_from(v).unwrap_or(usize::MAX);
                }
                transpose_plan(in_shape, out_shape, &p[..rank])?
            }
            Source::Tile {
                in_shape,
                out_shape,
            } => {
                let m = inputs.get(1)?;
                let mut mult = [0usize; MAX_DIMS];
                for (i, slot) in mult.iter_mut().enumerate().take(in_shape.len()) {
                    let v = int_at(m.info.dtype, m.bytes, i).ok_or_else(|| {
                        KernelError::invalid("TILE: multiples are too short".into())
                    })?;
                    *slot = usize::try_from(v).map_err(|_| {
                        KernelError::invalid(format!("TILE: multiple {v} is negative"))
                    })?;
                }
                tile_plan(in_shape, out_shape, &mult[..in_shape.len()])?
            }
        };
        plan.check(self.in_elems, self.out_elems)?;
        let out = outputs.get(0)?;
        check_len(self.name, input.bytes.len(), self.in_elems * self.esize)?;
        check_len(self.name, out.bytes.len(), self.out_elems * self.esize)?;
        plan.run(input.bytes, out.bytes, self.esize);
        Ok(())
    }
}

/// The copy for `out[i_0..] = in[i at perm]`, after checking that `perm` is a permutation and
/// that `out_shape` is the permuted input shape.
fn transpose_plan(
    in_shape: &[usize],
    out_shape: &[usize],
    perm: &[usize],
) -> Result<CopyPlan, KernelError> {
    let rank = in_shape.len();
    let mut seen = 0u32;
    for &p in perm {
        if p >= rank || seen & (1 << p) != 0 {
            return Err(KernelError::invalid(format!(
                "TRANSPOSE: {perm:?} is not a permutation of {rank} dimensions"
            )));
        }
        seen |= 1 << p;
    }
    if out_shape.len() != rank || perm.iter().zip(out_shape).any(|(&p, &o)| in_shape[p] != o) {
        return Err(KernelError::invalid(format!(
            "TRANSPOSE: output shape {out_shape:?} is not input shape {in_shape:?} permuted by {perm:?}"
        )));
    }
    let mut in_strides = [0usize; MAX_DIMS];
    let mut s = 1usize;
    for i in (0..rank).rev() {
        in_strides[i] = s;
        s = s.saturating_mul(in_shape[i]);
    }
    let mut out_strides = [0usize; MAX_DIMS];
    let mut s = 1usize;
    for i in (0..rank).rev() {
        out_strides[i] = s;
        s = s.saturating_mul(out_shape[i]);
    }
    let mut plan = CopyPlan::new(0, 0);
    for i in 0..rank {
        plan.push(
            out_shape[i],
            in_strides[perm[i]] as isize,
            out_strides[i] as isize,
        )?;
    }
    Ok(plan)
}

/// The copy for TILE: output dimension `i` walks `multiples[i]` repeats (source step 0) of
/// the input dimension.
fn tile_plan(
    in_shape: &[usize],
    out_shape: &[usize],
    multiples: &[usize],
) -> Result<CopyPlan, KernelError> {
    let rank = in_shape.len();
    let ok = out_shape.len() == rank
        && (0..rank).all(|i| in_shape[i].checked_mul(multiples[i]) == Some(out_shape[i]));
    if !ok {
        return Err(KernelError::invalid(format!(
            "TILE: output shape {out_shape:?} is not input shape {in_shape:?} times {multiples:?}"
        )));
    }
    let (is, os) = (strides(in_shape), strides(out_shape));
    let mut plan = CopyPlan::new(0, 0);
    for i in 0..rank {
        plan.push(multiples[i], 0, (os[i] * in_shape[i]) as isize)?;
        plan.push(in_shape[i], is[i] as isize, os[i] as isize)?;
    }
    Ok(plan)
}

pub(super) fn transpose(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, perm, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype("TRANSPOSE", input, output)?;
    let esize = require_elem_size("TRANSPOSE", input)?;
    let rank = input.rank();
    crate::ensure!(
        rank <= 6,
        "TRANSPOSE: rank {rank} is above the 6 LiteRT supports"
    );
    crate::ensure!(
        is_index_type(perm.dtype) && perm.num_elements() == rank,
        "TRANSPOSE: permutation '{}' must hold {rank} int32 or int64 values",
        perm.name
    );
    let source = match const_ints(node, 1)? {
        Some(p) => {
            // Negative entries count from the end, as LiteRT allows.
            let p: Vec<usize> = p
                .iter()
                .map(|&v| if v < 0 { v + rank as i64 } else { v })
                .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
                .collect();
            Source::Fixed(Box::new(transpose_plan(&input.shape, &output.shape, &p)?))
        }
        None => Source::Transpose {
            in_shape: input.shape.clone(),
            out_shape: output.shape.clone(),
        },
    };
    Ok(Box::new(PlanKernel {
        name: kernel_name!("transpose", input.dtype),
        esize,
        in_elems: input.num_elements(),
        out_elems: output.num_elements(),
        source,
    }))
}

pub(super) fn tile(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, mult, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype("TILE", input, output)?;
    let esize = require_elem_size("TILE", input)?;
    let rank = input.rank();
    crate::ensure!(
        is_index_type(mult.dtype) && mult.num_elements() == rank,
        "TILE: multiples '{}' must hold {rank} int32 or int64 values",
        mult.name
    );
    crate::ensure!(
        2 * rank <= MAX_DIMS,
        "TILE: rank {rank} is above {}",
        MAX_DIMS / 2
    );
    let source = match const_ints(node, 1)? {
        Some(m) => {
            let m: Vec<usize> = m
                .iter()
                .map(|&v| {
                    usize::try_from(v).map_err(|_| {
                        KernelError::invalid(format!("TILE: multiple {v} is negative"))
                    })
                })
                .collect::<Result<_, _>>()?;
            Source::Fixed(Box::new(tile_plan(&input.shape, &output.shape, &m)?))
        }
        None => Source::Tile {
            in_shape: input.shape.clone(),
            out_shape: output.shape.clone(),
        },
    };
    Ok(Box::new(PlanKernel {
        name: kernel_name!("tile", input.dtype),
        esize,
        in_elems: input.num_elements(),
        out_elems: output.num_elements(),
        source,
    }))
}

pub(super) fn depth_to_space(
    node: &NodeCtx<'_>,
    attrs: &DepthToSpaceAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    space_depth(node, attrs.block_size, true)
}

pub(super) fn space_to_depth(
    node: &NodeCtx<'_>,
    attrs: &SpaceToDepthAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    space_depth(node, attrs.block_size, false)
}

fn space_depth(
    node: &NodeCtx<'_>,
    block: i32,
    to_space: bool,
) -> Result<Box<dyn Kernel>, KernelError> {
    let op = if to_space {
        "DEPTH_TO_SPACE"
    } else {
        "SPACE_TO_DEPTH"
    };
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    same_dtype(op, input, output)?;
    let esize = require_elem_size(op, input)?;
    crate::ensure!(
        input.rank() == 4,
        "{op}: input '{}' must be 4-D (NHWC)",
        input.name
    );
    crate::ensure!(block >= 1, "{op}: block size {block} must be positive");
    let bs = block as usize;
    let [n, h, w, c] = [
        input.shape[0],
        input.shape[1],
        input.shape[2],
        input.shape[3],
    ];
    let mut plan = CopyPlan::new(0, 0);
    let isz = |v: usize| v as isize;
    if to_space {
        crate::ensure!(
            c % (bs * bs) == 0,
            "{op}: depth {c} is not divisible by block size {bs} squared"
        );
        let oc = c / (bs * bs);
        expect_shape(op, output, &[n, h * bs, w * bs, oc])?;
        // Output walked as [n, h, by, w, bx, oc]; input channel is (by * bs + bx) * oc + oc_i.
        let (ow, ohw) = (w * bs, h * bs * w * bs);
        plan.push(n, isz(h * w * c), isz(ohw * oc))?;
        plan.push(h, isz(w * c), isz(bs * ow * oc))?;
        plan.push(bs, isz(bs * oc), isz(ow * oc))?;
        plan.push(w, isz(c), isz(bs * oc))?;
        plan.push(bs, isz(oc), isz(oc))?;
        plan.push(oc, 1, 1)?;
    } else {
        crate::ensure!(
            h % bs == 0 && w % bs == 0,
            "{op}: height {h} and width {w} must be divisible by block size {bs}"
        );
        let (oh, ow, oc) = (h / bs, w / bs, c * bs * bs);
        expect_shape(op, output, &[n, oh, ow, oc])?;
        // Output walked as [n, oh, ow, by, bx, c]; input is [n, oh * bs + by, ow * bs + bx, c].
        plan.push(n, isz(h * w * c), isz(oh * ow * oc))?;
        plan.push(oh, isz(bs * w * c), isz(ow * oc))?;
        plan.push(ow, isz(bs * c), isz(oc))?;
        plan.push(bs, isz(w * c), isz(bs * c))?;
        plan.push(bs, isz(c), isz(c))?;
        plan.push(c, 1, 1)?;
    }
    let (in_elems, out_elems) = (input.num_elements(), output.num_elements());
    plan.check(in_elems, out_elems)?;
    Ok(Box::new(PlanKernel {
        name: if to_space {
            kernel_name!("depth_to_space", input.dtype)
        } else {
            kernel_name!("space_to_depth", input.dtype)
        },
        esize,
        in_elems,
        out_elems,
        source: Source::Fixed(Box::new(plan)),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, DepthToSpaceAttrs, Op, SpaceToDepthAttrs};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn transpose_3d_constant_and_dynamic() {
        let x: Vec<i16> = (0..24).collect();
        let perm = [2i32, 0, 1];
        let out = [ti("y", DType::Int16, &[4, 2, 3])];
        let mut want = Vec::new();
        for k in 0..4 {
            for i in 0..2 {
                for j in 0..3 {
                    want.push(x[i * 12 + j * 4 + k]);
                }
            }
        }
        for constant in [true, false] {
            let p = if constant {
                TestInput::const_from_slice(ti("p", DType::Int32, &[3]), &perm)
            } else {
                TestInput::from_slice(ti("p", DType::Int32, &[3]), &perm)
            };
            let inputs = [
                Some(TestInput::from_slice(ti("x", DType::Int16, &[2, 3, 4]), &x)),
                Some(p),
            ];
            let got = run_node(&ScalarBackend, &Op::Transpose, &inputs, &out).unwrap();
            assert_eq!(bytemuck::cast_slice::<u8, i16>(&got[0]), want.as_slice());
        }
        // A repeated axis is refused at preparation, and at run time when computed.
        let bad = [1i32, 1, 0];
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Int16, &[2, 3, 4]), &x)),
            Some(TestInput::from_slice(ti("p", DType::Int32, &[3]), &bad)),
        ];
        assert!(run_node(&ScalarBackend, &Op::Transpose, &inputs, &out).is_err());
    }

    #[test]
    fn tile_2d() {
        let x = [1u8, 2, 3, 4, 5, 6];
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::UInt8, &[2, 3]), &x)),
            Some(TestInput::const_from_slice(
                ti("m", DType::Int64, &[2]),
                &[2i64, 2],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::Tile,
            &inputs,
            &[ti("y", DType::UInt8, &[4, 6])],
        )
        .unwrap();
        assert_eq!(
            got[0],
            [
                1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6
            ]
        );
        assert!(
            run_node(
                &ScalarBackend,
                &Op::Tile,
                &inputs,
                &[ti("y", DType::UInt8, &[4, 5])]
            )
            .is_err()
        );
    }

    #[test]
    fn depth_to_space_and_back() {
        // [1, 1, 1, 8] with block 2 -> [1, 2, 2, 2]
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let d2s = Op::DepthToSpace(DepthToSpaceAttrs { block_size: 2 });
        let inputs = [Some(TestInput::from_slice(
            ti("x", DType::Float32, &[1, 1, 1, 8]),
            &x,
        ))];
        let got = run_node(
            &ScalarBackend,
            &d2s,
            &inputs,
            &[ti("y", DType::Float32, &[1, 2, 2, 2])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, f32>(&got[0]), x.as_slice());
        // [1, 2, 4, 1] -> [1, 1, 2, 4]: channel = by * 2 + bx
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let s2d = Op::SpaceToDepth(SpaceToDepthAttrs { block_size: 2 });
        let inputs = [Some(TestInput::from_slice(
            ti("x", DType::Float32, &[1, 2, 4, 1]),
            &x,
        ))];
        let got = run_node(
            &ScalarBackend,
            &s2d,
            &inputs,
            &[ti("y", DType::Float32, &[1, 1, 2, 4])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[0., 1., 4., 5., 2., 3., 6., 7.]
        );
        // And back.
        let inputs = [Some(TestInput::new(
            ti("x", DType::Float32, &[1, 1, 2, 4]),
            got[0].clone(),
        ))];
        let back = run_node(
            &ScalarBackend,
            &d2s,
            &inputs,
            &[ti("y", DType::Float32, &[1, 2, 4, 1])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, f32>(&back[0]), x.as_slice());
    }
}

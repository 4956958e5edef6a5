//! PAD, PADV2 (constant padding) and MIRROR_PAD (REFLECT / SYMMETRIC).
//!
//! PAD fills the output with the pad value (the output zero point for quantized tensors, as
//! LiteRT does) and copies the input into its window with a [`CopyPlan`]. MIRROR_PAD maps each
//! output coordinate to an input coordinate per dimension. Paddings are checked (non-negative,
//! within the mirror limit, matching the planned output) at preparation when constant and in
//! `run` otherwise.

use super::util::{
    CopyPlan, MAX_DIMS, check_len, const_ints, fill_bytes, int_at, kernel_name, product, quant_of,
    require_elem_size, same_dtype, strides,
};
use crate::kernel::{Inputs, KernelIo, NodeCtx};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, MirrorPadAttrs, MirrorPadMode};

/// Reads the `[rank, 2]` paddings of input 1 at run time, checking them against the shapes.
fn run_paddings(
    inputs: &Inputs<'_>,
    in_shape: &[usize],
    out_shape: &[usize],
    max_pad: impl Fn(usize) -> i64,
    out: &mut [(usize, usize)],
) -> Result<(), KernelError> {
    let p = inputs.get(1)?;
    if out_shape.len() != in_shape.len() || out.len() < in_shape.len() {
        return Err(KernelError::invalid(format!(
            "output shape {out_shape:?} has another rank than input {in_shape:?}"
        )));
    }
    for (i, slot) in out.iter_mut().enumerate().take(in_shape.len()) {
        let l = int_at(p.info.dtype, p.bytes, 2 * i);
        let r = int_at(p.info.dtype, p.bytes, 2 * i + 1);
        *slot = check_pair(i, l, r, in_shape[i], out_shape[i], max_pad(in_shape[i]))?;
    }
    Ok(())
}

fn check_pair(
    i: usize,
    l: Option<i64>,
    r: Option<i64>,
    dim: usize,
    out_dim: usize,
    max_pad: i64,
) -> Result<(usize, usize), KernelError> {
    let (Some(l), Some(r)) = (l, r) else {
        return Err(KernelError::invalid("paddings are too short".into()));
    };
    if l < 0 || r < 0 || l > max_pad || r > max_pad {
        return Err(KernelError::invalid(format!(
            "paddings ({l}, {r}) of dimension {i} must be in [0, {max_pad}]"
        )));
    }
    if (dim as i128) + (l as i128) + (r as i128) != out_dim as i128 {
        return Err(KernelError::invalid(format!(
            "paddings ({l}, {r}) of dimension {i} (size {dim}) do not give output size {out_dim}"
        )));
    }
    Ok((l as usize, r as usize))
}

fn check_paddings_info(
    op: &str,
    node: &NodeCtx<'_>,
    input: &TensorInfo,
    types: &[DType],
) -> Result<(), KernelError> {
    let p = node.input(1)?;
    crate::ensure!(
        types.contains(&p.dtype) && p.shape == [input.rank(), 2],
        "{op}: paddings '{}' must be a [{}, 2] tensor of {types:?}, got {} {:?}",
        p.name,
        input.rank(),
        p.dtype,
        p.shape
    );
    crate::ensure!(
        input.rank() <= MAX_DIMS,
        "{op}: rank {} is above {MAX_DIMS}",
        input.rank()
    );
    let output = node.output(0)?;
    crate::ensure!(
        output.rank() == input.rank(),
        "{op}: output '{}' {:?} has another rank than input {:?}",
        output.name,
        output.shape,
        input.shape
    );
    Ok(())
}

/// Constant paddings checked against the shapes.
fn const_paddings(
    node: &NodeCtx<'_>,
    input: &TensorInfo,
    output: &TensorInfo,
    max_pad: impl Fn(usize) -> i64,
) -> Result<Option<Vec<(usize, usize)>>, KernelError> {
    let Some(v) = const_ints(node, 1)? else {
        return Ok(None);
    };
    crate::ensure!(
        output.rank() == input.rank(),
        "output '{}' {:?} has another rank than input {:?}",
        output.name,
        output.shape,
        input.shape
    );
    (0..input.rank())
        .map(|i| {
            check_pair(
                i,
                v.get(2 * i).copied(),
                v.get(2 * i + 1).copied(),
                input.shape[i],
                output.shape[i],
                max_pad(input.shape[i]),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Where PAD's pad value comes from.
#[derive(Debug, Clone, Copy)]
enum PadValue {
    /// Known bytes of one element.
    Known([u8; 16]),
    /// Input 2 (PADV2 with a computed constant_values).
    Input,
}

#[derive(Debug)]
struct Pad {
    name: &'static str,
    esize: usize,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    value: PadValue,
    fixed: Option<CopyPlan>,
}

fn pad_plan(
    in_shape: &[usize],
    out_shape: &[usize],
    pads: &[(usize, usize)],
) -> Result<CopyPlan, KernelError> {
    let (is, os) = (strides(in_shape), strides(out_shape));
    let base: usize = pads.iter().zip(&os).map(|(p, s)| p.0 * s).sum();
    let mut plan = CopyPlan::new(0, base as i64);
    for i in 0..in_shape.len() {
        plan.push(in_shape[i], is[i] as isize, os[i] as isize)?;
    }
    Ok(plan)
}

impl Kernel for Pad {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let plan = match self.fixed {
            Some(p) => p,
            None => {
                let mut pads = [(0usize, 0usize); MAX_DIMS];
                run_paddings(
                    &inputs,
                    &self.in_shape,
                    &self.out_shape,
                    |_| i64::from(i32::MAX),
                    &mut pads,
                )?;
                pad_plan(
                    &self.in_shape,
                    &self.out_shape,
                    &pads[..self.in_shape.len()],
                )?
            }
        };
        let es = self.esize;
        let mut value = [0u8; 16];
        match self.value {
            PadValue::Known(v) => value = v,
            PadValue::Input => {
                let v = inputs.get(2)?;
                check_len(self.name, v.bytes.len(), es)?;
                value[..es].copy_from_slice(&v.bytes[..es]);
            }
        }
        let input = inputs.get(0)?;
        let out = outputs.get(0)?;
        let (n_in, n_out) = (product(&self.in_shape), product(&self.out_shape));
        plan.check(n_in, n_out)?;
        check_len(self.name, input.bytes.len(), n_in * es)?;
        check_len(self.name, out.bytes.len(), n_out * es)?;
        fill_bytes(&mut out.bytes[..n_out * es], &value[..es]);
        plan.run(input.bytes, out.bytes, es);
        Ok(())
    }
}

/// PAD (`v2 == false`) and PADV2.
pub(super) fn pad(node: &NodeCtx<'_>, v2: bool) -> Result<Box<dyn Kernel>, KernelError> {
    let op = if v2 { "PADV2" } else { "PAD" };
    node.expect_inputs(2, 3)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    same_dtype(op, input, output)?;
    let esize = require_elem_size(op, input)?;
    check_paddings_info(
        op,
        node,
        input,
        &[
            DType::Int32,
            DType::Int64,
            DType::Int8,
            DType::Int16,
            DType::Bool,
        ],
    )?;
    let pads = const_paddings(node, input, output, |_| i64::from(i32::MAX))?;
    let fixed = match &pads {
        Some(p) => Some(pad_plan(&input.shape, &output.shape, p)?),
        None => None,
    };
    if let Some(p) = &fixed {
        p.check(input.num_elements(), output.num_elements())?;
    }
    let quantized = matches!(input.dtype, DType::Int8 | DType::UInt8 | DType::Int16)
        && quant_of(output).is_some();
    let value = match node.optional_input(2) {
        Some(cv) => {
            same_dtype(op, input, cv)?;
            crate::ensure!(
                cv.num_elements() == 1,
                "{op}: constant_values '{}' must hold one value",
                cv.name
            );
            if quantized {
                crate::ensure!(
                    quant_of(cv) == quant_of(output),
                    "{op}: constant_values '{}' must be quantized as output '{}'",
                    cv.name,
                    output.name
                );
            }
            match node.constant(2) {
                Some(bytes) => {
                    crate::ensure!(
                        bytes.len() >= esize,
                        "{op}: constant_values '{}' is too short",
                        cv.name
                    );
                    let mut v = [0u8; 16];
                    v[..esize].copy_from_slice(&bytes[..esize]);
                    PadValue::Known(v)
                }
                None => PadValue::Input,
            }
        }
        None => {
            let mut v = [0u8; 16];
            if quantized {
                let zp = quant_of(output).map_or(0, |q| q.1);
                match input.dtype {
                    DType::Int8 => v[0] = zp.clamp(-128, 127) as i8 as u8,
                    DType::UInt8 => v[0] = zp.clamp(0, 255) as u8,
                    _ => v[..2].copy_from_slice(&(zp.clamp(-32768, 32767) as i16).to_le_bytes()),
                }
            }
            PadValue::Known(v)
        }
    };
    Ok(Box::new(Pad {
        name: if v2 {
            kernel_name!("padv2", input.dtype)
        } else {
            kernel_name!("pad", input.dtype)
        },
        esize,
        in_shape: input.shape.clone(),
        out_shape: output.shape.clone(),
        value,
        fixed,
    }))
}

#[derive(Debug)]
struct MirrorPad {
    name: &'static str,
    esize: usize,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    in_strides: Vec<usize>,
    /// 1 for REFLECT (the edge is not repeated), 0 for SYMMETRIC.
    offset: usize,
    /// For each dimension, the input coordinate of each output coordinate.
    maps: Vec<Vec<usize>>,
    /// Whether `maps` still has to be computed from run-time paddings.
    dynamic: bool,
}

/// Fills `map` (one entry per output coordinate) for a dimension of size `dim` padded by
/// `(l, r)`, following LiteRT's `GetInputDimension`.
fn fill_map(map: &mut [usize], dim: usize, l: usize, offset: usize) {
    for (o, m) in map.iter_mut().enumerate() {
        *m = if o < l {
            // Mirror of the left edge: output l-1 reads input offset, l-2 reads offset+1, ...
            let orig = l + offset - 1;
            orig - o.min(orig - offset)
        } else if o - l >= dim {
            let p = o - l - dim;
            let orig = dim - (1 + offset);
            orig - p.min(orig)
        } else {
            o - l
        };
    }
}

impl Kernel for MirrorPad {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let rank = self.in_shape.len();
        if self.dynamic {
            let mut pads = [(0usize, 0usize); MAX_DIMS];
            let off = self.offset as i64;
            run_paddings(
                &inputs,
                &self.in_shape,
                &self.out_shape,
                |d| d as i64 - off,
                &mut pads,
            )?;
            for ((map, &dim), pad) in self.maps.iter_mut().zip(&self.in_shape).zip(&pads) {
                fill_map(map, dim, pad.0, self.offset);
            }
        }
        let input = inputs.get(0)?;
        let out = outputs.get(0)?;
        let es = self.esize;
        let (n_in, n_out) = (product(&self.in_shape), product(&self.out_shape));
        check_len(self.name, input.bytes.len(), n_in * es)?;
        check_len(self.name, out.bytes.len(), n_out * es)?;
        if n_out == 0 {
            return Ok(());
        }
        if rank == 0 {
            out.bytes[..es].copy_from_slice(&input.bytes[..es]);
            return Ok(());
        }
        let in_strides = &self.in_strides;
        let mut idx = [0usize; MAX_DIMS];
        let last = rank - 1;
        let mut dst = 0usize;
        loop {
            let mut base = 0usize;
            for (k, &i) in idx[..last].iter().enumerate() {
                base += self.maps[k][i] * in_strides[k];
            }
            for &m in &self.maps[last] {
                let s = (base + m) * es;
                out.bytes[dst..dst + es].copy_from_slice(&input.bytes[s..s + es]);
                dst += es;
            }
            let mut k = last;
            loop {
                if k == 0 {
                    return Ok(());
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < self.out_shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
    }
}

pub(super) fn mirror_pad(
    node: &NodeCtx<'_>,
    attrs: &MirrorPadAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "MIRROR_PAD";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    same_dtype(OP, input, output)?;
    let esize = require_elem_size(OP, input)?;
    check_paddings_info(OP, node, input, &[DType::Int32, DType::Int64])?;
    crate::ensure!(
        output.rank() == input.rank(),
        "{OP}: output '{}' has another rank than the input",
        output.name
    );
    let offset = match attrs.mode {
        MirrorPadMode::Reflect => 1,
        MirrorPadMode::Symmetric => 0,
    };
    let off = offset as i64;
    let pads = const_paddings(node, input, output, |d| d as i64 - off)?;
    let mut maps: Vec<Vec<usize>> = output
        .shape
        .iter()
        .map(|&d| alloc::vec![0usize; d])
        .collect();
    if let Some(p) = &pads {
        for i in 0..input.rank() {
            fill_map(&mut maps[i], input.shape[i], p[i].0, offset);
        }
    }
    Ok(Box::new(MirrorPad {
        name: kernel_name!("mirror_pad", input.dtype),
        esize,
        in_shape: input.shape.clone(),
        out_shape: output.shape.clone(),
        in_strides: strides(&input.shape),
        offset,
        maps,
        dynamic: pads.is_none(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, MirrorPadAttrs, MirrorPadMode, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn pad_int8_uses_zero_point_and_padv2_value() {
        let x = [1i8, 2, 3, 4];
        let p = [1i32, 0, 0, 1];
        let inputs = [
            Some(TestInput::from_slice(
                ti("x", DType::Int8, &[2, 2]).with_quant(0.1, -5),
                &x,
            )),
            Some(TestInput::const_from_slice(
                ti("p", DType::Int32, &[2, 2]),
                &p,
            )),
        ];
        let out = [ti("y", DType::Int8, &[3, 3]).with_quant(0.1, -5)];
        let got = run_node(&ScalarBackend, &Op::Pad, &inputs, &out).unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, i8>(&got[0]),
            &[-5, -5, -5, 1, 2, -5, 3, 4, -5]
        );

        let x = [1f32, 2.];
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Float32, &[2]), &x)),
            Some(TestInput::from_slice(
                ti("p", DType::Int64, &[1, 2]),
                &[2i64, 1],
            )),
            Some(TestInput::from_slice(ti("v", DType::Float32, &[]), &[9f32])),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::PadV2,
            &inputs,
            &[ti("y", DType::Float32, &[5])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[9., 9., 1., 2., 9.]
        );
        // Negative or mismatching paddings are refused.
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Float32, &[2]), &x)),
            Some(TestInput::from_slice(
                ti("p", DType::Int64, &[1, 2]),
                &[-1i64, 4],
            )),
            Some(TestInput::from_slice(ti("v", DType::Float32, &[]), &[9f32])),
        ];
        assert!(
            run_node(
                &ScalarBackend,
                &Op::PadV2,
                &inputs,
                &[ti("y", DType::Float32, &[5])]
            )
            .is_err()
        );
    }

    #[test]
    fn mirror_pad_reflect_and_symmetric() {
        let x = [1i32, 2, 3];
        for (mode, want) in [
            (MirrorPadMode::Reflect, [3, 2, 1, 2, 3, 2, 1]),
            (MirrorPadMode::Symmetric, [2, 1, 1, 2, 3, 3, 2]),
        ] {
            for constant in [true, false] {
                let pinfo = ti("p", DType::Int32, &[1, 2]);
                let p = if constant {
                    TestInput::const_from_slice(pinfo, &[2i32, 2])
                } else {
                    TestInput::from_slice(pinfo, &[2i32, 2])
                };
                let inputs = [
                    Some(TestInput::from_slice(ti("x", DType::Int32, &[3]), &x)),
                    Some(p),
                ];
                let op = Op::MirrorPad(MirrorPadAttrs { mode });
                let got =
                    run_node(&ScalarBackend, &op, &inputs, &[ti("y", DType::Int32, &[7])]).unwrap();
                assert_eq!(bytemuck::cast_slice::<u8, i32>(&got[0]), &want);
            }
        }
        // REFLECT cannot pad by the full size.
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::Int32, &[3]), &x)),
            Some(TestInput::const_from_slice(
                ti("p", DType::Int32, &[1, 2]),
                &[3i32, 0],
            )),
        ];
        let op = Op::MirrorPad(MirrorPadAttrs {
            mode: MirrorPadMode::Reflect,
        });
        assert!(run_node(&ScalarBackend, &op, &inputs, &[ti("y", DType::Int32, &[6])]).is_err());
    }

    #[test]
    fn mirror_pad_2d() {
        let x = [1u8, 2, 3, 4, 5, 6];
        let inputs = [
            Some(TestInput::from_slice(ti("x", DType::UInt8, &[2, 3]), &x)),
            Some(TestInput::const_from_slice(
                ti("p", DType::Int64, &[2, 2]),
                &[1i64, 0, 0, 1],
            )),
        ];
        let op = Op::MirrorPad(MirrorPadAttrs {
            mode: MirrorPadMode::Symmetric,
        });
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::UInt8, &[3, 4])],
        )
        .unwrap();
        assert_eq!(got[0], [1, 2, 3, 3, 1, 2, 3, 3, 4, 5, 6, 6]);
    }
}

//! Running kernels outside an interpreter: for unit tests, property tests (fast kernel vs the
//! scalar kernel) and benches.

use crate::kernel::{Backend, KernelIo, NoServices, NodeCtx};
use crate::tensor::{RawTensor, TensorInfo};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::Op;

/// One input of a test node.
#[derive(Debug, Clone)]
pub struct TestInput {
    /// Its description.
    pub info: TensorInfo,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether the kernel sees it as a constant at preparation time.
    pub constant: bool,
}

impl TestInput {
    /// A computed (non-constant) input.
    pub fn new(info: TensorInfo, bytes: Vec<u8>) -> Self {
        Self {
            info,
            bytes,
            constant: false,
        }
    }

    /// A constant input (weights, biases, shape operands).
    pub fn constant(info: TensorInfo, bytes: Vec<u8>) -> Self {
        Self {
            info,
            bytes,
            constant: true,
        }
    }

    /// A computed input from typed values.
    pub fn from_slice<T: bytemuck::Pod>(info: TensorInfo, values: &[T]) -> Self {
        Self::new(info, bytemuck::cast_slice(values).to_vec())
    }

    /// A constant input from typed values.
    pub fn const_from_slice<T: bytemuck::Pod>(info: TensorInfo, values: &[T]) -> Self {
        Self::constant(info, bytemuck::cast_slice(values).to_vec())
    }
}

/// Asks `backend` for a kernel for a node made of `op`, `inputs` and `outputs`.
pub fn make_kernel(
    backend: &dyn Backend,
    op: &Op<'_>,
    inputs: &[Option<TestInput>],
    outputs: &[TensorInfo],
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let infos: Vec<Option<&TensorInfo>> =
        inputs.iter().map(|i| i.as_ref().map(|i| &i.info)).collect();
    let constants: Vec<Option<&[u8]>> = inputs
        .iter()
        .map(|i| {
            i.as_ref()
                .filter(|i| i.constant)
                .map(|i| i.bytes.as_slice())
        })
        .collect();
    let outs: Vec<&TensorInfo> = outputs.iter().collect();
    let node = NodeCtx {
        subgraph: 0,
        index: 0,
        op,
        inputs: &infos,
        constants: &constants,
        outputs: &outs,
        intermediates: &[],
    };
    backend.kernel_for(&node)
}

/// Runs `kernel` on `inputs`, returning each output's bytes.
///
/// Inputs and outputs are copied into 16-byte aligned buffers; outputs start filled with a
/// poison byte so that a kernel that leaves an element unwritten is caught.
pub fn run_kernel(
    kernel: &mut dyn Kernel,
    inputs: &[Option<TestInput>],
    outputs: &[TensorInfo],
) -> Result<Vec<Vec<u8>>, KernelError> {
    let mut in_bufs: Vec<Option<Vec<u128>>> = inputs
        .iter()
        .map(|i| {
            i.as_ref().map(|i| {
                let mut b = vec![0u128; i.bytes.len().div_ceil(16)];
                bytemuck::cast_slice_mut::<u128, u8>(&mut b)[..i.bytes.len()]
                    .copy_from_slice(&i.bytes);
                b
            })
        })
        .collect();
    let out_lens: Vec<usize> = outputs
        .iter()
        .map(|o| {
            o.byte_len().ok_or_else(|| {
                KernelError::invalid(alloc::format!("output '{}' has no fixed size", o.name))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut out_bufs: Vec<Vec<u128>> = out_lens
        .iter()
        .map(|&n| vec![u128::from_ne_bytes([0xA5; 16]); n.div_ceil(16)])
        .collect();
    let raw_in: Vec<Option<RawTensor>> = inputs
        .iter()
        .zip(in_bufs.iter_mut())
        .map(|(i, b)| match (i, b) {
            (Some(i), Some(b)) => Some(RawTensor {
                info: &i.info,
                ptr: b.as_mut_ptr().cast(),
                len: i.bytes.len(),
                writable: false,
            }),
            _ => None,
        })
        .collect();
    let raw_out: Vec<RawTensor> = outputs
        .iter()
        .zip(out_bufs.iter_mut())
        .zip(&out_lens)
        .map(|((o, b), &len)| RawTensor {
            info: o,
            ptr: b.as_mut_ptr().cast(),
            len,
            writable: true,
        })
        .collect();
    let mut scratch = vec![0u128; kernel.scratch_bytes().div_ceil(16)];
    let mut services = NoServices;
    // SAFETY: every RawTensor points into a distinct buffer owned by this function that outlives
    // `io`, with `len` initialized bytes, and at a `TensorInfo` borrowed for the whole call.
    let mut io = unsafe {
        KernelIo::new(
            &raw_in,
            &raw_out,
            bytemuck::cast_slice_mut(&mut scratch),
            &mut services,
        )
    };
    kernel.run(&mut io)?;
    Ok(out_bufs
        .iter()
        .zip(&out_lens)
        .map(|(b, &len)| bytemuck::cast_slice::<u128, u8>(b)[..len].to_vec())
        .collect())
}

/// Makes a kernel with `backend` and runs it once; fails if the backend declines the node.
pub fn run_node(
    backend: &dyn Backend,
    op: &Op<'_>,
    inputs: &[Option<TestInput>],
    outputs: &[TensorInfo],
) -> Result<Vec<Vec<u8>>, KernelError> {
    let mut kernel = make_kernel(backend, op, inputs, outputs)?.ok_or_else(|| {
        KernelError::unsupported(alloc::format!(
            "backend {} declined {}",
            backend.name(),
            op.name()
        ))
    })?;
    run_kernel(kernel.as_mut(), inputs, outputs)
}

//! Running one kernel outside an interpreter, on bytes the caller holds.
//!
//! The interpreter runs kernels on views into its arena; plan-time constant folding, tools and
//! tests have plain byte buffers instead. [`run_kernel`] copies them into fresh 16-byte aligned
//! buffers (it allocates: it is not for `invoke`), runs the kernel once, and hands the outputs
//! back; [`run_node`] also asks a backend for the kernel first. This module holds the crate's
//! only construction of a [`KernelIo`] from owned buffers; [`testing`](crate::testing) builds
//! its harness on it.
//!
//! Every output, every input lent for writing and the scratch buffer is followed by
//! [`Layout::guard_bytes`] guard bytes (at least up to the next 16-byte boundary) holding
//! [`GUARD`]; after the run, [`Run::overruns`] lists each buffer whose guard changed, which is
//! how a kernel storing past its `len` (an unsafe vector store, say) is caught.

use crate::kernel::{Backend, KernelIo, NodeCtx, Services};
use crate::parallel::Parallel;
use crate::tensor::{RawTensor, TensorInfo};
use crate::{Kernel, KernelError};
use alloc::vec;
use alloc::vec::Vec;

/// The byte written after every writable buffer, checked after the run.
///
/// A kernel that writes this very value past its buffer goes unseen; it differs from the
/// default poison so that a copy of the poison lands as a detected overrun.
pub const GUARD: u8 = 0x5C;

/// The byte outputs and scratch are filled with before a run by default.
pub const POISON: u8 = 0xA5;

/// How [`run_kernel`] lays out the buffers it lends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Byte that outputs and scratch hold before the run, so that an element a kernel leaves
    /// unwritten shows (the arena holds whatever the previous node left there).
    pub poison: u8,
    /// Guard bytes after each output, writable input and the scratch buffer (rounded up to the
    /// 16-byte alignment every buffer has).
    pub guard_bytes: usize,
}

impl Default for Layout {
    /// Poison [`POISON`] and 64 guard bytes.
    fn default() -> Self {
        Self {
            poison: POISON,
            guard_bytes: 64,
        }
    }
}

/// The bytes of one input of a standalone run.
#[derive(Debug)]
pub enum Data<'a> {
    /// Read-only bytes.
    Read(&'a [u8]),
    /// A variable tensor lent for writing, as the interpreter lends a node's `is_variable`
    /// inputs (see [`KernelIo::split_with_state`]); the updated bytes are copied back.
    Write(&'a mut [u8]),
}

/// One input of a standalone run.
#[derive(Debug)]
pub struct Input<'a> {
    /// Its description.
    pub info: &'a TensorInfo,
    /// Its bytes.
    pub data: Data<'a>,
}

impl<'a> Input<'a> {
    /// A read-only input.
    pub fn read(info: &'a TensorInfo, bytes: &'a [u8]) -> Self {
        Self {
            info,
            data: Data::Read(bytes),
        }
    }

    /// An input lent for writing.
    pub fn write(info: &'a TensorInfo, bytes: &'a mut [u8]) -> Self {
        Self {
            info,
            data: Data::Write(bytes),
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Read(b) => b,
            Data::Write(b) => b,
        }
    }
}

/// A buffer of a standalone run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    /// Output `k`.
    Output(usize),
    /// Input `k`, lent for writing.
    Input(usize),
    /// The scratch buffer.
    Scratch,
}

impl core::fmt::Display for Buffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Buffer::Output(k) => write!(f, "output {k}"),
            Buffer::Input(k) => write!(f, "input {k}"),
            Buffer::Scratch => f.write_str("scratch"),
        }
    }
}

/// A write past the end of a buffer, found in its guard bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overrun {
    /// The buffer written past.
    pub buffer: Buffer,
    /// The buffer's length.
    pub len: usize,
    /// Offset past `len` of the first changed guard byte (0: the byte right after the end).
    pub offset: usize,
}

impl core::fmt::Display for Overrun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "wrote byte {} of {} ({} bytes long)",
            self.len + self.offset,
            self.buffer,
            self.len
        )
    }
}

/// What a standalone run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Each output's bytes.
    pub outputs: Vec<Vec<u8>>,
    /// Buffers the kernel wrote past; empty for a kernel that kept to its buffers.
    pub overruns: Vec<Overrun>,
}

/// A 16-byte aligned buffer of `len` bytes followed by guard bytes.
struct Guarded {
    words: Vec<u128>,
    len: usize,
}

impl Guarded {
    fn new(len: usize, fill: u8, guard_bytes: usize) -> Self {
        let total = len.saturating_add(guard_bytes);
        let mut words = vec![u128::from_ne_bytes([GUARD; 16]); total.div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..len].fill(fill);
        Self { words, len }
    }

    fn from_bytes(bytes: &[u8], guard_bytes: usize) -> Self {
        let mut b = Self::new(bytes.len(), 0, guard_bytes);
        b.bytes_mut().copy_from_slice(bytes);
        b
    }

    fn ptr(&mut self) -> *mut u8 {
        self.words.as_mut_ptr().cast()
    }

    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }

    fn overrun(&self, buffer: Buffer) -> Option<Overrun> {
        let guard = &bytemuck::cast_slice::<u128, u8>(&self.words)[self.len..];
        let offset = guard.iter().position(|&b| b != GUARD)?;
        Some(Overrun {
            buffer,
            len: self.len,
            offset,
        })
    }
}

/// Bytes of a tensor's buffer: its dense size, and 4 bytes (an int32 id, as the interpreter and
/// LiteRT hold it) per element of a resource tensor; `None` for types without a fixed size.
fn buffer_len(info: &TensorInfo) -> Option<usize> {
    if info.dtype == tflrs_ir::DType::Resource {
        return info.num_elements().checked_mul(4);
    }
    info.byte_len()
}

/// Runs `kernel` once on `inputs` (`None` for an omitted optional input), with `outputs`
/// described by `outputs` and `services` for control flow and variables.
///
/// Outputs and scratch start filled with `layout.poison`; inputs given as [`Data::Write`] are
/// lent writable and receive the kernel's updates. Fails with the kernel's error, or when an
/// output has no fixed size (resource tensors count 4 bytes an element); writes past a buffer are reported in [`Run::overruns`], not as an
/// error, so that tests can say which buffer was hit.
pub fn run_kernel(
    kernel: &mut dyn Kernel,
    inputs: &mut [Option<Input<'_>>],
    outputs: &[&TensorInfo],
    services: &mut dyn Services,
    layout: Layout,
) -> Result<Run, KernelError> {
    run_kernel_on(kernel, inputs, outputs, services, layout, None)
}

/// [`run_kernel`] with `parallel`'s threads lent to the kernel
/// ([`KernelIo::parallel`]); a kernel whose scratch is
/// [per thread](Kernel::scratch_per_thread) gets `scratch_bytes() * threads` bytes.
pub fn run_kernel_on(
    kernel: &mut dyn Kernel,
    inputs: &mut [Option<Input<'_>>],
    outputs: &[&TensorInfo],
    services: &mut dyn Services,
    layout: Layout,
    parallel: Option<&dyn Parallel>,
) -> Result<Run, KernelError> {
    let guard = layout.guard_bytes;
    let mut in_bufs: Vec<Option<Guarded>> = inputs
        .iter()
        .map(|i| i.as_ref().map(|i| Guarded::from_bytes(i.bytes(), guard)))
        .collect();
    let mut out_bufs: Vec<Guarded> = outputs
        .iter()
        .map(|o| {
            let len = buffer_len(o).ok_or_else(|| {
                KernelError::invalid(alloc::format!("output '{}' has no fixed size", o.name))
            })?;
            Ok(Guarded::new(len, layout.poison, guard))
        })
        .collect::<Result<_, KernelError>>()?;
    let copies = if kernel.scratch_per_thread() {
        crate::parallel::threads(parallel)
    } else {
        1
    };
    let scratch_bytes = kernel.scratch_bytes().checked_mul(copies).ok_or_else(|| {
        KernelError::invalid(alloc::format!("{copies} threads' scratch overflows"))
    })?;
    let mut scratch = Guarded::new(scratch_bytes, layout.poison, guard);
    let raw_in: Vec<Option<RawTensor>> = inputs
        .iter()
        .zip(in_bufs.iter_mut())
        .map(|(i, b)| match (i, b) {
            (Some(i), Some(b)) => Some(RawTensor {
                info: i.info,
                ptr: b.ptr(),
                len: b.len,
                writable: matches!(i.data, Data::Write(_)),
            }),
            _ => None,
        })
        .collect();
    let raw_out: Vec<RawTensor> = outputs
        .iter()
        .zip(out_bufs.iter_mut())
        .map(|(&o, b)| RawTensor {
            info: o,
            ptr: b.ptr(),
            len: b.len,
            writable: true,
        })
        .collect();
    let scratch_len = scratch.len;
    let scratch_ptr = scratch.ptr();
    {
        // SAFETY: every RawTensor points into its own `Guarded` buffer owned by this function,
        // alive and untouched by anything else until `io` is dropped, holding `len` initialized
        // bytes, at a `TensorInfo` borrowed for the whole call; no two buffers overlap, so no
        // output or writable input overlaps anything. The scratch slice is the scratch buffer's
        // first `scratch_len` bytes, which no RawTensor points into.
        let mut io = unsafe {
            KernelIo::new(
                &raw_in,
                &raw_out,
                core::slice::from_raw_parts_mut(scratch_ptr, scratch_len),
                services,
            )
        }
        .with_parallel(parallel);
        kernel.run(&mut io)?;
    }
    let mut overruns = Vec::new();
    for (k, (i, b)) in inputs.iter_mut().zip(&in_bufs).enumerate() {
        if let (
            Some(Input {
                data: Data::Write(dst),
                ..
            }),
            Some(b),
        ) = (i, b)
        {
            dst.copy_from_slice(b.bytes());
            overruns.extend(b.overrun(Buffer::Input(k)));
        }
    }
    for (k, b) in out_bufs.iter().enumerate() {
        overruns.extend(b.overrun(Buffer::Output(k)));
    }
    overruns.extend(scratch.overrun(Buffer::Scratch));
    Ok(Run {
        outputs: out_bufs.iter().map(|b| b.bytes().to_vec()).collect(),
        overruns,
    })
}

/// Asks `backend` for `node`'s kernel and runs it once on `inputs` (the bytes of each of
/// `node.inputs`, `None` where the node omits one), returning the outputs' bytes: what plan-time
/// constant folding needs.
///
/// Fails when the backend declines the node ([`KernelError::Unsupported`]), when `inputs` does
/// not match `node.inputs`, with the kernel's error, or when the kernel wrote past an output
/// or its scratch.
pub fn run_node(
    backend: &dyn Backend,
    node: &NodeCtx<'_>,
    inputs: &[Option<&[u8]>],
    services: &mut dyn Services,
) -> Result<Vec<Vec<u8>>, KernelError> {
    if inputs.len() != node.inputs.len() {
        return Err(KernelError::invalid(alloc::format!(
            "{} input buffers for a node with {} inputs",
            inputs.len(),
            node.inputs.len()
        )));
    }
    let mut ins: Vec<Option<Input<'_>>> = Vec::with_capacity(inputs.len());
    for (k, (info, bytes)) in node.inputs.iter().zip(inputs).enumerate() {
        ins.push(match (info, bytes) {
            (Some(info), Some(bytes)) => Some(Input::read(info, bytes)),
            (None, None) => None,
            _ => {
                return Err(KernelError::invalid(alloc::format!(
                    "input {k}: bytes given for an omitted input, or missing for a present one"
                )));
            }
        });
    }
    let mut kernel = backend.kernel_for(node)?.ok_or_else(|| {
        KernelError::unsupported(alloc::format!(
            "backend {} declined {}",
            backend.name(),
            node.op.name()
        ))
    })?;
    let run = run_kernel(
        kernel.as_mut(),
        &mut ins,
        node.outputs,
        services,
        Layout::default(),
    )?;
    if let Some(o) = run.overruns.first() {
        return Err(KernelError::invalid(alloc::format!(
            "kernel {} {o}",
            kernel.name()
        )));
    }
    Ok(run.outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoServices, ScalarBackend};
    use tflrs_ir::{AddAttrs, DType, Op};

    struct Declines;

    impl Backend for Declines {
        fn name(&self) -> &str {
            "declines"
        }

        fn kernel_for(
            &self,
            _: &NodeCtx<'_>,
        ) -> Result<Option<alloc::boxed::Box<dyn Kernel>>, KernelError> {
            Ok(None)
        }
    }

    #[test]
    fn run_node_folds_a_constant_node() {
        let t = TensorInfo::new("t", DType::Int32, [2]);
        let (a, b) = ([1i32, 2], [10i32, -20]);
        let op = Op::Add(AddAttrs::default());
        let inputs = [Some(&t), Some(&t)];
        let constants: [Option<&[u8]>; 2] = [
            Some(bytemuck::cast_slice(&a)),
            Some(bytemuck::cast_slice(&b)),
        ];
        let node = NodeCtx {
            subgraph: 0,
            index: 0,
            op: &op,
            inputs: &inputs,
            constants: &constants,
            outputs: &[&t],
            intermediates: &[],
        };
        let out = run_node(&ScalarBackend, &node, &constants, &mut NoServices).unwrap();
        assert_eq!(out, [bytemuck::cast_slice::<i32, u8>(&[11, -18]).to_vec()]);
        let e = run_node(&Declines, &node, &constants, &mut NoServices).unwrap_err();
        assert!(matches!(e, KernelError::Unsupported(_)), "{e}");
        let e = run_node(&ScalarBackend, &node, &constants[..1], &mut NoServices).unwrap_err();
        assert!(matches!(e, KernelError::Invalid(_)), "{e}");
    }

    #[test]
    fn guards_follow_every_writable_buffer() {
        let b = Guarded::new(5, POISON, 1);
        assert_eq!(b.bytes(), [POISON; 5]);
        // Rounded up to the 16-byte alignment: the whole tail is guarded.
        assert_eq!(b.words.len(), 1);
        assert_eq!(b.overrun(Buffer::Scratch), None);
        let mut b = Guarded::new(0, POISON, 0);
        assert_eq!(b.words.len(), 0);
        assert!(!b.ptr().is_null());
    }
}

//! The extension points: [`Backend`] offers [`Kernel`]s for nodes; kernels run with a
//! [`KernelIo`].

use crate::KernelError;
use crate::tensor::{RawTensor, TensorInfo, TensorMut, TensorRef};
use alloc::boxed::Box;
use tflrs_ir::Op;

/// What a backend sees of a node when the planner asks it for a kernel.
///
/// Everything here is plan-time information: shapes are concrete, and constant inputs (weights,
/// biases, shape operands) expose their bytes so that kernels can pre-pack them once.
#[derive(Debug, Clone, Copy)]
pub struct NodeCtx<'a> {
    /// Index of the subgraph holding the node.
    pub subgraph: usize,
    /// Index of the node in its subgraph's execution order.
    pub index: usize,
    /// The operator and its attributes.
    pub op: &'a Op<'a>,
    /// Inputs; `None` for an omitted optional input.
    pub inputs: &'a [Option<&'a TensorInfo>],
    /// Constant data of each input (`None` for computed inputs and omitted ones).
    pub constants: &'a [Option<&'a [u8]>],
    /// Outputs.
    pub outputs: &'a [&'a TensorInfo],
}

impl<'a> NodeCtx<'a> {
    /// Input `i`, or an error naming it when it is absent.
    pub fn input(&self, i: usize) -> Result<&'a TensorInfo, KernelError> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or(KernelError::MissingInput { index: i })
    }

    /// Input `i` if present (optional inputs such as a bias).
    pub fn optional_input(&self, i: usize) -> Option<&'a TensorInfo> {
        self.inputs.get(i).copied().flatten()
    }

    /// The constant bytes of input `i`, if it is a constant.
    pub fn constant(&self, i: usize) -> Option<&'a [u8]> {
        self.constants.get(i).copied().flatten()
    }

    /// Output `i`, or an error naming it when it is absent.
    pub fn output(&self, i: usize) -> Result<&'a TensorInfo, KernelError> {
        self.outputs
            .get(i)
            .copied()
            .ok_or(KernelError::MissingOutput { index: i })
    }

    /// Fails unless the node has between `min` and `max` inputs (counting omitted ones).
    pub fn expect_inputs(&self, min: usize, max: usize) -> Result<(), KernelError> {
        let n = self.inputs.len();
        if n < min || n > max {
            return Err(KernelError::Arity {
                what: "inputs",
                got: n,
                min,
                max,
            });
        }
        Ok(())
    }

    /// Fails unless the node has exactly `n` outputs.
    pub fn expect_outputs(&self, n: usize) -> Result<(), KernelError> {
        if self.outputs.len() != n {
            return Err(KernelError::Arity {
                what: "outputs",
                got: self.outputs.len(),
                min: n,
                max: n,
            });
        }
        Ok(())
    }
}

/// A source of kernels: the scalar backend, the SIMD and GPU backends, or a user's own.
///
/// For each node the planner asks the backends in the user's order; the scalar backend is
/// always last and covers every operator, so fallback is total.
pub trait Backend: Send + Sync {
    /// Short name shown in plan reports (`scalar`, `simd`, `wgpu`, ...).
    fn name(&self) -> &str;

    /// Offers a kernel for `node`: `Ok(Some(kernel))`, `Ok(None)` for "not this node, ask the
    /// next backend", or an error when the node is invalid (bad shapes, bad quantization), which
    /// stops planning.
    fn kernel_for(&self, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError>;

    /// Where the backend's kernels keep tensors. Backends owning a device keep consecutive
    /// nodes' tensors there; the runtime copies only where the plan crosses devices.
    fn device(&self) -> Device {
        Device::Host
    }
}

/// Where a kernel's inputs and outputs live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// Host memory (the runtime's arena).
    Host,
    /// A device owned by a backend, named for plan reports.
    Accelerator(&'static str),
}

/// A prepared kernel for one node: made once by [`Backend::kernel_for`] (where it may
/// pre-pack weights, compute quantized multipliers, build lookup tables), then run many times.
///
/// `run` must not allocate: everything it needs is made in preparation or requested as
/// scratch space, which the planner places in the arena.
pub trait Kernel: Send {
    /// The kernel's name: op, dtype, backend and variant, as in `conv2d_i8__scalar` or
    /// `add_f32__avx2`. It appears in plan reports, tests and benches.
    fn name(&self) -> &str;

    /// Bytes of scratch memory `run` needs (placed in the arena, alive only during `run`).
    fn scratch_bytes(&self) -> usize {
        0
    }

    /// Computes the outputs from the inputs.
    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError>;
}

/// What the runtime offers kernels beyond their tensors: running other subgraphs (control
/// flow) and the model's variables (resource state kept across invokes).
pub trait Services {
    /// Runs subgraph `index` with `inputs` copied into its inputs, copying its outputs into
    /// `outputs`.
    fn run_subgraph(
        &mut self,
        index: usize,
        inputs: &[TensorRef<'_>],
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), KernelError>;

    /// The bytes of variable `id` (a resource id produced by `VAR_HANDLE`), with its
    /// description, if it has been assigned.
    fn variable(&mut self, id: i32) -> Result<Option<TensorMut<'_>>, KernelError>;

    /// Stores `value` into variable `id`.
    fn assign_variable(&mut self, id: i32, value: TensorRef<'_>) -> Result<(), KernelError>;
}

/// [`Services`] for kernels run outside an interpreter (tests, benches): no subgraphs, no
/// variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoServices;

impl Services for NoServices {
    fn run_subgraph(
        &mut self,
        index: usize,
        _: &[TensorRef<'_>],
        _: &mut [TensorMut<'_>],
    ) -> Result<(), KernelError> {
        Err(KernelError::invalid(alloc::format!(
            "no subgraph {index} outside an interpreter"
        )))
    }

    fn variable(&mut self, _: i32) -> Result<Option<TensorMut<'_>>, KernelError> {
        Ok(None)
    }

    fn assign_variable(&mut self, _: i32, _: TensorRef<'_>) -> Result<(), KernelError> {
        Err(KernelError::invalid(
            "no variables outside an interpreter".into(),
        ))
    }
}

/// A kernel's view of its tensors during one run.
pub struct KernelIo<'r> {
    inputs: &'r [Option<RawTensor>],
    outputs: &'r [RawTensor],
    scratch: &'r mut [u8],
    services: &'r mut dyn Services,
}

impl core::fmt::Debug for KernelIo<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KernelIo")
            .field("inputs", &self.inputs.len())
            .field("outputs", &self.outputs.len())
            .field("scratch", &self.scratch.len())
            .finish()
    }
}

impl<'r> KernelIo<'r> {
    /// Builds the view.
    ///
    /// # Safety
    ///
    /// For the lifetime `'r`: every `RawTensor` points at `len` initialized bytes and at a live
    /// `TensorInfo`; no output overlaps another output or any input; nothing else reads or
    /// writes the outputs' bytes, and nothing writes the inputs' bytes.
    pub unsafe fn new(
        inputs: &'r [Option<RawTensor>],
        outputs: &'r [RawTensor],
        scratch: &'r mut [u8],
        services: &'r mut dyn Services,
    ) -> Self {
        Self {
            inputs,
            outputs,
            scratch,
            services,
        }
    }

    /// Number of input slots (including omitted optional inputs).
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Number of outputs.
    pub fn num_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Splits the view into inputs, outputs, scratch and services, which a kernel may use
    /// together.
    pub fn split(&mut self) -> (Inputs<'_>, Outputs<'_>, &mut [u8], &mut dyn Services) {
        (
            Inputs { raw: self.inputs },
            Outputs { raw: self.outputs },
            &mut *self.scratch,
            &mut *self.services,
        )
    }
}

/// The inputs of a running kernel.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    raw: &'a [Option<RawTensor>],
}

impl<'a> Inputs<'a> {
    /// Input `i`, or an error when it is absent.
    pub fn get(&self, i: usize) -> Result<TensorRef<'a>, KernelError> {
        self.optional(i)
            .ok_or(KernelError::MissingInput { index: i })
    }

    /// Input `i` if present.
    pub fn optional(&self, i: usize) -> Option<TensorRef<'a>> {
        let raw = self.raw.get(i).copied().flatten()?;
        // SAFETY: `KernelIo::new`'s contract: `raw` points at `len` initialized bytes and a
        // live `TensorInfo` for 'a, and nothing writes them meanwhile.
        unsafe {
            Some(TensorRef {
                info: &*raw.info,
                bytes: core::slice::from_raw_parts(raw.ptr, raw.len),
            })
        }
    }

    /// Number of input slots.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there are no inputs.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// The outputs of a running kernel.
#[derive(Debug)]
pub struct Outputs<'a> {
    raw: &'a [RawTensor],
}

impl Outputs<'_> {
    /// Output `i` for writing.
    pub fn get(&mut self, i: usize) -> Result<TensorMut<'_>, KernelError> {
        let raw = *self
            .raw
            .get(i)
            .ok_or(KernelError::MissingOutput { index: i })?;
        // SAFETY: `KernelIo::new`'s contract: outputs do not overlap inputs or each other and
        // nothing else touches them; `&mut self` makes this the only live view of output `i`.
        unsafe {
            Ok(TensorMut {
                info: &*raw.info,
                bytes: core::slice::from_raw_parts_mut(raw.ptr, raw.len),
            })
        }
    }

    /// All outputs at once, for kernels with several (SPLIT, UNPACK, ...). Calls `f` with
    /// each output in order.
    pub fn for_each(
        &mut self,
        mut f: impl FnMut(usize, TensorMut<'_>) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        for i in 0..self.raw.len() {
            let t = self.get(i)?;
            f(i, t)?;
        }
        Ok(())
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there are no outputs.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

//! The extension points: [`Backend`] offers [`Kernel`]s for nodes; kernels run with a
//! [`KernelIo`].

use crate::KernelError;
use crate::device::{Device, PartitionCtx, PartitionKernel};
use crate::parallel::Parallel;
use crate::tensor::{RawTensor, TensorInfo, TensorMut, TensorRef};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Range;
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
    /// The node's intermediate tensors (TFLite's `intermediates`: descriptions, mostly the
    /// quantization, of values computed inside the op, such as an integer LSTM's gate outputs);
    /// empty for most nodes.
    pub intermediates: &'a [&'a TensorInfo],
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

    /// The device this backend keeps tensors on, made afresh each time the interpreter plans;
    /// `None` (the default) for a backend whose kernels work on host memory.
    ///
    /// Only a backend with a device is asked to [`claim`](Self::claim) partitions.
    fn device(&self) -> Option<Box<dyn Device>> {
        None
    }

    /// Claims partitions among the nodes of one subgraph (`nodes[i]` is node `i`): ranges of
    /// consecutive node indices, in order and disjoint, each to run as one
    /// [`PartitionKernel`] on this backend's device. The default claims nothing.
    ///
    /// Nodes an earlier backend claimed are not offered again: a range that overlaps an
    /// earlier claim is dropped. A backend must not claim control flow or resource-variable
    /// nodes, nor nodes with tensors of no fixed size (strings): the runtime refuses those.
    fn claim(&self, nodes: &[NodeCtx<'_>]) -> Result<Vec<Range<usize>>, KernelError> {
        let _ = nodes;
        Ok(Vec::new())
    }

    /// Makes the kernel for a partition this backend claimed, on `device` (the one
    /// [`device`](Self::device) made for this plan, whose buffers `part` names).
    fn partition_kernel(
        &self,
        device: &mut dyn Device,
        part: &PartitionCtx<'_>,
    ) -> Result<Box<dyn PartitionKernel>, KernelError> {
        let _ = (device, part);
        Err(KernelError::unsupported(alloc::format!(
            "backend {} claimed a partition but makes no partition kernels",
            self.name()
        )))
    }
}

/// A prepared kernel for one node: made once by [`Backend::kernel_for`] (where it may
/// pre-pack weights, compute quantized multipliers, build lookup tables), then run many times.
///
/// `run` must not allocate: everything it needs is made in preparation or requested as
/// scratch space, which the planner places in the arena.
pub trait Kernel: Send {
    /// The kernel's name: op, dtype, backend and variant, as in `conv_2d_i8__scalar` or
    /// `add_f32__avx2`. It appears in plan reports, tests and benches.
    fn name(&self) -> &str;

    /// Bytes of scratch memory `run` needs (placed in the arena, alive only during `run`).
    fn scratch_bytes(&self) -> usize {
        0
    }

    /// Whether [`scratch_bytes`](Self::scratch_bytes) is per thread: the runtime then lends
    /// `scratch_bytes() * threads` bytes, where `threads` is that of
    /// [`KernelIo::parallel`] (1 without one), and the kernel gives each thread index of
    /// [`Parallel::for_each`](crate::Parallel::for_each) its own `scratch_bytes()`.
    fn scratch_per_thread(&self) -> bool {
        false
    }

    /// Computes the outputs from the inputs.
    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError>;
}

/// What the runtime offers kernels beyond their tensors: running other subgraphs (control
/// flow), the model's resource variables (state kept across invokes) and the record of which
/// initialization subgraphs already ran (`CALL_ONCE`).
///
/// Everything here works without allocating, so control-flow kernels keep `run` allocation
/// free: [`subgraph_input`](Self::subgraph_input), [`invoke_subgraph`](Self::invoke_subgraph)
/// and [`subgraph_output`](Self::subgraph_output) move a subgraph's tensors one at a time.
pub trait Services {
    /// Runs subgraph `index` with `inputs` copied into its inputs, copying its outputs into
    /// `outputs`.
    fn run_subgraph(
        &mut self,
        index: usize,
        inputs: &[TensorRef<'_>],
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), KernelError>;

    /// Input `k` of subgraph `index`, to be filled before
    /// [`invoke_subgraph`](Self::invoke_subgraph).
    fn subgraph_input(&mut self, index: usize, k: usize) -> Result<TensorMut<'_>, KernelError>;

    /// Runs subgraph `index` on what its inputs hold.
    fn invoke_subgraph(&mut self, index: usize) -> Result<(), KernelError>;

    /// Output `k` of subgraph `index`, as its last run left it.
    fn subgraph_output(&mut self, index: usize, k: usize) -> Result<TensorRef<'_>, KernelError>;

    /// The resource id of the variable `container`/`shared_name` (what `VAR_HANDLE` outputs).
    ///
    /// Ids are the same in every subgraph of a model: the runtime numbers the distinct
    /// (container, shared name) pairs of the model's `VAR_HANDLE` nodes in subgraph and node
    /// order, as LiteRT numbers them.
    fn variable_id(&mut self, container: &str, shared_name: &str) -> Result<i32, KernelError>;

    /// The value of variable `id`, or `None` while it has never been assigned.
    fn variable(&mut self, id: i32) -> Result<Option<TensorRef<'_>>, KernelError>;

    /// Stores `value` into variable `id` (its type and size must be the variable's).
    fn assign_variable(&mut self, id: i32, value: TensorRef<'_>) -> Result<(), KernelError>;

    /// Whether initialization subgraph `index` already ran in this interpreter's life.
    fn initialized(&self, index: usize) -> bool;

    /// Records that initialization subgraph `index` ran.
    fn set_initialized(&mut self, index: usize);

    /// Most iterations a loop kernel (`WHILE`) may run in one invoke before it fails, so that
    /// a loop whose condition never turns false is an error, not a hang.
    fn max_loop_iterations(&self) -> u64 {
        u64::MAX
    }
}

/// [`Services`] for kernels run outside an interpreter (tests, benches): no subgraphs, no
/// variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoServices;

fn no_subgraph(index: usize) -> KernelError {
    KernelError::invalid(alloc::format!("no subgraph {index} outside an interpreter"))
}

impl Services for NoServices {
    fn run_subgraph(
        &mut self,
        index: usize,
        _: &[TensorRef<'_>],
        _: &mut [TensorMut<'_>],
    ) -> Result<(), KernelError> {
        Err(no_subgraph(index))
    }

    fn subgraph_input(&mut self, index: usize, _: usize) -> Result<TensorMut<'_>, KernelError> {
        Err(no_subgraph(index))
    }

    fn invoke_subgraph(&mut self, index: usize) -> Result<(), KernelError> {
        Err(no_subgraph(index))
    }

    fn subgraph_output(&mut self, index: usize, _: usize) -> Result<TensorRef<'_>, KernelError> {
        Err(no_subgraph(index))
    }

    fn variable_id(&mut self, _: &str, _: &str) -> Result<i32, KernelError> {
        Err(KernelError::invalid(
            "no variables outside an interpreter".into(),
        ))
    }

    fn variable(&mut self, _: i32) -> Result<Option<TensorRef<'_>>, KernelError> {
        Ok(None)
    }

    fn assign_variable(&mut self, _: i32, _: TensorRef<'_>) -> Result<(), KernelError> {
        Err(KernelError::invalid(
            "no variables outside an interpreter".into(),
        ))
    }

    fn initialized(&self, _: usize) -> bool {
        false
    }

    fn set_initialized(&mut self, _: usize) {}
}

/// A kernel's view of its tensors during one run.
pub struct KernelIo<'r> {
    inputs: &'r [Option<RawTensor>],
    outputs: &'r [RawTensor],
    scratch: &'r mut [u8],
    services: &'r mut dyn Services,
    parallel: Option<&'r dyn Parallel>,
}

impl core::fmt::Debug for KernelIo<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KernelIo")
            .field("inputs", &self.inputs.len())
            .field("outputs", &self.outputs.len())
            .field("scratch", &self.scratch.len())
            .field("threads", &crate::parallel::threads(self.parallel))
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
    /// writes the outputs' bytes, and nothing writes the inputs' bytes. An input whose
    /// `RawTensor` is `writable` (a variable tensor the node updates in place, see
    /// [`split_with_state`](Self::split_with_state)) overlaps no other input slot and no output,
    /// and nothing else reads or writes it either.
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
            parallel: None,
        }
    }

    /// Lends the kernel `parallel`'s threads (see [`parallel`](Self::parallel)). The scratch
    /// must then hold `scratch_bytes() * threads` bytes for a kernel whose scratch is
    /// [per thread](Kernel::scratch_per_thread).
    pub fn with_parallel(mut self, parallel: Option<&'r dyn Parallel>) -> Self {
        self.parallel = parallel;
        self
    }

    /// The threads the kernel may split its work over, `None` to run on the calling thread
    /// only (the default: one thread, no_std, standalone runs).
    pub fn parallel(&self) -> Option<&'r dyn Parallel> {
        self.parallel
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
            Inputs {
                raw: self.inputs,
                hidden: 0,
            },
            Outputs { raw: self.outputs },
            &mut *self.scratch,
            &mut *self.services,
        )
    }

    /// Like [`split`](Self::split), and also lends the inputs `state` for writing: variable
    /// tensors (TFLite's `is_variable`) that the node updates in place, such as an LSTM's output
    /// and cell state, which persist across invokes.
    ///
    /// The runtime makes a node's variable inputs writable. Slot `k` of the returned array is
    /// `None` when input `state[k]` is absent or not writable (outside an interpreter, or a
    /// state that is not a variable): the kernel then reads it through [`Inputs`] as usual and
    /// keeps its updates elsewhere. An input lent for writing is hidden from the returned
    /// [`Inputs`] (and an index repeated in `state` is lent once), so no read-only view of it
    /// coexists with the writable one.
    #[allow(clippy::type_complexity)]
    pub fn split_with_state<const N: usize>(
        &mut self,
        state: [usize; N],
    ) -> (
        Inputs<'_>,
        Outputs<'_>,
        [Option<TensorMut<'_>>; N],
        &mut [u8],
        &mut dyn Services,
    ) {
        let mut hidden = 0u64;
        let lent = state.map(|i| {
            let raw = self.inputs.get(i).copied().flatten()?;
            if !raw.writable || i >= 64 || hidden & (1 << i) != 0 {
                return None;
            }
            hidden |= 1 << i;
            // SAFETY: `KernelIo::new`'s contract: a writable input points at `len` initialized
            // bytes that overlap no other input or output and that nothing else touches; it is
            // lent once (`hidden`) and hidden from the `Inputs` returned with it, and the
            // `&mut self` borrow keeps any other split from coexisting with it.
            unsafe {
                Some(TensorMut {
                    info: &*raw.info,
                    bytes: core::slice::from_raw_parts_mut(raw.ptr, raw.len),
                })
            }
        });
        (
            Inputs {
                raw: self.inputs,
                hidden,
            },
            Outputs { raw: self.outputs },
            lent,
            &mut *self.scratch,
            &mut *self.services,
        )
    }
}

/// The inputs of a running kernel.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    raw: &'a [Option<RawTensor>],
    /// Inputs lent for writing by [`KernelIo::split_with_state`] (bit `i` for input `i`).
    hidden: u64,
}

impl<'a> Inputs<'a> {
    /// Input `i`, or an error when it is absent.
    pub fn get(&self, i: usize) -> Result<TensorRef<'a>, KernelError> {
        self.optional(i)
            .ok_or(KernelError::MissingInput { index: i })
    }

    /// Input `i` if present.
    pub fn optional(&self, i: usize) -> Option<TensorRef<'a>> {
        if i < 64 && self.hidden & (1 << i) != 0 {
            return None;
        }
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

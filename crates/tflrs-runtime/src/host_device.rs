//! A device-owning backend whose "device" is host memory: the plumbing of device backends
//! (claims, partitions, device buffers, transfers at partition edges) without a GPU, and the
//! reference for writing one.
//!
//! [`HostDeviceBackend`] claims runs of consecutive nodes it accepts (every node the scalar
//! backend runs, or only the operators it is given), and runs each run as one partition with
//! the scalar kernels on its [`HostDevice`]'s buffers. Its [`TransferCounters`] count the
//! uploads and downloads the runtime makes, so tests can check that only the plan's
//! transfers happen.
//!
//! A GPU backend follows the same shape: [`Backend::device`] makes the device (queue, buffer
//! table), [`Backend::claim`] picks the partitions, [`Backend::partition_kernel`] compiles one
//! kernel (one command encoder) per partition from the [`PartitionCtx`], uploading or packing
//! constants once, and [`PartitionKernel::run`] records and submits the partition's work on
//! the buffers the runtime filled.
//!
//! ```
//! # fn main() -> Result<(), tflrs_runtime::Error> {
//! # let model_bytes = tflrs_testdata::Case::load("mlp_float32").unwrap().model_bytes().unwrap();
//! use tflrs_runtime::host_device::HostDeviceBackend;
//! let model = tflrs_runtime::Model::from_bytes(&model_bytes)?;
//! let backend = HostDeviceBackend::new();
//! let counters = backend.counters();
//! let mut interp = tflrs_runtime::Interpreter::builder(&model).backend(backend).build()?;
//! let before = counters.uploads();
//! interp.invoke()?;
//! let uploads = interp.transfer_report().iter()
//!     .filter(|t| t.direction == tflrs_runtime::Direction::ToDevice).count();
//! assert_eq!(counters.uploads() - before, uploads);
//! # Ok(())
//! # }
//! ```

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};
use tflrs_ir::DType;
use tflrs_kernels::{
    Backend, BufferId, Device, Kernel, KernelError, KernelIo, NoServices, NodeCtx, PartitionCtx,
    PartitionError, PartitionKernel, RawTensor, ScalarBackend, TensorInfo,
};

/// Operators a partition cannot run: they need the interpreter's services (subgraphs,
/// resource variables).
const NEEDS_SERVICES: &[&str] = &[
    "WHILE",
    "IF",
    "CALL_ONCE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
];

/// Counts of the copies between host and a [`HostDevice`], shared by the backend and every
/// device it makes (clones share the counts).
#[derive(Debug, Clone, Default)]
pub struct TransferCounters(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    uploads: AtomicUsize,
    downloads: AtomicUsize,
    uploaded_bytes: AtomicUsize,
    downloaded_bytes: AtomicUsize,
}

impl TransferCounters {
    /// Host-to-device copies so far (constants uploaded while planning included).
    pub fn uploads(&self) -> usize {
        self.0.uploads.load(Ordering::Relaxed)
    }

    /// Device-to-host copies so far.
    pub fn downloads(&self) -> usize {
        self.0.downloads.load(Ordering::Relaxed)
    }

    /// Bytes copied to the device so far.
    pub fn uploaded_bytes(&self) -> usize {
        self.0.uploaded_bytes.load(Ordering::Relaxed)
    }

    /// Bytes copied to the host so far.
    pub fn downloaded_bytes(&self) -> usize {
        self.0.downloaded_bytes.load(Ordering::Relaxed)
    }
}

/// A "device" whose buffers are host memory, as [`HostDeviceBackend`] makes it.
#[derive(Debug)]
pub struct HostDevice {
    /// Buffers, 16-byte aligned as the arena is; each is made once and never resized, so
    /// pointers into it stay valid while the device lives.
    buffers: Vec<(Vec<u128>, usize)>,
    counters: TransferCounters,
}

impl HostDevice {
    fn buffer(&mut self, id: BufferId) -> Result<&mut [u8], KernelError> {
        let (buf, len) = self
            .buffers
            .get_mut(id.0)
            .ok_or_else(|| KernelError::invalid(format!("no buffer {}", id.0)))?;
        Ok(&mut bytemuck::cast_slice_mut::<u128, u8>(buf)[..*len])
    }
}

impl Device for HostDevice {
    fn name(&self) -> &str {
        "host-device"
    }

    fn allocate(&mut self, bytes: usize) -> Result<BufferId, KernelError> {
        self.buffers.push((vec![0u128; bytes.div_ceil(16)], bytes));
        Ok(BufferId(self.buffers.len() - 1))
    }

    fn upload(&mut self, dst: BufferId, src: &[u8]) -> Result<(), KernelError> {
        let counts = Arc::clone(&self.counters.0);
        let buf = self.buffer(dst)?;
        if buf.len() != src.len() {
            return Err(KernelError::invalid(format!(
                "buffer {} holds {} bytes, {} given",
                dst.0,
                buf.len(),
                src.len()
            )));
        }
        buf.copy_from_slice(src);
        counts.uploads.fetch_add(1, Ordering::Relaxed);
        counts
            .uploaded_bytes
            .fetch_add(src.len(), Ordering::Relaxed);
        Ok(())
    }

    fn download(&mut self, src: BufferId, dst: &mut [u8]) -> Result<(), KernelError> {
        let counts = Arc::clone(&self.counters.0);
        let buf = self.buffer(src)?;
        if buf.len() != dst.len() {
            return Err(KernelError::invalid(format!(
                "buffer {} holds {} bytes, {} expected",
                src.0,
                buf.len(),
                dst.len()
            )));
        }
        dst.copy_from_slice(buf);
        counts.downloads.fetch_add(1, Ordering::Relaxed);
        counts
            .downloaded_bytes
            .fetch_add(dst.len(), Ordering::Relaxed);
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The device-owning test backend (see the [module](self) documentation).
#[derive(Debug, Clone, Default)]
pub struct HostDeviceBackend {
    /// Operator names it claims (`CONV_2D`, ...); `None` for every operator it can run.
    ops: Option<Vec<String>>,
    counters: TransferCounters,
}

impl HostDeviceBackend {
    /// A backend claiming every node the scalar backend runs (control flow and resource
    /// variables excepted).
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend claiming only nodes of the operators named (`"CONV_2D"`, `"ADD"`, ...), so
    /// that a model gets several partitions with host nodes between them.
    pub fn with_ops<S: Into<String>>(ops: impl IntoIterator<Item = S>) -> Self {
        Self {
            ops: Some(ops.into_iter().map(Into::into).collect()),
            counters: TransferCounters::default(),
        }
    }

    /// The transfer counts of every device this backend makes.
    pub fn counters(&self) -> TransferCounters {
        self.counters.clone()
    }

    fn accepts(&self, node: &NodeCtx<'_>) -> bool {
        let op = node.op.name();
        if NEEDS_SERVICES.contains(&op.as_ref()) {
            return false;
        }
        if let Some(ops) = &self.ops
            && !ops.iter().any(|o| *o == op)
        {
            return false;
        }
        let sized = |t: &TensorInfo| t.dtype != DType::Resource && t.byte_len().is_some();
        if !node.inputs.iter().flatten().all(|t| sized(t)) || !node.outputs.iter().all(|t| sized(t))
        {
            return false;
        }
        // Only what the scalar kernels can run; a node they refuse stays on the host, where
        // the runtime reports why.
        matches!(ScalarBackend.kernel_for(node), Ok(Some(_)))
    }
}

impl Backend for HostDeviceBackend {
    fn name(&self) -> &str {
        "host-device"
    }

    fn kernel_for(&self, _: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
        // Nodes it does not claim run on the host backends.
        Ok(None)
    }

    fn device(&self) -> Option<Box<dyn Device>> {
        Some(Box::new(HostDevice {
            buffers: Vec::new(),
            counters: self.counters.clone(),
        }))
    }

    fn claim(&self, nodes: &[NodeCtx<'_>]) -> Result<Vec<Range<usize>>, KernelError> {
        let mut runs: Vec<Range<usize>> = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            if !self.accepts(node) {
                continue;
            }
            match runs.last_mut() {
                Some(run) if run.end == n => run.end = n + 1,
                _ => runs.push(n..n + 1),
            }
        }
        Ok(runs)
    }

    fn partition_kernel(
        &self,
        device: &mut dyn Device,
        part: &PartitionCtx<'_>,
    ) -> Result<Box<dyn PartitionKernel>, KernelError> {
        let device = device
            .as_any_mut()
            .downcast_mut::<HostDevice>()
            .ok_or_else(|| KernelError::invalid("not a host-device device".into()))?;
        let mut steps = Vec::with_capacity(part.nodes.len());
        let mut scratch = 0;
        for (k, node) in part.nodes.iter().enumerate() {
            let kernel = ScalarBackend.kernel_for(node)?.ok_or_else(|| {
                KernelError::unsupported(format!("no scalar kernel for {}", node.op.name()))
            })?;
            scratch = scratch.max(kernel.scratch_bytes());
            // The kernel's tensor descriptions, owned by the step so that the raw views'
            // `info` pointers stay valid (boxed: moving the step does not move them).
            let infos: Box<[Option<TensorInfo>]> = node
                .inputs
                .iter()
                .map(|i| i.cloned())
                .chain(node.outputs.iter().map(|o| Some((*o).clone())))
                .collect();
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for (i, info) in node.inputs.iter().enumerate() {
                let Some(info) = info else {
                    inputs.push(None);
                    continue;
                };
                // A constant gets its own buffer, uploaded once here (a GPU backend would
                // pack its weights here).
                let buffer = match (part.inputs[k][i], node.constant(i)) {
                    (Some(b), _) => b,
                    (None, Some(bytes)) => {
                        let b = device.allocate(bytes.len())?;
                        device.upload(b, bytes)?;
                        b
                    }
                    (None, None) => {
                        return Err(KernelError::invalid(format!(
                            "input {i} ('{}') has no buffer",
                            info.name
                        )));
                    }
                };
                // Variables the node updates in place are lent for writing, as on the host.
                let writable = part.writable[k].get(i).copied().unwrap_or(false);
                inputs.push(Some(view(device, buffer, infos[i].as_ref(), writable)?));
            }
            let mut outputs = Vec::with_capacity(node.outputs.len());
            for (o, &buffer) in part.outputs[k].iter().enumerate() {
                outputs.push(view(
                    device,
                    buffer,
                    infos[node.inputs.len() + o].as_ref(),
                    true,
                )?);
            }
            steps.push(Step {
                node: part.range.start + k,
                kernel,
                _infos: infos,
                inputs,
                outputs,
            });
        }
        Ok(Box::new(HostPartition {
            name: format!("partition_{}_nodes__host_device", part.nodes.len()),
            steps,
            scratch: vec![0u128; scratch.div_ceil(16)],
            scratch_len: scratch,
        }))
    }
}

/// A raw view of device buffer `buffer`, described by `info`.
fn view(
    device: &mut HostDevice,
    buffer: BufferId,
    info: Option<&TensorInfo>,
    writable: bool,
) -> Result<RawTensor, KernelError> {
    let info = info.ok_or_else(|| KernelError::invalid("a tensor without description".into()))?;
    let bytes = device.buffer(buffer)?;
    Ok(RawTensor {
        info,
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        writable,
    })
}

/// One node of a partition: its scalar kernel and its views of the device buffers.
struct Step {
    node: usize,
    kernel: Box<dyn Kernel>,
    /// What the views' `info` pointers point at.
    _infos: Box<[Option<TensorInfo>]>,
    inputs: Vec<Option<RawTensor>>,
    outputs: Vec<RawTensor>,
}

/// A partition of [`HostDeviceBackend`]: its nodes' scalar kernels, run in order.
struct HostPartition {
    name: String,
    steps: Vec<Step>,
    scratch: Vec<u128>,
    scratch_len: usize,
}

// SAFETY: the raw views point into the `HostDevice`'s buffers (heap memory that the
// interpreter owns with this kernel and that moves with it) and into `_infos`, owned here.
unsafe impl Send for HostPartition {}

impl PartitionKernel for HostPartition {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, _device: &mut dyn Device) -> Result<(), PartitionError> {
        let scratch =
            &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.scratch)[..self.scratch_len];
        for step in &mut self.steps {
            let mut services = NoServices;
            // SAFETY: every view points at its own device buffer of `len` bytes (the runtime
            // gives each tensor of the partition one buffer, and no node has a tensor as both
            // input and output, which planning refuses), at a description in `_infos`; the
            // runtime does not touch the device while the partition runs, and the buffers live
            // as long as the device, which the interpreter keeps with this kernel.
            let mut io =
                unsafe { KernelIo::new(&step.inputs, &step.outputs, scratch, &mut services) };
            step.kernel.run(&mut io).map_err(|source| PartitionError {
                node: step.node,
                source,
            })?;
        }
        Ok(())
    }
}

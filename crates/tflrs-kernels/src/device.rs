//! Devices: memory a backend owns (a GPU's buffers), and kernels that run whole partitions of
//! a subgraph there.
//!
//! A backend that owns a device returns one from [`Backend::device`](crate::Backend::device)
//! (the interpreter makes a fresh one each time it plans), claims runs of consecutive nodes
//! with [`Backend::claim`](crate::Backend::claim), and makes one [`PartitionKernel`] per claimed
//! run with [`Backend::partition_kernel`](crate::Backend::partition_kernel). The runtime then:
//! - gives every non-constant tensor a claimed node reads or writes a device buffer
//!   ([`Device::allocate`], at plan time);
//! - gives tensors internal to a partition (made and read only inside it) no host memory at
//!   all;
//! - copies, at each invoke, the tensors that cross a partition's edge: host to device
//!   ([`Device::upload`]) before the partition runs, device to host ([`Device::download`])
//!   after, and nothing else.
//!
//! Constants are not transferred: the partition kernel sees their bytes in
//! [`PartitionCtx::nodes`] (as a host kernel does in its [`NodeCtx`]) and uploads or packs them
//! once while it is made.

use crate::KernelError;
use crate::kernel::NodeCtx;
use core::any::Any;
use core::ops::Range;

/// A buffer on a [`Device`], as the device numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub usize);

/// Memory a backend owns, which the runtime fills and reads only through these calls.
///
/// `allocate` runs at plan time; `upload` and `download` run during `invoke` and must not
/// allocate (the runtime's `invoke` allocates nothing).
pub trait Device: Send + Any {
    /// Short name shown in plan reports (`host-device`, `wgpu:0`, ...).
    fn name(&self) -> &str;

    /// A new buffer of `bytes` bytes (contents unspecified until written).
    fn allocate(&mut self, bytes: usize) -> Result<BufferId, KernelError>;

    /// Copies `src` into buffer `dst` (whose size is `src.len()`).
    fn upload(&mut self, dst: BufferId, src: &[u8]) -> Result<(), KernelError>;

    /// Copies buffer `src` into `dst` (whose size is the buffer's).
    fn download(&mut self, src: BufferId, dst: &mut [u8]) -> Result<(), KernelError>;

    /// The device as [`Any`], so that a backend's partition kernels can reach their own
    /// device type (`device.as_any_mut().downcast_mut::<MyDevice>()`).
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// What a backend sees of a partition it claimed when it makes its kernel.
#[derive(Debug, Clone)]
pub struct PartitionCtx<'a> {
    /// Index of the subgraph.
    pub subgraph: usize,
    /// The claimed nodes (indices in the subgraph's execution order).
    pub range: Range<usize>,
    /// Each claimed node, as [`Backend::kernel_for`](crate::Backend::kernel_for) would see it
    /// (constant inputs expose their bytes).
    pub nodes: &'a [NodeCtx<'a>],
    /// Device buffer of each input of each node: `None` for an omitted input and for a
    /// constant (read from [`NodeCtx::constants`]).
    pub inputs: &'a [&'a [Option<BufferId>]],
    /// Device buffer of each output of each node.
    pub outputs: &'a [&'a [BufferId]],
    /// Which inputs of each node are variable tensors (TFLite's `is_variable`, such as an
    /// LSTM's state) that the node updates in place: their views are lent for writing, as the
    /// runtime lends them to host kernels, and the runtime copies them back to the host after
    /// the partition ran.
    pub writable: &'a [&'a [bool]],
}

/// A prepared kernel for one partition: made once by
/// [`Backend::partition_kernel`](crate::Backend::partition_kernel), then run at every invoke
/// on the buffers of its [`PartitionCtx`], after the runtime uploaded the partition's inputs
/// and before it downloads its outputs.
///
/// `run` must not allocate. Partitions get no [`Services`](crate::Services): a backend must
/// not claim control flow or resource-variable nodes.
pub trait PartitionKernel: Send {
    /// The kernel's name, shown in plan reports.
    fn name(&self) -> &str;

    /// Runs every node of the partition on `device` (the one the backend's
    /// [`Backend::device`](crate::Backend::device) made for this plan).
    fn run(&mut self, device: &mut dyn Device) -> Result<(), PartitionError>;
}

/// A partition kernel's failure, with the node that failed.
#[derive(Debug)]
pub struct PartitionError {
    /// Index of the failing node in the subgraph.
    pub node: usize,
    /// What went wrong.
    pub source: KernelError,
}

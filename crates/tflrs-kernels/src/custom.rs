//! Kernels for custom operators, registered by name.

use crate::kernel::{Backend, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// Makes a kernel for a node of a custom operator (its custom options are in the node's op).
pub type CustomKernelFactory =
    Box<dyn Fn(&NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> + Send + Sync>;

/// A backend that runs custom operators by their custom code.
///
/// ```ignore
/// let mut ops = CustomOps::new();
/// ops.register("MyOp", Box::new(|node| Ok(Box::new(MyKernel::new(node)?))));
/// ```
#[derive(Default)]
pub struct CustomOps {
    entries: Vec<(String, CustomKernelFactory)>,
}

impl core::fmt::Debug for CustomOps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(n, _)| n))
            .finish()
    }
}

impl CustomOps {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the kernel factory for custom code `name`.
    pub fn register(&mut self, name: impl Into<String>, factory: CustomKernelFactory) {
        let name = name.into();
        self.entries.retain(|(n, _)| *n != name);
        self.entries.push((name, factory));
    }

    /// Whether a kernel is registered for `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }
}

impl Backend for CustomOps {
    fn name(&self) -> &str {
        "custom"
    }

    fn kernel_for(&self, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
        let tflrs_ir::Op::Opaque(op) = node.op else {
            return Ok(None);
        };
        let Some(code) = op.custom_code.as_deref() else {
            return Ok(None);
        };
        match self.entries.iter().find(|(n, _)| n == code) {
            Some((_, factory)) => factory(node).map(Some),
            None => Ok(None),
        }
    }
}

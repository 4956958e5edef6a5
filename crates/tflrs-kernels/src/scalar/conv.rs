//! (family not implemented yet)

use crate::kernel::NodeCtx;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;

pub(crate) fn kernel_for(_node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    Ok(None)
}

//! [`SimdBackend`]: asks each kernel family of the crate for a node, at the backend's level.

use crate::isa::Isa;
use tflrs_kernels::{Backend, Kernel, KernelError, NodeCtx};

/// A family's factory: a kernel for `node` at `isa`, `Ok(None)` for a node it does not take.
pub(crate) type Factory = fn(Isa, &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError>;

/// The families, in the order they are asked.
const FAMILIES: &[Factory] = &[
    crate::fully_connected::kernel_for,
    crate::int8::fully_connected_kernel_for,
    // Before the IGEMM: CONV_2D with few input channels (the first layer of image models).
    crate::conv_small::kernel_for,
    crate::conv::kernel_for,
    crate::int8::conv_2d_kernel_for,
    crate::depthwise::kernel_for,
    crate::elementwise::kernel_for,
    crate::depthwise_i8::kernel_for,
    crate::elementwise_i8::kernel_for,
    crate::pool::kernel_for,
    crate::hybrid::fully_connected_kernel_for,
    crate::hybrid::conv_2d_kernel_for,
    crate::hybrid::depthwise_kernel_for,
    crate::batch_matmul::kernel_for,
    crate::transpose_conv::kernel_for,
    crate::activations::kernel_for,
    crate::softmax::kernel_for,
    crate::mean::kernel_for,
];

/// The best level the crate has kernels for. A host above it (AVX-512) runs these kernels, and
/// the backend names itself after the level that runs, so that plan reports and kernel names
/// (`__avx2_`) agree.
pub const BEST_IMPLEMENTED: Isa = Isa::Avx2Fma;

/// The SIMD backend at one instruction-set level.
///
/// Its [`name`](Backend::name) is the level's (`avx2`, `avx512`, ...), as the `__backend` part
/// of its kernels' names is (`fully_connected_f32__avx2_6x16`).
#[derive(Debug, Clone, Copy)]
pub struct SimdBackend {
    isa: Isa,
}

impl SimdBackend {
    /// The backend at [`Isa::selected`] (the host's best level, or the lower one
    /// `TFLRS_SIMD_ISA` names), at most [`BEST_IMPLEMENTED`].
    pub fn new() -> Self {
        Self {
            isa: Isa::selected().min(BEST_IMPLEMENTED),
        }
    }

    /// The backend at `isa` (at most [`BEST_IMPLEMENTED`]), if the host has it.
    pub fn with_isa(isa: Isa) -> Option<Self> {
        isa.is_available().then_some(Self {
            isa: isa.min(BEST_IMPLEMENTED),
        })
    }

    /// The level its kernels use.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

impl Default for SimdBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for SimdBackend {
    fn name(&self) -> &str {
        self.isa.name()
    }

    fn kernel_for(&self, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
        // Sparse constants (TFLite's sparse format) are the scalar kernels' (sparse
        // FULLY_CONNECTED, DENSIFY): the families here read dense data.
        if node.inputs.iter().flatten().any(|t| t.sparsity.is_some()) {
            return Ok(None);
        }
        for family in FAMILIES {
            if let Some(k) = family(self.isa, node)? {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }
}

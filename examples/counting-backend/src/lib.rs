//! A custom tflrs backend in its own crate, as a user writes one for their hardware.
//!
//! [`CountingBackend`] offers a kernel for ADD on float32 tensors of equal shape (no
//! broadcasting) and counts how often that kernel runs. For every other node it answers
//! `Ok(None)`, so the interpreter asks the next backend and, in the end, the scalar backend:
//! fallback is total without this crate knowing about any other operator.
//!
//! Walkthrough: `docs/writing-a-backend.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tflrs_ir::{Activation, DType, Op};
use tflrs_kernels::{Backend, Kernel, KernelError, KernelIo, NodeCtx};

/// Offers `add_f32__counting` for same-shape float32 ADD nodes.
#[derive(Debug, Clone, Default)]
pub struct CountingBackend {
    calls: Arc<AtomicUsize>,
}

impl CountingBackend {
    /// A backend with its call counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times its kernels have run, over every interpreter using this backend.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Backend for CountingBackend {
    fn name(&self) -> &str {
        "counting"
    }

    fn kernel_for(&self, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
        // 1. Is this a node we handle? If not, say so with Ok(None): not an error.
        let Op::Add(attrs) = node.op else {
            return Ok(None);
        };
        if attrs.fused_activation_function != Activation::None {
            return Ok(None);
        }
        // 2. Check what the kernel relies on while preparing, so that `run` cannot fail.
        node.expect_inputs(2, 2)?;
        node.expect_outputs(1)?;
        let (a, b, out) = (node.input(0)?, node.input(1)?, node.output(0)?);
        let all_f32 = [a, b, out].iter().all(|t| t.dtype == DType::Float32);
        if !all_f32 || a.shape != b.shape || a.shape != out.shape {
            return Ok(None); // broadcasting and other types: let another backend do it
        }
        // 3. Prepare once; `run` must not allocate.
        Ok(Some(Box::new(CountingAdd {
            calls: Arc::clone(&self.calls),
        })))
    }
}

/// Same-shape float32 addition that counts its runs.
struct CountingAdd {
    calls: Arc<AtomicUsize>,
}

impl Kernel for CountingAdd {
    fn name(&self) -> &str {
        "add_f32__counting"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _scratch, _services) = io.split();
        let a = inputs.get(0)?.as_slice::<f32>()?;
        let b = inputs.get(1)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        for ((o, x), y) in out.as_slice_mut::<f32>()?.iter_mut().zip(a).zip(b) {
            *o = x + y;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

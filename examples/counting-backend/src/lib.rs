//! A custom tflrs backend in its own crate, as a user writes one for their hardware.
//!
//! [`CountingBackend`] offers a kernel for float32 ADD (with broadcasting and any fused
//! activation) and counts how often that kernel runs. For every other node it answers
//! `Ok(None)`, so the interpreter asks the next backend and, in the end, the scalar backend:
//! fallback is total without this crate knowing about any other operator.
//!
//! It does not validate the node itself: [`tflrs_kernels::prep::binary::plan`], the scalar
//! backend's own preparation, checks shapes and broadcasting and computes the activation's
//! clamp range, so this kernel cannot accept a node the scalar one refuses, or clamp
//! differently.
//!
//! Walkthrough: `docs/writing-a-backend.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tflrs_ir::{DType, Op};
use tflrs_kernels::prep::binary::{self, BinaryParams, BinaryPlan};
use tflrs_kernels::{Backend, Kernel, KernelError, KernelIo, NodeCtx, ensure};

/// Offers `add_f32__counting` for float32 ADD nodes.
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
        if !matches!(node.op, Op::Add(_)) {
            return Ok(None);
        }
        // 2. Prepare with the scalar backend's preparation: it refuses broken nodes with a
        //    typed error (bad shapes, impossible broadcasts) and gives the clamp range.
        let Some(plan) = binary::plan(node)? else {
            return Ok(None);
        };
        let BinaryParams::Float { act_min, act_max } = plan.params else {
            return Ok(None); // quantized and integer ADDs: let another backend do them
        };
        if plan.dtype != DType::Float32 {
            return Ok(None); // float16 and float64 have no kernel here
        }
        // 3. Everything `run` relies on is decided now; `run` must not allocate.
        Ok(Some(Box::new(CountingAdd {
            plan,
            act_min,
            act_max,
            calls: Arc::clone(&self.calls),
        })))
    }
}

/// Float32 addition with broadcasting that counts its runs.
struct CountingAdd {
    plan: BinaryPlan,
    act_min: f32,
    act_max: f32,
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
        let out = out.as_slice_mut::<f32>()?;
        ensure!(
            out.len() == self.plan.broadcast.out_len(),
            "output holds {} floats, the plan {}",
            out.len(),
            self.plan.broadcast.out_len()
        );
        let (lo, hi) = (self.act_min, self.act_max);
        // The walk hands out contiguous runs; a step of 0 repeats a broadcast operand.
        let mut bad = false;
        self.plan.broadcast.for_each_run(|run, [sa, sb], [da, db]| {
            let n = run.len();
            let (Some(a), Some(b)) = (
                a.get(sa..sa + da * (n - 1) + 1),
                b.get(sb..sb + db * (n - 1) + 1),
            ) else {
                bad = true;
                return;
            };
            for (i, o) in out[run].iter_mut().enumerate() {
                *o = (a[da * i] + b[db * i]).clamp(lo, hi);
            }
        });
        ensure!(!bad, "an input is shorter than its shape");
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

//! Running kernels outside an interpreter: for unit tests, property tests (fast kernel vs the
//! scalar kernel) and benches.
//!
//! [`Harness`] is the one way tests run a kernel: it lends the node's variable inputs for
//! writing when asked ([`Harness::state`]), passes a [`Services`] to control-flow and variable
//! kernels ([`Harness::services`]), fills outputs and scratch with a poison byte so that an
//! element a kernel leaves unwritten shows, puts guard bytes after every output, writable input
//! and the scratch buffer and fails when a kernel wrote into them, and compares a fast backend's
//! kernel with the scalar one ([`Harness::compare`]: integer outputs bit for bit, float outputs
//! within a stated [`FloatTolerance`]). [`make_kernel`], [`run_kernel`] and [`run_node`] are
//! shorthands for the common case. The buffers come from [`standalone`](crate::standalone).

use crate::kernel::{Backend, NoServices, NodeCtx, Services};
use crate::standalone::{self, Buffer, Data, Input, Layout, Overrun};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError, Parallel};
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use tflrs_ir::{DType, Op};

/// One input of a test node.
#[derive(Debug, Clone, PartialEq)]
pub struct TestInput {
    /// Its description.
    pub info: TensorInfo,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether the kernel sees it as a constant at preparation time.
    pub constant: bool,
}

impl TestInput {
    /// A computed (non-constant) input.
    pub fn new(info: TensorInfo, bytes: Vec<u8>) -> Self {
        Self {
            info,
            bytes,
            constant: false,
        }
    }

    /// A constant input (weights, biases, shape operands).
    pub fn constant(info: TensorInfo, bytes: Vec<u8>) -> Self {
        Self {
            info,
            bytes,
            constant: true,
        }
    }

    /// A computed input from typed values.
    pub fn from_slice<T: bytemuck::Pod>(info: TensorInfo, values: &[T]) -> Self {
        Self::new(info, bytemuck::cast_slice(values).to_vec())
    }

    /// A constant input from typed values.
    pub fn const_from_slice<T: bytemuck::Pod>(info: TensorInfo, values: &[T]) -> Self {
        Self::constant(info, bytemuck::cast_slice(values).to_vec())
    }
}

/// Asks `backend` for a kernel for a node made of `op`, `inputs` and `outputs`.
pub fn make_kernel(
    backend: &dyn Backend,
    op: &Op<'_>,
    inputs: &[Option<TestInput>],
    outputs: &[TensorInfo],
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let infos: Vec<Option<&TensorInfo>> =
        inputs.iter().map(|i| i.as_ref().map(|i| &i.info)).collect();
    let constants: Vec<Option<&[u8]>> = inputs
        .iter()
        .map(|i| {
            i.as_ref()
                .filter(|i| i.constant)
                .map(|i| i.bytes.as_slice())
        })
        .collect();
    let outs: Vec<&TensorInfo> = outputs.iter().collect();
    let node = NodeCtx {
        subgraph: 0,
        index: 0,
        op,
        inputs: &infos,
        constants: &constants,
        outputs: &outs,
        intermediates: &[],
    };
    backend.kernel_for(&node)
}

/// Runs `kernel` on `inputs` with a default [`Harness`], returning each output's bytes.
///
/// Outputs start filled with a poison byte, so that a kernel that leaves an element unwritten
/// is caught; a write past an output or the scratch buffer fails the run
/// ([`KernelError::Invalid`] naming the buffer).
pub fn run_kernel(
    kernel: &mut dyn Kernel,
    inputs: &[Option<TestInput>],
    outputs: &[TensorInfo],
) -> Result<Vec<Vec<u8>>, KernelError> {
    Harness::new()
        .run(kernel, &mut inputs.to_vec(), outputs)
        .map_err(HarnessError::into_kernel_error)
}

/// Makes a kernel with `backend` and runs it once; fails if the backend declines the node.
pub fn run_node(
    backend: &dyn Backend,
    op: &Op<'_>,
    inputs: &[Option<TestInput>],
    outputs: &[TensorInfo],
) -> Result<Vec<Vec<u8>>, KernelError> {
    Harness::new()
        .run_node(backend, op, &mut inputs.to_vec(), outputs)
        .map_err(HarnessError::into_kernel_error)
}

/// How far apart two float outputs may be in [`Harness::compare`]: elements `a` and `b` agree
/// when `|a - b| <= abs + rel * max(|a|, |b|)`, or when both are NaN, or both the same infinity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatTolerance {
    /// Absolute part.
    pub abs: f64,
    /// Relative part.
    pub rel: f64,
}

impl FloatTolerance {
    /// Bit-for-bit equal values (NaNs agree with NaNs).
    pub const EXACT: Self = Self { abs: 0.0, rel: 0.0 };

    fn agrees(self, a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a.is_infinite() || b.is_infinite() {
            return a == b;
        }
        (a - b).abs() <= self.abs + self.rel * a.abs().max(b.abs())
    }
}

/// Why a [`Harness`] run or comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Preparing or running the kernel failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The backend answered `Ok(None)`.
    #[error("backend {backend} declined {op}")]
    Declined {
        /// The backend.
        backend: String,
        /// The operator.
        op: String,
    },
    /// The kernel wrote into the guard bytes after a buffer.
    #[error("kernel {kernel} {overrun}")]
    Overrun {
        /// The kernel.
        kernel: String,
        /// Where.
        overrun: Overrun,
    },
    /// Two kernels disagree ([`Harness::compare`]).
    #[error("{a} and {b} disagree at {buffer}, element {element}: {value_a} against {value_b}")]
    Mismatch {
        /// The first kernel.
        a: String,
        /// The second kernel.
        b: String,
        /// The output (or the input lent for writing) that differs.
        buffer: Buffer,
        /// The first differing element (byte for non-float outputs of unequal length).
        element: usize,
        /// Its value from `a`.
        value_a: String,
        /// Its value from `b`.
        value_b: String,
    },
}

impl HarnessError {
    /// The error as a [`KernelError`], for helpers whose callers expect one.
    pub fn into_kernel_error(self) -> KernelError {
        match self {
            HarnessError::Kernel(e) => e,
            HarnessError::Declined { .. } => KernelError::unsupported(self.to_string()),
            _ => KernelError::invalid(self.to_string()),
        }
    }
}

/// Runs kernels outside an interpreter for tests; see the [module docs](self).
///
/// ```
/// # use tflrs_kernels::{ScalarBackend, TensorInfo, testing::{Harness, TestInput}};
/// # use tflrs_ir::{DType, Op, AddAttrs};
/// let t = TensorInfo::new("t", DType::Float32, [2]);
/// let mut inputs = vec![
///     Some(TestInput::from_slice(t.clone(), &[1.0f32, 2.0])),
///     Some(TestInput::from_slice(t.clone(), &[0.5f32, 0.5])),
/// ];
/// let out = Harness::new()
///     .run_node(&ScalarBackend, &Op::Add(AddAttrs::default()), &mut inputs, &[t])
///     .unwrap();
/// assert_eq!(out[0], bytemuck::cast_slice::<f32, u8>(&[1.5, 2.5]));
/// ```
pub struct Harness<'s> {
    state: Vec<usize>,
    services: Option<&'s mut dyn Services>,
    layout: Layout,
    tolerance: FloatTolerance,
    parallel: Option<&'s dyn Parallel>,
}

impl core::fmt::Debug for Harness<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Harness")
            .field("state", &self.state)
            .field("services", &self.services.is_some())
            .field("layout", &self.layout)
            .field("tolerance", &self.tolerance)
            .field("threads", &crate::parallel::threads(self.parallel))
            .finish()
    }
}

impl Default for Harness<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'s> Harness<'s> {
    /// A harness without state inputs, with [`NoServices`], the default poison and 64 guard
    /// bytes, comparing floats exactly.
    pub fn new() -> Self {
        Self {
            state: Vec::new(),
            services: None,
            layout: Layout::default(),
            tolerance: FloatTolerance::EXACT,
            parallel: None,
        }
    }

    /// Lends inputs `slots` for writing, as the interpreter lends a node's variable tensors
    /// (an LSTM's output and cell state); [`run`](Self::run) stores their updated bytes back
    /// into the inputs.
    pub fn state(mut self, slots: &[usize]) -> Self {
        self.state = slots.to_vec();
        self
    }

    /// Runs kernels with `services` (subgraphs, variables) instead of [`NoServices`].
    pub fn services(mut self, services: &'s mut dyn Services) -> Self {
        self.services = Some(services);
        self
    }

    /// Puts `n` guard bytes after each buffer (at least up to the next 16-byte boundary).
    pub fn guard_bytes(mut self, n: usize) -> Self {
        self.layout.guard_bytes = n;
        self
    }

    /// Fills outputs and scratch with `byte` before each run.
    pub fn poison(mut self, byte: u8) -> Self {
        self.layout.poison = byte;
        self
    }

    /// Lends kernels `parallel`'s threads ([`KernelIo::parallel`](crate::KernelIo::parallel)),
    /// as an interpreter built with several threads does.
    pub fn parallel(mut self, parallel: &'s dyn Parallel) -> Self {
        self.parallel = Some(parallel);
        self
    }

    /// How far float outputs may differ in [`compare`](Self::compare).
    pub fn tolerance(mut self, tolerance: FloatTolerance) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Asks `backend` for the node's kernel; fails when it declines.
    pub fn make(
        &self,
        backend: &dyn Backend,
        op: &Op<'_>,
        inputs: &[Option<TestInput>],
        outputs: &[TensorInfo],
    ) -> Result<Box<dyn Kernel>, HarnessError> {
        make_kernel(backend, op, inputs, outputs)?.ok_or_else(|| HarnessError::Declined {
            backend: backend.name().to_string(),
            op: op.name().to_string(),
        })
    }

    /// Runs `kernel` once, returning each output's bytes; inputs lent for writing
    /// ([`state`](Self::state)) receive the kernel's updates.
    pub fn run(
        &mut self,
        kernel: &mut dyn Kernel,
        inputs: &mut [Option<TestInput>],
        outputs: &[TensorInfo],
    ) -> Result<Vec<Vec<u8>>, HarnessError> {
        let state = &self.state;
        let mut ins: Vec<Option<Input<'_>>> = inputs
            .iter_mut()
            .enumerate()
            .map(|(k, i)| {
                i.as_mut().map(|i| Input {
                    info: &i.info,
                    data: if state.contains(&k) {
                        Data::Write(&mut i.bytes)
                    } else {
                        Data::Read(&i.bytes)
                    },
                })
            })
            .collect();
        let outs: Vec<&TensorInfo> = outputs.iter().collect();
        let mut none = NoServices;
        let services: &mut dyn Services = match &mut self.services {
            Some(s) => &mut **s,
            None => &mut none,
        };
        let run = standalone::run_kernel_on(
            kernel,
            &mut ins,
            &outs,
            services,
            self.layout,
            self.parallel,
        )?;
        if let Some(&overrun) = run.overruns.first() {
            return Err(HarnessError::Overrun {
                kernel: kernel.name().to_string(),
                overrun,
            });
        }
        Ok(run.outputs)
    }

    /// Makes the node's kernel with `backend` and runs it once (see [`run`](Self::run)).
    pub fn run_node(
        &mut self,
        backend: &dyn Backend,
        op: &Op<'_>,
        inputs: &mut [Option<TestInput>],
        outputs: &[TensorInfo],
    ) -> Result<Vec<Vec<u8>>, HarnessError> {
        let mut kernel = self.make(backend, op, inputs, outputs)?;
        self.run(kernel.as_mut(), inputs, outputs)
    }

    /// Runs the node with `a`'s kernel and with `b`'s (each on its own copy of `inputs`) and
    /// checks that they agree: every output, and every input lent for writing after the run.
    /// Integer, boolean and quantized tensors must be equal bit for bit; float tensors within
    /// [`tolerance`](Self::tolerance). Both backends must offer a kernel, so that a fast
    /// backend declining the node cannot pass vacuously. Returns the two kernels' names.
    pub fn compare(
        &mut self,
        a: &dyn Backend,
        b: &dyn Backend,
        op: &Op<'_>,
        inputs: &[Option<TestInput>],
        outputs: &[TensorInfo],
    ) -> Result<(String, String), HarnessError> {
        let mut kernel_a = self.make(a, op, inputs, outputs)?;
        let mut kernel_b = self.make(b, op, inputs, outputs)?;
        let (name_a, name_b) = (kernel_a.name().to_string(), kernel_b.name().to_string());
        let mut in_a = inputs.to_vec();
        let mut in_b = inputs.to_vec();
        let out_a = self.run(kernel_a.as_mut(), &mut in_a, outputs)?;
        let out_b = self.run(kernel_b.as_mut(), &mut in_b, outputs)?;
        let mut pairs: Vec<(Buffer, DType, &[u8], &[u8])> = outputs
            .iter()
            .zip(out_a.iter().zip(&out_b))
            .enumerate()
            .map(|(k, (o, (x, y)))| (Buffer::Output(k), o.dtype, x.as_slice(), y.as_slice()))
            .collect();
        for &k in &self.state {
            if let (Some(Some(x)), Some(Some(y))) = (in_a.get(k), in_b.get(k)) {
                pairs.push((Buffer::Input(k), x.info.dtype, &x.bytes, &y.bytes));
            }
        }
        for (buffer, dtype, x, y) in pairs {
            if let Some((element, value_a, value_b)) = first_difference(dtype, x, y, self.tolerance)
            {
                return Err(HarnessError::Mismatch {
                    a: name_a,
                    b: name_b,
                    buffer,
                    element,
                    value_a,
                    value_b,
                });
            }
        }
        Ok((name_a, name_b))
    }
}

/// Decodes element `i` of a float tensor's little-endian bytes.
fn float_at(dtype: DType, bytes: &[u8], i: usize) -> Option<f64> {
    let at = |n: usize| bytes.get(i * n..(i + 1) * n);
    Some(match dtype {
        DType::Float32 => f32::from_le_bytes(at(4)?.try_into().ok()?) as f64,
        DType::Float64 => f64::from_le_bytes(at(8)?.try_into().ok()?),
        DType::Float16 => half::f16::from_le_bytes(at(2)?.try_into().ok()?).to_f64(),
        DType::BFloat16 => half::bf16::from_le_bytes(at(2)?.try_into().ok()?).to_f64(),
        _ => return None,
    })
}

/// The first element where `x` and `y` disagree, with both values printed.
fn first_difference(
    dtype: DType,
    x: &[u8],
    y: &[u8],
    tolerance: FloatTolerance,
) -> Option<(usize, String, String)> {
    let width = match dtype {
        DType::Float32 => 4,
        DType::Float64 => 8,
        DType::Float16 | DType::BFloat16 => 2,
        _ => 0,
    };
    if width != 0 && x.len() == y.len() {
        return (0..x.len() / width).find_map(|i| {
            let (a, b) = (float_at(dtype, x, i)?, float_at(dtype, y, i)?);
            (!tolerance.agrees(a, b)).then(|| (i, alloc::format!("{a}"), alloc::format!("{b}")))
        });
    }
    // Integers, booleans, quantized types (and float tensors of unequal length): bytes.
    let n = x.len().max(y.len());
    (0..n).find_map(|i| {
        let (a, b) = (x.get(i), y.get(i));
        (a != b).then(|| (i, alloc::format!("{a:?}"), alloc::format!("{b:?}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KernelIo, ScalarBackend};
    use alloc::vec;
    use tflrs_ir::AddAttrs;

    /// What [`Faulty`] does wrong, or not.
    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        /// Adds its input to `out[..]` correctly.
        None,
        /// Writes one byte past the end of output 0.
        PastOutput,
        /// Writes one byte past the end of its scratch.
        PastScratch,
        /// Leaves the last output element unwritten.
        Unwritten,
        /// Adds one to the first element.
        OffByOne,
        /// Adds `1e-4` to the first element.
        Tiny,
    }

    /// Copies float32 input 0 to output 0 (and negates input 1 in place when it is lent),
    /// with a fault.
    struct Faulty(Fault);

    impl Kernel for Faulty {
        fn name(&self) -> &str {
            "copy_f32__test"
        }

        fn scratch_bytes(&self) -> usize {
            3
        }

        fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
            let (inputs, mut outputs, [state], scratch, _) = io.split_with_state([1]);
            let x = inputs.get(0)?;
            let out = outputs.get(0)?;
            let n = out.bytes.len();
            let keep = if self.0 == Fault::Unwritten { n - 4 } else { n };
            out.bytes[..keep].copy_from_slice(&x.bytes[..keep]);
            if let Some(mut s) = state {
                for v in s.as_slice_mut::<f32>()? {
                    *v = -*v;
                }
            }
            // Bytes, not `as_slice_mut`, so that the outputs may be declared of another type.
            let first = f32::from_le_bytes(out.bytes[..4].try_into().unwrap());
            let first = match self.0 {
                Fault::OffByOne => first + 1.0,
                Fault::Tiny => first + 1e-4,
                _ => first,
            };
            out.bytes[..4].copy_from_slice(&first.to_le_bytes());
            // SAFETY: none, on purpose: this is the bug the guard bytes exist to catch. The
            // harness's buffers are allocated past `len` (guard bytes), so the byte written
            // is inside the allocation.
            unsafe {
                match self.0 {
                    Fault::PastOutput => out.bytes.as_mut_ptr().add(n).write(1),
                    Fault::PastScratch => scratch.as_mut_ptr().add(scratch.len()).write(1),
                    _ => {}
                }
            }
            Ok(())
        }
    }

    /// Offers a [`Faulty`] kernel for every node, or (`None`) declines every node.
    struct TestBackend(&'static str, Option<Fault>);

    impl Backend for TestBackend {
        fn name(&self) -> &str {
            self.0
        }

        fn kernel_for(&self, _: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
            Ok(self.1.map(|f| Box::new(Faulty(f)) as Box<dyn Kernel>))
        }
    }

    fn f32_info() -> TensorInfo {
        TensorInfo::new("t", DType::Float32, [3])
    }

    fn inputs() -> Vec<Option<TestInput>> {
        vec![
            Some(TestInput::from_slice(f32_info(), &[1.0f32, 2.0, 3.0])),
            Some(TestInput::from_slice(f32_info(), &[4.0f32, 5.0, 6.0])),
        ]
    }

    fn run(fault: Fault) -> Result<Vec<Vec<u8>>, HarnessError> {
        Harness::new().run(&mut Faulty(fault), &mut inputs(), &[f32_info()])
    }

    #[test]
    fn a_correct_kernel_passes() {
        let out = run(Fault::None).unwrap();
        assert_eq!(out[0], bytemuck::cast_slice::<f32, u8>(&[1.0, 2.0, 3.0]));
    }

    #[test]
    fn a_write_one_byte_past_an_output_is_caught() {
        let e = run(Fault::PastOutput).unwrap_err();
        let HarnessError::Overrun { kernel, overrun } = &e else {
            panic!("{e}")
        };
        assert_eq!(kernel, "copy_f32__test");
        assert_eq!(
            *overrun,
            Overrun {
                buffer: Buffer::Output(0),
                len: 12,
                offset: 0
            }
        );
        assert_eq!(
            e.to_string(),
            "kernel copy_f32__test wrote byte 12 of output 0 (12 bytes long)"
        );
        // The shorthand fails too.
        assert!(run_kernel(&mut Faulty(Fault::PastOutput), &inputs(), &[f32_info()]).is_err());
    }

    #[test]
    fn a_write_past_the_scratch_is_caught() {
        let e = run(Fault::PastScratch).unwrap_err();
        assert!(
            matches!(e, HarnessError::Overrun { overrun, .. }
                if overrun.buffer == Buffer::Scratch && overrun.len == 3),
            "{e}"
        );
    }

    #[test]
    fn unwritten_elements_keep_the_poison() {
        let out = Harness::new()
            .poison(0x7F)
            .run(&mut Faulty(Fault::Unwritten), &mut inputs(), &[f32_info()])
            .unwrap();
        assert_eq!(out[0][8..], [0x7F; 4]);
    }

    #[test]
    fn state_inputs_are_lent_for_writing_and_stored_back() {
        let mut ins = inputs();
        Harness::new()
            .run(&mut Faulty(Fault::None), &mut ins, &[f32_info()])
            .unwrap();
        assert_eq!(ins, inputs(), "not lent: read only");
        Harness::new()
            .state(&[1])
            .run(&mut Faulty(Fault::None), &mut ins, &[f32_info()])
            .unwrap();
        let state: &[f32] = bytemuck::cast_slice(&ins[1].as_ref().unwrap().bytes);
        assert_eq!(state, [-4.0, -5.0, -6.0]);
    }

    #[test]
    fn compare_is_exact_for_integers_and_within_the_tolerance_for_floats() {
        let op = Op::Add(AddAttrs::default());
        let good = TestBackend("good", Some(Fault::None));
        let outs = [f32_info()];
        let mut h = Harness::new();
        assert_eq!(
            h.compare(&good, &good, &op, &inputs(), &outs).unwrap(),
            ("copy_f32__test".into(), "copy_f32__test".into())
        );
        // Exact by default: 1e-4 apart fails, within a stated tolerance it passes.
        let tiny = TestBackend("tiny", Some(Fault::Tiny));
        let e = h.compare(&tiny, &good, &op, &inputs(), &outs).unwrap_err();
        assert!(
            matches!(
                &e,
                HarnessError::Mismatch {
                    buffer: Buffer::Output(0),
                    element: 0,
                    ..
                }
            ),
            "{e}"
        );
        let mut loose = Harness::new().tolerance(FloatTolerance {
            abs: 2e-4,
            rel: 0.0,
        });
        loose.compare(&tiny, &good, &op, &inputs(), &outs).unwrap();
        let far = TestBackend("far", Some(Fault::OffByOne));
        assert!(loose.compare(&far, &good, &op, &inputs(), &outs).is_err());
        // Integer outputs are compared bit for bit whatever the tolerance: the same bytes read
        // as int32 differ in one element.
        let ints = [TensorInfo::new("t", DType::Int32, [3])];
        let mut very_loose = Harness::new().tolerance(FloatTolerance { abs: 1e9, rel: 1.0 });
        assert!(
            very_loose
                .compare(&tiny, &good, &op, &inputs(), &ints)
                .is_err()
        );
        // The updated states are compared too.
        let mut stateful = Harness::new().state(&[1]);
        stateful
            .compare(&good, &good, &op, &inputs(), &outs)
            .unwrap();
    }

    #[test]
    fn compare_fails_when_a_backend_declines() {
        let op = Op::Add(AddAttrs::default());
        let e = Harness::new()
            .compare(
                &TestBackend("declines", None),
                &ScalarBackend,
                &op,
                &inputs(),
                &[f32_info()],
            )
            .unwrap_err();
        assert!(matches!(e, HarnessError::Declined { .. }), "{e}");
    }

    #[test]
    fn the_scalar_add_agrees_with_itself_under_guards() {
        let op = Op::Add(AddAttrs::default());
        let (a, b) = Harness::new()
            .compare(
                &ScalarBackend,
                &ScalarBackend,
                &op,
                &inputs(),
                &[f32_info()],
            )
            .unwrap();
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("add_f32__scalar", "add_f32__scalar")
        );
    }
}

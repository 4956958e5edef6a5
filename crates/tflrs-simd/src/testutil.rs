//! What the kernel tests share: a node with inputs and the derived float bound, run on a
//! [`SimdBackend`] and on [`ScalarBackend`] through [`Harness`] (poisoned outputs, guard bytes
//! after every buffer) and compared element by element.
//!
//! **The bound.** Both kernels sum the same `K` products and a bias in f32, in another order
//! and, on AVX2, with fused multiply-adds. Every such evaluation lies within
//! `gamma(K + 1) * (sum |x_k w_k| + |bias|)` of the exact sum (Higham, *Accuracy and Stability
//! of Numerical Algorithms*, 3.1: u = 2^-24, gamma(n) = n u / (1 - n u)), plus at most
//! `(K + 1) * 2^-149` for products that underflow. Two evaluations are therefore within twice
//! that of each other; the fused activation's clamp is 1-Lipschitz and the padding taps of a
//! convolution add exact zeros, so the same bound holds for the outputs. It is computed per
//! output element from the case's values in f64 ([`Case::bound_terms`]), not guessed.

use crate::{Isa, SimdBackend};
use proptest::strategy::{Strategy, Union};
use proptest::test_runner::{Config, TestRunner};
use tflrs_ir::{Activation, Op};
use tflrs_kernels::testing::{Harness, TestInput, make_kernel};
use tflrs_kernels::{Kernel, KernelError, ScalarBackend, TensorInfo};

/// The spatial sizes of a convolution-like case per axis (height, width): the input is the
/// dilated window plus `extra` rows/columns, and the output size and padding follow LiteRT's
/// rule (`tflrs_ir::window::conv_axis`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axes {
    /// Input size.
    pub input: (usize, usize),
    /// Output size.
    pub output: (usize, usize),
    /// Padding before the first row and column.
    pub pad: (usize, usize),
}

impl Axes {
    /// The axes of a case with `kernel`, `stride`, `dilation` and `extra` per axis.
    pub fn new(
        padding: tflrs_ir::Padding,
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        extra: (usize, usize),
    ) -> Self {
        let axis = |k: usize, s: usize, d: usize, e: usize| {
            let input = (k - 1) * d + 1 + e;
            let (out, pad) = tflrs_ir::window::conv_axis(padding, input, k, s, d).unwrap();
            (input, out, pad.before)
        };
        let (ih, oh, ph) = axis(kernel.0, stride.0, dilation.0, extra.0);
        let (iw, ow, pw) = axis(kernel.1, stride.1, dilation.1, extra.1);
        Self {
            input: (ih, iw),
            output: (oh, ow),
            pad: (ph, pw),
        }
    }
}

/// Random cases per level and property.
pub(crate) const ISA_CASES: u32 = 64;

/// The fused activations FULLY_CONNECTED and CONV_2D float32 take.
pub(crate) const ACTIVATIONS: [Activation; 4] = [
    Activation::None,
    Activation::Relu,
    Activation::ReluN1To1,
    Activation::Relu6,
];

/// Sizes at the tile edges of every micro-kernel (MR 4 and 6, NR 8 and 16).
const EDGES: [usize; 14] = [1, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33];

/// A size: a tile edge within `range`, or any in it.
pub(crate) fn edge_or_any(
    range: core::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = usize> + Clone {
    let edges: Vec<usize> = EDGES.into_iter().filter(|e| range.contains(e)).collect();
    Union::new_weighted(vec![
        (1, proptest::sample::select(edges).boxed()),
        (1, range.boxed()),
    ])
}

/// Calls `f` with the backend and a proptest runner for every level the host has (printing a
/// SKIP line for the others).
pub(crate) fn for_each_backend(mut f: impl FnMut(&SimdBackend, &mut TestRunner)) {
    Isa::for_each_available(|isa| {
        let backend = SimdBackend::with_isa(isa).unwrap();
        let mut runner = TestRunner::new(Config {
            cases: ISA_CASES,
            failure_persistence: None,
            ..Config::default()
        });
        f(&backend, &mut runner);
    });
}

/// An input from values, constant (seen at preparation) or computed.
pub(crate) fn input(constant: bool, info: TensorInfo, values: &[f32]) -> TestInput {
    if constant {
        TestInput::const_from_slice(info, values)
    } else {
        TestInput::from_slice(info, values)
    }
}

/// A test node, its values, and per output element `(K, sum |x w| + |bias|)` for the bound.
#[derive(Debug)]
pub(crate) struct Case {
    pub op: Op<'static>,
    pub inputs: Vec<Option<TestInput>>,
    pub outputs: Vec<TensorInfo>,
    pub bound_terms: Vec<(usize, f64)>,
    seed: u64,
}

/// The bound on `|a - b|` for one output of `k` products with `sum_abs` (see the module docs).
pub(crate) fn bound(k: usize, sum_abs: f64) -> f64 {
    let u = f64::from(f32::EPSILON) / 2.0;
    let n = (k + 1) as f64;
    2.0 * (n * u / (1.0 - n * u) * sum_abs + n * 2f64.powi(-149))
}

impl Case {
    /// An empty case of `op` whose values come from `seed`.
    pub fn new(op: Op<'static>, seed: u64) -> Self {
        Self {
            op,
            inputs: Vec::new(),
            outputs: Vec::new(),
            bound_terms: Vec::new(),
            seed: seed | 1,
        }
    }

    /// `n` values in [-2, 2) (xorshift), the next ones of the case's stream.
    pub fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let s = &mut self.seed;
                *s ^= *s << 13;
                *s ^= *s >> 7;
                *s ^= *s << 17;
                ((*s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    /// The backend's kernel for the node, if it takes it.
    pub fn make(&self, backend: &SimdBackend) -> Result<Option<Box<dyn Kernel>>, KernelError> {
        make_kernel(backend, &self.op, &self.inputs, &self.outputs)
    }

    /// Runs the node on `backend` and on the scalar backend (each through a [`Harness`], so a
    /// write past an output fails) and compares output 0 within [`bound`]; returns the SIMD
    /// kernel's name.
    pub fn check(&self, backend: &SimdBackend) -> Result<String, String> {
        let mut kernel = Harness::new()
            .make(backend, &self.op, &self.inputs, &self.outputs)
            .map_err(|e| e.to_string())?;
        let name = kernel.name().to_string();
        let run = |k: &mut dyn Kernel| {
            Harness::new()
                .run(k, &mut self.inputs.clone(), &self.outputs)
                .map_err(|e| e.to_string())
        };
        let simd = run(kernel.as_mut())?;
        let mut reference = Harness::new()
            .make(&ScalarBackend, &self.op, &self.inputs, &self.outputs)
            .map_err(|e| e.to_string())?;
        let scalar = run(reference.as_mut())?;
        let (a, b): (&[f32], &[f32]) = (
            bytemuck::cast_slice(&simd[0]),
            bytemuck::cast_slice(&scalar[0]),
        );
        if a.len() != b.len() || a.len() != self.bound_terms.len() {
            return Err(format!(
                "{name}: {} outputs against {} (expected {})",
                a.len(),
                b.len(),
                self.bound_terms.len()
            ));
        }
        for (i, ((&x, &y), &(k, s))) in a.iter().zip(b).zip(&self.bound_terms).enumerate() {
            // NaN (an unwritten, poisoned element) is never within the bound.
            let within = (f64::from(x) - f64::from(y)).abs() <= bound(k, s);
            if !within {
                return Err(format!(
                    "{name}: element {i}: {x} against scalar {y} (bound {:e}, K {k})",
                    bound(k, s)
                ));
            }
        }
        Ok(name)
    }
}

/// Threads made per call ([`ScopedThreads`](tflrs_kernels::parallel::ScopedThreads)) that
/// count the calls, so that a test knows the kernel did split.
pub(crate) struct Counted {
    threads: tflrs_kernels::parallel::ScopedThreads,
    calls: std::sync::atomic::AtomicUsize,
}

impl Counted {
    pub fn new(threads: usize) -> Self {
        Self {
            threads: tflrs_kernels::parallel::ScopedThreads(threads),
            calls: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `for_each` calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl tflrs_kernels::Parallel for Counted {
    fn threads(&self) -> usize {
        tflrs_kernels::Parallel::threads(&self.threads)
    }

    fn for_each(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.threads.for_each(tasks, f);
    }
}

/// Runs the node's kernel on `backend` with 1, 2 and 3 threads (a fresh kernel each time) and
/// fails unless every output is the same bytes; `split` says whether the kernel should have
/// split its work (it is large enough) or run serially (too small).
pub(crate) fn same_bytes_on_1_2_3_threads(
    backend: &SimdBackend,
    op: &Op<'_>,
    inputs: &[Option<TestInput>],
    outputs: &[TensorInfo],
    split: bool,
) -> Result<String, String> {
    let run = |threads: usize| -> Result<(String, Vec<Vec<u8>>, usize), String> {
        let counted = Counted::new(threads);
        let mut h = Harness::new();
        if threads > 1 {
            h = h.parallel(&counted);
        }
        let mut kernel = h
            .make(backend, op, inputs, outputs)
            .map_err(|e| e.to_string())?;
        let out = h
            .run(kernel.as_mut(), &mut inputs.to_vec(), outputs)
            .map_err(|e| e.to_string())?;
        Ok((kernel.name().to_string(), out, counted.calls()))
    };
    let (name, one, _) = run(1)?;
    for threads in [2, 3] {
        let (_, many, calls) = run(threads)?;
        if many != one {
            return Err(format!(
                "{name}: {threads} threads give other bytes than one"
            ));
        }
        if (calls > 0) != split {
            return Err(format!(
                "{name}: {calls} parallel calls on {threads} threads, expected a split: {split}"
            ));
        }
    }
    Ok(name)
}

//! Elementwise kernels: float32 ADD, SUB, MUL, MAXIMUM, MINIMUM and SQUARED_DIFFERENCE with
//! broadcasting and fused activations, and the standalone float32 activations RELU, RELU6,
//! RELU_N1_TO_1 and LEAKY_RELU.
//!
//! Nodes are prepared by the scalar kernels' plans (`tflrs_kernels::prep::binary::plan`,
//! `prep::unary::plan`); a node whose plan is not float32 arithmetic, or that its plan refuses,
//! is declined (`Ok(None)`: the scalar backend then reports the error).
//! A binary kernel walks the plan's broadcast runs ([`Broadcast::for_each_run`]): on each run
//! an operand either follows the output (step 1) or is one broadcast value (step 0), so a
//! micro-kernel per operator and level (`micro::binary_full`, instantiated for the
//! vector-vector, vector-scalar and scalar-vector runs) computes the full vectors and the
//! wrapper here the tail elements, with the operator's element function.
//!
//! Levels (`level`): AVX2 (8 lanes, 32 elements an iteration), SSE4.1 (4 lanes, 16 an
//! iteration) and portable (plain Rust on `[f32; 4]`, 8 an iteration, which the compiler maps
//! onto the baseline ISA). AVX-512 hosts run the AVX2 micro-kernels (under `__avx512` names,
//! the backend's). A kernel enters its level's target features once per broadcast run
//! (`crate::level::Level::dispatch`).
//!
//! **Numerics**: the results are the scalar kernels' bit for bit, NaN payloads aside
//! (including NaN inputs, infinities and signed zeros): every operation is exactly rounded, no
//! FMA, and MAXIMUM, MINIMUM and the clamps use `MAXPS`/`MINPS` with the operand order that
//! gives the scalar code's comparisons (see `level`). Nothing is declined for its values.

pub(crate) mod micro;
#[cfg(test)]
mod tests;

use crate::isa::Isa;
use crate::level::{Job, Level, Portable};
use core::marker::PhantomData;
use micro::{BinaryFn, Clamp, One, Operand, Source, UnaryFn};
use tflrs_ir::{DType, Op};
use tflrs_kernels::prep::binary::{BinaryOp, BinaryParams, Broadcast};
use tflrs_kernels::prep::unary::{UnaryOp, UnaryParams};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for an elementwise node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    match node.op {
        Op::Add(_)
        | Op::Sub(_)
        | Op::Mul(_)
        | Op::Maximum
        | Op::Minimum
        | Op::SquaredDifference => binary(isa, node),
        Op::Relu | Op::Relu6 | Op::ReluN1To1 | Op::LeakyRelu(_) => unary(isa, node),
        _ => Ok(None),
    }
}

/// `{op}_f32__{isa}`: the builtin name in lower case and the backend's.
pub(crate) fn kernel_name(node: &NodeCtx<'_>, isa: Isa) -> String {
    format!(
        "{}_f32__{}",
        node.op.name().to_ascii_lowercase(),
        isa.name()
    )
}

/// Makes a kernel at a level chosen at run time.
pub(crate) trait Build {
    /// The kernel at `l`.
    fn build<L: Level>(self, l: L) -> Box<dyn Kernel>;
}

/// `b`'s kernel at the best level this family implements that is not above `isa`.
pub(crate) fn at_level(isa: Isa, b: impl Build) -> Box<dyn Kernel> {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::x86;
        if isa >= Isa::Avx2Fma
            && let Some(t) = x86::Avx2Fma::new()
        {
            return b.build(t);
        }
        if isa >= Isa::Sse41
            && let Some(t) = x86::Sse41::new()
        {
            return b.build(t);
        }
    }
    let _ = isa;
    b.build(Portable)
}

fn binary(isa: Isa, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    // A node the plan refuses is declined, so that the scalar backend reports it (or takes
    // it, should one of its families earlier in its order do so).
    let Ok(Some(plan)) = tflrs_kernels::prep::binary::plan(node) else {
        return Ok(None);
    };
    let BinaryParams::Float { act_min, act_max } = plan.params else {
        return Ok(None);
    };
    if plan.dtype != DType::Float32 || plan.out_dtype != DType::Float32 {
        return Ok(None);
    }
    let m = MakeBinary::<()> {
        name: kernel_name(node, isa),
        bc: plan.broadcast,
        clamp: Clamp {
            lo: act_min,
            hi: act_max,
        },
        op: PhantomData,
    };
    Ok(Some(match plan.op {
        BinaryOp::Add => at_level(isa, m.with::<micro::Add>()),
        BinaryOp::Sub => at_level(isa, m.with::<micro::Sub>()),
        BinaryOp::Mul => at_level(isa, m.with::<micro::Mul>()),
        BinaryOp::Maximum => at_level(isa, m.with::<micro::Maximum>()),
        BinaryOp::Minimum => at_level(isa, m.with::<micro::Minimum>()),
        BinaryOp::SquaredDifference => at_level(isa, m.with::<micro::SquaredDifference>()),
        _ => return Ok(None),
    }))
}

/// What a binary kernel is made of, for operator `O`.
struct MakeBinary<O> {
    name: String,
    bc: Broadcast<2>,
    clamp: Clamp,
    op: PhantomData<O>,
}

impl MakeBinary<()> {
    fn with<O: BinaryFn>(self) -> MakeBinary<O> {
        MakeBinary {
            name: self.name,
            bc: self.bc,
            clamp: self.clamp,
            op: PhantomData,
        }
    }
}

impl<O: BinaryFn> Build for MakeBinary<O> {
    fn build<L: Level>(self, l: L) -> Box<dyn Kernel> {
        Box::new(BinaryKernel::<L, O> {
            name: self.name,
            level: l,
            bc: self.bc,
            clamp: self.clamp,
            op: PhantomData,
        })
    }
}

/// A binary operator `O` at level `L` over a planned broadcast.
struct BinaryKernel<L, O> {
    name: String,
    level: L,
    bc: Broadcast<2>,
    clamp: Clamp,
    op: PhantomData<O>,
}

impl<L: Level, O: BinaryFn> Kernel for BinaryKernel<L, O> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let a = inputs.get(0)?.as_slice::<f32>()?;
        let b = inputs.get(1)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<f32>()?;
        self.bc.check_lens(y.len(), [a.len(), b.len()])?;
        let (l, c) = (self.level, self.clamp);
        // One dispatch a run: the level's features cannot reach into the walk's closure, so
        // the run's work is a job of its own.
        self.bc.for_each_run(|out, [i, j], steps| {
            let y = &mut y[out];
            let n = y.len();
            match steps {
                [1, 1] => l.dispatch(BinaryRun::<O, _, _>::new(&a[i..i + n], &b[j..j + n], y, c)),
                [1, _] => l.dispatch(BinaryRun::<O, _, _>::new(&a[i..i + n], One(b[j]), y, c)),
                [_, 1] => l.dispatch(BinaryRun::<O, _, _>::new(One(a[i]), &b[j..j + n], y, c)),
                // Both broadcast: one value (a run of one element, the all-ones shapes).
                _ => y.fill(micro::binary_elem::<O>(a[i], b[j], c)),
            }
        });
        Ok(())
    }
}

/// One run of a binary kernel: the micro-kernel on the full vectors, the element function on
/// the tail.
struct BinaryRun<'a, O, A, B> {
    a: A,
    b: B,
    y: &'a mut [f32],
    clamp: Clamp,
    op: PhantomData<O>,
}

impl<'a, O, A, B> BinaryRun<'a, O, A, B> {
    fn new(a: A, b: B, y: &'a mut [f32], clamp: Clamp) -> Self {
        Self {
            a,
            b,
            y,
            clamp,
            op: PhantomData,
        }
    }
}

impl<O: BinaryFn, A: Source, B: Source> Job for BinaryRun<'_, O, A, B> {
    type Output = ();

    #[inline(always)]
    fn run<L: Level>(self, l: L) {
        let BinaryRun { a, b, y, clamp, .. } = self;
        let (a, b) = (a.at(l), b.at(l));
        let full = y.len() / L::LANES * L::LANES;
        let (head, tail) = y.split_at_mut(full);
        micro::binary_full::<L, O, _, _>(l, a, b, head, clamp);
        for (k, o) in tail.iter_mut().enumerate() {
            *o = micro::binary_elem::<O>(a.elem(full + k), b.elem(full + k), clamp);
        }
    }
}

fn unary(isa: Isa, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Ok(Some(plan)) = tflrs_kernels::prep::unary::plan(node) else {
        return Ok(None);
    };
    if plan.dtype != DType::Float32 || !matches!(plan.params, UnaryParams::Plain) {
        return Ok(None);
    }
    let name = kernel_name(node, isa);
    let len = plan.len;
    Ok(Some(match plan.op {
        UnaryOp::Relu => at_level(
            isa,
            MakeUnary {
                name,
                len,
                f: micro::Relu,
            },
        ),
        UnaryOp::Relu6 => at_level(
            isa,
            MakeUnary {
                name,
                len,
                f: micro::ReluClamp { lo: 0.0, hi: 6.0 },
            },
        ),
        UnaryOp::ReluN1To1 => at_level(
            isa,
            MakeUnary {
                name,
                len,
                f: micro::ReluClamp { lo: -1.0, hi: 1.0 },
            },
        ),
        UnaryOp::LeakyRelu { alpha } => at_level(
            isa,
            MakeUnary {
                name,
                len,
                f: micro::LeakyRelu { alpha },
            },
        ),
        _ => return Ok(None),
    }))
}

/// What a unary kernel is made of.
pub(crate) struct MakeUnary<F> {
    pub(crate) name: String,
    pub(crate) len: usize,
    pub(crate) f: F,
}

impl<F: UnaryFn> Build for MakeUnary<F> {
    fn build<L: Level>(self, l: L) -> Box<dyn Kernel> {
        Box::new(UnaryKernel {
            name: self.name,
            level: l,
            len: self.len,
            f: self.f,
        })
    }
}

/// A unary operator at level `L` over `len` elements.
struct UnaryKernel<L, F> {
    name: String,
    level: L,
    len: usize,
    f: F,
}

impl<L: Level, F: UnaryFn> Kernel for UnaryKernel<L, F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<f32>()?;
        if x.len() != self.len || y.len() != self.len {
            return Err(KernelError::invalid(format!(
                "{}: input of {} and output of {} elements, planned {}",
                self.name,
                x.len(),
                y.len(),
                self.len
            )));
        }
        self.level.dispatch(UnaryJob { f: self.f, x, y });
        Ok(())
    }
}

/// One run of a unary kernel.
struct UnaryJob<'a, F> {
    f: F,
    x: &'a [f32],
    y: &'a mut [f32],
}

impl<F: UnaryFn> Job for UnaryJob<'_, F> {
    type Output = ();

    #[inline(always)]
    fn run<L: Level>(self, l: L) {
        let UnaryJob { f, x, y } = self;
        let full = y.len() / L::LANES * L::LANES;
        let (head, tail) = y.split_at_mut(full);
        micro::unary_full(l, f, &x[..full], head);
        for (o, &v) in tail.iter_mut().zip(&x[full..]) {
            *o = f.scalar(v);
        }
    }
}

//! Shared pieces of the runtime's tests: small custom-op kernels (registered by name, so the
//! tests do not depend on any scalar family) and graph-building helpers.
#![allow(dead_code)]

pub mod case;

use tflrs_ir::{DType, GraphBuilder, Op, OpaqueOp, Value, ValueId};
use tflrs_kernels::{CustomKernelFactory, Kernel, KernelError, KernelIo, NodeCtx};
use tflrs_runtime::InterpreterBuilder;

/// `y = x * a + b` on float32.
pub struct Affine {
    pub a: f32,
    pub b: f32,
}

impl Kernel for Affine {
    fn name(&self) -> &str {
        "affine_f32__test"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        for (y, &x) in out.as_slice_mut::<f32>()?.iter_mut().zip(x) {
            *y = x * self.a + self.b;
        }
        Ok(())
    }
}

/// `y = x + 1` on int32.
pub struct Incr;

impl Kernel for Incr {
    fn name(&self) -> &str {
        "incr_i32__test"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<i32>()?;
        let mut out = outputs.get(0)?;
        for (y, &x) in out.as_slice_mut::<i32>()?.iter_mut().zip(x) {
            *y = x + 1;
        }
        Ok(())
    }
}

/// `y = x0 < x1` on int32 scalars, as a bool.
pub struct Less;

impl Kernel for Less {
    fn name(&self) -> &str {
        "less_i32__test"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let a = inputs.get(0)?.as_slice::<i32>()?[0];
        let b = inputs.get(1)?.as_slice::<i32>()?[0];
        outputs.get(0)?.bytes[0] = u8::from(a < b);
        Ok(())
    }
}

/// A factory for a custom op that always makes `make()`.
pub fn factory<K: Kernel + 'static>(make: fn() -> K) -> CustomKernelFactory {
    Box::new(move |_: &NodeCtx<'_>| Ok(Box::new(make()) as Box<dyn Kernel>))
}

/// Registers the test kernels: `Half` (`x * 0.5 + 1`), `Double` (`x * 2`), `Neg` (`-x`),
/// `Incr`, `Less`.
pub fn with_test_ops(b: InterpreterBuilder<'_>) -> InterpreterBuilder<'_> {
    b.custom_op("Half", factory(|| Affine { a: 0.5, b: 1.0 }))
        .custom_op("Double", factory(|| Affine { a: 2.0, b: 0.0 }))
        .custom_op("Neg", factory(|| Affine { a: -1.0, b: 0.0 }))
        .custom_op("Incr", factory(|| Incr))
        .custom_op("Less", factory(|| Less))
}

/// A custom op node named `name` with one output like `like` (same type and shape).
pub fn custom(
    b: &mut GraphBuilder<'static>,
    name: &str,
    inputs: &[ValueId],
    like: ValueId,
) -> ValueId {
    let (dtype, shape) = (dtype_of(b, like), shape_of(b, like));
    custom_out(b, name, inputs, dtype, shape)
}

/// A custom op node named `name` with one output of `dtype` and `shape`.
pub fn custom_out(
    b: &mut GraphBuilder<'static>,
    name: &str,
    inputs: &[ValueId],
    dtype: DType,
    shape: Vec<i32>,
) -> ValueId {
    let n = b.graph().subgraphs[b.current()].nodes.len();
    let out = b.value(Value::new(format!("{name}_{n}"), dtype, shape));
    let ins: Vec<Option<ValueId>> = inputs.iter().copied().map(Some).collect();
    b.node(Op::Opaque(OpaqueOp::custom(name, None)), &ins, &[out]);
    out
}

pub fn dtype_of(b: &GraphBuilder<'static>, v: ValueId) -> DType {
    b.graph().subgraphs[b.current()].values[v.index()].dtype
}

pub fn shape_of(b: &GraphBuilder<'static>, v: ValueId) -> Vec<i32> {
    b.graph().subgraphs[b.current()].values[v.index()]
        .shape
        .dims
        .clone()
}

/// An output value of the selected subgraph like `like`, for a node to write.
pub fn value_like(b: &mut GraphBuilder<'static>, name: &str, like: ValueId) -> ValueId {
    let (d, s) = (dtype_of(b, like), shape_of(b, like));
    b.value(Value::new(name, d, s))
}

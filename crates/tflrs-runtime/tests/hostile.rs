//! Hand-made hostile models, one row per class of known TFLite security advisory (negative or
//! overflowing dimensions, buffers shorter than their tensors, indices out of range, zero-size
//! divisors, self-referencing subgraphs, huge quantization arrays, index operands out of range,
//! resource limits). Each row names the error it must get, at the stage it must get it (load,
//! `build()` or `invoke()`), and the place the error names (tensor, operator, node); a row that
//! panics, reads out of bounds or allocates without bound fails.
//!
//! Models come from raw FlatBuffers ([`Raw`]) where the file itself is malformed (the IR cannot
//! express it), and from [`GraphBuilder`] + [`tflrs_ir::export`] where the file is well formed
//! but its operators are not. Every file goes through `tflrs_runtime::Model::from_bytes`, and
//! loading is checked to allocate no more than the file's size (plus a small constant).

use flatbuffers::FlatBufferBuilder;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tflrs_ir::{
    AddAttrs, CallOnceAttrs, Conv2dAttrs, DType, DepthToSpaceAttrs, DepthwiseConv2dAttrs, DivAttrs,
    GatherAttrs, Graph, GraphBuilder, MulAttrs, Op, Padding, Pool2dAttrs, QuantParams,
    ReducerAttrs, ReshapeAttrs, ResizeNearestNeighborAttrs, SpaceToDepthAttrs, SplitAttrs,
    StridedSliceAttrs, SubAttrs, TransposeConvAttrs, Value, ValueId, WhileAttrs,
};
use tflrs_runtime::{Error, Interpreter, KernelError, Limits, LoadError, Model};
use tflrs_schema::generated as fb;
use tflrs_schema::{IndexKind, Location, QuantProblem, ShapeSummary};

// ---------------------------------------------------------------------------------------------
// Counting allocator: bytes this thread allocates while counting is on.

struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only thread-locals with
// const initializers, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count(bytes: usize) {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(bytes)));
        }
    });
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f`, returning its result and the bytes this thread allocated meanwhile.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATED.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATED.with(Cell::get))
}

/// What loading may allocate beyond the file's size (error values, small tables).
const LOAD_SLACK: usize = 4096;
/// What `build()` may allocate when it refuses a model for a limit: the plan's small tables,
/// never the tensors.
const REFUSAL_BUDGET: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Rows: a model, the limits it is built with, the inputs it is fed, and what must happen.

/// Where a model comes from.
enum Source {
    /// A `.tflite` file.
    Bytes(Vec<u8>),
    /// A graph handed to the runtime directly (`Model::from_graph`), bypassing the loader's
    /// checks: the runtime's own defenses must hold.
    Graph(Graph<'static>),
}

/// What a kernel error must be.
enum Src {
    /// `KernelError::Invalid` whose message contains this text.
    Invalid(&'static str),
    /// `KernelError::MissingInput` for this slot.
    MissingInput(usize),
    /// Any kernel error (the message is not part of the contract).
    Any,
}

/// A failure at `build()` or `invoke()`.
enum Fail {
    /// `Error::Kernel` naming this subgraph, node and operator.
    Kernel {
        subgraph: usize,
        node: usize,
        op: &'static str,
        src: Src,
    },
    /// `Error::LimitExceeded` with exactly these fields.
    Limit {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// `Error::Load` with exactly this error.
    Load(LoadError),
    /// `Error::Tensor` naming this subgraph and tensor, whose problem contains this text.
    Tensor {
        subgraph: usize,
        tensor: usize,
        says: &'static str,
    },
}

/// What must happen to a row's model.
enum Want {
    /// The loader refuses it with exactly this error.
    Load(LoadError),
    /// It loads; `build()` refuses it.
    Build(Fail),
    /// It loads and builds; `invoke()` fails.
    Invoke(Fail),
    /// Defined behaviour: it loads, builds and invokes, and output 0 holds these bytes (when
    /// given).
    Runs(Option<Vec<u8>>),
}

struct Row {
    source: Source,
    limits: Limits,
    /// Bytes for inputs, by input index, before `invoke()`.
    feed: Vec<(usize, Vec<u8>)>,
    want: Want,
}

impl Row {
    fn new(bytes: Vec<u8>, want: Want) -> Self {
        Self {
            source: Source::Bytes(bytes),
            limits: Limits::default(),
            feed: Vec::new(),
            want,
        }
    }

    fn graph(graph: Graph<'static>, want: Want) -> Self {
        Self {
            source: Source::Graph(graph),
            ..Self::new(Vec::new(), want)
        }
    }

    fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    fn feed(mut self, input: usize, bytes: Vec<u8>) -> Self {
        self.feed.push((input, bytes));
        self
    }
}

fn kernel(subgraph: usize, node: usize, op: &'static str, src: Src) -> Fail {
    Fail::Kernel {
        subgraph,
        node,
        op,
        src,
    }
}

fn limit(what: &'static str, value: u64, limit: u64) -> Fail {
    Fail::Limit { what, value, limit }
}

fn fail_matches(want: &Fail, got: &Error) -> bool {
    match (want, got) {
        (
            Fail::Kernel {
                subgraph,
                node,
                op,
                src,
            },
            Error::Kernel {
                subgraph: s,
                node: n,
                op: o,
                source,
            },
        ) => {
            s == subgraph
                && n == node
                && o == op
                && match (src, source) {
                    (Src::Invalid(says), KernelError::Invalid(msg)) => msg.contains(says),
                    (Src::MissingInput(i), KernelError::MissingInput { index }) => i == index,
                    (Src::Any, _) => true,
                    _ => false,
                }
        }
        (
            Fail::Limit { what, value, limit },
            Error::LimitExceeded {
                what: w,
                value: v,
                limit: l,
            },
        ) => what == w && value == v && limit == l,
        (
            Fail::Tensor {
                subgraph,
                tensor,
                says,
            },
            Error::Tensor {
                subgraph: s,
                tensor: t,
                problem,
                ..
            },
        ) => s == subgraph && t == tensor && problem.contains(says),
        (Fail::Load(want), Error::Load(got)) => want == got,
        _ => false,
    }
}

/// Runs one row: load (counting allocations), build, feed, invoke, and compares with `want`.
fn check(name: &str, row: Row) {
    let graph_model;
    let bytes_model;
    let model: &Model<'_> = match &row.source {
        Source::Bytes(bytes) => {
            // The loader alone: bounded by the file's size, whether it accepts or refuses.
            let (_, allocated) = counted(|| tflrs_schema::Model::from_bytes(bytes).map(|_| ()));
            assert!(
                allocated <= bytes.len() + LOAD_SLACK,
                "{name}: verifying a {}-byte file allocated {allocated} bytes",
                bytes.len()
            );
            let (loaded, allocated) = counted(|| Model::from_bytes(bytes));
            match (loaded, &row.want) {
                (Err(Error::Load(got)), Want::Load(want)) => {
                    assert_eq!(&got, want, "{name}: wrong load error");
                    assert!(
                        allocated <= bytes.len() + LOAD_SLACK,
                        "{name}: refusing a {}-byte file allocated {allocated} bytes",
                        bytes.len()
                    );
                    println!("{name}: refused at load: {got}");
                    return;
                }
                (Err(e), _) => panic!("{name}: load failed unexpectedly: {e:?}"),
                (Ok(_), Want::Load(want)) => panic!("{name}: loaded, expected {want:?}"),
                (Ok(m), _) => {
                    bytes_model = m;
                    &bytes_model
                }
            }
        }
        Source::Graph(g) => {
            graph_model = Model::from_graph(g.clone());
            &graph_model
        }
    };
    let (built, allocated) = counted(|| Interpreter::builder(model).limits(row.limits).build());
    let mut interp = match (built, &row.want) {
        (Err(e), Want::Build(want)) => {
            assert!(fail_matches(want, &e), "{name}: wrong build error: {e:?}");
            if matches!(want, Fail::Limit { .. }) {
                assert!(
                    allocated <= REFUSAL_BUDGET,
                    "{name}: refusing for a limit allocated {allocated} bytes first"
                );
            }
            println!("{name}: refused at build: {e}");
            return;
        }
        (Err(e), _) => panic!("{name}: build failed unexpectedly: {e:?}"),
        (Ok(i), _) => i,
    };
    for (i, bytes) in &row.feed {
        let dst = interp.input_bytes_mut(*i).unwrap();
        assert_eq!(dst.len(), bytes.len(), "{name}: input {i} size");
        dst.copy_from_slice(bytes);
    }
    let invoked = interp.invoke();
    match (invoked, &row.want) {
        (invoked, Want::Build(_)) => {
            panic!("{name}: built (invoke then gave {invoked:?}), expected a build error")
        }
        (Err(e), Want::Invoke(want)) => {
            assert!(fail_matches(want, &e), "{name}: wrong invoke error: {e:?}");
            println!("{name}: refused at invoke: {e}");
        }
        (Err(e), _) => panic!("{name}: invoke failed unexpectedly: {e:?}"),
        (Ok(()), Want::Runs(expected)) => {
            if let Some(expected) = expected {
                assert_eq!(
                    interp.output_bytes(0).unwrap(),
                    expected.as_slice(),
                    "{name}: output"
                );
            }
            println!("{name}: runs (defined behaviour)");
        }
        (Ok(()), _) => panic!("{name}: invoked, expected an invoke error"),
    }
}

/// One `#[test]` per row, so that a row can be `#[ignore]`d on its own.
macro_rules! rows {
    ($( $(#[$m:meta])* $name:ident => $row:expr; )*) => {
        $(
            $(#[$m])*
            #[test]
            fn $name() {
                check(stringify!($name), $row);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Raw FlatBuffers, for files the IR cannot express.

#[derive(Clone)]
struct RTensor {
    name: &'static str,
    shape: Vec<i32>,
    ty: fb::TensorType,
    buffer: u32,
    quant: Option<(Vec<f32>, Vec<i64>, i32)>,
}

fn rt(name: &'static str, shape: &[i32], buffer: u32) -> RTensor {
    RTensor {
        name,
        shape: shape.to_vec(),
        ty: fb::TensorType::FLOAT32,
        buffer,
        quant: None,
    }
}

#[derive(Clone, Copy)]
enum ROpts {
    Add,
    While { cond: i32, body: i32 },
    CallOnce { init: i32 },
}

#[derive(Clone)]
struct ROp {
    opcode_index: u32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    opts: ROpts,
}

/// Operator codes of every raw model, by `opcode_index`.
const CODES: [fb::BuiltinOperator; 3] = [
    fb::BuiltinOperator::ADD,
    fb::BuiltinOperator::WHILE,
    fb::BuiltinOperator::CALL_ONCE,
];
const OP_ADD: u32 = 0;
const OP_WHILE: u32 = 1;
const OP_CALL_ONCE: u32 = 2;

#[derive(Clone, Default)]
struct RSubgraph {
    tensors: Vec<RTensor>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    ops: Vec<ROp>,
}

#[derive(Clone)]
struct Raw {
    subgraphs: Vec<RSubgraph>,
    /// Buffer 0 is the empty sentinel.
    buffers: Vec<Vec<u8>>,
}

const C_VALUES: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

impl Raw {
    /// `y = x + c`: x `[1, 4]` (tensor 0), c a `[4]` constant in buffer 1 (tensor 1), y `[1, 4]`
    /// (tensor 2). Every raw row breaks this model in one place.
    fn add() -> Self {
        Self {
            subgraphs: vec![RSubgraph {
                tensors: vec![rt("x", &[1, 4], 0), rt("c", &[4], 1), rt("y", &[1, 4], 0)],
                inputs: vec![0],
                outputs: vec![2],
                ops: vec![ROp {
                    opcode_index: OP_ADD,
                    inputs: vec![0, 1],
                    outputs: vec![2],
                    opts: ROpts::Add,
                }],
            }],
            buffers: vec![
                vec![],
                C_VALUES.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ],
        }
    }

    /// [`Raw::add`] with extra subgraphs `x -> x` (f32 `[1]`), so that control flow has
    /// something to call.
    fn with_callees(mut self, n: usize) -> Self {
        for _ in 0..n {
            self.subgraphs.push(RSubgraph {
                tensors: vec![rt("x", &[1], 0)],
                inputs: vec![0],
                outputs: vec![0],
                ops: vec![],
            });
        }
        self
    }

    fn sg(&mut self, s: usize) -> &mut RSubgraph {
        &mut self.subgraphs[s]
    }

    /// Adds a WHILE (on tensor 0, in and out) to subgraph `s`.
    fn call_while(mut self, s: usize, cond: i32, body: i32) -> Self {
        self.sg(s).ops.push(ROp {
            opcode_index: OP_WHILE,
            inputs: vec![0],
            outputs: vec![0],
            opts: ROpts::While { cond, body },
        });
        self
    }

    /// Adds a CALL_ONCE to subgraph `s`.
    fn call_once(mut self, s: usize, init: i32) -> Self {
        self.sg(s).ops.push(ROp {
            opcode_index: OP_CALL_ONCE,
            inputs: vec![],
            outputs: vec![],
            opts: ROpts::CallOnce { init },
        });
        self
    }

    fn edit(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }

    fn build(&self) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        let mut subgraphs = Vec::new();
        for sg in &self.subgraphs {
            let mut tensors = Vec::new();
            for t in &sg.tensors {
                let shape = b.create_vector(&t.shape);
                let name = b.create_string(t.name);
                let quantization = t.quant.as_ref().map(|(scale, zp, axis)| {
                    let scale = b.create_vector(scale);
                    let zero_point = b.create_vector(zp);
                    fb::QuantizationParameters::create(
                        &mut b,
                        &fb::QuantizationParametersArgs {
                            scale: Some(scale),
                            zero_point: Some(zero_point),
                            quantized_dimension: *axis,
                            ..Default::default()
                        },
                    )
                });
                tensors.push(fb::Tensor::create(
                    &mut b,
                    &fb::TensorArgs {
                        shape: Some(shape),
                        type_: t.ty,
                        buffer: t.buffer,
                        name: Some(name),
                        quantization,
                        ..Default::default()
                    },
                ));
            }
            let mut ops = Vec::new();
            for op in &sg.ops {
                let (ty, opts) = match op.opts {
                    ROpts::Add => (
                        fb::BuiltinOptions::AddOptions,
                        fb::AddOptions::create(&mut b, &fb::AddOptionsArgs::default())
                            .as_union_value(),
                    ),
                    ROpts::While { cond, body } => (
                        fb::BuiltinOptions::WhileOptions,
                        fb::WhileOptions::create(
                            &mut b,
                            &fb::WhileOptionsArgs {
                                cond_subgraph_index: cond,
                                body_subgraph_index: body,
                            },
                        )
                        .as_union_value(),
                    ),
                    ROpts::CallOnce { init } => (
                        fb::BuiltinOptions::CallOnceOptions,
                        fb::CallOnceOptions::create(
                            &mut b,
                            &fb::CallOnceOptionsArgs {
                                init_subgraph_index: init,
                            },
                        )
                        .as_union_value(),
                    ),
                };
                let inputs = b.create_vector(&op.inputs);
                let outputs = b.create_vector(&op.outputs);
                ops.push(fb::Operator::create(
                    &mut b,
                    &fb::OperatorArgs {
                        opcode_index: op.opcode_index,
                        inputs: Some(inputs),
                        outputs: Some(outputs),
                        builtin_options_type: ty,
                        builtin_options: Some(opts),
                        ..Default::default()
                    },
                ));
            }
            let tensors = b.create_vector(&tensors);
            let ops = b.create_vector(&ops);
            let inputs = b.create_vector(&sg.inputs);
            let outputs = b.create_vector(&sg.outputs);
            subgraphs.push(fb::SubGraph::create(
                &mut b,
                &fb::SubGraphArgs {
                    tensors: Some(tensors),
                    inputs: Some(inputs),
                    outputs: Some(outputs),
                    operators: Some(ops),
                    ..Default::default()
                },
            ));
        }
        let subgraphs = b.create_vector(&subgraphs);
        let codes = CODES.map(|code| {
            fb::OperatorCode::create(
                &mut b,
                &fb::OperatorCodeArgs {
                    deprecated_builtin_code: code.0.min(127) as i8,
                    builtin_code: code,
                    version: 1,
                    ..Default::default()
                },
            )
        });
        let codes = b.create_vector(&codes);
        let buffers: Vec<_> = self
            .buffers
            .iter()
            .map(|data| {
                let data = (!data.is_empty()).then(|| b.create_vector(data));
                fb::Buffer::create(
                    &mut b,
                    &fb::BufferArgs {
                        data,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let buffers = b.create_vector(&buffers);
        let model = fb::Model::create(
            &mut b,
            &fb::ModelArgs {
                version: 3,
                operator_codes: Some(codes),
                subgraphs: Some(subgraphs),
                buffers: Some(buffers),
                ..Default::default()
            },
        );
        b.finish(model, Some("TFL3"));
        b.finished_data().to_vec()
    }
}

fn oor(what: &'static str, kind: IndexKind, index: i64, len: usize, at: Location) -> Want {
    Want::Load(LoadError::IndexOutOfRange {
        what,
        kind,
        index,
        len,
        at,
    })
}

// ---------------------------------------------------------------------------------------------
// Graphs built in code and exported, for well-formed files with hostile operators.

type B = GraphBuilder<'static>;

/// Exports the graph `f` builds, unverified (the IR's `verify` would refuse most of them).
fn ir(f: impl FnOnce(&mut B)) -> Vec<u8> {
    tflrs_ir::export(&graph(f)).expect("export")
}

fn graph(f: impl FnOnce(&mut B)) -> Graph<'static> {
    let mut b = GraphBuilder::new();
    f(&mut b);
    b.finish_unchecked()
}

/// A value that no node has produced yet (an output to be).
fn out(b: &mut B, name: &str, dtype: DType, shape: &[i32]) -> ValueId {
    b.value(Value::new(name, dtype, shape.to_vec()))
}

/// `y = op(inputs)` with `y` declared as `dtype` `shape`, made the graph's output.
fn node(b: &mut B, op: Op<'static>, inputs: &[ValueId], dtype: DType, shape: &[i32]) -> ValueId {
    let y = out(b, "y", dtype, shape);
    let inputs: Vec<_> = inputs.iter().copied().map(Some).collect();
    b.node(op, &inputs, &[y]);
    b.output(y);
    y
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// CONV_2D, f32: x `[1, 4, 4, 1]`, 3x3 filter, SAME: y `[1, 4, 4, 1]`.
fn conv(attrs: Conv2dAttrs) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", DType::Float32, [1, 4, 4, 1]);
        let w = b.constant_f32("w", [1, 3, 3, 1], &[1.0; 9]);
        let bias = b.constant_f32("bias", [1], &[0.0]);
        node(
            b,
            Op::Conv2d(attrs),
            &[x, w, bias],
            DType::Float32,
            &[1, 4, 4, 1],
        );
    })
}

fn conv_attrs() -> Conv2dAttrs {
    Conv2dAttrs {
        padding: Padding::Same,
        stride_w: 1,
        stride_h: 1,
        dilation_w_factor: 1,
        dilation_h_factor: 1,
        ..Conv2dAttrs::default()
    }
}

/// DEPTHWISE_CONV_2D, f32: x `[1, 4, 4, in_c]`, filter `[1, 3, 3, out_c]`, SAME.
fn depthwise(in_c: i32, out_c: i32, depth_multiplier: i32) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", DType::Float32, [1, 4, 4, in_c]);
        let w = b.constant_f32("w", [1, 3, 3, out_c], &vec![1.0; 9 * out_c as usize]);
        let bias = b.constant_f32("bias", [out_c], &vec![0.0; out_c as usize]);
        let attrs = DepthwiseConv2dAttrs {
            padding: Padding::Same,
            stride_w: 1,
            stride_h: 1,
            depth_multiplier,
            dilation_w_factor: 1,
            dilation_h_factor: 1,
            ..DepthwiseConv2dAttrs::default()
        };
        node(
            b,
            Op::DepthwiseConv2d(attrs),
            &[x, w, bias],
            DType::Float32,
            &[1, 4, 4, out_c],
        );
    })
}

/// A 2x2 pool with stride 2, VALID, on x `[1, 4, 4, 1]`, with `f` breaking the attributes.
fn pool(max: bool, f: impl FnOnce(&mut Pool2dAttrs)) -> Vec<u8> {
    let mut attrs = Pool2dAttrs {
        padding: Padding::Valid,
        stride_w: 2,
        stride_h: 2,
        filter_width: 2,
        filter_height: 2,
        ..Pool2dAttrs::default()
    };
    f(&mut attrs);
    ir(|b| {
        let x = b.input("x", DType::Float32, [1, 4, 4, 1]);
        let op = if max {
            Op::MaxPool2d(attrs)
        } else {
            Op::AveragePool2d(attrs)
        };
        node(b, op, &[x], DType::Float32, &[1, 2, 2, 1]);
    })
}

/// DIV on int32 `[4]`; the divisor is input 1 or, when given, a constant.
fn div(constant_divisor: Option<&[i32]>) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", DType::Int32, [4]);
        let y = match constant_divisor {
            Some(v) => b.constant_i32("d", [4], v),
            None => b.input("d", DType::Int32, [4]),
        };
        node(b, Op::Div(DivAttrs::default()), &[x, y], DType::Int32, &[4]);
    })
}

/// GATHER along axis 0 of x f32 `[3, 2]` with two int32 indices, constant or input 1.
fn gather(constant_indices: Option<&[i32]>) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", DType::Float32, [3, 2]);
        let idx = match constant_indices {
            Some(v) => b.constant_i32("indices", [2], v),
            None => b.input("indices", DType::Int32, [2]),
        };
        node(
            b,
            Op::Gather(GatherAttrs::default()),
            &[x, idx],
            DType::Float32,
            &[2, 2],
        );
    })
}

/// PAD of x f32 `[2, 2]` by constant `paddings` `[2, 2]`, declaring output `out`.
fn pad(paddings: &[i32], out: &[i32]) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", DType::Float32, [2, 2]);
        let p = b.constant_i32("paddings", [2, 2], paddings);
        node(b, Op::Pad, &[x, p], DType::Float32, out);
    })
}

/// STRIDED_SLICE of x f32 `x_shape` with constant begin, end and strides.
fn strided_slice(
    x_shape: &[i32],
    begin: &[i32],
    end: &[i32],
    strides: &[i32],
    attrs: StridedSliceAttrs,
    out: &[i32],
) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", DType::Float32, x_shape.to_vec());
        let begin = b.constant_i32("begin", [begin.len() as i32], begin);
        let end = b.constant_i32("end", [end.len() as i32], end);
        let strides = b.constant_i32("strides", [strides.len() as i32], strides);
        node(
            b,
            Op::StridedSlice(attrs),
            &[x, begin, end, strides],
            DType::Float32,
            out,
        );
    })
}

/// RESHAPE of x f32 `[2, 3]` to a constant shape operand, declaring output `out`.
fn reshape(shape: &[i32], out: &[i32]) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", DType::Float32, [2, 3]);
        let s = b.constant_i32("shape", [shape.len() as i32], shape);
        node(b, Op::Reshape(None), &[x, s], DType::Float32, out);
    })
}

/// SPLIT of x f32 `[5]` along constant `axis` into `outputs` outputs of `[part]`.
fn split(axis: i32, num_splits: i32, outputs: usize, part: i32) -> Vec<u8> {
    ir(|b| {
        let a = b.constant_i32("axis", Vec::<i32>::new(), &[axis]);
        let x = b.input("x", DType::Float32, [5]);
        let outs: Vec<ValueId> = (0..outputs)
            .map(|k| out(b, &format!("y{k}"), DType::Float32, &[part]))
            .collect();
        b.node(
            Op::Split(SplitAttrs { num_splits }),
            &[Some(a), Some(x)],
            &outs,
        );
        for o in outs {
            b.output(o);
        }
    })
}

/// `x -> RELU -> ... -> y`: `n` RELUs on f32 `shape`.
fn relu_chain(n: usize, shape: &[i32]) -> Vec<u8> {
    ir(|b| {
        let mut v = b.input("x", DType::Float32, shape.to_vec());
        for k in 0..n {
            let y = out(b, &format!("y{k}"), DType::Float32, shape);
            b.node(Op::Relu, &[Some(v)], &[y]);
            v = y;
        }
        b.output(v);
    })
}

/// Subgraph `k` runs CALL_ONCE(init = k + 1) for `k < depth`; subgraph `depth` is empty.
fn call_once_chain(depth: usize) -> Vec<u8> {
    ir(|b| {
        for k in 0..=depth {
            if k > 0 {
                b.subgraph(format!("init{k}"));
            }
            if k < depth {
                b.node(
                    Op::CallOnce(CallOnceAttrs {
                        init_subgraph_index: k as i32 + 1,
                    }),
                    &[],
                    &[],
                );
            }
        }
    })
}

fn strided(f: impl FnOnce(&mut StridedSliceAttrs)) -> StridedSliceAttrs {
    let mut a = StridedSliceAttrs {
        begin_mask: 0,
        end_mask: 0,
        ellipsis_mask: 0,
        new_axis_mask: 0,
        shrink_axis_mask: 0,
        offset: false,
    };
    f(&mut a);
    a
}

/// `op` on `dtype` `[4]` tensors with per-tensor scales (x, constant, output), zero points 0:
/// x is the model's input; a binary `op` takes a constant as its second operand.
fn quantized(op: Op<'static>, dtype: DType, binary: bool, scales: [f32; 3]) -> Vec<u8> {
    ir(|b| {
        let x = b.input("x", dtype, [4]);
        b.quantize(x, QuantParams::per_tensor(scales[0], 0));
        let mut inputs = vec![x];
        if binary {
            let width = if dtype == DType::Int16 { 2 } else { 1 };
            let c = b.constant("c", dtype, [4], vec![1u8; 4 * width]);
            b.quantize(c, QuantParams::per_tensor(scales[1], 0));
            inputs.push(c);
        }
        let y = node(b, op, &inputs, dtype, &[4]);
        b.quantize(y, QuantParams::per_tensor(scales[2], 0));
    })
}

fn add_i8(scales: [f32; 3]) -> Vec<u8> {
    quantized(Op::Add(AddAttrs::default()), DType::Int8, true, scales)
}

/// Scales whose ratio (about 2^233 for ADD's output multiplier) does not fit a Q31 multiplier
/// with a shift below 32.
const EXTREME: [f32; 3] = [1e-38, 1e38, 1e-38];

// ---------------------------------------------------------------------------------------------
// The table.

rows! {
    // A valid model, as a control: every raw row below breaks it in one place.
    baseline_raw_model_runs => Row::new(
        Raw::add().build(),
        Want::Runs(Some(f32_bytes(&[1.5, 2.5, 3.5, 4.5]))),
    )
    .feed(0, f32_bytes(&[0.5; 4]));

    // --- Shapes (CVE-2020-15208 family: shape products and negative sizes). ---
    negative_dimension => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[0].shape = vec![1, -4]).build(),
        Want::Load(LoadError::NegativeDimension { axis: 1, dim: -4, at: Location::tensor(0, 0) }),
    );
    dimensions_whose_product_overflows_u64 => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[2].shape = vec![i32::MAX; 3]).build(),
        Want::Load(LoadError::ShapeOverflow {
            shape: ShapeSummary::new([i32::MAX; 3]),
            at: Location::tensor(0, 2),
        }),
    );
    dimensions_whose_byte_count_overflows => Row::new(
        // 2^62 elements fit u64; their 2^64 bytes do not.
        Raw::add().edit(|r| r.sg(0).tensors[2].shape = vec![1 << 30, 1 << 30, 4]).build(),
        Want::Load(LoadError::ShapeOverflow {
            shape: ShapeSummary::new([1 << 30, 1 << 30, 4]),
            at: Location::tensor(0, 2),
        }),
    );
    many_modest_dimensions_overflow => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[0].shape = vec![1 << 16; 8]).build(),
        Want::Load(LoadError::ShapeOverflow {
            shape: ShapeSummary::new([1 << 16; 8]),
            at: Location::tensor(0, 0),
        }),
    );

    // --- Constant data (CVE-2020-15211 family: reads past a buffer). ---
    constant_buffer_shorter_than_its_tensor => Row::new(
        Raw::add().edit(|r| r.buffers[1].truncate(15)).build(),
        Want::Load(LoadError::BufferSizeMismatch {
            buffer: 1,
            expected: 16,
            actual: 15,
            at: Location::tensor(0, 1),
        }),
    );
    constant_with_a_huge_shape_and_a_small_buffer => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[1].shape = vec![1 << 20, 1 << 20]).build(),
        Want::Load(LoadError::BufferSizeMismatch {
            buffer: 1,
            expected: 1 << 42,
            actual: 16,
            at: Location::tensor(0, 1),
        }),
    );

    // --- Indices (CVE-2020-15211: -1 and out-of-range tensor indices). ---
    operator_input_index_out_of_range => Row::new(
        Raw::add().edit(|r| r.sg(0).ops[0].inputs = vec![0, 3]).build(),
        oor("operator input", IndexKind::Tensor, 3, 3, Location::operator(0, 0)),
    );
    operator_input_index_minus_two => Row::new(
        Raw::add().edit(|r| r.sg(0).ops[0].inputs = vec![0, -2]).build(),
        oor("operator input", IndexKind::Tensor, -2, 3, Location::operator(0, 0)),
    );
    operator_input_index_huge => Row::new(
        Raw::add().edit(|r| r.sg(0).ops[0].inputs = vec![0, i32::MAX]).build(),
        oor("operator input", IndexKind::Tensor, i64::from(i32::MAX), 3, Location::operator(0, 0)),
    );
    operator_input_index_i32_min => Row::new(
        Raw::add().edit(|r| r.sg(0).ops[0].inputs = vec![i32::MIN, 1]).build(),
        oor("operator input", IndexKind::Tensor, i64::from(i32::MIN), 3, Location::operator(0, 0)),
    );
    operator_output_index_minus_one => Row::new(
        // -1 means "omitted" for inputs only; LiteRT wrote through it (CVE-2020-15211).
        Raw::add().edit(|r| r.sg(0).ops[0].outputs = vec![-1]).build(),
        oor("operator output", IndexKind::Tensor, -1, 3, Location::operator(0, 0)),
    );
    required_input_omitted => Row::new(
        // -1 (omitted) where the operator needs a tensor: LiteRT dereferenced null.
        Raw::add().edit(|r| r.sg(0).ops[0].inputs = vec![0, -1]).build(),
        Want::Build(kernel(0, 0, "ADD", Src::MissingInput(1))),
    );
    subgraph_output_index_out_of_range => Row::new(
        Raw::add().edit(|r| r.sg(0).outputs = vec![7]).build(),
        oor("subgraph output", IndexKind::Tensor, 7, 3, Location::subgraph(0)),
    );
    subgraph_input_index_negative => Row::new(
        Raw::add().edit(|r| r.sg(0).inputs = vec![-1]).build(),
        oor("subgraph input", IndexKind::Tensor, -1, 3, Location::subgraph(0)),
    );
    tensor_buffer_index_out_of_range => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[1].buffer = 7).build(),
        oor("tensor buffer", IndexKind::Buffer, 7, 2, Location::tensor(0, 1)),
    );
    tensor_buffer_index_u32_max => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[1].buffer = u32::MAX).build(),
        oor("tensor buffer", IndexKind::Buffer, i64::from(u32::MAX), 2, Location::tensor(0, 1)),
    );
    opcode_index_out_of_range => Row::new(
        Raw::add().edit(|r| r.sg(0).ops[0].opcode_index = 3).build(),
        oor("opcode_index", IndexKind::OperatorCode, 3, 3, Location::operator(0, 0)),
    );
    opcode_index_u32_max => Row::new(
        Raw::add().edit(|r| r.sg(0).ops[0].opcode_index = u32::MAX).build(),
        oor(
            "opcode_index",
            IndexKind::OperatorCode,
            i64::from(u32::MAX),
            3,
            Location::operator(0, 0),
        ),
    );
    dangling_while_body => Row::new(
        Raw::add().with_callees(1).call_while(0, 1, 4).build(),
        oor("body_subgraph_index", IndexKind::Subgraph, 4, 2, Location::operator(0, 1)),
    );
    dangling_call_once_init => Row::new(
        Raw::add().call_once(0, -1).build(),
        oor("init_subgraph_index", IndexKind::Subgraph, -1, 1, Location::operator(0, 1)),
    );

    // The same, handed to the runtime as a graph built in code (no loader in between).
    graph_node_input_names_a_missing_value => Row::graph(
        graph(|b| {
            b.input("x", DType::Float32, [4]);
            let y = out(b, "y", DType::Float32, &[4]);
            b.node(Op::Relu, &[Some(ValueId(99))], &[y]);
            b.output(y);
        }),
        Want::Build(kernel(0, 0, "RELU", Src::Invalid("input 0 refers to value 99"))),
    );
    graph_output_names_a_missing_value => Row::graph(
        graph(|b| {
            b.input("x", DType::Float32, [4]);
            b.output(ValueId(7));
        }),
        Want::Build(Fail::Tensor { subgraph: 0, tensor: 7, says: "subgraph output 0" }),
    );
    graph_without_subgraphs => Row::graph(
        Graph::default(),
        Want::Build(Fail::Load(LoadError::Missing {
            what: "a main subgraph",
            at: Location::MODEL,
        })),
    );
    // Kernels check constant lengths themselves (the loader does it for files); CONV_2D when
    // it runs.
    graph_constant_shorter_than_its_tensor => Row::graph(
        graph(|b| {
            let x = b.input("x", DType::Float32, [1, 4, 4, 1]);
            let w = b.constant("w", DType::Float32, [1, 3, 3, 1], vec![0u8; 8]);
            let attrs = conv_attrs();
            node(b, Op::Conv2d(attrs), &[x, w], DType::Float32, &[1, 4, 4, 1]);
        }),
        Want::Invoke(kernel(0, 0, "CONV_2D", Src::Invalid("'w' has 2 elements"))),
    );

    // --- Self-referencing subgraphs (CVE-2021-29591: stack overflow through recursion). ---
    while_body_is_its_own_subgraph => Row::new(
        Raw::add().with_callees(1).call_while(0, 1, 0).build(),
        Want::Load(LoadError::SubgraphCycle { subgraph: 0 }),
    );
    while_in_a_callee_calls_itself => Row::new(
        Raw::add().with_callees(2).call_while(0, 1, 2).call_while(2, 1, 2).build(),
        Want::Load(LoadError::SubgraphCycle { subgraph: 2 }),
    );
    call_once_init_is_subgraph_zero => Row::new(
        Raw::add().call_once(0, 0).build(),
        Want::Load(LoadError::SubgraphCycle { subgraph: 0 }),
    );
    indirect_cycle_through_three_subgraphs => Row::new(
        Raw::add()
            .with_callees(3)
            .call_once(0, 1)
            .call_once(1, 2)
            .call_once(2, 3)
            .call_once(3, 1)
            .build(),
        Want::Load(LoadError::SubgraphCycle { subgraph: 1 }),
    );
    // The same hostility handed to the runtime as a graph, past the loader's checks.
    graph_while_body_is_the_caller => Row::graph(
        graph(|b| {
            let x = b.input("x", DType::Float32, [1]);
            let y = out(b, "y", DType::Float32, &[1]);
            b.node(
                Op::While(WhileAttrs { cond_subgraph_index: 1, body_subgraph_index: 0 }),
                &[Some(x)],
                &[y],
            );
            b.output(y);
            b.subgraph("cond");
            let c = b.input("c", DType::Float32, [1]);
            let t = out(b, "t", DType::Bool, &[1]);
            b.node(Op::Less, &[Some(c), Some(c)], &[t]);
            b.output(t);
        }),
        Want::Build(kernel(0, 0, "WHILE", Src::Any)),
    );
    graph_call_once_indirect_recursion => Row::graph(
        graph(|b| {
            b.node(Op::CallOnce(CallOnceAttrs { init_subgraph_index: 1 }), &[], &[]);
            b.subgraph("a");
            b.node(Op::CallOnce(CallOnceAttrs { init_subgraph_index: 2 }), &[], &[]);
            b.subgraph("b");
            b.node(Op::CallOnce(CallOnceAttrs { init_subgraph_index: 1 }), &[], &[]);
        }),
        Want::Invoke(kernel(0, 0, "CALL_ONCE", Src::Invalid("already running"))),
    );

    // --- Quantization arrays (reads past per-channel arrays). ---
    more_scales_than_channels => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[1].quant = Some((vec![0.5; 5], vec![0; 5], 0))).build(),
        Want::Load(LoadError::BadQuantization {
            problem: QuantProblem::ChannelCountMismatch { scales: 5, channels: 4 },
            at: Location::tensor(0, 1),
        }),
    );
    a_million_scales => Row::new(
        Raw::add()
            .edit(|r| {
                r.sg(0).tensors[1].quant = Some((vec![0.5; 1_000_000], vec![0; 1_000_000], 0));
            })
            .build(),
        Want::Load(LoadError::BadQuantization {
            problem: QuantProblem::ChannelCountMismatch { scales: 1_000_000, channels: 4 },
            at: Location::tensor(0, 1),
        }),
    );
    a_million_scales_and_one_zero_point => Row::new(
        Raw::add()
            .edit(|r| r.sg(0).tensors[1].quant = Some((vec![0.5; 1_000_000], vec![0], 0)))
            .build(),
        Want::Load(LoadError::BadQuantization {
            problem: QuantProblem::LengthMismatch { scales: 1_000_000, zero_points: 1 },
            at: Location::tensor(0, 1),
        }),
    );
    quantized_dimension_out_of_range => Row::new(
        Raw::add().edit(|r| r.sg(0).tensors[1].quant = Some((vec![0.5; 4], vec![0; 4], 5))).build(),
        Want::Load(LoadError::BadQuantization {
            problem: QuantProblem::AxisOutOfRange { axis: 5, rank: 1 },
            at: Location::tensor(0, 1),
        }),
    );

    // --- Zero-size divisors (CVE-2021-29594 .. 29616, CVE-2021-37680 family). ---
    conv_stride_zero => Row::new(
        conv(Conv2dAttrs { stride_w: 0, ..conv_attrs() }),
        Want::Build(kernel(0, 0, "CONV_2D", Src::Invalid("stride_w"))),
    );
    conv_stride_negative => Row::new(
        conv(Conv2dAttrs { stride_h: -2, ..conv_attrs() }),
        Want::Build(kernel(0, 0, "CONV_2D", Src::Invalid("stride_h"))),
    );
    conv_dilation_zero => Row::new(
        conv(Conv2dAttrs { dilation_h_factor: 0, ..conv_attrs() }),
        Want::Build(kernel(0, 0, "CONV_2D", Src::Invalid("dilation_h_factor"))),
    );
    average_pool_filter_zero => Row::new(
        pool(false, |a| a.filter_width = 0),
        Want::Build(kernel(0, 0, "AVERAGE_POOL_2D", Src::Invalid("positive"))),
    );
    max_pool_stride_zero => Row::new(
        pool(true, |a| a.stride_h = 0),
        Want::Build(kernel(0, 0, "MAX_POOL_2D", Src::Invalid("positive"))),
    );
    depthwise_zero_input_channels => Row::new(
        // CVE-2021-29602: the depth multiplier is filter channels / input channels.
        depthwise(0, 2, 1),
        Want::Build(kernel(0, 0, "DEPTHWISE_CONV_2D", Src::Invalid("non-empty"))),
    );
    depthwise_filter_channels_not_a_multiple_of_input_channels => Row::new(
        depthwise(2, 3, 1),
        Want::Build(kernel(0, 0, "DEPTHWISE_CONV_2D", Src::Invalid("not a multiple"))),
    );
    // LiteRT (2.1 and later) takes the output depth from the shapes and ignores the
    // `depth_multiplier` attribute (builtin_op_data.h: "redundant"); tflrs does the same, so a
    // zero or disagreeing attribute is defined behaviour, never a division or an index.
    depthwise_depth_multiplier_zero_is_ignored => Row::new(depthwise(2, 2, 0), Want::Runs(None))
        .feed(0, f32_bytes(&[1.0; 32]));
    depthwise_depth_multiplier_disagreeing_is_ignored =>
        Row::new(depthwise(2, 4, 7), Want::Runs(None))
        .feed(0, f32_bytes(&[1.0; 32]));
    space_to_depth_block_zero => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [1, 4, 4, 1]);
            let op = Op::SpaceToDepth(SpaceToDepthAttrs { block_size: 0 });
            node(b, op, &[x], DType::Float32, &[1, 4, 4, 1]);
        }),
        Want::Build(kernel(0, 0, "SPACE_TO_DEPTH", Src::Invalid("block"))),
    );
    depth_to_space_block_zero => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [1, 2, 2, 4]);
            let op = Op::DepthToSpace(DepthToSpaceAttrs { block_size: 0 });
            node(b, op, &[x], DType::Float32, &[1, 2, 2, 4]);
        }),
        Want::Build(kernel(0, 0, "DEPTH_TO_SPACE", Src::Invalid("block"))),
    );
    integer_div_by_zero_at_invoke => Row::new(
        div(None),
        Want::Invoke(kernel(0, 0, "DIV", Src::Invalid("division by zero"))),
    )
        .feed(0, i32_bytes(&[7, 8, 9, 10]))
        .feed(1, i32_bytes(&[1, 2, 0, 5]));
    integer_div_overflow_wraps => Row::new(
        // i32::MIN / -1 overflows (SIGFPE in C++); tflrs defines it as wrapping.
        div(None),
        Want::Runs(Some(i32_bytes(&[7, i32::MIN, 2, 0]))),
    )
    .feed(0, i32_bytes(&[7, i32::MIN, 5, 1]))
    .feed(1, i32_bytes(&[1, -1, 2, 3]));
    integer_div_by_constant_zero => Row::new(
        div(Some(&[1, 0, 1, 1])),
        Want::Invoke(kernel(0, 0, "DIV", Src::Invalid("division by zero"))),
    );

    // --- Index operands (CVE-2021-37687 GATHER, CVE-2020-15212 family). ---
    gather_constant_index_out_of_range => Row::new(
        gather(Some(&[1, 3])),
        Want::Build(kernel(0, 0, "GATHER", Src::Invalid("index 3"))),
    );
    gather_constant_index_negative => Row::new(
        gather(Some(&[-1, 0])),
        Want::Build(kernel(0, 0, "GATHER", Src::Invalid("index -1"))),
    );
    gather_constant_index_i32_min => Row::new(
        gather(Some(&[0, i32::MIN])),
        Want::Build(kernel(0, 0, "GATHER", Src::Invalid("index -2147483648"))),
    );
    gather_computed_index_out_of_range_at_invoke => Row::new(
        gather(None),
        Want::Invoke(kernel(0, 0, "GATHER", Src::Invalid("index 5 is out of range"))),
    )
    .feed(0, f32_bytes(&[0.0; 6]))
    .feed(1, i32_bytes(&[0, 5]));
    gather_computed_index_negative_at_invoke => Row::new(
        gather(None),
        Want::Invoke(kernel(0, 0, "GATHER", Src::Invalid("index -1 is out of range"))),
    )
    .feed(1, i32_bytes(&[-1, 0]));
    pad_negative_amount => Row::new(
        pad(&[-1, 0, 0, 0], &[1, 2]),
        Want::Build(kernel(0, 0, "PAD", Src::Any)),
    );
    pad_overflowing_amount => Row::new(
        pad(&[i32::MAX, i32::MAX, 0, 0], &[2, 2]),
        Want::Build(kernel(0, 0, "PAD", Src::Any)),
    );
    strided_slice_stride_zero => Row::new(
        strided_slice(&[4], &[0], &[4], &[0], strided(|_| {}), &[4]),
        Want::Build(kernel(0, 0, "STRIDED_SLICE", Src::Any)),
    );
    // LiteRT's `BuildStridedSliceParams` takes each set ellipsis bit in turn (TensorFlow
    // refuses a second one); tflrs follows LiteRT, and both cover the whole input here.
    strided_slice_two_ellipses_is_defined => Row::new(
        strided_slice(
            &[2, 2],
            &[0, 0],
            &[2, 2],
            &[1, 1],
            strided(|a| a.ellipsis_mask = 0b11),
            &[2, 2],
        ),
        Want::Runs(Some(f32_bytes(&[1.0, 2.0, 3.0, 4.0]))),
    )
    .feed(0, f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    strided_slice_shrink_an_axis_at_an_index_out_of_range => Row::new(
        strided_slice(&[4], &[7], &[8], &[1], strided(|a| a.shrink_axis_mask = 1), &[]),
        Want::Build(kernel(0, 0, "STRIDED_SLICE", Src::Any)),
    );
    strided_slice_operands_of_different_lengths => Row::new(
        strided_slice(&[2, 2], &[0, 0], &[2], &[1, 1], strided(|_| {}), &[2, 2]),
        Want::Build(kernel(0, 0, "STRIDED_SLICE", Src::Any)),
    );
    // New-axis bits past the index operands' length still mark effective dimensions, as in
    // LiteRT's `BuildStridedSliceParams`: [1, 1], reading x[0] (in bounds).
    strided_slice_new_axis_bits_beyond_the_operands => Row::new(
        strided_slice(&[4], &[0], &[4], &[1], strided(|a| a.new_axis_mask = -1), &[1, 1]),
        Want::Runs(Some(f32_bytes(&[1.0]))),
    )
    .feed(0, f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    strided_slice_output_shape_disagreeing_with_the_masks => Row::new(
        strided_slice(&[4], &[0], &[4], &[1], strided(|a| a.new_axis_mask = -1), &[4]),
        Want::Build(kernel(0, 0, "STRIDED_SLICE", Src::Invalid("output [4]"))),
    );
    strided_slice_operands_longer_than_the_rank => Row::new(
        strided_slice(&[4], &[0, 0, 0], &[4, 4, 4], &[1, 1, 1], strided(|_| {}), &[4]),
        Want::Runs(None),
    );
    strided_slice_ellipsis_past_the_operands => Row::new(
        strided_slice(&[2, 2], &[0], &[1], &[1], strided(|a| a.ellipsis_mask = 1 << 31), &[1, 2]),
        Want::Runs(None),
    );
    reshape_to_a_different_element_count => Row::new(
        reshape(&[4, 2], &[4, 2]),
        Want::Build(kernel(0, 0, "RESHAPE", Src::Any)),
    );
    reshape_attribute_to_a_different_element_count => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [2, 3]);
            let attrs = ReshapeAttrs { new_shape: Some(vec![4, 2]) };
            node(b, Op::Reshape(Some(attrs)), &[x], DType::Float32, &[4, 2]);
        }),
        Want::Build(kernel(0, 0, "RESHAPE", Src::Any)),
    );
    reshape_two_negative_sizes_whose_product_matches => Row::new(
        // -2 * -3 = 6 elements: only -1 may stand for "the rest".
        reshape(&[-2, -3], &[2, 3]),
        Want::Build(kernel(0, 0, "RESHAPE", Src::Any)),
    );
    split_count_not_dividing_the_axis => Row::new(
        split(0, 2, 2, 2),
        Want::Build(kernel(0, 0, "SPLIT", Src::Any)),
    );
    split_count_zero => Row::new(
        split(0, 0, 0, 5),
        Want::Build(kernel(0, 0, "SPLIT", Src::Any)),
    );
    split_axis_out_of_range => Row::new(
        split(3, 1, 1, 5),
        Want::Build(kernel(0, 0, "SPLIT", Src::Any)),
    );

    // --- Resources: refused with a typed error before anything is allocated. ---
    tensor_of_2_pow_40_elements => Row::new(
        relu_chain(1, &[1 << 20, 1 << 20]),
        Want::Build(limit("elements of one tensor", 1 << 40, 1 << 31)),
    );
    tensor_of_2_pow_40_elements_with_the_element_limit_lifted => Row::new(
        relu_chain(1, &[1 << 20, 1 << 20]),
        Want::Build(limit("memory for tensors", 1 << 42, 4 << 30)),
    )
    .limits(Limits { max_tensor_elements: u64::MAX, ..Limits::default() });
    arena_over_max_arena_bytes => Row::new(
        relu_chain(1, &[1 << 20]),
        Want::Build(limit("memory for tensors", 4 << 20, 1 << 20)),
    )
    .limits(Limits { max_arena_bytes: 1 << 20, ..Limits::default() });
    arena_over_the_default_limit => Row::new(
        // Two tensors of 4 GiB: the first fits the default 4 GiB, the second does not.
        relu_chain(1, &[1 << 30]),
        Want::Build(limit("memory for tensors", 8 << 30, 4 << 30)),
    );
    too_many_nodes => Row::new(
        relu_chain(5, &[4]),
        Want::Build(limit("number of nodes", 5, 4)),
    )
    .limits(Limits { max_nodes: 4, ..Limits::default() });
    too_many_arena_buffers => Row::new(
        relu_chain(5, &[4]),
        Want::Build(limit("buffers in one subgraph's arena", 6, 4)),
    )
    .limits(Limits { max_arena_buffers: 4, ..Limits::default() });
    too_many_subgraphs => Row::new(
        call_once_chain(2),
        Want::Build(limit("number of subgraphs", 3, 2)),
    )
    .limits(Limits { max_subgraphs: 2, ..Limits::default() });
    nested_control_flow_within_max_call_depth => Row::new(call_once_chain(3), Want::Runs(None))
        .limits(Limits { max_call_depth: 3, ..Limits::default() });
    nested_control_flow_over_max_call_depth => Row::new(
        call_once_chain(4),
        Want::Invoke(kernel(0, 0, "CALL_ONCE", Src::Invalid("nest deeper than 3"))),
    )
    .limits(Limits { max_call_depth: 3, ..Limits::default() });

    // --- Aliasing (CVE-2020-15210: a tensor both input and output of one node). ---
    node_output_is_its_own_input => Row::new(
        Raw::add().edit(|r| {
            r.sg(0).ops[0].outputs = vec![0];
            r.sg(0).outputs = vec![0];
        })
        .build(),
        Want::Build(kernel(
            0,
            0,
            "ADD",
            Src::Invalid("tensor 0 ('x') is both input 0 and output 0"),
        )),
    );
    node_output_is_its_constant_input => Row::new(
        Raw::add().edit(|r| {
            r.sg(0).tensors[1].shape = vec![1, 4];
            r.sg(0).ops[0].outputs = vec![1];
        })
        .build(),
        Want::Build(kernel(
            0,
            0,
            "ADD",
            Src::Invalid("tensor 1 ('c') is both input 1 and output 0"),
        )),
    );
    node_writes_one_tensor_twice => Row::graph(
        graph(|b| {
            let x = b.input("x", DType::Float32, [4]);
            let y = out(b, "y", DType::Float32, &[2]);
            b.node(Op::Split(SplitAttrs { num_splits: 2 }), &[Some(x), Some(x)], &[y, y]);
            b.output(y);
        }),
        Want::Build(kernel(
            0,
            0,
            "SPLIT",
            Src::Invalid("tensor 1 ('y') is both output 0 and output 1"),
        )),
    );
    node_writes_a_constant => Row::new(
        Raw::add().edit(|r| {
            r.sg(0).tensors[1].shape = vec![1, 4];
            r.sg(0).ops[0].inputs = vec![0, 0];
            r.sg(0).ops[0].outputs = vec![1];
        })
        .build(),
        Want::Build(Fail::Tensor { subgraph: 0, tensor: 1, says: "writes a constant" }),
    );

    // --- Huge ranks (CVE-2022-23558: TfLiteIntArrayCreate overflow). ---
    // No rank limit in the format: a huge rank must cost time and memory linear in the file.
    // The runtime and kernels handle it (checked on a graph built in code); loading does not.
    rank_of_a_hundred_thousand => Row::new(
        relu_chain(1, &vec![1; 100_000]),
        Want::Runs(Some(f32_bytes(&[0.0]))),
    );
    broadcast_at_a_rank_of_a_hundred_thousand => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, vec![1; 100_000]);
            node(b, Op::Add(AddAttrs::default()), &[x, x], DType::Float32, &vec![1; 100_000]);
        }),
        Want::Runs(Some(f32_bytes(&[0.0]))),
    );
    graph_at_a_rank_of_a_hundred_thousand => Row::graph(
        graph(|b| {
            let x = b.input("x", DType::Float32, vec![1; 100_000]);
            node(b, Op::Add(AddAttrs::default()), &[x, x], DType::Float32, &vec![1; 100_000]);
        }),
        Want::Runs(Some(f32_bytes(&[0.0]))),
    );

    // --- Quantization parameters that divide (CVE-2022-23557 family). ---
    quantized_add_with_scale_zero => Row::new(
        add_i8([0.0, 0.5, 0.5]),
        Want::Build(kernel(0, 0, "ADD", Src::Invalid("'x' has scale 0; a positive finite scale"))),
    );
    quantized_add_with_output_scale_zero => Row::new(
        add_i8([0.5, 0.5, 0.0]),
        Want::Build(kernel(0, 0, "ADD", Src::Invalid("'y' has scale 0; a positive finite scale"))),
    );
    quantized_add_with_scale_nan => Row::new(
        add_i8([f32::NAN, 0.5, 0.5]),
        Want::Build(kernel(0, 0, "ADD", Src::Invalid("'x' has scale NaN"))),
    );
    quantized_add_with_scale_infinite => Row::new(
        add_i8([0.5, f32::INFINITY, 0.5]),
        Want::Build(kernel(0, 0, "ADD", Src::Invalid("'c' has scale inf"))),
    );
    quantized_add_with_scale_negative => Row::new(
        add_i8([0.5, 0.5, -0.5]),
        Want::Build(kernel(0, 0, "ADD", Src::Invalid("'y' has scale -0.5"))),
    );
    // Finite, positive scales whose ratio overflows the fixed-point multiplier (LiteRT's
    // double-rounding reference shifts by it: undefined behaviour there).
    quantized_add_with_extreme_scale_ratio => Row::new(
        add_i8(EXTREME),
        Want::Build(kernel(0, 0, "ADD", Src::Any)),
    );
    quantized_sub_with_extreme_scale_ratio => Row::new(
        quantized(Op::Sub(SubAttrs::default()), DType::Int8, true, EXTREME),
        Want::Build(kernel(0, 0, "SUB", Src::Any)),
    );
    quantized_mul_with_extreme_scale_ratio => Row::new(
        quantized(Op::Mul(MulAttrs::default()), DType::Int8, true, EXTREME),
        Want::Build(kernel(0, 0, "MUL", Src::Any)),
    );
    quantized_squared_difference_with_extreme_scale_ratio => Row::new(
        quantized(Op::SquaredDifference, DType::Int8, true, EXTREME),
        Want::Build(kernel(0, 0, "SQUARED_DIFFERENCE", Src::Any)),
    );
    int16_add_with_extreme_scale_ratio => Row::new(
        quantized(Op::Add(AddAttrs::default()), DType::Int16, true, EXTREME),
        Want::Build(kernel(0, 0, "ADD", Src::Any)),
    );
    requantize_with_extreme_scale_ratio => Row::new(
        quantized(Op::Quantize, DType::Int8, false, [1.0, 1.0, 1e-45]),
        Want::Build(kernel(0, 0, "QUANTIZE", Src::Any)),
    );
    quantized_rsqrt_with_extreme_scale_ratio => Row::new(
        quantized(Op::Rsqrt, DType::Int8, false, [1e-45, 1.0, 1.0]),
        Want::Build(kernel(0, 0, "RSQRT", Src::Any)),
    )
    .feed(0, vec![1, 2, 3, 4]);

    // --- More zero-size divisors. ---
    transpose_conv_stride_zero => Row::new(
        ir(|b| {
            let shape = b.constant_i32("output_shape", [4], &[1, 4, 4, 1]);
            let w = b.constant_f32("w", [1, 3, 3, 1], &[1.0; 9]);
            let x = b.input("x", DType::Float32, [1, 4, 4, 1]);
            let attrs = TransposeConvAttrs {
                padding: Padding::Same,
                stride_w: 0,
                stride_h: 1,
                ..TransposeConvAttrs::default()
            };
            node(b, Op::TransposeConv(attrs), &[shape, w, x], DType::Float32, &[1, 4, 4, 1]);
        }),
        Want::Build(kernel(0, 0, "TRANSPOSE_CONV", Src::Any)),
    );
    resize_to_size_zero => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [1, 2, 2, 1]);
            let size = b.constant_i32("size", [2], &[0, 0]);
            let attrs = ResizeNearestNeighborAttrs {
                align_corners: true,
                half_pixel_centers: false,
            };
            node(b, Op::ResizeNearestNeighbor(attrs), &[x, size], DType::Float32, &[1, 0, 0, 1]);
        }),
        Want::Build(kernel(0, 0, "RESIZE_NEAREST_NEIGHBOR", Src::Any)),
    );
    resize_from_size_zero => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [1, 0, 0, 1]);
            let size = b.constant_i32("size", [2], &[3, 3]);
            let attrs = ResizeNearestNeighborAttrs {
                align_corners: false,
                half_pixel_centers: true,
            };
            node(b, Op::ResizeNearestNeighbor(attrs), &[x, size], DType::Float32, &[1, 3, 3, 1]);
        }),
        Want::Build(kernel(0, 0, "RESIZE_NEAREST_NEIGHBOR", Src::Any)),
    );
    quantized_mean_over_an_empty_axis => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Int8, [2, 0]);
            b.quantize(x, QuantParams::per_tensor(0.5, 0));
            let axis = b.constant_i32("axis", [1], &[1]);
            let op = Op::Mean(ReducerAttrs { keep_dims: false });
            let y = node(b, op, &[x, axis], DType::Int8, &[2]);
            b.quantize(y, QuantParams::per_tensor(0.5, 0));
        }),
        Want::Runs(None),
    );

    // --- Shape operands computed at run time: the re-plan at invoke checks them. ---
    reshape_to_computed_shape_of_a_different_element_count => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [2, 3]);
            let s = b.input("shape", DType::Int32, [2]);
            node(b, Op::Reshape(None), &[x, s], DType::Float32, &[2, 3]);
        }),
        Want::Invoke(kernel(0, 0, "RESHAPE", Src::Any)),
    )
    .feed(1, i32_bytes(&[4, 2]));
    pad_by_computed_negative_amounts => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [2, 2]);
            let p = b.input("paddings", DType::Int32, [2, 2]);
            node(b, Op::Pad, &[x, p], DType::Float32, &[2, 2]);
        }),
        Want::Invoke(kernel(0, 0, "PAD", Src::Any)),
    )
    .feed(1, i32_bytes(&[-1, 0, 0, 0]));
    pad_by_computed_overflowing_amounts => Row::new(
        ir(|b| {
            let x = b.input("x", DType::Float32, [2, 2]);
            let p = b.input("paddings", DType::Int32, [2, 2]);
            node(b, Op::Pad, &[x, p], DType::Float32, &[2, 2]);
        }),
        Want::Invoke(kernel(0, 0, "PAD", Src::Any)),
    )
    .feed(1, i32_bytes(&[i32::MAX, i32::MAX, i32::MAX, i32::MAX]));
    split_along_a_computed_axis_out_of_range => Row::new(
        ir(|b| {
            let a = b.input("axis", DType::Int32, Vec::<i32>::new());
            let x = b.input("x", DType::Float32, [4]);
            let y0 = out(b, "y0", DType::Float32, &[2]);
            let y1 = out(b, "y1", DType::Float32, &[2]);
            b.node(Op::Split(SplitAttrs { num_splits: 2 }), &[Some(a), Some(x)], &[y0, y1]);
            b.output(y0);
            b.output(y1);
        }),
        Want::Invoke(kernel(0, 0, "SPLIT", Src::Any)),
    )
    .feed(0, i32_bytes(&[5]));
}

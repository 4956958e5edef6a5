//! Loading valid and malformed models: each malformed one gets its own typed error, never a
//! panic, and loading never allocates more than the file's size.

use flatbuffers::FlatBufferBuilder;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tflrs_schema::generated as fb;
use tflrs_schema::{IndexKind, LoadError, Location, Model, QuantProblem};

/// Counts the bytes this thread allocates while `COUNTING` is set.
struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only thread-locals with
// const initializers, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNTING.try_with(|c| {
            if c.get() {
                let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
            }
        });
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Loads `bytes`, checking that loading allocates at most the file's size (plus a small
/// constant for error values), and returns the result.
fn load(bytes: &[u8]) -> Result<(), LoadError> {
    ALLOCATED.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let result = Model::from_bytes(bytes).map(|_| ());
    COUNTING.with(|c| c.set(false));
    let allocated = ALLOCATED.with(|a| a.get());
    assert!(
        allocated <= bytes.len() + 4096,
        "loading a {}-byte file allocated {allocated} bytes",
        bytes.len()
    );
    result
}

/// Per-tensor or per-axis quantization: scales, zero points (None: absent), axis.
type Quant = (Vec<f32>, Option<Vec<i64>>, i32);

/// A small fully-connected model, with knobs to break it in one place at a time.
#[derive(Clone)]
struct Spec {
    version: u32,
    weight_shape: Vec<i32>,
    weight_type: fb::TensorType,
    weight_bytes: usize,
    weight_buffer: u32,
    weight_quant: Option<Quant>,
    op_inputs: Vec<i32>,
    opcode_index: u32,
    graph_outputs: Vec<i32>,
    /// Extra subgraphs; for each subgraph (0 = main), WHILE ops `(cond, body)` to add.
    extra_subgraphs: usize,
    whiles: Vec<(usize, i32, i32)>,
    /// Place the weight data after the FlatBuffer at this offset (None: inline).
    weight_offset: Option<(u64, u64)>,
    identifier: &'static str,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            version: 3,
            weight_shape: vec![3, 4],
            weight_type: fb::TensorType::FLOAT32,
            weight_bytes: 48,
            weight_buffer: 1,
            weight_quant: None,
            op_inputs: vec![0, 1, -1],
            opcode_index: 0,
            graph_outputs: vec![2],
            extra_subgraphs: 0,
            whiles: vec![],
            weight_offset: None,
            identifier: "TFL3",
        }
    }
}

impl Spec {
    fn build(&self) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        let tensor = |b: &mut FlatBufferBuilder<'static>,
                      name: &str,
                      shape: &[i32],
                      ty: fb::TensorType,
                      buffer: u32,
                      quant: Option<&Quant>| {
            let shape = b.create_vector(shape);
            let name = b.create_string(name);
            let quantization = quant.map(|(scale, zp, axis)| {
                let scale = b.create_vector(scale);
                let zero_point = zp.as_ref().map(|z| b.create_vector(z));
                fb::QuantizationParameters::create(
                    b,
                    &fb::QuantizationParametersArgs {
                        scale: Some(scale),
                        zero_point,
                        quantized_dimension: *axis,
                        ..Default::default()
                    },
                )
            });
            fb::Tensor::create(
                b,
                &fb::TensorArgs {
                    shape: Some(shape),
                    type_: ty,
                    buffer,
                    name: Some(name),
                    quantization,
                    ..Default::default()
                },
            )
        };
        let mut subgraphs = Vec::new();
        for s in 0..=self.extra_subgraphs {
            let mut tensors = Vec::new();
            let mut ops = Vec::new();
            if s == 0 {
                tensors.push(tensor(
                    &mut b,
                    "input",
                    &[1, 4],
                    fb::TensorType::FLOAT32,
                    0,
                    None,
                ));
                tensors.push(tensor(
                    &mut b,
                    "weights",
                    &self.weight_shape,
                    self.weight_type,
                    self.weight_buffer,
                    self.weight_quant.as_ref(),
                ));
                tensors.push(tensor(
                    &mut b,
                    "output",
                    &[1, 3],
                    fb::TensorType::FLOAT32,
                    0,
                    None,
                ));
                let inputs = b.create_vector(&self.op_inputs);
                let outputs = b.create_vector(&[2]);
                ops.push(fb::Operator::create(
                    &mut b,
                    &fb::OperatorArgs {
                        opcode_index: self.opcode_index,
                        inputs: Some(inputs),
                        outputs: Some(outputs),
                        ..Default::default()
                    },
                ));
            } else {
                tensors.push(tensor(&mut b, "x", &[1], fb::TensorType::FLOAT32, 0, None));
            }
            for &(_, cond, body) in self.whiles.iter().filter(|w| w.0 == s) {
                let opts = fb::WhileOptions::create(
                    &mut b,
                    &fb::WhileOptionsArgs {
                        cond_subgraph_index: cond,
                        body_subgraph_index: body,
                    },
                );
                let io = b.create_vector(&[0]);
                ops.push(fb::Operator::create(
                    &mut b,
                    &fb::OperatorArgs {
                        opcode_index: 1,
                        inputs: Some(io),
                        outputs: Some(io),
                        builtin_options_type: fb::BuiltinOptions::WhileOptions,
                        builtin_options: Some(opts.as_union_value()),
                        ..Default::default()
                    },
                ));
            }
            let tensors = b.create_vector(&tensors);
            let ops = b.create_vector(&ops);
            let inputs = b.create_vector(&[0]);
            let outputs = if s == 0 {
                b.create_vector(&self.graph_outputs)
            } else {
                b.create_vector(&[0])
            };
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
        let codes = [
            fb::BuiltinOperator::FULLY_CONNECTED,
            fb::BuiltinOperator::WHILE,
        ]
        .map(|code| {
            fb::OperatorCode::create(
                &mut b,
                &fb::OperatorCodeArgs {
                    deprecated_builtin_code: code.0 as i8,
                    builtin_code: code,
                    version: 1,
                    ..Default::default()
                },
            )
        });
        let codes = b.create_vector(&codes);
        let empty = fb::Buffer::create(&mut b, &fb::BufferArgs::default());
        let weights = match self.weight_offset {
            None => {
                let data = b.create_vector(&vec![0u8; self.weight_bytes]);
                fb::Buffer::create(
                    &mut b,
                    &fb::BufferArgs {
                        data: Some(data),
                        ..Default::default()
                    },
                )
            }
            Some((offset, size)) => fb::Buffer::create(
                &mut b,
                &fb::BufferArgs {
                    offset,
                    size,
                    ..Default::default()
                },
            ),
        };
        let buffers = b.create_vector(&[empty, weights]);
        let model = fb::Model::create(
            &mut b,
            &fb::ModelArgs {
                version: self.version,
                operator_codes: Some(codes),
                subgraphs: Some(subgraphs),
                buffers: Some(buffers),
                ..Default::default()
            },
        );
        b.finish(model, Some(self.identifier));
        b.finished_data().to_vec()
    }
}

fn with(f: impl FnOnce(&mut Spec)) -> Vec<u8> {
    let mut spec = Spec::default();
    f(&mut spec);
    spec.build()
}

#[test]
fn valid_model_loads_and_reads_constant_data() {
    let bytes = Spec::default().build();
    load(&bytes).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let sg = model.subgraphs().get(0);
    let w = sg.tensors().unwrap().get(1);
    assert_eq!(model.tensor_data(&w).map(<[u8]>::len), Some(48));
    assert_eq!(model.tensor_data(&sg.tensors().unwrap().get(0)), None);
    let code = model.operator_codes().get(0);
    assert_eq!(
        Model::builtin_code(&code),
        fb::BuiltinOperator::FULLY_CONNECTED
    );
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = Spec::default().build();
    for len in 0..bytes.len() {
        assert!(
            load(&bytes[..len]).is_err(),
            "truncated to {len} bytes but loaded"
        );
    }
    assert!(matches!(
        load(&bytes[..3]),
        Err(LoadError::TooShort { len: 3 })
    ));
}

#[test]
fn wrong_identifier() {
    let bytes = with(|s| s.identifier = "TFL2");
    assert_eq!(
        load(&bytes),
        Err(LoadError::BadIdentifier { found: *b"TFL2" })
    );
}

#[test]
fn wrong_version() {
    let bytes = with(|s| s.version = 4);
    assert_eq!(
        load(&bytes),
        Err(LoadError::UnsupportedVersion { version: 4 })
    );
}

#[test]
fn flipped_offsets_fail_verification() {
    let bytes = Spec::default().build();
    // Corrupt the root offset so it points past the end of the file.
    let mut bad = bytes.clone();
    bad[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(load(&bad), Err(LoadError::Flatbuffer(_))));
}

#[test]
fn operator_input_out_of_range() {
    let bytes = with(|s| s.op_inputs = vec![0, 7, -1]);
    assert_eq!(
        load(&bytes),
        Err(LoadError::IndexOutOfRange {
            what: "operator input",
            kind: IndexKind::Tensor,
            index: 7,
            len: 3,
            at: Location::operator(0, 0),
        })
    );
    let bytes = with(|s| s.op_inputs = vec![0, -2]);
    assert!(matches!(
        load(&bytes),
        Err(LoadError::IndexOutOfRange { index: -2, .. })
    ));
}

#[test]
fn opcode_index_out_of_range() {
    let bytes = with(|s| s.opcode_index = 9);
    assert!(matches!(
        load(&bytes),
        Err(LoadError::IndexOutOfRange {
            kind: IndexKind::OperatorCode,
            index: 9,
            len: 2,
            ..
        })
    ));
}

#[test]
fn negative_builtin_code() {
    // The FULLY_CONNECTED code's fields patched to -2 (found by fuzzing import_export: a
    // negative code did not survive export).
    let bytes = Spec::default().build();
    let model = Model::from_bytes(&bytes).unwrap();
    let tab = model.operator_codes().get(0)._tab;
    let mut bad = bytes.clone();
    for field in [
        fb::OperatorCode::VT_BUILTIN_CODE,
        fb::OperatorCode::VT_DEPRECATED_BUILTIN_CODE,
    ] {
        let pos = tab.loc() + tab.vtable().get(field) as usize;
        if field == fb::OperatorCode::VT_BUILTIN_CODE {
            bad[pos..pos + 4].copy_from_slice(&(-2i32).to_le_bytes());
        } else {
            bad[pos] = (-2i8) as u8;
        }
    }
    assert_eq!(
        load(&bad),
        Err(LoadError::BadBuiltinCode { index: 0, code: -2 })
    );
}

#[test]
fn graph_output_out_of_range() {
    let bytes = with(|s| s.graph_outputs = vec![3]);
    assert!(matches!(
        load(&bytes),
        Err(LoadError::IndexOutOfRange {
            what: "subgraph output",
            index: 3,
            ..
        })
    ));
}

#[test]
fn tensor_buffer_out_of_range() {
    let bytes = with(|s| s.weight_buffer = 5);
    assert_eq!(
        load(&bytes),
        Err(LoadError::IndexOutOfRange {
            what: "tensor buffer",
            kind: IndexKind::Buffer,
            index: 5,
            len: 2,
            at: Location::tensor(0, 1),
        })
    );
}

#[test]
fn buffer_shorter_than_tensor() {
    let bytes = with(|s| s.weight_bytes = 47);
    assert_eq!(
        load(&bytes),
        Err(LoadError::BufferSizeMismatch {
            buffer: 1,
            expected: 48,
            actual: 47,
            at: Location::tensor(0, 1),
        })
    );
    // Longer than needed is accepted, as LiteRT accepts it.
    load(&with(|s| s.weight_bytes = 64)).unwrap();
}

#[test]
fn packed_int4_needs_half_the_bytes() {
    load(&with(|s| {
        s.weight_type = fb::TensorType::INT4;
        s.weight_bytes = 6;
    }))
    .unwrap();
    assert!(matches!(
        load(&with(|s| {
            s.weight_type = fb::TensorType::INT4;
            s.weight_shape = vec![3, 5];
            s.weight_bytes = 7;
        })),
        Err(LoadError::BufferSizeMismatch {
            expected: 8,
            actual: 7,
            ..
        })
    ));
}

#[test]
fn negative_dimension() {
    let bytes = with(|s| s.weight_shape = vec![3, -4]);
    assert_eq!(
        load(&bytes),
        Err(LoadError::NegativeDimension {
            axis: 1,
            dim: -4,
            at: Location::tensor(0, 1),
        })
    );
}

#[test]
fn absurd_shapes_overflow_without_allocating() {
    // 2^31-1 per axis: the element count overflows u64 after three axes.
    let huge = i32::MAX;
    let bytes = with(|s| s.weight_shape = vec![huge, huge, huge]);
    assert!(matches!(load(&bytes), Err(LoadError::ShapeOverflow { .. })));
    // 2^40 elements of f32 fit in u64 but the buffer cannot hold them.
    let bytes = with(|s| s.weight_shape = vec![1 << 20, 1 << 20]);
    assert!(matches!(
        load(&bytes),
        Err(LoadError::BufferSizeMismatch {
            expected: 4_398_046_511_104,
            ..
        })
    ));
    // Many axes: the count overflows even though each axis is modest.
    let bytes = with(|s| s.weight_shape = vec![1 << 16; 8]);
    assert!(matches!(load(&bytes), Err(LoadError::ShapeOverflow { .. })));
}

#[test]
fn quantization_arrays_must_agree() {
    let q = |scales: Vec<f32>, zps: Option<Vec<i64>>, axis| {
        with(|s| {
            s.weight_type = fb::TensorType::INT8;
            s.weight_bytes = 12;
            s.weight_quant = Some((scales, zps, axis));
        })
    };
    load(&q(vec![0.5], Some(vec![0]), 0)).unwrap();
    load(&q(vec![0.5; 3], Some(vec![0; 3]), 0)).unwrap();
    let problem = |bytes: Vec<u8>| match load(&bytes) {
        Err(LoadError::BadQuantization { problem, at }) => {
            assert_eq!(at, Location::tensor(0, 1));
            problem
        }
        other => panic!("expected a quantization error, got {other:?}"),
    };
    assert_eq!(
        problem(q(vec![0.5], None, 0)),
        QuantProblem::MissingZeroPoint
    );
    assert_eq!(
        problem(q(vec![0.5; 3], Some(vec![0; 2]), 0)),
        QuantProblem::LengthMismatch {
            scales: 3,
            zero_points: 2
        }
    );
    assert_eq!(
        problem(q(vec![0.5; 3], Some(vec![0; 3]), 2)),
        QuantProblem::AxisOutOfRange { axis: 2, rank: 2 }
    );
    assert_eq!(
        problem(q(vec![0.5; 3], Some(vec![0; 3]), 1)),
        QuantProblem::ChannelCountMismatch {
            scales: 3,
            channels: 4
        }
    );
    // A huge quantization array fails on its length, without copying it.
    assert!(matches!(
        problem(q(vec![0.5; 100_000], Some(vec![0; 100_000]), 0)),
        QuantProblem::ChannelCountMismatch {
            scales: 100_000,
            ..
        }
    ));
}

#[test]
fn offset_buffers_must_lie_inside_the_file() {
    // Data appended after the FlatBuffer, as the converter does for models over 2 GB.
    let probe = with(|s| s.weight_offset = Some((2, 48)));
    let flat_len = probe.len() as u64;
    let mut bytes = with(|s| s.weight_offset = Some((flat_len, 48)));
    assert_eq!(
        bytes.len() as u64,
        flat_len,
        "offset must not change the FlatBuffer's size"
    );
    bytes.extend(std::iter::repeat_n(7u8, 48));
    let model = Model::from_bytes(&bytes).unwrap();
    let w = model.subgraphs().get(0).tensors().unwrap().get(1);
    assert_eq!(model.tensor_data(&w), Some(&[7u8; 48][..]));

    bytes.truncate(bytes.len() - 1);
    assert_eq!(
        load(&bytes),
        Err(LoadError::BufferOutsideFile {
            buffer: 1,
            offset: flat_len,
            size: 48,
            file_len: bytes.len(),
        })
    );
    let bytes = with(|s| s.weight_offset = Some((u64::MAX - 4, 48)));
    assert!(matches!(
        load(&bytes),
        Err(LoadError::BufferOutsideFile { .. })
    ));
}

#[test]
fn dangling_subgraph_reference() {
    let bytes = with(|s| {
        s.extra_subgraphs = 1;
        s.whiles = vec![(0, 1, 4)];
    });
    assert_eq!(
        load(&bytes),
        Err(LoadError::IndexOutOfRange {
            what: "body_subgraph_index",
            kind: IndexKind::Subgraph,
            index: 4,
            len: 2,
            at: Location::operator(0, 1),
        })
    );
    let bytes = with(|s| {
        s.extra_subgraphs = 1;
        s.whiles = vec![(0, -1, 1)];
    });
    assert!(matches!(
        load(&bytes),
        Err(LoadError::IndexOutOfRange { index: -1, .. })
    ));
}

#[test]
fn cyclic_subgraph_references() {
    // A well-formed WHILE: main calls 1 (cond) and 2 (body).
    load(&with(|s| {
        s.extra_subgraphs = 2;
        s.whiles = vec![(0, 1, 2)];
    }))
    .unwrap();
    // Self-reference.
    let bytes = with(|s| s.whiles = vec![(0, 0, 0)]);
    assert_eq!(load(&bytes), Err(LoadError::SubgraphCycle { subgraph: 0 }));
    // An indirect cycle 1 -> 2 -> 3 -> 1 hanging off the main subgraph.
    let bytes = with(|s| {
        s.extra_subgraphs = 3;
        s.whiles = vec![(0, 1, 1), (1, 2, 2), (2, 3, 3), (3, 1, 1)];
    });
    assert!(matches!(load(&bytes), Err(LoadError::SubgraphCycle { .. })));
}

#[test]
fn errors_name_the_location() {
    let bytes = with(|s| s.op_inputs = vec![0, 7]);
    let msg = load(&bytes).unwrap_err().to_string();
    assert_eq!(
        msg,
        "subgraph 0, operator 0: operator input refers to tensor 7, but there are only 3"
    );
}

#[test]
fn single_byte_corruptions_never_panic() {
    let bytes = with(|s| {
        s.extra_subgraphs = 2;
        s.whiles = vec![(0, 1, 2)];
        s.weight_quant = Some((vec![0.5], Some(vec![0]), 0));
    });
    for i in 0..bytes.len() {
        for v in [0x00u8, 0xff, 0x80, 0x7f, 0x01] {
            let mut bad = bytes.clone();
            bad[i] = v;
            let _ = load(&bad);
        }
    }
}

#[test]
fn unknown_union_members_are_refused() {
    // An options type past the schema's last member: the verifier skips such a table, so a
    // reader would follow an unchecked offset (found by fuzzing import_export).
    let bytes = with(|s| {
        s.extra_subgraphs = 2;
        s.whiles = vec![(0, 1, 2)];
    });
    let model = Model::from_bytes(&bytes).unwrap();
    let op = model.subgraphs().get(0).operators().unwrap().get(1);
    let pos = op._tab.loc() + op._tab.vtable().get(fb::Operator::VT_BUILTIN_OPTIONS_TYPE) as usize;
    let mut bad = bytes.clone();
    bad[pos] = 250;
    assert_eq!(
        load(&bad),
        Err(LoadError::UnknownUnionType {
            what: "builtin_options",
            value: 250,
            at: Location::operator(0, 1),
        })
    );
}

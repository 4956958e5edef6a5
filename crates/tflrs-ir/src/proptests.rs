//! Property tests: random valid graphs made with the builder survive export and import
//! unchanged (with node versions resolved, as export writes them).

use crate::tflite::raw::FieldKind;
use crate::tflite::{ExportOptions, export_with, import, layout};
use crate::*;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};
use proptest::prelude::*;

/// Deterministic choices drawn from a proptest-generated stream of numbers.
struct Draw {
    words: Vec<u32>,
    at: usize,
}

impl Draw {
    fn next(&mut self) -> u32 {
        let w = self.words[self.at % self.words.len()];
        self.at += 1;
        // Mix in the position so that a short stream still varies.
        w.wrapping_mul(0x9E37_79B9).rotate_left(self.at as u32 % 31) ^ self.at as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, one_in: u32) -> bool {
        self.below(one_in) == 0
    }

    fn f32(&mut self) -> f32 {
        (self.below(2001) as f32 - 1000.0) / 64.0
    }

    fn name(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", self.below(1000))
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn some_bytes(&mut self, max: u32) -> Vec<u8> {
        let n = self.below(max + 1) as usize;
        self.bytes(n)
    }
}

fn f32_data(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn random_quant(d: &mut Draw, shape: &Shape) -> QuantParams {
    let mut q = match d.below(3) {
        0 => QuantParams::per_tensor(
            0.5 + d.below(100) as f32 / 128.0,
            i64::from(d.below(20)) - 10,
        ),
        1 if shape.rank() > 0 && shape.dims[0] >= 2 => {
            let n = shape.dims[0] as usize;
            QuantParams::per_axis(
                0,
                (0..n).map(|_| 0.25 + d.below(100) as f32 / 256.0).collect(),
                (0..n).map(|_| i64::from(d.below(5))).collect(),
            )
        }
        _ => QuantParams {
            min: vec![d.f32()],
            max: vec![d.f32()],
            ..QuantParams::default()
        },
    };
    if d.chance(3) {
        q.min = vec![d.f32()];
        q.max = vec![d.f32()];
    }
    q.details = match d.below(5) {
        0 => QuantDetails::Custom(d.some_bytes(19)),
        1 => QuantDetails::Blockwise {
            scales: d.below(9) as i32,
            zero_points: d.below(9) as i32,
            block_size: 32,
        },
        2 => QuantDetails::MultiAxis {
            scales: 1,
            zero_points: 2,
            block_size: 16,
            quantized_dimensions: d.chance(2).then(|| vec![0, 1]),
        },
        _ => QuantDetails::None,
    };
    q
}

/// Option tables whose fields name subgraphs (the loader checks those indices).
const CALLS_SUBGRAPHS: &[&str] = &[
    "IfOptions",
    "WhileOptions",
    "CallOnceOptions",
    "CallOptions",
    "StablehloWhileOptions",
    "StablehloReduceOptions",
    "StablehloReduceWindowOptions",
    "StablehloSortOptions",
    "StablehloScatterOptions",
    "StableHLOCompositeOptions",
    "StablehloCaseOptions",
];

fn random_raw(d: &mut Draw, table: &[(&str, &[FieldKind])]) -> Option<RawOptions> {
    let pick = 1 + d.below(table.len() as u32 - 1) as usize;
    let (name, kinds) = table[pick];
    if CALLS_SUBGRAPHS.contains(&name) {
        return None;
    }
    let mut fields = Vec::new();
    for (id, kind) in kinds.iter().enumerate() {
        if d.chance(3) {
            continue;
        }
        let scalar = |d: &mut Draw, size: u8| RawValue::Scalar {
            size,
            bits: u64::from(d.next()) & (u64::MAX >> (64 - 8 * u32::from(size))),
        };
        let vector = |d: &mut Draw, elem_size: u8| {
            let n = usize::from(elem_size) * d.below(5) as usize;
            RawValue::Vector {
                elem_size,
                data: d.bytes(n),
            }
        };
        let value = match kind {
            FieldKind::S1 => scalar(d, 1),
            FieldKind::S2 => scalar(d, 2),
            FieldKind::S4 => scalar(d, 4),
            FieldKind::S8 => scalar(d, 8),
            FieldKind::Str => RawValue::String(d.name("s").into_bytes()),
            FieldKind::V1 => vector(d, 1),
            FieldKind::V2 => vector(d, 2),
            FieldKind::V4 => vector(d, 4),
            FieldKind::V8 => vector(d, 8),
        };
        fields.push(RawField {
            id: id as u16,
            value,
        });
    }
    Some(RawOptions {
        union_type: pick as u8,
        fields,
    })
}

/// Builtin codes without a typed variant, and one the schema does not know.
const OPAQUE_CODES: &[i32] = &[15, 10, 16, 35, 12, 30, 33, 131, 162, 175, 5000];

fn random_graph(words: Vec<u32>) -> Graph<'static> {
    let mut d = Draw { words, at: 0 };
    let mut b = GraphBuilder::new();
    b.description(d.name("model"));
    let rank = 1 + d.below(4) as usize;
    let dims: Vec<i32> = (0..rank).map(|_| 1 + d.below(4) as i32).collect();
    let shape = if d.chance(2) {
        let mut sig = dims.clone();
        sig[0] = -1;
        Shape::with_signature(dims.clone(), sig)
    } else {
        Shape::new(dims.clone())
    };
    let x = b.input(d.name("x"), DType::Float32, shape.clone());
    let mut live = vec![x];
    let steps = 1 + d.below(8);
    for _ in 0..steps {
        let v = live[d.below(live.len() as u32) as usize];
        let vshape = b.graph().subgraphs[0].values[v.index()].shape.clone();
        let n = vshape.num_elements().unwrap_or(1) as usize;
        let out = match d.below(9) {
            0 => b.op(
                [Op::Relu, Op::Tanh, Op::Logistic, Op::Abs, Op::Exp][d.below(5) as usize].clone(),
                &[v],
            ),
            1 => {
                let c = b.constant(
                    d.name("c"),
                    DType::Float32,
                    Shape::new(vshape.dims.clone()),
                    f32_data(&(0..n).map(|_| d.f32()).collect::<Vec<_>>()),
                );
                if d.chance(2) {
                    let q = random_quant(&mut d, &Shape::new(vshape.dims.clone()));
                    b.quantize(c, q);
                }
                let op = match d.below(4) {
                    0 => Op::Add(AddAttrs {
                        fused_activation_function: Activation::Relu,
                        pot_scale_int16: d.chance(2),
                    }),
                    1 => Op::Sub(SubAttrs::default()),
                    2 => Op::Mul(MulAttrs::default()),
                    _ => Op::Maximum,
                };
                b.op(op, &[v, c])
            }
            2 => {
                let last = *vshape.dims.last().unwrap_or(&1);
                let units = 1 + d.below(4) as i32;
                let w = b.constant_f32(
                    d.name("w"),
                    [units, last],
                    &(0..units * last).map(|_| d.f32()).collect::<Vec<_>>(),
                );
                let bias = if d.chance(2) {
                    let values: Vec<f32> = (0..units).map(|_| d.f32()).collect();
                    Some(b.constant_f32(d.name("b"), [units], &values))
                } else {
                    None
                };
                let mut inputs = vec![v, w];
                inputs.extend(bias);
                let keep = d.chance(2);
                b.op(
                    Op::FullyConnected(FullyConnectedAttrs {
                        keep_num_dims: keep,
                        ..FullyConnectedAttrs::default()
                    }),
                    &inputs,
                )
            }
            3 => {
                let s = b.constant_i32(d.name("shape"), [1], &[-1]);
                let attrs = if d.chance(2) {
                    let new_shape = d.chance(2).then(|| vec![-1]);
                    Some(ReshapeAttrs { new_shape })
                } else {
                    None
                };
                b.op(Op::Reshape(attrs), &[v, s])
            }
            4 => b.op(
                Op::Concatenation(ConcatenationAttrs {
                    axis: -1,
                    fused_activation_function: Activation::None,
                }),
                &[v, v],
            ),
            5 if vshape.rank() > 0 => {
                let axes = b.constant_i32(d.name("axes"), [1], &[0]);
                let keep_dims = d.chance(2);
                b.op(Op::Mean(ReducerAttrs { keep_dims }), &[v, axes])
            }
            6 => {
                let r = vshape.rank() as i32;
                let perm = b.constant_i32(d.name("perm"), [r], &(0..r).rev().collect::<Vec<_>>());
                b.op(Op::Transpose, &[v, perm])
            }
            7 => {
                // A custom operator, or a builtin tflrs does not type, with raw options.
                let out = b.value(Value::new(d.name("opaque"), DType::Float32, vshape.clone()));
                let op = if d.chance(2) {
                    let options = (!d.chance(4)).then(|| Cow::Owned(d.some_bytes(40)));
                    OpaqueOp::custom(d.name("MyOp"), options)
                } else {
                    let mut o = OpaqueOp::builtin(
                        OPAQUE_CODES[d.below(OPAQUE_CODES.len() as u32) as usize],
                    );
                    if d.chance(2) {
                        o.options = random_raw(&mut d, layout::BUILTIN_OPTIONS);
                    }
                    if d.chance(3) {
                        o.options_2 = random_raw(&mut d, layout::BUILTIN_OPTIONS_2);
                    }
                    o
                };
                let mut inputs = vec![Some(v)];
                if d.chance(3) {
                    inputs.push(None);
                }
                if d.chance(3) {
                    let mut state = Value::new(d.name("state"), DType::Float32, [1]);
                    state.is_variable = true;
                    inputs.push(Some(b.value(state)));
                }
                b.node(Op::Opaque(op), &inputs, &[out]);
                Ok(out)
            }
            _ => b.op(
                Op::Softmax(SoftmaxAttrs {
                    beta: 1.0 + d.below(4) as f32,
                }),
                &[v],
            ),
        };
        let Ok(out) = out else { continue };
        let node = b.graph().subgraphs[0].nodes.len() - 1;
        if d.chance(2) {
            // Builder nodes have no version; some get one as if imported.
            b.graph_mut().subgraphs[0].nodes[node].version = Some(1 + d.below(3) as i32);
        }
        live.push(out);
    }
    let last = *live.last().unwrap_or(&x);
    b.output(last);
    if d.chance(2) {
        // A second subgraph run once at start-up.
        let main = b.current();
        let init = b.subgraph("init");
        let y = b.input("y", DType::Int8, [2]);
        let r = b.op(Op::Relu, &[y]).unwrap();
        b.output(r);
        b.select(main);
        b.node(
            Op::CallOnce(CallOnceAttrs {
                init_subgraph_index: init as i32,
            }),
            &[],
            &[],
        );
    }
    b.signature(d.name("sig"), 0, &[("x", x)], &[("y", last)]);
    if d.chance(2) {
        b.metadata("min_runtime_version", d.bytes(16));
    }
    let mut g = b.finish_unchecked();
    if d.chance(3) {
        g.metadata_buffers.push(Cow::Owned(d.bytes(8)));
    }
    if d.chance(4) {
        // A dense-encoded "sparse" constant (the loader checks the encoding's consistency).
        let sg = &mut g.subgraphs[0];
        if let Some(v) = sg.values.iter_mut().find(|v| v.data.is_some()) {
            v.sparsity = Some(Sparsity {
                traversal_order: (0..v.shape.rank() as i32).collect(),
                block_map: Vec::new(),
                dim_metadata: v
                    .shape
                    .dims
                    .iter()
                    .map(|&n| DimMetadata {
                        format: DimFormat::Dense,
                        dense_size: n,
                        array_segments: None,
                        array_indices: None,
                    })
                    .collect(),
            });
        }
    }
    g
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_graphs_survive_export_and_import(
        words in proptest::collection::vec(any::<u32>(), 8..64),
        offsets in any::<bool>(),
    ) {
        let mut graph = random_graph(words);
        prop_assert_eq!(graph.verify(), Ok(()), "{}", graph.dump());
        let options = ExportOptions { offset_threshold: if offsets { 0 } else { u64::MAX } };
        let bytes = export_with(&graph, &options).unwrap();
        let model = tflrs_schema::Model::from_bytes(&bytes).unwrap();
        let again = import(&model).unwrap();
        graph.resolve_versions();
        prop_assert_eq!(again.dump(), graph.dump());
        prop_assert!(again == graph);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `compact` drops exactly the values nothing refers to, renumbers every reference, and
    /// leaves a graph that verifies and survives export.
    #[test]
    fn compact_renumbers_every_reference(words in proptest::collection::vec(any::<u32>(), 8..64)) {
        let mut graph = random_graph(words);
        // A value nothing refers to, at the front, so that every id moves.
        graph.subgraphs[0].values.insert(0, crate::Value::new("orphan", DType::Int8, [1]));
        for (s, _, v) in graph.value_refs_mut() {
            if s == 0 {
                v.0 += 1;
            }
        }
        for value in &mut graph.subgraphs[0].values {
            if let Some(q) = value.quant.as_mut()
                && let QuantDetails::Blockwise { scales, zero_points, .. }
                | QuantDetails::MultiAxis { scales, zero_points, .. } = &mut q.details
            {
                *scales += 1;
                *zero_points += 1;
            }
        }
        let before = graph.clone();
        let remaps = graph.compact();
        prop_assert_eq!(graph.verify(), Ok(()), "{}", graph.dump());
        prop_assert_eq!(remaps[0].get(crate::ValueId(0)), None);
        let mapped: Vec<_> = before
            .value_refs()
            .map(|(s, site, v)| (s, site, remaps[s].get(v)))
            .collect();
        let after: Vec<_> = graph.value_refs().map(|(s, site, v)| (s, site, Some(v))).collect();
        prop_assert_eq!(mapped, after);
        for (s, sg) in before.subgraphs.iter().enumerate() {
            for (i, old) in sg.values.iter().enumerate() {
                match remaps[s].get(crate::ValueId(i as u32)) {
                    Some(n) => {
                        let new = &graph.subgraphs[s].values[n.index()];
                        prop_assert_eq!(
                            (&new.name, new.dtype, &new.shape, &new.data),
                            (&old.name, old.dtype, &old.shape, &old.data)
                        );
                    }
                    None => prop_assert!(
                        !before.value_refs().any(|(b, _, v)| b == s && v.index() == i),
                        "value {} of subgraph {} was referenced", i, s
                    ),
                }
            }
        }
        prop_assert!(graph.compact().iter().all(|r| r.removed() == 0));
        let bytes = crate::export(&graph).unwrap();
        let again = import(&tflrs_schema::Model::from_bytes(&bytes).unwrap()).unwrap();
        graph.resolve_versions();
        prop_assert!(again == graph);
    }
}

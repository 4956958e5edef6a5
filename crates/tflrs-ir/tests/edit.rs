//! Editing the IR: the reference walker, use lists, typed constants, replacing uses, inserting
//! and removing nodes, dropping values with renumbering, patches, and verify after edits.

use std::borrow::Cow;
use tflrs_ir::*;

/// `x[1,4] + c[4] -> a; relu(a) -> r; tanh(a) -> t (unused)`, output `r`, signature x -> r.
fn base() -> (Graph<'static>, [ValueId; 5]) {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 4]);
    let c = b.constant_f32("c", [4], &[1.0, 2.0, 3.0, 4.0]);
    let a = b.op(Op::Add(AddAttrs::default()), &[x, c]).unwrap();
    let r = b.op(Op::Relu, &[a]).unwrap();
    let t = b.op(Op::Tanh, &[a]).unwrap();
    b.output(r);
    b.signature("serving_default", 0, &[("x", x)], &[("y", r)]);
    (b.finish().unwrap(), [x, c, a, r, t])
}

#[test]
fn value_refs_visit_every_reference_once() {
    let (mut g, [x, c, a, r, t]) = base();
    g.subgraphs[0].nodes[0].intermediates.push(t);
    let refs: Vec<_> = g.value_refs().collect();
    let expected = vec![
        (0, RefSite::SubgraphInput(0), x),
        (0, RefSite::SubgraphOutput(0), r),
        (0, RefSite::NodeInput { node: 0, index: 0 }, x),
        (0, RefSite::NodeInput { node: 0, index: 1 }, c),
        (0, RefSite::NodeOutput { node: 0, index: 0 }, a),
        (0, RefSite::Intermediate { node: 0, index: 0 }, t),
        (0, RefSite::NodeInput { node: 1, index: 0 }, a),
        (0, RefSite::NodeOutput { node: 1, index: 0 }, r),
        (0, RefSite::NodeInput { node: 2, index: 0 }, a),
        (0, RefSite::NodeOutput { node: 2, index: 0 }, t),
        (
            0,
            RefSite::SignatureInput {
                signature: 0,
                index: 0,
            },
            x,
        ),
        (
            0,
            RefSite::SignatureOutput {
                signature: 0,
                index: 0,
            },
            r,
        ),
    ];
    assert_eq!(refs, expected);
    // The mutable walker visits the same sites in the same order.
    let sites: Vec<_> = g
        .value_refs_mut()
        .map(|(s, site, v)| (s, site, *v))
        .collect();
    assert_eq!(sites, expected);
    // Omitted inputs are not references.
    g.subgraphs[0].nodes[1].inputs.push(None);
    assert_eq!(g.subgraphs[0].value_refs().count(), 10);
}

#[test]
fn value_refs_mut_rewrites_every_site() {
    let (mut g, _) = base();
    for (_, _, v) in g.value_refs_mut() {
        v.0 += 10;
    }
    assert!(g.value_refs().all(|(_, _, v)| v.0 >= 10));
    assert_eq!(g.signatures[0].outputs[0].value, ValueId(13));
    assert_eq!(
        g.subgraphs[0].nodes[0].inputs,
        [Some(ValueId(10)), Some(ValueId(11))]
    );
}

#[test]
fn use_map_lists_readers_and_producers() {
    let (g, [x, c, a, r, t]) = base();
    let uses = UseMap::new(&g.subgraphs[0]);
    assert_eq!(uses.consumers(a).collect::<Vec<_>>(), [(1, 0), (2, 0)]);
    assert_eq!(uses.consumers(c).collect::<Vec<_>>(), [(0, 1)]);
    assert_eq!(uses.uses(r), [RefSite::SubgraphOutput(0)]);
    assert!(!uses.is_used(t));
    assert!(uses.is_used(x));
    assert_eq!(uses.producer(a), Some(0));
    assert_eq!(uses.producer(t), Some(2));
    assert_eq!(uses.producer(x), None);
    assert_eq!(uses.uses(ValueId(99)), []);
    let with_sig = UseMap::with_signatures(&g, 0);
    assert_eq!(
        with_sig.uses(r),
        [
            RefSite::SubgraphOutput(0),
            RefSite::SignatureOutput {
                signature: 0,
                index: 0
            }
        ]
    );
}

#[test]
fn typed_constants() {
    let mut sg = Subgraph::default();
    let v = sg.add_constant::<i16>("w", [3], &[-1, 2, 300]);
    let value = &sg.values[v.index()];
    assert_eq!(value.dtype, DType::Int16);
    assert_eq!(
        value.data.as_deref(),
        Some(&[0xff, 0xff, 2, 0, 0x2c, 1][..])
    );
    assert_eq!(value.constant_as::<i16>().unwrap().as_ref(), [-1, 2, 300]);
    // The wrong type, or no data, gives nothing.
    assert_eq!(value.constant_as::<u16>(), None);
    assert_eq!(
        Value::new("x", DType::Int16, [3]).constant_as::<i16>(),
        None
    );
    // An empty constant has no data, as in files.
    assert_eq!(Value::constant::<f32>("e", [0], &[]).data, None);

    // Misaligned data is copied; aligned data is borrowed.
    let bytes: Vec<u8> = [0u8]
        .into_iter()
        .chain([1.5f32, -2.0].iter().flat_map(|x| x.to_le_bytes()))
        .collect();
    let mut value = Value::new("f", DType::Float32, [2]);
    value.data = Some(Cow::Borrowed(&bytes[1..]));
    assert_eq!(value.constant_as::<f32>().unwrap().as_ref(), [1.5, -2.0]);
    let aligned: Vec<f32> = vec![1.5, -2.0];
    let aligned_bytes: &[u8] = bytemuck::cast_slice(&aligned);
    value.data = Some(Cow::Borrowed(aligned_bytes));
    assert!(matches!(value.constant_as::<f32>(), Some(Cow::Borrowed(_))));
    // A partial element is refused.
    value.data = Some(Cow::Borrowed(&bytes[1..8]));
    assert_eq!(value.constant_as::<f32>(), None);
}

#[test]
fn replace_all_uses_rewires_readers_and_resets_versions() {
    let (mut g, [x, _, a, r, _]) = base();
    for node in &mut g.subgraphs[0].nodes {
        node.version = Some(1);
    }
    // Skip the ADD: readers of `a` read `x` instead (same type and shape).
    assert_eq!(g.replace_all_uses(0, a, x), Ok(2));
    let sg = &g.subgraphs[0];
    assert_eq!(sg.nodes[1].inputs, [Some(x)]);
    assert_eq!(sg.nodes[2].inputs, [Some(x)]);
    assert_eq!(sg.nodes[0].version, Some(1));
    assert_eq!(sg.nodes[1].version, None);
    g.verify().unwrap();
    // Subgraph and signature outputs follow.
    assert_eq!(g.replace_all_uses(0, r, x), Ok(2));
    assert_eq!(g.subgraphs[0].outputs, [x]);
    assert_eq!(g.signatures[0].outputs[0].value, x);
    assert_eq!(
        g.replace_all_uses(3, r, x),
        Err(EditError::NoSubgraph {
            subgraph: 3,
            len: 1
        })
    );
}

#[test]
fn insert_node_before_keeps_order_and_verify_catches_a_bad_position() {
    let (mut g, [_, _, a, _, _]) = base();
    let sg = &mut g.subgraphs[0];
    let n = sg.add_value(Value::new("n", DType::Float32, [1, 4]));
    // NEG(a) before the RELU, which now reads it.
    sg.insert_node_before(1, Node::new(Op::Neg, vec![Some(a)], vec![n]));
    sg.nodes[2].inputs[0] = Some(n);
    g.verify().unwrap();
    // The same node before the ADD reads `a` before it is produced.
    let mut bad = g.clone();
    let neg = bad.subgraphs[0].nodes.remove(1);
    bad.subgraphs[0].insert_node_before(0, neg);
    assert!(
        matches!(
            bad.verify(),
            Err(VerifyError::UseBeforeDef {
                node: 0,
                producer: 1,
                ..
            })
        ),
        "{}",
        bad.dump()
    );
}

#[test]
fn remove_nodes_then_compact_renumbers_everything() {
    let (mut g, [x, c, a, r, t]) = base();
    // A value nothing refers to, between the others.
    g.subgraphs[0]
        .values
        .insert(2, Value::new("orphan", DType::Int8, [1]));
    for (_, _, v) in g.value_refs_mut() {
        if v.0 >= 2 {
            v.0 += 1;
        }
    }
    let [a, r, t] = [a, r, t].map(|v| ValueId(v.0 + 1));
    g.subgraphs[0].nodes[0].intermediates.push(t);
    g.verify().unwrap();

    // Drop the TANH: `t` is still an intermediate of the ADD, so it stays.
    g.subgraphs[0].remove_nodes(&[2, 2]);
    let remap = g.compact_subgraph(0).unwrap();
    assert_eq!(remap.removed(), 1);
    assert_eq!(remap.get(ValueId(2)), None);
    assert_eq!(remap.get(x), Some(x));
    assert_eq!(remap.get(c), Some(c));
    assert_eq!(remap.get(a), Some(ValueId(2)));
    assert_eq!(remap.get(r), Some(ValueId(3)));
    assert_eq!(remap.get(t), Some(ValueId(4)));
    g.verify().unwrap();
    assert_eq!(g.signatures[0].outputs[0].value, ValueId(3));
    assert_eq!(g.subgraphs[0].outputs, [ValueId(3)]);
    assert_eq!(g.subgraphs[0].nodes[0].intermediates, [ValueId(4)]);
    assert_eq!(g.subgraphs[0].values[3].name, "relu_1");

    // Once the intermediate goes, `t` goes too; the whole-graph form does every subgraph.
    g.subgraphs[0].nodes[0].intermediates.clear();
    let remaps = g.compact();
    assert_eq!(remaps.len(), 1);
    assert_eq!(remaps[0].removed(), 1);
    assert_eq!(g.subgraphs[0].values.len(), 4);
    g.verify().unwrap();

    // Still a file: export and import give the same graph (with the versions export chose).
    let bytes = g.to_tflite().unwrap();
    g.resolve_versions();
    assert_eq!(Graph::from_tflite(&bytes).unwrap(), g);
}

#[test]
fn remove_values_refuses_referenced_values() {
    let (mut g, [_, c, _, _, t]) = base();
    let e = g.remove_values(0, &[c]).unwrap_err();
    assert_eq!(
        e,
        EditError::StillReferenced {
            subgraph: 0,
            value: c,
            site: Some(RefSite::NodeInput { node: 0, index: 1 }),
        }
    );
    // Removing the TANH's output while the TANH still writes it is refused too.
    assert!(g.remove_values(0, &[t]).is_err());
    g.subgraphs[0].remove_nodes(&[2]);
    let remap = g.remove_values(0, &[t]).unwrap();
    assert_eq!(remap.get(t), None);
    assert_eq!(g.subgraphs[0].values.len(), 4);
    g.verify().unwrap();
}

#[test]
fn compact_keeps_and_renumbers_blockwise_quantization_tensors() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 4]);
    let dead = b.constant_f32("dead", [1], &[0.0]);
    let scales = b.constant_f32("scales", [2], &[0.5, 0.25]);
    let zps = b.constant_i32("zps", [2], &[0, 0]);
    let r = b.op(Op::Relu, &[x]).unwrap();
    b.output(r);
    let mut g = b.finish().unwrap();
    let q = QuantParams {
        details: QuantDetails::Blockwise {
            scales: scales.0 as i32,
            zero_points: zps.0 as i32,
            block_size: 2,
        },
        ..QuantParams::default()
    };
    g.subgraphs[0].values[x.index()].quant = Some(q);
    let remap = g.compact_subgraph(0).unwrap();
    assert_eq!(remap.get(dead), None);
    assert_eq!(remap.removed(), 1);
    let details = &g.subgraphs[0].values[0].quant.as_ref().unwrap().details;
    assert_eq!(
        *details,
        QuantDetails::Blockwise {
            scales: 1,
            zero_points: 2,
            block_size: 2
        }
    );
    assert_eq!(g.subgraphs[0].values[1].name, "scales");
    // The scales are only kept by the quantization: removing them by hand is refused.
    assert_eq!(
        g.remove_values(0, &[ValueId(1)]),
        Err(EditError::StillReferenced {
            subgraph: 0,
            value: ValueId(1),
            site: None
        })
    );
}

#[test]
fn patch_applies_in_one_step() {
    let (mut g, [x, _, a, r, t]) = base();
    // Replace the RELU with RELU6 of a new constant sum, and drop the TANH.
    let mut p = Patch::new(&g.subgraphs[0]);
    let k = p.add_constant::<f32>("k", [4], &[0.5; 4]);
    let s = p.add_value(Value::new("s", DType::Float32, [1, 4]));
    let r6 = p.add_value(Value::new("r6", DType::Float32, [1, 4]));
    p.insert_node(
        1,
        Node::new(
            Op::Add(AddAttrs::default()),
            vec![Some(a), Some(k)],
            vec![s],
        ),
    );
    p.insert_node(1, Node::new(Op::Relu6, vec![Some(s)], vec![r6]));
    p.remove_node(1);
    p.remove_node(2);
    p.replace_all_uses(r, r6);
    p.apply(&mut g, 0).unwrap();
    g.verify().unwrap();
    let sg = &g.subgraphs[0];
    let names: Vec<_> = sg.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(names, ["ADD", "ADD", "RELU6"]);
    assert_eq!(sg.outputs, [r6]);
    assert_eq!(g.signatures[0].outputs[0].value, r6);
    assert_eq!(sg.nodes[1].inputs, [Some(a), Some(k)]);
    // The dead RELU and TANH outputs go with compact.
    let remap = g.compact_subgraph(0).unwrap();
    assert_eq!((remap.get(r), remap.get(t)), (None, None));
    assert_eq!(remap.get(x), Some(x));
    g.verify().unwrap();
}

#[test]
fn patch_checks_that_it_fits() {
    let (mut g, [x, ..]) = base();
    let mut p = Patch::new(&g.subgraphs[0]);
    p.add_value(Value::new("v", DType::Float32, [1]));
    g.subgraphs[0].add_value(Value::new("w", DType::Float32, [1]));
    assert_eq!(
        p.apply(&mut g, 0),
        Err(EditError::StalePatch {
            subgraph: 0,
            expected: 5,
            actual: 6
        })
    );
    let mut p = Patch::new(&g.subgraphs[0]);
    p.insert_node(9, Node::new(Op::Relu, vec![Some(x)], vec![]));
    assert_eq!(
        p.apply(&mut g, 0),
        Err(EditError::NoNode {
            subgraph: 0,
            node: 9,
            len: 3
        })
    );
    assert!(matches!(
        Patch::new(&g.subgraphs[0]).apply(&mut g, 1),
        Err(EditError::NoSubgraph { .. })
    ));
}

#[test]
fn verify_rejects_zero_points_outside_the_type() {
    let (mut g, [x, ..]) = base();
    let v = &mut g.subgraphs[0].values[x.index()];
    v.dtype = DType::Int8;
    v.quant = Some(QuantParams::per_tensor(0.5, 128));
    let mut bad = g.clone();
    // The input's type changed, so the ADD no longer fits; the value check comes first.
    assert_eq!(
        bad.verify(),
        Err(VerifyError::ZeroPointOutOfRange {
            subgraph: 0,
            value: 0,
            name: "x".into(),
            dtype: DType::Int8,
            zero_point: 128
        })
    );
    assert_eq!(
        bad.verify().unwrap_err().to_string(),
        "subgraph 0, value %0 (x): zero point 128 is outside the range of int8"
    );
    for (dtype, zps) in [
        (DType::UInt8, vec![0, 255, -1]),
        (DType::Int16, vec![32767, 32768]),
        (DType::Int4, vec![-8, 7, -9]),
    ] {
        let v = &mut bad.subgraphs[0].values[x.index()];
        v.dtype = dtype;
        v.quant = Some(QuantParams::per_axis(1, vec![1.0; zps.len()], zps.clone()));
        v.shape = Shape::from([1, zps.len() as i32]);
        assert!(
            matches!(bad.verify(), Err(VerifyError::ZeroPointOutOfRange { zero_point, .. }) if zero_point == *zps.last().unwrap()),
            "{dtype}: {:?}",
            bad.verify()
        );
    }
    // In range, the value check passes (and the type mismatch is what remains).
    g.subgraphs[0].values[x.index()].quant = Some(QuantParams::per_tensor(0.5, 127));
    assert!(!matches!(
        g.verify(),
        Err(VerifyError::ZeroPointOutOfRange { .. })
    ));
    // Types without a range (float32 with quantization parameters) are not checked.
    g.subgraphs[0].values[x.index()].dtype = DType::Float32;
    g.subgraphs[0].values[x.index()].quant = Some(QuantParams::per_tensor(0.5, 1 << 40));
    g.verify().unwrap();
}

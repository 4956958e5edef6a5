//! `Graph::verify` accepts well-formed graphs and rejects each class of broken graph with its
//! typed error.

use tflrs_ir::*;

/// `x[1,4] + c[4] -> relu -> out`, with nodes 0 (ADD) and 1 (RELU).
fn base() -> (Graph<'static>, [ValueId; 4]) {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 4]);
    let c = b.constant_f32("c", [4], &[1.0, 2.0, 3.0, 4.0]);
    let a = b.op(Op::Add(AddAttrs::default()), &[x, c]).unwrap();
    let r = b.op(Op::Relu, &[a]).unwrap();
    b.output(r);
    b.signature("serving_default", 0, &[("x", x)], &[("y", r)]);
    (b.finish().unwrap(), [x, c, a, r])
}

fn sg<'g>(g: &'g mut Graph<'static>) -> &'g mut Subgraph<'static> {
    &mut g.subgraphs[0]
}

#[test]
fn base_graph_verifies() {
    let (g, _) = base();
    g.verify().unwrap();
    assert!(
        g.dump().contains("node 1 RELU v? (%2) -> (%3)"),
        "{}",
        g.dump()
    );
}

#[test]
fn dangling_value() {
    let (mut g, _) = base();
    sg(&mut g).nodes[1].inputs[0] = Some(ValueId(99));
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::DanglingValue {
                subgraph: 0,
                used_as: ValueUse::NodeInput { node: 1, index: 0 },
                value: 99,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "subgraph 0: input 0 of node 1 refers to value %99, but there are only 4 values"
    );
}

#[test]
fn dangling_signature_value() {
    let (mut g, _) = base();
    g.signatures[0].outputs[0].value = ValueId(7);
    assert!(matches!(
        g.verify().unwrap_err(),
        VerifyError::DanglingValue {
            used_as: ValueUse::Signature { .. },
            ..
        }
    ));
}

#[test]
fn undefined_value() {
    let (mut g, [..]) = base();
    let s = sg(&mut g);
    s.values.push(Value::new("ghost", DType::Float32, [4]));
    s.nodes[0].inputs[1] = Some(ValueId(4));
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Undefined {
                subgraph: 0,
                value: 4,
                used_as: ValueUse::NodeInput { node: 0, index: 1 },
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn undefined_subgraph_output() {
    let (mut g, _) = base();
    let s = sg(&mut g);
    s.values.push(Value::new("ghost", DType::Float32, [4]));
    s.outputs.push(ValueId(4));
    assert!(matches!(
        g.verify().unwrap_err(),
        VerifyError::Undefined {
            used_as: ValueUse::SubgraphOutput,
            ..
        }
    ));
}

#[test]
fn use_before_definition() {
    let (mut g, _) = base();
    sg(&mut g).nodes.swap(0, 1);
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::UseBeforeDef {
                subgraph: 0,
                node: 0,
                value: 2,
                producer: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("node 0 (RELU)"), "{e}");
}

#[test]
fn cycle() {
    let (mut g, [_, _, _, r]) = base();
    // ADD now reads RELU's output, which reads ADD's output.
    sg(&mut g).nodes[0].inputs[1] = Some(r);
    let e = g.verify().unwrap_err();
    assert!(matches!(e, VerifyError::Cycle { subgraph: 0, .. }), "{e}");
}

#[test]
fn redefined_value() {
    let (mut g, [x, ..]) = base();
    sg(&mut g).nodes[1].outputs[0] = x;
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Redefined {
                subgraph: 0,
                node: 1,
                value: 0,
                ..
            }
        ),
        "{e}"
    );

    let (mut g, [_, _, a, _]) = base();
    sg(&mut g).nodes[1].outputs[0] = a;
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Redefined {
                node: 1,
                value: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_arity() {
    let (mut g, [_, _, a, _]) = base();
    sg(&mut g).nodes[1].inputs.push(Some(a));
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Arity {
                node: 1,
                what: "inputs",
                actual: 2,
                ..
            }
        ),
        "{e}"
    );
    let (mut g, [_, _, a, _]) = base();
    sg(&mut g).nodes[1].outputs.push(a);
    assert!(matches!(
        g.verify().unwrap_err(),
        VerifyError::Arity {
            what: "outputs",
            ..
        } | VerifyError::Redefined { .. }
    ));
}

#[test]
fn dtype_mismatch() {
    let (mut g, [_, _, _, r]) = base();
    sg(&mut g).values[r.index()].dtype = DType::Int8;
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::DTypeMismatch {
                node: 1,
                value: 3,
                expected: DType::Float32,
                actual: DType::Int8,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn shape_mismatch() {
    let (mut g, [_, _, _, r]) = base();
    sg(&mut g).values[r.index()].shape = Shape::new([1, 5]);
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::ShapeMismatch {
                node: 1,
                value: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("has shape [1, 5], the operator gives [1, 4]"),
        "{e}"
    );
}

#[test]
fn dynamic_dimensions_are_accepted() {
    let (mut g, [x, _, a, r]) = base();
    let s = sg(&mut g);
    for v in [x, a, r] {
        s.values[v.index()].shape = Shape::with_signature([1, 4], [-1, 4]);
    }
    g.verify().unwrap();
}

#[test]
fn inconsistent_node() {
    let (mut g, [_, c, _, _]) = base();
    let s = sg(&mut g);
    s.values[c.index()].shape = Shape::new([3]);
    let e = g.verify().unwrap_err();
    assert!(
        matches!(e, VerifyError::Inconsistent { node: 0, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("do not broadcast"), "{e}");
}

#[test]
fn bad_value() {
    let (mut g, [_, c, _, _]) = base();
    sg(&mut g).values[c.index()].data = Some(vec![0u8; 8].into());
    let e = g.verify().unwrap_err();
    assert!(matches!(e, VerifyError::BadValue { value: 1, .. }), "{e}");

    let (mut g, [x, ..]) = base();
    sg(&mut g).values[x.index()].shape = Shape::with_signature([1, 4], [-1, 4, 1]);
    assert!(matches!(
        g.verify().unwrap_err(),
        VerifyError::BadValue { value: 0, .. }
    ));

    let (mut g, [_, c, _, _]) = base();
    sg(&mut g).values[c.index()].quant = Some(QuantParams::per_axis(0, vec![1.0; 3], vec![0; 3]));
    assert!(matches!(
        g.verify().unwrap_err(),
        VerifyError::BadValue { value: 1, .. }
    ));
}

#[test]
fn dangling_subgraph_and_recursion() {
    let (mut g, _) = base();
    sg(&mut g).nodes.push(Node::new(
        Op::CallOnce(CallOnceAttrs {
            init_subgraph_index: 3,
        }),
        vec![],
        vec![],
    ));
    let e = g.verify().unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::DanglingSubgraph {
                index: 3,
                len: 1,
                ..
            }
        ),
        "{e}"
    );

    sg(&mut g).nodes[2].op = Op::CallOnce(CallOnceAttrs {
        init_subgraph_index: 0,
    });
    assert!(matches!(
        g.verify().unwrap_err(),
        VerifyError::Recursion { subgraph: 0 }
    ));

    let (mut g, _) = base();
    g.signatures[0].subgraph = 2;
    assert!(matches!(
        g.verify().unwrap_err(),
        VerifyError::DanglingSubgraph { index: 2, .. }
    ));
}

#[test]
fn empty_graph() {
    assert_eq!(Graph::default().verify(), Err(VerifyError::Empty));
}

#[test]
fn shape_inference_fills_shapes_after_a_resize() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 8, 8, 3]);
    let w = b.constant_f32("w", [4, 3, 3, 3], &[0.0; 108]);
    let conv = b
        .op(
            Op::Conv2d(Conv2dAttrs {
                padding: Padding::Valid,
                stride_w: 2,
                stride_h: 2,
                ..Conv2dAttrs::default()
            }),
            &[x, w],
        )
        .unwrap();
    let axes = b.constant_i32("axes", [2], &[1, 2]);
    let mean = b
        .op(Op::Mean(ReducerAttrs { keep_dims: false }), &[conv, axes])
        .unwrap();
    b.output(mean);
    let mut g = b.finish().unwrap();
    assert_eq!(g.subgraphs[0].values[conv.index()].shape.dims, [1, 3, 3, 4]);
    assert_eq!(g.subgraphs[0].values[mean.index()].shape.dims, [1, 4]);
    // Resize the input to a dynamic batch of 2 and 16x16: shapes follow.
    g.subgraphs[0].values[x.index()].shape = Shape::with_signature([2, 16, 16, 3], [-1, 16, 16, 3]);
    g.infer_shapes().unwrap();
    let conv_shape = &g.subgraphs[0].values[conv.index()].shape;
    assert_eq!(conv_shape.dims, [2, 7, 7, 4]);
    assert_eq!(conv_shape.signature.as_deref(), Some(&[-1, 7, 7, 4][..]));
    g.verify().unwrap();
}

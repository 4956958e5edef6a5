//! The custom backend is used for the node it accepts, counted, and gives the right answer;
//! nodes it declines fall back to the scalar backend.

use tflrs_example_counting_backend::CountingBackend;
use tflrs_ir::{AddAttrs, DType, Graph, Node, Op, SubAttrs, Subgraph, Value, ValueId};
use tflrs_runtime::{Interpreter, Model};

/// `out = relu(x + y) - x`, float32, `x` [2, 3] and `y` [3] (broadcast over the rows); the
/// counting backend takes the ADD and declines the SUB.
fn graph() -> Graph<'static> {
    let v = |name: &str, shape: Vec<i32>| Value::new(name, DType::Float32, shape);
    let add = Node::new(
        Op::Add(AddAttrs {
            fused_activation_function: tflrs_ir::Activation::Relu,
            ..AddAttrs::default()
        }),
        vec![Some(ValueId(0)), Some(ValueId(1))],
        vec![ValueId(2)],
    );
    let sub = Node::new(
        Op::Sub(SubAttrs::default()),
        vec![Some(ValueId(2)), Some(ValueId(0))],
        vec![ValueId(3)],
    );
    Graph {
        subgraphs: vec![Subgraph {
            name: "main".into(),
            values: vec![
                v("x", vec![2, 3]),
                v("y", vec![3]),
                v("sum", vec![2, 3]),
                v("out", vec![2, 3]),
            ],
            nodes: vec![add, sub],
            inputs: vec![ValueId(0), ValueId(1)],
            outputs: vec![ValueId(3)],
            ..Subgraph::default()
        }],
        ..Graph::default()
    }
}

#[test]
fn custom_backend_runs_its_node_and_counts() {
    let model = Model::from_graph(graph());
    let backend = CountingBackend::new();
    let mut interp = Interpreter::builder(&model)
        .backend(backend.clone())
        .build()
        .expect("plans");
    let report = interp.plan_report();
    assert_eq!(report[0].kernel, "add_f32__counting");
    assert_eq!(report[0].backend, "counting");
    // The SUB falls back to the next backend: the default SIMD one, or the scalar one.
    assert_ne!(report[1].backend, "counting", "the SUB falls back");
    assert_ne!(report[1].kernel, "add_f32__counting");

    interp
        .input_mut::<f32>(0)
        .unwrap()
        .copy_from_slice(&[1., -2., 3., -4., 5., -6.]);
    interp
        .input_mut::<f32>(1)
        .unwrap()
        .copy_from_slice(&[0.5; 3]);
    for n in 1..=3 {
        interp.invoke().unwrap();
        assert_eq!(backend.calls(), n);
    }
    // relu(x + y) - x
    assert_eq!(
        interp.output::<f32>(0).unwrap(),
        &[0.5, 2., 0.5, 4., 0.5, 6.]
    );
}

/// The backend's preparation is the scalar backend's: a node whose shapes do not broadcast is
/// refused with a typed error at `build()`, not accepted and run out of bounds.
#[test]
fn a_node_that_does_not_broadcast_is_refused_while_planning() {
    let mut graph = graph();
    // y becomes [4]: [2, 3] and [4] do not broadcast.
    graph.subgraphs[0].values[1].shape = vec![4].into();
    let model = Model::from_graph(graph);
    let err = Interpreter::builder(&model)
        .backend(CountingBackend::new())
        .build()
        .expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("node 0") && msg.contains("ADD"), "{msg}");
}

//! The custom backend is used for the node it accepts, counted, and gives the right answer;
//! nodes it declines fall back to the scalar backend.

use tflrs_example_counting_backend::CountingBackend;
use tflrs_ir::{AddAttrs, DType, Graph, Node, Op, Subgraph, Value, ValueId};
use tflrs_runtime::{Interpreter, Model};

/// `out = (x + y) + x`, all [2, 3] float32; the second ADD has a fused RELU, which the
/// counting backend declines.
fn graph() -> Graph<'static> {
    let v = |name: &str| Value::new(name, DType::Float32, vec![2, 3]);
    let add = |act, a, b, out| {
        Node::new(
            Op::Add(AddAttrs {
                fused_activation_function: act,
                ..AddAttrs::default()
            }),
            vec![Some(ValueId(a)), Some(ValueId(b))],
            vec![ValueId(out)],
        )
    };
    Graph {
        subgraphs: vec![Subgraph {
            name: "main".into(),
            values: vec![v("x"), v("y"), v("sum"), v("out")],
            nodes: vec![
                add(tflrs_ir::Activation::None, 0, 1, 2),
                add(tflrs_ir::Activation::Relu, 2, 0, 3),
            ],
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
    assert_eq!(report[1].backend, "scalar", "the fused-RELU ADD falls back");

    interp
        .input_mut::<f32>(0)
        .unwrap()
        .copy_from_slice(&[1., -2., 3., -4., 5., -6.]);
    interp
        .input_mut::<f32>(1)
        .unwrap()
        .copy_from_slice(&[0.5; 6]);
    for n in 1..=3 {
        interp.invoke().unwrap();
        assert_eq!(backend.calls(), n);
    }
    // relu((x + y) + x)
    assert_eq!(
        interp.output::<f32>(0).unwrap(),
        &[2.5, 0., 6.5, 0., 10.5, 0.]
    );
}

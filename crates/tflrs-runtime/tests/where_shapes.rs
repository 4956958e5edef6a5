//! WHERE, whose output has one row per true element: on a model input the interpreter counts
//! the true elements when planning and plans again when the values change; on a value computed
//! inside the model it refuses the model at build time, naming the node.

use tflrs_ir::{DType, GraphBuilder, Op, Shape, Value};
use tflrs_runtime::{Interpreter, Model};

#[test]
fn where_on_a_model_input_follows_its_values() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [2, 3]);
    let y = b.value(Value::new(
        "y",
        DType::Int64,
        Shape::with_signature([1, 2], [-1, 2]),
    ));
    b.node(Op::Where, &[Some(x)], &[y]);
    b.output(y);
    let model = Model::from_graph(b.finish().unwrap());
    let mut interp = Interpreter::new(&model).unwrap();
    assert_eq!(interp.shape_inputs(), [0]);
    for (x, want) in [
        (
            [0.0f32, 1.5, 0.0, -2.0, -0.0, 3.0],
            vec![0i64, 1, 1, 0, 1, 2],
        ),
        ([1.0; 6], vec![0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2]),
        ([0.0; 6], vec![]),
    ] {
        interp.input_mut::<f32>(0).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        assert_eq!(interp.output_info(0).unwrap().shape, [want.len() / 2, 2]);
        assert_eq!(interp.output::<i64>(0).unwrap(), want.as_slice());
    }
}

#[test]
fn where_on_a_computed_value_is_refused_at_build() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [4]);
    let zero = b.constant_f32("zero", [1], &[0.0]);
    let c = b.op(Op::Greater, &[x, zero]).unwrap();
    let y = b.value(Value::new(
        "y",
        DType::Int64,
        Shape::with_signature([1, 1], [-1, 1]),
    ));
    b.node(Op::Where, &[Some(c)], &[y]);
    b.output(y);
    let model = Model::from_graph(b.finish().unwrap());
    let Err(err) = Interpreter::new(&model) else {
        panic!("WHERE on a computed value must be refused");
    };
    let msg = err.to_string();
    assert!(msg.contains("WHERE"), "{msg}");
    assert!(msg.contains("computed inside the model"), "{msg}");
}

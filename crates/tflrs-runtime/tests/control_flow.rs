//! Control flow (WHILE, IF, CALL_ONCE) and resource variables on graphs built in code. The
//! arithmetic inside the subgraphs is done by custom ops registered by name (tests/common), so
//! these tests exercise the runtime and the control-flow kernels alone.

mod common;

use common::*;
use tflrs_ir::{
    CallOnceAttrs, DType, Graph, GraphBuilder, IfAttrs, Op, Value, VarHandleAttrs, WhileAttrs,
};
use tflrs_runtime::{Error, Interpreter, Limits, Model};

/// main(i, x) = WHILE(i < 3) { i += 1; x = x * 0.5 + 1 }, with `cond` and `body` subgraphs.
fn while_graph(body_shape: [i32; 2]) -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let i = b.input("i", DType::Int32, Vec::<i32>::new());
    let x = b.input("x", DType::Float32, [2, 3]);
    let i_out = b.value(Value::new("i_out", DType::Int32, Vec::<i32>::new()));
    let x_out = b.value(Value::new("x_out", DType::Float32, [2, 3]));
    b.node(
        Op::While(WhileAttrs {
            cond_subgraph_index: 1,
            body_subgraph_index: 2,
        }),
        &[Some(i), Some(x)],
        &[i_out, x_out],
    );
    b.output(i_out);
    b.output(x_out);

    b.subgraph("cond");
    let ci = b.input("ci", DType::Int32, Vec::<i32>::new());
    b.input("cx", DType::Float32, [2, 3]);
    let three = b.constant_i32("three", Vec::<i32>::new(), &[3]);
    let c = custom_out(&mut b, "Less", &[ci, three], DType::Bool, vec![]);
    b.output(c);

    b.subgraph("body");
    let bi = b.input("bi", DType::Int32, Vec::<i32>::new());
    let bx = b.input("bx", DType::Float32, body_shape);
    let bi2 = custom(&mut b, "Incr", &[bi], bi);
    let bx2 = custom(&mut b, "Half", &[bx], bx);
    b.output(bi2);
    b.output(bx2);
    b.finish_unchecked()
}

#[test]
fn while_loops_until_the_condition_fails() {
    let model = Model::from_graph(while_graph([2, 3]));
    let mut interp = with_test_ops(Interpreter::builder(&model)).build().unwrap();
    let report = interp.plan_report();
    assert!(
        report
            .iter()
            .any(|e| e.op == "WHILE" && e.kernel == "while__scalar" && e.backend == "scalar")
    );
    let x: Vec<f32> = (0..6).map(|k| k as f32).collect();
    for start in [0, 2, 3, 7] {
        interp.input_mut::<i32>(0).unwrap()[0] = start;
        interp.input_mut::<f32>(1).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        let rounds = (3 - start).max(0);
        assert_eq!(interp.output::<i32>(0).unwrap(), [start.max(3)]);
        let mut want = x.clone();
        for _ in 0..rounds {
            for v in &mut want {
                *v = *v * 0.5 + 1.0;
            }
        }
        assert_eq!(
            interp.output::<f32>(1).unwrap(),
            want.as_slice(),
            "start {start}"
        );
    }
}

#[test]
fn while_loop_iterations_are_limited() {
    // The loop runs until i reaches 3, i.e. 3 - start iterations.
    let model = Model::from_graph(while_graph([2, 3]));
    let mut interp = with_test_ops(Interpreter::builder(&model))
        .limits(Limits {
            max_loop_iterations: 2,
            ..Limits::default()
        })
        .build()
        .unwrap();
    interp.input_mut::<i32>(0).unwrap()[0] = 1; // 2 iterations: within the limit
    interp.invoke().unwrap();
    interp.input_mut::<i32>(0).unwrap()[0] = 0; // 3 iterations: over it
    let err = interp.invoke().unwrap_err().to_string();
    assert!(
        err.contains("WHILE iterations exceed the limit of 2"),
        "{err}"
    );
    // A loop that never ends (start far below 3 with a tiny limit stands in for it) is an
    // error, not a hang; the interpreter stays usable.
    interp.input_mut::<i32>(0).unwrap()[0] = 2;
    interp.invoke().unwrap();
}

#[test]
fn while_whose_body_changes_shapes_is_refused_at_build() {
    let model = Model::from_graph(while_graph([3, 2]));
    let err = with_test_ops(Interpreter::builder(&model))
        .build()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Kernel {
                subgraph: 0,
                node: 0,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("WHILE") && msg.contains("static shapes"),
        "{msg}"
    );
}

/// main(c, x) = IF(c) { x * 2 } else { -x }.
fn if_graph(then: i32, otherwise: i32) -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let c = b.input("c", DType::Bool, [1]);
    let x = b.input("x", DType::Float32, [2, 3]);
    let y = value_like(&mut b, "y", x);
    b.node(
        Op::If(IfAttrs {
            then_subgraph_index: then,
            else_subgraph_index: otherwise,
        }),
        &[Some(c), Some(x)],
        &[y],
    );
    b.output(y);
    for name in ["Double", "Neg"] {
        b.subgraph(name);
        let t = b.input("t", DType::Float32, [2, 3]);
        let o = custom(&mut b, name, &[t], t);
        b.output(o);
    }
    b.finish_unchecked()
}

#[test]
fn if_runs_the_branch_the_condition_picks() {
    let model = Model::from_graph(if_graph(1, 2));
    let mut interp = with_test_ops(Interpreter::builder(&model)).build().unwrap();
    let x = [1.0f32, -2.0, 3.0, -4.0, 5.0, -6.0];
    for cond in [true, false, true] {
        interp.input_bytes_mut(0).unwrap()[0] = u8::from(cond);
        interp.input_mut::<f32>(1).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        let want: Vec<f32> = x.iter().map(|v| if cond { v * 2.0 } else { -v }).collect();
        assert_eq!(
            interp.output::<f32>(0).unwrap(),
            want.as_slice(),
            "cond {cond}"
        );
    }
}

#[test]
fn if_naming_a_missing_subgraph_is_refused_at_build() {
    let model = Model::from_graph(if_graph(1, 9));
    let msg = with_test_ops(Interpreter::builder(&model))
        .build()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("node 0 (IF)") && msg.contains("9"), "{msg}");
}

/// main(c, x) = IF(c) { IF(c) { x * 2 } } with the inner IF in subgraph 1 and `Double` in 2:
/// calls nest two deep.
fn nested_if_graph() -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let c = b.input("c", DType::Bool, [1]);
    let x = b.input("x", DType::Float32, [2]);
    let y = value_like(&mut b, "y", x);
    let attrs = |s| {
        Op::If(IfAttrs {
            then_subgraph_index: s,
            else_subgraph_index: s,
        })
    };
    b.node(attrs(1), &[Some(c), Some(c), Some(x)], &[y]);
    b.output(y);
    b.subgraph("outer");
    let c1 = b.input("c1", DType::Bool, [1]);
    let x1 = b.input("x1", DType::Float32, [2]);
    let y1 = value_like(&mut b, "y1", x1);
    b.node(attrs(2), &[Some(c1), Some(x1)], &[y1]);
    b.output(y1);
    b.subgraph("inner");
    let x2 = b.input("x2", DType::Float32, [2]);
    let y2 = custom(&mut b, "Double", &[x2], x2);
    b.output(y2);
    b.finish_unchecked()
}

#[test]
fn call_depth_limit_is_enforced() {
    let model = Model::from_graph(nested_if_graph());
    let limits = |max_call_depth| Limits {
        max_call_depth,
        ..Limits::default()
    };
    let mut ok = with_test_ops(Interpreter::builder(&model))
        .limits(limits(2))
        .build()
        .unwrap();
    ok.input_bytes_mut(0).unwrap()[0] = 1;
    ok.input_mut::<f32>(1)
        .unwrap()
        .copy_from_slice(&[1.5, -3.0]);
    ok.invoke().unwrap();
    assert_eq!(ok.output::<f32>(0).unwrap(), [3.0, -6.0]);

    let mut shallow = with_test_ops(Interpreter::builder(&model))
        .limits(limits(1))
        .build()
        .unwrap();
    let msg = shallow.invoke().unwrap_err().to_string();
    assert!(msg.contains("nest deeper than 1"), "{msg}");
}

/// The stateful accumulator LiteRT makes of a `tf.Variable`: `CALL_ONCE` runs subgraph 1,
/// which assigns the initial value; main reads it, computes `acc * 0.5 + x`, assigns it and
/// returns it.
fn accumulator_graph() -> Graph<'static> {
    let handle = || {
        Op::VarHandle(VarHandleAttrs {
            container: None,
            shared_name: Some("acc".into()),
        })
    };
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 4]);
    b.node(
        Op::CallOnce(CallOnceAttrs {
            init_subgraph_index: 1,
        }),
        &[],
        &[],
    );
    let h = b.value(Value::new("h", DType::Resource, Vec::<i32>::new()));
    b.node(handle(), &[], &[h]);
    let v = value_like(&mut b, "v", x);
    b.node(Op::ReadVariable, &[Some(h)], &[v]);
    let half = custom(&mut b, "Half", &[v], v);
    let y = custom(&mut b, "Sum", &[half, x], x);
    b.node(Op::AssignVariable, &[Some(h), Some(y)], &[]);
    b.output(y);

    b.subgraph("init");
    let h2 = b.value(Value::new("h2", DType::Resource, Vec::<i32>::new()));
    b.node(handle(), &[], &[h2]);
    let init = b.constant_f32("init", [1, 4], &[0.5, -1.0, 2.0, 0.25]);
    b.node(Op::AssignVariable, &[Some(h2), Some(init)], &[]);
    b.finish_unchecked()
}

/// `y = x0 + x1 - 1` on float32 (with `Half`'s `+ 1`, `Sum(Half(v), x)` is `v * 0.5 + x`).
struct SumMinusOne;

impl tflrs_kernels::Kernel for SumMinusOne {
    fn name(&self) -> &str {
        "sum_minus_one_f32__test"
    }

    fn run(
        &mut self,
        io: &mut tflrs_kernels::KernelIo<'_>,
    ) -> Result<(), tflrs_kernels::KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let a = inputs.get(0)?.as_slice::<f32>()?;
        let b = inputs.get(1)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        for ((y, a), b) in out.as_slice_mut::<f32>()?.iter_mut().zip(a).zip(b) {
            *y = a + b - 1.0;
        }
        Ok(())
    }
}

#[test]
fn variables_keep_their_value_across_invokes_and_call_once_runs_once() {
    let model = Model::from_graph(accumulator_graph());
    let mut interp = with_test_ops(Interpreter::builder(&model))
        .custom_op("Sum", factory(|| SumMinusOne))
        .build()
        .unwrap();
    let x = [1.0f32, 2.0, -4.0, 0.5];
    let mut acc = [0.5f32, -1.0, 2.0, 0.25];
    for round in 0..4 {
        interp.input_mut::<f32>(0).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        for (a, x) in acc.iter_mut().zip(x) {
            *a = *a * 0.5 + x;
        }
        assert_eq!(interp.output::<f32>(0).unwrap(), acc, "invoke {round}");
    }
    // A second interpreter of the same model starts from the initial value.
    let mut fresh = with_test_ops(Interpreter::builder(&model))
        .custom_op("Sum", factory(|| SumMinusOne))
        .build()
        .unwrap();
    fresh.input_mut::<f32>(0).unwrap().copy_from_slice(&x);
    fresh.invoke().unwrap();
    assert_eq!(fresh.output::<f32>(0).unwrap(), [1.25, 1.5, -3.0, 0.625]);
}

#[test]
fn reading_a_variable_before_assigning_it_fails_with_the_node() {
    // The accumulator without its CALL_ONCE: the first READ_VARIABLE finds no value.
    let mut graph = accumulator_graph();
    graph.subgraphs[0].nodes.remove(0);
    let model = Model::from_graph(graph);
    let mut interp = with_test_ops(Interpreter::builder(&model))
        .custom_op("Sum", factory(|| SumMinusOne))
        .build()
        .unwrap();
    let err = interp.invoke().unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Kernel { node: 1, .. }) && msg.contains("READ_VARIABLE"),
        "{msg}"
    );
    assert!(msg.contains("before it is assigned"), "{msg}");
}

#[test]
fn variable_with_two_shapes_is_refused_at_build() {
    let mut graph = accumulator_graph();
    // The init subgraph assigns a [4] value to the [1, 4] variable.
    let init = &mut graph.subgraphs[1];
    let c = init.values.iter().position(|v| v.name == "init").unwrap();
    init.values[c].shape = [4].into();
    let model = Model::from_graph(graph);
    let msg = with_test_ops(Interpreter::builder(&model))
        .custom_op("Sum", factory(|| SumMinusOne))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("ASSIGN_VARIABLE") && msg.contains("'acc'"),
        "{msg}"
    );
}

/// main(x) = WHILE(i < 3) { acc = Half(acc) } with the variable's handle made in main and
/// carried into the loop body, which reads and assigns it; returns the variable.
#[test]
fn a_variable_handle_carried_into_a_loop_names_the_same_variable() {
    let handle = || {
        Op::VarHandle(VarHandleAttrs {
            container: None,
            shared_name: Some("v".into()),
        })
    };
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [2]);
    let h = b.value(Value::new("h", DType::Resource, Vec::<i32>::new()));
    b.node(handle(), &[], &[h]);
    b.node(Op::AssignVariable, &[Some(h), Some(x)], &[]);
    let zero = b.constant_i32("zero", Vec::<i32>::new(), &[0]);
    let i_out = b.value(Value::new("i_out", DType::Int32, Vec::<i32>::new()));
    let h_out = b.value(Value::new("h_out", DType::Resource, Vec::<i32>::new()));
    b.node(
        Op::While(WhileAttrs {
            cond_subgraph_index: 1,
            body_subgraph_index: 2,
        }),
        &[Some(zero), Some(h)],
        &[i_out, h_out],
    );
    let v = value_like(&mut b, "v", x);
    b.node(Op::ReadVariable, &[Some(h_out)], &[v]);
    b.output(v);

    b.subgraph("cond");
    let ci = b.input("ci", DType::Int32, Vec::<i32>::new());
    b.input("ch", DType::Resource, Vec::<i32>::new());
    let three = b.constant_i32("three", Vec::<i32>::new(), &[3]);
    let c = custom_out(&mut b, "Less", &[ci, three], DType::Bool, vec![]);
    b.output(c);

    b.subgraph("body");
    let bi = b.input("bi", DType::Int32, Vec::<i32>::new());
    let bh = b.input("bh", DType::Resource, Vec::<i32>::new());
    let bi2 = custom(&mut b, "Incr", &[bi], bi);
    let bv = b.value(Value::new("bv", DType::Float32, [2]));
    b.node(Op::ReadVariable, &[Some(bh)], &[bv]);
    let bv2 = custom(&mut b, "Half", &[bv], bv);
    b.node(Op::AssignVariable, &[Some(bh), Some(bv2)], &[]);
    b.output(bi2);
    b.output(bh);

    let model = Model::from_graph(b.finish_unchecked());
    let mut interp = with_test_ops(Interpreter::builder(&model)).build().unwrap();
    interp
        .input_mut::<f32>(0)
        .unwrap()
        .copy_from_slice(&[0.0, 8.0]);
    interp.invoke().unwrap();
    // 0 -> 1 -> 1.5 -> 1.75 and 8 -> 5 -> 3.5 -> 2.75
    assert_eq!(interp.output::<f32>(0).unwrap(), [1.75, 2.75]);
}

/// Re-planning after `resize_input` keeps the variables' values (as LiteRT keeps resources
/// across `ResizeInputTensor`) and does not run `CALL_ONCE` again.
#[test]
fn resizing_an_input_keeps_variables() {
    let mut graph = accumulator_graph();
    // A second, dynamic-batch input through a builtin RELU, unrelated to the variable.
    let main = &mut graph.subgraphs[0];
    let z = main.values.len() as u32;
    let shape = tflrs_ir::Shape::with_signature([1, 2], [-1, 2]);
    main.values
        .push(Value::new("z", DType::Float32, shape.clone()));
    main.values
        .push(Value::new("relu_z", DType::Float32, shape));
    main.inputs.push(tflrs_ir::ValueId(z));
    main.nodes.push(tflrs_ir::Node::new(
        Op::Relu,
        vec![Some(tflrs_ir::ValueId(z))],
        vec![tflrs_ir::ValueId(z + 1)],
    ));
    main.outputs.push(tflrs_ir::ValueId(z + 1));
    let model = Model::from_graph(graph);
    let mut interp = with_test_ops(Interpreter::builder(&model))
        .custom_op("Sum", factory(|| SumMinusOne))
        .build()
        .unwrap();
    let x = [1.0f32, 2.0, -4.0, 0.5];
    let mut acc = [0.5f32, -1.0, 2.0, 0.25];
    for round in 0..4 {
        if round == 2 {
            interp.resize_input(1, &[3, 2]).unwrap();
            assert_eq!(interp.output_info(1).unwrap().shape, [3, 2]);
        }
        interp.input_mut::<f32>(0).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        for (a, x) in acc.iter_mut().zip(x) {
            *a = *a * 0.5 + x;
        }
        assert_eq!(interp.output::<f32>(0).unwrap(), acc, "invoke {round}");
    }
}

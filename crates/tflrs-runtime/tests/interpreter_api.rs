//! The interpreter's contract beyond single ops: `Send`/`Sync`, many interpreters of one model
//! on many threads, custom ops by name, errors for unsupported ops, limits.

mod common;

use common::*;
use tflrs_ir::{DType, Graph, GraphBuilder, Op, OpaqueOp, Value};
use tflrs_runtime::{Error, Interpreter, Limits, Model};
use tflrs_testdata::Case;

// `Interpreter` moves between threads; a `Model` is shared by many.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<Interpreter<'static>>();
    sync::<Model<'static>>();
    send::<Model<'static>>();
};

fn case(name: &str) -> Case {
    Case::load(name).unwrap_or_else(|e| panic!("case {name}: {e}"))
}

/// Runs `case`'s inputs through `interp` and returns output 0's bytes.
fn run(interp: &mut Interpreter<'_>, case: &Case) -> Vec<u8> {
    for (i, input) in case.inputs.iter().enumerate() {
        interp
            .input_bytes_mut(i)
            .unwrap()
            .copy_from_slice(&input.data);
    }
    interp.invoke().unwrap();
    interp.output_bytes(0).unwrap().to_vec()
}

#[test]
fn interpreters_of_one_model_run_on_many_threads() {
    let case = case("mlp_int8");
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut first = Interpreter::new(&model).unwrap();
    let want = run(&mut first, &case);
    assert_eq!(want, case.ref_outputs[0].data, "LiteRT's reference output");
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..4 {
            // Built here, moved into the thread (`Send`); the model is shared (`Sync`).
            let mut interp = Interpreter::new(&model).unwrap();
            let (case, want) = (&case, &want);
            handles.push(s.spawn(move || {
                for _ in 0..10 {
                    assert_eq!(&run(&mut interp, case), want, "thread {t}");
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
    });
}

/// main(x) = Double(Half(x)) through custom ops, then `op` on the result.
fn custom_graph(op: Op<'static>) -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [4]);
    let h = custom(&mut b, "Half", &[x], x);
    let y = b.value(Value::new("y", DType::Float32, [4]));
    b.node(op, &[Some(h)], &[y]);
    b.output(y);
    b.finish_unchecked()
}

#[test]
fn custom_ops_registered_by_name_are_used() {
    let model = Model::from_graph(custom_graph(Op::Opaque(OpaqueOp::custom("Double", None))));
    let mut interp = with_test_ops(Interpreter::builder(&model)).build().unwrap();
    let report = interp.plan_report();
    assert_eq!(report.len(), 2);
    for (entry, kernel) in report.iter().zip(["affine_f32__test", "affine_f32__test"]) {
        assert_eq!(entry.kernel, kernel);
        assert_eq!(entry.backend, "custom");
    }
    assert_eq!(report[1].op, "Double");
    interp
        .input_mut::<f32>(0)
        .unwrap()
        .copy_from_slice(&[0.0, 1.0, -2.0, 4.0]);
    interp.invoke().unwrap();
    assert_eq!(interp.output::<f32>(0).unwrap(), [2.0, 3.0, 0.0, 6.0]);
}

#[test]
fn an_unregistered_custom_op_fails_build_naming_op_and_node() {
    let model = Model::from_graph(custom_graph(Op::Opaque(OpaqueOp::custom("NoSuchOp", None))));
    let err = with_test_ops(Interpreter::builder(&model))
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { subgraph: 0, node: 1, op } if op == "NoSuchOp"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "subgraph 0, node 1: no backend supports operator NoSuchOp"
    );
}

#[test]
fn an_unsupported_builtin_fails_build_naming_op_and_node() {
    // HASHTABLE (136) is a builtin the IR keeps opaque and no backend runs.
    let model = Model::from_graph(custom_graph(Op::Opaque(OpaqueOp::builtin(136))));
    let err = with_test_ops(Interpreter::builder(&model))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "subgraph 0, node 1: no backend supports operator HASHTABLE"
    );
}

#[test]
fn typed_views_check_the_element_type() {
    let model = Model::from_graph(custom_graph(Op::Opaque(OpaqueOp::custom("Double", None))));
    let mut interp = with_test_ops(Interpreter::builder(&model)).build().unwrap();
    let err = interp.input_mut::<i32>(0).unwrap_err();
    assert!(matches!(err, Error::DTypeMismatch { .. }), "{err:?}");
    assert!(interp.output::<f32>(0).is_ok());
    assert!(interp.input_mut::<f32>(1).is_err());
    assert_eq!(interp.input_index("x").unwrap(), 0);
    assert_eq!(interp.output_index("y").unwrap(), 0);
}

/// A graph of `n` custom nodes over an input of `shape`.
fn chain(n: usize, shape: &[i32]) -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let mut x = b.input("x", DType::Float32, shape.to_vec());
    for _ in 0..n {
        x = custom(&mut b, "Half", &[x], x);
    }
    b.output(x);
    b.finish_unchecked()
}

fn limit_error(graph: Graph<'static>, limits: Limits) -> (&'static str, u64, u64) {
    let model = Model::from_graph(graph);
    match with_test_ops(Interpreter::builder(&model))
        .limits(limits)
        .build()
        .unwrap_err()
    {
        Error::LimitExceeded { what, value, limit } => (what, value, limit),
        other => panic!("expected a limit error, got {other}"),
    }
}

#[test]
fn limits_are_enforced_at_build() {
    let small = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        l
    };
    assert_eq!(
        limit_error(chain(1, &[10, 20]), small(|l| l.max_tensor_elements = 100)),
        ("elements of one tensor", 200, 100)
    );
    assert_eq!(
        limit_error(chain(3, &[4]), small(|l| l.max_nodes = 2)),
        ("number of nodes", 3, 2)
    );
    let (what, value, limit) = limit_error(chain(2, &[64]), small(|l| l.max_arena_bytes = 300));
    assert_eq!((what, limit), ("memory for tensors", 300));
    assert!(value > 300);
    let mut two = chain(1, &[4]);
    two.subgraphs.push(two.subgraphs[0].clone());
    assert_eq!(
        limit_error(two, small(|l| l.max_subgraphs = 1)),
        ("number of subgraphs", 2, 1)
    );
}

#[test]
fn a_tensor_larger_than_memory_is_refused_not_allocated() {
    // 2^31 - 1 elements fit the default element limit, but their 8 GiB do not fit the
    // default 4 GiB budget: refused before anything is allocated (the test would run out of
    // memory otherwise).
    let (what, value, _) = limit_error(chain(1, &[32767, 65537]), Limits::default());
    assert_eq!(what, "memory for tensors");
    assert!(value >= 32767 * 65537 * 4);
    // Dimensions whose product overflows are refused too.
    let (what, ..) = limit_error(chain(1, &[i32::MAX, i32::MAX, i32::MAX]), Limits::default());
    assert_eq!(what, "elements of one tensor");
}

/// Signature names map to the main subgraph's inputs and outputs, as LiteRT's signature
/// runner names them.
#[test]
fn signature_names_find_inputs_and_outputs() {
    let case = tflrs_testdata::Case::load("mlp_int8").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = tflrs_runtime::Model::from_bytes(&bytes).unwrap();
    let mut interp = tflrs_runtime::Interpreter::builder(&model).build().unwrap();
    let keys: Vec<&str> = interp.signatures().iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["serving_default"]);
    let i = interp
        .signature_input_index("serving_default", "features")
        .unwrap();
    let o = interp
        .signature_output_index("serving_default", "output_0")
        .unwrap();
    assert_eq!((i, o), (0, 0));
    interp
        .input_bytes_mut(i)
        .unwrap()
        .copy_from_slice(&case.inputs[0].data);
    interp.invoke().unwrap();
    assert_eq!(
        interp.output_bytes(o).unwrap(),
        case.ref_outputs[0].data.as_slice()
    );
    let err = interp
        .signature_input_index("serving_default", "nope")
        .unwrap_err();
    assert!(err.to_string().contains("serving_default/nope"), "{err}");
    assert!(interp.signature_input_index("other", "features").is_err());
}

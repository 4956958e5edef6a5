//! The pass manager names the pass that breaks a graph; dead-code elimination removes unread
//! nodes and renumbers the values.

use std::cell::Cell;
use tflrs_ir::*;
use tflrs_passes::*;

/// `relu(x + c)` with a dead branch `tanh(x) * k` and a constant nothing reads.
fn graph_with_dead_code() -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 4]);
    b.constant_f32("orphan", [2], &[9.0, 9.0]);
    let c = b.constant_f32("c", [4], &[1.0, 2.0, 3.0, 4.0]);
    let k = b.constant_f32("k", [1], &[0.5]);
    let t = b.op(Op::Tanh, &[x]).unwrap();
    let a = b.op(Op::Add(AddAttrs::default()), &[x, c]).unwrap();
    b.op(Op::Mul(MulAttrs::default()), &[t, k]).unwrap();
    let r = b.op(Op::Relu, &[a]).unwrap();
    b.output(r);
    b.signature("serving_default", 0, &[("x", x)], &[("y", r)]);
    b.finish().unwrap()
}

#[test]
fn dce_removes_unread_nodes_and_renumbers() {
    let mut g = graph_with_dead_code();
    let before = g.dump();
    assert!(
        before.contains("node 2 MUL v? (%4, %3) -> (%6)"),
        "{before}"
    );
    let passes = PassManager::new().with(DeadCodeElimination);
    assert_eq!(passes.run(&mut g, &PassCtx::new()), Ok(true));
    let expected = r#"graph ""
subgraph 0 "main" (%0) -> (%3)
  %0 "x" float32[1, 4]
  %1 "c" float32[4] const(16 bytes #8faa0a18faf0fb98) = [1, 2, 3, 4]
  %2 "add_1" float32[1, 4]
  %3 "relu_3" float32[1, 4]
  node 0 ADD v? (%0, %1) -> (%2) AddAttrs { fused_activation_function: None, pot_scale_int16: true }
  node 1 RELU v? (%2) -> (%3)
signature "serving_default" subgraph 0 in(x=%0) out(y=%3)
"#;
    assert_eq!(g.dump(), expected);
    // Nothing left to do: a second run changes nothing.
    assert_eq!(passes.run(&mut g, &PassCtx::new()), Ok(false));
    assert_eq!(g.dump(), expected);
    // The result is still a file.
    let bytes = g.to_tflite().unwrap();
    g.resolve_versions();
    assert_eq!(Graph::from_tflite(&bytes).unwrap(), g);
}

#[test]
fn dce_keeps_nodes_with_effects() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 4]);
    let mut state = Value::new("state", DType::Float32, [1, 4]);
    state.is_variable = true;
    let state = b.value(state);
    // Reads a variable: kept although its output is unread.
    b.op(Op::Add(AddAttrs::default()), &[x, state]).unwrap();
    // A resource handle and an assignment: kept.
    let handle = b.value(Value::new("h", DType::Resource, []));
    b.node(
        Op::VarHandle(VarHandleAttrs {
            container: None,
            shared_name: Some("v".into()),
        }),
        &[],
        &[handle],
    );
    b.node(Op::AssignVariable, &[Some(handle), Some(x)], &[]);
    // An operator tflrs does not know: kept.
    let o = b.value(Value::new("o", DType::Float32, [1, 4]));
    b.node(Op::Opaque(OpaqueOp::custom("MyOp", None)), &[Some(x)], &[o]);
    // Plain and unread: removed.
    b.op(Op::Relu, &[x]).unwrap();
    b.output(x);
    let mut g = b.finish().unwrap();
    let passes = PassManager::new().with(DeadCodeElimination);
    assert_eq!(passes.run(&mut g, &PassCtx::new()), Ok(true));
    let names: Vec<_> = g.subgraphs[0].nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(names, ["ADD", "VAR_HANDLE", "ASSIGN_VARIABLE", "MyOp"]);
    assert_eq!(passes.run(&mut g, &PassCtx::new()), Ok(false));
}

/// A pass that points node 0's first input at a value that does not exist.
struct Breaker;

impl Pass for Breaker {
    fn name(&self) -> &str {
        "breaker"
    }

    fn run(&self, graph: &mut Graph<'_>, _: &PassCtx<'_>) -> Result<bool, PassError> {
        graph.subgraphs[0].nodes[0].inputs[0] = Some(ValueId(99));
        Ok(true)
    }
}

/// A pass that fails.
struct Refuser;

impl Pass for Refuser {
    fn name(&self) -> &str {
        "refuser"
    }

    fn run(&self, _: &mut Graph<'_>, _: &PassCtx<'_>) -> Result<bool, PassError> {
        Err(PassError::Failed("not today".into()))
    }
}

#[test]
fn manager_names_the_pass_that_breaks_the_graph() {
    let mut g = graph_with_dead_code();
    let passes = PassManager::new().with(DeadCodeElimination).with(Breaker);
    assert_eq!(
        passes.names().collect::<Vec<_>>(),
        ["dead-code-elimination", "breaker"]
    );
    let e = passes.run(&mut g, &PassCtx::new()).unwrap_err();
    assert!(
        matches!(
            &e,
            ManagerError::Verify {
                pass,
                source: VerifyError::DanglingValue { value: 99, .. },
            } if pass == "breaker"
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "pass \"breaker\" left an invalid graph: subgraph 0: input 0 of node 0 refers to value \
         %99, but there are only 4 values"
    );
    // Now the input is broken: the manager says so before running anything.
    let e = PassManager::new()
        .with(Refuser)
        .run(&mut g, &PassCtx::new())
        .unwrap_err();
    assert!(
        matches!(e, ManagerError::Input(VerifyError::DanglingValue { .. })),
        "{e:?}"
    );
}

#[test]
fn manager_reports_a_failing_pass() {
    let mut g = graph_with_dead_code();
    let e = PassManager::new()
        .with(Refuser)
        .with(Breaker)
        .run(&mut g, &PassCtx::new())
        .unwrap_err();
    assert_eq!(
        e,
        ManagerError::Pass {
            pass: "refuser".into(),
            source: PassError::Failed("not today".into()),
        }
    );
    assert_eq!(e.to_string(), "pass \"refuser\" failed: not today");
    // The breaker never ran.
    assert_eq!(g, graph_with_dead_code());
}

/// An evaluator that counts its calls and evaluates nothing.
struct Counting(Cell<usize>);

impl ConstEval for Counting {
    fn eval(&self, _: &Subgraph<'_>, _: &Node<'_>) -> Result<Option<Vec<Vec<u8>>>, EvalError> {
        self.0.set(self.0.get() + 1);
        Ok(None)
    }
}

/// A pass that asks the evaluator about every node (a folding pass's plumbing).
struct AskEval;

impl Pass for AskEval {
    fn name(&self) -> &str {
        "ask-eval"
    }

    fn run(&self, graph: &mut Graph<'_>, ctx: &PassCtx<'_>) -> Result<bool, PassError> {
        let Some(eval) = ctx.eval else {
            return Ok(false);
        };
        let sg = &graph.subgraphs[0];
        for node in &sg.nodes {
            assert_eq!(eval.eval(sg, node)?, None);
        }
        Ok(false)
    }
}

#[test]
fn the_evaluator_reaches_passes() {
    let mut g = graph_with_dead_code();
    let eval = Counting(Cell::new(0));
    let passes = PassManager::new().with(AskEval);
    assert_eq!(passes.run(&mut g, &PassCtx::new()), Ok(false));
    assert_eq!(eval.0.get(), 0);
    assert_eq!(
        passes.run(&mut g, &PassCtx::new().with_eval(&eval)),
        Ok(false)
    );
    assert_eq!(eval.0.get(), 4);
}

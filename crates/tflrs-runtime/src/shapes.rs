//! Shape propagation, as LiteRT's `Prepare` computes shapes: from the subgraph's inputs (as
//! stored, or resized with `resize_input`), node by node, so that every tensor has the shape
//! LiteRT would give it. The stored shapes of a converted model are not always those: under a
//! dynamic batch the converter stores placeholder sizes for tensors whose shape a
//! shape-computing chain decides (`SHAPE -> STRIDED_SLICE -> CONCATENATION -> RESHAPE`).
//!
//! The per-operator rules are the IR's ([`tflrs_ir::infer_default_outputs`], run on a copy of
//! the subgraph whose values hold the current concrete shapes); this module adds what the IR
//! leaves to the runtime: control flow (a `WHILE` keeps its values' shapes, an `IF` returns its
//! branches' shapes, inferred through the branch subgraphs) and variables (a `READ_VARIABLE`
//! returns the shape the model stores).
//!
//! Shapes computed from values are followed too: small integer results of nodes whose inputs
//! are known (constants, a `SHAPE` of a known shape, model inputs that decide shapes, see
//! [`shape_inputs`]) are computed with the scalar kernels, as LiteRT evaluates such nodes in
//! `Prepare`, so that a `RESHAPE`'s new shape is its shape tensor's computed value. A node
//! whose shape inference cannot tell its outputs keeps the stored shapes while its inputs have
//! their stored shapes; once an input's shape differs (a resize), it is refused with an error
//! naming it.

use crate::ScalarEval;
use alloc::borrow::Cow;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::ConstEval;
use tflrs_ir::{DType, Graph, Node, Op, Shape, Subgraph};
use tflrs_kernels::{KernelError, TensorInfo};

/// Computes the shapes of subgraph `s`'s values from its inputs, node by node, with the values
/// `known` (value index and bytes: model inputs that decide shapes) given. `tensors` holds the
/// subgraph's values with their stored shapes, inputs already resized. Control flow follows
/// called subgraphs at most `max_depth` deep. Errors name the node.
pub(crate) fn propagate(
    graph: &Graph<'_>,
    s: usize,
    tensors: &mut [TensorInfo],
    known: &[(usize, &[u8])],
    max_depth: usize,
) -> Result<(), (usize, KernelError)> {
    let sg = &graph.subgraphs[s];
    let mut changed: Vec<bool> = sg
        .values
        .iter()
        .zip(tensors.iter())
        .map(|(v, t)| !same_dims(&t.shape, &v.shape.dims))
        .collect();
    for &(t, _) in known {
        changed[t] = true;
    }
    // The IR infers from the values' stored shapes and constant data: give them the current
    // concrete shapes, and the known values as data.
    let mut work = sg.clone();
    for (v, t) in work.values.iter_mut().zip(tensors.iter()) {
        v.shape = concrete(&t.shape).map_err(|e| (0, e))?;
    }
    for &(t, bytes) in known {
        work.values[t].data = Some(Cow::Owned(bytes.to_vec()));
    }
    for (n, node) in sg.nodes.iter().enumerate() {
        let inputs_changed = node.inputs.iter().flatten().any(|i| changed[i.index()]);
        let inferred = infer(graph, &work, node, tensors, max_depth).and_then(|shapes| {
            if shapes.len() == node.outputs.len() {
                Ok(shapes)
            } else {
                Err(KernelError::invalid(format!(
                    "{} outputs inferred, the node has {}",
                    shapes.len(),
                    node.outputs.len()
                )))
            }
        });
        // What inference cannot tell keeps the stored shapes while the inputs are as stored
        // (an operator the IR has no rule for, a shape decided only at run time); the kernels
        // check them when they are made.
        let inferred = match inferred {
            Err(_) if !inputs_changed => None,
            other => Some(other.map_err(|e| (n, e))?),
        };
        for (o, shape) in node.outputs.iter().zip(inferred.into_iter().flatten()) {
            let t = &mut tensors[o.index()];
            if t.shape != shape {
                work.values[o.index()].shape = concrete(&shape).map_err(|e| (n, e))?;
                t.shape = shape;
                changed[o.index()] = true;
            }
        }
        // Small integer results computed from known values (the SHAPE -> STRIDED_SLICE ->
        // PACK -> RESHAPE chains of dynamic-batch models) become known values too, so that
        // the nodes they give a shape to can be inferred.
        if let Some(values) = fold(node, &work, tensors) {
            for (o, bytes) in node.outputs.iter().zip(values) {
                work.values[o.index()].data = Some(Cow::Owned(bytes));
                if inputs_changed {
                    changed[o.index()] = true;
                }
            }
        }
    }
    Ok(())
}

/// Most elements of a result [`fold`] computes (shape arithmetic is small).
const FOLD_MAX_ELEMENTS: usize = 64;

/// Most bytes of inputs [`fold`] reads (a gather from a large table is left to `invoke`).
const FOLD_MAX_INPUT_BYTES: usize = 1 << 16;

/// The values of `node`'s outputs when they are small integer tensors computable now: a
/// `SHAPE` (from its input's shape), or any node whose inputs all have known values (run
/// through the scalar kernel, so folding computes exactly what `invoke` would).
fn fold(node: &Node<'_>, work: &Subgraph<'_>, tensors: &[TensorInfo]) -> Option<Vec<Vec<u8>>> {
    let outputs: Vec<TensorInfo> = node
        .outputs
        .iter()
        .map(|o| tensors[o.index()].clone())
        .collect();
    let small_ints = outputs.iter().all(|t| {
        matches!(t.dtype, DType::Int32 | DType::Int64) && t.num_elements() <= FOLD_MAX_ELEMENTS
    });
    if !small_ints || outputs.is_empty() {
        return None;
    }
    if let Op::Shape(_) = node.op {
        let shape = &tensors[node.input(0)?.index()].shape;
        let out = &outputs[0];
        let bytes = match out.dtype {
            DType::Int32 => shape
                .iter()
                .flat_map(|&d| i32::try_from(d).unwrap_or(i32::MAX).to_le_bytes())
                .collect(),
            _ => shape
                .iter()
                .flat_map(|&d| (d as i64).to_le_bytes())
                .collect(),
        };
        return Some(alloc::vec![bytes]);
    }
    if node.inputs.is_empty()
        || node
            .inputs
            .iter()
            .flatten()
            .any(|v| work.values[v.index()].data.is_none())
    {
        return None;
    }
    // `work` holds the current concrete shapes and the known values as data, which is what
    // the evaluator reads.
    let eval = ScalarEval {
        max_output_elements: FOLD_MAX_ELEMENTS * outputs.len(),
        max_input_bytes: FOLD_MAX_INPUT_BYTES,
    };
    eval.eval(work, node).ok().flatten()
}

fn concrete(shape: &[usize]) -> Result<Shape, KernelError> {
    let dims = shape
        .iter()
        .map(|&d| i32::try_from(d))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|_| KernelError::invalid(format!("shape {shape:?} is too large")))?;
    Ok(Shape::new(dims))
}

/// Output shapes of subgraph `s` when its inputs have `inputs` shapes (for `IF`).
fn infer_subgraph(
    graph: &Graph<'_>,
    s: usize,
    inputs: &[Vec<usize>],
    max_depth: usize,
) -> Result<Vec<Vec<usize>>, KernelError> {
    let sg = graph
        .subgraphs
        .get(s)
        .ok_or_else(|| KernelError::invalid(format!("no subgraph {s}")))?;
    if max_depth == 0 {
        return Err(KernelError::invalid(
            "subgraph calls nest too deep for shape inference".into(),
        ));
    }
    if inputs.len() != sg.inputs.len() {
        return Err(KernelError::invalid(format!(
            "subgraph {s} takes {} inputs, given {}",
            sg.inputs.len(),
            inputs.len()
        )));
    }
    let mut tensors: Vec<TensorInfo> = sg
        .values
        .iter()
        .map(|v| {
            TensorInfo::new(
                v.name.clone(),
                v.dtype,
                v.shape
                    .dims
                    .iter()
                    .map(|&d| d.max(0) as usize)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    for (v, shape) in sg.inputs.iter().zip(inputs) {
        tensors[v.index()].shape.clone_from(shape);
    }
    propagate(graph, s, &mut tensors, &[], max_depth - 1).map_err(|(n, e)| {
        KernelError::invalid(format!(
            "subgraph {s}, node {n} ({}): {e}",
            sg.nodes[n].op.name()
        ))
    })?;
    Ok(sg
        .outputs
        .iter()
        .map(|o| tensors[o.index()].shape.clone())
        .collect())
}

/// Output shapes of `node` (of `work`, whose values hold the current shapes).
fn infer(
    graph: &Graph<'_>,
    work: &Subgraph<'_>,
    node: &Node<'_>,
    tensors: &[TensorInfo],
    max_depth: usize,
) -> Result<Vec<Vec<usize>>, KernelError> {
    let input = |k: usize| -> Result<Vec<usize>, KernelError> {
        let v = node
            .input(k)
            .ok_or(KernelError::MissingInput { index: k })?;
        Ok(tensors[v.index()].shape.clone())
    };
    match &node.op {
        // A loop keeps its values' shapes (static shapes; the interpreter checks the body).
        Op::While(_) => (0..node.inputs.len()).map(input).collect(),
        Op::If(a) => {
            let args: Vec<Vec<usize>> = (1..node.inputs.len())
                .map(input)
                .collect::<Result<_, _>>()?;
            let branch = |index: i32| {
                let s = usize::try_from(index)
                    .map_err(|_| KernelError::invalid(format!("branch subgraph {index}")))?;
                infer_subgraph(graph, s, &args, max_depth)
            };
            let (t, e) = (
                branch(a.then_subgraph_index)?,
                branch(a.else_subgraph_index)?,
            );
            if t != e {
                return Err(KernelError::unsupported(format!(
                    "the branches return different shapes ({t:?} and {e:?})"
                )));
            }
            Ok(t)
        }
        // A variable's value has the shape the model stores.
        Op::ReadVariable => node
            .outputs
            .iter()
            .map(|o| Ok(tensors[o.index()].shape.clone()))
            .collect(),
        Op::AssignVariable | Op::CallOnce(_) => Ok(Vec::new()),
        Op::Opaque(_) => Err(KernelError::unsupported(format!(
            "no shape inference for {} after resizing an input",
            node.op.name()
        ))),
        _ => {
            let types =
                tflrs_ir::infer_default_outputs(work, node).map_err(KernelError::invalid)?;
            types
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    t.dims
                        .as_ref()
                        .and_then(|d| d.iter().map(|d| d.get().map(|n| n as usize)).collect())
                        .ok_or_else(|| {
                            KernelError::unsupported(format!(
                                "the shape of output {k} cannot be told before running (it \
                                 depends on values computed at run time)"
                            ))
                        })
                })
                .collect()
        }
    }
}

fn same_dims(shape: &[usize], dims: &[i32]) -> bool {
    shape.len() == dims.len()
        && shape
            .iter()
            .zip(dims)
            .all(|(&a, &d)| a as i64 == i64::from(d.max(0)))
}

/// Operand slots whose values decide an operator's output shape.
fn shape_operands(op: &Op<'_>) -> &'static [usize] {
    match op {
        Op::Reshape(_)
        | Op::Tile
        | Op::Pad
        | Op::PadV2
        | Op::MirrorPad(_)
        | Op::ResizeBilinear(_)
        | Op::ResizeNearestNeighbor(_)
        | Op::Mean(_)
        | Op::Sum(_)
        | Op::ReduceMax(_)
        | Op::ReduceMin(_)
        | Op::ExpandDims
        | Op::Transpose
        | Op::ArgMax(_)
        | Op::ArgMin(_) => &[1],
        Op::Fill | Op::TransposeConv(_) | Op::Split(_) => &[0],
        // The number of true elements decides the output's first dimension.
        Op::Where => &[0],
        Op::Slice | Op::SplitV(_) => &[1, 2],
        Op::StridedSlice(_) => &[1, 2, 3],
        _ => &[],
    }
}

/// The inputs of `sg` (by position) whose values decide a tensor shape: integer inputs used
/// directly as an operand that gives a shape, axes, paddings or sizes.
pub(crate) fn shape_inputs(sg: &Subgraph<'_>) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for node in &sg.nodes {
        for &k in shape_operands(&node.op) {
            let Some(v) = node.input(k) else { continue };
            if let Some(pos) = sg.inputs.iter().position(|&i| i == v)
                && !out.contains(&pos)
            {
                out.push(pos);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Refuses nodes whose output shape depends on values that are known neither when planning
/// nor through [`shape_inputs`]: a `WHERE` (its output has one row per true element) must read
/// a constant or, in the main subgraph, a model input (whose values the interpreter plans
/// for, planning again when they change). Errors name the node.
pub(crate) fn check_value_shapes(sg: &Subgraph<'_>, s: usize) -> Result<(), (usize, KernelError)> {
    for (n, node) in sg.nodes.iter().enumerate() {
        if !matches!(node.op, Op::Where) {
            continue;
        }
        let Some(input) = node.input(0) else { continue };
        let constant = sg.value(input).is_some_and(|v| v.data.is_some());
        let model_input = s == 0 && sg.inputs.contains(&input);
        if !constant && !model_input {
            return Err((
                n,
                KernelError::unsupported(format!(
                    "WHERE: its output has one row per true element of '{}', a value computed \
                     inside the model; tflrs plans every shape at build() and runs WHERE only \
                     on a constant or a model input",
                    sg.value(input).map_or("?", |v| v.name.as_ref())
                )),
            ));
        }
    }
    Ok(())
}

//! Control flow and resource variables: `WHILE`, `IF`, `CALL_ONCE`, `VAR_HANDLE`,
//! `READ_VARIABLE`, `ASSIGN_VARIABLE`.
//!
//! These kernels compute nothing themselves: they move tensors between their node and other
//! subgraphs, or between their node and the interpreter's variables, through [`Services`]
//! (`io.split()`'s fourth part). `Services` moves one tensor at a time, so `run` needs no
//! buffer of its own and allocates nothing.
//!
//! The interpreter checks at build time that called subgraphs exist and that their inputs and
//! outputs have the types and sizes of the calling node's (static shapes); these kernels check
//! their own node, and check sizes again as they copy, so a mismatch is an error, never an
//! out-of-bounds copy.

use crate::kernel::{NodeCtx, Services};
use crate::tensor::{TensorInfo, TensorRef};
use crate::{Kernel, KernelError, KernelIo};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use tflrs_ir::{DType, Op};

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    Ok(Some(match node.op {
        Op::While(a) => Box::new(While::new(
            node,
            subgraph_index(a.cond_subgraph_index, "cond")?,
            subgraph_index(a.body_subgraph_index, "body")?,
        )?),
        Op::If(a) => Box::new(If::new(
            node,
            subgraph_index(a.then_subgraph_index, "then")?,
            subgraph_index(a.else_subgraph_index, "else")?,
        )?),
        Op::CallOnce(a) => Box::new(CallOnce::new(
            node,
            subgraph_index(a.init_subgraph_index, "init")?,
        )?),
        Op::VarHandle(a) => Box::new(VarHandle::new(
            node,
            a.container.clone().unwrap_or_default(),
            a.shared_name.clone().unwrap_or_default(),
        )?),
        Op::ReadVariable => Box::new(ReadVariable::new(node)?),
        Op::AssignVariable => Box::new(AssignVariable::new(node)?),
        _ => return Ok(None),
    }))
}

fn subgraph_index(index: i32, what: &str) -> Result<usize, KernelError> {
    usize::try_from(index)
        .map_err(|_| KernelError::invalid(format!("{what} subgraph index {index} is negative")))
}

/// Whether a one-element condition tensor holds a true value (any nonzero byte: booleans and
/// integers of any width).
fn truthy(t: &TensorRef<'_>) -> bool {
    t.bytes.iter().any(|&b| b != 0)
}

/// Checks that `info` can be a condition: one bool or integer element.
fn check_condition(info: &TensorInfo) -> Result<(), KernelError> {
    crate::ensure!(
        info.num_elements() == 1,
        "condition '{}' has {} elements, not 1",
        info.name,
        info.num_elements()
    );
    crate::ensure!(
        info.dtype == DType::Bool || info.dtype.is_integer(),
        "condition '{}' is {}, not bool or an integer",
        info.name,
        info.dtype
    );
    Ok(())
}

/// Copies `src` into `dst`, failing (instead of panicking) when their sizes differ.
fn copy(dst: &mut [u8], src: &[u8], what: &str, k: usize) -> Result<(), KernelError> {
    if dst.len() != src.len() {
        return Err(KernelError::invalid(format!(
            "{what} {k}: {} bytes where {} are expected",
            src.len(),
            dst.len()
        )));
    }
    dst.copy_from_slice(src);
    Ok(())
}

/// The resource id a `VAR_HANDLE` wrote (an int32 in the resource tensor's first 4 bytes).
fn resource_id(t: &TensorRef<'_>) -> Result<i32, KernelError> {
    let b: [u8; 4] = t
        .bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            KernelError::invalid(format!("resource tensor '{}' holds no id", t.info.name))
        })?;
    Ok(i32::from_le_bytes(b))
}

/// Bytes of a loop value: its dense size, or 4 bytes (an int32 id) per element of a resource
/// handle (loops may carry handles to variables).
fn value_len(info: &TensorInfo) -> Option<usize> {
    if info.dtype == DType::Resource {
        return info.num_elements().checked_mul(4);
    }
    info.byte_len()
}

/// Checks that `info` can hold a resource id: a resource or int32 tensor of one element.
fn check_resource(info: &TensorInfo) -> Result<(), KernelError> {
    crate::ensure!(
        matches!(info.dtype, DType::Resource | DType::Int32) && info.num_elements() == 1,
        "'{}' is {} {:?}, not one resource id",
        info.name,
        info.dtype,
        info.shape
    );
    Ok(())
}

/// Fills the inputs of subgraph `index` from `values` (`values(k)` is its input `k`).
fn feed<'v>(
    services: &mut dyn Services,
    index: usize,
    n: usize,
    mut values: impl FnMut(usize) -> Result<TensorRef<'v>, KernelError>,
) -> Result<(), KernelError> {
    for k in 0..n {
        let src = values(k)?;
        let dst = services.subgraph_input(index, k)?;
        copy(dst.bytes, src.bytes, "subgraph input", k)?;
    }
    Ok(())
}

/// `WHILE`: runs `cond` on the loop values, and `body` while it says true; the body's outputs
/// are the next iteration's values. The loop values live in the node's outputs (same types and
/// sizes as its inputs: static shapes), so an iteration copies them into the subgraphs and the
/// body's results back, and needs no buffer of its own.
struct While {
    cond: usize,
    body: usize,
    n: usize,
}

impl While {
    fn new(node: &NodeCtx<'_>, cond: usize, body: usize) -> Result<Self, KernelError> {
        let n = node.inputs.len();
        node.expect_outputs(n)?;
        for k in 0..n {
            let i = node.input(k)?;
            let o = node.output(k)?;
            crate::ensure!(
                i.dtype == o.dtype && value_len(i) == value_len(o) && value_len(i).is_some(),
                "loop value {k}: input '{}' is {} {:?}, output '{}' is {} {:?} (loops need \
                 static shapes)",
                i.name,
                i.dtype,
                i.shape,
                o.name,
                o.dtype,
                o.shape
            );
        }
        Ok(Self { cond, body, n })
    }
}

impl Kernel for While {
    fn name(&self) -> &str {
        "while__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, services) = io.split();
        for k in 0..self.n {
            let src = inputs.get(k)?;
            copy(outputs.get(k)?.bytes, src.bytes, "loop value", k)?;
        }
        let max_iterations = services.max_loop_iterations();
        let mut iterations = 0u64;
        loop {
            for k in 0..self.n {
                let src = outputs.get(k)?;
                let dst = services.subgraph_input(self.cond, k)?;
                copy(dst.bytes, src.bytes, "condition input", k)?;
            }
            services.invoke_subgraph(self.cond)?;
            if !truthy(&services.subgraph_output(self.cond, 0)?) {
                return Ok(());
            }
            iterations += 1;
            if iterations > max_iterations {
                return Err(KernelError::LimitExceeded {
                    what: "WHILE iterations",
                    limit: max_iterations,
                });
            }
            for k in 0..self.n {
                let src = outputs.get(k)?;
                let dst = services.subgraph_input(self.body, k)?;
                copy(dst.bytes, src.bytes, "body input", k)?;
            }
            services.invoke_subgraph(self.body)?;
            for k in 0..self.n {
                let src = services.subgraph_output(self.body, k)?;
                copy(outputs.get(k)?.bytes, src.bytes, "body output", k)?;
            }
        }
    }
}

/// `IF`: input 0 is the condition; the other inputs go to the `then` or `else` subgraph, whose
/// outputs are the node's.
struct If {
    then: usize,
    otherwise: usize,
}

impl If {
    fn new(node: &NodeCtx<'_>, then: usize, otherwise: usize) -> Result<Self, KernelError> {
        check_condition(node.input(0)?)?;
        for k in 1..node.inputs.len() {
            node.input(k)?;
        }
        Ok(Self { then, otherwise })
    }
}

impl Kernel for If {
    fn name(&self) -> &str {
        "if__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, services) = io.split();
        let branch = if truthy(&inputs.get(0)?) {
            self.then
        } else {
            self.otherwise
        };
        feed(services, branch, inputs.len() - 1, |k| inputs.get(k + 1))?;
        services.invoke_subgraph(branch)?;
        for k in 0..outputs.len() {
            let src = services.subgraph_output(branch, k)?;
            copy(outputs.get(k)?.bytes, src.bytes, "branch output", k)?;
        }
        Ok(())
    }
}

/// `CALL_ONCE`: runs the initialization subgraph (which usually assigns the model's variables)
/// on the first invoke of the interpreter's life, and does nothing afterwards. The record of
/// what ran is the interpreter's, so it survives re-planning (`resize_input`) as the variables
/// do.
struct CallOnce {
    init: usize,
}

impl CallOnce {
    fn new(node: &NodeCtx<'_>, init: usize) -> Result<Self, KernelError> {
        node.expect_inputs(0, 0)?;
        node.expect_outputs(0)?;
        crate::ensure!(
            init != node.subgraph,
            "CALL_ONCE in subgraph {init} calls its own subgraph"
        );
        Ok(Self { init })
    }
}

impl Kernel for CallOnce {
    fn name(&self) -> &str {
        "call_once__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (_, _, _, services) = io.split();
        if !services.initialized(self.init) {
            services.invoke_subgraph(self.init)?;
            services.set_initialized(self.init);
        }
        Ok(())
    }
}

/// `VAR_HANDLE`: outputs the resource id of the variable named by its container and shared
/// name (an int32, as LiteRT stores it in the resource tensor).
struct VarHandle {
    container: String,
    shared_name: String,
    /// The id, once asked: the kernel belongs to one interpreter, whose ids do not change.
    id: Option<i32>,
}

impl VarHandle {
    fn new(
        node: &NodeCtx<'_>,
        container: String,
        shared_name: String,
    ) -> Result<Self, KernelError> {
        node.expect_inputs(0, 0)?;
        node.expect_outputs(1)?;
        check_resource(node.output(0)?)?;
        Ok(Self {
            container,
            shared_name,
            id: None,
        })
    }
}

impl Kernel for VarHandle {
    fn name(&self) -> &str {
        "var_handle__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (_, mut outputs, _, services) = io.split();
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = services.variable_id(&self.container, &self.shared_name)?;
                self.id = Some(id);
                id
            }
        };
        copy(outputs.get(0)?.bytes, &id.to_le_bytes(), "resource id", 0)
    }
}

/// `READ_VARIABLE`: copies the variable's value to the output.
struct ReadVariable;

impl ReadVariable {
    fn new(node: &NodeCtx<'_>) -> Result<Self, KernelError> {
        node.expect_inputs(1, 1)?;
        node.expect_outputs(1)?;
        check_resource(node.input(0)?)?;
        Ok(Self)
    }
}

impl Kernel for ReadVariable {
    fn name(&self) -> &str {
        "read_variable__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, services) = io.split();
        let id = resource_id(&inputs.get(0)?)?;
        let out = outputs.get(0)?;
        let value = services.variable(id)?.ok_or_else(|| {
            KernelError::invalid(format!("variable {id} is read before it is assigned"))
        })?;
        crate::ensure!(
            value.info.dtype == out.info.dtype,
            "variable {id} holds {}, the output '{}' is {}",
            value.info.dtype,
            out.info.name,
            out.info.dtype
        );
        copy(out.bytes, value.bytes, "variable", 0)
    }
}

/// `ASSIGN_VARIABLE`: stores input 1 into the variable input 0 names.
struct AssignVariable;

impl AssignVariable {
    fn new(node: &NodeCtx<'_>) -> Result<Self, KernelError> {
        node.expect_inputs(2, 2)?;
        node.expect_outputs(0)?;
        check_resource(node.input(0)?)?;
        node.input(1)?;
        Ok(Self)
    }
}

impl Kernel for AssignVariable {
    fn name(&self) -> &str {
        "assign_variable__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, _, _, services) = io.split();
        let id = resource_id(&inputs.get(0)?)?;
        services.assign_variable(id, inputs.get(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::TensorMut;
    use crate::testing::{Harness, HarnessError, TestInput};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{CallOnceAttrs, IfAttrs, VarHandleAttrs, WhileAttrs};

    /// A tensor of the mock: its description and bytes.
    type Buf = (TensorInfo, Vec<u8>);

    /// A subgraph of the mock: its tensors and what it computes.
    struct Sub {
        inputs: Vec<Buf>,
        outputs: Vec<Buf>,
        f: fn(&[Buf], &mut [Buf]),
        runs: usize,
    }

    /// [`Services`] over in-memory subgraphs and variables.
    #[derive(Default)]
    struct Mock {
        subs: Vec<Sub>,
        names: Vec<(String, String)>,
        vars: Vec<(TensorInfo, Option<Vec<u8>>)>,
        initialized: Vec<bool>,
    }

    fn err(what: &str) -> KernelError {
        KernelError::invalid(what.into())
    }

    impl Services for Mock {
        fn run_subgraph(
            &mut self,
            _: usize,
            _: &[TensorRef<'_>],
            _: &mut [TensorMut<'_>],
        ) -> Result<(), KernelError> {
            Err(err("not used"))
        }

        fn subgraph_input(&mut self, i: usize, k: usize) -> Result<TensorMut<'_>, KernelError> {
            let (info, bytes) = self.subs[i].inputs.get_mut(k).ok_or(err("input"))?;
            Ok(TensorMut { info, bytes })
        }

        fn invoke_subgraph(&mut self, i: usize) -> Result<(), KernelError> {
            let sub = self.subs.get_mut(i).ok_or(err("subgraph"))?;
            (sub.f)(&sub.inputs, &mut sub.outputs);
            sub.runs += 1;
            Ok(())
        }

        fn subgraph_output(&mut self, i: usize, k: usize) -> Result<TensorRef<'_>, KernelError> {
            let (info, bytes) = self.subs[i].outputs.get(k).ok_or(err("output"))?;
            Ok(TensorRef { info, bytes })
        }

        fn variable_id(&mut self, container: &str, name: &str) -> Result<i32, KernelError> {
            let key = (String::from(container), String::from(name));
            let id = self
                .names
                .iter()
                .position(|k| *k == key)
                .ok_or(err("name"))?;
            Ok(id as i32)
        }

        fn variable(&mut self, id: i32) -> Result<Option<TensorRef<'_>>, KernelError> {
            let (info, value) = self.vars.get(id as usize).ok_or(err("id"))?;
            Ok(value.as_ref().map(|bytes| TensorRef { info, bytes }))
        }

        fn assign_variable(&mut self, id: i32, v: TensorRef<'_>) -> Result<(), KernelError> {
            let (_, value) = self.vars.get_mut(id as usize).ok_or(err("id"))?;
            *value = Some(v.bytes.to_vec());
            Ok(())
        }

        fn initialized(&self, i: usize) -> bool {
            self.initialized[i]
        }

        fn set_initialized(&mut self, i: usize) {
            self.initialized[i] = true;
        }
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        bytemuck::cast_slice(v).to_vec()
    }

    fn info(dtype: DType, shape: &[usize]) -> TensorInfo {
        TensorInfo::new("t", dtype, shape)
    }

    /// Makes the kernel for `op` and runs it once with `mock`; returns the outputs' bytes.
    fn run(
        op: &Op<'_>,
        inputs: &[Buf],
        outputs: &[TensorInfo],
        mock: &mut Mock,
    ) -> Result<Vec<Vec<u8>>, KernelError> {
        let infos: Vec<Option<&TensorInfo>> = inputs.iter().map(|(i, _)| Some(i)).collect();
        let outs: Vec<&TensorInfo> = outputs.iter().collect();
        let ctx = NodeCtx {
            subgraph: 0,
            index: 0,
            op,
            inputs: &infos,
            constants: &vec![None; inputs.len()],
            outputs: &outs,
            intermediates: &[],
        };
        let mut kernel = kernel_for(&ctx)?.ok_or(err("declined"))?;
        let mut inputs: Vec<Option<TestInput>> = inputs
            .iter()
            .map(|(i, b)| Some(TestInput::new(i.clone(), b.clone())))
            .collect();
        Harness::new()
            .services(mock)
            .run(kernel.as_mut(), &mut inputs, outputs)
            .map_err(HarnessError::into_kernel_error)
    }

    #[test]
    fn while_feeds_body_outputs_back_until_cond_is_false() {
        let i32_ = info(DType::Int32, &[]);
        let f = info(DType::Float32, &[2]);
        let state = || vec![(i32_.clone(), vec![0; 4]), (f.clone(), vec![0; 8])];
        let mut mock = Mock::default();
        // cond: i < 4
        mock.subs.push(Sub {
            inputs: state(),
            outputs: vec![(info(DType::Bool, &[]), vec![0])],
            f: |i, o| o[0].1[0] = u8::from(i32::from_le_bytes(i[0].1[..4].try_into().unwrap()) < 4),
            runs: 0,
        });
        // body: (i + 1, x * 2)
        mock.subs.push(Sub {
            inputs: state(),
            outputs: state(),
            f: |i, o| {
                let n = i32::from_le_bytes(i[0].1[..4].try_into().unwrap());
                o[0].1.copy_from_slice(&(n + 1).to_le_bytes());
                let x: &[f32] = bytemuck::cast_slice(&i[1].1);
                o[1].1.copy_from_slice(&f32s(&[x[0] * 2.0, x[1] * 2.0]));
            },
            runs: 0,
        });
        let op = Op::While(WhileAttrs {
            cond_subgraph_index: 0,
            body_subgraph_index: 1,
        });
        let out = run(
            &op,
            &[
                (i32_.clone(), 1i32.to_le_bytes().to_vec()),
                (f.clone(), f32s(&[1.0, -0.5])),
            ],
            &[i32_.clone(), f.clone()],
            &mut mock,
        )
        .unwrap();
        assert_eq!(out[0], 4i32.to_le_bytes());
        assert_eq!(out[1], f32s(&[8.0, -4.0]));
        assert_eq!((mock.subs[0].runs, mock.subs[1].runs), (4, 3));
    }

    #[test]
    fn while_with_mismatched_values_is_refused() {
        let op = Op::While(WhileAttrs::default());
        let e = run(
            &op,
            &[(info(DType::Float32, &[2]), f32s(&[0.0; 2]))],
            &[info(DType::Float32, &[3])],
            &mut Mock::default(),
        )
        .unwrap_err();
        assert!(matches!(e, KernelError::Invalid(m) if m.contains("static shapes")));
    }

    #[test]
    fn if_picks_the_branch_and_passes_the_other_inputs() {
        let f = info(DType::Float32, &[1]);
        let mut mock = Mock::default();
        for f_ in [
            (|i: &[Buf], o: &mut [Buf]| {
                o[0].1.copy_from_slice(&i[0].1);
            }) as fn(&_, &mut _),
            |_, o| o[0].1.copy_from_slice(&f32s(&[-1.0])),
        ] {
            mock.subs.push(Sub {
                inputs: vec![(f.clone(), vec![0; 4])],
                outputs: vec![(f.clone(), vec![0; 4])],
                f: f_,
                runs: 0,
            });
        }
        let op = Op::If(IfAttrs {
            then_subgraph_index: 0,
            else_subgraph_index: 1,
        });
        for (cond, want) in [(1u8, 7.0f32), (0, -1.0)] {
            let out = run(
                &op,
                &[
                    (info(DType::Bool, &[1]), vec![cond]),
                    (f.clone(), f32s(&[7.0])),
                ],
                core::slice::from_ref(&f),
                &mut mock,
            )
            .unwrap();
            assert_eq!(out[0], f32s(&[want]));
        }
        // An int32 condition counts as true when nonzero; a float one is refused.
        let out = run(
            &op,
            &[
                (info(DType::Int32, &[]), 256i32.to_le_bytes().to_vec()),
                (f.clone(), f32s(&[3.0])),
            ],
            core::slice::from_ref(&f),
            &mut mock,
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[3.0]));
        assert!(run(&op, &[(f.clone(), f32s(&[1.0]))], &[], &mut mock).is_err());
    }

    #[test]
    fn call_once_runs_its_subgraph_once() {
        let mut mock = Mock {
            initialized: vec![false, false],
            ..Mock::default()
        };
        mock.subs.push(Sub {
            inputs: vec![],
            outputs: vec![],
            f: |_, _| {},
            runs: 0,
        });
        mock.subs.push(Sub {
            inputs: vec![],
            outputs: vec![],
            f: |_, _| {},
            runs: 0,
        });
        let op = Op::CallOnce(CallOnceAttrs {
            init_subgraph_index: 1,
        });
        for _ in 0..3 {
            run(&op, &[], &[], &mut mock).unwrap();
        }
        assert_eq!(mock.subs[1].runs, 1);
        assert!(mock.initialized[1]);
    }

    #[test]
    fn variables_go_through_their_ids() {
        let f = info(DType::Float32, &[2]);
        let mut mock = Mock {
            names: vec![(String::new(), "a".into()), ("c".into(), "b".into())],
            vars: vec![(f.clone(), None), (f.clone(), None)],
            ..Mock::default()
        };
        let handle = Op::VarHandle(VarHandleAttrs {
            container: Some("c".into()),
            shared_name: Some("b".into()),
        });
        let res = info(DType::Resource, &[]);
        let id = run(&handle, &[], core::slice::from_ref(&res), &mut mock).unwrap();
        assert_eq!(id[0], 1i32.to_le_bytes());
        let id_in = (res.clone(), id[0].clone());
        // Read before assign fails.
        assert!(
            run(
                &Op::ReadVariable,
                core::slice::from_ref(&id_in),
                core::slice::from_ref(&f),
                &mut mock
            )
            .is_err()
        );
        run(
            &Op::AssignVariable,
            &[id_in.clone(), (f.clone(), f32s(&[1.5, 2.5]))],
            &[],
            &mut mock,
        )
        .unwrap();
        let out = run(
            &Op::ReadVariable,
            &[id_in],
            core::slice::from_ref(&f),
            &mut mock,
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[1.5, 2.5]));
        assert!(mock.vars[0].1.is_none());
        // A read into an output of another type is refused.
        let i = info(DType::Int32, &[2]);
        let id_in = (res, 1i32.to_le_bytes().to_vec());
        assert!(run(&Op::ReadVariable, &[id_in], &[i], &mut mock).is_err());
    }
}

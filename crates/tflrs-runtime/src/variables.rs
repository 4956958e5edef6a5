//! Resource variables (`VAR_HANDLE`, `READ_VARIABLE`, `ASSIGN_VARIABLE`): ids, storage made at
//! build time, values kept across invokes.
//!
//! Ids: the distinct (container, shared name) pairs of the model's `VAR_HANDLE` nodes,
//! numbered in subgraph and node order, the same in every subgraph (LiteRT numbers them the
//! same way, in the order its `VAR_HANDLE` nodes are initialized). A `CALL_ONCE` init subgraph
//! and the main subgraph each have their own `VAR_HANDLE` for a variable; both get its id.
//!
//! Storage: at build time, each resource tensor is traced to the variable it names (from a
//! `VAR_HANDLE` in its subgraph, or through `WHILE`/`IF` arguments into called subgraphs), and
//! each variable gets one buffer sized by the values its `ASSIGN_VARIABLE`s store and its
//! `READ_VARIABLE`s return (which must agree: static shapes). `invoke` then only copies.

use crate::{Error, Limits};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{Graph, Op};
use tflrs_kernels::{KernelError, TensorInfo, TensorRef};

/// The variables of one interpreter.
#[derive(Debug, Default)]
pub(crate) struct Variables {
    /// (container, shared name) of each id.
    keys: Vec<(String, String)>,
    /// Type and shape of each variable; `None` when no node reads or assigns it.
    infos: Vec<Option<TensorInfo>>,
    /// Each variable's bytes (16-byte aligned), as long as its type and shape say.
    data: Vec<Vec<u128>>,
    /// Whether each variable holds a value.
    assigned: Vec<bool>,
}

/// What an interpreter keeps across invokes and re-planning besides its tensors.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The resource variables.
    pub vars: Variables,
    /// For each subgraph, whether `CALL_ONCE` already ran it.
    pub initialized: Vec<bool>,
}

fn node_error(s: usize, n: usize, op: &Op<'_>, source: KernelError) -> Error {
    Error::Kernel {
        subgraph: s,
        node: n,
        op: op.name().into_owned(),
        source,
    }
}

impl Variables {
    /// Finds the model's variables and sizes their storage. `tensors[s]` are subgraph `s`'s
    /// planned tensors. The bytes count against `limits.max_arena_bytes` through `total`.
    pub(crate) fn plan(
        graph: &Graph<'_>,
        tensors: &[&[TensorInfo]],
        limits: &Limits,
        total: &mut u64,
    ) -> Result<Self, Error> {
        let mut keys: Vec<(String, String)> = Vec::new();
        // The variable each value of each subgraph names, if any.
        let mut names: Vec<Vec<Option<usize>>> = graph
            .subgraphs
            .iter()
            .map(|sg| vec![None; sg.values.len()])
            .collect();
        for (s, sg) in graph.subgraphs.iter().enumerate() {
            for node in &sg.nodes {
                if let Op::VarHandle(a) = &node.op {
                    let key = (
                        a.container.clone().unwrap_or_default(),
                        a.shared_name.clone().unwrap_or_default(),
                    );
                    let id = match keys.iter().position(|k| *k == key) {
                        Some(id) => id,
                        None => {
                            keys.push(key);
                            keys.len() - 1
                        }
                    };
                    if let Some(&o) = node.outputs.first() {
                        names[s][o.index()] = Some(id);
                    }
                }
            }
        }
        if keys.is_empty() {
            return Ok(Self::default());
        }
        // Follow resource values into called subgraphs until nothing changes; every round
        // names at least one more value, so this ends.
        loop {
            let mut changed = false;
            for (s, sg) in graph.subgraphs.iter().enumerate() {
                for node in &sg.nodes {
                    // (callee, first node input passed as the callee's input 0)
                    let Some(spec) = node.op.call_spec() else {
                        continue;
                    };
                    let skip = spec.arg_offset;
                    for (k, i) in node.inputs.iter().enumerate().skip(skip) {
                        let Some(id) = i.and_then(|i| names[s][i.index()]) else {
                            continue;
                        };
                        for &(_, c) in &spec.callees {
                            let Some(callee) = usize::try_from(c)
                                .ok()
                                .and_then(|c| graph.subgraphs.get(c).map(|g| (c, g)))
                            else {
                                continue;
                            };
                            if let Some(v) = callee.1.inputs.get(k - skip)
                                && names[callee.0][v.index()].is_none()
                            {
                                names[callee.0][v.index()] = Some(id);
                                changed = true;
                            }
                        }
                        // A loop passes its resource values through unchanged.
                        if matches!(node.op, Op::While(_))
                            && let Some(o) = node.outputs.get(k)
                            && names[s][o.index()].is_none()
                        {
                            names[s][o.index()] = Some(id);
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        // The type and shape of each variable, from the nodes that read and assign it.
        let mut infos: Vec<Option<TensorInfo>> = vec![None; keys.len()];
        for (s, sg) in graph.subgraphs.iter().enumerate() {
            for (n, node) in sg.nodes.iter().enumerate() {
                let value = match node.op {
                    Op::ReadVariable => node.outputs.first().copied(),
                    Op::AssignVariable => node.input(1),
                    _ => continue,
                };
                let (Some(handle), Some(value)) = (node.input(0), value) else {
                    continue; // the kernel reports the missing operand
                };
                let id = names[s][handle.index()].ok_or_else(|| {
                    node_error(
                        s,
                        n,
                        &node.op,
                        KernelError::unsupported(alloc::format!(
                            "cannot tell at build time which variable '{}' names (it comes \
                             from no VAR_HANDLE)",
                            sg.values[handle.index()].name
                        )),
                    )
                })?;
                let info = &tensors[s][value.index()];
                match &infos[id] {
                    None => {
                        let mut info = info.clone();
                        info.name.clone_from(&keys[id].1);
                        infos[id] = Some(info);
                    }
                    Some(have) if have.dtype == info.dtype && have.shape == info.shape => {}
                    Some(have) => {
                        return Err(node_error(
                            s,
                            n,
                            &node.op,
                            KernelError::unsupported(alloc::format!(
                                "variable '{}' is {} {:?} elsewhere, {} {:?} here (variables \
                                 need one static type and shape)",
                                keys[id].1,
                                have.dtype,
                                have.shape,
                                info.dtype,
                                info.shape
                            )),
                        ));
                    }
                }
            }
        }
        let mut data = Vec::with_capacity(keys.len());
        for info in &infos {
            let len = match info {
                Some(info) => info.byte_len().ok_or_else(|| Error::Tensor {
                    subgraph: 0,
                    tensor: 0,
                    name: info.name.clone(),
                    problem: alloc::format!("a variable of type {} has no fixed size", info.dtype),
                })?,
                None => 0,
            };
            *total = total.saturating_add(len as u64);
            if *total > limits.max_arena_bytes {
                return Err(Error::LimitExceeded {
                    what: "memory for tensors",
                    value: *total,
                    limit: limits.max_arena_bytes,
                });
            }
            data.push(vec![0u128; len.div_ceil(16)]);
        }
        Ok(Self {
            assigned: vec![false; keys.len()],
            keys,
            infos,
            data,
        })
    }

    /// Takes over the values of `old` for the variables that kept their name, type and shape.
    /// Returns whether every variable `old` held a value for kept it.
    pub(crate) fn keep_values(&mut self, old: Variables) -> bool {
        let mut all = true;
        for (id, (data, assigned)) in old.data.into_iter().zip(old.assigned).enumerate() {
            if !assigned {
                continue;
            }
            if self.keys.get(id) == old.keys.get(id) && self.infos.get(id) == old.infos.get(id) {
                self.data[id] = data;
                self.assigned[id] = true;
            } else {
                all = false;
            }
        }
        all
    }

    /// Forgets every value: each variable reads as unassigned until assigned again.
    pub(crate) fn clear(&mut self) {
        for (data, assigned) in self.data.iter_mut().zip(&mut self.assigned) {
            data.fill(0);
            *assigned = false;
        }
    }

    /// Bytes of storage.
    pub(crate) fn bytes(&self) -> usize {
        self.data.iter().map(|d| d.len() * 16).sum()
    }

    fn index(&self, id: i32) -> Result<usize, KernelError> {
        usize::try_from(id)
            .ok()
            .filter(|&i| i < self.keys.len())
            .ok_or_else(|| KernelError::invalid(alloc::format!("no variable with id {id}")))
    }

    /// The id of `container`/`shared_name`.
    pub(crate) fn id(&self, container: &str, shared_name: &str) -> Result<i32, KernelError> {
        self.keys
            .iter()
            .position(|(c, n)| c == container && n == shared_name)
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| {
                KernelError::invalid(alloc::format!(
                    "no variable '{shared_name}' in container '{container}'"
                ))
            })
    }

    /// The value of variable `id`, if assigned.
    pub(crate) fn get(&self, id: i32) -> Result<Option<TensorRef<'_>>, KernelError> {
        let i = self.index(id)?;
        let (Some(info), true) = (&self.infos[i], self.assigned[i]) else {
            return Ok(None);
        };
        let len = info.byte_len().unwrap_or(0);
        Ok(Some(TensorRef {
            info,
            bytes: &bytemuck::cast_slice::<u128, u8>(&self.data[i])[..len],
        }))
    }

    /// Stores `value` into variable `id`.
    pub(crate) fn assign(&mut self, id: i32, value: TensorRef<'_>) -> Result<(), KernelError> {
        let i = self.index(id)?;
        let info = self.infos[i].as_ref().ok_or_else(|| {
            KernelError::invalid(alloc::format!("variable {id} has no planned storage"))
        })?;
        let len = info.byte_len().unwrap_or(0);
        if info.dtype != value.info.dtype || len != value.bytes.len() {
            return Err(KernelError::invalid(alloc::format!(
                "variable '{}' is {} {:?}, assigned {} {:?}",
                info.name,
                info.dtype,
                info.shape,
                value.info.dtype,
                value.info.shape
            )));
        }
        bytemuck::cast_slice_mut::<u128, u8>(&mut self.data[i])[..len].copy_from_slice(value.bytes);
        self.assigned[i] = true;
        Ok(())
    }
}

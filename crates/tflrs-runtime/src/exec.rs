//! Execution: running a subgraph's kernels, and the services control-flow kernels call.

use crate::plan::{Exec, SubgraphPlan};
use crate::variables::State;
use crate::{Error, Limits};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::ops::Range;
use tflrs_kernels::{Device, KernelError, KernelIo, Parallel, Services, TensorMut, TensorRef};

/// Watches [`Interpreter::invoke_observed`](crate::Interpreter::invoke_observed) step by step,
/// for profiling (as LiteRT's op profiling does; `tflrs bench --profile` times each step).
///
/// A step is one node of the main subgraph that runs a kernel, or a device partition's nodes;
/// nodes the runtime aliases run nothing and are not reported, and subgraphs that control flow
/// runs are inside their calling node's step. The calls must not allocate if the invoke is to
/// stay allocation-free.
pub trait StepObserver {
    /// Called before the step of main-subgraph nodes `nodes` runs.
    fn before(&mut self, nodes: Range<usize>);
    /// Called after it ran (not when it failed).
    fn after(&mut self, nodes: Range<usize>);
}

/// Runs subgraph `index` of `plans`, taking its plan out of its slot for the duration so that
/// kernels may run other subgraphs (control flow) through [`Services`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_subgraph(
    plans: &mut [Option<Box<SubgraphPlan>>],
    state: &mut State,
    devices: &mut [Box<dyn Device>],
    index: usize,
    depth: usize,
    limits: &Limits,
    parallel: Option<&dyn Parallel>,
    observer: Option<&mut dyn StepObserver>,
) -> Result<(), Error> {
    let mut plan = plans
        .get_mut(index)
        .and_then(Option::take)
        .ok_or(Error::NoSubgraph { subgraph: index })?;
    let result = run_nodes(
        &mut plan, plans, state, devices, index, depth, limits, parallel, observer,
    );
    plans[index] = Some(plan);
    result
}

#[allow(clippy::too_many_arguments)]
fn run_nodes(
    plan: &mut SubgraphPlan,
    plans: &mut [Option<Box<SubgraphPlan>>],
    state: &mut State,
    devices: &mut [Box<dyn Device>],
    index: usize,
    depth: usize,
    limits: &Limits,
    parallel: Option<&dyn Parallel>,
    mut observer: Option<&mut dyn StepObserver>,
) -> Result<(), Error> {
    let arena_ptr = plan.arena_ptr();
    let mut n = 0;
    while n < plan.nodes.len() {
        let node = &mut plan.nodes[n];
        match &mut node.exec {
            Exec::Alias => {}
            Exec::Partition(p) => {
                let p = *p;
                let range = plan.partitions[p].range.clone();
                if let Some(o) = observer.as_deref_mut() {
                    o.before(range.clone());
                }
                run_partition(plan, devices, index, p)?;
                if let Some(o) = observer.as_deref_mut() {
                    o.after(range.clone());
                }
                n = range.end;
                continue;
            }
            Exec::Kernel(kernel) => {
                if let Some(o) = observer.as_deref_mut() {
                    o.before(n..n + 1);
                }
                let (offset, len) = node.scratch;
                // SAFETY: the scratch range was placed inside the arena by the layout, alive
                // only during this node's step, so no tensor this node reads or writes
                // overlaps it.
                let scratch =
                    unsafe { core::slice::from_raw_parts_mut(arena_ptr.add(offset), len) };
                let mut services = SubgraphServices {
                    plans: &mut *plans,
                    state: &mut *state,
                    devices: &mut *devices,
                    depth,
                    limits,
                    parallel,
                };
                // SAFETY: the planner gave every tensor alive at this step its own arena range
                // (lifetimes of a node's inputs and outputs intersect at this step, so they do
                // not overlap); constants are never written; an input marked writable is a
                // variable in its own persistent buffer that no other input slot or output of
                // the node names; `tensors` outlives the call.
                let mut io =
                    unsafe { KernelIo::new(&node.inputs, &node.outputs, scratch, &mut services) }
                        .with_parallel(parallel);
                kernel.run(&mut io).map_err(|e| Error::Kernel {
                    subgraph: index,
                    node: n,
                    op: node.op.clone(),
                    source: e,
                })?;
                if let Some(o) = observer.as_deref_mut() {
                    o.after(n..n + 1);
                }
            }
        }
        n += 1;
    }
    Ok(())
}

/// Runs partition `p` of subgraph `index`: its inputs to the device, its kernel, its outputs
/// back to the host.
fn run_partition(
    plan: &mut SubgraphPlan,
    devices: &mut [Box<dyn Device>],
    index: usize,
    p: usize,
) -> Result<(), Error> {
    let d = plan.partitions[p].device;
    let device = &mut *devices[d];
    let fail = |device: &dyn Device, t: usize, e: KernelError| Error::Transfer {
        subgraph: index,
        tensor: t,
        device: device.name().into(),
        source: e,
    };
    for &(t, buffer) in &plan.partitions[p].uploads {
        let src = plan
            .bytes(t)
            .ok_or_else(|| fail(device, t, KernelError::invalid("no host bytes".into())))?;
        device.upload(buffer, src).map_err(|e| fail(device, t, e))?;
    }
    plan.partitions[p]
        .kernel
        .run(device)
        .map_err(|e| Error::Kernel {
            subgraph: index,
            node: e.node,
            op: plan
                .nodes
                .get(e.node)
                .map_or_else(String::new, |n| n.op.clone()),
            source: e.source,
        })?;
    for k in 0..plan.partitions[p].downloads.len() {
        let (t, buffer) = plan.partitions[p].downloads[k];
        let dst = plan
            .bytes_mut(t)
            .ok_or_else(|| fail(device, t, KernelError::invalid("no host bytes".into())))?;
        device
            .download(buffer, dst)
            .map_err(|e| fail(device, t, e))?;
    }
    Ok(())
}

/// [`Services`] of a running subgraph: the other subgraphs' plans, the variables.
pub(crate) struct SubgraphServices<'p> {
    plans: &'p mut [Option<Box<SubgraphPlan>>],
    state: &'p mut State,
    devices: &'p mut [Box<dyn Device>],
    depth: usize,
    limits: &'p Limits,
    parallel: Option<&'p dyn Parallel>,
}

impl SubgraphServices<'_> {
    pub(crate) fn plan(&mut self, index: usize) -> Result<&mut SubgraphPlan, KernelError> {
        self.plans
            .get_mut(index)
            .and_then(|p| p.as_deref_mut())
            .ok_or_else(|| {
                KernelError::invalid(format!("subgraph {index} is missing or already running"))
            })
    }
}

impl Services for SubgraphServices<'_> {
    fn run_subgraph(
        &mut self,
        index: usize,
        inputs: &[TensorRef<'_>],
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), KernelError> {
        let plan = self.plan(index)?;
        if inputs.len() != plan.inputs.len() || outputs.len() != plan.outputs.len() {
            return Err(KernelError::invalid(format!(
                "subgraph {index} takes {} inputs and {} outputs, called with {} and {}",
                plan.inputs.len(),
                plan.outputs.len(),
                inputs.len(),
                outputs.len()
            )));
        }
        for (k, src) in inputs.iter().enumerate() {
            let dst = self.subgraph_input(index, k)?;
            if dst.bytes.len() != src.bytes.len() {
                return Err(KernelError::invalid(format!(
                    "subgraph {index} input {k} holds {} bytes, given {}",
                    dst.bytes.len(),
                    src.bytes.len()
                )));
            }
            dst.bytes.copy_from_slice(src.bytes);
        }
        self.invoke_subgraph(index)?;
        for (k, dst) in outputs.iter_mut().enumerate() {
            let src = self.subgraph_output(index, k)?;
            if dst.bytes.len() != src.bytes.len() {
                return Err(KernelError::invalid(format!(
                    "subgraph {index} output {k} holds {} bytes, expected {}",
                    src.bytes.len(),
                    dst.bytes.len()
                )));
            }
            dst.bytes.copy_from_slice(src.bytes);
        }
        Ok(())
    }

    fn subgraph_input(&mut self, index: usize, k: usize) -> Result<TensorMut<'_>, KernelError> {
        let plan = self.plan(index)?;
        let t = *plan
            .inputs
            .get(k)
            .ok_or_else(|| KernelError::invalid(format!("subgraph {index} has no input {k}")))?;
        plan.tensor_mut(t).ok_or_else(|| {
            KernelError::invalid(format!("subgraph {index} input {k} is not writable"))
        })
    }

    fn invoke_subgraph(&mut self, index: usize) -> Result<(), KernelError> {
        if self.depth + 1 > self.limits.max_call_depth {
            return Err(KernelError::invalid(format!(
                "subgraph calls nest deeper than {}",
                self.limits.max_call_depth
            )));
        }
        run_subgraph(
            self.plans,
            self.state,
            self.devices,
            index,
            self.depth + 1,
            self.limits,
            self.parallel,
            None,
        )
        .map_err(|e| KernelError::invalid(format!("in subgraph {index}: {e}")))
    }

    fn subgraph_output(&mut self, index: usize, k: usize) -> Result<TensorRef<'_>, KernelError> {
        let plan: &SubgraphPlan = self.plan(index)?;
        let t = *plan
            .outputs
            .get(k)
            .ok_or_else(|| KernelError::invalid(format!("subgraph {index} has no output {k}")))?;
        let bytes = plan.bytes(t).ok_or_else(|| {
            KernelError::invalid(format!("subgraph {index} output {k} has no data"))
        })?;
        Ok(TensorRef {
            info: &plan.tensors[t],
            bytes,
        })
    }

    fn variable_id(&mut self, container: &str, shared_name: &str) -> Result<i32, KernelError> {
        self.state.vars.id(container, shared_name)
    }

    fn variable(&mut self, id: i32) -> Result<Option<TensorRef<'_>>, KernelError> {
        self.state.vars.get(id)
    }

    fn assign_variable(&mut self, id: i32, value: TensorRef<'_>) -> Result<(), KernelError> {
        self.state.vars.assign(id, value)
    }

    fn initialized(&self, index: usize) -> bool {
        self.state.initialized.get(index).copied().unwrap_or(false)
    }

    fn set_initialized(&mut self, index: usize) {
        if let Some(done) = self.state.initialized.get_mut(index) {
            *done = true;
        }
    }

    fn max_loop_iterations(&self) -> u64 {
        self.limits.max_loop_iterations
    }
}

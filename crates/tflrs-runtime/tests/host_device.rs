//! The device plumbing, through the device-owning test backend (`host_device`): partitions
//! claimed over consecutive nodes, transfers only at their edges, outputs identical to the
//! scalar backend's.
// Claims are lists of node ranges; a list of one range is meant.
#![allow(clippy::single_range_in_vec_init)]

use std::collections::BTreeSet;
use std::ops::Range;
use tflrs_kernels::{Backend, Device, Kernel, KernelError, NodeCtx, PartitionCtx, PartitionKernel};
use tflrs_runtime::host_device::HostDeviceBackend;
use tflrs_runtime::{Direction, Error, Interpreter, Model};
use tflrs_testdata::{Case, manifest};

/// Fills the case's inputs (resizing where the case's shape differs).
fn feed(interp: &mut Interpreter<'_>, case: &Case) {
    for (i, input) in case.inputs.iter().enumerate() {
        if interp.input_info(i).unwrap().shape != input.shape {
            interp.resize_input(i, &input.shape).unwrap();
        }
        interp
            .input_bytes_mut(i)
            .unwrap()
            .copy_from_slice(&input.data);
    }
}

/// The outputs' bytes after each of two invokes (state carries over between them), with
/// `backend` in front of the scalar one.
fn outputs(model: &Model<'_>, case: &Case, backend: Option<HostDeviceBackend>) -> Vec<Vec<u8>> {
    let mut builder = Interpreter::builder(model).reference_kernels(true);
    if let Some(b) = backend {
        builder = builder.backend(b);
    }
    let mut interp = builder
        .build()
        .unwrap_or_else(|e| panic!("{}: {e}", case.name()));
    feed(&mut interp, case);
    let mut out = Vec::new();
    for _ in 0..2 {
        interp
            .invoke()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name()));
        out.extend((0..interp.num_outputs()).map(|k| interp.output_bytes(k).unwrap().to_vec()));
    }
    out
}

/// Operators that split the test models into several partitions with host nodes between.
const SOME_OPS: [&str; 4] = ["CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "QUANTIZE"];

#[test]
fn outputs_equal_the_scalar_backends_on_testdata_models() {
    for name in [
        "cnn_small_float32",
        "cnn_small_int8",
        "mlp_int8",
        "mlp_float32",
        "kws_dscnn_int8",
        "lstm_small_float32",
    ] {
        let case = Case::load(name).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let scalar = outputs(&model, &case, None);
        let all = outputs(&model, &case, Some(HostDeviceBackend::new()));
        assert_eq!(all, scalar, "{name}: whole model on the device");
        let some = outputs(&model, &case, Some(HostDeviceBackend::with_ops(SOME_OPS)));
        assert_eq!(some, scalar, "{name}: some operators on the device");
    }
}

#[test]
fn every_passing_case_gives_the_scalar_outputs_on_the_device() {
    let manifest = manifest().unwrap();
    let gaps = tflrs_testdata::conformance::known_gaps("host-device").unwrap();
    let root = tflrs_testdata::testdata_dir();
    let mut claimed = 0;
    for entry in &manifest.cases {
        if gaps.contains(&entry.name) {
            continue;
        }
        let case = Case::from_entry(&root, entry).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let scalar = outputs(&model, &case, None);
        let device = outputs(&model, &case, Some(HostDeviceBackend::new()));
        assert_eq!(device, scalar, "{}", entry.name);
        let interp = Interpreter::builder(&model)
            .reference_kernels(true)
            .backend(HostDeviceBackend::new())
            .build()
            .unwrap();
        claimed += usize::from(!interp.partition_report().is_empty());
    }
    assert!(claimed > 100, "only {claimed} cases had a partition");
}

/// The tensors that cross the edges of nodes `range` of the main subgraph, worked out from
/// the graph: what the nodes read that they do not make (constants excepted), and what they
/// make that a node outside them reads or the subgraph returns.
fn edge_tensors(model: &Model<'_>, range: Range<usize>) -> (BTreeSet<usize>, BTreeSet<usize>) {
    let sg = model.graph().main().unwrap();
    let inside = &sg.nodes[range.clone()];
    let made: BTreeSet<usize> = inside
        .iter()
        .flat_map(|n| n.outputs.iter().map(|v| v.index()))
        .collect();
    let read_in: BTreeSet<usize> = inside
        .iter()
        .flat_map(|n| n.inputs.iter().flatten().map(|v| v.index()))
        .filter(|t| !made.contains(t) && sg.values[*t].data.is_none())
        .collect();
    let read_out: BTreeSet<usize> = sg
        .nodes
        .iter()
        .enumerate()
        .filter(|(n, _)| !range.contains(n))
        .flat_map(|(_, n)| n.inputs.iter().flatten().map(|v| v.index()))
        .chain(sg.outputs.iter().map(|v| v.index()))
        .filter(|t| made.contains(t))
        .collect();
    (read_in, read_out)
}

#[test]
fn the_plan_shows_partitions_and_exactly_the_edge_transfers() {
    let cases: [(&str, &[&str], usize); 3] = [
        ("cnn_small_float32", &SOME_OPS, 5),
        ("kws_dscnn_int8", &["CONV_2D", "RESHAPE", "SOFTMAX"], 7),
        ("mlp_int8", &["FULLY_CONNECTED"], 1),
    ];
    for (name, ops, n_partitions) in cases {
        let case = Case::load(name).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let interp = Interpreter::builder(&model)
            .reference_kernels(true)
            .backend(HostDeviceBackend::with_ops(ops.iter().copied()))
            .build()
            .unwrap();
        let partitions = interp.partition_report();
        assert_eq!(partitions.len(), n_partitions, "{name}: {partitions:?}");
        let report = interp.plan_report();
        for entry in &report {
            let claimed = ops.contains(&entry.op.as_str());
            assert_eq!(entry.partition.is_some(), claimed, "{name}: {entry:?}");
            let backend = if claimed { "host-device" } else { "scalar" };
            assert_eq!(entry.backend, backend, "{name}: {entry:?}");
        }
        let transfers = interp.transfer_report();
        let mut previous_end = 0;
        for p in &partitions {
            assert_eq!(
                (p.backend.as_str(), p.device.as_str()),
                ("host-device", "host-device")
            );
            assert!(p.nodes.start >= previous_end && p.nodes.start < p.nodes.end);
            previous_end = p.nodes.end;
            // Runs are maximal: the nodes around a partition are not claimed ones.
            for edge in [p.nodes.start.checked_sub(1), Some(p.nodes.end)] {
                if let Some(e) = edge.filter(|&e| e < report.len()) {
                    assert!(
                        report[e].partition.is_none(),
                        "{name}: node {e} next to {p:?}"
                    );
                }
            }
            let (ins, outs) = edge_tensors(&model, p.nodes.clone());
            let listed = |d: Direction| -> BTreeSet<usize> {
                transfers
                    .iter()
                    .filter(|t| t.partition == p.index && t.direction == d)
                    .map(|t| t.tensor)
                    .collect()
            };
            assert_eq!(listed(Direction::ToDevice), ins, "{name}: uploads of {p:?}");
            assert_eq!(
                listed(Direction::ToHost),
                outs,
                "{name}: downloads of {p:?}"
            );
        }
        let per_partition: usize = partitions
            .iter()
            .map(|p| {
                let (i, o) = edge_tensors(&model, p.nodes.clone());
                i.len() + o.len()
            })
            .sum();
        assert_eq!(
            transfers.len(),
            per_partition,
            "{name}: no transfer is listed twice"
        );
        let sg = model.graph().main().unwrap();
        for t in &transfers {
            let v = &sg.values[t.tensor];
            let elements: usize = v.shape.dims.iter().map(|&d| d as usize).product();
            assert_eq!(
                Some(t.bytes as u64),
                v.dtype.bytes_for(elements as u64),
                "{name}: {t:?}"
            );
        }
    }
}

#[test]
fn transfer_counters_after_an_invoke_equal_the_plans_transfers() {
    let case = Case::load("cnn_small_float32").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let backend = HostDeviceBackend::with_ops(SOME_OPS);
    let counters = backend.counters();
    let mut interp = Interpreter::builder(&model)
        .reference_kernels(true)
        .backend(backend)
        .build()
        .unwrap();
    feed(&mut interp, &case);
    let transfers = interp.transfer_report();
    let (ups, downs): (Vec<_>, Vec<_>) = transfers
        .iter()
        .partition(|t| t.direction == Direction::ToDevice);
    assert!(!ups.is_empty() && !downs.is_empty());
    for round in 1..=2 {
        let before = (
            counters.uploads(),
            counters.downloads(),
            counters.uploaded_bytes(),
            counters.downloaded_bytes(),
        );
        interp.invoke().unwrap();
        assert_eq!(counters.uploads() - before.0, ups.len(), "invoke {round}");
        assert_eq!(
            counters.downloads() - before.1,
            downs.len(),
            "invoke {round}"
        );
        let up_bytes: usize = ups.iter().map(|t| t.bytes).sum();
        let down_bytes: usize = downs.iter().map(|t| t.bytes).sum();
        assert_eq!(counters.uploaded_bytes() - before.2, up_bytes);
        assert_eq!(counters.downloaded_bytes() - before.3, down_bytes);
    }
}

#[test]
fn a_whole_model_partition_moves_only_inputs_and_outputs_and_needs_less_arena() {
    let case = Case::load("cnn_small_float32").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let scalar = Interpreter::new(&model).unwrap();
    let interp = Interpreter::builder(&model)
        .reference_kernels(true)
        .backend(HostDeviceBackend::new())
        .build()
        .unwrap();
    let n = model.graph().main().unwrap().nodes.len();
    let partitions = interp.partition_report();
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0].nodes, 0..n);
    let transfers = interp.transfer_report();
    let moved = |d: Direction| -> Vec<String> {
        transfers
            .iter()
            .filter(|t| t.direction == d)
            .map(|t| t.name.clone())
            .collect()
    };
    let names = |k: usize, input: bool| -> Vec<String> {
        (0..k)
            .map(|i| {
                let info = if input {
                    interp.input_info(i)
                } else {
                    interp.output_info(i)
                };
                info.unwrap().name.clone()
            })
            .collect()
    };
    assert_eq!(moved(Direction::ToDevice), names(interp.num_inputs(), true));
    assert_eq!(moved(Direction::ToHost), names(interp.num_outputs(), false));
    // Internal tensors live on the device only: the host arena holds the input and output.
    let edge_bytes: usize = transfers.iter().map(|t| t.bytes).sum();
    assert!(
        interp.arena_bytes() <= edge_bytes + 64,
        "{}",
        interp.arena_bytes()
    );
    assert!(interp.arena_bytes() < scalar.arena_bytes());
}

/// A backend that claims what it is told, on a host device.
struct Claims(Vec<Range<usize>>);

impl Backend for Claims {
    fn name(&self) -> &str {
        "claims"
    }
    fn kernel_for(&self, _: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
        Ok(None)
    }
    fn device(&self) -> Option<Box<dyn Device>> {
        HostDeviceBackend::new().device()
    }
    fn claim(&self, _: &[NodeCtx<'_>]) -> Result<Vec<Range<usize>>, KernelError> {
        Ok(self.0.clone())
    }
    fn partition_kernel(
        &self,
        device: &mut dyn Device,
        part: &PartitionCtx<'_>,
    ) -> Result<Box<dyn PartitionKernel>, KernelError> {
        HostDeviceBackend::new().partition_kernel(device, part)
    }
}

#[test]
fn bad_claims_are_refused_and_a_later_backends_overlap_is_dropped() {
    let case = Case::load("cnn_small_float32").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let bad_claims: [Vec<Range<usize>>; 3] = [vec![0..2, 1..3], vec![2..2], vec![0..1000]];
    for bad in bad_claims {
        let err = Interpreter::builder(&model)
            .reference_kernels(true)
            .backend(Claims(bad.clone()))
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Partition { .. }), "{bad:?}: {err}");
    }
    // The first backend's claim wins; the second's overlapping range is dropped, its other one
    // kept.
    let interp = Interpreter::builder(&model)
        .reference_kernels(true)
        .backend(Claims(vec![1..3]))
        .backend(Claims(vec![0..2, 4..5]))
        .build()
        .unwrap();
    let got: Vec<(Range<usize>, String)> = interp
        .partition_report()
        .into_iter()
        .map(|p| (p.nodes, p.backend))
        .collect();
    assert_eq!(got, vec![(1..3, "claims".into()), (4..5, "claims".into())]);
    let scalar = outputs(&model, &case, None);
    let mut interp = interp;
    feed(&mut interp, &case);
    interp.invoke().unwrap();
    assert_eq!(interp.output_bytes(0).unwrap(), scalar[0].as_slice());
    assert!(
        scalar[0] == scalar[1],
        "a stateless model gives the same output twice"
    );
}

//! `invoke()` allocates nothing: a counting global allocator watches every invoke of every
//! testdata case that passes (tflrs-testdata's known_gaps/scalar.txt lists the others), and of graphs with
//! control flow and variables; and a model refused by the limits is refused before its
//! tensors are allocated.

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tflrs_ir::{
    CallOnceAttrs, DType, GraphBuilder, IfAttrs, Op, Value, VarHandleAttrs, WhileAttrs,
};
use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::{Case, manifest};

/// Counts the allocations (and their bytes) of the threads that ask for it, so that tests
/// running in parallel do not disturb each other.
struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ON.try_with(|on| {
        if on.get() {
            ALLOCS.with(|a| a.set(a.get() + 1));
            BYTES.with(|b| b.set(b.get() + size));
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only
// const-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning the number of allocations and bytes it made on this thread.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    ALLOCS.with(|a| a.set(0));
    BYTES.with(|b| b.set(0));
    ON.with(|on| on.set(true));
    let out = f();
    ON.with(|on| on.set(false));
    (out, ALLOCS.with(Cell::get), BYTES.with(Cell::get))
}

#[test]
fn invoke_allocates_nothing_on_passing_testdata_cases() {
    let manifest = manifest().expect("testdata/manifest.json loads");
    let gaps = tflrs_testdata::conformance::known_gaps("scalar").unwrap();
    let root = tflrs_testdata::testdata_dir();
    let mut checked = 0;
    let mut allocating = Vec::new();
    for entry in &manifest.cases {
        if gaps.contains(&entry.name) {
            continue;
        }
        let case = Case::from_entry(&root, entry).expect("case files load");
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let mut interp = Interpreter::new(&model).unwrap();
        for (i, input) in case.inputs.iter().enumerate() {
            if interp.input_info(i).unwrap().shape != input.shape {
                interp.resize_input(i, &input.shape).unwrap();
            }
            interp
                .input_bytes_mut(i)
                .unwrap()
                .copy_from_slice(&input.data);
        }
        // The first invoke (which runs CALL_ONCE initializers) and a later one. A model with
        // inputs that decide shapes (FILL dims given as an input) plans again on the first
        // invoke, which allocates, as resize_input does; the later one must not.
        let replans = !interp.shape_inputs().is_empty();
        for round in 0..2 {
            let (result, allocs, bytes) = counted(|| interp.invoke());
            result.unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            if allocs != 0 && !(replans && round == 0) {
                allocating.push(format!(
                    "{} (invoke {round}): {allocs} allocations, {bytes} bytes",
                    entry.name
                ));
            }
        }
        checked += 1;
    }
    println!("{checked} cases invoked without allocating");
    assert!(checked > 0, "no passing case to check");
    assert!(
        allocating.is_empty(),
        "invoke allocated:\n{}",
        allocating.join("\n")
    );
}

#[test]
fn invoke_allocates_nothing_with_a_device_backend() {
    use tflrs_runtime::host_device::HostDeviceBackend;
    let whole = || HostDeviceBackend::new();
    let some = || HostDeviceBackend::with_ops(["CONV_2D", "FULLY_CONNECTED", "RESHAPE"]);
    let backends: [&dyn Fn() -> HostDeviceBackend; 2] = [&whole, &some];
    for name in [
        "cnn_small_float32",
        "mlp_int8",
        "kws_dscnn_int8",
        "lstm_small_float32",
    ] {
        let case = Case::load(name).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        for make in backends {
            let mut interp = Interpreter::builder(&model)
                .backend(make())
                .build()
                .unwrap();
            assert!(
                !interp.partition_report().is_empty(),
                "{name}: no partition"
            );
            assert!(!interp.transfer_report().is_empty(), "{name}: no transfer");
            for (i, input) in case.inputs.iter().enumerate() {
                interp
                    .input_bytes_mut(i)
                    .unwrap()
                    .copy_from_slice(&input.data);
            }
            for round in 0..2 {
                let (result, allocs, bytes) = counted(|| interp.invoke());
                result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    (allocs, bytes),
                    (0, 0),
                    "{name} (invoke {round}) allocated with partitions"
                );
            }
        }
    }
}

#[test]
fn invoke_allocates_nothing_with_control_flow_and_variables() {
    // main(i, x, c): CALL_ONCE(init); acc = READ(acc); WHILE(i < 3) { i += 1; x = x*0.5+1 };
    // y = IF(c) { Double(x) } else { Neg(x) }; ASSIGN(acc, Half(acc)).
    let mut b = GraphBuilder::new();
    let i = b.input("i", DType::Int32, Vec::<i32>::new());
    let x = b.input("x", DType::Float32, [8]);
    let c = b.input("c", DType::Bool, [1]);
    b.node(
        Op::CallOnce(CallOnceAttrs {
            init_subgraph_index: 4,
        }),
        &[],
        &[],
    );
    let handle = || {
        Op::VarHandle(VarHandleAttrs {
            container: Some("box".into()),
            shared_name: Some("acc".into()),
        })
    };
    let h = b.value(Value::new("h", DType::Resource, Vec::<i32>::new()));
    b.node(handle(), &[], &[h]);
    let acc = value_like(&mut b, "acc", x);
    b.node(Op::ReadVariable, &[Some(h)], &[acc]);
    let i2 = value_like(&mut b, "i2", i);
    let x2 = value_like(&mut b, "x2", x);
    b.node(
        Op::While(WhileAttrs {
            cond_subgraph_index: 1,
            body_subgraph_index: 2,
        }),
        &[Some(i), Some(x)],
        &[i2, x2],
    );
    let y = value_like(&mut b, "y", x);
    b.node(
        Op::If(IfAttrs {
            then_subgraph_index: 3,
            else_subgraph_index: 3,
        }),
        &[Some(c), Some(x2)],
        &[y],
    );
    let acc2 = custom(&mut b, "Half", &[acc], acc);
    b.node(Op::AssignVariable, &[Some(h), Some(acc2)], &[]);
    b.output(y);
    b.output(acc2);

    b.subgraph("cond");
    let ci = b.input("ci", DType::Int32, Vec::<i32>::new());
    b.input("cx", DType::Float32, [8]);
    let three = b.constant_i32("three", Vec::<i32>::new(), &[3]);
    let cc = custom_out(&mut b, "Less", &[ci, three], DType::Bool, vec![]);
    b.output(cc);
    b.subgraph("body");
    let bi = b.input("bi", DType::Int32, Vec::<i32>::new());
    let bx = b.input("bx", DType::Float32, [8]);
    let bi2 = custom(&mut b, "Incr", &[bi], bi);
    let bx2 = custom(&mut b, "Half", &[bx], bx);
    b.output(bi2);
    b.output(bx2);
    b.subgraph("branch");
    let t = b.input("t", DType::Float32, [8]);
    let t2 = custom(&mut b, "Double", &[t], t);
    b.output(t2);
    b.subgraph("init");
    let h2 = b.value(Value::new("h2", DType::Resource, Vec::<i32>::new()));
    b.node(handle(), &[], &[h2]);
    let zeros = b.constant_f32("zeros", [8], &[0.0; 8]);
    b.node(Op::AssignVariable, &[Some(h2), Some(zeros)], &[]);

    let model = Model::from_graph(b.finish_unchecked());
    let mut interp = with_test_ops(Interpreter::builder(&model)).build().unwrap();
    interp.input_bytes_mut(2).unwrap()[0] = 1;
    let mut acc = 0.0f32;
    for round in 0..3 {
        let (result, allocs, bytes) = counted(|| interp.invoke());
        result.unwrap();
        assert_eq!(
            (allocs, bytes),
            (0, 0),
            "invoke {round} allocated {allocs} times"
        );
        acc = acc * 0.5 + 1.0;
        assert_eq!(interp.output::<f32>(1).unwrap(), [acc; 8]);
        assert_eq!(interp.output::<f32>(0).unwrap(), [3.5; 8]);
    }
}

#[test]
fn limits_refuse_before_allocating_tensors() {
    // A 3 GiB input and its 3 GiB output: 6 GiB of tensors, over the default 4 GiB budget.
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [3 << 28]);
    let y = custom(&mut b, "Half", &[x], x);
    b.output(y);
    let model = Model::from_graph(b.finish_unchecked());
    let (result, _, bytes) = counted(|| with_test_ops(Interpreter::builder(&model)).build());
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("memory for tensors"), "{msg}");
    assert!(bytes < 1 << 20, "a refused build allocated {bytes} bytes");
}

/// Records the steps `invoke_observed` reports into a buffer reserved beforehand, so that
/// observing allocates nothing either.
struct Steps {
    seen: Vec<(bool, std::ops::Range<usize>)>,
}

impl tflrs_runtime::StepObserver for Steps {
    fn before(&mut self, nodes: std::ops::Range<usize>) {
        if self.seen.len() < self.seen.capacity() {
            self.seen.push((true, nodes));
        }
    }
    fn after(&mut self, nodes: std::ops::Range<usize>) {
        if self.seen.len() < self.seen.capacity() {
            self.seen.push((false, nodes));
        }
    }
}

/// The SIMD backend's kernels (and the profiling hook) keep `invoke` allocation-free; the
/// observer sees every main-subgraph node that runs a kernel once, in order, before and after,
/// and a device partition as one step.
#[test]
fn invoke_allocates_nothing_with_the_simd_backend_and_an_observer() {
    use tflrs_runtime::host_device::HostDeviceBackend;
    use tflrs_simd::SimdBackend;
    for name in [
        "mobilenet_v2_035_96_float32",
        "kws_dscnn_float32",
        "cnn_small_float32",
        "mlp_float32",
        "lstm_small_float32",
    ] {
        let case = Case::load(name).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        for device in [false, true] {
            let mut builder = Interpreter::builder(&model).backend(SimdBackend::new());
            if device {
                builder = builder.backend(HostDeviceBackend::with_ops(["ADD", "MEAN", "SOFTMAX"]));
            }
            let mut interp = builder.build().unwrap();
            for (i, input) in case.inputs.iter().enumerate() {
                interp
                    .input_bytes_mut(i)
                    .unwrap()
                    .copy_from_slice(&input.data);
            }
            let report = interp.plan_report();
            let main: Vec<_> = report.iter().filter(|e| e.subgraph == 0).collect();
            let mut steps = Steps {
                seen: Vec::with_capacity(4 * main.len() + 8),
            };
            for round in 0..2 {
                steps.seen.clear();
                let (result, allocs, bytes) = counted(|| interp.invoke_observed(&mut steps));
                result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!((allocs, bytes), (0, 0), "{name} (invoke {round}) allocated");
            }
            // Expected steps: each partition once, each other non-alias node once, in order.
            let mut expected = Vec::new();
            for e in &main {
                match e.partition {
                    Some(p) => {
                        let part = &interp.partition_report()[p];
                        if part.nodes.start == e.node {
                            expected.push(part.nodes.clone());
                        }
                    }
                    None if e.kernel != "alias__runtime" => expected.push(e.node..e.node + 1),
                    None => {}
                }
            }
            let got: Vec<_> = steps
                .seen
                .chunks(2)
                .map(|pair| {
                    assert!(
                        pair[0].0 && !pair[1].0 && pair[0].1 == pair[1].1,
                        "{pair:?}"
                    );
                    pair[0].1.clone()
                })
                .collect();
            assert_eq!(got, expected, "{name} (device partitions: {device})");
            assert!(
                report
                    .iter()
                    .any(|e| e.backend == SimdBackend::new().isa().name()),
                "{name}: the SIMD backend planned nothing"
            );
        }
    }
}

/// With a worker pool (`threads(2)`), `invoke` allocates nothing on the calling thread (the
/// pool was made at build time; its workers take tasks from the caller's closure, and the
/// split kernels' per-thread scratch is in the arena).
#[test]
fn invoke_allocates_nothing_with_two_threads() {
    for name in ["mobilenet_v2_035_96_float32", "mobilenet_v2_035_96_int8"] {
        let case = Case::load(name).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let mut interp = Interpreter::builder(&model).threads(2).build().unwrap();
        for (i, input) in case.inputs.iter().enumerate() {
            interp
                .input_bytes_mut(i)
                .unwrap()
                .copy_from_slice(&input.data);
        }
        for round in 0..3 {
            let (result, allocs, bytes) = counted(|| interp.invoke());
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((allocs, bytes), (0, 0), "{name} (invoke {round}) allocated");
        }
    }
}

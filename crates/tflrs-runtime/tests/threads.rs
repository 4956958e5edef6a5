//! `InterpreterBuilder::threads`: the worker pool changes no output byte of an integer model
//! (and no bit of a float one: every output element is computed by one thread, in the serial
//! order), and invoke stays allocation-free with it.

use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::Case;

/// Every output's bytes after one invoke of `case` with `threads` threads (the default
/// backends: SIMD, then scalar).
fn outputs(case: &Case, model: &Model<'_>, threads: usize) -> Vec<Vec<u8>> {
    let mut interp = Interpreter::builder(model)
        .threads(threads)
        .build()
        .unwrap();
    assert_eq!(interp.threads(), threads);
    for (i, input) in case.inputs.iter().enumerate() {
        interp
            .input_bytes_mut(i)
            .unwrap()
            .copy_from_slice(&input.data);
    }
    // Twice: workers asleep before the first invoke, awake (spinning) for the second.
    let mut first = None;
    for _ in 0..2 {
        interp.invoke().unwrap();
        let out: Vec<Vec<u8>> = (0..interp.num_outputs())
            .map(|k| interp.output_bytes(k).unwrap().to_vec())
            .collect();
        if let Some(f) = &first {
            assert_eq!(f, &out, "{}: two invokes differ", case.entry.name);
        }
        first = Some(out);
    }
    first.unwrap()
}

#[test]
fn two_and_three_threads_give_the_same_bytes_as_one() {
    for name in [
        "mobilenet_v2_035_96_int8",
        "kws_dscnn_int8",
        "cnn_small_int8",
        "mobilenet_v2_035_96_float32",
    ] {
        let case = Case::load(name).unwrap();
        let bytes = case.model_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let one = outputs(&case, &model, 1);
        for threads in [2, 3] {
            assert_eq!(
                outputs(&case, &model, threads),
                one,
                "{name}, {threads} threads"
            );
        }
        if name.ends_with("int8") {
            // And those bytes are LiteRT's reference bytes.
            for (k, r) in case.ref_outputs.iter().enumerate() {
                assert_eq!(one[k], r.data, "{name} output {k}");
            }
        }
    }
}

#[test]
fn one_thread_makes_no_pool_and_zero_means_one() {
    let case = Case::load("mlp_int8").unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let interp = Interpreter::builder(&model).threads(0).build().unwrap();
    assert_eq!(interp.threads(), 1);
}

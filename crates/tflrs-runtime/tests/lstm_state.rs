//! UNIDIRECTIONAL_SEQUENCE_LSTM keeps its output and cell state in variable tensors, which the
//! interpreter lends to the kernel for writing: a second invoke on the same input continues
//! the sequence from where the first left it. The expected second outputs are LiteRT's
//! (`BUILTIN_REF`, the same interpreter invoked twice on the case's input).

use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::Case;

/// Runs `case` twice on its input; returns both outputs' bytes.
fn two_invokes(name: &str) -> (Case, Vec<u8>, Vec<u8>) {
    let case = Case::load(name).unwrap();
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut interp = Interpreter::new(&model).unwrap();
    let mut outs = Vec::new();
    for _ in 0..2 {
        interp
            .input_bytes_mut(0)
            .unwrap()
            .copy_from_slice(&case.inputs[0].data);
        interp.invoke().unwrap();
        outs.push(interp.output_bytes(0).unwrap().to_vec());
    }
    let second = outs.pop().unwrap();
    let first = outs.pop().unwrap();
    (case, first, second)
}

#[test]
fn int8_lstm_state_carries_to_the_next_invoke() {
    let (case, first, second) = two_invokes("op_unidirectional_sequence_lstm_i8");
    assert_eq!(
        first, case.ref_outputs[0].data,
        "first invoke (from the zero-point state)"
    );
    let second: Vec<i8> = second.iter().map(|&b| b as i8).collect();
    assert_eq!(
        second,
        [
            28, -96, -54, -9, 65, -84, -68, -18, 71, -56, -55, -20, 68, -66, -79, -21, 75, -128,
            -62, -59
        ]
    );
}

#[test]
fn float_lstm_state_carries_to_the_next_invoke() {
    let (_, first, second) = two_invokes("op_unidirectional_sequence_lstm_f32");
    assert_ne!(first, second);
    let second: Vec<f32> = second
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let want = [
        -0.20796004f32,
        0.27316645,
        -0.07142046,
        0.30403998,
        -0.20119819,
    ];
    for (k, (g, w)) in second.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5, "[{k}]: {g} vs {w}");
    }
}

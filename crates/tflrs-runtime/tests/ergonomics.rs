//! The library as a LiteRT user meets it: owned models and interpreters (kept in a struct,
//! returned from a function, sent to a thread), checked setters, dequantized reads, shape
//! signatures, `reset_variables` and the signature runner.

use std::path::Path;
use std::sync::Arc;
use tflrs_runtime::{DType, Error, Interpreter, Model, QuantScheme};
use tflrs_testdata::Case;

fn case(name: &str) -> Case {
    Case::load(name).unwrap_or_else(|e| panic!("case {name}: {e}"))
}

/// What a user writes first: a model and its interpreter, kept together in a struct.
struct Classifier {
    interp: Interpreter<'static>,
}

impl Classifier {
    fn load(path: &Path) -> Result<Classifier, Error> {
        Ok(Classifier {
            interp: Interpreter::new(Model::from_file(path)?)?,
        })
    }

    fn from_vec(bytes: Vec<u8>) -> Result<Classifier, Error> {
        let model = Model::from_vec(bytes)?;
        assert!(model.owns_bytes());
        Ok(Classifier {
            interp: Interpreter::builder(model).build()?,
        })
    }

    fn classify(&mut self, input: &[i8]) -> Result<Vec<i8>, Error> {
        self.interp.set_input(0, input)?;
        self.interp.invoke()?;
        Ok(self.interp.output::<i8>(0)?.to_vec())
    }
}

fn i8s(bytes: &[u8]) -> Vec<i8> {
    bytes.iter().map(|&b| b as i8).collect()
}

#[test]
fn owned_interpreter_lives_in_a_struct_returned_from_a_function() {
    let case = case("mlp_int8");
    let input = i8s(&case.inputs[0].data);
    let want = i8s(&case.ref_outputs[0].data);

    let mut from_file = Classifier::load(&case.model_path).unwrap();
    assert_eq!(from_file.classify(&input).unwrap(), want);

    // The bytes' first owner (this block's `Vec`) is gone, and its memory reused, before the
    // interpreter runs.
    let mut from_vec = {
        let bytes = std::fs::read(&case.model_path).unwrap();
        Classifier::from_vec(bytes).unwrap()
    };
    let scribble: Vec<Vec<u8>> = (0..64).map(|k| vec![k as u8; 4096]).collect();
    assert_eq!(from_vec.classify(&input).unwrap(), want);
    assert_eq!(from_vec.classify(&input).unwrap(), want, "second invoke");
    drop(scribble);

    // It moves like any value: into a Vec, to another thread.
    let mut many = [from_file, from_vec];
    let handle = std::thread::spawn(move || {
        many.iter_mut()
            .map(|c| c.classify(&input).unwrap())
            .collect::<Vec<_>>()
    });
    for got in handle.join().unwrap() {
        assert_eq!(got, want);
    }
}

#[test]
fn arc_bytes_and_an_arc_model_are_shared_by_threads() {
    let case = case("mlp_int8");
    let bytes: Arc<[u8]> = std::fs::read(&case.model_path).unwrap().into();
    let model = Arc::new(Model::from_arc(Arc::clone(&bytes)).unwrap());
    drop(bytes);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let mut interp = Interpreter::new(Arc::clone(&model)).unwrap();
            let case_input = case.inputs[0].data.clone();
            std::thread::spawn(move || {
                interp
                    .input_bytes_mut(0)
                    .unwrap()
                    .copy_from_slice(&case_input);
                interp.invoke().unwrap();
                interp.output_bytes(0).unwrap().to_vec()
            })
        })
        .collect();
    drop(model);
    for h in handles {
        assert_eq!(h.join().unwrap(), case.ref_outputs[0].data);
    }
}

#[test]
fn borrowed_models_stay_zero_copy_and_work_as_before() {
    let case = case("mlp_float32");
    let bytes = case.model_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    assert!(!model.owns_bytes());
    let mut interp = Interpreter::new(&model).unwrap();
    interp
        .set_input(0, bytemuck::cast_slice::<u8, f32>(&case.inputs[0].data))
        .unwrap();
    interp.invoke().unwrap();
    assert_eq!(interp.output_bytes(0).unwrap(), case.ref_outputs[0].data);
}

#[test]
fn a_missing_model_file_is_an_io_error() {
    let err = Model::from_file("/nonexistent/model.tflite").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/model.tflite"),
        "{err}"
    );
    let err = Model::from_vec(b"not a model".to_vec()).unwrap_err();
    assert!(matches!(err, Error::Load(_)), "{err:?}");
}

#[test]
fn set_input_refuses_a_wrong_length_or_type_and_leaves_the_input_alone() {
    let case = case("mlp_float32");
    let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
    let n = interp.input_info(0).unwrap().num_elements();
    interp.set_input(0, &vec![0.25f32; n]).unwrap();
    let before = interp.input_bytes_mut(0).unwrap().to_vec();

    match interp.set_input(0, &vec![1.0f32; n / 2]) {
        Err(Error::SizeMismatch {
            expected, given, ..
        }) => assert_eq!((expected, given), (n, n / 2)),
        other => panic!("short input: {other:?}"),
    }
    match interp.set_input(0, &vec![1.0f32; n + 1]) {
        Err(Error::SizeMismatch {
            expected, given, ..
        }) => assert_eq!((expected, given), (n, n + 1)),
        other => panic!("long input: {other:?}"),
    }
    match interp.set_input(0, &vec![1i8; n]) {
        Err(Error::DTypeMismatch {
            actual, requested, ..
        }) => assert_eq!((actual, requested), (DType::Float32, DType::Int8)),
        other => panic!("int8 into float32: {other:?}"),
    }
    assert!(matches!(
        interp.set_input(7, &vec![1.0f32; n]),
        Err(Error::NoSuchTensor { .. })
    ));
    let name = interp.input_info(0).unwrap().name.clone();
    assert!(matches!(
        interp.set_input_by_name(&name, &[1.0f32]),
        Err(Error::SizeMismatch { .. })
    ));
    assert!(matches!(
        interp.set_input_by_name("no such input", &vec![1.0f32; n]),
        Err(Error::NoSuchTensor { .. })
    ));
    assert_eq!(interp.input_bytes_mut(0).unwrap(), &before[..]);
    assert_eq!(
        interp.set_input_f32(0, &[1.0]).unwrap_err().to_string(),
        format!("tensor '{name}' holds {n} elements, 1 given")
    );
}

#[test]
fn output_f32_dequantizes_an_int8_output() {
    let case = case("mlp_int8");
    let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
    interp.set_input(0, &i8s(&case.inputs[0].data)).unwrap();
    interp.invoke().unwrap();
    let info = interp.output_info(0).unwrap().clone();
    assert_eq!(info.dtype, DType::Int8);
    let Some(QuantScheme::PerTensor { scale, zero_point }) =
        info.quant.as_ref().and_then(|q| q.scheme.clone())
    else {
        panic!(
            "mlp_int8's output is not per-tensor quantized: {:?}",
            info.quant
        );
    };
    let manual: Vec<f32> = i8s(&case.ref_outputs[0].data)
        .iter()
        .map(|&q| (f32::from(q) - zero_point as f32) * scale)
        .collect();
    assert_eq!(interp.output_f32(0).unwrap(), manual);
    assert_eq!(interp.output_f32_by_name(&info.name).unwrap(), manual);
    assert!(manual.iter().any(|&v| v != 0.0));
}

#[test]
fn output_f32_of_a_float_output_is_the_output() {
    let case = case("mlp_float32");
    let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
    interp
        .set_input(0, bytemuck::cast_slice::<u8, f32>(&case.inputs[0].data))
        .unwrap();
    interp.invoke().unwrap();
    assert_eq!(
        interp.output_f32(0).unwrap(),
        interp.output::<f32>(0).unwrap()
    );
}

#[test]
fn set_input_f32_quantizes_into_an_int8_input() {
    let case = case("mlp_int8");
    let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
    let info = interp.input_info(0).unwrap().clone();
    let (scale, zp) = info.per_tensor_quant().unwrap();
    let n = info.num_elements();
    // Values around the grid points, halfway cases, and values beyond the range.
    assert!(n >= 5, "{n} elements");
    let x: Vec<f32> = (0..n - 3)
        .map(|k| {
            let steps = k as f32 * 37.5 - 90.0;
            (steps - zp as f32) * scale
        })
        .chain([1e9, -1e9, f32::NAN])
        .collect();
    interp.set_input_f32(0, &x).unwrap();
    let want: Vec<i8> = x
        .iter()
        .map(|&v| {
            let q = if v.is_nan() { 0.0 } else { (v / scale).round() };
            (q + zp as f32).clamp(-128.0, 127.0) as i8
        })
        .collect();
    let got = i8s(interp.input_bytes_mut(0).unwrap());
    assert_eq!(got, want);
    assert!(got.contains(&-128) && got.contains(&127), "{got:?}");
}

#[test]
fn shape_signature_names_the_dynamic_batch() {
    let case = case("mlp_float32");
    let model = Model::from_file(&case.model_path).unwrap();
    let interp = Interpreter::new(&model).unwrap();
    let shape = &interp.input_info(0).unwrap().shape;
    let sig = interp.input_shape_signature(0).unwrap();
    assert_eq!(sig.len(), shape.len());
    assert_eq!(sig[0], None, "batch is dynamic: {sig:?}");
    assert_eq!(
        sig[1..],
        shape[1..].iter().map(|&d| Some(d)).collect::<Vec<_>>()
    );
    let out = interp.output_shape_signature(0).unwrap();
    assert_eq!(out.len(), interp.output_info(0).unwrap().shape.len());
    assert!(interp.input_shape_signature(3).is_err());
}

/// Invokes `interp` `n` times on `input`; output 0's bytes after each.
fn invokes(interp: &mut Interpreter<'_>, input: &[u8], n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            interp.input_bytes_mut(0).unwrap().copy_from_slice(input);
            interp.invoke().unwrap();
            interp.output_bytes(0).unwrap().to_vec()
        })
        .collect()
}

#[test]
fn reset_variables_restarts_resource_variables_and_call_once() {
    let case = case("op_var_handle_f32_accumulate");
    let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
    let input = &case.inputs[0].data;
    let before = invokes(&mut interp, input, 3);
    assert_ne!(before[0], before[1], "the state changes the output");
    interp.reset_variables();
    let after = invokes(&mut interp, input, 3);
    assert_eq!(after, before);
}

#[test]
fn reset_variables_restarts_an_lstm_state() {
    for name in [
        "op_unidirectional_sequence_lstm_i8",
        "op_unidirectional_sequence_lstm_f32",
    ] {
        let case = case(name);
        let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
        let input = &case.inputs[0].data;
        let before = invokes(&mut interp, input, 2);
        if name.ends_with("i8") {
            assert_eq!(before[0], case.ref_outputs[0].data, "{name}: first invoke");
        }
        assert_ne!(before[0], before[1], "{name}: the state changes the output");
        interp.reset_variables();
        assert_eq!(invokes(&mut interp, input, 2), before, "{name}");
    }
}

#[test]
fn signature_runner_sets_invokes_and_reads_by_signature_names() {
    let case = case("mlp_int8");
    let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
    let key = interp.signatures()[0].key.clone();
    let mut runner = interp.signature(&key).unwrap();
    let (inputs, outputs) = (runner.input_names(), runner.output_names());
    assert_eq!((inputs.len(), outputs.len()), (1, 1));
    let (x, y) = (inputs[0].to_owned(), outputs[0].to_owned());
    let input = i8s(&case.inputs[0].data);
    let got = runner
        .set(&x, &input)
        .unwrap()
        .invoke()
        .unwrap()
        .output::<i8>(&y)
        .unwrap()
        .to_vec();
    assert_eq!(got, i8s(&case.ref_outputs[0].data));
    let real = runner.output_f32(&y).unwrap();
    assert!(matches!(
        runner.set(&x, &input[1..]),
        Err(Error::SizeMismatch { .. })
    ));
    assert!(matches!(
        runner.set("no such name", &input),
        Err(Error::NoSuchTensor { .. })
    ));
    assert!(matches!(
        runner.output_f32("no such name"),
        Err(Error::NoSuchTensor { .. })
    ));
    assert_eq!(interp.output_f32(0).unwrap(), real);
    assert!(matches!(
        interp.signature("no such key"),
        Err(Error::NoSuchTensor { .. })
    ));
}

#[test]
fn output_f32_into_fills_a_buffer_of_the_right_length_only() {
    let case = case("mlp_int8");
    let mut interp = Interpreter::new(Model::from_file(&case.model_path).unwrap()).unwrap();
    interp.set_input(0, &i8s(&case.inputs[0].data)).unwrap();
    interp.invoke().unwrap();
    let n = interp.output_info(0).unwrap().num_elements();
    let mut buf = vec![f32::NAN; n];
    interp.output_f32_into(0, &mut buf).unwrap();
    assert_eq!(buf, interp.output_f32(0).unwrap());
    assert!(matches!(
        interp.output_f32_into(0, &mut vec![0.0; n + 1]),
        Err(Error::SizeMismatch { .. })
    ));
}

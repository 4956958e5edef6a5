//! tflrs's float16 and dynamic-range quantization (`tflrs_passes::quantize`) of the float32
//! models of `testdata/`, against the TensorFlow converter's own float16 and dynamic-range
//! conversions of the same trained models: the same quantized weights, bit for bit, and the
//! same number of nodes.

use tflrs_ir::{DType, Graph};
use tflrs_passes::quantize::{DynamicRange, Float16};
use tflrs_passes::{Pass, PassCtx};

const MODELS: &[&str] = &[
    "mlp",
    "cnn_small",
    "kws_dscnn",
    "mobilenet_v2_035_96",
    "lstm_small",
];

fn load(case: &str) -> Graph<'static> {
    let c = tflrs_testdata::Case::load(case).unwrap();
    Graph::from_tflite(&c.model_bytes().unwrap())
        .unwrap()
        .into_owned()
}

/// The constants of type `dtype` in every subgraph: (shape, bytes, scales), sorted.
fn constants(g: &Graph<'_>, dtype: DType) -> Vec<(Vec<i32>, Vec<u8>, Vec<u32>)> {
    let mut v: Vec<_> = g
        .subgraphs
        .iter()
        .flat_map(|s| &s.values)
        .filter(|v| v.dtype == dtype && v.is_constant())
        .map(|v| {
            let scales = v
                .quant
                .as_ref()
                .map(|q| q.scales().iter().map(|s| s.to_bits()).collect())
                .unwrap_or_default();
            (
                v.shape.dims.clone(),
                v.data.as_deref().unwrap_or(&[]).to_vec(),
                scales,
            )
        })
        .collect();
    v.sort();
    v
}

/// The outputs of `g` on `case`'s inputs (scalar kernels).
fn run(g: Graph<'_>, case: &tflrs_testdata::Case) -> Vec<Vec<u8>> {
    let bytes = g.to_tflite().unwrap();
    let model = tflrs_runtime::Model::from_bytes(&bytes).unwrap();
    let mut it = tflrs_runtime::Interpreter::builder(&model)
        .reference_kernels(true)
        .build()
        .unwrap();
    for (i, x) in case.inputs.iter().enumerate() {
        if it.input_info(i).unwrap().shape != x.shape {
            it.resize_input(i, &x.shape).unwrap();
        }
        it.input_bytes_mut(i).unwrap().copy_from_slice(&x.data);
    }
    it.invoke().unwrap();
    (0..it.num_outputs())
        .map(|k| it.output_bytes(k).unwrap().to_vec())
        .collect()
}

fn nodes(g: &Graph<'_>) -> usize {
    g.subgraphs.iter().map(|s| s.nodes.len()).sum()
}

fn check(pass: &dyn Pass, mode: &str, dtype: DType) {
    let mut compared = 0;
    for m in MODELS {
        let mut ours = load(&format!("{m}_float32"));
        pass.run(&mut ours, &PassCtx::new()).unwrap();
        ours.verify().unwrap();
        let theirs = load(&format!("{m}_{mode}"));
        let (a, b) = (constants(&ours, dtype), constants(&theirs, dtype));
        assert_eq!(
            a.len(),
            b.len(),
            "{m}: {} {dtype} constants, the converter {}",
            a.len(),
            b.len()
        );
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.0, y.0, "{m}: shapes");
            let diff = x.1.iter().zip(&y.1).filter(|(p, q)| p != q).count();
            assert_eq!(
                diff, 0,
                "{m}: a {:?} {dtype} constant differs in {diff} bytes",
                x.0
            );
            assert_eq!(x.2, y.2, "{m}: scales of a {:?} constant", x.0);
        }
        assert_eq!(nodes(&ours), nodes(&theirs), "{m}: node count");
        compared += a.len();
        // Same weights, same operators and attributes: the same outputs, bit for bit.
        let case = tflrs_testdata::Case::load(&format!("{m}_{mode}")).unwrap();
        assert_eq!(run(ours, &case), run(theirs, &case), "{m}: outputs");
    }
    println!("{mode}: {compared} {dtype} constants equal the converter's");
    assert!(compared >= 20, "only {compared} constants compared");
}

#[test]
fn float16_weights_are_the_converters() {
    check(&Float16, "float16", DType::Float16);
}

#[test]
fn dynamic_range_weights_are_the_converters() {
    check(&DynamicRange::default(), "dynamic_range", DType::Int8);
}

//! Export details: buffer deduplication and alignment, the buffer-offset layout, operator codes
//! and versions, and the stable dump.

use std::borrow::Cow;
use tflrs_ir::*;
use tflrs_schema::Model;

/// `x[1,4]`: two ADDs of equal constants, EXP, ABS, a custom op, two metadata entries.
fn sample() -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, 4]);
    let c1 = b.constant_f32("c1", [4], &[1.0, 2.0, 3.0, 4.0]);
    let c2 = b.constant_f32("c2", [4], &[1.0, 2.0, 3.0, 4.0]);
    let c3 = b.constant_f32("c3", [4], &[5.0, 6.0, 7.0, 8.0]);
    let a = b.op(Op::Add(AddAttrs::default()), &[x, c1]).unwrap();
    let a = b.op(Op::Add(AddAttrs::default()), &[a, c2]).unwrap();
    let a = b.op(Op::Mul(MulAttrs::default()), &[a, c3]).unwrap();
    let e = b.op(Op::Exp, &[a]).unwrap();
    let e = b.op(Op::Abs, &[e]).unwrap();
    let out = b.value(Value::new("out", DType::Float32, [1, 4]));
    b.node(
        Op::Opaque(OpaqueOp::custom("MyOp", Some(Cow::Owned(vec![7u8; 40])))),
        &[Some(e)],
        &[out],
    );
    b.output(out);
    b.signature("serving_default", 0, &[("x", x)], &[("out", out)]);
    b.metadata(
        "min_runtime_version",
        b"1.14.0\0\0\0\0\0\0\0\0\0\0".to_vec(),
    );
    b.metadata("copy", vec![1, 2, 3, 4]);
    b.finish().unwrap()
}

#[test]
fn buffers_are_deduplicated_and_aligned() {
    let g = sample();
    let bytes = g.to_tflite().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let sg = model.subgraphs().get(0);
    let tensors = sg.tensors().unwrap();
    let buffer_of = |name: &str| {
        tensors
            .iter()
            .find(|t| t.name() == Some(name))
            .map(|t| t.buffer())
            .unwrap()
    };
    assert_eq!(buffer_of("c1"), buffer_of("c2"));
    assert_ne!(buffer_of("c1"), buffer_of("c3"));
    assert_eq!(
        buffer_of("x"),
        0,
        "values without data use the sentinel buffer"
    );
    // The sentinel, two unique constants, two metadata entries (float data equal to the
    // metadata bytes would share a buffer too).
    assert_eq!(model.root().buffers().unwrap().len(), 5);
    for i in 1..5 {
        let data = model.buffer_data(i);
        let offset = data.as_ptr() as usize - bytes.as_ptr() as usize;
        assert_eq!(offset % 16, 0, "buffer {i} at {offset}");
    }
    assert_eq!(bytes.len() % 16, 0);
}

#[test]
fn operator_codes_are_deduplicated_with_minimal_versions() {
    let g = sample();
    let bytes = g.to_tflite().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let codes: Vec<(i32, Option<String>, i32)> = model
        .operator_codes()
        .iter()
        .map(|c| {
            (
                Model::builtin_code(&c).0,
                c.custom_code().map(String::from),
                c.version(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            (0, None, 1),
            (18, None, 1),
            (47, None, 1),
            (101, None, 1),
            (32, Some("MyOp".into()), 1)
        ]
    );
    // int8 operands need version 2 of ADD; an imported version is kept as it was.
    let mut g = g;
    let sg = &mut g.subgraphs[0];
    for v in &mut sg.values {
        v.dtype = DType::Int8;
        v.data = v.data.take().map(|d| Cow::Owned(d[..4].to_vec()));
    }
    sg.nodes[1].version = Some(7);
    let model_bytes = g.to_tflite().unwrap();
    let again = Graph::from_tflite(&model_bytes).unwrap();
    let versions: Vec<_> = again.subgraphs[0]
        .nodes
        .iter()
        .map(|n| n.version.unwrap())
        .collect();
    assert_eq!(versions, [2, 7, 2, 2, 2, 1]);
}

#[test]
fn empty_options_tables_are_written_as_the_converter_does() {
    let bytes = sample().to_tflite().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let ops: Vec<_> = model
        .subgraphs()
        .get(0)
        .operators()
        .unwrap()
        .iter()
        .collect();
    // EXP gets its (empty) ExpOptions table, ABS none: as TensorFlow's converter writes them.
    assert!(ops[3].builtin_options_as_exp_options().is_some());
    assert_eq!(ops[4].builtin_options_type().0, 0);
}

#[test]
fn large_models_use_buffer_offsets() {
    let g = sample();
    let opts = ExportOptions {
        offset_threshold: 0,
    };
    let bytes = export_with(&g, &opts).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let buffers = model.root().buffers().unwrap();
    let mut previous_end = 0;
    for (i, b) in buffers.iter().enumerate().skip(1) {
        assert!(b.data().is_none(), "buffer {i} is inline");
        assert!(
            b.offset() > 1 && b.offset() % 16 == 0,
            "buffer {i} offset {}",
            b.offset()
        );
        assert!(b.offset() >= previous_end, "buffers overlap");
        previous_end = b.offset() + b.size();
    }
    let op = model.subgraphs().get(0).operators().unwrap().get(5);
    assert!(op.custom_options().is_none());
    assert!(op.large_custom_options_offset() > 1);
    assert_eq!(model.custom_options(&op), Some(&[7u8; 40][..]));
    let mut resolved = g.clone();
    resolved.resolve_versions();
    assert_eq!(Graph::from_tflite(&bytes).unwrap(), resolved);
    // Below the threshold, the same graph is written inline.
    let inline = export_with(
        &g,
        &ExportOptions {
            offset_threshold: 1 << 20,
        },
    )
    .unwrap();
    let model = Model::from_bytes(&inline).unwrap();
    assert!(
        model
            .root()
            .buffers()
            .unwrap()
            .iter()
            .skip(1)
            .all(|b| b.offset() == 0)
    );
}

#[test]
fn dangling_references_are_refused() {
    let mut g = sample();
    g.subgraphs[0].nodes[0].inputs[0] = Some(ValueId(40));
    assert!(matches!(
        g.to_tflite().unwrap_err(),
        ExportError::DanglingValue {
            subgraph: 0,
            value: 40,
            ..
        }
    ));
}

#[test]
fn dump_is_stable() {
    let expected = r#"graph ""
subgraph 0 "main" (%0) -> (%9)
  %0 "x" float32[1, 4]
  %1 "c1" float32[4] const(16 bytes #8faa0a18faf0fb98) = [1, 2, 3, 4]
  %2 "c2" float32[4] const(16 bytes #8faa0a18faf0fb98) = [1, 2, 3, 4]
  %3 "c3" float32[4] const(16 bytes #6a4cc67ea849dd72) = [5, 6, 7, 8]
  %4 "add_0" float32[1, 4]
  %5 "add_1" float32[1, 4]
  %6 "mul_2" float32[1, 4]
  %7 "exp_3" float32[1, 4]
  %8 "abs_4" float32[1, 4]
  %9 "out" float32[1, 4]
  node 0 ADD v? (%0, %1) -> (%4) AddAttrs { fused_activation_function: None, pot_scale_int16: true }
  node 1 ADD v? (%4, %2) -> (%5) AddAttrs { fused_activation_function: None, pot_scale_int16: true }
  node 2 MUL v? (%5, %3) -> (%6) MulAttrs { fused_activation_function: None }
  node 3 EXP v? (%6) -> (%7)
  node 4 ABS v? (%7) -> (%8)
  node 5 MyOp v? (%8) -> (%9) custom_options(40 bytes #06d9492d11b8d52d)
signature "serving_default" subgraph 0 in(x=%0) out(out=%9)
metadata "min_runtime_version" 16 bytes #a9fb76a17c665fcd
metadata "copy" 4 bytes #be7a5e775165785d
"#;
    assert_eq!(sample().dump(), expected);
}

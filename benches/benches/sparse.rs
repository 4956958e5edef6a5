//! FULLY_CONNECTED with 75%-sparse 1x4-block weights: the scalar sparse kernel against the
//! scalar dense kernel on the same pruned weights (stored as dense zeros), and the SIMD dense
//! kernel for scale. One 1024 -> 1024 layer, batch 1.

use criterion::{Criterion, criterion_group, criterion_main};
use tflrs_ir::{DType, FullyConnectedAttrs, Graph, GraphBuilder, Op};
use tflrs_passes::{Prune, PruneFormat};
use tflrs_runtime::{Interpreter, Model};

fn layer(units: usize, depth: usize) -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [1, depth as i32]);
    let w: Vec<f32> = (0..units * depth)
        .map(|i| ((i * 2_654_435_761usize) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let w = b.constant_f32("w", [units as i32, depth as i32], &w);
    let y = b
        .op(Op::FullyConnected(FullyConnectedAttrs::default()), &[x, w])
        .unwrap();
    b.output(y);
    b.finish().unwrap()
}

fn sparse_fc(c: &mut Criterion) {
    let (units, depth) = (1024, 1024);
    let mut group = c.benchmark_group("fully_connected_1024x1024_75pct_1x4");
    for (label, format, reference) in [
        ("scalar_dense_zeros", PruneFormat::Dense, true),
        ("scalar_sparse", PruneFormat::Sparse, true),
        ("simd_dense_zeros", PruneFormat::Dense, false),
    ] {
        let mut g = layer(units, depth);
        let prune = Prune {
            format,
            ..Prune::new(0.75, (1, 4))
        };
        prune.apply(&mut g).expect("prune");
        let bytes = g.to_tflite().expect("export");
        let model = Model::from_bytes(&bytes).expect("model");
        let mut interp = Interpreter::builder(&model)
            .reference_kernels(reference)
            .build()
            .expect("build");
        for (i, v) in interp
            .input_bytes_mut(0)
            .unwrap()
            .chunks_exact_mut(4)
            .enumerate()
        {
            v.copy_from_slice(&((i % 17) as f32 / 8.0 - 1.0).to_le_bytes());
        }
        group.bench_function(label, |b| b.iter(|| interp.invoke().expect("invoke")));
    }
    group.finish();
}

criterion_group!(benches, sparse_fc);
criterion_main!(benches);

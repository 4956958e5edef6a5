//! Pruning (`tflrs_passes::Prune`) end to end: the sparse-format model runs the sparse
//! FULLY_CONNECTED kernel (or DENSIFY before CONV_2D) and gives the same bits as the same
//! pruning written as dense zeros; on random FULLY_CONNECTED layers (a property test of the
//! sparse kernel against the dense one) and on the float models of `testdata/`.

use proptest::prelude::*;
use tflrs_ir::{Activation, DType, FullyConnectedAttrs, Graph, GraphBuilder, Op};
use tflrs_passes::{Prune, PruneFormat};
use tflrs_runtime::{Interpreter, Model};

/// Runs `graph` with its first input set to `input` (bytes); outputs' bytes and the plan's
/// kernel names.
fn run(graph: Graph<'_>, inputs: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<String>) {
    let bytes = graph.to_tflite().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    // The scalar kernels: the dense and the sparse FULLY_CONNECTED sum in the same order.
    let mut interp = Interpreter::builder(&model)
        .reference_kernels(true)
        .build()
        .unwrap();
    for (i, x) in inputs.iter().enumerate() {
        interp.input_bytes_mut(i).unwrap().copy_from_slice(x);
    }
    interp.invoke().unwrap();
    let outs = (0..interp.num_outputs())
        .map(|k| interp.output_bytes(k).unwrap().to_vec())
        .collect();
    let kernels = interp.plan_report().into_iter().map(|e| e.kernel).collect();
    (outs, kernels)
}

/// `graph` pruned as `prune` says, in the dense and in the sparse format.
fn both(graph: &Graph<'static>, prune: &Prune) -> (Graph<'static>, Graph<'static>) {
    let mut dense = graph.clone();
    let mut sparse = graph.clone();
    let p = Prune {
        format: PruneFormat::Dense,
        ..prune.clone()
    };
    p.apply(&mut dense).unwrap();
    let p = Prune {
        format: PruneFormat::Sparse,
        ..prune.clone()
    };
    p.apply(&mut sparse).unwrap();
    (dense, sparse)
}

fn fc_graph(
    batches: usize,
    units: usize,
    depth: usize,
    seed: u64,
    act: Activation,
) -> Graph<'static> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", DType::Float32, [batches as i32, depth as i32]);
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let w: Vec<f32> = (0..units * depth).map(|_| next()).collect();
    let bias: Vec<f32> = (0..units).map(|_| next()).collect();
    let w = b.constant_f32("w", [units as i32, depth as i32], &w);
    let bias = b.constant_f32("b", [units as i32], &bias);
    let y = b
        .op(
            Op::FullyConnected(FullyConnectedAttrs {
                fused_activation_function: act,
                ..Default::default()
            }),
            &[x, w, bias],
        )
        .unwrap();
    b.output(y);
    b.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn sparse_fully_connected_matches_dense_zeros(
        batches in 1usize..4,
        units in 1usize..12,
        depth_blocks in 1usize..10,
        block in prop::sample::select(vec![1usize, 4, 16]),
        sparsity in 0.0f32..0.95,
        seed in any::<u64>(),
        relu in any::<bool>(),
    ) {
        let depth = depth_blocks * block;
        let act = if relu { Activation::Relu6 } else { Activation::None };
        let g = fc_graph(batches, units, depth, seed, act);
        let (dense, sparse) = both(&g, &Prune::new(sparsity, (1, block)));
        let x: Vec<u8> = (0..batches * depth)
            .flat_map(|i| ((i as f32 * 0.37).sin() * 3.0).to_le_bytes())
            .collect();
        let (want, _) = run(dense, std::slice::from_ref(&x));
        let (got, kernels) = run(sparse, &[x]);
        prop_assert_eq!(want, got);
        if block == 16 {
            // LiteRT's float kernel reads 1x1 and 1x4 layouts; others go through DENSIFY.
            prop_assert!(kernels.iter().any(|k| k.starts_with("densify")), "{:?}", kernels);
        } else {
            prop_assert!(kernels.iter().any(|k| k.contains("sparse")), "{:?}", kernels);
        }
    }
}

#[test]
fn pruned_testdata_models_give_the_same_bits_sparse_and_dense() {
    for name in ["mlp_float32", "cnn_small_float32", "kws_dscnn_float32"] {
        let case = tflrs_testdata::Case::load(name).unwrap();
        let bytes = case.model_bytes().unwrap();
        let graph = Graph::from_tflite(&bytes).unwrap().into_owned();
        for sparsity in [0.5, 0.75] {
            let prune = Prune::new(sparsity, (1, 4));
            let mut probe = graph.clone();
            let report = prune.apply(&mut probe).unwrap();
            let pruned: Vec<_> = report.iter().filter(|r| r.skipped.is_none()).collect();
            assert!(!pruned.is_empty(), "{name}: nothing pruned: {report:?}");
            for r in &pruned {
                assert!(
                    r.sparsity() >= f64::from(sparsity) - 0.26,
                    "{name}: {} at {:.2}",
                    r.weights,
                    r.sparsity()
                );
            }
            let (dense, sparse) = both(&graph, &prune);
            let inputs: Vec<Vec<u8>> = case.inputs.iter().map(|i| i.data.clone()).collect();
            let (want, _) = run(dense, &inputs);
            let (got, _) = run(sparse, &inputs);
            assert_eq!(want, got, "{name} at {sparsity}");
        }
    }
}

//! FULLY_CONNECTED float32 on the f32 GEMM: `out[batches x units] = clamp(x[batches x depth] *
//! W^T + bias)`, with the `[units x depth]` weights packed as `B = W^T` at preparation.
//!
//! Taken: float32 input, weights and output, an optional float bias, `keep_num_dims` either way
//! (the plan flattens the input into rows), and the clipping activations the plan allows.
//! Constant weights are packed once, at preparation; computed ones (a DEQUANTIZE of float16
//! weights, say) are packed at each run into panels allocated at preparation. Everything else
//! (quantized and hybrid kernels, nodes the plan rejects) is `Ok(None)`, for the scalar
//! backend.

use crate::gemm::PackedGemm;
use crate::isa::Isa;
use tflrs_ir::Op;
use tflrs_kernels::prep::conv::{Bias, Quant, fully_connected};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for a FULLY_CONNECTED node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::FullyConnected(_)) {
        return Ok(None);
    }
    // A node the plan rejects is left to the scalar backend, which reports the same error.
    let Ok(plan) = fully_connected(node) else {
        return Ok(None);
    };
    let Quant::F32 { lo, hi } = plan.quant else {
        return Ok(None);
    };
    let (units, depth) = (plan.units, plan.depth);
    let Some(gemm) = weights(isa, node, depth, units)? else {
        return Ok(None);
    };
    Ok(Some(Box::new(FullyConnected {
        name: format!("fully_connected_f32__{}", gemm.kernel().name()),
        gemm,
        batches: plan.batches,
        range: (lo, hi),
        computed: node.constant(1).is_none(),
    })))
}

/// The GEMM over the `[n x k]` weights of input 1: packed now when they are constant, else
/// unpacked (packed at each run); `None` for a constant shorter than `n * k` (left to the
/// scalar backend).
pub(crate) fn weights(
    isa: Isa,
    node: &NodeCtx<'_>,
    k: usize,
    n: usize,
) -> Result<Option<PackedGemm>, KernelError> {
    Ok(match node.constant(1) {
        Some(bytes) => f32s(bytes, n * k).map(|w| PackedGemm::new(isa, k, n, &w, 1, k)),
        None => Some(PackedGemm::unpacked(
            crate::gemm::MicroKernel::choose(isa, n),
            k,
            n,
        )),
    })
}

/// Packs computed `[n x k]` weights (input 1) at run time.
pub(crate) fn repack(
    gemm: &mut PackedGemm,
    w: tflrs_kernels::TensorRef<'_>,
    what: &str,
) -> Result<(), KernelError> {
    let (k, n) = (gemm.k(), gemm.n());
    let w = w.as_slice::<f32>()?;
    at_least(w, n * k, what)?;
    gemm.pack(w, 1, k);
    Ok(())
}

/// The first `len` little-endian f32 values of constant bytes (constants need not be aligned),
/// or `None` when there are fewer.
pub(crate) fn f32s(bytes: &[u8], len: usize) -> Option<Vec<f32>> {
    let bytes = bytes.get(..len * 4)?;
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Fails unless `s` has at least `len` elements.
pub(crate) fn at_least<T>(s: &[T], len: usize, what: &str) -> Result<(), KernelError> {
    if s.len() < len {
        return Err(KernelError::invalid(format!(
            "{what} has {} elements, the kernel needs {len}",
            s.len()
        )));
    }
    Ok(())
}

/// FULLY_CONNECTED float32 over packed weights.
struct FullyConnected {
    name: String,
    gemm: PackedGemm,
    batches: usize,
    range: (f32, f32),
    /// Whether the weights are computed (packed at each run).
    computed: bool,
}

impl Kernel for FullyConnected {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let parallel = io.parallel();
        let (inputs, mut outputs, _, _) = io.split();
        let (m, k, n) = (self.batches, self.gemm.k(), self.gemm.n());
        let mut out_t = outputs.get(0)?;
        if k == 0 {
            // `depth == 0`: LiteRT writes zeros (no bias, no activation), as the scalar kernel.
            out_t.bytes.fill(0);
            return Ok(());
        }
        if self.computed {
            repack(&mut self.gemm, inputs.get(1)?, "FULLY_CONNECTED weights")?;
        }
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let bias = Bias::view(inputs.optional(2), n)?.float();
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, m * k, "FULLY_CONNECTED input")?;
        at_least(out, m * n, "FULLY_CONNECTED output")?;
        self.gemm
            .run_on(parallel, m, x, k, bias, self.range, out, n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{Case, edge_or_any, for_each_backend, input};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, DType, FullyConnectedAttrs, Op};
    use tflrs_kernels::TensorInfo;
    use tflrs_kernels::testing::TestInput;

    /// One FULLY_CONNECTED case: shapes, options and the seed of its values.
    #[derive(Debug, Clone)]
    struct Fc {
        batches: usize,
        units: usize,
        depth: usize,
        bias: bool,
        keep: bool,
        act: Activation,
        /// Constant weights and bias (packed at preparation), or computed ones (packed at run).
        constant: (bool, bool),
        seed: u64,
    }

    fn fc_strategy() -> impl Strategy<Value = Fc> {
        (
            edge_or_any(1..=20),
            edge_or_any(1..=70),
            edge_or_any(1..=50),
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(crate::testutil::ACTIVATIONS.to_vec()),
            (any::<bool>(), any::<bool>()),
            any::<u64>(),
        )
            .prop_map(
                |(batches, units, depth, bias, keep, act, constant, seed)| Fc {
                    batches,
                    units,
                    depth,
                    bias,
                    keep,
                    act,
                    constant,
                    seed,
                },
            )
    }

    fn case(f: &Fc) -> Case {
        let op = Op::FullyConnected(FullyConnectedAttrs {
            fused_activation_function: f.act,
            keep_num_dims: f.keep,
            ..Default::default()
        });
        let (b, u, d) = (f.batches, f.units, f.depth);
        let mut c = Case::new(op, f.seed);
        // keep_num_dims: [b, 1, d] -> [b, 1, u]; else a flat input the plan cuts into rows.
        let (x_shape, y_shape) = if f.keep {
            (vec![b, 1, d], vec![b, 1, u])
        } else {
            (vec![b * d], vec![b, u])
        };
        let x = c.values(b * d);
        let w = c.values(u * d);
        let bias = c.values(u);
        c.inputs = vec![
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, x_shape),
                &x,
            )),
            Some(input(
                f.constant.0,
                TensorInfo::new("w", DType::Float32, [u, d]),
                &w,
            )),
            f.bias.then(|| {
                input(
                    f.constant.1,
                    TensorInfo::new("b", DType::Float32, [u]),
                    &bias,
                )
            }),
        ];
        c.outputs = vec![TensorInfo::new("y", DType::Float32, y_shape)];
        // Per output: K = depth, sum |x w| + |bias|.
        c.bound_terms = (0..b * u)
            .map(|o| {
                let (r, j) = (o / u, o % u);
                let s: f64 = (0..d)
                    .map(|p| (f64::from(x[r * d + p]) * f64::from(w[j * d + p])).abs())
                    .sum();
                (
                    d,
                    s + if f.bias {
                        f64::from(bias[j]).abs()
                    } else {
                        0.0
                    },
                )
            })
            .collect();
        c
    }

    #[test]
    fn fully_connected_matches_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            runner
                .run(&fc_strategy(), |f| {
                    let name = case(&f)
                        .check(backend)
                        .map_err(|e| TestCaseError::fail(format!("{f:?}: {e}")))?;
                    prop_assert!(name.starts_with("fully_connected_f32__"), "{name}");
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn outputs_are_the_same_bits_on_any_number_of_threads() {
        for_each_backend(|backend, _| {
            // One row and many units (a column split), many rows (a row split), too small.
            for (batches, units, depth, split) in [
                (1, 300, 400, true),
                (2, 70, 600, true),
                (100, 24, 40, true),
                (3, 10, 20, false),
            ] {
                let c = case(&Fc {
                    batches,
                    units,
                    depth,
                    bias: true,
                    keep: false,
                    act: Activation::Relu,
                    constant: (true, true),
                    seed: (batches * 7 + units) as u64,
                });
                crate::testutil::same_bytes_on_1_2_3_threads(
                    backend, &c.op, &c.inputs, &c.outputs, split,
                )
                .unwrap();
                c.check(backend).unwrap();
            }
        });
    }

    #[test]
    fn zero_depth_writes_zeros_and_other_types_are_declined() {
        for_each_backend(|backend, _| {
            let f = Fc {
                batches: 3,
                units: 5,
                depth: 0,
                bias: true,
                keep: false,
                act: Activation::Relu6,
                constant: (true, false),
                seed: 1,
            };
            let mut c = case(&f);
            c.outputs = vec![TensorInfo::new("y", DType::Float32, [3, 5])];
            c.inputs[0] = Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, [3, 0]),
                &[] as &[f32],
            ));
            c.check(backend).unwrap();
            // Quantized nodes stay with the scalar backend.
            let mut c = case(&Fc { depth: 4, ..f });
            for t in c.inputs.iter_mut().flatten().chain(None) {
                t.info = t.info.clone().with_quant(0.5, 0);
                t.info.dtype = DType::Int8;
                t.bytes.truncate(t.info.num_elements());
            }
            assert!(c.make(backend).unwrap().is_none());
        });
    }
}

//! CONV_2D float32 on the f32 GEMM: `M` output pixels by `K = k_h * k_w * C_in` taps by
//! `N = C_out` filters, the OHWI filter packed as `B[K x N]` at preparation.
//!
//! - 1x1, stride 1, no padding (`conv_2d_f32__{isa}_{MR}x{NR}_1x1`): the NHWC input is `A`
//!   itself (`M = batches * H * W`, `K = C_in`), read in place.
//! - Any other window (`conv_2d_f32__{isa}_{MR}x{NR}`): an IGEMM over an indirection buffer
//!   built at preparation: for each output pixel and filter tap (row, column), the offset in
//!   the input of the tap's `C_in` values, or the padding marker for zeros. Row `i` of `A` is
//!   then the pixel's window in the filter's order (row, column, channel), read in place: no
//!   copy, no scratch.
//!
//! Taken: float32 input, filter and output, one group, an optional float bias, any stride,
//! dilation and padding, the fused activations the plan allows. A constant filter is packed at
//! preparation, a computed one (a DEQUANTIZE of float16 weights) at each run.
//! Everything else is `Ok(None)`, for the scalar backend.

use crate::fully_connected::{at_least, repack, weights};
use crate::gemm::{Indirection, PackedGemm};
use crate::isa::Isa;
use tflrs_ir::Op;
use tflrs_kernels::prep::conv::{Bias, Geom, Quant, conv2d};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for a CONV_2D node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::Conv2d(_)) {
        return Ok(None);
    }
    // A node the plan rejects is left to the scalar backend, which reports the same error.
    let Ok(plan) = conv2d(node) else {
        return Ok(None);
    };
    let Quant::F32 { lo, hi } = plan.quant else {
        return Ok(None);
    };
    let g = plan.geom;
    if g.groups() != 1 {
        return Ok(None);
    }
    let k = g.k_h * g.k_w * g.k_c;
    let Some(gemm) = weights(isa, node, k, g.out_c)? else {
        return Ok(None);
    };
    let direct = g.k_h == 1
        && g.k_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_h == 0
        && g.pad_w == 0;
    let indirection = if direct {
        None
    } else {
        let Some(ind) = indirection(&g) else {
            return Ok(None);
        };
        Some(ind)
    };
    let name = format!(
        "conv_2d_f32__{}{}",
        gemm.kernel().name(),
        if direct { "_1x1" } else { "" }
    );
    Ok(Some(Box::new(Conv2d {
        name,
        gemm,
        g,
        indirection,
        range: (lo, hi),
        computed: node.constant(1).is_none(),
    })))
}

/// CONV_2D float32 over a packed filter.
struct Conv2d {
    name: String,
    gemm: PackedGemm,
    g: Geom,
    /// The windows of the output pixels; `None` for the direct 1x1 path.
    indirection: Option<Indirection>,
    range: (f32, f32),
    /// Whether the filter is computed (packed at each run).
    computed: bool,
}

impl Kernel for Conv2d {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let parallel = io.parallel();
        let (inputs, mut outputs, _, _) = io.split();
        let g = &self.g;
        let (k, n) = (self.gemm.k(), g.out_c);
        if self.computed {
            repack(&mut self.gemm, inputs.get(1)?, "CONV_2D filter")?;
        }
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let bias = Bias::view(inputs.optional(2), n)?.float();
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, g.in_len(), "CONV_2D input")?;
        at_least(out, g.out_len(), "CONV_2D output")?;
        match &self.indirection {
            None => {
                let pixels = g.n * g.out_h * g.out_w;
                self.gemm
                    .run_on(parallel, pixels, x, k, bias, self.range, out, n);
            }
            Some(ind) => self
                .gemm
                .run_indirect_on(parallel, ind, x, bias, self.range, out, n),
        }
        Ok(())
    }
}

/// The indirection buffer of a convolution: row `q` (an output pixel over batches, rows and
/// columns), tap `(fy, fx)` reads the `C_in` input values of the pixel under the tap, or zeros
/// where the tap is in the padding. `None` when the input is too large for `u32` offsets.
fn indirection(g: &Geom) -> Option<Indirection> {
    let pixels = g.n * g.out_h * g.out_w;
    let taps = g.k_h * g.k_w;
    Indirection::new(pixels, taps, g.in_c, |q, t| {
        let (b, rem) = (q / (g.out_h * g.out_w), q % (g.out_h * g.out_w));
        let (oy, ox) = (rem / g.out_w, rem % g.out_w);
        let (fy, fx) = (t / g.k_w, t % g.k_w);
        let iy = (oy * g.stride_h + fy * g.dil_h) as i64 - g.pad_h;
        let ix = (ox * g.stride_w + fx * g.dil_w) as i64 - g.pad_w;
        let inside = (0..g.in_h as i64).contains(&iy) && (0..g.in_w as i64).contains(&ix);
        inside.then(|| ((b * g.in_h + iy as usize) * g.in_w + ix as usize) * g.in_c)
    })
}

#[cfg(test)]
mod tests {
    use crate::testutil::{ACTIVATIONS, Axes, Case, edge_or_any, for_each_backend, input};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, Conv2dAttrs, DType, Op, Padding};
    use tflrs_kernels::TensorInfo;
    use tflrs_kernels::testing::TestInput;

    /// One CONV_2D case.
    #[derive(Debug, Clone)]
    struct Conv {
        batch: usize,
        /// Extra input rows and columns beyond the dilated window.
        extra: (usize, usize),
        in_c: usize,
        out_c: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        padding: Padding,
        bias: bool,
        act: Activation,
        /// Constant filter and bias, or computed ones.
        constant: (bool, bool),
        seed: u64,
    }

    fn conv_strategy() -> impl Strategy<Value = Conv> {
        let ks = prop::sample::select(vec![1usize, 3, 5]);
        let s12 = prop::sample::select(vec![1usize, 2]);
        (
            (1usize..=2, (0usize..=7, 0usize..=7)),
            (edge_or_any(1..=20), edge_or_any(1..=40)),
            (ks.clone(), ks),
            (s12.clone(), s12.clone()),
            (s12.clone(), s12),
            prop::sample::select(vec![Padding::Same, Padding::Valid]),
            any::<bool>(),
            prop::sample::select(ACTIVATIONS.to_vec()),
            (any::<bool>(), any::<bool>()),
            any::<u64>(),
        )
            .prop_map(
                |(
                    (batch, extra),
                    (in_c, out_c),
                    kernel,
                    stride,
                    dilation,
                    padding,
                    bias,
                    act,
                    constant,
                    seed,
                )| {
                    Conv {
                        batch,
                        extra,
                        in_c,
                        out_c,
                        kernel,
                        stride,
                        dilation,
                        padding,
                        bias,
                        act,
                        constant,
                        seed,
                    }
                },
            )
    }

    /// The case's node and values, and whether the direct 1x1 path should take it.
    fn case(p: &Conv) -> (Case, bool) {
        let op = Op::Conv2d(Conv2dAttrs {
            padding: p.padding,
            stride_h: p.stride.0 as i32,
            stride_w: p.stride.1 as i32,
            dilation_h_factor: p.dilation.0 as i32,
            dilation_w_factor: p.dilation.1 as i32,
            fused_activation_function: p.act,
            ..Default::default()
        });
        let (kh, kw) = p.kernel;
        let axes = Axes::new(p.padding, p.kernel, p.stride, p.dilation, p.extra);
        let ((ih, iw), (oh, ow), (pad_h, pad_w)) = (axes.input, axes.output, axes.pad);
        let (nb, c, oc) = (p.batch, p.in_c, p.out_c);
        let mut t = Case::new(op, p.seed);
        let x = t.values(nb * ih * iw * c);
        let w = t.values(oc * kh * kw * c);
        let bias = t.values(oc);
        t.inputs = vec![
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, [nb, ih, iw, c]),
                &x,
            )),
            Some(input(
                p.constant.0,
                TensorInfo::new("w", DType::Float32, [oc, kh, kw, c]),
                &w,
            )),
            p.bias.then(|| {
                input(
                    p.constant.1,
                    TensorInfo::new("b", DType::Float32, [oc]),
                    &bias,
                )
            }),
        ];
        t.outputs = vec![TensorInfo::new("y", DType::Float32, [nb, oh, ow, oc])];
        let k = kh * kw * c;
        for b in 0..nb {
            for oy in 0..oh {
                for ox in 0..ow {
                    for (o, &bo) in bias.iter().enumerate() {
                        let mut s = if p.bias { f64::from(bo).abs() } else { 0.0 };
                        for fy in 0..kh {
                            let iy = (oy * p.stride.0 + fy * p.dilation.0) as i64 - pad_h as i64;
                            for fx in 0..kw {
                                let ix =
                                    (ox * p.stride.1 + fx * p.dilation.1) as i64 - pad_w as i64;
                                if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                    continue;
                                }
                                let xi = ((b * ih + iy as usize) * iw + ix as usize) * c;
                                let wi = ((o * kh + fy) * kw + fx) * c;
                                s += (0..c)
                                    .map(|i| (f64::from(x[xi + i]) * f64::from(w[wi + i])).abs())
                                    .sum::<f64>();
                            }
                        }
                        t.bound_terms.push((k, s));
                    }
                }
            }
        }
        let direct = kh == 1 && kw == 1 && p.stride == (1, 1);
        (t, direct)
    }

    #[test]
    fn conv_2d_matches_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            runner
                .run(&conv_strategy(), |p| {
                    let (t, direct) = case(&p);
                    let name = t
                        .check(backend)
                        .map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))?;
                    prop_assert!(name.starts_with("conv_2d_f32__"), "{name}");
                    prop_assert_eq!(name.ends_with("_1x1"), direct, "{}", name);
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn outputs_are_the_same_bits_on_any_number_of_threads() {
        for_each_backend(|backend, _| {
            // (input side, C_in, C_out, kernel, stride, split): many rows (a row split), few
            // rows and many filters (a column split), both paths, and one too small to split.
            for (hw, c, oc, k, s, split) in [
                (24, 32, 40, 1, 1, true),
                (14, 16, 24, 3, 1, true),
                (5, 64, 130, 3, 2, true),
                (3, 200, 150, 1, 1, true),
                (4, 8, 8, 3, 1, false),
            ] {
                let p = Conv {
                    batch: 1,
                    extra: (hw - k, hw - k),
                    in_c: c,
                    out_c: oc,
                    kernel: (k, k),
                    stride: (s, s),
                    dilation: (1, 1),
                    padding: Padding::Same,
                    bias: true,
                    act: Activation::Relu6,
                    constant: (true, true),
                    seed: (hw * 1000 + c * 10 + oc) as u64,
                };
                let (t, _) = case(&p);
                crate::testutil::same_bytes_on_1_2_3_threads(
                    backend, &t.op, &t.inputs, &t.outputs, split,
                )
                .unwrap();
                t.check(backend).unwrap();
            }
        });
    }

    #[test]
    fn pointwise_and_indirect_paths_at_tile_edges() {
        for_each_backend(|backend, _| {
            // A 1x1 layer of MobileNet's shape class (M = 12 * 12 pixels, K = 24, N = 8 / 16 /
            // 24 + 1), and a 3x3 stride-2 first layer.
            for (hw, c, oc, k, s) in [
                (12, 24, 8, 1, 1),
                (12, 16, 16, 1, 1),
                (12, 8, 25, 1, 1),
                (25, 3, 16, 3, 2),
                (9, 33, 17, 5, 1),
            ] {
                let p = Conv {
                    batch: 2,
                    extra: (hw - ((k - 1) + 1), hw - ((k - 1) + 1)),
                    in_c: c,
                    out_c: oc,
                    kernel: (k, k),
                    stride: (s, s),
                    dilation: (1, 1),
                    padding: Padding::Same,
                    bias: true,
                    act: Activation::Relu6,
                    constant: (true, true),
                    seed: (hw * 1000 + c * 10 + oc) as u64,
                };
                let (t, _) = case(&p);
                t.check(backend).unwrap();
            }
            // Grouped convolutions are declined.
            let (mut t, _) = case(&Conv {
                batch: 1,
                extra: (2, 2),
                in_c: 4,
                out_c: 6,
                kernel: (3, 3),
                stride: (1, 1),
                dilation: (1, 1),
                padding: Padding::Valid,
                bias: false,
                act: Activation::None,
                constant: (true, true),
                seed: 5,
            });
            t.inputs[1].as_mut().unwrap().info.shape = vec![6, 3, 3, 2];
            assert!(t.make(backend).unwrap().is_none(), "groups");
        });
    }
}

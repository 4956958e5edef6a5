//! DEPTHWISE_CONV_2D float32, vectorized over channels.
//!
//! In NHWC the channels of a pixel are contiguous, in the input as in the `[1, k_h, k_w, C]`
//! filter and the output, so for each output pixel the kernel keeps a block of output
//! channels in vector registers: the bias first, then for each tap inside the input (filter
//! row, then column; padding taps are skipped, as the scalar kernel skips them) `acc += x * w`
//! on whole vectors, and the fused activation's clamp last. Blocks: 4 vectors, then 1 vector,
//! then a scalar loop over the tail channels. Levels (the crate's shared `level::Level`
//! operations, imported here as `Lanes`):
//!
//! - AVX2 (`depthwise_conv_2d_f32__avx2`): 8 lanes, 32 then 8 channels a step, fused
//!   multiply-adds;
//! - SSE4.1 (`__sse41`): 4 lanes, 16 then 4 channels a step, multiply then add;
//! - portable (`__portable`): plain Rust on `[f32; 4]` (which the compiler maps onto the
//!   baseline ISA), 16 then 4 channels a step.
//!
//! A depth multiplier `m > 1` (`_mult` variant) reads input channel `oc / m` for output
//! channel `oc`: its vectors of inputs are gathered through a small array on the stack.
//! AVX-512 hosts run the AVX2 kernels (the backend names itself `avx2` there).
//!
//! Taken: the plan's `Quant::F32` (float32 input, filter and output, float bias), any depth
//! multiplier, stride, dilation, padding and batch, every fused activation (the plan's clamp
//! range). A constant filter and bias are copied at preparation; a computed one (a DEQUANTIZE
//! of float16 weights) is copied into the same buffer at each run. Everything else, and every
//! node the plan rejects, is `Ok(None)` for the scalar backend.
//!
//! **Numerics**: the scalar kernel sums the taps from zero in the same tap order and adds the
//! bias last; this one starts from the bias and, on AVX2, fuses each multiply-add. The outputs
//! therefore differ within the bound of `crate::testutil` for `K = k_h * k_w` products and a
//! bias (`2 gamma(K + 1) (sum |x w| + |bias|)` plus underflow), which the tests check per
//! element. The clamp is `min(hi, max(lo, v))` with `MAXPS`/`MINPS`'s operand order that gives
//! the scalar `clamp_f32` (a NaN stays NaN).

use crate::fully_connected::{at_least, f32s};
use crate::isa::Isa;
use crate::isa::Tier as Level;
use crate::level::{Job, Level as Lanes, Portable};
use crate::split;
use core::ops::Range;
use tflrs_ir::Op;
use tflrs_kernels::prep::conv::{Bias, Geom, Quant, depthwise};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for a DEPTHWISE_CONV_2D node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::DepthwiseConv2d(_)) {
        return Ok(None);
    }
    // A node the plan rejects is left to the scalar backend, which reports the same error.
    let Ok(plan) = depthwise(node) else {
        return Ok(None);
    };
    let Quant::F32 { lo, hi } = plan.quant else {
        return Ok(None);
    };
    let g = plan.geom;
    let c = g.out_c;
    let w_len = g.k_h * g.k_w * c;
    let (w, computed_w) = match node.constant(1) {
        Some(bytes) => match f32s(bytes, w_len) {
            Some(w) => (w, false),
            None => return Ok(None),
        },
        None => (vec![0.0; w_len], true),
    };
    let has_bias = node.optional_input(2).is_some();
    let (bias, computed_b) = match (has_bias, node.constant(2)) {
        (false, _) => (vec![0.0; c], false),
        (true, Some(bytes)) => match f32s(bytes, c) {
            Some(b) => (b, false),
            None => return Ok(None),
        },
        (true, None) => (vec![0.0; c], true),
    };
    let level = Level::at(isa);
    let name = format!(
        "depthwise_conv_2d_f32__{}{}",
        level.isa().name(),
        if c != g.in_c { "_mult" } else { "" }
    );
    Ok(Some(Box::new(Depthwise {
        name,
        level,
        g,
        w,
        bias,
        computed_w,
        computed_b,
        range: (lo, hi),
    })))
}

/// DEPTHWISE_CONV_2D float32 over a copied filter and bias.
struct Depthwise {
    name: String,
    level: Level,
    g: Geom,
    /// The filter, `[k_h * k_w][C_out]`.
    w: Vec<f32>,
    /// The bias (zeros without one), `C_out`.
    bias: Vec<f32>,
    /// Whether the filter is computed (copied at each run).
    computed_w: bool,
    /// Whether the bias is computed (copied at each run).
    computed_b: bool,
    range: (f32, f32),
}

impl Kernel for Depthwise {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let parallel = io.parallel();
        let (inputs, mut outputs, _, _) = io.split();
        let g = &self.g;
        if self.computed_w {
            let w = inputs.get(1)?.as_slice::<f32>()?;
            let len = self.w.len();
            at_least(w, len, "DEPTHWISE_CONV_2D filter")?;
            self.w.copy_from_slice(&w[..len]);
        }
        if self.computed_b
            && let Some(b) = Bias::view(inputs.optional(2), g.out_c)?.float()
        {
            self.bias.copy_from_slice(b);
        }
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, g.in_len(), "DEPTHWISE_CONV_2D input")?;
        at_least(out, g.out_len(), "DEPTHWISE_CONV_2D output")?;
        let out = &mut out[..g.out_len()];
        let level = self.level;
        let (x, w, bias, (lo, hi)) = (&x[..g.in_len()], &self.w[..], &self.bias[..], self.range);
        let rows_of = |rows: Range<usize>, out: &mut [f32]| {
            let args = Args {
                g,
                rows,
                x,
                w,
                bias,
                out,
                lo,
                hi,
            };
            match level {
                Level::Portable => Portable.dispatch(Image(args)),
                #[cfg(target_arch = "x86_64")]
                Level::Sse41(t) => t.dispatch(Image(args)),
                #[cfg(target_arch = "x86_64")]
                Level::Avx2(t) => t.dispatch(Image(args)),
            }
        };
        // Output rows (over batches) split over the threads, each written by one task.
        let rows = g.n * g.out_h;
        let macs = g.out_len().saturating_mul(g.k_h * g.k_w);
        match split::threads_for(parallel, macs) {
            None => rows_of(0..rows, out),
            Some(p) => {
                let tasks = rows.min(split::TASKS_PER_THREAD * p.threads());
                let row_len = g.out_w * g.out_c;
                let shared = split::Shared::new(out);
                p.for_each(tasks, &|t, _| {
                    let part = rows * t / tasks..rows * (t + 1) / tasks;
                    // SAFETY: the tasks' row ranges are disjoint.
                    let out = unsafe { shared.slice(part.start * row_len, part.len() * row_len) };
                    rows_of(part, out);
                });
            }
        }
        Ok(())
    }
}

/// One run's operands; the lengths are exact (`Geom::in_len`, `k_h * k_w * C`, `C`,
/// `Geom::out_len`).
struct Args<'a> {
    g: &'a Geom,
    /// The output rows (over batches: `b * out_h + oy`) to compute; `out` holds just them.
    rows: Range<usize>,
    x: &'a [f32],
    w: &'a [f32],
    bias: &'a [f32],
    out: &'a mut [f32],
    lo: f32,
    hi: f32,
}

/// [`image`] as a [`Job`], so that [`Lanes::dispatch`] compiles it inside the level's entry.
struct Image<'a>(Args<'a>);

impl Job for Image<'_> {
    type Output = ();
    #[inline(always)]
    fn run<L: Lanes>(self, l: L) {
        image(l, self.0)
    }
}

/// The filter taps `f` in `0..k` whose input row `i0 + f * dil` lies in `0..len`, as a range.
#[inline(always)]
fn taps(i0: i64, dil: usize, k: usize, len: usize) -> (usize, usize) {
    let d = dil as i64;
    let f0 = if i0 >= 0 { 0 } else { (-i0 + d - 1) / d };
    let lim = len as i64 - i0;
    let f1 = if lim <= 0 { 0 } else { (lim + d - 1) / d };
    let f0 = (f0 as usize).min(k);
    (f0, (f1 as usize).clamp(f0, k))
}

/// The whole convolution at level `l`. `ONE`: a depth multiplier of 1 (input channel = output
/// channel), else input channel `oc / m`.
#[inline(always)]
fn image<L: Lanes>(l: L, a: Args<'_>) {
    if a.g.out_c == a.g.in_c {
        image_m::<L, true>(l, a)
    } else {
        image_m::<L, false>(l, a)
    }
}

#[inline(always)]
fn image_m<L: Lanes, const ONE: bool>(l: L, a: Args<'_>) {
    let g = a.g;
    let (c, ic) = (g.out_c, g.in_c);
    let m = c / ic;
    assert!(
        a.x.len() == g.in_len()
            && a.w.len() == g.k_h * g.k_w * c
            && a.bias.len() == c
            && a.rows.end <= g.n * g.out_h
            && a.out.len() == a.rows.len() * g.out_w * c
            && c == ic * m
            && L::LANES <= 16
    );
    let (lo, hi) = (l.splat(a.lo), l.splat(a.hi));
    let (xp, wp, bp, op) = (
        a.x.as_ptr(),
        a.w.as_ptr(),
        a.bias.as_ptr(),
        a.out.as_mut_ptr(),
    );
    let big = 4 * L::LANES;
    for r in a.rows.clone() {
        let (b, oy) = (r / g.out_h, r % g.out_h);
        {
            let iy0 = (oy * g.stride_h) as i64 - g.pad_h;
            let (fy0, fy1) = taps(iy0, g.dil_h, g.k_h, g.in_h);
            for ox in 0..g.out_w {
                let ix0 = (ox * g.stride_w) as i64 - g.pad_w;
                let (fx0, fx1) = taps(ix0, g.dil_w, g.k_w, g.in_w);
                let t = Taps {
                    row0: (b * g.in_h) as i64 + iy0,
                    ix0,
                    fy: (fy0, fy1),
                    fx: (fx0, fx1),
                };
                let o = ((r - a.rows.start) * g.out_w + ox) * c;
                let mut ch = 0;
                while ch + big <= c {
                    block::<L, ONE, 4>(l, g, &t, m, ch, xp, wp, bp, op, o, lo, hi);
                    ch += big;
                }
                while ch + L::LANES <= c {
                    block::<L, ONE, 1>(l, g, &t, m, ch, xp, wp, bp, op, o, lo, hi);
                    ch += L::LANES;
                }
                for ch in ch..c {
                    let mut acc = a.bias[ch];
                    for fy in fy0..fy1 {
                        for fx in fx0..fx1 {
                            let xv = a.x[t.pixel(g, fy, fx) * ic + ch / m];
                            acc += xv * a.w[(fy * g.k_w + fx) * c + ch];
                        }
                    }
                    let y = if acc < a.lo { a.lo } else { acc };
                    a.out[o + ch] = if y > a.hi { a.hi } else { y };
                }
            }
        }
    }
}

/// An output pixel's taps inside the input: rows `fy.0..fy.1`, columns `fx.0..fx.1`.
struct Taps {
    /// `b * in_h + iy0`: the input row (over batches) of filter row 0 (may be out of range).
    row0: i64,
    /// The input column of filter column 0 (may be negative).
    ix0: i64,
    fy: (usize, usize),
    fx: (usize, usize),
}

impl Taps {
    /// The input pixel (over batches) under tap `(fy, fx)`, one of the ranges' taps: inside the
    /// input, by `taps`.
    #[inline(always)]
    fn pixel(&self, g: &Geom, fy: usize, fx: usize) -> usize {
        let iy = (self.row0 + (fy * g.dil_h) as i64) as usize;
        let ix = (self.ix0 + (fx * g.dil_w) as i64) as usize;
        iy * g.in_w + ix
    }
}

/// Output channels `ch..ch + V * LANES` of the pixel at output offset `o`: bias, the taps'
/// multiply-adds, the clamp, stored.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<L: Lanes, const ONE: bool, const V: usize>(
    l: L,
    g: &Geom,
    t: &Taps,
    m: usize,
    ch: usize,
    xp: *const f32,
    wp: *const f32,
    bp: *const f32,
    op: *mut f32,
    o: usize,
    lo: L::V,
    hi: L::V,
) {
    let (c, ic, n) = (g.out_c, g.in_c, L::LANES);
    let mut acc = [l.splat(0.0); V];
    for (v, acc) in acc.iter_mut().enumerate() {
        // SAFETY: `ch + V * LANES <= C` (the caller's loop) and the bias has `C` elements.
        *acc = unsafe { l.load(bp.add(ch + v * n)) };
    }
    for fy in t.fy.0..t.fy.1 {
        for fx in t.fx.0..t.fx.1 {
            let xo = t.pixel(g, fy, fx) * ic;
            let wo = (fy * g.k_w + fx) * c;
            for (v, acc) in acc.iter_mut().enumerate() {
                let e = ch + v * n;
                let xv = if ONE {
                    // SAFETY: the tap is inside the input (`taps`), whose pixels have `C`
                    // channels here, and `e + LANES <= C`.
                    unsafe { l.load(xp.add(xo + e)) }
                } else {
                    let mut tmp = [0.0f32; 16];
                    for (j, s) in tmp[..n].iter_mut().enumerate() {
                        // SAFETY: `(e + j) / m < C / m = ic`: a channel of the tap's pixel.
                        *s = unsafe { *xp.add(xo + (e + j) / m) };
                    }
                    // SAFETY: `tmp` has 16 >= LANES elements.
                    unsafe { l.load(tmp.as_ptr()) }
                };
                // SAFETY: tap `(fy, fx)` of the filter has `C` elements and `e + LANES <= C`.
                let wv = unsafe { l.load(wp.add(wo + e)) };
                *acc = l.mul_add(xv, wv, *acc);
            }
        }
    }
    for (v, &acc) in acc.iter().enumerate() {
        // SAFETY: output pixel `o` has `C` elements and `ch + v * LANES + LANES <= C`.
        unsafe { l.store(l.min(hi, l.max(lo, acc)), op.add(o + ch + v * n)) };
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{ACTIVATIONS, Axes, Case, edge_or_any, for_each_backend, input};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, DType, DepthwiseConv2dAttrs, Op, Padding};
    use tflrs_kernels::TensorInfo;
    use tflrs_kernels::testing::TestInput;

    /// One DEPTHWISE_CONV_2D case.
    #[derive(Debug, Clone)]
    struct Dw {
        batch: usize,
        /// Extra input rows and columns beyond the dilated window.
        extra: (usize, usize),
        in_c: usize,
        mult: usize,
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

    fn dw_strategy() -> impl Strategy<Value = Dw> {
        let ks = prop::sample::select(vec![1usize, 3, 5]);
        let s12 = prop::sample::select(vec![1usize, 2]);
        (
            (1usize..=2, (0usize..=7, 0usize..=7)),
            (edge_or_any(1..=40), 1usize..=3),
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
                    (in_c, mult),
                    kernel,
                    stride,
                    dilation,
                    padding,
                    bias,
                    act,
                    constant,
                    seed,
                )| Dw {
                    batch,
                    extra,
                    in_c,
                    mult,
                    kernel,
                    stride,
                    dilation,
                    padding,
                    bias,
                    act,
                    constant,
                    seed,
                },
            )
    }

    /// The case's node and values, with the bound's terms: `K = k_h * k_w` and, per output,
    /// `|bias| + sum |x w|` over the taps inside the input.
    fn case(p: &Dw) -> Case {
        let op = Op::DepthwiseConv2d(DepthwiseConv2dAttrs {
            padding: p.padding,
            stride_h: p.stride.0 as i32,
            stride_w: p.stride.1 as i32,
            depth_multiplier: p.mult as i32,
            dilation_h_factor: p.dilation.0 as i32,
            dilation_w_factor: p.dilation.1 as i32,
            fused_activation_function: p.act,
        });
        let (kh, kw) = p.kernel;
        let axes = Axes::new(p.padding, p.kernel, p.stride, p.dilation, p.extra);
        let ((ih, iw), (oh, ow), (pad_h, pad_w)) = (axes.input, axes.output, axes.pad);
        let (nb, c, m) = (p.batch, p.in_c, p.mult);
        let oc = c * m;
        let mut t = Case::new(op, p.seed);
        let x = t.values(nb * ih * iw * c);
        let w = t.values(kh * kw * oc);
        let bias = t.values(oc);
        t.inputs = vec![
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, [nb, ih, iw, c]),
                &x,
            )),
            Some(input(
                p.constant.0,
                TensorInfo::new("w", DType::Float32, [1, kh, kw, oc]),
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
                                let xv = x[((b * ih + iy as usize) * iw + ix as usize) * c + o / m];
                                let wv = w[(fy * kw + fx) * oc + o];
                                s += (f64::from(xv) * f64::from(wv)).abs();
                            }
                        }
                        t.bound_terms.push((kh * kw, s));
                    }
                }
            }
        }
        t
    }

    /// The expected kernel name at the backend's level.
    fn expected_name(backend: &crate::SimdBackend, mult: usize) -> String {
        format!(
            "depthwise_conv_2d_f32__{}{}",
            backend.isa().name(),
            if mult > 1 { "_mult" } else { "" }
        )
    }

    #[test]
    fn depthwise_matches_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            runner
                .run(&dw_strategy(), |p| {
                    let name = case(&p)
                        .check(backend)
                        .map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))?;
                    prop_assert_eq!(name, expected_name(backend, p.mult));
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn outputs_are_the_same_bits_on_any_number_of_threads() {
        for_each_backend(|backend, _| {
            // (extra, C, stride, multiplier, batch, split): MobileNet-like layers large enough
            // to split, a batch of two, a multiplier, and one too small.
            for (extra, c, s, mult, batch, split) in [
                (22, 48, 1, 1, 1, true),
                (30, 16, 2, 1, 2, true),
                (20, 24, 1, 2, 1, true),
                (3, 8, 1, 1, 1, false),
            ] {
                let p = Dw {
                    batch,
                    extra: (extra, extra + 1),
                    in_c: c,
                    mult,
                    kernel: (3, 3),
                    stride: (s, s),
                    dilation: (1, 1),
                    padding: Padding::Same,
                    bias: true,
                    act: Activation::Relu6,
                    constant: (true, true),
                    seed: (c * 10 + extra) as u64,
                };
                let t = case(&p);
                crate::testutil::same_bytes_on_1_2_3_threads(
                    backend, &t.op, &t.inputs, &t.outputs, split,
                )
                .unwrap();
                t.check(backend).unwrap();
            }
        });
    }

    #[test]
    fn channel_blocks_and_tails_of_every_level() {
        for_each_backend(|backend, _| {
            // Channels at every block edge (4, 8, 16 and 32 lanes, +-1), MobileNet's 3x3
            // stride 1 and 2 layers, a 5x5 and a non-square dilated window.
            for (i, c) in [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 48, 64]
                .into_iter()
                .enumerate()
            {
                for (kernel, stride, dilation, mult) in [
                    ((3, 3), (1, 1), (1, 1), 1),
                    ((3, 3), (2, 2), (1, 1), 1),
                    ((5, 5), (1, 2), (1, 1), 1),
                    ((3, 1), (1, 1), (2, 1), 2),
                    ((1, 3), (2, 1), (1, 2), 3),
                ] {
                    let p = Dw {
                        batch: 1 + i % 2,
                        extra: (4, 5),
                        in_c: c,
                        mult,
                        kernel,
                        stride,
                        dilation,
                        padding: if i % 3 == 0 {
                            Padding::Valid
                        } else {
                            Padding::Same
                        },
                        bias: i % 4 != 1,
                        act: ACTIVATIONS[i % 4],
                        constant: (i % 5 != 2, i % 3 != 1),
                        seed: (c * 100 + mult) as u64,
                    };
                    let name = case(&p)
                        .check(backend)
                        .unwrap_or_else(|e| panic!("{p:?}: {e}"));
                    assert_eq!(name, expected_name(backend, mult));
                }
            }
        });
    }
}

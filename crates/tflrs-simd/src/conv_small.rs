//! CONV_2D float32 with few input channels (`C_in <= 4`: the first layer of an image model,
//! MobileNet's 3x3 stride-2 convolution of RGB), as a direct convolution: the IGEMM of
//! `crate::conv` spends most of such a layer on its per-tap bookkeeping (3 values a tap).
//!
//! The filter is packed at preparation as `[k_h * k_w * C_in][C_out]`. Per output row, groups
//! of 4 output pixels whose taps all lie inside the input keep `4 x V` vectors of output
//! channels (`V` = 2, then 1) in registers: the bias, then for each tap (filter row, column,
//! input channel) one broadcast input value per pixel times the tap's weight vectors, fused
//! multiply-adds on AVX2; the clamp of the fused activation last. Pixels near the border take
//! the same walk one at a time over the taps inside the input (the padding adds nothing, as in
//! the scalar kernel). Levels: those of `crate::level` (AVX2 8 lanes, SSE4.1 and portable 4).
//! Output rows are split over the threads as the depthwise kernel does (same bits on any
//! number of threads).
//!
//! Taken (`conv_2d_f32__{isa}_direct`): float32 input, constant filter and bias, one group,
//! `C_in <= 4`, `C_out` a multiple of 8, a window larger than 1x1, any stride, dilation, padding, batch and fused
//! activation. Everything else is `crate::conv`'s.
//!
//! **Numerics**: the scalar kernel sums the same products from zero in the same tap order and
//! adds the bias last; this one starts from the bias and fuses the multiply-adds on AVX2: the
//! GEMM's bound (`2 gamma(K + 1) (sum |x w| + |bias|)`, `crate::testutil`), checked per element
//! by the tests.

use crate::elementwise::{Build, at_level};
use crate::fully_connected::{at_least, f32s};
use crate::isa::Isa;
use crate::level::{Job, Level};
use crate::split;
use core::ops::Range;
use tflrs_ir::Op;
use tflrs_kernels::prep::conv::{Geom, Quant, conv2d};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// Output pixels per group.
const PX: usize = 4;

/// A kernel for a CONV_2D node with few input channels at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::Conv2d(_)) {
        return Ok(None);
    }
    let Ok(plan) = conv2d(node) else {
        return Ok(None);
    };
    let Quant::F32 { lo, hi } = plan.quant else {
        return Ok(None);
    };
    let g = plan.geom;
    // (A 1x1 filter is the GEMM's: its rows are the input itself.)
    if g.groups() != 1
        || g.in_c == 0
        || g.in_c > 4
        || g.out_c == 0
        || !g.out_c.is_multiple_of(8)
        || g.k_h * g.k_w == 1
    {
        return Ok(None);
    }
    let (c, k) = (g.out_c, g.k_h * g.k_w * g.in_c);
    let Some(w) = node.constant(1).and_then(|b| f32s(b, c * k)) else {
        return Ok(None);
    };
    let bias = match (node.optional_input(2).is_some(), node.constant(2)) {
        (false, _) => vec![0.0; c],
        (true, Some(b)) => match f32s(b, c) {
            Some(b) => b,
            None => return Ok(None),
        },
        (true, None) => return Ok(None),
    };
    // OHWI to `[tap, input channel][C_out]`.
    let mut packed = vec![0.0f32; k * c];
    for o in 0..c {
        for kk in 0..k {
            packed[kk * c + o] = w[o * k + kk];
        }
    }
    Ok(Some(at_level(
        isa,
        Make {
            name: format!("conv_2d_f32__{}_direct", isa.name()),
            g,
            w: packed,
            bias,
            range: (lo, hi),
        },
    )))
}

struct Make {
    name: String,
    g: Geom,
    w: Vec<f32>,
    bias: Vec<f32>,
    range: (f32, f32),
}

impl Build for Make {
    fn build<L: Level>(self, l: L) -> Box<dyn Kernel> {
        Box::new(ConvSmall {
            name: self.name,
            level: l,
            g: self.g,
            w: self.w,
            bias: self.bias,
            range: self.range,
        })
    }
}

struct ConvSmall<L> {
    name: String,
    level: L,
    g: Geom,
    /// `[k_h * k_w * C_in][C_out]`.
    w: Vec<f32>,
    bias: Vec<f32>,
    range: (f32, f32),
}

impl<L: Level> Kernel for ConvSmall<L> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let parallel = io.parallel();
        let (inputs, mut outputs, _, _) = io.split();
        let g = &self.g;
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, g.in_len(), "CONV_2D input")?;
        at_least(out, g.out_len(), "CONV_2D output")?;
        let (x, out) = (&x[..g.in_len()], &mut out[..g.out_len()]);
        let (l, w, bias, range) = (self.level, &self.w[..], &self.bias[..], self.range);
        let rows_of = |rows: Range<usize>, out: &mut [f32]| {
            l.dispatch(Rows {
                g,
                rows,
                x,
                w,
                bias,
                out,
                range,
            })
        };
        let rows = g.n * g.out_h;
        let macs = g.out_len().saturating_mul(g.k_h * g.k_w * g.in_c);
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

/// Output rows `rows` (over batches) of the convolution; `out` holds just them.
struct Rows<'a> {
    g: &'a Geom,
    rows: Range<usize>,
    x: &'a [f32],
    w: &'a [f32],
    bias: &'a [f32],
    out: &'a mut [f32],
    range: (f32, f32),
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

/// What one block computes: `P` output pixels (input column of filter column 0 at `ix0[p]`,
/// input row of filter row 0 `row0` over batches), channels `ch..ch + V * LANES`, over the taps
/// `fy`, `fx` (inside the input for every pixel).
struct Block {
    row0: i64,
    fy: (usize, usize),
    fx: (usize, usize),
    ch: usize,
}

/// Stores the block's outputs at `o[p]` (the output index of pixel `p`'s channel 0).
///
/// # Safety
/// Every tap of the ranges is inside the input for each pixel, `ch + V * LANES <= C_out`, and
/// `o[p] + C_out <= out.len()`.
#[inline(always)]
unsafe fn block<L: Level, const P: usize, const V: usize>(
    l: L,
    a: &Rows<'_>,
    blk: &Block,
    ix0: [i64; P],
    o: [usize; P],
    lo: L::V,
    hi: L::V,
) {
    let g = a.g;
    let (c, ic, n) = (g.out_c, g.in_c, L::LANES);
    let (xp, wp, op) = (a.x.as_ptr(), a.w.as_ptr(), a.out.as_ptr().cast_mut());
    let mut acc = [[l.splat(0.0); V]; P];
    for accp in acc.iter_mut() {
        for (v, acc) in accp.iter_mut().enumerate() {
            // SAFETY: the bias has `C_out >= ch + V * LANES` elements.
            *acc = unsafe { l.load(a.bias.as_ptr().add(blk.ch + v * n)) };
        }
    }
    for fy in blk.fy.0..blk.fy.1 {
        let iy = (blk.row0 + (fy * g.dil_h) as i64) as usize;
        for fx in blk.fx.0..blk.fx.1 {
            let xo: [usize; P] = core::array::from_fn(|p| {
                (iy * g.in_w + (ix0[p] + (fx * g.dil_w) as i64) as usize) * ic
            });
            let k0 = (fy * g.k_w + fx) * ic;
            for ci in 0..ic {
                let mut wv = [l.splat(0.0); V];
                for (v, wv) in wv.iter_mut().enumerate() {
                    // SAFETY: row `k0 + ci` of the packed filter has `C_out` elements.
                    *wv = unsafe { l.load(wp.add((k0 + ci) * c + blk.ch + v * n)) };
                }
                for (p, accp) in acc.iter_mut().enumerate() {
                    // SAFETY: the tap is inside the input (the contract).
                    let xv = l.splat(unsafe { *xp.add(xo[p] + ci) });
                    for (acc, &wv) in accp.iter_mut().zip(&wv) {
                        *acc = l.mul_add(xv, wv, *acc);
                    }
                }
            }
        }
    }
    for (p, accp) in acc.iter().enumerate() {
        for (v, &acc) in accp.iter().enumerate() {
            // SAFETY: `o[p] + ch + (v + 1) LANES <= o[p] + C_out <= out.len()`.
            unsafe { l.store(l.min(hi, l.max(lo, acc)), op.add(o[p] + blk.ch + v * n)) };
        }
    }
}

/// The channel blocks of `P` pixels: 2 vectors at a time, then 1 (`C_out` is a multiple of
/// 8, so of the lanes).
///
/// # Safety
/// As [`block`], for the whole of `0..C_out`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn pixels<L: Level, const P: usize>(
    l: L,
    a: &Rows<'_>,
    row0: i64,
    fy: (usize, usize),
    fx: (usize, usize),
    ix0: [i64; P],
    o: [usize; P],
    lo: L::V,
    hi: L::V,
) {
    let (c, n) = (a.g.out_c, L::LANES);
    let mut ch = 0;
    while ch + 2 * n <= c {
        let b = Block { row0, fy, fx, ch };
        // SAFETY: the caller's contract; `ch + 2 LANES <= C_out`.
        unsafe { block::<L, P, 2>(l, a, &b, ix0, o, lo, hi) };
        ch += 2 * n;
    }
    while ch + n <= c {
        let b = Block { row0, fy, fx, ch };
        // SAFETY: as above.
        unsafe { block::<L, P, 1>(l, a, &b, ix0, o, lo, hi) };
        ch += n;
    }
}

impl Job for Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: Level>(self, l: L) {
        let a = self;
        let g = a.g;
        let c = g.out_c;
        assert!(
            a.x.len() == g.in_len()
                && a.w.len() == g.k_h * g.k_w * g.in_c * c
                && a.bias.len() == c
                && a.rows.end <= g.n * g.out_h
                && a.out.len() == a.rows.len() * g.out_w * c
                && c.is_multiple_of(L::LANES)
        );
        let (lo, hi) = (l.splat(a.range.0), l.splat(a.range.1));
        for r in a.rows.clone() {
            let (b, oy) = (r / g.out_h, r % g.out_h);
            let iy0 = (oy * g.stride_h) as i64 - g.pad_h;
            let fy = taps(iy0, g.dil_h, g.k_h, g.in_h);
            let row0 = (b * g.in_h) as i64 + iy0;
            let o_row = (r - a.rows.start) * g.out_w * c;
            let ix = |ox: usize| (ox * g.stride_w) as i64 - g.pad_w;
            let full = |ox: usize| taps(ix(ox), g.dil_w, g.k_w, g.in_w) == (0, g.k_w);
            let mut ox = 0;
            while ox < g.out_w {
                if ox + PX <= g.out_w && full(ox) && full(ox + PX - 1) {
                    let ix0: [i64; PX] = core::array::from_fn(|p| ix(ox + p));
                    let o: [usize; PX] = core::array::from_fn(|p| o_row + (ox + p) * c);
                    // SAFETY: the first and last pixels' columns are inside the input, so
                    // those between are; the rows `fy` are inside for the whole row; the
                    // outputs lie in `out` (checked above).
                    unsafe { pixels::<L, PX>(l, &a, row0, fy, (0, g.k_w), ix0, o, lo, hi) };
                    ox += PX;
                } else {
                    let fx = taps(ix(ox), g.dil_w, g.k_w, g.in_w);
                    // SAFETY: the taps `fy` x `fx` are inside the input.
                    unsafe {
                        pixels::<L, 1>(l, &a, row0, fy, fx, [ix(ox)], [o_row + ox * c], lo, hi)
                    };
                    ox += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{ACTIVATIONS, Axes, Case, for_each_backend, input};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, Conv2dAttrs, DType, Op, Padding};
    use tflrs_kernels::TensorInfo;
    use tflrs_kernels::testing::TestInput;

    /// One CONV_2D case with few input channels.
    #[derive(Debug, Clone)]
    struct Conv {
        batch: usize,
        extra: (usize, usize),
        in_c: usize,
        out_c: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        padding: Padding,
        bias: bool,
        act: Activation,
        seed: u64,
    }

    fn strategy() -> impl Strategy<Value = Conv> {
        let ks = prop::sample::select(vec![1usize, 2, 3, 5]);
        let s12 = prop::sample::select(vec![1usize, 2, 2]);
        (
            (1usize..=2, (0usize..=12, 0usize..=12)),
            (
                1usize..=4,
                prop::sample::select(vec![8usize, 16, 24, 32, 40]),
            ),
            (ks.clone(), ks),
            (s12.clone(), s12.clone()),
            (
                prop::sample::select(vec![1usize, 1, 2]),
                prop::sample::select(vec![1usize, 1, 2]),
            ),
            prop::sample::select(vec![Padding::Same, Padding::Valid]),
            any::<bool>(),
            prop::sample::select(ACTIVATIONS.to_vec()),
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
                    seed,
                )| Conv {
                    batch,
                    extra,
                    in_c,
                    out_c,
                    // (1x1 filters are the GEMM's.)
                    kernel: if kernel == (1, 1) { (1, 3) } else { kernel },
                    stride,
                    dilation,
                    padding,
                    bias,
                    act,
                    seed,
                },
            )
    }

    /// The case's node and values with the bound's terms.
    fn case(p: &Conv) -> Case {
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
                true,
                TensorInfo::new("w", DType::Float32, [oc, kh, kw, c]),
                &w,
            )),
            p.bias
                .then(|| input(true, TensorInfo::new("b", DType::Float32, [oc]), &bias)),
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
        t
    }

    #[test]
    fn direct_conv_matches_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            runner
                .run(&strategy(), |p| {
                    let name = case(&p)
                        .check(backend)
                        .map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))?;
                    prop_assert_eq!(
                        name,
                        format!("conv_2d_f32__{}_direct", backend.isa().name())
                    );
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn mobilenet_first_layer_and_threads() {
        for_each_backend(|backend, _| {
            // MobileNet's first layer (3x3 stride 2, SAME, RGB to 16 channels, RELU6) on a
            // small image, then the split over 2 and 3 threads.
            let p = Conv {
                batch: 1,
                extra: (30, 31),
                in_c: 3,
                out_c: 16,
                kernel: (3, 3),
                stride: (2, 2),
                dilation: (1, 1),
                padding: Padding::Same,
                bias: true,
                act: Activation::Relu6,
                seed: 3,
            };
            let t = case(&p);
            let name = t.check(backend).unwrap();
            assert_eq!(
                name,
                format!("conv_2d_f32__{}_direct", backend.isa().name())
            );
            crate::testutil::same_bytes_on_1_2_3_threads(
                backend, &t.op, &t.inputs, &t.outputs, true,
            )
            .unwrap();
        });
    }
}

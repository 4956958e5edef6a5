//! FULLY_CONNECTED and CONV_2D int8 on the exact int8 GEMM ([`crate::gemm_i8`]): outputs equal
//! to the scalar (LiteRT reference) kernels' byte for byte.
//!
//! - FULLY_CONNECTED int8 (`fully_connected_i8__{isa}_{MR}x{NR}`): per-tensor weights (their
//!   zero point honoured) or per-channel ones. The epilogue is the scalar kernel's: int32 bias
//!   added (wrapping), `round(acc * scale[unit])` in double, converted as x86 does, plus the
//!   output zero point, clamped.
//! - CONV_2D int8, one group: 1x1, stride 1, no padding (`conv_2d_i8__{isa}_{MR}x{NR}_1x1`):
//!   the NHWC input is `A` (`M = batches * H * W`, `K = C_in`), the OHWI filter `[C_out x
//!   C_in]`; any other window (`conv_2d_i8__{isa}_{MR}x{NR}`): row `q` of `A` is output pixel
//!   `q`'s window (`K = k_h * k_w * C_in`, the filter's OHWI order), gathered as it is widened,
//!   padding taps 0 (which add nothing, as the scalar kernels' skipped taps). The epilogue is `IntParams`' (the scalar `finish`): bias, LiteRT's
//!   `MultiplyByQuantizedMultiplier` ([`qmath::multiply_by_quantized_multiplier`]), zero point,
//!   clamp.
//!
//! Taken only with constant weights and offsets (negated zero points) in `-127..=128`; every
//! other node (uint8, int16, hybrid, computed weights, groups) is `Ok(None)`.

use crate::gemm_i8::{GemmI8, MR, Requant, offset_fits, widen};
use crate::isa::Isa;
use crate::split;
use tflrs_ir::Op;
use tflrs_kernels::Parallel;
use tflrs_kernels::prep::conv::{Bias, FcParams, Geom, Quant, conv2d, fully_connected};
use tflrs_kernels::scalar::qmath;
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// The constant weights of input 1 as `len` int8 values, or `None`.
fn constant_i8(node: &NodeCtx<'_>, len: usize) -> Option<Vec<i8>> {
    let bytes = node.constant(1)?.get(..len)?;
    Some(bytes.iter().map(|&b| b as i8).collect())
}

/// A FULLY_CONNECTED int8 kernel at `isa`, or `Ok(None)`.
pub(crate) fn fully_connected_kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::FullyConnected(_)) {
        return Ok(None);
    }
    let Ok(plan) = fully_connected(node) else {
        return Ok(None);
    };
    let Quant::I8(p) = plan.quant else {
        return Ok(None);
    };
    let (units, depth) = (plan.units, plan.depth);
    if depth == 0 || !offset_fits(p.in_offset) || !offset_fits(p.w_offset) {
        return Ok(None);
    }
    let Some(w) = constant_i8(node, units * depth) else {
        return Ok(None);
    };
    let gemm = GemmI8::new(isa, depth, units, &w, p.w_offset, p.in_offset);
    Ok(Some(Box::new(FullyConnectedI8 {
        name: format!("fully_connected_i8__{}", gemm.kernel().name()),
        gemm,
        batches: plan.batches,
        p,
    })))
}

/// The x86 conversion of a rounded double to int32 (`cvttsd2si`: `i32::MIN` out of range), as
/// the scalar kernel converts `round(acc * scale)`.
#[inline]
fn f64_to_i32_x86(v: f64) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// Checks that a tensor has at least `len` elements.
fn at_least<T>(s: &[T], len: usize, what: &str) -> Result<(), KernelError> {
    crate::fully_connected::at_least(s, len, what)
}

/// Runs `gemm` over rows `0..m` (`fill` widens row `i`), `emit(i, j0, accs, out_row)`
/// writing each run of outputs into `out` (row `i` of `n` values), split over `parallel` as
/// [`crate::split`] says. A task takes the scratch of the thread that runs it (the kernels'
/// scratch is [per thread](Kernel::scratch_per_thread)); each output is in one task and
/// computed as the serial walk computes it, so `out` does not depend on the threads.
#[allow(clippy::too_many_arguments)]
fn run_split(
    gemm: &GemmI8,
    parallel: Option<&dyn Parallel>,
    m: usize,
    scratch: &mut [u8],
    out: &mut [i8],
    n: usize,
    fill: impl Fn(usize, &mut [i16]) + Sync,
    emit: impl Fn(usize, usize, &[i32], &mut [i8]) + Sync,
) {
    let sb = gemm.scratch_bytes();
    let macs = m.saturating_mul(n).saturating_mul(gemm.k());
    let p = split::threads_for(parallel, macs).filter(|p| scratch.len() >= sb * p.threads());
    let Some(p) = p else {
        return gemm.run_rows(m, scratch, fill, |i, j0, accs| {
            emit(i, j0, accs, &mut out[i * n + j0..][..accs.len()])
        });
    };
    assert!(m == 0 || out.len() >= m * n, "output is too short");
    let grid = split::Grid::new(m.div_ceil(MR), gemm.panels(), p.threads());
    let (out, scratch) = (split::Shared::new(out), split::Shared::new(scratch));
    p.for_each(grid.tasks(), &|t, thread| {
        let (tiles, panels) = grid.task(t);
        let rows = tiles.start * MR..(tiles.end * MR).min(m);
        if rows.is_empty() || panels.is_empty() {
            return;
        }
        // SAFETY: a thread index runs one task at a time, and its scratch is its own.
        let scratch = unsafe { scratch.slice(thread * sb, sb) };
        gemm.run_part(rows, panels, scratch, &fill, |i, j0, accs| {
            // SAFETY: the tasks' outputs are disjoint (one tile belongs to one task).
            let row = unsafe { out.slice(i * n + j0, accs.len()) };
            emit(i, j0, accs, row);
        });
    });
}

/// FULLY_CONNECTED int8 over packed weights.
struct FullyConnectedI8 {
    name: String,
    gemm: GemmI8,
    batches: usize,
    p: FcParams,
}

impl Kernel for FullyConnectedI8 {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        self.gemm.scratch_bytes()
    }

    fn scratch_per_thread(&self) -> bool {
        true
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let parallel = io.parallel();
        let (inputs, mut outputs, scratch, _) = io.split();
        let (m, k, n) = (self.batches, self.gemm.k(), self.gemm.n());
        let x = inputs.get(0)?.as_slice::<i8>()?;
        let bias = Bias::view(inputs.optional(2), n)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<i8>()?;
        at_least(x, m * k, "FULLY_CONNECTED input")?;
        at_least(out, m * n, "FULLY_CONNECTED output")?;
        let p = &self.p;
        let off = self.gemm.in_offset();
        let fill = |i: usize, dst: &mut [i16]| widen(&x[i * k..][..k], off, dst);
        let emit = |_: usize, j0: usize, accs: &[i32], row: &mut [i8]| {
            for (c, (o, &acc)) in row.iter_mut().zip(accs).enumerate() {
                let j = j0 + c;
                let acc = acc.wrapping_add(bias.int(j) as i32);
                let v = f64_to_i32_x86(qmath::round_f64(f64::from(acc) * p.scale[j]))
                    .wrapping_add(p.out_zp);
                *o = v.max(p.lo).min(p.hi) as i8;
            }
        };
        run_split(&self.gemm, parallel, m, scratch, out, n, fill, emit);
        Ok(())
    }
}

/// A CONV_2D int8 kernel at `isa` (one group, any window), or `Ok(None)`.
pub(crate) fn conv_2d_kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::Conv2d(_)) {
        return Ok(None);
    }
    let Ok(plan) = conv2d(node) else {
        return Ok(None);
    };
    let Quant::I8(p) = plan.quant else {
        return Ok(None);
    };
    let g = plan.geom;
    if g.groups() != 1 || !offset_fits(p.in_offset) || !offset_fits(p.w_offset) {
        return Ok(None);
    }
    let direct = g.k_h == 1
        && g.k_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_h == 0
        && g.pad_w == 0;
    let (k, n) = (g.k_h * g.k_w * g.in_c, g.out_c);
    let Some(w) = constant_i8(node, n * k) else {
        return Ok(None);
    };
    let gemm = GemmI8::new(isa, k, n, &w, p.w_offset, p.in_offset);
    Ok(Some(Box::new(Conv2dI8 {
        name: format!(
            "conv_2d_i8__{}{}",
            gemm.kernel().name(),
            if direct { "_1x1" } else { "" }
        ),
        gemm,
        g,
        direct,
        rq: Requant::new(&p.mult, &p.shift, p.out_zp, p.lo, p.hi),
    })))
}

/// CONV_2D int8 over a packed filter.
struct Conv2dI8 {
    name: String,
    gemm: GemmI8,
    g: Geom,
    /// 1x1, stride 1, unpadded: the input is `A` itself.
    direct: bool,
    rq: Requant,
}

/// Widens the window of output pixel `q` (over batches, rows and columns) into `dst`, in the
/// filter's order (row, column, channel), with the input offset applied; taps in the padding
/// are 0 (the scalar kernels skip them, or read the zero point, which the offset cancels).
pub(crate) fn widen_window(g: &Geom, x: &[i8], offset: i16, q: usize, dst: &mut [i16]) {
    let (b, rem) = (q / (g.out_h * g.out_w), q % (g.out_h * g.out_w));
    let (oy, ox) = (rem / g.out_w, rem % g.out_w);
    let c = g.in_c;
    for fy in 0..g.k_h {
        let iy = (oy * g.stride_h + fy * g.dil_h) as i64 - g.pad_h;
        for fx in 0..g.k_w {
            let ix = (ox * g.stride_w + fx * g.dil_w) as i64 - g.pad_w;
            let d = &mut dst[(fy * g.k_w + fx) * c..][..c];
            if (0..g.in_h as i64).contains(&iy) && (0..g.in_w as i64).contains(&ix) {
                let at = ((b * g.in_h + iy as usize) * g.in_w + ix as usize) * c;
                widen(&x[at..][..c], offset, d);
            } else {
                d.fill(0);
            }
        }
    }
}

impl Kernel for Conv2dI8 {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        self.gemm.scratch_bytes()
    }

    fn scratch_per_thread(&self) -> bool {
        true
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let parallel = io.parallel();
        let (inputs, mut outputs, scratch, _) = io.split();
        let g = &self.g;
        let (m, k, n) = (g.n * g.out_h * g.out_w, self.gemm.k(), g.out_c);
        let x = inputs.get(0)?.as_slice::<i8>()?;
        let bias = Bias::view(inputs.optional(2), n)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<i8>()?;
        at_least(x, g.in_len(), "CONV_2D input")?;
        at_least(out, g.out_len(), "CONV_2D output")?;
        let bias = match bias {
            Bias::I32(b) => Some(b),
            _ => None,
        };
        let rq = &self.rq;
        #[cfg(target_arch = "x86_64")]
        let avx2 = self.gemm.avx2();
        let emit = |_: usize, j0: usize, accs: &[i32], row: &mut [i8]| {
            rq.row(
                #[cfg(target_arch = "x86_64")]
                avx2,
                j0,
                accs,
                bias,
                row,
            );
        };
        let off = self.gemm.in_offset();
        if self.direct {
            let fill = |i: usize, dst: &mut [i16]| widen(&x[i * k..][..k], off, dst);
            run_split(&self.gemm, parallel, m, scratch, out, n, fill, emit);
        } else {
            let fill = |q: usize, dst: &mut [i16]| widen_window(g, x, off, q, dst);
            run_split(&self.gemm, parallel, m, scratch, out, n, fill, emit);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::SimdBackend;
    use crate::testutil::{ACTIVATIONS, Axes, edge_or_any, for_each_backend};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, Conv2dAttrs, DType, FullyConnectedAttrs, Op, Padding, QuantParams};
    use tflrs_kernels::testing::{Harness, TestInput, make_kernel};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    /// Zero points: both ends of int8, 0, or any.
    fn zero_point() -> impl Strategy<Value = i64> + Clone {
        prop_oneof![Just(-128i64), Just(127i64), Just(0i64), -128i64..=127]
    }

    /// A scale `m * 2^e`, `m` in `[1, 2)`: requantization multipliers from `2^-14` to `2^3`
    /// (right and left shifts).
    fn scale() -> impl Strategy<Value = f32> + Clone {
        (1.0f32..2.0, -8i32..=1).prop_map(|(m, e)| m * 2f32.powi(e))
    }

    /// Quantization options shared by both ops.
    #[derive(Debug, Clone)]
    struct Q {
        in_zp: i64,
        out_zp: i64,
        /// The per-tensor weights' zero point (FULLY_CONNECTED only; CONV_2D's is 0).
        w_zp: i64,
        in_scale: f32,
        out_scale: f32,
        /// One scale (per tensor) or one per output channel.
        w_scales: Vec<f32>,
        per_channel: bool,
        bias: bool,
        act: Activation,
        seed: u64,
    }

    /// Quantization for `channels` outputs of `depth` products each. The output scale puts
    /// typical accumulators (about `sqrt(depth) * 128 * 74`) at `2^t` output steps, `t` from 0
    /// to 7 (some outputs clamp, most do not), or, one case in four, makes the multiplier
    /// `in * w / out` at least 1 (left shifts). Per-channel scales differ by up to 4x.
    fn q_strategy(channels: usize, depth: usize) -> impl Strategy<Value = Q> {
        (
            (zero_point(), zero_point(), zero_point()),
            (
                scale(),
                scale(),
                prop::collection::vec(0.5f32..2.0, channels),
            ),
            (any::<bool>(), prop_oneof![3 => 0i32..=7, 1 => Just(99)]),
            any::<bool>(),
            prop::sample::select(ACTIVATIONS.to_vec()),
            any::<u64>(),
        )
            .prop_map(
                move |(
                    (in_zp, out_zp, w_zp),
                    (in_scale, w0, ratios),
                    (per_channel, t),
                    bias,
                    act,
                    seed,
                )| {
                    let typical = (depth as f32).sqrt() * 128.0 * 74.0;
                    let out_scale = if t == 99 {
                        in_scale * w0 / (1.0 + (seed % 3) as f32)
                    } else {
                        in_scale * w0 * typical / 2f32.powi(t)
                    };
                    Q {
                        in_zp,
                        out_zp,
                        w_zp,
                        in_scale,
                        out_scale,
                        w_scales: ratios.iter().map(|r| w0 * r).collect(),
                        per_channel,
                        bias,
                        act,
                        seed,
                    }
                },
            )
    }

    /// `n` int8 values (xorshift from `seed`), the first two -128 and 127.
    fn bytes(seed: &mut u64, n: usize) -> Vec<i8> {
        let mut v: Vec<i8> = (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                (*seed >> 32) as i8
            })
            .collect();
        for (x, e) in v.iter_mut().zip([-128i8, 127]) {
            *x = e;
        }
        v
    }

    /// int32 biases, some large.
    fn biases(seed: &mut u64, n: usize) -> Vec<i32> {
        bytes(seed, 4 * n)
            .chunks_exact(4)
            .enumerate()
            .map(|(i, c)| {
                let v = i32::from_le_bytes([c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8]);
                if i % 3 == 0 { v } else { v >> 12 }
            })
            .collect()
    }

    /// The node's inputs: `x`, constant weights `w` (quantized along axis 0), an optional
    /// constant bias.
    fn inputs(
        q: &Q,
        x_shape: Vec<usize>,
        w_shape: Vec<usize>,
        channels: usize,
        w_zp: i64,
    ) -> Vec<Option<TestInput>> {
        let mut seed = q.seed | 1;
        let xn: usize = x_shape.iter().product();
        let wn: usize = w_shape.iter().product();
        let x = bytes(&mut seed, xn);
        let w = bytes(&mut seed, wn);
        let b = biases(&mut seed, channels);
        let x_info = TensorInfo::new("x", DType::Int8, x_shape).with_quant(q.in_scale, q.in_zp);
        let mut w_info = TensorInfo::new("w", DType::Int8, w_shape);
        w_info.quant = Some(if q.per_channel {
            QuantParams::per_axis(0, q.w_scales.clone(), vec![0; channels])
        } else {
            QuantParams::per_tensor(q.w_scales[0], w_zp)
        });
        let b_info = TensorInfo::new("b", DType::Int32, [channels]);
        vec![
            Some(TestInput::from_slice(x_info, &x)),
            Some(TestInput::const_from_slice(w_info, &w)),
            q.bias.then(|| TestInput::const_from_slice(b_info, &b)),
        ]
    }

    /// Runs the node on `backend` and on the scalar backend and compares the outputs byte for
    /// byte; returns the SIMD kernel's name.
    /// Also counts into `spread` the cases, and those with at least a quarter of their outputs
    /// off the int8 extremes (so that the cases are not all clamped).
    fn compare(
        backend: &SimdBackend,
        op: &Op<'_>,
        inputs: &[Option<TestInput>],
        outputs: &[TensorInfo],
        spread: &core::cell::Cell<(usize, usize)>,
    ) -> Result<String, String> {
        let name = Harness::new()
            .compare(backend, &ScalarBackend, op, inputs, outputs)
            .map(|(a, _)| a)
            .map_err(|e| e.to_string())?;
        let out = Harness::new()
            .run_node(&ScalarBackend, op, &mut inputs.to_vec(), outputs)
            .map_err(|e| e.to_string())?;
        let (all, inside) = spread.get();
        let off = out[0].iter().filter(|&&b| b != 0x80 && b != 0x7f).count();
        spread.set((all + 1, inside + usize::from(4 * off >= out[0].len())));
        Ok(name)
    }

    /// Fails unless at least a fifth of the cases had a quarter of their outputs off the int8
    /// extremes (about 60% of them do).
    fn check_spread((all, inside): (usize, usize)) {
        println!("{inside} of {all} cases with a quarter of their outputs unclamped");
        assert!(
            5 * inside >= all,
            "{inside} of {all} cases with a quarter of their outputs unclamped"
        );
    }

    #[derive(Debug, Clone)]
    struct Fc {
        batches: usize,
        units: usize,
        depth: usize,
        q: Q,
    }

    fn fc_strategy() -> impl Strategy<Value = Fc> {
        (
            edge_or_any(1..=20),
            edge_or_any(1..=40),
            edge_or_any(1..=70),
        )
            .prop_flat_map(|(batches, units, depth)| {
                q_strategy(units, depth).prop_map(move |q| Fc {
                    batches,
                    units,
                    depth,
                    q,
                })
            })
    }

    fn fc_node(f: &Fc) -> (Op<'static>, Vec<Option<TestInput>>, Vec<TensorInfo>) {
        let op = Op::FullyConnected(FullyConnectedAttrs {
            fused_activation_function: f.q.act,
            ..Default::default()
        });
        let (b, u, d) = (f.batches, f.units, f.depth);
        let ins = inputs(&f.q, vec![b, d], vec![u, d], u, f.q.w_zp);
        let out = TensorInfo::new("y", DType::Int8, [b, u]).with_quant(f.q.out_scale, f.q.out_zp);
        (op, ins, vec![out])
    }

    #[test]
    fn fully_connected_i8_equals_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            let spread = core::cell::Cell::new((0, 0));
            runner
                .run(&fc_strategy(), |f| {
                    let (op, ins, outs) = fc_node(&f);
                    let name = compare(backend, &op, &ins, &outs, &spread)
                        .map_err(|e| TestCaseError::fail(format!("{f:?}: {e}")))?;
                    let want = format!("fully_connected_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    Ok(())
                })
                .unwrap();
            check_spread(spread.get());
        });
    }

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
        q: Q,
    }

    fn conv_strategy() -> impl Strategy<Value = Conv> {
        let ks = prop::sample::select(vec![1usize, 1, 3, 5]);
        let s12 = prop::sample::select(vec![1usize, 1, 2]);
        (
            (1usize..=2, (0usize..=5, 0usize..=5)),
            (edge_or_any(1..=20), edge_or_any(1..=40)),
            (
                (ks.clone(), ks),
                (s12.clone(), s12.clone()),
                (s12.clone(), s12),
            ),
            prop::sample::select(vec![Padding::Same, Padding::Valid]),
        )
            .prop_flat_map(
                |((batch, extra), (in_c, out_c), (kernel, stride, dilation), padding)| {
                    q_strategy(out_c, in_c * kernel.0 * kernel.1).prop_map(move |q| Conv {
                        batch,
                        extra,
                        in_c,
                        out_c,
                        kernel,
                        stride,
                        dilation,
                        padding,
                        q: q.clone(),
                    })
                },
            )
    }

    /// The node, and whether the direct 1x1 path should take it.
    fn conv_node(c: &Conv) -> (Op<'static>, Vec<Option<TestInput>>, Vec<TensorInfo>, bool) {
        let op = Op::Conv2d(Conv2dAttrs {
            padding: c.padding,
            stride_h: c.stride.0 as i32,
            stride_w: c.stride.1 as i32,
            dilation_h_factor: c.dilation.0 as i32,
            dilation_w_factor: c.dilation.1 as i32,
            fused_activation_function: c.q.act,
            ..Default::default()
        });
        let (kh, kw) = c.kernel;
        let axes = Axes::new(c.padding, c.kernel, c.stride, c.dilation, c.extra);
        let ((h, w), (oh, ow)) = (axes.input, axes.output);
        let ins = inputs(
            &c.q,
            vec![c.batch, h, w, c.in_c],
            vec![c.out_c, kh, kw, c.in_c],
            c.out_c,
            0,
        );
        let out = TensorInfo::new("y", DType::Int8, [c.batch, oh, ow, c.out_c])
            .with_quant(c.q.out_scale, c.q.out_zp);
        let direct = c.kernel == (1, 1) && c.stride == (1, 1);
        (op, ins, vec![out], direct)
    }

    #[test]
    fn conv_2d_i8_equals_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            let spread = core::cell::Cell::new((0, 0));
            runner
                .run(&conv_strategy(), |c| {
                    let (op, ins, outs, direct) = conv_node(&c);
                    let name = compare(backend, &op, &ins, &outs, &spread)
                        .map_err(|e| TestCaseError::fail(format!("{c:?}: {e}")))?;
                    let want = format!("conv_2d_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    prop_assert_eq!(name.ends_with("_1x1"), direct, "{}", name);
                    Ok(())
                })
                .unwrap();
            check_spread(spread.get());
        });
    }

    #[test]
    fn outputs_are_the_same_bytes_on_1_2_3_threads() {
        for_each_backend(|backend, _| {
            let spread = core::cell::Cell::new((0, 0));
            let q = |channels: usize, depth: usize, seed: u64| {
                let typical = (depth as f32).sqrt() * 128.0 * 74.0;
                Q {
                    in_zp: -3,
                    out_zp: 7,
                    w_zp: 0,
                    in_scale: 0.5,
                    out_scale: 0.5 * 0.25 * typical / 8.0,
                    w_scales: (0..channels)
                        .map(|j| 0.25 + (j % 5) as f32 * 0.05)
                        .collect(),
                    per_channel: true,
                    bias: true,
                    act: Activation::Relu6,
                    seed,
                }
            };
            // (side, C_in, C_out, kernel, stride, split): a row split, a 3x3 window, few
            // rows and many filters (a column split), too small to split.
            for (hw, c, oc, k, s, split) in [
                (24, 32, 40, 1, 1, true),
                (12, 16, 24, 3, 1, true),
                (5, 64, 130, 3, 2, true),
                (4, 8, 8, 3, 1, false),
            ] {
                let conv = Conv {
                    batch: 1,
                    extra: (hw - k, hw - k),
                    in_c: c,
                    out_c: oc,
                    kernel: (k, k),
                    stride: (s, s),
                    dilation: (1, 1),
                    padding: Padding::Same,
                    q: q(oc, k * k * c, (hw * 100 + oc) as u64),
                };
                let (op, ins, outs, _) = conv_node(&conv);
                crate::testutil::same_bytes_on_1_2_3_threads(backend, &op, &ins, &outs, split)
                    .unwrap();
                compare(backend, &op, &ins, &outs, &spread).unwrap();
            }
            for (batches, units, depth, split) in [(1, 300, 400, true), (64, 40, 50, true)] {
                let fc = Fc {
                    batches,
                    units,
                    depth,
                    q: Q {
                        per_channel: false,
                        w_zp: 5,
                        ..q(units, depth, units as u64)
                    },
                };
                let (op, ins, outs) = fc_node(&fc);
                crate::testutil::same_bytes_on_1_2_3_threads(backend, &op, &ins, &outs, split)
                    .unwrap();
                compare(backend, &op, &ins, &outs, &spread).unwrap();
            }
            check_spread(spread.get());
        });
    }

    #[test]
    fn groups_and_computed_weights_stay_with_the_scalar_backend() {
        for_each_backend(|backend, _| {
            let q = Q {
                in_zp: 3,
                out_zp: -5,
                w_zp: 0,
                in_scale: 0.5,
                out_scale: 2.0,
                w_scales: vec![0.25; 6],
                per_channel: false,
                bias: true,
                act: Activation::Relu,
                seed: 9,
            };
            let c = Conv {
                batch: 1,
                extra: (2, 2),
                in_c: 4,
                out_c: 6,
                kernel: (3, 3),
                stride: (1, 1),
                dilation: (1, 1),
                padding: Padding::Valid,
                q: q.clone(),
            };
            let (op, mut ins, outs, _) = conv_node(&c);
            assert!(
                make_kernel(backend, &op, &ins, &outs).unwrap().is_some(),
                "3x3"
            );
            // Two groups of two input channels.
            let w = ins[1].as_mut().unwrap();
            w.info.shape = vec![6, 3, 3, 2];
            w.bytes.truncate(6 * 3 * 3 * 2);
            assert!(
                make_kernel(backend, &op, &ins, &outs).unwrap().is_none(),
                "groups"
            );
            let f = Fc {
                batches: 2,
                units: 6,
                depth: 5,
                q,
            };
            let (op, mut ins, outs) = fc_node(&f);
            let w = ins[1].as_ref().unwrap();
            ins[1] = Some(TestInput::new(w.info.clone(), w.bytes.clone()));
            assert!(
                make_kernel(backend, &op, &ins, &outs).unwrap().is_none(),
                "computed"
            );
        });
    }
}

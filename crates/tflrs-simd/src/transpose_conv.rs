//! TRANSPOSE_CONV float32 as a GEMM and a scatter (XNNPACK's deconvolution as GEMM + col2im):
//! one input row at a time, `col[in_w x (taps * out_c)] = x_row[in_w x in_c] * B`, with `B`'s
//! column `tap * out_c + oc` the OHWI weights of `(oc, tap)` (packed once at preparation, or at
//! each run for computed weights, through a buffer allocated at preparation); each input
//! pixel's columns are then added into the outputs its taps reach. A second pass adds the bias
//! and clamps, as the scalar kernel (LiteRT's reference) does.
//!
//! Float results differ from the scalar kernel's only by summation order and FMA: each output
//! is the sum of `in_c` products per (input pixel, tap) that reaches it, within the bound of
//! `testutil` for that many products.
//!
//! int8 (`transpose_conv_i8__{isa}_{MR}x{NR}`, constant weights) takes the same route on the
//! exact int8 GEMM: each (input pixel, tap, channel)'s int32 sum over the input channels is
//! added into an int32 accumulator per output in scratch (modulo 2^32, so in any order the
//! scalar kernel's accumulators), then the bias, LiteRT's `MultiplyByQuantizedMultiplier`,
//! zero point and clamp per channel ([`Requant`]): byte-equal to the scalar kernel.
//!
//! Hybrid (`transpose_conv_hybrid_i8__{isa}`, constant weights): LiteRT's kernel scales each
//! product on its own (`acc += (q - zp) * w * channel_scale * batch_scale` in float, in the
//! scatter order), so no GEMM can give its sums. This kernel keeps its order exactly, each
//! output's additions in the sequence (input pixel, tap, input channel), and vectorizes across
//! output channels instead: the same four float operations per lane, unfused (the integer
//! product `(q - zp) * w` is exact in f32, `|.| <= 255 * 128`). Bit-equal to the scalar kernel.
//! The input is quantized per batch as the other hybrid kernels do ([`crate::hybrid`]).
//!
//! Kernels: `transpose_conv_f32__{isa}_{MR}x{NR}`, `transpose_conv_i8__{isa}_{MR}x{NR}`,
//! `transpose_conv_hybrid_i8__{isa}`. Every other type (int16, uint8, computed int8 weights)
//! is `Ok(None)`.

use crate::gemm::PackedGemm;
use crate::gemm_i8::{GemmI8, Requant, offset_fits};
use crate::isa::Isa;
use tflrs_ir::Op;
use tflrs_kernels::prep::conv::{Bias, Geom, Quant, transpose_conv};
use tflrs_kernels::scalar::qmath::clamp_f32;
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A TRANSPOSE_CONV float32 kernel at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::TransposeConv(_)) {
        return Ok(None);
    }
    let Ok(plan) = transpose_conv(node) else {
        return Ok(None);
    };
    let g = plan.geom;
    let (lo, hi) = match plan.quant {
        Quant::F32 { lo, hi } => (lo, hi),
        Quant::I8(p) => {
            if !offset_fits(p.in_offset) || !offset_fits(p.w_offset) {
                return Ok(None);
            }
            let Some(w) = node.constant(1).and_then(|b| b.get(..g.filter_len())) else {
                return Ok(None);
            };
            let w: Vec<i8> = permute(&g, &w.iter().map(|&b| b as i8).collect::<Vec<_>>());
            let n = g.k_h * g.k_w * g.out_c;
            let gemm = GemmI8::new(isa, g.in_c, n, &w, p.w_offset, p.in_offset);
            return Ok(Some(Box::new(TransposeConvI8 {
                name: format!("transpose_conv_i8__{}", gemm.kernel().name()),
                gemm,
                g,
                rq: Requant::new(&p.mult, &p.shift, p.out_zp, p.lo, p.hi),
            })));
        }
        Quant::Hybrid { h, lo, hi } => {
            let Some(w) = node.constant(1).and_then(|b| b.get(..g.filter_len())) else {
                return Ok(None);
            };
            // `[tap][ic][oc]` as f32 (exact: int8 values).
            let (taps, ic, oc) = (g.k_h * g.k_w, g.in_c, g.out_c);
            let mut wt = vec![0.0f32; taps * ic * oc];
            for o in 0..oc {
                for t in 0..taps {
                    for i in 0..ic {
                        wt[(t * ic + i) * oc + o] = f32::from(w[(o * taps + t) * ic + i] as i8);
                    }
                }
            }
            let level = HybridLevel::of(isa);
            return Ok(Some(Box::new(TransposeConvHybrid {
                name: format!("transpose_conv_hybrid_i8__{}", level.name()),
                isa,
                level,
                g,
                wt,
                h,
                range: (lo, hi),
            })));
        }
        _ => return Ok(None),
    };
    let (k, n) = (g.in_c, g.k_h * g.k_w * g.out_c);
    let mut t = TransposeConvF32 {
        name: String::new(),
        gemm: PackedGemm::unpacked(crate::gemm::MicroKernel::choose(isa, n), k, n),
        wt: vec![0.0; n * k],
        g,
        range: (lo, hi),
        computed: true,
    };
    if let Some(w) = node
        .constant(1)
        .and_then(|b| crate::fully_connected::f32s(b, g.filter_len()))
    {
        t.permute(&w);
        t.gemm.pack(&t.wt, 1, k);
        t.computed = false;
    }
    t.name = format!("transpose_conv_f32__{}", t.gemm.kernel().name());
    Ok(Some(Box::new(t)))
}

struct TransposeConvF32 {
    name: String,
    g: Geom,
    /// `B` for `K = in_c`, `N = taps * out_c`.
    gemm: PackedGemm,
    /// The weights as `[N x K]` rows (`tap * out_c + oc`), for packing.
    wt: Vec<f32>,
    range: (f32, f32),
    /// The weights are packed at each run.
    computed: bool,
}

/// OHWI weights into `[tap * out_c + oc][ic]` rows, in `dst`.
fn permute_into<T: Copy>(g: &Geom, w: &[T], dst: &mut [T]) {
    let (taps, c) = (g.k_h * g.k_w, g.in_c);
    for oc in 0..g.out_c {
        for t in 0..taps {
            let src = &w[(oc * taps + t) * c..][..c];
            dst[(t * g.out_c + oc) * c..][..c].copy_from_slice(src);
        }
    }
}

/// [`permute_into`] into a new vector.
fn permute<T: Copy + Default>(g: &Geom, w: &[T]) -> Vec<T> {
    let mut v = vec![T::default(); w.len()];
    permute_into(g, w, &mut v);
    v
}

impl TransposeConvF32 {
    /// OHWI weights into [`Self::wt`].
    fn permute(&mut self, w: &[f32]) {
        permute_into(&self.g, w, &mut self.wt);
    }
}

/// The level the hybrid kernel's plain loops are compiled for.
#[derive(Debug, Clone, Copy)]
enum HybridLevel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse41(crate::isa::x86::Sse41),
    #[cfg(target_arch = "x86_64")]
    Avx2(crate::isa::x86::Avx2Fma),
}

impl HybridLevel {
    fn of(isa: Isa) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if isa >= Isa::Avx2Fma
                && let Some(t) = crate::isa::x86::Avx2Fma::new()
            {
                return HybridLevel::Avx2(t);
            }
            if isa >= Isa::Sse41
                && let Some(t) = crate::isa::x86::Sse41::new()
            {
                return HybridLevel::Sse41(t);
            }
        }
        let _ = isa;
        HybridLevel::Portable
    }

    fn name(self) -> &'static str {
        match self {
            HybridLevel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            HybridLevel::Sse41(_) => "sse41",
            #[cfg(target_arch = "x86_64")]
            HybridLevel::Avx2(_) => "avx2",
        }
    }
}

/// TRANSPOSE_CONV hybrid (see the module docs).
struct TransposeConvHybrid {
    name: String,
    isa: Isa,
    level: HybridLevel,
    g: Geom,
    /// `[tap][ic][oc]` weights as f32.
    wt: Vec<f32>,
    h: tflrs_kernels::prep::conv::HybridQuant,
    range: (f32, f32),
}

/// The scatter of one batch: `out += ((xq * w) * scale) * sf` in the scalar kernel's order per
/// output; `xq` is the batch's `q - zp` as f32. Plain loops, compiled per level by its callers.
#[inline(always)]
fn hybrid_scatter(g: &Geom, xq: &[f32], wt: &[f32], scales: &[f32], sf: f32, out: &mut [f32]) {
    let (ic, oc) = (g.in_c, g.out_c);
    let scales = &scales[..oc];
    for iy in 0..g.in_h {
        let oy0 = (iy * g.stride_h) as i64 - g.pad_h;
        let (fy0, fy1) = taps(oy0, g.k_h, g.out_h);
        for ix in 0..g.in_w {
            let ox0 = (ix * g.stride_w) as i64 - g.pad_w;
            let (fx0, fx1) = taps(ox0, g.k_w, g.out_w);
            let xs = &xq[(iy * g.in_w + ix) * ic..][..ic];
            for fy in fy0..fy1 {
                let oy = (oy0 + fy as i64) as usize;
                for fx in fx0..fx1 {
                    let ox = (ox0 + fx as i64) as usize;
                    let acc = &mut out[(oy * g.out_w + ox) * oc..][..oc];
                    let wtap = &wt[(fy * g.k_w + fx) * ic * oc..][..ic * oc];
                    for (&xv, ws) in xs.iter().zip(wtap.chunks_exact(oc)) {
                        for ((a, &wv), &c) in acc.iter_mut().zip(ws).zip(scales) {
                            *a += xv * wv * c * sf;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hybrid_scatter_avx2(
    g: &Geom,
    xq: &[f32],
    wt: &[f32],
    scales: &[f32],
    sf: f32,
    out: &mut [f32],
) {
    hybrid_scatter(g, xq, wt, scales, sf, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.1")]
unsafe fn hybrid_scatter_sse41(
    g: &Geom,
    xq: &[f32],
    wt: &[f32],
    scales: &[f32],
    sf: f32,
    out: &mut [f32],
) {
    hybrid_scatter(g, xq, wt, scales, sf, out)
}

impl Kernel for TransposeConvHybrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        let g = &self.g;
        (g.in_len() + 16) + (g.in_batch_len() * 4 + 16) + 2 * (g.n * 4 + 16)
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let g = &self.g;
        let x = inputs.get(2)?.as_slice::<f32>()?;
        let bias = Bias::view(inputs.optional(3), g.out_c)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, g.in_len(), "TRANSPOSE_CONV input")?;
        at_least(out, g.out_len(), "TRANSPOSE_CONV output")?;
        let q = take::<i8>(&mut scratch, g.in_len())?;
        let xq = take::<f32>(&mut scratch, g.in_batch_len())?;
        let sfs = take::<f32>(&mut scratch, g.n)?;
        let offs = take::<i16>(&mut scratch, g.n)?;
        crate::hybrid::quantize_batches(self.isa, g, x, &self.h, q, sfs, offs);
        let out = &mut out[..g.out_len()];
        out.fill(0.0);
        let (blen, olen) = (g.in_batch_len(), g.out_h * g.out_w * g.out_c);
        let scales = &self.h.scales;
        if scales.len() < g.out_c {
            return Err(KernelError::invalid("TRANSPOSE_CONV hybrid scales".into()));
        }
        for b in 0..g.n {
            let off = f32::from(offs[b]);
            for (d, &v) in xq.iter_mut().zip(&q[b * blen..][..blen]) {
                *d = f32::from(v) + off;
            }
            let ob = &mut out[b * olen..][..olen];
            let sf = sfs[b];
            match self.level {
                HybridLevel::Portable => hybrid_scatter(g, xq, &self.wt, scales, sf, ob),
                // SAFETY: the tokens prove the features.
                #[cfg(target_arch = "x86_64")]
                HybridLevel::Sse41(_) => unsafe {
                    hybrid_scatter_sse41(g, xq, &self.wt, scales, sf, ob)
                },
                #[cfg(target_arch = "x86_64")]
                HybridLevel::Avx2(_) => unsafe {
                    hybrid_scatter_avx2(g, xq, &self.wt, scales, sf, ob)
                },
            }
        }
        let (lo, hi) = self.range;
        let bias = bias.float();
        for px in out.chunks_exact_mut(g.out_c) {
            for (c, v) in px.iter_mut().enumerate() {
                let a = bias.map_or(*v, |b| *v + b[c]);
                *v = clamp_f32(a, lo, hi);
            }
        }
        Ok(())
    }
}

/// Takes an aligned piece of `n` values of `T` (`n * size + 16` bytes) off `buf`.
fn take<'a, T: bytemuck::Pod>(
    buf: &mut &'a mut [u8],
    n: usize,
) -> Result<&'a mut [T], KernelError> {
    let bytes = n * core::mem::size_of::<T>() + 16;
    let all = core::mem::take(buf);
    if all.len() < bytes {
        return Err(KernelError::invalid(
            "TRANSPOSE_CONV scratch is too small".into(),
        ));
    }
    let (head, tail) = all.split_at_mut(bytes);
    *buf = tail;
    let (_, mid, _) = bytemuck::pod_align_to_mut::<u8, T>(head);
    Ok(&mut mid[..n])
}

/// TRANSPOSE_CONV int8 over a packed filter.
struct TransposeConvI8 {
    name: String,
    gemm: GemmI8,
    g: Geom,
    rq: Requant,
}

impl Kernel for TransposeConvI8 {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        self.g.out_len() * 4 + 16 + self.gemm.scratch_bytes()
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, scratch, _) = io.split();
        let g = &self.g;
        let x = inputs.get(2)?.as_slice::<i8>()?;
        let bias = Bias::view(inputs.optional(3), g.out_c)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<i8>()?;
        at_least(x, g.in_len(), "TRANSPOSE_CONV input")?;
        at_least(out, g.out_len(), "TRANSPOSE_CONV output")?;
        let bias = match bias {
            Bias::I32(b) => Some(b),
            _ => None,
        };
        let acc_bytes = g.out_len() * 4 + 16;
        if scratch.len() < acc_bytes {
            return Err(KernelError::invalid(
                "TRANSPOSE_CONV scratch is too small".into(),
            ));
        }
        let (head, rest) = scratch.split_at_mut(acc_bytes);
        let (_, acc, _) = bytemuck::pod_align_to_mut::<u8, i32>(head);
        let acc = &mut acc[..g.out_len()];
        acc.fill(0);
        let (oc, pixels) = (g.out_c, g.in_h * g.in_w);
        self.gemm.run(g.n * pixels, x, g.in_c, rest, |i, j0, accs| {
            let (b, p) = (i / pixels, i % pixels);
            let (iy, ix) = (p / g.in_w, p % g.in_w);
            let oy0 = (iy * g.stride_h) as i64 - g.pad_h;
            let ox0 = (ix * g.stride_w) as i64 - g.pad_w;
            for (c, &a) in accs.iter().enumerate() {
                let j = j0 + c;
                let (t, o) = (j / oc, j % oc);
                let oy = oy0 + (t / g.k_w) as i64;
                let ox = ox0 + (t % g.k_w) as i64;
                if (0..g.out_h as i64).contains(&oy) && (0..g.out_w as i64).contains(&ox) {
                    let at = ((b * g.out_h + oy as usize) * g.out_w + ox as usize) * oc + o;
                    acc[at] = acc[at].wrapping_add(a);
                }
            }
        });
        #[cfg(target_arch = "x86_64")]
        let avx2 = self.gemm.avx2();
        for (a, o) in acc.chunks_exact(oc).zip(out.chunks_exact_mut(oc)) {
            self.rq.row(
                #[cfg(target_arch = "x86_64")]
                avx2,
                0,
                a,
                bias,
                o,
            );
        }
        Ok(())
    }
}

/// The taps `t` in `0..k` with `0 <= origin + t < n`, as a range.
#[inline]
fn taps(origin: i64, k: usize, n: usize) -> (usize, usize) {
    let lo = (-origin).max(0) as usize;
    let hi = (n as i64 - origin).clamp(0, k as i64) as usize;
    (lo.min(k), hi.max(lo.min(k)))
}

impl Kernel for TransposeConvF32 {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        self.g.in_w * self.gemm.n() * 4 + 16
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, scratch, _) = io.split();
        let g = self.g;
        let x = inputs.get(2)?.as_slice::<f32>()?;
        let bias = Bias::view(inputs.optional(3), g.out_c)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, g.in_len(), "TRANSPOSE_CONV input")?;
        at_least(out, g.out_len(), "TRANSPOSE_CONV output")?;
        if self.computed {
            let w = inputs.get(1)?.as_slice::<f32>()?;
            at_least(w, g.filter_len(), "TRANSPOSE_CONV weights")?;
            self.permute(w);
            self.gemm.pack(&self.wt, 1, g.in_c);
        }
        let n = self.gemm.n();
        let (_, col, _) = bytemuck::pod_align_to_mut::<u8, f32>(scratch);
        let col = col
            .get_mut(..g.in_w * n)
            .ok_or_else(|| KernelError::invalid("TRANSPOSE_CONV scratch is too small".into()))?;
        let out = &mut out[..g.out_len()];
        out.fill(0.0);
        let all = (f32::NEG_INFINITY, f32::INFINITY);
        let oc = g.out_c;
        for b in 0..g.n {
            for iy in 0..g.in_h {
                let row = &x[(b * g.in_h + iy) * g.in_w * g.in_c..][..g.in_w * g.in_c];
                self.gemm.run(g.in_w, row, g.in_c, None, all, col, n);
                let oy0 = (iy * g.stride_h) as i64 - g.pad_h;
                let (fy0, fy1) = taps(oy0, g.k_h, g.out_h);
                for ix in 0..g.in_w {
                    let ox0 = (ix * g.stride_w) as i64 - g.pad_w;
                    let (fx0, fx1) = taps(ox0, g.k_w, g.out_w);
                    for fy in fy0..fy1 {
                        let oy = (oy0 + fy as i64) as usize;
                        for fx in fx0..fx1 {
                            let ox = (ox0 + fx as i64) as usize;
                            let src = &col[ix * n + (fy * g.k_w + fx) * oc..][..oc];
                            let dst = &mut out[((b * g.out_h + oy) * g.out_w + ox) * oc..][..oc];
                            for (d, &s) in dst.iter_mut().zip(src) {
                                *d += s;
                            }
                        }
                    }
                }
            }
        }
        let (lo, hi) = self.range;
        let bias = bias.float();
        for px in out.chunks_exact_mut(oc) {
            for (c, v) in px.iter_mut().enumerate() {
                let a = bias.map_or(*v, |b| *v + b[c]);
                *v = clamp_f32(a, lo, hi);
            }
        }
        Ok(())
    }
}

fn at_least<T>(s: &[T], len: usize, what: &str) -> Result<(), KernelError> {
    crate::fully_connected::at_least(s, len, what)
}

#[cfg(test)]
mod tests {
    use crate::SimdBackend;
    use crate::testutil::{ACTIVATIONS, Case, edge_or_any, for_each_backend, input};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, DType, Op, Padding, TransposeConvAttrs};
    use tflrs_kernels::testing::{Harness, TestInput};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    #[derive(Debug, Clone)]
    struct Tc {
        batch: usize,
        out: (usize, usize),
        in_c: usize,
        out_c: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        act: Activation,
        bias: bool,
        constant: bool,
        seed: u64,
    }

    /// The input size per axis that LiteRT derives back from the output (or `None`).
    fn back(p: Padding, out: usize, k: usize, s: usize) -> Option<(usize, usize)> {
        tflrs_ir::window::conv_axis(p, out, k, s, 1).map(|(i, pad)| (i, pad.before))
    }

    fn strategy() -> impl Strategy<Value = Tc> {
        let ks = prop::sample::select(vec![1usize, 2, 3, 4, 5]);
        let s = prop::sample::select(vec![1usize, 2, 2, 3]);
        (
            (1usize..=2, (1usize..=12, 1usize..=12)),
            (edge_or_any(1..=20), edge_or_any(1..=20)),
            ((ks.clone(), ks), (s.clone(), s)),
            prop::sample::select(vec![Padding::Same, Padding::Valid]),
            prop::sample::select(ACTIVATIONS.to_vec()),
            (any::<bool>(), any::<bool>(), any::<u64>()),
        )
            .prop_map(
                |(
                    (batch, out),
                    (in_c, out_c),
                    (kernel, stride),
                    padding,
                    act,
                    (bias, constant, seed),
                )| Tc {
                    batch,
                    out,
                    in_c,
                    out_c,
                    kernel,
                    stride,
                    padding,
                    act,
                    bias,
                    constant,
                    seed,
                },
            )
            .prop_filter("the output must come from an input", |t| {
                let h = back(t.padding, t.out.0, t.kernel.0, t.stride.0);
                let w = back(t.padding, t.out.1, t.kernel.1, t.stride.1);
                matches!((h, w), (Some((a, _)), Some((b, _))) if a > 0 && b > 0)
            })
    }

    /// The case, with per output the number of products and the sum of their magnitudes (and
    /// the bias's), walking the scatter as the scalar kernel does.
    fn case(t: &Tc) -> Case {
        let (kh, kw) = t.kernel;
        let (oh, ow) = t.out;
        let (ih, ph) = back(t.padding, oh, kh, t.stride.0).unwrap();
        let (iw, pw) = back(t.padding, ow, kw, t.stride.1).unwrap();
        let (nb, ic, oc) = (t.batch, t.in_c, t.out_c);
        let op = Op::TransposeConv(TransposeConvAttrs {
            padding: t.padding,
            stride_h: t.stride.0 as i32,
            stride_w: t.stride.1 as i32,
            fused_activation_function: t.act,
            ..Default::default()
        });
        let mut c = Case::new(op, t.seed);
        let x = c.values(nb * ih * iw * ic);
        let w = c.values(oc * kh * kw * ic);
        let bias = c.values(oc);
        let mut terms = vec![(0usize, 0f64); nb * oh * ow * oc];
        for b in 0..nb {
            for iy in 0..ih {
                for ix in 0..iw {
                    for fy in 0..kh {
                        let oy = (iy * t.stride.0 + fy) as i64 - ph as i64;
                        for fx in 0..kw {
                            let ox = (ix * t.stride.1 + fx) as i64 - pw as i64;
                            if !(0..oh as i64).contains(&oy) || !(0..ow as i64).contains(&ox) {
                                continue;
                            }
                            for o in 0..oc {
                                let at = ((b * oh + oy as usize) * ow + ox as usize) * oc + o;
                                for i in 0..ic {
                                    let xv = x[((b * ih + iy) * iw + ix) * ic + i];
                                    let wv = w[((o * kh + fy) * kw + fx) * ic + i];
                                    terms[at].0 += 1;
                                    terms[at].1 += f64::from(xv * wv).abs();
                                }
                            }
                        }
                    }
                }
            }
        }
        if t.bias {
            for (i, term) in terms.iter_mut().enumerate() {
                term.1 += f64::from(bias[i % oc]).abs();
            }
        }
        c.bound_terms = terms;
        let shape = [nb as i32, oh as i32, ow as i32, oc as i32];
        c.inputs = vec![
            Some(TestInput::const_from_slice(
                TensorInfo::new("shape", DType::Int32, [4]),
                &shape,
            )),
            Some(input(
                t.constant,
                TensorInfo::new("w", DType::Float32, [oc, kh, kw, ic]),
                &w,
            )),
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, [nb, ih, iw, ic]),
                &x,
            )),
            t.bias.then(|| {
                TestInput::const_from_slice(TensorInfo::new("b", DType::Float32, [oc]), &bias)
            }),
        ];
        c.outputs = vec![TensorInfo::new("y", DType::Float32, [nb, oh, ow, oc])];
        c
    }

    #[test]
    fn transpose_conv_i8_equals_the_scalar_kernel_on_every_level() {
        let zp = || prop_oneof![Just(-128i64), Just(127i64), Just(0i64), -128i64..=127];
        let strategy = (strategy(), (zp(), zp()), 4i32..=11, any::<bool>());
        for_each_backend(|backend: &SimdBackend, runner| {
            runner
                .run(&strategy, |(t, (in_zp, out_zp), e, per_channel)| {
                    let mut c = case(&t);
                    // The same node in int8: values from the float case's, weights and biases
                    // scaled up, an output scale of about 2^e accumulator units.
                    let q = |v: &f32, s: f32| (v * s).round().clamp(-128.0, 127.0) as i8;
                    for (slot, inp) in c.inputs.iter_mut().enumerate() {
                        let Some(inp) = inp else { continue };
                        let vals: Vec<f32> = match slot {
                            1..=3 => inp
                                .bytes
                                .chunks_exact(4)
                                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                                .collect(),
                            _ => continue,
                        };
                        let shape = inp.info.shape.clone();
                        let constant = inp.constant;
                        *inp = match slot {
                            1 => {
                                let w: Vec<i8> = vals.iter().map(|v| q(v, 64.0)).collect();
                                let mut info = TensorInfo::new("w", DType::Int8, shape);
                                let oc = t.out_c;
                                info.quant = Some(if per_channel {
                                    let s = (0..oc).map(|i| 0.01 + i as f32 * 1e-3).collect();
                                    tflrs_ir::QuantParams::per_axis(0, s, vec![0; oc])
                                } else {
                                    tflrs_ir::QuantParams::per_tensor(0.01, 0)
                                });
                                if constant {
                                    TestInput::const_from_slice(info, &w)
                                } else {
                                    TestInput::from_slice(info, &w)
                                }
                            }
                            2 => {
                                let x: Vec<i8> = vals.iter().map(|v| q(v, 64.0)).collect();
                                let info = TensorInfo::new("x", DType::Int8, shape)
                                    .with_quant(0.05, in_zp);
                                TestInput::from_slice(info, &x)
                            }
                            _ => {
                                let b: Vec<i32> =
                                    vals.iter().map(|v| (v * 5000.0) as i32).collect();
                                TestInput::const_from_slice(
                                    TensorInfo::new("b", DType::Int32, shape),
                                    &b,
                                )
                            }
                        };
                    }
                    let shape = c.outputs[0].shape.clone();
                    let out = TensorInfo::new("y", DType::Int8, shape)
                        .with_quant(0.05 * 0.01 * 2f32.powi(e), out_zp);
                    let outs = [out];
                    if !t.constant {
                        let k =
                            tflrs_kernels::testing::make_kernel(backend, &c.op, &c.inputs, &outs)
                                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert!(k.is_none(), "computed int8 weights are declined");
                        return Ok(());
                    }
                    let (name, _) = Harness::new()
                        .compare(backend, &ScalarBackend, &c.op, &c.inputs, &outs)
                        .map_err(|e| TestCaseError::fail(format!("{t:?}: {e}")))?;
                    let want = format!("transpose_conv_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn transpose_conv_hybrid_equals_the_scalar_kernel_on_every_level() {
        let strategy = (strategy(), -4i32..=4, any::<bool>());
        for_each_backend(|backend: &SimdBackend, runner| {
            runner
                .run(&strategy, |(t, e, distinct)| {
                    let mut c = case(&t);
                    // The float input scaled by 2^e; int8 weights with per-channel scales.
                    let w_in = c.inputs[1].as_ref().unwrap();
                    let wv: Vec<i8> = w_in
                        .bytes
                        .chunks_exact(4)
                        .map(|b| (f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 64.0) as i8)
                        .collect();
                    let mut info = TensorInfo::new("w", DType::Int8, w_in.info.shape.clone());
                    let oc = t.out_c;
                    let scales = (0..oc)
                        .map(|i| {
                            if distinct {
                                0.01 + i as f32 * 1e-3
                            } else {
                                0.01
                            }
                        })
                        .collect();
                    info.quant = Some(tflrs_ir::QuantParams::per_axis(0, scales, vec![0; oc]));
                    c.inputs[1] = Some(TestInput::const_from_slice(info, &wv));
                    let x_in = c.inputs[2].as_mut().unwrap();
                    let xs: Vec<f32> = x_in
                        .bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 2f32.powi(e))
                        .collect();
                    *x_in = TestInput::from_slice(x_in.info.clone(), &xs);
                    let mut kernel = Harness::new()
                        .make(backend, &c.op, &c.inputs, &c.outputs)
                        .map_err(|e| TestCaseError::fail(format!("{t:?}: {e}")))?;
                    let name = kernel.name().to_string();
                    let simd = Harness::new()
                        .run(kernel.as_mut(), &mut c.inputs.clone(), &c.outputs)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let scalar = Harness::new()
                        .run_node(&ScalarBackend, &c.op, &mut c.inputs.clone(), &c.outputs)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    // Bit for bit.
                    prop_assert!(simd[0] == scalar[0], "{t:?}: {name} differs");
                    let want = format!("transpose_conv_hybrid_i8__{}", backend.isa().name());
                    prop_assert_eq!(name, want);
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn transpose_conv_f32_matches_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend: &SimdBackend, runner| {
            runner
                .run(&strategy(), |t| {
                    let c = case(&t);
                    let name = c
                        .check(backend)
                        .map_err(|e| TestCaseError::fail(format!("{t:?}: {e}")))?;
                    let want = format!("transpose_conv_f32__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    Ok(())
                })
                .unwrap();
        });
    }
}

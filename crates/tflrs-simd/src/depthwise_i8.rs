//! DEPTHWISE_CONV_2D int8, exact: outputs equal to the scalar (LiteRT reference) kernel's byte
//! for byte, per-channel or per-tensor quantized, any depth multiplier, stride, dilation,
//! padding and batch, with an int32 bias or none.
//!
//! **Layout** (XNNPACK's `9p16c` idea, with int16 products summed in pairs). Output channels
//! are taken 16 at a time (a *block*), the filter taps (row, then column) in *passes* of up to
//! 16 taps, and within a pass in *pairs*. At preparation the `[1, k_h, k_w, C]` filter is
//! widened to int16 and packed per pass, block and pair into 32 values: for each of the 16
//! channels `[w(t, c), w(t + 1, c)]`, the channels in the order one `vpunpck{l,h}wd` of two
//! taps' widened inputs gives (`CH_OF_SLOT`); a tap past the pass's end, and a channel past
//! `C`, is 0. Per output pixel and pass the kernel points at each tap's input pixel (a tap in
//! the padding points at a row filled with the input zero point, which the input offset
//! turns into 0: it adds nothing, as the scalar kernel's skipped taps), and per block and pair
//! one `vpmaddwd` of the two taps' interleaved `x + in_offset` with the packed pair gives
//! `w(t, c) (x_t + off) + w(t + 1, c) (x_{t+1} + off)` in an int32 lane per channel.
//!
//! **Exactness.** `x + in_offset` lies in `-255..=255` (an int8 value and a negated int8 zero
//! point), the filter in `-128..=127`, so a pair's sum is at most `2 * 255 * 128` in
//! magnitude: exact in `vpmaddwd`. The int32 sums wrap as the scalar kernel's `wrapping_add`s
//! do, in any order. The epilogue is the GEMM's exact requantization (`gemm_i8::Requant`:
//! bias, LiteRT's `MultiplyByQuantizedMultiplier`, zero point, clamp), 8 channels at a time on
//! AVX2.
//!
//! **Levels** (`depthwise_conv_2d_i8__{isa}_16c`, `_mult` for a depth multiplier above 1):
//! AVX2 (two ymm accumulators a block), SSE4.1 (four xmm, the same packing read in halves,
//! scalar requantization) and portable (plain Rust over the same packing). The wrapper owns
//! the tails: the blocks whose 16 channels lie inside the input pixel read it in place; the
//! last, partial block and every block of a depth multiplier above 1 (input channel `c / m`
//! for output channel `c`) gather their taps' values into a small array on the stack first.
//! Filters of more than 16 taps take several passes, the int32 accumulators kept in between.
//! On AVX2 the epilogue of a pixel runs in one AVX2 function (the GEMM's 8-lane
//! requantization inlined), and a run of interior pixels (every tap inside the input) of a
//! one-pass filter over whole blocks is one call (`avx2_row`: pointers, products, epilogue).
//!
//! Taken: the plan's `Quant::I8` with a constant filter (and offsets as the plan makes them);
//! every other node is `Ok(None)` for the scalar backend.

use crate::fully_connected::at_least;
use crate::gemm_i8::{Requant, offset_fits};
use crate::isa::Isa;
use crate::isa::Tier as Level;
use crate::split;
use core::ops::Range;
use tflrs_ir::Op;
use tflrs_kernels::prep::conv::{Bias, BiasKind, Geom, Quant, depthwise};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A tap in the padding (or past its pass).
const NONE: usize = usize::MAX;
/// Output channels per block.
const BLOCK: usize = 16;
/// Filter taps per pass (8 pairs).
const PASS: usize = 16;
/// int16 values per (block, pair): two taps' weights for 16 channels.
const PAIR_LEN: usize = 2 * BLOCK;
/// The channel (within a block) of each int32 slot of a pair's products: slots 0-7 are the
/// first ymm of `vpmaddwd(unpacklo(xa, xb), w[..16])` (channels 0-3, then 8-11, one 128-bit lane
/// each), slots 8-15 the second (`unpackhi`: channels 4-7, 12-15).
const CH_OF_SLOT: [usize; BLOCK] = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15];

/// A kernel for a DEPTHWISE_CONV_2D int8 node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::DepthwiseConv2d(_)) {
        return Ok(None);
    }
    let Ok(plan) = depthwise(node) else {
        return Ok(None);
    };
    let Quant::I8(p) = plan.quant else {
        return Ok(None);
    };
    // The scalar int8 kernel ignores the filter offset; the plan makes it 0 (symmetric
    // filters). Anything else stays with the scalar backend.
    if p.w_offset != 0
        || !offset_fits(p.in_offset)
        || !matches!(plan.bias, BiasKind::None | BiasKind::I32)
    {
        return Ok(None);
    }
    let g = plan.geom;
    let c = g.out_c;
    if c == 0 || g.in_c == 0 || c % g.in_c != 0 {
        return Ok(None);
    }
    let Some(w) = node.constant(1).and_then(|b| b.get(..g.filter_len())) else {
        return Ok(None);
    };
    let taps = g.k_h * g.k_w;
    let blocks = c.div_ceil(BLOCK);
    let mut passes = Vec::new();
    let mut len = 0;
    for t0 in (0..taps).step_by(PASS) {
        let t1 = (t0 + PASS).min(taps);
        let pairs = (t1 - t0).div_ceil(2);
        passes.push(PassInfo {
            t0,
            t1,
            pairs,
            w_at: len,
        });
        len += blocks * pairs * PAIR_LEN;
    }
    let mut packed = vec![0i16; len];
    for pass in &passes {
        for blk in 0..blocks {
            for q in 0..pass.pairs {
                let dst = &mut packed[pass.w_at + (blk * pass.pairs + q) * PAIR_LEN..][..PAIR_LEN];
                for (s, &cs) in CH_OF_SLOT.iter().enumerate() {
                    let ch = blk * BLOCK + cs;
                    for k in 0..2 {
                        let t = pass.t0 + 2 * q + k;
                        if t < pass.t1 && ch < c {
                            dst[2 * s + k] = i16::from(w[t * c + ch] as i8);
                        }
                    }
                }
            }
        }
    }
    let level = Level::at(isa);
    let name = format!(
        "depthwise_conv_2d_i8__{}_16c{}",
        level.isa().name(),
        if c != g.in_c { "_mult" } else { "" }
    );
    // The zero-point row: long enough for any block read of a tap in the padding.
    let zp = (-p.in_offset) as i8;
    Ok(Some(Box::new(DepthwiseI8 {
        name,
        level,
        g,
        passes,
        taps: (0..taps)
            .map(|t| {
                let (fy, fx) = (t / g.k_w, t % g.k_w);
                (fy, fx, (fy * g.dil_h * g.in_w + fx * g.dil_w) * g.in_c)
            })
            .collect(),
        w: packed,
        zp_row: vec![zp; c + BLOCK],
        acc: vec![0; blocks * BLOCK],
        in_offset: p.in_offset as i16,
        rq: Requant::new(&p.mult, &p.shift, p.out_zp, p.lo, p.hi),
    })))
}

impl Level {
    /// The micro-kernel of the level on `a`.
    ///
    /// # Safety
    /// Each of `a.taps[..2 * a.pairs]` is valid for reading `BLOCK * a.blocks` bytes.
    #[inline]
    unsafe fn blocks(self, a: Blocks<'_>) {
        assert!(
            2 * a.pairs <= PASS
                && a.w.len() >= a.blocks * a.pairs * PAIR_LEN
                && a.acc.len() >= a.blocks * BLOCK
        );
        match self {
            // SAFETY: the caller's contract; the lengths are checked above.
            Level::Portable => unsafe { portable(a) },
            // SAFETY: the token proves SSE4.1; the rest as above.
            #[cfg(target_arch = "x86_64")]
            Level::Sse41(_) => unsafe { x86_kernels::sse41(a) },
            // SAFETY: the token proves AVX2; the rest as above.
            #[cfg(target_arch = "x86_64")]
            Level::Avx2(_) => unsafe { x86_kernels::avx2(a) },
        }
    }
}

/// One pass: taps `t0..t1` (row-major over the filter window) in `pairs` pairs, whose packed
/// weights start at `w_at` (`blocks * pairs * PAIR_LEN` values).
#[derive(Debug, Clone, Copy)]
struct PassInfo {
    t0: usize,
    t1: usize,
    pairs: usize,
    w_at: usize,
}

/// What a micro-kernel computes: for blocks `k in 0..blocks` (channels `16 k ..16 k + 16`
/// of `taps`' rows, of `acc` and of the packed `w`), the sum over pairs `q` of the pass of
/// `w[2s] (x_{2q} + off) + w[2s + 1] (x_{2q+1} + off)` per channel, added to `acc` (or
/// starting from 0 when `first`).
struct Blocks<'a> {
    taps: &'a [*const i8; PASS],
    pairs: usize,
    blocks: usize,
    /// The pass's weights from the first block on: `blocks * pairs * PAIR_LEN` values.
    w: &'a [i16],
    /// `blocks * BLOCK` accumulators, in channel order.
    acc: &'a mut [i32],
    first: bool,
    off: i16,
}

/// The portable micro-kernel: plain loops over the packing.
///
/// # Safety
/// As [`Level::blocks`].
unsafe fn portable(a: Blocks<'_>) {
    let off = i32::from(a.off);
    for k in 0..a.blocks {
        let acc = &mut a.acc[k * BLOCK..][..BLOCK];
        if a.first {
            acc.fill(0);
        }
        let wk = &a.w[k * a.pairs * PAIR_LEN..][..a.pairs * PAIR_LEN];
        for (q, wq) in wk.chunks_exact(PAIR_LEN).enumerate() {
            // SAFETY: the caller's contract: `16 * blocks` bytes at each tap of the pairs.
            let (xa, xb) = unsafe {
                (
                    a.taps[2 * q]
                        .add(k * BLOCK)
                        .cast::<[i8; BLOCK]>()
                        .read_unaligned(),
                    a.taps[2 * q + 1]
                        .add(k * BLOCK)
                        .cast::<[i8; BLOCK]>()
                        .read_unaligned(),
                )
            };
            for (s, &ch) in CH_OF_SLOT.iter().enumerate() {
                let pa = i32::from(wq[2 * s]) * (i32::from(xa[ch]) + off);
                let pb = i32::from(wq[2 * s + 1]) * (i32::from(xb[ch]) + off);
                acc[ch] = acc[ch].wrapping_add(pa + pb);
            }
        }
    }
}

/// The filter taps `f` in `0..k` whose input row `i0 + f * dil` lies in `0..len`, as a range.
#[inline]
fn taps(i0: i64, dil: usize, k: usize, len: usize) -> (usize, usize) {
    if dil == 1 {
        // No division (the common case).
        let f0 = (-i0).clamp(0, k as i64) as usize;
        let f1 = (len as i64 - i0).clamp(0, k as i64) as usize;
        return (f0, f1.max(f0));
    }
    let d = dil as i64;
    let f0 = if i0 >= 0 { 0 } else { (-i0 + d - 1) / d };
    let lim = len as i64 - i0;
    let f1 = if lim <= 0 { 0 } else { (lim + d - 1) / d };
    let f0 = (f0 as usize).min(k);
    (f0, (f1 as usize).clamp(f0, k))
}

/// DEPTHWISE_CONV_2D int8 over a packed filter.
struct DepthwiseI8 {
    name: String,
    level: Level,
    g: Geom,
    passes: Vec<PassInfo>,
    /// Per tap (row-major): its filter row and column, and its input index relative to tap
    /// (0, 0)'s.
    taps: Vec<(usize, usize, usize)>,
    /// The packed filter (see the module docs).
    w: Vec<i16>,
    /// The input zero point, `C + BLOCK` times: the input of the taps in the padding.
    zp_row: Vec<i8>,
    /// One output pixel's accumulators, `blocks * BLOCK`.
    acc: Vec<i32>,
    in_offset: i16,
    rq: Requant,
}

impl Kernel for DepthwiseI8 {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        // One pixel's accumulators, and room to align them in a byte buffer.
        (self.acc.len() + 1) * 4
    }

    fn scratch_per_thread(&self) -> bool {
        true
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let parallel = io.parallel();
        let (inputs, mut outputs, scratch, _) = io.split();
        let g = self.g;
        let x = inputs.get(0)?.as_slice::<i8>()?;
        let bias = match Bias::view(inputs.optional(2), g.out_c)? {
            Bias::I32(b) => Some(b),
            _ => None,
        };
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<i8>()?;
        at_least(x, g.in_len(), "DEPTHWISE_CONV_2D input")?;
        at_least(out, g.out_len(), "DEPTHWISE_CONV_2D output")?;
        let (x, out) = (&x[..g.in_len()], &mut out[..g.out_len()]);
        // Output rows (over batches) split over the threads, each written by one task with the
        // accumulators in its thread's scratch; every row is computed as the serial walk
        // computes it.
        let rows = g.n * g.out_h;
        let macs = g.out_len().saturating_mul(g.k_h * g.k_w);
        let sb = self.scratch_bytes();
        let p = split::threads_for(parallel, macs).filter(|p| scratch.len() >= sb * p.threads());
        let Some(p) = p else {
            let mut acc = core::mem::take(&mut self.acc);
            self.image(x, bias, 0..rows, out, &mut acc);
            self.acc = acc;
            return Ok(());
        };
        let tasks = rows.min(split::TASKS_PER_THREAD * p.threads());
        let row_len = g.out_w * g.out_c;
        let acc_len = self.acc.len();
        let (out, scratch) = (split::Shared::new(out), split::Shared::new(scratch));
        let this = &*self;
        p.for_each(tasks, &|t, thread| {
            let part = rows * t / tasks..rows * (t + 1) / tasks;
            // SAFETY: the tasks' row ranges are disjoint.
            let out = unsafe { out.slice(part.start * row_len, part.len() * row_len) };
            // SAFETY: a thread index runs one task at a time, and its scratch is its own.
            let bytes = unsafe { scratch.slice(thread * sb, sb) };
            let (_, acc, _) = bytemuck::pod_align_to_mut::<u8, i32>(bytes);
            this.image(x, bias, part, out, &mut acc[..acc_len]);
        });
        Ok(())
    }
}

impl DepthwiseI8 {
    /// The whole convolution: `x` and `out` are exactly the input and output.
    /// Output rows `rows` (over batches: `b * out_h + oy`) of the convolution: `x` is exactly
    /// the input, `out` exactly those rows, `acc` one pixel's accumulators (`blocks * BLOCK`).
    fn image(
        &self,
        x: &[i8],
        bias: Option<&[i32]>,
        rows: Range<usize>,
        out: &mut [i8],
        acc: &mut [i32],
    ) {
        let g = self.g;
        let (c, ic) = (g.out_c, g.in_c);
        let m = c / ic;
        let blocks = c.div_ceil(BLOCK);
        // Blocks read in place: whole blocks of a depth multiplier of 1.
        let direct = if m == 1 { c / BLOCK } else { 0 };
        assert!(
            x.len() == g.in_len()
                && rows.end <= g.n * g.out_h
                && out.len() == rows.len() * g.out_w * c
                && self.zp_row.len() >= c + BLOCK
                && acc.len() == blocks * BLOCK
                && bias.is_none_or(|b| b.len() >= c)
        );
        #[cfg(target_arch = "x86_64")]
        let avx2 = match self.level {
            Level::Avx2(t) => Some(t),
            _ => None,
        };
        // Whole 8-channel groups on AVX2: the epilogue runs in one function compiled for AVX2
        // (`requant_pixel`), the GEMM's 8-lane requantization inlined into it.
        #[cfg(target_arch = "x86_64")]
        let fused = avx2.filter(|_| self.rq.vector && c.is_multiple_of(8));
        // Runs of interior pixels (every tap inside the input) of a filter of one pass and
        // whole blocks go through `avx2_row`: pointers, products and epilogue in one AVX2
        // function per run.
        #[cfg(target_arch = "x86_64")]
        let row = fused.filter(|_| self.passes.len() == 1 && direct == blocks);
        // The interior columns `ox_lo..ox_hi`.
        let (ox_lo, ox_hi) = {
            let (sw, pw) = (g.stride_w as i64, g.pad_w);
            let lo = (pw.max(0) + sw - 1) / sw;
            let last = g.in_w as i64 - 1 + pw - ((g.k_w - 1) * g.dil_w) as i64;
            let hi = if last < 0 { 0 } else { last / sw + 1 };
            let hi = hi.min(g.out_w as i64).max(0) as usize;
            ((lo as usize).min(hi), hi)
        };
        let (xp, zp) = (x.as_ptr(), self.zp_row.as_ptr());
        let off = self.in_offset;
        let zp_val = self.zp_row[0];
        // The output index of the first output row.
        let o0 = rows.start * g.out_w * c;
        for r in rows {
            let (b, oy) = (r / g.out_h, r % g.out_h);
            {
                let iy0 = (oy * g.stride_h) as i64 - g.pad_h;
                let (fy0, fy1) = taps(iy0, g.dil_h, g.k_h, g.in_h);
                for ox in 0..g.out_w {
                    #[cfg(target_arch = "x86_64")]
                    if let Some(t) = row
                        && fy0 == 0
                        && fy1 == g.k_h
                        && (ox_lo..ox_hi).contains(&ox)
                    {
                        if ox == ox_lo {
                            let ix0 = (ox * g.stride_w) as i64 - g.pad_w;
                            let first = ((b * g.in_h) as i64 + iy0) * (g.in_w * ic) as i64
                                + ix0 * ic as i64;
                            let o = ((b * g.out_h + oy) * g.out_w + ox_lo) * c - o0;
                            let pass = self.passes[0];
                            x86_kernels::avx2_row(
                                t,
                                x86_kernels::Row {
                                    x,
                                    first: first as usize,
                                    step: g.stride_w * ic,
                                    taps: &self.taps,
                                    pairs: pass.pairs,
                                    blocks,
                                    w: &self.w[pass.w_at..],
                                    acc: &mut *acc,
                                    off,
                                    rq: &self.rq,
                                    bias,
                                    out: &mut out[o..o + (ox_hi - ox_lo) * c],
                                },
                            );
                        }
                        continue;
                    }
                    let ix0 = (ox * g.stride_w) as i64 - g.pad_w;
                    let (fx0, fx1) = taps(ix0, g.dil_w, g.k_w, g.in_w);
                    let inside = fy0 == 0 && fy1 == g.k_h && fx0 == 0 && fx1 == g.k_w;
                    // The input index of tap (0, 0) (negative or past a row's end when it lies
                    // in the padding): tap `t` reads at `origin + self.taps[t].2`.
                    let origin =
                        ((b * g.in_h) as i64 + iy0) * (g.in_w * ic) as i64 + ix0 * ic as i64;
                    for (pi, pass) in self.passes.iter().enumerate() {
                        // Each tap's input pixel (its first channel's index), or `NONE` in the
                        // padding (and past the pass's end).
                        let mut at = [NONE; PASS];
                        let pass_taps = &self.taps[pass.t0..pass.t1];
                        if inside {
                            for (a, &(_, _, d)) in at.iter_mut().zip(pass_taps) {
                                *a = (origin + d as i64) as usize;
                            }
                        } else {
                            for (a, &(fy, fx, d)) in at.iter_mut().zip(pass_taps) {
                                if (fy0..fy1).contains(&fy) && (fx0..fx1).contains(&fx) {
                                    // Inside the input: a valid index.
                                    *a = (origin + d as i64) as usize;
                                }
                            }
                        }
                        let ptrs: [*const i8; PASS] = core::array::from_fn(|i| {
                            if at[i] == NONE {
                                zp
                            } else {
                                xp.wrapping_add(at[i])
                            }
                        });
                        let first = pi == 0;
                        let pw = &self.w[pass.w_at..][..blocks * pass.pairs * PAIR_LEN];
                        if direct > 0 {
                            // SAFETY: with a depth multiplier of 1 a tap inside the input
                            // points at a pixel of `ic = C >= 16 * direct` channels of `x`,
                            // one in the padding (or past the pass) at the zero-point row of
                            // `C + 16` values.
                            unsafe {
                                self.level.blocks(Blocks {
                                    taps: &ptrs,
                                    pairs: pass.pairs,
                                    blocks: direct,
                                    w: pw,
                                    acc: &mut acc[..direct * BLOCK],
                                    first,
                                    off,
                                })
                            };
                        }
                        for blk in direct..blocks {
                            let ch0 = blk * BLOCK;
                            let n = (c - ch0).min(BLOCK);
                            let mut stage = [[0i8; BLOCK]; PASS];
                            for (row, &a) in stage.iter_mut().zip(&at) {
                                for (j, v) in row[..n].iter_mut().enumerate() {
                                    *v = if a == NONE {
                                        zp_val
                                    } else {
                                        x[a + (ch0 + j) / m]
                                    };
                                }
                            }
                            let sp: [*const i8; PASS] = core::array::from_fn(|i| stage[i].as_ptr());
                            let pairs = pass.pairs;
                            // SAFETY: every row of `stage` holds 16 values.
                            unsafe {
                                self.level.blocks(Blocks {
                                    taps: &sp,
                                    pairs,
                                    blocks: 1,
                                    w: &pw[blk * pairs * PAIR_LEN..][..pairs * PAIR_LEN],
                                    acc: &mut acc[ch0..][..BLOCK],
                                    first,
                                    off,
                                })
                            };
                        }
                    }
                    let o = ((b * g.out_h + oy) * g.out_w + ox) * c - o0;
                    #[cfg(target_arch = "x86_64")]
                    if let Some(t) = fused {
                        x86_kernels::requant_pixel(t, &self.rq, acc, bias, &mut out[o..o + c]);
                        continue;
                    }
                    self.rq.row(
                        #[cfg(target_arch = "x86_64")]
                        avx2,
                        0,
                        &acc[..c],
                        bias,
                        &mut out[o..o + c],
                    );
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_kernels {
    use super::{BLOCK, Blocks, PAIR_LEN};
    use crate::gemm_i8::Requant;
    use crate::x86::Avx2Fma;
    use core::arch::x86_64::*;

    /// A run of interior output pixels (see `avx2_row`).
    pub(super) struct Row<'a> {
        /// The input.
        pub x: &'a [i8],
        /// The input index of tap (0, 0) of the run's first pixel.
        pub first: usize,
        /// The input step from one pixel's tap (0, 0) to the next's.
        pub step: usize,
        /// The taps (of one pass): their input index relative to tap (0, 0) is `.2`.
        pub taps: &'a [(usize, usize, usize)],
        pub pairs: usize,
        /// Whole blocks: `C = 16 * blocks`.
        pub blocks: usize,
        /// The packed pass.
        pub w: &'a [i16],
        /// `C` accumulators.
        pub acc: &'a mut [i32],
        pub off: i16,
        pub rq: &'a Requant,
        pub bias: Option<&'a [i32]>,
        /// The run's outputs, `C` per pixel.
        pub out: &'a mut [i8],
    }

    /// Every pixel of `r`: tap pointers, the blocks' products (`avx2`) and the epilogue
    /// (`requant8`, 8 channels at a time), in one function compiled for AVX2. Checks that
    /// every tap of every pixel lies inside the input.
    pub(super) fn avx2_row(t: Avx2Fma, r: Row<'_>) {
        let c = r.blocks * BLOCK;
        let pixels = r.out.len() / c.max(1);
        let reach = r.taps.iter().map(|tap| tap.2).max().unwrap_or(0) + c;
        assert!(
            c > 0
                && r.out.len() == pixels * c
                && pixels > 0
                && r.first + (pixels - 1) * r.step + reach <= r.x.len()
                && r.x.len() >= c
                && !r.taps.is_empty()
                && r.taps.len() <= 2 * r.pairs
                && 2 * r.pairs <= super::PASS
                && r.w.len() >= r.blocks * r.pairs * PAIR_LEN
                && r.acc.len() >= c
                && r.rq.vector
                && r.bias.is_none_or(|b| b.len() >= c)
        );
        #[target_feature(enable = "avx2")]
        fn body(t: Avx2Fma, r: Row<'_>, c: usize, pixels: usize) {
            let xp = r.x.as_ptr();
            for p in 0..pixels {
                let base = r.first + p * r.step;
                // A slot past the pass's taps (zero weights) reads the pixel's tap 0.
                let mut ptrs = [xp.wrapping_add(base + r.taps[0].2); super::PASS];
                for (q, tap) in ptrs.iter_mut().zip(r.taps) {
                    *q = xp.wrapping_add(base + tap.2);
                }
                // SAFETY: every tap of the pixel is inside the input with its `C` channels
                // (`avx2_row`'s check); the lengths of `w` and `acc` are checked there too.
                unsafe {
                    avx2(Blocks {
                        taps: &ptrs,
                        pairs: r.pairs,
                        blocks: r.blocks,
                        w: r.w,
                        acc: r.acc,
                        first: true,
                        off: r.off,
                    })
                };
                let out = &mut r.out[p * c..][..c];
                for (j, o) in (0..c).step_by(8).zip(out.chunks_exact_mut(8)) {
                    #[expect(clippy::manual_map, reason = "a closure is not compiled for AVX2")]
                    let b = match r.bias {
                        Some(b) => Some(&b[j..j + 8]),
                        None => None,
                    };
                    crate::gemm_i8::x86_kernels::requant8(t, &r.acc[j..j + 8], b, r.rq, j, o);
                }
            }
        }
        // SAFETY: the token proves AVX2.
        unsafe { body(t, r, c, pixels) }
    }

    /// `Requant::row` of one output pixel (its `acc.len() = out.len()` channels, a multiple of
    /// 8, from channel 0), 8 channels at a time, in a function compiled for AVX2 so that the
    /// GEMM's `requant8` (which checks its lengths) is inlined. `rq.vector` must hold.
    pub(super) fn requant_pixel(
        t: Avx2Fma,
        rq: &Requant,
        acc: &[i32],
        bias: Option<&[i32]>,
        out: &mut [i8],
    ) {
        #[target_feature(enable = "avx2")]
        fn body(t: Avx2Fma, rq: &Requant, acc: &[i32], bias: Option<&[i32]>, out: &mut [i8]) {
            for (j, o) in (0..out.len()).step_by(8).zip(out.chunks_exact_mut(8)) {
                // (`match`, not `Option::map`: the closure would not be compiled for AVX2,
                // and each call would cost a `vzeroupper`.)
                #[expect(clippy::manual_map, reason = "a closure is not compiled for AVX2")]
                let b = match bias {
                    Some(b) => Some(&b[j..j + 8]),
                    None => None,
                };
                crate::gemm_i8::x86_kernels::requant8(t, &acc[j..j + 8], b, rq, j, o);
            }
        }
        assert!(rq.vector && out.len().is_multiple_of(8) && acc.len() >= out.len());
        // SAFETY: the token proves AVX2.
        unsafe { body(t, rq, acc, bias, out) }
    }

    /// The AVX2 micro-kernel: per block two ymm accumulators (channels 0-3 and 8-11, 4-7 and
    /// 12-15), one `vpmaddwd` each per pair.
    ///
    /// # Safety
    /// AVX2 is available, and the contract of `Level::blocks` holds (its lengths checked).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(a: Blocks<'_>) {
        // SAFETY: the caller's contract: 16 bytes per block at each tap of the pairs, `w` and
        // `acc` as long as the blocks need.
        unsafe {
            let offv = _mm256_set1_epi16(a.off);
            let acc = a.acc.as_mut_ptr();
            for k in 0..a.blocks {
                let ak = acc.add(k * BLOCK);
                let (mut a0, mut a1) = if a.first {
                    (_mm256_setzero_si256(), _mm256_setzero_si256())
                } else {
                    let n0 = _mm256_loadu_si256(ak as *const __m256i);
                    let n1 = _mm256_loadu_si256(ak.add(8) as *const __m256i);
                    (
                        _mm256_permute2x128_si256::<0x20>(n0, n1),
                        _mm256_permute2x128_si256::<0x31>(n0, n1),
                    )
                };
                let wk = a.w.as_ptr().add(k * a.pairs * PAIR_LEN);
                for q in 0..a.pairs {
                    let pa = a.taps[2 * q].add(k * BLOCK) as *const __m128i;
                    let pb = a.taps[2 * q + 1].add(k * BLOCK) as *const __m128i;
                    let xa = _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(pa)), offv);
                    let xb = _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(pb)), offv);
                    let lo = _mm256_unpacklo_epi16(xa, xb);
                    let hi = _mm256_unpackhi_epi16(xa, xb);
                    let wq = wk.add(q * PAIR_LEN);
                    let w0 = _mm256_loadu_si256(wq as *const __m256i);
                    let w1 = _mm256_loadu_si256(wq.add(16) as *const __m256i);
                    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(lo, w0));
                    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(hi, w1));
                }
                // Back to channel order: 0-3 4-7 | 8-11 12-15.
                let n0 = _mm256_permute2x128_si256::<0x20>(a0, a1);
                let n1 = _mm256_permute2x128_si256::<0x31>(a0, a1);
                _mm256_storeu_si256(ak as *mut __m256i, n0);
                _mm256_storeu_si256(ak.add(8) as *mut __m256i, n1);
            }
        }
    }

    /// The SSE4.1 micro-kernel: the same packing read in halves of 8 channels, four xmm
    /// accumulators per block.
    ///
    /// # Safety
    /// SSE4.1 is available, and the contract of `Level::blocks` holds (its lengths checked).
    #[target_feature(enable = "sse4.1")]
    pub(super) unsafe fn sse41(a: Blocks<'_>) {
        // SAFETY: as in `avx2`.
        unsafe {
            let offv = _mm_set1_epi16(a.off);
            let acc = a.acc.as_mut_ptr();
            for k in 0..a.blocks {
                let ak = acc.add(k * BLOCK);
                // acc[h][0]: channels 8h..8h+4, acc[h][1]: 8h+4..8h+8.
                let mut v = [[_mm_setzero_si128(); 2]; 2];
                if !a.first {
                    for (h, vh) in v.iter_mut().enumerate() {
                        for (j, vj) in vh.iter_mut().enumerate() {
                            *vj = _mm_loadu_si128(ak.add(8 * h + 4 * j) as *const __m128i);
                        }
                    }
                }
                let wk = a.w.as_ptr().add(k * a.pairs * PAIR_LEN);
                for q in 0..a.pairs {
                    let wq = wk.add(q * PAIR_LEN);
                    for (h, vh) in v.iter_mut().enumerate() {
                        let pa = a.taps[2 * q].add(k * BLOCK + 8 * h) as *const __m128i;
                        let pb = a.taps[2 * q + 1].add(k * BLOCK + 8 * h) as *const __m128i;
                        let xa = _mm_add_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64(pa)), offv);
                        let xb = _mm_add_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64(pb)), offv);
                        let lo = _mm_unpacklo_epi16(xa, xb);
                        let hi = _mm_unpackhi_epi16(xa, xb);
                        // Slots of channels 8h..8h+4 are values 8h.., of 8h+4.. 16 + 8h...
                        let w0 = _mm_loadu_si128(wq.add(8 * h) as *const __m128i);
                        let w1 = _mm_loadu_si128(wq.add(16 + 8 * h) as *const __m128i);
                        vh[0] = _mm_add_epi32(vh[0], _mm_madd_epi16(lo, w0));
                        vh[1] = _mm_add_epi32(vh[1], _mm_madd_epi16(hi, w1));
                    }
                }
                for (h, vh) in v.iter().enumerate() {
                    for (j, &vj) in vh.iter().enumerate() {
                        _mm_storeu_si128(ak.add(8 * h + 4 * j) as *mut __m128i, vj);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::SimdBackend;
    use crate::testutil::{ACTIVATIONS, Axes, edge_or_any, for_each_backend};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, DType, DepthwiseConv2dAttrs, Op, Padding, QuantParams};
    use tflrs_kernels::testing::{Harness, TestInput, make_kernel};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    /// One DEPTHWISE_CONV_2D int8 case.
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
        in_zp: i64,
        out_zp: i64,
        in_scale: f32,
        /// One per output channel (the first alone when per tensor).
        w_scales: Vec<f32>,
        per_channel: bool,
        /// Output steps of a typical accumulator: `2^t`, or (99) a multiplier of at least 1.
        t: i32,
        bias: bool,
        act: Activation,
        seed: u64,
    }

    /// Zero points: both ends of int8, 0, or any.
    fn zero_point() -> impl Strategy<Value = i64> + Clone {
        prop_oneof![Just(-128i64), Just(127i64), Just(0i64), -128i64..=127]
    }

    /// A scale `m * 2^e`, `m` in `[1, 2)`.
    fn scale() -> impl Strategy<Value = f32> + Clone {
        (1.0f32..2.0, -8i32..=1).prop_map(|(m, e)| m * 2f32.powi(e))
    }

    fn dw_strategy() -> impl Strategy<Value = Dw> {
        let ks = prop::sample::select(vec![1usize, 2, 3, 3, 5]);
        let s12 = prop::sample::select(vec![1usize, 1, 2]);
        (
            (1usize..=2, (0usize..=6, 0usize..=6)),
            (
                edge_or_any(1..=40),
                prop::sample::select(vec![1usize, 1, 1, 2, 3]),
            ),
            (ks.clone(), ks),
            (s12.clone(), s12.clone()),
            (s12.clone(), s12),
            prop::sample::select(vec![Padding::Same, Padding::Valid]),
            (zero_point(), zero_point(), scale(), scale()),
            (any::<bool>(), prop_oneof![3 => 0i32..=7, 1 => Just(99)]),
            (any::<bool>(), prop::sample::select(ACTIVATIONS.to_vec())),
            any::<u64>(),
        )
            .prop_flat_map(
                |(
                    (batch, extra),
                    (in_c, mult),
                    kernel,
                    stride,
                    dilation,
                    padding,
                    (in_zp, out_zp, in_scale, w0),
                    (per_channel, t),
                    (bias, act),
                    seed,
                )| {
                    prop::collection::vec(0.5f32..2.0, in_c * mult).prop_map(move |ratios| Dw {
                        batch,
                        extra,
                        in_c,
                        mult,
                        kernel,
                        stride,
                        dilation,
                        padding,
                        in_zp,
                        out_zp,
                        in_scale,
                        w_scales: ratios.iter().map(|r| w0 * r).collect(),
                        per_channel,
                        t,
                        bias,
                        act,
                        seed,
                    })
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

    /// The case's node: input, constant filter (quantized along axis 3), optional constant
    /// int32 bias (some large), output.
    fn node(p: &Dw) -> (Op<'static>, Vec<Option<TestInput>>, Vec<TensorInfo>) {
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
        let ((ih, iw), (oh, ow)) = (axes.input, axes.output);
        let (nb, c) = (p.batch, p.in_c);
        let oc = c * p.mult;
        let mut seed = p.seed | 1;
        let x = bytes(&mut seed, nb * ih * iw * c);
        let w = bytes(&mut seed, kh * kw * oc);
        let b: Vec<i32> = bytes(&mut seed, 4 * oc)
            .chunks_exact(4)
            .enumerate()
            .map(|(i, q)| {
                let v = i32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]);
                if i % 3 == 0 { v } else { v >> 12 }
            })
            .collect();
        let w0 = p.w_scales[0];
        // A typical accumulator is about `sqrt(K) * 128 * 74`.
        let typical = ((kh * kw) as f32).sqrt() * 128.0 * 74.0;
        let out_scale = if p.t == 99 {
            p.in_scale * w0 / (1.0 + (p.seed % 3) as f32)
        } else {
            p.in_scale * w0 * typical / 2f32.powi(p.t)
        };
        let x_info =
            TensorInfo::new("x", DType::Int8, [nb, ih, iw, c]).with_quant(p.in_scale, p.in_zp);
        let mut w_info = TensorInfo::new("w", DType::Int8, [1, kh, kw, oc]);
        w_info.quant = Some(if p.per_channel {
            QuantParams::per_axis(3, p.w_scales.clone(), vec![0; oc])
        } else {
            QuantParams::per_tensor(w0, 0)
        });
        let b_info = TensorInfo::new("b", DType::Int32, [oc]);
        let inputs = vec![
            Some(TestInput::from_slice(x_info, &x)),
            Some(TestInput::const_from_slice(w_info, &w)),
            p.bias.then(|| TestInput::const_from_slice(b_info, &b)),
        ];
        let out =
            TensorInfo::new("y", DType::Int8, [nb, oh, ow, oc]).with_quant(out_scale, p.out_zp);
        (op, inputs, vec![out])
    }

    /// Runs the case on `backend` and on the scalar backend, compares the bytes, checks the
    /// kernel's name, and counts into `spread` the cases and those with at least a quarter of
    /// their outputs off the int8 extremes.
    fn check(
        backend: &SimdBackend,
        p: &Dw,
        spread: &core::cell::Cell<(usize, usize)>,
    ) -> Result<(), String> {
        let (op, ins, outs) = node(p);
        let (name, _) = Harness::new()
            .compare(backend, &ScalarBackend, &op, &ins, &outs)
            .map_err(|e| e.to_string())?;
        let want = format!(
            "depthwise_conv_2d_i8__{}_16c{}",
            backend.isa().name(),
            if p.mult > 1 { "_mult" } else { "" }
        );
        if name != want {
            return Err(format!("kernel {name}, expected {want}"));
        }
        let out = Harness::new()
            .run_node(&ScalarBackend, &op, &mut ins.clone(), &outs)
            .map_err(|e| e.to_string())?;
        let (all, inside) = spread.get();
        let off = out[0].iter().filter(|&&b| b != 0x80 && b != 0x7f).count();
        spread.set((all + 1, inside + usize::from(4 * off >= out[0].len())));
        Ok(())
    }

    /// Fails unless at least a fifth of the cases had a quarter of their outputs off the int8
    /// extremes.
    fn check_spread((all, inside): (usize, usize)) {
        println!("{inside} of {all} cases with a quarter of their outputs unclamped");
        assert!(5 * inside >= all, "{inside} of {all} cases mostly clamped");
    }

    #[test]
    fn depthwise_i8_equals_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            let spread = core::cell::Cell::new((0, 0));
            runner
                .run(&dw_strategy(), |p| {
                    check(backend, &p, &spread)
                        .map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))
                })
                .unwrap();
            check_spread(spread.get());
        });
    }

    #[test]
    fn channel_blocks_tails_and_passes_of_every_level() {
        for_each_backend(|backend, _| {
            let spread = core::cell::Cell::new((0, 0));
            // Channels around the 16-channel blocks (and MobileNet's 48, 144), the 3x3 stride
            // 1 and 2 layers, a 5x5 (two passes of taps), a 4x5 and dilated windows, depth
            // multipliers 1 to 3, extreme zero points.
            for (i, c) in [1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 144]
                .into_iter()
                .enumerate()
            {
                for (j, (kernel, stride, dilation, mult)) in [
                    ((3, 3), (1, 1), (1, 1), 1),
                    ((3, 3), (2, 2), (1, 1), 1),
                    ((5, 5), (1, 2), (1, 1), 1),
                    ((4, 5), (2, 1), (2, 1), 1),
                    ((3, 1), (1, 1), (2, 1), 2),
                    ((1, 3), (2, 1), (1, 2), 3),
                ]
                .into_iter()
                .enumerate()
                {
                    let k = i + j;
                    let p = Dw {
                        batch: 1 + k % 2,
                        extra: (3, 4),
                        in_c: c,
                        mult,
                        kernel,
                        stride,
                        dilation,
                        padding: if k % 3 == 0 {
                            Padding::Valid
                        } else {
                            Padding::Same
                        },
                        in_zp: [-128, 127, 0, 5][k % 4],
                        out_zp: [127, -128, -3, 0][k % 4],
                        in_scale: 0.02,
                        w_scales: (0..c * mult).map(|o| 0.01 + 0.001 * o as f32).collect(),
                        per_channel: k % 2 == 0,
                        t: [3, 5, 99, 6][k % 4],
                        bias: k % 4 != 1,
                        act: ACTIVATIONS[k % 4],
                        seed: (c * 100 + k) as u64,
                    };
                    check(backend, &p, &spread).unwrap_or_else(|e| panic!("{p:?}: {e}"));
                }
            }
            check_spread(spread.get());
        });
    }

    #[test]
    fn outputs_are_the_same_bytes_on_1_2_3_threads() {
        for_each_backend(|backend, _| {
            let spread = core::cell::Cell::new((0, 0));
            // (extra, C, stride, multiplier, batch, kernel, split): MobileNet-like layers large
            // enough to split (the AVX2 row path, a partial block, a multiplier, two passes of
            // taps, a batch of two), and one too small.
            for (i, (extra, c, s, mult, batch, k, split)) in [
                (22, 48, 1, 1, 1, 3, true),
                (30, 16, 2, 1, 2, 3, true),
                (20, 24, 1, 2, 1, 3, true),
                (16, 40, 1, 1, 1, 5, true),
                (3, 8, 1, 1, 1, 3, false),
            ]
            .into_iter()
            .enumerate()
            {
                let p = Dw {
                    batch,
                    extra: (extra, extra + 1),
                    in_c: c,
                    mult,
                    kernel: (k, k),
                    stride: (s, s),
                    dilation: (1, 1),
                    padding: Padding::Same,
                    in_zp: [-128, 3, 127, 0, -7][i],
                    out_zp: [5, -128, 0, 127, 1][i],
                    in_scale: 0.02,
                    w_scales: (0..c * mult).map(|o| 0.01 + 0.001 * o as f32).collect(),
                    per_channel: i % 2 == 0,
                    t: 4,
                    bias: i != 1,
                    act: ACTIVATIONS[i % 4],
                    seed: (c * 10 + extra) as u64,
                };
                let (op, ins, outs) = node(&p);
                crate::testutil::same_bytes_on_1_2_3_threads(backend, &op, &ins, &outs, split)
                    .unwrap_or_else(|e| panic!("{p:?}: {e}"));
                check(backend, &p, &spread).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            }
        });
    }

    #[test]
    fn computed_filters_stay_with_the_scalar_backend() {
        for_each_backend(|backend, _| {
            let p = Dw {
                batch: 1,
                extra: (2, 2),
                in_c: 5,
                mult: 1,
                kernel: (3, 3),
                stride: (1, 1),
                dilation: (1, 1),
                padding: Padding::Same,
                in_zp: 1,
                out_zp: 2,
                in_scale: 0.5,
                w_scales: vec![0.25; 5],
                per_channel: false,
                t: 4,
                bias: true,
                act: Activation::None,
                seed: 7,
            };
            let (op, mut ins, outs) = node(&p);
            assert!(make_kernel(backend, &op, &ins, &outs).unwrap().is_some());
            let w = ins[1].as_ref().unwrap();
            ins[1] = Some(TestInput::new(w.info.clone(), w.bytes.clone()));
            let k = make_kernel(backend, &op, &ins, &outs).unwrap();
            assert!(k.is_none_or(|k| k.name().ends_with("__scalar")));
        });
    }
}

//! The exact int8 GEMM: int32 accumulators of `sum_k (w[j][k] + w_offset) * (x[i][k] +
//! in_offset)`, handed to an epilogue (bias, requantization, zero point, clamp) per output.
//!
//! **Packing** (backends-plan.md §6.3). The `[N x K]` weights (FULLY_CONNECTED's `[units x
//! depth]`, a 1x1 CONV_2D's OHWI filter) are widened to int16 with the weight offset applied,
//! once, at preparation, into `NR`-wide column panels of k-pairs: panel `p`, pair `q` holds for
//! each column `j` of the panel the two values `w[j][2q], w[j][2q + 1]` (a missing `k` of an odd
//! `K`, and the columns past `N` of the last panel, are 0). A row of `A` is widened to int16
//! with the input offset applied (into scratch, [`GemmI8::scratch_bytes`]), its pairs read as
//! one 32-bit value each. One `vpmaddwd` of a broadcast pair with 8 columns' pairs gives 8
//! int32 lanes `w0 x0 + w1 x1`, one per output column.
//!
//! **Exactness.** An int8 value plus an offset that is a negated int8 zero point (or 0) lies in
//! `-255..=255`, so it fits int16, each product is at most `255 * 255` and a pair's sum at most
//! `2 * 255 * 255` in magnitude: `vpmaddwd` (which saturates only for `-32768 * -32768` twice)
//! is exact. The int32 sums then wrap modulo 2^32 as the scalar kernels' `wrapping_add`s do,
//! and integer addition modulo 2^32 does not depend on the order: every level gives the scalar
//! kernels' accumulators bit for bit.
//!
//! Two levels (STYLE.md 4): micro-kernels over one full `MR x NR` tile (AVX2 4x16 and 4x8,
//! SSE4.1 4x8, portable 4x8 in plain Rust over the same packing) write the tile's int32
//! accumulators to a buffer on the stack; the wrapper walks row blocks and panels and calls the
//! epilogue for the valid outputs only (the `M` tail reads its last valid row again, the `N`
//! tail's columns are the panel's zero padding; both are dropped).

use crate::isa::Isa;
use tflrs_kernels::scalar::qmath;

/// Rows per tile, at every level.
pub(crate) const MR: usize = 4;

/// The micro-kernel of a level and panel width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MicroKernel {
    Portable4x8,
    #[cfg(target_arch = "x86_64")]
    Sse41_4x8,
    #[cfg(target_arch = "x86_64")]
    Avx2_4x8,
    #[cfg(target_arch = "x86_64")]
    Avx2_4x16,
}

impl MicroKernel {
    /// The best micro-kernel of `isa` for `n` columns (AVX-512 hosts run the AVX2 kernels).
    pub(crate) fn choose(isa: Isa, n: usize) -> Self {
        match isa {
            Isa::Portable => MicroKernel::Portable4x8,
            #[cfg(target_arch = "x86_64")]
            Isa::Sse41 => MicroKernel::Sse41_4x8,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma | Isa::Avx512 if n <= 8 => MicroKernel::Avx2_4x8,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma | Isa::Avx512 => MicroKernel::Avx2_4x16,
            #[cfg(not(target_arch = "x86_64"))]
            _ => MicroKernel::Portable4x8,
        }
    }

    /// `{isa}_{MR}x{NR}`, as kernel names spell it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            MicroKernel::Portable4x8 => "portable_4x8",
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Sse41_4x8 => "sse41_4x8",
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_4x8 => "avx2_4x8",
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_4x16 => "avx2_4x16",
        }
    }

    /// Columns per panel.
    pub(crate) fn nr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_4x16 => 16,
            _ => 8,
        }
    }
}

/// Packed int16 weights and the micro-kernel that multiplies them.
#[derive(Debug)]
pub(crate) struct GemmI8 {
    kernel: MicroKernel,
    k: usize,
    n: usize,
    /// `ceil(k / 2)` pairs.
    pairs: usize,
    /// Panels, `2 * pairs * NR` values each.
    panels: Vec<i16>,
    in_offset: i16,
}

/// Whether an offset (a negated int8 zero point, or 0) keeps offset int8 values within int16
/// products that `vpmaddwd` sums exactly: `-127..=128`.
pub(crate) fn offset_fits(offset: i32) -> bool {
    (-127..=128).contains(&offset)
}

impl GemmI8 {
    /// Packs `w` (`n` rows of `k` int8 values, row-major) plus `w_offset` for `isa`. The
    /// offsets must satisfy [`offset_fits`].
    pub(crate) fn new(
        isa: Isa,
        k: usize,
        n: usize,
        w: &[i8],
        w_offset: i32,
        in_offset: i32,
    ) -> Self {
        assert!(offset_fits(w_offset) && offset_fits(in_offset) && w.len() >= n * k);
        let kernel = MicroKernel::choose(isa, n);
        let nr = kernel.nr();
        let pairs = k.div_ceil(2);
        let panel_len = 2 * pairs * nr;
        let mut panels = vec![0i16; n.div_ceil(nr) * panel_len];
        for j in 0..n {
            let (p, c) = (j / nr, j % nr);
            let row = &w[j * k..][..k];
            for (kk, &v) in row.iter().enumerate() {
                let at = p * panel_len + (kk / 2) * 2 * nr + 2 * c + kk % 2;
                panels[at] = (i32::from(v) + w_offset) as i16;
            }
        }
        Self {
            kernel,
            k,
            n,
            pairs,
            panels,
            in_offset: in_offset as i16,
        }
    }

    /// The depth `K`.
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// The columns `N`.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// The AVX2 token when the micro-kernel is an AVX2 one (for the vector epilogue).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn avx2(&self) -> Option<crate::isa::x86::Avx2Fma> {
        match self.kernel {
            MicroKernel::Avx2_4x8 | MicroKernel::Avx2_4x16 => crate::isa::x86::Avx2Fma::new(),
            _ => None,
        }
    }

    /// The micro-kernel.
    pub(crate) fn kernel(&self) -> MicroKernel {
        self.kernel
    }

    /// Scratch bytes [`run`](Self::run) needs: one row block of widened activations.
    pub(crate) fn scratch_bytes(&self) -> usize {
        // One spare value, to align the int16 rows in a byte buffer.
        (MR * 2 * self.pairs + 1) * 2
    }

    /// For `m` rows of `A` (row `i` at `a[i * lda ..][..k]`), calls `emit(i, j, accs)` once
    /// for every run of outputs `(i, j..j + accs.len())` (one tile row) with their int32
    /// accumulators; every output is in exactly one run. `scratch` holds
    /// [`scratch_bytes`](Self::scratch_bytes).
    #[allow(dead_code)] // The entry for a matrix read in place; the kernels use `run_part`.
    pub(crate) fn run(
        &self,
        m: usize,
        a: &[i8],
        lda: usize,
        scratch: &mut [u8],
        emit: impl FnMut(usize, usize, &[i32]),
    ) {
        let k = self.k;
        assert!(m == 0 || (m - 1) * lda + k <= a.len());
        let off = self.in_offset;
        self.run_rows(
            m,
            scratch,
            |i, dst| widen(&a[i * lda..][..k], off, dst),
            emit,
        );
    }

    /// The input offset (added to each value of `A` as it is widened).
    pub(crate) fn in_offset(&self) -> i16 {
        self.in_offset
    }

    /// [`run`](Self::run) over rows that `fill(i, dst)` writes: the `k` values of row `i`,
    /// widened, with the input offset applied (see [`widen`]).
    pub(crate) fn run_rows(
        &self,
        m: usize,
        scratch: &mut [u8],
        fill: impl FnMut(usize, &mut [i16]),
        emit: impl FnMut(usize, usize, &[i32]),
    ) {
        self.run_part(0..m, 0..self.panels(), scratch, fill, emit);
    }

    /// Column panels (`NR` columns each, the last one partial).
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(self.kernel.nr())
    }

    /// [`run_rows`](Self::run_rows) for rows `rows` (starting at a multiple of [`MR`]) and
    /// panels `panels` only: one task of a split (see [`crate::split`]). Each output is
    /// computed as the whole walk computes it.
    pub(crate) fn run_part(
        &self,
        rows: core::ops::Range<usize>,
        panels: core::ops::Range<usize>,
        scratch: &mut [u8],
        fill: impl FnMut(usize, &mut [i16]),
        emit: impl FnMut(usize, usize, &[i32]),
    ) {
        let pairs = self.pairs;
        let walk = Walk { rows, panels };
        match self.kernel {
            MicroKernel::Portable4x8 => self.walk(walk, scratch, fill, emit, |a, b, o| {
                portable::<8>(pairs, a, b, o)
            }),
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Sse41_4x8 => {
                let t = crate::isa::x86::Sse41::new().expect("an SSE4.1 kernel runs on SSE4.1");
                self.walk(walk, scratch, fill, emit, |a, b, o| {
                    x86_kernels::sse41(t, pairs, a, b, o)
                })
            }
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_4x8 => {
                let t = crate::isa::x86::Avx2Fma::new().expect("an AVX2 kernel runs on AVX2");
                self.walk(walk, scratch, fill, emit, |a, b, o| {
                    x86_kernels::avx2::<8, 1>(t, pairs, a, b, o)
                })
            }
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_4x16 => {
                let t = crate::isa::x86::Avx2Fma::new().expect("an AVX2 kernel runs on AVX2");
                self.walk(walk, scratch, fill, emit, |a, b, o| {
                    x86_kernels::avx2::<16, 2>(t, pairs, a, b, o)
                })
            }
        }
    }

    /// The wrapper: row blocks of `MR` rows widened into scratch, then every panel's tile
    /// through `tile`, and the valid outputs to `emit`.
    #[inline(always)]
    fn walk(
        &self,
        Walk {
            rows: rows_of,
            panels,
        }: Walk,
        scratch: &mut [u8],
        mut fill: impl FnMut(usize, &mut [i16]),
        mut emit: impl FnMut(usize, usize, &[i32]),
        mut tile: impl FnMut([&[i16]; MR], &[i16], &mut [[i32; 16]; MR]),
    ) {
        let (k, n, nr) = (self.k, self.n, self.kernel.nr());
        let row_len = 2 * self.pairs;
        let (_, wide, _) =
            bytemuck::pod_align_to_mut::<u8, i16>(&mut scratch[..self.scratch_bytes()]);
        let wide = &mut wide[..MR * row_len];
        let panel_len = row_len * nr;
        // The micro-kernels read `2 * pairs` values per row and `2 * pairs * NR` per panel.
        assert!(self.panels.len().is_multiple_of(panel_len) && nr <= 16);
        let mut acc = [[0i32; 16]; MR];
        let m = rows_of.end;
        for i0 in rows_of.step_by(MR) {
            let rows = (m - i0).min(MR);
            // Widen the block's rows (the last valid one again for a partial block).
            for (r, dst) in wide.chunks_exact_mut(row_len).enumerate() {
                fill(i0 + r.min(rows - 1), &mut dst[..k]);
                if k % 2 == 1 {
                    dst[k] = 0;
                }
            }
            let rows_a: [&[i16]; MR] = core::array::from_fn(|r| &wide[r * row_len..][..row_len]);
            for p in panels.clone() {
                let panel = &self.panels[p * panel_len..][..panel_len];
                tile(rows_a, panel, &mut acc);
                let j0 = p * nr;
                let cols = (n - j0).min(nr);
                for (r, acc_r) in acc.iter().enumerate().take(rows) {
                    emit(i0 + r, j0, &acc_r[..cols]);
                }
            }
        }
    }
}

/// The rows and panels one walk covers.
struct Walk {
    rows: core::ops::Range<usize>,
    panels: core::ops::Range<usize>,
}

/// LiteRT's per-channel int8 requantization, ready for 8 lanes at a time: bias, then
/// `MultiplyByQuantizedMultiplier` (left shift, `srdhm`, rounding right shift), zero point,
/// clamp. Exactly [`qmath::multiply_by_quantized_multiplier`] lane by lane.
#[derive(Debug)]
pub(crate) struct Requant {
    mult: Vec<i32>,
    left: Vec<i32>,
    right: Vec<i32>,
    out_zp: i32,
    lo: i32,
    hi: i32,
    /// Whether the AVX2 epilogue may run: every right shift in `0..=31`, left in `0..=30`.
    pub(crate) vector: bool,
}

impl Requant {
    /// From per-channel multipliers and shifts (LiteRT's sign: positive shifts left).
    pub(crate) fn new(mult: &[i32], shift: &[i32], out_zp: i32, lo: i32, hi: i32) -> Self {
        let left: Vec<i32> = shift.iter().map(|&s| s.max(0)).collect();
        let right: Vec<i32> = shift.iter().map(|&s| (-s).max(0)).collect();
        let vector = left.iter().all(|&l| l <= 30) && right.iter().all(|&r| r <= 31);
        Self {
            mult: mult.to_vec(),
            left,
            right,
            out_zp,
            lo,
            hi,
            vector,
        }
    }

    /// Output `j` from accumulator `acc` plus `bias`, in scalar code.
    #[inline]
    fn one(&self, acc: i32, bias: i32, j: usize) -> i8 {
        let shift = self.left[j] - self.right[j];
        let v =
            qmath::multiply_by_quantized_multiplier(acc.wrapping_add(bias), self.mult[j], shift)
                .wrapping_add(self.out_zp);
        v.max(self.lo).min(self.hi) as i8
    }

    /// Outputs `j0..j0 + accs.len()` into `out` (as long as `accs`), with the bias (`n`
    /// values, or none); the AVX2 token, when given, runs 8 channels at a time.
    #[inline]
    pub(crate) fn row(
        &self,
        #[cfg(target_arch = "x86_64")] avx2: Option<crate::isa::x86::Avx2Fma>,
        j0: usize,
        accs: &[i32],
        bias: Option<&[i32]>,
        out: &mut [i8],
    ) {
        let len = accs.len();
        let out = &mut out[..len];
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = avx2.filter(|_| self.vector) {
            while done + 8 <= len {
                let j = j0 + done;
                let b = bias.map(|b| &b[j..j + 8]);
                x86_kernels::requant8(
                    t,
                    &accs[done..done + 8],
                    b,
                    self,
                    j,
                    &mut out[done..done + 8],
                );
                done += 8;
            }
        }
        for c in done..len {
            let b = bias.map_or(0, |b| b[j0 + c]);
            out[c] = self.one(accs[c], b, j0 + c);
        }
    }
}

/// Widens int8 values with `offset` added into `dst` (as long as `src`).
#[inline]
pub(crate) fn widen(src: &[i8], offset: i16, dst: &mut [i16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = i16::from(s) + offset;
    }
}

/// The portable micro-kernel: plain loops over the same packing (the products and pair sums
/// are exact in int32, the accumulation wraps as the scalar kernels' does).
fn portable<const NR: usize>(pairs: usize, a: [&[i16]; MR], b: &[i16], out: &mut [[i32; 16]; MR]) {
    let mut acc = [[0i32; NR]; MR];
    for (q, bq) in b.chunks_exact(2 * NR).take(pairs).enumerate() {
        for (acc_r, a_r) in acc.iter_mut().zip(&a) {
            let (x0, x1) = (i32::from(a_r[2 * q]), i32::from(a_r[2 * q + 1]));
            for (o, w) in acc_r.iter_mut().zip(bq.chunks_exact(2)) {
                *o = o.wrapping_add(i32::from(w[0]) * x0 + i32::from(w[1]) * x1);
            }
        }
    }
    for (o, acc_r) in out.iter_mut().zip(&acc) {
        o[..NR].copy_from_slice(acc_r);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_kernels {
    use super::MR;
    use crate::isa::x86::{Avx2Fma, Sse41};
    use core::arch::x86_64::*;

    /// AVX2, `MR` rows by `V` ymm vectors of 8 int32 lanes (`NR = 8 * V`).
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_body<const NR: usize, const V: usize>(
        pairs: usize,
        a: [&[i16]; MR],
        b: &[i16],
        out: &mut [[i32; 16]; MR],
    ) {
        let mut acc = [[_mm256_setzero_si256(); V]; MR];
        let ap: [*const i16; MR] = a.map(|r| r.as_ptr());
        let mut bp = b.as_ptr();
        for q in 0..pairs {
            // SAFETY: `avx2` checked that every row holds `2 * pairs` values and `b`
            // `2 * pairs * NR`.
            unsafe {
                let bv: [__m256i; V] =
                    core::array::from_fn(|v| _mm256_loadu_si256(bp.add(16 * v) as *const __m256i));
                for r in 0..MR {
                    let pair = (ap[r].add(2 * q) as *const i32).read_unaligned();
                    let av = _mm256_set1_epi32(pair);
                    for v in 0..V {
                        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(av, bv[v]));
                    }
                }
                bp = bp.add(2 * NR);
            }
        }
        for (o, acc_r) in out.iter_mut().zip(&acc) {
            for (v, &x) in acc_r.iter().enumerate() {
                // SAFETY: `o` holds 16 >= NR = 8 * V lanes.
                unsafe { _mm256_storeu_si256(o.as_mut_ptr().add(8 * v) as *mut __m256i, x) };
            }
        }
    }

    /// SSE4.1, `MR` rows by 2 xmm vectors of 4 int32 lanes (NR = 8).
    #[target_feature(enable = "sse4.1")]
    unsafe fn sse41_body(pairs: usize, a: [&[i16]; MR], b: &[i16], out: &mut [[i32; 16]; MR]) {
        let mut acc = [[_mm_setzero_si128(); 2]; MR];
        let ap: [*const i16; MR] = a.map(|r| r.as_ptr());
        let mut bp = b.as_ptr();
        for q in 0..pairs {
            // SAFETY: as in `avx2_body`, with NR = 8.
            unsafe {
                let bv = [
                    _mm_loadu_si128(bp as *const __m128i),
                    _mm_loadu_si128(bp.add(8) as *const __m128i),
                ];
                for r in 0..MR {
                    let pair = (ap[r].add(2 * q) as *const i32).read_unaligned();
                    let av = _mm_set1_epi32(pair);
                    for v in 0..2 {
                        acc[r][v] = _mm_add_epi32(acc[r][v], _mm_madd_epi16(av, bv[v]));
                    }
                }
                bp = bp.add(16);
            }
        }
        for (o, acc_r) in out.iter_mut().zip(&acc) {
            for (v, &x) in acc_r.iter().enumerate() {
                // SAFETY: `o` holds 16 >= 8 lanes.
                unsafe { _mm_storeu_si128(o.as_mut_ptr().add(4 * v) as *mut __m128i, x) };
            }
        }
    }

    /// Requantizes 8 channels (`j..j + 8`) of one output row, exactly as
    /// `Requant::one` does lane by lane (see the comments). (`#[inline]`: callers compiled for
    /// AVX2, as the int8 depthwise's epilogue, inline it.)
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn requant8_body(
        acc: *const i32,
        bias: Option<*const i32>,
        rq: &super::Requant,
        j: usize,
        out: *mut i8,
    ) {
        // SAFETY: `requant8` checked 8 accumulators, biases, outputs and channel parameters.
        unsafe {
            let ld = |p: *const i32| _mm256_loadu_si256(p as *const __m256i);
            let mut x = ld(acc);
            if let Some(b) = bias {
                x = _mm256_add_epi32(x, ld(b));
            }
            let m = ld(rq.mult.as_ptr().add(j));
            let left = ld(rq.left.as_ptr().add(j));
            let right = ld(rq.right.as_ptr().add(j));
            // `x * 2^left`, wrapping: a logical left shift.
            let x = _mm256_sllv_epi32(x, left);
            // srdhm: `ab = x * m` (64 bits); for either sign, C's truncating
            // `(ab + nudge) / 2^31` equals `floor((ab + 2^30) / 2^31)`, whose low 32 bits are
            // bits 31..62 of `ab + 2^30`.
            let half = _mm256_set1_epi64x(1 << 30);
            let even = _mm256_add_epi64(_mm256_mul_epi32(x, m), half);
            let even = _mm256_srli_epi64::<31>(even);
            let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m));
            let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd, half));
            let h = _mm256_blend_epi32::<0b1010_1010>(even, odd);
            // The one overflow, `x == m == i32::MIN`, gives i32::MIN here: flip it to MAX.
            let min = _mm256_set1_epi32(i32::MIN);
            let both = _mm256_and_si256(_mm256_cmpeq_epi32(x, min), _mm256_cmpeq_epi32(m, min));
            let h = _mm256_xor_si256(h, both);
            // Rounding divide by 2^right: mask, remainder, threshold (+1 for negatives).
            let one = _mm256_set1_epi32(1);
            let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
            let rem = _mm256_and_si256(h, mask);
            let neg = _mm256_cmpgt_epi32(_mm256_setzero_si256(), h);
            let thr = _mm256_sub_epi32(_mm256_srli_epi32::<1>(mask), neg);
            let q = _mm256_srav_epi32(h, right);
            let q = _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr));
            let v = _mm256_add_epi32(q, _mm256_set1_epi32(rq.out_zp));
            let v = _mm256_min_epi32(
                _mm256_max_epi32(v, _mm256_set1_epi32(rq.lo)),
                _mm256_set1_epi32(rq.hi),
            );
            // Within int8 now: the saturating packs are exact.
            let w = _mm256_packs_epi32(v, v);
            let w = _mm256_packs_epi16(w, w);
            let lo = _mm256_castsi256_si128(w);
            let hi = _mm256_extracti128_si256::<1>(w);
            _mm_storel_epi64(out as *mut __m128i, _mm_unpacklo_epi32(lo, hi));
        }
    }

    /// [`requant8_body`] on 8 accumulators (and biases) into 8 outputs; the token proves AVX2.
    #[inline]
    pub(crate) fn requant8(
        _t: Avx2Fma,
        acc: &[i32],
        bias: Option<&[i32]>,
        rq: &super::Requant,
        j: usize,
        out: &mut [i8],
    ) {
        assert!(acc.len() >= 8 && out.len() >= 8 && bias.is_none_or(|b| b.len() >= 8));
        assert!(rq.mult.len() >= j + 8 && rq.left.len() >= j + 8 && rq.right.len() >= j + 8);
        // SAFETY: the token proves AVX2; the lengths are checked above.
        unsafe {
            requant8_body(
                acc.as_ptr(),
                bias.map(|b| b.as_ptr()),
                rq,
                j,
                out.as_mut_ptr(),
            )
        }
    }

    /// The AVX2 micro-kernel; the token proves the CPU has AVX2.
    #[inline]
    pub(super) fn avx2<const NR: usize, const V: usize>(
        _t: Avx2Fma,
        pairs: usize,
        a: [&[i16]; MR],
        b: &[i16],
        out: &mut [[i32; 16]; MR],
    ) {
        assert!(NR == 8 * V && a.iter().all(|r| r.len() >= 2 * pairs) && b.len() >= 2 * pairs * NR);
        // SAFETY: the token proves AVX2; the lengths are checked above.
        unsafe { avx2_body::<NR, V>(pairs, a, b, out) }
    }

    /// The SSE4.1 micro-kernel; the token proves the CPU has SSE4.1.
    #[inline]
    pub(super) fn sse41(
        _t: Sse41,
        pairs: usize,
        a: [&[i16]; MR],
        b: &[i16],
        out: &mut [[i32; 16]; MR],
    ) {
        assert!(a.iter().all(|r| r.len() >= 2 * pairs) && b.len() >= 2 * pairs * 8);
        // SAFETY: the token proves SSE4.1; the lengths are checked above.
        unsafe { sse41_body(pairs, a, b, out) }
    }
}

#[cfg(test)]
mod tests {
    use super::Requant;

    /// The AVX2 epilogue against `qmath::multiply_by_quantized_multiplier` (through
    /// `Requant::one`) on edge accumulators (the ends of int32, 0, +-1, powers of two and their
    /// neighbours, whose products with the multipliers sit on rounding ties) and random ones,
    /// for every shift the plans make and multipliers at both ends of `[2^30, 2^31)`.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_vector_requantization_equals_the_scalar_one() {
        let Some(t) = crate::isa::x86::Avx2Fma::new() else {
            println!("SKIP: avx2 is not available on this host");
            return;
        };
        let mut accs: Vec<i32> = vec![i32::MIN, i32::MIN + 1, i32::MAX, 0, 1, -1];
        for e in 0..31 {
            for d in [-1i64, 0, 1] {
                for sign in [1i64, -1] {
                    accs.push((sign * ((1i64 << e) + d)) as i32);
                }
            }
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..4000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            accs.push((seed >> 32) as i32 >> (seed % 24));
        }
        accs.truncate(accs.len() / 8 * 8);
        let mults = [
            1 << 30,
            (1 << 30) + 1,
            1_518_500_250,
            i32::MAX - 1,
            i32::MAX,
        ];
        for shift in -31..=30 {
            for (mi, &m) in mults.iter().enumerate() {
                let mult = [m; 8];
                let shifts = [shift; 8];
                let (zp, lo, hi) = (mi as i32 * 7 - 14, -128, 127);
                let rq = Requant::new(&mult, &shifts, zp, lo, hi);
                assert!(rq.vector);
                let bias: [i32; 8] = core::array::from_fn(|c| c as i32 * 3 - 12);
                for chunk in accs.chunks_exact(8) {
                    let mut vector = [0i8; 8];
                    rq.row(Some(t), 0, chunk, Some(&bias), &mut vector);
                    let scalar: Vec<i8> = (0..8).map(|c| rq.one(chunk[c], bias[c], c)).collect();
                    assert_eq!(
                        vector.as_slice(),
                        scalar.as_slice(),
                        "{chunk:?} m {m} shift {shift}"
                    );
                }
            }
        }
    }
}

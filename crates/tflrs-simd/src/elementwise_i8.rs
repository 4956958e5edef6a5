//! int8 ADD, SUB and MUL with broadcasting and fused activations, exact: the scalar (LiteRT
//! reference) kernels' bytes, vectorized over int32 lanes.
//!
//! Nodes are prepared by the scalar kernels' plan (`tflrs_kernels::prep::binary::plan`), whose
//! constants the kernels apply lane by lane:
//! - ADD/SUB (`RescaleParams`): each input offset, shifted left by 20, brought to the common
//!   scale with its own `MultiplyByQuantizedMultiplier`; the sum or difference (wrapping)
//!   requantized with the output multiplier, plus the output zero point, clamped to the fused
//!   activation's range.
//! - MUL (`MulDivParams`): the product of the offset inputs (at most `255 * 255`: exact in
//!   int32), requantized, plus the zero point, clamped.
//!
//! `MultiplyByQuantizedMultiplier` is LiteRT's double rounding: `x * 2^left` (wrapping), the
//! saturating rounding doubling high multiply (`vpmuldq` on the even and the odd lanes, the
//! rounding of C's truncating division written as a floor, see `IntLevel::srdhm`), then the
//! rounding divide by `2^right` (mask, remainder, threshold). Every step is an integer
//! operation with the scalar code's result, so the outputs are equal byte for byte.
//!
//! The kernel walks the plan's broadcast runs ([`Broadcast::for_each_run`]): an operand that
//! is broadcast along a run is one value, rescaled once (in scalar code, the plan's function);
//! the full vectors of a run go through the level's micro-kernel, the tail through the plan's
//! element function. Levels: AVX2 (8 lanes), SSE4.1 (4 lanes) and portable (plain Rust on
//! `[i32; 4]`, the lanes through the scalar `qmath` functions). The vector levels take shifts
//! in `0..=31` and non-negative multipliers, which is what the plans make; a node with other
//! constants is declined.

use crate::isa::Isa;
use crate::isa::Tier as Level;
use tflrs_ir::{DType, Op};
use tflrs_kernels::prep::binary::{
    BinaryOp, BinaryParams, Broadcast, InputScale, MulDivParams, RescaleParams,
};
use tflrs_kernels::scalar::qmath;
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for an int8 ADD, SUB or MUL node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::Add(_) | Op::Sub(_) | Op::Mul(_)) {
        return Ok(None);
    }
    let Ok(Some(plan)) = tflrs_kernels::prep::binary::plan(node) else {
        return Ok(None);
    };
    if plan.dtype != DType::Int8 || plan.out_dtype != DType::Int8 {
        return Ok(None);
    }
    let arith = match (plan.op, plan.params) {
        (BinaryOp::Add, BinaryParams::Rescale(p)) => Arith::Add(p),
        (BinaryOp::Sub, BinaryParams::Rescale(p)) => Arith::Sub(p),
        (BinaryOp::Mul, BinaryParams::MulDiv(p)) => Arith::Mul(p),
        _ => return Ok(None),
    };
    // `quantize_multiplier` makes shifts in `-31..=30` and non-negative multipliers, so this
    // declines nothing a plan makes today; it keeps the vector levels' assumptions checked.
    if !arith.vector_ok() {
        return Ok(None);
    }
    let name = format!("{}_i8__{}", node.op.name().to_ascii_lowercase(), isa.name());
    Ok(Some(Box::new(BinaryI8 {
        name,
        level: Level::at(isa),
        bc: plan.broadcast,
        arith,
    })))
}

/// The arithmetic of a kernel, with the plan's constants.
#[derive(Debug, Clone, Copy)]
enum Arith {
    Add(RescaleParams),
    Sub(RescaleParams),
    Mul(MulDivParams),
}

/// Whether `MultiplyByQuantizedMultiplier(x, m, shift)` fits the vector levels: `m >= 0` and
/// both shifts in `0..=31`.
fn mbqm_ok(m: i32, shift: i32) -> bool {
    m >= 0 && (-31..=31).contains(&shift)
}

impl Arith {
    fn vector_ok(&self) -> bool {
        match self {
            Arith::Add(p) | Arith::Sub(p) => {
                (0..=31).contains(&p.left_shift)
                    && mbqm_ok(p.input1.multiplier, p.input1.shift)
                    && mbqm_ok(p.input2.multiplier, p.input2.shift)
                    && mbqm_ok(p.output_multiplier, p.output_shift)
            }
            Arith::Mul(p) => mbqm_ok(p.output_multiplier, p.output_shift),
        }
    }

    /// One output from raw inputs, as the scalar kernel computes it.
    #[inline]
    fn elem(&self, a: i8, b: i8) -> i8 {
        let (a, b) = (i32::from(a), i32::from(b));
        // The plans clamp to the int8 range, so the casts are exact.
        (match self {
            Arith::Add(p) => p.add(a, b),
            Arith::Sub(p) => p.sub(a, b),
            Arith::Mul(p) => p.mul(a, b),
        }) as i8
    }
}

impl Level {
    fn dispatch<J: IntJob>(self, job: J) -> J::Output {
        match self {
            Level::Portable => PortableI32.dispatch(job),
            #[cfg(target_arch = "x86_64")]
            Level::Sse41(t) => t.dispatch(job),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2(t) => t.dispatch(job),
        }
    }
}

/// int8 ADD/SUB/MUL over a planned broadcast.
struct BinaryI8 {
    name: String,
    level: Level,
    bc: Broadcast<2>,
    arith: Arith,
}

impl Kernel for BinaryI8 {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let a = inputs.get(0)?.as_slice::<i8>()?;
        let b = inputs.get(1)?.as_slice::<i8>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<i8>()?;
        self.bc.check_lens(y.len(), [a.len(), b.len()])?;
        let (l, ar) = (self.level, self.arith);
        self.bc.for_each_run(|out, [i, j], steps| {
            let y = &mut y[out];
            let n = y.len();
            match steps {
                [1, 1] => l.dispatch(Run {
                    a: &a[i..i + n],
                    b: &b[j..j + n],
                    y,
                    arith: ar,
                }),
                [1, _] => l.dispatch(Run {
                    a: &a[i..i + n],
                    b: One(b[j]),
                    y,
                    arith: ar,
                }),
                [_, 1] => l.dispatch(Run {
                    a: One(a[i]),
                    b: &b[j..j + n],
                    y,
                    arith: ar,
                }),
                _ => y.fill(ar.elem(a[i], b[j])),
            }
        });
        Ok(())
    }
}

/// A broadcast operand: one raw value for the whole run.
#[derive(Debug, Clone, Copy)]
struct One(i8);

/// An operand of a run: a slice as long as the output, or [`One`] value.
trait Src: Copy {
    /// The raw value at `k`.
    fn get(&self, k: usize) -> i8;
    /// The value of a broadcast operand.
    fn one(&self) -> Option<i8>;
    /// The `L::LANES` raw values at `k..`, in int32 lanes.
    ///
    /// # Safety
    /// `k + L::LANES` is at most the run's length (a slice operand holds them).
    unsafe fn load<L: IntLevel>(&self, l: L, k: usize) -> L::V;
}

impl Src for &[i8] {
    #[inline(always)]
    fn get(&self, k: usize) -> i8 {
        self[k]
    }
    #[inline(always)]
    fn one(&self) -> Option<i8> {
        None
    }
    #[inline(always)]
    unsafe fn load<L: IntLevel>(&self, l: L, k: usize) -> L::V {
        // SAFETY: the caller's contract: `k + LANES <= len`.
        unsafe { l.load_i8(self.as_ptr().add(k)) }
    }
}

impl Src for One {
    #[inline(always)]
    fn get(&self, _: usize) -> i8 {
        self.0
    }
    #[inline(always)]
    fn one(&self) -> Option<i8> {
        Some(self.0)
    }
    #[inline(always)]
    unsafe fn load<L: IntLevel>(&self, l: L, _: usize) -> L::V {
        l.splat(i32::from(self.0))
    }
}

/// One broadcast run of a kernel.
struct Run<'a, A, B> {
    a: A,
    b: B,
    y: &'a mut [i8],
    arith: Arith,
}

impl<A: Src, B: Src> IntJob for Run<'_, A, B> {
    type Output = ();

    #[inline(always)]
    fn run<L: IntLevel>(self, l: L) {
        let Run { a, b, y, arith } = self;
        let n = y.len();
        let full = n / L::LANES * L::LANES;
        match arith {
            Arith::Add(p) => rescale_run::<L, A, B, false>(l, &p, a, b, &mut y[..full]),
            Arith::Sub(p) => rescale_run::<L, A, B, true>(l, &p, a, b, &mut y[..full]),
            Arith::Mul(p) => mul_run(l, &p, a, b, &mut y[..full]),
        }
        for (k, o) in y.iter_mut().enumerate().skip(full) {
            *o = arith.elem(a.get(k), b.get(k));
        }
    }
}

/// `MultiplyByQuantizedMultiplier(x, m, shift)` on every lane.
#[inline(always)]
fn mbqm<L: IntLevel>(l: L, x: L::V, m: i32, shift: i32) -> L::V {
    let left = shift.max(0);
    let right = (-shift).max(0);
    l.rdbpot(l.srdhm(l.shl(x, left), m), right)
}

/// One input of ADD/SUB on the common scale: `(x + offset) << left_shift`, rescaled.
#[inline(always)]
fn scaled<L: IntLevel>(l: L, x: L::V, s: &InputScale, left_shift: i32) -> L::V {
    let x = l.shl(l.add(x, l.splat(s.offset)), left_shift);
    mbqm(l, x, s.multiplier, s.shift)
}

/// The full vectors of an ADD (`SUB` false) or SUB run (`y.len()` a multiple of the lanes).
#[inline(always)]
fn rescale_run<L: IntLevel, A: Src, B: Src, const SUB: bool>(
    l: L,
    p: &RescaleParams,
    a: A,
    b: B,
    y: &mut [i8],
) {
    // A broadcast operand is rescaled once, by the plan's own function (scalar code: the
    // closures hold no vector operation, which would be compiled without the level's
    // features).
    let ua = a.one().map(|v| p.input1.apply(i32::from(v), p.left_shift));
    let ub = b.one().map(|v| p.input2.apply(i32::from(v), p.left_shift));
    let (uav, ubv) = (l.splat(ua.unwrap_or(0)), l.splat(ub.unwrap_or(0)));
    let (zo, lo, hi) = (
        l.splat(p.output_offset),
        l.splat(p.act_min),
        l.splat(p.act_max),
    );
    for k in (0..y.len()).step_by(L::LANES) {
        // SAFETY: `k + LANES <= y.len()`, the run's full vectors.
        let u = if ua.is_some() {
            uav
        } else {
            scaled(l, unsafe { a.load(l, k) }, &p.input1, p.left_shift)
        };
        // SAFETY: as above.
        let v = if ub.is_some() {
            ubv
        } else {
            scaled(l, unsafe { b.load(l, k) }, &p.input2, p.left_shift)
        };
        let raw = if SUB { l.sub(u, v) } else { l.add(u, v) };
        let r = l.add(mbqm(l, raw, p.output_multiplier, p.output_shift), zo);
        let r = l.min(l.max(r, lo), hi);
        // SAFETY: `k + LANES <= y.len()`; the clamp keeps the lanes within int8.
        unsafe { l.store_i8(r, y.as_mut_ptr().add(k)) };
    }
}

/// The full vectors of a MUL run.
#[inline(always)]
fn mul_run<L: IntLevel, A: Src, B: Src>(l: L, p: &MulDivParams, a: A, b: B, y: &mut [i8]) {
    let (oa, ob) = (l.splat(p.input1_offset), l.splat(p.input2_offset));
    let (zo, lo, hi) = (
        l.splat(p.output_offset),
        l.splat(p.act_min),
        l.splat(p.act_max),
    );
    for k in (0..y.len()).step_by(L::LANES) {
        // SAFETY: `k + LANES <= y.len()`, the run's full vectors.
        let (xa, xb) = unsafe { (a.load(l, k), b.load(l, k)) };
        let prod = l.mullo(l.add(xa, oa), l.add(xb, ob));
        let r = l.add(mbqm(l, prod, p.output_multiplier, p.output_shift), zo);
        let r = l.min(l.max(r, lo), hi);
        // SAFETY: as above; the clamp keeps the lanes within int8.
        unsafe { l.store_i8(r, y.as_mut_ptr().add(k)) };
    }
}

/// The int32 lane operations of one level. Shifts and multipliers are one value for all
/// lanes; `srdhm` takes `m >= 0` and `rdbpot` and `shl` shifts in `0..=31` on the vector
/// levels (the portable one takes whatever the scalar functions take).
pub(crate) trait IntLevel: Copy {
    /// `LANES` int32 values.
    type V: Copy;
    /// Lanes of a vector.
    const LANES: usize;
    /// Every lane `x`.
    fn splat(self, x: i32) -> Self::V;
    /// The `LANES` int8 values at `p`, sign-extended.
    ///
    /// # Safety
    /// `p` is valid for reading `LANES` bytes.
    unsafe fn load_i8(self, p: *const i8) -> Self::V;
    /// Stores the lanes (each within int8) as `LANES` bytes at `p`.
    ///
    /// # Safety
    /// `p` is valid for writing `LANES` bytes.
    unsafe fn store_i8(self, v: Self::V, p: *mut i8);
    /// The `LANES` int32 values at `p`.
    ///
    /// # Safety
    /// `p` is valid for reading `LANES` values.
    #[cfg_attr(not(test), expect(dead_code, reason = "the tests read lanes"))]
    unsafe fn load_i32(self, p: *const i32) -> Self::V;
    /// Stores the lanes at `p`.
    ///
    /// # Safety
    /// `p` is valid for writing `LANES` values.
    #[cfg_attr(not(test), expect(dead_code, reason = "the tests read lanes"))]
    unsafe fn store_i32(self, v: Self::V, p: *mut i32);
    /// `a + b`, wrapping.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`, wrapping.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`, wrapping.
    fn mullo(self, a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise minimum.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise maximum.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `x * 2^n`, wrapping (`x.wrapping_mul(1 << n)`).
    fn shl(self, x: Self::V, n: i32) -> Self::V;
    /// gemmlowp's `SaturatingRoundingDoublingHighMul(x, m)` ([`qmath::srdhm`]).
    fn srdhm(self, x: Self::V, m: i32) -> Self::V;
    /// gemmlowp's `RoundingDivideByPOT(x, n)` ([`qmath::rounding_divide_by_pot`]).
    fn rdbpot(self, x: Self::V, n: i32) -> Self::V;
    /// The scalar pools' rounded average `if x > 0 { (x + count / 2) / count } else { (x -
    /// count / 2) / count }` (C's truncating division), for `count` in `1..=65536` and `|x|
    /// <= 128 * count` (an int8 window's sum). The vector levels divide in float32: `|x ±
    /// count / 2| < 2^24` is exact there, and the quotient's rounding error (at most `|q|
    /// 2^-24`) is below its distance to the next integer (at least `1 / count` when it is not
    /// one), so truncating it gives the integer quotient.
    fn div_round(self, x: Self::V, count: i32) -> Self::V;
    /// Runs `job` in a function compiled with this level's target features.
    fn dispatch<J: IntJob>(self, job: J) -> J::Output;
}

/// Work that [`IntLevel::dispatch`] runs at a level; as `level::Job`, `run` is
/// `#[inline(always)]` and calls no closures.
pub(crate) trait IntJob {
    /// What it computes.
    type Output;
    /// Runs the work with `l`'s operations.
    fn run<L: IntLevel>(self, l: L) -> Self::Output;
}

/// Plain Rust on `[i32; 4]`, the rounding steps through the scalar `qmath` functions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PortableI32;

#[inline(always)]
fn map2(a: [i32; 4], b: [i32; 4], f: impl Fn(i32, i32) -> i32) -> [i32; 4] {
    [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])]
}

impl IntLevel for PortableI32 {
    type V = [i32; 4];
    const LANES: usize = 4;
    #[inline(always)]
    fn splat(self, x: i32) -> [i32; 4] {
        [x; 4]
    }
    #[inline(always)]
    unsafe fn load_i8(self, p: *const i8) -> [i32; 4] {
        // SAFETY: the caller's contract (4 bytes readable at `p`).
        let v = unsafe { p.cast::<[i8; 4]>().read_unaligned() };
        v.map(i32::from)
    }
    #[inline(always)]
    unsafe fn store_i8(self, v: [i32; 4], p: *mut i8) {
        // SAFETY: the caller's contract (4 bytes writable at `p`).
        unsafe { p.cast::<[i8; 4]>().write_unaligned(v.map(|x| x as i8)) }
    }
    #[inline(always)]
    unsafe fn load_i32(self, p: *const i32) -> [i32; 4] {
        // SAFETY: the caller's contract (4 values readable at `p`).
        unsafe { p.cast::<[i32; 4]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store_i32(self, v: [i32; 4], p: *mut i32) {
        // SAFETY: the caller's contract (4 values writable at `p`).
        unsafe { p.cast::<[i32; 4]>().write_unaligned(v) }
    }
    #[inline(always)]
    fn add(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        map2(a, b, i32::wrapping_add)
    }
    #[inline(always)]
    fn sub(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        map2(a, b, i32::wrapping_sub)
    }
    #[inline(always)]
    fn mullo(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        map2(a, b, i32::wrapping_mul)
    }
    #[inline(always)]
    fn min(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        map2(a, b, i32::min)
    }
    #[inline(always)]
    fn max(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        map2(a, b, i32::max)
    }
    #[inline(always)]
    fn shl(self, x: [i32; 4], n: i32) -> [i32; 4] {
        x.map(|v| v.wrapping_mul(1 << n))
    }
    #[inline(always)]
    fn srdhm(self, x: [i32; 4], m: i32) -> [i32; 4] {
        x.map(|v| qmath::srdhm(v, m))
    }
    #[inline(always)]
    fn rdbpot(self, x: [i32; 4], n: i32) -> [i32; 4] {
        x.map(|v| qmath::rounding_divide_by_pot(v, n))
    }
    #[inline(always)]
    fn div_round(self, x: [i32; 4], count: i32) -> [i32; 4] {
        x.map(|v| {
            if v > 0 {
                (v + count / 2) / count
            } else {
                (v - count / 2) / count
            }
        })
    }
    #[inline(always)]
    fn dispatch<J: IntJob>(self, job: J) -> J::Output {
        job.run(self)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_levels {
    use super::{IntJob, IntLevel};
    use crate::x86::{Avx2Fma, Sse41};
    use core::arch::x86_64::*;

    impl IntLevel for Avx2Fma {
        type V = __m256i;
        const LANES: usize = 8;
        #[inline(always)]
        fn splat(self, x: i32) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe { _mm256_set1_epi32(x) }
        }
        #[inline(always)]
        unsafe fn load_i8(self, p: *const i8) -> __m256i {
            // SAFETY: the token proves AVX2; 8 bytes are readable at `p` (the contract).
            unsafe { _mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i)) }
        }
        #[inline(always)]
        unsafe fn store_i8(self, v: __m256i, p: *mut i8) {
            // SAFETY: the token proves AVX2; 8 bytes are writable at `p` (the contract).
            unsafe {
                // Within int8: the saturating packs are exact. Per 128-bit lane: v0-3 (v4-7).
                let w = _mm256_packs_epi32(v, v);
                let w = _mm256_packs_epi16(w, w);
                let lo = _mm256_castsi256_si128(w);
                let hi = _mm256_extracti128_si256::<1>(w);
                _mm_storel_epi64(p as *mut __m128i, _mm_unpacklo_epi32(lo, hi));
            }
        }
        #[inline(always)]
        unsafe fn load_i32(self, p: *const i32) -> __m256i {
            // SAFETY: the token proves AVX2; 8 values are readable at `p` (the contract).
            unsafe { _mm256_loadu_si256(p as *const __m256i) }
        }
        #[inline(always)]
        unsafe fn store_i32(self, v: __m256i, p: *mut i32) {
            // SAFETY: the token proves AVX2; 8 values are writable at `p` (the contract).
            unsafe { _mm256_storeu_si256(p as *mut __m256i, v) }
        }
        #[inline(always)]
        fn add(self, a: __m256i, b: __m256i) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe { _mm256_add_epi32(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m256i, b: __m256i) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe { _mm256_sub_epi32(a, b) }
        }
        #[inline(always)]
        fn mullo(self, a: __m256i, b: __m256i) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe { _mm256_mullo_epi32(a, b) }
        }
        #[inline(always)]
        fn min(self, a: __m256i, b: __m256i) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe { _mm256_min_epi32(a, b) }
        }
        #[inline(always)]
        fn max(self, a: __m256i, b: __m256i) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe { _mm256_max_epi32(a, b) }
        }
        #[inline(always)]
        fn shl(self, x: __m256i, n: i32) -> __m256i {
            // A logical left shift is the wrapping multiplication by 2^n (n in 0..=31).
            // SAFETY: the token proves AVX2.
            unsafe { _mm256_sll_epi32(x, _mm_cvtsi32_si128(n)) }
        }
        #[inline(always)]
        fn srdhm(self, x: __m256i, m: i32) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe {
                // `ab = x * m` in 64 bits; C's truncating `(ab + nudge) / 2^31` equals
                // `floor((ab + 2^30) / 2^31)` for either sign, whose low 32 bits are bits
                // 31..62 of `ab + 2^30`. The saturating case (`x == m == i32::MIN`) needs a
                // negative `m`, which the kernels never pass.
                let mv = _mm256_set1_epi32(m);
                let half = _mm256_set1_epi64x(1 << 30);
                let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(_mm256_mul_epi32(x, mv), half));
                let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), mv);
                let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd, half));
                _mm256_blend_epi32::<0b1010_1010>(even, odd)
            }
        }
        #[inline(always)]
        fn rdbpot(self, x: __m256i, n: i32) -> __m256i {
            let mask = ((1i64 << n) - 1) as i32;
            // SAFETY: the token proves AVX2.
            unsafe {
                let rem = _mm256_and_si256(x, _mm256_set1_epi32(mask));
                let neg = _mm256_cmpgt_epi32(_mm256_setzero_si256(), x);
                let thr = _mm256_sub_epi32(_mm256_set1_epi32(mask >> 1), neg);
                let q = _mm256_sra_epi32(x, _mm_cvtsi32_si128(n));
                _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr))
            }
        }
        #[inline(always)]
        fn div_round(self, x: __m256i, count: i32) -> __m256i {
            // SAFETY: the token proves AVX2.
            unsafe {
                let h = _mm256_set1_epi32(count / 2);
                let pos = _mm256_cmpgt_epi32(x, _mm256_setzero_si256());
                let num = _mm256_blendv_epi8(_mm256_sub_epi32(x, h), _mm256_add_epi32(x, h), pos);
                let q = _mm256_div_ps(_mm256_cvtepi32_ps(num), _mm256_set1_ps(count as f32));
                _mm256_cvttps_epi32(q)
            }
        }
        #[inline(always)]
        fn dispatch<J: IntJob>(self, job: J) -> J::Output {
            #[target_feature(enable = "avx2")]
            fn entry<J: IntJob>(l: Avx2Fma, job: J) -> J::Output {
                job.run(l)
            }
            // SAFETY: the token `self` exists only on a CPU with AVX2.
            unsafe { entry(self, job) }
        }
    }

    impl IntLevel for Sse41 {
        type V = __m128i;
        const LANES: usize = 4;
        #[inline(always)]
        fn splat(self, x: i32) -> __m128i {
            // SAFETY: SSE2 is part of x86-64.
            unsafe { _mm_set1_epi32(x) }
        }
        #[inline(always)]
        unsafe fn load_i8(self, p: *const i8) -> __m128i {
            // SAFETY: the token proves SSE4.1; 4 bytes are readable at `p` (the contract).
            unsafe { _mm_cvtepi8_epi32(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned())) }
        }
        #[inline(always)]
        unsafe fn store_i8(self, v: __m128i, p: *mut i8) {
            // SAFETY: SSE2 is part of x86-64; 4 bytes are writable at `p` (the contract).
            unsafe {
                let w = _mm_packs_epi32(v, v);
                let w = _mm_packs_epi16(w, w);
                p.cast::<i32>().write_unaligned(_mm_cvtsi128_si32(w));
            }
        }
        #[inline(always)]
        unsafe fn load_i32(self, p: *const i32) -> __m128i {
            // SAFETY: SSE2 is part of x86-64; 4 values are readable at `p` (the contract).
            unsafe { _mm_loadu_si128(p as *const __m128i) }
        }
        #[inline(always)]
        unsafe fn store_i32(self, v: __m128i, p: *mut i32) {
            // SAFETY: SSE2 is part of x86-64; 4 values are writable at `p` (the contract).
            unsafe { _mm_storeu_si128(p as *mut __m128i, v) }
        }
        #[inline(always)]
        fn add(self, a: __m128i, b: __m128i) -> __m128i {
            // SAFETY: SSE2 is part of x86-64.
            unsafe { _mm_add_epi32(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m128i, b: __m128i) -> __m128i {
            // SAFETY: SSE2 is part of x86-64.
            unsafe { _mm_sub_epi32(a, b) }
        }
        #[inline(always)]
        fn mullo(self, a: __m128i, b: __m128i) -> __m128i {
            // SAFETY: the token proves SSE4.1.
            unsafe { _mm_mullo_epi32(a, b) }
        }
        #[inline(always)]
        fn min(self, a: __m128i, b: __m128i) -> __m128i {
            // SAFETY: the token proves SSE4.1.
            unsafe { _mm_min_epi32(a, b) }
        }
        #[inline(always)]
        fn max(self, a: __m128i, b: __m128i) -> __m128i {
            // SAFETY: the token proves SSE4.1.
            unsafe { _mm_max_epi32(a, b) }
        }
        #[inline(always)]
        fn shl(self, x: __m128i, n: i32) -> __m128i {
            // SAFETY: SSE2 is part of x86-64.
            unsafe { _mm_sll_epi32(x, _mm_cvtsi32_si128(n)) }
        }
        #[inline(always)]
        fn srdhm(self, x: __m128i, m: i32) -> __m128i {
            // As the AVX2 one (`pmuldq` is SSE4.1).
            // SAFETY: the token proves SSE4.1.
            unsafe {
                let mv = _mm_set1_epi32(m);
                let half = _mm_set1_epi64x(1 << 30);
                let even = _mm_srli_epi64::<31>(_mm_add_epi64(_mm_mul_epi32(x, mv), half));
                let odd = _mm_mul_epi32(_mm_srli_epi64::<32>(x), mv);
                let odd = _mm_slli_epi64::<1>(_mm_add_epi64(odd, half));
                _mm_blend_epi16::<0b1100_1100>(even, odd)
            }
        }
        #[inline(always)]
        fn rdbpot(self, x: __m128i, n: i32) -> __m128i {
            let mask = ((1i64 << n) - 1) as i32;
            // SAFETY: SSE2 is part of x86-64.
            unsafe {
                let rem = _mm_and_si128(x, _mm_set1_epi32(mask));
                let neg = _mm_cmpgt_epi32(_mm_setzero_si128(), x);
                let thr = _mm_sub_epi32(_mm_set1_epi32(mask >> 1), neg);
                let q = _mm_sra_epi32(x, _mm_cvtsi32_si128(n));
                _mm_sub_epi32(q, _mm_cmpgt_epi32(rem, thr))
            }
        }
        #[inline(always)]
        fn div_round(self, x: __m128i, count: i32) -> __m128i {
            // SAFETY: the token proves SSE4.1 (`pblendvb`).
            unsafe {
                let h = _mm_set1_epi32(count / 2);
                let pos = _mm_cmpgt_epi32(x, _mm_setzero_si128());
                let num = _mm_blendv_epi8(_mm_sub_epi32(x, h), _mm_add_epi32(x, h), pos);
                let q = _mm_div_ps(_mm_cvtepi32_ps(num), _mm_set1_ps(count as f32));
                _mm_cvttps_epi32(q)
            }
        }
        #[inline(always)]
        fn dispatch<J: IntJob>(self, job: J) -> J::Output {
            #[target_feature(enable = "sse4.1")]
            fn entry<J: IntJob>(l: Sse41, job: J) -> J::Output {
                job.run(l)
            }
            // SAFETY: the token `self` exists only on a CPU with SSE4.1.
            unsafe { entry(self, job) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{IntJob, IntLevel, Level, mbqm};
    use crate::Isa;
    use crate::testutil::for_each_backend;
    use proptest::prelude::*;
    use tflrs_ir::{Activation, AddAttrs, DType, MulAttrs, Op, SubAttrs};
    use tflrs_kernels::scalar::qmath;
    use tflrs_kernels::testing::{Harness, TestInput};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    const ACTIVATIONS: [Activation; 4] = [
        Activation::None,
        Activation::Relu,
        Activation::ReluN1To1,
        Activation::Relu6,
    ];

    /// Operator `k` (ADD, SUB, MUL) with fused activation `act`.
    fn op(k: usize, act: Activation) -> Op<'static> {
        match k % 3 {
            0 => Op::Add(AddAttrs {
                fused_activation_function: act,
                pot_scale_int16: false,
            }),
            1 => Op::Sub(SubAttrs {
                fused_activation_function: act,
                pot_scale_int16: false,
            }),
            _ => Op::Mul(MulAttrs {
                fused_activation_function: act,
            }),
        }
    }

    /// A dimension: sizes around the vector widths (4, 8), empty and size-1 dimensions, and
    /// random ones.
    fn dim() -> impl Strategy<Value = usize> {
        prop_oneof![
            1 => Just(0usize),
            3 => Just(1usize),
            1 => Just(2usize),
            3 => prop::sample::select(vec![3usize, 4, 5, 7, 8, 9]),
            2 => prop::sample::select(vec![15usize, 16, 17, 31, 32, 33]),
            1 => 3usize..70,
        ]
    }

    /// Two input shapes broadcastable together and their broadcast: a base shape of rank 0-5,
    /// each input a suffix of it with some dimensions replaced by 1.
    fn shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
        proptest::collection::vec(dim(), 0..=5).prop_flat_map(|mut base| {
            while base.iter().product::<usize>() > 1 << 13 {
                let k = (0..base.len()).max_by_key(|&k| base[k]).unwrap();
                base[k] = 1;
            }
            let rank = base.len();
            let input = (0..=rank, proptest::collection::vec(any::<bool>(), rank));
            (Just(base), input.clone(), input).prop_map(move |(base, a, b)| {
                let keeps = |(r, ones): &(usize, Vec<bool>), ax: usize| ax >= rank - r && !ones[ax];
                let out = (rank - a.0.max(b.0)..rank)
                    .map(|ax| {
                        if keeps(&a, ax) || keeps(&b, ax) {
                            base[ax]
                        } else {
                            1
                        }
                    })
                    .collect();
                let input = |(r, ones): &(usize, Vec<bool>)| -> Vec<usize> {
                    (rank - r..rank)
                        .map(|ax| if ones[ax] { 1 } else { base[ax] })
                        .collect()
                };
                (out, input(&a), input(&b))
            })
        })
    }

    /// Zero points: both ends of int8, 0, or any.
    fn zero_point() -> impl Strategy<Value = i64> {
        prop_oneof![Just(-128i64), Just(127i64), Just(0i64), -128i64..=127]
    }

    /// One case: operator, shapes, `(scale, zero point)` of both inputs and the output, seed.
    #[derive(Debug, Clone)]
    struct Case {
        k: usize,
        act: Activation,
        shapes: (Vec<usize>, Vec<usize>, Vec<usize>),
        q: [(f32, i64); 3],
        seed: u64,
    }

    /// Scales `m * 2^e`: the inputs' within a factor 2^8 of each other (ADD/SUB rescale both
    /// to twice the larger: multipliers down to 2^-9), the output's relative to the result's
    /// range (a sum of two inputs, or their product), so that most outputs fall inside int8
    /// and some clamp; one case in six far finer (left shifts of the output multiplier).
    fn case() -> impl Strategy<Value = Case> {
        (
            0usize..3,
            prop::sample::select(ACTIVATIONS.to_vec()),
            shapes(),
            ((1.0f32..2.0, -10i32..=2), (1.0f32..2.0, -8i32..=0)),
            (1.0f32..2.0, prop_oneof![5 => -2i32..=3, 1 => -12i32..=-6]),
            (zero_point(), zero_point(), zero_point()),
            any::<u64>(),
        )
            .prop_map(
                |(k, act, shapes, ((m1, e1), (m2, d)), (mo, eo), zps, seed)| {
                    let s1 = m1 * 2f32.powi(e1);
                    let s2 = m2 * 2f32.powi(e1 + d);
                    // The result's scale: the larger input's for ADD/SUB, the product's for MUL.
                    let base = if k == 2 { s1 * s2 * 128.0 } else { s1.max(s2) };
                    let so = mo * base * 2f32.powi(eo);
                    Case {
                        k,
                        act,
                        shapes,
                        q: [(s1, zps.0), (s2, zps.1), (so, zps.2)],
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

    /// `mbqm` of every level on a slice (a multiple of 8 values).
    struct Mbqm<'a> {
        x: &'a [i32],
        m: i32,
        shift: i32,
        out: &'a mut [i32],
    }

    impl IntJob for Mbqm<'_> {
        type Output = ();
        #[inline(always)]
        fn run<L: IntLevel>(self, l: L) {
            assert!(self.x.len() == self.out.len() && self.x.len().is_multiple_of(8));
            for k in (0..self.x.len()).step_by(L::LANES) {
                // SAFETY: `k + LANES <= len` (a multiple of 8 >= LANES).
                unsafe {
                    let v = mbqm(l, l.load_i32(self.x.as_ptr().add(k)), self.m, self.shift);
                    l.store_i32(v, self.out.as_mut_ptr().add(k));
                }
            }
        }
    }

    /// The lanes' `MultiplyByQuantizedMultiplier` against the scalar one on edge values (the
    /// ends of int32, 0, +-1, powers of two and their neighbours, whose products sit on
    /// rounding ties) and random ones, for every shift a plan makes and multipliers at both
    /// ends of `[2^30, 2^31)` and 0.
    #[test]
    fn the_lanes_requantization_equals_the_scalar_one_on_every_level() {
        let mut xs: Vec<i32> = vec![i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1, 0, 1, -1];
        for e in 0..31 {
            for d in [-1i64, 0, 1] {
                for sign in [1i64, -1] {
                    xs.push((sign * ((1i64 << e) + d)) as i32);
                }
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            xs.push((seed >> 32) as i32 >> (seed % 24));
        }
        xs.truncate(xs.len() / 8 * 8);
        let mults = [
            0,
            1 << 30,
            (1 << 30) + 1,
            1_518_500_250,
            i32::MAX - 1,
            i32::MAX,
        ];
        Isa::for_each_available(|isa| {
            let level = Level::at(isa);
            let mut out = vec![0; xs.len()];
            for shift in -31..=30 {
                for m in mults {
                    level.dispatch(Mbqm {
                        x: &xs,
                        m,
                        shift,
                        out: &mut out,
                    });
                    for (&x, &y) in xs.iter().zip(&out) {
                        let want = qmath::multiply_by_quantized_multiplier(x, m, shift);
                        assert_eq!(y, want, "{isa}: x {x} m {m} shift {shift}");
                    }
                }
            }
        });
    }

    #[test]
    fn add_sub_mul_i8_equal_the_scalar_kernels_on_every_level() {
        for_each_backend(|backend, runner| {
            let spread = core::cell::Cell::new((0usize, 0usize));
            runner
                .run(&case(), |c| {
                    let op = op(c.k, c.act);
                    let (out, sa, sb) = &c.shapes;
                    let mut seed = c.seed | 1;
                    let info = |n: &str, s: &[usize], (scale, zp): (f32, i64)| {
                        TensorInfo::new(n, DType::Int8, s.to_vec()).with_quant(scale, zp)
                    };
                    let a = bytes(&mut seed, sa.iter().product());
                    let b = bytes(&mut seed, sb.iter().product());
                    let ins = vec![
                        Some(TestInput::from_slice(info("a", sa, c.q[0]), &a)),
                        Some(TestInput::from_slice(info("b", sb, c.q[1]), &b)),
                    ];
                    let outs = vec![info("y", out, c.q[2])];
                    let (name, _) = Harness::new()
                        .compare(backend, &ScalarBackend, &op, &ins, &outs)
                        .map_err(|e| TestCaseError::fail(format!("{c:?}: {e}")))?;
                    let want = format!(
                        "{}_i8__{}",
                        op.name().to_ascii_lowercase(),
                        backend.isa().name()
                    );
                    prop_assert_eq!(name, want);
                    let y = Harness::new()
                        .run_node(&ScalarBackend, &op, &mut ins.clone(), &outs)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let off = y[0].iter().filter(|&&v| v != 0x80 && v != 0x7f).count();
                    if !y[0].is_empty() {
                        let (all, inside) = spread.get();
                        let half = 2 * off >= y[0].len();
                        spread.set((all + 1, inside + usize::from(half)));
                    }
                    Ok(())
                })
                .unwrap();
            let (all, inside) = spread.get();
            // About 45% of the non-empty cases are; fail well below that.
            println!("{inside} of {all} cases with half their outputs off the int8 extremes");
            assert!(5 * inside >= all, "{inside} of {all} cases mostly clamped");
        });
    }
}

//! The lane-wise float32 operations the crate's float micro-kernels (elementwise, depthwise)
//! are written in, once per level: a [`Level`] is an ISA token (or [`Portable`]) whose methods are the level's
//! instructions, and [`Level::dispatch`] runs a [`Job`] inside a function compiled with the
//! level's target features, so that the job's generic body (inlined there) is compiled once per
//! level.
//!
//! Every operation is exactly rounded and its NaN and signed-zero behaviour is spelled out, so
//! that a kernel written in them can match the scalar kernels bit for bit: `max(a, b)` is
//! `if a > b { a } else { b }` (x86's `MAXPS`, which answers `b` when either is NaN or both are
//! zeros) and `min(a, b)` is `if a < b { a } else { b }` (`MINPS`), on every level. The one
//! operation that differs between levels is [`Level::mul_add`]: fused (one rounding) where the
//! level has FMA, so kernels that use it are compared with the scalar ones within a bound.

/// One instruction-set level of the float kernels: a vector of [`LANES`](Self::LANES)
/// float32 values and the operations on it.
pub(crate) trait Level: Copy + Send + Sync + core::fmt::Debug + 'static {
    /// A vector of `LANES` float32 values.
    type V: Copy;
    /// Lanes of a vector.
    const LANES: usize;
    /// Vectors per iteration of the micro-kernels' main loop.
    const UNROLL: usize;

    /// Every lane `x`.
    fn splat(self, x: f32) -> Self::V;
    /// The `LANES` elements at `p`.
    ///
    /// # Safety
    /// `p` is valid for reading `LANES` elements.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// Stores `v` into the `LANES` elements at `p`.
    ///
    /// # Safety
    /// `p` is valid for writing `LANES` elements.
    unsafe fn store(self, v: Self::V, p: *mut f32);
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if a > b { a } else { b }`, lane-wise.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if a < b { a } else { b }`, lane-wise.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`: fused (rounded once) on levels with FMA (AVX2), `mul` then `add` elsewhere.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `if a > b { t } else { f }`, lane-wise.
    fn select_gt(self, a: Self::V, b: Self::V, t: Self::V, f: Self::V) -> Self::V;
    /// Runs `job` in a function compiled with this level's target features.
    fn dispatch<J: Job>(self, job: J) -> J::Output;
    /// `a / b` (exactly rounded).
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a` rounded to the nearest integer, ties to even (`ROUNDPS` mode 0); NaN stays NaN.
    fn round(self, a: Self::V) -> Self::V;
    /// `2^n` for lanes `n` that hold integers in `-126..=127` (other lanes: unspecified bits,
    /// but no undefined behaviour).
    fn pow2i(self, n: Self::V) -> Self::V;
}

/// Work that [`Level::dispatch`] runs at a level. Implementations mark
/// [`run`](Self::run) `#[inline(always)]` so that it is compiled inside the level's entry, and
/// call no closures: a closure is compiled as a function of its own, without the entry's
/// target features, so the intrinsics inside it stay calls (checked in the disassembly of an
/// optimized build: no call into `core::arch` remains).
pub(crate) trait Job {
    /// What it computes.
    type Output;
    /// Runs the work with `l`'s operations.
    fn run<L: Level>(self, l: L) -> Self::Output;
}

/// Plain Rust on arrays of 4 lanes: loops of 4 that the compiler maps onto the baseline ISA's
/// vectors where it can (SSE2 on x86-64, NEON on aarch64), and plain scalar code elsewhere.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

/// `[f(a[0], b[0]), ..]`.
#[inline(always)]
fn lanes2(a: [f32; 4], b: [f32; 4], f: impl Fn(f32, f32) -> f32) -> [f32; 4] {
    [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])]
}

impl Level for Portable {
    type V = [f32; 4];
    const LANES: usize = 4;
    const UNROLL: usize = 2;

    #[inline(always)]
    fn splat(self, x: f32) -> [f32; 4] {
        [x; 4]
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> [f32; 4] {
        // SAFETY: the caller's contract (4 elements readable at `p`).
        unsafe { p.cast::<[f32; 4]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, v: [f32; 4], p: *mut f32) {
        // SAFETY: the caller's contract (4 elements writable at `p`).
        unsafe { p.cast::<[f32; 4]>().write_unaligned(v) }
    }
    #[inline(always)]
    fn add(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        lanes2(a, b, |x, y| x + y)
    }
    #[inline(always)]
    fn sub(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        lanes2(a, b, |x, y| x - y)
    }
    #[inline(always)]
    fn mul(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        lanes2(a, b, |x, y| x * y)
    }
    #[inline(always)]
    fn max(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        lanes2(a, b, |x, y| if x > y { x } else { y })
    }
    #[inline(always)]
    fn min(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        lanes2(a, b, |x, y| if x < y { x } else { y })
    }
    #[inline(always)]
    fn mul_add(self, a: [f32; 4], b: [f32; 4], c: [f32; 4]) -> [f32; 4] {
        core::array::from_fn(|k| a[k] * b[k] + c[k])
    }
    #[inline(always)]
    fn select_gt(self, a: [f32; 4], b: [f32; 4], t: [f32; 4], f: [f32; 4]) -> [f32; 4] {
        core::array::from_fn(|k| if a[k] > b[k] { t[k] } else { f[k] })
    }
    #[inline(always)]
    fn dispatch<J: Job>(self, job: J) -> J::Output {
        job.run(self)
    }
    #[inline(always)]
    fn div(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        lanes2(a, b, |x, y| x / y)
    }
    #[inline(always)]
    fn round(self, a: [f32; 4]) -> [f32; 4] {
        a.map(f32::round_ties_even)
    }
    #[inline(always)]
    fn pow2i(self, n: [f32; 4]) -> [f32; 4] {
        n.map(|n| f32::from_bits(((n as i32).wrapping_add(127) as u32) << 23))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_levels {
    use super::{Job, Level};
    use crate::x86::{Avx2Fma, Sse41};
    use core::arch::x86_64::*;

    impl Level for Sse41 {
        type V = __m128;
        const LANES: usize = 4;
        const UNROLL: usize = 4;

        #[inline(always)]
        fn splat(self, x: f32) -> __m128 {
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> __m128 {
            // SAFETY: SSE is part of x86-64; 4 elements are readable at `p` (the contract).
            unsafe { _mm_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(self, v: __m128, p: *mut f32) {
            // SAFETY: SSE is part of x86-64; 4 elements are writable at `p` (the contract).
            unsafe { _mm_storeu_ps(p, v) }
        }
        #[inline(always)]
        fn add(self, a: __m128, b: __m128) -> __m128 {
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m128, b: __m128) -> __m128 {
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: __m128, b: __m128) -> __m128 {
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_mul_ps(a, b) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m128, b: __m128, c: __m128) -> __m128 {
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_add_ps(_mm_mul_ps(a, b), c) }
        }
        #[inline(always)]
        fn max(self, a: __m128, b: __m128) -> __m128 {
            // MAXPS: `a > b ? a : b`.
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_max_ps(a, b) }
        }
        #[inline(always)]
        fn min(self, a: __m128, b: __m128) -> __m128 {
            // MINPS: `a < b ? a : b`.
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_min_ps(a, b) }
        }
        #[inline(always)]
        fn select_gt(self, a: __m128, b: __m128, t: __m128, f: __m128) -> __m128 {
            // SAFETY: the token proves SSE4.1 (BLENDVPS).
            unsafe { _mm_blendv_ps(f, t, _mm_cmpgt_ps(a, b)) }
        }
        #[inline(always)]
        fn dispatch<J: Job>(self, job: J) -> J::Output {
            #[target_feature(enable = "sse4.1")]
            fn entry<J: Job>(l: Sse41, job: J) -> J::Output {
                job.run(l)
            }
            // SAFETY: the token `self` exists only on a CPU with SSE4.1.
            unsafe { entry(self, job) }
        }
        #[inline(always)]
        fn div(self, a: __m128, b: __m128) -> __m128 {
            // SAFETY: SSE is part of x86-64 (and the token proves SSE4.1).
            unsafe { _mm_div_ps(a, b) }
        }
        #[inline(always)]
        fn round(self, a: __m128) -> __m128 {
            // SAFETY: the token proves SSE4.1 (ROUNDPS).
            unsafe { _mm_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
        }
        #[inline(always)]
        fn pow2i(self, n: __m128) -> __m128 {
            // SAFETY: SSE2 is part of x86-64.
            unsafe {
                let e = _mm_add_epi32(_mm_cvtps_epi32(n), _mm_set1_epi32(127));
                _mm_castsi128_ps(_mm_slli_epi32::<23>(e))
            }
        }
    }

    impl Level for Avx2Fma {
        type V = __m256;
        const LANES: usize = 8;
        const UNROLL: usize = 4;

        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            // SAFETY: the token proves AVX.
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> __m256 {
            // SAFETY: the token proves AVX; 8 elements are readable at `p` (the contract).
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(self, v: __m256, p: *mut f32) {
            // SAFETY: the token proves AVX; 8 elements are writable at `p` (the contract).
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: the token proves AVX.
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: the token proves AVX.
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: the token proves AVX.
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: the token proves FMA.
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn max(self, a: __m256, b: __m256) -> __m256 {
            // VMAXPS: `a > b ? a : b`.
            // SAFETY: the token proves AVX.
            unsafe { _mm256_max_ps(a, b) }
        }
        #[inline(always)]
        fn min(self, a: __m256, b: __m256) -> __m256 {
            // VMINPS: `a < b ? a : b`.
            // SAFETY: the token proves AVX.
            unsafe { _mm256_min_ps(a, b) }
        }
        #[inline(always)]
        fn select_gt(self, a: __m256, b: __m256, t: __m256, f: __m256) -> __m256 {
            // Ordered, quiet `>`: false when either is NaN, as Rust's `>`.
            // SAFETY: the token proves AVX.
            unsafe { _mm256_blendv_ps(f, t, _mm256_cmp_ps::<_CMP_GT_OQ>(a, b)) }
        }
        #[inline(always)]
        fn dispatch<J: Job>(self, job: J) -> J::Output {
            #[target_feature(enable = "avx2,fma")]
            fn entry<J: Job>(l: Avx2Fma, job: J) -> J::Output {
                job.run(l)
            }
            // SAFETY: the token `self` exists only on a CPU with AVX2 and FMA.
            unsafe { entry(self, job) }
        }
        #[inline(always)]
        fn div(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: the token proves AVX.
            unsafe { _mm256_div_ps(a, b) }
        }
        #[inline(always)]
        fn round(self, a: __m256) -> __m256 {
            // SAFETY: the token proves AVX (VROUNDPS).
            unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
        }
        #[inline(always)]
        fn pow2i(self, n: __m256) -> __m256 {
            // SAFETY: the token proves AVX2.
            unsafe {
                let e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e))
            }
        }
    }
}

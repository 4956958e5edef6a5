//! The f32 GEMM: micro-kernels per level over full tiles, and the wrapper that packs and owns
//! the tails.
//!
//! [`PackedGemm`] computes `C[M x N] = clamp(A[M x K] * B[K x N] + bias, lo, hi)`. `B` (the
//! weights) is packed once, at preparation, into `NR`-wide column panels: panel `p` holds
//! `B[k][p*NR .. p*NR + NR]` for `k = 0..K`, one row of `NR` after another, the last panel
//! padded with zeros. `A` is read in place, row `i` at `a[i * lda ..][..K]`, and `C` written in
//! place, row `i` at `c[i * ldc ..][..N]`; nothing outside those rows' first `K` (`N`) elements
//! is read (written). [`PackedGemm::run_indirect`] is the same product with the rows of `A`
//! gathered through an [`Indirection`] buffer (an IGEMM: each row is a list of taps, each tap
//! `kc` values at an offset of the input, or zeros), over the same packing and micro-kernels.
//!
//! Two levels (STYLE.md 4):
//! - micro-kernels compute one full `MR x NR` tile: AVX2+FMA 6x16 (12 ymm accumulators) and
//!   6x8 (for layers with `N <= 8`), SSE4.1 4x8 (mul + add, no FMA), and a portable 4x8 in
//!   plain Rust over the same packing. Each accumulates over `k` in order, one accumulator per
//!   output, then adds the bias and clamps (`max(lo, x)` then `min(hi, x)`, which is
//!   `qmath::clamp_f32` exactly, NaN included);
//! - the wrapper walks row blocks, column panels and row tiles, and sends partial tiles (the
//!   `M` and `N` tails) through a small tile buffer on the stack, so that no micro-kernel ever
//!   writes past `C`'s rows. Missing rows of a partial `M` tile read the tile's last valid row
//!   again (their results are dropped).
//!
//! The portable kernel rounds exactly as the scalar reference does (products rounded, then
//! added in `k` order, bias last); SSE4.1 too; AVX2 fuses each multiply-add (one rounding
//! instead of two), so its results differ from the scalar ones in the last bits (see the tests'
//! bound).

use crate::isa::Isa;
#[cfg(target_arch = "x86_64")]
use crate::isa::x86;
use crate::split;
use core::ops::Range;
use tflrs_kernels::Parallel;
use tflrs_kernels::scalar::qmath::clamp_f32;

/// Where a tile's `MR` rows of `A` come from.
#[derive(Clone, Copy)]
enum Rows<'t, const MR: usize> {
    /// Row `r` is `a[r]` (at least `k` long): a matrix read in place.
    Direct([&'t [f32]; MR]),
    /// Row `r` is, for each tap `t`, the `kc` values of `x` from `offs[r][t]` (or `kc` zeros
    /// for [`Indirection::PADDING`]): a convolution's windows read in place.
    Indirect {
        x: &'t [f32],
        zero: &'t [f32],
        offs: [&'t [u32]; MR],
        kc: usize,
    },
}

impl<'t, const MR: usize> Rows<'t, MR> {
    /// `(taps, values per tap)` for `k` values in all.
    #[inline(always)]
    fn shape(&self, k: usize) -> (usize, usize) {
        match self {
            Rows::Direct(_) => (1, k),
            Rows::Indirect { offs, kc, .. } => (offs[0].len(), *kc),
        }
    }

    /// The rows' values for tap `t`, each (at least) as long as a tap; bounds-checked, so that
    /// the micro-kernels may read a tap's values unchecked.
    #[inline(always)]
    fn tap(&self, t: usize) -> [&'t [f32]; MR] {
        match *self {
            Rows::Direct(a) => a,
            Rows::Indirect { x, zero, offs, kc } => core::array::from_fn(|r| {
                let o = offs[r][t];
                if o == Indirection::PADDING {
                    &zero[..kc]
                } else {
                    &x[o as usize..][..kc]
                }
            }),
        }
    }
}

/// A micro-kernel's view of one tile: `MR` rows of `A` (`k` values each), the panel of `B`
/// (`k * NR`), the tile's bias, and `C` from the tile's first element (rows `ldc` apart, at
/// least `(MR - 1) * ldc + NR` long).
struct Tile<'t, const MR: usize, const NR: usize> {
    k: usize,
    rows: Rows<'t, MR>,
    b: &'t [f32],
    bias: &'t [f32; NR],
    lo: f32,
    hi: f32,
}

impl<const MR: usize, const NR: usize> Tile<'_, MR, NR> {
    /// Panics unless the slices are as long as the micro-kernels read and write: `B` and `C`
    /// here, `A` per tap in [`Rows::tap`]. After this, the unchecked accesses of the SIMD
    /// micro-kernels stay inside them.
    #[inline]
    fn check(&self, c: &[f32], ldc: usize) {
        match &self.rows {
            Rows::Direct(a) => assert!(a.iter().all(|r| r.len() >= self.k)),
            Rows::Indirect { offs, kc, .. } => {
                let taps = offs[0].len();
                assert!(taps * kc == self.k && offs.iter().all(|o| o.len() == taps));
            }
        }
        assert!(self.b.len() >= self.k * NR);
        assert!(ldc >= NR && c.len() >= (MR - 1) * ldc + NR);
    }
}

/// The portable micro-kernel: plain Rust (the compiler vectorizes the `NR` loop).
fn portable<const MR: usize, const NR: usize>(t: &Tile<'_, MR, NR>, c: &mut [f32], ldc: usize) {
    t.check(c, ldc);
    let mut acc = [[0.0f32; NR]; MR];
    let (taps, kc) = t.rows.shape(t.k);
    let mut panel = t.b.chunks_exact(NR);
    for tap in 0..taps {
        let a = t.rows.tap(tap);
        for (p, bk) in panel.by_ref().take(kc).enumerate() {
            for (acc_r, a_r) in acc.iter_mut().zip(&a) {
                let av = a_r[p];
                for (o, &bv) in acc_r.iter_mut().zip(bk) {
                    *o += av * bv;
                }
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let row = &mut c[r * ldc..][..NR];
        for ((o, &v), &bv) in row.iter_mut().zip(acc_r).zip(t.bias) {
            *o = clamp_f32(v + bv, t.lo, t.hi);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_kernels {
    use super::Tile;
    use crate::isa::x86::{Avx2Fma, Sse41};
    use core::arch::x86_64::*;

    /// AVX2+FMA, `MR` rows by `V` ymm vectors (`NR = 8 * V`): `MR * V` accumulators.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_body<const MR: usize, const NR: usize, const V: usize>(
        t: &Tile<'_, MR, NR>,
        c: *mut f32,
        ldc: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); V]; MR];
        let (taps, kc) = t.rows.shape(t.k);
        let mut bp = t.b.as_ptr();
        for tap in 0..taps {
            let ap: [*const f32; MR] = t.rows.tap(tap).map(|a| a.as_ptr());
            for p in 0..kc {
                // SAFETY: `Tile::check` ensured `b` holds `k = taps * kc` values per column, and
                // `Rows::tap` gives `kc` values per row.
                unsafe {
                    let bv: [__m256; V] = core::array::from_fn(|v| _mm256_loadu_ps(bp.add(8 * v)));
                    for r in 0..MR {
                        let av = _mm256_broadcast_ss(&*ap[r].add(p));
                        for v in 0..V {
                            acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
                        }
                    }
                    bp = bp.add(NR);
                }
            }
        }
        let lo = _mm256_set1_ps(t.lo);
        let hi = _mm256_set1_ps(t.hi);
        // SAFETY: `bias` has NR values; `Tile::check` ensured `c` holds `MR` rows of `NR`,
        // `ldc` apart.
        unsafe {
            let bias: [__m256; V] =
                core::array::from_fn(|v| _mm256_loadu_ps(t.bias.as_ptr().add(8 * v)));
            for (r, acc_r) in acc.iter().enumerate() {
                for v in 0..V {
                    let x = _mm256_add_ps(acc_r[v], bias[v]);
                    // `max(lo, x)`, then `min(hi, x)`: the second operand is returned for NaN,
                    // as `clamp_f32` keeps NaN.
                    let x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
                    _mm256_storeu_ps(c.add(r * ldc + 8 * v), x);
                }
            }
        }
    }

    /// SSE4.1, `MR` rows by `V` xmm vectors (`NR = 4 * V`), multiply then add.
    #[target_feature(enable = "sse4.1")]
    unsafe fn sse41_body<const MR: usize, const NR: usize, const V: usize>(
        t: &Tile<'_, MR, NR>,
        c: *mut f32,
        ldc: usize,
    ) {
        let mut acc = [[_mm_setzero_ps(); V]; MR];
        let (taps, kc) = t.rows.shape(t.k);
        let mut bp = t.b.as_ptr();
        for tap in 0..taps {
            let ap: [*const f32; MR] = t.rows.tap(tap).map(|a| a.as_ptr());
            for p in 0..kc {
                // SAFETY: as in `avx2_body`.
                unsafe {
                    let bv: [__m128; V] = core::array::from_fn(|v| _mm_loadu_ps(bp.add(4 * v)));
                    for r in 0..MR {
                        let av = _mm_set1_ps(*ap[r].add(p));
                        for v in 0..V {
                            acc[r][v] = _mm_add_ps(acc[r][v], _mm_mul_ps(av, bv[v]));
                        }
                    }
                    bp = bp.add(NR);
                }
            }
        }
        let lo = _mm_set1_ps(t.lo);
        let hi = _mm_set1_ps(t.hi);
        // SAFETY: as in `avx2_body`.
        unsafe {
            let bias: [__m128; V] =
                core::array::from_fn(|v| _mm_loadu_ps(t.bias.as_ptr().add(4 * v)));
            for (r, acc_r) in acc.iter().enumerate() {
                for v in 0..V {
                    let x = _mm_add_ps(acc_r[v], bias[v]);
                    let x = _mm_min_ps(hi, _mm_max_ps(lo, x));
                    _mm_storeu_ps(c.add(r * ldc + 4 * v), x);
                }
            }
        }
    }

    /// AVX2+FMA 6x16.
    pub(super) fn avx2_6x16(_: Avx2Fma, t: &Tile<'_, 6, 16>, c: &mut [f32], ldc: usize) {
        t.check(c, ldc);
        // SAFETY: the token proves AVX2 and FMA; `check` bounds every access.
        unsafe { avx2_body::<6, 16, 2>(t, c.as_mut_ptr(), ldc) }
    }

    /// AVX2+FMA 6x8.
    pub(super) fn avx2_6x8(_: Avx2Fma, t: &Tile<'_, 6, 8>, c: &mut [f32], ldc: usize) {
        t.check(c, ldc);
        // SAFETY: the token proves AVX2 and FMA; `check` bounds every access.
        unsafe { avx2_body::<6, 8, 1>(t, c.as_mut_ptr(), ldc) }
    }

    /// SSE4.1 4x8.
    pub(super) fn sse41_4x8(_: Sse41, t: &Tile<'_, 4, 8>, c: &mut [f32], ldc: usize) {
        t.check(c, ldc);
        // SAFETY: the token proves SSE4.1; `check` bounds every access.
        unsafe { sse41_body::<4, 8, 2>(t, c.as_mut_ptr(), ldc) }
    }
}

/// A micro-kernel, with the token of its level.
#[derive(Debug, Clone, Copy)]
pub enum MicroKernel {
    /// Plain Rust 4x8.
    Portable4x8,
    /// SSE4.1 4x8.
    #[cfg(target_arch = "x86_64")]
    Sse41_4x8(x86::Sse41),
    /// AVX2+FMA 6x8.
    #[cfg(target_arch = "x86_64")]
    Avx2_6x8(x86::Avx2Fma),
    /// AVX2+FMA 6x16.
    #[cfg(target_arch = "x86_64")]
    Avx2_6x16(x86::Avx2Fma),
}

impl MicroKernel {
    /// The micro-kernel for `n` output columns at `isa` (the best level at or below it that
    /// has one): AVX2 6x8 for `n <= 8` (6x16 would waste half of each tile), else 6x16.
    pub fn choose(isa: Isa, n: usize) -> MicroKernel {
        #[cfg(target_arch = "x86_64")]
        {
            if isa >= Isa::Avx2Fma
                && let Some(t) = x86::Avx2Fma::new()
            {
                return if n <= 8 {
                    MicroKernel::Avx2_6x8(t)
                } else {
                    MicroKernel::Avx2_6x16(t)
                };
            }
            if isa >= Isa::Sse41
                && let Some(t) = x86::Sse41::new()
            {
                return MicroKernel::Sse41_4x8(t);
            }
        }
        let _ = (isa, n);
        MicroKernel::Portable4x8
    }

    /// Every micro-kernel of `isa` itself (none above it), for tests.
    pub fn all_at(isa: Isa) -> Vec<MicroKernel> {
        match isa {
            Isa::Portable => vec![MicroKernel::Portable4x8],
            #[cfg(target_arch = "x86_64")]
            Isa::Sse41 => x86::Sse41::new()
                .map(MicroKernel::Sse41_4x8)
                .into_iter()
                .collect(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => x86::Avx2Fma::new()
                .into_iter()
                .flat_map(|t| [MicroKernel::Avx2_6x16(t), MicroKernel::Avx2_6x8(t)])
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Rows of a tile.
    pub fn mr(self) -> usize {
        match self {
            MicroKernel::Portable4x8 => 4,
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Sse41_4x8(_) => 4,
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_6x8(_) | MicroKernel::Avx2_6x16(_) => 6,
        }
    }

    /// Columns of a tile (the width of a packed panel).
    pub fn nr(self) -> usize {
        match self {
            MicroKernel::Portable4x8 => 8,
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Sse41_4x8(_) | MicroKernel::Avx2_6x8(_) => 8,
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_6x16(_) => 16,
        }
    }

    /// `{isa}_{MR}x{NR}`, the tail of the names of kernels built on it (`avx2_6x16` in
    /// `fully_connected_f32__avx2_6x16`).
    pub fn name(self) -> &'static str {
        match self {
            MicroKernel::Portable4x8 => "portable_4x8",
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Sse41_4x8(_) => "sse41_4x8",
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_6x8(_) => "avx2_6x8",
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_6x16(_) => "avx2_6x16",
        }
    }
}

/// Rows of `A` per block: the block's rows stay in cache while every panel of `B` passes.
const BLOCK_TILES: usize = 8;

/// `B` packed for one micro-kernel, and the GEMM over it (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct PackedGemm {
    uk: MicroKernel,
    k: usize,
    n: usize,
    /// `n.div_ceil(NR)` panels of `k * NR` values.
    panels: Vec<f32>,
}

impl PackedGemm {
    /// Packs `B[K x N]`, element `(kk, j)` at `b[kk * k_stride + j * n_stride]`, for the
    /// micro-kernel [`MicroKernel::choose`] picks at `isa`. (Weights stored `[N x K]`, as
    /// FULLY_CONNECTED's and CONV_2D's are, pack with `k_stride = 1, n_stride = K`.)
    pub fn new(isa: Isa, k: usize, n: usize, b: &[f32], k_stride: usize, n_stride: usize) -> Self {
        Self::with_kernel(MicroKernel::choose(isa, n), k, n, b, k_stride, n_stride)
    }

    /// [`new`](Self::new) for a given micro-kernel.
    pub fn with_kernel(
        uk: MicroKernel,
        k: usize,
        n: usize,
        b: &[f32],
        k_stride: usize,
        n_stride: usize,
    ) -> Self {
        let mut g = Self::unpacked(uk, k, n);
        g.pack(b, k_stride, n_stride);
        g
    }

    /// The GEMM of `K x N` weights that are not known yet: zero panels, to be filled by
    /// [`pack`](Self::pack) (for weights computed at run time; packing then allocates
    /// nothing).
    pub fn unpacked(uk: MicroKernel, k: usize, n: usize) -> Self {
        let panels = vec![0.0f32; n.div_ceil(uk.nr()) * k * uk.nr()];
        Self { uk, k, n, panels }
    }

    /// Packs `B[K x N]`, element `(kk, j)` at `b[kk * k_stride + j * n_stride]`, over the
    /// previous weights. Panics when `b` is too short.
    pub fn pack(&mut self, b: &[f32], k_stride: usize, n_stride: usize) {
        let (k, n, nr) = (self.k, self.n, self.uk.nr());
        if k == 0 || n == 0 {
            return;
        }
        assert!(
            b.len() > (k - 1) * k_stride + (n - 1) * n_stride,
            "B is too short"
        );
        for (p, panel) in self.panels.chunks_exact_mut(k * nr).enumerate() {
            for (kk, row) in panel.chunks_exact_mut(nr).enumerate() {
                for (jj, v) in row.iter_mut().enumerate() {
                    let j = p * nr + jj;
                    if j < n {
                        *v = b[kk * k_stride + j * n_stride];
                    }
                }
            }
        }
    }

    /// The micro-kernel.
    pub fn kernel(&self) -> MicroKernel {
        self.uk
    }

    /// `K`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// `N`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `C = clamp(A * B + bias, lo, hi)` for `m` rows (see the [module docs](self) for the
    /// strides); `bias` has at least `N` values. Panics when `a` or `c` is too short for `m`
    /// rows; does nothing for `m == 0` or `N == 0`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        m: usize,
        a: &[f32],
        lda: usize,
        bias: Option<&[f32]>,
        range: (f32, f32),
        c: &mut [f32],
        ldc: usize,
    ) {
        if m > 0 {
            assert!(
                lda >= self.k && a.len() >= (m - 1) * lda + self.k,
                "A is too short"
            );
        }
        self.dispatch(m, Source::Strided { a, lda }, bias, range, c, ldc);
    }

    /// The same over the rows an [`Indirection`] gathers from `x` (an IGEMM): row `i` of `A`
    /// is, tap after tap, the `kc` values at each of its offsets. Panics unless the
    /// indirection's taps times `kc` are `K` and `x` holds every offset's values.
    pub fn run_indirect(
        &self,
        ind: &Indirection,
        x: &[f32],
        bias: Option<&[f32]>,
        range: (f32, f32),
        c: &mut [f32],
        ldc: usize,
    ) {
        assert!(ind.taps * ind.kc == self.k, "indirection does not match K");
        assert!(
            x.len() >= ind.min_len,
            "input is too short for the indirection"
        );
        self.dispatch(ind.rows, Source::Indirect { ind, x }, bias, range, c, ldc);
    }

    /// [`run`](Self::run) split over `parallel`'s threads (serially without one, or for less
    /// work than [`crate::split::MIN_PARALLEL_MACS`]). Every output is computed as `run`
    /// computes it, so `C` is the same bit for bit whatever the threads.
    #[allow(clippy::too_many_arguments)]
    pub fn run_on(
        &self,
        parallel: Option<&dyn Parallel>,
        m: usize,
        a: &[f32],
        lda: usize,
        bias: Option<&[f32]>,
        range: (f32, f32),
        c: &mut [f32],
        ldc: usize,
    ) {
        if m > 0 {
            assert!(
                lda >= self.k && a.len() >= (m - 1) * lda + self.k,
                "A is too short"
            );
        }
        self.dispatch_on(parallel, m, Source::Strided { a, lda }, bias, range, c, ldc);
    }

    /// [`run_indirect`](Self::run_indirect) split over `parallel`'s threads (see
    /// [`run_on`](Self::run_on)).
    #[allow(clippy::too_many_arguments)]
    pub fn run_indirect_on(
        &self,
        parallel: Option<&dyn Parallel>,
        ind: &Indirection,
        x: &[f32],
        bias: Option<&[f32]>,
        range: (f32, f32),
        c: &mut [f32],
        ldc: usize,
    ) {
        assert!(ind.taps * ind.kc == self.k, "indirection does not match K");
        assert!(
            x.len() >= ind.min_len,
            "input is too short for the indirection"
        );
        let src = Source::Indirect { ind, x };
        self.dispatch_on(parallel, ind.rows, src, bias, range, c, ldc);
    }

    /// Splits the tiles over `parallel` (2-D, see [`crate::split`]): a task that owns whole
    /// rows writes them in place, one that owns some of the columns writes its tiles through
    /// the stack tile buffer.
    #[allow(clippy::too_many_arguments)]
    fn dispatch_on(
        &self,
        parallel: Option<&dyn Parallel>,
        m: usize,
        src: Source<'_>,
        bias: Option<&[f32]>,
        range: (f32, f32),
        c: &mut [f32],
        ldc: usize,
    ) {
        let macs = m.saturating_mul(self.n).saturating_mul(self.k);
        let Some(p) = split::threads_for(parallel, macs) else {
            return self.dispatch(m, src, bias, range, c, ldc);
        };
        if m == 0 || self.n == 0 {
            return;
        }
        let n = self.n;
        assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "C is too short");
        if let Some(b) = bias {
            assert!(b.len() >= n, "bias is too short");
        }
        let g = Grid {
            src,
            bias,
            lo: range.0,
            hi: range.1,
        };
        let (mr, nr) = (self.uk.mr(), self.uk.nr());
        let grid = split::Grid::new(m.div_ceil(mr), n.div_ceil(nr), p.threads());
        let out = split::Shared::new(c);
        p.for_each(grid.tasks(), &|t, _| {
            let (tiles, panels) = grid.task(t);
            let rows = tiles.start * mr..(tiles.end * mr).min(m);
            if rows.is_empty() || panels.is_empty() {
                return;
            }
            let out = if grid.cols == 1 {
                // Whole rows: `rows.start * ldc ..` up to the last row's `n` values, which
                // no other task's rows reach.
                let len = (rows.end - 1 - rows.start) * ldc + n;
                // SAFETY: the row groups are disjoint, so these slices are.
                Out::Rows(unsafe { out.slice(rows.start * ldc, len) }, rows.start)
            } else {
                Out::Shared(out)
            };
            self.part(&g, rows, panels, out, ldc);
        });
    }

    fn dispatch(
        &self,
        m: usize,
        src: Source<'_>,
        bias: Option<&[f32]>,
        (lo, hi): (f32, f32),
        c: &mut [f32],
        ldc: usize,
    ) {
        if m == 0 || self.n == 0 {
            return;
        }
        let n = self.n;
        assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "C is too short");
        if let Some(b) = bias {
            assert!(b.len() >= n, "bias is too short");
        }
        let g = Grid { src, bias, lo, hi };
        let panels = n.div_ceil(self.uk.nr());
        self.part(&g, 0..m, 0..panels, Out::Rows(c, 0), ldc);
    }

    /// Rows `rows` by panels `panels` of the product, with the micro-kernel.
    fn part(&self, g: &Grid<'_>, rows: Range<usize>, panels: Range<usize>, c: Out<'_>, ldc: usize) {
        match self.uk {
            MicroKernel::Portable4x8 => {
                self.tiles::<4, 8>(g, rows, panels, c, ldc, portable::<4, 8>)
            }
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Sse41_4x8(tok) => {
                self.tiles::<4, 8>(g, rows, panels, c, ldc, |t, c, ldc| {
                    x86_kernels::sse41_4x8(tok, t, c, ldc)
                })
            }
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_6x8(tok) => {
                self.tiles::<6, 8>(g, rows, panels, c, ldc, |t, c, ldc| {
                    x86_kernels::avx2_6x8(tok, t, c, ldc)
                })
            }
            #[cfg(target_arch = "x86_64")]
            MicroKernel::Avx2_6x16(tok) => {
                self.tiles::<6, 16>(g, rows, panels, c, ldc, |t, c, ldc| {
                    x86_kernels::avx2_6x16(tok, t, c, ldc)
                })
            }
        }
    }

    /// The walk over the tiles of rows `rows` (starting at a multiple of `MR`) and panels
    /// `panels`, for one micro-kernel `uk`.
    #[inline(always)]
    fn tiles<const MR: usize, const NR: usize>(
        &self,
        g: &Grid<'_>,
        rows_of: Range<usize>,
        panels: Range<usize>,
        mut out: Out<'_>,
        ldc: usize,
        uk: impl Fn(&Tile<'_, MR, NR>, &mut [f32], usize),
    ) {
        let (k, n) = (self.k, self.n);
        let rows = |i: [usize; MR]| match g.src {
            Source::Strided { a, lda } => Rows::Direct(i.map(|i| &a[i * lda..][..k])),
            Source::Indirect { ind, x } => Rows::Indirect {
                x,
                zero: &ind.zero,
                offs: i.map(|i| &ind.offsets[i * ind.taps..][..ind.taps]),
                kc: ind.kc,
            },
        };
        let block = MR * BLOCK_TILES;
        let m = rows_of.end;
        let panel_len = (k * NR).max(1);
        for m0 in rows_of.step_by(block) {
            let m1 = (m0 + block).min(m);
            for p in panels.clone() {
                let b = &self.panels[p * panel_len..][..panel_len];
                let n0 = p * NR;
                let nw = NR.min(n - n0);
                let mut bias = [0.0f32; NR];
                if let Some(src) = g.bias {
                    bias[..nw].copy_from_slice(&src[n0..n0 + nw]);
                }
                for i0 in (m0..m1).step_by(MR) {
                    let mh = MR.min(m1 - i0);
                    let t = Tile {
                        k,
                        rows: rows(core::array::from_fn(|r| i0 + r.min(mh - 1))),
                        b: &b[..k * NR],
                        bias: &bias,
                        lo: g.lo,
                        hi: g.hi,
                    };
                    match &mut out {
                        Out::Rows(c, first) if mh == MR && nw == NR => {
                            uk(&t, &mut c[(i0 - *first) * ldc + n0..], ldc);
                        }
                        Out::Rows(c, first) => {
                            let mut buf = [[0.0f32; NR]; MR];
                            uk(&t, buf.as_flattened_mut(), NR);
                            for (r, src) in buf.iter().take(mh).enumerate() {
                                c[(i0 + r - *first) * ldc + n0..][..nw].copy_from_slice(&src[..nw]);
                            }
                        }
                        Out::Shared(c) => {
                            let mut buf = [[0.0f32; NR]; MR];
                            uk(&t, buf.as_flattened_mut(), NR);
                            for (r, src) in buf.iter().take(mh).enumerate() {
                                // SAFETY: this tile's outputs belong to this task only.
                                unsafe { c.slice((i0 + r) * ldc + n0, nw) }
                                    .copy_from_slice(&src[..nw]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An indirection buffer: for each of `rows` rows of `A` and each of its `taps`, the offset in
/// the input of the tap's `kc` values, or [`PADDING`](Self::PADDING) for `kc` zeros. Offsets
/// are relative to the input, so the buffer survives the input moving between runs.
#[derive(Debug, Clone)]
pub struct Indirection {
    rows: usize,
    taps: usize,
    kc: usize,
    /// `rows * taps` offsets.
    offsets: Vec<u32>,
    /// `kc` zeros, read for padding taps.
    zero: Vec<f32>,
    /// The input length every offset's values fit in.
    min_len: usize,
}

impl Indirection {
    /// The offset of a tap that reads zeros.
    pub const PADDING: u32 = u32::MAX;

    /// The buffer for `rows` rows of `taps` taps of `kc` values; `offset(row, tap)` is the
    /// tap's offset in the input, `None` for padding. `None` when an offset does not fit in a
    /// `u32` below [`PADDING`](Self::PADDING).
    pub fn new(
        rows: usize,
        taps: usize,
        kc: usize,
        offset: impl Fn(usize, usize) -> Option<usize>,
    ) -> Option<Self> {
        let mut offsets = Vec::with_capacity(rows * taps);
        let mut min_len = 0;
        for r in 0..rows {
            for t in 0..taps {
                offsets.push(match offset(r, t) {
                    None => Self::PADDING,
                    Some(o) => {
                        min_len = min_len.max(o + kc);
                        u32::try_from(o).ok().filter(|&o| o != Self::PADDING)?
                    }
                });
            }
        }
        Some(Self {
            rows,
            taps,
            kc,
            offsets,
            zero: vec![0.0; kc],
            min_len,
        })
    }

    /// Rows (`M`).
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Where the rows of `A` come from.
#[derive(Clone, Copy)]
enum Source<'g> {
    /// Row `i` at `a[i * lda..]`.
    Strided { a: &'g [f32], lda: usize },
    /// Rows gathered through an indirection buffer.
    Indirect { ind: &'g Indirection, x: &'g [f32] },
}

/// Where a walk writes `C`.
enum Out<'c> {
    /// Rows from the given one on, in place (row `i` at `(i - first) * ldc`).
    Rows(&'c mut [f32], usize),
    /// All of `C`, shared with other tasks that write other tiles.
    Shared(split::Shared<f32>),
}

/// The run-time operands of [`PackedGemm::run`].
struct Grid<'g> {
    src: Source<'g>,
    bias: Option<&'g [f32]>,
    lo: f32,
    hi: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), values in [-1, 1).
    fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Bound on |simd - exact| for one output (|exact| computed in f64): every order of
    /// summation of `K` products and a bias, with or without fused multiply-adds, is within
    /// `gamma(K + 1) * (sum |a_k b_k| + |bias|)` of the exact value (Higham, Accuracy and
    /// Stability, 3.1; u = 2^-24, gamma(n) = n u / (1 - n u)), plus `K + 1` times the
    /// underflow unit 2^-149 for subnormal products. Clamping does not increase the distance.
    fn bound(k: usize, sum_abs: f64) -> f64 {
        let u = f64::from(f32::EPSILON) / 2.0;
        let n = (k + 1) as f64;
        n * u / (1.0 - n * u) * sum_abs + n * 2f64.powi(-149)
    }

    #[allow(clippy::too_many_arguments)]
    fn check(uk: MicroKernel, m: usize, n: usize, k: usize, with_bias: bool, lo: f32, hi: f32) {
        let (lda, ldc) = (k + 3, n + 5);
        let a = values(1 + (m * 1000 + n * 10 + k) as u64, m.max(1) * lda);
        // B as [N x K] (weights), packed with k_stride 1, n_stride K.
        let w = values(7 + (m + n * 100 + k * 7) as u64, n * k);
        let bias = values(3, n);
        let g = PackedGemm::with_kernel(uk, k, n, &w, 1, k);
        let poison = 1234.5f32;
        let mut c = vec![poison; m * ldc + 16];
        g.run(
            m,
            &a,
            lda,
            with_bias.then_some(&bias[..]),
            (lo, hi),
            &mut c,
            ldc,
        );
        for i in 0..m {
            for j in 0..ldc {
                let got = c[i * ldc + j];
                if j >= n {
                    assert_eq!(got, poison, "{} wrote C[{i}][{j}] outside N", uk.name());
                    continue;
                }
                let (mut exact, mut sum_abs) = (0.0f64, 0.0f64);
                for p in 0..k {
                    let prod = f64::from(a[i * lda + p]) * f64::from(w[j * k + p]);
                    exact += prod;
                    sum_abs += prod.abs();
                }
                if with_bias {
                    exact += f64::from(bias[j]);
                    sum_abs += f64::from(bias[j]).abs();
                }
                let exact = exact.clamp(f64::from(lo), f64::from(hi));
                let err = (f64::from(got) - exact).abs();
                assert!(
                    err <= bound(k, sum_abs),
                    "{} m={m} n={n} k={k}: C[{i}][{j}] = {got}, exact {exact}",
                    uk.name()
                );
            }
        }
        assert!(c[m * ldc..].iter().all(|&v| v == poison), "wrote past C");
    }

    #[test]
    fn every_micro_kernel_matches_a_naive_product_at_tile_edges() {
        Isa::for_each_available(|isa| {
            for uk in MicroKernel::all_at(isa) {
                let (mr, nr) = (uk.mr(), uk.nr());
                let sizes = [1, mr - 1, mr, mr + 1, nr - 1, nr, nr + 1, 37];
                for &m in &sizes {
                    for &n in &sizes {
                        for &k in &sizes {
                            check(uk, m, n, k, (m + n + k) % 2 == 0, f32::MIN, f32::MAX);
                        }
                    }
                }
                // A clamp range, and more rows than one block.
                check(
                    uk,
                    6 * BLOCK_TILES * 2 + 5,
                    2 * nr + 3,
                    19,
                    true,
                    -0.25,
                    0.5,
                );
                check(uk, 3, 5, 1, false, 0.0, 6.0);
            }
        });
    }

    /// `run_indirect` against a naive product over the matrix the indirection describes.
    fn check_indirect(uk: MicroKernel, m: usize, n: usize, taps: usize, kc: usize) {
        let k = taps * kc;
        let x = values((m * 31 + n * 7 + k) as u64, 3 * kc + 5);
        let pick = values((m + n + taps) as u64, m * taps);
        // A quarter of the taps are padding; the others start anywhere in x.
        let off = |r: usize, t: usize| {
            let v = pick[r * taps + t];
            (v >= -0.5).then(|| (((v + 0.5) / 1.5) * (x.len() - kc) as f32) as usize)
        };
        let ind = Indirection::new(m, taps, kc, off).unwrap();
        let w = values(9, n * k);
        let bias = values(4, n);
        let g = PackedGemm::with_kernel(uk, k, n, &w, 1, k);
        let ldc = n + 2;
        let poison = -777.0f32;
        let mut c = vec![poison; m * ldc];
        g.run_indirect(&ind, &x, Some(&bias), (-1.5, 1.5), &mut c, ldc);
        for i in 0..m {
            for j in 0..n {
                let (mut exact, mut sum_abs) = (f64::from(bias[j]), f64::from(bias[j]).abs());
                for t in 0..taps {
                    let Some(o) = off(i, t) else { continue };
                    for q in 0..kc {
                        let prod = f64::from(x[o + q]) * f64::from(w[j * k + t * kc + q]);
                        exact += prod;
                        sum_abs += prod.abs();
                    }
                }
                let got = c[i * ldc + j];
                let err = (f64::from(got) - exact.clamp(-1.5, 1.5)).abs();
                assert!(
                    err <= bound(k, sum_abs),
                    "{} indirect m={m} n={n} taps={taps} kc={kc}: C[{i}][{j}] = {got}",
                    uk.name()
                );
            }
            assert!(c[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == poison));
        }
    }

    #[test]
    fn every_micro_kernel_gathers_rows_through_an_indirection_buffer() {
        Isa::for_each_available(|isa| {
            for uk in MicroKernel::all_at(isa) {
                let (mr, nr) = (uk.mr(), uk.nr());
                for m in [1, mr - 1, mr, mr + 1, 37] {
                    for n in [1, nr - 1, nr, nr + 1] {
                        for (taps, kc) in [(1, 1), (1, 7), (9, 1), (9, 3), (25, 5), (4, 17)] {
                            check_indirect(uk, m, n, taps, kc);
                        }
                    }
                }
            }
        });
    }

    #[test]
    fn indirection_offsets_must_fit_below_the_padding_marker() {
        assert!(Indirection::new(1, 1, 1, |_, _| Some(u32::MAX as usize)).is_none());
        assert!(Indirection::new(1, 2, 1, |_, t| (t == 0).then_some(5)).is_some());
    }

    /// Throughput of each micro-kernel on MobileNet-like shapes; a measurement, not a test
    /// (`cargo test --release -p tflrs-simd -- --ignored --nocapture gemm_throughput`).
    #[test]
    #[ignore]
    fn gemm_throughput() {
        let shapes = [
            (2304, 16, 8),
            (2304, 16, 16),
            (576, 96, 24),
            (2304, 16, 96),
            (144, 192, 48),
            (9, 112, 1280),
            (512, 256, 256),
        ];
        Isa::for_each_available(|isa| {
            for uk in MicroKernel::all_at(isa) {
                for (m, k, n) in shapes {
                    let a = values(1, m * k);
                    let w = values(2, n * k);
                    let g = PackedGemm::with_kernel(uk, k, n, &w, 1, k);
                    let mut c = vec![0.0f32; m * n];
                    let reps = (200_000_000 / (m * n * k)).max(3);
                    let t = std::time::Instant::now();
                    for _ in 0..reps {
                        g.run(m, &a, k, None, (f32::MIN, f32::MAX), &mut c, n);
                    }
                    let s = t.elapsed().as_secs_f64();
                    let gflops = 2.0 * (m * n * k * reps) as f64 / s / 1e9;
                    println!(
                        "{:>13} M={m:<5} K={k:<4} N={n:<5} {gflops:6.1} GFLOP/s",
                        uk.name()
                    );
                }
            }
        });
    }

    #[test]
    fn choose_picks_the_best_kernel_at_or_below_the_level() {
        assert_eq!(
            MicroKernel::choose(Isa::Portable, 100).name(),
            "portable_4x8"
        );
        let best = MicroKernel::choose(Isa::detected(), 100);
        assert!(best.nr() >= 8);
        #[cfg(target_arch = "x86_64")]
        if Isa::Avx2Fma.is_available() {
            assert_eq!(MicroKernel::choose(Isa::Avx2Fma, 8).name(), "avx2_6x8");
            assert_eq!(MicroKernel::choose(Isa::Avx512, 9).name(), "avx2_6x16");
        }
    }
}

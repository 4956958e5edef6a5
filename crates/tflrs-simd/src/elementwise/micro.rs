//! The elementwise operators as element and vector functions, and the micro-kernels over full
//! vectors; the wrappers in [the parent module](super) own the tails and the broadcast walk.
//!
//! Each operator's element function is the scalar kernel's expression
//! (`tflrs_kernels::scalar`'s binary and unary float kernels), and its vector function is the
//! same expression in [`Level`] operations, which are exactly rounded and have the same NaN and
//! signed-zero behaviour (see [`level`](super::level)): there is no FMA and no reassociation, so
//! a vector lane equals the element function bit for bit (NaN payloads aside).

use crate::level::Level;
use tflrs_kernels::scalar::qmath::clamp_f32;

/// The fused activation's clamp of ADD, SUB and MUL (LiteRT's `ActivationFunctionWithMinMax`:
/// `min(max(x, lo), hi)` with NaN passing through; without an activation the bounds are
/// `f32::MIN` and `f32::MAX`, so infinities become the largest finite values, as in the scalar
/// kernel).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clamp {
    /// Lower bound.
    pub lo: f32,
    /// Upper bound.
    pub hi: f32,
}

/// A binary float32 operator.
pub(crate) trait BinaryFn: Copy + Send + Sync + 'static {
    /// Whether the fused activation's [`Clamp`] applies (ADD, SUB, MUL).
    const CLAMPED: bool;
    /// The scalar kernel's element function, before the clamp.
    fn scalar(x: f32, y: f32) -> f32;
    /// The same on vectors.
    fn vector<L: Level>(l: L, x: L::V, y: L::V) -> L::V;
}

macro_rules! binary_fn {
    ($(#[$doc:meta])* $name:ident, clamped: $clamped:literal,
     |$x:ident, $y:ident| $scalar:expr, |$l:ident, $vx:ident, $vy:ident| $vector:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct $name;

        impl BinaryFn for $name {
            const CLAMPED: bool = $clamped;
            #[inline(always)]
            fn scalar($x: f32, $y: f32) -> f32 {
                $scalar
            }
            #[inline(always)]
            fn vector<L: Level>($l: L, $vx: L::V, $vy: L::V) -> L::V {
                $vector
            }
        }
    };
}

binary_fn!(
    /// ADD.
    Add, clamped: true, |x, y| x + y, |l, x, y| l.add(x, y)
);
binary_fn!(
    /// SUB.
    Sub, clamped: true, |x, y| x - y, |l, x, y| l.sub(x, y)
);
binary_fn!(
    /// MUL.
    Mul, clamped: true, |x, y| x * y, |l, x, y| l.mul(x, y)
);
binary_fn!(
    /// MAXIMUM: `if x > y { x } else { y }` (the second operand where either is NaN).
    Maximum, clamped: false, |x, y| if x > y { x } else { y }, |l, x, y| l.max(x, y)
);
binary_fn!(
    /// MINIMUM: `if x < y { x } else { y }`.
    Minimum, clamped: false, |x, y| if x < y { x } else { y }, |l, x, y| l.min(x, y)
);
binary_fn!(
    /// SQUARED_DIFFERENCE: `(x - y) * (x - y)`, not clamped.
    SquaredDifference, clamped: false,
    |x, y| { let d = x - y; d * d },
    |l, x, y| { let d = l.sub(x, y); l.mul(d, d) }
);

/// One element of `O` with its clamp.
#[inline(always)]
pub(crate) fn binary_elem<O: BinaryFn>(x: f32, y: f32, c: Clamp) -> f32 {
    let r = O::scalar(x, y);
    if O::CLAMPED {
        clamp_f32(r, c.lo, c.hi)
    } else {
        r
    }
}

/// A binary operand along a run, as the wrapper hands it to a level: a slice that follows the
/// output, or [`One`] broadcast value.
pub(crate) trait Source: Copy {
    /// The operand at a level.
    type At<L: Level>: Operand<L>;
    /// The operand at `l` (a broadcast value is splatted once).
    fn at<L: Level>(self, l: L) -> Self::At<L>;
}

impl<'a> Source for &'a [f32] {
    type At<L: Level> = &'a [f32];
    #[inline(always)]
    fn at<L: Level>(self, _: L) -> &'a [f32] {
        self
    }
}

/// A broadcast operand (step 0) of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct One(pub f32);

impl Source for One {
    type At<L: Level> = Splat<L::V>;
    #[inline(always)]
    fn at<L: Level>(self, l: L) -> Splat<L::V> {
        Splat {
            x: self.0,
            v: l.splat(self.0),
        }
    }
}

/// A binary operand at a level.
pub(crate) trait Operand<L: Level>: Copy {
    /// Lanes `i..i + LANES`.
    ///
    /// # Safety
    /// The operand [`covers`](Self::covers) `i + LANES`.
    unsafe fn vector(self, l: L, i: usize) -> L::V;
    /// Element `i`.
    fn elem(self, i: usize) -> f32;
    /// Whether it has elements `0..n` (a broadcast value has every index).
    fn covers(self, n: usize) -> bool;
}

impl<L: Level> Operand<L> for &[f32] {
    #[inline(always)]
    unsafe fn vector(self, l: L, i: usize) -> L::V {
        debug_assert!(i + L::LANES <= self.len());
        // SAFETY: the slice has `i + LANES` elements (the contract).
        unsafe { l.load(self.as_ptr().add(i)) }
    }
    #[inline(always)]
    fn elem(self, i: usize) -> f32 {
        self[i]
    }
    #[inline(always)]
    fn covers(self, n: usize) -> bool {
        self.len() >= n
    }
}

/// A broadcast value in every lane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Splat<V> {
    x: f32,
    v: V,
}

impl<L: Level> Operand<L> for Splat<L::V> {
    #[inline(always)]
    unsafe fn vector(self, _: L, _: usize) -> L::V {
        self.v
    }
    #[inline(always)]
    fn elem(self, _: usize) -> f32 {
        self.x
    }
    #[inline(always)]
    fn covers(self, _: usize) -> bool {
        true
    }
}

/// Lanes `i..i + LANES` of `O` on `a` and `b`, clamped between `lo` and `hi` where `O` is.
/// (A function, not a closure: a closure would be compiled without the level's features.)
///
/// # Safety
/// `a` and `b` cover `i + LANES`.
#[inline(always)]
unsafe fn binary_vector<L: Level, O: BinaryFn, A: Operand<L>, B: Operand<L>>(
    l: L,
    a: A,
    b: B,
    i: usize,
    lo: L::V,
    hi: L::V,
) -> L::V {
    // SAFETY: the caller's contract.
    let (x, y) = unsafe { (a.vector(l, i), b.vector(l, i)) };
    let r = O::vector(l, x, y);
    if O::CLAMPED {
        // `min(hi, max(lo, r))` is `clamp_f32(r, lo, hi)`: `max(lo, r)` is
        // `if lo > r { lo } else { r }` = `if r < lo { lo } else { r }`, NaN passing.
        l.min(hi, l.max(lo, r))
    } else {
        r
    }
}

/// The micro-kernel of a binary operator: `y[i] = clamp(O(a[i], b[i]))` for every `i` of `y`,
/// whose length is a multiple of `L::LANES` (each operand a slice at least as long, or a
/// [`Splat`]); `L::UNROLL` vectors an iteration (32 elements on AVX2), then one at a time.
#[inline(always)]
pub(crate) fn binary_full<L: Level, O: BinaryFn, A: Operand<L>, B: Operand<L>>(
    l: L,
    a: A,
    b: B,
    y: &mut [f32],
    c: Clamp,
) {
    let n = L::LANES;
    debug_assert_eq!(y.len() % n, 0);
    // Every vector below lies in `0..len`, which the operands cover.
    assert!(a.covers(y.len()) && b.covers(y.len()));
    let (len, yp) = (y.len(), y.as_mut_ptr());
    let (lo, hi) = (l.splat(c.lo), l.splat(c.hi));
    let block = n * L::UNROLL;
    let mut i = 0;
    while i + block <= len {
        for k in 0..L::UNROLL {
            let j = i + k * n;
            // SAFETY: `j + n <= len`: the operands cover it and `y` has it.
            unsafe { l.store(binary_vector::<L, O, A, B>(l, a, b, j, lo, hi), yp.add(j)) };
        }
        i += block;
    }
    while i + n <= len {
        // SAFETY: as above.
        unsafe { l.store(binary_vector::<L, O, A, B>(l, a, b, i, lo, hi), yp.add(i)) };
        i += n;
    }
}

/// A unary float32 operator (with its constants, LEAKY_RELU's `alpha`).
pub(crate) trait UnaryFn: Copy + Send + Sync + 'static {
    /// The scalar kernel's element function.
    fn scalar(self, x: f32) -> f32;
    /// The same on vectors.
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V;
}

/// RELU: `if x > 0 { x } else { 0 }` (NaN and -0.0 give 0.0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Relu;

impl UnaryFn for Relu {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        if x > 0.0 { x } else { 0.0 }
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        l.max(x, l.splat(0.0))
    }
}

/// RELU6 and RELU_N1_TO_1: `x` clamped to `[lo, hi]` as the scalar kernel does
/// (`if x > hi { hi } else if x < lo { lo } else { x }`: NaN and -0.0 pass through).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReluClamp {
    /// Lower bound.
    pub lo: f32,
    /// Upper bound.
    pub hi: f32,
}

impl UnaryFn for ReluClamp {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        if x > self.hi {
            self.hi
        } else if x < self.lo {
            self.lo
        } else {
            x
        }
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        // `max(lo, x)` is `if x < lo { lo } else { x }`; where `x > hi` it is `x`, so the
        // outer `min(hi, _)` gives `hi` exactly where the scalar's first branch does.
        l.min(l.splat(self.hi), l.max(l.splat(self.lo), x))
    }
}

/// LEAKY_RELU: `if x > 0 { x } else { x * alpha }`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeakyRelu {
    /// The slope below zero.
    pub alpha: f32,
}

impl UnaryFn for LeakyRelu {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        if x > 0.0 { x } else { x * self.alpha }
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        let zero = l.splat(0.0);
        l.select_gt(x, zero, x, l.mul(x, l.splat(self.alpha)))
    }
}

/// The micro-kernel of a unary operator: `y[i] = f(x[i])` over `y`, whose length is a multiple
/// of `L::LANES` (`x` at least as long).
#[inline(always)]
pub(crate) fn unary_full<L: Level, F: UnaryFn>(l: L, f: F, x: &[f32], y: &mut [f32]) {
    let n = L::LANES;
    debug_assert_eq!(y.len() % n, 0);
    assert!(x.len() >= y.len());
    let (len, xp, yp) = (y.len(), x.as_ptr(), y.as_mut_ptr());
    let block = n * L::UNROLL;
    let mut i = 0;
    while i + block <= len {
        for k in 0..L::UNROLL {
            let j = i + k * n;
            // SAFETY: `j + n <= len <= x.len()`.
            unsafe { l.store(f.vector(l, l.load(xp.add(j))), yp.add(j)) };
        }
        i += block;
    }
    while i + n <= len {
        // SAFETY: as above.
        unsafe { l.store(f.vector(l, l.load(xp.add(i))), yp.add(i)) };
        i += n;
    }
}

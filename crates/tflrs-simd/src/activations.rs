//! Standalone float32 activations LOGISTIC, TANH, HARD_SWISH and GELU (exact and
//! `approximate`), as vector element functions ([`UnaryFn`]) that the elementwise unary
//! wrapper (`crate::elementwise`: tails, level dispatch) runs, at every level of
//! [`crate::level`] (AVX2, SSE4.1, portable).
//!
//! The vector math is written in [`Level`] operations:
//!
//! - [`exp`]: `x = n ln 2 + r` with `n = round(x log2 e)` and `r` from a two-constant
//!   Cody-Waite reduction (`|r| <= 0.35`), `e^r` by its Taylor polynomial of degree 7
//!   (truncation below `6e-9` relative), then `2^n` applied in two factors `2^n1 2^n2`, so that
//!   results that overflow become `+inf` and results in the subnormal range are rounded once.
//!   The argument is clamped to `[-110, 89]` first (`e^-110` rounds to 0 and `e^89` to
//!   `+inf`, as they should); NaN passes through.
//! - [`tanh`]: for `|x| < 0.4` the odd Taylor polynomial up to `x^13` (truncation below
//!   `5e-9` relative; keeps `-0.0` and tiny values exact), above `1 - 2 / (e^(2|x|) + 1)` with
//!   the sign of `x` (exactly `±1` far out, NaN stays NaN).
//! - `erfc` for GELU: Abramowitz and Stegun 7.1.26 (`erfc(z) = t P(t) e^(-z^2)`,
//!   `t = 1 / (1 + p z)` for `z >= 0`, `2 - erfc(-z)` below), absolute error below `1.5e-7`.
//!
//! **Numerics** (checked by the tests below on every level, against the scalar kernels, which
//! use the platform's `expf`/`tanhf` and `libm`'s `erfcf`, on a sweep from `1e-30` to `1e30`
//! of both signs, the cut-offs, ±0, ±inf and NaN; the bounds are the constants of the tests):
//! `exp` is within `4 EPSILON` relative of `e^x` (measured: 0.8); LOGISTIC and TANH agree with
//! the scalar kernels within `8 EPSILON` relative to the larger result, plus `2^-149` for
//! subnormal results (measured: 5.3 for LOGISTIC, 1.9 for TANH); HARD_SWISH is the scalar
//! kernel's operation order exactly (`x * clamp(x + 3, 0, 6) / 6`: bit for bit); GELU within
//! `16 EPSILON |y| + 0.5 |x| E` with `E` the absolute error of the inner function:
//! `8 EPSILON` for `approximate` (`1 + tanh` cancels for negative `x` in both kernels, so its
//! last bits differ by a few ulps of 1), `4e-7` for the exact form's erfc approximation.

use crate::elementwise::micro::UnaryFn;
use crate::elementwise::{MakeUnary, at_level, kernel_name};
use crate::isa::Isa;
use crate::level::Level;
use tflrs_ir::{DType, Op};
use tflrs_kernels::prep::unary::{SQRT_2_OVER_PI, UnaryOp, UnaryParams};
use tflrs_kernels::{Kernel, KernelError, NodeCtx};

/// A kernel for a float32 LOGISTIC, TANH, HARD_SWISH or GELU node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(
        node.op,
        Op::Logistic | Op::Tanh | Op::HardSwish | Op::Gelu(_)
    ) {
        return Ok(None);
    }
    let Ok(Some(plan)) = tflrs_kernels::prep::unary::plan(node) else {
        return Ok(None);
    };
    if plan.dtype != DType::Float32 || !matches!(plan.params, UnaryParams::Plain) {
        return Ok(None);
    }
    let name = kernel_name(node, isa);
    let len = plan.len;
    Ok(Some(match plan.op {
        UnaryOp::Logistic => at_level(
            isa,
            MakeUnary {
                name,
                len,
                f: Logistic,
            },
        ),
        UnaryOp::Tanh => at_level(isa, MakeUnary { name, len, f: Tanh }),
        UnaryOp::HardSwish => at_level(
            isa,
            MakeUnary {
                name,
                len,
                f: HardSwish,
            },
        ),
        UnaryOp::Gelu { approximate: true } => at_level(
            isa,
            MakeUnary {
                name: format!("{name}_approximate"),
                len,
                f: GeluApproximate,
            },
        ),
        UnaryOp::Gelu { approximate: false } => at_level(
            isa,
            MakeUnary {
                name,
                len,
                f: GeluExact,
            },
        ),
        _ => return Ok(None),
    }))
}

/// `|x|` (`max(x, -x)`: `+0.0` for both zeros, NaN stays NaN).
#[inline(always)]
fn abs<L: Level>(l: L, x: L::V) -> L::V {
    l.max(x, l.sub(l.splat(0.0), x))
}

/// `a * b + c` by the polynomial's Horner step (fused where the level has FMA).
#[inline(always)]
fn horner<L: Level>(l: L, x: L::V, coeffs: &[f32]) -> L::V {
    let mut p = l.splat(coeffs[0]);
    for &c in &coeffs[1..] {
        p = l.mul_add(p, x, l.splat(c));
    }
    p
}

/// `e^x` on vectors (see the module docs).
#[inline(always)]
pub(crate) fn exp<L: Level>(l: L, x: L::V) -> L::V {
    // `ln 2 = LN2_HI + LN2_LO`, `LN2_HI` with 9 significant bits: `n * LN2_HI` is exact for
    // `|n| < 2^15`.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1/7!, 1/6!, ..., 1/1!, 1/0!.
    const TAYLOR: [f32; 8] = [
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
    // Clamp (NaN passes: `max(lo, NaN)` and `min(hi, NaN)` give NaN).
    let x = l.min(l.splat(89.0), l.max(l.splat(-110.0), x));
    let n = l.round(l.mul(x, l.splat(core::f32::consts::LOG2_E)));
    let r = l.sub(x, l.mul(n, l.splat(LN2_HI)));
    let r = l.sub(r, l.mul(n, l.splat(LN2_LO)));
    let p = horner(l, r, &TAYLOR);
    // `n` in `-159..=129`: two factors in `-80..=65`.
    let n1 = l.round(l.mul(n, l.splat(0.5)));
    let n2 = l.sub(n, n1);
    l.mul(l.mul(p, l.pow2i(n1)), l.pow2i(n2))
}

/// `tanh(x)` on vectors (see the module docs).
#[inline(always)]
pub(crate) fn tanh<L: Level>(l: L, x: L::V) -> L::V {
    // The Taylor coefficients of `tanh(x) / x` in `x^2`, highest first: 21844/6081075,
    // -1382/155925, 62/2835, -17/315, 2/15, -1/3, 1.
    const TAYLOR: [f32; 7] = [
        (21844.0 / 6081075.0) as f32,
        (-1382.0 / 155925.0) as f32,
        (62.0 / 2835.0) as f32,
        (-17.0 / 315.0) as f32,
        (2.0 / 15.0) as f32,
        (-1.0 / 3.0) as f32,
        1.0,
    ];
    let (zero, one) = (l.splat(0.0), l.splat(1.0));
    // Small: `x + x^3 q(x^2)`, so that the leading term is exact.
    let x2 = l.mul(x, x);
    let q = horner(l, x2, &TAYLOR[..6]);
    let small = l.mul_add(l.mul(x, x2), q, x);
    // Large: `1 - 2 / (e^(2|x|) + 1)`, signed.
    let a = abs(l, x);
    let e = exp(l, l.add(a, a));
    let big = l.sub(one, l.div(l.splat(2.0), l.add(e, one)));
    let big = l.select_gt(zero, x, l.sub(zero, big), big);
    l.select_gt(l.splat(0.4), a, small, big)
}

/// `erfc(z)` on vectors: Abramowitz and Stegun 7.1.26 (absolute error below `1.5e-7`).
#[inline(always)]
fn erfc<L: Level>(l: L, z: L::V) -> L::V {
    const P: f32 = 0.327_591_1;
    // a5, a4, a3, a2, a1, 0.
    const A: [f32; 6] = [
        1.061_405_4,
        -1.453_152,
        1.421_413_7,
        -0.284_496_74,
        0.254_829_6,
        0.0,
    ];
    let (zero, one) = (l.splat(0.0), l.splat(1.0));
    let a = abs(l, z);
    let t = l.div(one, l.mul_add(l.splat(P), a, one));
    let e = exp(l, l.sub(zero, l.mul(a, a)));
    let r = l.mul(horner(l, t, &A), e);
    l.select_gt(zero, z, l.sub(l.splat(2.0), r), r)
}

/// LOGISTIC: the scalar kernel's branches (1 above `16.619047`, `e^x` below `-9`,
/// `1 / (1 + e^-x)` between) from one `t = e^-|x|`: `1 / (1 + t)` for `x >= 0`, `t / (1 + t)`
/// for `x < 0`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Logistic;

impl UnaryFn for Logistic {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        tflrs_kernels::prep::unary::logistic_f32(x)
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        let (zero, one) = (l.splat(0.0), l.splat(1.0));
        let t = exp(l, l.min(x, l.sub(zero, x)));
        let d = l.add(one, t);
        let r = l.select_gt(zero, x, l.div(t, d), l.div(one, d));
        let r = l.select_gt(l.splat(-9.0), x, t, r);
        l.select_gt(x, l.splat(16.619_047), one, r)
    }
}

/// TANH.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tanh;

impl UnaryFn for Tanh {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        tflrs_kernels::math::tanhf(x)
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        tanh(l, x)
    }
}

/// HARD_SWISH: `x * clamp(x + 3, 0, 6) / 6` in the scalar kernel's order (exact).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HardSwish;

impl UnaryFn for HardSwish {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        // `f32::clamp`: NaN passes.
        x * (x + 3.0).clamp(0.0, 6.0) / 6.0
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        // `min(6, max(0, t))` is `t.clamp(0, 6)`, NaN passing (see `level`).
        let t = l.add(x, l.splat(3.0));
        let r = l.min(l.splat(6.0), l.max(l.splat(0.0), t));
        l.div(l.mul(x, r), l.splat(6.0))
    }
}

/// GELU with the tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, the
/// scalar kernel's operation order around [`tanh`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct GeluApproximate;

impl UnaryFn for GeluApproximate {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        tflrs_kernels::prep::unary::gelu_approximate(x)
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        let c = l.splat(0.044715);
        let cube = l.mul(l.mul(l.mul(c, x), x), x);
        let inner = l.mul(l.splat(SQRT_2_OVER_PI), l.add(x, cube));
        let t = tanh(l, inner);
        l.mul(l.mul(l.splat(0.5), x), l.add(l.splat(1.0), t))
    }
}

/// GELU exact: `0.5 x erfc(-x / sqrt(2))`, the scalar kernel's order around `erfc`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GeluExact;

impl UnaryFn for GeluExact {
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        tflrs_kernels::prep::unary::gelu_exact(x)
    }
    #[inline(always)]
    fn vector<L: Level>(self, l: L, x: L::V) -> L::V {
        let k = l.splat(-(core::f64::consts::FRAC_1_SQRT_2 as f32));
        let e = erfc(l, l.mul(x, k));
        l.mul(l.mul(l.splat(0.5), x), e)
    }
}

#[cfg(test)]
mod tests;

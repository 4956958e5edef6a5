//! The activations against the scalar kernels on every level the host has, within the bounds
//! the module docs state (HARD_SWISH bit for bit).

use crate::{Isa, SimdBackend};
use proptest::prelude::*;
use tflrs_ir::{DType, GeluAttrs, Op};
use tflrs_kernels::testing::{Harness, TestInput};
use tflrs_kernels::{ScalarBackend, TensorInfo};

/// LOGISTIC's and TANH's bound, in `EPSILON` relative to the larger of the two results.
const LOGISTIC_TANH_ULPS: f32 = 8.0;
/// GELU's relative part of the bound.
const GELU_REL: f32 = 16.0 * f32::EPSILON;
/// GELU `approximate`: the absolute error allowed in `1 + tanh(..)`.
const GELU_TANH_ABS: f32 = 8.0 * f32::EPSILON;
/// GELU exact: the absolute error allowed in `erfc(..)` (A&S 7.1.26's `1.5e-7` and f32
/// rounding).
const GELU_ERFC_ABS: f32 = 4.0e-7;

/// The four operators and GELU's two modes.
fn ops() -> [Op<'static>; 5] {
    [
        Op::Logistic,
        Op::Tanh,
        Op::HardSwish,
        Op::Gelu(GeluAttrs { approximate: true }),
        Op::Gelu(GeluAttrs { approximate: false }),
    ]
}

/// Whether `got` is within `op`'s bound of the scalar kernel's `want` at input `x`.
fn within(op: &Op<'_>, x: f32, want: f32, got: f32) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return want == got;
    }
    let (w, g, x) = (f64::from(want), f64::from(got), f64::from(x));
    let big = w.abs().max(g.abs());
    let tiny = f64::from(f32::from_bits(1));
    let bound = match op {
        Op::HardSwish => return want.to_bits() == got.to_bits(),
        Op::Logistic | Op::Tanh => f64::from(LOGISTIC_TANH_ULPS * f32::EPSILON) * big + tiny,
        Op::Gelu(a) => {
            let inner = if a.approximate {
                GELU_TANH_ABS
            } else {
                GELU_ERFC_ABS
            };
            f64::from(GELU_REL) * big + 0.5 * x.abs() * f64::from(inner) + tiny
        }
        _ => unreachable!(),
    };
    (w - g).abs() <= bound
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Runs `op` on `x` on the scalar backend and at every level, checks the kernel names and
/// every element against the bound; returns the largest error seen, in units of
/// `EPSILON * max(|a|, |b|)`, per level (for the report).
fn check(op: &Op<'_>, x: &[f32]) -> Result<Vec<(Isa, f64)>, String> {
    let info = TensorInfo::new("t", DType::Float32, [x.len()]);
    let ins = vec![Some(TestInput::from_slice(info.clone(), x))];
    let outs = [info];
    let mut h = Harness::new();
    let want = f32s(
        &h.run_node(&ScalarBackend, op, &mut ins.clone(), &outs)
            .map_err(|e| e.to_string())?[0],
    );
    let mut worst = Vec::new();
    let mut res = Ok(());
    Isa::for_each_available(|isa| {
        if res.is_err() {
            return;
        }
        let simd = SimdBackend::with_isa(isa).unwrap();
        let mut k = match h.make(&simd, op, &ins, &outs) {
            Ok(k) => k,
            Err(e) => {
                res = Err(format!("{isa}: {e}"));
                return;
            }
        };
        let suffix = match op {
            Op::Gelu(a) if a.approximate => "_approximate",
            _ => "",
        };
        let name = format!(
            "{}_f32__{}{suffix}",
            op.name().to_ascii_lowercase(),
            simd.isa().name()
        );
        if k.name() != name {
            res = Err(format!("{isa}: kernel {}, expected {name}", k.name()));
            return;
        }
        let got = match h.run(k.as_mut(), &mut ins.clone(), &outs) {
            Ok(o) => f32s(&o[0]),
            Err(e) => {
                res = Err(format!("{isa}: {e}"));
                return;
            }
        };
        let mut w = 0.0f64;
        for (i, (&a, &b)) in want.iter().zip(&got).enumerate() {
            if !within(op, x[i], a, b) {
                res = Err(format!("{isa}: {name}({:e}) = {b:e}, scalar {a:e}", x[i]));
                return;
            }
            let big = f64::from(a.abs().max(b.abs()));
            if a.is_finite() && b.is_finite() && big > 0.0 {
                w = w.max((f64::from(a) - f64::from(b)).abs() / (big * f64::from(f32::EPSILON)));
            }
        }
        worst.push((isa, w));
    });
    res.map(|()| worst)
}

/// A sweep from `1e-30` to `1e30` of both signs (64 values a decade), a fine linear sweep of
/// `[-20, 20]`, and the values at the cut-offs: ±0, ±inf, NaN, the largest finite values,
/// subnormals, the logistic's cut-offs and the tanh's polynomial edge with their neighbours,
/// `exp`'s overflow and underflow edges.
fn sweep() -> Vec<f32> {
    let mut v = Vec::new();
    for k in -30 * 64..=30 * 64 {
        let m = 10f64.powf(f64::from(k) / 64.0) as f32;
        v.extend([m, -m]);
    }
    for k in -20 * 512..=20 * 512 {
        v.push(k as f32 / 512.0);
    }
    let edges = [
        0.0,
        0.4,
        9.0,
        16.619_047,
        44.0,
        44.4,
        87.3,
        88.72,
        88.722_84,
        89.0,
        103.9,
        110.0,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-40,
        f32::from_bits(1),
    ];
    for e in edges {
        for d in [-2i32, -1, 0, 1, 2] {
            let u = f32::from_bits((e.to_bits() as i32 + d).max(0) as u32);
            v.extend([u, -u]);
        }
    }
    v.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN]);
    // A tail for every level (not a multiple of 8).
    while v.len() % 8 != 1 {
        v.push(0.5);
    }
    v
}

#[test]
fn activations_are_within_their_bounds_over_a_wide_sweep() {
    let x = sweep();
    assert_eq!(x.len() % 8, 1);
    for op in ops() {
        let worst = check(&op, &x).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
        println!("{op:?}: largest error per level, in EPSILON * |y|: {worst:?}");
    }
}

#[test]
fn hard_swish_is_exact_and_others_are_not_trivially_so() {
    // The tolerances are not vacuous: a kernel off by a relative 1e-4 fails them.
    for op in ops() {
        let (x, y) = (0.7f32, 0.6f32);
        assert!(!within(&op, x, y, y * (1.0 + 1e-4)), "{op:?}");
        assert!(within(&op, x, y, y));
    }
    assert!(!within(
        &Op::HardSwish,
        1.0,
        1.0,
        f32::from_bits(1.0f32.to_bits() + 1)
    ));
}

/// Values: ordinary ones, the interesting range of each function, extremes and specials.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -10.0f32..10.0,
        2 => -100.0f32..100.0,
        1 => prop::sample::select(vec![
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN,
            -9.0,
            16.619_047,
            3.0,
            -3.0,
        ]),
        1 => any::<f32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn activations_match_the_scalar_kernels_on_random_inputs(
        x in proptest::collection::vec(value(), 0..=100),
        k in 0usize..5,
    ) {
        let op = &ops()[k];
        if let Err(e) = check(op, &x) {
            return Err(TestCaseError::fail(format!("{}: {e}", op.name())));
        }
    }
}

/// [`super::exp`] on every element of a slice, as a job.
struct ExpAll<'a>(&'a mut [f32]);

impl crate::level::Job for ExpAll<'_> {
    type Output = ();
    #[inline(always)]
    fn run<L: crate::level::Level>(self, l: L) {
        for c in self.0.chunks_exact_mut(L::LANES) {
            // SAFETY: `c` has `LANES` elements.
            unsafe { l.store(super::exp(l, l.load(c.as_ptr())), c.as_mut_ptr()) };
        }
    }
}

#[test]
fn exp_is_within_4_epsilon_of_the_exact_value() {
    use crate::level::{Level, Portable};
    // Every 4096th float of [-110, 89] and the edges (e^x in f64, rounded once, is the
    // reference; subnormal results within 2^-149 more).
    let mut x: Vec<f32> = Vec::new();
    for sign in [1.0f32, -1.0] {
        let mut b = 0u32;
        while f32::from_bits(b) <= 110.0 {
            let v = sign * f32::from_bits(b);
            if (-110.0..=89.0).contains(&v) {
                x.push(v);
            }
            b += 4096;
        }
    }
    x.extend([88.72283, 88.722_84, -87.33654, -103.97, -110.0, 89.0]);
    while !x.len().is_multiple_of(8) {
        x.push(0.0);
    }
    let mut levels: Vec<(&str, Vec<f32>)> = Vec::new();
    let mut run = |name: &'static str, f: &dyn Fn(&mut [f32])| {
        let mut y = x.clone();
        f(&mut y);
        levels.push((name, y));
    };
    run("portable", &|y| Portable.dispatch(ExpAll(y)));
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(t) = crate::x86::Sse41::new() {
            run("sse41", &|y| t.dispatch(ExpAll(y)));
        }
        if let Some(t) = crate::x86::Avx2Fma::new() {
            run("avx2", &|y| t.dispatch(ExpAll(y)));
        }
    }
    for (name, y) in &levels {
        let mut worst = 0.0f64;
        for (&v, &e) in x.iter().zip(y) {
            let exact = f64::from(v).exp();
            let d = (f64::from(e) - exact).abs();
            if exact > f64::from(f32::MAX) {
                assert!(
                    e == f32::INFINITY || d <= 4.0 * f64::from(f32::EPSILON) * exact,
                    "{name}: exp({v:e}) = {e:e}"
                );
                continue;
            }
            let tol = 4.0 * f64::from(f32::EPSILON) * exact + f64::from(f32::from_bits(1));
            assert!(d <= tol, "{name}: exp({v:e}) = {e:e}, exactly {exact:e}");
            if exact >= f64::from(f32::MIN_POSITIVE) {
                worst = worst.max(d / (exact * f64::from(f32::EPSILON)));
            }
        }
        println!(
            "{name}: exp's largest relative error {worst:.2} EPSILON over {} values",
            x.len()
        );
    }
}

//! The elementwise kernels against the scalar backend on every level the host has.
//!
//! Tolerance: [`FloatTolerance::EXACT`], and on top of it bit equality of every non-NaN
//! element (`EXACT` alone lets 0.0 and -0.0 agree). Derivation: each output element is the
//! same sequence of exactly rounded IEEE operations as the scalar kernel's (one add, sub or
//! mul, or a sub and a mul for SQUARED_DIFFERENCE; no FMA, no reassociation), and the
//! comparisons (MAXIMUM, MINIMUM, the clamps, RELU, LEAKY_RELU's select) pick the same operand
//! in every case, NaN and signed zeros included (`level`'s docs), so nothing may differ except
//! a NaN's payload.

use crate::{Isa, SimdBackend};
use proptest::prelude::*;
use std::sync::OnceLock;
use tflrs_ir::{Activation, AddAttrs, DType, LeakyReluAttrs, MulAttrs, Op, SubAttrs};
use tflrs_kernels::testing::{FloatTolerance, Harness, TestInput, make_kernel};
use tflrs_kernels::{ScalarBackend, TensorInfo};

/// The levels the host has (the others print a `SKIP:` line, once).
fn levels() -> &'static [Isa] {
    static LEVELS: OnceLock<Vec<Isa>> = OnceLock::new();
    LEVELS.get_or_init(|| {
        let mut v = Vec::new();
        Isa::for_each_available(|isa| v.push(isa));
        v
    })
}

const ACTIVATIONS: [Activation; 6] = [
    Activation::None,
    Activation::Relu,
    Activation::ReluN1To1,
    Activation::Relu6,
    Activation::Tanh,
    Activation::SignBit,
];

/// Binary operator `k` (ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE) with fused
/// activation `act` where it has one.
fn binary_op(k: usize, act: Activation) -> Op<'static> {
    match k % 6 {
        0 => Op::Add(AddAttrs {
            fused_activation_function: act,
            pot_scale_int16: false,
        }),
        1 => Op::Sub(SubAttrs {
            fused_activation_function: act,
            pot_scale_int16: false,
        }),
        2 => Op::Mul(MulAttrs {
            fused_activation_function: act,
        }),
        3 => Op::Maximum,
        4 => Op::Minimum,
        _ => Op::SquaredDifference,
    }
}

/// Unary operator `k` (RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU with `alpha`).
fn unary_op(k: usize, alpha: f32) -> Op<'static> {
    match k % 4 {
        0 => Op::Relu,
        1 => Op::Relu6,
        2 => Op::ReluN1To1,
        _ => Op::LeakyRelu(LeakyReluAttrs { alpha }),
    }
}

fn f32_info(shape: &[usize]) -> TensorInfo {
    TensorInfo::new("t", DType::Float32, shape.to_vec())
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Runs `op` on `inputs` with the scalar backend and with the SIMD backend at every available
/// level: [`Harness::compare`] (guard bytes, poison, `EXACT`), the SIMD kernel's name, and the
/// bits of every element that is not NaN in both.
fn check(
    op: &Op<'_>,
    inputs: &[(Vec<usize>, Vec<f32>)],
    out_shape: &[usize],
) -> Result<(), String> {
    let ins: Vec<Option<TestInput>> = inputs
        .iter()
        .map(|(s, v)| Some(TestInput::from_slice(f32_info(s), v)))
        .collect();
    let outs = [f32_info(out_shape)];
    let mut h = Harness::new().tolerance(FloatTolerance::EXACT);
    let reference = f32s(
        &h.run_node(&ScalarBackend, op, &mut ins.clone(), &outs)
            .map_err(|e| e.to_string())?[0],
    );
    for &isa in levels() {
        let simd = SimdBackend::with_isa(isa).unwrap();
        let (_, name) = h
            .compare(&ScalarBackend, &simd, op, &ins, &outs)
            .map_err(|e| format!("{isa}: {e}"))?;
        let want = format!("{}_f32__{}", op.name().to_ascii_lowercase(), isa.name());
        if name != want {
            return Err(format!("{isa}: kernel {name}, expected {want}"));
        }
        let got = f32s(
            &h.run_node(&simd, op, &mut ins.clone(), &outs)
                .map_err(|e| e.to_string())?[0],
        );
        for (k, (x, y)) in reference.iter().zip(&got).enumerate() {
            if !(x.is_nan() && y.is_nan()) && x.to_bits() != y.to_bits() {
                return Err(format!(
                    "{isa}: {name} element {k}: {y:e} ({:#010x}), scalar {x:e} ({:#010x})",
                    y.to_bits(),
                    x.to_bits()
                ));
            }
        }
    }
    Ok(())
}

/// Values the kernels must treat as the scalar kernels do: ordinary ones, small integers (so
/// that sums and products hit exact zeros of either sign), the clamp bounds and their
/// neighbours, signed zeros, infinities, NaNs, the largest finite values (whose sums and
/// products overflow), subnormals, and anything at all.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -8.0f32..8.0,
        2 => (-3i32..=3).prop_map(|v| v as f32),
        3 => prop::sample::select(vec![
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            -1e-45,
            6.0,
            6.000_001,
            5.999_999,
            -1.0,
            1.0,
            1e30,
            -1e30,
        ]),
        1 => any::<f32>(),
    ]
}

/// A dimension: sizes around the vector widths (4, 8) and the AVX2 unroll (32), empty and
/// size-1 dimensions, and random ones.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        3 => Just(1usize),
        1 => Just(2usize),
        3 => prop::sample::select(vec![7usize, 8, 9]),
        3 => prop::sample::select(vec![31usize, 32, 33]),
        1 => 3usize..70,
    ]
}

/// Most elements of a generated tensor.
const MAX_ELEMS: usize = 1 << 14;

/// Two input shapes broadcastable together, and their broadcast: a base shape of rank 0-5, each
/// input a suffix of it with some dimensions replaced by 1; the output takes, per dimension,
/// the base size where some input keeps it and 1 elsewhere, over the longer input's rank.
fn shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    proptest::collection::vec(dim(), 0..=5).prop_flat_map(|mut base| {
        while base.iter().product::<usize>() > MAX_ELEMS {
            let k = (0..base.len()).max_by_key(|&k| base[k]).unwrap();
            base[k] = 1;
        }
        let rank = base.len();
        let input = (0..=rank, proptest::collection::vec(any::<bool>(), rank));
        (Just(base), input.clone(), input).prop_map(move |(base, a, b)| {
            let out_rank = a.0.max(b.0);
            let keeps = |(r, ones): &(usize, Vec<bool>), ax: usize| ax >= rank - r && !ones[ax];
            let out = (rank - out_rank..rank)
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

/// A tensor's shape and values.
type Tensor = (Vec<usize>, Vec<f32>);

/// Shapes with values for both inputs.
fn binary_case() -> impl Strategy<Value = (Vec<usize>, Tensor, Tensor)> {
    shapes().prop_flat_map(|(out, a, b)| {
        let (na, nb): (usize, usize) = (a.iter().product(), b.iter().product());
        (
            Just(out),
            (Just(a), proptest::collection::vec(value(), na)),
            (Just(b), proptest::collection::vec(value(), nb)),
        )
    })
}

proptest! {
    #[test]
    fn binary_kernels_match_the_scalar_ones(
        (out, a, b) in binary_case(),
        k in 0usize..6,
        act in 0usize..6,
    ) {
        let op = binary_op(k, ACTIVATIONS[act]);
        if let Err(e) = check(&op, &[a.clone(), b.clone()], &out) {
            return Err(TestCaseError::fail(format!(
                "{} {act:?} {:?} x {:?} -> {out:?}: {e}", op.name(), a.0, b.0
            )));
        }
    }

    #[test]
    fn unary_kernels_match_the_scalar_ones(
        (shape, x) in proptest::collection::vec(dim(), 0..=4).prop_flat_map(|mut s| {
            while s.iter().product::<usize>() > MAX_ELEMS {
                let k = (0..s.len()).max_by_key(|&k| s[k]).unwrap();
                s[k] = 1;
            }
            let n: usize = s.iter().product();
            (Just(s), proptest::collection::vec(value(), n))
        }),
        k in 0usize..4,
        alpha in prop::sample::select(vec![0.2f32, -0.5, 0.0, -0.0, 3.0, f32::NAN]),
    ) {
        let op = unary_op(k, alpha);
        if let Err(e) = check(&op, &[(shape.clone(), x)], &shape) {
            return Err(TestCaseError::fail(format!("{} {shape:?}: {e}", op.name())));
        }
    }
}

/// Every length from 0 to 70 (every tail of the SSE and AVX2 loops, one to two unrolled AVX2
/// blocks), for every operator, activation and run kind: vector-vector, vector-scalar,
/// scalar-vector, and rows against a column (many short vector-scalar runs).
#[test]
fn every_length_and_run_kind_matches() {
    let specials = [
        f32::NAN,
        -0.0,
        0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        6.0,
        -1.0,
    ];
    let mut seed = 0x2545_f491_u32;
    let mut values = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 5 == 4 {
                    specials[(seed >> 16) as usize % specials.len()]
                } else {
                    ((seed >> 8) as f32 / (1u32 << 24) as f32) * 16.0 - 8.0
                }
            })
            .collect()
    };
    for n in 0..=70usize {
        for k in 0..6 {
            for act in ACTIVATIONS {
                let op = binary_op(k, act);
                let cases = [
                    (vec![n], vec![n], vec![n]),
                    (vec![n], vec![], vec![n]),
                    (vec![], vec![n], vec![n]),
                    (vec![3, n], vec![3, 1], vec![3, n]),
                ];
                for (a, b, out) in cases {
                    let (va, vb) = (values(a.iter().product()), values(b.iter().product()));
                    check(&op, &[(a.clone(), va), (b.clone(), vb)], &out)
                        .unwrap_or_else(|e| panic!("{} {act:?} {a:?} x {b:?}: {e}", op.name()));
                }
            }
        }
        for k in 0..4 {
            let op = unary_op(k, 0.25);
            check(&op, &[(vec![n], values(n))], &[n])
                .unwrap_or_else(|e| panic!("{} [{n}]: {e}", op.name()));
        }
    }
}

/// Nodes outside the family's float32 arithmetic fall back to the scalar backend.
#[test]
fn other_nodes_are_declined() {
    let q = |shape: &[usize]| TensorInfo::new("q", DType::Int8, shape.to_vec()).with_quant(0.5, 0);
    let h16 = |shape: &[usize]| TensorInfo::new("h", DType::Float16, shape.to_vec());
    let add = binary_op(0, Activation::None);
    let div = Op::Div(tflrs_ir::DivAttrs::default());
    for isa in levels() {
        let simd = SimdBackend::with_isa(*isa).unwrap();
        let declined = |op: &Op<'_>, ins: &[TensorInfo], out: TensorInfo| {
            let ins: Vec<Option<TestInput>> = ins
                .iter()
                .map(|t| Some(TestInput::new(t.clone(), vec![0; 4])))
                .collect();
            make_kernel(&simd, op, &ins, &[out]).unwrap().is_none()
        };
        // (int8 ADD, SUB and MUL are `elementwise_i8`'s.)
        assert!(declined(&div, &[q(&[2]), q(&[2])], q(&[2])));
        assert!(declined(&Op::Maximum, &[q(&[2]), q(&[2])], q(&[2])));
        assert!(declined(&add, &[h16(&[2]), h16(&[2])], h16(&[2])));
        assert!(declined(
            &div,
            &[f32_info(&[2]), f32_info(&[2])],
            f32_info(&[2])
        ));
        assert!(declined(&Op::Relu, &[q(&[2])], q(&[2])));
        // (float32 TANH is `activations`'; int8 TANH is no family's.)
        assert!(declined(&Op::Tanh, &[q(&[2])], q(&[2])));
        assert!(declined(&Op::Exp, &[f32_info(&[2])], f32_info(&[2])));
        assert!(declined(
            &Op::Prelu,
            &[f32_info(&[2]), f32_info(&[2])],
            f32_info(&[2])
        ));
    }
}

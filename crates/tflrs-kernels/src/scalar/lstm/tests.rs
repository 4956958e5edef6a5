//! Tests of the LSTM family: hand-computed single-unit cases, a plain f64 reference LSTM for
//! every structural option (CIFG, peephole, projection, layer norm, diagonal recurrence,
//! clipping, time-major, batches), hybrid and integer kernels against the float one, state
//! carried across invokes, and node validation.

use super::fixed16;
use super::slot;
use crate::scalar::ScalarBackend;
use crate::tensor::TensorInfo;
use crate::testing::{Harness, TestInput, make_kernel, run_node};
use crate::{Kernel, KernelError};
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{Activation, DType, Op, UnidirectionalSequenceLstmAttrs};

/// The structure of a test node.
#[derive(Debug, Clone, Copy)]
struct Spec {
    n_batch: usize,
    max_time: usize,
    n_input: usize,
    n_cell: usize,
    n_output: usize,
    time_major: bool,
    cifg: bool,
    peephole: bool,
    projection: bool,
    projection_bias: bool,
    layer_norm: bool,
    diag: bool,
    activation: Activation,
    cell_clip: f32,
    proj_clip: f32,
}

impl Spec {
    fn basic(n_batch: usize, max_time: usize, n_input: usize, n_cell: usize) -> Self {
        Self {
            n_batch,
            max_time,
            n_input,
            n_cell,
            n_output: n_cell,
            time_major: false,
            cifg: false,
            peephole: false,
            projection: false,
            projection_bias: false,
            layer_norm: false,
            diag: false,
            activation: Activation::Tanh,
            cell_clip: 0.0,
            proj_clip: 0.0,
        }
    }

    fn op(&self, asymmetric: bool) -> Op<'static> {
        Op::UnidirectionalSequenceLstm(UnidirectionalSequenceLstmAttrs {
            fused_activation_function: self.activation,
            cell_clip: self.cell_clip,
            proj_clip: self.proj_clip,
            time_major: self.time_major,
            asymmetric_quantize_inputs: asymmetric,
            diagonal_recurrent_tensors: self.diag,
        })
    }

    fn io_shape(&self, last: usize) -> Vec<usize> {
        if self.time_major {
            vec![self.max_time, self.n_batch, last]
        } else {
            vec![self.n_batch, self.max_time, last]
        }
    }
}

/// Float weights of a test LSTM, in LiteRT's layouts (row-major `[rows, cols]`).
#[derive(Debug, Clone)]
struct Weights {
    input: [Vec<f32>; 4],
    recurrent: [Vec<f32>; 4],
    peephole: [Vec<f32>; 4],
    bias: [Vec<f32>; 4],
    layer_norm: [Vec<f32>; 4],
    projection: Vec<f32>,
    projection_bias: Vec<f32>,
}

/// A small deterministic generator (xorshift), values in `[-scale, scale)`.
struct Rng(u64);

impl Rng {
    fn next(&mut self, scale: f32) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }

    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next(scale)).collect()
    }
}

impl Weights {
    fn random(s: &Spec, seed: u64) -> Self {
        let mut rng = Rng(seed | 1);
        let gate = |g: usize| !(s.cifg && g == 0);
        let mut w = Self {
            input: Default::default(),
            recurrent: Default::default(),
            peephole: Default::default(),
            bias: Default::default(),
            layer_norm: Default::default(),
            projection: Vec::new(),
            projection_bias: Vec::new(),
        };
        for g in 0..4 {
            if !gate(g) {
                continue;
            }
            w.input[g] = rng.vec(s.n_cell * s.n_input, 0.6);
            let rec = if s.diag {
                s.n_cell
            } else {
                s.n_cell * s.n_output
            };
            w.recurrent[g] = rng.vec(rec, 0.5);
            if s.peephole && g != 2 {
                w.peephole[g] = rng.vec(s.n_cell, 0.4);
            }
            w.bias[g] = rng.vec(s.n_cell, 0.3);
            if s.layer_norm {
                w.layer_norm[g] = rng.vec(s.n_cell, 0.5).iter().map(|v| v + 1.0).collect();
            }
        }
        if s.projection {
            w.projection = rng.vec(s.n_output * s.n_cell, 0.5);
            if s.projection_bias {
                w.projection_bias = rng.vec(s.n_output, 0.2);
            }
        }
        w
    }
}

/// Typed elements of output bytes.
fn cast<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    bytes
        .chunks_exact(core::mem::size_of::<T>())
        .map(bytemuck::pod_read_unaligned)
        .collect()
}

fn f32_tensor(name: &str, shape: &[usize]) -> TensorInfo {
    TensorInfo::new(name, DType::Float32, shape.to_vec())
}

/// The 24 inputs of a float node: weights as constants, zero states.
fn float_inputs(s: &Spec, w: &Weights, x: &[f32]) -> Vec<Option<TestInput>> {
    let mut inputs: Vec<Option<TestInput>> = vec![None; 24];
    inputs[slot::INPUT] = Some(TestInput::from_slice(
        f32_tensor("input", &s.io_shape(s.n_input)),
        x,
    ));
    let constant = |name: &str, shape: &[usize], v: &[f32]| {
        (!v.is_empty()).then(|| TestInput::const_from_slice(f32_tensor(name, shape), v))
    };
    for g in 0..4 {
        inputs[slot::INPUT_WEIGHTS[g]] = constant("wi", &[s.n_cell, s.n_input], &w.input[g]);
        let rec_shape: &[usize] = if s.diag {
            &[s.n_cell]
        } else {
            &[s.n_cell, s.n_output]
        };
        inputs[slot::RECURRENT_WEIGHTS[g]] = constant("wr", rec_shape, &w.recurrent[g]);
        if let Some(p) = slot::PEEPHOLE[g] {
            inputs[p] = constant("peephole", &[s.n_cell], &w.peephole[g]);
        }
        inputs[slot::BIAS[g]] = constant("bias", &[s.n_cell], &w.bias[g]);
        inputs[slot::LAYER_NORM[g]] = constant("ln", &[s.n_cell], &w.layer_norm[g]);
    }
    inputs[slot::PROJECTION_WEIGHTS] = constant("proj", &[s.n_output, s.n_cell], &w.projection);
    inputs[slot::PROJECTION_BIAS] = constant("proj_bias", &[s.n_output], &w.projection_bias);
    inputs[slot::OUTPUT_STATE] = Some(TestInput::from_slice(
        f32_tensor("output_state", &[s.n_batch, s.n_output]),
        &vec![0f32; s.n_batch * s.n_output],
    ));
    inputs[slot::CELL_STATE] = Some(TestInput::from_slice(
        f32_tensor("cell_state", &[s.n_batch, s.n_cell]),
        &vec![0f32; s.n_batch * s.n_cell],
    ));
    inputs
}

fn run_float(s: &Spec, w: &Weights, x: &[f32]) -> Vec<f32> {
    let inputs = float_inputs(s, w, x);
    let out = f32_tensor("output", &s.io_shape(s.n_output));
    let bytes = run_node(&ScalarBackend, &s.op(false), &inputs, &[out]).unwrap();
    cast(&bytes[0])
}

/// A plain LSTM in f64, written from the equations rather than from LiteRT's code.
#[allow(clippy::needless_range_loop)] // indices read like the equations
fn reference(s: &Spec, w: &Weights, x: &[f32]) -> Vec<f32> {
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let act = |v: f64| match s.activation {
        Activation::Tanh => v.tanh(),
        Activation::Relu => v.max(0.0),
        Activation::None => v,
        other => panic!("reference has no {other:?}"),
    };
    let row_index = |b: usize, t: usize| {
        if s.time_major {
            t * s.n_batch + b
        } else {
            b * s.max_time + t
        }
    };
    let mut out = vec![0f32; s.n_batch * s.max_time * s.n_output];
    for b in 0..s.n_batch {
        let mut h = vec![0f64; s.n_output];
        let mut c = vec![0f64; s.n_cell];
        for t in 0..s.max_time {
            let row = row_index(b, t);
            let xr = &x[row * s.n_input..][..s.n_input];
            let pre = |g: usize, c: &[f64]| -> Vec<f64> {
                let mut v: Vec<f64> = (0..s.n_cell)
                    .map(|r| {
                        let mut a = 0.0;
                        for k in 0..s.n_input {
                            a += f64::from(w.input[g][r * s.n_input + k]) * f64::from(xr[k]);
                        }
                        if s.diag {
                            a += f64::from(w.recurrent[g][r]) * h[r];
                        } else {
                            for k in 0..s.n_output {
                                a += f64::from(w.recurrent[g][r * s.n_output + k]) * h[k];
                            }
                        }
                        if s.peephole && g != 2 {
                            a += f64::from(w.peephole[g][r]) * c[r];
                        }
                        a
                    })
                    .collect();
                if s.layer_norm {
                    let n = v.len() as f64;
                    let mean = v.iter().sum::<f64>() / n;
                    let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n;
                    for (r, a) in v.iter_mut().enumerate() {
                        *a = (*a - mean) / (var + 1e-8).sqrt() * f64::from(w.layer_norm[g][r]);
                    }
                }
                for (r, a) in v.iter_mut().enumerate() {
                    *a += f64::from(w.bias[g][r]);
                }
                v
            };
            let f: Vec<f64> = pre(1, &c).into_iter().map(sigmoid).collect();
            let i: Vec<f64> = if s.cifg {
                f.iter().map(|f| 1.0 - f).collect()
            } else {
                pre(0, &c).into_iter().map(sigmoid).collect()
            };
            let g: Vec<f64> = pre(2, &c).into_iter().map(act).collect();
            for r in 0..s.n_cell {
                c[r] = f[r] * c[r] + i[r] * g[r];
                if s.cell_clip > 0.0 {
                    c[r] = c[r].clamp(-f64::from(s.cell_clip), f64::from(s.cell_clip));
                }
            }
            let o: Vec<f64> = pre(3, &c).into_iter().map(sigmoid).collect();
            let hidden: Vec<f64> = (0..s.n_cell).map(|r| o[r] * act(c[r])).collect();
            if s.projection {
                for (k, hk) in h.iter_mut().enumerate() {
                    let mut a = w.projection_bias.get(k).map_or(0.0, |&b| f64::from(b));
                    for r in 0..s.n_cell {
                        a += f64::from(w.projection[k * s.n_cell + r]) * hidden[r];
                    }
                    if s.proj_clip > 0.0 {
                        a = a.clamp(-f64::from(s.proj_clip), f64::from(s.proj_clip));
                    }
                    *hk = a;
                }
            } else {
                h.copy_from_slice(&hidden);
            }
            for k in 0..s.n_output {
                out[row * s.n_output + k] = h[k] as f32;
            }
        }
    }
    out
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

#[test]
fn one_unit_by_hand() {
    // One input, one unit, no recurrence effects at step 0; weights chosen by hand.
    let s = Spec::basic(1, 2, 1, 1);
    let mut w = Weights::random(&s, 1);
    w.input = [vec![0.5], vec![-0.25], vec![1.0], vec![0.75]];
    w.recurrent = [vec![0.1], vec![0.2], vec![-0.3], vec![0.4]];
    w.bias = [vec![0.0], vec![1.0], vec![0.0], vec![-0.5]];
    let x = [2.0f32, -1.0];
    let got = run_float(&s, &w, &x);

    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    // Step 0: h = c = 0.
    let i0 = sig(0.5 * 2.0);
    let f0 = sig(-0.25 * 2.0 + 1.0);
    let g0 = (1.0f64 * 2.0).tanh();
    let c0 = f0 * 0.0 + i0 * g0;
    let o0 = sig(0.75 * 2.0 - 0.5);
    let h0 = o0 * c0.tanh();
    // Step 1, x = -1.
    let x1 = -1.0;
    let i1 = sig(0.5 * x1 + 0.1 * h0);
    let f1 = sig(-0.25 * x1 + 0.2 * h0 + 1.0);
    let g1 = (1.0 * x1 - 0.3 * h0).tanh();
    let c1 = f1 * c0 + i1 * g1;
    let o1 = sig(0.75 * x1 + 0.4 * h0 - 0.5);
    let h1 = o1 * c1.tanh();
    assert_close(&got, &[h0 as f32, h1 as f32], 1e-6, "one unit");
}

#[test]
fn float_matches_reference_for_each_option() {
    let base = Spec::basic(2, 3, 3, 4);
    let cases = [
        ("plain", base),
        (
            "time-major",
            Spec {
                time_major: true,
                ..base
            },
        ),
        ("cifg", Spec { cifg: true, ..base }),
        (
            "peephole",
            Spec {
                peephole: true,
                ..base
            },
        ),
        (
            "cifg+peephole",
            Spec {
                cifg: true,
                peephole: true,
                ..base
            },
        ),
        (
            "projection",
            Spec {
                projection: true,
                n_output: 2,
                ..base
            },
        ),
        (
            "projection+bias+clip",
            Spec {
                projection: true,
                projection_bias: true,
                n_output: 3,
                proj_clip: 0.05,
                ..base
            },
        ),
        (
            "layer norm",
            Spec {
                layer_norm: true,
                ..base
            },
        ),
        (
            "layer norm+cifg",
            Spec {
                layer_norm: true,
                cifg: true,
                ..base
            },
        ),
        ("diagonal", Spec { diag: true, ..base }),
        (
            "cell clip",
            Spec {
                cell_clip: 0.1,
                ..base
            },
        ),
        (
            "relu",
            Spec {
                activation: Activation::Relu,
                ..base
            },
        ),
        (
            "single step, rank 3",
            Spec {
                max_time: 1,
                ..base
            },
        ),
    ];
    for (k, (what, s)) in cases.iter().enumerate() {
        let w = Weights::random(s, 11 + k as u64);
        let mut rng = Rng(99 + k as u64);
        let x = rng.vec(s.n_batch * s.max_time * s.n_input, 1.5);
        let got = run_float(s, &w, &x);
        let want = reference(s, &w, &x);
        assert_close(&got, &want, 1e-5, what);
    }
}

#[test]
fn batches_are_independent() {
    let s = Spec::basic(3, 4, 2, 3);
    let w = Weights::random(&s, 5);
    let x = Rng(8).vec(3 * 4 * 2, 1.0);
    let all = run_float(&s, &w, &x);
    let one = Spec { n_batch: 1, ..s };
    for b in 0..3 {
        let xb = &x[b * 8..][..8];
        let got = run_float(&one, &w, xb);
        assert_eq!(got, all[b * 12..][..12], "batch {b}");
    }
}

/// Symmetric per-tensor int8 quantization of a weight tensor: values and scale.
fn quantize_weights(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max == 0.0 { 1.0 } else { max / 127.0 };
    let q = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

fn dequantize(q: &[i8], scale: f32) -> Vec<f32> {
    q.iter().map(|&v| f32::from(v) * scale).collect()
}

/// Replaces the int8-able weights of float inputs by quantized ones (hybrid node), and returns
/// the float weights they stand for.
fn hybridize(s: &Spec, w: &Weights, inputs: &mut [Option<TestInput>]) -> Weights {
    let mut deq = w.clone();
    let mut swap = |slot: usize, v: &[f32], shape: &[usize]| -> Vec<f32> {
        let (q, scale) = quantize_weights(v);
        let info = TensorInfo::new("q", DType::Int8, shape.to_vec()).with_quant(scale, 0);
        inputs[slot] = Some(TestInput::const_from_slice(info, &q));
        dequantize(&q, scale)
    };
    for g in 0..4 {
        if w.input[g].is_empty() {
            continue;
        }
        deq.input[g] = swap(slot::INPUT_WEIGHTS[g], &w.input[g], &[s.n_cell, s.n_input]);
        if !s.diag {
            deq.recurrent[g] = swap(
                slot::RECURRENT_WEIGHTS[g],
                &w.recurrent[g],
                &[s.n_cell, s.n_output],
            );
        }
        if let Some(p) = slot::PEEPHOLE[g]
            && !w.peephole[g].is_empty()
        {
            deq.peephole[g] = swap(p, &w.peephole[g], &[s.n_cell]);
        }
    }
    if s.projection {
        deq.projection = swap(
            slot::PROJECTION_WEIGHTS,
            &w.projection,
            &[s.n_output, s.n_cell],
        );
    }
    deq
}

#[test]
fn hybrid_agrees_with_float() {
    let base = Spec::basic(2, 4, 5, 6);
    let cases = [
        ("plain", base),
        (
            "time-major",
            Spec {
                time_major: true,
                ..base
            },
        ),
        (
            "cifg+peephole+projection",
            Spec {
                cifg: true,
                peephole: true,
                projection: true,
                projection_bias: true,
                n_output: 4,
                ..base
            },
        ),
        (
            "layer norm",
            Spec {
                layer_norm: true,
                ..base
            },
        ),
        ("diagonal", Spec { diag: true, ..base }),
    ];
    for (k, (what, s)) in cases.iter().enumerate() {
        let w = Weights::random(s, 21 + k as u64);
        let x = Rng(7 + k as u64).vec(s.n_batch * s.max_time * s.n_input, 1.0);
        for asymmetric in [false, true] {
            let mut inputs = float_inputs(s, &w, &x);
            let deq = hybridize(s, &w, &mut inputs);
            let out = f32_tensor("output", &s.io_shape(s.n_output));
            let mut kernel = make_kernel(
                &ScalarBackend,
                &s.op(asymmetric),
                &inputs,
                core::slice::from_ref(&out),
            )
            .unwrap()
            .unwrap();
            assert_eq!(
                kernel.name(),
                "unidirectional_sequence_lstm_hybrid_i8__scalar"
            );
            let bytes = crate::testing::run_kernel(kernel.as_mut(), &inputs, &[out]).unwrap();
            let got: Vec<f32> = cast(&bytes[0]);
            // The float kernel on the dequantized weights differs only by the int8 rounding of
            // the input and the output state.
            let want = run_float(s, &deq, &x);
            assert_close(&got, &want, 2e-2, what);
        }
    }
}

#[test]
fn hybrid_quantizes_like_litert() {
    use super::float::quantize;
    let mut q = [0i8; 4];
    // Symmetric: scale = max|v| / 127.
    let (s, z) = quantize(&[0.5, -1.0, 0.25, 0.0], &mut q, false);
    assert_eq!((s, z), (1.0 / 127.0, 0));
    assert_eq!(q, [64, -127, 32, 0]);
    // Asymmetric over [min(0, lo), max(0, hi)] = [-1, 0.5]: scale 1.5/255, zero point from the
    // end with the smaller error: -128 + 1/(1.5/255) = 42.
    let (s, z) = quantize(&[0.5, -1.0, 0.25, 0.0], &mut q, true);
    assert_eq!(s, (1.5f64 / 255.0) as f32);
    assert_eq!(z, 42);
    assert_eq!(q, [127, -128, 85, 42]);
    // All zero: scale 1.
    assert_eq!(quantize(&[0.0; 4], &mut q, true), (1.0, 0));
    assert_eq!(q, [0; 4]);
}

/// Runs `kernel` with the states (inputs 18 and 19) writable, as the interpreter lends variable
/// tensors, and stores the updated states back into `inputs`.
pub(super) fn run_with_state(
    kernel: &mut dyn Kernel,
    inputs: &mut [Option<TestInput>],
    outputs: &[TensorInfo],
) -> Vec<Vec<u8>> {
    Harness::new()
        .state(&[slot::OUTPUT_STATE, slot::CELL_STATE])
        .run(kernel, inputs, outputs)
        .unwrap()
}

#[test]
fn state_carries_across_invokes() {
    // Two invokes of 3 steps continue the sequence as one invoke of 6 steps.
    let long = Spec {
        projection: true,
        n_output: 3,
        ..Spec::basic(2, 6, 3, 4)
    };
    let short = Spec {
        max_time: 3,
        ..long
    };
    let w = Weights::random(&long, 3);
    let x = Rng(4).vec(2 * 6 * 3, 1.0);
    let want = run_float(&long, &w, &x);

    let halves: Vec<Vec<f32>> = (0..2)
        .map(|half| {
            (0..2)
                .flat_map(|b| x[b * 18 + half * 9..][..9].to_vec())
                .collect()
        })
        .collect();
    let mut inputs = float_inputs(&short, &w, &halves[0]);
    let out = f32_tensor("output", &short.io_shape(3));
    let mut kernel = make_kernel(
        &ScalarBackend,
        &short.op(false),
        &inputs,
        core::slice::from_ref(&out),
    )
    .unwrap()
    .unwrap();
    let mut got = [Vec::new(), Vec::new()];
    for (half, xh) in halves.iter().enumerate() {
        inputs[slot::INPUT].as_mut().unwrap().bytes = bytemuck::cast_slice(xh).to_vec();
        let bytes = run_with_state(kernel.as_mut(), &mut inputs, core::slice::from_ref(&out));
        got[half] = cast(&bytes[0]);
    }
    for b in 0..2 {
        let joined: Vec<f32> = [&got[0][b * 9..][..9], &got[1][b * 9..][..9]].concat();
        assert_close(&joined, &want[b * 18..][..18], 1e-6, "carried state");
    }
    // The states hold the last step's output and a non-zero cell.
    let h: Vec<f32> = cast(&inputs[slot::OUTPUT_STATE].as_ref().unwrap().bytes);
    assert_eq!(h[..3], want[15..18]);
    let c: Vec<f32> = cast(&inputs[slot::CELL_STATE].as_ref().unwrap().bytes);
    assert!(c.iter().any(|&v| v != 0.0));
}

#[test]
fn read_only_state_is_used_but_not_kept() {
    // Outside an interpreter the state inputs are read-only: the kernel starts from them and
    // works on a copy, so two runs give the same output.
    let s = Spec::basic(1, 3, 2, 2);
    let w = Weights::random(&s, 9);
    let x = Rng(10).vec(6, 1.0);
    let mut inputs = float_inputs(&s, &w, &x);
    inputs[slot::OUTPUT_STATE] = Some(TestInput::from_slice(
        f32_tensor("output_state", &[1, 2]),
        &[0.5f32, -0.5],
    ));
    let out = f32_tensor("output", &s.io_shape(2));
    let mut kernel = make_kernel(
        &ScalarBackend,
        &s.op(false),
        &inputs,
        core::slice::from_ref(&out),
    )
    .unwrap()
    .unwrap();
    let a =
        crate::testing::run_kernel(kernel.as_mut(), &inputs, core::slice::from_ref(&out)).unwrap();
    let b = crate::testing::run_kernel(kernel.as_mut(), &inputs, &[out]).unwrap();
    assert_eq!(a, b);
    let zero_state = run_float(&s, &w, &x);
    let from_state: Vec<f32> = cast(&a[0]);
    assert_ne!(from_state, zero_state);
}

/// Builds an int8 (8x8_16) node from float weights: per-tensor int8 weights, int32 biases at
/// `weight_scale * input_scale`, an int16 cell state at 2^-11, and the hidden intermediate.
fn integer_node(
    s: &Spec,
    w: &Weights,
    input_scale: f32,
    output_scale: f32,
    output_zp: i32,
) -> (Vec<Option<TestInput>>, Vec<TensorInfo>, TensorInfo, Weights) {
    let mut inputs: Vec<Option<TestInput>> = vec![None; 24];
    let mut deq = w.clone();
    let q8 = |v: &[f32], shape: &[usize]| {
        let (q, scale) = quantize_weights(v);
        let info = TensorInfo::new("w", DType::Int8, shape.to_vec()).with_quant(scale, 0);
        (
            TestInput::const_from_slice(info, &q),
            dequantize(&q, scale),
            scale,
        )
    };
    for g in 0..4 {
        if w.input[g].is_empty() {
            continue;
        }
        let (t, d, wscale) = q8(&w.input[g], &[s.n_cell, s.n_input]);
        inputs[slot::INPUT_WEIGHTS[g]] = Some(t);
        deq.input[g] = d;
        let (t, d, _) = q8(&w.recurrent[g], &[s.n_cell, s.n_output]);
        inputs[slot::RECURRENT_WEIGHTS[g]] = Some(t);
        deq.recurrent[g] = d;
        let bias_scale = wscale * input_scale;
        let qb: Vec<i32> = w.bias[g]
            .iter()
            .map(|b| (b / bias_scale).round() as i32)
            .collect();
        deq.bias[g] = qb.iter().map(|&b| b as f32 * bias_scale).collect();
        let info = TensorInfo::new("b", DType::Int32, vec![s.n_cell]).with_quant(bias_scale, 0);
        inputs[slot::BIAS[g]] = Some(TestInput::const_from_slice(info, &qb));
    }
    inputs[slot::INPUT] = Some(TestInput::from_slice(
        TensorInfo::new("input", DType::Int8, s.io_shape(s.n_input)).with_quant(input_scale, 0),
        &vec![0i8; s.n_batch * s.max_time * s.n_input],
    ));
    inputs[slot::OUTPUT_STATE] = Some(TestInput::from_slice(
        TensorInfo::new("h", DType::Int8, vec![s.n_batch, s.n_output])
            .with_quant(output_scale, i64::from(output_zp)),
        &vec![output_zp as i8; s.n_batch * s.n_output],
    ));
    inputs[slot::CELL_STATE] = Some(TestInput::from_slice(
        TensorInfo::new("c", DType::Int16, vec![s.n_batch, s.n_cell]).with_quant(2f32.powi(-11), 0),
        &vec![0i16; s.n_batch * s.n_cell],
    ));
    let intermediates: Vec<TensorInfo> = (0..5)
        .map(|k| {
            let t = TensorInfo::new("intermediate", DType::Float32, vec![0]);
            if k == 4 {
                t.with_quant(output_scale, i64::from(output_zp))
            } else {
                t
            }
        })
        .collect();
    let out = TensorInfo::new("output", DType::Int8, s.io_shape(s.n_output))
        .with_quant(output_scale, i64::from(output_zp));
    (inputs, intermediates, out, deq)
}

fn run_integer(
    s: &Spec,
    inputs: &[Option<TestInput>],
    intermediates: &[TensorInfo],
    out: &TensorInfo,
) -> Result<Vec<i8>, KernelError> {
    let mut kernel = make_integer_kernel(s, inputs, intermediates, out)?;
    let bytes = crate::testing::run_kernel(kernel.as_mut(), inputs, core::slice::from_ref(out))?;
    Ok(cast(&bytes[0]))
}

/// `make_kernel` with intermediates (the testing helper leaves them empty).
fn make_integer_kernel(
    s: &Spec,
    inputs: &[Option<TestInput>],
    intermediates: &[TensorInfo],
    out: &TensorInfo,
) -> Result<alloc::boxed::Box<dyn Kernel>, KernelError> {
    let infos: Vec<Option<&TensorInfo>> =
        inputs.iter().map(|i| i.as_ref().map(|i| &i.info)).collect();
    let constants: Vec<Option<&[u8]>> = inputs
        .iter()
        .map(|i| {
            i.as_ref()
                .filter(|i| i.constant)
                .map(|i| i.bytes.as_slice())
        })
        .collect();
    let inter: Vec<&TensorInfo> = intermediates.iter().collect();
    let op = s.op(false);
    let node = crate::kernel::NodeCtx {
        subgraph: 0,
        index: 0,
        op: &op,
        inputs: &infos,
        constants: &constants,
        outputs: &[out],
        intermediates: &inter,
    };
    super::kernel_for(&node).map(|k| k.expect("the family takes LSTM nodes"))
}

#[test]
fn integer_agrees_with_float() {
    let base = Spec::basic(2, 5, 3, 4);
    let cases = [
        ("plain", base),
        (
            "time-major, cifg",
            Spec {
                time_major: true,
                cifg: true,
                ..base
            },
        ),
        (
            "cell clip",
            Spec {
                cell_clip: 0.5,
                ..base
            },
        ),
    ];
    for (k, (what, s)) in cases.iter().enumerate() {
        let w = Weights::random(s, 31 + k as u64);
        let x = Rng(3 + k as u64).vec(s.n_batch * s.max_time * s.n_input, 1.0);
        let input_scale = 1.0 / 127.0;
        let (output_scale, output_zp) = (1.0 / 128.0, -3);
        let (mut inputs, inter, out, deq) =
            integer_node(s, &w, input_scale, output_scale, output_zp);
        let xq: Vec<i8> = x
            .iter()
            .map(|v| (v / input_scale).round().clamp(-128.0, 127.0) as i8)
            .collect();
        inputs[slot::INPUT].as_mut().unwrap().bytes = bytemuck::cast_slice(&xq).to_vec();
        let got = run_integer(s, &inputs, &inter, &out).unwrap();
        let got: Vec<f32> = got
            .iter()
            .map(|&q| (i32::from(q) - output_zp) as f32 * output_scale)
            .collect();
        let xd: Vec<f32> = xq.iter().map(|&q| f32::from(q) * input_scale).collect();
        let want = reference(s, &deq, &xd);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() < 0.03,
                "{what}: element {i}: got {g}, want {w}"
            );
        }
    }
}

#[test]
fn integer_kernel_name_and_requirements() {
    let s = Spec::basic(1, 2, 3, 4);
    let w = Weights::random(&s, 2);
    let (inputs, inter, out, _) = integer_node(&s, &w, 0.01, 0.01, 0);
    let k = make_integer_kernel(&s, &inputs, &inter, &out).unwrap();
    assert_eq!(k.name(), "unidirectional_sequence_lstm_i8__scalar");
    // Without intermediates the hidden scale is unknown.
    assert!(matches!(
        make_integer_kernel(&s, &inputs, &[], &out),
        Err(KernelError::Invalid(_))
    ));
    // A cell state whose scale is not a power of two is refused.
    let mut bad = inputs.clone();
    bad[slot::CELL_STATE].as_mut().unwrap().info =
        TensorInfo::new("c", DType::Int16, vec![1, 4]).with_quant(3e-4, 0);
    assert!(make_integer_kernel(&s, &bad, &inter, &out).is_err());
}

#[test]
fn integer_step_by_hand() {
    // One unit, one input; all weights 1 at scale 1/127 (so each product is 1/127 * x), zero
    // biases, input 0.5 (q = 64 at 1/128), output at 1/128.
    let s = Spec::basic(1, 1, 1, 1);
    let mut inputs: Vec<Option<TestInput>> = vec![None; 24];
    let w = |v: i8| {
        Some(TestInput::const_from_slice(
            TensorInfo::new("w", DType::Int8, vec![1, 1]).with_quant(1.0 / 127.0, 0),
            &[v],
        ))
    };
    for g in 0..4 {
        inputs[slot::INPUT_WEIGHTS[g]] = w(127);
        inputs[slot::RECURRENT_WEIGHTS[g]] = w(127);
        inputs[slot::BIAS[g]] = Some(TestInput::const_from_slice(
            TensorInfo::new("b", DType::Int32, vec![1]),
            &[0i32],
        ));
    }
    inputs[slot::INPUT] = Some(TestInput::from_slice(
        TensorInfo::new("x", DType::Int8, vec![1, 1, 1]).with_quant(1.0 / 128.0, 0),
        &[64i8],
    ));
    inputs[slot::OUTPUT_STATE] = Some(TestInput::from_slice(
        TensorInfo::new("h", DType::Int8, vec![1, 1]).with_quant(1.0 / 128.0, 0),
        &[0i8],
    ));
    inputs[slot::CELL_STATE] = Some(TestInput::from_slice(
        TensorInfo::new("c", DType::Int16, vec![1, 1]).with_quant(2f32.powi(-15), 0),
        &[0i16],
    ));
    let inter: Vec<TensorInfo> = (0..5)
        .map(|_| TensorInfo::new("i", DType::Float32, vec![0]).with_quant(1.0 / 128.0, 0))
        .collect();
    let out = TensorInfo::new("y", DType::Int8, vec![1, 1, 1]).with_quant(1.0 / 128.0, 0);
    let got = run_integer(&s, &inputs, &inter, &out).unwrap();
    // Each gate's pre-activation: 127 * 64 at scale (1/127)(1/128) = 0.5, i.e. 2048 in Q3.12.
    let pre = 2048i16;
    let i = fixed16::logistic(pre, 3);
    let g = fixed16::tanh(pre, 3);
    // c = i * g / 2^(30 - 15) at 2^-15.
    let c = ((i32::from(i) * i32::from(g) + (1 << 14)) >> 15) as i16;
    let o = fixed16::logistic(pre, 3);
    let t = fixed16::tanh(c, 0);
    // h = o * t at 2^-30, to 1/128: multiply by 2^-30 * 128 = 2^-23.
    let h = ((i32::from(o) * i32::from(t) + (1 << 22)) >> 23) as i8;
    assert_eq!(got, [h]);
    // Close to the real LSTM: sigmoid(0.5) * tanh(sigmoid(0.5) * tanh(0.5)).
    let sg = 1.0 / (1.0 + (-0.5f64).exp());
    let real = sg * (sg * 0.5f64.tanh()).tanh();
    assert!((f64::from(h) / 128.0 - real).abs() < 1.0 / 128.0);
}

#[test]
fn invalid_nodes_are_refused() {
    let s = Spec::basic(1, 2, 3, 4);
    let w = Weights::random(&s, 1);
    let x = vec![0f32; 6];
    let out = f32_tensor("output", &s.io_shape(4));
    let check = |inputs: Vec<Option<TestInput>>, out: &TensorInfo, what: &str| {
        let r = make_kernel(
            &ScalarBackend,
            &s.op(false),
            &inputs,
            core::slice::from_ref(out),
        );
        assert!(
            matches!(r, Err(KernelError::Invalid(_))),
            "{what}: {:?}",
            r.err()
        );
    };
    // Wrong input-to-forget shape.
    let mut inputs = float_inputs(&s, &w, &x);
    inputs[slot::INPUT_WEIGHTS[1]] = Some(TestInput::const_from_slice(
        f32_tensor("wi", &[4, 2]),
        &[0f32; 8],
    ));
    check(inputs, &out, "weights shape");
    // Only one of the input gate's weights.
    let mut inputs = float_inputs(&s, &w, &x);
    inputs[slot::RECURRENT_WEIGHTS[0]] = None;
    check(inputs, &out, "half CIFG");
    // A state with the wrong size.
    let mut inputs = float_inputs(&s, &w, &x);
    inputs[slot::CELL_STATE] = Some(TestInput::from_slice(f32_tensor("c", &[1, 3]), &[0f32; 3]));
    check(inputs, &out, "state size");
    // An output whose shape does not follow the input.
    check(
        float_inputs(&s, &w, &x),
        &f32_tensor("output", &[1, 2, 3]),
        "output shape",
    );
    // Only some peephole weights.
    let mut inputs = float_inputs(&s, &w, &x);
    inputs[10] = Some(TestInput::const_from_slice(
        f32_tensor("p", &[4]),
        &[0f32; 4],
    ));
    check(inputs, &out, "partial peephole");
    // Too few inputs.
    let inputs = float_inputs(&s, &w, &x)[..19].to_vec();
    check(inputs, &out, "arity");
    // Mixed types are a valid node the family does not run: float weights with int8 input.
    let mut inputs = float_inputs(&s, &w, &x);
    inputs[slot::INPUT] = Some(TestInput::from_slice(
        TensorInfo::new("input", DType::Int8, vec![1, 2, 3]).with_quant(0.1, 0),
        &[0i8; 6],
    ));
    let r = make_kernel(
        &ScalarBackend,
        &s.op(false),
        &inputs,
        core::slice::from_ref(&out),
    );
    assert!(
        matches!(r, Err(KernelError::Unsupported(_))),
        "{:?}",
        r.err()
    );
}

#[test]
fn other_ops_are_declined() {
    let r = make_kernel(&ScalarBackend, &Op::Relu, &[], &[]);
    // Another family may answer; the LSTM family itself says None.
    let _ = r;
    let node = crate::kernel::NodeCtx {
        subgraph: 0,
        index: 0,
        op: &Op::Relu,
        inputs: &[],
        constants: &[],
        outputs: &[],
        intermediates: &[],
    };
    assert!(super::kernel_for(&node).unwrap().is_none());
}

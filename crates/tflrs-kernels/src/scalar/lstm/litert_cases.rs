//! The LSTM kernels against LiteRT on nodes with every option, two invokes in a row (the state
//! carried by the variable tensors).
//!
//! Each case's node was also written as a one-operator `.tflite` file and run twice by LiteRT
//! (`ai-edge-litert` 2.3.0, `OpResolverType.BUILTIN_REF`); the constants below are its outputs
//! of both invokes, concatenated. The node's data comes from the integer generator [`lcg`],
//! which the generating script implements the same way, so the node here is the same bit for
//! bit: tensor `slot` of case `seed` uses seed `1000 * seed + slot`, the input of invoke `k`
//! seed `1000 * seed + 100 + k`. Integer outputs must match exactly; float ones within 1e-6.

use super::slot;
use super::tests::run_with_state;
use crate::Kernel;
use crate::scalar::ScalarBackend;
use crate::tensor::TensorInfo;
use crate::testing::TestInput;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{Activation, DType, Op, UnidirectionalSequenceLstmAttrs};

const I8_LN_PEEPHOLE_PROJECTION: [i8; 48] = [
    3, 3, 13, 7, 13, 4, 14, 18, 11, -15, -4, 13, 10, -27, -1, -13, 2, -17, -18, 1, 7, -24, -19, 4,
    -2, -15, -16, 3, 7, -11, 1, 11, 8, -1, 14, 14, 15, -32, -13, -2, 8, -29, -17, -1, 6, -11, -1,
    8,
];

const I8_CIFG_PROJECTION_TIME_MAJOR: [i8; 36] = [
    -6, -7, -10, -3, -9, -12, -4, -3, -1, -2, -11, -14, -15, -2, 10, -25, 9, 0, 2, -11, -11, -18,
    5, -3, -3, -1, -4, -9, -3, -11, -2, -9, -12, -8, -5, -5,
];

const I8_BATCHES: [i8; 96] = [
    18, -1, -17, 12, 13, 9, -20, 2, -9, -17, -1, -35, -24, -8, 16, -13, 8, -17, -2, 14, 12, -2,
    -29, -24, -21, 7, -40, -32, -4, -17, -10, -13, 7, -5, -21, -7, -16, -29, 7, -3, -13, 3, -4, 9,
    3, -4, -36, -38, 3, -57, -13, -36, 4, -13, -32, -24, -3, 13, -34, -21, -30, 12, -16, -47, -27,
    -17, 13, -15, -1, -1, -14, 2, -19, -12, 4, -22, -14, -34, 7, -13, -6, 0, -17, -3, 12, 11, -16,
    18, 16, -16, -29, -16, -10, 3, -9, -8,
];

const HYBRID_ASYMMETRIC_FULL: [f32; 48] = [
    -0.1925533,
    0.25,
    0.035799585,
    -0.10416878,
    -0.19758037,
    0.18494579,
    0.0052999184,
    0.0100858975,
    -0.25,
    0.25,
    0.13139772,
    -0.17090641,
    -0.15802212,
    0.237649,
    0.2153601,
    -0.06660663,
    -0.20462891,
    0.25,
    0.23642999,
    -0.12855145,
    -0.24028632,
    0.25,
    0.1466526,
    -0.20852917,
    -0.040761,
    0.25,
    0.14898866,
    -0.13376376,
    -0.21160334,
    0.25,
    0.100302175,
    -0.20883168,
    -0.24948378,
    0.25,
    0.03604512,
    -0.121263005,
    -0.25,
    0.25,
    0.17575005,
    -0.25,
    -0.1434414,
    0.25,
    0.14849935,
    -0.18806994,
    -0.19967164,
    0.25,
    0.16686772,
    -0.09145212,
];

const HYBRID_SYMMETRIC_CIFG_DIAGONAL: [f32; 72] = [
    0.09188251,
    -0.0014610359,
    0.15737674,
    0.05454483,
    0.028494205,
    -0.14026497,
    0.06250347,
    -0.03853352,
    -0.096474536,
    -0.094683036,
    0.2038074,
    0.048865087,
    -0.06904281,
    -0.070032395,
    0.23114014,
    0.036702815,
    0.03854385,
    -0.2360257,
    -0.1932455,
    -0.057941217,
    -0.13221875,
    -0.12815459,
    0.114234045,
    0.08729285,
    0.024524823,
    -0.05030432,
    0.21590604,
    0.046629928,
    0.027662404,
    -0.1902269,
    -0.119850434,
    0.027981676,
    0.16730845,
    -0.03186384,
    0.08512996,
    -0.16144297,
    0.06921437,
    -0.03582532,
    0.11454838,
    0.03388488,
    0.08196844,
    -0.1902205,
    0.011114145,
    -0.023865666,
    0.22667429,
    0.0014234348,
    0.17773001,
    -0.25437495,
    0.07413218,
    -0.027556306,
    0.21429318,
    0.07003828,
    0.037554126,
    -0.2524756,
    0.007162157,
    -0.03870366,
    0.2064906,
    0.040455773,
    0.09490446,
    -0.301513,
    0.049044825,
    -0.032271642,
    0.16951598,
    0.039870378,
    0.21851252,
    -0.2623915,
    -0.011526401,
    -0.075755164,
    0.2650755,
    0.039464246,
    0.026348703,
    -0.2501529,
];

const F32_FULL_TIME_MAJOR: [f32; 24] = [
    -0.21640871,
    0.06681737,
    -0.19015102,
    0.08997094,
    -0.22813985,
    -0.047249068,
    -0.1942036,
    -0.0123493625,
    -0.1952474,
    -0.053116966,
    -0.17106625,
    -0.038302213,
    -0.20477271,
    -0.09171076,
    -0.1846318,
    -0.057969104,
    -0.20543836,
    -0.042957272,
    -0.22055846,
    0.011572876,
    -0.19293082,
    -0.08040908,
    -0.20705348,
    0.017737105,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Float,
    Hybrid,
    Int8,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    seed: u32,
    mode: Mode,
    batch: usize,
    time: usize,
    input: usize,
    cell: usize,
    output: usize,
    time_major: bool,
    cifg: bool,
    peephole: bool,
    projection: bool,
    projection_bias: bool,
    layer_norm: bool,
    diag: bool,
    cell_clip: f32,
    proj_clip: f32,
    asymmetric: bool,
    cell_log2: i32,
}

const BASE: Case = Case {
    seed: 0,
    mode: Mode::Int8,
    batch: 2,
    time: 3,
    input: 3,
    cell: 4,
    output: 4,
    time_major: false,
    cifg: false,
    peephole: false,
    projection: false,
    projection_bias: true,
    layer_norm: false,
    diag: false,
    cell_clip: 0.0,
    proj_clip: 0.0,
    asymmetric: false,
    cell_log2: -11,
};

/// `n` values of a 32-bit linear congruential generator, 15 bits each.
fn lcg(seed: u32, n: usize) -> Vec<u32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 16) & 0x7fff
        })
        .collect()
}

fn data_i8(seed: u32, n: usize) -> Vec<i8> {
    lcg(seed, n)
        .iter()
        .map(|&v| ((v % 255) as i32 - 127) as i8)
        .collect()
}

fn data_int(seed: u32, n: usize, lo: i32, hi: i32) -> Vec<i32> {
    lcg(seed, n)
        .iter()
        .map(|&v| lo + (v % (hi - lo) as u32) as i32)
        .collect()
}

fn data_f32(seed: u32, n: usize, magnitude: f32) -> Vec<f32> {
    lcg(seed, n)
        .iter()
        .map(|&v| ((v % 2001) as i32 - 1000) as f32 / 1000.0 * magnitude)
        .collect()
}

const PEEPHOLE: [Option<usize>; 4] = [Some(9), Some(10), None, Some(11)];

impl Case {
    fn io_shape(&self, last: usize) -> Vec<usize> {
        if self.time_major {
            vec![self.time, self.batch, last]
        } else {
            vec![self.batch, self.time, last]
        }
    }

    /// The node's 24 inputs, its intermediates and its output.
    fn node(&self) -> (Vec<Option<TestInput>>, Vec<TensorInfo>, TensorInfo) {
        let seed = self.seed * 1000;
        let (nc, ni, no) = (self.cell, self.input, self.output);
        let mut inputs: Vec<Option<TestInput>> = vec![None; 24];
        let int8 = self.mode == Mode::Int8;
        let tensor = |dtype, shape: &[usize]| TensorInfo::new("t", dtype, shape.to_vec());
        let f32_const = |s: usize, shape: &[usize], magnitude: f32| {
            let n = shape.iter().product();
            Some(TestInput::const_from_slice(
                tensor(DType::Float32, shape),
                &data_f32(seed + s as u32, n, magnitude),
            ))
        };
        let weight = |s: usize, shape: &[usize], magnitude: f32, scale: f32| {
            if self.mode == Mode::Float {
                f32_const(s, shape, magnitude)
            } else {
                let n = shape.iter().product();
                Some(TestInput::const_from_slice(
                    tensor(DType::Int8, shape).with_quant(scale, 0),
                    &data_i8(seed + s as u32, n),
                ))
            }
        };
        let int_const = |s: usize, n: usize, lo: i32, hi: i32, dtype: DType, scale: Option<f32>| {
            let v = data_int(seed + s as u32, n, lo, hi);
            let info = tensor(dtype, &[n]);
            let info = match scale {
                Some(q) => info.with_quant(q, 0),
                None => info,
            };
            Some(match dtype {
                DType::Int16 => {
                    let v: Vec<i16> = v.iter().map(|&x| x as i16).collect();
                    TestInput::const_from_slice(info, &v)
                }
                _ => TestInput::const_from_slice(info, &v),
            })
        };
        for g in 0..4 {
            if self.cifg && g == 0 {
                continue;
            }
            inputs[1 + g] = weight(1 + g, &[nc, ni], 0.6, 1.0 / 256.0);
            inputs[5 + g] = if self.diag {
                f32_const(5 + g, &[nc], 0.5)
            } else {
                weight(5 + g, &[nc, no], 0.5, 1.0 / 256.0)
            };
            if self.peephole
                && let Some(p) = PEEPHOLE[g]
            {
                inputs[p] = match self.mode {
                    Mode::Float => f32_const(p, &[nc], 0.4),
                    Mode::Hybrid => weight(p, &[nc], 0.4, 1.0 / 512.0),
                    Mode::Int8 => {
                        int_const(p, nc, -20000, 20000, DType::Int16, Some(1.0 / 65536.0))
                    }
                };
            }
            inputs[12 + g] = if int8 {
                int_const(12 + g, nc, -2000, 2000, DType::Int32, None)
            } else {
                f32_const(12 + g, &[nc], 0.3)
            };
            if self.layer_norm {
                inputs[20 + g] = if int8 {
                    int_const(20 + g, nc, 10000, 32000, DType::Int16, Some(1.0 / 16384.0))
                } else {
                    let v: Vec<f32> = data_f32(seed + 20 + g as u32, nc, 0.5)
                        .iter()
                        .map(|x| 1.0 + x)
                        .collect();
                    Some(TestInput::const_from_slice(
                        tensor(DType::Float32, &[nc]),
                        &v,
                    ))
                };
            }
        }
        if self.projection {
            inputs[16] = weight(16, &[no, nc], 0.5, 1.0 / 256.0);
            if self.projection_bias {
                inputs[17] = if int8 {
                    int_const(17, no, -500, 500, DType::Int32, None)
                } else {
                    f32_const(17, &[no], 0.2)
                };
            }
        }
        let rows = self.batch * self.time;
        let mut intermediates = Vec::new();
        let output;
        if int8 {
            inputs[slot::INPUT] = Some(TestInput::from_slice(
                tensor(DType::Int8, &self.io_shape(ni)).with_quant(1.0 / 64.0, 3),
                &vec![0i8; rows * ni],
            ));
            // LiteRT resets an int8 variable to its zero point.
            inputs[slot::OUTPUT_STATE] = Some(TestInput::from_slice(
                tensor(DType::Int8, &[self.batch, no]).with_quant(1.0 / 128.0, -5),
                &vec![-5i8; self.batch * no],
            ));
            inputs[slot::CELL_STATE] = Some(TestInput::from_slice(
                tensor(DType::Int16, &[self.batch, nc]).with_quant(2f32.powi(self.cell_log2), 0),
                &vec![0i16; self.batch * nc],
            ));
            for _ in 0..4 {
                let t = tensor(DType::Float32, &[0]);
                intermediates.push(if self.layer_norm {
                    t.with_quant(1.0 / 256.0, 0)
                } else {
                    t
                });
            }
            intermediates.push(tensor(DType::Int8, &[0]).with_quant(1.0 / 128.0, -5));
            output = tensor(DType::Int8, &self.io_shape(no)).with_quant(1.0 / 128.0, -5);
        } else {
            inputs[slot::INPUT] = Some(TestInput::from_slice(
                tensor(DType::Float32, &self.io_shape(ni)),
                &vec![0f32; rows * ni],
            ));
            inputs[slot::OUTPUT_STATE] = Some(TestInput::from_slice(
                tensor(DType::Float32, &[self.batch, no]),
                &vec![0f32; self.batch * no],
            ));
            inputs[slot::CELL_STATE] = Some(TestInput::from_slice(
                tensor(DType::Float32, &[self.batch, nc]),
                &vec![0f32; self.batch * nc],
            ));
            output = tensor(DType::Float32, &self.io_shape(no));
        }
        (inputs, intermediates, output)
    }

    fn kernel(
        &self,
        inputs: &[Option<TestInput>],
        intermediates: &[TensorInfo],
        output: &TensorInfo,
    ) -> Box<dyn Kernel> {
        let op = Op::UnidirectionalSequenceLstm(UnidirectionalSequenceLstmAttrs {
            fused_activation_function: Activation::Tanh,
            cell_clip: self.cell_clip,
            proj_clip: self.proj_clip,
            time_major: self.time_major,
            asymmetric_quantize_inputs: self.asymmetric,
            diagonal_recurrent_tensors: false,
        });
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
        let node = crate::kernel::NodeCtx {
            subgraph: 0,
            index: 0,
            op: &op,
            inputs: &infos,
            constants: &constants,
            outputs: &[output],
            intermediates: &inter,
        };
        use crate::Backend;
        ScalarBackend.kernel_for(&node).unwrap().unwrap()
    }

    /// Runs both invokes; returns the outputs' bytes, concatenated.
    fn run(&self) -> Vec<u8> {
        let (mut inputs, intermediates, output) = self.node();
        let mut kernel = self.kernel(&inputs, &intermediates, &output);
        let n = self.batch * self.time * self.input;
        let mut all = Vec::new();
        for k in 0..2 {
            let seed = self.seed * 1000 + 100 + k;
            inputs[slot::INPUT].as_mut().unwrap().bytes = if self.mode == Mode::Int8 {
                let x: Vec<i8> = data_int(seed, n, -128, 128)
                    .iter()
                    .map(|&v| v as i8)
                    .collect();
                bytemuck::cast_slice(&x).to_vec()
            } else {
                bytemuck::cast_slice(&data_f32(seed, n, 1.0)).to_vec()
            };
            let out = run_with_state(kernel.as_mut(), &mut inputs, core::slice::from_ref(&output));
            all.extend_from_slice(&out[0]);
        }
        all
    }
}

fn check_i8(case: Case, expected: &[i8]) {
    let got: Vec<i8> = case.run().iter().map(|&b| b as i8).collect();
    assert_eq!(got, expected, "{case:?}");
}

fn check_f32(case: Case, expected: &[f32]) {
    let got: Vec<f32> = case
        .run()
        .chunks_exact(4)
        .map(bytemuck::pod_read_unaligned)
        .collect();
    assert_eq!(got.len(), expected.len());
    for (i, (g, w)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6,
            "{case:?}: element {i}: got {g}, want {w}"
        );
    }
}

#[test]
fn int8_layer_norm_peephole_projection() {
    let case = Case {
        seed: 1,
        peephole: true,
        projection: true,
        layer_norm: true,
        cell_clip: 0.75,
        proj_clip: 0.5,
        ..BASE
    };
    check_i8(case, &I8_LN_PEEPHOLE_PROJECTION);
}

#[test]
fn int8_cifg_projection_time_major() {
    let case = Case {
        seed: 2,
        output: 3,
        cifg: true,
        projection: true,
        projection_bias: false,
        time_major: true,
        cell_log2: -15,
        ..BASE
    };
    check_i8(case, &I8_CIFG_PROJECTION_TIME_MAJOR);
}

#[test]
fn int8_batches() {
    let case = Case {
        seed: 3,
        batch: 3,
        time: 4,
        input: 5,
        cell_log2: -12,
        cell_clip: 1.0,
        ..BASE
    };
    check_i8(case, &I8_BATCHES);
}

#[test]
fn hybrid_asymmetric_with_every_option() {
    let case = Case {
        seed: 4,
        mode: Mode::Hybrid,
        input: 5,
        cell: 6,
        output: 4,
        peephole: true,
        projection: true,
        layer_norm: true,
        asymmetric: true,
        cell_clip: 0.5,
        proj_clip: 0.25,
        ..BASE
    };
    check_f32(case, &HYBRID_ASYMMETRIC_FULL);
}

#[test]
fn hybrid_symmetric_cifg_diagonal() {
    let case = Case {
        seed: 5,
        mode: Mode::Hybrid,
        input: 5,
        cell: 6,
        output: 6,
        cifg: true,
        diag: true,
        time_major: true,
        ..BASE
    };
    check_f32(case, &HYBRID_SYMMETRIC_CIFG_DIAGONAL);
}

#[test]
fn float_with_every_option_time_major() {
    let case = Case {
        seed: 6,
        mode: Mode::Float,
        output: 2,
        time_major: true,
        peephole: true,
        projection: true,
        layer_norm: true,
        cell_clip: 0.5,
        proj_clip: 0.3,
        ..BASE
    };
    check_f32(case, &F32_FULL_TIME_MAJOR);
}

//! The basic RNN family: RNN (one step) and UNIDIRECTIONAL_SEQUENCE_RNN, in float32 and hybrid
//! (float activations, int8 weights), as LiteRT's `basic_rnn.cc` and
//! `unidirectional_sequence_rnn.cc` compute them (`RnnBatchStep` in `kernel_utils.cc`).
//!
//! Inputs: the input, `input_weights [units, input_size]`, `recurrent_weights [units, units]`,
//! `bias [units]` and the hidden state `[batch, units]` (a variable tensor: the kernel updates
//! it in place, so a later invoke continues the sequence; where it is not writable the kernel
//! works on a copy in scratch). One step of one batch row:
//! `out = act(bias + W x + R h)`, then `h = out`.
//!
//! Hybrid steps quantize the input and the previous hidden state to int8 per batch row
//! (symmetric, or asymmetric with `asymmetric_quantize_inputs`), take int32 dot products with
//! the int8 weights, subtract `row_sum * zero_point`, and scale back by the row's scale times
//! the weights' scale. LiteRT skips the products when the whole batch's vector is zero; the
//! products of a zero row are zero, so stepping one row at a time gives the same results.

use crate::kernel::NodeCtx;
use crate::math::tanhf;
use crate::scalar::lstm::quantize;
use crate::scalar::qmath::clamp_f32;
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError, KernelIo};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{Activation, DType, Op};

const INPUT: usize = 0;
const WEIGHTS: usize = 1;
const RECURRENT: usize = 2;
const BIAS: usize = 3;
const HIDDEN: usize = 4;

/// LiteRT's `ApplyActivationToVector` for the fused activation.
fn activate(act: Activation, x: f32) -> f32 {
    match act {
        Activation::None => x,
        Activation::Relu => x.max(0.0),
        Activation::ReluN1To1 => clamp_f32(x, -1.0, 1.0),
        Activation::Relu6 => clamp_f32(x, 0.0, 6.0),
        Activation::Tanh => tanhf(x),
        Activation::SignBit => {
            if x.is_sign_negative() {
                1.0
            } else {
                0.0
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Layout {
    batch: usize,
    time: usize,
    input_size: usize,
    units: usize,
    time_major: bool,
}

impl Layout {
    fn row(&self, b: usize, t: usize) -> usize {
        if self.time_major {
            t * self.batch + b
        } else {
            b * self.time + t
        }
    }
}

fn expect_shape(t: &TensorInfo, shape: &[usize], what: &str) -> Result<(), KernelError> {
    crate::ensure!(
        t.shape == shape,
        "RNN {what} '{}' must have shape {shape:?}, has {:?}",
        t.name,
        t.shape
    );
    Ok(())
}

/// The per-tensor scale of int8 weights.
fn weight_scale(t: &TensorInfo) -> Result<f32, KernelError> {
    let s = t.scales();
    crate::ensure!(
        s.len() == 1,
        "RNN weights '{}' need one (per-tensor) scale, have {}",
        t.name,
        s.len()
    );
    Ok(s[0])
}

#[derive(Debug)]
struct RnnKernel {
    name: &'static str,
    layout: Layout,
    activation: Activation,
    /// `Some((input_scale, recurrent_scale, asymmetric))` for hybrid weights.
    hybrid: Option<(f32, f32, bool)>,
}

/// The family's factory: RNN and UNIDIRECTIONAL_SEQUENCE_RNN, `Ok(None)` for other operators.
pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let (seq, time_major, activation, asymmetric) = match node.op {
        Op::Rnn(a) => (
            false,
            false,
            a.fused_activation_function,
            a.asymmetric_quantize_inputs,
        ),
        Op::UnidirectionalSequenceRnn(a) => (
            true,
            a.time_major,
            a.fused_activation_function,
            a.asymmetric_quantize_inputs,
        ),
        _ => return Ok(None),
    };
    let op = if seq {
        "UNIDIRECTIONAL_SEQUENCE_RNN"
    } else {
        "RNN"
    };
    crate::ensure!(
        node.inputs.len() == 5,
        "{op} takes 5 inputs, got {}",
        node.inputs.len()
    );
    node.expect_outputs(1)?;
    let input = node.input(INPUT)?;
    let (batch, time) = match (seq, &input.shape[..]) {
        (false, [b, _]) => (*b, 1),
        (true, [a, b, _]) if time_major => (*b, *a),
        (true, [a, b, _]) => (*a, *b),
        _ => {
            return Err(KernelError::invalid(format!(
                "{op} input '{}' has shape {:?}, expected rank {}",
                input.name,
                input.shape,
                if seq { 3 } else { 2 }
            )));
        }
    };
    let input_size = input.shape[input.rank() - 1];
    let w = node.input(WEIGHTS)?;
    crate::ensure!(
        w.rank() == 2 && w.shape[1] == input_size,
        "{op} input weights '{}' must be [units, {input_size}], are {:?}",
        w.name,
        w.shape
    );
    let units = w.shape[0];
    let r = node.input(RECURRENT)?;
    expect_shape(r, &[units, units], "recurrent weights")?;
    let bias = node.input(BIAS)?;
    expect_shape(bias, &[units], "bias")?;
    let hidden = node.input(HIDDEN)?;
    crate::ensure!(
        Some(hidden.num_elements()) == batch.checked_mul(units),
        "{op} hidden state '{}' {:?} must hold {batch}x{units} elements",
        hidden.name,
        hidden.shape
    );
    let output = node.output(0)?;
    let mut expected = input.shape.clone();
    if let Some(last) = expected.last_mut() {
        *last = units;
    }
    crate::ensure!(
        output.shape == expected,
        "{op} output '{}' has shape {:?}, expected {expected:?}",
        output.name,
        output.shape
    );
    for t in [input, bias, hidden, output] {
        crate::ensure!(
            t.dtype == DType::Float32,
            "{op} tensor '{}' must be float32, is {:?}",
            t.name,
            t.dtype
        );
    }
    crate::ensure!(
        w.dtype == r.dtype,
        "{op} input weights ({:?}) and recurrent weights ({:?}) must have one type",
        w.dtype,
        r.dtype
    );
    let (name, hybrid) = match (seq, w.dtype) {
        (false, DType::Float32) => ("rnn_f32__scalar", None),
        (true, DType::Float32) => ("unidirectional_sequence_rnn_f32__scalar", None),
        (s, DType::Int8) => (
            if s {
                "unidirectional_sequence_rnn_f32__scalar_hybrid"
            } else {
                "rnn_f32__scalar_hybrid"
            },
            Some((weight_scale(w)?, weight_scale(r)?, asymmetric)),
        ),
        (_, d) => {
            return Err(KernelError::unsupported(format!("{op} with {d:?} weights")));
        }
    };
    Ok(Some(Box::new(RnnKernel {
        name,
        layout: Layout {
            batch,
            time,
            input_size,
            units,
            time_major,
        },
        activation,
        hybrid,
    })))
}

/// `out[r] += scale * (sum_c w[r][c] * q[c] - zero_point * sum_c w[r][c])`.
fn add_hybrid(out: &mut [f32], w: &[i8], q: &[i8], scale: f32, zero_point: i32) {
    let cols = q.len();
    for (r, o) in out.iter_mut().enumerate() {
        let row = &w[r * cols..][..cols];
        let mut dot = 0i32;
        let mut sum = 0i32;
        for (&a, &b) in row.iter().zip(q) {
            dot = dot.wrapping_add(i32::from(a) * i32::from(b));
            sum = sum.wrapping_add(i32::from(a));
        }
        let dot = dot.wrapping_sub(sum.wrapping_mul(zero_point));
        *o += dot as f32 * scale;
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (&x, &y)| acc + x * y)
}

impl Kernel for RnnKernel {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        let l = &self.layout;
        // A copy of the state (when not lent), the quantized input and hidden rows.
        16 + (l.batch * l.units * 4).div_ceil(16) * 16 + 16 + l.input_size + l.units
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let l = self.layout;
        let (inputs, mut outputs, [mut hs], scratch, _) = io.split_with_state([HIDDEN]);
        let (state_bytes, rest) = {
            let pad = scratch.as_ptr().align_offset(16).min(scratch.len());
            let s = &mut scratch[pad..];
            let n = l.batch * l.units * 4;
            crate::ensure!(s.len() >= n, "RNN scratch too small");
            s.split_at_mut(n)
        };
        let h_all: &mut [f32] = match hs.as_mut() {
            Some(t) => t.as_slice_mut()?,
            None => {
                let b: &mut [f32] = bytemuck::try_cast_slice_mut(state_bytes)
                    .map_err(|e| KernelError::invalid(format!("RNN scratch: {e:?}")))?;
                b.copy_from_slice(inputs.get(HIDDEN)?.as_slice::<f32>()?);
                b
            }
        };
        crate::ensure!(
            h_all.len() == l.batch * l.units,
            "RNN hidden state does not match the layout"
        );
        let rows = l.batch * l.time;
        let x_all = inputs.get(INPUT)?.as_slice::<f32>()?;
        let bias = inputs.get(BIAS)?.as_slice::<f32>()?;
        crate::ensure!(
            x_all.len() == rows * l.input_size && bias.len() == l.units,
            "RNN input or bias does not match the layout"
        );
        let mut out = outputs.get(0)?;
        let out_all = out.as_slice_mut::<f32>()?;
        crate::ensure!(
            out_all.len() == rows * l.units,
            "RNN output does not match the layout"
        );
        let w_t = inputs.get(WEIGHTS)?;
        let r_t = inputs.get(RECURRENT)?;
        match self.hybrid {
            None => {
                let w = w_t.as_slice::<f32>()?;
                let r = r_t.as_slice::<f32>()?;
                crate::ensure!(
                    w.len() == l.units * l.input_size && r.len() == l.units * l.units,
                    "RNN weights do not match the layout"
                );
                for t in 0..l.time {
                    for b in 0..l.batch {
                        let row = l.row(b, t);
                        let x = &x_all[row * l.input_size..][..l.input_size];
                        let h = &mut h_all[b * l.units..][..l.units];
                        let o = &mut out_all[row * l.units..][..l.units];
                        for (u, o) in o.iter_mut().enumerate() {
                            let mut v = bias[u];
                            v += dot(&w[u * l.input_size..][..l.input_size], x);
                            v += dot(&r[u * l.units..][..l.units], h);
                            *o = v;
                        }
                        for o in o.iter_mut() {
                            *o = activate(self.activation, *o);
                        }
                        h.copy_from_slice(o);
                    }
                }
            }
            Some((w_scale, r_scale, asymmetric)) => {
                let w = w_t.as_slice::<i8>()?;
                let r = r_t.as_slice::<i8>()?;
                crate::ensure!(
                    w.len() == l.units * l.input_size && r.len() == l.units * l.units,
                    "RNN weights do not match the layout"
                );
                let pad = rest.as_ptr().align_offset(16).min(rest.len());
                let rest = &mut rest[pad..];
                crate::ensure!(
                    rest.len() >= l.input_size + l.units,
                    "RNN scratch too small"
                );
                let (qx, rest) = rest.split_at_mut(l.input_size);
                let qh = &mut rest[..l.units];
                let qx: &mut [i8] = bytemuck::cast_slice_mut(qx);
                let qh: &mut [i8] = bytemuck::cast_slice_mut(qh);
                for t in 0..l.time {
                    for b in 0..l.batch {
                        let row = l.row(b, t);
                        let x = &x_all[row * l.input_size..][..l.input_size];
                        let h = &mut h_all[b * l.units..][..l.units];
                        let o = &mut out_all[row * l.units..][..l.units];
                        o.copy_from_slice(bias);
                        if x.iter().any(|&v| v != 0.0) {
                            let (s, zp) = quantize(x, qx, asymmetric);
                            add_hybrid(o, w, qx, s * w_scale, zp);
                        }
                        if h.iter().any(|&v| v != 0.0) {
                            let (s, zp) = quantize(h, qh, asymmetric);
                            add_hybrid(o, r, qh, s * r_scale, zp);
                        }
                        for o in o.iter_mut() {
                            *o = activate(self.activation, *o);
                        }
                        h.copy_from_slice(o);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::scalar::ScalarBackend;
    use crate::tensor::TensorInfo;
    use crate::testing::{Harness, TestInput, make_kernel};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{Activation, DType, Op, RnnAttrs, SequenceRnnAttrs, SvdfAttrs};

    fn f32s(name: &str, shape: &[usize], v: &[f32]) -> Option<TestInput> {
        Some(TestInput::from_slice(
            TensorInfo::new(name, DType::Float32, shape.to_vec()),
            v,
        ))
    }

    fn seq(n: usize, k: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + k).sin()) * 0.8)
            .collect()
    }

    fn floats(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// Two RNN invokes on a lent state equal one two-step UNIDIRECTIONAL_SEQUENCE_RNN.
    #[test]
    fn rnn_state_continues_like_a_sequence() {
        let (batch, n_in, units) = (2, 3, 4);
        let w = seq(units * n_in, 0.1);
        let r = seq(units * units, 0.7);
        let bias = seq(units, 1.3);
        let x1 = seq(batch * n_in, 2.0);
        let x2 = seq(batch * n_in, 3.0);
        let rnn = Op::Rnn(RnnAttrs {
            fused_activation_function: Activation::Tanh,
            asymmetric_quantize_inputs: false,
        });
        let out = vec![TensorInfo::new("o", DType::Float32, vec![batch, units])];
        let mut ins = vec![
            f32s("x", &[batch, n_in], &x1),
            f32s("w", &[units, n_in], &w),
            f32s("r", &[units, units], &r),
            f32s("b", &[units], &bias),
            f32s("h", &[batch, units], &vec![0.0; batch * units]),
        ];
        let mut h = Harness::new().state(&[4]);
        let first = floats(&h.run_node(&ScalarBackend, &rnn, &mut ins, &out).unwrap()[0]);
        ins[0] = f32s("x", &[batch, n_in], &x2);
        let second = floats(&h.run_node(&ScalarBackend, &rnn, &mut ins, &out).unwrap()[0]);

        // Time-major [2, batch, n_in]: step 0 is x1, step 1 is x2.
        let xs: Vec<f32> = x1.iter().chain(&x2).copied().collect();
        let op = Op::UnidirectionalSequenceRnn(SequenceRnnAttrs {
            time_major: true,
            fused_activation_function: Activation::Tanh,
            asymmetric_quantize_inputs: false,
        });
        let mut sins = vec![
            f32s("x", &[2, batch, n_in], &xs),
            f32s("w", &[units, n_in], &w),
            f32s("r", &[units, units], &r),
            f32s("b", &[units], &bias),
            f32s("h", &[batch, units], &vec![0.0; batch * units]),
        ];
        let sout = vec![TensorInfo::new("o", DType::Float32, vec![2, batch, units])];
        let all = floats(
            &Harness::new()
                .run_node(&ScalarBackend, &op, &mut sins, &sout)
                .unwrap()[0],
        );
        assert_eq!(&all[..batch * units], &first[..]);
        assert_eq!(&all[batch * units..], &second[..]);
        assert!(second.iter().zip(&first).any(|(a, b)| a != b));
    }

    /// Hostile shapes are typed errors, not panics.
    #[test]
    fn bad_shapes_are_errors() {
        let rnn = Op::Rnn(RnnAttrs {
            fused_activation_function: Activation::None,
            asymmetric_quantize_inputs: false,
        });
        let ins = vec![
            f32s("x", &[2, 3], &[0.0; 6]),
            f32s("w", &[4, 2], &[0.0; 8]),
            f32s("r", &[4, 4], &[0.0; 16]),
            f32s("b", &[4], &[0.0; 4]),
            f32s("h", &[2, 4], &[0.0; 8]),
        ];
        let out = vec![TensorInfo::new("o", DType::Float32, vec![2, 4])];
        assert!(make_kernel(&ScalarBackend, &rnn, &ins, &out).is_err());

        let svdf = Op::Svdf(SvdfAttrs {
            rank: 1,
            fused_activation_function: Activation::None,
            asymmetric_quantize_inputs: false,
        });
        let ins = vec![
            f32s("x", &[1, 3], &[0.0; 3]),
            f32s("f", &[0, 3], &[]),
            f32s("t", &[0, 2], &[]),
            None,
            f32s("s", &[1, 0], &[]),
        ];
        let out = vec![TensorInfo::new("o", DType::Float32, vec![1, 0])];
        assert!(make_kernel(&ScalarBackend, &svdf, &ins, &out).is_err());
        let svdf0 = Op::Svdf(SvdfAttrs {
            rank: 0,
            fused_activation_function: Activation::None,
            asymmetric_quantize_inputs: false,
        });
        let ins = vec![
            f32s("x", &[1, 3], &[0.0; 3]),
            f32s("f", &[2, 3], &[0.0; 6]),
            f32s("t", &[2, 2], &[0.0; 4]),
            None,
            f32s("s", &[1, 4], &[0.0; 4]),
        ];
        assert!(make_kernel(&ScalarBackend, &svdf0, &ins, &out).is_err());
    }
}

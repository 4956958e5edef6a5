//! Float32 and hybrid LSTM kernels (LiteRT's `EvalFloat` and `EvalHybrid`).
//!
//! One step, per batch row, in LiteRT's order: the input, forget and cell gates from the input
//! and the previous output state, the new cell state, the output gate (whose peephole sees the
//! new cell state), then the output state `o * act(c)`, projected and clipped when there is a
//! projection.
//!
//! Hybrid steps quantize the input and the previous output state to int8 per batch row (the
//! node's `asymmetric_quantize_inputs` picks LiteRT's asymmetric or symmetric scheme), multiply
//! them with the int8 weights in int32, and scale each dot product back with the product of the
//! two scales, subtracting `row_sum * zero_point` in the asymmetric case. Peephole weights are
//! int8 dequantized with their scale; biases, layer-norm coefficients and diagonal recurrent
//! weights stay float.

use super::{
    CELL_GATE, Layout, Scratch, constant_of, expect_dtype, row_sums, scratch_size, slice_of, slot,
    weight_scale,
};
use crate::kernel::{Inputs, NodeCtx};
use crate::math::{expf, sqrtf, tanhf};
use crate::scalar::qmath::{clamp_f32, round_f32, round_f64};
use crate::{Kernel, KernelError, KernelIo};
use alloc::vec::Vec;
use tflrs_ir::{Activation, DType, UnidirectionalSequenceLstmAttrs};

/// `1 / (1 + e^-x)`.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + expf(-x))
}

/// The node's activation for the cell gate and the output (LiteRT's `ApplyActivationToVector`).
///
/// `NONE` is the identity here; LiteRT's vector helper returns without writing for it, which
/// leaves stale values in its buffers, so no model can rely on that.
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

/// `min(max(x, -clip), clip)`, LiteRT's `CwiseClipping`.
fn clip(x: f32, clip: f32) -> f32 {
    x.min(clip).max(-clip)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (&x, &y)| acc + x * y)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    })
}

/// Layer normalization of one gate (LiteRT's `MeanStddevNormalization`), then the coefficients
/// and the bias.
fn layer_norm(gate: &mut [f32], coefficients: &[f32], bias: &[f32]) {
    let n = gate.len() as f32;
    let mean = gate.iter().sum::<f32>() / n;
    let variance = gate.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv_stddev = 1.0 / sqrtf(variance + 1e-8);
    for ((v, &w), &b) in gate.iter_mut().zip(coefficients).zip(bias) {
        *v = (*v - mean) * inv_stddev * w + b;
    }
}

/// The cell update shared by float and hybrid: `c = f * c + i * g` (`i = 1 - f` with CIFG),
/// then the cell clip.
fn update_cell(
    c: &mut [f32],
    input_gate: &[f32],
    forget: &[f32],
    cell_gate: &[f32],
    cifg: bool,
    cell_clip: f32,
) {
    for r in 0..c.len() {
        let i = if cifg { 1.0 - forget[r] } else { input_gate[r] };
        let mut v = forget[r] * c[r];
        v += cell_gate[r] * i;
        c[r] = if cell_clip > 0.0 {
            clip(v, cell_clip)
        } else {
            v
        };
    }
}

/// What float and hybrid kernels share: the layout and the node's scalar options.
#[derive(Debug, Clone, Copy)]
struct Common {
    layout: Layout,
    activation: Activation,
    cell_clip: f32,
    proj_clip: f32,
}

impl Common {
    fn new(attrs: &UnidirectionalSequenceLstmAttrs, layout: Layout) -> Self {
        Self {
            layout,
            activation: attrs.fused_activation_function,
            cell_clip: attrs.cell_clip,
            proj_clip: attrs.proj_clip,
        }
    }

    /// Scratch bytes: four gates, the hidden vector, copies of both states (used when the
    /// runtime does not lend them), and `extra` bytes.
    fn scratch_bytes(&self, extra: &[usize]) -> usize {
        let l = &self.layout;
        let f = core::mem::size_of::<f32>();
        let mut sizes = alloc::vec![
            l.n_batch * l.n_output * f,
            l.n_batch * l.n_cell * f,
            4 * l.n_cell * f,
            l.n_cell * f,
        ];
        sizes.extend_from_slice(extra);
        scratch_size(&sizes)
    }

    /// Steps through the sequence. `prepare` reads the weights and takes its scratch buffers
    /// once per run; then, for each batch row and time step, `step` updates the row's states
    /// from its input; the new output state is the output row.
    fn run<'s, E>(
        &self,
        io: &'s mut KernelIo<'_>,
        prepare: impl FnOnce(&Inputs<'s>, &mut Scratch<'s>) -> Result<E, KernelError>,
        mut step: impl FnMut(&mut E, Row<'_>) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        let l = self.layout;
        let (inputs, mut outputs, [mut os, mut cs], scratch, _) =
            io.split_with_state([slot::OUTPUT_STATE, slot::CELL_STATE]);
        let mut sc = Scratch::new(scratch);
        let h_all: &mut [f32] = match os.as_mut() {
            Some(t) => t.as_slice_mut()?,
            None => {
                let b = sc.take(l.n_batch * l.n_output)?;
                b.copy_from_slice(slice_of(
                    inputs.optional(slot::OUTPUT_STATE),
                    l.n_batch * l.n_output,
                )?);
                b
            }
        };
        let c_all: &mut [f32] = match cs.as_mut() {
            Some(t) => t.as_slice_mut()?,
            None => {
                let b = sc.take(l.n_batch * l.n_cell)?;
                b.copy_from_slice(slice_of(
                    inputs.optional(slot::CELL_STATE),
                    l.n_batch * l.n_cell,
                )?);
                b
            }
        };
        crate::ensure!(
            h_all.len() == l.n_batch * l.n_output && c_all.len() == l.n_batch * l.n_cell,
            "LSTM state tensors do not match the layout"
        );
        let gates = sc.take::<f32>(4 * l.n_cell)?;
        let hidden = sc.take::<f32>(l.n_cell)?;
        let mut extra = prepare(&inputs, &mut sc)?;
        let rows = l.n_batch * l.max_time;
        let x_all: &[f32] = slice_of(inputs.optional(slot::INPUT), rows * l.n_input)?;
        let mut out = outputs.get(0)?;
        let out_all = out.as_slice_mut::<f32>()?;
        crate::ensure!(
            out_all.len() == rows * l.n_output,
            "LSTM output does not match the layout"
        );
        for b in 0..l.n_batch {
            let h = &mut h_all[b * l.n_output..][..l.n_output];
            let c = &mut c_all[b * l.n_cell..][..l.n_cell];
            for t in 0..l.max_time {
                let row = l.row(b, t);
                let x = &x_all[row * l.n_input..][..l.n_input];
                step(
                    &mut extra,
                    Row {
                        x,
                        h: &mut *h,
                        c: &mut *c,
                        gates: &mut *gates,
                        hidden: &mut *hidden,
                    },
                )?;
                out_all[row * l.n_output..][..l.n_output].copy_from_slice(h);
            }
        }
        Ok(())
    }
}

/// One step's vectors: the input row, the states (updated in place), and the gate and hidden
/// buffers.
struct Row<'r> {
    x: &'r [f32],
    h: &'r mut [f32],
    c: &'r mut [f32],
    gates: &'r mut [f32],
    hidden: &'r mut [f32],
}

/// The float32 kernel.
#[derive(Debug)]
pub(super) struct FloatLstm {
    common: Common,
}

/// A float LSTM's tensors during a run; absent ones are empty slices.
struct FloatWeights<'a> {
    input: [&'a [f32]; 4],
    recurrent: [&'a [f32]; 4],
    peephole: [&'a [f32]; 4],
    bias: [&'a [f32]; 4],
    layer_norm: [&'a [f32]; 4],
    projection: &'a [f32],
    projection_bias: &'a [f32],
}

impl<'a> FloatWeights<'a> {
    fn get(inputs: &Inputs<'a>, l: &Layout) -> Result<Self, KernelError> {
        let mut w = Self {
            input: [&[]; 4],
            recurrent: [&[]; 4],
            peephole: [&[]; 4],
            bias: [&[]; 4],
            layer_norm: [&[]; 4],
            projection: &[],
            projection_bias: &[],
        };
        for g in 0..4 {
            if !l.has_gate(g) {
                continue;
            }
            w.input[g] = slice_of(
                inputs.optional(slot::INPUT_WEIGHTS[g]),
                l.n_cell * l.n_input,
            )?;
            let rec_len = if l.diag[g] {
                l.n_cell
            } else {
                l.n_cell * l.n_output
            };
            w.recurrent[g] = slice_of(inputs.optional(slot::RECURRENT_WEIGHTS[g]), rec_len)?;
            if l.has_peephole(g)
                && let Some(s) = slot::PEEPHOLE[g]
            {
                w.peephole[g] = slice_of(inputs.optional(s), l.n_cell)?;
            }
            w.bias[g] = slice_of(inputs.optional(slot::BIAS[g]), l.n_cell)?;
            if l.has_layer_norm(g) {
                w.layer_norm[g] = slice_of(inputs.optional(slot::LAYER_NORM[g]), l.n_cell)?;
            }
        }
        if l.projection {
            w.projection = slice_of(
                inputs.optional(slot::PROJECTION_WEIGHTS),
                l.n_output * l.n_cell,
            )?;
            w.projection_bias = slice_of(inputs.optional(slot::PROJECTION_BIAS), l.n_output)?;
        }
        Ok(w)
    }
}

impl FloatLstm {
    pub(super) fn new(
        node: &NodeCtx<'_>,
        attrs: &UnidirectionalSequenceLstmAttrs,
        layout: Layout,
    ) -> Result<Self, KernelError> {
        for s in 0..node.inputs.len() {
            expect_dtype(node, s, DType::Float32)?;
        }
        crate::ensure!(
            node.output(0)?.dtype == DType::Float32,
            "float LSTM output must be float32"
        );
        Ok(Self {
            common: Common::new(attrs, layout),
        })
    }

    /// Gate `g` before its activation: bias, input and recurrent products, peephole, layer
    /// normalization.
    fn gate(
        l: &Layout,
        w: &FloatWeights<'_>,
        g: usize,
        x: &[f32],
        h: &[f32],
        c: &[f32],
        out: &mut [f32],
    ) {
        let ln = l.has_layer_norm(g);
        for (r, acc) in out.iter_mut().enumerate() {
            let mut v = if ln { 0.0 } else { w.bias[g][r] };
            v += dot(&w.input[g][r * l.n_input..][..l.n_input], x);
            if l.diag[g] {
                v += w.recurrent[g][r] * h[r];
            } else {
                v += dot(&w.recurrent[g][r * l.n_output..][..l.n_output], h);
            }
            if l.has_peephole(g) {
                v += w.peephole[g][r] * c[r];
            }
            *acc = v;
        }
        if ln {
            layer_norm(out, w.layer_norm[g], w.bias[g]);
        }
    }
}

impl Kernel for FloatLstm {
    fn name(&self) -> &str {
        "unidirectional_sequence_lstm_f32__scalar"
    }

    fn scratch_bytes(&self) -> usize {
        self.common.scratch_bytes(&[])
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let common = self.common;
        let l = common.layout;
        let n = l.n_cell;
        common.run(
            io,
            |inputs, _| FloatWeights::get(inputs, &l),
            |w,
             Row {
                 x,
                 h,
                 c,
                 gates,
                 hidden,
             }| {
                let (gi, rest) = gates.split_at_mut(n);
                let (gf, rest) = rest.split_at_mut(n);
                let (gc, go) = rest.split_at_mut(n);
                if l.has_gate(0) {
                    Self::gate(&l, w, 0, x, h, c, gi);
                    gi.iter_mut().for_each(|v| *v = sigmoid(*v));
                }
                Self::gate(&l, w, 1, x, h, c, gf);
                gf.iter_mut().for_each(|v| *v = sigmoid(*v));
                Self::gate(&l, w, CELL_GATE, x, h, c, gc);
                gc.iter_mut()
                    .for_each(|v| *v = activate(common.activation, *v));
                update_cell(c, gi, gf, gc, l.cifg, common.cell_clip);
                Self::gate(&l, w, 3, x, h, c, go);
                go.iter_mut().for_each(|v| *v = sigmoid(*v));
                for ((v, &o), &cv) in hidden.iter_mut().zip(go.iter()).zip(c.iter()) {
                    *v = o * activate(common.activation, cv);
                }
                if l.projection {
                    for (r, hv) in h.iter_mut().enumerate() {
                        let b = w.projection_bias.get(r).copied().unwrap_or(0.0);
                        let v = b + dot(&w.projection[r * n..][..n], hidden);
                        *hv = if common.proj_clip > 0.0 {
                            clip(v, common.proj_clip)
                        } else {
                            v
                        };
                    }
                } else {
                    h.copy_from_slice(hidden);
                }
                Ok(())
            },
        )
    }
}

/// Quantizes a float vector to int8 as LiteRT's `BatchQuantizeFloats` does for one batch
/// row, returning the scaling factor and the zero point (0 when symmetric).
pub(crate) fn quantize(values: &[f32], out: &mut [i8], asymmetric: bool) -> (f32, i32) {
    let (min, max) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let (min, max) = if values.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    };
    if asymmetric {
        // Computed in double, as `AsymmetricQuantizeFloats`.
        let rmin = f64::from(min.min(0.0));
        let rmax = f64::from(max.max(0.0));
        if rmin == rmax {
            out.fill(0);
            return (1.0, 0);
        }
        let (qmin, qmax) = (-128.0f64, 127.0f64);
        let scale = (rmax - rmin) / (qmax - qmin);
        let zp_from_min = qmin - rmin / scale;
        let zp_from_max = qmax - rmax / scale;
        let zp_from_min_error = qmin.abs() + (rmin / scale).abs();
        let zp_from_max_error = qmax.abs() + (rmax / scale).abs();
        let zp = if zp_from_min_error < zp_from_max_error {
            zp_from_min
        } else {
            zp_from_max
        };
        let zero_point = if zp <= qmin {
            -128
        } else if zp >= qmax {
            127
        } else {
            round_f64(zp) as i32
        };
        let scale = scale as f32;
        let inv = 1.0 / scale;
        for (q, &v) in out.iter_mut().zip(values) {
            let r = round_f32(zero_point as f32 + v * inv) as i32;
            *q = r.clamp(-128, 127) as i8;
        }
        (scale, zero_point)
    } else {
        let range = min.abs().max(max.abs());
        if range == 0.0 {
            out.fill(0);
            return (1.0, 0);
        }
        let scale = range / 127.0;
        let inv = 127.0 / range;
        for (q, &v) in out.iter_mut().zip(values) {
            let r = round_f32(v * inv) as i32;
            *q = r.clamp(-127, 127) as i8;
        }
        (scale, 0)
    }
}

/// One quantized vector: values, scale, zero point, and whether the float vector was all zero
/// (LiteRT then skips its products).
#[derive(Clone, Copy)]
struct Quantized<'a> {
    values: &'a [i8],
    scale: f32,
    zero_point: i32,
    zero: bool,
}

/// The hybrid (dynamic-range) kernel: float input, output and states, int8 weights.
#[derive(Debug)]
pub(super) struct HybridLstm {
    common: Common,
    asymmetric: bool,
    input_scale: [f32; 4],
    recurrent_scale: [f32; 4],
    peephole_scale: [f32; 4],
    projection_scale: f32,
    /// Row sums of the int8 weights (asymmetric quantization subtracts `row_sum * zero_point`).
    input_row_sums: [Vec<i32>; 4],
    recurrent_row_sums: [Vec<i32>; 4],
    projection_row_sums: Vec<i32>,
}

/// A hybrid LSTM's tensors during a run; absent ones are empty slices.
struct HybridWeights<'a> {
    input: [&'a [i8]; 4],
    recurrent: [&'a [i8]; 4],
    recurrent_diag: [&'a [f32]; 4],
    peephole: [&'a [i8]; 4],
    bias: [&'a [f32]; 4],
    layer_norm: [&'a [f32]; 4],
    projection: &'a [i8],
    projection_bias: &'a [f32],
}

impl<'a> HybridWeights<'a> {
    fn get(inputs: &Inputs<'a>, l: &Layout) -> Result<Self, KernelError> {
        let mut w = Self {
            input: [&[]; 4],
            recurrent: [&[]; 4],
            recurrent_diag: [&[]; 4],
            peephole: [&[]; 4],
            bias: [&[]; 4],
            layer_norm: [&[]; 4],
            projection: &[],
            projection_bias: &[],
        };
        for g in 0..4 {
            if !l.has_gate(g) {
                continue;
            }
            w.input[g] = slice_of(
                inputs.optional(slot::INPUT_WEIGHTS[g]),
                l.n_cell * l.n_input,
            )?;
            let rec = inputs.optional(slot::RECURRENT_WEIGHTS[g]);
            if l.diag[g] {
                w.recurrent_diag[g] = slice_of(rec, l.n_cell)?;
            } else {
                w.recurrent[g] = slice_of(rec, l.n_cell * l.n_output)?;
            }
            if l.has_peephole(g)
                && let Some(s) = slot::PEEPHOLE[g]
            {
                w.peephole[g] = slice_of(inputs.optional(s), l.n_cell)?;
            }
            w.bias[g] = slice_of(inputs.optional(slot::BIAS[g]), l.n_cell)?;
            if l.has_layer_norm(g) {
                w.layer_norm[g] = slice_of(inputs.optional(slot::LAYER_NORM[g]), l.n_cell)?;
            }
        }
        if l.projection {
            w.projection = slice_of(
                inputs.optional(slot::PROJECTION_WEIGHTS),
                l.n_output * l.n_cell,
            )?;
            w.projection_bias = slice_of(inputs.optional(slot::PROJECTION_BIAS), l.n_output)?;
        }
        Ok(w)
    }
}

impl HybridLstm {
    pub(super) fn new(
        node: &NodeCtx<'_>,
        attrs: &UnidirectionalSequenceLstmAttrs,
        layout: Layout,
    ) -> Result<Self, KernelError> {
        let l = &layout;
        crate::ensure!(
            node.output(0)?.dtype == DType::Float32,
            "hybrid LSTM output must be float32"
        );
        for s in [
            slot::INPUT,
            slot::PROJECTION_BIAS,
            slot::OUTPUT_STATE,
            slot::CELL_STATE,
        ]
        .into_iter()
        .chain(slot::BIAS)
        .chain(
            slot::LAYER_NORM
                .into_iter()
                .filter(|&s| s < node.inputs.len()),
        ) {
            expect_dtype(node, s, DType::Float32)?;
        }
        let scale_of = |s: usize| -> Result<f32, KernelError> { weight_scale(node.input(s)?) };
        let mut hybrid = Self {
            common: Common::new(attrs, layout),
            asymmetric: attrs.asymmetric_quantize_inputs,
            input_scale: [1.0; 4],
            recurrent_scale: [1.0; 4],
            peephole_scale: [1.0; 4],
            projection_scale: 1.0,
            input_row_sums: Default::default(),
            recurrent_row_sums: Default::default(),
            projection_row_sums: Vec::new(),
        };
        for g in 0..4 {
            if !l.has_gate(g) {
                continue;
            }
            let wi = slot::INPUT_WEIGHTS[g];
            expect_dtype(node, wi, DType::Int8)?;
            hybrid.input_scale[g] = scale_of(wi)?;
            let wr = slot::RECURRENT_WEIGHTS[g];
            if l.diag[g] {
                expect_dtype(node, wr, DType::Float32)?;
            } else {
                expect_dtype(node, wr, DType::Int8)?;
                hybrid.recurrent_scale[g] = scale_of(wr)?;
            }
            if l.has_peephole(g)
                && let Some(s) = slot::PEEPHOLE[g]
            {
                expect_dtype(node, s, DType::Int8)?;
                hybrid.peephole_scale[g] = scale_of(s)?;
            }
            if hybrid.asymmetric {
                let why = "asymmetric hybrid LSTM precomputes weight row sums";
                let w = constant_of::<i8>(node, wi, why)?;
                hybrid.input_row_sums[g] = row_sums(&w, l.n_cell, l.n_input);
                if !l.diag[g] {
                    let w = constant_of::<i8>(node, wr, why)?;
                    hybrid.recurrent_row_sums[g] = row_sums(&w, l.n_cell, l.n_output);
                }
            }
        }
        if l.projection {
            expect_dtype(node, slot::PROJECTION_WEIGHTS, DType::Int8)?;
            hybrid.projection_scale = scale_of(slot::PROJECTION_WEIGHTS)?;
            if hybrid.asymmetric {
                let w = constant_of::<i8>(
                    node,
                    slot::PROJECTION_WEIGHTS,
                    "asymmetric hybrid LSTM precomputes weight row sums",
                )?;
                hybrid.projection_row_sums = row_sums(&w, l.n_output, l.n_cell);
            }
        }
        Ok(hybrid)
    }

    /// `acc += dot(weights row, v) * scale`, as LiteRT's hybrid `MatrixBatchVectorMultiply
    /// Accumulate` with the vector's and the matrix's scales multiplied first.
    fn add_product(
        acc: &mut f32,
        row: &[i8],
        v: &Quantized<'_>,
        matrix_scale: f32,
        row_sum: Option<i32>,
    ) {
        let mut d = dot_i8(row, v.values);
        if let Some(s) = row_sum {
            d = d.wrapping_sub(s.wrapping_mul(v.zero_point));
        }
        *acc += d as f32 * (v.scale * matrix_scale);
    }

    /// Gate `g` before its activation.
    #[allow(clippy::too_many_arguments)]
    fn gate(
        &self,
        w: &HybridWeights<'_>,
        g: usize,
        x: &Quantized<'_>,
        h: &Quantized<'_>,
        h_float: &[f32],
        c: &[f32],
        out: &mut [f32],
    ) {
        let l = &self.common.layout;
        let ln = l.has_layer_norm(g);
        let row_sum = |sums: &[i32], r: usize| self.asymmetric.then(|| sums[r]);
        for (r, acc) in out.iter_mut().enumerate() {
            let mut v = if ln { 0.0 } else { w.bias[g][r] };
            if !x.zero {
                let row = &w.input[g][r * l.n_input..][..l.n_input];
                Self::add_product(
                    &mut v,
                    row,
                    x,
                    self.input_scale[g],
                    row_sum(&self.input_row_sums[g], r),
                );
            }
            if !h.zero {
                if l.diag[g] {
                    v += w.recurrent_diag[g][r] * h_float[r];
                } else {
                    let row = &w.recurrent[g][r * l.n_output..][..l.n_output];
                    Self::add_product(
                        &mut v,
                        row,
                        h,
                        self.recurrent_scale[g],
                        row_sum(&self.recurrent_row_sums[g], r),
                    );
                }
            }
            if l.has_peephole(g) {
                // LiteRT dequantizes the peephole weights first ("recovered cell weights").
                v += (self.peephole_scale[g] * f32::from(w.peephole[g][r])) * c[r];
            }
            *acc = v;
        }
        if ln {
            layer_norm(out, w.layer_norm[g], w.bias[g]);
        }
    }
}

impl Kernel for HybridLstm {
    fn name(&self) -> &str {
        "unidirectional_sequence_lstm_hybrid_i8__scalar"
    }

    fn scratch_bytes(&self) -> usize {
        let l = &self.common.layout;
        self.common
            .scratch_bytes(&[l.n_input, l.n_output, l.n_cell])
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let this = &*self;
        let common = this.common;
        let l = common.layout;
        let n = l.n_cell;
        common.run(
            io,
            |inputs, sc| {
                Ok((
                    HybridWeights::get(inputs, &l)?,
                    sc.take::<i8>(l.n_input)?,
                    sc.take::<i8>(l.n_output)?,
                    sc.take::<i8>(l.n_cell)?,
                ))
            },
            |(w, xq, hq, hidden_q),
             Row {
                 x,
                 h,
                 c,
                 gates,
                 hidden,
             }| {
                let x_zero = x.iter().all(|&v| v == 0.0);
                let (xs, xz) = if x_zero {
                    (1.0, 0)
                } else {
                    quantize(x, xq, this.asymmetric)
                };
                let h_zero = h.iter().all(|&v| v == 0.0);
                let (hs, hz) = if h_zero {
                    (1.0, 0)
                } else {
                    quantize(h, hq, this.asymmetric)
                };
                let xv = Quantized {
                    values: xq,
                    scale: xs,
                    zero_point: xz,
                    zero: x_zero,
                };
                let hv = Quantized {
                    values: hq,
                    scale: hs,
                    zero_point: hz,
                    zero: h_zero,
                };

                let (gi, rest) = gates.split_at_mut(n);
                let (gf, rest) = rest.split_at_mut(n);
                let (gc, go) = rest.split_at_mut(n);
                if l.has_gate(0) {
                    this.gate(w, 0, &xv, &hv, h, c, gi);
                    gi.iter_mut().for_each(|v| *v = sigmoid(*v));
                }
                this.gate(w, 1, &xv, &hv, h, c, gf);
                gf.iter_mut().for_each(|v| *v = sigmoid(*v));
                this.gate(w, CELL_GATE, &xv, &hv, h, c, gc);
                gc.iter_mut()
                    .for_each(|v| *v = activate(common.activation, *v));
                update_cell(c, gi, gf, gc, l.cifg, common.cell_clip);
                this.gate(w, 3, &xv, &hv, h, c, go);
                go.iter_mut().for_each(|v| *v = sigmoid(*v));
                for ((v, &o), &cv) in hidden.iter_mut().zip(go.iter()).zip(c.iter()) {
                    *v = o * activate(common.activation, cv);
                }
                if l.projection {
                    for (r, hv) in h.iter_mut().enumerate() {
                        *hv = w.projection_bias.get(r).copied().unwrap_or(0.0);
                    }
                    if !hidden.iter().all(|&v| v == 0.0) {
                        let (s, z) = quantize(hidden, hidden_q, this.asymmetric);
                        let q = Quantized {
                            values: hidden_q,
                            scale: s,
                            zero_point: z,
                            zero: false,
                        };
                        for (r, hv) in h.iter_mut().enumerate() {
                            let sum = this.asymmetric.then(|| this.projection_row_sums[r]);
                            Self::add_product(
                                hv,
                                &w.projection[r * n..][..n],
                                &q,
                                this.projection_scale,
                                sum,
                            );
                        }
                    }
                    if common.proj_clip > 0.0 {
                        h.iter_mut().for_each(|v| *v = clip(*v, common.proj_clip));
                    }
                } else {
                    h.copy_from_slice(hidden);
                }
                Ok(())
            },
        )
    }
}

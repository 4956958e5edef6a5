//! The fully-integer LSTM (LiteRT's "8x8_16" kernel, `EvalInteger8x8_16`): int8 input,
//! output and output state, int16 cell state with a power-of-two scale, int16 gates.
//!
//! Preparation follows LiteRT's `PopulateQuantizedLstmParams8x8_16` and
//! `PopulatePrecomputedZPTimesWeightsWithBias`: each product's effective scale is
//! `weight_scale * activation_scale / gate_scale`, computed in float as LiteRT does (a few in
//! double), where the gate scale is 2^-12 (Q3.12, what the fixed-point sigmoid and tanh take)
//! unless the node has layer normalization, whose gate scales come from the node's
//! intermediates 0..=3; intermediate 4 gives the scale and zero point of the hidden state
//! `o * tanh(c)` that a projection consumes. The activations' zero points are folded into
//! per-row effective biases (`bias - zero_point * row_sum`).

use super::{
    CELL_GATE, Layout, Scratch, constant_of, expect_dtype, row_sums, scratch_size, slice_of, slot,
    weight_scale,
};
use crate::kernel::{Inputs, NodeCtx};
use crate::scalar::qmath::fixed16;
use crate::scalar::qmath::fixedpoint::inv_sqrt_quantized_multiplier_exp;
use crate::scalar::qmath::{
    multiply_by_quantized_multiplier, quantize_multiplier, round_f32, rounding_divide_by_pot,
};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError, KernelIo};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{DType, UnidirectionalSequenceLstmAttrs};

/// A quantized multiplier and its shift, as `quantize_multiplier` returns them.
type Multiplier = (i32, i32);

fn mbqm(x: i32, m: Multiplier) -> i32 {
    multiply_by_quantized_multiplier(x, m.0, m.1)
}

fn clamp_i16(x: i32) -> i16 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// The per-tensor scale and zero point of `t`, or an error naming it.
fn quant_of(t: &TensorInfo) -> Result<(f32, i32), KernelError> {
    t.require_per_tensor_quant()
}

/// Decomposes a multiplier, refusing ones whose left shift LiteRT's arithmetic cannot apply.
fn multiplier(m: f64, what: &str) -> Result<Multiplier, KernelError> {
    quantize_multiplier(m).map_err(|_| {
        KernelError::unsupported(format!("integer LSTM: the {what} scale {m} is too large"))
    })
}

/// The integer kernel.
#[derive(Debug)]
pub(super) struct IntegerLstm {
    layout: Layout,
    input_multiplier: [Multiplier; 4],
    recurrent_multiplier: [Multiplier; 4],
    peephole_multiplier: [Multiplier; 4],
    layer_norm_multiplier: [Multiplier; 4],
    variance_guard: [i32; 4],
    hidden_multiplier: Multiplier,
    projection_multiplier: Multiplier,
    hidden_zp: i32,
    output_state_zp: i32,
    /// log2 of the cell state's scale.
    cell_scale: i32,
    cell_clip: i16,
    proj_clip: i8,
    /// `bias - input_zp * row_sum(input weights)` per gate (without the bias with layer norm,
    /// which adds it after normalizing).
    input_bias: [Vec<i32>; 4],
    /// `-output_state_zp * row_sum(recurrent weights)` per gate.
    recurrent_bias: [Vec<i32>; 4],
    /// `projection_bias + hidden_zp * row_sum(projection weights)`.
    projection_bias: Vec<i32>,
}

/// An integer LSTM's tensors during a run; absent ones are empty slices.
struct Weights<'a> {
    input: [&'a [i8]; 4],
    recurrent: [&'a [i8]; 4],
    peephole: [&'a [i16]; 4],
    bias: [&'a [i32]; 4],
    layer_norm: [&'a [i16]; 4],
    projection: &'a [i8],
}

impl<'a> Weights<'a> {
    fn get(inputs: &Inputs<'a>, l: &Layout) -> Result<Self, KernelError> {
        let mut w = Self {
            input: [&[]; 4],
            recurrent: [&[]; 4],
            peephole: [&[]; 4],
            bias: [&[]; 4],
            layer_norm: [&[]; 4],
            projection: &[],
        };
        for g in 0..4 {
            if !l.has_gate(g) {
                continue;
            }
            w.input[g] = slice_of(
                inputs.optional(slot::INPUT_WEIGHTS[g]),
                l.n_cell * l.n_input,
            )?;
            w.recurrent[g] = slice_of(
                inputs.optional(slot::RECURRENT_WEIGHTS[g]),
                l.n_cell * l.n_output,
            )?;
            if l.has_peephole(g)
                && let Some(s) = slot::PEEPHOLE[g]
            {
                w.peephole[g] = slice_of(inputs.optional(s), l.n_cell)?;
            }
            if l.has_layer_norm(g) {
                w.bias[g] = slice_of(inputs.optional(slot::BIAS[g]), l.n_cell)?;
                w.layer_norm[g] = slice_of(inputs.optional(slot::LAYER_NORM[g]), l.n_cell)?;
            }
        }
        if l.projection {
            w.projection = slice_of(
                inputs.optional(slot::PROJECTION_WEIGHTS),
                l.n_output * l.n_cell,
            )?;
        }
        Ok(w)
    }
}

impl IntegerLstm {
    pub(super) fn new(
        node: &NodeCtx<'_>,
        attrs: &UnidirectionalSequenceLstmAttrs,
        layout: Layout,
    ) -> Result<Self, KernelError> {
        let l = &layout;
        if l.diag.iter().any(|&d| d) {
            return Err(KernelError::unsupported(
                "integer LSTM with diagonal recurrent weights (LiteRT has none)".into(),
            ));
        }
        // LiteRT's integer peephole walks `n_output` elements of `n_cell`-long vectors; it only
        // lines up when the two agree.
        if l.peephole && l.n_output != l.n_cell {
            return Err(KernelError::unsupported(
                "integer LSTM with peephole and projection to a different size".into(),
            ));
        }
        let input = node.input(slot::INPUT)?;
        let output_state = node.input(slot::OUTPUT_STATE)?;
        let cell_state = node.input(slot::CELL_STATE)?;
        let output = node.output(0)?;
        for (t, dtype) in [
            (input, DType::Int8),
            (output_state, DType::Int8),
            (cell_state, DType::Int16),
            (output, DType::Int8),
        ] {
            crate::ensure!(
                t.dtype == dtype,
                "integer LSTM tensor '{}' must be {dtype:?}, is {:?}",
                t.name,
                t.dtype
            );
        }
        for g in 0..4 {
            if !l.has_gate(g) {
                continue;
            }
            expect_dtype(node, slot::INPUT_WEIGHTS[g], DType::Int8)?;
            expect_dtype(node, slot::RECURRENT_WEIGHTS[g], DType::Int8)?;
            expect_dtype(node, slot::BIAS[g], DType::Int32)?;
            if let Some(s) = slot::PEEPHOLE[g] {
                expect_dtype(node, s, DType::Int16)?;
            }
            if l.layer_norm {
                expect_dtype(node, slot::LAYER_NORM[g], DType::Int16)?;
            }
        }
        expect_dtype(node, slot::PROJECTION_WEIGHTS, DType::Int8)?;
        expect_dtype(node, slot::PROJECTION_BIAS, DType::Int32)?;

        crate::ensure!(
            node.intermediates.len() == 5,
            "integer LSTM needs 5 intermediate tensors (gate and hidden scales), has {}",
            node.intermediates.len()
        );
        // Gate scales: Q3.12 for the fixed-point activations, or the layer-normalized gates'.
        let mut gate_scale = [libm::ldexpf(1.0, -12); 4];
        if l.layer_norm {
            for (g, s) in gate_scale.iter_mut().enumerate() {
                *s = quant_of(node.intermediates[g])?.0;
            }
        }
        let (hidden_scale, hidden_zp) = quant_of(node.intermediates[4])?;

        let (input_scale, input_zp) = quant_of(input)?;
        let (output_state_scale, output_state_zp) = quant_of(output_state)?;
        let (cell_state_scale, _) = quant_of(cell_state)?;
        let (output_scale, _) = quant_of(output)?;
        // LiteRT's CheckedLog2.
        let log2 = crate::math::logf(cell_state_scale) * (1.0 / crate::math::logf(2.0));
        let rounded = round_f32(log2);
        let power_of_two = (log2 - rounded).abs() < 1e-3;
        crate::ensure!(
            power_of_two,
            "integer LSTM cell state '{}' needs a power-of-two scale, has {cell_state_scale}",
            cell_state.name
        );
        let cell_scale = rounded as i32;
        // The fixed-point tanh of the cell state takes 15 + cell_scale integer bits, which
        // LiteRT implements for 0..=6.
        if !(-15..=-9).contains(&cell_scale) {
            return Err(KernelError::unsupported(format!(
                "integer LSTM cell state scale 2^{cell_scale} (LiteRT handles 2^-15..=2^-9)"
            )));
        }

        let mut this = Self {
            layout,
            input_multiplier: [(0, 0); 4],
            recurrent_multiplier: [(0, 0); 4],
            peephole_multiplier: [(0, 0); 4],
            layer_norm_multiplier: [(0, 0); 4],
            variance_guard: [0; 4],
            hidden_multiplier: (0, 0),
            projection_multiplier: (0, 0),
            hidden_zp,
            output_state_zp,
            cell_scale,
            cell_clip: 0,
            proj_clip: 0,
            input_bias: Default::default(),
            recurrent_bias: Default::default(),
            projection_bias: Vec::new(),
        };
        if attrs.cell_clip > 0.0 {
            this.cell_clip = (attrs.cell_clip / cell_state_scale).clamp(-32768.0, 32767.0) as i16;
        }
        if attrs.proj_clip > 0.0 {
            this.proj_clip = (attrs.proj_clip / output_scale).clamp(-128.0, 127.0) as i8;
        }

        for (g, &gate_scale) in gate_scale.iter().enumerate() {
            if !l.has_gate(g) {
                continue;
            }
            let wi = node.input(slot::INPUT_WEIGHTS[g])?;
            let wr = node.input(slot::RECURRENT_WEIGHTS[g])?;
            // Float products, as LiteRT computes them before decomposing.
            let eff_in = weight_scale(wi)? * input_scale / gate_scale;
            let eff_rec = weight_scale(wr)? * output_state_scale / gate_scale;
            this.input_multiplier[g] = multiplier(f64::from(eff_in), "input-to-gate")?;
            this.recurrent_multiplier[g] = multiplier(f64::from(eff_rec), "recurrent-to-gate")?;
            if l.has_peephole(g)
                && let Some(s) = slot::PEEPHOLE[g]
            {
                // pow(2, cell_scale) is a double in LiteRT, so this product is too.
                let eff = (libm::ldexp(1.0, cell_scale) * f64::from(weight_scale(node.input(s)?)?)
                    / f64::from(gate_scale)) as f32;
                this.peephole_multiplier[g] = multiplier(f64::from(eff), "peephole")?;
            }
            let ln_scale = if l.has_layer_norm(g) {
                weight_scale(node.input(slot::LAYER_NORM[g])?)?
            } else {
                1.0
            };
            this.layer_norm_multiplier[g] = quantize_multiplier(f64::from(ln_scale))?;
            if this.layer_norm_multiplier[g].1 + 12 > 30 {
                return Err(KernelError::unsupported(format!(
                    "integer LSTM layer-norm scale {ln_scale} is too large"
                )));
            }
            this.variance_guard[g] = ((10000.0 * ln_scale) as i32).max(1);

            let why = "integer LSTM folds zero points into the biases";
            let w = constant_of::<i8>(node, slot::INPUT_WEIGHTS[g], why)?;
            let mut bias = if l.layer_norm {
                vec![0; l.n_cell]
            } else {
                constant_of::<i32>(node, slot::BIAS[g], why)?
            };
            for (b, s) in bias.iter_mut().zip(row_sums(&w, l.n_cell, l.n_input)) {
                *b = b.wrapping_add(s.wrapping_mul(input_zp.wrapping_neg()));
            }
            this.input_bias[g] = bias;
            let w = constant_of::<i8>(node, slot::RECURRENT_WEIGHTS[g], why)?;
            this.recurrent_bias[g] = row_sums(&w, l.n_cell, l.n_output)
                .into_iter()
                .map(|s| s.wrapping_mul(output_state_zp.wrapping_neg()))
                .collect();
        }

        // 2^-15 / hidden_scale * 2^-15, in double as LiteRT's std::pow makes it.
        let eff_hidden =
            (libm::ldexp(1.0, -15) / f64::from(hidden_scale) * libm::ldexp(1.0, -15)) as f32;
        this.hidden_multiplier = multiplier(f64::from(eff_hidden), "hidden")?;
        if l.projection {
            let pw = node.input(slot::PROJECTION_WEIGHTS)?;
            let eff_proj = weight_scale(pw)? * hidden_scale / output_state_scale;
            this.projection_multiplier = multiplier(f64::from(eff_proj), "projection")?;
            let why = "integer LSTM folds zero points into the projection bias";
            let w = constant_of::<i8>(node, slot::PROJECTION_WEIGHTS, why)?;
            let mut bias = if node.optional_input(slot::PROJECTION_BIAS).is_some() {
                constant_of::<i32>(node, slot::PROJECTION_BIAS, why)?
            } else {
                vec![0; l.n_output]
            };
            for (b, s) in bias.iter_mut().zip(row_sums(&w, l.n_output, l.n_cell)) {
                *b = b.wrapping_add(s.wrapping_mul(hidden_zp));
            }
            this.projection_bias = bias;
        }
        Ok(this)
    }

    /// `out = clamp16(out + scale(bias + W v))` for each row: LiteRT's integer
    /// `MatrixBatchVectorMultiplyAccumulate` into int16 gates.
    fn accumulate(out: &mut [i16], bias: &[i32], weights: &[i8], v: &[i8], m: Multiplier) {
        let cols = v.len();
        for (r, o) in out.iter_mut().enumerate() {
            let dot = weights[r * cols..][..cols]
                .iter()
                .zip(v)
                .fold(bias[r], |acc, (&w, &x)| {
                    acc.wrapping_add(i32::from(w) * i32::from(x))
                });
            *o = clamp_i16(mbqm(dot, m).wrapping_add(i32::from(*o)));
        }
    }

    /// Integer layer normalization of one gate (LiteRT's `ApplyLayerNorm`).
    fn layer_norm(gate: &mut [i16], weights: &[i16], bias: &[i32], m: Multiplier, guard: i32) {
        if gate.is_empty() {
            return;
        }
        let n = gate.len() as i64;
        let (sum, sum_sq) = gate.iter().fold((0i64, 0i64), |(s, q), &v| {
            let v = i32::from(v);
            (s + i64::from(v), q + i64::from(v * v))
        });
        let mean = (sum * 1024 / n) as i32;
        let temp = (1i64 << 20) / n;
        let variance = sum_sq * temp - i64::from(mean) * i64::from(mean);
        let mut variance = (variance / (1 << 20)) as i32;
        if variance < 1 {
            variance = guard;
        }
        let inv_stddev = inv_sqrt_quantized_multiplier_exp(variance, -1);
        for ((v, &w), &b) in gate.iter_mut().zip(weights).zip(bias) {
            let shifted = (1024 * i32::from(*v)).wrapping_sub(mean);
            let rescaled = mbqm(shifted, inv_stddev);
            let val3 = i64::from(rescaled.wrapping_mul(i32::from(w)).wrapping_add(b));
            let val4 = (if val3 > 0 { val3 + 512 } else { val3 - 512 } / 1024) as i32;
            let val5 = multiply_by_quantized_multiplier(val4, m.0, m.1 + 12);
            *v = clamp_i16(val5);
        }
    }

    /// Gate `g` after its activation (sigmoid, or tanh for the cell gate), in Q0.15.
    fn gate(&self, w: &Weights<'_>, g: usize, x: &[i8], h: &[i8], c: &[i16], out: &mut [i16]) {
        let l = &self.layout;
        out.fill(0);
        Self::accumulate(
            out,
            &self.input_bias[g],
            w.input[g],
            x,
            self.input_multiplier[g],
        );
        Self::accumulate(
            out,
            &self.recurrent_bias[g],
            w.recurrent[g],
            h,
            self.recurrent_multiplier[g],
        );
        if l.has_peephole(g) {
            for ((o, &p), &cv) in out.iter_mut().zip(w.peephole[g]).zip(c) {
                let prod = mbqm(i32::from(p) * i32::from(cv), self.peephole_multiplier[g]);
                *o = clamp_i16(prod.wrapping_add(i32::from(*o)));
            }
        }
        if l.has_layer_norm(g) {
            Self::layer_norm(
                out,
                w.layer_norm[g],
                w.bias[g],
                self.layer_norm_multiplier[g],
                self.variance_guard[g],
            );
        }
        for v in out.iter_mut() {
            *v = if g == CELL_GATE {
                fixed16::tanh(*v, 3)
            } else {
                fixed16::logistic(*v, 3)
            };
        }
    }

    /// One step of one batch row: updates `h` (int8) and `c` (int16) from the input row `x`.
    fn step(&self, w: &Weights<'_>, x: &[i8], h: &mut [i8], c: &mut [i16], buf: &mut Buffers<'_>) {
        let l = &self.layout;
        let n = l.n_cell;
        let (gi, rest) = buf.gates.split_at_mut(n);
        let (gf, rest) = rest.split_at_mut(n);
        let (gc, go) = rest.split_at_mut(n);
        if l.has_gate(0) {
            self.gate(w, 0, x, h, c, gi);
        }
        self.gate(w, 1, x, h, c, gf);
        self.gate(w, CELL_GATE, x, h, c, gc);

        // c = f * c + i * g, with the products rescaled to the cell state's scale.
        let shift = 30 + self.cell_scale;
        for r in 0..n {
            let kept = rounding_divide_by_pot(i32::from(gf[r]) * i32::from(c[r]), 15) as i16;
            let i = if l.cifg {
                i16::MAX.wrapping_sub(gf[r])
            } else {
                gi[r]
            };
            let added = rounding_divide_by_pot(i32::from(i) * i32::from(gc[r]), shift) as i16;
            let mut v = clamp_i16(i32::from(kept) + i32::from(added));
            if self.cell_clip > 0 {
                v = v.clamp(-self.cell_clip, self.cell_clip);
            }
            c[r] = v;
        }

        self.gate(w, 3, x, h, c, go);

        // hidden = o * tanh(c), requantized to the hidden (or, without projection, output) scale.
        let integer_bits = 15 + self.cell_scale;
        let hidden_zp = if l.projection {
            self.hidden_zp.wrapping_neg()
        } else {
            self.hidden_zp
        };
        let hidden: &mut [i8] = if l.projection {
            &mut *buf.hidden
        } else {
            &mut *h
        };
        for r in 0..n {
            let t = fixed16::tanh(c[r], integer_bits);
            let v = mbqm(i32::from(go[r]) * i32::from(t), self.hidden_multiplier)
                .wrapping_add(hidden_zp);
            hidden[r] = v.clamp(-128, 127) as i8;
        }
        if l.projection {
            for (r, hv) in h.iter_mut().enumerate() {
                let dot = w.projection[r * n..][..n]
                    .iter()
                    .zip(buf.hidden.iter())
                    .fold(self.projection_bias[r], |acc, (&w, &x)| {
                        acc.wrapping_add(i32::from(w) * i32::from(x))
                    });
                let v = mbqm(dot, self.projection_multiplier).wrapping_add(self.output_state_zp);
                let mut v = v.clamp(-128, 127) as i8;
                if self.proj_clip > 0 {
                    v = v.clamp(-self.proj_clip, self.proj_clip);
                }
                *hv = v;
            }
        }
    }
}

/// Scratch vectors of one step.
struct Buffers<'a> {
    gates: &'a mut [i16],
    hidden: &'a mut [i8],
}

impl Kernel for IntegerLstm {
    fn name(&self) -> &str {
        "unidirectional_sequence_lstm_i8__scalar"
    }

    fn scratch_bytes(&self) -> usize {
        let l = &self.layout;
        scratch_size(&[
            l.n_batch * l.n_output,
            l.n_batch * l.n_cell * 2,
            4 * l.n_cell * 2,
            l.n_cell,
        ])
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let l = self.layout;
        let (inputs, mut outputs, [mut os, mut cs], scratch, _) =
            io.split_with_state([slot::OUTPUT_STATE, slot::CELL_STATE]);
        let mut sc = Scratch::new(scratch);
        let h_all: &mut [i8] = match os.as_mut() {
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
        let c_all: &mut [i16] = match cs.as_mut() {
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
        let mut buf = Buffers {
            gates: sc.take(4 * l.n_cell)?,
            hidden: sc.take(l.n_cell)?,
        };
        let w = Weights::get(&inputs, &l)?;
        let rows = l.n_batch * l.max_time;
        let x_all: &[i8] = slice_of(inputs.optional(slot::INPUT), rows * l.n_input)?;
        let mut out = outputs.get(0)?;
        let out_all = out.as_slice_mut::<i8>()?;
        crate::ensure!(
            out_all.len() == rows * l.n_output,
            "LSTM output does not match the layout"
        );
        for b in 0..l.n_batch {
            let h = &mut h_all[b * l.n_output..][..l.n_output];
            let c = &mut c_all[b * l.n_cell..][..l.n_cell];
            for t in 0..l.max_time {
                let row = l.row(b, t);
                self.step(&w, &x_all[row * l.n_input..][..l.n_input], h, c, &mut buf);
                out_all[row * l.n_output..][..l.n_output].copy_from_slice(h);
            }
        }
        Ok(())
    }
}

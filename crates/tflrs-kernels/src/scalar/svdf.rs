//! SVDF in float32 and hybrid (float activations, int8 weights), as LiteRT's `svdf.cc`
//! computes it (`EvalFloatSVDF` / `EvalHybridSVDF` in `reference/svdf.h`).
//!
//! Inputs: `input [batch, input_size]`, `weights_feature [filters, input_size]`,
//! `weights_time [filters, memory]`, an optional `bias [units]` (`units = filters / rank`) and
//! the state `[batch, filters * memory]` (a variable tensor, updated in place; a copy in scratch
//! where it is not writable). One invoke, per batch row: every filter's memory shifts left by
//! one, its newest slot gets `weights_feature[f] . input`; each filter's activation is
//! `weights_time[f] . memory[f]`, each unit the bias plus the sum of its `rank` filters, then the
//! fused activation.
//!
//! Hybrid: the input row is quantized to int8 (symmetric, or asymmetric with
//! `asymmetric_quantize_inputs`) and multiplied with the int8 feature weights in int32, scaled
//! back by the input and weight scales (LiteRT skips this when the whole batch's input is zero,
//! which gives the same zeros); the int8 time weights are dequantized with their scale.

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
const FEATURE: usize = 1;
const TIME: usize = 2;
const BIAS: usize = 3;
const STATE: usize = 4;

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

fn scale_of(t: &TensorInfo) -> Result<f32, KernelError> {
    let s = t.scales();
    crate::ensure!(
        s.len() == 1,
        "SVDF weights '{}' need one (per-tensor) scale, have {}",
        t.name,
        s.len()
    );
    Ok(s[0])
}

#[derive(Debug)]
struct Svdf {
    name: &'static str,
    batch: usize,
    input_size: usize,
    filters: usize,
    memory: usize,
    rank: usize,
    activation: Activation,
    /// `Some((feature_scale, time_scale, asymmetric))` for int8 weights.
    hybrid: Option<(f32, f32, bool)>,
}

/// The family's factory: SVDF, `Ok(None)` for other operators.
pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Op::Svdf(attrs) = node.op else {
        return Ok(None);
    };
    crate::ensure!(
        node.inputs.len() == 5,
        "SVDF takes 5 inputs, got {}",
        node.inputs.len()
    );
    node.expect_outputs(1)?;
    let input = node.input(INPUT)?;
    let [batch, input_size] = input.shape[..] else {
        return Err(KernelError::invalid(format!(
            "SVDF input '{}' must have rank 2, has shape {:?}",
            input.name, input.shape
        )));
    };
    let feature = node.input(FEATURE)?;
    crate::ensure!(
        feature.rank() == 2 && feature.shape[1] == input_size,
        "SVDF feature weights '{}' must be [filters, {input_size}], are {:?}",
        feature.name,
        feature.shape
    );
    let filters = feature.shape[0];
    crate::ensure!(
        filters > 0,
        "SVDF feature weights '{}' have no filters",
        feature.name
    );
    let rank = usize::try_from(attrs.rank).unwrap_or(0);
    crate::ensure!(
        rank > 0 && filters % rank == 0,
        "SVDF rank {} must be positive and divide the filter count {filters}",
        attrs.rank
    );
    let units = filters / rank;
    let time = node.input(TIME)?;
    crate::ensure!(
        time.rank() == 2 && time.shape[0] == filters && time.shape[1] > 0,
        "SVDF time weights '{}' must be [{filters}, memory], are {:?}",
        time.name,
        time.shape
    );
    let memory = time.shape[1];
    if let Some(b) = node.optional_input(BIAS) {
        crate::ensure!(
            b.shape == [units] && b.dtype == DType::Float32,
            "SVDF bias '{}' must be float32 [{units}], is {:?} {:?}",
            b.name,
            b.dtype,
            b.shape
        );
    }
    let state = node.input(STATE)?;
    crate::ensure!(
        Some(state.num_elements())
            == batch
                .checked_mul(filters)
                .and_then(|n| n.checked_mul(memory)),
        "SVDF state '{}' {:?} must hold {batch}x{filters}x{memory} elements",
        state.name,
        state.shape
    );
    let output = node.output(0)?;
    crate::ensure!(
        output.shape == [batch, units],
        "SVDF output '{}' has shape {:?}, expected [{batch}, {units}]",
        output.name,
        output.shape
    );
    for t in [input, state, output] {
        crate::ensure!(
            t.dtype == DType::Float32,
            "SVDF tensor '{}' must be float32, is {:?}",
            t.name,
            t.dtype
        );
    }
    let (name, hybrid) = match (feature.dtype, time.dtype) {
        (DType::Float32, DType::Float32) => ("svdf_f32__scalar", None),
        (DType::Int8, DType::Int8) => (
            "svdf_f32__scalar_hybrid",
            Some((
                scale_of(feature)?,
                scale_of(time)?,
                attrs.asymmetric_quantize_inputs,
            )),
        ),
        (f, t) => {
            return Err(KernelError::unsupported(format!(
                "SVDF with {f:?} feature and {t:?} time weights"
            )));
        }
    };
    Ok(Some(Box::new(Svdf {
        name,
        batch,
        input_size,
        filters,
        memory,
        rank,
        activation: attrs.fused_activation_function,
        hybrid,
    })))
}

impl Kernel for Svdf {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        16 + (self.batch * self.filters * self.memory * 4).div_ceil(16) * 16 + self.input_size
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (f_n, mem, n_in) = (self.filters, self.memory, self.input_size);
        let units = f_n / self.rank;
        let (inputs, mut outputs, [mut st], scratch, _) = io.split_with_state([STATE]);
        let pad = scratch.as_ptr().align_offset(16).min(scratch.len());
        let scratch = &mut scratch[pad..];
        let n_state = self.batch * f_n * mem;
        crate::ensure!(
            scratch.len() >= n_state * 4 + n_in,
            "SVDF scratch too small"
        );
        let (state_bytes, rest) = scratch.split_at_mut(n_state * 4);
        let q: &mut [i8] = bytemuck::cast_slice_mut(&mut rest[..n_in]);
        let s_all: &mut [f32] = match st.as_mut() {
            Some(t) => t.as_slice_mut()?,
            None => {
                let b: &mut [f32] = bytemuck::try_cast_slice_mut(state_bytes)
                    .map_err(|e| KernelError::invalid(format!("SVDF scratch: {e:?}")))?;
                b.copy_from_slice(inputs.get(STATE)?.as_slice::<f32>()?);
                b
            }
        };
        crate::ensure!(
            s_all.len() == n_state,
            "SVDF state does not match the layout"
        );
        let x_all = inputs.get(INPUT)?.as_slice::<f32>()?;
        let bias = match inputs.optional(BIAS) {
            Some(b) => b.as_slice::<f32>()?,
            None => &[],
        };
        crate::ensure!(
            x_all.len() == self.batch * n_in && (bias.is_empty() || bias.len() == units),
            "SVDF input or bias does not match the layout"
        );
        let feature = inputs.get(FEATURE)?;
        let time = inputs.get(TIME)?;
        let mut out = outputs.get(0)?;
        let out_all = out.as_slice_mut::<f32>()?;
        crate::ensure!(
            out_all.len() == self.batch * units,
            "SVDF output does not match the layout"
        );
        let (ff, fq, tf, tq) = match self.hybrid {
            None => (
                feature.as_slice::<f32>()?,
                &[][..],
                time.as_slice::<f32>()?,
                &[][..],
            ),
            Some(_) => (
                &[][..],
                feature.as_slice::<i8>()?,
                &[][..],
                time.as_slice::<i8>()?,
            ),
        };
        let n_feature = if self.hybrid.is_some() {
            fq.len()
        } else {
            ff.len()
        };
        let n_time = if self.hybrid.is_some() {
            tq.len()
        } else {
            tf.len()
        };
        crate::ensure!(
            n_feature == f_n * n_in && n_time == f_n * mem,
            "SVDF weights do not match the layout"
        );
        for b in 0..self.batch {
            let x = &x_all[b * n_in..][..n_in];
            let s = &mut s_all[b * f_n * mem..][..f_n * mem];
            // Shift every filter's memory left by one (the whole row, as LiteRT does: each
            // filter's newest slot is overwritten next).
            s.copy_within(1.., 0);
            match self.hybrid {
                None => {
                    for f in 0..f_n {
                        let w = &ff[f * n_in..][..n_in];
                        s[f * mem + mem - 1] =
                            w.iter().zip(x).fold(0.0f32, |acc, (&w, &x)| acc + w * x);
                    }
                }
                Some((f_scale, _, asym)) => {
                    let zero = x.iter().all(|&v| v == 0.0);
                    let (scale, zp) = if zero { (0.0, 0) } else { quantize(x, q, asym) };
                    for f in 0..f_n {
                        let mut v = 0.0f32;
                        if !zero {
                            let w = &fq[f * n_in..][..n_in];
                            let mut dot = 0i32;
                            let mut sum = 0i32;
                            for (&w, &q) in w.iter().zip(q.iter()) {
                                dot = dot.wrapping_add(i32::from(w) * i32::from(q));
                                sum = sum.wrapping_add(i32::from(w));
                            }
                            let dot = dot.wrapping_sub(sum.wrapping_mul(zp));
                            v += dot as f32 * (scale * f_scale);
                        }
                        s[f * mem + mem - 1] = v;
                    }
                }
            }
            let o = &mut out_all[b * units..][..units];
            for (u, o) in o.iter_mut().enumerate() {
                let mut acc = bias.get(u).copied().unwrap_or(0.0);
                for f in u * self.rank..(u + 1) * self.rank {
                    let m = &s[f * mem..][..mem];
                    let a = match self.hybrid {
                        None => m
                            .iter()
                            .zip(&tf[f * mem..][..mem])
                            .fold(0.0f32, |acc, (&m, &w)| acc + m * w),
                        Some((_, t_scale, _)) => m
                            .iter()
                            .zip(&tq[f * mem..][..mem])
                            .fold(0.0f32, |acc, (&m, &w)| acc + m * (f32::from(w) * t_scale)),
                    };
                    acc += a;
                }
                *o = activate(self.activation, acc);
            }
        }
        Ok(())
    }
}

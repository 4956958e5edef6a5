//! The LSTM family: UNIDIRECTIONAL_SEQUENCE_LSTM in float32, hybrid (float activations, int8
//! weights, as LiteRT's `EvalHybrid` computes it) and fully-integer int8 (LiteRT's "8x8_16"
//! kernel: int8 input and output, int16 cell state and gates, `EvalInteger8x8_16`).
//!
//! The node has LiteRT's 24 inputs (or the deprecated 20, without layer normalization):
//! input, four input-to-gate and four recurrent-to-gate weights (input gate ones absent for
//! CIFG), three optional peephole vectors, four gate biases, an optional projection, the output
//! and cell state, and four optional layer-norm coefficient vectors. Recurrent weights given
//! as vectors (rank 1) are diagonal. The two states are variable tensors: the kernel updates
//! them in place ([`KernelIo::split_with_state`](crate::KernelIo::split_with_state)), so a
//! later invoke continues the sequence; where they are not writable (outside an interpreter)
//! the kernel works on a copy in scratch and the state is not kept.
//!
//! Batches are independent in every variant (LiteRT quantizes per batch row and checks
//! "all zero" shortcuts whose results are the same either way), so all variants step one batch
//! row at a time, for batch-major and time-major layouts alike.

mod float;
mod integer;

/// LiteRT's per-row `BatchQuantizeFloats`, shared with the RNN family.
pub(crate) use float::quantize;

#[cfg(test)]
mod litert_cases;
#[cfg(test)]
mod tests;

use crate::kernel::NodeCtx;
// The int16 gemmlowp functions, under the name the tests of this family use.
#[cfg(test)]
use crate::scalar::qmath::fixed16;
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError, TensorRef};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, Op, UnidirectionalSequenceLstmAttrs};

/// LiteRT's input slots (`lstm::full` in `lstm_shared.h`).
pub(super) mod slot {
    pub const INPUT: usize = 0;
    /// Input-to-gate weights, gate order input, forget, cell, output.
    pub const INPUT_WEIGHTS: [usize; 4] = [1, 2, 3, 4];
    /// Recurrent-to-gate weights.
    pub const RECURRENT_WEIGHTS: [usize; 4] = [5, 6, 7, 8];
    /// Peephole (cell-to-gate) weights; the cell gate has none.
    pub const PEEPHOLE: [Option<usize>; 4] = [Some(9), Some(10), None, Some(11)];
    /// Gate biases.
    pub const BIAS: [usize; 4] = [12, 13, 14, 15];
    pub const PROJECTION_WEIGHTS: usize = 16;
    pub const PROJECTION_BIAS: usize = 17;
    pub const OUTPUT_STATE: usize = 18;
    pub const CELL_STATE: usize = 19;
    /// Layer-norm coefficients.
    pub const LAYER_NORM: [usize; 4] = [20, 21, 22, 23];
}

/// Gate indices.
pub(super) const INPUT_GATE: usize = 0;
pub(super) const CELL_GATE: usize = 2;

/// Shapes and structure of an LSTM node, checked against each other.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub n_batch: usize,
    pub max_time: usize,
    pub n_input: usize,
    pub n_cell: usize,
    pub n_output: usize,
    pub time_major: bool,
    /// Coupled input and forget gates: no input gate, `1 - forget` takes its place.
    pub cifg: bool,
    pub peephole: bool,
    pub layer_norm: bool,
    pub projection: bool,
    /// Recurrent weights of each gate are a diagonal (a vector of `n_cell`).
    pub diag: [bool; 4],
}

impl Layout {
    /// Checks the node's shapes the way LiteRT's `Prepare` does.
    fn new(
        node: &NodeCtx<'_>,
        attrs: &UnidirectionalSequenceLstmAttrs,
    ) -> Result<Self, KernelError> {
        let n_in = node.inputs.len();
        crate::ensure!(
            n_in == 24 || n_in == 20,
            "UNIDIRECTIONAL_SEQUENCE_LSTM takes 24 inputs (or the deprecated 20), got {n_in}"
        );
        node.expect_outputs(1)?;
        crate::ensure!(
            attrs.cell_clip >= 0.0 && attrs.proj_clip >= 0.0,
            "cell_clip ({}) and proj_clip ({}) must be >= 0",
            attrs.cell_clip,
            attrs.proj_clip
        );
        let input = node.input(slot::INPUT)?;
        let (n_batch, max_time) = match input.shape[..] {
            [b, _] => (b, 1),
            [a, b, _] if attrs.time_major => (b, a),
            [a, b, _] => (a, b),
            _ => {
                return Err(KernelError::invalid(format!(
                    "LSTM input '{}' must have rank 2 or 3, has shape {:?}",
                    input.name, input.shape
                )));
            }
        };
        let n_input = input.shape[input.rank() - 1];
        let i2o = node.input(slot::INPUT_WEIGHTS[3])?;
        crate::ensure!(
            i2o.rank() == 2 && i2o.shape[1] == n_input,
            "input-to-output weights '{}' must be [n_cell, {n_input}], are {:?}",
            i2o.name,
            i2o.shape
        );
        let n_cell = i2o.shape[0];
        let r2o = node.input(slot::RECURRENT_WEIGHTS[3])?;
        crate::ensure!(
            matches!(r2o.rank(), 1 | 2) && r2o.shape[0] == n_cell,
            "recurrent-to-output weights '{}' must be [{n_cell}] or [{n_cell}, n_output], are {:?}",
            r2o.name,
            r2o.shape
        );
        let n_output = if r2o.rank() == 1 {
            n_cell
        } else {
            r2o.shape[1]
        };

        let i2i = node.optional_input(slot::INPUT_WEIGHTS[0]);
        let r2i = node.optional_input(slot::RECURRENT_WEIGHTS[0]);
        crate::ensure!(
            i2i.is_some() == r2i.is_some(),
            "input-to-input and recurrent-to-input weights must be both present or both absent"
        );
        let cifg = i2i.is_none();
        let mut diag = [false; 4];
        for (g, diag) in diag.iter_mut().enumerate() {
            if g == INPUT_GATE && cifg {
                continue;
            }
            let w = node.input(slot::INPUT_WEIGHTS[g])?;
            expect_shape(w, &[n_cell, n_input], "input-to-gate weights")?;
            let r = node.input(slot::RECURRENT_WEIGHTS[g])?;
            *diag = r.rank() == 1;
            if *diag {
                expect_shape(r, &[n_cell], "diagonal recurrent weights")?;
            } else {
                expect_shape(r, &[n_cell, n_output], "recurrent-to-gate weights")?;
            }
        }

        let peepholes = slot::PEEPHOLE.map(|s| s.and_then(|s| node.optional_input(s)));
        let peephole = peepholes[1].is_some();
        let all = (peepholes[0].is_some() || cifg) && peephole && peepholes[3].is_some();
        let none = peepholes.iter().all(Option::is_none);
        crate::ensure!(
            all || none,
            "peephole weights must be all present or all absent"
        );
        for p in peepholes.iter().flatten() {
            expect_shape(p, &[n_cell], "peephole weights")?;
        }

        crate::ensure!(
            cifg == node.optional_input(slot::BIAS[INPUT_GATE]).is_none(),
            "the input gate bias must be present exactly when the input gate is (not CIFG)"
        );
        for (g, &s) in slot::BIAS.iter().enumerate() {
            if g == INPUT_GATE && cifg {
                continue;
            }
            expect_shape(node.input(s)?, &[n_cell], "gate bias")?;
        }

        let projection = node.optional_input(slot::PROJECTION_WEIGHTS);
        if let Some(p) = projection {
            expect_shape(p, &[n_output, n_cell], "projection weights")?;
        } else {
            crate::ensure!(
                node.optional_input(slot::PROJECTION_BIAS).is_none(),
                "a projection bias needs projection weights"
            );
            // Without projection the output is the hidden state itself.
            crate::ensure!(
                n_output == n_cell,
                "without projection the output size ({n_output}) must be the cell count ({n_cell})"
            );
        }
        if let Some(b) = node.optional_input(slot::PROJECTION_BIAS) {
            expect_shape(b, &[n_output], "projection bias")?;
        }

        let output_state = node.input(slot::OUTPUT_STATE)?;
        let cell_state = node.input(slot::CELL_STATE)?;
        crate::ensure!(
            Some(output_state.num_elements()) == n_batch.checked_mul(n_output)
                && Some(cell_state.num_elements()) == n_batch.checked_mul(n_cell),
            "states '{}' {:?} and '{}' {:?} must hold {n_batch}x{n_output} and {n_batch}x{n_cell} elements",
            output_state.name,
            output_state.shape,
            cell_state.name,
            cell_state.shape
        );

        let layer_norm = n_in == 24 && node.optional_input(slot::LAYER_NORM[1]).is_some();
        if layer_norm {
            crate::ensure!(
                cifg == node.optional_input(slot::LAYER_NORM[INPUT_GATE]).is_none(),
                "input gate layer-norm coefficients must be present exactly when the input gate is"
            );
            for (g, &s) in slot::LAYER_NORM.iter().enumerate() {
                if g == INPUT_GATE && cifg {
                    continue;
                }
                expect_shape(node.input(s)?, &[n_cell], "layer-norm coefficients")?;
            }
        }

        let output = node.output(0)?;
        let mut expected = input.shape.clone();
        if let Some(last) = expected.last_mut() {
            *last = n_output;
        }
        crate::ensure!(
            output.shape == expected,
            "LSTM output '{}' has shape {:?}, expected {:?}",
            output.name,
            output.shape,
            expected
        );

        Ok(Self {
            n_batch,
            max_time,
            n_input,
            n_cell,
            n_output,
            time_major: attrs.time_major,
            cifg,
            peephole,
            layer_norm,
            projection: projection.is_some(),
            diag,
        })
    }

    /// Index of the input (and output) row of batch `b` at step `t`.
    pub fn row(&self, b: usize, t: usize) -> usize {
        if self.time_major {
            t * self.n_batch + b
        } else {
            b * self.max_time + t
        }
    }

    /// Whether gate `g` is computed (the input gate is not, with CIFG).
    pub fn has_gate(&self, g: usize) -> bool {
        g != INPUT_GATE || !self.cifg
    }

    /// Whether gate `g` has a peephole connection.
    pub fn has_peephole(&self, g: usize) -> bool {
        self.peephole && g != CELL_GATE && self.has_gate(g)
    }

    /// Whether gate `g` has layer-norm coefficients.
    pub fn has_layer_norm(&self, g: usize) -> bool {
        self.layer_norm && self.has_gate(g)
    }
}

fn expect_shape(t: &TensorInfo, shape: &[usize], what: &str) -> Result<(), KernelError> {
    crate::ensure!(
        t.shape == shape,
        "{what} '{}' must have shape {shape:?}, has {:?}",
        t.name,
        t.shape
    );
    Ok(())
}

/// Fails unless the present input `slot` has type `dtype`.
pub(super) fn expect_dtype(
    node: &NodeCtx<'_>,
    slot: usize,
    dtype: DType,
) -> Result<(), KernelError> {
    if let Some(t) = node.optional_input(slot) {
        crate::ensure!(
            t.dtype == dtype,
            "LSTM input {slot} '{}' must be {dtype:?}, is {:?}",
            t.name,
            t.dtype
        );
    }
    Ok(())
}

/// The family's factory: a kernel for UNIDIRECTIONAL_SEQUENCE_LSTM, `Ok(None)` for any other
/// operator.
pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Op::UnidirectionalSequenceLstm(attrs) = node.op else {
        return Ok(None);
    };
    let layout = Layout::new(node, attrs)?;
    let input = node.input(slot::INPUT)?.dtype;
    let weights = node.input(slot::INPUT_WEIGHTS[3])?.dtype;
    let kernel: Box<dyn Kernel> = match (input, weights) {
        (DType::Float32, DType::Float32) => Box::new(float::FloatLstm::new(node, attrs, layout)?),
        (DType::Float32, DType::Int8) => Box::new(float::HybridLstm::new(node, attrs, layout)?),
        (DType::Int8, DType::Int8) => Box::new(integer::IntegerLstm::new(node, attrs, layout)?),
        _ => {
            return Err(KernelError::unsupported(format!(
                "UNIDIRECTIONAL_SEQUENCE_LSTM with {input:?} input and {weights:?} weights"
            )));
        }
    };
    Ok(Some(kernel))
}

/// Carves typed, 16-byte aligned buffers out of a kernel's scratch bytes.
pub(super) struct Scratch<'a> {
    rest: &'a mut [u8],
}

impl<'a> Scratch<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `n` elements of `T`.
    pub fn take<T: bytemuck::Pod>(&mut self, n: usize) -> Result<&'a mut [T], KernelError> {
        let rest = core::mem::take(&mut self.rest);
        let pad = rest.as_ptr().align_offset(16).min(rest.len());
        let size = n * core::mem::size_of::<T>();
        let rest = &mut rest[pad..];
        crate::ensure!(
            rest.len() >= size,
            "LSTM scratch too small ({} bytes left, {size} needed)",
            rest.len()
        );
        let (head, tail) = rest.split_at_mut(size);
        self.rest = tail;
        bytemuck::try_cast_slice_mut(head)
            .map_err(|e| KernelError::invalid(format!("LSTM scratch: {e:?}")))
    }
}

/// Scratch bytes for buffers of the given byte sizes, carved with [`Scratch::take`] in order.
pub(super) fn scratch_size(sizes: &[usize]) -> usize {
    16 + sizes.iter().map(|s| s.div_ceil(16) * 16).sum::<usize>()
}

/// Input `slot` as a slice of `T` of exactly `len` elements (empty when the input is absent).
pub(super) fn slice_of<'a, T: bytemuck::Pod>(
    t: Option<TensorRef<'a>>,
    len: usize,
) -> Result<&'a [T], KernelError> {
    let Some(t) = t else {
        return Ok(&[]);
    };
    let s = t.as_slice::<T>()?;
    crate::ensure!(
        s.len() == len,
        "tensor '{}' holds {} elements, expected {len}",
        t.info.name,
        s.len()
    );
    Ok(s)
}

/// The per-tensor scale of a quantized weight, or an error naming it.
pub(super) fn weight_scale(t: &TensorInfo) -> Result<f32, KernelError> {
    let scales = t.scales();
    crate::ensure!(
        scales.len() == 1,
        "LSTM weights '{}' need one (per-tensor) scale, have {}",
        t.name,
        scales.len()
    );
    Ok(scales[0])
}

/// Sums of each row of a `rows x cols` int8 matrix (LiteRT's `ReductionSumVector`).
pub(super) fn row_sums(matrix: &[i8], rows: usize, cols: usize) -> Vec<i32> {
    (0..rows)
        .map(|r| {
            matrix[r * cols..][..cols]
                .iter()
                .fold(0i32, |acc, &w| acc.wrapping_add(i32::from(w)))
        })
        .collect()
}

/// The constant bytes of input `slot` as a typed vector, or `Unsupported` naming what needs it.
pub(super) fn constant_of<T: bytemuck::Pod>(
    node: &NodeCtx<'_>,
    slot: usize,
    why: &str,
) -> Result<Vec<T>, KernelError> {
    let t = node.input(slot)?;
    let bytes = node.constant(slot).ok_or_else(|| {
        KernelError::unsupported(format!(
            "LSTM input {slot} '{}' must be a constant ({why})",
            t.name
        ))
    })?;
    let expected = t.num_elements().checked_mul(core::mem::size_of::<T>());
    crate::ensure!(
        Some(bytes.len()) == expected,
        "constant '{}' holds {} bytes, expected {expected:?}",
        t.name,
        bytes.len()
    );
    // Constants may be unaligned in the model: copy element by element.
    Ok(bytes
        .chunks_exact(core::mem::size_of::<T>())
        .map(bytemuck::pod_read_unaligned)
        .collect())
}

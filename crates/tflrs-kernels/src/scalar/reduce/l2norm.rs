//! L2_NORMALIZATION over the last axis: float32, and int8 / uint8 with LiteRT's fixed-point
//! inverse square root (`GetInvSqrtQuantizedMultiplierExp`, a Newton-Raphson iteration in
//! gemmlowp's Q3.28 fixed point), output scale 1/128.

use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::{
    activation_range_f32, clamp_f32, multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_smaller_than_one_exp, rounding_divide_by_pot, srdhm,
};
use crate::scalar::shape_ops::util::{check_len, expect_shape, kernel_name, product, quant_of};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{Activation, DType, L2NormAttrs};

/// gemmlowp's `SaturatingRoundingMultiplyByPOT<exponent>` for a positive exponent: a left
/// shift that saturates.
fn saturating_shl(x: i32, exponent: u32) -> i32 {
    let threshold = (1i32 << (31 - exponent)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// LiteRT's `GetInvSqrtQuantizedMultiplierExp(input, kReverseShift)`: `(multiplier, shift)`
/// with `1 / sqrt(input) ~= multiplier * 2^(shift - 31)`.
pub(crate) fn inv_sqrt_multiplier_exp(input: i32) -> (i32, i32) {
    if input <= 1 {
        // 0 and 1 both give the largest multiplier, as LiteRT special-cases them.
        return (i32::MAX, 0);
    }
    let mut input = input;
    let mut shift = 11i32;
    while input >= 1 << 29 {
        input /= 4;
        shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    shift -= left_shift_bit_pairs as i32;
    input <<= 2 * left_shift_bit_pairs;
    // Q3.28 fixed point: products of two Q3.28 are Q6.25 (srdhm), rescaled back by a
    // saturating shift.
    let half_input = rounding_divide_by_pot(input >> 1, 1);
    let half_three = (1 << 28) + (1 << 27);
    let mut x = 1i32 << 28;
    for _ in 0..5 {
        let x3 = saturating_shl(srdhm(srdhm(x, x), x), 6);
        x = saturating_shl(srdhm(half_three, x).wrapping_sub(srdhm(half_input, x3)), 3);
    }
    let half_sqrt_2 = 1_518_500_250;
    let mut out = srdhm(x, half_sqrt_2);
    if shift < 0 {
        out <<= -shift;
        shift = 0;
    }
    (out, -shift)
}

#[derive(Debug)]
struct L2Norm {
    name: &'static str,
    dtype: DType,
    outer: usize,
    depth: usize,
    in_zp: i32,
    clamp: (f32, f32),
}

impl Kernel for L2Norm {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(0)?;
        let mut out = outputs.get(0)?;
        let (n, d) = (self.outer * self.depth, self.depth);
        let esize = if self.dtype == DType::Float32 { 4 } else { 1 };
        check_len(self.name, input.bytes.len(), n * esize)?;
        check_len(self.name, out.bytes.len(), n * esize)?;
        if d == 0 {
            return Ok(()); // empty rows: nothing to write
        }
        match self.dtype {
            DType::Float32 => {
                let (x, y) = (
                    &input.as_slice::<f32>()?[..n],
                    &mut out.as_slice_mut::<f32>()?[..n],
                );
                let (lo, hi) = self.clamp;
                for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
                    let mut sq = 0.0f32;
                    for &v in xr {
                        sq += v * v;
                    }
                    let norm = crate::math::sqrtf(sq).max(1e-6);
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = clamp_f32(v / norm, lo, hi);
                    }
                }
            }
            DType::Int8 => {
                let (x, y) = (&input.bytes[..n], &mut out.bytes[..n]);
                for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
                    let mut acc = 0i32;
                    for &v in xr {
                        let v = i32::from(v as i8) - self.in_zp;
                        acc = acc.wrapping_add(v * v);
                    }
                    let (m, s) = inv_sqrt_multiplier_exp(acc);
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        let v = i32::from(v as i8) - self.in_zp;
                        // Output scale 1/128: fold the 2^7 into the shift.
                        let q = multiply_by_quantized_multiplier(v, m, s + 7);
                        *o = q.clamp(-128, 127) as i8 as u8;
                    }
                }
            }
            DType::UInt8 => {
                let (x, y) = (&input.bytes[..n], &mut out.bytes[..n]);
                for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
                    let mut acc = 0i32;
                    for &v in xr {
                        let v = i32::from(v) - self.in_zp;
                        acc = acc.wrapping_add(v * v);
                    }
                    let (m, s) = inv_sqrt_multiplier_exp(acc);
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        let v = i32::from(v) - self.in_zp;
                        let q =
                            multiply_by_quantized_multiplier_smaller_than_one_exp(128 * v, m, s);
                        *o = (128 + q).clamp(0, 255) as u8;
                    }
                }
            }
            other => {
                return Err(KernelError::unsupported(format!(
                    "{}: type {other}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

pub(super) fn l2_normalization(
    node: &NodeCtx<'_>,
    attrs: &L2NormAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "L2_NORMALIZATION";
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    crate::scalar::shape_ops::util::same_dtype(OP, input, output)?;
    expect_shape(OP, output, &input.shape)?;
    crate::ensure!(
        input.rank() >= 1,
        "{OP}: input '{}' must have at least one dimension",
        input.name
    );
    let act = attrs.fused_activation_function;
    let mut in_zp = 0;
    match input.dtype {
        DType::Float32 => crate::ensure!(
            matches!(
                act,
                Activation::None | Activation::Relu | Activation::Relu6 | Activation::ReluN1To1
            ),
            "{OP}: fused activation {act} is not supported"
        ),
        DType::Int8 | DType::UInt8 => {
            // LiteRT's quantized kernels take no activation and a fixed output quantization.
            crate::ensure!(
                act == Activation::None,
                "{OP}: quantized kernels take no fused activation"
            );
            let (_, zi) = quant_of(input).ok_or_else(|| {
                KernelError::invalid(format!("{OP}: input '{}' is not quantized", input.name))
            })?;
            let want_zp = if input.dtype == DType::Int8 { 0 } else { 128 };
            crate::ensure!(
                quant_of(output) == Some((1.0 / 128.0, want_zp)),
                "{OP}: output '{}' must have scale 1/128 and zero point {want_zp}",
                output.name
            );
            in_zp = zi;
        }
        other => return Err(KernelError::unsupported(format!("{OP}: type {other}"))),
    }
    let depth = *input.shape.last().unwrap_or(&1);
    Ok(Box::new(L2Norm {
        name: kernel_name!("l2_normalization", input.dtype),
        dtype: input.dtype,
        outer: product(&input.shape).checked_div(depth).unwrap_or(0),
        depth,
        in_zp,
        clamp: activation_range_f32(act),
    }))
}

#[cfg(test)]
mod tests {
    use super::inv_sqrt_multiplier_exp;
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{Activation, DType, L2NormAttrs, Op};

    #[test]
    fn inv_sqrt_is_close() {
        for v in [2i32, 3, 100, 12345, 1 << 20, 1 << 30, i32::MAX] {
            let (m, s) = inv_sqrt_multiplier_exp(v);
            let approx = f64::from(m) * 2f64.powi(s - 31);
            let exact = 1.0 / f64::from(v).sqrt();
            assert!(
                (approx / exact - 1.0).abs() < 1e-5,
                "{v}: {approx} vs {exact}"
            );
        }
    }

    #[test]
    fn float_and_int8() {
        let op = Op::L2Normalization(L2NormAttrs {
            fused_activation_function: Activation::None,
        });
        let x = [3f32, 4., 0., 0.];
        let inputs = [Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Float32, [2, 2]),
            &x,
        ))];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[TensorInfo::new("y", DType::Float32, [2, 2])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[0.6, 0.8, 0., 0.]
        );

        let x = [30i8, 40, -5, 0];
        let inputs = [Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Int8, [2, 2]).with_quant(0.1, 0),
            &x,
        ))];
        let out = [TensorInfo::new("y", DType::Int8, [2, 2]).with_quant(1.0 / 128.0, 0)];
        let got = run_node(&ScalarBackend, &op, &inputs, &out).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[77, 102, -128, 0]);
    }

    /// Rows of no elements (a zero-size last dimension) give an empty output, not a panic.
    #[test]
    fn empty_rows() {
        let op = Op::L2Normalization(L2NormAttrs {
            fused_activation_function: Activation::None,
        });
        for (dtype, quant) in [
            (DType::Float32, None),
            (DType::Int8, Some((0.1, 1.0 / 128.0))),
        ] {
            let info = |name: &str, scale: Option<f32>| {
                let t = TensorInfo::new(name, dtype, [3, 0]);
                match scale {
                    Some(q) => t.with_quant(q, 0),
                    None => t,
                }
            };
            let x = info("x", quant.map(|q| q.0));
            let inputs = [Some(TestInput::from_slice(x, &[] as &[u8]))];
            let y = info("y", quant.map(|q| q.1));
            let got = run_node(&ScalarBackend, &op, &inputs, &[y]).unwrap();
            assert!(got[0].is_empty(), "{dtype:?}");
        }
    }
}

//! The interpreter's user I/O: inputs and outputs by index, name and signature, typed views,
//! `resize_input`.

use crate::element::Element;
use crate::{Error, Interpreter};
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use tflrs_ir::{DType, QuantScheme, Shape};
use tflrs_kernels::TensorInfo;

impl<'m> Interpreter<'m> {
    /// Number of inputs of the main subgraph.
    pub fn num_inputs(&self) -> usize {
        self.main().inputs.len()
    }

    /// Number of outputs of the main subgraph.
    pub fn num_outputs(&self) -> usize {
        self.main().outputs.len()
    }

    /// Description of input `i`.
    pub fn input_info(&self, i: usize) -> Result<&TensorInfo, Error> {
        let plan = self.main();
        let t = *plan.inputs.get(i).ok_or_else(|| no_such("input", i))?;
        Ok(&plan.tensors[t])
    }

    /// Description of output `i`.
    pub fn output_info(&self, i: usize) -> Result<&TensorInfo, Error> {
        let plan = self.main();
        let t = *plan.outputs.get(i).ok_or_else(|| no_such("output", i))?;
        Ok(&plan.tensors[t])
    }

    /// The model's signatures (TFLite `SignatureDef`s): a key (`"serving_default"`), the
    /// subgraph it runs, and the names callers use for its inputs and outputs.
    pub fn signatures(&self) -> &[tflrs_ir::Signature] {
        &self.graph().signatures
    }

    /// Position among the main subgraph's inputs (or outputs) of the tensor that signature
    /// `key` names `name`.
    fn signature_position(&self, key: &str, name: &str, input: bool) -> Result<usize, Error> {
        let sig = self
            .signatures()
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| no_such("signature", key))?;
        if sig.subgraph != 0 {
            return Err(Error::NoSuchTensor {
                what: "signature on the main subgraph",
                name: format!(
                    "{key} (it runs subgraph {}; only the main subgraph is an entry point for now)",
                    sig.subgraph
                ),
            });
        }
        let (named, ours) = if input {
            (&sig.inputs, &self.main().inputs)
        } else {
            (&sig.outputs, &self.main().outputs)
        };
        let what = if input {
            "signature input"
        } else {
            "signature output"
        };
        let value = named
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| no_such(what, format!("{key}/{name}")))?
            .value
            .index();
        ours.iter()
            .position(|&t| t == value)
            .ok_or_else(|| no_such(what, format!("{key}/{name}")))
    }

    /// Index of the input that signature `key` calls `name` (LiteRT's
    /// `get_signature_runner(key)` input names).
    pub fn signature_input_index(&self, key: &str, name: &str) -> Result<usize, Error> {
        self.signature_position(key, name, true)
    }

    /// Index of the output that signature `key` calls `name`.
    pub fn signature_output_index(&self, key: &str, name: &str) -> Result<usize, Error> {
        self.signature_position(key, name, false)
    }

    /// Index of the input named `name`.
    pub fn input_index(&self, name: &str) -> Result<usize, Error> {
        let plan = self.main();
        plan.inputs
            .iter()
            .position(|&t| plan.tensors[t].name == name)
            .ok_or_else(|| no_such("input", name))
    }

    /// Index of the output named `name`.
    pub fn output_index(&self, name: &str) -> Result<usize, Error> {
        let plan = self.main();
        plan.outputs
            .iter()
            .position(|&t| plan.tensors[t].name == name)
            .ok_or_else(|| no_such("output", name))
    }

    /// Input `i`'s bytes, for writing.
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        let plan = self.main_mut();
        let t = *plan.inputs.get(i).ok_or_else(|| no_such("input", i))?;
        plan.bytes_mut(t)
            .ok_or_else(|| no_such("writable input", i))
    }

    /// Output `i`'s bytes.
    pub fn output_bytes(&self, i: usize) -> Result<&[u8], Error> {
        let plan = self.main();
        let t = *plan.outputs.get(i).ok_or_else(|| no_such("output", i))?;
        plan.bytes(t)
            .ok_or_else(|| no_such("materialized output", i))
    }

    /// Input `i` as a typed slice, for writing; fails unless `T` is the input's type.
    pub fn input_mut<T: Element>(&mut self, i: usize) -> Result<&mut [T], Error> {
        check_dtype::<T>(self.input_info(i)?)?;
        let bytes = self.input_bytes_mut(i)?;
        Ok(bytemuck::cast_slice_mut(bytes))
    }

    /// Output `i` as a typed slice; fails unless `T` is the output's type.
    pub fn output<T: Element>(&self, i: usize) -> Result<&[T], Error> {
        check_dtype::<T>(self.output_info(i)?)?;
        Ok(bytemuck::cast_slice(self.output_bytes(i)?))
    }

    /// The input named `name` as a typed slice, for writing.
    pub fn input_by_name_mut<T: Element>(&mut self, name: &str) -> Result<&mut [T], Error> {
        let i = self.input_index(name)?;
        self.input_mut(i)
    }

    /// The output named `name` as a typed slice.
    pub fn output_by_name<T: Element>(&self, name: &str) -> Result<&[T], Error> {
        self.output(self.output_index(name)?)
    }

    /// Copies `data` into input `i` (LiteRT's `set_tensor`). A wrong element type is
    /// [`Error::DTypeMismatch`], a wrong number of elements [`Error::SizeMismatch`]; the
    /// input is then left as it was. To feed another shape, [`resize_input`](Self::resize_input)
    /// first.
    pub fn set_input<T: Element>(&mut self, i: usize, data: &[T]) -> Result<(), Error> {
        let info = self.input_info(i)?;
        check_dtype::<T>(info)?;
        check_len(info, data.len())?;
        let dst = self.input_bytes_mut(i)?;
        dst.copy_from_slice(bytemuck::cast_slice(data));
        Ok(())
    }

    /// [`set_input`](Self::set_input) on the input named `name`.
    pub fn set_input_by_name<T: Element>(&mut self, name: &str, data: &[T]) -> Result<(), Error> {
        let i = self.input_index(name)?;
        self.set_input(i, data)
    }

    /// Writes real values into input `i`, quantizing them when the input is quantized: a
    /// float32 input takes them as they are, a float16 one rounded to half precision, an
    /// int8, uint8 or int16 input with per-tensor quantization `q = clamp(round(x / scale) +
    /// zero_point)` (round half away from zero, as LiteRT's `QUANTIZE`). Other inputs are
    /// [`Error::DTypeMismatch`]; a wrong number of values [`Error::SizeMismatch`].
    pub fn set_input_f32(&mut self, i: usize, data: &[f32]) -> Result<(), Error> {
        let info = self.input_info(i)?;
        check_len(info, data.len())?;
        let dtype = info.dtype;
        let quant = info.per_tensor_quant();
        let refuse = Error::DTypeMismatch {
            name: info.name.clone(),
            actual: dtype,
            requested: DType::Float32,
        };
        let dst = self.input_bytes_mut(i)?;
        match (dtype, quant) {
            (DType::Float32, _) => dst.copy_from_slice(bytemuck::cast_slice(data)),
            (DType::Float16, _) => {
                for (d, x) in dst.chunks_exact_mut(2).zip(data) {
                    d.copy_from_slice(&half::f16::from_f32(*x).to_le_bytes());
                }
            }
            (DType::Int8, Some((scale, zp))) => {
                for (d, x) in dst.iter_mut().zip(data) {
                    *d = quantize(*x, scale, zp, -128, 127) as i8 as u8;
                }
            }
            (DType::UInt8, Some((scale, zp))) => {
                for (d, x) in dst.iter_mut().zip(data) {
                    *d = quantize(*x, scale, zp, 0, 255) as u8;
                }
            }
            (DType::Int16, Some((scale, zp))) => {
                for (d, x) in dst.chunks_exact_mut(2).zip(data) {
                    let q = quantize(*x, scale, zp, -32768, 32767) as i16;
                    d.copy_from_slice(&q.to_le_bytes());
                }
            }
            _ => return Err(refuse),
        }
        Ok(())
    }

    /// Output `i` as real values: dequantized (`(q - zero_point) * scale`, per tensor or per
    /// axis) when the output is quantized, converted to `f32` otherwise (float16, float64 and
    /// integer outputs). Boolean, string and other non-numeric outputs are
    /// [`Error::DTypeMismatch`].
    pub fn output_f32(&self, i: usize) -> Result<Vec<f32>, Error> {
        let info = self.output_info(i)?;
        let mut out = alloc::vec![0.0; info.num_elements()];
        self.output_f32_into(i, &mut out)?;
        Ok(out)
    }

    /// [`output_f32`](Self::output_f32) into `out`, which must have the output's number of
    /// elements ([`Error::SizeMismatch`] otherwise); allocates nothing, for a loop of invokes.
    pub fn output_f32_into(&self, i: usize, out: &mut [f32]) -> Result<(), Error> {
        to_f32_into(self.output_info(i)?, self.output_bytes(i)?, out)
    }

    /// [`output_f32`](Self::output_f32) of the output named `name`.
    pub fn output_f32_by_name(&self, name: &str) -> Result<Vec<f32>, Error> {
        self.output_f32(self.output_index(name)?)
    }

    /// Input `i`'s shape signature (LiteRT's `shape_signature`): `None` for a dimension the
    /// model leaves dynamic (`-1`), which [`resize_input`](Self::resize_input) may set; the
    /// other dimensions are fixed. Without a signature in the file, every dimension of the
    /// stored shape.
    pub fn input_shape_signature(&self, i: usize) -> Result<Vec<Option<usize>>, Error> {
        let sg = self.graph().main().ok_or_else(|| no_such("input", i))?;
        let v = *sg.inputs.get(i).ok_or_else(|| no_such("input", i))?;
        Ok(shape_signature(&sg.values[v.index()].shape))
    }

    /// Output `i`'s shape signature (see [`input_shape_signature`](Self::input_shape_signature)).
    pub fn output_shape_signature(&self, i: usize) -> Result<Vec<Option<usize>>, Error> {
        let sg = self.graph().main().ok_or_else(|| no_such("output", i))?;
        let v = *sg.outputs.get(i).ok_or_else(|| no_such("output", i))?;
        Ok(shape_signature(&sg.values[v.index()].shape))
    }

    /// Gives input `i` a new shape (dynamic dimensions, batch size) and plans again. Inputs'
    /// contents are lost.
    pub fn resize_input(&mut self, i: usize, shape: &[usize]) -> Result<(), Error> {
        let sg = &self.graph().subgraphs[0];
        let v = *sg.inputs.get(i).ok_or_else(|| no_such("input", i))?;
        let value = &sg.values[v.index()];
        if shape.len() != value.shape.dims.len() {
            return Err(Error::BadResize {
                index: i,
                problem: format!(
                    "rank {} given, the input has rank {}",
                    shape.len(),
                    value.shape.dims.len()
                ),
            });
        }
        if let Some(sig) = &value.shape.signature {
            for (axis, (&want, &s)) in shape.iter().zip(sig).enumerate() {
                if s >= 0 && want as i64 != i64::from(s) {
                    return Err(Error::BadResize {
                        index: i,
                        problem: format!("dimension {axis} is fixed at {s}, {want} given"),
                    });
                }
            }
        }
        if self.input_shapes.len() < sg.inputs.len() {
            self.input_shapes.resize(sg.inputs.len(), None);
        }
        let previous = self.input_shapes[i].replace(shape.to_vec());
        let planned = self.plan();
        if planned.is_err() {
            // Keep the interpreter as it was: the old plan is still in place.
            self.input_shapes[i] = previous;
        }
        planned
    }
}

pub(crate) fn no_such(what: &'static str, name: impl ToString) -> Error {
    Error::NoSuchTensor {
        what,
        name: name.to_string(),
    }
}

pub(crate) fn check_dtype<T: Element>(info: &TensorInfo) -> Result<(), Error> {
    if info.dtype != T::DTYPE {
        return Err(Error::DTypeMismatch {
            name: info.name.clone(),
            actual: info.dtype,
            requested: T::DTYPE,
        });
    }
    Ok(())
}

pub(crate) fn check_len(info: &TensorInfo, given: usize) -> Result<(), Error> {
    let expected = info.num_elements();
    if given != expected {
        return Err(Error::SizeMismatch {
            name: info.name.clone(),
            expected,
            given,
        });
    }
    Ok(())
}

fn shape_signature(shape: &Shape) -> Vec<Option<usize>> {
    let dims = shape.signature.as_ref().unwrap_or(&shape.dims);
    dims.iter().map(|&d| usize::try_from(d).ok()).collect()
}

/// `round(x / scale) + zero_point` (half away from zero), clamped to `[lo, hi]`.
fn quantize(x: f32, scale: f32, zero_point: i32, lo: i64, hi: i64) -> i64 {
    let v = x / scale;
    // `as` saturates (and maps NaN to 0); `v - t` is exact, so the halfway test is too.
    let t = v as i64;
    let frac = v - t as f32;
    let r = if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    };
    r.saturating_add(i64::from(zero_point)).clamp(lo, hi)
}

/// A tensor's elements as real values, written to `out` (see [`Interpreter::output_f32`]).
pub(crate) fn to_f32_into(info: &TensorInfo, bytes: &[u8], out: &mut [f32]) -> Result<(), Error> {
    fn each<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(N)) {
            *o = f(c.try_into().unwrap_or([0; N]));
        }
    }
    let width = match info.dtype {
        DType::Int8 | DType::UInt8 => 1,
        DType::Float16 | DType::Int16 | DType::UInt16 => 2,
        DType::Float32 | DType::Int32 | DType::UInt32 => 4,
        DType::Float64 | DType::Int64 => 8,
        _ => {
            return Err(Error::DTypeMismatch {
                name: info.name.clone(),
                actual: info.dtype,
                requested: DType::Float32,
            });
        }
    };
    let count = bytes.len() / width;
    if count != out.len() {
        return Err(Error::SizeMismatch {
            name: info.name.clone(),
            expected: count,
            given: out.len(),
        });
    }
    let scheme = info.quant.as_ref().and_then(|p| p.scheme.as_ref());
    let (scales, zero_points, axis): (&[f32], &[i64], usize) = match scheme {
        None => (&[1.0], &[0], 0),
        Some(QuantScheme::PerTensor { scale, zero_point }) => (
            core::slice::from_ref(scale),
            core::slice::from_ref(zero_point),
            0,
        ),
        Some(QuantScheme::PerAxis {
            axis,
            scales,
            zero_points,
        }) => (scales, zero_points, usize::try_from(*axis).unwrap_or(0)),
    };
    // Element k's scale and zero point: slice `(k / inner) % channels` along the axis.
    let channels = info.shape.get(axis).copied().unwrap_or(1).max(1);
    let inner = info.shape.iter().skip(axis + 1).product::<usize>().max(1);
    let real = |k: usize, q: i64| {
        let c = if scales.len() == 1 {
            0
        } else {
            (k / inner) % channels
        };
        let scale = scales.get(c).copied().unwrap_or(1.0);
        let zp = zero_points.get(c).copied().unwrap_or(0);
        q.saturating_sub(zp) as f32 * scale
    };
    let ints = |out: &mut [f32], q: &dyn Fn(usize) -> i64| {
        for (k, o) in out.iter_mut().enumerate() {
            *o = real(k, q(k));
        }
    };
    let le = |k: usize, n: usize| -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&bytes[k * n..k * n + n]);
        b
    };
    match info.dtype {
        DType::Float32 => each::<4>(bytes, out, f32::from_le_bytes),
        DType::Float16 => each::<2>(bytes, out, |b| half::f16::from_le_bytes(b).to_f32()),
        DType::Float64 => each::<8>(bytes, out, |b| f64::from_le_bytes(b) as f32),
        DType::Int8 => ints(out, &|k| i64::from(bytes[k] as i8)),
        DType::UInt8 => ints(out, &|k| i64::from(bytes[k])),
        DType::Int16 => ints(out, &|k| {
            let b = le(k, 2);
            i64::from(i16::from_le_bytes([b[0], b[1]]))
        }),
        DType::UInt16 => ints(out, &|k| {
            let b = le(k, 2);
            i64::from(u16::from_le_bytes([b[0], b[1]]))
        }),
        DType::Int32 => ints(out, &|k| {
            let b = le(k, 4);
            i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }),
        DType::UInt32 => ints(out, &|k| {
            let b = le(k, 4);
            i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }),
        _ => ints(out, &|k| i64::from_le_bytes(le(k, 8))), // Int64, by `width` above
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tflrs_ir::QuantParams;

    #[test]
    fn per_axis_outputs_dequantize_by_slice() {
        let mut info = TensorInfo::new("t", DType::Int8, [2, 2]);
        info.quant = Some(QuantParams::per_axis(
            1,
            alloc::vec![0.5, 2.0],
            alloc::vec![0, 1],
        ));
        let mut out = [0.0; 4];
        to_f32_into(&info, &[1, 2, 3, (-4i8) as u8], &mut out).unwrap();
        assert_eq!(out, [0.5, 2.0, 1.5, -10.0]);
        // Along axis 0 instead: rows share a scale.
        info.quant = Some(QuantParams::per_axis(
            0,
            alloc::vec![0.5, 2.0],
            alloc::vec![0, 1],
        ));
        to_f32_into(&info, &[1, 2, 3, (-4i8) as u8], &mut out).unwrap();
        assert_eq!(out, [0.5, 1.0, 4.0, -10.0]);
    }

    #[test]
    fn wider_integers_and_unquantized_tensors_convert() {
        let info = TensorInfo::new("t", DType::Int16, [2]).with_quant(0.25, -2);
        let bytes: Vec<u8> = [-30000i16, 7]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = [0.0; 2];
        to_f32_into(&info, &bytes, &mut out).unwrap();
        assert_eq!(out, [-29998.0 * 0.25, 9.0 * 0.25]);
        let info = TensorInfo::new("t", DType::Int32, [2]);
        let bytes: Vec<u8> = [-5i32, 1 << 20]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        to_f32_into(&info, &bytes, &mut out).unwrap();
        assert_eq!(out, [-5.0, (1 << 20) as f32]);
    }

    #[test]
    fn non_numeric_and_wrong_sized_reads_are_errors() {
        let info = TensorInfo::new("flags", DType::Bool, [2]);
        assert!(matches!(
            to_f32_into(&info, &[0, 1], &mut [0.0; 2]),
            Err(Error::DTypeMismatch { .. })
        ));
        let info = TensorInfo::new("x", DType::Float32, [2]);
        assert!(matches!(
            to_f32_into(&info, &[0; 8], &mut [0.0; 3]),
            Err(Error::SizeMismatch {
                expected: 2,
                given: 3,
                ..
            })
        ));
    }

    #[test]
    fn quantize_rounds_half_away_from_zero_and_clamps() {
        assert_eq!(quantize(2.5, 1.0, 0, -128, 127), 3);
        assert_eq!(quantize(-2.5, 1.0, 0, -128, 127), -3);
        assert_eq!(quantize(0.499_999_97, 1.0, 0, -128, 127), 0);
        assert_eq!(quantize(1.0, 0.5, -10, -128, 127), -8);
        assert_eq!(quantize(1e30, 1e-30, 0, -128, 127), 127);
        assert_eq!(quantize(f32::NEG_INFINITY, 1.0, 0, 0, 255), 0);
        assert_eq!(quantize(f32::NAN, 1.0, 5, -128, 127), 5);
    }
}

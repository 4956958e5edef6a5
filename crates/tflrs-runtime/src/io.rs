//! The interpreter's user I/O: inputs and outputs by index, name and signature, typed views,
//! `resize_input`.

use crate::element::Element;
use crate::{Error, Interpreter};
use alloc::format;
use alloc::string::ToString;
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
    pub fn signatures(&self) -> &'m [tflrs_ir::Signature] {
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

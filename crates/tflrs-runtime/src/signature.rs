//! Running a model through one of its signatures, by the names its callers use (LiteRT's
//! `get_signature_runner`).

use crate::element::Element;
use crate::io::no_such;
use crate::{Error, Interpreter};
use alloc::vec::Vec;

/// Runs the interpreter through signature `key`: inputs and outputs by their signature names.
/// Made by [`Interpreter::signature`]; setters and `invoke` return `&mut Self`, so calls chain:
///
/// ```no_run
/// # fn main() -> Result<(), tflrs_runtime::Error> {
/// let mut interp = tflrs_runtime::Interpreter::new(tflrs_runtime::Model::from_file("m.tflite")?)?;
/// let y = interp
///     .signature("serving_default")?
///     .set("x", &[0.5f32; 8])?
///     .invoke()?
///     .output_f32("y")?;
/// # let _ = y;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SignatureRunner<'i, 'm> {
    interp: &'i mut Interpreter<'m>,
    /// Index of the signature among the model's.
    index: usize,
}

impl<'m> Interpreter<'m> {
    /// A runner for signature `key` (`"serving_default"` for most converted models). Fails
    /// with [`Error::NoSuchTensor`] for an unknown key, and for a signature of another
    /// subgraph than the main one (only the main subgraph is an entry point for now).
    pub fn signature(&mut self, key: &str) -> Result<SignatureRunner<'_, 'm>, Error> {
        let index = self
            .signatures()
            .iter()
            .position(|s| s.key == key)
            .ok_or_else(|| no_such("signature", key))?;
        // Checks the subgraph (and that every name maps to a main input or output).
        let sig = &self.signatures()[index];
        for t in &sig.inputs {
            self.signature_input_index(key, &t.name)?;
        }
        for t in &sig.outputs {
            self.signature_output_index(key, &t.name)?;
        }
        Ok(SignatureRunner {
            interp: self,
            index,
        })
    }
}

impl<'m> SignatureRunner<'_, 'm> {
    fn key(&self) -> &str {
        &self.interp.signatures()[self.index].key
    }

    fn input_position(&self, name: &str) -> Result<usize, Error> {
        let key = self.key();
        self.interp.signature_input_index(key, name)
    }

    fn output_position(&self, name: &str) -> Result<usize, Error> {
        let key = self.key();
        self.interp.signature_output_index(key, name)
    }

    /// The signature's input names, in the signature's order.
    pub fn input_names(&self) -> Vec<&str> {
        let sig = &self.interp.signatures()[self.index];
        sig.inputs.iter().map(|t| t.name.as_str()).collect()
    }

    /// The signature's output names, in the signature's order.
    pub fn output_names(&self) -> Vec<&str> {
        let sig = &self.interp.signatures()[self.index];
        sig.outputs.iter().map(|t| t.name.as_str()).collect()
    }

    /// Copies `data` into input `name` ([`Interpreter::set_input`]'s checks).
    pub fn set<T: Element>(&mut self, name: &str, data: &[T]) -> Result<&mut Self, Error> {
        let i = self.input_position(name)?;
        self.interp.set_input(i, data)?;
        Ok(self)
    }

    /// Writes real values into input `name`, quantized as its type needs
    /// ([`Interpreter::set_input_f32`]).
    pub fn set_f32(&mut self, name: &str, data: &[f32]) -> Result<&mut Self, Error> {
        let i = self.input_position(name)?;
        self.interp.set_input_f32(i, data)?;
        Ok(self)
    }

    /// Gives input `name` a new shape ([`Interpreter::resize_input`]).
    pub fn resize(&mut self, name: &str, shape: &[usize]) -> Result<&mut Self, Error> {
        let i = self.input_position(name)?;
        self.interp.resize_input(i, shape)?;
        Ok(self)
    }

    /// Input `name` as a typed slice, for writing.
    pub fn input_mut<T: Element>(&mut self, name: &str) -> Result<&mut [T], Error> {
        let i = self.input_position(name)?;
        self.interp.input_mut(i)
    }

    /// Runs the model ([`Interpreter::invoke`]).
    pub fn invoke(&mut self) -> Result<&mut Self, Error> {
        self.interp.invoke()?;
        Ok(self)
    }

    /// Output `name` as a typed slice.
    pub fn output<T: Element>(&self, name: &str) -> Result<&[T], Error> {
        self.interp.output(self.output_position(name)?)
    }

    /// Output `name` as real values, dequantized ([`Interpreter::output_f32`]).
    pub fn output_f32(&self, name: &str) -> Result<Vec<f32>, Error> {
        self.interp.output_f32(self.output_position(name)?)
    }

    /// The interpreter, for what the runner does not offer.
    pub fn interpreter(&mut self) -> &mut Interpreter<'m> {
        self.interp
    }
}

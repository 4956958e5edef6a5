//! The README's library example: a model and its interpreter kept in a struct.
//! `cargo run -p tflrs-runtime --example classify -- testdata/models/mlp_int8/model.tflite`

use tflrs_runtime::{Error, Interpreter, Model};

/// A model and its interpreter, kept together (the interpreter owns the model).
struct Classifier {
    interp: Interpreter<'static>,
}

impl Classifier {
    fn load(path: &str) -> Result<Self, Error> {
        let model = Model::from_file(path)?; // verified; owns its bytes, constants read in place
        Ok(Self {
            interp: Interpreter::new(model)?, // plans once: kernels, arena
        })
    }

    fn scores(&mut self, features: &[f32]) -> Result<Vec<f32>, Error> {
        self.interp.set_input_f32(0, features)?; // quantized if the input is; wrong length: Err
        self.interp.invoke()?; // allocates nothing
        self.interp.output_f32(0) // dequantized if the output is quantized
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: classify MODEL.tflite")?;
    let mut classifier = Classifier::load(&path)?;
    let n = classifier.interp.input_info(0)?.num_elements();
    let features = vec![0.5; n];
    println!("{:?}", classifier.scores(&features)?);
    Ok(())
}

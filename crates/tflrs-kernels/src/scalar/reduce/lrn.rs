//! LOCAL_RESPONSE_NORMALIZATION (float32; LiteRT's `local_response_norm.cc`) over the last
//! axis: `y[c] = x[c] * (bias + alpha * sum(x[k]^2))^-beta`.
//!
//! The window is LiteRT's reference kernel's: `k` in `[c - radius, c + radius)`, clipped to the
//! channels. (LiteRT's optimized kernel and TensorFlow use the inclusive window
//! `[c - radius, c + radius]`; the golden outputs come from the reference kernel.)

use crate::kernel::{KernelIo, NodeCtx};
use crate::math;
use crate::scalar::shape_ops::util::check_len;
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, LocalResponseNormalizationAttrs, Op};

struct Lrn {
    len: usize,
    depth: usize,
    radius: usize,
    attrs: LocalResponseNormalizationAttrs,
}

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Op::LocalResponseNormalization(a) = node.op else {
        return Ok(None);
    };
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (x, y) = (node.input(0)?, node.output(0)?);
    if x.dtype != DType::Float32 || y.dtype != DType::Float32 {
        return Err(KernelError::unsupported(format!(
            "LOCAL_RESPONSE_NORMALIZATION on {} tensors",
            x.dtype
        )));
    }
    ensure!(
        x.shape == y.shape && x.rank() == 4,
        "LOCAL_RESPONSE_NORMALIZATION needs a rank-4 input and an output of its shape ({:?} -> {:?})",
        x.shape,
        y.shape
    );
    let radius = usize::try_from(a.radius).map_err(|_| {
        KernelError::invalid(format!(
            "LOCAL_RESPONSE_NORMALIZATION radius {} is negative",
            a.radius
        ))
    })?;
    Ok(Some(Box::new(Lrn {
        len: x.num_elements(),
        depth: x.shape[3],
        radius,
        attrs: a.clone(),
    })))
}

impl Kernel for Lrn {
    fn name(&self) -> &str {
        "local_response_normalization_f32__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<f32>()?;
        check_len(self.name(), x.len(), self.len)?;
        check_len(self.name(), y.len(), self.len)?;
        if self.depth == 0 {
            return Ok(());
        }
        let a = &self.attrs;
        for (xs, ys) in x
            .chunks_exact(self.depth)
            .zip(y.chunks_exact_mut(self.depth))
        {
            for (c, o) in ys.iter_mut().enumerate() {
                let begin = c.saturating_sub(self.radius);
                let end = self.depth.min(c.saturating_add(self.radius));
                let mut acc = 0.0f32;
                for &v in xs.get(begin..end).unwrap_or(&[]) {
                    acc += v * v;
                }
                *o = xs[c] * math::powf(a.bias + a.alpha * acc, -a.beta);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, LocalResponseNormalizationAttrs, Op};

    #[test]
    fn window_is_the_reference_kernels() {
        let t = TensorInfo::new("x", DType::Float32, alloc::vec![1, 1, 1, 4]);
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let op = Op::LocalResponseNormalization(LocalResponseNormalizationAttrs {
            radius: 1,
            bias: 1.0,
            alpha: 1.0,
            beta: 1.0,
        });
        let y = run_node(
            &ScalarBackend,
            &op,
            &[Some(TestInput::from_slice(t.clone(), &x))],
            &[t],
        )
        .unwrap();
        let y: &[f32] = bytemuck::cast_slice(&y[0]);
        // Radius 1: channel c sums squares of channels c-1 and c.
        // (pow rounds differently from a division: compare within 2 ulp.)
        let want = [1.0f32 / 2.0, 2.0 / 6.0, 3.0 / 14.0, 4.0 / 26.0];
        for (g, w) in y.iter().zip(want) {
            assert!((g - w).abs() <= 2.0 * f32::EPSILON * w, "{y:?} vs {want:?}");
        }
    }
}

//! RANGE (LiteRT's `range.cc`: int32, int64, float32) and BITCAST (`bitcast.cc`).
//!
//! RANGE's values are a running sum `start, start + delta, ...` in the element type, as
//! LiteRT computes them; its length is LiteRT's (integers: `ceil(|limit - start| / |delta|)`
//! exactly; floats: `ceil(|(limit - start) / delta|)`). The output's planned length must be
//! that length (checked at every run when the operands are computed).
//! BITCAST copies the bytes.

use super::util::{check_len, kernel_name};
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::DType;

struct Range {
    name: &'static str,
    dtype: DType,
    len: usize,
}

pub(super) fn range(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(3, 3)?;
    node.expect_outputs(1)?;
    let y = node.output(0)?;
    let dt = node.input(0)?.dtype;
    for i in 0..3 {
        let t = node.input(i)?;
        ensure!(
            t.dtype == dt && t.num_elements() == 1,
            "RANGE operand '{}' must be a scalar of type {dt}",
            t.name
        );
    }
    ensure!(
        y.dtype == dt && y.rank() == 1,
        "RANGE output '{}' must be a vector of type {dt}",
        y.name
    );
    let name = match dt {
        DType::Float32 | DType::Int32 | DType::Int64 => kernel_name!("range", dt),
        _ => return Err(KernelError::unsupported(format!("RANGE on {dt} tensors"))),
    };
    let k = Range {
        name,
        dtype: dt,
        len: y.shape[0],
    };
    if let (Some(s), Some(l), Some(d)) = (node.constant(0), node.constant(1), node.constant(2)) {
        let n = k.size(s, l, d)?;
        ensure!(
            n == k.len,
            "RANGE gives {n} elements; output '{}' has {}",
            y.name,
            k.len
        );
    }
    Ok(Box::new(k))
}

fn scalar<T: bytemuck::Pod>(b: &[u8]) -> Result<T, KernelError> {
    b.get(..size_of::<T>())
        .map(bytemuck::pod_read_unaligned)
        .ok_or_else(|| KernelError::invalid("RANGE operand is too short".into()))
}

fn int_size(s: i64, l: i64, d: i64) -> Result<usize, KernelError> {
    ensure!(d != 0, "RANGE delta is zero");
    ensure!(
        !((l > s && d < 0) || (l < s && d > 0)),
        "RANGE delta {d} points away from the limit {l} (start {s})"
    );
    usize::try_from(l.abs_diff(s).div_ceil(d.unsigned_abs()))
        .map_err(|_| KernelError::invalid("RANGE is too long".into()))
}

impl Range {
    fn size(&self, s: &[u8], l: &[u8], d: &[u8]) -> Result<usize, KernelError> {
        match self.dtype {
            DType::Int32 => int_size(
                scalar::<i32>(s)?.into(),
                scalar::<i32>(l)?.into(),
                scalar::<i32>(d)?.into(),
            ),
            DType::Int64 => int_size(scalar(s)?, scalar(l)?, scalar(d)?),
            _ => {
                let (s, l, d) = (scalar::<f32>(s)?, scalar::<f32>(l)?, scalar::<f32>(d)?);
                ensure!(d != 0.0, "RANGE delta is zero");
                ensure!(
                    !((l > s && d < 0.0) || (l < s && d > 0.0)),
                    "RANGE delta {d} points away from the limit {l} (start {s})"
                );
                let n = crate::math::ceilf(((l - s) / d).abs());
                ensure!(n.is_finite() && n < 1e9, "RANGE has {n} elements");
                Ok(n as usize)
            }
        }
    }
}

impl Kernel for Range {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (s, l, d) = (
            inputs.get(0)?.bytes,
            inputs.get(1)?.bytes,
            inputs.get(2)?.bytes,
        );
        let n = self.size(s, l, d)?;
        ensure!(
            n == self.len,
            "{}: the operands give {n} elements, the output has {}",
            self.name,
            self.len
        );
        let mut out = outputs.get(0)?;
        macro_rules! fill {
            ($t:ty, $add:expr) => {{
                let y = out.as_slice_mut::<$t>()?;
                check_len(self.name, y.len(), n)?;
                let (mut v, step) = (scalar::<$t>(s)?, scalar::<$t>(d)?);
                for o in y.iter_mut() {
                    *o = v;
                    v = $add(v, step);
                }
            }};
        }
        match self.dtype {
            DType::Int32 => fill!(i32, i32::wrapping_add),
            DType::Int64 => fill!(i64, i64::wrapping_add),
            _ => fill!(f32, |a: f32, b: f32| a + b),
        }
        Ok(())
    }
}

struct Bitcast {
    name: &'static str,
    bytes: usize,
}

pub(super) fn bitcast(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (x, y) = (node.input(0)?, node.output(0)?);
    let (Some(a), Some(b)) = (x.byte_len(), y.byte_len()) else {
        return Err(KernelError::unsupported(format!(
            "BITCAST from {} to {}",
            x.dtype, y.dtype
        )));
    };
    ensure!(
        a == b,
        "BITCAST of '{}' ({a} bytes) into '{}' ({b} bytes)",
        x.name,
        y.name
    );
    Ok(Box::new(Bitcast {
        name: kernel_name!("bitcast", y.dtype),
        bytes: a,
    }))
}

impl Kernel for Bitcast {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.bytes;
        let out = outputs.get(0)?;
        check_len(self.name, x.len(), self.bytes)?;
        check_len(self.name, out.bytes.len(), self.bytes)?;
        out.bytes.copy_from_slice(x);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op};

    fn range<T: bytemuck::Pod>(
        dt: DType,
        v: [T; 3],
        n: usize,
    ) -> Result<alloc::vec::Vec<T>, crate::KernelError> {
        let s = TensorInfo::new("s", dt, alloc::vec![]);
        let y = run_node(
            &ScalarBackend,
            &Op::Range,
            &[
                Some(TestInput::from_slice(s.clone(), &v[..1])),
                Some(TestInput::from_slice(s.clone(), &v[1..2])),
                Some(TestInput::from_slice(s, &v[2..])),
            ],
            &[TensorInfo::new("y", dt, alloc::vec![n])],
        )?;
        Ok(bytemuck::cast_slice(&y[0]).to_vec())
    }

    #[test]
    fn range_lengths_and_values() {
        assert_eq!(range(DType::Int32, [3i32, 10, 3], 3).unwrap(), [3, 6, 9]);
        assert_eq!(range(DType::Int32, [5i32, -2, -3], 3).unwrap(), [5, 2, -1]);
        assert_eq!(
            range(DType::Float32, [0.0f32, 1.0, 0.3], 4).unwrap(),
            [0.0, 0.3, 0.6, 0.90000004]
        );
        // A planned length that the operands do not give, a zero delta: errors.
        assert!(range(DType::Int32, [0i32, 10, 3], 3).is_err());
        assert!(range(DType::Int32, [0i32, 10, 0], 3).is_err());
    }

    #[test]
    fn bitcast_copies_bytes() {
        let x = TensorInfo::new("x", DType::Float32, alloc::vec![2]);
        let y = TensorInfo::new("y", DType::Int32, alloc::vec![2]);
        let out = run_node(
            &ScalarBackend,
            &Op::Bitcast,
            &[Some(TestInput::from_slice(x, &[1.0f32, -2.0]))],
            &[y],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, u32>(&out[0]),
            [0x3f80_0000, 0xc000_0000]
        );
    }
}

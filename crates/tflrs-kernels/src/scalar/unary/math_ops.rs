//! ABS, NEG, SQRT, SQUARE, LOGICAL_NOT and ZEROS_LIKE (LiteRT's `elementwise.cc`, `neg.cc`,
//! `zeros_like.cc`). EXP, LOG and RSQRT are planned by [`prep::unary`](crate::prep::unary)
//! and run by [`planned`](super::planned).

use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::unary::{same_dtype_io as same_dtype, unsupported};
use crate::scalar::binary::elementwise::map;
use crate::scalar::binary::kname;
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let k = match node.op {
        Op::Neg => neg(node)?,
        Op::Square => square(node)?,
        Op::LogicalNot => logical_not(node)?,
        Op::ZerosLike => zeros_like(node)?,
        _ => return Ok(None),
    };
    Ok(Some(k))
}

fn neg(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, _) = same_dtype(node)?;
    let n = x.num_elements();
    let name = kname!("neg", x.dtype);
    // Integers are negated raw, without requantization, as LiteRT does.
    Ok(match x.dtype {
        DType::Float32 => map(name, n, |v: f32| -v),
        DType::Float16 | DType::BFloat16 => map(name, n, |v: u16| v ^ 0x8000),
        DType::Int8 => map(name, n, |v: i8| v.wrapping_neg()),
        DType::Int16 => map(name, n, |v: i16| v.wrapping_neg()),
        DType::Int32 => map(name, n, |v: i32| v.wrapping_neg()),
        DType::Int64 => map(name, n, |v: i64| v.wrapping_neg()),
        dt => return Err(unsupported(node, dt)),
    })
}

fn square(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, _) = same_dtype(node)?;
    let name = kname!("square", x.dtype);
    let n = x.num_elements();
    Ok(match x.dtype {
        DType::Float32 => map(name, n, |v: f32| v * v),
        DType::Int32 => map(name, n, |v: i32| v.wrapping_mul(v)),
        DType::Int64 => map(name, n, |v: i64| v.wrapping_mul(v)),
        dt => return Err(unsupported(node, dt)),
    })
}

fn logical_not(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, _) = same_dtype(node)?;
    ensure!(
        x.dtype == DType::Bool,
        "LOGICAL_NOT needs bool tensors, got {}",
        x.dtype
    );
    Ok(map(
        kname!("logical_not", DType::Bool),
        x.num_elements(),
        |v: u8| u8::from(v == 0),
    ))
}

/// ZEROS_LIKE: fills the output with zero bytes (zero in every numeric type).
struct ZerosLike {
    name: &'static str,
    bytes: usize,
}

impl Kernel for ZerosLike {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (_, mut outputs, _, _) = io.split();
        let out = outputs.get(0)?;
        if out.bytes.len() != self.bytes {
            return Err(KernelError::invalid(format!(
                "{}: output has {} bytes, planned {}",
                self.name,
                out.bytes.len(),
                self.bytes
            )));
        }
        out.bytes.fill(0);
        Ok(())
    }
}

fn zeros_like(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let bytes = y
        .byte_len()
        .ok_or_else(|| KernelError::unsupported(format!("ZEROS_LIKE on {} tensors", x.dtype)))?;
    Ok(Box::new(ZerosLike {
        name: kname!("zeros_like", x.dtype),
        bytes,
    }))
}

#[cfg(test)]
mod tests {
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op};

    fn run<I: bytemuck::Pod, O: bytemuck::Pod>(
        op: Op<'_>,
        x: TensorInfo,
        v: &[I],
        y: TensorInfo,
    ) -> Result<Vec<O>, crate::KernelError> {
        let out = run_node(
            &ScalarBackend,
            &op,
            &[Some(TestInput::from_slice(x, v))],
            &[y],
        )?;
        Ok(bytemuck::cast_slice(&out[0]).to_vec())
    }

    fn q(dt: DType, n: usize, s: f32, z: i64) -> TensorInfo {
        TensorInfo::new("t", dt, vec![n]).with_quant(s, z)
    }

    #[test]
    fn float_ops() {
        let f = |n| TensorInfo::new("t", DType::Float32, vec![n]);
        let y: Vec<f32> = run(Op::Abs, f(3), &[-1.5f32, 0.0, 2.0], f(3)).unwrap();
        assert_eq!(y, vec![1.5, 0.0, 2.0]);
        let y: Vec<f32> = run(Op::Rsqrt, f(2), &[4.0f32, 0.25], f(2)).unwrap();
        assert_eq!(y, vec![0.5, 2.0]);
        let y: Vec<f32> = run(Op::Square, f(2), &[-3.0f32, 0.5], f(2)).unwrap();
        assert_eq!(y, vec![9.0, 0.25]);
        let y: Vec<f32> = run(Op::Neg, f(1), &[2.0f32], f(1)).unwrap();
        assert_eq!(y, vec![-2.0]);
    }

    #[test]
    fn int8_abs_with_and_without_rescale() {
        let y: Vec<i8> = run(
            Op::Abs,
            q(DType::Int8, 3, 0.5, -1),
            &[-5i8, 3, -128],
            q(DType::Int8, 3, 0.5, -1),
        )
        .unwrap();
        // |(-5+1)| = 4 -> 3; |4| -> 3; |-127| = 127 -> 126.
        assert_eq!(y, vec![3, 3, 126]);
        let y: Vec<i8> = run(
            Op::Abs,
            q(DType::Int8, 2, 0.5, 0),
            &[-10i8, 7],
            q(DType::Int8, 2, 0.25, -128),
        )
        .unwrap();
        // 5.0 -> 20 - 128; 3.5 -> 14 - 128.
        assert_eq!(y, vec![-108, -114]);
    }

    #[test]
    fn int8_exp_and_log_tables() {
        let y: Vec<i8> = run(
            Op::Exp,
            q(DType::Int8, 3, 0.1, 0),
            &[0i8, -10, 10],
            q(DType::Int8, 3, 0.05, -128),
        )
        .unwrap();
        // e^0 = 1 -> 20 - 128; e^-1 = 0.3679 -> 7 - 128; e^1 = 2.718 -> 54 - 128.
        assert_eq!(y, vec![-108, -121, -74]);
        let y: Vec<i8> = run(
            Op::Log,
            q(DType::Int8, 3, 0.1, -128),
            &[-128i8, -118, -98],
            q(DType::Int8, 3, 0.05, 60),
        )
        .unwrap();
        // log(0) -> lowest; log(1) = 0 -> 60; log(3) = 1.0986 -> 22 + 60.
        assert_eq!(y, vec![-128, 60, 82]);
    }

    #[test]
    fn int8_sqrt_rsqrt() {
        let y: Vec<i8> = run(
            Op::Sqrt,
            q(DType::Int8, 3, 0.1, -128),
            &[-128i8, -88, -38],
            q(DType::Int8, 3, 0.05, -128),
        )
        .unwrap();
        // sqrt(0) = 0; sqrt(4) = 2 -> 40; sqrt(9) = 3 -> 60.
        assert_eq!(y, vec![-128, -88, -68]);
        assert!(
            run::<i8, i8>(
                Op::Sqrt,
                q(DType::Int8, 1, 0.1, 0),
                &[-1i8],
                q(DType::Int8, 1, 0.1, 0)
            )
            .is_err()
        );
        let y: Vec<i8> = run(
            Op::Rsqrt,
            q(DType::Int8, 3, 0.25, 0),
            &[16i8, 1, 0],
            q(DType::Int8, 3, 0.125, 0),
        )
        .unwrap();
        // 1/sqrt(4) = 0.5 -> 4; 1/sqrt(0.25) = 2 -> 16; 0 -> max.
        assert_eq!(y, vec![4, 16, 127]);
    }

    #[test]
    fn logical_not_and_zeros_like() {
        let b = |n| TensorInfo::new("t", DType::Bool, vec![n]);
        let y: Vec<u8> = run(Op::LogicalNot, b(3), &[1u8, 0, 1], b(3)).unwrap();
        assert_eq!(y, vec![0, 1, 0]);
        let i = |n| TensorInfo::new("t", DType::Int64, vec![n]);
        let y: Vec<i64> = run(Op::ZerosLike, i(2), &[5i64, -3], i(2)).unwrap();
        assert_eq!(y, vec![0, 0]);
    }
}

//! BUCKETIZE (LiteRT's `bucketize.cc`: float32, float64, int32 and int64 inputs, int32
//! output): the index of the first boundary above each value (`std::upper_bound`), the value
//! compared with the float boundaries as C++ promotes it. Boundaries must be sorted.

use crate::kernel::NodeCtx;
use crate::scalar::binary::elementwise::map;
use crate::scalar::binary::kname;
use crate::{Kernel, KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{BucketizeAttrs, DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Op::Bucketize(BucketizeAttrs { boundaries }) = node.op else {
        return Ok(None);
    };
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (x, y) = (node.input(0)?, node.output(0)?);
    ensure!(
        y.dtype == DType::Int32 && y.shape == x.shape,
        "BUCKETIZE output '{}' must be int32 of the input's shape",
        y.name
    );
    let b: Vec<f32> = boundaries.clone().unwrap_or_default();
    ensure!(
        b.windows(2).all(|w| w[0] <= w[1]),
        "BUCKETIZE boundaries are not sorted"
    );
    let n = x.num_elements();
    let name = kname!("bucketize", x.dtype);
    // upper_bound: the number of boundaries not above the value.
    fn index(b: &[f32], above: impl Fn(f32) -> bool) -> i32 {
        b.partition_point(|&v| !above(v)) as i32
    }
    Ok(Some(match x.dtype {
        DType::Float32 => map(name, n, move |v: f32| index(&b, |t| v < t)),
        DType::Float64 => map(name, n, move |v: f64| index(&b, |t| v < f64::from(t))),
        DType::Int32 => map(name, n, move |v: i32| index(&b, |t| (v as f32) < t)),
        DType::Int64 => map(name, n, move |v: i64| index(&b, |t| (v as f32) < t)),
        dt => {
            return Err(KernelError::unsupported(format!(
                "BUCKETIZE on {dt} tensors"
            )));
        }
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{BucketizeAttrs, DType, Op};

    #[test]
    fn upper_bound_buckets() {
        let op = Op::Bucketize(BucketizeAttrs {
            boundaries: Some(alloc::vec![0.0, 1.0, 1.0, 5.0]),
        });
        let x = TensorInfo::new("x", DType::Float32, alloc::vec![6]);
        let y = TensorInfo::new("y", DType::Int32, alloc::vec![6]);
        let out = run_node(
            &ScalarBackend,
            &op,
            &[Some(TestInput::from_slice(
                x,
                &[-1.0f32, 0.0, 0.5, 1.0, 5.0, 9.0],
            ))],
            &[y],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&out[0]), [0, 1, 1, 3, 4, 4]);
        let bad = Op::Bucketize(BucketizeAttrs {
            boundaries: Some(alloc::vec![1.0, 0.0]),
        });
        let x = TensorInfo::new("x", DType::Float32, alloc::vec![1]);
        let y = TensorInfo::new("y", DType::Int32, alloc::vec![1]);
        assert!(
            run_node(
                &ScalarBackend,
                &bad,
                &[Some(TestInput::from_slice(x, &[0.0f32]))],
                &[y]
            )
            .is_err()
        );
    }
}

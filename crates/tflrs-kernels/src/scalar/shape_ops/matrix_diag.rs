//! MATRIX_DIAG (vectors to diagonal matrices, zeros elsewhere) and MATRIX_SET_DIAG (the input
//! with its main diagonal replaced), as LiteRT's reference kernels: element moves on bytes, the
//! off-diagonal zeros are zero bytes whatever the quantization (LiteRT writes `0`).

use super::util::{check_len, kernel_name, require_elem_size, same_dtype};
use crate::kernel::{KernelIo, NodeCtx};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::DType;

#[derive(Debug)]
struct MatrixDiag {
    name: &'static str,
    esize: usize,
    /// Number of matrices.
    batch: usize,
    /// Rows and columns of each output matrix.
    rows: usize,
    cols: usize,
    /// Whether the off-diagonal elements come from input 0 (MATRIX_SET_DIAG) or are zero.
    set: bool,
}

impl Kernel for MatrixDiag {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let out = outputs.get(0)?;
        let es = self.esize;
        let diag_len = self.rows.min(self.cols);
        let total = self.batch * self.rows * self.cols * es;
        check_len(self.name, out.bytes.len(), total)?;
        let diag = if self.set {
            let input = inputs.get(0)?;
            check_len(self.name, input.bytes.len(), total)?;
            out.bytes[..total].copy_from_slice(&input.bytes[..total]);
            inputs.get(1)?
        } else {
            out.bytes[..total].fill(0);
            inputs.get(0)?
        };
        check_len(self.name, diag.bytes.len(), self.batch * diag_len * es)?;
        for b in 0..self.batch {
            for i in 0..diag_len {
                let to = ((b * self.rows + i) * self.cols + i) * es;
                let from = (b * diag_len + i) * es;
                out.bytes[to..to + es].copy_from_slice(&diag.bytes[from..from + es]);
            }
        }
        Ok(())
    }
}

fn check_type(op: &str, info: &TensorInfo) -> Result<usize, KernelError> {
    crate::ensure!(
        matches!(
            info.dtype,
            DType::Float32
                | DType::UInt8
                | DType::Int8
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::Bool
        ),
        "{op}: input '{}' is {}; LiteRT's kernel takes float32, uint8, int8, int16, int32, \
         int64 and bool",
        info.name,
        info.dtype
    );
    require_elem_size(op, info)
}

pub(super) fn matrix_diag(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "MATRIX_DIAG";
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    same_dtype(OP, input, output)?;
    let esize = check_type(OP, input)?;
    let Some((&n, lead)) = input.shape.split_last() else {
        return Err(KernelError::invalid(format!(
            "{OP}: input '{}' is a scalar",
            input.name
        )));
    };
    let mut want = input.shape.clone();
    want.push(n);
    crate::ensure!(
        output.shape == want,
        "{OP}: output {:?}, expected {want:?}",
        output.shape
    );
    Ok(Box::new(MatrixDiag {
        name: kernel_name!("matrix_diag", input.dtype),
        esize,
        batch: lead.iter().product(),
        rows: n,
        cols: n,
        set: false,
    }))
}

pub(super) fn matrix_set_diag(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "MATRIX_SET_DIAG";
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, diag, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(OP, input, output)?;
    same_dtype(OP, input, diag)?;
    let esize = check_type(OP, input)?;
    let r = input.rank();
    crate::ensure!(
        r >= 2,
        "{OP}: input '{}' has rank {r}, expected 2 or more",
        input.name
    );
    let (rows, cols) = (input.shape[r - 2], input.shape[r - 1]);
    let mut want = input.shape[..r - 2].to_vec();
    want.push(rows.min(cols));
    crate::ensure!(
        diag.shape == want,
        "{OP}: diagonal '{}' {:?}, expected {want:?}",
        diag.name,
        diag.shape
    );
    crate::ensure!(
        output.shape == input.shape,
        "{OP}: output {:?} differs from input {:?}",
        output.shape,
        input.shape
    );
    Ok(Box::new(MatrixDiag {
        name: kernel_name!("matrix_set_diag", input.dtype),
        esize,
        batch: input.shape[..r - 2].iter().product(),
        rows,
        cols,
        set: true,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn diag_and_set_diag() {
        let inputs = [Some(TestInput::from_slice(
            ti("x", DType::Int8, &[2]),
            &[3i8, -4],
        ))];
        let got = run_node(
            &ScalarBackend,
            &Op::MatrixDiag,
            &inputs,
            &[ti("y", DType::Int8, &[2, 2])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[3, 0, 0, -4]);
        let inputs = [
            Some(TestInput::from_slice(
                ti("x", DType::Int8, &[2, 3]),
                &[1i8, 2, 3, 4, 5, 6],
            )),
            Some(TestInput::from_slice(ti("d", DType::Int8, &[2]), &[9i8, 8])),
        ];
        let got = run_node(
            &ScalarBackend,
            &Op::MatrixSetDiag,
            &inputs,
            &[ti("y", DType::Int8, &[2, 3])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[9, 2, 3, 4, 8, 6]);
    }
}

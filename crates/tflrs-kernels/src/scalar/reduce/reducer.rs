//! MEAN, SUM, REDUCE_MAX and REDUCE_MIN.

use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::scalar::shape_ops::util::{
    MAX_DIMS, check_len, const_ints, int_at, is_index_type, kernel_name, product, quant_of,
};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, ReducerAttrs};

/// Which reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Mean,
    Sum,
    Max,
    Min,
}

/// The reduced axes, resolved against the input shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Axes {
    /// Output step of each input dimension (0 for reduced dimensions).
    pub(super) ostride: [usize; MAX_DIMS],
    /// Every dimension is reduced (LiteRT then folds from the first element).
    all: bool,
    /// Input elements per output element.
    per_output: usize,
}

/// Resolves `axes` (negative ones count from the end, duplicates are ignored) and checks the
/// planned output shape against them.
pub(super) fn resolve(
    in_shape: &[usize],
    out_shape: &[usize],
    keep_dims: bool,
    n_axes: usize,
    axis: impl Fn(usize) -> Option<i64>,
) -> Result<Axes, KernelError> {
    let rank = in_shape.len();
    let mut mask = 0u32;
    if rank > 0 {
        for i in 0..n_axes {
            let v = axis(i)
                .ok_or_else(|| KernelError::invalid("reduction axes are too short".into()))?;
            let a = if v < 0 { v + rank as i64 } else { v };
            if !(0..rank as i64).contains(&a) {
                return Err(KernelError::invalid(format!(
                    "reduction axis {v} is out of range for rank {rank}"
                )));
            }
            mask |= 1 << a;
        }
    }
    let reduced = |k: usize| mask & (1 << k) != 0;
    // The output keeps unreduced dimensions (and reduced ones as 1 with keep_dims).
    let mut k = 0;
    let mut ok = true;
    if rank > 0 {
        for (d, &dim) in in_shape.iter().enumerate() {
            let want = match (reduced(d), keep_dims) {
                (true, true) => Some(1),
                (true, false) => None,
                (false, _) => Some(dim),
            };
            if let Some(w) = want {
                ok &= out_shape.get(k) == Some(&w);
                k += 1;
            }
        }
    }
    if !ok || k != out_shape.len() {
        return Err(KernelError::invalid(format!(
            "reduction of {in_shape:?} (keep_dims {keep_dims}) does not give output shape {out_shape:?}"
        )));
    }
    let mut ostride = [0usize; MAX_DIMS];
    let mut s = 1usize;
    let mut per_output = 1usize;
    for d in (0..rank).rev() {
        if reduced(d) {
            per_output = per_output.saturating_mul(in_shape[d]);
        } else {
            ostride[d] = s;
            s = s.saturating_mul(in_shape[d]);
        }
    }
    Ok(Axes {
        ostride,
        all: mask.count_ones() as usize == rank,
        per_output,
    })
}

/// Calls `f(input_index, output_index)` for every input element in row-major order.
#[inline]
pub(super) fn walk(in_shape: &[usize], ostride: &[usize], mut f: impl FnMut(usize, usize)) {
    if in_shape.contains(&0) {
        return;
    }
    let rank = in_shape.len();
    if rank == 0 {
        f(0, 0);
        return;
    }
    let last = rank - 1;
    let (inner, os) = (in_shape[last], ostride[last]);
    let mut idx = [0usize; MAX_DIMS];
    let (mut i, mut o) = (0usize, 0usize);
    loop {
        for j in 0..inner {
            f(i + j, o + j * os);
        }
        i += inner;
        let mut k = last;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            o += ostride[k];
            if idx[k] < in_shape[k] {
                break;
            }
            o -= ostride[k] * in_shape[k];
            idx[k] = 0;
        }
    }
}

/// Quantized MEAN / SUM parameters (LiteRT's `PrepareMeanOrSum`).
#[derive(Debug, Clone, Copy)]
struct Requant {
    multiplier: i32,
    shift: i32,
    in_zp: i32,
    out_zp: i32,
    /// Range of the element type.
    qmin: i32,
    qmax: i32,
}

#[derive(Debug)]
struct Reducer {
    name: &'static str,
    kind: Kind,
    dtype: DType,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    keep_dims: bool,
    /// Resolved at preparation when the axes are constant.
    axes: Option<Axes>,
    requant: Option<Requant>,
}

/// Element types with a lowest and highest value (the initial values of MAX and MIN).
trait Bounded: bytemuck::Pod + PartialOrd {
    const LOWEST: Self;
    const HIGHEST: Self;
}

macro_rules! bounded {
    ($($t:ty),*) => {$(
        impl Bounded for $t {
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
        }
    )*};
}
bounded!(i8, u8, i16, i32, i64, f32);

fn min_max<T: Bounded>(x: &[T], y: &mut [T], in_shape: &[usize], axes: &Axes, max: bool) {
    let better = |c: T, v: T| if max { v > c } else { v < c };
    if axes.all {
        // LiteRT's ReduceAllDims starts from the first element.
        let mut acc = if max { T::LOWEST } else { T::HIGHEST };
        if let Some((&first, rest)) = x.split_first() {
            acc = first;
            for &v in rest {
                if better(acc, v) {
                    acc = v;
                }
            }
        }
        y[0] = acc;
        return;
    }
    y.fill(if max { T::LOWEST } else { T::HIGHEST });
    walk(in_shape, &axes.ostride, |i, o| {
        if better(y[o], x[i]) {
            y[o] = x[i];
        }
    });
}

/// The aligned `i64` accumulators of `scratch`.
fn accumulators(scratch: &mut [u8], n: usize) -> Result<&mut [i64], KernelError> {
    let off = scratch.as_ptr().align_offset(8);
    let bytes = scratch
        .get_mut(off..off + n * 8)
        .ok_or_else(|| KernelError::invalid("reduction scratch is too small".into()))?;
    bytemuck::try_cast_slice_mut(bytes)
        .map_err(|_| KernelError::invalid("reduction scratch is misaligned".into()))
}

impl Reducer {
    fn float(&self, x: &[f32], y: &mut [f32], axes: &Axes) {
        match self.kind {
            Kind::Max | Kind::Min => min_max(x, y, &self.in_shape, axes, self.kind == Kind::Max),
            Kind::Sum if axes.all => {
                let mut acc = 0.0f32;
                if let Some((&first, rest)) = x.split_first() {
                    acc = first;
                    for &v in rest {
                        acc += v;
                    }
                }
                y[0] = acc;
            }
            Kind::Sum | Kind::Mean => {
                if self.kind == Kind::Mean && x.is_empty() {
                    y.fill(f32::NAN);
                    return;
                }
                y.fill(0.0);
                walk(&self.in_shape, &axes.ostride, |i, o| y[o] += x[i]);
                if self.kind == Kind::Mean && axes.per_output > 0 {
                    let n = axes.per_output as f32;
                    y.iter_mut().for_each(|v| *v /= n);
                }
            }
        }
    }

    /// int32 and int64 SUM (wrapping, as LiteRT's expected-overflow add) and MEAN (an int64
    /// sum divided by the count, truncating).
    fn wide<T: bytemuck::Pod + Into<i64>>(
        &self,
        x: &[T],
        y: &mut [T],
        acc: &mut [i64],
        axes: &Axes,
        narrow: impl Fn(i64) -> T,
    ) {
        acc.fill(0);
        if self.kind == Kind::Sum && axes.all {
            // ReduceAllDims: the first element, then the others.
            let mut a = 0i64;
            if let Some((&first, rest)) = x.split_first() {
                a = first.into();
                for &v in rest {
                    a = narrow(a.wrapping_add(v.into())).into();
                }
            }
            y[0] = narrow(a);
            return;
        }
        walk(&self.in_shape, &axes.ostride, |i, o| {
            let s = acc[o].wrapping_add(x[i].into());
            // SUM accumulates in the element type; MEAN in int64.
            acc[o] = if self.kind == Kind::Sum {
                narrow(s).into()
            } else {
                s
            };
        });
        for (o, &a) in y.iter_mut().zip(acc.iter()) {
            *o = match self.kind {
                Kind::Mean if axes.per_output > 0 => narrow(a / axes.per_output as i64),
                Kind::Mean => narrow(0),
                _ => narrow(a),
            };
        }
    }

    /// Quantized MEAN / SUM (LiteRT's `reference_ops::QuantizedMeanOrSum`).
    fn quantized<T: bytemuck::Pod + Into<i32>>(
        &self,
        x: &[T],
        y: &mut [T],
        acc: &mut [i64],
        axes: &Axes,
        q: Requant,
        narrow: impl Fn(i32) -> T,
    ) {
        y.fill(narrow(0));
        if self.in_shape.contains(&0) {
            return;
        }
        acc.fill(0);
        walk(&self.in_shape, &axes.ostride, |i, o| {
            // The reference accumulates in int32.
            acc[o] = i64::from((acc[o] as i32).wrapping_add(x[i].into()));
        });
        let n = axes.per_output as i64;
        if n == 0 {
            return;
        }
        let (mut multiplier, mut shift) = (q.multiplier, q.shift);
        if self.kind == Kind::Mean {
            // Fold 1/n into the multiplier: shift by floor(log2 n), at most 32 and no further
            // than MultiplyByQuantizedMultiplier allows, then divide.
            let s = (63 - (n as u64).leading_zeros() as i32)
                .min(32)
                .min(31 + shift);
            multiplier = ((i64::from(multiplier) << s) / n) as i32;
            shift -= s;
        }
        for (out, &a) in y.iter_mut().zip(acc.iter()) {
            let shifted = (a - i64::from(q.in_zp) * n) as i32;
            let v = multiply_by_quantized_multiplier(shifted, multiplier, shift) + q.out_zp;
            *out = narrow(v.clamp(q.qmin, q.qmax));
        }
    }
}

impl Kernel for Reducer {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        // Integer MEAN and SUM accumulate in int64 slots (8 more bytes to align them).
        let accumulates =
            self.dtype != DType::Float32 && matches!(self.kind, Kind::Mean | Kind::Sum);
        if accumulates {
            (product(&self.out_shape) + 1) * 8
        } else {
            0
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, scratch, _) = io.split();
        let axes = match self.axes {
            Some(a) => a,
            None => {
                let t = inputs.get(1)?;
                resolve(
                    &self.in_shape,
                    &self.out_shape,
                    self.keep_dims,
                    t.info.num_elements(),
                    |i| int_at(t.info.dtype, t.bytes, i),
                )?
            }
        };
        let input = inputs.get(0)?;
        let mut out = outputs.get(0)?;
        let (n_in, n_out) = (product(&self.in_shape), product(&self.out_shape));
        let esize = self.dtype.bits().unwrap_or(8) as usize / 8;
        check_len(self.name, input.bytes.len(), n_in * esize)?;
        check_len(self.name, out.bytes.len(), n_out * esize)?;
        macro_rules! io {
            ($t:ty) => {
                (
                    &input.as_slice::<$t>()?[..n_in],
                    &mut out.as_slice_mut::<$t>()?[..n_out],
                )
            };
        }
        let kind = self.kind;
        match (self.dtype, self.requant) {
            (DType::Float32, _) => {
                let (x, y) = io!(f32);
                self.float(x, y, &axes);
            }
            (DType::Int8, Some(q)) => {
                let (x, y) = io!(i8);
                self.quantized(x, y, accumulators(scratch, n_out)?, &axes, q, |v| v as i8);
            }
            (DType::UInt8, Some(q)) => {
                let (x, y) = io!(u8);
                self.quantized(x, y, accumulators(scratch, n_out)?, &axes, q, |v| v as u8);
            }
            (DType::Int16, Some(q)) => {
                let (x, y) = io!(i16);
                self.quantized(x, y, accumulators(scratch, n_out)?, &axes, q, |v| v as i16);
            }
            (DType::Int32, _) if matches!(kind, Kind::Sum | Kind::Mean) => {
                let (x, y) = io!(i32);
                self.wide(x, y, accumulators(scratch, n_out)?, &axes, |v| v as i32);
            }
            (DType::Int64, _) if matches!(kind, Kind::Sum | Kind::Mean) => {
                let (x, y) = io!(i64);
                self.wide(x, y, accumulators(scratch, n_out)?, &axes, |v| v);
            }
            (DType::Int8, None) => {
                let (x, y) = io!(i8);
                min_max(x, y, &self.in_shape, &axes, kind == Kind::Max);
            }
            (DType::UInt8 | DType::Bool, None) => {
                let (x, y) = io!(u8);
                min_max(x, y, &self.in_shape, &axes, kind == Kind::Max);
            }
            (DType::Int16, None) => {
                let (x, y) = io!(i16);
                min_max(x, y, &self.in_shape, &axes, kind == Kind::Max);
            }
            (DType::Int32, _) => {
                let (x, y) = io!(i32);
                min_max(x, y, &self.in_shape, &axes, kind == Kind::Max);
            }
            (DType::Int64, _) => {
                let (x, y) = io!(i64);
                min_max(x, y, &self.in_shape, &axes, kind == Kind::Max);
            }
            (other, _) => {
                return Err(KernelError::unsupported(format!(
                    "{}: type {other}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

fn names(kind: Kind, dtype: DType) -> &'static str {
    match kind {
        Kind::Mean => kernel_name!("mean", dtype),
        Kind::Sum => kernel_name!("sum", dtype),
        Kind::Max => kernel_name!("reduce_max", dtype),
        Kind::Min => kernel_name!("reduce_min", dtype),
    }
}

/// `(scale, zero_point)` of a quantized tensor, or `(1, 0)` when it has none.
fn quant_or_identity(t: &TensorInfo) -> (f32, i32) {
    quant_of(t).unwrap_or((1.0, 0))
}

pub(super) fn reducer(
    node: &NodeCtx<'_>,
    attrs: &ReducerAttrs,
    kind: Kind,
) -> Result<Box<dyn Kernel>, KernelError> {
    let op = match kind {
        Kind::Mean => "MEAN",
        Kind::Sum => "SUM",
        Kind::Max => "REDUCE_MAX",
        Kind::Min => "REDUCE_MIN",
    };
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, axes_t, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    crate::scalar::shape_ops::util::same_dtype(op, input, output)?;
    crate::ensure!(
        is_index_type(axes_t.dtype),
        "{op}: axes '{}' must be int32",
        axes_t.name
    );
    crate::ensure!(
        input.rank() <= MAX_DIMS,
        "{op}: rank {} is above {MAX_DIMS}",
        input.rank()
    );
    let dtype = input.dtype;
    let minmax = matches!(kind, Kind::Max | Kind::Min);
    let supported = match dtype {
        DType::Float32
        | DType::Int8
        | DType::UInt8
        | DType::Int16
        | DType::Int32
        | DType::Int64 => true,
        DType::Bool => minmax,
        _ => false,
    };
    if !supported {
        return Err(KernelError::unsupported(format!(
            "{op}: type {dtype} of '{}'",
            input.name
        )));
    }
    let quantized_type = matches!(dtype, DType::Int8 | DType::UInt8 | DType::Int16);
    let mut requant = None;
    if quantized_type && !minmax {
        let ((si, zi), (so, zo)) = (quant_or_identity(input), quant_or_identity(output));
        let (qmin, qmax) = match dtype {
            DType::Int8 => (-128, 127),
            DType::UInt8 => (0, 255),
            _ => (-32768, 32767),
        };
        if dtype == DType::Int16 {
            crate::ensure!(
                zi == 0 && zo == 0,
                "{op}: int16 tensors need zero points of 0"
            );
        }
        crate::ensure!(so > 0.0 && si > 0.0, "{op}: scales must be positive");
        let (multiplier, shift) = quantize_multiplier(f64::from(si) / f64::from(so))?;
        crate::ensure!(
            shift <= 30,
            "{op}: input/output scale ratio {} is too large",
            si / so
        );
        requant = Some(Requant {
            multiplier,
            shift,
            in_zp: zi,
            out_zp: zo,
            qmin,
            qmax,
        });
    } else if quantized_type {
        crate::ensure!(
            quant_of(input) == quant_of(output),
            "{op}: input '{}' and output '{}' must share quantization",
            input.name,
            output.name
        );
    }
    let axes = match const_ints(node, 1)? {
        Some(v) => Some(resolve(
            &input.shape,
            &output.shape,
            attrs.keep_dims,
            v.len(),
            |i| v.get(i).copied(),
        )?),
        None => None,
    };
    Ok(Box::new(Reducer {
        name: names(kind, dtype),
        kind,
        dtype,
        in_shape: input.shape.clone(),
        out_shape: output.shape.clone(),
        keep_dims: attrs.keep_dims,
        axes,
        requant,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op, ReducerAttrs};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    fn run<T: bytemuck::Pod>(
        op: Op<'_>,
        x: TestInput,
        axes: &[i32],
        out: TensorInfo,
        constant: bool,
    ) -> Result<Vec<T>, crate::KernelError> {
        let a = ti("axes", DType::Int32, &[axes.len()]);
        let a = if constant {
            TestInput::const_from_slice(a, axes)
        } else {
            TestInput::from_slice(a, axes)
        };
        let got = run_node(&ScalarBackend, &op, &[Some(x), Some(a)], &[out])?;
        Ok(bytemuck::cast_slice::<u8, T>(&got[0]).to_vec())
    }

    #[test]
    fn float_reductions() {
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let xi = || TestInput::from_slice(ti("x", DType::Float32, &[2, 3]), &x);
        let keep = ReducerAttrs { keep_dims: true };
        let drop = ReducerAttrs { keep_dims: false };
        for c in [true, false] {
            assert_eq!(
                run::<f32>(
                    Op::Mean(keep.clone()),
                    xi(),
                    &[1],
                    ti("y", DType::Float32, &[2, 1]),
                    c
                )
                .unwrap(),
                [1., 4.]
            );
            assert_eq!(
                run::<f32>(
                    Op::Sum(drop.clone()),
                    xi(),
                    &[0, -2],
                    ti("y", DType::Float32, &[3]),
                    c
                )
                .unwrap(),
                [3., 5., 7.]
            );
            assert_eq!(
                run::<f32>(
                    Op::ReduceMax(drop.clone()),
                    xi(),
                    &[0, 1],
                    ti("y", DType::Float32, &[]),
                    c
                )
                .unwrap(),
                [5.]
            );
            assert_eq!(
                run::<f32>(
                    Op::ReduceMin(drop.clone()),
                    xi(),
                    &[1],
                    ti("y", DType::Float32, &[2]),
                    c
                )
                .unwrap(),
                [0., 3.]
            );
            // Wrong output shape or axis.
            assert!(
                run::<f32>(
                    Op::Sum(drop.clone()),
                    xi(),
                    &[1],
                    ti("y", DType::Float32, &[3]),
                    c
                )
                .is_err()
            );
            assert!(
                run::<f32>(
                    Op::Sum(drop.clone()),
                    xi(),
                    &[2],
                    ti("y", DType::Float32, &[2]),
                    c
                )
                .is_err()
            );
        }
    }

    #[test]
    fn int8_mean_and_sum_match_litert() {
        // Expected values are LiteRT 2.3's (BUILTIN_REF) for this model: MEAN over axis 1 of a
        // [2, 3, 4] int8 tensor, input (0.007818896, 0), output (0.0066152303, -10).
        let x: [i8; 24] = [
            -35, 12, 83, 38, -43, -16, -113, 38, 100, -2, -128, 127, 5, 6, 7, 8, -60, 61, -62, 63,
            1, -1, 0, 2,
        ];
        let xi = || {
            TestInput::from_slice(
                ti("x", DType::Int8, &[2, 3, 4]).with_quant(0.007_818_896, 0),
                &x,
            )
        };
        let out = ti("y", DType::Int8, &[2, 4]).with_quant(0.006_615_230_3, -10);
        let got = run::<i8>(
            Op::Mean(ReducerAttrs { keep_dims: false }),
            xi(),
            &[1],
            out,
            true,
        )
        .unwrap();
        assert_eq!(got, [-1, -12, -72, 70, -31, 16, -32, 19]);
    }

    #[test]
    fn int32_sum_and_mean() {
        let x = [1i32, -2, 7, 4];
        let xi = || TestInput::from_slice(ti("x", DType::Int32, &[2, 2]), &x);
        let attrs = ReducerAttrs { keep_dims: false };
        assert_eq!(
            run::<i32>(
                Op::Sum(attrs.clone()),
                xi(),
                &[0],
                ti("y", DType::Int32, &[2]),
                true
            )
            .unwrap(),
            [8, 2]
        );
        assert_eq!(
            run::<i32>(
                Op::Mean(attrs),
                xi(),
                &[1],
                ti("y", DType::Int32, &[2]),
                true
            )
            .unwrap(),
            [0, 5]
        );
    }
}

//! BATCH_MATMUL: float32, int8 (int8 or int32 output), int16, int16 x int8, and hybrid (float
//! left operand, int8 right operand), with `adj_x`/`adj_y` and broadcast batch dimensions
//! (ranks 2 to 5).
//!
//! Operands are brought to row-major `[M, K]` and `[N, K]` per batch (transposing into scratch
//! when the attributes say so, once at preparation for a constant right operand), then every
//! output is one contiguous dot product over `K` in order, as LiteRT's reference sums it.

use super::common::{
    Acc, QType, check_len, check_len_mut, checked_multiplier, checked_quant, f32_to_i32_x86,
    pod_vec, require_dtype, require_shape, scratch_piece, take,
};
use super::hybrid::quantize_row;
use crate::kernel::{KernelIo, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::{BatchMatMulAttrs, DType};

/// `dst[b][c][r] = src[b][r][c]` for `batches` matrices of `rows x cols`.
fn transpose_last2<T: Copy>(src: &[T], batches: usize, rows: usize, cols: usize, dst: &mut [T]) {
    let size = rows * cols;
    for (s, d) in src
        .chunks_exact(size)
        .zip(dst.chunks_exact_mut(size))
        .take(batches)
    {
        for r in 0..rows {
            for c in 0..cols {
                d[c * rows + r] = s[r * cols + c];
            }
        }
    }
}

/// The shapes of one BATCH_MATMUL, fixed at preparation.
#[derive(Debug, Clone)]
struct Dims {
    m: usize,
    n: usize,
    k: usize,
    /// Matrices in the left operand.
    lhs_batches: usize,
    /// Matrices in the right operand.
    rhs_batches: usize,
    /// For each output matrix, the left and right matrices it multiplies (broadcasting).
    pairs: Vec<(usize, usize)>,
    adj_x: bool,
    adj_y: bool,
}

impl Dims {
    fn lhs_len(&self) -> usize {
        self.lhs_batches * self.m * self.k
    }
    fn rhs_len(&self) -> usize {
        self.rhs_batches * self.k * self.n
    }
    fn out_len(&self) -> usize {
        self.pairs.len() * self.m * self.n
    }
}

/// Shapes and broadcasting of operands with shapes `l` and `r`; returns the layout and the
/// output shape.
fn layout(
    l: &[usize],
    r: &[usize],
    adj_x: bool,
    adj_y: bool,
) -> Result<(Dims, Vec<usize>), KernelError> {
    let (lr, rr) = (l.len(), r.len());
    crate::ensure!(
        (2..=5).contains(&lr) && (2..=5).contains(&rr),
        "BATCH_MATMUL operands must have rank 2 to 5, have {l:?} and {r:?}"
    );
    let rank = lr.max(rr);
    let (l, r) = (extend(l, rank), extend(r, rank));
    let (m, lk) = if adj_x {
        (l[rank - 1], l[rank - 2])
    } else {
        (l[rank - 2], l[rank - 1])
    };
    let (rk, n) = if adj_y {
        (r[rank - 1], r[rank - 2])
    } else {
        (r[rank - 2], r[rank - 1])
    };
    crate::ensure!(
        lk == rk,
        "BATCH_MATMUL contraction sizes differ: {lk} and {rk}"
    );
    let batch_rank = rank - 2;
    let mut out_shape = Vec::with_capacity(rank);
    for i in 0..batch_rank {
        let (ld, rd) = (l[i], r[i]);
        crate::ensure!(
            ld == rd || ld == 1 || rd == 1,
            "BATCH_MATMUL batch dimensions of {l:?} and {r:?} do not broadcast"
        );
        out_shape.push(if ld == 1 { rd } else { ld });
    }
    out_shape.push(m);
    out_shape.push(n);
    let (ls, rs) = (
        batch_strides(&l[..batch_rank]),
        batch_strides(&r[..batch_rank]),
    );
    let pairs = for_each_batch(&out_shape[..batch_rank])
        .map(|idx| {
            let li = idx.iter().zip(&ls).map(|(i, s)| i * s).sum();
            let ri = idx.iter().zip(&rs).map(|(i, s)| i * s).sum();
            (li, ri)
        })
        .collect();
    let d = Dims {
        m,
        n,
        k: lk,
        lhs_batches: l[..batch_rank].iter().product(),
        rhs_batches: r[..batch_rank].iter().product(),
        pairs,
        adj_x,
        adj_y,
    };
    Ok((d, out_shape))
}

/// `s` with leading 1s up to `rank` dimensions.
fn extend(s: &[usize], rank: usize) -> Vec<usize> {
    let mut v = alloc::vec![1; rank - s.len()];
    v.extend_from_slice(s);
    v
}

/// Row-major strides of batch dimensions; broadcast (size 1) dimensions step by 0.
fn batch_strides(d: &[usize]) -> Vec<usize> {
    let mut s = alloc::vec![0; d.len()];
    let mut acc = 1;
    for i in (0..d.len()).rev() {
        s[i] = if d[i] == 1 { 0 } else { acc };
        acc *= d[i];
    }
    s
}

/// Every index of a row-major array of shape `dims`, in order.
fn for_each_batch(dims: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total: usize = dims.iter().product();
    let mut idx = alloc::vec![0usize; dims.len()];
    (0..total).map(move |t| {
        if t > 0 {
            for d in (0..dims.len()).rev() {
                idx[d] += 1;
                if idx[d] < dims[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        idx.clone()
    })
}

/// Where LiteRT's hybrid kernel looks up each output matrix's per-row scaling factors (and
/// zero points) and the right operand's row sums: `(row of the first scaling factor, first row
/// sum)`.
///
/// LiteRT's reference `BatchMatMul` (hybrid) steps these with one extent per 5-D batch
/// dimension (`rows` when the dimension is not broadcast, else 0) instead of the product of the
/// inner dimensions. That is exact for one non-broadcast batch dimension; with several it
/// reads other rows' scaling factors. LiteRT's answer is the reference here, so the same rows
/// are read. Both lookups stay inside their arrays (a sum of `dim - 1` never exceeds a product
/// of `dim`).
fn litert_hybrid_bases(l: &[usize], r: &[usize], m: usize, n: usize) -> Vec<(usize, usize)> {
    let lb = extend(&l[..l.len() - 2], 3);
    let rb = extend(&r[..r.len() - 2], 3);
    let out: Vec<usize> = lb
        .iter()
        .zip(&rb)
        .map(|(&a, &b)| if a == 1 { b } else { a })
        .collect();
    for_each_batch(&out)
        .map(|idx| {
            let sf = idx
                .iter()
                .zip(&lb)
                .filter(|(_, d)| **d != 1)
                .map(|(i, _)| i * m)
                .sum();
            let rs = idx
                .iter()
                .zip(&rb)
                .filter(|(_, d)| **d != 1)
                .map(|(i, _)| i * n)
                .sum();
            (sf, rs)
        })
        .collect()
}

/// A right operand transposed to `[N, K]` once, when it is a constant.
enum RhsCache {
    None,
    F32(Vec<f32>),
    I8(Vec<i8>),
    I16(Vec<i16>),
}

enum Kind {
    F32,
    /// int8 x int8 -> int8 (requantized) with the operands' zero points.
    I8 {
        lhs_zp: i32,
        rhs_zp: i32,
        out_zp: i32,
        mult: i32,
        shift: i32,
    },
    /// int8 x int8 -> int32: raw products, as LiteRT's kernel computes them.
    I8ToI32,
    /// int16 x int16 or int16 x int8 -> int16 with 64-bit accumulators.
    I16 {
        rhs_i8: bool,
        mult: i32,
        shift: i32,
    },
    /// float x int8 -> float; `bases` from [`litert_hybrid_bases`], one per output matrix.
    Hybrid {
        scales: Option<Vec<f32>>,
        filter_scale: f32,
        asymmetric: bool,
        bases: Vec<(usize, usize)>,
    },
}

struct BatchMatMul {
    name: &'static str,
    d: Dims,
    kind: Kind,
    rhs: RhsCache,
}

/// Makes the BATCH_MATMUL kernel for `node`.
pub(super) fn make(
    node: &NodeCtx<'_>,
    a: &BatchMatMulAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let lhs = node.input(0)?;
    let rhs = node.input(1)?;
    let out = node.output(0)?;
    let (mut d, out_shape) = layout(&lhs.shape, &rhs.shape, a.adj_x, a.adj_y)?;
    require_shape(out, &out_shape, "output")?;
    let (name, kind) = match (lhs.dtype, rhs.dtype, out.dtype) {
        (DType::Float32, DType::Float32, _) => {
            require_dtype(out, DType::Float32, "output")?;
            ("batch_matmul_f32__scalar", Kind::F32)
        }
        (DType::Float32, DType::Int8, _) => {
            require_dtype(out, DType::Float32, "output")?;
            let scales = rhs.scales();
            crate::ensure!(
                !scales.is_empty() && scales.iter().all(|s| s.is_finite() && *s > 0.0),
                "BATCH_MATMUL hybrid right operand '{}' needs positive scales",
                rhs.name
            );
            let many = scales.len() > 1;
            crate::ensure!(
                !many || scales.len() == d.n,
                "BATCH_MATMUL hybrid right operand '{}' has {} scales for {} output columns",
                rhs.name,
                scales.len(),
                d.n
            );
            // LiteRT first folds a right operand's unit third-to-last dimension into the left
            // operand's rows (`[.., a, m, k] x [.., 1, k, n]` as `[.., a*m, k] x [.., k, n]`),
            // which changes how its hybrid kernel indexes scaling factors: take the same view.
            let (mut ls, mut rs) = (lhs.shape.clone(), rhs.shape.clone());
            if !a.adj_x && ls.len() > 2 && rs.len() > 2 && rs[rs.len() - 3] == 1 {
                let at = ls.len() - 3;
                let merged = ls[at] * ls[at + 1];
                ls.splice(at..at + 2, [merged]);
                rs.remove(rs.len() - 3);
                d = layout(&ls, &rs, a.adj_x, a.adj_y)?.0;
            }
            let bases = litert_hybrid_bases(&ls, &rs, d.m, d.n);
            (
                "batch_matmul_hybrid_i8__scalar",
                Kind::Hybrid {
                    filter_scale: scales[0],
                    scales: many.then(|| scales.to_vec()),
                    asymmetric: a.asymmetric_quantize_inputs,
                    bases,
                },
            )
        }
        (DType::Int8, DType::Int8, DType::Int32) => {
            ("batch_matmul_i8__scalar_i32_out", Kind::I8ToI32)
        }
        (DType::Int8, DType::Int8, _) => {
            require_dtype(out, DType::Int8, "output")?;
            let (ls, lz) = checked_quant(lhs)?;
            let (rs, rz) = checked_quant(rhs)?;
            let (os, oz) = checked_quant(out)?;
            // LiteRT's `GetQuantizedConvolutionMultipler`: the scales' product in float.
            let (mult, shift) = checked_multiplier(f64::from(ls * rs) / f64::from(os), 30)?;
            (
                "batch_matmul_i8__scalar",
                Kind::I8 {
                    lhs_zp: lz,
                    rhs_zp: rz,
                    out_zp: oz,
                    mult,
                    shift,
                },
            )
        }
        (DType::Int16, DType::Int16 | DType::Int8, _) => {
            require_dtype(out, DType::Int16, "output")?;
            let (ls, lz) = checked_quant(lhs)?;
            let (rs, rz) = checked_quant(rhs)?;
            let (os, oz) = checked_quant(out)?;
            crate::ensure!(
                lz == 0 && rz == 0 && oz == 0,
                "BATCH_MATMUL int16 needs zero points of 0"
            );
            let (mult, shift) = checked_multiplier(f64::from(ls * rs) / f64::from(os), 14)?;
            let rhs_i8 = rhs.dtype == DType::Int8;
            (
                if rhs_i8 {
                    "batch_matmul_i16__scalar_i8_rhs"
                } else {
                    "batch_matmul_i16__scalar"
                },
                Kind::I16 {
                    rhs_i8,
                    mult,
                    shift,
                },
            )
        }
        (l, r, _) => {
            return Err(KernelError::unsupported(alloc::format!(
                "BATCH_MATMUL with {l} and {r} operands"
            )));
        }
    };
    let rhs_cache = match node.constant(1) {
        Some(bytes) if !d.adj_y && bytes.len() == rhs.byte_len().unwrap_or(usize::MAX) => {
            let (b, k, n) = (d.rhs_batches, d.k, d.n);
            match rhs.dtype {
                DType::Float32 => {
                    let src: Vec<f32> = pod_vec(bytes);
                    let mut t = alloc::vec![0.0; src.len()];
                    transpose_last2(&src, b, k, n, &mut t);
                    RhsCache::F32(t)
                }
                DType::Int8 => {
                    let src: Vec<i8> = pod_vec(bytes);
                    let mut t = alloc::vec![0; src.len()];
                    transpose_last2(&src, b, k, n, &mut t);
                    RhsCache::I8(t)
                }
                DType::Int16 => {
                    let src: Vec<i16> = pod_vec(bytes);
                    let mut t = alloc::vec![0; src.len()];
                    transpose_last2(&src, b, k, n, &mut t);
                    RhsCache::I16(t)
                }
                _ => RhsCache::None,
            }
        }
        _ => RhsCache::None,
    };
    Ok(Box::new(BatchMatMul {
        name,
        d,
        kind,
        rhs: rhs_cache,
    }))
}

/// Brings the left operand to `[batches, M, K]`: itself, or its transpose in `buf`.
fn lhs_rows<'a, T: Copy>(d: &Dims, x: &'a [T], buf: &'a mut [T]) -> &'a [T] {
    if d.adj_x {
        transpose_last2(x, d.lhs_batches, d.k, d.m, buf);
        buf
    } else {
        x
    }
}

/// Brings the right operand to `[batches, N, K]`: a cached transpose, itself (`adj_y`), or its
/// transpose in `buf`.
fn rhs_rows<'a, T: Copy>(
    d: &Dims,
    cached: Option<&'a [T]>,
    y: &'a [T],
    buf: &'a mut [T],
) -> &'a [T] {
    if d.adj_y {
        y
    } else if let Some(c) = cached {
        c
    } else {
        transpose_last2(y, d.rhs_batches, d.k, d.n, buf);
        buf
    }
}

/// For each output element, `emit(index, lhs_row, rhs_row)` with the two rows of `K` elements
/// it is the dot product of.
#[inline]
fn for_each_dot<L, R>(d: &Dims, l: &[L], r: &[R], mut emit: impl FnMut(usize, &[L], &[R])) {
    let (m, n, k) = (d.m, d.n, d.k);
    for (ob, &(lb, rb)) in d.pairs.iter().enumerate() {
        for i in 0..m {
            let lrow = &l[(lb * m + i) * k..][..k];
            for j in 0..n {
                let rrow = &r[(rb * n + j) * k..][..k];
                emit((ob * m + i) * n + j, lrow, rrow);
            }
        }
    }
}

impl BatchMatMul {
    fn lhs_elem_size(&self) -> usize {
        match self.kind {
            Kind::F32 | Kind::Hybrid { .. } => 4,
            Kind::I8 { .. } | Kind::I8ToI32 => 1,
            Kind::I16 { .. } => 2,
        }
    }

    fn rhs_elem_size(&self) -> usize {
        match self.kind {
            Kind::F32 => 4,
            Kind::I8 { .. } | Kind::I8ToI32 | Kind::Hybrid { .. } => 1,
            Kind::I16 { rhs_i8, .. } => {
                if rhs_i8 {
                    1
                } else {
                    2
                }
            }
        }
    }
}

/// Scratch piece of `elems` elements of `size` bytes.
fn piece(size: usize, elems: usize) -> usize {
    match size {
        1 => scratch_piece::<i8>(elems),
        2 => scratch_piece::<i16>(elems),
        _ => scratch_piece::<f32>(elems),
    }
}

fn int_dot<L: QType, R: QType, A: Acc>(l: &[L], r: &[R], l_off: i32, r_off: i32) -> A {
    let mut acc = A::ZERO;
    for (&a, &b) in l.iter().zip(r) {
        acc = acc.mac(b.widen() + r_off, a.widen() + l_off);
    }
    acc
}

impl Kernel for BatchMatMul {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        let d = &self.d;
        let mut bytes = 0;
        if d.adj_x {
            bytes += piece(self.lhs_elem_size(), d.lhs_len());
        }
        if !d.adj_y && matches!(self.rhs, RhsCache::None) {
            bytes += piece(self.rhs_elem_size(), d.rhs_len());
        }
        if let Kind::Hybrid { .. } = self.kind {
            let rows = d.lhs_batches * d.m;
            bytes += scratch_piece::<i8>(d.lhs_len())
                + scratch_piece::<f32>(rows)
                + scratch_piece::<i32>(rows)
                + scratch_piece::<i32>(d.rhs_batches * d.n);
        }
        bytes
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let d = &self.d;
        let x_t = inputs.get(0)?;
        let y_t = inputs.get(1)?;
        let mut out_t = outputs.get(0)?;
        let out_info = out_t.info;
        let (l_len, r_len, o_len) = (d.lhs_len(), d.rhs_len(), d.out_len());
        let need_l = d.adj_x;
        let need_r = !d.adj_y && matches!(self.rhs, RhsCache::None);
        match &self.kind {
            Kind::F32 => {
                let x = check_len(x_t.as_slice::<f32>()?, l_len, x_t.info)?;
                let y = check_len(y_t.as_slice::<f32>()?, r_len, y_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, o_len, out_info)?;
                let lb = take::<f32>(&mut scratch, if need_l { l_len } else { 0 })?;
                let rb = take::<f32>(&mut scratch, if need_r { r_len } else { 0 })?;
                let cached = if let RhsCache::F32(c) = &self.rhs {
                    Some(c.as_slice())
                } else {
                    None
                };
                let (l, r) = (lhs_rows(d, x, lb), rhs_rows(d, cached, y, rb));
                for_each_dot(d, l, r, |o, lr, rr| {
                    let mut acc = 0.0f32;
                    for (&a, &b) in lr.iter().zip(rr) {
                        acc += a * b;
                    }
                    out[o] = acc;
                });
            }
            Kind::I8 {
                lhs_zp,
                rhs_zp,
                out_zp,
                mult,
                shift,
            } => {
                let x = check_len(x_t.as_slice::<i8>()?, l_len, x_t.info)?;
                let y = check_len(y_t.as_slice::<i8>()?, r_len, y_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i8>()?, o_len, out_info)?;
                let lb = take::<i8>(&mut scratch, if need_l { l_len } else { 0 })?;
                let rb = take::<i8>(&mut scratch, if need_r { r_len } else { 0 })?;
                let cached = if let RhsCache::I8(c) = &self.rhs {
                    Some(c.as_slice())
                } else {
                    None
                };
                let (l, r) = (lhs_rows(d, x, lb), rhs_rows(d, cached, y, rb));
                for_each_dot(d, l, r, |o, lr, rr| {
                    let acc: i32 = int_dot(lr, rr, -lhs_zp, -rhs_zp);
                    let v = acc.requant(*mult, *shift).wrapping_add(*out_zp);
                    out[o] = v.clamp(i8::MIN.into(), i8::MAX.into()) as i8;
                });
            }
            Kind::I8ToI32 => {
                let x = check_len(x_t.as_slice::<i8>()?, l_len, x_t.info)?;
                let y = check_len(y_t.as_slice::<i8>()?, r_len, y_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i32>()?, o_len, out_info)?;
                let lb = take::<i8>(&mut scratch, if need_l { l_len } else { 0 })?;
                let rb = take::<i8>(&mut scratch, if need_r { r_len } else { 0 })?;
                let cached = if let RhsCache::I8(c) = &self.rhs {
                    Some(c.as_slice())
                } else {
                    None
                };
                let (l, r) = (lhs_rows(d, x, lb), rhs_rows(d, cached, y, rb));
                for_each_dot(d, l, r, |o, lr, rr| {
                    out[o] = int_dot::<i8, i8, i32>(lr, rr, 0, 0);
                });
            }
            Kind::I16 {
                rhs_i8,
                mult,
                shift,
            } => {
                let x = check_len(x_t.as_slice::<i16>()?, l_len, x_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i16>()?, o_len, out_info)?;
                let lb = take::<i16>(&mut scratch, if need_l { l_len } else { 0 })?;
                let l = lhs_rows(d, x, lb);
                let finish = |acc: i64| {
                    acc.requant(*mult, *shift)
                        .clamp(i16::MIN.into(), i16::MAX.into()) as i16
                };
                if *rhs_i8 {
                    let y = check_len(y_t.as_slice::<i8>()?, r_len, y_t.info)?;
                    let rb = take::<i8>(&mut scratch, if need_r { r_len } else { 0 })?;
                    let cached = if let RhsCache::I8(c) = &self.rhs {
                        Some(c.as_slice())
                    } else {
                        None
                    };
                    let r = rhs_rows(d, cached, y, rb);
                    for_each_dot(d, l, r, |o, lr, rr| out[o] = finish(int_dot(lr, rr, 0, 0)));
                } else {
                    let y = check_len(y_t.as_slice::<i16>()?, r_len, y_t.info)?;
                    let rb = take::<i16>(&mut scratch, if need_r { r_len } else { 0 })?;
                    let cached = if let RhsCache::I16(c) = &self.rhs {
                        Some(c.as_slice())
                    } else {
                        None
                    };
                    let r = rhs_rows(d, cached, y, rb);
                    for_each_dot(d, l, r, |o, lr, rr| out[o] = finish(int_dot(lr, rr, 0, 0)));
                }
            }
            Kind::Hybrid {
                scales,
                filter_scale,
                asymmetric,
                bases,
            } => {
                let x = check_len(x_t.as_slice::<f32>()?, l_len, x_t.info)?;
                let y = check_len(y_t.as_slice::<i8>()?, r_len, y_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, o_len, out_info)?;
                let lb = take::<f32>(&mut scratch, if need_l { l_len } else { 0 })?;
                let rb = take::<i8>(&mut scratch, if need_r { r_len } else { 0 })?;
                let q = take::<i8>(&mut scratch, l_len)?;
                let rows = d.lhs_batches * d.m;
                let sfs = take::<f32>(&mut scratch, rows)?;
                let zps = take::<i32>(&mut scratch, rows)?;
                let row_sums = take::<i32>(&mut scratch, d.rhs_batches * d.n)?;
                let cached = if let RhsCache::I8(c) = &self.rhs {
                    Some(c.as_slice())
                } else {
                    None
                };
                let (l, r) = (lhs_rows(d, x, lb), rhs_rows(d, cached, y, rb));
                // LiteRT quantizes each row of the left operand on its own.
                for (row, (xs, qs)) in l
                    .chunks_exact(d.k)
                    .zip(q.chunks_exact_mut(d.k))
                    .enumerate()
                    .take(rows)
                {
                    let (sf, zp) = quantize_row(xs, qs, *asymmetric);
                    sfs[row] = if scales.is_some() {
                        sf
                    } else {
                        sf * filter_scale
                    };
                    zps[row] = zp;
                }
                for (s, wr) in row_sums.iter_mut().zip(r.chunks_exact(d.k)) {
                    *s = wr.iter().fold(0i32, |a, &w| a.wrapping_add(i32::from(w)));
                }
                let (m, n, k) = (d.m, d.n, d.k);
                for (ob, (&(lb, rb), &(sf_base, rs_base))) in d.pairs.iter().zip(bases).enumerate()
                {
                    for i in 0..m {
                        let qr = &q[(lb * m + i) * k..][..k];
                        let (sf, zp) = (sfs[sf_base + i], zps[sf_base + i]);
                        for j in 0..n {
                            let wr = &r[(rb * n + j) * k..][..k];
                            let mut dot = 0i32;
                            for (&qv, &wv) in qr.iter().zip(wr) {
                                dot = dot.wrapping_add(i32::from(qv) * i32::from(wv));
                            }
                            // LiteRT subtracts the zero-point term in float (`total -= row_sum *
                            // offset` with a float offset) and truncates back to int32.
                            let total = f32_to_i32_x86(
                                dot as f32 - row_sums[rs_base + j] as f32 * zp as f32,
                            );
                            let scale = scales.as_ref().map_or(sf, |s| sf * s[j]);
                            out[(ob * m + i) * n + j] = 0.0 + scale * total as f32;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

//! BATCH_MATMUL: float32, int8 (int8 or int32 output), int16, int16 x int8, and hybrid (float
//! left operand, int8 right operand), with `adj_x`/`adj_y` and broadcast batch dimensions
//! (ranks 2 to 5).
//!
//! Operands are brought to row-major `[M, K]` and `[N, K]` per batch (transposing into scratch
//! when the attributes say so, once at preparation for a constant right operand), then every
//! output is one contiguous dot product over `K` in order, as LiteRT's reference sums it.

use super::common::{
    Acc, QType, check_len, check_len_mut, f32_to_i32_x86, pod_vec, scratch_piece, take,
};
use super::hybrid::quantize_row;
use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::conv::{MatMulDims as Dims, MatMulPlan, MatMulQuant as Kind, batch_matmul};
use crate::{Kernel, KernelError, TensorRef};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::DType;

/// `dst[b][c][r] = src[b][r][c]` for `batches` matrices of `rows x cols`.
fn transpose_last2<T: Copy>(src: &[T], batches: usize, rows: usize, cols: usize, dst: &mut [T]) {
    let size = rows * cols;
    if size == 0 {
        return; // nothing to move (and `chunks_exact` takes no empty chunks)
    }
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

/// A right operand transposed to `[N, K]` once, when it is a constant.
enum RhsCache {
    None,
    F32(Vec<f32>),
    I8(Vec<i8>),
    I16(Vec<i16>),
}

/// Element types a right operand can be cached in.
trait Cached: bytemuck::Pod {
    /// The cached operand, if `c` holds one of this type.
    fn cached(c: &RhsCache) -> Option<&[Self]>;
}

macro_rules! cached {
    ($($t:ty => $v:ident),*) => {$(
        impl Cached for $t {
            fn cached(c: &RhsCache) -> Option<&[Self]> {
                match c {
                    RhsCache::$v(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}
cached!(f32 => F32, i8 => I8, i16 => I16);

/// The scalar executor of a [`MatMulPlan`], with the right operand transposed once when it
/// is a constant.
struct BatchMatMul {
    name: &'static str,
    d: Dims,
    kind: Kind,
    rhs: RhsCache,
}

/// Makes the BATCH_MATMUL kernel for `node`.
pub(super) fn make(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let MatMulPlan {
        dims: d,
        quant: kind,
    } = batch_matmul(node)?;
    let name = match &kind {
        Kind::F32 => "batch_matmul_f32__scalar",
        Kind::Hybrid { .. } => "batch_matmul_hybrid_i8__scalar",
        Kind::I8ToI32 => "batch_matmul_i8__scalar_i32_out",
        Kind::I8 { .. } => "batch_matmul_i8__scalar",
        Kind::I16 { rhs_i8: true, .. } => "batch_matmul_i16__scalar_i8_rhs",
        Kind::I16 { rhs_i8: false, .. } => "batch_matmul_i16__scalar",
    };
    let rhs = node.input(1)?;
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
    /// Both operands as rows of `K` (`[M, K]` and `[N, K]` per matrix): lengths checked, the
    /// transposition scratch carved (left, then right), the cached right operand used when
    /// there is one.
    fn operand_rows<'s, L: bytemuck::Pod, R: Cached>(
        &'s self,
        x_t: &TensorRef<'s>,
        y_t: &TensorRef<'s>,
        scratch: &mut &'s mut [u8],
    ) -> Result<(&'s [L], &'s [R]), KernelError> {
        let d = &self.d;
        let x = check_len(x_t.as_slice::<L>()?, d.lhs_len(), x_t.info)?;
        let y = check_len(y_t.as_slice::<R>()?, d.rhs_len(), y_t.info)?;
        let cached = R::cached(&self.rhs);
        let need_r = !d.adj_y && cached.is_none();
        let lb = take::<L>(scratch, if d.adj_x { d.lhs_len() } else { 0 })?;
        let rb = take::<R>(scratch, if need_r { d.rhs_len() } else { 0 })?;
        Ok((lhs_rows(d, x, lb), rhs_rows(d, cached, y, rb)))
    }

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
        let (l_len, o_len) = (d.lhs_len(), d.out_len());
        match &self.kind {
            Kind::F32 => {
                let (l, r) = self.operand_rows::<f32, f32>(&x_t, &y_t, &mut scratch)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, o_len, out_info)?;
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
                let (l, r) = self.operand_rows::<i8, i8>(&x_t, &y_t, &mut scratch)?;
                let out = check_len_mut(out_t.as_slice_mut::<i8>()?, o_len, out_info)?;
                for_each_dot(d, l, r, |o, lr, rr| {
                    let acc: i32 = int_dot(lr, rr, -lhs_zp, -rhs_zp);
                    let v = acc.requant(*mult, *shift).wrapping_add(*out_zp);
                    out[o] = v.clamp(i8::MIN.into(), i8::MAX.into()) as i8;
                });
            }
            Kind::I8ToI32 => {
                let (l, r) = self.operand_rows::<i8, i8>(&x_t, &y_t, &mut scratch)?;
                let out = check_len_mut(out_t.as_slice_mut::<i32>()?, o_len, out_info)?;
                for_each_dot(d, l, r, |o, lr, rr| {
                    out[o] = int_dot::<i8, i8, i32>(lr, rr, 0, 0);
                });
            }
            Kind::I16 {
                rhs_i8,
                mult,
                shift,
            } => {
                let out = check_len_mut(out_t.as_slice_mut::<i16>()?, o_len, out_info)?;
                let finish = |acc: i64| {
                    acc.requant(*mult, *shift)
                        .clamp(i16::MIN.into(), i16::MAX.into()) as i16
                };
                if *rhs_i8 {
                    let (l, r) = self.operand_rows::<i16, i8>(&x_t, &y_t, &mut scratch)?;
                    for_each_dot(d, l, r, |o, lr, rr| out[o] = finish(int_dot(lr, rr, 0, 0)));
                } else {
                    let (l, r) = self.operand_rows::<i16, i16>(&x_t, &y_t, &mut scratch)?;
                    for_each_dot(d, l, r, |o, lr, rr| out[o] = finish(int_dot(lr, rr, 0, 0)));
                }
            }
            Kind::Hybrid { h, bases } => {
                let (l, r) = self.operand_rows::<f32, i8>(&x_t, &y_t, &mut scratch)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, o_len, out_info)?;
                let q = take::<i8>(&mut scratch, l_len)?;
                let rows = d.lhs_batches * d.m;
                let sfs = take::<f32>(&mut scratch, rows)?;
                let zps = take::<i32>(&mut scratch, rows)?;
                let row_sums = take::<i32>(&mut scratch, d.rhs_batches * d.n)?;
                // LiteRT quantizes each row of the left operand on its own.
                for (row, (xs, qs)) in l
                    .chunks_exact(d.k)
                    .zip(q.chunks_exact_mut(d.k))
                    .enumerate()
                    .take(rows)
                {
                    let (sf, zp) = quantize_row(xs, qs, h.asymmetric);
                    sfs[row] = if h.per_channel {
                        sf
                    } else {
                        sf * h.filter_scale()
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
                            let scale = if h.per_channel { sf * h.scales[j] } else { sf };
                            out[(ob * m + i) * n + j] = 0.0 + scale * total as f32;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

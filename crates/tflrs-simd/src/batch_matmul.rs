//! BATCH_MATMUL on the GEMMs: float32 on the f32 GEMM ([`crate::gemm`]), int8 (int8 or int32
//! output) on the exact int8 GEMM ([`crate::gemm_i8`]).
//!
//! Per output matrix `o` with its (broadcast) operand matrices `(l, r)` from the plan
//! (`tflrs_kernels::prep::conv::batch_matmul`): `out[o] = L[l] (M x K) * R[r] (K x N)`, with
//! `adj_x` / `adj_y` saying that `L` is stored `[K, M]` / `R` `[N, K]`.
//!
//! - float32 (`batch_matmul_f32__{isa}_{MR}x{NR}`): each right matrix is one packed `B`
//!   (strides from `adj_y`), packed once at preparation when constant, else at each run into
//!   panels allocated at preparation. A left operand stored `[K, M]` is transposed into scratch
//!   at each run. Results within the f32 bound of `testutil` (another summation order, FMA).
//! - int8 (`batch_matmul_i8__{isa}_{MR}x{NR}`, `..._i32_out`): constant right operand only (its
//!   widened int16 panels are made at preparation); the left rows are widened with `-lhs_zp`
//!   as they are read (a `[K, M]` left operand is read by columns), the right values with
//!   `-rhs_zp` at packing. The int32 accumulators are the scalar kernel's exactly; the int8
//!   output is requantized by LiteRT's `MultiplyByQuantizedMultiplier` (one multiplier), as
//!   the scalar kernel does: byte-equal.
//!
//! - hybrid (`batch_matmul_hybrid_i8__{isa}_{MR}x{NR}`): float left operand, constant int8
//!   right one. Each left row is quantized as the scalar kernel quantizes it
//!   ([`crate::hybrid::quantize_row`]); the raw int32 products `sum q * w` come from the exact
//!   int8 GEMM; then the scalar kernel's float steps, in its order (LiteRT subtracts the zero
//!   point term in float: `trunc(dot - row_sum * zp)`, then `0 + scale * total`), reading
//!   scaling factors and row sums where the plan's `bases` say (LiteRT's indexing). Bit-equal
//!   to the scalar kernel.
//!
//! Everything else (int16, computed int8 right operands, empty operands) is `Ok(None)`.

use crate::gemm::{MicroKernel, PackedGemm};
use crate::gemm_i8::{GemmI8, Requant, offset_fits};
use crate::isa::Isa;
use tflrs_ir::Op;
use tflrs_kernels::prep::conv::{HybridQuant, MatMulDims, MatMulQuant, batch_matmul};
use tflrs_kernels::scalar::qmath::f32_to_i32_x86;
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A BATCH_MATMUL kernel at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::BatchMatMul(_)) {
        return Ok(None);
    }
    let Ok(plan) = batch_matmul(node) else {
        return Ok(None);
    };
    let d = plan.dims;
    if d.k == 0 || d.m == 0 || d.n == 0 || d.lhs_batches == 0 || d.rhs_batches == 0 {
        return Ok(None);
    }
    match plan.quant {
        MatMulQuant::F32 => Ok(Some(Box::new(f32_kernel(isa, node, d)))),
        MatMulQuant::I8 {
            lhs_zp,
            rhs_zp,
            out_zp,
            mult,
            shift,
        } => Ok(
            i8_kernel(isa, node, d, (lhs_zp, rhs_zp), Some((out_zp, mult, shift)))
                .map(|k| Box::new(k) as Box<dyn Kernel>),
        ),
        MatMulQuant::I8ToI32 => {
            Ok(i8_kernel(isa, node, d, (0, 0), None).map(|k| Box::new(k) as Box<dyn Kernel>))
        }
        MatMulQuant::Hybrid { h, bases } => {
            Ok(hybrid_kernel(isa, node, d, h, bases).map(|k| Box::new(k) as Box<dyn Kernel>))
        }
        _ => Ok(None),
    }
}

/// Where element `(kk, j)` of right matrix `r` is: `(offset of the matrix, k_stride,
/// n_stride)`.
fn rhs_strides(d: &MatMulDims) -> (usize, usize) {
    if d.adj_y { (1, d.k) } else { (d.n, 1) }
}

// ---------------------------------------------------------------------------------------------
// float32.

fn f32_kernel(isa: Isa, node: &NodeCtx<'_>, d: MatMulDims) -> BatchMatMulF32 {
    let uk = MicroKernel::choose(isa, d.n);
    let (ks, ns) = rhs_strides(&d);
    let size = d.k * d.n;
    let constant = node
        .constant(1)
        .and_then(|b| crate::fully_connected::f32s(b, d.rhs_len()));
    let gemms = (0..d.rhs_batches)
        .map(|r| match &constant {
            Some(w) => PackedGemm::with_kernel(uk, d.k, d.n, &w[r * size..][..size], ks, ns),
            None => PackedGemm::unpacked(uk, d.k, d.n),
        })
        .collect();
    BatchMatMulF32 {
        name: format!("batch_matmul_f32__{}", uk.name()),
        computed: constant.is_none(),
        gemms,
        d,
    }
}

struct BatchMatMulF32 {
    name: String,
    d: MatMulDims,
    /// One packed `B` per right matrix.
    gemms: Vec<PackedGemm>,
    /// The right operand is packed at each run.
    computed: bool,
}

impl Kernel for BatchMatMulF32 {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        if self.d.adj_x {
            self.d.lhs_len() * 4 + 16
        } else {
            0
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, scratch, _) = io.split();
        let d = &self.d;
        let (m, k, n) = (d.m, d.k, d.n);
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, d.lhs_len(), "BATCH_MATMUL left operand")?;
        at_least(out, d.out_len(), "BATCH_MATMUL output")?;
        if self.computed {
            let y = inputs.get(1)?.as_slice::<f32>()?;
            at_least(y, d.rhs_len(), "BATCH_MATMUL right operand")?;
            let (ks, ns) = rhs_strides(d);
            for (r, g) in self.gemms.iter_mut().enumerate() {
                g.pack(&y[r * k * n..][..k * n], ks, ns);
            }
        }
        let lhs: &[f32] = if d.adj_x {
            let (_, t, _) = bytemuck::pod_align_to_mut::<u8, f32>(scratch);
            let t = t
                .get_mut(..d.lhs_len())
                .ok_or_else(|| KernelError::invalid("BATCH_MATMUL scratch is too small".into()))?;
            for (src, dst) in x
                .chunks_exact(k * m)
                .zip(t.chunks_exact_mut(m * k))
                .take(d.lhs_batches)
            {
                for kk in 0..k {
                    for i in 0..m {
                        dst[i * k + kk] = src[kk * m + i];
                    }
                }
            }
            t
        } else {
            x
        };
        let range = (f32::NEG_INFINITY, f32::INFINITY);
        for (o, &(l, r)) in d.pairs.iter().enumerate() {
            let a = &lhs[l * m * k..][..m * k];
            let c = &mut out[o * m * n..][..m * n];
            self.gemms[r].run(m, a, k, None, range, c, n);
        }
        Ok(())
    }
}

fn at_least<T>(s: &[T], len: usize, what: &str) -> Result<(), KernelError> {
    crate::fully_connected::at_least(s, len, what)
}

// ---------------------------------------------------------------------------------------------
// int8.

/// The int8 kernel over a constant right operand, or `None`. `requant` is `(out_zp, mult,
/// shift)` for int8 output, `None` for raw int32 output.
fn i8_kernel(
    isa: Isa,
    node: &NodeCtx<'_>,
    d: MatMulDims,
    (lhs_zp, rhs_zp): (i32, i32),
    requant: Option<(i32, i32, i32)>,
) -> Option<BatchMatMulI8> {
    let (l_off, r_off) = (-lhs_zp, -rhs_zp);
    if !offset_fits(l_off) || !offset_fits(r_off) {
        return None;
    }
    let bytes = node.constant(1)?.get(..d.rhs_len())?;
    let (ks, ns) = rhs_strides(&d);
    let (k, n) = (d.k, d.n);
    let mut rows = vec![0i8; n * k];
    let gemms: Vec<GemmI8> = (0..d.rhs_batches)
        .map(|r| {
            let w = &bytes[r * k * n..][..k * n];
            for j in 0..n {
                for kk in 0..k {
                    rows[j * k + kk] = w[kk * ks + j * ns] as i8;
                }
            }
            GemmI8::new(isa, k, n, &rows, r_off, l_off)
        })
        .collect();
    let kernel = gemms[0].kernel();
    let rq = requant.map(|(zp, m, s)| {
        Requant::new(&vec![m; n], &vec![s; n], zp, i8::MIN.into(), i8::MAX.into())
    });
    Some(BatchMatMulI8 {
        name: format!(
            "batch_matmul_i8__{}{}",
            kernel.name(),
            if rq.is_none() { "_i32_out" } else { "" }
        ),
        d,
        gemms,
        rq,
    })
}

struct BatchMatMulI8 {
    name: String,
    d: MatMulDims,
    /// One packed right matrix per right batch.
    gemms: Vec<GemmI8>,
    /// int8 output's requantization (`None`: int32 output).
    rq: Option<Requant>,
}

impl Kernel for BatchMatMulI8 {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        self.gemms.first().map_or(0, |g| g.scratch_bytes())
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, scratch, _) = io.split();
        let d = &self.d;
        let (m, k, n) = (d.m, d.k, d.n);
        let x = inputs.get(0)?.as_slice::<i8>()?;
        at_least(x, d.lhs_len(), "BATCH_MATMUL left operand")?;
        let mut out_t = outputs.get(0)?;
        let adj_x = d.adj_x;
        for (o, &(l, r)) in d.pairs.iter().enumerate() {
            let g = &self.gemms[r];
            let off = g.in_offset();
            let a = &x[l * m * k..][..m * k];
            let fill = |i: usize, dst: &mut [i16]| {
                if adj_x {
                    for (kk, v) in dst[..k].iter_mut().enumerate() {
                        *v = i16::from(a[kk * m + i]) + off;
                    }
                } else {
                    crate::gemm_i8::widen(&a[i * k..][..k], off, dst);
                }
            };
            match &self.rq {
                Some(rq) => {
                    let out = out_t.as_slice_mut::<i8>()?;
                    at_least(out, d.out_len(), "BATCH_MATMUL output")?;
                    let c = &mut out[o * m * n..][..m * n];
                    #[cfg(target_arch = "x86_64")]
                    let avx2 = g.avx2();
                    g.run_rows(m, scratch, fill, |i, j0, accs| {
                        rq.row(
                            #[cfg(target_arch = "x86_64")]
                            avx2,
                            j0,
                            accs,
                            None,
                            &mut c[i * n + j0..],
                        );
                    });
                }
                None => {
                    let out = out_t.as_slice_mut::<i32>()?;
                    at_least(out, d.out_len(), "BATCH_MATMUL output")?;
                    let c = &mut out[o * m * n..][..m * n];
                    g.run_rows(m, scratch, fill, |i, j0, accs| {
                        c[i * n + j0..][..accs.len()].copy_from_slice(accs);
                    });
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// hybrid.

/// The right operand's constant int8 matrices as `[N x K]` rows, or `None`.
fn rhs_rows_i8(node: &NodeCtx<'_>, d: &MatMulDims) -> Option<Vec<i8>> {
    let bytes = node.constant(1)?.get(..d.rhs_len())?;
    let (ks, ns) = rhs_strides(d);
    let (k, n) = (d.k, d.n);
    let mut rows = vec![0i8; d.rhs_len()];
    for r in 0..d.rhs_batches {
        let w = &bytes[r * k * n..][..k * n];
        for j in 0..n {
            for kk in 0..k {
                rows[(r * n + j) * k + kk] = w[kk * ks + j * ns] as i8;
            }
        }
    }
    Some(rows)
}

fn hybrid_kernel(
    isa: Isa,
    node: &NodeCtx<'_>,
    d: MatMulDims,
    h: HybridQuant,
    bases: Vec<(usize, usize)>,
) -> Option<BatchMatMulHybrid> {
    let rows = rhs_rows_i8(node, &d)?;
    let (k, n) = (d.k, d.n);
    if bases.len() != d.pairs.len() || (h.per_channel && h.scales.len() < n) {
        return None;
    }
    let row_sums = rows
        .chunks_exact(k)
        .map(|w| w.iter().fold(0i32, |a, &v| a.wrapping_add(i32::from(v))))
        .collect();
    let gemms: Vec<GemmI8> = rows
        .chunks_exact(n * k)
        .map(|w| GemmI8::new(isa, k, n, w, 0, 0))
        .collect();
    Some(BatchMatMulHybrid {
        name: format!("batch_matmul_hybrid_i8__{}", gemms[0].kernel().name()),
        isa,
        d,
        gemms,
        row_sums,
        h,
        bases,
    })
}

struct BatchMatMulHybrid {
    name: String,
    isa: Isa,
    d: MatMulDims,
    /// One packed right matrix per right batch (raw int8 values).
    gemms: Vec<GemmI8>,
    /// The sum of each right column (`[batch][n]`).
    row_sums: Vec<i32>,
    h: HybridQuant,
    bases: Vec<(usize, usize)>,
}

/// Takes an aligned piece of `n` values of `T` off the front of `buf` (`n * size + 16`
/// bytes).
fn take<'a, T: bytemuck::Pod>(
    buf: &mut &'a mut [u8],
    n: usize,
) -> Result<&'a mut [T], KernelError> {
    let bytes = n * core::mem::size_of::<T>() + 16;
    let all = core::mem::take(buf);
    if all.len() < bytes {
        return Err(KernelError::invalid(
            "BATCH_MATMUL scratch is too small".into(),
        ));
    }
    let (head, tail) = all.split_at_mut(bytes);
    *buf = tail;
    let (_, mid, _) = bytemuck::pod_align_to_mut::<u8, T>(head);
    Ok(&mut mid[..n])
}

impl Kernel for BatchMatMulHybrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        let d = &self.d;
        let rows = d.lhs_batches * d.m;
        let t = if d.adj_x { d.lhs_len() * 4 + 16 } else { 0 };
        t + d.lhs_len() + 16 + 2 * (rows * 4 + 16) + self.gemms[0].scratch_bytes()
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let d = &self.d;
        let (m, k, n) = (d.m, d.k, d.n);
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, d.lhs_len(), "BATCH_MATMUL left operand")?;
        at_least(out, d.out_len(), "BATCH_MATMUL output")?;
        let lhs: &[f32] = if d.adj_x {
            let t = take::<f32>(&mut scratch, d.lhs_len())?;
            for (src, dst) in x
                .chunks_exact(k * m)
                .zip(t.chunks_exact_mut(m * k))
                .take(d.lhs_batches)
            {
                for kk in 0..k {
                    for i in 0..m {
                        dst[i * k + kk] = src[kk * m + i];
                    }
                }
            }
            t
        } else {
            x
        };
        let rows = d.lhs_batches * m;
        let q = take::<i8>(&mut scratch, d.lhs_len())?;
        let sfs = take::<f32>(&mut scratch, rows)?;
        let zps = take::<i32>(&mut scratch, rows)?;
        let h = &self.h;
        for row in 0..rows {
            let rq = crate::hybrid::quantize_row(
                self.isa,
                &lhs[row * k..][..k],
                &mut q[row * k..][..k],
                h.asymmetric,
            );
            sfs[row] = if h.per_channel {
                rq.sf
            } else {
                rq.sf * h.filter_scale()
            };
            zps[row] = rq.zp;
        }
        let (q, sfs, zps) = (&*q, &*sfs, &*zps);
        for (o, (&(l, r), &(sf_base, rs_base))) in d.pairs.iter().zip(&self.bases).enumerate() {
            let c = &mut out[o * m * n..][..m * n];
            let a = &q[l * m * k..][..m * k];
            let sums = &self.row_sums[rs_base..][..n];
            self.gemms[r].run_rows(
                m,
                scratch,
                |i, dst| crate::gemm_i8::widen(&a[i * k..][..k], 0, dst),
                |i, j0, accs| {
                    let (sf, zp) = (sfs[sf_base + i], zps[sf_base + i]);
                    let row = &mut c[i * n + j0..][..accs.len()];
                    for (jj, (o, &dot)) in row.iter_mut().zip(accs).enumerate() {
                        let j = j0 + jj;
                        let total = f32_to_i32_x86(dot as f32 - sums[j] as f32 * zp as f32);
                        let scale = if h.per_channel { sf * h.scales[j] } else { sf };
                        *o = 0.0 + scale * total as f32;
                    }
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::SimdBackend;
    use crate::testutil::{Case, edge_or_any, for_each_backend, input};
    use proptest::prelude::*;
    use tflrs_ir::{BatchMatMulAttrs, DType, Op, QuantParams};
    use tflrs_kernels::testing::{Harness, TestInput};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    /// A case: `m x k` by `k x n`, batch dimensions (each broadcast on one side or not), the
    /// attributes, a constant right operand or not.
    #[derive(Debug, Clone)]
    struct Bmm {
        m: usize,
        k: usize,
        n: usize,
        /// Per batch dimension: its size, and whether the left (0), right (1) or neither (2)
        /// operand has 1 there.
        batch: Vec<(usize, u8)>,
        /// The right operand drops its batch dimensions (rank 2).
        rhs_rank2: bool,
        adj_x: bool,
        adj_y: bool,
        constant: bool,
        seed: u64,
    }

    fn bmm_strategy() -> impl Strategy<Value = Bmm> {
        (
            (
                edge_or_any(1..=20),
                edge_or_any(1..=40),
                edge_or_any(1..=40),
            ),
            prop::collection::vec((1usize..=3, 0u8..=2), 0..=3),
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
            any::<u64>(),
        )
            .prop_map(
                |((m, k, n), batch, (rhs_rank2, adj_x, adj_y, constant), seed)| Bmm {
                    m,
                    k,
                    n,
                    batch,
                    rhs_rank2,
                    adj_x,
                    adj_y,
                    constant,
                    seed,
                },
            )
    }

    impl Bmm {
        fn op(&self) -> Op<'static> {
            Op::BatchMatMul(BatchMatMulAttrs {
                adj_x: self.adj_x,
                adj_y: self.adj_y,
                asymmetric_quantize_inputs: false,
            })
        }

        /// Shapes of the left, right and output tensors.
        fn shapes(&self) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
            let mut l: Vec<usize> = self
                .batch
                .iter()
                .map(|&(s, w)| if w == 0 { 1 } else { s })
                .collect();
            let mut r: Vec<usize> = if self.rhs_rank2 {
                Vec::new()
            } else {
                self.batch
                    .iter()
                    .map(|&(s, w)| if w == 1 { 1 } else { s })
                    .collect()
            };
            let mut o: Vec<usize> = if self.rhs_rank2 {
                l.clone()
            } else {
                l.iter().zip(&r).map(|(&a, &b)| a.max(b)).collect()
            };
            let (m, k, n) = (self.m, self.k, self.n);
            l.extend(if self.adj_x { [k, m] } else { [m, k] });
            r.extend(if self.adj_y { [n, k] } else { [k, n] });
            o.extend([m, n]);
            (l, r, o)
        }
    }

    /// The float case, with the bound's terms from the operands (each output is a dot product
    /// over `K`; the broadcast walk is recomputed here from the shapes).
    fn f32_case(b: &Bmm) -> Case {
        let (ls, rs, os) = b.shapes();
        let mut t = Case::new(b.op(), b.seed);
        let lv = t.values(ls.iter().product());
        let rv = t.values(rs.iter().product());
        let (m, k, n) = (b.m, b.k, b.n);
        let l_at = |lb: usize, i: usize, kk: usize| {
            if b.adj_x {
                lv[lb * m * k + kk * m + i]
            } else {
                lv[lb * m * k + i * k + kk]
            }
        };
        let r_at = |rb: usize, kk: usize, j: usize| {
            if b.adj_y {
                rv[rb * k * n + j * k + kk]
            } else {
                rv[rb * k * n + kk * n + j]
            }
        };
        // Batch index of each output matrix in the (broadcast) operands.
        let rank = os.len() - 2;
        let out_b = &os[..rank];
        let lb_dims = &ls[..rank];
        let rb_dims: Vec<usize> = if b.rhs_rank2 {
            vec![1; rank]
        } else {
            rs[..rank].to_vec()
        };
        let matrices: usize = out_b.iter().product();
        for o in 0..matrices {
            let mut rem = o;
            let (mut li, mut ri) = (0, 0);
            let (mut lstride, mut rstride) = (1, 1);
            for dim in (0..rank).rev() {
                let idx = rem % out_b[dim];
                rem /= out_b[dim];
                if lb_dims[dim] != 1 {
                    li += idx * lstride;
                }
                if rb_dims[dim] != 1 {
                    ri += idx * rstride;
                }
                lstride *= lb_dims[dim];
                rstride *= rb_dims[dim];
            }
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k)
                        .map(|kk| f64::from(l_at(li, i, kk) * r_at(ri, kk, j)).abs())
                        .sum();
                    t.bound_terms.push((k, s));
                }
            }
        }
        t.inputs = vec![
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, ls),
                &lv,
            )),
            Some(input(
                b.constant,
                TensorInfo::new("y", DType::Float32, rs),
                &rv,
            )),
        ];
        t.outputs = vec![TensorInfo::new("out", DType::Float32, os)];
        t
    }

    #[test]
    fn batch_matmul_f32_matches_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend: &SimdBackend, runner| {
            runner
                .run(&bmm_strategy(), |b| {
                    let t = f32_case(&b);
                    let name = t
                        .check(backend)
                        .map_err(|e| TestCaseError::fail(format!("{b:?}: {e}")))?;
                    let want = format!("batch_matmul_f32__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    Ok(())
                })
                .unwrap();
        });
    }

    fn bytes(seed: &mut u64, n: usize) -> Vec<i8> {
        let mut v: Vec<i8> = (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                (*seed >> 32) as i8
            })
            .collect();
        for (x, e) in v.iter_mut().zip([-128i8, 127]) {
            *x = e;
        }
        v
    }

    #[test]
    fn batch_matmul_i8_equals_the_scalar_kernel_on_every_level() {
        let zp = || prop_oneof![Just(-128i64), Just(127i64), Just(0i64), -128i64..=127];
        let strategy = (
            bmm_strategy(),
            (zp(), zp(), zp()),
            (1.0f32..2.0, -9i32..=-5),
            any::<bool>(),
        );
        for_each_backend(|backend: &SimdBackend, runner| {
            runner
                .run(&strategy, |(b, (lz, rz, oz), (sm, se), i32_out)| {
                    let (ls, rs, os) = b.shapes();
                    let mut seed = b.seed | 1;
                    let lv = bytes(&mut seed, ls.iter().product());
                    let rv = bytes(&mut seed, rs.iter().product());
                    let (lz, rz) = if i32_out { (0, 0) } else { (lz, rz) };
                    let l_info = TensorInfo::new("x", DType::Int8, ls).with_quant(0.5, lz);
                    let r_info = TensorInfo::new("y", DType::Int8, rs).with_quant(0.25, rz);
                    // Output steps of about 2^-se accumulator units.
                    let o_info = if i32_out {
                        TensorInfo::new("out", DType::Int32, os)
                    } else {
                        let scale = 0.125 * (b.k as f32).sqrt() * sm * 2f32.powi(-se);
                        TensorInfo::new("out", DType::Int8, os).with_quant(scale, oz)
                    };
                    let inputs = vec![
                        Some(TestInput::from_slice(l_info, &lv)),
                        Some(TestInput::const_from_slice(r_info, &rv)),
                    ];
                    let (name, _) = Harness::new()
                        .compare(backend, &ScalarBackend, &b.op(), &inputs, &[o_info])
                        .map_err(|e| TestCaseError::fail(format!("{b:?}: {e}")))?;
                    let want = format!("batch_matmul_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    prop_assert_eq!(name.ends_with("_i32_out"), i32_out, "{}", name);
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn batch_matmul_hybrid_equals_the_scalar_kernel_on_every_level() {
        let strategy = (bmm_strategy(), any::<bool>(), any::<bool>(), -4i32..=4);
        for_each_backend(|backend: &SimdBackend, runner| {
            runner
                .run(&strategy, |(b, asymmetric, per_channel, e)| {
                    let (ls, rs, os) = b.shapes();
                    let op = Op::BatchMatMul(BatchMatMulAttrs {
                        adj_x: b.adj_x,
                        adj_y: b.adj_y,
                        asymmetric_quantize_inputs: asymmetric,
                    });
                    let mut t = Case::new(op.clone(), b.seed);
                    let lv: Vec<f32> = t
                        .values(ls.iter().product())
                        .iter()
                        .map(|v| v * 2f32.powi(e))
                        .collect();
                    let mut seed = b.seed | 1;
                    let rv = bytes(&mut seed, rs.iter().product());
                    let rank = rs.len();
                    let mut r_info = TensorInfo::new("y", DType::Int8, rs);
                    r_info.quant = Some(if per_channel {
                        let scales = (0..b.n).map(|j| 0.01 + j as f32 * 1e-3).collect();
                        QuantParams::per_axis(rank as i32 - 1, scales, vec![0; b.n])
                    } else {
                        QuantParams::per_tensor(0.02, 0)
                    });
                    let inputs = vec![
                        Some(TestInput::from_slice(
                            TensorInfo::new("x", DType::Float32, ls),
                            &lv,
                        )),
                        Some(TestInput::const_from_slice(r_info, &rv)),
                    ];
                    let outs = [TensorInfo::new("out", DType::Float32, os)];
                    let mut kernel = Harness::new()
                        .make(backend, &op, &inputs, &outs)
                        .map_err(|e| TestCaseError::fail(format!("{b:?}: {e}")))?;
                    let name = kernel.name().to_string();
                    let simd = Harness::new()
                        .run(kernel.as_mut(), &mut inputs.clone(), &outs)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let scalar = Harness::new()
                        .run_node(&ScalarBackend, &op, &mut inputs.clone(), &outs)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    // Bit for bit.
                    prop_assert!(simd[0] == scalar[0], "{b:?}: {name} differs");
                    let want = format!("batch_matmul_hybrid_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    Ok(())
                })
                .unwrap();
        });
    }

    #[test]
    fn computed_int8_right_operands_stay_with_the_scalar_backend() {
        for_each_backend(|backend: &SimdBackend, _| {
            let b = Bmm {
                m: 3,
                k: 4,
                n: 5,
                batch: vec![(2, 2)],
                rhs_rank2: false,
                adj_x: false,
                adj_y: false,
                constant: false,
                seed: 3,
            };
            let (ls, rs, os) = b.shapes();
            let x = TestInput::from_slice(
                TensorInfo::new("x", DType::Int8, ls).with_quant(0.5, 1),
                &[0i8; 24],
            );
            let y = TensorInfo::new("y", DType::Int8, rs).with_quant(0.5, 1);
            let o = TensorInfo::new("out", DType::Int8, os).with_quant(0.5, 1);
            let make = |y: TestInput| {
                tflrs_kernels::testing::make_kernel(
                    backend,
                    &b.op(),
                    &[Some(x.clone()), Some(y)],
                    std::slice::from_ref(&o),
                )
                .unwrap()
                .is_some()
            };
            assert!(make(TestInput::const_from_slice(y.clone(), &[0i8; 40])));
            assert!(!make(TestInput::from_slice(y, &[0i8; 40])));
        });
    }
}

//! MediaPipe's custom operators, which real MediaPipe models use and LiteRT runs through
//! XNNPACK or MediaPipe's own kernels: `Convolution2DTransposeBias`, `MaxPoolingWithArgmax2D`
//! and `MaxUnpooling2D` (float32).
//!
//! Their custom options are not FlexBuffers but the raw bytes of a LiteRT C struct
//! (little-endian 32-bit fields): `TfLiteTransposeConvParams` (`padding, stride_width,
//! stride_height, ...`) and `TfLitePoolParams` (`padding, stride_width, stride_height,
//! filter_width, filter_height, activation, ...`), with LiteRT's C padding enum (1 = SAME,
//! 2 = VALID). Short or invalid options are a typed error. The arithmetic follows MediaPipe's
//! reference kernels (`mediapipe/util/tflite/operations`), which XNNPACK matches.

use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::conv::Geom;
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError, TensorInfo};
use alloc::boxed::Box;
use tflrs_ir::{CUSTOM_CODE, DType, Op, Padding, window};

/// The family's factory: kernels for the three MediaPipe operators, `Ok(None)` for any other.
pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Op::Opaque(op) = node.op else {
        return Ok(None);
    };
    if op.builtin_code != CUSTOM_CODE {
        return Ok(None);
    }
    let options = op.custom_options.as_deref().unwrap_or(&[]);
    let kernel: Box<dyn Kernel> = match op.custom_code.as_deref() {
        Some(TRANSPOSE_CONV_BIAS) => Box::new(TransposeConvBias::new(node, options)?),
        Some(MAX_POOL_ARGMAX) => Box::new(MaxPoolArgmax::new(node, options)?),
        Some(MAX_UNPOOL) => Box::new(MaxUnpool::new(node, options)?),
        _ => return Ok(None),
    };
    Ok(Some(kernel))
}

const TRANSPOSE_CONV_BIAS: &str = "Convolution2DTransposeBias";
const MAX_POOL_ARGMAX: &str = "MaxPoolingWithArgmax2D";
const MAX_UNPOOL: &str = "MaxUnpooling2D";

/// Padding of the options structs (LiteRT's C `TfLitePadding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pad {
    Same,
    Valid,
}

/// Reads the `index`-th 32-bit field of `op`'s options.
fn field(op: &str, options: &[u8], index: usize, name: &str) -> Result<i32, KernelError> {
    let at = index * 4;
    match options.get(at..at + 4) {
        Some(b) => Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(KernelError::invalid(alloc::format!(
            "{op}: custom options of {} bytes have no field '{name}' (bytes {at}..{})",
            options.len(),
            at + 4
        ))),
    }
}

fn padding(op: &str, options: &[u8]) -> Result<Pad, KernelError> {
    match field(op, options, 0, "padding")? {
        1 => Ok(Pad::Same),
        2 => Ok(Pad::Valid),
        p => Err(KernelError::invalid(alloc::format!(
            "{op}: invalid padding {p} in custom options"
        ))),
    }
}

fn positive_field(
    op: &str,
    options: &[u8],
    index: usize,
    name: &str,
) -> Result<usize, KernelError> {
    let v = field(op, options, index, name)?;
    if v <= 0 {
        return Err(KernelError::invalid(alloc::format!(
            "{op}: {name} must be positive, is {v}"
        )));
    }
    Ok(v as usize)
}

/// The float clamp range of `TfLitePoolParams::activation` (LiteRT's C activation enum).
fn pool_activation(op: &str, options: &[u8]) -> Result<(f32, f32), KernelError> {
    // The field is absent from options written before it existed: no activation.
    let act = if options.len() >= 24 {
        field(op, options, 5, "activation")?
    } else {
        0
    };
    match act {
        1 => Ok((0.0, f32::MAX)),
        2 => Ok((-1.0, 1.0)),
        3 => Ok((0.0, 6.0)),
        0 | 4..=6 => Ok((f32::MIN, f32::MAX)),
        a => Err(KernelError::invalid(alloc::format!(
            "{op}: invalid activation {a} in custom options"
        ))),
    }
}

fn dims4(op: &str, info: &TensorInfo) -> Result<[usize; 4], KernelError> {
    <[usize; 4]>::try_from(info.shape.as_slice()).map_err(|_| {
        KernelError::invalid(alloc::format!(
            "{op}: tensor '{}' must have rank 4, has shape {:?}",
            info.name,
            info.shape
        ))
    })
}

fn require(
    op: &str,
    info: &TensorInfo,
    dtype: DType,
    shape: Option<&[usize]>,
) -> Result<(), KernelError> {
    if info.dtype != dtype {
        return Err(KernelError::invalid(alloc::format!(
            "{op}: tensor '{}' has type {}, expected {dtype}",
            info.name,
            info.dtype
        )));
    }
    if let Some(s) = shape
        && info.shape != s
    {
        return Err(KernelError::invalid(alloc::format!(
            "{op}: tensor '{}' has shape {:?}, expected {s:?}",
            info.name,
            info.shape
        )));
    }
    Ok(())
}

/// A typed view of `len` elements, or an error when the buffer is short.
fn slice<'a, T: bytemuck::Pod>(
    bytes: &'a [u8],
    info: &TensorInfo,
    len: usize,
) -> Result<&'a [T], KernelError> {
    let s: &[T] = bytemuck::try_cast_slice(bytes)
        .map_err(|e| KernelError::invalid(alloc::format!("tensor '{}': {e:?}", info.name)))?;
    s.get(..len).ok_or_else(|| {
        KernelError::invalid(alloc::format!(
            "tensor '{}' is shorter than {len} elements",
            info.name
        ))
    })
}

fn slice_mut<'a, T: bytemuck::Pod>(
    bytes: &'a mut [u8],
    info: &TensorInfo,
    len: usize,
) -> Result<&'a mut [T], KernelError> {
    let s: &mut [T] = bytemuck::try_cast_slice_mut(bytes)
        .map_err(|e| KernelError::invalid(alloc::format!("tensor '{}': {e:?}", info.name)))?;
    s.get_mut(..len).ok_or_else(|| {
        KernelError::invalid(alloc::format!(
            "tensor '{}' is shorter than {len} elements",
            info.name
        ))
    })
}

/// `Convolution2DTransposeBias`: a transposed convolution (weights OHWI) whose output starts
/// at the bias, as MediaPipe's kernel computes it.
struct TransposeConvBias {
    g: Geom,
}

impl TransposeConvBias {
    fn new(node: &NodeCtx<'_>, options: &[u8]) -> Result<Self, KernelError> {
        let op = TRANSPOSE_CONV_BIAS;
        let pad = padding(op, options)?;
        let stride_w = positive_field(op, options, 1, "stride_width")?;
        let stride_h = positive_field(op, options, 2, "stride_height")?;
        node.expect_inputs(3, 3)?;
        node.expect_outputs(1)?;
        let (input, weights, bias, output) = (
            node.input(0)?,
            node.input(1)?,
            node.input(2)?,
            node.output(0)?,
        );
        let [n, in_h, in_w, in_c] = dims4(op, input)?;
        let [out_c, k_h, k_w, k_c] = dims4(op, weights)?;
        require(op, input, DType::Float32, None)?;
        require(op, weights, DType::Float32, None)?;
        require(op, bias, DType::Float32, Some(&[out_c]))?;
        if k_c != in_c || in_h == 0 || in_w == 0 || k_h == 0 || k_w == 0 {
            return Err(KernelError::invalid(alloc::format!(
                "{op}: weights {:?} do not fit input {:?}",
                weights.shape,
                input.shape
            )));
        }
        // The output size comes from the output tensor, as XNNPACK takes it: SAME needs
        // `ceil(out / stride) == in` (MediaPipe's own kernel picks the smallest such size, the
        // model may store TensorFlow's `in * stride`), VALID `(out - k) / stride == in - 1`.
        // The padding before the first row is half the total, as both compute it.
        let [on, out_h, out_w, oc] = dims4(op, output)?;
        require(op, output, DType::Float32, None)?;
        let fits = |o: usize, i: usize, k: usize, s: usize| match pad {
            Pad::Same => o.div_ceil(s) == i,
            Pad::Valid => o >= k && (o - k) / s == i - 1,
        };
        if on != n
            || oc != out_c
            || !fits(out_h, in_h, k_h, stride_h)
            || !fits(out_w, in_w, k_w, stride_w)
        {
            return Err(KernelError::invalid(alloc::format!(
                "{op}: output {:?} does not follow from input {:?}, a {k_h}x{k_w} window, stride {stride_h}x{stride_w} and {pad:?} padding",
                output.shape,
                input.shape
            )));
        }
        let total = |o: usize, i: usize, k: usize, s: usize| match pad {
            Pad::Same => ((i - 1) * s + k).saturating_sub(o),
            Pad::Valid => 0,
        };
        let (tot_h, tot_w) = (
            total(out_h, in_h, k_h, stride_h),
            total(out_w, in_w, k_w, stride_w),
        );
        let g = Geom::new(
            n,
            [in_h, in_w, in_c],
            [out_h, out_w, out_c],
            [k_h, k_w, k_c],
            (stride_h, stride_w),
            (1, 1),
            ((tot_h / 2) as i64, (tot_w / 2) as i64),
        );
        Ok(Self { g })
    }
}

impl Kernel for TransposeConvBias {
    fn name(&self) -> &str {
        "convolution_2d_transpose_bias_f32__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let (x_t, w_t, b_t) = (inputs.get(0)?, inputs.get(1)?, inputs.get(2)?);
        let out_t = outputs.get(0)?;
        let info = out_t.info;
        let g = &self.g;
        let x = slice::<f32>(x_t.bytes, x_t.info, g.in_len())?;
        let w = slice::<f32>(w_t.bytes, w_t.info, g.filter_len())?;
        let bias = slice::<f32>(b_t.bytes, b_t.info, g.out_c)?;
        let out = slice_mut::<f32>(out_t.bytes, info, g.out_len())?;
        for px in out.chunks_exact_mut(g.out_c) {
            px.copy_from_slice(bias);
        }
        for b in 0..g.n {
            for iy in 0..g.in_h {
                let oy0 = (iy * g.stride_h) as i64 - g.pad_h;
                for ix in 0..g.in_w {
                    let ox0 = (ix * g.stride_w) as i64 - g.pad_w;
                    let xs = &x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c..][..g.in_c];
                    for fy in 0..g.k_h {
                        let oy = oy0 + fy as i64;
                        if oy < 0 || oy >= g.out_h as i64 {
                            continue;
                        }
                        for fx in 0..g.k_w {
                            let ox = ox0 + fx as i64;
                            if ox < 0 || ox >= g.out_w as i64 {
                                continue;
                            }
                            let base =
                                ((b * g.out_h + oy as usize) * g.out_w + ox as usize) * g.out_c;
                            for (oc, o) in out[base..base + g.out_c].iter_mut().enumerate() {
                                let ws = &w[((oc * g.k_h + fy) * g.k_w + fx) * g.in_c..][..g.in_c];
                                for (&xv, &wv) in xs.iter().zip(ws) {
                                    *o += xv * wv;
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Window and padding shared by the pooling operators.
#[derive(Debug, Clone, Copy)]
struct PoolGeom {
    n: usize,
    in_h: usize,
    in_w: usize,
    c: usize,
    out_h: usize,
    out_w: usize,
    f_h: usize,
    f_w: usize,
    stride_h: usize,
    stride_w: usize,
    pad_h: i64,
    pad_w: i64,
}

impl PoolGeom {
    /// The geometry of pooling `input` (height, width) to `output` with `filter` and `stride`;
    /// `backward` takes the padding of the pooling from the output back to the input
    /// (MediaPipe's unpooling).
    fn new(
        n: usize,
        c: usize,
        (in_h, in_w): (usize, usize),
        (out_h, out_w): (usize, usize),
        (f_h, f_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        backward: bool,
    ) -> Self {
        let pad = |s, i, f, o| {
            if backward {
                compute_padding(s, o, f, i)
            } else {
                compute_padding(s, i, f, o)
            }
        };
        Self {
            n,
            in_h,
            in_w,
            c,
            out_h,
            out_w,
            f_h,
            f_w,
            stride_h,
            stride_w,
            pad_h: pad(stride_h, in_h, f_h, out_h),
            pad_w: pad(stride_w, in_w, f_w, out_w),
        }
    }
}

/// Padding, `(stride_h, stride_w)` and `(filter_h, filter_w)` of a pooling operator.
type PoolWindow = (Pad, (usize, usize), (usize, usize));

/// The window fields of `TfLitePoolParams`, read in field order.
fn pool_options(op: &str, options: &[u8]) -> Result<PoolWindow, KernelError> {
    let pad = padding(op, options)?;
    let stride_w = positive_field(op, options, 1, "stride_width")?;
    let stride_h = positive_field(op, options, 2, "stride_height")?;
    let f_w = positive_field(op, options, 3, "filter_width")?;
    let f_h = positive_field(op, options, 4, "filter_height")?;
    Ok((pad, (stride_h, stride_w), (f_h, f_w)))
}

/// LiteRT's `ComputePadding` (without the odd remainder), through [`window::padding`].
fn compute_padding(stride: usize, in_size: usize, filter: usize, out_size: usize) -> i64 {
    // Sizes come from tensor shapes, far below overflow; an overflow pads nothing.
    window::padding(stride, 1, in_size, filter, out_size).map_or(0, |p| p.before as i64)
}

/// Index outputs MediaPipe writes as float (`index + 0.1`, so that truncation recovers it);
/// int32 index tensors are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexType {
    F32,
    I32,
}

fn index_type(op: &str, info: &TensorInfo) -> Result<IndexType, KernelError> {
    match info.dtype {
        DType::Float32 => Ok(IndexType::F32),
        DType::Int32 => Ok(IndexType::I32),
        d => Err(KernelError::invalid(alloc::format!(
            "{op}: index tensor '{}' has type {d}, expected float32 or int32",
            info.name
        ))),
    }
}

/// `MaxPoolingWithArgmax2D`: max pooling that also returns, for each output, the position of
/// the maximum inside its window (`y * filter_width + x`).
struct MaxPoolArgmax {
    g: PoolGeom,
    lo: f32,
    hi: f32,
    index: IndexType,
}

impl MaxPoolArgmax {
    fn new(node: &NodeCtx<'_>, options: &[u8]) -> Result<Self, KernelError> {
        let op = MAX_POOL_ARGMAX;
        let (pad, (stride_h, stride_w), (f_h, f_w)) = pool_options(op, options)?;
        let (lo, hi) = pool_activation(op, options)?;
        node.expect_inputs(1, 1)?;
        node.expect_outputs(2)?;
        let (input, values, indices) = (node.input(0)?, node.output(0)?, node.output(1)?);
        let [n, in_h, in_w, c] = dims4(op, input)?;
        require(op, input, DType::Float32, None)?;
        // MediaPipe's `compute_out_size`: a pool's, a VALID window larger than the input
        // giving an empty output.
        let mode = match pad {
            Pad::Same => Padding::Same,
            Pad::Valid => Padding::Valid,
        };
        let out = |i: usize, f: usize, s: usize| {
            window::out_size_saturating(mode, i, f, s, 1).ok_or_else(|| {
                KernelError::invalid(alloc::format!(
                    "{op}: window {f} with stride {s} over {i} overflows"
                ))
            })
        };
        let (out_h, out_w) = (out(in_h, f_h, stride_h)?, out(in_w, f_w, stride_w)?);
        let shape = [n, out_h, out_w, c];
        require(op, values, DType::Float32, Some(&shape))?;
        let index = index_type(op, indices)?;
        if indices.shape != shape {
            return Err(KernelError::invalid(alloc::format!(
                "{op}: index tensor '{}' has shape {:?}, expected {shape:?}",
                indices.name,
                indices.shape
            )));
        }
        let (input, output) = ((in_h, in_w), (out_h, out_w));
        let g = PoolGeom::new(n, c, input, output, (f_h, f_w), (stride_h, stride_w), false);
        Ok(Self { g, lo, hi, index })
    }
}

/// The maximum of the window of output `(b, oy, ox)` in channel `ch`, and its position in the
/// window (MediaPipe's search: the first strict maximum, starting below `f32::MIN`).
#[inline]
fn window_max(g: &PoolGeom, x: &[f32], b: usize, oy: usize, ox: usize, ch: usize) -> (f32, usize) {
    let y0 = (oy * g.stride_h) as i64 - g.pad_h;
    let x0 = (ox * g.stride_w) as i64 - g.pad_w;
    let fy0 = (-y0).max(0) as usize;
    let fy1 = (g.in_h as i64 - y0).clamp(0, g.f_h as i64) as usize;
    let fx0 = (-x0).max(0) as usize;
    let fx1 = (g.in_w as i64 - x0).clamp(0, g.f_w as i64) as usize;
    let mut max = f32::MIN;
    let (mut my, mut mx) = (0, 0);
    for fy in fy0..fy1 {
        let iy = (y0 + fy as i64) as usize;
        for fx in fx0..fx1 {
            let ix = (x0 + fx as i64) as usize;
            let v = x[((b * g.in_h + iy) * g.in_w + ix) * g.c + ch];
            if v > max {
                max = v;
                (my, mx) = (fy, fx);
            }
        }
    }
    (max, my * g.f_w + mx)
}

/// Calls `f(output index, max, position)` for every output of the pooling.
fn for_each_window(g: &PoolGeom, x: &[f32], mut f: impl FnMut(usize, f32, usize)) {
    let mut i = 0;
    for b in 0..g.n {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for ch in 0..g.c {
                    let (max, pos) = window_max(g, x, b, oy, ox, ch);
                    f(i, max, pos);
                    i += 1;
                }
            }
        }
    }
}

impl Kernel for MaxPoolArgmax {
    fn name(&self) -> &str {
        "max_pooling_with_argmax_2d_f32__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let g = self.g;
        let x_t = inputs.get(0)?;
        let x = slice::<f32>(x_t.bytes, x_t.info, g.n * g.in_h * g.in_w * g.c)?;
        let out_len = g.n * g.out_h * g.out_w * g.c;
        // The outputs can only be borrowed one at a time: one pass per output.
        {
            let values_t = outputs.get(0)?;
            let values = slice_mut::<f32>(values_t.bytes, values_t.info, out_len)?;
            let (lo, hi) = (self.lo, self.hi);
            for_each_window(&g, x, |i, max, _| values[i] = clamp_f32(max, lo, hi));
        }
        let index_t = outputs.get(1)?;
        match self.index {
            IndexType::F32 => {
                let idx = slice_mut::<f32>(index_t.bytes, index_t.info, out_len)?;
                for_each_window(&g, x, |i, _, pos| idx[i] = pos as i32 as f32 + 0.1);
            }
            IndexType::I32 => {
                let idx = slice_mut::<i32>(index_t.bytes, index_t.info, out_len)?;
                for_each_window(&g, x, |i, _, pos| idx[i] = pos as i32);
            }
        }
        Ok(())
    }
}

/// A view of an index input.
enum Indices<'a> {
    F32(&'a [f32]),
    I32(&'a [i32]),
}

impl Indices<'_> {
    /// Index `i` as an integer. C's float-to-int conversion truncates; out-of-range values
    /// become `i32::MIN` (as on x86) and so land outside the output.
    #[inline]
    fn at(&self, i: usize) -> i32 {
        match self {
            Indices::F32(v) => {
                let v = v[i];
                if v > -2_147_483_649.0 && v < 2_147_483_648.0 {
                    v as i32
                } else {
                    i32::MIN
                }
            }
            Indices::I32(v) => v[i],
        }
    }
}

/// `MaxUnpooling2D`: scatters each value to the position its index names inside its window of
/// an output `filter` times larger; every other output is 0.
struct MaxUnpool {
    g: PoolGeom,
    index: IndexType,
}

impl MaxUnpool {
    fn new(node: &NodeCtx<'_>, options: &[u8]) -> Result<Self, KernelError> {
        let op = MAX_UNPOOL;
        // MediaPipe ignores the padding mode here, but it must still be a valid one.
        let (_, (stride_h, stride_w), (f_h, f_w)) = pool_options(op, options)?;
        node.expect_inputs(2, 2)?;
        node.expect_outputs(1)?;
        let (values, indices, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
        let [n, in_h, in_w, c] = dims4(op, values)?;
        require(op, values, DType::Float32, None)?;
        let index = index_type(op, indices)?;
        if indices.shape != values.shape {
            return Err(KernelError::invalid(alloc::format!(
                "{op}: index tensor '{}' has shape {:?}, values have {:?}",
                indices.name,
                indices.shape,
                values.shape
            )));
        }
        let (out_h, out_w) = (in_h * f_h, in_w * f_w);
        require(op, output, DType::Float32, Some(&[n, out_h, out_w, c]))?;
        // MediaPipe's padding: that of a pooling from the output back to the input.
        let (input, output) = ((in_h, in_w), (out_h, out_w));
        let g = PoolGeom::new(n, c, input, output, (f_h, f_w), (stride_h, stride_w), true);
        Ok(Self { g, index })
    }
}

impl Kernel for MaxUnpool {
    fn name(&self) -> &str {
        "max_unpooling_2d_f32__scalar"
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let g = self.g;
        let in_len = g.n * g.in_h * g.in_w * g.c;
        let (v_t, i_t) = (inputs.get(0)?, inputs.get(1)?);
        let values = slice::<f32>(v_t.bytes, v_t.info, in_len)?;
        let out_t = outputs.get(0)?;
        let out = slice_mut::<f32>(out_t.bytes, out_t.info, g.n * g.out_h * g.out_w * g.c)?;
        out.fill(0.0);
        let index = match self.index {
            IndexType::F32 => Indices::F32(slice::<f32>(i_t.bytes, i_t.info, in_len)?),
            IndexType::I32 => Indices::I32(slice::<i32>(i_t.bytes, i_t.info, in_len)?),
        };
        let fw = g.f_w as i64;
        let mut i = 0;
        for b in 0..g.n {
            for iy in 0..g.in_h {
                for ix in 0..g.in_w {
                    for ch in 0..g.c {
                        let idx = i64::from(index.at(i));
                        // An untrusted index decodes to a position that may lie outside the
                        // output; such values are dropped, as MediaPipe does.
                        let oy = (iy * g.stride_h) as i64 - g.pad_h + idx / fw;
                        let ox = (ix * g.stride_w) as i64 - g.pad_w + idx % fw;
                        if (0..g.out_h as i64).contains(&oy) && (0..g.out_w as i64).contains(&ox) {
                            out[((b * g.out_h + oy as usize) * g.out_w + ox as usize) * g.c + ch] =
                                values[i];
                        }
                        i += 1;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestInput, make_kernel, run_node};
    use crate::{Backend, ScalarBackend};
    use alloc::borrow::Cow;
    use alloc::vec::Vec;
    use tflrs_ir::OpaqueOp;

    fn options(fields: &[i32]) -> Vec<u8> {
        fields.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    fn custom(code: &str, fields: &[i32]) -> Op<'static> {
        Op::Opaque(OpaqueOp::custom(code, Some(Cow::Owned(options(fields)))))
    }

    fn f32t(name: &str, shape: &[usize]) -> TensorInfo {
        TensorInfo::new(name, DType::Float32, shape.to_vec())
    }

    fn floats(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// The family alone, as a backend.
    struct MediaPipe;

    impl Backend for MediaPipe {
        fn name(&self) -> &str {
            "mediapipe"
        }

        fn kernel_for(&self, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
            kernel_for(node)
        }
    }

    fn tcb_inputs(in_hw: (usize, usize)) -> Vec<Option<TestInput>> {
        let n = in_hw.0 * in_hw.1;
        let x: Vec<f32> = (0..n).map(|i| i as f32 + 2.0).collect();
        alloc::vec![
            Some(TestInput::from_slice(
                f32t("x", &[1, in_hw.0, in_hw.1, 1]),
                &x
            )),
            Some(TestInput::const_from_slice(
                f32t("w", &[1, 2, 2, 1]),
                &[1.0f32, 2.0, 3.0, 4.0]
            )),
            Some(TestInput::const_from_slice(f32t("b", &[1]), &[10.0f32])),
        ]
    }

    #[test]
    fn transpose_conv_bias_starts_from_the_bias() {
        let op = custom(TRANSPOSE_CONV_BIAS, &[2, 2, 2]);
        let out = run_node(
            &ScalarBackend,
            &op,
            &tcb_inputs((1, 1)),
            &[f32t("y", &[1, 2, 2, 1])],
        )
        .unwrap();
        assert_eq!(floats(&out[0]), [12.0, 14.0, 16.0, 18.0]);
    }

    #[test]
    fn transpose_conv_bias_output_sizes() {
        // SAME, input 2, window 2, stride 2: MediaPipe's own size and TensorFlow's are both 4;
        // with a window of 2 and stride 2 nothing else fits.
        let op = custom(TRANSPOSE_CONV_BIAS, &[1, 2, 2]);
        let ok = make_kernel(
            &ScalarBackend,
            &op,
            &tcb_inputs((2, 2)),
            &[f32t("y", &[1, 4, 4, 1])],
        )
        .unwrap();
        assert_eq!(
            ok.unwrap().name(),
            "convolution_2d_transpose_bias_f32__scalar"
        );
        let bad = make_kernel(
            &ScalarBackend,
            &op,
            &tcb_inputs((2, 2)),
            &[f32t("y", &[1, 5, 4, 1])],
        );
        assert!(
            matches!(bad, Err(KernelError::Invalid(_))),
            "{:?}",
            bad.err()
        );
        // SAME with a 3-row output from 2 rows: pad 0 before, 1 after.
        let out = run_node(
            &ScalarBackend,
            &op,
            &tcb_inputs((2, 1)),
            &[f32t("y", &[1, 3, 2, 1])],
        )
        .unwrap();
        // Input rows 2 and 3: output rows 0-1 from the first, row 2 from the second (its first
        // kernel row).
        assert_eq!(floats(&out[0]), [12.0, 14.0, 16.0, 18.0, 13.0, 16.0]);
    }

    #[test]
    fn argmax_pool_and_unpool_round_trip() {
        let pool = custom(MAX_POOL_ARGMAX, &[2, 2, 2, 2, 2]);
        let x = [1.0f32, 5.0, 2.0, 0.0, 3.0, 4.0, 8.0, 7.0];
        let outs = run_node(
            &ScalarBackend,
            &pool,
            &[Some(TestInput::from_slice(f32t("x", &[1, 2, 4, 1]), &x))],
            &[f32t("v", &[1, 1, 2, 1]), f32t("i", &[1, 1, 2, 1])],
        )
        .unwrap();
        assert_eq!(floats(&outs[0]), [5.0, 8.0]);
        assert_eq!(floats(&outs[1]), [1.1, 2.1]);
        let unpool = custom(MAX_UNPOOL, &[2, 2, 2, 2, 2]);
        let out = run_node(
            &ScalarBackend,
            &unpool,
            &[
                Some(TestInput::from_slice(
                    f32t("v", &[1, 1, 2, 1]),
                    &[5.0f32, 8.0],
                )),
                Some(TestInput::from_slice(
                    f32t("i", &[1, 1, 2, 1]),
                    &[1.1f32, 2.1],
                )),
            ],
            &[f32t("y", &[1, 2, 4, 1])],
        )
        .unwrap();
        assert_eq!(floats(&out[0]), [0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 8.0, 0.0]);
    }

    #[test]
    fn unpool_drops_indices_outside_the_output() {
        let unpool = custom(MAX_UNPOOL, &[2, 2, 2, 2, 2]);
        let idx = TensorInfo::new("i", DType::Int32, alloc::vec![1, 1, 2, 1]);
        let out = run_node(
            &ScalarBackend,
            &unpool,
            &[
                Some(TestInput::from_slice(
                    f32t("v", &[1, 1, 2, 1]),
                    &[5.0f32, 8.0],
                )),
                Some(TestInput::from_slice(idx, &[7i32, -5])),
            ],
            &[f32t("y", &[1, 2, 4, 1])],
        )
        .unwrap();
        assert_eq!(floats(&out[0]), [0.0; 8]);
    }

    #[test]
    fn max_pool_applies_the_fused_activation() {
        let pool = custom(MAX_POOL_ARGMAX, &[2, 1, 1, 1, 1, 1]);
        let outs = run_node(
            &ScalarBackend,
            &pool,
            &[Some(TestInput::from_slice(
                f32t("x", &[1, 1, 2, 1]),
                &[-3.0f32, 2.0],
            ))],
            &[f32t("v", &[1, 1, 2, 1]), f32t("i", &[1, 1, 2, 1])],
        )
        .unwrap();
        assert_eq!(floats(&outs[0]), [0.0, 2.0]);
    }

    #[test]
    fn bad_options_are_typed_errors() {
        let x = || {
            alloc::vec![Some(TestInput::from_slice(
                f32t("x", &[1, 2, 2, 1]),
                &[0.0f32; 4]
            ))]
        };
        let outs = [f32t("v", &[1, 1, 1, 1]), f32t("i", &[1, 1, 1, 1])];
        for fields in [
            &[2, 2, 2][..],
            &[0, 2, 2, 2, 2],
            &[2, 0, 2, 2, 2],
            &[2, 2, 2, 2, 2, 9],
        ] {
            let e = make_kernel(
                &ScalarBackend,
                &custom(MAX_POOL_ARGMAX, fields),
                &x(),
                &outs,
            );
            assert!(
                matches!(e, Err(KernelError::Invalid(_))),
                "{fields:?}: {:?}",
                e.err()
            );
        }
        let none = Op::Opaque(OpaqueOp::custom(MAX_POOL_ARGMAX, None));
        assert!(matches!(
            make_kernel(&ScalarBackend, &none, &x(), &outs),
            Err(KernelError::Invalid(_))
        ));
    }

    #[test]
    fn other_operators_are_declined() {
        let x = alloc::vec![Some(TestInput::from_slice(f32t("x", &[1]), &[0.0f32]))];
        let other = custom("SomethingElse", &[1, 2, 3]);
        assert!(
            make_kernel(&MediaPipe, &other, &x, &[f32t("y", &[1])])
                .unwrap()
                .is_none()
        );
        assert!(
            make_kernel(&MediaPipe, &Op::Relu, &x, &[f32t("y", &[1])])
                .unwrap()
                .is_none()
        );
    }
}

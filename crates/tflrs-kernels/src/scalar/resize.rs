//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR on NHWC tensors, as LiteRT's reference kernels
//! compute them (`reference_ops::ResizeBilinear`, `ResizeBilinearInteger`,
//! `ResizeNearestNeighbor`).
//!
//! - float32 and uint8 bilinear interpolate in f32 (uint8 adds 0.5 and truncates);
//! - int8 and int16 bilinear use LiteRT's integer path: 10-bit fixed-point coordinates, a
//!   20-bit product rounded half away from zero;
//! - nearest neighbor copies elements of any fixed-size type.
//!
//! The output size is the planned output shape; the size operand must agree with it (checked
//! at preparation when constant, at each run otherwise), so the per-row and per-column source
//! coordinates are computed once.

use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::shape_ops::util::{
    check_len, const_ints, int_at, kernel_name, require_elem_size, same_dtype,
};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::{DType, Op};

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    match node.op {
        Op::ResizeBilinear(a) => bilinear(node, a.align_corners, a.half_pixel_centers).map(Some),
        Op::ResizeNearestNeighbor(a) => {
            nearest(node, a.align_corners, a.half_pixel_centers).map(Some)
        }
        _ => Ok(None),
    }
}

/// Shapes of a resize: `[n, in_h, in_w, c]` and the output `(out_h, out_w)`.
#[derive(Debug, Clone, Copy)]
struct Dims {
    n: usize,
    ih: usize,
    iw: usize,
    c: usize,
    oh: usize,
    ow: usize,
}

/// Checks what both resizes share; `both_allowed` lets align_corners and half_pixel_centers
/// be set together (nearest neighbor allows it, bilinear does not).
fn check_common(
    op: &str,
    node: &NodeCtx<'_>,
    align_corners: bool,
    half_pixel: bool,
    both_allowed: bool,
) -> Result<(Dims, bool), KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let (input, size, output) = (node.input(0)?, node.input(1)?, node.output(0)?);
    same_dtype(op, input, output)?;
    crate::ensure!(
        input.rank() == 4,
        "{op}: input '{}' must be 4-D (NHWC), got {:?}",
        input.name,
        input.shape
    );
    crate::ensure!(
        size.dtype == DType::Int32 && size.shape == [2],
        "{op}: size '{}' must be 2 int32 values",
        size.name
    );
    crate::ensure!(
        both_allowed || !(align_corners && half_pixel),
        "{op}: half_pixel_centers and align_corners cannot both be set"
    );
    let s = &input.shape;
    crate::ensure!(
        output.rank() == 4 && output.shape[0] == s[0] && output.shape[3] == s[3],
        "{op}: output '{}' {:?} must keep batch and channels of input {:?}",
        output.name,
        output.shape,
        s
    );
    let d = Dims {
        n: s[0],
        ih: s[1],
        iw: s[2],
        c: s[3],
        oh: output.shape[1],
        ow: output.shape[2],
    };
    crate::ensure!(
        d.oh > 0 && d.ow > 0,
        "{op}: output size {}x{} must be positive",
        d.oh,
        d.ow
    );
    // An empty image has no pixel to sample from (and would underflow `in - 1`).
    crate::ensure!(
        d.ih > 0 && d.iw > 0,
        "{op}: input '{}' {:?} has an empty spatial dimension",
        input.name,
        input.shape
    );
    crate::ensure!(
        d.ih <= i32::MAX as usize / 1024
            && d.iw <= i32::MAX as usize / 1024
            && d.oh <= i32::MAX as usize
            && d.ow <= i32::MAX as usize,
        "{op}: sizes are too large"
    );
    let dynamic = match const_ints(node, 1)? {
        Some(v) => {
            crate::ensure!(
                v == [d.oh as i64, d.ow as i64],
                "{op}: size {v:?} disagrees with output shape {:?}",
                output.shape
            );
            false
        }
        None => true,
    };
    Ok((d, dynamic))
}

/// At run time: the size operand must be the planned output size.
fn check_size(op: &str, inputs: &crate::kernel::Inputs<'_>, d: &Dims) -> Result<(), KernelError> {
    let s = inputs.get(1)?;
    let (h, w) = (
        int_at(s.info.dtype, s.bytes, 0),
        int_at(s.info.dtype, s.bytes, 1),
    );
    if h != Some(d.oh as i64) || w != Some(d.ow as i64) {
        return Err(KernelError::invalid(format!(
            "{op}: size operand {h:?}x{w:?} disagrees with the planned output {}x{}",
            d.oh, d.ow
        )));
    }
    Ok(())
}

/// Source coordinates of one output row or column in the float path.
#[derive(Debug, Clone, Copy)]
struct FloatCoord {
    v: f32,
    lo: usize,
    hi: usize,
}

/// Source coordinates in the integer path (10 fractional bits).
#[derive(Debug, Clone, Copy)]
struct IntCoord {
    v: i32,
    lo: usize,
    hi: usize,
}

fn float_coords(
    out: usize,
    input: usize,
    align_corners: bool,
    half_pixel: bool,
) -> Vec<FloatCoord> {
    let mut scale = input as f32 / out as f32;
    if align_corners && out > 1 {
        scale = (input - 1) as f32 / (out - 1) as f32;
    }
    (0..out)
        .map(|i| {
            let v = if half_pixel {
                (i as f32 + 0.5) * scale - 0.5
            } else {
                i as f32 * scale
            };
            let lo = (libm::floorf(v) as i32).max(0);
            let hi = (libm::ceilf(v) as i32).min(input as i32 - 1);
            FloatCoord {
                v,
                lo: lo as usize,
                hi: hi.max(0) as usize,
            }
        })
        .collect()
}

fn int_coords(out: usize, input: usize, align_corners: bool, half_pixel: bool) -> Vec<IntCoord> {
    let (o, n) = (out as i32, input as i32);
    let mut scale = ((1 << 10) * n + o / 2) / o;
    if align_corners && o > 1 {
        scale = ((1 << 10) * (n - 1) + (o - 1) / 2) / (o - 1);
    }
    (0..o)
        .map(|i| {
            let v = if half_pixel {
                i * scale + scale / 2 - (1 << 9)
            } else {
                i * scale
            };
            // C division truncates toward zero, also for negative coordinates.
            let lo = (v / (1 << 10)).max(0);
            let hi = ((v + (1 << 10) - 1) / (1 << 10)).min(n - 1);
            IntCoord {
                v,
                lo: lo as usize,
                hi: hi.max(0) as usize,
            }
        })
        .collect()
}

#[derive(Debug)]
enum Coords {
    Float(Vec<FloatCoord>, Vec<FloatCoord>),
    Int(Vec<IntCoord>, Vec<IntCoord>),
}

#[derive(Debug)]
struct Bilinear {
    name: &'static str,
    dtype: DType,
    d: Dims,
    dynamic: bool,
    coords: Coords,
}

impl Bilinear {
    fn float<T: bytemuck::Pod>(
        &self,
        x: &[T],
        y: &mut [T],
        (ys, xs): (&[FloatCoord], &[FloatCoord]),
        get: impl Fn(T) -> f32,
        put: impl Fn(f32) -> T,
        offset: f32,
    ) {
        let Dims {
            n,
            ih,
            iw,
            c,
            oh,
            ow,
        } = self.d;
        let at =
            |b: usize, yy: usize, xx: usize, ch: usize| get(x[((b * ih + yy) * iw + xx) * c + ch]);
        for b in 0..n {
            for (oy, cy) in ys.iter().enumerate() {
                let fy = cy.v - cy.lo as f32;
                for (ox, cx) in xs.iter().enumerate() {
                    let fx = cx.v - cx.lo as f32;
                    let o = ((b * oh + oy) * ow + ox) * c;
                    for ch in 0..c {
                        // Term for term as LiteRT writes it, so rounding matches.
                        let v = at(b, cy.lo, cx.lo, ch) * (1.0 - fy) * (1.0 - fx)
                            + at(b, cy.hi, cx.lo, ch) * fy * (1.0 - fx)
                            + at(b, cy.lo, cx.hi, ch) * (1.0 - fy) * fx
                            + at(b, cy.hi, cx.hi, ch) * fy * fx
                            + offset;
                        y[o + ch] = put(v);
                    }
                }
            }
        }
    }

    fn int<T: bytemuck::Pod + Into<i64>>(
        &self,
        x: &[T],
        y: &mut [T],
        ys: &[IntCoord],
        xs: &[IntCoord],
        put: impl Fn(i64) -> T,
    ) {
        let Dims {
            n,
            ih,
            iw,
            c,
            oh,
            ow,
        } = self.d;
        let at = |b: usize, yy: usize, xx: usize, ch: usize| -> i64 {
            x[((b * ih + yy) * iw + xx) * c + ch].into()
        };
        const ONE: i64 = 1 << 10;
        for b in 0..n {
            for (oy, cy) in ys.iter().enumerate() {
                let fy = i64::from(cy.v) - ONE * cy.lo as i64;
                for (ox, cx) in xs.iter().enumerate() {
                    let fx = i64::from(cx.v) - ONE * cx.lo as i64;
                    let o = ((b * oh + oy) * ow + ox) * c;
                    for ch in 0..c {
                        let v = at(b, cy.lo, cx.lo, ch) * (ONE - fy) * (ONE - fx)
                            + at(b, cy.hi, cx.lo, ch) * fy * (ONE - fx)
                            + at(b, cy.lo, cx.hi, ch) * (ONE - fy) * fx
                            + at(b, cy.hi, cx.hi, ch) * fy * fx;
                        let round = if v > 0 { 1 << 19 } else { -(1 << 19) };
                        y[o + ch] = put((v + round) / (1 << 20));
                    }
                }
            }
        }
    }
}

impl Kernel for Bilinear {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        if self.dynamic {
            check_size("RESIZE_BILINEAR", &inputs, &self.d)?;
        }
        let input = inputs.get(0)?;
        let mut out = outputs.get(0)?;
        let Dims {
            n,
            ih,
            iw,
            c,
            oh,
            ow,
        } = self.d;
        let (n_in, n_out) = (n * ih * iw * c, n * oh * ow * c);
        let es = self.dtype.bits().unwrap_or(8) as usize / 8;
        check_len(self.name, input.bytes.len(), n_in * es)?;
        check_len(self.name, out.bytes.len(), n_out * es)?;
        match (&self.coords, self.dtype) {
            (Coords::Float(ys, xs), DType::Float32) => {
                let (x, y) = (
                    &input.as_slice::<f32>()?[..n_in],
                    &mut out.as_slice_mut::<f32>()?[..n_out],
                );
                self.float(x, y, (ys, xs), |v| v, |v| v, 0.0);
            }
            (Coords::Float(ys, xs), DType::UInt8) => {
                let (x, y) = (&input.bytes[..n_in], &mut out.bytes[..n_out]);
                self.float(x, y, (ys, xs), f32::from, |v| v as u8, 0.5);
            }
            (Coords::Int(ys, xs), DType::Int8) => {
                let (x, y) = (
                    &input.as_slice::<i8>()?[..n_in],
                    &mut out.as_slice_mut::<i8>()?[..n_out],
                );
                self.int(x, y, ys, xs, |v| v as i8);
            }
            (Coords::Int(ys, xs), DType::Int16) => {
                let (x, y) = (
                    &input.as_slice::<i16>()?[..n_in],
                    &mut out.as_slice_mut::<i16>()?[..n_out],
                );
                self.int(x, y, ys, xs, |v| v as i16);
            }
            (_, other) => {
                return Err(KernelError::unsupported(format!(
                    "{}: type {other}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

fn bilinear(
    node: &NodeCtx<'_>,
    align_corners: bool,
    half_pixel: bool,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "RESIZE_BILINEAR";
    let (d, dynamic) = check_common(OP, node, align_corners, half_pixel, false)?;
    let input: &TensorInfo = node.input(0)?;
    let coords = match input.dtype {
        DType::Float32 | DType::UInt8 => Coords::Float(
            float_coords(d.oh, d.ih, align_corners, half_pixel),
            float_coords(d.ow, d.iw, align_corners, half_pixel),
        ),
        DType::Int8 | DType::Int16 => Coords::Int(
            int_coords(d.oh, d.ih, align_corners, half_pixel),
            int_coords(d.ow, d.iw, align_corners, half_pixel),
        ),
        other => {
            return Err(KernelError::unsupported(format!(
                "{OP}: type {other} of '{}'",
                input.name
            )));
        }
    };
    crate::ensure!(
        d.ih > 0 && d.iw > 0 || d.n * d.c == 0,
        "{OP}: input '{}' has an empty spatial dimension",
        input.name
    );
    Ok(Box::new(Bilinear {
        name: kernel_name!("resize_bilinear", input.dtype),
        dtype: input.dtype,
        d,
        dynamic,
        coords,
    }))
}

/// LiteRT's `GetNearestNeighbor`, in f32.
fn nearest_index(
    i: usize,
    input: usize,
    out: usize,
    align_corners: bool,
    half_pixel: bool,
) -> usize {
    let scale = if align_corners && out > 1 {
        (input - 1) as f32 / (out - 1) as f32
    } else {
        input as f32 / out as f32
    };
    let offset = if half_pixel { 0.5 } else { 0.0 };
    let v = (i as f32 + offset) * scale;
    let mut r = if align_corners {
        libm::roundf(v) as i32
    } else {
        libm::floorf(v) as i32
    };
    r = r.min(input as i32 - 1);
    if half_pixel {
        r = r.max(0);
    }
    r.max(0) as usize
}

#[derive(Debug)]
struct Nearest {
    name: &'static str,
    esize: usize,
    d: Dims,
    dynamic: bool,
    ys: Vec<usize>,
    xs: Vec<usize>,
}

impl Kernel for Nearest {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        if self.dynamic {
            check_size("RESIZE_NEAREST_NEIGHBOR", &inputs, &self.d)?;
        }
        let input = inputs.get(0)?;
        let out = outputs.get(0)?;
        let Dims {
            n,
            ih,
            iw,
            c,
            oh,
            ow,
        } = self.d;
        let row = c * self.esize;
        check_len(self.name, input.bytes.len(), n * ih * iw * row)?;
        check_len(self.name, out.bytes.len(), n * oh * ow * row)?;
        let mut o = 0;
        for b in 0..n {
            for &yy in &self.ys {
                for &xx in &self.xs {
                    let s = ((b * ih + yy) * iw + xx) * row;
                    out.bytes[o..o + row].copy_from_slice(&input.bytes[s..s + row]);
                    o += row;
                }
            }
        }
        Ok(())
    }
}

fn nearest(
    node: &NodeCtx<'_>,
    align_corners: bool,
    half_pixel: bool,
) -> Result<Box<dyn Kernel>, KernelError> {
    const OP: &str = "RESIZE_NEAREST_NEIGHBOR";
    let (d, dynamic) = check_common(OP, node, align_corners, half_pixel, true)?;
    let input = node.input(0)?;
    let esize = require_elem_size(OP, input)?;
    crate::ensure!(
        d.ih > 0 && d.iw > 0 || d.n * d.c == 0,
        "{OP}: input '{}' has an empty spatial dimension",
        input.name
    );
    Ok(Box::new(Nearest {
        name: kernel_name!("resize_nearest_neighbor", input.dtype),
        esize,
        d,
        dynamic,
        ys: (0..d.oh)
            .map(|i| nearest_index(i, d.ih, d.oh, align_corners, half_pixel))
            .collect(),
        xs: (0..d.ow)
            .map(|i| nearest_index(i, d.iw, d.ow, align_corners, half_pixel))
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{DType, Op, ResizeBilinearAttrs, ResizeNearestNeighborAttrs};

    fn ti(name: &str, dt: DType, s: &[usize]) -> TensorInfo {
        TensorInfo::new(name, dt, s.to_vec())
    }

    #[test]
    fn bilinear_float_upsample() {
        let x = [0f32, 4., 8., 12.];
        let op = Op::ResizeBilinear(ResizeBilinearAttrs {
            align_corners: true,
            half_pixel_centers: false,
        });
        let inputs = [
            Some(TestInput::from_slice(
                ti("x", DType::Float32, &[1, 2, 2, 1]),
                &x,
            )),
            Some(TestInput::const_from_slice(
                ti("s", DType::Int32, &[2]),
                &[3i32, 3],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::Float32, &[1, 3, 3, 1])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[0., 2., 4., 4., 6., 8., 8., 10., 12.]
        );
        assert!(
            run_node(
                &ScalarBackend,
                &op,
                &inputs,
                &[ti("y", DType::Float32, &[1, 3, 4, 1])]
            )
            .is_err()
        );
    }

    #[test]
    fn bilinear_int8_half_pixel() {
        // 1x2 -> 1x4 with half-pixel centers: 10-bit coordinates -256, 256, 768, 1280; the
        // outer two clamp to the edges, so [0, 100] becomes [0, 25, 75, 100].
        let x = [0i8, 100];
        let op = Op::ResizeBilinear(ResizeBilinearAttrs {
            align_corners: false,
            half_pixel_centers: true,
        });
        let inputs = [
            Some(TestInput::from_slice(
                ti("x", DType::Int8, &[1, 1, 2, 1]),
                &x,
            )),
            Some(TestInput::from_slice(
                ti("s", DType::Int32, &[2]),
                &[1i32, 4],
            )),
        ];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[ti("y", DType::Int8, &[1, 1, 4, 1])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[0, 25, 75, 100]);
    }

    #[test]
    fn nearest_modes() {
        let x = [1u8, 2, 3];
        let run = |ac: bool, hp: bool, out: usize| {
            let op = Op::ResizeNearestNeighbor(ResizeNearestNeighborAttrs {
                align_corners: ac,
                half_pixel_centers: hp,
            });
            let inputs = [
                Some(TestInput::from_slice(
                    ti("x", DType::UInt8, &[1, 1, 3, 1]),
                    &x,
                )),
                Some(TestInput::const_from_slice(
                    ti("s", DType::Int32, &[2]),
                    &[1i32, out as i32],
                )),
            ];
            run_node(
                &ScalarBackend,
                &op,
                &inputs,
                &[ti("y", DType::UInt8, &[1, 1, out, 1])],
            )
            .unwrap()[0]
                .clone()
        };
        assert_eq!(run(false, false, 6), [1, 1, 2, 2, 3, 3]);
        assert_eq!(run(true, false, 5), [1, 2, 2, 3, 3]);
        assert_eq!(run(false, true, 2), [1, 3]);
    }
}

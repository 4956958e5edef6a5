//! MEAN float32 over the spatial axes of an NHWC tensor (axes `[1, 2]` in any order or sign,
//! with or without `keep_dims`): the global average pool of classifier heads, vectorized over
//! the channels at every level of [`crate::level`] (AVX2, SSE4.1, portable).
//!
//! **Numerics: exact.** The scalar kernel adds each input element into its output in
//! row-major order, so every channel's sum runs over the pixels in order, from 0.0, then is
//! divided by `H * W` as f32. This kernel keeps channel vectors of sums and adds the pixels in
//! the same order, and divides the same way: the same operations per channel, bit for bit.
//!
//! Everything else (other axes, dtypes, a computed axes tensor, empty tensors) is `Ok(None)`
//! for the scalar backend.

use crate::elementwise::{Build, at_level};
use crate::isa::Isa;
use crate::level::{Job, Level};
use tflrs_ir::{DType, Op};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for a float32 spatial MEAN node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Op::Mean(attrs) = node.op else {
        return Ok(None);
    };
    if node.inputs.len() != 2 || node.outputs.len() != 1 {
        return Ok(None);
    }
    let (Ok(x), Ok(axes_t), Ok(y)) = (node.input(0), node.input(1), node.output(0)) else {
        return Ok(None);
    };
    if x.dtype != DType::Float32 || y.dtype != DType::Float32 || x.shape.len() != 4 {
        return Ok(None);
    }
    let Some(bytes) = node.constant(1) else {
        return Ok(None);
    };
    let axes: Vec<i64> = match axes_t.dtype {
        DType::Int32 => bytes
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::Int64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        _ => return Ok(None),
    };
    if axes.len() != axes_t.num_elements() {
        return Ok(None);
    }
    let mut mask = 0u32;
    for a in axes {
        let a = if a < 0 { a + 4 } else { a };
        if !(0..4).contains(&a) {
            return Ok(None);
        }
        mask |= 1 << a;
    }
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let want: &[usize] = if attrs.keep_dims {
        &[n, 1, 1, c]
    } else {
        &[n, c]
    };
    if mask != 0b0110 || y.shape != want || n * h * w * c == 0 {
        return Ok(None);
    }
    Ok(Some(at_level(
        isa,
        MakeMean {
            isa,
            n,
            pixels: h * w,
            c,
        },
    )))
}

struct MakeMean {
    isa: Isa,
    n: usize,
    pixels: usize,
    c: usize,
}

impl Build for MakeMean {
    fn build<L: Level>(self, l: L) -> Box<dyn Kernel> {
        Box::new(Mean {
            name: format!("mean_f32__{}_spatial", self.isa.name()),
            level: l,
            n: self.n,
            pixels: self.pixels,
            c: self.c,
        })
    }
}

struct Mean<L> {
    name: String,
    level: L,
    n: usize,
    pixels: usize,
    c: usize,
}

impl<L: Level> Kernel for Mean<L> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<f32>()?;
        let (n, p, c) = (self.n, self.pixels, self.c);
        if x.len() != n * p * c || y.len() != n * c {
            return Err(KernelError::invalid(format!(
                "{}: buffers of {} and {} elements, planned {} and {}",
                self.name,
                x.len(),
                y.len(),
                n * p * c,
                n * c
            )));
        }
        self.level.dispatch(Spatial { x, y, pixels: p, c });
        Ok(())
    }
}

/// The means of every batch of a run.
struct Spatial<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    pixels: usize,
    c: usize,
}

/// The sums of channels `ch..ch + V * LANES` over the `pixels` pixels at `xp` (`c` channels
/// each), in pixel order, divided by `div`, stored at `yp`.
///
/// # Safety
/// `xp` is valid for reading `pixels * c` elements, `yp` for writing `c`, and
/// `ch + V * LANES <= c`.
#[inline(always)]
unsafe fn block<L: Level, const V: usize>(
    l: L,
    xp: *const f32,
    yp: *mut f32,
    pixels: usize,
    c: usize,
    ch: usize,
    div: L::V,
) {
    let n = L::LANES;
    let mut acc = [l.splat(0.0); V];
    for p in 0..pixels {
        for (v, a) in acc.iter_mut().enumerate() {
            // SAFETY: pixel `p`'s channels `ch + v n .. + n` lie inside (the contract).
            *a = l.add(*a, unsafe { l.load(xp.add(p * c + ch + v * n)) });
        }
    }
    for (v, a) in acc.iter().enumerate() {
        // SAFETY: as above.
        unsafe { l.store(l.div(*a, div), yp.add(ch + v * n)) };
    }
}

impl Job for Spatial<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: Level>(self, l: L) {
        let Spatial { x, y, pixels, c } = self;
        let n = L::LANES;
        let count = pixels as f32;
        let div = l.splat(count);
        for (xb, yb) in x.chunks_exact(pixels * c).zip(y.chunks_exact_mut(c)) {
            let (xp, yp) = (xb.as_ptr(), yb.as_mut_ptr());
            let mut ch = 0;
            while ch + 4 * n <= c {
                // SAFETY: `xb` has `pixels * c` elements, `yb` `c`, `ch + 4 LANES <= c`.
                unsafe { block::<L, 4>(l, xp, yp, pixels, c, ch, div) };
                ch += 4 * n;
            }
            while ch + n <= c {
                // SAFETY: as above with one vector.
                unsafe { block::<L, 1>(l, xp, yp, pixels, c, ch, div) };
                ch += n;
            }
            for (k, o) in yb.iter_mut().enumerate().skip(ch) {
                let mut s = 0.0f32;
                for p in 0..pixels {
                    s += xb[p * c + k];
                }
                *o = s / count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Isa, SimdBackend};
    use proptest::prelude::*;
    use tflrs_ir::{DType, Op, ReducerAttrs};
    use tflrs_kernels::testing::{FloatTolerance, Harness, TestInput, make_kernel};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    /// The node: `x` of `[n, h, w, c]`, constant `axes` (int32), keep_dims.
    fn node(
        shape: [usize; 4],
        axes: &[i32],
        keep: bool,
        x: &[f32],
    ) -> (Op<'static>, Vec<Option<TestInput>>, Vec<TensorInfo>) {
        let op = Op::Mean(ReducerAttrs { keep_dims: keep });
        let [n, _, _, c] = shape;
        let ins = vec![
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, shape.to_vec()),
                x,
            )),
            Some(TestInput::const_from_slice(
                TensorInfo::new("axes", DType::Int32, [axes.len()]),
                axes,
            )),
        ];
        let out = if keep { vec![n, 1, 1, c] } else { vec![n, c] };
        (op, ins, vec![TensorInfo::new("y", DType::Float32, out)])
    }

    /// The SIMD kernel equals the scalar one bit for bit (NaNs aside) at every level.
    fn check(shape: [usize; 4], axes: &[i32], keep: bool, x: &[f32]) -> Result<(), String> {
        let (op, ins, outs) = node(shape, axes, keep, x);
        let mut h = Harness::new().tolerance(FloatTolerance::EXACT);
        let want = h
            .run_node(&ScalarBackend, &op, &mut ins.clone(), &outs)
            .map_err(|e| e.to_string())?;
        let mut res = Ok(());
        Isa::for_each_available(|isa| {
            let simd = SimdBackend::with_isa(isa).unwrap();
            let r = (|| {
                let (_, name) = h
                    .compare(&ScalarBackend, &simd, &op, &ins, &outs)
                    .map_err(|e| e.to_string())?;
                let expected = format!("mean_f32__{}_spatial", simd.isa().name());
                if name != expected {
                    return Err(format!("kernel {name}, expected {expected}"));
                }
                let got = h
                    .run_node(&simd, &op, &mut ins.clone(), &outs)
                    .map_err(|e| e.to_string())?;
                for (k, (a, b)) in want[0]
                    .chunks_exact(4)
                    .zip(got[0].chunks_exact(4))
                    .enumerate()
                {
                    let (a, b) = (
                        f32::from_le_bytes(a.try_into().unwrap()),
                        f32::from_le_bytes(b.try_into().unwrap()),
                    );
                    if !(a.is_nan() && b.is_nan()) && a.to_bits() != b.to_bits() {
                        return Err(format!("element {k}: {b:e}, scalar {a:e}"));
                    }
                }
                Ok(())
            })();
            if res.is_ok() {
                res = r.map_err(|e| format!("{isa}: {e}"));
            }
        });
        res
    }

    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            8 => -10.0f32..10.0,
            1 => prop::sample::select(vec![
                0.0f32,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                f32::MAX,
                1e-40,
            ]),
            1 => any::<f32>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn spatial_mean_equals_the_scalar_kernel_on_every_level(
            (shape, x) in (1usize..=2, 1usize..=7, 1usize..=7, 1usize..=70).prop_flat_map(
                |(n, h, w, c)| (
                    Just([n, h, w, c]),
                    proptest::collection::vec(value(), n * h * w * c),
                ),
            ),
            axes in prop::sample::select(vec![vec![1, 2], vec![2, 1], vec![-3, -2], vec![1, 2, 2]]),
            keep in any::<bool>(),
        ) {
            if let Err(e) = check(shape, &axes, keep, &x) {
                return Err(TestCaseError::fail(format!("{shape:?} {axes:?} {keep}: {e}")));
            }
        }
    }

    #[test]
    fn mobilenet_head_and_other_axes() {
        let x: Vec<f32> = (0..3 * 3 * 1280)
            .map(|i| (i % 97) as f32 * 0.37 - 9.0)
            .collect();
        check([1, 3, 3, 1280], &[1, 2], true, &x).unwrap();
        // Other axes stay with the scalar backend.
        for axes in [&[1][..], &[3], &[0, 1, 2], &[2, 3]] {
            let (op, ins, mut outs) = node([1, 3, 3, 1280], axes, true, &x);
            let mut s = vec![1usize, 3, 3, 1280];
            for &a in axes {
                s[a as usize] = 1;
            }
            outs[0] = TensorInfo::new("y", DType::Float32, s);
            let simd = SimdBackend::new();
            let k = make_kernel(&simd, &op, &ins, &outs).unwrap();
            assert!(k.is_none_or(|k| k.name().ends_with("__scalar")), "{axes:?}");
        }
    }
}

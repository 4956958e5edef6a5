//! SOFTMAX float32 over the last axis, with `beta`, vectorized along the row at every level of
//! [`crate::level`] (AVX2, SSE4.1, portable).
//!
//! Per row, as the scalar kernel: the largest element (`if m < v { v } else { m }` from
//! `f32::MIN`, so NaNs are passed over, on vectors with `MAXPS`'s operand order: the same value
//! in any order), then `e_i = exp((x_i - max) * beta)` with the vector [`exp`] (the tail
//! elements with the scalar `expf`) stored and summed in lanes, then `y_i = e_i / sum`.
//!
//! **Numerics**: the arguments of `exp` and the final divisions are the scalar kernel's
//! operations; `exp` is within `4 EPSILON` relative of `e^x` (the activations' tests), the
//! scalar `expf` within one ulp, and the sum is taken in another order (lanes, then across):
//! each output is within `(2 * 5 + 2 * depth + 2) EPSILON` relative of the scalar kernel's
//! (Higham's `gamma(depth)` for either sum, twice), plus `2^-149` for subnormal results, which
//! the tests check. NaN and infinite inputs give the scalar kernel's NaNs.

use crate::activations::exp;
use crate::elementwise::{Build, at_level};
use crate::isa::Isa;
use crate::level::{Job, Level};
use tflrs_ir::{DType, Op};
use tflrs_kernels::prep::softmax::{SoftmaxParams, plan};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for a float32 SOFTMAX node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::Softmax(_)) {
        return Ok(None);
    }
    let Ok(Some(p)) = plan(node) else {
        return Ok(None);
    };
    if p.log
        || !matches!(p.params, SoftmaxParams::Float)
        || p.dtype != DType::Float32
        || p.out_dtype != DType::Float32
    {
        return Ok(None);
    }
    Ok(Some(at_level(
        isa,
        MakeSoftmax {
            isa,
            rows: p.rows,
            depth: p.depth,
            beta: p.beta,
        },
    )))
}

struct MakeSoftmax {
    isa: Isa,
    rows: usize,
    depth: usize,
    beta: f32,
}

impl Build for MakeSoftmax {
    fn build<L: Level>(self, l: L) -> Box<dyn Kernel> {
        Box::new(Softmax {
            name: format!("softmax_f32__{}", self.isa.name()),
            level: l,
            rows: self.rows,
            depth: self.depth,
            beta: self.beta,
        })
    }
}

struct Softmax<L> {
    name: String,
    level: L,
    rows: usize,
    depth: usize,
    beta: f32,
}

impl<L: Level> Kernel for Softmax<L> {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<f32>()?;
        let n = self.rows * self.depth;
        if x.len() != n || y.len() != n {
            return Err(KernelError::invalid(format!(
                "{}: buffers of {} and {} elements, planned {n}",
                self.name,
                x.len(),
                y.len()
            )));
        }
        if self.depth == 0 {
            return Ok(());
        }
        self.level.dispatch(Rows {
            x,
            y,
            depth: self.depth,
            beta: self.beta,
        });
        Ok(())
    }
}

/// Every row of a run.
struct Rows<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    depth: usize,
    beta: f32,
}

/// The lanes of `v`, in a buffer of 16 (`LANES <= 16`).
#[inline(always)]
fn lanes<L: Level>(l: L, v: L::V) -> [f32; 16] {
    assert!(L::LANES <= 16);
    let mut t = [0.0f32; 16];
    // SAFETY: `t` has 16 >= LANES elements.
    unsafe { l.store(v, t.as_mut_ptr()) };
    t
}

impl Job for Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: Level>(self, l: L) {
        let Rows { x, y, depth, beta } = self;
        let n = L::LANES;
        let full = depth / n * n;
        for (xr, yr) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
            let (xp, yp) = (xr.as_ptr(), yr.as_mut_ptr());
            // The largest element.
            let mut mv = l.splat(f32::MIN);
            let mut i = 0;
            while i < full {
                // SAFETY: `i + LANES <= full <= depth`.
                mv = l.max(unsafe { l.load(xp.add(i)) }, mv);
                i += n;
            }
            let mut max = f32::MIN;
            for &v in lanes(l, mv)[..n].iter().chain(&xr[full..]) {
                if max < v {
                    max = v;
                }
            }
            // The exponentials, stored and summed.
            let (mx, bv) = (l.splat(max), l.splat(beta));
            let mut sv = l.splat(0.0);
            let mut i = 0;
            while i < full {
                // SAFETY: as above; `yr` has `depth` elements too.
                unsafe {
                    let e = exp(l, l.mul(l.sub(l.load(xp.add(i)), mx), bv));
                    l.store(e, yp.add(i));
                    sv = l.add(sv, e);
                }
                i += n;
            }
            let mut sum = 0.0f32;
            for &s in &lanes(l, sv)[..n] {
                sum += s;
            }
            for (o, &v) in yr[full..].iter_mut().zip(&xr[full..]) {
                let e = tflrs_kernels::math::expf((v - max) * beta);
                *o = e;
                sum += e;
            }
            // The divisions.
            let s = l.splat(sum);
            let mut i = 0;
            while i < full {
                // SAFETY: as above.
                unsafe { l.store(l.div(l.load(yp.add(i)), s), yp.add(i)) };
                i += n;
            }
            for o in &mut yr[full..] {
                *o /= sum;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Isa, SimdBackend};
    use proptest::prelude::*;
    use tflrs_ir::{DType, Op, SoftmaxAttrs};
    use tflrs_kernels::testing::{Harness, TestInput};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// The bound of the module docs for rows of `depth`.
    fn within(depth: usize, want: f32, got: f32) -> bool {
        if want.is_nan() || got.is_nan() {
            return want.is_nan() && got.is_nan();
        }
        if want.is_infinite() || got.is_infinite() {
            return want == got;
        }
        let rel = (2 * 5 + 2 * depth + 2) as f64 * f64::from(f32::EPSILON);
        let (w, g) = (f64::from(want), f64::from(got));
        (w - g).abs() <= rel * w.abs().max(g.abs()) + f64::from(f32::from_bits(1))
    }

    /// Runs SOFTMAX(`beta`) on `x` of `shape` on the scalar backend and at every level.
    fn check(shape: &[usize], x: &[f32], beta: f32) -> Result<(), String> {
        let op = Op::Softmax(SoftmaxAttrs { beta });
        let info = TensorInfo::new("t", DType::Float32, shape.to_vec());
        let ins = vec![Some(TestInput::from_slice(info.clone(), x))];
        let outs = [info];
        let depth = *shape.last().unwrap();
        let mut h = Harness::new();
        let want = f32s(
            &h.run_node(&ScalarBackend, &op, &mut ins.clone(), &outs)
                .map_err(|e| e.to_string())?[0],
        );
        let mut res = Ok(());
        Isa::for_each_available(|isa| {
            let simd = SimdBackend::with_isa(isa).unwrap();
            let r = (|| {
                let mut k = h.make(&simd, &op, &ins, &outs).map_err(|e| e.to_string())?;
                let name = format!("softmax_f32__{}", simd.isa().name());
                if k.name() != name {
                    return Err(format!("kernel {}, expected {name}", k.name()));
                }
                let got = f32s(
                    &h.run(k.as_mut(), &mut ins.clone(), &outs)
                        .map_err(|e| e.to_string())?[0],
                );
                for (i, (&a, &b)) in want.iter().zip(&got).enumerate() {
                    if !within(depth, a, b) {
                        return Err(format!("element {i}: {b:e}, scalar {a:e} (x {:e})", x[i]));
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
            2 => -200.0f32..200.0,
            1 => prop::sample::select(vec![
                0.0f32,
                -0.0,
                f32::NEG_INFINITY,
                f32::INFINITY,
                f32::NAN,
                f32::MIN,
                f32::MAX,
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn softmax_matches_the_scalar_kernel_on_every_level(
            (shape, x) in (1usize..=3, prop_oneof![1usize..=40, 1usize..=1100]).prop_flat_map(
                |(rows, depth)| (
                    Just(vec![rows, depth]),
                    proptest::collection::vec(value(), rows * depth),
                ),
            ),
            beta in prop::sample::select(vec![1.0f32, 0.5, 2.0, 0.1, 0.0, -1.0]),
        ) {
            if let Err(e) = check(&shape, &x, beta) {
                return Err(TestCaseError::fail(format!("{shape:?} beta {beta}: {e}")));
            }
        }
    }

    #[test]
    fn classifier_rows_and_every_tail() {
        // A 1001-class classifier's logits, and rows of every length around the vectors.
        let logits: Vec<f32> = (0..1001)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.3)
            .collect();
        check(&[1, 1001], &logits, 1.0).unwrap();
        for depth in 1..=40 {
            let x: Vec<f32> = (0..2 * depth).map(|i| (i % 7) as f32 - 3.0).collect();
            check(&[2, depth], &x, 1.0).unwrap_or_else(|e| panic!("{depth}: {e}"));
        }
        // The bound is not vacuous.
        assert!(!within(10, 0.5, 0.5 * (1.0 + 1e-4)));
    }
}

//! MAX_POOL_2D and AVERAGE_POOL_2D, float32 and int8, vectorized over channels, with the
//! scalar (LiteRT reference) kernels' outputs bit for bit.
//!
//! Nodes are prepared by the scalar kernel's plan (`tflrs_kernels::prep::pool::pool2d`:
//! window, padding, clamp ranges). Per output pixel the window clipped to the input (padding is
//! never read) is walked in the scalar kernel's order, row then column, on a vector of
//! channels at a time; the tail channels run the scalar kernel's code.
//!
//! - float32 (`{op}_f32__{isa}`, the crate's float `level` operations): the maximum starts at
//!   `f32::MIN` and takes `v` when `v > max` (`max(v, acc)`, `MAXPS`'s operand order: a NaN is
//!   never taken, as in the scalar `if acc < v`); the average adds the taps in the same order
//!   (the same sums, lane by lane) and divides by the window's count in scalar code; the clamp
//!   is `min(hi, max(lo, v))`, the scalar `clamp_f32`. Every operation is exactly rounded: the
//!   bits are the scalar kernel's.
//! - int8 (`{op}_i8__{isa}`, `elementwise_i8`'s int32 lanes): the maximum from -128, the
//!   average's int32 sum rounded as the scalar kernel rounds it (`IntLevel::div_round`, exact
//!   for windows of up to 65536 taps; larger ones are declined), the quantized clamp.
//!
//! Levels: AVX2 (8 lanes), SSE4.1 and portable (4 lanes). Other types (int16, uint8) and every
//! node the plan refuses are `Ok(None)`.

use crate::elementwise_i8::{IntJob, IntLevel, PortableI32};
use crate::isa::Isa;
use crate::isa::Tier as Level;
use crate::level::{Job, Level as Lanes, Portable};
use tflrs_ir::{DType, Op};
use tflrs_kernels::prep::pool::{PoolKind, PoolPlan, pool2d};
use tflrs_kernels::scalar::qmath::clamp_f32;
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx};

/// A kernel for a MAX_POOL_2D or AVERAGE_POOL_2D node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::MaxPool2d(_) | Op::AveragePool2d(_)) {
        return Ok(None);
    }
    let Ok(plan) = pool2d(node) else {
        return Ok(None);
    };
    let dtype = match plan.dtype {
        DType::Float32 => "f32",
        DType::Int8 => "i8",
        _ => return Ok(None),
    };
    if plan.filter_h.saturating_mul(plan.filter_w) > 1 << 16 {
        return Ok(None);
    }
    let level = Level::at(isa);
    let name = format!(
        "{}_{dtype}__{}",
        node.op.name().to_ascii_lowercase(),
        level.isa().name()
    );
    Ok(Some(Box::new(Pool {
        name,
        level,
        max: plan.kind == PoolKind::Max,
        plan,
    })))
}

/// A pool over a plan.
struct Pool {
    name: String,
    level: Level,
    max: bool,
    plan: PoolPlan,
}

impl Kernel for Pool {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(0)?;
        let mut out = outputs.get(0)?;
        let (p, max) = (&self.plan, self.max);
        let (n_in, n_out) = (p.in_len(), p.out_len());
        if p.dtype == DType::Float32 {
            let x = input.as_slice::<f32>()?;
            let y = out.as_slice_mut::<f32>()?;
            crate::fully_connected::at_least(x, n_in, "pool input")?;
            crate::fully_connected::at_least(y, n_out, "pool output")?;
            let job = FloatPool {
                p,
                x: &x[..n_in],
                y: &mut y[..n_out],
                max,
            };
            match self.level {
                Level::Portable => Portable.dispatch(job),
                #[cfg(target_arch = "x86_64")]
                Level::Sse41(t) => Lanes::dispatch(t, job),
                #[cfg(target_arch = "x86_64")]
                Level::Avx2(t) => Lanes::dispatch(t, job),
            }
        } else {
            let x = input.as_slice::<i8>()?;
            let y = out.as_slice_mut::<i8>()?;
            crate::fully_connected::at_least(x, n_in, "pool input")?;
            crate::fully_connected::at_least(y, n_out, "pool output")?;
            let job = IntPool {
                p,
                x: &x[..n_in],
                y: &mut y[..n_out],
                max,
            };
            match self.level {
                Level::Portable => PortableI32.dispatch(job),
                #[cfg(target_arch = "x86_64")]
                Level::Sse41(t) => IntLevel::dispatch(t, job),
                #[cfg(target_arch = "x86_64")]
                Level::Avx2(t) => IntLevel::dispatch(t, job),
            }
        }
        Ok(())
    }
}

/// A float32 pool over exactly the input and output.
struct FloatPool<'a> {
    p: &'a PoolPlan,
    x: &'a [f32],
    y: &'a mut [f32],
    max: bool,
}

impl Job for FloatPool<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) {
        let FloatPool { p, x, y, max } = self;
        let [n, ih, iw, c] = p.input;
        let (lo, hi) = p.float_range;
        let (lov, hiv) = (l.splat(lo), l.splat(hi));
        assert!(x.len() == p.in_len() && y.len() == p.out_len() && L::LANES <= 16);
        for b in 0..n {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    let (y0, y1, x0, x1) = p.window(oy, ox);
                    let count = ((y1 - y0) * (x1 - x0)) as f32;
                    let o = ((b * p.out_h + oy) * p.out_w + ox) * c;
                    let mut ch = 0;
                    while ch + L::LANES <= c {
                        let mut acc = l.splat(if max { f32::MIN } else { 0.0 });
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let at = ((b * ih + iy) * iw + ix) * c + ch;
                                // SAFETY: `(iy, ix)` is inside the input (the plan's window)
                                // and `ch + LANES <= C`.
                                let v = unsafe { l.load(x.as_ptr().add(at)) };
                                acc = if max { l.max(v, acc) } else { l.add(acc, v) };
                            }
                        }
                        if max {
                            // SAFETY: output pixel `o` has `C` elements, `ch + LANES <= C`.
                            unsafe {
                                l.store(l.min(hiv, l.max(lov, acc)), y.as_mut_ptr().add(o + ch))
                            };
                        } else {
                            let mut sums = [0.0f32; 16];
                            // SAFETY: `sums` has 16 >= LANES elements.
                            unsafe { l.store(acc, sums.as_mut_ptr()) };
                            for (d, &s) in y[o + ch..o + ch + L::LANES].iter_mut().zip(&sums) {
                                *d = clamp_f32(s / count, lo, hi);
                            }
                        }
                        ch += L::LANES;
                    }
                    for ch in ch..c {
                        // The scalar kernel's code.
                        let mut acc = if max { f32::MIN } else { 0.0 };
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let v = x[((b * ih + iy) * iw + ix) * c + ch];
                                if max {
                                    if acc < v {
                                        acc = v;
                                    }
                                } else {
                                    acc += v;
                                }
                            }
                        }
                        let v = if max { acc } else { acc / count };
                        y[o + ch] = clamp_f32(v, lo, hi);
                    }
                }
            }
        }
    }
}

/// An int8 pool over exactly the input and output.
struct IntPool<'a> {
    p: &'a PoolPlan,
    x: &'a [i8],
    y: &'a mut [i8],
    max: bool,
}

impl IntJob for IntPool<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: IntLevel>(self, l: L) {
        let IntPool { p, x, y, max } = self;
        let [n, ih, iw, c] = p.input;
        let (lo, hi) = p.quant_range;
        let (lov, hiv) = (l.splat(lo), l.splat(hi));
        let init = if max { -128 } else { 0 };
        assert!(x.len() == p.in_len() && y.len() == p.out_len());
        for b in 0..n {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    let (y0, y1, x0, x1) = p.window(oy, ox);
                    let count = ((y1 - y0) * (x1 - x0)) as i32;
                    let o = ((b * p.out_h + oy) * p.out_w + ox) * c;
                    let mut ch = 0;
                    while ch + L::LANES <= c {
                        let mut acc = l.splat(init);
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let at = ((b * ih + iy) * iw + ix) * c + ch;
                                // SAFETY: `(iy, ix)` is inside the input (the plan's window)
                                // and `ch + LANES <= C`.
                                let v = unsafe { l.load_i8(x.as_ptr().add(at)) };
                                acc = if max { l.max(acc, v) } else { l.add(acc, v) };
                            }
                        }
                        if !max {
                            acc = l.div_round(acc, count);
                        }
                        let r = l.min(l.max(acc, lov), hiv);
                        // SAFETY: output pixel `o` has `C` elements, `ch + LANES <= C`; the
                        // clamp keeps the lanes within int8.
                        unsafe { l.store_i8(r, y.as_mut_ptr().add(o + ch)) };
                        ch += L::LANES;
                    }
                    for ch in ch..c {
                        // The scalar kernel's code.
                        let mut acc = init;
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let v = i32::from(x[((b * ih + iy) * iw + ix) * c + ch]);
                                acc = if max { acc.max(v) } else { acc.wrapping_add(v) };
                            }
                        }
                        if !max {
                            acc = if acc > 0 {
                                (acc + count / 2) / count
                            } else {
                                (acc - count / 2) / count
                            };
                        }
                        y[o + ch] = acc.clamp(lo, hi) as i8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{edge_or_any, for_each_backend};
    use proptest::prelude::*;
    use tflrs_ir::{Activation, DType, Op, Padding, Pool2dAttrs};
    use tflrs_kernels::testing::{FloatTolerance, Harness, TestInput};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    #[derive(Debug, Clone)]
    struct P {
        max: bool,
        int8: bool,
        batch: usize,
        hw: (usize, usize),
        c: usize,
        filter: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        act: Activation,
        /// Input and output (scale, zero point) for int8.
        q: [(f32, i64); 2],
        seed: u64,
    }

    fn zero_point() -> impl Strategy<Value = i64> + Clone {
        prop_oneof![Just(-128i64), Just(127i64), Just(0i64), -128i64..=127]
    }

    fn p_strategy() -> impl Strategy<Value = P> {
        (
            (any::<bool>(), any::<bool>(), 1usize..=2),
            ((1usize..=9, 1usize..=9), edge_or_any(1..=40)),
            ((1usize..=4, 1usize..=4), (1usize..=3, 1usize..=3)),
            prop::sample::select(vec![Padding::Same, Padding::Valid]),
            prop::sample::select(vec![
                Activation::None,
                Activation::Relu,
                Activation::ReluN1To1,
                Activation::Relu6,
            ]),
            ((0.01f32..0.1, zero_point()), (0.5f32..2.0, zero_point())),
            any::<u64>(),
        )
            .prop_map(
                |((max, int8, batch), (hw, c), (filter, stride), padding, act, (qi, qo), seed)| P {
                    max,
                    int8,
                    batch,
                    hw,
                    c,
                    // A window no larger than the input (VALID windows must fit).
                    filter: (filter.0.min(hw.0), filter.1.min(hw.1)),
                    stride,
                    padding,
                    act,
                    // The output scale a ratio of the input's: averages and maxima move.
                    q: [qi, (qi.0 * qo.0, qo.1)],
                    seed,
                },
            )
    }

    /// The case's node and output shape (`None` where LiteRT's rule gives an empty one).
    fn node(p: &P) -> Option<(Op<'static>, Vec<Option<TestInput>>, Vec<TensorInfo>)> {
        let attrs = Pool2dAttrs {
            padding: p.padding,
            stride_w: p.stride.1 as i32,
            stride_h: p.stride.0 as i32,
            filter_width: p.filter.1 as i32,
            filter_height: p.filter.0 as i32,
            fused_activation_function: p.act,
        };
        let op = if p.max {
            Op::MaxPool2d(attrs)
        } else {
            Op::AveragePool2d(attrs)
        };
        let (ih, iw) = p.hw;
        let (oh, _) = tflrs_ir::window::pool_axis(p.padding, ih, p.filter.0, p.stride.0)?;
        let (ow, _) = tflrs_ir::window::pool_axis(p.padding, iw, p.filter.1, p.stride.1)?;
        let shape = [p.batch, ih, iw, p.c];
        let len: usize = shape.iter().product();
        let mut seed = p.seed | 1;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let out_shape = [p.batch, oh, ow, p.c];
        let (x, y) = if p.int8 {
            let mut v: Vec<i8> = (0..len).map(|_| (next() >> 32) as i8).collect();
            v[0] = -128;
            let x = TensorInfo::new("x", DType::Int8, shape).with_quant(p.q[0].0, p.q[0].1);
            let y = TensorInfo::new("y", DType::Int8, out_shape).with_quant(p.q[1].0, p.q[1].1);
            (TestInput::from_slice(x, &v), y)
        } else {
            // One value in eight special: NaN, signed zeros, infinities, the largest finite
            // values (sums overflow), so that the operand orders of max and clamp and the
            // order of the sums matter.
            let special = [
                f32::NAN,
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MAX,
                f32::MIN,
                1e-45,
            ];
            let v: Vec<f32> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 8 == 0 {
                        special[(r >> 8) as usize % special.len()]
                    } else {
                        ((r >> 40) as f32 / (1u64 << 24) as f32) * 16.0 - 8.0
                    }
                })
                .collect();
            let x = TensorInfo::new("x", DType::Float32, shape);
            let y = TensorInfo::new("y", DType::Float32, out_shape);
            (TestInput::from_slice(x, &v), y)
        };
        Some((op, vec![Some(x)], vec![y]))
    }

    #[test]
    fn pools_equal_the_scalar_kernel_bit_for_bit_on_every_level() {
        for_each_backend(|backend, runner| {
            runner
                .run(&p_strategy(), |p| {
                    let Some((op, ins, outs)) = node(&p) else {
                        return Ok(());
                    };
                    let mut h = Harness::new().tolerance(FloatTolerance::EXACT);
                    let (name, _) = h
                        .compare(backend, &ScalarBackend, &op, &ins, &outs)
                        .map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))?;
                    let want = format!(
                        "{}_{}__{}",
                        op.name().to_ascii_lowercase(),
                        if p.int8 { "i8" } else { "f32" },
                        backend.isa().name()
                    );
                    prop_assert_eq!(&name, &want);
                    // Bits, not only values (EXACT lets 0.0 and -0.0 agree), NaN payloads
                    // aside (the compiler may swap the operands of an addition, and x86
                    // keeps the first operand's NaN).
                    let a = h.run_node(backend, &op, &mut ins.clone(), &outs);
                    let b = h.run_node(&ScalarBackend, &op, &mut ins.clone(), &outs);
                    let (a, b) = (a.unwrap(), b.unwrap());
                    if p.int8 {
                        prop_assert_eq!(a, b, "{:?}", p);
                    } else {
                        let f = |v: &[u8]| -> Vec<f32> { bytemuck::cast_slice(v).to_vec() };
                        for (k, (x, y)) in f(&a[0]).iter().zip(f(&b[0])).enumerate() {
                            prop_assert!(
                                (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
                                "element {}: {:e} against scalar {:e}: {:?}",
                                k,
                                x,
                                y,
                                p
                            );
                        }
                    }
                    Ok(())
                })
                .unwrap();
        });
    }
}

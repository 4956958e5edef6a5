//! Generic elementwise kernels: [`Map`] (one input), [`Zip`] (two broadcast inputs) and
//! [`Zip3`] (three broadcast inputs), each applying a function to the elements, over the
//! contiguous runs of a [`Broadcast`]. The function is an executor of a prepared plan
//! ([`prep`](crate::prep)) or plain arithmetic. Shared by the unary, binary and softmax
//! families.
//!
//! Booleans travel as `u8` (0 or 1), as LiteRT stores them. A kernel may carry a check of a
//! whole input (division by zero, square root of a negative number) that fails the run the way
//! LiteRT's kernels do.

use super::broadcast::Broadcast;
use crate::kernel::KernelIo;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use core::marker::PhantomData;

/// A check of a whole input before a run; `Err` carries the reason.
pub(crate) type Check<T> = fn(&[T], &CheckParams) -> Result<(), &'static str>;

/// Constants a [`Check`] may need (a zero point).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CheckParams {
    /// Zero point of the checked input.
    pub zero_point: i32,
}

fn len_error(name: &str, what: &str, got: usize, want: usize) -> KernelError {
    KernelError::invalid(format!("{name}: {what} has {got} elements, planned {want}"))
}

/// `y[i] = f(x[i])`.
pub(crate) struct Map<I, O, F> {
    name: &'static str,
    len: usize,
    f: F,
    check: Option<(Check<I>, CheckParams)>,
    _types: PhantomData<fn(I) -> O>,
}

/// A [`Map`] kernel over `len` elements.
pub(crate) fn map<I, O, F>(name: &'static str, len: usize, f: F) -> Box<dyn Kernel>
where
    I: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(I) -> O + Send + 'static,
{
    Box::new(Map {
        name,
        len,
        f,
        check: None,
        _types: PhantomData,
    })
}

/// A [`Map`] kernel that first checks its input.
pub(crate) fn map_checked<I, O, F>(
    name: &'static str,
    len: usize,
    f: F,
    check: Check<I>,
    params: CheckParams,
) -> Box<dyn Kernel>
where
    I: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(I) -> O + Send + 'static,
{
    Box::new(Map {
        name,
        len,
        f,
        check: Some((check, params)),
        _types: PhantomData,
    })
}

impl<I, O, F> Kernel for Map<I, O, F>
where
    I: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(I) -> O + Send + 'static,
{
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<I>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<O>()?;
        if x.len() != self.len {
            return Err(len_error(self.name, "input", x.len(), self.len));
        }
        if y.len() != self.len {
            return Err(len_error(self.name, "output", y.len(), self.len));
        }
        if let Some((check, params)) = &self.check {
            check(x, params).map_err(|e| KernelError::invalid(format!("{}: {e}", self.name)))?;
        }
        for (o, &i) in y.iter_mut().zip(x) {
            *o = (self.f)(i);
        }
        Ok(())
    }
}

/// `y[o] = f(a[i], b[j])` over a broadcast.
pub(crate) struct Zip<A, B, O, F> {
    name: &'static str,
    bc: Broadcast<2>,
    f: F,
    check_b: Option<(Check<B>, CheckParams)>,
    _types: PhantomData<fn(A, B) -> O>,
}

/// A [`Zip`] kernel.
pub(crate) fn zip<A, B, O, F>(name: &'static str, bc: Broadcast<2>, f: F) -> Box<dyn Kernel>
where
    A: bytemuck::Pod,
    B: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(A, B) -> O + Send + 'static,
{
    Box::new(Zip {
        name,
        bc,
        f,
        check_b: None,
        _types: PhantomData,
    })
}

/// A [`Zip`] kernel that first checks its second input (a divisor).
pub(crate) fn zip_checked<A, B, O, F>(
    name: &'static str,
    bc: Broadcast<2>,
    f: F,
    check_b: Check<B>,
    params: CheckParams,
) -> Box<dyn Kernel>
where
    A: bytemuck::Pod,
    B: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(A, B) -> O + Send + 'static,
{
    Box::new(Zip {
        name,
        bc,
        f,
        check_b: Some((check_b, params)),
        _types: PhantomData,
    })
}

impl<A, B, O, F> Kernel for Zip<A, B, O, F>
where
    A: bytemuck::Pod,
    B: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(A, B) -> O + Send + 'static,
{
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let a = inputs.get(0)?.as_slice::<A>()?;
        let b = inputs.get(1)?.as_slice::<B>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<O>()?;
        self.bc.check_lens(y.len(), [a.len(), b.len()])?;
        if let Some((check, params)) = &self.check_b {
            check(b, params).map_err(|e| KernelError::invalid(format!("{}: {e}", self.name)))?;
        }
        let f = &self.f;
        self.bc.for_each_run(|out, [i, j], steps| {
            let y = &mut y[out];
            let n = y.len();
            match steps {
                [1, 1] => {
                    for ((o, &x), &z) in y.iter_mut().zip(&a[i..i + n]).zip(&b[j..j + n]) {
                        *o = f(x, z);
                    }
                }
                [1, _] => {
                    let z = b[j];
                    for (o, &x) in y.iter_mut().zip(&a[i..i + n]) {
                        *o = f(x, z);
                    }
                }
                [_, 1] => {
                    let x = a[i];
                    for (o, &z) in y.iter_mut().zip(&b[j..j + n]) {
                        *o = f(x, z);
                    }
                }
                _ => y.fill(f(a[i], b[j])),
            }
        });
        Ok(())
    }
}

/// `y[o] = f(a[i], b[j], c[k])` over a broadcast (SELECT_V2).
pub(crate) struct Zip3<A, B, C, O, F> {
    name: &'static str,
    bc: Broadcast<3>,
    f: F,
    _types: PhantomData<fn(A, B, C) -> O>,
}

/// A [`Zip3`] kernel.
pub(crate) fn zip3<A, B, C, O, F>(name: &'static str, bc: Broadcast<3>, f: F) -> Box<dyn Kernel>
where
    A: bytemuck::Pod,
    B: bytemuck::Pod,
    C: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(A, B, C) -> O + Send + 'static,
{
    Box::new(Zip3 {
        name,
        bc,
        f,
        _types: PhantomData,
    })
}

impl<A, B, C, O, F> Kernel for Zip3<A, B, C, O, F>
where
    A: bytemuck::Pod,
    B: bytemuck::Pod,
    C: bytemuck::Pod,
    O: bytemuck::Pod,
    F: Fn(A, B, C) -> O + Send + 'static,
{
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let a = inputs.get(0)?.as_slice::<A>()?;
        let b = inputs.get(1)?.as_slice::<B>()?;
        let c = inputs.get(2)?.as_slice::<C>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<O>()?;
        self.bc.check_lens(y.len(), [a.len(), b.len(), c.len()])?;
        let f = &self.f;
        self.bc.for_each_run(|out, [i, j, k], [si, sj, sk]| {
            for (t, o) in y[out].iter_mut().enumerate() {
                *o = f(a[i + si * t], b[j + sj * t], c[k + sk * t]);
            }
        });
        Ok(())
    }
}

/// Fails when any element equals the zero point (a quantized or integer divisor of zero).
pub(crate) fn no_zero_divisor<T: Copy + Into<i64>>(
    b: &[T],
    p: &CheckParams,
) -> Result<(), &'static str> {
    let zero = i64::from(p.zero_point);
    if b.iter().any(|&v| v.into() == zero) {
        Err("division by zero")
    } else {
        Ok(())
    }
}

/// Integer element types of quantized tensors, widened to `i32` for arithmetic.
pub(crate) trait QElem: bytemuck::Pod + Send + 'static {
    /// Smallest value.
    const MIN: i32;
    /// Largest value.
    const MAX: i32;
    /// The value widened.
    fn to_i32(self) -> i32;
    /// `v` narrowed; `v` must already be within `MIN..=MAX` (callers clamp first).
    fn from_i32(v: i32) -> Self;
    /// `v` clamped to the type's range and narrowed.
    #[inline]
    fn saturate(v: i32) -> Self {
        Self::from_i32(v.clamp(Self::MIN, Self::MAX))
    }
}

macro_rules! qelem {
    ($($t:ty),*) => {$(
        impl QElem for $t {
            const MIN: i32 = <$t>::MIN as i32;
            const MAX: i32 = <$t>::MAX as i32;
            #[inline]
            fn to_i32(self) -> i32 {
                i32::from(self)
            }
            #[inline]
            fn from_i32(v: i32) -> Self {
                v as $t
            }
        }
    )*};
}
qelem!(i8, u8, i16, i32);

/// The per-tensor scale and zero point of a tensor of element type `T`, checked: the tensor
/// must be quantized per tensor, with a positive finite scale and a zero point `T` can hold.
pub(crate) fn quant_of<T: QElem>(info: &crate::TensorInfo) -> Result<(f32, i32), KernelError> {
    quant_in_range(info, T::MIN, T::MAX)
}

/// [`quant_of`] for a type whose range is `min..=max`.
pub(crate) fn quant_in_range(
    info: &crate::TensorInfo,
    min: i32,
    max: i32,
) -> Result<(f32, i32), KernelError> {
    let (scale, zero_point) = info.require_per_tensor_quant()?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(KernelError::invalid(format!(
            "tensor '{}' has scale {scale}; a positive finite scale is needed",
            info.name
        )));
    }
    if !(min..=max).contains(&zero_point) {
        return Err(KernelError::invalid(format!(
            "tensor '{}' has zero point {zero_point}, outside its type's range",
            info.name
        )));
    }
    Ok((scale, zero_point))
}

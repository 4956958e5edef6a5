//! Float math that kernels share: the platform's libm with `std` (as LiteRT uses), the `libm`
//! crate without it (microcontrollers).

macro_rules! unary {
    ($($name:ident: $ty:ty => $std:ident, $libm:path;)*) => {$(
        #[doc = concat!("`", stringify!($std), "` on `", stringify!($ty), "`.")]
        #[inline]
        pub fn $name(x: $ty) -> $ty {
            #[cfg(feature = "std")]
            {
                x.$std()
            }
            #[cfg(not(feature = "std"))]
            {
                $libm(x)
            }
        }
    )*};
}

unary! {
    expf: f32 => exp, libm::expf;
    logf: f32 => ln, libm::logf;
    sqrtf: f32 => sqrt, libm::sqrtf;
    tanhf: f32 => tanh, libm::tanhf;
    exp: f64 => exp, libm::exp;
    log: f64 => ln, libm::log;
    sqrt: f64 => sqrt, libm::sqrt;
    tanh: f64 => tanh, libm::tanh;
    floorf: f32 => floor, libm::floorf;
    ceilf: f32 => ceil, libm::ceilf;
    sinf: f32 => sin, libm::sinf;
    cosf: f32 => cos, libm::cosf;
    expm1f: f32 => exp_m1, libm::expm1f;
    floor: f64 => floor, libm::floor;
}

/// `atan2(y, x)` on `f32`.
#[inline]
pub fn atan2f(y: f32, x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        y.atan2(x)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::atan2f(y, x)
    }
}

/// `fmod` on `f32` (the remainder with the dividend's sign, as C's `fmod`).
#[inline]
pub fn fmodf(x: f32, y: f32) -> f32 {
    libm::fmodf(x, y)
}

/// `pow` on `f32`.
#[inline]
pub fn powf(x: f32, y: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.powf(y)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::powf(x, y)
    }
}

/// The error function on `f32` (no `std` equivalent; `libm` everywhere).
#[inline]
pub fn erff(x: f32) -> f32 {
    libm::erff(x)
}

/// The error function on `f64`.
#[inline]
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// `pow` on `f64`.
#[inline]
pub fn pow(x: f64, y: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.powf(y)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::pow(x, y)
    }
}

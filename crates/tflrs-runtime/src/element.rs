//! Element types of typed tensor views.

use tflrs_ir::DType;

/// A Rust type that a tensor's elements can be viewed as: `interp.input_mut::<f32>(0)`.
pub trait Element: bytemuck::Pod {
    /// The tensor type it matches.
    const DTYPE: DType;
}

macro_rules! elements {
    ($($t:ty => $d:ident),* $(,)?) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$d;
        }
    )*};
}

elements! {
    f32 => Float32,
    f64 => Float64,
    i8 => Int8,
    u8 => UInt8,
    i16 => Int16,
    u16 => UInt16,
    i32 => Int32,
    u32 => UInt32,
    i64 => Int64,
    u64 => UInt64,
    half::f16 => Float16,
}

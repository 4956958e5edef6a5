//! Element types of tensors.

use core::fmt;

macro_rules! dtypes {
    ($( $(#[$m:meta])* $variant:ident = $code:literal, $name:literal, $bits:expr; )*) => {
        /// The element type of a tensor: every `TensorType` of the TFLite schema.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DType {
            $( $(#[$m])* $variant, )*
        }

        impl DType {
            /// Every element type, in the order of their TFLite codes.
            pub const ALL: &'static [DType] = &[$(DType::$variant),*];

            /// The type with TFLite code `code` (`TensorType` in the schema), if it is one.
            pub fn from_tflite(code: i8) -> Option<DType> {
                match code {
                    $( $code => Some(DType::$variant), )*
                    _ => None,
                }
            }

            /// The TFLite code of this type (`TensorType` in the schema).
            pub fn tflite_code(self) -> i8 {
                match self {
                    $( DType::$variant => $code, )*
                }
            }

            /// The lower-case name LiteRT and numpy use (`"float32"`, `"int8"`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $( DType::$variant => $name, )*
                }
            }

            /// Bits per element, or `None` for types without a fixed size (strings, resources,
            /// variants).
            pub fn bits(self) -> Option<u32> {
                match self {
                    $( DType::$variant => $bits, )*
                }
            }
        }
    };
}

dtypes! {
    /// 32-bit IEEE float.
    Float32 = 0, "float32", Some(32);
    /// 16-bit IEEE float.
    Float16 = 1, "float16", Some(16);
    /// 32-bit signed integer.
    Int32 = 2, "int32", Some(32);
    /// 8-bit unsigned integer.
    UInt8 = 3, "uint8", Some(8);
    /// 64-bit signed integer.
    Int64 = 4, "int64", Some(64);
    /// Variable-length strings (TFLite's packed string tensor format).
    String = 5, "string", None;
    /// Booleans, one byte each.
    Bool = 6, "bool", Some(8);
    /// 16-bit signed integer.
    Int16 = 7, "int16", Some(16);
    /// Complex number of two 32-bit floats.
    Complex64 = 8, "complex64", Some(64);
    /// 8-bit signed integer.
    Int8 = 9, "int8", Some(8);
    /// 64-bit IEEE float.
    Float64 = 10, "float64", Some(64);
    /// Complex number of two 64-bit floats.
    Complex128 = 11, "complex128", Some(128);
    /// 64-bit unsigned integer.
    UInt64 = 12, "uint64", Some(64);
    /// A resource handle (resource variables, hash tables).
    Resource = 13, "resource", None;
    /// A variant (for example a tensor list).
    Variant = 14, "variant", None;
    /// 32-bit unsigned integer.
    UInt32 = 15, "uint32", Some(32);
    /// 16-bit unsigned integer.
    UInt16 = 16, "uint16", Some(16);
    /// 4-bit signed integer, two per byte in constant data.
    Int4 = 17, "int4", Some(4);
    /// bfloat16.
    BFloat16 = 18, "bfloat16", Some(16);
    /// 2-bit signed integer, four per byte in constant data.
    Int2 = 19, "int2", Some(2);
    /// 4-bit unsigned integer, two per byte in constant data.
    UInt4 = 20, "uint4", Some(4);
    /// 8-bit float with 4 exponent and 3 mantissa bits, finite only.
    Float8E4M3FN = 21, "float8_e4m3fn", Some(8);
    /// 8-bit float with 5 exponent and 2 mantissa bits.
    Float8E5M2 = 22, "float8_e5m2", Some(8);
}

impl DType {
    /// Bytes that `elements` elements of this type take in constant data (sub-byte types are
    /// packed and rounded up to whole bytes), or `None` for types without a fixed size or on
    /// overflow.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let bits = u64::from(self.bits()?);
        Some(elements.checked_mul(bits)?.div_ceil(8))
    }

    /// Whether this is a floating-point type (including float8 and bfloat16).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::Float32
                | DType::Float16
                | DType::Float64
                | DType::BFloat16
                | DType::Float8E4M3FN
                | DType::Float8E5M2
        )
    }

    /// Whether this is an integer type (signed or unsigned, any width).
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            DType::Int32
                | DType::UInt8
                | DType::Int64
                | DType::Int16
                | DType::Int8
                | DType::UInt64
                | DType::UInt32
                | DType::UInt16
                | DType::Int4
                | DType::Int2
                | DType::UInt4
        )
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

//! Operators: typed variants for the operators tflrs runs, and a lossless opaque variant for
//! everything else.

use crate::dtype::DType;
use crate::op_table::op_table;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

macro_rules! small_enum {
    (
        $(#[$m:meta])* $name:ident {
            $( $(#[$vm:meta])* $variant:ident = $code:literal, $text:literal; )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $( $(#[$vm])* $variant, )*
        }

        impl $name {
            /// The value with TFLite code `code`, if it is one.
            pub fn from_tflite(code: i8) -> Option<Self> {
                match code {
                    $( $code => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// The TFLite code of this value.
            pub fn tflite_code(self) -> i8 {
                match self {
                    $( Self::$variant => $code, )*
                }
            }

            /// The schema's name of this value.
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )*
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

small_enum! {
    /// Padding of convolutions and pools.
    Padding {
        /// Output size `ceil(in / stride)`; pad evenly, extra at the end.
        #[default]
        Same = 0, "SAME";
        /// No padding.
        Valid = 1, "VALID";
    }
}

small_enum! {
    /// An activation fused into an operator's output.
    Activation {
        /// None.
        #[default]
        None = 0, "NONE";
        /// `max(x, 0)`.
        Relu = 1, "RELU";
        /// `clamp(x, -1, 1)`.
        ReluN1To1 = 2, "RELU_N1_TO_1";
        /// `clamp(x, 0, 6)`.
        Relu6 = 3, "RELU6";
        /// `tanh(x)`.
        Tanh = 4, "TANH";
        /// Sign bit (unused by LiteRT's kernels).
        SignBit = 5, "SIGN_BIT";
    }
}

small_enum! {
    /// Layout of `FULLY_CONNECTED` weights.
    WeightsFormat {
        /// Row-major `[out, in]`.
        #[default]
        Default = 0, "DEFAULT";
        /// The shuffled int8 layout of LiteRT's optimized kernel.
        Shuffled4x16Int8 = 1, "SHUFFLED4x16INT8";
    }
}

small_enum! {
    /// Mode of `MIRROR_PAD`.
    MirrorPadMode {
        /// Mirror without repeating the edge.
        #[default]
        Reflect = 0, "REFLECT";
        /// Mirror including the edge.
        Symmetric = 1, "SYMMETRIC";
    }
}

macro_rules! define_ops {
    (
        attrs { $(
            $(#[$am:meta])*
            $attrs:ident : $table:ident, $args:ident, $acc:ident {
                $( $(#[$fm:meta])* $field:ident : $fty:ty ),* $(,)?
            }
        )* }
        with_attrs { $( $(#[$wm:meta])* $wv:ident = $wname:ident = $wcode:literal ($wattrs:ident); )* }
        optional_attrs { $( $(#[$om:meta])* $ov:ident = $oname:ident = $ocode:literal ($oattrs:ident); )* }
        empty_options { $( $(#[$em:meta])* $ev:ident = $ename:ident = $ecode:literal [$etable:ident, $eargs:ident, $eacc:ident, $ewrite:literal]; )* }
        no_options { $( $(#[$nm:meta])* $nv:ident = $nname:ident = $ncode:literal; )* }
    ) => {
        $(
            $(#[$am])*
            ///
            /// Field names are the schema's; `Default` gives the schema's defaults.
            #[derive(Debug, Clone, PartialEq)]
            pub struct $attrs {
                $( $(#[$fm])* pub $field: $fty, )*
            }
        )*

        /// An operator with its attributes.
        ///
        /// Typed variants cover the operators tflrs runs; [`Op::Opaque`] holds any other
        /// operator (and any typed one whose encoding tflrs cannot represent faithfully)
        /// exactly as the file has it, so that no model is refused and export reproduces it.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Op<'a> {
            $( $(#[$wm])* $wv($wattrs), )*
            $( $(#[$om])* $ov(Option<$oattrs>), )*
            $( $(#[$em])* $ev, )*
            $( $(#[$nm])* $nv, )*
            /// Any other operator, kept losslessly.
            Opaque(OpaqueOp<'a>),
        }

        /// A typed operator's builtin code and name, for every typed variant of [`Op`].
        pub const TYPED_BUILTINS: &[(i32, &str)] = &[
            $( ($wcode, stringify!($wname)), )*
            $( ($ocode, stringify!($oname)), )*
            $( ($ecode, stringify!($ename)), )*
            $( ($ncode, stringify!($nname)), )*
        ];

        impl Op<'_> {
            /// The TFLite builtin operator code (`BuiltinOperator`; 32 is `CUSTOM`).
            pub fn builtin_code(&self) -> i32 {
                match self {
                    $( Op::$wv(_) => $wcode, )*
                    $( Op::$ov(_) => $ocode, )*
                    $( Op::$ev => $ecode, )*
                    $( Op::$nv => $ncode, )*
                    Op::Opaque(o) => o.builtin_code,
                }
            }

            /// The TFLite name of a typed operator (`"CONV_2D"`); `None` for [`Op::Opaque`].
            pub fn typed_name(&self) -> Option<&'static str> {
                Some(match self {
                    $( Op::$wv(_) => stringify!($wname), )*
                    $( Op::$ov(_) => stringify!($oname), )*
                    $( Op::$ev => stringify!($ename), )*
                    $( Op::$nv => stringify!($nname), )*
                    Op::Opaque(_) => return None,
                })
            }

            /// The same operator, with borrowed data copied so that it no longer borrows the
            /// model.
            pub fn into_owned(self) -> Op<'static> {
                match self {
                    $( Op::$wv(a) => Op::$wv(a), )*
                    $( Op::$ov(a) => Op::$ov(a), )*
                    $( Op::$ev => Op::$ev, )*
                    $( Op::$nv => Op::$nv, )*
                    Op::Opaque(o) => Op::Opaque(o.into_owned()),
                }
            }

            /// The typed operator with no options for `code`, if `code` is the builtin code of an
            /// operator without attributes.
            pub fn without_attrs(code: i32) -> Option<Op<'static>> {
                match code {
                    $( $ecode => Some(Op::$ev), )*
                    $( $ncode => Some(Op::$nv), )*
                    _ => None,
                }
            }
        }
    };
}

op_table!(define_ops);

impl Op<'_> {
    /// The operator's name: the TFLite builtin name (`"CONV_2D"`, also for opaque builtins the
    /// schema knows), the custom code of a custom operator, or `BUILTIN_<code>`.
    pub fn name(&self) -> Cow<'static, str> {
        if let Some(n) = self.typed_name() {
            return Cow::Borrowed(n);
        }
        match self {
            Op::Opaque(o) => o.name(),
            _ => Cow::Borrowed(""),
        }
    }

    /// Whether this is [`Op::Opaque`].
    pub fn is_opaque(&self) -> bool {
        matches!(self, Op::Opaque(_))
    }

    /// The subgraphs this operator runs (control flow), with the attribute that names each.
    /// Opaque operators report none.
    pub fn called_subgraphs(&self) -> Vec<(&'static str, i32)> {
        match self {
            Op::While(a) => alloc::vec![
                ("cond_subgraph_index", a.cond_subgraph_index),
                ("body_subgraph_index", a.body_subgraph_index),
            ],
            Op::If(a) => alloc::vec![
                ("then_subgraph_index", a.then_subgraph_index),
                ("else_subgraph_index", a.else_subgraph_index),
            ],
            Op::CallOnce(a) => alloc::vec![("init_subgraph_index", a.init_subgraph_index)],
            _ => Vec::new(),
        }
    }

    /// The activation fused into the output, for operators that have one.
    pub fn fused_activation(&self) -> Option<Activation> {
        Some(match self {
            Op::Conv2d(a) => a.fused_activation_function,
            Op::DepthwiseConv2d(a) => a.fused_activation_function,
            Op::FullyConnected(a) => a.fused_activation_function,
            Op::TransposeConv(a) => a.fused_activation_function,
            Op::Add(a) => a.fused_activation_function,
            Op::Sub(a) => a.fused_activation_function,
            Op::Mul(a) => a.fused_activation_function,
            Op::Div(a) => a.fused_activation_function,
            Op::MaxPool2d(a) | Op::AveragePool2d(a) => a.fused_activation_function,
            Op::L2Normalization(a) => a.fused_activation_function,
            Op::Concatenation(a) => a.fused_activation_function,
            Op::UnidirectionalSequenceLstm(a) => a.fused_activation_function,
            _ => return None,
        })
    }
}

/// The code of `CUSTOM` in `BuiltinOperator`.
pub const CUSTOM_CODE: i32 = 32;

/// An operator kept as the file has it: its code, its options in raw form and its custom
/// options. Export writes it back field for field.
#[derive(Debug, Clone, PartialEq)]
pub struct OpaqueOp<'a> {
    /// The builtin operator code ([`CUSTOM_CODE`] for custom operators). Codes the schema does
    /// not know are kept too.
    pub builtin_code: i32,
    /// The custom code (the custom operator's name).
    pub custom_code: Option<String>,
    /// The `builtin_options` union.
    pub options: Option<RawOptions>,
    /// The `builtin_options_2` union (StableHLO operators).
    pub options_2: Option<RawOptions>,
    /// Custom options, borrowed from the model bytes where they were read.
    pub custom_options: Option<Cow<'a, [u8]>>,
    /// Format of the custom options (0: FlexBuffers).
    pub custom_options_format: i8,
}

impl<'a> OpaqueOp<'a> {
    /// A builtin operator with no options.
    pub fn builtin(code: i32) -> Self {
        Self {
            builtin_code: code,
            custom_code: None,
            options: None,
            options_2: None,
            custom_options: None,
            custom_options_format: 0,
        }
    }

    /// A custom operator named `code` with `options` (usually a FlexBuffer).
    pub fn custom(code: impl Into<String>, options: Option<Cow<'a, [u8]>>) -> Self {
        Self {
            builtin_code: CUSTOM_CODE,
            custom_code: Some(code.into()),
            custom_options: options,
            ..Self::builtin(CUSTOM_CODE)
        }
    }

    /// The operator's name: its custom code, the schema's name of its builtin code, or
    /// `BUILTIN_<code>`.
    pub fn name(&self) -> Cow<'static, str> {
        if let Some(c) = &self.custom_code
            && self.builtin_code == CUSTOM_CODE
        {
            return Cow::Owned(c.clone());
        }
        match crate::tflite::builtin_name(self.builtin_code) {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(alloc::format!("BUILTIN_{}", self.builtin_code)),
        }
    }

    /// The same operator with its custom options copied.
    pub fn into_owned(self) -> OpaqueOp<'static> {
        OpaqueOp {
            builtin_code: self.builtin_code,
            custom_code: self.custom_code,
            options: self.options,
            options_2: self.options_2,
            custom_options: self.custom_options.map(|c| Cow::Owned(c.into_owned())),
            custom_options_format: self.custom_options_format,
        }
    }
}

/// An options table in raw form: its union type and each present field, by field id.
///
/// tflrs keeps the options of operators it does not type this way, so that export writes every
/// field the file had (including fields equal to their default) with its exact bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOptions {
    /// The union discriminant (`BuiltinOptions` or `BuiltinOptions2`).
    pub union_type: u8,
    /// The fields present in the table, by ascending field id.
    pub fields: Vec<RawField>,
}

/// One field of a [`RawOptions`] table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    /// The field id (its position in the schema's table).
    pub id: u16,
    /// Its value.
    pub value: RawValue,
}

/// The value of a raw options field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    /// A scalar or enum of `size` bytes (1, 2, 4 or 8), little-endian bits in `bits`.
    Scalar {
        /// Size in bytes.
        size: u8,
        /// The value's bits, zero-extended.
        bits: u64,
    },
    /// A string (UTF-8 as the verifier checked, kept as bytes).
    String(Vec<u8>),
    /// A vector of scalars of `elem_size` bytes each, as little-endian bytes.
    Vector {
        /// Size of one element in bytes.
        elem_size: u8,
        /// The elements' bytes.
        data: Vec<u8>,
    },
}

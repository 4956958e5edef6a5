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

/// The fused-activation accessors of an attribute struct: they read the field named
/// `fused_activation_function` when the struct has one, so that an operator added to the op
/// table with that field answers [`Op::fused_activation`] without a hand-written arm.
macro_rules! fused_activation_accessors {
    ($attrs:ident; fused_activation_function $($rest:ident)*) => {
        impl $attrs {
            fn fused_activation_field(&self) -> Option<Activation> {
                Some(self.fused_activation_function)
            }
            fn fused_activation_field_mut(&mut self) -> Option<&mut Activation> {
                Some(&mut self.fused_activation_function)
            }
        }
    };
    ($attrs:ident; $other:ident $($rest:ident)*) => {
        fused_activation_accessors!($attrs; $($rest)*);
    };
    ($attrs:ident;) => {
        impl $attrs {
            fn fused_activation_field(&self) -> Option<Activation> {
                None
            }
            fn fused_activation_field_mut(&mut self) -> Option<&mut Activation> {
                None
            }
        }
    };
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

            fused_activation_accessors!($attrs; $($field)*);

            #[cfg(test)]
            impl $attrs {
                /// The schema's options table.
                const FB_TABLE: &'static str = stringify!($table);
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

            /// The activation fused into the output, for operators whose options have a
            /// `fused_activation_function` field (for `UNIDIRECTIONAL_SEQUENCE_LSTM` it is the
            /// activation of the cell input and output). Generated from the op table.
            pub fn fused_activation(&self) -> Option<Activation> {
                match self {
                    $( Op::$wv(a) => a.fused_activation_field(), )*
                    $( Op::$ov(a) => a.as_ref().and_then(|a| a.fused_activation_field()), )*
                    $( Op::$ev => None, )*
                    $( Op::$nv => None, )*
                    Op::Opaque(_) => None,
                }
            }

            /// [`Op::fused_activation`] for changing it (a pass that fuses an activation into
            /// its producer). Generated from the op table.
            pub fn fused_activation_mut(&mut self) -> Option<&mut Activation> {
                match self {
                    $( Op::$wv(a) => a.fused_activation_field_mut(), )*
                    $( Op::$ov(a) => a.as_mut().and_then(|a| a.fused_activation_field_mut()), )*
                    $( Op::$ev => None, )*
                    $( Op::$nv => None, )*
                    Op::Opaque(_) => None,
                }
            }

            /// The schema's options table of a typed operator, `None` for operators without one.
            #[cfg(test)]
            pub(crate) fn options_table(&self) -> Option<&'static str> {
                match self {
                    $( Op::$wv(_) => Some($wattrs::FB_TABLE), )*
                    $( Op::$ov(_) => Some($oattrs::FB_TABLE), )*
                    $( Op::$ev => Some(stringify!($etable)), )*
                    $( Op::$nv => None, )*
                    Op::Opaque(_) => None,
                }
            }

            /// Every typed operator, with default attributes.
            #[cfg(test)]
            pub(crate) fn typed_defaults() -> Vec<Op<'static>> {
                alloc::vec![
                    $( Op::$wv($wattrs::default()), )*
                    $( Op::$ov(Some($oattrs::default())), )*
                    $( Op::$ev, )*
                    $( Op::$nv, )*
                ]
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
        self.call_spec().map(|c| c.callees).unwrap_or_default()
    }

    /// How a control-flow operator calls subgraphs: which ones, and where in the node's
    /// inputs the arguments start. `None` for every other operator (opaque ones included).
    pub fn call_spec(&self) -> Option<CallSpec> {
        Some(match self {
            // WHILE passes all its inputs to both the condition and the body, and its outputs
            // are the body's last results.
            Op::While(a) => CallSpec {
                callees: alloc::vec![
                    ("cond_subgraph_index", a.cond_subgraph_index),
                    ("body_subgraph_index", a.body_subgraph_index),
                ],
                arg_offset: 0,
            },
            // IF's input 0 is the condition; the rest go to the branch taken.
            Op::If(a) => CallSpec {
                callees: alloc::vec![
                    ("then_subgraph_index", a.then_subgraph_index),
                    ("else_subgraph_index", a.else_subgraph_index),
                ],
                arg_offset: 1,
            },
            // CALL_ONCE has no inputs or outputs: the init subgraph works on resources.
            Op::CallOnce(a) => CallSpec {
                callees: alloc::vec![("init_subgraph_index", a.init_subgraph_index)],
                arg_offset: 0,
            },
            _ => return None,
        })
    }

    /// Whether the operator only reinterprets its first input's shape (`RESHAPE`, `SQUEEZE`,
    /// `EXPAND_DIMS`): the output holds the input's bytes unchanged, so a runtime may let it
    /// alias the input and a pass may treat it as free.
    pub fn is_reshape_like(&self) -> bool {
        matches!(self, Op::Reshape(_) | Op::Squeeze(_) | Op::ExpandDims)
    }

    /// Whether running the node matters beyond its outputs, so that it must stay even when
    /// nothing reads them: resource variables (`VAR_HANDLE`, `READ_VARIABLE`,
    /// `ASSIGN_VARIABLE`), control flow (the callees may have effects) and opaque operators
    /// (unknown). Nodes that update variable tensors in place are a property of the node's
    /// values, not of the operator; passes check those separately.
    pub fn has_side_effects(&self) -> bool {
        matches!(
            self,
            Op::VarHandle(_)
                | Op::ReadVariable
                | Op::AssignVariable
                | Op::While(_)
                | Op::If(_)
                | Op::CallOnce(_)
                | Op::Opaque(_)
        )
    }
}

/// How a control-flow operator calls subgraphs ([`Op::call_spec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    /// The subgraphs called, with the attribute naming each, in the attributes' order (WHILE:
    /// condition, body; IF: then, else; CALL_ONCE: init). Indices are as stored, unchecked.
    pub callees: Vec<(&'static str, i32)>,
    /// Index of the first node input passed to the callees (WHILE 0, IF 1, CALL_ONCE 0).
    pub arg_offset: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's options tables that have a `fused_activation_function` field, read from
    /// the schema text itself (not from the op table under test).
    fn tables_with_activation() -> Vec<&'static str> {
        let schema = include_str!("../../tflrs-schema/schema/schema.fbs");
        let mut found = Vec::new();
        let mut rest = schema;
        while let Some(at) = rest.find("\ntable ") {
            rest = &rest[at + "\ntable ".len()..];
            let name_end = rest
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap();
            let body_end = rest.find('}').unwrap();
            if rest[..body_end].contains("fused_activation_function:") {
                found.push(&rest[..name_end]);
            }
            rest = &rest[body_end..];
        }
        found
    }

    #[test]
    fn every_op_with_a_fused_activation_field_answers_fused_activation() {
        let tables = tables_with_activation();
        // The schema has 20 such tables; tflrs types 15 of them (18 operators).
        assert!(tables.len() >= 18, "{tables:?}");
        let mut typed_with_activation = 0;
        for mut op in Op::typed_defaults() {
            let has_field = op.options_table().is_some_and(|t| tables.contains(&t));
            assert_eq!(
                op.fused_activation().is_some(),
                has_field,
                "{} ({:?})",
                op.name(),
                op.options_table()
            );
            assert_eq!(op.fused_activation_mut().is_some(), has_field);
            if let Some(a) = op.fused_activation_mut() {
                *a = Activation::Relu6;
                assert_eq!(op.fused_activation(), Some(Activation::Relu6));
                typed_with_activation += 1;
            }
        }
        assert_eq!(typed_with_activation, 18);
    }

    #[test]
    fn typed_defaults_cover_every_typed_builtin() {
        let codes: Vec<i32> = Op::typed_defaults().iter().map(Op::builtin_code).collect();
        let expected: Vec<i32> = TYPED_BUILTINS.iter().map(|&(c, _)| c).collect();
        assert_eq!(codes, expected);
    }

    #[test]
    fn call_specs() {
        let w = Op::While(WhileAttrs {
            cond_subgraph_index: 1,
            body_subgraph_index: 2,
        });
        let spec = w.call_spec().unwrap();
        assert_eq!(spec.arg_offset, 0);
        assert_eq!(
            spec.callees,
            [("cond_subgraph_index", 1), ("body_subgraph_index", 2)]
        );
        let i = Op::If(IfAttrs {
            then_subgraph_index: 3,
            else_subgraph_index: 4,
        });
        assert_eq!(i.call_spec().unwrap().arg_offset, 1);
        assert_eq!(
            i.called_subgraphs(),
            [("then_subgraph_index", 3), ("else_subgraph_index", 4)]
        );
        let c = Op::CallOnce(CallOnceAttrs {
            init_subgraph_index: 5,
        });
        assert_eq!(
            c.call_spec(),
            Some(CallSpec {
                callees: alloc::vec![("init_subgraph_index", 5)],
                arg_offset: 0
            })
        );
        let others: Vec<_> = Op::typed_defaults()
            .into_iter()
            .filter(|op| op.call_spec().is_some())
            .map(|op| op.name())
            .collect();
        assert_eq!(others, ["WHILE", "IF", "CALL_ONCE"]);
        assert_eq!(Op::Opaque(OpaqueOp::builtin(200)).call_spec(), None);
    }

    #[test]
    fn reshape_like_ops() {
        let names: Vec<_> = Op::typed_defaults()
            .into_iter()
            .filter(Op::is_reshape_like)
            .map(|op| op.name())
            .collect();
        assert_eq!(names, ["SQUEEZE", "RESHAPE", "EXPAND_DIMS"]);
    }
}

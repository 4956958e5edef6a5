//! Typed operators to and from their FlatBuffer options, generated from the op table.

use crate::dtype::DType;
use crate::op_table::op_table;
use crate::ops::*;
use alloc::string::String;
use alloc::vec::Vec;
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, Vector, WIPOffset};
use tflrs_schema::generated as fb;

/// A typed attribute field: how it is read from and written to its FlatBuffer field.
pub(crate) trait FbField: Sized {
    /// What the generated accessor returns.
    type Read<'b>;
    /// What the generated `Args` struct takes.
    type Write<'f>;
    /// The attribute, or `None` when the stored value has no typed equivalent.
    fn read(r: Self::Read<'_>) -> Option<Self>;
    /// Writes the attribute (vectors and strings go into the builder first).
    fn write<'f>(&self, fbb: &mut FlatBufferBuilder<'f>) -> Self::Write<'f>;
    /// The attribute for the schema default in `Args::default()`.
    fn from_default(w: Self::Write<'_>) -> Self;
}

macro_rules! plain_field {
    ($($t:ty),*) => {$(
        impl FbField for $t {
            type Read<'b> = $t;
            type Write<'f> = $t;
            fn read(r: $t) -> Option<Self> {
                Some(r)
            }
            fn write<'f>(&self, _: &mut FlatBufferBuilder<'f>) -> $t {
                *self
            }
            fn from_default(w: $t) -> Self {
                w
            }
        }
    )*};
}

plain_field!(i32, f32, bool);

macro_rules! enum_field {
    ($($t:ty => $fb:path),*) => {$(
        impl FbField for $t {
            type Read<'b> = $fb;
            type Write<'f> = $fb;
            fn read(r: $fb) -> Option<Self> {
                <$t>::from_tflite(r.0)
            }
            fn write<'f>(&self, _: &mut FlatBufferBuilder<'f>) -> $fb {
                $fb(self.tflite_code())
            }
            fn from_default(w: $fb) -> Self {
                <$t>::from_tflite(w.0).unwrap_or_default()
            }
        }
    )*};
}

enum_field!(
    Padding => fb::Padding,
    Activation => fb::ActivationFunctionType,
    WeightsFormat => fb::FullyConnectedOptionsWeightsFormat,
    MirrorPadMode => fb::MirrorPadMode
);

impl FbField for DType {
    type Read<'b> = fb::TensorType;
    type Write<'f> = fb::TensorType;
    fn read(r: fb::TensorType) -> Option<Self> {
        DType::from_tflite(r.0)
    }
    fn write<'f>(&self, _: &mut FlatBufferBuilder<'f>) -> fb::TensorType {
        fb::TensorType(self.tflite_code())
    }
    fn from_default(w: fb::TensorType) -> Self {
        DType::from_tflite(w.0).unwrap_or(DType::Float32)
    }
}

impl FbField for Option<Vec<i32>> {
    type Read<'b> = Option<Vector<'b, i32>>;
    type Write<'f> = Option<WIPOffset<Vector<'f, i32>>>;
    fn read(r: Self::Read<'_>) -> Option<Self> {
        Some(r.map(|v| v.iter().collect()))
    }
    fn write<'f>(&self, fbb: &mut FlatBufferBuilder<'f>) -> Self::Write<'f> {
        self.as_ref().map(|v| fbb.create_vector(v))
    }
    fn from_default(_: Self::Write<'_>) -> Self {
        None
    }
}

impl FbField for Option<Vec<f32>> {
    type Read<'b> = Option<Vector<'b, f32>>;
    type Write<'f> = Option<WIPOffset<Vector<'f, f32>>>;
    fn read(r: Self::Read<'_>) -> Option<Self> {
        Some(r.map(|v| v.iter().collect()))
    }
    fn write<'f>(&self, fbb: &mut FlatBufferBuilder<'f>) -> Self::Write<'f> {
        self.as_ref().map(|v| fbb.create_vector(v))
    }
    fn from_default(_: Self::Write<'_>) -> Self {
        None
    }
}

impl FbField for Option<String> {
    type Read<'b> = Option<&'b str>;
    type Write<'f> = Option<WIPOffset<&'f str>>;
    fn read(r: Option<&str>) -> Option<Self> {
        Some(r.map(String::from))
    }
    fn write<'f>(&self, fbb: &mut FlatBufferBuilder<'f>) -> Self::Write<'f> {
        self.as_ref().map(|s| fbb.create_string(s))
    }
    fn from_default(_: Self::Write<'_>) -> Self {
        None
    }
}

/// An attribute struct with its options table.
pub(crate) trait FbAttrs: Sized {
    /// The attributes of `op`, if its options are this table and every field has a typed value.
    fn read(op: &fb::Operator<'_>) -> Option<Self>;
    /// Writes the options table.
    fn write(
        &self,
        fbb: &mut FlatBufferBuilder<'_>,
    ) -> (fb::BuiltinOptions, WIPOffset<UnionWIPOffset>);
}

macro_rules! define_fb {
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
            impl FbAttrs for $attrs {
                fn read(op: &fb::Operator<'_>) -> Option<Self> {
                    let o = op.$acc()?;
                    Some(Self { $( $field: <$fty as FbField>::read(o.$field())?, )* })
                }

                fn write(
                    &self,
                    fbb: &mut FlatBufferBuilder<'_>,
                ) -> (fb::BuiltinOptions, WIPOffset<UnionWIPOffset>) {
                    $( let $field = <$fty as FbField>::write(&self.$field, fbb); )*
                    let t = fb::$table::create(fbb, &fb::$args { $( $field, )* });
                    (fb::BuiltinOptions::$table, t.as_union_value())
                }
            }

            impl Default for $attrs {
                /// The schema's defaults.
                fn default() -> Self {
                    let a = fb::$args::default();
                    Self { $( $field: <$fty as FbField>::from_default(a.$field), )* }
                }
            }
        )*

        /// The typed operator for builtin `code` with the options of `op`, if `op`'s options
        /// are exactly what the typed variant represents.
        pub(crate) fn read_typed(op: &fb::Operator<'_>, code: i32) -> Option<Op<'static>> {
            let none = op.builtin_options_type() == fb::BuiltinOptions::NONE;
            match code {
                $( $wcode => <$wattrs as FbAttrs>::read(op).map(Op::$wv), )*
                $( $ocode => if none {
                    Some(Op::$ov(None))
                } else {
                    <$oattrs as FbAttrs>::read(op).map(|a| Op::$ov(Some(a)))
                }, )*
                // A table without fields carries nothing: absent and empty are the same.
                $( $ecode => (none || op.$eacc().is_some()).then_some(Op::$ev), )*
                $( $ncode => none.then_some(Op::$nv), )*
                _ => None,
            }
        }

        /// Writes the options of a typed operator; `None` for [`Op::Opaque`].
        pub(crate) fn write_typed(
            op: &Op<'_>,
            fbb: &mut FlatBufferBuilder<'_>,
        ) -> Option<(fb::BuiltinOptions, Option<WIPOffset<UnionWIPOffset>>)> {
            Some(match op {
                $( Op::$wv(a) => {
                    let (t, o) = a.write(fbb);
                    (t, Some(o))
                } )*
                $( Op::$ov(Some(a)) => {
                    let (t, o) = a.write(fbb);
                    (t, Some(o))
                } )*
                $( Op::$ov(None) => (fb::BuiltinOptions::NONE, None), )*
                $( Op::$ev => {
                    if $ewrite {
                        let o = fb::$etable::create(fbb, &fb::$eargs {});
                        (fb::BuiltinOptions::$etable, Some(o.as_union_value()))
                    } else {
                        (fb::BuiltinOptions::NONE, None)
                    }
                } )*
                $( Op::$nv => (fb::BuiltinOptions::NONE, None), )*
                Op::Opaque(_) => return None,
            })
        }

        // The codes in the op table are the schema's.
        const _: () = {
            $( assert!(fb::BuiltinOperator::$wname.0 == $wcode); )*
            $( assert!(fb::BuiltinOperator::$oname.0 == $ocode); )*
            $( assert!(fb::BuiltinOperator::$ename.0 == $ecode); )*
            $( assert!(fb::BuiltinOperator::$nname.0 == $ncode); )*
        };
    };
}

op_table!(define_fb);

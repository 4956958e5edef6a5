//! `.tflite` import and export: the only module that touches the generated FlatBuffers types.

mod export;
mod import;
#[rustfmt::skip]
pub(crate) mod layout;
pub(crate) mod raw;
mod typed;
mod version;

pub use export::{DATA_ALIGNMENT, DEFAULT_OFFSET_THRESHOLD, ExportOptions, export, export_with};
pub use import::import;
pub use version::min_version;

use tflrs_schema::generated as fb;

/// The schema's name of builtin operator `code` (`"CONV_2D"`), if the schema knows it.
pub fn builtin_name(code: i32) -> Option<&'static str> {
    fb::BuiltinOperator(code).variant_name()
}

/// The schema's name of options table `union_type` of union `BuiltinOptions` (or
/// `BuiltinOptions2` when `second` is set), if the schema knows it.
pub fn options_table_name(union_type: u8, second: bool) -> Option<&'static str> {
    let union = if second {
        raw::Union::Builtin2
    } else {
        raw::Union::Builtin
    };
    raw::table_name(union, union_type)
}

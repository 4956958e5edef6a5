//! Options tables in raw form: read any options table field by field using the layout
//! generated from the schema, and write it back with the same fields and bits.

use super::layout;
use crate::ops::{RawField, RawOptions, RawValue};
use alloc::vec::Vec;
use flatbuffers::{FlatBufferBuilder, Table, UnionWIPOffset, WIPOffset};

/// The kind of one field of an options table.
// The schema has no 2-byte option fields today; the layout generator may emit them tomorrow.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    S1,
    S2,
    S4,
    S8,
    Str,
    V1,
    V2,
    V4,
    V8,
}

/// Which options union a raw table belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Union {
    /// `BuiltinOptions`.
    Builtin,
    /// `BuiltinOptions2`.
    Builtin2,
}

fn layout_of(union: Union, union_type: u8) -> Option<&'static [FieldKind]> {
    let table = match union {
        Union::Builtin => layout::BUILTIN_OPTIONS,
        Union::Builtin2 => layout::BUILTIN_OPTIONS_2,
    };
    table.get(usize::from(union_type)).map(|(_, kinds)| *kinds)
}

/// The schema's name of an options table (`"Conv2DOptions"`).
pub(crate) fn table_name(union: Union, union_type: u8) -> Option<&'static str> {
    let table = match union {
        Union::Builtin => layout::BUILTIN_OPTIONS,
        Union::Builtin2 => layout::BUILTIN_OPTIONS_2,
    };
    table.get(usize::from(union_type)).map(|(name, _)| *name)
}

/// Why a raw table could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawError {
    /// The union type is not one the schema knows.
    UnknownType,
    /// A field points outside the buffer (cannot happen in a verified buffer).
    OutOfBounds,
}

fn read_u32(buf: &[u8], pos: usize) -> Result<u32, RawError> {
    let end = pos.checked_add(4).ok_or(RawError::OutOfBounds)?;
    let b = buf.get(pos..end).ok_or(RawError::OutOfBounds)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads the table `table` of union `union` with discriminant `union_type`, keeping every field
/// the schema knows that is present in the table. Fields from a newer schema are not kept.
pub(crate) fn read(union: Union, union_type: u8, table: Table<'_>) -> Result<RawOptions, RawError> {
    let kinds = layout_of(union, union_type).ok_or(RawError::UnknownType)?;
    let buf = table.buf();
    let loc = table.loc();
    let vtable = table.vtable();
    let mut fields = Vec::new();
    for (id, &kind) in kinds.iter().enumerate() {
        let slot = 4 + 2 * id as u16;
        let off = vtable.get(slot);
        if off == 0 {
            continue;
        }
        let pos = loc
            .checked_add(usize::from(off))
            .ok_or(RawError::OutOfBounds)?;
        let scalar = |size: usize| -> Result<RawValue, RawError> {
            let end = pos.checked_add(size).ok_or(RawError::OutOfBounds)?;
            let b = buf.get(pos..end).ok_or(RawError::OutOfBounds)?;
            let mut bytes = [0u8; 8];
            bytes[..size].copy_from_slice(b);
            Ok(RawValue::Scalar {
                size: size as u8,
                bits: u64::from_le_bytes(bytes),
            })
        };
        let vector = |elem: usize| -> Result<Vec<u8>, RawError> {
            let target = pos
                .checked_add(read_u32(buf, pos)? as usize)
                .ok_or(RawError::OutOfBounds)?;
            let len = read_u32(buf, target)? as usize;
            let bytes = len.checked_mul(elem).ok_or(RawError::OutOfBounds)?;
            let start = target.checked_add(4).ok_or(RawError::OutOfBounds)?;
            let end = start.checked_add(bytes).ok_or(RawError::OutOfBounds)?;
            Ok(buf.get(start..end).ok_or(RawError::OutOfBounds)?.to_vec())
        };
        let value = match kind {
            FieldKind::S1 => scalar(1)?,
            FieldKind::S2 => scalar(2)?,
            FieldKind::S4 => scalar(4)?,
            FieldKind::S8 => scalar(8)?,
            FieldKind::Str => RawValue::String(vector(1)?),
            FieldKind::V1 => RawValue::Vector {
                elem_size: 1,
                data: vector(1)?,
            },
            FieldKind::V2 => RawValue::Vector {
                elem_size: 2,
                data: vector(2)?,
            },
            FieldKind::V4 => RawValue::Vector {
                elem_size: 4,
                data: vector(4)?,
            },
            FieldKind::V8 => RawValue::Vector {
                elem_size: 8,
                data: vector(8)?,
            },
        };
        fields.push(RawField {
            id: id as u16,
            value,
        });
    }
    Ok(RawOptions { union_type, fields })
}

/// Why a raw table could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawWriteError {
    /// The union type is not one the schema knows.
    UnknownType,
    /// Field `id` does not exist in the table, does not have the kind its value has, or is
    /// not in ascending order.
    BadField(u16),
}

/// Writes `raw` as a table of union `union`.
pub(crate) fn write<'f>(
    fbb: &mut FlatBufferBuilder<'f>,
    union: Union,
    raw: &RawOptions,
) -> Result<WIPOffset<UnionWIPOffset>, RawWriteError> {
    let kinds = layout_of(union, raw.union_type).ok_or(RawWriteError::UnknownType)?;
    // Vectors and strings must be written before the table that refers to them.
    let mut offsets: Vec<Option<u32>> = Vec::with_capacity(raw.fields.len());
    for (i, f) in raw.fields.iter().enumerate() {
        if i > 0 && raw.fields[i - 1].id >= f.id {
            return Err(RawWriteError::BadField(f.id));
        }
        let kind = *kinds
            .get(usize::from(f.id))
            .ok_or(RawWriteError::BadField(f.id))?;
        let off = match (&f.value, kind) {
            (RawValue::Scalar { size, .. }, k) => {
                let want = match k {
                    FieldKind::S1 => 1,
                    FieldKind::S2 => 2,
                    FieldKind::S4 => 4,
                    FieldKind::S8 => 8,
                    _ => return Err(RawWriteError::BadField(f.id)),
                };
                if *size != want {
                    return Err(RawWriteError::BadField(f.id));
                }
                None
            }
            (RawValue::String(s), FieldKind::Str) => Some(fbb.create_byte_string(s).value()),
            (RawValue::Vector { elem_size, data }, k) => {
                let want = match k {
                    FieldKind::V1 => 1,
                    FieldKind::V2 => 2,
                    FieldKind::V4 => 4,
                    FieldKind::V8 => 8,
                    _ => return Err(RawWriteError::BadField(f.id)),
                };
                if *elem_size != want || data.len() % usize::from(want) != 0 {
                    return Err(RawWriteError::BadField(f.id));
                }
                Some(match want {
                    1 => fbb.create_vector(data.as_slice()).value(),
                    2 => {
                        let v: Vec<u16> = data
                            .chunks_exact(2)
                            .map(|c| u16::from_le_bytes([c[0], c[1]]))
                            .collect();
                        fbb.create_vector(&v).value()
                    }
                    4 => {
                        let v: Vec<u32> = data
                            .chunks_exact(4)
                            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect();
                        fbb.create_vector(&v).value()
                    }
                    _ => {
                        let v: Vec<u64> = data
                            .chunks_exact(8)
                            .map(|c| {
                                u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                            })
                            .collect();
                        fbb.create_vector(&v).value()
                    }
                })
            }
            _ => return Err(RawWriteError::BadField(f.id)),
        };
        offsets.push(off);
    }
    let start = fbb.start_table();
    for (f, off) in raw.fields.iter().zip(&offsets) {
        let slot = 4 + 2 * f.id;
        match (&f.value, off) {
            (_, Some(off)) => {
                fbb.push_slot_always::<WIPOffset<UnionWIPOffset>>(slot, WIPOffset::new(*off));
            }
            (RawValue::Scalar { size, bits }, None) => match size {
                1 => fbb.push_slot_always::<u8>(slot, *bits as u8),
                2 => fbb.push_slot_always::<u16>(slot, *bits as u16),
                4 => fbb.push_slot_always::<u32>(slot, *bits as u32),
                _ => fbb.push_slot_always::<u64>(slot, *bits),
            },
            _ => {}
        }
    }
    Ok(fbb.end_table(start).as_union_value())
}

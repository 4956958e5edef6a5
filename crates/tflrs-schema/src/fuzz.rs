//! Fuzz entry points.
//!
//! The cargo-fuzz targets in `fuzz/` are thin wrappers over these functions, so that the same
//! logic builds on stable and the corpus and regression files replay in an ordinary
//! `cargo test`.

use crate::Model;

/// Loads arbitrary bytes as a model and, when they verify, reads every part of the model that
/// later stages read: this must never panic, hang or read out of bounds.
pub fn load_model(data: &[u8]) {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    let mut sink = 0u64;
    for code in model.operator_codes().iter() {
        sink = sink.wrapping_add(Model::builtin_code(&code).0 as u64);
        sink = sink.wrapping_add(code.custom_code().map_or(0, str::len) as u64);
    }
    for i in 0..model.root().buffers().map_or(0, |b| b.len()) {
        sink = sink.wrapping_add(model.buffer_data(i as u32).len() as u64);
    }
    for sg in model.subgraphs().iter() {
        for t in sg.tensors().unwrap_or_default().iter() {
            for d in t.shape().unwrap_or_default().iter() {
                sink = sink.wrapping_add(d as u64);
            }
            if let Some(data) = model.tensor_data(&t) {
                sink = sink.wrapping_add(data.first().copied().unwrap_or(0).into());
                sink = sink.wrapping_add(data.last().copied().unwrap_or(0).into());
            }
            if let Some(q) = t.quantization() {
                for s in q.scale().unwrap_or_default().iter() {
                    sink = sink.wrapping_add(s.to_bits().into());
                }
                for z in q.zero_point().unwrap_or_default().iter() {
                    sink = sink.wrapping_add(z as u64);
                }
            }
        }
        for op in sg.operators().unwrap_or_default().iter() {
            let code = model.operator_codes().get(op.opcode_index() as usize);
            sink = sink.wrapping_add(Model::builtin_code(&code).0 as u64);
            sink = sink.wrapping_add(model.custom_options(&op).map_or(0, <[u8]>::len) as u64);
            crate::for_each_called_subgraph(&op, |_, s| {
                let sg = model.subgraphs().get(s as usize);
                sink = sink.wrapping_add(sg.tensors().map_or(0, |t| t.len()) as u64);
            });
        }
    }
    core::hint::black_box(sink);
}

/// Structured mutations of a valid model, for seed corpora and replay tests.
///
/// Each mutation overwrites one field that the semantic checks guard (a shape dimension, a
/// tensor or buffer index, an operator input, an opcode index, a builtin code, a vector length
/// of quantization or buffer data) with a hostile value, leaving the rest of the file intact.
/// At most `limit` mutations are returned; the order is deterministic.
pub fn structured_mutations(model: &[u8], limit: usize) -> alloc::vec::Vec<alloc::vec::Vec<u8>> {
    use crate::generated as fb;
    use alloc::vec::Vec;

    let mut out: Vec<Vec<u8>> = Vec::new();
    let Ok(m) = Model::from_bytes(model) else {
        return out;
    };
    let base = model.as_ptr() as usize;
    // Position of a vector's length prefix in the file.
    let vec_len_pos = |bytes: &[u8]| (bytes.as_ptr() as usize - base).checked_sub(4);
    // Position of a scalar field of a table, if present.
    let field_pos = |tab: &flatbuffers::Table<'_>, voffset: flatbuffers::VOffsetT| {
        let o = tab.vtable().get(voffset);
        (o != 0).then(|| tab.loc() + o as usize)
    };
    let mut patch = |pos: Option<usize>, value: &[u8]| {
        if out.len() >= limit {
            return;
        }
        if let Some(pos) = pos
            && pos + value.len() <= model.len()
        {
            let mut v = model.to_vec();
            v[pos..pos + value.len()].copy_from_slice(value);
            out.push(v);
        }
    };
    const DIMS: [i32; 4] = [-1, 0, i32::MAX, 1 << 20];
    const INDICES: [i32; 3] = [-2, 1 << 16, i32::MAX];
    let root = m.root();
    for code in m.operator_codes().iter() {
        let tab = code._tab;
        for v in [-1i32, 9_999] {
            patch(
                field_pos(&tab, fb::OperatorCode::VT_BUILTIN_CODE),
                &v.to_le_bytes(),
            );
        }
    }
    if let Some(buffers) = root.buffers() {
        for b in buffers.iter() {
            if let Some(d) = b.data().filter(|d| !d.is_empty()) {
                let shorter = (d.len() as u32 - 1).to_le_bytes();
                patch(vec_len_pos(d.bytes()), &shorter);
            }
            patch(
                field_pos(&b._tab, fb::Buffer::VT_OFFSET),
                &u64::MAX.to_le_bytes(),
            );
        }
    }
    for sg in m.subgraphs().iter() {
        for t in sg.tensors().unwrap_or_default().iter() {
            if let Some(shape) = t.shape() {
                let start = shape.bytes().as_ptr() as usize - base;
                for axis in 0..shape.len() {
                    for d in DIMS {
                        patch(Some(start + 4 * axis), &d.to_le_bytes());
                    }
                }
            }
            for v in INDICES {
                patch(field_pos(&t._tab, fb::Tensor::VT_BUFFER), &v.to_le_bytes());
            }
            if let Some(q) = t.quantization() {
                if let Some(s) = q.scale().filter(|s| !s.is_empty()) {
                    patch(vec_len_pos(s.bytes()), &(s.len() as u32 - 1).to_le_bytes());
                }
                for axis in [-1i32, 7] {
                    patch(
                        field_pos(&q._tab, fb::QuantizationParameters::VT_QUANTIZED_DIMENSION),
                        &axis.to_le_bytes(),
                    );
                }
            }
        }
        for op in sg.operators().unwrap_or_default().iter() {
            for v in INDICES {
                patch(
                    field_pos(&op._tab, fb::Operator::VT_OPCODE_INDEX),
                    &v.to_le_bytes(),
                );
            }
            for io in [op.inputs(), op.outputs()].into_iter().flatten() {
                let start = io.bytes().as_ptr() as usize - base;
                for i in 0..io.len() {
                    for v in INDICES {
                        patch(Some(start + 4 * i), &v.to_le_bytes());
                    }
                }
            }
        }
        for io in [sg.inputs(), sg.outputs()].into_iter().flatten() {
            let start = io.bytes().as_ptr() as usize - base;
            for i in 0..io.len() {
                patch(Some(start + 4 * i), &(1i32 << 16).to_le_bytes());
            }
        }
    }
    out
}

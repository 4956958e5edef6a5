//! Verified, zero-copy access to a `.tflite` model.

use crate::error::{IndexKind, LoadError, Location, QuantProblem, ShapeSummary};
use crate::generated as fb;
use alloc::vec::Vec;

/// Bounds that [`Model::from_bytes_with_limits`] enforces before it trusts a file.
///
/// The defaults accept every model LiteRT's own converter makes (including ones over 2 GB with
/// offset buffers) while bounding the verifier's work on hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// Largest accepted file, in bytes.
    pub max_file_bytes: usize,
    /// Largest number of subgraphs.
    pub max_subgraphs: usize,
    /// Largest number of FlatBuffer tables the verifier visits.
    pub max_tables: usize,
    /// Deepest nesting of FlatBuffer tables the verifier follows.
    pub max_depth: usize,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: usize::MAX,
            max_subgraphs: 65_536,
            max_tables: 10_000_000,
            max_depth: 64,
        }
    }
}

/// A verified `.tflite` model, borrowing its bytes.
///
/// Construction checks everything that later stages index by: after [`Model::from_bytes`]
/// succeeds, every tensor, buffer, operator code and subgraph index in the model is in range,
/// every constant tensor's data lies inside the file and is at least as long as its shape and
/// type need, shapes have no negative dimensions and no overflowing element counts, quantization
/// arrays have consistent lengths, and subgraphs do not call themselves.
#[derive(Clone, Copy)]
pub struct Model<'a> {
    bytes: &'a [u8],
    root: fb::Model<'a>,
}

impl core::fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model")
            .field("bytes", &self.bytes.len())
            .field("version", &self.root.version())
            .field("subgraphs", &self.root.subgraphs().map_or(0, |s| s.len()))
            .finish()
    }
}

/// The schema version tflrs reads and writes.
pub const SCHEMA_VERSION: u32 = 3;

/// The FlatBuffer file identifier of `.tflite` files.
pub const FILE_IDENTIFIER: &[u8; 4] = b"TFL3";

impl<'a> Model<'a> {
    /// Verifies `bytes` as a `.tflite` model with the default [`LoadLimits`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, LoadError> {
        Self::from_bytes_with_limits(bytes, &LoadLimits::default())
    }

    /// Verifies `bytes` as a `.tflite` model within `limits`.
    pub fn from_bytes_with_limits(bytes: &'a [u8], limits: &LoadLimits) -> Result<Self, LoadError> {
        if bytes.len() > limits.max_file_bytes {
            return Err(LoadError::TooLarge {
                len: bytes.len(),
                limit: limits.max_file_bytes,
            });
        }
        if bytes.len() < 8 {
            return Err(LoadError::TooShort { len: bytes.len() });
        }
        let found = [bytes[4], bytes[5], bytes[6], bytes[7]];
        if &found != FILE_IDENTIFIER {
            return Err(LoadError::BadIdentifier { found });
        }
        let opts = flatbuffers::VerifierOptions {
            max_depth: limits.max_depth,
            max_tables: limits.max_tables,
            ..Default::default()
        };
        let root = flatbuffers::root_with_opts::<fb::Model<'a>>(&opts, bytes)?;
        let model = Self { bytes, root };
        model.check(limits)?;
        Ok(model)
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The generated FlatBuffer view of the model's root table.
    pub fn root(&self) -> fb::Model<'a> {
        self.root
    }

    /// The subgraphs (at least one: the main subgraph is index 0).
    pub fn subgraphs(
        &self,
    ) -> flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<fb::SubGraph<'a>>> {
        // `check` refused models without subgraphs.
        self.root.subgraphs().unwrap_or_default()
    }

    /// The operator codes.
    pub fn operator_codes(
        &self,
    ) -> flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<fb::OperatorCode<'a>>> {
        self.root.operator_codes().unwrap_or_default()
    }

    /// The bytes of buffer `index`; empty for the sentinel buffer 0, buffers without data, and
    /// indices out of range (which a verified model does not contain).
    pub fn buffer_data(&self, index: u32) -> &'a [u8] {
        let Some(buffers) = self.root.buffers() else {
            return &[];
        };
        if index == 0 || index as usize >= buffers.len() {
            return &[];
        }
        buffer_bytes(self.bytes, buffers.get(index as usize)).unwrap_or(&[])
    }

    /// The constant data of a tensor, or `None` when the tensor has no data (it is computed,
    /// an input or a variable).
    pub fn tensor_data(&self, tensor: &fb::Tensor<'a>) -> Option<&'a [u8]> {
        let data = self.buffer_data(tensor.buffer());
        (!data.is_empty()).then_some(data)
    }

    /// The custom options of an operator, whether inline or stored after the FlatBuffer.
    pub fn custom_options(&self, op: &fb::Operator<'a>) -> Option<&'a [u8]> {
        if let Some(v) = op.custom_options() {
            return Some(v.bytes());
        }
        let (offset, size) = (
            op.large_custom_options_offset(),
            op.large_custom_options_size(),
        );
        if offset > 1 {
            return file_range(self.bytes, offset, size);
        }
        None
    }

    /// The builtin operator of an operator code (the larger of the current and the deprecated
    /// field, as LiteRT reads it).
    pub fn builtin_code(code: &fb::OperatorCode<'_>) -> fb::BuiltinOperator {
        builtin_code(code)
    }

    fn check(&self, limits: &LoadLimits) -> Result<(), LoadError> {
        let root = self.root;
        if root.version() != SCHEMA_VERSION {
            return Err(LoadError::UnsupportedVersion {
                version: root.version(),
            });
        }
        let subgraphs = root.subgraphs().ok_or(LoadError::Missing {
            what: "subgraphs",
            at: Location::MODEL,
        })?;
        if subgraphs.is_empty() {
            return Err(LoadError::Missing {
                what: "a main subgraph",
                at: Location::MODEL,
            });
        }
        if subgraphs.len() > limits.max_subgraphs {
            return Err(LoadError::LimitExceeded {
                what: "number of subgraphs",
                count: subgraphs.len(),
                limit: limits.max_subgraphs,
            });
        }
        let buffers = root.buffers().unwrap_or_default();
        for (i, buffer) in buffers.iter().enumerate() {
            if buffer.offset() > 1 && buffer.data().is_some_and(|d| !d.is_empty()) {
                return Err(LoadError::BufferAmbiguous { buffer: i });
            }
            if buffer.offset() > 1
                && file_range(self.bytes, buffer.offset(), buffer.size()).is_none()
            {
                return Err(LoadError::BufferOutsideFile {
                    buffer: i,
                    offset: buffer.offset(),
                    size: buffer.size(),
                    file_len: self.bytes.len(),
                });
            }
        }
        let codes = root.operator_codes().unwrap_or_default();
        for (index, code) in codes.iter().enumerate() {
            // LiteRT refuses codes below its first builtin; codes above its last are kept
            // (an operator from a newer schema) and fail only when no kernel runs them.
            let code = builtin_code(&code).0;
            if code < 0 {
                return Err(LoadError::BadBuiltinCode { index, code });
            }
        }
        let n_codes = codes.len();
        for (s, sg) in subgraphs.iter().enumerate() {
            self.check_subgraph(s, &sg, buffers.len(), n_codes, subgraphs.len())?;
        }
        for (i, m) in root.metadata().unwrap_or_default().iter().enumerate() {
            check_index(
                "metadata buffer",
                IndexKind::Buffer,
                i64::from(m.buffer()),
                buffers.len(),
                Location::MODEL,
            )
            .map_err(|e| with_what(e, "metadata entry's buffer", i))?;
        }
        for b in root.metadata_buffer().unwrap_or_default().iter() {
            check_index(
                "metadata_buffer entry",
                IndexKind::Buffer,
                i64::from(b),
                buffers.len(),
                Location::MODEL,
            )?;
        }
        for sig in root.signature_defs().unwrap_or_default().iter() {
            let s = sig.subgraph_index() as usize;
            check_index(
                "signature's subgraph_index",
                IndexKind::Subgraph,
                i64::from(sig.subgraph_index()),
                subgraphs.len(),
                Location::MODEL,
            )?;
            let n_tensors = subgraphs.get(s).tensors().map_or(0, |t| t.len());
            for map in sig
                .inputs()
                .unwrap_or_default()
                .iter()
                .chain(sig.outputs().unwrap_or_default().iter())
            {
                check_index(
                    "signature tensor_index",
                    IndexKind::Tensor,
                    i64::from(map.tensor_index()),
                    n_tensors,
                    Location::subgraph(s),
                )?;
            }
        }
        check_subgraph_calls(self)
    }

    fn check_subgraph(
        &self,
        s: usize,
        sg: &fb::SubGraph<'a>,
        n_buffers: usize,
        n_codes: usize,
        n_subgraphs: usize,
    ) -> Result<(), LoadError> {
        let tensors = sg.tensors().unwrap_or_default();
        let n_tensors = tensors.len();
        for (t, tensor) in tensors.iter().enumerate() {
            let at = Location::tensor(s, t);
            self.check_tensor(&tensor, at, n_buffers)?;
        }
        for idx in sg.inputs().unwrap_or_default().iter() {
            check_index(
                "subgraph input",
                IndexKind::Tensor,
                i64::from(idx),
                n_tensors,
                Location::subgraph(s),
            )?;
        }
        for idx in sg.outputs().unwrap_or_default().iter() {
            check_index(
                "subgraph output",
                IndexKind::Tensor,
                i64::from(idx),
                n_tensors,
                Location::subgraph(s),
            )?;
        }
        for (o, op) in sg.operators().unwrap_or_default().iter().enumerate() {
            let at = Location::operator(s, o);
            check_index(
                "opcode_index",
                IndexKind::OperatorCode,
                i64::from(op.opcode_index()),
                n_codes,
                at,
            )?;
            // -1 marks an omitted optional input, as in LiteRT.
            for idx in op.inputs().unwrap_or_default().iter() {
                if idx != -1 {
                    check_index(
                        "operator input",
                        IndexKind::Tensor,
                        i64::from(idx),
                        n_tensors,
                        at,
                    )?;
                }
            }
            for idx in op.outputs().unwrap_or_default().iter() {
                check_index(
                    "operator output",
                    IndexKind::Tensor,
                    i64::from(idx),
                    n_tensors,
                    at,
                )?;
            }
            for idx in op.intermediates().unwrap_or_default().iter() {
                check_index(
                    "operator intermediate",
                    IndexKind::Tensor,
                    i64::from(idx),
                    n_tensors,
                    at,
                )?;
            }
            check_union(
                "builtin_options",
                op.builtin_options_type().0,
                fb::BuiltinOptions::ENUM_MAX,
                at,
            )?;
            check_union(
                "builtin_options_2",
                op.builtin_options_2_type().0,
                fb::BuiltinOptions2::ENUM_MAX,
                at,
            )?;
            let (offset, size) = (
                op.large_custom_options_offset(),
                op.large_custom_options_size(),
            );
            if offset > 1 && file_range(self.bytes, offset, size).is_none() {
                return Err(LoadError::CustomOptionsOutsideFile {
                    offset,
                    size,
                    file_len: self.bytes.len(),
                    at,
                });
            }
            let mut bad = None;
            for_each_called_subgraph(&op, |field, idx| {
                if bad.is_none()
                    && let Err(e) = check_index(field, IndexKind::Subgraph, idx, n_subgraphs, at)
                {
                    bad = Some(e);
                }
            });
            if let Some(e) = bad {
                return Err(e);
            }
        }
        Ok(())
    }

    fn check_tensor(
        &self,
        tensor: &fb::Tensor<'a>,
        at: Location,
        n_buffers: usize,
    ) -> Result<(), LoadError> {
        let shape = tensor.shape().unwrap_or_default();
        let elements = num_elements(shape.iter(), at)?;
        let bits = tensor_type_bits(tensor.type_());
        let bytes_needed = match bits {
            Some(bits) => elements
                .checked_mul(u64::from(bits))
                .map(|b| b.div_ceil(8))
                .filter(|&b| b <= isize::MAX as u64)
                .ok_or_else(|| LoadError::ShapeOverflow {
                    shape: ShapeSummary::new(shape.iter()),
                    at,
                })?,
            None => 0,
        };
        check_index(
            "tensor buffer",
            IndexKind::Buffer,
            i64::from(tensor.buffer()),
            n_buffers.max(1),
            at,
        )?;
        let data = self.buffer_data(tensor.buffer());
        let sparse = tensor.sparsity().is_some();
        if !data.is_empty() && bits.is_some() && !sparse && (data.len() as u64) < bytes_needed {
            return Err(LoadError::BufferSizeMismatch {
                buffer: tensor.buffer(),
                expected: bytes_needed,
                actual: data.len() as u64,
                at,
            });
        }
        if let Some(q) = tensor.quantization() {
            check_union(
                "quantization details",
                q.details_type().0,
                fb::QuantizationDetails::ENUM_MAX,
                at,
            )?;
            check_quantization(&q, &shape, at)?;
        }
        if let Some(sp) = tensor.sparsity() {
            check_sparsity(&sp, shape.len(), at)?;
        }
        Ok(())
    }
}

fn with_what(e: LoadError, what: &'static str, _i: usize) -> LoadError {
    match e {
        LoadError::IndexOutOfRange {
            kind,
            index,
            len,
            at,
            ..
        } => LoadError::IndexOutOfRange {
            what,
            kind,
            index,
            len,
            at,
        },
        e => e,
    }
}

/// Bits per element of a tensor type, or `None` for types without a fixed size (strings,
/// resources, variants).
pub fn tensor_type_bits(t: fb::TensorType) -> Option<u32> {
    use fb::TensorType as T;
    Some(match t {
        T::INT2 => 2,
        T::INT4 | T::UINT4 => 4,
        T::UINT8 | T::INT8 | T::BOOL | T::FLOAT8_E4M3FN | T::FLOAT8_E5M2 => 8,
        T::FLOAT16 | T::INT16 | T::UINT16 | T::BFLOAT16 => 16,
        T::FLOAT32 | T::INT32 | T::UINT32 => 32,
        T::INT64 | T::UINT64 | T::FLOAT64 | T::COMPLEX64 => 64,
        T::COMPLEX128 => 128,
        _ => return None,
    })
}

/// The builtin operator of an operator code: the larger of `builtin_code` and
/// `deprecated_builtin_code`, which is how LiteRT reads files from before and after the
/// field was widened.
pub fn builtin_code(code: &fb::OperatorCode<'_>) -> fb::BuiltinOperator {
    let new = code.builtin_code().0;
    let old = i32::from(code.deprecated_builtin_code());
    fb::BuiltinOperator(new.max(old))
}

/// Number of elements of a shape, refusing negative dimensions and overflow.
fn num_elements(dims: impl Iterator<Item = i32> + Clone, at: Location) -> Result<u64, LoadError> {
    let mut n: u64 = 1;
    for (axis, d) in dims.clone().enumerate() {
        if d < 0 {
            return Err(LoadError::NegativeDimension { axis, dim: d, at });
        }
        n = n
            .checked_mul(d as u64)
            .ok_or_else(|| LoadError::ShapeOverflow {
                shape: ShapeSummary::new(dims.clone()),
                at,
            })?;
    }
    Ok(n)
}

/// Refuses a union type tag past the schema's last member: the verifier does not look at the
/// table of a member it does not know, so nothing may read it.
fn check_union(what: &'static str, value: u8, max: u8, at: Location) -> Result<(), LoadError> {
    if value > max {
        return Err(LoadError::UnknownUnionType { what, value, at });
    }
    Ok(())
}

fn check_index(
    what: &'static str,
    kind: IndexKind,
    index: i64,
    len: usize,
    at: Location,
) -> Result<(), LoadError> {
    if index < 0 || index as u64 >= len as u64 {
        return Err(LoadError::IndexOutOfRange {
            what,
            kind,
            index,
            len,
            at,
        });
    }
    Ok(())
}

fn check_quantization(
    q: &fb::QuantizationParameters<'_>,
    shape: &flatbuffers::Vector<'_, i32>,
    at: Location,
) -> Result<(), LoadError> {
    let Some(scale) = q.scale().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let bad = |problem| LoadError::BadQuantization { problem, at };
    let zero_point = q.zero_point().ok_or(bad(QuantProblem::MissingZeroPoint))?;
    if zero_point.len() != scale.len() {
        return Err(bad(QuantProblem::LengthMismatch {
            scales: scale.len(),
            zero_points: zero_point.len(),
        }));
    }
    let axis = q.quantized_dimension();
    let rank = shape.len();
    if axis < 0 || (rank > 0 && axis as usize >= rank) {
        return Err(bad(QuantProblem::AxisOutOfRange { axis, rank }));
    }
    if scale.len() != 1 && rank > 0 {
        let channels = i64::from(shape.get(axis as usize));
        if scale.len() as i64 != channels {
            return Err(bad(QuantProblem::ChannelCountMismatch {
                scales: scale.len(),
                channels,
            }));
        }
    }
    Ok(())
}

fn check_sparsity(
    sp: &fb::SparsityParameters<'_>,
    rank: usize,
    at: Location,
) -> Result<(), LoadError> {
    let bad = |problem| LoadError::BadSparsity { problem, at };
    let order = sp.traversal_order().ok_or(bad("missing traversal_order"))?;
    let dims = sp.dim_metadata().ok_or(bad("missing dim_metadata"))?;
    if dims.len() != order.len() {
        return Err(bad("dim_metadata and traversal_order differ in length"));
    }
    let block_map = sp.block_map().unwrap_or_default();
    if order.len() != rank + block_map.len() {
        return Err(bad(
            "traversal_order length is not the tensor rank plus the block_map length",
        ));
    }
    let total = order.len();
    if order.iter().any(|d| d < 0 || d as usize >= total) {
        return Err(bad("traversal_order entry out of range"));
    }
    if block_map.iter().any(|d| d < 0 || d as usize >= rank) {
        return Err(bad("block_map entry out of range"));
    }
    for dm in dims.iter() {
        check_union(
            "array_segments",
            dm.array_segments_type().0,
            fb::SparseIndexVector::ENUM_MAX,
            at,
        )?;
        check_union(
            "array_indices",
            dm.array_indices_type().0,
            fb::SparseIndexVector::ENUM_MAX,
            at,
        )?;
        match dm.format() {
            fb::DimensionType::DENSE => {
                if dm.dense_size() < 0 {
                    return Err(bad("negative dense_size"));
                }
            }
            fb::DimensionType::SPARSE_CSR => {
                if dm.array_segments_type() == fb::SparseIndexVector::NONE
                    || dm.array_indices_type() == fb::SparseIndexVector::NONE
                {
                    return Err(bad(
                        "sparse dimension without array_segments or array_indices",
                    ));
                }
            }
            _ => return Err(bad("unknown dimension format")),
        }
    }
    Ok(())
}

/// Calls `f(field, index)` for every subgraph an operator refers to through its options.
pub fn for_each_called_subgraph(op: &fb::Operator<'_>, mut f: impl FnMut(&'static str, i64)) {
    if let Some(o) = op.builtin_options_as_if_options() {
        f("then_subgraph_index", o.then_subgraph_index().into());
        f("else_subgraph_index", o.else_subgraph_index().into());
    }
    if let Some(o) = op.builtin_options_as_while_options() {
        f("cond_subgraph_index", o.cond_subgraph_index().into());
        f("body_subgraph_index", o.body_subgraph_index().into());
    }
    if let Some(o) = op.builtin_options_as_call_once_options() {
        f("init_subgraph_index", o.init_subgraph_index().into());
    }
    if let Some(o) = op.builtin_options_as_call_options() {
        f("subgraph", o.subgraph().into());
    }
    if let Some(o) = op.builtin_options_2_as_stablehlo_while_options() {
        f("cond_subgraph_index", o.cond_subgraph_index().into());
        f("body_subgraph_index", o.body_subgraph_index().into());
    }
    if let Some(o) = op.builtin_options_2_as_stablehlo_reduce_options() {
        f("body_subgraph_index", o.body_subgraph_index().into());
    }
    if let Some(o) = op.builtin_options_2_as_stablehlo_reduce_window_options() {
        f("body_subgraph_index", o.body_subgraph_index().into());
    }
    if let Some(o) = op.builtin_options_2_as_stablehlo_sort_options() {
        f(
            "comparator_subgraph_index",
            o.comparator_subgraph_index().into(),
        );
    }
    if let Some(o) = op.builtin_options_2_as_stablehlo_scatter_options() {
        f(
            "update_computation_subgraph_index",
            o.update_computation_subgraph_index().into(),
        );
    }
    if let Some(o) = op.builtin_options_2_as_stable_hlocomposite_options() {
        f(
            "decomposition_subgraph_index",
            o.decomposition_subgraph_index().into(),
        );
    }
    if let Some(o) = op.builtin_options_2_as_stablehlo_case_options() {
        for i in o.branch_subgraph_indices().unwrap_or_default().iter() {
            f("branch_subgraph_indices", i.into());
        }
    }
}

/// Refuses models whose subgraphs call themselves, directly or indirectly.
fn check_subgraph_calls(model: &Model<'_>) -> Result<(), LoadError> {
    let subgraphs = model.subgraphs();
    let n = subgraphs.len();
    // Call edges (caller, callee); indices are in range after `check_subgraph`.
    let mut edges: Vec<(u32, u32)> = Vec::new();
    for (s, sg) in subgraphs.iter().enumerate() {
        for op in sg.operators().unwrap_or_default().iter() {
            for_each_called_subgraph(&op, |_, callee| edges.push((s as u32, callee as u32)));
        }
    }
    if edges.is_empty() {
        return Ok(());
    }
    edges.sort_unstable();
    edges.dedup();
    // start[s]..start[s + 1] are the edges leaving s.
    let mut start = alloc::vec![0usize; n + 1];
    for &(from, _) in &edges {
        start[from as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    // Iterative depth-first search: 0 = unseen, 1 = on the stack, 2 = done.
    let mut state = alloc::vec![0u8; n];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        stack.push((root, start[root]));
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            if next < start[node + 1] {
                top.1 += 1;
                let callee = edges[next].1 as usize;
                match state[callee] {
                    0 => {
                        state[callee] = 1;
                        stack.push((callee, start[callee]));
                    }
                    1 => return Err(LoadError::SubgraphCycle { subgraph: callee }),
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// The bytes `[offset, offset + size)` of the file, if they lie inside it.
fn file_range(bytes: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let end = offset.checked_add(size)?;
    let (start, end) = (usize::try_from(offset).ok()?, usize::try_from(end).ok()?);
    bytes.get(start..end)
}

fn buffer_bytes<'a>(file: &'a [u8], buffer: fb::Buffer<'a>) -> Option<&'a [u8]> {
    if let Some(d) = buffer.data()
        && !d.is_empty()
    {
        return Some(d.bytes());
    }
    if buffer.offset() > 1 {
        return file_range(file, buffer.offset(), buffer.size());
    }
    None
}

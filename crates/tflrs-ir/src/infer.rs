//! Type and shape inference for the typed operators.
//!
//! Static sizes propagate; a dimension that depends on a dynamic one stays dynamic; what
//! depends on values not known before running (a reshape to a computed shape) is left
//! unknown. Inference also checks what it relies on (broadcast compatibility, axes in range,
//! element counts), so [`Graph::verify`](crate::Graph::verify) reports inconsistent nodes.

use crate::dtype::DType;
use crate::graph::{Node, Subgraph, Value};
use crate::ops::*;
use crate::shape::{Dim, Shape};
use crate::window;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// What inference knows about one output of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputType {
    /// The element type, when the operator and its inputs determine it.
    pub dtype: Option<DType>,
    /// The dimensions, when the operator and its inputs determine the rank.
    pub dims: Option<Vec<Dim>>,
}

impl OutputType {
    fn new(dtype: Option<DType>, dims: Vec<Dim>) -> Self {
        Self {
            dtype,
            dims: Some(dims),
        }
    }

    fn dtype_only(dtype: Option<DType>) -> Self {
        Self { dtype, dims: None }
    }

    /// The shape these dimensions give: dynamic dimensions get size 1 and `-1` in the
    /// signature. `None` when the rank is unknown.
    pub fn shape(&self) -> Option<Shape> {
        let dims = self.dims.as_ref()?;
        let sizes: Vec<i32> = dims
            .iter()
            .map(|d| d.get().map_or(1, |n| i32::try_from(n).unwrap_or(i32::MAX)))
            .collect();
        if dims.iter().all(|d| d.get().is_some()) {
            return Some(Shape::new(sizes));
        }
        let sig = dims
            .iter()
            .map(|d| d.get().map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX)))
            .collect::<Vec<_>>();
        Some(Shape::with_signature(sizes, sig))
    }
}

/// The shape of an output from its dynamic-aware inference `t` and, when known, its
/// default-size inference `defaults`: dynamic dimensions take their default size from
/// `defaults`, else from `stated` (the shape the value had), else 1.
pub(crate) fn merged_shape(
    t: &OutputType,
    defaults: Option<&OutputType>,
    stated: Option<&Shape>,
) -> Option<Shape> {
    let dims = t.dims.as_ref()?;
    let mut shape = t.shape()?;
    let default_dims = defaults
        .and_then(|d| d.dims.as_ref())
        .filter(|d| d.len() == dims.len());
    for (i, d) in dims.iter().enumerate() {
        if *d != Dim::Dynamic {
            continue;
        }
        if let Some(Dim::Static(n)) = default_dims.map(|dd| dd[i]) {
            shape.dims[i] = i32::try_from(n).unwrap_or(i32::MAX);
        } else if let Some(s) = stated.filter(|s| s.rank() == dims.len()) {
            shape.dims[i] = s.dims[i];
        }
    }
    Some(shape)
}

/// The arity an operator requires: `(min inputs, max inputs)`; `usize::MAX` means any number.
pub(crate) fn input_arity(op: &Op<'_>) -> Option<(usize, usize)> {
    Some(match op {
        Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected(_) => (2, 3),
        Op::TransposeConv(_) => (3, 4),
        Op::BatchMatMul(_)
        | Op::Add(_)
        | Op::Sub(_)
        | Op::Mul(_)
        | Op::Div(_)
        | Op::SquaredDifference
        | Op::Maximum
        | Op::Minimum
        | Op::Pow
        | Op::Prelu
        | Op::Equal
        | Op::NotEqual
        | Op::Less
        | Op::LessEqual
        | Op::Greater
        | Op::GreaterEqual
        | Op::LogicalAnd
        | Op::LogicalOr
        | Op::Mean(_)
        | Op::Sum(_)
        | Op::ReduceMax(_)
        | Op::ReduceMin(_)
        | Op::ArgMax(_)
        | Op::ArgMin(_)
        | Op::ExpandDims
        | Op::Transpose
        | Op::Split(_)
        | Op::Gather(_)
        | Op::Pad
        | Op::MirrorPad(_)
        | Op::Tile
        | Op::Fill
        | Op::ResizeBilinear(_)
        | Op::ResizeNearestNeighbor(_)
        | Op::AssignVariable => (2, 2),
        Op::Abs
        | Op::Neg
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Rsqrt
        | Op::Square
        | Op::Relu
        | Op::Relu6
        | Op::ReluN1To1
        | Op::LeakyRelu(_)
        | Op::HardSwish
        | Op::Gelu(_)
        | Op::Logistic
        | Op::Tanh
        | Op::Softmax(_)
        | Op::LogSoftmax
        | Op::MaxPool2d(_)
        | Op::AveragePool2d(_)
        | Op::L2Normalization(_)
        | Op::Squeeze(_)
        | Op::Unpack(_)
        | Op::Shape(_)
        | Op::Cast(_)
        | Op::Quantize
        | Op::Dequantize
        | Op::DepthToSpace(_)
        | Op::SpaceToDepth(_)
        | Op::LogicalNot
        | Op::ZerosLike
        | Op::Densify
        | Op::ReadVariable => (1, 1),
        Op::Reshape(_) => (1, 2),
        Op::SplitV(_) | Op::Slice | Op::PadV2 | Op::SelectV2 => (3, 3),
        Op::StridedSlice(_) => (4, 4),
        Op::Concatenation(_) | Op::Pack(_) => (1, usize::MAX),
        Op::UnidirectionalSequenceLstm(_) => (20, 24),
        Op::Rnn(_) | Op::UnidirectionalSequenceRnn(_) => (5, 5),
        Op::Svdf(_) => (5, 5),
        Op::Conv3d(_) => (2, 3),
        Op::Conv3dTranspose(_) => (3, 4),
        Op::While(_) | Op::CallOnce(_) | Op::VarHandle(_) => (0, usize::MAX),
        Op::If(_) => (1, usize::MAX),
        Op::Floor
        | Op::Ceil
        | Op::Round
        | Op::Sin
        | Op::Cos
        | Op::Elu
        | Op::Relu0To1
        | Op::Sign
        | Op::Bucketize(_)
        | Op::LocalResponseNormalization(_)
        | Op::Bitcast => (1, 1),
        Op::FloorDiv
        | Op::FloorMod
        | Op::Atan2
        | Op::BitwiseXor
        | Op::RightShift
        | Op::ReduceProd(_)
        | Op::ReduceAny(_)
        | Op::ReduceAll(_)
        | Op::Cumsum(_) => (2, 2),
        Op::EmbeddingLookup => (2, 2),
        Op::Select | Op::Range => (3, 3),
        Op::BroadcastTo
        | Op::GatherNd
        | Op::TopkV2
        | Op::ReverseV2
        | Op::MatrixSetDiag
        | Op::SegmentSum => (2, 2),
        Op::Where | Op::MatrixDiag => (1, 1),
        Op::ScatterNd
        | Op::SpaceToBatchNd
        | Op::BatchToSpaceNd
        | Op::UnsortedSegmentSum
        | Op::UnsortedSegmentProd
        | Op::UnsortedSegmentMax
        | Op::UnsortedSegmentMin
        | Op::DynamicUpdateSlice => (3, 3),
        Op::OneHot(_) => (4, 4),
        Op::NonMaxSuppressionV4 => (5, 5),
        Op::NonMaxSuppressionV5 => (6, 6),
        Op::Opaque(_) => return None,
    })
}

/// The number of outputs an operator produces, when fixed.
pub(crate) fn output_count(op: &Op<'_>, inputs: usize) -> Option<usize> {
    Some(match op {
        Op::Split(a) => usize::try_from(a.num_splits).ok()?,
        Op::SplitV(a) => usize::try_from(a.num_splits).ok()?,
        Op::Unpack(a) => usize::try_from(a.num).ok()?,
        Op::AssignVariable | Op::CallOnce(_) => 0,
        Op::TopkV2 => 2,
        Op::NonMaxSuppressionV4 => 2,
        Op::NonMaxSuppressionV5 => 3,
        Op::While(_) => inputs,
        Op::If(_) | Op::Opaque(_) => return None,
        _ => 1,
    })
}

struct Ctx<'s, 'a> {
    sg: &'s Subgraph<'a>,
    node: &'s Node<'a>,
    /// Read every dimension as its default size, ignoring the signature.
    defaults: bool,
}

type R<T> = Result<T, String>;

impl<'s, 'a> Ctx<'s, 'a> {
    fn value(&self, i: usize) -> R<&'s Value<'a>> {
        let id = self
            .node
            .input(i)
            .ok_or_else(|| format!("input {i} is missing"))?;
        self.sg
            .value(id)
            .ok_or_else(|| format!("input {i} refers to missing value {id}"))
    }

    fn dtype(&self, i: usize) -> Option<DType> {
        self.value(i).ok().map(|v| v.dtype)
    }

    fn dims(&self, i: usize) -> R<Vec<Dim>> {
        let shape = &self.value(i)?.shape;
        if self.defaults {
            return Ok(shape
                .dims
                .iter()
                .map(|&d| Dim::Static(u32::try_from(d).unwrap_or(0)))
                .collect());
        }
        Ok(shape.dims_with_dynamic())
    }

    /// The constant float32 scalar of input `i`, if it is one.
    fn float(&self, i: usize) -> Option<f32> {
        let v = self.value(i).ok()?;
        let data = v.data.as_ref()?;
        match (v.dtype, data.get(..4)) {
            (DType::Float32, Some(&[a, b, c, d])) if v.shape.num_elements() == Some(1) => {
                Some(f32::from_le_bytes([a, b, c, d]))
            }
            _ => None,
        }
    }

    /// The constant integers of input `i` (int32 or int64 data), if it is a constant.
    fn ints(&self, i: usize) -> Option<Vec<i64>> {
        let v = self.value(i).ok()?;
        let data = v.data.as_ref()?;
        if v.sparsity.is_some() {
            return None;
        }
        let n = usize::try_from(v.shape.num_elements()?).ok()?;
        match v.dtype {
            DType::Int32 => Some(
                data.chunks_exact(4)
                    .take(n)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ),
            DType::Int64 => Some(
                data.chunks_exact(8)
                    .take(n)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            _ => None,
        }
    }
}

fn stat(n: i64) -> R<Dim> {
    u32::try_from(n)
        .map(Dim::Static)
        .map_err(|_| format!("computed size {n} is out of range"))
}

/// Normalizes `axis` (negative counts from the end) for a rank-`rank` tensor.
fn norm_axis(axis: i64, rank: usize) -> R<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

/// NumPy-style broadcast of two shapes.
pub(crate) fn broadcast(a: &[Dim], b: &[Dim]) -> R<Vec<Dim>> {
    let rank = a.len().max(b.len());
    let mut out = vec![Dim::Static(1); rank];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = (i + a.len())
            .checked_sub(rank)
            .map_or(Dim::Static(1), |j| a[j]);
        let db = (i + b.len())
            .checked_sub(rank)
            .map_or(Dim::Static(1), |j| b[j]);
        *slot = match (da, db) {
            (Dim::Static(1), d) | (d, Dim::Static(1)) => d,
            (Dim::Static(x), Dim::Static(y)) if x == y => da,
            (Dim::Static(x), Dim::Static(y)) => {
                return Err(format!(
                    "shapes {a:?} and {b:?} do not broadcast ({x} vs {y})"
                ));
            }
            (Dim::Static(x), Dim::Dynamic) | (Dim::Dynamic, Dim::Static(x)) => Dim::Static(x),
            (Dim::Dynamic, Dim::Dynamic) => Dim::Dynamic,
        };
    }
    Ok(out)
}

/// Output size of a convolution or pool along one spatial axis ([`window::out_size`]).
/// Stricter than the kernels: any VALID window larger than its input is refused here, where
/// CONV_2D accepts LiteRT's truncated 0 and pools saturate to 0 (see [`crate::window`]).
fn window(input: Dim, filter: i64, stride: i32, dilation: i32, padding: Padding) -> R<Dim> {
    if stride <= 0 || dilation <= 0 || filter <= 0 {
        return Err(format!(
            "stride {stride}, dilation {dilation} and filter size {filter} must be positive"
        ));
    }
    let Dim::Static(n) = input else {
        return Ok(Dim::Dynamic);
    };
    let too_large =
        || format!("window of filter size {filter} and dilation {dilation} is too large");
    let (n, f) = (
        n as usize,
        usize::try_from(filter).map_err(|_| too_large())?,
    );
    let (s, d) = (stride as usize, dilation as usize);
    let effective = window::effective_size(f, d).ok_or_else(too_large)?;
    if padding == Padding::Valid && n < effective {
        return Err(format!(
            "filter of effective size {effective} does not fit input size {n} without padding"
        ));
    }
    let out = window::out_size(padding, n, f, s, d).ok_or_else(too_large)?;
    stat(i64::try_from(out).map_err(|_| too_large())?)
}

fn rank_is(dims: &[Dim], rank: usize, what: &str) -> R<()> {
    if dims.len() == rank {
        Ok(())
    } else {
        Err(format!("{what} has rank {}, expected {rank}", dims.len()))
    }
}

/// `dtype` when it is a float type (float kernels keep their type; integer kernels of some
/// operators may write a wider integer).
fn float(dtype: Option<DType>) -> Option<DType> {
    dtype.filter(|d| d.is_float())
}

fn static_of(d: Dim) -> Option<i64> {
    d.get().map(i64::from)
}

fn product(dims: &[Dim]) -> Option<i64> {
    dims.iter()
        .try_fold(1i64, |acc, d| acc.checked_mul(static_of(*d)?))
}

/// The largest rank inference derives from the size of a shape operand. A computed shape
/// vector may claim any length in a hostile model; past this the rank is left unknown rather
/// than allocating for it.
const MAX_RANK: u32 = 64;

/// Infers the outputs of `node` in `sg`: one [`OutputType`] per output, with dimensions
/// dynamic where they depend on a dynamic input dimension. An error says how the node's inputs
/// or attributes contradict each other.
pub fn infer_outputs(sg: &Subgraph<'_>, node: &Node<'_>) -> Result<Vec<OutputType>, String> {
    infer_with(sg, node, false)
}

/// Like [`infer_outputs`], but reading every input dimension as its default size (TFLite's
/// `shape`, ignoring the signature): the sizes the outputs have before any resize.
pub fn infer_default_outputs(
    sg: &Subgraph<'_>,
    node: &Node<'_>,
) -> Result<Vec<OutputType>, String> {
    infer_with(sg, node, true)
}

fn infer_with(
    sg: &Subgraph<'_>,
    node: &Node<'_>,
    defaults: bool,
) -> Result<Vec<OutputType>, String> {
    let cx = Ctx { sg, node, defaults };
    let n_out = node.outputs.len();
    let one = |t: OutputType| -> R<Vec<OutputType>> {
        let mut v = vec![OutputType::default(); n_out];
        if let Some(slot) = v.first_mut() {
            *slot = t;
        }
        Ok(v)
    };
    let same =
        |dtype: Option<DType>| -> R<Vec<OutputType>> { one(OutputType::new(dtype, cx.dims(0)?)) };
    let d0 = || cx.dtype(0);
    match &node.op {
        Op::Abs
        | Op::Neg
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Rsqrt
        | Op::Square
        | Op::Relu
        | Op::Relu6
        | Op::ReluN1To1
        | Op::LeakyRelu(_)
        | Op::HardSwish
        | Op::Gelu(_)
        | Op::Logistic
        | Op::Tanh
        | Op::LogSoftmax
        | Op::L2Normalization(_)
        | Op::ZerosLike
        | Op::Densify => same(d0()),
        // Softmax may write int16 for int8 inputs.
        Op::Softmax(_) => same(float(d0())),
        Op::LogicalNot => same(Some(DType::Bool)),
        Op::Quantize => same(None),
        Op::Dequantize => same(Some(DType::Float32)),
        Op::Cast(a) => same(a.as_ref().map(|a| a.out_data_type)),
        Op::Add(_)
        | Op::Sub(_)
        | Op::Div(_)
        | Op::SquaredDifference
        | Op::Maximum
        | Op::Minimum
        | Op::Pow
        | Op::Prelu => one(OutputType::new(
            d0(),
            broadcast(&cx.dims(0)?, &cx.dims(1)?)?,
        )),
        // Integer multiplication may widen (int8 inputs, int16 output).
        Op::Mul(_) => one(OutputType::new(
            float(d0()),
            broadcast(&cx.dims(0)?, &cx.dims(1)?)?,
        )),
        Op::LogicalAnd | Op::LogicalOr => one(OutputType::new(
            Some(DType::Bool),
            broadcast(&cx.dims(0)?, &cx.dims(1)?)?,
        )),
        Op::Equal | Op::NotEqual | Op::Less | Op::LessEqual | Op::Greater | Op::GreaterEqual => {
            one(OutputType::new(
                Some(DType::Bool),
                broadcast(&cx.dims(0)?, &cx.dims(1)?)?,
            ))
        }
        Op::SelectV2 => {
            let b = broadcast(&cx.dims(0)?, &cx.dims(1)?)?;
            one(OutputType::new(cx.dtype(1), broadcast(&b, &cx.dims(2)?)?))
        }
        Op::Conv2d(a) => {
            let (x, w) = (cx.dims(0)?, cx.dims(1)?);
            rank_is(&x, 4, "input")?;
            rank_is(&w, 4, "filter")?;
            let (Some(kh), Some(kw)) = (static_of(w[1]), static_of(w[2])) else {
                return one(OutputType::dtype_only(d0()));
            };
            if let (Some(c), Some(fc)) = (static_of(x[3]), static_of(w[3]))
                && (fc == 0 || c % fc != 0)
            {
                return Err(format!(
                    "input has {c} channels, filter expects a multiple of {fc}"
                ));
            }
            one(OutputType::new(
                d0(),
                vec![
                    x[0],
                    window(x[1], kh, a.stride_h, a.dilation_h_factor, a.padding)?,
                    window(x[2], kw, a.stride_w, a.dilation_w_factor, a.padding)?,
                    w[0],
                ],
            ))
        }
        Op::DepthwiseConv2d(a) => {
            let (x, w) = (cx.dims(0)?, cx.dims(1)?);
            rank_is(&x, 4, "input")?;
            rank_is(&w, 4, "filter")?;
            let (Some(kh), Some(kw)) = (static_of(w[1]), static_of(w[2])) else {
                return one(OutputType::dtype_only(d0()));
            };
            one(OutputType::new(
                d0(),
                vec![
                    x[0],
                    window(x[1], kh, a.stride_h, a.dilation_h_factor, a.padding)?,
                    window(x[2], kw, a.stride_w, a.dilation_w_factor, a.padding)?,
                    w[3],
                ],
            ))
        }
        Op::TransposeConv(_) => one(transposed_output(&cx, 4)?),
        Op::MaxPool2d(a) | Op::AveragePool2d(a) => {
            let x = cx.dims(0)?;
            rank_is(&x, 4, "input")?;
            one(OutputType::new(
                d0(),
                vec![
                    x[0],
                    window(x[1], i64::from(a.filter_height), a.stride_h, 1, a.padding)?,
                    window(x[2], i64::from(a.filter_width), a.stride_w, 1, a.padding)?,
                    x[3],
                ],
            ))
        }
        Op::FullyConnected(a) => {
            let (x, w) = (cx.dims(0)?, cx.dims(1)?);
            rank_is(&w, 2, "weights")?;
            let (units, k) = (w[0], static_of(w[1]));
            let dims = if a.keep_num_dims {
                let mut d = x.clone();
                match d.last_mut() {
                    Some(last) => *last = units,
                    None => return Err("input is a scalar".into()),
                }
                d
            } else {
                let batch = match (product(&x), k) {
                    (Some(total), Some(k)) if k > 0 => {
                        if total % k != 0 {
                            return Err(format!(
                                "input has {total} elements, not a multiple of the weights' depth {k}"
                            ));
                        }
                        stat(total / k)?
                    }
                    _ => Dim::Dynamic,
                };
                vec![batch, units]
            };
            // int8 and int16 kernels may write a wider type.
            one(OutputType::new(float(d0()), dims))
        }
        Op::BatchMatMul(a) => {
            let (x, y) = (cx.dims(0)?, cx.dims(1)?);
            if x.len() < 2 || y.len() < 2 {
                return Err("operands need rank 2 or more".into());
            }
            let (xr, yr) = (x.len(), y.len());
            let (m, kx) = if a.adj_x {
                (x[xr - 1], x[xr - 2])
            } else {
                (x[xr - 2], x[xr - 1])
            };
            let (ky, n) = if a.adj_y {
                (y[yr - 1], y[yr - 2])
            } else {
                (y[yr - 2], y[yr - 1])
            };
            if let (Dim::Static(p), Dim::Static(q)) = (kx, ky)
                && p != q
            {
                return Err(format!("contracted dimensions differ ({p} vs {q})"));
            }
            let mut dims = broadcast(&x[..xr - 2], &y[..yr - 2])?;
            dims.push(m);
            dims.push(n);
            one(OutputType::new(d0(), dims))
        }
        Op::Mean(a)
        | Op::Sum(a)
        | Op::ReduceMax(a)
        | Op::ReduceMin(a)
        | Op::ReduceProd(a)
        | Op::ReduceAny(a)
        | Op::ReduceAll(a) => {
            let x = cx.dims(0)?;
            let Some(axes) = cx.ints(1) else {
                return one(if a.keep_dims {
                    OutputType::new(d0(), vec![Dim::Dynamic; x.len()])
                } else {
                    OutputType::dtype_only(d0())
                });
            };
            let mut reduced = vec![false; x.len()];
            for &ax in &axes {
                reduced[norm_axis(ax, x.len())?] = true;
            }
            let dims = x
                .iter()
                .zip(&reduced)
                .filter_map(|(&d, &r)| match (r, a.keep_dims) {
                    (true, true) => Some(Dim::Static(1)),
                    (true, false) => None,
                    (false, _) => Some(d),
                })
                .collect();
            one(OutputType::new(d0(), dims))
        }
        Op::ArgMax(ArgMaxAttrs { output_type }) | Op::ArgMin(ArgMinAttrs { output_type }) => {
            let x = cx.dims(0)?;
            let Some(axis) = cx.ints(1) else {
                return one(OutputType::dtype_only(Some(*output_type)));
            };
            let [axis] = axis[..] else {
                return Err(format!("axis has {} values, expected 1", axis.len()));
            };
            let axis = norm_axis(axis, x.len())?;
            let dims = x
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != axis)
                .map(|(_, &d)| d)
                .collect();
            one(OutputType::new(Some(*output_type), dims))
        }
        Op::Reshape(a) => {
            let x = cx.dims(0)?;
            let target = match cx.ints(1) {
                Some(t) => Some(t),
                None if node.input(1).is_some() => {
                    // A computed shape: only the rank is known (when the shape is a vector).
                    let sd = cx.dims(1)?;
                    return one(match sd.as_slice() {
                        [Dim::Static(r)] if *r <= MAX_RANK => {
                            OutputType::new(d0(), vec![Dim::Dynamic; *r as usize])
                        }
                        _ => OutputType::dtype_only(d0()),
                    });
                }
                None => a
                    .as_ref()
                    .and_then(|a| a.new_shape.as_ref())
                    .map(|s| s.iter().map(|&d| i64::from(d)).collect()),
            };
            let Some(mut target) = target else {
                return one(OutputType::dtype_only(d0()));
            };
            // Old converters wrote [0] for a scalar.
            if target == [0] && product(&x) == Some(1) {
                target.clear();
            }
            let infer_at = target.iter().position(|&d| d == -1);
            if target.iter().filter(|&&d| d == -1).count() > 1 {
                return Err("more than one -1 in the new shape".into());
            }
            let known = target
                .iter()
                .filter(|&&d| d != -1)
                .try_fold(1i64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| format!("new shape {target:?} overflows"))?;
            let mut dims = Vec::with_capacity(target.len());
            for &d in &target {
                dims.push(if d == -1 { Dim::Dynamic } else { stat(d)? });
            }
            match (product(&x), infer_at) {
                (Some(total), Some(i)) => {
                    if known == 0 || total % known != 0 {
                        return Err(format!("cannot reshape {total} elements to {target:?}"));
                    }
                    dims[i] = stat(total / known)?;
                }
                (Some(total), None) => {
                    if total != known {
                        return Err(format!(
                            "cannot reshape {total} elements to {target:?} ({known} elements)"
                        ));
                    }
                }
                (None, _) => {}
            }
            one(OutputType::new(d0(), dims))
        }
        Op::Squeeze(a) => {
            let x = cx.dims(0)?;
            let axes = a.squeeze_dims.as_deref().unwrap_or(&[]);
            let mut drop = vec![false; x.len()];
            if axes.is_empty() {
                for (i, d) in x.iter().enumerate() {
                    match d {
                        Dim::Static(1) => drop[i] = true,
                        Dim::Dynamic => return one(OutputType::dtype_only(d0())),
                        _ => {}
                    }
                }
            } else {
                for &ax in axes {
                    let i = norm_axis(i64::from(ax), x.len())?;
                    if let Dim::Static(n) = x[i]
                        && n != 1
                    {
                        return Err(format!("cannot squeeze axis {ax} of size {n}"));
                    }
                    drop[i] = true;
                }
            }
            let dims = x
                .iter()
                .zip(&drop)
                .filter(|(_, d)| !**d)
                .map(|(&d, _)| d)
                .collect();
            one(OutputType::new(d0(), dims))
        }
        Op::ExpandDims => {
            let x = cx.dims(0)?;
            let Some(axis) = cx.ints(1) else {
                return one(OutputType::new(d0(), vec![Dim::Dynamic; x.len() + 1]));
            };
            let [axis] = axis[..] else {
                return Err(format!("axis has {} values, expected 1", axis.len()));
            };
            let at = norm_axis(axis, x.len() + 1)?;
            let mut dims = x;
            dims.insert(at, Dim::Static(1));
            one(OutputType::new(d0(), dims))
        }
        Op::Transpose => {
            let x = cx.dims(0)?;
            let Some(perm) = cx.ints(1) else {
                return one(OutputType::new(d0(), vec![Dim::Dynamic; x.len()]));
            };
            if perm.len() != x.len() {
                return Err(format!("permutation {perm:?} for rank {}", x.len()));
            }
            let mut seen = vec![false; x.len()];
            let mut dims = Vec::with_capacity(x.len());
            for &p in &perm {
                let p = norm_axis(p, x.len())?;
                if core::mem::replace(&mut seen[p], true) {
                    return Err(format!("{perm:?} is not a permutation"));
                }
                dims.push(x[p]);
            }
            one(OutputType::new(d0(), dims))
        }
        Op::Concatenation(a) => {
            let first = cx.dims(0)?;
            let axis = norm_axis(i64::from(a.axis), first.len())?;
            let mut dims = first.clone();
            for i in 1..node.inputs.len() {
                let d = cx.dims(i)?;
                if d.len() != first.len() {
                    return Err(format!(
                        "input {i} has rank {}, input 0 has {}",
                        d.len(),
                        first.len()
                    ));
                }
                for (j, (&x, &y)) in first.iter().zip(&d).enumerate() {
                    if j == axis {
                        dims[j] = match (dims[j], y) {
                            (Dim::Static(p), Dim::Static(q)) => stat(i64::from(p) + i64::from(q))?,
                            _ => Dim::Dynamic,
                        };
                    } else if let (Dim::Static(p), Dim::Static(q)) = (x, y)
                        && p != q
                    {
                        return Err(format!(
                            "input {i} has size {q} on axis {j}, input 0 has {p}"
                        ));
                    }
                }
            }
            one(OutputType::new(d0(), dims))
        }
        Op::Pack(a) => {
            if usize::try_from(a.values_count).ok() != Some(node.inputs.len()) {
                return Err(format!(
                    "values_count is {}, but there are {} inputs",
                    a.values_count,
                    node.inputs.len()
                ));
            }
            let x = cx.dims(0)?;
            for i in 1..node.inputs.len() {
                if cx.dims(i)?.len() != x.len() {
                    return Err(format!("input {i} has a different rank than input 0"));
                }
            }
            let at = norm_axis(i64::from(a.axis), x.len() + 1)?;
            let mut dims = x;
            dims.insert(at, stat(i64::from(a.values_count))?);
            one(OutputType::new(d0(), dims))
        }
        Op::Unpack(a) => {
            let x = cx.dims(0)?;
            let axis = norm_axis(i64::from(a.axis), x.len())?;
            if let Dim::Static(n) = x[axis]
                && i64::from(n) != i64::from(a.num)
            {
                return Err(format!("num is {}, but axis {axis} has size {n}", a.num));
            }
            let mut dims = x;
            dims.remove(axis);
            Ok(vec![OutputType::new(d0(), dims); n_out])
        }
        Op::Split(a) => {
            let x = cx.dims(1)?;
            let Some(axis) = cx.ints(0) else {
                return Ok(vec![
                    OutputType::new(
                        cx.dtype(1),
                        vec![Dim::Dynamic; x.len()]
                    );
                    n_out
                ]);
            };
            let [axis] = axis[..] else {
                return Err(format!("axis has {} values, expected 1", axis.len()));
            };
            let axis = norm_axis(axis, x.len())?;
            let parts = i64::from(a.num_splits);
            if parts <= 0 {
                return Err(format!("num_splits is {parts}"));
            }
            let mut dims = x.clone();
            dims[axis] = match x[axis] {
                Dim::Static(n) if i64::from(n) % parts != 0 => {
                    return Err(format!("size {n} does not split into {parts} parts"));
                }
                Dim::Static(n) => stat(i64::from(n) / parts)?,
                Dim::Dynamic => Dim::Dynamic,
            };
            Ok(vec![OutputType::new(cx.dtype(1), dims); n_out])
        }
        Op::SplitV(a) => {
            let x = cx.dims(0)?;
            let (Some(sizes), Some(axis)) = (cx.ints(1), cx.ints(2)) else {
                return Ok(vec![
                    OutputType::new(d0(), vec![Dim::Dynamic; x.len()]);
                    n_out
                ]);
            };
            let [axis] = axis[..] else {
                return Err(format!("axis has {} values, expected 1", axis.len()));
            };
            let axis = norm_axis(axis, x.len())?;
            if i64::try_from(sizes.len()).ok() != Some(i64::from(a.num_splits)) {
                return Err(format!(
                    "{} sizes for num_splits {}",
                    sizes.len(),
                    a.num_splits
                ));
            }
            let mut sizes: Vec<Option<i64>> =
                sizes.iter().map(|&s| (s != -1).then_some(s)).collect();
            if sizes.iter().filter(|s| s.is_none()).count() > 1 {
                return Err("more than one -1 in size_splits".into());
            }
            let known = sizes
                .iter()
                .flatten()
                .try_fold(0i64, |acc, &s| acc.checked_add(s))
                .ok_or_else(|| format!("size_splits {sizes:?} overflow"))?;
            if let Some(total) = static_of(x[axis]) {
                match sizes.iter_mut().find(|s| s.is_none()) {
                    Some(slot) => *slot = Some(total.saturating_sub(known)),
                    None if known != total => {
                        return Err(format!("size_splits sum to {known}, axis has size {total}"));
                    }
                    None => {}
                }
            }
            sizes
                .iter()
                .map(|s| {
                    let mut dims = x.clone();
                    dims[axis] = match s {
                        Some(s) => stat(*s)?,
                        None => Dim::Dynamic,
                    };
                    Ok(OutputType::new(d0(), dims))
                })
                .collect()
        }
        Op::Slice => {
            let x = cx.dims(0)?;
            let (Some(begin), Some(size)) = (cx.ints(1), cx.ints(2)) else {
                return one(OutputType::new(d0(), vec![Dim::Dynamic; x.len()]));
            };
            if begin.len() != x.len() || size.len() != x.len() {
                return Err(format!(
                    "begin {begin:?} and size {size:?} for rank {}",
                    x.len()
                ));
            }
            let mut dims = Vec::with_capacity(x.len());
            for ((&d, &b), &s) in x.iter().zip(&begin).zip(&size) {
                dims.push(match (s, d) {
                    (-1, Dim::Static(n)) => stat(i64::from(n) - b)?,
                    (-1, Dim::Dynamic) => Dim::Dynamic,
                    (s, Dim::Static(n)) if b < 0 || b.saturating_add(s) > i64::from(n) => {
                        return Err(format!("slice [{b}, {b}+{s}) is outside size {n}"));
                    }
                    (s, _) => stat(s)?,
                });
            }
            one(OutputType::new(d0(), dims))
        }
        Op::StridedSlice(a) => strided_slice(&cx, a),
        Op::Gather(a) => {
            let (p, idx) = (cx.dims(0)?, cx.dims(1)?);
            let axis = norm_axis(i64::from(a.axis), p.len())?;
            let bd = if a.batch_dims < 0 {
                i64::from(a.batch_dims) + idx.len() as i64
            } else {
                i64::from(a.batch_dims)
            };
            let bd = usize::try_from(bd)
                .ok()
                .filter(|&b| b <= idx.len() && b <= axis)
                .ok_or_else(|| format!("batch_dims {} is out of range", a.batch_dims))?;
            let mut dims = p[..axis].to_vec();
            dims.extend_from_slice(&idx[bd..]);
            dims.extend_from_slice(&p[axis + 1..]);
            one(OutputType::new(d0(), dims))
        }
        Op::Pad | Op::PadV2 | Op::MirrorPad(_) => {
            let x = cx.dims(0)?;
            let Some(pads) = cx.ints(1) else {
                return one(OutputType::new(d0(), vec![Dim::Dynamic; x.len()]));
            };
            if pads.len() != 2 * x.len() {
                return Err(format!(
                    "{} padding values for rank {}",
                    pads.len(),
                    x.len()
                ));
            }
            let dims = x
                .iter()
                .enumerate()
                .map(|(i, &d)| match d {
                    Dim::Static(n) => stat(
                        i64::from(n)
                            .saturating_add(pads[2 * i])
                            .saturating_add(pads[2 * i + 1]),
                    ),
                    Dim::Dynamic => Ok(Dim::Dynamic),
                })
                .collect::<R<Vec<_>>>()?;
            one(OutputType::new(d0(), dims))
        }
        Op::Tile => {
            let x = cx.dims(0)?;
            let Some(m) = cx.ints(1) else {
                return one(OutputType::new(d0(), vec![Dim::Dynamic; x.len()]));
            };
            if m.len() != x.len() {
                return Err(format!("{} multiples for rank {}", m.len(), x.len()));
            }
            let dims = x
                .iter()
                .zip(&m)
                .map(|(&d, &k)| match d {
                    Dim::Static(n) => stat(i64::from(n).saturating_mul(k)),
                    Dim::Dynamic => Ok(Dim::Dynamic),
                })
                .collect::<R<Vec<_>>>()?;
            one(OutputType::new(d0(), dims))
        }
        Op::Fill => match cx.ints(0) {
            Some(dims) => one(OutputType::new(
                cx.dtype(1),
                dims.iter().map(|&d| stat(d)).collect::<R<Vec<_>>>()?,
            )),
            None => match cx.dims(0)?.as_slice() {
                [Dim::Static(r)] if *r <= MAX_RANK => one(OutputType::new(
                    cx.dtype(1),
                    vec![Dim::Dynamic; *r as usize],
                )),
                _ => one(OutputType::dtype_only(cx.dtype(1))),
            },
        },
        Op::Shape(a) => one(OutputType::new(
            Some(a.out_type),
            vec![stat(cx.dims(0)?.len() as i64)?],
        )),
        Op::ResizeBilinear(_) | Op::ResizeNearestNeighbor(_) => {
            let x = cx.dims(0)?;
            rank_is(&x, 4, "input")?;
            let (h, w) = match cx.ints(1).as_deref() {
                Some(&[h, w]) => (stat(h)?, stat(w)?),
                Some(s) => return Err(format!("size has {} values, expected 2", s.len())),
                None => (Dim::Dynamic, Dim::Dynamic),
            };
            one(OutputType::new(d0(), vec![x[0], h, w, x[3]]))
        }
        Op::DepthToSpace(DepthToSpaceAttrs { block_size: b })
        | Op::SpaceToDepth(SpaceToDepthAttrs { block_size: b }) => {
            let x = cx.dims(0)?;
            rank_is(&x, 4, "input")?;
            let b = i64::from(*b);
            if b <= 0 {
                return Err(format!("block_size is {b}"));
            }
            let to_space = matches!(node.op, Op::DepthToSpace(_));
            let scale = |d: Dim, up: bool| -> R<Dim> {
                match d {
                    Dim::Dynamic => Ok(Dim::Dynamic),
                    Dim::Static(n) if up => stat(i64::from(n) * b),
                    Dim::Static(n) => {
                        if i64::from(n) % b != 0 {
                            Err(format!("size {n} is not a multiple of block size {b}"))
                        } else {
                            stat(i64::from(n) / b)
                        }
                    }
                }
            };
            let channels = |d: Dim| -> R<Dim> {
                match d {
                    Dim::Dynamic => Ok(Dim::Dynamic),
                    Dim::Static(n) if to_space => {
                        if i64::from(n) % (b * b) != 0 {
                            Err(format!("{n} channels are not a multiple of {}", b * b))
                        } else {
                            stat(i64::from(n) / (b * b))
                        }
                    }
                    Dim::Static(n) => stat(i64::from(n) * b * b),
                }
            };
            one(OutputType::new(
                d0(),
                vec![
                    x[0],
                    scale(x[1], to_space)?,
                    scale(x[2], to_space)?,
                    channels(x[3])?,
                ],
            ))
        }
        Op::UnidirectionalSequenceLstm(a) => {
            let x = cx.dims(0)?;
            rank_is(&x, 3, "input")?;
            // recurrent_to_output_weights: [n_cell, n_output].
            let units = cx
                .dims(8)
                .ok()
                .and_then(|w| w.get(1).copied())
                .unwrap_or(Dim::Dynamic);
            // [time, batch, units] or [batch, time, units], as the input is laid out.
            let _ = a.time_major;
            one(OutputType::new(d0(), vec![x[0], x[1], units]))
        }
        Op::Conv3d(a) => {
            let (x, w) = (cx.dims(0)?, cx.dims(1)?);
            rank_is(&x, 5, "input")?;
            rank_is(&w, 5, "filter")?;
            let (Some(kd), Some(kh), Some(kw)) =
                (static_of(w[0]), static_of(w[1]), static_of(w[2]))
            else {
                return one(OutputType::dtype_only(d0()));
            };
            one(OutputType::new(
                d0(),
                vec![
                    x[0],
                    window(x[1], kd, a.stride_d, a.dilation_d_factor, a.padding)?,
                    window(x[2], kh, a.stride_h, a.dilation_h_factor, a.padding)?,
                    window(x[3], kw, a.stride_w, a.dilation_w_factor, a.padding)?,
                    w[4],
                ],
            ))
        }
        Op::Conv3dTranspose(_) => one(transposed_output(&cx, 5)?),
        Op::Svdf(a) => {
            let x = cx.dims(0)?;
            rank_is(&x, 2, "input")?;
            // weights_feature: [num_filters, input_size]; units = num_filters / rank.
            let units = match (cx.dims(1).ok().and_then(|w| w.first().copied()), a.rank) {
                (Some(Dim::Static(f)), r) if r > 0 => Dim::Static(f / r as u32),
                _ => Dim::Dynamic,
            };
            one(OutputType::new(d0(), vec![x[0], units]))
        }
        Op::Rnn(_) | Op::UnidirectionalSequenceRnn(_) => {
            let x = cx.dims(0)?;
            let rank = if matches!(node.op, Op::Rnn(_)) { 2 } else { 3 };
            rank_is(&x, rank, "input")?;
            // input_weights: [num_units, input_size].
            let units = cx
                .dims(1)
                .ok()
                .and_then(|w| w.first().copied())
                .unwrap_or(Dim::Dynamic);
            let mut out = x;
            out[rank - 1] = units;
            one(OutputType::new(d0(), out))
        }
        Op::Floor
        | Op::Ceil
        | Op::Round
        | Op::Sin
        | Op::Cos
        | Op::Elu
        | Op::Relu0To1
        | Op::Sign
        | Op::LocalResponseNormalization(_)
        | Op::Cumsum(_) => same(d0()),
        Op::Bucketize(_) => same(Some(DType::Int32)),
        Op::FloorDiv | Op::FloorMod | Op::Atan2 | Op::BitwiseXor | Op::RightShift => one(
            OutputType::new(d0(), broadcast(&cx.dims(0)?, &cx.dims(1)?)?),
        ),
        // SELECT (v1) does not broadcast: the output has the values' shape.
        Op::Select => one(OutputType::new(cx.dtype(1), cx.dims(1)?)),
        Op::Range => one(range(&cx)?),
        Op::Bitcast => one(bitcast(&cx)?),
        Op::EmbeddingLookup => {
            let (ids, table) = (cx.dims(0)?, cx.dims(1)?);
            rank_is(&ids, 1, "EMBEDDING_LOOKUP indices")?;
            if table.len() < 2 {
                return Err(format!("EMBEDDING_LOOKUP table has rank {}", table.len()));
            }
            let mut dims = vec![ids[0]];
            dims.extend_from_slice(&table[1..]);
            // A quantized table may give float32 rows: the output keeps its stated type.
            let out = cx
                .node
                .outputs
                .first()
                .and_then(|&v| cx.sg.value(v))
                .map(|v| v.dtype);
            one(OutputType::new(out.or(cx.dtype(1)), dims))
        }
        Op::BroadcastTo
        | Op::GatherNd
        | Op::ScatterNd
        | Op::TopkV2
        | Op::Where
        | Op::ReverseV2
        | Op::OneHot(_)
        | Op::SpaceToBatchNd
        | Op::BatchToSpaceNd
        | Op::MatrixDiag
        | Op::MatrixSetDiag
        | Op::SegmentSum
        | Op::UnsortedSegmentSum
        | Op::UnsortedSegmentProd
        | Op::UnsortedSegmentMax
        | Op::UnsortedSegmentMin
        | Op::DynamicUpdateSlice
        | Op::NonMaxSuppressionV4
        | Op::NonMaxSuppressionV5 => index_ops(&cx),
        Op::VarHandle(_) => one(OutputType::new(Some(DType::Resource), Vec::new())),
        Op::ReadVariable
        | Op::AssignVariable
        | Op::While(_)
        | Op::If(_)
        | Op::CallOnce(_)
        | Op::Opaque(_) => Ok(vec![OutputType::default(); n_out]),
    }
}

/// LiteRT's strided slice, for masks without ellipsis and new axes (those are left unknown).
fn strided_slice(cx: &Ctx<'_, '_>, a: &StridedSliceAttrs) -> R<Vec<OutputType>> {
    let n_out = cx.node.outputs.len();
    let x = cx.dims(0)?;
    let dtype = cx.dtype(0);
    let unknown = || Ok(vec![OutputType::dtype_only(dtype); n_out]);
    if a.ellipsis_mask != 0 || a.new_axis_mask != 0 {
        return unknown();
    }
    let (Some(begin), Some(end), Some(strides)) = (cx.ints(1), cx.ints(2), cx.ints(3)) else {
        return unknown();
    };
    if begin.len() != end.len() || begin.len() != strides.len() || begin.len() > x.len() {
        return Err(format!(
            "begin, end and strides have {}, {} and {} values for rank {}",
            begin.len(),
            end.len(),
            strides.len(),
            x.len()
        ));
    }
    let bit = |mask: i32, i: usize| i < 32 && mask & (1 << i) != 0;
    let mut dims = Vec::with_capacity(x.len());
    for (i, &d) in x.iter().enumerate() {
        if i >= begin.len() {
            dims.push(d);
            continue;
        }
        let stride = strides[i];
        if stride == 0 {
            return Err(format!("stride {i} is 0"));
        }
        let shrink = bit(a.shrink_axis_mask, i);
        let Dim::Static(n) = d else {
            if !shrink {
                dims.push(Dim::Dynamic);
            }
            continue;
        };
        let n = i64::from(n);
        let (lo, hi) = if stride > 0 { (0, n) } else { (-1, n - 1) };
        let start = if bit(a.begin_mask, i) && !shrink {
            if stride > 0 { 0 } else { n - 1 }
        } else {
            let b = begin[i];
            let b = if b < 0 { b.saturating_add(n) } else { b };
            b.clamp(lo, hi)
        };
        if shrink {
            continue;
        }
        let stop = if bit(a.end_mask, i) {
            if stride > 0 { n } else { -1 }
        } else {
            let e = if a.offset {
                begin[i].saturating_add(end[i])
            } else {
                end[i]
            };
            let e = if e < 0 && !a.offset {
                e.saturating_add(n)
            } else {
                e
            };
            e.clamp(lo, hi)
        };
        let len = if stride > 0 {
            (stop - start).saturating_add(stride - 1) / stride
        } else {
            (start - stop).saturating_sub(stride + 1) / stride.saturating_neg()
        };
        dims.push(stat(len.max(0))?);
    }
    Ok(vec![OutputType::new(dtype, dims); n_out])
}

/// TRANSPOSE_CONV and CONV_3D_TRANSPOSE: the output shape is input 0's value (`rank` entries),
/// the type input 2's; the filter has rank `rank`.
fn transposed_output(cx: &Ctx<'_, '_>, rank: usize) -> R<OutputType> {
    rank_is(&cx.dims(1)?, rank, "filter")?;
    Ok(match cx.ints(0) {
        Some(shape) => {
            if shape.len() != rank {
                return Err(format!(
                    "output_shape has {} entries, expected {rank}",
                    shape.len()
                ));
            }
            let dims = shape.iter().map(|&d| stat(d)).collect::<R<Vec<_>>>()?;
            OutputType::new(cx.dtype(2), dims)
        }
        None => OutputType::new(cx.dtype(2), vec![Dim::Dynamic; rank]),
    })
}

/// RANGE: one dimension, known when start, limit and delta are constants.
fn range(cx: &Ctx<'_, '_>) -> R<OutputType> {
    let dtype = cx.dtype(0);
    let ints = (cx.ints(0), cx.ints(1), cx.ints(2));
    let len = if let (Some(s), Some(l), Some(d)) = ints {
        let ([s], [l], [d]) = (&s[..], &l[..], &d[..]) else {
            return Err("RANGE operands must be scalars".into());
        };
        if *d == 0 {
            return Err("RANGE delta is zero".into());
        }
        if (l > s && *d < 0) || (l < s && *d > 0) {
            return Err("RANGE delta points away from the limit".into());
        }
        let (span, step) = (l.abs_diff(*s), d.unsigned_abs());
        Some(span.div_ceil(step))
    } else if let (Some(s), Some(l), Some(d)) = (cx.float(0), cx.float(1), cx.float(2)) {
        if d == 0.0 {
            return Err("RANGE delta is zero".into());
        }
        if (l > s && d < 0.0) || (l < s && d > 0.0) {
            return Err("RANGE delta points away from the limit".into());
        }
        // ceil(|(l - s) / d|), without `f32::ceil` (a `std` method: this crate is no_std).
        let q = ((l - s) / d).abs();
        if !(q.is_finite() && q < u32::MAX as f32) {
            return Err(format!("RANGE has {q} elements"));
        }
        let t = q as u64;
        Some(if (t as f32) < q { t + 1 } else { t })
    } else {
        None
    };
    let dim = match len {
        Some(n) => stat(i64::try_from(n).map_err(|_| String::from("RANGE is too long"))?)?,
        None => Dim::Dynamic,
    };
    Ok(OutputType::new(dtype, vec![dim]))
}

/// BITCAST: the input's shape, with the last dimension split or merged when the element
/// sizes differ (TensorFlow's rule).
fn bitcast(cx: &Ctx<'_, '_>) -> R<OutputType> {
    let x = cx.dims(0)?;
    let out = cx
        .node
        .outputs
        .first()
        .and_then(|&v| cx.sg.value(v))
        .map(|v| v.dtype);
    let (Some(from), Some(to)) = (cx.dtype(0).and_then(DType::bits), out.and_then(DType::bits))
    else {
        return Ok(OutputType::dtype_only(out));
    };
    let mut dims = x;
    if from > to {
        if from % to != 0 {
            return Err(format!("cannot bitcast {from}-bit into {to}-bit elements"));
        }
        dims.push(Dim::Static(from / to));
    } else if from < to {
        if to % from != 0 {
            return Err(format!("cannot bitcast {from}-bit into {to}-bit elements"));
        }
        match dims.pop() {
            Some(Dim::Static(n)) if n == to / from => {}
            Some(Dim::Dynamic) => {}
            _ => {
                return Err(format!(
                    "bitcast from {from}-bit to {to}-bit elements needs a last dimension of {}",
                    to / from
                ));
            }
        }
    }
    Ok(OutputType::new(out, dims))
}

/// Shape rules of the index and layout operators (BROADCAST_TO, GATHER_ND, SCATTER_ND, TOPK_V2,
/// WHERE, REVERSE_V2, ONE_HOT, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, MATRIX_DIAG,
/// MATRIX_SET_DIAG, the segment reductions and DYNAMIC_UPDATE_SLICE), as LiteRT's `Prepare`s
/// compute them.
fn index_ops(cx: &Ctx<'_, '_>) -> R<Vec<OutputType>> {
    let node = cx.node;
    let n_out = node.outputs.len();
    let one = |t: OutputType| -> R<Vec<OutputType>> {
        let mut v = vec![OutputType::default(); n_out];
        if let Some(slot) = v.first_mut() {
            *slot = t;
        }
        Ok(v)
    };
    let d0 = cx.dtype(0);
    // The rank a computed shape vector gives (its length), when known.
    let rank_of_shape = |i: usize| -> R<Option<usize>> {
        Ok(match cx.dims(i)?.as_slice() {
            [Dim::Static(r)] if *r <= MAX_RANK => Some(*r as usize),
            _ => None,
        })
    };
    match &node.op {
        Op::BroadcastTo => {
            let x = cx.dims(0)?;
            match cx.ints(1) {
                Some(target) => {
                    let t = target.iter().map(|&d| stat(d)).collect::<R<Vec<_>>>()?;
                    if t.len() < x.len() {
                        return Err(format!("shape {target:?} has a lower rank than the input"));
                    }
                    let b = broadcast(&x, &t)?;
                    if b != t {
                        return Err(format!("input {x:?} does not broadcast to {target:?}"));
                    }
                    one(OutputType::new(d0, t))
                }
                None => match rank_of_shape(1)? {
                    Some(r) => one(OutputType::new(d0, vec![Dim::Dynamic; r])),
                    None => one(OutputType::dtype_only(d0)),
                },
            }
        }
        Op::GatherNd => {
            let (p, idx) = (cx.dims(0)?, cx.dims(1)?);
            let Some(&last) = idx.last() else {
                return Err("indices must be at least a vector".into());
            };
            let Dim::Static(nd) = last else {
                return one(OutputType::dtype_only(d0));
            };
            let nd = nd as usize;
            if p.is_empty() || nd > p.len() {
                return Err(format!(
                    "indices address {nd} dimensions of a rank-{} tensor",
                    p.len()
                ));
            }
            let mut dims = idx[..idx.len() - 1].to_vec();
            dims.extend_from_slice(&p[nd..]);
            one(OutputType::new(d0, dims))
        }
        Op::ScatterNd => {
            let dtype = cx.dtype(1);
            match cx.ints(2) {
                Some(shape) => one(OutputType::new(
                    dtype,
                    shape.iter().map(|&d| stat(d)).collect::<R<Vec<_>>>()?,
                )),
                None => match rank_of_shape(2)? {
                    Some(r) => one(OutputType::new(dtype, vec![Dim::Dynamic; r])),
                    None => one(OutputType::dtype_only(dtype)),
                },
            }
        }
        Op::TopkV2 => {
            let x = cx.dims(0)?;
            let Some(&last) = x.last() else {
                return Err("input must have rank 1 or more".into());
            };
            let k = match cx.ints(1).as_deref() {
                Some(&[k]) => {
                    if let Dim::Static(n) = last
                        && (k < 0 || k > i64::from(n))
                    {
                        return Err(format!("k {k} is outside [0, {n}]"));
                    }
                    stat(k)?
                }
                Some(k) => return Err(format!("k has {} values, expected 1", k.len())),
                None => Dim::Dynamic,
            };
            let mut dims = x.clone();
            let r = dims.len();
            dims[r - 1] = k;
            let mut v = vec![OutputType::default(); n_out];
            if let Some(slot) = v.get_mut(0) {
                *slot = OutputType::new(d0, dims.clone());
            }
            if let Some(slot) = v.get_mut(1) {
                *slot = OutputType::new(Some(DType::Int32), dims);
            }
            Ok(v)
        }
        Op::Where => {
            let x = cx.dims(0)?;
            // The number of true elements, when the input's values are known.
            let count = cx.value(0).ok().and_then(|v| {
                let data = v.data.as_ref()?;
                let n = usize::try_from(v.shape.num_elements()?).ok()?;
                let es = (v.dtype.bits()? as usize).div_ceil(8);
                if v.sparsity.is_some() || es == 0 || data.len() < n.checked_mul(es)? {
                    return None;
                }
                let nonzero = |e: &[u8]| match v.dtype {
                    // -0.0 is zero.
                    DType::Float32 | DType::Float64 | DType::Float16 => {
                        e[..es - 1].iter().any(|&b| b != 0) || e[es - 1] & 0x7f != 0
                    }
                    _ => e.iter().any(|&b| b != 0),
                };
                Some(data.chunks_exact(es).take(n).filter(|e| nonzero(e)).count())
            });
            let first = match count {
                Some(c) => stat(c as i64)?,
                None => Dim::Dynamic,
            };
            one(OutputType::new(
                Some(DType::Int64),
                vec![first, stat(x.len() as i64)?],
            ))
        }
        Op::ReverseV2 | Op::MatrixSetDiag | Op::DynamicUpdateSlice => {
            one(OutputType::new(d0, cx.dims(0)?))
        }
        Op::OneHot(a) => {
            let idx = cx.dims(0)?;
            let axis = if a.axis == -1 {
                idx.len()
            } else {
                usize::try_from(a.axis)
                    .ok()
                    .filter(|&x| x <= idx.len())
                    .ok_or_else(|| format!("axis {} is out of range", a.axis))?
            };
            let depth = match cx.ints(1).as_deref() {
                Some(&[d]) => stat(d)?,
                Some(d) => return Err(format!("depth has {} values, expected 1", d.len())),
                None => Dim::Dynamic,
            };
            let mut dims = idx;
            dims.insert(axis, depth);
            one(OutputType::new(cx.dtype(2), dims))
        }
        Op::SpaceToBatchNd | Op::BatchToSpaceNd => {
            let x = cx.dims(0)?;
            let to_batch = matches!(node.op, Op::SpaceToBatchNd);
            let (Some(block), Some(pads)) = (cx.ints(1), cx.ints(2)) else {
                return one(OutputType::new(d0, vec![Dim::Dynamic; x.len()]));
            };
            let m = block.len();
            if pads.len() != 2 * m || x.len() < m + 1 {
                return Err(format!(
                    "{m} block sizes, {} paddings or crops for rank {}",
                    pads.len(),
                    x.len()
                ));
            }
            let mut dims = x.clone();
            let mut blocks = 1i64;
            for (i, &b) in block.iter().enumerate() {
                let (lo, hi) = (pads[2 * i], pads[2 * i + 1]);
                if b < 1 || lo < 0 || hi < 0 {
                    return Err(format!("block size {b} and paddings or crops {lo}, {hi}"));
                }
                blocks = blocks.saturating_mul(b);
                dims[i + 1] = match x[i + 1] {
                    Dim::Dynamic => Dim::Dynamic,
                    Dim::Static(n) if to_batch => {
                        let padded = i64::from(n).saturating_add(lo).saturating_add(hi);
                        if padded % b != 0 {
                            return Err(format!(
                                "padded size {padded} is not a multiple of block size {b}"
                            ));
                        }
                        stat(padded / b)?
                    }
                    Dim::Static(n) => stat(
                        i64::from(n)
                            .saturating_mul(b)
                            .saturating_sub(lo)
                            .saturating_sub(hi),
                    )?,
                };
            }
            dims[0] = match x[0] {
                Dim::Dynamic => Dim::Dynamic,
                Dim::Static(n) if to_batch => stat(i64::from(n).saturating_mul(blocks))?,
                Dim::Static(n) => {
                    if i64::from(n) % blocks != 0 {
                        return Err(format!("batch {n} is not a multiple of {blocks}"));
                    }
                    stat(i64::from(n) / blocks)?
                }
            };
            one(OutputType::new(d0, dims))
        }
        Op::MatrixDiag => {
            let mut x = cx.dims(0)?;
            let Some(&last) = x.last() else {
                return Err("input must have rank 1 or more".into());
            };
            x.push(last);
            one(OutputType::new(d0, x))
        }
        Op::SegmentSum => {
            let x = cx.dims(0)?;
            if x.is_empty() {
                return Err("data must have rank 1 or more".into());
            }
            let first = match cx.ints(1) {
                Some(ids) => stat(ids.iter().copied().max().map_or(0, |m| m.saturating_add(1)))?,
                None => Dim::Dynamic,
            };
            let mut dims = x;
            dims[0] = first;
            one(OutputType::new(d0, dims))
        }
        Op::UnsortedSegmentSum
        | Op::UnsortedSegmentProd
        | Op::UnsortedSegmentMax
        | Op::UnsortedSegmentMin => {
            let (x, ids) = (cx.dims(0)?, cx.dims(1)?);
            if ids.len() > x.len() {
                return Err(format!(
                    "segment ids have rank {}, data has rank {}",
                    ids.len(),
                    x.len()
                ));
            }
            let n = match cx.ints(2).as_deref() {
                Some(&[n]) => stat(n)?,
                Some(n) => return Err(format!("num_segments has {} values, expected 1", n.len())),
                None => Dim::Dynamic,
            };
            let mut dims = vec![n];
            dims.extend_from_slice(&x[ids.len()..]);
            one(OutputType::new(d0, dims))
        }
        Op::NonMaxSuppressionV4 | Op::NonMaxSuppressionV5 => {
            let b = cx.dims(0)?;
            rank_is(&b, 2, "boxes")?;
            let max = match cx.ints(2).as_deref() {
                Some(&[m]) => stat(m)?,
                Some(m) => {
                    return Err(format!(
                        "max_output_size has {} values, expected 1",
                        m.len()
                    ));
                }
                None => Dim::Dynamic,
            };
            let mut v = vec![OutputType::new(Some(DType::Int32), vec![max])];
            if matches!(node.op, Op::NonMaxSuppressionV5) {
                v.push(OutputType::new(cx.dtype(1), vec![max]));
            }
            v.push(OutputType::new(Some(DType::Int32), Vec::new()));
            v.resize(n_out, OutputType::default());
            Ok(v)
        }
        _ => Ok(vec![OutputType::default(); n_out]),
    }
}

//! The one table of typed operators.
//!
//! Every typed [`Op`](crate::Op) variant, its TFLite builtin code and its options table is listed
//! here once. [`op_table!`] hands the table to a callback macro: `ops.rs` builds the attribute
//! structs and the `Op` enum from it, and `tflite/` builds import and export from it. Adding an
//! operator is one entry in an op section (plus an entry in `attrs` when it has new options).
//!
//! Sections:
//! - `attrs`: `Struct: FbTable, FbTableArgs, fb_union_accessor { field: Type, ... }`. Field names
//!   are the schema's; each field of the schema table is listed (deprecated fields, which the
//!   schema keeps only for old readers, are not), so that typed attributes hold everything the
//!   file holds.
//! - `with_attrs`: `Variant = BUILTIN_NAME = code (Struct);` for operators with options.
//! - `optional_attrs`: the same, for operators whose options table files may omit; the variant
//!   holds `Option<Struct>`, `None` meaning "no table" (LiteRT then reads zeroed parameters).
//! - `empty_options`: `Variant = BUILTIN_NAME = code [FbTable, FbTableArgs, fb_union_accessor,
//!   write];` for operators whose options table has no fields. Import accepts the table or its
//!   absence (they mean the same); export writes the table when `write` is true, as
//!   TensorFlow's converter does for that operator.
//! - `no_options`: `Variant = BUILTIN_NAME = code;` for operators without an options table.
//!
//! Anything import cannot represent with a typed variant (options of another table, builtin
//! options 2, custom options on a builtin, a field value without a typed equivalent) becomes
//! [`Op::Opaque`](crate::Op::Opaque), which keeps it exactly.
//!
//! An attribute field named `fused_activation_function` makes the operator answer
//! [`Op::fused_activation`](crate::Op::fused_activation) and `fused_activation_mut`, with
//! nothing else to write.
//!
//! Checklist for a new typed operator: its entry here; its shape rule in `infer.rs`
//! (`infer_outputs` and `input_arity`); its version rule in `tflite/version.rs` when versions
//! above 1 depend on types or attributes. The build checks the code against the schema.

/// Calls `$callback! { attrs { ... } with_attrs { ... } optional_attrs { ... }
/// empty_options { ... } no_options { ... } }` with the operator table.
macro_rules! op_table {
    ($callback:ident) => {
        $callback! {
            attrs {
                /// Options of `CONV_2D`.
                Conv2dAttrs: Conv2DOptions, Conv2DOptionsArgs, builtin_options_as_conv_2_doptions {
                    /// Padding scheme.
                    padding: Padding,
                    /// Stride along the width.
                    stride_w: i32,
                    /// Stride along the height.
                    stride_h: i32,
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                    /// Dilation along the width.
                    dilation_w_factor: i32,
                    /// Dilation along the height.
                    dilation_h_factor: i32,
                    /// Type of the bias for quantized convolutions (float32 means "default").
                    quantized_bias_type: DType,
                }
                /// Options of `DEPTHWISE_CONV_2D`.
                DepthwiseConv2dAttrs: DepthwiseConv2DOptions, DepthwiseConv2DOptionsArgs, builtin_options_as_depthwise_conv_2_doptions {
                    /// Padding scheme.
                    padding: Padding,
                    /// Stride along the width.
                    stride_w: i32,
                    /// Stride along the height.
                    stride_h: i32,
                    /// Output channels per input channel.
                    depth_multiplier: i32,
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                    /// Dilation along the width.
                    dilation_w_factor: i32,
                    /// Dilation along the height.
                    dilation_h_factor: i32,
                }
                /// Options of `FULLY_CONNECTED`.
                FullyConnectedAttrs: FullyConnectedOptions, FullyConnectedOptionsArgs, builtin_options_as_fully_connected_options {
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                    /// Layout of the weights.
                    weights_format: WeightsFormat,
                    /// Keep the input's leading dimensions instead of flattening them.
                    keep_num_dims: bool,
                    /// Hybrid kernels quantize inputs asymmetrically.
                    asymmetric_quantize_inputs: bool,
                    /// Type of the bias for quantized kernels (float32 means "default").
                    quantized_bias_type: DType,
                }
                /// Options of `TRANSPOSE_CONV`.
                TransposeConvAttrs: TransposeConvOptions, TransposeConvOptionsArgs, builtin_options_as_transpose_conv_options {
                    /// Padding scheme.
                    padding: Padding,
                    /// Stride along the width.
                    stride_w: i32,
                    /// Stride along the height.
                    stride_h: i32,
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                    /// Type of the bias for quantized kernels (float32 means "default").
                    quantized_bias_type: DType,
                }
                /// Options of `BATCH_MATMUL`.
                BatchMatMulAttrs: BatchMatMulOptions, BatchMatMulOptionsArgs, builtin_options_as_batch_mat_mul_options {
                    /// Transpose (adjoint) the first operand.
                    adj_x: bool,
                    /// Transpose (adjoint) the second operand.
                    adj_y: bool,
                    /// Hybrid kernels quantize inputs asymmetrically.
                    asymmetric_quantize_inputs: bool,
                }
                /// Options of `ADD`.
                AddAttrs: AddOptions, AddOptionsArgs, builtin_options_as_add_options {
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                    /// int16 kernels may assume power-of-two scales.
                    pot_scale_int16: bool,
                }
                /// Options of `SUB`.
                SubAttrs: SubOptions, SubOptionsArgs, builtin_options_as_sub_options {
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                    /// int16 kernels may assume power-of-two scales.
                    pot_scale_int16: bool,
                }
                /// Options of `MUL`.
                MulAttrs: MulOptions, MulOptionsArgs, builtin_options_as_mul_options {
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                }
                /// Options of `DIV`.
                DivAttrs: DivOptions, DivOptionsArgs, builtin_options_as_div_options {
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                }
                /// Options of `LEAKY_RELU`.
                LeakyReluAttrs: LeakyReluOptions, LeakyReluOptionsArgs, builtin_options_as_leaky_relu_options {
                    /// Slope for negative inputs.
                    alpha: f32,
                }
                /// Options of `GELU`.
                GeluAttrs: GeluOptions, GeluOptionsArgs, builtin_options_as_gelu_options {
                    /// Use the tanh approximation.
                    approximate: bool,
                }
                /// Options of `SOFTMAX`.
                SoftmaxAttrs: SoftmaxOptions, SoftmaxOptionsArgs, builtin_options_as_softmax_options {
                    /// Inverse temperature.
                    beta: f32,
                }
                /// Options of `MAX_POOL_2D` and `AVERAGE_POOL_2D`.
                Pool2dAttrs: Pool2DOptions, Pool2DOptionsArgs, builtin_options_as_pool_2_doptions {
                    /// Padding scheme.
                    padding: Padding,
                    /// Stride along the width.
                    stride_w: i32,
                    /// Stride along the height.
                    stride_h: i32,
                    /// Window width.
                    filter_width: i32,
                    /// Window height.
                    filter_height: i32,
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                }
                /// Options of `L2_NORMALIZATION`.
                L2NormAttrs: L2NormOptions, L2NormOptionsArgs, builtin_options_as_l2_norm_options {
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                }
                /// Options of the reductions `MEAN`, `SUM`, `REDUCE_MAX` and `REDUCE_MIN`.
                ReducerAttrs: ReducerOptions, ReducerOptionsArgs, builtin_options_as_reducer_options {
                    /// Keep reduced dimensions with size 1.
                    keep_dims: bool,
                }
                /// Options of `ARG_MAX`.
                ArgMaxAttrs: ArgMaxOptions, ArgMaxOptionsArgs, builtin_options_as_arg_max_options {
                    /// Type of the output indices.
                    output_type: DType,
                }
                /// Options of `ARG_MIN`.
                ArgMinAttrs: ArgMinOptions, ArgMinOptionsArgs, builtin_options_as_arg_min_options {
                    /// Type of the output indices.
                    output_type: DType,
                }
                /// Options of `RESHAPE`.
                ReshapeAttrs: ReshapeOptions, ReshapeOptionsArgs, builtin_options_as_reshape_options {
                    /// The target shape when it is not given as a second input.
                    new_shape: Option<Vec<i32>>,
                }
                /// Options of `SQUEEZE`.
                SqueezeAttrs: SqueezeOptions, SqueezeOptionsArgs, builtin_options_as_squeeze_options {
                    /// Axes to remove; all size-1 axes when absent or empty.
                    squeeze_dims: Option<Vec<i32>>,
                }
                /// Options of `CONCATENATION`.
                ConcatenationAttrs: ConcatenationOptions, ConcatenationOptionsArgs, builtin_options_as_concatenation_options {
                    /// Axis to concatenate along (negative counts from the end).
                    axis: i32,
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                }
                /// Options of `PACK`.
                PackAttrs: PackOptions, PackOptionsArgs, builtin_options_as_pack_options {
                    /// Number of inputs.
                    values_count: i32,
                    /// Axis of the new dimension.
                    axis: i32,
                }
                /// Options of `UNPACK`.
                UnpackAttrs: UnpackOptions, UnpackOptionsArgs, builtin_options_as_unpack_options {
                    /// Number of outputs.
                    num: i32,
                    /// Axis to unpack along.
                    axis: i32,
                }
                /// Options of `SPLIT`.
                SplitAttrs: SplitOptions, SplitOptionsArgs, builtin_options_as_split_options {
                    /// Number of outputs.
                    num_splits: i32,
                }
                /// Options of `SPLIT_V`.
                SplitVAttrs: SplitVOptions, SplitVOptionsArgs, builtin_options_as_split_voptions {
                    /// Number of outputs.
                    num_splits: i32,
                }
                /// Options of `STRIDED_SLICE`.
                StridedSliceAttrs: StridedSliceOptions, StridedSliceOptionsArgs, builtin_options_as_strided_slice_options {
                    /// Bit `i` set: ignore `begin[i]`.
                    begin_mask: i32,
                    /// Bit `i` set: ignore `end[i]`.
                    end_mask: i32,
                    /// Bit `i` set: dimension `i` is an ellipsis.
                    ellipsis_mask: i32,
                    /// Bit `i` set: insert a new axis at `i`.
                    new_axis_mask: i32,
                    /// Bit `i` set: remove dimension `i` (take one element).
                    shrink_axis_mask: i32,
                    /// `end` is an offset from `begin`.
                    offset: bool,
                }
                /// Options of `GATHER`.
                GatherAttrs: GatherOptions, GatherOptionsArgs, builtin_options_as_gather_options {
                    /// Axis to gather along.
                    axis: i32,
                    /// Number of leading batch dimensions.
                    batch_dims: i32,
                }
                /// Options of `MIRROR_PAD`.
                MirrorPadAttrs: MirrorPadOptions, MirrorPadOptionsArgs, builtin_options_as_mirror_pad_options {
                    /// Reflect or symmetric.
                    mode: MirrorPadMode,
                }
                /// Options of `SHAPE`.
                ShapeAttrs: ShapeOptions, ShapeOptionsArgs, builtin_options_as_shape_options {
                    /// Type of the output.
                    out_type: DType,
                }
                /// Options of `CAST`.
                CastAttrs: CastOptions, CastOptionsArgs, builtin_options_as_cast_options {
                    /// Type of the input.
                    in_data_type: DType,
                    /// Type of the output.
                    out_data_type: DType,
                }
                /// Options of `RESIZE_BILINEAR`.
                ResizeBilinearAttrs: ResizeBilinearOptions, ResizeBilinearOptionsArgs, builtin_options_as_resize_bilinear_options {
                    /// Align the corner pixels of input and output.
                    align_corners: bool,
                    /// Sample at pixel centers.
                    half_pixel_centers: bool,
                }
                /// Options of `RESIZE_NEAREST_NEIGHBOR`.
                ResizeNearestNeighborAttrs: ResizeNearestNeighborOptions, ResizeNearestNeighborOptionsArgs, builtin_options_as_resize_nearest_neighbor_options {
                    /// Align the corner pixels of input and output.
                    align_corners: bool,
                    /// Sample at pixel centers.
                    half_pixel_centers: bool,
                }
                /// Options of `DEPTH_TO_SPACE`.
                DepthToSpaceAttrs: DepthToSpaceOptions, DepthToSpaceOptionsArgs, builtin_options_as_depth_to_space_options {
                    /// Block size.
                    block_size: i32,
                }
                /// Options of `SPACE_TO_DEPTH`.
                SpaceToDepthAttrs: SpaceToDepthOptions, SpaceToDepthOptionsArgs, builtin_options_as_space_to_depth_options {
                    /// Block size.
                    block_size: i32,
                }
                /// Options of `UNIDIRECTIONAL_SEQUENCE_LSTM`.
                UnidirectionalSequenceLstmAttrs: UnidirectionalSequenceLSTMOptions, UnidirectionalSequenceLSTMOptionsArgs, builtin_options_as_unidirectional_sequence_lstmoptions {
                    /// Activation of the cell input and output.
                    fused_activation_function: Activation,
                    /// Cell state clip (0: none).
                    cell_clip: f32,
                    /// Projection clip (0: none).
                    proj_clip: f32,
                    /// Inputs are `[time, batch, ...]` rather than `[batch, time, ...]`.
                    time_major: bool,
                    /// Hybrid kernels quantize inputs asymmetrically.
                    asymmetric_quantize_inputs: bool,
                    /// Recurrent weights are diagonal.
                    diagonal_recurrent_tensors: bool,
                }
                /// Options of `WHILE`.
                WhileAttrs: WhileOptions, WhileOptionsArgs, builtin_options_as_while_options {
                    /// Subgraph computing the loop condition.
                    cond_subgraph_index: i32,
                    /// Subgraph computing the loop body.
                    body_subgraph_index: i32,
                }
                /// Options of `IF`.
                IfAttrs: IfOptions, IfOptionsArgs, builtin_options_as_if_options {
                    /// Subgraph run when the condition holds.
                    then_subgraph_index: i32,
                    /// Subgraph run otherwise.
                    else_subgraph_index: i32,
                }
                /// Options of `VAR_HANDLE`.
                VarHandleAttrs: VarHandleOptions, VarHandleOptionsArgs, builtin_options_as_var_handle_options {
                    /// Container of the variable.
                    container: Option<String>,
                    /// Name shared by handles to the same variable.
                    shared_name: Option<String>,
                }
                /// Options of `CALL_ONCE`.
                CallOnceAttrs: CallOnceOptions, CallOnceOptionsArgs, builtin_options_as_call_once_options {
                    /// Subgraph run on the first invoke.
                    init_subgraph_index: i32,
                }
                /// Options of `CUMSUM`.
                CumsumAttrs: CumsumOptions, CumsumOptionsArgs, builtin_options_as_cumsum_options {
                    /// Each output excludes its own element (starts from zero).
                    exclusive: bool,
                    /// Accumulate from the end of the axis.
                    reverse: bool,
                }
                /// Options of `BUCKETIZE`.
                BucketizeAttrs: BucketizeOptions, BucketizeOptionsArgs, builtin_options_as_bucketize_options {
                    /// Sorted bucket boundaries.
                    boundaries: Option<Vec<f32>>,
                }
                /// Options of `LOCAL_RESPONSE_NORMALIZATION`.
                LocalResponseNormalizationAttrs: LocalResponseNormalizationOptions, LocalResponseNormalizationOptionsArgs, builtin_options_as_local_response_normalization_options {
                    /// Half-width of the channel window.
                    radius: i32,
                    /// Offset added to the scaled sum of squares.
                    bias: f32,
                    /// Scale of the sum of squares.
                    alpha: f32,
                    /// Exponent.
                    beta: f32,
                }
                /// Options of `ONE_HOT`.
                OneHotAttrs: OneHotOptions, OneHotOptionsArgs, builtin_options_as_one_hot_options {
                    /// Axis of the new dimension (-1: last).
                    axis: i32,
                }
                /// Options of `RNN`.
                RnnAttrs: RNNOptions, RNNOptionsArgs, builtin_options_as_rnnoptions {
                    /// Activation of the new hidden state.
                    fused_activation_function: Activation,
                    /// Hybrid kernels quantize inputs asymmetrically.
                    asymmetric_quantize_inputs: bool,
                }
                /// Options of `CONV_3D` and `CONV_3D_TRANSPOSE`.
                Conv3dAttrs: Conv3DOptions, Conv3DOptionsArgs, builtin_options_as_conv_3_doptions {
                    /// Padding scheme.
                    padding: Padding,
                    /// Stride along the depth.
                    stride_d: i32,
                    /// Stride along the width.
                    stride_w: i32,
                    /// Stride along the height.
                    stride_h: i32,
                    /// Activation fused into the output.
                    fused_activation_function: Activation,
                    /// Dilation along the depth.
                    dilation_d_factor: i32,
                    /// Dilation along the width.
                    dilation_w_factor: i32,
                    /// Dilation along the height.
                    dilation_h_factor: i32,
                }
                /// Options of `SVDF`.
                SvdfAttrs: SVDFOptions, SVDFOptionsArgs, builtin_options_as_svdfoptions {
                    /// Filters per output unit.
                    rank: i32,
                    /// Activation of the output.
                    fused_activation_function: Activation,
                    /// Hybrid kernels quantize inputs asymmetrically.
                    asymmetric_quantize_inputs: bool,
                }
                /// Options of `UNIDIRECTIONAL_SEQUENCE_RNN`.
                SequenceRnnAttrs: SequenceRNNOptions, SequenceRNNOptionsArgs, builtin_options_as_sequence_rnnoptions {
                    /// Inputs are `[time, batch, ...]` rather than `[batch, time, ...]`.
                    time_major: bool,
                    /// Activation of the new hidden state.
                    fused_activation_function: Activation,
                    /// Hybrid kernels quantize inputs asymmetrically.
                    asymmetric_quantize_inputs: bool,
                }
            }
            with_attrs {
                /// 2-D convolution.
                Conv2d = CONV_2D = 3 (Conv2dAttrs);
                /// Depthwise 2-D convolution.
                DepthwiseConv2d = DEPTHWISE_CONV_2D = 4 (DepthwiseConv2dAttrs);
                /// Fully connected (dense) layer.
                FullyConnected = FULLY_CONNECTED = 9 (FullyConnectedAttrs);
                /// Transposed 2-D convolution.
                TransposeConv = TRANSPOSE_CONV = 67 (TransposeConvAttrs);
                /// Batched matrix multiplication.
                BatchMatMul = BATCH_MATMUL = 126 (BatchMatMulAttrs);
                /// Elementwise addition with broadcasting.
                Add = ADD = 0 (AddAttrs);
                /// Elementwise subtraction with broadcasting.
                Sub = SUB = 41 (SubAttrs);
                /// Elementwise multiplication with broadcasting.
                Mul = MUL = 18 (MulAttrs);
                /// Elementwise division with broadcasting.
                Div = DIV = 42 (DivAttrs);
                /// Leaky rectified linear unit.
                LeakyRelu = LEAKY_RELU = 98 (LeakyReluAttrs);
                /// Gaussian error linear unit.
                Gelu = GELU = 150 (GeluAttrs);
                /// Softmax over the last axis.
                Softmax = SOFTMAX = 25 (SoftmaxAttrs);
                /// 2-D max pooling.
                MaxPool2d = MAX_POOL_2D = 17 (Pool2dAttrs);
                /// 2-D average pooling.
                AveragePool2d = AVERAGE_POOL_2D = 1 (Pool2dAttrs);
                /// L2 normalization over the last axis.
                L2Normalization = L2_NORMALIZATION = 11 (L2NormAttrs);
                /// Mean over axes.
                Mean = MEAN = 40 (ReducerAttrs);
                /// Sum over axes.
                Sum = SUM = 74 (ReducerAttrs);
                /// Maximum over axes.
                ReduceMax = REDUCE_MAX = 82 (ReducerAttrs);
                /// Minimum over axes.
                ReduceMin = REDUCE_MIN = 89 (ReducerAttrs);
                /// Index of the maximum along an axis.
                ArgMax = ARG_MAX = 56 (ArgMaxAttrs);
                /// Index of the minimum along an axis.
                ArgMin = ARG_MIN = 79 (ArgMinAttrs);
                /// Remove size-1 dimensions.
                Squeeze = SQUEEZE = 43 (SqueezeAttrs);
                /// Concatenate along an axis.
                Concatenation = CONCATENATION = 2 (ConcatenationAttrs);
                /// Stack tensors along a new axis.
                Pack = PACK = 83 (PackAttrs);
                /// Split a tensor along an axis into rank-reduced tensors.
                Unpack = UNPACK = 88 (UnpackAttrs);
                /// Split into equal parts.
                Split = SPLIT = 49 (SplitAttrs);
                /// Split into parts of given sizes.
                SplitV = SPLIT_V = 102 (SplitVAttrs);
                /// Strided slice.
                StridedSlice = STRIDED_SLICE = 45 (StridedSliceAttrs);
                /// Gather slices along an axis.
                Gather = GATHER = 36 (GatherAttrs);
                /// Pad by reflection.
                MirrorPad = MIRROR_PAD = 100 (MirrorPadAttrs);
                /// The shape of a tensor as a tensor.
                Shape = SHAPE = 77 (ShapeAttrs);
                /// Bilinear resize.
                ResizeBilinear = RESIZE_BILINEAR = 23 (ResizeBilinearAttrs);
                /// Nearest-neighbor resize.
                ResizeNearestNeighbor = RESIZE_NEAREST_NEIGHBOR = 97 (ResizeNearestNeighborAttrs);
                /// Move depth into spatial blocks.
                DepthToSpace = DEPTH_TO_SPACE = 5 (DepthToSpaceAttrs);
                /// Move spatial blocks into depth.
                SpaceToDepth = SPACE_TO_DEPTH = 26 (SpaceToDepthAttrs);
                /// Unidirectional sequence LSTM.
                UnidirectionalSequenceLstm = UNIDIRECTIONAL_SEQUENCE_LSTM = 44 (UnidirectionalSequenceLstmAttrs);
                /// Loop over subgraphs.
                While = WHILE = 119 (WhileAttrs);
                /// Conditional over subgraphs.
                If = IF = 118 (IfAttrs);
                /// A handle to a resource variable.
                VarHandle = VAR_HANDLE = 142 (VarHandleAttrs);
                /// Run a subgraph once, on the first invoke.
                CallOnce = CALL_ONCE = 129 (CallOnceAttrs);
                /// Product over axes.
                ReduceProd = REDUCE_PROD = 81 (ReducerAttrs);
                /// Logical or over axes.
                ReduceAny = REDUCE_ANY = 91 (ReducerAttrs);
                /// Logical and over axes.
                ReduceAll = REDUCE_ALL = 140 (ReducerAttrs);
                /// Cumulative sum along an axis.
                Cumsum = CUMSUM = 128 (CumsumAttrs);
                /// Index of the bucket of each element.
                Bucketize = BUCKETIZE = 147 (BucketizeAttrs);
                /// Local response normalization across channels.
                LocalResponseNormalization = LOCAL_RESPONSE_NORMALIZATION = 13 (LocalResponseNormalizationAttrs);
                /// One-hot encoding of indices.
                OneHot = ONE_HOT = 85 (OneHotAttrs);
                /// Basic RNN cell, one step.
                Rnn = RNN = 24 (RnnAttrs);
                /// Basic RNN over a sequence.
                UnidirectionalSequenceRnn = UNIDIRECTIONAL_SEQUENCE_RNN = 35 (SequenceRnnAttrs);
                /// Singular value decomposition filter (a rank-limited 1-D convolution over time).
                Svdf = SVDF = 27 (SvdfAttrs);
                /// 3-D convolution (NDHWC input, DHWIO filter).
                Conv3d = CONV_3D = 132 (Conv3dAttrs);
                /// Transposed 3-D convolution.
                Conv3dTranspose = CONV_3D_TRANSPOSE = 141 (Conv3dAttrs);
            }
            optional_attrs {
                /// Reshape; `None` when the file has no options table (the converter omits it
                /// when the shape is the second input).
                Reshape = RESHAPE = 22 (ReshapeAttrs);
                /// Convert element type; `None` when the file has no options table (the
                /// converter omits it; kernels read the types from the tensors).
                Cast = CAST = 53 (CastAttrs);
            }
            empty_options {
                /// Elementwise `(a - b)^2`.
                SquaredDifference = SQUARED_DIFFERENCE = 99 [SquaredDifferenceOptions, SquaredDifferenceOptionsArgs, builtin_options_as_squared_difference_options, false];
                /// Elementwise maximum.
                Maximum = MAXIMUM = 55 [MaximumMinimumOptions, MaximumMinimumOptionsArgs, builtin_options_as_maximum_minimum_options, false];
                /// Elementwise minimum.
                Minimum = MINIMUM = 57 [MaximumMinimumOptions, MaximumMinimumOptionsArgs, builtin_options_as_maximum_minimum_options, false];
                /// Absolute value.
                Abs = ABS = 101 [AbsOptions, AbsOptionsArgs, builtin_options_as_abs_options, false];
                /// Negation.
                Neg = NEG = 59 [NegOptions, NegOptionsArgs, builtin_options_as_neg_options, true];
                /// Exponential.
                Exp = EXP = 47 [ExpOptions, ExpOptionsArgs, builtin_options_as_exp_options, true];
                /// Elementwise power.
                Pow = POW = 78 [PowOptions, PowOptionsArgs, builtin_options_as_pow_options, false];
                /// Square.
                Square = SQUARE = 92 [SquareOptions, SquareOptionsArgs, builtin_options_as_square_options, true];
                /// Hard swish.
                HardSwish = HARD_SWISH = 117 [HardSwishOptions, HardSwishOptionsArgs, builtin_options_as_hard_swish_options, false];
                /// Log-softmax over the last axis.
                LogSoftmax = LOG_SOFTMAX = 50 [LogSoftmaxOptions, LogSoftmaxOptionsArgs, builtin_options_as_log_softmax_options, true];
                /// Insert a size-1 dimension.
                ExpandDims = EXPAND_DIMS = 70 [ExpandDimsOptions, ExpandDimsOptionsArgs, builtin_options_as_expand_dims_options, true];
                /// Permute dimensions.
                Transpose = TRANSPOSE = 39 [TransposeOptions, TransposeOptionsArgs, builtin_options_as_transpose_options, false];
                /// Slice.
                Slice = SLICE = 65 [SliceOptions, SliceOptionsArgs, builtin_options_as_slice_options, false];
                /// Pad with zeros (or the zero point).
                Pad = PAD = 34 [PadOptions, PadOptionsArgs, builtin_options_as_pad_options, true];
                /// Pad with a given value.
                PadV2 = PADV2 = 60 [PadV2Options, PadV2OptionsArgs, builtin_options_as_pad_v2_options, true];
                /// Repeat a tensor.
                Tile = TILE = 69 [TileOptions, TileOptionsArgs, builtin_options_as_tile_options, false];
                /// A tensor of a given shape filled with a value.
                Fill = FILL = 94 [FillOptions, FillOptionsArgs, builtin_options_as_fill_options, false];
                /// Quantize (or requantize).
                Quantize = QUANTIZE = 114 [QuantizeOptions, QuantizeOptionsArgs, builtin_options_as_quantize_options, false];
                /// Dequantize (also float16 to float32).
                Dequantize = DEQUANTIZE = 6 [DequantizeOptions, DequantizeOptionsArgs, builtin_options_as_dequantize_options, false];
                /// Select with broadcasting.
                SelectV2 = SELECT_V2 = 123 [SelectV2Options, SelectV2OptionsArgs, builtin_options_as_select_v2_options, true];
                /// Elementwise `==`.
                Equal = EQUAL = 71 [EqualOptions, EqualOptionsArgs, builtin_options_as_equal_options, false];
                /// Elementwise `<`.
                Less = LESS = 58 [LessOptions, LessOptionsArgs, builtin_options_as_less_options, false];
                /// Elementwise `>`.
                Greater = GREATER = 61 [GreaterOptions, GreaterOptionsArgs, builtin_options_as_greater_options, false];
                /// Elementwise `>=`.
                GreaterEqual = GREATER_EQUAL = 62 [GreaterEqualOptions, GreaterEqualOptionsArgs, builtin_options_as_greater_equal_options, false];
                /// Elementwise `<=`.
                LessEqual = LESS_EQUAL = 63 [LessEqualOptions, LessEqualOptionsArgs, builtin_options_as_less_equal_options, false];
                /// Elementwise `!=`.
                NotEqual = NOT_EQUAL = 72 [NotEqualOptions, NotEqualOptionsArgs, builtin_options_as_not_equal_options, false];
                /// Elementwise logical and.
                LogicalAnd = LOGICAL_AND = 86 [LogicalAndOptions, LogicalAndOptionsArgs, builtin_options_as_logical_and_options, false];
                /// Elementwise logical or.
                LogicalOr = LOGICAL_OR = 84 [LogicalOrOptions, LogicalOrOptionsArgs, builtin_options_as_logical_or_options, false];
                /// Elementwise logical not.
                LogicalNot = LOGICAL_NOT = 87 [LogicalNotOptions, LogicalNotOptionsArgs, builtin_options_as_logical_not_options, false];
                /// Zeros of the input's shape and type.
                ZerosLike = ZEROS_LIKE = 93 [ZerosLikeOptions, ZerosLikeOptionsArgs, builtin_options_as_zeros_like_options, true];
                /// Expand a sparse constant to dense.
                Densify = DENSIFY = 124 [DensifyOptions, DensifyOptionsArgs, builtin_options_as_densify_options, false];
                /// Read a resource variable.
                ReadVariable = READ_VARIABLE = 143 [ReadVariableOptions, ReadVariableOptionsArgs, builtin_options_as_read_variable_options, false];
                /// Assign a resource variable.
                AssignVariable = ASSIGN_VARIABLE = 144 [AssignVariableOptions, AssignVariableOptionsArgs, builtin_options_as_assign_variable_options, false];
                /// Select with a condition of the values' shape, a scalar or a rank-1 one.
                Select = SELECT = 64 [SelectOptions, SelectOptionsArgs, builtin_options_as_select_options, true];
                /// Elementwise division rounded toward negative infinity.
                FloorDiv = FLOOR_DIV = 90 [FloorDivOptions, FloorDivOptionsArgs, builtin_options_as_floor_div_options, false];
                /// Elementwise remainder with the divisor's sign.
                FloorMod = FLOOR_MOD = 95 [FloorModOptions, FloorModOptionsArgs, builtin_options_as_floor_mod_options, false];
                /// A sequence from start to limit by delta.
                Range = RANGE = 96 [RangeOptions, RangeOptionsArgs, builtin_options_as_range_options, false];
                /// Sign (-1, 0 or 1).
                Sign = SIGN = 158 [SignOptions, SignOptionsArgs, builtin_options_as_sign_options, false];
                /// Reinterpret the bytes as another element type.
                Bitcast = BITCAST = 159 [BitcastOptions, BitcastOptionsArgs, builtin_options_as_bitcast_options, false];
                /// Elementwise bitwise exclusive or.
                BitwiseXor = BITWISE_XOR = 160 [BitwiseXorOptions, BitwiseXorOptionsArgs, builtin_options_as_bitwise_xor_options, false];
                /// Elementwise right shift (arithmetic for signed types).
                RightShift = RIGHT_SHIFT = 161 [RightShiftOptions, RightShiftOptionsArgs, builtin_options_as_right_shift_options, false];
                /// Broadcast to a given shape.
                BroadcastTo = BROADCAST_TO = 130 [BroadcastToOptions, BroadcastToOptionsArgs, builtin_options_as_broadcast_to_options, false];
                /// Gather slices by N-d indices.
                GatherNd = GATHER_ND = 107 [GatherNdOptions, GatherNdOptionsArgs, builtin_options_as_gather_nd_options, false];
                /// Scatter updates into zeros by N-d indices (duplicates add).
                ScatterNd = SCATTER_ND = 122 [ScatterNdOptions, ScatterNdOptionsArgs, builtin_options_as_scatter_nd_options, false];
                /// The k largest values of the last axis and their indices.
                TopkV2 = TOPK_V2 = 48 [TopKV2Options, TopKV2OptionsArgs, builtin_options_as_top_kv2_options, false];
                /// Coordinates of the true (non-zero) elements.
                Where = WHERE = 109 [WhereOptions, WhereOptionsArgs, builtin_options_as_where_options, false];
                /// Reverse along axes.
                ReverseV2 = REVERSE_V2 = 105 [ReverseV2Options, ReverseV2OptionsArgs, builtin_options_as_reverse_v2_options, false];
                /// Move spatial blocks into the batch.
                SpaceToBatchNd = SPACE_TO_BATCH_ND = 38 [SpaceToBatchNDOptions, SpaceToBatchNDOptionsArgs, builtin_options_as_space_to_batch_ndoptions, false];
                /// Move batch blocks back into space.
                BatchToSpaceNd = BATCH_TO_SPACE_ND = 37 [BatchToSpaceNDOptions, BatchToSpaceNDOptionsArgs, builtin_options_as_batch_to_space_ndoptions, false];
                /// Diagonal matrices from vectors.
                MatrixDiag = MATRIX_DIAG = 113 [MatrixDiagOptions, MatrixDiagOptionsArgs, builtin_options_as_matrix_diag_options, false];
                /// Replace the main diagonal of matrices.
                MatrixSetDiag = MATRIX_SET_DIAG = 115 [MatrixSetDiagOptions, MatrixSetDiagOptionsArgs, builtin_options_as_matrix_set_diag_options, false];
                /// Sum over sorted segments.
                SegmentSum = SEGMENT_SUM = 125 [SegmentSumOptions, SegmentSumOptionsArgs, builtin_options_as_segment_sum_options, false];
                /// Sum over unsorted segments.
                UnsortedSegmentSum = UNSORTED_SEGMENT_SUM = 155 [UnsortedSegmentSumOptions, UnsortedSegmentSumOptionsArgs, builtin_options_as_unsorted_segment_sum_options, false];
                /// Product over unsorted segments.
                UnsortedSegmentProd = UNSORTED_SEGMENT_PROD = 153 [UnsortedSegmentProdOptions, UnsortedSegmentProdOptionsArgs, builtin_options_as_unsorted_segment_prod_options, false];
                /// Maximum over unsorted segments.
                UnsortedSegmentMax = UNSORTED_SEGMENT_MAX = 154 [UnsortedSegmentMaxOptions, UnsortedSegmentMaxOptionsArgs, builtin_options_as_unsorted_segment_max_options, false];
                /// Minimum over unsorted segments.
                UnsortedSegmentMin = UNSORTED_SEGMENT_MIN = 157 [UnsortedSegmentMinOptions, UnsortedSegmentMinOptionsArgs, builtin_options_as_unsorted_segment_min_options, false];
                /// Non-max suppression of boxes by score.
                NonMaxSuppressionV4 = NON_MAX_SUPPRESSION_V4 = 120 [NonMaxSuppressionV4Options, NonMaxSuppressionV4OptionsArgs, builtin_options_as_non_max_suppression_v4_options, false];
                /// Non-max suppression with Gaussian soft suppression (soft-NMS).
                NonMaxSuppressionV5 = NON_MAX_SUPPRESSION_V5 = 121 [NonMaxSuppressionV5Options, NonMaxSuppressionV5OptionsArgs, builtin_options_as_non_max_suppression_v5_options, false];
                /// Overwrite a slice at (clamped) start indices.
                DynamicUpdateSlice = DYNAMIC_UPDATE_SLICE = 151 [DynamicUpdateSliceOptions, DynamicUpdateSliceOptionsArgs, builtin_options_as_dynamic_update_slice_options, false];
            }
            no_options {
                /// Natural logarithm.
                Log = LOG = 73;
                /// Square root.
                Sqrt = SQRT = 75;
                /// Reciprocal square root.
                Rsqrt = RSQRT = 76;
                /// Rectified linear unit.
                Relu = RELU = 19;
                /// ReLU clipped to `[0, 6]`.
                Relu6 = RELU6 = 21;
                /// Clip to `[-1, 1]`.
                ReluN1To1 = RELU_N1_TO_1 = 20;
                /// Parametric ReLU.
                Prelu = PRELU = 54;
                /// Sigmoid.
                Logistic = LOGISTIC = 14;
                /// Hyperbolic tangent.
                Tanh = TANH = 28;
                /// Round down.
                Floor = FLOOR = 8;
                /// Round up.
                Ceil = CEIL = 104;
                /// Round to nearest, ties to even.
                Round = ROUND = 116;
                /// Sine.
                Sin = SIN = 66;
                /// Cosine.
                Cos = COS = 108;
                /// Exponential linear unit.
                Elu = ELU = 111;
                /// Clip to `[0, 1]`.
                Relu0To1 = RELU_0_TO_1 = 152;
                /// Elementwise `atan2(y, x)`.
                Atan2 = ATAN2 = 156;
                /// Rows of a table by index (input 0: the indices, input 1: the table).
                EmbeddingLookup = EMBEDDING_LOOKUP = 7;
            }
        }
    };
}

pub(crate) use op_table;

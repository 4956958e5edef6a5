//! LiteRT's sliding-window arithmetic (output size and padding of convolutions and pools),
//! once for shape inference, every kernel, the SIMD and GPU backends.

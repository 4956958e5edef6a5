//! Fusion rules: an activation into its producer, batch-norm arithmetic into a convolution's
//! weights, a PAD into a convolution's padding.

mod activation;
mod batchnorm;
mod pad_conv;

pub use activation::FuseActivation;
pub use batchnorm::FoldBatchNorm;
pub use pad_conv::PadIntoConv;

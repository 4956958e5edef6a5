//! The f32 GEMM: micro-kernels per level over full tiles, and the wrapper that packs and owns
//! the tails.

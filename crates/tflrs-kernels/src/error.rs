//! Typed errors of kernels.

use alloc::string::String;

/// Why a kernel could not be made for a node, or could not run.
///
/// The runtime wraps these with the node, op and subgraph they happened at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A required input is absent (omitted, or the node has too few inputs).
    #[error("input {index} is missing")]
    MissingInput {
        /// The input slot.
        index: usize,
    },
    /// An output is absent.
    #[error("output {index} is missing")]
    MissingOutput {
        /// The output slot.
        index: usize,
    },
    /// The node has the wrong number of inputs or outputs.
    #[error("expected {min}..={max} {what}, got {got}")]
    Arity {
        /// "inputs" or "outputs".
        what: &'static str,
        /// How many the node has.
        got: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
    /// The operator is valid but this kernel family does not implement this combination of
    /// types or attributes (a backend should answer `Ok(None)` instead where another may).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A run-time limit of the interpreter was reached (a loop that does not end).
    #[error("{what} exceed the limit of {limit}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The node's tensors or attributes are inconsistent (shapes, types, quantization, index
    /// inputs out of range).
    #[error("{0}")]
    Invalid(String),
}

impl KernelError {
    /// An [`Invalid`](Self::Invalid) error.
    pub fn invalid(msg: String) -> Self {
        Self::Invalid(msg)
    }

    /// An [`Unsupported`](Self::Unsupported) error.
    pub fn unsupported(msg: String) -> Self {
        Self::Unsupported(msg)
    }
}

/// `alloc::format!` under a path that [`ensure!`] can name from any crate: a backend crate
/// without `extern crate alloc` has no `alloc` in scope, so the macro must not spell it.
#[doc(hidden)]
pub use alloc::format as __format;

/// Returns `Err(KernelError::Invalid(format!(...)))` unless the condition holds.
///
/// Usable from any crate, with or without `extern crate alloc`:
///
/// ```
/// use tflrs_kernels::{ensure, KernelError};
///
/// fn check_rank(rank: usize) -> Result<(), KernelError> {
///     ensure!(rank <= 4, "rank {rank} is above 4");
///     Ok(())
/// }
///
/// assert!(check_rank(4).is_ok());
/// assert_eq!(
///     check_rank(5),
///     Err(KernelError::Invalid("rank 5 is above 4".into()))
/// );
/// ```
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::KernelError::Invalid($crate::__format!($($fmt)+)));
        }
    };
}

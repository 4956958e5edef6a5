//! `ensure!` from a crate that, like an outside backend crate, has no `extern crate alloc`.

use tflrs_kernels::{KernelError, ensure};

fn at_most(limit: usize, got: usize) -> Result<usize, KernelError> {
    ensure!(got <= limit, "{got} is above {}", limit);
    Ok(got)
}

#[test]
fn ensure_works_without_extern_crate_alloc() {
    assert_eq!(at_most(3, 2), Ok(2));
    assert_eq!(
        at_most(3, 4),
        Err(KernelError::Invalid("4 is above 3".into()))
    );
}

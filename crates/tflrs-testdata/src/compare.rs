//! Comparing an output with a golden one under a [`Tolerance`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::npy::{DType, Npy, Value};

/// How an output must agree with its golden value (the manifest's `tolerance`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Tolerance {
    /// Every element equal (floats: equal as numbers, NaN matching NaN).
    Exact,
    /// `|got - expected| <= atol + rtol * |expected|` for every element, as `numpy.allclose`
    /// (NaN matches NaN; an infinity matches only the same infinity).
    Allclose {
        /// Relative tolerance.
        rtol: f64,
        /// Absolute tolerance.
        atol: f64,
    },
}

impl Tolerance {
    /// Integers within `n` (e.g. 1 LSB between LiteRT's reference kernels and XNNPACK).
    pub const fn within(n: f64) -> Tolerance {
        Tolerance::Allclose { rtol: 0.0, atol: n }
    }

    fn accepts(self, expected: Value, got: Value) -> bool {
        match (self, expected, got) {
            (_, Value::Int(e), Value::Int(g)) if e == g => true,
            (Tolerance::Exact, Value::Int(_), Value::Int(_)) => false,
            (tol, e, g) => {
                let (e, g) = (as_f64(e), as_f64(g));
                if e.is_nan() || g.is_nan() {
                    return e.is_nan() && g.is_nan();
                }
                if e == g {
                    return true;
                }
                match tol {
                    Tolerance::Exact => false,
                    Tolerance::Allclose { rtol, atol } => {
                        e.is_finite() && g.is_finite() && (g - e).abs() <= atol + rtol * e.abs()
                    }
                }
            }
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tolerance::Exact => f.write_str("exact"),
            Tolerance::Allclose { rtol, atol } => {
                write!(f, "allclose(rtol={rtol:e}, atol={atol:e})")
            }
        }
    }
}

#[allow(clippy::cast_precision_loss)] // reporting only; exact integer checks use i128
fn as_f64(v: Value) -> f64 {
    match v {
        Value::Float(f) => f,
        Value::Int(i) => i as f64,
    }
}

/// One element of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// Index into the flattened (C-order) array.
    pub flat_index: usize,
    /// The same index per dimension.
    pub index: Vec<usize>,
    /// The golden value (as `f64`; 64-bit integers beyond 2^53 are rounded for display).
    pub expected: f64,
    /// The compared value.
    pub got: f64,
}

impl Element {
    /// `|got - expected|` (infinite when exactly one is NaN or the infinities differ).
    pub fn abs_diff(&self) -> f64 {
        let d = (self.got - self.expected).abs();
        if d.is_nan() {
            if self.got.is_nan() && self.expected.is_nan() {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            d
        }
    }
}

/// Why two arrays do not agree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Mismatch {
    /// Different element types.
    #[error("dtype differs: expected {expected}, got {got}")]
    DType {
        /// Golden dtype.
        expected: DType,
        /// Compared dtype.
        got: DType,
    },
    /// Different shapes.
    #[error("shape differs: expected {expected:?}, got {got:?}")]
    Shape {
        /// Golden shape.
        expected: Vec<usize>,
        /// Compared shape.
        got: Vec<usize>,
    },
    /// Some elements are outside the tolerance.
    #[error(
        "{count} of {total} elements outside {tolerance}; worst at {index:?} (flat {flat}): \
         expected {expected}, got {got} (|diff| {diff:e})",
        index = worst.index,
        flat = worst.flat_index,
        expected = worst.expected,
        got = worst.got,
        diff = worst.abs_diff()
    )]
    Values {
        /// Number of elements outside the tolerance.
        count: usize,
        /// Number of elements compared.
        total: usize,
        /// The element with the largest `|got - expected|` among those outside.
        worst: Element,
        /// The tolerance that was applied.
        tolerance: Tolerance,
    },
}

impl Mismatch {
    /// The worst element, for a value mismatch.
    pub fn worst(&self) -> Option<&Element> {
        match self {
            Mismatch::Values { worst, .. } => Some(worst),
            _ => None,
        }
    }

    /// The number of elements outside the tolerance (0 for a dtype or shape mismatch).
    pub fn count(&self) -> usize {
        match self {
            Mismatch::Values { count, .. } => *count,
            _ => 0,
        }
    }
}

/// The multi-index of flat (C-order) index `flat` in `shape`.
pub fn unravel_index(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = flat % dim;
            flat /= dim;
        }
    }
    index
}

/// Compares `got` with the golden `expected`: same dtype, same shape, and every element within
/// `tolerance`. On failure reports the worst element (largest `|got - expected|`, the first
/// such in C order) and how many elements are outside.
pub fn compare(expected: &Npy, got: &Npy, tolerance: Tolerance) -> Result<(), Mismatch> {
    if expected.dtype != got.dtype {
        return Err(Mismatch::DType {
            expected: expected.dtype,
            got: got.dtype,
        });
    }
    if expected.shape != got.shape {
        return Err(Mismatch::Shape {
            expected: expected.shape.clone(),
            got: got.shape.clone(),
        });
    }
    let total = expected.len().min(got.len());
    let mut count = 0;
    let mut worst: Option<(f64, usize)> = None;
    for i in 0..total {
        let (e, g) = (expected.value(i), got.value(i));
        if tolerance.accepts(e, g) {
            continue;
        }
        count += 1;
        let diff = Element {
            flat_index: i,
            index: Vec::new(),
            expected: as_f64(e),
            got: as_f64(g),
        }
        .abs_diff();
        if worst.is_none_or(|(d, _)| diff > d) {
            worst = Some((diff, i));
        }
    }
    match worst {
        None => Ok(()),
        Some((_, i)) => Err(Mismatch::Values {
            count,
            total,
            worst: Element {
                flat_index: i,
                index: unravel_index(i, &expected.shape),
                expected: expected.get_f64(i),
                got: got.get_f64(i),
            },
            tolerance,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: &[usize], v: &[f32]) -> Npy {
        Npy::from_slice(shape.to_vec(), v).unwrap()
    }

    #[test]
    fn equal_arrays_pass() {
        let a = f32s(&[2, 2], &[1.0, 2.0, f32::NAN, -0.0]);
        let b = f32s(&[2, 2], &[1.0, 2.0, f32::NAN, 0.0]);
        assert_eq!(compare(&a, &b, Tolerance::Exact), Ok(()));
        let q = Npy::from_slice(vec![3], &[-128i8, 0, 127]).unwrap();
        assert_eq!(compare(&q, &q.clone(), Tolerance::Exact), Ok(()));
    }

    #[test]
    fn allclose_uses_numpy_formula() {
        let e = f32s(&[3], &[1.0, 100.0, 0.0]);
        let g = f32s(&[3], &[1.0 + 1.5e-5, 100.0 + 0.009, 1e-6]);
        let tol = Tolerance::Allclose {
            rtol: 1e-4,
            atol: 1e-5,
        };
        assert_eq!(compare(&e, &g, tol), Ok(()));
        let g2 = f32s(&[3], &[1.0, 100.0 + 0.02, 0.0]);
        let err = compare(&e, &g2, tol).unwrap_err();
        assert_eq!(err.count(), 1);
        assert_eq!(err.worst().unwrap().flat_index, 1);
    }

    #[test]
    fn reports_worst_element_with_multi_index_and_count() {
        let e = f32s(&[2, 3], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let g = f32s(&[2, 3], &[0.0, 0.5, 0.0, 0.0, -2.0, 1.0]);
        let err = compare(&e, &g, Tolerance::Exact).unwrap_err();
        match &err {
            Mismatch::Values {
                count,
                total,
                worst,
                tolerance,
            } => {
                assert_eq!((*count, *total, *tolerance), (3, 6, Tolerance::Exact));
                assert_eq!(worst.flat_index, 4);
                assert_eq!(worst.index, vec![1, 1]);
                assert_eq!((worst.expected, worst.got), (0.0, -2.0));
                assert_eq!(worst.abs_diff(), 2.0);
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("3 of 6"), "{text}");
        assert!(text.contains("[1, 1]"), "{text}");
    }

    #[test]
    fn integer_lsb_tolerance() {
        let e = Npy::from_slice(vec![4], &[-128i8, -1, 5, 127]).unwrap();
        let g = Npy::from_slice(vec![4], &[-127i8, -1, 4, 127]).unwrap();
        let err = compare(&e, &g, Tolerance::Exact).unwrap_err();
        assert_eq!(err.count(), 2);
        assert_eq!(
            err.worst().unwrap().flat_index,
            0,
            "ties go to the first in C order"
        );
        assert_eq!(compare(&e, &g, Tolerance::within(1.0)), Ok(()));
        let big = Npy::from_slice(vec![1], &[i64::MAX]).unwrap();
        let big1 = Npy::from_slice(vec![1], &[i64::MAX - 1]).unwrap();
        assert_eq!(
            compare(&big, &big1, Tolerance::Exact).unwrap_err().count(),
            1
        );
    }

    #[test]
    fn nan_and_infinity() {
        let e = f32s(&[3], &[f32::NAN, f32::INFINITY, 1.0]);
        let g = f32s(&[3], &[1.0, f32::INFINITY, f32::NAN]);
        let err = compare(&e, &g, Tolerance::within(10.0)).unwrap_err();
        assert_eq!(err.count(), 2);
        assert_eq!(err.worst().unwrap().abs_diff(), f64::INFINITY);
        let inf = f32s(&[1], &[f32::INFINITY]);
        let ninf = f32s(&[1], &[f32::NEG_INFINITY]);
        assert!(compare(&inf, &ninf, Tolerance::within(1e30)).is_err());
    }

    #[test]
    fn dtype_and_shape_mismatches() {
        let a = f32s(&[2], &[1.0, 2.0]);
        let b = Npy::from_slice(vec![2], &[1i32, 2]).unwrap();
        assert_eq!(
            compare(&a, &b, Tolerance::Exact),
            Err(Mismatch::DType {
                expected: DType::Float32,
                got: DType::Int32
            })
        );
        let c = f32s(&[1, 2], &[1.0, 2.0]);
        assert!(matches!(
            compare(&a, &c, Tolerance::Exact),
            Err(Mismatch::Shape { .. })
        ));
    }

    #[test]
    fn unravel() {
        assert_eq!(unravel_index(0, &[]), Vec::<usize>::new());
        assert_eq!(unravel_index(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel_index(23, &[2, 3, 4]), vec![1, 2, 3]);
        assert_eq!(unravel_index(7, &[1, 8, 1]), vec![0, 7, 0]);
    }

    #[test]
    fn float16_compare() {
        let e = Npy::new(DType::Float16, vec![2], vec![0x00, 0x3c, 0x00, 0x40]).unwrap();
        let g = Npy::new(DType::Float16, vec![2], vec![0x00, 0x3c, 0x00, 0x42]).unwrap();
        let err = compare(&e, &g, Tolerance::Exact).unwrap_err();
        let w = err.worst().unwrap();
        assert_eq!((w.flat_index, w.expected, w.got), (1, 2.0, 3.0));
    }

    #[test]
    fn tolerance_json() {
        let t: Tolerance = serde_json::from_str(r#"{"kind": "exact"}"#).unwrap();
        assert_eq!(t, Tolerance::Exact);
        let t: Tolerance =
            serde_json::from_str(r#"{"kind": "allclose", "rtol": 0.001, "atol": 1e-05}"#).unwrap();
        assert_eq!(
            t,
            Tolerance::Allclose {
                rtol: 0.001,
                atol: 1e-5
            }
        );
        assert!(serde_json::from_str::<Tolerance>(r#"{"kind": "fuzzy"}"#).is_err());
    }
}

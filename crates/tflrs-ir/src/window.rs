//! LiteRT's sliding-window arithmetic (output size and padding of convolutions and pools),
//! once for shape inference, every kernel, the SIMD and GPU backends.
//!
//! The functions follow LiteRT's `ComputeOutSize` and `ComputePaddingWithOffset`
//! (`tensorflow/lite/kernels/padding.h`), which `ComputePaddingHeightWidth` applies per axis.
//! LiteRT computes in C `int`; here the arithmetic is checked `i64`, and every function answers
//! `None` where a size overflows or a stride, dilation or filter size is 0, instead of
//! dividing by zero or wrapping.
//!
//! LiteRT's VALID output size `(in + stride - effective) / stride` truncates toward zero and
//! goes negative when the (dilated) window is much larger than the input. Callers differ in
//! what they make of that, and each keeps its own rule:
//! - convolutions ([`out_size`]) take LiteRT's value as is and refuse a negative one;
//! - pools ([`out_size_saturating`]) make a negative size 0 (an empty output);
//! - shape inference refuses any VALID window larger than its input (check [`effective_size`]
//!   first, then take [`out_size`]).

use crate::ops::Padding;

/// The extent of a filter of `filter` taps spread `dilation` apart: `(filter - 1) * dilation +
/// 1`. `None` when `filter` or `dilation` is 0, or on overflow.
pub fn effective_size(filter: usize, dilation: usize) -> Option<usize> {
    if filter == 0 || dilation == 0 {
        return None;
    }
    (filter - 1).checked_mul(dilation)?.checked_add(1)
}

/// LiteRT's `ComputeOutSize` in signed arithmetic: the output size along one axis, negative
/// when a VALID window is larger than the input by at least a stride. `None` when `stride`,
/// `filter` or `dilation` is 0, or on overflow.
pub fn out_size_signed(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Option<i64> {
    if stride == 0 {
        return None;
    }
    let effective = i64::try_from(effective_size(filter, dilation)?).ok()?;
    let (input, stride) = (i64::try_from(input).ok()?, i64::try_from(stride).ok()?);
    let numerator = match padding {
        Padding::Same => input.checked_add(stride - 1)?,
        Padding::Valid => input.checked_add(stride)?.checked_sub(effective)?,
    };
    // `/` on i64 truncates toward zero, as C's `int` division does.
    Some(numerator / stride)
}

/// The output size of a convolution along one axis (CONV_2D, DEPTHWISE_CONV_2D, and the
/// backward check of TRANSPOSE_CONV): LiteRT's `ComputeOutSize`, refused (`None`) when it is
/// negative. A window slightly larger than the input still gives 0, as in LiteRT. `None` also
/// as [`out_size_signed`].
pub fn out_size(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    usize::try_from(out_size_signed(padding, input, filter, stride, dilation)?).ok()
}

/// The output size of a pool along one axis (MAX_POOL_2D, AVERAGE_POOL_2D, MediaPipe's
/// `MaxPoolingWithArgmax2D`): LiteRT's `ComputeOutSize` with a negative size made 0, so a
/// VALID window larger than the input gives an empty output. `None` as [`out_size_signed`].
pub fn out_size_saturating(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    let v = out_size_signed(padding, input, filter, stride, dilation)?;
    Some(usize::try_from(v).unwrap_or(0))
}

/// The padding of one axis: LiteRT's `ComputePaddingWithOffset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pad {
    /// Padding before the first element (half the total, rounded down).
    pub before: usize,
    /// The odd remainder of the total, which goes after the last element (0 or 1).
    pub offset: usize,
}

impl Pad {
    /// The whole padding of the axis: `2 * before + offset`.
    pub fn total(&self) -> usize {
        2 * self.before + self.offset
    }
}

/// LiteRT's `ComputePaddingWithOffset`: the padding that makes `out` windows of `filter` taps
/// (`dilation` apart, `stride` apart) cover an input of `input` elements, never negative. It
/// does not look at the padding mode: VALID sizes give 0 by construction. TRANSPOSE_CONV-like
/// ops call it with input and output swapped. `None` when `filter` or `dilation` is 0, or on
/// overflow.
pub fn padding(
    stride: usize,
    dilation: usize,
    input: usize,
    filter: usize,
    out: usize,
) -> Option<Pad> {
    let effective = i64::try_from(effective_size(filter, dilation)?).ok()?;
    let (stride, input, out) = (
        i64::try_from(stride).ok()?,
        i64::try_from(input).ok()?,
        i64::try_from(out).ok()?,
    );
    let total = (out - 1)
        .checked_mul(stride)?
        .checked_add(effective)?
        .checked_sub(input)?
        .max(0);
    Some(Pad {
        before: usize::try_from(total / 2).ok()?,
        offset: usize::try_from(total % 2).ok()?,
    })
}

/// Output size and padding of one axis of a convolution, as LiteRT's
/// `ComputePaddingHeightWidth` computes them per axis: [`out_size`], then [`padding`].
pub fn conv_axis(
    padding_mode: Padding,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Option<(usize, Pad)> {
    let out = out_size(padding_mode, input, filter, stride, dilation)?;
    Some((out, padding(stride, dilation, input, filter, out)?))
}

/// Output size and padding of one axis of a pool: [`out_size_saturating`], then [`padding`].
pub fn pool_axis(
    padding_mode: Padding,
    input: usize,
    filter: usize,
    stride: usize,
) -> Option<(usize, Pad)> {
    let out = out_size_saturating(padding_mode, input, filter, stride, 1)?;
    Some((out, padding(stride, 1, input, filter, out)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_is_ceil_of_input_over_stride() {
        assert_eq!(out_size(Padding::Same, 7, 3, 1, 1), Some(7));
        assert_eq!(out_size(Padding::Same, 7, 3, 2, 1), Some(4));
        assert_eq!(out_size(Padding::Same, 8, 3, 2, 1), Some(4));
        // SAME ignores the filter size, even a huge dilated one.
        assert_eq!(out_size(Padding::Same, 5, 9, 3, 4), Some(2));
    }

    #[test]
    fn valid_counts_whole_windows() {
        assert_eq!(out_size(Padding::Valid, 7, 3, 1, 1), Some(5));
        assert_eq!(out_size(Padding::Valid, 7, 3, 2, 1), Some(3));
        assert_eq!(out_size(Padding::Valid, 8, 3, 2, 1), Some(3));
        // Dilation 2 makes a 3-tap filter 5 wide.
        assert_eq!(effective_size(3, 2), Some(5));
        assert_eq!(out_size(Padding::Valid, 7, 3, 1, 2), Some(3));
        assert_eq!(out_size(Padding::Valid, 9, 3, 2, 3), Some(2));
    }

    #[test]
    fn oversized_valid_windows_per_caller() {
        // (2 + 2 - 3) / 2 = 0: LiteRT's truncation, kept by convolutions and pools.
        assert_eq!(out_size_signed(Padding::Valid, 2, 3, 2, 1), Some(0));
        assert_eq!(out_size(Padding::Valid, 2, 3, 2, 1), Some(0));
        // (1 + 1 - 5) / 1 = -3: convolutions refuse, pools give an empty output.
        assert_eq!(out_size_signed(Padding::Valid, 1, 5, 1, 1), Some(-3));
        assert_eq!(out_size(Padding::Valid, 1, 5, 1, 1), None);
        assert_eq!(out_size_saturating(Padding::Valid, 1, 5, 1, 1), Some(0));
        assert_eq!(pool_axis(Padding::Valid, 1, 5, 1).map(|a| a.0), Some(0));
        assert_eq!(conv_axis(Padding::Valid, 1, 5, 1, 1), None);
        // -1 / 2 truncates to 0 as in C (not -1 as a floor would).
        assert_eq!(out_size_signed(Padding::Valid, 2, 5, 2, 1), Some(0));
    }

    #[test]
    fn padding_splits_the_total_with_the_odd_rest_after() {
        // in 7, 3 taps, stride 2, SAME: out 4, total (4-1)*2+3-7 = 2.
        assert_eq!(
            conv_axis(Padding::Same, 7, 3, 2, 1),
            Some((
                4,
                Pad {
                    before: 1,
                    offset: 0
                }
            ))
        );
        // in 8, 3 taps, stride 2: out 4, total 1: all of it after.
        assert_eq!(
            conv_axis(Padding::Same, 8, 3, 2, 1),
            Some((
                4,
                Pad {
                    before: 0,
                    offset: 1
                }
            ))
        );
        // in 5, 3 taps, dilation 2 (5 wide), stride 1: out 5, total 4.
        let (out, pad) = conv_axis(Padding::Same, 5, 3, 1, 2).unwrap();
        assert_eq!(
            (out, pad, pad.total()),
            (
                5,
                Pad {
                    before: 2,
                    offset: 0
                },
                4
            )
        );
        // VALID never pads; a total below 0 is 0.
        assert_eq!(
            conv_axis(Padding::Valid, 8, 3, 2, 1),
            Some((3, Pad::default()))
        );
        assert_eq!(padding(3, 1, 10, 1, 2), Some(Pad::default()));
        // An empty output (LiteRT's -1 * stride term) is still defined.
        assert_eq!(padding(2, 1, 2, 3, 0), Some(Pad::default()));
        // Pools: in 3, 2 taps, stride 2, SAME: out 2, total 1.
        assert_eq!(
            pool_axis(Padding::Same, 3, 2, 2),
            Some((
                2,
                Pad {
                    before: 0,
                    offset: 1
                }
            ))
        );
    }

    #[test]
    fn zero_sizes_and_overflow_are_none() {
        assert_eq!(out_size(Padding::Same, 4, 3, 0, 1), None);
        assert_eq!(out_size_saturating(Padding::Valid, 4, 3, 0, 1), None);
        assert_eq!(out_size(Padding::Valid, 4, 0, 1, 1), None);
        assert_eq!(out_size(Padding::Valid, 4, 3, 1, 0), None);
        assert_eq!(effective_size(usize::MAX, 2), None);
        assert_eq!(out_size(Padding::Same, usize::MAX, 3, 1, 1), None);
        assert_eq!(out_size(Padding::Valid, 1 << 40, 1 << 40, 1, 1 << 40), None);
        assert_eq!(out_size(Padding::Same, i64::MAX as usize, 1, 2, 1), None);
        assert_eq!(padding(usize::MAX, 1, 1, 1, 3), None);
        assert_eq!(padding(1 << 62, 1, 1, 1, 1 << 62), None);
        assert_eq!(padding(1, 0, 1, 1, 1), None);
    }
}

//! Broadcasting of N inputs against an output shape, with LiteRT's rules: shapes are aligned
//! at their last dimension, and in each dimension all inputs that are not 1 agree (0 included),
//! giving the output's size.
//!
//! [`Broadcast`] is planned once (checked against the output shape, with dimensions of size 1
//! dropped and runs of dimensions that broadcast alike merged) and then walks the output in
//! order, handing each element's index in every input to a closure, without allocating.

use crate::KernelError;
use alloc::format;

/// Most dimensions after merging; inputs of any rank merge down to at most this many (two
/// inputs alternating between broadcast and not in every dimension need rank 16).
pub(crate) const MAX_DIMS: usize = 16;

/// The output shape of broadcasting `shapes` together (LiteRT's
/// `CalculateShapeForBroadcast`), or an error naming the shapes.
pub(crate) fn broadcast_shape(shapes: &[&[usize]]) -> Result<alloc::vec::Vec<usize>, KernelError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = alloc::vec![0usize; rank];
    for (i, o) in out.iter_mut().rev().enumerate() {
        // Every dimension other than 1 must be the same (0 included).
        let mut target = 1;
        for s in shapes {
            let d = if i < s.len() { s[s.len() - 1 - i] } else { 1 };
            if d != 1 {
                if target != 1 && target != d {
                    return Err(KernelError::invalid(format!(
                        "shapes {shapes:?} are not broadcastable"
                    )));
                }
                target = d;
            }
        }
        *o = target;
    }
    Ok(out)
}

/// A broadcast of `N` inputs to one output, planned once.
#[derive(Debug, Clone)]
pub(crate) struct Broadcast<const N: usize> {
    rank: usize,
    dims: [usize; MAX_DIMS],
    strides: [[usize; MAX_DIMS]; N],
    out_len: usize,
    in_lens: [usize; N],
    /// Every input has the output's shape: element `i` of each input goes to element `i`.
    elementwise: bool,
}

impl<const N: usize> Broadcast<N> {
    /// Plans the broadcast of `inputs` to `output`, failing unless `output` is exactly their
    /// broadcast shape.
    pub(crate) fn new(output: &[usize], inputs: [&[usize]; N]) -> Result<Self, KernelError> {
        let expected = broadcast_shape(&inputs)?;
        if expected != output {
            return Err(KernelError::invalid(format!(
                "output shape {output:?} is not the broadcast of the input shapes {inputs:?} ({expected:?})"
            )));
        }
        let rank = output.len();
        let out_len = output.iter().product();
        let in_lens = inputs.map(|s| s.iter().product());
        let elementwise = inputs.iter().all(|s| *s == output);
        // Per output dimension (outermost first): its size and whether each input follows it.
        let mut merged_dims = [0usize; MAX_DIMS];
        let mut merged_full = [[false; N]; MAX_DIMS];
        let mut merged = 0usize;
        for axis in 0..rank {
            let d = output[axis];
            if d == 1 {
                continue;
            }
            let mut full = [false; N];
            for (k, s) in inputs.iter().enumerate() {
                let offset = rank - s.len();
                full[k] = axis >= offset && s[axis - offset] == d;
            }
            if merged > 0 && merged_full[merged - 1] == full {
                merged_dims[merged - 1] *= d;
            } else {
                if merged == MAX_DIMS {
                    return Err(KernelError::unsupported(format!(
                        "broadcast of {inputs:?} needs more than {MAX_DIMS} dimensions"
                    )));
                }
                merged_dims[merged] = d;
                merged_full[merged] = full;
                merged += 1;
            }
        }
        let mut strides = [[0usize; MAX_DIMS]; N];
        for (k, input_strides) in strides.iter_mut().enumerate() {
            let mut stride = 1usize;
            for axis in (0..merged).rev() {
                if merged_full[axis][k] {
                    input_strides[axis] = stride;
                    stride *= merged_dims[axis];
                }
            }
        }
        Ok(Self {
            rank: merged,
            dims: merged_dims,
            strides,
            out_len,
            in_lens,
            elementwise,
        })
    }

    /// Fails unless the buffers have the planned numbers of elements, so that indices handed
    /// out by [`for_each`](Self::for_each) are in bounds.
    pub(crate) fn check_lens(&self, out: usize, inputs: [usize; N]) -> Result<(), KernelError> {
        if out != self.out_len || inputs != self.in_lens {
            return Err(KernelError::invalid(format!(
                "buffers of {inputs:?} -> {out} elements do not match the planned {:?} -> {}",
                self.in_lens, self.out_len
            )));
        }
        Ok(())
    }

    /// Calls `f(output_index, input_indices)` for every output element, in order.
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, [usize; N])) {
        if self.out_len == 0 {
            return;
        }
        if self.elementwise {
            for i in 0..self.out_len {
                f(i, [i; N]);
            }
            return;
        }
        if self.rank == 0 {
            f(0, [0; N]);
            return;
        }
        let inner = self.dims[self.rank - 1];
        let inner_strides: [usize; N] = core::array::from_fn(|k| self.strides[k][self.rank - 1]);
        let mut counter = [0usize; MAX_DIMS];
        let mut base = [0usize; N];
        let mut o = 0usize;
        loop {
            let mut p = base;
            for _ in 0..inner {
                f(o, p);
                o += 1;
                for k in 0..N {
                    p[k] += inner_strides[k];
                }
            }
            // Advance the outer dimensions like an odometer.
            let mut axis = self.rank - 1;
            loop {
                if axis == 0 {
                    return;
                }
                axis -= 1;
                counter[axis] += 1;
                for (k, b) in base.iter_mut().enumerate() {
                    *b += self.strides[k][axis];
                }
                if counter[axis] < self.dims[axis] {
                    break;
                }
                for (k, b) in base.iter_mut().enumerate() {
                    *b -= self.strides[k][axis] * self.dims[axis];
                }
                counter[axis] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn collect<const N: usize>(out: &[usize], ins: [&[usize]; N]) -> Vec<[usize; N]> {
        let b = Broadcast::new(out, ins).unwrap();
        let mut v = Vec::new();
        let mut next = 0;
        b.for_each(|o, idx| {
            assert_eq!(o, next);
            next += 1;
            v.push(idx);
        });
        assert_eq!(v.len(), out.iter().product::<usize>());
        v
    }

    /// Reference: numpy-style index computation per element.
    fn naive<const N: usize>(out: &[usize], ins: [&[usize]; N]) -> Vec<[usize; N]> {
        let total: usize = out.iter().product();
        (0..total)
            .map(|mut flat| {
                let mut coord = alloc::vec![0; out.len()];
                for a in (0..out.len()).rev() {
                    coord[a] = flat % out[a];
                    flat /= out[a];
                }
                ins.map(|s| {
                    let off = out.len() - s.len();
                    let mut idx = 0;
                    for (a, &d) in s.iter().enumerate() {
                        idx = idx * d + if d == 1 { 0 } else { coord[a + off] };
                    }
                    idx
                })
            })
            .collect()
    }

    #[test]
    fn matches_naive_broadcasting() {
        let cases: &[(&[usize], &[usize], &[usize])] = &[
            (&[2, 3, 4], &[2, 3, 4], &[2, 3, 4]),
            (&[2, 3, 4], &[4], &[2, 3, 4]),
            (&[2, 1, 4], &[3, 1], &[2, 3, 4]),
            (&[1, 2, 1, 3, 2], &[2, 1, 3, 1, 2], &[2, 2, 3, 3, 2]),
            (&[], &[5, 1, 2], &[5, 1, 2]),
            (&[1], &[7], &[7]),
            (&[3, 1, 1, 2], &[1, 4, 5, 1], &[3, 4, 5, 2]),
            (
                &[1, 2, 1, 2, 1, 2],
                &[2, 1, 2, 1, 2, 1],
                &[2, 2, 2, 2, 2, 2],
            ),
        ];
        for &(a, b, out) in cases {
            assert_eq!(collect(out, [a, b]), naive(out, [a, b]), "{a:?} {b:?}");
        }
        let (c, x, y) = (&[2usize, 1, 3][..], &[1usize, 4, 1][..], &[3usize][..]);
        assert_eq!(collect(&[2, 4, 3], [c, x, y]), naive(&[2, 4, 3], [c, x, y]));
    }

    #[test]
    fn shape_rules() {
        assert_eq!(
            broadcast_shape(&[&[2, 1, 4], &[3, 1]]).unwrap(),
            alloc::vec![2, 3, 4]
        );
        assert_eq!(
            broadcast_shape(&[&[0, 3], &[1, 3]]).unwrap(),
            alloc::vec![0, 3]
        );
        assert!(broadcast_shape(&[&[0], &[5]]).is_err());
        assert!(broadcast_shape(&[&[2, 3], &[3, 2]]).is_err());
        assert!(Broadcast::new(&[2, 4], [&[2, 3][..], &[3][..]]).is_err());
        assert!(Broadcast::new(&[2, 3, 1], [&[2, 3][..], &[3][..]]).is_err());
        // Empty output: nothing is visited.
        let b = Broadcast::new(&[0, 3], [&[0, 3][..], &[3][..]]).unwrap();
        b.for_each(|_, _| panic!("visited"));
    }
}

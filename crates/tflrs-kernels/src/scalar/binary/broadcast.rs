//! Broadcasting of N inputs against an output shape, with LiteRT's rules: shapes are aligned
//! at their last dimension, and in each dimension all inputs that are not 1 agree (0 included),
//! giving the output's size.
//!
//! [`Broadcast`] is planned once (checked against the output shape, with dimensions of size 1
//! dropped and runs of dimensions that broadcast alike merged) and then walks the output in
//! order without allocating, handing out contiguous runs ([`Broadcast::for_each_run`]): a range
//! of output elements and, per input, where the run starts and whether it advances with the
//! output (step 1) or repeats one element (step 0, a broadcast operand). Scalar kernels loop
//! over a run; vector kernels load a slice or splat one value.
//!
//! Public through [`prep::binary`](crate::prep::binary).

use crate::KernelError;
use alloc::format;
use core::ops::Range;

/// Most dimensions after merging; inputs of any rank merge down to at most this many (two
/// inputs alternating between broadcast and not in every dimension need rank 16).
pub const MAX_DIMS: usize = 16;

/// The output shape of broadcasting `shapes` together (LiteRT's
/// `CalculateShapeForBroadcast`), or an error naming the shapes.
pub fn broadcast_shape(shapes: &[&[usize]]) -> Result<alloc::vec::Vec<usize>, KernelError> {
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

/// A broadcast of `N` inputs to one output, planned once (LiteRT's
/// `NdArrayDescsForElementwiseBroadcast` with its dimension merging).
#[derive(Debug, Clone)]
pub struct Broadcast<const N: usize> {
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
    pub fn new(output: &[usize], inputs: [&[usize]; N]) -> Result<Self, KernelError> {
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
    /// and runs handed out by [`for_each`](Self::for_each) and
    /// [`for_each_run`](Self::for_each_run) are in bounds.
    pub fn check_lens(&self, out: usize, inputs: [usize; N]) -> Result<(), KernelError> {
        if out != self.out_len || inputs != self.in_lens {
            return Err(KernelError::invalid(format!(
                "buffers of {inputs:?} -> {out} elements do not match the planned {:?} -> {}",
                self.in_lens, self.out_len
            )));
        }
        Ok(())
    }

    /// Elements of the output.
    pub fn out_len(&self) -> usize {
        self.out_len
    }

    /// Elements of each input.
    pub fn in_lens(&self) -> [usize; N] {
        self.in_lens
    }

    /// The longest run [`for_each_run`](Self::for_each_run) hands out (the size of the
    /// innermost merged dimension; the whole output when no input broadcasts).
    pub fn run_len(&self) -> usize {
        if self.elementwise || self.rank == 0 {
            self.out_len
        } else {
            self.dims[self.rank - 1]
        }
    }

    /// Calls `f(out, starts, steps)` for contiguous runs covering the output in order: output
    /// elements `out` take, from input `k`, the elements `starts[k] + steps[k] * i` for
    /// `i in 0..out.len()`, where `steps[k]` is 1 for an input that follows the output along the
    /// run and 0 for one that is broadcast along it. Runs are as long as the merged innermost
    /// dimension allows; an empty output calls `f` never.
    #[inline]
    pub fn for_each_run(&self, mut f: impl FnMut(Range<usize>, [usize; N], [usize; N])) {
        if self.out_len == 0 {
            return;
        }
        if self.elementwise {
            f(0..self.out_len, [0; N], [1; N]);
            return;
        }
        if self.rank == 0 {
            // Every dimension is 1: one element, read from every input's only element.
            f(0..1, [0; N], [0; N]);
            return;
        }
        let inner = self.dims[self.rank - 1];
        // The innermost merged dimension's stride is 1 for an input that follows it (strides
        // are built from the innermost dimension out) and 0 for a broadcast one.
        let steps: [usize; N] = core::array::from_fn(|k| self.strides[k][self.rank - 1]);
        let mut counter = [0usize; MAX_DIMS];
        let mut base = [0usize; N];
        let mut o = 0usize;
        loop {
            f(o..o + inner, base, steps);
            o += inner;
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

    /// Calls `f(output_index, input_indices)` for every output element, in order (the runs of
    /// [`for_each_run`](Self::for_each_run) walked one element at a time).
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(usize, [usize; N])) {
        self.for_each_run(|out, starts, steps| {
            let mut p = starts;
            for o in out {
                f(o, p);
                for k in 0..N {
                    p[k] += steps[k];
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

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

    /// Expands the runs of a broadcast to per-element indices, checking on the way that the
    /// runs tile the output in order and have steps of 0 or 1, and that merging missed nothing:
    /// the first two runs cannot be one (where they could, the two innermost merged dimensions
    /// broadcast alike and should have been merged; later boundaries may continue by
    /// coincidence, when an outer dimension wraps).
    fn expand_runs<const N: usize>(b: &Broadcast<N>) -> Vec<[usize; N]> {
        let mut v = Vec::new();
        let mut first: Option<(Range<usize>, [usize; N], [usize; N])> = None;
        let mut runs = 0;
        b.for_each_run(|out, starts, steps| {
            assert_eq!(out.start, v.len(), "runs out of order");
            assert!(!out.is_empty(), "empty run");
            assert!(steps.iter().all(|&s| s <= 1), "steps {steps:?}");
            runs += 1;
            if runs == 2 {
                let (p_out, p_starts, p_steps) = first.clone().unwrap();
                let continues = (0..N).all(|k| {
                    p_steps[k] == steps[k] && p_starts[k] + p_steps[k] * p_out.len() == starts[k]
                });
                assert!(!continues, "runs {p_out:?} and {out:?} could be one");
            }
            for i in 0..out.len() {
                v.push(core::array::from_fn(|k| starts[k] + steps[k] * i));
            }
            if runs == 1 {
                first = Some((out, starts, steps));
            }
        });
        v
    }

    /// `N` input shapes broadcastable together, and their broadcast: a base shape of rank 0-6
    /// (dimensions 0-4, so empty tensors and size-1 dimensions are common), each input a
    /// suffix of it with some dimensions replaced by 1. The output takes, per dimension, the
    /// base size where some input keeps it and 1 elsewhere, over the longest input's rank.
    fn shapes<const N: usize>() -> impl Strategy<Value = (Vec<usize>, [Vec<usize>; N])> {
        proptest::collection::vec(0usize..5, 0..=6).prop_flat_map(|base| {
            let rank = base.len();
            let input = (0..=rank, proptest::collection::vec(any::<bool>(), rank));
            proptest::array::uniform::<_, N>(input).prop_map(move |ins| {
                let out_rank = ins.iter().map(|(r, _)| *r).max().unwrap_or(0);
                let out = (rank - out_rank..rank)
                    .map(|a| {
                        let kept = ins.iter().any(|(r, ones)| a >= rank - r && !ones[a]);
                        if kept { base[a] } else { 1 }
                    })
                    .collect();
                let ins = ins.map(|(r, ones)| {
                    (rank - r..rank)
                        .map(|a| if ones[a] { 1 } else { base[a] })
                        .collect::<Vec<_>>()
                });
                (out, ins)
            })
        })
    }

    proptest! {
        #[test]
        fn runs_match_per_element_indices_2((out, ins) in shapes::<2>()) {
            let [a, b] = &ins;
            let bc = Broadcast::new(&out, [&a[..], &b[..]]).unwrap();
            let runs = expand_runs(&bc);
            prop_assert_eq!(&runs, &naive(&out, [&a[..], &b[..]]));
            prop_assert_eq!(runs.len(), bc.out_len());
            prop_assert!(bc.out_len() == 0 || bc.run_len() >= 1);
        }

        #[test]
        fn runs_match_per_element_indices_3((out, ins) in shapes::<3>()) {
            let [a, b, c] = &ins;
            let bc = Broadcast::new(&out, [&a[..], &b[..], &c[..]]).unwrap();
            prop_assert_eq!(expand_runs(&bc), naive(&out, [&a[..], &b[..], &c[..]]));
        }
    }

    #[test]
    fn runs_are_as_long_as_merging_allows() {
        let runs = |out: &[usize], a: &[usize], b: &[usize]| {
            let mut v = Vec::new();
            Broadcast::new(out, [a, b])
                .unwrap()
                .for_each_run(|o, s, st| v.push((o, s, st)));
            v
        };
        // Same shapes: one run over everything.
        assert_eq!(
            runs(&[2, 3, 4], &[2, 3, 4], &[2, 3, 4]),
            alloc::vec![(0..24, [0, 0], [1, 1])]
        );
        // A scalar operand: one run, step 0 for it.
        assert_eq!(
            runs(&[2, 3, 4], &[2, 3, 4], &[]),
            alloc::vec![(0..24, [0, 0], [1, 0])]
        );
        // A row vector: one run per row, the vector restarting at 0 each time.
        assert_eq!(
            runs(&[2, 1, 3], &[2, 1, 3], &[3]),
            alloc::vec![(0..3, [0, 0], [1, 1]), (3..6, [3, 0], [1, 1])]
        );
        // A column: the inner dimension broadcasts it.
        assert_eq!(
            runs(&[2, 3], &[2, 3], &[2, 1]),
            alloc::vec![(0..3, [0, 0], [1, 0]), (3..6, [3, 1], [1, 0])]
        );
        // Size-1 dimensions in the middle do not cut runs.
        assert_eq!(
            runs(&[3, 1, 4], &[3, 1, 4], &[1, 1, 1]),
            alloc::vec![(0..12, [0, 0], [1, 0])]
        );
    }
}

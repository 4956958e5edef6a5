//! Lifetime-based arena planning: tensors that are not alive at the same time share memory.
//!
//! Like TensorFlow Lite Micro's greedy planner, buffers are placed one at a time, each at the
//! lowest aligned offset that does not overlap a placed buffer whose lifetime intersects its
//! own. Which order to place them in decides how tight the result is, and no single order wins
//! on every graph, so [`plan`] tries several (largest first, longest-lived first, earliest
//! first) and keeps the smallest arena. Planning is done once per `build()`, so the extra
//! passes cost nothing at `invoke()`.

use alloc::vec::Vec;

/// Alignment of every buffer in the arena, in bytes: enough for every element type (and the
/// same as TensorFlow Lite Micro's, so arena sizes compare like for like). SIMD kernels use
/// unaligned loads.
pub const ALIGN: usize = 16;

/// A buffer to place: `size` bytes alive from step `first` to step `last`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Size in bytes.
    pub size: usize,
    /// First step at which it is alive.
    pub first: usize,
    /// Last step at which it is alive.
    pub last: usize,
}

/// The placement of every request and the arena size they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Offset of each request, in request order.
    pub offsets: Vec<usize>,
    /// Bytes the arena needs.
    pub size: usize,
}

fn align_up(n: usize) -> Option<usize> {
    n.checked_add(ALIGN - 1).map(|n| n & !(ALIGN - 1))
}

/// Steps a request is alive for, minus one.
fn span(r: &Request) -> usize {
    r.last - r.first
}

/// An order in which to place buffers.
type Order = dyn Fn(&Request, &Request) -> core::cmp::Ordering;

/// Places `requests` with each ordering heuristic and returns the smallest layout; `None` when
/// sizes overflow `usize`.
pub fn plan(requests: &[Request]) -> Option<Layout> {
    let orders: [&Order; 3] = [
        // Largest first, longer-lived first among equals (TFLM's order, refined).
        &|a, b| b.size.cmp(&a.size).then(span(b).cmp(&span(a))),
        // Longest-lived first: long-lived buffers settle at the bottom, short ones reuse the
        // space above them.
        &|a, b| span(b).cmp(&span(a)).then(b.size.cmp(&a.size)),
        // In order of first use, largest first among equals.
        &|a, b| a.first.cmp(&b.first).then(b.size.cmp(&a.size)),
    ];
    let mut best: Option<Layout> = None;
    for cmp in orders {
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by(|&a, &b| cmp(&requests[a], &requests[b]).then(a.cmp(&b)));
        let layout = place(requests, &order)?;
        if best.as_ref().is_none_or(|b| layout.size < b.size) {
            best = Some(layout);
        }
    }
    best
}

/// Places the requests in `order`, each at the lowest offset free during its lifetime.
fn place(requests: &[Request], order: &[usize]) -> Option<Layout> {
    let mut offsets = alloc::vec![0usize; requests.len()];
    // Placed buffers as (offset, end, index).
    let mut placed: Vec<(usize, usize, usize)> = Vec::with_capacity(requests.len());
    let mut size = 0usize;
    let mut live: Vec<(usize, usize)> = Vec::new();
    for &i in order {
        let r = requests[i];
        let len = align_up(r.size)?;
        if len == 0 {
            offsets[i] = 0;
            continue;
        }
        live.clear();
        live.extend(
            placed
                .iter()
                .filter(|&&(_, _, j)| {
                    let o = requests[j];
                    o.first <= r.last && r.first <= o.last
                })
                .map(|&(s, e, _)| (s, e)),
        );
        live.sort_unstable();
        let mut candidate = 0usize;
        for &(s, e) in &live {
            if candidate.checked_add(len)? <= s {
                break;
            }
            candidate = candidate.max(e);
        }
        let end = candidate.checked_add(len)?;
        offsets[i] = candidate;
        placed.push((candidate, end, i));
        size = size.max(end);
    }
    Some(Layout { offsets, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
        a.0 < b.1 && b.0 < a.1
    }

    fn check(requests: &[Request], layout: &Layout) {
        for i in 0..requests.len() {
            for j in i + 1..requests.len() {
                let (a, b) = (requests[i], requests[j]);
                if a.size == 0 || b.size == 0 {
                    continue;
                }
                let alive_together = a.first <= b.last && b.first <= a.last;
                let ma = (layout.offsets[i], layout.offsets[i] + a.size);
                let mb = (layout.offsets[j], layout.offsets[j] + b.size);
                assert!(!(alive_together && overlaps(ma, mb)), "{i} and {j} overlap");
            }
            assert_eq!(layout.offsets[i] % ALIGN, 0);
            assert!(layout.offsets[i] + requests[i].size <= layout.size);
        }
    }

    #[test]
    fn chain_reuses_memory() {
        // a -> b -> c -> d: each tensor is alive for two steps.
        let reqs: Vec<Request> = (0..4)
            .map(|i| Request {
                size: 1000,
                first: i,
                last: i + 1,
            })
            .collect();
        let layout = plan(&reqs).unwrap();
        check(&reqs, &layout);
        assert_eq!(layout.size, 2 * 1008);
    }

    #[test]
    fn all_alive_needs_the_sum() {
        let reqs: Vec<Request> = (0..3)
            .map(|i| Request {
                size: 64 * (i + 1),
                first: 0,
                last: 5,
            })
            .collect();
        let layout = plan(&reqs).unwrap();
        check(&reqs, &layout);
        assert_eq!(layout.size, 64 * 6);
    }

    #[test]
    fn random_requests_never_overlap() {
        let mut seed = 0x1234_5678u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let n = (next() % 30) as usize;
            let reqs: Vec<Request> = (0..n)
                .map(|_| {
                    let first = (next() % 20) as usize;
                    Request {
                        size: (next() % 5000) as usize,
                        first,
                        last: first + (next() % 10) as usize,
                    }
                })
                .collect();
            let layout = plan(&reqs).unwrap();
            check(&reqs, &layout);
            let total: usize = reqs.iter().map(|r| align_up(r.size).unwrap()).sum();
            assert!(layout.size <= total);
        }
    }

    #[test]
    fn a_long_lived_buffer_goes_to_the_bottom() {
        // cnn_small's first block: the input dies at step 0, the stem output lives to step 3,
        // then three same-size buffers of one or two steps. Largest-first needs 4032 bytes
        // here; placing the long-lived stem output first needs 3456 (three 1152s at once).
        let reqs = [
            Request {
                size: 1728,
                first: 0,
                last: 0,
            },
            Request {
                size: 1152,
                first: 0,
                last: 3,
            },
            Request {
                size: 1152,
                first: 1,
                last: 2,
            },
            Request {
                size: 1152,
                first: 2,
                last: 3,
            },
            Request {
                size: 1152,
                first: 3,
                last: 4,
            },
        ];
        let layout = plan(&reqs).unwrap();
        check(&reqs, &layout);
        assert_eq!(layout.size, 3456);
    }

    #[test]
    fn overflow_is_refused() {
        let reqs = [Request {
            size: usize::MAX - 3,
            first: 0,
            last: 0,
        }];
        assert!(plan(&reqs).is_none());
    }
}

//! Lifetime-based arena planning: tensors that are not alive at the same time share memory.
//!
//! Like TensorFlow Lite Micro's greedy planner, buffers are placed one at a time, each at the
//! lowest aligned offset that does not overlap a placed buffer whose lifetime intersects its
//! own. Which order to place them in decides how tight the result is, and no single order wins
//! on every graph, so [`plan`] tries several (largest first, longest-lived first, earliest
//! first) and keeps the smallest arena. Planning is done once per `build()`, so the extra
//! passes cost nothing at `invoke()`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Alignment of every buffer in the arena, in bytes: enough for every element type (and the
/// same as TensorFlow Lite Micro's, so arena sizes compare like for like). SIMD kernels use
/// unaligned loads.
pub const ALIGN: usize = 16;

/// A buffer to place: `size` bytes alive from step `first` to step `last`, inclusive
/// (`first <= last`).
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
type Order = fn(&Request, &Request) -> core::cmp::Ordering;

/// The orders [`plan`] tries.
const ORDERS: [Order; 3] = [
    // Largest first, longer-lived first among equals (TFLM's order, refined).
    |a, b| b.size.cmp(&a.size).then(span(b).cmp(&span(a))),
    // Longest-lived first: long-lived buffers settle at the bottom, short ones reuse the
    // space above them.
    |a, b| span(b).cmp(&span(a)).then(b.size.cmp(&a.size)),
    // In order of first use, largest first among equals.
    |a, b| a.first.cmp(&b.first).then(b.size.cmp(&a.size)),
];

/// Request indices sorted by `cmp`, ties by index.
fn sorted(requests: &[Request], cmp: Order) -> Vec<usize> {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| cmp(&requests[a], &requests[b]).then(a.cmp(&b)));
    order
}

/// Places `requests` with each ordering heuristic and returns the smallest layout; `None` when
/// sizes overflow `usize`.
pub fn plan(requests: &[Request]) -> Option<Layout> {
    plan_with(requests, place)
}

/// [`plan`] with the placement function as a parameter (the tests' oracle is another).
fn plan_with(
    requests: &[Request],
    place: fn(&[Request], &[usize]) -> Option<Layout>,
) -> Option<Layout> {
    let mut best: Option<Layout> = None;
    for cmp in ORDERS {
        let layout = place(requests, &sorted(requests, cmp))?;
        if best.as_ref().is_none_or(|b| layout.size < b.size) {
            best = Some(layout);
        }
    }
    best
}

/// Places the requests in `order`, each at the lowest offset free during its lifetime.
///
/// First fit over the buffers placed so far whose lifetimes intersect the new one's, found
/// through a segment tree over (compressed) steps instead of a scan of every placed buffer:
/// see [`Sweep`]. The layout is the one a scan gives (`tests::oracle` is that scan).
fn place(requests: &[Request], order: &[usize]) -> Option<Layout> {
    let mut offsets = alloc::vec![0usize; requests.len()];
    let mut size = 0usize;
    let mut tree = Sweep::new(requests);
    for &i in order {
        let len = align_up(requests[i].size)?;
        if len == 0 {
            continue;
        }
        let (first, last) = tree.steps(&requests[i]);
        let offset = tree.first_fit(first, last, len)?;
        let end = offset.checked_add(len)?;
        tree.insert(first, last, offset, end);
        offsets[i] = offset;
        size = size.max(end);
    }
    Some(Layout { offsets, size })
}

/// Byte ranges taken by a set of placed buffers, merged: start to end, disjoint and never
/// touching (merging loses nothing: a buffer cannot fit in a gap of zero bytes).
#[derive(Debug, Default)]
struct Taken(BTreeMap<usize, usize>);

impl Taken {
    /// Adds `[start, end)`; `false` when it was taken already.
    fn insert(&mut self, mut start: usize, mut end: usize) -> bool {
        if let Some((&s, &e)) = self.0.range(..=start).next_back()
            && e >= start
        {
            if e >= end {
                return false;
            }
            start = s;
        }
        while let Some((&s, &e)) = self.0.range(start..=end).next() {
            self.0.remove(&s);
            end = end.max(e);
        }
        self.0.insert(start, end);
        true
    }

    /// The lowest offset at or above `at` where `len` bytes miss every range; `None` when the
    /// end would overflow.
    fn fit(&self, mut at: usize, len: usize) -> Option<usize> {
        if let Some((_, &e)) = self.0.range(..=at).next_back()
            && e > at
        {
            at = e;
        }
        // `at` is free here; each range starting below `at + len` pushes it past that range.
        while let Some((_, &e)) = self.0.range(at..at.checked_add(len)?).next() {
            at = e;
        }
        Some(at)
    }
}

/// The placed buffers, indexed by lifetime.
///
/// A segment tree over steps (compressed to the distinct first steps, which keeps every
/// "alive together" relation). A buffer alive over steps `[a, b]` is recorded in `cover` of
/// the O(log n) nodes that tile `[a, b]`, and in `touch` of those nodes and of every node on
/// the paths from leaves `a` and `b` to the root: `touch[v]` holds every buffer alive at some
/// step of `v`'s range, `cover[v]` those alive at all of them. The buffers alive at some step of
/// `[a, b]` are then exactly those in `touch` of the tiling nodes and in `cover` of the nodes
/// on the two paths, O(log n) merged sets: first fit is the lowest offset free in all of them.
///
/// Cost, for n requests and per placement: O(log n) set updates of O(log n) each, plus the
/// first-fit walk, which steps over the merged ranges below the result. That walk is short
/// when few buffers are alive together or when they sit side by side (a wide layer: all
/// alive at once), but long where many long-lived buffers are spread over the arena with
/// gaps between them, so planning is not near-linear on every graph. `Limits::
/// max_arena_buffers` (default 2^15) bounds it.
///
/// Planning times, three orders as [`plan`] does, release build on a shared 2-core machine
/// (`cargo test --release -p tflrs-runtime --lib arena::tests::planning_time -- --ignored
/// --nocapture`; "before" is the scan this replaced, now `tests::oracle`, run at 10^4 here;
/// chain: each tensor alive for two steps, one in 100 alive to the end; window: 1000 alive
/// at once, one starting per step; wide: all alive at once):
///
/// | requests | chain before / after | window before / after | wide before / after |
/// |---|---|---|---|
/// | 10^4 | 0.70 s / 0.07 s | 0.89 s / 0.3-0.6 s | 2.2 s / 0.01-0.02 s |
/// | 2^15 (the limit) | - / 0.3-0.4 s | - / 0.8-0.95 s | - / 0.04 s |
/// | 10^5 | 52 s / 1.3 s | - / 3.8 s | - / 0.4 s |
/// | 10^6 | - / 153 s | - / not run | - / 3.6 s |
struct Sweep {
    /// Distinct first steps, sorted: step ranks.
    firsts: Vec<usize>,
    /// Leaves: a power of two, at least the number of ranks.
    leaves: usize,
    /// Per tree node (1-based heap order), an index into `sets`, or `NONE`.
    cover: Vec<usize>,
    touch: Vec<usize>,
    sets: Vec<Taken>,
    /// Sets or nodes of the current placement (kept to reuse its memory).
    scratch: Vec<usize>,
}

/// No set yet.
const NONE: usize = usize::MAX;

impl Sweep {
    fn new(requests: &[Request]) -> Self {
        let mut firsts: Vec<usize> = requests.iter().map(|r| r.first).collect();
        firsts.sort_unstable();
        firsts.dedup();
        let leaves = firsts.len().max(1).next_power_of_two();
        Self {
            firsts,
            leaves,
            cover: alloc::vec![NONE; 2 * leaves],
            touch: alloc::vec![NONE; 2 * leaves],
            sets: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// `r`'s lifetime in ranks: two requests are alive together exactly when these intersect.
    fn steps(&self, r: &Request) -> (usize, usize) {
        let first = self.firsts.partition_point(|&f| f < r.first);
        // The last first step at or before `r.last`: at least `r.first`'s own rank.
        let last = self.firsts.partition_point(|&f| f <= r.last).max(first + 1) - 1;
        (first, last)
    }

    /// Calls `f` with the nodes that tile leaves `[a, b]`.
    fn tiling(&self, a: usize, b: usize, mut f: impl FnMut(usize)) {
        let (mut lo, mut hi) = (a + self.leaves, b + self.leaves + 1);
        while lo < hi {
            if lo & 1 == 1 {
                f(lo);
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                f(hi);
            }
            lo >>= 1;
            hi >>= 1;
        }
    }

    /// Calls `f` with every node on the paths from leaves `a` and `b` to the root, once each.
    fn paths(&self, a: usize, b: usize, mut f: impl FnMut(usize)) {
        let (mut x, mut y) = (a + self.leaves, b + self.leaves);
        while x != y {
            f(x);
            f(y);
            x >>= 1;
            y >>= 1;
        }
        while x >= 1 {
            f(x);
            x >>= 1;
        }
    }

    fn first_fit(&mut self, a: usize, b: usize, len: usize) -> Option<usize> {
        let mut check = core::mem::take(&mut self.scratch);
        check.clear();
        self.tiling(a, b, |v| check.push(self.touch[v]));
        self.paths(a, b, |v| check.push(self.cover[v]));
        check.retain(|&s| s != NONE);
        // Raise the offset until every set leaves it free: each raise passes a taken range.
        let mut at = 0usize;
        let mut settled = 0;
        let mut k = 0;
        while settled < check.len() {
            let next = self.sets[check[k]].fit(at, len)?;
            if next == at {
                settled += 1;
            } else {
                at = next;
                settled = 1;
            }
            k = (k + 1) % check.len();
        }
        self.scratch = check;
        Some(at)
    }

    fn insert(&mut self, a: usize, b: usize, start: usize, end: usize) {
        // Up both paths first; a node's `touch` holds its children's, so where the range is
        // taken already it is in every `touch` above too. (After the tiling nodes, a tiling
        // node on a path would stop the walk below its own ancestors.)
        for leaf in [a, b] {
            let mut v = leaf + self.leaves;
            while v >= 1 && Self::set(&mut self.sets, &mut self.touch[v]).insert(start, end) {
                v >>= 1;
            }
        }
        let mut nodes = core::mem::take(&mut self.scratch);
        nodes.clear();
        self.tiling(a, b, |v| nodes.push(v));
        for &v in &nodes {
            Self::set(&mut self.sets, &mut self.cover[v]).insert(start, end);
            Self::set(&mut self.sets, &mut self.touch[v]).insert(start, end);
        }
        self.scratch = nodes;
    }

    /// The set `slot` names, made on first use.
    fn set<'s>(sets: &'s mut Vec<Taken>, slot: &mut usize) -> &'s mut Taken {
        if *slot == NONE {
            *slot = sets.len();
            sets.push(Taken::default());
        }
        &mut sets[*slot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The planner's placement before [`Sweep`]: a scan of every placed buffer per placement,
    /// O(n^2 log n). Kept as the oracle `place` must agree with.
    fn oracle(requests: &[Request], order: &[usize]) -> Option<Layout> {
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

    /// Requests of a few shapes: short and long lifetimes, sizes that are zero, equal, or
    /// multiples of [`ALIGN`] (so that buffers touch and gaps fit exactly).
    fn requests() -> impl Strategy<Value = Vec<Request>> {
        let size = prop_oneof![
            Just(0usize),
            (1usize..6).prop_map(|k| k * ALIGN),
            1usize..5000,
        ];
        let life = prop_oneof![3 => 0usize..3, 1 => 0usize..40];
        proptest::collection::vec((size, 0usize..40, life), 0..80).prop_map(|v| {
            v.into_iter()
                .map(|(size, first, life)| Request {
                    size,
                    first,
                    last: first + life,
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Same offsets as the scan, in every order `plan` uses and in an arbitrary one.
        #[test]
        fn place_agrees_with_the_scan(reqs in requests(), seed in any::<u64>()) {
            for cmp in ORDERS {
                let order = sorted(&reqs, cmp);
                let layout = place(&reqs, &order).unwrap();
                prop_assert_eq!(&layout, &oracle(&reqs, &order).unwrap());
                check(&reqs, &layout);
            }
            let mut order: Vec<usize> = (0..reqs.len()).collect();
            let mut x = seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(place(&reqs, &order), oracle(&reqs, &order));
            prop_assert_eq!(plan(&reqs), plan_with(&reqs, oracle));
        }
    }

    /// A chain of `n` tensors, each alive for two steps, with one in every 100 alive to the
    /// end (a model with skip connections), sizes varying.
    fn chain(n: usize) -> Vec<Request> {
        (0..n)
            .map(|i| Request {
                size: 256 + (i * 7919) % 4096,
                first: i,
                last: if i % 100 == 0 { n } else { i + 1 },
            })
            .collect()
    }

    /// `n` tensors each alive for 1000 steps, one starting per step: 1000 alive at once.
    fn window(n: usize) -> Vec<Request> {
        (0..n)
            .map(|i| Request {
                size: 64 + (i * 7919) % 1024,
                first: i,
                last: i + 999,
            })
            .collect()
    }

    #[test]
    fn plans_a_hundred_thousand_requests() {
        // Not a timing test: these complete in seconds in debug builds, where the scan took
        // hours (wide) or minutes (chain) at this size.
        let layout = plan(&wide(100_000)).unwrap();
        let total: usize = wide(100_000)
            .iter()
            .map(|r| align_up(r.size).unwrap())
            .sum();
        assert_eq!(layout.size, total);
        assert!(plan(&chain(100_000)).unwrap().size > 0);
        let reqs = window(2000);
        let layout = plan(&reqs).unwrap();
        check(&reqs, &layout);
        assert_eq!(layout, plan_with(&reqs, oracle).unwrap());
    }

    /// All `n` alive at once (one wide layer).
    fn wide(n: usize) -> Vec<Request> {
        (0..n)
            .map(|i| Request {
                size: 64 + (i * 7919) % 1024,
                first: 0,
                last: 1,
            })
            .collect()
    }

    /// Planning times for `Sweep`'s doc table: `cargo test --release -p tflrs-runtime --lib
    /// arena::tests::planning_time -- --ignored --nocapture`. The scan runs at 10^4 only;
    /// chain and window stop at 10^5 (chain took 153 s at 10^6).
    #[test]
    #[ignore = "a measurement, run in release"]
    fn planning_time() {
        use std::time::Instant;
        for n in [10_000, 1 << 15, 100_000, 1_000_000] {
            let mut shapes = alloc::vec![("wide", wide(n))];
            if n <= 100_000 {
                shapes.push(("chain", chain(n)));
                shapes.push(("window", window(n)));
            }
            for (name, reqs) in shapes {
                let t = Instant::now();
                let layout = plan(&reqs).unwrap();
                let after = t.elapsed();
                let before = if n <= 10_000 {
                    let t = Instant::now();
                    assert_eq!(plan_with(&reqs, oracle).unwrap(), layout);
                    std::format!("{:?}", t.elapsed())
                } else {
                    "not run".into()
                };
                std::println!(
                    "{n} {name}: before {before}, after {after:?}, {} bytes",
                    layout.size
                );
            }
        }
    }

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

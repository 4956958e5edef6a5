//! Splitting a kernel's output over the threads of a [`Parallel`] (backends-plan.md §5): a 2-D
//! grid of row groups by column groups of whole micro-kernel tiles, at least
//! [`TASKS_PER_THREAD`] tasks a thread, columns first when the rows are few (each thread then
//! streams its own part of the weights), rows when they are many; serially below
//! [`MIN_PARALLEL_MACS`]. Each output element belongs to exactly one task and is computed as
//! the serial walk computes it, so outputs do not depend on the thread count.

use core::ops::Range;
use tflrs_kernels::Parallel;

/// Work (multiply-adds) below which a kernel runs serially: waking the workers and waiting for
/// them costs a few microseconds, about what this much work takes on one core.
pub(crate) const MIN_PARALLEL_MACS: usize = 64 * 1024;

/// Tasks per thread: enough for the dynamic scheduling to even out uneven threads (a core
/// shared with another process), few enough that each task's tiles stay large.
pub(crate) const TASKS_PER_THREAD: usize = 4;

/// The threads to split `macs` of work over, or `None` to run serially.
pub(crate) fn threads_for(parallel: Option<&dyn Parallel>, macs: usize) -> Option<&dyn Parallel> {
    parallel.filter(|p| p.threads() > 1 && macs >= MIN_PARALLEL_MACS)
}

/// A grid of `rows` row groups by `cols` column groups over `m_tiles` row tiles and `n_tiles`
/// column tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) m_tiles: usize,
    pub(crate) n_tiles: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl Grid {
    /// The grid for `threads` threads: row groups alone when there are at least
    /// `TASKS_PER_THREAD * threads` row tiles, else column groups first (as many as there are
    /// column tiles, up to the target), then row groups to make up the count.
    pub(crate) fn new(m_tiles: usize, n_tiles: usize, threads: usize) -> Grid {
        let target = TASKS_PER_THREAD * threads.max(1);
        let (m_tiles, n_tiles) = (m_tiles.max(1), n_tiles.max(1));
        let (rows, cols) = if m_tiles >= target {
            (target, 1)
        } else {
            let cols = n_tiles.min(target);
            (m_tiles.min(target.div_ceil(cols)), cols)
        };
        Grid {
            m_tiles,
            n_tiles,
            rows,
            cols,
        }
    }

    /// Tasks (`rows * cols`).
    pub(crate) fn tasks(&self) -> usize {
        self.rows * self.cols
    }

    /// The row tiles and column tiles of task `t`.
    pub(crate) fn task(&self, t: usize) -> (Range<usize>, Range<usize>) {
        let (r, c) = (t / self.cols, t % self.cols);
        (
            part(self.m_tiles, self.rows, r),
            part(self.n_tiles, self.cols, c),
        )
    }
}

/// Part `i` of `n` nearly equal parts of `0..len`.
fn part(len: usize, n: usize, i: usize) -> Range<usize> {
    len * i / n..len * (i + 1) / n
}

/// A buffer that tasks write disjoint elements of at the same time, through a raw pointer (no
/// two `&mut` to overlapping memory exist at once).
#[derive(Clone, Copy)]
pub(crate) struct Shared<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: a `Shared` is only a pointer; its users promise (see `slice`) that concurrent tasks
// touch disjoint elements, and `T: Send` lets those elements be written from other threads.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Shared<T> {
    /// Lends `s` to the tasks of one `for_each` (it stays borrowed for `'a` by the caller).
    pub(crate) fn new(s: &mut [T]) -> Self {
        Shared {
            ptr: s.as_mut_ptr(),
            len: s.len(),
        }
    }

    /// The elements `start..start + len`.
    ///
    /// # Safety
    ///
    /// The buffer is alive and lent (the `&mut` given to [`new`](Self::new) is not used
    /// meanwhile), and no other live slice from this `Shared` overlaps these elements.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(
            start <= self.len && len <= self.len - start,
            "outside the buffer"
        );
        // SAFETY: inside the buffer (checked), unaliased by the caller's promise.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_cover_every_tile_once_with_enough_tasks() {
        for (m, n, threads) in [
            (1, 1, 2),
            (2, 20, 2),
            (40, 1, 2),
            (3, 3, 3),
            (100, 7, 2),
            (7, 100, 4),
        ] {
            let g = Grid::new(m, n, threads);
            let mut seen = vec![0u32; m * n];
            for t in 0..g.tasks() {
                let (rows, cols) = g.task(t);
                for i in rows {
                    for j in cols.clone() {
                        seen[i * n + j] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{m} {n} {threads}: {g:?}");
            let tiles = m * n;
            assert!(
                g.tasks() >= (TASKS_PER_THREAD * threads).min(tiles),
                "{g:?}"
            );
        }
        // Few rows: the columns are split (each task streams its own weights).
        assert_eq!(Grid::new(2, 20, 2).rows, 1);
        // Many rows: only the rows.
        assert_eq!(Grid::new(40, 3, 2).cols, 1);
    }
}

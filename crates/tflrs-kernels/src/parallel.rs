//! [`Parallel`]: the threads a kernel may split its work over during one run.
//!
//! The runtime makes a worker pool at build time (`InterpreterBuilder::threads`, std only) and
//! lends it to kernels through [`KernelIo::parallel`](crate::KernelIo::parallel); without one
//! (one thread, no_std, tools and tests by default) kernels run serially. [`for_each`] runs a
//! task list on a pool if there is one, serially otherwise.

/// A set of threads that runs a list of tasks, each exactly once, and returns when every task
/// is done.
///
/// A task gets its index and the index of the thread that runs it (below
/// [`threads`](Self::threads)): two tasks running at the same time never share a thread
/// index, so a kernel may give each thread index its own part of the scratch buffer (see
/// [`Kernel::scratch_per_thread`](crate::Kernel::scratch_per_thread)). Which thread runs which
/// task is not fixed: a kernel whose output must not depend on the thread count gives each
/// output element to one task, computed the same way whoever runs it.
pub trait Parallel: Sync {
    /// Threads that run tasks (the calling one included); at least 1.
    fn threads(&self) -> usize;

    /// Runs `f(task, thread)` for every `task` in `0..tasks`, each exactly once, and returns
    /// after the last one finished. A call made from inside a task (nested) runs its tasks on
    /// the calling thread, with that thread's index. A task that panics makes `for_each` panic
    /// on the calling thread once every other task has finished.
    fn for_each(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync));
}

/// Runs `f(task, thread)` for every task in `0..tasks` on `parallel`, or serially on this
/// thread (thread index 0) when it is `None` or has one thread.
pub fn for_each(parallel: Option<&dyn Parallel>, tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    match parallel {
        Some(p) if p.threads() > 1 && tasks > 1 => p.for_each(tasks, f),
        _ => (0..tasks).for_each(|t| f(t, 0)),
    }
}

/// The thread count of an optional [`Parallel`] (1 without one).
pub fn threads(parallel: Option<&dyn Parallel>) -> usize {
    parallel.map_or(1, |p| p.threads().max(1))
}

/// Threads made for every call, with `std::thread::scope`: simple and slow (a spawn per call),
/// for tests of kernels' splitting; the runtime's pool keeps its threads.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy)]
pub struct ScopedThreads(pub usize);

#[cfg(feature = "std")]
impl Parallel for ScopedThreads {
    fn threads(&self) -> usize {
        self.0.max(1)
    }

    fn for_each(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        use core::sync::atomic::{AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let work = |thread: usize| {
            loop {
                let t = next.fetch_add(1, Ordering::Relaxed);
                if t >= tasks {
                    break;
                }
                f(t, thread);
            }
        };
        std::thread::scope(|s| {
            for thread in 1..self.threads() {
                let work = &work;
                s.spawn(move || work(thread));
            }
            work(0);
        });
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn scoped_threads_run_every_task_once_with_thread_indices_in_range() {
        for threads in 1..=3 {
            let p = ScopedThreads(threads);
            let counts: Vec<AtomicUsize> = (0..50).map(|_| AtomicUsize::new(0)).collect();
            for_each(Some(&p), counts.len(), &|t, thread| {
                assert!(thread < threads);
                counts[t].fetch_add(1, Ordering::Relaxed);
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        }
        let ran = AtomicUsize::new(0);
        for_each(None, 7, &|_, thread| {
            assert_eq!(thread, 0);
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 7);
    }
}

//! The worker pool of [`InterpreterBuilder::threads`](crate::InterpreterBuilder::threads):
//! `threads - 1` workers made at build time plus the calling thread, lent to kernels as a
//! [`Parallel`] during `invoke`.
//!
//! One [`for_each`](Parallel::for_each) publishes its task list (a pointer to the caller's
//! closure and a task count) under a new epoch and opens the epoch's gate; a worker that sees
//! the epoch joins through the gate (one atomic compare-and-swap on the word holding the
//! epoch, a closed bit and the count of joined workers), takes tasks from one atomic counter
//! until none is left, and leaves. The caller (thread 0) takes tasks too; when none is left it
//! closes the gate and waits only for the workers that joined, so a worker that is asleep or
//! descheduled (a machine with fewer free cores than threads) never holds it up: the caller
//! then simply runs the tasks itself. Nothing is allocated and no thread is made per call.
//! Workers spin for [`SPIN`] after a call, so that the next kernel of the same invoke finds
//! them awake, then sleep on a condition variable until the next epoch.
//!
//! A panicking task is caught where it runs; the other tasks finish, and `for_each` panics on
//! the calling thread once no worker uses the closure any more. A `for_each` made while the
//! pool is busy (from inside a task, or from another thread) runs its tasks on the calling
//! thread.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tflrs_kernels::Parallel;

/// How long a worker spins for the next task list before it sleeps.
pub(crate) const SPIN: Duration = Duration::from_micros(200);

/// Spins before a waiting thread yields its core instead (to a thread it waits for, when the
/// machine has fewer free cores than the pool has threads).
const YIELD_AFTER: u32 = 2000;

/// The caller's closure, lifetime erased. Only dereferenced by workers inside the gate of its
/// epoch, while the caller waits in `for_each`.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize, usize) + Sync),
    tasks: usize,
}

/// The task list a pool starts with (never run: its task count is 0).
static NOTHING: fn(usize, usize) = |_, _| {};

/// The gate's closed bit; the bits below count the joined workers, the bits above are the
/// epoch.
const CLOSED: u64 = 1 << 31;
const COUNT: u64 = CLOSED - 1;

fn epoch_of(gate: u64) -> u64 {
    gate >> 32
}

/// What the caller and the workers share.
struct Shared {
    /// The gate: epoch (bits 32..64, incremented for each task list and for shutdown),
    /// [`CLOSED`], and the workers inside (bits 0..31).
    gate: AtomicU64,
    /// The current task list; written by the caller only while no worker is inside the gate
    /// (it is closed with a count of 0, or not yet opened).
    job: std::cell::UnsafeCell<Job>,
    /// The next task to take.
    next: AtomicUsize,
    /// Whether a task of the current epoch panicked.
    panicked: AtomicBool,
    /// Set when the pool is dropped.
    shutdown: AtomicBool,
    /// Whether a `for_each` is running (a second one runs serially).
    busy: AtomicBool,
    /// Workers asleep (or about to be) on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the thread holding `busy` while the gate is closed and
// empty (no worker reads it then), and read by workers only inside the gate, which they enter
// with an Acquire compare-and-swap on the word the caller stored with Release after writing
// `job`; the closure it points at is `Sync`.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointer is only a reference to a `Sync` closure.
unsafe impl Send for Shared {}

thread_local! {
    /// The thread index of this thread in the pool it works for (`usize::MAX` outside one),
    /// for nested calls.
    static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The pool: `threads - 1` workers; the thread calling [`Parallel::for_each`] is thread 0.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl core::fmt::Debug for Pool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish()
    }
}

/// Takes tasks of `job` until none is left, running each as `thread`; returns whether one
/// panicked.
fn work(shared: &Shared, job: Job, thread: usize) -> bool {
    let mut panicked = false;
    loop {
        let t = shared.next.fetch_add(1, Ordering::Relaxed);
        if t >= job.tasks {
            return panicked;
        }
        // SAFETY: the caller of `for_each` keeps the closure alive until the gate is closed
        // and empty; a worker leaves it only after its last task.
        let f = unsafe { &*job.f };
        panicked |= catch_unwind(AssertUnwindSafe(|| f(t, thread))).is_err();
    }
}

impl Pool {
    /// A pool of `threads` threads (the caller and `threads - 1` workers); `None` for fewer
    /// than 2, or when the system refuses a thread.
    pub(crate) fn new(threads: usize) -> Option<Pool> {
        if threads < 2 {
            return None;
        }
        let shared = Arc::new(Shared {
            gate: AtomicU64::new(CLOSED),
            job: std::cell::UnsafeCell::new(Job {
                f: &NOTHING as &(dyn Fn(usize, usize) + Sync),
                tasks: 0,
            }),
            next: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut pool = Pool {
            shared,
            workers: Vec::with_capacity(threads - 1),
        };
        for index in 1..threads {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("tflrs-worker-{index}"))
                .spawn(move || worker(&shared, index))
                .ok()?;
            pool.workers.push(handle);
        }
        Some(pool)
    }

    /// Wakes the sleeping workers after an epoch was published.
    fn wake_all(&self) {
        if self.shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
    }
}

/// A worker's life: wait for an epoch, join it if its gate is still open, take its tasks,
/// leave; until shutdown.
fn worker(shared: &Shared, index: usize) {
    INDEX.with(|i| i.set(index));
    let mut seen = 0u64;
    loop {
        // Spin for the next epoch, then sleep.
        let start = Instant::now();
        let mut spins = 0u32;
        let mut gate = loop {
            let g = shared.gate.load(Ordering::Acquire);
            if epoch_of(g) != seen {
                break g;
            }
            // Spin without yielding: a worker that gives its core away is seldom back before
            // the caller ran the tasks itself.
            spins = spins.wrapping_add(1);
            core::hint::spin_loop();
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                let mut guard = shared.lock.lock().unwrap_or_else(|e| e.into_inner());
                shared.sleepers.fetch_add(1, Ordering::SeqCst);
                while epoch_of(shared.gate.load(Ordering::SeqCst)) == seen {
                    guard = shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                shared.sleepers.fetch_sub(1, Ordering::SeqCst);
                drop(guard);
            }
        };
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // Join unless the caller already closed the gate (it ran the tasks without us).
        let joined = loop {
            if gate & CLOSED != 0 {
                break false;
            }
            match shared.gate.compare_exchange_weak(
                gate,
                gate + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break true,
                Err(g) => gate = g,
            }
        };
        seen = epoch_of(gate);
        if !joined {
            continue;
        }
        // SAFETY: inside the gate: the caller wrote `job` before opening it (Release, seen by
        // the compare-and-swap with Acquire) and does not write it again before we leave.
        let job = unsafe { *shared.job.get() };
        if work(shared, job, index) {
            shared.panicked.store(true, Ordering::Relaxed);
        }
        shared.gate.fetch_sub(1, Ordering::Release);
    }
}

impl Parallel for Pool {
    fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    fn for_each(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        let shared = &*self.shared;
        if tasks <= 1
            || shared
                .busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            // Nested (or concurrent): serially, as this thread.
            let me = INDEX.with(Cell::get);
            let me = if me == usize::MAX { 0 } else { me };
            (0..tasks).for_each(|t| f(t, me));
            return;
        }
        // SAFETY: only the lifetime is erased; the closure outlives every use (below, we close
        // the gate and wait for it to empty on every path, panics included, before returning
        // or unwinding).
        let f_static: *const (dyn Fn(usize, usize) + Sync) = unsafe {
            core::mem::transmute::<
                *const (dyn Fn(usize, usize) + Sync + '_),
                *const (dyn Fn(usize, usize) + Sync + 'static),
            >(f)
        };
        let job = Job { f: f_static, tasks };
        // SAFETY: `busy` is ours and the gate is closed and empty (the previous call waited
        // for that), so no worker reads `job` now.
        unsafe { *shared.job.get() = job };
        shared.next.store(0, Ordering::Relaxed);
        shared.panicked.store(false, Ordering::Relaxed);
        let epoch = epoch_of(shared.gate.load(Ordering::Relaxed)) + 1;
        // Open: the new epoch, not closed, nobody inside.
        shared.gate.store(epoch << 32, Ordering::SeqCst);
        self.wake_all();
        let mut panicked = work(shared, job, 0);
        // Every task is taken: close the gate and wait for the workers inside (on their last
        // task); on a machine with fewer free cores than threads, yield to them after a while.
        shared.gate.fetch_or(CLOSED, Ordering::AcqRel);
        let mut spins = 0u32;
        while shared.gate.load(Ordering::Acquire) & COUNT != 0 {
            spins = spins.saturating_add(1);
            if spins < YIELD_AFTER {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        panicked |= shared.panicked.load(Ordering::Relaxed);
        shared.busy.store(false, Ordering::Release);
        if panicked {
            resume_unwind(Box::new("a task of Parallel::for_each panicked"));
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        // A new epoch, closed: every worker wakes, sees the shutdown and returns.
        let epoch = epoch_of(self.shared.gate.load(Ordering::Relaxed)) + 1;
        self.shared
            .gate
            .store((epoch << 32) | CLOSED, Ordering::SeqCst);
        {
            let _guard = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counts(n: usize) -> Vec<AtomicUsize> {
        (0..n).map(|_| AtomicUsize::new(0)).collect()
    }

    #[test]
    fn every_task_runs_exactly_once_on_a_thread_in_range() {
        for threads in [2, 3, 4] {
            let pool = Pool::new(threads).unwrap();
            assert_eq!(pool.threads(), threads);
            for tasks in [0, 1, 2, 3, 7, 64, 1000] {
                let c = counts(tasks);
                let busy = counts(threads);
                pool.for_each(tasks, &|t, thread| {
                    assert!(thread < threads);
                    // No two tasks at once on one thread index.
                    assert_eq!(busy[thread].fetch_add(1, Ordering::SeqCst), 0);
                    c[t].fetch_add(1, Ordering::Relaxed);
                    busy[thread].fetch_sub(1, Ordering::SeqCst);
                });
                assert!(c.iter().all(|c| c.load(Ordering::Relaxed) == 1), "{tasks}");
            }
        }
    }

    #[test]
    fn fewer_than_two_threads_make_no_pool() {
        assert!(Pool::new(0).is_none());
        assert!(Pool::new(1).is_none());
    }

    #[test]
    fn workers_wake_after_sleeping() {
        let pool = Pool::new(2).unwrap();
        for _ in 0..3 {
            std::thread::sleep(SPIN * 5);
            let c = counts(16);
            let seen = counts(2);
            pool.for_each(16, &|t, thread| {
                c[t].fetch_add(1, Ordering::Relaxed);
                seen[thread].fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            });
            assert!(c.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn nested_calls_run_serially_on_the_calling_thread() {
        let pool = Pool::new(3).unwrap();
        let c = counts(6 * 5);
        pool.for_each(6, &|outer, thread| {
            pool.for_each(5, &|inner, inner_thread| {
                assert_eq!(inner_thread, thread);
                c[outer * 5 + inner].fetch_add(1, Ordering::Relaxed);
            });
        });
        assert!(c.iter().all(|c| c.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_still_works() {
        let pool = Pool::new(2).unwrap();
        let c = counts(40);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.for_each(40, &|t, _| {
                c[t].fetch_add(1, Ordering::Relaxed);
                if t == 3 || t == 30 {
                    panic!("task {t}");
                }
            })
        }));
        assert!(r.is_err());
        // Every other task still ran, once.
        assert!(c.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        let c = counts(40);
        pool.for_each(40, &|t, _| {
            c[t].fetch_add(1, Ordering::Relaxed);
        });
        assert!(c.iter().all(|c| c.load(Ordering::Relaxed) == 1));
    }

    /// Not a test: prints the time of a CPU-bound task list on 1 and 2 threads, and of an
    /// empty one (the cost of a call). `cargo test --release -p tflrs-runtime --lib
    /// pool_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn pool_timing() {
        fn spin(n: u64) -> u64 {
            (0..n).fold(1u64, |a, i| {
                a.wrapping_mul(6364136223846793005).wrapping_add(i)
            })
        }
        let pool = Pool::new(2).unwrap();
        let sink = AtomicUsize::new(0);
        let by_worker = AtomicUsize::new(0);
        let task = |_: usize, thread: usize| {
            sink.fetch_add(spin(20_000) as usize & 1, Ordering::Relaxed);
            by_worker.fetch_add(usize::from(thread > 0), Ordering::Relaxed);
        };
        for round in 0..3 {
            let t = Instant::now();
            for _ in 0..200 {
                (0..16).for_each(|i| task(i, 0));
            }
            let one = t.elapsed();
            let t = Instant::now();
            for _ in 0..200 {
                pool.for_each(16, &task);
            }
            let two = t.elapsed();
            let t = Instant::now();
            for _ in 0..10_000 {
                pool.for_each(8, &|_, _| {});
            }
            let empty = t.elapsed() / 10_000;
            println!(
                "round {round}: 1 thread {one:?}, 2 threads {two:?} ({:.2}x), empty call \
                 {empty:?}; the worker ran {} of {} tasks",
                one.as_secs_f64() / two.as_secs_f64(),
                by_worker.swap(0, Ordering::Relaxed),
                3200
            );
        }
    }

    #[test]
    fn drop_joins_the_workers() {
        let pool = Pool::new(3).unwrap();
        let shared = Arc::clone(&pool.shared);
        pool.for_each(10, &|_, _| {});
        drop(pool);
        // Only this handle is left: every worker returned and dropped its own.
        assert_eq!(Arc::strong_count(&shared), 1);
        // Dropping a pool whose workers sleep also returns.
        let pool = Pool::new(2).unwrap();
        std::thread::sleep(SPIN * 5);
        drop(pool);
    }
}

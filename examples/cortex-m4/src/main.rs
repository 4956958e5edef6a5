//! A Cortex-M4F firmware that runs a tflrs model: the model is in flash (`include_bytes!`,
//! 16-byte aligned), all memory comes from static buffers (a fixed heap for what
//! `InterpreterBuilder::build` allocates, the arena included), and the inference loop copies an
//! input into the input tensors, invokes, and reads the outputs. Results go out over
//! semihosting as `TFLRS ...` lines (read by `cargo xtask qemu`), and the exit status says
//! whether the outputs equal the embedded reference outputs.
//!
//! `cargo run --release` (in this directory) runs it in `qemu-system-arm -M mps2-an386`; see
//! `build.rs` for choosing the model and the heap's size.
#![no_std]
#![no_main]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprint, hprintln};
use embedded_alloc::LlffHeap;
use tflrs_runtime::{Interpreter, Model, TensorInfo};

mod data {
    include!(concat!(env!("OUT_DIR"), "/data.rs"));
}

/// Flatbuffers read scalars in place: the model's bytes are 16-byte aligned, as TFLM asks.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.tflite")));

/// Times the inference loop runs (the outputs must be the same every time, and the heap must
/// not grow after the first).
const ITERATIONS: usize = 2;

/// The heap's memory: a static buffer, nothing else.
static mut HEAP_MEM: [MaybeUninit<u8>; data::HEAP_BYTES] =
    [MaybeUninit::uninit(); data::HEAP_BYTES];

/// A fixed heap that records its high-water marks.
struct CountingHeap {
    heap: LlffHeap,
    /// Highest bytes in use at once (the allocator's own count: sizes rounded to its blocks).
    peak: AtomicUsize,
    /// Highest end of an allocation, from the heap's start: the smallest heap that would do.
    extent: AtomicUsize,
    /// The size of an allocation that failed (0: none did).
    failed: AtomicUsize,
}

unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller keeps GlobalAlloc's contract, which the heap's alloc has too.
        let p = unsafe { self.heap.alloc(layout) };
        if p.is_null() {
            self.failed.store(layout.size().max(1), Relaxed);
        } else {
            self.peak.fetch_max(self.heap.used(), Relaxed);
            let end = p as usize + layout.size() - (&raw const HEAP_MEM as usize);
            self.extent.fetch_max(end, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for alloc.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: CountingHeap = CountingHeap {
    heap: LlffHeap::empty(),
    peak: AtomicUsize::new(0),
    extent: AtomicUsize::new(0),
    failed: AtomicUsize::new(0),
};

/// SysTick wraps (it counts down 24 bits of the core clock).
static SYSTICK_WRAPS: AtomicUsize = AtomicUsize::new(0);
const SYSTICK_RELOAD: u32 = 0x00ff_ffff;

#[exception]
fn SysTick() {
    SYSTICK_WRAPS.fetch_add(1, Relaxed);
}

/// Core-clock ticks since SysTick started. Under `qemu-system-arm -icount shift=0` the clock
/// follows executed instructions (AN386: 25 MHz, one instruction per ns: 40 per tick), so it
/// is an instruction count, not cycles (QEMU models no pipeline or wait states).
fn ticks() -> u64 {
    loop {
        let wraps = SYSTICK_WRAPS.load(Relaxed);
        let current = SYST::get_current();
        if SYSTICK_WRAPS.load(Relaxed) == wraps {
            return wraps as u64 * (u64::from(SYSTICK_RELOAD) + 1)
                + u64::from(SYSTICK_RELOAD - current);
        }
    }
}

#[entry]
fn main() -> ! {
    // SAFETY: done once, before anything allocates; HEAP_MEM is used by the heap only.
    unsafe { HEAP.heap.init(&raw mut HEAP_MEM as usize, data::HEAP_BYTES) }
    if let Some(mut p) = cortex_m::Peripherals::take() {
        p.SYST.set_clock_source(SystClkSource::Core);
        p.SYST.set_reload(SYSTICK_RELOAD);
        p.SYST.clear_current();
        p.SYST.enable_interrupt();
        p.SYST.enable_counter();
    }
    let ok = run();
    hprintln!("TFLRS {}", if ok { "ok" } else { "failed" });
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Loads, plans and runs the model; prints what `cargo xtask qemu` reads. False on an error or
/// an output that differs from its reference.
fn run() -> bool {
    let model = match Model::from_bytes(&MODEL.0) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("TFLRS error: the model does not load: {}", e);
            return false;
        }
    };
    // What the graph (tensors, operators, shapes) takes, before planning.
    let heap_load = HEAP.heap.used();
    let mut interp = match Interpreter::builder(&model).preserve_inputs(false).build() {
        Ok(i) => i,
        Err(e) => {
            hprintln!("TFLRS error: cannot plan the model: {}", e);
            return false;
        }
    };
    let heap_build = HEAP.heap.used();
    let peak_build = HEAP.peak.load(Relaxed);
    hprintln!(
        "TFLRS model_bytes={} arena_bytes={} heap_capacity={}",
        MODEL.0.len(),
        interp.arena_bytes(),
        data::HEAP_BYTES
    );
    if data::INPUTS.len() != interp.num_inputs() {
        hprintln!(
            "TFLRS error: the model takes {} input(s), {} embedded",
            interp.num_inputs(),
            data::INPUTS.len()
        );
        return false;
    }
    for k in 0..interp.num_inputs() {
        if let Ok(info) = interp.input_info(k) {
            describe("input", k, info);
        }
    }

    let mut ok = true;
    let mut invoke_ticks = 0;
    for iteration in 0..ITERATIONS {
        // The inference loop: read input (here: from flash), copy it in, invoke, read out.
        for (k, input) in data::INPUTS.iter().enumerate() {
            let Ok(dst) = interp.input_bytes_mut(k) else {
                return false;
            };
            if dst.len() != input.len() {
                hprintln!(
                    "TFLRS error: input {} takes {} bytes, {} embedded",
                    k,
                    dst.len(),
                    input.len()
                );
                return false;
            }
            dst.copy_from_slice(input);
        }
        let start = ticks();
        if let Err(e) = interp.invoke() {
            hprintln!("TFLRS error: invoke failed: {}", e);
            return false;
        }
        invoke_ticks = ticks() - start;
        for k in 0..interp.num_outputs() {
            let Ok(out) = interp.output_bytes(k) else {
                return false;
            };
            if iteration == ITERATIONS - 1 {
                if let Ok(info) = interp.output_info(k) {
                    describe("output", k, info);
                }
                print_hex(k, out);
            }
            if let Some(reference) = data::REFERENCES.get(k) {
                let same = out == *reference;
                if iteration == ITERATIONS - 1 || !same {
                    hprintln!(
                        "TFLRS reference {} {}",
                        k,
                        if same { "equal" } else { "DIFFERENT" }
                    );
                }
                ok &= same;
            }
        }
    }
    hprintln!("TFLRS invoke_ticks={}", invoke_ticks);
    hprintln!(
        "TFLRS heap_bytes={} heap_extent_bytes={} heap_after_load={} heap_after_build={} heap_peak_build={} heap_invoke_growth={} stack_bytes={}",
        HEAP.peak.load(Relaxed),
        HEAP.extent.load(Relaxed),
        heap_load,
        heap_build,
        peak_build,
        HEAP.peak.load(Relaxed) - peak_build,
        stack_used()
    );
    ok
}

fn describe(what: &str, k: usize, info: &TensorInfo) {
    hprint!("TFLRS {} {} dtype={} shape=", what, k, info.dtype.name());
    for (i, d) in info.shape.iter().enumerate() {
        hprint!("{}{}", if i == 0 { "" } else { "," }, d);
    }
    hprintln!("");
}

/// Bytes as hex, 64 a line: `TFLRS hex <output> <offset> <hex>`.
fn print_hex(k: usize, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    if bytes.is_empty() {
        hprintln!("TFLRS hex {} 0 ", k);
    }
    for (row, chunk) in bytes.chunks(64).enumerate() {
        let mut line = [0u8; 128];
        for (i, b) in chunk.iter().enumerate() {
            line[2 * i] = DIGITS[usize::from(b >> 4)];
            line[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        let text = core::str::from_utf8(&line[..2 * chunk.len()]).unwrap_or("");
        hprintln!("TFLRS hex {} {} {}", k, row * 64, text);
    }
}

/// The stack's high-water mark: cortex-m-rt (`paint-stack`) fills the stack's memory with
/// 0xcccccccc before main; the lowest word no longer painted is the deepest the stack went.
fn stack_used() -> usize {
    unsafe extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }
    let top = &raw const _stack_start as usize;
    let mut p = &raw const _stack_end as usize;
    while p < top {
        // SAFETY: [_stack_end, _stack_start) is RAM the linker script gives the stack.
        if unsafe { core::ptr::read_volatile(p as *const u32) } != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        p += 4;
    }
    top - p
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let failed = HEAP.failed.load(Relaxed);
    if failed != 0 {
        hprintln!(
            "TFLRS error: the model does not fit: the heap ({} bytes: --heap, TFLRS_FW_HEAP) could not give {} bytes with {} in use",
            data::HEAP_BYTES,
            failed,
            HEAP.heap.used()
        );
    } else {
        hprintln!("TFLRS error: panic: {}", info);
    }
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

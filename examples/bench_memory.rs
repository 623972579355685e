//! The heap each gradient holds at its peak, per problem of `bench_table`: the most memory one
//! call of the generated `_grad_into` holds at once beyond what it started with (its tapes and
//! adjoint buffers, and what the function itself allocates), next to the function's own peak.
//!
//! ```text
//! cargo run --release --example bench_memory
//! AUTODIFF_BENCH_LARGE=1 cargo run --release --example bench_memory   # and the large problems
//! ```
//!
//! A program of its own, because counting every allocation would slow the timed code of
//! `bench_table` down.

#[path = "../benches/problems/mod.rs"]
mod problems;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};

use problems::{Problem, Visitor, for_each_large_problem, for_each_problem, hide};

/// Counts the heap bytes held, and the most held since the last reset.
struct PeakHeap;

static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: isize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grew(-(layout.size() as isize));
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakHeap = PeakHeap;

/// The most heap `f` holds at once beyond what it started with, in bytes.
fn peak_heap(f: impl FnOnce() -> f64) -> usize {
    let start = CURRENT.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    black_box(f());
    (PEAK.load(Ordering::Relaxed) - start).max(0) as usize
}

/// `12.5 kB`-style sizes.
fn bytes(n: usize) -> String {
    match n {
        0 => "0".into(),
        n if n < 1 << 10 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} kB", n as f64 / 1024.0),
        n => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
    }
}

struct Table;

impl Visitor for Table {
    fn visit<P: Problem>(&mut self, mut p: P) {
        // After a first call, as `bench_table` times them: buffers reused from call to call
        // (the gradient's) are there already.
        black_box(p.primal());
        black_box(p.generated());
        let primal = peak_heap(|| hide(&mut p).primal());
        let generated = peak_heap(|| hide(&mut p).generated());
        println!(
            "| {} | {} | {} | {} |",
            p.name(),
            p.dim(),
            bytes(primal),
            bytes(generated)
        );
    }
}

fn main() {
    println!("| problem | n | the function's peak heap | the gradient's peak heap |");
    println!("|---|--:|--:|--:|");
    for_each_problem(&mut Table);
    if std::env::var_os(problems::LARGE).is_some() {
        for_each_large_problem(&mut Table);
    }
}

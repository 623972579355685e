//! Speed of the forward-mode and second-order functions `#[differentiate(jvp)]` and
//! `#[differentiate(hessian)]` write, against careful hand-written code and the dual numbers of
//! `num-dual`. The cases and what each method runs are described in
//! `benches/second_order_problems/mod.rs` (shared with `examples/bench_second_order.rs`):
//!
//! - `hvp_rosenbrock_{10,100,1000}`, `hvp_mlp_64_32_10_batch16`: Hessian-vector products (with
//!   the value and the gradient, as `_hvp` returns them), and the gradient alone;
//! - `hessian_rosenbrock_{10,30}`, `hessian_lse_linear_{10,30}`: dense Hessians;
//! - `jvp_arm_{3,10}`: JVPs and dense Jacobians of a planar arm's forward kinematics.
//!
//! Before measuring, `main` runs every method of every case once and panics unless all agree
//! (with each other and with an independent oracle), so the timings compare correct results.
//!
//! Run with `cargo bench --bench second_order` (about three minutes; `cargo bench --bench
//! second_order -- hvp_rosenbrock` runs one family). For one table of ratios, run
//! `cargo run --release --example bench_second_order`.

mod second_order_problems;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use second_order_problems::{Case, Measure, Visitor, for_each_case};

/// Checks every case.
struct Verify;

impl Visitor for Verify {
    fn visit<C: Case>(&mut self, mut case: C) {
        eprintln!("{}", case.verify());
    }
}

/// One criterion line per method. A method slower than 1 ms a call (the `n`-pass num-dual
/// HVPs) gets 10 flat samples instead of criterion's linear sampling, which would need
/// thousands of calls.
struct Lines<'a, 'b>(&'a mut BenchmarkGroup<'b, WallTime>);

impl Measure for Lines<'_, '_> {
    fn time<R>(&mut self, method: &'static str, mut f: impl FnMut() -> R) {
        let start = Instant::now();
        black_box(f());
        let once = start.elapsed();
        if once > Duration::from_millis(1) {
            self.0
                .sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .warm_up_time(Duration::from_millis(200))
                .measurement_time((once * 12).max(Duration::from_secs(1)));
        } else {
            self.0
                .sample_size(60)
                .sampling_mode(SamplingMode::Auto)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_millis(1500));
        }
        self.0.bench_function(method, |b| b.iter(|| black_box(f())));
    }
}

/// Measures every case, one group each.
struct Bench<'a>(&'a mut Criterion);

impl Visitor for Bench<'_> {
    fn visit<C: Case>(&mut self, mut case: C) {
        let mut group = self.0.benchmark_group(case.name());
        case.measure(&mut Lines(&mut group));
        group.finish();
    }
}

fn main() {
    for_each_case(&mut Verify);
    let mut criterion = Criterion::default().configure_from_args();
    for_each_case(&mut Bench(&mut criterion));
    criterion.final_summary();
}

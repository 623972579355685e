//! Speed of the gradients `#[differentiate]` writes, against the function itself, a careful
//! hand-written gradient, central finite differences, forward-mode dual numbers (`num-dual`)
//! and a runtime-tape reverse mode (`echidna`).
//!
//! One criterion group per problem (the problems, and what each method runs, are described in
//! `benches/problems/mod.rs`, shared with `examples/bench_table.rs`):
//!
//! - `shopping`: the seed's `price(apple, apple_num, orange, orange_num, tax)`;
//! - `scalar30`: a scalar function of five inputs and about 35 operations;
//! - `rosenbrock_10`, `rosenbrock_100`, `rosenbrock_1000`: the extended Rosenbrock function;
//! - `log_sum_exp_1000`: the stable log-sum-exp, its maximum a running `max` in a loop;
//! - `mlp_64_32_10_batch16`: the softmax cross-entropy of a tanh perceptron, wrt its 2 410
//!   weights, indexing flat slices (`w1[j * 64 + k]`);
//! - `mlp_arrays_64_32_10_batch16`: the same with the sizes in the types (`w1[j][k]`), compared
//!   with the same hand-written gradient and peers;
//! - `rnn_100_steps`: a scalar recurrence `h = tanh(w h + u x_t + b)` (state overwritten in a
//!   loop), wrt `(w, u, b)`;
//! - `gmm_d2_k5_n1000`, `gmm_hoisted_d2_k5_n1000`: ADBench's Gaussian mixture objective, with
//!   `vec!` buffers per data point and with them hoisted out of the loop;
//! - with `AUTODIFF_BENCH_LARGE=1`, ADBench's larger sizes too: d = 10, k = 25 (both forms),
//!   d = 64, k = 200, and n = 10 000 points at d = 2, k = 5 (both forms);
//!
//! and one line per method: `primal`, `generated_grad_into`, `hand`, `finite_differences`,
//! `num_dual_forward`, `echidna_tape`. Finite differences and forward mode cost `n` evaluations
//! of the function, so for `n >= 500` they are measured with 10 flat samples.
//!
//! Before measuring, `main` runs every method of every problem once and panics unless all the
//! gradients agree (see `problems::verify`), so the timings always compare correct gradients.
//!
//! Run with `cargo bench --bench gradients` (about three and a half minutes; `cargo bench --bench
//! gradients -- rosenbrock` runs one family). For one table of ratios, run
//! `cargo run --release --example bench_table`.

mod problems;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode};
use problems::{Method, Problem, Visitor, for_each_large_problem, for_each_problem, hide, verify};

/// Checks every problem.
struct Verify;

impl Visitor for Verify {
    fn visit<P: Problem>(&mut self, mut problem: P) {
        eprintln!("{}", verify(&mut problem));
    }
}

/// Measures every problem, one group each.
struct Bench<'a>(&'a mut Criterion);

impl Visitor for Bench<'_> {
    fn visit<P: Problem>(&mut self, mut p: P) {
        let mut group = self.0.benchmark_group(p.name());
        for method in Method::ALL {
            let slow =
                p.slow_peers() && matches!(method, Method::FiniteDifferences | Method::NumDual);
            if slow {
                group
                    .sample_size(10)
                    .sampling_mode(SamplingMode::Flat)
                    .measurement_time(Duration::from_secs(3));
            } else {
                group
                    .sample_size(100)
                    .sampling_mode(SamplingMode::Auto)
                    .measurement_time(Duration::from_secs(2));
            }
            // One closure per method, so that each line times a direct call.
            match method {
                Method::Primal => group.bench_function(method.name(), |b| {
                    b.iter(|| black_box(hide(&mut p).primal()))
                }),
                Method::Generated => group.bench_function(method.name(), |b| {
                    b.iter(|| black_box(hide(&mut p).generated()))
                }),
                Method::Hand => group
                    .bench_function(method.name(), |b| b.iter(|| black_box(hide(&mut p).hand()))),
                Method::FiniteDifferences => group.bench_function(method.name(), |b| {
                    b.iter(|| black_box(hide(&mut p).finite_differences()))
                }),
                Method::NumDual => group.bench_function(method.name(), |b| {
                    b.iter(|| black_box(hide(&mut p).num_dual()))
                }),
                Method::Echidna => group.bench_function(method.name(), |b| {
                    b.iter(|| black_box(hide(&mut p).echidna()))
                }),
            };
        }
        group.finish();
    }
}

fn main() {
    problems::scalar::check_entry_points();
    let large = std::env::var_os(problems::LARGE).is_some();
    for_each_problem(&mut Verify);
    if large {
        for_each_large_problem(&mut Verify);
    }
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for_each_problem(&mut Bench(&mut criterion));
    if large {
        for_each_large_problem(&mut Bench(&mut criterion));
    }
    criterion.final_summary();
}

//! One table of the speed of the gradients `#[differentiate]` writes, per problem: against a
//! careful hand-written gradient (the limit), against the function alone, and against three
//! peers (central finite differences, forward-mode dual numbers from `num-dual`, the runtime-tape
//! reverse mode of `echidna`).
//!
//! ```text
//! cargo run --release --example bench_table            # the numbers that matter
//! cargo run --example bench_table                      # the same table for a debug build
//! cargo run --release --example bench_table -- 2000    # 2 s per measurement instead of 0.5 s
//! AUTODIFF_BENCH_LARGE=1 cargo run --release --example bench_table   # and the large problems
//! ```
//!
//! and, for instruction counts under callgrind, `bench_table --calls PROBLEM METHOD N` (below).
//! A peer a problem leaves out at its size (`Problem::runs`) shows as `—`.
//!
//! The problems are those of the criterion bench (`benches/problems/`, included below). Each
//! method is timed here by a simple robust timer, so no criterion output needs parsing: calls
//! are grouped in batches of at least 1 ms, batches repeat until the time budget is spent (at
//! least 5 batches, unless a single call takes longer than a fifth of the budget), and the time
//! of one call is the median over the batches. Inputs and outputs pass through `black_box`.
//! Every gradient is checked against every other before anything is timed.

#[path = "../benches/problems/mod.rs"]
mod problems;

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use problems::{Method, Problem, Visitor, for_each_large_problem, for_each_problem, hide, verify};

/// The median time of one call of `f`, in seconds, and the number of batches it is the median of.
fn time(mut f: impl FnMut() -> f64, budget: Duration) -> (f64, usize) {
    // The first call also allocates whatever buffers the method reuses afterwards.
    let start = Instant::now();
    black_box(f());
    let once = start.elapsed();
    if once * 5 > budget {
        // Slow: batches of one call, as many as fit (at least one more).
        let mut samples = Vec::new();
        let start = Instant::now();
        while samples.is_empty() || start.elapsed() + once < budget {
            let t = Instant::now();
            black_box(f());
            samples.push(t.elapsed().as_secs_f64());
        }
        return (median(&mut samples), samples.len());
    }
    // Calibrate a batch of at least 1 ms.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        if t.elapsed() >= Duration::from_millis(1) || batch >= 1 << 30 {
            break;
        }
        batch *= 2;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || (start.elapsed() < budget && samples.len() < 1000) {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    (median(&mut samples), samples.len())
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        0.5 * (samples[n / 2 - 1] + samples[n / 2])
    }
}

/// `1.23 µs`-style durations.
fn duration(seconds: f64) -> String {
    let (value, unit) = if seconds >= 1.0 {
        (seconds, "s")
    } else if seconds >= 1e-3 {
        (seconds * 1e3, "ms")
    } else if seconds >= 1e-6 {
        (seconds * 1e6, "µs")
    } else {
        (seconds * 1e9, "ns")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// `—` for a method a problem leaves out (its time is NaN).
fn ratio(r: f64) -> String {
    if r.is_nan() {
        "—".into()
    } else if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// Times every method of every problem and adds one row per problem.
struct Table {
    budget: Duration,
    rows: String,
    details: String,
}

impl Visitor for Table {
    fn visit<P: Problem>(&mut self, mut p: P) {
        eprintln!("checked {}", verify(&mut p));
        let budget = self.budget;
        let mut t = [0.0; 6];
        let mut batches = [0; 6];
        for (i, method) in Method::ALL.into_iter().enumerate() {
            if !p.runs(method) {
                t[i] = f64::NAN;
                continue;
            }
            // One closure per method, so that each time is that of a direct call.
            (t[i], batches[i]) = match method {
                Method::Primal => time(|| hide(&mut p).primal(), budget),
                Method::Generated => time(|| hide(&mut p).generated(), budget),
                Method::Hand => time(|| hide(&mut p).hand(), budget),
                Method::FiniteDifferences => time(|| hide(&mut p).finite_differences(), budget),
                Method::NumDual => time(|| hide(&mut p).num_dual(), budget),
                Method::Echidna => time(|| hide(&mut p).echidna(), budget),
            };
        }
        let [primal, generated, hand, fd, dual, tape] = t;
        let _ = writeln!(
            self.rows,
            "| {} | {} | {} | {} | {} | **{}** | {} | {} | {} | {} | {} |",
            p.name(),
            p.dim(),
            duration(primal),
            duration(generated),
            duration(hand),
            ratio(generated / hand),
            ratio(generated / primal),
            ratio(hand / primal),
            ratio(fd / generated),
            ratio(dual / generated),
            ratio(tape / generated),
        );
        let mut line = format!("{}:", p.name());
        for ((method, t), n) in Method::ALL.iter().zip(t).zip(batches) {
            if t.is_nan() {
                continue;
            }
            let _ = write!(line, " {} {} ({n} batches);", method.name(), duration(t));
        }
        let _ = writeln!(self.details, "{line}");
    }
}

/// `--calls PROBLEM METHOD N`: checks nothing, times nothing, and calls one method of one
/// problem `N` times after one first call, for instruction counts that do not depend on the
/// machine's load:
///
/// ```text
/// valgrind --tool=callgrind --callgrind-out-file=/tmp/callgrind.out \
///     target/release/examples/bench_table --calls rosenbrock_10 generated_grad_into 1000
/// ```
///
/// (run it with two values of `N`: the difference of the totals divided by the difference of
/// the `N`s is the count of one call).
struct Calls {
    problem: String,
    method: String,
    calls: usize,
    found: bool,
}

impl Visitor for Calls {
    fn visit<P: Problem>(&mut self, mut p: P) {
        if p.name() != self.problem {
            return;
        }
        let method = Method::ALL
            .into_iter()
            .find(|m| m.name() == self.method)
            .unwrap_or_else(|| panic!("no method {}", self.method));
        self.found = true;
        black_box(p.run(method));
        for _ in 0..self.calls {
            black_box(hide(&mut p).run(method));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--calls") {
        let [_, problem, method, calls] = &args[..] else {
            panic!("usage: bench_table --calls PROBLEM METHOD N");
        };
        let mut calls = Calls {
            problem: problem.clone(),
            method: method.clone(),
            calls: calls.parse().expect("N is a number of calls"),
            found: false,
        };
        for_each_problem(&mut calls);
        for_each_large_problem(&mut calls);
        assert!(calls.found, "no problem {problem}");
        return;
    }
    let budget_ms = args
        .first()
        .map(|a| {
            a.parse::<u64>()
                .expect("the argument is a time budget in milliseconds")
        })
        .unwrap_or(if cfg!(debug_assertions) { 300 } else { 500 });
    let build = if cfg!(debug_assertions) {
        "debug build (`cargo run --example bench_table`): unoptimised, so the ratios say little about release code"
    } else {
        "release build"
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    eprintln!(
        "load average at start: {load}; checking every gradient, then timing ({budget_ms} ms per method)"
    );

    problems::scalar::check_entry_points();
    problems::gmm::GmmData::new(2, 5, 1000).check_objective();
    let large = std::env::var_os(problems::LARGE).is_some();
    let mut table = Table {
        budget: Duration::from_millis(budget_ms),
        rows: String::new(),
        details: String::new(),
    };
    for_each_problem(&mut table);
    if large {
        problems::gmm::GmmData::new(10, 25, 1000).check_objective();
        problems::gmm::GmmData::new(64, 200, 1000).check_objective();
        for_each_large_problem(&mut table);
    }

    println!("Gradient speed, {build}; median times of one call; load average at start {load}.");
    println!();
    println!(
        "| problem | n | primal | generated | hand | generated ÷ hand | generated ÷ primal | hand ÷ primal | speed-up over finite differences | speed-up over num-dual (forward) | speed-up over echidna (tape) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    print!("{}", table.rows);
    println!();
    println!(
        "generated = `*_grad_into` into a reused buffer; hand = hand-written reverse mode into a reused buffer; \
         finite differences = 2n+1 calls of the primal (central, h = 1e-6 max(1, |x_i|)); \
         num-dual = n forward passes with `Dual64`; echidna = `echidna::grad` (Adept-style tape). \
         A speed-up is the peer's time ÷ the generated gradient's time."
    );
    eprintln!();
    eprint!("{}", table.details);
}

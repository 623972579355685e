//! Tables of the speed of the forward-mode and second-order functions `#[differentiate]`
//! writes (`_hvp`, `_hessian`, `_jvp`, `_jacobian`), against careful hand-written code and the
//! dual numbers of `num-dual`, for pasting into the README:
//!
//! ```text
//! cargo run --release --example bench_second_order            # the numbers that matter
//! cargo run --release --example bench_second_order -- 2000    # 2 s per measurement, not 0.5 s
//! ```
//!
//! The cases are those of the criterion bench `second_order` (`benches/second_order_problems/`,
//! included below, which says what each method runs). Each method is timed by the simple
//! robust timer of `examples/bench_table.rs`: calls grouped in batches of at least 1 ms,
//! batches repeated until the time budget is spent (at least 5, unless one call takes more than
//! a fifth of the budget), the median over the batches. Every result is checked against every
//! other before anything is timed.

#[path = "../benches/second_order_problems/mod.rs"]
mod second_order_problems;

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use second_order_problems::{Case, Kind, Measure, Visitor, for_each_case};

/// The median time of one call of `f`, in seconds, and the number of batches it is the median of.
fn time<R>(mut f: impl FnMut() -> R, budget: Duration) -> (f64, usize) {
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

/// `1.23 µs`-style durations; `—` for a method not measured.
fn duration(seconds: f64) -> String {
    if seconds.is_nan() {
        return "—".into();
    }
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

/// The times of one case's methods, by name.
struct Times {
    budget: Duration,
    times: Vec<(&'static str, f64, usize)>,
}

impl Measure for Times {
    fn time<R>(&mut self, method: &'static str, f: impl FnMut() -> R) {
        let (t, batches) = time(f, self.budget);
        self.times.push((method, t, batches));
    }
}

impl Times {
    /// The time of `method`, NaN if the case does not measure it.
    fn get(&self, method: &str) -> f64 {
        self.times
            .iter()
            .find(|(m, ..)| *m == method)
            .map_or(f64::NAN, |t| t.1)
    }
}

/// Times every method of every case and adds one row to the case's table.
struct Tables {
    budget: Duration,
    hvp: String,
    hessian: String,
    jvp: String,
    details: String,
}

impl Visitor for Tables {
    fn visit<C: Case>(&mut self, mut case: C) {
        eprintln!("checked {}", case.verify());
        let mut times = Times {
            budget: self.budget,
            times: Vec::new(),
        };
        case.measure(&mut times);
        let t = |m: &str| times.get(m);
        let (name, n) = (case.name(), case.dim());
        match case.kind() {
            Kind::Hvp => {
                let _ = writeln!(
                    self.hvp,
                    "| {name} | {n} | {} | {} | {} | **{}** | {} | **{}** | {} | {} ({}) | {} ({}) |",
                    duration(t("generated_grad_into")),
                    duration(t("generated_hvp")),
                    duration(t("hand_hvp")),
                    ratio(t("generated_hvp") / t("hand_hvp")),
                    ratio(t("generated_hvp") / t("hand_hvp_into")),
                    ratio(t("generated_hvp") / t("generated_grad_into")),
                    ratio(t("hand_hvp_into") / t("hand_grad_into")),
                    duration(t("num_dual_over_hand_grad")),
                    ratio(t("num_dual_over_hand_grad") / t("generated_hvp")),
                    duration(t("num_dual_hyperdual")),
                    ratio(t("num_dual_hyperdual") / t("generated_hvp")),
                );
            }
            Kind::Hessian => {
                let _ = writeln!(
                    self.hessian,
                    "| {name} | {n} | {} | {} | {} | {} | {} | **{}** | {} |",
                    duration(t("generated_hvp")),
                    duration(t("generated_hessian")),
                    duration(t("hand_hessian")),
                    duration(t("num_dual_hessian")),
                    ratio(t("generated_hessian") / t("hand_hessian")),
                    ratio(t("num_dual_hessian") / t("generated_hessian")),
                    ratio(t("generated_hessian") / (n as f64 * t("generated_hvp"))),
                );
            }
            Kind::Jvp => {
                let _ = writeln!(
                    self.jvp,
                    "| {name} | {n} → 2 | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    duration(t("generated_jvp")),
                    duration(t("hand_jvp")),
                    duration(t("num_dual_dual64")),
                    ratio(t("generated_jvp") / t("hand_jvp")),
                    ratio(t("num_dual_dual64") / t("generated_jvp")),
                    duration(t("generated_jacobian")),
                    duration(t("hand_jacobian")),
                    duration(t("num_dual_jacobian")),
                    ratio(t("generated_jacobian") / t("hand_jacobian")),
                    ratio(t("num_dual_jacobian") / t("generated_jacobian")),
                );
            }
        }
        let mut line = format!("{name}:");
        for (method, t, batches) in &times.times {
            let _ = write!(line, " {method} {} ({batches} batches);", duration(*t));
        }
        let _ = writeln!(self.details, "{line}");
    }
}

fn main() {
    let budget_ms = std::env::args()
        .nth(1)
        .map(|a| {
            a.parse::<u64>()
                .expect("the argument is a time budget in milliseconds")
        })
        .unwrap_or(if cfg!(debug_assertions) { 300 } else { 500 });
    let build = if cfg!(debug_assertions) {
        "debug build (`cargo run --example bench_second_order`): unoptimised, so the ratios say little about release code"
    } else {
        "release build"
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    eprintln!(
        "load average at start: {load}; checking every result, then timing ({budget_ms} ms per method)"
    );

    let mut tables = Tables {
        budget: Duration::from_millis(budget_ms),
        hvp: String::new(),
        hessian: String::new(),
        jvp: String::new(),
        details: String::new(),
    };
    for_each_case(&mut tables);

    println!(
        "Second-order and forward-mode speed, {build}; median times of one call; load average at start {load}."
    );
    println!();
    println!("Hessian-vector products (value, gradient and `H v`, as `_hvp` returns them):");
    println!();
    println!(
        "| case | n | gradient (generated) | HVP generated | HVP hand | generated ÷ hand | generated ÷ hand into buffers | generated HVP ÷ generated gradient | hand HVP ÷ hand gradient | num-dual `Dual64` over the hand gradient (÷ generated) | num-dual `HyperDual64`, n passes (÷ generated) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    print!("{}", tables.hvp);
    println!();
    println!(
        "generated = `f_hvp(args, v.clone())` (it takes the direction by value and returns new vectors); \
         hand = a hand-written one-pass value + gradient + `H v` with the same signature; \
         hand into buffers = the same pass into reused buffers; gradients = `_grad_into` and a hand-written one into reused buffers. \
         Targets: generated ÷ hand ≤ 1.2×, generated HVP ÷ gradient ≤ 4×."
    );
    println!();
    println!("Dense Hessians:");
    println!();
    println!(
        "| case | n | one HVP (generated) | generated `_hessian` | hand | num-dual `hessian` | generated ÷ hand | num-dual ÷ generated | `_hessian` ÷ (n × HVP) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    print!("{}", tables.hessian);
    println!();
    println!(
        "hand = the closed form into the same output types (value, gradient `Vec`, rows `Vec<Vec>`); \
         num-dual = `num_dual::hessian` on `SVector<Dual2SVec64<N>, N>` (one pass carrying an N × N part). \
         Target: num-dual ÷ generated > 1 for n ≤ 30."
    );
    println!();
    println!("Forward mode on a planar arm (n joint angles → the tip's 2 coordinates):");
    println!();
    println!(
        "| case | n → m | JVP generated | JVP hand | JVP num-dual `Dual64` | generated ÷ hand | num-dual ÷ generated | Jacobian generated | Jacobian hand | num-dual `jacobian` | generated ÷ hand | num-dual ÷ generated |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    print!("{}", tables.jvp);
    println!();
    println!(
        "JVP: one forward sweep along a direction; Jacobian: generated = one JVP per column, \
         hand = suffix sums, num-dual = `num_dual::jacobian` on `DualSVec64<N>` (one pass)."
    );
    eprintln!();
    eprint!("{}", tables.details);
}

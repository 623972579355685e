//! Allocations, peak memory and time per call of the generated GMM gradient for several ways of
//! writing ADBench's objective (`benches/problems/gmm.rs`), for work on the macro: the variants
//! differ only in how the function is written, and every one's gradient is checked against the
//! hand-written gradient (1e-12 of its largest component) before it is measured.
//!
//! ```text
//! cargo run --release --example gmm_variants -- D K N [VARIANT|all] [CALLS]
//! cargo run --release --example gmm_variants -- 10 25 1000 all 20
//! ```
//!
//! Variants: `loop_local` (the benchmark's `gmm_objective`: `xc`, `qxc`, `main_term` local to
//! the loops), `hoisted` (`gmm_objective_hoisted`: ADBench's buffers, allocated once),
//! `computed_index` (the loop-local form with `Q[r][c]`'s position in `icf[j]` computed from
//! `(c, r)` rather than counted), `computed_index_inline_lse` (and the points' log-sum-exp
//! written inline rather than called), `iterators` (iterator chains). A global allocator counts
//! allocations and the most bytes live at once beyond what was live before the calls (the
//! tapes, their doubling slack, and both blocks during a reallocation). Times are wall-clock
//! medians of CALLS calls (default 10); on a loaded machine prefer
//! `valgrind --tool=callgrind` instruction counts.

#![allow(clippy::needless_range_loop)] // index loops, as ADBench's reference writes them

#[path = "../benches/problems/mod.rs"]
mod problems;

use std::alloc::{GlobalAlloc, Layout, System};
use std::f64::consts::PI;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use autodiff_core::differentiate;
use problems::gmm::{
    __log_sum_exp_vjp, GmmData, GmmGrad, HandScratch, WISHART_GAMMA, WISHART_M, log_sum_exp,
    wishart_constant,
};

/// The system allocator, counting allocations and live bytes.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn allocated(bytes: usize) {
    ALLOCATIONS.fetch_add(1, Relaxed);
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocated(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocated(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Both blocks are live while the contents are copied.
        allocated(new_size);
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// [`gmm_objective`](problems::gmm::gmm_objective) with the index of `Q[r][c]` in `icf[j]`
/// computed from `(c, r)` (index arithmetic) instead of counted by `idx += 1` (a carried
/// variable).
#[differentiate(wrt(alphas, means, icf))]
pub fn gmm_computed_index(
    alphas: &[f64],
    means: &[Vec<f64>],
    icf: &[Vec<f64>],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
) -> f64 {
    let k = alphas.len();
    let n = x.len();
    let d = x[0].len();
    let mut qdiags = vec![vec![0.0; d]; k];
    let mut sum_qs = vec![0.0; k];
    for j in 0..k {
        for l in 0..d {
            sum_qs[j] += icf[j][l];
            qdiags[j][l] = icf[j][l].exp();
        }
    }
    let mut slse = 0.0;
    for i in 0..n {
        let mut main_term = vec![0.0; k];
        for j in 0..k {
            let mut xc = vec![0.0; d];
            for l in 0..d {
                xc[l] = x[i][l] - means[j][l];
            }
            let mut qxc = vec![0.0; d];
            for l in 0..d {
                qxc[l] = qdiags[j][l] * xc[l];
            }
            for c in 0..d {
                let start = d + c * (2 * d - c - 1) / 2 - c - 1;
                for r in c + 1..d {
                    qxc[r] += icf[j][start + r] * xc[c];
                }
            }
            let mut sqnorm = 0.0;
            for l in 0..d {
                sqnorm += qxc[l] * qxc[l];
            }
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * sqnorm;
        }
        slse += log_sum_exp(&main_term);
    }
    let lse_alphas = log_sum_exp(alphas);
    let mut prior = 0.0;
    for j in 0..k {
        let mut frobenius = 0.0;
        for l in 0..d {
            frobenius += qdiags[j][l] * qdiags[j][l];
        }
        for t in d..icf[j].len() {
            frobenius += icf[j][t] * icf[j][t];
        }
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m as f64 * sum_qs[j];
    }
    let constant = -((n * d) as f64) * 0.5 * (2.0 * PI).ln();
    constant + slse - n as f64 * lse_alphas + prior
        - k as f64 * wishart_constant(d, wishart_gamma, wishart_m)
}

/// [`gmm_computed_index`] with each point's log-sum-exp written inline instead of called.
#[differentiate(wrt(alphas, means, icf))]
pub fn gmm_computed_index_inline_lse(
    alphas: &[f64],
    means: &[Vec<f64>],
    icf: &[Vec<f64>],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
) -> f64 {
    let k = alphas.len();
    let n = x.len();
    let d = x[0].len();
    let mut qdiags = vec![vec![0.0; d]; k];
    let mut sum_qs = vec![0.0; k];
    for j in 0..k {
        for l in 0..d {
            sum_qs[j] += icf[j][l];
            qdiags[j][l] = icf[j][l].exp();
        }
    }
    let mut slse = 0.0;
    for i in 0..n {
        let mut main_term = vec![0.0; k];
        for j in 0..k {
            let mut xc = vec![0.0; d];
            for l in 0..d {
                xc[l] = x[i][l] - means[j][l];
            }
            let mut qxc = vec![0.0; d];
            for l in 0..d {
                qxc[l] = qdiags[j][l] * xc[l];
            }
            for c in 0..d {
                let start = d + c * (2 * d - c - 1) / 2 - c - 1;
                for r in c + 1..d {
                    qxc[r] += icf[j][start + r] * xc[c];
                }
            }
            let mut sqnorm = 0.0;
            for l in 0..d {
                sqnorm += qxc[l] * qxc[l];
            }
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * sqnorm;
        }
        let mut mx = main_term[0];
        for j in 0..k {
            mx = mx.max(main_term[j]);
        }
        let mut semx = 0.0;
        for j in 0..k {
            semx += (main_term[j] - mx).exp();
        }
        slse += semx.ln() + mx;
    }
    let lse_alphas = log_sum_exp(alphas);
    let mut prior = 0.0;
    for j in 0..k {
        let mut frobenius = 0.0;
        for l in 0..d {
            frobenius += qdiags[j][l] * qdiags[j][l];
        }
        for t in d..icf[j].len() {
            frobenius += icf[j][t] * icf[j][t];
        }
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m as f64 * sum_qs[j];
    }
    let constant = -((n * d) as f64) * 0.5 * (2.0 * PI).ln();
    constant + slse - n as f64 * lse_alphas + prior
        - k as f64 * wishart_constant(d, wishart_gamma, wishart_m)
}

/// The same written with iterator chains: `zip`/`map`/`collect` for `xc` and `qxc`, `map`/`sum`
/// for the norms, `fold(f64::NEG_INFINITY, f64::max)` for the maxima, a sub-slice for `L`.
#[differentiate(wrt(alphas, means, icf))]
pub fn gmm_iterators(
    alphas: &[f64],
    means: &[Vec<f64>],
    icf: &[Vec<f64>],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
) -> f64 {
    let k = alphas.len();
    let n = x.len();
    let d = x[0].len();
    let sum_qs: Vec<f64> = icf.iter().map(|f| f[..d].iter().sum::<f64>()).collect();
    let mut slse = 0.0;
    for xi in x.iter() {
        let mut main_term = vec![0.0; k];
        for j in 0..k {
            let lower = &icf[j][d..];
            let xc: Vec<f64> = xi.iter().zip(means[j].iter()).map(|(a, b)| a - b).collect();
            let mut qxc: Vec<f64> = icf[j][..d]
                .iter()
                .zip(xc.iter())
                .map(|(q, v)| q.exp() * v)
                .collect();
            let mut idx = 0;
            for c in 0..d {
                for r in c + 1..d {
                    qxc[r] += lower[idx] * xc[c];
                    idx += 1;
                }
            }
            let sqnorm: f64 = qxc.iter().map(|v| v * v).sum();
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * sqnorm;
        }
        let mx = main_term.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let semx: f64 = main_term.iter().map(|&v| (v - mx).exp()).sum();
        slse += semx.ln() + mx;
    }
    let amx = alphas.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse_alphas = alphas.iter().map(|&a| (a - amx).exp()).sum::<f64>().ln() + amx;
    let mut prior = 0.0;
    for j in 0..k {
        let frobenius: f64 = icf[j][..d].iter().map(|q| (2.0 * q).exp()).sum::<f64>()
            + icf[j][d..].iter().map(|l| l * l).sum::<f64>();
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m as f64 * sum_qs[j];
    }
    let constant = -((n * d) as f64) * 0.5 * (2.0 * PI).ln();
    constant + slse - n as f64 * lse_alphas + prior
        - k as f64 * wishart_constant(d, wishart_gamma, wishart_m)
}

type Primal = fn(&[f64], &[Vec<f64>], &[Vec<f64>], &[Vec<f64>], f64, usize) -> f64;
type GradInto = fn(&[f64], &[Vec<f64>], &[Vec<f64>], &[Vec<f64>], f64, usize, &mut GmmGrad) -> f64;

fn flatten(g: &GmmGrad) -> Vec<f64> {
    let mut flat = g.0.clone();
    flat.extend(g.1.iter().flatten());
    flat.extend(g.2.iter().flatten());
    flat
}

/// The median wall-clock time of `calls` calls of `f`, in milliseconds.
fn median_ms(calls: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut samples: Vec<f64> = (0..calls)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gmm_variants D K N [VARIANT|all] [CALLS]";
    let size = |i: usize| -> usize { args.get(i).and_then(|a| a.parse().ok()).expect(usage) };
    let (d, k, n) = (size(0), size(1), size(2));
    let which = args.get(3).map_or("all", String::as_str);
    let calls: usize = args.get(4).map_or(10, |a| a.parse().expect(usage)).max(1);
    let data = GmmData::new(d, k, n);
    let GmmData {
        alphas,
        means,
        icf,
        x,
    } = &data;
    let (gamma, m) = (WISHART_GAMMA, WISHART_M);

    let mut scratch = HandScratch::default();
    let mut hand = GmmGrad::default();
    let hand_value =
        problems::gmm::gmm_objective_hand(alphas, means, icf, x, gamma, m, &mut scratch, &mut hand);
    let reference = flatten(&hand);
    let scale = reference.iter().fold(0.0_f64, |s, g| s.max(g.abs()));
    println!("gmm d = {d}, k = {k}, n = {n}; median of {calls} calls");
    if which == "all" || which == "hand" {
        let allocations = ALLOCATIONS.load(Relaxed);
        let ms = median_ms(calls, || {
            problems::gmm::gmm_objective_hand(
                black_box(alphas),
                means,
                icf,
                x,
                gamma,
                m,
                &mut scratch,
                &mut hand,
            )
        });
        let per_call = (ALLOCATIONS.load(Relaxed) - allocations) / calls;
        println!("hand: {ms:.3} ms, {per_call} allocations per call");
    }

    let variants: [(&str, Primal, GradInto); 5] = [
        (
            "loop_local",
            problems::gmm::gmm_objective,
            problems::gmm::gmm_objective_grad_into,
        ),
        (
            "hoisted",
            problems::gmm::gmm_objective_hoisted,
            problems::gmm::gmm_objective_hoisted_grad_into,
        ),
        (
            "computed_index",
            gmm_computed_index,
            gmm_computed_index_grad_into,
        ),
        (
            "computed_index_inline_lse",
            gmm_computed_index_inline_lse,
            gmm_computed_index_inline_lse_grad_into,
        ),
        ("iterators", gmm_iterators, gmm_iterators_grad_into),
    ];
    let mut found = which == "all" || which == "hand";
    for (name, primal, grad_into) in variants {
        if which != "all" && which != name {
            continue;
        }
        found = true;
        let mut grad = GmmGrad::default();
        let value = grad_into(alphas, means, icf, x, gamma, m, &mut grad);
        assert_eq!(
            value,
            primal(alphas, means, icf, x, gamma, m),
            "{name}: value"
        );
        assert!(
            (value - hand_value).abs() <= 1e-12 * value.abs(),
            "{name}: value {value:e}, by hand {hand_value:e}"
        );
        let error = flatten(&grad)
            .iter()
            .zip(&reference)
            .fold(0.0_f64, |e, (g, r)| e.max((g - r).abs()))
            / scale;
        assert!(error <= 1e-12, "{name}: gradient error {error:e}");

        let (allocations, live) = (ALLOCATIONS.load(Relaxed), LIVE.load(Relaxed));
        PEAK.store(live, Relaxed);
        let ms = median_ms(calls, || {
            grad_into(black_box(alphas), means, icf, x, gamma, m, &mut grad)
        });
        let per_call = (ALLOCATIONS.load(Relaxed) - allocations) / calls;
        let peak = PEAK.load(Relaxed) - live;
        let allocations = ALLOCATIONS.load(Relaxed);
        let primal_ms = median_ms(calls, || primal(black_box(alphas), means, icf, x, gamma, m));
        let primal_per_call = (ALLOCATIONS.load(Relaxed) - allocations) / calls;
        println!(
            "{name}: generated {ms:.3} ms, {per_call} allocations per call, peak {:.1} kB \
             ({:.0} B per point); primal {primal_ms:.3} ms, {primal_per_call} allocations per call",
            peak as f64 / 1e3,
            peak as f64 / n as f64,
        );
    }
    assert!(found, "no variant {which}");
}

//! Fuzzing of the driver [`crate::expand::differentiate`] at the token level.
//!
//! Inputs come from three sources, each from a fixed seed so that every run is the same:
//! - `generated`: random functions from a small grammar of the Rust the macro supports (floats,
//!   arrays, slices, matrices, structs, methods, tuples, every kind of loop and branch, early
//!   exits, raw identifiers, named lifetimes, attributes on statements, `if`s nested 60 to 75
//!   deep, `else if` chains as long, loop nests), with some constructs it rejects by design;
//!   type-correct by construction;
//! - `mutated`: the `#[differentiate]` functions of the repository's tests, UI cases and examples,
//!   with token trees deleted, duplicated, swapped, replaced, wrapped, unwrapped, truncated;
//! - `arguments`: the attribute's arguments (valid, odd and garbage) on those functions.
//!
//! Each input goes to `differentiate` itself, not through `catch_internal_errors`, so that a
//! panic is seen. The expansion must not panic, must parse as a file whenever the input parses as
//! an item (a `compile_error!` is fine), and must carry the user's item unchanged. Expansions
//! slower than [`SLOW`] are listed in the statistics each test prints (`--nocapture`).
//!
//! Runs:
//! - CI: `cargo test -p autodiff-macro fuzz` (a few seconds);
//! - long: `AUTODIFF_FUZZ_ITERS=200000 cargo test --release -p autodiff-macro fuzz -- --nocapture`
//!   (iterations per source; `AUTODIFF_FUZZ_SEED=<n>` for other inputs; `AUTODIFF_FUZZ_VERBOSE=1`
//!   shows an input for each of the macro's error messages);
//! - one case: `AUTODIFF_FUZZ_SEED=<seed> AUTODIFF_FUZZ_ONLY=<iteration> cargo test -p
//!   autodiff-macro fuzz::<source> -- --nocapture` prints its input and expansion;
//! - the compile campaign (whatever the macro accepts must compile, every rejection must be one
//!   error at its place), outside CI: see [`compile_campaign`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::ToTokens;

use crate::expand::differentiate;

// The harness runs a case; the sources make cases: `generate*` writes functions, `corpus` finds
// the repository's, `mutate` edits tokens and writes arguments; `campaign` compiles what they make.
mod campaign;
mod corpus;
mod generate;
mod generate_expr;
mod generate_stmt;
mod harness;
mod mutate;

use campaign::*;
use corpus::*;
use generate::*;
use harness::*;
use mutate::*;

// ------------------------------------------------------------------------------------------
// Known bugs
// ------------------------------------------------------------------------------------------

/// Macro panics found by this fuzzer and not fixed yet. A panic whose message contains
/// `message` is counted instead of failing the test; every other panic fails it. Each entry has a
/// minimal reproduction, which `known_panics_still_reproduce` runs: when a bug is fixed, that test
/// says so, and the entry is to be removed.
const KNOWN_PANICS: &[KnownPanic] = &[];

struct KnownPanic {
    /// What triggers it, for the report.
    name: &'static str,
    /// A substring of the panic message (with its location, `file:line` of the macro's source).
    message: &'static str,
    /// `(attribute arguments, item)` that panics.
    repro: (&'static str, &'static str),
}

// ------------------------------------------------------------------------------------------
// Random numbers
// ------------------------------------------------------------------------------------------

/// SplitMix64: a few lines, deterministic on every platform, good enough for choosing.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    /// The stream of iteration `iteration` of source `source` under `seed`: one case reproduces
    /// without running the ones before it.
    fn for_case(seed: u64, source: &str, iteration: u64) -> Rng {
        let mut h = seed ^ 0x6a09_e667_f3bc_c909;
        for b in source.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = Rng(h ^ iteration.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`, `n > 0`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index drawn with the given weights.
    fn weighted(&mut self, weights: &[usize]) -> usize {
        let mut r = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        unreachable!()
    }
}

// ------------------------------------------------------------------------------------------
// The tests
// ------------------------------------------------------------------------------------------

const CI_LIMITS: Limits = Limits {
    max_loop_nest: 6,
    max_if_depth: 75,
    unsupported: true,
};

/// Runs `body` on a thread with the stack rustc gives proc macros (8 MiB, its main thread's
/// default), not the test thread's 2 MiB: the macro recurses along the nesting of the input.
fn with_rustc_stack(body: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(body)
        .expect("a thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn generated() {
    with_rustc_stack(generated_cases);
}

fn generated_cases() {
    let started = Instant::now();
    let budget = budget(500);
    let mut stats = Stats::default();
    let mut shapes: BTreeMap<&str, (usize, Duration)> = BTreeMap::new();
    for iteration in budget.iterations() {
        let case_started = Instant::now();
        let mut rng = Rng::for_case(budget.seed, "generated", iteration);
        let f = generate(&mut rng, iteration, CI_LIMITS);
        let args: TokenStream = f.args.parse().unwrap();
        let input: TokenStream = f.text.parse().expect("a generated function tokenizes");
        if budget.only.is_some() {
            print_single(&args, &input);
        }
        check_case(&mut stats, &args, &input, &|| {
            render_case("generated", budget.seed, iteration, &args, &f.text)
        });
        let shape = shapes.entry(f.shape).or_default();
        shape.0 += 1;
        shape.1 += case_started.elapsed();
    }
    assert_eq!(stats.not_items, 0, "a generated function does not parse");
    eprintln!("fuzz generated: shapes {shapes:?}");
    finish("generated", &budget, stats, started);
}

#[test]
fn mutated() {
    with_rustc_stack(mutated_cases);
}

fn mutated_cases() {
    let started = Instant::now();
    let budget = budget(1200);
    let corpus = &corpus();
    let mut donors = Vec::new();
    for item in corpus.iter().step_by(corpus.len() / 40) {
        Pool::collect(&item.item, &mut donors);
    }
    donors.retain(|tt| match tt {
        TokenTree::Group(g) => count_trees(&g.stream()) < 40,
        _ => true,
    });
    let pool = Pool::new(donors);
    let mut stats = Stats::default();
    for iteration in budget.iterations() {
        let mut rng = Rng::for_case(budget.seed, "mutated", iteration);
        let source = &corpus[rng.below(corpus.len())];
        // Most mutations break the syntax, and rustc hands the macro only items: mostly keep
        // drawing until the result is one.
        let want_item = rng.chance(0.8);
        let mut own_idents = Vec::new();
        idents(&source.item, &mut own_idents);
        let mut input = source.item.clone();
        for _attempt in 0..30 {
            input = source.item.clone();
            let mutations = *rng.pick(&[1, 1, 1, 2, 2, 3, 5, 8]);
            for _ in 0..mutations {
                input = mutate(&mut rng, input, &pool, &own_idents);
            }
            if !want_item || syn::parse2::<syn::Item>(input.clone()).is_ok() {
                break;
            }
        }
        let args = if rng.chance(0.8) {
            source.args.clone()
        } else {
            mutate(&mut rng, source.args.clone(), &pool, &own_idents)
        };
        if budget.only.is_some() {
            print_single(&args, &input);
        }
        check_case(&mut stats, &args, &input, &|| {
            render_case(
                "mutated",
                budget.seed,
                iteration,
                &args,
                &format!("  (from {})\n{}", source.origin, show_tokens(&input)),
            )
        });
    }
    finish("mutated", &budget, stats, started);
}

#[test]
fn arguments() {
    with_rustc_stack(argument_cases);
}

fn argument_cases() {
    let started = Instant::now();
    let budget = budget(500);
    let corpus = &corpus();
    let pool = Pool::new(Vec::new());
    let mut stats = Stats::default();
    for iteration in budget.iterations() {
        let mut rng = Rng::for_case(budget.seed, "arguments", iteration);
        let (input, origin) = if rng.chance(0.7) {
            let source = &corpus[rng.below(corpus.len())];
            (source.item.clone(), source.origin.clone())
        } else {
            let f = generate(&mut rng, iteration, CI_LIMITS);
            (f.text.parse().unwrap(), "generated".to_owned())
        };
        let params = param_names(&input);
        let args = random_args(&mut rng, &params, &pool);
        if budget.only.is_some() {
            print_single(&args, &input);
        }
        check_case(&mut stats, &args, &input, &|| {
            render_case(
                "arguments",
                budget.seed,
                iteration,
                &args,
                &format!("  (from {origin})\n{}", show_tokens(&input)),
            )
        });
    }
    finish("arguments", &budget, stats, started);
}

/// Each known panic still panics with its message; when one does not, its bug is fixed and the
/// entry goes.
#[test]
fn known_panics_still_reproduce() {
    for known in KNOWN_PANICS {
        let args: TokenStream = known.repro.0.parse().unwrap();
        let input: TokenStream = known.repro.1.parse().unwrap();
        match expand_quietly(&args, &input) {
            Err(message) => assert!(
                message.contains(known.message),
                "`{}` now panics differently: {message}",
                known.name
            ),
            Ok(_) => panic!(
                "`{}` no longer panics: remove it from KNOWN_PANICS in fuzz/mod.rs",
                known.name
            ),
        }
    }
}

// ------------------------------------------------------------------------------------------
// The compile campaign (not in CI)
// ------------------------------------------------------------------------------------------

/// Whatever the macro accepts must compile, and a rejected function must get exactly its own
/// errors, at their places. This writes generated functions (and mutations of them) into a scratch
/// crate that depends on this worktree's `autodiff-core`, in two versions: plain (without the
/// attribute: is it valid Rust?) and differentiated. It `cargo check`s them in batches and
/// writes `report.md` next to the crate:
///
/// ```text
/// AUTODIFF_FUZZ_CAMPAIGN=/work/scratch/fuzzcheck AUTODIFF_FUZZ_ITERS=2000 \
///     cargo test --release -p autodiff-macro fuzz::compile_campaign -- --ignored --nocapture
/// ```
///
/// `AUTODIFF_FUZZ_CLIPPY=1` runs `cargo clippy` instead of `cargo check`.
#[test]
#[ignore]
fn compile_campaign() {
    with_rustc_stack(campaign);
}

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
// The harness
// ------------------------------------------------------------------------------------------

thread_local! {
    /// Set while this thread runs an expansion: the panic hook then records instead of printing.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that is silent on threads running fuzz cases and leaves other
/// threads, such as the other tests', to the previous hook.
fn install_quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let payload = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{payload} at {location}")));
            } else {
                previous(info)
            }
        }));
    });
}

/// Runs the driver; `Err` holds the panic's message and location.
fn expand_quietly(args: &TokenStream, input: &TokenStream) -> Result<TokenStream, String> {
    install_quiet_panic_hook();
    QUIET.with(|q| q.set(true));
    let (args, input) = (args.clone(), input.clone());
    let result = std::panic::catch_unwind(move || differentiate(args, input));
    QUIET.with(|q| q.set(false));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "(panic without message)".to_owned())
    })
}

/// How the macro answered one input.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    /// No `compile_error!` in the expansion.
    Accepted,
    Rejected,
    /// A panic listed in [`KNOWN_PANICS`].
    KnownPanic(usize),
}

/// An expansion that broke a property.
struct Failure {
    what: String,
    case: String,
}

#[derive(Default)]
struct Stats {
    cases: usize,
    accepted: usize,
    rejected: usize,
    /// Inputs that do not parse as an item (rustc would not hand them to the macro).
    not_items: usize,
    known: BTreeMap<&'static str, usize>,
    slow: Vec<(Duration, String)>,
    slowest: Duration,
    /// Time spent in the macro.
    expanding: Duration,
    failures: Vec<Failure>,
    /// The macro's error messages, shortened, with how often each came.
    reasons: BTreeMap<String, usize>,
    /// With `AUTODIFF_FUZZ_VERBOSE`: the first case of each reason, with its full message.
    examples: BTreeMap<String, String>,
    /// Distinct failure messages seen (only the first case of each is kept).
    seen: BTreeMap<String, usize>,
}

/// An expansion slower than this is reported.
const SLOW: Duration = Duration::from_millis(100);

fn contains_compile_error(tokens: &TokenStream) -> bool {
    let mut prev_is_compile_error = false;
    for tt in tokens.clone() {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == '!' && prev_is_compile_error => return true,
            TokenTree::Group(g) if contains_compile_error(&g.stream()) => return true,
            _ => {}
        }
        prev_is_compile_error = matches!(&tt, TokenTree::Ident(i) if i == "compile_error");
    }
    false
}

/// Whether `output` is the user's `item`, to which the macro may add `#[allow(dead_code)]`.
fn is_users_item(output: &syn::Item, item: &syn::Item) -> bool {
    match (output, item) {
        (syn::Item::Fn(out), syn::Item::Fn(f)) => {
            if out.sig.ident != f.sig.ident {
                return false;
            }
            let allow: syn::Attribute = syn::parse_quote!(#[allow(dead_code)]);
            let attrs = match out.attrs.split_first() {
                Some((first, rest)) if *first == allow && out.attrs.len() == f.attrs.len() + 1 => {
                    rest
                }
                _ => &out.attrs[..],
            };
            attrs == f.attrs && out.vis == f.vis && out.sig == f.sig && out.block == f.block
        }
        _ => output == item,
    }
}

/// A failure's message without the names in it, so that one bug counts once.
fn normalize(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = None;
    for c in message.chars() {
        match quoted {
            Some(q) if c == q => {
                quoted = None;
                out.push('…');
                out.push(c);
            }
            Some(_) => {}
            None => {
                out.push(c);
                if c == '"' || c == '`' {
                    quoted = Some(c);
                }
            }
        }
    }
    out
}

/// The messages of the `compile_error!`s of an expansion.
fn error_messages(tokens: &TokenStream, out: &mut Vec<String>) {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    for (k, tt) in trees.iter().enumerate() {
        match tt {
            TokenTree::Ident(i) if i == "compile_error" => {
                if let Some(TokenTree::Group(g)) = trees.get(k + 2)
                    && let Some(TokenTree::Literal(lit)) = g.stream().into_iter().next()
                    && let Ok(syn::Lit::Str(s)) = syn::parse2::<syn::Lit>(lit.into_token_stream())
                {
                    out.push(s.value());
                }
            }
            TokenTree::Group(g) => error_messages(&g.stream(), out),
            _ => {}
        }
    }
}

/// Expands one input and checks the properties; `describe` renders the case for a report.
fn check_case(
    stats: &mut Stats,
    args: &TokenStream,
    input: &TokenStream,
    describe: &dyn Fn() -> String,
) -> Verdict {
    stats.cases += 1;
    // Printed and parsed again, as the macro's output is: the check is of the macro, not of
    // syn's round trip (`where {}` comes back without its `where`).
    let item = syn::parse2::<syn::Item>(input.clone())
        .ok()
        .and_then(|item| syn::parse2::<syn::Item>(item.into_token_stream()).ok());
    if item.is_none() {
        stats.not_items += 1;
    }
    let start = Instant::now();
    let result = expand_quietly(args, input);
    let elapsed = start.elapsed();
    stats.slowest = stats.slowest.max(elapsed);
    stats.expanding += elapsed;
    if elapsed > SLOW {
        stats.slow.push((elapsed, describe()));
    }
    let mut fail = |what: String| {
        let count = stats.seen.entry(normalize(&what)).or_insert(0);
        *count += 1;
        if *count == 1 {
            stats.failures.push(Failure {
                what,
                case: describe(),
            });
        }
    };
    let output = match result {
        Ok(output) => output,
        Err(message) => {
            if let Some(k) = KNOWN_PANICS
                .iter()
                .position(|k| message.contains(k.message))
            {
                *stats.known.entry(KNOWN_PANICS[k].name).or_default() += 1;
                return Verdict::KnownPanic(k);
            }
            fail(format!("the macro panicked: {message}"));
            return Verdict::Rejected;
        }
    };
    let rejected = contains_compile_error(&output);
    if let Some(item) = item {
        match syn::parse2::<syn::File>(output.clone()) {
            Err(err) => fail(format!("the expansion does not parse as a file: {err}")),
            Ok(file) => {
                if !file.items.iter().any(|i| is_users_item(i, &item)) {
                    fail("the expansion does not hold the user's item unchanged".to_owned());
                }
            }
        }
    } else if !rejected {
        fail("an input that is not an item was accepted".to_owned());
    }
    if rejected {
        let mut messages = Vec::new();
        error_messages(&output, &mut messages);
        for message in messages {
            // The message up to its first `;`, names elided.
            let short = normalize(message.split(';').next().unwrap_or_default());
            if std::env::var_os("AUTODIFF_FUZZ_VERBOSE").is_some()
                && !stats.examples.contains_key(&short)
            {
                stats
                    .examples
                    .insert(short.clone(), format!("{message}\n{}", describe()));
            }
            *stats.reasons.entry(short).or_default() += 1;
        }
        stats.rejected += 1;
        Verdict::Rejected
    } else {
        stats.accepted += 1;
        Verdict::Accepted
    }
}

/// The iterations, the seed and the single iteration to run, from the environment.
struct Budget {
    seed: u64,
    iterations: u64,
    only: Option<u64>,
}

const DEFAULT_SEED: u64 = 0xf022_5eed;

fn budget(default_iterations: u64) -> Budget {
    let parse = |name: &str| {
        std::env::var(name).ok().map(|v| {
            let v = v.trim().replace('_', "");
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
    };
    Budget {
        seed: parse("AUTODIFF_FUZZ_SEED").unwrap_or(DEFAULT_SEED),
        iterations: parse("AUTODIFF_FUZZ_ITERS").unwrap_or(default_iterations),
        only: parse("AUTODIFF_FUZZ_ONLY"),
    }
}

impl Budget {
    fn iterations(&self) -> impl Iterator<Item = u64> + use<> {
        match self.only {
            Some(only) => only..only + 1,
            None => 0..self.iterations,
        }
    }
}

/// Prints the statistics and fails with the first case of every distinct failure.
fn finish(source: &str, budget: &Budget, stats: Stats, started: Instant) {
    let mut report = format!(
        "fuzz {source}: {} cases in {:.2?} ({:.2?} expanding; seed {:#x}): {} accepted, {} rejected ({} inputs not items), slowest {:.1?}",
        stats.cases,
        started.elapsed(),
        stats.expanding,
        budget.seed,
        stats.accepted,
        stats.rejected,
        stats.not_items,
        stats.slowest
    );
    for (name, count) in &stats.known {
        let _ = write!(report, "\n  known panic, {count} cases: {name}");
    }
    let mut reasons: Vec<(&String, &usize)> = stats.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, count) in reasons.iter().take(12) {
        let _ = write!(report, "\n  {count:5} × error: {reason}");
        if let Some(example) = stats.examples.get(*reason) {
            let _ = write!(report, "\n    e.g. {example}");
        }
    }
    for (time, case) in stats.slow.iter().take(5) {
        let _ = write!(report, "\n  slow expansion ({time:.1?}):\n{case}");
    }
    if stats.slow.len() > 5 {
        let _ = write!(
            report,
            "\n  ... {} slow expansions in all",
            stats.slow.len()
        );
    }
    eprintln!("{report}");
    if !stats.failures.is_empty() {
        let mut message = format!("{} distinct failures:\n", stats.failures.len());
        for failure in stats.failures.iter().take(8) {
            let count = stats.seen[&normalize(&failure.what)];
            let _ = writeln!(
                message,
                "\n== {} ({count} cases); first case:\n{}",
                failure.what, failure.case
            );
        }
        panic!("{message}");
    }
}

/// A case for a report: how to rerun it, then its arguments and input.
fn render_case(source: &str, seed: u64, iteration: u64, args: &TokenStream, input: &str) -> String {
    format!(
        "  rerun: AUTODIFF_FUZZ_SEED={seed:#x} AUTODIFF_FUZZ_ONLY={iteration} cargo test -p autodiff-macro fuzz::{source} -- --nocapture\n  #[differentiate({args})]\n{input}"
    )
}

/// The input's tokens as text, with `⟦ ⟧` marking invisible (`Delimiter::None`) groups, which
/// plain `to_string` drops.
fn show_tokens(tokens: &TokenStream) -> String {
    fn has_none_group(tokens: &TokenStream) -> bool {
        tokens.clone().into_iter().any(|tt| match tt {
            TokenTree::Group(g) => g.delimiter() == Delimiter::None || has_none_group(&g.stream()),
            _ => false,
        })
    }
    fn marked(tokens: &TokenStream, out: &mut String) {
        for tt in tokens.clone() {
            match tt {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("⟦", "⟧"),
                    };
                    out.push_str(open);
                    marked(&g.stream(), out);
                    out.push_str(close);
                    out.push(' ');
                }
                TokenTree::Punct(p) => {
                    out.push(p.as_char());
                    if p.spacing() == Spacing::Alone {
                        out.push(' ');
                    }
                }
                other => {
                    out.push_str(&other.to_string());
                    out.push(' ');
                }
            }
        }
    }
    let mut out = tokens.to_string();
    if has_none_group(tokens) {
        out.push_str("\n  with invisible groups marked:\n");
        marked(tokens, &mut out);
    }
    out
}

/// With `AUTODIFF_FUZZ_ONLY`: the case and what the macro made of it.
fn print_single(args: &TokenStream, input: &TokenStream) {
    println!(
        "#[differentiate({args})]\n{}\n",
        match syn::parse2::<syn::File>(input.clone()) {
            Ok(file) => prettyplease::unparse(&file),
            Err(_) => show_tokens(input),
        }
    );
    match expand_quietly(args, input) {
        Err(message) => println!("panic: {message}"),
        Ok(output) => match syn::parse2::<syn::File>(output.clone()) {
            Ok(file) => println!("{}", prettyplease::unparse(&file)),
            Err(_) => println!("{output}"),
        },
    }
}

// ------------------------------------------------------------------------------------------
// The grammar
// ------------------------------------------------------------------------------------------

/// What a variable of a generated function holds, which says how it may be read and written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// The float type `T` of the function.
    Float,
    /// `&T`, an element of `x.iter()`: read as `*e`.
    FloatRef,
    /// `usize`.
    Index,
    I32,
    Bool,
    /// `[T; 3]` or `&[T; 3]`: constant indices below 3.
    Array,
    /// `[[T; 2]; 3]` or a reference to one.
    Matrix,
    /// `&[T]`, `Vec<T>`, `&Vec<T>`, `[T; N]`: any index.
    Slice,
    /// `Point` (`f64` only): fields `x`, `y`, `w: [f64; 3]`.
    Point,
    /// `(T, T)`.
    Pair,
}

#[derive(Clone)]
struct Var {
    name: String,
    kind: Kind,
    mutable: bool,
    /// An owned array or `Vec` whose elements may be written (`b[i] = ..`).
    writable: bool,
    /// A reference (`&[T]`, `&Point`, ...): passed on as it is, not as `&v`.
    reference: bool,
}

struct LoopCx {
    label: Option<String>,
    /// `let z = loop { .. break value .. }`.
    value: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ret {
    Scalar,
    Pair,
    Array,
    Vec,
}

/// The limits of a generated function.
#[derive(Clone, Copy)]
struct Limits {
    /// The deepest loop nest of the `loops` shape (each level doubles the expansion's time).
    max_loop_nest: usize,
    /// The deepest `if` nest and the longest `else if` chain (from 60).
    max_if_depth: usize,
    /// Whether constructs the macro rejects by design appear (closures, `unsafe`, `&mut`, ...).
    unsupported: bool,
}

/// A generated function: its text (an item, possibly a method of `impl Point`), the arguments
/// of its attribute, and the names of its parameters.
struct Generated {
    text: String,
    args: String,
    /// A method (`&self`/`self`): it belongs in `impl Point { .. }`.
    method: bool,
    shape: &'static str,
}

/// Identifiers that are keywords, usable raw (`r#type`).
const RAW_NAMES: &[&str] = &[
    "r#type",
    "r#match",
    "r#loop",
    "r#struct",
    "r#as",
    "r#in",
    "r#move",
    "r#ref",
    "r#fn",
    "r#yield",
    "r#abstract",
    "r#try",
    "r#dyn",
    "r#async",
    "r#box",
    "r#final",
    "r#foo",
];

/// Names the generated code uses for its own locals and items.
const GENERATED_LIKE_NAMES: &[&str] = &[
    "d_x", "t0", "t1", "tape", "grad", "d_out", "x_grad", "seed", "slot", "__f_vjp", "d_s", "flag",
    "value", "result", "out", "_x", "__A0", "Slot",
];

const UNARY_METHODS: &[&str] = &[
    "sin",
    "cos",
    "tan",
    "tanh",
    "exp",
    "exp2",
    "exp_m1",
    "sqrt",
    "cbrt",
    "abs",
    "ln",
    "ln_1p",
    "log2",
    "log10",
    "atan",
    "asinh",
    "sinh",
    "cosh",
    "recip",
    "signum",
    "floor",
    "ceil",
    "round",
    "trunc",
    "asin",
    "acos",
    "atanh",
    "to_degrees",
    "to_radians",
    // Without a rule: rejected unless on a constant.
    "fract",
];
const BINARY_METHODS: &[&str] = &[
    "powf", "max", "min", "hypot", "atan2", "log", "powf", "max", "min", "hypot", "atan2", "log",
    // Without a rule.
    "copysign",
];

struct Gen<'r> {
    rng: &'r mut Rng,
    limits: Limits,
    /// `f64` or `f32`.
    t: &'static str,
    scopes: Vec<Vec<Var>>,
    loops: Vec<LoopCx>,
    out: String,
    indent: usize,
    /// Statements left to write.
    budget: usize,
    fresh: usize,
    ret: Ret,
    /// Raw names already used.
    raw_used: Vec<&'static str>,
    /// Inside a condition or `no_grad(..)`, where the macro takes no control flow.
    simple: usize,
    /// The arrays that loops around iterate over (`for e in a.iter()`): not to be written.
    iterated: Vec<String>,
}

impl Gen<'_> {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn open(&mut self, text: &str) {
        self.line(text);
        self.indent += 1;
        self.scopes.push(Vec::new());
    }

    fn close(&mut self, text: &str) {
        self.indent -= 1;
        self.scopes.pop();
        self.line(text);
    }

    fn declare(&mut self, name: &str, kind: Kind, mutable: bool, writable: bool) {
        self.scopes.last_mut().unwrap().push(Var {
            name: name.to_owned(),
            kind,
            mutable,
            writable,
            reference: false,
        });
    }

    fn declare_reference(&mut self, name: &str, kind: Kind) {
        self.declare(name, kind, false, false);
        self.scopes
            .last_mut()
            .unwrap()
            .last_mut()
            .unwrap()
            .reference = true;
    }

    /// A name for a new local: mostly plain, sometimes raw, Unicode, or like a generated local.
    fn new_name(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        let roll = self.rng.below(100);
        if roll < 4 {
            let free: Vec<&'static str> = RAW_NAMES
                .iter()
                .copied()
                .filter(|n| !self.raw_used.contains(n))
                .collect();
            if let Some(&name) = free.get(self.rng.below(free.len().max(1))) {
                self.raw_used.push(name);
                return name.to_owned();
            }
        } else if roll < 7 {
            return format!("{}{}", self.rng.pick(GENERATED_LIKE_NAMES), self.fresh);
        } else if roll < 8 {
            return format!("délta{}", self.fresh);
        }
        format!("{prefix}{}", self.fresh)
    }

    /// The visible variables of `kinds` (a shadowed one is not visible).
    fn visible(&self, kinds: &[Kind]) -> Vec<Var> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for scope in self.scopes.iter().rev() {
            for var in scope.iter().rev() {
                if seen.contains(&var.name.as_str()) {
                    continue;
                }
                seen.push(&var.name);
                if kinds.contains(&var.kind) {
                    out.push(var.clone());
                }
            }
        }
        out
    }

    fn pick_var(&mut self, kinds: &[Kind]) -> Option<Var> {
        let vars = self.visible(kinds);
        (!vars.is_empty()).then(|| vars[self.rng.below(vars.len())].clone())
    }

    fn float_lit(&mut self) -> String {
        self.rng
            .pick(&[
                "0.5", "1.0", "2.0", "0.25", "3.0", "1.5", "0.1", "10.0", "1e-3", "0.0",
            ])
            .to_string()
    }

    /// An index expression of type `usize` below `len` (`None`: any index).
    fn index(&mut self, len: Option<usize>) -> String {
        if self.rng.chance(0.5)
            && let Some(v) = self.pick_var(&[Kind::Index])
        {
            return v.name;
        }
        match len {
            Some(len) => self.rng.below(len).to_string(),
            None => self.rng.pick(&["0", "1", "2"]).to_string(),
        }
    }

    /// A float expression; `.1` says whether its type is known (an expression of literals only
    /// is `{float}` until something fixes it, and rustc calls no method on it).
    fn fexpr(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        if depth == 0 || self.rng.chance(0.3) {
            return self.leaf();
        }
        let control = if self.simple > 0 { 0 } else { 1 };
        match self.rng.weighted(&[
            30,
            6,
            14,
            8,
            5,
            5 * control,
            4 * control,
            4 * control,
            3,
            3,
            2,
            2,
            2,
            1,
        ]) {
            0 => {
                let (a, ta) = self.fexpr(depth - 1);
                let (b, tb) = self.fexpr(depth - 1);
                let op = self.rng.pick(&["+", "-", "*", "/", "+", "*", "%"]);
                (format!("({a} {op} {b})"), ta || tb)
            }
            1 => {
                let (a, ta) = self.fexpr(depth - 1);
                (format!("(-{a})"), ta)
            }
            2 => {
                let (a, ta) = self.fexpr(depth - 1);
                let m = self.rng.pick(UNARY_METHODS);
                if ta && self.rng.chance(0.7) {
                    (format!("{a}.{m}()"), true)
                } else {
                    (format!("{t}::{m}({a})"), true)
                }
            }
            3 => {
                let (a, ta) = self.fexpr(depth - 1);
                let (b, _) = self.fexpr(depth - 1);
                let m = self.rng.pick(BINARY_METHODS);
                if ta && self.rng.chance(0.7) {
                    (format!("{a}.{m}({b})"), true)
                } else {
                    (format!("{t}::{m}({a}, {b})"), true)
                }
            }
            4 => {
                let (a, ta) = self.fexpr(depth - 1);
                let n = self.rng.pick(&["2", "3", "-1", "0", "1", "-2"]);
                if ta {
                    (format!("{a}.powi({n})"), true)
                } else {
                    (format!("{t}::powi({a}, {n})"), true)
                }
            }
            5 => {
                let c = self.cond(depth - 1);
                let (a, ta) = self.fexpr(depth - 1);
                let (b, tb) = self.fexpr(depth - 1);
                (format!("(if {c} {{ {a} }} else {{ {b} }})"), ta || tb)
            }
            6 => self.match_expr(depth),
            7 => {
                // A block with a local of its own.
                let (a, ta) = self.fexpr(depth - 1);
                let name = self.new_name("b");
                self.scopes.push(vec![Var {
                    name: name.clone(),
                    kind: Kind::Float,
                    mutable: false,
                    writable: false,
                    reference: false,
                }]);
                let (b, _) = self.fexpr(depth - 1);
                self.scopes.pop();
                let ann = if ta { String::new() } else { format!(": {t}") };
                (format!("{{ let {name}{ann} = {a}; {name} * {b} }}"), true)
            }
            8 => {
                let (a, ta) = self.fexpr(depth - 1);
                let (b, _) = self.fexpr(depth - 1);
                let (c, _) = self.fexpr(depth - 1);
                if ta {
                    (format!("{a}.mul_add({b}, {c})"), true)
                } else {
                    (format!("{t}::mul_add({a}, {b}, {c})"), true)
                }
            }
            9 => {
                self.simple += 1;
                let (a, ta) = self.fexpr(depth - 1);
                self.simple -= 1;
                (format!("no_grad({a})"), ta)
            }
            10 if t == "f64" => {
                let (a, _) = self.fexpr(depth - 1);
                let (b, _) = self.fexpr(depth - 1);
                (format!("helper({a}, {b})"), true)
            }
            11 => {
                let (a, _) = self.fexpr(depth - 1);
                let other = if t == "f64" { "f32" } else { "f64" };
                (format!("({a} as {other} as {t})"), true)
            }
            12 => {
                let (a, ta) = self.fexpr(depth - 1);
                let (lo, hi) = *self
                    .rng
                    .pick(&[("-1.0", "1.0"), ("0.0", "2.0"), ("-3.0", "0.5")]);
                if ta {
                    (format!("{a}.clamp({lo}, {hi})"), true)
                } else {
                    (format!("{t}::clamp({a}, {lo}, {hi})"), true)
                }
            }
            _ => {
                let (a, ta) = self.fexpr(depth - 1);
                let (b, tb) = self.fexpr(depth - 1);
                let field = self.rng.below(2);
                (format!("({a}, {b}).{field}"), [ta, tb][field])
            }
        }
    }

    fn leaf(&mut self) -> (String, bool) {
        let t = self.t;
        for _ in 0..4 {
            let choice = self
                .rng
                .weighted(&[10, 30, 4, 10, 4, 3, 3, 3, 3, 2, 2, 2, 2]);
            let got = match choice {
                0 => Some((self.float_lit(), false)),
                1 => self.pick_var(&[Kind::Float]).map(|v| (v.name, true)),
                2 => self
                    .pick_var(&[Kind::FloatRef])
                    .map(|v| (format!("(*{})", v.name), true)),
                3 => self.pick_var(&[Kind::Array]).map(|v| {
                    let i = self.index(Some(3));
                    (format!("{}[{i}]", v.name), true)
                }),
                4 => self.pick_var(&[Kind::Slice]).map(|v| {
                    let i = self.index(None);
                    (format!("{}[{i}]", v.name), true)
                }),
                5 => self.pick_var(&[Kind::Matrix]).map(|v| {
                    let i = self.index(Some(3));
                    let j = self.index(Some(2));
                    (format!("{}[{i}][{j}]", v.name), true)
                }),
                6 => self.pick_var(&[Kind::Point]).map(|v| {
                    match self.rng.below(4) {
                        0 => (format!("{}.x", v.name), true),
                        1 => (format!("{}.y", v.name), true),
                        2 => (format!("{}.w[{}]", v.name, self.index(Some(3))), true),
                        // A differentiated method of `Point`.
                        _ => (format!("{}.norm2()", v.name), true),
                    }
                }),
                7 => self
                    .pick_var(&[Kind::Index, Kind::I32])
                    .map(|v| (format!("({} as {t})", v.name), true)),
                8 => self
                    .pick_var(&[Kind::Pair])
                    .map(|v| (format!("{}.{}", v.name, self.rng.below(2)), true)),
                9 => self
                    .pick_var(&[Kind::Slice, Kind::Array])
                    .map(|v| (format!("({}.len() as {t})", v.name), true)),
                10 => self.pick_var(&[Kind::Slice, Kind::Array]).map(|v| {
                    let m = self.rng.pick(&["sum", "product"]);
                    (format!("{}.iter().{m}::<{t}>()", v.name), true)
                }),
                11 if t == "f64" => self.pick_var(&[Kind::Slice, Kind::Array]).map(|v| {
                    let amp = if v.reference { "" } else { "&" };
                    (format!("helper_sum({amp}{})", v.name), true)
                }),
                12 => Some((
                    self.rng
                        .pick(&[
                            "std::f64::consts::PI",
                            "core::f64::consts::E",
                            "f64::EPSILON",
                            "std::f64::consts::LN_2",
                        ])
                        .replace("f64", t),
                    true,
                )),
                _ => None,
            };
            if let Some(got) = got {
                return got;
            }
        }
        (self.float_lit(), false)
    }

    fn match_expr(&mut self, depth: usize) -> (String, bool) {
        let (scrutinee, arms): (String, &[&str]) = match self.pick_var(&[Kind::Index, Kind::I32]) {
            Some(v) if v.kind == Kind::Index => (v.name, &["0", "1 | 2", "3..=5"]),
            Some(v) => (v.name, &["0", "-1 | 1", "i32::MIN..=-2"]),
            None => match self.pick_var(&[Kind::Bool]) {
                Some(v) => (v.name, &["true"]),
                None => ("2usize".to_owned(), &["0", "1 | 2"]),
            },
        };
        let mut text = format!("(match {scrutinee} {{ ");
        let mut typed = false;
        for arm in arms {
            let (e, te) = self.fexpr(depth - 1);
            typed |= te;
            let guard = if self.rng.chance(0.2) {
                format!(" if {}", self.cond(0))
            } else {
                String::new()
            };
            let _ = write!(text, "{arm}{guard} => {e}, ");
        }
        let (e, te) = self.fexpr(depth - 1);
        let _ = write!(text, "_ => {e} }})");
        (text, typed || te)
    }

    fn cond(&mut self, depth: usize) -> String {
        self.simple += 1;
        let cond = self.cond_inner(depth);
        self.simple -= 1;
        cond
    }

    fn cond_inner(&mut self, depth: usize) -> String {
        match self.rng.weighted(&[40, 10, 8, 8, 6, 6, 4, 4]) {
            0 => {
                let (a, ta) = self.fexpr(depth.min(2));
                let (b, _) = self.fexpr(depth.min(1));
                let op = self.rng.pick(&[">", "<", ">=", "<=", "==", "!="]);
                if ta {
                    format!("{a} {op} {b}")
                } else {
                    format!("{a} {op} {b} as {}", self.t)
                }
            }
            1 => match self.pick_var(&[Kind::Index]) {
                Some(v) => format!("{} % 2 == {}", v.name, self.rng.below(2)),
                None => "true".to_owned(),
            },
            2 => match self.pick_var(&[Kind::Bool]) {
                Some(v) if self.rng.chance(0.5) => format!("!{}", v.name),
                Some(v) => v.name,
                None => "false".to_owned(),
            },
            3 if depth > 0 => {
                let a = self.cond(depth - 1);
                let b = self.cond(depth - 1);
                let op = self.rng.pick(&["&&", "||"]);
                format!("({a}) {op} ({b})")
            }
            4 => match self.pick_var(&[Kind::I32]) {
                Some(v) => format!("{} > {}", v.name, self.rng.pick(&["0", "-1", "2"])),
                None => "1 < 2".to_owned(),
            },
            5 => {
                let (a, ta) = self.fexpr(1);
                if ta {
                    format!("{a}.is_finite()")
                } else {
                    "true".to_owned()
                }
            }
            6 => match self.pick_var(&[Kind::Slice]) {
                Some(v) => format!("{}.len() > {}", v.name, self.rng.below(3)),
                None => "!false".to_owned(),
            },
            _ => {
                let (a, ta) = self.fexpr(1);
                if ta {
                    format!("(!({a} < 0.0))")
                } else {
                    "true".to_owned()
                }
            }
        }
    }

    fn ret_expr(&mut self) -> String {
        match self.ret {
            Ret::Scalar => self.fexpr(3).0,
            Ret::Pair => format!("({}, {})", self.fexpr(2).0, self.fexpr(2).0),
            Ret::Array => format!("[{}, {}]", self.fexpr(2).0, self.fexpr(2).0),
            Ret::Vec => format!("vec![{}, {}]", self.fexpr(2).0, self.fexpr(2).0),
        }
    }

    fn let_float(&mut self, name: &str, mutable: bool) {
        let (e, typed) = self.fexpr(3);
        let ann = if typed && self.rng.chance(0.8) {
            String::new()
        } else {
            format!(": {}", self.t)
        };
        let m = if mutable { "mut " } else { "" };
        self.line(&format!("let {m}{name}{ann} = {e};"));
        self.declare(name, Kind::Float, mutable, false);
    }

    /// Statements until the budget or `count` runs out.
    fn stmts(&mut self, count: usize, depth: usize) {
        for _ in 0..count {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            self.stmt(depth);
        }
    }

    fn stmt(&mut self, depth: usize) {
        let t = self.t;
        let nested = depth < 4;
        let in_loop = !self.loops.is_empty();
        let weights = [
            20,                                          // let
            14,                                          // assign
            5,                                           // local array
            6,                                           // store
            if nested { 8 } else { 0 },                  // if
            if nested { 6 } else { 0 },                  // for
            if nested { 3 } else { 0 },                  // while
            if nested { 3 } else { 0 },                  // loop
            if nested { 3 } else { 0 },                  // match
            4,                                           // tuples
            if nested { 2 } else { 0 },                  // block
            if t == "f64" { 3 } else { 0 },              // calls
            2,                                           // assertion
            3,                                           // attribute on a statement
            1,                                           // empty statement
            if depth > 0 { 3 } else { 1 },               // early return
            if in_loop { 6 } else { 0 },                 // break / continue
            2,                                           // let without a value
            3,                                           // shadowing
            if self.limits.unsupported { 1 } else { 0 }, // rejected by design
            1,                                           // diverging
            1,                                           // patterns, labelled blocks
        ];
        match self.rng.weighted(&weights) {
            0 => {
                let name = self.new_name("v");
                let mutable = self.rng.chance(0.4);
                self.let_float(&name, mutable);
            }
            1 => match self
                .visible(&[Kind::Float])
                .into_iter()
                .rfind(|v| v.mutable)
            {
                Some(v) => {
                    let (e, _) = self.fexpr(3);
                    let op = self.rng.pick(&["=", "+=", "-=", "*=", "/=", "+=", "%="]);
                    self.line(&format!("{} {op} {e};", v.name));
                }
                None => {
                    let name = self.new_name("s");
                    self.let_float(&name, true);
                }
            },
            2 => {
                let name = self.new_name("a");
                match self.rng.below(6) {
                    0 => {
                        self.line(&format!("let mut {name}: [{t}; 3] = [0.0; 3];"));
                        self.declare(&name, Kind::Array, true, true);
                    }
                    1 => {
                        let (a, b, c) = (self.fexpr(2).0, self.fexpr(2).0, self.fexpr(2).0);
                        self.line(&format!("let mut {name}: [{t}; 3] = [{a}, {b}, {c}];"));
                        self.declare(&name, Kind::Array, true, true);
                    }
                    2 => {
                        let len = match self.pick_var(&[Kind::Index]) {
                            Some(v) => format!("{} + 1", v.name),
                            None => "4".to_owned(),
                        };
                        self.line(&format!("let mut {name}: Vec<{t}> = vec![0.0; {len}];"));
                        self.declare(&name, Kind::Slice, true, true);
                    }
                    3 => match self.pick_var(&[Kind::Slice, Kind::Array]) {
                        Some(v) => {
                            self.line(&format!("let mut {name} = {}.to_vec();", v.name));
                            self.declare(&name, Kind::Slice, true, true);
                        }
                        None => {
                            self.line(&format!("let {name}: Vec<{t}> = Vec::new();"));
                            self.declare(&name, Kind::Slice, false, false);
                        }
                    },
                    4 => {
                        self.line(&format!("let mut {name} = [[0.0 as {t}; 2]; 3];"));
                        self.declare(&name, Kind::Matrix, true, true);
                    }
                    _ => {
                        let (a, _) = self.fexpr(2);
                        self.line(&format!("let {name} = [{a} as {t}; 3];"));
                        self.declare(&name, Kind::Array, false, false);
                    }
                }
            }
            3 => {
                let targets: Vec<Var> = self
                    .visible(&[Kind::Array, Kind::Slice, Kind::Matrix])
                    .into_iter()
                    .filter(|v| v.writable && !self.iterated.contains(&v.name))
                    .collect();
                if targets.is_empty() {
                    let name = self.new_name("v");
                    return self.let_float(&name, false);
                }
                let v = targets[self.rng.below(targets.len())].clone();
                let place = match v.kind {
                    Kind::Array => format!("{}[{}]", v.name, self.index(Some(3))),
                    Kind::Matrix => {
                        format!(
                            "{}[{}][{}]",
                            v.name,
                            self.index(Some(3)),
                            self.index(Some(2))
                        )
                    }
                    _ => format!("{}[{}]", v.name, self.index(None)),
                };
                let (e, _) = self.fexpr(3);
                let op = self.rng.pick(&["=", "+=", "*=", "-="]);
                self.line(&format!("{place} {op} {e};"));
            }
            4 => self.if_stmt(depth),
            5 => self.for_stmt(depth),
            6 => {
                let k = self.new_name("k");
                self.line(&format!("let mut {k}: usize = 0;"));
                self.declare(&k, Kind::Index, true, false);
                let c = self.cond(1);
                let label = self.label();
                let prefix = label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
                self.open(&format!("{prefix}while {k} < 3 && ({c}) {{"));
                self.line(&format!("{k} += 1;"));
                self.loop_body(label, false, depth);
                self.close("}");
            }
            7 => {
                if self.rng.chance(0.4) {
                    // `loop` as an expression: `break` carries the value.
                    let name = self.new_name("l");
                    self.open(&format!("let {name}: {t} = loop {{"));
                    self.loops.push(LoopCx {
                        label: None,
                        value: true,
                    });
                    let n = self.rng.range(1, 3);
                    self.stmts(n, depth + 1);
                    let (e, _) = self.fexpr(2);
                    self.line(&format!("break {e};"));
                    self.loops.pop();
                    self.close("};");
                    self.declare(&name, Kind::Float, false, false);
                } else {
                    let label = self.label();
                    let prefix = label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
                    self.open(&format!("{prefix}loop {{"));
                    let c = self.cond(1);
                    self.line(&format!("if {c} {{ break; }}"));
                    self.loop_body(label, false, depth);
                    self.line("break;");
                    self.close("}");
                }
            }
            8 => {
                if self.rng.chance(0.5) {
                    let name = self.new_name("m");
                    let (e, typed) = self.match_expr(3);
                    let ann = if typed {
                        String::new()
                    } else {
                        format!(": {t}")
                    };
                    self.line(&format!("let {name}{ann} = {e};"));
                    self.declare(&name, Kind::Float, false, false);
                } else {
                    let scrutinee = match self.pick_var(&[Kind::Index]) {
                        Some(v) => v.name,
                        None => "1usize".to_owned(),
                    };
                    self.open(&format!("match {scrutinee} {{"));
                    for arm in ["0 => {", "1 | 2 => {", "_ => {"] {
                        self.open(arm);
                        let n = self.rng.range(0, 2);
                        self.stmts(n, depth + 1);
                        self.close("}");
                    }
                    self.close("}");
                }
            }
            9 => {
                let (a, ta) = self.fexpr(2);
                let (b, tb) = self.fexpr(2);
                let ann = if ta && tb {
                    String::new()
                } else {
                    format!(": ({t}, {t})")
                };
                if self.rng.chance(0.5) {
                    let (p, q) = (self.new_name("p"), self.new_name("q"));
                    let mutable = if self.rng.chance(0.3) { "mut " } else { "" };
                    self.line(&format!("let ({mutable}{p}, {q}){ann} = ({a}, {b});"));
                    self.declare(&p, Kind::Float, !mutable.is_empty(), false);
                    self.declare(&q, Kind::Float, false, false);
                } else {
                    let name = self.new_name("t");
                    self.line(&format!("let {name}{ann} = ({a}, {b});"));
                    self.declare(&name, Kind::Pair, false, false);
                    if self.rng.chance(0.5) {
                        let p = self.new_name("p");
                        self.line(&format!("let ({p}, _) = {name};"));
                        self.declare(&p, Kind::Float, false, false);
                    }
                }
            }
            10 => {
                self.open("{");
                let n = self.rng.range(1, 3);
                self.stmts(n, depth + 1);
                self.close("}");
            }
            11 => {
                let (a, _) = self.fexpr(2);
                if self.rng.chance(0.5) {
                    let (p, q) = (self.new_name("h"), self.new_name("h"));
                    self.line(&format!("let ({p}, {q}) = helper_pair({a});"));
                    self.declare(&p, Kind::Float, false, false);
                    self.declare(&q, Kind::Float, false, false);
                } else {
                    let name = self.new_name("h");
                    let (b, _) = self.fexpr(2);
                    self.line(&format!("let {name} = helper({a}, {b});"));
                    self.declare(&name, Kind::Float, false, false);
                }
            }
            12 => {
                let c = self.cond(1);
                let m = self.rng.pick(&["assert", "debug_assert"]);
                self.line(&format!("{m}!({c} || true, \"checked\");"));
            }
            13 => {
                // `#[cfg(any())]` removes the statement, `#[cfg(all())]` keeps it.
                let (attr, kept) = *self.rng.pick(&[
                    ("#[cfg(any())]", false),
                    ("#[cfg(all())]", true),
                    ("#[cfg(not(all()))]", false),
                    ("#[allow(unused_variables)]", true),
                    ("#[cfg_attr(any(), allow(unused))]", true),
                    ("#[rustfmt::skip]", true),
                ]);
                let target = self
                    .visible(&[Kind::Float])
                    .into_iter()
                    .rfind(|v| v.mutable);
                match target {
                    // Only `cfg` and lint attributes are stable on expression statements.
                    Some(v) if self.rng.chance(0.6) && !attr.contains("rustfmt") => {
                        let (e, _) = self.fexpr(2);
                        self.line(&format!("{attr} {{ {} += {e}; }}", v.name));
                    }
                    _ => {
                        let name = self.new_name("c");
                        let (e, typed) = self.fexpr(2);
                        let ann = if typed {
                            String::new()
                        } else {
                            format!(": {t}")
                        };
                        self.line(&format!("{attr} let {name}{ann} = {e};"));
                        if kept {
                            self.declare(&name, Kind::Float, false, false);
                        }
                    }
                }
            }
            14 => self.line(";"),
            15 => {
                let c = self.cond(1);
                let e = self.ret_expr();
                self.line(&format!("if {c} {{ return {e}; }}"));
            }
            16 => {
                let cx_index = self.rng.below(self.loops.len());
                let innermost = cx_index == self.loops.len() - 1;
                let cx = &self.loops[cx_index];
                let value = cx.value;
                let target = match (&cx.label, innermost) {
                    (_, true) => String::new(),
                    (Some(label), false) => format!(" {label}"),
                    (None, false) => return,
                };
                // A `break` out of a `loop` expression carries its value.
                if value && !innermost {
                    return;
                }
                let c = self.cond(1);
                let exit = match self.rng.below(3) {
                    0 if !value => format!("continue{target}"),
                    _ if value => format!("break {}", self.fexpr(2).0),
                    _ => format!("break{target}"),
                };
                if self.rng.chance(0.8) {
                    self.line(&format!("if {c} {{ {exit}; }}"));
                } else {
                    self.line(&format!("if {c} {{ {exit}; }} else {{ {exit}; }}"));
                }
            }
            17 => {
                let name = self.new_name("q");
                self.line(&format!("let {name}: {t};"));
                let c = self.cond(1);
                let (a, _) = self.fexpr(2);
                let (b, _) = self.fexpr(2);
                self.line(&format!(
                    "if {c} {{ {name} = {a}; }} else {{ {name} = {b}; }}"
                ));
                self.declare(&name, Kind::Float, false, false);
            }
            // Shadowing; not of a mutable variable, which the loop-nest and deep-`if` shapes
            // keep writing to by name.
            18 => match self
                .visible(&[Kind::Float])
                .into_iter()
                .find(|v| !v.mutable)
            {
                Some(v) => {
                    let (e, _) = self.fexpr(2);
                    self.line(&format!("let {} = {} * {e};", v.name, v.name));
                    self.declare(&v.name, Kind::Float, false, false);
                }
                None => {
                    let name = self.new_name("v");
                    self.let_float(&name, false);
                }
            },
            19 => self.unsupported(),
            21 => self.patterns(),
            _ => {
                let c = self.cond(1);
                let what = self.rng.pick(&[
                    "std::process::exit(1)",
                    "panic!(\"stop\")",
                    "unreachable!()",
                    "loop {}",
                    "todo!()",
                ]);
                self.line(&format!("if {c} {{ {what}; }}"));
            }
        }
    }

    /// Less common bindings: nested and rest patterns, array patterns, `_`, a labelled block.
    fn patterns(&mut self) {
        let t = self.t;
        let (a, b, c) = (self.fexpr(2).0, self.fexpr(2).0, self.fexpr(2).0);
        let (p, q, r) = (self.new_name("p"), self.new_name("q"), self.new_name("r"));
        let declared: Vec<&String> = match self.rng.below(6) {
            0 => {
                self.line(&format!(
                    "let ({p}, ({q}, {r})): ({t}, ({t}, {t})) = ({a}, ({b}, {c}));"
                ));
                vec![&p, &q, &r]
            }
            1 => {
                self.line(&format!(
                    "let ({p}, ..): ({t}, {t}, {t}) = ({a}, {b}, {c});"
                ));
                vec![&p]
            }
            2 => {
                self.line(&format!("let [{p}, {q}, _]: [{t}; 3] = [{a}, {b}, {c}];"));
                vec![&p, &q]
            }
            3 => {
                self.line(&format!("let _ = {a};"));
                vec![]
            }
            4 => {
                let cond = self.cond(1);
                self.line(&format!(
                    "let {p}: {t} = 'blk: {{ if {cond} {{ break 'blk {a}; }} {b} }};"
                ));
                vec![&p]
            }
            _ => {
                let (c1, c2) = (self.cond(1), self.cond(1));
                self.line(&format!(
                    "let {p}: {t} = if {c1} {{ {a} }} else if {c2} {{ {b} }} else {{ {c} }};"
                ));
                vec![&p]
            }
        };
        for name in declared {
            self.declare(name, Kind::Float, false, false);
        }
    }

    /// A construct valid in Rust and rejected by the macro by design.
    fn unsupported(&mut self) {
        let t = self.t;
        let x = self
            .pick_var(&[Kind::Float])
            .map(|v| v.name)
            .unwrap_or_else(|| format!("(1.0 as {t})"));
        let name = self.new_name("u");
        let text = match self.rng.below(9) {
            0 => format!("let {name} = (|a: {t}| a * 2.0)({x});"),
            1 => format!("let {name}: {t} = unsafe {{ {x} }};"),
            2 => format!("let {name}: {t} = if let Some(z) = Some({x}) {{ z }} else {{ 0.0 }};"),
            3 => format!("let Some({name}) = Some({x}) else {{ panic!() }};"),
            4 => format!("let mut {name}: {t} = {x}; {{ let r = &mut {name}; *r += 1.0; }}"),
            5 => format!("let {name} = {{ println!(\"{{}}\", {x}); {x} }};"),
            6 => format!("let {name} = [{x}, {x}][..].iter().map(|v| v * 2.0).sum::<{t}>();"),
            7 => format!("let {name} = Some({x}).unwrap_or(0.0);"),
            _ => format!("let {name} = {{ fn inner(a: {t}) -> {t} {{ a }} inner({x}) }};"),
        };
        self.line(&text);
        self.declare(&name, Kind::Float, false, false);
    }

    fn label(&mut self) -> Option<String> {
        self.rng
            .chance(0.25)
            .then(|| format!("'l{}", self.fresh + self.loops.len()))
    }

    fn loop_body(&mut self, label: Option<String>, value: bool, depth: usize) {
        self.loops.push(LoopCx { label, value });
        let n = self.rng.range(1, 3);
        self.stmts(n, depth + 1);
        self.loops.pop();
    }

    fn if_stmt(&mut self, depth: usize) {
        let c = self.cond(2);
        self.open(&format!("if {c} {{"));
        let n = self.rng.range(1, 3);
        self.stmts(n, depth + 1);
        match self.rng.below(3) {
            0 => self.close("}"),
            1 => {
                self.close("} else {");
                self.indent += 1;
                self.scopes.push(Vec::new());
                let n = self.rng.range(1, 2);
                self.stmts(n, depth + 1);
                self.close("}");
            }
            _ => {
                self.else_if(1);
                let n = self.rng.range(1, 2);
                self.stmts(n, depth + 1);
                self.close("}");
            }
        }
    }

    /// Closes a branch and opens `else if c {`, with `c` drawn from the scope outside the branch.
    fn else_if(&mut self, depth: usize) {
        self.indent -= 1;
        self.scopes.pop();
        let c = self.cond(depth);
        self.line(&format!("}} else if {c} {{"));
        self.indent += 1;
        self.scopes.push(Vec::new());
    }

    fn for_stmt(&mut self, depth: usize) {
        let label = self.label();
        let prefix = label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
        let i = self.new_name("i");
        let slices = self.visible(&[Kind::Slice, Kind::Array]);
        let bound = match self.pick_var(&[Kind::Index]) {
            Some(v) if self.rng.chance(0.4) => v.name,
            _ => match slices.first() {
                Some(s) if self.rng.chance(0.5) => format!("{}.len()", s.name),
                _ => "3".to_owned(),
            },
        };
        let choice = if slices.is_empty() {
            self.rng.below(3)
        } else {
            self.rng.below(6)
        };
        let mut loop_vars = vec![];
        let mut iterated = vec![];
        let head = match choice {
            0 => {
                loop_vars.push((i.clone(), Kind::Index));
                format!("for {i} in 0..{bound} {{")
            }
            1 => {
                loop_vars.push((i.clone(), Kind::Index));
                format!("for {i} in (0..{bound}).rev() {{")
            }
            2 => {
                loop_vars.push((i.clone(), Kind::Index));
                format!("for {i} in 0..=2 {{")
            }
            3 => {
                let s = &slices[self.rng.below(slices.len())];
                loop_vars.push((i.clone(), Kind::FloatRef));
                iterated.push(s.name.clone());
                format!("for {i} in {}.iter() {{", s.name)
            }
            4 => {
                let s = &slices[self.rng.below(slices.len())];
                let e = self.new_name("e");
                loop_vars.push((i.clone(), Kind::Index));
                loop_vars.push((e.clone(), Kind::FloatRef));
                iterated.push(s.name.clone());
                format!("for ({i}, {e}) in {}.iter().enumerate() {{", s.name)
            }
            _ => {
                let a = &slices[self.rng.below(slices.len())];
                let b = &slices[self.rng.below(slices.len())];
                let e = self.new_name("e");
                loop_vars.push((i.clone(), Kind::FloatRef));
                loop_vars.push((e.clone(), Kind::FloatRef));
                iterated.push(a.name.clone());
                iterated.push(b.name.clone());
                format!(
                    "for ({i}, {e}) in {}.iter().zip({}.iter()) {{",
                    a.name, b.name
                )
            }
        };
        self.open(&format!("{prefix}{head}"));
        for (name, kind) in loop_vars {
            self.declare(&name, kind, false, false);
        }
        let outer = self.iterated.len();
        self.iterated.extend(iterated);
        self.loop_body(label, false, depth);
        self.iterated.truncate(outer);
        self.close("}");
    }
}

/// Writes a random function. `index` names it.
fn generate(rng: &mut Rng, index: u64, limits: Limits) -> Generated {
    let t = if rng.chance(0.8) { "f64" } else { "f32" };
    let mut g = Gen {
        rng,
        limits,
        t,
        simple: 0,
        iterated: Vec::new(),
        scopes: vec![Vec::new()],
        loops: Vec::new(),
        out: String::new(),
        indent: 1,
        budget: 0,
        fresh: 0,
        ret: Ret::Scalar,
        raw_used: Vec::new(),
    };
    g.ret = match g.rng.weighted(&[85, 6, 5, 4]) {
        0 => Ret::Scalar,
        1 => Ret::Pair,
        2 => Ret::Array,
        _ => Ret::Vec,
    };
    let ret_ty = match g.ret {
        Ret::Scalar => t.to_owned(),
        Ret::Pair => format!("({t}, {t})"),
        Ret::Array => format!("[{t}; 2]"),
        Ret::Vec => format!("Vec<{t}>"),
    };

    // The signature.
    let method = t == "f64" && g.rng.chance(0.08);
    let mut params: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut lifetime = false;
    let mut const_n = false;
    if method {
        params.push(g.rng.pick(&["&self", "&self", "self"]).to_string());
        names.push("self".to_owned());
        g.declare("self", Kind::Point, false, false);
    }
    let count = g.rng.range(if method { 0 } else { 1 }, 4);
    for _ in 0..count {
        let name = g.new_name("x");
        let lt = if g.rng.chance(0.15) {
            lifetime = true;
            "'a "
        } else {
            ""
        };
        let choice = g.rng.weighted(&[40, 8, 12, 5, 6, 5, 3, 6, 2, 2, 2]);
        let (ty, kind, mutable, writable) = match choice {
            0 => {
                let mutable = g.rng.chance(0.2);
                (t.to_owned(), Kind::Float, mutable, false)
            }
            1 => match g.rng.below(3) {
                0 => (format!("[{t}; 3]"), Kind::Array, false, false),
                1 => (format!("&{lt}[{t}; 3]"), Kind::Array, false, false),
                // Written to: a parameter the body stores into.
                _ => (format!("[{t}; 3]"), Kind::Array, true, true),
            },
            2 => match g.rng.below(4) {
                0 | 1 => (format!("&{lt}[{t}]"), Kind::Slice, false, false),
                2 => (format!("Vec<{t}>"), Kind::Slice, false, false),
                _ => (format!("&{lt}Vec<{t}>"), Kind::Slice, false, false),
            },
            3 => match g.rng.below(2) {
                0 => (format!("[[{t}; 2]; 3]"), Kind::Matrix, false, false),
                _ => (format!("&{lt}[[{t}; 2]; 3]"), Kind::Matrix, false, false),
            },
            4 => ("usize".to_owned(), Kind::Index, false, false),
            5 => ("i32".to_owned(), Kind::I32, false, false),
            6 => ("bool".to_owned(), Kind::Bool, false, false),
            7 if t == "f64" => match g.rng.below(3) {
                0 => ("Point".to_owned(), Kind::Point, false, false),
                _ => (format!("&{lt}Point"), Kind::Point, false, false),
            },
            8 => {
                const_n = true;
                (format!("[{t}; N]"), Kind::Slice, false, false)
            }
            9 => (format!("({t}, {t})"), Kind::Pair, false, false),
            _ => (t.to_owned(), Kind::Float, false, false),
        };
        let m = if mutable { "mut " } else { "" };
        params.push(format!("{m}{name}: {ty}"));
        names.push(name.clone());
        if ty.starts_with('&') {
            g.declare_reference(&name, kind);
        } else {
            g.declare(&name, kind, mutable, writable);
        }
    }
    if g.limits.unsupported && g.rng.chance(0.03) {
        // Patterns in parameters: valid Rust, rejected by the macro.
        if t == "f64" && g.rng.chance(0.5) {
            params.push("Point { x: px, y: py, .. }: Point".to_owned());
            g.declare("px", Kind::Float, false, false);
            g.declare("py", Kind::Float, false, false);
        } else {
            params.push(format!("(pa, pb): ({t}, {t})"));
            g.declare("pa", Kind::Float, false, false);
            g.declare("pb", Kind::Float, false, false);
        }
    }
    let mut generics = Vec::new();
    if lifetime {
        generics.push("'a".to_owned());
        if g.rng.chance(0.3) {
            generics.push("'b: 'a".to_owned());
        }
    }
    if const_n {
        generics.push("const N: usize".to_owned());
    }
    let generics = if generics.is_empty() {
        String::new()
    } else {
        format!("<{}>", generics.join(", "))
    };

    // The body.
    let shape = match g.rng.weighted(&[84, 4, 3, 5, 4]) {
        0 => {
            g.budget = g.rng.range(1, 24);
            let n = g.budget;
            g.stmts(n, 0);
            "statements"
        }
        1 => {
            // `if`s nested 60 deep or more.
            let depth = g.rng.range(60, g.limits.max_if_depth);
            let s = g.new_name("s");
            g.let_float(&s, true);
            for _ in 0..depth {
                let c = g.cond(0);
                g.open(&format!("if {c} {{"));
                let (e, _) = g.fexpr(1);
                g.line(&format!("{s} += {e};"));
            }
            for _ in 0..depth {
                g.close("}");
            }
            "deep ifs"
        }
        2 => {
            // An `else if` chain 60 long or more.
            let length = g.rng.range(60, g.limits.max_if_depth);
            let s = g.new_name("s");
            g.let_float(&s, true);
            let c = g.cond(0);
            g.open(&format!("if {c} {{"));
            for _ in 0..length {
                let (e, _) = g.fexpr(1);
                g.line(&format!("{s} *= {e};"));
                g.else_if(0);
            }
            g.line(&format!("{s} -= 1.0;"));
            g.close("}");
            "else-if chain"
        }
        3 => {
            // A loop nest (only compiled, never run: a `loop` level may not end).
            let depth = g.rng.range(2, g.limits.max_loop_nest.max(2));
            let s = g.new_name("s");
            g.let_float(&s, true);
            for level in 0..depth {
                let i = g.new_name("i");
                let kind = g.rng.below(3);
                match kind {
                    0 => g.open(&format!("for {i} in 0..2 {{")),
                    1 => {
                        g.line(&format!("let mut {i}: usize = 0;"));
                        g.declare(&i, Kind::Index, true, false);
                        g.open(&format!("while {i} < 2 {{"));
                        g.line(&format!("{i} += 1;"));
                    }
                    _ => {
                        g.open("loop {");
                        let c = g.cond(0);
                        g.line(&format!("if {c} {{ break; }}"));
                    }
                }
                if kind == 0 {
                    g.declare(&i, Kind::Index, false, false);
                }
                g.loops.push(LoopCx {
                    label: None,
                    value: false,
                });
                g.budget = 1;
                if level + 1 == depth || g.rng.chance(0.3) {
                    g.stmt(3);
                }
                let (e, _) = g.fexpr(1);
                g.line(&format!("{s} += {e};"));
            }
            for _ in 0..depth {
                g.loops.pop();
                g.close("}");
            }
            "loop nest"
        }
        _ => {
            // Long straight-line code.
            let s = g.new_name("s");
            g.let_float(&s, true);
            for _ in 0..g.rng.range(30, 80) {
                let (e, _) = g.fexpr(2);
                let op = g.rng.pick(&["+=", "*=", "-="]);
                g.line(&format!("{s} {op} {e};"));
            }
            "straight line"
        }
    };
    let tail = if g.rng.chance(0.03) {
        // A body that ends with `return`, not with its value.
        format!("    return {};\n", g.ret_expr())
    } else {
        format!("    {}\n", g.ret_expr())
    };
    g.out.push_str(&tail);

    // Attributes, visibility, name.
    let mut head = String::new();
    let attr_roll = g.rng.below(100);
    let attr = match attr_roll {
        0..=2 => "#[inline]\n",
        3..=4 => "/// Documented.\n",
        5..=6 => "#[must_use]\n",
        7 => "#[cfg(all())]\n",
        8 => "#[allow(clippy::all)]\n",
        9 => "#[differentiate]\n",
        10 => "#[cfg_attr(all(), inline)]\n",
        _ => "",
    };
    head.push_str(attr);
    let vis = *g.rng.pick(&["", "pub ", "pub(crate) "]);
    let qualifiers = match g.rng.below(60) {
        0 => "const ",
        1 => "extern \"C\" ",
        _ => "",
    };
    let name = if g.rng.chance(0.03) {
        format!("r#f{index}")
    } else {
        format!("f{index}")
    };
    let _ = writeln!(
        head,
        "{vis}{qualifiers}fn {name}{generics}({}) -> {ret_ty} {{",
        params.join(", ")
    );

    // Arguments: mostly none, sometimes a `wrt` of some parameters.
    let args = if g.rng.chance(0.15) && !names.is_empty() {
        let mut chosen: Vec<String> = names
            .iter()
            .filter(|_| g.rng.chance(0.6))
            .cloned()
            .collect();
        if chosen.is_empty() {
            chosen.push(names[0].clone());
        }
        format!("wrt({})", chosen.join(", "))
    } else {
        String::new()
    };
    Generated {
        text: format!("{head}{}}}\n", g.out),
        args,
        method,
        shape,
    }
}

// ------------------------------------------------------------------------------------------
// Token-level mutations
// ------------------------------------------------------------------------------------------

const KEYWORDS: &[&str] = &[
    "fn",
    "let",
    "mut",
    "if",
    "else",
    "for",
    "in",
    "while",
    "loop",
    "match",
    "return",
    "break",
    "continue",
    "self",
    "Self",
    "super",
    "crate",
    "as",
    "ref",
    "move",
    "unsafe",
    "async",
    "await",
    "dyn",
    "impl",
    "where",
    "type",
    "struct",
    "const",
    "static",
    "true",
    "false",
    "_",
    "pub",
    "use",
    "mod",
    "enum",
    "trait",
    "extern",
    "box",
    "yield",
    "macro_rules",
    "union",
    "default",
    "try",
];

const IDENTS: &[&str] = &[
    "f64",
    "f32",
    "usize",
    "i32",
    "u8",
    "bool",
    "no_grad",
    "vec",
    "Vec",
    "sin",
    "cos",
    "powi",
    "powf",
    "max",
    "iter",
    "enumerate",
    "zip",
    "rev",
    "len",
    "sum",
    "to_vec",
    "x",
    "y",
    "s",
    "i",
    "n",
    "self_",
    "differentiate",
    "wrt",
    "pullback",
    "assert",
    "compile_error",
    "std",
    "core",
    "autodiff_core",
    "Point",
    "helper",
    "println",
    "Some",
    "None",
    "unwrap",
    "abs",
    "exp",
    "ln",
    "Option",
    "String",
    "mul_add",
    "clamp",
    "atan2",
    "hypot",
    "PI",
    "EPSILON",
    "NAN",
    "is_nan",
];

const LITERALS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "0.0",
    "1.0",
    "2.5",
    "-1.0",
    "1e308",
    "1e400",
    "1e-320",
    "0.0f32",
    "1f64",
    "2.5e10f32",
    "3usize",
    "18446744073709551616",
    "0x10",
    "0b101",
    "0o7",
    "1_000.5",
    "1.",
    "\"s\"",
    "'c'",
    "b'x'",
    "b\"bytes\"",
    "r\"raw\"",
    "c\"cstr\"",
    "1u8",
    "255u8",
    "1i128",
    "-0.0",
    "1e1_0",
    "0.1e-3f64",
];

const PUNCTS: &[&str] = &[
    "+", "-", "*", "/", "%", "=", "==", "!=", "+=", "-=", "*=", "/=", "%=", "<", ">", "<=", ">=",
    "&", "&&", "|", "||", "!", "?", ".", "..", "..=", "...", "::", ";", ",", "#", "@", "^", "~",
    "$", "->", "=>", "<<", ">>", "<<=", "^=", "|=", "&=", "<-", ":",
];

/// Snippets inserted whole.
const SNIPPETS: &[&str] = &[
    "let z = 1.0;",
    "return x;",
    "break;",
    "continue;",
    "'outer:",
    "'a",
    "'static",
    "#[cfg(any())]",
    "#[cfg(all())]",
    "#[allow(unused)]",
    "#[differentiate]",
    "#![allow(unused)]",
    "?",
    "&mut",
    "unsafe { }",
    "|a| a",
    "move |a: f64| a * 2.0",
    "vec![1.0]",
    "vec![0.0; 3]",
    "loop {}",
    "x.iter()",
    ".iter().enumerate()",
    ".sum::<f64>()",
    "as usize",
    "as f64",
    "1..2",
    "..=",
    "no_grad(x)",
    "f64::sin(x)",
    "std::process::exit(0)",
    "panic!()",
    "println!(\"{}\", x)",
    "assert!(x > 0.0)",
    "match x { _ => 1.0 }",
    "if x > 0.0 { 1.0 } else { 2.0 }",
    "while false {}",
    "for i in 0..3 {}",
    "r#type",
    "r#match",
    "Point { x: 1.0, y: 2.0, w: [0.0; 3] }",
    "(1.0, 2.0)",
    "[1.0, 2.0]",
    "x[0]",
    "x[1..]",
    "&x[..2]",
    "*x",
    "self.w[0]",
    "Self::f",
    "fn inner() {}",
    "struct S;",
    "impl S {}",
    "const K: f64 = 1.0;",
    "static S: f64 = 1.0;",
    "use std::f64::consts::PI;",
    "macro_rules! m { () => {} }",
    "async { }",
    "x.await",
    "try { }",
    "yield x",
    "const { 1.0 }",
    "let else",
    "let Some(q) = Some(x) else { return 0.0; };",
    "if let Some(q) = Some(x) { q } else { 0.0 }",
    "<f64 as Into<f64>>::into(x)",
    "x as i32 as f64",
    "-> f64",
    "-> (f64, f64)",
    "-> [f64; 2]",
    "-> Vec<f64>",
    "-> !",
    "-> impl Fn()",
    "where T: Copy",
    "<T>",
    "<'a>",
    "<const N: usize>",
    "&self",
    "self",
    "&mut self",
    "mut self",
    "self: Box<Self>",
    "x: f64",
    "_: f64",
    "mut v: Vec<f64>",
    "p: &Point",
    "..",
    "$x",
    "x!",
    "#",
];

/// Tokens for mutations: the input's own identifiers and literals, and the fixed lists.
struct Pool {
    idents: Vec<Ident>,
    literals: Vec<Literal>,
    snippets: Vec<TokenStream>,
    /// Token trees of other inputs, spliced in.
    donors: Vec<TokenTree>,
}

impl Pool {
    fn new(donors: Vec<TokenTree>) -> Pool {
        let span = Span::call_site();
        let mut idents: Vec<Ident> = KEYWORDS
            .iter()
            .chain(IDENTS)
            .map(|name| Ident::new(name, span))
            .collect();
        for raw in RAW_NAMES {
            idents.push(Ident::new_raw(&raw[2..], span));
        }
        idents.push(Ident::new("délta", span));
        Pool {
            idents,
            literals: LITERALS
                .iter()
                .map(|l| l.parse().expect("literal"))
                .collect(),
            snippets: SNIPPETS
                .iter()
                .map(|s| s.parse().expect("snippet tokenizes"))
                .collect(),
            donors,
        }
    }

    /// Every token tree of `tokens`, at every depth.
    fn collect(tokens: &TokenStream, out: &mut Vec<TokenTree>) {
        for tt in tokens.clone() {
            if let TokenTree::Group(g) = &tt {
                Pool::collect(&g.stream(), out);
            }
            out.push(tt);
        }
    }
}

fn count_trees(tokens: &TokenStream) -> usize {
    tokens
        .clone()
        .into_iter()
        .map(|tt| match &tt {
            TokenTree::Group(g) => 1 + count_trees(&g.stream()),
            _ => 1,
        })
        .sum()
}

/// Applies `edit` to the token list that holds the `target`-th token tree (in pre-order), with
/// that tree's position in it.
fn edit_at(
    tokens: TokenStream,
    target: &mut usize,
    edit: &mut dyn FnMut(&mut Vec<TokenTree>, usize),
) -> (TokenStream, bool) {
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    for i in 0..trees.len() {
        if *target == 0 {
            edit(&mut trees, i);
            return (trees.into_iter().collect(), true);
        }
        *target -= 1;
        if let TokenTree::Group(g) = &trees[i] {
            let (inner, done) = edit_at(g.stream(), target, edit);
            if done {
                let mut group = Group::new(g.delimiter(), inner);
                group.set_span(g.span());
                trees[i] = TokenTree::Group(group);
                return (trees.into_iter().collect(), true);
            }
        }
    }
    (trees.into_iter().collect(), false)
}

fn pick_str(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[rng.below(items.len())]
}

fn puncts(text: &str) -> Vec<TokenTree> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            let spacing = if k + 1 < chars.len() {
                Spacing::Joint
            } else {
                Spacing::Alone
            };
            TokenTree::Punct(Punct::new(c, spacing))
        })
        .collect()
}

/// Every identifier of `tokens`.
fn idents(tokens: &TokenStream, out: &mut Vec<Ident>) {
    for tt in tokens.clone() {
        match tt {
            TokenTree::Ident(i) => out.push(i),
            TokenTree::Group(g) => idents(&g.stream(), out),
            _ => {}
        }
    }
}

/// One random token-level mutation of `tokens`; `own_idents` are the identifiers of the input.
fn mutate(rng: &mut Rng, tokens: TokenStream, pool: &Pool, own_idents: &[Ident]) -> TokenStream {
    let total = count_trees(&tokens);
    if total == 0 {
        return pool.snippets[rng.below(pool.snippets.len())].clone();
    }
    let mut target = rng.below(total);
    let op = rng.weighted(&[14, 6, 6, 12, 8, 8, 8, 6, 5, 3, 3, 5, 3]);
    let mut edit = |trees: &mut Vec<TokenTree>, i: usize| {
        let span = trees[i].span();
        match op {
            0 => {
                trees.remove(i);
            }
            1 => {
                let tt = trees[i].clone();
                trees.insert(i, tt);
            }
            2 => {
                let j = rng.below(trees.len());
                trees.swap(i, j);
            }
            3 => {
                // Another identifier: one of the input's own, or from the pool.
                let mut ident = if !own_idents.is_empty() && rng.chance(0.5) {
                    own_idents[rng.below(own_idents.len())].clone()
                } else {
                    pool.idents[rng.below(pool.idents.len())].clone()
                };
                ident.set_span(span);
                trees[i] = TokenTree::Ident(ident);
            }
            4 => {
                let mut lit = pool.literals[rng.below(pool.literals.len())].clone();
                lit.set_span(span);
                trees[i] = TokenTree::Literal(lit);
            }
            5 => {
                let replacement = puncts(pick_str(rng, PUNCTS));
                trees.splice(i..=i, replacement);
            }
            6 => {
                let insert: Vec<TokenTree> = match rng.below(3) {
                    0 => vec![TokenTree::Ident(Ident::new(pick_str(rng, KEYWORDS), span))],
                    1 => puncts(pick_str(rng, PUNCTS)),
                    _ => pool.snippets[rng.below(pool.snippets.len())]
                        .clone()
                        .into_iter()
                        .collect(),
                };
                trees.splice(i..i, insert);
            }
            7 => {
                // Wrap a few trees in a group; `Delimiter::None` is what `macro_rules!` makes of
                // a `$x:expr`.
                let len = rng.range(1, 3).min(trees.len() - i);
                let inner: TokenStream = trees.drain(i..i + len).collect();
                let delimiter = *rng.pick(&[
                    Delimiter::Parenthesis,
                    Delimiter::Brace,
                    Delimiter::Bracket,
                    Delimiter::None,
                ]);
                trees.insert(i, TokenTree::Group(Group::new(delimiter, inner)));
            }
            8 => {
                // Unwrap a group, or change its delimiter.
                if let TokenTree::Group(g) = trees[i].clone() {
                    if rng.chance(0.5) {
                        trees.splice(i..=i, g.stream());
                    } else {
                        let delimiter = *rng.pick(&[
                            Delimiter::Parenthesis,
                            Delimiter::Brace,
                            Delimiter::Bracket,
                            Delimiter::None,
                        ]);
                        trees[i] = TokenTree::Group(Group::new(delimiter, g.stream()));
                    }
                } else {
                    trees.remove(i);
                }
            }
            9 => trees.truncate(i),
            10 => {
                trees.drain(i..);
            }
            11 => {
                // Splice in a tree from another input.
                if !pool.donors.is_empty() {
                    trees[i] = pool.donors[rng.below(pool.donors.len())].clone();
                }
            }
            _ => {
                // An empty group.
                let delimiter = *rng.pick(&[Delimiter::Parenthesis, Delimiter::Brace]);
                trees[i] = TokenTree::Group(Group::new(delimiter, TokenStream::new()));
            }
        }
    };
    edit_at(tokens, &mut target, &mut edit).0
}

// ------------------------------------------------------------------------------------------
// The corpus: the repository's own differentiated functions
// ------------------------------------------------------------------------------------------

/// A `#[differentiate(args)]` item found in the repository.
struct CorpusItem {
    origin: String,
    args: TokenStream,
    item: TokenStream,
}

/// The corpus as text, parsed from the files once for all tests (token streams cannot be shared
/// between threads).
struct CorpusText {
    origin: String,
    args: String,
    item: String,
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `#[differentiate]` functions and methods of `tests/`, `tests/ui/`, `examples/`.
fn corpus() -> Vec<CorpusItem> {
    static CORPUS: std::sync::OnceLock<Vec<CorpusText>> = std::sync::OnceLock::new();
    let text = CORPUS.get_or_init(|| {
        let root = repository_root();
        let mut files = Vec::new();
        for dir in ["tests", "tests/ui", "examples"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                // The generated `random_functions_{2,3,4}.rs` are more of `random_functions_1.rs`
                // and would double the time it takes to parse the corpus.
                let more_of_the_same = path.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with("random_functions_")
                        && !n.to_string_lossy().ends_with("_1.rs")
                });
                if path.extension().is_some_and(|e| e == "rs") && !more_of_the_same {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut items = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("readable");
            let Ok(file) = syn::parse_file(&text) else {
                continue;
            };
            let mut finder = Finder {
                origin: path.file_name().unwrap().to_string_lossy().into_owned(),
                items: &mut items,
            };
            syn::visit::Visit::visit_file(&mut finder, &file);
        }
        assert!(
            items.len() > 100,
            "only {} differentiated functions found",
            items.len()
        );
        items
    });
    text.iter()
        .map(|t| CorpusItem {
            origin: t.origin.clone(),
            args: t.args.parse().unwrap(),
            item: t.item.parse().unwrap(),
        })
        .collect()
}

struct Finder<'a> {
    origin: String,
    items: &'a mut Vec<CorpusText>,
}

impl Finder<'_> {
    /// Takes the `#[differentiate]` attribute off `attrs`, returning its arguments.
    fn take(attrs: &mut Vec<syn::Attribute>) -> Option<TokenStream> {
        let position = attrs.iter().position(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "differentiate")
        })?;
        let attr = attrs.remove(position);
        Some(match attr.meta {
            syn::Meta::List(list) => list.tokens,
            _ => TokenStream::new(),
        })
    }
}

impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        let mut item = f.clone();
        if let Some(args) = Finder::take(&mut item.attrs) {
            self.items.push(CorpusText {
                origin: format!("{}: fn {}", self.origin, f.sig.ident),
                args: args.to_string(),
                item: item.into_token_stream().to_string(),
            });
        }
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        let mut item = f.clone();
        if let Some(args) = Finder::take(&mut item.attrs) {
            self.items.push(CorpusText {
                origin: format!("{}: method {}", self.origin, f.sig.ident),
                args: args.to_string(),
                item: item.into_token_stream().to_string(),
            });
        }
        syn::visit::visit_impl_item_fn(self, f);
    }
}

// ------------------------------------------------------------------------------------------
// Attribute arguments
// ------------------------------------------------------------------------------------------

/// Odd and garbage arguments; `{p}` stands for a parameter of the function.
const ODD_ARGS: &[&str] = &[
    "",
    "wrt({p})",
    "wrt({p}, {p})",
    "wrt({p},)",
    "wrt()",
    "wrt(,)",
    "wrt(missing)",
    "wrt(self)",
    "wrt(Self)",
    "wrt(_)",
    "wrt(1)",
    "wrt({p} {p})",
    "wrt({p}::{p})",
    "wrt('a)",
    "wrt(r#type)",
    "wrt(-)",
    "wrt",
    "wrt = {p}",
    "wrt[{p}]",
    "wrt{{{p}}}",
    "wrt({p})({p})",
    "wrt({p}), wrt({p})",
    "wrt(({p}))",
    "wrt(&{p})",
    "wrt(\"{p}\")",
    "wrt({p}: f64)",
    "pullback = g",
    "pullback = a::b::c",
    "pullback = ::g",
    "pullback = 1",
    "pullback = \"g\"",
    "pullback = g, pullback = h",
    "pullback",
    "pullback()",
    "pullback(g)",
    "pullback = f_pullback",
    "pullback = <T as Tr>::g",
    "pullback = g::<f64>",
    "pullback = |x| x",
    "pullback = self::g",
    "pullback = Self::g",
    "pullback = crate::g",
    "pullback = super::g",
    "pullback = r#type",
    "pullback = g, wrt({p})",
    "wrt({p}), pullback = g",
    "jvp",
    "hessian",
    "jvp, hessian, wrt({p})",
    "foo",
    "foo = 1",
    "foo(bar)",
    "a::b",
    "a::b(c)",
    "r#wrt({p})",
    "WRT({p})",
    "#",
    "=",
    ",",
    ",,",
    "1",
    "\"wrt\"",
    "wrt({p}) garbage",
    "(wrt({p}))",
    "[wrt]",
    "{}",
    "'a",
    "wrt({p}),",
    "pullback = g,",
];

fn random_args(rng: &mut Rng, params: &[String], pool: &Pool) -> TokenStream {
    let template = rng.pick(ODD_ARGS);
    let mut text = String::new();
    let mut rest = *template;
    while let Some(at) = rest.find("{p}") {
        text.push_str(&rest[..at]);
        match params.get(rng.below(params.len() + 1)) {
            Some(p) => text.push_str(p),
            None => text.push_str("nope"),
        }
        rest = &rest[at + 3..];
    }
    text.push_str(rest);
    let text = text.replace("{{", "{").replace("}}", "}");
    let mut args: TokenStream = text
        .parse()
        .unwrap_or_else(|e| panic!("arguments `{text}` do not tokenize: {e}"));
    if rng.chance(0.3) {
        for _ in 0..rng.range(1, 3) {
            args = mutate(rng, args, pool, &[]);
        }
    }
    args
}

/// The names of a function's parameters, for `wrt(..)`.
fn param_names(item: &TokenStream) -> Vec<String> {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(f)) => f
            .sig
            .inputs
            .iter()
            .map(|input| match input {
                syn::FnArg::Receiver(_) => "self".to_owned(),
                syn::FnArg::Typed(t) => t.pat.to_token_stream().to_string(),
            })
            .collect(),
        _ => Vec::new(),
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
                "`{}` no longer panics: remove it from KNOWN_PANICS in fuzz.rs",
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

/// One function of the campaign.
struct CampaignCase {
    id: usize,
    /// How to make it again.
    origin: String,
    args: String,
    text: String,
    method: bool,
    verdict: Verdict,
    /// The messages of the macro's `compile_error!`s.
    macro_errors: Vec<String>,
    /// The line of `#[differentiate(..)]` in its file (from 1).
    attr_line: usize,
}

/// A diagnostic of `cargo check --message-format=short`.
#[derive(Clone, Debug)]
struct Diagnostic {
    line: usize,
    column: usize,
    error: bool,
    /// `error[E0425]: cannot find value ...`, without the location.
    text: String,
}

const CAMPAIGN_PRELUDE: &str = "\
//! What the generated functions use.
#![allow(dead_code)]
use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Debug, Differentiable)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub w: [f64; 3],
}

#[differentiate]
pub fn helper(a: f64, b: f64) -> f64 {
    a * b + a.sin()
}

#[differentiate]
pub fn helper_pair(a: f64) -> (f64, f64) {
    (a * 2.0, a.cos())
}

#[differentiate]
pub fn helper_sum(v: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..v.len() {
        s += v[i];
    }
    s
}

impl Point {
    #[differentiate]
    pub fn norm2(&self) -> f64 {
        self.x * self.x + self.y * self.y + self.w[0]
    }
}
";

impl CampaignCase {
    /// The module file: with the attribute, or plain (without any `#[differentiate]`).
    fn file(&self, differentiated: bool) -> String {
        let mut out = format!(
            "// {}\n#![allow(unused_imports)]\nuse crate::prelude::*;\nuse autodiff_core::{{differentiate, no_grad}};\n\n",
            self.origin
        );
        let text = if differentiated {
            format!("#[differentiate({})]\n{}", self.args, self.text)
        } else {
            self.text.replace("#[differentiate]\n", "")
        };
        if self.method {
            out.push_str("impl Point {\n");
        }
        out.push_str(&text);
        if self.method {
            out.push_str("}\n");
        }
        out
    }
}

fn campaign() {
    let started = Instant::now();
    let budget = budget(400);
    let dir = std::env::var_os("AUTODIFF_FUZZ_CAMPAIGN")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("autodiff-fuzzcheck"));
    let tool = if std::env::var_os("AUTODIFF_FUZZ_CLIPPY").is_some() {
        "clippy"
    } else {
        "check"
    };
    let limits = Limits {
        max_loop_nest: 8,
        max_if_depth: 140,
        unsupported: true,
    };

    // The cases, and what the macro says of each.
    let mut cases = Vec::new();
    let pool = Pool::new(Vec::new());
    for iteration in budget.iterations() {
        let mut rng = Rng::for_case(budget.seed, "campaign", iteration);
        let f = generate(&mut rng, iteration, limits);
        let mut origin = format!(
            "campaign: AUTODIFF_FUZZ_SEED={:#x} iteration {iteration}, {}",
            budget.seed, f.shape
        );
        let mut text = f.text.clone();
        if rng.chance(0.3) {
            // A mutation that leaves an item; the plain check says whether it is valid Rust.
            let tokens: TokenStream = f.text.parse().unwrap();
            let mut own = Vec::new();
            idents(&tokens, &mut own);
            for _ in 0..20 {
                let mut mutated = tokens.clone();
                for _ in 0..rng.range(1, 2) {
                    mutated = mutate(&mut rng, mutated, &pool, &own);
                }
                if syn::parse2::<syn::Item>(mutated.clone()).is_ok()
                    && let Ok(file) = syn::parse2::<syn::File>(mutated)
                {
                    text = prettyplease::unparse(&file);
                    origin.push_str(", mutated");
                    break;
                }
            }
        }
        let args: TokenStream = f.args.parse().unwrap();
        let input: TokenStream = match text.parse() {
            Ok(input) => input,
            Err(_) => continue,
        };
        let (verdict, macro_errors) = match expand_quietly(&args, &input) {
            Err(message) => {
                let known = KNOWN_PANICS
                    .iter()
                    .position(|k| message.contains(k.message));
                match known {
                    Some(k) => (Verdict::KnownPanic(k), vec![message]),
                    None => {
                        eprintln!("UNKNOWN PANIC {message}\n{origin}\n{text}");
                        (Verdict::KnownPanic(usize::MAX), vec![message])
                    }
                }
            }
            Ok(output) => {
                let mut messages = Vec::new();
                error_messages(&output, &mut messages);
                if contains_compile_error(&output) {
                    (Verdict::Rejected, messages)
                } else {
                    (Verdict::Accepted, messages)
                }
            }
        };
        cases.push(CampaignCase {
            id: cases.len(),
            origin,
            args: f.args,
            text,
            method: f.method,
            verdict,
            macro_errors,
            attr_line: if f.method { 7 } else { 6 },
        });
    }
    eprintln!(
        "campaign: {} cases: {} accepted, {} rejected, {} panics ({:.1?})",
        cases.len(),
        cases
            .iter()
            .filter(|c| c.verdict == Verdict::Accepted)
            .count(),
        cases
            .iter()
            .filter(|c| c.verdict == Verdict::Rejected)
            .count(),
        cases
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::KnownPanic(_)))
            .count(),
        started.elapsed()
    );

    // The scratch crate.
    let core = repository_root().join("autodiff-core");
    let core = core.canonicalize().unwrap_or(core);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fuzzcheck\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\nautodiff-core = {{ path = {:?} }}\n\n[workspace]\n",
            core.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/prelude.rs"), CAMPAIGN_PRELUDE).unwrap();
    let _ = std::fs::remove_file(dir.join("log.txt"));
    let _ = std::fs::remove_dir_all(dir.join("src/plain"));
    let _ = std::fs::remove_dir_all(dir.join("src/attr"));
    std::fs::create_dir_all(dir.join("src/plain")).unwrap();
    std::fs::create_dir_all(dir.join("src/attr")).unwrap();
    for case in &cases {
        std::fs::write(
            dir.join(format!("src/plain/c{:05}.rs", case.id)),
            case.file(false),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("src/attr/c{:05}.rs", case.id)),
            case.file(true),
        )
        .unwrap();
    }

    // Plain: which cases are valid Rust, and their own warnings.
    let testable: Vec<usize> = cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::KnownPanic(_)))
        .map(|c| c.id)
        .collect();
    let (plain, invalid) = check_until_clean(&dir, tool, "plain", &testable);
    eprintln!(
        "campaign: {} of {} cases are valid Rust ({:.1?})",
        testable.len() - invalid.len(),
        testable.len(),
        started.elapsed()
    );
    let valid: Vec<usize> = testable
        .iter()
        .copied()
        .filter(|id| !invalid.contains(id))
        .collect();

    // Differentiated: accepted and rejected cases in separate batches, so that the errors of
    // rejected functions cannot hide those of accepted ones.
    let accepted: Vec<usize> = valid
        .iter()
        .copied()
        .filter(|&id| cases[id].verdict == Verdict::Accepted)
        .collect();
    let rejected: Vec<usize> = valid
        .iter()
        .copied()
        .filter(|&id| cases[id].verdict == Verdict::Rejected)
        .collect();
    let (attr_accepted, _) = check_until_clean(&dir, tool, "attr", &accepted);
    let (attr_rejected, _) = check_until_clean(&dir, tool, "attr", &rejected);

    // The report.
    let mut findings: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut add = |kind: &str, text: &str, id: usize| {
        // Applied twice, every generated item is defined twice: one known finding, kept apart.
        let twice = if cases[id].text.contains("#[differentiate]\n") {
            " (applied twice)"
        } else {
            ""
        };
        let ids = findings
            .entry(format!("{kind}{twice}: {}", normalize(text)))
            .or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    };
    let empty = Vec::new();
    for &id in &accepted {
        let diagnostics = attr_accepted.get(&id).unwrap_or(&empty);
        let own = plain.get(&id).unwrap_or(&empty);
        for d in diagnostics.iter().filter(|d| d.error) {
            add("ACCEPTED BUT DOES NOT COMPILE", &d.text, id);
        }
        // rustc runs its later lints only on code without errors.
        if !diagnostics.iter().any(|d| d.error) {
            for d in new_warnings(diagnostics, own) {
                add("accepted, generated code warns", &d.text, id);
            }
        }
    }
    for &id in &rejected {
        let case = &cases[id];
        let diagnostics = attr_rejected.get(&id).unwrap_or(&empty);
        let own = plain.get(&id).unwrap_or(&empty);
        let mut macro_errors_seen = 0;
        for d in diagnostics.iter().filter(|d| d.error) {
            let from_macro = case
                .macro_errors
                .iter()
                .any(|m| d.text.ends_with(m.as_str()) || d.text.contains(m.as_str()));
            if from_macro {
                macro_errors_seen += 1;
                if d.line == case.attr_line && !d.text.contains("option") && !d.text.contains("wrt")
                {
                    add(
                        "rejected, error at the attribute instead of the construct",
                        &d.text,
                        id,
                    );
                }
            } else {
                add("rejected, cascade error", &d.text, id);
            }
        }
        // An error that only follows from another: a pattern parameter is not counted as a
        // parameter, so the function then seems to have none.
        let follows = "has no parameter to differentiate";
        if case.macro_errors.len() > 1 && case.macro_errors.iter().any(|m| m.contains(follows)) {
            add("rejected, cascade inside the macro", follows, id);
        }
        if macro_errors_seen == 0 {
            add(
                "rejected, but rustc shows none of the macro's errors",
                "",
                id,
            );
        }
        for (k, d) in diagnostics.iter().enumerate().filter(|(_, d)| d.error) {
            if diagnostics[..k]
                .iter()
                .any(|e| (e.line, e.column, &e.text) == (d.line, d.column, &d.text))
            {
                add("rejected, the same error twice", &d.text, id);
            }
        }
        for d in new_warnings(diagnostics, own) {
            add("rejected, warning from generated code", &d.text, id);
        }
    }

    let mut report = format!(
        "# Compile campaign\n\nseed {:#x}, {} cases: {} valid Rust ({} accepted, {} rejected), {} known panics; {} with `cargo {tool}`, {:.0?}\n",
        budget.seed,
        cases.len(),
        valid.len(),
        accepted.len(),
        rejected.len(),
        cases.len() - testable.len(),
        dir.display(),
        started.elapsed()
    );
    let mut sorted: Vec<(&String, &Vec<usize>)> = findings.iter().collect();
    sorted.sort_by_key(|(kind, ids)| (!kind.starts_with("ACCEPTED"), std::cmp::Reverse(ids.len())));
    let mut all_ids = String::new();
    for (kind, ids) in sorted {
        let _ = write!(report, "\n## {} × {kind}\n\nfiles:", ids.len());
        for id in ids.iter().take(8) {
            let _ = write!(report, " src/attr/c{id:05}.rs");
        }
        report.push('\n');
        let _ = writeln!(all_ids, "{kind}\t{ids:?}");
    }
    std::fs::write(dir.join("findings.txt"), all_ids).unwrap();
    let mut invalid_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for id in &invalid {
        for d in plain.get(id).unwrap_or(&empty).iter().filter(|d| d.error) {
            *invalid_reasons.entry(normalize(&d.text)).or_default() += 1;
        }
    }
    let _ = write!(
        report,
        "\n## Why the invalid cases are invalid (the generator's mistakes and the mutations')\n\n"
    );
    let mut invalid_reasons: Vec<(String, usize)> = invalid_reasons.into_iter().collect();
    invalid_reasons.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (reason, n) in invalid_reasons.iter().take(20) {
        let _ = writeln!(report, "- {n} × {reason}");
    }
    std::fs::write(dir.join("report.md"), &report).unwrap();
    let mut table = String::from("id\tverdict\tvalid\n");
    for case in &cases {
        let _ = writeln!(
            table,
            "{}\t{:?}\t{}",
            case.id,
            case.verdict,
            valid.contains(&case.id)
        );
    }
    std::fs::write(dir.join("cases.tsv"), table).unwrap();
    eprintln!("{report}");
}

/// Warnings of the differentiated version that the plain one does not have (as many times as
/// they are more).
fn new_warnings<'a>(attr: &'a [Diagnostic], plain: &[Diagnostic]) -> Vec<&'a Diagnostic> {
    let mut budget: BTreeMap<&str, usize> = BTreeMap::new();
    for d in plain.iter().filter(|d| !d.error) {
        *budget.entry(d.text.as_str()).or_default() += 1;
    }
    let mut out = Vec::new();
    for d in attr.iter().filter(|d| !d.error) {
        match budget.get_mut(d.text.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(d),
        }
    }
    out
}

/// Checks the cases `ids` of `kind` (`plain` or `attr`) in batches; a batch with errors is checked
/// again without the cases that have them, until it is clean, so that no error hides another
/// case's. Returns the diagnostics per case, and the cases with errors.
fn check_until_clean(
    dir: &Path,
    tool: &str,
    kind: &str,
    ids: &[usize],
) -> (BTreeMap<usize, Vec<Diagnostic>>, Vec<usize>) {
    let mut diagnostics: BTreeMap<usize, Vec<Diagnostic>> = BTreeMap::new();
    let mut failed = Vec::new();
    for batch in ids.chunks(250) {
        let mut remaining: Vec<usize> = batch.to_vec();
        loop {
            let found = cargo_check(dir, tool, kind, &remaining);
            let with_errors: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|id| found.get(id).is_some_and(|ds| ds.iter().any(|d| d.error)))
                .collect();
            for (&id, ds) in &found {
                // A case's last complete check holds its diagnostics.
                diagnostics.insert(id, ds.clone());
            }
            for id in &remaining {
                if !found.contains_key(id) {
                    diagnostics.remove(id);
                }
            }
            let unattributed = found.contains_key(&usize::MAX);
            if with_errors.is_empty() {
                if unattributed {
                    eprintln!("errors outside the cases: {:?}", found[&usize::MAX]);
                }
                break;
            }
            failed.extend(&with_errors);
            remaining.retain(|id| !with_errors.contains(id));
            if remaining.is_empty() {
                break;
            }
        }
    }
    (diagnostics, failed)
}

/// `cargo check` of a crate holding the cases `ids` of `kind`; diagnostics per case (`usize::MAX`:
/// outside the cases).
fn cargo_check(
    dir: &Path,
    tool: &str,
    kind: &str,
    ids: &[usize],
) -> BTreeMap<usize, Vec<Diagnostic>> {
    let mut lib = String::from("#![allow(clippy::all)]\nmod prelude;\n");
    let _ = writeln!(lib, "mod {kind} {{");
    for id in ids {
        let _ = writeln!(lib, "    mod c{id:05};");
    }
    lib.push_str("}\n");
    // The allow in `lib` would silence clippy's lints in the cases too: with clippy, allow only
    // the ones of the prelude.
    // Clippy's deny-by-default lints reject the generator's `x == x` and `loop { ..; break }`,
    // which are valid Rust; allow those (in the user's code and its copies alike).
    if tool == "clippy" {
        lib = lib.replace(
            "#![allow(clippy::all)]\n",
            "#![allow(clippy::eq_op, clippy::never_loop, clippy::overly_complex_bool_expr)]\n#![allow(clippy::ifs_same_cond, clippy::self_assignment, clippy::nonminimal_bool)]\n",
        );
    }
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    let output =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([tool, "--message-format=short"])
            .current_dir(dir)
            .output()
            .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Every run's output, for looking closer.
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log.txt"))
        .unwrap();
    let _ = std::io::Write::write_all(
        &mut log,
        format!("==== cargo {tool} of {kind} {ids:?}\n{stderr}\n").as_bytes(),
    );
    let mut found: BTreeMap<usize, Vec<Diagnostic>> = BTreeMap::new();
    let prefix = format!("src/{kind}/c");
    for line in stderr.lines() {
        let (id, rest) = match line.strip_prefix(&prefix) {
            Some(rest) => match rest.split_once(".rs:") {
                Some((id, rest)) => (id.parse().unwrap_or(usize::MAX), rest),
                None => continue,
            },
            None if line.starts_with("src/") || line.starts_with("error[") => (usize::MAX, line),
            None => continue,
        };
        let mut parts = rest.splitn(3, ':');
        let line_no = parts
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        let column = parts
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        let text = parts.next().unwrap_or(rest).trim().to_owned();
        let error = text.starts_with("error");
        found.entry(id).or_default().push(Diagnostic {
            line: line_no,
            column,
            error,
            text,
        });
    }
    if !output.status.success() && found.is_empty() {
        panic!("cargo {tool} failed without diagnostics:\n{stderr}");
    }
    found
}

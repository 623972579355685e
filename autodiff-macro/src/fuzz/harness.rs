//! Running one input through the driver, checking the properties, and reporting.

use super::*;

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
pub(super) fn expand_quietly(
    args: &TokenStream,
    input: &TokenStream,
) -> Result<TokenStream, String> {
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
pub(super) enum Verdict {
    /// No `compile_error!` in the expansion.
    Accepted,
    Rejected,
    /// A panic listed in [`KNOWN_PANICS`].
    KnownPanic(usize),
}

/// An expansion that broke a property.
struct Failure {
    pub(super) what: String,
    pub(super) case: String,
}

#[derive(Default)]
pub(super) struct Stats {
    pub(super) cases: usize,
    pub(super) accepted: usize,
    pub(super) rejected: usize,
    /// Inputs that do not parse as an item (rustc would not hand them to the macro).
    pub(super) not_items: usize,
    pub(super) known: BTreeMap<&'static str, usize>,
    slow: Vec<(Duration, String)>,
    slowest: Duration,
    /// Time spent in the macro.
    expanding: Duration,
    failures: Vec<Failure>,
    /// The macro's error messages, shortened, with how often each came.
    reasons: BTreeMap<String, usize>,
    /// With `AUTODIFF_FUZZ_VERBOSE`: the first case of each reason, with its full message.
    pub(super) examples: BTreeMap<String, String>,
    /// Distinct failure messages seen (only the first case of each is kept).
    pub(super) seen: BTreeMap<String, usize>,
}

/// An expansion slower than this is reported.
pub(super) const SLOW: Duration = Duration::from_millis(100);

pub(super) fn contains_compile_error(tokens: &TokenStream) -> bool {
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
pub(super) fn normalize(message: &str) -> String {
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
pub(super) fn error_messages(tokens: &TokenStream, out: &mut Vec<String>) {
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
pub(super) fn check_case(
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
pub(super) struct Budget {
    pub(super) seed: u64,
    pub(super) iterations: u64,
    pub(super) only: Option<u64>,
}

const DEFAULT_SEED: u64 = 0xf022_5eed;

pub(super) fn budget(default_iterations: u64) -> Budget {
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
    pub(super) fn iterations(&self) -> impl Iterator<Item = u64> + use<> {
        match self.only {
            Some(only) => only..only + 1,
            None => 0..self.iterations,
        }
    }
}

/// Prints the statistics and fails with the first case of every distinct failure.
pub(super) fn finish(source: &str, budget: &Budget, stats: Stats, started: Instant) {
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
pub(super) fn render_case(
    source: &str,
    seed: u64,
    iteration: u64,
    args: &TokenStream,
    input: &str,
) -> String {
    format!(
        "  rerun: AUTODIFF_FUZZ_SEED={seed:#x} AUTODIFF_FUZZ_ONLY={iteration} cargo test -p autodiff-macro fuzz::{source} -- --nocapture\n  #[differentiate({args})]\n{input}"
    )
}

/// The input's tokens as text, with `⟦ ⟧` marking invisible (`Delimiter::None`) groups, which
/// plain `to_string` drops.
pub(super) fn show_tokens(tokens: &TokenStream) -> String {
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
pub(super) fn print_single(args: &TokenStream, input: &TokenStream) {
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

//! The compile campaign (not in CI): see [`super::compile_campaign`].

use super::*;

/// One function of the campaign.
struct CampaignCase {
    id: usize,
    /// How to make it again.
    pub(super) origin: String,
    pub(super) args: String,
    pub(super) text: String,
    pub(super) method: bool,
    verdict: Verdict,
    /// The messages of the macro's `compile_error!`s.
    macro_errors: Vec<String>,
    /// The line of `#[differentiate(..)]` in its file (from 1).
    attr_line: usize,
}

/// A diagnostic of `cargo check --message-format=short`.
#[derive(Clone, Debug)]
struct Diagnostic {
    pub(super) line: usize,
    column: usize,
    pub(super) error: bool,
    /// `error[E0425]: cannot find value ...`, without the location.
    pub(super) text: String,
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
    pub(super) fn file(&self, differentiated: bool) -> String {
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

pub(super) fn campaign() {
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
        if let Some(case) = campaign_case(budget.seed, iteration, limits, &pool, cases.len()) {
            cases.push(case);
        }
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
    write_scratch_crate(&dir, &cases);

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
    let mut findings = Findings::new();
    for &id in &accepted {
        accepted_findings(&mut findings, &cases[id], &attr_accepted, &plain);
    }
    for &id in &rejected {
        rejected_findings(&mut findings, &cases[id], &attr_rejected, &plain);
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
    write_findings(&mut report, &dir, &findings);
    write_invalid_reasons(&mut report, &invalid, &plain);
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

/// The diagnostics of each case, by its id.
type DiagnosticsById = BTreeMap<usize, Vec<Diagnostic>>;

/// What the campaign found, `kind: normalized message`, and the ids of the cases that show it.
type Findings = BTreeMap<String, Vec<usize>>;

/// Case `id` of the campaign: a generated function, sometimes mutated, and what the macro says
/// of it. `None` when the mutation does not tokenize.
fn campaign_case(
    seed: u64,
    iteration: u64,
    limits: Limits,
    pool: &Pool,
    id: usize,
) -> Option<CampaignCase> {
    let mut rng = Rng::for_case(seed, "campaign", iteration);
    let f = generate(&mut rng, iteration, limits);
    let mut origin = format!(
        "campaign: AUTODIFF_FUZZ_SEED={seed:#x} iteration {iteration}, {}",
        f.shape
    );
    let mut text = f.text.clone();
    if rng.chance(0.3) {
        // A mutation that leaves an item; the plain check says whether it is valid Rust.
        if let Some(mutated) = mutated_item(&mut rng, &f.text, pool) {
            text = mutated;
            origin.push_str(", mutated");
        }
    }
    let args: TokenStream = f.args.parse().unwrap();
    let input: TokenStream = text.parse().ok()?;
    let (verdict, macro_errors) = macro_verdict(&args, &input, &origin, &text);
    Some(CampaignCase {
        id,
        origin,
        args: f.args,
        text,
        method: f.method,
        verdict,
        macro_errors,
        attr_line: if f.method { 7 } else { 6 },
    })
}

/// `text` mutated until it is still an item (20 tries), pretty-printed.
fn mutated_item(rng: &mut Rng, text: &str, pool: &Pool) -> Option<String> {
    let tokens: TokenStream = text.parse().unwrap();
    let mut own = Vec::new();
    idents(&tokens, &mut own);
    for _ in 0..20 {
        let mut mutated = tokens.clone();
        for _ in 0..rng.range(1, 2) {
            mutated = mutate(rng, mutated, pool, &own);
        }
        if syn::parse2::<syn::Item>(mutated.clone()).is_ok()
            && let Ok(file) = syn::parse2::<syn::File>(mutated)
        {
            return Some(prettyplease::unparse(&file));
        }
    }
    None
}

/// Whether the macro accepts, rejects or panics on the case; the messages of its errors (or
/// of the panic).
fn macro_verdict(
    args: &TokenStream,
    input: &TokenStream,
    origin: &str,
    text: &str,
) -> (Verdict, Vec<String>) {
    match expand_quietly(args, input) {
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
    }
}

/// The scratch crate: each case twice, as written (`src/plain`) and differentiated
/// (`src/attr`).
fn write_scratch_crate(dir: &Path, cases: &[CampaignCase]) {
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
    for case in cases {
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
}

/// Counts `case` under `kind: text`.
fn add_finding(findings: &mut Findings, case: &CampaignCase, kind: &str, text: &str) {
    // Applied twice, every generated item is defined twice: one known finding, kept apart.
    let twice = if case.text.contains("#[differentiate]\n") {
        " (applied twice)"
    } else {
        ""
    };
    let ids = findings
        .entry(format!("{kind}{twice}: {}", normalize(text)))
        .or_default();
    if !ids.contains(&case.id) {
        ids.push(case.id);
    }
}

/// An accepted case must compile, without warnings its plain version does not have.
fn accepted_findings(
    findings: &mut Findings,
    case: &CampaignCase,
    attr: &DiagnosticsById,
    plain: &DiagnosticsById,
) {
    let empty = Vec::new();
    let diagnostics = attr.get(&case.id).unwrap_or(&empty);
    let own = plain.get(&case.id).unwrap_or(&empty);
    for d in diagnostics.iter().filter(|d| d.error) {
        add_finding(findings, case, "ACCEPTED BUT DOES NOT COMPILE", &d.text);
    }
    // rustc runs its later lints only on code without errors.
    if !diagnostics.iter().any(|d| d.error) {
        for d in new_warnings(diagnostics, own) {
            add_finding(findings, case, "accepted, generated code warns", &d.text);
        }
    }
}

/// A rejected case must show the macro's errors at the construct, once each, and nothing that
/// follows from them.
fn rejected_findings(
    findings: &mut Findings,
    case: &CampaignCase,
    attr: &DiagnosticsById,
    plain: &DiagnosticsById,
) {
    let empty = Vec::new();
    let diagnostics = attr.get(&case.id).unwrap_or(&empty);
    let own = plain.get(&case.id).unwrap_or(&empty);
    let mut macro_errors_seen = 0;
    for d in diagnostics.iter().filter(|d| d.error) {
        let from_macro = case
            .macro_errors
            .iter()
            .any(|m| d.text.ends_with(m.as_str()) || d.text.contains(m.as_str()));
        if from_macro {
            macro_errors_seen += 1;
            if d.line == case.attr_line && !d.text.contains("option") && !d.text.contains("wrt") {
                add_finding(
                    findings,
                    case,
                    "rejected, error at the attribute instead of the construct",
                    &d.text,
                );
            }
        } else {
            add_finding(findings, case, "rejected, cascade error", &d.text);
        }
    }
    // An error that only follows from another: a pattern parameter is not counted as a
    // parameter, so the function then seems to have none.
    let follows = "has no parameter to differentiate";
    if case.macro_errors.len() > 1 && case.macro_errors.iter().any(|m| m.contains(follows)) {
        add_finding(
            findings,
            case,
            "rejected, cascade inside the macro",
            follows,
        );
    }
    if macro_errors_seen == 0 {
        add_finding(
            findings,
            case,
            "rejected, but rustc shows none of the macro's errors",
            "",
        );
    }
    for (k, d) in diagnostics.iter().enumerate().filter(|(_, d)| d.error) {
        if diagnostics[..k]
            .iter()
            .any(|e| (e.line, e.column, &e.text) == (d.line, d.column, &d.text))
        {
            add_finding(findings, case, "rejected, the same error twice", &d.text);
        }
    }
    for d in new_warnings(diagnostics, own) {
        add_finding(
            findings,
            case,
            "rejected, warning from generated code",
            &d.text,
        );
    }
}

/// The findings, most common first (failures to compile before all), into the report; their
/// full lists of cases into `findings.txt`.
fn write_findings(report: &mut String, dir: &Path, findings: &Findings) {
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
}

/// Why the invalid cases are not valid Rust, the 20 most common reasons.
fn write_invalid_reasons(report: &mut String, invalid: &[usize], plain: &DiagnosticsById) {
    let empty = Vec::new();
    let mut invalid_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for id in invalid {
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

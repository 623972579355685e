//! The generator of the randomized differential test `tests/random_functions_?.rs`, as a test
//! target of its own so that it builds (and can rewrite the generated files) even when the
//! generated code does not compile.
//!
//! - `generated_files_are_up_to_date` regenerates the files in memory and compares them with
//!   the checked-in ones, so the generator and the files cannot drift apart;
//! - `regenerate` (ignored) rewrites them:
//!   `cargo test --test random_functions_gen -- --ignored regenerate`;
//! - `write_subset` (ignored) writes a file with a few of the functions, for bisecting.

#[path = "random/generator.rs"]
mod generator;

use std::path::PathBuf;

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn generated_files_are_up_to_date() {
    let (files, _) = generator::generate();
    for (relative, text) in files {
        let on_disk = std::fs::read_to_string(path(&relative)).unwrap_or_default();
        assert!(
            on_disk == text,
            "{relative} is not what tests/random/generator.rs generates; run \
             `cargo test --test random_functions_gen -- --ignored regenerate`"
        );
    }
}

#[test]
fn every_rule_and_construct_is_generated() {
    let (_, stats) = generator::generate();
    for rule in generator::RULES {
        let n = stats.rules.get(*rule).copied().unwrap_or(0);
        assert!(n >= 20, "rule `{rule}` is used {n} times");
    }
    for construct in generator::CONSTRUCTS {
        let n = stats.constructs.get(*construct).copied().unwrap_or(0);
        assert!(n >= 5, "construct `{construct}` occurs {n} times");
    }
}

#[test]
#[ignore = "rewrites tests/random_functions_?.rs; run after changing the generator"]
fn regenerate() {
    let (files, stats) = generator::generate();
    for (relative, text) in &files {
        std::fs::write(path(relative), text).expect("write a generated file");
    }
    println!(
        "wrote {} files: {} functions, {} lines of function bodies",
        files.len(),
        generator::FUNCTIONS,
        stats.lines
    );
    for (name, n) in &stats.rules {
        println!("rule {name}: {n}");
    }
    for (name, n) in &stats.constructs {
        println!("construct {name}: {n}");
    }
}

/// Writes a file with only some of the functions, for bisecting a failure in a scratch crate:
/// `SUBSET=12,40-45 SUBSET_OUT=/tmp/scratch/tests/subset.rs cargo test --test
/// random_functions_gen -- --ignored write_subset` (the file expects `random/` next to it).
#[test]
#[ignore = "writes a file named by SUBSET_OUT"]
fn write_subset() {
    let spec = std::env::var("SUBSET").expect("SUBSET, e.g. 12,40-45");
    let out = std::env::var("SUBSET_OUT").expect("SUBSET_OUT, a path");
    let mut indices = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => indices.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => indices.push(part.parse().unwrap()),
        }
    }
    let (text, _) = generator::generate_subset(&indices);
    std::fs::write(out, text).expect("write the subset");
}

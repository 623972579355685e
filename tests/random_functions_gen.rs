//! The generators of the randomized differential test, as a test target of their own (it
//! builds even when generated code does not compile):
//!
//! - the statement-level corpus (`tests/random/generator.rs`, `tests/random_functions_?.rs`)
//!   uses every rule of the derivative table and every construct it counts;
//! - the program-shape corpus (`tests/random/shapes.rs`, `tests/random_shapes_?.rs`) holds
//!   every shape, variant and rule, and the patterns of each open bug whose switch is on;
//! - `shape_report` prints what the shape corpus built for this run holds (`-- --nocapture`);
//! - `write_subset` (ignored) writes a test file with a few programs, for minimizing a failure.
//!
//! Both corpora are written into `OUT_DIR` by the build script, from the environment
//! (`AUTODIFF_RANDOM_SEEDS`, `AUTODIFF_RANDOM_SCALE`, `AUTODIFF_RANDOM_OPEN_BUGS`).

// Both generators include the shared random number generator (`rng.rs`) as a module.
#![allow(clippy::duplicate_mod)]

#[path = "random/generator.rs"]
#[allow(dead_code)] // the build script uses the rest
mod generator;

#[path = "random/shapes.rs"]
#[allow(dead_code)] // the build script uses the rest
mod shapes;

fn config() -> shapes::Config {
    let get = |v: &str| std::env::var(v).ok();
    shapes::Config::from_vars(
        get("AUTODIFF_RANDOM_SEEDS").as_deref(),
        get("AUTODIFF_RANDOM_SCALE").as_deref(),
        get("AUTODIFF_RANDOM_OPEN_BUGS").as_deref(),
    )
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

/// Every shape, variant and rule occurs in the CI-size shape corpus, and so does every pattern
/// of an open bug once its switch is on.
#[test]
fn every_shape_is_generated() {
    let mut all = shapes::Config::ci();
    all.open = shapes::OPEN_BUGS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    for config in [shapes::Config::ci(), all] {
        let mut stats = shapes::Stats::default();
        let programs = shapes::programs(&config, &mut stats);
        assert_eq!(programs.len(), config.seeds.len() * config.per_seed);
        for key in shapes::REQUIRED {
            let n = stats.count(key);
            assert!(n >= 20, "`{key}` occurs {n} times");
        }
        for rule in shapes::RULES {
            let n = stats.count(&format!("rule: {rule}"));
            assert!(n >= 50, "rule `{rule}` is used {n} times");
        }
        for (bug, key) in shapes::REQUIRED_WITH_BUG {
            let n = stats.count(key);
            let still_open = shapes::OPEN_BUGS.iter().any(|(name, _)| name == bug);
            if !still_open {
                assert!(n >= 10, "`{key}` (fixed bug `{bug}`) occurs {n} times");
            } else if config.open.contains(*bug) {
                assert!(n >= 10, "`{key}` (open bug `{bug}`) occurs {n} times");
                assert!(stats.bug_programs.get(*bug).copied().unwrap_or(0) >= 10);
            } else {
                assert_eq!(n, 0, "`{key}` is generated while `{bug}` is left out");
                assert!(!stats.bug_programs.contains_key(*bug));
            }
        }
        // Combinations: each carried kind in each kind of loop, and shapes nested in loops.
        for kind in ["copy", "shift", "verlet", "swap"] {
            for lp in ["for", "while", "while data", "loop"] {
                let n: usize = stats
                    .combos
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with(&format!("carried: {kind} x"))
                            && k.contains(&format!("loop: {lp} x"))
                    })
                    .map(|(_, n)| n)
                    .sum();
                assert!(n >= 5, "carried `{kind}` in `{lp}` loops: {n}");
            }
        }
        let nested: usize = stats
            .combos
            .iter()
            .filter(|(k, _)| k.starts_with("nest: carried > "))
            .map(|(_, n)| n)
            .sum();
        assert!(nested >= 200, "shapes nested in carried loops: {nested}");
    }
}

/// Prints what the shape corpus of this build holds: `cargo test --test random_functions_gen
/// shape_report -- --nocapture`.
#[test]
fn shape_report() {
    let report = include_str!(concat!(env!("OUT_DIR"), "/random_report.txt"));
    println!("{report}");
    let config = config();
    assert!(
        report.starts_with(&format!(
            "shape corpus: {} programs",
            config.seeds.len() * config.per_seed
        )),
        "the report is of another configuration"
    );
}

/// Writes a test file with only some programs of the shape corpus (named like `g0_00123`), for
/// minimizing a failure: `SUBSET=g0_00012,g1_00400 SUBSET_OUT=tests/scratch.rs cargo test --test
/// random_functions_gen -- --ignored write_subset`, then `cargo test --test scratch`.
#[test]
#[ignore = "writes a file named by SUBSET_OUT"]
fn write_subset() {
    let names: Vec<String> = std::env::var("SUBSET")
        .expect("SUBSET, e.g. g0_00012,g1_00400")
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let out = std::env::var("SUBSET_OUT").expect("SUBSET_OUT, a path");
    let text = shapes::generate_subset(&config(), &names);
    let file = format!(
        "#[path = \"random/harness.rs\"]\nmod harness;\n\n{}",
        text.replace(
            "harness::run(\"random_shapes_0\"",
            "harness::run(\"subset\""
        )
    );
    std::fs::write(out, file).expect("write the subset");
}

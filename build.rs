//! Writes the randomized differential test's corpora into `OUT_DIR`: the statement-level one
//! (`tests/random/generator.rs`, included by `tests/random_functions_?.rs`) and the program-shape
//! one (`tests/random/shapes.rs`, included by `tests/random_shapes_?.rs`), and a report of what
//! the shape corpus holds (`random_report.txt`, printed by `random_functions_gen`).
//!
//! The shape corpus's size and the open-bug patterns it holds come from the environment:
//! `AUTODIFF_RANDOM_SEEDS`, `AUTODIFF_RANDOM_SCALE`, `AUTODIFF_RANDOM_OPEN_BUGS` (see
//! `tests/random/shapes.rs`).

// Both generators include the shared random number generator (`rng.rs`) as a module.
#![allow(clippy::duplicate_mod)]

use std::path::{Path, PathBuf};

#[path = "tests/random/generator.rs"]
#[allow(dead_code)] // the test targets use the rest
mod generator;

#[path = "tests/random/shapes.rs"]
#[allow(dead_code)] // the test targets use the rest
mod shapes;

const VARS: [&str; 3] = [
    "AUTODIFF_RANDOM_SEEDS",
    "AUTODIFF_RANDOM_SCALE",
    "AUTODIFF_RANDOM_OPEN_BUGS",
];

/// Writes `text` to `path` unless it is there already (an unchanged file is not rebuilt).
fn write(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tests/random");
    for var in VARS {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let (files, _) = generator::generate();
    for (name, text) in files {
        write(&out.join(name), &text);
    }
    let get = |v: &str| std::env::var(v).ok();
    let config = shapes::Config::from_vars(
        get(VARS[0]).as_deref(),
        get(VARS[1]).as_deref(),
        get(VARS[2]).as_deref(),
    );
    let (files, stats) = shapes::generate(&config);
    for (name, text) in files {
        write(&out.join(name), &text);
    }
    write(&out.join("random_report.txt"), &stats.report(&config));
}

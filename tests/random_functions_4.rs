//! Randomized differential test of `#[differentiate]`, statement-level corpus, part 4 of 4:
//! random functions (written by `tests/random/generator.rs` into `OUT_DIR` at build time), each
//! gradient compared with central finite differences at several random points, and `_grad`,
//! `_pullback` and `_grad_into` compared with each other and with the function.
//! Run all parts with `cargo test --test 'random_functions_?'`.

// Clippy reads part 1, written by the same generator; this part is compiled and run only by
// `cargo test` (clippy would double its build time in CI).
#![cfg(not(clippy))]

#[path = "random/harness.rs"]
mod harness;

include!(concat!(env!("OUT_DIR"), "/random_functions_4.rs"));

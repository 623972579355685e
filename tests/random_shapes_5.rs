//! Randomized differential test of `#[differentiate]`, program-shape corpus, part 5 of 6:
//! programs composed of the shapes real code combines (written by `tests/random/shapes.rs`
//! into `OUT_DIR` at build time), each compared at several random points with its dual-number
//! twin (value and gradient, to rounding) and with central finite differences, and `_grad`,
//! `_pullback` and `_grad_into` compared with each other and with the function.
//! Run all parts with `cargo test --test 'random_shapes_?'`.

// Clippy reads part 1, written by the same generator; this part is compiled and run only by
// `cargo test` (clippy would double its build time in CI).
#![cfg(not(clippy))]

#[path = "random/harness.rs"]
mod harness;

include!(concat!(env!("OUT_DIR"), "/random_shapes_5.rs"));

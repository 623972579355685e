//! Randomized differential test of `#[differentiate]`, program-shape corpus, part 1 of 6:
//! programs composed of the shapes real code combines (written by `tests/random/shapes.rs`
//! into `OUT_DIR` at build time), each compared at several random points with its dual-number
//! twin (value and gradient, to rounding) and with central finite differences, and `_grad`,
//! `_pullback` and `_grad_into` compared with each other and with the function.
//! Run all parts with `cargo test --test 'random_shapes_?'`.

#[path = "random/harness.rs"]
mod harness;

include!(concat!(env!("OUT_DIR"), "/random_shapes_1.rs"));

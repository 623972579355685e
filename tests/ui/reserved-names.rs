// The loops `#[differentiate]` writes out hold their accumulators in names starting with
// `__autodiff`: a user's name of that form would be shadowed, so it is an error.
use autodiff_core::differentiate;

#[differentiate]
fn scaled(a: &[[f64; 2]]) -> f64 {
    let __autodiff_acc = 3.0;
    a.iter().flatten().map(|v| v * __autodiff_acc).sum::<f64>()
}

fn main() {}

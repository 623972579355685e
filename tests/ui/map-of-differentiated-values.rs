// A map collected from differentiated values: kept as written, it would cut their derivatives,
// so an error that says how to keep them.
use autodiff_core::differentiate;
use std::collections::HashMap;

#[differentiate]
fn first(x: &[f64]) -> f64 {
    let by_position: HashMap<usize, f64> = x.iter().copied().enumerate().collect();
    by_position[&0] * x[1]
}

fn main() {}

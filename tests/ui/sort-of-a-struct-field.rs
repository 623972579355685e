// Sorting sorts the function's own arrays, not a struct's field.
use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Debug, Differentiable)]
struct Samples {
    v: Vec<f64>,
}

#[differentiate]
fn median(s: Samples) -> f64 {
    let mut s = s;
    s.v.sort_by(|a, b| a.total_cmp(b));
    s.v[s.v.len() / 2]
}

fn main() {}

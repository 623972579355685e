// A search's position mapped to the value there: the whole chain is taken for a position, so
// a type error that says to bind the position first, not a derivative dropped.
use autodiff_core::differentiate;

#[differentiate]
fn first_above(p: &[f64], x: f64) -> f64 {
    let k = [0.5, 1.0, 2.0];
    k.iter().position(|&v| v > x).map(|i| p[i]).unwrap_or(0.0) * x
}

fn main() {}

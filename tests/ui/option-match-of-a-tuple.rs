use autodiff_core::differentiate;

// A `match` on a tuple of `Option`s the function builds: the message names what works.
#[differentiate]
fn on_a_tuple(v: &[f64], w: &[f64]) -> f64 {
    let a = v.iter().copied().reduce(f64::max);
    let b = w.iter().copied().reduce(f64::min);
    match (a, b) {
        (Some(a), Some(b)) => a - b,
        _ => 0.0,
    }
}

fn main() {}

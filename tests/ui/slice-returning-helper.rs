use autodiff_core::differentiate;

// A row of a flat matrix returned by reference: the message says how to slice instead.
#[differentiate]
fn row(a: &[f64], i: usize, n: usize) -> &[f64] {
    &a[i * n..(i + 1) * n]
}

fn main() {}

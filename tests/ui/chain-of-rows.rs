// Rows of two matrices chained: a chained item cannot be a row of either, so an error that says
// to write two loops (a struct's `Vec<f64>` fields chain, as numbers).
use autodiff_core::differentiate;

#[differentiate]
fn both(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    a.iter().chain(b.iter()).map(|r| r[0] * r[1]).sum()
}

fn main() {}

use autodiff_core::differentiate;

// `mem::take` of a number: the value to leave is better written out.
#[differentiate]
fn drained(x: f64) -> f64 {
    let mut acc = x * 2.0;
    let old = std::mem::take(&mut acc);
    old + acc
}

fn main() {}

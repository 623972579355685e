use autodiff_core::differentiate;

// Slice patterns test the length and name the elements; a guard on one is not supported.
#[differentiate]
fn guarded(us: &[f64]) -> f64 {
    match us {
        [u] if *u > 0.0 => *u,
        [first, ..] => *first,
        [] => 0.0,
    }
}

fn main() {}

use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Copy, Differentiable)]
pub struct Polar(pub f64, pub f64, pub f64);

// `..` at the end works (`Polar(r, ..)`); before other fields it would need the count.
#[differentiate]
fn last(q: Polar) -> f64 {
    let Polar(r, .., z) = q;
    r * z
}

fn main() {}

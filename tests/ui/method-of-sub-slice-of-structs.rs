use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
pub struct Atom {
    pub q: f64,
}

#[derive(Clone, Differentiable)]
pub struct Mol {
    pub atoms: Vec<Atom>,
}

// The slice's `split_first`, which was taken for a method without a rule and offered `no_grad`,
// although the derivative flows to the atoms; a bound sub-slice works.
#[differentiate]
fn first_of_rest(m: &Mol) -> f64 {
    match m.atoms[1..].split_first() {
        Some((a, rest)) => a.q * rest.len() as f64,
        None => 0.0,
    }
}

fn main() {}

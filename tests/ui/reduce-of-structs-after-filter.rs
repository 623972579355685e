use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Debug, Differentiable)]
pub struct Atom {
    pub x: f64,
    pub q: f64,
}

#[derive(Clone, Debug, Differentiable)]
pub struct Mol {
    pub atoms: Vec<Atom>,
    pub k: f64,
}

// `reduce` after `filter` takes numbers; of structs (or rows), `max_by` says the same.
#[differentiate]
fn widest(m: &Mol) -> f64 {
    m.atoms
        .iter()
        .filter(|a| a.q > 0.0)
        .reduce(|a, b| if a.x > b.x { a } else { b })
        .map(|a| a.q * a.x)
        .unwrap_or(m.k)
}

fn main() {}

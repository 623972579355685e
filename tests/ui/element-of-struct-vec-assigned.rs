use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Debug, Differentiable)]
struct Layer {
    w: Vec<f64>,
    b: f64,
}

#[derive(Clone, Debug, Differentiable)]
struct Net {
    layers: Vec<Layer>,
}

#[differentiate]
fn tied(m: &Net, x: f64) -> f64 {
    let mut n = m.clone();
    n.layers[0] = Layer { w: vec![x, 1.0], b: x };
    n.layers[1].b = x;
    n.layers[0].b + n.layers[1].b
}

fn main() {}

use autodiff_core::{Differentiable, differentiate};

#[differentiate]
fn halve_until_small(x: f64) -> f64 {
    if x < 1.0 { x } else { halve_until_small(x / 2.0) }
}

#[derive(Clone, Differentiable)]
struct Model {
    w: f64,
}

#[differentiate]
impl Model {
    #[differentiate]
    fn unroll(&self, x: f64) -> f64 {
        if x > 0.0 { self.unroll(x - 1.0) } else { self.w }
    }
}

fn main() {}

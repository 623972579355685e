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

    #[differentiate]
    fn decay(&self, n: f64) -> f64 {
        if n < 1.0 { self.w } else { self.w * Self::decay(self, n - 1.0) }
    }
}

fn main() {}

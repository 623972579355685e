use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct Model {
    w: f64,
}

impl Model {
    #[differentiate]
    fn loss(self: Box<Self>, x: f64) -> f64 {
        self.w * x
    }
}

fn main() {}

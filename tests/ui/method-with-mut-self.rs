use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct Counter {
    total: f64,
}

impl Counter {
    #[differentiate]
    fn add(&mut self, x: f64) -> f64 {
        self.total * x
    }
}

fn main() {}

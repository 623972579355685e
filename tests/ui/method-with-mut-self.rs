use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct Counter {
    total: f64,
    cells: Vec<f64>,
}

impl Counter {
    // One error: the body's writes to `self` are what `&mut self` is for, not more errors.
    #[differentiate]
    fn add(&mut self, x: f64) -> f64 {
        self.cells[0] = x * 2.0;
        self.total * x
    }
}

fn main() {}

// The generated items are not the trait's: a trait `impl` cannot hold them.
use autodiff_core::{Differentiable, differentiate};

trait Dynamics {
    fn accel(&self, x: f64) -> f64;
}

#[derive(Clone, Copy, Debug, Differentiable)]
struct Spring {
    k: f64,
}

#[differentiate]
impl Dynamics for Spring {
    #[differentiate]
    fn accel(&self, x: f64) -> f64 {
        -self.k * x
    }
}

fn main() {}

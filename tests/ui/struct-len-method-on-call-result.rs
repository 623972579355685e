use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Copy, Differentiable)]
struct Vec2 {
    x: f64,
    y: f64,
}

impl Vec2 {
    #[differentiate]
    fn new(x: f64, y: f64) -> Self {
        Vec2 { x, y }
    }

    /// A norm named like a container's length.
    #[differentiate]
    fn len(&self) -> f64 {
        (self.x * self.x + self.y * self.y).sqrt()
    }
}

// With method syntax the macro cannot tell the struct's `len` from a container's: taken for a
// count, it would be a constant with a zero gradient, so a float there must not compile.
#[differentiate]
fn norm_of(x: f64) -> f64 {
    let n = Vec2::new(x, 1.0).len();
    n * 2.0
}

fn main() {
    let _ = norm_of_grad(1.0);
}

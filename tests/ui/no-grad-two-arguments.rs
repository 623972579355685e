use autodiff_core::{differentiate, no_grad};

#[differentiate]
fn f(x: f64, y: f64) -> f64 {
    let c = no_grad(x, y);
    c * x
}

fn main() {}

use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct Model {
    w: f64,
}

#[differentiate]
fn by_value(m: Model, x: f64) -> f64 {
    m.w * x
}

#[differentiate]
fn caller(m: &Model, x: f64) -> f64 {
    by_value(m.clone(), x)
}

fn main() {
    let _ = caller_grad(&Model { w: 2.0 }, 1.0);
}

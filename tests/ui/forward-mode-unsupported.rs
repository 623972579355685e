use autodiff_core::differentiate;

#[derive(Clone, autodiff_core::Differentiable)]
struct Point {
    x: f64,
    y: f64,
}

#[differentiate(jvp)]
fn point(x: f64) -> Point {
    Point { x, y: x }
}

fn main() {}

use autodiff_core::differentiate;

#[derive(Clone, autodiff_core::Differentiable)]
struct Point {
    x: f64,
    y: f64,
}

#[differentiate(hessian)]
fn norm_of_polar(r: f64, phi: f64) -> f64 {
    // Forward mode does not build structs yet.
    let p = Point { x: r * phi.cos(), y: r * phi.sin() };
    (p.x * p.x + p.y * p.y).sqrt()
}

#[differentiate(jvp)]
fn point(x: f64) -> Point {
    Point { x, y: x }
}

fn main() {}

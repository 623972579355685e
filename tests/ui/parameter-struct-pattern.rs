use autodiff_core::differentiate;

#[derive(Clone)]
struct Point {
    x: f64,
    y: f64,
}

// One error, at the pattern: not also "`Point` is not `Differentiable`" from the generated
// signatures, nor "no parameter to differentiate".
#[differentiate]
fn f(Point { x, y }: Point) -> f64 {
    x * y
}

fn main() {}

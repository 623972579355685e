use autodiff_core::differentiate;

// `hessian` on a function returning a vector makes it callable from functions with `hessian`;
// it has no Hessian of its own.
#[differentiate(hessian)]
fn vector(x: f64, y: f64) -> [f64; 2] {
    [x * y, x * x]
}

fn main() {
    let _ = vector_hvp(1.0, 2.0, (1.0, 0.0));
    let _ = vector_hessian(1.0, 2.0);
}

use autodiff_core::differentiate;

#[differentiate(jvp)]
fn square(x: f64) -> f64 {
    x * x
}

#[differentiate(hessian)]
fn f(x: f64) -> f64 {
    // `square` has forward mode but no `hessian`: the error says to add it.
    square(x).sin()
}

fn main() {
    let _ = f_hvp(1.0, 1.0);
}

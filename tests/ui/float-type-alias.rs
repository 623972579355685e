use autodiff_core::differentiate;

type Real = f64;

#[differentiate]
fn f(x: Real) -> Real {
    x * x
}

fn main() {}

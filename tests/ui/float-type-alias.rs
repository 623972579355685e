use autodiff_core::differentiate;

type Real = f64;

#[differentiate]
fn f(x: Real) -> Real {
    x * x
}

fn main() {
    // The pullback works: the alias is taken for a `Differentiable` type.
    let _dx: f64 = f_pullback(2.0, 1.0);
    let _ = f_grad(2.0);
}

use autodiff_core::differentiate;

fn helper(v: f64) -> f64 {
    v * v
}

#[differentiate]
fn f(x: f64) -> f64 {
    helper(x) + x
}

fn main() {}

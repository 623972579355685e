use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    f64::rem_euclid(x, 2.0) * x
}

fn main() {}

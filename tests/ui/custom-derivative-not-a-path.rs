use autodiff_core::differentiate;

#[differentiate(pullback = |x: f64, d: f64| d * x)]
fn square(x: f64) -> f64 {
    x * x
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: &mut f64, y: f64) -> f64 {
    *x * y
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: [f64; 2]) -> f64 {
    x[0] = x[1] * 2.0;
    x[0]
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let y: f64;
    let z = y * x;
    y = 2.0;
    z + y
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let sine = f64::sin;
    sine(x)
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let whole = x.fract();
    whole * x
}

fn main() {}

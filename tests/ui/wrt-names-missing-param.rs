use autodiff_core::differentiate;

#[differentiate(wrt(w, bias))]
fn f(w: f64, b: f64, x: f64) -> f64 {
    w * x + b
}

fn main() {}

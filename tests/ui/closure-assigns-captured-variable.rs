use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let mut calls = 0.0;
    let mut square = |v: f64| {
        calls += 1.0;
        v * v
    };
    square(x) + calls
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
struct Point {
    x: f64,
    y: f64,
}

fn main() {}

use autodiff_core::differentiate;

struct Pair {
    a: f64,
    b: f64,
}

#[differentiate]
fn f(x: f64) -> f64 {
    let pair = Pair { a: x, b: 2.0 };
    pair.a * pair.b
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: [f64; 2]) -> f64 {
    if let [a, 0.0] = x { a } else { x[1] }
}

fn main() {}

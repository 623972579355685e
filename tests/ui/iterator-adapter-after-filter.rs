use autodiff_core::differentiate;

#[differentiate]
fn f(x: &[f64]) -> f64 {
    x.iter()
        .filter(|v| **v > 0.0)
        .enumerate()
        .map(|(i, v)| i as f64 * v)
        .sum()
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn positive_mean(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.retain(|&v| v > 0.0);
    s.iter().sum::<f64>() / s.len() as f64
}

fn main() {}

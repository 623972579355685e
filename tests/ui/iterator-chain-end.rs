use autodiff_core::differentiate;

// The chain's `map` is supported; its end, `unzip`, is what is missing.
#[differentiate]
fn sin_cos(x: &[f64]) -> f64 {
    let (s, c): (Vec<f64>, Vec<f64>) = x.iter().map(|v| (v.sin(), v.cos())).unzip();
    s[0] * c[0]
}

fn main() {}

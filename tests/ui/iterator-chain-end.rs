use autodiff_core::differentiate;

// The chain's `map` is supported; its end, `unzip`, is what is missing.
#[differentiate]
fn sin_cos(x: &[f64]) -> f64 {
    let (s, c): (Vec<f64>, Vec<f64>) = x.iter().map(|v| (v.sin(), v.cos())).unzip();
    s[0] * c[0]
}

// `map` of an `Option`: an iterator adapter only.
#[differentiate]
fn picked(x: &[f64], idx: Option<usize>) -> f64 {
    idx.map(|i| x[i]).unwrap_or(0.0)
}

fn main() {}

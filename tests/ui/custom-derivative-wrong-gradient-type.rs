use autodiff_core::differentiate;

#[differentiate(pullback = sum_derivative)]
fn sum(v: [f64; 3]) -> f64 {
    v[0] + v[1] + v[2]
}

// The gradient of an array parameter is the array `[f64; 3]`, not a `Vec`.
fn sum_derivative(_v: [f64; 3], d_out: f64) -> Vec<f64> {
    vec![d_out; 3]
}

fn main() {}

use autodiff_core::differentiate;

// The conversion is what is not supported, not the `unwrap` after it.
#[differentiate]
fn f(theta: &[f64]) -> f64 {
    let [mu, log_s]: [f64; 2] = theta.try_into().unwrap();
    mu * log_s.exp()
}

fn main() {}

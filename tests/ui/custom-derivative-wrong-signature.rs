use autodiff_core::differentiate;

#[differentiate(pullback = softplus_derivative)]
fn softplus(x: f64, y: f64) -> f64 {
    (1.0 + (x * y).exp()).ln()
}

// Forgets `y`, and returns one adjoint where the function has two parameters.
fn softplus_derivative(x: f64, d_out: f64) -> f64 {
    d_out / (1.0 + (-x).exp())
}

fn main() {}

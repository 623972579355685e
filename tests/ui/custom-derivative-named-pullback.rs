use autodiff_core::differentiate;

// `softplus_pullback` is the name of the function the macro generates.
#[differentiate(pullback = softplus_pullback)]
fn softplus(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

fn softplus_pullback(x: f64, d_out: f64) -> f64 {
    d_out / (1.0 + (-x).exp())
}

fn main() {
    let _ = softplus_grad(0.5);
}

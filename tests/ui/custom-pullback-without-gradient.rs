use autodiff_core::differentiate;

// The custom derivative gives a gradient for `x` only; `k` is active at the call.
#[differentiate(wrt(x), pullback = scaled_derivative)]
fn scaled(x: f64, k: f64) -> f64 {
    k * x
}

fn scaled_derivative(_x: f64, k: f64, d_out: f64) -> f64 {
    k * d_out
}

#[differentiate]
fn caller(x: f64) -> f64 {
    scaled(1.0, x)
}

fn main() {
    let _ = caller_grad(0.5);
}

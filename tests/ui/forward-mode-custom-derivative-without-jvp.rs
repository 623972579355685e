use autodiff_core::differentiate;

fn softplus_derivative(x: f64, d_out: f64) -> f64 {
    d_out / (1.0 + (-x).exp())
}

#[differentiate(pullback = softplus_derivative)]
fn softplus(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

#[differentiate(jvp)]
fn f(x: f64) -> f64 {
    // A custom derivative gives no forward rule unless `jvp = ..` names one.
    softplus(x) * 2.0
}

#[differentiate(hessian, pullback = softplus_derivative)]
fn twice(x: f64) -> f64 {
    x.exp()
}

fn main() {
    let _ = f_jvp(1.0, 1.0);
}

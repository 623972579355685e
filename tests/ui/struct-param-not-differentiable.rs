use autodiff_core::differentiate;

#[derive(Clone)]
struct Config {
    rate: f64,
}

// No `wrt`: every parameter is active, and `Config` does not derive `Differentiable`.
#[differentiate]
fn step(x: f64, config: &Config) -> f64 {
    x * config.rate
}

fn main() {
    let _ = step_grad(1.0, &Config { rate: 0.5 });
}

use autodiff_core::Differentiable;

#[derive(Clone)]
struct Config {
    rate: f64,
}

#[derive(Clone, Differentiable)]
struct Model {
    w: Vec<f64>,
    config: Config,
}

fn main() {}

use autodiff_core::Differentiable;

#[derive(Clone, Differentiable)]
enum Activation {
    Relu,
    Leaky(f64),
}

fn main() {}

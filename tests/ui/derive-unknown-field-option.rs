use autodiff_core::Differentiable;

#[derive(Clone, Differentiable)]
struct Layer {
    w: Vec<f64>,
    #[differentiable(frozen)]
    b: f64,
}

fn main() {}

use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct Layer {
    w: [f64; 2],
}

impl Layer {
    // Differentiates the weights only.
    #[differentiate(wrt(self))]
    fn forward(&self, x: &[f64; 2]) -> f64 {
        self.w[0] * x[0] + self.w[1] * x[1]
    }
}

// The input is active here, but `forward` gives no derivative for it.
#[differentiate(wrt(x))]
fn input_sensitivity(layer: &Layer, x: &[f64; 2]) -> f64 {
    layer.forward(x)
}

fn main() {
    let layer = Layer { w: [1.0, 2.0] };
    let _ = input_sensitivity_grad(&layer, &[0.5, 1.5]);
}

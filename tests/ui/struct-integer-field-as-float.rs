use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct Mean {
    total: f64,
    count: usize,
}

// The macro cannot see that `count` is an integer, and differentiates it as a float.
#[differentiate]
fn mean(m: &Mean) -> f64 {
    m.total / m.count as f64
}

fn main() {
    let _ = mean_grad(&Mean { total: 3.0, count: 2 });
}

use autodiff_core::Differentiable;

#[derive(Clone, Copy, Differentiable)]
union Bits {
    float: f64,
    int: u64,
}

fn main() {}

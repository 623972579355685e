use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
pub struct W {
    pub a: [f64; 3],
    pub w: Vec<f64>,
}

// Methods that change a struct's field or a sub-slice of one in place would change a copy.
#[differentiate]
fn shifted(p: &W) -> f64 {
    let mut me = p.clone();
    me.a.rotate_left(1);
    me.w.reverse();
    me.w[1..].fill(0.0);
    me.a[0] + me.w[0]
}

fn main() {}

use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Copy, Differentiable)]
pub struct Layer {
    pub w: f64,
}

#[differentiate]
fn penalty(a: f64, b: f64) -> f64 {
    let layers = [Layer { w: a }, Layer { w: b }];
    let mut s = 0.0;
    for l in layers {
        s += l.w * l.w;
    }
    s
}

// The repeat form, `vec![s; n]`, which was taken for a `Vec` of numbers.
#[differentiate]
fn gauss_points(k0: f64, x: f64) -> f64 {
    let st = vec![Layer { w: k0 }; 2];
    st[1].w * x
}

fn main() {}

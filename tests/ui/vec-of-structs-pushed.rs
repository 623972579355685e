use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct State {
    soc: f64,
    v1: f64,
}

// A history of struct values kept in a `Vec` the function builds is not supported: one error,
// at the value pushed.
#[differentiate]
fn history(r1: f64) -> f64 {
    let s = State { soc: 0.8, v1: r1 };
    let mut hist: Vec<State> = Vec::new();
    hist.push(s);
    hist[0].v1 * 2.0
}

// `.into()` of a differentiated number says what converts it.
#[differentiate]
fn widen(x: f32) -> f64 {
    let y: f64 = x.into();
    y * 2.0
}

fn main() {
    let _ = history_grad(0.01);
    let _ = widen_grad(0.5);
}

use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Copy, Differentiable)]
pub struct State {
    pub x: f64,
    pub v: f64,
}

#[differentiate]
fn energy(s0: &State, k: f64) -> f64 {
    let s = State { x: s0.x * k, v: s0.v };
    match s {
        State { x, v } if x > 0.0 => x * v,
        _ => 0.0,
    }
}

fn main() {}

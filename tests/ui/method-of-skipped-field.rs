use autodiff_core::{Differentiable, differentiate};

#[derive(Clone)]
struct Env {
    dt: f64,
}

impl Env {
    #[differentiate(wrt(s, u))]
    fn step(&self, s: f64, u: f64) -> f64 {
        s + self.dt * u
    }
}

#[derive(Clone, Differentiable)]
struct Policy {
    k: f64,
    #[differentiable(skip)]
    env: Env,
}

impl Policy {
    // `self.env` is part of `self`, which is differentiated: the call is written
    // `no_grad(&self.env).step(s, u)` to say that the field has no derivative.
    #[differentiate]
    fn rollout(&self, s: f64) -> f64 {
        self.env.step(s, self.k * s)
    }
}

fn main() {
    let p = Policy { k: 0.5, env: Env { dt: 0.1 } };
    let _ = p.rollout_grad(1.0);
}

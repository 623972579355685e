use autodiff_core::{Differentiable, differentiate};

#[derive(Clone)]
struct Transition {
    s: f64,
    r: f64,
}

#[derive(Clone, Differentiable)]
struct Critic {
    w: f64,
    #[differentiable(skip)]
    buffer: Vec<Transition>,
}

impl Critic {
    // The buffer is part of `self`: its items are read as `no_grad(&self.buffer)`.
    #[differentiate]
    fn by_loop(&self) -> f64 {
        let mut l = 0.0;
        for tr in &self.buffer {
            l += (self.w * tr.s - tr.r).powi(2);
        }
        l
    }

    #[differentiate]
    fn by_index(&self) -> f64 {
        self.w * self.buffer[0].s
    }
}

fn main() {
    let c = Critic { w: 0.5, buffer: vec![Transition { s: 1.0, r: 0.2 }] };
    let _ = c.by_loop_grad();
    let _ = c.by_index_grad();
}

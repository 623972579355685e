use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Copy, Differentiable)]
struct V2 {
    a: f64,
    b: f64,
}

impl V2 {
    #[differentiate]
    fn mk(a: f64, b: f64) -> Self {
        V2 { a, b }
    }

    /// Named like `f64::floor`, whose derivative is zero.
    #[differentiate]
    fn floor(&self) -> f64 {
        self.a * 5.0
    }
}

#[derive(Clone, Copy, Differentiable)]
struct Holder {
    d: V2,
}

// Taken for the float rule, the struct's `floor` would be a constant with a zero gradient: a
// struct there must not compile (the path form `V2::floor(&v)` is the struct's).
#[differentiate]
fn of_call(x: f64, y: f64) -> f64 {
    V2::mk(x, y).floor()
}

#[differentiate]
fn of_field(p: &Holder) -> f64 {
    p.d.floor()
}

fn main() {
    let _ = of_call_grad(2.0, 1.0);
    let _ = of_field_grad(&Holder {
        d: V2 { a: 2.0, b: 1.0 },
    });
}

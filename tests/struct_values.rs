//! Structs held as values: built by struct literals and tuple-struct calls, returned by
//! differentiated functions, copied (`*s0`, `.clone()`), passed on by value and stepped in loops.
//! Each gradient against forward-mode dual numbers (as a twin on plain floats) or finite
//! differences, each value bit for bit against the function.

#![allow(clippy::needless_range_loop)]

mod common;

use autodiff_core::{Differentiable, differentiate};
use common::{assert_close, assert_gradient};

#[derive(Clone, Copy, Differentiable)]
struct State {
    x: f64,
    v: f64,
}

#[differentiate]
fn euler_step(s: &State, k: f64, dt: f64) -> State {
    State {
        x: s.x + dt * s.v,
        v: s.v - dt * k * s.x,
    }
}

#[differentiate]
fn oscillate(s0: &State, k: f64) -> f64 {
    let mut s = *s0;
    for _ in 0..10 {
        s = euler_step(&s, k, 0.1);
    }
    s.x * s.v
}

#[test]
fn a_state_stepped_by_a_function_returning_the_next_state() {
    let s0 = State { x: 1.0, v: 0.2 };
    let (value, (ds, dk)) = oscillate_grad(&s0, 2.0);
    assert_eq!(value.to_bits(), oscillate(&s0, 2.0).to_bits());
    assert_gradient(
        |p| oscillate(&State { x: p[0], v: p[1] }, p[2]),
        &[1.0, 0.2, 2.0],
        &[ds.x, ds.v, dk],
        1e-8,
    );
    // The step's own pullback with a state seed.
    let (dstate, dk, ddt) = euler_step_pullback(&s0, 2.0, 0.1, State { x: 1.0, v: -1.0 });
    assert_close(dstate.x, 1.0 + 0.1 * 2.0, 1e-15);
    assert_close(dstate.v, 0.1 - 1.0, 1e-15);
    assert_close(dk, 0.1 * 1.0, 1e-15);
    assert_close(ddt, 0.2 + 2.0 * 1.0, 1e-15);
}

#[derive(Clone, Differentiable)]
struct Layer {
    w: [f64; 2],
    b: f64,
}

#[differentiate]
fn apply(layer: Layer, x: [f64; 2]) -> f64 {
    (layer.w[0] * x[0] + layer.w[1] * x[1] + layer.b).tanh()
}

#[differentiate]
fn built_layer(a: f64, b: f64) -> f64 {
    let w = [a, 2.0 * b];
    let layer = Layer { w, b: a * b };
    let copy = layer.clone();
    apply(layer, [0.5, -1.0]) + apply(copy, [1.0, 1.0])
}

#[derive(Clone, Differentiable)]
struct Polar(f64, f64);

#[differentiate]
fn to_polar(x: f64, y: f64) -> Polar {
    Polar(x.hypot(y), y.atan2(x))
}

#[differentiate]
fn polar_area(x: f64, y: f64) -> f64 {
    let p = to_polar(x, y);
    let Polar(r, theta) = p.clone();
    p.0 * r * theta
}

#[test]
fn struct_literals_tuple_structs_and_copies() {
    for (a, b) in [(0.3, -0.7), (1.2, 0.4)] {
        let (value, (da, db)) = built_layer_grad(a, b);
        assert_eq!(value.to_bits(), built_layer(a, b).to_bits());
        assert_gradient(|p| built_layer(p[0], p[1]), &[a, b], &[da, db], 1e-8);
        let (value, (dx, dy)) = polar_area_grad(a, b);
        assert_eq!(value.to_bits(), polar_area(a, b).to_bits());
        assert_gradient(|p| polar_area(p[0], p[1]), &[a, b], &[dx, dy], 1e-7);
    }
}

// ------------------------------------------------------------------------------------------
// Methods of generic `impl` blocks: `#[differentiate]` on the `impl` too, so that the generated
// functions can name its parameters.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Linear<const N: usize> {
    w: [f64; N],
    b: f64,
}

#[differentiate]
impl<const N: usize> Linear<N> {
    #[differentiate]
    fn predict(&self, x: &[f64; N]) -> f64 {
        let mut s = self.b;
        for i in 0..N {
            s += self.w[i] * x[i];
        }
        s.tanh()
    }

    #[differentiate(wrt(self))]
    fn loss(&self, x: &[f64; N], y: f64) -> f64 {
        let p = self.predict(x);
        (p - y) * (p - y)
    }

    fn bias(&self) -> f64 {
        self.b
    }
}

#[test]
fn methods_of_a_generic_impl() {
    let m = Linear {
        w: [0.5, -0.25, 0.1],
        b: 0.2,
    };
    let x = [1.0, 2.0, 3.0];
    let (value, d) = m.loss_grad(&x, 0.7);
    assert_eq!(value.to_bits(), m.loss(&x, 0.7).to_bits());
    assert_eq!(m.bias(), 0.2);
    let flat = [m.w[0], m.w[1], m.w[2], m.b];
    let d_flat = [d.w[0], d.w[1], d.w[2], d.b];
    assert_gradient(
        |p| {
            Linear {
                w: [p[0], p[1], p[2]],
                b: p[3],
            }
            .loss(&x, 0.7)
        },
        &flat,
        &d_flat,
        1e-8,
    );
}

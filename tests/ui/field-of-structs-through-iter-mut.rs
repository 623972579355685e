use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
pub struct Body {
    pub pos: [f64; 2],
    pub vel: [f64; 2],
}

#[derive(Clone, Differentiable)]
pub struct World {
    pub bodies: Vec<Body>,
}

// A field of a `Vec` of structs written through `iter_mut()`: the error points at the
// write, where it pointed at the attribute.
#[differentiate]
fn drift(world: &World, dt: f64) -> f64 {
    let mut w = world.clone();
    for b in w.bodies.iter_mut() {
        b.pos[0] += b.vel[0] * dt;
    }
    w.bodies[0].pos[0]
}

fn main() {}

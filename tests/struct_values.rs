//! Structs held as values: built by struct literals and tuple-struct calls, returned by
//! differentiated functions, copied (`*s0`, `.clone()`), passed on by value and stepped in loops.
//! Each gradient against forward-mode dual numbers (as a twin on plain floats) or finite
//! differences, each value bit for bit against the function.

#![allow(clippy::needless_range_loop, clippy::assign_op_pattern)] // written the way simulations are

mod common;

use autodiff_core::{Differentiable, differentiate, no_grad};
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

// ------------------------------------------------------------------------------------------
// Methods called on struct values the function holds: a literal bound to a local, a literal
// itself, a constructor's result, a struct returned by a differentiated function; `&self` and
// `self`, inside loops and through a differentiated caller.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Differentiable)]
struct Spring {
    k: f64,
    rest: f64,
}

impl Spring {
    #[differentiate]
    fn new(k: f64, rest: f64) -> Self {
        Spring { k, rest }
    }

    #[differentiate]
    fn energy(&self, x: f64) -> f64 {
        let d = x - self.rest;
        0.5 * self.k * d * d
    }

    /// By value: called in path form, `Spring::scaled_energy(s, x)`.
    #[differentiate]
    fn scaled_energy(self, x: f64) -> f64 {
        2.0 * self.energy(x)
    }

    #[differentiate]
    fn stiffer(&self, by: f64) -> Spring {
        Spring {
            k: self.k * by,
            rest: self.rest,
        }
    }
}

/// A chain of springs between consecutive positions, each built in the loop.
#[differentiate]
fn chain_energy(k: &[f64], rest: f64, x: &[f64]) -> f64 {
    let mut e = 0.0;
    for i in 0..k.len() {
        let s = Spring { k: k[i], rest };
        e += s.energy(x[i + 1] - x[i]);
        let t = Spring::new(k[i] * x[i], rest * 0.5);
        e += t.stiffer(1.5).energy(x[i]);
    }
    e + Spring { k: rest, rest: 0.0 }.energy(x[0])
        + Spring::scaled_energy(Spring::new(rest, 0.1), x[1])
}

fn chain_energy_plain(k: &[f64], rest: f64, x: &[f64]) -> f64 {
    let energy = |k: f64, r: f64, x: f64| 0.5 * k * (x - r) * (x - r);
    let mut e = 0.0;
    for i in 0..k.len() {
        e += energy(k[i], rest, x[i + 1] - x[i]);
        e += energy(k[i] * x[i] * 1.5, rest * 0.5, x[i]);
    }
    e + energy(rest, 0.0, x[0]) + 2.0 * energy(rest, 0.1, x[1])
}

/// A struct returned by a differentiated function, then a method of it; and a differentiated
/// caller of the whole.
#[differentiate]
fn stepped_energy(k: f64, x: f64) -> f64 {
    let s = Spring::new(k, 1.0);
    let u = s.stiffer(x);
    u.energy(x) * s.energy(2.0 * x)
}

#[differentiate]
fn sum_of_stepped(k: &[f64], x: f64) -> f64 {
    let mut total = 0.0;
    for &ki in k {
        total += stepped_energy(ki, x);
    }
    total
}

#[test]
fn methods_of_struct_values() {
    let k = [1.5, 0.7, 2.2];
    let rest = 0.4;
    let x = [0.1, 0.9, 1.6, 2.0];
    let (value, (dk, drest, dx)) = chain_energy_grad(&k, rest, &x);
    assert_eq!(value.to_bits(), chain_energy(&k, rest, &x).to_bits());
    assert_close(value, chain_energy_plain(&k, rest, &x), 1e-14);
    let flat: Vec<f64> = k
        .iter()
        .chain([rest].iter())
        .chain(x.iter())
        .copied()
        .collect();
    let split = |p: &[f64]| chain_energy_plain(&p[..3], p[3], &p[4..]);
    let grad: Vec<f64> = dk
        .iter()
        .chain([drest].iter())
        .chain(dx.iter())
        .copied()
        .collect();
    assert_gradient(split, &flat, &grad, 1e-7);
    let plain = |k: f64, x: f64| {
        let energy = |k: f64, r: f64, x: f64| 0.5 * k * (x - r) * (x - r);
        energy(k * x, 1.0, x) * energy(k, 1.0, 2.0 * x)
    };
    let (value, (dk, dx)) = stepped_energy_grad(1.3, 0.6);
    assert_eq!(value.to_bits(), stepped_energy(1.3, 0.6).to_bits());
    assert_gradient(|p| plain(p[0], p[1]), &[1.3, 0.6], &[dk, dx], 1e-7);
    let ks = [1.3, 0.2, 2.5];
    let (value, (dks, dx)) = sum_of_stepped_grad(&ks, 0.6);
    assert_eq!(value.to_bits(), sum_of_stepped(&ks, 0.6).to_bits());
    let mut flat = ks.to_vec();
    flat.push(0.6);
    let grad: Vec<f64> = dks.iter().copied().chain([dx]).collect();
    assert_gradient(
        |p| p[..3].iter().map(|&k| plain(k, p[3])).sum(),
        &flat,
        &grad,
        1e-7,
    );
}

// ------------------------------------------------------------------------------------------
// A struct's methods named like slice methods (`sum`, `last`) are the struct's when the
// receiver is a struct for sure; those named like float methods or `len` are called in path
// form (`Vec2::len(&v)`): with method syntax `v.len()` of a vector type was taken for a length,
// with a zero gradient, silently (now a compile error, `tests/ui`).
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Differentiable)]
struct Vec2 {
    x: f64,
    y: f64,
}

impl Vec2 {
    #[differentiate]
    fn len(&self) -> f64 {
        (self.x * self.x + self.y * self.y).sqrt()
    }

    #[differentiate]
    fn floor(&self) -> f64 {
        self.x * 0.5 + self.y
    }

    #[differentiate]
    fn exp(&self) -> f64 {
        self.x.exp() + self.y
    }

    #[differentiate]
    fn sum(&self) -> f64 {
        self.x + 2.0 * self.y
    }

    #[differentiate]
    fn last(&self) -> f64 {
        3.0 * self.y
    }

    #[differentiate]
    fn mul(&self, o: &Vec2) -> Vec2 {
        Vec2 {
            x: self.x * o.x,
            y: self.y * o.y,
        }
    }

    /// The same names called on `self`.
    #[differentiate]
    fn cost(&self, k: f64) -> f64 {
        k * Vec2::len(self) + Vec2::floor(self).floor() + Vec2::exp(self) * self.sum() - self.last()
    }
}

#[differentiate]
fn named_like_builtins(v: &Vec2, w: Vec2, k: f64) -> f64 {
    let u = Vec2 { x: k, y: w.y };
    let p = Vec2::mul(v, &w);
    Vec2::len(v)
        + Vec2::floor(&w) * Vec2::exp(&u)
        + p.sum()
        + Vec2 { x: 1.0, y: k }.last()
        + w.cost(k)
}

fn named_like_builtins_plain(v: [f64; 2], w: [f64; 2], k: f64) -> f64 {
    let len = |a: [f64; 2]| (a[0] * a[0] + a[1] * a[1]).sqrt();
    let floor = |a: [f64; 2]| a[0] * 0.5 + a[1];
    let exp = |a: [f64; 2]| a[0].exp() + a[1];
    let sum = |a: [f64; 2]| a[0] + 2.0 * a[1];
    let last = |a: [f64; 2]| 3.0 * a[1];
    let cost = |a: [f64; 2]| k * len(a) + floor(a).floor() + exp(a) * sum(a) - last(a);
    let p = [v[0] * w[0], v[1] * w[1]];
    len(v) + floor(w) * exp([k, w[1]]) + sum(p) + last([1.0, k]) + cost(w)
}

#[test]
fn methods_named_like_builtins() {
    let (v, w, k) = (Vec2 { x: 0.3, y: 1.4 }, Vec2 { x: -0.8, y: 0.6 }, 1.7);
    let (value, (dv, dw, dk)) = named_like_builtins_grad(&v, w, k);
    assert_eq!(value.to_bits(), named_like_builtins(&v, w, k).to_bits());
    let flat = [v.x, v.y, w.x, w.y, k];
    let plain = |p: &[f64]| named_like_builtins_plain([p[0], p[1]], [p[2], p[3]], p[4]);
    assert_close(value, plain(&flat), 1e-14);
    assert_gradient(plain, &flat, &[dv.x, dv.y, dw.x, dw.y, dk], 1e-7);
}

// ------------------------------------------------------------------------------------------
// A struct literal that copies a field without a derivative (`n: self.n`, skipped by the
// derive): nothing flows back into it (the adjoint's `+=` on a `usize` did not compile).
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Counted {
    a: f64,
    #[differentiable(skip)]
    n: usize,
}

impl Counted {
    #[differentiate]
    fn scaled(&self, f: f64) -> Counted {
        Counted {
            a: self.a * f,
            n: self.n,
        }
    }
}

#[differentiate]
fn counted_mean(c: &Counted, f: f64) -> f64 {
    let s = c.scaled(f);
    s.a * s.a / no_grad(s.n) as f64
}

#[test]
fn a_field_without_derivative_copied_into_a_literal() {
    let c = Counted { a: 1.5, n: 4 };
    let (value, (dc, df)) = counted_mean_grad(&c, 0.8);
    assert_eq!(value.to_bits(), counted_mean(&c, 0.8).to_bits());
    // (a f)² / n: d/da = 2 a f² / n, d/df = 2 a² f / n.
    assert_close(dc.a, 2.0 * 1.5 * 0.64 / 4.0, 1e-15);
    assert_close(df, 2.0 * 2.25 * 0.8 / 4.0, 1e-15);
    assert_eq!(dc.n, 4, "a skipped field is copied, not differentiated");
}

// ------------------------------------------------------------------------------------------
// Methods that take `self` by value, called with method syntax (the caller cannot see the
// receiver's kind; it reaches every method through `__m_method_vjp`, which borrows it), and
// `*b` of a struct behind a reference passed by value.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Differentiable)]
struct V3 {
    x: f64,
    y: f64,
    z: f64,
}

impl V3 {
    #[differentiate]
    fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    #[differentiate]
    fn norm2(&self) -> f64 {
        self.dot(*self)
    }

    #[differentiate]
    fn weighted(self, w: &[f64]) -> f64 {
        w[0] * self.x + w[1] * self.y + w[2] * self.z
    }
}

// `b.clone().dot(c)`: the copy is what the user of a non-`Copy` struct writes.
#[allow(clippy::clone_on_copy)]
#[differentiate(wrt(a, b))]
fn by_value_methods(a: V3, b: &V3, w: &[f64]) -> f64 {
    let c = V3 {
        x: a.x * b.y,
        y: a.y,
        z: 1.0,
    };
    let mut total = a.dot(*b) * 2.0 + b.norm2() + c.weighted(w) + V3::dot(a, c);
    for k in 0..w.len() {
        let s = V3 {
            x: w[k],
            y: a.z,
            z: b.x,
        };
        total += s.dot(c) * w[k];
    }
    total + b.clone().dot(c)
}

fn by_value_methods_plain(a: [f64; 3], b: [f64; 3], w: &[f64]) -> f64 {
    let dot = |p: [f64; 3], q: [f64; 3]| p[0] * q[0] + p[1] * q[1] + p[2] * q[2];
    let c = [a[0] * b[1], a[1], 1.0];
    let weighted = w[0] * c[0] + w[1] * c[1] + w[2] * c[2];
    let mut total = dot(a, b) * 2.0 + dot(b, b) + weighted + dot(a, c);
    for &wk in w {
        total += dot([wk, a[2], b[0]], c) * wk;
    }
    total + dot(b, c)
}

#[test]
fn self_by_value_methods_with_method_syntax() {
    let a = V3 {
        x: 1.0,
        y: 2.0,
        z: 3.0,
    };
    let b = V3 {
        x: 0.5,
        y: -1.0,
        z: 0.25,
    };
    let w = [0.3, 0.2, 0.1];
    let (value, (da, db)) = by_value_methods_grad(a, &b, &w);
    assert_eq!(value.to_bits(), by_value_methods(a, &b, &w).to_bits());
    let plain = |p: &[f64]| by_value_methods_plain([p[0], p[1], p[2]], [p[3], p[4], p[5]], &w);
    let flat = [a.x, a.y, a.z, b.x, b.y, b.z];
    assert_close(value, plain(&flat), 1e-14);
    let grad = [da.x, da.y, da.z, db.x, db.y, db.z];
    assert_gradient(plain, &flat, &grad, 1e-7);
    // The backward sweep run later, with another seed.
    let (later, pullback) = by_value_methods_vjp(a, &b, &w);
    assert_eq!(later.to_bits(), value.to_bits());
    let (da2, db2) = pullback(-2.0);
    assert_close(da2.y, -2.0 * da.y, 1e-14);
    assert_close(db2.z, -2.0 * db.z, 1e-14);
}

// ------------------------------------------------------------------------------------------
// A struct value chosen by a branch, or carried by a loop and replaced in a branch, then its
// methods and fields.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn chosen_springs(k: f64, x: f64) -> f64 {
    let s = if x > 0.0 {
        Spring { k, rest: 1.0 }
    } else {
        Spring {
            k: 2.0 * k,
            rest: 0.5,
        }
    };
    let t = if k > 1.0 {
        Spring::new(k, x)
    } else {
        Spring::new(x, k)
    };
    let mut u = Spring::new(k, 0.0);
    for i in 0..3 {
        if i % 2 == 0 {
            u = Spring::new(u.k * x, u.rest + k);
        }
    }
    s.energy(x) + t.energy(0.3) + s.k * t.rest + u.energy(x)
}

fn chosen_springs_plain(k: f64, x: f64) -> f64 {
    let energy = |k: f64, r: f64, x: f64| 0.5 * k * (x - r) * (x - r);
    let (sk, sr) = if x > 0.0 { (k, 1.0) } else { (2.0 * k, 0.5) };
    let (tk, tr) = if k > 1.0 { (k, x) } else { (x, k) };
    let (mut uk, mut ur) = (k, 0.0);
    for i in 0..3 {
        if i % 2 == 0 {
            (uk, ur) = (uk * x, ur + k);
        }
    }
    energy(sk, sr, x) + energy(tk, tr, 0.3) + sk * tr + energy(uk, ur, x)
}

#[test]
fn struct_values_chosen_by_branches() {
    // Both sides of each branch.
    for (k, x) in [(1.5, 0.7), (0.5, -0.4)] {
        let (value, (dk, dx)) = chosen_springs_grad(k, x);
        assert_eq!(value.to_bits(), chosen_springs(k, x).to_bits());
        assert_close(value, chosen_springs_plain(k, x), 1e-14);
        assert_gradient(
            |p| chosen_springs_plain(p[0], p[1]),
            &[k, x],
            &[dk, dx],
            1e-7,
        );
    }
}

// ------------------------------------------------------------------------------------------
// An array field copied whole from one struct value into another's literal.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Differentiable)]
struct Affine {
    w: [f64; 2],
    b: f64,
}

#[differentiate]
fn rebiased(t: &Affine, x: f64) -> f64 {
    let local = Affine {
        w: [x, 2.0 * x],
        b: t.b,
    };
    let a = Affine { w: t.w, b: x };
    let c = Affine {
        w: local.w,
        b: a.b * t.b,
    };
    a.w[0] * a.b + a.w[1] + c.w[0] * c.w[1] * c.b
}

fn rebiased_plain(w: [f64; 2], b: f64, x: f64) -> f64 {
    w[0] * x + w[1] + x * (2.0 * x) * (x * b)
}

#[test]
fn array_fields_copied_into_literals() {
    let t = Affine {
        w: [0.5, -1.25],
        b: 0.75,
    };
    let x = 1.3;
    let (value, (dt, dx)) = rebiased_grad(&t, x);
    assert_eq!(value.to_bits(), rebiased(&t, x).to_bits());
    assert_gradient(
        |p| rebiased_plain([p[0], p[1]], p[2], p[3]),
        &[t.w[0], t.w[1], t.b, x],
        &[dt.w[0], dt.w[1], dt.b, dx],
        1e-8,
    );
}

/// An array field copied into a local that a loop then writes (`let mut q = t.w;`).
#[differentiate]
fn relaxed_field(t: &Affine, x: f64) -> f64 {
    let mut q = t.w;
    for k in 0..3 {
        q[k % 2] += t.b * q[(k + 1) % 2] * x;
    }
    q[0] * q[1] + t.w[0]
}

fn relaxed_field_plain(w: [f64; 2], b: f64, x: f64) -> f64 {
    let mut q = w;
    for k in 0..3 {
        q[k % 2] += b * q[(k + 1) % 2] * x;
    }
    q[0] * q[1] + w[0]
}

#[test]
fn array_fields_copied_into_locals_that_are_written() {
    let t = Affine {
        w: [0.5, -1.25],
        b: 0.75,
    };
    let x = 0.6;
    let (value, (dt, dx)) = relaxed_field_grad(&t, x);
    assert_eq!(value.to_bits(), relaxed_field(&t, x).to_bits());
    assert_gradient(
        |p| relaxed_field_plain([p[0], p[1]], p[2], p[3]),
        &[t.w[0], t.w[1], t.b, x],
        &[dt.w[0], dt.w[1], dt.b, dx],
        1e-8,
    );
}

#[derive(Clone, Differentiable)]
struct Readout {
    w: Vec<f64>,
    bias: f64,
}

impl Readout {
    #[differentiate]
    fn out(&self, z: f64) -> f64 {
        self.w[0] * z + self.w[1] * z * z + self.bias
    }
}

/// A `Vec` field cloned into another literal: both structs stay usable.
#[differentiate]
fn two_readouts(v: &[f64], x: f64) -> f64 {
    let l = Readout {
        w: v.to_vec(),
        bias: x,
    };
    let n = Readout {
        w: l.w.clone(),
        bias: 0.5,
    };
    l.out(x) + n.out(0.3) * l.w[1]
}

fn two_readouts_plain(v: &[f64], x: f64) -> f64 {
    let out = |w: &[f64], b: f64, z: f64| w[0] * z + w[1] * z * z + b;
    out(v, x, x) + out(v, 0.5, 0.3) * v[1]
}

#[test]
fn vec_fields_cloned_into_literals() {
    check_v_x(
        two_readouts,
        two_readouts_grad,
        two_readouts_plain,
        &[2.0, -0.5],
        0.7,
    );
}

/// A generated `_grad` of `(v: &[f64], x: f64)`.
type GradVX = fn(&[f64], f64) -> (f64, (Vec<f64>, f64));

/// `grad(v, x)` against `f` bit for bit, and against its plain twin and the twin's finite
/// differences (for two-element `v`).
fn check_v_x(
    f: fn(&[f64], f64) -> f64,
    grad: GradVX,
    plain: impl Fn(&[f64], f64) -> f64,
    v: &[f64],
    x: f64,
) {
    let (value, (dv, dx)) = grad(v, x);
    assert_eq!(value.to_bits(), f(v, x).to_bits());
    assert_close(value, plain(v, x), 1e-14);
    assert_gradient(
        |p| plain(&p[..2], p[2]),
        &[v[0], v[1], x],
        &[dv[0], dv[1], dx],
        1e-8,
    );
}

#[derive(Clone, Differentiable)]
struct Outer {
    inner: Readout,
    scale: f64,
}

/// A method of a field of a struct value (`o.inner.out(y)`), the struct used again after.
#[differentiate]
fn nested_readout(v: &[f64], x: f64) -> f64 {
    let o = Outer {
        inner: Readout {
            w: v.to_vec(),
            bias: x * x,
        },
        scale: x,
    };
    o.inner.out(0.4) * o.scale + o.inner.w[0]
}

#[test]
fn methods_of_fields_of_struct_values() {
    let plain = |v: &[f64], x: f64| (v[0] * 0.4 + v[1] * 0.16 + x * x) * x + v[0];
    check_v_x(
        nested_readout,
        nested_readout_grad,
        plain,
        &[1.5, -0.25],
        0.9,
    );
}

#[derive(Clone, Copy, Differentiable)]
struct Mount {
    spring: Spring,
    anchor: f64,
}

/// A `Copy` struct taken whole out of a parameter's field (`let sp = m.spring;`) and used in a
/// loop; a clone of a field of a struct value (`o.spring.clone().energy(..)`) and the path form
/// `Spring::energy(&o.spring, ..)` on it.
#[differentiate]
fn mounted(m: &Mount, xs: &[f64]) -> f64 {
    let sp = m.spring;
    let mut e = 0.0;
    for x in xs.iter() {
        e += sp.energy(x - m.anchor);
    }
    let o = Mount {
        spring: sp.stiffer(e),
        anchor: xs[0],
    };
    e + o.spring.clone().energy(o.anchor) * Spring::energy(&o.spring, 0.5)
}

#[test]
fn struct_fields_taken_whole_cloned_and_passed_by_path() {
    let energy = |k: f64, rest: f64, x: f64| 0.5 * k * (x - rest) * (x - rest);
    let plain = |p: &[f64]| {
        let (k, rest, anchor, xs) = (p[0], p[1], p[2], &p[3..]);
        let e: f64 = xs.iter().map(|x| energy(k, rest, x - anchor)).sum();
        e + energy(k * e, rest, xs[0]) * energy(k * e, rest, 0.5)
    };
    let m = Mount {
        spring: Spring { k: 1.3, rest: 0.2 },
        anchor: -0.4,
    };
    let xs = [0.5, -0.1, 0.9];
    let (value, (dm, dxs)) = mounted_grad(&m, &xs);
    assert_eq!(value.to_bits(), mounted(&m, &xs).to_bits());
    let at = [m.spring.k, m.spring.rest, m.anchor, xs[0], xs[1], xs[2]];
    assert_close(value, plain(&at), 1e-13);
    let grad = [
        dm.spring.k,
        dm.spring.rest,
        dm.anchor,
        dxs[0],
        dxs[1],
        dxs[2],
    ];
    assert_gradient(plain, &at, &grad, 1e-8);
}

// ------------------------------------------------------------------------------------------
// Structs that are not `Copy` (a `Vec` field) held as values: stepped in a loop that also sums
// a loss, kept as the best so far in a branch, cloned into another literal and used again.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Differentiable)]
struct Chain {
    x: Vec<f64>,
}

#[differentiate]
fn advance(s: &Chain, k: f64) -> Chain {
    Chain {
        x: vec![s.x[0] * k, s.x[1] + k * s.x[0]],
    }
}

#[differentiate]
fn energy_of(s: &Chain) -> f64 {
    s.x[0] * s.x[0] + s.x[1]
}

#[differentiate]
fn rollout(a: f64, k: f64) -> f64 {
    let mut s = Chain { x: vec![a, 0.5] };
    let mut best = s.clone();
    let mut total = 0.0;
    for _ in 0..3 {
        s = advance(&s, k);
        total += energy_of(&s);
        if s.x[1] > best.x[1] {
            best = s.clone();
        }
    }
    let kept = Chain {
        x: vec![best.x[0], s.x[1]],
    };
    let copy = kept.clone();
    total + energy_of(&kept) * copy.x[0] + best.x[1]
}

fn rollout_plain(a: f64, k: f64) -> f64 {
    let energy = |x: [f64; 2]| x[0] * x[0] + x[1];
    let (mut s, mut total) = ([a, 0.5], 0.0);
    let mut best = s;
    for _ in 0..3 {
        s = [s[0] * k, s[1] + k * s[0]];
        total += energy(s);
        if s[1] > best[1] {
            best = s;
        }
    }
    let kept = [best[0], s[1]];
    total + energy(kept) * kept[0] + best[1]
}

#[test]
fn structs_with_vecs_stepped_kept_and_cloned() {
    for (a, k) in [(0.8, 1.1), (-0.6, 0.7)] {
        let (value, (da, dk)) = rollout_grad(a, k);
        assert_eq!(value.to_bits(), rollout(a, k).to_bits());
        assert_close(value, rollout_plain(a, k), 1e-14);
        assert_gradient(|p| rollout_plain(p[0], p[1]), &[a, k], &[da, dk], 1e-8);
    }
}

/// A field of a struct value bound to a local, used as a struct well after.
#[differentiate]
fn field_bound_then_used(v: &[f64], x: f64) -> f64 {
    let o = Outer {
        inner: Readout {
            w: v.to_vec(),
            bias: x,
        },
        scale: 2.0 * x,
    };
    let inner = o.inner.clone();
    let mut s = 0.0;
    for k in 0..v.len() {
        s += v[k] * x + o.scale;
    }
    let t = s * s + x.sin() - v[0] * x.cos();
    inner.out(t) + o.inner.bias
}

#[test]
fn field_of_a_struct_value_bound_to_a_local() {
    let plain = |v: &[f64], x: f64| {
        let s: f64 = v.iter().map(|vk| vk * x + 2.0 * x).sum();
        let t = s * s + x.sin() - v[0] * x.cos();
        v[0] * t + v[1] * t * t + x + x
    };
    check_v_x(
        field_bound_then_used,
        field_bound_then_used_grad,
        plain,
        &[0.5, -0.3],
        0.4,
    );
}

// Fields of struct values assigned in place (`s.v -= ..`), as simulations step their state.

#[differentiate]
fn leapfrog(s0: &State, k: f64, dt: f64) -> f64 {
    let mut s = *s0;
    for _ in 0..20 {
        s.v -= 0.5 * dt * k * s.x;
        s.x += dt * s.v;
        s.v -= 0.5 * dt * k * s.x;
    }
    s.x * s.x + 0.5 * s.v
}

/// A ball bouncing on the floor: the velocity reset, flipped in a branch, the height clamped.
#[differentiate]
fn bounce(s0: &State, e: f64, g: f64) -> f64 {
    let mut s = *s0;
    let mut t = 0.0;
    while t < 2.0 {
        s.v -= g * 0.05;
        s.x += s.v * 0.05;
        if s.x < 0.0 {
            s.x = 0.0;
            s.v = -e * s.v;
        }
        t += 0.05;
    }
    s.x + 0.1 * s.v
}

fn leapfrog_plain(x: &[f64]) -> f64 {
    leapfrog(&State { x: x[0], v: x[1] }, x[2], x[3])
}

#[test]
fn fields_of_a_state_assigned_in_a_loop() {
    let s0 = State { x: 1.0, v: 0.3 };
    let (value, (ds, dk, ddt)) = leapfrog_grad(&s0, 2.0, 0.1);
    assert_eq!(value.to_bits(), leapfrog(&s0, 2.0, 0.1).to_bits());
    // Steep in `dt`: central differences at the checker's step are good to 2e-7 there
    // (extrapolated, they agree with the gradient to 1e-11).
    assert_gradient(
        leapfrog_plain,
        &[1.0, 0.3, 2.0, 0.1],
        &[ds.x, ds.v, dk, ddt],
        1e-6,
    );

    for (x0, v0, e) in [(1.0, 0.0, 0.8), (0.5, 2.0, 0.6), (2.0, -1.0, 0.9)] {
        let s0 = State { x: x0, v: v0 };
        let (value, (ds, de, dg)) = bounce_grad(&s0, e, 9.81);
        assert_eq!(value.to_bits(), bounce(&s0, e, 9.81).to_bits());
        assert_gradient(
            |p| bounce(&State { x: p[0], v: p[1] }, p[2], p[3]),
            &[x0, v0, e, 9.81],
            &[ds.x, ds.v, de, dg],
            1e-6,
        );
    }
}

#[derive(Clone, Differentiable)]
struct Body {
    pos: [f64; 2],
    vel: State,
    m: f64,
    #[differentiable(skip)]
    steps: usize,
}

/// A field replaced by a constant passes nothing back; an array field replaced whole, a field
/// of a nested struct, a skipped field counted up.
#[differentiate]
fn body_energy(b0: &Body, w: [f64; 2], f: f64) -> f64 {
    let mut b = b0.clone();
    let old = b.clone();
    b.m = 2.0;
    b.vel.v += f / b0.m;
    b.vel.x *= b.vel.v;
    b.pos = [b.pos[0] * w[0], b.pos[1] + w[1]];
    b.steps = no_grad(b.steps) + 1;
    let mut e = 0.0;
    for _ in 0..b.steps {
        e += b.m * b.vel.v * b.vel.v + b.pos[0] * b.pos[1] + b.vel.x;
    }
    e + old.m * old.vel.x
}

fn body_energy_plain(p: &[f64]) -> f64 {
    let b = Body {
        pos: [p[0], p[1]],
        vel: State { x: p[2], v: p[3] },
        m: p[4],
        steps: 1,
    };
    body_energy(&b, [p[5], p[6]], p[7])
}

#[test]
fn fields_replaced_nested_and_whole_arrays() {
    let p = [0.5, -1.2, 0.7, 0.3, 1.5, 2.0, 0.25, 0.8];
    let b0 = Body {
        pos: [p[0], p[1]],
        vel: State { x: p[2], v: p[3] },
        m: p[4],
        steps: 1,
    };
    let (value, (db, dw, df)) = body_energy_grad(&b0, [p[5], p[6]], p[7]);
    assert_eq!(
        value.to_bits(),
        body_energy(&b0, [p[5], p[6]], p[7]).to_bits()
    );
    let grad = [
        db.pos[0], db.pos[1], db.vel.x, db.vel.v, db.m, dw[0], dw[1], df,
    ];
    assert_gradient(body_energy_plain, &p, &grad, 1e-8);
}

/// A struct a callee returned, its field assigned; the result returned as a struct.
#[differentiate]
fn kicked(s: &State, k: f64, f: f64) -> State {
    let mut n = euler_step(s, k, 0.1);
    n.v += f * n.x;
    n.x = n.x.sin();
    n
}

#[derive(Clone, Differentiable)]
struct Pair(f64, f64);

#[differentiate]
fn pair_stepped(a: f64, b: f64) -> f64 {
    let mut p = Pair(a, b);
    for _ in 0..3 {
        p.0 *= p.1;
        p.1 -= 0.1 * p.0;
    }
    p.0 + p.1
}

#[test]
fn fields_of_returned_structs_and_tuple_structs() {
    let s = State { x: 0.4, v: -0.2 };
    let seed = State { x: 0.7, v: -1.3 };
    let (ds, dk, df) = kicked_pullback(&s, 1.5, 0.6, seed);
    assert_gradient(
        |p| {
            let n = kicked(&State { x: p[0], v: p[1] }, p[2], p[3]);
            0.7 * n.x - 1.3 * n.v
        },
        &[0.4, -0.2, 1.5, 0.6],
        &[ds.x, ds.v, dk, df],
        1e-8,
    );
    let (value, (da, db)) = pair_stepped_grad(0.9, 1.1);
    assert_eq!(value.to_bits(), pair_stepped(0.9, 1.1).to_bits());
    assert_gradient(|p| pair_stepped(p[0], p[1]), &[0.9, 1.1], &[da, db], 1e-8);
}

/// Second order through fields assigned in a loop.
#[differentiate(hessian)]
fn spring_path(s0: &State, k: f64) -> f64 {
    let mut s = *s0;
    for _ in 0..5 {
        s.v -= 0.1 * k * s.x * s.x;
        s.x += 0.1 * s.v;
    }
    s.x * s.v
}

#[test]
fn second_order_through_fields_assigned() {
    let s0 = State { x: 0.8, v: 0.1 };
    let k = 1.3;
    let (_, _, hess) = spring_path_hessian(&s0, k);
    // Finite differences of the gradient, column by column.
    let grad = |p: &[f64]| {
        let (_, (ds, dk)) = spring_path_grad(&State { x: p[0], v: p[1] }, p[2]);
        [ds.x, ds.v, dk]
    };
    let p = [0.8, 0.1, k];
    for j in 0..3 {
        let h = 1e-6;
        let (mut up, mut down) = (p, p);
        up[j] += h;
        down[j] -= h;
        let (gu, gd) = (grad(&up), grad(&down));
        for i in 0..3 {
            assert_close(hess[i][j], (gu[i] - gd[i]) / (2.0 * h), 1e-6);
        }
    }
}

/// A struct parameter taken `mut` by value and stepped in place.
#[differentiate]
fn damped(mut s: State, c: f64) -> f64 {
    for _ in 0..8 {
        s.v *= 1.0 - c;
        s.x += 0.2 * s.v;
    }
    s.x
}

#[test]
fn a_mut_struct_parameter_stepped_in_place() {
    let (value, (ds, dc)) = damped_grad(State { x: 0.3, v: 1.2 }, 0.15);
    assert_eq!(
        value.to_bits(),
        damped(State { x: 0.3, v: 1.2 }, 0.15).to_bits()
    );
    assert_gradient(
        |p| damped(State { x: p[0], v: p[1] }, p[2]),
        &[0.3, 1.2, 0.15],
        &[ds.x, ds.v, dc],
        1e-8,
    );
}

#[derive(Clone, Differentiable)]
struct Particle {
    pos: [f64; 2],
    vel: [f64; 2],
    w: Vec<f64>,
}

/// Elements of a struct value's array and `Vec` fields assigned in loops.
#[differentiate]
fn particle_path(p0: &Particle, g: f64, lr: f64) -> f64 {
    let mut p = p0.clone();
    for _ in 0..4 {
        p.vel[1] -= g * 0.1;
        for i in 0..2 {
            p.pos[i] += 0.1 * p.vel[i] * p.w[i];
        }
        for j in 0..p.w.len() {
            p.w[j] -= lr * p.pos[j % 2];
        }
    }
    let mut e = p.pos[0] * p.pos[1];
    for v in &p.w {
        e += v * v;
    }
    e
}

/// A particle from its 7 numbers (position, velocity, weights), and its numbers in that order.
fn particle(q: &[f64]) -> Particle {
    Particle {
        pos: [q[0], q[1]],
        vel: [q[2], q[3]],
        w: q[4..7].to_vec(),
    }
}

fn particle_numbers(p: &Particle) -> Vec<f64> {
    let mut q = vec![p.pos[0], p.pos[1], p.vel[0], p.vel[1]];
    q.extend(&p.w);
    q
}

fn particle_plain(q: &[f64]) -> f64 {
    particle_path(&particle(q), q[7], q[8])
}

#[test]
fn elements_of_array_fields_of_struct_values_assigned() {
    let q = [0.3, 1.0, 0.8, 2.0, 0.5, -0.4, 1.2, 9.81, 0.05];
    let p = particle(&q);
    let (value, (dp, dg, dlr)) = particle_path_grad(&p, q[7], q[8]);
    assert_eq!(value.to_bits(), particle_path(&p, q[7], q[8]).to_bits());
    let mut grad = particle_numbers(&dp);
    grad.extend([dg, dlr]);
    assert_gradient(particle_plain, &q, &grad, 1e-8);
}

/// A struct value stepped by field assignments in a loop that an early `return` guards: the
/// value the loop starts from is kept for the backward sweep as well (it was moved into the
/// loop: a compile error).
#[differentiate]
fn stepped_after_return(p0: &Particle, a: f64) -> f64 {
    let mut acc = 0.0;
    for k in 0..3 {
        if a * k as f64 > 5.0 {
            return acc;
        }
        let mut p = p0.clone();
        let mut it = 0;
        while it < 2 {
            it += 1;
            p.w[1] -= 0.25 * a * p.pos[0];
            p.pos[0] += p.w[1];
        }
        acc += p.pos[0] * p.w[1];
    }
    acc
}

#[test]
fn a_struct_stepped_in_a_loop_after_an_early_return() {
    for a in [0.7, 2.0] {
        let p = particle(&[0.3, 1.0, 0.0, 0.0, 0.5, -0.4, 1.2]);
        let (value, (dp, da)) = stepped_after_return_grad(&p, a);
        assert_eq!(value.to_bits(), stepped_after_return(&p, a).to_bits());
        let mut grad = particle_numbers(&dp);
        grad.push(da);
        let mut at = particle_numbers(&p);
        at.push(a);
        assert_gradient(
            |q| stepped_after_return(&particle(q), q[7]),
            &at,
            &grad,
            1e-8,
        );
    }
}

/// An `Option` holding a struct value, set in a loop (the best state so far), and a struct
/// returned early from a loop: both need a placeholder of the struct before one exists.
#[differentiate]
fn best_state(p0: &Particle, y: f64) -> f64 {
    let mut best: Option<Particle> = None;
    let mut p = p0.clone();
    for _ in 0..4 {
        p.pos[0] *= y;
        p.w[2] += p.pos[0];
        if p.pos[0] > 1.0 {
            best = Some(p.clone());
        }
    }
    if let Some(b) = best {
        b.pos[0] * b.w[2] + b.w[0]
    } else {
        p.w[1]
    }
}

#[differentiate]
fn settled(s0: &State, k: f64) -> State {
    let mut s = *s0;
    for _ in 0..50 {
        s.v = -k * s.x;
        s.x += 0.1 * s.v;
        if s.x.abs() < 0.05 {
            return s;
        }
    }
    State {
        x: s.x * 2.0,
        v: s.v,
    }
}

#[test]
fn options_of_structs_and_structs_returned_early() {
    for y in [0.8, 1.3] {
        let p = particle(&[0.9, 1.0, 0.0, 0.0, 0.5, -0.4, 1.2]);
        let (value, (dp, dy)) = best_state_grad(&p, y);
        assert_eq!(value.to_bits(), best_state(&p, y).to_bits());
        let mut grad = particle_numbers(&dp);
        grad.push(dy);
        let mut at = particle_numbers(&p);
        at.push(y);
        assert_gradient(|q| best_state(&particle(q), q[7]), &at, &grad, 1e-8);
    }
    // Settles (returns early) for k = 0.5; not within 50 steps for k = 0.01.
    for k in [0.5, 0.01] {
        let s0 = State { x: 1.0, v: 0.0 };
        let seed = State { x: 1.0, v: 0.5 };
        let (ds, dk) = settled_pullback(&s0, k, seed);
        assert_gradient(
            |q| {
                let s = settled(&State { x: q[0], v: q[1] }, q[2]);
                s.x + 0.5 * s.v
            },
            &[1.0, 0.0, k],
            &[ds.x, ds.v, dk],
            1e-7,
        );
    }
}

/// Struct parameters chosen whole by a branch (`*a` against `*b`, or against a local value).
#[differentiate]
fn chosen_params(a: &State, b: &State, y: f64) -> f64 {
    let mut s = if y > 0.0 { *a } else { *b };
    s.x *= y;
    let t = if y > 1.0 { *a } else { s };
    s.x * s.v + t.v * t.x
}

#[test]
fn struct_parameters_chosen_by_a_branch() {
    let (a, b) = (State { x: 0.7, v: -0.4 }, State { x: 1.3, v: 0.5 });
    for y in [-0.5, 0.5, 1.5] {
        let (value, (da, db, dy)) = chosen_params_grad(&a, &b, y);
        assert_eq!(value.to_bits(), chosen_params(&a, &b, y).to_bits());
        assert_gradient(
            |q| {
                chosen_params(
                    &State { x: q[0], v: q[1] },
                    &State { x: q[2], v: q[3] },
                    q[4],
                )
            },
            &[a.x, a.v, b.x, b.v, y],
            &[da.x, da.v, db.x, db.v, dy],
            1e-8,
        );
    }
}

#[derive(Clone, Differentiable)]
struct Grid {
    g: [[f64; 2]; 2],
    rows: Vec<Vec<f64>>,
}

/// Elements of a struct value's matrix fields assigned.
#[differentiate]
fn grid_step(g0: &Grid, y: f64) -> f64 {
    let mut g = g0.clone();
    for i in 0..2 {
        g.g[i][1] += y * g.g[i][0];
        g.rows[1][i] *= g.g[i][1];
    }
    g.g[0][1] * g.g[1][1] + g.rows[1][0] + g.rows[1][1] * g.rows[0][0]
}

#[test]
fn elements_of_matrix_fields_assigned() {
    let q = [0.3, -0.7, 1.1, 0.4, 0.9, 1.6, -0.5, 2.0];
    let grid = |q: &[f64]| Grid {
        g: [[q[0], q[1]], [q[2], q[3]]],
        rows: vec![vec![q[4], q[5]], vec![q[6], q[7]]],
    };
    let (value, (dg, dy)) = grid_step_grad(&grid(&q), 0.6);
    assert_eq!(value.to_bits(), grid_step(&grid(&q), 0.6).to_bits());
    let mut grad: Vec<f64> = dg.g.iter().flatten().copied().collect();
    grad.extend(dg.rows.iter().flatten());
    grad.push(dy);
    let mut at = q.to_vec();
    at.push(0.6);
    assert_gradient(|p| grid_step(&grid(p), p[8]), &at, &grad, 1e-8);
}

#[derive(Clone, Copy, Differentiable)]
struct Tagged {
    m: f64,
    #[differentiable(skip)]
    c: f64,
}

/// A skipped float field assigned a value that varies: no derivative flows through it (the
/// gradient held a copy of the field's value there, and passed it on).
#[differentiate(hessian)]
fn skipped_assigned(s0: &Tagged, x: f64) -> f64 {
    let mut s = *s0;
    s.c = x * 2.0;
    s.m * x + no_grad(s.c)
}

#[differentiate]
fn skipped_returned(s0: &Tagged, x: f64) -> Tagged {
    let mut s = *s0;
    s.c = 3.0 * x;
    s.m *= x;
    s
}

#[test]
fn skipped_fields_assigned() {
    let s0 = Tagged { m: 1.5, c: 4.0 };
    let (_, (ds, dx)) = skipped_assigned_grad(&s0, 3.0);
    assert_eq!((ds.m, dx), (3.0, 1.5));
    let (_, _, h) = skipped_assigned_hessian(&s0, 3.0);
    assert_eq!(h, vec![vec![0.0, 1.0], vec![1.0, 0.0]]);
    // m x with the seed's m = 1; the seed's c = 5 goes nowhere.
    let (ds, dx) = skipped_returned_pullback(&s0, 3.0, Tagged { m: 1.0, c: 5.0 });
    assert_eq!((ds.m, dx), (3.0, 1.5));
}

/// `Some(*o)` of a struct parameter, set in a loop.
#[differentiate]
fn best_of_param(o: &State, y: f64) -> f64 {
    let mut best: Option<State> = None;
    for k in 0..3 {
        if o.v * y > 0.5 * k as f64 {
            best = Some(*o);
        }
    }
    if let Some(b) = best { b.x * b.v * y } else { y }
}

#[test]
fn an_option_of_a_struct_parameter() {
    for y in [1.0, -1.0] {
        let o = State { x: 1.5, v: 2.0 };
        let (value, (dox, dy)) = best_of_param_grad(&o, y);
        assert_eq!(value.to_bits(), best_of_param(&o, y).to_bits());
        assert_gradient(
            |q| best_of_param(&State { x: q[0], v: q[1] }, q[2]),
            &[1.5, 2.0, y],
            &[dox.x, dox.v, dy],
            1e-8,
        );
    }
}

/// Struct update syntax: `State { v: .., ..s }` stepped in a loop, and `..*self` in a method.
#[derive(Clone, Copy, Debug, autodiff_core::Differentiable)]
struct Damped {
    x: f64,
    v: f64,
    m: f64,
}

impl Damped {
    #[differentiate]
    fn kicked(&self, impulse: f64) -> Damped {
        Damped {
            v: self.v + impulse / self.m,
            ..*self
        }
    }
}

#[differentiate]
fn damped_motion(s: Damped, c: f64, dt: f64) -> f64 {
    let mut s = s.kicked(0.5 * c);
    for _ in 0..3 {
        s = Damped {
            v: s.v * (1.0 - c / s.m),
            ..s
        };
        s = Damped {
            x: s.x + dt * s.v,
            ..s
        };
    }
    s.x + s.v * s.v
}

#[test]
fn struct_update_syntax() {
    let s = Damped {
        x: 1.0,
        v: 2.0,
        m: 4.0,
    };
    let (value, (ds, dc, ddt)) = damped_motion_grad(s, 0.5, 0.1);
    assert_eq!(value.to_bits(), damped_motion(s, 0.5, 0.1).to_bits());
    let f = |p: &[f64]| {
        let s = Damped {
            x: p[0],
            v: p[1],
            m: p[2],
        };
        damped_motion(s, p[3], p[4])
    };
    let grad = [ds.x, ds.v, ds.m, dc, ddt];
    assert_gradient(f, &[1.0, 2.0, 4.0, 0.5, 0.1], &grad, 1e-7);
}

/// A vector type's methods named like operators (`a.sub(b)`) are its own, not float
/// subtraction.
#[derive(Clone, Copy, Debug, autodiff_core::Differentiable)]
struct Planar {
    x: f64,
    y: f64,
}

impl Planar {
    #[differentiate]
    fn sub(&self, o: &Planar) -> Planar {
        Planar {
            x: self.x - o.x,
            y: self.y - o.y,
        }
    }

    #[differentiate]
    fn norm2(&self) -> f64 {
        self.x * self.x + self.y * self.y
    }
}

#[differentiate]
fn planar_distance2(a: &Planar, b: &Planar) -> f64 {
    let d = a.sub(b);
    d.norm2()
}

#[test]
fn methods_named_like_operators() {
    let (a, b) = (Planar { x: 1.0, y: 2.0 }, Planar { x: 0.5, y: -1.0 });
    let (value, (da, db)) = planar_distance2_grad(&a, &b);
    assert_eq!(value, 9.25);
    assert_eq!((da.x, da.y, db.x, db.y), (1.0, 6.0, -1.0, -6.0));
}

/// Update syntax evaluates the fields before the base, as Rust does: a field whose expression
/// changes the base sees the base before it.
#[differentiate]
fn update_order(s0: Damped, a: f64) -> f64 {
    let mut s = s0;
    let t = Damped {
        x: {
            s.v *= 2.0;
            s.v * a
        },
        ..s
    };
    t.x * t.v + t.m
}

#[test]
fn struct_update_evaluates_fields_first() {
    let s = Damped {
        x: 1.0,
        v: 1.5,
        m: 0.5,
    };
    let (value, (ds, da)) = update_order_grad(s, 2.0);
    assert_eq!(value.to_bits(), update_order(s, 2.0).to_bits());
    // t = (2 v a, 2 v, m): t.x t.v + m = 4 v² a + m.
    assert_eq!(value, 4.0 * 1.5 * 1.5 * 2.0 + 0.5);
    assert_eq!(
        (ds.x, ds.v, ds.m, da),
        (0.0, 8.0 * 1.5 * 2.0, 1.0, 4.0 * 1.5 * 1.5)
    );
}

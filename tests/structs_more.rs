//! More on structs that derive `Differentiable`, methods, custom derivatives, the
//! `Differentiable` trait and the optimizers. Every derivative is checked against an independent
//! reference: an analytic formula written here, or central finite differences.

#![allow(clippy::needless_range_loop)] // indexed loops, as numerical code writes them

mod common;

use autodiff_core::optim::{AdaGrad, Adam, Momentum, Optimizer, Sgd};
use autodiff_core::{Differentiable, check_gradient_of, differentiate, no_grad};
use common::{assert_close, assert_gradient};

const TOL: f64 = 1e-12;

#[track_caller]
fn assert_all_close(a: &[f64], b: &[f64], tolerance: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert_close(*x, *y, tolerance);
    }
}

/// `grad` is the gradient of `f` at `at`, against central finite differences.
#[track_caller]
fn assert_gradient_of<P: Differentiable>(f: impl FnMut(&P) -> f64, at: &P, grad: &P) {
    let check = check_gradient_of(f, at, grad);
    assert!(check.passes(1e-8), "{check}");
}

// ---------------------------------------------------------------------------------------------
// Named structs with float fields. (By value: see `bug_struct_by_value` at the end.)

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Point {
    x: f64,
    y: f64,
}

#[differentiate]
fn point_ref(p: &Point) -> f64 {
    p.x * p.y + p.x.sin()
}

#[test]
fn scalar_fields_by_reference() {
    let p = Point { x: 0.7, y: -1.3 };
    let expect = Point {
        x: p.y + p.x.cos(),
        y: p.x,
    };
    let (v, g) = point_ref_grad(&p);
    assert_eq!(v, point_ref(&p));
    assert_all_close(&g.to_flat(), &expect.to_flat(), TOL);
}

// ---------------------------------------------------------------------------------------------
// f32 fields.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Mixed {
    a: f64,
    b: f32,
}

#[differentiate]
fn mixed(m: &Mixed) -> f64 {
    m.a * (m.b as f64) + m.a.powi(2)
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Single {
    w: [f32; 2],
    b: f32,
}

#[differentiate(wrt(p))]
fn single(p: &Single, x: [f32; 2]) -> f32 {
    (p.w[0] * x[0] + p.w[1] * x[1] + p.b).tanh()
}

#[test]
fn f32_fields() {
    let m = Mixed { a: 1.5, b: -0.25 };
    let (_, g) = mixed_grad(&m);
    assert_close(g.a, m.b as f64 + 2.0 * m.a, TOL);
    assert_close(g.b as f64, m.a, 1e-7);

    let p = Single {
        w: [0.5, -0.3],
        b: 0.1,
    };
    let x = [1.0_f32, 2.0];
    let (v, g) = single_grad(&p, x);
    let z = p.w[0] * x[0] + p.w[1] * x[1] + p.b;
    let dz = 1.0 - z.tanh() * z.tanh();
    assert_eq!(v, single(&p, x));
    assert!((g.w[0] - dz * x[0]).abs() < 1e-6, "{g:?}");
    assert!((g.w[1] - dz * x[1]).abs() < 1e-6, "{g:?}");
    assert!((g.b - dz).abs() < 1e-6, "{g:?}");
}

// ---------------------------------------------------------------------------------------------
// Array, matrix and Vec fields.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Quad {
    m: [[f64; 3]; 2],
    v: [f64; 3],
}

/// `f = Σ_i y_i²` with `y = m v`.
#[differentiate]
fn quad(p: &Quad) -> f64 {
    let mut f = 0.0;
    for i in 0..2 {
        let mut y = 0.0;
        for j in 0..3 {
            y += p.m[i][j] * p.v[j];
        }
        f += y * y;
    }
    f
}

#[test]
fn array_and_matrix_fields() {
    let p = Quad {
        m: [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]],
        v: [0.3, -0.8, 1.1],
    };
    let y: Vec<f64> = (0..2)
        .map(|i| (0..3).map(|j| p.m[i][j] * p.v[j]).sum())
        .collect();
    let mut expect = p.zero_like();
    for i in 0..2 {
        for j in 0..3 {
            expect.m[i][j] = 2.0 * y[i] * p.v[j];
            expect.v[j] += 2.0 * y[i] * p.m[i][j];
        }
    }
    let (v, g) = quad_grad(&p);
    assert_close(v, y[0] * y[0] + y[1] * y[1], TOL);
    assert_all_close(&g.to_flat(), &expect.to_flat(), TOL);
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Poly {
    c: Vec<f64>,
}

/// `Σ_k c_k x^k`: its gradient in `c` is `x^k`, in `x` the derivative of the polynomial.
#[differentiate]
fn poly(p: &Poly, x: f64) -> f64 {
    let mut s = 0.0;
    let mut xk = 1.0;
    for k in 0..p.c.len() {
        s += p.c[k] * xk;
        xk *= x;
    }
    s
}

#[test]
fn vec_field() {
    let p = Poly {
        c: vec![1.0, -2.0, 0.5, 3.0],
    };
    let x = 0.7;
    let (_, (gp, gx)) = poly_grad(&p, x);
    assert_eq!(gp.c.len(), 4);
    assert_all_close(&gp.c, &[1.0, x, x * x, x * x * x], TOL);
    assert_close(gx, -2.0 + 2.0 * 0.5 * x + 3.0 * 3.0 * x * x, TOL);
}

// ---------------------------------------------------------------------------------------------
// Tuple structs.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Pair(f64, [f64; 2]);

#[differentiate]
fn pair(p: &Pair) -> f64 {
    p.0 * p.1[0] + p.1[1].exp()
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Counted(Vec<f64>, usize);

/// Uses the carried `usize` as a loop bound.
#[differentiate]
fn counted(p: &Counted) -> f64 {
    let mut s = 0.0;
    for i in 0..p.1 {
        s += p.0[i] * p.0[i];
    }
    s
}

#[test]
fn tuple_structs() {
    let p = Pair(2.0, [0.5, -0.4]);
    let (v, g) = pair_grad(&p);
    assert_close(v, 2.0 * 0.5 + (-0.4f64).exp(), TOL);
    assert_close(g.0, 0.5, TOL);
    assert_close(g.1[0], 2.0, TOL);
    assert_close(g.1[1], (-0.4f64).exp(), TOL);

    let c = Counted(vec![1.0, 2.0, 3.0], 2);
    let (v, g) = counted_grad(&c);
    assert_eq!(v, 5.0);
    assert_eq!(g.0, vec![2.0, 4.0, 0.0]);
    assert_eq!(g.1, 2, "the carried usize is copied");
    assert_eq!(c.n_params(), 3);
}

// ---------------------------------------------------------------------------------------------
// Nested structs.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Layer {
    w: [[f64; 2]; 2],
    b: [f64; 2],
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Net {
    layer1: Layer,
    layer2: Layer,
    scale: f64,
}

#[differentiate(wrt(p))]
fn net_free(p: &Net, x: [f64; 2]) -> f64 {
    let mut out = 0.0;
    for j in 0..2 {
        let mut h = p.layer1.b[j];
        for k in 0..2 {
            h += p.layer1.w[j][k] * x[k];
        }
        let h = h.tanh();
        out += p.layer2.w[0][j] * h + p.layer2.b[j] * h * h;
    }
    p.scale * out
}

fn net() -> Net {
    Net {
        layer1: Layer {
            w: [[0.3, -0.5], [0.8, 0.1]],
            b: [0.05, -0.2],
        },
        layer2: Layer {
            w: [[1.1, -0.7], [0.4, 0.9]],
            b: [0.3, 0.6],
        },
        scale: 1.7,
    }
}

#[test]
fn nested_struct_fields() {
    let p = net();
    let x = [0.9, -1.2];
    let (v, g) = net_free_grad(&p, x);
    assert_eq!(v, net_free(&p, x));
    // Analytic, by hand.
    let mut e = p.zero_like();
    let mut out = 0.0;
    for j in 0..2 {
        let z = p.layer1.b[j] + p.layer1.w[j][0] * x[0] + p.layer1.w[j][1] * x[1];
        let h = z.tanh();
        out += p.layer2.w[0][j] * h + p.layer2.b[j] * h * h;
        let dh = p.scale * (p.layer2.w[0][j] + 2.0 * p.layer2.b[j] * h);
        let dz = dh * (1.0 - h * h);
        e.layer2.w[0][j] = p.scale * h;
        e.layer2.b[j] = p.scale * h * h;
        e.layer1.b[j] = dz;
        e.layer1.w[j] = [dz * x[0], dz * x[1]];
    }
    e.scale = out;
    assert_all_close(&g.to_flat(), &e.to_flat(), TOL);
    // Never read: `layer2.w[1]`.
    assert_eq!(g.layer2.w[1], [0.0, 0.0]);
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Inner {
    x: f64,
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Middle {
    inner: Inner,
    v: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Outer {
    middle: Middle,
    k: f64,
}

#[differentiate]
fn three_levels(o: &Outer) -> f64 {
    o.middle.inner.x * o.k + o.middle.v[1] * o.middle.inner.x
}

#[test]
fn three_levels_of_nesting() {
    let o = Outer {
        middle: Middle {
            inner: Inner { x: 2.0 },
            v: vec![9.0, -3.0],
        },
        k: 0.5,
    };
    let (v, g) = three_levels_grad(&o);
    assert_close(v, 2.0 * 0.5 - 3.0 * 2.0, TOL);
    assert_close(g.middle.inner.x, 0.5 - 3.0, TOL);
    assert_eq!(g.middle.v, vec![0.0, 2.0]);
    assert_close(g.k, 2.0, TOL);
}

// ---------------------------------------------------------------------------------------------
// Generic structs.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Weights<const N: usize> {
    w: [f64; N],
}

#[differentiate]
fn weighted<const N: usize>(p: &Weights<N>, x: [f64; N]) -> f64 {
    let mut s = 0.0;
    for i in 0..N {
        s += (p.w[i] * x[i]).sin();
    }
    s
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Wrap<T> {
    inner: T,
    bias: f64,
}

#[differentiate]
fn wrapped(p: &Wrap<[f64; 2]>) -> f64 {
    p.inner[0] * p.inner[1] + p.bias
}

/// Generic over the type of a field it does not read.
#[differentiate]
fn generic_bias<T: Differentiable>(p: &Wrap<T>, x: f64) -> f64 {
    p.bias * x
}

#[test]
fn generic_structs() {
    let p = Weights {
        w: [0.5, -1.0, 2.0],
    };
    let x = [1.0, 0.3, -0.4];
    let (_, (gp, gx)) = weighted_grad(&p, x);
    for i in 0..3 {
        let c = (p.w[i] * x[i]).cos();
        assert_close(gp.w[i], c * x[i], TOL);
        assert_close(gx[i], c * p.w[i], TOL);
    }
    let q = Weights { w: [0.1; 5] };
    let (_, (gq, _)) = weighted_grad(&q, [1.0; 5]);
    assert_eq!(gq.w.len(), 5);

    let p = Wrap {
        inner: [3.0, -2.0],
        bias: 1.0,
    };
    let (_, g) = wrapped_grad(&p);
    assert_eq!(g.inner, [-2.0, 3.0]);
    assert_eq!(g.bias, 1.0);
    assert_eq!(p.n_params(), 3);
    let (_, (g, gx)) = generic_bias_grad(&p, 2.0);
    assert_eq!(
        g,
        Wrap {
            inner: [0.0, 0.0],
            bias: 2.0
        }
    );
    assert_eq!(gx, 1.0);
    let q = Wrap {
        inner: Point { x: 1.0, y: 2.0 },
        bias: -1.0,
    };
    let (_, (g, _)) = generic_bias_grad(&q, 4.0);
    assert_eq!(g.inner, Point { x: 0.0, y: 0.0 });
    assert_eq!(g.bias, 4.0);
}

// ---------------------------------------------------------------------------------------------
// Carried fields: copied into the gradient, never differentiated.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Carrier {
    w: [f64; 2],
    #[differentiable(skip)]
    frozen: f64,
    #[differentiable(skip)]
    consts: [f64; 2],
    name: String,
    count: usize,
    flag: bool,
    maybe: Option<f64>,
    inner: Tagged,
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Tagged {
    v: f64,
    tag: String,
    #[differentiable(skip)]
    hidden: Vec<f64>,
}

/// Reads every carried float, a carried `usize` as a bound and a carried `bool` in a branch.
#[differentiate]
fn carrier(p: &Carrier) -> f64 {
    let mut s = p.frozen * p.w[0] + p.consts[1] * p.w[1];
    for i in 0..p.count {
        s += p.inner.v * p.inner.hidden[i];
    }
    if p.flag { s * 2.0 } else { s }
}

fn carrier_value() -> Carrier {
    Carrier {
        w: [0.5, -1.5],
        frozen: 3.0,
        consts: [7.0, 11.0],
        name: "carrier".to_owned(),
        count: 2,
        flag: true,
        maybe: Some(4.5),
        inner: Tagged {
            v: 0.25,
            tag: "inner".to_owned(),
            hidden: vec![1.0, 2.0, 100.0],
        },
    }
}

#[test]
fn carried_fields_are_copies() {
    let p = carrier_value();
    assert_eq!(p.n_params(), 3);
    assert_eq!(p.to_flat(), vec![0.5, -1.5, 0.25]);
    let (v, g) = carrier_grad(&p);
    assert_close(v, 2.0 * (3.0 * 0.5 + 11.0 * -1.5 + 0.25 * 3.0), TOL);
    // Differentiated floats: analytic.
    assert_eq!(g.w, [2.0 * 3.0, 2.0 * 11.0]);
    assert_eq!(g.inner.v, 2.0 * 3.0);
    // Carried fields: copies of the parameter's.
    assert_eq!(g.frozen, p.frozen);
    assert_eq!(g.consts, p.consts);
    assert_eq!(g.name, p.name);
    assert_eq!(g.count, p.count);
    assert_eq!(g.flag, p.flag);
    assert_eq!(g.maybe, p.maybe);
    assert_eq!(g.inner.tag, p.inner.tag);
    assert_eq!(g.inner.hidden, p.inner.hidden);

    // The same through `_pullback` and `_grad_into`.
    let g = carrier_pullback(&p, 0.5);
    assert_eq!(g.frozen, p.frozen);
    assert_eq!(g.consts, p.consts);
    assert_eq!(g.inner.hidden, p.inner.hidden);
    assert_eq!(g.w, [3.0, 11.0]);
    let mut into = p.clone();
    into.name = "garbage".to_owned();
    into.frozen = -1.0;
    into.inner.hidden = vec![];
    carrier_grad_into(&p, &mut into);
    assert_eq!(into, carrier_grad(&p).1);

    // zero_like keeps them too.
    let z = p.zero_like();
    assert_eq!(z.to_flat(), vec![0.0; 3]);
    assert_eq!((z.frozen, z.consts, &z.name), (3.0, [7.0, 11.0], &p.name));
    assert_eq!(z.inner.hidden, p.inner.hidden);
}

// ---------------------------------------------------------------------------------------------
// `_pullback` and `_grad_into` of struct functions.

#[test]
fn pullback_is_seed_times_grad() {
    let p = net();
    let x = [0.4, 0.6];
    let (_, g) = net_free_grad(&p, x);
    for seed in [2.5, -0.75, 0.0] {
        let pb = net_free_pullback(&p, x, seed);
        let mut expect = g.clone();
        expect.scale(seed);
        assert_all_close(&pb.to_flat(), &expect.to_flat(), TOL);
    }
    let q = Poly {
        c: vec![0.5, 1.0, -1.0],
    };
    let (_, (gc, gx)) = poly_grad(&q, 1.3);
    let (pc, px) = poly_pullback(&q, 1.3, -3.0);
    assert_all_close(
        &pc.c,
        &gc.c.iter().map(|v| -3.0 * v).collect::<Vec<_>>(),
        TOL,
    );
    assert_close(px, -3.0 * gx, TOL);
}

#[test]
fn grad_into_overwrites_struct_gradients() {
    let p = net();
    let x = [0.4, 0.6];
    let (v, g) = net_free_grad(&p, x);
    let mut into = p.clone();
    into.for_each_mut(&mut |v| *v = 99.0);
    assert_eq!(net_free_grad_into(&p, x, &mut into), v);
    assert_eq!(into, g);
    // Twice: still overwritten, not accumulated.
    net_free_grad_into(&p, x, &mut into);
    assert_eq!(into, g);

    // A `Vec` field of the wrong length is resized.
    let q = Poly {
        c: vec![0.5, 1.0, -1.0],
    };
    let (v, (gc, gx)) = poly_grad(&q, 1.3);
    let mut into = (Poly { c: vec![5.0; 7] }, 42.0);
    assert_eq!(poly_grad_into(&q, 1.3, &mut into), v);
    assert_eq!(into.0, gc);
    assert_eq!(into.1, gx);
    let mut into = (Poly { c: vec![] }, 42.0);
    poly_grad_into(&q, 1.3, &mut into);
    assert_eq!(into.0, gc);
}

// ---------------------------------------------------------------------------------------------
// Several struct parameters, calls between struct functions.

#[differentiate]
fn two_points(a: &Point, b: &Point) -> f64 {
    (a.x - b.x).powi(2) + (a.y - b.y).powi(2)
}

/// Passes its struct parameters on.
#[differentiate]
fn forwards_points(p: &Point, q: &Point) -> f64 {
    two_points(p, q) * point_ref(p) + two_points(q, p)
}

#[test]
fn several_struct_parameters_and_calls() {
    let a = Point { x: 1.0, y: 2.0 };
    let b = Point { x: -0.5, y: 0.25 };
    let (_, (ga, gb)) = two_points_grad(&a, &b);
    assert_eq!(ga, Point { x: 3.0, y: 3.5 });
    assert_eq!(gb, Point { x: -3.0, y: -3.5 });

    let (_, (gp, gq)) = forwards_points_grad(&a, &b);
    let mut flat = a.to_flat();
    flat.extend(b.to_flat());
    let mut grad = gp.to_flat();
    grad.extend(gq.to_flat());
    assert_gradient(
        |v| forwards_points(&Point { x: v[0], y: v[1] }, &Point { x: v[2], y: v[3] }),
        &flat,
        &grad,
        1e-8,
    );
}

#[differentiate]
fn layer_out(l: &Layer, x: [f64; 2]) -> f64 {
    let mut s = 0.0;
    for j in 0..2 {
        s += (l.w[j][0] * x[0] + l.w[j][1] * x[1] + l.b[j]).tanh();
    }
    s
}

#[differentiate]
fn sum2(v: [f64; 2]) -> f64 {
    v[0] + 2.0 * v[1]
}

#[differentiate]
fn slice_sq(v: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..v.len() {
        s += v[i] * v[i];
    }
    s
}

/// Hands a field struct, an array field and a `Vec` field to other functions.
#[differentiate(wrt(p))]
fn passes_fields(p: &Net, m: &Middle, x: [f64; 2]) -> f64 {
    layer_out(&p.layer1, x) * p.scale + sum2(p.layer2.b) + slice_sq(&m.v) * p.scale
}

#[test]
fn fields_passed_to_other_functions() {
    let p = net();
    let m = Middle {
        inner: Inner { x: 1.0 },
        v: vec![1.0, -2.0],
    };
    let x = [0.5, -0.25];
    let (_, g) = passes_fields_grad(&p, &m, x);
    assert_gradient_of(|q: &Net| passes_fields(q, &m, x), &p, &g);
    assert_eq!(g.layer2.w, [[0.0; 2]; 2]);
    assert_eq!(g.layer2.b, [1.0, 2.0]);
}

// ---------------------------------------------------------------------------------------------
// Methods.

impl Layer {
    /// `tanh(w x + b)`, an array.
    #[differentiate]
    fn forward(&self, x: [f64; 2]) -> [f64; 2] {
        let mut h = [0.0; 2];
        for j in 0..2 {
            h[j] = (self.w[j][0] * x[0] + self.w[j][1] * x[1] + self.b[j]).tanh();
        }
        h
    }

    #[differentiate]
    fn energy(&self, x: f64) -> f64 {
        self.w[0][0] * x * x + self.b[1] * x
    }

    #[differentiate(wrt(x))]
    fn only_x(&self, x: f64) -> f64 {
        self.w[0][1] * x.sin()
    }

    #[differentiate(wrt(self, x))]
    fn both(&self, x: f64, k: f64) -> f64 {
        self.b[0] * x * k
    }
}

impl Net {
    #[differentiate(wrt(self))]
    fn loss(&self, x: [f64; 2], target: f64) -> f64 {
        let h = self.layer1.forward(x);
        let y = self.layer2.w[0][0] * h[0] + self.layer2.w[0][1] * h[1] + self.layer2.b[0];
        let e = self.scale * y - target;
        e * e + self.layer2.energy(h[1])
    }

    /// A free function taking `&self.layer1`.
    #[differentiate(wrt(self))]
    fn through_free(&self, x: [f64; 2]) -> f64 {
        layer_out(&self.layer1, x) * self.scale
    }
}

#[test]
fn method_with_ref_self_gradient_first() {
    let l = net().layer1;
    let x = 0.8;
    let (v, (gl, gx)) = l.energy_grad(x);
    assert_eq!(v, l.energy(x));
    let mut e = l.zero_like();
    e.w[0][0] = x * x;
    e.b[1] = x;
    assert_eq!(gl, e);
    assert_close(gx, 2.0 * l.w[0][0] * x + l.b[1], TOL);
}

#[test]
fn method_wrt_subsets() {
    let l = net().layer1;
    let (_, gx) = l.only_x_grad(0.4);
    assert_close(gx, l.w[0][1] * 0.4f64.cos(), TOL);
    let (_, (gl, gx)) = l.both_grad(0.4, 3.0);
    let mut e = l.zero_like();
    e.b[0] = 0.4 * 3.0;
    assert_eq!(gl, e);
    assert_close(gx, l.b[0] * 3.0, TOL);
}

#[test]
fn method_returning_an_array_pullback() {
    let l = net().layer1;
    let x = [0.2, -0.9];
    let d = [1.5, -0.5];
    let (gl, gx) = l.forward_pullback(x, d);
    let h = l.forward(x);
    let mut e = l.zero_like();
    let mut ex = [0.0; 2];
    for j in 0..2 {
        let dz = d[j] * (1.0 - h[j] * h[j]);
        e.b[j] = dz;
        e.w[j] = [dz * x[0], dz * x[1]];
        ex[0] += dz * l.w[j][0];
        ex[1] += dz * l.w[j][1];
    }
    assert_all_close(&gl.to_flat(), &e.to_flat(), TOL);
    assert_all_close(&gx, &ex, TOL);
}

#[test]
fn methods_calling_methods() {
    let n = net();
    let x = [0.6, -0.35];
    let (v, g) = n.loss_grad(x, 0.4);
    assert_eq!(v, n.loss(x, 0.4));
    assert_gradient_of(|p: &Net| p.loss(x, 0.4), &n, &g);
    // Pullback and grad_into of a method.
    let pb = n.loss_pullback(x, 0.4, -2.0);
    let mut e = g.clone();
    e.scale(-2.0);
    assert_all_close(&pb.to_flat(), &e.to_flat(), TOL);
    let mut into = n.clone();
    assert_eq!(n.loss_grad_into(x, 0.4, &mut into), v);
    assert_eq!(into, g);

    let (_, g) = n.through_free_grad(x);
    assert_gradient_of(|p: &Net| p.through_free(x), &n, &g);
}

// ---------------------------------------------------------------------------------------------
// Custom derivatives.

/// The body computes `x²`; the derivative given says `3`: the macro must use the user's.
#[differentiate(pullback = liar_derivative)]
fn liar(x: f64) -> f64 {
    x * x
}

fn liar_derivative(_x: f64, d_out: f64) -> f64 {
    3.0 * d_out
}

#[differentiate]
fn calls_liar(x: f64) -> f64 {
    liar(2.0 * x) + x
}

#[test]
fn custom_scalar_derivative_is_the_users() {
    let (v, d) = liar_grad(5.0);
    assert_eq!((v, d), (25.0, 3.0));
    assert_eq!(liar_pullback(5.0, -2.0), -6.0);
    let mut into = 123.0;
    assert_eq!(liar_grad_into(5.0, &mut into), 25.0);
    assert_eq!(into, 3.0);
    // Chain rule through the call: 3 * 2 + 1.
    assert_eq!(calls_liar_grad(1.0).1, 7.0);
}

/// `Σ exp(a_i)` with its derivative by hand, on an array.
#[differentiate(pullback = sum_exp_derivative)]
fn sum_exp(a: [f64; 3]) -> f64 {
    a.iter().map(|v| v.exp()).sum()
}

fn sum_exp_derivative(a: [f64; 3], d_out: f64) -> [f64; 3] {
    a.map(|v| d_out * v.exp())
}

/// By reference.
#[differentiate(pullback = sum_exp_ref_derivative)]
fn sum_exp_ref(a: &[f64; 3]) -> f64 {
    a.iter().map(|v| v.exp()).sum()
}

fn sum_exp_ref_derivative(a: &[f64; 3], d_out: f64) -> [f64; 3] {
    a.map(|v| d_out * v.exp())
}

#[differentiate]
fn uses_sum_exp(a: [f64; 3], k: f64) -> f64 {
    sum_exp(a) * k + sum_exp_ref(&a)
}

#[test]
fn custom_array_derivative() {
    let a = [0.1, -0.2, 0.3];
    let (v, g) = sum_exp_grad(a);
    assert_eq!(v, sum_exp(a));
    assert_all_close(&g, &a.map(f64::exp), TOL);
    let (_, g) = sum_exp_ref_grad(&a);
    assert_all_close(&g, &a.map(f64::exp), TOL);
    assert_all_close(
        &sum_exp_ref_pullback(&a, 0.5),
        &a.map(|v| 0.5 * v.exp()),
        TOL,
    );
    let (_, (ga, gk)) = uses_sum_exp_grad(a, 2.0);
    assert_all_close(&ga, &a.map(|v| 3.0 * v.exp()), TOL);
    assert_close(gk, sum_exp(a), TOL);
}

/// `‖v‖²` on a slice, derivative `2v`.
#[differentiate(pullback = sq_norm_derivative)]
fn sq_norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum()
}

fn sq_norm_derivative(v: &[f64], d_out: f64) -> Vec<f64> {
    v.iter().map(|a| 2.0 * a * d_out).collect()
}

/// Calls the custom derivative in a loop, on a local vector that changes between calls.
#[differentiate]
fn sq_norm_in_loop(v: &[f64], steps: usize) -> f64 {
    let mut u = v.to_vec();
    let mut s = 0.0;
    for _ in 0..steps {
        s += sq_norm(&u);
        for i in 0..u.len() {
            u[i] = u[i] * 0.5 + 1.0;
        }
    }
    s
}

#[test]
fn custom_slice_derivative_in_a_loop() {
    let v = [1.0, -2.0, 0.5];
    let (_, g) = sq_norm_grad(&v);
    assert_eq!(g, vec![2.0, -4.0, 1.0]);
    assert_eq!(sq_norm_pullback(&v, 0.5), vec![1.0, -2.0, 0.5]);
    let mut into = vec![7.0; 10];
    sq_norm_grad_into(&v, &mut into);
    assert_eq!(into, vec![2.0, -4.0, 1.0]);

    let (_, g) = sq_norm_in_loop_grad(&v, 3);
    // Analytic: u_k = 0.5^k v + c_k, d/dv Σ_k u_k² = Σ_k 2 u_k 0.5^k.
    let mut expect = [0.0; 3];
    for i in 0..3 {
        let mut u = v[i];
        let mut factor = 1.0;
        for _ in 0..3 {
            expect[i] += 2.0 * u * factor;
            u = u * 0.5 + 1.0;
            factor *= 0.5;
        }
    }
    assert_all_close(&g, &expect, TOL);
}

/// Two parameters: a tuple gradient.
#[differentiate(pullback = prod_derivative)]
fn prod(x: f64, y: f64) -> f64 {
    x * y
}

fn prod_derivative(x: f64, y: f64, d_out: f64) -> (f64, f64) {
    (y * d_out, x * d_out)
}

/// `wrt` subset: the derivative gives only `x`'s entry.
#[differentiate(wrt(x), pullback = scaled_derivative)]
fn scaled(x: f64, k: f64, n: usize) -> f64 {
    k * x.powi(n as i32)
}

fn scaled_derivative(x: f64, k: f64, n: usize, d_out: f64) -> f64 {
    d_out * k * n as f64 * x.powi(n as i32 - 1)
}

#[differentiate]
fn uses_prod_and_scaled(a: f64, b: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        // `scaled` does not differentiate `k`: passing an active `b` there is a compile
        // error (tests/ui/callee-does-not-differentiate.rs) unless it is marked constant.
        s += prod(a, b + i as f64) + scaled(a, no_grad(b), i + 1);
    }
    s
}

#[test]
fn custom_multi_parameter_and_wrt() {
    let (_, (dx, dy)) = prod_grad(3.0, -2.0);
    assert_eq!((dx, dy), (-2.0, 3.0));
    assert_eq!(prod_pullback(3.0, -2.0, 2.0), (-4.0, 6.0));
    let (_, d) = scaled_grad(2.0, 1.5, 3);
    assert_eq!(d, 1.5 * 3.0 * 4.0);
    let (_, (da, db)) = uses_prod_and_scaled_grad(0.7, 1.3);
    // `b` reaches `scaled` only through `no_grad(b)`: `scaled` contributes nothing to `db`.
    let a: f64 = 0.7;
    let b = 1.3;
    let mut ea = 0.0;
    let mut eb = 0.0;
    for i in 0..3 {
        ea += b + i as f64 + b * (i + 1) as f64 * a.powi(i);
        eb += a;
    }
    assert_close(da, ea, TOL);
    assert_close(db, eb, TOL);
}

/// A struct parameter: the derivative returns the struct.
#[differentiate(pullback = point_norm_derivative)]
fn point_norm(p: &Point) -> f64 {
    (p.x * p.x + p.y * p.y).sqrt()
}

fn point_norm_derivative(p: &Point, d_out: f64) -> Point {
    let n = point_norm(p);
    Point {
        x: d_out * p.x / n,
        y: d_out * p.y / n,
    }
}

#[differentiate]
fn uses_point_norm(p: &Point, k: f64) -> f64 {
    point_norm(p) * k + p.x
}

#[test]
fn custom_struct_derivative() {
    let p = Point { x: 3.0, y: 4.0 };
    let (v, g) = point_norm_grad(&p);
    assert_eq!(v, 5.0);
    assert_eq!(g, Point { x: 0.6, y: 0.8 });
    let (_, (gp, gk)) = uses_point_norm_grad(&p, 2.0);
    assert_all_close(&gp.to_flat(), &[2.0 * 0.6 + 1.0, 2.0 * 0.8], TOL);
    assert_eq!(gk, 5.0);
}

// ---------------------------------------------------------------------------------------------
// The `Differentiable` trait.

#[test]
fn trait_on_arrays_and_vecs() {
    let a = [[1.0, 2.0], [3.0, 4.0]];
    assert_eq!(a.n_params(), 4);
    assert_eq!(a.to_flat(), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(a.zero_like(), [[0.0; 2]; 2]);
    let mut b = a;
    b.set_zero();
    assert_eq!(b, [[0.0; 2]; 2]);
    let mut v = vec![1.0_f32, 2.0, 3.0];
    v.scale(2.0);
    assert_eq!(v, vec![2.0, 4.0, 6.0]);
    v.add_assign(&vec![1.0, 1.0, 1.0]);
    assert_eq!(v, vec![3.0, 5.0, 7.0]);
    let mut seen = Vec::new();
    v.for_each(&mut |x| seen.push(x));
    assert_eq!(seen, vec![3.0, 5.0, 7.0]);
    let empty: Vec<f64> = Vec::new();
    assert_eq!(empty.n_params(), 0);
    assert!(empty.to_flat().is_empty());
}

#[test]
fn trait_on_derived_structs() {
    let c = carrier_value();
    // Declaration order, carried fields left out, nested fields in place.
    assert_eq!(c.to_flat(), vec![0.5, -1.5, 0.25]);
    let n = net();
    let expect: Vec<f64> = [
        n.layer1.w[0][0],
        n.layer1.w[0][1],
        n.layer1.w[1][0],
        n.layer1.w[1][1],
        n.layer1.b[0],
        n.layer1.b[1],
        n.layer2.w[0][0],
        n.layer2.w[0][1],
        n.layer2.w[1][0],
        n.layer2.w[1][1],
        n.layer2.b[0],
        n.layer2.b[1],
        n.scale,
    ]
    .to_vec();
    assert_eq!(n.to_flat(), expect);
    assert_eq!(n.n_params(), 13);

    let mut m = n.clone();
    let mut k = 0.0;
    m.for_each_mut(&mut |x| {
        *x = k;
        k += 1.0;
    });
    assert_eq!(m.to_flat(), (0..13).map(f64::from).collect::<Vec<_>>());
    assert_eq!(m.layer2.b, [10.0, 11.0]);
    assert_eq!(m.scale, 12.0);

    let mut sum = m.clone();
    sum.add_assign(&m);
    assert_eq!(
        sum.to_flat(),
        (0..13).map(|i| 2.0 * i as f64).collect::<Vec<_>>()
    );
    sum.scale(0.5);
    assert_eq!(sum, m);

    let mut z = m.clone();
    z.zip_mut(&n, &mut |x, g| *x = 10.0 * *x + g);
    let expect: Vec<f64> = (0..13).map(|i| 10.0 * i as f64 + n.to_flat()[i]).collect();
    assert_eq!(z.to_flat(), expect);

    let mut c2 = c.clone();
    c2.set_zero();
    assert_eq!(c2.to_flat(), vec![0.0; 3]);
    assert_eq!(c2.frozen, 3.0, "set_zero leaves a skipped float");
    assert_eq!(c2.inner.hidden, c.inner.hidden);
    let mut c3 = c.clone();
    c3.scale(2.0);
    assert_eq!(c3.consts, c.consts, "scale leaves skipped floats");
    c3.add_assign(&c);
    assert_eq!(c3.frozen, c.frozen, "add_assign leaves skipped floats");
    assert_eq!(c3.to_flat(), vec![1.5, -4.5, 0.75]);

    let t = Pair(1.0, [2.0, 3.0]);
    assert_eq!(t.to_flat(), vec![1.0, 2.0, 3.0]);
    assert_eq!(t.zero_like(), Pair(0.0, [0.0; 2]));
}

// ---------------------------------------------------------------------------------------------
// Optimizers on derived structs.

#[test]
fn optimizers_step_struct_parameters_exactly() {
    let p0 = carrier_value();
    let mut g = p0.zero_like();
    g.w = [1.0, -2.0];
    g.inner.v = 0.5;
    g.frozen = 1000.0; // carried: an optimizer must ignore it

    let mut p = p0.clone();
    Sgd::new(0.1).step(&mut p, &g);
    assert_all_close(&p.to_flat(), &[0.5 - 0.1, -1.5 + 0.2, 0.25 - 0.05], TOL);
    assert_eq!(p.frozen, p0.frozen);
    assert_eq!(p.name, p0.name);

    // Momentum: v1 = -lr g, v2 = 0.9 v1 - lr g.
    let mut p = p0.clone();
    let mut opt = Momentum::new(0.1);
    opt.step(&mut p, &g);
    opt.step(&mut p, &g);
    let flat: Vec<f64> = p0
        .to_flat()
        .iter()
        .zip(g.to_flat())
        .map(|(w, g)| w - 0.1 * g - (0.9 * 0.1 * g + 0.1 * g))
        .collect();
    assert_all_close(&p.to_flat(), &flat, TOL);
    assert_eq!(p.consts, p0.consts);

    // AdaGrad: h = g², w -= lr g / (|g| + eps), then h = 2g², w -= lr g / (√2|g| + eps).
    let mut p = p0.clone();
    let mut opt = AdaGrad::new(0.1);
    opt.step(&mut p, &g);
    opt.step(&mut p, &g);
    let flat: Vec<f64> = p0
        .to_flat()
        .iter()
        .zip(g.to_flat())
        .map(|(w, g)| w - 0.1 * g / (g.abs() + 1e-7) - 0.1 * g / ((2.0 * g * g).sqrt() + 1e-7))
        .collect();
    assert_all_close(&p.to_flat(), &flat, TOL);

    // Adam: the first step moves each parameter by lr against the sign of its gradient.
    let mut p = p0.clone();
    Adam::new(0.01).step(&mut p, &g);
    let flat: Vec<f64> = p0
        .to_flat()
        .iter()
        .zip(g.to_flat())
        .map(|(w, g)| w - 0.01 * g.signum())
        .collect();
    assert_all_close(&p.to_flat(), &flat, 1e-6);
    assert_eq!(p.inner.hidden, p0.inner.hidden);
}

/// `Σ (w - target)²` on a nested struct, minimised by every optimizer with generated gradients.
#[differentiate(wrt(p))]
fn distance(p: &Net, target: f64) -> f64 {
    let mut s = (p.scale - target).powi(2);
    for j in 0..2 {
        s += (p.layer1.b[j] - target).powi(2) + (p.layer2.b[j] - target).powi(2);
        for k in 0..2 {
            s += (p.layer1.w[j][k] - target).powi(2) + (p.layer2.w[j][k] - target).powi(2);
        }
    }
    s
}

fn train(mut opt: impl Optimizer, steps: usize) -> Net {
    let mut p = net();
    let mut g = p.zero_like();
    for _ in 0..steps {
        distance_grad_into(&p, 0.5, &mut g);
        opt.step(&mut p, &g);
    }
    p
}

#[test]
fn optimizers_minimise_a_struct_loss() {
    let close = |p: Net| p.to_flat().iter().all(|w| (w - 0.5).abs() < 1e-3);
    assert!(close(train(Sgd::new(0.1), 200)));
    assert!(close(train(Momentum::new(0.05), 300)));
    assert!(close(train(AdaGrad::new(0.5), 3000)));
    assert!(close(train(Adam::new(0.05), 3000)));
}

// ---------------------------------------------------------------------------------------------
// `check_gradient_of`.

#[test]
fn check_gradient_of_accepts_the_right_gradient_and_rejects_a_wrong_one() {
    let c = carrier_value();
    let (_, g) = carrier_grad(&c);
    let check = check_gradient_of(carrier, &c, &g);
    assert!(check.passes(1e-8), "{check}");
    assert_eq!(
        check.analytic.len(),
        3,
        "one component per differentiated float"
    );

    // A wrong component is found and named.
    let mut wrong = g.clone();
    wrong.inner.v += 0.1;
    let check = check_gradient_of(carrier, &c, &wrong);
    assert!(!check.passes(1e-3));
    assert_eq!(check.worst, 2);

    // A skipped float is never perturbed: its value in the gradient is irrelevant.
    let mut carried = g.clone();
    carried.frozen = f64::NAN;
    assert!(check_gradient_of(carrier, &c, &carried).passes(1e-8));

    // The numeric side is independent of the macro: a hand-written function.
    let p = Point { x: 2.0, y: -1.0 };
    let check = check_gradient_of(|p: &Point| p.x * p.x * p.y, &p, &Point { x: -4.0, y: 4.0 });
    assert!(check.passes(1e-9), "{check}");
}

// ---------------------------------------------------------------------------------------------
// Generated names next to field paths.

/// A parameter named like the field path `p.w`: the adjoints must not mix.
#[differentiate]
fn field_path_names(p: &Poly, p_c: f64, d_p_c: f64) -> f64 {
    p.c[0] * p_c + p.c[1] * d_p_c * 2.0
}

#[test]
fn field_paths_do_not_clash_with_parameter_names() {
    let p = Poly { c: vec![3.0, 5.0] };
    let (_, (gp, ga, gb)) = field_path_names_grad(&p, 7.0, 11.0);
    assert_eq!(gp.c, vec![7.0, 22.0]);
    assert_eq!(ga, 3.0);
    assert_eq!(gb, 10.0);
}

// ---------------------------------------------------------------------------------------------
// More shapes of struct code.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct SkipTuple(Vec<f64>, #[differentiable(skip)] f64, String);

#[differentiate]
fn skip_tuple(p: &SkipTuple) -> f64 {
    p.0[0] * p.1 + p.0[1]
}

#[test]
fn skip_on_a_tuple_struct_field() {
    let p = SkipTuple(vec![2.0, 5.0], 3.0, "t".to_owned());
    assert_eq!(p.n_params(), 2);
    let (v, g) = skip_tuple_grad(&p);
    assert_eq!(v, 11.0);
    assert_eq!(g, SkipTuple(vec![3.0, 1.0], 3.0, "t".to_owned()));
    let z = p.zero_like();
    assert_eq!(z, SkipTuple(vec![0.0, 0.0], 3.0, "t".to_owned()));
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Unit {
    w: [f64; 2],
    b: f64,
    x: f64,
    rows: Vec<[f64; 2]>,
    maybe: Option<f64>,
}

impl Unit {
    #[differentiate]
    fn affine(&self, x: f64) -> f64 {
        self.w[0] * x + self.b
    }

    /// Calls a method of `self` twice, at different points.
    #[differentiate]
    fn product(&self, x: f64) -> f64 {
        self.affine(x) * self.affine(2.0 * x)
    }

    /// A field `self.x` next to a parameter `x`.
    #[differentiate]
    fn field_and_param(&self, x: f64) -> f64 {
        self.x * x + self.affine(x)
    }

    /// A custom derivative on a method, given as `Self::..`.
    #[differentiate(pullback = Self::custom_derivative)]
    fn custom(&self, x: f64) -> f64 {
        self.w[0] * x
    }

    fn custom_derivative(&self, x: f64, d_out: f64) -> (Self, f64) {
        let mut g = self.zero_like();
        g.w[0] = x * d_out;
        (g, self.w[0] * d_out)
    }

    #[differentiate]
    fn uses_custom(&self, x: f64) -> f64 {
        self.custom(x) * self.w[1]
    }
}

fn unit() -> Unit {
    Unit {
        w: [2.0, 3.0],
        b: 0.5,
        x: 7.0,
        rows: vec![[1.0, 2.0], [3.0, 4.0]],
        maybe: Some(5.0),
    }
}

#[test]
fn methods_calling_methods_of_self() {
    let u = unit();
    let x = 1.0;
    let (v, (g, gx)) = u.product_grad(x);
    let (a, b) = (u.w[0] * x + u.b, 2.0 * u.w[0] * x + u.b);
    assert_close(v, a * b, TOL);
    let mut e = u.zero_like();
    e.w[0] = x * b + 2.0 * x * a;
    e.b = a + b;
    assert_eq!(g, e);
    assert_close(gx, u.w[0] * b + 2.0 * u.w[0] * a, TOL);

    let (_, (g, gx)) = u.field_and_param_grad(1.5);
    let mut e = u.zero_like();
    e.x = 1.5;
    e.w[0] = 1.5;
    e.b = 1.0;
    assert_eq!(g, e);
    assert_eq!(gx, u.x + u.w[0]);
}

#[test]
fn custom_derivative_on_a_method() {
    let u = unit();
    let (v, (g, gx)) = u.custom_grad(5.0);
    assert_eq!(v, 10.0);
    assert_eq!(g.w, [5.0, 0.0]);
    assert_eq!(gx, 2.0);
    assert_eq!(g.maybe, u.maybe);
    let (_, (g, gx)) = u.uses_custom_grad(5.0);
    assert_eq!(g.w, [5.0 * u.w[1], u.w[0] * 5.0]);
    assert_eq!(gx, u.w[0] * u.w[1]);
}

/// A free function calling a method on a field of its struct parameter.
#[differentiate]
fn calls_field_method(p: &Net, x: f64) -> f64 {
    p.layer1.energy(x) * p.scale
}

/// Iterates over array fields; reads a `Vec<[f64; 2]>` field; a carried `Option` through
/// `no_grad`.
#[differentiate]
fn iterates_fields(p: &Unit) -> f64 {
    let mut s = 0.0;
    for (i, v) in p.w.iter().enumerate() {
        s += v * (i as f64 + 1.0);
    }
    for v in p.w.iter() {
        s += v * v;
    }
    for i in 0..p.rows.len() {
        s += p.rows[i][0] * p.rows[i][1];
    }
    s * autodiff_core::no_grad(p.maybe.unwrap_or(1.0))
}

#[test]
fn fields_read_in_other_ways() {
    let n = net();
    let x = 0.8;
    let (_, (g, gx)) = calls_field_method_grad(&n, x);
    let mut e = n.zero_like();
    e.layer1.w[0][0] = x * x * n.scale;
    e.layer1.b[1] = x * n.scale;
    e.scale = n.layer1.energy(x);
    assert_all_close(&g.to_flat(), &e.to_flat(), TOL);
    assert_close(
        gx,
        (2.0 * n.layer1.w[0][0] * x + n.layer1.b[1]) * n.scale,
        TOL,
    );

    let u = unit();
    let (v, g) = iterates_fields_grad(&u);
    assert_eq!(v, iterates_fields(&u));
    let k = 5.0;
    assert_eq!(g.w, [k * (1.0 + 2.0 * 2.0), k * (2.0 + 2.0 * 3.0)]);
    assert_eq!(g.rows, vec![[k * 2.0, k * 1.0], [k * 4.0, k * 3.0]]);
    assert_eq!((g.b, g.x), (0.0, 0.0));
    assert_eq!(g.maybe, Some(5.0));
    assert_gradient_of(iterates_fields, &u, &g);
}

#[differentiate]
fn ignores_its_struct(p: &Carrier, x: f64) -> f64 {
    let _ = p.count;
    x * 2.0
}

#[test]
fn unused_struct_parameter_gets_a_zero_gradient_with_copies() {
    let p = carrier_value();
    let (_, (g, gx)) = ignores_its_struct_grad(&p, 1.0);
    assert_eq!(gx, 2.0);
    assert_eq!(g, p.zero_like());
    assert_eq!(g.name, p.name);
}

#[allow(clippy::ptr_arg)] // a `&Vec` parameter on purpose
#[differentiate(pullback = vec_sum_derivative)]
fn vec_sum(v: &Vec<f64>) -> f64 {
    v.iter().sum()
}

#[allow(clippy::ptr_arg)]
fn vec_sum_derivative(v: &Vec<f64>, d_out: f64) -> Vec<f64> {
    vec![d_out; v.len()]
}

#[differentiate(pullback = generic_sum_derivative)]
fn generic_sum<const N: usize>(v: [f64; N]) -> f64 {
    v.iter().sum()
}

fn generic_sum_derivative<const N: usize>(_v: [f64; N], d_out: f64) -> [f64; N] {
    [d_out; N]
}

/// A custom derivative of a function returning an array: `d_out` is an array.
#[differentiate(pullback = powers_derivative)]
fn powers(x: f64) -> [f64; 2] {
    [x, x * x]
}

fn powers_derivative(x: f64, d_out: [f64; 2]) -> f64 {
    d_out[0] + 2.0 * x * d_out[1]
}

#[differentiate]
fn uses_more_customs(v: Vec<f64>, a: [f64; 3], x: f64) -> f64 {
    let p = powers(x);
    vec_sum(&v) * p[0] * p[1] + generic_sum(a) * a[0]
}

#[test]
fn more_custom_derivative_shapes() {
    let v = vec![1.0, 2.0];
    let a = [1.0, 2.0, 3.0];
    let x = 3.0;
    let (_, (gv, ga, gx)) = uses_more_customs_grad(v.clone(), a, x);
    assert_eq!(gv, vec![27.0, 27.0]);
    assert_eq!(ga, [1.0 + 6.0, 1.0, 1.0]);
    assert_eq!(gx, 3.0 * 3.0 * 9.0);
    assert_eq!(powers_pullback(x, [1.0, 0.5]), 1.0 + 3.0);
}

#[test]
fn optimizer_on_f32_fields() {
    let mut p = Single {
        w: [0.5, -0.25],
        b: 1.0,
    };
    let g = Single {
        w: [1.0, 2.0],
        b: -4.0,
    };
    Sgd::new(0.25).step(&mut p, &g);
    assert_eq!(p.w, [0.25, -0.75]);
    assert_eq!(p.b, 2.0);
}

// ---------------------------------------------------------------------------------------------
// Struct fields under loops, branches and taped state.

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Rnn {
    w: f64,
    u: f64,
    v: Vec<f64>,
    cell: Layer,
    #[differentiable(skip)]
    clip: f64,
}

impl Rnn {
    /// A recurrence that overwrites its state, a branch on a carried field, an early exit, and
    /// a method call in the loop.
    #[differentiate(wrt(self, xs))]
    fn run(&self, xs: &[f64], steps: usize, limit: f64) -> f64 {
        let mut h = 0.0;
        let mut state = [0.0; 2];
        for t in 0..steps {
            h = (self.w * h + self.u * xs[t]).tanh();
            if h.abs() > self.clip {
                h *= 0.5;
            }
            let out = self.cell.forward([h, xs[t]]);
            state[0] = state[0] * self.v[0] + out[0];
            state[1] = (state[1] + out[1] * self.v[1]).sin();
            if state[0] > limit {
                return state[0];
            }
        }
        let mut k = 0;
        while k < self.v.len() {
            h += self.v[k] * state[k % 2];
            k += 1;
        }
        h * h
    }
}

fn rnn() -> Rnn {
    Rnn {
        w: 0.9,
        u: -0.6,
        v: vec![0.7, 1.3, -0.4],
        cell: net().layer1,
        clip: 0.3,
    }
}

#[test]
fn struct_fields_in_loops_branches_and_calls() {
    let r = rnn();
    let xs = [0.5, -1.0, 0.25, 2.0, -0.75];
    // Without and with the early exit (the values differ: the state passes 0.2 early).
    for limit in [10.0, 0.2] {
        let (v, (g, gx)) = r.run_grad(&xs, 5, limit);
        assert_eq!(v, r.run(&xs, 5, limit));
        assert_gradient_of(|q: &Rnn| q.run(&xs, 5, limit), &r, &g);
        assert_gradient(|x| r.run(x, 5, limit), &xs, &gx, 1e-8);
        assert_eq!(g.clip, r.clip);

        let mut into = (r.clone(), vec![9.0; 2]);
        into.0.for_each_mut(&mut |v| *v = -1.0);
        assert_eq!(r.run_grad_into(&xs, 5, limit, &mut into), v);
        assert_eq!(into.0, g);
        assert_eq!(into.1, gx);
    }
    assert_ne!(r.run(&xs, 5, 10.0), r.run(&xs, 5, 0.2));
}

/// A mini-batch loss summed over samples, calling a method per sample.
#[differentiate(wrt(p))]
fn batch_loss(p: &Net, xs: &[[f64; 2]], ys: &[f64]) -> f64 {
    let mut total = 0.0;
    for (i, x) in xs.iter().enumerate() {
        total += (p.loss(*x, ys[i]) - 0.1).powi(2);
    }
    total / xs.len() as f64
}

#[test]
fn method_calls_in_a_loop_over_samples() {
    let p = net();
    let xs = [[0.5, -0.5], [1.0, 0.2], [-0.3, 0.8]];
    let ys = [0.1, -0.4, 0.9];
    let (_, g) = batch_loss_grad(&p, &xs, &ys);
    assert_gradient_of(|q: &Net| batch_loss(q, &xs, &ys), &p, &g);
}

// ---------------------------------------------------------------------------------------------
// Regressions: cases whose generated code did not compile.

// Regression: a struct parameter taken by value (`p: S`, and `self` by value) generated a call
// `Slot::or_zero(grad_p, &mut scratch_p, p)` that passes the struct where a reference is
// expected: error[E0308] "expected `&_`, found `Point`" at `#[differentiate]`.
mod struct_by_value {
    use super::*;

    #[differentiate]
    fn point_val(p: Point) -> f64 {
        p.x * p.y + p.x.sin()
    }

    impl Layer {
        #[differentiate]
        fn consume(self, x: f64) -> f64 {
            self.w[1][1] * x.exp() + self.b[0]
        }
    }

    #[test]
    fn struct_by_value() {
        let p = Point { x: 0.7, y: -1.3 };
        let (v, g) = point_val_grad(p.clone());
        assert_eq!(v, point_val(p.clone()));
        assert_all_close(&g.to_flat(), &[p.y + p.x.cos(), p.x], TOL);
    }

    #[test]
    fn method_with_self_by_value() {
        let l = net().layer2;
        let x = 0.3;
        let (v, (gl, gx)) = l.clone().consume_grad(x);
        assert_eq!(v, l.clone().consume(x));
        let mut e = l.zero_like();
        e.w[1][1] = x.exp();
        e.b[0] = 1.0;
        assert_eq!(gl, e);
        assert_close(gx, l.w[1][1] * x.exp(), TOL);
        let (gl2, gx2) = l.clone().consume_pullback(x, 2.0);
        assert_close(gl2.w[1][1], 2.0 * x.exp(), TOL);
        assert_close(gx2, 2.0 * gx, TOL);
    }
}

// Regression: an associated function without `self` whose parameters mention `Self` (`p: &Self`) was
// generated as if it were free: `assoc_grad` calls `__assoc_vjp(..)` instead of
// `Self::__assoc_vjp(..)`, error[E0425] "cannot find function `__assoc_vjp` in this scope".
mod associated_function_mentioning_self {
    use super::*;

    impl Net {
        #[differentiate]
        fn assoc(p: &Self, x: f64) -> f64 {
            p.scale * x.powi(3)
        }

        #[differentiate]
        fn calls_assoc(&self, x: f64) -> f64 {
            Self::assoc(self, x) + self.scale
        }
    }

    #[test]
    fn associated_functions_mentioning_self() {
        let n = net();
        let (_, (gp, gx)) = Net::assoc_grad(&n, 0.5);
        let mut e = n.zero_like();
        e.scale = 0.125;
        assert_eq!(gp, e);
        assert_close(gx, 3.0 * n.scale * 0.25, TOL);
        let (_, (gs, gx)) = n.calls_assoc_grad(0.5);
        e.scale = 1.125;
        assert_eq!(gs, e);
        assert_close(gx, 3.0 * n.scale * 0.25, TOL);
    }
}

// An associated function whose signature does not mention `Self` but whose body does
// (`Self::SHIFT`, `Self::cube(..)`) is taken to be in an `impl`, and its generated functions
// call each other as `Self::name`.
mod associated_function_body_mentioning_self {
    use super::*;

    impl Net {
        const SHIFT: f64 = 0.25;

        #[differentiate]
        fn cube(x: f64) -> f64 {
            (x - Self::SHIFT).powi(3)
        }

        #[differentiate]
        fn shifted_cube(x: f64, y: f64) -> f64 {
            Self::cube(x + Self::SHIFT) * y
        }
    }

    #[test]
    fn associated_function_body_mentioning_self() {
        let (x, y) = (0.5, 1.5);
        let (v, (gx, gy)) = Net::shifted_cube_grad(x, y);
        assert_eq!(v, Net::shifted_cube(x, y));
        assert_close(gx, 3.0 * x * x * y, TOL);
        assert_close(gy, x.powi(3), TOL);
        assert_eq!(Net::shifted_cube_pullback(x, y, 2.0), (2.0 * gx, 2.0 * gy));
    }
}

// Regression: passing the same active variable as two arguments of a differentiated call (`f(a, a)`,
// `two_points(p, p)`) handed the callee's pullback two `&mut` borrows of one adjoint:
// error[E0499] "cannot borrow value as mutable more than once at a time ... in the previous
// iteration of the loop" at `#[differentiate]`, even without a loop.
mod same_argument_twice {
    use super::*;

    #[differentiate]
    fn square_by_prod(a: f64) -> f64 {
        prod(a, a)
    }

    #[differentiate]
    fn self_distance(p: &Point, q: &Point) -> f64 {
        two_points(p, q) + two_points(p, p)
    }

    #[test]
    fn same_argument_twice() {
        assert_eq!(square_by_prod_grad(3.0).1, 6.0);
        let p = Point { x: 1.0, y: 2.0 };
        let q = Point { x: -0.5, y: 0.25 };
        let (_, (gp, gq)) = self_distance_grad(&p, &q);
        assert_eq!(gp, Point { x: 3.0, y: 3.5 });
        assert_eq!(gq, Point { x: -3.0, y: -3.5 });
    }
}

// Regression: copying an array field into a local (`let w = p.w;`) generated `d_p.w += d_w;`, an
// addition of a whole array: error[E0368] "binary assignment operation `+=` cannot be applied
// to type `[f64; 2]`" at `#[differentiate]`. (Passing `p.w` to a function works.)
mod local_copy_of_an_array_field {
    use super::*;

    #[differentiate]
    fn copies_a_field(p: &Unit) -> f64 {
        let w = p.w;
        w[0] * w[1]
    }

    #[test]
    fn local_copy_of_an_array_field() {
        let (_, g) = copies_a_field_grad(&unit());
        assert_eq!(g.w, [3.0, 2.0]);
    }
}

/// Regression (found by the randomized test): an element of a struct's field as the value of a
/// branch, next to a number (`if` expression, `match`, and a variable assigned in branches).
#[allow(clippy::needless_late_init)] // the late initialisation is the construct under test
#[differentiate(wrt(p, x))]
fn field_in_branches(p: &Unit, x: f64, k: usize) -> f64 {
    let u: f64 = if k == 0 { p.w[1] } else { x };
    let v = match k {
        0 => p.b,
        1 => p.w[0],
        _ => x * x,
    };
    let w;
    if x > 0.0 {
        w = p.w[0];
    } else {
        w = p.b;
    }
    u * v + w * x
}

#[test]
fn struct_fields_as_branch_values() {
    let p = unit();
    for (k, x) in [(0, 0.3), (1, -0.4), (2, 1.5)] {
        let (v, (gp, gx)) = field_in_branches_grad(&p, x, k);
        assert_eq!(v, field_in_branches(&p, x, k));
        assert_gradient_of(|q: &Unit| field_in_branches(q, x, k), &p, &gp);
        let h = 1e-6;
        let fd = (field_in_branches(&p, x + h, k) - field_in_branches(&p, x - h, k)) / (2.0 * h);
        assert_close(gx, fd, 1e-7);
    }
}

/// Regression: a struct parameter given another name (`let q = p;`) is the same struct.
#[differentiate(wrt(p))]
fn renamed_struct(p: &Unit, x: f64) -> f64 {
    let q = p;
    q.w[0] * x + q.b
}

#[test]
fn a_renamed_struct_parameter() {
    let p = unit();
    let (_, g) = renamed_struct_grad(&p, 3.0);
    assert_eq!((g.w, g.b), ([3.0, 0.0], 1.0));
}

/// A `Vec` of structs iterated (`for l in &m.layers`), each element's method called; the
/// numbers of a struct's `Vec` field iterated the same way.
mod vec_of_structs_iterated {
    use super::*;

    #[derive(Clone, Differentiable)]
    pub struct Dense {
        pub w: Vec<f64>,
        pub b: f64,
    }

    impl Dense {
        #[differentiate]
        pub fn forward(&self, x: f64) -> f64 {
            (self.w[0] * x + self.w[1] * x * x + self.b).tanh()
        }
    }

    #[derive(Clone, Differentiable)]
    pub struct Deep {
        pub layers: Vec<Dense>,
        pub scale: Vec<f64>,
    }

    #[differentiate(wrt(m))]
    pub fn deep(m: &Deep, x: f64) -> f64 {
        let mut h = x;
        for l in &m.layers {
            h = l.forward(h);
        }
        for l in m.layers.iter() {
            h += 0.5 * l.forward(h);
        }
        let spread: f64 = m.layers.iter().map(|l| l.forward(x)).sum();
        let mut s = 0.0;
        for (k, c) in m.scale.iter().enumerate() {
            s += c * (k as f64 + h);
        }
        h * spread + s
    }

    #[test]
    fn layers_iterated_by_reference() {
        let m = Deep {
            layers: vec![
                Dense {
                    w: vec![0.7, -0.2],
                    b: 0.1,
                },
                Dense {
                    w: vec![-0.4, 0.3],
                    b: -0.5,
                },
                Dense {
                    w: vec![1.1, 0.05],
                    b: 0.2,
                },
            ],
            scale: vec![0.3, -1.2],
        };
        let (value, grad) = deep_grad(&m, 0.6);
        assert_eq!(value.to_bits(), deep(&m, 0.6).to_bits());
        let check = check_gradient_of(|m| deep(m, 0.6), &m, &grad);
        assert!(check.max_error < 1e-8, "{check:?}");
    }
}

/// A range mapped to reads of a `self` field and summed, in a method.
mod method_range_map_sum {
    use super::*;

    #[derive(Clone, Differentiable)]
    pub struct Matrix {
        #[differentiable(skip)]
        pub n: usize,
        pub data: Vec<f64>,
    }

    impl Matrix {
        #[differentiate(wrt(self))]
        pub fn trace_sq(&self) -> f64 {
            let t = (0..self.n).map(|i| self.data[i * self.n + i]).sum::<f64>();
            t * t
        }
    }

    #[test]
    fn trace_of_self() {
        let m = Matrix {
            n: 2,
            data: vec![1.5, 2.0, 3.0, -0.5],
        };
        let (value, grad) = m.trace_sq_grad();
        assert_eq!(value, 1.0);
        assert_eq!(grad.data, vec![2.0, 0.0, 0.0, 2.0]);
    }
}

/// A dense layer kept in a struct as a `Vec` of rows, as one writes it: each row (of
/// `l.w.iter()`, zipped with the biases, mapped and collected, or of `&l.a`) passed to a
/// differentiated dot product, by reference or copied.
#[differentiate]
fn row_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[differentiate]
fn pair_dot(a: [f64; 2], b: &[f64]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

#[derive(Clone, Debug, Differentiable)]
struct Rows {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
    a: Vec<[f64; 2]>,
    arr: [[f64; 2]; 2],
    s: f64,
}

#[differentiate]
fn rows_through_calls(l: &Rows, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for row in l.w.iter() {
        s += row_dot(row, x);
    }
    for (row, b) in l.w.iter().zip(l.b.iter()) {
        s += (row_dot(row, x) + b).tanh();
    }
    let out: Vec<f64> = l.w.iter().map(|row| row_dot(row, x)).collect();
    for r in &l.a {
        s += row_dot(r, x) * out[1];
    }
    for r in l.a.iter() {
        s += pair_dot(*r, x);
    }
    s
}

/// Fields and rows of a struct stored into local arrays: a number, an element, a row of an
/// array field and of a `Vec` field (directly and through a `let`), and a call's `Vec` result
/// as a row of a local matrix.
#[differentiate]
fn rows_into_locals(n: &Rows, x: &[f64], k: usize) -> f64 {
    let mut z = [0.0; 2];
    z[0] = n.s;
    z[1] = n.b[0];
    let mut e = [[0.0; 2]; 2];
    e[1] = n.arr[k];
    let r = n.a[k];
    e[0] = r;
    let mut m = vec![vec![0.0; 2]; 2];
    m[1] = row_scaled(x, n.s);
    m[0] = n.w[k].clone();
    z[0] * z[1] + e[1][0] * e[1][1] + e[0][1] * m[1][0] * m[1][1] + m[0][1] * x[0]
}

#[differentiate]
fn row_scaled(x: &[f64], c: f64) -> Vec<f64> {
    x.iter().map(|v| v * c).collect()
}

#[test]
fn rows_of_struct_fields() {
    let l = Rows {
        w: vec![vec![1.0, 2.0], vec![3.0, -4.0]],
        b: vec![0.1, -0.2],
        a: vec![[0.3, 0.5], [-0.7, 0.2]],
        arr: [[0.5, 1.5], [2.5, -0.5]],
        s: 1.3,
    };
    let x = [0.5, 0.25];
    let flat = |l: &Rows| l.to_flat();
    let build = |p: &[f64]| {
        let mut l = l.clone();
        let mut values = p.iter();
        l.for_each_mut(&mut |v| *v = *values.next().unwrap());
        l
    };
    let point = [flat(&l), x.to_vec()].concat();
    let (value, (dl, dx)) = rows_through_calls_grad(&l, &x);
    assert_eq!(value.to_bits(), rows_through_calls(&l, &x).to_bits());
    let grad = [flat(&dl), dx].concat();
    let n = point.len() - 2;
    assert_gradient(
        |p| rows_through_calls(&build(&p[..n]), &p[n..]),
        &point,
        &grad,
        1e-7,
    );
    for k in [0, 1] {
        let (value, (dl, dx)) = rows_into_locals_grad(&l, &x, k);
        assert_eq!(value.to_bits(), rows_into_locals(&l, &x, k).to_bits());
        let grad = [flat(&dl), dx].concat();
        assert_gradient(
            |p| rows_into_locals(&build(&p[..n]), &p[n..], k),
            &point,
            &grad,
            1e-7,
        );
    }
}

/// `match` and `matches!` on an element of a struct's array or `Vec` field: a number matched,
/// as in a threshold on a parameter.
#[derive(Differentiable, Clone, Debug)]
pub struct Gates {
    pub w: [f64; 3],
    pub b: f64,
    pub v: Vec<f64>,
}

#[differentiate]
fn gated(p: &Gates, x: f64) -> f64 {
    let a = if matches!(p.w[1], z if z > 0.4) && x > 0.0 {
        p.b * x
    } else {
        x
    };
    let c = match p.v[0] {
        v if v > 0.0 => 2.0 * x * p.v[1],
        _ => x * x,
    };
    let d = match p.b {
        0.0 => 1.0,
        _ => p.w[0] * p.w[2],
    };
    a + c + d
}

#[test]
fn match_on_field_elements() {
    for (w1, v0, x) in [(0.5, 0.3, 0.7), (0.2, -0.3, 0.7), (0.5, 0.3, -0.4)] {
        let p = Gates {
            w: [0.1, w1, 0.2],
            b: 1.5,
            v: vec![v0, 1.3],
        };
        let (value, (dp, dx)) = gated_grad(&p, x);
        assert_eq!(value.to_bits(), gated(&p, x).to_bits());
        let first = w1 > 0.4 && x > 0.0;
        let db = if first { x } else { 0.0 };
        let (dv1, dxc) = if v0 > 0.0 {
            (2.0 * x, 2.0 * 1.3)
        } else {
            (0.0, 2.0 * x)
        };
        let dxa = if first { 1.5 } else { 1.0 };
        assert_eq!(dp.w, [0.2, 0.0, 0.1]);
        assert_eq!((dp.b, dp.v[0]), (db, 0.0));
        assert_close(dp.v[1], dv1, 1e-15);
        assert_close(dx, dxa + dxc, 1e-15);
    }
}

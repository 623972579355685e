//! Forward mode (`jvp`, `_jacobian`) and second order (`_hvp`, `_hessian`), each against an
//! independent reference: directional central differences of the function (JVPs), of its
//! gradient (HVPs), closed-form derivatives where they are short, and the identity
//! `jvp(u) · w == u · vjp(w)` between the two modes.

#![allow(clippy::needless_range_loop, clippy::type_complexity)]

mod common;

use autodiff_core::differentiate;
use common::{assert_close, assert_gradient};

/// Central difference of `f` at `x` along `u`.
fn directional(f: &mut impl FnMut(&[f64]) -> f64, x: &[f64], u: &[f64]) -> f64 {
    let h = 1e-6;
    let plus: Vec<f64> = x.iter().zip(u).map(|(x, u)| x + h * u).collect();
    let minus: Vec<f64> = x.iter().zip(u).map(|(x, u)| x - h * u).collect();
    (f(&plus) - f(&minus)) / (2.0 * h)
}

/// Central difference of the vector function `g` at `x` along `u`.
fn directional_vec(g: &mut impl FnMut(&[f64]) -> Vec<f64>, x: &[f64], u: &[f64]) -> Vec<f64> {
    let h = 1e-5;
    let plus: Vec<f64> = x.iter().zip(u).map(|(x, u)| x + h * u).collect();
    let minus: Vec<f64> = x.iter().zip(u).map(|(x, u)| x - h * u).collect();
    g(&plus)
        .iter()
        .zip(g(&minus))
        .map(|(p, m)| (p - m) / (2.0 * h))
        .collect()
}

fn assert_all_close(a: &[f64], b: &[f64], tolerance: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (a, b) in a.iter().zip(b) {
        assert_close(*a, *b, tolerance);
    }
}

#[differentiate(hessian)]
fn scalar_mix(x: f64, y: f64) -> f64 {
    let s = x.sin() * y;
    s + x * x * y.exp() - (x / y).ln() + x.powi(3) * y.sqrt() + x.atan2(y)
}

#[test]
fn scalars_jvp_hvp_and_hessian() {
    let f = |p: &[f64]| scalar_mix(p[0], p[1]);
    let grad = |p: &[f64]| {
        let (_, (gx, gy)) = scalar_mix_grad(p[0], p[1]);
        vec![gx, gy]
    };
    let x = [0.7, 1.3];
    for u in [[1.0, 0.0], [0.0, 1.0], [0.3, -0.8]] {
        let (value, t) = scalar_mix_jvp(x[0], x[1], (u[0], u[1]));
        assert_eq!(value.to_bits(), scalar_mix(x[0], x[1]).to_bits());
        assert_close(t, directional(&mut { f }, &x, &u), 1e-7);
        let (value, (gx, gy), (hx, hy)) = scalar_mix_hvp(x[0], x[1], (u[0], u[1]));
        assert_eq!(value.to_bits(), scalar_mix(x[0], x[1]).to_bits());
        assert_all_close(&[gx, gy], &grad(&x), 1e-12);
        assert_all_close(&[hx, hy], &directional_vec(&mut { grad }, &x, &u), 1e-6);
    }
    let (_, _, h) = scalar_mix_hessian(x[0], x[1]);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0][1].to_bits(), h[1][0].to_bits());
    let column = directional_vec(&mut { grad }, &x, &[0.0, 1.0]);
    assert_all_close(&[h[0][1], h[1][1]], &column, 1e-6);
}

/// A matrix written as nested `vec!`s, one element overwritten: tangents of its rows.
#[allow(clippy::useless_vec, clippy::assign_op_pattern)] // the forms under test
#[differentiate(hessian)]
fn nested_vec_det(a: f64, b: f64) -> f64 {
    let mut m = vec![vec![a, b * b], vec![(a * b).sin(), a.exp()]];
    m[1][0] = m[1][0] * m[0][1];
    m[0][0] * m[1][1] - m[0][1] * m[1][0]
}

#[test]
fn nested_vec_literals_in_forward_mode() {
    let f = |p: &[f64]| nested_vec_det(p[0], p[1]);
    let grad = |p: &[f64]| {
        let (_, (ga, gb)) = nested_vec_det_grad(p[0], p[1]);
        vec![ga, gb]
    };
    let x = [0.6, -0.9];
    for u in [[1.0, 0.0], [0.4, 0.7]] {
        let (value, t) = nested_vec_det_jvp(x[0], x[1], (u[0], u[1]));
        assert_eq!(value.to_bits(), nested_vec_det(x[0], x[1]).to_bits());
        assert_close(t, directional(&mut { f }, &x, &u), 1e-7);
        let (_, _, (ha, hb)) = nested_vec_det_hvp(x[0], x[1], (u[0], u[1]));
        assert_all_close(&[ha, hb], &directional_vec(&mut { grad }, &x, &u), 1e-6);
    }
}

/// The extended Rosenbrock function, whose Hessian is tridiagonal with a closed form.
#[differentiate(hessian)]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
    }
    s
}

fn rosenbrock_hessian_exact(x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n - 1 {
        h[i][i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
        h[i + 1][i + 1] += 200.0;
        h[i][i + 1] -= 400.0 * x[i];
        h[i + 1][i] -= 400.0 * x[i];
    }
    h
}

#[test]
fn rosenbrock_hessian_is_the_closed_form() {
    let x: Vec<f64> = (0..7).map(|i| 0.3 * i as f64 - 0.8).collect();
    let exact = rosenbrock_hessian_exact(&x);
    let (value, grad, h) = rosenbrock_hessian(&x);
    assert_eq!(value.to_bits(), rosenbrock(&x).to_bits());
    // The gradient, summed in another order than `_grad`'s.
    assert_all_close(&grad, &rosenbrock_grad(&x).1, 1e-14);
    for i in 0..x.len() {
        assert_all_close(&h[i], &exact[i], 1e-12);
    }
    let v: Vec<f64> = (0..7).map(|i| (i as f64).cos()).collect();
    let (_, _, hv) = rosenbrock_hvp(&x, v.clone());
    let expected: Vec<f64> = exact
        .iter()
        .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
        .collect();
    assert_all_close(&hv, &expected, 1e-12);
    // The directional derivative is the gradient along the direction.
    let (_, t) = rosenbrock_jvp(&x, v.clone());
    let g = rosenbrock_grad(&x).1;
    assert_close(t, g.iter().zip(&v).map(|(a, b)| a * b).sum(), 1e-12);
}

/// Forward kinematics of a planar arm: a vector output, whose Jacobian is the textbook one.
#[differentiate(jvp, wrt(theta))]
fn arm(theta: [f64; 3], lengths: &[f64; 3]) -> [f64; 2] {
    let mut angle = 0.0;
    let mut p = [0.0, 0.0];
    for i in 0..3 {
        angle += theta[i];
        p[0] += lengths[i] * angle.cos();
        p[1] += lengths[i] * angle.sin();
    }
    p
}

#[test]
fn jacobian_of_a_planar_arm() {
    let theta = [0.3, -0.4, 1.1];
    let lengths = [1.0, 0.8, 0.5];
    let (p, j) = arm_jacobian(theta, &lengths);
    assert_eq!(p, arm(theta, &lengths));
    assert_eq!(j.len(), 2);
    // Column k: the sum over the links from k on of l_i (-sin, cos) of their angles.
    for k in 0..3 {
        let (mut dx, mut dy) = (0.0, 0.0);
        for i in k..3 {
            let angle: f64 = theta[..=i].iter().sum();
            dx -= lengths[i] * angle.sin();
            dy += lengths[i] * angle.cos();
        }
        assert_close(j[0][k], dx, 1e-14);
        assert_close(j[1][k], dy, 1e-14);
    }
    // The JVP is the Jacobian times the direction.
    let u = [0.5, -1.0, 2.0];
    let (_, t) = arm_jvp(theta, &lengths, u);
    for r in 0..2 {
        let row: f64 = (0..3).map(|k| j[r][k] * u[k]).sum();
        assert_close(t[r], row, 1e-14);
    }
    // jvp(u) · w == u · vjp(w).
    let w = [0.7, -0.2];
    let vjp = arm_pullback(theta, &lengths, w);
    let lhs = t[0] * w[0] + t[1] * w[1];
    let rhs: f64 = (0..3).map(|k| u[k] * vjp[k]).sum();
    assert_close(lhs, rhs, 1e-14);
}

// Constructs in combination: branches, loops with `break`, local arrays, `Vec`s built by
// `push`, iterator chains, closures, calls of other differentiated functions and methods.

#[differentiate(hessian)]
fn softplus(x: f64) -> f64 {
    if x > 20.0 { x } else { (1.0 + x.exp()).ln() }
}

#[differentiate(hessian)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[differentiate(hessian)]
fn mixed_program(x: &[f64], w: f64) -> f64 {
    let n = x.len();
    let mut hidden = Vec::with_capacity(n);
    for i in 0..n {
        let z = w * x[i] + 0.1 * i as f64;
        hidden.push(softplus(z).max(0.05 * z));
    }
    let mut acc = 0.0;
    let mut k = 0;
    while k < n {
        if hidden[k] > 3.0 {
            break;
        }
        acc += hidden[k].abs().sqrt() * x[(k + 1) % n];
        k += 1;
    }
    let scale = |v: f64| v * w.tanh();
    let local = [acc, dot(x, &hidden), w * w];
    let norm: f64 = local.iter().map(|v| scale(*v).powi(2)).sum();
    norm.sqrt() + x.iter().fold(0.0, |m, v| m + v.sin() / (1.0 + w * w))
}

fn flat_mixed(p: &[f64]) -> f64 {
    mixed_program(&p[..p.len() - 1], p[p.len() - 1])
}

fn flat_mixed_grad(p: &[f64]) -> Vec<f64> {
    let (_, (mut gx, gw)) = mixed_program_grad(&p[..p.len() - 1], p[p.len() - 1]);
    gx.push(gw);
    gx
}

#[test]
fn a_program_with_branches_loops_calls_and_closures() {
    let p = [0.4, -1.2, 0.9, 2.5, 0.3, 0.8];
    let n = p.len() - 1;
    let x = &p[..n];
    let w = p[n];
    for seed in 0..4 {
        let u: Vec<f64> = (0..=n).map(|i| ((i * 7 + seed * 3) as f64).sin()).collect();
        let (value, t) = mixed_program_jvp(x, w, (u[..n].to_vec(), u[n]));
        assert_eq!(value.to_bits(), mixed_program(x, w).to_bits());
        assert_close(t, directional(&mut flat_mixed, &p, &u), 1e-7);
        let (value, (gx, gw), (hx, hw)) = mixed_program_hvp(x, w, (u[..n].to_vec(), u[n]));
        assert_eq!(value.to_bits(), mixed_program(x, w).to_bits());
        let mut g = gx.clone();
        g.push(gw);
        assert_all_close(&g, &flat_mixed_grad(&p), 1e-12);
        let mut hv = hx.clone();
        hv.push(hw);
        assert_all_close(&hv, &directional_vec(&mut flat_mixed_grad, &p, &u), 1e-5);
    }
    let (_, _, h) = mixed_program_hessian(x, w);
    assert_eq!(h.len(), n + 1);
    for i in 0..=n {
        for k in 0..=n {
            assert_eq!(h[i][k].to_bits(), h[k][i].to_bits());
        }
    }
}

#[derive(Clone, autodiff_core::Differentiable)]
struct Layer {
    w: Vec<f64>,
    b: f64,
}

impl Layer {
    #[differentiate(hessian)]
    fn loss(&self, x: &[f64], target: f64) -> f64 {
        let mut z = self.b;
        for i in 0..x.len() {
            z += self.w[i] * x[i];
        }
        let e = z.tanh() - target;
        0.5 * e * e
    }
}

#[differentiate(hessian, wrt(layer))]
fn total_loss(layer: &Layer, xs: &[[f64; 2]], targets: &[f64]) -> f64 {
    let mut total = 0.0;
    for k in 0..xs.len() {
        total += layer.loss(&xs[k], targets[k]);
    }
    total / xs.len() as f64
}

#[test]
fn methods_and_struct_parameters() {
    let layer = Layer {
        w: vec![0.3, -0.7],
        b: 0.1,
    };
    let xs = [[1.0, 2.0], [-0.5, 0.3], [0.2, -1.1]];
    let targets = [0.2, -0.4, 0.9];
    let flat = |p: &[f64]| {
        let layer = Layer {
            w: p[..2].to_vec(),
            b: p[2],
        };
        total_loss(&layer, &xs, &targets)
    };
    let flat_grad = |p: &[f64]| {
        let layer = Layer {
            w: p[..2].to_vec(),
            b: p[2],
        };
        let (_, g) = total_loss_grad(&layer, &xs, &targets);
        vec![g.w[0], g.w[1], g.b]
    };
    let p = [0.3, -0.7, 0.1];
    let dir = Layer {
        w: vec![1.0, 0.5],
        b: -2.0,
    };
    let u = [1.0, 0.5, -2.0];
    let (_, t) = total_loss_jvp(&layer, &xs, &targets, dir.clone());
    assert_close(t, directional(&mut { flat }, &p, &u), 1e-8);
    let (_, g, hv) = total_loss_hvp(&layer, &xs, &targets, dir);
    assert_all_close(&[g.w[0], g.w[1], g.b], &flat_grad(&p), 1e-12);
    assert_all_close(
        &[hv.w[0], hv.w[1], hv.b],
        &directional_vec(&mut { flat_grad }, &p, &u),
        1e-6,
    );
    let (_, _, h) = total_loss_hessian(&layer, &xs, &targets);
    assert_eq!(h.len(), 3);
}

/// A tuple output: its Jacobian has one row per component.
#[differentiate(jvp)]
fn polar(r: f64, phi: f64) -> (f64, f64) {
    (r * phi.cos(), r * phi.sin())
}

#[test]
fn jacobian_of_a_tuple_output() {
    let (r, phi) = (2.0, 0.6);
    let (value, j) = polar_jacobian(r, phi);
    assert_eq!(value, polar(r, phi));
    let exact = [[phi.cos(), -r * phi.sin()], [phi.sin(), r * phi.cos()]];
    for i in 0..2 {
        assert_all_close(&j[i], &exact[i], 1e-15);
    }
}

/// `f32` and a generic float go through forward mode too.
#[differentiate(hessian)]
fn cubic_f32(x: f32, y: f32) -> f32 {
    x * x * x + 2.0 * x * y - y.exp()
}

#[differentiate(hessian)]
fn generic_norm<T: num_traits::Float>(x: T, y: T) -> T {
    (x * x + y * y).sqrt()
}

#[test]
fn f32_and_generic_floats() {
    let (_, _, h) = cubic_f32_hessian(0.5, -0.25);
    let exact = [[6.0 * 0.5, 2.0], [2.0, -(-0.25f32).exp()]];
    for i in 0..2 {
        for k in 0..2 {
            assert!((h[i][k] - exact[i][k]).abs() < 1e-5, "{h:?}");
        }
    }
    // H = (I - g gᵀ) / |v|, against the product with each unit vector.
    let exact = [
        [(1.0 - 0.36) / 5.0, -0.48 / 5.0],
        [-0.48 / 5.0, (1.0 - 0.64) / 5.0],
    ];
    for (k, dir) in [(1.0, 0.0), (0.0, 1.0)].into_iter().enumerate() {
        let (value, g, hv) = generic_norm_hvp(3.0_f64, 4.0, dir);
        assert_eq!(value, 5.0);
        assert_all_close(&[g.0, g.1], &[0.6, 0.8], 1e-15);
        assert_all_close(&[hv.0, hv.1], &[exact[0][k], exact[1][k]], 1e-15);
    }
}

// A custom derivative with its forward rule (`jvp = g`), called in another function's forward
// mode.

fn softplus_derivative(x: f64, d_out: f64) -> f64 {
    d_out / (1.0 + (-x).exp())
}

fn softplus_forward(x: f64, t: f64) -> (f64, f64) {
    (custom_softplus(x), t / (1.0 + (-x).exp()))
}

#[differentiate(pullback = softplus_derivative, jvp = softplus_forward)]
fn custom_softplus(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

#[differentiate(jvp)]
fn uses_custom(x: f64, y: f64) -> f64 {
    custom_softplus(x * y) + y
}

#[test]
fn custom_forward_rules() {
    let (x, y) = (0.4, -1.5);
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let (value, t) = uses_custom_jvp(x, y, (0.5, 2.0));
    assert_eq!(value.to_bits(), uses_custom(x, y).to_bits());
    let expected = sigmoid(x * y) * (0.5 * y + 2.0 * x) + 2.0;
    assert_close(t, expected, 1e-15);
    let (_, t) = custom_softplus_jvp(x, 3.0);
    assert_close(t, 3.0 * sigmoid(x), 1e-15);
}

// More programs, each checked the same way: the JVP along several directions against
// directional differences of the function, the HVP against directional differences of the
// (separately tested) reverse-mode gradient, the value bit for bit.

/// Checks `jvp` and `hvp` of a function of one slice.
#[track_caller]
fn check_slice_program(
    f: fn(&[f64]) -> f64,
    grad: fn(&[f64]) -> (f64, Vec<f64>),
    jvp: fn(&[f64], Vec<f64>) -> (f64, f64),
    hvp: fn(&[f64], Vec<f64>) -> (f64, Vec<f64>, Vec<f64>),
    x: &[f64],
) {
    let n = x.len();
    let mut fx = |p: &[f64]| f(p);
    let mut gx = |p: &[f64]| grad(p).1;
    for seed in 0..3 {
        let u: Vec<f64> = (0..n)
            .map(|i| ((i * 5 + seed * 11) as f64 * 0.7).cos())
            .collect();
        let (value, t) = jvp(x, u.clone());
        assert_eq!(value.to_bits(), f(x).to_bits());
        assert_close(t, directional(&mut fx, x, &u), 1e-6);
        let (value, g, hv) = hvp(x, u.clone());
        assert_eq!(value.to_bits(), f(x).to_bits());
        assert_all_close(&g, &grad(x).1, 1e-12);
        assert_all_close(&hv, &directional_vec(&mut gx, x, &u), 2e-5);
    }
}

macro_rules! slice_program {
    ($name:ident, $grad:ident, $jvp:ident, $hvp:ident, $x:expr) => {
        check_slice_program(
            $name,
            |x| $grad(x),
            |x, u| $jvp(x, u),
            |x, u| $hvp(x, u),
            $x,
        )
    };
}

/// A recurrence whose state is overwritten each step: the loop keeps a tape.
#[differentiate(hessian)]
fn recurrence(x: &[f64]) -> f64 {
    let w = x[0];
    let mut h = 0.0;
    for t in 1..x.len() {
        h = (w * h + x[t]).tanh();
    }
    h * h
}

/// A `while` loop that leaves early, an early `return`, a running maximum.
#[differentiate(hessian)]
fn early_exits(x: &[f64]) -> f64 {
    let mut best = f64::NEG_INFINITY;
    let mut i = 0;
    let mut acc = 0.0;
    while i < x.len() {
        if x[i] > 2.5 {
            return acc * best;
        }
        best = best.max(x[i] * x[i]);
        acc += (x[i] - best).exp();
        i += 1;
    }
    acc + best.sqrt()
}

/// A local matrix written in a loop and read back, a softmax, an argmax by `max_by`.
#[differentiate(hessian)]
fn local_arrays(x: &[f64]) -> f64 {
    let n = x.len();
    let mut m = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            m[i][j] = (x[i] - x[j]).sin() + if i == j { x[i] * x[i] } else { 0.0 };
        }
    }
    let total: f64 = m
        .iter()
        .map(|row| row.iter().map(|v| v.exp()).sum::<f64>())
        .sum();
    let probs: Vec<f64> = m[0].iter().map(|v| v.exp() / total).collect();
    let top = probs
        .iter()
        .copied()
        .max_by(|a, b| a.total_cmp(b))
        .unwrap_or(0.0);
    top.ln() + probs.windows(2).map(|w| w[0] * w[1]).sum::<f64>()
}

/// An array returned by a call, a sub-slice passed to a call, a matrix parameter.
#[differentiate(hessian)]
fn rotate(p: [f64; 2], angle: f64) -> [f64; 2] {
    let (s, c) = angle.sin_cos();
    [c * p[0] - s * p[1], s * p[0] + c * p[1]]
}

#[differentiate(hessian)]
fn sum_of_squares(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum()
}

#[differentiate(hessian)]
fn through_calls(x: &[f64]) -> f64 {
    let q = rotate([x[0], x[1]], x[2]);
    let tail = sum_of_squares(&x[2..]);
    q[0] * q[1] + tail.sqrt() + sum_of_squares(&q)
}

#[test]
fn programs_in_forward_mode_and_second_order() {
    let x = [0.3, -0.7, 1.1, 0.4, -1.6];
    slice_program!(
        recurrence,
        recurrence_grad,
        recurrence_jvp,
        recurrence_hvp,
        &x
    );
    slice_program!(
        early_exits,
        early_exits_grad,
        early_exits_jvp,
        early_exits_hvp,
        &x
    );
    let y = [0.3, -0.7, 3.1, 0.4];
    slice_program!(
        early_exits,
        early_exits_grad,
        early_exits_jvp,
        early_exits_hvp,
        &y
    );
    slice_program!(
        local_arrays,
        local_arrays_grad,
        local_arrays_jvp,
        local_arrays_hvp,
        &x
    );
    slice_program!(
        through_calls,
        through_calls_grad,
        through_calls_jvp,
        through_calls_hvp,
        &x
    );
}

#[differentiate(jvp, wrt(x))]
fn softmax(x: &[f64], temperature: f64) -> Vec<f64> {
    let top = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| ((v - top) / temperature).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| v / total).collect()
}

#[test]
fn jacobian_of_a_softmax() {
    let x = [0.2, -1.0, 0.7, 0.1];
    let t = 0.5;
    let (p, j) = softmax_jacobian(&x, t);
    assert_eq!(p, softmax(&x, t));
    // ∂p_i/∂x_k = p_i (δ_ik - p_k) / t.
    for i in 0..4 {
        for k in 0..4 {
            let delta = if i == k { 1.0 } else { 0.0 };
            assert_close(j[i][k], p[i] * (delta - p[k]) / t, 1e-15);
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, autodiff_core::Differentiable)]
struct Neuron {
    w: [f64; 2],
    b: f64,
}

impl Neuron {
    #[differentiate(jvp)]
    fn fire(&self, x: f64) -> f64 {
        (self.w[0] * x + self.w[1] * x * x + self.b).tanh()
    }
}

/// The receiver of a method is taken by reference, so is its tangent, also when the struct
/// is a parameter held by value (found by the randomized corpus: it did not compile).
#[differentiate(jvp)]
fn fire_owned(a: f64, n: Neuron) -> f64 {
    n.fire(a * a)
}

#[differentiate(jvp)]
fn fire_borrowed(a: f64, n: &Neuron) -> f64 {
    n.fire(a * a)
}

#[test]
fn a_method_of_a_struct_parameter_in_forward_mode() {
    let n = Neuron {
        w: [0.3, -0.2],
        b: 0.1,
    };
    let t = Neuron {
        w: [0.5, -1.0],
        b: 0.25,
    };
    let a = 0.7;
    // Along (ta, t): through x = a², d tanh(z) = (1 - tanh²) dz.
    let x = a * a;
    let z = n.w[0] * x + n.w[1] * x * x + n.b;
    let dx = 2.0 * a * 0.4;
    let dz = n.w[0] * dx + 2.0 * n.w[1] * x * dx + t.w[0] * x + t.w[1] * x * x + t.b;
    let expected = (1.0 - z.tanh().powi(2)) * dz;
    let (value, d) = fire_owned_jvp(a, n.clone(), (0.4, t.clone()));
    assert_eq!(value, fire_owned(a, n.clone()));
    assert_close(d, expected, 1e-14);
    let (value, d) = fire_borrowed_jvp(a, &n, (0.4, t.clone()));
    assert_eq!(value, fire_borrowed(a, &n));
    assert_close(d, expected, 1e-14);
}

// ------------------------------------------------------------------------------------------
// Structs built in the function: the tangent of a literal is the literal of the members'
// tangents (a zero for a constant member, a copy of a field that is not differentiated).
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, autodiff_core::Differentiable)]
struct Spring {
    k: f64,
    rest: f64,
    #[differentiable(skip)]
    turns: usize,
}

impl Spring {
    #[differentiate(hessian)]
    fn energy(&self, x: f64) -> f64 {
        0.5 * self.k * (x - self.rest) * (x - self.rest)
    }
}

#[differentiate(hessian)]
fn springs(k: f64, x: f64) -> f64 {
    let s = Spring {
        k: k * x,
        rest: 0.5,
        turns: 2,
    };
    let t = if x > 0.0 {
        Spring {
            k,
            rest: x,
            // An integer field the macro cannot see the type of is marked constant.
            turns: autodiff_core::no_grad(s.turns) + 1,
        }
    } else {
        s
    };
    s.energy(x) + t.energy(k) + s.k * t.rest + autodiff_core::no_grad(t.turns) as f64
}

fn springs_plain(k: f64, x: f64) -> f64 {
    let energy = |k: f64, r: f64, x: f64| 0.5 * k * (x - r) * (x - r);
    let (tk, tr) = if x > 0.0 { (k, x) } else { (k * x, 0.5) };
    let turns = if x > 0.0 { 3.0 } else { 2.0 };
    energy(k * x, 0.5, x) + energy(tk, tr, k) + k * x * tr + turns
}

#[test]
fn structs_built_in_the_function() {
    for (k, x) in [(1.5, 0.7), (0.8, -0.6)] {
        let (value, (dk, dx)) = springs_grad(k, x);
        assert_eq!(value.to_bits(), springs(k, x).to_bits());
        assert_close(value, springs_plain(k, x), 1e-14);
        let mut f = |p: &[f64]| springs_plain(p[0], p[1]);
        for u in [[1.0, 0.0], [0.3, -0.7]] {
            let (jv, t) = springs_jvp(k, x, (u[0], u[1]));
            assert_eq!(jv.to_bits(), value.to_bits());
            assert_close(t, directional(&mut f, &[k, x], &u), 1e-8);
            assert_close(t, dk * u[0] + dx * u[1], 1e-13);
        }
        let (_, _, h) = springs_hessian(k, x);
        let mut g = |p: &[f64]| {
            let (_, (a, b)) = springs_grad(p[0], p[1]);
            vec![a, b]
        };
        for col in 0..2 {
            let mut u = [0.0; 2];
            u[col] = 1.0;
            let fd = directional_vec(&mut g, &[k, x], &u);
            for row in 0..2 {
                assert_close(h[row][col], fd[row], 1e-7);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// A skipped float field (`#[differentiable(skip)] s: f64`) is a constant: zero in tangents
// (the unit vectors of `_hessian`, the tangent of a constant struct member) and in adjoints
// flowing back out of a struct built in the function.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, autodiff_core::Differentiable)]
struct Scaled {
    k: f64,
    #[differentiable(skip)]
    s: f64,
}

#[derive(Clone, Copy, autodiff_core::Differentiable)]
struct Holder {
    sc: Scaled,
    c: f64,
}

impl Scaled {
    #[differentiate(hessian)]
    fn energy(&self, x: f64) -> f64 {
        self.k * self.s * x * x
    }
}

impl Holder {
    #[differentiate(hessian)]
    fn val(&self, x: f64) -> f64 {
        self.sc.k * self.sc.s * self.c * x
    }
}

#[differentiate(hessian)]
fn scaled_param(p: &Scaled, x: f64) -> f64 {
    p.energy(x) * p.k
}

#[differentiate(hessian)]
fn held(x: f64, y: f64) -> f64 {
    let base = Scaled { k: 1.0, s: 3.0 };
    let h = Holder { sc: base, c: x * y };
    h.val(y)
}

/// A varying value in the skipped field: a constant there, as `skip` says, in both modes.
#[differentiate(jvp)]
fn skipped_varying(x: f64, y: f64) -> f64 {
    let v = Scaled { k: x, s: y };
    v.energy(x)
}

#[test]
fn skipped_float_fields_are_constants() {
    let (p, x) = (Scaled { k: 1.5, s: 2.0 }, 0.7);
    let (_, (dp, dx), h) = scaled_param_hessian(&p, x);
    // f = k² s x²: the Hessian over (k, x) with s fixed.
    let (k, s) = (p.k, p.s);
    assert_close(dp.k, 2.0 * k * s * x * x, 1e-14);
    assert_eq!(
        scaled_param_grad(&p, x).1.0.s,
        s,
        "a skipped field keeps the value"
    );
    assert_close(dx, 2.0 * k * k * s * x, 1e-14);
    let expected = [
        [2.0 * s * x * x, 4.0 * k * s * x],
        [4.0 * k * s * x, 2.0 * k * k * s],
    ];
    for row in 0..2 {
        for col in 0..2 {
            assert_close(h[row][col], expected[row][col], 1e-13);
        }
    }
    // held = 3 x y².
    let (x, y) = (0.7, -0.4);
    let (_, (gx, gy)) = held_grad(x, y);
    assert_close(gx, 3.0 * y * y, 1e-14);
    assert_close(gy, 6.0 * x * y, 1e-14);
    // skipped_varying = x³ y with y taken for a constant.
    let (_, (vx, vy)) = skipped_varying_grad(x, y);
    assert_close(vx, 3.0 * x * x * y, 1e-14);
    assert_eq!(vy, 0.0);
    let (_, t) = skipped_varying_jvp(x, y, (0.3, 1.0));
    assert_close(t, 0.3 * vx, 1e-14);
    for u in [(1.0, 0.0), (0.0, 1.0), (0.6, -0.8)] {
        let (_, t) = held_jvp(x, y, u);
        assert_close(t, gx * u.0 + gy * u.1, 1e-14);
        let (_, _, hv) = held_hvp(x, y, u);
        let e = 1e-6;
        let plus = held_grad(x + e * u.0, y + e * u.1).1;
        let minus = held_grad(x - e * u.0, y - e * u.1).1;
        assert_close(hv.0, (plus.0 - minus.0) / (2.0 * e), 1e-7);
        assert_close(hv.1, (plus.1 - minus.1) / (2.0 * e), 1e-7);
    }
}

// Skipped fields of other types (an array, a `Vec`, a nested struct) are constants too.

#[derive(Clone, Debug, autodiff_core::Differentiable)]
struct Config {
    s: f64,
}

#[derive(Clone, Debug, autodiff_core::Differentiable)]
struct Masked {
    w: f64,
    v: Vec<f64>,
    #[differentiable(skip)]
    mask: [f64; 2],
    #[differentiable(skip)]
    weights: Vec<f64>,
    #[differentiable(skip)]
    cfg: Config,
}

impl Masked {
    #[differentiate(hessian)]
    fn score(&self, x: f64) -> f64 {
        self.w * self.w * self.mask[0] * x + self.v[0] * self.weights[1] * self.cfg.s * x * x
    }
}

#[differentiate(hessian)]
fn masked_score(m: &Masked, x: f64) -> f64 {
    m.score(x) * m.w
}

#[differentiate]
fn build_masked(a: f64) -> Masked {
    Masked {
        w: a,
        v: vec![2.0 * a],
        mask: [a, 1.0],
        weights: vec![0.5, a],
        cfg: Config { s: a },
    }
}

#[differentiate]
fn use_built(a: f64) -> f64 {
    let m = build_masked(a);
    m.w * m.mask[0]
}

#[differentiate(hessian)]
fn use_local(a: f64) -> f64 {
    let local = Masked {
        w: a,
        v: vec![a],
        mask: [3.0 * a, 0.0],
        weights: vec![a, a],
        cfg: Config { s: a * a },
    };
    local.score(2.0)
}

#[test]
fn skipped_fields_of_any_type_are_constants() {
    let m = Masked {
        w: 1.5,
        v: vec![0.8],
        mask: [2.0, 7.0],
        weights: vec![9.0, -0.5],
        cfg: Config { s: 3.0 },
    };
    let x = 0.6;
    // f = (w² mask0 x + v0 weights1 s x²) w over (w, v0, x), the skipped fields fixed.
    let (c1, c2) = (m.mask[0], m.weights[1] * m.cfg.s);
    let f = |p: &[f64]| (p[0] * p[0] * c1 * p[2] + p[1] * c2 * p[2] * p[2]) * p[0];
    let point = [m.w, m.v[0], x];
    let (value, (dm, dx)) = masked_score_grad(&m, x);
    assert_close(value, f(&point), 1e-14);
    let grad = [dm.w, dm.v[0], dx];
    common::assert_gradient(f, &point, &grad, 1e-8);
    // The gradient keeps the skipped values; as a direction they count for nothing.
    assert_eq!(dm.mask, m.mask);
    let (_, slope) = masked_score_jvp(&m, x, (dm.clone(), dx));
    assert_close(slope, grad.iter().map(|g| g * g).sum::<f64>(), 1e-13);
    let (_, (dh, _), h) = masked_score_hessian(&m, x);
    assert_eq!(dh.weights, m.weights, "as in `_grad`");
    let mut g = |p: &[f64]| {
        let mut q = m.clone();
        q.w = p[0];
        q.v[0] = p[1];
        let (_, (d, dx)) = masked_score_grad(&q, p[2]);
        vec![d.w, d.v[0], dx]
    };
    for col in 0..3 {
        let mut u = [0.0; 3];
        u[col] = 1.0;
        let fd = directional_vec(&mut g, &point, &u);
        for row in 0..3 {
            assert_close(h[row][col], fd[row], 1e-7);
        }
    }
    // A seed's skipped fields flow nowhere; a callee's gradient copy is not added.
    let seed = Masked {
        w: 1.0,
        v: vec![0.0],
        mask: [5.0, 5.0],
        weights: vec![5.0, 5.0],
        cfg: Config { s: 5.0 },
    };
    assert_eq!(build_masked_pullback(2.0, seed), 1.0);
    // The callee's gradient holds a copy of `mask`; the skipped part is a constant.
    let a = 0.7;
    assert_close(use_built_grad(a).1, a, 1e-15);
    // use_local = a² (3a) 2 + a a (a²) 4 with the skipped values held fixed: 12 a² + 4 a³.
    let expected = 12.0 * a * a + 4.0 * a * a * a;
    assert_close(use_local_grad(a).1, expected, 1e-14);
    assert_close(use_local_jvp(a, 1.0).1, expected, 1e-14);
    assert_close(use_local_hvp(a, 1.0).1, expected, 1e-14);
}

#[derive(Clone, Debug, autodiff_core::Differentiable)]
struct MaskedVec {
    w: Vec<f64>,
    #[differentiable(skip)]
    mask: Vec<f64>,
}

impl MaskedVec {
    #[differentiate(hessian)]
    fn loss(&self) -> f64 {
        self.w[0] * self.mask[0] + self.w[1] * self.w[1]
    }
}

/// A literal with a skipped `Vec` member in forward mode: the member's tangent is made before
/// the literal takes the member.
#[differentiate(hessian)]
fn masked_vec(a: f64) -> f64 {
    let c = MaskedVec {
        w: vec![a, a * a],
        mask: vec![2.0, 1.0],
    };
    c.loss()
}

#[test]
fn literal_with_a_skipped_vec_in_forward_mode() {
    let a = 1.5;
    let expected = 2.0 + 4.0 * a * a * a;
    assert_close(masked_vec_grad(a).1, expected, 1e-14);
    assert_close(masked_vec_jvp(a, 1.0).1, expected, 1e-14);
    assert_close(masked_vec_hvp(a, 1.0).2, 12.0 * a * a, 1e-13);
}

/// A struct value a loop with a `break` carries, replaced by a block's value and by update
/// syntax: the paths the `break` leaves have placeholders, whose tangents are placeholders of
/// the struct's type (they were the number 0, a type error).
#[derive(Clone, Debug, autodiff_core::Differentiable)]
struct Relaxed {
    w: [f64; 3],
    b: f64,
}

#[differentiate(jvp, hessian)]
fn relaxed(p: &Relaxed, a: f64) -> f64 {
    let mut acc = 0.0;
    for _ in 0..2 {
        let mut s = Relaxed {
            b: a * 2.0,
            ..p.clone()
        };
        let mut it = 0;
        loop {
            if it == 2 {
                break;
            }
            it += 1;
            s = {
                let mut u = s.clone();
                u.b = s.b * 0.5 + s.w[1] * a.tanh();
                u
            };
            s = Relaxed {
                w: [s.w[0] * a, s.w[1], s.w[2]],
                ..s
            };
        }
        acc += s.b * s.w[0];
    }
    acc
}

#[test]
fn struct_values_through_a_break() {
    let p = Relaxed {
        w: [0.3, 0.7, -0.2],
        b: 0.4,
    };
    let (value, (dp, da)) = relaxed_grad(&p, 0.9);
    assert_eq!(value.to_bits(), relaxed(&p, 0.9).to_bits());
    let f = |q: &[f64]| {
        let p = Relaxed {
            w: [q[0], q[1], q[2]],
            b: q[3],
        };
        relaxed(&p, q[4])
    };
    let point = [0.3, 0.7, -0.2, 0.4, 0.9];
    let grad = [dp.w[0], dp.w[1], dp.w[2], dp.b, da];
    assert_gradient(f, &point, &grad, 1e-7);
    let along = Relaxed {
        w: [0.5, -1.0, 0.25],
        b: 2.0,
    };
    let (_, tangent) = relaxed_jvp(&p, 0.9, (along, 0.75));
    let expected = 0.5 * grad[0] - grad[1] + 0.25 * grad[2] + 2.0 * grad[3] + 0.75 * grad[4];
    assert!(
        (tangent - expected).abs() < 1e-12,
        "{tangent} vs {expected}"
    );
    let (_, _, h) = relaxed_hessian(&p, 0.9);
    assert!((h[4][0] - h[0][4]).abs() < 1e-12, "symmetric");
}

//! Structs that derive `Differentiable`, methods, and user-written derivatives.

#![allow(clippy::needless_range_loop)] // indexed loops, as numerical code writes them

mod common;

use autodiff_core::{Differentiable, check_gradient_of, differentiate};
use common::{assert_close, assert_gradient};

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Affine {
    w: Vec<f64>,
    b: f64,
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Mlp {
    layer1: Affine,
    scale: [f64; 2],
    #[differentiable(skip)]
    frozen: f64,
    name: String,
}

impl Affine {
    #[differentiate]
    fn apply(&self, x: &[f64]) -> f64 {
        let mut s = self.b;
        for i in 0..x.len() {
            s += self.w[i] * x[i];
        }
        s
    }
}

impl Mlp {
    #[differentiate(wrt(self))]
    fn loss(&self, x: &[f64]) -> f64 {
        let h = self.layer1.apply(x).tanh();
        let out = self.scale[0] * h + self.scale[1] * h * h;
        out * self.frozen
    }
}

#[differentiate(wrt(p))]
fn free_loss(p: &Mlp, x: &[f64]) -> f64 {
    let mut s = p.layer1.b * p.scale[1];
    for (i, v) in x.iter().enumerate() {
        s += (p.layer1.w[i] * v).sin();
    }
    s * p.frozen
}

fn model() -> Mlp {
    Mlp {
        layer1: Affine {
            w: vec![0.3, -0.2, 0.5],
            b: 0.1,
        },
        scale: [1.5, -0.7],
        frozen: 2.0,
        name: "m".to_owned(),
    }
}

#[test]
fn gradient_of_a_struct_is_the_struct() {
    let m = model();
    let x = [1.0, 2.0, -1.0];
    let (v, g) = m.loss_grad(&x);
    assert_eq!(v, m.loss(&x));
    assert_eq!(g.name, "m");
    assert_eq!(g.frozen, 2.0);
    let check = check_gradient_of(|p: &Mlp| p.loss(&x), &m, &g);
    assert!(check.passes(1e-8), "{check}");

    let (_, g) = free_loss_grad(&m, &x);
    let check = check_gradient_of(|p: &Mlp| free_loss(p, &x), &m, &g);
    assert!(check.passes(1e-8), "{check}");
}

#[test]
fn method_on_an_inner_struct() {
    let a = Affine {
        w: vec![1.0, 2.0],
        b: 0.5,
    };
    let (v, (ga, gx)) = a.apply_grad(&[3.0, 4.0]);
    assert_eq!(v, 11.5);
    assert_eq!(
        ga,
        Affine {
            w: vec![3.0, 4.0],
            b: 1.0
        }
    );
    assert_eq!(gx, vec![1.0, 2.0]);
}

/// softplus(x) = ln(1 + e^x), with its derivative given by hand (the sigmoid).
#[differentiate(pullback = softplus_derivative)]
fn softplus(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

fn softplus_derivative(x: f64, d_out: f64) -> f64 {
    d_out / (1.0 + (-x).exp())
}

#[differentiate]
fn uses_softplus(x: f64, y: f64) -> f64 {
    softplus(x * y) + softplus(y)
}

#[differentiate(pullback = norm_derivative)]
fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn norm_derivative(v: &[f64], d_out: f64) -> Vec<f64> {
    let n = norm(v);
    v.iter().map(|a| d_out * a / n).collect()
}

#[differentiate]
fn normalized_dot(v: &[f64], w: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..v.len() {
        s += v[i] * w[i];
    }
    s / norm(v)
}

#[test]
fn custom_derivatives() {
    let (v, d) = softplus_grad(0.3);
    assert_eq!(v, softplus(0.3));
    assert_close(d, 1.0 / (1.0 + (-0.3f64).exp()), 1e-15);
    let (_, (dx, dy)) = uses_softplus_grad(0.4, -1.2);
    assert_gradient(|p| uses_softplus(p[0], p[1]), &[0.4, -1.2], &[dx, dy], 1e-8);
    let v = [1.0, -2.0, 0.5];
    let w = [0.3, 0.1, 2.0];
    let (_, (dv, dw)) = normalized_dot_grad(&v, &w);
    let mut g = dv.clone();
    g.extend(&dw);
    assert_gradient(
        |p| normalized_dot(&p[..3], &p[3..]),
        &[1.0, -2.0, 0.5, 0.3, 0.1, 2.0],
        &g,
        1e-8,
    );
}

#[test]
fn optimizers_train_a_struct() {
    use autodiff_core::optim::{Adam, Optimizer};
    let xs = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let targets = [1.0, -1.0, 0.5];
    let mut a = Affine {
        w: vec![0.0; 3],
        b: 0.0,
    };
    let mut adam = Adam::new(0.05);
    for _ in 0..2000 {
        let mut total = a.zero_like();
        for (x, t) in xs.iter().zip(targets) {
            let (y, (g, _)) = a.apply_grad(x);
            let mut g = g;
            g.scale(2.0 * (y - t));
            total.add_assign(&g);
        }
        adam.step(&mut a, &total);
    }
    for (x, t) in xs.iter().zip(targets) {
        assert!((a.apply(x) - t).abs() < 1e-3);
    }
}

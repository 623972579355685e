//! `f_vjp`: the forward sweep now, the backward sweep later with any seed (JAX's `vjp`). Each
//! is checked against `_pullback` (which this crate's other tests check against finite
//! differences and formulas) and against the formula.
#![allow(clippy::ptr_arg)]

mod common;

use autodiff_core::{Differentiable, differentiate};
use common::assert_close;

#[differentiate]
fn price(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> f64 {
    let apple_price = apple * apple_num;
    let orange_price = orange * orange_num;
    let all_price = apple_price + orange_price;
    all_price * tax
}

#[test]
fn the_shopping_example_later() {
    let (value, backward) = price_vjp(100.0, 3.0, 50.0, 4.0, 1.1);
    assert_eq!(value.to_bits(), price(100.0, 3.0, 50.0, 4.0, 1.1).to_bits());
    let (da, dan, d_o, don, dt) = backward(2.0);
    assert_close(da, 2.0 * 3.3, 1e-15);
    assert_close(dan, 2.0 * 110.0, 1e-15);
    assert_close(d_o, 2.0 * 4.4, 1e-15);
    assert_close(don, 2.0 * 55.0, 1e-15);
    assert_close(dt, 2.0 * 500.0, 1e-15);
}

#[differentiate(wrt(w))]
fn weighted(w: &[f64], x: &Vec<f64>, scale: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += (w[i] * x[i]).tanh();
    }
    s * scale
}

#[test]
fn borrowed_parameters_outlive_the_forward_sweep() {
    let w = vec![0.5, -1.0, 2.0];
    let x = vec![1.0, 0.25, -0.5];
    let (value, backward) = weighted_vjp(&w, &x, 3.0);
    assert_eq!(value.to_bits(), weighted(&w, &x, 3.0).to_bits());
    let dw = backward(0.5);
    assert_eq!(dw, weighted_pullback(&w, &x, 3.0, 0.5));
    for i in 0..3 {
        let t = (w[i] * x[i]).tanh();
        assert_close(dw[i], 0.5 * 3.0 * x[i] * (1.0 - t * t), 1e-15);
    }
}

#[differentiate]
fn polar(r: f64, theta: f64) -> (f64, f64) {
    (r * theta.cos(), r * theta.sin())
}

#[test]
fn a_pair_output_with_a_pair_seed() {
    let (r, theta) = (2.0, 0.3_f64);
    let (value, backward) = polar_vjp(r, theta);
    assert_eq!(value, polar(r, theta));
    let (dr, dtheta) = backward((1.0, -2.0));
    assert_close(dr, theta.cos() - 2.0 * theta.sin(), 1e-15);
    assert_close(dtheta, -r * theta.sin() - 2.0 * r * theta.cos(), 1e-15);
}

#[derive(Clone, Differentiable)]
struct Line {
    slope: f64,
    offset: f64,
}

impl Line {
    #[differentiate]
    fn squared_error(&self, x: f64, y: f64) -> f64 {
        let e = self.slope * x + self.offset - y;
        e * e
    }
}

#[test]
fn a_method_keeps_its_receiver() {
    let line = Line {
        slope: 2.0,
        offset: -1.0,
    };
    let (value, backward) = line.squared_error_vjp(1.5, 1.0);
    assert_eq!(value, line.squared_error(1.5, 1.0));
    let (d_line, dx, dy) = backward(1.0);
    let e = 2.0 * 1.5 - 1.0 - 1.0;
    assert_close(d_line.slope, 2.0 * e * 1.5, 1e-15);
    assert_close(d_line.offset, 2.0 * e, 1e-15);
    assert_close(dx, 2.0 * e * 2.0, 1e-15);
    assert_close(dy, -2.0 * e, 1e-15);
}

#[differentiate]
fn generic_sum<const N: usize>(x: [f64; N]) -> f64 {
    let mut s = 0.0;
    for v in x.iter() {
        s += v * v;
    }
    s
}

#[test]
fn generic_functions_too() {
    let (value, backward) = generic_sum_vjp([1.0, 2.0, 3.0]);
    assert_eq!(value, 14.0);
    assert_eq!(backward(0.5), [1.0, 2.0, 3.0]);
}

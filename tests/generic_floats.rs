//! Library code written once for `f32` and `f64`, generic over `T: num_traits::Float`: the
//! generated functions work at both types, and from other generic code bounded by
//! `autodiff_core::Float`. Gradients against the formula and finite differences.

mod common;

use autodiff_core::differentiate;
use common::{assert_close, assert_gradient};
use num_traits::Float;

#[differentiate]
fn softplus<T: Float>(x: T) -> T {
    (T::one() + x.exp()).ln()
}

#[differentiate]
fn gaussian<T>(x: T, mu: T, sigma: T) -> T
where
    T: Float,
{
    let z = (x - mu) / sigma;
    let half = T::from(0.5).unwrap();
    (-half * z * z).exp() / sigma
}

#[differentiate]
fn iterate<T: Float>(x0: T, n: usize) -> T {
    let mut x = x0;
    let mut prev = x0;
    for _ in 0..n {
        prev = x;
        x = (x * x + T::one()).sqrt() - x.sin();
    }
    x - prev
}

#[test]
fn generic_functions_at_f64_and_f32() {
    for x in [-1.5_f64, 0.0, 2.0] {
        let (value, dx) = softplus_grad(x);
        assert_eq!(value.to_bits(), softplus(x).to_bits());
        assert_close(dx, 1.0 / (1.0 + (-x).exp()), 1e-15);
        let (value32, dx32) = softplus_grad(x as f32);
        assert_eq!(value32.to_bits(), softplus(x as f32).to_bits());
        assert!((dx32 as f64 - dx).abs() < 1e-6);
    }
    let (value, (dx, dmu, dsigma)) = gaussian_grad(0.3_f64, -0.2, 0.8);
    assert_eq!(value.to_bits(), gaussian(0.3_f64, -0.2, 0.8).to_bits());
    assert_gradient(
        |p| gaussian(p[0], p[1], p[2]),
        &[0.3, -0.2, 0.8],
        &[dx, dmu, dsigma],
        1e-8,
    );
    let (value, dx) = iterate_grad(0.7_f64, 4);
    assert_eq!(value.to_bits(), iterate(0.7_f64, 4).to_bits());
    assert_gradient(|p| iterate(p[0], 4), &[0.7], &[dx], 1e-8);
}

/// Generic code calling the generated function at its own type parameter.
fn curvature<T: autodiff_core::Float + Float>(x: T) -> T {
    let h = T::from(1e-3).unwrap();
    let (_, a) = softplus_grad(x + h);
    let (_, b) = softplus_grad(x - h);
    (a - b) / (h + h)
}

#[test]
fn called_from_generic_code() {
    let s = 1.0 / (1.0 + (-0.4f64).exp());
    assert_close(curvature(0.4f64), s * (1.0 - s), 1e-6);
}

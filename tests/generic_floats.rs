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

// ------------------------------------------------------------------------------------------
// Numbers made by the float type (`T::zero()`, `T::one()`, `T::from(..)`) carried by loops and
// branches, path forms of float methods (`T::sqrt(x)`, `Float::exp(x)`), `break` with a value:
// generic code as it is written, in reverse and forward mode.
// ------------------------------------------------------------------------------------------

/// Horner's method from `T::zero()`, a ReLU whose zero comes from the type and is used twice,
/// and a series whose term starts at `T::one()`.
#[differentiate(hessian)]
fn series<T: Float>(x: T, y: T) -> T {
    let mut poly = T::zero();
    for k in 0..4 {
        poly = (poly + T::from(k + 1).unwrap()) * x;
    }
    let r = if x > T::zero() { x } else { T::zero() };
    let mut term = T::one();
    let mut sum = T::zero();
    for _ in 0..3 {
        term = term * y;
        sum = sum + term;
    }
    poly + r * y + r + sum
}

fn series_plain(x: f64, y: f64) -> f64 {
    let poly = x * (4.0 + x * (3.0 + x * (2.0 + x)));
    let r = x.max(0.0);
    poly + r * y + r + y + y * y + y * y * y
}

#[differentiate]
fn path_forms<T: Float>(x: T, y: T, n: usize) -> T {
    let h = T::sqrt(x * x + y * y) + T::max(x, y) * T::atan2(y, x);
    let mut i = 0;
    let e = loop {
        if i >= n {
            break Float::exp(x * y) + num_traits::Float::ln(h);
        }
        i += 1;
    };
    h + e
}

fn path_forms_plain(x: f64, y: f64) -> f64 {
    let h = (x * x + y * y).sqrt() + x.max(y) * y.atan2(x);
    h + (x * y).exp() + h.ln()
}

#[test]
fn numbers_of_the_float_type_and_path_forms() {
    for (x, y) in [(0.7_f64, -0.4_f64), (-0.6, 1.1)] {
        let (value, (dx, dy)) = series_grad(x, y);
        assert_eq!(value.to_bits(), series(x, y).to_bits());
        assert_close(value, series_plain(x, y), 1e-14);
        assert_gradient(|p| series_plain(p[0], p[1]), &[x, y], &[dx, dy], 1e-8);
        // Hessian columns against finite differences of the gradient.
        let e = 1e-6;
        for (vx, vy) in [(1.0, 0.0), (0.0, 1.0)] {
            let (_, _, (hx, hy)) = series_hvp(x, y, (vx, vy));
            let plus = series_grad(x + e * vx, y + e * vy).1;
            let minus = series_grad(x - e * vx, y - e * vy).1;
            assert_close(hx, (plus.0 - minus.0) / (2.0 * e), 1e-6);
            assert_close(hy, (plus.1 - minus.1) / (2.0 * e), 1e-6);
        }
        let (value32, (dx32, _)) = series_grad(x as f32, y as f32);
        assert_eq!(value32.to_bits(), series(x as f32, y as f32).to_bits());
        assert!((dx32 as f64 - dx).abs() < 1e-4);
    }
    let (x, y) = (0.8_f64, 0.5_f64);
    let (value, (dx, dy)) = path_forms_grad(x, y, 2);
    assert_eq!(value.to_bits(), path_forms(x, y, 2).to_bits());
    assert_close(value, path_forms_plain(x, y), 1e-14);
    assert_gradient(|p| path_forms_plain(p[0], p[1]), &[x, y], &[dx, dy], 1e-8);
}

#[differentiate(hessian)]
fn damped<T: Float>(a: T, b: T) -> T {
    a * b * b + a.sin()
}

/// A generic call whose result is carried by a loop (`s = damped(s, y)`), in both modes.
#[differentiate(hessian)]
fn compose<T: Float>(x: T, y: T) -> T {
    let mut s = x;
    for _ in 0..3 {
        s = damped(s, y);
    }
    s * y
}

fn compose_plain(x: f64, y: f64) -> f64 {
    let mut s = x;
    for _ in 0..3 {
        s = s * y * y + s.sin();
    }
    s * y
}

#[test]
fn generic_calls_in_loops_and_hessians() {
    let (x, y) = (0.6_f64, 0.9_f64);
    let (value, (dx, dy)) = compose_grad(x, y);
    assert_eq!(value.to_bits(), compose(x, y).to_bits());
    assert_close(value, compose_plain(x, y), 1e-14);
    assert_gradient(|p| compose_plain(p[0], p[1]), &[x, y], &[dx, dy], 1e-8);
    // The Hessian, column by column against finite differences of the gradient.
    let (value, grad, h) = compose_hessian(x, y);
    assert_eq!(value.to_bits(), compose(x, y).to_bits());
    assert_close(grad.0, dx, 1e-13);
    let e = 1e-6;
    for (k, (vx, vy)) in [(1.0, 0.0), (0.0, 1.0)].into_iter().enumerate() {
        let plus = compose_grad(x + e * vx, y + e * vy).1;
        let minus = compose_grad(x - e * vx, y - e * vy).1;
        assert_close(h[0][k], (plus.0 - minus.0) / (2.0 * e), 1e-6);
        assert_close(h[1][k], (plus.1 - minus.1) / (2.0 * e), 1e-6);
    }
    let (_, _, h32) = compose_hessian(x as f32, y as f32);
    assert!((h32[0][1] as f64 - h[0][1]).abs() < 1e-3 * h[0][1].abs().max(1.0));
}

/// Slices and arrays of the generic float type: parameters, a local `Vec`, an array output.
#[differentiate(hessian)]
fn scaled_norm<T: Float>(x: &[T], s: T) -> T {
    let mut acc = T::zero();
    for v in x.iter() {
        acc = acc + *v * *v * s;
    }
    acc.sqrt()
}

#[differentiate]
fn smooth_max<T: Float>(x: &[T], w: [T; 3]) -> T {
    let mut buf = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        buf[i] = x[i] * w[i % 3];
    }
    buf.iter().fold(T::zero(), |a, b| a + b.exp()).ln()
}

#[differentiate(jvp)]
fn to_cartesian<T: Float>(r: T, phi: T) -> [T; 2] {
    [r * phi.cos(), r * phi.sin()]
}

#[test]
fn slices_and_arrays_of_the_float_type() {
    let (x, s) = ([0.3_f64, -0.7, 1.1, 0.4], 1.5_f64);
    let (value, (dx, ds)) = scaled_norm_grad(&x, s);
    assert_eq!(value.to_bits(), scaled_norm(&x, s).to_bits());
    let plain = |p: &[f64]| (p[..4].iter().map(|v| v * v).sum::<f64>() * p[4]).sqrt();
    let at = [x[0], x[1], x[2], x[3], s];
    assert_gradient(plain, &at, &[dx[0], dx[1], dx[2], dx[3], ds], 1e-8);
    // The Hessian's columns against finite differences of the gradient.
    let (_, _, h) = scaled_norm_hessian(&x, s);
    let grad = |p: &[f64]| {
        let (_, (g, gs)) = scaled_norm_grad(&p[..4], p[4]);
        vec![g[0], g[1], g[2], g[3], gs]
    };
    let e = 1e-6;
    for k in 0..5 {
        let (mut plus, mut minus) = (at, at);
        plus[k] += e;
        minus[k] -= e;
        let (gp, gm) = (grad(&plus), grad(&minus));
        for i in 0..5 {
            assert_close(h[i][k], (gp[i] - gm[i]) / (2.0 * e), 1e-6);
        }
    }
    let x32 = x.map(|v| v as f32);
    let (_, (dx32, _)) = scaled_norm_grad(&x32, s as f32);
    assert!((dx32[2] as f64 - dx[2]).abs() < 1e-5);

    let w = [0.5, 1.0, -0.3];
    let (value, (dx, dw)) = smooth_max_grad(&x, w);
    assert_eq!(value.to_bits(), smooth_max(&x, w).to_bits());
    let plain = |p: &[f64]| {
        let w = [p[4], p[5], p[6]];
        (0..4).map(|i| (p[i] * w[i % 3]).exp()).sum::<f64>().ln()
    };
    let at = [x[0], x[1], x[2], x[3], w[0], w[1], w[2]];
    let g = [dx[0], dx[1], dx[2], dx[3], dw[0], dw[1], dw[2]];
    assert_gradient(plain, &at, &g, 1e-8);

    // The Jacobian of an array output, against the formula.
    let (r, phi) = (1.5_f64, 0.4_f64);
    let (value, jac) = to_cartesian_jacobian(r, phi);
    assert_eq!(value, to_cartesian(r, phi));
    let exact = [[phi.cos(), -r * phi.sin()], [phi.sin(), r * phi.cos()]];
    for i in 0..2 {
        for k in 0..2 {
            assert_close(jac[i][k], exact[i][k], 1e-15);
        }
    }
}

/// The variance of a slice, its length converted by `T::from(x.len()).unwrap()`.
#[differentiate]
fn variance<T: Float>(x: &[T]) -> T {
    let n = T::from(x.len()).unwrap();
    let mean = x.iter().fold(T::zero(), |a, b| a + *b) / n;
    x.iter()
        .fold(T::zero(), |a, b| a + (*b - mean) * (*b - mean))
        / n
}

#[test]
fn lengths_converted_to_the_float_type() {
    let x = [1.0_f64, 2.5, -0.5, 4.0];
    let (value, dx) = variance_grad(&x);
    assert_eq!(value.to_bits(), variance(&x).to_bits());
    // d var / d x_i = 2 (x_i - mean) / n.
    let mean = x.iter().sum::<f64>() / 4.0;
    for i in 0..4 {
        assert_close(dx[i], 2.0 * (x[i] - mean) / 4.0, 1e-15);
    }
}

#[derive(Clone, Debug, autodiff_core::Differentiable)]
struct Quad<T> {
    a: T,
    b: T,
}

/// Methods of a generic `impl` returning the type parameter: their parameters and output are
/// floats (`_grad` said the output was not a scalar, and `hessian` was rejected).
#[differentiate]
impl<T: autodiff_core::Float> Quad<T> {
    #[differentiate]
    fn eval(&self, x: T) -> T {
        self.a * x * x + self.b * x
    }

    #[differentiate(hessian)]
    fn cubic(&self, x: T) -> T {
        self.a * x * x * x + self.b * x
    }
}

#[test]
fn methods_of_a_generic_impl_returning_the_float() {
    let q = Quad {
        a: 2.0_f64,
        b: -1.0,
    };
    let (value, (dq, dx)) = q.eval_grad(1.5);
    assert_eq!(value.to_bits(), q.eval(1.5).to_bits());
    assert_eq!((dq.a, dq.b, dx), (2.25, 1.5, 2.0 * 2.0 * 1.5 - 1.0));
    let q32 = Quad { a: 2.0f32, b: -1.0 };
    let (_, (dq, dx)) = q32.eval_grad(1.5);
    assert_eq!((dq.a, dq.b, dx), (2.25, 1.5, 5.0));
    // a x³ + b x: gradient (x³, x, 3 a x² + b); Hessian rows (0, 0, 3x²), (0, 0, 1),
    // (3x², 1, 6 a x).
    let (value, (dq, dx), h) = q.cubic_hessian(1.5);
    assert_eq!(value.to_bits(), q.cubic(1.5).to_bits());
    assert_eq!((dq.a, dq.b, dx), (3.375, 1.5, 3.0 * 2.0 * 2.25 - 1.0));
    let expected = [[0.0, 0.0, 6.75], [0.0, 0.0, 1.0], [6.75, 1.0, 18.0]];
    for (row, want) in h.iter().zip(expected) {
        for (&got, want) in row.iter().zip(want) {
            assert_close(got, want, 1e-14);
        }
    }
}

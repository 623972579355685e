//! Every row of the derivative rules table (`autodiff-macro/src/rules.rs`), checked at several
//! points of its domain against the derivative written out by hand here and against central
//! finite differences.
//!
//! Each method is tested in its method form `x.sin()` and its path form `f64::sin(x)`, every
//! argument of the binary and ternary methods is tested (also with the others constant), and the
//! conventions of the SPEC at non-differentiable points are tested on their own: `abs` and
//! `signum` give 0 at 0, `max`/`min` give the whole adjoint to the first argument on a tie, the
//! rounding functions and `signum` have derivative 0, `sqrt` at 0 gives +infinity.
//!
//! Expected values never come from the macro itself: each is a formula of this file or a
//! finite-difference estimate.

mod common;

use std::f64::consts::{LN_2, LN_10, PI};

use autodiff_core::{differentiate, numeric_gradient_with_step};
use common::assert_gradient;

/// Tolerance against the hand-written derivative: both are a few roundings of the same number.
const ANALYTIC: f64 = 1e-12;
/// Tolerance against central finite differences.
const NUMERIC: f64 = 1e-6;
/// Tolerance for `f32` functions against the `f64` formula.
const ANALYTIC_F32: f64 = 1e-5;
/// Tolerance for `f32` functions against finite differences with a wide step.
const NUMERIC_F32: f64 = 1e-3;

/// Asserts `got == expected` up to `tolerance` (relative above magnitude 1, absolute below);
/// equal values (infinities, signed zeros) always pass, a NaN never does.
#[track_caller]
fn expect(got: f64, expected: f64, tolerance: f64, what: impl std::fmt::Display) {
    if got == expected {
        return;
    }
    let error = (got - expected).abs() / 1.0_f64.max(got.abs()).max(expected.abs());
    assert!(
        error <= tolerance,
        "{what}: got {got:e}, expected {expected:e} (error {error:.2e})"
    );
}

/// A function of one `f64`, its `_grad` and its `_pullback`, at a point where it is smooth.
#[track_caller]
fn check1(
    f: fn(f64) -> f64,
    grad: fn(f64) -> (f64, f64),
    pullback: fn(f64, f64) -> f64,
    x: f64,
    expected: f64,
) {
    let (value, d) = grad(x);
    assert_eq!(value, f(x), "value at {x}");
    expect(d, expected, ANALYTIC, format_args!("derivative at {x}"));
    assert_gradient(|p| f(p[0]), &[x], &[d], NUMERIC);
    expect(
        pullback(x, -2.5),
        -2.5 * expected,
        ANALYTIC,
        format_args!("pullback at {x}"),
    );
}

/// Like [`check1`] at a point where the function is not differentiable (no finite differences).
#[track_caller]
fn check1_at_kink(f: fn(f64) -> f64, grad: fn(f64) -> (f64, f64), x: f64, expected: f64) {
    let (value, d) = grad(x);
    assert_eq!(value.to_bits(), f(x).to_bits(), "value at {x}");
    assert!(
        d == expected,
        "derivative at {x:?}: got {d:?}, expected {expected:?}"
    );
}

type Grad2 = fn(f64, f64) -> (f64, (f64, f64));
type Grad3 = fn(f64, f64, f64) -> (f64, (f64, f64, f64));

/// A function of two `f64`s at a point where it is smooth.
#[track_caller]
fn check2(f: fn(f64, f64) -> f64, grad: Grad2, x: f64, y: f64, expected: (f64, f64)) {
    let (value, (dx, dy)) = grad(x, y);
    assert_eq!(value, f(x, y), "value at ({x}, {y})");
    expect(dx, expected.0, ANALYTIC, format_args!("d/dx at ({x}, {y})"));
    expect(dy, expected.1, ANALYTIC, format_args!("d/dy at ({x}, {y})"));
    assert_gradient(|p| f(p[0], p[1]), &[x, y], &[dx, dy], NUMERIC);
}

/// A function of two `f64`s at a kink: the analytic convention only.
#[track_caller]
fn check2_at_kink(f: fn(f64, f64) -> f64, grad: Grad2, x: f64, y: f64, expected: (f64, f64)) {
    let (value, d) = grad(x, y);
    assert_eq!(
        value.to_bits(),
        f(x, y).to_bits(),
        "value at ({x:?}, {y:?})"
    );
    assert_eq!(d, expected, "gradient at ({x:?}, {y:?})");
}

/// A function of three `f64`s at a point where it is smooth.
#[track_caller]
fn check3(f: fn(f64, f64, f64) -> f64, grad: Grad3, p: [f64; 3], expected: [f64; 3]) {
    let (value, (da, db, dc)) = grad(p[0], p[1], p[2]);
    assert_eq!(value, f(p[0], p[1], p[2]), "value at {p:?}");
    for (k, (got, want)) in [da, db, dc].into_iter().zip(expected).enumerate() {
        expect(got, want, ANALYTIC, format_args!("component {k} at {p:?}"));
    }
    assert_gradient(|q| f(q[0], q[1], q[2]), &p, &[da, db, dc], NUMERIC);
}

/// A function of one `f32` against the `f64` formula and wide-step finite differences.
#[track_caller]
fn check1_f32(f: fn(f32) -> f32, grad: fn(f32) -> (f32, f32), x: f32, expected: f64) {
    let (value, d) = grad(x);
    assert_eq!(value, f(x), "value at {x}");
    expect(
        d as f64,
        expected,
        ANALYTIC_F32,
        format_args!("f32 derivative at {x}"),
    );
    let numeric = numeric_gradient_with_step(|p| f(p[0] as f32) as f64, &[x as f64], 1e-2);
    expect(
        d as f64,
        numeric[0],
        NUMERIC_F32,
        format_args!("f32 finite differences at {x}"),
    );
}

/// A function of two `f32`s, like [`check1_f32`].
#[track_caller]
fn check2_f32(
    f: fn(f32, f32) -> f32,
    grad: fn(f32, f32) -> (f32, (f32, f32)),
    x: f32,
    y: f32,
    expected: (f64, f64),
) {
    let (value, (dx, dy)) = grad(x, y);
    assert_eq!(value, f(x, y), "value at ({x}, {y})");
    expect(
        dx as f64,
        expected.0,
        ANALYTIC_F32,
        format_args!("f32 d/dx at ({x}, {y})"),
    );
    expect(
        dy as f64,
        expected.1,
        ANALYTIC_F32,
        format_args!("f32 d/dy at ({x}, {y})"),
    );
    let numeric = numeric_gradient_with_step(
        |p| f(p[0] as f32, p[1] as f32) as f64,
        &[x as f64, y as f64],
        1e-2,
    );
    expect(
        dx as f64,
        numeric[0],
        NUMERIC_F32,
        format_args!("f32 numeric d/dx at ({x}, {y})"),
    );
    expect(
        dy as f64,
        numeric[1],
        NUMERIC_F32,
        format_args!("f32 numeric d/dy at ({x}, {y})"),
    );
}

// ---------------------------------------------------------------------------------------------
// Operators: + - * / % and unary -.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn add(x: f64, y: f64) -> f64 {
    x + y
}

#[differentiate]
fn add_constants(x: f64) -> f64 {
    (2.0 + x) + (x + 0.5)
}

#[test]
fn add_passes_the_adjoint_through() {
    for (x, y) in [(1.0, 2.0), (-3.5, 0.25), (0.0, -7.0)] {
        check2(add, add_grad, x, y, (1.0, 1.0));
    }
    for x in [-1.0, 0.0, 3.0] {
        check1(
            add_constants,
            add_constants_grad,
            add_constants_pullback,
            x,
            2.0,
        );
    }
}

#[differentiate]
fn sub(x: f64, y: f64) -> f64 {
    x - y
}

#[differentiate]
fn sub_constants(x: f64) -> f64 {
    (3.0 - x) - (x - 0.5) - x
}

#[test]
fn sub_negates_the_second_adjoint() {
    for (x, y) in [(1.0, 2.0), (-3.5, 0.25), (0.0, -7.0)] {
        check2(sub, sub_grad, x, y, (1.0, -1.0));
    }
    for x in [-1.0, 0.0, 3.0] {
        check1(
            sub_constants,
            sub_constants_grad,
            sub_constants_pullback,
            x,
            -3.0,
        );
    }
}

#[differentiate]
fn mul(x: f64, y: f64) -> f64 {
    x * y
}

#[differentiate]
fn mul_same(x: f64) -> f64 {
    x * x
}

#[differentiate]
fn mul_constants(x: f64) -> f64 {
    3.0 * x * 0.5
}

#[test]
fn mul_swaps() {
    for (x, y) in [(1.0, 2.0), (-3.5, 0.25), (0.0, -7.0), (4.0, 0.0)] {
        check2(mul, mul_grad, x, y, (y, x));
    }
    for x in [-1.5, 0.0, 3.0] {
        check1(mul_same, mul_same_grad, mul_same_pullback, x, 2.0 * x);
        check1(
            mul_constants,
            mul_constants_grad,
            mul_constants_pullback,
            x,
            1.5,
        );
    }
}

#[differentiate]
fn div(x: f64, y: f64) -> f64 {
    x / y
}

#[differentiate]
fn div_constant_numerator(x: f64) -> f64 {
    1.0 / x
}

#[differentiate]
fn div_constant_denominator(x: f64) -> f64 {
    x / 4.0
}

#[differentiate]
fn div_same(x: f64) -> f64 {
    (x + 1.0) / x
}

#[test]
fn div_both_arguments() {
    for (x, y) in [(1.0, 2.0), (-3.5, 0.25), (0.0, -7.0), (5.0, -0.5)] {
        check2(div, div_grad, x, y, (1.0 / y, -x / (y * y)));
    }
    for x in [-3.0, -0.5, 0.4, 2.0] {
        let (f, g, p) = (
            div_constant_numerator,
            div_constant_numerator_grad,
            div_constant_numerator_pullback,
        );
        check1(f, g, p, x, -1.0 / (x * x));
        let (f, g, p) = (
            div_constant_denominator,
            div_constant_denominator_grad,
            div_constant_denominator_pullback,
        );
        check1(f, g, p, x, 0.25);
        check1(
            div_same,
            div_same_grad,
            div_same_pullback,
            x,
            -1.0 / (x * x),
        );
    }
}

#[differentiate]
fn rem(x: f64, y: f64) -> f64 {
    x % y
}

#[differentiate]
fn rem_constant_divisor(x: f64) -> f64 {
    x % 3.0
}

#[differentiate]
fn rem_constant_dividend(x: f64) -> f64 {
    7.0 % x
}

#[test]
fn rem_both_arguments() {
    // x % y = x - trunc(x / y) y: d/dx = 1, d/dy = -trunc(x / y), away from the jumps.
    let points = [
        (5.3, 2.0),
        (-5.3, 2.0),
        (7.5, -2.0),
        (-7.5, -2.25),
        (0.7, 3.0),
        (1.2, 0.5),
    ];
    for (x, y) in points {
        check2(rem, rem_grad, x, y, (1.0, -(x / y).trunc()));
    }
    for x in [-4.4, -0.5, 1.0, 5.5] {
        let (f, g, p) = (
            rem_constant_divisor,
            rem_constant_divisor_grad,
            rem_constant_divisor_pullback,
        );
        check1(f, g, p, x, 1.0);
    }
    // d/dx (7 % x) = -trunc(7 / x), at points where 7 / x is far from an integer.
    for x in [2.2, -3.1, 1.6, 10.0] {
        let (f, g, p) = (
            rem_constant_dividend,
            rem_constant_dividend_grad,
            rem_constant_dividend_pullback,
        );
        check1(f, g, p, x, -(7.0 / x).trunc());
    }
}

#[differentiate]
fn rem_assign(x: f64, y: f64) -> f64 {
    let mut s = x * 2.0;
    s %= y;
    s
}

#[test]
fn rem_compound_assignment() {
    for (x, y) in [(2.65_f64, 2.0), (-2.65, 1.5), (4.1, -3.0)] {
        let expected = (2.0, -(2.0 * x / y).trunc());
        check2(rem_assign, rem_assign_grad, x, y, expected);
    }
}

#[differentiate]
fn neg(x: f64) -> f64 {
    -x
}

#[differentiate]
fn neg_product(x: f64, y: f64) -> f64 {
    -(x * y) + -(-x)
}

#[test]
fn neg_negates() {
    for x in [-2.0, 0.0, 0.5, 1e3] {
        check1(neg, neg_grad, neg_pullback, x, -1.0);
    }
    for (x, y) in [(1.0, 2.0), (-3.5, 0.25)] {
        check2(neg_product, neg_product_grad, x, y, (1.0 - y, -x));
    }
}

// ---------------------------------------------------------------------------------------------
// `as` casts between f64 and f32 (and from integers: constants).
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn cast_down(x: f64) -> f32 {
    let s = x as f32;
    s * s + 3.0 * s
}

#[differentiate]
fn cast_up(x: f32) -> f64 {
    let w = x as f64;
    w.sin() * w
}

#[differentiate]
#[allow(clippy::unnecessary_cast)] // `x as f64` on an f64: the identity cast is under test
fn cast_round_trip(x: f64) -> f64 {
    ((x as f32) as f64) * 3.0 + (x as f64)
}

#[differentiate]
fn cast_from_integer(x: f64, n: i32) -> f64 {
    x * n as f64 + (n * n) as f64
}

#[differentiate]
fn cast_mixed(x: f64, y: f32) -> f32 {
    (x as f32) * y + (y as f64 * x) as f32
}

#[test]
fn cast_f64_to_f32() {
    for x in [-1.25, 0.0, 0.37, 2.5] {
        let (value, d) = cast_down_grad(x);
        assert_eq!(value, cast_down(x));
        let _: f64 = d; // the gradient has the parameter's type
        // d/dx (x^2 + 3x) with x rounded to f32.
        let xs = x as f32 as f64;
        expect(d, 2.0 * xs + 3.0, 1e-6, format_args!("at {x}"));
        let numeric = numeric_gradient_with_step(|p| cast_down(p[0]) as f64, &[x], 1e-2);
        expect(d, numeric[0], NUMERIC_F32, format_args!("numeric at {x}"));
        // The pullback's seed has the return type.
        let seed: f32 = -2.0;
        expect(cast_down_pullback(x, seed), -2.0 * d, 1e-6, "pullback");
    }
}

#[test]
fn cast_f32_to_f64() {
    for x in [-1.5_f32, 0.0, 0.3, 2.0] {
        let (value, d) = cast_up_grad(x);
        assert_eq!(value, cast_up(x));
        let _: f32 = d;
        let w = x as f64;
        expect(
            d as f64,
            w.sin() + w * w.cos(),
            1e-6,
            format_args!("at {x}"),
        );
        let numeric = numeric_gradient_with_step(|p| cast_up(p[0] as f32), &[w], 1e-2);
        expect(
            d as f64,
            numeric[0],
            NUMERIC_F32,
            format_args!("numeric at {x}"),
        );
    }
}

#[test]
fn cast_round_trip_and_identity_cast() {
    for x in [-2.0, 0.1, 7.0] {
        let (value, d) = cast_round_trip_grad(x);
        assert_eq!(value, cast_round_trip(x));
        expect(d, 4.0, 1e-7, format_args!("at {x}"));
    }
}

#[test]
fn cast_from_integers_is_a_constant() {
    for (x, n) in [(0.5, 3), (-2.0, -4), (1.0, 0)] {
        let (value, d) = cast_from_integer_grad(x, n);
        assert_eq!(value, cast_from_integer(x, n));
        expect(d, n as f64, 0.0, format_args!("at ({x}, {n})"));
    }
}

#[test]
fn cast_with_mixed_parameter_types() {
    for (x, y) in [(0.5, 3.0_f32), (-2.0, -0.25)] {
        let (value, (dx, dy)) = cast_mixed_grad(x, y);
        assert_eq!(value, cast_mixed(x, y));
        let _: (f64, f32) = (dx, dy);
        expect(dx, 2.0 * y as f64, 1e-6, format_args!("d/dx at ({x}, {y})"));
        expect(dy as f64, 2.0 * x, 1e-6, format_args!("d/dy at ({x}, {y})"));
    }
}

// ---------------------------------------------------------------------------------------------
// Unary methods, in method form and path form.
// ---------------------------------------------------------------------------------------------

/// `mod $name` with `method(x) = x.$name()` and `path(x) = f64::$name(x)`, both checked at
/// `points` against `derivative` (an expression of the point bound to `$v`).
macro_rules! unary {
    ($name:ident, points: [$($p:expr),+ $(,)?], derivative: |$v:ident| $d:expr) => {
        mod $name {
            use super::*;

            #[differentiate]
            pub(super) fn method(x: f64) -> f64 {
                x.$name()
            }

            #[differentiate]
            pub(super) fn path(x: f64) -> f64 {
                f64::$name(x)
            }

            fn derivative($v: f64) -> f64 {
                $d
            }

            #[test]
            fn method_form() {
                for x in [$($p),+] {
                    check1(method, method_grad, method_pullback, x, derivative(x));
                    let mut d = f64::NAN;
                    assert_eq!(method_grad_into(x, &mut d), method(x));
                    expect(d, derivative(x), ANALYTIC, format_args!("grad_into at {x}"));
                }
            }

            #[test]
            fn path_form() {
                for x in [$($p),+] {
                    check1(path, path_grad, path_pullback, x, derivative(x));
                    let mut d = f64::NAN;
                    assert_eq!(path_grad_into(x, &mut d), path(x));
                    expect(d, derivative(x), ANALYTIC, format_args!("grad_into at {x}"));
                }
            }
        }
    };
}

// Exponentials and logarithms.
unary!(exp, points: [-2.0, -0.5, 0.0, 0.7, 3.0], derivative: |x| x.exp());
unary!(exp2, points: [-2.0, -0.5, 0.0, 0.7, 3.0], derivative: |x| LN_2 * 2.0_f64.powf(x));
unary!(exp_m1, points: [-2.0, -0.1, 0.0, 0.4, 2.5], derivative: |x| x.exp());
unary!(ln, points: [0.3, 1.0, 2.5, 40.0], derivative: |x| 1.0 / x);
unary!(log2, points: [0.3, 1.0, 2.5, 40.0], derivative: |x| 1.0 / (x * LN_2));
unary!(log10, points: [0.3, 1.0, 2.5, 40.0], derivative: |x| 1.0 / (x * LN_10));
unary!(ln_1p, points: [-0.6, -0.1, 0.0, 0.5, 3.0], derivative: |x| 1.0 / (1.0 + x));

// Powers and roots.
unary!(sqrt, points: [0.2, 1.0, 2.0, 16.0], derivative: |x| 0.5 / x.sqrt());
unary!(
    cbrt,
    points: [-27.0, -0.5, 0.3, 1.0, 8.0],
    derivative: |x| 1.0 / (3.0 * x.abs().powf(2.0 / 3.0))
);
unary!(recip, points: [-3.0, -0.4, 0.5, 2.0], derivative: |x| -1.0 / (x * x));

// Trigonometric and hyperbolic functions.
unary!(sin, points: [-2.0, -0.3, 0.0, 1.0, 4.0], derivative: |x| x.cos());
unary!(cos, points: [-2.0, -0.3, 0.0, 1.0, 4.0], derivative: |x| -x.sin());
unary!(tan, points: [-1.2, -0.3, 0.0, 0.8, 2.5], derivative: |x| 1.0 / (x.cos() * x.cos()));
unary!(
    asin,
    points: [-0.8, -0.3, 0.0, 0.5, 0.75],
    derivative: |x| 1.0 / ((1.0 - x) * (1.0 + x)).sqrt()
);
unary!(
    acos,
    points: [-0.8, -0.3, 0.0, 0.5, 0.75],
    derivative: |x| -1.0 / ((1.0 - x) * (1.0 + x)).sqrt()
);
unary!(atan, points: [-3.0, -0.5, 0.0, 1.0, 10.0], derivative: |x| 1.0 / (1.0 + x * x));
unary!(sinh, points: [-2.0, -0.3, 0.0, 1.5], derivative: |x| (x.exp() + (-x).exp()) / 2.0);
unary!(cosh, points: [-2.0, -0.3, 0.0, 1.5], derivative: |x| (x.exp() - (-x).exp()) / 2.0);
unary!(
    tanh,
    points: [-2.0, -0.3, 0.0, 1.5],
    derivative: |x| 4.0 / ((x.exp() + (-x).exp()) * (x.exp() + (-x).exp()))
);
unary!(asinh, points: [-3.0, -0.5, 0.0, 0.7, 20.0], derivative: |x| 1.0 / (x * x + 1.0).sqrt());
unary!(acosh, points: [1.1, 1.5, 3.0, 50.0], derivative: |x| 1.0 / (x * x - 1.0).sqrt());
unary!(atanh, points: [-0.9, -0.3, 0.0, 0.5, 0.95], derivative: |x| 1.0 / (1.0 - x * x));
unary!(to_degrees, points: [-2.0, 0.0, 1.0, 100.0], derivative: |_x| 180.0 / PI);
unary!(to_radians, points: [-90.0, 0.0, 1.0, 400.0], derivative: |_x| PI / 180.0);

// Piecewise functions, away from their kinks (the kinks are tested below).
unary!(
    abs,
    points: [-2.5, -0.1, 0.1, 3.0],
    derivative: |x| if x > 0.0 { 1.0 } else { -1.0 }
);
unary!(signum, points: [-2.5, -0.1, 0.1, 3.0], derivative: |_x| 0.0);
unary!(floor, points: [-1.7, -0.2, 0.3, 2.6], derivative: |_x| 0.0);
unary!(ceil, points: [-1.7, -0.2, 0.3, 2.6], derivative: |_x| 0.0);
unary!(round, points: [-1.7, -0.2, 0.3, 2.6], derivative: |_x| 0.0);
unary!(trunc, points: [-1.7, -0.2, 0.3, 2.6], derivative: |_x| 0.0);

// ---------------------------------------------------------------------------------------------
// The SPEC's conventions at non-differentiable points.
// ---------------------------------------------------------------------------------------------

#[test]
fn abs_and_signum_give_zero_at_zero() {
    for x in [0.0, -0.0] {
        check1_at_kink(abs::method, abs::method_grad, x, 0.0);
        check1_at_kink(abs::path, abs::path_grad, x, 0.0);
        check1_at_kink(signum::method, signum::method_grad, x, 0.0);
        check1_at_kink(signum::path, signum::path_grad, x, 0.0);
    }
}

#[test]
fn rounding_has_derivative_zero_at_its_jumps() {
    for x in [-2.0, -1.5, -0.5, 0.0, 0.5, 1.0, 2.5, 3.0] {
        check1_at_kink(floor::method, floor::method_grad, x, 0.0);
        check1_at_kink(floor::path, floor::path_grad, x, 0.0);
        check1_at_kink(ceil::method, ceil::method_grad, x, 0.0);
        check1_at_kink(ceil::path, ceil::path_grad, x, 0.0);
        check1_at_kink(round::method, round::method_grad, x, 0.0);
        check1_at_kink(round::path, round::path_grad, x, 0.0);
        check1_at_kink(trunc::method, trunc::method_grad, x, 0.0);
        check1_at_kink(trunc::path, trunc::path_grad, x, 0.0);
    }
}

#[test]
fn sqrt_at_zero_gives_infinity() {
    check1_at_kink(sqrt::method, sqrt::method_grad, 0.0, f64::INFINITY);
    check1_at_kink(sqrt::path, sqrt::path_grad, 0.0, f64::INFINITY);
}

#[test]
fn cbrt_at_zero_gives_infinity() {
    // Not named by the SPEC; +infinity is the limit of the derivative on both sides.
    check1_at_kink(cbrt::method, cbrt::method_grad, 0.0, f64::INFINITY);
    check1_at_kink(cbrt::path, cbrt::path_grad, 0.0, f64::INFINITY);
}

// ---------------------------------------------------------------------------------------------
// powi: the integer exponent carries no derivative.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn powi_method(x: f64, n: i32) -> f64 {
    x.powi(n)
}

#[differentiate]
fn powi_path(x: f64, n: i32) -> f64 {
    f64::powi(x, n)
}

#[differentiate]
fn powi_literal(x: f64) -> f64 {
    x.powi(3) + f64::powi(x, -2)
}

#[test]
fn powi_both_forms() {
    for n in [-3, -2, -1, 0, 1, 2, 3, 5] {
        for x in [-1.5_f64, -0.4, 0.7, 2.0] {
            let expected = n as f64 * x.powf(n as f64 - 1.0);
            for (f, grad) in [
                (
                    powi_method as fn(f64, i32) -> f64,
                    powi_method_grad as fn(f64, i32) -> (f64, f64),
                ),
                (powi_path, powi_path_grad),
            ] {
                let (value, d) = grad(x, n);
                assert_eq!(value, f(x, n));
                expect(d, expected, ANALYTIC, format_args!("d/dx x^{n} at {x}"));
                assert_gradient(|p| f(p[0], n), &[x], &[d], NUMERIC);
            }
            let pullback = powi_method_pullback(x, n, 0.5);
            expect(pullback, 0.5 * expected, ANALYTIC, "pullback");
        }
    }
    for x in [-1.5, -0.4, 0.7, 2.0] {
        let expected = 3.0 * x * x - 2.0 / (x * x * x);
        check1(
            powi_literal,
            powi_literal_grad,
            powi_literal_pullback,
            x,
            expected,
        );
    }
}

#[test]
fn powi_at_zero() {
    // d/dx x^n at 0: 0 for n = 0 (x^0 = 1 is constant) and n >= 2, 1 for n = 1.
    for (n, expected) in [(0, 0.0), (1, 1.0), (2, 0.0), (3, 0.0)] {
        assert_eq!(powi_method_grad(0.0, n).1, expected, "n = {n}");
        assert_eq!(powi_path_grad(0.0, n).1, expected, "n = {n}");
    }
}

// ---------------------------------------------------------------------------------------------
// Binary methods, in method form and path form, both arguments active; then with constants.
// ---------------------------------------------------------------------------------------------

/// `mod $name` with `method(x, y) = x.$name(y)` and `path(x, y) = f64::$name(x, y)`, checked at
/// `points` against the gradient `(d/dx, d/dy)` written in terms of `$a`, `$b`; `$extra` is
/// added to the module.
macro_rules! binary {
    (
        $name:ident,
        points: [$(($x:expr, $y:expr)),+ $(,)?],
        gradient: |$a:ident, $b:ident| $g:expr
        $(, extra: { $($extra:tt)* })?
    ) => {
        mod $name {
            use super::*;

            #[differentiate]
            fn method(x: f64, y: f64) -> f64 {
                x.$name(y)
            }

            #[differentiate]
            fn path(x: f64, y: f64) -> f64 {
                f64::$name(x, y)
            }

            fn gradient($a: f64, $b: f64) -> (f64, f64) {
                $g
            }

            #[test]
            fn method_form() {
                for (x, y) in [$(($x, $y)),+] {
                    check2(method, method_grad, x, y, gradient(x, y));
                }
            }

            #[test]
            fn path_form() {
                for (x, y) in [$(($x, $y)),+] {
                    check2(path, path_grad, x, y, gradient(x, y));
                }
            }

            #[test]
            fn pullback_scales() {
                for (x, y) in [$(($x, $y)),+] {
                    let (gx, gy) = gradient(x, y);
                    let (px, py) = method_pullback(x, y, 3.0);
                    expect(px, 3.0 * gx, ANALYTIC, "pullback d/dx");
                    expect(py, 3.0 * gy, ANALYTIC, "pullback d/dy");
                }
            }

            $($($extra)*)?
        }
    };
}

binary!(
    powf,
    points: [(0.5, 2.0), (2.0, -1.5), (3.0, 0.5), (1.5, 3.3), (0.8, 0.0)],
    gradient: |x, y| (y * x.powf(y - 1.0), x.powf(y) * x.ln()),
    extra: {
        #[differentiate]
        fn constant_exponent(x: f64) -> f64 {
            x.powf(2.5)
        }

        #[differentiate]
        fn constant_exponent_path(x: f64) -> f64 {
            f64::powf(x, -0.5)
        }

        #[differentiate]
        fn integral_exponent(x: f64) -> f64 {
            x.powf(3.0)
        }

        #[differentiate]
        fn constant_base(x: f64) -> f64 {
            2.0_f64.powf(x)
        }

        #[differentiate]
        fn constant_base_path(x: f64) -> f64 {
            f64::powf(3.0, x)
        }

        #[test]
        fn with_constants() {
            for x in [0.3, 1.0, 4.0] {
                let f = (constant_exponent, constant_exponent_grad, constant_exponent_pullback);
                check1(f.0, f.1, f.2, x, 2.5 * x.powf(1.5));
                let f = (
                    constant_exponent_path,
                    constant_exponent_path_grad,
                    constant_exponent_path_pullback,
                );
                check1(f.0, f.1, f.2, x, -0.5 * x.powf(-1.5));
            }
            // A negative base with an integral exponent is defined.
            for x in [-2.0, -0.5, 0.5, 1.5] {
                let f = (integral_exponent, integral_exponent_grad, integral_exponent_pullback);
                check1(f.0, f.1, f.2, x, 3.0 * x * x);
            }
            for x in [-2.0, 0.0, 0.5, 3.0] {
                let f = (constant_base, constant_base_grad, constant_base_pullback);
                check1(f.0, f.1, f.2, x, LN_2 * 2.0_f64.powf(x));
                let f = (constant_base_path, constant_base_path_grad, constant_base_path_pullback);
                check1(f.0, f.1, f.2, x, 3.0_f64.ln() * 3.0_f64.powf(x));
            }
        }

        #[test]
        fn zero_base() {
            // d/dx x^2.5 = 2.5 x^1.5 = 0 at 0; d/dy 0^y = 0 for y > 0 (the limit, not 0 * -inf).
            let (value, (dx, dy)) = method_grad(0.0, 2.5);
            assert_eq!(value, 0.0);
            assert_eq!((dx, dy), (0.0, 0.0));
            assert_eq!(path_grad(0.0, 2.5).1, (0.0, 0.0));
        }
    }
);

binary!(
    atan2,
    points: [(1.0, 2.0), (-0.5, 1.0), (2.0, -1.0), (-1.5, -0.5), (0.3, 0.0), (0.0, 0.7)],
    gradient: |y, x| (x / (x * x + y * y), -y / (x * x + y * y)),
    extra: {
        #[differentiate]
        fn constant_second(x: f64) -> f64 {
            x.atan2(1.0)
        }

        #[differentiate]
        fn constant_first(x: f64) -> f64 {
            1.0_f64.atan2(x)
        }

        #[differentiate]
        fn constant_first_path(x: f64) -> f64 {
            f64::atan2(2.0, x)
        }

        #[differentiate]
        fn constant_second_path(x: f64) -> f64 {
            f64::atan2(x, -2.0)
        }

        #[test]
        fn with_constants() {
            for x in [-3.0, -0.5, 0.0, 1.0, 4.0] {
                let f = (constant_second, constant_second_grad, constant_second_pullback);
                check1(f.0, f.1, f.2, x, 1.0 / (1.0 + x * x));
                let f = (constant_first, constant_first_grad, constant_first_pullback);
                check1(f.0, f.1, f.2, x, -1.0 / (1.0 + x * x));
                let f = (
                    constant_first_path,
                    constant_first_path_grad,
                    constant_first_path_pullback,
                );
                check1(f.0, f.1, f.2, x, -2.0 / (4.0 + x * x));
            }
            // atan2(x, -2) jumps at x = 0 (the branch cut): stay away from it.
            for x in [-3.0, -0.5, 1.0, 4.0] {
                let f = (
                    constant_second_path,
                    constant_second_path_grad,
                    constant_second_path_pullback,
                );
                check1(f.0, f.1, f.2, x, -2.0 / (4.0 + x * x));
            }
        }
    }
);

binary!(
    hypot,
    points: [(3.0, 4.0), (-1.0, 2.0), (0.5, -0.2), (0.0, 1.5), (-2.0, 0.0)],
    gradient: |x, y| (x / (x * x + y * y).sqrt(), y / (x * x + y * y).sqrt()),
    extra: {
        #[differentiate]
        fn constant_second(x: f64) -> f64 {
            x.hypot(3.0)
        }

        #[differentiate]
        fn constant_first_path(x: f64) -> f64 {
            f64::hypot(2.0, x)
        }

        #[test]
        fn with_constants() {
            for x in [-4.0, -0.5, 0.0, 1.0, 4.0] {
                let f = (constant_second, constant_second_grad, constant_second_pullback);
                check1(f.0, f.1, f.2, x, x / (x * x + 9.0).sqrt());
                let f = (
                    constant_first_path,
                    constant_first_path_grad,
                    constant_first_path_pullback,
                );
                check1(f.0, f.1, f.2, x, x / (x * x + 4.0).sqrt());
            }
        }
    }
);

binary!(
    log,
    points: [(2.0, 10.0), (0.5, 2.0), (8.0, 0.5), (3.0, 1.5), (1.0, 3.0)],
    gradient: |x, b| (1.0 / (x * b.ln()), -x.ln() / (b * b.ln() * b.ln())),
    extra: {
        #[differentiate]
        fn base_ten(x: f64) -> f64 {
            x.log(10.0)
        }

        #[differentiate]
        fn base_two_path(x: f64) -> f64 {
            f64::log(x, 2.0)
        }

        #[differentiate]
        fn constant_argument(b: f64) -> f64 {
            100.0_f64.log(b)
        }

        #[differentiate]
        fn constant_argument_path(b: f64) -> f64 {
            f64::log(5.0, b)
        }

        #[test]
        fn with_constants() {
            for x in [0.3, 1.0, 2.5, 40.0] {
                let f = (base_ten, base_ten_grad, base_ten_pullback);
                check1(f.0, f.1, f.2, x, 1.0 / (x * LN_10));
                let f = (base_two_path, base_two_path_grad, base_two_path_pullback);
                check1(f.0, f.1, f.2, x, 1.0 / (x * LN_2));
            }
            for b in [0.5_f64, 2.0, 10.0] {
                let l = b.ln();
                let f = (constant_argument, constant_argument_grad, constant_argument_pullback);
                check1(f.0, f.1, f.2, b, -100.0_f64.ln() / (b * l * l));
                let f = (
                    constant_argument_path,
                    constant_argument_path_grad,
                    constant_argument_path_pullback,
                );
                check1(f.0, f.1, f.2, b, -5.0_f64.ln() / (b * l * l));
            }
        }
    }
);

binary!(
    max,
    points: [(1.0, 2.0), (3.0, -1.0), (-0.5, -2.0), (-4.0, 0.25)],
    gradient: |x, y| if x > y { (1.0, 0.0) } else { (0.0, 1.0) },
    extra: {
        #[differentiate]
        fn relu_constant_first(x: f64) -> f64 {
            f64::max(0.0, x)
        }

        #[differentiate]
        fn relu_constant_second(x: f64) -> f64 {
            x.max(0.0)
        }

        #[differentiate]
        fn same(x: f64) -> f64 {
            x.max(x) * 3.0
        }

        #[test]
        fn with_constants() {
            for x in [-2.0, -0.1, 0.1, 3.0] {
                let expected = if x > 0.0 { 1.0 } else { 0.0 };
                let f = (relu_constant_first, relu_constant_first_grad, relu_constant_first_pullback);
                check1(f.0, f.1, f.2, x, expected);
                let f = (
                    relu_constant_second,
                    relu_constant_second_grad,
                    relu_constant_second_pullback,
                );
                check1(f.0, f.1, f.2, x, expected);
            }
        }

        #[test]
        fn tie_gives_the_whole_adjoint_to_the_first_argument() {
            for t in [-1.5, 0.0, 2.0] {
                check2_at_kink(method, method_grad, t, t, (1.0, 0.0));
                check2_at_kink(path, path_grad, t, t, (1.0, 0.0));
                assert_eq!(method_pullback(t, t, -2.0), (-2.0, 0.0));
            }
            // Signed zeros compare equal: a tie too.
            check2_at_kink(method, method_grad, 0.0, -0.0, (1.0, 0.0));
            check2_at_kink(method, method_grad, -0.0, 0.0, (1.0, 0.0));
            // f64::max(0.0, x) at x = 0: the constant is first and takes the adjoint;
            // x.max(0.0) at 0: x is first and takes it.
            check1_at_kink(relu_constant_first, relu_constant_first_grad, 0.0, 0.0);
            check1_at_kink(relu_constant_second, relu_constant_second_grad, 0.0, 1.0);
            // Both arguments are x: the first one's share is the whole adjoint.
            check1_at_kink(same, same_grad, 1.5, 3.0);
        }
    }
);

binary!(
    min,
    points: [(1.0, 2.0), (3.0, -1.0), (-0.5, -2.0), (-4.0, 0.25)],
    gradient: |x, y| if x < y { (1.0, 0.0) } else { (0.0, 1.0) },
    extra: {
        #[differentiate]
        fn constant_first(x: f64) -> f64 {
            f64::min(1.0, x)
        }

        #[differentiate]
        fn constant_second(x: f64) -> f64 {
            x.min(1.0)
        }

        #[differentiate]
        fn same(x: f64) -> f64 {
            x.min(x) * 3.0
        }

        #[test]
        fn with_constants() {
            for x in [-2.0, 0.9, 1.1, 3.0] {
                let expected = if x < 1.0 { 1.0 } else { 0.0 };
                let f = (constant_first, constant_first_grad, constant_first_pullback);
                check1(f.0, f.1, f.2, x, expected);
                let f = (constant_second, constant_second_grad, constant_second_pullback);
                check1(f.0, f.1, f.2, x, expected);
            }
        }

        #[test]
        fn tie_gives_the_whole_adjoint_to_the_first_argument() {
            for t in [-1.5, 0.0, 2.0] {
                check2_at_kink(method, method_grad, t, t, (1.0, 0.0));
                check2_at_kink(path, path_grad, t, t, (1.0, 0.0));
                assert_eq!(method_pullback(t, t, -2.0), (-2.0, 0.0));
            }
            check2_at_kink(method, method_grad, 0.0, -0.0, (1.0, 0.0));
            check2_at_kink(method, method_grad, -0.0, 0.0, (1.0, 0.0));
            check1_at_kink(constant_first, constant_first_grad, 1.0, 0.0);
            check1_at_kink(constant_second, constant_second_grad, 1.0, 1.0);
            check1_at_kink(same, same_grad, 1.5, 3.0);
        }
    }
);

/// `max`/`min` with the arguments swapped: the tie now goes to `y`.
#[differentiate]
fn max_swapped(x: f64, y: f64) -> f64 {
    y.max(x)
}

#[differentiate]
fn min_swapped(x: f64, y: f64) -> f64 {
    f64::min(y, x)
}

#[test]
fn max_min_tie_follows_argument_order_not_parameter_order() {
    for t in [-1.0, 0.5] {
        check2_at_kink(max_swapped, max_swapped_grad, t, t, (0.0, 1.0));
        check2_at_kink(min_swapped, min_swapped_grad, t, t, (0.0, 1.0));
    }
    check2(max_swapped, max_swapped_grad, 2.0, 1.0, (1.0, 0.0));
    check2(min_swapped, min_swapped_grad, 2.0, 1.0, (0.0, 1.0));
}

// ---------------------------------------------------------------------------------------------
// clamp: constant bounds, active bounds, both forms.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn clamp_method(x: f64) -> f64 {
    x.clamp(-1.0, 2.0)
}

#[differentiate]
fn clamp_path(x: f64) -> f64 {
    f64::clamp(x, -1.0, 2.0)
}

#[test]
fn clamp_inside_below_and_above() {
    let points = [
        (-3.0, 0.0),
        (-1.5, 0.0),
        (-0.5, 1.0),
        (0.0, 1.0),
        (1.9, 1.0),
        (2.5, 0.0),
    ];
    for (x, expected) in points {
        check1(
            clamp_method,
            clamp_method_grad,
            clamp_method_pullback,
            x,
            expected,
        );
        check1(
            clamp_path,
            clamp_path_grad,
            clamp_path_pullback,
            x,
            expected,
        );
    }
}

#[test]
fn clamp_at_its_bounds_passes_the_adjoint_to_the_input() {
    // As PyTorch: the input keeps its adjoint where lo <= x <= hi.
    for x in [-1.0, 2.0] {
        check1_at_kink(clamp_method, clamp_method_grad, x, 1.0);
        check1_at_kink(clamp_path, clamp_path_grad, x, 1.0);
    }
}

#[differentiate]
fn clamp_active(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

#[differentiate]
fn clamp_active_path(x: f64, lo: f64, hi: f64) -> f64 {
    f64::clamp(x, lo, hi)
}

#[differentiate]
fn clamp_expressions(x: f64, y: f64) -> f64 {
    (x * y).clamp(x - 1.0, y * y)
}

#[test]
fn clamp_with_active_bounds() {
    let points = [
        ([0.5, 0.0, 1.0], [1.0, 0.0, 0.0]),
        ([-0.5, -1.0, 3.0], [1.0, 0.0, 0.0]),
        ([-1.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        ([-7.0, -2.5, -1.0], [0.0, 1.0, 0.0]),
        ([3.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
        ([0.5, -2.0, 0.25], [0.0, 0.0, 1.0]),
    ];
    for (p, expected) in points {
        check3(clamp_active, clamp_active_grad, p, expected);
        check3(clamp_active_path, clamp_active_path_grad, p, expected);
        let (px, plo, phi) = clamp_active_pullback(p[0], p[1], p[2], 2.0);
        assert_eq!(
            [px, plo, phi],
            expected.map(|e| 2.0 * e),
            "pullback at {p:?}"
        );
    }
    // At the bounds, the input keeps the adjoint.
    let (_, g) = clamp_active_grad(0.0, 0.0, 1.0);
    assert_eq!(g, (1.0, 0.0, 0.0));
    let (_, g) = clamp_active_grad(1.0, 0.0, 1.0);
    assert_eq!(g, (1.0, 0.0, 0.0));
}

#[test]
fn clamp_of_expressions() {
    // Inside: d(xy) = (y, x). Below (xy < x - 1): (1, 0). Above (xy > y^2): (0, 2y).
    // The points keep x - 1 < y^2 under the finite-difference steps (clamp panics otherwise).
    let points = [
        (0.5, 2.0, (2.0, 0.5)),
        (2.0, -2.0, (1.0, 0.0)),
        (2.0, 1.5, (0.0, 3.0)),
    ];
    for (x, y, expected) in points {
        check2(clamp_expressions, clamp_expressions_grad, x, y, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// mul_add: all three arguments.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn mul_add_method(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

#[differentiate]
fn mul_add_path(a: f64, b: f64, c: f64) -> f64 {
    f64::mul_add(a, b, c)
}

#[differentiate]
fn mul_add_constants_12(x: f64) -> f64 {
    x.mul_add(2.0, 1.0)
}

#[differentiate]
fn mul_add_constants_02(x: f64) -> f64 {
    2.0_f64.mul_add(x, 3.0)
}

#[differentiate]
fn mul_add_constants_01(x: f64) -> f64 {
    f64::mul_add(2.0, 3.0, x)
}

#[differentiate]
fn mul_add_same(x: f64) -> f64 {
    x.mul_add(x, x)
}

#[test]
fn mul_add_all_three_arguments() {
    let points = [
        [1.5, -2.0, 0.5],
        [0.3, 4.0, -1.0],
        [-2.0, -0.5, 3.0],
        [0.0, 0.0, 0.0],
    ];
    for p in points {
        let expected = [p[1], p[0], 1.0];
        check3(mul_add_method, mul_add_method_grad, p, expected);
        check3(mul_add_path, mul_add_path_grad, p, expected);
        let (pa, pb, pc) = mul_add_method_pullback(p[0], p[1], p[2], -1.5);
        assert_eq!(
            [pa, pb, pc],
            expected.map(|e| -1.5 * e),
            "pullback at {p:?}"
        );
    }
}

#[test]
fn mul_add_with_constants() {
    for x in [-2.0, 0.0, 0.7, 5.0] {
        let f = (
            mul_add_constants_12,
            mul_add_constants_12_grad,
            mul_add_constants_12_pullback,
        );
        check1(f.0, f.1, f.2, x, 2.0);
        let f = (
            mul_add_constants_02,
            mul_add_constants_02_grad,
            mul_add_constants_02_pullback,
        );
        check1(f.0, f.1, f.2, x, 2.0);
        let f = (
            mul_add_constants_01,
            mul_add_constants_01_grad,
            mul_add_constants_01_pullback,
        );
        check1(f.0, f.1, f.2, x, 1.0);
        check1(
            mul_add_same,
            mul_add_same_grad,
            mul_add_same_pullback,
            x,
            2.0 * x + 1.0,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// f32 versions of a representative subset.
// ---------------------------------------------------------------------------------------------

/// `mod $name` with `method(x: f32) = x.$name()` and `path(x: f32) = f32::$name(x)`, checked
/// against the `f64` formula `derivative`.
macro_rules! unary_f32 {
    ($module:ident, $name:ident, points: [$($p:expr),+ $(,)?], derivative: |$v:ident| $d:expr) => {
        mod $module {
            use super::*;

            #[differentiate]
            pub(super) fn method(x: f32) -> f32 {
                x.$name()
            }

            #[differentiate]
            pub(super) fn path(x: f32) -> f32 {
                f32::$name(x)
            }

            fn derivative($v: f64) -> f64 {
                $d
            }

            #[test]
            fn both_forms() {
                for x in [$($p),+] {
                    let x: f32 = x;
                    let expected = derivative(x as f64);
                    check1_f32(method, method_grad, x, expected);
                    check1_f32(path, path_grad, x, expected);
                    let seed: f32 = -2.0;
                    let what = format_args!("f32 pullback at {x}");
                    expect(method_pullback(x, seed) as f64, -2.0 * expected, ANALYTIC_F32, what);
                    let what = format_args!("f32 pullback at {x}");
                    expect(path_pullback(x, seed) as f64, -2.0 * expected, ANALYTIC_F32, what);
                    let mut d = f32::NAN;
                    assert_eq!(method_grad_into(x, &mut d), method(x));
                    expect(d as f64, expected, ANALYTIC_F32, format_args!("f32 grad_into at {x}"));
                    let mut d = f32::NAN;
                    assert_eq!(path_grad_into(x, &mut d), path(x));
                    expect(d as f64, expected, ANALYTIC_F32, format_args!("f32 grad_into at {x}"));
                }
            }
        }
    };
}

unary_f32!(exp_f32, exp, points: [-2.0, 0.0, 1.5], derivative: |x| x.exp());
unary_f32!(exp2_f32, exp2, points: [-2.0, 0.0, 1.5], derivative: |x| LN_2 * x.exp2());
unary_f32!(ln_f32, ln, points: [0.5, 1.0, 3.0], derivative: |x| 1.0 / x);
unary_f32!(log10_f32, log10, points: [0.5, 1.0, 3.0], derivative: |x| 1.0 / (x * LN_10));
unary_f32!(sqrt_f32, sqrt, points: [0.5, 1.0, 9.0], derivative: |x| 0.5 / x.sqrt());
unary_f32!(
    cbrt_f32,
    cbrt,
    points: [-8.0, 0.5, 2.0],
    derivative: |x| 1.0 / (3.0 * x.abs().powf(2.0 / 3.0))
);
unary_f32!(sin_f32, sin, points: [-2.0, 0.0, 1.0], derivative: |x| x.cos());
unary_f32!(cos_f32, cos, points: [-2.0, 0.0, 1.0], derivative: |x| -x.sin());
unary_f32!(atan_f32, atan, points: [-2.0, 0.0, 1.0], derivative: |x| 1.0 / (1.0 + x * x));
unary_f32!(
    tanh_f32,
    tanh,
    points: [-2.0, 0.0, 1.0],
    derivative: |x| 1.0 / (x.cosh() * x.cosh())
);
unary_f32!(
    abs_f32,
    abs,
    points: [-2.0, 0.5],
    derivative: |x| if x > 0.0 { 1.0 } else { -1.0 }
);
unary_f32!(floor_f32, floor, points: [-1.5, 0.3], derivative: |_x| 0.0);

#[test]
fn f32_conventions_at_kinks() {
    assert_eq!(abs_f32::method_grad(0.0), (0.0, 0.0));
    assert_eq!(abs_f32::path_grad(-0.0).1, 0.0);
    assert_eq!(sqrt_f32::method_grad(0.0), (0.0, f32::INFINITY));
    assert_eq!(floor_f32::method_grad(2.0), (2.0, 0.0));
}

#[differentiate]
fn powi_f32(x: f32) -> f32 {
    x.powi(3) + f32::powi(x, -1)
}

#[differentiate]
fn powf_f32(x: f32, y: f32) -> f32 {
    x.powf(y) + f32::powf(x, 1.5)
}

#[differentiate]
fn atan2_f32(x: f32, y: f32) -> f32 {
    x.atan2(y) + f32::atan2(y, 2.0)
}

#[differentiate]
fn hypot_f32(x: f32, y: f32) -> f32 {
    x.hypot(y) + f32::hypot(1.0, x)
}

#[differentiate]
fn log_f32(x: f32, b: f32) -> f32 {
    x.log(b) + x.log(10.0) + f32::log(3.0, b)
}

#[differentiate]
fn max_min_f32(x: f32, y: f32) -> f32 {
    x.max(y) + 2.0 * f32::min(x, y)
}

#[differentiate]
fn clamp_f32(x: f32, lo: f32) -> f32 {
    x.clamp(lo, 1.0) + f32::clamp(x, -0.5, 0.5)
}

#[differentiate]
fn mul_add_f32(x: f32, y: f32) -> f32 {
    x.mul_add(y, x) + f32::mul_add(2.0, x, y)
}

#[differentiate]
fn operators_f32(x: f32, y: f32) -> f32 {
    (x * y - x / y + (-x)) % 5.0
}

#[test]
fn f32_powi() {
    for x in [-1.5_f32, 0.5, 2.0] {
        let xd = x as f64;
        let (value, d) = powi_f32_grad(x);
        assert_eq!(value, powi_f32(x));
        expect(
            d as f64,
            3.0 * xd * xd - 1.0 / (xd * xd),
            ANALYTIC_F32,
            format_args!("at {x}"),
        );
    }
}

#[test]
fn f32_binary_methods() {
    for (x, y) in [(0.5_f32, 2.0_f32), (2.0, -1.5), (1.5, 0.5)] {
        let (xd, yd) = (x as f64, y as f64);
        let expected = (
            yd * xd.powf(yd - 1.0) + 1.5 * xd.sqrt(),
            xd.powf(yd) * xd.ln(),
        );
        check2_f32(powf_f32, powf_f32_grad, x, y, expected);

        let r2 = xd * xd + yd * yd;
        let expected = (yd / r2, -xd / r2 + 2.0 / (4.0 + yd * yd));
        check2_f32(atan2_f32, atan2_f32_grad, x, y, expected);

        let expected = (xd / r2.sqrt() + xd / (1.0 + xd * xd).sqrt(), yd / r2.sqrt());
        check2_f32(hypot_f32, hypot_f32_grad, x, y, expected);

        let expected = (yd + 1.0 + 2.0, xd + 1.0);
        check2_f32(mul_add_f32, mul_add_f32_grad, x, y, expected);

        let expected = if x > y { (1.0, 2.0) } else { (2.0, 1.0) };
        check2_f32(max_min_f32, max_min_f32_grad, x, y, expected);

        let expected = (yd - 1.0 / yd - 1.0, xd + xd / (yd * yd));
        check2_f32(operators_f32, operators_f32_grad, x, y, expected);
    }
    for (x, b) in [(2.0_f32, 3.0_f32), (0.5, 10.0), (4.0, 0.5)] {
        let (xd, bd) = (x as f64, b as f64);
        let lb = bd.ln();
        let expected = (
            1.0 / (xd * lb) + 1.0 / (xd * LN_10),
            -xd.ln() / (bd * lb * lb) - 3.0_f64.ln() / (bd * lb * lb),
        );
        check2_f32(log_f32, log_f32_grad, x, b, expected);
    }
    // clamp(x, lo, 1) + clamp(x, -0.5, 0.5): inside both, inside the first only, below lo.
    for (x, lo, expected) in [
        (0.2_f32, -1.0_f32, (2.0, 0.0)),
        (0.8, -1.0, (1.0, 0.0)),
        (-2.0, -1.0, (0.0, 1.0)),
        (3.0, 0.0, (0.0, 0.0)),
    ] {
        check2_f32(clamp_f32, clamp_f32_grad, x, lo, expected);
    }
    // max/min ties in f32: the first argument takes the adjoint.
    assert_eq!(max_min_f32_grad(1.0, 1.0).1, (3.0, 0.0));
}

#[differentiate]
fn f32_constant_arguments(x: f32) -> f32 {
    f32::max(0.0, x) + x.min(1.0) + 2.0_f32.powf(x) + x.powf(2.5) + x.hypot(3.0) + 1.0 / x - 7.0 % x
        + f32::log(x, 10.0)
        + 1.0_f32.atan2(x)
        + x.mul_add(2.0, 1.0)
        + x.clamp(-1.0, 1.0)
}

#[test]
fn f32_constants_as_arguments() {
    for x in [0.3_f32, 0.7, 2.2] {
        let xd = x as f64;
        let terms = [
            1.0,
            if xd < 1.0 { 1.0 } else { 0.0 },
            LN_2 * 2.0_f64.powf(xd),
            2.5 * xd.powf(1.5),
            xd / (xd * xd + 9.0).sqrt(),
            -1.0 / (xd * xd),
            (7.0 / xd).trunc(),
            1.0 / (xd * LN_10),
            -1.0 / (1.0 + xd * xd),
            2.0,
            if xd < 1.0 { 1.0 } else { 0.0 },
        ];
        let (value, d) = f32_constant_arguments_grad(x);
        assert_eq!(value, f32_constant_arguments(x));
        let expected: f64 = terms.iter().sum();
        let scale: f64 = terms.iter().map(|t| t.abs()).sum();
        let error = (d as f64 - expected).abs() / scale;
        assert!(error < ANALYTIC_F32, "at {x}: got {d}, expected {expected}");
    }
}

// ---------------------------------------------------------------------------------------------
// Constant arguments that are expressions, locals or inactive parameters: the rule's template
// must use them as whole values (parenthesized), whatever their precedence.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn constant_expressions(x: f64) -> f64 {
    x.powf(2.0 * 1.25) + x.log(2.0 + 8.0) + x.atan2(1.0 + 1.0) + x / (2.0 + 2.0) - (1.0 + 6.0) % x
        + x % (1.0 + 2.0)
}

#[differentiate]
fn negative_constants(x: f64) -> f64 {
    x.mul_add(-2.0, 1.0) + x.powf(-0.5) + (-1.0_f64).atan2(x) + x.max(-1.0) - -x
}

#[differentiate]
fn constant_receivers(x: f64) -> f64 {
    (1.0 + 1.0_f64).powf(x)
        + (3.0 - 1.0_f64).log(x)
        + (4.0 - 2.0) / x
        + std::f64::consts::PI.powf(x)
}

#[differentiate]
fn constant_locals(x: f64, n: i32) -> f64 {
    let c = 2.0 + 0.5;
    let d = c * 2.0;
    x.powf(c) + x.log(d) + f64::max(c, x) + x.powf(n as f64 + 0.5) + x.powi(2 * n - 1)
}

#[differentiate(wrt(x))]
fn inactive_parameters(x: f64, p: f64, lo: f64, hi: f64) -> f64 {
    x.powf(p)
        + x.log(p)
        + p.atan2(x)
        + x.clamp(lo, hi)
        + p.max(x)
        + f64::hypot(p, x)
        + p.mul_add(x, p)
        + p.powf(x)
        + x % p
        + p % x
}

#[test]
fn constant_arguments_that_are_expressions() {
    for x in [0.6_f64, 1.7, 2.9] {
        let expected = 2.5 * x.powf(1.5)
            + 1.0 / (x * LN_10)
            + 2.0 / (4.0 + x * x)
            + 0.25
            + (7.0 / x).trunc()
            + 1.0;
        let f = (
            constant_expressions,
            constant_expressions_grad,
            constant_expressions_pullback,
        );
        check1(f.0, f.1, f.2, x, expected);

        let expected = -2.0 - 0.5 * x.powf(-1.5) + 1.0 / (1.0 + x * x) + 1.0 + 1.0;
        let f = (
            negative_constants,
            negative_constants_grad,
            negative_constants_pullback,
        );
        check1(f.0, f.1, f.2, x, expected);

        let expected = LN_2 * 2.0_f64.powf(x) - LN_2 / (x * x.ln() * x.ln()) - 2.0 / (x * x)
            + PI.ln() * PI.powf(x);
        let f = (
            constant_receivers,
            constant_receivers_grad,
            constant_receivers_pullback,
        );
        // x = 1 is the pole of log_x(2): stay away.
        check1(f.0, f.1, f.2, x, expected);
    }
    for (x, n) in [(0.6_f64, 1), (1.7, 2), (2.9, 3)] {
        let expected = 2.5 * x.powf(1.5)
            + 1.0 / (x * 5.0_f64.ln())
            + if x > 2.5 { 1.0 } else { 0.0 }
            + (n as f64 + 0.5) * x.powf(n as f64 - 0.5)
            + (2 * n - 1) as f64 * x.powi(2 * n - 2);
        let (value, d) = constant_locals_grad(x, n);
        assert_eq!(value, constant_locals(x, n));
        expect(d, expected, ANALYTIC, format_args!("at ({x}, {n})"));
        assert_gradient(|p| constant_locals(p[0], n), &[x], &[d], NUMERIC);
    }
}

#[test]
fn inactive_parameters_are_constant_arguments() {
    // (x, p, lo, hi): x inside [lo, hi] and below p, then above hi and p.
    for (x, p, lo, hi) in [
        (1.7_f64, 2.5_f64, 0.0, 3.0),
        (3.5, 1.5, 0.0, 3.0),
        (0.8, 4.2, -1.0, 0.5),
    ] {
        let clamp = if x >= lo && x <= hi { 1.0 } else { 0.0 };
        let max = if p > x { 0.0 } else { 1.0 };
        let expected = p * x.powf(p - 1.0) + 1.0 / (x * p.ln()) - p / (p * p + x * x)
            + clamp
            + max
            + x / (p * p + x * x).sqrt()
            + p
            + p.ln() * p.powf(x)
            + 1.0
            - (p / x).trunc();
        let (value, d) = inactive_parameters_grad(x, p, lo, hi);
        assert_eq!(value, inactive_parameters(x, p, lo, hi));
        expect(d, expected, ANALYTIC, format_args!("at {x}"));
        let f = |v: &[f64]| inactive_parameters(v[0], p, lo, hi);
        assert_gradient(f, &[x], &[d], NUMERIC);
        let pullback = inactive_parameters_pullback(x, p, lo, hi, 0.5);
        expect(pullback, 0.5 * expected, ANALYTIC, "pullback");
    }
}

// ---------------------------------------------------------------------------------------------
// The same variable in several arguments of one rule: the adjoints add up.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn powf_same(x: f64) -> f64 {
    x.powf(x)
}

#[differentiate]
fn binary_same(x: f64) -> f64 {
    x.atan2(x) + x.hypot(x) + x.log(x) + x.clamp(x - 1.0, x + 1.0) + x.min(x)
}

#[test]
fn one_variable_in_several_arguments() {
    for x in [0.4_f64, 1.7, 3.0] {
        // d/dx x^x = x^x (ln x + 1).
        let f = (powf_same, powf_same_grad, powf_same_pullback);
        check1(f.0, f.1, f.2, x, x.powf(x) * (x.ln() + 1.0));
        // atan2(x, x) = pi/4 and log_x(x) = 1 are constant, hypot(x, x) = sqrt(2) x,
        // clamp(x, x - 1, x + 1) = x, min(x, x) = x.
        let f = (binary_same, binary_same_grad, binary_same_pullback);
        check1(f.0, f.1, f.2, x, 2.0_f64.sqrt() + 2.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Precedence around the rules: unary minus, method calls and casts.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn precedence(x: f64) -> f64 {
    -x.powi(2) + (-x).exp() - -x + (-x as f32) as f64 * 3.0 + x as f32 as f64 * 2.0
}

#[test]
fn precedence_of_unary_minus_and_casts() {
    // -(x^2) + e^-x + x - 3x + 2x.
    for x in [-1.0_f64, 0.5, 2.0] {
        let (value, d) = precedence_grad(x);
        assert_eq!(value, precedence(x));
        expect(
            d,
            -2.0 * x - (-x).exp() + 1.0 - 3.0 + 2.0,
            ANALYTIC,
            format_args!("at {x}"),
        );
        let numeric = numeric_gradient_with_step(|p| precedence(p[0]), &[x], 1e-2);
        expect(d, numeric[0], NUMERIC_F32, format_args!("numeric at {x}"));
    }
}

// ------------------------------------------------------------------------------------------
// `copysign`, `midpoint`, `fract`, `rem_euclid`, `div_euclid`, `round_ties_even`, `sin_cos`
// ------------------------------------------------------------------------------------------

#[differentiate]
fn copysign(x: f64, y: f64) -> f64 {
    x.copysign(y)
}

#[differentiate]
fn midpoint(x: f64, y: f64) -> f64 {
    f64::midpoint(x, y)
}

#[differentiate]
fn rem_euclid(x: f64, y: f64) -> f64 {
    x.rem_euclid(y)
}

#[differentiate]
fn fract_and_friends(x: f64, y: f64) -> f64 {
    x.fract() * y + x.div_euclid(y) + (x * y).round_ties_even()
}

#[differentiate]
fn sin_cos(x: f64) -> f64 {
    let (s, c) = x.sin_cos();
    s * s * c
}

#[differentiate]
fn sin_cos_pullback_pair(x: f64) -> (f64, f64) {
    x.sin_cos()
}

#[test]
fn copysign_takes_the_sign_of_its_second_argument() {
    // |x| sign(y): d/dx = sign(x) sign(y), d/dy = 0.
    for (x, y) in [(1.5, 2.0), (-1.5, 2.0), (1.5, -0.5), (-0.3, -4.0)] {
        check2(
            copysign,
            copysign_grad,
            x,
            y,
            (x.signum() * y.signum(), 0.0),
        );
    }
    // At x = 0 the convention of `abs`: 0.
    check2_at_kink(copysign, copysign_grad, 0.0, -2.0, (0.0, 0.0));
}

#[test]
fn midpoint_is_half_of_each() {
    for (x, y) in [(1.5, 2.0), (-7.0, 0.25)] {
        check2(midpoint, midpoint_grad, x, y, (0.5, 0.5));
    }
}

#[test]
fn rem_euclid_both_arguments() {
    // x.rem_euclid(y) = x - y * x.div_euclid(y): d/dx = 1, d/dy = -x.div_euclid(y).
    for (x, y) in [
        (5.3, 2.0),
        (-5.3, 2.0),
        (7.5, -2.0),
        (-7.5, -2.25),
        (0.7, 3.0),
    ] {
        check2(rem_euclid, rem_euclid_grad, x, y, (1.0, -x.div_euclid(y)));
    }
}

#[test]
fn fract_passes_through_and_rounding_cuts() {
    // fract(x) y + div_euclid (constant) + round_ties_even (constant).
    for (x, y) in [(1.3, 2.1), (-2.5, 0.9), (0.45, -1.7)] {
        check2(
            fract_and_friends,
            fract_and_friends_grad,
            x,
            y,
            (y, x.fract()),
        );
    }
}

#[test]
fn sin_cos_is_a_pair_of_rules() {
    for x in [-2.0_f64, 0.3, 1.1] {
        let (s, c) = (x.sin(), x.cos());
        check1(
            sin_cos,
            sin_cos_grad,
            sin_cos_pullback,
            x,
            2.0 * s * c * c - s * s * s,
        );
        expect(
            sin_cos_pullback_pair_pullback(x, (2.0, -3.0)),
            2.0 * c + 3.0 * s,
            ANALYTIC,
            "pullback of the pair",
        );
    }
}

// ------------------------------------------------------------------------------------------
// Conventions at NaN, where the value is NaN or ignores a NaN argument (the README's table).
// ------------------------------------------------------------------------------------------

#[differentiate]
fn powi_zero(x: f64) -> f64 {
    x.powi(0)
}

#[differentiate]
fn max_of(x: f64, y: f64) -> f64 {
    x.max(y)
}

#[differentiate]
fn min_of(x: f64, y: f64) -> f64 {
    x.min(y)
}

#[test]
fn conventions_at_nan() {
    let nan = f64::NAN;
    // `abs`, `clamp` and `powi(x, 0)` give 0 at NaN, as PyTorch's `abs`, `clamp` and `pow` do.
    assert_eq!(abs::method_grad(nan).1, 0.0);
    assert_eq!(clamp_method_grad(nan).1, 0.0);
    assert_eq!(powi_zero_grad(nan), (1.0, 0.0));
    // `powi(x, 0)` gives 0 at 0 and at infinity too: `x^0` is the constant 1.
    assert_eq!(powi_zero_grad(0.0), (1.0, 0.0));
    assert_eq!(powi_zero_grad(f64::INFINITY), (1.0, 0.0));
    // `max`/`min` with one NaN argument return the other argument, which takes the adjoint;
    // with two, the value is NaN and the second argument takes it.
    assert_eq!(max_of_grad(nan, 2.0).1, (0.0, 1.0));
    assert_eq!(max_of_grad(2.0, nan).1, (1.0, 0.0));
    assert_eq!(min_of_grad(nan, 2.0).1, (0.0, 1.0));
    assert_eq!(max_of_grad(nan, nan).1, (0.0, 1.0));
    assert_eq!(min_of_grad(nan, nan).1, (0.0, 1.0));
    // Smooth functions propagate the NaN into the gradient.
    assert!(exp::method_grad(nan).1.is_nan());
}

// ------------------------------------------------------------------------------------------
// A zero adjoint through a rule whose derivative is infinite at the point adds zero, not NaN.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn unused_root(x: f64, y: f64) -> f64 {
    let r = (x * x).sqrt();
    let q = y / x;
    let l = x.ln();
    if x > 1.0 { r + q + l } else { 2.0 * x + y }
}

#[test]
fn zero_adjoints_through_infinite_derivatives() {
    // At x = 0 the unused sqrt, division and ln have infinite derivatives.
    let (value, (dx, dy)) = unused_root_grad(0.0, 3.0);
    assert_eq!(value, 3.0);
    assert_eq!((dx, dy), (2.0, 1.0));
    // A used one still gives infinity: sqrt at 0.
    assert_eq!(sqrt::method_grad(0.0).1, f64::INFINITY);
}

/// Values computed before a guard and not used on the path taken, whose rules have a factor that
/// is not finite there: the ratio's product, an `exp` that overflowed, the `sin` of a NaN, a
/// remainder by zero, a `max` over a value the guard leaves out.
#[differentiate(hessian)]
fn guarded_ratio(num: f64, den: f64, z: f64) -> f64 {
    let r = num / den;
    let s = r * z + (num / den * 1e308).exp() + (num / den - r).sin() + num % den;
    let m = (r * z).max(z * z);
    if den == 0.0 { num * z } else { s + m }
}

/// The same through a call: the callee's pullback, given a zero seed, is not run.
#[differentiate(hessian)]
fn scaled_ratio(num: f64, den: f64, z: f64) -> f64 {
    num / den * z
}

#[differentiate(hessian)]
fn guarded_call(num: f64, den: f64, z: f64) -> f64 {
    let s = scaled_ratio(num, den, z);
    if den == 0.0 { num * z } else { s }
}

/// A value each iteration overwrites without reading it (only the last one is used), in a
/// loop and through a call; a tuple whose second part the caller ignores.
#[differentiate(hessian)]
fn overwritten_ratios(num: f64, den: f64, z: f64) -> f64 {
    let mut s = 0.0;
    let mut c = 0.0;
    for i in 0..3 {
        let d = den - i as f64;
        s = num / d * z;
        c = scaled_ratio(num, d, z);
    }
    let (a, _ignored) = ratio_pair(num, den, z);
    s + c + a
}

#[differentiate(hessian)]
fn ratio_pair(num: f64, den: f64, z: f64) -> (f64, f64) {
    (num * z, num / den * z)
}

#[test]
fn zero_adjoints_of_values_overwritten_or_ignored() {
    // At den = 0 the first iteration's ratios and the ignored part divide by zero.
    let (num, den, z) = (1.0, 0.0, 2.0);
    let (value, grad) = overwritten_ratios_grad(num, den, z);
    assert_eq!(value.to_bits(), overwritten_ratios(num, den, z).to_bits());
    // s = c = num z / (den - 2), a = num z.
    let exact = (
        2.0 * z / (den - 2.0) + z,
        -2.0 * num * z / ((den - 2.0) * (den - 2.0)),
        2.0 * num / (den - 2.0) + num,
    );
    assert_eq!(grad, exact);
    let (_, grad, hv) = overwritten_ratios_hvp(num, den, z, (1.0, 0.0, 0.0));
    assert_eq!(grad, exact);
    // H e_num = (0, -2 z / (den - 2)², 2 / (den - 2) + 1).
    let h = (
        0.0,
        -2.0 * z / ((den - 2.0) * (den - 2.0)),
        2.0 / (den - 2.0) + 1.0,
    );
    assert_eq!(hv, h);
    // A zero seed gives zeros.
    assert_eq!(scaled_ratio_pullback(1.0, 0.0, 2.0, 0.0), (0.0, 0.0, 0.0));
    assert_eq!(
        ratio_pair_pullback(1.0, 0.0, 2.0, (1.0, 0.0)),
        (2.0, 0.0, 1.0)
    );
}

#[test]
fn zero_adjoints_through_factors_that_are_not_finite() {
    let (value, grad) = guarded_call_grad(1.0, 0.0, 2.0);
    assert_eq!((value, grad), (2.0, (2.0, 0.0, 1.0)));
    let (_, grad, hv) = guarded_call_hvp(1.0, 0.0, 2.0, (1.0, 0.5, -1.0));
    assert_eq!((grad, hv), ((2.0, 0.0, 1.0), (-1.0, 0.0, 1.0)));
    // At den = 0 the value is `num z`; the ratio is +inf or -inf.
    let z = 2.0;
    for num in [1.0, -1.0] {
        let (value, (dnum, dden, dz)) = guarded_ratio_grad(num, 0.0, z);
        assert_eq!(value, num * z);
        assert_eq!((dnum, dden, dz), (z, 0.0, num));
        // In second order too: the gradient `_hvp` returns, `H v` and the Hessian of `num z`.
        let (_, grad, hv) = guarded_ratio_hvp(num, 0.0, z, (1.0, 0.5, -1.0));
        assert_eq!(grad, (z, 0.0, num));
        assert_eq!(hv, (-1.0, 0.0, 1.0));
        let (_, _, h) = guarded_ratio_hessian(num, 0.0, z);
        assert_eq!(h, [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]);
    }
    // Where the ratio is used, against finite differences.
    let f = |p: &[f64]| guarded_ratio(p[0], p[1], p[2]);
    let at = [0.3, -2.0, 0.7];
    let (_, (a, b, c)) = guarded_ratio_grad(at[0], at[1], at[2]);
    common::assert_gradient(f, &at, &[a, b, c], 1e-7);
}

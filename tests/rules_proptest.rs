//! Property tests of the derivative rules: over random points of each rule's domain, the
//! generated gradient equals the derivative written out by hand (to a tight tolerance), and for
//! composite expressions mixing several rules it equals central finite differences.
//!
//! The runner uses a fixed seed and no failure persistence, so that the tests are deterministic
//! and write no files.

use std::f64::consts::{LN_2, LN_10, PI};

use autodiff_core::{check_gradient, differentiate};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// Relative tolerance against the hand-written derivative.
const TIGHT: f64 = 1e-12;
/// Absolute floor of that comparison: the rules `1 - y²` (tanh) and `y + 1` (exp_m1) lose their
/// relative accuracy where the true derivative is far below one ulp of one.
const FLOOR: f64 = 1e-15;
/// Tolerance against finite differences (see `autodiff_core::GradientCheck::max_error`).
const NUMERIC: f64 = 1e-6;
/// Relative tolerance for `f32` functions against the `f64` formula.
const F32: f64 = 1e-5;

fn config() -> ProptestConfig {
    ProptestConfig {
        rng_seed: RngSeed::Fixed(0x00ad_5eed),
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    }
}

/// `got == expected` to `TIGHT` relative (plus `FLOOR` absolute); equal values pass.
fn near(got: f64, expected: f64, what: &str) -> Result<(), TestCaseError> {
    near_to(got, expected, TIGHT, FLOOR, what)
}

fn near_to(
    got: f64,
    expected: f64,
    relative: f64,
    absolute: f64,
    what: &str,
) -> Result<(), TestCaseError> {
    let scale = got.abs().max(expected.abs());
    prop_assert!(
        got == expected || (got - expected).abs() <= relative * scale + absolute,
        "{}: got {:e}, expected {:e}",
        what,
        got,
        expected
    );
    Ok(())
}

/// Nonzero values of magnitude `lo..hi`, of both signs.
fn nonzero(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![-hi..-lo, lo..hi]
}

// ---------------------------------------------------------------------------------------------
// Unary rules: method form and path form, `_grad`, `_pullback` and `_grad_into`.
// ---------------------------------------------------------------------------------------------

macro_rules! unary {
    ($name:ident, domain: $domain:expr, derivative: |$v:ident| $d:expr) => {
        mod $name {
            use super::*;

            #[differentiate]
            fn method(x: f64) -> f64 {
                x.$name()
            }

            #[differentiate]
            fn path(x: f64) -> f64 {
                f64::$name(x)
            }

            fn derivative($v: f64) -> f64 {
                $d
            }

            proptest! {
                #![proptest_config(config())]

                #[test]
                fn matches_the_analytic_derivative(x in $domain, seed in -4.0..4.0_f64) {
                    let expected = derivative(x);
                    let (value, d) = method_grad(x);
                    prop_assert_eq!(value, method(x));
                    near(d, expected, "method form")?;
                    let (value, d) = path_grad(x);
                    prop_assert_eq!(value, path(x));
                    near(d, expected, "path form")?;
                    near(method_pullback(x, seed), seed * expected, "method pullback")?;
                    near(path_pullback(x, seed), seed * expected, "path pullback")?;
                    let mut g = f64::NAN;
                    prop_assert_eq!(method_grad_into(x, &mut g), method(x));
                    near(g, expected, "method grad_into")?;
                    let mut g = f64::NAN;
                    prop_assert_eq!(path_grad_into(x, &mut g), path(x));
                    near(g, expected, "path grad_into")?;
                }
            }
        }
    };
}

unary!(exp, domain: -20.0..20.0_f64, derivative: |x| x.exp());
unary!(exp2, domain: -20.0..20.0_f64, derivative: |x| LN_2 * 2.0_f64.powf(x));
unary!(exp_m1, domain: -20.0..20.0_f64, derivative: |x| x.exp());
unary!(ln, domain: 1e-3..1e3_f64, derivative: |x| 1.0 / x);
unary!(log2, domain: 1e-3..1e3_f64, derivative: |x| 1.0 / (x * LN_2));
unary!(log10, domain: 1e-3..1e3_f64, derivative: |x| 1.0 / (x * LN_10));
unary!(ln_1p, domain: -0.99..1e3_f64, derivative: |x| 1.0 / (1.0 + x));
unary!(sqrt, domain: 1e-6..1e6_f64, derivative: |x| 0.5 / x.sqrt());
unary!(cbrt, domain: nonzero(1e-6, 1e6), derivative: |x| 1.0 / (3.0 * x.abs().powf(2.0 / 3.0)));
unary!(recip, domain: nonzero(1e-3, 1e3), derivative: |x| -1.0 / (x * x));
unary!(sin, domain: -10.0..10.0_f64, derivative: |x| x.cos());
unary!(cos, domain: -10.0..10.0_f64, derivative: |x| -x.sin());
unary!(tan, domain: -1.5..1.5_f64, derivative: |x| 1.0 / (x.cos() * x.cos()));
unary!(asin, domain: -0.999..0.999_f64, derivative: |x| 1.0 / ((1.0 - x) * (1.0 + x)).sqrt());
unary!(acos, domain: -0.999..0.999_f64, derivative: |x| -1.0 / ((1.0 - x) * (1.0 + x)).sqrt());
unary!(atan, domain: -1e3..1e3_f64, derivative: |x| 1.0 / (1.0 + x * x));
unary!(sinh, domain: -20.0..20.0_f64, derivative: |x| x.cosh());
unary!(cosh, domain: -20.0..20.0_f64, derivative: |x| x.sinh());
unary!(tanh, domain: -20.0..20.0_f64, derivative: |x| 1.0 / (x.cosh() * x.cosh()));
unary!(asinh, domain: -1e3..1e3_f64, derivative: |x| 1.0 / (x * x + 1.0).sqrt());
unary!(acosh, domain: 1.001..1e3_f64, derivative: |x| 1.0 / ((x - 1.0) * (x + 1.0)).sqrt());
unary!(atanh, domain: -0.999..0.999_f64, derivative: |x| 1.0 / ((1.0 - x) * (1.0 + x)));
unary!(to_degrees, domain: -1e3..1e3_f64, derivative: |_x| 180.0 / PI);
unary!(to_radians, domain: -1e3..1e3_f64, derivative: |_x| PI / 180.0);
unary!(abs, domain: nonzero(1e-9, 1e3), derivative: |x| if x > 0.0 { 1.0 } else { -1.0 });
unary!(signum, domain: -1e3..1e3_f64, derivative: |_x| 0.0);
unary!(floor, domain: -1e3..1e3_f64, derivative: |_x| 0.0);
unary!(ceil, domain: -1e3..1e3_f64, derivative: |_x| 0.0);
unary!(round, domain: -1e3..1e3_f64, derivative: |_x| 0.0);
unary!(trunc, domain: -1e3..1e3_f64, derivative: |_x| 0.0);

#[differentiate]
fn powi(x: f64, n: i32) -> f64 {
    x.powi(n)
}

#[differentiate]
fn powi_path(x: f64, n: i32) -> f64 {
    f64::powi(x, n)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn powi_matches_the_analytic_derivative(x in nonzero(0.1, 10.0), n in -5..=6_i32) {
        let expected = n as f64 * x.powf(n as f64 - 1.0);
        let (value, d) = powi_grad(x, n);
        prop_assert_eq!(value, powi(x, n));
        near(d, expected, "method form")?;
        near(powi_path_grad(x, n).1, expected, "path form")?;
    }
}

// ---------------------------------------------------------------------------------------------
// Operators.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn sub(x: f64, y: f64) -> f64 {
    x - y
}

#[differentiate]
fn mul(x: f64, y: f64) -> f64 {
    x * y
}

#[differentiate]
fn div(x: f64, y: f64) -> f64 {
    x / y
}

#[differentiate]
fn rem(x: f64, y: f64) -> f64 {
    x % y
}

#[differentiate]
fn neg_add(x: f64, y: f64) -> f64 {
    -x + y
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn operators_match_their_rules(x in -100.0..100.0_f64, y in nonzero(0.1, 100.0)) {
        let (_, (dx, dy)) = sub_grad(x, y);
        prop_assert_eq!((dx, dy), (1.0, -1.0));
        let (_, (dx, dy)) = neg_add_grad(x, y);
        prop_assert_eq!((dx, dy), (-1.0, 1.0));
        let (value, (dx, dy)) = mul_grad(x, y);
        prop_assert_eq!(value, x * y);
        prop_assert_eq!((dx, dy), (y, x));
        let (value, (dx, dy)) = div_grad(x, y);
        prop_assert_eq!(value, x / y);
        near(dx, 1.0 / y, "div d/dx")?;
        near(dy, -x / (y * y), "div d/dy")?;
        let (value, (dx, dy)) = rem_grad(x, y);
        prop_assert_eq!(value, x % y);
        prop_assert_eq!(dx, 1.0);
        near(dy, -(x / y).trunc(), "rem d/dy")?;
    }
}

// ---------------------------------------------------------------------------------------------
// Binary and ternary methods, both forms, every argument active.
// ---------------------------------------------------------------------------------------------

macro_rules! binary {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[differentiate]
            pub(super) fn method(x: f64, y: f64) -> f64 {
                x.$name(y)
            }

            #[differentiate]
            pub(super) fn path(x: f64, y: f64) -> f64 {
                f64::$name(x, y)
            }

            /// Both forms, `_grad`, `_pullback` and `_grad_into`, against `expected`.
            pub(super) fn check(x: f64, y: f64, expected: (f64, f64)) -> Result<(), TestCaseError> {
                let what = stringify!($name);
                let forms = [
                    (method_grad(x, y), method(x, y), method_pullback(x, y, -0.5)),
                    (path_grad(x, y), path(x, y), path_pullback(x, y, -0.5)),
                ];
                for ((value, (dx, dy)), f, (px, py)) in forms {
                    prop_assert_eq!(value, f);
                    near(dx, expected.0, &format!("{what} d/dx"))?;
                    near(dy, expected.1, &format!("{what} d/dy"))?;
                    near(px, -0.5 * expected.0, &format!("{what} pullback d/dx"))?;
                    near(py, -0.5 * expected.1, &format!("{what} pullback d/dy"))?;
                }
                let mut g = (f64::NAN, f64::NAN);
                prop_assert_eq!(method_grad_into(x, y, &mut g), method(x, y));
                near(g.0, expected.0, &format!("{what} grad_into d/dx"))?;
                near(g.1, expected.1, &format!("{what} grad_into d/dy"))?;
                let mut g = (f64::NAN, f64::NAN);
                prop_assert_eq!(path_grad_into(x, y, &mut g), path(x, y));
                near(g.0, expected.0, &format!("{what} path grad_into d/dx"))?;
                near(g.1, expected.1, &format!("{what} path grad_into d/dy"))?;
                Ok(())
            }
        }
    };
}

binary!(powf);
binary!(atan2);
binary!(hypot);
binary!(log);
binary!(max);
binary!(min);

proptest! {
    #![proptest_config(config())]

    #[test]
    fn powf_both_arguments(x in 0.01..10.0_f64, y in -5.0..5.0_f64) {
        powf::check(x, y, (y * x.powf(y - 1.0), x.powf(y) * x.ln()))?;
    }

    #[test]
    fn atan2_both_arguments(y in -10.0..10.0_f64, x in -10.0..10.0_f64) {
        prop_assume!(x * x + y * y > 1e-6);
        let r2 = x * x + y * y;
        atan2::check(y, x, (x / r2, -y / r2))?;
    }

    #[test]
    fn hypot_both_arguments(x in -10.0..10.0_f64, y in -10.0..10.0_f64) {
        prop_assume!(x * x + y * y > 1e-6);
        let r = (x * x + y * y).sqrt();
        hypot::check(x, y, (x / r, y / r))?;
    }

    #[test]
    fn log_both_arguments(x in 0.01..100.0_f64, b in 0.01..100.0_f64) {
        prop_assume!(b.ln().abs() > 1e-2);
        let lb = b.ln();
        log::check(x, b, (1.0 / (x * lb), -x.ln() / (b * lb * lb)))?;
    }

    #[test]
    fn max_min_both_arguments(x in -10.0..10.0_f64, y in -10.0..10.0_f64) {
        prop_assume!(x != y);
        max::check(x, y, if x > y { (1.0, 0.0) } else { (0.0, 1.0) })?;
        min::check(x, y, if x < y { (1.0, 0.0) } else { (0.0, 1.0) })?;
    }

    #[test]
    fn max_min_tie_goes_to_the_first_argument(t in -10.0..10.0_f64) {
        max::check(t, t, (1.0, 0.0))?;
        min::check(t, t, (1.0, 0.0))?;
    }
}

#[differentiate]
fn clamp(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

#[differentiate]
fn clamp_path(x: f64, lo: f64, hi: f64) -> f64 {
    f64::clamp(x, lo, hi)
}

#[differentiate]
fn mul_add(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

#[differentiate]
fn mul_add_path(a: f64, b: f64, c: f64) -> f64 {
    f64::mul_add(a, b, c)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn clamp_all_three_arguments(x in -10.0..10.0_f64, lo in -5.0..5.0_f64, width in 0.0..5.0_f64) {
        let hi = lo + width;
        let expected = if x < lo {
            (0.0, 1.0, 0.0)
        } else if x > hi {
            (0.0, 0.0, 1.0)
        } else {
            (1.0, 0.0, 0.0)
        };
        let (value, g) = clamp_grad(x, lo, hi);
        prop_assert_eq!(value, x.clamp(lo, hi));
        prop_assert_eq!(g, expected);
        prop_assert_eq!(clamp_path_grad(x, lo, hi).1, expected);
    }

    #[test]
    fn mul_add_all_three_arguments(a in -10.0..10.0_f64, b in -10.0..10.0_f64, c in -10.0..10.0_f64) {
        let (value, g) = mul_add_grad(a, b, c);
        prop_assert_eq!(value, a.mul_add(b, c));
        prop_assert_eq!(g, (b, a, 1.0));
        prop_assert_eq!(mul_add_path_grad(a, b, c).1, (b, a, 1.0));
    }
}

// ---------------------------------------------------------------------------------------------
// f32.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn f32_unary(x: f32) -> f32 {
    x.sin() + f32::exp(x) + x.sqrt() + x.ln_1p() + f32::atan(x) + x.tanh()
}

#[differentiate]
fn f32_binary(x: f32, y: f32) -> f32 {
    x.powf(y) + f32::hypot(x, y) + x.atan2(y) + f32::log(x, y)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn f32_rules(x in 0.1..5.0_f32) {
        let xd = x as f64;
        let terms = [
            xd.cos(),
            xd.exp(),
            0.5 / xd.sqrt(),
            1.0 / (1.0 + xd),
            1.0 / (1.0 + xd * xd),
            1.0 / (xd.cosh() * xd.cosh()),
        ];
        let (value, d) = f32_unary_grad(x);
        prop_assert_eq!(value, f32_unary(x));
        near_to(d as f64, terms.iter().sum(), 0.0, F32 * sum_abs(&terms), "f32 unary")?;
    }

    #[test]
    fn f32_binary_rules(x in 0.1..5.0_f32, y in 1.1..5.0_f32) {
        let (xd, yd) = (x as f64, y as f64);
        let (r2, ly) = (xd * xd + yd * yd, yd.ln());
        let terms_x = [
            yd * xd.powf(yd - 1.0),
            xd / r2.sqrt(),
            yd / r2,
            1.0 / (xd * ly),
        ];
        let terms_y = [
            xd.powf(yd) * xd.ln(),
            yd / r2.sqrt(),
            -xd / r2,
            -xd.ln() / (yd * ly * ly),
        ];
        let (value, (dx, dy)) = f32_binary_grad(x, y);
        prop_assert_eq!(value, f32_binary(x, y));
        // Each term is computed to f32 precision, so the error scales with their magnitudes.
        near_to(dx as f64, terms_x.iter().sum(), 0.0, F32 * sum_abs(&terms_x), "f32 d/dx")?;
        near_to(dy as f64, terms_y.iter().sum(), 0.0, F32 * sum_abs(&terms_y), "f32 d/dy")?;
    }
}

fn sum_abs(terms: &[f64]) -> f64 {
    terms.iter().map(|t| t.abs()).sum()
}

// ---------------------------------------------------------------------------------------------
// Composite expressions mixing several rules, against finite differences.
// ---------------------------------------------------------------------------------------------

#[differentiate]
fn composite_smooth(x: f64, y: f64) -> f64 {
    let r = x.hypot(y);
    let t = (x * y).sin().atan2(r + 1.0);
    let u = (r * r + 1.0).ln() * t;
    u + x.tanh().powi(3) - y.exp_m1() / (1.0 + x * x) + f64::cbrt(x * y + 10.0)
}

#[differentiate]
fn composite_three(x: f64, y: f64, z: f64) -> f64 {
    let s = (x * x + y * y + z * z + 1.0).sqrt();
    let a = (x / s).asin() + (y / s).acos() * z.cos();
    let b = (z * z + 0.5).powf(1.5 + x.sin()) * y.cosh().recip();
    let c = s.log(2.0 + y * y) - f64::log10(s) + s.log2() * 0.5;
    a.mul_add(b, c) + z.sinh() / s + (x - y).exp2() * 0.1 + f64::atan(z).to_degrees() * 0.01
}

#[differentiate]
fn composite_kinks(x: f64, y: f64) -> f64 {
    let m = x.max(y) + f64::min(x, 0.5 * y);
    let c = (x * y).clamp(-1.0, 1.0);
    let a = (x - y).abs() + f64::abs(y);
    let r = (x * 3.0) % 2.0;
    let q = x.floor() + y.round() + x.signum() + f64::trunc(y) + y.ceil();
    m * c + a.sqrt() + r * y + q * x + (-x).to_radians()
}

#[differentiate]
fn composite_f32_cast(x: f64, y: f64) -> f64 {
    let small = (x * y) as f32;
    let t = small.sin() * f32::exp(small * 0.5);
    (t as f64) * x + y.ln_1p()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn composite_smooth_matches_finite_differences(x in -2.0..2.0_f64, y in -2.0..2.0_f64) {
        let (value, (dx, dy)) = composite_smooth_grad(x, y);
        prop_assert_eq!(value, composite_smooth(x, y));
        let check = check_gradient(|p| composite_smooth(p[0], p[1]), &[x, y], &[dx, dy]);
        prop_assert!(check.passes(NUMERIC), "at ({}, {}): {}", x, y, check);
    }

    #[test]
    fn composite_three_matches_finite_differences(
        x in -2.0..2.0_f64,
        y in -2.0..2.0_f64,
        z in -2.0..2.0_f64,
    ) {
        let (value, (dx, dy, dz)) = composite_three_grad(x, y, z);
        prop_assert_eq!(value, composite_three(x, y, z));
        let check = check_gradient(|p| composite_three(p[0], p[1], p[2]), &[x, y, z], &[dx, dy, dz]);
        prop_assert!(check.passes(NUMERIC), "at ({}, {}, {}): {}", x, y, z, check);
    }

    #[test]
    fn composite_kinks_matches_finite_differences_away_from_kinks(
        x in -3.0..3.0_f64,
        y in -3.0..3.0_f64,
    ) {
        // Every kink or jump of the function is farther than the finite-difference stencil
        // reaches (2h = 6e-3 in x or y at most here, 1.8e-2 in x * y).
        let margin = 5e-2;
        let frac_away = |v: f64, offset: f64| {
            let frac = (v - offset).rem_euclid(1.0);
            frac.min(1.0 - frac) > margin
        };
        prop_assume!((x - y).abs() > margin && (x - 0.5 * y).abs() > margin);
        prop_assume!(((x * y).abs() - 1.0).abs() > margin);
        prop_assume!(y.abs() > margin && x.abs() > margin);
        prop_assume!(frac_away(x, 0.0) && frac_away(y, 0.0) && frac_away(y, 0.5));
        prop_assume!(frac_away(1.5 * x, 0.0));
        let (value, (dx, dy)) = composite_kinks_grad(x, y);
        prop_assert_eq!(value, composite_kinks(x, y));
        let check = check_gradient(|p| composite_kinks(p[0], p[1]), &[x, y], &[dx, dy]);
        prop_assert!(check.passes(NUMERIC), "at ({}, {}): {}", x, y, check);
    }

    #[test]
    fn composite_f32_cast_matches_finite_differences(x in -1.5..1.5_f64, y in 0.0..2.0_f64) {
        let (value, (dx, dy)) = composite_f32_cast_grad(x, y);
        prop_assert_eq!(value, composite_f32_cast(x, y));
        // The f32 part is noisy at the default step: use a wide one.
        let numeric = autodiff_core::numeric_gradient_with_step(
            |p| composite_f32_cast(p[0], p[1]),
            &[x, y],
            1e-2,
        );
        near_to(dx, numeric[0], 1e-3, 1e-3, "d/dx")?;
        near_to(dy, numeric[1], 1e-3, 1e-3, "d/dy")?;
    }
}

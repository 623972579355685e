//! Every row of the rules table in forward mode and to second order: for each operation, a
//! function with `#[differentiate(hessian)]` whose JVP is checked against a directional central
//! difference of the function and whose dense Hessian is checked against central second
//! differences of the function itself (no derivative the macro wrote is an oracle here).
//!
//! The tangent of an operation is its adjoint template at `dy = t`, and its second derivative
//! differentiates the template's instructions: this file is what checks the template-to-IR
//! compilation and the rows of the helpers the templates call (`powi_deriv`, `xlogy`,
//! `unless_zero`, `pick`, ...).

#![allow(clippy::needless_range_loop, clippy::type_complexity)]

use autodiff_core::differentiate;

/// Second differences with step `h` of `f` at `x`: the dense Hessian.
fn second_differences(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<Vec<f64>> {
    let n = x.len();
    let at = |di: usize, si: f64, dk: usize, sk: f64| {
        let mut p = x.to_vec();
        p[di] += si * h;
        p[dk] += sk * h;
        f(&p)
    };
    (0..n)
        .map(|i| {
            (0..n)
                .map(|k| {
                    (at(i, 1.0, k, 1.0) - at(i, 1.0, k, -1.0) - at(i, -1.0, k, 1.0)
                        + at(i, -1.0, k, -1.0))
                        / (4.0 * h * h)
                })
                .collect()
        })
        .collect()
}

fn directional(f: &dyn Fn(&[f64]) -> f64, x: &[f64], u: &[f64]) -> f64 {
    let h = 1e-6;
    let plus: Vec<f64> = x.iter().zip(u).map(|(x, u)| x + h * u).collect();
    let minus: Vec<f64> = x.iter().zip(u).map(|(x, u)| x - h * u).collect();
    (f(&plus) - f(&minus)) / (2.0 * h)
}

#[track_caller]
fn close(got: f64, expected: f64, tolerance: f64, what: &str) {
    let error = (got - expected).abs() / 1.0_f64.max(got.abs()).max(expected.abs());
    assert!(
        error <= tolerance,
        "{what}: got {got:e}, expected {expected:e} (error {error:.1e})"
    );
}

/// Checks the JVP along a few directions and the Hessian of a function of `n` inputs at `x`.
#[track_caller]
fn check(
    name: &str,
    f: &dyn Fn(&[f64]) -> f64,
    jvp: &dyn Fn(&[f64], &[f64]) -> (f64, f64),
    hessian: &dyn Fn(&[f64]) -> (f64, Vec<Vec<f64>>),
    x: &[f64],
) {
    let n = x.len();
    for seed in 0..3 {
        let u: Vec<f64> = (0..n)
            .map(|i| ((seed * 5 + i * 3 + 1) as f64).sin())
            .collect();
        let (value, t) = jvp(x, &u);
        assert_eq!(value.to_bits(), f(x).to_bits(), "{name}: value");
        close(
            t,
            directional(f, x, &u),
            1e-7,
            &format!("{name}: jvp at {x:?}"),
        );
    }
    let (value, h) = hessian(x);
    assert_eq!(value.to_bits(), f(x).to_bits(), "{name}: value");
    let numeric = second_differences(f, x, 1e-4);
    for i in 0..n {
        for k in 0..n {
            close(
                h[i][k],
                numeric[i][k],
                2e-5,
                &format!("{name}: H[{i}][{k}] at {x:?}"),
            );
        }
    }
}

/// Functions of one input: `name, name_jvp, name_hessian: |x| body, at [points];`.
macro_rules! unary {
    ($($name:ident, $jvp:ident, $hessian:ident: |$x:ident| $body:expr, at [$($p:expr),+];)*) => {
        $(
            #[differentiate(hessian)]
            fn $name($x: f64) -> f64 {
                $body
            }
        )*

        #[test]
        fn unary_rules_to_second_order() {
            $(
                for p in [$($p),+] {
                    check(
                        stringify!($name),
                        &|v| $name(v[0]),
                        &|v, u| $jvp(v[0], u[0]),
                        &|v| {
                            let (y, _, h) = $hessian(v[0]);
                            (y, h)
                        },
                        &[p],
                    );
                }
            )*
        }
    };
}

/// Functions of two inputs.
macro_rules! binary {
    ($($name:ident, $jvp:ident, $hessian:ident: |$x:ident, $y:ident| $body:expr, at [$($p:expr),+];)*) => {
        $(
            #[differentiate(hessian)]
            fn $name($x: f64, $y: f64) -> f64 {
                $body
            }
        )*

        #[test]
        fn binary_rules_to_second_order() {
            $(
                for p in [$($p),+] {
                    let p: [f64; 2] = p;
                    check(
                        stringify!($name),
                        &|v| $name(v[0], v[1]),
                        &|v, u| $jvp(v[0], v[1], (u[0], u[1])),
                        &|v| {
                            let (y, _, h) = $hessian(v[0], v[1]);
                            (y, h)
                        },
                        &p,
                    );
                }
            )*
        }
    };
}

// Each row composed with a smooth function of its own, so that its second derivative meets
// the first derivatives of the rest (the product and chain terms of the Hessian).
unary! {
    neg, neg_jvp, neg_hessian: |x| -(x * x), at [0.7, -1.3];
    exp, exp_jvp, exp_hessian: |x| (x * x).exp(), at [0.3, -0.8];
    exp2, exp2_jvp, exp2_hessian: |x| (x * 1.5).exp2(), at [0.3, -0.8];
    exp_m1, exp_m1_jvp, exp_m1_hessian: |x| (x * x).exp_m1(), at [0.3, -0.8];
    ln, ln_jvp, ln_hessian: |x| (x * x + 0.5).ln(), at [0.3, -0.8];
    ln_1p, ln_1p_jvp, ln_1p_hessian: |x| (x * x).ln_1p(), at [0.3, -0.8];
    log2, log2_jvp, log2_hessian: |x| (x * x + 0.5).log2(), at [0.3, -0.8];
    log10, log10_jvp, log10_hessian: |x| (x * x + 0.5).log10(), at [0.3, -0.8];
    log_const, log_const_jvp, log_const_hessian: |x| (x * x + 0.5).log(3.0), at [0.3, -0.8];
    sqrt, sqrt_jvp, sqrt_hessian: |x| (x * x + 0.5).sqrt(), at [0.3, -0.8];
    cbrt, cbrt_jvp, cbrt_hessian: |x| (x * x + 0.5).cbrt(), at [0.3, -0.8];
    powi, powi_jvp, powi_hessian: |x| x.powi(4) + x.powi(-2) + x.powi(1) + x.powi(0), at [0.7, -1.3];
    powf_const, powf_const_jvp, powf_const_hessian: |x| (x * x + 0.5).powf(1.7), at [0.3, -0.8];
    recip, recip_jvp, recip_hessian: |x| (x * x + 0.5).recip(), at [0.3, -0.8];
    sin, sin_jvp, sin_hessian: |x| (x * x).sin(), at [0.3, -0.8];
    cos, cos_jvp, cos_hessian: |x| (x * x).cos(), at [0.3, -0.8];
    tan, tan_jvp, tan_hessian: |x| (x * 0.9).tan(), at [0.3, -0.8];
    asin, asin_jvp, asin_hessian: |x| (x * 0.9).asin(), at [0.3, -0.8];
    acos, acos_jvp, acos_hessian: |x| (x * 0.9).acos(), at [0.3, -0.8];
    atan, atan_jvp, atan_hessian: |x| (x * x).atan(), at [0.3, -0.8];
    sinh, sinh_jvp, sinh_hessian: |x| (x * x).sinh(), at [0.3, -0.8];
    cosh, cosh_jvp, cosh_hessian: |x| (x * x).cosh(), at [0.3, -0.8];
    tanh, tanh_jvp, tanh_hessian: |x| (x * x).tanh(), at [0.3, -0.8];
    asinh, asinh_jvp, asinh_hessian: |x| (x * x).asinh(), at [0.3, -0.8];
    acosh, acosh_jvp, acosh_hessian: |x| (x * x + 1.5).acosh(), at [0.3, -0.8];
    atanh, atanh_jvp, atanh_hessian: |x| (x * 0.9).atanh(), at [0.3, -0.8];
    to_degrees, to_degrees_jvp, to_degrees_hessian: |x| (x * x).to_degrees(), at [0.3, -0.8];
    to_radians, to_radians_jvp, to_radians_hessian: |x| (x * x).to_radians(), at [0.3, -0.8];
    abs, abs_jvp, abs_hessian: |x| (x * x * x).abs(), at [0.3, -0.8];
    fract, fract_jvp, fract_hessian: |x| (x * x * 3.0).fract(), at [0.3, -0.8];
    pieces, pieces_jvp, pieces_hessian: |x| (x * x).floor() + (x * 2.0).ceil() * x + x.round() + x.trunc() * x.signum() + x.round_ties_even(), at [0.3, -0.8];
}

// A cast to `f32` rounds, which finite differences cannot see through: against the formula.
#[differentiate(hessian)]
fn cast(x: f64) -> f64 {
    ((x * x) as f32).sin() as f64 * x
}

#[test]
fn cast_to_second_order() {
    for x in [0.3_f64, -0.8] {
        let (s, c) = (x * x).sin_cos();
        let (_, t) = cast_jvp(x, 2.0);
        close(t, 2.0 * (2.0 * x * x * c + s), 1e-6, "cast: jvp");
        let (_, g, h) = cast_hessian(x);
        close(g, 2.0 * x * x * c + s, 1e-6, "cast: gradient");
        close(
            h[0][0],
            6.0 * x * c - 4.0 * x * x * x * s,
            1e-6,
            "cast: second derivative",
        );
    }
}

binary! {
    add, add_jvp, add_hessian: |x, y| (x * y) + (x * x), at [[0.4, 1.3], [-0.6, 0.2]];
    sub, sub_jvp, sub_hessian: |x, y| (x * y) - (y * y * x), at [[0.4, 1.3], [-0.6, 0.2]];
    mul, mul_jvp, mul_hessian: |x, y| (x * y) * (x + y), at [[0.4, 1.3], [-0.6, 0.2]];
    div, div_jvp, div_hessian: |x, y| (x * y) / (x * x + y + 2.0), at [[0.4, 1.3], [-0.6, 0.2]];
    rem, rem_jvp, rem_hessian: |x, y| (x * x * 3.0) % (y + 2.0), at [[0.4, 1.3], [-0.6, 0.2]];
    log, log_jvp, log_hessian: |x, y| (x * x + 0.5).log(y + 2.0), at [[0.4, 1.3], [-0.6, 0.2]];
    powf, powf_jvp, powf_hessian: |x, y| (x * x + 0.5).powf(y), at [[0.4, 1.3], [-0.6, 0.2]];
    hypot, hypot_jvp, hypot_hessian: |x, y| (x * y).hypot(x + y), at [[0.4, 1.3], [-0.6, 0.2]];
    atan2, atan2_jvp, atan2_hessian: |x, y| (x * y).atan2(x + 2.0), at [[0.4, 1.3], [-0.6, 0.2]];
    max, max_jvp, max_hessian: |x, y| (x * x).max(y * x), at [[0.4, 1.3], [-0.6, 0.2]];
    min, min_jvp, min_hessian: |x, y| (x * x).min(y * x), at [[0.4, 1.3], [-0.6, 0.2]];
    clamp, clamp_jvp, clamp_hessian: |x, y| (x * x * y).clamp(y - 1.0, x + 1.0) * x, at [[0.4, 1.3], [-0.6, 0.2], [1.5, 0.3]];
    copysign, copysign_jvp, copysign_hessian: |x, y| (x * x * y).copysign(y) * x, at [[0.4, 1.3], [-0.6, 0.2]];
    midpoint, midpoint_jvp, midpoint_hessian: |x, y| (x * y).midpoint(x * x), at [[0.4, 1.3], [-0.6, 0.2]];
    rem_euclid, rem_euclid_jvp, rem_euclid_hessian: |x, y| (x * x * 3.0).rem_euclid(y + 2.0) * y, at [[0.4, 1.3], [-0.6, 0.2]];
    div_euclid, div_euclid_jvp, div_euclid_hessian: |x, y| (x * 5.0).div_euclid(y + 2.0) * x * y, at [[0.4, 1.3], [-0.6, 0.2]];
    mul_add, mul_add_jvp, mul_add_hessian: |x, y| (x * y).mul_add(x + y, y * y), at [[0.4, 1.3], [-0.6, 0.2]];
    sqrt_at_zero_adjoint, sqrt_at_zero_adjoint_jvp, sqrt_at_zero_adjoint_hessian: |x, y| if x > 10.0 { (y * 0.0).sqrt() } else { x * y }, at [[0.4, 1.3]];
}

/// `powf` of a base that is exactly 0 (a clamped cosine in Phong shading, the light behind the
/// surface): `0^s` is 0 for every `s > 0` near the point, so its second derivatives are 0, not
/// `ln 0` times a zero tangent (NaN).
#[differentiate(hessian)]
fn specular(cos_rv: f64, shininess: f64) -> f64 {
    let rv = cos_rv.max(0.0);
    rv.powf(shininess) + 0.5 * shininess * shininess
}

#[test]
fn powf_of_a_zero_base() {
    let (value, (dc, ds), h) = specular_hessian(-0.3, 8.0);
    assert_eq!(value, 32.0);
    assert_eq!((dc, ds), (0.0, 8.0));
    assert_eq!(h, vec![vec![0.0, 0.0], vec![0.0, 1.0]]);
    let (_, _, hv) = specular_hvp(-0.3, 8.0, (0.25, 1.0));
    assert_eq!(hv, (0.0, 1.0));
    // Off the zero, the same entries against the formula.
    let (c, s) = (0.6_f64, 3.0_f64);
    let (_, _, h) = specular_hessian(c, s);
    close(h[1][1], c.powf(s) * c.ln() * c.ln() + 1.0, 1e-12, "d²/ds²");
    close(h[0][0], s * (s - 1.0) * c.powf(s - 2.0), 1e-12, "d²/dc²");
}

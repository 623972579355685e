//! The generated code does not depend on the names in the user's crate: the modules below shadow
//! `core`, `std`, `autodiff_core`, prelude items, the runtime's helper names and the float types,
//! and name locals and parameters like the generated ones; every function still differentiates
//! correctly (checked against central finite differences).

mod common;

use common::assert_gradient;

/// Shadows everything the generated code could reach by a relative path.
#[allow(dead_code, non_camel_case_types, non_upper_case_globals, unused_macros)]
mod shadowed {
    use ::autodiff_core::{differentiate, no_grad};

    // The crates the generated code names, by relative paths.
    mod core {}
    mod std {}
    mod autodiff_core {}

    // Prelude items.
    pub struct Option<T>(T);
    pub struct Some;
    pub struct None;
    pub struct Vec;
    pub struct Box;
    pub struct String;
    pub struct Result;
    pub struct Ok;
    pub struct Err;
    pub fn drop() {}
    pub trait Copy {}
    pub trait Clone {}
    pub trait Default {}
    pub trait Into {}
    pub trait From {}
    pub trait Fn {}
    pub trait FnMut {}
    pub trait FnOnce {}
    pub trait Iterator {}
    pub trait Sized {}
    macro_rules! unimplemented {
        () => {
            compile_error!("the user's `unimplemented!`")
        };
    }
    macro_rules! panic {
        () => {
            compile_error!("the user's `panic!`")
        };
    }

    // The names of the runtime's helpers.
    pub fn slot() {}
    pub fn no_slot() {}
    pub struct Slot;
    pub struct Ignore;
    pub trait Real {}
    pub trait Grad {}
    pub trait FromMut {}
    pub fn zero_grad() {}
    pub fn reset_grad() {}
    pub fn cast_like() {}
    pub fn sign() {}
    pub fn ln_2() {}
    pub fn ln_10() {}
    pub fn ln_as() {}
    pub fn powi_deriv() {}
    pub fn xlogy() {}
    pub fn __private() {}

    // The float types: `f64` is an alias of itself (so the user's signatures still mean the
    // primitive) and a constant; `f32` is a module.
    pub type f64 = ::core::primitive::f64;
    pub const f64: i32 = 64;
    mod f32 {}

    /// Locals named like the generated ones: temporaries `t0`, versions `x_1`, adjoints `d_x`,
    /// slots `grad_x`, the public functions' `grad`, `value`, `pullback`, `d_out`.
    #[differentiate]
    pub fn locals(x: f64, y: f64) -> f64 {
        let d_x = x * y;
        let t0 = d_x.sin();
        let t1 = x.exp() * t0;
        let grad = t1 + y;
        let value = grad * grad;
        let pullback = value / (1.0 + y * y);
        let d_out = pullback - x;
        let x_1 = d_out * 2.0;
        let mut price = x_1 + d_x;
        price += t0;
        let d_price = price * y;
        let grad_x = d_price.tanh();
        let d_t0 = grad_x + x_1;
        d_t0 * price
    }

    /// The result of an unnamed tail is named after the function: `price`.
    #[differentiate]
    pub fn price(price_1: f64, d_price: f64) -> f64 {
        let price_pullback = price_1 * d_price;
        price_pullback.sqrt() + price_1 * 2.0
    }

    /// Parameters named like the public functions' locals.
    #[differentiate]
    pub fn parameters(grad: f64, d_out: f64, value: f64, pullback: f64) -> f64 {
        grad * d_out + value.sin() * pullback
    }

    /// The same names, with `wrt` and a gradient of one entry.
    #[differentiate(wrt(value))]
    pub fn single_parameter(grad: f64, value: f64, d_out: f64) -> f64 {
        grad * value.powi(3) + d_out
    }

    /// Calls of differentiated functions, whose results and pullbacks get generated names.
    #[differentiate]
    pub fn calls(x: f64, y: f64) -> f64 {
        let inner_pullback = parameters(x, y, x * y, 2.0);
        let parameters_pullback = price(inner_pullback * inner_pullback + 1.0, y * y + 1.0);
        let locals = locals(parameters_pullback.ln(), x);
        locals + inner_pullback
    }

    /// A user's local named like the generated code's block locals, put into a field.
    #[differentiate]
    pub fn fields(x: f64, y: f64) -> f64 {
        let with = x * y;
        let mut p = super::Point { x, y };
        p.x = with;
        p.y += with * p.x;
        p.x + p.y
    }

    /// Float methods and `f64::name` paths, `no_grad`, casts and a float constant.
    #[differentiate]
    pub fn methods(x: f64, y: f64) -> f64 {
        let a = f64::sin(x) * f64::max(x, y) + x.abs() + y.atan2(x);
        let b = no_grad(x * y) * x.ln_1p() + x.log2() + y.powi(2).log10();
        let three = 3_i32;
        let c = x * ::core::f64::consts::PI + three as f64 * y;
        a + b + c + x.hypot(y).clamp(0.0, 10.0) + x.powf(y) + x.exp2().exp_m1()
    }
}

#[derive(Clone, Copy, autodiff_core::Differentiable)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[test]
fn a_field_assigned_a_local_named_like_the_generated_ones() {
    let (value, (dx, dy)) = shadowed::fields_grad(0.7, -1.3);
    assert_eq!(value, shadowed::fields(0.7, -1.3));
    assert_gradient(
        |p| shadowed::fields(p[0], p[1]),
        &[0.7, -1.3],
        &[dx, dy],
        1e-8,
    );
}

/// `f64` is a module here: the single-precision functions must not need it.
#[allow(dead_code, non_camel_case_types)]
mod single {
    use autodiff_core::differentiate;

    mod f64 {}

    #[differentiate]
    pub fn f(x: f32, y: f32) -> f32 {
        let t0 = x * y;
        let d_x = t0.sin() + x.exp2() + y.log10() + x.powi(2);
        d_x * x.sqrt() + f32::cos(y) + x.powf(y) + x.log(2.0)
    }
}

#[test]
fn local_names_of_generated_code_do_not_capture_user_locals() {
    for &(x, y) in &[(0.3, 0.7), (-0.4, 1.3), (1.1, -0.2)] {
        let (value, (dx, dy)) = shadowed::locals_grad(x, y);
        assert_eq!(value, shadowed::locals(x, y));
        assert_gradient(|p| shadowed::locals(p[0], p[1]), &[x, y], &[dx, dy], 1e-7);
    }
    let (value, (d_price_1, d_d_price)) = shadowed::price_grad(1.5, 2.5);
    assert_eq!(value, shadowed::price(1.5, 2.5));
    assert_gradient(
        |p| shadowed::price(p[0], p[1]),
        &[1.5, 2.5],
        &[d_price_1, d_d_price],
        1e-8,
    );
}

#[test]
fn parameters_named_like_the_public_functions_locals() {
    let at = [0.3, -1.2, 0.8, 2.5];
    let (value, (a, b, c, d)) = shadowed::parameters_grad(at[0], at[1], at[2], at[3]);
    assert_eq!(value, shadowed::parameters(at[0], at[1], at[2], at[3]));
    let f = |p: &[f64]| shadowed::parameters(p[0], p[1], p[2], p[3]);
    assert_gradient(f, &at, &[a, b, c, d], 1e-8);
    assert_eq!(
        shadowed::parameters_pullback(at[0], at[1], at[2], at[3], 2.0),
        (2.0 * a, 2.0 * b, 2.0 * c, 2.0 * d)
    );
    let mut grad = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    let value_into = shadowed::parameters_grad_into(at[0], at[1], at[2], at[3], &mut grad);
    assert_eq!((value_into, grad), (value, (a, b, c, d)));

    let (value, d_value) = shadowed::single_parameter_grad(2.0, 1.5, 7.0);
    assert_eq!(value, shadowed::single_parameter(2.0, 1.5, 7.0));
    common::assert_close(d_value, 2.0 * 3.0 * 1.5 * 1.5, 1e-15);
    assert_eq!(
        shadowed::single_parameter_pullback(2.0, 1.5, 7.0, -1.0),
        -d_value
    );
    let mut grad = f64::NAN;
    assert_eq!(
        shadowed::single_parameter_grad_into(2.0, 1.5, 7.0, &mut grad),
        value
    );
    assert_eq!(grad, d_value);
}

#[test]
fn calls_between_differentiated_functions() {
    for &(x, y) in &[(0.3, 0.7), (0.9, -0.6)] {
        let (value, (dx, dy)) = shadowed::calls_grad(x, y);
        assert_eq!(value, shadowed::calls(x, y));
        assert_gradient(|p| shadowed::calls(p[0], p[1]), &[x, y], &[dx, dy], 1e-6);
    }
}

#[test]
fn float_methods_and_paths() {
    for &(x, y) in &[(0.6, 1.4), (1.3, 0.2)] {
        let (value, (dx, dy)) = shadowed::methods_grad(x, y);
        assert_eq!(value, shadowed::methods(x, y));
        // `no_grad(x * y)` is a constant to the gradient but not to finite differences: compare
        // against the function with that constant frozen.
        let frozen = x * y;
        let f = |p: &[f64]| {
            let (x, y) = (p[0], p[1]);
            let a = f64::sin(x) * f64::max(x, y) + x.abs() + y.atan2(x);
            let b = frozen * x.ln_1p() + x.log2() + y.powi(2).log10();
            let c = x * std::f64::consts::PI + 3.0 * y;
            a + b + c + x.hypot(y).clamp(0.0, 10.0) + x.powf(y) + x.exp2().exp_m1()
        };
        assert_eq!(f(&[x, y]), value);
        assert_gradient(f, &[x, y], &[dx, dy], 1e-7);
    }
}

#[test]
fn single_precision_without_f64() {
    let (x, y) = (0.7_f32, 1.3_f32);
    let (value, (dx, dy)) = single::f_grad(x, y);
    assert_eq!(value, single::f(x, y));
    // The same formula in double precision, for finite differences that f32 cannot resolve.
    let f = |p: &[f64]| {
        let (x, y) = (p[0], p[1]);
        let d_x = (x * y).sin() + x.exp2() + y.log10() + x.powi(2);
        d_x * x.sqrt() + f64::cos(y) + x.powf(y) + x.log(2.0)
    };
    assert_gradient(f, &[x as f64, y as f64], &[dx as f64, dy as f64], 1e-5);
}

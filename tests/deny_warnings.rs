//! The generated code adds no warning to a user's crate: this file uses a wide range of what
//! `#[differentiate]` accepts under `#![deny(warnings)]` and clippy's default lints, so that it
//! compiling at all (`cargo test`, `cargo clippy --all-targets -- -D warnings`) is the test. The
//! `#[test]`s below call every generated function and check a few values against formulas.
#![deny(warnings)]
#![deny(clippy::all)]

use autodiff_core::{differentiate, no_grad};

/// Public functions in a module: the generated items are public too, and other differentiated
/// functions reach them through a path.
pub mod shop {
    use autodiff_core::differentiate;

    /// The seed's example: apples, mandarin oranges and tax.
    #[differentiate(hessian)]
    pub fn price(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> f64 {
        let apple_price = apple * apple_num;
        let orange_price = orange * orange_num;
        let all_price = apple_price + orange_price;
        all_price * tax
    }

    /// A crate-visible function, only called by other differentiated functions.
    #[differentiate(hessian, wrt(amount))]
    pub(crate) fn discounted(amount: f64, rate: f64) -> f64 {
        amount * (1.0 - rate)
    }
}

// Every row of the rule table, as a method and (for some) in the `f64::name(x)` path form.
#[differentiate(hessian)]
fn exponentials(x: f64, y: f64) -> f64 {
    let a = x.exp() + x.exp2() + x.exp_m1();
    let b = y.ln() + y.ln_1p() + y.log2() + y.log10() + y.log(x + 2.0);
    let c = y.sqrt() + y.cbrt() + x.powi(3) + y.powf(x) + y.recip();
    let d = f64::exp(x) * f64::ln(y) + f64::powf(y, 0.5);
    a + b + c + d
}

#[differentiate(hessian)]
fn trigonometry(x: f64, y: f64) -> f64 {
    let s = x.sin() * x.cos() + x.tan();
    let inverse = (x / 4.0).asin() + (x / 4.0).acos() + y.atan() + x.atan2(y);
    let hyperbolic = x.sinh() + x.cosh() + y.tanh();
    let angles = x.to_degrees() / 90.0 + y.to_radians();
    let norm = x.hypot(y) + x.mul_add(y, 1.0) + f64::sin(y);
    s + inverse + hyperbolic + angles + norm
}

#[differentiate(hessian)]
fn piecewise(x: f64, y: f64) -> f64 {
    let kinks = x.abs() + x.max(y) + x.min(y) + x.clamp(-1.0, 1.0);
    let steps = x.signum() + x.floor() + y.ceil() + x.round() + y.trunc();
    kinks * (1.0 + steps * 0.0) + f64::max(x, 0.5)
}

/// `+ - * / %`, unary minus, compound assignment, shadowing, blocks and integer locals.
#[differentiate(hessian)]
fn arithmetic(x: f64, y: f64, n: usize) -> f64 {
    let mut s = x * y + x / y - y;
    s += -x;
    s -= y * 0.5;
    s *= x;
    s /= y;
    s %= 5.0;
    let k = n * 2 + 1;
    let x = x * k as f64;
    let block = {
        let t = x * x;
        t + s
    };
    block - s
}

/// Tuples, destructuring, a constant item, `static`, `use` and float constants.
#[differentiate(hessian)]
fn tuples_and_constants(x: f64, y: f64) -> f64 {
    use std::f64::consts::E;
    const HALF: f64 = 0.5;
    static OFFSET: f64 = 0.25;
    let (a, b) = (x * y, x + y);
    let pair = (a, b);
    let (mut p, q): (f64, f64) = pair;
    p += pair.1 * HALF;
    p * q + std::f64::consts::PI * a + E * OFFSET
}

/// Casts: between float types (differentiated), from integers and bools (constants).
#[differentiate(hessian)]
fn casts(x: f64, n: i32) -> f64 {
    let single = x as f32;
    let back = (single * single) as f64;
    let steps = (x * 10.0) as i64;
    let positive = (x > 0.0) as u8;
    back * n as f64 + steps as f64 + f64::from(positive)
}

/// `no_grad` by its imported name and by path.
#[differentiate(hessian)]
fn stop_gradient(x: f64, y: f64) -> f64 {
    let c = no_grad(x * y);
    let d = autodiff_core::no_grad(y);
    x * c + d * y
}

/// Single precision.
#[differentiate(hessian)]
fn single(x: f32, y: f32) -> f32 {
    (x * y).sin() + x.sqrt() / y + f32::cos(x)
}

/// `wrt`: only `w` and `b` are active; `data` and `target` are constants.
#[differentiate(hessian, wrt(w, b))]
fn squared_error(w: f64, b: f64, data: f64, target: f64) -> f64 {
    let prediction = w * data + b;
    let error = prediction - target;
    error * error
}

/// A const generic parameter.
#[differentiate(hessian)]
fn power<const N: usize>(x: f64) -> f64 {
    x.powi(N as i32)
}

/// A type parameter that is not differentiated, with a `where` clause.
#[differentiate(hessian)]
fn tagged<T>(x: f64, tag: T) -> f64
where
    T: Copy + Into<f64>,
{
    let weight = tag.into();
    x * x * weight
}

/// Calls of other differentiated functions: through a path, with a turbofish, twice.
#[differentiate(hessian)]
fn basket(apple: f64, tax: f64) -> f64 {
    let price = shop::price(apple, 3.0, 50.0, 4.0, tax);
    let cubed = power::<3>(apple);
    let discounted = shop::discounted(price, 0.1);
    discounted + cubed + tagged(tax, 2.0_f32) + power::<2>(tax)
}

/// Attributes of the user's function, and `return`.
#[differentiate(hessian)]
#[inline]
#[must_use]
#[allow(clippy::needless_return)]
fn with_attributes(x: f64, _unused: f64) -> f64 {
    return x * 2.0;
}

/// Values the derivative does not need: the generated code drops them, and leaves the
/// parameters they read unused.
#[differentiate(hessian)]
fn dead_intermediate(x: f64, y: f64) -> f64 {
    let _unused = y * 2.0;
    x * 3.0
}

/// A constant result.
#[differentiate(hessian)]
fn constant_output(x: f64) -> f64 {
    let _unused = x * 2.0;
    1.5
}

/// Seven parameters: the limit of `clippy::too_many_arguments` for the user's function, and
/// one more for its `_pullback`.
#[differentiate(hessian)]
fn seven(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, g: f64) -> f64 {
    a * b + c * d + e * f + g
}

/// An `f64` parameter and an `f32` result.
#[differentiate(hessian)]
fn mixed_precision(x: f64, y: f32) -> f32 {
    x as f32 * y
}

/// An `impl Trait` parameter.
#[differentiate(hessian)]
fn with_impl_trait(x: f64, scale: impl Into<f64>) -> f64 {
    x * scale.into()
}

/// Negative and computed constants in argument position.
#[differentiate(hessian)]
fn constant_arguments(x: f64) -> f64 {
    let quarter: f64 = 1.0 / 4.0;
    let minimum = -2.0;
    x.powf(-0.5) * quarter + x.max(minimum) + x.mul_add(-1.0, 2.0 * 3.0)
}

/// Restricted visibilities: the generated items have the same.
mod outer {
    use autodiff_core::differentiate;

    pub(super) mod inner {
        use autodiff_core::differentiate;

        #[differentiate(hessian)]
        pub(in crate::outer) fn restricted(x: f64) -> f64 {
            x * 2.0
        }

        #[differentiate(hessian)]
        pub(super) fn doubled(x: f64) -> f64 {
            restricted(x) * 2.0
        }
    }

    #[differentiate(hessian)]
    pub(crate) fn uses(x: f64) -> f64 {
        inner::doubled(x) + 1.0
    }
}

/// A function that only exists in test builds.
#[cfg(test)]
#[differentiate(hessian)]
fn only_in_tests(x: f64) -> f64 {
    x * x
}

/// A function called only through its `_grad`: no dead-code warning for it or its siblings.
#[differentiate(hessian)]
fn only_through_grad(x: f64) -> f64 {
    x.sin() * x
}

/// A function called only through its `_pullback`.
#[differentiate(hessian)]
fn only_through_pullback(x: f64) -> f64 {
    x.exp() * x
}

/// A function called only through its `_grad_into`.
#[differentiate(hessian)]
fn only_through_grad_into(x: f64, y: f64) -> f64 {
    x * y.cos()
}

/// Central finite difference of a function of one variable.
fn numeric(f: impl Fn(f64) -> f64, x: f64) -> f64 {
    let h = 1e-6;
    (f(x + h) - f(x - h)) / (2.0 * h)
}

fn assert_close(a: f64, b: f64, tolerance: f64) {
    let error = (a - b).abs() / 1.0_f64.max(a.abs()).max(b.abs());
    assert!(error <= tolerance, "{a} != {b} (error {error:e})");
}

/// The state a simulation steps, assigned field by field; a constant enum matched with its
/// payload bound, in guards too.
#[derive(Clone, Copy, autodiff_core::Differentiable)]
pub struct Body {
    pub x: f64,
    pub v: f64,
}

#[derive(Clone, Copy)]
pub enum Drag {
    Linear(f64),
    Quadratic { c: f64, cap: f64 },
    None,
}

#[differentiate(hessian, wrt(b0, k))]
pub fn fall(b0: &Body, k: f64, drag: Drag, n: usize) -> f64 {
    let mut b = *b0;
    for i in 0..n {
        let f = match (drag, i % 2) {
            (Drag::Linear(c), 0) => c * b.v,
            (Drag::Quadratic { c, cap }, _) if b.v.abs() < cap => c * b.v * b.v.abs(),
            (Drag::Quadratic { cap, .. }, _) => cap,
            _ => 0.0,
        };
        b.v -= 0.1 * (k * b.x + f);
        b.x += 0.1 * b.v;
        if let Drag::None = drag
            && b.x < 0.0
        {
            b.x = 0.0;
        }
    }
    b.x * b.v
}

#[test]
fn the_seeds_example() {
    let (value, (d_apple, d_apple_num, d_orange, d_orange_num, d_tax)) =
        shop::price_grad(100.0, 3.0, 50.0, 4.0, 1.1);
    assert_close(value, 550.0, 1e-12);
    assert_close(d_apple, 3.3, 1e-12);
    assert_close(d_apple_num, 110.0, 1e-12);
    assert_close(d_orange, 4.4, 1e-12);
    assert_close(d_orange_num, 55.0, 1e-12);
    assert_close(d_tax, 500.0, 1e-12);
    assert_eq!(value, shop::price(100.0, 3.0, 50.0, 4.0, 1.1));
}

#[test]
fn every_generated_function_can_be_called() {
    let (x, y) = (0.7, 1.3);

    let (value, (dx, dy)) = exponentials_grad(x, y);
    assert_eq!(value, exponentials(x, y));
    assert_close(dx, numeric(|x| exponentials(x, y), x), 1e-7);
    assert_close(dy, numeric(|y| exponentials(x, y), y), 1e-7);

    let (value, (dx, dy)) = trigonometry_grad(x, y);
    assert_eq!(value, trigonometry(x, y));
    assert_close(dx, numeric(|x| trigonometry(x, y), x), 1e-7);
    assert_close(dy, numeric(|y| trigonometry(x, y), y), 1e-7);

    let (value, (dx, dy)) = piecewise_grad(0.3, 0.6);
    assert_eq!(value, piecewise(0.3, 0.6));
    // |x| + min(x, y) + clamp(x) + 0 (steps) + max(x, 0.5) is 0.5 there: d/dx = 1 + 1 + 1.
    assert_close(dx, 3.0, 1e-15);
    assert_close(dy, 1.0, 1e-15);

    let (value, (dx, dy)) = arithmetic_grad(x, y, 2);
    assert_eq!(value, arithmetic(x, y, 2));
    // block - s = (5x)^2.
    assert_close(dx, 50.0 * x, 1e-12);
    assert_close(dy, 0.0, 1e-12);

    let (value, (dx, dy)) = tuples_and_constants_grad(x, y);
    assert_eq!(value, tuples_and_constants(x, y));
    assert_close(dx, numeric(|x| tuples_and_constants(x, y), x), 1e-7);
    assert_close(dy, numeric(|y| tuples_and_constants(x, y), y), 1e-7);

    let (value, dx) = casts_grad(0.37, 3);
    assert_eq!(value, casts(0.37, 3));
    assert_close(dx, 2.0 * 0.37 * 3.0, 1e-6);

    let (value, (dx, dy)) = stop_gradient_grad(1.5, -0.5);
    assert_eq!(value, stop_gradient(1.5, -0.5));
    assert_close(dx, 1.5 * -0.5, 1e-15);
    assert_close(dy, -0.5, 1e-15);

    let (value, (dx, dy)) = single_grad(0.7_f32, 1.3_f32);
    assert_eq!(value, single(0.7, 1.3));
    let (xd, yd) = (0.7_f32 as f64, 1.3_f32 as f64);
    assert_close(
        dx as f64,
        yd * (xd * yd).cos() + 0.5 / (xd.sqrt() * yd) - xd.sin(),
        1e-6,
    );
    assert_close(
        dy as f64,
        xd * (xd * yd).cos() - xd.sqrt() / (yd * yd),
        1e-6,
    );

    let (value, (dw, db)) = squared_error_grad(0.5, 0.1, 2.0, 3.0);
    assert_eq!(value, squared_error(0.5, 0.1, 2.0, 3.0));
    let error = 0.5 * 2.0 + 0.1 - 3.0;
    assert_close(dw, 2.0 * error * 2.0, 1e-15);
    assert_close(db, 2.0 * error, 1e-15);
    let (pw, pb) = squared_error_pullback(0.5, 0.1, 2.0, 3.0, -3.0);
    assert_close(pw, -3.0 * dw, 1e-15);
    assert_close(pb, -3.0 * db, 1e-15);

    let (value, dx) = power_grad::<4>(1.5);
    assert_eq!(value, power::<4>(1.5));
    assert_close(dx, 4.0 * 1.5_f64.powi(3), 1e-15);

    let (value, dx) = tagged_grad(1.5, 3_u8);
    assert_eq!(value, tagged(1.5, 3_u8));
    assert_close(dx, 2.0 * 1.5 * 3.0, 1e-15);

    let (value, (d_apple, d_tax)) = basket_grad(100.0, 1.1);
    assert_eq!(value, basket(100.0, 1.1));
    // 0.9 * price + apple^3 + 2 tax^2 + tax^2.
    assert_close(d_apple, 0.9 * 3.0 * 1.1 + 3.0 * 100.0 * 100.0, 1e-12);
    assert_close(d_tax, 0.9 * 500.0 + 4.0 * 1.1 + 2.0 * 1.1, 1e-12);
    let mut grad = (f64::NAN, f64::NAN);
    assert_eq!(basket_grad_into(100.0, 1.1, &mut grad), value);
    assert_eq!(grad, (d_apple, d_tax));

    let (value, (dx, d_unused)) = with_attributes_grad(2.0, 5.0);
    assert_eq!((value, dx, d_unused), (4.0, 2.0, 0.0));
    assert_eq!(with_attributes(2.0, 5.0), 4.0);

    assert_eq!(dead_intermediate_grad(1.0, 2.0), (3.0, (3.0, 0.0)));
    assert_eq!(constant_output_grad(1.0), (1.5, 0.0));
    let (value, grad) = seven_grad(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    assert_eq!(value, 51.0);
    assert_eq!(grad, (2.0, 1.0, 4.0, 3.0, 6.0, 5.0, 1.0));
    assert_eq!(
        seven_pullback(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 2.0).6,
        2.0
    );
    assert_eq!(mixed_precision_grad(1.5, 2.0), (3.0, (2.0_f64, 1.5_f32)));
    assert_eq!(with_impl_trait_grad(3.0, 2.0_f32), (6.0, 2.0));
    let (value, dx) = constant_arguments_grad(4.0);
    assert_eq!(value, constant_arguments(4.0));
    assert_close(dx, -0.5 * 4.0_f64.powf(-1.5) * 0.25 + 1.0 - 1.0, 1e-15);
    assert_eq!(outer::uses_grad(3.0), (13.0, 4.0));
    assert_eq!(only_in_tests_grad(3.0), (9.0, 6.0));
    let (_, d) = only_through_grad_grad(x);
    assert_close(d, x.cos() * x + x.sin(), 1e-15);
    let d = only_through_pullback_pullback(x, 2.0);
    assert_close(d, 2.0 * (x.exp() * x + x.exp()), 1e-15);
    let mut grad = (0.0, 0.0);
    let value = only_through_grad_into_grad_into(x, y, &mut grad);
    assert_close(value, x * y.cos(), 1e-15);
    assert_close(grad.0, y.cos(), 1e-15);
    assert_close(grad.1, -x * y.sin(), 1e-15);
}

/// Code that diverges (`loop {}`, `process::exit`, `panic!`) adds no `unreachable_code`
/// warning from the generated functions.
#[differentiate(hessian)]
fn diverging(x: f64, limit: f64) -> f64 {
    let y = x * 2.0;
    if y > limit {
        return y;
    }
    if y < -limit {
        std::process::exit(3)
    }
    if y.is_nan() {
        panic!("{y} is not a number");
    }
    if y == 0.5 * limit {
        loop {
            std::hint::spin_loop();
        }
    }
    y * x
}

#[test]
fn diverging_code_differentiates() {
    assert_eq!(diverging_grad(3.0, 2.0), (6.0, (2.0, 0.0)));
    assert_eq!(diverging_grad(0.25, 2.0), (0.125, (1.0, 0.0)));
}

/// Iterator chains, closures and `Vec`s built by `push`: the loops they become add no warning.
#[differentiate(hessian)]
fn chains(x: &[f64], y: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
    let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    let p = x.iter().product::<f64>();
    let best = x
        .iter()
        .copied()
        .max_by(|a, b| a.total_cmp(b))
        .unwrap_or(0.0);
    let sq = |v: f64| v * v;
    let mut v = Vec::with_capacity(x.len());
    for (i, xi) in x.iter().enumerate().skip(1) {
        v.push(sq(*xi) * i as f64);
    }
    let kept: Vec<f64> = y.iter().copied().filter(|b| *b > 0.0).collect();
    let n = kept.len() as f64;
    m + s.ln() + dot + p + best + v.iter().sum::<f64>() + n
}

#[test]
fn chains_differentiate() {
    let (x, y) = ([0.5, -1.0, 2.0], [1.0, -2.0, 0.5]);
    let (value, (dx, dy)) = chains_grad(&x, &y);
    assert_eq!(value.to_bits(), chains(&x, &y).to_bits());
    assert_eq!(dy, x.to_vec());
    assert_eq!(dx.len(), 3);
}

/// Local index arrays changed and read only through methods the macro passes through
/// (`fill`, `contains`): the generated code declares them `mut` when a method may write them.
/// An integer sum bound to a `let` of its type.
#[allow(clippy::useless_vec)] // heap buffers per iteration, as code ported from C++ has them
#[differentiate(hessian)]
fn index_buffers(x: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 0..x.len() {
        let mut idx = vec![0usize; 2];
        idx.fill(i);
        let order = vec![1usize, 2];
        let count: usize = order.iter().sum();
        let scale = if order.contains(&1) { 2.0 } else { 1.0 };
        total += x[idx[0]] * x[order[0] % x.len()] * scale * count as f64;
    }
    total
}

#[test]
fn index_buffers_differentiate() {
    let x = [0.5, -1.0, 2.0];
    // 6 x1 (x0 + x1 + x2): d/dx1 = 6 (x0 + 2 x1 + x2), the others 6 x1.
    let (value, g) = index_buffers_grad(&x);
    assert_eq!(value.to_bits(), index_buffers(&x).to_bits());
    assert_eq!(g, vec![-6.0, 6.0 * (0.5 - 2.0 + 2.0), -6.0]);
    assert_eq!(index_buffers_vjp(&x).1(1.0), g);
    let (_, _, hv) = index_buffers_hvp(&x, vec![0.0, 1.0, 0.0]);
    assert_eq!(hv, vec![6.0, 12.0, 6.0]);
}

#[test]
fn a_state_stepped_field_by_field() {
    let b0 = Body { x: 1.0, v: 0.2 };
    for drag in [
        Drag::Linear(0.3),
        Drag::Quadratic { c: 0.2, cap: 0.5 },
        Drag::None,
    ] {
        let (value, (db, dk)) = fall_grad(&b0, 2.0, drag, 6);
        assert_eq!(value, fall(&b0, 2.0, drag, 6));
        let h = 1e-6;
        let fd = (fall(&b0, 2.0 + h, drag, 6) - fall(&b0, 2.0 - h, drag, 6)) / (2.0 * h);
        assert!((dk - fd).abs() < 1e-7, "{dk} {fd}");
        let up = Body { x: 1.0 + h, v: 0.2 };
        let down = Body { x: 1.0 - h, v: 0.2 };
        let fd = (fall(&up, 2.0, drag, 6) - fall(&down, 2.0, drag, 6)) / (2.0 * h);
        assert!((db.x - fd).abs() < 1e-7, "{} {fd}", db.x);
        let (_, _, hessian) = fall_hessian(&b0, 2.0, drag, 6);
        assert_eq!(hessian.len(), 3);
    }
}

/// A method taking `mut self` that returns a struct: the stubs naming the modes it has no
/// `_grad` for take `self` without `mut`.
#[derive(Clone, Copy, Debug, autodiff_core::Differentiable)]
pub struct Cart {
    p: f64,
    v: f64,
}

impl Cart {
    #[differentiate]
    pub fn advanced(mut self, dt: f64) -> Self {
        self.p += dt * self.v;
        self
    }
}

#[test]
fn mut_self_methods() {
    let c = Cart { p: 1.0, v: 2.0 };
    let (dc, ddt) = c.advanced_pullback(0.5, Cart { p: 1.0, v: 0.0 });
    assert_eq!((dc.p, dc.v, ddt), (1.0, 0.5, 2.0));
}

/// A name ending in `_` (`kernel_`, a common way around a keyword or a clash): the generated
/// `kernel__grad` has two underscores in a row, which is not a lint error of the user's.
#[differentiate]
fn kernel_(r: f64, ell: f64) -> f64 {
    (-0.5 * r * r / (ell * ell)).exp()
}

#[test]
fn names_ending_in_an_underscore() {
    let (v, (dr, dell)) = kernel__grad(0.5, 2.0);
    let k = (-0.5f64 * 0.25 / 4.0).exp();
    assert_eq!(v, kernel_(0.5, 2.0));
    assert!((dr - (-0.5 / 4.0 * k)).abs() < 1e-15);
    assert!((dell - (0.25 / 8.0 * k)).abs() < 1e-15);
}

#[derive(Clone, Debug, autodiff_core::Differentiable)]
pub struct Bead {
    pub x: f64,
    pub q: f64,
}

#[derive(Clone, Debug, autodiff_core::Differentiable)]
pub struct Beads {
    pub beads: Vec<Bead>,
}

/// `Option`s of elements and their methods: `split_first` / `split_last`, `get` of rows, a
/// cursor moved on by a loop, `is_none_or`, `once` in a chain, a match of three arms, a
/// constant array copied: none adds a warning.
// `iter().nth(i)` is the construct under test (`get` of a struct's field is not supported).
#[allow(clippy::iter_nth)]
#[differentiate]
fn elements_as_options(x: &[f64], rows: &[[f64; 2]], c: &Beads) -> f64 {
    const START: [f64; 2] = [0.5, -0.5];
    let mut s = match x.split_first() {
        Some((&h, rest)) => h * rest.len() as f64,
        None => 0.0,
    };
    if let Some((&l, _)) = x.split_last() {
        s += l;
    }
    for i in 0..rows.len() {
        if let Some(&next) = rows.get(i + 1) {
            s += next[0] * rows[i][1];
        }
    }
    let mut cur = c.beads.first();
    let mut best: Option<&Bead> = None;
    let mut i = 1;
    while let Some(b) = cur {
        if best.is_none_or(|c| b.q > c.q) {
            best = Some(b);
        }
        cur = c.beads.iter().nth(i);
        i += 1;
    }
    let mut h: [f64; 2] = START;
    h[0] += s;
    let tail: f64 = std::iter::once(1.0)
        .chain(x.iter().copied())
        .map(|v| v * v)
        .sum();
    let picked = match best {
        Some(b) if b.x > 0.0 => b.x * b.q,
        Some(b) => b.q,
        None => 0.0,
    };
    h[0] * h[1] + tail + picked
}

#[test]
fn elements_as_options_differentiate() {
    let beads = Beads {
        beads: vec![Bead { x: 1.0, q: 2.0 }, Bead { x: -0.5, q: 3.0 }],
    };
    let (v, (gx, grows, gbeads)) =
        elements_as_options_grad(&[1.0, 2.0], &[[1.0, 2.0], [3.0, 4.0]], &beads);
    assert_eq!(
        v,
        elements_as_options(&[1.0, 2.0], &[[1.0, 2.0], [3.0, 4.0]], &beads)
    );
    // By hand: s = x0 (x1 count 1) + x1 + r1[0] r0[1]; -0.5 (0.5 + s) + 1 + x0² + x1² + q1.
    assert_eq!(gx, vec![-0.5 + 2.0, -0.5 + 4.0]);
    assert_eq!(grows, vec![[0.0, -0.5 * 3.0], [-0.5 * 2.0, 0.0]]);
    assert_eq!(
        (gbeads.beads[1].x, gbeads.beads[1].q, gbeads.beads[0].q),
        (0.0, 1.0, 0.0)
    );
}

impl Bead {
    #[differentiate]
    pub fn pot(&self) -> f64 {
        self.q * self.x * self.x
    }

    #[differentiate]
    pub fn sub(&self, o: &Bead) -> Bead {
        Bead {
            x: self.x - o.x,
            q: self.q - o.q,
        }
    }
}

#[differentiate]
fn bead_energy(b: &Bead) -> f64 {
    b.q * b.x
}

/// Function paths given to adapters, methods through `unwrap`, `get(i)` of a struct's field,
/// a typed closure, an operator-named method of a struct's element, a matrix repeated, a
/// comparator with `let`s and a map looked up.
#[differentiate(wrt(x, c))]
fn paths_and_lookups(x: &[f64], c: &Beads, demand: &std::collections::HashMap<usize, f64>) -> f64 {
    let mut s: f64 = c.beads.iter().map(bead_energy).sum();
    if let Some(b) = c.beads.get(1) {
        s += b.pot();
    }
    let first = c.beads.first();
    s += first.unwrap().pot();
    let e = |b: &Bead| b.q * x[0];
    s += e(&c.beads[0]) + c.beads[1].sub(&c.beads[0]).x;
    let mut frames = vec![[[1.0, 0.0], [0.0, 1.0]]; x.len()];
    frames[1][0][1] = x[1];
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| {
        let (va, vb) = (x[a], x[b]);
        vb.total_cmp(&va)
    });
    let d = match demand.get(&0) {
        Some(v) => *v,
        None => 0.0,
    };
    s + frames[1][0][1] * frames[0][0][0] + x[order[0]] * d
}

#[test]
fn paths_and_lookups_differentiate() {
    let beads = Beads {
        beads: vec![Bead { x: 1.0, q: 2.0 }, Bead { x: -0.5, q: 3.0 }],
    };
    let demand: std::collections::HashMap<usize, f64> = [(0, 2.0)].into_iter().collect();
    let x = [1.5, 0.5];
    let (v, (gx, gc)) = paths_and_lookups_grad(&x, &beads, &demand);
    assert_eq!(v, paths_and_lookups(&x, &beads, &demand));
    // By hand: x0 (q0 from the closure, and 2 as the largest picked by the sort), x1 once.
    assert_eq!(gx, vec![2.0 + 2.0, 1.0]);
    // q1 x1 + q1 x1² + q0 x0² + q0 x0 + (x1 - x0): ∂/∂x1 = q1 + 2 q1 x1 + 1.
    assert_eq!(gc.beads[1].x, 3.0 + 2.0 * 3.0 * -0.5 + 1.0);
}

/// This stop's constructs: a map's value used without `*` and an index computed from a
/// number whose use is dropped (the copy the backward sweep would tape is then written as a
/// statement of its own), a struct pattern, a comparator handing rows to a function, a local
/// map collected from data, and a set of an active set's indices.
#[differentiate(wrt(x, p))]
pub fn map_values_and_patterns(
    x: &[f64],
    p: &Bead,
    grid: &[[f64; 2]; 2],
    m: &std::collections::HashMap<usize, f64>,
) -> f64 {
    let tup = (
        grid[0][((grid[0][1] * 2.9).floor() as usize) % 2].cos(),
        x[0] * 2.0,
    );
    let Bead { x: px, q } = p.clone();
    let near = grid
        .iter()
        .min_by(|a, b| dist(x[0], **a).total_cmp(&dist(x[0], **b)));
    let lk: std::collections::HashMap<usize, f64> = [(0, 0.5)].into_iter().collect();
    let big: std::collections::HashSet<usize> = (0..x.len()).filter(|&i| x[i] > 1.0).collect();
    let mut s = tup.1 + px * q + near.map_or(0.0, |r| r[0]);
    for (i, xi) in x.iter().enumerate() {
        if let Some(v) = m.get(&i) {
            s += v * xi;
        }
        if let Some(w) = lk.get(&i) {
            s += w * xi;
        }
        if big.contains(&i) {
            s += xi;
        }
    }
    s
}

#[differentiate]
pub fn dist(x: f64, r: [f64; 2]) -> f64 {
    (x - r[0]).abs() + r[1]
}

#[test]
fn map_values_and_patterns_differentiate() {
    let m: std::collections::HashMap<usize, f64> = [(1, 3.0)].into_iter().collect();
    let grid = [[0.1, 0.2], [1.0, 0.5]];
    let p = Bead { x: 2.0, q: 0.5 };
    let x = [1.5, 0.5];
    let (v, (gx, gp)) = map_values_and_patterns_grad(&x, &p, &grid, &m);
    assert_eq!(v, map_values_and_patterns(&x, &p, &grid, &m));
    // 2 x0 + px q + 0.5 x0 (the local map) + x0 (x0 > 1) + 3 x1 (the parameter's map).
    assert_eq!(gx, vec![2.0 + 0.5 + 1.0, 3.0]);
    assert_eq!((gp.x, gp.q), (0.5, 2.0));
}

/// Rows flattened (`flatten`, `flat_map`) into sums, folds, a copy and a loop, and a loop
/// over the rows of two matrices chained.
#[differentiate]
pub fn flattened_and_chained_rows(u: &[Vec<f64>], v: &[[f64; 2]]) -> f64 {
    let l2 = u.iter().flatten().map(|w| w * w).sum::<f64>();
    let top = u
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let flat: Vec<f64> = v.iter().flat_map(|r| r.iter().copied()).collect();
    let mut s = flat[0] * flat[3];
    for w in v.iter().flatten() {
        s += w;
    }
    for r in v.iter().chain(&v[1..]) {
        s += r[0] * r[1];
    }
    l2 + top + s
}

#[test]
fn flattened_and_chained_rows_differentiate() {
    let u = vec![vec![1.0, 2.0], vec![-3.0]];
    let v = [[0.5, 1.5], [2.0, 4.0]];
    let (value, (du, dv)) = flattened_and_chained_rows_grad(&u, &v);
    assert_eq!(value, flattened_and_chained_rows(&u, &v));
    // 2 u + 1 at the largest element.
    assert_eq!(du, vec![vec![2.0, 4.0 + 1.0], vec![-6.0]]);
    // v00 v11 + Σ v + v00 v01 + 2 v10 v11.
    assert_eq!(
        dv,
        vec![
            [4.0 + 1.0 + 1.5, 1.0 + 0.5],
            [1.0 + 2.0 * 4.0, 0.5 + 1.0 + 2.0 * 2.0]
        ]
    );
}

//! Speed of the gradients `#[differentiate]` writes, against the function itself, a careful
//! hand-written reverse-mode gradient, and finite differences.
//!
//! Two problems, one criterion group each:
//!
//! - `shopping`: the seed's `price(apple, apple_num, orange, orange_num, tax)`;
//! - `scalar30`: a scalar function of five inputs and about 35 operations mixing `exp`, `ln`,
//!   `sin`, division and `powi` with `+ - *`.
//!
//! and one line per method:
//!
//! - `primal`: the plain function, the unit against which a gradient's cost is measured;
//! - `generated_grad_into`: `*_grad_into` writing into a buffer reused across iterations;
//! - `generated_grad`: `*_grad`, returning the value and the gradient tuple;
//! - `hand`: a hand-written reverse-mode gradient (value and gradient), written as an expert would:
//!   the forward sweep is the primal's own code, the backward sweep reuses forward values and
//!   computes each quotient once;
//! - `finite_differences`: `autodiff_core::numeric_gradient`, the library's fourth-order central
//!   stencil (`4n` evaluations of the function for `n` inputs, plus one `Vec` for the result),
//!   without the separate evaluation of the value.
//!
//! Before measuring, `main` checks that the hand-written gradients equal the generated ones (to a
//! few ulps: the two sum the same terms in different orders) and that both agree with finite
//! differences; it panics otherwise, so the timings always compare correct gradients.
//!
//! Run with `cargo bench --bench gradients`; the measurement is kept short (1 s warm-up, 2 s per
//! line) so the whole run takes well under a minute.

use std::hint::black_box;
use std::time::Duration;

use autodiff_core::{check_gradient, differentiate, numeric_gradient};
use criterion::{Criterion, criterion_group};

type Grad5 = (f64, f64, f64, f64, f64);

// The problems --------------------------------------------------------------------------------

/// The seed's example: the price of apples and mandarin oranges, tax included.
#[differentiate]
fn price(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> f64 {
    let apple_price = apple * apple_num;
    let orange_price = orange * orange_num;
    let all_price = apple_price + orange_price;
    all_price * tax
}

/// A damped wave plus a few logarithmic, rational and polynomial terms: five inputs, about 35
/// operations (2 `exp`, 1 `ln`, 2 `sin`, 4 divisions, 4 `powi`, the rest `+ - *`).
#[differentiate]
fn scalar30(x: f64, y: f64, z: f64, w: f64, v: f64) -> f64 {
    let r2 = x * x + y * y + 1.0;
    let damp = (-0.5 * r2 / (w * w)).exp();
    let wave = (z * x - y).sin();
    let log_term = (r2 + z.powi(2)).ln();
    let ratio = (x - y) / (1.0 + w.powi(2));
    let poly = v.powi(3) - 2.0 * v * z + 0.5;
    let mix = damp * wave + log_term * ratio;
    let scale = (v * w).exp() / (1.0 + (y * z).sin().powi(2));
    mix * scale + poly / r2
}

// The hand-written gradients ------------------------------------------------------------------

/// The gradient of [`price`] by hand: with the seed 1, the adjoint of `all_price` is `tax` and
/// multiplication swaps.
fn price_hand(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> (f64, Grad5) {
    let all_price = apple * apple_num + orange * orange_num;
    let price = all_price * tax;
    let d_all = tax;
    (
        price,
        (
            apple_num * d_all,
            apple * d_all,
            orange_num * d_all,
            orange * d_all,
            all_price,
        ),
    )
}

/// The gradient of [`scalar30`] by hand. The forward sweep is the primal's code with the
/// intermediates named (so the value is bit-identical to `scalar30`); the backward sweep reuses
/// `w * w` for `w.powi(2)` and `v * v` for the derivative of `v.powi(3)`, divides each adjoint by a
/// denominator once (`t = d / b`, then `d_a = t`, `d_b = -t * (a / b)`), and computes each
/// `cos` only where the backward sweep needs it.
fn scalar30_hand(x: f64, y: f64, z: f64, w: f64, v: f64) -> (f64, Grad5) {
    // Forward sweep.
    let r2 = x * x + y * y + 1.0;
    let ww = w * w;
    let arg = -0.5 * r2 / ww;
    let damp = arg.exp();
    let phase = z * x - y;
    let wave = phase.sin();
    let q = r2 + z * z;
    let log_term = q.ln();
    let den = 1.0 + ww;
    let ratio = (x - y) / den;
    let vv = v * v;
    let poly = vv * v - 2.0 * v * z + 0.5;
    let mix = damp * wave + log_term * ratio;
    let vw_exp = (v * w).exp();
    let yz = y * z;
    let s = yz.sin();
    let den2 = 1.0 + s * s;
    let scale = vw_exp / den2;
    let poly_r2 = poly / r2;
    let value = mix * scale + poly_r2;

    // Backward sweep, seed 1.
    // value = mix * scale + poly / r2
    let d_mix = scale;
    let d_scale = mix;
    let d_poly = 1.0 / r2;
    let mut d_r2 = -poly_r2 * d_poly;
    // scale = vw_exp / den2, den2 = 1 + s^2, s = sin(y z), vw_exp = exp(v w)
    let t_scale = d_scale / den2;
    let d_vw = t_scale * vw_exp;
    let d_yz = -t_scale * scale * 2.0 * s * yz.cos();
    let mut d_v = d_vw * w;
    let mut d_w = d_vw * v;
    let mut d_y = d_yz * z;
    let mut d_z = d_yz * y;
    // mix = damp * wave + log_term * ratio
    let d_damp = d_mix * wave;
    let d_wave = d_mix * damp;
    let d_log = d_mix * ratio;
    let d_ratio = d_mix * log_term;
    // ratio = (x - y) / den, den = 1 + w^2
    let t_ratio = d_ratio / den;
    let mut d_x = t_ratio;
    d_y -= t_ratio;
    let mut d_ww = -t_ratio * ratio;
    // log_term = ln(r2 + z^2)
    let d_q = d_log / q;
    d_r2 += d_q;
    d_z += 2.0 * z * d_q;
    // wave = sin(z x - y)
    let d_phase = d_wave * phase.cos();
    d_x += z * d_phase;
    d_z += x * d_phase;
    d_y -= d_phase;
    // damp = exp(arg), arg = -0.5 r2 / ww
    let t_arg = d_damp * damp / ww;
    d_r2 -= 0.5 * t_arg;
    d_ww -= t_arg * arg;
    // poly = v^3 - 2 v z + 0.5
    d_v += d_poly * (3.0 * vv - 2.0 * z);
    d_z -= d_poly * 2.0 * v;
    // ww = w^2, r2 = x^2 + y^2 + 1
    d_w += 2.0 * w * d_ww;
    d_x += 2.0 * x * d_r2;
    d_y += 2.0 * y * d_r2;
    (value, (d_x, d_y, d_z, d_w, d_v))
}

// Finite differences --------------------------------------------------------------------------

fn price_fd(p: &[f64; 5]) -> Vec<f64> {
    numeric_gradient(|p| price(p[0], p[1], p[2], p[3], p[4]), p)
}

fn scalar30_fd(p: &[f64; 5]) -> Vec<f64> {
    numeric_gradient(|p| scalar30(p[0], p[1], p[2], p[3], p[4]), p)
}

// The check -----------------------------------------------------------------------------------

const PRICE_AT: [f64; 5] = [100.0, 3.0, 50.0, 4.0, 1.1];
const SCALAR30_AT: [f64; 5] = [0.7, -0.4, 1.3, 0.9, 0.6];

fn to_vec(g: Grad5) -> Vec<f64> {
    vec![g.0, g.1, g.2, g.3, g.4]
}

/// Panics unless the hand-written gradient equals the generated one (all three generated entry
/// points) and both agree with finite differences.
fn check(
    name: &str,
    f: impl Fn(&[f64]) -> f64,
    at: [f64; 5],
    generated: (f64, Grad5),
    generated_into: (f64, Grad5),
    generated_pullback: Grad5,
    hand: (f64, Grad5),
) {
    let primal = f(&at);
    assert_eq!(generated.0, primal, "{name}: generated value");
    assert_eq!(hand.0, primal, "{name}: hand-written value");
    assert_eq!(
        generated_into, generated,
        "{name}: _grad_into differs from _grad"
    );
    assert_eq!(
        generated_pullback, generated.1,
        "{name}: _pullback(1) differs from _grad"
    );
    let (gen_grad, hand_grad) = (to_vec(generated.1), to_vec(hand.1));
    let mut worst: f64 = 0.0;
    for (i, (g, h)) in gen_grad.iter().zip(&hand_grad).enumerate() {
        let error = (g - h).abs() / g.abs().max(h.abs()).max(f64::MIN_POSITIVE);
        worst = worst.max(error);
        assert!(
            error <= 1e-14,
            "{name}: component {i}: generated {g:e} vs hand-written {h:e} (relative error {error:.1e})"
        );
    }
    let mut fd_error: f64 = 0.0;
    for (label, grad) in [("generated", &gen_grad), ("hand-written", &hand_grad)] {
        let result = check_gradient(&f, &at, grad);
        assert!(
            result.passes(1e-8),
            "{name}: {label} vs finite differences: {result}"
        );
        fd_error = fd_error.max(result.max_error);
    }
    eprintln!(
        "{name}: hand-written vs generated: max relative difference {worst:.1e}; \
         both vs finite differences: max error {fd_error:.1e}"
    );
}

fn check_all() {
    let [a, b, c, d, e] = PRICE_AT;
    let mut into = (0.0, 0.0, 0.0, 0.0, 0.0);
    let value = price_grad_into(a, b, c, d, e, &mut into);
    check(
        "shopping",
        |p| price(p[0], p[1], p[2], p[3], p[4]),
        PRICE_AT,
        price_grad(a, b, c, d, e),
        (value, into),
        price_pullback(a, b, c, d, e, 1.0),
        price_hand(a, b, c, d, e),
    );

    let [x, y, z, w, v] = SCALAR30_AT;
    let mut into = (0.0, 0.0, 0.0, 0.0, 0.0);
    let value = scalar30_grad_into(x, y, z, w, v, &mut into);
    check(
        "scalar30",
        |p| scalar30(p[0], p[1], p[2], p[3], p[4]),
        SCALAR30_AT,
        scalar30_grad(x, y, z, w, v),
        (value, into),
        scalar30_pullback(x, y, z, w, v, 1.0),
        scalar30_hand(x, y, z, w, v),
    );
}

// The benchmarks ------------------------------------------------------------------------------

/// The inputs, each hidden from the optimiser on its own. (Hiding the array as a whole lets the
/// vectoriser load two inputs with one 16-byte load spanning two stores, which defeats store
/// forwarding and costs more than `price` itself.)
macro_rules! hidden {
    ($at:expr) => {{
        let [p0, p1, p2, p3, p4] = $at;
        (
            black_box(p0),
            black_box(p1),
            black_box(p2),
            black_box(p3),
            black_box(p4),
        )
    }};
}

/// One group: the same five-input function measured by every method. Every output is kept alive
/// with `black_box` inside the routine, which returns `()`: criterion's own `black_box` of the
/// routine's result would copy the output once more, through memory.
macro_rules! bench_problem {
    ($c:expr, $group:literal, $at:expr, $f:ident, $grad:ident, $grad_into:ident, $hand:ident, $fd:ident) => {{
        let mut group = $c.benchmark_group($group);
        group.bench_function("primal", |b| {
            b.iter(|| {
                let (p0, p1, p2, p3, p4) = hidden!($at);
                black_box($f(p0, p1, p2, p3, p4));
            })
        });
        group.bench_function("generated_grad_into", |b| {
            let mut grad = (0.0, 0.0, 0.0, 0.0, 0.0);
            b.iter(|| {
                let (p0, p1, p2, p3, p4) = hidden!($at);
                black_box($grad_into(p0, p1, p2, p3, p4, black_box(&mut grad)));
            })
        });
        group.bench_function("generated_grad", |b| {
            b.iter(|| {
                let (p0, p1, p2, p3, p4) = hidden!($at);
                black_box($grad(p0, p1, p2, p3, p4));
            })
        });
        group.bench_function("hand", |b| {
            b.iter(|| {
                let (p0, p1, p2, p3, p4) = hidden!($at);
                black_box($hand(p0, p1, p2, p3, p4));
            })
        });
        group.bench_function("finite_differences", |b| {
            b.iter(|| {
                black_box($fd(black_box(&$at)));
            })
        });
        group.finish();
    }};
}

fn shopping(c: &mut Criterion) {
    bench_problem!(
        c,
        "shopping",
        PRICE_AT,
        price,
        price_grad,
        price_grad_into,
        price_hand,
        price_fd
    );
}

fn scalar30_group(c: &mut Criterion) {
    bench_problem!(
        c,
        "scalar30",
        SCALAR30_AT,
        scalar30,
        scalar30_grad,
        scalar30_grad_into,
        scalar30_hand,
        scalar30_fd
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = shopping, scalar30_group
}

fn main() {
    check_all();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

//! The two problems of five scalar inputs: the seed's shopping example and a 30-operation
//! scalar function.

use autodiff_core::differentiate;

use super::{Method, Problem, Real, central_differences, dual_gradient, echidna_gradient};

type Grad5 = (f64, f64, f64, f64, f64);

// shopping ------------------------------------------------------------------------------------

/// The seed's example: the price of apples and mandarin oranges, tax included.
#[differentiate]
pub fn price(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> f64 {
    let apple_price = apple * apple_num;
    let orange_price = orange * orange_num;
    let all_price = apple_price + orange_price;
    all_price * tax
}

/// The gradient of [`price`] by hand, into `grad`: with the seed 1 the adjoint of `all_price` is
/// `tax`, and multiplication swaps.
#[inline]
pub fn price_hand(
    apple: f64,
    apple_num: f64,
    orange: f64,
    orange_num: f64,
    tax: f64,
    grad: &mut [f64; 5],
) -> f64 {
    let all_price = apple * apple_num + orange * orange_num;
    *grad = [
        apple_num * tax,
        apple * tax,
        orange_num * tax,
        orange * tax,
        all_price,
    ];
    all_price * tax
}

/// [`price`] for the peers, on the inputs as one slice.
pub fn price_generic<T: Real>(p: &[T]) -> T {
    let (apple, apple_num, orange, orange_num, tax) = (p[0], p[1], p[2], p[3], p[4]);
    let apple_price = apple * apple_num;
    let orange_price = orange * orange_num;
    let all_price = apple_price + orange_price;
    all_price * tax
}

// scalar30 ------------------------------------------------------------------------------------

/// A damped wave plus a few logarithmic, rational and polynomial terms: five inputs, about 35
/// operations (2 `exp`, 1 `ln`, 2 `sin`, 4 divisions, 4 `powi`, the rest `+ - *`).
#[differentiate]
pub fn scalar30(x: f64, y: f64, z: f64, w: f64, v: f64) -> f64 {
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

/// The gradient of [`scalar30`] by hand, into `grad`. The forward sweep is the primal's code with
/// the intermediates named (so the value is bit-identical to `scalar30`); the backward sweep
/// reuses `w * w` for `w.powi(2)` and `v * v` for the derivative of `v.powi(3)`, divides each
/// adjoint by a denominator once (`t = d / b`, then `d_a = t`, `d_b = -t * (a / b)`), and
/// computes each `cos` only where the backward sweep needs it.
#[inline]
pub fn scalar30_hand(x: f64, y: f64, z: f64, w: f64, v: f64, grad: &mut [f64; 5]) -> f64 {
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
    *grad = [d_x, d_y, d_z, d_w, d_v];
    value
}

/// [`scalar30`] for the peers, on the inputs as one slice.
pub fn scalar30_generic<T: Real>(p: &[T]) -> T {
    let (x, y, z, w, v) = (p[0], p[1], p[2], p[3], p[4]);
    let one = T::cst(1.0);
    let r2 = x * x + y * y + 1.0;
    let damp = (T::cst(-0.5) * r2 / (w * w)).exp();
    let wave = (z * x - y).sin();
    let log_term = (r2 + z.powi(2)).ln();
    let ratio = (x - y) / (one + w.powi(2));
    let poly = v.powi(3) - T::cst(2.0) * v * z + 0.5;
    let mix = damp * wave + log_term * ratio;
    let scale = (v * w).exp() / (one + (y * z).sin().powi(2));
    mix * scale + poly / r2
}

// The two problems ----------------------------------------------------------------------------

fn to_array(g: Grad5) -> [f64; 5] {
    [g.0, g.1, g.2, g.3, g.4]
}

/// A problem of five scalar inputs: the inputs and one gradient buffer per method.
macro_rules! five_inputs {
    ($problem:ident, $name:literal, $at:expr, $f:ident, $grad_into:ident, $hand:ident, $generic:ident) => {
        pub struct $problem {
            at: [f64; 5],
            generated: Grad5,
            hand: [f64; 5],
            finite_differences: [f64; 5],
            num_dual: [f64; 5],
            duals: Vec<num_dual::Dual64>,
            echidna: [f64; 5],
        }

        impl $problem {
            pub fn new() -> Self {
                Self {
                    at: $at,
                    generated: (0.0, 0.0, 0.0, 0.0, 0.0),
                    hand: [0.0; 5],
                    finite_differences: [0.0; 5],
                    num_dual: [0.0; 5],
                    duals: Vec::new(),
                    echidna: [0.0; 5],
                }
            }
        }

        impl Problem for $problem {
            fn name(&self) -> String {
                $name.to_string()
            }
            fn dim(&self) -> usize {
                5
            }
            #[inline]
            fn primal(&mut self) -> f64 {
                let [a, b, c, d, e] = self.at;
                $f(a, b, c, d, e)
            }
            #[inline]
            fn generated(&mut self) -> f64 {
                let [a, b, c, d, e] = self.at;
                $grad_into(a, b, c, d, e, &mut self.generated)
            }
            #[inline]
            fn hand(&mut self) -> f64 {
                let [a, b, c, d, e] = self.at;
                $hand(a, b, c, d, e, &mut self.hand)
            }
            #[inline]
            fn finite_differences(&mut self) -> f64 {
                central_differences(
                    |p| $f(p[0], p[1], p[2], p[3], p[4]),
                    &mut self.at,
                    &mut self.finite_differences,
                )
            }
            #[inline]
            fn num_dual(&mut self) -> f64 {
                dual_gradient(
                    |p| $generic(p),
                    &self.at,
                    &mut self.duals,
                    &mut self.num_dual,
                )
            }
            #[inline]
            fn echidna(&mut self) -> f64 {
                echidna_gradient(|p| $generic(p), &self.at, &mut self.echidna)
            }
            fn gradient(&self, method: Method) -> Vec<f64> {
                match method {
                    Method::Primal => Vec::new(),
                    Method::Generated => to_array(self.generated).to_vec(),
                    Method::Hand => self.hand.to_vec(),
                    Method::FiniteDifferences => self.finite_differences.to_vec(),
                    Method::NumDual => self.num_dual.to_vec(),
                    Method::Echidna => self.echidna.to_vec(),
                }
            }
        }
    };
}

five_inputs!(
    Shopping,
    "shopping",
    [100.0, 3.0, 50.0, 4.0, 1.1],
    price,
    price_grad_into,
    price_hand,
    price_generic
);

five_inputs!(
    Scalar30,
    "scalar30",
    [0.7, -0.4, 1.3, 0.9, 0.6],
    scalar30,
    scalar30_grad_into,
    scalar30_hand,
    scalar30_generic
);

/// Also checks `_grad` and `_pullback` against `_grad_into` (the bench measures `_grad_into`).
pub fn check_entry_points() {
    let [a, b, c, d, e] = Shopping::new().at;
    let mut into = (0.0, 0.0, 0.0, 0.0, 0.0);
    let v = price_grad_into(a, b, c, d, e, &mut into);
    assert_eq!(price_grad(a, b, c, d, e), (v, into), "shopping: _grad");
    assert_eq!(
        price_pullback(a, b, c, d, e, 1.0),
        into,
        "shopping: _pullback"
    );
    let [x, y, z, w, v] = Scalar30::new().at;
    let value = scalar30_grad_into(x, y, z, w, v, &mut into);
    assert_eq!(
        scalar30_grad(x, y, z, w, v),
        (value, into),
        "scalar30: _grad"
    );
    assert_eq!(
        scalar30_pullback(x, y, z, w, v, 1.0),
        into,
        "scalar30: _pullback"
    );
}

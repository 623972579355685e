//! Shared by the `programs_*` tests: a forward-mode number for the oracles, readers that unflatten
//! a point into a program's arguments, and the checks every program goes through.
//!
//! Each program is written twice: as ordinary `f64` code under `#[differentiate]`, and as the same
//! code on [`Fd`], a dual number (`num_dual::Dual64`) with the operators and float methods the
//! programs use, so that the oracle reads like the program. Forward mode evaluated once per input
//! direction is an independent derivative: it shares no code with the macro.
#![allow(dead_code)]

use autodiff_core::{Differentiable, numeric_gradient_with_step};
use num_dual::{Dual64, DualNum};
use std::cmp::Ordering;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A forward-mode dual number: `re` the value, `eps` the derivative along one direction.
#[derive(Clone, Copy, Debug)]
pub struct Fd(pub Dual64);

impl Fd {
    pub fn new(re: f64, eps: f64) -> Fd {
        Fd(Dual64::new(re, eps))
    }
    pub fn re(self) -> f64 {
        self.0.re
    }
    pub fn eps(self) -> f64 {
        self.0.eps
    }
    pub fn sin(self) -> Fd {
        Fd(self.0.sin())
    }
    pub fn cos(self) -> Fd {
        Fd(self.0.cos())
    }
    pub fn tan(self) -> Fd {
        Fd(self.0.tan())
    }
    pub fn asin(self) -> Fd {
        Fd(self.0.asin())
    }
    pub fn acos(self) -> Fd {
        Fd(self.0.acos())
    }
    pub fn atan(self) -> Fd {
        Fd(self.0.atan())
    }
    pub fn atan2(self, other: Fd) -> Fd {
        Fd(self.0.atan2(other.0))
    }
    pub fn sinh(self) -> Fd {
        Fd(self.0.sinh())
    }
    pub fn cosh(self) -> Fd {
        Fd(self.0.cosh())
    }
    pub fn tanh(self) -> Fd {
        Fd(self.0.tanh())
    }
    pub fn exp(self) -> Fd {
        Fd(self.0.exp())
    }
    pub fn exp_m1(self) -> Fd {
        Fd(self.0.exp_m1())
    }
    pub fn ln(self) -> Fd {
        Fd(self.0.ln())
    }
    pub fn ln_1p(self) -> Fd {
        Fd(self.0.ln_1p())
    }
    pub fn log10(self) -> Fd {
        Fd(self.0.log10())
    }
    pub fn sqrt(self) -> Fd {
        Fd(self.0.sqrt())
    }
    pub fn cbrt(self) -> Fd {
        Fd(self.0.cbrt())
    }
    pub fn recip(self) -> Fd {
        Fd(DualNum::recip(&self.0))
    }
    pub fn powi(self, n: i32) -> Fd {
        Fd(self.0.powi(n))
    }
    /// `self^e`; the exponent may carry a derivative too.
    pub fn powf(self, e: impl Into<Fd>) -> Fd {
        let e = e.into();
        if e.eps() == 0.0 {
            Fd(self.0.powf(e.re()))
        } else {
            (self.ln() * e).exp()
        }
    }
    pub fn hypot(self, other: Fd) -> Fd {
        (self * self + other * other).sqrt()
    }
    pub fn mul_add(self, a: impl Into<Fd>, b: impl Into<Fd>) -> Fd {
        self * a.into() + b.into()
    }
    /// Derivative 0 at 0, as the macro's rule.
    pub fn abs(self) -> Fd {
        match self.re().partial_cmp(&0.0) {
            Some(Ordering::Less) => -self,
            Some(Ordering::Greater) => self,
            _ => Fd::new(0.0, 0.0),
        }
    }
    /// The first argument on a tie, as the macro's rule.
    pub fn max(self, other: impl Into<Fd>) -> Fd {
        let other = other.into();
        if other.re() > self.re() { other } else { self }
    }
    pub fn min(self, other: impl Into<Fd>) -> Fd {
        let other = other.into();
        if other.re() < self.re() { other } else { self }
    }
    pub fn signum(self) -> f64 {
        self.re().signum()
    }
    pub fn floor(self) -> f64 {
        self.re().floor()
    }
}

impl Default for Fd {
    fn default() -> Fd {
        Fd::from(0.0)
    }
}

impl From<f64> for Fd {
    fn from(x: f64) -> Fd {
        Fd::new(x, 0.0)
    }
}

impl PartialEq for Fd {
    fn eq(&self, other: &Fd) -> bool {
        self.re() == other.re()
    }
}
impl PartialEq<f64> for Fd {
    fn eq(&self, other: &f64) -> bool {
        self.re() == *other
    }
}
impl PartialOrd for Fd {
    fn partial_cmp(&self, other: &Fd) -> Option<Ordering> {
        self.re().partial_cmp(&other.re())
    }
}
impl PartialOrd<f64> for Fd {
    fn partial_cmp(&self, other: &f64) -> Option<Ordering> {
        self.re().partial_cmp(other)
    }
}

impl Neg for Fd {
    type Output = Fd;
    fn neg(self) -> Fd {
        Fd(-self.0)
    }
}

macro_rules! binary {
    ($trait:ident, $method:ident, $assign_trait:ident, $assign:ident) => {
        impl $trait for Fd {
            type Output = Fd;
            fn $method(self, other: Fd) -> Fd {
                Fd($trait::$method(self.0, other.0))
            }
        }
        impl $trait<f64> for Fd {
            type Output = Fd;
            // num-dual's scalar operation: it scales the derivative without forming 0 * re,
            // which is NaN for an infinite value (soft-DTW's border).
            fn $method(self, other: f64) -> Fd {
                Fd($trait::$method(self.0, other))
            }
        }
        impl $trait<Fd> for f64 {
            type Output = Fd;
            fn $method(self, other: Fd) -> Fd {
                Fd($trait::$method(Dual64::from_re(self), other.0))
            }
        }
        impl $assign_trait for Fd {
            fn $assign(&mut self, other: Fd) {
                *self = $trait::$method(*self, other);
            }
        }
        impl $assign_trait<f64> for Fd {
            fn $assign(&mut self, other: f64) {
                *self = $trait::$method(*self, other);
            }
        }
    };
}
binary!(Add, add, AddAssign, add_assign);
binary!(Sub, sub, SubAssign, sub_assign);
binary!(Mul, mul, MulAssign, mul_assign);
binary!(Div, div, DivAssign, div_assign);

impl std::iter::Sum for Fd {
    fn sum<I: Iterator<Item = Fd>>(iter: I) -> Fd {
        iter.fold(Fd::from(0.0), |a, b| a + b)
    }
}

/// Constant-valued `Fd`s, for arrays in oracle code.
pub fn c(x: f64) -> Fd {
    Fd::from(x)
}

/// Reads a program's arguments, in order, from a flat point (of `f64` or of `Fd`).
pub struct Reader<'a, T> {
    values: &'a [T],
    at: usize,
}

impl<'a, T: Copy + Default> Reader<'a, T> {
    pub fn new(values: &'a [T]) -> Self {
        Reader { values, at: 0 }
    }
    pub fn s(&mut self) -> T {
        self.at += 1;
        self.values[self.at - 1]
    }
    pub fn a<const N: usize>(&mut self) -> [T; N] {
        std::array::from_fn(|_| self.s())
    }
    pub fn m<const N: usize, const M: usize>(&mut self) -> [[T; M]; N] {
        std::array::from_fn(|_| self.a())
    }
    pub fn v(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| self.s()).collect()
    }
    /// Every value read: a program must read its whole point.
    pub fn done(&self) {
        assert_eq!(self.at, self.values.len(), "the point has unread values");
    }
}

/// The floats of a gradient (of any `Differentiable` shape), in the derive's order.
pub fn flat<G: Differentiable>(g: &G) -> Vec<f64> {
    let mut out = Vec::new();
    g.for_each(&mut |x| out.push(x));
    out
}

/// Tolerances of the checks against the oracles.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    /// Forward mode against the generated gradient, relative above magnitude 1.
    pub dual: f64,
    /// Central differences (the fourth-order stencil of `check_gradient`).
    pub fd: f64,
    /// Their step, relative to `|x_i|` (1 at 0): programs have time steps of 0.01 and event
    /// counts that `check_gradient`'s absolute step of 1e-3 would change.
    pub step: f64,
}

impl Default for Tol {
    fn default() -> Self {
        Tol {
            dual: 1e-12,
            fd: 1e-7,
            step: 1e-4,
        }
    }
}

/// `|a - b| / max(1, |a|, |b|)`.
pub fn error(a: f64, b: f64) -> f64 {
    let e = (a - b).abs() / 1.0_f64.max(a.abs()).max(b.abs());
    if e.is_nan() { f64::INFINITY } else { e }
}

#[track_caller]
pub fn assert_close(a: f64, b: f64, tolerance: f64, what: &str) {
    let e = error(a, b);
    assert!(e <= tolerance, "{what}: {a:e} != {b:e} (error {e:.2e})");
}

/// Checks a generated value and gradient at `x` against the oracles: the `f64` program `f` (the
/// value, bit for bit, and central differences) and its `Fd` copy `fd` (forward mode, once per
/// input direction; its value too).
#[track_caller]
pub fn check_oracles(
    name: &str,
    x: &[f64],
    value: f64,
    grad: &[f64],
    f: impl Fn(&[f64]) -> f64,
    fd: impl Fn(&[Fd]) -> Fd,
    tol: Tol,
) {
    check_forward_mode(name, x, value, grad, &f, fd, tol);
    check_differences(name, x, grad, f, tol);
}

/// The first half of [`check_oracles`]: the value against the function's, the gradient against
/// forward mode. For points where differences straddle a branch.
#[track_caller]
pub fn check_forward_mode(
    name: &str,
    x: &[f64],
    value: f64,
    grad: &[f64],
    f: impl Fn(&[f64]) -> f64,
    fd: impl Fn(&[Fd]) -> Fd,
    tol: Tol,
) {
    assert_eq!(grad.len(), x.len(), "{name}: gradient length");
    let plain = f(x);
    assert_eq!(
        value.to_bits(),
        plain.to_bits(),
        "{name}: the generated value {value:e} differs from the function's {plain:e}"
    );
    assert!(value.is_finite(), "{name}: value {value}");
    for i in 0..x.len() {
        let seeded: Vec<Fd> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| Fd::new(v, if i == j { 1.0 } else { 0.0 }))
            .collect();
        let out = fd(&seeded);
        assert_close(
            out.re(),
            value,
            tol.dual,
            &format!("{name}: forward-mode value"),
        );
        let e = error(grad[i], out.eps());
        assert!(
            e <= tol.dual,
            "{name}: component {i} of {}: reverse {:e}, forward {:e}, error {e:.2e}\n  reverse {grad:?}",
            x.len(),
            grad[i],
            out.eps()
        );
    }
}

/// The second half of [`check_oracles`]: the gradient against central differences.
#[track_caller]
pub fn check_differences(name: &str, x: &[f64], grad: &[f64], f: impl Fn(&[f64]) -> f64, tol: Tol) {
    // Differences in relative coordinates u_i = x_i / |x_i|, so that the step is relative to
    // each input: time steps of 0.01 get steps of 1e-6, not 1e-4.
    let scale: Vec<f64> = x
        .iter()
        .map(|&v| if v == 0.0 { 1.0 } else { v.abs() })
        .collect();
    let u: Vec<f64> = x.iter().zip(&scale).map(|(v, s)| v / s).collect();
    let numeric_u = numeric_gradient_with_step(
        |u: &[f64]| f(&u.iter().zip(&scale).map(|(v, s)| v * s).collect::<Vec<_>>()),
        &u,
        tol.step,
    );
    let numeric: Vec<f64> = numeric_u.iter().zip(&scale).map(|(g, s)| g / s).collect();
    let mut worst = (0, 0.0);
    for i in 0..x.len() {
        let e = error(grad[i], numeric[i]);
        if e > worst.1 {
            worst = (i, e);
        }
    }
    let (i, e) = worst;
    assert!(
        e <= tol.fd,
        "{name}: central differences, component {i} of {}: reverse {:e}, numeric {:e}, error {e:.2e}",
        x.len(),
        grad[i],
        numeric[i]
    );
}

/// What every generated gradient must satisfy whatever the function: `_pullback` with seed 2 is
/// twice `_grad` (bit for bit: doubling is exact and every backward rule is linear in the seed),
/// and `_grad_into` into a buffer holding other numbers gives `_grad`'s value and gradient.
#[track_caller]
pub fn check_consistency<G: Differentiable>(
    name: &str,
    value: f64,
    grad: &G,
    doubled: &G,
    into_value: f64,
    into: &G,
) {
    let (g, d, i) = (flat(grad), flat(doubled), flat(into));
    assert_eq!(g.len(), d.len(), "{name}: pullback shape");
    for k in 0..g.len() {
        assert_eq!(
            (2.0 * g[k]).to_bits(),
            d[k].to_bits(),
            "{name}: pullback(2) component {k}: {:e} vs 2 * {:e}",
            d[k],
            g[k]
        );
    }
    assert_eq!(
        value.to_bits(),
        into_value.to_bits(),
        "{name}: _grad_into value"
    );
    assert_eq!(g.len(), i.len(), "{name}: _grad_into shape");
    for k in 0..g.len() {
        assert_eq!(
            g[k].to_bits(),
            i[k].to_bits(),
            "{name}: _grad_into component {k}"
        );
    }
}

/// Fills a reused gradient buffer with numbers that must all be overwritten.
pub fn scramble<G: Differentiable>(mut g: G) -> G {
    let mut k = 0.0;
    g.for_each_mut(&mut |x| {
        k += 1.0;
        *x = 1e3 + k;
    });
    g
}

/// Runs `_grad`, `_pullback(.., 2)` and `_grad_into` (into a scrambled copy of a gradient) of a
/// program on the same arguments and checks them against each other; gives `(value, gradient)`.
/// `generated!(f; a, b)` names `f`, `f_grad`, `f_pullback`, `f_grad_into`.
#[macro_export]
macro_rules! generated {
    ($grad:ident, $pullback:ident, $into:ident; $($arg:expr),* $(,)?) => {{
        let (value, grad) = $grad($($arg),*);
        let doubled = $pullback($($arg,)* 2.0);
        let mut buffer = $crate::common::scramble(grad.clone());
        let into_value = $into($($arg,)* &mut buffer);
        $crate::common::check_consistency(
            stringify!($grad), value, &grad, &doubled, into_value, &buffer,
        );
        (value, grad)
    }};
    ($receiver:expr => $grad:ident, $pullback:ident, $into:ident; $($arg:expr),* $(,)?) => {{
        let (value, grad) = $receiver.$grad($($arg),*);
        let doubled = $receiver.$pullback($($arg,)* 2.0);
        let mut buffer = $crate::common::scramble(grad.clone());
        let into_value = $receiver.$into($($arg,)* &mut buffer);
        $crate::common::check_consistency(
            stringify!($grad), value, &grad, &doubled, into_value, &buffer,
        );
        (value, grad)
    }};
}

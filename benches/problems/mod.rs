//! The problems of the speed benchmarks, shared by the criterion bench (`benches/gradients.rs`)
//! and the table printer (`examples/bench_table.rs`, which includes this module with
//! `#[path = "../benches/problems/mod.rs"]`).
//!
//! Each problem is one function written once for `#[differentiate]` (it is also the primal),
//! once by hand as a careful reverse-mode gradient, and once generic over [`Real`] for the two
//! peers that differentiate by running the code on other number types:
//!
//! | method | what runs |
//! |---|---|
//! | `primal` | the function itself |
//! | `generated` | `*_grad_into`, writing into a gradient buffer reused across calls |
//! | `hand` | the hand-written gradient, writing into a buffer reused across calls |
//! | `finite_differences` | the plain central difference `(f(x + h e_i) - f(x - h e_i)) / 2h`, `h = 1e-6 max(1, |x_i|)`: `2n + 1` calls of the primal (the `+ 1` is the value), perturbing one input at a time in place |
//! | `num_dual` | forward mode with `num_dual::Dual64`: `n` passes of the generic code, one per input (the crate's `gradient` needs its `nalgebra` feature, and its one-pass `DualDVec64` carries an `n`-long heap vector through every operation) |
//! | `echidna` | reverse mode on a runtime tape: `echidna::grad` records the generic code on `echidna::Reverse<f64>` (an Adept-style tape, pooled per thread) and sweeps it backwards |
//!
//! A problem may leave out peers too slow at its size ([`Problem::runs`]).
//!
//! [`verify`] runs every method once and panics unless all agree, so that every comparison is
//! between correct gradients.

#![allow(dead_code)] // each includer uses its own subset of the helpers

pub mod gmm;
pub mod mlp;
pub mod reductions;
pub mod rnn;
pub mod scalar;

use std::hint::black_box;
use std::ops::{Add, Div, Mul, Neg, Sub};

use echidna::Reverse;
use num_dual::{Dual64, DualNum};

// Methods --------------------------------------------------------------------------------------

/// A way of computing the value (and, except for `Primal`, the gradient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Primal,
    Generated,
    Hand,
    FiniteDifferences,
    NumDual,
    Echidna,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Primal,
        Method::Generated,
        Method::Hand,
        Method::FiniteDifferences,
        Method::NumDual,
        Method::Echidna,
    ];

    /// The name of the method's line in a criterion group.
    pub fn name(self) -> &'static str {
        match self {
            Method::Primal => "primal",
            Method::Generated => "generated_grad_into",
            Method::Hand => "hand",
            Method::FiniteDifferences => "finite_differences",
            Method::NumDual => "num_dual_forward",
            Method::Echidna => "echidna_tape",
        }
    }
}

/// One benchmark problem: its inputs, and one buffer per method for the gradient that method
/// writes (allocated once, reused by every call).
pub trait Problem {
    /// The criterion group's name, e.g. `rosenbrock_1000`.
    fn name(&self) -> String;
    /// The number of active inputs (the gradient's length).
    fn dim(&self) -> usize;
    /// Whether `n` passes over the function (finite differences, forward mode) are slow enough
    /// to be measured with fewer samples.
    fn slow_peers(&self) -> bool {
        self.dim() >= 500
    }
    /// Whether `method` runs on this problem: a peer that would take seconds per gradient at
    /// the problem's size is left out of [`verify`] and of `bench_table`. (Only the problems of
    /// [`for_each_large_problem`] leave any out; the criterion bench does not run those.)
    fn runs(&self, method: Method) -> bool {
        let _ = method;
        true
    }
    fn primal(&mut self) -> f64;
    fn generated(&mut self) -> f64;
    fn hand(&mut self) -> f64;
    fn finite_differences(&mut self) -> f64;
    fn num_dual(&mut self) -> f64;
    fn echidna(&mut self) -> f64;
    /// The gradient the latest call of `method` wrote, flattened in parameter order.
    fn gradient(&self, method: Method) -> Vec<f64>;

    /// Runs `method` once (through a `match`: for checks, not for timing).
    fn run(&mut self, method: Method) -> f64 {
        match method {
            Method::Primal => self.primal(),
            Method::Generated => self.generated(),
            Method::Hand => self.hand(),
            Method::FiniteDifferences => self.finite_differences(),
            Method::NumDual => self.num_dual(),
            Method::Echidna => self.echidna(),
        }
    }
}

/// Calls `visit` on every problem, in table order.
pub trait Visitor {
    fn visit<P: Problem>(&mut self, problem: P);
}

pub fn for_each_problem(visitor: &mut impl Visitor) {
    visitor.visit(scalar::Shopping::new());
    visitor.visit(scalar::Scalar30::new());
    for n in [10, 100, 1000] {
        visitor.visit(reductions::Rosenbrock::new(n));
    }
    visitor.visit(reductions::LogSumExp::new(1000));
    visitor.visit(mlp::Mlp::new());
    visitor.visit(mlp::MlpArrays::new());
    visitor.visit(rnn::Rnn::new(100));
    visitor.visit(gmm::Gmm::new(2, 5, 1000));
    visitor.visit(gmm::GmmHoisted::new(2, 5, 1000));
}

/// The environment variable that adds [`for_each_large_problem`] to `bench_table`.
pub const LARGE: &str = "AUTODIFF_BENCH_LARGE";

/// The problems too slow for the default runs: ADBench's larger GMM sizes. (The generated
/// gradient of `d = 64, k = 200` keeps about 3.4 GB; the hoisted form's would keep 6.8 GB.)
pub fn for_each_large_problem(visitor: &mut impl Visitor) {
    visitor.visit(gmm::Gmm::new(10, 25, 1000));
    visitor.visit(gmm::GmmHoisted::new(10, 25, 1000));
    visitor.visit(gmm::Gmm::new(64, 200, 1000));
    // ADBench's other number of points.
    visitor.visit(gmm::Gmm::new(2, 5, 10_000));
    visitor.visit(gmm::GmmHoisted::new(2, 5, 10_000));
}

// The check -----------------------------------------------------------------------------------

/// Runs every method of `problem` and panics unless
/// - every method returns the primal's value (the peers, which evaluate the generic copy of the
///   function, to 1e-12 relative);
/// - the hand-written, num-dual and echidna gradients equal the generated one to 1e-12 of the
///   gradient's largest component (they are all exact, up to the order of the sums);
/// - finite differences agree with it to 1e-6 of the largest component.
///
/// Returns a one-line summary of the largest differences seen.
pub fn verify<P: Problem>(problem: &mut P) -> String {
    let name = problem.name();
    let value = problem.primal();
    assert!(value.is_finite(), "{name}: primal value {value}");
    let mut summary = format!("{name}: n = {}", problem.dim());
    let reference = {
        let v = problem.generated();
        assert_eq!(v, value, "{name}: generated value differs from the primal");
        problem.gradient(Method::Generated)
    };
    assert_eq!(reference.len(), problem.dim(), "{name}: gradient length");
    let scale = reference.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
    assert!(
        scale.is_finite() && scale > 0.0,
        "{name}: gradient scale {scale}"
    );
    for method in [
        Method::Hand,
        Method::FiniteDifferences,
        Method::NumDual,
        Method::Echidna,
    ] {
        if !problem.runs(method) {
            summary += &format!("; {} not run", method.name());
            continue;
        }
        let v = problem.run(method);
        let value_error = (v - value).abs() / value.abs().max(f64::MIN_POSITIVE);
        assert!(
            value_error <= 1e-12,
            "{name}: {} value {v:e} vs primal {value:e}",
            method.name()
        );
        let grad = problem.gradient(method);
        assert_eq!(
            grad.len(),
            reference.len(),
            "{name}: {} length",
            method.name()
        );
        let tolerance = if method == Method::FiniteDifferences {
            1e-6
        } else {
            1e-12
        };
        let (mut worst, mut at) = (0.0_f64, 0);
        for (i, (g, r)) in grad.iter().zip(&reference).enumerate() {
            let error = (g - r).abs() / scale;
            let error = if error.is_nan() { f64::INFINITY } else { error };
            if error > worst {
                (worst, at) = (error, i);
            }
        }
        assert!(
            worst <= tolerance,
            "{name}: {} vs generated: component {at}: {:e} vs {:e} (error {worst:.1e} of the largest component {scale:e})",
            method.name(),
            grad[at],
            reference[at]
        );
        summary += &format!("; {} {worst:.0e}", method.name());
    }
    summary
}

// Number types for the peers ------------------------------------------------------------------

/// What the generic copies of the problems need from a number: `f64` (to check the copy against
/// the primal), `Dual64` (forward mode) and `Reverse<f64>` (echidna's tape).
pub trait Real:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
{
    /// A constant.
    fn cst(value: f64) -> Self;
    fn val(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sin(self) -> Self;
    fn tanh(self) -> Self;
    fn powi(self, n: i32) -> Self;
    /// The larger of the two, `self` on a tie.
    fn max(self, other: Self) -> Self;
}

impl Real for f64 {
    fn cst(value: f64) -> Self {
        value
    }
    fn val(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn sin(self) -> Self {
        f64::sin(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn powi(self, n: i32) -> Self {
        f64::powi(self, n)
    }
    fn max(self, other: Self) -> Self {
        f64::max(self, other)
    }
}

impl Real for Dual64 {
    #[inline]
    fn cst(value: f64) -> Self {
        Dual64::from_re(value)
    }
    #[inline]
    fn val(self) -> f64 {
        self.re
    }
    #[inline]
    fn exp(self) -> Self {
        DualNum::exp(&self)
    }
    #[inline]
    fn ln(self) -> Self {
        DualNum::ln(&self)
    }
    #[inline]
    fn sin(self) -> Self {
        DualNum::sin(&self)
    }
    #[inline]
    fn tanh(self) -> Self {
        DualNum::tanh(&self)
    }
    #[inline]
    fn powi(self, n: i32) -> Self {
        DualNum::powi(&self, n)
    }
    #[inline]
    fn max(self, other: Self) -> Self {
        if self.re >= other.re { self } else { other }
    }
}

/// echidna's elementary functions come from `num_traits::Float`, a supertrait of
/// `echidna::Scalar`: reached through a generic bound, without naming num-traits.
mod via_scalar {
    use echidna::Scalar;
    #[inline]
    pub fn exp<T: Scalar>(x: T) -> T {
        x.exp()
    }
    #[inline]
    pub fn ln<T: Scalar>(x: T) -> T {
        x.ln()
    }
    #[inline]
    pub fn sin<T: Scalar>(x: T) -> T {
        x.sin()
    }
    #[inline]
    pub fn tanh<T: Scalar>(x: T) -> T {
        x.tanh()
    }
    #[inline]
    pub fn powi<T: Scalar>(x: T, n: i32) -> T {
        x.powi(n)
    }
    #[inline]
    pub fn max<T: Scalar>(x: T, y: T) -> T {
        x.max(y)
    }
    #[inline]
    pub fn value<T: Scalar>(x: T) -> T::Float {
        x.value()
    }
}

impl Real for Reverse<f64> {
    #[inline]
    fn cst(value: f64) -> Self {
        Reverse::constant(value)
    }
    #[inline]
    fn val(self) -> f64 {
        via_scalar::value(self)
    }
    #[inline]
    fn exp(self) -> Self {
        via_scalar::exp(self)
    }
    #[inline]
    fn ln(self) -> Self {
        via_scalar::ln(self)
    }
    #[inline]
    fn sin(self) -> Self {
        via_scalar::sin(self)
    }
    #[inline]
    fn tanh(self) -> Self {
        via_scalar::tanh(self)
    }
    #[inline]
    fn powi(self, n: i32) -> Self {
        via_scalar::powi(self, n)
    }
    #[inline]
    fn max(self, other: Self) -> Self {
        via_scalar::max(self, other)
    }
}

// The peers' drivers --------------------------------------------------------------------------

/// Central finite differences of `f` at `x` into `grad`: `(f(x + h e_i) - f(x - h e_i)) / 2h`
/// with `h = 1e-6 max(1, |x_i|)`, perturbing `x[i]` in place and restoring it exactly. Returns
/// `f(x)`: `2n + 1` calls in all.
#[inline]
pub fn central_differences(
    mut f: impl FnMut(&[f64]) -> f64,
    x: &mut [f64],
    grad: &mut [f64],
) -> f64 {
    for i in 0..x.len() {
        let xi = x[i];
        let h = 1e-6 * xi.abs().max(1.0);
        x[i] = xi + h;
        let plus = f(x);
        x[i] = xi - h;
        let minus = f(x);
        x[i] = xi;
        grad[i] = (plus - minus) / (2.0 * h);
    }
    f(x)
}

/// Forward mode: `n` evaluations of `f` on dual numbers, the `i`-th seeding input `i`'s
/// tangent with 1. `duals` is the caller's buffer for the inputs, reused across calls. Returns
/// the value.
#[inline]
pub fn dual_gradient(
    f: impl Fn(&[Dual64]) -> Dual64,
    x: &[f64],
    duals: &mut Vec<Dual64>,
    grad: &mut [f64],
) -> f64 {
    duals.clear();
    duals.extend(x.iter().map(|&v| Dual64::from_re(v)));
    let mut value = 0.0;
    for i in 0..x.len() {
        duals[i].eps = 1.0;
        let y = f(duals);
        duals[i].eps = 0.0;
        grad[i] = y.eps;
        value = y.re;
    }
    value
}

/// Reverse mode on echidna's tape: `echidna::grad` records `f` on `Reverse<f64>` and sweeps the
/// tape backwards; its gradient (a new `Vec`) is copied into `grad`. Returns the value.
#[inline]
pub fn echidna_gradient(
    f: impl Fn(&[Reverse<f64>]) -> Reverse<f64>,
    x: &[f64],
    grad: &mut [f64],
) -> f64 {
    let mut value = 0.0;
    let g = echidna::grad(
        |v| {
            let y = f(v);
            value = y.val();
            y
        },
        x,
    );
    grad.copy_from_slice(&g);
    value
}

// Inputs --------------------------------------------------------------------------------------

/// `n` reproducible pseudo-random numbers in `[lo, hi)` (splitmix64 of `seed`, `seed + 1`, ...).
pub fn uniform(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n as u64)
        .map(|i| {
            let mut z = seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(i.wrapping_mul(0xbf58_476d_1ce4_e5b9));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// `black_box` of a whole problem, so that the optimiser can assume nothing about its inputs.
#[inline(always)]
pub fn hide<P>(problem: &mut P) -> &mut P {
    black_box(problem)
}

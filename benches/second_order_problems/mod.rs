//! The cases of the second-order benchmark, shared by the criterion bench
//! (`benches/second_order.rs`) and the table printer (`examples/bench_second_order.rs`, which
//! includes this module with `#[path = "../benches/second_order_problems/mod.rs"]`).
//!
//! Three kinds of case, each a function written once for `#[differentiate(hessian)]` or
//! `#[differentiate(jvp)]`, once by hand, and once generic over `num_dual::DualNum` for the
//! dual numbers of `num-dual`:
//!
//! | kind | cases | methods |
//! |---|---|---|
//! | HVP | Rosenbrock n = 10, 100, 1000; the MLP loss of `benches/problems/mlp.rs`, on flat slices and with the sizes in the types (whose case leaves out the num-dual lines) | `generated_grad_into`, `hand_grad_into`, `generated_hvp`, `hand_hvp`, `hand_hvp_into`, `num_dual_over_hand_grad`, `num_dual_hyperdual` |
//! | dense Hessian | Rosenbrock and log-sum-exp of a linear map, n = 10 and 30 | `generated_hvp` (one column), `generated_hessian`, `hand_hessian`, `num_dual_hessian` |
//! | JVP and Jacobian | planar arm forward kinematics, 3 and 10 joints | `generated_jvp`, `hand_jvp`, `num_dual_dual64`, `generated_jacobian`, `hand_jacobian`, `num_dual_jacobian` |
//!
//! What each method runs:
//!
//! - `generated_hvp`: `f_hvp(args, v.clone())`. `_hvp` takes the direction by value and returns
//!   a new gradient and a new `H v`, so the clone of `v` is part of what a caller pays;
//! - `hand_hvp`: the hand-written value, gradient and `H v` in one pass, with the same
//!   signature (direction by value, two new vectors returned): the fair comparison;
//! - `hand_hvp_into`: the same pass into buffers reused across calls: what the allocations cost;
//! - `generated_grad_into`, `hand_grad_into`: the gradient alone, into a reused buffer (the
//!   HVP's cost is reported in gradients);
//! - `num_dual_over_hand_grad`: the hand-written gradient, written once generic, run on
//!   `Dual64` with `x + ε v`: one pass gives the gradient (real parts) and `H v` (dual parts).
//!   The cheapest `H v` num-dual offers, but it needs a hand-written gradient;
//! - `num_dual_hyperdual`: `H v` from the function alone: `n` passes on `HyperDual64`, pass `i`
//!   with `ε1` along `v` and `ε2` along `e_i`, whose `ε1ε2` part is `(H v)_i` and whose `ε2`
//!   part is `g_i`. (`Dual2_64` along `v` gives only `vᵀ H v`, and a vector dual carries an
//!   `n`-long derivative through every operation: the same `O(n · cost)`);
//! - `generated_hessian`: `f_hessian(args)`, one HVP per column;
//! - `hand_hessian`: the closed form, into the same output types as `_hessian`;
//! - `num_dual_hessian`: `num_dual::hessian` on `SVector<Dual2SVec64<N>, N>` (statically sized:
//!   no allocation; its nalgebra results are returned as they are);
//! - `generated_jvp`, `hand_jvp`, `num_dual_dual64`: one forward sweep along `u`;
//! - `generated_jacobian`, `hand_jacobian`, `num_dual_jacobian`: the dense Jacobian (generated:
//!   one JVP per column; num-dual: `num_dual::jacobian` on `DualSVec64<N>`, one pass).
//!
//! Every case's `verify` runs every method once and panics unless the results agree with
//! each other and with an independent oracle (closed forms, num-dual, central differences of
//! the gradient), so every comparison is between correct results.

#![allow(dead_code)] // each includer uses its own subset of the helpers

pub mod arm;
pub mod dense;
pub mod mlp;
pub mod rosenbrock;

use std::hint::black_box;

use num_dual::DualNum;

/// A number type of num-dual with `f64` parts (including `f64` itself).
pub trait Dn: DualNum<Primitive = f64> + Copy {}
impl<D: DualNum<Primitive = f64> + Copy> Dn for D {}

/// The larger of two numbers by their real parts, `a` on a tie (as `f64::max` picks either).
#[inline]
pub fn max_re<D: Dn>(a: D, b: D) -> D {
    if b.re() > a.re() { b } else { a }
}

/// What a case is measured for: it decides the case's table in the example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Hvp,
    Hessian,
    Jvp,
}

/// Times one method: criterion in the bench, a median timer in the example.
pub trait Measure {
    /// `method` is the line's name; `f` calls the method once (its result goes through
    /// `black_box`).
    fn time<R>(&mut self, method: &'static str, f: impl FnMut() -> R);
}

/// One case: its inputs and the buffers its methods reuse.
pub trait Case {
    /// The criterion group's name, e.g. `hvp_rosenbrock_1000`.
    fn name(&self) -> String;
    fn kind(&self) -> Kind;
    /// The number of active scalar inputs.
    fn dim(&self) -> usize;
    /// Runs every method once and panics unless all agree with an oracle; returns a summary.
    fn verify(&mut self) -> String;
    /// Calls `m.time` once per method, each with a closure that calls the method directly.
    fn measure(&mut self, m: &mut impl Measure);
}

pub trait Visitor {
    fn visit<C: Case>(&mut self, case: C);
}

/// Calls `visit` on every case, in table order.
pub fn for_each_case(visitor: &mut impl Visitor) {
    for n in [10, 100, 1000] {
        visitor.visit(rosenbrock::HvpRosenbrock::new(n));
    }
    visitor.visit(mlp::HvpMlp::new());
    visitor.visit(mlp::HvpMlpArrays::new());
    visitor.visit(dense::DenseHessian::<dense::Rosenbrock, 10>::new());
    visitor.visit(dense::DenseHessian::<dense::Rosenbrock, 30>::new());
    visitor.visit(dense::DenseHessian::<dense::Lse, 10>::new());
    visitor.visit(dense::DenseHessian::<dense::Lse, 30>::new());
    visitor.visit(arm::ArmJvp::<3>::new());
    visitor.visit(arm::ArmJvp::<10>::new());
}

// Checks --------------------------------------------------------------------------------------

/// The largest `|a_i - b_i|` over the largest `|b_i|`; panics on different lengths, and counts
/// a NaN as infinitely far.
pub fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let scale = b.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    assert!(scale.is_finite() && scale > 0.0, "reference scale {scale}");
    a.iter().zip(b).fold(0.0_f64, |worst, (x, y)| {
        let e = (x - y).abs() / scale;
        worst.max(if e.is_nan() { f64::INFINITY } else { e })
    })
}

/// Panics unless `a` equals the reference `b` to `tolerance` of `b`'s largest component.
#[track_caller]
pub fn assert_agree(case: &str, what: &str, a: &[f64], b: &[f64], tolerance: f64) -> f64 {
    let e = relative_error(a, b);
    assert!(
        e <= tolerance,
        "{case}: {what}: error {e:.1e} of the largest component (tolerance {tolerance:.0e})\n  got      {:?}\n  expected {:?}",
        &a[..a.len().min(8)],
        &b[..b.len().min(8)]
    );
    e
}

/// Panics unless the two values agree to `1e-12` relative.
#[track_caller]
pub fn assert_value(case: &str, what: &str, a: f64, b: f64) {
    let e = (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
    assert!(e <= 1e-12, "{case}: {what}: value {a:e} vs {b:e}");
}

/// `(g(x + h v) - g(x - h v)) / 2h` for a gradient `g`: the oracle of every HVP. `h` is
/// `1e-6` over the size of `v`, so that the step is `1e-6` in `x`'s units.
pub fn central_hvp(mut grad: impl FnMut(&[f64]) -> Vec<f64>, x: &[f64], v: &[f64]) -> Vec<f64> {
    let norm = v.iter().fold(0.0_f64, |m, a| m.max(a.abs()));
    let h = 1e-6 / norm;
    let plus: Vec<f64> = x.iter().zip(v).map(|(x, v)| x + h * v).collect();
    let minus: Vec<f64> = x.iter().zip(v).map(|(x, v)| x - h * v).collect();
    grad(&plus)
        .iter()
        .zip(grad(&minus))
        .map(|(p, m)| (p - m) / (2.0 * h))
        .collect()
}

// Inputs --------------------------------------------------------------------------------------

/// `n` reproducible pseudo-random numbers in `[lo, hi)` (splitmix64 of `seed`, `seed + 1`, ...;
/// the generator of `benches/problems`).
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

/// `black_box` of a whole case, so that the optimiser can assume nothing about its inputs.
#[inline(always)]
pub fn hide<C>(case: &mut C) -> &mut C {
    black_box(case)
}

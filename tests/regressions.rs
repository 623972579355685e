//! One test per bug fixed, named after what broke. Each checks the value against the plain
//! function (bit for bit) and the gradient against an oracle that cannot share the bug: forward-
//! mode dual numbers (`num-dual`) evaluating a twin of the function, and central differences.
#![allow(clippy::needless_range_loop, clippy::assign_op_pattern)]

mod common;

use autodiff_core::{Differentiable, differentiate};
use common::{assert_close, assert_gradient};
use num_dual::{Dual64, DualNum};

const TOL: f64 = 1e-8;

/// The derivative of `f` at `x` by one forward-mode evaluation.
fn dual_derivative(f: impl Fn(Dual64) -> Dual64, x: f64) -> f64 {
    f(Dual64::from_re(x).derivative()).eps
}

// ------------------------------------------------------------------------------------------
// Loop-carried variables that start as copies of one value, one assigned a copy of the other:
// the body used to be lowered once to find what it assigns by comparing values, and `prev = x`
// looked like no change when both started as `x0` — `prev` was not carried, and the value and
// the gradient were wrong without an error.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn newton_step_difference(x0: f64) -> f64 {
    let mut x = x0;
    let mut prev = x0;
    for _ in 0..3 {
        prev = x;
        x = 0.5 * (x + 2.0 / x);
    }
    x - prev
}

fn newton_step_difference_dual<D: DualNum<Primitive = f64> + Copy>(x0: D) -> D {
    let mut x = x0;
    let mut prev = x0;
    for _ in 0..3 {
        prev = x;
        x = (x + x.recip() * 2.0) * 0.5;
    }
    x - prev
}

#[test]
fn copies_of_one_value_carried_by_a_loop() {
    for x0 in [0.7, 1.3, 3.0] {
        let (value, dx) = newton_step_difference_grad(x0);
        assert_eq!(value.to_bits(), newton_step_difference(x0).to_bits());
        assert_close(
            value,
            newton_step_difference_dual(Dual64::from_re(x0)).re,
            1e-15,
        );
        assert_close(dx, dual_derivative(newton_step_difference_dual, x0), 1e-12);
        assert_gradient(|p| newton_step_difference(p[0]), &[x0], &[dx], TOL);
    }
}

#[differentiate]
fn newton_until_converged(x0: f64) -> f64 {
    let mut x = x0;
    let mut prev = x;
    let mut steps = 0;
    while steps < 50 {
        prev = x;
        x = 0.5 * (x + 2.0 / x);
        steps += 1;
        if (x - prev).abs() < 1e-3 {
            break;
        }
    }
    x * prev
}

fn newton_until_converged_dual<D: DualNum<Primitive = f64> + Copy>(x0: D) -> D {
    let mut x = x0;
    let mut prev = x;
    let mut steps = 0;
    while steps < 50 {
        prev = x;
        x = (x + x.recip() * 2.0) * 0.5;
        steps += 1;
        if (x - prev).re().abs() < 1e-3 {
            break;
        }
    }
    x * prev
}

#[test]
fn copies_carried_by_a_while_loop_that_breaks() {
    for x0 in [0.7, 1.3, 3.0] {
        let (value, dx) = newton_until_converged_grad(x0);
        assert_eq!(value.to_bits(), newton_until_converged(x0).to_bits());
        assert_close(dx, dual_derivative(newton_until_converged_dual, x0), 1e-12);
    }
}

#[differentiate]
fn fibonacci_like(x0: f64) -> f64 {
    let mut a = x0;
    let mut b = x0;
    for _ in 0..4 {
        let t = 0.5 * a + b;
        a = b;
        b = t;
    }
    a * b
}

fn fibonacci_like_dual<D: DualNum<Primitive = f64> + Copy>(x0: D) -> D {
    let mut a = x0;
    let mut b = x0;
    for _ in 0..4 {
        let t = a * 0.5 + b;
        a = b;
        b = t;
    }
    a * b
}

#[test]
fn two_carried_copies_rotated() {
    for x0 in [-1.2, 0.4, 2.0] {
        let (value, dx) = fibonacci_like_grad(x0);
        assert_eq!(value.to_bits(), fibonacci_like(x0).to_bits());
        assert_close(dx, dual_derivative(fibonacci_like_dual, x0), 1e-12);
    }
}

/// Störmer–Verlet for `x'' = -k sin(x)`, started from rest (`x_prev = x0`).
#[differentiate]
fn verlet_from_rest(x0: f64, k: f64) -> f64 {
    let h = 0.1;
    let mut x = x0;
    let mut x_prev = x0;
    for _ in 0..20 {
        let x_next = 2.0 * x - x_prev - h * h * k * x.sin();
        x_prev = x;
        x = x_next;
    }
    x
}

fn verlet_from_rest_dual<D: DualNum<Primitive = f64> + Copy>(x0: D, k: D) -> D {
    let h = 0.1;
    let mut x = x0;
    let mut x_prev = x0;
    for _ in 0..20 {
        let x_next = x * 2.0 - x_prev - k * x.sin() * (h * h);
        x_prev = x;
        x = x_next;
    }
    x
}

#[test]
fn verlet_integrator_started_from_rest() {
    let (x0, k) = (0.8, 1.7);
    let (value, (dx0, dk)) = verlet_from_rest_grad(x0, k);
    assert_eq!(value.to_bits(), verlet_from_rest(x0, k).to_bits());
    let seed =
        |dx: f64, dk: f64| verlet_from_rest_dual(Dual64::new(x0, dx), Dual64::new(k, dk)).eps;
    assert_close(dx0, seed(1.0, 0.0), 1e-12);
    assert_close(dk, seed(0.0, 1.0), 1e-12);
}

/// The same copies, in a `for` loop that can leave early: it used to fail to compile
/// ("cannot find value `prev`").
#[differentiate]
fn copies_in_a_loop_with_break(x0: f64, n: usize) -> f64 {
    let mut x = x0;
    let mut prev = x0;
    for i in 0..n {
        if i == 5 {
            break;
        }
        prev = x;
        x = x.sin() + 0.5 * prev;
    }
    x - 2.0 * prev
}

fn copies_in_a_loop_with_break_dual<D: DualNum<Primitive = f64> + Copy>(x0: D, n: usize) -> D {
    let mut x = x0;
    let mut prev = x0;
    for i in 0..n {
        if i == 5 {
            break;
        }
        prev = x;
        x = x.sin() + prev * 0.5;
    }
    x - prev * 2.0
}

#[test]
fn copies_carried_by_a_for_loop_that_breaks() {
    for n in [0, 1, 3, 9] {
        let x0 = 0.9;
        let (value, dx) = copies_in_a_loop_with_break_grad(x0, n);
        assert_eq!(
            value.to_bits(),
            copies_in_a_loop_with_break(x0, n).to_bits()
        );
        let exact = dual_derivative(|x| copies_in_a_loop_with_break_dual(x, n), x0);
        assert_close(dx, exact, 1e-12);
    }
}

// ------------------------------------------------------------------------------------------
// Arrays returned by differentiated calls.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn pair(t: f64) -> [f64; 2] {
    [t, t * t]
}

/// An array result reassigned in a loop used to fail to compile: its carried adjoint was reset
/// to `0.0` instead of an array of zeros.
#[differentiate]
fn walk(t: f64) -> f64 {
    let mut p = pair(t);
    for i in 1..3 {
        p = pair(p[0] + t * i as f64);
    }
    p[1]
}

#[test]
fn array_result_reassigned_in_a_loop() {
    for t in [-0.7, 0.3, 1.1] {
        let (value, dt) = walk_grad(t);
        assert_eq!(value.to_bits(), walk(t).to_bits());
        // p = [4t, 16t²] after the loop.
        assert_close(dt, 32.0 * t, 1e-14);
    }
}

#[differentiate]
fn diag(x: f64) -> [[f64; 2]; 2] {
    let mut m = [[0.0; 2]; 2];
    m[0][0] = x;
    m[1][1] = x * x;
    m
}

/// A 2-D array returned by a call: its rows' adjoints used to be added with `+=` on arrays.
#[differentiate]
fn trace_of_call(x: f64) -> f64 {
    let m = diag(x);
    m[0][0] + m[1][1]
}

#[test]
fn matrix_returned_by_a_call() {
    for x in [-1.5, 0.3, 2.0] {
        let (value, dx) = trace_of_call_grad(x);
        assert_eq!(value.to_bits(), trace_of_call(x).to_bits());
        assert_close(dx, 1.0 + 2.0 * x, 1e-15);
    }
}

#[differentiate]
fn two_arrays(x: f64) -> ([f64; 2], [f64; 2]) {
    ([x, 2.0 * x], [x * x, 1.0])
}

#[differentiate]
fn two_vecs(x: f64) -> (Vec<f64>, Vec<f64>) {
    (vec![x, 2.0 * x], vec![x * x, x.sin()])
}

/// Arrays returned inside a tuple: their part of the seed used to be dropped, so the callee's
/// gradient was zero without an error.
#[differentiate]
fn use_two_arrays(x: f64) -> f64 {
    let (a, b) = two_arrays(x);
    a[1] * b[0]
}

#[differentiate]
fn use_two_vecs(x: f64) -> f64 {
    let (a, b) = two_vecs(x);
    a[1] * b[0] + b[1]
}

#[test]
fn tuples_of_arrays_and_vecs_returned_by_calls() {
    for x in [-0.8, 0.3, 1.7] {
        let (value, dx) = use_two_arrays_grad(x);
        assert_eq!(value.to_bits(), use_two_arrays(x).to_bits());
        assert_close(dx, 6.0 * x * x, 1e-14);
        let (value, dx) = use_two_vecs_grad(x);
        assert_eq!(value.to_bits(), use_two_vecs(x).to_bits());
        assert_close(dx, 6.0 * x * x + x.cos(), 1e-14);
        // The callee's own pullback with a seed for each array.
        let d = two_vecs_pullback(x, (vec![1.0, 0.5], vec![0.25, 2.0]));
        assert_close(d, 1.0 + 0.5 * 2.0 + 0.25 * 2.0 * x + 2.0 * x.cos(), 1e-14);
    }
}

#[differentiate]
fn doubled(v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; 2 * v.len()];
    for i in 0..v.len() {
        out[2 * i] = v[i];
        out[2 * i + 1] = v[i] * v[i];
    }
    out
}

/// A `Vec` whose length changes when it is reassigned from a call: the backward sweep used to
/// panic (its adjoint kept the first length).
#[differentiate]
fn grow(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    for _ in 0..3 {
        v = doubled(&v);
    }
    let mut s = 0.0;
    for (i, vi) in v.iter().enumerate() {
        s += (i as f64 + 1.0) * vi;
    }
    s
}

#[test]
fn vec_whose_length_changes_when_reassigned() {
    let x = [0.3, -0.5];
    let (value, dx) = grow_grad(&x);
    assert_eq!(value.to_bits(), grow(&x).to_bits());
    assert_gradient(grow, &x, &dx, TOL);
}

// ------------------------------------------------------------------------------------------
// Attributes on statements: `#[cfg]` used to be dropped, so a statement rustc removes was
// differentiated anyway (value and gradient wrong, no error).
// ------------------------------------------------------------------------------------------

#[differentiate]
#[allow(unused_mut, clippy::let_and_return)]
fn gated(x: f64) -> f64 {
    let mut acc = x;
    #[cfg(any())]
    {
        acc += x;
    }
    #[cfg(test)]
    let y = 3.0 * x;
    #[cfg(not(test))]
    let y = 5.0 * x;
    #[cfg_attr(any(), cfg(any()))]
    {
        acc *= y;
    }
    let z = match 2 {
        #[cfg(any())]
        2 => acc + x,
        _ => acc + 2.0 * x,
    };
    #[rustfmt::skip]
    let w = z;
    w
}

#[test]
fn cfg_on_statements_means_what_it_means_to_rustc() {
    for x in [-1.0, 0.5, 2.0] {
        let (value, dx) = gated_grad(x);
        assert_eq!(value.to_bits(), gated(x).to_bits());
        // acc = x · 3x, plus 2x.
        assert_close(value, 3.0 * x * x + 2.0 * x, 1e-15);
        assert_close(dx, 6.0 * x + 2.0, 1e-15);
    }
}

// ------------------------------------------------------------------------------------------
// Names and signatures rustc accepts.
// ------------------------------------------------------------------------------------------

/// Raw identifiers used to panic inside the macro (`"r#type" is not a valid Ident`).
#[differentiate]
fn raw_identifiers(r#type: f64, r#match: f64) -> f64 {
    let r#loop = r#type * r#match;
    r#loop.sin()
}

/// A named lifetime used to give generated code that did not compile (`impl Trait` captures).
#[differentiate]
fn named_lifetime<'a>(x: &'a [f64], w: &'a [f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += w[i] * x[i] * x[i];
    }
    s
}

#[test]
fn raw_identifiers_and_named_lifetimes() {
    let (value, (dt, dm)) = raw_identifiers_grad(2.0, 3.0);
    assert_eq!(value.to_bits(), raw_identifiers(2.0, 3.0).to_bits());
    assert_close(dt, 3.0 * 6.0_f64.cos(), 1e-15);
    assert_close(dm, 2.0 * 6.0_f64.cos(), 1e-15);
    let (x, w) = ([0.5, -1.5], [2.0, 3.0]);
    let (value, (dx, dw)) = named_lifetime_grad(&x, &w);
    assert_eq!(value.to_bits(), named_lifetime(&x, &w).to_bits());
    assert_eq!(dx, vec![2.0 * 2.0 * 0.5, 2.0 * 3.0 * -1.5]);
    assert_eq!(dw, vec![0.25, 2.25]);
}

// ------------------------------------------------------------------------------------------
// Statements that used to be rejected or to add warnings.
// ------------------------------------------------------------------------------------------

/// An empty statement `;` was rejected; `panic!` with an inline argument too.
#[differentiate]
#[allow(redundant_semicolons)]
fn empty_statement_and_panic(x: f64, limit: f64) -> f64 {
    let y = if x < limit {
        x * 2.0
    } else {
        panic!("{x} is over {limit:.2}")
    };
    if y.is_nan() {
        unreachable!("y = {y}");
    }
    y * x
}

#[test]
fn empty_statements_and_panics() {
    let (value, (dx, dlimit)) = empty_statement_and_panic_grad(1.5, 2.0);
    assert_eq!(
        value.to_bits(),
        empty_statement_and_panic(1.5, 2.0).to_bits()
    );
    assert_eq!((dx, dlimit), (6.0, 0.0));
    let panicked = std::panic::catch_unwind(|| empty_statement_and_panic_grad(3.0, 2.0));
    let message = panicked.unwrap_err();
    assert_eq!(message.downcast_ref::<String>().unwrap(), "3 is over 2.00");
}

/// Elements of an array returned by a call, assigned afterwards: used to be rejected ("only
/// elements of local arrays and vectors can be assigned to").
#[differentiate]
fn write_into_call_result(t: f64) -> f64 {
    let mut p = pair(t);
    let q = pair(3.0 * t);
    p[0] = q[1];
    p[1] *= t;
    p[0] * p[1]
}

#[differentiate]
fn write_into_call_result_in_a_loop(t: f64) -> f64 {
    let mut p = pair(t);
    for i in 0..3 {
        let q = pair(p[1] + i as f64);
        p[0] = q[1];
        p = pair(p[0] * 0.1);
    }
    p[0] + p[1]
}

fn write_into_call_result_in_a_loop_dual<D: DualNum<Primitive = f64> + Copy>(t: D) -> D {
    let pair = |t: D| [t, t * t];
    let mut p = pair(t);
    for i in 0..3 {
        let q = pair(p[1] + i as f64);
        p[0] = q[1];
        p = pair(p[0] * 0.1);
    }
    p[0] + p[1]
}

#[test]
fn elements_of_a_call_result_assigned() {
    for t in [-0.6, 0.3, 1.2] {
        let (value, dt) = write_into_call_result_grad(t);
        assert_eq!(value.to_bits(), write_into_call_result(t).to_bits());
        // p = [9t², t³]
        assert_close(dt, 45.0 * t.powi(4), 1e-14);
        let (value, dt) = write_into_call_result_in_a_loop_grad(t);
        assert_eq!(
            value.to_bits(),
            write_into_call_result_in_a_loop(t).to_bits()
        );
        let exact = dual_derivative(write_into_call_result_in_a_loop_dual, t);
        assert_close(dt, exact, 1e-12);
    }
}

/// A final summing loop that also updates an array it reads in later iterations: the array
/// carries derivatives between iterations, so the backward iterations cannot run interleaved
/// with the forward ones.
#[differentiate(wrt(v))]
fn sum_while_updating(v: &[f64], steps: usize) -> f64 {
    let mut u = v.to_vec();
    let mut s = 0.0;
    for _ in 0..steps {
        s += u[0] * u[0] + u[1];
        u[0] = u[0] * 0.5 + u[1];
    }
    s
}

#[test]
fn an_array_updated_in_a_summing_loop() {
    // u0_k = 0.5^k v0 + c_k v1 with c_k = Σ_{j<k} 0.5^j, s = Σ_k u0_k² + v1.
    let n = 4;
    let v = [1.5, -0.5];
    let (value, g) = sum_while_updating_grad(&v, n);
    assert_eq!(value, sum_while_updating(&v, n));
    let (mut d0, mut d1) = (0.0, 0.0);
    for k in 0..n as i32 {
        let c: f64 = (0..k).map(|j| 0.5_f64.powi(j)).sum();
        let u0 = 0.5_f64.powi(k) * v[0] + c * v[1];
        d0 += 2.0 * u0 * 0.5_f64.powi(k);
        d1 += 2.0 * u0 * c + 1.0;
    }
    assert!(
        (g[0] - d0).abs() < 1e-12 && (g[1] - d1).abs() < 1e-12,
        "{g:?} vs {d0}, {d1}"
    );
}

#[differentiate]
fn slice_total(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum()
}

/// A `&Vec<f64>` parameter passed on as it is to a function taking `&[f64]` (it coerces).
#[differentiate]
#[allow(clippy::ptr_arg)]
fn through_a_vec_reference(v: &Vec<f64>) -> f64 {
    slice_total(v) * 2.0
}

#[test]
fn a_vec_reference_passed_to_a_slice_parameter() {
    let v = vec![1.0, -2.0, 3.0];
    let (value, g) = through_a_vec_reference_grad(&v);
    assert_eq!(value, 28.0);
    assert_eq!(g, vec![4.0, -8.0, 12.0]);
}

// ------------------------------------------------------------------------------------------
// Found by the program-shape corpus of the randomized differential test.
// ------------------------------------------------------------------------------------------

/// Twice as long: each element and its square.
#[differentiate]
fn with_squares(v: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(2 * v.len());
    for x in v.iter() {
        out.push(*x);
        out.push(x * x);
    }
    out
}

/// `to_vec()` of a local array is a `Vec`: reassigning it from a call returning a `Vec` used
/// to fail to compile (the copy kept the array's type).
#[differentiate]
fn array_to_vec_then_regrown(a: f64) -> f64 {
    let start = [a, a * a, 0.5];
    let mut v = start.to_vec();
    for _ in 0..2 {
        v = with_squares(&v);
    }
    v.iter().sum()
}

#[test]
fn an_array_copied_into_a_vec_that_a_call_regrows() {
    // Each round maps the multiset {t} to {t, t²}: after two, Σ t + 2t² + t⁴ over the start.
    let total = |t: f64| t + 2.0 * t * t + t.powi(4);
    let dtotal = |t: f64| 1.0 + 4.0 * t + 4.0 * t.powi(3);
    let a = 1.3;
    let (value, g) = array_to_vec_then_regrown_grad(a);
    assert_eq!(value, array_to_vec_then_regrown(a));
    assert_close(value, total(a) + total(a * a) + total(0.5), 1e-12);
    assert_close(g, dtotal(a) + dtotal(a * a) * 2.0 * a, 1e-12);
}

#[derive(Clone, Debug, Default, PartialEq, autodiff_core::Differentiable)]
struct Affine {
    w: [f64; 3],
    b: f64,
}

/// `return p.b` (a struct's field) inside a loop used to be an internal error: the value
/// carried out of the loop was the field itself, not a number loaded from it.
#[differentiate]
fn early_field_return(a: f64, p: Affine) -> f64 {
    let mut acc = 0.0;
    for k in 0..3 {
        if a * (k as f64) > 2.0 {
            return p.b * a;
        }
        if a < -1.0 {
            return p.w[k];
        }
        acc += p.w[k] * a;
    }
    acc
}

#[test]
fn a_struct_field_returned_from_inside_a_loop() {
    let p = Affine {
        w: [0.5, -1.5, 2.0],
        b: 3.0,
    };
    // No early exit: Σ w_k a.
    let (value, (da, dp)) = early_field_return_grad(0.5, p.clone());
    assert_eq!(value, early_field_return(0.5, p.clone()));
    assert_close(da, 1.0, 1e-15);
    assert_eq!(dp.w, [0.5, 0.5, 0.5]);
    assert_eq!(dp.b, 0.0);
    // Out at k = 2 (1.5·2 > 2) through `p.b * a`, after adding w_0 a + w_1 a.
    let (value, (da, dp)) = early_field_return_grad(1.5, p.clone());
    assert_eq!(value, 4.5);
    assert_eq!((da, dp.b, dp.w), (3.0, 1.5, [0.0; 3]));
    // Out at k = 0 through `p.w[0]`.
    let (value, (da, dp)) = early_field_return_grad(-2.0, p.clone());
    assert_eq!(value, 0.5);
    assert_eq!((da, dp.b, dp.w), (0.0, 0.0, [1.0, 0.0, 0.0]));
}

#[differentiate]
fn pair_of(t: f64) -> [f64; 2] {
    [t.sin() + 0.5 * t, t * t.cos()]
}

/// A passive call's array result, written with an active value inside a loop: the backward
/// sweep shapes the array's adjoint like the call's result, which was not kept for it.
#[differentiate]
fn constant_pair_overwritten(a: f64, b: f64) -> f64 {
    let mut x = a;
    for _ in 0..3 {
        let mut p = pair_of(0.25);
        p[0] = b;
        x += p[0] * p[1] * x;
    }
    x
}

#[test]
fn a_passive_array_result_overwritten_in_a_loop() {
    let c = 0.25 * 0.25_f64.cos();
    // x_{k+1} = x_k (1 + b c): x_3 = a (1 + b c)³.
    let (a, b) = (0.8, -0.3);
    let (value, (da, db)) = constant_pair_overwritten_grad(a, b);
    assert_eq!(value, constant_pair_overwritten(a, b));
    assert_close(value, a * (1.0 + b * c).powi(3), 1e-14);
    assert_close(da, (1.0 + b * c).powi(3), 1e-14);
    assert_close(db, 3.0 * a * c * (1.0 + b * c).powi(2), 1e-14);
}

/// A copy of the argument, grown by `push`.
#[differentiate]
fn with_quarter_squares(x: &[f64]) -> Vec<f64> {
    let mut out = x.to_vec();
    for v in x.iter() {
        out.push(v * v * 0.25);
    }
    out
}

/// Pushing onto a copy used to leave the copy's adjoint longer than its source's on the way
/// back (`_grad` panicked: "adjoints of different lengths"); the reverse of a push now pops.
#[differentiate]
fn grown_three_times(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    for _ in 0..3 {
        v = with_quarter_squares(&v);
    }
    let mut w = v.clone();
    w.push(x[0]);
    w.iter().sum::<f64>() * v[1]
}

#[test]
fn a_copy_grown_by_push() {
    let x = [0.7, -0.4];
    let (value, g) = grown_three_times_grad(&x);
    assert_eq!(value, grown_three_times(&x));
    assert_gradient(|x: &[f64]| grown_three_times(x), &x, &g, TOL);
}

// ------------------------------------------------------------------------------------------
// A struct's field as the starting value of `fold` (and the first item of `reduce` and
// `max_by` over a field's array): the accumulator was bound to the field itself, so every
// iteration started again from the field, and the value and the gradient were those of the
// last item alone, without an error. Found by the shape corpus's running maxima.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, autodiff_core::Differentiable)]
struct Layer {
    w: [f64; 3],
    b: f64,
    v: Vec<f64>,
}

/// The points and layer both fold tests use.
fn fold_inputs() -> ([f64; 4], Layer) {
    let p = Layer {
        w: [0.1, -0.4, 0.7],
        b: -0.5,
        v: vec![0.3, 0.9, -0.2],
    };
    ([0.3, -0.9, 1.2, 0.4], p)
}

#[differentiate]
fn folds_from_fields(xs: &[f64], p: &Layer) -> f64 {
    let m = xs.iter().fold(p.b, |q, &r| q.max(r));
    let a = p.v.iter().copied().reduce(f64::max).unwrap_or(0.0);
    let c =
        p.w.iter()
            .copied()
            .max_by(|x, y| x.total_cmp(y))
            .unwrap_or(0.0);
    let h = p.v.iter().fold(p.w[0], |s, &x| s * x + 1.0);
    m * m + a * c + h
}

#[test]
fn a_fold_that_starts_from_a_field() {
    let (xs, p) = fold_inputs();
    // The maximum 1.2 (xs[2]), 0.9 (v[1]) times 0.7 (w[2]), and h = ((w0 v0 + 1) v1 + 1) v2 + 1.
    let h = ((0.1 * 0.3 + 1.0) * 0.9 + 1.0) * -0.2 + 1.0;
    let (value, (dxs, dp)) = folds_from_fields_grad(&xs, &p);
    assert_eq!(value.to_bits(), folds_from_fields(&xs, &p).to_bits());
    assert_close(value, 1.44 + 0.9 * 0.7 + h, 1e-15);
    assert_eq!(dxs, vec![0.0, 0.0, 2.4, 0.0]);
    assert_gradient(|x| folds_from_fields(x, &p), &xs, &dxs, TOL);
    let check = autodiff_core::check_gradient_of(|q| folds_from_fields(&xs, q), &p, &dp);
    assert!(check.passes(TOL), "{check}");
    // Below the field, the maximum is the field's.
    let low = [-1.0, -2.0];
    let (value, (_, dp)) = folds_from_fields_grad(&low, &p);
    assert_eq!(value.to_bits(), folds_from_fields(&low, &p).to_bits());
    assert_eq!(dp.b, 2.0 * p.b);
}

/// A tuple starting value with a field in it: the field's part was not carried either.
#[differentiate]
fn fold_pair_from_a_field(xs: &[f64], p: &Layer) -> f64 {
    let (m, c) = xs
        .iter()
        .fold((p.b, 0.0), |(m, c), &x| (m.max(x), c + x * x));
    m * c
}

#[test]
fn a_fold_of_a_pair_that_starts_from_a_field() {
    let (xs, p) = fold_inputs();
    let c: f64 = xs.iter().map(|x| x * x).sum();
    let (value, (dxs, dp)) = fold_pair_from_a_field_grad(&xs, &p);
    assert_eq!(value.to_bits(), fold_pair_from_a_field(&xs, &p).to_bits());
    assert_close(value, 1.2 * c, 1e-15);
    assert_gradient(|x| fold_pair_from_a_field(x, &p), &xs, &dxs, TOL);
    assert_eq!(dp.b, 0.0);
}

// A tuple with a struct's field in it, named whole and carried through a loop
// (`let mut acc = (p.b, 0.0);`): the tuple kept the field itself, not its value, so the loop
// did not carry that part (a wrong value without an error), and resetting it to the field in a
// branch was a compile error. A tuple expression now reads the field, as `let b = p.b;` does.

#[differentiate]
fn pair_carried_from_a_field(xs: &[f64], p: &Layer) -> f64 {
    let mut acc = (p.b, 0.0);
    for &x in xs {
        acc = (acc.0 * x + 1.0, acc.1 + acc.0);
    }
    acc.0 + acc.1
}

#[differentiate]
fn pair_reset_to_a_field(xs: &[f64], p: &Layer) -> f64 {
    let mut acc = (0.5, 0.0);
    for &x in xs {
        if x > 0.0 {
            acc = (p.b, acc.1 + x * acc.0);
        } else {
            acc = (acc.0 * x, acc.1);
        }
    }
    let copied = (p.w, p.b);
    let named = (&p.w, 2.0);
    acc.0 * acc.1 + copied.0[1] * copied.1 + named.0[2] * named.1
}

/// An array field in a tuple is read whole, with an adjoint of its shape (after the change
/// above, `(p.w, x)` had a number's adjoint and did not compile).
#[differentiate]
fn norm_of(v: &[f64]) -> f64 {
    let mut e = 0.0;
    for k in 0..v.len() {
        e += v[k] * v[k] + v[k].sin();
    }
    e
}

#[differentiate]
fn array_fields_in_tuples(xs: &[f64], p: &Layer) -> f64 {
    let t = (p.w, xs[0]);
    let (w, b) = (p.w, p.b);
    let mut acc = (p.w, 0.0);
    for i in 0..xs.len() {
        acc = (acc.0, acc.1 + acc.0[i % 3] * xs[i]);
    }
    norm_of(&t.0) * t.1 + norm_of(&w) * b + t.0[1] * acc.1
}

#[derive(Clone, Debug, Default, PartialEq, autodiff_core::Differentiable)]
struct Grid {
    m: [[f64; 2]; 2],
    b: f64,
}

/// A row of a matrix field read into a tuple, passed by reference and indexed.
#[differentiate]
fn rows_of_fields_in_tuples(x: f64, g: &Grid) -> f64 {
    let t = (g.m, x * g.b);
    norm_of(&t.0[1]) * t.1 + t.0[0][1] * norm_of(&t.0[0])
}

#[test]
fn array_fields_in_tuples_match_finite_differences() {
    let (xs, p) = fold_inputs();
    let (value, (dxs, dp)) = array_fields_in_tuples_grad(&xs, &p);
    assert_eq!(value.to_bits(), array_fields_in_tuples(&xs, &p).to_bits());
    assert_gradient(|x| array_fields_in_tuples(x, &p), &xs, &dxs, TOL);
    let check = autodiff_core::check_gradient_of(|q| array_fields_in_tuples(&xs, q), &p, &dp);
    assert!(check.passes(TOL), "{check}");

    let g = Grid {
        m: [[0.3, -0.7], [1.1, 0.4]],
        b: 0.6,
    };
    let (value, (dx, dg)) = rows_of_fields_in_tuples_grad(0.9, &g);
    assert_eq!(value.to_bits(), rows_of_fields_in_tuples(0.9, &g).to_bits());
    assert_gradient(|x| rows_of_fields_in_tuples(x[0], &g), &[0.9], &[dx], TOL);
    let check = autodiff_core::check_gradient_of(|q| rows_of_fields_in_tuples(0.9, q), &g, &dg);
    assert!(check.passes(TOL), "{check}");
}

#[test]
fn a_pair_carried_from_a_field() {
    let (xs, p) = fold_inputs();
    // acc.0 runs b, b x0 + 1, ..., and acc.1 sums the acc.0 before each step.
    let (mut a0, mut a1) = (p.b, 0.0);
    for x in xs {
        (a0, a1) = (a0 * x + 1.0, a1 + a0);
    }
    let (value, (dxs, dp)) = pair_carried_from_a_field_grad(&xs, &p);
    assert_eq!(
        value.to_bits(),
        pair_carried_from_a_field(&xs, &p).to_bits()
    );
    assert_close(value, a0 + a1, 1e-15);
    // Both parts are affine in b: d/db of acc.0 is x0 x1 x2 x3, of acc.1 1 + x0 + x0 x1 + x0 x1 x2.
    let (x0, x1, x2, x3) = (xs[0], xs[1], xs[2], xs[3]);
    let db = x0 * x1 * x2 * x3 + 1.0 + x0 + x0 * x1 + x0 * x1 * x2;
    assert_close(dp.b, db, 1e-15);
    assert_gradient(|x| pair_carried_from_a_field(x, &p), &xs, &dxs, TOL);

    let (value, (dxs, dp)) = pair_reset_to_a_field_grad(&xs, &p);
    assert_eq!(value.to_bits(), pair_reset_to_a_field(&xs, &p).to_bits());
    assert_gradient(|x| pair_reset_to_a_field(x, &p), &xs, &dxs, TOL);
    let check = autodiff_core::check_gradient_of(|q| pair_reset_to_a_field(&xs, q), &p, &dp);
    assert!(check.passes(TOL), "{check}");
}

/// The next index of a cyclic counter kept in a `Cell`: a call with a side effect.
fn next_slot(k: &std::cell::Cell<usize>) -> usize {
    k.set(k.get() + 1);
    k.get() % 4
}

/// `a[i] += e` evaluates `i` once. The generated code evaluated it twice, once for the read and
/// once for the write, so an index with a side effect read one element and wrote another: `_grad`
/// returned 75 instead of 170 here, and a wrong gradient, with no error.
#[differentiate]
fn scatter_through_a_counter(x: &[f64]) -> f64 {
    let mut a = [0.0; 4];
    let mut m = [[0.0; 4]; 2];
    let k = std::cell::Cell::new(0usize);
    for i in 0..x.len() {
        a[next_slot(&k)] += x[i] * x[i];
        m[i % 2][next_slot(&k)] -= x[i];
    }
    a[1] * 2.0 + a[2] * 3.0 + a[3] * 5.0 + a[0] * 7.0 + m[0][2] * m[1][3]
}

#[test]
fn an_index_with_a_side_effect_is_evaluated_once() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let (value, g) = scatter_through_a_counter_grad(&x);
    assert_eq!(value.to_bits(), scatter_through_a_counter(&x).to_bits());
    // Two slots per iteration: x0 -> a[1], m[0][2]; x1 -> a[3], m[1][0]; x2 -> a[1], m[0][2];
    // x3 -> a[3], m[1][0]; x4 -> a[1], m[0][2].
    let expected = [
        2.0 * x[0] * 2.0,
        2.0 * x[1] * 5.0,
        2.0 * x[2] * 2.0,
        2.0 * x[3] * 5.0,
        2.0 * x[4] * 2.0,
    ];
    // m[1][3] is never written: the product with m[0][2] adds nothing.
    assert_close(value, 2.0 * (1.0 + 9.0 + 25.0) + 5.0 * (4.0 + 16.0), 1e-15);
    for (a, b) in g.iter().zip(expected) {
        assert_close(*a, b, 1e-15);
    }
    assert_gradient(scatter_through_a_counter, &x, &g, TOL);
}

/// An index array that a method the macro passes through changes in the loop (`idx.fill(i)`):
/// the loop's backward sweep read `idx[0]` again after the loop, when it held its last value, so
/// `_vjp` and every caller of the function through `__f_vjp` got a wrong gradient with no error
/// (`_grad` ran the loop interleaved and was right). A method that takes an array whole now
/// counts as a write to it.
#[allow(clippy::useless_vec)] // the form it was found in
#[differentiate]
fn index_changed_by_a_method(x: &[f64]) -> f64 {
    let mut total = 0.0;
    let mut idx = vec![0usize; 1];
    idx[0] = 0;
    for i in 0..x.len() {
        total += x[idx[0]].sin() * x[i];
        idx.fill(i);
    }
    total
}

#[differentiate]
fn calls_index_changed_by_a_method(x: &[f64]) -> f64 {
    index_changed_by_a_method(x) * x[0]
}

#[test]
fn an_array_a_method_changes_is_not_read_again() {
    let x = [0.3, 0.7, -0.4, 1.1];
    let (_, g) = index_changed_by_a_method_grad(&x);
    assert_gradient(index_changed_by_a_method, &x, &g, TOL);
    let vjp = index_changed_by_a_method_vjp(&x).1(1.0);
    for (a, b) in vjp.iter().zip(&g) {
        assert_close(*a, *b, 1e-15);
    }
    let (_, g) = calls_index_changed_by_a_method_grad(&x);
    assert_gradient(calls_index_changed_by_a_method, &x, &g, TOL);
}

#[differentiate]
fn sum_of_squares(v: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..v.len() {
        s += v[i] * v[i];
    }
    s
}

/// A local array passed to a call through a name bound to a reference to it (`let s = &v;
/// f(s)`): the call passed the array by value and did not compile. Also in a loop that changes
/// the array after the call (the call's pullback reads it as it was), and a parameter's alias.
#[differentiate]
fn through_reference_names(x: &[f64]) -> f64 {
    let mut v = vec![0.0; x.len()];
    let mut t = 0.0;
    for i in 0..x.len() {
        v[i] = x[i].sin();
        let s = &v;
        t += sum_of_squares(s) * x[i];
        v[i] *= 2.0;
    }
    let w = x.to_vec();
    let s = &w;
    let r = &x[1..];
    t + sum_of_squares(s) * sum_of_squares(r)
}

#[test]
fn arrays_passed_through_reference_names() {
    let x = [0.3, 0.7, -0.4];
    let (value, g) = through_reference_names_grad(&x);
    assert_eq!(value.to_bits(), through_reference_names(&x).to_bits());
    assert_gradient(through_reference_names, &x, &g, TOL);
    let vjp = through_reference_names_vjp(&x).1(1.0);
    for (a, b) in vjp.iter().zip(&g) {
        assert_close(*a, *b, 1e-15);
    }
}

/// `a.partial_cmp(b).unwrap()` in comparators and conditions: a passive `Ordering`, as
/// `total_cmp` gives (it was a compile error that named `unwrap`).
#[differentiate]
fn compared_by_partial_cmp(x: &[f64]) -> f64 {
    let hi = x
        .iter()
        .copied()
        .max_by(|a, b| a.partial_cmp(b).unwrap())
        .unwrap();
    let lo = x
        .iter()
        .copied()
        .min_by(|a, b| a.partial_cmp(b).expect("no NaN"))
        .unwrap();
    let mut s = 0.0;
    for i in 1..x.len() {
        if x[i].partial_cmp(&x[i - 1]).unwrap() == std::cmp::Ordering::Less {
            s += x[i] * x[i - 1];
        }
    }
    hi * lo + s
}

#[test]
fn partial_cmp_unwrapped_is_a_comparison() {
    let x = [0.3, 0.7, -0.4, 1.2, 0.1];
    let (value, g) = compared_by_partial_cmp_grad(&x);
    assert_eq!(value.to_bits(), compared_by_partial_cmp(&x).to_bits());
    // hi = x3, lo = x2, and the falls at i = 2 and 4: x3 x2 + x2 x1 + x4 x3.
    let expected = [0.0, x[2], x[3] + x[1], x[2] + x[4], x[3]];
    for (a, b) in g.iter().zip(expected) {
        assert_close(*a, b, 1e-15);
    }
    assert_eq!(compared_by_partial_cmp_vjp(&x).1(1.0), g);
}

/// A `Vec` of `Vec`s copied whole (`u0.to_vec()`, `u.clone()`) and assigned whole (`u = next`),
/// as a stencil over a grid is written: the adjoints of the copies did not compile (they were
/// added through `as_flattened`, which only arrays of arrays have).
#[differentiate]
fn heat_steps(u0: &[Vec<f64>], k: f64) -> f64 {
    let mut u = u0.to_vec();
    for _ in 0..3 {
        let mut next = u.clone();
        for i in 1..u.len() - 1 {
            for j in 1..u[i].len() - 1 {
                let lap = u[i - 1][j] + u[i + 1][j] + u[i][j - 1] + u[i][j + 1] - 4.0 * u[i][j];
                next[i][j] = u[i][j] + k * lap;
            }
        }
        u = next;
    }
    let mut corners = vec![vec![0.0; 2]; 2];
    corners[0][0] = u[1][1];
    corners[1][1] = u[2][2] * k;
    let kept = corners.clone();
    kept[0][0] * kept[1][1] + u[1][2]
}

#[test]
fn a_vec_of_vecs_copied_whole() {
    let u0: Vec<Vec<f64>> = (0..4)
        .map(|i| (0..5).map(|j| ((i * 5 + j) as f64 * 0.37).sin()).collect())
        .collect();
    let k = 0.2;
    let (value, (du, dk)) = heat_steps_grad(&u0, k);
    assert_eq!(value.to_bits(), heat_steps(&u0, k).to_bits());
    let flat: Vec<f64> = u0.iter().flatten().copied().chain([k]).collect();
    let grad: Vec<f64> = du.iter().flatten().copied().chain([dk]).collect();
    let unflat = |p: &[f64]| -> f64 {
        let u: Vec<Vec<f64>> = p[..20].chunks(5).map(<[f64]>::to_vec).collect();
        heat_steps(&u, p[20])
    };
    assert_gradient(unflat, &flat, &grad, 1e-7);
}

mod lengths_and_struct_methods {
    //! Lengths the macro cannot see the type of, and methods of structs named like float or
    //! slice methods: each compiles and differentiates as Rust means it (found in review of
    //! the checks that keep a struct's own `len` or `floor` from being taken for a constant).
    use super::*;
    use autodiff_core::Differentiable;

    #[differentiate]
    fn iterator_lengths(w: &[f64]) -> f64 {
        let n = w.iter().len() + w.iter().rev().skip(1).len() + w.chunks(2).len();
        let m = (0..w.len()).len() + w.windows(2).len();
        w[0] * n as f64 + w[1] * m as f64
    }

    #[derive(Clone, Differentiable)]
    struct Poly {
        coeffs: Vec<f64>,
        w: Vec<f64>,
    }

    impl Poly {
        /// An ordinary `len`, not differentiated: a count.
        fn len(&self) -> usize {
            self.coeffs.len()
        }
    }

    #[differentiate]
    fn poly_mean(p: &Poly, x: f64) -> f64 {
        let mut s = 0.0;
        for i in 0..p.len() {
            s += p.coeffs[i] * x.powi(i as i32);
        }
        let w = p.w.clone();
        s / p.len() as f64 + w[0] * w.len() as f64
    }

    #[differentiate]
    fn concatenated(v: &[Vec<f64>], x: f64) -> f64 {
        let n = v.concat().len() + x.to_string().len();
        x * n as f64 + v[0][0]
    }

    type Real = f64;

    #[differentiate]
    fn alias_methods(x: Real, y: f64) -> f64 {
        x.sin() * y + x.max(y)
    }

    #[test]
    fn lengths_and_methods_of_unseen_types() {
        let w = [0.5, -1.5, 2.0, 0.25, 1.0];
        let (value, g) = iterator_lengths_grad(&w);
        assert_eq!(value.to_bits(), iterator_lengths(&w).to_bits());
        // n = 5 + 4 + 3, m = 5 + 4.
        assert_eq!(g, vec![12.0, 9.0, 0.0, 0.0, 0.0]);

        let p = Poly {
            coeffs: vec![1.0, -2.0, 0.5],
            w: vec![0.3, 0.1],
        };
        let (value, (dp, dx)) = poly_mean_grad(&p, 1.5);
        assert_eq!(value.to_bits(), poly_mean(&p, 1.5).to_bits());
        assert_eq!(dp.coeffs, vec![1.0 / 3.0, 1.5 / 3.0, 2.25 / 3.0]);
        assert_eq!(dp.w, vec![2.0, 0.0]);
        assert_close(dx, (-2.0 + 2.0 * 0.5 * 1.5) / 3.0, 1e-15);

        let v = vec![vec![1.0, 2.0], vec![3.0]];
        let (value, (dv, dx)) = concatenated_grad(&v, 0.5);
        assert_eq!(value.to_bits(), concatenated(&v, 0.5).to_bits());
        assert_eq!(dx, (3 + "0.5".len()) as f64);
        assert_eq!(dv, vec![vec![1.0, 0.0], vec![0.0]]);

        let (dx, dy) = alias_methods_pullback(0.4, 0.9, 1.0);
        assert_close(dx, 0.4f64.cos() * 0.9, 1e-15);
        assert_close(dy, 0.4f64.sin() + 1.0, 1e-15);
    }
}

// ------------------------------------------------------------------------------------------
// A row of a `Vec` of arrays taken by value (`let old = p[0];`, an array is `Copy`) named the
// row itself: after `p[0]` was written, `old` read the new value, in every generated function.
// And a row so copied (of a local array or a slice parameter) passed to a function taking an
// array by value was passed by reference (rustc reported a type error at the attribute).
// ------------------------------------------------------------------------------------------

#[allow(clippy::useless_vec)] // a `Vec` of arrays is the case
#[differentiate(hessian)]
fn vec_row_copied_then_written(x: f64) -> f64 {
    let mut p = vec![[0.0; 2]; 2];
    p[0][0] = x;
    let old = p[0];
    p[0][0] = 2.0 * x;
    p[0][0] * old[0] + old[1]
}

#[allow(clippy::manual_swap)] // the swap through a copy is the case
#[differentiate]
fn rows_swapped(x: &[[f64; 2]]) -> f64 {
    let mut p = x.to_vec();
    let tmp = p[0];
    p[0] = p[1];
    p[1] = tmp;
    let (a, b) = (p[0], p[1]);
    p[0] = [0.0, 0.0];
    let last = *p.last().unwrap();
    p[1][0] = 5.0;
    p[0][0] * 10.0 + a[0] * 3.0 + b[1] + last[0] * last[1]
}

#[differentiate]
fn owned_rows_param(mut p: Vec<[f64; 2]>) -> f64 {
    let old = p[0];
    p[0][0] = 2.0 * p[0][0];
    p[0][0] * old[1] - old[0]
}

#[differentiate]
fn dot3(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// A mesh's signed volume: rows of the vertex slice copied, passed by value.
#[differentiate(wrt(verts))]
fn signed_volume(verts: &[[f64; 3]], faces: &[[usize; 3]]) -> f64 {
    let mut vol = 0.0;
    for f in faces {
        let (a, b, c) = (verts[f[0]], verts[f[1]], verts[f[2]]);
        let n = [
            b[1] * c[2] - b[2] * c[1],
            b[2] * c[0] - b[0] * c[2],
            b[0] * c[1] - b[1] * c[0],
        ];
        vol += dot3(a, n) / 6.0;
    }
    vol
}

#[allow(clippy::useless_vec)] // a `Vec` of arrays is the case
#[differentiate]
fn local_rows_passed_by_value(x: f64) -> f64 {
    let mut m = vec![[x, 2.0, 3.0], [0.5, x * x, 0.2]];
    let mut f = [[x, 1.0, 0.0], [0.0, x, 1.0]];
    let p = m[0];
    let q = f[1];
    m[0][0] = 7.0;
    f[1][1] = 0.0;
    dot3(p, q) + dot3(m[0], m[1]) + f[1][1]
}

#[test]
fn rows_of_vecs_of_arrays_copied() {
    // 2x · x + 0
    let (value, dx) = vec_row_copied_then_written_grad(3.0);
    assert_eq!(value.to_bits(), vec_row_copied_then_written(3.0).to_bits());
    assert_close(dx, 4.0 * 3.0, 1e-15);
    let (_, _, hessian) = vec_row_copied_then_written_hessian(3.0);
    assert_close(hessian[0][0], 4.0, 1e-15);

    let x = [[1.0, 2.0], [3.0, 4.0]];
    let (value, dx) = rows_swapped_grad(&x);
    assert_eq!(value.to_bits(), rows_swapped(&x).to_bits());
    assert_gradient(
        |v| rows_swapped(&[[v[0], v[1]], [v[2], v[3]]]),
        &[1.0, 2.0, 3.0, 4.0],
        &[dx[0][0], dx[0][1], dx[1][0], dx[1][1]],
        TOL,
    );

    let (value, dp) = owned_rows_param_grad(vec![[1.5, 2.0], [3.0, 4.0]]);
    assert_eq!(value, owned_rows_param(vec![[1.5, 2.0], [3.0, 4.0]]));
    assert_eq!(dp, vec![[2.0 * 2.0 - 1.0, 2.0 * 1.5], [0.0, 0.0]]);

    // A unit tetrahedron, outward faces: volume 1/6; d vol / d v = (face normals) / 6.
    let verts = [
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
    ];
    let faces = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]];
    let (value, dv) = signed_volume_grad(&verts, &faces);
    assert_eq!(value.to_bits(), signed_volume(&verts, &faces).to_bits());
    assert_close(value, 1.0 / 6.0, 1e-15);
    let flat: Vec<f64> = verts.iter().flatten().copied().collect();
    let grad: Vec<f64> = dv.iter().flatten().copied().collect();
    assert_gradient(
        |v| {
            let vs: Vec<[f64; 3]> = v.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
            signed_volume(&vs, &faces)
        },
        &flat,
        &grad,
        TOL,
    );

    // p · q = 2x + 3 (p = [x, 2, 3], q = [0, x, 1] before the writes), then 3.5 + 2x² + 0.6
    let x = 1.5;
    let (value, dx) = local_rows_passed_by_value_grad(x);
    assert_eq!(value.to_bits(), local_rows_passed_by_value(x).to_bits());
    assert_close(dx, 2.0 + 4.0 * x, 1e-14);
}

/// A row returned (`x[k]` of a slice of arrays, of a local matrix): a copy of it.
#[differentiate]
fn row_of_slice(x: &[[f64; 2]], k: usize) -> [f64; 2] {
    x[k]
}

#[differentiate]
fn row_of_local(a: f64) -> [f64; 3] {
    let mut m = [[a, 2.0 * a, 1.0], [0.0, a * a, 3.0]];
    m[0][1] += m[1][1];
    m[0]
}

#[test]
fn rows_returned() {
    let x = [[1.0, 2.0], [3.0, 4.0]];
    assert_eq!(row_of_slice(&x, 1), [3.0, 4.0]);
    let dx = row_of_slice_pullback(&x, 1, [0.5, -2.0]);
    assert_eq!(dx, vec![[0.0, 0.0], [0.5, -2.0]]);
    // [a, 2a + a², 1]: pullback of (1, 1, 1) is 1 + 2 + 2a.
    let da = row_of_local_pullback(1.5, [1.0, 1.0, 1.0]);
    assert_close(da, 1.0 + 2.0 + 3.0, 1e-15);
    assert_eq!(row_of_local(1.5), [1.5, 3.0 + 2.25, 1.0]);
}

// ------------------------------------------------------------------------------------------
// A loop reading `m[i][k]` (or `w[off + k]`) where `i` (or `off`) is a variable the loop itself
// steps: the read went through one slice of the row taken before the loop with the starting
// index, so every iteration read the first row (a wrong value and gradient in every generated
// function), or indexed past the slice's end (a panic where the function runs).
// ------------------------------------------------------------------------------------------

#[allow(clippy::explicit_counter_loop)] // the counter the loop steps is the case
#[differentiate(hessian)]
fn walked_diagonal(m: &[Vec<f64>], q: &[f64]) -> f64 {
    let mut s = 0.0;
    let mut i = 0;
    for k in 0..q.len() {
        s += m[i][k] * q[k];
        i += 1;
    }
    s
}

#[differentiate]
fn strided_weights(w: &[f64], x: &[f64]) -> f64 {
    let mut off = 0;
    let mut s = 0.0;
    for k in 0..x.len() {
        s += w[off + k] * x[k];
        if x[k] < 0.0 {
            off += 1;
        }
    }
    s
}

#[test]
fn rows_indexed_by_a_variable_the_loop_steps() {
    let m = vec![
        vec![1.0, 2.0, 3.0],
        vec![4.0, 5.0, 6.0],
        vec![7.0, 8.0, 9.0],
    ];
    let q = [1.0, 0.5, -0.4];
    let (value, (dm, dq)) = walked_diagonal_grad(&m, &q);
    assert_eq!(value.to_bits(), walked_diagonal(&m, &q).to_bits());
    assert_eq!(dq, vec![1.0, 5.0, 9.0]);
    assert_eq!(
        dm,
        vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, 0.5, 0.0],
            vec![0.0, 0.0, -0.4]
        ]
    );
    let (jvp_value, jvp) = walked_diagonal_jvp(&m, &q, (m.clone(), vec![0.0; 3]));
    assert_eq!(jvp_value.to_bits(), value.to_bits());
    // Along m itself: Σ m[k][k] q[k] again.
    assert_close(jvp, value, 1e-15);

    let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let x = [-1.0, 1.0, 1.0];
    let (value, (dw, dx)) = strided_weights_grad(&w, &x);
    assert_eq!(value.to_bits(), strided_weights(&w, &x).to_bits());
    assert_eq!(dw, vec![-1.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    assert_eq!(dx, vec![1.0, 3.0, 4.0]);
}

/// A tuple parameter is data: no entry in the gradient (as for integers and other types).
#[differentiate]
fn spring_between(ends: (f64, f64), k: f64) -> f64 {
    let d = ends.1 - ends.0;
    0.5 * k * d * d
}

#[test]
fn a_tuple_parameter_is_data() {
    let (value, dk) = spring_between_grad((0.5, 2.0), 3.0);
    assert_eq!(value, spring_between((0.5, 2.0), 3.0));
    assert_close(dk, 0.5 * 1.5 * 1.5, 1e-15);
}

// ------------------------------------------------------------------------------------------
// A counter carried across the rows of a nested loop that sums as it goes (a packed triangle,
// a CSR cursor): the inner loop's backward iterations run inside the outer forward ones, and
// counted the counter back under its forward name, which the outer loop then carried on — the
// counter restarted every row, and the value and gradient of `_grad`, `_pullback` and
// `_hessian` were wrong (15 read as 6).
// ------------------------------------------------------------------------------------------

#[differentiate(jvp, hessian)]
fn packed_quadratic(l: &[f64], x: &[f64]) -> f64 {
    let mut idx = 0;
    let mut s = 0.0;
    for r in 0..x.len() {
        for c in 0..=r {
            s += l[idx] * x[r] * x[c];
            idx += 1;
        }
    }
    s
}

#[differentiate]
fn csr_energy(values: &[f64], cols: &[usize], row_len: &[usize], x: &[f64]) -> f64 {
    let mut k = 0;
    let mut e = 0.0;
    for r in 0..row_len.len() {
        for _ in 0..row_len[r] {
            e += x[r] * values[k] * x[cols[k]];
            k += 1;
        }
    }
    e
}

#[test]
fn counter_carried_across_rows_of_a_summing_loop() {
    let l = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
    let x = [0.5, -1.5, 2.0];
    let expected = |l: &[f64], x: &[f64]| {
        let mut s = 0.0;
        let mut idx = 0;
        for r in 0..3 {
            for c in 0..=r {
                s += l[idx] * x[r] * x[c];
                idx += 1;
            }
        }
        s
    };
    let (value, (dl, dx)) = packed_quadratic_grad(&l, &x);
    assert_eq!(value.to_bits(), packed_quadratic(&l, &x).to_bits());
    assert_close(value, expected(&l, &x), 1e-12);
    for (k, d) in dl.iter().enumerate() {
        let (r, c) = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)][k];
        assert_close(*d, x[r] * x[c], 1e-12);
    }
    let point = [&l[..], &x[..]].concat();
    let grad = [&dl[..], &dx[..]].concat();
    assert_gradient(|p| packed_quadratic(&p[..6], &p[6..]), &point, &grad, 1e-7);
    let (hv, _, h) = packed_quadratic_hessian(&l, &x);
    assert_eq!(hv.to_bits(), value.to_bits());
    // ∂²/∂x_r∂x_c of Σ l x_r x_c: the packed matrix made symmetric.
    assert_close(h[6][6], 2.0 * l[0], 1e-12);
    assert_close(h[7][6], l[1], 1e-12);
    assert_close(h[8][7], l[4], 1e-12);
    let values = [2.0, -1.0, 0.5, 3.0, 1.5];
    let (cols, row_len) = ([0, 2, 1, 0, 2], [2, 1, 2]);
    let (value, (dv, dx)) = csr_energy_grad(&values, &cols, &row_len, &x);
    assert_eq!(
        value.to_bits(),
        csr_energy(&values, &cols, &row_len, &x).to_bits()
    );
    let point = [&values[..], &x[..]].concat();
    let grad = [&dv[..], &dx[..]].concat();
    assert_gradient(
        |p| csr_energy(&p[..5], &cols, &row_len, &p[5..]),
        &point,
        &grad,
        1e-7,
    );
}

// ------------------------------------------------------------------------------------------
// An array made from a value the macro cannot see the type of (a call's result, a struct's
// field, a row of a slice) is held like a `Vec`, and `let prev = s;` named it instead of
// copying it, as Rust copies an array: a later `s[0] = ..` showed through `prev` — value and
// gradient wrong (0.72 read as 0), also through `Some(s)`, a `move` closure, a tuple part, and
// `mem::swap` with a call's result.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Differentiable)]
struct Stepper {
    step: [f64; 2],
}

#[differentiate]
fn doubled_pair(k: f64) -> [f64; 2] {
    [k, 2.0 * k]
}
#[differentiate]
fn pair_and_square(k: f64) -> ([f64; 2], f64) {
    ([k, 2.0 * k], k * k)
}

#[differentiate]
fn field_copy_then_write(p: &Stepper, k: f64) -> f64 {
    let mut s = p.step;
    let t = s;
    s[0] = 100.0 * k;
    t[0] + s[0]
}
#[differentiate]
fn field_copy_in_loop(p: &Stepper, k: f64) -> f64 {
    let mut s = p.step;
    let mut acc = 0.0;
    for _ in 0..3 {
        let prev = s;
        s[0] = prev[1] * k;
        s[1] = prev[0] + 0.1;
        acc += s[0] - prev[0];
    }
    acc
}
#[differentiate]
fn copy_into_option(k: f64) -> f64 {
    let mut s = doubled_pair(k);
    let o = Some(s);
    s[0] = 10.0 * k;
    let a = if let Some(v) = o { v[0] } else { 0.0 };
    a + s[0]
}
#[differentiate]
fn copy_into_closure(k: f64) -> f64 {
    let mut s = doubled_pair(k);
    let f = move |x: f64| s[0] * x;
    s[0] = 10.0 * k;
    f(1.0) + s[0]
}
#[differentiate]
fn copy_of_tuple_part(k: f64) -> f64 {
    let (mut s, c) = pair_and_square(k);
    let prev = s;
    s[0] = prev[1] * c;
    s[0] - prev[0] + s[1]
}
#[differentiate]
fn copies_of_rows(x: &[[f64; 2]], k: f64) -> f64 {
    let mut acc = 0.0;
    for r in x {
        let mut s = *r;
        let prev = s;
        s[0] = prev[1] * k;
        acc += s[0] - prev[0];
    }
    for i in 0..x.len() {
        let mut s = x[i];
        let prev = s;
        s[1] = prev[0] * k;
        acc += s[1] * prev[1];
    }
    acc
}
#[differentiate]
fn swap_with_call_result(k: f64) -> f64 {
    let mut a = doubled_pair(k);
    let mut b = doubled_pair(2.0 * k);
    std::mem::swap(&mut a, &mut b);
    b[0] = 100.0 * k;
    a[0] + b[0] + a[1]
}
#[differentiate]
fn ping_pong_copy(x: &[f64], k: f64) -> f64 {
    let mut cur = doubled_pair(k);
    let mut acc = 0.0;
    for &v in x {
        let old = cur;
        cur[0] = old[1] * v;
        cur[1] = old[0] + v;
        acc += cur[0] * old[0];
    }
    acc
}

#[test]
fn copies_of_arrays_made_from_values() {
    let k = 0.9;
    let w = Stepper { step: [0.3, 0.2] };
    let x = [[0.3, 0.2], [-0.5, 0.7]];
    let xs = [0.5, -0.3, 1.2];
    type Check<'a> = (
        &'a str,
        &'a dyn Fn(f64) -> f64,
        &'a dyn Fn(f64) -> (f64, f64),
    );
    let checks: [Check; 8] = [
        ("field", &|k| field_copy_then_write(&w, k), &|k| {
            let (v, (_, d)) = field_copy_then_write_grad(&w, k);
            (v, d)
        }),
        ("loop", &|k| field_copy_in_loop(&w, k), &|k| {
            let (v, (_, d)) = field_copy_in_loop_grad(&w, k);
            (v, d)
        }),
        ("option", &copy_into_option, &copy_into_option_grad),
        ("closure", &copy_into_closure, &copy_into_closure_grad),
        ("tuple", &copy_of_tuple_part, &copy_of_tuple_part_grad),
        ("rows", &|k| copies_of_rows(&x, k), &|k| {
            let (v, (_, d)) = copies_of_rows_grad(&x, k);
            (v, d)
        }),
        ("swap", &swap_with_call_result, &swap_with_call_result_grad),
        ("ping-pong", &|k| ping_pong_copy(&xs, k), &|k| {
            let (v, (_, d)) = ping_pong_copy_grad(&xs, k);
            (v, d)
        }),
    ];
    for (name, f, grad) in checks {
        let (value, d) = grad(k);
        assert_eq!(value.to_bits(), f(k).to_bits(), "{name}");
        assert_gradient(|p| f(p[0]), &[k], &[d], 1e-7);
    }
    let (value, (dw, dk)) = field_copy_in_loop_grad(&w, k);
    assert_eq!(value.to_bits(), field_copy_in_loop(&w, k).to_bits());
    let point = [w.step[0], w.step[1], k];
    let loop_of = |p: &[f64]| field_copy_in_loop(&Stepper { step: [p[0], p[1]] }, p[2]);
    assert_gradient(loop_of, &point, &[dw.step[0], dw.step[1], dk], 1e-7);
}

// ------------------------------------------------------------------------------------------
// Arrays and `Vec`s swapped by tuple assignment, `(u, v) = (v, u)`: the first place was
// written before the second read it, so both held `v` — value and gradient wrong (12 read as
// 22), also the three-level leapfrog rotation `(prev, cur, next) = (cur, next, prev)`.
// ------------------------------------------------------------------------------------------

#[differentiate(jvp)]
fn swapped_by_tuple(a: [f64; 2], b: &[f64]) -> f64 {
    let mut u = a;
    let mut v = [b[0], b[1]];
    (u, v) = (v, u);
    let mut p = b.to_vec();
    let mut q = vec![a[0] * a[1], a[1]];
    (p, q) = (q, p);
    u[0] + 10.0 * v[0] + p[0] * q[1]
}

#[differentiate]
fn leapfrog_heat(u0: &[f64], k: f64) -> f64 {
    let n = u0.len();
    let mut prev = u0.to_vec();
    let mut cur = u0.to_vec();
    let mut next = vec![0.0; n];
    for _ in 0..4 {
        for i in 1..n - 1 {
            next[i] = prev[i] + k * (cur[i - 1] - 2.0 * cur[i] + cur[i + 1]);
        }
        (prev, cur, next) = (cur, next, prev);
    }
    cur.iter().map(|v| v * v).sum::<f64>() + prev[1]
}

#[test]
fn arrays_swapped_by_tuple_assignment() {
    let (a, b) = ([1.0, 0.5], [2.0, -0.25]);
    let (value, (da, db)) = swapped_by_tuple_grad(a, &b);
    assert_eq!(value.to_bits(), swapped_by_tuple(a, &b).to_bits());
    assert_eq!(value, 2.0 + 10.0 * 1.0 + (1.0 * 0.5) * -0.25);
    let point = [a[0], a[1], b[0], b[1]];
    let grad = [da[0], da[1], db[0], db[1]];
    assert_gradient(
        |p| swapped_by_tuple([p[0], p[1]], &p[2..]),
        &point,
        &grad,
        1e-8,
    );
    let (_, tangent) = swapped_by_tuple_jvp(a, &b, ([1.0, 0.0], vec![0.0, 1.0]));
    assert_close(tangent, grad[0] + grad[3], 1e-12);
    let u0 = [0.0, 0.7, -0.3, 0.4, 0.0];
    let (value, (du, dk)) = leapfrog_heat_grad(&u0, 0.2);
    assert_eq!(value.to_bits(), leapfrog_heat(&u0, 0.2).to_bits());
    let point = [&u0[..], &[0.2]].concat();
    let grad = [&du[..], &[dk]].concat();
    assert_gradient(|p| leapfrog_heat(&p[..5], p[5]), &point, &grad, 1e-7);
}

// Rows and nested tuples as the places of a tuple assignment, `(m[0], m[1]) = (m[1], m[0])`:
// the row a later part read had been written by then (a bubble-sort pass over rows gave 15.25
// for 51.5).

#[differentiate(jvp)]
fn rows_swapped_by_tuple(x: &[f64], y: [f64; 2]) -> f64 {
    let mut m = [[x[0], x[1]], [x[2], x[3]]];
    (m[0], m[1]) = (m[1], m[0]);
    let mut a = y;
    (m[1], a) = (a, m[1]);
    let (mut p, mut q, mut r) = ([x[0]], [x[1]], [y[0]]);
    ((p, q), r) = ((r, p), q);
    m[0][0] + 10.0 * m[0][1] + 100.0 * m[1][0] + 1000.0 * m[1][1] + a[0] * a[1] + p[0] * q[0] - r[0]
}

#[differentiate]
fn bubble_pass_over_rows(p: &[[f64; 2]]) -> f64 {
    let mut m = p.to_vec();
    for j in 0..m.len() - 1 {
        if m[j][0] > m[j + 1][0] {
            (m[j], m[j + 1]) = (m[j + 1], m[j]);
        }
    }
    m[0][1] + 10.0 * m[1][1] + 100.0 * m[2][1]
}

#[test]
fn rows_and_nested_tuples_assigned() {
    let (x, y) = ([1.0, 2.0, 3.0, 4.0], [0.5, -1.5]);
    let (value, (dx, dy)) = rows_swapped_by_tuple_grad(&x, y);
    assert_eq!(value.to_bits(), rows_swapped_by_tuple(&x, y).to_bits());
    let point = [&x[..], &y[..]].concat();
    let grad = [&dx[..], &dy[..]].concat();
    let f = |p: &[f64]| rows_swapped_by_tuple(&p[..4], [p[4], p[5]]);
    assert_gradient(f, &point, &grad, 1e-8);
    let (_, tangent) = rows_swapped_by_tuple_jvp(&x, y, (vec![1.0, 0.0, 0.0, 0.5], [0.0, 1.0]));
    assert_close(tangent, grad[0] + 0.5 * grad[3] + grad[5], 1e-12);
    let p = [[2.0, 0.5], [1.0, -0.25], [3.0, 1.5]];
    let (value, dp) = bubble_pass_over_rows_grad(&p);
    assert_eq!(value.to_bits(), bubble_pass_over_rows(&p).to_bits());
    assert_eq!(value, -0.25 + 5.0 + 150.0);
    assert_eq!(dp, vec![[0.0, 10.0], [0.0, 1.0], [0.0, 100.0]]);
}

/// Second order through a loop whose active carried float only steps by constants (`ap += 1.0`,
/// `t += dt`, `(v, w) = (v + 1.0, w - 0.5)`): its tangent is carried unchanged, and the reverse
/// pass over the tangent code lost all but one iteration's adjoint of it, so the gradient that
/// `_hvp` and `_hessian` return was wrong (7 for 16 in the first; the incomplete gamma series
/// of Numerical Recipes' `gser` gave -0.2858 for -0.2982). Found by a hunt over numerical code.
mod stepped_by_constants {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::differentiate;

    #[differentiate(hessian)]
    fn squares(a: f64) -> f64 {
        let mut ap = a;
        let mut s = 0.0;
        for _ in 0..2 {
            ap += 1.0;
            s += ap * ap;
        }
        s
    }

    #[differentiate(hessian)]
    fn gser_sum(a: f64, x: f64) -> f64 {
        let mut ap = a;
        let mut del = 1.0 / a;
        let mut sum = del;
        for _ in 0..500 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        sum
    }

    #[differentiate(hessian)]
    fn stepped(t0: f64, k: f64) -> f64 {
        let dt = 0.1;
        let (mut v, mut w) = (t0, k);
        let mut t = t0;
        let mut s = 0.0;
        for i in 0..4 {
            t += dt;
            (v, w) = (v + 1.0, w - 0.5);
            s += (k * t).sin() * v + w * w * i as f64;
        }
        let acc = (0..3).fold((t0, 0.0), |(t, s), _| (t + 0.25, s + t * k));
        s + acc.1
    }

    #[test]
    fn hvp_gradient_of_a_float_stepped_by_constants() {
        let (_, g) = squares_grad(2.5);
        assert_eq!(g, 16.0);
        let (_, g_hvp, hv) = squares_hvp(2.5, 1.0);
        let (_, g_hess, h) = squares_hessian(2.5);
        assert_eq!((g_hvp, hv, g_hess, h), (16.0, 4.0, 16.0, vec![vec![4.0]]));

        let (a, x) = (2.5, 1.2);
        let (_, (ga, gx)) = gser_sum_grad(a, x);
        assert_gradient(|p| gser_sum(p[0], p[1]), &[a, x], &[ga, gx], 1e-7);
        let (_, (ha, hx), _) = gser_sum_hvp(a, x, (1.0, 0.0));
        let (_, (sa, sx), hessian) = gser_sum_hessian(a, x);
        for (u, v) in [(ha, ga), (hx, gx), (sa, ga), (sx, gx)] {
            assert_close(u, v, 1e-12);
        }
        for i in 0..2 {
            let row = |p: &[f64]| {
                let (_, (da, dx)) = gser_sum_grad(p[0], p[1]);
                [da, dx][i]
            };
            assert_gradient(row, &[a, x], &hessian[i], 1e-6);
        }

        let (t0, k) = (0.3, 1.7);
        let (_, (gt, gk)) = stepped_grad(t0, k);
        assert_gradient(|p| stepped(p[0], p[1]), &[t0, k], &[gt, gk], 1e-7);
        let (_, (st, sk), hessian) = stepped_hessian(t0, k);
        assert_close(st, gt, 1e-12);
        assert_close(sk, gk, 1e-12);
        for i in 0..2 {
            let row = |p: &[f64]| {
                let (_, (dt, dk)) = stepped_grad(p[0], p[1]);
                [dt, dk][i]
            };
            assert_gradient(row, &[t0, k], &hessian[i], 1e-6);
        }
    }
}

/// `_hvp` of a function taking a `#[derive(Differentiable)]` struct by value: the gradient's
/// skipped fields were restored from the parameter after the sweeps had taken it (E0382 from
/// generated code). Found by the shape corpus once it checked `_hvp`.
mod hvp_of_a_struct_by_value {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Debug, Default, PartialEq, Differentiable)]
    pub struct Params {
        pub w: [f64; 2],
        pub b: f64,
        #[differentiable(skip)]
        pub t: f64,
        #[differentiable(skip)]
        pub n: usize,
    }

    #[differentiate(hessian)]
    fn score(p: &Params, x: f64) -> f64 {
        p.w[0] * x * x + p.b * p.t
    }

    #[differentiate(hessian)]
    fn steps(a: f64, p: Params) -> f64 {
        let mut x = a;
        for _ in 0..p.n {
            x = 0.5 * x + score(&p, x).tanh() * p.w[1];
        }
        x
    }

    #[test]
    fn hvp_with_a_struct_taken_by_value() {
        let p = Params {
            w: [0.3, 0.2],
            b: 0.4,
            t: 1.5,
            n: 3,
        };
        let a = 0.7;
        // The direction's skipped fields hold garbage: they must not reach the results.
        let dir = (
            0.3,
            Params {
                w: [0.1, -0.2],
                b: 0.7,
                t: 9.0,
                n: 7,
            },
        );
        let (value, grad) = steps_grad(a, p.clone());
        let (hvp_value, hvp_grad, hv) = steps_hvp(a, p.clone(), dir.clone());
        assert_eq!(value.to_bits(), steps(a, p.clone()).to_bits());
        assert_eq!((hvp_value, &hvp_grad), (value, &grad));
        assert_eq!((hv.1.t, hv.1.n), (p.t, p.n));
        // H dir, component by component: the derivative of that gradient component along dir.
        let along = |s: f64| {
            let q = Params {
                w: [p.w[0] + s * dir.1.w[0], p.w[1] + s * dir.1.w[1]],
                b: p.b + s * dir.1.b,
                ..p.clone()
            };
            let (_, (ga, gp)) = steps_grad(a + s * dir.0, q);
            [ga, gp.w[0], gp.w[1], gp.b]
        };
        let expected = [hv.0, hv.1.w[0], hv.1.w[1], hv.1.b];
        for (i, &e) in expected.iter().enumerate() {
            assert_gradient(|s| along(s[0])[i], &[0.0], &[e], 1e-7);
        }
    }
}

/// Errors from generated code on ordinary code, found by the hunts over graphics, physics and
/// library layouts: each now differentiates, checked against central differences.
mod from_generated_code_errors {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Copy, Debug, Default, PartialEq, Differentiable)]
    pub struct Body {
        pub x: [f64; 2],
        pub m: f64,
    }

    /// A getter of an array field: its adjoint was added with `+=` on an array (E0368).
    #[differentiate]
    fn position(b: &Body) -> [f64; 2] {
        b.x
    }

    #[differentiate]
    fn position_bound(b: &Body, k: f64) -> [f64; 2] {
        let p = b.x;
        if k > 0.0 {
            return p;
        }
        [b.m, k]
    }

    #[differentiate]
    fn through_getters(b: Body, k: f64) -> f64 {
        let q = position(&b);
        let r = position_bound(&b, k);
        q[0] * q[1] + b.m * r[0] + r[1] * k
    }

    /// The first hit's distance and normal, returned from inside nested loops: the returned
    /// array was declared inside the loop and read after it (E0425).
    #[differentiate(jvp)]
    fn first_hit(x: &[f64], r: f64) -> (f64, Vec<f64>) {
        for (i, v) in x.iter().enumerate() {
            for k in 0..2 {
                if *v > 1.0 + k as f64 {
                    let n = vec![v * r, r * k as f64];
                    return (r * i as f64, n);
                }
            }
            if *v < -5.0 {
                return (0.5, vec![r, r * v]);
            }
        }
        (0.0, vec![0.0, r * r])
    }

    /// A step returning positions computed from the velocities it also returns: the backward
    /// sweep keeps the velocities, which the tuple had moved (E0382).
    #[differentiate(hessian)]
    fn step(x: &[f64], v: &[f64], k: f64) -> (Vec<f64>, Vec<f64>) {
        let n = x.len();
        let mut nv = vec![0.0; n];
        for i in 0..n {
            nv[i] = v[i] - k * x[i];
        }
        let mut nx = vec![0.0; n];
        for i in 0..n {
            nx[i] = x[i] + nv[i] * nv[i];
        }
        (nx, nv)
    }

    #[differentiate(hessian)]
    fn stepped(x: &[f64], v: &[f64], k: f64) -> f64 {
        let (a, b) = step(x, v, k);
        a[0] * b[1] + a[1] * a[1]
    }

    /// Struct update from `Default::default()` (E0282), and an annotated copy of a struct
    /// changed field by field (rejected).
    #[differentiate]
    fn spawned(x: f64, v: f64) -> f64 {
        let mut p = Body {
            x: [x, 0.0],
            ..Default::default()
        };
        p.m = v * x;
        let mut q: Body = p;
        q.x[1] = v;
        p.x[0] + q.m * q.x[1] + p.m
    }

    #[test]
    fn getters_returns_in_loops_kept_outputs_and_updates() {
        let b = Body {
            x: [0.1, 0.5],
            m: 2.0,
        };
        assert_eq!(
            position_pullback(&b, [1.0, 2.0]),
            Body {
                x: [1.0, 2.0],
                m: 0.0
            }
        );
        for k in [0.7, -0.4] {
            let (value, (gb, gk)) = through_getters_grad(b, k);
            assert_eq!(value.to_bits(), through_getters(b, k).to_bits());
            let f = |p: &[f64]| {
                through_getters(
                    Body {
                        x: [p[0], p[1]],
                        m: p[2],
                    },
                    p[3],
                )
            };
            assert_gradient(f, &[0.1, 0.5, 2.0, k], &[gb.x[0], gb.x[1], gb.m, gk], 1e-7);
        }

        for x in [[0.5, 2.0], [0.5, 3.5], [0.5, 0.7], [-6.0, 0.7]] {
            let (r, seed) = (1.3, (0.7, vec![0.5, 0.25]));
            let (_, dr) = first_hit_pullback(&x, r, seed.clone());
            let f = |p: &[f64]| {
                let (a, v) = first_hit(&x, p[0]);
                seed.0 * a + seed.1[0] * v[0] + seed.1[1] * v[1]
            };
            assert_gradient(f, &[r], &[dr], 1e-7);
            let (value, (ta, tv)) = first_hit_jvp(&x, r, (vec![0.0; 2], 1.0));
            assert_eq!(value, first_hit(&x, r));
            assert!((seed.0 * ta + seed.1[0] * tv[0] + seed.1[1] * tv[1] - dr).abs() < 1e-12);
        }

        let (x, v, k) = ([1.0, 2.0], [0.5, 0.25], 0.1);
        let (dx, dv, dk) = step_pullback(&x, &v, k, (vec![1.0, 0.0], vec![0.0, 1.0]));
        let f = |p: &[f64]| {
            let (a, b) = step(&p[0..2], &p[2..4], p[4]);
            a[0] + b[1]
        };
        let g = [dx[0], dx[1], dv[0], dv[1], dk];
        assert_gradient(f, &[x[0], x[1], v[0], v[1], k], &g, 1e-7);
        let (_, _, hv) = stepped_hvp(&x, &v, k, (vec![0.0; 2], vec![0.0; 2], 1.0));
        let dk_at = |p: &[f64]| stepped_grad(&x, &v, p[0]).1.2;
        assert_gradient(dk_at, &[k], &[hv.2], 1e-7);

        let (value, (gx, gv)) = spawned_grad(0.3, 0.7);
        assert_eq!(value.to_bits(), spawned(0.3, 0.7).to_bits());
        assert_gradient(|p| spawned(p[0], p[1]), &[0.3, 0.7], &[gx, gv], 1e-7);
    }

    #[differentiate]
    fn loss(pred: f64, target: f64) -> f64 {
        0.5 * (pred - target) * (pred - target)
    }

    #[derive(Clone, Differentiable)]
    struct Model {
        w: f64,
    }

    #[differentiate]
    impl Model {
        /// A method calling the free function of its own name: not recursion (it was taken
        /// for it).
        #[differentiate(wrt(self))]
        fn loss(&self, x: f64, y: f64) -> f64 {
            loss(self.w * x, y)
        }
    }

    #[differentiate]
    impl Model {
        /// An associated function taking `Self`, the same.
        #[differentiate]
        fn scaled_loss(m: &Self, x: f64, y: f64) -> f64 {
            2.0 * loss(m.w * x, y)
        }
    }

    #[derive(Clone, Copy, Debug, Default, Differentiable)]
    pub struct P2<T> {
        pub x: T,
        pub y: T,
    }

    /// `..Default::default()` of a generic struct (E0107 with a first fix that named the type).
    #[differentiate]
    fn spawn(a: f64, b: f64) -> f64 {
        let p = P2 {
            x: a * b,
            ..Default::default()
        };
        let q = P2 {
            y: a,
            ..P2::default()
        };
        p.x + p.y * a + q.y * b
    }

    #[test]
    fn a_method_calls_the_free_function_of_its_name() {
        let (value, g) = Model { w: 1.5 }.loss_grad(2.0, 1.0);
        assert_eq!((value, g.w), (2.0, 4.0));
        let (value, (g, _, _)) = Model::scaled_loss_grad(&Model { w: 1.5 }, 2.0, 1.0);
        assert_eq!((value, g.w), (4.0, 8.0));
        let (value, g) = spawn_grad(0.5, 2.0);
        assert_eq!((value, g), (2.0, (4.0, 1.0)));
    }
}

/// Rejected ordinary code from the hunt over economics and operations research: index data in
/// a parameter struct, fields of a data slice's elements, struct literals built from elements
/// of another struct's fields. Each checked against central differences.
mod data_in_structs {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};
    use std::collections::HashMap;

    /// `Vec<usize>`, pairs and maps of integers are carried along like a `usize` field (they
    /// were "`usize` is not `Differentiable`").
    #[derive(Clone, Debug, Differentiable)]
    pub struct Model {
        pub beta: f64,
        pub active: Vec<usize>,
        pub pairs: Vec<(usize, usize)>,
        pub names: HashMap<String, usize>,
        pub w: Vec<f64>,
    }

    #[differentiate]
    fn penalty(m: &Model, x: f64) -> f64 {
        let mut s = m.beta * m.beta * x;
        for &i in &m.active {
            s += m.w[i] * x;
        }
        for &(a, b) in &m.pairs {
            s += m.w[a] * m.w[b];
        }
        s
    }

    /// A data struct that is not `Clone`, read by index (its element was cloned: E0277).
    pub struct Obs {
        pub x: [f64; 2],
        pub y: f64,
        pub w: Vec<f64>,
        pub k: usize,
    }

    #[differentiate(wrt(b))]
    fn sse(b: &[f64], data: &[Obs]) -> f64 {
        let mut s = 0.0;
        for i in 0..data.len() {
            let e = data[i].y - b[0] * data[i].x[0] - b[1] * data[i].x[1];
            s += e * e * data[i].w[data[i].k];
        }
        s + data[0].y * b[0].sin()
    }

    pub struct Inner {
        pub scale: f64,
    }

    pub struct Rec {
        pub inner: Inner,
        pub vals: Vec<f64>,
    }

    /// A field of a field of a data item (`Inner: Clone` was required).
    #[differentiate(wrt(a))]
    fn nested(a: f64, recs: &[Rec]) -> f64 {
        let mut t = 0.0;
        for i in 0..recs.len() {
            let sc = recs[i].inner.scale;
            for j in 0..recs[i].vals.len() {
                t += (a * recs[i].vals[j] * sc).sin();
            }
        }
        t
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Seg {
        a: [f64; 2],
        b: [f64; 2],
        w: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Poly {
        pts: Vec<[f64; 2]>,
        ws: Vec<f64>,
    }

    #[differentiate]
    fn seg_len(s: &Seg) -> f64 {
        let (dx, dy) = (s.b[0] - s.a[0], s.b[1] - s.a[1]);
        s.w * (dx * dx + dy * dy).sqrt()
    }

    /// Struct literals whose fields are rows and numbers of another struct's fields (were
    /// "a field of a struct built here must be a number, an array or a struct").
    #[differentiate]
    fn perimeter(p: &Poly) -> f64 {
        let mut t = 0.0;
        for i in 0..p.pts.len() - 1 {
            let s = Seg {
                a: p.pts[i],
                b: p.pts[i + 1],
                w: p.ws[i],
            };
            t += seg_len(&s);
        }
        t
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Cloth {
        pub m: Vec<Vec<f64>>,
        pub p: [[f64; 2]; 3],
        pub k: f64,
    }

    /// Whole rows assigned into a struct's fields (`c.vel[i] = [0.0, 0.0]`; were "only numbers
    /// can be stored in array elements"). Found by the hunt over physics code.
    #[differentiate]
    fn rows_of_fields(c0: &Cloth, x: f64) -> f64 {
        let mut c = c0.clone();
        for step in 0..3 {
            let r = vec![c.m[0][1] * x, c.k + step as f64];
            c.m[1] = r;
            c.p[step] = [c.p[step][0] * c.m[1][0], x * c.k];
            c.k = c.k * 0.5 + c.p[step][1];
            if c.p[step][0] < 0.0 {
                c.p[step] = [0.0, 0.0];
            }
        }
        c.m[1][0] * c.m[1][1] + c.p[2][0] + c.p[1][1] * c.k + c.m[0][0]
    }

    #[test]
    fn rows_assigned_into_fields() {
        let flat = |c: &Cloth| -> Vec<f64> {
            let mut v: Vec<f64> = c.m.iter().flatten().copied().collect();
            v.extend(c.p.iter().flatten());
            v.push(c.k);
            v
        };
        let cloth = |v: &[f64]| Cloth {
            m: vec![v[0..2].to_vec(), v[2..4].to_vec()],
            p: [[v[4], v[5]], [v[6], v[7]], [v[8], v[9]]],
            k: v[10],
        };
        for p1 in [0.2, -0.2] {
            let c = Cloth {
                m: vec![vec![0.3, 0.7], vec![1.1, -0.4]],
                p: [[p1, 0.4], [0.6, 0.8], [1.0, 1.2]],
                k: 0.9,
            };
            let (value, (g, gx)) = rows_of_fields_grad(&c, 0.8);
            assert_eq!(value.to_bits(), rows_of_fields(&c, 0.8).to_bits());
            let mut x = flat(&c);
            x.push(0.8);
            let mut grad = flat(&g);
            grad.push(gx);
            assert_gradient(|v| rows_of_fields(&cloth(v), v[11]), &x, &grad, 1e-7);
        }
    }

    #[test]
    fn index_data_data_slices_and_literals_of_elements() {
        let m = Model {
            beta: 0.5,
            active: vec![0, 2],
            pairs: vec![(0, 1), (1, 2)],
            names: HashMap::from([("a".to_owned(), 1)]),
            w: vec![0.1, 0.2, 0.3],
        };
        let (value, (g, gx)) = penalty_grad(&m, 2.0);
        assert_eq!(value.to_bits(), penalty(&m, 2.0).to_bits());
        assert_eq!(
            (&g.active, &g.pairs, &g.names),
            (&m.active, &m.pairs, &m.names)
        );
        let f = |p: &[f64]| {
            let q = Model {
                beta: p[0],
                w: p[1..4].to_vec(),
                ..m.clone()
            };
            penalty(&q, p[4])
        };
        let grad = [g.beta, g.w[0], g.w[1], g.w[2], gx];
        assert_gradient(f, &[0.5, 0.1, 0.2, 0.3, 2.0], &grad, 1e-8);

        let data = vec![
            Obs {
                x: [1.0, 2.0],
                y: 3.5,
                w: vec![1.0, 2.0],
                k: 1,
            },
            Obs {
                x: [0.5, -1.0],
                y: 0.2,
                w: vec![0.5],
                k: 0,
            },
        ];
        let recs = vec![
            Rec {
                inner: Inner { scale: 0.7 },
                vals: vec![0.3, 1.1],
            },
            Rec {
                inner: Inner { scale: -0.2 },
                vals: vec![2.0],
            },
        ];
        let (value, g) = nested_grad(0.8, &recs);
        assert_eq!(value.to_bits(), nested(0.8, &recs).to_bits());
        assert_gradient(|a| nested(a[0], &recs), &[0.8], &[g], 1e-8);

        let (value, g) = sse_grad(&[0.7, 1.1], &data);
        assert_eq!(value.to_bits(), sse(&[0.7, 1.1], &data).to_bits());
        assert_gradient(|b| sse(b, &data), &[0.7, 1.1], &g, 1e-8);

        let p = Poly {
            pts: vec![[0.0, 0.1], [1.0, 0.3], [1.5, 2.0]],
            ws: vec![1.0, 2.0, 0.5],
        };
        let (value, g) = perimeter_grad(&p);
        assert_eq!(value.to_bits(), perimeter(&p).to_bits());
        let f = |x: &[f64]| {
            let pts = vec![[x[0], x[1]], [x[2], x[3]], [x[4], x[5]]];
            perimeter(&Poly {
                pts,
                ws: x[6..9].to_vec(),
            })
        };
        let mut x: Vec<f64> = p.pts.iter().flatten().copied().collect();
        x.extend(&p.ws);
        let mut grad: Vec<f64> = g.pts.iter().flatten().copied().collect();
        grad.extend(&g.ws);
        assert_gradient(f, &x, &grad, 1e-8);
    }
}

/// Arrays, rows and fields returned from inside loops, found by a review of the first fix for
/// `return (t, [x, y])` in loops: returns in two loops one after the other (rejected), tuples of
/// two arrays from `return` and `break` (an internal error), rows `m[i]` (rejected; `return m[i]`
/// in a function returning an array once gave a zero gradient during development), and a local
/// struct's array field (E0277 from generated code).
mod returned_from_loops {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    #[differentiate]
    fn two_loops(x: [f64; 2], c: f64) -> (f64, [f64; 2]) {
        let mut a = x;
        for _ in 0..3 {
            a[0] *= c;
            if a[0] > 3.0 {
                return (c, a);
            }
        }
        for _ in 0..3 {
            a[1] *= c;
            if a[1] > 3.0 {
                return (c * a[1], a);
            }
        }
        (c, a)
    }

    #[differentiate]
    fn two_arrays(x: [f64; 2], c: f64) -> ([f64; 2], [f64; 2]) {
        let a = [x[0] * c, x[1]];
        let b = [c, x[0]];
        for i in 0..3 {
            if c < i as f64 {
                return (a, b);
            }
        }
        (b, a)
    }

    #[differentiate]
    fn broken_pair(x: [f64; 2], c: f64) -> f64 {
        let mut a = x;
        let mut b = [c, c];
        let (p, q) = loop {
            a[0] *= c;
            b[1] += a[0];
            if b[1] > 3.0 {
                break (a, b);
            }
        };
        p[0] * q[1] + p[1] * q[0]
    }

    #[differentiate]
    fn row_in_tuple(x: [f64; 3], c: f64) -> (f64, [f64; 2]) {
        let mut m = [[0.0; 2]; 3];
        for i in 0..3 {
            m[i] = [x[i] * c, x[i] + c];
            if m[i][0] > 1.0 {
                return (c * i as f64, m[i]);
            }
        }
        (0.0, m[2])
    }

    #[differentiate]
    fn row(x: [f64; 3], c: f64) -> [f64; 2] {
        let mut m = [[0.0; 2]; 3];
        for i in 0..3 {
            m[i] = [x[i] * c, x[i] + c];
            if m[i][0] > 1.0 {
                return m[i];
            }
        }
        if c > 0.5 {
            return m[1];
        }
        m[0]
    }

    /// A row as a `break` value.
    #[differentiate]
    fn broken_row(x: [f64; 3], c: f64) -> f64 {
        let mut m = [[0.0; 2]; 3];
        let mut i = 0;
        let r = loop {
            m[i] = [x[i] * c, x[i] + c];
            if m[i][0] > 1.0 || i == 2 {
                break m[i];
            }
            i += 1;
        };
        r[0] * r[1]
    }

    #[derive(Clone, Copy, Debug, Default, PartialEq, Differentiable)]
    pub struct Body {
        pub x: [f64; 2],
        pub m: f64,
    }

    #[differentiate]
    fn field_of_local(b: &Body, dt: f64) -> (f64, [f64; 2]) {
        let mut s = *b;
        for _ in 0..3 {
            s.m *= dt;
            s.x[1] += s.m;
            if s.m > 1.0 {
                return (dt, s.x);
            }
        }
        (dt * dt, s.x)
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Layer {
        pub w: Vec<[f64; 2]>,
        pub b: Vec<f64>,
    }

    /// A row of a struct's field returned (rejected).
    #[differentiate]
    fn first_strong(l: &Layer, x: [f64; 2]) -> [f64; 2] {
        for j in 0..l.w.len() {
            if l.w[j][0] * x[0] > 0.2 {
                return l.w[j];
            }
        }
        [x[0] * l.b[0], x[1]]
    }

    /// A guard's `return` before a loop that returns too (rejected).
    #[differentiate]
    fn guarded(x: &[f64], c: f64) -> (f64, Vec<f64>) {
        if x.is_empty() {
            return (0.0, vec![c]);
        }
        let mut v = x.to_vec();
        for i in 0..v.len() {
            v[i] *= c;
            if v[i] > 3.0 {
                return (c, v);
            }
        }
        (c * c, v)
    }

    /// A struct's whole array field against a local array in an `if` and a `match` (rejected
    /// with a message about rows).
    #[differentiate]
    fn chosen(b: &Body, c: f64, mode: usize) -> f64 {
        let mut s = *b;
        s.x[0] *= c;
        let q = match mode {
            0 => s.x,
            1 => [c, c * c],
            _ => b.x,
        };
        let r = if c < 0.0 { [b.m, c] } else { s.x };
        let t = if c > 0.5 { b.x } else { [b.m, c] };
        q[0] * q[1] + r[0] * r[1] + t[0] * t[1]
    }

    /// `seed · f(p)` of a function of two arrays, or of an array and a number.
    fn check<F: Fn(&[f64]) -> f64>(f: F, p: &[f64], grad: &[f64]) {
        assert_gradient(f, p, grad, 1e-7);
    }

    #[test]
    fn arrays_rows_and_fields_returned_from_loops() {
        for (x, c) in [
            ([1.0, 2.0], 1.45),
            ([1.0, 2.0], 1.1),
            ([0.1, 0.2], 1.2),
            ([0.5, 0.2], 2.5),
        ] {
            let s = (0.3, [0.7, -0.4]);
            let (dx, dc) = two_loops_pullback(x, c, s);
            let f = |p: &[f64]| {
                let (t, a) = two_loops([p[0], p[1]], p[2]);
                s.0 * t + s.1[0] * a[0] + s.1[1] * a[1]
            };
            check(f, &[x[0], x[1], c], &[dx[0], dx[1], dc]);

            let s = ([0.7, -0.4], [0.2, 0.9]);
            let (dx, dc) = two_arrays_pullback(x, c, s);
            let f = |p: &[f64]| {
                let (a, b) = two_arrays([p[0], p[1]], p[2]);
                s.0[0] * a[0] + s.0[1] * a[1] + s.1[0] * b[0] + s.1[1] * b[1]
            };
            check(f, &[x[0], x[1], c], &[dx[0], dx[1], dc]);

            let (value, (dx, dc)) = broken_pair_grad(x, c);
            assert_eq!(value.to_bits(), broken_pair(x, c).to_bits());
            check(
                |p| broken_pair([p[0], p[1]], p[2]),
                &[x[0], x[1], c],
                &[dx[0], dx[1], dc],
            );
        }
        for c in [0.9, 0.3, 2.5] {
            let x = [0.3, 1.5, 0.2];
            let s = (0.4, [0.7, -0.3]);
            let (dx, dc) = row_in_tuple_pullback(x, c, s);
            let f = |p: &[f64]| {
                let (t, r) = row_in_tuple([p[0], p[1], p[2]], p[3]);
                s.0 * t + s.1[0] * r[0] + s.1[1] * r[1]
            };
            check(f, &[x[0], x[1], x[2], c], &[dx[0], dx[1], dx[2], dc]);
            let (value, (dx, dc)) = broken_row_grad(x, c);
            assert_eq!(value.to_bits(), broken_row(x, c).to_bits());
            let f = |p: &[f64]| broken_row([p[0], p[1], p[2]], p[3]);
            check(f, &[x[0], x[1], x[2], c], &[dx[0], dx[1], dx[2], dc]);
            let (dx, dc) = row_pullback(x, c, s.1);
            let f = |p: &[f64]| {
                let r = row([p[0], p[1], p[2]], p[3]);
                s.1[0] * r[0] + s.1[1] * r[1]
            };
            check(f, &[x[0], x[1], x[2], c], &[dx[0], dx[1], dx[2], dc]);
        }
        for (x, c) in [(vec![1.0, 0.5], 1.7), (vec![1.0, 0.5], 4.0), (vec![], 0.3)] {
            // A seed as long as the result.
            let s = (0.5, [1.0, -0.7][..x.len().max(1)].to_vec());
            let (dx, dc) = guarded_pullback(&x, c, s.clone());
            let n = x.len();
            let f = |p: &[f64]| {
                let (a, b) = guarded(&p[..n], p[n]);
                s.0 * a + b.iter().zip(&s.1).map(|(u, v)| u * v).sum::<f64>()
            };
            let mut p = x.clone();
            p.push(c);
            let mut grad = dx.clone();
            grad.push(dc);
            check(f, &p, &grad);
        }
        for x0 in [0.8, 0.1] {
            let l = Layer {
                w: vec![[0.3, -0.8], [0.9, 0.4]],
                b: vec![0.1, -0.2],
            };
            let (gl, gx) = first_strong_pullback(&l, [x0, -0.45], [1.0, 2.0]);
            let f = |p: &[f64]| {
                let l = Layer {
                    w: vec![[p[0], p[1]], [p[2], p[3]]],
                    b: vec![p[4], p[5]],
                };
                let r = first_strong(&l, [p[6], p[7]]);
                r[0] + 2.0 * r[1]
            };
            let p = [0.3, -0.8, 0.9, 0.4, 0.1, -0.2, x0, -0.45];
            let g = [
                gl.w[0][0], gl.w[0][1], gl.w[1][0], gl.w[1][1], gl.b[0], gl.b[1], gx[0], gx[1],
            ];
            check(f, &p, &g);
        }
        for mode in 0..3 {
            for c in [0.7, -0.3, 0.2] {
                let b = Body {
                    x: [0.5, 1.5],
                    m: 2.0,
                };
                let (value, (g, gc)) = chosen_grad(&b, c, mode);
                assert_eq!(value.to_bits(), chosen(&b, c, mode).to_bits());
                let f = |p: &[f64]| {
                    chosen(
                        &Body {
                            x: [p[0], p[1]],
                            m: p[2],
                        },
                        p[3],
                        mode,
                    )
                };
                check(f, &[0.5, 1.5, 2.0, c], &[g.x[0], g.x[1], g.m, gc]);
            }
        }
        for dt in [2.0, 1.1] {
            let b = Body {
                x: [0.5, 0.25],
                m: 0.7,
            };
            let s = (0.3, [1.0, -0.6]);
            let (db, ddt) = field_of_local_pullback(&b, dt, s);
            let f = |p: &[f64]| {
                let (t, x) = field_of_local(
                    &Body {
                        x: [p[0], p[1]],
                        m: p[2],
                    },
                    p[3],
                );
                s.0 * t + s.1[0] * x[0] + s.1[1] * x[1]
            };
            check(f, &[0.5, 0.25, 0.7, dt], &[db.x[0], db.x[1], db.m, ddt]);
        }
    }
}

/// Integers' own methods on a length (`x.len().saturating_sub(1)`) were taken for methods
/// without a derivative rule applied to a differentiated value. Found by the time-series hunt.
mod integer_methods_of_lengths {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate]
    fn sample_var(x: &[f64]) -> f64 {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let dof = x.len().saturating_sub(1) as f64;
        let lag = x.len().abs_diff(1).max(1);
        x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / dof + x[lag] * 0.1
    }

    #[test]
    fn saturating_sub_of_a_length() {
        let x = [0.3, 1.2, 0.6];
        let (value, g) = sample_var_grad(&x);
        assert_eq!(value.to_bits(), sample_var(&x).to_bits());
        assert_gradient(sample_var, &x, &g, 1e-8);
    }
}

/// `match` on an enum field of borrowed data that is not `Copy` (a variant holds a `String`):
/// the generated code reads the field through its borrow, as the user's `match it.kind` does,
/// instead of moving it out (E0507 from generated code).
mod matches_on_data_fields {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::differentiate;

    pub enum Kind {
        Linear,
        Quadratic(f64),
        Named(String),
    }

    pub struct Item {
        pub kind: Kind,
        pub w: f64,
    }

    pub enum Shape {
        Circle { r: f64 },
        Label(String),
    }

    pub struct Config {
        pub shape: Shape,
        pub scale: f64,
    }

    #[differentiate(wrt(x), hessian)]
    fn total(x: f64, items: &[Item]) -> f64 {
        let mut s = 0.0;
        for it in items {
            match it.kind {
                Kind::Linear => s += it.w * x,
                Kind::Quadratic(a) => s += a * x * x,
                Kind::Named(ref label) => s += x.sin() * it.w * label.len() as f64,
            }
        }
        s
    }

    #[differentiate(wrt(x))]
    fn indexed(x: &[f64], items: &[Item], cfg: &Config) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            let t = if let Kind::Quadratic(a) = items[i].kind {
                a * x[i] * x[i]
            } else if matches!(items[i].kind, Kind::Named(_)) {
                x[i].exp()
            } else {
                items[i].w * x[i]
            };
            s += t;
        }
        match cfg.shape {
            Shape::Circle { r } => s * r * cfg.scale,
            Shape::Label(ref text) => s * text.len() as f64,
        }
    }

    /// A plain function of the kind, given a borrow of the field.
    fn weight(k: &Kind) -> f64 {
        match k {
            Kind::Linear => 1.0,
            Kind::Quadratic(a) => *a,
            Kind::Named(s) => s.len() as f64,
        }
    }

    /// The field borrowed for a plain function, and matched in a closure taking `&Item`.
    #[differentiate(wrt(x))]
    fn weighted(x: f64, items: &[Item]) -> f64 {
        let score = |it: &Item| {
            if let Kind::Quadratic(q) = it.kind {
                q * x
            } else {
                it.w
            }
        };
        let mut s = 0.0;
        for it in items {
            s += x * x * weight(&it.kind) + score(it);
        }
        s
    }

    /// `match &it.kind`, binding a payload that is not `Copy` by reference.
    #[differentiate(wrt(x))]
    fn by_reference(x: f64, items: &[Item]) -> f64 {
        let mut s = 0.0;
        for it in items {
            s += match &it.kind {
                Kind::Linear => it.w * x,
                Kind::Quadratic(a) if *a > 0.0 => *a * x * x,
                Kind::Quadratic(_) => x,
                Kind::Named(label) => x.sin() * label.len() as f64,
            };
        }
        s
    }

    #[test]
    fn a_match_on_a_borrowed_field() {
        let items = items();
        let x = 0.7;
        let (value, g) = by_reference_grad(x, &items);
        assert_eq!(value.to_bits(), by_reference(x, &items).to_bits());
        assert_close(g, 2.0 + 2.0 * 0.5 * x + x.cos(), 1e-15);
    }

    #[test]
    fn borrowed_fields_given_to_functions_and_closures() {
        let items = items();
        let x = 0.7;
        let (value, g) = weighted_grad(x, &items);
        assert_eq!(value.to_bits(), weighted(x, &items).to_bits());
        // Weights 1, 0.5 and 1 (the label "c"), and the closure adds 0.5 x.
        assert_close(g, 2.0 * x * 2.5 + 0.5, 1e-15);
    }

    fn items() -> Vec<Item> {
        vec![
            Item {
                kind: Kind::Linear,
                w: 2.0,
            },
            Item {
                kind: Kind::Quadratic(0.5),
                w: 1.0,
            },
            Item {
                kind: Kind::Named("c".to_owned()),
                w: 1.5,
            },
        ]
    }

    #[test]
    fn a_match_on_an_enum_field_in_a_loop() {
        let items = items();
        let x = 0.7;
        let (value, g) = total_grad(x, &items);
        assert_eq!(value.to_bits(), total(x, &items).to_bits());
        // The named item's label has length 1.
        assert_close(g, 2.0 + 2.0 * 0.5 * x + 1.5 * x.cos(), 1e-15);
        let (_, _, h) = total_hessian(x, &items);
        assert_close(h[0][0], 2.0 * 0.5 - 1.5 * x.sin(), 1e-15);
    }

    #[test]
    fn if_let_and_matches_on_indexed_items_and_a_config() {
        let items = items();
        let x = [0.3, -0.8, 0.45];
        for shape in [Shape::Circle { r: 1.25 }, Shape::Label("none".to_owned())] {
            let cfg = Config { shape, scale: 0.5 };
            let (value, g) = indexed_grad(&x, &items, &cfg);
            assert_eq!(value.to_bits(), indexed(&x, &items, &cfg).to_bits());
            assert_gradient(|x| indexed(x, &items, &cfg), &x, &g, 1e-8);
        }
    }
}

/// Found by a hunt through robotics code: names bound to borrowed items, closures with typed
/// parameters, chained methods named like operators, and sub-slices of a local struct's field.
mod closures_aliases_and_chains {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate};

    #[differentiate]
    fn dist(p: &[f64; 2], c: &[f64; 2]) -> f64 {
        ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt()
    }

    #[differentiate]
    fn sq(v: &[f64]) -> f64 {
        v.iter().map(|x| x * x).sum()
    }

    /// `let r = p;` of a loop's item is the same borrow, passed on as one.
    #[differentiate]
    fn aliased_items(pts: &[[f64; 2]], rows: &[Vec<f64>], c: &[f64; 2]) -> f64 {
        let mut s = 0.0;
        for p in pts {
            let r = p;
            s += dist(r, c);
        }
        for row in rows {
            let r = row;
            s += sq(r) * c[0];
        }
        s
    }

    #[differentiate]
    fn energy(s: [f64; 2]) -> f64 {
        s[1] * s[0].sin()
    }

    /// An untyped closure parameter takes an array as the call gives it, by value here.
    #[differentiate]
    fn untyped_closure(p: [f64; 2], k: f64) -> f64 {
        let g = |x| energy(x) * k;
        g([p[0] * 2.0, p[1]]) + g(p)
    }

    #[test]
    fn an_untyped_closure_given_arrays_by_value() {
        let (p, k) = ([0.7, -0.3], 1.7);
        let (value, (g_p, g_k)) = untyped_closure_grad(p, k);
        assert_eq!(value.to_bits(), untyped_closure(p, k).to_bits());
        assert_gradient(
            |q| untyped_closure([q[0], q[1]], q[2]),
            &[p[0], p[1], k],
            &[g_p[0], g_p[1], g_k],
            1e-8,
        );
    }

    #[derive(Clone, Copy, Differentiable)]
    pub struct Params {
        pub mu: f64,
        pub log_s: f64,
        pub w: [f64; 2],
    }

    #[derive(Clone, Copy, Differentiable)]
    pub struct Polar(pub f64, pub f64, pub f64);

    /// Struct patterns that name some fields (`..`).
    #[differentiate]
    fn partly_named(p: &Params, q: Polar, y: f64) -> f64 {
        let Params { mu, log_s, .. } = *p;
        let Polar(r, theta, ..) = q;
        -0.5 * ((y - mu) / log_s.exp()).powi(2) - log_s + r * theta.cos()
    }

    #[test]
    fn struct_patterns_with_rest() {
        let p = Params {
            mu: 0.3,
            log_s: -0.2,
            w: [1.0, 2.0],
        };
        let q = Polar(1.5, 0.4, 9.0);
        let (value, (g_p, g_q, g_y)) = partly_named_grad(&p, q, 0.5);
        assert_eq!(value.to_bits(), partly_named(&p, q, 0.5).to_bits());
        let f = |v: &[f64]| {
            let p = Params {
                mu: v[0],
                log_s: v[1],
                w: [1.0, 2.0],
            };
            partly_named(&p, Polar(v[2], v[3], 9.0), v[4])
        };
        let g = [g_p.mu, g_p.log_s, g_q.0, g_q.1, g_y];
        assert_gradient(f, &[0.3, -0.2, 1.5, 0.4, 0.5], &g, 1e-8);
        assert_eq!((g_p.w, g_q.2), ([0.0, 0.0], 0.0));
    }

    /// Closures with typed parameters: an array by value handed to a differentiated function, an
    /// array by reference called with a literal, and a `&f64` closure given to `map`.
    #[differentiate]
    fn closures(s: [f64; 2], xs: &[f64], k: f64) -> f64 {
        let e = |x: [f64; 2]| energy(x);
        let f = |p: &[f64; 2]| p[0] * k + p[1] * p[1];
        let cost = |x: &f64| (x - k).powi(2);
        e(s) + f(&[s[1], s[0]])
            + xs.iter().map(cost).sum::<f64>()
            + xs.iter()
                .filter(|v: &&f64| **v > 0.0)
                .map(|v| v * k)
                .sum::<f64>()
    }

    #[derive(Clone, Copy, Differentiable)]
    pub struct V2 {
        pub x: f64,
        pub y: f64,
    }

    impl V2 {
        #[differentiate]
        pub fn add(&self, o: &V2, h: f64) -> V2 {
            V2 {
                x: self.x + h * o.x,
                y: self.y + h * o.y,
            }
        }

        #[differentiate]
        pub fn norm2(&self) -> f64 {
            self.x * self.x + self.y * self.y
        }
    }

    /// A struct's method named like an operator, its result the receiver of another method.
    #[differentiate]
    fn chained(v: V2, w: V2, k: f64) -> f64 {
        v.add(&w, k).norm2()
    }

    #[derive(Clone, Differentiable)]
    pub struct W {
        pub w: Vec<f64>,
        pub c: f64,
    }

    impl V2 {
        #[differentiate]
        pub fn mul(&self, k: f64) -> V2 {
            V2 {
                x: self.x * k,
                y: self.y * k,
            }
        }

        #[differentiate]
        pub fn sub(&self, o: &V2) -> V2 {
            V2 {
                x: self.x - o.x,
                y: self.y - o.y,
            }
        }
    }

    /// Methods named like operators chained on a struct; `std::ops`'s `mul` of numbers a call
    /// gave stays the number's.
    #[differentiate]
    fn operator_methods(v: V2, w: V2, k: f64) -> f64 {
        use std::ops::Mul;
        let y = v.norm2();
        v.add(&w, k).mul(k).norm2() + y.mul(2.0) + w.norm2().mul(k)
    }

    #[test]
    fn operator_named_methods_chained() {
        let (v, w) = (V2 { x: 0.3, y: -0.5 }, V2 { x: 1.0, y: 2.0 });
        let k = 0.5;
        let (value, (gv, gw, gk)) = operator_methods_grad(v, w, k);
        assert_eq!(value.to_bits(), operator_methods(v, w, k).to_bits());
        let f = |p: &[f64]| {
            let v2 = |i: usize| V2 {
                x: p[i],
                y: p[i + 1],
            };
            operator_methods(v2(0), v2(2), p[4])
        };
        let point = [v.x, v.y, w.x, w.y, k];
        let g = [gv.x, gv.y, gw.x, gw.y, gk];
        assert_gradient(f, &point, &g, 1e-8);
    }

    /// A local closure's calls compared inside `&&`, a `while` condition and a match guard, and
    /// one taking `&f64` called with `&x`.
    #[differentiate]
    fn closures_in_conditions(x: f64, y: f64, k: i32) -> f64 {
        let f = |t: f64| t * t - y;
        let mut s = if f(x) < y * 2.0 && f(y) > -10.0 {
            f(x)
        } else {
            f(y)
        };
        let mut t = x;
        let mut n = 0;
        while f(t) > 0.01 + y && n < 5 {
            t -= 0.3 * (t - 1.0);
            n += 1;
        }
        s += match k {
            0 if f(x) > -1.0 => f(x) * x,
            _ => x,
        };
        let cube = |t: &f64| t * t * t;
        s + t * x + cube(&x)
    }

    #[test]
    fn closures_called_in_conditions() {
        for (x, y, k) in [(0.3, 0.8, 0), (1.9, 0.2, 0), (0.3, 0.8, 1)] {
            let (value, (gx, gy)) = closures_in_conditions_grad(x, y, k);
            assert_eq!(value.to_bits(), closures_in_conditions(x, y, k).to_bits());
            assert_gradient(
                |p| closures_in_conditions(p[0], p[1], k),
                &[x, y],
                &[gx, gy],
                1e-8,
            );
        }
    }

    /// A match guard calling a closure runs only where its pattern matches (`x[k]` is in bounds
    /// only there).
    #[differentiate(jvp, hessian)]
    fn guarded_pick(x: &[f64], k: usize) -> f64 {
        let f = |t: f64| t * t - 0.5;
        match k {
            0..=2 if f(x[k]) > 0.0 => f(x[k]) * x[0],
            _ => x[0] * x[1],
        }
    }

    #[test]
    fn a_guard_runs_only_where_its_pattern_matches() {
        let x = [0.3, 1.4, -0.9];
        for k in [1, 2, 5] {
            let (value, g) = guarded_pick_grad(&x, k);
            assert_eq!(value.to_bits(), guarded_pick(&x, k).to_bits());
            assert_gradient(|x| guarded_pick(x, k), &x, &g, 1e-8);
            let (_, g2, h) = guarded_pick_hessian(&x, k);
            assert_eq!(g, g2);
            for (i, row) in h.iter().enumerate() {
                assert_gradient(|x| guarded_pick_grad(x, k).1[i], &x, row, 1e-6);
            }
        }
    }

    /// A slice of numbers split into its first or last element and the rest.
    #[differentiate]
    fn split_numbers(x: &[f64], y: [f64; 3]) -> f64 {
        let (a, rest) = x.split_first().unwrap();
        let (&b, front) = y.split_last().unwrap();
        a * rest[0] + b * front[1] + x[1..].split_first().unwrap().0 * y[0]
    }

    #[test]
    fn numbers_split_first_and_last() {
        let (x, y) = ([0.5, 2.0, 3.0], [0.25, -1.5, 0.75]);
        let (value, (gx, gy)) = split_numbers_grad(&x, y);
        assert_eq!(value.to_bits(), split_numbers(&x, y).to_bits());
        assert_gradient(|x| split_numbers(x, y), &x, &gx, 1e-8);
        assert_gradient(|y| split_numbers(&x, [y[0], y[1], y[2]]), &y, &gy, 1e-8);
    }

    /// A sub-slice of a local struct's `Vec` field, passed to a differentiated function.
    #[differentiate]
    fn field_slices(p: &W, k: f64) -> f64 {
        let copy = p.clone();
        let built = W {
            w: vec![p.w[0] * k, p.w[1], p.w[2]],
            c: p.c,
        };
        let returned = scaled(p, k);
        sq(&copy.w[1..]) * copy.c + sq(&built.w[..2]) * built.c + sq(&returned.w[1..])
    }

    #[differentiate]
    fn scaled(p: &W, k: f64) -> W {
        W {
            w: p.w.iter().map(|v| v * k).collect(),
            c: p.c,
        }
    }

    /// Copies of a struct's field changed by slice methods alone.
    #[differentiate]
    fn field_copies_shifted(p: &W) -> f64 {
        let mut v = p.w.clone();
        v[1..].fill(p.c);
        let mut r = p.w.clone();
        r.rotate_right(1);
        v[0] * v[2] + r[0] * p.c + r[1]
    }

    #[test]
    fn copies_of_a_field_shifted_and_filled() {
        let p = W {
            w: vec![0.3, 0.7, -0.4],
            c: 1.5,
        };
        let (value, g) = field_copies_shifted_grad(&p);
        assert_eq!(value.to_bits(), field_copies_shifted(&p).to_bits());
        let f = |q: &[f64]| {
            field_copies_shifted(&W {
                w: q[..3].to_vec(),
                c: q[3],
            })
        };
        let mut all = g.w.clone();
        all.push(g.c);
        assert_gradient(f, &[0.3, 0.7, -0.4, 1.5], &all, 1e-8);
    }

    #[test]
    fn an_alias_of_a_loop_item_is_passed_as_a_borrow() {
        let pts = [[0.3, 0.4], [1.0, -0.2]];
        let rows = vec![vec![0.5, -0.25], vec![1.5]];
        let c = [0.5, 0.6];
        let (value, (_, g_rows, g_c)) = aliased_items_grad(&pts, &rows, &c);
        assert_eq!(value.to_bits(), aliased_items(&pts, &rows, &c).to_bits());
        assert_gradient(
            |c| aliased_items(&pts, &rows, &[c[0], c[1]]),
            &c,
            &g_c,
            1e-8,
        );
        assert_close(g_rows[0][1], 2.0 * -0.25 * c[0], 1e-15);
        assert_close(g_rows[1][0], 2.0 * 1.5 * c[0], 1e-15);
    }

    #[test]
    fn closures_with_typed_parameters() {
        let (s, xs, k) = ([0.3, 0.8], [0.3, 0.9], 0.5);
        let (value, (g_s, g_xs, g_k)) = closures_grad(s, &xs, k);
        assert_eq!(value.to_bits(), closures(s, &xs, k).to_bits());
        let mut g = g_s.to_vec();
        g.extend(&g_xs);
        g.push(g_k);
        assert_gradient(
            |p| closures([p[0], p[1]], &p[2..4], p[4]),
            &[s[0], s[1], xs[0], xs[1], k],
            &g,
            1e-8,
        );
    }

    #[test]
    fn a_method_named_add_chained() {
        let (v, w) = (V2 { x: 0.3, y: -0.5 }, V2 { x: 1.0, y: 2.0 });
        let (value, (gv, gw, gk)) = chained_grad(v, w, 0.5);
        assert_eq!(value.to_bits(), chained(v, w, 0.5).to_bits());
        // |v + k w|² = (0.8, 0.5): d v = 2 (0.8, 0.5), d w = k d v, d k = d v · w.
        for (got, want) in [
            (gv.x, 1.6),
            (gv.y, 1.0),
            (gw.x, 0.8),
            (gw.y, 0.5),
            (gk, 3.6),
        ] {
            assert_close(got, want, 1e-15);
        }
    }

    #[test]
    fn sub_slices_of_a_local_structs_field() {
        let p = W {
            w: vec![0.3, 0.7, -0.4],
            c: 1.5,
        };
        let k = 2.0;
        let (value, (g, g_k)) = field_slices_grad(&p, k);
        assert_eq!(value.to_bits(), field_slices(&p, k).to_bits());
        let f = |q: &[f64]| {
            let w = W {
                w: q[..3].to_vec(),
                c: q[3],
            };
            field_slices(&w, q[4])
        };
        let mut all = g.w.clone();
        all.extend([g.c, g_k]);
        assert_gradient(f, &[0.3, 0.7, -0.4, 1.5, k], &all, 1e-8);
    }
}

/// Found by a hunt through signal-processing and pharmacokinetic code.
mod filters_and_dose_response {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate, no_grad};

    #[derive(Clone, Differentiable)]
    pub struct Dose {
        pub rate: f64,
        pub lag: Option<f64>,
    }

    /// A method without a rule of a value held constant (`no_grad(d.lag).unwrap_or(..)`), its
    /// argument still differentiated.
    #[differentiate]
    fn lagged(d: &Dose, t: f64) -> f64 {
        let lag = no_grad(d.lag).unwrap_or(t * 0.5);
        d.rate * (t - lag).max(0.0)
    }

    #[test]
    fn a_method_of_a_value_held_constant() {
        let t = 3.0;
        for (lag, dt) in [(Some(0.5), 1.0), (None, 0.5)] {
            let d = Dose { rate: 2.0, lag };
            let (value, (g, g_t)) = lagged_grad(&d, t);
            assert_eq!(value.to_bits(), lagged(&d, t).to_bits());
            assert_close(g.rate, t - lag.unwrap_or(t * 0.5), 1e-15);
            assert_close(g_t, 2.0 * dt, 1e-15);
        }
    }

    /// A Hill term: every derivative is zero before the dose (`c = 0`), second ones included
    /// (the cross term of `ec50` and `n` was NaN: `y / x` of `xlogy` at `0 / 0`).
    #[differentiate(jvp, hessian, wrt(ec50, n))]
    fn hill(ec50: f64, n: f64, c: f64) -> f64 {
        let q = (c / ec50).powf(n);
        q / (1.0 + q)
    }

    #[test]
    fn a_hill_terms_hessian_before_the_dose() {
        let (_, _, h) = hill_hessian(1.5, 1.8, 0.0);
        assert_eq!(h, vec![vec![0.0, 0.0], vec![0.0, 0.0]]);
        // And after it, against finite differences of the gradient.
        let (c, p) = (0.8, [1.5, 1.8]);
        let (_, _, h) = hill_hessian(p[0], p[1], c);
        let step = 1e-6;
        for k in 0..2 {
            let mut up = p;
            let mut down = p;
            up[k] += step;
            down[k] -= step;
            let (gu, gd) = (
                hill_grad(up[0], up[1], c).1,
                hill_grad(down[0], down[1], c).1,
            );
            assert_close(h[0][k], (gu.0 - gd.0) / (2.0 * step), 1e-8);
            assert_close(h[1][k], (gu.1 - gd.1) / (2.0 * step), 1e-8);
        }
    }

    /// Zero padding of a buffer's tail.
    #[differentiate]
    fn padded(x: &[f64]) -> f64 {
        let mut a = x.to_vec();
        a[2..].fill(0.0);
        let head = a[1] * 0.5 + a[0];
        a[..=1].fill(head);
        a.iter().map(|v| v * v).sum::<f64>() + a[3] + a[0]
    }

    #[test]
    fn fill_of_a_range() {
        let x = [0.3, -0.7, 1.2, 0.5, 0.9];
        let (value, g) = padded_grad(&x);
        assert_eq!(value.to_bits(), padded(&x).to_bits());
        assert_gradient(padded, &x, &g, 1e-8);
    }

    /// A block of samples taken out of a buffer, which is left empty and refilled.
    #[differentiate]
    fn blocks(x: &[f64], gain: f64) -> f64 {
        let mut buf = Vec::new();
        let mut e = 0.0;
        for (i, v) in x.iter().enumerate() {
            buf.push(v * gain);
            if i % 2 == 1 {
                let block = std::mem::take(&mut buf);
                e += block[0] * block[1] + buf.len() as f64;
            }
        }
        e + buf.iter().sum::<f64>()
    }

    #[test]
    fn mem_take_of_a_buffer() {
        let x = [0.3, -0.7, 1.2, 0.5, 0.9];
        let (value, (g, g_gain)) = blocks_grad(&x, 1.5);
        assert_eq!(value.to_bits(), blocks(&x, 1.5).to_bits());
        assert_gradient(|x| blocks(x, 1.5), &x, &g, 1e-8);
        assert_gradient(|p| blocks(&x, p[0]), &[1.5], &[g_gain], 1e-8);
    }

    /// Delay lines shifted by the slice methods that move elements, in arrays and `Vec`s.
    #[allow(clippy::useless_vec)]
    #[differentiate]
    fn delay_lines(h: [f64; 3], x: &[f64]) -> f64 {
        let mut right = [0.0; 3];
        let mut left = vec![0.0; 4];
        let mut within = vec![0.0; 3];
        let mut e = 0.0;
        for &v in x {
            right.rotate_right(1);
            right[0] = v;
            left.rotate_left(3);
            left[1] = v * h[2];
            within.copy_within(0..=1, 1);
            within[0] = v - left[0];
            let y = h[0] * right[0] + h[1] * right[1] + h[2] * right[2];
            e += y * y + within[2] * left[3];
        }
        let (a, b) = x.split_at(2);
        e + a[1] * b[0]
    }

    /// Counts and destinations written as operators of lower precedence than `+` (`k >> 1`).
    #[differentiate]
    fn shifted_by_expressions(x: [f64; 4], k: usize) -> f64 {
        let mut right = x;
        right.rotate_right(k >> 1);
        let mut left = x;
        left.rotate_left(k | 2);
        let mut within = x;
        within.copy_within(0..=k >> 1, k >> 1 ^ 3);
        let (a, b) = x.split_at(k >> 1);
        // Copies of a call's array and of a struct's field, changed by the methods alone.
        let mut copied = x.to_vec();
        copied[2..].fill(a[0]);
        copied.rotate_left(1);
        let w = [1.0, 2.0, 3.0, 4.0];
        (0..4)
            .map(|i| w[i] * (right[i] + left[i] * 0.5 + within[i] * 0.25))
            .sum::<f64>()
            + a[0] * b[0]
            + copied[0] * copied[3]
    }

    #[test]
    fn counts_written_as_operators() {
        let x = [1.0, 10.0, 100.0, 1000.0];
        for k in [2, 3] {
            let (value, g) = shifted_by_expressions_grad(x, k);
            assert_eq!(value.to_bits(), shifted_by_expressions(x, k).to_bits());
            assert_gradient(
                |p| shifted_by_expressions([p[0], p[1], p[2], p[3]], k),
                &x,
                &g,
                1e-8,
            );
        }
    }

    #[test]
    #[should_panic(expected = "the rotation is longer than the array")]
    fn a_rotation_longer_than_the_array_panics_as_rotate_does() {
        let _ = shifted_by_expressions_grad([1.0; 4], 10);
    }

    #[test]
    fn rotate_copy_within_and_split_at() {
        let (h, x) = ([0.5, -0.3, 0.2], [0.3, -0.7, 1.2, 0.5, 0.9]);
        let (value, (g_h, g_x)) = delay_lines_grad(h, &x);
        assert_eq!(value.to_bits(), delay_lines(h, &x).to_bits());
        assert_gradient(|h| delay_lines([h[0], h[1], h[2]], &x), &h, &g_h, 1e-8);
        assert_gradient(|x| delay_lines(h, x), &x, &g_x, 1e-8);
    }

    /// A biquad written once for every float type: array fields of the type parameter.
    #[derive(Clone, Debug, Differentiable)]
    pub struct Biquad<T> {
        pub b: [T; 3],
        pub a: [T; 2],
    }

    #[differentiate]
    impl<T: autodiff_core::Float + num_traits::Float> Biquad<T> {
        #[differentiate]
        pub fn energy(&self, x: &[T]) -> T {
            let mut z = [T::zero(); 2];
            let mut e = T::zero();
            for &v in x {
                let y = self.b[0] * v + z[0];
                z[0] = self.b[1] * v - self.a[0] * y + z[1];
                z[1] = self.b[2] * v - self.a[1] * y;
                e = e + y * y;
            }
            e
        }
    }

    #[test]
    fn a_generic_struct_with_array_fields() {
        let q = Biquad {
            b: [0.3_f64, 0.2, 0.1],
            a: [-0.5, 0.21],
        };
        let x = [0.5, -0.2, 0.7];
        let (value, (g, _)) = q.energy_grad(&x);
        assert_eq!(value.to_bits(), q.energy(&x).to_bits());
        let f = |p: &[f64]| {
            let q = Biquad {
                b: [p[0], p[1], p[2]],
                a: [p[3], p[4]],
            };
            q.energy(&x)
        };
        let all = [g.b[0], g.b[1], g.b[2], g.a[0], g.a[1]];
        assert_gradient(f, &[0.3, 0.2, 0.1, -0.5, 0.21], &all, 1e-8);
        let q32 = Biquad {
            b: [0.3f32, 0.2, 0.1],
            a: [-0.5f32, 0.21],
        };
        let (v32, _) = q32.energy_grad(&[0.5f32, -0.2, 0.7]);
        assert_close(v32 as f64, value, 1e-6);
    }
}

/// Found by a hunt through numerical library code: constant tables, generic zero matrices,
/// closures compared, and iterator functions.
mod numerical_library_code {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{differentiate, no_grad};
    use num_traits::Float;

    const C: [f64; 4] = [1.0, 0.5, -0.25, 0.125];

    /// Golden-section search with the textbook `if f(c) < f(d)` of a local closure; the
    /// minimiser is held, so the derivative is the envelope theorem's.
    #[differentiate]
    fn golden(a: f64) -> f64 {
        let f = |x: f64| (x - a) * (x - a) + x;
        let (mut lo, mut hi) = (-3.0, 3.0);
        for _ in 0..60 {
            let c = hi - 0.618 * (hi - lo);
            let d = lo + 0.618 * (hi - lo);
            if f(c) < f(d) {
                hi = d;
            } else {
                lo = c;
            }
        }
        f(no_grad(0.5 * (lo + hi)))
    }

    /// A constant table: a sub-slice iterated, and taken apart.
    #[differentiate]
    fn series(x: f64) -> f64 {
        let [c0, .., last] = C;
        let k = 2;
        let mut s = c0;
        let mut p = 1.0;
        for &c in &C[1..] {
            p *= x;
            s += c * p;
        }
        s + last * x + C[k..].iter().sum::<f64>() * x * x
    }

    /// `log det A` by a generic Cholesky whose factor starts as `[[T::zero(); N]; N]`.
    #[differentiate]
    fn chol_logdet<T: Float, const N: usize>(a: &[[T; N]; N]) -> T {
        let mut l = [[T::zero(); N]; N];
        let mut ld = T::zero();
        for j in 0..N {
            let mut s = a[j][j];
            for k in 0..j {
                s = s - l[j][k] * l[j][k];
            }
            l[j][j] = s.sqrt();
            ld = ld + l[j][j].ln();
            for i in j + 1..N {
                let mut t = a[i][j];
                for k in 0..j {
                    t = t - l[i][k] * l[j][k];
                }
                l[i][j] = t / l[j][j];
            }
        }
        ld + ld
    }

    /// `std::iter::zip`, and zero padding by `repeat(..).take(..)` and `repeat_n`.
    #[allow(clippy::manual_repeat_n)]
    #[differentiate]
    fn padded_dot(x: &[f64], y: &[f64]) -> f64 {
        let mut p = x.to_vec();
        p.extend(std::iter::repeat(0.0).take(2));
        p.extend(std::iter::repeat_n(x[0] * 0.5, 1));
        let d = std::iter::zip(x, y).map(|(a, b)| a * b).sum::<f64>()
            + std::iter::repeat_n(x[1], 2).sum::<f64>()
            + std::iter::zip(x, y).count() as f64
            + std::iter::repeat(y[0]).take(2).product::<f64>();
        d + p[0] * p[3] + p[4] + p[5] * p[1]
    }

    #[test]
    fn a_closure_compared_inside_a_search() {
        let a = 0.4;
        let (value, g) = golden_grad(a);
        assert_eq!(value.to_bits(), golden(a).to_bits());
        // The minimiser a - 1/2, held: d/da (x - a)² = -2 (x - a) = 1, up to the search's
        // tolerance.
        assert_close(g, 1.0, 1e-6);
    }

    #[test]
    fn constant_tables_sliced_and_taken_apart() {
        let x = 0.7;
        let (value, g) = series_grad(x);
        assert_eq!(value.to_bits(), series(x).to_bits());
        let want = 0.5 - 0.5 * x + 0.375 * x * x + 0.125 + 2.0 * (-0.125) * x;
        assert_close(g, want, 1e-15);
    }

    #[test]
    fn a_generic_cholesky_with_a_zero_matrix() {
        let a = [[4.0_f64, 1.0], [1.0, 3.0]];
        let (value, g) = chol_logdet_grad(&a);
        assert_eq!(value.to_bits(), chol_logdet(&a).to_bits());
        assert_close(value, 11.0_f64.ln(), 1e-15);
        // Only the lower triangle is read: d/dA of log det on it is (2 A⁻¹ - diag A⁻¹).
        assert_close(g[0][0], 3.0 / 11.0, 1e-15);
        assert_close(g[1][0], -2.0 / 11.0, 1e-15);
        assert_close(g[1][1], 4.0 / 11.0, 1e-15);
        assert_eq!(g[0][1], 0.0);
    }

    #[test]
    fn iterator_functions() {
        let (x, y) = ([0.3, 0.5, 1.2], [1.2, 0.7, -0.4]);
        let (value, (gx, gy)) = padded_dot_grad(&x, &y);
        assert_eq!(value.to_bits(), padded_dot(&x, &y).to_bits());
        assert_gradient(|x| padded_dot(x, &y), &x, &gx, 1e-8);
        assert_gradient(|y| padded_dot(&x, y), &y, &gy, 1e-8);
    }
}

/// `fold` whose accumulator is an array, or a tuple holding one (a state stepped by a call),
/// and matrices filled with a number the function computes.
mod arrays_carried_and_filled {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate]
    fn step(s: [f64; 2], u: f64) -> [f64; 2] {
        [s[0] + 0.1 * s[1], s[1] + 0.1 * (u - s[0].sin())]
    }

    #[differentiate]
    fn rollout(s0: [f64; 2], us: &[f64]) -> f64 {
        let sf = us.iter().fold(s0, |s, u| step(s, *u));
        let (last, cost) = us.iter().fold((s0, 0.0), |(s, c), &u| {
            let next = step(s, u * 0.5);
            (next, c + next[0] * next[0] + u * u)
        });
        let s1 = step(s0, 0.5);
        let from_call = us.iter().fold(s1, |s, &u| step(s, u))[1]
            + us.iter().rev().fold(step(s1, 0.25), |s, &u| step(s, -u))[0];
        let swept = us
            .iter()
            .enumerate()
            .fold([0.0, 1.0], |acc: [f64; 2], (i, u)| {
                [acc[0] + u * acc[1], acc[1] * (1.0 - 0.1 * i as f64)]
            });
        sf[0] * sf[0] + 0.5 * sf[1] * sf[1] + cost * last[1] + swept[0] + from_call
    }

    /// A matrix filled with a number the function computes, nested `vec!`s and arrays.
    #[differentiate(hessian)]
    fn filled(x: &[f64], n: usize) -> f64 {
        let big = x[0] * 10.0;
        let mut d = vec![vec![big; 3]; n];
        let mut e = [[x[1] * big; 2]; 2];
        for i in 0..n {
            d[i][i % 3] = x[i % x.len()];
            e[i % 2][0] += d[i][0];
        }
        let mut s = e[0][1] * e[1][0];
        for r in &d {
            for v in r {
                s += v * v;
            }
        }
        s
    }

    #[test]
    fn matrices_filled_with_a_computed_number() {
        let x = [0.3, -0.5];
        let (value, g) = filled_grad(&x, 3);
        assert_eq!(value.to_bits(), filled(&x, 3).to_bits());
        assert_gradient(|x| filled(x, 3), &x, &g, 1e-8);
        let (_, g2, h) = filled_hessian(&x, 3);
        assert_eq!(g, g2);
        for k in 0..2 {
            let column: Vec<f64> = h.iter().map(|row| row[k]).collect();
            assert_gradient(|x| filled_grad(x, 3).1[k], &x, &column, 1e-6);
        }
    }

    #[derive(Clone, autodiff_core::Differentiable)]
    pub struct Walker {
        pub x: [f64; 2],
        pub k: f64,
    }

    #[differentiate]
    fn rot(v: [f64; 2], a: f64) -> [f64; 2] {
        [
            v[0] * a.cos() - v[1] * a.sin(),
            v[0] * a.sin() + v[1] * a.cos(),
        ]
    }

    /// An array value (a struct's field read whole, a call's result) carried by a loop whose
    /// branch replaces it with a local array.
    #[differentiate]
    fn walk(s: &Walker, n: usize) -> f64 {
        let mut cur = s.x;
        let mut other = rot(s.x, 0.25);
        for i in 0..n {
            cur = if i % 2 == 0 {
                rot(cur, s.k)
            } else {
                [cur[1] * s.k, cur[0]]
            };
            other = if cur[0] > 0.0 {
                [other[1], other[0] * 0.5]
            } else {
                rot(other, s.k)
            };
        }
        cur[0] * cur[1] + other[0]
    }

    #[test]
    fn an_array_value_carried_and_replaced_by_a_local_array() {
        let s = Walker {
            x: [0.3, 0.7],
            k: 0.5,
        };
        for n in [0, 1, 3, 4] {
            let (value, g) = walk_grad(&s, n);
            assert_eq!(value.to_bits(), walk(&s, n).to_bits());
            let f = |p: &[f64]| {
                walk(
                    &Walker {
                        x: [p[0], p[1]],
                        k: p[2],
                    },
                    n,
                )
            };
            assert_gradient(f, &[0.3, 0.7, 0.5], &[g.x[0], g.x[1], g.k], 1e-8);
        }
    }

    #[test]
    fn array_accumulators() {
        let (s0, us) = ([0.4, -0.3], [0.5, 1.2, -0.4]);
        let (value, (g_s, g_u)) = rollout_grad(s0, &us);
        assert_eq!(value.to_bits(), rollout(s0, &us).to_bits());
        assert_gradient(|s| rollout([s[0], s[1]], &us), &s0, &g_s, 1e-8);
        assert_gradient(|u| rollout(s0, u), &us, &g_u, 1e-8);
    }
}

/// Found by a hunt through training code: the last layer of a `Vec` of layers, and a model
/// split into its first or last layer and the rest.
mod layers_first_and_last {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Differentiable)]
    pub struct Dense {
        pub w: f64,
        pub b: f64,
    }

    impl Dense {
        #[differentiate]
        pub fn forward(&self, x: f64) -> f64 {
            (self.w * x + self.b).tanh()
        }
    }

    #[derive(Clone, Differentiable)]
    pub struct Net {
        pub layers: Vec<Dense>,
    }

    impl Net {
        #[differentiate]
        pub fn out(&self, x: f64) -> f64 {
            let (first, rest) = self.layers.split_first().unwrap();
            let mut h = first.forward(x);
            for l in rest {
                h = l.forward(h);
            }
            let (last, hidden) = self.layers.split_last().unwrap();
            let top = self.layers.last().unwrap();
            h + self.layers.last().unwrap().forward(x) * last.forward(h)
                + top.forward(0.25)
                + self
                    .layers
                    .first()
                    .expect("a layer")
                    .forward(hidden[0].forward(0.3))
        }
    }

    /// Batch normalisation with a switch: the batch's statistics, or running ones given as a
    /// tuple of data.
    #[differentiate(wrt(h))]
    fn normalised(h: &[f64], running: (f64, f64), training: bool) -> f64 {
        let (mean, var) = if training {
            let m = h.iter().sum::<f64>() / h.len() as f64;
            let v = h.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / h.len() as f64;
            (m, v)
        } else {
            running
        };
        (h[0] - mean) / (var + 1e-5).sqrt() + h[1] * mean
    }

    #[test]
    fn a_tuple_parameter_against_a_tuple_written_out() {
        let h = [1.0, 2.0, 0.5];
        for training in [true, false] {
            let (value, g) = normalised_grad(&h, (0.5, 4.0), training);
            assert_eq!(
                value.to_bits(),
                normalised(&h, (0.5, 4.0), training).to_bits()
            );
            assert_gradient(|h| normalised(h, (0.5, 4.0), training), &h, &g, 1e-8);
        }
    }

    #[test]
    fn first_and_last_layers() {
        let net = Net {
            layers: vec![
                Dense { w: 2.0, b: 0.1 },
                Dense { w: -0.7, b: 0.3 },
                Dense { w: 1.2, b: -0.4 },
            ],
        };
        let x = 0.6;
        let (value, (g, g_x)) = net.out_grad(x);
        assert_eq!(value.to_bits(), net.out(x).to_bits());
        let f = |p: &[f64]| {
            let layers = p[..6]
                .chunks(2)
                .map(|c| Dense { w: c[0], b: c[1] })
                .collect();
            Net { layers }.out(p[6])
        };
        let mut point: Vec<f64> = net.layers.iter().flat_map(|l| [l.w, l.b]).collect();
        point.push(x);
        let mut grad: Vec<f64> = g.layers.iter().flat_map(|l| [l.w, l.b]).collect();
        grad.push(g_x);
        assert_gradient(f, &point, &grad, 1e-8);
    }
}

// ------------------------------------------------------------------------------------------
// Matches on borrowed items of data: `for ev in events { match ev { Obs::Seen(o) => w[*o] } }`,
// `if let .. = ev`, `let ev = &events[i]`, `match &res[i]` of an enum that is not `Copy`,
// `match *iv`, a `&Res` parameter, a tuple `(r, i % 2)`. The payloads are references, as in
// the user's code; the generated code bound them one reference deeper or moved the item out
// (E0277 "cannot be indexed by `&usize`", E0508, E0507 from generated code).
// ------------------------------------------------------------------------------------------
mod matches_on_borrowed_items {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::differentiate;

    #[derive(Clone, Copy)]
    pub enum Obs {
        Missing,
        Seen(usize),
        Scaled(usize, f64),
    }

    pub enum Res {
        Score(u32),
        Forfeit(usize),
        Named(String, usize),
    }

    pub enum Iv {
        Vacc { frac: f64, group: usize },
        Other,
    }

    #[differentiate(wrt(w))]
    fn observed(w: &[f64], events: &[Obs]) -> f64 {
        let mut s = 0.0;
        for ev in events {
            match ev {
                Obs::Missing => {}
                Obs::Seen(o) => s += w[*o] * w[*o],
                Obs::Scaled(o, k) if *k > 0.5 => s += k * w[*o].exp(),
                Obs::Scaled(o, _) => s -= w[*o],
            }
        }
        for ev in events.iter() {
            if let Obs::Scaled(o, k) = ev {
                s += *k * w[*o].sin();
            }
        }
        for i in 0..events.len() {
            let ev = &events[i];
            if let &Obs::Seen(o) = ev {
                s += w[o] * w[(o + 1) % w.len()];
            }
        }
        s
    }

    #[differentiate(wrt(w), hessian)]
    fn results(w: &[f64], res: &[Res]) -> f64 {
        let mut t = 0.0;
        for (i, r) in res.iter().enumerate() {
            match (r, i % 2) {
                (Res::Score(h), 0) => t += *h as f64 * w[0] * w[1],
                (Res::Score(h), _) => t += w[1] / (*h as f64),
                (Res::Forfeit(k), _) => t += w[*k] * w[*k] * w[*k],
                (Res::Named(name, k), _) if name.len() > 3 => t += w[*k].ln(),
                (Res::Named(_, k), _) => t += 2.0 * w[*k],
            }
        }
        for i in 0..res.len() {
            match &res[i] {
                Res::Forfeit(k) => t += w[*k] * w[0],
                Res::Named(_, k) if i == 0 => t -= w[2 - (*k).min(2)],
                _ => {}
            }
        }
        t
    }

    #[differentiate(wrt(w))]
    fn one_result(w: [f64; 3], kind: &Res, x: f64) -> f64 {
        let y = match kind {
            Res::Score(h) => w[0] * (*h as f64) * x,
            Res::Forfeit(k) => w[*k].powi(2) * x,
            Res::Named(_, k) => w[*k] + w[0] * x,
        };
        y * w[1]
    }

    #[differentiate]
    fn vaccinate(x: f64, ivs: &[Iv]) -> f64 {
        let mut s = [x, 2.0 * x, 3.0];
        for iv in ivs {
            match iv {
                Iv::Vacc { frac, group } => s[*group] *= 1.0 - frac,
                Iv::Other => {}
            }
            if let Iv::Vacc { frac, group: 0 } = *iv {
                s[2] += frac * s[0];
            }
        }
        let first = &ivs[0];
        match *first {
            Iv::Vacc { frac, .. } => s[0] *= frac,
            Iv::Other => {}
        }
        s[0] + s[1] * s[2]
    }

    #[test]
    fn matches_on_borrowed_items() {
        let w = [0.7, 1.3, 2.1];
        let events = [
            Obs::Seen(0),
            Obs::Missing,
            Obs::Scaled(2, 0.75),
            Obs::Seen(2),
            Obs::Scaled(1, 0.25),
        ];
        let (v, g) = observed_grad(&w, &events);
        assert_eq!(v, observed(&w, &events));
        assert_gradient(|x| observed(x, &events), &w, &g, 1e-7);

        let res = [
            Res::Named("ab".into(), 1),
            Res::Score(3),
            Res::Forfeit(1),
            Res::Named("long".into(), 2),
            Res::Score(5),
        ];
        let (v, g) = results_grad(&w, &res);
        assert_eq!(v, results(&w, &res));
        assert_gradient(|x| results(x, &res), &w, &g, 1e-7);
        let (_, _, h) = results_hessian(&w, &res);
        for j in 0..3 {
            let e = 1e-5;
            let (mut up, mut down) = (w, w);
            up[j] += e;
            down[j] -= e;
            let (gu, gd) = (results_grad(&up, &res).1, results_grad(&down, &res).1);
            for i in 0..3 {
                assert_close(h[i][j], (gu[i] - gd[i]) / (2.0 * e), 1e-6);
            }
        }

        for kind in &res {
            let w = [0.4, 0.9, 1.1];
            let (v, g) = one_result_grad(w, kind, 1.7);
            assert_eq!(v, one_result(w, kind, 1.7));
            assert_gradient(|x| one_result([x[0], x[1], x[2]], kind, 1.7), &w, &g, 1e-7);
        }

        let ivs = [
            Iv::Vacc {
                frac: 0.25,
                group: 1,
            },
            Iv::Other,
            Iv::Vacc {
                frac: 0.5,
                group: 0,
            },
        ];
        let (v, g) = vaccinate_grad(1.5, &ivs);
        assert_eq!(v, vaccinate(1.5, &ivs));
        assert_gradient(|x| vaccinate(x[0], &ivs), &[1.5], &[g], 1e-7);
    }
}

// ------------------------------------------------------------------------------------------
// Iterator chains with closures in conditions and assertions (`if x.iter().map(..).sum::<f64>()
// > 2.0`, `while`, `let big = .. > 2.0`, `.count() > 2 &&`, `debug_assert!(x.iter().all(..))`),
// `filter`'s reference to an item of integer data (`|y| **y == 1`, `|(_, k)| **k`), and a
// count cast to an integer: errors before ("`.sum(..)` at the end of an iterator chain is not
// supported", E0614 from generated code).
// ------------------------------------------------------------------------------------------
mod chains_in_conditions {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate]
    fn gated(x: &[f64]) -> f64 {
        let mut r = x[0];
        let big: bool = x.iter().map(|v| v * v).sum::<f64>() > 2.0;
        let mut i = 0;
        while x.iter().skip(i).map(|v| v.abs()).sum::<f64>() > 1.5 {
            r *= x[i];
            i += 1;
        }
        let n = match x.iter().filter(|&&v| v > 0.5).count() {
            0 => 1.0,
            1 if x.iter().map(|v| v * v).sum::<f64>() > 1.0 => 1.5,
            c => c as f64,
        };
        if x.iter().filter(|v| **v > 0.25).count() > 1 && big {
            r += x[2];
        }
        if x.iter().fold(0.0, |a, v| a + v * v) > 20.0 {
            r = 0.0;
        }
        debug_assert!(x.iter().all(|&v| v.is_finite()), "not finite: {x:?}");
        assert!(x.iter().any(|&v| v > 0.0));
        r * n
    }

    #[differentiate(wrt(p))]
    fn counted(p: f64, season: &[usize], mask: &[bool], xs: &[f64]) -> f64 {
        let a: usize = season.iter().filter(|y| **y == 1).count();
        let b = season.iter().filter(|&y| *y == 1).count() as i32;
        let c = season.iter().filter(|&&y| y == 1).count();
        let d = xs
            .iter()
            .zip(mask.iter())
            .filter(|(_, k)| **k)
            .map(|(x, _)| x * p)
            .sum::<f64>();
        let e = xs
            .iter()
            .zip(mask.iter())
            .filter(|&(_, &k)| k)
            .map(|(x, _)| x * p * p)
            .sum::<f64>();
        let g = xs
            .iter()
            .zip(season.iter())
            .filter(|&(x, s)| *s > 0 && *x > 0.5)
            .map(|(x, _)| x * p)
            .sum::<f64>();
        p * a as f64 + p.powi(b) + c as f64 * p + d + e + g
    }

    #[test]
    #[should_panic(expected = "assertion failed")]
    fn assertion_with_closure_still_checks() {
        let _ = gated_grad(&[-0.3, -1.2, -2.0]);
    }

    #[test]
    fn chains_in_conditions() {
        for x in [[0.3, 1.2, 2.0], [0.2, 0.1, 0.4], [1.5, -0.7, 0.9]] {
            let (v, g) = gated_grad(&x);
            assert_eq!(v, gated(&x));
            assert_gradient(gated, &x, &g, 1e-7);
        }
        let (season, mask, xs) = (
            [0, 1, 1, 2],
            [true, false, true, true],
            [0.3, 0.9, 1.7, 0.2],
        );
        let (v, g) = counted_grad(0.7, &season, &mask, &xs);
        assert_eq!(v, counted(0.7, &season, &mask, &xs));
        assert_gradient(|p| counted(p[0], &season, &mask, &xs), &[0.7], &[g], 1e-7);
    }
}

// ------------------------------------------------------------------------------------------
// A struct of the user's named like a generic standard type (an RNN's `Cell`, a `Range` of
// bounds) was taken for that type: left out of the gradient without a word, or "`&Cell` has no
// derivative" with `wrt(cell)`. Standard generic types are known by their arguments
// (`Cell<f64>`).
// ------------------------------------------------------------------------------------------
mod structs_named_like_std_types {
    use super::common::assert_close;
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Debug, Differentiable)]
    pub struct Cell {
        pub w: f64,
        pub b: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Range {
        pub lo: f64,
        pub hi: f64,
    }

    #[differentiate]
    fn step(cell: &Cell, h: f64, r: Range) -> f64 {
        (cell.w * h + cell.b).tanh().clamp(r.lo, r.hi)
    }

    #[differentiate(wrt(cell))]
    fn step_cell(cell: &Cell, h: f64, scale: std::cell::Cell<f64>) -> f64 {
        (cell.w * h + cell.b).tanh() * scale.get()
    }

    #[test]
    fn structs_named_like_std_types() {
        let (cell, h) = (Cell { w: 0.7, b: 0.1 }, 0.5);
        let r = Range { lo: -0.9, hi: 0.9 };
        let (v, (gc, gh, gr)) = step_grad(&cell, h, r.clone());
        assert_eq!(v, step(&cell, h, r));
        let d = 1.0 - (0.7f64 * 0.5 + 0.1).tanh().powi(2);
        assert_close(gc.w, d * h, 1e-12);
        assert_close(gc.b, d, 1e-12);
        assert_close(gh, d * 0.7, 1e-12);
        assert_eq!((gr.lo, gr.hi), (0.0, 0.0));
        let (_, gc) = step_cell_grad(&cell, h, std::cell::Cell::new(2.0));
        assert_close(gc.w, 2.0 * d * h, 1e-12);
    }
}

// ------------------------------------------------------------------------------------------
// Rows and elements of a struct parameter's fields bound to locals: a row passed on to a
// differentiated call (`let wp = ag.waypoints[1]; toward(start, wp, ..)`: E0277 on `Slot`
// from generated code, its adjoint taken for a number), a row written into a copy of a
// `Vec<[f64; 2]>` field (`p[1] = [..]`: "only numbers can be stored"), and a struct copied out
// of a `Vec` field, its fields assigned.
// ------------------------------------------------------------------------------------------
mod rows_of_struct_fields {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Debug, Differentiable)]
    pub struct Agent {
        pub speed: f64,
        pub waypoints: [[f64; 2]; 3],
        pub pos: Vec<[f64; 2]>,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Gp {
        pub kappa: f64,
        pub d: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Material {
        pub points: Vec<Gp>,
    }

    #[differentiate]
    fn toward(from: [f64; 2], to: [f64; 2], step: f64) -> [f64; 2] {
        [
            from[0] + (to[0] - from[0]) * step,
            from[1] + (to[1] - from[1]) * step,
        ]
    }

    #[differentiate]
    fn route(ag: &Agent, start: [f64; 2]) -> f64 {
        let mut at = start;
        for k in 0..3 {
            let wp = ag.waypoints[k];
            let w = ag.waypoints[k][1];
            at = toward(at, wp, ag.speed * w);
        }
        let mut p = ag.pos.clone();
        p[1] = [p[0][0] * 2.0, p[0][1] * at[0]];
        // The bound row assigned and swapped in, as a copy.
        let wp = ag.waypoints[2];
        let mut cur = [0.0, 0.0];
        if at[0] > -10.0 {
            cur = wp;
        }
        let next = [cur[1] * at[0], wp[0]];
        let old = std::mem::replace(&mut cur, next);
        p[1][0] * at[1] + p[1][1] + cur[0] * old[1] + cur[1]
    }

    #[differentiate]
    fn damage(k0: f64, x: f64, m: &Material) -> f64 {
        let mut s: Gp = m.points[1].clone();
        s.kappa = x * s.kappa;
        s.d = 1.0 - k0 / s.kappa;
        s.d * x
    }

    #[test]
    fn rows_of_struct_fields() {
        let ag = Agent {
            speed: 0.3,
            waypoints: [[1.0, 0.5], [1.0, 1.2], [0.2, 0.7]],
            pos: vec![[0.4, -0.6], [0.9, 1.1]],
        };
        let start = [0.2, 0.4];
        let (v, (ga, gs)) = route_grad(&ag, start);
        assert_eq!(v, route(&ag, start));
        let flat = |a: &Agent| {
            let mut f = vec![a.speed];
            f.extend(a.waypoints.iter().flatten());
            f.extend(a.pos.iter().flatten());
            f
        };
        let unflat = |f: &[f64]| Agent {
            speed: f[0],
            waypoints: [[f[1], f[2]], [f[3], f[4]], [f[5], f[6]]],
            pos: vec![[f[7], f[8]], [f[9], f[10]]],
        };
        let mut x = flat(&ag);
        x.extend(start);
        let mut g = flat(&ga);
        g.extend(gs);
        assert_gradient(|x| route(&unflat(x), [x[11], x[12]]), &x, &g, 1e-7);

        let m = Material {
            points: vec![Gp { kappa: 0.3, d: 0.1 }, Gp { kappa: 0.7, d: 0.2 }],
        };
        let (v, (gk, gx, gm)) = damage_grad(0.5, 0.8, &m);
        assert_eq!(v, damage(0.5, 0.8, &m));
        let at = |x: &[f64]| {
            let m = Material {
                points: vec![
                    Gp {
                        kappa: x[2],
                        d: x[3],
                    },
                    Gp {
                        kappa: x[4],
                        d: x[5],
                    },
                ],
            };
            damage(x[0], x[1], &m)
        };
        let g = [
            gk,
            gx,
            gm.points[0].kappa,
            gm.points[0].d,
            gm.points[1].kappa,
            gm.points[1].d,
        ];
        assert_gradient(at, &[0.5, 0.8, 0.3, 0.1, 0.7, 0.2], &g, 1e-7);
    }
}

// ------------------------------------------------------------------------------------------
// Conversions and assignments as code ported from other languages writes them: `f64::from(x)`
// of an `f32`, `Vec::from(x)`, `Vec::from_iter(chain)`, `[p, q] = [q * 2.0, p]`, and `fold`
// with a `Vec` accumulator (`x.to_vec()`, `vec![..]`, a clone): errors before (E0599 on
// `__from_vjp` from generated code, "`.map(..)` with a closure is supported on iterators", an
// accumulator "of a closure given by name" for a closure written in the `fold`).
// ------------------------------------------------------------------------------------------
mod conversions_and_vec_folds {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate]
    fn step(h: &[f64], u: f64) -> Vec<f64> {
        h.iter().map(|v| (v * u).tanh()).collect()
    }

    #[differentiate]
    fn ported(x: &[f64], s: f32) -> f64 {
        let v = Vec::from(x);
        let w = Vec::from_iter(x.iter().map(|a| a * 2.0));
        let (mut p, mut q) = (v[0], w[1]);
        for _ in 0..2 {
            [p, q] = [q * 2.0 - p, p * q];
        }
        let h = x.iter().fold(x.to_vec(), |h, u| step(&h, *u));
        let g = x.iter().fold(vec![x[1], 0.5], |h, u| step(&h, *u * x[0]));
        let k = x.iter().skip(1).fold(h.clone(), |h, u| step(&h, u - x[0]));
        p * f64::from(s) + q + h[0] * g[1] + k[1]
    }

    #[test]
    fn conversions_and_vec_folds() {
        let x = [0.3, 0.5, -0.7];
        let (v, (g, gs)) = ported_grad(&x, 1.5);
        assert_eq!(v, ported(&x, 1.5));
        assert_gradient(|x| ported(x, 1.5), &x, &g, 1e-7);
        let e = 1e-3f32;
        let fd = (ported(&x, 1.5 + e) - ported(&x, 1.5 - e)) / (2.0 * e as f64);
        assert!(
            (gs as f64 - fd).abs() < 1e-4 * (1.0 + fd.abs()),
            "{gs} {fd}"
        );
    }
}

/// Enums that are data: a skipped field of a struct parameter matched against its variants
/// (`match &self.kind`, `if let Some(c) = self.clip`, `let Act::Leaky(k) = self.acts[1] else`),
/// and tuples holding a `&Kind` parameter (`match (kind, x > 0.0)`).
mod enum_fields_and_tuples {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Debug)]
    pub enum Kind {
        Linear(f64),
        Named(String, f64),
        Zero,
    }

    #[differentiate(wrt(x))]
    fn tupled(kind: &Kind, x: f64) -> f64 {
        match (kind, x > 0.0) {
            (Kind::Linear(a), true) => a * x,
            (Kind::Named(_, b), _) => b * x * x,
            _ => x,
        }
    }

    /// Passed by value and not `Copy`, moved into the tuple as in Rust.
    #[differentiate(wrt(x))]
    fn tupled_by_value(kind: Kind, x: f64) -> f64 {
        match (kind, x > 0.0) {
            (Kind::Linear(a), true) => a * x.sin(),
            (Kind::Named(_, b), _) => b * x * x,
            _ => x,
        }
    }

    /// A local enum that is not `Copy`, and one by reference, with a guard on a payload.
    #[differentiate(wrt(x))]
    fn local_kind(x: f64, n: usize) -> f64 {
        let k = if n > 2 {
            Kind::Linear(1.5)
        } else {
            Kind::Named("ab".to_string(), 0.5)
        };
        let first = match (k.clone(), x > 0.0) {
            (Kind::Linear(a), true) if a > 1.0 => a * x * x,
            (Kind::Named(_, b), _) => b * x,
            _ => 0.0,
        };
        first
            + match (&k, n % 2) {
                (Kind::Named(s, b), 0) if s.len() == 2 => b * x.sin(),
                _ => x,
            }
    }

    #[differentiate(wrt(x))]
    fn two_kinds(k1: &Kind, k2: &Kind, x: f64) -> f64 {
        match (k1, k2) {
            (Kind::Linear(a), Kind::Named(_, b)) => a * x + b * x.sin(),
            (Kind::Named(_, b), _) if *b > 1.0 => b * x.exp(),
            _ => x * x,
        }
    }

    #[test]
    fn tuples_holding_a_borrowed_enum() {
        let named = Kind::Named("q".into(), 2.0);
        let linear = Kind::Linear(3.0);
        for x in [-0.4, 1.5] {
            let (v, g) = tupled_grad(&named, x);
            assert_eq!(v, tupled(&named, x));
            assert_close(g, 4.0 * x, 1e-15);
            let (v, g) = tupled_grad(&linear, x);
            assert_eq!(v, tupled(&linear, x));
            assert_close(g, if x > 0.0 { 3.0 } else { 1.0 }, 1e-15);
            let (v, g) = tupled_by_value_grad(linear.clone(), x);
            assert_eq!(v, tupled_by_value(linear.clone(), x));
            assert_close(g, if x > 0.0 { 3.0 * x.cos() } else { 1.0 }, 1e-15);
        }
        let (v, g) = two_kinds_grad(&linear, &named, 0.7);
        assert_eq!(v, two_kinds(&linear, &named, 0.7));
        assert_close(g, 3.0 + 2.0 * 0.7f64.cos(), 1e-15);
        let (_, g) = two_kinds_grad(&named, &linear, 0.7);
        assert_close(g, 2.0 * 0.7f64.exp(), 1e-15);
        let (_, g) = two_kinds_grad(&Kind::Zero, &linear, 0.7);
        assert_close(g, 1.4, 1e-15);
        for (n, expected) in [
            (1, 0.5 + 1.0),
            (2, 0.5 + 0.5 * 0.8f64.cos()),
            (3, 2.0 * 1.5 * 0.8 + 1.0),
        ] {
            let (v, g) = local_kind_grad(0.8, n);
            assert_eq!(v, local_kind(0.8, n));
            assert_close(g, expected, 1e-15);
        }
    }

    #[derive(Clone, Debug)]
    pub enum Act {
        Tanh,
        Leaky(f64),
        Scaled { gain: f64, shift: f64 },
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Layer {
        pub w: Vec<f64>,
        pub b: f64,
        #[differentiable(skip)]
        pub acts: Vec<Act>,
        #[differentiable(skip)]
        pub clip: Option<f64>,
        #[differentiable(skip)]
        pub kind: Kind,
    }

    impl Layer {
        #[differentiate]
        pub fn forward(&self, x: &[f64]) -> f64 {
            let mut s = self.b;
            for i in 0..x.len() {
                let z = self.w[i] * x[i];
                let a = match &self.acts[i] {
                    Act::Tanh => z.tanh(),
                    Act::Leaky(slope) => {
                        if z > 0.0 {
                            z
                        } else {
                            slope * z
                        }
                    }
                    Act::Scaled { gain, shift } => gain * z + shift,
                };
                s += a;
            }
            if let Some(c) = self.clip {
                if s > c {
                    return c + 0.1 * (s - c);
                }
            }
            let Act::Leaky(k) = self.acts[1] else {
                return s * 2.0;
            };
            s * (1.0 + k)
        }

        #[differentiate]
        pub fn scaled(&self, x: f64) -> f64 {
            match (&self.kind, x > 0.3) {
                (Kind::Linear(a), true) => self.b * a * x,
                (Kind::Named(name, b), _) if name.len() > 2 => self.b * b,
                (Kind::Named(_, b), _) => self.b * b * x,
                _ => self.b,
            }
        }
    }

    #[differentiate]
    fn loss(l: &Layer, x: &[f64]) -> f64 {
        let y = l.forward(x);
        y * y + l.scaled(x[0])
    }

    #[test]
    fn skipped_enum_fields_matched_in_methods() {
        let x = [0.5, -1.2, 0.8];
        let acts = [
            vec![
                Act::Tanh,
                Act::Leaky(0.1),
                Act::Scaled {
                    gain: 2.0,
                    shift: 0.3,
                },
            ],
            vec![Act::Leaky(0.2), Act::Tanh, Act::Tanh],
        ];
        let kinds = [
            Kind::Linear(2.0),
            Kind::Named("abc".into(), 1.5),
            Kind::Named("b".into(), 0.5),
        ];
        for clip in [None, Some(-0.9)] {
            for acts in &acts {
                for kind in &kinds {
                    let l = Layer {
                        w: vec![0.7, 0.4, -0.9],
                        b: 0.2,
                        acts: acts.clone(),
                        clip,
                        kind: kind.clone(),
                    };
                    let (v, g) = l.forward_grad(&x);
                    assert_eq!(v, l.forward(&x));
                    let with_w = |w: &[f64]| {
                        Layer {
                            w: w.to_vec(),
                            ..l.clone()
                        }
                        .forward(&x)
                    };
                    assert_gradient(with_w, &l.w, &g.0.w, 1e-6);
                    assert_gradient(|x: &[f64]| l.forward(x), &x, &g.1, 1e-6);
                    let with_b = |b: &[f64]| {
                        Layer {
                            b: b[0],
                            ..l.clone()
                        }
                        .forward(&x)
                    };
                    assert_gradient(with_b, &[l.b], &[g.0.b], 1e-6);
                    let (v, g) = loss_grad(&l, &x);
                    assert_eq!(v, loss(&l, &x));
                    let with_w = |w: &[f64]| {
                        loss(
                            &Layer {
                                w: w.to_vec(),
                                ..l.clone()
                            },
                            &x,
                        )
                    };
                    assert_gradient(with_w, &l.w, &g.0.w, 1e-6);
                    let with_b = |b: &[f64]| {
                        loss(
                            &Layer {
                                b: b[0],
                                ..l.clone()
                            },
                            &x,
                        )
                    };
                    assert_gradient(with_b, &[l.b], &[g.0.b], 1e-6);
                    assert_gradient(|x: &[f64]| loss(&l, x), &x, &g.1, 1e-6);
                }
            }
        }
    }
}

/// Mutable references to elements, as Rust code takes them: `let e = &mut v[i]`, `iter_mut()`
/// through `enumerate` / `zip` / `rev` / `skip`, `.for_each(..)`, `last_mut()`, `get_mut(i)`;
/// in loops with `break`, on struct fields, and in forward and second order.
mod mutable_references_to_elements {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate};

    #[differentiate]
    fn bins(x: &[f64]) -> f64 {
        let mut v = [0.0; 3];
        let mut i = 0;
        while i < x.len() {
            // The index is the one when the reference was taken.
            let e = &mut v[i % 3];
            i += 1;
            *e += x[i - 1] * x[i - 1];
            *e *= 1.5;
        }
        for e in v.iter_mut() {
            *e = e.sin();
        }
        for (k, e) in v.iter_mut().enumerate().skip(1) {
            *e += k as f64 * x[0];
        }
        let mut g = vec![0.0; x.len()];
        for (gi, xi) in g.iter_mut().zip(x.iter()) {
            *gi += xi * xi * 0.5;
        }
        for (xi, gi) in x.iter().zip(&mut g).rev() {
            *gi *= xi;
        }
        let mut m = [[0.0; 2]; 2];
        for row in m.iter_mut() {
            for (j, c) in row.iter_mut().enumerate() {
                *c = x[j] * (j as f64 + 1.0);
            }
        }
        let last = &mut m[1];
        last[0] *= 3.0;
        v[0] * v[1] + v[2] + g.iter().sum::<f64>() + m[0][1] * m[1][0]
    }

    #[differentiate(jvp, hessian)]
    fn triangle(x: &[f64]) -> f64 {
        let mut acc = 0.0;
        let mut h = [0.0; 4];
        for step in 0..3 {
            for (k, hk) in h.iter_mut().enumerate() {
                if k > step {
                    break;
                }
                *hk += x[k] * x[(k + step) % 4];
            }
            let a = &mut acc;
            *a += h[step] * h[step];
        }
        acc + h[3].exp() + h[0] * h[2]
    }

    #[differentiate]
    fn options(x: &[f64]) -> f64 {
        let mut v = x.to_vec();
        if let Some(last) = v.last_mut() {
            *last *= 3.0;
        }
        if let Some(first) = v.first_mut() {
            *first = first.powi(2);
        } else {
            return 0.0;
        }
        for i in 0..6 {
            if let Some(e) = v.get_mut(i) {
                *e += 0.5 * x[0] * (i as f64);
            } else {
                v[0] += 0.01 * x[1];
            }
        }
        let mut total = 0.0;
        v.iter().for_each(|e| total += e * e);
        v.iter_mut().enumerate().for_each(|(i, e)| *e *= i as f64);
        total + v[1] * v[3]
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct State {
        pub pos: Vec<f64>,
        pub vel: [f64; 2],
        pub e: f64,
    }

    #[differentiate]
    fn stepped(s0: &State, dt: f64) -> f64 {
        let mut s = s0.clone();
        for _ in 0..4 {
            for p in s.pos.iter_mut() {
                *p += dt * s.e * *p;
            }
            let v = &mut s.vel;
            v[0] -= dt * v[1];
            v[1] += dt * s.pos[0];
            let e = &mut s.e;
            *e *= 0.9;
        }
        s.pos.iter().sum::<f64>() * s.vel[0] + s.vel[1] * s.e
    }

    #[test]
    fn references_written_through() {
        let x = [0.5, 0.2, 1.8, 0.3];
        type Function = fn(&[f64]) -> f64;
        type Gradient = fn(&[f64]) -> (f64, Vec<f64>);
        let cases: [(Function, Gradient); 3] = [
            (bins, bins_grad),
            (triangle, triangle_grad),
            (options, options_grad),
        ];
        for (f, f_grad) in cases {
            let (v, g) = f_grad(&x);
            assert_eq!(v, f(&x));
            assert_gradient(f, &x, &g, 1e-6);
        }
    }

    #[test]
    fn references_in_forward_and_second_order() {
        let x = [0.5, 0.2, 1.8, 0.3];
        let (_, grad, hessian) = triangle_hessian(&x);
        let (_, g) = triangle_grad(&x);
        for i in 0..4 {
            assert_close(grad[i], g[i], 1e-12);
            let row = |y: &[f64]| {
                let mut z = x;
                z[i] = y[0];
                triangle_grad(&z).1[i]
            };
            let column = |y: &[f64]| {
                let mut z = x.to_vec();
                z.copy_from_slice(y);
                triangle_grad(&z).1[i]
            };
            assert_gradient(row, &[x[i]], &[hessian[i][i]], 1e-6);
            assert_gradient(column, &x, &hessian[i], 1e-6);
        }
        let t = [0.3, -0.2, 0.5, 1.0];
        let (_, d) = triangle_jvp(&x, t.to_vec());
        assert_close(d, (0..4).map(|i| g[i] * t[i]).sum(), 1e-12);
    }

    #[test]
    fn references_into_struct_fields() {
        let s0 = State {
            pos: vec![0.3, -0.7, 1.1],
            vel: [0.4, -0.2],
            e: 0.8,
        };
        let (v, (gs, gdt)) = stepped_grad(&s0, 0.1);
        assert_eq!(v, stepped(&s0, 0.1));
        let pos = |p: &[f64]| {
            stepped(
                &State {
                    pos: p.to_vec(),
                    ..s0.clone()
                },
                0.1,
            )
        };
        assert_gradient(pos, &s0.pos, &gs.pos, 1e-6);
        let vel = |p: &[f64]| {
            stepped(
                &State {
                    vel: [p[0], p[1]],
                    ..s0.clone()
                },
                0.1,
            )
        };
        assert_gradient(vel, &s0.vel, &gs.vel, 1e-6);
        let e = |p: &[f64]| {
            stepped(
                &State {
                    e: p[0],
                    ..s0.clone()
                },
                0.1,
            )
        };
        assert_gradient(e, &[s0.e], &[gs.e], 1e-6);
        assert_gradient(|p: &[f64]| stepped(&s0, p[0]), &[0.1], &[gdt], 1e-6);
    }
}

/// From a field test in epidemiology and geodesy: chains over ranges of other integer types,
/// `max_by` / `min_by` after `filter`, `zip` with an endless `repeat`, rows from a sub-slice and
/// rows in tuples assigned in branches.
mod ranges_filters_and_rows {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{differentiate, no_grad};

    #[differentiate]
    fn poisson_ll(mu: f64, y: u32) -> f64 {
        let log_factorial: f64 = (1..=y).map(|k| (k as f64).ln()).sum();
        y as f64 * mu.ln() - mu - log_factorial
    }

    #[differentiate]
    fn signed(mu: f64, n: i32) -> f64 {
        let a = (0..n).map(|k| mu * k as f64).sum::<f64>();
        let b: f64 = (-2..n).rev().map(|k| mu * mu * (k - 1) as f64).sum();
        let mut c = 0.0;
        for k in (0..n.max(0) as u32).step_by(2) {
            c += mu * k as f64;
        }
        a + b + c
    }

    #[test]
    fn ranges_of_other_integer_types() {
        let (v, g) = poisson_ll_grad(2.5, 4);
        assert_eq!(v, poisson_ll(2.5, 4));
        assert_close(v, 4.0 * 2.5f64.ln() - 2.5 - 24f64.ln(), 1e-15);
        assert_close(g, 4.0 / 2.5 - 1.0, 1e-15);
        let (v, g) = signed_grad(1.5, 5);
        assert_eq!(v, signed(1.5, 5));
        // a: Σ k = 10; b: Σ_{k=-2}^{4} (k - 1) = 0; c: 0 + 2 + 4.
        assert_close(g, 10.0 + 0.0 + 6.0, 1e-15);
        // b alone: k = -2 of -2..-1.
        assert_close(signed_grad(1.5, -1).1, 2.0 * 1.5 * -3.0, 1e-15);
    }

    #[differentiate]
    fn extremes(x: &[f64]) -> f64 {
        let m = x
            .iter()
            .copied()
            .filter(|v| !v.is_nan() && *v < 1.0)
            .max_by(|a, b| a.partial_cmp(b).unwrap())
            .unwrap_or(0.0);
        let n = x
            .iter()
            .map(|v| v * v)
            .filter(|s| *s > 0.05)
            .min_by(|a, b| a.total_cmp(b))
            .unwrap_or(1.0);
        let odd = x
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, v)| v * i as f64)
            .unwrap_or(0.0);
        let none = x
            .iter()
            .copied()
            .filter(|v| *v > 100.0)
            .max_by(|a, b| a.total_cmp(b));
        let extra = match none {
            Some(v) => v,
            None => x[0] * 0.5,
        };
        m * 2.0 + n.sqrt() + odd + extra
    }

    #[differentiate(wrt(a))]
    fn northmost(a: f64, sites: &[[f64; 2]]) -> f64 {
        let far = sites
            .iter()
            .filter(|s| s[0] > 0.5)
            .max_by(|x, y| x[1].total_cmp(&y[1]))
            .unwrap();
        let kept = no_grad(
            sites
                .iter()
                .filter(|s| s[1] < 1.0)
                .min_by(|x, y| x[0].total_cmp(&y[0]))
                .unwrap(),
        );
        a * far[1] + a * a * kept[0]
    }

    #[differentiate(wrt(w))]
    fn weighted(x: &[f64], w: f64) -> f64 {
        x.iter()
            .zip(std::iter::repeat(w))
            .map(|(a, b)| a * b * b)
            .sum()
    }

    #[test]
    fn selections_after_filters() {
        let x = [0.5, 0.2, 1.8, 0.3, -0.7, 0.9];
        let (v, g) = extremes_grad(&x);
        assert_eq!(v, extremes(&x));
        assert_close(v, 1.8 + 0.3 + 4.5 + 0.25, 1e-15);
        assert_gradient(extremes, &x, &g, 1e-6);
        let sites = [[0.2, 5.0], [0.7, 0.9], [1.5, 0.4]];
        let (v, g) = northmost_grad(2.0, &sites);
        assert_eq!(v, northmost(2.0, &sites));
        assert_close(g, 0.9 + 2.0 * 2.0 * 0.7, 1e-15);
        let (v, g) = weighted_grad(&[0.3, 1.2, -0.5], 0.8);
        assert_eq!(v, weighted(&[0.3, 1.2, -0.5], 0.8));
        assert_close(g, 2.0 * 0.8 * 1.0, 1e-15);
    }

    #[differentiate]
    fn path_length(wps: &[[f64; 2]]) -> f64 {
        let mut total = 0.0;
        let mut prev = wps[0];
        for wp in &wps[1..] {
            total += ((wp[0] - prev[0]).powi(2) + (wp[1] - prev[1]).powi(2)).sqrt();
            prev = *wp;
        }
        for &wp in &wps[2..] {
            total += 0.1 * (wp[0] * prev[1]);
            prev = wp;
        }
        total
    }

    #[differentiate(wrt(pts))]
    fn nearest_two(pts: &[[f64; 2]], q: [f64; 2]) -> f64 {
        let mut best = (f64::MAX, [0.0, 0.0]);
        let mut second = (f64::MAX, pts[0]);
        for p in pts {
            let d = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
            if d < best.0 {
                second = best;
                best = (d, *p);
            } else if d < second.0 {
                second = (d, *p);
            }
        }
        best.0 + best.1[0] * best.1[1] + second.1[0] * 2.0
    }

    fn flat(rows: &[[f64; 2]]) -> Vec<f64> {
        rows.iter().flatten().copied().collect()
    }

    fn rows(flat: &[f64]) -> Vec<[f64; 2]> {
        flat.chunks(2).map(|c| [c[0], c[1]]).collect()
    }

    #[test]
    fn rows_from_sub_slices_and_in_tuples() {
        let w = [[1.0, 2.0], [3.0, 5.0], [4.5, 1.0], [0.2, 0.3]];
        let (v, g) = path_length_grad(&w);
        assert_eq!(v, path_length(&w));
        assert_gradient(
            |x: &[f64]| path_length(&rows(x)),
            &flat(&w),
            &flat(&g),
            1e-6,
        );
        let q = [0.45, 0.4];
        let pts = [[1.0, 2.0], [0.3, 0.1], [2.2, -0.7], [0.5, 0.9]];
        let (v, g) = nearest_two_grad(&pts, q);
        assert_eq!(v, nearest_two(&pts, q));
        assert_gradient(
            |x: &[f64]| nearest_two(&rows(x), q),
            &flat(&pts),
            &flat(&g),
            1e-6,
        );
    }
}

/// From a field test in reinforcement learning and optics: searches mapped before their unwrap,
/// sub-slices of a call's `Vec`, windows over data structs that are not `Clone`, slice
/// patterns, `Option::take` and `map_or`, a local `fn` given a length, a field's copy pushed to.
mod rollouts_and_slices {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate};

    #[differentiate(wrt(v))]
    fn truncated_td(v: &[f64], r: &[f64], dones: &[bool], gamma: f64) -> f64 {
        let end = dones
            .iter()
            .position(|&d| d)
            .map(|i| i + 1)
            .unwrap_or(r.len());
        let mut l = 0.0;
        for t in 0..end {
            let boot = if dones[t] || t + 1 >= v.len() {
                0.0
            } else {
                v[t + 1]
            };
            let td = r[t] + gamma * boot - v[t];
            l += td * td;
        }
        l
    }

    #[differentiate]
    fn seg_cost(seg: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 1..seg.len() {
            s += (seg[i] - seg[i - 1]).powi(2);
        }
        s
    }

    #[differentiate]
    fn roll(us: &[f64]) -> Vec<f64> {
        let mut xs = vec![0.0f64; us.len() + 1];
        for t in 0..us.len() {
            xs[t + 1] = xs[t] + 0.2 * (us[t] - xs[t].sin());
        }
        xs
    }

    #[differentiate]
    fn roll_pair(us: &[f64]) -> (f64, Vec<f64>) {
        let xs = roll(us);
        (xs[1] * 2.0, xs)
    }

    #[differentiate]
    fn windowed(us: &[f64]) -> f64 {
        let (c, xs) = roll_pair(us);
        let ys = roll(&us[1..]).clone();
        let mut tot = c;
        for t in 0..xs.len() - 2 {
            tot += seg_cost(&xs[t..t + 3]) + xs[t] * 0.1;
        }
        tot + seg_cost(&ys[1..]) + ys.iter().sum::<f64>()
    }

    pub struct Step {
        pub s: f64,
        pub a: f64,
    }

    #[differentiate(wrt(m))]
    fn with_windows(m: f64, traj: &[Step]) -> f64 {
        let mut l = 0.0;
        for w in traj.windows(2) {
            l += (m * w[0].s - w[1].s).powi(2) + w[0].a * m;
        }
        for c in traj.chunks(2) {
            l += m * c[0].s;
        }
        l
    }

    #[test]
    fn searches_windows_and_sub_slices() {
        let (v, r, d) = (
            [0.5, 0.8, -0.2, 1.1],
            [1.0, 0.0, 0.5, -1.0],
            [false, true, false, false],
        );
        let (value, g) = truncated_td_grad(&v, &r, &d, 0.9);
        assert_eq!(value, truncated_td(&v, &r, &d, 0.9));
        assert_gradient(|v: &[f64]| truncated_td(v, &r, &d, 0.9), &v, &g, 1e-6);
        let us = [0.4, -0.2, 0.9, 0.3];
        let (value, g) = windowed_grad(&us);
        assert_eq!(value, windowed(&us));
        assert_gradient(windowed, &us, &g, 1e-6);
        let traj = [
            Step { s: 0.5, a: 0.2 },
            Step { s: 0.62, a: -0.4 },
            Step { s: -0.3, a: 0.1 },
        ];
        let (value, g) = with_windows_grad(0.9, &traj);
        assert_eq!(value, with_windows(0.9, &traj));
        assert_gradient(|m: &[f64]| with_windows(m[0], &traj), &[0.9], &[g], 1e-6);
    }

    #[differentiate]
    fn boundary_cost(us: &[f64]) -> f64 {
        let a = match us {
            [] => 0.0,
            [u] => u * u,
            [u, .., last] => u * last,
        };
        let b = if let [first, rest @ ..] = us {
            first * rest.iter().sum::<f64>()
        } else {
            0.0
        };
        let c = match us {
            [x, y, z] => x * y * z,
            [_, middle @ .., _] => middle.len() as f64 * middle.iter().sum::<f64>(),
            whole => whole.len() as f64,
        };
        a + b + c
    }

    #[test]
    fn slice_patterns() {
        for us in [
            vec![],
            vec![0.9],
            vec![0.7, 0.2],
            vec![0.5, -0.3, 1.2],
            vec![0.5, -0.3, 1.2, 0.4, 2.0],
        ] {
            let (value, g) = boundary_cost_grad(&us);
            assert_eq!(value, boundary_cost(&us));
            assert_gradient(boundary_cost, &us, &g, 1e-6);
        }
    }

    #[differentiate]
    fn pending_rewards(xs: &[f64], w: f64) -> f64 {
        let mut pending: Option<f64> = None;
        let mut c = 0.0;
        for &x in xs {
            if let Some(p) = pending.take() {
                c += p * x;
            }
            if x > 0.0 {
                pending = Some(x * w);
            }
        }
        c + pending.map_or(0.0, |p| p * p)
    }

    #[differentiate]
    fn permuted_products(x: &[f64]) -> f64 {
        fn idx(i: usize, n: usize) -> usize {
            (i * 7 + 3) % n
        }
        let mut s = 0.0;
        for i in 0..x.len() {
            s += x[idx(i, x.len())] * x[i];
        }
        s
    }

    #[derive(Clone, Debug, Default, Differentiable)]
    pub struct Profile {
        pub c: Vec<f64>,
        pub dz: f64,
    }

    #[differentiate]
    fn roughness(p: &Profile, e: f64) -> f64 {
        let mut c = p.c.clone();
        c.push(e);
        c.push(e * 0.5);
        let mut s = 0.0;
        for i in 1..c.len() {
            s += (c[i] - c[i - 1]).powi(2) / p.dz;
        }
        s
    }

    #[test]
    fn options_taken_local_fns_and_pushed_copies() {
        let xs = [0.5, -0.3, 1.2, 0.8, -1.6, 0.9];
        let (value, (gx, gw)) = pending_rewards_grad(&xs, 0.7);
        assert_eq!(value, pending_rewards(&xs, 0.7));
        assert_gradient(|x: &[f64]| pending_rewards(x, 0.7), &xs, &gx, 1e-6);
        assert_gradient(|w: &[f64]| pending_rewards(&xs, w[0]), &[0.7], &[gw], 1e-6);
        let x = [0.3, 1.7, -0.4, 0.9, 1.25];
        let (value, g) = permuted_products_grad(&x);
        assert_eq!(value, permuted_products(&x));
        assert_gradient(permuted_products, &x, &g, 1e-6);
        let p = Profile {
            c: vec![1500.0, 1497.0],
            dz: 10.0,
        };
        let (value, (gp, ge)) = roughness_grad(&p, 1492.0);
        assert_eq!(value, roughness(&p, 1492.0));
        let with_c = |c: &[f64]| {
            roughness(
                &Profile {
                    c: c.to_vec(),
                    dz: 10.0,
                },
                1492.0,
            )
        };
        assert_gradient(with_c, &p.c, &gp.c, 1e-6);
        assert_close(
            ge,
            2.0 * (1492.0 - 1497.0) / 10.0 + 2.0 * (746.0 - 1492.0) * -0.5 / 10.0,
            1e-12,
        );
    }
}

/// An assignment whose value leaves on some path (`last = if x < -1.0 { continue } else { .. }`)
/// writes nothing there: the variable keeps its value, as in Rust (it was given a placeholder,
/// silently, before).
mod assignments_whose_value_leaves {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate]
    fn scalar(xs: &[f64], w: f64) -> f64 {
        let mut last = 0.0;
        let mut s = 0.0;
        for &x in xs {
            last = if x > 0.0 {
                x * w
            } else if x < -1.0 {
                continue;
            } else {
                0.1
            };
            s += last * last;
        }
        s + last
    }

    #[differentiate]
    fn array(xs: &[f64], w: f64) -> f64 {
        let mut last = [0.0, 1.0];
        let mut s = 0.0;
        for &x in xs {
            last = if x > 0.0 {
                [x * w, w]
            } else if x < -1.0 {
                continue;
            } else {
                [0.1, 0.2]
            };
            s += last[0] * last[1];
        }
        s + last[0]
    }

    #[differentiate]
    fn option(xs: &[f64], w: f64) -> f64 {
        let mut last: Option<f64> = None;
        let mut s = 0.0;
        for &x in xs {
            last = if x > 0.0 {
                Some(x * w)
            } else if x < -1.0 {
                continue;
            } else {
                None
            };
            if let Some(l) = last {
                s += l * l;
            }
        }
        s + last.unwrap_or(0.0)
    }

    #[differentiate]
    fn compound_and_element(xs: &[f64], w: f64) -> f64 {
        let mut acc = [0.0; 2];
        let mut s = 1.0;
        for (i, &x) in xs.iter().enumerate() {
            s += if x < -1.0 { continue } else { x * w };
            acc[i % 2] = match i {
                3 => break,
                _ => s * x,
            };
            s *= if x > 1.0 { break } else { 1.1 };
        }
        s + acc[0] * acc[1]
    }

    #[differentiate]
    fn episode(k: f64) -> f64 {
        let mut cur: Option<[f64; 2]> = Some([k, 0.5]);
        let mut c = 0.0;
        let mut t = 0;
        while let Some(s) = cur {
            let n = [s[0] * 0.9, s[1] + 0.1 * s[0]];
            c += n[0] * n[1];
            t += 1;
            cur = match t {
                0..=4 => Some(n),
                _ if n[1] > 10.0 => return c,
                _ => None,
            };
        }
        c
    }

    #[test]
    fn variables_keep_their_values_where_the_value_leaves() {
        let xs = [0.5, -1.5, 1.2, -0.3, 0.8, -2.0, 0.4];
        type Function = fn(&[f64], f64) -> f64;
        type Gradient = fn(&[f64], f64) -> (f64, (Vec<f64>, f64));
        let cases: [(Function, Gradient); 4] = [
            (scalar, scalar_grad),
            (array, array_grad),
            (option, option_grad),
            (compound_and_element, compound_and_element_grad),
        ];
        for (f, f_grad) in cases {
            let (v, (gx, gw)) = f_grad(&xs, 0.7);
            assert_eq!(v, f(&xs, 0.7));
            assert_gradient(|x: &[f64]| f(x, 0.7), &xs, &gx, 1e-6);
            assert_gradient(|w: &[f64]| f(&xs, w[0]), &[0.7], &[gw], 1e-6);
        }
        let (v, g) = episode_grad(0.8);
        assert_eq!(v, episode(0.8));
        assert_gradient(|k: &[f64]| episode(k[0]), &[0.8], &[g], 1e-6);
    }
}

/// From an adversarial review of the references, ranges and enum matches above.
mod reviewed_references_and_ranges {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    /// A name bound by `if let` / `while let` is its own, not the reference it shadows.
    #[differentiate]
    fn shadowed_reference(x: &[f64], w: f64) -> f64 {
        let mut v = [0.0; 3];
        let e = &mut v[1];
        *e += w * 2.0;
        let mut s = 0.0;
        if let Some(e) = x.iter().max_by(|a, b| a.total_cmp(b)) {
            s += *e * 3.0;
        }
        let mut k = 0;
        while let Some(e) = x.get(k) {
            s += *e * 0.5;
            k += 1;
        }
        let j = (k - x.len() + 2) as u32;
        if let Some(e) = v.get_mut(j as usize) {
            *e *= w;
        }
        for e in v[1..].iter_mut() {
            *e += 0.5 * w;
        }
        for (i, e) in v[..2].iter_mut().enumerate() {
            *e *= 1.0 + i as f64;
        }
        let [first, rest @ ..] = &v[..] else {
            return w;
        };
        s + first * v[1] + rest.iter().sum::<f64>() * v[2]
    }

    #[differentiate]
    fn small_ranges(x: f64, lo: i8, hi: i8, m: u8) -> f64 {
        let a: f64 = (lo..hi).map(|k| x * k as f64).sum();
        let b: f64 = (0..=m).map(|k| (x * k as f64 / 255.0).sin()).sum();
        a + b
    }

    #[derive(Clone, Copy, Debug)]
    pub enum Act {
        Tanh,
        Leaky(f64),
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Net {
        pub w: Vec<f64>,
        #[differentiable(skip)]
        pub acts: Vec<Act>,
        #[differentiable(skip)]
        pub head: Act,
    }

    impl Net {
        #[differentiate]
        pub fn forward(&self, x: f64) -> f64 {
            let mut h = x;
            for (i, act) in self.acts.iter().enumerate() {
                let z = self.w[i] * h;
                h = match act {
                    Act::Tanh => z.tanh(),
                    Act::Leaky(s) => {
                        if z > 0.0 {
                            z
                        } else {
                            s * z
                        }
                    }
                };
            }
            match (self.head, h > 0.0) {
                (Act::Leaky(s), false) => s * h,
                (Act::Leaky(_), true) | (Act::Tanh, _) => h,
            }
        }
    }

    #[differentiate]
    fn steepest_rise(x: &[f64]) -> f64 {
        let best = x
            .windows(2)
            .filter(|w| w[1] > w[0])
            .max_by(|p, q| (p[1] - p[0]).total_cmp(&(q[1] - q[0])));
        match best {
            Some(b) => b[1] * b[0],
            None => -1.0,
        }
    }

    #[test]
    fn reviewed_cases() {
        let x = [0.3, 1.7, 0.9, 2.2, 0.4];
        let (v, (gx, gw)) = shadowed_reference_grad(&x, 0.6);
        assert_eq!(v, shadowed_reference(&x, 0.6));
        assert_gradient(|x: &[f64]| shadowed_reference(x, 0.6), &x, &gx, 1e-6);
        assert_gradient(
            |w: &[f64]| shadowed_reference(&x, w[0]),
            &[0.6],
            &[gw],
            1e-6,
        );
        let (v, g) = small_ranges_grad(0.7, -128, 127, 255);
        assert_eq!(v, small_ranges(0.7, -128, 127, 255));
        assert_gradient(
            |x: &[f64]| small_ranges(x[0], -128, 127, 255),
            &[0.7],
            &[g],
            1e-6,
        );
        for head in [Act::Tanh, Act::Leaky(0.1)] {
            for x in [0.8, -0.8] {
                let net = Net {
                    w: vec![0.9, -1.3, 0.4],
                    acts: vec![Act::Leaky(0.2), Act::Tanh, Act::Leaky(0.05)],
                    head,
                };
                let (v, (g, gx)) = net.forward_grad(x);
                assert_eq!(v, net.forward(x));
                let with_w = |w: &[f64]| {
                    Net {
                        w: w.to_vec(),
                        ..net.clone()
                    }
                    .forward(x)
                };
                assert_gradient(with_w, &net.w, &g.w, 1e-6);
                assert_gradient(|x: &[f64]| net.forward(x[0]), &[x], &[gx], 1e-6);
            }
        }
        let y = [0.3, 1.7, 0.9, 2.2, 0.4, 1.3];
        let (v, g) = steepest_rise_grad(&y);
        assert_eq!(v, steepest_rise(&y));
        assert_gradient(steepest_rise, &y, &g, 1e-6);
    }
}

/// A copy of an `Option` holding an array is a copy: assigning the variable again leaves it
/// alone (it read the new array, silently, before).
mod copies_of_options_holding_arrays {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate]
    fn with_take(x: &[f64]) -> f64 {
        let mut stash: Option<[f64; 2]> = None;
        let mut acc = 0.0;
        for &v in x {
            let got = stash.take();
            stash = Some([v, v * v]);
            if let Some(p) = got {
                acc += p[0] * v - p[1];
            }
        }
        acc
    }

    #[differentiate]
    fn copy_then_reassign(x: &[f64]) -> f64 {
        let mut stash: Option<[f64; 2]> = Some([1.0, 2.0]);
        let got = stash;
        stash = Some([x[0], x[1]]);
        let mut acc = 0.0;
        if let Some(p) = got {
            acc += p[0] * x[0] - p[1];
        }
        if let Some(q) = stash {
            acc += q[1];
        }
        acc
    }

    #[test]
    fn copies_keep_their_arrays() {
        let x = [0.5, 1.7, 0.9, 0.3];
        for (f, f_grad) in [
            (
                with_take as fn(&[f64]) -> f64,
                with_take_grad as fn(&[f64]) -> (f64, Vec<f64>),
            ),
            (copy_then_reassign, copy_then_reassign_grad),
        ] {
            let (v, g) = f_grad(&x);
            assert_eq!(v, f(&x));
            assert_gradient(f, &x, &g, 1e-6);
        }
    }
}

/// A field of an element of a `Vec` field of a data struct parameter (`buf.items[i].s`, not
/// differentiated): the element borrowed, its field read, as `for tr in &buf.items` does.
mod fields_of_data_elements {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    pub struct Tr {
        pub s: f64,
        pub r: f64,
    }

    pub struct Buffer {
        pub items: Vec<Tr>,
        pub gamma: f64,
    }

    #[differentiate(wrt(w))]
    fn fit(w: [f64; 2], buf: &Buffer) -> f64 {
        let mut l = 0.0;
        for i in 0..buf.items.len() {
            l += (w[0] + w[1] * buf.items[i].s - buf.items[i].r).powi(2) * buf.gamma;
        }
        l
    }

    #[test]
    fn indexed_fields_of_data() {
        let b = Buffer {
            items: vec![Tr { s: 0.5, r: 1.0 }, Tr { s: -0.3, r: 0.2 }],
            gamma: 0.9,
        };
        let (v, g) = fit_grad([0.3, 0.7], &b);
        assert_eq!(v, fit([0.3, 0.7], &b));
        assert_gradient(|w: &[f64]| fit([w[0], w[1]], &b), &[0.3, 0.7], &g, 1e-6);
    }
}

/// A method of a skipped field's struct (`self.env`, data the model holds, not differentiated):
/// called on `no_grad(&self.env)`, and the field given to a function as `no_grad(&self.env)`,
/// differentiated in their other arguments; also in forward mode and the Hessian.
mod methods_of_skipped_fields {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate, no_grad};

    #[derive(Clone)]
    pub struct Env {
        pub dt: f64,
        pub drag: f64,
    }

    impl Env {
        #[differentiate(wrt(s, u), jvp, hessian)]
        pub fn step(&self, s: f64, u: f64) -> f64 {
            s + self.dt * (u - self.drag * s * s)
        }
    }

    #[differentiate(wrt(s, u))]
    pub fn step_of(env: &Env, s: f64, u: f64) -> f64 {
        s + env.dt * (u - env.drag * s * s)
    }

    #[derive(Clone, Differentiable)]
    pub struct Policy {
        pub k: f64,
        pub b: f64,
        #[differentiable(skip)]
        pub env: Env,
        #[differentiable(skip)]
        pub envs: Vec<Env>,
    }

    #[derive(Clone, Differentiable)]
    pub struct Layer {
        pub w: [f64; 2],
    }

    impl Layer {
        #[differentiate]
        pub fn forward(&self, x: f64) -> f64 {
            (self.w[0] * x + self.w[1]).tanh()
        }
    }

    impl Policy {
        #[differentiate(jvp, hessian)]
        pub fn rollout(&self, s0: f64) -> f64 {
            let mut s = s0;
            let mut cost = 0.0;
            for _ in 0..4 {
                let u = self.k * s + self.b;
                s = no_grad(&self.env).step(s, u);
                cost += s * s + 0.1 * u * u;
            }
            cost
        }

        #[differentiate]
        pub fn rollout_of(&self, s0: f64) -> f64 {
            let mut s = s0;
            let mut cost = 0.0;
            for i in 0..self.envs.len() {
                let u = self.k * s + self.b;
                s = if i % 2 == 0 {
                    step_of(no_grad(&self.envs[i]), s, u)
                } else {
                    no_grad(&self.envs[i]).step(s, u)
                };
                cost += s * s + 0.1 * u * u;
            }
            cost
        }
    }

    // The layer's weights held constant, its input differentiated.
    #[differentiate]
    fn sensitivity(layer: &Layer, x: f64) -> f64 {
        no_grad(layer).forward(x * x) + no_grad(&layer).forward(x)
    }

    fn policy(k: f64, b: f64) -> Policy {
        let env = |dt, drag| Env { dt, drag };
        Policy {
            k,
            b,
            env: env(0.1, 0.5),
            envs: vec![env(0.1, 0.5), env(0.2, 0.3), env(0.05, 0.9)],
        }
    }

    #[test]
    fn skipped_fields_called() {
        let p = policy(-0.3, 0.2);
        for (f, f_grad) in [
            (
                Policy::rollout as fn(&Policy, f64) -> f64,
                Policy::rollout_grad as fn(&Policy, f64) -> (f64, (Policy, f64)),
            ),
            (Policy::rollout_of, Policy::rollout_of_grad),
        ] {
            let (v, g) = f_grad(&p, 1.3);
            assert_eq!(v, f(&p, 1.3));
            assert_gradient(
                |x: &[f64]| f(&policy(x[0], x[1]), x[2]),
                &[p.k, p.b, 1.3],
                &[g.0.k, g.0.b, g.1],
                1e-6,
            );
        }
        let (_, g) = p.rollout_grad(1.3);
        let (_, t) = p.rollout_jvp(1.3, (policy(0.3, -0.7), 0.4));
        assert_close(t, 0.3 * g.0.k - 0.7 * g.0.b + 0.4 * g.1, 1e-12);
        // Each row of the Hessian against central differences of the gradient.
        let (_, _, h) = p.rollout_hessian(1.3);
        let grad = |x: [f64; 3]| {
            let (_, g) = policy(x[0], x[1]).rollout_grad(x[2]);
            [g.0.k, g.0.b, g.1]
        };
        let x = [p.k, p.b, 1.3];
        for (row, h_row) in h.iter().enumerate() {
            let (mut up, mut down) = (x, x);
            up[row] += 1e-5;
            down[row] -= 1e-5;
            let (gu, gd) = (grad(up), grad(down));
            for col in 0..3 {
                assert_close(h_row[col], (gu[col] - gd[col]) / 2e-5, 1e-6);
            }
        }
    }

    #[test]
    fn constant_layer_called() {
        let layer = Layer { w: [0.8, -0.4] };
        let (v, (g_layer, g_x)) = sensitivity_grad(&layer, 0.7);
        assert_eq!(v, sensitivity(&layer, 0.7));
        assert_eq!(g_layer.w, [0.0, 0.0]);
        assert_gradient(|x: &[f64]| sensitivity(&layer, x[0]), &[0.7], &[g_x], 1e-6);
    }
}

/// Data a differentiated struct holds in a skipped field (a replay buffer, a lookup table),
/// read as `no_grad(&self.buffer)`: iterated, indexed, bound to a name, its elements' fields
/// and plain methods read, `first()` / `last()` matched; `no_grad` of a differentiated field
/// cuts its derivative.
mod data_held_by_structs {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate, no_grad};

    #[derive(Clone)]
    pub struct Transition {
        pub s: f64,
        pub a: f64,
        pub r: f64,
        pub done: bool,
    }

    impl Transition {
        pub fn feature(&self) -> f64 {
            self.s * self.a
        }
    }

    #[derive(Clone, Differentiable)]
    pub struct Critic {
        pub w: Vec<f64>,
        pub gamma: f64,
        #[differentiable(skip)]
        pub buffer: Vec<Transition>,
        #[differentiable(skip)]
        pub table: Vec<[f64; 2]>,
    }

    impl Critic {
        #[differentiate]
        pub fn td_loss(&self) -> f64 {
            let mut l = 0.0;
            for (i, tr) in no_grad(&self.buffer).iter().enumerate() {
                if tr.done {
                    continue;
                }
                let q = self.w[0] * tr.s + self.w[1] * tr.feature();
                let d = q - tr.r * self.gamma.powi(i as i32);
                l += d * d;
            }
            let kept: f64 = no_grad(&self.buffer)
                .iter()
                .filter(|tr| !tr.done)
                .map(|tr| (self.w[0] - tr.a).powi(2))
                .sum();
            l + kept
        }

        #[differentiate(jvp, hessian)]
        pub fn table_loss(&self) -> f64 {
            let t = no_grad(&self.table);
            let mut l = 0.0;
            for i in 0..t.len() {
                l += t[i][1] * self.w[1] - no_grad(&self.buffer[i % 2]).s * self.gamma;
            }
            for row in no_grad(&self.table) {
                l += row[0] * self.gamma * self.w[0];
            }
            if let Some(last) = no_grad(&self.buffer).last() {
                l += last.feature() * self.gamma;
            }
            match no_grad(&self.buffer).first() {
                Some(tr) if tr.r > 0.0 => l += tr.r * self.w[0] * self.w[1],
                _ => {}
            }
            l
        }

        // The weights' own derivative cut where they are read through `no_grad`.
        #[differentiate]
        pub fn frozen(&self) -> f64 {
            let w = no_grad(&self.w);
            (w[0] + w.iter().sum::<f64>()) * self.gamma + self.w[1]
        }
    }

    fn critic(x: &[f64]) -> Critic {
        let tr = |s, a, r, done| Transition { s, a, r, done };
        Critic {
            w: vec![x[0], x[1]],
            gamma: x[2],
            buffer: vec![
                tr(1.0, 0.5, 0.2, false),
                tr(-0.4, 1.5, 0.7, true),
                tr(0.8, -0.6, -0.3, false),
            ],
            table: vec![[0.5, 1.5], [2.0, -1.0], [0.25, 0.75]],
        }
    }

    #[test]
    fn buffers_and_tables_read() {
        let x = [0.3, -0.7, 0.9];
        for (f, f_grad) in [
            (
                Critic::td_loss as fn(&Critic) -> f64,
                Critic::td_loss_grad as fn(&Critic) -> (f64, Critic),
            ),
            (Critic::table_loss, Critic::table_loss_grad),
        ] {
            let c = critic(&x);
            let (v, g) = f_grad(&c);
            assert_eq!(v, f(&c));
            assert_gradient(
                |x: &[f64]| f(&critic(x)),
                &x,
                &[g.w[0], g.w[1], g.gamma],
                1e-6,
            );
        }
        // Forward mode and the Hessian (the product `w[0] w[1]` is its only cross term).
        let c = critic(&x);
        let (_, g) = c.table_loss_grad();
        let (_, t) = c.table_loss_jvp(critic(&[0.5, -1.5, 2.0]));
        assert_close(t, 0.5 * g.w[0] - 1.5 * g.w[1] + 2.0 * g.gamma, 1e-14);
        let (_, _, h) = c.table_loss_hessian();
        assert_close(h[0][1], 0.2, 1e-14);
        assert_close(h[1][0], 0.2, 1e-14);
        assert_close(h[0][2], 0.5 + 2.0 + 0.25, 1e-14);
    }

    #[test]
    fn differentiated_field_held_constant() {
        let c = critic(&[0.3, -0.7, 0.9]);
        let (v, g) = c.frozen_grad();
        assert_eq!(v, c.frozen());
        // d/dw0 = 0 (cut), d/dw1 = 1 (the direct read), d/dgamma = w0 + w0 + w1.
        assert_close(g.w[0], 0.0, 0.0);
        assert_close(g.w[1], 1.0, 1e-15);
        assert_close(g.gamma, 0.3 + 0.3 - 0.7, 1e-15);
    }
}

/// `Option`s the function is given (missing data), filled in with differentiated values:
/// `unwrap_or`, `unwrap_or_else`, `map_or`, `map` and `filter_map` over them; `or` of
/// `Option`s the function builds.
mod options_given_and_joined {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate(wrt(x))]
    fn impute(x: f64, obs: Option<f64>) -> f64 {
        let y = obs.unwrap_or(x);
        (y - 0.5 * x).powi(2)
    }

    #[differentiate(wrt(x))]
    fn impute_each(x: &[f64], obs: &[Option<f64>]) -> f64 {
        let mut s = 0.0;
        for i in 0..obs.len() {
            let y = obs[i].unwrap_or(x[i]);
            let z = obs[i].map_or(x[i] * x[i], |v| v * x[i]);
            let w = obs[i].unwrap_or_else(|| x[0].sin());
            s += (y - 0.5 * x[i]).powi(2) + z * w;
        }
        let observed: f64 = obs
            .iter()
            .zip(x)
            .filter_map(|(o, xi)| o.map(|y| (y - xi).powi(2)))
            .sum();
        s + observed
    }

    #[differentiate]
    fn first_positive(x: f64, y: f64) -> f64 {
        let a = if x > 0.0 { Some(x) } else { None };
        let b = if y > 0.0 { Some(y * 2.0) } else { None };
        a.or(b).unwrap_or(1.0) * x
    }

    #[test]
    fn missing_values_filled() {
        for obs in [None, Some(2.0)] {
            let (v, g) = impute_grad(1.5, obs);
            assert_eq!(v, impute(1.5, obs));
            assert_gradient(|x: &[f64]| impute(x[0], obs), &[1.5], &[g], 1e-6);
        }
        let obs = [Some(2.0), None, Some(-0.5)];
        let x = [0.5, 1.5, 0.7];
        let (v, g) = impute_each_grad(&x, &obs);
        assert_eq!(v, impute_each(&x, &obs));
        assert_gradient(|x: &[f64]| impute_each(x, &obs), &x, &g, 1e-6);
    }

    #[test]
    fn options_joined_with_or() {
        for p in [[-1.0, 2.0], [0.5, 2.0], [0.5, -1.0], [-0.5, -1.0]] {
            let (v, g) = first_positive_grad(p[0], p[1]);
            assert_eq!(v, first_positive(p[0], p[1]));
            assert_gradient(
                |x: &[f64]| first_positive(x[0], x[1]),
                &p,
                &[g.0, g.1],
                1e-6,
            );
        }
    }
}

/// Data sorted by key (`sort_by_key`, `sort_unstable_by_key`, `sort`) to order what is
/// differentiated; fields of a struct parameter's elements read by index (`m.ch[c].d`, also
/// through `let ch = &m.ch[c]`).
mod sorted_keys_and_indexed_elements {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    #[differentiate(wrt(b))]
    fn ordered_penalty(b: &[f64], key: &[u32]) -> f64 {
        let mut idx: Vec<usize> = (0..b.len()).collect();
        idx.sort_by_key(|&i| key[i]);
        let mut by_rank: Vec<usize> = (0..b.len()).collect();
        by_rank.sort_unstable_by_key(|&i| std::cmp::Reverse(key[i]));
        let mut k: Vec<u32> = key.to_vec();
        k.sort();
        idx.windows(2)
            .map(|w| (b[w[1]] - b[w[0]]).powi(2))
            .sum::<f64>()
            + b[by_rank[0]] * 3.0
            + b.iter().zip(&k).map(|(x, kk)| x * *kk as f64).sum::<f64>()
    }

    #[derive(Clone, Differentiable)]
    pub struct Channel {
        pub d: f64,
        pub b: f64,
    }

    #[derive(Clone, Differentiable)]
    pub struct Mix {
        pub ch: Vec<Channel>,
        pub base: f64,
    }

    #[differentiate]
    fn adstock(m: &Mix, x: &[f64]) -> f64 {
        let mut s = m.base;
        for c in 0..m.ch.len() {
            let ch = &m.ch[c];
            let mut carry = 0.0;
            for v in x {
                carry = v + ch.d * carry;
                s += ch.b * carry + m.ch[(c + 1) % 2].d * 0.1;
            }
        }
        s
    }

    #[test]
    fn sorted_by_key() {
        let (b, key) = ([0.1, 0.5, 0.2], [3, 1, 2]);
        let (v, g) = ordered_penalty_grad(&b, &key);
        assert_eq!(v, ordered_penalty(&b, &key));
        assert_gradient(|b: &[f64]| ordered_penalty(b, &key), &b, &g, 1e-6);
    }

    #[test]
    fn fields_of_indexed_elements() {
        let ch = |d, b| Channel { d, b };
        let m = Mix {
            ch: vec![ch(0.5, 2.0), ch(0.3, 1.5)],
            base: 1.0,
        };
        let x = [1.0, 2.0, 3.0];
        let (v, (gm, gx)) = adstock_grad(&m, &x);
        assert_eq!(v, adstock(&m, &x));
        let flat = |m: &Mix| vec![m.ch[0].d, m.ch[0].b, m.ch[1].d, m.ch[1].b, m.base];
        let mix = |p: &[f64]| Mix {
            ch: vec![ch(p[0], p[1]), ch(p[2], p[3])],
            base: p[4],
        };
        assert_gradient(
            |p: &[f64]| adstock(&mix(p), &x),
            &flat(&m),
            &flat(&gm),
            1e-6,
        );
        assert_gradient(|x: &[f64]| adstock(&m, x), &x, &gx, 1e-6);
    }
}

/// A row copied out of a slice or a matrix (`let mut z = *x;`, `m[i]`, `t.0`, `.copied()`
/// items, a `fold` started from one) and reassigned from a differentiated call in a loop: the
/// push of each data point through a normalizing flow's layers.
mod rows_reassigned_from_calls {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Differentiable)]
    pub struct Layer {
        pub a: f64,
        pub b: f64,
    }

    impl Layer {
        #[differentiate]
        pub fn push(&self, z: [f64; 2]) -> [f64; 2] {
            [
                z[0] + self.a * z[1].tanh(),
                z[1] * self.b.exp() + 0.1 * z[0],
            ]
        }
    }

    #[derive(Clone, Differentiable)]
    pub struct Flow {
        pub layers: Vec<Layer>,
    }

    #[differentiate]
    fn g(x: [f64; 2]) -> [f64; 2] {
        [x[1], x[0] * x[1]]
    }

    #[differentiate]
    fn nll(f: &Flow, data: &[[f64; 2]], m: [[f64; 2]; 3]) -> f64 {
        let mut s = 0.0;
        for x in data {
            let mut z = *x;
            for l in &f.layers {
                z = l.push(z);
            }
            s += z[0] * z[0] + z[1];
            let folded = f.layers.iter().fold(*x, |z, l| l.push(z));
            s += folded[1];
        }
        for x in data.iter().copied() {
            let mut z = x;
            z = g(z);
            s += z[0];
        }
        for i in 0..3 {
            let mut z = m[i];
            for _ in 0..2 {
                z = g(z);
            }
            let t = (m[i], 0.5);
            let mut w = t.0;
            w = g(w);
            s += z[0] + w[1] * t.1;
        }
        let mut last = *data.last().unwrap();
        last = g(last);
        s + last[0]
    }

    #[test]
    fn rows_pushed_through_layers() {
        let layer = |a, b| Layer { a, b };
        let flow = |p: &[f64]| Flow {
            layers: vec![layer(p[0], p[1]), layer(p[2], p[3])],
        };
        let p = [0.3, -0.2, -0.5, 0.1];
        let data = [[0.3, 0.5], [0.7, -0.9]];
        let m = [[0.2, 0.4], [-0.3, 0.8], [0.6, 0.1]];
        let f = flow(&p);
        let (v, (gf, gd, gm)) = nll_grad(&f, &data, m);
        assert_eq!(v, nll(&f, &data, m));
        let g_layers: Vec<f64> = gf.layers.iter().flat_map(|l| [l.a, l.b]).collect();
        assert_gradient(|p: &[f64]| nll(&flow(p), &data, m), &p, &g_layers, 1e-6);
        let rows = |p: &[f64]| [[p[0], p[1]], [p[2], p[3]]];
        assert_gradient(
            |p: &[f64]| nll(&f, &rows(p), m),
            &data.concat(),
            &gd.concat(),
            1e-6,
        );
        let matrix = |p: &[f64]| [[p[0], p[1]], [p[2], p[3]], [p[4], p[5]]];
        assert_gradient(
            |p: &[f64]| nll(&f, &data, matrix(p)),
            &m.concat(),
            &gm.concat(),
            1e-6,
        );
    }
}

/// Mutable sub-slices: `let ch = &mut buf[a..b];`, `split_at_mut`, `chunks_mut` and
/// `chunks_exact_mut` loops (per-phase blocks of an interleaved buffer), written through
/// by index, by `iter_mut` and by their methods; `match &best` of a built `Option`.
mod mutable_sub_slices {
    use super::common::assert_gradient;
    use autodiff_core::differentiate;

    #[differentiate]
    fn blocks(x: &[f64]) -> f64 {
        let mut buf = x.to_vec();
        let n = buf.len();
        for c in 0..n.div_ceil(3) {
            let ch = &mut buf[c * 3..std::cmp::min(c * 3 + 3, n)];
            let m = ch.iter().sum::<f64>() / ch.len() as f64;
            for v in ch.iter_mut() {
                *v -= m;
            }
            ch[0] *= 2.0;
            if ch.len() > 2 {
                ch[2] += ch[1] * 0.5;
            }
            for v in ch[1..].iter_mut() {
                *v *= 1.5;
            }
        }
        for ch in buf.chunks_mut(2) {
            let s = ch[0] + ch[ch.len() - 1];
            for v in ch.iter_mut() {
                *v *= s;
            }
        }
        for ch in buf.chunks_exact_mut(3) {
            ch.swap(0, 2);
            ch[1] = ch[0].sin();
        }
        let (lo, hi) = buf.split_at_mut(3);
        lo[2] += hi[0] * 0.25;
        for v in hi.iter_mut() {
            *v -= lo[0];
        }
        buf.iter().map(|v| v * v * v).sum()
    }

    #[differentiate]
    fn best_point(r1: f64, r2: f64) -> f64 {
        let mut best: Option<[f64; 2]> = None;
        for k in 0..4 {
            let c = [r1 * k as f64, r2 - k as f64 * 0.3];
            let better = match &best {
                None => true,
                Some(b) => c[0] * c[1] > b[0] * b[1],
            };
            if better {
                best = Some(c);
            }
            if let Some(b) = &best {
                if b[0] > 10.0 {
                    break;
                }
            }
        }
        let b = best.unwrap();
        b[0] + b[1]
    }

    #[test]
    fn sub_slices_written() {
        let x = [0.5, 1.2, -0.3, 0.8, 2.0, -1.1, 0.4];
        let (v, g) = blocks_grad(&x);
        assert_eq!(v, blocks(&x));
        assert_gradient(blocks, &x, &g, 1e-6);
    }

    #[test]
    fn built_option_matched_by_reference() {
        let (v, g) = best_point_grad(0.7, 1.3);
        assert_eq!(v, best_point(0.7, 1.3));
        assert_gradient(
            |x: &[f64]| best_point(x[0], x[1]),
            &[0.7, 1.3],
            &[g.0, g.1],
            1e-6,
        );
    }
}

/// Fields of struct values read only by index (`l.w[j]` of `for l in &m.layers`,
/// `m.layers[i].w[j]`, a field of a nested struct, rows of a matrix field, a struct a call
/// returned or a branch chose): each element's adjoint goes straight into the struct's.
mod fields_read_by_index {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate};

    #[derive(Clone, Differentiable)]
    pub struct Inner {
        pub w: Vec<f64>,
    }

    #[derive(Clone, Differentiable)]
    pub struct Layer {
        pub w: Vec<f64>,
        pub m: Vec<[f64; 2]>,
        pub inner: Inner,
        pub b: f64,
    }

    #[derive(Clone, Differentiable)]
    pub struct Net {
        pub layers: Vec<Layer>,
    }

    #[differentiate]
    pub fn scaled(l: &Layer, k: f64) -> Layer {
        let mut out = l.clone();
        for j in 0..l.w.len() {
            out.w[j] = l.w[j] * k;
        }
        out
    }

    #[differentiate]
    fn net(m: &Net, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for l in &m.layers {
            let mut a = l.b;
            for j in 0..l.w.len() {
                a += l.w[j] * x[j] + l.inner.w[j] * l.m[j][1];
                if a > 50.0 {
                    break;
                }
            }
            s += a.tanh();
        }
        for i in 0..m.layers.len() {
            s += m.layers[i].w[0] * m.layers[i].m[1][0];
        }
        let big = scaled(&m.layers[0], x[0]);
        let pick = if x[1] > 0.0 {
            &m.layers[1]
        } else {
            &m.layers[0]
        };
        s + big.w[1] * big.w[2] + pick.w[0] * pick.w[0] + big.w.len() as f64 * 0.1
    }

    fn layer(p: &[f64]) -> Layer {
        Layer {
            w: p[0..3].to_vec(),
            m: vec![[p[3], p[4]], [p[5], p[6]], [p[7], p[8]]],
            inner: Inner {
                w: p[9..12].to_vec(),
            },
            b: p[12],
        }
    }

    fn flat(l: &Layer) -> Vec<f64> {
        let mut p = l.w.clone();
        p.extend(l.m.iter().flatten());
        p.extend(&l.inner.w);
        p.push(l.b);
        p
    }

    #[test]
    fn elements_of_fields() {
        let p: Vec<f64> = (0..26)
            .map(|k| ((k * 7 % 11) as f64 - 5.0) * 0.13)
            .collect();
        let m = |p: &[f64]| Net {
            layers: vec![layer(&p[..13]), layer(&p[13..])],
        };
        let x = [0.4, 0.7, -0.3];
        let (v, (g, gx)) = net_grad(&m(&p), &x);
        assert_eq!(v, net(&m(&p), &x));
        let g_flat: Vec<f64> = g.layers.iter().flat_map(flat).collect();
        assert_gradient(|p: &[f64]| net(&m(p), &x), &p, &g_flat, 1e-6);
        assert_gradient(|x: &[f64]| net(&m(&p), x), &x, &gx, 1e-6);
        // The Hessian of a product of two fields' elements.
        let (_, _, h) = cross_hessian_hessian(&m(&p), &x);
        assert_close(h[0][14], x[0], 1e-15);
        assert_close(h[14][0], x[0], 1e-15);
    }

    // d²/dw0 d(w'1) = x0, with w of layer 0 and w' of layer 1 (flattened: 13 + 1 = 14).
    #[differentiate(jvp, hessian)]
    fn cross_hessian(m: &Net, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for l in &m.layers {
            s += l.w[0] * l.b;
        }
        s + m.layers[0].w[0] * m.layers[1].w[1] * x[0]
    }
}

/// Reviewed: a struct method on a held constant of a local struct or a `mut` parameter's copy
/// (`no_grad(&p.env).step(..)`), keys without a typed parameter (`sort_by_key(|p| ..)` of
/// rows and floats), a closure with a typed parameter given to a given `Option`'s `map_or`,
/// elements of elements read twice in a loop with a `break`.
mod reviewed_constants_and_keys {
    use super::common::{assert_close, assert_gradient};
    use autodiff_core::{Differentiable, differentiate, no_grad};

    #[derive(Clone, Differentiable)]
    pub struct Env {
        pub dt: f64,
        pub drag: f64,
    }

    impl Env {
        #[differentiate]
        pub fn step(&self, s: f64, u: f64) -> f64 {
            s + self.dt * (u - self.drag * s * s)
        }
    }

    #[derive(Clone, Differentiable)]
    pub struct Pol {
        pub k: f64,
        pub env: Env,
    }

    #[differentiate]
    fn by_value(mut p: Pol, s: f64) -> f64 {
        p.k *= 2.0;
        no_grad(&p.env).step(s, p.k)
    }

    #[differentiate]
    fn local(a: f64, s: f64) -> f64 {
        let e = Env { dt: a, drag: a * a };
        no_grad(&e).step(s, a) + e.step(s, 1.0)
    }

    #[differentiate]
    fn keyed(pts: &[[f64; 2]], x: &[f64], k: f64) -> f64 {
        let mut v: Vec<[f64; 2]> = pts.to_vec();
        v.sort_by_key(|p| (p[0] * 100.0) as i64);
        let mut w: Vec<f64> = x.iter().map(|a| a * 1.5).collect();
        w.sort_unstable_by_key(|a| a.floor() as i64);
        let mut s = w[0] - w[1];
        for (i, p) in v.iter().enumerate() {
            s += (p[0] + k * p[1]) * (i as f64 + 1.0);
        }
        s
    }

    #[differentiate(wrt(x))]
    fn typed(x: &[f64], obs: &[Option<f64>]) -> f64 {
        let mut s = 0.0;
        for i in 0..obs.len() {
            s += obs[i].map_or(x[i] * x[i], |v: f64| v * x[i]);
        }
        s
    }

    // The way the loop-kind error says to write it: the given `Option` built again.
    #[differentiate(wrt(x))]
    fn smooth(x: &[f64], start: Option<f64>) -> f64 {
        let mut prev = None;
        if let Some(v) = start {
            prev = Some(v);
        }
        let mut s = 0.0;
        for i in 0..x.len() {
            let p = prev.unwrap_or(x[i]);
            s += (x[i] - p).powi(2);
            prev = Some(x[i]);
        }
        s
    }

    #[derive(Clone, Differentiable)]
    pub struct Layer {
        pub b: f64,
    }

    #[derive(Clone, Differentiable)]
    pub struct Block {
        pub layers: Vec<Layer>,
        pub g: f64,
    }

    #[derive(Clone, Differentiable)]
    pub struct Deep {
        pub blocks: Vec<Block>,
    }

    #[differentiate]
    fn deep(m: &Deep, x: f64) -> f64 {
        let mut h = 0.0;
        for i in 0..2 {
            for j in 0..m.blocks[i].layers.len() {
                h += m.blocks[i].layers[j].b * m.blocks[i].g * x;
                if h > 3.0 {
                    break;
                }
            }
        }
        h
    }

    #[test]
    fn constants_keys_and_elements() {
        let env = |dt, drag| Env { dt, drag };
        let p = Pol {
            k: 0.4,
            env: env(0.1, 0.5),
        };
        let (v, (gp, gs)) = by_value_grad(p.clone(), 1.3);
        assert_eq!(v, by_value(p.clone(), 1.3));
        assert_eq!((gp.env.dt, gp.env.drag), (0.0, 0.0));
        assert_gradient(
            |x: &[f64]| {
                by_value(
                    Pol {
                        k: x[0],
                        env: env(0.1, 0.5),
                    },
                    x[1],
                )
            },
            &[0.4, 1.3],
            &[gp.k, gs],
            1e-6,
        );
        let (v, g) = local_grad(0.3, 1.1);
        assert_eq!(v, local(0.3, 1.1));
        // The first call's environment held at a = 0.3.
        let held = |a: f64, s: f64| env(0.3, 0.09).step(s, a) + env(a, a * a).step(s, 1.0);
        assert_gradient(|x: &[f64]| held(x[0], x[1]), &[0.3, 1.1], &[g.0, g.1], 1e-6);
        let pts = [[0.31, 0.5], [0.12, -0.7], [0.55, 0.2], [0.29, 1.1]];
        let xs = [2.3, -0.7, 1.2, 0.4];
        let (v, (gp, gx, gk)) = keyed_grad(&pts, &xs, 0.8);
        assert_eq!(v, keyed(&pts, &xs, 0.8));
        let rows = |p: &[f64]| [[p[0], p[1]], [p[2], p[3]], [p[4], p[5]], [p[6], p[7]]];
        assert_gradient(
            |p: &[f64]| keyed(&rows(p), &xs, 0.8),
            &pts.concat(),
            &gp.concat(),
            1e-6,
        );
        assert_gradient(|x: &[f64]| keyed(&pts, x, 0.8), &xs, &gx, 1e-6);
        assert_gradient(|k: &[f64]| keyed(&pts, &xs, k[0]), &[0.8], &[gk], 1e-6);
        let obs = [Some(2.0), None, Some(-0.5)];
        let (v, g) = typed_grad(&xs[..3], &obs);
        assert_eq!(v, typed(&xs[..3], &obs));
        assert_gradient(|x: &[f64]| typed(x, &obs), &xs[..3], &g, 1e-6);
        for start in [Some(0.3), None] {
            let x = [0.4, -0.8, 1.3, 0.65];
            let (v, g) = smooth_grad(&x, start);
            assert_eq!(v, smooth(&x, start));
            assert_gradient(|x: &[f64]| smooth(x, start), &x, &g, 1e-6);
        }
        let layer = |b| Layer { b };
        let m = Deep {
            blocks: vec![
                Block {
                    layers: vec![layer(0.5), layer(0.7)],
                    g: 1.2,
                },
                Block {
                    layers: vec![layer(-0.3)],
                    g: 0.4,
                },
            ],
        };
        let (v, (gm, gx)) = deep_grad(&m, 0.9);
        assert_eq!(v, deep(&m, 0.9));
        // h = x (g0 (b00 + b01) + g1 b10): each term's derivative by the formula.
        assert_close(gx, 1.2 * (0.5 + 0.7) + 0.4 * -0.3, 1e-14);
        assert_close(gm.blocks[0].g, 0.9 * (0.5 + 0.7), 1e-14);
        assert_close(gm.blocks[1].layers[0].b, 0.9 * 0.4, 1e-14);
    }
}

/// Reviewed (materials hunt): an array behind a reference dereferenced and passed by value
/// (`sq(*a)`, `let b = *a; sq(b)`), `Option` methods of data held by `no_grad`
/// (`no_grad(&self.ko)[i].unwrap_or(..)`, `no_grad(self.cut).map_or(..)`), and `chunks_mut`
/// enumerated.
mod reviewed_dereferences_and_held_options {
    use super::common::assert_gradient;
    use autodiff_core::{Differentiable, differentiate, no_grad};

    #[differentiate]
    fn sq(a: [f64; 2]) -> f64 {
        a[0] * a[0] + 3.0 * a[1]
    }

    #[differentiate]
    fn msq(m: [[f64; 2]; 2]) -> f64 {
        m[0][0] * m[1][1] - m[0][1]
    }

    #[differentiate]
    fn by_deref(a: &[f64; 2], m: &[[f64; 2]; 2]) -> f64 {
        let b = *a;
        let c = *m;
        sq(*a) + sq(b) * a[1] + msq(*m) + c[1][0] * msq(c)
    }

    #[derive(Clone, Differentiable)]
    pub struct Chain {
        pub x: Vec<f64>,
        pub kd: f64,
        #[differentiable(skip)]
        pub ko: Vec<Option<f64>>,
        #[differentiable(skip)]
        pub cut: Option<f64>,
    }

    impl Chain {
        #[differentiate]
        pub fn energy(&self) -> f64 {
            let mut e = 0.0;
            for i in 0..self.ko.len() {
                let k = no_grad(&self.ko)[i].unwrap_or(self.kd);
                let m = no_grad(&self.ko)[i].map_or(self.kd * 2.0, |v| v * self.x[i]);
                e += k * (self.x[i + 1] - self.x[i]).powi(2) + m;
            }
            e + no_grad(self.cut).map_or(3.0, |c| c * self.kd)
        }
    }

    #[differentiate]
    fn blocks(x: &[f64]) -> f64 {
        let mut buf = x.to_vec();
        for (i, ch) in buf.chunks_mut(2).enumerate() {
            ch[0] *= (i + 1) as f64 * ch[ch.len() - 1];
        }
        buf.iter().map(|v| v.sin()).sum()
    }

    #[test]
    fn dereferences_and_held_options() {
        let (a, m) = ([1.0, 2.0], [[0.5, 0.25], [1.5, -1.0]]);
        let (v, (ga, gm)) = by_deref_grad(&a, &m);
        assert_eq!(v, by_deref(&a, &m));
        assert_gradient(|a: &[f64]| by_deref(&[a[0], a[1]], &m), &a, &ga, 1e-6);
        let mat = |p: &[f64]| [[p[0], p[1]], [p[2], p[3]]];
        assert_gradient(
            |p: &[f64]| by_deref(&a, &mat(p)),
            &m.concat(),
            &gm.concat(),
            1e-6,
        );
        let chain = |p: &[f64]| Chain {
            x: p[..3].to_vec(),
            kd: p[3],
            ko: vec![None, Some(2.0)],
            cut: Some(0.25),
        };
        let p = [0.5, 1.5, -0.25, 0.75];
        let (v, g) = chain(&p).energy_grad();
        assert_eq!(v, chain(&p).energy());
        let g: Vec<f64> = g.x.iter().copied().chain([g.kd]).collect();
        assert_gradient(|p: &[f64]| chain(p).energy(), &p, &g, 1e-6);
        let x = [0.3, -1.2, 0.8, 0.45, 1.1];
        let (v, g) = blocks_grad(&x);
        assert_eq!(v, blocks(&x));
        assert_gradient(blocks, &x, &g, 1e-6);
    }
}

// ------------------------------------------------------------------------------------------
// Found by the adversarial review of stop 31: a loop-carried `Option` the function builds that
// the loop gives an `Option` it was given (`o = obs[i]` after `let mut o = None;`: last
// observation carried forward) kept `None`; `Some(self.k)` carried as the field's place kept
// the field (`o = Some(x[i])` was lost); indexing a mutable sub-slice past its end read the
// array beyond it where the function panics.
// ------------------------------------------------------------------------------------------
mod reviewed_carried_options_and_sub_slice_bounds {
    use super::*;

    #[differentiate(wrt(x))]
    fn carried_forward(x: &[f64], obs: &[Option<f64>]) -> f64 {
        let mut o: Option<f64> = None;
        let mut s = 0.0;
        for i in 0..x.len() {
            s += o.unwrap_or(x[i]) * x[i];
            o = obs[i];
        }
        s
    }

    #[differentiate(wrt(x))]
    fn carried_from_some(x: &[f64], obs: &[Option<f64>], nb: &[Option<usize>]) -> f64 {
        let mut o = Some(x[0]);
        let mut j: Option<usize> = None;
        let mut st = (None, 0.0);
        let mut s = 0.0;
        for (i, ob) in obs.iter().enumerate() {
            if let Some(v) = o {
                s += v * x[i];
            }
            if let Some(k) = j {
                s += x[k] * x[i];
            }
            s += o.map_or(x[i], |v| v * 2.0);
            st.1 += st.0.unwrap_or(x[i]) * x[i];
            o = *ob;
            j = nb[i];
            st = (obs[i], st.1);
        }
        s + st.1
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Held {
        pub k: f64,
        #[differentiable(skip)]
        pub ko: Vec<Option<f64>>,
    }

    impl Held {
        #[differentiate]
        pub fn run(&self, x: &[f64]) -> f64 {
            let mut o = Some(self.k);
            let mut p = Some(self.k);
            let mut s = 0.0;
            for i in 0..x.len() {
                s += o.unwrap_or(x[i]) * x[i] * self.k + p.unwrap_or(1.0);
                o = autodiff_core::no_grad(&self.ko)[i];
                p = Some(x[i] * 2.0);
            }
            s
        }
    }

    #[differentiate]
    fn past_sub_slice(x: &[f64], j: usize) -> f64 {
        let mut buf = x.to_vec();
        let ch = &mut buf[0..2];
        ch[j] = 5.0 * x[0];
        buf.iter().sum()
    }

    #[test]
    fn carried_options() {
        let x = [1.0, 2.0, 3.0, 0.5];
        let obs = [None, Some(10.0), None, Some(-1.0)];
        let nb = [Some(2), None, Some(0), Some(1)];
        let (v, g) = carried_forward_grad(&x[..3], &obs[..3]);
        assert_eq!((v, g.clone()), (35.0, vec![2.0, 4.0, 10.0]));
        assert_eq!(v, carried_forward(&x[..3], &obs[..3]));
        let (v, g) = carried_from_some_grad(&x, &obs, &nb);
        assert_eq!(v, carried_from_some(&x, &obs, &nb));
        assert_gradient(|x: &[f64]| carried_from_some(x, &obs, &nb), &x, &g, 1e-6);
        let held = |p: &[f64]| Held {
            k: p[4],
            ko: obs.to_vec(),
        };
        let p = [1.0, 2.0, 3.0, 0.5, 0.7];
        let (v, (gh, gx)) = held(&p).run_grad(&p[..4]);
        assert_eq!(v, held(&p).run(&p[..4]));
        let g: Vec<f64> = gx.iter().copied().chain([gh.k]).collect();
        assert_gradient(|p: &[f64]| held(p).run(&p[..4]), &p, &g, 1e-6);
    }

    #[test]
    fn sub_slice_bounds() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let (v, g) = past_sub_slice_grad(&x, 1);
        assert_eq!(v, past_sub_slice(&x, 1));
        assert_gradient(|x: &[f64]| past_sub_slice(x, 1), &x, &g, 1e-6);
        assert!(std::panic::catch_unwind(|| past_sub_slice(&x, 2)).is_err());
        assert!(std::panic::catch_unwind(|| past_sub_slice_grad(&x, 2)).is_err());
    }
}

// ------------------------------------------------------------------------------------------
// Found by the transportation and Gaussian-process hunts of stop 31 (errors from generated
// code): an element of a `Vec` field read only in a comparison, `no_grad`, `filter` or
// `min_by` (`for a in &g.arcs { if a.t0 > 2.5 { .. } }`) was moved out of the `Vec`; a skipped
// integer field as `powi`'s exponent was checked to be a float; `T::PI()` of `FloatConst` was
// read as a tuple struct.
// ------------------------------------------------------------------------------------------
mod reviewed_elements_exponents_and_constants {
    use super::*;
    use num_traits::{Float, FloatConst};

    #[derive(Clone, Debug, Differentiable)]
    pub struct Arc {
        pub t0: f64,
        #[differentiable(skip)]
        pub to: usize,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Graph {
        pub arcs: Vec<Arc>,
    }

    impl Arc {
        #[differentiate]
        pub fn time(&self, x: f64) -> f64 {
            self.t0 * x * x
        }
    }

    #[differentiate(wrt(g))]
    fn first_slow(g: &Graph, x: f64) -> f64 {
        for a in &g.arcs {
            if a.t0 > 2.5 {
                return a.time(x);
            }
        }
        0.0
    }

    #[differentiate(wrt(g, x))]
    fn inflow(g: &Graph, x: &[f64]) -> f64 {
        let mut bal = [0.0; 3];
        for (e, a) in g.arcs.iter().enumerate() {
            bal[autodiff_core::no_grad(a.to)] += x[e] * g.arcs[e].t0;
        }
        bal[0] * bal[1]
    }

    #[differentiate(wrt(g))]
    fn into_node1(g: &Graph, x: f64) -> f64 {
        let (i, _) = g
            .arcs
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.t0.total_cmp(&b.1.t0))
            .unwrap();
        let s: f64 = g.arcs.iter().filter(|a| a.to == 1).map(|a| a.time(x)).sum();
        s + g.arcs[i].t0 * x
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Idm {
        pub v0: f64,
        #[differentiable(skip)]
        pub delta: i32,
    }

    impl Idm {
        #[differentiate]
        pub fn free_term(&self, v: f64) -> f64 {
            1.0 - (v / self.v0).powi(self.delta)
        }
    }

    #[differentiate]
    fn disc<T: Float + FloatConst>(r: T) -> T {
        T::PI() * r * r + r
    }

    #[test]
    fn elements_exponents_and_constants() {
        let g = Graph {
            arcs: [(1.0, 1), (3.0, 0), (2.0, 1)]
                .iter()
                .map(|&(t0, to)| Arc { t0, to })
                .collect(),
        };
        let with = |t: &[f64]| Graph {
            arcs: g
                .arcs
                .iter()
                .zip(t)
                .map(|(a, &t0)| Arc { t0, to: a.to })
                .collect(),
        };
        let t: Vec<f64> = g.arcs.iter().map(|a| a.t0).collect();
        let t0s = |g: &Graph| -> Vec<f64> { g.arcs.iter().map(|a| a.t0).collect() };
        let (v, dg) = first_slow_grad(&g, 1.5);
        assert_eq!(v, first_slow(&g, 1.5));
        assert_gradient(|t: &[f64]| first_slow(&with(t), 1.5), &t, &t0s(&dg), 1e-6);
        let x = [0.5, 1.5, 2.0];
        let (v, (dg, dx)) = inflow_grad(&g, &x);
        assert_eq!(v, inflow(&g, &x));
        assert_gradient(|x: &[f64]| inflow(&g, x), &x, &dx, 1e-6);
        assert_gradient(|t: &[f64]| inflow(&with(t), &x), &t, &t0s(&dg), 1e-6);
        let (v, dg) = into_node1_grad(&g, 1.5);
        assert_eq!(v, into_node1(&g, 1.5));
        assert_gradient(|t: &[f64]| into_node1(&with(t), 1.5), &t, &t0s(&dg), 1e-6);
        let m = Idm { v0: 30.0, delta: 4 };
        let (v, (dm, dv)) = m.free_term_grad(12.0);
        assert_eq!(v, m.free_term(12.0));
        assert_close(dm.v0, 4.0 * 0.4f64.powi(4) / 30.0, TOL);
        assert_close(dv, -4.0 * 0.4f64.powi(3) / 30.0, TOL);
        let (v, d) = disc_grad(2.0f64);
        assert_eq!(v, disc(2.0f64));
        assert_close(d, 4.0 * std::f64::consts::PI + 1.0, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// Found by the review of stop 31 (errors from generated code): data a `mut` struct parameter
// holds, borrowed by `no_grad(&p.buf)`, was kept by the backward closure as a borrow of a local;
// `no_grad(&self.buf).last().unwrap()` moved the element out.
// ------------------------------------------------------------------------------------------
mod reviewed_held_data_of_copies {
    use super::*;
    use autodiff_core::no_grad;

    #[derive(Clone, Debug)]
    pub struct Tr {
        pub s: f64,
    }

    impl Tr {
        pub fn feat(&self) -> f64 {
            self.s * 2.0
        }
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Ag {
        pub k: f64,
        #[differentiable(skip)]
        pub buf: Vec<Tr>,
    }

    #[differentiate]
    fn stepped(mut p: Ag, x: f64) -> f64 {
        let mut s = 0.0;
        for tr in no_grad(&p.buf) {
            s += tr.s * p.k * x;
        }
        p.k = 2.0 * p.k;
        s * p.k
    }

    impl Ag {
        #[differentiate]
        pub fn latest(&self) -> f64 {
            let b = no_grad(&self.buf);
            let last = b.last().unwrap();
            last.feat() * self.k * self.k
        }
    }

    #[test]
    fn held_data_of_copies() {
        let p = Ag {
            k: 0.5,
            buf: vec![Tr { s: 1.0 }, Tr { s: 2.0 }],
        };
        // stepped = 6 k² x; latest = 4 k².
        let (v, (dp, dx)) = stepped_grad(p.clone(), 1.5);
        assert_eq!(v, stepped(p.clone(), 1.5));
        assert_close(dp.k, 12.0 * 0.5 * 1.5, TOL);
        assert_close(dx, 6.0 * 0.25, TOL);
        let (v, dp) = p.latest_grad();
        assert_eq!(v, p.latest());
        assert_close(dp.k, 8.0 * 0.5, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// Found by the structural-biology, GP and climate hunts of stop 31: an element of a struct's
// `Vec` passed to a function in a loop with a branch, a row of a struct field's copy
// (`let p = s.pos.clone(); dr(&p[0], &p[1])`) and the items of a nested `Vec` of structs
// (`for r in &p.res { for a in &r.atoms { e(a) } }`) failed inside generated code (E0507,
// E0277, E0308); an array's `map` (`log_ell.map(|l| l.exp())`) was rejected.
// ------------------------------------------------------------------------------------------
mod reviewed_struct_items_rows_and_array_map {
    use super::*;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Atom {
        pub q: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Res {
        pub atoms: Vec<Atom>,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Prot {
        pub res: Vec<Res>,
        pub pos: Vec<[f64; 3]>,
    }

    #[differentiate]
    fn pair(a: &Atom, b: &Atom) -> f64 {
        a.q * b.q
    }

    #[differentiate]
    fn dr(a: &[f64; 3], b: &[f64; 3]) -> f64 {
        a[0] * b[1] - a[2] * b[0]
    }

    #[differentiate]
    fn energy(p: &Prot) -> f64 {
        let mut e = 0.0;
        for r in &p.res {
            for a in &r.atoms {
                let w = if a.q > 0.0 { 1.0 } else { 0.5 };
                e += w * pair(a, &r.atoms[0]);
            }
        }
        let pos = p.pos.clone();
        e + dr(&pos[0], &pos[1])
    }

    #[differentiate]
    fn ard(log_ell: [f64; 3], x: &[[f64; 3]]) -> f64 {
        let ell = log_ell.map(|l| l.exp());
        let mut s = 0.0;
        for p in x {
            let d = [p[0] / ell[0], p[1] / ell[1], p[2] / ell[2]].map(|v: f64| v * v);
            s += (-0.5 * (d[0] + d[1] + d[2])).exp();
        }
        s
    }

    #[test]
    fn struct_items_rows_and_array_map() {
        let prot = |v: &[f64]| Prot {
            res: vec![
                Res {
                    atoms: v[..3].iter().map(|&q| Atom { q }).collect(),
                },
                Res {
                    atoms: vec![Atom { q: v[3] }],
                },
            ],
            pos: vec![[v[4], v[5], v[6]], [v[7], v[8], v[9]]],
        };
        let v = [0.5, -1.0, 2.0, 0.75, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (e, g) = energy_grad(&prot(&v));
        assert_eq!(e, energy(&prot(&v)));
        let mut flat: Vec<f64> = g
            .res
            .iter()
            .flat_map(|r| r.atoms.iter().map(|a| a.q))
            .collect();
        flat.extend(g.pos.iter().flatten());
        assert_gradient(|v: &[f64]| energy(&prot(v)), &v, &flat, 1e-6);
        let l = [0.1, -0.3, 0.5];
        let x = [[0.5, 1.0, -0.2], [1.5, -0.5, 0.3]];
        let (s, (gl, _)) = ard_grad(l, &x);
        assert_eq!(s, ard(l, &x));
        assert_gradient(|l: &[f64]| ard([l[0], l[1], l[2]], &x), &l, &gl, 1e-6);
    }
}

// ------------------------------------------------------------------------------------------
// Found by the climate hunt of stop 31: `obs.iter().flatten()` over `Option`s failed inside
// generated code; a NaN-tolerant comparator (`a.partial_cmp(b).unwrap_or(Ordering::Equal)`)
// and `unwrap_or_default()` were rejected.
// ------------------------------------------------------------------------------------------
mod reviewed_flattened_options_and_comparators {
    use super::*;
    use std::cmp::Ordering;

    #[differentiate(wrt(scale))]
    fn observed(scale: f64, obs: &[Option<f64>]) -> f64 {
        let mut s: f64 = obs.iter().flatten().map(|y| scale * y).sum();
        for y in obs.iter().copied().flatten() {
            s += (scale * y).sin();
        }
        s
    }

    #[differentiate(wrt(x))]
    fn ranked(x: &[f64], obs: &[Option<f64>]) -> f64 {
        let m = *x
            .iter()
            .max_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal))
            .unwrap();
        let n = *x.iter().max_by(|a, b| a.total_cmp(b).reverse()).unwrap();
        let mut v = x.to_vec();
        v.sort_by(|a, b| b.partial_cmp(a).unwrap_or(Ordering::Equal));
        let first = x.first().copied().unwrap_or_default();
        let mut s = 0.0;
        for i in 0..x.len() {
            s += x[i] * obs[i].unwrap_or_default();
        }
        m * n + v[0] * 2.0 + v[1] * first + s
    }

    /// `last()` of an empty iterator read its item at `count - 1` (a panic where the function
    /// returns); `nth` was rejected.
    #[differentiate]
    #[allow(clippy::iter_nth)]
    fn picked(x: &[f64]) -> f64 {
        let l = x.iter().copied().last().unwrap_or(1.0);
        let n = x.iter().nth(2).copied().unwrap_or(0.5);
        let m = *x.iter().rev().nth(1).unwrap_or(&0.25);
        l * 2.0 + n * l + m
    }

    #[test]
    fn nth_and_last_of_empty_iterators() {
        assert_eq!(picked_grad(&[]), (picked(&[]), vec![]));
        for x in [&[0.5, 1.5, -2.0, 3.0][..], &[0.5, 1.5]] {
            let (v, g) = picked_grad(x);
            assert_eq!(v, picked(x));
            assert_gradient(picked, x, &g, 1e-6);
        }
    }

    #[test]
    fn flattened_options_and_comparators() {
        let obs = [Some(1.5), None, Some(-2.0), Some(0.25)];
        let (v, d) = observed_grad(0.7, &obs);
        assert_eq!(v, observed(0.7, &obs));
        let ys = [1.5, -2.0, 0.25];
        let formula: f64 = ys.iter().map(|y| y + y * (0.7 * y).cos()).sum();
        assert_close(d, formula, TOL);
        let x = [0.3, 1.5, -0.7, 0.9];
        let (v, g) = ranked_grad(&x, &obs);
        assert_eq!(v, ranked(&x, &obs));
        assert_gradient(|x: &[f64]| ranked(x, &obs), &x, &g, 1e-6);
    }
}

// ------------------------------------------------------------------------------------------
// Rejected before stop 31 (review and GP hunts): `std::array::from_fn` with the array's type
// on the `let`, and `reverse()` of a local array.
// ------------------------------------------------------------------------------------------
mod reviewed_from_fn_and_reverse {
    use super::*;

    #[differentiate]
    fn scaled(x: &[f64], log_ell: [f64; 3]) -> f64 {
        let ell: [f64; 3] = std::array::from_fn(|d| log_ell[d].exp());
        let mut v = x.to_vec();
        v.reverse();
        let mut w = [x[0], x[1], x[2]];
        w.reverse();
        v[0] * ell[0] + v[1] * ell[1] * ell[2] + w[0] * w[2].sin()
    }

    #[test]
    fn from_fn_and_reverse() {
        let (x, l) = ([0.5, 1.5, -2.0, 3.0], [0.1, 0.2, -0.3]);
        let (v, (gx, gl)) = scaled_grad(&x, l);
        assert_eq!(v, scaled(&x, l));
        assert_gradient(|x: &[f64]| scaled(x, l), &x, &gx, 1e-6);
        assert_gradient(|l: &[f64]| scaled(&x, [l[0], l[1], l[2]]), &l, &gl, 1e-6);
    }
}

// ------------------------------------------------------------------------------------------
// Rejected before stop 31 (NLP and review hunts): `a.iter().chain(b)`, concatenated features.
// ------------------------------------------------------------------------------------------
mod chained_iterators {
    use super::*;

    #[differentiate]
    fn concatenated(a: &[f64], b: &[f64]) -> f64 {
        let s: f64 = a.iter().chain(b.iter()).map(|v| v * v).sum();
        let t: f64 = a
            .iter()
            .chain(b)
            .enumerate()
            .map(|(i, v)| (i as f64 + 1.0) * v)
            .sum();
        let mut u = 0.0;
        for (k, v) in a.iter().copied().chain(b.iter().copied()).rev().enumerate() {
            u += v.sin() * k as f64;
        }
        let m = a.iter().chain(b.iter()).fold(f64::MIN, |m, v| m.max(*v));
        let w: Vec<f64> = a.iter().chain(b.iter()).map(|v| v * 2.0).collect();
        s + t + u + m + w[a.len()] * w[0]
    }

    #[test]
    fn chained() {
        let (a, b) = ([0.5, 1.5, -2.0], [3.0, -0.25]);
        let (v, (ga, gb)) = concatenated_grad(&a, &b);
        assert_eq!(v, concatenated(&a, &b));
        assert_gradient(|a: &[f64]| concatenated(a, &b), &a, &ga, 1e-6);
        assert_gradient(|b: &[f64]| concatenated(&a, b), &b, &gb, 1e-6);
        let (v, (ga, gb)) = concatenated_grad(&[], &b);
        assert_eq!(v, concatenated(&[], &b));
        assert!(ga.is_empty());
        assert_gradient(|b: &[f64]| concatenated(&[], b), &b, &gb, 1e-6);
    }
}

// ------------------------------------------------------------------------------------------
// Found by the review of stop 31's own changes: an `Option` of an array the function was given,
// put into a loop's variable (dropped the array: value 0 for 5 — now a clear error, and the
// `match` it suggests works); a `return` in an array `map`'s closure ran on (now the closure
// error); all-capital tuple structs (`V2(a, b)`) and `T::E()` / `T::LN_2()`; a generic carried
// `Option<T>`; `max_by` over the items of a nested `Vec` of structs and its element passed on;
// `last()` / `nth` of windows, chunks and struct elements past the end (panics in `_grad`);
// given `Option`s assigned under a branch or in a `while`.
// ------------------------------------------------------------------------------------------
// The shapes under test are written as users write them, not as clippy would.
#[allow(clippy::manual_map, clippy::double_ended_iterator_last)]
mod reviewed_session_changes {
    use super::*;
    use num_traits::{Float, FloatConst};

    #[derive(Clone, Debug, Differentiable)]
    pub struct V2(pub f64, pub f64);

    #[derive(Clone, Debug, Differentiable)]
    pub struct Atom {
        pub q: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Res {
        pub atoms: Vec<Atom>,
        pub w: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Prot {
        pub res: Vec<Res>,
        pub k: f64,
    }

    #[differentiate]
    fn pair(a: &Atom, b: &Atom) -> f64 {
        a.q * b.q
    }

    #[differentiate(wrt(x))]
    fn carried_rows(x: &[f64], obs: &[Option<[f64; 2]>]) -> f64 {
        let mut o: Option<[f64; 2]> = None;
        let mut s = 0.0;
        for i in 0..x.len() {
            if let Some(p) = o {
                s += p[0] * x[i] + p[1];
            }
            o = match obs[i] {
                Some(p) => Some(p),
                None => None,
            };
        }
        s
    }

    #[differentiate(wrt(x))]
    fn carried_under_branches<T: Float>(x: &[T], obs: &[Option<T>]) -> T {
        let mut o: Option<T> = None;
        let mut s = T::zero();
        let mut i = 0;
        while i < x.len() {
            s = s + o.unwrap_or(x[i]) * x[i];
            if x[i] > T::zero() {
                o = obs[i];
            }
            i += 1;
        }
        s
    }

    #[differentiate]
    fn constants<T: Float + FloatConst>(r: T) -> T {
        T::E() * r + T::LN_2() * r * r
    }

    #[differentiate]
    fn tuple_struct(x: f64, y: f64) -> f64 {
        let v = V2(x * 2.0, y);
        v.0 * v.1 + v.0
    }

    #[differentiate]
    #[allow(clippy::iter_nth)]
    fn strongest(p: &Prot, k: usize) -> f64 {
        let mut e = 0.0;
        for r in &p.res {
            let (b, _) = r
                .atoms
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.q.total_cmp(&b.1.q))
                .unwrap();
            e += r.atoms[b].q * r.w;
            let a = r.atoms.iter().max_by(|a, b| a.q.total_cmp(&b.q)).unwrap();
            e += pair(a, &r.atoms[0]);
        }
        let n = p.res.iter().nth(k).map(|r| r.w).unwrap_or(p.k);
        let l = p.res.iter().last().map(|r| r.w).unwrap_or(p.k);
        e + n * l
    }

    #[differentiate(wrt(x))]
    fn last_views(x: &[f64]) -> f64 {
        let w = x.windows(2).last().map(|w| w[0] * w[1]).unwrap_or(0.75);
        let c = x.chunks(2).last().map(|c| c[0]).unwrap_or(0.75);
        let pos = [x.len() as f64, 1.0].map(|v| v > 1.5);
        if pos[0] { w + c } else { w - c }
    }

    #[test]
    fn session_changes() {
        let x = [1.0, 2.0, 3.0];
        let obs = [None, Some([1.0, 2.0]), None];
        let (v, g) = carried_rows_grad(&x, &obs);
        assert_eq!((v, g), (5.0, vec![0.0, 0.0, 1.0]));
        let (x, obs) = ([1.0, -2.0, 3.0, 0.5], [None, Some(10.0), None, Some(-1.0)]);
        let (v, g) = carried_under_branches_grad(&x, &obs);
        assert_eq!(v, carried_under_branches(&x, &obs));
        assert_gradient(|x: &[f64]| carried_under_branches(x, &obs), &x, &g, 1e-6);
        let (v, d) = constants_grad(2.0f64);
        assert_eq!(v, constants(2.0f64));
        assert_close(d, std::f64::consts::E + 4.0 * std::f64::consts::LN_2, TOL);
        assert_eq!(
            tuple_struct_grad(1.5, 0.7),
            (tuple_struct(1.5, 0.7), (3.4, 3.0))
        );
        let prot = |v: &[f64]| Prot {
            res: vec![
                Res {
                    atoms: vec![Atom { q: v[0] }, Atom { q: v[1] }],
                    w: v[2],
                },
                Res {
                    atoms: vec![Atom { q: v[3] }],
                    w: v[4],
                },
            ],
            k: v[5],
        };
        let v = [0.5, 2.0, 1.5, -1.0, 0.75, 0.25];
        for k in [0, 1, 5] {
            let (e, g) = strongest_grad(&prot(&v), k);
            assert_eq!(e, strongest(&prot(&v), k));
            let mut flat = vec![g.res[0].atoms[0].q, g.res[0].atoms[1].q, g.res[0].w];
            flat.extend([g.res[1].atoms[0].q, g.res[1].w, g.k]);
            assert_gradient(|v: &[f64]| strongest(&prot(v), k), &v, &flat, 1e-6);
        }
        let empty = Prot {
            res: vec![],
            k: 0.5,
        };
        assert_eq!(strongest_grad(&empty, 2).0, strongest(&empty, 2));
        for x in [&[][..], &[2.0], &[2.0, 3.0, 4.0]] {
            let (v, g) = last_views_grad(x);
            assert_eq!(v, last_views(x));
            assert_gradient(last_views, x, &g, 1e-6);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Found by the second review of stop 31's changes: an `Option` of a tuple the function was
// given, carried by a loop as `match obs[i] { Some(p) => Some(p), .. }`, dropped the tuple
// (value 6 for 12.5; now a clear error, and the form with the parts written out works);
// `skip`, `take`, `step_by` and `rev` before `last()`/`nth` of struct elements, windows and
// rows read past the end (panics in `_grad`).
// ------------------------------------------------------------------------------------------
// The shapes under test are written as users write them, not as clippy would.
#[allow(clippy::manual_map, clippy::double_ended_iterator_last)]
mod reviewed_carried_tuples_and_adapted_lasts {
    use super::*;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Atom {
        pub q: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Mol {
        pub atoms: Vec<Atom>,
        pub k: f64,
    }

    #[differentiate(wrt(x))]
    fn carried_pairs(x: &[f64], obs: &[Option<(f64, f64)>]) -> f64 {
        let mut o: Option<(f64, f64)> = None;
        let mut s = 0.0;
        for i in 0..x.len() {
            if let Some((u, v)) = o {
                s += u * x[i] + v;
            }
            o = match obs[i] {
                Some((a, b)) => Some((a, b)),
                None => None,
            };
            s += x[i];
        }
        s
    }

    #[differentiate]
    #[allow(clippy::iter_skip_next)]
    fn adapted(m: &Mol, k: usize) -> f64 {
        m.atoms.iter().skip(k).last().map(|a| a.q).unwrap_or(m.k)
            + m.atoms
                .iter()
                .take(k)
                .last()
                .map(|a| a.q * 2.0)
                .unwrap_or(m.k)
            + m.atoms
                .iter()
                .rev()
                .nth(k)
                .map(|a| a.q * 3.0)
                .unwrap_or(m.k)
            + m.atoms
                .iter()
                .skip(1)
                .step_by(2)
                .last()
                .map(|a| a.q * 5.0)
                .unwrap_or(m.k)
            + m.atoms
                .iter()
                .enumerate()
                .skip(k)
                .last()
                .map(|(i, a)| a.q * i as f64)
                .unwrap_or(m.k)
    }

    #[differentiate]
    fn adapted_views(x: &[f64], p: &[[f64; 2]]) -> f64 {
        x.windows(2)
            .rev()
            .last()
            .map(|w| w[0] * w[1])
            .unwrap_or(0.25)
            + x.chunks(2).rev().nth(1).map(|c| c[0]).unwrap_or(0.5)
            + p.iter().rev().last().map(|r| r[0] * r[1]).unwrap_or(0.75)
            + x.iter()
                .zip(p.iter())
                .last()
                .map(|(a, r)| a * r[1])
                .unwrap_or(1.25)
    }

    #[test]
    fn carried_tuples_and_adapted_lasts() {
        let x = [1.0, 2.0, 3.0];
        let obs = [Some((2.0, 5.0)), Some((-1.0, 0.5)), None];
        let (v, g) = carried_pairs_grad(&x, &obs);
        assert_eq!((v, g), (12.5, vec![1.0, 3.0, 0.0]));
        for n in 0..4 {
            let mol = |v: &[f64]| Mol {
                atoms: v[1..].iter().map(|&q| Atom { q }).collect(),
                k: v[0],
            };
            let v: Vec<f64> = (0..=n).map(|i| 0.3 + i as f64).collect();
            for k in 0..4 {
                let (e, g) = adapted_grad(&mol(&v), k);
                assert_eq!(e, adapted(&mol(&v), k));
                let flat: Vec<f64> = [g.k]
                    .into_iter()
                    .chain(g.atoms.iter().map(|a| a.q))
                    .collect();
                assert_gradient(|v: &[f64]| adapted(&mol(v), k), &v, &flat, 1e-6);
            }
            let x: Vec<f64> = (0..n).map(|i| 0.5 + i as f64).collect();
            let p: Vec<[f64; 2]> = (0..n).map(|i| [1.0 + i as f64, -0.5]).collect();
            let (v, (gx, _)) = adapted_views_grad(&x, &p);
            assert_eq!(v, adapted_views(&x, &p));
            assert_gradient(|x: &[f64]| adapted_views(x, &p), &x, &gx, 1e-6);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Found at stop 32 (the review of recent constructs, and hunts in geophysics, probabilistic
// programming and deep combinations). Silent: a loop-carried reference to an element of a
// struct's `Vec` (`let mut prev = &p.pts[0]; .. prev = q;`) kept reading the first element
// inside the loop (value 10.83 for 6). Panics: `max_by` of an empty `Vec` of structs read its
// first element in `_grad`. Generated-code errors: `Some(c)` of `min_by` over structs passed to
// a function (E0308); `std::array::from_fn` of a generic float (E0308). Rejected: `windows` /
// `chunks` of a call's `Vec`, `reduce` and `last` after `filter`, `obs[i].or(o)`, `idx.map(..)`
// of an `Option<usize>`, methods of a carried element reference, `o == None`, an untyped `nth`
// behind `skip`, `if let Some(a) = m.atoms.last()`, `best.is_none() || v > best.unwrap()`,
// `from_fn` of bools, with a typed or unused parameter.
// ------------------------------------------------------------------------------------------
mod reviewed_carried_references_and_kept_reductions {
    use super::*;
    use num_traits::Float;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Atom {
        pub x: f64,
        pub q: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Mol {
        pub atoms: Vec<Atom>,
        pub k: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Poly {
        pub pts: Vec<[f64; 2]>,
        pub k: f64,
    }

    pub(super) fn mol(v: &[f64]) -> Mol {
        Mol {
            atoms: v[1..]
                .chunks(2)
                .map(|c| Atom { x: c[0], q: c[1] })
                .collect(),
            k: v[0],
        }
    }

    pub(super) fn flat(g: &Mol) -> Vec<f64> {
        let atoms = g.atoms.iter().flat_map(|a| [a.x, a.q]);
        [g.k].into_iter().chain(atoms).collect()
    }

    #[differentiate]
    fn length(p: &Poly) -> f64 {
        let mut prev = &p.pts[0];
        let mut s = 0.0;
        for q in p.pts.iter().skip(1) {
            s += ((q[0] - prev[0]).powi(2) + (q[1] - prev[1]).powi(2)).sqrt();
            prev = q;
        }
        s * p.k + prev[1]
    }

    #[differentiate]
    fn chained(m: &Mol) -> f64 {
        let mut prev = &m.atoms[0];
        let mut s = 0.0;
        for a in &m.atoms {
            s += prev.x * a.q;
            prev = a;
        }
        let mut best = &m.atoms[0];
        for a in &m.atoms {
            if a.q > best.q {
                best = a;
            }
        }
        let mut last = &m.atoms[0];
        let mut t = 0.0;
        for i in 1..m.atoms.len() {
            let a = &m.atoms[i];
            t += last.q * a.x;
            last = a;
        }
        s + prev.q + best.x * best.q * m.k + t + last.x
    }

    #[differentiate]
    fn not_read_after(m: &Mol) -> f64 {
        let mut prev = &m.atoms[0];
        let mut s = 0.0;
        for a in m.atoms.iter().skip(1) {
            s += prev.x * a.q;
            prev = a;
        }
        s
    }

    #[differentiate]
    fn bond(a: &Atom, b: &Atom) -> f64 {
        a.q * b.q + a.x
    }

    #[differentiate]
    fn nearest(m: &Mol) -> f64 {
        let e = match m.atoms.iter().min_by(|a, b| a.x.total_cmp(&b.x)) {
            Some(c) => bond(c, &m.atoms[0]),
            None => m.k,
        };
        let f = if let Some(c) = m.atoms.iter().max_by(|a, b| a.q.total_cmp(&b.q)) {
            c.q * c.x
        } else {
            m.k * 2.0
        };
        e + f
    }

    #[differentiate]
    fn empty_top(m: &Mol) -> f64 {
        let top = match m.atoms.iter().max_by(|a, b| a.q.total_cmp(&b.q)) {
            Some(a) => a.q * a.x,
            None => m.k,
        };
        top + m
            .atoms
            .iter()
            .min_by(|a, b| a.x.partial_cmp(&b.x).unwrap_or(std::cmp::Ordering::Equal))
            .map(|a| a.q)
            .unwrap_or(m.k * 3.0)
    }

    #[differentiate]
    fn rotated<T: Float>(p: [T; 3]) -> T {
        let f: [T; 3] = std::array::from_fn(|i| p[i] * p[(i + 2) % 3]);
        f[0] + f[1] * f[2]
    }

    #[differentiate]
    fn scaled(x: &[f64], k: f64) -> Vec<f64> {
        x.iter().map(|v| v * k).collect()
    }

    #[differentiate]
    fn smoothness(x: &[f64], k: f64) -> f64 {
        let y = scaled(x, k);
        let mut s = y.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>();
        for c in y.chunks(2) {
            s += c[0] * c[c.len() - 1];
        }
        s
    }

    #[differentiate]
    fn kept_reductions(x: &[f64], c: f64) -> f64 {
        let m = x
            .iter()
            .copied()
            .filter(|v| *v > 1.0)
            .reduce(f64::max)
            .unwrap_or(c);
        let p = x
            .iter()
            .map(|v| v * c)
            .filter(|v| *v > 1.0)
            .reduce(|a, b| a * b + 0.5 * b);
        m + match p {
            Some(v) => v * c,
            None => c,
        }
    }

    #[differentiate(wrt(x))]
    fn carried_forward(x: &[f64], obs: &[Option<f64>]) -> f64 {
        let mut o: Option<f64> = None;
        let mut s = 0.0;
        for i in 0..x.len() {
            o = obs[i].or(o);
            s += o.unwrap_or(x[i]) * x[i];
        }
        let first = if x[0] > 0.0 { Some(x[0] * 2.0) } else { None };
        s + obs[0].or(first).unwrap_or(1.0)
    }

    impl Atom {
        #[differentiate]
        fn energy(&self, k: f64) -> f64 {
            self.x * self.q * k
        }
    }

    #[differentiate]
    fn handed_on(m: &Mol) -> f64 {
        let mut best = &m.atoms[0];
        for a in &m.atoms {
            if a.q > best.q {
                best = a;
            }
        }
        let mut prev = &m.atoms[0];
        let mut s = 0.0;
        for a in m.atoms.iter().skip(1) {
            s += bond(prev, a);
            prev = a;
        }
        bond(best, &m.atoms[0]) + best.energy(m.k) + s + prev.energy(2.0)
    }

    #[differentiate]
    #[allow(clippy::double_ended_iterator_last)]
    fn last_kept(x: &[f64]) -> f64 {
        let l = x
            .iter()
            .filter(|v| **v > 0.0)
            .last()
            .copied()
            .unwrap_or(0.0);
        let m = x
            .iter()
            .map(|v| v * 2.0)
            .filter(|v| *v < 3.0)
            .last()
            .unwrap_or(1.0);
        l * l + m
    }

    #[differentiate]
    #[allow(clippy::partialeq_to_none)]
    fn compared_to_none(x: &[f64]) -> f64 {
        let mut o: Option<f64> = None;
        let mut s = 0.0;
        for i in 0..x.len() {
            if o == None {
                s += x[i];
            } else if o != None && x[i] > 0.0 {
                s += o.unwrap() * x[i];
            }
            if i % 2 == 0 {
                o = Some(x[i] * 2.0);
            }
        }
        s
    }

    #[differentiate(wrt(x))]
    fn given_both(x: &[f64], obs: &[Option<f64>], d: Option<f64>) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            s += obs[i].or(d).unwrap_or(1.0) * x[i];
        }
        let idx: [usize; 3] = std::array::from_fn(|i| 2 - i);
        s + x[idx[0]]
    }

    #[differentiate]
    fn typed_reference(m: &Mol) -> f64 {
        let mut prev: &Atom = &m.atoms[0];
        let mut s = 0.0;
        for a in m.atoms.iter().skip(1) {
            s += prev.x * a.q;
            prev = a;
        }
        s
    }

    #[differentiate]
    #[allow(clippy::iter_nth)]
    fn skipped_nth(x: &[f64], c: f64) -> f64 {
        let e = x.iter().skip(1).nth(1).copied().unwrap_or(1.0);
        e * c
    }

    #[differentiate]
    #[allow(clippy::unnecessary_unwrap, clippy::partialeq_to_none)]
    fn running_best(x: &[f64]) -> f64 {
        let mut best: Option<f64> = None;
        for &v in x {
            if best.is_none() || v > best.unwrap() {
                best = Some(v);
            }
        }
        let mut o: Option<f64> = None;
        let mut s = 0.0;
        for i in 0..x.len() {
            if x[i] > 0.0 && (o != None || x[i] > 1.25) {
                s += x[i] * o.unwrap_or(2.0);
            }
            if x[i] > o.unwrap_or(0.0) {
                o = Some(x[i]);
            }
        }
        best.unwrap_or(0.0) * 2.0 + s
    }

    #[differentiate(wrt(x))]
    #[allow(clippy::iter_skip_next, clippy::manual_next_back)]
    fn filled(x: &[f64], name: &str, labels: &[usize]) -> f64 {
        let c = name.chars().rev().next().unwrap_or('a');
        let t = labels.iter().skip(1).next().copied().unwrap_or(0);
        let pos: [bool; 3] = std::array::from_fn(|i| x[i] > 0.0);
        let a: [f64; 3] = std::array::from_fn(|i: usize| x[i] * 2.0);
        let b: [f64; 2] = std::array::from_fn(|_| x[0] * 3.0);
        let base = if c == 'c' { x[0] } else { x[1] };
        base + x[t] + if pos[1] { a[2] } else { a[1] } + b[1]
    }

    #[differentiate]
    fn ends(m: &Mol) -> f64 {
        let s = if let Some(a) = m.atoms.last() {
            a.q * m.k
        } else {
            m.k
        };
        let t = match m.atoms.first() {
            Some(a) => bond(a, a),
            None => 0.0,
        };
        s + t + m.atoms.last().map(|a| a.x * 2.0).unwrap_or(1.0)
    }

    #[differentiate]
    fn picked(x: &[f64], idx: Option<usize>) -> f64 {
        let m = x
            .iter()
            .copied()
            .filter(|v| *v < 1.0)
            .reduce(|a, b| a.max(b))
            .unwrap_or(0.0);
        idx.map(|i| x[i] * x[0]).unwrap_or(0.5) + idx.or(Some(1)).map_or(m, |i| x[i])
    }

    #[test]
    fn carried_references_and_kept_reductions() {
        let p = Poly {
            pts: vec![[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]],
            k: 1.5,
        };
        let (v, g) = length_grad(&p);
        assert_eq!(v, length(&p));
        assert_eq!(v, 6.0 * 1.5 + 5.0);
        let pv: Vec<f64> = p.pts.iter().flatten().copied().chain([p.k]).collect();
        let poly = |v: &[f64]| Poly {
            pts: v[..6].chunks(2).map(|c| [c[0], c[1]]).collect(),
            k: v[6],
        };
        let gv: Vec<f64> = g.pts.iter().flatten().copied().chain([g.k]).collect();
        assert_gradient(|v: &[f64]| length(&poly(v)), &pv, &gv, 1e-6);
        for n in 0..4 {
            let v: Vec<f64> = (0..1 + 2 * n)
                .map(|i| 0.3 + (i as f64 * 1.7).sin())
                .collect();
            let m = mol(&v);
            if n > 0 {
                for (f, g) in [
                    (chained as fn(&Mol) -> f64, chained_grad as fn(&Mol) -> _),
                    (not_read_after, not_read_after_grad),
                    (handed_on, handed_on_grad),
                    (typed_reference, typed_reference_grad),
                ] {
                    let (e, gm) = g(&m);
                    assert_eq!(e, f(&m));
                    assert_gradient(|v: &[f64]| f(&mol(v)), &v, &flat(&gm), 1e-6);
                }
            }
            for (f, g) in [
                (nearest as fn(&Mol) -> f64, nearest_grad as fn(&Mol) -> _),
                (empty_top, empty_top_grad),
                (ends, ends_grad),
            ] {
                let (e, gm) = g(&m);
                assert_eq!(e, f(&m));
                assert_gradient(|v: &[f64]| f(&mol(v)), &v, &flat(&gm), 1e-6);
            }
        }
        let q = [0.5, -1.25, 2.0];
        let (v, g) = rotated_grad(q);
        assert_eq!(v, rotated(q));
        assert_gradient(|q: &[f64]| rotated([q[0], q[1], q[2]]), &q, &g, 1e-6);
        // At `f32`: the analytic gradient of p0 p2 + p0 p1² p2.
        let (v32, g32) = rotated_grad([0.5f32, -1.25, 2.0]);
        assert_eq!(v32, rotated([0.5f32, -1.25, 2.0]));
        let exact = [
            2.0 + 1.5625 * 2.0,
            2.0 * 0.5 * -1.25 * 2.0,
            0.5 + 0.5 * 1.5625,
        ];
        for (g, e) in g32.iter().zip(exact) {
            assert!((g - e).abs() < 1e-6, "{g} {e}");
        }
        for x in [
            vec![1.0, 3.0, 2.0],
            vec![0.5, 3.0, 2.0, 4.0, 0.2],
            vec![0.5],
            vec![],
        ] {
            let (v, (gx, gk)) = smoothness_grad(&x, 2.0);
            assert_eq!(v, smoothness(&x, 2.0));
            assert_gradient(|x: &[f64]| smoothness(x, 2.0), &x, &gx, 1e-6);
            assert_gradient(|k: &[f64]| smoothness(&x, k[0]), &[2.0], &[gk], 1e-6);
            let (v, (gx, gc)) = skipped_nth_grad(&x, 0.6);
            assert_eq!(v, skipped_nth(&x, 0.6));
            assert_gradient(|x: &[f64]| skipped_nth(x, 0.6), &x, &gx, 1e-6);
            assert_gradient(|c: &[f64]| skipped_nth(&x, c[0]), &[0.6], &[gc], 1e-6);
            let (v, gx) = running_best_grad(&x);
            assert_eq!(v, running_best(&x));
            assert_gradient(running_best, &x, &gx, 1e-6);
            if x.len() >= 3 {
                for (name, labels) in [("abc", [0, 2]), ("xyz", [1, 1])] {
                    let (v, g) = filled_grad(&x, name, &labels);
                    assert_eq!(v, filled(&x, name, &labels));
                    assert_gradient(|x: &[f64]| filled(x, name, &labels), &x, &g, 1e-6);
                }
            }
            let (v, gx) = compared_to_none_grad(&x);
            assert_eq!(v, compared_to_none(&x));
            assert_gradient(compared_to_none, &x, &gx, 1e-6);
            let (v, gx) = last_kept_grad(&x);
            assert_eq!(v, last_kept(&x));
            assert_gradient(last_kept, &x, &gx, 1e-6);
            let (v, (gx, gc)) = kept_reductions_grad(&x, 1.5);
            assert_eq!(v, kept_reductions(&x, 1.5));
            assert_gradient(|x: &[f64]| kept_reductions(x, 1.5), &x, &gx, 1e-6);
            assert_gradient(|c: &[f64]| kept_reductions(&x, c[0]), &[1.5], &[gc], 1e-6);
        }
        for idx in [Some(2), Some(0), None] {
            let x = [1.5, 0.25, 3.0, -0.5];
            let (v, g) = picked_grad(&x, idx);
            assert_eq!(v, picked(&x, idx));
            assert_gradient(|x: &[f64]| picked(x, idx), &x, &g, 1e-6);
        }
        let x = [0.5, -2.0, 1.5];
        for d in [Some(3.0), None] {
            let obs = [Some(1.0), None, None];
            let (v, g) = given_both_grad(&x, &obs, d);
            assert_eq!(v, given_both(&x, &obs, d));
            assert_gradient(|x: &[f64]| given_both(x, &obs, d), &x, &g, 1e-6);
        }
        let x = [1.0, 2.0, 3.0, -0.5];
        for obs in [
            [None, Some(0.5), None, None],
            [Some(2.0), None, Some(-1.0), None],
            [None; 4],
        ] {
            let (v, g) = carried_forward_grad(&x, &obs);
            assert_eq!(v, carried_forward(&x, &obs));
            assert_gradient(|x: &[f64]| carried_forward(x, &obs), &x, &g, 1e-6);
        }
    }
}

/// The struct element of an `Option` bound to a name first (`let p = ..max_by(..); if let
/// Some(b) = p`), a clone of one (`..unwrap().clone()`), `Option<&Atom>` variables,
/// `is_some_and` / `is_none_or` of an `Option` the function builds; and idioms of data the
/// hunts of this stop met: `match *o` with a guard, argmax over integer keys, `iter::once` in
/// a chain, a constant array copied into a typed variable or assigned, a `HashMap` keyed by a
/// `String` field.
// The shapes under test are written as users write them, lints or not.
#[allow(
    clippy::iter_nth,
    clippy::unnecessary_map_or,
    clippy::manual_swap,
    clippy::redundant_closure
)]
mod reviewed_element_options_and_data_idioms {
    use super::reviewed_carried_references_and_kept_reductions::{Atom, Mol, flat, mol};
    use super::*;

    #[differentiate]
    fn energy(a: &Atom) -> f64 {
        a.x * a.q
    }

    #[differentiate]
    fn best_clone(m: &Mol) -> f64 {
        let b = m
            .atoms
            .iter()
            .max_by(|a, b| a.q.total_cmp(&b.q))
            .unwrap()
            .clone();
        b.x * b.x + b.q * m.k
    }

    #[differentiate]
    fn named_best(m: &Mol) -> f64 {
        let p = m.atoms.iter().min_by(|a, b| a.q.total_cmp(&b.q));
        let q = m.atoms.last();
        let s = match p {
            Some(b) => energy(b) + b.x,
            None => 0.0,
        };
        if let Some(a) = q {
            s + energy(a) * a.q
        } else {
            s * m.k
        }
    }

    #[differentiate]
    fn picked_in_loop(m: &Mol) -> f64 {
        let mut s = 0.0;
        for _ in 0..2 {
            let p = m
                .atoms
                .iter()
                .max_by(|a, b| (a.x * a.q).total_cmp(&(b.x * b.q)));
            if let Some(b) = p {
                s += energy(b).abs().sqrt() + b.clone().x * m.k;
            }
        }
        let c = m.atoms.iter().nth(1).unwrap().clone();
        s + energy(&c) * c.x
    }

    #[differentiate]
    fn named_number(xs: &[f64]) -> f64 {
        let p = xs.iter().max_by(|a, b| a.total_cmp(b));
        let q = p;
        let twice = if let Some(v) = p {
            *v * 2.0 + xs[0]
        } else {
            0.0
        };
        match q {
            Some(&v) => v * v + twice,
            None => twice,
        }
    }

    #[differentiate]
    fn running_max(xs: &[f64]) -> f64 {
        let mut best: Option<f64> = None;
        for &v in xs {
            if best.is_none_or(|b| v > b) {
                best = Some(v);
            }
        }
        best.unwrap_or(0.0) * 2.0
    }

    #[differentiate]
    fn jumps(xs: &[f64], t: f64) -> f64 {
        let mut s = 0.0;
        let mut last: Option<f64> = None;
        for &v in xs {
            if last.is_some_and(|p| (v - p).abs() > t) {
                s += v * t;
            }
            last = Some(v);
        }
        let m = xs.iter().copied().max_by(|a, b| a.total_cmp(b));
        if m.is_some_and(|v| v > 1.0) {
            s + m.unwrap().ln()
        } else {
            s
        }
    }

    #[differentiate]
    fn top_two(m: &Mol) -> f64 {
        let mut best: Option<&Atom> = None;
        let mut second: Option<&Atom> = None;
        for a in m.atoms.iter() {
            match best {
                Some(b) if b.q >= a.q => {
                    if second.map_or(true, |s| a.q > s.q) {
                        second = Some(a);
                    }
                }
                _ => {
                    second = best;
                    best = Some(a);
                }
            }
        }
        let s = if let Some(b) = best {
            energy(b) * m.k
        } else {
            0.0
        };
        s + second.map(|c| c.x * c.x).unwrap_or(0.0)
    }

    #[differentiate]
    fn previous_atom(m: &Mol) -> f64 {
        let mut last: Option<&Atom> = None;
        let mut s = 0.0;
        for a in &m.atoms {
            if let Some(p) = last {
                s += energy(p) * a.x;
            }
            last = Some(a);
        }
        let b = last.unwrap();
        s + energy(b)
    }

    #[differentiate]
    fn best_reference(xs: &[f64]) -> f64 {
        let mut best: Option<&f64> = None;
        for v in xs.iter() {
            if best.is_none_or(|b| v > b) {
                best = Some(v);
            }
        }
        match best {
            Some(v) => *v * 2.0,
            None => 0.0,
        }
    }

    #[differentiate]
    fn sqd(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    #[differentiate]
    fn hard_negative(emb: &[Vec<f64>], anchor: usize) -> f64 {
        let mut neg: Option<&Vec<f64>> = None;
        let mut nd = f64::INFINITY;
        for i in 0..emb.len() {
            let d = sqd(&emb[anchor], &emb[i]);
            if i != anchor && d < nd {
                nd = d;
                neg = Some(&emb[i]);
            }
        }
        match neg {
            Some(n) => (1.5 - sqd(&emb[anchor], n)).max(0.0) + n[1] * 2.0,
            None => 0.0,
        }
    }

    #[differentiate]
    fn previous_row(emb: &[Vec<f64>]) -> f64 {
        let mut prev: Option<&Vec<f64>> = None;
        let mut s = 0.0;
        for r in emb {
            if let Some(p) = prev {
                s += sqd(p, r) * p[0];
            }
            prev = Some(r);
        }
        s + prev.map(|p| p[1]).unwrap_or(0.0)
    }

    #[differentiate]
    fn polygon_turns(pts: &[[f64; 2]]) -> f64 {
        let mut best: Option<&[f64; 2]> = None;
        let mut prev: Option<&[f64; 2]> = None;
        let mut s = 0.0;
        for p in pts {
            if let Some(q) = prev {
                s += (p[0] - q[0]) * (p[1] + q[1]);
            }
            if best.is_none_or(|b| p[0] > b[0]) {
                best = Some(p);
            }
            prev = Some(p);
        }
        s + best.map(|b| b[0] * b[1]).unwrap_or(0.0)
    }

    #[differentiate(wrt(k))]
    fn nudged(k: f64, obs: &[Option<f64>]) -> f64 {
        let mut s = 0.0;
        for o in obs {
            match *o {
                Some(v) if v > 0.0 => s += k * v,
                Some(v) => s -= (k * v).abs().sqrt(),
                _ => s += k,
            }
        }
        s
    }

    #[differentiate(wrt(x))]
    fn top_priority(x: &[f64], k: &[i32]) -> f64 {
        let j = k
            .iter()
            .enumerate()
            .max_by(|p, q| p.1.cmp(q.1))
            .map(|(j, _)| j)
            .unwrap();
        x[j] * x[j]
    }

    #[differentiate]
    fn with_bias(x: &[f64], w: &[f64]) -> f64 {
        let a: f64 = x
            .iter()
            .copied()
            .chain(std::iter::once(1.0))
            .zip(w)
            .map(|(a, b)| a * b)
            .sum();
        let closed: f64 = x.iter().chain(std::iter::once(&x[0])).map(|v| v * v).sum();
        let padded: Vec<f64> = std::iter::once(0.0)
            .chain(x.iter().copied())
            .chain(std::iter::once(0.0))
            .collect();
        let steps: f64 = padded.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
        let led: f64 = std::iter::once(x[0] * 2.0)
            .chain(x.iter().copied())
            .map(|v| v * v)
            .sum();
        a + closed + steps + led
    }

    pub struct Fixture {
        pub home: String,
        pub away: String,
        pub s: f64,
    }

    #[differentiate(wrt(r))]
    fn rating_loss(
        r: &[f64],
        ids: &std::collections::HashMap<String, usize>,
        games: &[Fixture],
    ) -> f64 {
        let mut l = 0.0;
        for g in games {
            l += r[ids[&g.home]] * g.s - r[ids[&g.away]];
        }
        for i in 0..games.len() {
            l += r[ids[&games[i].home]].powi(2);
        }
        l
    }

    #[differentiate(wrt(x))]
    fn keyed(x: &[f64], k: &[i32]) -> f64 {
        let (v, _) = x
            .iter()
            .zip(k.iter().copied())
            .max_by(|p, q| p.1.cmp(&q.1))
            .unwrap();
        v * v
    }

    #[differentiate]
    fn ends_adjusted(x: &[f64]) -> f64 {
        let mut v = x.to_vec();
        *v.last_mut().unwrap() -= 1.0;
        *v.first_mut().expect("one element") *= 2.0;
        v.iter().map(|a| a * a).sum()
    }

    #[differentiate(wrt(k))]
    fn large_observations(k: f64, obs: &[Option<f64>]) -> f64 {
        let mut s = 0.0;
        for o in obs {
            if o.is_some_and(|v| v > 1.0) {
                s += k * o.unwrap();
            }
            if o.is_none_or(|v| v < 0.0) {
                s -= k * k;
            }
        }
        s
    }

    #[differentiate(wrt(table, level))]
    fn storage(table: &[[f64; 2]], level: f64) -> f64 {
        let mut s = 0.0;
        for i in 0..table.len() {
            if let Some(&next) = table.get(i + 1) {
                s += (next[0] - table[i][0]) * level * next[1];
            }
        }
        s
    }

    #[differentiate]
    fn next_rows(m: &[Vec<f64>], k: f64) -> f64 {
        let mut s = 0.0;
        for i in 0..m.len() {
            let next = m.get(i + 1);
            if let Some(r) = next {
                s += r[0] * k + r[1];
            } else {
                s += m[i][0];
            }
            if let Some(f) = m.first() {
                s += f[1] * k;
            }
        }
        s
    }

    #[differentiate]
    fn cursor_moved(m: &Mol) -> f64 {
        let mut cur = m.atoms.first();
        let mut typed: Option<&Atom> = Some(&m.atoms[0]);
        let mut s = 0.0;
        for i in 0..3 {
            if let Some(c) = cur {
                s += c.x;
            }
            if let Some(c) = typed {
                s += c.x * c.q;
            }
            cur = m.atoms.last();
            typed = m.atoms.iter().nth(i);
        }
        s
    }

    #[differentiate]
    fn swapped_ends(m: &Mol) -> f64 {
        let mut a1 = m.atoms.first();
        let mut a2 = m.atoms.last();
        let mut s = 0.0;
        for _ in 0..3 {
            if let Some(a) = a1 {
                s = s * 0.5 + a.x;
            }
            let t = a1;
            a1 = a2;
            a2 = t;
        }
        s + a2.map(|a| a.q).unwrap_or(0.0)
    }

    #[differentiate]
    fn split_ends(m: &Mol) -> f64 {
        let first = match m.atoms.split_first() {
            Some((f, rest)) => f.x * f.q + rest.len() as f64,
            None => 0.0,
        };
        let q = m.atoms.split_last();
        if let Some((l, rest)) = q {
            first + energy(l) * rest[0].x
        } else {
            first
        }
    }

    #[differentiate]
    fn split_numbers(x: &[f64]) -> f64 {
        match x.split_last() {
            Some((&l, rest)) => l * rest.iter().sum::<f64>(),
            None => 0.0,
        }
    }

    #[differentiate]
    fn guarded_walk(m: &Mol) -> f64 {
        let mut cur: Option<&Atom> = None;
        let mut s = 0.0;
        for i in 0..m.atoms.len() + 1 {
            cur = if i < m.atoms.len() {
                Some(&m.atoms[i])
            } else {
                None
            };
            if let Some(b) = cur {
                s += b.x * b.q;
            }
        }
        let mut i = 0;
        let mut next = m.atoms.first();
        while let Some(c) = next {
            s += c.x;
            i += 1;
            next = if i < m.atoms.len() {
                Some(&m.atoms[i])
            } else {
                None
            };
        }
        s + cur.map_or(0.0, |c| c.q)
    }

    #[differentiate]
    fn helper_in_condition(m: &Mol, rows: &[Vec<f64>]) -> f64 {
        let mut s = 0.0;
        for a in &m.atoms {
            if energy(a) > 1.0 {
                s += a.x;
            }
        }
        for r in rows {
            if sqd(r, &rows[0]) > 0.1 {
                s += r[1] * m.k;
            }
        }
        s
    }

    #[differentiate]
    fn nearest_row(e: &[Vec<f64>], q: &[f64]) -> f64 {
        let r = e
            .iter()
            .min_by(|a, b| sqd(a, q).total_cmp(&sqd(b, q)))
            .unwrap();
        r[0] * r[1]
    }

    #[differentiate]
    fn ends_compared(m: &Mol) -> f64 {
        let f = m.atoms.first();
        let l = m.atoms.last();
        if let (Some(a), Some(b)) = (f, l) {
            energy(a) - energy(b)
        } else {
            m.k
        }
    }

    #[differentiate]
    fn best_reset(m: &Mol) -> f64 {
        let mut best: Option<&Atom> = None;
        let mut s = 0.0;
        for k in 0..2 {
            best = None;
            for a in &m.atoms {
                if a.q > k as f64 {
                    best = Some(a);
                }
            }
            s += best.map_or(0.0, |b| energy(b));
        }
        let top = best.unwrap_or(&m.atoms[0]);
        s + energy(best.unwrap()) * top.x
    }

    #[differentiate(wrt(x))]
    fn chosen_keys(x: &[f64], k: &[i32], slot: &[usize]) -> f64 {
        let m = k.iter().enumerate().max_by(|p, q| p.1.cmp(q.1)).unwrap();
        let (_, j) = k.iter().zip(slot).max_by(|p, q| p.0.cmp(q.0)).unwrap();
        let mut best = &k[0];
        let mut acc = 0.0;
        for i in 0..x.len() {
            if k[i] > *best {
                best = &k[i];
                acc += x[i];
            }
        }
        x[m.0] + *m.1 as f64 * x[0] + x[*j] * x[*j] + acc * (*best as f64)
    }

    const BIAS: [f64; 2] = [0.05, -0.1];
    const MIX: [[f64; 2]; 2] = [[1.0, 0.5], [-0.5, 2.0]];
    const HALF: f64 = 0.5;

    #[differentiate]
    fn from_bias(x: &[f64]) -> f64 {
        let mut h = [0.0, 0.0];
        let mut acc = [0.0, 0.0];
        for &xt in x {
            let mut nh: [f64; 2] = BIAS;
            nh[0] += xt * h[1] + xt;
            nh[1] += 0.5 * xt * h[0];
            h = nh.map(|z| z.tanh());
            acc = BIAS;
            acc[1] += h[0];
        }
        let mut m: [[f64; 2]; 2] = MIX;
        m[0][1] *= x[0];
        let mut c = HALF;
        c += x[0];
        h[0] * h[1] + acc[1] + m[0][1] * m[1][1] + c * c
    }

    #[differentiate]
    fn three_arms(x: &[f64]) -> f64 {
        let mut best: Option<(usize, f64)> = None;
        for (i, &v) in x.iter().enumerate() {
            if best.is_none_or(|b| v > b.1) {
                best = Some((i, v));
            }
        }
        let a = match best {
            Some((i, v)) if i > 0 => v * v,
            Some((_, v)) => v * 3.0,
            None => 0.0,
        };
        let m = x.iter().copied().max_by(|a, b| a.total_cmp(b));
        let b = match m {
            None => 1.0,
            Some(v) if v > 2.0 => v.ln(),
            Some(v) if v < 0.0 => -v,
            _ => x[0] * 2.0,
        };
        let c = match x.iter().copied().reduce(f64::min) {
            Some(v) if v > 0.8 => v * v,
            Some(v) => v,
            None => 0.5,
        };
        a + b + c
    }

    #[differentiate]
    fn walked(m: &Mol) -> f64 {
        let mut cur = m.atoms.first();
        let mut s = 0.0;
        let mut i = 1;
        while let Some(c) = cur {
            s += c.x * m.k;
            cur = m.atoms.iter().nth(i);
            i += 1;
        }
        let mut last = m.atoms.last();
        if let Some(c) = last {
            s += c.q;
        }
        last = None;
        s + last.map_or(0.0, |c| c.x)
    }

    #[differentiate]
    fn chosen_or_best(m: &Mol, k: usize) -> f64 {
        let c = if k < m.atoms.len() {
            Some(&m.atoms[k])
        } else {
            None
        };
        let mut s = if let Some(a) = c { energy(a) } else { 0.0 };
        let mut best: Option<&Atom> = None;
        for a in &m.atoms {
            if best.is_none_or(|b| energy(a) > energy(b)) {
                best = Some(a);
            }
        }
        s += best.map_or(0.0, |b| b.x);
        s
    }

    #[differentiate]
    fn guarded_elements(m: &Mol, c: bool) -> f64 {
        let d = if m.k > 0.4 { m.atoms.first() } else { None };
        let mut s = if let Some(a) = d {
            a.x * 3.0 + a.q
        } else {
            m.k
        };
        let e = if c { m.atoms.first() } else { m.atoms.last() };
        s += match e {
            Some(a) => a.x + a.q,
            None => m.k,
        };
        let o = m.atoms.iter().nth(2).or(m.atoms.first());
        if let Some(a) = o {
            s += a.x * a.q;
        }
        let Some(l) = m.atoms.last() else {
            return s * m.k;
        };
        let f = match m.atoms.first() {
            Some(p) => p,
            None => return s,
        };
        s + l.x * l.q + energy(f)
    }

    #[test]
    fn element_options_and_predicates() {
        let v = [0.5, 1.5, 2.0, 3.0, 5.0, 0.7, -1.0];
        let m = mol(&v);
        for (f, g) in [
            (
                best_clone as fn(&Mol) -> f64,
                best_clone_grad as fn(&Mol) -> (f64, Mol),
            ),
            (named_best, named_best_grad),
            (picked_in_loop, picked_in_loop_grad),
            (top_two, top_two_grad),
            (previous_atom, previous_atom_grad),
        ] {
            let (e, gm) = g(&m);
            assert_eq!(e, f(&m));
            assert_gradient(|v: &[f64]| f(&mol(v)), &v, &flat(&gm), 1e-6);
        }
        // By hand: `best_clone` picks the atom with q = 5 (x = 3): 2x, k, q.
        let (_, gm) = best_clone_grad(&m);
        assert_eq!(flat(&gm), [5.0, 0.0, 0.0, 6.0, 0.5, 0.0, 0.0]);
        for x in [
            vec![1.0, 4.0, 2.0, 5.5, 0.3],
            vec![0.5, -3.0, 0.25],
            vec![2.0],
        ] {
            let (v, g) = named_number_grad(&x);
            assert_eq!(v, named_number(&x));
            assert_gradient(named_number, &x, &g, 1e-6);
            let (v, g) = best_reference_grad(&x);
            assert_eq!(v, best_reference(&x));
            assert_gradient(best_reference, &x, &g, 1e-6);
            let (v, g) = running_max_grad(&x);
            assert_eq!(v, running_max(&x));
            assert_gradient(running_max, &x, &g, 1e-6);
            let (v, (gx, gt)) = jumps_grad(&x, 1.5);
            assert_eq!(v, jumps(&x, 1.5));
            assert_gradient(|x: &[f64]| jumps(x, 1.5), &x, &gx, 1e-6);
            assert_gradient(|t: &[f64]| jumps(&x, t[0]), &[1.5], &[gt], 1e-6);
        }
        assert_eq!(running_max_grad(&[]), (0.0, vec![]));
        let emb = vec![
            vec![0.1, 0.2],
            vec![0.5, -0.3],
            vec![0.3, 0.4],
            vec![-0.2, 0.9],
        ];
        let rows = |v: &[f64]| -> Vec<Vec<f64>> { v.chunks(2).map(<[f64]>::to_vec).collect() };
        let flat_emb = emb.concat();
        for anchor in [0, 2] {
            let (v, g) = hard_negative_grad(&emb, anchor);
            assert_eq!(v, hard_negative(&emb, anchor));
            assert_gradient(
                |v: &[f64]| hard_negative(&rows(v), anchor),
                &flat_emb,
                &g.concat(),
                1e-6,
            );
        }
        for pts in [
            vec![[1.0, 2.0], [3.0, 0.5], [2.0, 1.0]],
            vec![[1.0, 2.0], [0.5, 0.5]],
            vec![],
        ] {
            let (v, g) = polygon_turns_grad(&pts);
            assert_eq!(v, polygon_turns(&pts));
            let arrays =
                |v: &[f64]| -> Vec<[f64; 2]> { v.chunks(2).map(|c| [c[0], c[1]]).collect() };
            assert_gradient(
                |v: &[f64]| polygon_turns(&arrays(v)),
                &pts.concat(),
                &g.concat(),
                1e-6,
            );
        }
        assert_eq!(
            keyed_grad(&[1.0, 2.0, 3.0], &[1, 5, 2]),
            (4.0, vec![0.0, 4.0, 0.0])
        );
        for x in [vec![1.0, 2.0, 3.0], vec![0.5]] {
            let (v, g) = ends_adjusted_grad(&x);
            assert_eq!(v, ends_adjusted(&x));
            assert_gradient(ends_adjusted, &x, &g, 1e-6);
        }
        let obs = [Some(1.0), None, Some(-2.0), Some(3.0)];
        let (v, g) = large_observations_grad(0.5, &obs);
        assert_eq!(v, large_observations(0.5, &obs));
        // By hand: k (3) - 2 k².
        assert_eq!(g, 3.0 - 4.0 * 0.5);
        let (v, g) = nudged_grad(0.5, &obs);
        assert_eq!(v, nudged(0.5, &obs));
        assert_gradient(|k: &[f64]| nudged(k[0], &obs), &[0.5], &[g], 1e-6);
        let x = [1.0, 2.0, 3.0];
        assert_eq!(
            top_priority_grad(&x, &[1, 5, 2]),
            (4.0, vec![0.0, 4.0, 0.0])
        );
        let w = [0.5, 0.25, 3.0, 2.0];
        let (v, (gx, gw)) = with_bias_grad(&x, &w);
        assert_eq!(v, with_bias(&x, &w));
        assert_gradient(|x: &[f64]| with_bias(x, &w), &x, &gx, 1e-6);
        assert_gradient(|w: &[f64]| with_bias(&x, w), &w, &gw, 1e-6);
        let ids = std::collections::HashMap::from([("a".to_string(), 0), ("b".to_string(), 1)]);
        let games = [
            Fixture {
                home: "a".into(),
                away: "b".into(),
                s: 2.0,
            },
            Fixture {
                home: "b".into(),
                away: "a".into(),
                s: 0.5,
            },
        ];
        let (v, g) = rating_loss_grad(&[1.0, 3.0], &ids, &games);
        assert_eq!(v, rating_loss(&[1.0, 3.0], &ids, &games));
        // By hand: 2 r0 - r1 + 0.5 r1 - r0 + r0² + r1².
        assert_eq!(g, vec![2.0 - 1.0 + 2.0, -1.0 + 0.5 + 6.0]);
        let table = [[1.0, 2.0], [3.0, 0.5], [4.5, 1.0]];
        let (v, (gt, gl)) = storage_grad(&table, 0.7);
        assert_eq!(v, storage(&table, 0.7));
        let arrays = |v: &[f64]| -> Vec<[f64; 2]> { v.chunks(2).map(|c| [c[0], c[1]]).collect() };
        assert_gradient(
            |v: &[f64]| storage(&arrays(v), 0.7),
            &table.concat(),
            &gt.concat(),
            1e-6,
        );
        assert_gradient(|l: &[f64]| storage(&table, l[0]), &[0.7], &[gl], 1e-6);
        let (v, (gm, gk)) = next_rows_grad(&emb, 1.5);
        assert_eq!(v, next_rows(&emb, 1.5));
        assert_gradient(
            |v: &[f64]| next_rows(&rows(v), 1.5),
            &flat_emb,
            &gm.concat(),
            1e-6,
        );
        assert_gradient(|k: &[f64]| next_rows(&emb, k[0]), &[1.5], &[gk], 1e-6);
        let m4 = mol(&[0.5, 0.5, 1.5, 2.0, 3.0, 1.0, 0.25, -0.4, 2.5]);
        for m in [&m, &m4] {
            let v: Vec<f64> = flat(m);
            for (f, g) in [
                (
                    cursor_moved as fn(&Mol) -> f64,
                    cursor_moved_grad as fn(&Mol) -> (f64, Mol),
                ),
                (swapped_ends, swapped_ends_grad),
                (split_ends, split_ends_grad),
                (guarded_walk, guarded_walk_grad),
            ] {
                let (e, gm) = g(m);
                assert_eq!(e, f(m));
                assert_gradient(|v: &[f64]| f(&mol(v)), &v, &flat(&gm), 1e-6);
            }
            for (f, g) in [
                (
                    ends_compared as fn(&Mol) -> f64,
                    ends_compared_grad as fn(&Mol) -> (f64, Mol),
                ),
                (best_reset, best_reset_grad),
            ] {
                let (e, gm) = g(m);
                assert_eq!(e, f(m));
                assert_gradient(|v: &[f64]| f(&mol(v)), &v, &flat(&gm), 1e-6);
            }
            let (e, (gm, gr)) = helper_in_condition_grad(m, &emb);
            assert_eq!(e, helper_in_condition(m, &emb));
            assert_gradient(
                |v: &[f64]| helper_in_condition(&mol(v), &emb),
                &v,
                &flat(&gm),
                1e-6,
            );
            assert_gradient(
                |r: &[f64]| helper_in_condition(m, &rows(r)),
                &flat_emb,
                &gr.concat(),
                1e-6,
            );
        }
        for v in [
            vec![0.5, 1.5, 2.0],
            vec![0.5, 1.5, 2.0, 3.0, 5.0, 0.7, -1.0],
            vec![0.5],
            vec![0.3],
        ] {
            let m = mol(&v);
            for (f, g) in [
                (
                    walked as fn(&Mol) -> f64,
                    walked_grad as fn(&Mol) -> (f64, Mol),
                ),
                (
                    |m: &Mol| chosen_or_best(m, 1),
                    |m: &Mol| chosen_or_best_grad(m, 1),
                ),
                (
                    |m: &Mol| guarded_elements(m, true),
                    |m: &Mol| guarded_elements_grad(m, true),
                ),
                (
                    |m: &Mol| guarded_elements(m, false),
                    |m: &Mol| guarded_elements_grad(m, false),
                ),
            ] {
                let (e, gm) = g(&m);
                assert_eq!(e, f(&m));
                assert_gradient(|v: &[f64]| f(&mol(v)), &v, &flat(&gm), 1e-6);
            }
        }
        for x in [vec![1.0, 2.0, 3.0], vec![0.5], vec![]] {
            let (v, g) = split_numbers_grad(&x);
            assert_eq!(v, split_numbers(&x));
            assert_gradient(split_numbers, &x, &g, 1e-6);
        }
        let (v, (ge, gq)) = nearest_row_grad(&emb, &[0.0, 0.0]);
        assert_eq!(v, nearest_row(&emb, &[0.0, 0.0]));
        assert_gradient(
            |r: &[f64]| nearest_row(&rows(r), &[0.0, 0.0]),
            &flat_emb,
            &ge.concat(),
            1e-6,
        );
        assert_eq!(gq, vec![0.0, 0.0]);
        let x = [1.0, 2.0, 3.0];
        let (v, g) = chosen_keys_grad(&x, &[1, 5, 2], &[2, 0, 1]);
        assert_eq!(v, chosen_keys(&x, &[1, 5, 2], &[2, 0, 1]));
        // By hand: x1 + 5 x0 + x0² + 5 x1.
        assert_eq!(g, vec![5.0 + 2.0, 1.0 + 5.0, 0.0]);
        for x in [vec![0.3, -0.2, 0.7], vec![0.5]] {
            let (v, g) = from_bias_grad(&x);
            assert_eq!(v, from_bias(&x));
            assert_gradient(from_bias, &x, &g, 1e-6);
        }
        for x in [
            vec![1.0, 3.0, 2.0],
            vec![4.0, 1.0],
            vec![1.5, 1.8],
            vec![-1.0, -0.5],
            vec![],
        ] {
            let (v, g) = three_arms_grad(&x);
            assert_eq!(v, three_arms(&x));
            assert_gradient(three_arms, &x, &g, 1e-6);
        }
        let (v, g) = previous_row_grad(&emb);
        assert_eq!(v, previous_row(&emb));
        assert_gradient(
            |v: &[f64]| previous_row(&rows(v)),
            &flat_emb,
            &g.concat(),
            1e-6,
        );
    }
}

/// Found in this stop's own work and its hunts (robotics): functions passed by path to
/// adapters over structs and rows; methods of an `Option`'s unwrapped struct element; `get(i)`
/// of a `Vec` of structs; a closure typed `|a: &Site|`; rows indexed through a borrowed tuple's
/// part (`&pts[*i]`, which generated `pts[i]` with `i: &usize`).
// The shapes under test, as users write them.
#[allow(clippy::unnecessary_unwrap)]
mod reviewed_paths_unwrapped_elements_and_edges {
    use super::*;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Site {
        pub q: f64,
        pub x: f64,
    }

    impl Site {
        #[differentiate]
        fn pot(&self) -> f64 {
            self.q * self.x * self.x
        }

        #[differentiate]
        fn dist(&self, o: &Site) -> f64 {
            ((self.q - o.q).powi(2) + (self.x - o.x).powi(2)).sqrt()
        }
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Chain {
        pub sites: Vec<Site>,
        pub k: f64,
    }

    fn chain(v: &[f64]) -> Chain {
        let sites = v[1..].chunks(2).map(|c| Site { q: c[0], x: c[1] });
        Chain {
            sites: sites.collect(),
            k: v[0],
        }
    }

    fn flat(g: &Chain) -> Vec<f64> {
        let sites = g.sites.iter().flat_map(|s| [s.q, s.x]);
        [g.k].into_iter().chain(sites).collect()
    }

    #[differentiate]
    fn energy(s: &Site) -> f64 {
        s.q * s.x
    }

    #[differentiate]
    pub(super) fn wavy(v: f64) -> f64 {
        v * v + v.sin()
    }

    #[differentiate]
    pub(super) fn lean(a: f64, b: f64) -> f64 {
        a + 2.0 * b
    }

    #[differentiate]
    pub(super) fn norm(r: &[f64; 2]) -> f64 {
        (r[0] * r[0] + r[1] * r[1]).sqrt()
    }

    #[differentiate]
    fn gap(a: &[f64; 2], b: &[f64; 2]) -> f64 {
        (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
    }

    #[differentiate]
    fn by_paths(c: &Chain, x: &[f64]) -> f64 {
        let mut s = x.iter().copied().fold(0.5, lean);
        for k in 0..2 {
            let e: f64 = c.sites.iter().map(energy).sum();
            if e > 0.0 {
                s += c.k * e * k as f64;
            } else {
                s -= e;
            }
        }
        let each: Vec<f64> = c.sites.iter().map(energy).collect();
        s += each[0] * each[1];
        s + c.sites.iter().map(energy).fold(0.0, f64::max)
            + x.iter().copied().map(wavy).map(f64::exp).sum::<f64>().ln()
    }

    #[differentiate]
    fn row_norms(rows: &[[f64; 2]]) -> f64 {
        rows.iter().map(norm).sum::<f64>()
    }

    #[differentiate]
    fn unwrapped(c: &Chain) -> f64 {
        let first = c.sites.first();
        let mut s = if first.is_some() {
            first.unwrap().pot()
        } else {
            0.0
        };
        let mut cur = c.sites.first();
        for i in 1..4 {
            if cur.is_some() {
                s += cur.unwrap().pot() * i as f64;
            }
            cur = c.sites.get(i);
        }
        if let Some(b) = c.sites.get(1) {
            s += b.pot() * c.k;
        }
        let top = c.sites.iter().max_by(|a, b| a.q.total_cmp(&b.q));
        s + top.unwrap().pot()
            + c.sites
                .iter()
                .max_by(|a, b| a.x.total_cmp(&b.x))
                .unwrap()
                .pot()
    }

    #[differentiate]
    fn typed_closure(c: &Chain, w: f64) -> f64 {
        let e = |a: &Site| a.q * w + a.x * a.x;
        let mut s = 0.0;
        for a in &c.sites {
            if a.q > 0.0 {
                s += e(a);
            } else {
                s -= e(a) * w;
            }
        }
        s + e(&c.sites[0]) + c.sites.iter().map(|a: &Site| e(a)).sum::<f64>()
    }

    #[differentiate(wrt(pts))]
    fn springs(pts: &[[f64; 2]], edges: &[(usize, usize)]) -> f64 {
        let mut e = 0.0;
        for (i, j) in edges {
            e += gap(&pts[*i], &pts[*j]);
            if *i == 0 {
                e += pts[*j][1];
            }
        }
        e
    }

    #[differentiate(wrt(c))]
    fn graph(c: &Chain, edges: &[(usize, usize)]) -> f64 {
        let mut e = 0.0;
        for (i, j) in edges.iter() {
            let l = c.sites[*i].dist(&c.sites[*j]);
            e += c.k * (l - 1.0).powi(2) + Site::dist(&c.sites[*j], &c.sites[*i]);
        }
        e
    }

    fn rows(v: &[f64]) -> Vec<[f64; 2]> {
        v.chunks(2).map(|c| [c[0], c[1]]).collect()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let edges = [(0, 1), (1, 2), (2, 0)];
        for v in [
            vec![0.7, 1.0, 2.0, 3.0, 4.0, -0.5, 0.7],
            vec![-0.4, 0.3, -2.0, 1.5, 0.2, 2.5, -1.0],
        ] {
            let c = chain(&v);
            let x = [0.5, 1.5, -0.3];
            let (value, (gc, gx)) = by_paths_grad(&c, &x);
            assert_eq!(value, by_paths(&c, &x));
            assert_gradient(|v: &[f64]| by_paths(&chain(v), &x), &v, &flat(&gc), 1e-6);
            assert_gradient(|x: &[f64]| by_paths(&c, x), &x, &gx, 1e-6);
            let (value, g) = unwrapped_grad(&c);
            assert_eq!(value, unwrapped(&c));
            assert_gradient(|v: &[f64]| unwrapped(&chain(v)), &v, &flat(&g), 1e-6);
            let (value, (g, gw)) = typed_closure_grad(&c, 0.7);
            assert_eq!(value, typed_closure(&c, 0.7));
            let mut with_w = v.clone();
            with_w.push(0.7);
            let mut got = flat(&g);
            got.push(gw);
            let f = |v: &[f64]| typed_closure(&chain(&v[..7]), v[7]);
            assert_gradient(f, &with_w, &got, 1e-6);
            let (value, g) = graph_grad(&c, &edges);
            assert_eq!(value, graph(&c, &edges));
            assert_gradient(|v: &[f64]| graph(&chain(v), &edges), &v, &flat(&g), 1e-6);
            let (value, g) = springs_grad(&rows(&v[1..]), &edges);
            assert_eq!(value, springs(&rows(&v[1..]), &edges));
            let f = |p: &[f64]| springs(&rows(p), &edges);
            assert_gradient(f, &v[1..], &g.concat(), 1e-6);
            let (value, g) = row_norms_grad(&rows(&v[1..]));
            assert_eq!(value, row_norms(&rows(&v[1..])));
            assert_gradient(|p: &[f64]| row_norms(&rows(p)), &v[1..], &g.concat(), 1e-6);
        }
        // By hand: the first site's pot, counted at i = 1 too, and the second's at 2 and by
        // `k`; `get(3)` is past the end.
        let c = chain(&[2.0, 1.0, 3.0, 0.5, 1.0]);
        let (value, _) = unwrapped_grad(&c);
        let pot = |q: f64, x: f64| q * x * x;
        let top = pot(1.0, 3.0) + pot(1.0, 3.0);
        assert_eq!(
            value,
            2.0 * pot(1.0, 3.0) + 2.0 * pot(0.5, 1.0) + 2.0 * pot(0.5, 1.0) + top
        );
    }
}

/// Found by this stop's hunts (robotics): a `Vec` of identity frames written out
/// (`vec![[[1.0, 0.0], [0.0, 1.0]]; n + 1]`), and a vector type's methods named like operators
/// called on a struct's field or element (`b.pos.sub(t)`, `r.pts[i].sub(..)`) or on a
/// loop-carried struct (`q = q.mul(&dq).normalized()`), which were taken for `std::ops`'s.
// The shapes under test, as users write them.
#[allow(clippy::useless_vec)]
mod reviewed_frames_and_vector_methods {
    use super::*;

    #[derive(Clone, Copy, Debug, Differentiable)]
    pub struct V2 {
        pub x: f64,
        pub y: f64,
    }

    impl V2 {
        #[differentiate]
        fn add(&self, o: &V2) -> V2 {
            V2 {
                x: self.x + o.x,
                y: self.y + o.y,
            }
        }

        #[differentiate]
        fn sub(&self, o: &V2) -> V2 {
            V2 {
                x: self.x - o.x,
                y: self.y - o.y,
            }
        }

        #[differentiate]
        fn mul(&self, o: &V2) -> V2 {
            V2 {
                x: self.x * o.x - self.y * o.y,
                y: self.x * o.y + self.y * o.x,
            }
        }

        #[differentiate]
        fn normalized(&self) -> V2 {
            let n = (self.x * self.x + self.y * self.y).sqrt();
            V2 {
                x: self.x / n,
                y: self.y / n,
            }
        }

        #[differentiate]
        fn norm(&self) -> f64 {
            self.x.hypot(self.y)
        }
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Body {
        pub pos: V2,
        pub vel: V2,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Rope {
        pub pts: Vec<V2>,
        pub k: f64,
    }

    #[differentiate]
    fn frames(q: &[f64]) -> f64 {
        let n = q.len();
        let mut frames = vec![[[1.0, 0.0], [0.0, 1.0]]; n + 1];
        for i in 0..n {
            let (s, c) = q[i].sin_cos();
            let f = frames[i];
            frames[i + 1] = [
                [f[0][0] * c - f[0][1] * s, f[0][0] * s + f[0][1] * c],
                [f[1][0] * c - f[1][1] * s, f[1][0] * s + f[1][1] * c],
            ];
        }
        let mut fixed = [[[2.0, -0.5], [0.0, 1.0]]; 3];
        fixed[1][0][1] = q[0] * fixed[2][0][0];
        let mut acc = frames[n][0][0] + frames[n][1][0] * frames[n - 1][0][1];
        if q[0] > 0.0 {
            let mut m = [[[1.0, 0.0], [0.0, 1.0]]; 2];
            m[1][0][1] = q[0];
            acc += m[1][0][1] * m[0][0][0];
        }
        for step in 0..n {
            let mut m = vec![[[1.0, 0.5], [0.0, 1.0]]; 2];
            m[1][0][1] = q[step] + acc;
            acc += m[1][0][1] * m[0][0][1];
        }
        acc + fixed[1][0][1] * fixed[0][0][1]
    }

    #[differentiate]
    fn toward(b: &Body, t: &V2) -> f64 {
        let d = b.pos.sub(t);
        d.x * d.x + d.y * d.y + b.vel.add(&b.pos).norm()
    }

    #[differentiate]
    fn rope(r: &Rope) -> f64 {
        let mut e = 0.0;
        for i in 1..r.pts.len() {
            let d = r.pts[i].sub(&r.pts[i - 1]);
            if d.x > 0.0 {
                e += r.k * (d.norm() - 1.0).powi(2);
            } else {
                e += d.norm();
            }
        }
        e
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct World {
        pub bodies: Vec<Body>,
    }

    /// Found by the physics and chemistry hunts: a vector method named like an operator on
    /// the field of a loop's item, of an element, of a reference bound to one, in a closure,
    /// and of a struct value the function built.
    #[differentiate]
    fn bodies(w: &World, c: &V2) -> f64 {
        let mut s = 0.0;
        for b in &w.bodies {
            let d = b.pos.sub(c);
            s += d.x * d.x + d.y * d.y;
        }
        s += w.bodies[0].pos.sub(&w.bodies[1].pos).norm();
        let (a, b) = (&w.bodies[0], &w.bodies[1]);
        s += a.pos.sub(&b.pos).norm() + b.pos.add(&b.vel).x;
        s += w.bodies.iter().map(|b| b.pos.sub(c).norm()).sum::<f64>();
        let built = Body {
            pos: V2 { x: c.x, y: s },
            vel: w.bodies[0].vel,
        };
        s + built.pos.sub(&built.vel).y
    }

    #[differentiate]
    fn spin(a: f64, b: f64) -> f64 {
        let mut q = V2 { x: 1.0, y: 0.0 };
        let dq = V2 {
            x: a.cos(),
            y: b.sin(),
        };
        for _ in 0..3 {
            let qd = q.mul(&dq);
            q = qd.normalized();
        }
        q.y
    }

    #[test]
    fn gradients_match_finite_differences() {
        for q in [vec![0.3, -0.7, 1.1], vec![0.2]] {
            let (v, g) = frames_grad(&q);
            assert_eq!(v, frames(&q));
            assert_gradient(frames, &q, &g, 1e-6);
        }
        let body = |p: &[f64]| Body {
            pos: V2 { x: p[0], y: p[1] },
            vel: V2 { x: p[2], y: p[3] },
        };
        let p = [0.3, -0.5, 1.0, 2.0, 0.7, 0.1];
        let t = V2 { x: p[4], y: p[5] };
        let (v, (gb, gt)) = toward_grad(&body(&p), &t);
        assert_eq!(v, toward(&body(&p), &t));
        let got = [gb.pos.x, gb.pos.y, gb.vel.x, gb.vel.y, gt.x, gt.y];
        let f = |p: &[f64]| toward(&body(p), &V2 { x: p[4], y: p[5] });
        assert_gradient(f, &p, &got, 1e-6);
        let make = |q: &[f64]| Rope {
            k: q[0],
            pts: q[1..].chunks(2).map(|c| V2 { x: c[0], y: c[1] }).collect(),
        };
        let q = [2.0, 0.0, 0.0, 1.0, 0.5, 2.0, 2.5, 1.5, 2.0];
        let (v, g) = rope_grad(&make(&q));
        assert_eq!(v, rope(&make(&q)));
        let mut got = vec![g.k];
        got.extend(g.pts.iter().flat_map(|p| [p.x, p.y]));
        assert_gradient(|q: &[f64]| rope(&make(q)), &q, &got, 1e-6);
        let world = |p: &[f64]| World {
            bodies: p[..8].chunks(4).map(body).collect(),
        };
        let p = [0.3, -0.5, 1.0, 2.0, 0.1, 0.9, -0.4, 0.2, 0.25, 0.6];
        let c = V2 { x: p[8], y: p[9] };
        let (v, (gw, gc)) = bodies_grad(&world(&p), &c);
        assert_eq!(v, bodies(&world(&p), &c));
        let mut got: Vec<f64> = gw
            .bodies
            .iter()
            .flat_map(|b| [b.pos.x, b.pos.y, b.vel.x, b.vel.y])
            .collect();
        got.extend([gc.x, gc.y]);
        let f = |p: &[f64]| bodies(&world(p), &V2 { x: p[8], y: p[9] });
        assert_gradient(f, &p, &got, 1e-6);
        let (v, (ga, gb)) = spin_grad(0.3, 0.4);
        assert_eq!(v, spin(0.3, 0.4));
        assert_gradient(|p: &[f64]| spin(p[0], p[1]), &[0.3, 0.4], &[ga, gb], 1e-6);
    }
}

/// Found by the review of this stop's function paths and the operations-research hunt: a
/// function path after `map(sq)` (`.map(sq).map(sq)`, `.fold(0.0, lean)`, also written as a
/// closure, `.map(|v| sq(v))`, which passed the call's value by reference), and a
/// `HashMap`'s `Option<&f64>` matched with `Some(v) => *v` (the `*` was dropped).
// The shapes under test, as users write them.
#[allow(clippy::redundant_closure)]
mod reviewed_paths_after_calls_and_map_lookups {
    use super::reviewed_paths_unwrapped_elements_and_edges::*;
    use super::*;
    use std::collections::HashMap;

    #[differentiate]
    fn chained(x: &[f64]) -> f64 {
        let twice: f64 = x.iter().copied().map(wavy).map(wavy).sum();
        let closure: f64 = x.iter().copied().map(wavy).map(|v| wavy(v)).sum();
        twice * closure + x.iter().copied().map(wavy).fold(0.0, lean)
    }

    #[differentiate]
    fn wave(v: f64) -> f64 {
        v.cos() * 2.0
    }

    #[differentiate]
    fn norm_of(r: [f64; 2]) -> f64 {
        (r[0] * r[0] + r[1] * r[1]).sqrt()
    }

    /// Copies given to adapters by value (`.copied().map(|r| norm_of(r))`, a path, `fold`,
    /// `any`), references as the iterator gives them.
    #[differentiate]
    fn copies(rows: &[[f64; 2]], x: &[f64]) -> f64 {
        let a: f64 = rows.iter().copied().map(|r| norm_of(r)).sum::<f64>();
        let b: f64 = rows.iter().copied().map(norm_of).sum::<f64>();
        let c = rows.iter().map(norm).sum::<f64>() + rows.iter().map(|r| norm(r)).sum::<f64>();
        let e = x.iter().copied().fold(0.0, |acc, v| acc + wavy(v))
            + x.iter()
                .copied()
                .map(wavy)
                .fold(1.0, |acc, v| acc * wavy(v));
        let f = rows
            .iter()
            .copied()
            .fold(0.0, |acc, r| acc + norm_of(r) * r[0]);
        let g = if rows.iter().copied().any(|r| norm_of(r) > 2.0) {
            f
        } else {
            e
        };
        a + b + c + e + f + g
    }

    /// A loop over `map`'s values (by value), next to one over a closure's borrows.
    #[differentiate]
    fn looped(x: &[f64], rows: &[[f64; 2]]) -> f64 {
        let mut s = 0.0;
        for v in x.iter().copied().map(wavy) {
            s += wave(v);
        }
        for r in (0..rows.len()).map(|i| &rows[i]) {
            s += norm(r);
        }
        for (i, v) in x.iter().map(|v| v * 2.0).enumerate() {
            s += wavy(v) * i as f64;
        }
        s
    }

    #[differentiate(wrt(alloc))]
    fn shortage(alloc: &[f64], demand: &HashMap<usize, f64>) -> f64 {
        let mut s = 0.0;
        for i in 0..alloc.len() {
            let d = match demand.get(&i) {
                Some(v) => *v,
                None => 0.0,
            };
            s += (d - alloc[i]).powi(2);
            s += if let Some(v) = demand.get(&(i + 1)) {
                *v * alloc[i]
            } else {
                alloc[i]
            };
            match demand.get(&i) {
                Some(v) if *v > 1.0 => s += *v * alloc[i],
                Some(v) => s -= (*v - alloc[i]).powi(2),
                None => {}
            }
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        for x in [vec![0.3, -0.8, 1.4], vec![2.0]] {
            let (v, g) = chained_grad(&x);
            assert_eq!(v, chained(&x));
            assert_gradient(chained, &x, &g, 1e-6);
        }
        let rows = [1.0, 2.0, 0.5, -0.3];
        let as_rows = |r: &[f64]| [[r[0], r[1]], [r[2], r[3]]];
        let x = [0.3, -0.8, 1.1];
        let (v, (gx, gr)) = looped_grad(&x, &as_rows(&rows));
        assert_eq!(v, looped(&x, &as_rows(&rows)));
        assert_gradient(|x: &[f64]| looped(x, &as_rows(&rows)), &x, &gx, 1e-6);
        assert_gradient(
            |r: &[f64]| looped(&x, &as_rows(r)),
            &rows,
            &gr.concat(),
            1e-6,
        );
        let (v, (gr, gx)) = copies_grad(&as_rows(&rows), &x);
        assert_eq!(v, copies(&as_rows(&rows), &x));
        assert_gradient(|x: &[f64]| copies(&as_rows(&rows), x), &x, &gx, 1e-6);
        assert_gradient(
            |r: &[f64]| copies(&as_rows(r), &x),
            &rows,
            &gr.concat(),
            1e-6,
        );
        let demand: HashMap<usize, f64> = [(0, 2.0), (2, 0.5)].into_iter().collect();
        let x = [0.3, 1.2, -0.4];
        let (v, g) = shortage_grad(&x, &demand);
        assert_eq!(v, shortage(&x, &demand));
        assert_gradient(|x: &[f64]| shortage(x, &demand), &x, &g, 1e-6);
    }
}

/// Found by the recommendation hunt and this stop's reviews: comparators written with a block,
/// `let`s, an `if` or a `match` (rejected as control flow, although the order they give has no
/// derivative); `get(i)` of a struct's `Vec<f64>` field as an `Option`.
mod reviewed_comparator_blocks_and_field_options {
    use super::*;
    use std::cmp::Ordering;

    #[differentiate]
    fn ranked(x: &[f64]) -> f64 {
        let mut s = x.to_vec();
        s.sort_by(|a, b| b.total_cmp(a));
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&a, &b| {
            let sa = x[a];
            let sb = x[b];
            sb.total_cmp(&sa)
        });
        let mut t = x.to_vec();
        t.sort_by(|a, b| {
            if a.is_nan() {
                Ordering::Greater
            } else {
                b.total_cmp(a)
            }
        });
        let mut u = x.to_vec();
        u.sort_by(|a, b| match a.partial_cmp(b) {
            Some(o) => o,
            None => Ordering::Equal,
        });
        // A variable of the comparator's own, assigned.
        let mut w = x.to_vec();
        w.sort_by(|a, b| {
            let mut t = *a;
            t += 1.0;
            t.total_cmp(&(b + 1.0))
        });
        s[0] * 2.0 + s[1] + x[idx[0]] * t[1] + u[0] * u[2] + w[0] * w[3]
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Padded {
        pub w: Vec<f64>,
        pub c: f64,
    }

    #[differentiate]
    fn padded(p: &Padded, x: f64) -> f64 {
        let mut s = 0.0;
        for i in 0..4 {
            s += p.w.get(i).copied().unwrap_or(0.0) * x;
            if let Some(&v) = p.w.get(i + 1) {
                s += v * v;
            }
            if let Some(v) = p.w.get(i) {
                s += *v * p.c;
            }
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        for x in [vec![0.3, 1.7, -0.4, 0.9], vec![2.0, -1.0, 0.5, 0.25]] {
            let (v, g) = ranked_grad(&x);
            assert_eq!(v, ranked(&x));
            assert_gradient(ranked, &x, &g, 1e-6);
        }
        let q = [1.0, 2.0, 3.0, 0.5, 0.7];
        let f = |q: &[f64]| {
            let p = Padded {
                w: q[..3].to_vec(),
                c: q[3],
            };
            padded(&p, q[4])
        };
        let p = Padded {
            w: q[..3].to_vec(),
            c: q[3],
        };
        let (v, (gp, gx)) = padded_grad(&p, q[4]);
        assert_eq!(v, f(&q));
        let got = [gp.w[0], gp.w[1], gp.w[2], gp.c, gx];
        assert_gradient(f, &q, &got, 1e-6);
    }
}

/// Found by the third review of this stop's commits: a nested field of a struct parameter with
/// an operator-named method (`w.body.pos.sub(c)`); locals, loop variables and closure
/// parameters named like a map parameter (taken for the map); a map's keys collected in a
/// `for`'s head; a comparator's guard whose closure names its own `t` (taken for a binding of
/// the arm, so the outer `t` was left as written).
mod reviewed_nested_fields_map_names_and_guards {
    use super::*;
    use std::cmp::Ordering;
    use std::collections::HashMap;

    #[derive(Clone, Copy, Debug, Differentiable)]
    pub struct P2 {
        pub x: f64,
        pub y: f64,
    }

    impl P2 {
        #[differentiate]
        fn sub(&self, o: &P2) -> P2 {
            P2 {
                x: self.x - o.x,
                y: self.y - o.y,
            }
        }

        #[differentiate]
        fn dot(&self, o: &P2) -> f64 {
            self.x * o.x + self.y * o.y
        }
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Body {
        pub pos: P2,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct World {
        pub body: Body,
        pub g: f64,
    }

    #[differentiate]
    fn nested(w: &World, c: &P2) -> f64 {
        let d = w.body.pos.sub(c);
        d.dot(&d) * w.g
    }

    #[differentiate(wrt(x))]
    fn map_names(x: &[f64], m: &HashMap<usize, f64>, rows: &[[f64; 2]]) -> f64 {
        let mut s: f64 = m.values().sum();
        for (i, m) in rows.iter().enumerate() {
            for v in m.iter() {
                s += v * x[i];
            }
        }
        let t: f64 = rows.iter().map(|m| m.iter().sum::<f64>()).sum();
        for k in m.keys().copied().collect::<Vec<usize>>() {
            s += x[k] * m[&k];
        }
        let m: Vec<f64> = x.iter().map(|v| v * 2.0).collect();
        for v in &m {
            s += v;
        }
        s + t * x[0] + m.iter().sum::<f64>()
    }

    #[differentiate]
    fn guarded(x: &[f64], mut t: f64) -> f64 {
        t = t * 2.0 + x[0];
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&a, &b| match a.cmp(&b) {
            Ordering::Equal => Ordering::Equal,
            _ if x.iter().all(|&t| t < 100.0) => (x[a] - t).abs().total_cmp(&(x[b] - t).abs()),
            o => o,
        });
        x[idx[0]] * 3.0 + x[idx[1]] * t
    }

    #[test]
    fn gradients_match_finite_differences() {
        let w = World {
            body: Body {
                pos: P2 { x: 1.0, y: 2.0 },
            },
            g: 0.5,
        };
        let c = P2 { x: 0.3, y: -0.4 };
        let (v, (gw, gc)) = nested_grad(&w, &c);
        assert_eq!(v, nested(&w, &c));
        let f = |p: &[f64]| {
            let w = World {
                body: Body {
                    pos: P2 { x: p[0], y: p[1] },
                },
                g: p[2],
            };
            nested(&w, &P2 { x: p[3], y: p[4] })
        };
        let got = [gw.body.pos.x, gw.body.pos.y, gw.g, gc.x, gc.y];
        assert_gradient(f, &[1.0, 2.0, 0.5, 0.3, -0.4], &got, 1e-6);
        let m: HashMap<usize, f64> = [(0, 2.0), (1, 0.5)].into_iter().collect();
        let rows = [[1.0, 2.0], [0.5, -0.3]];
        for x in [[0.3, 1.2], [-0.7, 0.4]] {
            let (v, g) = map_names_grad(&x, &m, &rows);
            assert_eq!(v, map_names(&x, &m, &rows));
            assert_gradient(|x: &[f64]| map_names(x, &m, &rows), &x, &g, 1e-6);
            let (v, (gx, gt)) = guarded_grad(&x, 0.1);
            assert_eq!(v, guarded(&x, 0.1));
            let mut got = gx.clone();
            got.push(gt);
            let f = |p: &[f64]| guarded(&p[..2], p[2]);
            assert_gradient(f, &[x[0], x[1], 0.1], &got, 1e-6);
        }
    }
}

/// Found by this stop's corpus work: a constant array copied into a typed variable after an
/// early `return` (its adjoint was shaped by a copy the backward sweep could not see), and
/// `Some(&xs[i])` into an `Option<&f64>` running best (rejected as a reference to a number).
mod reviewed_constant_states_and_number_references {
    use super::*;

    const BIAS: [f64; 2] = [0.5, -0.25];

    #[differentiate]
    fn constant_state(a: f64, x: &[f64]) -> f64 {
        if a > 10.0 {
            return a;
        }
        let mut h: [f64; 2] = BIAS;
        for i in 0..x.len() {
            h = [h[1] * a + x[i], h[0].sin()];
        }
        h[0] * h[1]
    }

    #[differentiate]
    fn best_reference(xs: &[f64]) -> f64 {
        let mut best: Option<&f64> = None;
        for i in 0..xs.len() {
            if best.is_none_or(|b| xs[i] > *b) {
                best = Some(&xs[i]);
            }
        }
        let mut s = match best {
            Some(b) => *b * 2.0,
            None => 0.0,
        };
        let v = xs[0] * 3.0;
        let o: Option<&f64> = if v > 1.0 { Some(&v) } else { None };
        if let Some(w) = o {
            s += *w * xs[1];
        }
        s
    }

    /// `nth(2)` past the end of a two-element slice in a loop: its adjoint, summed over the
    /// iterations and added after the loop, was added at index 2 although no iteration read it
    /// (a panic in `_grad`, found by the corpus work).
    #[differentiate]
    fn nth_past_the_end(xs: &[f64], a: f64) -> f64 {
        let mut s = a;
        for _ in 0..2 {
            let t = xs.iter().map(|v| v * s).nth(2).unwrap_or(a * 0.5);
            s = s * 0.9 + t;
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        for x in [vec![0.3, 0.7], vec![0.3, 0.7, 1.1]] {
            let (v, (gx, ga)) = nth_past_the_end_grad(&x, 0.4);
            assert_eq!(v, nth_past_the_end(&x, 0.4));
            let mut got = gx.clone();
            got.push(ga);
            let mut p = x.clone();
            p.push(0.4);
            let n = x.len();
            assert_gradient(|p: &[f64]| nth_past_the_end(&p[..n], p[n]), &p, &got, 1e-6);
        }
        for x in [vec![0.3, 0.7], vec![1.5, -0.2, 0.4]] {
            let (v, (ga, gx)) = constant_state_grad(0.4, &x);
            assert_eq!(v, constant_state(0.4, &x));
            let mut got = vec![ga];
            got.extend(gx);
            let mut p = vec![0.4];
            p.extend(&x);
            assert_gradient(|p: &[f64]| constant_state(p[0], &p[1..]), &p, &got, 1e-6);
        }
        for x in [[0.5, 0.7, 0.2], [0.3, 0.7, 0.5]] {
            let (v, g) = best_reference_grad(&x);
            assert_eq!(v, best_reference(&x));
            assert_gradient(best_reference, &x, &g, 1e-6);
        }
    }
}

/// Values a `HashMap`'s or `BTreeMap`'s `get` gives, bound by `Some(v)` and used without `*`.
mod map_values_by_reference {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    /// `v` is a `&f64` the backward sweep of a loop needs: it was taped as the reference (E0700
    /// in `_pullback` and `_vjp`).
    #[differentiate(wrt(x))]
    #[allow(clippy::manual_unwrap_or)] // the `match` is the form under test
    fn weighted(x: &[f64], m: &HashMap<usize, f64>, scale: &BTreeMap<usize, f64>) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            let w = match m.get(&i) {
                Some(v) => v * x[i],
                None => 0.0,
            };
            s += w * x[i];
            if let Some(c) = scale.get(&i) {
                s += x[i] / c - c * x[i].sin();
            }
            let k = m.get(&i).unwrap_or(&1.5);
            s = s * k + k / x[i];
            let b = match scale.get(&i) {
                Some(b) => b,
                None => &0.5,
            };
            s += b * x[i] * x[i];
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        let m = HashMap::from([(0usize, 2.0), (2, 3.0)]);
        let scale = BTreeMap::from([(1usize, 4.0), (2, 0.5)]);
        let x = [0.7, 1.3, -0.4];
        let f = |x: &[f64]| weighted(x, &m, &scale);
        let (v, g) = weighted_grad(&x, &m, &scale);
        assert_eq!(v, f(&x));
        assert_gradient(f, &x, &g, 1e-6);
        assert_eq!(weighted_pullback(&x, &m, &scale, 1.0), g);
        let (v, back) = weighted_vjp(&x, &m, &scale);
        assert_eq!(v, f(&x));
        assert_eq!(back(2.0), g.iter().map(|g| 2.0 * g).collect::<Vec<_>>());
    }
}

/// Found by this stop's hunts: a span search moved on by an integer method, a slice of a row of
/// a call's matrix, and `chain` over a struct's `Vec<f64>` fields (all rejected before).
mod spans_row_slices_and_field_chains {
    use super::*;

    /// Linear interpolation on knots, the span found by `partition_point(..).saturating_sub(1)`
    /// (and the other forms a spline's span search takes).
    #[differentiate(wrt(ys, x))]
    #[allow(clippy::manual_saturating_arithmetic)] // `checked_sub(1).unwrap_or(0)` is under test
    fn interpolate(knots: &[f64], ys: &[f64], x: f64) -> f64 {
        let last = knots.len() - 2;
        let i = knots
            .partition_point(|&k| k <= x)
            .saturating_sub(1)
            .min(last);
        let j = knots
            .iter()
            .position(|&k| k > x)
            .unwrap_or(knots.len())
            .saturating_sub(1)
            .min(last);
        let m = knots
            .partition_point(|&k| k <= x)
            .checked_sub(1)
            .unwrap_or(0)
            .min(last);
        let t = (x - knots[i]) / (knots[i + 1] - knots[i]);
        let lin = ys[i] * (1.0 - t) + ys[i + 1] * t;
        lin + 0.1 * ys[j] * x + 0.01 * ys[m] * x * x
    }

    #[differentiate]
    fn heads(x: [f64; 2]) -> [[f64; 4]; 2] {
        [
            [x[0], x[1] * x[0], x[1], 1.0],
            [x[1] * 2.0, x[0], x[0] * x[0], x[1]],
        ]
    }

    /// Two heads' halves of each row of a call's matrix: `h[r][a..b]`, through a typed row
    /// copy and through `windows` of a row; the matrix is also written (`let mut`).
    #[differentiate]
    fn attention(x: [f64; 2]) -> f64 {
        let mut h = heads(x);
        h[0][0] += x[1];
        let mut s = 0.0;
        for head in 0..2 {
            let q = &h[0][head * 2..head * 2 + 2];
            let k: f64 = h[1][head * 2..(head + 1) * 2].iter().sum();
            s += q.iter().map(|v| v * k).sum::<f64>();
        }
        let row: [f64; 4] = h[1];
        let tail: f64 = row[1..].iter().map(|v| v * v).sum();
        s + tail + h[0].windows(2).map(|w| w[0] * w[1]).sum::<f64>() + h[1][..2][1]
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Net {
        pub w1: Vec<f64>,
        pub w2: Vec<f64>,
        pub bias: f64,
    }

    /// Weight decay over both layers' weights, and features chained after them.
    #[differentiate]
    fn decayed(net: &Net, x: &[f64]) -> f64 {
        let decay: f64 = net.w1.iter().chain(net.w2.iter()).map(|w| w * w).sum();
        let mut fit = net.bias;
        for (i, w) in net.w1.iter().chain(x).enumerate() {
            fit += w * (i as f64 + 1.0);
        }
        0.5 * decay + fit.tanh() + x.iter().chain(&net.w2).fold(0.0, |a, v| a + v.sin())
    }

    #[test]
    fn gradients_match_finite_differences() {
        let knots = [0.0, 0.5, 1.2, 2.0];
        let ys = [0.3, -0.4, 0.8, 1.1];
        for x in [0.2, 0.7, 1.5, 2.4] {
            let (v, (gy, gx)) = interpolate_grad(&knots, &ys, x);
            assert_eq!(v, interpolate(&knots, &ys, x));
            let mut got = gy.clone();
            got.push(gx);
            let mut p = ys.to_vec();
            p.push(x);
            assert_gradient(
                |p: &[f64]| interpolate(&knots, &p[..4], p[4]),
                &p,
                &got,
                1e-6,
            );
        }
        for x in [[0.7, 1.3], [-0.4, 0.9]] {
            let (v, g) = attention_grad(x);
            assert_eq!(v, attention(x));
            assert_gradient(|p: &[f64]| attention([p[0], p[1]]), &x, &g, 1e-6);
        }
        let net = Net {
            w1: vec![0.3, -0.2],
            w2: vec![0.5, 0.1, 0.7],
            bias: 0.2,
        };
        let x = [0.4, -0.9];
        let (v, (gn, gx)) = decayed_grad(&net, &x);
        assert_eq!(v, decayed(&net, &x));
        let mut got = [gn.w1, gn.w2].concat();
        got.push(gn.bias);
        got.extend(gx);
        let f = |p: &[f64]| {
            let net = Net {
                w1: p[..2].to_vec(),
                w2: p[2..5].to_vec(),
                bias: p[5],
            };
            decayed(&net, &p[6..])
        };
        let p = [0.3, -0.2, 0.5, 0.1, 0.7, 0.2, 0.4, -0.9];
        assert_gradient(f, &p, &got, 1e-6);
    }
}

/// Elements of a struct's `Vec` handed to a function that takes the struct by value: through
/// `.cloned()` (with a function path, a closure, `fold`, `for`) and through the user's own
/// `.clone()`. The element was moved out of the `Vec` (E0507 from generated code).
mod struct_elements_by_value {
    use super::*;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Atom {
        pub q: f64,
        pub r: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Mol {
        pub atoms: Vec<Atom>,
    }

    #[differentiate]
    fn owned_energy(a: Atom) -> f64 {
        a.q * a.r * a.r
    }

    #[differentiate]
    fn total(m: &Mol) -> f64 {
        let mut s: f64 = m.atoms.iter().cloned().map(owned_energy).sum();
        s += m
            .atoms
            .iter()
            .cloned()
            .fold(0.0, |acc, a| acc + 0.5 * owned_energy(a));
        for a in m.atoms.iter().cloned() {
            s += owned_energy(a) * a_scale(s);
        }
        for i in 0..m.atoms.len() {
            s += owned_energy(m.atoms[i].clone()).sin();
        }
        s
    }

    #[differentiate]
    fn a_scale(s: f64) -> f64 {
        0.1 * s
    }

    #[test]
    fn gradients_match_finite_differences() {
        let m = Mol {
            atoms: vec![Atom { q: 0.5, r: 1.2 }, Atom { q: -1.0, r: 0.7 }],
        };
        let (v, g) = total_grad(&m);
        assert_eq!(v, total(&m));
        let f = |p: &[f64]| {
            total(&Mol {
                atoms: vec![Atom { q: p[0], r: p[1] }, Atom { q: p[2], r: p[3] }],
            })
        };
        let got: Vec<f64> = g.atoms.iter().flat_map(|a| [a.q, a.r]).collect();
        assert_gradient(f, &[0.5, 1.2, -1.0, 0.7], &got, 1e-6);
    }
}

/// Found by this stop's review: a vector sliced twice (`y[1..][..2]`) was taken for a matrix
/// once its name's slices counted every index, and `chain` of a chain with a struct's field, or
/// of a layer's fields, was rejected.
mod reviewed_double_ranges_and_layer_chains {
    use super::*;

    #[differentiate]
    fn doubled(x: &[f64]) -> Vec<f64> {
        x.iter().map(|v| 2.0 * v).collect()
    }

    #[differentiate]
    fn squares(v: &[f64]) -> f64 {
        v.iter().map(|a| a * a).sum()
    }

    #[differentiate]
    fn quad(x: [f64; 2]) -> [[f64; 4]; 2] {
        [
            [x[0], x[1] * x[0], x[1], 1.0],
            [x[1] * 2.0, x[0], x[0] * x[0], x[1]],
        ]
    }

    #[differentiate]
    fn twice_sliced(x: &[f64]) -> f64 {
        let mut y = doubled(x);
        y[0] = x[0] * x[1];
        let s: f64 = y[1..][..2].iter().sum();
        s + squares(&y[1..][..2])
    }

    #[differentiate]
    fn matrix_sliced(x: [f64; 2]) -> f64 {
        let mut h = quad(x);
        h[0][1] = x[0] * 3.0;
        let row: [f64; 4] = h[1];
        let tail: f64 = h[1..][0][1..].iter().sum();
        squares(&h[..2][1][..3]) + tail + row[1..][..2].iter().sum::<f64>()
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Layer {
        pub w: Vec<f64>,
        pub b: Vec<f64>,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Net {
        pub layers: Vec<Layer>,
        pub head: Vec<f64>,
    }

    #[differentiate]
    fn decay(n: &Net, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for l in &n.layers {
            s += l.w.iter().chain(&l.b).map(|v| v * v).sum::<f64>();
        }
        s += n.layers[0]
            .w
            .iter()
            .chain(&n.layers[1].b)
            .map(|v| v.sin())
            .sum::<f64>();
        s += n
            .head
            .iter()
            .chain(x)
            .chain(&n.layers[1].w)
            .map(|v| v * 3.0)
            .sum::<f64>();
        s + x
            .iter()
            .chain(&n.head)
            .chain(&n.head)
            .enumerate()
            .map(|(i, v)| v * i as f64)
            .sum::<f64>()
    }

    fn net(p: &[f64]) -> Net {
        Net {
            layers: vec![
                Layer {
                    w: p[0..2].to_vec(),
                    b: p[2..3].to_vec(),
                },
                Layer {
                    w: p[3..4].to_vec(),
                    b: p[4..6].to_vec(),
                },
            ],
            head: p[6..8].to_vec(),
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = [0.3, 0.5, 0.7];
        let (v, g) = twice_sliced_grad(&x);
        assert_eq!(v, twice_sliced(&x));
        assert_gradient(twice_sliced, &x, &g, 1e-6);
        for x in [[0.3, 0.5], [-0.8, 1.1]] {
            let (v, g) = matrix_sliced_grad(x);
            assert_eq!(v, matrix_sliced(x));
            assert_gradient(|p: &[f64]| matrix_sliced([p[0], p[1]]), &x, &g, 1e-6);
        }
        let p: Vec<f64> = (0..8).map(|i| 0.1 * i as f64 - 0.3).collect();
        let x = [0.4, -0.7];
        let (v, (gn, gx)) = decay_grad(&net(&p), &x);
        assert_eq!(v, decay(&net(&p), &x));
        let mut got: Vec<f64> = gn
            .layers
            .iter()
            .flat_map(|l| [&l.w[..], &l.b[..]].concat())
            .collect();
        got.extend(&gn.head);
        got.extend(gx);
        let f = |q: &[f64]| decay(&net(&q[..8]), &q[8..]);
        assert_gradient(f, &[p, x.to_vec()].concat(), &got, 1e-6);
    }
}

/// Found by the mutation fuzzer: a closure body that starts with a block (`|v: f64| { v } * k`)
/// given to an `Option`'s `map_or` made the macro panic (the body ended the `match` arm it was
/// put in).
mod closure_bodies_starting_with_blocks {
    use super::*;

    #[differentiate(wrt(x))]
    fn carried(x: &[f64], obs: &[Option<f64>]) -> f64 {
        let mut s = 0.0;
        for i in 0..obs.len() {
            s += obs[i].map_or(x[i] * x[i], |v: f64| { v } * x[i]);
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        let obs = [Some(2.0), None, Some(-1.5)];
        let x = [0.3, 0.5, 0.9];
        let (v, g) = carried_grad(&x, &obs);
        assert_eq!(v, carried(&x, &obs));
        assert_gradient(|x: &[f64]| carried(x, &obs), &x, &g, 1e-6);
    }
}

/// Found by this stop's computer-vision hunt: a comparator that hands its rows to a function
/// (`d2(p, **y)`, the nearest neighbour of ICP and chamfer distances) was given one reference
/// too few in the part of it kept as written (E0614 from generated code).
mod comparator_rows_through_calls {
    use super::*;

    #[differentiate]
    fn d2(a: [f64; 2], b: [f64; 2]) -> f64 {
        (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
    }

    #[differentiate]
    fn nearest(p: [f64; 2], b: &[[f64; 2]]) -> f64 {
        let q = b
            .iter()
            .min_by(|x, y| d2(p, **x).total_cmp(&d2(p, **y)))
            .unwrap();
        let (_, r) = b
            .iter()
            .enumerate()
            .max_by(|x, y| d2(p, *x.1).total_cmp(&d2(p, *y.1)))
            .unwrap();
        let (_, u) = b
            .iter()
            .enumerate()
            .min_by(|&(_, x), &(_, y)| d2(p, *x).total_cmp(&d2(p, *y)))
            .unwrap();
        let mut s = u[1] * p[0];
        for r2 in b.iter() {
            if d2(p, *r2) < 1.0 {
                s += r2[0] * p[1];
            }
        }
        q[0] * p[0] + r[1] * p[1] * p[1] + s
    }

    #[test]
    fn gradients_match_finite_differences() {
        let b = [[0.1, 0.2], [1.0, -0.5], [0.4, 0.9]];
        for p in [[0.3, 0.35], [0.9, -0.1]] {
            let (v, (gp, gb)) = nearest_grad(p, &b);
            assert_eq!(v, nearest(p, &b));
            let mut got = gp.to_vec();
            got.extend(gb.iter().flatten());
            let f = |q: &[f64]| {
                let rows: Vec<[f64; 2]> = q[2..].chunks(2).map(|c| [c[0], c[1]]).collect();
                nearest([q[0], q[1]], &rows)
            };
            let mut at = p.to_vec();
            at.extend(b.iter().flatten());
            assert_gradient(f, &at, &got, 1e-6);
        }
    }
}

/// Found by this stop's vision and Bayesian hunts: a struct field taken out by a struct pattern
/// (`let Cam { pose, f } = cam.clone();`, also of a struct's `Vec` element, `= &s.cams[1]`)
/// and handed to its struct's function or method (E0308 from generated code, or rejected), and
/// a `let mut` number nothing assigns whose float methods were taken for `&mut self` ones.
mod struct_patterns_and_unassigned_numbers {
    use super::*;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Pose {
        pub t: [f64; 2],
    }

    impl Pose {
        #[differentiate]
        fn shift(&self, x: f64) -> f64 {
            self.t[0] * x + self.t[1]
        }
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Cam {
        pub pose: Pose,
        pub f: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Scene {
        pub cams: Vec<Cam>,
        pub s: f64,
    }

    #[differentiate]
    fn project(sc: &Scene, x: f64) -> f64 {
        let Cam { pose, f } = sc.cams[0].clone();
        let mut s = f * Pose::shift(&pose, x) + pose.t[1] * f;
        let Cam { f, pose } = &sc.cams[1];
        s += f * x + pose.t[0] * sc.s;
        for cam in &sc.cams {
            let Cam { pose, f } = cam;
            s += pose.shift(x) * f;
        }
        s
    }

    #[differentiate]
    #[allow(unused_mut)]
    fn unassigned(a: f64, x: &[f64]) -> f64 {
        let mut s = a;
        let mut acc = s.tanh();
        for &xi in x {
            let s = s * xi;
            acc += s.tanh();
            if s.is_nan() {
                return 0.0;
            }
        }
        acc
    }

    fn scene(p: &[f64]) -> Scene {
        let cam = |k: usize| Cam {
            pose: Pose {
                t: [p[3 * k], p[3 * k + 1]],
            },
            f: p[3 * k + 2],
        };
        Scene {
            cams: vec![cam(0), cam(1)],
            s: p[6],
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let p = [0.5, 0.25, 2.0, -0.3, 0.7, 1.5, 0.9];
        let (v, (gs, gx)) = project_grad(&scene(&p), 3.0);
        assert_eq!(v, project(&scene(&p), 3.0));
        let mut got: Vec<f64> = gs
            .cams
            .iter()
            .flat_map(|c| [c.pose.t[0], c.pose.t[1], c.f])
            .collect();
        got.extend([gs.s, gx]);
        let f = |q: &[f64]| project(&scene(&q[..7]), q[7]);
        assert_gradient(f, &[&p[..], &[3.0]].concat(), &got, 1e-6);
        let x = [0.5, 2.0];
        let (v, (ga, gx)) = unassigned_grad(0.3, &x);
        assert_eq!(v, unassigned(0.3, &x));
        let got = [&[ga][..], &gx].concat();
        assert_gradient(
            |q: &[f64]| unassigned(q[0], &q[1..]),
            &[0.3, 0.5, 2.0],
            &got,
            1e-6,
        );
    }
}

/// Found by this stop's engineering hunt: an array of float literals whose type only a
/// closure's typed parameter gives (`let s = [0.5, 0.0]; let f = |z: [f64; 2]| ..; f(s)`, an
/// integrator's state and right-hand side) was left without it in the generated code (E0689).
mod literal_arrays_typed_by_closures {
    use super::*;

    #[differentiate]
    fn stepped(k: f64) -> f64 {
        let s0 = [0.5, 0.0];
        let f = |z: [f64; 2]| k * z[0].sin();
        let mut s = [0.5, 0.1];
        let g = |z: &[f64; 2]| [k * z[0].sin(), z[1].cos() * k];
        for _ in 0..3 {
            let d = g(&s);
            s[0] += 0.1 * d[0];
            s[1] += 0.1 * d[1];
        }
        f(s0) + s[0] * s[1]
    }

    #[test]
    fn gradients_match_finite_differences() {
        for k in [2.0, -0.7] {
            let (v, g) = stepped_grad(k);
            assert_eq!(v, stepped(k));
            assert_gradient(|p: &[f64]| stepped(p[0]), &[k], &[g], 1e-6);
        }
    }
}

/// Found by this stop's second review: `*t.1` of a `zip`'s item bound whole, a number the macro
/// holds by value, was dereferenced in a condition (E0614 from generated code).
mod zipped_items_bound_whole {
    use super::*;

    #[differentiate]
    fn masked(p: [f64; 2], b: &[[f64; 2]], x: &[f64]) -> f64 {
        let mut s = 0.0;
        for t in b.iter().zip(x.iter()) {
            if *t.1 > 0.5 {
                s += t.0[1] * p[0] * t.1;
            }
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        let b = [[0.1, 0.2], [1.0, -0.5], [0.4, 0.9]];
        let x = [0.3, 0.7, 0.9];
        let (v, (gp, gb, gx)) = masked_grad([0.3, 0.35], &b, &x);
        assert_eq!(v, masked([0.3, 0.35], &b, &x));
        let mut got = gp.to_vec();
        got.extend(gb.iter().flatten());
        got.extend(&gx);
        let f = |q: &[f64]| {
            let rows: Vec<[f64; 2]> = q[2..8].chunks(2).map(|c| [c[0], c[1]]).collect();
            masked([q[0], q[1]], &rows, &q[8..])
        };
        let at = [0.3, 0.35, 0.1, 0.2, 1.0, -0.5, 0.4, 0.9, 0.3, 0.7, 0.9];
        assert_gradient(f, &at, &got, 1e-6);
    }
}

/// Found by this stop's corpus work: a local map collected from data (`let lk: HashMap<usize,
/// f64> = pairs.into_iter().collect();`) was taken for a `Vec` of numbers (E0308 from generated
/// code).
mod maps_collected_from_data {
    use super::*;
    use std::collections::HashMap;

    #[differentiate]
    fn looked_up(x: &[f64]) -> f64 {
        let lk: HashMap<usize, f64> = [(0, 0.5), (2, -0.25)].into_iter().collect();
        let mut s = x[0] * lk.len() as f64;
        for i in 0..x.len() {
            s += match lk.get(&i) {
                Some(v) => *v * x[i],
                None => x[i] * x[i],
            };
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = [0.3, 0.5, 0.9];
        let (v, g) = looked_up_grad(&x);
        assert_eq!(v, looked_up(&x));
        assert_gradient(looked_up, &x, &g, 1e-6);
    }
}

/// Found by this stop's corpus work: a comparator block with a `let`, after an early `return` or
/// in a loop with `continue` and `break`, was guarded by the caller's exits as if they could
/// happen inside it (E0277 from generated code: no placeholder value of `Ordering`).
mod comparator_blocks_after_exits {
    use super::*;

    #[differentiate]
    fn nearest_after_exits(x: &[f64], a: f64) -> f64 {
        if a > 10.0 {
            return a;
        }
        let mut s = x
            .iter()
            .copied()
            .min_by(|p, q| {
                let kp = p.abs();
                kp.total_cmp(&q.abs())
            })
            .unwrap_or(0.0)
            * a;
        for i in 0..3 {
            if x[i] > 0.8 {
                continue;
            }
            let y = x.iter().copied().max_by(|p, q| {
                let kp = (p - a).abs();
                kp.total_cmp(&(q - a).abs())
            });
            s += y.unwrap_or(0.0) * a * (i as f64 + 1.0);
            if s > 100.0 {
                break;
            }
        }
        s
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = [0.3, -0.5, 0.9];
        for a in [0.25, 0.6] {
            let (v, (gx, ga)) = nearest_after_exits_grad(&x, a);
            assert_eq!(v, nearest_after_exits(&x, a));
            let got = [&gx[..], &[ga]].concat();
            let f = |p: &[f64]| nearest_after_exits(&p[..3], p[3]);
            assert_gradient(f, &[0.3, -0.5, 0.9, a], &got, 1e-6);
        }
    }
}

/// Found by this stop's fourth review (regressions of this stop's own checks, fixed before
/// landing): a set of indices an active set's filter collects, a data struct's `&self` check
/// called as a statement, and a result discarded with `let _` are ordinary code.
mod active_sets_and_checks {
    use super::*;
    use std::collections::HashSet;

    pub struct Cfg {
        pub w: f64,
    }

    impl Cfg {
        fn validate(&self) {
            assert!(self.w > 0.0, "invalid config");
        }
    }

    #[differentiate]
    fn helper(a: f64) -> f64 {
        a * a + 1.0
    }

    #[differentiate(wrt(x))]
    fn active(x: &[f64], cfg: &Cfg) -> f64 {
        cfg.validate();
        let big: HashSet<usize> = (0..x.len()).filter(|&i| x[i] > 0.5).collect();
        let mut s = 0.0;
        for i in 0..x.len() {
            if big.contains(&i) {
                s += x[i] * x[i];
            } else {
                s += x[i];
            }
        }
        let y = helper(x[0]);
        let _ = y.sqrt();
        s * cfg.w + y * x[1]
    }

    #[test]
    fn gradients_match_finite_differences() {
        let cfg = Cfg { w: 1.5 };
        let x = [0.3, 0.7, 0.9];
        let (v, g) = active_grad(&x, &cfg);
        assert_eq!(v, active(&x, &cfg));
        assert_gradient(|x: &[f64]| active(x, &cfg), &x, &g, 1e-6);
    }
}

/// Found by this stop's known-bugs list: a comparator's or a `filter` predicate's row handed to
/// a function taking it by reference (`d2r(p, *a)` of `pts.iter().min_by(|a, b| ..)`, where
/// `a` is a `&&[f64; 2]`; `d2r(&p, a.1)` of an `enumerate`'s item; rows of a struct's field)
/// was passed as the row itself (E0308 from generated code).
// (`*a` where auto-deref would do is the form under test.)
#[allow(clippy::explicit_auto_deref)]
mod comparator_rows_by_reference {
    use super::*;

    fn d2r(a: &[f64; 2], b: &[f64; 2]) -> f64 {
        (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
    }

    fn d2v(a: [f64; 2], b: [f64; 2]) -> f64 {
        (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
    }

    fn wsum(w: &[f64]) -> f64 {
        w[0] - 0.5 * w[1]
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Cloud {
        pub pts: Vec<[f64; 2]>,
        pub w: f64,
    }

    #[differentiate]
    fn nearest(p: &[f64; 2], c: &Cloud, x: &[f64]) -> f64 {
        let best = c
            .pts
            .iter()
            .min_by(|a, b| d2r(p, *a).total_cmp(&d2r(p, *b)))
            .unwrap();
        let far = c
            .pts
            .iter()
            .max_by(|&a, &b| d2r(p, a).total_cmp(&d2r(p, b)))
            .unwrap();
        let (k, second) = c
            .pts
            .iter()
            .enumerate()
            .filter(|(_, r)| d2r(p, r) > 0.05)
            .min_by(|a, b| d2r(&[0.0, 0.0], a.1).total_cmp(&d2r(&[0.0, 0.0], b.1)))
            .unwrap();
        let w = x
            .windows(2)
            .max_by(|a, b| wsum(*a).total_cmp(&wsum(*b)))
            .unwrap();
        let mut s = 0.0;
        for (i, q) in c.pts.iter().enumerate() {
            if d2r(p, q) < 0.5 {
                s += q[0] * x[i % x.len()] * c.w;
            } else {
                s -= q[1] * p[1];
            }
        }
        for q in c
            .pts
            .iter()
            .filter(|q| d2v(*p, **q) > 0.5 && d2r(p, *q) < 2.0)
        {
            s += q[1] * x[0];
        }
        s + x[0] * best[0] + x[1] * best[1] * c.w + far[0] * p[0] + second[1] * (k as f64 + 1.0)
            - w[0] * w[1]
    }

    fn cloud(q: &[f64]) -> ([f64; 2], Cloud, Vec<f64>) {
        let pts = q[2..8].chunks(2).map(|r| [r[0], r[1]]).collect();
        ([q[0], q[1]], Cloud { pts, w: q[8] }, q[9..].to_vec())
    }

    #[test]
    fn gradients_match_finite_differences() {
        let rows = [0.1, 0.2, 1.0, -0.5, 0.4, 0.9];
        for p in [[0.3, 0.35], [0.9, -0.1], [0.2, 0.8]] {
            let mut at = p.to_vec();
            at.extend(rows);
            at.extend([1.5, 0.3, 0.7, 0.2]);
            let (p, c, x) = cloud(&at);
            let (v, (gp, gc, gx)) = nearest_grad(&p, &c, &x);
            assert_eq!(v, nearest(&p, &c, &x));
            let mut got = gp.to_vec();
            got.extend(gc.pts.iter().flatten());
            got.push(gc.w);
            got.extend(&gx);
            let f = |q: &[f64]| {
                let (p, c, x) = cloud(q);
                nearest(&p, &c, &x)
            };
            assert_gradient(f, &at, &got, 1e-6);
            let (sp, sc, sx) = nearest_pullback(&p, &c, &x, -2.5);
            let mut seeded = sp.to_vec();
            seeded.extend(sc.pts.iter().flatten());
            seeded.push(sc.w);
            seeded.extend(&sx);
            for (s, g) in seeded.iter().zip(&got) {
                assert_close(*s, -2.5 * g, 1e-12);
            }
            let mut into = (
                [9.0; 2],
                Cloud {
                    pts: vec![[9.0; 2]; 3],
                    w: 9.0,
                },
                vec![9.0; 4],
            );
            assert_eq!(nearest_grad_into(&p, &c, &x, &mut into), v);
            assert_eq!(
                (into.0, into.1.pts, into.1.w, into.2),
                (gp, gc.pts, gc.w, gx)
            );
        }
    }
}

/// Found by this stop's known-bugs list: struct elements by value through `zip` or a local
/// closure typed `|a: Atom|` (`.cloned().zip(x).map(|(a, xi)| energy(a) * xi)`: E0308 from
/// generated code, the copy taken for a reference), and the elements of a local `Vec` of data
/// structs that are not `Copy`, which a plain function returns, passed on by value or by
/// reference (`wv(ss[i].clone())`, `wt(&ss[i])`, `ss.iter().cloned().map(wv)`: E0507, moved
/// out of the `Vec`).
mod struct_elements_through_zips_and_local_data {
    use super::*;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Atom {
        pub q: f64,
        pub r: f64,
    }

    #[derive(Clone, Debug, Differentiable)]
    pub struct Mol {
        pub atoms: Vec<Atom>,
    }

    #[derive(Clone, Debug)]
    pub struct Site {
        pub k: usize,
        pub c: f64,
        pub tag: String,
    }

    fn sites(n: usize) -> Vec<Site> {
        (0..n)
            .map(|k| Site {
                k,
                c: 0.5 + k as f64,
                tag: format!("s{k}"),
            })
            .collect()
    }

    fn by_ref(s: &Site) -> f64 {
        s.c + s.tag.len() as f64
    }

    fn by_value(s: Site) -> f64 {
        s.c * 2.0
    }

    #[differentiate]
    fn energy(a: Atom) -> f64 {
        a.q * a.r * a.r
    }

    #[differentiate]
    fn total(m: &Mol, x: &[f64]) -> f64 {
        let f = |a: Atom| energy(a) * 2.0;
        let g = |a: Atom, xi: f64| energy(a) * xi;
        let mut s: f64 = m
            .atoms
            .iter()
            .cloned()
            .zip(x)
            .map(|(a, xi)| energy(a) * xi)
            .sum();
        s += m.atoms.iter().cloned().map(f).sum::<f64>();
        s += m
            .atoms
            .iter()
            .cloned()
            .zip(x.iter())
            .map(|(a, xi)| g(a, *xi))
            .sum::<f64>();
        for (a, xi) in m.atoms.iter().cloned().zip(x) {
            if *xi > 0.0 {
                s += f(a) * xi;
            } else {
                s -= energy(a);
            }
        }
        s + m
            .atoms
            .iter()
            .cloned()
            .zip(x.iter().copied())
            .fold(0.0, |acc, (a, xi)| acc + energy(a) * xi)
    }

    #[differentiate]
    fn on_sites(x: &[f64], w: f64) -> f64 {
        let ss = sites(x.len());
        let mut s = 0.0;
        for site in ss.iter() {
            if site.k % 2 == 0 {
                s += by_ref(site) * x[site.k] * w;
            }
        }
        for (site, xi) in ss.iter().cloned().zip(x) {
            s += by_value(site) * xi * xi;
        }
        s += ss.iter().map(|t| by_ref(t) * x[t.k]).sum::<f64>();
        s += ss.iter().cloned().map(by_value).sum::<f64>() * x[1];
        for i in 0..ss.len() {
            s += by_value(ss[i].clone()) * x[i] + by_ref(&ss[i]) * x[i] * w;
        }
        let last = ss.last().unwrap();
        s + last.c * x[last.k]
    }

    fn mol(q: &[f64]) -> Mol {
        Mol {
            atoms: q.chunks(2).map(|c| Atom { q: c[0], r: c[1] }).collect(),
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = [0.3, 0.8, -0.4];
        let at = [0.5, 1.2, -1.0, 0.7, 0.3, 0.4];
        let m = mol(&at);
        let (v, (gm, gx)) = total_grad(&m, &x);
        assert_eq!(v, total(&m, &x));
        let mut got: Vec<f64> = gm.atoms.iter().flat_map(|a| [a.q, a.r]).collect();
        got.extend(&gx);
        let all: Vec<f64> = at.iter().chain(&x).copied().collect();
        assert_gradient(|q: &[f64]| total(&mol(&q[..6]), &q[6..]), &all, &got, 1e-6);
        let (sm, sx) = total_pullback(&m, &x, 0.75);
        let seeded: Vec<f64> = sm.atoms.iter().flat_map(|a| [a.q, a.r]).chain(sx).collect();
        for (s, g) in seeded.iter().zip(&got) {
            assert_close(*s, 0.75 * g, 1e-12);
        }
        let mut into = (mol(&[9.0; 6]), vec![9.0; 3]);
        assert_eq!(total_grad_into(&m, &x, &mut into), v);
        let into: Vec<f64> = into
            .0
            .atoms
            .iter()
            .flat_map(|a| [a.q, a.r])
            .chain(into.1)
            .collect();
        assert_eq!(into, got);

        for w in [0.5, -1.5] {
            let (v, (gx, gw)) = on_sites_grad(&x, w);
            assert_eq!(v, on_sites(&x, w));
            let got = [&gx[..], &[gw]].concat();
            let f = |q: &[f64]| on_sites(&q[..3], q[3]);
            assert_gradient(f, &[x[0], x[1], x[2], w], &got, 1e-6);
            let (sx, sw) = on_sites_pullback(&x, w, -2.0);
            for (s, g) in sx.iter().chain([&sw]).zip(&got) {
                assert_close(*s, -2.0 * g, 1e-12);
            }
            let mut into = (vec![9.0; 3], 9.0);
            assert_eq!(on_sites_grad_into(&x, w, &mut into), v);
            assert_eq!((into.0, into.1), (gx, gw));
        }
    }
}

/// Found by this stop's known-bugs list: tables of constant tuples nested in arrays (`let loops =
/// [[(0, 1.0), (1, -1.0)], [(1, 1.0), (2, 1.0)]];`, the loops of a network, each a list of
/// `(edge, sign)`) were taken for matrix literals ("expected a number here, found a tuple").
mod nested_tables_of_constant_tuples {
    use super::*;

    #[derive(Clone, Debug, Differentiable)]
    pub struct Net {
        pub q: Vec<f64>,
        pub r: f64,
    }

    #[differentiate]
    fn loop_losses(n: &Net, x: &[f64]) -> f64 {
        let loops = [
            [(0, 1.0), (1, -1.0)],
            [(1, 1.0), (2, 1.0)],
            [(2, 0.5), (0, 2.0)],
        ];
        let mut acc = 0.0;
        for (k, lp) in loops.iter().enumerate() {
            let mut head = 0.0;
            for &(e, s) in lp.iter() {
                head += s * n.q[e] * x[e] * n.r;
            }
            if head > 0.0 {
                acc += head * (k as f64 + 1.0);
            } else {
                acc -= head * head;
            }
        }
        let (e0, s0) = loops[1][0];
        acc += s0 * x[e0] + loops[2][1].1 * n.q[loops[2][1].0];
        acc += loops[0].iter().map(|&(e, s)| s * x[e] * x[e]).sum::<f64>();
        let blocks = vec![[[(0, 1.0)], [(1, 2.0)]], [[(2, -1.0)], [(0, 0.5)]]];
        for blk in &blocks {
            for lp in blk {
                for (e, s) in lp {
                    acc += s * n.q[*e] * x[*e];
                }
            }
        }
        acc
    }

    #[test]
    fn gradients_match_finite_differences() {
        let n = Net {
            q: vec![0.3, -0.8, 0.4],
            r: 1.5,
        };
        for x in [[0.3, 0.8, -0.4], [-0.7, 0.2, 0.9]] {
            let (v, (gn, gx)) = loop_losses_grad(&n, &x);
            assert_eq!(v, loop_losses(&n, &x));
            let got = [&gn.q[..], &[gn.r], &gx[..]].concat();
            let f = |p: &[f64]| {
                let n = Net {
                    q: p[..3].to_vec(),
                    r: p[3],
                };
                loop_losses(&n, &p[4..])
            };
            let at = [&n.q[..], &[n.r], &x[..]].concat();
            assert_gradient(f, &at, &got, 1e-6);
            let (sn, sx) = loop_losses_pullback(&n, &x, 3.0);
            let seeded = [&sn.q[..], &[sn.r], &sx[..]].concat();
            for (s, g) in seeded.iter().zip(&got) {
                assert_close(*s, 3.0 * g, 1e-12);
            }
            let mut into = (
                Net {
                    q: vec![9.0; 3],
                    r: 9.0,
                },
                vec![9.0; 3],
            );
            assert_eq!(loop_losses_grad_into(&n, &x, &mut into), v);
            assert_eq!([&into.0.q[..], &[into.0.r], &into.1[..]].concat(), got);
        }
    }
}

/// Found by this stop's review: a local array of rows given to `zip` by value gives rows, not
/// references, to a comparator and a `filter` (E0308 from generated code after rows by
/// reference were supported); a reference parameter given to `zip` gives references.
mod zipped_local_rows_by_value {
    use super::*;

    #[differentiate]
    fn d2v(a: [f64; 2], b: [f64; 2]) -> f64 {
        (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
    }

    #[differentiate]
    fn d2r(a: &[f64; 2], b: &[f64; 2]) -> f64 {
        (a[0] - b[0]).powi(2) + 3.0 * (a[1] - b[1]).powi(2)
    }

    #[differentiate(wrt(x))]
    fn nearest_pair(pts: &[[f64; 2]], refs: &[[f64; 2]], x: &[f64]) -> f64 {
        let qs = [[x[0], x[1]], [x[2], 0.5]];
        let near = pts
            .iter()
            .zip(qs)
            .min_by(|a, b| d2v(*a.0, a.1).total_cmp(&d2v(*b.0, b.1)))
            .unwrap();
        let mut s = near.1[0] * near.0[1];
        for (r, q) in pts
            .iter()
            .zip(qs)
            .filter(|(_, q)| d2v(*q, [0.0, 0.0]) > 0.2)
        {
            s += r[0] * q[1];
        }
        let by_ref = pts
            .iter()
            .zip(refs)
            .min_by(|a, b| d2r(a.0, a.1).total_cmp(&d2r(b.0, b.1)))
            .unwrap();
        s + by_ref.1[0] * x[0] + by_ref.0[1] * x[1]
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (pts, refs) = ([[0.1, 0.2], [0.5, -0.3]], [[0.3, 0.1], [0.5, -0.2]]);
        for x in [[0.4, 0.9, -0.2], [0.1, 0.15, 0.6]] {
            let (v, g) = nearest_pair_grad(&pts, &refs, &x);
            assert_eq!(v.to_bits(), nearest_pair(&pts, &refs, &x).to_bits());
            assert_gradient(|p: &[f64]| nearest_pair(&pts, &refs, p), &x, &g, 1e-6);
            let pulled = nearest_pair_pullback(&pts, &refs, &x, 2.5);
            for (a, b) in pulled.iter().zip(&g) {
                assert!((a - 2.5 * b).abs() <= 1e-12 * b.abs().max(1.0));
            }
        }
    }
}

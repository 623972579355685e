//! One test per supported construct of control flow, loops, parameters, arrays and returns.
//!
//! Every gradient is checked against central finite differences (and against the analytic
//! derivative where it is easy to write down), at points on both sides of every branch, and loops
//! run 0, 1 and many times.
#![allow(
    // Index loops, `p = p * x`, `&Vec<f64>` parameters, `1 | 2 | 3` patterns and a tail `let`
    // returned by name are exactly the constructs under test.
    clippy::needless_range_loop,
    clippy::assign_op_pattern,
    clippy::ptr_arg,
    clippy::manual_range_patterns,
    clippy::let_and_return
)]

mod common;

use autodiff_core::{differentiate, no_grad};
use common::{assert_close, assert_gradient};

/// Tolerance of the finite-difference checks.
const TOL: f64 = 1e-7;

/// The concatenation of several pieces: the flat point or gradient of a multi-parameter function.
fn cat(parts: &[&[f64]]) -> Vec<f64> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// A small deterministic sequence of values in roughly `[-1.5, 1.5]`, none of them zero.
fn seq(n: usize, seed: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let v = ((i as f64 + 1.0) * 1.618_033_988_7 + seed).sin() * 1.5;
            if v.abs() < 0.1 { v + 0.3 } else { v }
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// if / else
// ------------------------------------------------------------------------------------------

#[differentiate]
fn if_statement(x: f64, y: f64) -> f64 {
    let mut s = x * y;
    if x > 0.5 {
        s = s * x;
        s += y.sin();
    }
    s + y
}

#[test]
fn if_as_statement() {
    let y = 1.3;
    for x in [-1.0, 0.2, 0.8, 2.0] {
        let (v, (dx, dy)) = if_statement_grad(x, y);
        assert_eq!(v, if_statement(x, y));
        assert_gradient(|p| if_statement(p[0], p[1]), &[x, y], &[dx, dy], TOL);
        let (ex, ey) = if x > 0.5 {
            (2.0 * x * y, x * x + y.cos() + 1.0)
        } else {
            (y, x + 1.0)
        };
        assert_close(dx, ex, 1e-14);
        assert_close(dy, ey, 1e-14);
    }
}

#[differentiate]
fn if_expression(x: f64, y: f64) -> f64 {
    let z = if x > y { x.sin() * y } else { y.exp() - x };
    z * x
}

#[differentiate]
fn if_tail(x: f64) -> f64 {
    if x < 0.0 { -x * x } else { x.sqrt() * 3.0 }
}

#[test]
fn if_as_expression() {
    for &(x, y) in &[(1.0, 0.5), (2.0, -1.0), (0.5, 1.0), (-1.0, 0.3)] {
        let (v, (dx, dy)) = if_expression_grad(x, y);
        assert_eq!(v, if_expression(x, y));
        assert_gradient(|p| if_expression(p[0], p[1]), &[x, y], &[dx, dy], TOL);
        let (ex, ey) = if x > y {
            (y * x.sin() + x * y * x.cos(), x * x.sin())
        } else {
            (y.exp() - 2.0 * x, x * y.exp())
        };
        assert_close(dx, ex, 1e-14);
        assert_close(dy, ey, 1e-14);
    }
    for x in [-2.0, -0.5, 0.5, 4.0] {
        let (v, dx) = if_tail_grad(x);
        assert_eq!(v, if_tail(x));
        let e = if x < 0.0 { -2.0 * x } else { 1.5 / x.sqrt() };
        assert_close(dx, e, 1e-14);
        assert_gradient(|p| if_tail(p[0]), &[x], &[dx], TOL);
    }
}

#[differentiate]
fn if_tuple(x: f64, y: f64) -> f64 {
    let (a, b) = if x * y > 1.0 {
        (x * y, x + y)
    } else {
        (y, x * x)
    };
    a * b + a
}

#[differentiate]
fn if_tuple_return(x: f64, y: f64) -> (f64, f64) {
    if x > y {
        (x * y, x)
    } else {
        (y.sin(), x * x * y)
    }
}

#[test]
fn if_tuple_valued() {
    for &(x, y) in &[(2.0, 1.5), (-2.0, -1.5), (0.5, 0.5), (-1.0, 2.0)] {
        let (v, (dx, dy)) = if_tuple_grad(x, y);
        assert_eq!(v, if_tuple(x, y));
        assert_gradient(|p| if_tuple(p[0], p[1]), &[x, y], &[dx, dy], TOL);
        let (ex, ey) = if x * y > 1.0 {
            // (xy)(x+y) + xy
            (2.0 * x * y + y * y + y, x * x + 2.0 * x * y + x)
        } else {
            // y x^2 + y
            (2.0 * x * y, x * x + 1.0)
        };
        assert_close(dx, ex, 1e-14);
        assert_close(dy, ey, 1e-14);
    }
    for &(x, y) in &[(2.0, 1.0), (-1.0, 0.5)] {
        for d in [(1.0, 0.0), (0.0, 1.0), (-0.5, 2.5)] {
            let (dx, dy) = if_tuple_return_pullback(x, y, d);
            let f = |p: &[f64]| {
                let (a, b) = if_tuple_return(p[0], p[1]);
                d.0 * a + d.1 * b
            };
            assert_gradient(f, &[x, y], &[dx, dy], TOL);
        }
    }
}

#[differentiate]
fn else_if_statement(x: f64, y: f64) -> f64 {
    let mut s = y;
    if x < -1.0 {
        s *= x;
    } else if x < 0.0 {
        s = s * s * x;
    } else if x < 1.0 {
        s += x.exp();
    }
    s * x + y
}

#[differentiate]
fn else_if_expression(x: f64, y: f64) -> f64 {
    let t = if x > 2.0 {
        x.ln() * y
    } else if x > 0.0 {
        x * x * y
    } else if y > 0.0 {
        (x * y).sin()
    } else {
        -x * y * y
    };
    t + x
}

#[test]
fn else_if_chains() {
    let mut seen = [false; 4];
    for x in [-2.0, -0.5, 0.5, 1.5] {
        for y in [0.7, -1.3] {
            let (v, (dx, dy)) = else_if_statement_grad(x, y);
            assert_eq!(v, else_if_statement(x, y));
            assert_gradient(|p| else_if_statement(p[0], p[1]), &[x, y], &[dx, dy], TOL);
            let (ex, ey) = if x < -1.0 {
                (2.0 * x * y, x * x + 1.0)
            } else if x < 0.0 {
                (2.0 * x * y * y, 2.0 * x * x * y + 1.0)
            } else if x < 1.0 {
                (y + x.exp() + x * x.exp(), x + 1.0)
            } else {
                (y, x + 1.0)
            };
            assert_close(dx, ex, 1e-14);
            assert_close(dy, ey, 1e-14);
        }
    }
    for x in [-1.5, 0.5, 3.0] {
        for y in [0.7, -1.3] {
            seen[if x > 2.0 {
                0
            } else if x > 0.0 {
                1
            } else if y > 0.0 {
                2
            } else {
                3
            }] = true;
            let (v, (dx, dy)) = else_if_expression_grad(x, y);
            assert_eq!(v, else_if_expression(x, y));
            assert_gradient(|p| else_if_expression(p[0], p[1]), &[x, y], &[dx, dy], TOL);
        }
    }
    assert_eq!(seen, [true; 4]);
}

// ------------------------------------------------------------------------------------------
// match
// ------------------------------------------------------------------------------------------

#[differentiate]
fn match_int(x: f64, k: i32) -> f64 {
    match k {
        0 => x,
        1 | 2 | 3 => x * x * k as f64,
        n if n < 0 => (x * n as f64).sin(),
        n if x > 1.0 => x.ln() * n as f64,
        n => x * n as f64 + x.exp(),
    }
}

#[test]
fn match_with_or_patterns_guards_and_a_binding() {
    for k in [-3, 0, 1, 2, 3, 4, 9] {
        for x in [0.4, 2.5] {
            let (v, dx) = match_int_grad(x, k);
            assert_eq!(v, match_int(x, k));
            assert_gradient(|p| match_int(p[0], k), &[x], &[dx], TOL);
            let kf = k as f64;
            let e = match k {
                0 => 1.0,
                1..=3 => 2.0 * x * kf,
                n if n < 0 => kf * (x * kf).cos(),
                _ if x > 1.0 => kf / x,
                _ => kf + x.exp(),
            };
            assert_close(dx, e, 1e-14);
        }
    }
}

#[differentiate]
fn match_bool(x: f64, y: f64, flag: bool) -> f64 {
    let s = match flag && x > 0.0 {
        true => x * y,
        false => y / x,
    };
    match x > y {
        true => s * x,
        false => s + y,
    }
}

#[differentiate]
fn match_ranges(x: f64, k: i32) -> f64 {
    match k {
        1..=3 => x * k as f64,
        4..=9 => x * x,
        _ => x.sin(),
    }
}

#[test]
fn match_with_range_patterns() {
    for k in [0, 1, 3, 4, 9, 10] {
        let (v, dx) = match_ranges_grad(0.6, k);
        assert_eq!(v, match_ranges(0.6, k));
        let e = match k {
            1..=3 => k as f64,
            4..=9 => 1.2,
            _ => 0.6_f64.cos(),
        };
        assert_close(dx, e, 1e-15);
    }
}

#[test]
fn match_on_bools() {
    for flag in [true, false] {
        for &(x, y) in &[(2.0, 1.0), (0.5, 1.5), (-0.5, -1.5), (-2.0, 0.5)] {
            let (v, (dx, dy)) = match_bool_grad(x, y, flag);
            assert_eq!(v, match_bool(x, y, flag));
            assert_gradient(|p| match_bool(p[0], p[1], flag), &[x, y], &[dx, dy], TOL);
        }
    }
}

#[differentiate]
fn match_in_loop(x: &[f64]) -> f64 {
    let mut s = 0.0;
    let mut p = 1.0;
    for i in 0..x.len() {
        match i % 3 {
            0 => s += x[i],
            1 => {
                p *= x[i];
            }
            _ => {
                s = s * x[i];
            }
        }
    }
    let (a, b) = match x.len() {
        0 => (1.0, 2.0),
        n => (s * n as f64, p),
    };
    a * b
}

#[test]
fn match_as_statement_and_tuple_expression_in_a_loop() {
    for n in [0, 1, 2, 7] {
        let x = seq(n, 0.3);
        let (v, dx) = match_in_loop_grad(&x);
        assert_eq!(v, match_in_loop(&x));
        assert_eq!(dx.len(), n);
        assert_gradient(match_in_loop, &x, &dx, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// early return
// ------------------------------------------------------------------------------------------

#[differentiate]
fn return_in_branch(x: f64, y: f64) -> f64 {
    let a = x * y;
    if a > 1.0 {
        if x > y {
            return a * x;
        }
        return a.sin();
    }
    let b = a + y;
    if b < 0.0 {
        return b * b;
    }
    b * x
}

#[test]
fn early_return_from_a_branch() {
    let mut seen = [false; 4];
    for &(x, y) in &[
        (2.0, 1.0),
        (1.0, 2.0),
        (-0.5, -0.5),
        (0.5, 0.5),
        (1.0, -2.0),
    ] {
        let a = x * y;
        seen[if a > 1.0 {
            if x > y { 0 } else { 1 }
        } else if a + y < 0.0 {
            2
        } else {
            3
        }] = true;
        let (v, (dx, dy)) = return_in_branch_grad(x, y);
        assert_eq!(v, return_in_branch(x, y));
        assert_gradient(|p| return_in_branch(p[0], p[1]), &[x, y], &[dx, dy], TOL);
    }
    assert_eq!(seen, [true; 4]);
}

#[differentiate]
fn return_in_loop(x: &[f64], t: f64) -> f64 {
    let mut s = 1.0;
    for i in 0..x.len() {
        s = s * x[i] + t;
        if s > 4.0 {
            return s * t;
        }
    }
    s
}

#[differentiate]
fn return_in_while_and_match(x: &[f64], t: f64) -> f64 {
    let mut s = t;
    let mut i = 0;
    while i < x.len() {
        match i {
            0 => s *= x[0],
            k => {
                if s * x[k] < -1.0 {
                    return s * x[k] * t;
                }
                s += x[k] * x[k - 1];
            }
        }
        i += 1;
    }
    s * s
}

#[test]
fn early_return_from_a_loop() {
    // Returns at the first iteration, in the middle, never, and on an empty slice.
    let cases: [(&[f64], f64); 5] = [
        (&[5.0, 1.0, 1.0], 0.5),
        (&[1.2, 1.5, 2.0, 3.0, 0.2], 0.5),
        (&[0.5, 0.3, -0.4, 0.7], 0.2),
        (&[], 0.7),
        (&[0.9], 1.1),
    ];
    for (x, t) in cases {
        let (v, (dx, dt)) = return_in_loop_grad(x, t);
        assert_eq!(v, return_in_loop(x, t));
        let n = x.len();
        assert_gradient(
            |p| return_in_loop(&p[..n], p[n]),
            &cat(&[x, &[t]]),
            &cat(&[&dx, &[dt]]),
            TOL,
        );
        let (v, (dx, dt)) = return_in_while_and_match_grad(x, t);
        assert_eq!(v, return_in_while_and_match(x, t));
        assert_gradient(
            |p| return_in_while_and_match(&p[..n], p[n]),
            &cat(&[x, &[t]]),
            &cat(&[&dx, &[dt]]),
            TOL,
        );
    }
    // The while/match function both returns early and runs to the end.
    assert!(return_in_while_and_match(&[2.0, -1.0, 1.0], 1.0) < 0.0);
    assert!(return_in_while_and_match(&[0.5, 0.3, -0.4, 0.7], 0.2) > 0.0);
}

#[differentiate]
fn return_in_nested_loop(x: &[f64], t: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        for j in 0..i {
            s += x[i] * x[j];
            if s > t {
                return s * s;
            }
        }
        s *= 0.9;
    }
    s + t
}

#[test]
fn early_return_from_a_nested_loop() {
    let x = [0.5, 0.8, 1.1, 0.7, 1.3, 0.9, 1.2];
    // t large: never returns; t small: returns at (1, 0); t middle: returns deeper.
    for t in [100.0, 0.2, 2.0, 3.5] {
        let (v, (dx, dt)) = return_in_nested_loop_grad(&x, t);
        assert_eq!(v, return_in_nested_loop(&x, t));
        assert_gradient(
            |p| return_in_nested_loop(&p[..7], p[7]),
            &cat(&[&x, &[t]]),
            &cat(&[&dx, &[dt]]),
            TOL,
        );
    }
    for x in [&[][..], &[0.4][..]] {
        let (v, (dx, dt)) = return_in_nested_loop_grad(x, 1.0);
        assert_eq!(v, 1.0);
        assert_eq!(dx, vec![0.0; x.len()]);
        assert_eq!(dt, 1.0);
    }
}

// ------------------------------------------------------------------------------------------
// for over ranges
// ------------------------------------------------------------------------------------------

#[differentiate]
fn range_exclusive(x: f64, n: usize) -> f64 {
    let mut s = 1.0;
    for i in 0..n {
        s = s * x + i as f64;
    }
    s
}

#[test]
fn for_over_an_exclusive_range() {
    for n in [0, 1, 7] {
        for x in [-0.8, 1.3] {
            let (v, dx) = range_exclusive_grad(x, n);
            assert_eq!(v, range_exclusive(x, n));
            // Forward-mode recurrence: s' = s' x + s.
            let (mut s, mut ds) = (1.0, 0.0);
            for i in 0..n {
                ds = ds * x + s;
                s = s * x + i as f64;
            }
            assert_close(dx, ds, 1e-13);
            assert_gradient(|p| range_exclusive(p[0], n), &[x], &[dx], TOL);
        }
    }
}

#[differentiate]
fn range_runtime_start(x: &[f64], a: usize, b: usize) -> f64 {
    let mut s = 0.5;
    for i in a..b {
        s = s * x[i] + x[i].sin();
    }
    s
}

#[differentiate]
fn range_inclusive(x: &[f64], a: usize, b: usize) -> f64 {
    let mut s = 0.5;
    for i in a..=b {
        s = s * x[i] + x[i].sin();
    }
    s
}

#[test]
fn for_over_ranges_with_runtime_bounds() {
    let x = seq(9, 0.1);
    // 0, 1 and 7 iterations.
    for (a, b) in [(3, 3), (2, 3), (1, 8)] {
        let (v, dx) = range_runtime_start_grad(&x, a, b);
        assert_eq!(v, range_runtime_start(&x, a, b));
        assert_gradient(|p| range_runtime_start(p, a, b), &x, &dx, TOL);
        assert!(dx[..a].iter().chain(&dx[b..]).all(|&d| d == 0.0));
    }
    // 0, 1 and 7 iterations.
    for (a, b) in [(4, 3), (5, 5), (1, 7)] {
        let (v, dx) = range_inclusive_grad(&x, a, b);
        assert_eq!(v, range_inclusive(&x, a, b));
        assert_gradient(|p| range_inclusive(p, a, b), &x, &dx, TOL);
    }
    // Inclusive and exclusive agree.
    assert_eq!(
        range_inclusive_grad(&x, 1, 7),
        range_runtime_start_grad(&x, 1, 8)
    );
}

#[differentiate]
fn range_rev(x: &[f64], n: usize) -> f64 {
    let mut s = 0.0;
    for i in (0..n).rev() {
        s = (s + x[i]) * x[i];
    }
    s
}

#[differentiate]
fn range_rev_runtime_bounds(x: &[f64], a: usize, b: usize) -> f64 {
    let mut s = 0.0;
    for i in (a..=b).rev() {
        s = (s + x[i]) * x[i];
    }
    for i in (a..b).rev() {
        s = s * x[i] + 1.0;
    }
    s
}

#[test]
fn for_over_a_reversed_range() {
    let x = seq(8, 0.7);
    for n in [0, 1, 7] {
        let (v, dx) = range_rev_grad(&x, n);
        assert_eq!(v, range_rev(&x, n));
        assert_gradient(|p| range_rev(p, n), &x, &dx, TOL);
        // The order matters: compare with the forward order applied to the reversed slice.
        let mut r = x[..n].to_vec();
        r.reverse();
        let mut s = 0.0;
        for &v in &r {
            s = (s + v) * v;
        }
        assert_close(v, s, 1e-15);
    }
    // 0, 1 and 7 iterations of (a..=b).rev(); 0, 0 and 6 of (a..b).rev().
    for (a, b) in [(4, 3), (5, 5), (1, 7)] {
        let (v, dx) = range_rev_runtime_bounds_grad(&x, a, b);
        assert_eq!(v, range_rev_runtime_bounds(&x, a, b));
        assert_gradient(|p| range_rev_runtime_bounds(p, a, b), &x, &dx, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// for over iterators
// ------------------------------------------------------------------------------------------

#[differentiate]
fn iter_slice(x: &[f64]) -> f64 {
    let mut s = 0.5;
    for v in x.iter() {
        s = s * v + v.sin();
    }
    for &v in x.iter() {
        s += v * v;
    }
    s
}

#[differentiate]
fn iter_array_and_vec(a: [f64; 3], b: &Vec<f64>, c: Vec<f64>, d: &[f64; 2]) -> f64 {
    let mut s = 1.0;
    for v in a.iter() {
        s = s * v + 1.0;
    }
    for &v in b.iter() {
        s = s * v.cos();
    }
    for v in c.iter() {
        s += v * s;
    }
    for v in d.iter() {
        s = s.sin() * v;
    }
    s
}

#[test]
fn for_over_iter() {
    for n in [0, 1, 7] {
        let x = seq(n, 1.1);
        let (v, dx) = iter_slice_grad(&x);
        assert_eq!(v, iter_slice(&x));
        assert_gradient(iter_slice, &x, &dx, TOL);
        // Same function over the Vec-typed parameters, with b and c of n elements.
        let a = [0.3, -0.6, 1.1];
        let b = seq(n, 2.0);
        let c = seq(n, 3.0);
        let d = [0.8, -1.2];
        let (v, (da, db, dc, dd)) = iter_array_and_vec_grad(a, &b, c.clone(), &d);
        assert_eq!(v, iter_array_and_vec(a, &b, c.clone(), &d));
        let f = |p: &[f64]| {
            iter_array_and_vec(
                [p[0], p[1], p[2]],
                &p[3..3 + n].to_vec(),
                p[3 + n..3 + 2 * n].to_vec(),
                &[p[3 + 2 * n], p[4 + 2 * n]],
            )
        };
        assert_gradient(f, &cat(&[&a, &b, &c, &d]), &cat(&[&da, &db, &dc, &dd]), TOL);
    }
}

#[differentiate]
fn iter_enumerate(x: &[f64], y: &[f64; 5]) -> f64 {
    let mut s = 0.0;
    for (i, v) in x.iter().enumerate() {
        s = s * 0.5 + (i as f64 + 1.0) * v * y[i % 5];
    }
    for (i, &v) in y.iter().enumerate() {
        if i % 2 == 0 {
            s *= v;
        } else {
            s += v * x.len() as f64;
        }
    }
    s
}

#[test]
fn for_over_iter_enumerate() {
    let y = [0.9, -1.1, 1.3, 0.4, -0.7];
    for n in [0, 1, 7] {
        let x = seq(n, 0.4);
        let (v, (dx, dy)) = iter_enumerate_grad(&x, &y);
        assert_eq!(v, iter_enumerate(&x, &y));
        let f =
            |p: &[f64]| iter_enumerate(&p[..n], &[p[n], p[n + 1], p[n + 2], p[n + 3], p[n + 4]]);
        assert_gradient(f, &cat(&[&x, &y]), &cat(&[&dx, &dy]), TOL);
    }
}

#[differentiate]
fn iter_zip(a: &[f64], b: &Vec<f64>, c: [f64; 3]) -> f64 {
    let mut s = 0.0;
    for (x, y) in a.iter().zip(b.iter()) {
        s = s * 0.5 + x * y;
    }
    for (&x, &y) in c.iter().zip(a.iter()) {
        s += x.sin() * y;
    }
    s
}

#[test]
fn for_over_iter_zip() {
    let c = [0.5, -0.25, 1.5];
    // Equal lengths 0, 1, 7, and unequal lengths (zip stops at the shorter).
    for (na, nb) in [(0, 0), (1, 1), (7, 7), (7, 3), (2, 5)] {
        let a = seq(na, 0.2);
        let b = seq(nb, 0.9);
        let (v, (da, db, dc)) = iter_zip_grad(&a, &b, c);
        assert_eq!(v, iter_zip(&a, &b, c));
        assert_eq!((da.len(), db.len()), (na, nb));
        let f = |p: &[f64]| {
            iter_zip(
                &p[..na],
                &p[na..na + nb].to_vec(),
                [p[na + nb], p[na + nb + 1], p[na + nb + 2]],
            )
        };
        assert_gradient(f, &cat(&[&a, &b, &c]), &cat(&[&da, &db, &dc]), TOL);
    }
}

// ------------------------------------------------------------------------------------------
// while, loop, break, continue, labels, nesting
// ------------------------------------------------------------------------------------------

#[differentiate]
fn while_counter(x: f64, n: usize) -> f64 {
    let mut i = 0;
    let mut s = x;
    while i < n {
        s = s.sin() + x * s;
        i += 1;
    }
    s
}

#[differentiate]
fn while_active_condition(x: f64, t: f64) -> f64 {
    let mut s = x;
    let mut k = 0;
    while s < t {
        s = s * 1.5 + x;
        k += 1;
    }
    s * (k as f64 + 1.0)
}

#[test]
fn while_loops() {
    for n in [0, 1, 7] {
        for x in [0.3, -0.9] {
            let (v, dx) = while_counter_grad(x, n);
            assert_eq!(v, while_counter(x, n));
            let (mut s, mut ds) = (x, 1.0);
            for _ in 0..n {
                ds = s.cos() * ds + s + x * ds;
                s = s.sin() + x * s;
            }
            assert_close(dx, ds, 1e-13);
            assert_gradient(|p| while_counter(p[0], n), &[x], &[dx], TOL);
        }
    }
    // 0 iterations, 1 iteration, many iterations: each point far from a change of count.
    for &(x, t, count) in &[(5.0, 1.0, 0), (1.0, 2.0, 1), (0.1, 10.0, 9)] {
        let mut s = x;
        let mut k = 0;
        while s < t {
            s = s * 1.5 + x;
            k += 1;
        }
        assert_eq!(k, count);
        let (v, (dx, dt)) = while_active_condition_grad(x, t);
        assert_eq!(v, while_active_condition(x, t));
        assert_gradient(
            |p| while_active_condition(p[0], p[1]),
            &[x, t],
            &[dx, dt],
            TOL,
        );
        assert_eq!(dt, 0.0);
    }
}

#[differentiate]
fn loop_break(x: f64, n: usize) -> f64 {
    let mut s = x;
    let mut i = 0;
    loop {
        if i >= n {
            break;
        }
        s = s * x.cos() + 1.0;
        i += 1;
    }
    s * s
}

#[test]
fn loop_with_break() {
    for n in [0, 1, 7] {
        for x in [0.4, -2.0] {
            let (v, dx) = loop_break_grad(x, n);
            assert_eq!(v, loop_break(x, n));
            assert_gradient(|p| loop_break(p[0], n), &[x], &[dx], TOL);
        }
    }
}

#[differentiate]
fn loop_break_value(x: &[f64]) -> f64 {
    let mut i = 0;
    let mut s = 1.0;
    let r = loop {
        if i == x.len() {
            break s;
        }
        if s > 5.0 {
            break s * x[i];
        }
        s = s * x[i] + 0.5;
        i += 1;
    };
    r * r
}

#[differentiate]
fn labelled_break_value(x: &[f64], t: f64) -> f64 {
    let mut s = 0.0;
    let mut i = 0;
    let r = 'outer: loop {
        for j in 0..x.len().min(i + 1) {
            s += x[i] * x[j];
            if s > t {
                break 'outer s * t;
            }
        }
        if i + 1 >= x.len() {
            break s + t;
        }
        i += 1;
    };
    r.sin()
}

#[test]
fn break_with_a_value() {
    // Leaves by the first break (end of data) or the second (threshold), after 0, 1, many steps.
    let cases: [&[f64]; 5] = [
        &[],
        &[2.0],
        &[10.0, 3.0],
        &[1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7],
        &[0.5, 0.4, 0.3],
    ];
    for x in cases {
        let (v, dx) = loop_break_value_grad(x);
        assert_eq!(v, loop_break_value(x));
        assert_gradient(loop_break_value, x, &dx, TOL);
    }
    let x = [0.5, 0.9, 1.2, 0.8, 1.1];
    // t = 30 is never reached (s ends near 11); a larger t makes the finite-difference step
    // (relative to |t|) too coarse for sin.
    for t in [0.1, 1.0, 3.0, 30.0] {
        let (v, (dx, dt)) = labelled_break_value_grad(&x, t);
        assert_eq!(v, labelled_break_value(&x, t));
        assert_gradient(
            |p| labelled_break_value(&p[..5], p[5]),
            &cat(&[&x, &[t]]),
            &cat(&[&dx, &[dt]]),
            TOL,
        );
    }
}

#[differentiate]
fn continue_skips(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        if x[i] < 0.0 {
            continue;
        }
        s = s * x[i] + x[i];
    }
    let mut j = 0;
    while j < x.len() {
        j += 1;
        if j % 2 == 0 {
            continue;
        }
        s *= 1.0 + x[j - 1] * 0.1;
    }
    let mut k = 0;
    loop {
        k += 1;
        if k > x.len() {
            break;
        }
        if x[k - 1] > 1.0 {
            continue;
        }
        s += x[k - 1].exp();
    }
    s
}

#[test]
fn continue_in_for_while_and_loop() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.5);
        let (v, dx) = continue_skips_grad(&x);
        assert_eq!(v, continue_skips(&x));
        assert_gradient(continue_skips, &x, &dx, TOL);
    }
    let x = [-0.5, 1.5, 0.3, -1.2, 2.0];
    let (_, dx) = continue_skips_grad(&x);
    assert_gradient(continue_skips, &x, &dx, TOL);
}

#[differentiate]
fn labelled(x: &[f64], t: f64) -> f64 {
    let mut s = 0.0;
    'rows: for i in 0..x.len() {
        'cols: for j in 0..x.len() {
            if x[j] < 0.0 {
                continue 'rows;
            }
            if j >= i {
                break 'cols;
            }
            s = s * 0.5 + x[i] * x[j];
            if s > t {
                break 'rows;
            }
        }
        s += x[i];
    }
    s
}

#[test]
fn labelled_break_and_continue() {
    let xs: [&[f64]; 5] = [
        &[],
        &[0.7],
        &[0.5, 1.0, 2.0, 0.3, 0.8, 1.2, 0.4],
        &[0.5, 1.0, -2.0, 0.3, 0.8, 1.2, 0.4],
        &[-0.5, 1.0, 2.0],
    ];
    for x in xs {
        for t in [0.6, 3.0, 100.0] {
            let n = x.len();
            let (v, (dx, dt)) = labelled_grad(x, t);
            assert_eq!(v, labelled(x, t));
            assert_gradient(
                |p| labelled(&p[..n], p[n]),
                &cat(&[x, &[t]]),
                &cat(&[&dx, &[dt]]),
                TOL,
            );
        }
    }
}

#[differentiate]
fn nested(x: &[f64], n: usize) -> f64 {
    let mut s = 0.1;
    for i in 0..n {
        for j in 0..=i {
            let mut k = j;
            while k < i {
                s = s * 0.9 + x[i] * x[j] * x[k];
                k += 1;
            }
            s = s.sin() + x[j];
        }
    }
    s
}

#[test]
fn nested_loops() {
    let x = seq(7, 0.8);
    for n in [0, 1, 2, 7] {
        let (v, dx) = nested_grad(&x, n);
        assert_eq!(v, nested(&x, n));
        assert_gradient(|p| nested(p, n), &x, &dx, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// parameter types
// ------------------------------------------------------------------------------------------

#[differentiate]
fn param_f64(x: f64, k: usize, flag: bool) -> f64 {
    if flag { x.powi(k as i32) } else { x * k as f64 }
}

#[test]
fn parameter_f64_with_inactive_integer_and_bool() {
    let (v, d): (f64, f64) = param_f64_grad(1.5, 3, true);
    assert_eq!(v, 1.5f64.powi(3));
    assert_close(d, 3.0 * 1.5 * 1.5, 1e-15);
    let (_, d) = param_f64_grad(1.5, 3, false);
    assert_eq!(d, 3.0);
}

#[differentiate]
fn param_array(x: [f64; 3]) -> f64 {
    x[0] * x[1] + x[2].sin() * x[0]
}

#[test]
fn parameter_array_by_value() {
    let x = [0.5, -1.5, 2.0];
    let (_, d): (f64, [f64; 3]) = param_array_grad(x);
    assert_eq!(d, [x[1] + x[2].sin(), x[0], x[2].cos() * x[0]]);
    assert_gradient(|p| param_array([p[0], p[1], p[2]]), &x, &d, TOL);
}

#[differentiate]
fn param_matrix(m: [[f64; 3]; 2]) -> f64 {
    let mut s = 0.0;
    for i in 0..2 {
        for j in 0..3 {
            s += m[i][j] * m[1 - i][(j + 1) % 3];
        }
    }
    s
}

#[differentiate]
fn param_matrix_ref(m: &[[f64; 3]; 2], v: &[f64; 3]) -> f64 {
    let mut s = 0.0;
    for i in 0..2 {
        let mut r = 0.0;
        for j in 0..3 {
            r += m[i][j] * v[j];
        }
        s += r * r;
    }
    s
}

#[test]
fn parameter_2d_array_by_value_and_reference() {
    let m = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]];
    let flat = |p: &[f64]| [[p[0], p[1], p[2]], [p[3], p[4], p[5]]];
    let (_, d): (f64, [[f64; 3]; 2]) = param_matrix_grad(m);
    assert_gradient(
        |p| param_matrix(flat(p)),
        m.as_flattened(),
        d.as_flattened(),
        TOL,
    );

    let v = [0.2, 0.9, -1.3];
    let (_, (dm, dv)): (f64, ([[f64; 3]; 2], [f64; 3])) = param_matrix_ref_grad(&m, &v);
    // d/dm_ij = 2 r_i v_j, d/dv_j = sum_i 2 r_i m_ij
    for i in 0..2 {
        let r: f64 = (0..3).map(|j| m[i][j] * v[j]).sum();
        for j in 0..3 {
            assert_close(dm[i][j], 2.0 * r * v[j], 1e-14);
        }
    }
    assert_gradient(
        |p| param_matrix_ref(&flat(p), &[p[6], p[7], p[8]]),
        &cat(&[m.as_flattened(), &v]),
        &cat(&[dm.as_flattened(), &dv]),
        TOL,
    );
}

#[differentiate]
fn param_slice(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += x[i] * x[i] * (i as f64 + 1.0);
    }
    s
}

#[test]
fn parameter_slice() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.0);
        let (_, d): (f64, Vec<f64>) = param_slice_grad(&x);
        let e: Vec<f64> = (0..n).map(|i| 2.0 * x[i] * (i as f64 + 1.0)).collect();
        assert_eq!(d, e);
        assert_gradient(param_slice, &x, &d, TOL);
    }
}

#[differentiate]
fn param_vec(x: Vec<f64>, w: f64) -> f64 {
    let mut s = w;
    for i in 0..x.len() {
        s = s * x[i];
    }
    s
}

#[test]
fn parameter_vec_by_value() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.6);
        let (_, (d, dw)): (f64, (Vec<f64>, f64)) = param_vec_grad(x.clone(), 0.7);
        assert_gradient(
            |p| param_vec(p[..n].to_vec(), p[n]),
            &cat(&[&x, &[0.7]]),
            &cat(&[&d, &[dw]]),
            TOL,
        );
    }
}

#[differentiate]
fn param_vec_ref(x: &Vec<f64>, y: &Vec<f64>) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += (x[i] - y[i]).powi(2);
    }
    s
}

#[test]
fn parameter_vec_by_reference() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.6);
        let y = seq(n, 1.9);
        let (_, (dx, dy)): (f64, (Vec<f64>, Vec<f64>)) = param_vec_ref_grad(&x, &y);
        for i in 0..n {
            assert_close(dx[i], 2.0 * (x[i] - y[i]), 1e-15);
            assert_close(dy[i], -2.0 * (x[i] - y[i]), 1e-15);
        }
        assert_gradient(
            |p| param_vec_ref(&p[..n].to_vec(), &p[n..].to_vec()),
            &cat(&[&x, &y]),
            &cat(&[&dx, &dy]),
            TOL,
        );
    }
}

#[differentiate]
fn param_array_ref(x: &[f64; 4], s: f64) -> f64 {
    let mut p = s;
    for v in x.iter() {
        p = p * v + s;
    }
    p
}

#[test]
fn parameter_array_by_reference() {
    let x = [0.3, -1.2, 0.8, 1.5];
    let (_, (d, ds)): (f64, ([f64; 4], f64)) = param_array_ref_grad(&x, 0.9);
    assert_gradient(
        |p| param_array_ref(&[p[0], p[1], p[2], p[3]], p[4]),
        &cat(&[&x, &[0.9]]),
        &cat(&[&d, &[ds]]),
        TOL,
    );
}

// ------------------------------------------------------------------------------------------
// local arrays, vectors and copies
// ------------------------------------------------------------------------------------------

const N: usize = 4;

#[differentiate]
fn local_fixed_arrays(x: &[f64]) -> f64 {
    let mut a = [0.0; N];
    let mut m = [[0.0; 3]; 2];
    for i in 0..N {
        a[i] = x[i] * x[(i + 1) % N];
    }
    for i in 0..2 {
        for j in 0..3 {
            m[i][j] = a[i + j] + x[j] * a[i];
        }
    }
    let mut s = 0.0;
    for i in 0..2 {
        for j in 0..3 {
            s += m[i][j] * m[i][j];
        }
    }
    s
}

#[test]
fn local_fixed_size_arrays() {
    let x = [0.4, -1.1, 0.9, 1.3];
    let (v, dx) = local_fixed_arrays_grad(&x);
    assert_eq!(v, local_fixed_arrays(&x));
    assert_gradient(local_fixed_arrays, &x, &dx, TOL);
}

#[differentiate]
fn local_vec(x: &[f64], n: usize) -> f64 {
    let mut a = vec![0.0; n];
    for i in 0..n {
        a[i] = x[i % x.len()].exp() * (i as f64 + 1.0);
    }
    let mut s = 0.0;
    for v in a.iter() {
        s = s * 0.5 + v * v;
    }
    s
}

#[test]
fn local_vec_with_runtime_length() {
    let x = [0.2, -0.7, 0.5];
    for n in [0, 1, 7] {
        let (v, dx) = local_vec_grad(&x, n);
        assert_eq!(v, local_vec(&x, n));
        assert_gradient(|p| local_vec(p, n), &x, &dx, TOL);
    }
}

#[differentiate]
fn local_to_vec(x: &[f64]) -> f64 {
    let mut a = x.to_vec();
    for i in 0..a.len() {
        a[i] = a[i] * a[i] + x[i];
    }
    let mut s = 0.0;
    for i in 0..a.len() {
        s += a[i] * x[i];
    }
    s
}

#[test]
fn local_to_vec_copy() {
    for n in [0, 1, 7] {
        let x = seq(n, 2.2);
        let (v, dx) = local_to_vec_grad(&x);
        assert_eq!(v, local_to_vec(&x));
        // s = sum (x^2 + x) x, ds/dx = 3x^2 + 2x
        for i in 0..n {
            assert_close(dx[i], 3.0 * x[i] * x[i] + 2.0 * x[i], 1e-14);
        }
        assert_gradient(local_to_vec, &x, &dx, TOL);
    }
}

#[differentiate]
fn parameter_copy(x: [f64; 3], r: &[f64; 2], y: f64) -> f64 {
    let mut a = x;
    let mut b = r.to_vec();
    a[0] = a[0] * y;
    a[1] += a[0];
    a[2] = a[1] * a[2];
    b[1] = b[0] * y;
    x[0] * a[0] + a[2] + x[1] * a[1] + b[1] * r[1]
}

#[test]
fn copies_of_parameters_are_independent() {
    let x = [0.5, -1.5, 2.0];
    let r = [0.3, -0.9];
    let y = 1.7;
    let (v, (dx, dr, dy)) = parameter_copy_grad(x, &r, y);
    assert_eq!(v, parameter_copy(x, &r, y));
    assert_gradient(
        |p| parameter_copy([p[0], p[1], p[2]], &[p[3], p[4]], p[5]),
        &cat(&[&x, &r, &[y]]),
        &cat(&[&dx, &dr, &[dy]]),
        TOL,
    );
}

// Regression: `let b = a;` of a local array makes `b` an alias of `a` in the generated code, so a
// later write to `a` changes `b`: `_grad` returns a different value than the function.
#[differentiate]
fn local_copy(x: [f64; 3], y: f64) -> f64 {
    let mut a = x;
    a[0] = a[0] * y;
    a[1] += a[0];
    let b = a;
    a[2] = a[1] * a[2];
    a[0] = 0.0;
    x[0] * b[0] + a[2] + b[1] * x[1] + a[0]
}

#[test]
fn copies_of_local_arrays_are_independent() {
    let x = [0.5, -1.5, 2.0];
    let y = 1.7;
    let (v, (dx, dy)) = local_copy_grad(x, y);
    assert_eq!(v, local_copy(x, y));
    assert_gradient(
        |p| local_copy([p[0], p[1], p[2]], p[3]),
        &cat(&[&x, &[y]]),
        &cat(&[&dx, &[dy]]),
        TOL,
    );
}

#[differentiate]
fn index_arithmetic(x: &[f64]) -> f64 {
    let n = x.len();
    let mut a = vec![0.0; 2 * n + 1];
    a[0] = 1.0;
    for i in 0..n {
        a[2 * i + 1] = a[2 * i] * x[i];
        a[2 * i + 2] = a[2 * i + 1] + x[n - 1 - i];
    }
    let mut b = x.to_vec();
    for i in 0..n {
        b[(i + 1) % n] += b[i] * 0.5;
    }
    let mut s = a[2 * n];
    for i in 1..n {
        s += b[i - 1] * b[n - i];
    }
    s
}

#[test]
fn element_writes_with_index_arithmetic() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.9);
        let (v, dx) = index_arithmetic_grad(&x);
        assert_eq!(v, index_arithmetic(&x));
        assert_gradient(index_arithmetic, &x, &dx, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// values overwritten in loops
// ------------------------------------------------------------------------------------------

#[differentiate]
fn running_product(x: &[f64]) -> f64 {
    let mut p = 1.0;
    for i in 0..x.len() {
        p = p * x[i];
    }
    p
}

#[test]
fn scalar_overwritten_in_a_loop() {
    for n in [0, 1, 7] {
        let x = seq(n, 1.3);
        let (v, dx) = running_product_grad(&x);
        assert_eq!(v, running_product(&x));
        for k in 0..n {
            let e: f64 = (0..n).filter(|&j| j != k).map(|j| x[j]).product();
            assert_close(dx[k], e, 1e-14);
        }
        assert_gradient(running_product, &x, &dx, TOL);
    }
}

// Regression: loop-carried variables that exchange values (`(a, b) = (b, ..)`, or through a
// temporary) get a wrong gradient from the second iteration on; the value is right.
#[differentiate]
fn fibonacci(x: f64, y: f64, n: usize) -> f64 {
    let mut a = x;
    let mut b = y;
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    b
}

#[differentiate]
fn nonlinear_swap(x: f64, y: f64, n: usize) -> f64 {
    let (mut a, mut b) = (x, y);
    for i in 0..n {
        (a, b) = (b.sin(), a * b + i as f64 * 0.1);
    }
    a * b
}

#[differentiate]
fn pure_swap(x: f64, y: f64, n: usize) -> f64 {
    let (mut a, mut b) = (x, y);
    for _ in 0..n {
        (a, b) = (b, a);
    }
    a
}

#[differentiate]
fn swap_through_a_temporary(x: f64, y: f64, n: usize) -> f64 {
    let mut a = x;
    let mut b = y;
    for _ in 0..n {
        let c = a + b;
        a = b;
        b = c;
    }
    b
}

#[test]
fn swap_overwritten_in_a_loop() {
    for n in [0, 1, 2, 7] {
        let (v, d) = pure_swap_grad(0.3, 0.8, n);
        assert_eq!(v, pure_swap(0.3, 0.8, n));
        let e = if n % 2 == 0 { (1.0, 0.0) } else { (0.0, 1.0) };
        assert_eq!(d, e, "n = {n}");
        let (v, d) = swap_through_a_temporary_grad(0.3, 0.8, n);
        assert_eq!(v, swap_through_a_temporary(0.3, 0.8, n));
        assert_eq!(d, fibonacci_grad(0.3, 0.8, n).1);
        assert_gradient(
            |p| swap_through_a_temporary(p[0], p[1], n),
            &[0.3, 0.8],
            &[d.0, d.1],
            TOL,
        );
    }
}

#[test]
fn tuple_swap_overwritten_in_a_loop() {
    let fib = |k: usize| {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..k {
            (a, b) = (b, a + b);
        }
        a as f64
    };
    for n in [0, 1, 2, 7] {
        // b_n = F(n) x + F(n + 1) y.
        let (v, (dx, dy)) = fibonacci_grad(0.3, 0.8, n);
        assert_eq!(v, fibonacci(0.3, 0.8, n));
        assert_eq!((dx, dy), (fib(n), fib(n + 1)), "n = {n}");
    }
}

#[test]
fn nonlinear_tuple_swap_overwritten_in_a_loop() {
    for n in [0, 1, 2, 7] {
        for &(x, y) in &[(0.7, 1.2), (-0.4, 0.9)] {
            let (v, (dx, dy)) = nonlinear_swap_grad(x, y, n);
            assert_eq!(v, nonlinear_swap(x, y, n));
            assert_gradient(|p| nonlinear_swap(p[0], p[1], n), &[x, y], &[dx, dy], TOL);
        }
    }
}

#[differentiate]
fn prefix_products(x: &[f64]) -> f64 {
    let mut a = x.to_vec();
    for i in 1..a.len() {
        a[i] = a[i - 1] * x[i];
    }
    let mut s = 0.0;
    for v in a.iter() {
        s += v;
    }
    s
}

#[differentiate]
fn element_overwritten_repeatedly(x: &[f64]) -> f64 {
    let mut a = [0.5, 1.0];
    for i in 0..x.len() {
        a[0] = a[0] * x[i] + a[1];
        a[1] = a[0].sin() * x[i];
    }
    a[0] * a[1]
}

#[test]
fn array_updated_in_place_in_a_loop() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.25);
        let (v, dx) = prefix_products_grad(&x);
        assert_eq!(v, prefix_products(&x));
        // d/dx_k sum_i prod_{j<=i} x_j = sum_{i>=k} prod_{j<=i, j!=k} x_j
        for k in 0..n {
            let e: f64 = (k..n)
                .map(|i| (0..=i).filter(|&j| j != k).map(|j| x[j]).product::<f64>())
                .sum();
            assert_close(dx[k], e, 1e-13);
        }
        assert_gradient(prefix_products, &x, &dx, TOL);

        let (v, dx) = element_overwritten_repeatedly_grad(&x);
        assert_eq!(v, element_overwritten_repeatedly(&x));
        assert_gradient(element_overwritten_repeatedly, &x, &dx, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// .len()
// ------------------------------------------------------------------------------------------

#[differentiate]
fn lengths(x: &[f64], v: Vec<f64>, a: [f64; 3], r: &Vec<f64>) -> f64 {
    let local = vec![1.0; x.len() + 2];
    let n = x.len() + v.len() + a.len() + r.len() + local.len();
    let mut s = n as f64;
    for i in 0..x.len().min(v.len()) {
        s += x[i] * v[i] * a.len() as f64;
    }
    s * r[r.len() - 1] + a[a.len() - 1] * local.len() as f64
}

#[test]
fn len_of_every_kind_of_array() {
    let x = [0.5, 1.5, -1.0];
    let v = vec![2.0, -0.5];
    let a = [0.1, 0.2, 0.3];
    let r = vec![0.7, 1.9];
    let (val, (dx, dv, da, dr)) = lengths_grad(&x, v.clone(), a, &r);
    assert_eq!(val, lengths(&x, v.clone(), a, &r));
    // s = 15 + 3 (x0 v0 + x1 v1), value = s * r1 + 5 a2
    let s = 15.0 + 3.0 * (0.5 * 2.0 + 1.5 * -0.5);
    assert_close(val, s * 1.9 + 0.3 * 5.0, 1e-15);
    assert_eq!(dx, vec![3.0 * 2.0 * 1.9, 3.0 * -0.5 * 1.9, 0.0]);
    assert_eq!(dv, vec![3.0 * 0.5 * 1.9, 3.0 * 1.5 * 1.9]);
    assert_eq!(da, [0.0, 0.0, 5.0]);
    assert_eq!(dr, vec![0.0, s]);
}

// ------------------------------------------------------------------------------------------
// tuple and array returns
// ------------------------------------------------------------------------------------------

#[differentiate]
fn tuple_return_loop(x: &[f64], w: f64) -> (f64, f64, f64) {
    let mut s = 0.0;
    let mut p = 1.0;
    for &v in x.iter() {
        s += v * w;
        p *= v;
    }
    (s, p, s * p + w)
}

#[test]
fn tuple_return_pullback() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.45);
        let w = 0.8;
        for d in [
            (1.0, 0.0, 0.0),
            (0.0, 1.0, 0.0),
            (0.0, 0.0, 1.0),
            (0.5, -2.0, 1.5),
        ] {
            let (dx, dw) = tuple_return_loop_pullback(&x, w, d);
            let f = |p: &[f64]| {
                let (a, b, c) = tuple_return_loop(&p[..n], p[n]);
                d.0 * a + d.1 * b + d.2 * c
            };
            assert_gradient(f, &cat(&[&x, &[w]]), &cat(&[&dx, &[dw]]), TOL);
        }
        // Linear in d_out.
        let (dx0, dw0) = tuple_return_loop_pullback(&x, w, (0.0, 0.0, 0.0));
        assert!(dx0.iter().all(|&v| v == 0.0) && dw0 == 0.0);
    }
}

#[differentiate]
fn array_return(x: [f64; 3], w: f64) -> [f64; 3] {
    // `0.0_f64`: an annotation `let mut out: [f64; 3]` is lost by the macro (see the BUG section).
    let mut out = [0.0_f64; 3];
    for i in 0..3 {
        out[i] = x[i] * w + out[(i + 2) % 3].sin();
    }
    out
}

#[test]
fn array_return_pullbacks() {
    let x = [0.4, -0.9, 1.3];
    let w = 1.2;
    for d in [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.3, -1.0, 2.0],
    ] {
        let (dx, dw): ([f64; 3], f64) = array_return_pullback(x, w, d);
        let f = |p: &[f64]| {
            let y = array_return([p[0], p[1], p[2]], p[3]);
            d[0] * y[0] + d[1] * y[1] + d[2] * y[2]
        };
        assert_gradient(f, &cat(&[&x, &[w]]), &cat(&[&dx, &[dw]]), TOL);
    }
    // out[0] = x0 w only: its Jacobian row is analytic.
    let (dx, dw) = array_return_pullback(x, w, [1.0, 0.0, 0.0]);
    assert_eq!((dx, dw), ([w, 0.0, 0.0], x[0]));
}

// ------------------------------------------------------------------------------------------
// calls inside loops
// ------------------------------------------------------------------------------------------

#[differentiate]
fn step(s: f64, x: f64) -> f64 {
    (s * x).tanh() + s
}

#[differentiate]
fn rotate(a: f64, b: f64, t: f64) -> (f64, f64) {
    (a * t.cos() - b * t.sin(), a * t.sin() + b * t.cos())
}

#[differentiate]
fn scale2(v: [f64; 2], s: f64) -> [f64; 2] {
    [v[0] * s, v[1] * s]
}

#[differentiate]
fn calls_in_loops(x: &[f64], t: f64) -> f64 {
    let mut s = 0.1;
    let (mut a, mut b) = (1.0, 0.0);
    for i in 0..x.len() {
        s = step(s, x[i]);
        (a, b) = rotate(a, b, t * x[i]);
        let mut k = 0;
        while k < i {
            s = step(s, t);
            k += 1;
        }
        if x[i] > 0.0 {
            s += step(a, b);
        }
    }
    let v = scale2([a, b], s);
    s * a + b + v[0] * v[1]
}

#[differentiate]
fn pair(s: f64, x: f64) -> [f64; 2] {
    [s * x, s + x]
}

#[differentiate]
fn calls_anywhere(x: &[f64], t: f64) -> f64 {
    let mut s = 0.5;
    for i in 0..x.len() {
        let w = pair(s, x[i]);
        s = w[0] * 0.5 + w[1] * 0.1;
        if step(s, t) > 1.0 {
            s = step(step(s, t), x[i]);
        }
        let mut k = 0;
        while step(s, x[i]) < 2.0 && k < 3 {
            s += 0.1 * t;
            k += 1;
        }
    }
    let r = loop {
        if s > 0.0 {
            break step(s, t);
        }
        s += 1.0;
    };
    r
}

#[test]
fn calls_in_conditions_arguments_and_break_values() {
    for n in [0, 1, 7] {
        let x = seq(n, 0.6);
        let t = 0.6;
        let (v, (dx, dt)) = calls_anywhere_grad(&x, t);
        assert_eq!(v, calls_anywhere(&x, t));
        assert_gradient(
            |p| calls_anywhere(&p[..n], p[n]),
            &cat(&[&x, &[t]]),
            &cat(&[&dx, &[dt]]),
            TOL,
        );
    }
}

#[test]
fn calls_of_differentiated_functions_inside_loops() {
    for n in [0, 1, 7] {
        let x = seq(n, 1.7);
        let t = 0.6;
        let (v, (dx, dt)) = calls_in_loops_grad(&x, t);
        assert_eq!(v, calls_in_loops(&x, t));
        assert_gradient(
            |p| calls_in_loops(&p[..n], p[n]),
            &cat(&[&x, &[t]]),
            &cat(&[&dx, &[dt]]),
            TOL,
        );
    }
}

// Regression: an array variable reassigned as a whole inside a loop (`v = f(v, ..)` from a call, or
// `v = w` from another local array) is never updated in the generated forward sweep: the call's
// result is discarded (`scale2(v, t2);`, also an `unused_must_use` warning), so `_grad` returns
// the value for the initial `v` and a zero gradient.
#[differentiate]
fn array_state_from_a_call(x: &[f64]) -> f64 {
    let mut v = [1.0, 0.5];
    for i in 0..x.len() {
        v = scale2(v, x[i].cos());
    }
    v[0] * v[1]
}

#[test]
fn array_state_reassigned_from_a_call_in_a_loop() {
    for n in [0, 1, 7] {
        let x = seq(n, 1.7);
        let (v, dx) = array_state_from_a_call_grad(&x);
        assert_eq!(v, array_state_from_a_call(&x));
        assert_gradient(array_state_from_a_call, &x, &dx, TOL);
    }
}

// ------------------------------------------------------------------------------------------
// _grad_into and _pullback on a loop function
// ------------------------------------------------------------------------------------------

#[differentiate]
fn loop_mixed(x: &[f64], a: [f64; 2], w: f64) -> f64 {
    let mut s = w;
    for i in 0..x.len() {
        s = s * x[i] + a[i % 2];
    }
    s * s
}

#[test]
fn grad_into_overwrites_on_a_loop_function() {
    let a = [0.3, -0.8];
    let w = 1.1;
    // Start from garbage with the wrong length: longer, shorter, then the right length.
    let mut grad = (vec![f64::NAN; 12], [7.0, f64::NAN], 42.0);
    for n in [7, 1, 7, 0, 7] {
        let x = seq(n, 0.05);
        let v = loop_mixed_grad_into(&x, a, w, &mut grad);
        let (v2, g2) = loop_mixed_grad(&x, a, w);
        assert_eq!(v, v2);
        assert_eq!(grad, g2);
        // A second call gives the same, not twice the gradient.
        let v = loop_mixed_grad_into(&x, a, w, &mut grad);
        assert_eq!((v, &grad), (v2, &g2));
        if n == 7 {
            assert!(grad.0.capacity() >= 7);
        }
    }
}

#[test]
fn pullback_is_seed_times_gradient_on_a_loop_function() {
    let x = seq(7, 0.05);
    let a = [0.3, -0.8];
    let w = 1.1;
    let (_, (dx, da, dw)) = loop_mixed_grad(&x, a, w);
    for s in [0.0, 1.0, -2.5, 1e3] {
        let (px, pa, pw) = loop_mixed_pullback(&x, a, w, s);
        for i in 0..7 {
            assert_close(px[i], s * dx[i], 1e-14);
        }
        assert_close(pa[0], s * da[0], 1e-14);
        assert_close(pa[1], s * da[1], 1e-14);
        assert_close(pw, s * dw, 1e-14);
    }
    assert_eq!(loop_mixed_pullback(&x, a, w, 1.0), (dx, da, dw));
}

// ------------------------------------------------------------------------------------------
// Regression tests for macro bugs these tests found (each was a compile error or a wrong
// gradient in the generated code for a supported construct).
// ------------------------------------------------------------------------------------------

mod regressions {
    use super::*;

    // Regression: a loop whose iteration count is recorded (`while`, `loop`, or a `for` that follows an
    // early exit) inside a branch does not compile: "cannot find value `tN` in this scope". The
    // branch can be a user's `if`, or the guard the macro writes around the rest of a body after
    // an early `return`/`break`/`continue`. The branch record is built as
    // `Branch::Then(tN)`, but the loop binds its count as `iterations_1`, so `tN` is undefined.

    #[differentiate]
    fn while_inside_if(x: f64, n: usize) -> f64 {
        let mut s = x;
        if n > 1 {
            let mut k = 0;
            while k < n {
                s = s * x;
                k += 1;
            }
        }
        s
    }

    #[test]
    fn a_while_loop_inside_an_if() {
        for n in [0, 1, 2, 7] {
            let (v, dx) = while_inside_if_grad(0.9, n);
            assert_eq!(v, while_inside_if(0.9, n));
            let k = if n > 1 { n + 1 } else { 1 };
            assert_close(dx, k as f64 * 0.9_f64.powi(k as i32 - 1), 1e-14);
        }
    }

    #[differentiate]
    fn while_inside_if_inside_for(x: &[f64]) -> f64 {
        let mut s = 1.0;
        for i in 0..x.len() {
            if x[i] > 0.0 {
                let mut k = 0;
                while k < i {
                    s = s * x[i] + x[k];
                    k += 1;
                }
            }
        }
        s
    }

    #[test]
    fn a_while_loop_inside_an_if_inside_a_for() {
        for n in [0, 1, 7] {
            let x = seq(n, 0.2);
            let (v, dx) = while_inside_if_inside_for_grad(&x);
            assert_eq!(v, while_inside_if_inside_for(&x));
            assert_gradient(while_inside_if_inside_for, &x, &dx, TOL);
        }
    }

    // Regression (same): a `while` nested in a `for` whose body is guarded by a labelled break.
    #[differentiate]
    fn while_inside_labelled_for(x: f64, n: usize) -> f64 {
        let mut s = x;
        'rows: for _ in 0..n {
            let mut j = 0;
            while j < n {
                j += 1;
                if s > 1.0 {
                    break 'rows;
                }
                s = s * x;
            }
        }
        s
    }

    #[test]
    fn a_while_loop_inside_a_for_with_a_labelled_break() {
        for n in [0, 1, 7] {
            for x in [0.9, 1.1] {
                let (v, dx) = while_inside_labelled_for_grad(x, n);
                assert_eq!(v, while_inside_labelled_for(x, n));
                assert_gradient(|p| while_inside_labelled_for(p[0], n), &[x], &[dx], TOL);
            }
        }
    }

    #[differentiate]
    fn loop_after_early_return(x: f64, n: usize) -> f64 {
        if n == 0 {
            return x;
        }
        let mut s = x;
        for _ in 0..n {
            s += x;
        }
        s
    }

    #[test]
    fn a_loop_after_an_early_return() {
        for n in [0, 1, 7] {
            let (v, dx) = loop_after_early_return_grad(0.7, n);
            assert_eq!(v, loop_after_early_return(0.7, n));
            assert_eq!(dx, if n == 0 { 1.0 } else { n as f64 + 1.0 });
        }
    }

    #[differentiate]
    fn loop_after_continue(x: f64, n: usize) -> f64 {
        let mut s = x;
        for i in 0..n {
            if i == 0 {
                continue;
            }
            for _ in 0..i {
                s = s * x;
            }
        }
        s
    }

    #[test]
    fn a_loop_after_continue() {
        for n in [0, 1, 2, 4] {
            let (v, dx) = loop_after_continue_grad(0.9, n);
            assert_eq!(v, loop_after_continue(0.9, n));
            // s = x^(1 + n(n-1)/2)
            let k = 1 + n * n.saturating_sub(1) / 2;
            assert_close(dx, k as f64 * 0.9_f64.powi(k as i32 - 1), 1e-14);
        }
    }

    // Regression (same): `break 'outer value` from an inner loop that follows a `break value`.
    #[differentiate]
    fn labelled_break_value_then_loop(x: &[f64], t: f64) -> f64 {
        let mut s = 0.0;
        let mut i = 0;
        let r = 'outer: loop {
            if i >= x.len() {
                break s + t;
            }
            let mut j = 0;
            while j <= i {
                s += x[i] * x[j];
                if s > t {
                    break 'outer s * t;
                }
                j += 1;
            }
            i += 1;
        };
        r.sin()
    }

    #[test]
    fn labelled_break_value_after_a_break_value() {
        let x = [0.5, 0.9, 1.2, 0.8, 1.1];
        // 20.0 is above every partial sum, so the `break s + t` path runs; larger `t` would make
        // the finite-difference step (relative to |t|) too coarse for `sin`.
        for t in [0.1, 1.0, 3.0, 20.0] {
            let (v, (dx, dt)) = labelled_break_value_then_loop_grad(&x, t);
            assert_eq!(v, labelled_break_value_then_loop(&x, t));
            assert_gradient(
                |p| labelled_break_value_then_loop(&p[..5], p[5]),
                &cat(&[&x, &[t]]),
                &cat(&[&dx, &[dt]]),
                TOL,
            );
        }
    }

    // Regression (same): `continue 'rows` from an inner loop, with code after the inner loop.
    #[differentiate]
    fn labelled_then_tail(x: &[f64], t: f64) -> f64 {
        let mut s = 0.0;
        'rows: for i in 0..x.len() {
            let mut j = 0;
            'cols: while j < x.len() {
                j += 1;
                if x[j - 1] < 0.0 {
                    continue 'rows;
                }
                if j > i {
                    break 'cols;
                }
                s = s * 0.5 + x[i] * x[j - 1];
                if s > t {
                    break 'rows;
                }
            }
            s += x[i];
        }
        s
    }

    #[test]
    fn labelled_continue_with_code_after_the_inner_loop() {
        let xs: [&[f64]; 5] = [
            &[],
            &[0.7],
            &[0.5, 1.0, 2.0, 0.3, 0.8, 1.2, 0.4],
            &[0.5, 1.0, -2.0, 0.3, 0.8, 1.2, 0.4],
            &[-0.5, 1.0, 2.0],
        ];
        for x in xs {
            for t in [0.6, 3.0, 100.0] {
                let n = x.len();
                let (v, (dx, dt)) = labelled_then_tail_grad(x, t);
                assert_eq!(v, labelled_then_tail(x, t));
                assert_gradient(
                    |p| labelled_then_tail(&p[..n], p[n]),
                    &cat(&[x, &[t]]),
                    &cat(&[&dx, &[dt]]),
                    TOL,
                );
            }
        }
    }

    // Regression: the type annotation of a local array or vector is dropped in the generated code
    // (`let a: [f64; 2] = [0.0; 2];` becomes `let a0 = [0.0; 2];`), so a method call on an
    // element fails: "can't call method `sin` on ambiguous numeric type `{float}`".
    #[differentiate]
    fn annotated_local_array(x: [f64; 3], w: f64) -> [f64; 3] {
        let mut out: [f64; 3] = [0.0; 3];
        for i in 0..3 {
            out[i] = x[i] * w + out[(i + 2) % 3].sin();
        }
        out
    }

    #[differentiate]
    fn annotated_local_vec(x: f64) -> f64 {
        let a: Vec<f64> = vec![0.0; 2];
        a[0].sin() + x
    }

    #[test]
    fn annotated_local_arrays() {
        let x = [0.4, -0.9, 1.3];
        assert_eq!(
            annotated_local_array_pullback(x, 1.2, [0.3, -1.0, 2.0]),
            array_return_pullback(x, 1.2, [0.3, -1.0, 2.0])
        );
        assert_eq!(annotated_local_vec_grad(0.5), (0.5, 1.0));
    }

    // Regression: a local array declared inside a loop body (here `w`) does not compile: "cannot find
    // value `d_a3` in this scope" (the backward sweep sizes its adjoint with `zero_grad(&d_a3)`,
    // a name that does not exist; the forward sweep calls it `a3`).
    #[differentiate]
    fn array_state_from_a_local_array(x: &[f64]) -> f64 {
        let mut v = [1.0, 0.5];
        for i in 0..x.len() {
            let mut w = [0.0; 2];
            w[0] = v[0] * x[i];
            w[1] = v[1] * x[i];
            v = w;
        }
        v[0] * v[1]
    }

    #[test]
    fn array_state_reassigned_from_a_local_array_in_a_loop() {
        for n in [0, 1, 7] {
            let x = seq(n, 1.7);
            let (v, dx) = array_state_from_a_local_array_grad(&x);
            assert_eq!(v, array_state_from_a_local_array(&x));
            assert_gradient(array_state_from_a_local_array, &x, &dx, TOL);
        }
    }

    // Regression: an early `return` in a function that returns a tuple or an array does not compile:
    // "the branches give values of different shapes (a number, a tuple or an array); an `if`
    // that chooses between arrays is not supported" — the shapes are the same.
    #[differentiate]
    fn return_tuple_early(x: f64) -> (f64, f64) {
        if x > 1.0 {
            return (x, x * x);
        }
        (x * 2.0, x)
    }

    #[differentiate]
    fn return_array_early(x: f64) -> [f64; 2] {
        if x > 1.0 {
            return [x, x * x];
        }
        [x * 2.0, x]
    }

    #[differentiate]
    fn return_tuple_from_a_loop(x: &[f64], t: f64) -> (f64, f64) {
        let mut s = 0.0;
        for i in 0..x.len() {
            s += x[i] * t;
            if s > 1.0 {
                return (s, s * t);
            }
        }
        (s * 2.0, t)
    }

    #[test]
    fn early_return_of_tuples_and_arrays() {
        assert_eq!(return_tuple_early_pullback(2.0, (1.0, 1.0)), 5.0);
        assert_eq!(return_tuple_early_pullback(0.5, (1.0, 1.0)), 3.0);
        assert_eq!(return_array_early_pullback(2.0, [1.0, 1.0]), 5.0);
        assert_eq!(return_array_early_pullback(0.5, [1.0, 1.0]), 3.0);
        let x = [0.5, 0.9, 0.3];
        // 2.1 returns from the first iteration (s = 1.05); 2.0 would sit on the threshold.
        for t in [0.5, 2.1] {
            let (dx, dt) = return_tuple_from_a_loop_pullback(&x, t, (1.0, -1.0));
            assert_gradient(
                |p| {
                    let (a, b) = return_tuple_from_a_loop(&p[..3], p[3]);
                    a - b
                },
                &cat(&[&x, &[t]]),
                &cat(&[&dx, &[dt]]),
                TOL,
            );
        }
    }
}

// Regressions found by the randomized differential test (`tests/random_functions_*.rs`). ------

/// `*r` of an element of `.iter()` inside a condition.
#[differentiate]
fn deref_in_condition(xs: &[f64]) -> f64 {
    let mut s = 0.0;
    for r in xs.iter() {
        if *r > 0.5 {
            s += r * r;
        }
    }
    s
}

/// A tuple annotated as a whole keeps the type of its literal element.
#[differentiate]
fn annotated_tuple(x: f64) -> f64 {
    let t: (f64, f64) = (0.7, x);
    t.0.tanh() * t.1.sin()
}

/// A literal assigned to a variable typed by its first value, or by its declaration.
#[allow(clippy::needless_late_init)] // the late initialisation is the construct under test
#[differentiate]
fn literal_assigned(x: f64) -> f64 {
    let mut b = x.sin();
    let y = b * x;
    b = 0.2;
    let v: f64;
    if x > 0.0 {
        v = 0.5;
    } else {
        v = 0.7;
    }
    b.cos() * y + v.sin() * x
}

#[test]
fn randomized_test_regressions() {
    let xs = [0.2, 0.9, 0.7, -0.4];
    let (_, g) = deref_in_condition_grad(&xs);
    assert_eq!(g, vec![0.0, 1.8, 1.4, 0.0]);

    for x in [-0.8, 0.6] {
        let (_, g) = annotated_tuple_grad(x);
        assert_close(g, 0.7f64.tanh() * x.cos(), TOL);
        let (_, g) = literal_assigned_grad(x);
        let v: f64 = if x > 0.0 { 0.5 } else { 0.7 };
        let analytic = 0.2f64.cos() * (x.cos() * x + x.sin()) + v.sin();
        assert_close(g, analytic, TOL);
        assert_gradient(|p| literal_assigned(p[0]), &[x], &[g], TOL);
    }
}

/// Assertions are kept as written in the forward sweep; they have no derivative.
#[differentiate(wrt(x, k))]
fn checked_dot(x: &[f64], y: &[f64], k: f64) -> f64 {
    assert_eq!(x.len(), y.len(), "lengths differ");
    debug_assert!(k > 0.0);
    let mut s = 0.0;
    for i in 0..x.len() {
        assert!(x[i].is_finite(), "x[{}] is not finite", i);
        s += x[i] * y[i] * k;
    }
    s
}

#[test]
fn assertions_run_and_do_not_change_the_gradient() {
    let (x, y) = ([0.5, -1.0, 2.0], [1.5, 0.25, -0.5]);
    let (_, (dx, dk)) = checked_dot_grad(&x, &y, 2.0);
    assert_eq!(dx, vec![3.0, 0.5, -1.0]);
    assert_close(dk, checked_dot(&x, &y, 1.0), TOL);
    let mismatched = std::panic::catch_unwind(|| checked_dot_grad(&x, &y[..2], 2.0));
    assert!(mismatched.is_err(), "assert_eq! runs in the gradient too");
}

/// `.iter().sum()` and `.iter().product()` are the loops they stand for.
#[differentiate]
fn sums_and_products(x: &[f64], k: f64) -> f64 {
    let s: f64 = x.iter().sum();
    let p = x.iter().product::<f64>();
    s * k + p
}

#[test]
fn iterator_sums_and_products() {
    let x = [0.5, -2.0, 1.5];
    let (_, (dx, dk)) = sums_and_products_grad(&x, 3.0);
    let p: f64 = x.iter().product();
    let expected: Vec<f64> = x.iter().map(|xi| 3.0 + p / xi).collect();
    for (d, e) in dx.iter().zip(&expected) {
        assert_close(*d, *e, TOL);
    }
    assert_close(dk, x.iter().sum(), TOL);
}

/// `first().unwrap()` and `*last().expect(..)` of a growing local `Vec` and of a parameter: the
/// element itself (the error named `unwrap`).
#[differentiate]
fn first_and_last(x0: f64, v0: f64, xs: &[f64]) -> f64 {
    let mut path = vec![x0];
    let mut v = v0;
    for k in 0..5 {
        let last = *path.last().unwrap();
        v -= 0.1 * last;
        path.push(last + 0.1 * v * (k as f64 + 1.0));
    }
    let first = path.first().unwrap();
    *path.last().expect("non-empty") * first + xs.last().unwrap() * x0 + *xs.first().unwrap()
}

#[test]
fn first_and_last_elements() {
    let xs = [0.5, 1.5, 2.5];
    let (value, (dx0, dv0, dxs)) = first_and_last_grad(0.7, 0.3, &xs);
    assert_eq!(value.to_bits(), first_and_last(0.7, 0.3, &xs).to_bits());
    assert_eq!(dxs, vec![1.0, 0.0, 0.7]);
    assert_gradient(
        |p| first_and_last(p[0], p[1], &xs),
        &[0.7, 0.3],
        &[dx0, dv0],
        1e-7,
    );
}

/// Whole rows assigned: an array literal, another local array, in a loop that overwrites them.
#[differentiate]
fn rows_assigned(pos: &[[f64; 2]], a: f64) -> f64 {
    let mut x = pos.to_vec();
    let mut m = vec![vec![0.0; 2]; 2];
    for k in 0..3 {
        let r = [x[0][1] * a, x[0][0] + a];
        x[0] = r;
        x[1] = [x[1][0] * x[0][0], a * k as f64];
        m[k % 2] = vec![x[1][1], x[0][1] * a];
    }
    x[0][0] * x[0][1] + x[1][0] - x[1][1] * m[0][1] + m[1][0]
}

fn rows_assigned_plain(pos: &[[f64; 2]], a: f64) -> f64 {
    let mut x = pos.to_vec();
    let mut m = vec![vec![0.0; 2]; 2];
    for k in 0..3 {
        x[0] = [x[0][1] * a, x[0][0] + a];
        x[1] = [x[1][0] * x[0][0], a * k as f64];
        m[k % 2] = vec![x[1][1], x[0][1] * a];
    }
    x[0][0] * x[0][1] + x[1][0] - x[1][1] * m[0][1] + m[1][0]
}

#[test]
fn whole_rows_assigned() {
    let (pos, a) = (vec![[0.5, -1.0], [1.5, 0.25]], 0.8);
    let (value, (dpos, da)) = rows_assigned_grad(&pos, a);
    assert_eq!(value.to_bits(), rows_assigned(&pos, a).to_bits());
    assert_eq!(value.to_bits(), rows_assigned_plain(&pos, a).to_bits());
    let flat = [pos[0][0], pos[0][1], pos[1][0], pos[1][1], a];
    let grad = [dpos[0][0], dpos[0][1], dpos[1][0], dpos[1][1], da];
    assert_gradient(
        |p| rows_assigned_plain(&[[p[0], p[1]], [p[2], p[3]]], p[4]),
        &flat,
        &grad,
        1e-8,
    );
}

// ------------------------------------------------------------------------------------------
// Arrays copied where Rust copies them: into a tuple, an `Option`, a `move` closure, a
// by-value `for`. Writes to the array afterwards leave the copy alone.
// ------------------------------------------------------------------------------------------

#[differentiate(hessian)]
fn rotate_step(x: [f64; 2], a: f64) -> ([f64; 2], f64) {
    ([x[1] * a.cos(), x[0] * a], x[0] * x[0] + x[1])
}

/// A filter's state carried as a tuple (state vector, running log-likelihood), stepped by a
/// call and by hand, its elements assigned one by one too.
#[differentiate(hessian)]
fn carried_state(x0: [f64; 2], a: f64) -> f64 {
    let mut st = (x0, 0.0);
    for _ in 0..3 {
        let (xn, l) = rotate_step(st.0, a);
        st = (xn, st.1 + l);
        st.1 -= 0.1 * st.0[1];
        st.0 = [st.0[1], st.0[0] + 0.5 * st.1];
    }
    let mut by_hand = ([a, 1.0], 0.0);
    for k in 0..2 {
        let next = [by_hand.0[1] * a, by_hand.0[0] + k as f64];
        by_hand = (next, by_hand.1 + next[0] * next[1]);
    }
    st.1 + st.0[0] * by_hand.1
}

fn carried_state_plain(x0: [f64; 2], a: f64) -> f64 {
    let (mut x, mut ll) = (x0, 0.0);
    for _ in 0..3 {
        let l = x[0] * x[0] + x[1];
        x = [x[1] * a.cos(), x[0] * a];
        ll += l;
        ll -= 0.1 * x[1];
        x = [x[1], x[0] + 0.5 * ll];
    }
    let (mut y, mut s) = ([a, 1.0], 0.0);
    for k in 0..2 {
        y = [y[1] * a, y[0] + k as f64];
        s += y[0] * y[1];
    }
    ll + x[0] * s
}

/// Gradient descent remembering its best iterate in a tuple and in an `Option`, an anchor
/// kept by a `move` closure, and a by-value `for` over an array the loop writes.
#[allow(clippy::unnecessary_literal_unwrap)] // an `Option` that holds a copy
#[differentiate]
fn best_iterate(w0: [f64; 2], c: f64) -> f64 {
    let mut w = w0;
    let anchor = move |i: usize| w[i];
    let loss = |w: [f64; 2]| (w[0] - c).powi(2) + 3.0 * (w[1] + c).powi(2);
    let mut best = (w, loss(w));
    w[0] += 0.5;
    let first = Some(w);
    for _ in 0..4 {
        w[0] -= 0.1 * (2.0 * (w[0] - c) + 0.5 * (w[0] - anchor(0)));
        w[1] -= 0.1 * 6.0 * (w[1] + c);
        let f = loss(w);
        if f < best.1 {
            best = (w, f);
        }
    }
    w[1] += 1.0;
    let mut s = 0.0;
    for (i, v) in w.into_iter().enumerate() {
        s += v * (i as f64 + 1.0);
        w[1 - i] = 10.0 * c;
    }
    best.0[0] * 2.0 + best.0[1] + best.1 + first.unwrap()[1] + s + w[0] * anchor(1)
}

fn best_iterate_plain(w0: [f64; 2], c: f64) -> f64 {
    let anchor = w0;
    let mut w = w0;
    let loss = |w: [f64; 2]| (w[0] - c).powi(2) + 3.0 * (w[1] + c).powi(2);
    let mut best = (w, loss(w));
    w[0] += 0.5;
    let first = w;
    for _ in 0..4 {
        w[0] -= 0.1 * (2.0 * (w[0] - c) + 0.5 * (w[0] - anchor[0]));
        w[1] -= 0.1 * 6.0 * (w[1] + c);
        let f = loss(w);
        if f < best.1 {
            best = (w, f);
        }
    }
    w[1] += 1.0;
    let s = w[0] + 2.0 * w[1];
    best.0[0] * 2.0 + best.0[1] + best.1 + first[1] + s + 10.0 * c * anchor[1]
}

#[differentiate]
fn sin_and_product(a: f64, b: f64) -> (f64, f64) {
    (a.sin(), a * b)
}

/// A tuple a call returns, carried by a loop that may stop early, then adjusted in a branch.
#[differentiate]
fn stopped_pairs(xs: &[f64], limit: f64) -> f64 {
    let mut h = (0.0, 1.0);
    for i in 0..xs.len() {
        h = sin_and_product(h.0 + xs[i], h.1);
        if h.1.abs() > limit {
            break;
        }
        let c = if i == 2 { 0.5 } else { 1.0 };
        h = (h.0, h.1 * c + xs[i]);
    }
    h.0 + h.1
}

fn stopped_pairs_plain(xs: &[f64], limit: f64) -> f64 {
    let (mut u, mut v) = (0.0_f64, 1.0_f64);
    for i in 0..xs.len() {
        (u, v) = ((u + xs[i]).sin(), (u + xs[i]) * v);
        if v.abs() > limit {
            break;
        }
        let c = if i == 2 { 0.5 } else { 1.0 };
        v = v * c + xs[i];
    }
    u + v
}

#[test]
fn tuples_from_calls_carried_by_loops_that_stop_early() {
    let xs = [0.5, 0.3, 0.2, 0.9, -0.4];
    for limit in [0.4, 10.0] {
        let (value, (dxs, _)) = stopped_pairs_grad(&xs, limit);
        assert_eq!(value.to_bits(), stopped_pairs(&xs, limit).to_bits());
        assert_close(value, stopped_pairs_plain(&xs, limit), 1e-14);
        assert_gradient(|p| stopped_pairs_plain(p, limit), &xs, &dxs, TOL);
    }
}

/// Copies of a tuple holding an array, and of a `Vec` moved to another name, kept while the
/// original is assigned again (`let prev = st; st = (..)`, `let old = v; v = ..`).
#[differentiate]
fn kept_states(a: f64, b: f64) -> f64 {
    let mut st = ([a, b], a * b);
    let mut v = vec![b, a];
    let mut s = 0.0;
    for k in 0..3 {
        let prev = st;
        let (p, l) = st;
        st = ([st.0[1] * a, st.0[0] + b], st.1 + prev.0[0]);
        st.0[0] += 0.5 * p[1] * l;
        let old = v;
        v = vec![old[1] * st.0[0], old[0] + k as f64];
        s += prev.0[1] * st.1 + old[0] * v[1];
    }
    s + st.0[0] * v[0]
}

fn kept_states_plain(a: f64, b: f64) -> f64 {
    let (mut x, mut l) = ([a, b], a * b);
    let mut v = [b, a];
    let mut s = 0.0;
    for k in 0..3 {
        let (px, pl) = (x, l);
        x = [px[1] * a, px[0] + b];
        l = pl + px[0];
        x[0] += 0.5 * px[1] * pl;
        let old = v;
        v = [old[1] * x[0], old[0] + k as f64];
        s += px[1] * l + old[0] * v[1];
    }
    s + x[0] * v[0]
}

#[test]
fn copies_of_tuples_and_vecs_kept_while_the_original_is_assigned() {
    for (a, b) in [(0.7, -0.4), (-0.3, 0.9)] {
        let (value, (da, db)) = kept_states_grad(a, b);
        assert_eq!(value.to_bits(), kept_states(a, b).to_bits());
        assert_close(value, kept_states_plain(a, b), 1e-13);
        assert_gradient(|p| kept_states_plain(p[0], p[1]), &[a, b], &[da, db], TOL);
    }
}

/// Arrays chosen by a branch: parameters, local arrays written after, a `Vec` parameter
/// moved into a tuple that a loop assigns again; in both modes.
#[differentiate(hessian)]
fn chosen_arrays(a: [f64; 2], b: [f64; 2], v: Vec<f64>, t: f64) -> f64 {
    let mut w = [a[0] * t, b[1]];
    let mut s = 0.0;
    let mut st = (v, t);
    for k in 0..3 {
        let chosen = if (k as f64) < 1.5 * t { a } else { w };
        w[k % 2] += chosen[0] * chosen[1];
        let pair = if k == 1 { (w, st.1) } else { (b, 0.5) };
        w[0] *= 0.9;
        s += pair.0[0] * pair.1 + chosen[1];
        st = (vec![st.0[1] * t, st.0[0] + w[1]], st.1 * 0.5);
    }
    s + st.0[0] * st.0[1]
}

fn chosen_arrays_plain(a: [f64; 2], b: [f64; 2], v: [f64; 2], t: f64) -> f64 {
    let mut w = [a[0] * t, b[1]];
    let mut s = 0.0;
    let (mut u, mut l) = (v, t);
    for k in 0..3 {
        let chosen = if (k as f64) < 1.5 * t { a } else { w };
        w[k % 2] += chosen[0] * chosen[1];
        let pair = if k == 1 { (w, l) } else { (b, 0.5) };
        w[0] *= 0.9;
        s += pair.0[0] * pair.1 + chosen[1];
        u = [u[1] * t, u[0] + w[1]];
        l *= 0.5;
    }
    s + u[0] * u[1]
}

#[test]
fn arrays_chosen_by_branches() {
    let (a, b, v) = ([0.3, -0.8], [1.1, 0.4], vec![0.5, -0.2]);
    for t in [0.9, 1.7] {
        let (value, (da, db, dv, dt)) = chosen_arrays_grad(a, b, v.clone(), t);
        assert_eq!(value.to_bits(), chosen_arrays(a, b, v.clone(), t).to_bits());
        let f = |p: &[f64]| chosen_arrays_plain([p[0], p[1]], [p[2], p[3]], [p[4], p[5]], p[6]);
        let at = [a[0], a[1], b[0], b[1], v[0], v[1], t];
        assert_close(value, f(&at), 1e-13);
        let grad = [da[0], da[1], db[0], db[1], dv[0], dv[1], dt];
        assert_gradient(f, &at, &grad, TOL);
        // A Hessian-vector product against differences of the gradient.
        let dir = [0.3, -0.1, 0.2, 0.5, -0.4, 0.1, 0.7];
        let (_, _, hv) = chosen_arrays_hvp(
            a,
            b,
            v.clone(),
            t,
            (
                [dir[0], dir[1]],
                [dir[2], dir[3]],
                vec![dir[4], dir[5]],
                dir[6],
            ),
        );
        let e = 1e-6;
        let g = |s: f64| {
            let p: Vec<f64> = at.iter().zip(&dir).map(|(x, d)| x + s * d).collect();
            let (_, (ga, gb, gv, gt)) =
                chosen_arrays_grad([p[0], p[1]], [p[2], p[3]], vec![p[4], p[5]], p[6]);
            [ga[0], ga[1], gb[0], gb[1], gv[0], gv[1], gt]
        };
        let (plus, minus) = (g(e), g(-e));
        let hv = [hv.0[0], hv.0[1], hv.1[0], hv.1[1], hv.2[0], hv.2[1], hv.3];
        for i in 0..7 {
            assert_close(hv[i], (plus[i] - minus[i]) / (2.0 * e), 1e-6);
        }
    }
}

/// Rows of a local matrix put into a tuple and an `Option` and iterated by value, while the
/// matrix is written.
#[allow(clippy::unnecessary_literal_unwrap)] // an `Option` that holds a copy
#[differentiate]
fn rows_kept(x: f64, y: f64) -> f64 {
    let mut m = [[x, y], [y * y, x]];
    let t = (m[0], 1.5);
    let first = Some(m[1]);
    let mut s = 0.0;
    for v in m[0] {
        m[0][1] = 3.0 * x;
        m[1][0] += v * y;
        s += v * m[0][1];
    }
    s + t.0[1] * t.1 + first.unwrap()[0] * m[1][0]
}

fn rows_kept_plain(x: f64, y: f64) -> f64 {
    let m10 = y * y + x * y + y * y;
    x * 3.0 * x + y * 3.0 * x + y * 1.5 + y * y * m10
}

/// Arrays held by `Option`s and `Vec`s moved between names, as search loops keep them: the
/// best point in an annotated `Option` set in a branch, the previous state in an `Option`, a
/// `break` with an array, a `Vec` moved twice and out of a tuple while the originals are
/// assigned again, `Vec`s of different lengths chosen by a branch, `no_grad(&v)` of a local.
#[allow(clippy::unnecessary_literal_unwrap)] // an `Option` that holds a copy
#[differentiate]
fn searches(x0: [f64; 2], a: f64) -> f64 {
    let mut x = x0;
    let mut best: Option<[f64; 2]> = None;
    let mut nearest: Option<(f64, usize)> = None;
    let mut prev = Some(x);
    for k in 0..4 {
        if x[0] * a > 0.2 {
            best = Some(x);
        }
        let closer = if let Some((d, _)) = nearest {
            x[1] < d
        } else {
            true
        };
        if closer {
            nearest = Some((x[1], k));
        }
        prev = Some(x);
        x = [x[1] * a, x[0] - 0.3];
    }
    let b = best.unwrap_or([0.5, 0.5]);
    let hit = loop {
        x[0] += a;
        if x[0] > 1.0 {
            break [x[0], x[1] * 2.0];
        }
    };
    let mut v = vec![a, x[1]];
    let w = v;
    let old = w;
    v = vec![old[1] * a, old[0]];
    let mut t = (vec![a * a, b[1]], 1.0);
    let (first, _) = t;
    t = (vec![first[1], first[0] * 3.0], 2.0);
    let kept = Some(v);
    v = vec![0.0, 1.0];
    let chosen = if a > 0.5 {
        vec![a, b[0], v[1]]
    } else {
        vec![b[1], a]
    };
    let spread = sum_squares(no_grad(&chosen), a);
    let near = if let Some((d, k)) = nearest {
        d * k as f64
    } else {
        0.0
    };
    b[0] * b[1]
        + prev.unwrap()[0]
        + hit[0] * hit[1]
        + old[0] * t.0[1]
        + kept.unwrap()[0]
        + chosen[chosen.len() - 1]
        + spread
        + near
}

#[differentiate]
fn sum_squares(v: &[f64], s: f64) -> f64 {
    v.iter().map(|e| e * e * s).sum::<f64>()
}

/// `searches` by hand; `chosen_at` is where `no_grad` holds `chosen` (its value at the point).
fn searches_plain(x0: [f64; 2], a: f64, chosen_at: Option<&[f64]>) -> (f64, Vec<f64>) {
    let mut x = x0;
    let mut best = None;
    let mut nearest: Option<(f64, usize)> = None;
    let mut prev = x;
    for k in 0..4 {
        if x[0] * a > 0.2 {
            best = Some(x);
        }
        if nearest.is_none_or(|(d, _)| x[1] < d) {
            nearest = Some((x[1], k));
        }
        prev = x;
        x = [x[1] * a, x[0] - 0.3];
    }
    let b = best.unwrap_or([0.5, 0.5]);
    let hit = loop {
        x[0] += a;
        if x[0] > 1.0 {
            break [x[0], x[1] * 2.0];
        }
    };
    let old = [a, x[1]];
    let v = [old[1] * a, old[0]];
    let t = [b[1], a * a * 3.0];
    let chosen: Vec<f64> = if a > 0.5 {
        vec![a, b[0], 1.0]
    } else {
        vec![b[1], a]
    };
    let held = chosen_at.unwrap_or(&chosen);
    let spread: f64 = held.iter().map(|e| e * e).sum::<f64>() * a;
    let near = nearest.map_or(0.0, |(d, k)| d * k as f64);
    let value = b[0] * b[1]
        + prev[0]
        + hit[0] * hit[1]
        + old[0] * t[1]
        + v[0]
        + chosen[chosen.len() - 1]
        + spread
        + near;
    (value, chosen)
}

/// Copies of a `Vec` kept while it grows (`let kept = v.clone(); v.push(..)`, a snapshot in an
/// `Option` taken in a loop).
#[differentiate]
fn growing_snapshots(x: f64, y: f64) -> f64 {
    let mut v = vec![x];
    let kept = v.clone();
    let mut snap: Option<Vec<f64>> = None;
    for k in 0..3 {
        v.push(y * v[k] + x);
        if k == 1 {
            snap = Some(v.clone());
        }
    }
    let s = snap.unwrap();
    kept[0] * v[3] + s[2] * s[0] + v[1]
}

#[differentiate]
fn rotated(p: [f64; 2], t: f64) -> [f64; 2] {
    [
        p[0] * t.cos() - p[1] * t.sin(),
        p[0] * t.sin() + p[1] * t.cos(),
    ]
}

/// A call's array result and a local array chosen by a branch in a loop, then written.
#[differentiate]
fn chosen_results(p: [f64; 2], t: f64) -> f64 {
    let mut q = [p[1], t];
    let mut s = 0.0;
    for k in 0..4 {
        let mut c = if (k as f64) * t < 1.0 {
            rotated(q, t)
        } else {
            q
        };
        c[1] += 0.5 * p[0];
        s += c[0] * c[1];
        q = [c[1], q[0] * t];
    }
    s
}

/// The best point so far, reset (`best = None`) and set again in a loop.
#[differentiate]
fn reset_best(x0: [f64; 2], a: f64) -> f64 {
    let mut x = x0;
    let mut best: Option<[f64; 2]> = None;
    let mut total = 0.0;
    for k in 0..5 {
        if k == 3 {
            if let Some(b) = best {
                total += b[0] * b[1];
            }
            best = None;
        }
        if x[0] > 0.1 {
            best = Some(x);
        }
        x = [x[1] * a + 0.3, x[0] - 0.2];
    }
    total
        + if let Some(b) = best {
            b[0] + 2.0 * b[1]
        } else {
            a
        }
}

#[test]
fn arrays_copied_into_tuples_options_move_closures_and_by_value_loops() {
    let (x0, a) = ([0.4, -0.9], 0.8);
    let (value, (dx0, da)) = carried_state_grad(x0, a);
    assert_eq!(value.to_bits(), carried_state(x0, a).to_bits());
    assert_close(value, carried_state_plain(x0, a), 1e-14);
    let f = |p: &[f64]| carried_state_plain([p[0], p[1]], p[2]);
    assert_gradient(f, &[x0[0], x0[1], a], &[dx0[0], dx0[1], da], TOL);
    // Second order through the carried tuple: Hessian columns against differences of the
    // gradient.
    let (_, _, h) = carried_state_hessian(x0, a);
    let e = 1e-6;
    let grad = |p: [f64; 3]| {
        let (_, (g, ga)) = carried_state_grad([p[0], p[1]], p[2]);
        [g[0], g[1], ga]
    };
    for k in 0..3 {
        let (mut plus, mut minus) = ([x0[0], x0[1], a], [x0[0], x0[1], a]);
        plus[k] += e;
        minus[k] -= e;
        let (gp, gm) = (grad(plus), grad(minus));
        for i in 0..3 {
            assert_close(h[i][k], (gp[i] - gm[i]) / (2.0 * e), 1e-6);
        }
    }
    for (p, t) in [([0.4, -0.8], 0.3), ([1.1, 0.2], 0.45)] {
        let (value, (dp, dt)) = chosen_results_grad(p, t);
        assert_eq!(value.to_bits(), chosen_results(p, t).to_bits());
        let f = |v: &[f64]| chosen_results([v[0], v[1]], v[2]);
        assert_gradient(f, &[p[0], p[1], t], &[dp[0], dp[1], dt], TOL);
    }
    for (x, y) in [(0.5, 2.0), (-0.7, 0.3)] {
        let (value, (dx, dy)) = growing_snapshots_grad(x, y);
        assert_eq!(value.to_bits(), growing_snapshots(x, y).to_bits());
        let f = |p: &[f64]| growing_snapshots(p[0], p[1]);
        assert_gradient(f, &[x, y], &[dx, dy], TOL);
    }
    for (x0, a) in [([0.9, 0.4], 0.8), ([0.05, -0.6], 0.35), ([0.3, 0.2], -0.5)] {
        let (value, (dx0, da)) = reset_best_grad(x0, a);
        assert_eq!(value.to_bits(), reset_best(x0, a).to_bits());
        let f = |p: &[f64]| reset_best([p[0], p[1]], p[2]);
        assert_gradient(f, &[x0[0], x0[1], a], &[dx0[0], dx0[1], da], TOL);
    }
    for (x0, a) in [([0.9, 0.4], 0.8), ([0.3, -0.6], 0.35)] {
        let (value, (dx0, da)) = searches_grad(x0, a);
        assert_eq!(value.to_bits(), searches(x0, a).to_bits());
        let (plain, chosen) = searches_plain(x0, a, None);
        assert_close(value, plain, 1e-12);
        let f = |p: &[f64]| searches_plain([p[0], p[1]], p[2], Some(&chosen)).0;
        assert_gradient(f, &[x0[0], x0[1], a], &[dx0[0], dx0[1], da], TOL);
    }
    for (x, y) in [(0.7, 1.3), (-0.4, 0.9)] {
        let (value, (dx, dy)) = rows_kept_grad(x, y);
        assert_eq!(value.to_bits(), rows_kept(x, y).to_bits());
        assert_close(value, rows_kept_plain(x, y), 1e-13);
        assert_gradient(|p| rows_kept_plain(p[0], p[1]), &[x, y], &[dx, dy], TOL);
    }
    for (w0, c) in [([1.5, -0.5], 0.3), ([-0.2, 0.8], -0.6)] {
        let (value, (dw0, dc)) = best_iterate_grad(w0, c);
        assert_eq!(value.to_bits(), best_iterate(w0, c).to_bits());
        assert_close(value, best_iterate_plain(w0, c), 1e-13);
        let f = |p: &[f64]| best_iterate_plain([p[0], p[1]], p[2]);
        assert_gradient(f, &[w0[0], w0[1], c], &[dw0[0], dw0[1], dc], TOL);
    }
}

//! Classic numerical workloads, each gradient checked against its closed form or against finite
//! differences: Rosenbrock, Newton's square root, a matrix-vector product, a running maximum,
//! log-sum-exp, and an RNN-style recurrence.
#![allow(clippy::needless_range_loop)] // index loops are how this numerical code is written

mod common;

use autodiff_core::{differentiate, no_grad};
use common::{assert_close, assert_gradient};

/// Checks `_grad` at `x`: the value is the function's, bit for bit; the gradient passes central
/// finite differences and equals the `_vjp` closure's.
fn check(
    f: impl Fn(&[f64]) -> f64 + Copy,
    grad: impl Fn(&[f64]) -> (f64, Vec<f64>),
    vjp: impl Fn(&[f64]) -> Vec<f64>,
    x: &[f64],
) {
    let (value, g) = grad(x);
    assert_eq!(value.to_bits(), f(x).to_bits());
    let finite = autodiff_core::check_gradient(f, x, &g);
    assert!(finite.passes(1e-8), "{finite}");
    for (a, b) in g.iter().zip(vjp(x)) {
        assert_close(*a, b, 1e-13);
    }
}

/// `hv`, an `H v` from `_hvp`, against central differences of the gradient along `v`.
fn assert_hvp_along(grad: impl Fn(&[f64]) -> (f64, Vec<f64>), x: &[f64], v: &[f64], hv: &[f64]) {
    let h = 1e-5;
    let at = |t: f64| {
        let p: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + t * b).collect();
        grad(&p).1
    };
    let (plus, minus) = (at(h), at(-h));
    for k in 0..x.len() {
        assert_close(hv[k], (plus[k] - minus[k]) / (2.0 * h), 1e-7);
    }
}

/// A deterministic point in roughly `[-1.5, 1.5]^n`.
fn point(n: usize, seed: f64) -> Vec<f64> {
    (0..n)
        .map(|i| ((i as f64 + 1.0) * 0.754_877_666 + seed).sin() * 1.5)
        .collect()
}

// ------------------------------------------------------------------------------------------
// Rosenbrock
// ------------------------------------------------------------------------------------------

/// The n-dimensional (chained) Rosenbrock function.
#[differentiate]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 1..x.len() {
        let a = x[i] - x[i - 1] * x[i - 1];
        let b = 1.0 - x[i - 1];
        s += 100.0 * a * a + b * b;
    }
    s
}

fn rosenbrock_closed_form(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut g = vec![0.0; n];
    for i in 0..n {
        if i + 1 < n {
            g[i] += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
        }
        if i > 0 {
            g[i] += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
        }
    }
    g
}

#[test]
fn rosenbrock_gradient_matches_the_closed_form() {
    for n in [2, 10, 100] {
        for seed in [0.0, 1.3] {
            let x = point(n, seed);
            let (v, g) = rosenbrock_grad(&x);
            assert_eq!(v, rosenbrock(&x));
            assert_eq!(g.len(), n);
            let e = rosenbrock_closed_form(&x);
            for i in 0..n {
                assert_close(g[i], e[i], 1e-13);
            }
            if n <= 10 {
                assert_gradient(rosenbrock, &x, &g, 1e-7);
            }
        }
        // At the minimum the gradient is exactly zero.
        let (v, g) = rosenbrock_grad(&vec![1.0; n]);
        assert_eq!(v, 0.0);
        assert!(g.iter().all(|&d| d == 0.0), "{g:?}");
    }
    // The classic starting point (-1.2, 1).
    let (v, g) = rosenbrock_grad(&[-1.2, 1.0]);
    assert_close(v, 24.2, 1e-14);
    assert_close(g[0], -215.6, 1e-13);
    assert_close(g[1], -88.0, 1e-13);
}

// ------------------------------------------------------------------------------------------
// Newton's iteration for a square root
// ------------------------------------------------------------------------------------------

/// A fixed number of Newton steps for `x^2 = a`.
#[differentiate]
fn newton_sqrt_fixed(a: f64) -> f64 {
    let mut x = if a > 1.0 { a } else { 1.0 };
    for _ in 0..40 {
        x = 0.5 * (x + a / x);
    }
    x
}

/// Newton steps until the residual is small: the iteration count depends on `a`.
#[differentiate]
fn newton_sqrt_tolerance(a: f64) -> f64 {
    let mut x = if a > 1.0 { a } else { 1.0 };
    let mut k = 0;
    while (x * x - a).abs() > 1e-15 * a && k < 100 {
        x = 0.5 * (x + a / x);
        k += 1;
    }
    x
}

#[test]
fn newton_square_root_derivative_is_one_over_two_sqrt_a() {
    for a in [0.01, 0.25, 2.0, 9.0, 1e4] {
        let e = 0.5 / f64::sqrt(a);
        let (v, d) = newton_sqrt_fixed_grad(a);
        assert_close(v, a.sqrt(), 1e-15);
        assert_close(d, e, 1e-12);
        let (v, d) = newton_sqrt_tolerance_grad(a);
        assert_close(v, a.sqrt(), 1e-15);
        assert_close(d, e, 1e-9);
    }
}

// ------------------------------------------------------------------------------------------
// Matrix-vector product
// ------------------------------------------------------------------------------------------

#[differentiate]
fn matvec(m: &[[f64; 3]; 4], v: &[f64; 3]) -> [f64; 4] {
    let mut out = [0.0; 4];
    for i in 0..4 {
        for j in 0..3 {
            out[i] += m[i][j] * v[j];
        }
    }
    out
}

/// `0.5 |M v - y|^2` through the array-returning `matvec`.
#[differentiate]
fn least_squares(m: &[[f64; 3]; 4], v: &[f64; 3], y: &[f64; 4]) -> f64 {
    let p = matvec(m, v);
    let mut s = 0.0;
    for i in 0..4 {
        let r = p[i] - y[i];
        s += 0.5 * r * r;
    }
    s
}

/// `0.5 |M v - y|^2` for a row-major `M` of any shape, written with loops only.
#[differentiate]
fn least_squares_dyn(m: &[f64], v: &[f64], y: &[f64]) -> f64 {
    let cols = v.len();
    let mut s = 0.0;
    for i in 0..y.len() {
        let mut p = 0.0;
        for j in 0..cols {
            p += m[i * cols + j] * v[j];
        }
        let r = p - y[i];
        s += 0.5 * r * r;
    }
    s
}

/// `M v` for a row-major `M` of any shape, returning a `Vec`.
#[differentiate]
fn matvec_vec(m: &[f64], v: &[f64]) -> Vec<f64> {
    let rows = m.len() / v.len();
    let mut out = vec![0.0; rows];
    for i in 0..rows {
        for j in 0..v.len() {
            out[i] += m[i * v.len() + j] * v[j];
        }
    }
    out
}

/// `0.5 |M v - y|^2` through the `Vec`-returning `matvec_vec`.
#[differentiate]
fn least_squares_vec(m: &[f64], v: &[f64], y: &[f64]) -> f64 {
    let p = matvec_vec(m, v);
    let mut s = 0.0;
    for i in 0..p.len() {
        let r = p[i] - y[i];
        s += 0.5 * r * r;
    }
    s
}

const M: [[f64; 3]; 4] = [
    [1.0, -2.0, 0.5],
    [0.3, 0.7, -1.1],
    [2.0, 0.0, 1.5],
    [-0.4, 1.2, 0.9],
];

#[test]
fn matvec_pullback_is_the_transposed_product() {
    let v = [0.6, -1.3, 2.1];
    // Every row of the Jacobian and a general d_out.
    for d in [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
        [0.5, -1.5, 2.0, 0.25],
    ] {
        let (dm, dv): ([[f64; 3]; 4], [f64; 3]) = matvec_pullback(&M, &v, d);
        for i in 0..4 {
            for j in 0..3 {
                // dM = d_out v^T
                assert_close(dm[i][j], d[i] * v[j], 1e-15);
            }
        }
        for j in 0..3 {
            // dv = M^T d_out
            let e: f64 = (0..4).map(|i| M[i][j] * d[i]).sum();
            assert_close(dv[j], e, 1e-15);
        }
    }
    let out = matvec(&M, &v);
    for i in 0..4 {
        assert_close(out[i], (0..3).map(|j| M[i][j] * v[j]).sum(), 1e-15);
    }
}

#[test]
fn vec_matvec_pullback_is_the_transposed_product() {
    for (rows, cols) in [(1, 1), (2, 5), (6, 3)] {
        let m = point(rows * cols, 0.2);
        let v = point(cols, 1.4);
        let out = matvec_vec(&m, &v);
        assert_eq!(out.len(), rows);
        for k in 0..rows {
            // Each row of the Jacobian, then a general d_out.
            let mut d = vec![0.0; rows];
            d[k] = 1.0;
            for d in [d, point(rows, 3.3)] {
                let (dm, dv) = matvec_vec_pullback(&m, &v, d.clone());
                assert_eq!((dm.len(), dv.len()), (rows * cols, cols));
                for i in 0..rows {
                    for j in 0..cols {
                        assert_close(dm[i * cols + j], d[i] * v[j], 1e-15);
                    }
                }
                for j in 0..cols {
                    let e: f64 = (0..rows).map(|i| m[i * cols + j] * d[i]).sum();
                    assert_close(dv[j], e, 1e-14);
                }
            }
        }
        let y = point(rows, 2.9);
        let (value, (dm, dv, dy)) = least_squares_vec_grad(&m, &v, &y);
        let (value2, g2) = least_squares_dyn_grad(&m, &v, &y);
        assert_close(value, value2, 1e-15);
        for k in 0..rows * cols {
            assert_close(dm[k], g2.0[k], 1e-14);
        }
        for j in 0..cols {
            assert_close(dv[j], g2.1[j], 1e-14);
        }
        for i in 0..rows {
            assert_close(dy[i], g2.2[i], 1e-14);
        }
    }
}

#[test]
fn least_squares_gradient_is_the_residual_outer_product() {
    let v = [0.6, -1.3, 2.1];
    let y = [0.5, 1.0, -2.0, 0.3];
    let r: Vec<f64> = (0..4)
        .map(|i| (0..3).map(|j| M[i][j] * v[j]).sum::<f64>() - y[i])
        .collect();

    let (value, (dm, dv, dy)) = least_squares_grad(&M, &v, &y);
    assert_close(value, 0.5 * r.iter().map(|r| r * r).sum::<f64>(), 1e-15);
    for i in 0..4 {
        for j in 0..3 {
            assert_close(dm[i][j], r[i] * v[j], 1e-14);
        }
        assert_close(dy[i], -r[i], 1e-14);
    }
    for j in 0..3 {
        let e: f64 = (0..4).map(|i| M[i][j] * r[i]).sum();
        assert_close(dv[j], e, 1e-14);
    }

    // The same loss for a flat row-major matrix gives the same gradient.
    let flat = M.as_flattened();
    let (value2, (dm2, dv2, dy2)) = least_squares_dyn_grad(flat, &v, &y);
    assert_close(value2, value, 1e-15);
    for k in 0..12 {
        assert_close(dm2[k], dm.as_flattened()[k], 1e-14);
    }
    for j in 0..3 {
        assert_close(dv2[j], dv[j], 1e-14);
    }
    for i in 0..4 {
        assert_close(dy2[i], dy[i], 1e-14);
    }
}

#[test]
fn least_squares_of_other_shapes_against_finite_differences() {
    for (rows, cols) in [(1, 1), (2, 5), (6, 3)] {
        let m = point(rows * cols, 0.2);
        let v = point(cols, 1.4);
        let y = point(rows, 2.9);
        let (_, (dm, dv, dy)) = least_squares_dyn_grad(&m, &v, &y);
        let (a, b) = (rows * cols, rows * cols + cols);
        let p0: Vec<f64> = m.iter().chain(&v).chain(&y).copied().collect();
        let g: Vec<f64> = dm.iter().chain(&dv).chain(&dy).copied().collect();
        assert_gradient(
            |p| least_squares_dyn(&p[..a], &p[a..b], &p[b..]),
            &p0,
            &g,
            1e-8,
        );
    }
}

// ------------------------------------------------------------------------------------------
// Running maximum
// ------------------------------------------------------------------------------------------

#[differentiate]
fn running_max(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        if x[i] > m {
            m = x[i];
        }
    }
    m
}

#[differentiate]
fn running_max_method(x: &[f64]) -> f64 {
    let mut m = x[0];
    for &v in x.iter() {
        m = m.max(v);
    }
    m
}

/// The largest prefix sum: its gradient is 1 on every element up to the best prefix.
#[differentiate]
fn max_prefix_sum(x: &[f64]) -> f64 {
    let mut s = 0.0;
    let mut best = x[0];
    for i in 0..x.len() {
        s += x[i];
        if s > best {
            best = s;
        }
    }
    best
}

#[test]
fn running_max_gradient_goes_to_the_argmax() {
    // No ties; the maximum first, last and in the middle.
    let cases: [&[f64]; 5] = [
        &[0.7],
        &[3.0, 1.0, 2.0, -1.0],
        &[0.5, 1.5, -0.2, 2.5],
        &[0.1, 0.9, 4.2, 0.3, 1.7, -3.0, 2.2],
        &[-2.0, -1.0, -3.0],
    ];
    for x in cases {
        let argmax = (0..x.len())
            .max_by(|&i, &j| x[i].partial_cmp(&x[j]).unwrap())
            .unwrap();
        let one_hot: Vec<f64> = (0..x.len())
            .map(|i| if i == argmax { 1.0 } else { 0.0 })
            .collect();
        let (v, g) = running_max_grad(x);
        assert_eq!(v, x[argmax]);
        assert_eq!(g, one_hot, "{x:?}");
        let (v, g) = running_max_method_grad(x);
        assert_eq!(v, x[argmax]);
        assert_eq!(g, one_hot, "{x:?}");
        assert_gradient(running_max, x, &one_hot, 1e-9);
    }
}

#[test]
fn max_prefix_sum_gradient() {
    let x = [0.5, 1.0, -0.3, 0.6, -2.0, 0.4];
    // Prefix sums 0.5, 1.5, 1.2, 1.8, -0.2, 0.2: the best ends at index 3.
    let (v, g) = max_prefix_sum_grad(&x);
    assert_close(v, 1.8, 1e-15);
    assert_eq!(g, vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    assert_gradient(max_prefix_sum, &x, &g, 1e-9);
}

// ------------------------------------------------------------------------------------------
// Log-sum-exp
// ------------------------------------------------------------------------------------------

/// Stable log-sum-exp with the shift held constant by `no_grad`.
#[differentiate]
fn logsumexp(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i]);
    }
    let m = no_grad(m);
    let mut s = 0.0;
    for &v in x.iter() {
        s += (v - m).exp();
    }
    m + s.ln()
}

/// Stable log-sum-exp differentiating through the shift too (its contributions cancel).
#[differentiate]
fn logsumexp_through_max(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        if x[i] > m {
            m = x[i];
        }
    }
    let mut s = 0.0;
    for i in 0..x.len() {
        s += (x[i] - m).exp();
    }
    m + s.ln()
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

#[test]
fn logsumexp_gradient_is_softmax() {
    let cases: [&[f64]; 5] = [
        &[0.3],
        &[1.0, 2.0],
        &[0.5, -1.2, 2.2, 0.9, -0.1],
        &[1000.0, 1001.0, 999.5],
        &[-800.0, -801.5, -799.0, -805.0],
    ];
    for x in cases {
        let sm = softmax(x);
        for (v, g) in [logsumexp_grad(x), logsumexp_through_max_grad(x)] {
            assert!(v.is_finite(), "{x:?}: {v}");
            let naive_shifted = {
                let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
            };
            assert_close(v, naive_shifted, 1e-15);
            for i in 0..x.len() {
                assert_close(g[i], sm[i], 1e-14);
            }
            assert_close(g.iter().sum::<f64>(), 1.0, 1e-14);
        }
        if x[0].abs() < 10.0 {
            let (_, g) = logsumexp_grad(x);
            assert_gradient(logsumexp, x, &g, 1e-9);
            let (_, g) = logsumexp_through_max_grad(x);
            assert_gradient(logsumexp_through_max, x, &g, 1e-9);
        }
    }
}

// ------------------------------------------------------------------------------------------
// An RNN-style recurrence over 50 steps
// ------------------------------------------------------------------------------------------

/// A two-unit tanh RNN with a linear read-out, trained on a sequence: the state `h` is
/// overwritten at every step, so the backward sweep needs every step's state from the tape.
#[differentiate]
fn rnn_loss(
    w: &[[f64; 2]; 2],
    u: &[f64; 2],
    b: &[f64; 2],
    v: &[f64; 2],
    xs: &[f64],
    ys: &[f64],
) -> f64 {
    let mut h = [0.0; 2];
    // Declared outside the loop: a local array declared inside a loop body does not compile
    // (see the BUG section).
    let mut next = [0.0; 2];
    let mut loss = 0.0;
    for t in 0..xs.len() {
        for i in 0..2 {
            next[i] = (w[i][0] * h[0] + w[i][1] * h[1] + u[i] * xs[t] + b[i]).tanh();
        }
        h[0] = next[0];
        h[1] = next[1];
        let y = v[0] * h[0] + v[1] * h[1];
        loss += (y - ys[t]) * (y - ys[t]);
    }
    loss / xs.len() as f64
}

/// The same recurrence with the state in scalars, overwritten by a tuple assignment, and only
/// the weights active.
#[differentiate(wrt(w, u, b, v))]
fn rnn_loss_scalars(w: [[f64; 2]; 2], u: [f64; 2], b: [f64; 2], v: [f64; 2], xs: &[f64]) -> f64 {
    let (mut h0, mut h1) = (0.0, 0.0);
    let mut loss = 0.0;
    for t in 0..xs.len() {
        (h0, h1) = (
            (w[0][0] * h0 + w[0][1] * h1 + u[0] * xs[t] + b[0]).tanh(),
            (w[1][0] * h0 + w[1][1] * h1 + u[1] * xs[t] + b[1]).tanh(),
        );
        let y = v[0] * h0 + v[1] * h1;
        let target = (t as f64 * 0.3).sin();
        loss += (y - target) * (y - target);
    }
    loss / xs.len() as f64
}

const W: [[f64; 2]; 2] = [[0.9, -0.4], [0.3, 0.8]];
const U: [f64; 2] = [0.7, -0.5];
const B: [f64; 2] = [0.1, -0.2];
const V: [f64; 2] = [1.1, -0.6];

#[test]
fn rnn_over_50_steps_against_finite_differences() {
    let xs: Vec<f64> = (0..50).map(|t| (t as f64 * 0.37).sin()).collect();
    let ys: Vec<f64> = (0..50).map(|t| (t as f64 * 0.21).cos() * 0.5).collect();
    let (value, (dw, du, db, dv, dxs, dys)) = rnn_loss_grad(&W, &U, &B, &V, &xs, &ys);
    assert_eq!(value, rnn_loss(&W, &U, &B, &V, &xs, &ys));
    assert_eq!((dxs.len(), dys.len()), (50, 50));

    let mut p0: Vec<f64> = W.as_flattened().to_vec();
    p0.extend(U.iter().chain(&B).chain(&V).chain(&xs).chain(&ys));
    let mut g: Vec<f64> = dw.as_flattened().to_vec();
    g.extend(du.iter().chain(&db).chain(&dv).chain(&dxs).chain(&dys));
    let f = |p: &[f64]| {
        rnn_loss(
            &[[p[0], p[1]], [p[2], p[3]]],
            &[p[4], p[5]],
            &[p[6], p[7]],
            &[p[8], p[9]],
            &p[10..60],
            &p[60..110],
        )
    };
    assert_gradient(f, &p0, &g, 1e-8);
    // The gradient with respect to the targets is analytic: -2 (y_t - ys_t) / 50.
    let mut h = [0.0; 2];
    for t in 0..50 {
        let next = [0, 1].map(|i| (W[i][0] * h[0] + W[i][1] * h[1] + U[i] * xs[t] + B[i]).tanh());
        h = next;
        let y = V[0] * h[0] + V[1] * h[1];
        assert_close(dys[t], -2.0 * (y - ys[t]) / 50.0, 1e-14);
    }
}

#[test]
fn rnn_with_scalar_state_over_50_steps() {
    let xs: Vec<f64> = (0..50).map(|t| (t as f64 * 0.37).sin()).collect();
    let (value, (dw, du, db, dv)) = rnn_loss_scalars_grad(W, U, B, V, &xs);
    assert_eq!(value, rnn_loss_scalars(W, U, B, V, &xs));
    let mut p0: Vec<f64> = W.as_flattened().to_vec();
    p0.extend(U.iter().chain(&B).chain(&V));
    let mut g: Vec<f64> = dw.as_flattened().to_vec();
    g.extend(du.iter().chain(&db).chain(&dv));
    let f = |p: &[f64]| {
        rnn_loss_scalars(
            [[p[0], p[1]], [p[2], p[3]]],
            [p[4], p[5]],
            [p[6], p[7]],
            [p[8], p[9]],
            &xs,
        )
    };
    assert_gradient(f, &p0, &g, 1e-8);
}

// ------------------------------------------------------------------------------------------
// Regressions: natural ways to write the RNN above that the macro once got wrong; each comment
// says what broke.
// ------------------------------------------------------------------------------------------

mod regressions {
    use super::*;

    // Regression: a local array declared inside a loop body does not compile: "cannot find value
    // `d_a3` in this scope" (the backward sweep sizes its adjoint with `zero_grad(&d_aN)`).
    #[differentiate]
    fn rnn_loss_array_in_loop(
        w: &[[f64; 2]; 2],
        u: &[f64; 2],
        b: &[f64; 2],
        v: &[f64; 2],
        xs: &[f64],
        ys: &[f64],
    ) -> f64 {
        let mut h = [0.0; 2];
        let mut loss = 0.0;
        for t in 0..xs.len() {
            let mut next = [0.0; 2];
            for i in 0..2 {
                next[i] = (w[i][0] * h[0] + w[i][1] * h[1] + u[i] * xs[t] + b[i]).tanh();
            }
            h[0] = next[0];
            h[1] = next[1];
            let y = v[0] * h[0] + v[1] * h[1];
            loss += (y - ys[t]) * (y - ys[t]);
        }
        loss / xs.len() as f64
    }

    // Regression: a whole-array assignment `h = next;` inside a loop generates the statement
    // `&mut d_h[..].fill(0.0);`, which warns "unused borrow that must be used" (an error under
    // `#![deny(warnings)]` or clippy `-D warnings`). The gradient itself is right.
    #[differentiate]
    fn rnn_loss_whole_state(
        w: &[[f64; 2]; 2],
        u: &[f64; 2],
        b: &[f64; 2],
        v: &[f64; 2],
        xs: &[f64],
        ys: &[f64],
    ) -> f64 {
        let mut h = [0.0; 2];
        let mut next = [0.0; 2];
        let mut loss = 0.0;
        for t in 0..xs.len() {
            for i in 0..2 {
                next[i] = (w[i][0] * h[0] + w[i][1] * h[1] + u[i] * xs[t] + b[i]).tanh();
            }
            h = next;
            let y = v[0] * h[0] + v[1] * h[1];
            loss += (y - ys[t]) * (y - ys[t]);
        }
        loss / xs.len() as f64
    }

    #[test]
    fn natural_rnn_forms_agree_with_the_working_one() {
        let xs: Vec<f64> = (0..50).map(|t| (t as f64 * 0.37).sin()).collect();
        let ys: Vec<f64> = (0..50).map(|t| (t as f64 * 0.21).cos() * 0.5).collect();
        let reference = rnn_loss_grad(&W, &U, &B, &V, &xs, &ys);
        assert_eq!(
            rnn_loss_array_in_loop_grad(&W, &U, &B, &V, &xs, &ys),
            reference
        );
        assert_eq!(
            rnn_loss_whole_state_grad(&W, &U, &B, &V, &xs, &ys),
            reference
        );
    }
}

#[differentiate]
fn two_blocks(w: &[f64], b: f64) -> f64 {
    let mut s = (b + 2.0) * (b + 2.0);
    for i in 0..w.len() {
        s += (w[i] - 1.0) * (w[i] - 1.0);
    }
    s
}

/// The tuple gradient of a function of several parameters steps a tuple of them.
#[test]
fn optimizers_step_a_tuple_of_parameters() {
    use autodiff_core::optim::{Adam, Optimizer};
    let mut params = (vec![0.0, 3.0, -1.0], 0.5);
    let mut adam = Adam::new(0.1);
    for _ in 0..500 {
        let (_, grad) = two_blocks_grad(&params.0, params.1);
        adam.step(&mut params, &grad);
    }
    for w in &params.0 {
        assert!((w - 1.0).abs() < 1e-3, "{params:?}");
    }
    assert!((params.1 + 2.0).abs() < 1e-3, "{params:?}");
}

/// Losses that end with a loop adding terms into the returned value run their backward
/// iterations inside the forward ones (`__f_fused`); these cover what that path must carry:
/// a value computed before the loop, `-=`, a struct receiver, `f32`, and the seed of
/// `_pullback`.
mod fused_sweeps {
    use super::*;
    use autodiff_core::{Differentiable, check_gradient, check_gradient_of};

    #[differentiate]
    fn scaled_sum(x: &[f64], k: f64) -> f64 {
        let c = k.exp();
        let mut s = 0.0;
        for i in 0..x.len() {
            s += c * x[i] * x[i];
        }
        s
    }

    #[differentiate]
    fn decreasing(x: &[f64]) -> f64 {
        let mut s = 10.0;
        for i in 0..x.len() {
            s -= x[i].sin();
        }
        s
    }

    #[differentiate]
    fn single(x: &[f32]) -> f32 {
        let mut s = 0.0;
        for i in 0..x.len() {
            s += x[i] * x[i] * x[i];
        }
        s
    }

    #[derive(Clone, Debug, Differentiable)]
    struct Line {
        w: Vec<f64>,
        b: f64,
        #[differentiable(skip)]
        label: &'static str,
    }

    impl Line {
        #[differentiate(wrt(self))]
        fn squared_error(&self, x: &[f64], y: &[f64]) -> f64 {
            let mut e = 0.0;
            for i in 0..y.len() {
                let r = self.w[i] * x[i] + self.b - y[i];
                e += r * r;
            }
            e
        }
    }

    #[test]
    fn fused_gradients_match_finite_differences() {
        let x = [0.3, -1.2, 2.0];
        let (v, (dx, dk)) = scaled_sum_grad(&x, 0.5);
        assert_eq!(v, scaled_sum(&x, 0.5));
        let mut g = dx.clone();
        g.push(dk);
        let check = check_gradient(|p| scaled_sum(&p[..3], p[3]), &[0.3, -1.2, 2.0, 0.5], &g);
        assert!(check.passes(1e-8), "{check}");
        let (dx2, dk2) = scaled_sum_pullback(&x, 0.5, -2.0);
        assert_eq!(
            (dx2, dk2),
            (dx.iter().map(|d| -2.0 * d).collect(), -2.0 * dk)
        );

        let (_, d) = decreasing_grad(&x);
        assert_eq!(d, x.map(|xi| -xi.cos()).to_vec());

        let xf = [0.5_f32, -1.5];
        let (_, d) = single_grad(&xf);
        assert_eq!(d, vec![0.75, 6.75]);

        let line = Line {
            w: vec![0.5, -1.0],
            b: 0.25,
            label: "fit",
        };
        let (xs, ys) = ([1.0, 2.0], [0.3, -0.7]);
        let (_, g) = line.squared_error_grad(&xs, &ys);
        assert_eq!(g.label, "fit");
        let check = check_gradient_of(|l: &Line| l.squared_error(&xs, &ys), &line, &g);
        assert!(check.passes(1e-8), "{check}");
        let mut into = line.zero_like();
        assert_eq!(
            line.squared_error_grad_into(&xs, &ys, &mut into),
            line.squared_error(&xs, &ys)
        );
        assert_eq!(into.to_flat(), g.to_flat());
    }
}

/// A summing loop followed by more code: when the sum reaches the value returned through
/// statements that pass its adjoint on as `dy` or `-dy` (`s + prior`, `c - s`, `let t = s`),
/// the sum's adjoint is known from the seed, and `_grad`, `_grad_into`, `_pullback` and
/// `_hvp` run the loop's backward iterations inside its forward ones, before the code after
/// it has run. These cover what then runs in a new order: values and arrays computed before
/// the loop whose adjoints both the loop and the code after it add into, arrays declared and
/// grown after the loop, a second summing loop, nested loops with buffers per iteration, a
/// call inside the loop, buffers hoisted out of the loop, and chains and buffers that do not
/// qualify. Each is checked against central differences and against `_vjp`, whose backward
/// sweep runs after the whole forward sweep.
mod fused_sweeps_before_more_code {
    use super::*;
    use autodiff_core::check_gradient;

    /// The sum reaches the output through `-`, a copy, `-t` and `+`; `a` (before the loop) gets
    /// adjoints from the loop and from the code after it.
    #[differentiate]
    fn chain_after_the_sum(x: &[f64], c: f64) -> f64 {
        let a = x[0] * c;
        let mut s = 0.0;
        for i in 0..x.len() {
            s += (x[i] * a).sin();
        }
        let t = s - c * c;
        let u = t;
        let v = 2.0 - u;
        let w = -v;
        w + a.exp() + x[1] * x[2]
    }

    /// An array filled before the loop, read in it and after it; an array declared after it,
    /// grown by `push`; a second summing loop after the first.
    #[allow(clippy::vec_init_then_push, clippy::useless_vec)] // `Vec`s on purpose
    #[differentiate]
    fn arrays_around_the_sum(x: &[f64]) -> f64 {
        let n = x.len();
        let mut w = vec![0.0; n];
        for i in 0..n {
            w[i] = x[i] * x[i] + 1.0;
        }
        let mut s = 0.0;
        for i in 0..n {
            let mut buf = vec![0.0; 2];
            buf[0] = w[i].ln();
            buf[1] = x[i] * buf[0];
            for k in 0..2 {
                s += buf[k] * w[(i + k) % n];
            }
        }
        let mut v = Vec::new();
        v.push(w[0] * x[1]);
        v.push(x[2].cos());
        let mut p = 0.0;
        for j in 0..2 {
            p += v[j] * v[j];
        }
        s + p * w[1]
    }

    #[differentiate]
    fn lse(v: &[f64]) -> f64 {
        let mut m = v[0];
        for &e in v.iter() {
            m = m.max(e);
        }
        let mut t = 0.0;
        for &e in v.iter() {
            t += (e - m).exp();
        }
        t.ln() + m
    }

    /// GMM's shape: per data point a buffer filled by a nested loop, then a call; the prior
    /// after the loop.
    #[differentiate(wrt(means))]
    fn mixture(means: &[f64], data: &[f64]) -> f64 {
        let k = means.len();
        let mut total = 0.0;
        for i in 0..data.len() {
            let mut terms = vec![0.0; k];
            for j in 0..k {
                let r = data[i] - means[j];
                terms[j] = -0.5 * r * r;
            }
            total += lse(&terms);
        }
        let mut prior = 0.0;
        for j in 0..k {
            prior += means[j] * means[j];
        }
        total - 0.1 * prior
    }

    /// The sum read twice after the loop (`t * t`), and a loop whose sum is returned from a
    /// branch: neither qualifies; both must still be right.
    #[differentiate]
    fn sum_read_twice(x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            s += x[i].exp();
        }
        let t = s + 1.0;
        t * t
    }

    #[differentiate]
    fn sum_returned_from_a_branch(x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            s += x[i] * x[i];
        }
        if x[0] > 0.0 {
            return s + x[1];
        }
        s - x[1]
    }

    /// The second-order path (`_hvp`) through a summing loop followed by more code.
    #[differentiate(hessian)]
    fn second_order(x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 1..x.len() {
            let a = x[i] - x[i - 1] * x[i - 1];
            s += a * a;
        }
        let q = x[0] * x[0] * x[1];
        s + q.sin()
    }

    /// The gradient from `_grad`, checked against central differences, `_vjp` and
    /// `_pullback`; the value bit for bit.
    fn check(
        f: impl Fn(&[f64]) -> f64 + Copy,
        grad: impl Fn(&[f64]) -> (f64, Vec<f64>),
        vjp: impl Fn(&[f64]) -> Vec<f64>,
        pullback2: impl Fn(&[f64]) -> Vec<f64>,
        x: &[f64],
    ) {
        let (value, g) = grad(x);
        assert_eq!(value.to_bits(), f(x).to_bits());
        let finite = check_gradient(f, x, &g);
        assert!(finite.passes(1e-8), "{finite}");
        for (a, b) in g.iter().zip(vjp(x)) {
            assert_close(*a, b, 1e-14);
        }
        for (a, b) in g.iter().zip(pullback2(x)) {
            assert_close(2.0 * a, b, 1e-14);
        }
    }

    /// Buffers hoisted out of the loop (ADBench's C++ form): each iteration overwrites them
    /// before it reads them, so nothing flows between iterations through them: `xc` filled
    /// over its whole length then read, `terms` written at `[j]` for every `j` then passed
    /// whole to a call, `at` written and read at the same index.
    #[differentiate(wrt(means))]
    fn hoisted_buffers(means: &[f64], data: &[f64]) -> f64 {
        let k = means.len();
        let mut xc = vec![0.0; k];
        let mut terms = vec![0.0; k];
        let mut at = vec![0.0; data.len()];
        let mut total = 0.0;
        for i in 0..data.len() {
            for j in 0..k {
                for l in 0..k {
                    xc[l] = data[i] - means[l] * (j as f64 + 1.0);
                }
                let mut q = 0.0;
                for l in 0..k {
                    q += xc[l] * xc[l];
                }
                terms[j] = -0.5 * q;
            }
            at[i] = lse(&terms);
            total += at[i] * at[i];
        }
        total + means[0]
    }

    /// Buffers that do carry values from one iteration to the next, or whose last values
    /// are read after the loop: these loops must not run interleaved, and must still be right.
    #[differentiate]
    fn carrying_buffers(x: &[f64]) -> f64 {
        let n = x.len();
        // Read before this iteration writes it: the previous iteration's values.
        let mut prev = vec![0.0; n];
        let mut s = 0.0;
        for i in 0..n {
            s += prev[0] * x[i] + prev[n - 1];
            for v in 0..n {
                prev[v] = x[i] * x[v];
            }
        }
        // Covered but for its last element.
        let mut part = vec![1.0; n];
        let mut t = 0.0;
        for i in 0..n {
            for v in 0..n - 1 {
                part[v] = x[v] * x[i];
            }
            part[i] += x[i];
            t += part[n - 1] * part[0];
        }
        // Its last values read after the loop.
        let mut last = vec![0.0; n];
        let mut u = 0.0;
        for i in 0..n {
            for v in 0..n {
                last[v] = x[v].sin() * x[i];
            }
            u += last[i];
        }
        s + t + u + last[0]
    }

    /// A mean: the sum divided by a count computed after the loop, then scaled by a value
    /// from before it.
    #[differentiate]
    fn mean_loss(x: &[f64], c: f64) -> f64 {
        let scale = c.exp();
        let mut total = 0.0;
        for i in 0..x.len() {
            total += (x[i] - c).powi(2);
        }
        let mean = total / x.len() as f64;
        scale * mean
    }

    /// Divided by the length of a `Vec` the loop grows: that length is not known before the
    /// loop runs, so this loop must not run interleaved (dividing by the length before the
    /// loop, 0, would be wrong), and must still be right.
    #[differentiate]
    fn mean_over_pushed(x: &[f64]) -> f64 {
        let mut kept = Vec::new();
        let mut total = 0.0;
        for i in 0..x.len() {
            if x[i] > 0.0 {
                kept.push(x[i]);
            }
            total += x[i].sin();
        }
        total / (kept.len() as f64 + 1.0)
    }

    /// Regression: a sum multiplied by what the loop itself counts (`s * even as f64`, `s *
    /// steps`) ran interleaved, with that count taken before the loop (zero): every gradient
    /// entry was 0. What the loop carries out is known only after it.
    #[differentiate]
    fn scaled_by_a_count(x: &[f64]) -> f64 {
        let mut s = 0.0;
        let mut even = 0;
        let mut steps = 0.0;
        for i in 0..x.len() / 2 {
            s += x[even] * x[i];
            even += 2;
            steps += 0.5;
        }
        let t = s * even as f64;
        t * steps
    }

    /// [`check`] for a function of one slice, by its generated functions' names.
    macro_rules! check_slice {
        ($f:ident, $grad:ident, $vjp:ident, $pullback:ident, $x:expr) => {
            check($f, $grad, |p| $vjp(p).1(1.0), |p| $pullback(p, 2.0), $x)
        };
    }

    /// [`check`] for a function of a slice and a float, its gradient flattened as
    /// `[slice.., float]`.
    macro_rules! check_slice_and_float {
        ($f:ident, $grad:ident, $vjp:ident, $pullback:ident, $x:expr, $c:expr) => {{
            let n = $x.len();
            let flat = |(mut g, gc): (Vec<f64>, f64)| {
                g.push(gc);
                g
            };
            check(
                |p| $f(&p[..n], p[n]),
                |p| {
                    let (v, g) = $grad(&p[..n], p[n]);
                    (v, flat(g))
                },
                |p| flat($vjp(&p[..n], p[n]).1(1.0)),
                |p| flat($pullback(&p[..n], p[n], 2.0)),
                &[$x.clone(), vec![$c]].concat(),
            )
        }};
    }

    #[test]
    fn sums_followed_by_more_code() {
        let x = point(5, 0.3);
        check_slice!(
            scaled_by_a_count,
            scaled_by_a_count_grad,
            scaled_by_a_count_vjp,
            scaled_by_a_count_pullback,
            &point(9, 1.3)
        );
        check_slice_and_float!(
            chain_after_the_sum,
            chain_after_the_sum_grad,
            chain_after_the_sum_vjp,
            chain_after_the_sum_pullback,
            x,
            0.7
        );
        check_slice!(
            arrays_around_the_sum,
            arrays_around_the_sum_grad,
            arrays_around_the_sum_vjp,
            arrays_around_the_sum_pullback,
            &x
        );
        let data = point(7, 1.1);
        check(
            |m| mixture(m, &data),
            |m| mixture_grad(m, &data),
            |m| mixture_vjp(m, &data).1(1.0),
            |m| mixture_pullback(m, &data, 2.0),
            &x[..3],
        );
        check(
            |m| hoisted_buffers(m, &data),
            |m| hoisted_buffers_grad(m, &data),
            |m| hoisted_buffers_vjp(m, &data).1(1.0),
            |m| hoisted_buffers_pullback(m, &data, 2.0),
            &x[..3],
        );
        check_slice!(
            carrying_buffers,
            carrying_buffers_grad,
            carrying_buffers_vjp,
            carrying_buffers_pullback,
            &x
        );
        check_slice_and_float!(
            mean_loss,
            mean_loss_grad,
            mean_loss_vjp,
            mean_loss_pullback,
            x,
            0.3
        );
        check_slice!(
            mean_over_pushed,
            mean_over_pushed_grad,
            mean_over_pushed_vjp,
            mean_over_pushed_pullback,
            &x
        );
        check_slice!(
            sum_read_twice,
            sum_read_twice_grad,
            sum_read_twice_vjp,
            sum_read_twice_pullback,
            &x
        );
        for sign in [1.0, -1.0] {
            let y: Vec<f64> = x.iter().map(|v| v.abs() * sign).collect();
            check_slice!(
                sum_returned_from_a_branch,
                sum_returned_from_a_branch_grad,
                sum_returned_from_a_branch_vjp,
                sum_returned_from_a_branch_pullback,
                &y
            );
        }
        check_slice!(
            second_order,
            second_order_grad,
            second_order_vjp,
            second_order_pullback,
            &x
        );
    }

    /// `H v` from `_hvp` against central differences of the gradient along `v`.
    #[test]
    fn hessian_vector_product_after_a_sum() {
        let x = point(6, 0.9);
        let v = point(6, 2.4);
        let (value, g, hv) = second_order_hvp(&x, v.clone());
        assert_eq!(value.to_bits(), second_order(&x).to_bits());
        assert_eq!(g, second_order_grad(&x).1);
        assert_hvp_along(second_order_grad, &x, &v, &hv);
    }
}

/// Places fixed for a whole inner loop: `x[c]` read in a loop over `r` (its adjoint summed in a
/// local, and, from a buffer the code overwrites later, kept once per run of the loop), counters
/// stepped by constants (`idx += 1`, counted back instead of taped), and loads repeated in one
/// block. Each against central differences, through `_grad` (interleaved where it
/// can be) and `_vjp` (the separate sweeps); the inner loops also run zero times where the fixed
/// index is out of bounds.
mod fixed_places {
    use super::*;

    /// `Σ_c sin(Σ_{r > c} x[c] x[r] w)`: `x[c]` is fixed in the loop over `r`, which is empty
    /// for the last `c`, and for `c == n`, where `x[c]` would be out of bounds.
    #[differentiate]
    fn upper_products(x: &[f64]) -> f64 {
        let n = x.len();
        let mut total = 0.0;
        for c in 0..n + 1 {
            let mut acc = 0.0;
            for r in c + 1..n {
                acc += x[c] * x[r] * (r as f64 - 0.5);
            }
            total += acc.sin();
        }
        total
    }

    /// The same through a buffer that every pass overwrites: `buf[c]` is kept once per run of
    /// the loop over `r`, since the next pass changes it before the backward sweep.
    #[differentiate]
    fn buffer_products(x: &[f64]) -> f64 {
        let n = x.len();
        let mut buf = vec![0.0; n];
        let mut total = 0.0;
        for pass in 0..3 {
            for l in 0..n {
                buf[l] = x[l] * (pass as f64 + 1.0) * 0.3 + 0.25;
            }
            for c in 0..n + 1 {
                let mut acc = 0.0;
                for r in c + 1..n {
                    acc += buf[c] * buf[r] * x[r];
                }
                total += acc.cos();
            }
        }
        total
    }

    /// A packed lower-triangular matrix times a vector, read with a counter (ADBench's GMM
    /// indexes its `icf` this way), then `x[c]` fixed across the inner loop, the product's
    /// elements updated in place.
    #[differentiate]
    fn packed_triangle(l: &[f64], v: &[f64]) -> f64 {
        let d = v.len();
        let mut out = vec![0.0; d];
        let mut idx = 0;
        for c in 0..d {
            for r in c..d {
                out[r] += l[idx] * v[c];
                idx += 1;
            }
        }
        let mut s = 0.0;
        for r in 0..d {
            s += out[r].sin() * out[r];
        }
        s + idx as f64
    }

    /// Counters stepped by 2, down by 1, twice in one iteration (read in between), and a signed
    /// one stepped by -3; and a step that is not a literal, which the backward sweep tapes.
    #[differentiate]
    fn counters(x: &[f64], stride: usize) -> f64 {
        let n = x.len();
        let mut s = 0.0;
        let mut even = 0;
        let mut down = n - 1;
        let mut twice = 0;
        let mut signed: i64 = 3 * n as i64;
        let mut strided = 0;
        for i in 0..n / 2 {
            s += x[even] * x[down] + x[twice].sin();
            twice += 1;
            s += x[twice] * (signed as f64);
            twice += 1;
            even += 2;
            down -= 1;
            signed -= 3;
            s += x[strided % n] * x[i];
            strided += stride;
        }
        s * (even + down + twice) as f64
    }

    /// Loads repeated within a block, also after a store to the same element and after the
    /// array is assigned whole.
    #[differentiate]
    fn repeated_loads(x: &[f64]) -> f64 {
        let mut v = x.to_vec();
        let mut s = x[0] * x[0];
        for i in 0..v.len() {
            let a = v[i];
            v[i] = a * a + 1.0;
            let b = v[i];
            s += a * b + v[i] * x[i] * x[i];
        }
        let first = v[0];
        v = x.iter().map(|e| e.sin()).collect();
        s + first * v[0] * v[0]
    }

    /// `x[k]` fixed in a `while` loop (counted, not a range), which runs zero times where
    /// `k` is out of bounds.
    #[differentiate]
    fn fixed_in_while(x: &[f64]) -> f64 {
        let n = x.len();
        let mut s = 0.0;
        for k in 0..n + 1 {
            let mut j = k + 1;
            while j < n {
                s += x[k] * x[j].cos();
                j += 1;
            }
        }
        s
    }

    #[test]
    fn fixed_elements_and_counters() {
        let x = point(6, 0.4);
        check(
            upper_products,
            upper_products_grad,
            |p| upper_products_vjp(p).1(1.0),
            &x,
        );
        check(
            buffer_products,
            buffer_products_grad,
            |p| buffer_products_vjp(p).1(1.0),
            &x,
        );
        check(
            repeated_loads,
            repeated_loads_grad,
            |p| repeated_loads_vjp(p).1(1.0),
            &x,
        );
        check(
            fixed_in_while,
            fixed_in_while_grad,
            |p| fixed_in_while_vjp(p).1(1.0),
            &x,
        );
        let x9 = point(9, 1.3);
        for stride in [1, 4] {
            check(
                |p| counters(p, stride),
                |p| counters_grad(p, stride),
                |p| counters_vjp(p, stride).1(1.0),
                &x9,
            );
        }
        // d = 4: 10 packed entries.
        let (l, v) = (point(10, 0.2), point(4, 2.2));
        let both = [l.clone(), v.clone()].concat();
        check(
            |p| packed_triangle(&p[..10], &p[10..]),
            |p| {
                let (value, (gl, gv)) = packed_triangle_grad(&p[..10], &p[10..]);
                (value, [gl, gv].concat())
            },
            |p| {
                let (gl, gv) = packed_triangle_vjp(&p[..10], &p[10..]).1(1.0);
                [gl, gv].concat()
            },
            &both,
        );
    }
}

/// Loops that read a slice at `base + k` (a row of a flat matrix): the accesses go through one
/// subslice taken before the loop. Its edges: an inner loop that is empty where its base is out
/// of bounds, ranges that start above zero or run backwards, bases the user hoists or the body
/// computes, loops whose backward sweep runs separately (the `_vjp` closure) and interleaved
/// (`_grad`), and an access out of bounds, which must still panic.
mod windows {
    use super::*;

    /// `mean_j tanh(Σ_k w[j n + k] x[k])` over the `rows` rows of a flat `rows × n` matrix,
    /// `n = x.len()`; the sum runs interleaved in `_grad`.
    #[differentiate(wrt(w))]
    fn flat_layer(w: &[f64], x: &[f64], rows: usize) -> f64 {
        let n = x.len();
        let mut s = 0.0;
        for j in 0..rows {
            let mut a = 0.0;
            for k in 0..n {
                a += w[j * n + k] * x[k];
            }
            s += a.tanh();
        }
        s / rows as f64
    }

    /// The rows of an `n × n` matrix shortened by one each (`n - c` entries from `c n`), for
    /// `c` up to `n`, where the row is empty and starts past the end of `w`; the base hoisted
    /// by the user, the sum squared after the loop (so the backward loops run separately).
    #[differentiate]
    fn shrinking_rows(w: &[f64]) -> f64 {
        let n = (w.len() as f64).sqrt() as usize;
        let mut s = 0.0;
        for c in 0..n + 1 {
            let base = c * n;
            let mut acc = 0.0;
            for k in 0..n - c {
                acc += w[base + k] * w[base + k].sin();
            }
            s += acc * (c as f64 + 1.0);
        }
        s * s
    }

    /// A window from an offset, the index written `off + k`, over a range from 2 run
    /// backwards, and one written `k + off` read twice per iteration.
    #[differentiate]
    fn offset_windows(x: &[f64], off: usize) -> f64 {
        let m = x.len() - off;
        let mut s = 0.0;
        for k in (2..m).rev() {
            s = s * 0.5 + x[off + k] * x[k];
        }
        let mut t = 0.0;
        for k in 1..m {
            t += (x[k + off] - 1.0) * x[k + off] + x[k - 1];
        }
        s.sin() + t
    }

    /// Rows of a `Vec<Vec<f64>>`: `w[j][k]` with the row fixed for the loop over `k` (its
    /// adjoint added to through a window too), `w[j][k + 1]` next to `w[j][k]`, and a row past
    /// the end of `w` whose loop is empty.
    #[differentiate(wrt(w))]
    fn rows_of_vecs(w: &[Vec<f64>], x: &[f64]) -> f64 {
        let n = w.len();
        let mut s = 0.0;
        for j in 0..n + 1 {
            let m = if j < n { x.len() } else { 0 };
            let mut a = 0.0;
            for k in 0..m {
                a += w[j][k] * x[k];
            }
            if j < n {
                for k in 0..w[j].len() - 1 {
                    a += w[j][k + 1] * w[j][k];
                }
            }
            s += a.sin();
        }
        s
    }

    #[test]
    fn windows_match_finite_differences() {
        let (rows, n) = (3, 5);
        let w = point(rows * n, 0.3);
        let x = point(n, 1.1);
        check(
            |p| flat_layer(p, &x, rows),
            |p| flat_layer_grad(p, &x, rows),
            |p| flat_layer_vjp(p, &x, rows).1(1.0),
            &w,
        );
        let w = point(16, 0.7);
        check(
            shrinking_rows,
            shrinking_rows_grad,
            |p| shrinking_rows_vjp(p).1(1.0),
            &w,
        );
        let (rows, n) = (3, 4);
        let x = point(n, 0.9);
        let unflatten = |p: &[f64]| p.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>();
        check(
            |p| rows_of_vecs(&unflatten(p), &x),
            |p| {
                let (value, g) = rows_of_vecs_grad(&unflatten(p), &x);
                (value, g.concat())
            },
            |p| rows_of_vecs_vjp(&unflatten(p), &x).1(1.0).concat(),
            &point(rows * n, 0.5),
        );
        let x = point(9, 2.0);
        for off in [0, 3] {
            check(
                |p| offset_windows(p, off),
                |p| offset_windows_grad(p, off),
                |p| offset_windows_vjp(p, off).1(1.0),
                &x,
            );
        }
    }

    /// A row that runs past the end of `w` panics in the gradient as in the function.
    #[test]
    #[should_panic]
    fn a_window_out_of_bounds_panics() {
        let x = point(5, 1.1);
        let w = point(12, 0.3);
        let _ = flat_layer_grad(&w, &x, 3);
    }
}

/// Running maxima and minima (`m = m.max(v)` in a loop): the loop keeps the index of the last
/// iteration where `v` won instead of taping `m`, and when nothing else in the loop has a
/// derivative, the backward sweep runs that iteration alone.
mod running_extremes {
    use super::*;

    /// The element is computed in the iteration (`x[i] * x[i + 1]`, recomputed at the winning
    /// one), a running minimum with the running value second (`v.min(m)`), and `f64::max`.
    #[differentiate]
    fn computed_elements(x: &[f64]) -> f64 {
        let mut hi = f64::NEG_INFINITY;
        for i in 0..x.len() - 1 {
            hi = f64::max(hi, x[i] * x[i + 1]);
        }
        let mut lo = x[1];
        for i in (0..x.len()).rev() {
            let v = (x[i] - 0.3).sin();
            lo = v.min(lo);
        }
        hi * lo + hi.exp()
    }

    /// The maximum starts from another parameter, which gets the derivative when no element
    /// is larger (and when the loop is empty).
    #[differentiate]
    fn floor_then_max(x: &[f64], floor: f64, n: usize) -> f64 {
        let mut m = floor * floor;
        for i in 0..n {
            m = m.max(x[i]);
        }
        m * floor
    }

    /// A maximum and a sum in one loop: the loop's backward sweep runs every iteration, with
    /// the winner compared by index.
    #[differentiate]
    fn max_and_sum(x: &[f64]) -> f64 {
        let mut m = x[0] * x[0];
        let mut s = 0.0;
        for i in 0..x.len() {
            s += x[i].sin();
            m = m.max(x[i] * x[i]);
        }
        s * m
    }

    /// One maximum per row, inside a loop over rows (the outer loop keeps each row's winner),
    /// under a branch, and a fold.
    #[differentiate]
    fn per_row(x: &[f64], cols: usize, soft: bool) -> f64 {
        let rows = x.len() / cols;
        let mut total = 0.0;
        for r in 0..rows {
            let mut m = x[r * cols];
            for k in 1..cols {
                m = m.max(x[r * cols + k]);
            }
            let mut s = 0.0;
            if soft {
                for k in 0..cols {
                    s += (x[r * cols + k] - m).exp();
                }
            }
            total += (m * (r as f64 + 1.0)).sin() * (1.0 + s);
        }
        let biggest = x.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        total + biggest
    }

    #[test]
    fn running_extremes_match_finite_differences() {
        for seed in [0.1, 0.8, 2.3] {
            let x = point(7, seed);
            // The natural log-sum-exp: the derivative flows through the running maximum too.
            check(
                logsumexp_through_max,
                logsumexp_through_max_grad,
                |p| logsumexp_through_max_vjp(p).1(1.0),
                &x,
            );
            check(
                computed_elements,
                computed_elements_grad,
                |p| computed_elements_vjp(p).1(1.0),
                &x,
            );
            check(
                max_and_sum,
                max_and_sum_grad,
                |p| max_and_sum_vjp(p).1(1.0),
                &x,
            );
            for soft in [false, true] {
                let x = point(12, seed);
                check(
                    |p| per_row(p, 4, soft),
                    |p| per_row_grad(p, 4, soft),
                    |p| per_row_vjp(p, 4, soft).1(1.0),
                    &x,
                );
            }
        }
        // The floor wins (x below it), loses, or the loop is empty.
        let x = [0.3, -0.5, 1.7, 0.2];
        for (floor, n) in [(1.5, 4), (0.6, 4), (0.6, 2), (0.9, 0)] {
            let f = |p: &[f64]| floor_then_max(&p[..4], p[4], n);
            let (value, grad) = floor_then_max_grad(&x, floor, n);
            assert_eq!(value.to_bits(), floor_then_max(&x, floor, n).to_bits());
            let mut all = grad.0.clone();
            all.push(grad.1);
            let mut p = x.to_vec();
            p.push(floor);
            let finite = autodiff_core::check_gradient(f, &p, &all);
            assert!(finite.passes(1e-8), "floor {floor}, n {n}: {finite}");
        }
    }

    /// On a tie the first of the equal elements gets the derivative, as `max` gives it to its
    /// first argument: the running value keeps it.
    #[test]
    fn ties_go_to_the_first_maximum() {
        let x = [1.0, 3.0, -2.0, 3.0, 2.0];
        let (_, g) = per_row_grad(&x, 5, false);
        // Row 0's maximum and the fold's both at index 1: d/dm sin(m) + 1.
        let expected = [0.0, 3.0_f64.cos() + 1.0, 0.0, 0.0, 0.0];
        for (a, b) in g.iter().zip(expected) {
            assert_close(*a, b, 1e-15);
        }
    }
}

/// A loop that tapes an array it overwrites: `q[i] * q[i]` takes one place on the tape, and a
/// read of `q[i]` after a write to `q` takes its own.
mod repeated_loads {
    use super::*;

    #[differentiate]
    fn squares_of_updates(x: &[f64]) -> f64 {
        let n = x.len();
        let mut q = x.to_vec();
        let mut s = 0.0;
        for i in 0..n {
            q[i] = (q[i] * 0.5 + x[0]).tanh();
            let a = q[i] * q[i];
            q[(i + 1) % n] += 0.3 * a;
            let b = q[i] * q[(i + 1) % n] + q[i];
            s = (s + a * b).sin();
        }
        s
    }

    #[test]
    fn repeated_loads_match_finite_differences() {
        for seed in [0.2, 1.4] {
            let x = point(5, seed);
            check(
                squares_of_updates,
                squares_of_updates_grad,
                |p| squares_of_updates_vjp(p).1(1.0),
                &x,
            );
        }
    }
}

/// A running maximum whose loop keeps a value once (`w[0]`, written after the loop) or sums
/// into one element (`d_w[k]`), over an empty range: the gradient is zero, as the function is
/// constant there, and nothing panics.
mod empty_running_extremes {
    use super::*;

    #[differentiate]
    fn kept_once(x: &[f64], n: usize) -> f64 {
        let mut w = [2.0];
        let mut m: f64 = 0.0;
        for i in 0..n {
            m = m.max(x[i] * w[0]);
        }
        w[0] = 3.0;
        m * w[0]
    }

    #[differentiate]
    fn summed(x: &[f64], w: &[f64], k: usize) -> f64 {
        let mut m: f64 = 0.0;
        for i in 0..x.len() {
            m = m.max(x[i] * w[k]);
        }
        m
    }

    #[test]
    fn empty_loops_give_zero_gradients() {
        assert_eq!(kept_once_grad(&[], 0), (0.0, vec![]));
        assert_eq!(summed_grad(&[], &[], 0), (0.0, (vec![], vec![])));
        let x = point(4, 0.6);
        check(
            |p| kept_once(p, 4),
            |p| kept_once_grad(p, 4),
            |p| kept_once_vjp(p, 4).1(1.0),
            &x,
        );
        let w = [0.5, 1.5];
        let (v, (gx, gw)) = summed_grad(&x, &w, 1);
        assert_eq!(v.to_bits(), summed(&x, &w, 1).to_bits());
        assert_gradient(|p| summed(p, &w, 1), &x, &gx, 1e-8);
        assert_gradient(|p| summed(&x, p, 1), &w, &gw, 1e-8);
    }
}

/// Running maxima and minima whose winning iteration is found after the loop from the final
/// value, with nothing kept per iteration: the running value first or second (ties keep it, or
/// go to the element), ranges reversed and inclusive, computed elements, a window `x[i + 1]`,
/// a loop inside another, `f32`. Each gradient against forward mode (`_jvp`, which picks the
/// winner step by step as the rule does, with no search) on inputs with ties, NaN elements and
/// the start value winning, against the derivative written out where the winner is known, and
/// against finite differences away from ties.
mod winner_scans {
    use super::*;

    #[differentiate(jvp)]
    fn max_first(x: &[f64]) -> f64 {
        let mut m = x[0];
        for &v in x.iter() {
            m = m.max(v);
        }
        m * m.sin()
    }

    #[differentiate(jvp)]
    fn max_second(x: &[f64], floor: f64) -> f64 {
        let mut m = floor * floor;
        for i in 0..x.len() {
            m = x[i].max(m);
        }
        m.exp() + floor
    }

    #[differentiate(jvp)]
    fn floor_first(x: &[f64], floor: f64) -> f64 {
        let mut m = floor * floor;
        for i in 0..x.len() {
            m = m.max(x[i]);
        }
        m.exp() + floor
    }

    #[differentiate(jvp)]
    fn min_reversed(x: &[f64], c: f64) -> f64 {
        let mut lo = x[0] - c;
        for i in (0..x.len() - 1).rev() {
            lo = lo.min((x[i + 1] - c) * c);
        }
        lo * c
    }

    /// The element reads a carried value: not there after the loop, so the forward loop keeps
    /// the winner.
    #[differentiate(jvp)]
    fn weighted_max(x: &[f64]) -> f64 {
        let mut m = f64::NEG_INFINITY;
        let mut k = 1.0;
        for i in 0..x.len() {
            m = m.max(x[i] * k);
            k -= 0.25;
        }
        m
    }

    /// The other argument is a carried constant: the derivative goes to `x[0]` alone, where it
    /// is at least every count.
    #[differentiate(jvp)]
    fn max_of_counts(x: &[f64], n: usize) -> f64 {
        let mut m = x[0];
        let mut k = 0.0;
        for _ in 0..n {
            m = m.max(k);
            k += 1.0;
        }
        m * x[1]
    }

    #[differentiate(jvp)]
    fn row_maxima(x: &[f64], cols: usize) -> f64 {
        let mut total = 0.0;
        for r in 0..x.len() / cols {
            let mut m = f64::NEG_INFINITY;
            for k in (0..=cols - 1).rev() {
                m = (2.0 * x[r * cols + k]).max(m);
            }
            total += m * (r as f64 + 1.0);
        }
        total
    }

    #[differentiate(jvp)]
    fn max_f32(x: &[f32]) -> f32 {
        let mut m = x[0];
        for &v in x {
            m = m.max(v);
        }
        m * m
    }

    /// The gradient of a function of one slice against its `_jvp` along each unit vector.
    fn assert_columns(grad: &[f64], jvp: impl Fn(Vec<f64>) -> f64) {
        for i in 0..grad.len() {
            let mut e = vec![0.0; grad.len()];
            e[i] = 1.0;
            assert_close(grad[i], jvp(e), 1e-14);
        }
    }

    const TIES: [f64; 6] = [1.0, 3.0, -2.0, 3.0, 2.0, 3.0];
    const NANS: [f64; 5] = [f64::NAN, 1.0, 3.0, f64::NAN, 2.0];

    /// A function `m.exp() + floor` of a maximum that starts from `floor^2`: its gradient at
    /// `(x, floor)` against the closed form, with the derivative going to `x[at]` or the floor,
    /// and against `_jvp`.
    fn assert_floor_max(
        grad: impl Fn(&[f64], f64) -> (f64, (Vec<f64>, f64)),
        jvp: impl Fn(&[f64], f64, (Vec<f64>, f64)) -> (f64, f64),
        x: &[f64],
        floor: f64,
        at: Option<usize>,
    ) {
        let m = at.map_or(floor * floor, |at| x[at]);
        let (value, (gx, gf)) = grad(x, floor);
        assert_eq!(value, m.exp() + floor);
        for (i, g) in gx.iter().enumerate() {
            assert_eq!(
                *g,
                if Some(i) == at { m.exp() } else { 0.0 },
                "{x:?}, {floor}"
            );
        }
        let d_floor = match at {
            Some(_) => 1.0,
            None => 2.0 * floor * m.exp() + 1.0,
        };
        assert_close(gf, d_floor, 1e-15);
        assert_columns(&gx, |e| jvp(x, floor, (e, 0.0)).1);
        assert_close(gf, jvp(x, floor, (vec![0.0; x.len()], 1.0)).1, 1e-14);
    }

    #[test]
    fn ties_keep_the_running_value_or_go_to_the_element() {
        let d = 3.0_f64.sin() + 3.0 * 3.0_f64.cos();
        // Running value first: the first 3 won last; with a NaN start, the first number won.
        for (x, at) in [(&TIES[..], 1), (&NANS[..], 2)] {
            let (value, g) = max_first_grad(x);
            assert_eq!(value.to_bits(), max_first(x).to_bits());
            let expected: Vec<f64> = (0..x.len())
                .map(|i| if i == at { d } else { 0.0 })
                .collect();
            assert_eq!(g, expected, "{x:?}");
            assert_columns(&g, |e| max_first_jvp(x, e).1);
        }
        // Starting from a floor: the floor when it is larger; on a tie between elements, the
        // first (running value first) or the last (second); on a tie of the floor with an
        // element, the floor (first) or the element (second).
        let mut four = TIES.to_vec();
        four[4] = 4.0;
        for (x, floor, first, second) in [
            (&TIES[..], 0.5, Some(1), Some(5)),
            (&TIES[..], 2.0, None, None),
            (&four[..], -2.0, None, Some(4)),
        ] {
            assert_floor_max(floor_first_grad, floor_first_jvp, x, floor, first);
            assert_floor_max(max_second_grad, max_second_jvp, x, floor, second);
        }
    }

    #[test]
    fn computed_elements_and_windows() {
        for x in [TIES.to_vec(), point(9, 0.4), point(9, 2.1)] {
            for c in [0.7, -1.3] {
                let (value, (gx, gc)) = min_reversed_grad(&x, c);
                assert_eq!(value.to_bits(), min_reversed(&x, c).to_bits());
                assert_columns(&gx, |e| min_reversed_jvp(&x, c, (e, 0.0)).1);
                let tc = min_reversed_jvp(&x, c, (vec![0.0; x.len()], 1.0)).1;
                assert_close(gc, tc, 1e-14);
                if x != TIES {
                    assert_gradient(|p| min_reversed(p, c), &x, &gx, 1e-8);
                }
            }
        }
        let mut ties = TIES.to_vec();
        ties.extend([3.0, -1.0, 1.5, 3.0, 0.0, 1.5]);
        for x in [ties, point(12, 0.9)] {
            for cols in [3, 4, 6] {
                let (value, g) = row_maxima_grad(&x, cols);
                assert_eq!(value.to_bits(), row_maxima(&x, cols).to_bits());
                assert_columns(&g, |e| row_maxima_jvp(&x, cols, e).1);
            }
        }
        let x = point(12, 0.9);
        check(
            |p| row_maxima(p, 4),
            |p| row_maxima_grad(p, 4),
            |p| row_maxima_vjp(p, 4).1(1.0),
            &x,
        );
        check(max_first, max_first_grad, |p| max_first_vjp(p).1(1.0), &x);
        for (x0, n) in [(2.0_f64, 4), (3.0, 4), (3.5, 4), (0.5, 0)] {
            let x = [x0, 1.5];
            let m = x0.max(n as f64 - 1.0);
            let (value, g) = max_of_counts_grad(&x, n);
            assert_eq!(value, m * 1.5);
            assert_eq!(g, vec![if m == x0 { 1.5 } else { 0.0 }, m], "{x0}, {n}");
            assert_columns(&g, |e| max_of_counts_jvp(&x, n, e).1);
        }
        for x in [x, vec![1.0, 2.0, 2.5, 3.0]] {
            check(
                weighted_max,
                weighted_max_grad,
                |p| weighted_max_vjp(p).1(1.0),
                &x,
            );
            assert_columns(&weighted_max_grad(&x).1, |e| weighted_max_jvp(&x, e).1);
        }
    }

    #[test]
    fn single_precision() {
        let x: Vec<f32> = TIES.iter().map(|&v| v as f32).collect();
        let (value, g) = max_f32_grad(&x);
        assert_eq!(value, 9.0);
        assert_eq!(g, vec![0.0, 6.0, 0.0, 0.0, 0.0, 0.0]);
        for i in 0..x.len() {
            let mut e = vec![0.0; x.len()];
            e[i] = 1.0;
            assert_eq!(max_f32_jvp(&x, e).1, g[i]);
        }
    }
}

/// Loop-local `vec!`s built in the storage an earlier iteration is done with: lengths that
/// change between iterations, a buffer grown by `push`, buffers read by a callee and, taped
/// whole, by the backward sweep of an inner loop, in a summing loop (whose backward iterations
/// give the taped buffers back) and in a loop whose result is used after it. Each against
/// finite differences and `_vjp` (which gives nothing back from its backward sweep), the value
/// bit for bit, and `_hvp` against central differences of the gradient.
mod pooled_vecs {
    use super::*;

    #[differentiate(hessian)]
    fn spread(v: &[f64]) -> f64 {
        let mut s = 1.0;
        for i in 0..v.len() {
            s += v[i] * v[i] * (i as f64 + 1.0);
        }
        s.sqrt()
    }

    #[differentiate(hessian)]
    fn per_point(x: &[f64]) -> f64 {
        let w = [0.3, -0.7, 1.1];
        let mut total = 0.0;
        for i in 0..x.len() {
            let mut terms = vec![0.0; w.len()];
            for j in 0..w.len() {
                let mut diff = vec![0.0; i % 3 + 1];
                for l in 0..diff.len() {
                    diff[l] = x[(i + l) % x.len()] - w[j] * x[0];
                }
                diff.push(w[j] * x[i]);
                let mut sq = 0.0;
                for l in 0..diff.len() {
                    sq += diff[l] * diff[l] * w[(j + l) % w.len()];
                }
                terms[j] = sq.sin() + spread(&diff);
            }
            total += spread(&terms);
        }
        total
    }

    /// Declared in the summing loop itself, read by inner loops: `__f_vjp` tapes it, the
    /// interleaved loop reads it in place and gives it back at the end of the iteration.
    #[differentiate(hessian)]
    fn in_the_summing_loop(x: &[f64]) -> f64 {
        let mut total = 0.0;
        for i in 0..x.len() {
            let mut v = vec![0.0; i + 1];
            for j in 0..v.len() {
                v[j] = x[(i + j) % x.len()] * (j as f64 + 1.0);
            }
            let mut s = 0.0;
            for j in 0..v.len() {
                s += v[j].sin() * v[j];
            }
            total += s;
        }
        total
    }

    #[differentiate(hessian)]
    fn carried_through(x: &[f64]) -> f64 {
        let mut acc = 1.0;
        for i in 0..x.len() {
            let mut buf = vec![0.5; 3];
            buf[0] = x[i];
            buf[1] *= acc;
            buf[2] = buf[0].exp() - buf[1];
            acc = 0.5 * acc + spread(&buf) * 0.1;
        }
        acc * acc
    }

    #[test]
    fn pooled_vecs_match_finite_differences() {
        for seed in [0.3, 1.7] {
            let x = point(5, seed);
            check(per_point, per_point_grad, |p| per_point_vjp(p).1(1.0), &x);
            check(
                in_the_summing_loop,
                in_the_summing_loop_grad,
                |p| in_the_summing_loop_vjp(p).1(1.0),
                &x,
            );
            check(
                carried_through,
                carried_through_grad,
                |p| carried_through_vjp(p).1(1.0),
                &x,
            );
            let v = point(5, seed + 0.5);
            assert_hvp_along(per_point_grad, &x, &v, &per_point_hvp(&x, v.clone()).2);
            let hv = in_the_summing_loop_hvp(&x, v.clone()).2;
            assert_hvp_along(in_the_summing_loop_grad, &x, &v, &hv);
            assert_hvp_along(
                carried_through_grad,
                &x,
                &v,
                &carried_through_hvp(&x, v.clone()).2,
            );
        }
    }
}

/// Stores that add into the element they read (`a[i] += e`, `a[i] = e + a[i]`, `a[i] -= e`),
/// whose backward sweep leaves the element's adjoint where it is, next to the forms that must
/// not: the element read at another index, the load read twice, a write in between, `e - a[i]`.
/// Against finite differences, `_vjp` and `_hvp`.
mod in_place_sums {
    use super::*;

    #[allow(clippy::assign_op_pattern)] // the forms are the point
    #[differentiate(hessian)]
    fn accumulations(x: &[f64]) -> f64 {
        let n = x.len();
        let mut a = vec![0.0; n];
        let mut m = [[0.5; 3]; 2];
        for i in 0..n {
            a[i] += x[i] * x[(i + 1) % n];
            a[i] = x[i].sin() + a[i];
            a[(i + 2) % n] = x[i].cos() + a[(i + 2) % n];
            a[i] -= 0.3 * x[0];
            m[i % 2][i % 3] += a[i] * x[i];
            m[(i + 1) % 2][i % 3] = x[i] - m[(i + 1) % 2][i % 3];
        }
        for r in 0..2 {
            for c in 0..3 {
                m[r][c] += a[(r + c) % n] * m[r][c];
            }
        }
        let mut s = 0.0;
        for i in 0..n {
            s += a[i] * a[i] + m[i % 2][(i + 1) % 3];
        }
        s
    }

    #[allow(clippy::assign_op_pattern)]
    #[differentiate(hessian)]
    fn not_in_place(x: &[f64]) -> f64 {
        let n = x.len();
        let mut a = vec![1.0; n + 1];
        let mut s = 0.0;
        for i in 0..n {
            let j = i + 1;
            // Another index; the load read twice; a write in between; the load second in a
            // subtraction; the sum read twice.
            a[j] = a[i] + x[i];
            let t = a[i];
            a[i] = t + x[i] * x[i];
            s += t * a[i];
            let u = a[j];
            a[j] = 2.0 * x[i];
            a[j] = u + a[j] * x[i];
            let w = a[i];
            a[i] = x[i] * 0.5 - w;
            let z = a[j] + x[i].sin();
            a[j] = z;
            s += z * z;
        }
        s + a[n] + a[0] * a[1]
    }

    #[test]
    fn in_place_sums_match_finite_differences() {
        for seed in [0.4, 2.2] {
            let x = point(5, seed);
            let v = point(5, seed + 1.0);
            check(
                accumulations,
                accumulations_grad,
                |p| accumulations_vjp(p).1(1.0),
                &x,
            );
            check(
                not_in_place,
                not_in_place_grad,
                |p| not_in_place_vjp(p).1(1.0),
                &x,
            );
            let hv = accumulations_hvp(&x, v.clone()).2;
            assert_hvp_along(accumulations_grad, &x, &v, &hv);
            let hv = not_in_place_hvp(&x, v.clone()).2;
            assert_hvp_along(not_in_place_grad, &x, &v, &hv);
        }
    }
}

/// Arrays passed to a call in a loop that runs interleaved (`_grad`): where nothing writes the
/// array after the call in the iteration, the call and its pullback read it in place and the
/// pullback adds into its adjoint directly; where something does, the call's copy is kept.
/// Each function against finite differences and against `_vjp`, which always copies.
mod borrowed_snapshots {
    use super::*;

    /// Its pullback reads `v` again (its loop's backward sweep loads the elements it needs).
    #[differentiate(hessian)]
    fn energy(v: &[f64]) -> f64 {
        let mut e = 0.0;
        for k in 0..v.len() {
            e += v[k] * v[(k + 1) % v.len()] + v[k].sin();
        }
        e
    }

    #[differentiate(hessian)]
    fn coupling(a: &[f64], b: &[f64]) -> f64 {
        a[0] * b[1] - (a[1] * b[0]).cos()
    }

    /// The buffer is filled, passed, then read again.
    #[differentiate(hessian)]
    fn in_place(x: &[f64]) -> f64 {
        let mut buf = vec![0.0; 2];
        let mut s = 0.0;
        for i in 0..x.len() {
            for l in 0..2 {
                buf[l] = x[(i + l) % x.len()] * x[0] + 0.3;
            }
            s += energy(&buf) * buf[1];
        }
        s
    }

    /// The buffer is written after the call: the pullback must see what the call saw.
    #[differentiate(hessian)]
    fn written_after(x: &[f64]) -> f64 {
        let mut buf = vec![0.0; 2];
        let mut s = 0.0;
        for i in 0..x.len() {
            for l in 0..2 {
                buf[l] = x[(i + l) % x.len()] * x[0] + 0.3;
            }
            let e = energy(&buf);
            buf[1] = e * 0.5;
            s += e + energy(&buf);
        }
        s
    }

    /// A row of a loop-local matrix, and one buffer passed twice to one call.
    #[differentiate(hessian)]
    fn rows_and_pairs(x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            let mut rows = vec![vec![0.0; 2]; 2];
            rows[1][0] = x[i].tanh();
            rows[1][1] = x[(i + 1) % x.len()] * 0.7;
            rows[0][0] = x[i] * rows[1][1];
            s += energy(&rows[1]) + coupling(&rows[1], &rows[1]) * rows[0][0];
        }
        s
    }

    /// Its pullback reads the weights `w` again.
    #[differentiate(hessian)]
    fn weighted(w: &[f64], v: &[f64]) -> f64 {
        let mut e = 0.0;
        for k in 0..w.len() {
            e += w[k] * v[k].sin();
        }
        e
    }

    /// A passive buffer changed after the call by a method the macro passes through
    /// (`fill`, `reverse`, `insert`): the pullback read the changed buffer (a wrong gradient,
    /// or an index out of bounds after `insert`) when the check counted stores alone.
    #[differentiate(hessian)]
    fn changed_by_methods(x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            let mut c = vec![0.5, 0.0];
            c[1] = 2.0;
            let b = vec![x[i], 3.0 * x[(i + 1) % x.len()]];
            s += weighted(&c, &b) + coupling(&b, &c);
            c.fill(3.0);
            c.reverse();
            c.insert(0, 1.0);
            s += c[0];
        }
        s
    }

    #[differentiate(hessian)]
    fn by_value(v: Vec<f64>) -> f64 {
        v[0] * v[1].cos()
    }

    /// The buffer moved into a call after the call that borrows it (the second-order sweeps
    /// pass its tangent by value too: a use after the move).
    #[differentiate(hessian)]
    fn moved_after(x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            let mut buf = vec![0.0; 2];
            buf[0] = x[i] * 1.3;
            buf[1] = x[(i + 1) % x.len()].sin();
            let e = energy(&buf);
            s += e * by_value(buf);
        }
        s
    }

    #[test]
    fn borrowed_snapshots_match_finite_differences() {
        for seed in [0.2, 1.1] {
            let x = point(4, seed);
            check(in_place, in_place_grad, |p| in_place_vjp(p).1(1.0), &x);
            check(
                written_after,
                written_after_grad,
                |p| written_after_vjp(p).1(1.0),
                &x,
            );
            check(
                rows_and_pairs,
                rows_and_pairs_grad,
                |p| rows_and_pairs_vjp(p).1(1.0),
                &x,
            );
            check(
                changed_by_methods,
                changed_by_methods_grad,
                |p| changed_by_methods_vjp(p).1(1.0),
                &x,
            );
            check(
                moved_after,
                moved_after_grad,
                |p| moved_after_vjp(p).1(1.0),
                &x,
            );
        }
    }

    /// The second-order sweeps (`_hvp`) interleave the same loops: `H v` against central
    /// differences of the gradient along `v`.
    #[test]
    fn borrowed_snapshots_in_hessian_vector_products() {
        let x = point(4, 0.7);
        let v = point(4, 2.1);
        type Grad = fn(&[f64]) -> (f64, Vec<f64>);
        type Hvp = fn(&[f64], Vec<f64>) -> (f64, Vec<f64>, Vec<f64>);
        let pairs: [(Grad, Hvp); 5] = [
            (in_place_grad, in_place_hvp),
            (written_after_grad, written_after_hvp),
            (rows_and_pairs_grad, rows_and_pairs_hvp),
            (changed_by_methods_grad, changed_by_methods_hvp),
            (moved_after_grad, moved_after_hvp),
        ];
        for (grad, hvp) in pairs {
            let (value, g, hv) = hvp(&x, v.clone());
            let (value_grad, g_grad) = grad(&x);
            assert_eq!(value.to_bits(), value_grad.to_bits());
            for (a, b) in g.iter().zip(&g_grad) {
                assert_close(*a, *b, 1e-14);
            }
            assert_hvp_along(grad, &x, &v, &hv);
        }
    }
}

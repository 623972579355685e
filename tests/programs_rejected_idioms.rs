//! Natural forms that used to be rejected, each in a program checked against dual numbers and
//! finite differences: iterator closures, closures, iterating a row, `*r`, tuple patterns in
//! `for`, `windows` and sub-slices, `mem::swap`, a local `Vec` of `Vec`s, `copy_from_slice` and
//! `swap`, and a state struct returned by a function.
#![allow(clippy::needless_range_loop)]

#[path = "programs/common.rs"]
mod common;

use autodiff_core::{Differentiable, differentiate};
use common::{Fd, Reader, Tol, c, check_oracles, flat};

/// Ridge regression with iterator closures, the way most Rust is written.
/// Today: "closures are not supported in a `#[differentiate]` function; write the computation
/// inline, or as a separate `#[differentiate]` function".
#[differentiate(wrt(w))]
fn ridge_loss(w: &[f64], x: &[Vec<f64>], y: &[f64], lambda: f64) -> f64 {
    let residuals: f64 = x
        .iter()
        .zip(y.iter())
        .map(|(row, yi)| {
            let prediction: f64 = row.iter().zip(w.iter()).map(|(a, b)| a * b).sum();
            (prediction - yi).powi(2)
        })
        .sum();
    residuals / x.len() as f64 + lambda * w.iter().map(|v| v * v).sum::<f64>()
}

fn ridge_loss_fd(w: &[Fd], x: &[Vec<f64>], y: &[f64], lambda: f64) -> Fd {
    let mut residuals = c(0.0);
    for (row, yi) in x.iter().zip(y.iter()) {
        let mut prediction = c(0.0);
        for j in 0..w.len() {
            prediction += row[j] * w[j];
        }
        residuals += (prediction - *yi).powi(2);
    }
    let mut penalty = c(0.0);
    for v in w {
        penalty += *v * *v;
    }
    residuals / x.len() as f64 + lambda * penalty
}

#[test]
fn ridge_regression_with_iterators() {
    let x: Vec<Vec<f64>> = (0..8)
        .map(|i| (0..3).map(|j| ((i * 3 + j) as f64).sin()).collect())
        .collect();
    let y: Vec<f64> = (0..8).map(|i| (i as f64 * 0.3).cos()).collect();
    let w = [0.4, -0.2, 0.7];
    let (value, g) = generated!(ridge_loss_grad, ridge_loss_pullback, ridge_loss_grad_into;
        &w, &x, &y, 0.1);
    check_oracles(
        "ridge_loss",
        &w,
        value,
        &g,
        |p| ridge_loss(p, &x, &y, 0.1),
        |p| ridge_loss_fd(p, &x, &y, 0.1),
        Tol::default(),
    );
}

/// Logistic growth by RK4 with the right-hand side as a local closure.
/// Today: "closures are not supported ...".
#[differentiate]
fn logistic_closure(r: f64, capacity: f64, y0: f64, h: f64) -> f64 {
    let f = |y: f64| r * y * (1.0 - y / capacity);
    let mut y = y0;
    for _ in 0..20 {
        let k1 = f(y);
        let k2 = f(y + 0.5 * h * k1);
        let k3 = f(y + 0.5 * h * k2);
        let k4 = f(y + h * k3);
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    y
}

fn logistic_closure_fd(r: Fd, capacity: Fd, y0: Fd, h: Fd) -> Fd {
    let f = |y: Fd| r * y * (1.0 - y / capacity);
    let mut y = y0;
    for _ in 0..20 {
        let k1 = f(y);
        let k2 = f(y + 0.5 * h * k1);
        let k3 = f(y + 0.5 * h * k2);
        let k4 = f(y + h * k3);
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    y
}

#[test]
fn logistic_rk4_with_a_closure() {
    let x = [0.8, 10.0, 0.5, 0.1];
    let (value, g) = generated!(logistic_closure_grad, logistic_closure_pullback,
        logistic_closure_grad_into; x[0], x[1], x[2], x[3]);
    check_oracles(
        "logistic_closure",
        &x,
        value,
        &flat(&g),
        |p| logistic_closure(p[0], p[1], p[2], p[3]),
        |p| logistic_closure_fd(p[0], p[1], p[2], p[3]),
        Tol::default(),
    );
}

/// Monte Carlo over paths, iterating each path's draws.
/// Today: "iterating over a row of an array is not supported; iterate over its indices".
#[differentiate(wrt(spot, vol))]
fn mc_call(spot: f64, vol: f64, strike: f64, draws: &[Vec<f64>]) -> f64 {
    let dt = 1.0 / draws[0].len() as f64;
    let mut total = 0.0;
    for path in draws.iter() {
        let mut s = spot;
        for z in path.iter() {
            s *= (-0.5 * vol * vol * dt + vol * dt.sqrt() * z).exp();
        }
        total += (s - strike).max(0.0);
    }
    total / draws.len() as f64
}

fn mc_call_fd(spot: Fd, vol: Fd, strike: f64, draws: &[Vec<f64>]) -> Fd {
    let dt = 1.0 / draws[0].len() as f64;
    let mut total = c(0.0);
    for path in draws.iter() {
        let mut s = spot;
        for z in path.iter() {
            s *= (-0.5 * vol * vol * dt + vol * dt.sqrt() * *z).exp();
        }
        total += (s - strike).max(0.0);
    }
    total / draws.len() as f64
}

#[test]
fn monte_carlo_iterating_rows() {
    let draws: Vec<Vec<f64>> = (0..10)
        .map(|p| {
            (0..5)
                .map(|s| ((p * 5 + s) as f64 * 2.3).sin() * 1.5)
                .collect()
        })
        .collect();
    let (value, g) =
        generated!(mc_call_grad, mc_call_pullback, mc_call_grad_into; 100.0, 0.3, 95.0, &draws);
    check_oracles(
        "mc_call",
        &[100.0, 0.3],
        value,
        &flat(&g),
        |p| mc_call(p[0], p[1], 95.0, &draws),
        |p| mc_call_fd(p[0], p[1], 95.0, &draws),
        Tol::default(),
    );
}

/// A dense layer starting from a copy of the bias.
/// Today: "dereference `*` has no derivative rule, and here it is applied to a value that
/// depends on a differentiated parameter; ..." (and "only elements of local arrays and vectors
/// can be assigned to").
#[differentiate]
fn dense_sum_tanh(w: &[[f64; 2]; 3], b: &[f64; 3], x: &[f64; 2]) -> f64 {
    let mut y = *b;
    for i in 0..3 {
        for j in 0..2 {
            y[i] += w[i][j] * x[j];
        }
    }
    y[0].tanh() + y[1].tanh() + y[2].tanh()
}

fn dense_sum_tanh_fd(w: &[[Fd; 2]; 3], b: &[Fd; 3], x: &[Fd; 2]) -> Fd {
    let mut y = *b;
    for i in 0..3 {
        for j in 0..2 {
            y[i] += w[i][j] * x[j];
        }
    }
    y[0].tanh() + y[1].tanh() + y[2].tanh()
}

#[test]
fn dense_layer_from_bias_copy() {
    let (w, b, x) = (
        [[0.3, -0.2], [0.5, 0.1], [-0.4, 0.6]],
        [0.1, 0.0, -0.1],
        [0.7, -1.2],
    );
    let (value, g) = generated!(dense_sum_tanh_grad, dense_sum_tanh_pullback, dense_sum_tanh_grad_into; &w, &b, &x);
    let mut p = flat(&w);
    p.extend(b);
    p.extend(x);
    check_oracles(
        "dense_sum_tanh",
        &p,
        value,
        &flat(&g),
        |q| {
            let mut r = Reader::new(q);
            dense_sum_tanh(&r.m(), &r.a(), &r.a())
        },
        |q| {
            let mut r = Reader::new(q);
            dense_sum_tanh_fd(&r.m(), &r.a(), &r.a())
        },
        Tol::default(),
    );
}

/// Spring energy over an edge list of index pairs.
/// Today: "bind each element to a name, `&name` or `_`".
#[differentiate(wrt(positions))]
fn edge_energy(positions: &[[f64; 2]], edges: &[(usize, usize)]) -> f64 {
    let mut energy = 0.0;
    for &(i, j) in edges.iter() {
        let dx = positions[j][0] - positions[i][0];
        let dy = positions[j][1] - positions[i][1];
        energy += ((dx * dx + dy * dy).sqrt() - 1.0).powi(2);
    }
    energy
}

fn edge_energy_fd(positions: &[[Fd; 2]], edges: &[(usize, usize)]) -> Fd {
    let mut energy = c(0.0);
    for &(i, j) in edges.iter() {
        let dx = positions[j][0] - positions[i][0];
        let dy = positions[j][1] - positions[i][1];
        energy += ((dx * dx + dy * dy).sqrt() - 1.0).powi(2);
    }
    energy
}

#[test]
fn spring_edges_as_tuples() {
    let positions = vec![[0.0, 0.0], [1.1, 0.1], [0.9, 1.2]];
    let edges = [(0, 1), (1, 2), (2, 0)];
    let (value, g) = generated!(edge_energy_grad, edge_energy_pullback, edge_energy_grad_into; &positions, &edges);
    check_oracles(
        "edge_energy",
        &flat(&positions),
        value,
        &flat(&g),
        |q| {
            let mut r = Reader::new(q);
            edge_energy(&(0..3).map(|_| r.a()).collect::<Vec<[f64; 2]>>(), &edges)
        },
        |q| {
            let mut r = Reader::new(q);
            edge_energy_fd(&(0..3).map(|_| r.a()).collect::<Vec<[Fd; 2]>>(), &edges)
        },
        Tol::default(),
    );
}

/// Total variation of a signal over `windows(2)`, and a discrete derivative on sub-slices.
/// Today: "a `for` loop here iterates over a range ... or over the elements of an array, slice or
/// `Vec` ..." and "slicing with a range is not supported; index the elements, or pass the whole
/// array".
#[differentiate]
fn smoothness(x: &[f64]) -> f64 {
    let mut tv = 0.0;
    for w in x.windows(2) {
        tv += (w[1] - w[0]).powi(2);
    }
    tv + dot(&x[1..], &x[..x.len() - 1])
}

#[differentiate]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..a.len() {
        s += a[i] * b[i];
    }
    s
}

fn smoothness_fd(x: &[Fd]) -> Fd {
    let mut tv = c(0.0);
    for w in x.windows(2) {
        tv += (w[1] - w[0]).powi(2);
    }
    let mut d = c(0.0);
    for i in 1..x.len() {
        d += x[i] * x[i - 1];
    }
    tv + d
}

#[test]
fn windows_and_subslices() {
    let x = [0.3, -0.5, 0.8, 0.6, -0.2];
    let (value, g) = generated!(smoothness_grad, smoothness_pullback, smoothness_grad_into; &x);
    check_oracles(
        "smoothness",
        &x,
        value,
        &g,
        smoothness,
        smoothness_fd,
        Tol::default(),
    );
}

/// Ping-pong buffers for the heat equation, swapped with `std::mem::swap`.
/// Today: "references to this are not supported; pass the value".
#[differentiate(wrt(u0))]
fn heat_swap(u0: &[f64], r: f64, steps: usize) -> f64 {
    let n = u0.len();
    let mut u = u0.to_vec();
    let mut next = vec![0.0; n];
    for _ in 0..steps {
        next[0] = u[0];
        next[n - 1] = u[n - 1];
        for i in 1..n - 1 {
            next[i] = u[i] + r * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        }
        std::mem::swap(&mut u, &mut next);
    }
    u[n / 2] * u[n / 2]
}

fn heat_swap_fd(u0: &[Fd], r: f64, steps: usize) -> Fd {
    let n = u0.len();
    let mut u = u0.to_vec();
    let mut next = vec![c(0.0); n];
    for _ in 0..steps {
        next[0] = u[0];
        next[n - 1] = u[n - 1];
        for i in 1..n - 1 {
            next[i] = u[i] + r * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        }
        std::mem::swap(&mut u, &mut next);
    }
    u[n / 2] * u[n / 2]
}

#[test]
fn heat_equation_with_swapped_buffers() {
    let u0 = [0.0, 0.4, 1.0, 0.7, 0.3, 0.0];
    let (value, g) =
        generated!(heat_swap_grad, heat_swap_pullback, heat_swap_grad_into; &u0, 0.2, 10);
    check_oracles(
        "heat_swap",
        &u0,
        value,
        &g,
        |p| heat_swap(p, 0.2, 10),
        |p| heat_swap_fd(p, 0.2, 10),
        Tol::default(),
    );
}

/// Soft dynamic time warping over a local table of rows.
/// Today: "nested `Vec`s are not supported; use a flat `Vec` and index it `i * m + j`".
#[differentiate(wrt(a, b))]
fn soft_dtw(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    let (n, m) = (a.len(), b.len());
    let mut r = vec![vec![f64::INFINITY; m + 1]; n + 1];
    r[0][0] = 0.0;
    for i in 1..=n {
        for j in 1..=m {
            let cost = (a[i - 1] - b[j - 1]).powi(2);
            let (r0, r1, r2) = (r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]);
            let lowest = r0.min(r1).min(r2);
            let s = (-(r0 - lowest) / gamma).exp()
                + (-(r1 - lowest) / gamma).exp()
                + (-(r2 - lowest) / gamma).exp();
            r[i][j] = cost + lowest - gamma * s.ln();
        }
    }
    r[n][m]
}

fn soft_dtw_fd(a: &[Fd], b: &[Fd], gamma: f64) -> Fd {
    let (n, m) = (a.len(), b.len());
    let mut r = vec![vec![c(f64::INFINITY); m + 1]; n + 1];
    r[0][0] = c(0.0);
    for i in 1..=n {
        for j in 1..=m {
            let cost = (a[i - 1] - b[j - 1]).powi(2);
            let (r0, r1, r2) = (r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]);
            let lowest = r0.min(r1).min(r2);
            let s = (-(r0 - lowest) / gamma).exp()
                + (-(r1 - lowest) / gamma).exp()
                + (-(r2 - lowest) / gamma).exp();
            r[i][j] = cost + lowest - gamma * s.ln();
        }
    }
    r[n][m]
}

#[test]
fn soft_dtw_with_a_table_of_rows() {
    let a = [0.0, 0.5, 1.2, 0.8, 0.1];
    let b = [0.1, 0.9, 1.0, 0.3];
    let (value, (da, db)) =
        generated!(soft_dtw_grad, soft_dtw_pullback, soft_dtw_grad_into; &a, &b, 0.5);
    let mut p = a.to_vec();
    p.extend(b);
    let mut g = da.clone();
    g.extend(&db);
    check_oracles(
        "soft_dtw",
        &p,
        value,
        &g,
        |q| soft_dtw(&q[..5], &q[5..], 0.5),
        |q| soft_dtw_fd(&q[..5], &q[5..], 0.5),
        Tol::default(),
    );
}

/// A state struct stepped by a function returning the next state.
/// Today: "`#[differentiate]` needs a function that returns `f32` or `f64` (or a tuple, array or
/// `Vec` of them) ...", "struct expressions are not supported yet; until then use tuples",
/// "dereference `*` has no derivative rule ...", "field access `.x` has no derivative rule ...".
#[derive(Clone, Copy, Differentiable)]
struct State {
    x: f64,
    v: f64,
}

#[differentiate]
fn euler_step(s: &State, k: f64, dt: f64) -> State {
    State {
        x: s.x + dt * s.v,
        v: s.v - dt * k * s.x,
    }
}

#[differentiate]
fn oscillate(s0: &State, k: f64) -> f64 {
    let mut s = *s0;
    for _ in 0..10 {
        s = euler_step(&s, k, 0.1);
    }
    s.x * s.v
}

fn oscillate_fd(x0: Fd, v0: Fd, k: Fd) -> Fd {
    let (mut x, mut v) = (x0, v0);
    for _ in 0..10 {
        (x, v) = (x + 0.1 * v, v - 0.1 * k * x);
    }
    x * v
}

#[test]
fn state_struct_integrator() {
    let s0 = State { x: 1.0, v: 0.2 };
    let (value, (ds, dk)) =
        generated!(oscillate_grad, oscillate_pullback, oscillate_grad_into; &s0, 2.0);
    check_oracles(
        "oscillate",
        &[1.0, 0.2, 2.0],
        value,
        &[ds.x, ds.v, dk],
        |q| oscillate(&State { x: q[0], v: q[1] }, q[2]),
        |q| oscillate_fd(q[0], q[1], q[2]),
        Tol::default(),
    );
}

/// The median of a sample by a bubble sort written as clippy asks (`copy_from_slice`, `swap`).
/// Today: "method `copy_from_slice` has no derivative rule, ..." (and, with the copy written as
/// a loop, "method `swap` has no derivative rule, ...").
#[differentiate]
fn median_of_five(sample: &[f64; 5]) -> f64 {
    let mut s = [0.0; 5];
    s.copy_from_slice(sample);
    for i in 0..5 {
        for j in 0..4 - i {
            if s[j] > s[j + 1] {
                s.swap(j, j + 1);
            }
        }
    }
    s[2]
}

fn median_of_five_fd(sample: &[Fd; 5]) -> Fd {
    let mut s = *sample;
    for i in 0..5 {
        for j in 0..4 - i {
            if s[j] > s[j + 1] {
                s.swap(j, j + 1);
            }
        }
    }
    s[2]
}

#[test]
fn median_by_swaps() {
    let sample = [0.3, -1.2, 0.8, 2.5, 0.1];
    let (value, g) =
        generated!(median_of_five_grad, median_of_five_pullback, median_of_five_grad_into; &sample);
    assert_eq!(g, [1.0, 0.0, 0.0, 0.0, 0.0]);
    check_oracles(
        "median_of_five",
        &sample,
        value,
        &g,
        |q| median_of_five(&Reader::new(q).a()),
        |q| median_of_five_fd(&Reader::new(q).a()),
        Tol::default(),
    );
}

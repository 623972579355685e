//! Programs whose loops carry variables that start as one value, one later assigned a copy of
//! the other (`let mut x = x0; let mut prev = x0; .. prev = x;`): Newton's last step, Verlet and
//! heavy-ball from rest, an AR(2) process, a falling body's crossing time, per-point cube roots.
//! They used to give silently wrong values and gradients; each is checked against forward-mode
//! dual numbers and central differences.
#![allow(clippy::needless_range_loop)]
#![allow(unused_assignments)] // the copies are overwritten before they are read, as written

#[path = "programs/common.rs"]
mod common;

use autodiff_core::differentiate;
use common::{Fd, Tol, c, check_oracles, flat};

/// Newton's method for sqrt(2), reporting the last step (a convergence diagnostic).
#[differentiate]
fn newton_last_step(x0: f64) -> f64 {
    let mut x = x0;
    let mut prev = x0;
    for _ in 0..3 {
        prev = x;
        x = 0.5 * (x + 2.0 / x);
    }
    x - prev
}

fn newton_last_step_fd(x0: Fd) -> Fd {
    let mut x = x0;
    let mut prev = x0;
    for _ in 0..3 {
        prev = x;
        x = 0.5 * (x + 2.0 / x);
    }
    x - prev
}

#[test]
fn newton_last_step_size() {
    let (value, g) = generated!(newton_last_step_grad, newton_last_step_pullback,
        newton_last_step_grad_into; 1.3);
    check_oracles(
        "newton_last_step",
        &[1.3],
        value,
        &[g],
        |p| newton_last_step(p[0]),
        |p| newton_last_step_fd(p[0]),
        Tol::default(),
    );
}

/// Position Verlet for a harmonic oscillator started from rest: x_{-1} = x_0.
#[differentiate]
fn stormer_from_rest(x0: f64, omega: f64, dt: f64, steps: usize) -> f64 {
    let mut x_prev = x0;
    let mut x = x0;
    for _ in 0..steps {
        let x_next = 2.0 * x - x_prev - omega * omega * x * dt * dt;
        x_prev = x;
        x = x_next;
    }
    x
}

fn stormer_from_rest_fd(x0: Fd, omega: Fd, dt: Fd, steps: usize) -> Fd {
    let mut x_prev = x0;
    let mut x = x0;
    for _ in 0..steps {
        let x_next = 2.0 * x - x_prev - omega * omega * x * dt * dt;
        x_prev = x;
        x = x_next;
    }
    x
}

#[test]
fn stormer_verlet_from_rest() {
    let (value, g) = generated!(stormer_from_rest_grad, stormer_from_rest_pullback,
        stormer_from_rest_grad_into; 0.8, 2.0, 0.05, 30);
    check_oracles(
        "stormer_from_rest",
        &[0.8, 2.0, 0.05],
        value,
        &flat(&g),
        |p| stormer_from_rest(p[0], p[1], p[2], 30),
        |p| stormer_from_rest_fd(p[0], p[1], p[2], 30),
        Tol::default(),
    );
}

/// Polyak's heavy-ball method on f(x) = x^4/4 - x, started from rest, returning f at the end.
#[differentiate]
fn heavy_ball(x0: f64, lr: f64, momentum: f64) -> f64 {
    let mut x = x0;
    let mut x_prev = x0;
    for _ in 0..20 {
        let grad = x * x * x - 1.0;
        let next = x - lr * grad + momentum * (x - x_prev);
        x_prev = x;
        x = next;
    }
    0.25 * x.powi(4) - x
}

fn heavy_ball_fd(x0: Fd, lr: Fd, momentum: Fd) -> Fd {
    let mut x = x0;
    let mut x_prev = x0;
    for _ in 0..20 {
        let grad = x * x * x - 1.0;
        let next = x - lr * grad + momentum * (x - x_prev);
        x_prev = x;
        x = next;
    }
    0.25 * x.powi(4) - x
}

#[test]
fn heavy_ball_from_rest() {
    let (value, g) = generated!(heavy_ball_grad, heavy_ball_pullback, heavy_ball_grad_into;
        0.2, 0.1, 0.5);
    check_oracles(
        "heavy_ball",
        &[0.2, 0.1, 0.5],
        value,
        &flat(&g),
        |p| heavy_ball(p[0], p[1], p[2]),
        |p| heavy_ball_fd(p[0], p[1], p[2]),
        Tol::default(),
    );
}

/// An AR(2) process from a stationary start y_{-1} = y_0 = mean, driven by given shocks; the
/// squared error against observations. The lag shift is a tuple assignment.
#[differentiate(wrt(mean, phi1, phi2))]
fn ar2_sse(mean: f64, phi1: f64, phi2: f64, shocks: &[f64], observed: &[f64]) -> f64 {
    let mut y_lag = mean;
    let mut y = mean;
    let mut sse = 0.0;
    for t in 0..shocks.len() {
        let next = mean + phi1 * (y - mean) + phi2 * (y_lag - mean) + shocks[t];
        (y_lag, y) = (y, next);
        sse += (y - observed[t]).powi(2);
    }
    sse
}

fn ar2_sse_fd(mean: Fd, phi1: Fd, phi2: Fd, shocks: &[f64], observed: &[f64]) -> Fd {
    let mut y_lag = mean;
    let mut y = mean;
    let mut sse = c(0.0);
    for t in 0..shocks.len() {
        let next = mean + phi1 * (y - mean) + phi2 * (y_lag - mean) + shocks[t];
        (y_lag, y) = (y, next);
        sse += (y - observed[t]).powi(2);
    }
    sse
}

#[test]
fn ar2_from_stationary_start() {
    let shocks: Vec<f64> = (0..12).map(|t| 0.3 * (t as f64 * 1.7).sin()).collect();
    let observed: Vec<f64> = (0..12)
        .map(|t| 1.0 + 0.5 * (t as f64 * 0.6).cos())
        .collect();
    let (value, g) = generated!(ar2_sse_grad, ar2_sse_pullback, ar2_sse_grad_into;
        1.1, 0.5, 0.2, &shocks, &observed);
    check_oracles(
        "ar2_sse",
        &[1.1, 0.5, 0.2],
        value,
        &flat(&g),
        |p| ar2_sse(p[0], p[1], p[2], &shocks, &observed),
        |p| ar2_sse_fd(p[0], p[1], p[2], &shocks, &observed),
        Tol::default(),
    );
}

/// A falling body stepped until it passes the ground, the crossing time interpolated between
/// the last two heights; the previous height starts as a copy of the height.
#[differentiate]
fn fall_time(height: f64, v0: f64, dt: f64) -> f64 {
    let mut y = height;
    let mut v = v0;
    let mut t = 0.0;
    let mut prev_y = y;
    loop {
        prev_y = y;
        v -= 9.81 * dt;
        y += v * dt;
        t += dt;
        if y < 0.0 {
            break;
        }
    }
    t - dt * y / (y - prev_y)
}

fn fall_time_fd(height: Fd, v0: Fd, dt: Fd) -> Fd {
    let mut y = height;
    let mut v = v0;
    let mut t = c(0.0);
    let mut prev_y = y;
    loop {
        prev_y = y;
        v -= 9.81 * dt;
        y += v * dt;
        t += dt;
        if y < 0.0 {
            break;
        }
    }
    t - dt * y / (y - prev_y)
}

#[test]
fn falling_body_crossing_time() {
    let (value, g) = generated!(fall_time_grad, fall_time_pullback, fall_time_grad_into;
        2.0, 0.5, 0.01);
    check_oracles(
        "fall_time",
        &[2.0, 0.5, 0.01],
        value,
        &flat(&g),
        |p| fall_time(p[0], p[1], p[2]),
        |p| fall_time_fd(p[0], p[1], p[2]),
        Tol {
            fd: 1e-6,
            ..Tol::default()
        },
    );
}

/// For each data point, a few Newton steps for the cube root started at the point itself,
/// summing the roots and the last steps (an error estimate); the copies sit in an inner loop.
#[differentiate]
fn cube_roots_with_error(xs: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 0..xs.len() {
        let x = xs[i];
        let mut r = x;
        let mut previous = x;
        for _ in 0..4 {
            previous = r;
            r -= (r * r * r - x) / (3.0 * r * r);
        }
        total += r + 10.0 * (r - previous);
    }
    total
}

fn cube_roots_with_error_fd(xs: &[Fd]) -> Fd {
    let mut total = c(0.0);
    for i in 0..xs.len() {
        let x = xs[i];
        let mut r = x;
        let mut previous = x;
        for _ in 0..4 {
            previous = r;
            r -= (r * r * r - x) / (3.0 * r * r);
        }
        total += r + 10.0 * (r - previous);
    }
    total
}

#[test]
fn cube_roots_with_error_estimate() {
    let xs = [2.0, 3.5, 0.7];
    let (value, g) = generated!(cube_roots_with_error_grad, cube_roots_with_error_pullback,
        cube_roots_with_error_grad_into; &xs);
    check_oracles(
        "cube_roots_with_error",
        &xs,
        value,
        &g,
        cube_roots_with_error,
        cube_roots_with_error_fd,
        Tol::default(),
    );
}

//! The same class of programs as `programs_carried_copies.rs` with the copy in a tuple `let`, a
//! `while` loop or a branch, whose generated code used to fail to compile (`cannot find value`).
#![allow(clippy::needless_range_loop)]
#![allow(unused_assignments)]

#[path = "programs/common.rs"]
mod common;

use autodiff_core::differentiate;
use common::{Fd, Tol, c, check_oracles, flat};

/// A projectile with quadratic drag stepped until it hits the ground, the range interpolated
/// between the last two states, the previous state started as a copy of the state.
/// Today: cannot find value `py` in this scope.
#[differentiate]
fn projectile_range(speed: f64, angle: f64, drag: f64, height: f64, dt: f64) -> f64 {
    let g = 9.81;
    let (mut x, mut y) = (0.0, height);
    let mut vx = speed * angle.cos();
    let mut vy = speed * angle.sin();
    let (mut px, mut py) = (x, y);
    loop {
        px = x;
        py = y;
        let v = (vx * vx + vy * vy).sqrt();
        vx -= drag * v * vx * dt;
        vy -= (g + drag * v * vy) * dt;
        x += vx * dt;
        y += vy * dt;
        if y < 0.0 {
            break;
        }
    }
    px + (x - px) * py / (py - y)
}

fn projectile_range_fd(speed: Fd, angle: Fd, drag: Fd, height: Fd, dt: Fd) -> Fd {
    let g = 9.81;
    let (mut x, mut y) = (c(0.0), height);
    let mut vx = speed * angle.cos();
    let mut vy = speed * angle.sin();
    let (mut px, mut py) = (x, y);
    loop {
        px = x;
        py = y;
        let v = (vx * vx + vy * vy).sqrt();
        vx -= drag * v * vx * dt;
        vy -= (g + drag * v * vy) * dt;
        x += vx * dt;
        y += vy * dt;
        if y < 0.0 {
            break;
        }
    }
    px + (x - px) * py / (py - y)
}

#[test]
fn projectile_with_drag_range() {
    let x = [12.0, 0.7, 0.02, 1.5, 0.01];
    let (value, g) = generated!(projectile_range_grad, projectile_range_pullback,
        projectile_range_grad_into; x[0], x[1], x[2], x[3], x[4]);
    check_oracles(
        "projectile_range",
        &x,
        value,
        &flat(&g),
        |p| projectile_range(p[0], p[1], p[2], p[3], p[4]),
        |p| projectile_range_fd(p[0], p[1], p[2], p[3], p[4]),
        Tol {
            fd: 1e-6,
            ..Tol::default()
        },
    );
}

/// The Dottie number by fixed-point iteration in a `while` loop with a tolerance, returning the
/// last iterate plus its last change. Today: cannot find value `prev` in this scope.
#[differentiate]
fn cosine_iteration(a: f64, x0: f64) -> f64 {
    let mut x = x0;
    let mut prev = x0;
    let mut iterations = 0;
    while iterations < 100 {
        prev = x;
        x = (a * x).cos();
        iterations += 1;
        if (x - prev).abs() < 1e-12 {
            break;
        }
    }
    x + (x - prev)
}

fn cosine_iteration_fd(a: Fd, x0: Fd) -> Fd {
    let mut x = x0;
    let mut prev = x0;
    let mut iterations = 0;
    while iterations < 100 {
        prev = x;
        x = (a * x).cos();
        iterations += 1;
        if (x - prev).abs() < 1e-12 {
            break;
        }
    }
    x + (x - prev)
}

#[test]
fn cosine_fixed_point_while() {
    let (value, g) = generated!(cosine_iteration_grad, cosine_iteration_pullback,
        cosine_iteration_grad_into; 0.8, 0.5);
    check_oracles(
        "cosine_iteration",
        &[0.8, 0.5],
        value,
        &flat(&g),
        |p| cosine_iteration(p[0], p[1]),
        |p| cosine_iteration_fd(p[0], p[1]),
        Tol {
            dual: 1e-10,
            fd: 1e-7,
            ..Tol::default()
        },
    );
}

/// Gradient descent on a double well keeping the best point seen, started from the start point.
/// Today: cannot find value `best` in this scope.
#[differentiate]
fn best_point(x0: f64, lr: f64) -> f64 {
    let mut x = x0;
    let mut best = x0;
    let mut best_value = (x0 * x0 - 1.0).powi(2);
    for _ in 0..15 {
        let value = (x * x - 1.0).powi(2);
        if value < best_value {
            best_value = value;
            best = x;
        }
        x -= lr * 4.0 * x * (x * x - 1.0);
    }
    best
}

fn best_point_fd(x0: Fd, lr: Fd) -> Fd {
    let mut x = x0;
    let mut best = x0;
    let mut best_value = (x0 * x0 - 1.0).powi(2);
    for _ in 0..15 {
        let value = (x * x - 1.0).powi(2);
        if value < best_value {
            best_value = value;
            best = x;
        }
        x -= lr * 4.0 * x * (x * x - 1.0);
    }
    best
}

#[test]
fn best_point_of_descent() {
    let (value, g) = generated!(best_point_grad, best_point_pullback, best_point_grad_into;
        0.3, 0.05);
    check_oracles(
        "best_point",
        &[0.3, 0.05],
        value,
        &flat(&g),
        |p| best_point(p[0], p[1]),
        |p| best_point_fd(p[0], p[1]),
        Tol::default(),
    );
}

//! Sphere tracing onto a box's face: the last evaluation is on the surface, where the box's
//! exterior distance `sqrt(qx² + qy²)` has an infinite derivative, but only the stopping test
//! reads it. A zero adjoint through it used to make the whole gradient NaN.

#[path = "programs/common.rs"]
mod common;

use autodiff_core::differentiate;
use common::{Fd, Tol, assert_close, c, check_oracles, flat};
use std::f64::consts::PI;

#[differentiate]
fn box_sdf(x: f64, y: f64, half: f64) -> f64 {
    let qx = (x - 3.0).abs() - half;
    let qy = y.abs() - half;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    let inside = qx.max(qy).min(0.0);
    outside + inside
}

#[differentiate]
fn march(ox: f64, oy: f64, angle: f64, half: f64) -> f64 {
    let (dx, dy) = (angle.cos(), angle.sin());
    let mut t = 0.0;
    let mut steps = 0;
    while steps < 100 {
        let d = box_sdf(ox + t * dx, oy + t * dy, half);
        if d < 1e-12 {
            break;
        }
        t += d;
        steps += 1;
    }
    t
}

fn box_sdf_fd(x: Fd, y: Fd, half: Fd) -> Fd {
    let qx = (x - 3.0).abs() - half;
    let qy = y.abs() - half;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    let inside = qx.max(qy).min(0.0);
    outside + inside
}

fn march_fd(ox: Fd, oy: Fd, angle: Fd, half: Fd) -> Fd {
    let (dx, dy) = (angle.cos(), angle.sin());
    let mut t = c(0.0);
    let mut steps = 0;
    while steps < 100 {
        let d = box_sdf_fd(ox + t * dx, oy + t * dy, half);
        if d < 1e-12 {
            break;
        }
        t += d;
        steps += 1;
    }
    t
}

#[test]
fn sphere_tracing_onto_a_face() {
    // From (7, 0.3) toward -x: the face x = 3.5 at t = 3.5; dt/dox = 1, dt/dhalf = -1.
    let x = [7.0, 0.3, PI, 0.5];
    let (value, g) =
        generated!(march_grad, march_pullback, march_grad_into; x[0], x[1], x[2], x[3]);
    assert_close(value, 3.5, 1e-12, "hit distance");
    assert_close(g.0, 1.0, 1e-9, "dt/dox");
    assert_close(g.3, -1.0, 1e-9, "dt/dhalf");
    check_oracles(
        "march",
        &x,
        value,
        &flat(&g),
        |p| march(p[0], p[1], p[2], p[3]),
        |p| march_fd(p[0], p[1], p[2], p[3]),
        Tol {
            fd: 1e-6,
            ..Tol::default()
        },
    );
}

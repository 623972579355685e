//! Programs from physics and ODE solving, written as practitioners write them, differentiated
//! with `#[differentiate]` and checked against forward-mode dual numbers, central differences and
//! closed forms (see `programs/common.rs`).
#![allow(clippy::needless_range_loop)] // index loops are how this numerical code is written
#![allow(clippy::too_many_arguments)]

#[path = "programs/common.rs"]
mod common;

use autodiff_core::{Differentiable, differentiate};
use common::{Fd, Reader, Tol, assert_close, c, check_oracles, flat};

// ------------------------------------------------------------------------------------------
// Velocity Verlet for an anharmonic (Duffing) oscillator: the energy after `steps` steps.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn duffing_verlet(x0: f64, v0: f64, k: f64, beta: f64, dt: f64, steps: usize) -> f64 {
    let mut x = x0;
    let mut v = v0;
    let mut a = -k * x - beta * x * x * x;
    for _ in 0..steps {
        x += v * dt + 0.5 * a * dt * dt;
        let a_new = -k * x - beta * x.powi(3);
        v += 0.5 * (a + a_new) * dt;
        a = a_new;
    }
    0.5 * v * v + 0.5 * k * x * x + 0.25 * beta * x.powi(4)
}

fn duffing_verlet_fd(x0: Fd, v0: Fd, k: Fd, beta: Fd, dt: Fd, steps: usize) -> Fd {
    let mut x = x0;
    let mut v = v0;
    let mut a = -k * x - beta * x * x * x;
    for _ in 0..steps {
        x += v * dt + 0.5 * a * dt * dt;
        let a_new = -k * x - beta * x.powi(3);
        v += 0.5 * (a + a_new) * dt;
        a = a_new;
    }
    0.5 * v * v + 0.5 * k * x * x + 0.25 * beta * x.powi(4)
}

#[test]
fn duffing_velocity_verlet() {
    // From rest and moving; the energy is nearly conserved, its gradient is not trivial.
    for (x0, v0) in [(1.0, 0.0), (0.7, -0.3)] {
        let (k, beta, dt) = (2.0, 0.3, 0.05);
        let (value, g) = generated!(duffing_verlet_grad, duffing_verlet_pullback,
            duffing_verlet_grad_into; x0, v0, k, beta, dt, 40);
        check_oracles(
            "duffing_verlet",
            &[x0, v0, k, beta, dt],
            value,
            &flat(&g),
            |p| duffing_verlet(p[0], p[1], p[2], p[3], p[4], 40),
            |p| duffing_verlet_fd(p[0], p[1], p[2], p[3], p[4], 40),
            Tol::default(),
        );
    }
}

// ------------------------------------------------------------------------------------------
// Position (Störmer) Verlet, the position before the first from an initial velocity (started
// from rest with v0 = 0). Written with `x_prev = x0` for a start from rest, it computes a wrong
// value: tests/pending/programs_carried_copies.rs.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn stormer(x0: f64, v0: f64, omega: f64, dt: f64, steps: usize) -> f64 {
    let mut x_prev = x0 - v0 * dt;
    let mut x = x0;
    for _ in 0..steps {
        let x_next = 2.0 * x - x_prev - omega * omega * x * dt * dt;
        x_prev = x;
        x = x_next;
    }
    x
}

fn stormer_fd(x0: Fd, v0: Fd, omega: Fd, dt: Fd, steps: usize) -> Fd {
    let mut x_prev = x0 - v0 * dt;
    let mut x = x0;
    for _ in 0..steps {
        let x_next = 2.0 * x - x_prev - omega * omega * x * dt * dt;
        x_prev = x;
        x = x_next;
    }
    x
}

// ------------------------------------------------------------------------------------------
// A pendulum with damping, RK4, the right-hand side a differentiated function returning a tuple,
// called four times per step.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn pendulum_rhs(theta: f64, omega: f64, g_over_l: f64, damping: f64) -> (f64, f64) {
    (omega, -g_over_l * theta.sin() - damping * omega)
}

#[differentiate]
fn pendulum_rk4(
    theta0: f64,
    omega0: f64,
    g_over_l: f64,
    damping: f64,
    h: f64,
    steps: usize,
) -> f64 {
    let mut theta = theta0;
    let mut omega = omega0;
    for _ in 0..steps {
        let (k1t, k1w) = pendulum_rhs(theta, omega, g_over_l, damping);
        let (k2t, k2w) = pendulum_rhs(
            theta + 0.5 * h * k1t,
            omega + 0.5 * h * k1w,
            g_over_l,
            damping,
        );
        let (k3t, k3w) = pendulum_rhs(
            theta + 0.5 * h * k2t,
            omega + 0.5 * h * k2w,
            g_over_l,
            damping,
        );
        let (k4t, k4w) = pendulum_rhs(theta + h * k3t, omega + h * k3w, g_over_l, damping);
        theta += h / 6.0 * (k1t + 2.0 * k2t + 2.0 * k3t + k4t);
        omega += h / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w);
    }
    // Energy per unit mass and length squared.
    0.5 * omega * omega + g_over_l * (1.0 - theta.cos())
}

fn pendulum_rhs_fd(theta: Fd, omega: Fd, g_over_l: Fd, damping: Fd) -> (Fd, Fd) {
    (omega, -g_over_l * theta.sin() - damping * omega)
}

fn pendulum_rk4_fd(theta0: Fd, omega0: Fd, g_over_l: Fd, damping: Fd, h: Fd, steps: usize) -> Fd {
    let mut theta = theta0;
    let mut omega = omega0;
    for _ in 0..steps {
        let (k1t, k1w) = pendulum_rhs_fd(theta, omega, g_over_l, damping);
        let (k2t, k2w) = pendulum_rhs_fd(
            theta + 0.5 * h * k1t,
            omega + 0.5 * h * k1w,
            g_over_l,
            damping,
        );
        let (k3t, k3w) = pendulum_rhs_fd(
            theta + 0.5 * h * k2t,
            omega + 0.5 * h * k2w,
            g_over_l,
            damping,
        );
        let (k4t, k4w) = pendulum_rhs_fd(theta + h * k3t, omega + h * k3w, g_over_l, damping);
        theta += h / 6.0 * (k1t + 2.0 * k2t + 2.0 * k3t + k4t);
        omega += h / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w);
    }
    0.5 * omega * omega + g_over_l * (1.0 - theta.cos())
}

#[test]
fn damped_pendulum_rk4() {
    for (theta0, omega0) in [(1.2, 0.0), (-0.4, 2.0)] {
        let (gl, damping, h) = (9.81, 0.15, 0.02);
        let (value, g) = generated!(pendulum_rk4_grad, pendulum_rk4_pullback,
            pendulum_rk4_grad_into; theta0, omega0, gl, damping, h, 60);
        check_oracles(
            "pendulum_rk4",
            &[theta0, omega0, gl, damping, h],
            value,
            &flat(&g),
            |p| pendulum_rk4(p[0], p[1], p[2], p[3], p[4], 60),
            |p| pendulum_rk4_fd(p[0], p[1], p[2], p[3], p[4], 60),
            Tol::default(),
        );
    }
    // The tuple-returning right-hand side through its pullback: d/dtheta of the second output.
    let (dt, dw, dgl, dd) = pendulum_rhs_pullback(0.3, 1.1, 9.81, 0.2, (0.0, 1.0));
    assert_close(dt, -9.81 * 0.3_f64.cos(), 1e-15, "d rhs / d theta");
    assert_close(dw, -0.2, 1e-15, "d rhs / d omega");
    assert_close(dgl, -(0.3_f64.sin()), 1e-15, "d rhs / d g_over_l");
    assert_close(dd, -1.1, 1e-15, "d rhs / d damping");
}

// ------------------------------------------------------------------------------------------
// Three bodies in the plane: leapfrog steps with an acceleration function returning a matrix,
// then the total energy (kinetic plus pairwise potential, nested loop over pairs).
// ------------------------------------------------------------------------------------------

const SOFTENING: f64 = 1e-2;

/// The acceleration of body `i`. (Returning all of them, as a `[[f64; 2]; 3]` matrix or a
/// tuple of arrays, the caller's reads do not compile: tests/pending/programs_carried_copies.rs.)
#[differentiate(wrt(pos, mass))]
fn acceleration(pos: &[[f64; 2]; 3], mass: &[f64; 3], i: usize) -> (f64, f64) {
    let mut ax = 0.0;
    let mut ay = 0.0;
    for j in 0..3 {
        if i == j {
            continue;
        }
        let dx = pos[j][0] - pos[i][0];
        let dy = pos[j][1] - pos[i][1];
        let r2 = dx * dx + dy * dy + SOFTENING;
        let inv_r3 = 1.0 / (r2 * r2.sqrt());
        ax += mass[j] * dx * inv_r3;
        ay += mass[j] * dy * inv_r3;
    }
    (ax, ay)
}

#[differentiate]
fn total_energy(pos: &[[f64; 2]; 3], vel: &[[f64; 2]; 3], mass: &[f64; 3]) -> f64 {
    let mut kinetic = 0.0;
    for i in 0..3 {
        kinetic += 0.5 * mass[i] * (vel[i][0] * vel[i][0] + vel[i][1] * vel[i][1]);
    }
    let mut potential = 0.0;
    for i in 0..3 {
        for j in i + 1..3 {
            let dx = pos[j][0] - pos[i][0];
            let dy = pos[j][1] - pos[i][1];
            potential -= mass[i] * mass[j] / (dx * dx + dy * dy + SOFTENING).sqrt();
        }
    }
    kinetic + potential
}

#[differentiate]
fn three_body_energy(
    pos0: [[f64; 2]; 3],
    vel0: [[f64; 2]; 3],
    mass: [f64; 3],
    dt: f64,
    steps: usize,
) -> f64 {
    let mut pos = pos0;
    let mut vel = vel0;
    for _ in 0..steps {
        // Kick and drift, then kick. (Carrying the accelerations from one step to the next, as
        // one would to save force evaluations, does not compile:
        // tests/pending/programs_carried_copies.rs.)
        for i in 0..3 {
            let (ax, ay) = acceleration(&pos, &mass, i);
            vel[i][0] += 0.5 * dt * ax;
            vel[i][1] += 0.5 * dt * ay;
        }
        for i in 0..3 {
            for d in 0..2 {
                pos[i][d] += dt * vel[i][d];
            }
        }
        for i in 0..3 {
            let (ax, ay) = acceleration(&pos, &mass, i);
            vel[i][0] += 0.5 * dt * ax;
            vel[i][1] += 0.5 * dt * ay;
        }
    }
    total_energy(&pos, &vel, &mass)
}

type P3<T> = [[T; 2]; 3];

fn acceleration_fd(pos: &P3<Fd>, mass: &[Fd; 3], i: usize) -> (Fd, Fd) {
    let mut ax = c(0.0);
    let mut ay = c(0.0);
    for j in 0..3 {
        if i == j {
            continue;
        }
        let dx = pos[j][0] - pos[i][0];
        let dy = pos[j][1] - pos[i][1];
        let r2 = dx * dx + dy * dy + SOFTENING;
        let inv_r3 = 1.0 / (r2 * r2.sqrt());
        ax += mass[j] * dx * inv_r3;
        ay += mass[j] * dy * inv_r3;
    }
    (ax, ay)
}

fn total_energy_fd(pos: &P3<Fd>, vel: &P3<Fd>, mass: &[Fd; 3]) -> Fd {
    let mut kinetic = c(0.0);
    for i in 0..3 {
        kinetic += 0.5 * mass[i] * (vel[i][0] * vel[i][0] + vel[i][1] * vel[i][1]);
    }
    let mut potential = c(0.0);
    for i in 0..3 {
        for j in i + 1..3 {
            let dx = pos[j][0] - pos[i][0];
            let dy = pos[j][1] - pos[i][1];
            potential -= mass[i] * mass[j] / (dx * dx + dy * dy + SOFTENING).sqrt();
        }
    }
    kinetic + potential
}

fn three_body_energy_fd(pos0: P3<Fd>, vel0: P3<Fd>, mass: [Fd; 3], dt: Fd, steps: usize) -> Fd {
    let mut pos = pos0;
    let mut vel = vel0;
    for _ in 0..steps {
        for i in 0..3 {
            let (ax, ay) = acceleration_fd(&pos, &mass, i);
            vel[i][0] += 0.5 * dt * ax;
            vel[i][1] += 0.5 * dt * ay;
        }
        for i in 0..3 {
            for d in 0..2 {
                pos[i][d] += dt * vel[i][d];
            }
        }
        for i in 0..3 {
            let (ax, ay) = acceleration_fd(&pos, &mass, i);
            vel[i][0] += 0.5 * dt * ax;
            vel[i][1] += 0.5 * dt * ay;
        }
    }
    total_energy_fd(&pos, &vel, &mass)
}

#[test]
fn three_body_leapfrog_energy() {
    let pos = [[1.0, 0.0], [-0.5, 0.8], [-0.4, -0.9]];
    let vel = [[0.0, 0.5], [-0.4, -0.2], [0.35, -0.3]];
    let mass = [1.0, 0.8, 1.2];
    let dt = 0.01;
    let (value, g) = generated!(three_body_energy_grad, three_body_energy_pullback,
        three_body_energy_grad_into; pos, vel, mass, dt, 25);
    let mut x = flat(&pos);
    x.extend(flat(&vel));
    x.extend(mass);
    x.push(dt);
    check_oracles(
        "three_body_energy",
        &x,
        value,
        &flat(&g),
        |p| {
            let mut r = Reader::new(p);
            let v = three_body_energy(r.m(), r.m(), r.a(), r.s(), 25);
            r.done();
            v
        },
        |p| {
            let mut r = Reader::new(p);
            three_body_energy_fd(r.m(), r.m(), r.a(), r.s(), 25)
        },
        Tol {
            dual: 1e-11,
            ..Tol::default()
        },
    );
    // Zero steps: the energy's gradient in the velocities is the momentum.
    let (_, (_, dvel, _, _)) = three_body_energy_grad(pos, vel, mass, dt, 0);
    for i in 0..3 {
        for d in 0..2 {
            assert_close(dvel[i][d], mass[i] * vel[i][d], 1e-15, "momentum");
        }
    }
}

// ------------------------------------------------------------------------------------------
// A spring–mass chain: the chain is a struct with a method for its energy; the dynamics
// (semi-implicit Euler with damping, Vec state, boundary branches) call the method at the end.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Chain {
    stiffness: Vec<f64>,
    rest_length: f64,
    #[differentiable(skip)]
    fixed_left: bool,
}

impl Chain {
    #[differentiate(wrt(self, x))]
    fn energy(&self, x: &[f64]) -> f64 {
        let mut e = 0.0;
        if self.fixed_left {
            e += 0.5 * self.stiffness[0] * (x[0] - self.rest_length).powi(2);
        }
        for i in 1..x.len() {
            let stretch = x[i] - x[i - 1] - self.rest_length;
            e += 0.5 * self.stiffness[i] * stretch * stretch;
        }
        e
    }
}

#[differentiate(wrt(chain, x0))]
fn chain_settle(chain: &Chain, x0: &[f64], damping: f64, dt: f64, steps: usize) -> f64 {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut v = vec![0.0; n];
    for _ in 0..steps {
        for i in 0..n {
            let mut force = 0.0;
            if i == 0 && chain.fixed_left {
                force -= chain.stiffness[0] * (x[0] - chain.rest_length);
            }
            if i > 0 {
                force -= chain.stiffness[i] * (x[i] - x[i - 1] - chain.rest_length);
            }
            if i + 1 < n {
                force += chain.stiffness[i + 1] * (x[i + 1] - x[i] - chain.rest_length);
            }
            v[i] = (1.0 - damping * dt) * v[i] + dt * force;
        }
        for i in 0..n {
            x[i] += dt * v[i];
        }
    }
    chain.energy(&x)
}

fn chain_energy_fd(stiffness: &[Fd], rest_length: Fd, fixed_left: bool, x: &[Fd]) -> Fd {
    let mut e = c(0.0);
    if fixed_left {
        e += 0.5 * stiffness[0] * (x[0] - rest_length).powi(2);
    }
    for i in 1..x.len() {
        let stretch = x[i] - x[i - 1] - rest_length;
        e += 0.5 * stiffness[i] * stretch * stretch;
    }
    e
}

fn chain_settle_fd(
    stiffness: &[Fd],
    rest_length: Fd,
    fixed_left: bool,
    x0: &[Fd],
    damping: f64,
    dt: f64,
    steps: usize,
) -> Fd {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut v = vec![c(0.0); n];
    for _ in 0..steps {
        for i in 0..n {
            let mut force = c(0.0);
            if i == 0 && fixed_left {
                force -= stiffness[0] * (x[0] - rest_length);
            }
            if i > 0 {
                force -= stiffness[i] * (x[i] - x[i - 1] - rest_length);
            }
            if i + 1 < n {
                force += stiffness[i + 1] * (x[i + 1] - x[i] - rest_length);
            }
            v[i] = (1.0 - damping * dt) * v[i] + dt * force;
        }
        for i in 0..n {
            x[i] += dt * v[i];
        }
    }
    chain_energy_fd(stiffness, rest_length, fixed_left, &x)
}

#[test]
fn spring_chain_settles() {
    for fixed_left in [true, false] {
        let chain = Chain {
            stiffness: vec![3.0, 2.0, 4.0, 1.5, 2.5],
            rest_length: 1.0,
            fixed_left,
        };
        let x0 = [1.3, 1.9, 3.4, 4.1, 5.6];
        let (value, (dchain, dx0)) = generated!(chain_settle_grad, chain_settle_pullback,
            chain_settle_grad_into; &chain, &x0, 0.8, 0.05, 30);
        let mut x = chain.stiffness.clone();
        x.push(chain.rest_length);
        x.extend(x0);
        let mut g = flat(&dchain);
        g.extend(&dx0);
        assert!(dchain.fixed_left == fixed_left, "skipped field copied");
        check_oracles(
            "chain_settle",
            &x,
            value,
            &g,
            |p| {
                let mut r = Reader::new(p);
                let chain = Chain {
                    stiffness: r.v(5),
                    rest_length: r.s(),
                    fixed_left,
                };
                let x0 = r.v(5);
                chain_settle(&chain, &x0, 0.8, 0.05, 30)
            },
            |p| chain_settle_fd(&p[0..5], p[5], fixed_left, &p[6..11], 0.8, 0.05, 30),
            Tol::default(),
        );
        // The method alone against its closed form: dE/dx_i is the net spring force's negative.
        let (_, (_, dx)) = chain.energy_grad(&x0);
        let k = &chain.stiffness;
        for i in 0..5 {
            let mut expected = 0.0;
            if i == 0 && fixed_left {
                expected += k[0] * (x0[0] - 1.0);
            }
            if i > 0 {
                expected += k[i] * (x0[i] - x0[i - 1] - 1.0);
            }
            if i < 4 {
                expected -= k[i + 1] * (x0[i + 1] - x0[i] - 1.0);
            }
            assert_close(dx[i], expected, 1e-14, "chain force");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Lotka–Volterra by RK4, parameters in a struct passed to the right-hand side; the squared error
// against observations taken every `every` steps (an integer branch in the loop).
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct LotkaVolterra {
    alpha: f64,
    beta: f64,
    delta: f64,
    gamma: f64,
}

#[differentiate]
fn lv_rhs(p: &LotkaVolterra, prey: f64, predator: f64) -> (f64, f64) {
    let dprey = p.alpha * prey - p.beta * prey * predator;
    let dpred = p.delta * prey * predator - p.gamma * predator;
    (dprey, dpred)
}

#[differentiate(wrt(p, prey0, predator0))]
fn lv_fit_error(
    p: &LotkaVolterra,
    prey0: f64,
    predator0: f64,
    observed: &[[f64; 2]],
    h: f64,
    every: usize,
) -> f64 {
    let mut x = prey0;
    let mut y = predator0;
    let mut error = 0.0;
    let mut k = 0;
    for step in 1..=observed.len() * every {
        let (a1, b1) = lv_rhs(p, x, y);
        let (a2, b2) = lv_rhs(p, x + 0.5 * h * a1, y + 0.5 * h * b1);
        let (a3, b3) = lv_rhs(p, x + 0.5 * h * a2, y + 0.5 * h * b2);
        let (a4, b4) = lv_rhs(p, x + h * a3, y + h * b3);
        x += h * (a1 + 2.0 * a2 + 2.0 * a3 + a4) / 6.0;
        y += h * (b1 + 2.0 * b2 + 2.0 * b3 + b4) / 6.0;
        if step % every == 0 {
            let ex = x - observed[k][0];
            let ey = y - observed[k][1];
            error += ex * ex + ey * ey;
            k += 1;
        }
    }
    error
}

fn lv_rhs_fd(p: &[Fd; 4], prey: Fd, predator: Fd) -> (Fd, Fd) {
    let dprey = p[0] * prey - p[1] * prey * predator;
    let dpred = p[2] * prey * predator - p[3] * predator;
    (dprey, dpred)
}

fn lv_fit_error_fd(
    p: &[Fd; 4],
    prey0: Fd,
    predator0: Fd,
    observed: &[[f64; 2]],
    h: f64,
    every: usize,
) -> Fd {
    let mut x = prey0;
    let mut y = predator0;
    let mut error = c(0.0);
    let mut k = 0;
    for step in 1..=observed.len() * every {
        let (a1, b1) = lv_rhs_fd(p, x, y);
        let (a2, b2) = lv_rhs_fd(p, x + 0.5 * h * a1, y + 0.5 * h * b1);
        let (a3, b3) = lv_rhs_fd(p, x + 0.5 * h * a2, y + 0.5 * h * b2);
        let (a4, b4) = lv_rhs_fd(p, x + h * a3, y + h * b3);
        x += h * (a1 + 2.0 * a2 + 2.0 * a3 + a4) / 6.0;
        y += h * (b1 + 2.0 * b2 + 2.0 * b3 + b4) / 6.0;
        if step % every == 0 {
            let ex = x - observed[k][0];
            let ey = y - observed[k][1];
            error += ex * ex + ey * ey;
            k += 1;
        }
    }
    error
}

#[test]
fn lotka_volterra_fit() {
    let p = LotkaVolterra {
        alpha: 1.1,
        beta: 0.4,
        delta: 0.1,
        gamma: 0.4,
    };
    let observed = [[10.5, 5.2], [11.0, 6.9], [9.0, 8.8], [6.1, 9.5], [4.2, 8.6]];
    let (prey0, predator0) = (10.0, 5.0);
    let (value, (dp, dprey, dpred)) = generated!(lv_fit_error_grad, lv_fit_error_pullback,
        lv_fit_error_grad_into; &p, prey0, predator0, &observed, 0.05, 4);
    let mut g = flat(&dp);
    g.extend([dprey, dpred]);
    check_oracles(
        "lv_fit_error",
        &[p.alpha, p.beta, p.delta, p.gamma, prey0, predator0],
        value,
        &g,
        |q| {
            let p = LotkaVolterra {
                alpha: q[0],
                beta: q[1],
                delta: q[2],
                gamma: q[3],
            };
            lv_fit_error(&p, q[4], q[5], &observed, 0.05, 4)
        },
        |q| lv_fit_error_fd(&[q[0], q[1], q[2], q[3]], q[4], q[5], &observed, 0.05, 4),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Logistic growth by RK4 in a `while` loop over a float time (the time carries the step's
// derivative), the right-hand side a differentiated scalar function.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn logistic(r: f64, capacity: f64, y: f64) -> f64 {
    r * y * (1.0 - y / capacity)
}

#[differentiate]
fn logistic_rk4(r: f64, capacity: f64, y0: f64, h: f64, t_end: f64) -> f64 {
    let mut t = 0.0;
    let mut y = y0;
    while t < t_end - 1e-9 {
        let k1 = logistic(r, capacity, y);
        let k2 = logistic(r, capacity, y + 0.5 * h * k1);
        let k3 = logistic(r, capacity, y + 0.5 * h * k2);
        let k4 = logistic(r, capacity, y + h * k3);
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        t += h;
    }
    y
}

fn logistic_fd(r: Fd, capacity: Fd, y: Fd) -> Fd {
    r * y * (1.0 - y / capacity)
}

fn logistic_rk4_fd(r: Fd, capacity: Fd, y0: Fd, h: Fd, t_end: Fd) -> Fd {
    let mut t = c(0.0);
    let mut y = y0;
    while t < t_end - 1e-9 {
        let k1 = logistic_fd(r, capacity, y);
        let k2 = logistic_fd(r, capacity, y + 0.5 * h * k1);
        let k3 = logistic_fd(r, capacity, y + 0.5 * h * k2);
        let k4 = logistic_fd(r, capacity, y + h * k3);
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        t += h;
    }
    y
}

#[test]
fn logistic_growth_rk4() {
    // t_end between grid points so the step count is stable under the finite-difference steps.
    let x = [0.8, 10.0, 0.5, 0.1, 3.05];
    let (value, g) = generated!(logistic_rk4_grad, logistic_rk4_pullback, logistic_rk4_grad_into;
        x[0], x[1], x[2], x[3], x[4]);
    let g = flat(&g);
    check_oracles(
        "logistic_rk4",
        &x,
        value,
        &g,
        |p| logistic_rk4(p[0], p[1], p[2], p[3], p[4]),
        |p| logistic_rk4_fd(p[0], p[1], p[2], p[3], p[4]),
        Tol::default(),
    );
    // Against the exact solution y(t) = K / (1 + (K/y0 - 1) e^{-rt}) at t = 31 h: RK4 is close.
    let t = 31.0 * x[3];
    let exact = x[1] / (1.0 + (x[1] / x[2] - 1.0) * (-x[0] * t).exp());
    assert_close(value, exact, 1e-6, "logistic exact");
    assert_eq!(g[4], 0.0, "t_end only decides the step count");
}

// ------------------------------------------------------------------------------------------
// A projectile with quadratic drag, Euler steps until it hits the ground (`loop` with `break`),
// then linear interpolation between the last two states: the previous state is copied each step.
// (Starting the previous state as a copy of the state, `let (mut px, mut py) = (x, y);`, does not
// compile, and with separate `let`s computes a wrong value: tests/pending/programs_carried_copies.rs.)
// ------------------------------------------------------------------------------------------

#[differentiate]
#[allow(unused_assignments)] // px, py are set before they are read: the loop runs at least once
fn projectile_range(speed: f64, angle: f64, drag: f64, height: f64, dt: f64) -> f64 {
    let g = 9.81;
    let (mut x, mut y) = (0.0, height);
    let mut vx = speed * angle.cos();
    let mut vy = speed * angle.sin();
    let (mut px, mut py) = (0.0, 0.0);
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
    // Where the segment from (px, py) to (x, y) crosses y = 0.
    px + (x - px) * py / (py - y)
}

#[allow(unused_assignments)]
fn projectile_range_fd(speed: Fd, angle: Fd, drag: Fd, height: Fd, dt: Fd) -> Fd {
    let g = 9.81;
    let (mut x, mut y) = (c(0.0), height);
    let mut vx = speed * angle.cos();
    let mut vy = speed * angle.sin();
    let (mut px, mut py) = (c(0.0), c(0.0));
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

// ------------------------------------------------------------------------------------------
// A bouncing ball: explicit Euler with a reflecting floor (a branch that flips a carried
// velocity) and the coefficient of restitution; the height after a fixed time.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn bouncing_ball(height: f64, v0: f64, restitution: f64, air: f64, dt: f64, steps: usize) -> f64 {
    let mut y = height;
    let mut v = v0;
    let mut bounces = 0;
    for _ in 0..steps {
        v -= (9.81 + air * v) * dt;
        y += v * dt;
        if y < 0.0 {
            y = -y * restitution;
            v = -v * restitution;
            bounces += 1;
        }
    }
    assert!(bounces < steps);
    y + 0.5 * v * v / 9.81
}

fn bouncing_ball_fd(height: Fd, v0: Fd, restitution: Fd, air: Fd, dt: Fd, steps: usize) -> Fd {
    let mut y = height;
    let mut v = v0;
    for _ in 0..steps {
        v -= (9.81 + air * v) * dt;
        y += v * dt;
        if y < 0.0 {
            y = -y * restitution;
            v = -v * restitution;
        }
    }
    y + 0.5 * v * v / 9.81
}

#[test]
fn bouncing_ball_height() {
    let x = [2.0, 0.5, 0.8, 0.05, 0.01];
    let (value, g) = generated!(bouncing_ball_grad, bouncing_ball_pullback, bouncing_ball_grad_into;
        x[0], x[1], x[2], x[3], x[4], 250);
    check_oracles(
        "bouncing_ball",
        &x,
        value,
        &flat(&g),
        |p| bouncing_ball(p[0], p[1], p[2], p[3], p[4], 250),
        |p| bouncing_ball_fd(p[0], p[1], p[2], p[3], p[4], 250),
        // A bounce is a kink in time: finite differences need the steps to stay away from one.
        Tol {
            fd: 1e-6,
            ..Tol::default()
        },
    );
}

// ------------------------------------------------------------------------------------------
// A damped oscillator integrated by a method chosen with `match` on an integer: explicit Euler,
// symplectic Euler or leapfrog with half-step velocities; returns the action-like sum of the
// Lagrangian over the trajectory.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn oscillator_action(x0: f64, v0: f64, k: f64, c: f64, dt: f64, steps: usize, method: u8) -> f64 {
    let mut x = x0;
    let mut v = v0;
    let mut action = 0.0;
    for _ in 0..steps {
        match method {
            0 => {
                let a = -k * x - c * v;
                x += dt * v;
                v += dt * a;
            }
            1 => {
                v += dt * (-k * x - c * v);
                x += dt * v;
            }
            _ => {
                let v_half = v + 0.5 * dt * (-k * x - c * v);
                x += dt * v_half;
                v = v_half + 0.5 * dt * (-k * x - c * v_half);
            }
        }
        action += dt * (0.5 * v * v - 0.5 * k * x * x);
    }
    action
}

fn oscillator_action_fd(x0: Fd, v0: Fd, k: Fd, c: Fd, dt: Fd, steps: usize, method: u8) -> Fd {
    let mut x = x0;
    let mut v = v0;
    let mut action = Fd::from(0.0);
    for _ in 0..steps {
        match method {
            0 => {
                let a = -k * x - c * v;
                x += dt * v;
                v += dt * a;
            }
            1 => {
                v += dt * (-k * x - c * v);
                x += dt * v;
            }
            _ => {
                let v_half = v + 0.5 * dt * (-k * x - c * v);
                x += dt * v_half;
                v = v_half + 0.5 * dt * (-k * x - c * v_half);
            }
        }
        action += dt * (0.5 * v * v - 0.5 * k * x * x);
    }
    action
}

#[test]
fn oscillator_action_three_integrators() {
    let x = [1.0, 0.2, 4.0, 0.3, 0.02];
    for method in [0, 1, 2] {
        let (value, g) = generated!(oscillator_action_grad, oscillator_action_pullback,
            oscillator_action_grad_into; x[0], x[1], x[2], x[3], x[4], 80, method);
        check_oracles(
            "oscillator_action",
            &x,
            value,
            &flat(&g),
            |p| oscillator_action(p[0], p[1], p[2], p[3], p[4], 80, method),
            |p| oscillator_action_fd(p[0], p[1], p[2], p[3], p[4], 80, method),
            Tol::default(),
        );
    }
}

// ------------------------------------------------------------------------------------------
// The 1-D heat equation by explicit finite differences on a Vec, with a fresh Vec per step
// (Dirichlet ends), then the thermal energy weighted by a kernel.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(u0, diffusivity))]
fn heat_equation(u0: &[f64], diffusivity: f64, dx: f64, dt: f64, steps: usize) -> f64 {
    let n = u0.len();
    let r = diffusivity * dt / (dx * dx);
    let mut u = u0.to_vec();
    for _ in 0..steps {
        let mut next = vec![0.0; n];
        next[0] = u[0];
        next[n - 1] = u[n - 1];
        for i in 1..n - 1 {
            next[i] = u[i] + r * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        }
        u = next;
    }
    let mut weighted = 0.0;
    for i in 0..n {
        let s = (i as f64 + 0.5) / n as f64;
        weighted += u[i] * u[i] * (std::f64::consts::PI * s).sin();
    }
    weighted
}

fn heat_equation_fd(u0: &[Fd], diffusivity: Fd, dx: f64, dt: f64, steps: usize) -> Fd {
    let n = u0.len();
    let r = diffusivity * dt / (dx * dx);
    let mut u = u0.to_vec();
    for _ in 0..steps {
        let mut next = vec![c(0.0); n];
        next[0] = u[0];
        next[n - 1] = u[n - 1];
        for i in 1..n - 1 {
            next[i] = u[i] + r * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        }
        u = next;
    }
    let mut weighted = c(0.0);
    for i in 0..n {
        let s = (i as f64 + 0.5) / n as f64;
        weighted += u[i] * u[i] * (std::f64::consts::PI * s).sin();
    }
    weighted
}

#[test]
fn heat_equation_explicit() {
    let u0 = [0.0, 0.4, 1.0, 0.7, 0.3, 0.9, 0.2, 0.0];
    let (value, (du0, dk)) = generated!(heat_equation_grad, heat_equation_pullback,
        heat_equation_grad_into; &u0, 0.5, 0.1, 0.004, 20);
    let mut x = u0.to_vec();
    x.push(0.5);
    let mut g = du0.clone();
    g.push(dk);
    check_oracles(
        "heat_equation",
        &x,
        value,
        &g,
        |p| heat_equation(&p[..8], p[8], 0.1, 0.004, 20),
        |p| heat_equation_fd(&p[..8], p[8], 0.1, 0.004, 20),
        Tol::default(),
    );
}

#[test]
fn stormer_verlet() {
    let (omega, dt, steps) = (2.0, 0.05, 30);
    for (x0, v0) in [(0.8, 0.0), (0.8, -0.6)] {
        let (value, g) = generated!(stormer_grad, stormer_pullback, stormer_grad_into;
            x0, v0, omega, dt, steps);
        check_oracles(
            "stormer",
            &[x0, v0, omega, dt],
            value,
            &flat(&g),
            |p| stormer(p[0], p[1], p[2], p[3], steps),
            |p| stormer_fd(p[0], p[1], p[2], p[3], steps),
            Tol::default(),
        );
        if v0 == 0.0 {
            // The recurrence x_{n+1} = 2 cos(θ) x_n - x_{n-1} with x_{-1} = x_0 has the solution
            // x_n = x_0 cos((n + 1/2) θ) / cos(θ / 2), cos θ = 1 - (ω dt)² / 2.
            let theta = (1.0 - (omega * dt).powi(2) / 2.0).acos();
            let ratio = ((steps as f64 + 0.5) * theta).cos() / (theta / 2.0).cos();
            assert_close(value, x0 * ratio, 1e-12, "Störmer value");
            assert_close(g.0, ratio, 1e-12, "Störmer d/dx0");
        }
    }
}

#[test]
fn projectile_with_drag_range() {
    for x in [[12.0, 0.7, 0.02, 1.5, 0.01], [20.0, 0.3, 0.05, 0.0, 0.02]] {
        let (value, g) = generated!(projectile_range_grad, projectile_range_pullback,
            projectile_range_grad_into; x[0], x[1], x[2], x[3], x[4]);
        check_oracles(
            "projectile_range",
            &x,
            value,
            &flat(&g),
            |p| projectile_range(p[0], p[1], p[2], p[3], p[4]),
            |p| projectile_range_fd(p[0], p[1], p[2], p[3], p[4]),
            // The interpolated range is continuous across step counts, but its derivative is
            // not: differences must not cross a change of the number of steps.
            Tol {
                fd: 1e-6,
                ..Tol::default()
            },
        );
    }
    // Without drag and from the ground, the discrete trajectory is close to v² sin 2a / g.
    let (value, g) = projectile_range_grad(10.0, 0.6, 0.0, 0.0, 1e-4);
    assert_close(value, 100.0 * 1.2_f64.sin() / 9.81, 1e-3, "range");
    assert_close(g.0, 20.0 * 1.2_f64.sin() / 9.81, 1e-3, "d range / d speed");
}

// ------------------------------------------------------------------------------------------
// An SIR epidemic fitted to case counts: RK4 on three compartments with the rates in a struct,
// the right-hand side returning a triple; the loss compares new infections per day.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Epidemic {
    beta: f64,
    gamma: f64,
}

#[differentiate]
fn sir_rhs(p: &Epidemic, s: f64, i: f64, r: f64) -> (f64, f64, f64) {
    let n = s + i + r;
    let infections = p.beta * s * i / n;
    let recoveries = p.gamma * i;
    (-infections, infections - recoveries, recoveries)
}

#[differentiate(wrt(p, i0))]
fn sir_fit(p: &Epidemic, i0: f64, population: f64, cases: &[f64], steps_per_day: usize) -> f64 {
    let h = 1.0 / steps_per_day as f64;
    let (mut s, mut i, mut r) = (population - i0, i0, 0.0);
    let mut loss = 0.0;
    for day in 0..cases.len() {
        let susceptible_before = s;
        for _ in 0..steps_per_day {
            let (a1, b1, c1) = sir_rhs(p, s, i, r);
            let (a2, b2, c2) = sir_rhs(p, s + 0.5 * h * a1, i + 0.5 * h * b1, r + 0.5 * h * c1);
            let (a3, b3, c3) = sir_rhs(p, s + 0.5 * h * a2, i + 0.5 * h * b2, r + 0.5 * h * c2);
            let (a4, b4, c4) = sir_rhs(p, s + h * a3, i + h * b3, r + h * c3);
            s += h / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4);
            i += h / 6.0 * (b1 + 2.0 * b2 + 2.0 * b3 + b4);
            r += h / 6.0 * (c1 + 2.0 * c2 + 2.0 * c3 + c4);
        }
        let new_cases = susceptible_before - s;
        // Poisson deviance of the day's count.
        loss += new_cases - cases[day] * new_cases.ln();
    }
    loss
}

fn sir_rhs_fd(beta: Fd, gamma: Fd, s: Fd, i: Fd, r: Fd) -> (Fd, Fd, Fd) {
    let n = s + i + r;
    let infections = beta * s * i / n;
    let recoveries = gamma * i;
    (-infections, infections - recoveries, recoveries)
}

fn sir_fit_fd(
    beta: Fd,
    gamma: Fd,
    i0: Fd,
    population: f64,
    cases: &[f64],
    steps_per_day: usize,
) -> Fd {
    let h = 1.0 / steps_per_day as f64;
    let (mut s, mut i, mut r) = (population - i0, i0, c(0.0));
    let mut loss = c(0.0);
    for day in 0..cases.len() {
        let susceptible_before = s;
        for _ in 0..steps_per_day {
            let (a1, b1, c1) = sir_rhs_fd(beta, gamma, s, i, r);
            let (a2, b2, c2) = sir_rhs_fd(
                beta,
                gamma,
                s + 0.5 * h * a1,
                i + 0.5 * h * b1,
                r + 0.5 * h * c1,
            );
            let (a3, b3, c3) = sir_rhs_fd(
                beta,
                gamma,
                s + 0.5 * h * a2,
                i + 0.5 * h * b2,
                r + 0.5 * h * c2,
            );
            let (a4, b4, c4) = sir_rhs_fd(beta, gamma, s + h * a3, i + h * b3, r + h * c3);
            s += h / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4);
            i += h / 6.0 * (b1 + 2.0 * b2 + 2.0 * b3 + b4);
            r += h / 6.0 * (c1 + 2.0 * c2 + 2.0 * c3 + c4);
        }
        let new_cases = susceptible_before - s;
        loss += new_cases - cases[day] * new_cases.ln();
    }
    loss
}

#[test]
fn sir_epidemic_fit() {
    let p = Epidemic {
        beta: 0.4,
        gamma: 0.15,
    };
    let cases = [12.0, 15.0, 21.0, 26.0, 35.0, 41.0, 55.0, 66.0, 80.0, 97.0];
    let (value, (dp, di0)) = generated!(sir_fit_grad, sir_fit_pullback, sir_fit_grad_into;
        &p, 10.0, 10_000.0, &cases, 4);
    check_oracles(
        "sir_fit",
        &[0.4, 0.15, 10.0],
        value,
        &[dp.beta, dp.gamma, di0],
        |q| {
            sir_fit(
                &Epidemic {
                    beta: q[0],
                    gamma: q[1],
                },
                q[2],
                10_000.0,
                &cases,
                4,
            )
        },
        |q| sir_fit_fd(q[0], q[1], q[2], 10_000.0, &cases, 4),
        Tol::default(),
    );
    // The population is conserved by every step: pulling back (1, 1, 1) through the right-hand
    // side gives zero for every compartment.
    let (_, ds, di, dr) = sir_rhs_pullback(&p, 900.0, 80.0, 20.0, (1.0, 1.0, 1.0));
    assert!(ds.abs() + di.abs() + dr.abs() < 1e-15, "{ds} {di} {dr}");
}

// ------------------------------------------------------------------------------------------
// Two-step Adams–Bashforth for a forced oscillator, started with one Euler step; the previous
// right-hand side is carried (it starts as the first evaluation, not a copy of the state).
// ------------------------------------------------------------------------------------------

#[differentiate]
fn forced_rhs(x: f64, v: f64, t: f64, k: f64, force: f64) -> (f64, f64) {
    (v, -k * x + force * (1.3 * t).sin())
}

#[differentiate]
fn adams_bashforth2(x0: f64, v0: f64, k: f64, force: f64, h: f64, steps: usize) -> f64 {
    let (mut fx_prev, mut fv_prev) = forced_rhs(x0, v0, 0.0, k, force);
    let mut x = x0 + h * fx_prev;
    let mut v = v0 + h * fv_prev;
    let mut t = h;
    for _ in 1..steps {
        let (fx, fv) = forced_rhs(x, v, t, k, force);
        x += h * (1.5 * fx - 0.5 * fx_prev);
        v += h * (1.5 * fv - 0.5 * fv_prev);
        fx_prev = fx;
        fv_prev = fv;
        t += h;
    }
    x * x + v * v
}

fn forced_rhs_fd(x: Fd, v: Fd, t: Fd, k: Fd, force: Fd) -> (Fd, Fd) {
    (v, -k * x + force * (1.3 * t).sin())
}

fn adams_bashforth2_fd(x0: Fd, v0: Fd, k: Fd, force: Fd, h: Fd, steps: usize) -> Fd {
    let (mut fx_prev, mut fv_prev) = forced_rhs_fd(x0, v0, c(0.0), k, force);
    let mut x = x0 + h * fx_prev;
    let mut v = v0 + h * fv_prev;
    let mut t = h;
    for _ in 1..steps {
        let (fx, fv) = forced_rhs_fd(x, v, t, k, force);
        x += h * (1.5 * fx - 0.5 * fx_prev);
        v += h * (1.5 * fv - 0.5 * fv_prev);
        fx_prev = fx;
        fv_prev = fv;
        t += h;
    }
    x * x + v * v
}

#[test]
fn adams_bashforth_two_step() {
    let x = [0.5, -0.2, 3.0, 0.7, 0.02];
    let (value, g) = generated!(adams_bashforth2_grad, adams_bashforth2_pullback,
        adams_bashforth2_grad_into; x[0], x[1], x[2], x[3], x[4], 150);
    check_oracles(
        "adams_bashforth2",
        &x,
        value,
        &flat(&g),
        |p| adams_bashforth2(p[0], p[1], p[2], p[3], p[4], 150),
        |p| adams_bashforth2_fd(p[0], p[1], p[2], p[3], p[4], 150),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// A charged particle in crossed fields by the Boris pusher: cross products on arrays, a
// half electric kick, a magnetic rotation, another half kick; the final distance travelled.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[differentiate(wrt(v0, e_field, b_field, charge_over_mass))]
fn boris_push(
    v0: [f64; 3],
    e_field: [f64; 3],
    b_field: [f64; 3],
    charge_over_mass: f64,
    dt: f64,
    steps: usize,
) -> f64 {
    let mut x = [0.0; 3];
    let mut v = v0;
    let half = 0.5 * charge_over_mass * dt;
    for _ in 0..steps {
        let mut v_minus = [0.0; 3];
        for d in 0..3 {
            v_minus[d] = v[d] + half * e_field[d];
        }
        let mut t = [0.0; 3];
        let mut t2 = 0.0;
        for d in 0..3 {
            t[d] = half * b_field[d];
            t2 += t[d] * t[d];
        }
        let v_prime_cross = cross(v_minus, t);
        let mut v_prime = [0.0; 3];
        for d in 0..3 {
            v_prime[d] = v_minus[d] + v_prime_cross[d];
        }
        let rotation = cross(v_prime, t);
        for d in 0..3 {
            let v_plus = v_minus[d] + 2.0 / (1.0 + t2) * rotation[d];
            v[d] = v_plus + half * e_field[d];
            x[d] += dt * v[d];
        }
    }
    (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt()
}

fn cross_fd(a: [Fd; 3], b: [Fd; 3]) -> [Fd; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn boris_push_fd(
    v0: [Fd; 3],
    e_field: [Fd; 3],
    b_field: [Fd; 3],
    charge_over_mass: Fd,
    dt: f64,
    steps: usize,
) -> Fd {
    let mut x = [c(0.0); 3];
    let mut v = v0;
    let half = 0.5 * charge_over_mass * dt;
    for _ in 0..steps {
        let mut v_minus = [c(0.0); 3];
        for d in 0..3 {
            v_minus[d] = v[d] + half * e_field[d];
        }
        let mut t = [c(0.0); 3];
        let mut t2 = c(0.0);
        for d in 0..3 {
            t[d] = half * b_field[d];
            t2 += t[d] * t[d];
        }
        let v_prime_cross = cross_fd(v_minus, t);
        let mut v_prime = [c(0.0); 3];
        for d in 0..3 {
            v_prime[d] = v_minus[d] + v_prime_cross[d];
        }
        let rotation = cross_fd(v_prime, t);
        for d in 0..3 {
            let v_plus = v_minus[d] + 2.0 / (1.0 + t2) * rotation[d];
            v[d] = v_plus + half * e_field[d];
            x[d] += dt * v[d];
        }
    }
    (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt()
}

#[test]
fn boris_pusher() {
    let (v0, e, b) = ([1.0, 0.2, -0.1], [0.0, 0.3, 0.05], [0.1, -0.2, 1.5]);
    let (value, g) = generated!(boris_push_grad, boris_push_pullback, boris_push_grad_into;
        v0, e, b, 1.2, 0.05, 40);
    let mut x = v0.to_vec();
    x.extend(e);
    x.extend(b);
    x.push(1.2);
    check_oracles(
        "boris_push",
        &x,
        value,
        &flat(&g),
        |p| {
            let mut r = Reader::new(p);
            boris_push(r.a(), r.a(), r.a(), r.s(), 0.05, 40)
        },
        |p| {
            let mut r = Reader::new(p);
            boris_push_fd(r.a(), r.a(), r.a(), r.s(), 0.05, 40)
        },
        Tol::default(),
    );
    // Without a magnetic field the push is uniform acceleration: v_n = v0 + n (q/m) dt E and
    // x_N = dt (N v0 + (q/m) dt E N (N + 1) / 2), so d|x| / dv0 = N dt x / |x|.
    let n = 40.0;
    let (value, (dv0, _, _, _)) = boris_push_grad(v0, e, [0.0; 3], 1.2, 0.05, 40);
    let xn: Vec<f64> = (0..3)
        .map(|d| 0.05 * (n * v0[d] + 1.2 * 0.05 * e[d] * n * (n + 1.0) / 2.0))
        .collect();
    let norm = (xn[0] * xn[0] + xn[1] * xn[1] + xn[2] * xn[2]).sqrt();
    assert_close(value, norm, 1e-13, "uniform acceleration");
    for d in 0..3 {
        assert_close(dv0[d], n * 0.05 * xn[d] / norm, 1e-13, "d|x| / dv0");
    }
}

// ------------------------------------------------------------------------------------------
// Adaptive step size: Heun's method with an embedded Euler error estimate, steps accepted or
// rejected in a branch, the step carried and rescaled (clamped) every iteration, the last step
// shortened with `min` to land on the end time; a `while` on the time and a step budget.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn growth_rate(y: f64, r: f64) -> f64 {
    r * y * (1.0 - y)
}

#[differentiate]
fn adaptive_heun(y0: f64, r: f64, t_end: f64, tol: f64) -> f64 {
    let mut t = 0.0;
    let mut y = y0;
    let mut h: f64 = 0.1;
    let mut steps = 0;
    while t < t_end && steps < 10_000 {
        h = h.min(t_end - t);
        let k1 = growth_rate(y, r);
        let k2 = growth_rate(y + h * k1, r);
        let y_euler = y + h * k1;
        let y_heun = y + 0.5 * h * (k1 + k2);
        let err = (y_heun - y_euler).abs();
        if err <= tol {
            t += h;
            y = y_heun;
        }
        h *= (0.9 * (tol / err.max(1e-14)).sqrt()).clamp(0.2, 5.0);
        steps += 1;
    }
    y
}

fn growth_rate_fd(y: Fd, r: Fd) -> Fd {
    r * y * (1.0 - y)
}

fn adaptive_heun_fd(y0: Fd, r: Fd, t_end: Fd, tol: Fd) -> Fd {
    let mut t = c(0.0);
    let mut y = y0;
    let mut h = c(0.1);
    let mut steps = 0;
    while t < t_end && steps < 10_000 {
        h = h.min(t_end - t);
        let k1 = growth_rate_fd(y, r);
        let k2 = growth_rate_fd(y + h * k1, r);
        let y_euler = y + h * k1;
        let y_heun = y + 0.5 * h * (k1 + k2);
        let err = (y_heun - y_euler).abs();
        if err <= tol {
            t += h;
            y = y_heun;
        }
        let factor = 0.9 * (tol / err.max(1e-14)).sqrt();
        h *= if factor < 0.2 {
            c(0.2)
        } else if factor > 5.0 {
            c(5.0)
        } else {
            factor
        };
        steps += 1;
    }
    y
}

#[test]
fn adaptive_step_heun() {
    let x = [0.1, 1.5, 4.0, 1e-5];
    let (value, g) = generated!(adaptive_heun_grad, adaptive_heun_pullback,
        adaptive_heun_grad_into; x[0], x[1], x[2], x[3]);
    // Forward mode, not differences: the step control (accept or reject, the clamp) makes the
    // computed solution jump at the scale of any difference step.
    common::check_forward_mode(
        "adaptive_heun",
        &x,
        value,
        &flat(&g),
        |p| adaptive_heun(p[0], p[1], p[2], p[3]),
        |p| adaptive_heun_fd(p[0], p[1], p[2], p[3]),
        // The error estimate y_heun - y_euler cancels, and the step control divides by it over
        // hundreds of steps: forward and reverse order their roundings differently (2e-11).
        Tol {
            dual: 1e-10,
            ..Tol::default()
        },
    );
    // Close to the exact solution y = 1 / (1 + (1/y0 - 1) e^{-rt}) and its derivatives.
    let (y0, r, t) = (x[0], x[1], x[2]);
    let e = (-r * t).exp();
    let denominator = 1.0 + (1.0 / y0 - 1.0) * e;
    assert_close(value, 1.0 / denominator, 1e-4, "exact value");
    assert_close(
        g.0,
        e / (y0 * y0 * denominator * denominator),
        1e-3,
        "dy/dy0",
    );
    assert_close(
        g.1,
        (1.0 / y0 - 1.0) * t * e / (denominator * denominator),
        1e-3,
        "dy/dr",
    );
    assert_close(g.2, r * value * (1.0 - value), 1e-3, "dy/dt_end");
}

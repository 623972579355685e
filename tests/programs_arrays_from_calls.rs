//! Programs reading matrices and tuples of arrays returned by differentiated calls (N-body
//! accelerations, transform matrices, an LSTM step returning `(h, c)`), and array variables
//! started from a call and reassigned from it in a loop, whose generated code used to fail to
//! compile; matrix literals.
#![allow(clippy::needless_range_loop)]

#[path = "programs/common.rs"]
mod common;

use autodiff_core::{Differentiable, differentiate};
use common::{Fd, Reader, Tol, c, check_oracles, flat};

// ------------------------------------------------------------------------------------------
// Three bodies, leapfrog with the accelerations carried from one step to the next.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn accelerations(pos: &[[f64; 2]; 3], mass: &[f64; 3]) -> [[f64; 2]; 3] {
    let mut acc = [[0.0; 2]; 3];
    for i in 0..3 {
        for j in 0..3 {
            if i == j {
                continue;
            }
            let dx = pos[j][0] - pos[i][0];
            let dy = pos[j][1] - pos[i][1];
            let r2 = dx * dx + dy * dy + 1e-2;
            let inv_r3 = 1.0 / (r2 * r2.sqrt());
            acc[i][0] += mass[j] * dx * inv_r3;
            acc[i][1] += mass[j] * dy * inv_r3;
        }
    }
    acc
}

#[differentiate]
fn three_body_kinetic(pos0: [[f64; 2]; 3], vel0: [[f64; 2]; 3], mass: [f64; 3], dt: f64) -> f64 {
    let mut pos = pos0;
    let mut vel = vel0;
    let mut acc = accelerations(&pos, &mass);
    for _ in 0..20 {
        for i in 0..3 {
            for d in 0..2 {
                vel[i][d] += 0.5 * dt * acc[i][d];
                pos[i][d] += dt * vel[i][d];
            }
        }
        acc = accelerations(&pos, &mass);
        for i in 0..3 {
            for d in 0..2 {
                vel[i][d] += 0.5 * dt * acc[i][d];
            }
        }
    }
    let mut kinetic = 0.0;
    for i in 0..3 {
        kinetic += 0.5 * mass[i] * (vel[i][0] * vel[i][0] + vel[i][1] * vel[i][1]);
    }
    kinetic
}

type P3<T> = [[T; 2]; 3];

fn accelerations_fd(pos: &P3<Fd>, mass: &[Fd; 3]) -> P3<Fd> {
    let mut acc = [[c(0.0); 2]; 3];
    for i in 0..3 {
        for j in 0..3 {
            if i == j {
                continue;
            }
            let dx = pos[j][0] - pos[i][0];
            let dy = pos[j][1] - pos[i][1];
            let r2 = dx * dx + dy * dy + 1e-2;
            let inv_r3 = 1.0 / (r2 * r2.sqrt());
            acc[i][0] += mass[j] * dx * inv_r3;
            acc[i][1] += mass[j] * dy * inv_r3;
        }
    }
    acc
}

fn three_body_kinetic_fd(pos0: P3<Fd>, vel0: P3<Fd>, mass: [Fd; 3], dt: Fd) -> Fd {
    let mut pos = pos0;
    let mut vel = vel0;
    let mut acc = accelerations_fd(&pos, &mass);
    for _ in 0..20 {
        for i in 0..3 {
            for d in 0..2 {
                vel[i][d] += 0.5 * dt * acc[i][d];
                pos[i][d] += dt * vel[i][d];
            }
        }
        acc = accelerations_fd(&pos, &mass);
        for i in 0..3 {
            for d in 0..2 {
                vel[i][d] += 0.5 * dt * acc[i][d];
            }
        }
    }
    let mut kinetic = c(0.0);
    for i in 0..3 {
        kinetic += 0.5 * mass[i] * (vel[i][0] * vel[i][0] + vel[i][1] * vel[i][1]);
    }
    kinetic
}

#[test]
fn three_body_leapfrog_carried_accelerations() {
    let pos = [[1.0, 0.0], [-0.5, 0.8], [-0.4, -0.9]];
    let vel = [[0.0, 0.5], [-0.4, -0.2], [0.35, -0.3]];
    let mass = [1.0, 0.8, 1.2];
    let (value, g) = generated!(three_body_kinetic_grad, three_body_kinetic_pullback,
        three_body_kinetic_grad_into; pos, vel, mass, 0.01);
    let mut x = flat(&pos);
    x.extend(flat(&vel));
    x.extend(mass);
    x.push(0.01);
    check_oracles(
        "three_body_kinetic",
        &x,
        value,
        &flat(&g),
        |p| {
            let mut r = Reader::new(p);
            three_body_kinetic(r.m(), r.m(), r.a(), r.s())
        },
        |p| {
            let mut r = Reader::new(p);
            three_body_kinetic_fd(r.m(), r.m(), r.a(), r.s())
        },
        Tol {
            dual: 1e-11,
            ..Tol::default()
        },
    );
}

// ------------------------------------------------------------------------------------------
// A planar arm by homogeneous transforms: a rotation-and-translation matrix per joint,
// multiplied in a loop.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn transform(theta: f64, length: f64) -> [[f64; 3]; 3] {
    let (s, co) = (theta.sin(), theta.cos());
    [[co, -s, length * co], [s, co, length * s], [0.0, 0.0, 1.0]]
}

#[differentiate]
fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            for k in 0..3 {
                m[i][j] += a[i][k] * b[k][j];
            }
        }
    }
    m
}

#[differentiate]
fn arm_reach(q: [f64; 3], lengths: [f64; 3], target: [f64; 2]) -> f64 {
    let mut t = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for i in 0..3 {
        t = matmul(&t, &transform(q[i], lengths[i]));
    }
    (t[0][2] - target[0]).powi(2) + (t[1][2] - target[1]).powi(2)
}

fn arm_reach_fd(q: [Fd; 3], lengths: [Fd; 3], target: [f64; 2]) -> Fd {
    // By cumulative angles: the same end point.
    let (mut x, mut y, mut phi) = (c(0.0), c(0.0), c(0.0));
    for i in 0..3 {
        phi += q[i];
        x += lengths[i] * phi.cos();
        y += lengths[i] * phi.sin();
    }
    (x - target[0]).powi(2) + (y - target[1]).powi(2)
}

#[test]
fn arm_by_homogeneous_transforms() {
    let (q, l, target) = ([0.4, -1.3, 0.9], [1.0, 0.8, 0.5], [1.2, 0.3]);
    let (value, g) = generated!(arm_reach_grad, arm_reach_pullback, arm_reach_grad_into;
        q, l, target);
    let mut x = q.to_vec();
    x.extend(l);
    check_oracles(
        "arm_reach",
        &x,
        value,
        &flat(&(g.0, g.1)),
        |p| arm_reach([p[0], p[1], p[2]], [p[3], p[4], p[5]], target),
        |p| arm_reach_fd([p[0], p[1], p[2]], [p[3], p[4], p[5]], target),
        Tol {
            dual: 1e-13,
            ..Tol::default()
        },
    );
}

// ------------------------------------------------------------------------------------------
// An LSTM cell returning its (h, c) state as a tuple of arrays, called in a loop.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Lstm {
    w: [[f64; 4]; 8],
}

#[differentiate]
fn lstm_step(p: &Lstm, x: f64, h: &[f64; 2], c: &[f64; 2]) -> ([f64; 2], [f64; 2]) {
    let mut h_new = [0.0; 2];
    let mut c_new = [0.0; 2];
    for u in 0..2 {
        let mut gates = [0.0; 4];
        for g in 0..4 {
            let row = 4 * u + g;
            gates[g] = p.w[row][0] * x + p.w[row][1] * h[0] + p.w[row][2] * h[1] + p.w[row][3];
        }
        let input = 1.0 / (1.0 + (-gates[0]).exp());
        let forget = 1.0 / (1.0 + (-gates[1]).exp());
        let output = 1.0 / (1.0 + (-gates[3]).exp());
        c_new[u] = forget * c[u] + input * gates[2].tanh();
        h_new[u] = output * c_new[u].tanh();
    }
    (h_new, c_new)
}

#[differentiate(wrt(p))]
fn lstm_regression(p: &Lstm, xs: &[f64], ys: &[f64]) -> f64 {
    let mut h = [0.0; 2];
    let mut c = [0.0; 2];
    let mut loss = 0.0;
    for t in 0..xs.len() {
        let (h_next, c_next) = lstm_step(p, xs[t], &h, &c);
        h = h_next;
        c = c_next;
        loss += (h[0] - h[1] - ys[t]).powi(2);
    }
    loss / xs.len() as f64
}

fn lstm_regression_fd(w: &[[Fd; 4]; 8], xs: &[f64], ys: &[f64]) -> Fd {
    let mut h = [c(0.0); 2];
    let mut cs = [c(0.0); 2];
    let mut loss = c(0.0);
    for t in 0..xs.len() {
        let mut h_new = [c(0.0); 2];
        let mut c_new = [c(0.0); 2];
        for u in 0..2 {
            let mut gates = [c(0.0); 4];
            for g in 0..4 {
                let row = 4 * u + g;
                gates[g] = w[row][0] * xs[t] + w[row][1] * h[0] + w[row][2] * h[1] + w[row][3];
            }
            let input = 1.0 / (1.0 + (-gates[0]).exp());
            let forget = 1.0 / (1.0 + (-gates[1]).exp());
            let output = 1.0 / (1.0 + (-gates[3]).exp());
            c_new[u] = forget * cs[u] + input * gates[2].tanh();
            h_new[u] = output * c_new[u].tanh();
        }
        h = h_new;
        cs = c_new;
        loss += (h[0] - h[1] - ys[t]).powi(2);
    }
    loss / xs.len() as f64
}

#[test]
fn lstm_with_tuple_state() {
    let p = Lstm {
        w: std::array::from_fn(|i| {
            std::array::from_fn(|j| 0.6 * ((i * 4 + j) as f64 * 0.37).cos())
        }),
    };
    let xs: Vec<f64> = (0..9).map(|t| (t as f64 * 0.7).sin()).collect();
    let ys: Vec<f64> = (0..9).map(|t| 0.3 * (t as f64 * 0.7 - 0.5).sin()).collect();
    let (value, g) = generated!(lstm_regression_grad, lstm_regression_pullback,
        lstm_regression_grad_into; &p, &xs, &ys);
    check_oracles(
        "lstm_regression",
        &flat(&p.w),
        value,
        &flat(&g.w),
        |q| {
            lstm_regression(
                &Lstm {
                    w: Reader::new(q).m(),
                },
                &xs,
                &ys,
            )
        },
        |q| lstm_regression_fd(&Reader::new(q).m(), &xs, &ys),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// An Elman RNN whose state starts from the first step's output (a carried array initialised by
// a call, then reassigned by the same call in the loop).
// ------------------------------------------------------------------------------------------

#[differentiate]
fn rnn_cell(w: &[[f64; 3]; 2], x: f64, h: [f64; 2]) -> [f64; 2] {
    let mut out = [0.0; 2];
    for i in 0..2 {
        out[i] = (w[i][0] * x + w[i][1] * h[0] + w[i][2] * h[1]).tanh();
    }
    out
}

#[differentiate(wrt(w))]
fn rnn_loss(w: &[[f64; 3]; 2], xs: &[f64], target: f64) -> f64 {
    let mut h = rnn_cell(w, xs[0], [0.0, 0.0]);
    for t in 1..xs.len() {
        h = rnn_cell(w, xs[t], h);
    }
    (h[0] + h[1] - target).powi(2)
}

fn rnn_loss_fd(w: &[[Fd; 3]; 2], xs: &[f64], target: f64) -> Fd {
    let mut h = [c(0.0); 2];
    for t in 0..xs.len() {
        let mut out = [c(0.0); 2];
        for i in 0..2 {
            out[i] = (w[i][0] * xs[t] + w[i][1] * h[0] + w[i][2] * h[1]).tanh();
        }
        h = out;
    }
    (h[0] + h[1] - target).powi(2)
}

#[test]
fn rnn_state_started_by_a_call() {
    let w = [[0.5, -0.3, 0.8], [0.2, 0.6, -0.4]];
    let xs = [0.3, -0.2, 0.9, 0.4];
    let (value, g) = generated!(rnn_loss_grad, rnn_loss_pullback, rnn_loss_grad_into; &w, &xs, 0.5);
    check_oracles(
        "rnn_loss",
        &flat(&w),
        value,
        &flat(&g),
        |q| rnn_loss(&Reader::new(q).m(), &xs, 0.5),
        |q| rnn_loss_fd(&Reader::new(q).m(), &xs, 0.5),
        Tol::default(),
    );
}

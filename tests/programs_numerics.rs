//! Programs from linear algebra, robotics, geometry, signal processing, optimisation and
//! iterative root finding, written as practitioners write them, differentiated with
//! `#[differentiate]` and checked against forward-mode dual numbers, central differences and
//! closed forms (see `programs/common.rs`).
#![allow(clippy::needless_range_loop)] // index loops are how this numerical code is written
#![allow(clippy::too_many_arguments)]

#[path = "programs/common.rs"]
mod common;

use autodiff_core::differentiate;
use common::{Fd, Reader, Tol, assert_close, c, check_oracles, flat};
use std::f64::consts::PI;

/// The inverse of a 3x3 matrix by cofactors, for closed forms.
fn inverse3(a: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    let mut inv = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let (r0, r1) = ((j + 1) % 3, (j + 2) % 3);
            let (c0, c1) = ((i + 1) % 3, (i + 2) % 3);
            inv[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
        }
    }
    inv
}

// ------------------------------------------------------------------------------------------
// Cholesky: factor A = L L' in place in a local matrix, solve A x = b by forward and back
// substitution; the program returns c'x + log det A. Closed forms: d/db = A^{-1} c,
// d/dA = A^{-1} - x (A^{-1} c)' (for the symmetric entries read).
// ------------------------------------------------------------------------------------------

#[differentiate]
fn cholesky_solve_logdet(a: &[[f64; 3]; 3], b: &[f64; 3], c: &[f64; 3]) -> f64 {
    let mut l = [[0.0; 3]; 3];
    for j in 0..3 {
        let mut d = a[j][j];
        for k in 0..j {
            d -= l[j][k] * l[j][k];
        }
        l[j][j] = d.sqrt();
        for i in j + 1..3 {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            l[i][j] = s / l[j][j];
        }
    }
    // L y = b
    let mut y = [0.0; 3];
    for i in 0..3 {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    // L' x = y
    let mut x = [0.0; 3];
    for i in (0..3).rev() {
        let mut s = y[i];
        for k in i + 1..3 {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    let mut value = 0.0;
    for i in 0..3 {
        value += c[i] * x[i] + 2.0 * l[i][i].ln();
    }
    value
}

fn cholesky_solve_logdet_fd(a: &[[Fd; 3]; 3], b: &[Fd; 3], cv: &[Fd; 3]) -> Fd {
    let mut l = [[c(0.0); 3]; 3];
    for j in 0..3 {
        let mut d = a[j][j];
        for k in 0..j {
            d -= l[j][k] * l[j][k];
        }
        l[j][j] = d.sqrt();
        for i in j + 1..3 {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            l[i][j] = s / l[j][j];
        }
    }
    let mut y = [c(0.0); 3];
    for i in 0..3 {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    let mut x = [c(0.0); 3];
    for i in (0..3).rev() {
        let mut s = y[i];
        for k in i + 1..3 {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    let mut value = c(0.0);
    for i in 0..3 {
        value += cv[i] * x[i] + 2.0 * l[i][i].ln();
    }
    value
}

#[test]
fn cholesky_solve_and_log_determinant() {
    let a = [[4.0, 1.2, -0.6], [1.2, 3.0, 0.4], [-0.6, 0.4, 2.5]];
    let b = [1.0, -2.0, 0.5];
    let cv = [0.3, 0.7, -1.1];
    let (value, (da, db, dc)) = generated!(cholesky_solve_logdet_grad, cholesky_solve_logdet_pullback,
        cholesky_solve_logdet_grad_into; &a, &b, &cv);
    let inv = inverse3(&a);
    let x: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|j| inv[i][j] * b[j]).sum())
        .collect();
    let z: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|j| inv[i][j] * cv[j]).sum())
        .collect();
    let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    assert_close(
        value,
        (0..3).map(|i| cv[i] * x[i]).sum::<f64>() + det.ln(),
        1e-14,
        "value",
    );
    for i in 0..3 {
        assert_close(db[i], z[i], 1e-14, "d/db = A^-1 c");
        assert_close(dc[i], x[i], 1e-14, "d/dc = x");
        // Only the lower triangle is read: an entry below the diagonal stands for both of a
        // symmetric pair.
        for j in 0..=i {
            let full = inv[i][j] - z[i] * x[j];
            let expected = if i == j {
                full
            } else {
                full + inv[j][i] - z[j] * x[i]
            };
            assert_close(da[i][j], expected, 1e-13, "d/dA");
        }
        for j in i + 1..3 {
            assert_eq!(da[i][j], 0.0, "upper triangle unread");
        }
    }
    let mut p = flat(&a);
    p.extend(b);
    p.extend(cv);
    let mut g = flat(&da);
    g.extend(db);
    g.extend(dc);
    check_oracles(
        "cholesky_solve_logdet",
        &p,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            cholesky_solve_logdet(&r.m(), &r.a(), &r.a())
        },
        |q| {
            let mut r = Reader::new(q);
            cholesky_solve_logdet_fd(&r.m(), &r.a(), &r.a())
        },
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Modified Gram–Schmidt on the columns of a 3x3 matrix, returning a weighted sum of Q.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(a))]
fn gram_schmidt_score(a: &[[f64; 3]; 3], weights: &[[f64; 3]; 3]) -> f64 {
    let mut q = [[0.0; 3]; 3]; // q[k] is the k-th orthonormal vector
    for k in 0..3 {
        let mut v = [a[0][k], a[1][k], a[2][k]];
        for j in 0..k {
            let mut dot = 0.0;
            for i in 0..3 {
                dot += q[j][i] * v[i];
            }
            for i in 0..3 {
                v[i] -= dot * q[j][i];
            }
        }
        let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        for i in 0..3 {
            q[k][i] = v[i] / norm;
        }
    }
    let mut score = 0.0;
    for k in 0..3 {
        for i in 0..3 {
            score += weights[k][i] * q[k][i];
        }
    }
    score
}

fn gram_schmidt_score_fd(a: &[[Fd; 3]; 3], weights: &[[f64; 3]; 3]) -> Fd {
    let mut q = [[c(0.0); 3]; 3];
    for k in 0..3 {
        let mut v = [a[0][k], a[1][k], a[2][k]];
        for j in 0..k {
            let mut dot = c(0.0);
            for i in 0..3 {
                dot += q[j][i] * v[i];
            }
            for i in 0..3 {
                v[i] -= dot * q[j][i];
            }
        }
        let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        for i in 0..3 {
            q[k][i] = v[i] / norm;
        }
    }
    let mut score = c(0.0);
    for k in 0..3 {
        for i in 0..3 {
            score += weights[k][i] * q[k][i];
        }
    }
    score
}

#[test]
fn gram_schmidt() {
    let a = [[2.0, 0.5, -0.3], [0.4, 1.5, 0.8], [-0.2, 0.6, 1.2]];
    let weights = [[1.0, -0.5, 0.2], [0.3, 0.8, -0.7], [-0.4, 0.1, 0.9]];
    let (value, g) = generated!(gram_schmidt_score_grad, gram_schmidt_score_pullback,
        gram_schmidt_score_grad_into; &a, &weights);
    check_oracles(
        "gram_schmidt_score",
        &flat(&a),
        value,
        &flat(&g),
        |q| gram_schmidt_score(&Reader::new(q).m(), &weights),
        |q| gram_schmidt_score_fd(&Reader::new(q).m(), &weights),
        Tol::default(),
    );
    // Q depends on A only through the span of its leading columns: scaling column 0 by any
    // positive factor leaves the score unchanged, so the gradient is orthogonal to column 0.
    let dot: f64 = (0..3).map(|i| g[i][0] * a[i][0]).sum();
    assert!(dot.abs() < 1e-14, "{dot}");
}

// ------------------------------------------------------------------------------------------
// Power iteration with a convergence test and `break`, a differentiated matvec returning an
// array called in the loop; d lambda / dA = v v' for a symmetric matrix (here all entries read).
// ------------------------------------------------------------------------------------------

#[differentiate]
fn matvec(a: &[[f64; 3]; 3], v: &[f64; 3]) -> [f64; 3] {
    let mut w = [0.0; 3];
    for i in 0..3 {
        for j in 0..3 {
            w[i] += a[i][j] * v[j];
        }
    }
    w
}

#[differentiate]
fn dominant_eigenvalue(a: &[[f64; 3]; 3]) -> f64 {
    let mut v = [1.0, 1.0, 1.0];
    let mut lambda = 0.0;
    for _ in 0..500 {
        let w = matvec(a, &v);
        let norm = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
        for i in 0..3 {
            v[i] = w[i] / norm;
        }
        let av = matvec(a, &v);
        let next = v[0] * av[0] + v[1] * av[1] + v[2] * av[2];
        let converged = (next - lambda).abs() < 1e-15 * next.abs();
        lambda = next;
        if converged {
            break;
        }
    }
    lambda
}

fn matvec_fd(a: &[[Fd; 3]; 3], v: &[Fd; 3]) -> [Fd; 3] {
    let mut w = [c(0.0); 3];
    for i in 0..3 {
        for j in 0..3 {
            w[i] += a[i][j] * v[j];
        }
    }
    w
}

fn dominant_eigenvalue_fd(a: &[[Fd; 3]; 3]) -> Fd {
    let mut v = [c(1.0), c(1.0), c(1.0)];
    let mut lambda = c(0.0);
    for _ in 0..500 {
        let w = matvec_fd(a, &v);
        let norm = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
        for i in 0..3 {
            v[i] = w[i] / norm;
        }
        let av = matvec_fd(a, &v);
        let next = v[0] * av[0] + v[1] * av[1] + v[2] * av[2];
        let converged = (next - lambda).abs() < 1e-15 * next.abs();
        lambda = next;
        if converged {
            break;
        }
    }
    lambda
}

#[test]
fn power_iteration() {
    let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]];
    let (value, g) = generated!(dominant_eigenvalue_grad, dominant_eigenvalue_pullback,
        dominant_eigenvalue_grad_into; &a);
    // The eigenvector, from the iteration itself run long.
    let mut v = [1.0, 1.0, 1.0];
    for _ in 0..2000 {
        let w = matvec(&a, &v);
        let n = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
        v = [w[0] / n, w[1] / n, w[2] / n];
    }
    for i in 0..3 {
        for j in 0..3 {
            // The iteration stops when lambda has converged, which it does twice as fast as v:
            // the gradient (through v) is accurate to about the square root of the tolerance.
            assert_close(g[i][j], v[i] * v[j], 1e-7, "d lambda / dA = v v'");
        }
    }
    check_oracles(
        "dominant_eigenvalue",
        &flat(&a),
        value,
        &flat(&g),
        |q| dominant_eigenvalue(&Reader::new(q).m()),
        |q| dominant_eigenvalue_fd(&Reader::new(q).m()),
        // The iteration count may change under the differences' steps.
        Tol {
            dual: 1e-11,
            fd: 1e-6,
            ..Tol::default()
        },
    );
}

// ------------------------------------------------------------------------------------------
// Jacobi (a fresh array each sweep, assigned to the carried one) and Gauss–Seidel (in place,
// `while` with a residual tolerance) for a diagonally dominant system; d(c'x)/db = A^{-T} c.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn jacobi_solve(a: &[[f64; 3]; 3], b: &[f64; 3], c: &[f64; 3], sweeps: usize) -> f64 {
    let mut x = [0.0; 3];
    for _ in 0..sweeps {
        let mut next = [0.0; 3];
        for i in 0..3 {
            let mut s = b[i];
            for j in 0..3 {
                if j != i {
                    s -= a[i][j] * x[j];
                }
            }
            next[i] = s / a[i][i];
        }
        x = next;
    }
    c[0] * x[0] + c[1] * x[1] + c[2] * x[2]
}

#[differentiate]
fn gauss_seidel_solve(a: &[[f64; 3]; 3], b: &[f64; 3], c: &[f64; 3]) -> f64 {
    let mut x = [0.0; 3];
    let mut residual = f64::INFINITY;
    let mut sweeps = 0;
    while residual > 1e-14 && sweeps < 200 {
        for i in 0..3 {
            let mut s = b[i];
            for j in 0..3 {
                if j != i {
                    s -= a[i][j] * x[j];
                }
            }
            x[i] = s / a[i][i];
        }
        residual = 0.0;
        for i in 0..3 {
            let r = b[i] - a[i][0] * x[0] - a[i][1] * x[1] - a[i][2] * x[2];
            residual += r.abs();
        }
        sweeps += 1;
    }
    c[0] * x[0] + c[1] * x[1] + c[2] * x[2]
}

fn jacobi_solve_fd(a: &[[Fd; 3]; 3], b: &[Fd; 3], cv: &[Fd; 3], sweeps: usize) -> Fd {
    let mut x = [c(0.0); 3];
    for _ in 0..sweeps {
        let mut next = [c(0.0); 3];
        for i in 0..3 {
            let mut s = b[i];
            for j in 0..3 {
                if j != i {
                    s -= a[i][j] * x[j];
                }
            }
            next[i] = s / a[i][i];
        }
        x = next;
    }
    cv[0] * x[0] + cv[1] * x[1] + cv[2] * x[2]
}

fn gauss_seidel_solve_fd(a: &[[Fd; 3]; 3], b: &[Fd; 3], cv: &[Fd; 3]) -> Fd {
    let mut x = [c(0.0); 3];
    let mut residual = c(f64::INFINITY);
    let mut sweeps = 0;
    while residual > 1e-14 && sweeps < 200 {
        for i in 0..3 {
            let mut s = b[i];
            for j in 0..3 {
                if j != i {
                    s -= a[i][j] * x[j];
                }
            }
            x[i] = s / a[i][i];
        }
        residual = c(0.0);
        for i in 0..3 {
            let r = b[i] - a[i][0] * x[0] - a[i][1] * x[1] - a[i][2] * x[2];
            residual += r.abs();
        }
        sweeps += 1;
    }
    cv[0] * x[0] + cv[1] * x[1] + cv[2] * x[2]
}

#[test]
fn jacobi_and_gauss_seidel() {
    let a = [[5.0, 1.0, -1.0], [0.5, 4.0, 1.0], [1.0, -0.5, 3.0]];
    let b = [1.0, 2.0, -1.0];
    let cv = [0.4, -0.3, 0.8];
    let inv = inverse3(&a);
    let mut p = flat(&a);
    p.extend(b);
    p.extend(cv);
    let (value, g) = generated!(jacobi_solve_grad, jacobi_solve_pullback, jacobi_solve_grad_into;
        &a, &b, &cv, 60);
    check_oracles(
        "jacobi_solve",
        &p,
        value,
        &flat(&g),
        |q| {
            let mut r = Reader::new(q);
            jacobi_solve(&r.m(), &r.a(), &r.a(), 60)
        },
        |q| {
            let mut r = Reader::new(q);
            jacobi_solve_fd(&r.m(), &r.a(), &r.a(), 60)
        },
        Tol::default(),
    );
    let (value, g) = generated!(gauss_seidel_solve_grad, gauss_seidel_solve_pullback,
        gauss_seidel_solve_grad_into; &a, &b, &cv);
    for i in 0..3 {
        let expected: f64 = (0..3).map(|j| inv[j][i] * cv[j]).sum();
        assert_close(g.1[i], expected, 1e-12, "d/db = A^-T c");
    }
    check_oracles(
        "gauss_seidel_solve",
        &p,
        value,
        &flat(&g),
        |q| {
            let mut r = Reader::new(q);
            gauss_seidel_solve(&r.m(), &r.a(), &r.a())
        },
        |q| {
            let mut r = Reader::new(q);
            gauss_seidel_solve_fd(&r.m(), &r.a(), &r.a())
        },
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// A planar 3-link arm: forward kinematics by cumulative angles, the squared distance of the end
// effector to a target plus a joint-limit penalty; link lengths and angles active.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn end_effector(q: &[f64; 3], lengths: &[f64; 3]) -> (f64, f64) {
    let mut x = 0.0;
    let mut y = 0.0;
    let mut phi = 0.0;
    for i in 0..3 {
        phi += q[i];
        x += lengths[i] * phi.cos();
        y += lengths[i] * phi.sin();
    }
    (x, y)
}

#[differentiate(wrt(q, lengths))]
fn reach_cost(q: &[f64; 3], lengths: &[f64; 3], target: (f64, f64), limit: f64) -> f64 {
    let (x, y) = end_effector(q, lengths);
    let mut cost = (x - target.0).powi(2) + (y - target.1).powi(2);
    for i in 0..3 {
        let excess = q[i].abs() - limit;
        if excess > 0.0 {
            cost += 10.0 * excess * excess;
        }
    }
    cost
}

fn end_effector_fd(q: &[Fd; 3], lengths: &[Fd; 3]) -> (Fd, Fd) {
    let mut x = c(0.0);
    let mut y = c(0.0);
    let mut phi = c(0.0);
    for i in 0..3 {
        phi += q[i];
        x += lengths[i] * phi.cos();
        y += lengths[i] * phi.sin();
    }
    (x, y)
}

fn reach_cost_fd(q: &[Fd; 3], lengths: &[Fd; 3], target: (f64, f64), limit: f64) -> Fd {
    let (x, y) = end_effector_fd(q, lengths);
    let mut cost = (x - target.0).powi(2) + (y - target.1).powi(2);
    for i in 0..3 {
        let excess = q[i].abs() - limit;
        if excess > 0.0 {
            cost += 10.0 * excess * excess;
        }
    }
    cost
}

#[test]
fn three_link_arm() {
    let q = [0.4, -1.3, 0.9];
    let lengths = [1.0, 0.8, 0.5];
    let target = (1.2, 0.3);
    let (value, g) = generated!(reach_cost_grad, reach_cost_pullback, reach_cost_grad_into;
        &q, &lengths, target, 1.2);
    let mut p = q.to_vec();
    p.extend(lengths);
    check_oracles(
        "reach_cost",
        &p,
        value,
        &flat(&g),
        |v| reach_cost(&[v[0], v[1], v[2]], &[v[3], v[4], v[5]], target, 1.2),
        |v| reach_cost_fd(&[v[0], v[1], v[2]], &[v[3], v[4], v[5]], target, 1.2),
        Tol::default(),
    );
    // The Jacobian in closed form through the tuple pullback: dx/dq_i = -Σ_{j>=i} l_j sin φ_j.
    let phi = [q[0], q[0] + q[1], q[0] + q[1] + q[2]];
    let (dq, dl) = end_effector_pullback(&q, &lengths, (1.0, 0.0));
    for i in 0..3 {
        let expected: f64 = (i..3).map(|j| -lengths[j] * phi[j].sin()).sum();
        assert_close(dq[i], expected, 1e-15, "dx/dq");
        assert_close(dl[i], phi[i].cos(), 1e-15, "dx/dl");
    }
    let (dq, _) = end_effector_pullback(&q, &lengths, (0.0, 1.0));
    for i in 0..3 {
        let expected: f64 = (i..3).map(|j| lengths[j] * phi[j].cos()).sum();
        assert_close(dq[i], expected, 1e-15, "dy/dq");
    }
}

// ------------------------------------------------------------------------------------------
// Quaternions: a rotation from axis and angle, the Hamilton product, rotating points by
// q v q*; the loss a sum of squared distances to targets. d/dangle of R p is axis x (R p).
// ------------------------------------------------------------------------------------------

#[differentiate]
fn quat_mul(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [
        a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
        a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
        a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
        a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
    ]
}

#[differentiate]
fn rotate(axis: [f64; 3], angle: f64, p: [f64; 3]) -> [f64; 3] {
    let norm = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
    let s = (0.5 * angle).sin() / norm;
    let q = [(0.5 * angle).cos(), axis[0] * s, axis[1] * s, axis[2] * s];
    let conj = [q[0], -q[1], -q[2], -q[3]];
    let r = quat_mul(quat_mul(q, [0.0, p[0], p[1], p[2]]), conj);
    [r[1], r[2], r[3]]
}

#[differentiate(wrt(axis, angle))]
fn alignment_loss(axis: [f64; 3], angle: f64, points: &[[f64; 3]], targets: &[[f64; 3]]) -> f64 {
    let mut loss = 0.0;
    for k in 0..points.len() {
        let r = rotate(axis, angle, points[k]);
        for i in 0..3 {
            loss += (r[i] - targets[k][i]).powi(2);
        }
    }
    loss
}

fn quat_mul_fd(a: [Fd; 4], b: [Fd; 4]) -> [Fd; 4] {
    [
        a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
        a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
        a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
        a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
    ]
}

fn rotate_fd(axis: [Fd; 3], angle: Fd, p: [f64; 3]) -> [Fd; 3] {
    let norm = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
    let s = (0.5 * angle).sin() / norm;
    let q = [(0.5 * angle).cos(), axis[0] * s, axis[1] * s, axis[2] * s];
    let conj = [q[0], -q[1], -q[2], -q[3]];
    let r = quat_mul_fd(quat_mul_fd(q, [c(0.0), c(p[0]), c(p[1]), c(p[2])]), conj);
    [r[1], r[2], r[3]]
}

fn alignment_loss_fd(axis: [Fd; 3], angle: Fd, points: &[[f64; 3]], targets: &[[f64; 3]]) -> Fd {
    let mut loss = c(0.0);
    for k in 0..points.len() {
        let r = rotate_fd(axis, angle, points[k]);
        for i in 0..3 {
            loss += (r[i] - targets[k][i]).powi(2);
        }
    }
    loss
}

#[test]
fn quaternion_rotation() {
    let axis = [0.3, -0.5, 0.8];
    let angle = 0.9;
    let points = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.5], [-0.3, 0.2, 1.0]];
    let targets = [[0.5, 0.6, -0.2], [-0.4, 0.9, 0.3], [0.1, -0.2, 1.1]];
    let (value, g) = generated!(alignment_loss_grad, alignment_loss_pullback,
        alignment_loss_grad_into; axis, angle, &points, &targets);
    let mut p = axis.to_vec();
    p.push(angle);
    check_oracles(
        "alignment_loss",
        &p,
        value,
        &flat(&g),
        |v| alignment_loss([v[0], v[1], v[2]], v[3], &points, &targets),
        |v| alignment_loss_fd([v[0], v[1], v[2]], v[3], &points, &targets),
        Tol::default(),
    );
    // The loss depends on the axis' direction only: its gradient is orthogonal to the axis.
    let dot: f64 = (0..3).map(|i| g.0[i] * axis[i]).sum();
    assert!(dot.abs() < 1e-14, "{dot}");
    // d (R p) / d angle = n x (R p), n the unit axis: through the array pullback of `rotate`.
    let n = 0.98_f64.sqrt();
    let unit = [axis[0] / n, axis[1] / n, axis[2] / n];
    let rp = rotate(axis, angle, points[1]);
    let cross = [
        unit[1] * rp[2] - unit[2] * rp[1],
        unit[2] * rp[0] - unit[0] * rp[2],
        unit[0] * rp[1] - unit[1] * rp[0],
    ];
    for i in 0..3 {
        let mut seed = [0.0; 3];
        seed[i] = 1.0;
        let (_, dangle, _) = rotate_pullback(axis, angle, points[1], seed);
        assert_close(dangle, cross[i], 1e-14, "n x Rp");
    }
}

// ------------------------------------------------------------------------------------------
// Geometry: polygon area (shoelace) and perimeter of a Vec of vertices with wrap-around indices;
// a spring mesh energy over an edge list with an inverted-triangle penalty.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn polygon_area_perimeter(vertices: &[[f64; 2]], weight: f64) -> f64 {
    let n = vertices.len();
    let mut twice_area = 0.0;
    let mut perimeter = 0.0;
    for i in 0..n {
        let j = (i + 1) % n;
        twice_area += vertices[i][0] * vertices[j][1] - vertices[j][0] * vertices[i][1];
        let dx = vertices[j][0] - vertices[i][0];
        let dy = vertices[j][1] - vertices[i][1];
        perimeter += dx.hypot(dy);
    }
    0.5 * twice_area.abs() - weight * perimeter
}

fn polygon_area_perimeter_fd(vertices: &[[Fd; 2]], weight: Fd) -> Fd {
    let n = vertices.len();
    let mut twice_area = c(0.0);
    let mut perimeter = c(0.0);
    for i in 0..n {
        let j = (i + 1) % n;
        twice_area += vertices[i][0] * vertices[j][1] - vertices[j][0] * vertices[i][1];
        let dx = vertices[j][0] - vertices[i][0];
        let dy = vertices[j][1] - vertices[i][1];
        perimeter += dx.hypot(dy);
    }
    0.5 * twice_area.abs() - weight * perimeter
}

#[test]
fn polygon_area_and_perimeter() {
    let poly = vec![[0.0, 0.0], [2.0, 0.2], [2.5, 1.5], [1.0, 2.2], [-0.4, 1.1]];
    let (value, (dv, dw)) = generated!(polygon_area_perimeter_grad, polygon_area_perimeter_pullback,
        polygon_area_perimeter_grad_into; &poly, 0.0);
    // With weight 0: dA/dx_i = (y_{i+1} - y_{i-1}) / 2, dA/dy_i = (x_{i-1} - x_{i+1}) / 2
    // (counter-clockwise).
    let n = poly.len();
    for i in 0..n {
        let (next, prev) = (poly[(i + 1) % n], poly[(i + n - 1) % n]);
        assert_close(dv[i][0], 0.5 * (next[1] - prev[1]), 1e-15, "dA/dx");
        assert_close(dv[i][1], 0.5 * (prev[0] - next[0]), 1e-15, "dA/dy");
    }
    assert!(dw < 0.0);
    let mut p = flat(&poly);
    p.push(0.3);
    let (value3, g3) = generated!(polygon_area_perimeter_grad, polygon_area_perimeter_pullback,
        polygon_area_perimeter_grad_into; &poly, 0.3);
    assert!(value3 < value);
    let mut g = flat(&g3.0);
    g.push(g3.1);
    check_oracles(
        "polygon_area_perimeter",
        &p,
        value3,
        &g,
        |q| {
            let mut r = Reader::new(q);
            let v: Vec<[f64; 2]> = (0..5).map(|_| r.a()).collect();
            polygon_area_perimeter(&v, r.s())
        },
        |q| {
            let mut r = Reader::new(q);
            let v: Vec<[Fd; 2]> = (0..5).map(|_| r.a()).collect();
            polygon_area_perimeter_fd(&v, r.s())
        },
        Tol::default(),
    );
}

#[differentiate(wrt(positions, stiffness))]
fn mesh_energy(
    positions: &[[f64; 2]],
    stiffness: f64,
    edges: &[(usize, usize)],
    rest: &[f64],
    triangles: &[[usize; 3]],
) -> f64 {
    let mut energy = 0.0;
    // `for (e, &(i, j)) in edges.iter().enumerate()` is rejected: "bind each element to a
    // name, `&name` or `_`".
    for e in 0..edges.len() {
        let (i, j) = edges[e];
        let dx = positions[j][0] - positions[i][0];
        let dy = positions[j][1] - positions[i][1];
        let stretch = (dx * dx + dy * dy).sqrt() - rest[e];
        energy += 0.5 * stiffness * stretch * stretch;
    }
    for t in triangles {
        let (a, b, c) = (t[0], t[1], t[2]);
        let area = 0.5
            * ((positions[b][0] - positions[a][0]) * (positions[c][1] - positions[a][1])
                - (positions[c][0] - positions[a][0]) * (positions[b][1] - positions[a][1]));
        if area < 0.05 {
            // Barrier against collapsing or inverted triangles.
            energy += (0.05 - area).powi(3) * 100.0;
        }
    }
    energy
}

fn mesh_energy_fd(
    positions: &[[Fd; 2]],
    stiffness: Fd,
    edges: &[(usize, usize)],
    rest: &[f64],
    triangles: &[[usize; 3]],
) -> Fd {
    let mut energy = c(0.0);
    for (e, &(i, j)) in edges.iter().enumerate() {
        let dx = positions[j][0] - positions[i][0];
        let dy = positions[j][1] - positions[i][1];
        let stretch = (dx * dx + dy * dy).sqrt() - rest[e];
        energy += 0.5 * stiffness * stretch * stretch;
    }
    for t in triangles {
        let (a, b, cc) = (t[0], t[1], t[2]);
        let area = 0.5
            * ((positions[b][0] - positions[a][0]) * (positions[cc][1] - positions[a][1])
                - (positions[cc][0] - positions[a][0]) * (positions[b][1] - positions[a][1]));
        if area < 0.05 {
            energy += (0.05 - area).powi(3) * 100.0;
        }
    }
    energy
}

#[test]
fn spring_mesh_energy() {
    // A square split into two triangles, one nearly collapsed.
    let positions = vec![[0.0, 0.0], [1.1, 0.1], [1.0, 0.95], [0.9, 0.06]];
    let edges = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3)];
    let rest = [1.0, 1.0, 1.0, 1.0, 1.4, 1.4];
    let triangles = [[0, 1, 2], [0, 1, 3]];
    let (value, (dpos, dk)) = generated!(mesh_energy_grad, mesh_energy_pullback,
        mesh_energy_grad_into; &positions, 2.0, &edges, &rest, &triangles);
    let mut p = flat(&positions);
    p.push(2.0);
    let mut g = flat(&dpos);
    g.push(dk);
    check_oracles(
        "mesh_energy",
        &p,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            let v: Vec<[f64; 2]> = (0..4).map(|_| r.a()).collect();
            mesh_energy(&v, r.s(), &edges, &rest, &triangles)
        },
        |q| {
            let mut r = Reader::new(q);
            let v: Vec<[Fd; 2]> = (0..4).map(|_| r.a()).collect();
            mesh_energy_fd(&v, r.s(), &edges, &rest, &triangles)
        },
        Tol::default(),
    );
    // Translation invariance: the forces sum to zero.
    for d in 0..2 {
        let s: f64 = dpos.iter().map(|f| f[d]).sum();
        assert!(s.abs() < 1e-14, "{s}");
    }
}

// ------------------------------------------------------------------------------------------
// Sphere tracing a signed distance field (a smooth union of a circle and a box): march along a
// ray until the distance is below a tolerance (`while` with `break`), the hit distance's
// derivative with respect to the scene.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn scene_sdf(x: f64, y: f64, radius: f64, half: f64, blend: f64) -> f64 {
    let circle = (x * x + y * y).sqrt() - radius;
    let qx = (x - 3.0).abs() - half;
    let qy = y.abs() - half;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    let inside = qx.max(qy).min(0.0);
    let boxd = outside + inside;
    // Polynomial smooth minimum.
    let h = (0.5 + 0.5 * (boxd - circle) / blend).clamp(0.0, 1.0);
    boxd * (1.0 - h) + circle * h - blend * h * (1.0 - h)
}

#[differentiate]
fn ray_hit_distance(ox: f64, oy: f64, angle: f64, radius: f64, half: f64, blend: f64) -> f64 {
    let (dx, dy) = (angle.cos(), angle.sin());
    let mut t = 0.0;
    let mut steps = 0;
    while steps < 200 {
        let d = scene_sdf(ox + t * dx, oy + t * dy, radius, half, blend);
        if d < 1e-12 {
            break;
        }
        t += d;
        steps += 1;
    }
    t
}

fn scene_sdf_fd(x: Fd, y: Fd, radius: Fd, half: Fd, blend: Fd) -> Fd {
    let circle = (x * x + y * y).sqrt() - radius;
    let qx = (x - 3.0).abs() - half;
    let qy = y.abs() - half;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    let inside = qx.max(qy).min(0.0);
    let boxd = outside + inside;
    let hh = 0.5 + 0.5 * (boxd - circle) / blend;
    let h = if hh < 0.0 {
        c(0.0)
    } else if hh > 1.0 {
        c(1.0)
    } else {
        hh
    };
    boxd * (1.0 - h) + circle * h - blend * h * (1.0 - h)
}

fn ray_hit_distance_fd(ox: Fd, oy: Fd, angle: Fd, radius: Fd, half: Fd, blend: Fd) -> Fd {
    let (dx, dy) = (angle.cos(), angle.sin());
    let mut t = c(0.0);
    let mut steps = 0;
    while steps < 200 {
        let d = scene_sdf_fd(ox + t * dx, oy + t * dy, radius, half, blend);
        if d < 1e-12 {
            break;
        }
        t += d;
        steps += 1;
    }
    t
}

#[test]
fn sphere_tracing() {
    // Toward the circle far from the box: t = |o| - r, dt/dr = -1, dt/dox = ox / |o|.
    let (ox, oy): (f64, f64) = (-5.0, 0.4);
    let angle = (-oy).atan2(-ox);
    let x = [ox, oy, angle, 1.0, 0.5, 0.1];
    let (value, g) = generated!(ray_hit_distance_grad, ray_hit_distance_pullback,
        ray_hit_distance_grad_into; x[0], x[1], x[2], x[3], x[4], x[5]);
    let dist = (ox * ox + oy * oy).sqrt();
    assert_close(value, dist - 1.0, 1e-11, "hit distance");
    assert_close(g.3, -1.0, 1e-9, "dt/dradius");
    assert_close(g.0, ox / dist, 1e-9, "dt/dox");
    check_oracles(
        "ray_hit_distance",
        &x,
        value,
        &flat(&g),
        |p| ray_hit_distance(p[0], p[1], p[2], p[3], p[4], p[5]),
        |p| ray_hit_distance_fd(p[0], p[1], p[2], p[3], p[4], p[5]),
        Tol {
            dual: 1e-10,
            fd: 1e-6,
            ..Tol::default()
        },
    );
    // (Toward the box's face the last evaluation lands on the surface, where the box distance's
    // sqrt(qx² + qy²) is at 0: the gradient is NaN though forward mode is finite,
    // tests/pending/programs_nan_adjoint.rs.)
}

// ------------------------------------------------------------------------------------------
// Signal processing: an FIR filter (taps active), a biquad IIR section with its delay line, the
// DFT power spectrum against Parseval, a 2-D convolution of an image.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(taps, signal))]
fn fir_error(taps: &[f64; 5], signal: &[f64], desired: &[f64]) -> f64 {
    let mut error = 0.0;
    for n in 0..signal.len() {
        let mut y = 0.0;
        for k in 0..5 {
            if n >= k {
                y += taps[k] * signal[n - k];
            }
        }
        error += (y - desired[n]).powi(2);
    }
    error
}

fn fir_error_fd(taps: &[Fd; 5], signal: &[Fd], desired: &[f64]) -> Fd {
    let mut error = c(0.0);
    for n in 0..signal.len() {
        let mut y = c(0.0);
        for k in 0..5 {
            if n >= k {
                y += taps[k] * signal[n - k];
            }
        }
        error += (y - desired[n]).powi(2);
    }
    error
}

#[differentiate(wrt(b0, b1, b2, a1, a2, x))]
fn biquad_energy(b0: f64, b1: f64, b2: f64, a1: f64, a2: f64, x: &[f64]) -> f64 {
    // Direct form I: two past inputs and two past outputs.
    let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
    let mut energy = 0.0;
    for &input in x {
        let y = b0 * input + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
        x2 = x1;
        x1 = input;
        y2 = y1;
        y1 = y;
        energy += y * y;
    }
    energy
}

fn biquad_energy_fd(b0: Fd, b1: Fd, b2: Fd, a1: Fd, a2: Fd, x: &[Fd]) -> Fd {
    let (mut x1, mut x2, mut y1, mut y2) = (c(0.0), c(0.0), c(0.0), c(0.0));
    let mut energy = c(0.0);
    for &input in x {
        let y = b0 * input + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
        x2 = x1;
        x1 = input;
        y2 = y1;
        y1 = y;
        energy += y * y;
    }
    energy
}

fn test_signal(n: usize) -> Vec<f64> {
    (0..n)
        .map(|t| (t as f64 * 0.4).sin() + 0.5 * (t as f64 * 1.7).cos())
        .collect()
}

#[test]
fn fir_and_biquad_filters() {
    let signal = test_signal(16);
    let desired: Vec<f64> = (0..16).map(|t| (t as f64 * 0.4 - 0.3).sin()).collect();
    let taps = [0.5, 0.3, -0.1, 0.05, 0.02];
    let (value, (dtaps, dsignal)) = generated!(fir_error_grad, fir_error_pullback, fir_error_grad_into;
        &taps, &signal, &desired);
    let mut p = taps.to_vec();
    p.extend(&signal);
    let mut g = dtaps.to_vec();
    g.extend(&dsignal);
    check_oracles(
        "fir_error",
        &p,
        value,
        &g,
        |q| fir_error(&[q[0], q[1], q[2], q[3], q[4]], &q[5..], &desired),
        |q| fir_error_fd(&[q[0], q[1], q[2], q[3], q[4]], &q[5..], &desired),
        Tol::default(),
    );

    let coefficients = [0.2, 0.3, 0.1, -0.5, 0.2];
    let (value, g) = generated!(biquad_energy_grad, biquad_energy_pullback, biquad_energy_grad_into;
        0.2, 0.3, 0.1, -0.5, 0.2, &signal);
    let mut p = coefficients.to_vec();
    p.extend(&signal);
    let mut gv = vec![g.0, g.1, g.2, g.3, g.4];
    gv.extend(&g.5);
    check_oracles(
        "biquad_energy",
        &p,
        value,
        &gv,
        |q| biquad_energy(q[0], q[1], q[2], q[3], q[4], &q[5..]),
        |q| biquad_energy_fd(q[0], q[1], q[2], q[3], q[4], &q[5..]),
        Tol::default(),
    );
    // With no feedback the filter is FIR: the same energy and input gradient as fir_error with
    // taps (b0, b1, b2, 0, 0) and a zero desired signal.
    let (e_iir, g_iir) = biquad_energy_grad(0.2, 0.3, 0.1, 0.0, 0.0, &signal);
    let (e_fir, (_, g_fir)) = fir_error_grad(&[0.2, 0.3, 0.1, 0.0, 0.0], &signal, &[0.0; 16]);
    assert_close(e_iir, e_fir, 1e-15, "IIR without feedback = FIR");
    for t in 0..16 {
        assert_close(g_iir.5[t], g_fir[t], 1e-15, "input gradients");
    }
}

#[differentiate]
fn weighted_power_spectrum(x: &[f64], weights: &[f64]) -> f64 {
    let n = x.len();
    let mut total = 0.0;
    for k in 0..n {
        let mut re = 0.0;
        let mut im = 0.0;
        for t in 0..n {
            let phase = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
            re += x[t] * phase.cos();
            im += x[t] * phase.sin();
        }
        total += weights[k] * (re * re + im * im);
    }
    total
}

fn weighted_power_spectrum_fd(x: &[Fd], weights: &[Fd]) -> Fd {
    let n = x.len();
    let mut total = c(0.0);
    for k in 0..n {
        let mut re = c(0.0);
        let mut im = c(0.0);
        for t in 0..n {
            let phase = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
            re += x[t] * phase.cos();
            im += x[t] * phase.sin();
        }
        total += weights[k] * (re * re + im * im);
    }
    total
}

#[test]
fn dft_power_spectrum() {
    let x = test_signal(8);
    // Parseval: with unit weights the total power is N sum x², its gradient 2 N x.
    let (value, (dx, dw)) = generated!(weighted_power_spectrum_grad, weighted_power_spectrum_pullback,
        weighted_power_spectrum_grad_into; &x, &[1.0; 8]);
    assert_close(
        value,
        8.0 * x.iter().map(|v| v * v).sum::<f64>(),
        1e-13,
        "Parseval",
    );
    for t in 0..8 {
        assert_close(dx[t], 16.0 * x[t], 1e-13, "2 N x");
    }
    let weights: Vec<f64> = (0..8).map(|k| 1.0 / (1.0 + k as f64)).collect();
    let (value, (dx, dw2)) = generated!(weighted_power_spectrum_grad, weighted_power_spectrum_pullback,
        weighted_power_spectrum_grad_into; &x, &weights);
    assert_eq!(dw.len(), 8);
    let mut p = x.clone();
    p.extend(&weights);
    let mut g = dx.clone();
    g.extend(&dw2);
    check_oracles(
        "weighted_power_spectrum",
        &p,
        value,
        &g,
        |q| weighted_power_spectrum(&q[..8], &q[8..]),
        |q| weighted_power_spectrum_fd(&q[..8], &q[8..]),
        Tol::default(),
    );
}

#[differentiate(wrt(kernel, image))]
fn conv2d_relu_sum(image: &[[f64; 6]; 6], kernel: &[[f64; 3]; 3], bias: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..4 {
        for j in 0..4 {
            let mut acc = bias;
            for u in 0..3 {
                for v in 0..3 {
                    acc += kernel[u][v] * image[i + u][j + v];
                }
            }
            // ReLU then a soft penalty: the loss of a tiny convolutional layer.
            total += acc.max(0.0).powi(2);
        }
    }
    total
}

fn conv2d_relu_sum_fd(image: &[[Fd; 6]; 6], kernel: &[[Fd; 3]; 3], bias: f64) -> Fd {
    let mut total = c(0.0);
    for i in 0..4 {
        for j in 0..4 {
            let mut acc = c(bias);
            for u in 0..3 {
                for v in 0..3 {
                    acc += kernel[u][v] * image[i + u][j + v];
                }
            }
            total += acc.max(0.0).powi(2);
        }
    }
    total
}

#[test]
fn convolution_2d() {
    let image: [[f64; 6]; 6] =
        std::array::from_fn(|i| std::array::from_fn(|j| ((i * 6 + j) as f64 * 0.53).sin()));
    let kernel = [[0.2, -0.1, 0.3], [0.5, 0.1, -0.4], [-0.2, 0.3, 0.1]];
    let (value, (dimage, dkernel)) = generated!(conv2d_relu_sum_grad, conv2d_relu_sum_pullback,
        conv2d_relu_sum_grad_into; &image, &kernel, 0.05);
    let mut p = flat(&image);
    p.extend(flat(&kernel));
    let mut g = flat(&dimage);
    g.extend(flat(&dkernel));
    check_oracles(
        "conv2d_relu_sum",
        &p,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            conv2d_relu_sum(&r.m(), &r.m(), 0.05)
        },
        |q| {
            let mut r = Reader::new(q);
            conv2d_relu_sum_fd(&r.m(), &r.m(), 0.05)
        },
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Optimisation test functions chosen by `match`, each with a closed-form gradient.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn test_function(x: &[f64], which: u32) -> f64 {
    let n = x.len() as f64;
    match which {
        0 => {
            // Rosenbrock
            let mut s = 0.0;
            for i in 0..x.len() - 1 {
                s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
            }
            s
        }
        1 => {
            // Rastrigin
            let mut s = 10.0 * n;
            for &xi in x.iter() {
                s += xi * xi - 10.0 * (2.0 * PI * xi).cos();
            }
            s
        }
        2 => {
            // Ackley
            let mut sq = 0.0;
            let mut cs = 0.0;
            for i in 0..x.len() {
                sq += x[i] * x[i];
                cs += (2.0 * PI * x[i]).cos();
            }
            -20.0 * (-0.2 * (sq / n).sqrt()).exp() - (cs / n).exp() + 20.0 + std::f64::consts::E
        }
        _ => {
            // Himmelblau (the first two coordinates)
            (x[0] * x[0] + x[1] - 11.0).powi(2) + (x[0] + x[1] * x[1] - 7.0).powi(2)
        }
    }
}

fn test_function_fd(x: &[Fd], which: u32) -> Fd {
    let n = x.len() as f64;
    match which {
        0 => {
            let mut s = c(0.0);
            for i in 0..x.len() - 1 {
                s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
            }
            s
        }
        1 => {
            let mut s = c(10.0 * n);
            for &xi in x.iter() {
                s += xi * xi - 10.0 * (2.0 * PI * xi).cos();
            }
            s
        }
        2 => {
            let mut sq = c(0.0);
            let mut cs = c(0.0);
            for i in 0..x.len() {
                sq += x[i] * x[i];
                cs += (2.0 * PI * x[i]).cos();
            }
            -20.0 * (-0.2 * (sq / n).sqrt()).exp() - (cs / n).exp() + 20.0 + std::f64::consts::E
        }
        _ => (x[0] * x[0] + x[1] - 11.0).powi(2) + (x[0] + x[1] * x[1] - 7.0).powi(2),
    }
}

#[test]
fn optimisation_test_functions() {
    let x = [0.3, -1.2, 0.8, 1.4];
    for which in 0..4 {
        let (value, g) = generated!(test_function_grad, test_function_pullback, test_function_grad_into;
            &x, which);
        check_oracles(
            "test_function",
            &x,
            value,
            &g,
            |p| test_function(p, which),
            |p| test_function_fd(p, which),
            Tol::default(),
        );
        let expected: Vec<f64> = match which {
            0 => (0..4)
                .map(|i| {
                    let mut d = 0.0;
                    if i < 3 {
                        d += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
                    }
                    if i > 0 {
                        d += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
                    }
                    d
                })
                .collect(),
            1 => x
                .iter()
                .map(|&v| 2.0 * v + 20.0 * PI * (2.0 * PI * v).sin())
                .collect(),
            2 => {
                let r = (x.iter().map(|v| v * v).sum::<f64>() / 4.0).sqrt();
                let cs = (x.iter().map(|v| (2.0 * PI * v).cos()).sum::<f64>() / 4.0).exp();
                x.iter()
                    .map(|&v| {
                        4.0 * (-0.2 * r).exp() * v / (4.0 * r)
                            + cs * 2.0 * PI * (2.0 * PI * v).sin() / 4.0
                    })
                    .collect()
            }
            _ => {
                let (a, b) = (x[0] * x[0] + x[1] - 11.0, x[0] + x[1] * x[1] - 7.0);
                vec![4.0 * x[0] * a + 2.0 * b, 2.0 * a + 4.0 * x[1] * b, 0.0, 0.0]
            }
        };
        for i in 0..4 {
            assert_close(g[i], expected[i], 1e-13, "closed form");
        }
    }
    // Himmelblau's minimum at (3, 2): value and gradient exactly zero.
    let (v, g) = test_function_grad(&[3.0, 2.0], 3);
    assert_eq!((v, g), (0.0, vec![0.0, 0.0]));
}

// ------------------------------------------------------------------------------------------
// Root finding: Kepler's equation E - e sin E = M by bisection then Newton with a tolerance and
// an early return; a fixed point x = cos(a x) with `break value`. Implicit-function closed forms.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn kepler_eccentric_anomaly(mean_anomaly: f64, e: f64) -> f64 {
    let mut lo = 0.0;
    let mut hi = 2.0 * PI;
    for _ in 0..8 {
        let mid = 0.5 * (lo + hi);
        if mid - e * mid.sin() - mean_anomaly > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let mut ecc = 0.5 * (lo + hi);
    for _ in 0..30 {
        let f = ecc - e * ecc.sin() - mean_anomaly;
        let step = f / (1.0 - e * ecc.cos());
        ecc -= step;
        if step.abs() < 1e-15 {
            return ecc;
        }
    }
    ecc
}

fn kepler_eccentric_anomaly_fd(mean_anomaly: Fd, e: Fd) -> Fd {
    let mut lo = c(0.0);
    let mut hi = c(2.0 * PI);
    for _ in 0..8 {
        let mid = 0.5 * (lo + hi);
        if mid - e * mid.sin() - mean_anomaly > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let mut ecc = 0.5 * (lo + hi);
    for _ in 0..30 {
        let f = ecc - e * ecc.sin() - mean_anomaly;
        let step = f / (1.0 - e * ecc.cos());
        ecc -= step;
        if step.abs() < 1e-15 {
            return ecc;
        }
    }
    ecc
}

#[differentiate]
fn cosine_fixed_point(a: f64, x0: f64) -> f64 {
    let mut x = x0;
    let mut iterations = 0;
    loop {
        let next = (a * x).cos();
        iterations += 1;
        if (next - x).abs() < 1e-15 || iterations == 500 {
            break next;
        }
        x = next;
    }
}

fn cosine_fixed_point_fd(a: Fd, x0: Fd) -> Fd {
    let mut x = x0;
    let mut iterations = 0;
    loop {
        let next = (a * x).cos();
        iterations += 1;
        if (next - x).abs() < 1e-15 || iterations == 500 {
            break next;
        }
        x = next;
    }
}

#[test]
fn root_finding() {
    for (m, e) in [(1.0, 0.3), (4.0, 0.7), (0.2, 0.9)] {
        let (ecc, (dm, de)) = generated!(kepler_eccentric_anomaly_grad, kepler_eccentric_anomaly_pullback,
            kepler_eccentric_anomaly_grad_into; m, e);
        assert_close(ecc - e * ecc.sin(), m, 1e-14, "Kepler solved");
        let denominator = 1.0 - e * ecc.cos();
        assert_close(dm, 1.0 / denominator, 1e-12, "dE/dM");
        assert_close(de, ecc.sin() / denominator, 1e-12, "dE/de");
        check_oracles(
            "kepler",
            &[m, e],
            ecc,
            &[dm, de],
            |p| kepler_eccentric_anomaly(p[0], p[1]),
            |p| kepler_eccentric_anomaly_fd(p[0], p[1]),
            Tol {
                dual: 1e-11,
                fd: 1e-8,
                ..Tol::default()
            },
        );
    }
    let (x, (da, dx0)) = generated!(cosine_fixed_point_grad, cosine_fixed_point_pullback,
        cosine_fixed_point_grad_into; 0.8, 0.5);
    assert_close(x, (0.8 * x).cos(), 1e-14, "fixed point");
    let s = (0.8 * x).sin();
    assert_close(da, -x * s / (1.0 + 0.8 * s), 1e-12, "dx/da");
    assert!(dx0.abs() < 1e-12, "the start is forgotten: {dx0}");
    check_oracles(
        "cosine_fixed_point",
        &[0.8, 0.5],
        x,
        &[da, dx0],
        |p| cosine_fixed_point(p[0], p[1]),
        |p| cosine_fixed_point_fd(p[0], p[1]),
        Tol {
            dual: 1e-11,
            fd: 1e-8,
            ..Tol::default()
        },
    );
}

// ------------------------------------------------------------------------------------------
// Whittaker smoothing: solve (I + λ D'D) x = y for first differences D by the Thomas algorithm
// (forward sweep into two Vecs, back substitution in a reversed loop), a weighted sum of x.
// d/dy = A^{-1} w, d/dλ = -(A^{-1} w)' D'D x: both from solves with the function itself.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(y, lambda))]
fn whittaker_smooth(y: &[f64], lambda: f64, weights: &[f64]) -> f64 {
    let n = y.len();
    let mut c_prime = vec![0.0; n];
    let mut d_prime = vec![0.0; n];
    for i in 0..n {
        let diag = if i == 0 || i == n - 1 {
            1.0 + lambda
        } else {
            1.0 + 2.0 * lambda
        };
        if i == 0 {
            c_prime[0] = -lambda / diag;
            d_prime[0] = y[0] / diag;
        } else {
            let m = diag + lambda * c_prime[i - 1];
            c_prime[i] = -lambda / m;
            d_prime[i] = (y[i] + lambda * d_prime[i - 1]) / m;
        }
    }
    let mut x = vec![0.0; n];
    x[n - 1] = d_prime[n - 1];
    for i in (0..n - 1).rev() {
        x[i] = d_prime[i] - c_prime[i] * x[i + 1];
    }
    let mut total = 0.0;
    for i in 0..n {
        total += weights[i] * x[i];
    }
    total
}

fn whittaker_smooth_fd(y: &[Fd], lambda: Fd, weights: &[f64]) -> Fd {
    let n = y.len();
    let mut c_prime = vec![c(0.0); n];
    let mut d_prime = vec![c(0.0); n];
    for i in 0..n {
        let diag = if i == 0 || i == n - 1 {
            1.0 + lambda
        } else {
            1.0 + 2.0 * lambda
        };
        if i == 0 {
            c_prime[0] = -lambda / diag;
            d_prime[0] = y[0] / diag;
        } else {
            let m = diag + lambda * c_prime[i - 1];
            c_prime[i] = -lambda / m;
            d_prime[i] = (y[i] + lambda * d_prime[i - 1]) / m;
        }
    }
    let mut x = vec![c(0.0); n];
    x[n - 1] = d_prime[n - 1];
    for i in (0..n - 1).rev() {
        x[i] = d_prime[i] - c_prime[i] * x[i + 1];
    }
    let mut total = c(0.0);
    for i in 0..n {
        total += weights[i] * x[i];
    }
    total
}

#[test]
fn whittaker_smoother_thomas_algorithm() {
    let y = test_signal(9);
    let weights: Vec<f64> = (0..9).map(|i| 1.0 + 0.1 * i as f64).collect();
    let lambda = 2.5;
    let (value, (dy, dlambda)) = generated!(whittaker_smooth_grad, whittaker_smooth_pullback,
        whittaker_smooth_grad_into; &y, lambda, &weights);
    // A^{-1} w and x = A^{-1} y, by solving with the program and unit weights.
    let solve = |rhs: &[f64]| -> Vec<f64> {
        (0..9)
            .map(|k| {
                let mut e = vec![0.0; 9];
                e[k] = 1.0;
                whittaker_smooth(rhs, lambda, &e)
            })
            .collect()
    };
    let z = solve(&weights);
    let x = solve(&y);
    for i in 0..9 {
        assert_close(dy[i], z[i], 1e-13, "d/dy = A^-1 w");
    }
    let mut zdx = 0.0;
    for i in 1..9 {
        zdx += (z[i] - z[i - 1]) * (x[i] - x[i - 1]);
    }
    assert_close(dlambda, -zdx, 1e-13, "d/dlambda");
    let mut p = y.clone();
    p.push(lambda);
    let mut g = dy.clone();
    g.push(dlambda);
    check_oracles(
        "whittaker_smooth",
        &p,
        value,
        &g,
        |q| whittaker_smooth(&q[..9], q[9], &weights),
        |q| whittaker_smooth_fd(&q[..9], q[9], &weights),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Bilinear interpolation on a grid along a ray: cell indices from `floor` (constant), the
// fractional parts differentiable; the grid values and the start point active.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(grid, px, py))]
fn ray_integral(grid: &[[f64; 5]; 5], px: f64, py: f64, dx: f64, dy: f64) -> f64 {
    let mut total = 0.0;
    for k in 0..6 {
        let x = px + k as f64 * dx;
        let y = py + k as f64 * dy;
        let i = x.floor() as usize;
        let j = y.floor() as usize;
        let fx = x - i as f64;
        let fy = y - j as f64;
        let value = (1.0 - fx) * (1.0 - fy) * grid[i][j]
            + fx * (1.0 - fy) * grid[i + 1][j]
            + (1.0 - fx) * fy * grid[i][j + 1]
            + fx * fy * grid[i + 1][j + 1];
        total += value * value;
    }
    total
}

fn ray_integral_fd(grid: &[[Fd; 5]; 5], px: Fd, py: Fd, dx: f64, dy: f64) -> Fd {
    let mut total = c(0.0);
    for k in 0..6 {
        let x = px + k as f64 * dx;
        let y = py + k as f64 * dy;
        let i = x.floor() as usize;
        let j = y.floor() as usize;
        let fx = x - i as f64;
        let fy = y - j as f64;
        let value = (1.0 - fx) * (1.0 - fy) * grid[i][j]
            + fx * (1.0 - fy) * grid[i + 1][j]
            + (1.0 - fx) * fy * grid[i][j + 1]
            + fx * fy * grid[i + 1][j + 1];
        total += value * value;
    }
    total
}

#[test]
fn bilinear_interpolation_along_a_ray() {
    let grid: [[f64; 5]; 5] =
        std::array::from_fn(|i| std::array::from_fn(|j| ((i * 5 + j) as f64 * 0.71).sin()));
    // No sample on a cell boundary (where differences would straddle two cells).
    let (px, py, dx, dy) = (0.33, 0.6, 0.55, 0.47);
    let (value, (dgrid, dpx, dpy)) = generated!(ray_integral_grad, ray_integral_pullback,
        ray_integral_grad_into; &grid, px, py, dx, dy);
    let mut p = flat(&grid);
    p.extend([px, py]);
    let mut g = flat(&dgrid);
    g.extend([dpx, dpy]);
    check_oracles(
        "ray_integral",
        &p,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            ray_integral(&r.m(), r.s(), r.s(), dx, dy)
        },
        |q| {
            let mut r = Reader::new(q);
            ray_integral_fd(&r.m(), r.s(), r.s(), dx, dy)
        },
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Soft dynamic time warping (Cuturi & Blondel 2017): a dynamic program over a local Vec of Vecs
// with a soft minimum of three neighbours per cell, the border at +infinity.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(a, b))]
fn soft_dtw(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    let (n, m) = (a.len(), b.len());
    // A flat table, row i at i * w: `vec![vec![f64::INFINITY; m + 1]; n + 1]` is rejected
    // ("nested `Vec`s are not supported; use a flat `Vec` and index it `i * m + j`").
    let w = m + 1;
    let mut r = vec![f64::INFINITY; (n + 1) * w];
    r[0] = 0.0;
    for i in 1..=n {
        for j in 1..=m {
            let cost = (a[i - 1] - b[j - 1]).powi(2);
            let (r0, r1, r2) = (r[(i - 1) * w + j - 1], r[(i - 1) * w + j], r[i * w + j - 1]);
            let lowest = r0.min(r1).min(r2);
            let s = (-(r0 - lowest) / gamma).exp()
                + (-(r1 - lowest) / gamma).exp()
                + (-(r2 - lowest) / gamma).exp();
            r[i * w + j] = cost + lowest - gamma * s.ln();
        }
    }
    r[n * w + m]
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
fn soft_dynamic_time_warping() {
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
    // Symmetric in its two series: the gradients swap with the arguments.
    let (value_ba, (db2, da2)) = soft_dtw_grad(&b, &a, 0.5);
    assert_close(value_ba, value, 1e-14, "symmetry");
    for i in 0..5 {
        assert_close(da2[i], da[i], 1e-14, "symmetric gradient");
    }
    for j in 0..4 {
        assert_close(db2[j], db[j], 1e-14, "symmetric gradient");
    }
}

// ------------------------------------------------------------------------------------------
// Conjugate gradients for a symmetric positive definite system: residual and direction arrays
// carried (the direction starting as a copy of the residual), a convergence `break`.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn conjugate_gradient(a: &[[f64; 3]; 3], b: &[f64; 3], c: &[f64; 3]) -> f64 {
    let mut x = [0.0; 3];
    let mut r = [b[0], b[1], b[2]];
    let mut p = r;
    let mut rs_old = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
    for _ in 0..10 {
        let mut ap = [0.0; 3];
        for i in 0..3 {
            for j in 0..3 {
                ap[i] += a[i][j] * p[j];
            }
        }
        let alpha = rs_old / (p[0] * ap[0] + p[1] * ap[1] + p[2] * ap[2]);
        for i in 0..3 {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let rs_new = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        if rs_new.sqrt() < 1e-12 {
            break;
        }
        for i in 0..3 {
            p[i] = r[i] + rs_new / rs_old * p[i];
        }
        rs_old = rs_new;
    }
    c[0] * x[0] + c[1] * x[1] + c[2] * x[2]
}

fn conjugate_gradient_fd(a: &[[Fd; 3]; 3], b: &[Fd; 3], cv: &[Fd; 3]) -> Fd {
    let mut x = [c(0.0); 3];
    let mut r = [b[0], b[1], b[2]];
    let mut p = r;
    let mut rs_old = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
    for _ in 0..10 {
        let mut ap = [c(0.0); 3];
        for i in 0..3 {
            for j in 0..3 {
                ap[i] += a[i][j] * p[j];
            }
        }
        let alpha = rs_old / (p[0] * ap[0] + p[1] * ap[1] + p[2] * ap[2]);
        for i in 0..3 {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let rs_new = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        if rs_new.sqrt() < 1e-12 {
            break;
        }
        for i in 0..3 {
            p[i] = r[i] + rs_new / rs_old * p[i];
        }
        rs_old = rs_new;
    }
    cv[0] * x[0] + cv[1] * x[1] + cv[2] * x[2]
}

#[test]
fn conjugate_gradients() {
    let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
    let b = [1.0, -2.0, 0.5];
    let cv = [0.3, 0.7, -1.1];
    let (value, (da, db, dc)) = generated!(conjugate_gradient_grad, conjugate_gradient_pullback,
        conjugate_gradient_grad_into; &a, &b, &cv);
    let mut p = flat(&a);
    p.extend(b);
    p.extend(cv);
    let mut g = flat(&da);
    g.extend(db);
    g.extend(dc);
    // Forward mode, not differences: CG in three steps solves the system only for a symmetric
    // A, and a difference in one off-diagonal entry leaves it unconverged (the count of
    // iterations changes with the step).
    common::check_forward_mode(
        "conjugate_gradient",
        &p,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            conjugate_gradient(&r.m(), &r.a(), &r.a())
        },
        |q| {
            let mut r = Reader::new(q);
            conjugate_gradient_fd(&r.m(), &r.a(), &r.a())
        },
        Tol {
            dual: 1e-11,
            ..Tol::default()
        },
    );
    // Closed forms of the exact solution: d/db = A^{-1} c, d/dc = x, and along symmetric
    // perturbations d/dA_ij + d/dA_ji = -(z_i x_j + z_j x_i), z = A^{-1} c.
    let inv = inverse3(&a);
    let x: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|j| inv[i][j] * b[j]).sum())
        .collect();
    let z: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|j| inv[i][j] * cv[j]).sum())
        .collect();
    for i in 0..3 {
        assert_close(db[i], z[i], 1e-12, "d/db");
        assert_close(dc[i], x[i], 1e-12, "d/dc");
        for j in i..3 {
            let pair = if i == j {
                da[i][i]
            } else {
                da[i][j] + da[j][i]
            };
            let expected = if i == j {
                -z[i] * x[i]
            } else {
                -(z[i] * x[j] + z[j] * x[i])
            };
            assert_close(pair, expected, 1e-12, "symmetric d/dA");
        }
    }
}

/// LU with partial pivoting over a permutation collected from a range and swapped; Horner by
/// `fold` from `0.0`, the max norm by `fold`, a strided sum over `step_by` of an untyped bound.
#[differentiate]
fn pivoted_log_det(a: &[f64], n: usize, c: &[f64]) -> f64 {
    let mut m = a.to_vec();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut log_det = 0.0;
    for k in 0..n {
        let mut p = k;
        for r in k + 1..n {
            if m[perm[r] * n + k].abs() > m[perm[p] * n + k].abs() {
                p = r;
            }
        }
        perm.swap(k, p);
        let pivot = m[perm[k] * n + k];
        log_det += pivot.abs().ln();
        for r in k + 1..n {
            let f = m[perm[r] * n + k] / pivot;
            for j in k..n {
                m[perm[r] * n + j] -= f * m[perm[k] * n + j];
            }
        }
    }
    let x = log_det;
    let horner: f64 = c.iter().rev().fold(0.0, |acc, &ci| acc.mul_add(x, ci));
    let top: f64 = a.iter().fold(0.0, |m, v| m.max(v.abs()));
    let len = 4;
    let mut strided = 0.0;
    for i in (0..len).step_by(2) {
        strided += a[i] * a[i + 1];
    }
    horner + top + strided
}

#[test]
fn lu_with_a_collected_permutation_and_folds_from_literals() {
    let a = [0.5, 2.0, -1.0, 1.5, 0.3, 0.8, 2.2, -0.7, 1.1];
    let c = [0.2, -0.5, 0.3];
    let (value, (da, dc)) = pivoted_log_det_grad(&a, 3, &c);
    assert_eq!(value.to_bits(), pivoted_log_det(&a, 3, &c).to_bits());
    let mut at = a.to_vec();
    at.extend(c);
    let mut grad = da.clone();
    grad.extend(&dc);
    for (k, g) in grad.iter().enumerate() {
        let h = 1e-6;
        let (mut up, mut down) = (at.clone(), at.clone());
        up[k] += h;
        down[k] -= h;
        let fd = (pivoted_log_det(&up[..9], 3, &up[9..])
            - pivoted_log_det(&down[..9], 3, &down[9..]))
            / (2.0 * h);
        assert_close(*g, fd, 1e-7, "pivoted_log_det");
    }
}

/// The fold from `0.0` as the function's value, as Rust infers its type from there.
#[differentiate]
fn horner_tail(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc.mul_add(x, ci))
}

#[test]
fn a_fold_from_an_untyped_literal_as_the_value() {
    let (value, (dc, dx)) = horner_tail_grad(&[0.2, -0.5, 0.3], 1.5);
    assert_eq!(
        value.to_bits(),
        horner_tail(&[0.2, -0.5, 0.3], 1.5).to_bits()
    );
    // 0.2 + x (-0.5 + 0.3 x): ∂/∂c = (1, x, x²), ∂/∂x = -0.5 + 0.6 x.
    assert_eq!(dc, vec![1.0, 1.5, 2.25]);
    assert_close(dx, -0.5 + 0.6 * 1.5, 1e-15, "horner");
}

//! The constructs of straight-line code, each checked against finite differences or the
//! analytic derivative.

#![allow(
    clippy::assign_op_pattern,
    clippy::needless_return,
    clippy::useless_vec
)] // the constructs under test

mod common;

use autodiff_core::{differentiate, no_grad};
use common::{assert_close, assert_gradient};

#[differentiate]
fn shadowing(x: f64, y: f64) -> f64 {
    let x = x * y;
    let x = x.sin() + y;
    x * x
}

#[test]
fn shadowed_variables_are_distinct_values() {
    for &(x, y) in &[(0.3, 1.7), (-1.2, 0.4), (2.0, -3.0)] {
        let (v, (dx, dy)) = shadowing_grad(x, y);
        assert_eq!(v, shadowing(x, y));
        assert_gradient(|p| shadowing(p[0], p[1]), &[x, y], &[dx, dy], 1e-8);
    }
}

#[differentiate]
fn reassignment(x: f64, y: f64) -> f64 {
    let mut s = x;
    s = s * y;
    s += x;
    s -= y * 2.0;
    s *= x;
    s /= y;
    s %= 7.0;
    s
}

#[test]
fn reassignment_and_compound_operators() {
    for &(x, y) in &[(1.3, 0.7), (-2.0, 1.5), (0.5, -0.25)] {
        let (v, (dx, dy)) = reassignment_grad(x, y);
        assert_eq!(v, reassignment(x, y));
        assert_gradient(|p| reassignment(p[0], p[1]), &[x, y], &[dx, dy], 1e-7);
    }
}

#[differentiate]
fn blocks_and_return(x: f64, y: f64) -> f64 {
    let inner = {
        let t = x * y;
        let u = { t + 1.0 };
        u * u
    };
    return inner / y;
}

#[test]
fn blocks_and_return_statement() {
    let (x, y) = (0.8, 1.9);
    let (v, (dx, dy)) = blocks_and_return_grad(x, y);
    assert_eq!(v, blocks_and_return(x, y));
    // d/dx (xy+1)^2 / y = 2(xy+1), d/dy = 2x(xy+1)/y - (xy+1)^2/y^2
    let u = x * y + 1.0;
    assert_close(dx, 2.0 * u, 1e-14);
    assert_close(dy, 2.0 * x * u / y - u * u / (y * y), 1e-14);
}

#[differentiate]
fn tuples(x: f64, y: f64) -> f64 {
    let (a, b) = (x * y, x + y);
    let pair = (a, b);
    let (mut c, _) = pair;
    c += pair.1 * pair.0;
    let (mut p, mut q): (f64, f64) = (c, b);
    (p, q) = (q, p);
    p * q + a
}

#[test]
fn tuple_patterns_and_expressions() {
    for &(x, y) in &[(0.4, 1.1), (-0.7, 2.5)] {
        let (v, (dx, dy)) = tuples_grad(x, y);
        assert_eq!(v, tuples(x, y));
        assert_gradient(|p| tuples(p[0], p[1]), &[x, y], &[dx, dy], 1e-8);
    }
}

#[differentiate]
fn casts(x: f64, n: i32) -> f64 {
    let small = x as f32;
    let back = (small * small) as f64;
    let k = (x * 10.0) as i64;
    back * (n as f64) + k as f64
}

#[test]
fn casts_between_floats_differentiate_and_from_integers_are_constants() {
    let (v, dx) = casts_grad(0.37, 3);
    assert_eq!(v, casts(0.37, 3));
    // back = x^2 in f32 precision; k is a constant.
    assert_close(dx, 2.0 * 0.37 * 3.0, 1e-6);
}

#[differentiate]
fn integers(x: f64, n: usize, k: i32) -> f64 {
    let m = n * 2 + 1;
    let half = m / 2;
    x.powi(k + 1) * half as f64 + (m as f64) * x
}

#[test]
fn integer_locals_and_parameters_are_inactive() {
    let (v, dx) = integers_grad(1.5, 3, 2);
    assert_eq!(v, integers(1.5, 3, 2));
    assert_close(dx, 3.0 * 1.5_f64.powi(2) * 3.0 + 7.0, 1e-14);
}

#[differentiate]
fn constants(r: f64) -> f64 {
    const SCALE: f64 = 0.5;
    std::f64::consts::PI * r * r * SCALE + core::f64::consts::E * r + f64::EPSILON
}

#[test]
fn float_constants() {
    let (_, dr) = constants_grad(2.0);
    assert_close(dr, std::f64::consts::PI * 2.0 + std::f64::consts::E, 1e-15);
}

#[differentiate]
fn stop_gradient(x: f64, y: f64) -> f64 {
    let c = no_grad(x * y);
    let d = autodiff_core::no_grad(y);
    x * c + d * y
}

#[test]
fn no_grad_treats_its_value_as_a_constant() {
    let (x, y) = (1.5, -0.5);
    let (v, (dx, dy)) = stop_gradient_grad(x, y);
    assert_eq!(v, stop_gradient(x, y));
    assert_close(dx, x * y, 1e-15);
    assert_close(dy, y, 1e-15);
}

#[differentiate]
fn spread(y: &[f64], w: &[f64; 2], q: f64) -> f64 {
    y.iter().map(|v| (v - q).powi(2)).sum::<f64>() * (w[0] + w[1] * q)
}

/// `no_grad` around a slice or array parameter handed to a call: the callee's derivative for
/// it is dropped, the others kept.
#[differentiate]
fn spread_of_constants(y: &[f64], w: &[f64; 2], q: f64) -> f64 {
    spread(no_grad(y), w, q) + spread(y, no_grad(w), q * q)
}

#[test]
fn no_grad_of_array_parameters_given_to_calls() {
    let (y, w, q) = ([1.0, 2.0, -0.5], [0.3, 0.8], 0.4);
    let (value, (dy, dw, dq)) = spread_of_constants_grad(&y, &w, q);
    assert_eq!(value.to_bits(), spread_of_constants(&y, &w, q).to_bits());
    // y only through the second call, w only through the first: the first's y and the
    // second's w held at these values.
    let f = |p: &[f64]| spread(&y, &[p[3], p[4]], p[5]) + spread(&p[..3], &w, p[5] * p[5]);
    assert_gradient(
        f,
        &[y[0], y[1], y[2], w[0], w[1], q],
        &[dy[0], dy[1], dy[2], dw[0], dw[1], dq],
        1e-7,
    );
}

#[differentiate]
fn single_precision(x: f32, y: f32) -> f32 {
    (x * y).sin() + x.sqrt() / y
}

#[test]
fn f32_functions() {
    let (x, y) = (0.7_f32, 1.3_f32);
    let (v, (dx, dy)) = single_precision_grad(x, y);
    assert_eq!(v, single_precision(x, y));
    let (xd, yd) = (x as f64, y as f64);
    assert_close(
        dx as f64,
        yd * (xd * yd).cos() + 0.5 / (xd.sqrt() * yd),
        1e-6,
    );
    assert_close(
        dy as f64,
        xd * (xd * yd).cos() - xd.sqrt() / (yd * yd),
        1e-6,
    );
}

#[differentiate(wrt(w))]
fn weighted(w: f64, data: f64, scale: f64) -> f64 {
    (w * data - 1.0).powi(2) * scale
}

#[test]
fn wrt_selects_the_active_parameters() {
    let (v, dw) = weighted_grad(0.5, 3.0, 2.0);
    assert_eq!(v, weighted(0.5, 3.0, 2.0));
    assert_close(dw, 2.0 * (0.5 * 3.0 - 1.0) * 3.0 * 2.0, 1e-15);
    assert_close(weighted_pullback(0.5, 3.0, 2.0, -2.0), -2.0 * dw, 1e-15);
}

#[differentiate]
fn inner(a: f64, b: f64) -> f64 {
    a.sin() * b + a
}

#[differentiate]
fn outer(x: f64, y: f64) -> f64 {
    let first = inner(x * y, y);
    let second = inner(first, x);
    second + inner(2.0, y) * x
}

#[test]
fn chain_rule_across_calls_including_a_function_called_twice() {
    for &(x, y) in &[(0.3, 0.9), (-1.1, 0.2), (1.7, -0.6)] {
        let (v, (dx, dy)) = outer_grad(x, y);
        assert_eq!(v, outer(x, y));
        assert_gradient(|p| outer(p[0], p[1]), &[x, y], &[dx, dy], 1e-8);
    }
}

#[test]
fn pullback_is_seed_times_gradient() {
    let (x, y) = (0.6, 1.4);
    let (_, (dx, dy)) = outer_grad(x, y);
    for seed in [0.0, 1.0, -2.5, 1e3] {
        let (px, py) = outer_pullback(x, y, seed);
        assert_close(px, seed * dx, 1e-14);
        assert_close(py, seed * dy, 1e-14);
    }
}

#[test]
fn grad_into_overwrites() {
    let mut grad = (f64::NAN, 123.0);
    let v = outer_grad_into(0.6, 1.4, &mut grad);
    assert_eq!((v, grad), outer_grad(0.6, 1.4));
    let v = outer_grad_into(0.6, 1.4, &mut grad);
    assert_eq!((v, grad), outer_grad(0.6, 1.4));
}

#[differentiate]
fn identity(x: f64) -> f64 {
    x
}

#[differentiate]
fn constant_output(x: f64) -> f64 {
    let _unused = x * 2.0;
    1.5
}

#[differentiate]
fn same_value_twice(x: f64) -> f64 {
    x * x + x.max(x)
}

#[test]
fn degenerate_functions() {
    assert_eq!(identity_grad(3.0), (3.0, 1.0));
    assert_eq!(constant_output_grad(3.0), (1.5, 0.0));
    let (_, d) = same_value_twice_grad(3.0);
    assert_close(d, 7.0, 1e-15);
}

/// Tables of constant tuples written in the function (an edge list, bonds with rest lengths),
/// as an array, a `vec!` and a literal iterated directly: data, as a `const` item is.
#[differentiate(jvp, hessian)]
fn spring_network(p: &[[f64; 2]], k: f64) -> f64 {
    let bonds = vec![(0, 1, 1.0), (1, 2, 0.5), (0, 2, -0.25)];
    let mut e = 0.0;
    for (a, b, rest) in bonds.iter().copied() {
        let dx = p[b][0] - p[a][0];
        let dy = p[b][1] - p[a][1];
        let r = (dx * dx + dy * dy).sqrt();
        e += k * (r - rest) * (r - rest);
    }
    let edges = [(0usize, 1usize), (1, 2), (2, 0)];
    for &(a, b) in edges.iter() {
        e += (p[b][0] - p[a][1]).powi(2);
    }
    for (a, b) in [(0, 2), (2, 1)] {
        e += p[a][0] * p[b][1];
    }
    e + p[edges[1].0][1] * k
}

#[test]
fn tables_of_constant_tuples() {
    let p = [[0.1, 0.5], [1.3, -0.2], [0.4, 0.9]];
    let (value, (dp, dk)) = spring_network_grad(&p, 0.7);
    assert_eq!(value.to_bits(), spring_network(&p, 0.7).to_bits());
    let point: Vec<f64> = p.iter().flatten().copied().chain([0.7]).collect();
    let grad: Vec<f64> = dp.iter().flatten().copied().chain([dk]).collect();
    let unflat = |q: &[f64]| [[q[0], q[1]], [q[2], q[3]], [q[4], q[5]]];
    assert_gradient(|q| spring_network(&unflat(q), q[6]), &point, &grad, 1e-7);
    let (_, _, h) = spring_network_hessian(&p, 0.7);
    let step = 1e-5;
    for i in 0..7 {
        let (mut up, mut down) = (point.clone(), point.clone());
        up[i] += step;
        down[i] -= step;
        let flat_grad = |q: &[f64]| {
            let (_, (dp, dk)) = spring_network_grad(&unflat(q), q[6]);
            dp.iter()
                .flatten()
                .copied()
                .chain([dk])
                .collect::<Vec<f64>>()
        };
        let (gu, gd) = (flat_grad(&up), flat_grad(&down));
        for j in 0..7 {
            assert_close(h[j][i], (gu[j] - gd[j]) / (2.0 * step), 1e-5);
        }
    }
}

/// Arrays filled with a value the function computes (`vec![b; n]`, `[x; 3]`, a struct's field):
/// the backward sweep sums the elements' adjoints into the value's; integer and `bool` fills
/// stay data.
#[derive(Clone, Debug, autodiff_core::Differentiable)]
struct Bias {
    s: f64,
    b: Vec<f64>,
}

#[differentiate(jvp, hessian)]
fn filled(x: &[f64], b: f64, p: &Bias, k: usize) -> f64 {
    let mut h = vec![b; x.len()];
    for i in 0..x.len() {
        h[i] += x[i] * x[i];
    }
    let a = [p.s; 3];
    let mut t = [x[0] * b; 2];
    t[1] *= 2.0;
    let q = vec![p.b[1]; 2];
    let idx = vec![k % 2; 3];
    let flags = [x[0] > 0.0; 2];
    let m = if flags[1] { x[idx[2]] } else { 1.0 };
    h.iter().map(|v| v.tanh()).sum::<f64>() + a[1] * a[2] + t[0] * t[1] + q[0] * q[1] * m
}

#[test]
fn arrays_filled_with_computed_values() {
    let x = [0.3, -0.7, 1.1];
    let p = Bias {
        s: 0.6,
        b: vec![0.2, -0.9],
    };
    for k in [0, 1] {
        let (value, (dx, db, dp)) = filled_grad(&x, 0.4, &p, k);
        assert_eq!(value.to_bits(), filled(&x, 0.4, &p, k).to_bits());
        let point: Vec<f64> = x
            .iter()
            .copied()
            .chain([0.4, p.s, p.b[0], p.b[1]])
            .collect();
        let grad: Vec<f64> = dx
            .iter()
            .copied()
            .chain([db, dp.s, dp.b[0], dp.b[1]])
            .collect();
        let bias = |q: &[f64]| Bias {
            s: q[4],
            b: vec![q[5], q[6]],
        };
        assert_gradient(|q| filled(&q[..3], q[3], &bias(q), k), &point, &grad, 1e-7);
        // Forward mode along `b` alone: the same fill, summed forward.
        let along_b = (
            vec![0.0; 3],
            1.0,
            Bias {
                s: 0.0,
                b: vec![0.0; 2],
            },
        );
        let (_, tangent) = filled_jvp(&x, 0.4, &p, k, along_b);
        assert_close(tangent, db, 1e-12);
    }
}

/// `fill` of a local array: a force accumulator reset every step (the old forces' adjoints stop
/// there), and integers.
#[differentiate]
fn spring_chain(x0: &[f64], k: f64) -> f64 {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut f = vec![0.0; n];
    let mut idx = vec![0usize; 2];
    idx.fill(n - 1);
    for _ in 0..3 {
        f.fill(0.0);
        for i in 0..n - 1 {
            let s = k * (x[i + 1] - x[i] - 1.0);
            f[i] += s;
            f[i + 1] -= s;
        }
        for i in 0..n {
            x[i] += 0.1 * f[i];
        }
    }
    x[idx[0]] - x[0]
}

#[test]
fn arrays_filled_again() {
    let x0 = [0.0, 1.2, 1.9, 3.3];
    let (value, (dx, dk)) = spring_chain_grad(&x0, 1.4);
    assert_eq!(value.to_bits(), spring_chain(&x0, 1.4).to_bits());
    let point = [&x0[..], &[1.4]].concat();
    let grad = [&dx[..], &[dk]].concat();
    assert_gradient(|p| spring_chain(&p[..4], p[4]), &point, &grad, 1e-7);
}

/// `matches!` on integers, with a guard, and on a float range: the `match` it stands for.
#[differentiate]
fn piecewise_by_matches(x: f64, k: usize) -> f64 {
    let a = if matches!(k, 1 | 2) { x * 2.0 } else { x * x };
    let b = if matches!(x, v if v > 0.5) {
        x.sin()
    } else {
        0.0
    };
    let c = if matches!(x, 0.0..=1.0,) { x * 3.0 } else { -x };
    // Inside `&&` and `||` conditions, with a guard reading a local.
    let lim = 0.25 * k as f64;
    let d = if matches!(k % 3, 0 | 2) && x > 0.0 || matches!(x * 2.0, v if v < lim) {
        x * x * x
    } else {
        x
    };
    a + b + c + d
}

#[test]
fn matches_macro() {
    for (x, k) in [(0.3, 1), (0.8, 0), (1.7, 2), (-0.4, 5), (0.1, 4), (0.9, 4)] {
        let (value, dx) = piecewise_by_matches_grad(x, k);
        assert_eq!(value.to_bits(), piecewise_by_matches(x, k).to_bits());
        let da = if matches!(k, 1 | 2) { 2.0 } else { 2.0 * x };
        let db = if x > 0.5 { x.cos() } else { 0.0 };
        let dc = if (0.0..=1.0).contains(&x) { 3.0 } else { -1.0 };
        let cubic = matches!(k % 3, 0 | 2) && x > 0.0 || 2.0 * x < 0.25 * k as f64;
        let dd = if cubic { 3.0 * x * x } else { 1.0 };
        assert_close(dx, da + db + dc + dd, 1e-15);
    }
}

/// `std::mem::replace` of a number, an array and a `Vec`: the value before, and the new one in
/// its place (a history kept one step back, the state of a recurrence replaced whole).
#[differentiate]
fn replaced_history(x: &[f64], c: f64) -> f64 {
    let mut prev = 0.0;
    let mut s = 0.0;
    let mut state = [c, 0.5, -0.25];
    let mut buf = vec![0.0; 3];
    for &v in x {
        let np = v * 2.0 + prev;
        let old = std::mem::replace(&mut prev, np);
        s += old * v;
        let next = [state[1] * v, state[2] + c, state[0] * state[1]];
        let was = std::mem::replace(&mut state, next);
        state[0] += was[2] * 0.5;
        let fresh: Vec<f64> = state.iter().map(|e| e * v).collect();
        let gone = std::mem::replace(&mut buf, fresh);
        buf[1] += gone[0] * gone[2];
        let s9 = s * 0.9;
        let _ = std::mem::replace(&mut s, s9);
    }
    s + prev + state[0] * state[2] + buf[1] - buf[0]
}

#[test]
fn mem_replace() {
    let x = [0.3, 1.4, 0.7, -0.6];
    let (value, (dx, dc)) = replaced_history_grad(&x, 0.8);
    assert_eq!(value.to_bits(), replaced_history(&x, 0.8).to_bits());
    let point = [&x[..], &[0.8]].concat();
    let grad = [&dx[..], &[dc]].concat();
    assert_gradient(|p| replaced_history(&p[..4], p[4]), &point, &grad, 1e-8);
}

/// `vec![[0.0, 0.0]; n]`, `vec![[a, 1.0, b]; n]`, `vec![vec![..]; 2]` and `[[s, 0.25]; 3]`:
/// matrices filled with a row written out (constant or computed), then rows assigned and
/// elements written (the positions of a planar arm's joints).
#[differentiate(hessian)]
fn joint_positions(angles: &[f64]) -> f64 {
    let n = angles.len();
    let mut pos = vec![[0.0, 0.0]; n];
    let mut vel = vec![[angles[0] * 0.5, 1.0, angles[1]]; n];
    let mut rows = vec![vec![angles[2], angles[0] * angles[1]]; 2];
    let fixed = [[angles[1].sin(), 0.25]; 3];
    let mut p = [0.0, 0.0];
    for i in 0..n {
        p = [p[0] + angles[i].cos(), p[1] + angles[i].sin()];
        pos[i] = p;
        vel[i][1] *= angles[i];
    }
    rows[1][0] += pos[1][1];
    pos[n - 1][0]
        + pos[n - 1][1] * vel[1][0]
        + vel[2][1] * vel[0][2]
        + rows[0][0] * rows[1][0]
        + rows[1][1]
        + fixed[2][0] * fixed[1][1]
}

#[test]
fn matrices_filled_with_a_row() {
    let x = [0.3, -0.4, 0.7];
    let (value, dx) = joint_positions_grad(&x);
    assert_eq!(value.to_bits(), joint_positions(&x).to_bits());
    assert_gradient(joint_positions, &x, &dx, 1e-8);
    let (hvalue, hgrad, hessian) = joint_positions_hessian(&x);
    assert_eq!(hvalue.to_bits(), value.to_bits());
    for (a, b) in hgrad.iter().zip(&dx) {
        assert_close(*a, *b, 1e-14);
    }
    for (i, h_row) in hessian.iter().enumerate() {
        let row = |p: &[f64]| joint_positions_grad(p).1[i];
        assert_gradient(row, &x, h_row, 1e-6);
    }
}

#[differentiate(jvp, hessian)]
fn rot2(a: f64) -> [[f64; 2]; 2] {
    let (s, c) = a.sin_cos();
    [[c, -s], [s, c]]
}

#[differentiate(jvp, hessian)]
fn matmul2(p: [[f64; 2]; 2], r: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    let mut m = [[0.0; 2]; 2];
    for a in 0..2 {
        for b in 0..2 {
            for c in 0..2 {
                m[a][b] += p[a][c] * r[c][b];
            }
        }
    }
    m
}

/// A `Vec` of matrices (a kinematic tree's transforms): a matrix assigned whole from a call or
/// a `match`, read whole (a copy, which a write leaves alone), passed to a call.
#[differentiate(jvp, hessian)]
fn kinematic_chain(angles: &[f64], parents: &[i32]) -> f64 {
    let n = angles.len();
    let mut world = vec![[[0.0; 2]; 2]; n];
    for i in 0..n {
        let rel = rot2(angles[i]);
        world[i] = match parents[i] {
            -1 => rel,
            p => matmul2(world[p as usize], rel),
        };
        let mut q = world[i];
        q[0][1] += angles[i] * 3.0;
        world[i][1][1] += q[0][1] * 0.5;
    }
    let last = world[n - 1];
    world[0] = [[1.0, 0.0], [0.0, 1.0]];
    last[0][0] + 2.0 * last[1][0] + world[1][1][1] * world[0][0][0] + world[n - 1][0][1]
}

#[test]
fn vec_of_matrices() {
    let (x, parents) = ([0.3, -0.4, 0.7], [-1, 0, 1]);
    let (value, dx) = kinematic_chain_grad(&x, &parents);
    assert_eq!(value.to_bits(), kinematic_chain(&x, &parents).to_bits());
    assert_gradient(|p| kinematic_chain(p, &parents), &x, &dx, 1e-8);
    let (_, _, hessian) = kinematic_chain_hessian(&x, &parents);
    for (i, h_row) in hessian.iter().enumerate() {
        let row = |p: &[f64]| kinematic_chain_grad(p, &parents).1[i];
        assert_gradient(row, &x, h_row, 1e-6);
    }
}

/// A matrix variable assigned a matrix of a `Vec` of matrices (`prev = world[i];`): a copy,
/// which later writes to either leave the other alone.
#[differentiate(hessian)]
fn matrix_reassigned(ang: &[f64]) -> f64 {
    let n = ang.len();
    let mut world = vec![[[0.0; 2]; 2]; n];
    for i in 0..n {
        world[i][0][0] = ang[i];
        world[i][1][1] = ang[i] * ang[i];
    }
    let mut prev = [[1.0, 0.0], [0.0, 1.0]];
    let mut s = 0.0;
    for i in 0..n {
        prev = world[i];
        prev[0][1] += ang[i] * 2.0;
        world[i][1][1] = 0.0;
        s += prev[0][0] * prev[1][1] + prev[0][1] * world[i][0][0];
    }
    s + prev[1][1]
}

#[test]
fn matrix_assigned_from_a_vec_of_matrices() {
    let x = [0.3, 0.7, -0.2];
    let (value, dx) = matrix_reassigned_grad(&x);
    assert_eq!(value.to_bits(), matrix_reassigned(&x).to_bits());
    assert_gradient(matrix_reassigned, &x, &dx, 1e-8);
    let (_, _, hessian) = matrix_reassigned_hessian(&x);
    for (i, h_row) in hessian.iter().enumerate() {
        assert_gradient(|p| matrix_reassigned_grad(p).1[i], &x, h_row, 1e-6);
    }
}

/// `m[2].fill(c)` of a row of a local matrix (a `Vec` of arrays, an array of arrays).
#[differentiate(hessian)]
fn rows_filled(x: &[f64]) -> f64 {
    let mut m = vec![[x[0], x[1]], [x[1] * x[2], 1.0], [0.5, x[0]]];
    let mut g = [[0.0; 3]; 2];
    let mut s = 0.0;
    for i in 0..3 {
        m[2].fill(0.25 * x[i]);
        g[i % 2].fill(x[2] * i as f64);
        s += m[2][1] * m[i][0] + g[1][i] * x[0] + g[0][2];
    }
    s + m[0][1] * m[1][0]
}

#[test]
fn fill_of_a_row() {
    let x = [0.3, 0.7, -0.2];
    let (value, dx) = rows_filled_grad(&x);
    assert_eq!(value.to_bits(), rows_filled(&x).to_bits());
    assert_gradient(rows_filled, &x, &dx, 1e-8);
    let (_, _, hessian) = rows_filled_hessian(&x);
    for (i, h_row) in hessian.iter().enumerate() {
        assert_gradient(|p| rows_filled_grad(p).1[i], &x, h_row, 1e-6);
    }
}

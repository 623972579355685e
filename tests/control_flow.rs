#![allow(clippy::needless_range_loop, clippy::assign_op_pattern)] // loops written the way numerical code is

mod common;
use autodiff_core::differentiate;
use common::assert_gradient;

#[differentiate]
fn branchy(x: f64, y: f64) -> f64 {
    let z = if x > 0.0 { x * y } else { y.sin() };
    let mut w = z;
    if y > 1.0 {
        w += x.exp();
    } else if y < -1.0 {
        w *= 2.0;
    }
    w * z
}

#[test]
fn branches() {
    for &(x, y) in &[(0.5, 2.0), (-0.5, 2.0), (0.5, 0.0), (-0.5, -2.0)] {
        let (v, (dx, dy)) = branchy_grad(x, y);
        assert_eq!(v, branchy(x, y));
        assert_gradient(|p| branchy(p[0], p[1]), &[x, y], &[dx, dy], 1e-7);
    }
}

#[differentiate]
fn dot(w: &[f64], x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += w[i] * x[i];
    }
    s
}

#[test]
fn dot_product() {
    let w = [1.0, 2.0, 3.0];
    let x = [0.5, -1.0, 2.0];
    let (v, (dw, dx)) = dot_grad(&w, &x);
    assert_eq!(v, dot(&w, &x));
    assert_eq!(dw, x.to_vec());
    assert_eq!(dx, w.to_vec());
}

#[differentiate]
fn product(x: &[f64]) -> f64 {
    let mut p = 1.0;
    for &v in x.iter() {
        p = p * v.sin();
    }
    p
}

#[test]
fn product_loop() {
    let x = [0.3, 1.2, -0.7, 2.0];
    let (v, dx) = product_grad(&x);
    assert_eq!(v, product(&x));
    assert_gradient(product, &x, &dx, 1e-8);
}

#[differentiate]
fn newton_sqrt(a: f64) -> f64 {
    let mut x = a;
    let mut k = 0;
    while k < 20 {
        x = 0.5 * (x + a / x);
        k += 1;
    }
    x
}

#[test]
fn newton() {
    let (v, d) = newton_sqrt_grad(2.0);
    assert!((v - 2.0f64.sqrt()).abs() < 1e-12);
    assert!((d - 0.5 / 2.0f64.sqrt()).abs() < 1e-12, "{d}");
}

#[differentiate]
fn early(x: &[f64], t: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        if x[i] > t {
            return s * x[i];
        }
        s += x[i] * x[i];
    }
    s
}

#[test]
fn early_return() {
    let x = [0.5, 1.5, 3.0, 0.2];
    for t in [1.0, 2.0, 10.0] {
        let (v, (dx, dt)) = early_grad(&x, t);
        assert_eq!(v, early(&x, t));
        let mut g = dx.clone();
        g.push(dt);
        let mut p0 = x.to_vec();
        p0.push(t);
        assert_gradient(|p| early(&p[..4], p[4]), &p0, &g, 1e-8);
    }
}

#[differentiate]
fn local_array(x: [f64; 3]) -> f64 {
    let mut a = [0.0; 3];
    for i in 0..3 {
        a[i] = x[i] * x[(i + 1) % 3];
    }
    let mut s = 0.0;
    for v in a.iter() {
        s += v.exp();
    }
    s
}

#[test]
fn arrays() {
    let x = [0.1, 0.7, -0.4];
    let (v, dx) = local_array_grad(x);
    assert_eq!(v, local_array(x));
    assert_gradient(|p| local_array([p[0], p[1], p[2]]), &x, &dx, 1e-8);
}

#[differentiate]
fn matches(x: f64, k: usize) -> f64 {
    match k {
        0 => x,
        1 | 2 => x * x,
        n if n > 10 => x.sin(),
        _ => 3.0 * x,
    }
}

#[test]
fn match_arms() {
    for k in [0, 1, 2, 5, 11] {
        let (_, d) = matches_grad(0.7, k);
        assert_gradient(|p| matches(p[0], k), &[0.7], &[d], 1e-8);
    }
}

/// `match` on a tuple: of comparisons, of integers, with elements bound and guards.
#[differentiate(hessian)]
fn quadrant(a: f64, b: f64, k: usize) -> f64 {
    let base = match (a > 0.0, b > 0.0) {
        (true, true) => a * b,
        (true, false) | (false, true) => a * a - b,
        (false, false) => (a + b).exp(),
    };
    let scaled = match (k % 3, a * b) {
        (0, p) if p > 1.0 => p.ln() + base,
        (0, _) => base * a,
        (1, p) => p * p + b,
        (_, _) => base,
    };
    let pair = (scaled, b);
    match pair {
        (s, y) if s > y => s - y * y,
        pair => pair.0 * pair.1,
    }
}

#[test]
fn match_on_tuples() {
    for (a, b) in [(0.7, 1.9), (1.5, -0.4), (-0.6, 0.8), (-0.3, -1.1)] {
        for k in 0..3 {
            let (value, (da, db)) = quadrant_grad(a, b, k);
            assert_eq!(value.to_bits(), quadrant(a, b, k).to_bits());
            assert_gradient(|p| quadrant(p[0], p[1], k), &[a, b], &[da, db], 1e-8);
            let (_, _, h) = quadrant_hessian(a, b, k);
            let g = |p: &[f64]| {
                let (_, (da, db)) = quadrant_grad(p[0], p[1], k);
                [da, db]
            };
            for j in 0..2 {
                let (mut up, mut down) = ([a, b], [a, b]);
                up[j] += 1e-6;
                down[j] -= 1e-6;
                let (gu, gd) = (g(&up), g(&down));
                for i in 0..2 {
                    let fd = (gu[i] - gd[i]) / 2e-6;
                    assert!(
                        (h[i][j] - fd).abs() < 1e-6 * fd.abs().max(1.0),
                        "{a} {b} {k}: {h:?}"
                    );
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Prior {
    Normal(f64),
    Laplace { scale: f64 },
    Flat,
}

/// A constant enum tested by `if let` and `match`, its payload bound and used.
#[differentiate(wrt(beta))]
fn penalised(beta: &[f64], prior: Prior, k: usize, n: usize) -> f64 {
    let mut loss = 0.0;
    for (i, b) in beta.iter().enumerate() {
        let weight = match prior {
            Prior::Laplace { scale } if i == 0 => scale,
            Prior::Normal(s) if s > 0.5 && i == 2 => s * s,
            _ => 1.0,
        };
        loss += weight * (b - 1.0) * (b - 1.0);
    }
    let pen = if let Prior::Normal(s) = prior {
        beta.iter().map(|b| b * b).sum::<f64>() / (2.0 * s * s)
    } else {
        0.0
    };
    let pen2 = match prior {
        Prior::Normal(_) | Prior::Flat => 0.0,
        Prior::Laplace { scale } => beta.iter().map(|b| b.abs()).sum::<f64>() / scale,
    };
    let mode = match (k, n) {
        (0, _) => beta[0],
        (_, 0) => beta[1] * beta[1],
        (a, b) => (a * b) as f64 * beta[0].sin(),
    };
    loss + pen + pen2 + mode
}

#[test]
fn constant_enums_and_tuples_of_integers_matched() {
    let beta = [0.4, -1.3, 2.2];
    for prior in [
        Prior::Normal(0.7),
        Prior::Laplace { scale: 2.5 },
        Prior::Flat,
    ] {
        for (k, n) in [(0, 3), (2, 0), (2, 3)] {
            let (value, grad) = penalised_grad(&beta, prior, k, n);
            assert_eq!(value.to_bits(), penalised(&beta, prior, k, n).to_bits());
            assert_gradient(|b| penalised(b, prior, k, n), &beta, &grad, 1e-8);
        }
    }
}

/// `if let .. && ..` chains (edition 2024): a binding read by the conditions after it.
#[differentiate]
fn chained(v: &[f64], k: usize, y: f64) -> f64 {
    let best = v.iter().copied().reduce(f64::max);
    let mut out = 0.0;
    if let Some(b) = best
        && b > 1.0
        && k > 0
    {
        out += b * y;
    } else if let Some(b) = best {
        out -= b * b;
    }
    let idx = if k < v.len() { Some(k) } else { None };
    if y > 0.0
        && let Some(i) = idx
    {
        out += v[i] * y * y;
    }
    out
}

#[test]
fn let_chains() {
    let v = [0.5, 1.7, -0.3];
    for (k, y) in [(0, 0.8), (1, 0.8), (1, -0.4), (5, 1.2)] {
        let (value, (dv, dy)) = chained_grad(&v, k, y);
        assert_eq!(value.to_bits(), chained(&v, k, y).to_bits());
        let mut grad = dv.clone();
        grad.push(dy);
        assert_gradient(
            |p| chained(&p[..3], k, p[3]),
            &[0.5, 1.7, -0.3, y],
            &grad,
            1e-8,
        );
    }
}

/// `v @ range` binds the value matched, in `match` and `if let`.
#[differentiate]
fn clipped(x: f64, k: i32) -> f64 {
    let a = match x {
        v @ 0.0..=1.0 => 2.0 * v * v,
        v @ ..0.0 => -v,
        _ => x.ln() + 2.0,
    };
    let b = if let n @ 1..=3 = k { n as f64 * x } else { 0.0 };
    let c = match (x, k) {
        (v @ 0.5.., 2 | 3) => v.sqrt(),
        (v, _) => v * 0.5,
    };
    a + b + c
}

#[test]
fn bindings_with_subpatterns() {
    for x in [-0.7, 0.3, 0.8, 2.5] {
        for k in [0, 2] {
            let (value, dx) = clipped_grad(x, k);
            assert_eq!(value.to_bits(), clipped(x, k).to_bits());
            assert_gradient(|p| clipped(p[0], k), &[x], &[dx], 1e-8);
        }
    }
}

/// `match` on an `Option` the function builds; a row of a matrix assigned to a local array.
#[allow(clippy::manual_unwrap_or)] // the `match` is the case
#[differentiate]
fn option_matched(x: &[[f64; 2]], y: f64) -> f64 {
    let mut p = x.to_vec();
    let mut keep = [0.0, 0.0];
    let mut best = None;
    for i in 0..p.len() {
        keep = p[i];
        p[i][1] = keep[0] * y;
        if keep[1] > 0.0 {
            best = Some(keep[1] * y);
        }
    }
    let b = match best {
        None => 1.0,
        Some(v) => v * v,
    };
    let top = match x.iter().map(|r| r[0]).reduce(f64::max) {
        Some(t) => t,
        _ => 0.0,
    };
    keep[0] * keep[1] + p[0][1] + b + top * y
}

#[test]
fn options_matched_and_rows_assigned() {
    for x in [[[0.3, 0.7], [1.1, -0.4]], [[0.3, -0.7], [1.1, -0.4]]] {
        let (value, (dx, dy)) = option_matched_grad(&x, 0.5);
        assert_eq!(value.to_bits(), option_matched(&x, 0.5).to_bits());
        let mut grad: Vec<f64> = dx.iter().flatten().copied().collect();
        grad.push(dy);
        let at = [x[0][0], x[0][1], x[1][0], x[1][1], 0.5];
        assert_gradient(
            |q| option_matched(&[[q[0], q[1]], [q[2], q[3]]], q[4]),
            &at,
            &grad,
            1e-8,
        );
    }
}

/// `let .. else` on an `Option` parameter, an `Option<usize>` of data, an `Option` an iterator
/// gives (bound `mut`), and a tuple of `Option`s; the `else` returns or continues. Also
/// `if let (Some(a), Some(b)) = (p, q)`.
#[differentiate(wrt(x))]
fn let_else_options(x: &[f64], ids: &[Option<usize>], scale: Option<f64>, k: usize) -> f64 {
    let Some(c) = scale else {
        return 0.0;
    };
    let mut s = 0.0;
    for i in 0..x.len() {
        let Some(j) = ids[i] else { continue };
        s += x[j] * x[i] * c;
    }
    let best = x.iter().copied().reduce(f64::max);
    let Some(mut m) = best else { return 0.0 };
    m *= 2.0;
    let (Some(a), Some(b)) = (ids[0], ids[1]) else {
        return s;
    };
    let Some(_) = ids.get(k) else { return -1.0 };
    if let (Some(p), Some(q)) = (ids[1], best) {
        s += x[p] * q;
    }
    s + m + x[a] * x[b]
}

#[test]
fn let_else() {
    let x = [0.5, 1.5, 2.5];
    let cases = [
        (vec![Some(2), Some(0), None], Some(1.5), 1),
        (vec![Some(2), None, Some(1)], Some(0.5), 0),
        (vec![Some(2), Some(1), Some(1)], None, 0),
        (vec![Some(1), Some(0), None], Some(2.0), 7),
    ];
    for (ids, scale, k) in cases {
        let (value, dx) = let_else_options_grad(&x, &ids, scale, k);
        assert_eq!(
            value.to_bits(),
            let_else_options(&x, &ids, scale, k).to_bits()
        );
        assert_gradient(|p| let_else_options(p, &ids, scale, k), &x, &dx, 1e-8);
    }
}

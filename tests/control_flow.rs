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

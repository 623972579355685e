//! Functions that return tuples and arrays, calls of them, calls inside loops, and the array
//! forms: 2-D arrays, `Vec` parameters, `vec!`, copies, labelled loops, `zip`/`enumerate`,
//! `break` with a value. Every gradient is checked against finite differences.
#![allow(
    clippy::ptr_arg,
    clippy::let_and_return,
    clippy::useless_vec,
    clippy::needless_range_loop
)] // the forms under test

mod common;
use autodiff_core::differentiate;
use common::assert_gradient;

#[differentiate]
fn polar(r: f64, t: f64) -> (f64, f64) {
    (r * t.cos(), r * t.sin())
}

#[differentiate]
fn uses_polar(r: f64, t: f64) -> f64 {
    let (x, y) = polar(r, t);
    x * x + 3.0 * y
}

#[differentiate]
fn scale3(x: &[f64; 3], s: f64) -> [f64; 3] {
    let mut out = [0.0; 3];
    for i in 0..3 {
        out[i] = x[i] * s;
    }
    out
}

#[differentiate]
fn uses_scale3(x: [f64; 3], s: f64) -> f64 {
    let y = scale3(&x, s);
    y[0] * y[1] + y[2]
}

#[differentiate]
fn inner(a: f64, b: f64) -> f64 {
    (a * b).sin()
}

#[differentiate]
fn calls_in_loop(x: &[f64], w: f64) -> f64 {
    let mut s: f64 = 0.0;
    for &v in x.iter() {
        s += inner(v, w) * s.cos();
    }
    s
}

#[differentiate]
fn matvec_sum(m: &[[f64; 3]; 2], v: Vec<f64>) -> f64 {
    let mut out = vec![0.0; 2];
    for i in 0..2 {
        for j in 0..3 {
            out[i] += m[i][j] * v[j];
        }
    }
    let mut copy = out.to_vec();
    copy[0] *= copy[1];
    copy[0] + copy[1]
}

#[differentiate]
fn labels(x: &[f64]) -> f64 {
    let mut s = 0.0;
    'outer: for i in 0..x.len() {
        for j in (0..=i).rev() {
            if x[j] < 0.0 {
                continue 'outer;
            }
            if s > 100.0 {
                break 'outer;
            }
            s += x[j] * x[i];
        }
    }
    s
}

#[differentiate]
fn zips(a: &Vec<f64>, b: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        s += (i as f64 + 1.0) * x * y.exp();
    }
    let mut k = 0;
    let r = loop {
        k += 1;
        if k > 3 {
            break s * 2.0;
        }
        s = s * 0.5 + 1.0;
    };
    r
}

#[test]
fn calls_returns_and_arrays() {
    let (r, t) = (1.3, 0.4);
    let (_, (dr, dt)) = uses_polar_grad(r, t);
    assert_gradient(|p| uses_polar(p[0], p[1]), &[r, t], &[dr, dt], 1e-8);
    let (pr, pt) = polar_pullback(r, t, (1.0, 0.0));
    assert_gradient(|p| polar(p[0], p[1]).0, &[r, t], &[pr, pt], 1e-8);

    let x = [0.5, -1.0, 2.0];
    let (_, (dx, ds)) = uses_scale3_grad(x, 1.5);
    assert_gradient(
        |p| uses_scale3([p[0], p[1], p[2]], p[3]),
        &[0.5, -1.0, 2.0, 1.5],
        &[dx[0], dx[1], dx[2], ds],
        1e-8,
    );

    let xs = [0.3, 0.9, -0.4, 1.1];
    let (_, (dxs, dw)) = calls_in_loop_grad(&xs, 0.7);
    let mut g = dxs.clone();
    g.push(dw);
    assert_gradient(
        |p| calls_in_loop(&p[..4], p[4]),
        &[0.3, 0.9, -0.4, 1.1, 0.7],
        &g,
        1e-8,
    );

    let m = [[1.0, 2.0, 0.5], [-1.0, 0.3, 2.0]];
    let v = vec![0.2, -0.7, 1.4];
    let (_, (dm, dv)) = matvec_sum_grad(&m, v.clone());
    let mut g: Vec<f64> = dm.iter().flatten().copied().collect();
    g.extend(&dv);
    let mut p0: Vec<f64> = m.iter().flatten().copied().collect();
    p0.extend(&v);
    assert_gradient(
        |p| matvec_sum(&[[p[0], p[1], p[2]], [p[3], p[4], p[5]]], p[6..].to_vec()),
        &p0,
        &g,
        1e-8,
    );

    for xs in [
        [0.5, 1.0, 2.0, 0.3],
        [0.5, -1.0, 2.0, 0.3],
        [9.0, 8.0, 7.0, 6.0],
    ] {
        let (_, dx) = labels_grad(&xs);
        assert_gradient(labels, &xs, &dx, 1e-7);
    }

    let a = vec![0.3, 0.1, 0.8];
    let b = [0.2, -0.5, 0.4, 9.0];
    let (_, (da, db)) = zips_grad(&a, &b);
    let mut g = da.clone();
    g.extend(&db);
    assert_gradient(
        |p| zips(&p[..3].to_vec(), &p[3..]),
        &[0.3, 0.1, 0.8, 0.2, -0.5, 0.4, 9.0],
        &g,
        1e-8,
    );
}

#[differentiate]
fn double(x: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for i in 0..x.len() {
        y[i] = 2.0 * x[i] * x[i];
    }
    y
}

#[differentiate]
fn first(x: &[f64]) -> f64 {
    x[0].sin()
}

/// Regression: a `Vec` returned by a call and only passed on to another call (its adjoint
/// started as `0.0`, not as a zero `Vec`).
#[differentiate]
fn chained(x: &[f64]) -> f64 {
    let y = double(x);
    first(&y) + first(&double(&y))
}

/// Regression: iterating over a call's result.
#[differentiate]
fn iterate_a_result(x: &[f64]) -> f64 {
    let y = double(x);
    let mut s = 0.0;
    for (i, &v) in y.iter().enumerate() {
        s += v * (i as f64 + 1.0);
    }
    s
}

#[test]
fn vec_results_passed_on_and_iterated() {
    let x = [0.3, -0.8, 1.1];
    let (_, g) = chained_grad(&x);
    assert_gradient(chained, &x, &g, 1e-8);
    let (_, g) = iterate_a_result_grad(&x);
    assert_gradient(iterate_a_result, &x, &g, 1e-8);
}

#[differentiate]
fn weighted_dot(w: &[f64], x: &[f64], s: f64, t: f64) -> f64 {
    let mut d = 0.0;
    for i in 0..w.len() {
        d += w[i] * x[i];
    }
    d * s * t.sin()
}

/// Regression: one variable given to two arguments of a call, whose pullback adds into the
/// same adjoint twice (it was borrowed mutably twice), for slices, scalars and array elements,
/// inside and outside loops.
#[differentiate]
fn same_argument_twice(x: &[f64], a: f64) -> f64 {
    let mut s = weighted_dot(x, x, a, a);
    for i in 0..x.len() {
        s += inner(x[i], x[i]) + inner(a, x[i]);
    }
    let y = double(x);
    s + weighted_dot(&y, &y, x[0], x[0])
}

#[test]
fn one_variable_given_to_two_arguments() {
    let x = [0.3, -0.8, 1.1];
    let a = 0.7;
    let (_, (dx, da)) = same_argument_twice_grad(&x, a);
    let mut g = dx.clone();
    g.push(da);
    assert_gradient(
        |p| same_argument_twice(&p[..3], p[3]),
        &[0.3, -0.8, 1.1, 0.7],
        &g,
        1e-8,
    );
}

/// Slices and vectors of arrays: `points[s][k]` indexes the element, and the gradient of an
/// active `&[[f64; 2]]` is a `Vec<[f64; 2]>`.
#[differentiate(wrt(points, weights))]
fn weighted_norms(points: &[[f64; 2]], weights: Vec<[f64; 2]>, scale: &[[f64; 2]]) -> f64 {
    let mut s = 0.0;
    for i in 0..points.len() {
        for k in 0..2 {
            s += weights[i][k] * (points[i][k] * scale[i][k]).sin();
        }
    }
    s
}

#[test]
fn slices_and_vectors_of_arrays() {
    let points = [[0.3, -0.2], [1.1, 0.4], [-0.7, 0.9]];
    let weights = vec![[0.5, 1.5], [-1.0, 2.0], [0.25, -0.5]];
    let scale = [[1.0, 2.0], [0.5, -1.0], [3.0, 0.1]];
    let (_, (dp, dw)) = weighted_norms_grad(&points, weights.clone(), &scale);
    assert_eq!((dp.len(), dw.len()), (3, 3));
    let g: Vec<f64> = dp.iter().chain(&dw).flatten().copied().collect();
    let flat: Vec<f64> = points.iter().chain(&weights).flatten().copied().collect();
    assert_gradient(
        |v| {
            let rows: Vec<[f64; 2]> = v.chunks(2).map(|c| [c[0], c[1]]).collect();
            weighted_norms(&rows[..3], rows[3..].to_vec(), &scale)
        },
        &flat,
        &g,
        1e-8,
    );
}

#[differentiate]
fn row_value(r: [f64; 2]) -> f64 {
    r[0] * r[1].exp()
}

#[differentiate]
fn row_ref(r: &[f64; 2]) -> f64 {
    r[0].sin() + r[1]
}

/// Rows of a matrix parameter passed on by value (`*row`, `m[i]`) and by reference (`&m[i]`,
/// the `row` of `m.iter()`).
#[differentiate]
fn rows_passed_on(m: &[[f64; 2]; 3], v: &[[f64; 2]]) -> f64 {
    let mut s = row_value(m[0]) + row_ref(&m[1]);
    for row in m.iter() {
        s += row_value(*row) * row_ref(row);
    }
    for i in 0..v.len() {
        s += row_value(v[i]) + row_ref(&v[i]);
    }
    s
}

#[test]
fn rows_passed_by_value_and_by_reference() {
    let m = [[0.3, -0.2], [1.1, 0.4], [-0.7, 0.9]];
    let v = [[0.2, 0.1], [-0.4, 0.6]];
    let (_, (dm, dv)) = rows_passed_on_grad(&m, &v);
    let g: Vec<f64> = dm.iter().chain(&dv).flatten().copied().collect();
    let flat: Vec<f64> = m.iter().chain(&v).flatten().copied().collect();
    assert_gradient(
        |p| {
            let rows: Vec<[f64; 2]> = p.chunks(2).map(|c| [c[0], c[1]]).collect();
            rows_passed_on(&[rows[0], rows[1], rows[2]], &rows[3..])
        },
        &flat,
        &g,
        1e-8,
    );
}

/// Data as a `Vec` of rows (`&[Vec<f64>]`, `&Vec<Vec<f64>>`), read by index and by `.iter()`;
/// and a `Vec<Vec<f64>>` parameter differentiated, whose gradient has its shape.
#[differentiate(wrt(w, m))]
fn nested_vectors(w: &[f64], data: &Vec<Vec<f64>>, m: Vec<Vec<f64>>) -> f64 {
    let mut s = 0.0;
    for i in 0..data.len() {
        s += w[0] * data[i][0] + w[1] * data[i][1] * m[i][1];
    }
    for row in m.iter() {
        s += row[0] * row[1].sin();
    }
    s
}

#[test]
fn vectors_of_vectors() {
    let w = [0.4, -1.2];
    let data = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
    let m = vec![vec![0.5, 0.25], vec![-0.3, 0.8]];
    let (_, (dw, dm)) = nested_vectors_grad(&w, &data, m.clone());
    assert_eq!(dm.len(), 2);
    let g: Vec<f64> = dw
        .iter()
        .copied()
        .chain(dm.iter().flatten().copied())
        .collect();
    let flat: Vec<f64> = w
        .iter()
        .copied()
        .chain(m.iter().flatten().copied())
        .collect();
    assert_gradient(
        |p| {
            let rows: Vec<Vec<f64>> = p[2..].chunks(2).map(<[f64]>::to_vec).collect();
            nested_vectors(&p[..2], &data, rows)
        },
        &flat,
        &g,
        1e-8,
    );
}

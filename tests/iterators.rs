//! Iterator chains and closures, written the way Rust numerics is written: each function's
//! value is checked bit for bit against the function itself, and its gradient against the
//! formula where it is short and against central finite differences always.
#![allow(clippy::ptr_arg, clippy::needless_range_loop)]

mod common;

use autodiff_core::{differentiate, no_grad};
use common::{assert_close, assert_gradient};

const TOL: f64 = 1e-7;

/// `f_grad`'s value is `f`'s, bit for bit, and its gradient agrees with finite differences.
macro_rules! check_slice {
    ($f:ident, $grad:ident, $x:expr) => {{
        let x: Vec<f64> = $x;
        let (value, g) = $grad(&x);
        assert_eq!(
            value.to_bits(),
            $f(&x).to_bits(),
            "value of {}",
            stringify!($f)
        );
        assert_gradient(|p| $f(p), &x, &g, TOL);
        g
    }};
}

fn points() -> Vec<f64> {
    vec![0.3, -1.2, 0.8, 2.1, -0.4, 1.5]
}

#[differentiate]
fn sum_of_exp(x: &[f64], m: f64) -> f64 {
    x.iter().map(|v| (v - m).exp()).sum::<f64>()
}

#[test]
fn map_then_sum() {
    let x = points();
    let (value, (dx, dm)) = sum_of_exp_grad(&x, 0.5);
    assert_eq!(value.to_bits(), sum_of_exp(&x, 0.5).to_bits());
    for i in 0..x.len() {
        assert_close(dx[i], (x[i] - 0.5).exp(), 1e-15);
    }
    assert_close(dm, -value, 1e-14);
}

#[differentiate]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

#[test]
fn zip_map_sum() {
    let (a, b) = (points(), vec![1.0, 2.0, -1.0, 0.5, 3.0, -2.0]);
    let (value, (da, db)) = dot_grad(&a, &b);
    assert_eq!(value.to_bits(), dot(&a, &b).to_bits());
    assert_eq!(da, b);
    assert_eq!(db, a);
}

#[differentiate]
fn squares(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |acc, v| acc + v * v)
}

#[differentiate]
fn largest(x: &[f64]) -> f64 {
    x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn fold_with_a_closure_and_with_a_path() {
    let g = check_slice!(squares, squares_grad, points());
    assert_eq!(g, points().iter().map(|v| 2.0 * v).collect::<Vec<_>>());
    let g = check_slice!(largest, largest_grad, points());
    assert_eq!(g, vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
}

#[differentiate]
fn log_sum_exp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
    m + s.ln()
}

#[test]
fn log_sum_exp_is_softmax() {
    let x = points();
    let g = check_slice!(log_sum_exp, log_sum_exp_grad, x.clone());
    let total: f64 = x.iter().map(|v| v.exp()).sum();
    for i in 0..x.len() {
        assert_close(g[i], x[i].exp() / total, 1e-14);
    }
}

/// A polynomial by Horner's rule over the reversed coefficients: order matters.
#[differentiate(wrt(t))]
fn horner(c: &[f64], t: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, ci| acc * t + ci)
}

#[differentiate]
fn strided(x: &[f64]) -> f64 {
    let even: f64 = x.iter().step_by(2).map(|v| v.sin()).sum();
    let tail: f64 = x.iter().skip(2).take(3).map(|v| v * v).product();
    even + tail
}

#[test]
fn rev_skip_take_step_by() {
    let c = [1.0, -2.0, 0.5, 3.0];
    let t = 0.7;
    let (value, dt) = horner_grad(&c, t);
    assert_eq!(value.to_bits(), horner(&c, t).to_bits());
    assert_close(value, 1.0 - 2.0 * t + 0.5 * t * t + 3.0 * t * t * t, 1e-15);
    assert_close(dt, -2.0 + t + 9.0 * t * t, 1e-14);
    check_slice!(strided, strided_grad, points());
}

#[differentiate]
fn weighted_positions(x: &[f64]) -> f64 {
    let a: f64 = x
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 + 1.0) * v)
        .sum();
    let b: f64 = x
        .iter()
        .skip(1)
        .enumerate()
        .map(|(i, &v)| i as f64 * v * v)
        .sum();
    let mut c = 0.0;
    for (i, (p, q)) in x.iter().zip(x.iter().rev()).enumerate() {
        c += (i as f64) * p * q;
    }
    a + b + c
}

#[test]
fn enumerate_wherever_it_is() {
    check_slice!(weighted_positions, weighted_positions_grad, points());
}

#[differentiate]
fn argmax_value(x: &[f64]) -> f64 {
    let best = x.iter().copied().max_by(|a, b| a.total_cmp(b)).unwrap();
    let worst = x.iter().copied().min_by(|a, b| a.total_cmp(b)).unwrap();
    let top = x.iter().copied().reduce(f64::max).unwrap_or(0.0);
    best * 2.0 - worst + top
}

#[test]
fn max_by_min_by_reduce() {
    let g = check_slice!(argmax_value, argmax_value_grad, points());
    // max is x[3] (twice: max_by and reduce), min is x[1].
    assert_eq!(g, vec![0.0, -1.0, 0.0, 3.0, 0.0, 0.0]);
}

#[test]
#[should_panic(expected = "called `Option::unwrap()` on a `None` value")]
fn max_by_of_nothing_panics_as_rust_does() {
    let _ = argmax_value_grad(&[]);
}

#[differentiate]
fn normalized_squares(x: &[f64]) -> f64 {
    let e: Vec<f64> = x.iter().map(|v| v.exp()).collect();
    let total: f64 = e.iter().sum();
    let p = e.iter().map(|v| v / total).collect::<Vec<f64>>();
    p.iter().enumerate().map(|(i, pi)| (i as f64) * pi).sum()
}

#[test]
fn collect_into_a_vec() {
    check_slice!(normalized_squares, normalized_squares_grad, points());
}

#[differentiate]
fn positive_part(x: &[f64]) -> f64 {
    let s: f64 = x.iter().filter(|v| **v > 0.0).map(|v| v.sqrt()).sum();
    let n = x.iter().filter(|v| **v > 0.0).count() as f64;
    let big: Vec<f64> = x.iter().copied().filter(|v| v.abs() > 1.0).collect();
    let all_small = x.iter().all(|v| v.abs() < 10.0);
    let any_big = x.iter().any(|v| *v > 2.0);
    let mut t = s * n + big.iter().sum::<f64>();
    if all_small && any_big {
        t *= 2.0;
    }
    t
}

#[test]
fn filter_count_any_all() {
    let g = check_slice!(positive_part, positive_part_grad, points());
    // n = 4 positives; big = [-1.2, 2.1, 1.5]; all small and 2.1 > 2: doubled.
    let x = points();
    for i in 0..x.len() {
        let mut d = if x[i] > 0.0 {
            4.0 * 0.5 / x[i].sqrt()
        } else {
            0.0
        };
        if x[i].abs() > 1.0 {
            d += 1.0;
        }
        assert_close(g[i], 2.0 * d, 1e-14);
    }
}

#[differentiate]
fn local_closures(x: &[f64], scale: f64) -> f64 {
    let m = x[0];
    let centered = |v: f64| (v - m) * scale;
    // Shadowed after the closure is written: the closure keeps the first.
    let m = 100.0;
    let sq = |v: f64| v * v;
    let pair = |(a, b): (f64, f64)| a * b;
    sq(centered(x[1])) + pair((x[2], centered(x[3]))) + m
}

#[test]
fn closures_bound_to_locals() {
    let x = points();
    let (value, (dx, ds)) = local_closures_grad(&x, 1.5);
    assert_eq!(value.to_bits(), local_closures(&x, 1.5).to_bits());
    assert_gradient(
        |p| local_closures(&p[..6], p[6]),
        &[x.clone(), vec![1.5]].concat(),
        &[dx, vec![ds]].concat(),
        TOL,
    );
}

#[differentiate]
fn pair(t: f64) -> [f64; 3] {
    [t, t * t, t.sin()]
}

#[differentiate]
fn over_a_call_result(t: f64) -> f64 {
    pair(t).iter().map(|v| v * 2.0).sum::<f64>() + pair(2.0 * t).iter().product::<f64>()
}

#[test]
fn chains_over_call_results() {
    for t in [-0.7, 0.4, 1.3] {
        let (value, dt) = over_a_call_result_grad(t);
        assert_eq!(value.to_bits(), over_a_call_result(t).to_bits());
        assert_gradient(|p| over_a_call_result(p[0]), &[t], &[dt], TOL);
    }
}

#[differentiate]
fn loops_over_chains(x: &[f64], y: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, v) in x.iter().enumerate().skip(1) {
        if i == 4 {
            break;
        }
        s += v * i as f64;
    }
    for (a, (b, c)) in x.iter().zip(y.iter().zip(x.iter().rev())) {
        s += a * b * c;
    }
    for v in x.iter().filter(|v| **v < 1.0) {
        if *v < -1.0 {
            continue;
        }
        s += v.exp();
    }
    for &v in y.iter().rev() {
        s = s * 0.5 + v;
    }
    s
}

#[test]
fn for_loops_over_chains() {
    let (x, y) = (points(), vec![0.5, 1.5, -0.5, 2.0, 1.0, -1.0]);
    let (value, (dx, dy)) = loops_over_chains_grad(&x, &y);
    assert_eq!(value.to_bits(), loops_over_chains(&x, &y).to_bits());
    assert_gradient(
        |p| loops_over_chains(&p[..6], &p[6..]),
        &[x.clone(), y.clone()].concat(),
        &[dx, dy].concat(),
        TOL,
    );
}

/// Rows of two or three matrices chained in a `for` loop (weight decay over two layers): the
/// loop over the first, then the same loop over the next, carrying what the body assigns
/// (a counter, the previous row's value), with `continue`.
#[differentiate(wrt(u, v))]
fn chained_rows(u: &[Vec<f64>], v: &[Vec<f64>], lambda: f64) -> f64 {
    let mut reg = 0.0;
    let mut count = 0;
    for row in u.iter().chain(&v[1..]) {
        if row[0] > 0.5 {
            continue;
        }
        reg += row.iter().map(|w| w.sin()).sum::<f64>() * row[1];
        count += 1;
    }
    let mut s = 0.0;
    for k in 0..3 {
        for row in v.iter().chain(u) {
            if s > 2.0 {
                continue;
            }
            s += row[k % 2] * row[0];
        }
    }
    lambda * reg / count as f64 + s
}

#[differentiate]
fn chained_three(a: &[[f64; 2]], b: &[[f64; 2]], c: &[[f64; 2]], k: f64) -> f64 {
    let mut s = 0.0;
    let mut prev = 1.0;
    let mut t = 0;
    for r in a.iter().chain(b).chain(c.iter()) {
        t += 1;
        s += prev * r[0] - r[1] * k * t as f64;
        prev = r[1];
    }
    s
}

/// Jumps that stay inside a loop over chained rows: `continue` of the loop itself, `break`
/// and `continue` of loops inside its body, and `return` (a jump to an outer loop is an error:
/// from the first matrix's rows it would skip the second's too).
#[differentiate]
fn chained_rows_inner_jumps(a: &[[f64; 2]], b: &[[f64; 2]], x: f64) -> f64 {
    let mut s = 0.0;
    'rows: for r in a.iter().chain(b) {
        'scan: for k in 0..4 {
            if k == 2 {
                break 'scan;
            }
            if r[0] * x > 1.0 {
                continue 'rows;
            }
            s += r[k % 2] * x;
        }
        let mut t = 0;
        while t < 3 {
            t += 1;
            if t == 2 {
                break;
            }
            s += r[1];
        }
        if s > 50.0 {
            return s;
        }
    }
    s
}

#[test]
fn jumps_inside_loops_over_chained_rows() {
    let rows = |q: &[f64]| -> Vec<[f64; 2]> { q.chunks(2).map(|c| [c[0], c[1]]).collect() };
    // x = 2 takes the `continue 'rows` at the rows whose first element is above one half.
    for x in [0.7, 2.0] {
        let p = vec![0.1, 0.5, 0.8, 0.2, 0.7, -0.1, 0.4, 0.3];
        let (a, b) = (rows(&p[..4]), rows(&p[4..]));
        let (value, (da, db, dx)) = chained_rows_inner_jumps_grad(&a, &b, x);
        assert_eq!(
            value.to_bits(),
            chained_rows_inner_jumps(&a, &b, x).to_bits()
        );
        let got: Vec<f64> = da
            .iter()
            .chain(&db)
            .flatten()
            .copied()
            .chain([dx])
            .collect();
        let f = |q: &[f64]| chained_rows_inner_jumps(&rows(&q[..4]), &rows(&q[4..8]), q[8]);
        assert_gradient(f, &[p, vec![x]].concat(), &got, TOL);
    }
}

#[test]
fn for_loops_over_chained_rows() {
    let split = |p: &[f64]| -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let rows = |q: &[f64]| q.chunks(2).map(<[f64]>::to_vec).collect();
        (rows(&p[..6]), rows(&p[6..]))
    };
    let small = vec![0.1, 0.5, -0.3, 0.2, 0.7, -0.1, 0.4, 0.3, -0.2, 0.6];
    // Scaled up, the sum passes 2 and the later rows are skipped.
    for p in [small.clone(), small.iter().map(|x| x * 8.0).collect()] {
        let (u, v) = split(&p);
        let (value, (du, dv)) = chained_rows_grad(&u, &v, 0.3);
        assert_eq!(value.to_bits(), chained_rows(&u, &v, 0.3).to_bits());
        let got = [du.concat(), dv.concat()].concat();
        let f = |q: &[f64]| {
            let (u, v) = split(q);
            chained_rows(&u, &v, 0.3)
        };
        assert_gradient(f, &p, &got, TOL);
        let (eu, ev) = chained_rows_pullback(&u, &v, 0.3, -1.5);
        let pulled = [eu.concat(), ev.concat()].concat();
        for (a, b) in pulled.iter().zip(&got) {
            assert_close(*a, -1.5 * b, 1e-12);
        }
    }
    let rows = |q: &[f64]| -> Vec<[f64; 2]> { q.chunks(2).map(|c| [c[0], c[1]]).collect() };
    let p = vec![
        0.1, 0.5, -0.3, 0.2, 0.7, -0.1, 0.4, 0.3, -0.2, 0.6, 0.9, 1.1,
    ];
    let (a, b, c) = (rows(&p[..4]), rows(&p[4..6]), rows(&p[6..]));
    let (value, (da, db, dc, dk)) = chained_three_grad(&a, &b, &c, 0.7);
    assert_eq!(value.to_bits(), chained_three(&a, &b, &c, 0.7).to_bits());
    let got: Vec<f64> = da.iter().chain(&db).chain(&dc).flatten().copied().collect();
    let f = |q: &[f64]| chained_three(&rows(&q[..4]), &rows(&q[4..6]), &rows(&q[6..12]), q[12]);
    assert_gradient(
        f,
        &[p.clone(), vec![0.7]].concat(),
        &[got, vec![dk]].concat(),
        TOL,
    );
}

/// `flatten` and `flat_map` of rows (weight decay over a matrix, its largest element, a
/// product over the positive ones, a flat copy): the loop over the rows with the loop over each row inside, the
/// elements in the same order, so the value is the chain's bit for bit.
#[differentiate]
fn flattened_rows(w: &[Vec<f64>], lambda: f64) -> f64 {
    let l2 = w.iter().flatten().map(|v| v * v).sum::<f64>();
    let l1: f64 = w.iter().flatten().map(|v| v.abs()).sum();
    let largest = w
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let positive = w
        .iter()
        .skip(1)
        .flatten()
        .filter(|v| **v > 0.0)
        .product::<f64>();
    let soft = w
        .iter()
        .flatten()
        .fold(0.0, |acc, &v| acc + (v * lambda).exp());
    // `flat_map` giving a row's elements; its parameter's name is the closure's own.
    let scaled: f64 = w
        .iter()
        .flat_map(|row| row.iter().map(|v| v * lambda))
        .sum();
    let mut waves = 0.0;
    for v in w.iter().skip(1).flat_map(|r| r.iter().copied()) {
        waves += (v * lambda).sin();
    }
    let r = 2.0;
    let decayed = w.iter().flat_map(|r| r.iter()).fold(r, |a, b| a * 0.5 + b);
    lambda * l2 + l1 + largest + positive + soft.ln() + scaled + waves + decayed
}

#[differentiate]
fn flattened_array_rows(a: &[[f64; 3]], k: f64) -> f64 {
    let flat: Vec<f64> = a.iter().flatten().map(|v| v * k).collect();
    let mut s = 0.0;
    for (i, v) in flat.iter().enumerate() {
        s += v * (i as f64 + 1.0);
    }
    let mut t = 0.0;
    'elements: for v in a.iter().flatten() {
        if *v < 0.0 {
            continue 'elements;
        }
        t += v.sqrt();
    }
    let mut u = 1.0;
    for r in 0..2 {
        for v in a[r..].iter().flatten().copied() {
            u = u * 0.9 + v;
        }
    }
    s + t + u
}

#[test]
fn flatten_of_rows() {
    let rows = |p: &[f64]| vec![p[..3].to_vec(), p[3..5].to_vec(), p[5..7].to_vec()];
    let p = vec![0.3, -0.5, 0.8, 0.2, 1.1, -0.7, 0.4, 0.6];
    let (value, (dw, dl)) = flattened_rows_grad(&rows(&p), p[7]);
    assert_eq!(value.to_bits(), flattened_rows(&rows(&p), p[7]).to_bits());
    let got = [dw.concat(), vec![dl]].concat();
    assert_gradient(|q| flattened_rows(&rows(q), q[7]), &p, &got, TOL);
    let (pw, pl) = flattened_rows_pullback(&rows(&p), p[7], 2.5);
    let pulled = [pw.concat(), vec![pl]].concat();
    for (a, b) in pulled.iter().zip(&got) {
        assert_close(*a, 2.5 * b, 1e-12);
    }

    let arrays = |p: &[f64]| -> Vec<[f64; 3]> { p.chunks(3).map(|c| [c[0], c[1], c[2]]).collect() };
    let p = vec![0.3, 0.5, 0.8, 0.2, 1.1, -0.7, 0.4, 0.9, 0.1, 1.3];
    let (value, (da, dk)) = flattened_array_rows_grad(&arrays(&p[..9]), p[9]);
    assert_eq!(
        value.to_bits(),
        flattened_array_rows(&arrays(&p[..9]), p[9]).to_bits()
    );
    let got: Vec<f64> = da.iter().flatten().copied().chain([dk]).collect();
    assert_gradient(
        |q| flattened_array_rows(&arrays(&q[..9]), q[9]),
        &p,
        &got,
        TOL,
    );
}

#[differentiate]
fn polygon_area(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    let mut a = 0.0;
    for i in 0..n {
        let j = (i + 1) % n;
        a += p[i][0] * p[j][1] - p[j][0] * p[i][1];
    }
    0.5 * a
}

/// Rows the closure writes out, collected: `Vec<[f64; 2]>` handed to a call and zipped with
/// itself.
#[differentiate(wrt(r, phase))]
fn ring(r: &[f64], phase: f64) -> f64 {
    let n = r.len();
    let pts: Vec<[f64; 2]> = r
        .iter()
        .enumerate()
        .map(|(k, &rk)| {
            let t = phase + 2.0 * std::f64::consts::PI * k as f64 / n as f64;
            [rk * t.cos(), rk * t.sin()]
        })
        .collect();
    let perimeter: f64 = pts
        .iter()
        .zip(pts.iter().skip(1))
        .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
        .sum();
    polygon_area(&pts) - 0.1 * perimeter
}

/// `vec!` rows collected anew in every iteration of a loop.
#[differentiate(wrt(w))]
fn features_per_step(xs: &[f64], w: &[f64]) -> f64 {
    let mut total = 0.0;
    for step in 0..3 {
        let feats = xs
            .iter()
            .zip(w)
            .map(|(x, wi)| vec![x * wi, (x + wi * step as f64).tanh(), 1.0])
            .collect::<Vec<_>>();
        for f in &feats {
            total += f[0] * f[1] - f[2] * w[0];
        }
    }
    total
}

/// Collected rows written afterwards, and collected again into rows of another length.
#[differentiate(wrt(w))]
fn collected_rows_written(xs: &[f64], w: f64) -> f64 {
    let mut pts: Vec<[f64; 2]> = xs.iter().map(|&x| [x * w, (x * w).sin()]).collect();
    for i in 1..pts.len() {
        pts[i][0] += pts[i - 1][1] * w;
        pts[i][1] *= pts[i][0];
    }
    let rows: Vec<Vec<f64>> = pts.iter().map(|p| vec![p[0] + w, p[1] * p[0], w]).collect();
    let mut s = 0.0;
    for r in &rows {
        s += r[0] * r[1] + r.iter().sum::<f64>();
    }
    s + pts.iter().map(|p| p[1]).fold(0.0, f64::max)
}

#[differentiate(hessian)]
fn collected_rows_hessian(r: &[f64]) -> f64 {
    let pts: Vec<[f64; 2]> = r.iter().map(|&x| [x * x, x.sin()]).collect();
    let mut s = 0.0;
    for p in &pts {
        s += p[0] * p[1];
    }
    s
}

/// Rows of a length known before the loop: a Gram matrix, one-hot rows written into, and outer
/// products collected in every iteration of a loop.
#[differentiate]
fn gram_of_collected_rows(x: &[f64]) -> f64 {
    let n = x.len();
    let k: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| (-(x[i] - x[j]).powi(2)).exp()).collect())
        .collect();
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            s += k[i][j] * x[i] * x[j];
        }
    }
    s + k.iter().map(|r| r.iter().sum::<f64>()).sum::<f64>()
}

#[differentiate]
fn one_hot_rows(x: &[f64], m: usize) -> f64 {
    let rows: Vec<Vec<f64>> = x
        .iter()
        .enumerate()
        .map(|(i, &xi)| {
            let mut r = vec![0.0; m];
            r[i % m] = xi * xi;
            r[(i + 1) % m] += xi;
            r
        })
        .collect();
    let mut s = 0.0;
    for r in &rows {
        for (j, v) in r.iter().enumerate() {
            s += v * (j as f64 + 1.0);
        }
    }
    s
}

#[differentiate]
fn outer_products_per_step(x: &[f64]) -> f64 {
    let n = x.len();
    let mut total = 0.0;
    for t in 0..3 {
        let m: Vec<Vec<f64>> = (0..n)
            .map(|i| x.iter().map(|xj| xj * x[i] + t as f64).collect())
            .collect();
        total += m[t % n][0] * m[0][t % n];
    }
    total
}

#[test]
fn collect_of_rows_of_a_known_length() {
    let x = [0.3, -0.5, 0.9, 0.1];
    let (value, dx) = gram_of_collected_rows_grad(&x);
    assert_eq!(value.to_bits(), gram_of_collected_rows(&x).to_bits());
    assert_gradient(gram_of_collected_rows, &x, &dx, TOL);
    let (value, dx) = one_hot_rows_grad(&x, 3);
    assert_eq!(value.to_bits(), one_hot_rows(&x, 3).to_bits());
    assert_gradient(|q| one_hot_rows(q, 3), &x, &dx, TOL);
    let (value, dx) = outer_products_per_step_grad(&x);
    assert_eq!(value.to_bits(), outer_products_per_step(&x).to_bits());
    assert_gradient(outer_products_per_step, &x, &dx, TOL);
}

/// Rows as long as the rows of the parameter they come from (ragged here), also enumerated, of
/// a parameter of arrays, and with `hessian`.
#[differentiate(wrt(cost))]
fn kernel_of_ragged_rows(cost: &[Vec<f64>], eps: f64) -> f64 {
    let k: Vec<Vec<f64>> = cost
        .iter()
        .map(|row| row.iter().map(|c| (-c / eps).exp()).collect())
        .collect();
    let mut s = 0.0;
    for (i, r) in k.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            s += v * cost[i][j] + v * v * (j + 1) as f64;
        }
    }
    s + k.len() as f64 + k[k.len() - 1].len() as f64
}

#[differentiate]
fn softmax_of_each_row(logits: &[Vec<f64>]) -> f64 {
    let p: Vec<Vec<f64>> = logits
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = r.iter().map(|x| (x - m).exp()).sum();
            r.iter()
                .map(|x| (x - m).exp() / z * (i + 1) as f64)
                .collect()
        })
        .collect();
    p.iter().map(|r| r[0] * r[r.len() - 1]).sum()
}

#[differentiate]
fn norms_of_array_rows(m: &[[f64; 3]]) -> f64 {
    let sq: Vec<Vec<f64>> = m
        .iter()
        .map(|r| r.iter().map(|v| v * v).collect())
        .collect();
    sq.iter().map(|r| r.iter().sum::<f64>().sqrt()).sum()
}

#[differentiate(hessian)]
fn sines_of_ragged_rows(m: &[Vec<f64>]) -> f64 {
    let e: Vec<Vec<f64>> = m
        .iter()
        .map(|r| r.iter().map(|v| v.sin()).collect())
        .collect();
    e.iter().flatten().map(|v| v * v).sum()
}

/// Rows zipped with a parameter shorter than some of them: each as long as the shorter.
#[differentiate(wrt(x, gamma))]
fn scaled_rows_zipped(x: &[Vec<f64>], gamma: &[f64]) -> f64 {
    let scaled: Vec<Vec<f64>> = x
        .iter()
        .map(|row| {
            let mean = row.iter().sum::<f64>() / row.len() as f64;
            row.iter().zip(gamma).map(|(v, g)| (v - mean) * g).collect()
        })
        .collect();
    let widths: f64 = scaled.iter().map(|r| r.len() as f64).sum();
    scaled.iter().flatten().map(|v| v.sin()).sum::<f64>() + widths
}

/// Rows as long as an array the closure makes: of a parameter's length (soft assignments to
/// centres), and of the item's (a softmax per row through a local `Vec`).
#[differentiate(wrt(centres))]
fn soft_assignments(centres: &[[f64; 2]], pts: &[[f64; 2]]) -> f64 {
    let resp: Vec<Vec<f64>> = pts
        .iter()
        .map(|p| {
            let d: Vec<f64> = centres
                .iter()
                .map(|c| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2))
                .collect();
            let z: f64 = d.iter().map(|v| (-v).exp()).sum();
            d.iter().map(|v| (-v).exp() / z).collect()
        })
        .collect();
    resp.iter().map(|r| r[0] * r[r.len() - 1]).sum()
}

#[differentiate]
fn softmax_through_a_local(scores: &[Vec<f64>]) -> f64 {
    let probs: Vec<Vec<f64>> = scores
        .iter()
        .map(|s| {
            let e: Vec<f64> = s.iter().map(|v| v.exp()).collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|v| v / z).collect()
        })
        .collect();
    probs.iter().map(|r| r[0] + r.len() as f64).sum()
}

/// The same inside a loop, where the backward sweep allocates the rows' adjoints again: capped by
/// a length the loop computes, and shaped like a parameter's element an outer loop picks.
#[differentiate(wrt(x, g))]
fn zipped_rows_in_a_loop(x: &[Vec<f64>], g: &[f64]) -> f64 {
    let mut acc = 0.0;
    for _ in 0..3 {
        let s: Vec<Vec<f64>> = x
            .iter()
            .map(|row| row.iter().zip(g).map(|(v, w)| v * w + acc).collect())
            .collect();
        acc += s.iter().flatten().map(|v| v.sin()).sum::<f64>();
    }
    acc
}

#[differentiate]
fn rows_of_each_matrix(m: &[Vec<Vec<f64>>]) -> f64 {
    let mut acc = 0.0;
    for i in 0..m.len() {
        let s: Vec<Vec<f64>> = m[i]
            .iter()
            .map(|row| row.iter().map(|v| v * v).collect())
            .collect();
        acc += s.iter().flatten().map(|v| v.cos()).sum::<f64>() * (i + 1) as f64;
    }
    acc
}

/// Rows as long as the rows of a matrix the function made before: attention's scores, then a
/// softmax of each row.
#[differentiate]
fn attention_in_two_collects(q: &[Vec<f64>], k: &[Vec<f64>], v: &[Vec<f64>]) -> f64 {
    let n = q.len();
    let scores: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            k.iter()
                .map(|kj| kj.iter().zip(&q[i]).map(|(a, b)| a * b).sum::<f64>())
                .collect()
        })
        .collect();
    let probs: Vec<Vec<f64>> = scores
        .iter()
        .map(|row| {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|s| (s - m).exp()).collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|x| x / z).collect()
        })
        .collect();
    let mut out = 0.0;
    for (p, qi) in probs.iter().zip(q) {
        for (pj, vj) in p.iter().zip(v) {
            out += pj * vj.iter().zip(qi).map(|(a, b)| a * b).sum::<f64>();
        }
    }
    out
}

#[test]
fn collect_of_rows_as_long_as_a_parameters() {
    let lens = [3, 1, 4, 2];
    let ragged = |x: &[f64]| -> Vec<Vec<f64>> {
        let mut out = Vec::new();
        let mut at = 0;
        for len in lens {
            out.push(x[at..at + len].to_vec());
            at += len;
        }
        out
    };
    let x: Vec<f64> = (0..10).map(|i| (i as f64 * 0.7).sin()).collect();
    let m = ragged(&x);
    let (value, dm) = kernel_of_ragged_rows_grad(&m, 0.7);
    assert_eq!(value.to_bits(), kernel_of_ragged_rows(&m, 0.7).to_bits());
    assert_gradient(
        |q| kernel_of_ragged_rows(&ragged(q), 0.7),
        &x,
        &dm.concat(),
        TOL,
    );
    let (value, dm) = softmax_of_each_row_grad(&m);
    assert_eq!(value.to_bits(), softmax_of_each_row(&m).to_bits());
    assert_gradient(|q| softmax_of_each_row(&ragged(q)), &x, &dm.concat(), TOL);

    let (value, dm) = softmax_through_a_local_grad(&m);
    assert_eq!(value.to_bits(), softmax_through_a_local(&m).to_bits());
    assert_gradient(
        |q| softmax_through_a_local(&ragged(q)),
        &x,
        &dm.concat(),
        TOL,
    );
    let centres = [[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]];
    let pts: Vec<[f64; 2]> = (0..5)
        .map(|i| [(i as f64 * 0.9).sin(), (i as f64 * 0.4).cos()])
        .collect();
    let (value, dc) = soft_assignments_grad(&centres, &pts);
    assert_eq!(value.to_bits(), soft_assignments(&centres, &pts).to_bits());
    let c = |q: &[f64]| [[q[0], q[1]], [q[2], q[3]], [q[4], q[5]]];
    let flat = centres.as_flattened();
    assert_gradient(
        |q| soft_assignments(&c(q), &pts),
        flat,
        dc.as_flattened(),
        TOL,
    );

    let pairs = |q: &[f64]| -> Vec<Vec<f64>> { q.chunks(2).map(|c| c.to_vec()).collect() };
    let p: Vec<f64> = (0..18).map(|i| (i as f64 * 0.45).sin()).collect();
    let (q, k, v) = (pairs(&p[..6]), pairs(&p[6..12]), pairs(&p[12..]));
    let (value, (dq, dk, dv)) = attention_in_two_collects_grad(&q, &k, &v);
    assert_eq!(
        value.to_bits(),
        attention_in_two_collects(&q, &k, &v).to_bits()
    );
    let got = [dq.concat(), dk.concat(), dv.concat()].concat();
    let f =
        |r: &[f64]| attention_in_two_collects(&pairs(&r[..6]), &pairs(&r[6..12]), &pairs(&r[12..]));
    assert_gradient(f, &p, &got, TOL);

    let g = [0.7, -1.2];
    let (value, (dm, dg)) = zipped_rows_in_a_loop_grad(&m, &g);
    assert_eq!(value.to_bits(), zipped_rows_in_a_loop(&m, &g).to_bits());
    let p = [x.clone(), g.to_vec()].concat();
    let got = [dm.concat(), dg].concat();
    assert_gradient(
        |q| zipped_rows_in_a_loop(&ragged(&q[..10]), &q[10..]),
        &p,
        &got,
        TOL,
    );
    let two = |q: &[f64]| vec![ragged(q), vec![q[..2].to_vec()]];
    let (value, dm) = rows_of_each_matrix_grad(&two(&x));
    assert_eq!(value.to_bits(), rows_of_each_matrix(&two(&x)).to_bits());
    let mut got = dm[0].concat();
    for (k, d) in dm[1][0].iter().enumerate() {
        got[k] += d;
    }
    assert_gradient(|q| rows_of_each_matrix(&two(q)), &x, &got, TOL);

    let gamma = [1.5, -0.5, 0.8];
    let (value, (dm, dg)) = scaled_rows_zipped_grad(&m, &gamma);
    assert_eq!(value.to_bits(), scaled_rows_zipped(&m, &gamma).to_bits());
    let p = [x.clone(), gamma.to_vec()].concat();
    let got = [dm.concat(), dg].concat();
    assert_gradient(
        |q| scaled_rows_zipped(&ragged(&q[..10]), &q[10..]),
        &p,
        &got,
        TOL,
    );

    let rows = |q: &[f64]| [[q[0], q[1], q[2]], [q[3], q[4], q[5]]];
    let p = [0.5, -1.0, 2.0, 0.3, 0.2, -0.7];
    let (value, dm) = norms_of_array_rows_grad(&rows(&p));
    assert_eq!(value.to_bits(), norms_of_array_rows(&rows(&p)).to_bits());
    assert_gradient(
        |q| norms_of_array_rows(&rows(q)),
        &p,
        dm.as_flattened(),
        TOL,
    );

    // `d/dx sin² x = sin 2x`, and its derivative `2 cos 2x`.
    let v: Vec<f64> = (0..10).map(|i| ((i * 3) % 5) as f64 - 2.0).collect();
    let (value, grad, hv) = sines_of_ragged_rows_hvp(&m, ragged(&v));
    assert_eq!(value.to_bits(), sines_of_ragged_rows(&m).to_bits());
    for (k, (g, h)) in grad.concat().iter().zip(hv.concat()).enumerate() {
        assert_close(*g, (2.0 * x[k]).sin(), 1e-14);
        assert_close(h, 2.0 * (2.0 * x[k]).cos() * v[k], 1e-14);
    }
}

/// Array rows assigned whole again (their length is their type's): filling a matrix, and
/// collected.
#[differentiate]
#[allow(clippy::useless_vec)] // `vec![row; n]` is what is tested
fn array_rows_reassigned(x: &[f64]) -> f64 {
    let mut p = [x[0], x[1]];
    for k in 0..3 {
        p = [p[1] * x[k], p[0].sin()];
    }
    let m = vec![p; 3];
    let pts: Vec<[f64; 2]> = x
        .iter()
        .map(|&t| {
            let mut q = [t, t * t];
            q = [q[1], q[0] + p[0]];
            q
        })
        .collect();
    m.iter().flatten().sum::<f64>() + pts.iter().map(|q| q[0] * q[1]).sum::<f64>()
}

#[test]
fn collect_of_rows_written_out() {
    let p = [1.0, 1.2, 0.8, 1.1, 0.9, 0.3];
    let (value, (dr, dphase)) = ring_grad(&p[..5], p[5]);
    assert_eq!(value.to_bits(), ring(&p[..5], p[5]).to_bits());
    let got = [dr, vec![dphase]].concat();
    assert_gradient(|q| ring(&q[..5], q[5]), &p, &got, TOL);

    let xs = [0.5, -0.3, 0.9];
    let w = [0.2, 0.7, -0.4];
    let (value, dw) = features_per_step_grad(&xs, &w);
    assert_eq!(value.to_bits(), features_per_step(&xs, &w).to_bits());
    assert_gradient(|q| features_per_step(&xs, q), &w, &dw, TOL);

    let (value, dx) = array_rows_reassigned_grad(&xs);
    assert_eq!(value.to_bits(), array_rows_reassigned(&xs).to_bits());
    assert_gradient(array_rows_reassigned, &xs, &dx, TOL);

    let (value, dw) = collected_rows_written_grad(&xs, 0.7);
    assert_eq!(value.to_bits(), collected_rows_written(&xs, 0.7).to_bits());
    assert_gradient(|q| collected_rows_written(&xs, q[0]), &[0.7], &[dw], TOL);

    // `H v` against the gradient's analytic derivative: `d/dx (x² sin x)` is
    // `2x sin x + x² cos x`, whose derivative is `2 sin x + 4x cos x - x² sin x`.
    let r = [1.0, 1.2, 0.8];
    let v = vec![1.0, -0.5, 2.0];
    let (value, grad, hv) = collected_rows_hessian_hvp(&r, v.clone());
    assert_eq!(value.to_bits(), collected_rows_hessian(&r).to_bits());
    for k in 0..3 {
        let x = r[k];
        assert_close(grad[k], 2.0 * x * x.sin() + x * x * x.cos(), 1e-14);
        let second = 2.0 * x.sin() + 4.0 * x * x.cos() - x * x * x.sin();
        assert_close(hv[k], second * v[k], 1e-14);
    }
}

#[differentiate]
fn built_with_push(x: &[f64]) -> f64 {
    let mut v = Vec::with_capacity(x.len());
    for xi in x {
        v.push(xi * xi);
    }
    let mut w = Vec::new();
    w.extend(x.iter().map(|xi| xi.sin()));
    w.extend_from_slice(&v);
    w.push(3.0);
    let mut s = 0.0;
    for i in 0..w.len() {
        s += (i as f64 + 1.0) * w[i];
    }
    s + w.len() as f64
}

#[test]
fn vecs_built_by_push_and_extend() {
    let x = points();
    let g = check_slice!(built_with_push, built_with_push_grad, x.clone());
    let n = x.len();
    for i in 0..n {
        let expected = (i as f64 + 1.0) * x[i].cos() + (n as f64 + i as f64 + 1.0) * 2.0 * x[i];
        assert_close(g[i], expected, 1e-14);
    }
}

// ------------------------------------------------------------------------------------------
// Sub-slices, windows and chunks.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn weighted_sum(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, v) in w.iter().enumerate() {
        s += (i as f64 + 1.0) * v * v;
    }
    s
}

#[differentiate]
fn parts(x: &[f64]) -> f64 {
    let head = &x[..2];
    let tail = &x[2..];
    let middle = &x[1..=3];
    let a = head[0] * head[1] + tail.iter().sum::<f64>();
    let b = weighted_sum(&x[3..]) + weighted_sum(middle);
    let c: f64 = middle.iter().map(|v| v.sin()).sum();
    let copy = x[1..4].to_vec();
    a + b + c * copy[2] + tail.len() as f64
}

#[test]
fn sub_slices_read_iterated_and_passed_on() {
    let g = check_slice!(parts, parts_grad, points());
    assert_eq!(g.len(), 6);
}

#[differentiate]
fn differences(x: &[f64]) -> f64 {
    let smooth: f64 = x.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    let mut blocks = 0.0;
    for c in x.chunks(4) {
        blocks += c.iter().product::<f64>() * c.len() as f64;
    }
    let exact: f64 = x.chunks_exact(4).map(|c| c[0] * c[3]).sum();
    smooth + blocks + exact
}

#[test]
fn windows_and_chunks() {
    let mut x = points();
    x.push(0.9);
    check_slice!(differences, differences_grad, x);
}

// ------------------------------------------------------------------------------------------
// Copies, literals, patterns, swaps and `if let`.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn rotate(theta: f64, p: &[f64; 2]) -> f64 {
    let (s, c) = theta.sin_cos();
    let r = [[c, -s], [s, c]];
    let mut q = *p;
    let [x, y] = q;
    q[0] = r[0][0] * x + r[0][1] * y;
    q[1] = r[1][0] * x + r[1][1] * y;
    let [qx, qy] = q;
    qx * 2.0 + qy * qy
}

#[test]
fn matrix_literals_copies_and_array_patterns() {
    let p = [0.7, -1.3];
    for theta in [-0.4, 0.3, 1.2] {
        let (value, (dtheta, dp)) = rotate_grad(theta, &p);
        assert_eq!(value.to_bits(), rotate(theta, &p).to_bits());
        assert_gradient(
            |v| rotate(v[0], &[v[1], v[2]]),
            &[theta, p[0], p[1]],
            &[dtheta, dp[0], dp[1]],
            TOL,
        );
    }
}

/// A quadratic form over a matrix written as nested `vec!`s, one row overwritten in a loop,
/// the rows read through an iterator and the matrix handed to a differentiated call.
#[differentiate]
fn vec_matrix_form(a: f64, b: f64, x: &[f64]) -> f64 {
    let mut m = vec![vec![a, b, 0.5], vec![b * a, 1.0, -a], vec![0.0, b, a.exp()]];
    for k in 0..3 {
        m[2][k] = m[2][k] * x[k] + m[0][k];
    }
    let mut s = 0.0;
    for (row, xi) in m.iter().zip(x.iter()) {
        s += xi * row.iter().zip(x.iter()).map(|(r, xj)| r * xj).sum::<f64>();
    }
    s + row_norms(&m)
}

#[differentiate]
fn row_norms(m: &[Vec<f64>]) -> f64 {
    let mut t = 0.0;
    for row in m.iter() {
        t += row.iter().map(|v| v * v).sum::<f64>().sqrt();
    }
    t
}

#[test]
fn matrices_written_as_nested_vec_literals() {
    let x = [0.4, -1.1, 0.8];
    for (a, b) in [(0.7, -0.3), (-1.2, 0.9)] {
        let (value, (da, db, dx)) = vec_matrix_form_grad(a, b, &x);
        assert_eq!(value.to_bits(), vec_matrix_form(a, b, &x).to_bits());
        assert_gradient(
            |v| vec_matrix_form(v[0], v[1], &v[2..]),
            &[a, b, x[0], x[1], x[2]],
            &[da, db, dx[0], dx[1], dx[2]],
            TOL,
        );
    }
}

#[differentiate]
fn banana(p: [f64; 2], a: f64) -> f64 {
    (p[0] - a).powi(2) + 2.0 * (p[1] - p[0] * p[0]).powi(2)
}

/// A Nelder–Mead reflection: the simplex a matrix literal whose first row is the start point,
/// the worst vertex replaced by its reflection (an array assigned to a row).
#[differentiate]
fn simplex_reflection(a: f64, start: [f64; 2]) -> f64 {
    let mut s = [
        start,
        [start[0] + 0.5, start[1]],
        [start[0], start[1] + 0.5],
    ];
    let mut worst = 0;
    for i in 1..3 {
        if banana(s[i], a) > banana(s[worst], a) {
            worst = i;
        }
    }
    let (j, k) = ((worst + 1) % 3, (worst + 2) % 3);
    let refl = [
        s[j][0] + s[k][0] - s[worst][0],
        s[j][1] + s[k][1] - s[worst][1],
    ];
    s[worst] = refl;
    banana(s[0], a) + banana(s[1], a) + banana(s[2], a)
}

#[test]
fn matrix_literals_with_array_rows() {
    for (a, start) in [(1.3, [-0.4, 0.7]), (0.2, [0.9, 0.1])] {
        let (value, (da, dstart)) = simplex_reflection_grad(a, start);
        assert_eq!(value.to_bits(), simplex_reflection(a, start).to_bits());
        assert_gradient(
            |p| simplex_reflection(p[0], [p[1], p[2]]),
            &[a, start[0], start[1]],
            &[da, dstart[0], dstart[1]],
            TOL,
        );
    }
}

#[differentiate]
fn pairs(pts: &[[f64; 2]]) -> f64 {
    let mut s = 0.0;
    for [x, y] in pts {
        s += x * y.exp();
    }
    let [first, .., last] = pts[0];
    s + first * last
}

#[test]
fn array_patterns_in_loops() {
    let pts = [[0.5, 1.0], [-1.0, 0.25], [2.0, -0.5]];
    let (value, d) = pairs_grad(&pts);
    assert_eq!(value.to_bits(), pairs(&pts).to_bits());
    let flat: Vec<f64> = pts.iter().flatten().copied().collect();
    let d_flat: Vec<f64> = d.iter().flatten().copied().collect();
    assert_gradient(
        |v| pairs(&[[v[0], v[1]], [v[2], v[3]], [v[4], v[5]]]),
        &flat,
        &d_flat,
        TOL,
    );
}

#[differentiate]
fn swaps(x: &[f64], n: usize) -> f64 {
    let mut a = x[0];
    let mut b = x[1];
    let mut v = x.to_vec();
    let mut w = vec![0.0; x.len()];
    for k in 0..n {
        std::mem::swap(&mut a, &mut b);
        a = a * 0.5 + b;
        v.swap(0, k % x.len());
        std::mem::swap(&mut v, &mut w);
        w[1] += a;
    }
    a * b + v[0] * 2.0 + w[0] * w[1]
}

#[test]
fn mem_swap_and_slice_swap() {
    for n in [0, 1, 2, 5] {
        let x = points();
        let (value, g) = swaps_grad(&x, n);
        assert_eq!(value.to_bits(), swaps(&x, n).to_bits());
        assert_gradient(|p| swaps(p, n), &x, &g, TOL);
    }
}

#[differentiate]
fn if_lets(x: &[f64], pick: Option<usize>) -> f64 {
    let mut s = 0.0;
    if let Some(m) = x.iter().copied().max_by(|a, b| a.total_cmp(b)) {
        s += m * m;
    }
    if let Some(k) = pick {
        s += x[k];
    } else {
        s -= 1.0;
    }
    let mut i = 0;
    let mut next = Some(0usize);
    while let Some(j) = next {
        s += x[j] * 0.5;
        i += 1;
        next = if i < 3 { Some(i) } else { None };
    }
    // A running best in an annotated `Option`, updated with a method on the value inside.
    let mut best: Option<f64> = None;
    for &v in x {
        best = if let Some(b) = best {
            Some(b.max(v.sin()))
        } else {
            Some(v)
        };
    }
    if let Some(b) = best {
        s += b.exp();
    }
    s
}

#[test]
fn if_let_and_while_let() {
    let x = points();
    for pick in [None, Some(2)] {
        let (value, g) = if_lets_grad(&x, pick);
        assert_eq!(value.to_bits(), if_lets(&x, pick).to_bits());
        assert_gradient(|p| if_lets(p, pick), &x, &g, TOL);
    }
}

/// Log-sum-exp shifted by its maximum, found by a fold inside `no_grad`, and a norm held
/// constant the same way: the shift's derivative is dropped, exactly as the formula's is zero.
#[differentiate(hessian)]
fn shifted_lse(x: &[f64]) -> f64 {
    let m = no_grad(x.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v)));
    let scale = no_grad(x.iter().map(|v| v.abs()).sum::<f64>());
    m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + x[0] / scale
}

fn shifted_lse_plain(x: &[f64], scale: f64) -> f64 {
    x.iter().map(|v| v.exp()).sum::<f64>().ln() + x[0] / scale
}

#[test]
fn closures_inside_no_grad() {
    let x = points();
    let scale: f64 = x.iter().map(|v| v.abs()).sum();
    let (value, g) = shifted_lse_grad(&x);
    assert_eq!(value.to_bits(), shifted_lse(&x).to_bits());
    assert_gradient(|p| shifted_lse_plain(p, scale), &x, &g, TOL);
    // The Hessian of log-sum-exp: diag(p) - p pᵀ (the constant scale adds nothing).
    let (_, _, h) = shifted_lse_hessian(&x);
    let z: f64 = x.iter().map(|v| v.exp()).sum();
    let p: Vec<f64> = x.iter().map(|v| v.exp() / z).collect();
    for i in 0..x.len() {
        for j in 0..x.len() {
            let exact = if i == j { p[i] } else { 0.0 } - p[i] * p[j];
            assert_close(h[i][j], exact, 1e-12);
        }
    }
}

// A table of constants iterated as it is: Gauss–Legendre nodes and weights on [-1, 1].
const NODES: [f64; 3] = [-0.774_596_669_241_483_4, 0.0, 0.774_596_669_241_483_4];
const WEIGHTS: [f64; 3] = [5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0];

/// `∫_a^b exp(c t) dt` by three-point Gauss–Legendre, over the constant tables.
#[differentiate]
fn gauss_integral(a: f64, b: f64, c: f64) -> f64 {
    let half = 0.5 * (b - a);
    let mid = 0.5 * (a + b);
    let mut total = 0.0;
    for (node, weight) in NODES.iter().zip(WEIGHTS.iter()) {
        total += weight * (c * (mid + half * node)).exp();
    }
    let weighted: f64 = WEIGHTS
        .iter()
        .enumerate()
        .map(|(i, w)| w * NODES[i] * c)
        .sum();
    half * total + weighted
}

#[test]
fn constant_tables_iterated() {
    let (a, b, c) = (0.2, 1.1, 0.7);
    let (value, (da, db, dc)) = gauss_integral_grad(a, b, c);
    assert_eq!(value.to_bits(), gauss_integral(a, b, c).to_bits());
    // The rule is exact to ~1e-6 here, and the weighted sum of nodes is zero: the value is
    // close to the integral, and the derivatives in a and b to the integrand at the ends.
    let exact = ((c * b).exp() - (c * a).exp()) / c;
    assert_close(value, exact, 1e-5);
    assert_close(da, -(c * a).exp(), 1e-4);
    assert_close(db, (c * b).exp(), 1e-4);
    assert_gradient(
        |p| gauss_integral(p[0], p[1], p[2]),
        &[a, b, c],
        &[da, db, dc],
        TOL,
    );
}

/// Ranges with untyped literal bounds, the way short sums are written: the bounds take their
/// type from the use, as in Rust.
#[differentiate]
fn literal_ranges(x: f64, v: &[f64]) -> f64 {
    let weighted: f64 = (0..3).map(|i| i as f64 * x).sum();
    let picked: f64 = (1..=2).map(|i| v[i] * x).sum();
    let paired: f64 = (0..4).zip(v.iter()).map(|(i, w)| (i as f64 + w) * x).sum();
    let tail: f64 = (0..5).skip(2).map(|i| v[i % 3] * i as f64).sum();
    weighted + picked + paired * tail
}

#[test]
fn ranges_with_literal_bounds() {
    let (x, v) = (0.8, vec![0.5, -1.5, 2.0]);
    let (value, (dx, dv)) = literal_ranges_grad(x, &v);
    assert_eq!(value.to_bits(), literal_ranges(x, &v).to_bits());
    let mut p = v.clone();
    p.insert(0, x);
    let mut d = dv.clone();
    d.insert(0, dx);
    assert_gradient(|p| literal_ranges(p[0], &p[1..]), &p, &d, TOL);
}

/// The argmax idiom: `enumerate().max_by(|a, b| a.1.partial_cmp(b.1).unwrap())` over
/// references, also with `total_cmp`.
#[differentiate]
fn weighted_best(x: &[f64]) -> f64 {
    let (i, v) = x
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.partial_cmp(b.1).unwrap())
        .unwrap();
    let (j, w) = x
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    v * (i as f64 + 1.0) + w * w * (j as f64 + 2.0)
}

#[test]
fn argmax_by_partial_cmp_of_tuple_elements() {
    let x = vec![1.0, 3.0, -2.0, 2.5];
    let (value, g) = weighted_best_grad(&x);
    assert_eq!(value.to_bits(), weighted_best(&x).to_bits());
    assert_eq!(g, vec![0.0, 2.0, 2.0 * -2.0 * 4.0, 0.0]);
    check_slice!(weighted_best, weighted_best_grad, x);
}

/// Items of untyped literal ranges take the type their use gives them (`i32` here), as in
/// Rust: `i - 1` and `!i` are signed.
#[differentiate]
fn signed_literal_ranges(x: f64) -> f64 {
    let centered: f64 = (0..3).map(|i| (i - 1) as f64 * x * x).sum();
    let complement: f64 = (0..3).map(|i| (!i) as f64 * x).sum();
    let stepped: f64 = (-2..=4).step_by(3).map(|i| i as f64 * x).sum();
    centered + complement + stepped
}

#[test]
fn untyped_range_items_are_signed() {
    let x = 0.7;
    let (value, dx) = signed_literal_ranges_grad(x);
    assert_eq!(value.to_bits(), signed_literal_ranges(x).to_bits());
    // centered: 0; complement: (-1 - 2 - 3) x; stepped: (-2 + 1 + 4) x.
    assert_close(value, -6.0 * x + 3.0 * x, 1e-14);
    assert_close(dx, -3.0, 1e-14);
}

#[differentiate(wrt(w))]
fn predict(w: &[f64], x: &[f64]) -> f64 {
    w[0] * x[0] + w[1] * x[1] + w[2]
}

/// A dataset of `(features, label)` pairs walked with a tuple pattern: the row is passed on by
/// reference, as Rust binds it.
#[differentiate(wrt(w))]
fn dataset_loss(w: &[f64], data: &[(Vec<f64>, f64)]) -> f64 {
    let mut total = 0.0;
    for (x, y) in data.iter() {
        total += (predict(w, x) - y).powi(2);
    }
    for (k, (x, _)) in data.iter().enumerate() {
        total += 0.1 * k as f64 * predict(w, x);
    }
    total
}

#[test]
fn rows_of_a_dataset_of_pairs_passed_on() {
    let data = vec![(vec![1.0, 2.0], 0.5), (vec![-0.5, 0.3], 1.5)];
    let w = vec![0.3, -0.2, 0.1];
    let (value, g) = dataset_loss_grad(&w, &data);
    assert_eq!(value.to_bits(), dataset_loss(&w, &data).to_bits());
    assert_gradient(|p| dataset_loss(p, &data), &w, &g, TOL);
}

/// `.copied()` / `.cloned()` of the `Option` a `max_by` or `reduce` gives.
#[differentiate]
fn largest_copied(s: &[f64], k: f64) -> f64 {
    let top = s
        .iter()
        .max_by(|a, b| a.partial_cmp(b).unwrap())
        .copied()
        .unwrap_or(0.0);
    let low = s.iter().map(|v| v * k).reduce(f64::min);
    let first = s.iter().min_by(|a, b| a.total_cmp(b)).cloned();
    top * k + low.unwrap_or(1.0) + first.unwrap()
}

#[test]
fn options_of_consumers_copied() {
    let s = [0.3, 2.5, -1.2, 1.7];
    let (value, (ds, dk)) = largest_copied_grad(&s, 0.8);
    assert_eq!(value.to_bits(), largest_copied(&s, 0.8).to_bits());
    let mut grad = ds.clone();
    grad.push(dk);
    assert_gradient(
        |p| largest_copied(&p[..4], p[4]),
        &[0.3, 2.5, -1.2, 1.7, 0.8],
        &grad,
        1e-8,
    );
}

/// `f64::total_cmp` as a comparator, and the `Ordering` of a comparison tested with `is_lt`.
#[differentiate]
fn smallest_below(x: &[f64], y: f64) -> f64 {
    let low = x.iter().copied().min_by(f64::total_cmp).unwrap();
    let high = x.iter().copied().max_by(f64::total_cmp).unwrap();
    if low.total_cmp(&y).is_lt() {
        low * y + high
    } else {
        y * y - high
    }
}

#[test]
fn comparators_by_path_and_orderings() {
    for y in [0.5, -2.0] {
        let x = [0.3, -1.2, 2.5];
        let (value, (dx, dy)) = smallest_below_grad(&x, y);
        assert_eq!(value.to_bits(), smallest_below(&x, y).to_bits());
        let mut grad = dx.clone();
        grad.push(dy);
        assert_gradient(
            |p| smallest_below(&p[..3], p[3]),
            &[0.3, -1.2, 2.5, y],
            &grad,
            1e-8,
        );
    }
}

/// Piecewise-linear interpolation as tables are read: the interval found by
/// `partition_point`, whose predicate reads the point being differentiated (a position: no
/// derivative through it, as through a comparison), and a closure parameter named like a
/// variable of the function (`k`).
#[differentiate(jvp, hessian)]
fn table_lookup(knots: &[f64], values: &[f64], x: f64) -> f64 {
    let k = x * x;
    let i = knots.partition_point(|&k| k <= x).clamp(1, knots.len() - 1);
    let t = (x - knots[i - 1]) / (knots[i] - knots[i - 1]);
    (values[i - 1] * (1.0 - t) + values[i] * t) * k
}

/// `position`, `rposition` and `binary_search_by` with their unwraps, `if let` and `match` on
/// the `Option` found, predicates reading active values and array elements.
#[differentiate]
fn searches(x: &[f64], t: f64) -> f64 {
    let first = x.iter().position(|&v| v > t).unwrap_or(0);
    let last = match x.iter().rposition(|&v| v < t * x[0]) {
        Some(i) => x[i] * t,
        None => t,
    };
    let sorted: [f64; 5] = [-1.0, 0.0, 0.5, 1.0, 2.0];
    let at = sorted
        .binary_search_by(|s| s.total_cmp(&t))
        .unwrap_or_else(|i| i)
        .min(x.len() - 1);
    let near = if let Some(j) = x.iter().position(|v| (v - t).abs() < 0.6) {
        x[j] * x[j]
    } else {
        1.0
    };
    x[first] * t + last + x[at].sin() * t + near
}

#[test]
fn searches_give_positions() {
    let knots = [0.0, 1.0, 2.5, 4.0];
    let values = [1.0, 3.0, -2.0, 5.0];
    for x in [0.4, 1.7, 3.2] {
        let (value, (dk, dv, dx)) = table_lookup_grad(&knots, &values, x);
        assert_eq!(value.to_bits(), table_lookup(&knots, &values, x).to_bits());
        let point = [&knots[..], &values[..], &[x]].concat();
        let grad = [&dk[..], &dv[..], &[dx]].concat();
        assert_gradient(
            |p| table_lookup(&p[..4], &p[4..8], p[8]),
            &point,
            &grad,
            1e-7,
        );
        // Forward mode and the Hessian through the same search.
        let along_x = (vec![0.0; 4], vec![0.0; 4], 1.0);
        let (_, tangent) = table_lookup_jvp(&knots, &values, x, along_x);
        assert_close(tangent, dx, 1e-12);
        let (_, _, h) = table_lookup_hessian(&knots, &values, x);
        let step = 1e-5;
        let slope = |x| table_lookup_grad(&knots, &values, x).1.2;
        assert_close(
            h[8][8],
            (slope(x + step) - slope(x - step)) / (2.0 * step),
            1e-6,
        );
    }
    let x = [0.3, 1.2, -0.5, 2.0, 0.9];
    for t in [0.7, 1.5, -0.8] {
        let (value, (dx, dt)) = searches_grad(&x, t);
        assert_eq!(value.to_bits(), searches(&x, t).to_bits());
        let mut grad = dx.clone();
        grad.push(dt);
        let point = [&x[..], &[t]].concat();
        assert_gradient(|p| searches(&p[..5], p[5]), &point, &grad, 1e-7);
    }
}

/// Order statistics: the median of a copy sorted by `partial_cmp`, the mean of the worst
/// `alpha` share of losses sorted descending by `total_cmp` (CVaR), a 1-D Wasserstein distance
/// of two samples sorted by a comparator path and by `sort_unstable_by`, and an array sorted by
/// distance to an active value, re-sorted in a loop.
#[differentiate(jvp, hessian)]
fn median(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

#[differentiate(jvp, hessian)]
fn cvar(losses: &[f64], w: f64, alpha: f64) -> f64 {
    let mut l: Vec<f64> = losses.iter().map(|&v| v * w + v * v).collect();
    l.sort_by(|a, b| b.total_cmp(a));
    let k = ((l.len() as f64) * alpha).ceil() as usize;
    let mut s = 0.0;
    for i in 0..k {
        s += l[i];
    }
    s / k as f64
}

#[differentiate]
fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let mut sa = a.to_vec();
    let mut sb = b.to_vec();
    sa.sort_by(f64::total_cmp);
    sb.sort_unstable_by(|p, q| p.partial_cmp(q).unwrap());
    sa.iter()
        .zip(sb.iter())
        .map(|(p, q)| (p - q).abs())
        .sum::<f64>()
        / sa.len() as f64
}

#[differentiate(jvp, hessian)]
fn nearest_first(x: f64, y: f64, z: f64) -> f64 {
    let mut a = [x * y, y.sin(), z - x];
    let mut total = 0.0;
    for step in 0..3 {
        a.sort_by(|p, q| (p - x).abs().total_cmp(&(q - x).abs()));
        total += a[0] * 3.0 + a[1] * a[2];
        a[step] = a[step] * y + z;
    }
    total
}

#[test]
fn sorted_copies() {
    let odd = [0.3, 1.7, -0.4, 2.2, 0.9];
    let even = [0.3, 1.7, -0.4, 2.2];
    for x in [&odd[..], &even[..]] {
        let (value, g) = median_grad(x);
        assert_eq!(value.to_bits(), median(x).to_bits());
        assert_gradient(median, x, &g, 1e-8);
        let (_, _, h) = median_hessian(x);
        assert!(h.iter().flatten().all(|&e| e == 0.0), "piecewise linear");
    }
    let (value, (dl, dw, dalpha)) = cvar_grad(&odd, 0.7, 0.4);
    assert_eq!(dalpha, 0.0, "the share only picks how many");
    assert_eq!(value.to_bits(), cvar(&odd, 0.7, 0.4).to_bits());
    let point = [&odd[..], &[0.7]].concat();
    let grad = [&dl[..], &[dw]].concat();
    assert_gradient(|p| cvar(&p[..5], p[5], 0.4), &point, &grad, 1e-7);
    let tangent = vec![0.1, -0.3, 0.2, 0.5, 0.4];
    let (_, along) = cvar_jvp(&odd, 0.7, 0.4, (tangent.clone(), 0.25, 1.0));
    let expected: f64 = tangent.iter().zip(&dl).map(|(t, d)| t * d).sum::<f64>() + 0.25 * dw;
    assert_close(along, expected, 1e-12);
    let b = [1.1, -0.2, 0.5, 2.9, 0.1];
    let (value, (da, db)) = wasserstein_grad(&odd, &b);
    assert_eq!(value.to_bits(), wasserstein(&odd, &b).to_bits());
    let point = [&odd[..], &b[..]].concat();
    let grad = [&da[..], &db[..]].concat();
    assert_gradient(|p| wasserstein(&p[..5], &p[5..]), &point, &grad, 1e-8);
    for point in [[0.7, 1.3, -0.2], [-0.4, 0.6, 1.9]] {
        let [x, y, z] = point;
        let (value, (dx, dy, dz)) = nearest_first_grad(x, y, z);
        assert_eq!(value.to_bits(), nearest_first(x, y, z).to_bits());
        assert_gradient(
            |p| nearest_first(p[0], p[1], p[2]),
            &point,
            &[dx, dy, dz],
            1e-7,
        );
        let (_, _, h) = nearest_first_hessian(x, y, z);
        let step = 1e-5;
        for i in 0..3 {
            let mut up = point;
            let mut down = point;
            up[i] += step;
            down[i] -= step;
            let (_, gu) = nearest_first_grad(up[0], up[1], up[2]);
            let (_, gd) = nearest_first_grad(down[0], down[1], down[2]);
            let column = [gu.0 - gd.0, gu.1 - gd.1, gu.2 - gd.2].map(|d| d / (2.0 * step));
            for j in 0..3 {
                assert_close(h[j][i], column[j], 1e-5);
            }
        }
    }
}

/// An argsort (indices sorted by the values they point at) and rows sorted by a column.
#[differentiate]
fn rank_weighted(x: &[f64], p: &[[f64; 2]]) -> f64 {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].partial_cmp(&x[b]).unwrap());
    let mut s = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        s += (rank as f64 + 1.0) * x[i] * x[i];
    }
    let mut rows: Vec<[f64; 2]> = p.to_vec();
    rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
    s + rows[0][1] * x[0] + rows[1][0] * rows[2][1]
}

#[test]
fn sorted_indices_and_rows() {
    let x = [0.3, 1.7, -0.4, 2.2, 0.9];
    let p = [[0.5, 1.0], [-0.3, 2.0], [1.2, -0.7]];
    let (value, (dx, dp)) = rank_weighted_grad(&x, &p);
    assert_eq!(value.to_bits(), rank_weighted(&x, &p).to_bits());
    let point: Vec<f64> = x.iter().chain(p.iter().flatten()).copied().collect();
    let grad: Vec<f64> = dx.iter().chain(dp.iter().flatten()).copied().collect();
    let rows = |q: &[f64]| [[q[0], q[1]], [q[2], q[3]], [q[4], q[5]]];
    assert_gradient(
        |q| rank_weighted(&q[..5], &rows(&q[5..])),
        &point,
        &grad,
        1e-7,
    );
}

/// Zero padding as stencils and convolutions write it: `get` with `copied().unwrap_or(0.0)`
/// and with `if let Some(&v)`, `first()` and `last()` matched as `Option`s.
#[differentiate(jvp, hessian)]
fn padded_stencil(x: &[f64], i: usize) -> f64 {
    let left = x.get(i.wrapping_sub(1)).copied().unwrap_or(0.0);
    let right = if let Some(&v) = x.get(i + 1) { v } else { 0.0 };
    let first = x.first().copied().unwrap_or(1.0);
    let last = match x.last() {
        Some(v) => *v * *v,
        None => 0.0,
    };
    0.25 * left + 0.5 * x[i] + 0.25 * right * right + first * last
}

#[differentiate]
fn padded_convolution(x: &[f64], kernel: &[f64; 3]) -> f64 {
    let mut out = vec![0.0; x.len()];
    for i in 0..x.len() {
        for k in 0..3 {
            let at = (i + k).wrapping_sub(1);
            out[i] += kernel[k] * x.get(at).copied().unwrap_or(0.0);
        }
    }
    out.iter().map(|v| v.tanh()).sum()
}

#[test]
fn reads_past_the_ends_padded() {
    let x = [1.0, 2.0, 3.0];
    for i in 0..3 {
        let (value, g) = padded_stencil_grad(&x, i);
        assert_eq!(value.to_bits(), padded_stencil(&x, i).to_bits());
        assert_gradient(|p| padded_stencil(p, i), &x, &g, 1e-8);
        let (_, tangent) = padded_stencil_jvp(&x, i, vec![0.5, -1.0, 0.25]);
        assert_close(tangent, 0.5 * g[0] - g[1] + 0.25 * g[2], 1e-12);
    }
    let x = [0.3, -0.8, 1.1, 0.5];
    let kernel = [0.25, 0.5, -0.4];
    let (value, (dx, dk)) = padded_convolution_grad(&x, &kernel);
    assert_eq!(value.to_bits(), padded_convolution(&x, &kernel).to_bits());
    let point = [&x[..], &kernel[..]].concat();
    let grad = [&dx[..], &dk[..]].concat();
    let kernel_of = |p: &[f64]| [p[4], p[5], p[6]];
    assert_gradient(
        |p| padded_convolution(&p[..4], &kernel_of(p)),
        &point,
        &grad,
        1e-8,
    );
}

/// A guard on the `Some` arm of a `match` on an `Option` the function builds.
#[differentiate]
fn best_above(x: &[f64], s: f64) -> f64 {
    let best = x.iter().copied().max_by(|a, b| a.total_cmp(b));
    let pick = match best {
        Some(b) if b >= s || b < -1.0 => b * s,
        _ => s * s,
    };
    pick + 1.0
}

#[test]
fn guarded_option_arms() {
    let x = [0.3, 1.2, -0.4];
    for s in [0.5, 2.0] {
        let (value, (dx, ds)) = best_above_grad(&x, s);
        assert_eq!(value.to_bits(), best_above(&x, s).to_bits());
        let (expected_dx1, expected_ds) = if 1.2 >= s { (s, 1.2) } else { (0.0, 2.0 * s) };
        assert_eq!(dx, vec![0.0, expected_dx1, 0.0]);
        assert_close(ds, expected_ds, 1e-15);
    }
}

/// `sort_unstable_by` with a comparator that ties different values (numbers by magnitude):
/// the arrangement is the unstable sort's own, which the value and the gradient follow.
#[differentiate]
fn weighted_by_magnitude_rank(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.sort_unstable_by(|a, b| a.abs().total_cmp(&b.abs()));
    let mut acc = 0.0;
    for i in 0..s.len() {
        acc += s[i] * (i as f64 + 1.0);
    }
    acc
}

#[test]
fn unstable_sorts_with_ties() {
    // ±k for k = 1..=20, shuffled: every magnitude twice, each value once.
    let x: Vec<f64> = (0..40)
        .map(|i| {
            let k = ((i * 7) % 20 + 1) as f64;
            if i < 20 { k } else { -k }
        })
        .collect();
    let (value, g) = weighted_by_magnitude_rank_grad(&x);
    assert_eq!(value.to_bits(), weighted_by_magnitude_rank(&x).to_bits());
    // The oracle: where std's unstable sort put each value (the values are distinct).
    let mut sorted = x.clone();
    sorted.sort_unstable_by(|a, b| a.abs().total_cmp(&b.abs()));
    for (j, v) in x.iter().enumerate() {
        let rank = sorted.iter().position(|s| s == v).unwrap();
        assert_eq!(g[j], rank as f64 + 1.0, "element {j}");
    }
}

/// A sorted copy returned whole, and a search's closure parameter named like a parameter of
/// the function and dereferenced (`*v` is the closure's).
#[differentiate]
fn sorted_descending(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

#[differentiate]
fn first_above_half(x: &[f64], v: f64) -> f64 {
    let i = x.iter().position(|v| *v > 0.5).unwrap_or(0);
    x[i] * v
}

#[test]
fn sorted_copies_returned_and_closures_shadowing() {
    let x = [0.3, 1.7, -0.4];
    let d = sorted_descending_pullback(&x, vec![1.0, 2.0, 3.0]);
    assert_eq!(d, vec![2.0, 1.0, 3.0]);
    let x = [0.2, 1.1, 0.9];
    let (value, (dx, dv)) = first_above_half_grad(&x, 1.7);
    assert_eq!(value.to_bits(), first_above_half(&x, 1.7).to_bits());
    assert_eq!((dx, dv), (vec![0.0, 1.7, 0.0], 1.1));
}

/// `hit.is_none()` of an `Option` the function builds, inside an `&&` condition: the first
/// barrier hit of a Monte Carlo path.
#[differentiate]
fn barrier_rebate(s0: f64, sigma: f64, b: f64) -> f64 {
    let z = [0.3, 1.2, -0.4, 0.9, 1.5, -0.2];
    let dt: f64 = 0.02;
    let mut s = s0;
    let mut hit: Option<f64> = None;
    for (j, &e) in z.iter().enumerate() {
        let prev = s;
        s *= (sigma * dt.sqrt() * e).exp();
        if s > b && hit.is_none() {
            hit = Some((j as f64 + (b - prev) / (s - prev)) * dt);
        }
    }
    match hit {
        Some(t) => (-0.03 * t).exp(),
        None => 0.0,
    }
}

#[test]
fn option_flags_in_conditions() {
    let (value, (ds, dsigma, db)) = barrier_rebate_grad(100.0, 0.3, 104.0);
    assert_eq!(value.to_bits(), barrier_rebate(100.0, 0.3, 104.0).to_bits());
    assert_gradient(
        |p| barrier_rebate(p[0], p[1], p[2]),
        &[100.0, 0.3, 104.0],
        &[ds, dsigma, db],
        1e-7,
    );
}

/// The argmax idiom: `.enumerate().max_by(..).map(|(j, _)| j)` (`Option::map`), and a map of
/// the value itself.
#[differentiate]
fn weight_of_best(x: &[f64], w: f64) -> f64 {
    let j = x
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(j, _)| j)
        .unwrap();
    let top = x
        .iter()
        .copied()
        .reduce(f64::max)
        .map(|v| v * w)
        .unwrap_or(0.0);
    x[j] * 2.0 + x[0] + top
}

#[test]
fn option_map() {
    let x = [0.3, 1.2, -0.4];
    let (value, (dx, dw)) = weight_of_best_grad(&x, 0.5);
    assert_eq!(value.to_bits(), weight_of_best(&x, 0.5).to_bits());
    assert_eq!((dx, dw), (vec![1.0, 2.5, 0.0], 1.2));
}

/// Rows of integer data borrowed and iterated (`for &j in &nbrs[i]`, a neighbour list), in a
/// loop, under a branch, and before any loop: a borrow is never taped (the backward closure
/// holds no borrow of the arguments), so the backward sweep borrows again.
#[differentiate(wrt(x))]
fn neighbour_energy(x: &[f64], nbrs: &[Vec<usize>], pairs: &[[usize; 2]], order: &[usize]) -> f64 {
    let mut e = 0.0;
    for i in 0..x.len() {
        let k = (order[i] * 7 + 1) % nbrs.len();
        let row = &nbrs[k];
        for &j in row.iter() {
            e += x[i] * x[j];
        }
        if x[i] > 0.6 {
            for &j in &pairs[i % pairs.len()] {
                e += x[j].sin() * x[i];
            }
        }
    }
    let first = &nbrs[order[0]];
    for &j in first {
        e += x[j] * x[j];
    }
    e
}

#[test]
fn borrowed_integer_rows() {
    let nbrs = vec![vec![1, 2], vec![0], vec![0, 1]];
    let (pairs, order) = ([[0, 1], [2, 2]], [2, 0, 1]);
    for x in [[0.5, 1.5, 2.0], [0.7, 0.2, -0.4]] {
        let (value, dx) = neighbour_energy_grad(&x, &nbrs, &pairs, &order);
        assert_eq!(
            value.to_bits(),
            neighbour_energy(&x, &nbrs, &pairs, &order).to_bits()
        );
        assert_gradient(
            |p| neighbour_energy(p, &nbrs, &pairs, &order),
            &x,
            &dx,
            1e-8,
        );
    }
}

/// `*` of what an expression on integer data gives by reference (`*counts.iter().max().unwrap()`,
/// `*ids.get(1).unwrap()`, a map's `*vocab.get("b").unwrap()`), also through a `let`: kept as
/// written.
#[differentiate(wrt(lam))]
fn by_largest_count(
    lam: &[f64],
    counts: &[u32],
    ids: &[usize],
    vocab: &std::collections::HashMap<&str, usize>,
) -> f64 {
    let kmax = *counts.iter().max().unwrap() as f64;
    let top = counts.iter().min().unwrap();
    let i = *ids.get(1).unwrap();
    let b = *vocab.get("b").unwrap();
    lam.iter().map(|l| l * kmax).sum::<f64>() + lam[i] * *top as f64 + lam[b] * lam[b]
}

#[test]
fn dereferenced_integer_data() {
    let vocab = std::collections::HashMap::from([("a", 0), ("b", 2)]);
    let (lam, counts, ids) = ([0.5, 1.5, 2.0], [3, 2, 5], [0, 1]);
    let (value, dlam) = by_largest_count_grad(&lam, &counts, &ids, &vocab);
    assert_eq!(
        value.to_bits(),
        by_largest_count(&lam, &counts, &ids, &vocab).to_bits()
    );
    assert_eq!(dlam, vec![5.0, 5.0 + 2.0, 5.0 + 2.0 * 2.0]);
}

/// Slices of integer and bool data, borrowed: `&obs[1..]`, `obs[..2].iter()`, `&labels[..=1]`,
/// `labels.windows(2)` and `labels.chunks(2)` (label sequences of sequence models).
#[differentiate(wrt(x))]
fn over_label_slices(x: &[f64], obs: &[usize], labels: &[usize], mask: &[bool]) -> f64 {
    let mut s = 0.0;
    for &o in &obs[1..] {
        s += x[o] * x[o];
    }
    for w in labels.windows(2) {
        s += x[w[0]] * x[w[1]];
    }
    for (k, c) in labels.chunks(2).enumerate() {
        if mask[k] {
            s += x[c[0]] * 0.5 + x[c[c.len() - 1]];
        }
    }
    for (c, m) in obs[..2].iter().zip(mask.chunks_exact(1)) {
        if m[0] {
            s += x[*c].sin();
        }
    }
    let head = &labels[..=1];
    s + x[head[1]] * 3.0
}

#[test]
fn slices_of_label_data() {
    let (obs, labels, mask) = ([0, 2, 1], [0, 2, 1], [true, true]);
    for x in [[0.5, 1.5, 2.5], [-0.3, 0.8, 1.1]] {
        let (value, dx) = over_label_slices_grad(&x, &obs, &labels, &mask);
        assert_eq!(
            value.to_bits(),
            over_label_slices(&x, &obs, &labels, &mask).to_bits()
        );
        assert_gradient(
            |p| over_label_slices(p, &obs, &labels, &mask),
            &x,
            &dx,
            1e-8,
        );
    }
}

/// `any` and `all` negated and inside `||` / `&&` conditions: the guards of a log-density
/// (`!(s > 0.0)` is as written, to reject NaN too).
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[differentiate]
fn guarded_log_density(s: f64, y: &[f64]) -> f64 {
    if !(s > 0.0) || !y.iter().all(|&v| v > 0.0) {
        return f64::NEG_INFINITY;
    }
    let heavy = !y.iter().any(|&v| v > 3.0);
    let skew = y.len() > 1 && y.iter().skip(1).any(|&v| v > y[0]);
    let mut lp = -y.iter().map(|v| (v / s).ln().powi(2)).sum::<f64>() - s.ln();
    if heavy {
        lp *= 0.5;
    }
    if skew { lp + y[0] } else { lp }
}

#[test]
fn negated_any_all() {
    for (s, y) in [
        (2.0, vec![1.5, 2.0]),
        (0.7, vec![2.5, 0.4, 3.5]),
        (1.1, vec![-1.0, 2.0]),
    ] {
        let (value, (ds, dy)) = guarded_log_density_grad(s, &y);
        assert_eq!(value.to_bits(), guarded_log_density(s, &y).to_bits());
        if value.is_finite() {
            let point = [&[s][..], &y].concat();
            let grad = [&[ds][..], &dy].concat();
            assert_gradient(|p| guarded_log_density(p[0], &p[1..]), &point, &grad, 1e-7);
        } else {
            assert_eq!((ds, dy), (0.0, vec![0.0; y.len()]));
        }
    }
}

/// Integers collected with a closure (`idx.iter().map(|&i| i + 1).collect()`), into a typed
/// `let` and assigned again in a loop (back-pointers of a decoder).
#[differentiate]
fn shifted_pairs(x: &[f64]) -> f64 {
    let start: Vec<usize> = vec![0, 1];
    let mut idx: Vec<usize> = start.iter().map(|&i| i + 1).collect();
    let mut s = x[idx[0]] * x[idx[1]];
    for k in 0..2 {
        s += x[idx[0]] * x[idx[1]] * (k + 1) as f64;
        idx = idx.iter().map(|&i| (i + 1) % x.len()).collect();
    }
    s
}

#[test]
fn integers_collected_with_closures() {
    let x = [0.5, 1.5, 2.5];
    let (value, dx) = shifted_pairs_grad(&x);
    assert_eq!(value.to_bits(), shifted_pairs(&x).to_bits());
    assert_gradient(shifted_pairs, &x, &dx, 1e-8);
}

/// `max_by` / `min_by` over rows: windows of a slice, the rows of a `&[[f64; 2]]` with their
/// positions (the nearest neighbour), and `.map(..)` of the best row; the best item is read
/// again from its position.
#[differentiate(hessian)]
fn best_rows(x: &[f64], pts: &[[f64; 2]]) -> f64 {
    let w = x
        .windows(2)
        .max_by(|a, b| (a[0] + a[1]).total_cmp(&(b[0] + b[1])))
        .unwrap();
    let (j, near) = pts
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| {
            let da = (a[0] - x[0]).powi(2) + (a[1] - x[1]).powi(2);
            let db = (b[0] - x[0]).powi(2) + (b[1] - x[1]).powi(2);
            da.total_cmp(&db)
        })
        .unwrap();
    let far = pts
        .iter()
        .max_by(|a, b| a[1].total_cmp(&b[1]))
        .map(|p| p[0] * p[1])
        .unwrap_or(0.0);
    w[0] * w[1] + near[0] * x[2] + near[1].sin() + j as f64 + far * x[0]
}

#[test]
fn max_by_over_rows() {
    let pts = [[0.1, 1.0], [0.5, 1.5], [2.0, -1.0]];
    let flat: Vec<f64> = pts.iter().flatten().copied().collect();
    let unflat = |q: &[f64]| [[q[0], q[1]], [q[2], q[3]], [q[4], q[5]]];
    for x in [[0.3, 1.4, 0.9, 0.2], [1.9, -0.8, 0.4, 1.1]] {
        let (value, (dx, dpts)) = best_rows_grad(&x, &pts);
        assert_eq!(value.to_bits(), best_rows(&x, &pts).to_bits());
        assert_gradient(|p| best_rows(p, &pts), &x, &dx, 1e-8);
        let dflat: Vec<f64> = dpts.iter().flatten().copied().collect();
        assert_gradient(|q| best_rows(&x, &unflat(q)), &flat, &dflat, 1e-8);
        let (_, _, hessian) = best_rows_hessian(&x, &pts);
        for i in 0..4 {
            let row = |p: &[f64]| best_rows_grad(p, &pts).1.0[i];
            assert_gradient(row, &x, &hessian[i][..4], 1e-6);
        }
    }
}

/// Items of data that is not differentiated, borrowed as its iterator gives them: tokens
/// (`&[String]`) looked up in a map, labels by `&l`, by `*l`, `.copied()`, zipped with numbers,
/// edges `&(u, v)` and `(u, v)`, adjacency rows, and integer consumers (`sum`, `filter`).
#[differentiate(wrt(x))]
fn token_scores(
    x: &[f64],
    tokens: &[String],
    vocab: &std::collections::HashMap<String, usize>,
    labels: &[usize],
    edges: &[(usize, usize)],
    nbrs: &[Vec<usize>],
) -> f64 {
    let mut s = 0.0;
    for t in tokens {
        if let Some(&i) = vocab.get(t) {
            s += x[i] * x[i];
        }
    }
    for (k, t) in tokens.iter().enumerate() {
        let i = vocab[t];
        s += x[i] * k as f64;
    }
    for &l in labels {
        s += x[l];
    }
    for l in labels.iter() {
        s += x[*l] * 0.5;
    }
    for l in labels.iter().copied() {
        s += x[l] * 0.25;
    }
    for (l, v) in labels.iter().zip(x.iter()) {
        s += x[*l] * v;
    }
    for &(u, v) in edges {
        s += (x[u] - x[v]).powi(2);
    }
    for (u, v) in edges.iter() {
        s += x[*u] * x[*v];
    }
    for row in nbrs.iter() {
        for &j in row {
            s += x[j].sin();
        }
    }
    let total: usize = labels.iter().sum();
    let positive = labels.iter().filter(|&&l| l > 0).count();
    let m = labels.iter().map(|l| x[*l]).sum::<f64>();
    let m2 = labels.iter().map(|&l| x[l] * 2.0).fold(0.0, |a, b| a + b);
    s + total as f64 * x[0] + positive as f64 + m + m2
}

#[test]
fn borrowed_items_of_data() {
    let vocab: std::collections::HashMap<String, usize> =
        [("a".to_string(), 0), ("b".to_string(), 2)]
            .into_iter()
            .collect();
    let tokens: Vec<String> = ["b", "a", "b"].iter().map(|s| s.to_string()).collect();
    let (labels, edges) = ([0, 2, 1], [(0, 1), (1, 2)]);
    let nbrs = vec![vec![1, 2], vec![0], vec![]];
    let x = [0.5, 1.5, 2.5];
    let (value, dx) = token_scores_grad(&x, &tokens, &vocab, &labels, &edges, &nbrs);
    let f = |p: &[f64]| token_scores(p, &tokens, &vocab, &labels, &edges, &nbrs);
    assert_eq!(value.to_bits(), f(&x).to_bits());
    assert_gradient(f, &x, &dx, 1e-8);
}

#[differentiate(wrt(h))]
fn mean_of_neighbours(h: &[f64], nb: &[usize]) -> f64 {
    let mut y = 0.0;
    for &j in nb {
        y += h[j];
    }
    y / nb.len() as f64
}

#[differentiate(wrt(h))]
fn pair_term(h: &[f64], u: usize) -> f64 {
    h[u] * h[u]
}

/// Integer data handed on to differentiated calls: rows of an adjacency list (`&adj[i]`, and
/// `nb` of `adj.iter()`, a GNN's aggregation) and the integers of `for &(u, v) in edges`.
#[differentiate(wrt(h))]
fn message_passing(h: &[f64], adj: &[Vec<usize>], edges: &[(usize, usize)]) -> f64 {
    let mut l = 0.0;
    for i in 0..adj.len() {
        let y = mean_of_neighbours(h, &adj[i]);
        l += y * y;
    }
    for nb in adj.iter() {
        l += mean_of_neighbours(h, nb).sin();
    }
    for &(u, v) in edges {
        l += pair_term(h, u) * pair_term(h, v);
    }
    l
}

#[test]
fn integer_rows_to_calls() {
    let adj = vec![vec![1, 2], vec![0], vec![0, 1]];
    let edges = [(0, 1), (2, 2)];
    let h = [0.5, -1.0, 2.0];
    let (value, dh) = message_passing_grad(&h, &adj, &edges);
    assert_eq!(value.to_bits(), message_passing(&h, &adj, &edges).to_bits());
    assert_gradient(|p| message_passing(p, &adj, &edges), &h, &dh, 1e-8);
}

use autodiff_core::differentiate;
use std::cmp::Ordering;

// A comparator is kept as written (the order it gives has no derivative), so what it assigns
// would change the function's variables behind the sweeps' back; a `return` in it too.
#[differentiate]
fn ranked(x: &[f64]) -> f64 {
    let mut pen = 0.0;
    for v in x {
        pen += v * 0.1;
    }
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| {
        if x[a] < 0.0 {
            pen += 1.0;
        }
        x[a].total_cmp(&x[b])
    });
    let mut s = x.to_vec();
    s.sort_by(|a, b| {
        if a.is_nan() {
            return Ordering::Greater;
        }
        a.total_cmp(b)
    });
    x[idx[0]] * pen + s[0]
}

fn main() {}

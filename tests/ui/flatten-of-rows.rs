// `.flatten()` of rows runs as a loop over the rows with a loop over each row's elements
// inside: a `for` loop without `break`, or `sum`, `product`, `fold` and `collect`. A `break`
// would leave only the inner loop, and consumers that keep a position (`max_by`, `enumerate`)
// would count within one row: errors that say what works. So does `flat_map` over what is not
// rows.
use autodiff_core::differentiate;

#[differentiate]
fn largest(e: &[Vec<f64>]) -> f64 {
    *e.iter().flatten().max_by(|a, b| a.total_cmp(b)).unwrap()
}

#[differentiate]
fn first_negative(e: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for w in e.iter().flatten() {
        if *w < 0.0 {
            break;
        }
        s += w * w;
    }
    s
}

#[differentiate]
fn weighted(e: &[Vec<f64>]) -> f64 {
    e.iter().flatten().enumerate().map(|(i, w)| i as f64 * w).sum::<f64>()
}

#[differentiate]
fn doubled(x: &[f64]) -> f64 {
    x.iter().flat_map(|v| [*v, 2.0 * v]).sum::<f64>()
}

// A macro in `flat_map`'s closure could name its parameter where the macro cannot see it.
#[differentiate]
fn listed(e: &[Vec<f64>]) -> f64 {
    e.iter().flat_map(|r| vec![r[0]]).sum::<f64>()
}

fn main() {}

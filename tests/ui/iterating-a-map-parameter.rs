use autodiff_core::differentiate;
use std::collections::{BTreeMap, HashMap};

// A loop indexes what it iterates, which a map or a set cannot be: the error says how to
// iterate its keys. (A chain of the map's data alone, `qty.values().sum()`, runs as written.)
#[differentiate(wrt(prices))]
fn order_value(prices: &[f64], qty: &HashMap<usize, f64>) -> f64 {
    let mut s = 0.0;
    for (k, q) in qty {
        s += prices[*k] * q;
    }
    s
}

#[differentiate(wrt(w))]
fn weighted(w: &[f64], m: &BTreeMap<usize, f64>) -> f64 {
    m.values().zip(w).map(|(a, b)| a * b).sum()
}

fn main() {}

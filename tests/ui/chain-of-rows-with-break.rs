// A `for` loop over rows of two matrices chained runs as two loops, one after the other; a
// `break` would have to skip the second, so it stays an error, as an adapter after the
// `chain` does (the position `enumerate` counts runs across both).
use autodiff_core::differentiate;

#[differentiate]
fn first_large(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let mut s = 0.0;
    for r in a.iter().chain(b.iter()) {
        if r[0] > 1.0 {
            break;
        }
        s += r[0] * r[1];
    }
    s
}

#[differentiate]
fn weighted(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let mut s = 0.0;
    for (t, r) in a.iter().chain(b).enumerate() {
        s += t as f64 * r[1];
    }
    s
}

// A jump to an outer loop from the first matrix's rows would skip the second's too.
#[differentiate]
fn until_large(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let mut s = 0.0;
    'outer: for k in 0..2 {
        for r in a.iter().chain(b) {
            if s > 2.0 {
                continue 'outer;
            }
            s += r[k];
        }
    }
    s
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn pairs(x: &[f64]) -> Vec<f64> {
    vec![x[0] * 2.0, x[1] * x[0], x[2]]
}

// Slices of data that is not differentiated are borrowed; of a call's differentiated result
// not bound to a name (bound, it is an array: `let h = pairs(x); h.windows(2)`), an error
// rather than a slice without derivative.
#[differentiate]
fn chain(x: &[f64], labels: &[usize]) -> f64 {
    let mut s = 0.0;
    for w in labels.windows(2) {
        s += x[w[0]] * x[w[1]];
    }
    for w in pairs(x).windows(2) {
        s += w[0] * w[1];
    }
    s
}

fn main() {}

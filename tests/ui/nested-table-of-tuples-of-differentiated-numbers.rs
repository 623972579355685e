use autodiff_core::differentiate;

// A table of constant tuples nested in arrays works (`[[(0, 1.0), (1, -1.0)], ..]`); one whose
// tuples hold a differentiated value is rejected as a flat one is.
#[differentiate]
fn fluxes(q: &[f64], x: &[f64]) -> f64 {
    let a = x[0];
    let loops = [[(0, a), (1, -1.0)], [(1, 1.0), (2, 1.0)]];
    let mut acc = 0.0;
    for lp in loops.iter() {
        for &(e, s) in lp.iter() {
            acc += s * q[e];
        }
    }
    acc
}

fn main() {}

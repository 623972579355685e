use autodiff_core::differentiate;

// A built `Option` compared with another as a whole: the message says how to test it.
#[differentiate]
fn repeats(x: &[f64]) -> f64 {
    let mut best: Option<f64> = None;
    let mut s = 0.0;
    for &v in x {
        if best == Some(v) {
            s += v;
        }
        best = Some(v);
    }
    s
}

fn main() {}

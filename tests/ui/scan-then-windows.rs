use autodiff_core::differentiate;

// `scan` is not supported; the `Vec` it would give reports nothing more where it is used.
#[differentiate]
fn path(r: &[f64]) -> f64 {
    let cum: Vec<f64> = r
        .iter()
        .scan(0.0, |acc, &x| {
            *acc += x;
            Some(*acc)
        })
        .collect();
    cum.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>()
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn ragged(a: f64, b: f64) -> f64 {
    let m = vec![vec![a, b], vec![a]];
    m[0][1] * m[1][0]
}

#[differentiate]
fn mixed_rows(a: f64, b: f64) -> f64 {
    let m = vec![vec![a, b], [b, a].to_vec()];
    m[0][1] * m[1][0]
}

fn main() {}

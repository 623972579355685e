use autodiff_core::differentiate;

#[differentiate]
fn ragged(a: f64, b: f64) -> f64 {
    let m = vec![vec![a, b], vec![a]];
    m[0][1] * m[1][0]
}

#[differentiate]
fn rows_all_computed(a: f64, b: f64) -> f64 {
    let (r0, r1) = ([a, b], [b, a]);
    let m = [r0, r1];
    m[0][1] * m[1][0]
}

#[differentiate]
fn empty_rows(a: f64) -> f64 {
    let m: Vec<Vec<f64>> = vec![vec![], vec![]];
    a * m.len() as f64
}

fn main() {}

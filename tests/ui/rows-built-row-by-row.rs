use autodiff_core::differentiate;

#[differentiate]
fn pushed_rows(x: &[f64]) -> f64 {
    let mut k: Vec<Vec<f64>> = Vec::new();
    for i in 0..2 {
        let row = vec![x[i], x[i] * x[i]];
        k.push(row);
    }
    k[0][1] + k[1][0]
}

#[differentiate]
fn gram(x: &[f64]) -> f64 {
    let n = x.len();
    let k: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| x[i] * x[j]).collect()).collect();
    k[0][1]
}

fn main() {}

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

// Rows as long as the item they come from: the matrix's shape is not known before the loop.
#[differentiate]
fn triangle(x: &[f64]) -> f64 {
    let n = x.len();
    let k: Vec<Vec<f64>> = (0..n).map(|i| (0..=i).map(|j| x[i] * x[j]).collect()).collect();
    k[1][0]
}

#[differentiate]
fn kernel(cost: &[Vec<f64>]) -> f64 {
    let k: Vec<Vec<f64>> = cost.iter().map(|row| row.iter().map(|c| (-c).exp()).collect()).collect();
    k[0][0]
}

fn main() {}

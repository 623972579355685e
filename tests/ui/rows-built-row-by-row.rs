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

// Rows whose length changes after they are made: grown, or assigned whole again.
#[differentiate]
fn grown_rows(x: &[f64]) -> f64 {
    let rows: Vec<Vec<f64>> = x
        .iter()
        .map(|&v| {
            let mut r = vec![v];
            r.push(v * v);
            r
        })
        .collect();
    rows[0][1]
}

#[differentiate]
fn replaced_rows(x: &[f64]) -> f64 {
    let rows: Vec<Vec<f64>> = x
        .iter()
        .map(|&v| {
            let mut r = vec![v, 1.0];
            if v > 0.5 {
                r = vec![v; 3];
            }
            r
        })
        .collect();
    rows[0][1]
}

#[differentiate]
fn filled_with_a_grown_row(x: &[f64]) -> f64 {
    let mut row = vec![x[0], x[1]];
    row.push(x[2]);
    let m = vec![row; 2];
    m[1][2]
}

fn main() {}

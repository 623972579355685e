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

// Rows whose length is computed from an element the loop might not reach (`rows[0]` of an empty
// `rows`): not computed ahead of it.
#[differentiate]
fn centered(rows: &[Vec<f64>]) -> f64 {
    let c: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| (0..rows[0].len()).map(|j| r[j] - rows[0][j]).collect())
        .collect();
    c[0][0]
}

// A `Vec` row of an outer block, which the loop assigns again after using it.
#[differentiate]
fn row_replaced_later_in_the_loop(x: &[f64]) -> f64 {
    let mut r = vec![x[0], x[1]];
    let mut s = 0.0;
    for t in 0..3 {
        let m = vec![r; 2];
        s += m[1][0];
        r = vec![x[2] * t as f64; t + 3];
    }
    s
}

// Columns of a range of a local matrix's rows: as long as the range, not as a row.
#[differentiate]
fn columns_of_a_range_of_rows(x: &[f64]) -> f64 {
    let m = x.len();
    let s = vec![vec![x[0]; m]; 4];
    let t: Vec<Vec<f64>> = (0..m).map(|j| s[1..].iter().map(|r| r[j]).collect()).collect();
    t[0][0]
}

fn main() {}

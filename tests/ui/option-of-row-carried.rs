use autodiff_core::differentiate;

#[differentiate]
fn sqd(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

// The hardest negative kept as an `Option` of a row (untyped: `Option<&Vec<f64>>` works): the
// message says to keep its index.
#[differentiate]
fn hard_negative(emb: &[Vec<f64>], anchor: usize) -> f64 {
    let mut neg = None;
    let mut nd = f64::INFINITY;
    for i in 0..emb.len() {
        let d = sqd(&emb[anchor], &emb[i]);
        if i != anchor && d < nd {
            nd = d;
            neg = Some(&emb[i]);
        }
    }
    match neg {
        Some(n) => (1.0 - sqd(&emb[anchor], n)).max(0.0),
        None => 0.0,
    }
}

fn main() {}

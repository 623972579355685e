use autodiff_core::differentiate;

#[differentiate]
fn sorted_median(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[s.len() / 2]
}

#[differentiate]
fn first_above(x: &[f64], t: f64) -> f64 {
    if let Some(i) = x.iter().position(|v| *v > t) { x[i] } else { 0.0 }
}

fn main() {}

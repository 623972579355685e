use autodiff_core::differentiate;

#[differentiate]
fn centred(y: &[f64], mu: f64) -> f64 {
    y.iter()
        .zip(std::iter::repeat(mu))
        .map(|(v, m)| (v - m) * (v - m))
        .sum()
}

fn main() {}

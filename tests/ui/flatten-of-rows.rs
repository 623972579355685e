use autodiff_core::differentiate;

#[differentiate]
fn l2(e: &[Vec<f64>]) -> f64 {
    e.iter().flatten().map(|w| w * w).sum::<f64>()
}

fn main() {}

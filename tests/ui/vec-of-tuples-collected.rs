use autodiff_core::differentiate;

#[differentiate]
fn pairs(x: &[f64], y: f64) -> f64 {
    let p: Vec<(f64, f64)> = x.iter().map(|v| (v * y, v + y)).collect();
    p.len() as f64
}

fn main() {}

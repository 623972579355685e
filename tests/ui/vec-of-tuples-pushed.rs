use autodiff_core::differentiate;

#[differentiate]
fn history_cost(demand: &[f64], hold: f64) -> f64 {
    let mut inv = 10.0;
    let mut hist: Vec<(f64, f64)> = Vec::new();
    for &d in demand {
        inv -= d;
        hist.push((inv, hold * inv));
    }
    hist.len() as f64
}

fn main() {}

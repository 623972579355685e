use autodiff_core::differentiate;

#[differentiate]
fn halve_until_small(x: f64) -> f64 {
    if x < 1.0 { x } else { halve_until_small(x / 2.0) }
}

fn main() {}

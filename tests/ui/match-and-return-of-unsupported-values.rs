use autodiff_core::differentiate;

#[differentiate]
fn on_an_option_with_three_arms(v: &[f64]) -> f64 {
    let best = v.iter().copied().reduce(f64::max);
    match best {
        Some(b) if b > 1.0 => b,
        Some(b) => 2.0 * b,
        None => 0.0,
    }
}

#[differentiate]
fn part_of_an_array(x: [[[f64; 2]; 2]; 3]) -> [[f64; 2]; 2] {
    x[1]
}

fn main() {}

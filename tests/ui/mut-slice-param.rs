use autodiff_core::differentiate;

#[differentiate]
fn scale_in_place(x: &mut [f64], s: f64) -> f64 {
    x[0] * s
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn spring(ends: (f64, f64), k: f64) -> f64 {
    let d = ends.1 - ends.0;
    0.5 * k * d * d
}

fn main() {
    let _ = spring_grad((0.0, 1.0), 2.0);
}

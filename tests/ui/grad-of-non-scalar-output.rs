use autodiff_core::differentiate;

#[differentiate]
fn polar(r: f64, t: f64) -> [f64; 2] {
    [r * t.cos(), r * t.sin()]
}

fn main() {
    // `_grad` needs a scalar output: the error says to use `polar_pullback`.
    let _ = polar_grad(1.0, 0.5);
    let mut grad = (0.0, 0.0);
    let _ = polar_grad_into(1.0, 0.5, &mut grad);
    let _ = polar_pullback(1.0, 0.5, [1.0, 0.0]);
}

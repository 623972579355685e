use autodiff_core::differentiate;

#[differentiate]
fn f(xs: &[f64]) -> f64 {
    let s = xs.iter().fold([0.0, 1.0], |acc, &v| [acc[0] + v, acc[1] * v]);
    s[0] * s[1]
}

fn main() {}

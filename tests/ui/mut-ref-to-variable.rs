// A `&mut` reference to one of two variables, chosen by a condition, is not followed.
use autodiff_core::differentiate;

#[differentiate]
fn split_acc(x: &[f64]) -> f64 {
    let mut s = 0.0;
    let mut t = 0.0;
    for (i, v) in x.iter().enumerate() {
        let e = if i % 2 == 0 { &mut s } else { &mut t };
        *e += v * v;
    }
    2.0 * s + t
}

fn main() {
    let _ = split_acc_grad(&[1.0, 2.0, 3.0]);
}

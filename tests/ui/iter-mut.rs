use autodiff_core::differentiate;

#[differentiate]
fn f(x: &[f64]) -> f64 {
    let mut a = x.to_vec();
    for v in a.iter_mut() {
        *v *= 2.0;
    }
    a[0]
}

fn main() {}

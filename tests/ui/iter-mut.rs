use autodiff_core::differentiate;

// `iter_mut()` as a loop's source works; inside a `map` it does not.
#[differentiate]
fn f(x: &[f64]) -> f64 {
    let mut a = x.to_vec();
    let total: f64 = a
        .iter_mut()
        .map(|v| {
            *v *= 2.0;
            *v
        })
        .sum();
    total + a[0]
}

fn main() {}

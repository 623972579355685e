use autodiff_core::differentiate;

#[differentiate]
fn f(x: &[f64]) -> f64 {
    x.iter()
        .map(|v| {
            if *v < 0.0 {
                return 0.0;
            }
            v.sqrt()
        })
        .sum()
}

// The same in `std::array::from_fn`, whose closure is written as the loop that fills the array:
// the `return` would leave the loop's iteration with the wrong value, so it is the same error.
#[differentiate]
fn g(x: &[f64]) -> f64 {
    let a: [f64; 2] = std::array::from_fn(|i| {
        if x[i] < 0.0 {
            return 0.0;
        }
        x[i] * 2.0
    });
    a[0] + a[1]
}

fn main() {}

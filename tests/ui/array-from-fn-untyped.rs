use autodiff_core::differentiate;

#[differentiate]
fn doubled(x: [f64; 3]) -> f64 {
    let y = std::array::from_fn::<f64, 3, _>(|i| x[i] * 2.0);
    y[0] + y[2]
}

fn main() {}

use autodiff_core::differentiate;

// `.into()` of a differentiated number: the error says to convert with `as`.
#[differentiate]
fn widen(x: f32, y: f64) -> f64 {
    let b: f64 = x.into();
    b * y
}

fn main() {}

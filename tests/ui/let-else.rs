use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64, scale: Option<f64>) -> f64 {
    let Some(s) = scale else {
        return 0.0;
    };
    s * x
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> i64 {
    (x * 2.0) as i64
}

fn main() {}

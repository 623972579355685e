use autodiff_core::differentiate;

fn parse(s: &str) -> Option<f64> {
    s.parse().ok()
}

#[differentiate]
fn f(x: f64, s: &str) -> f64 {
    let k = parse(s)?;
    k * x
}

fn main() {}

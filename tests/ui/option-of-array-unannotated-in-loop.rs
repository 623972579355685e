use autodiff_core::differentiate;

#[differentiate]
fn previous(a: f64, b: f64) -> f64 {
    let mut cur = [a, b];
    let mut prev = None;
    for _ in 0..3 {
        prev = Some(cur);
        cur = [cur[1] * a, cur[0]];
    }
    if let Some(p) = prev { p[0] + cur[0] } else { 0.0 }
}

fn main() {}

use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64, n: usize) -> f64 {
    let mut k = Some(n);
    let mut y = x;
    while let Some(m) = k {
        y *= 2.0;
        k = if m > 0 { Some(m - 1) } else { None };
    }
    y
}

fn main() {}

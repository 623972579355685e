use autodiff_core::differentiate;

#[differentiate]
fn f(a: [f64; 2], b: [f64; 2], first: bool) -> f64 {
    let chosen = if first { a } else { b };
    chosen[0] * chosen[1]
}

fn main() {}

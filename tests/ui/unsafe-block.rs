use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let y = unsafe { std::ptr::read_volatile(&x) };
    y * x
}

fn main() {}

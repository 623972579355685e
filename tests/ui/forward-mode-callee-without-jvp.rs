use autodiff_core::differentiate;

#[differentiate]
fn square(x: f64) -> f64 {
    x * x
}

#[differentiate(jvp)]
fn f(x: f64) -> f64 {
    // `square` has no forward mode: the error says to add `jvp` to it.
    square(x) + x
}

fn main() {
    let _ = f_jvp(1.0, 1.0);
}

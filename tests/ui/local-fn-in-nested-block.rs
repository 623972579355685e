use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    // A function declared in a nested block is as local as one at the top of the body.
    let y = {
        fn inner(a: f64) -> f64 {
            a * a
        }
        inner(x)
    };
    y + x
}

fn main() {}

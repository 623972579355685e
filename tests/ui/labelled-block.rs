use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let y = 'done: {
        break 'done x * 2.0;
    };
    y
}

fn main() {}

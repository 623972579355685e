use autodiff_core::differentiate;

#[differentiate]
fn pair(x: f64) -> (f64, f64) {
    (x * x, x.sin())
}

// An `Option` the function is given, then one it builds, in the same variable across a loop.
#[differentiate(wrt(x))]
fn smooth(x: &[f64], start: Option<f64>) -> f64 {
    let mut prev = start;
    let mut s = 0.0;
    for i in 0..x.len() {
        let p = prev.unwrap_or(x[i]);
        s += (x[i] - p).powi(2);
        prev = Some(x[i]);
    }
    s
}

// A call's tuple, then a tuple written out, in the same variable across a loop.
#[differentiate]
fn stepped(x: f64) -> f64 {
    let mut t = pair(x);
    let mut s = 0.0;
    for k in 0..3 {
        s += t.0 * t.1;
        t = (t.1 + k as f64 * x, t.0 * 0.5);
    }
    s
}

fn main() {
    let _ = smooth_grad(&[0.4, -0.8], Some(0.3));
    let _ = stepped_grad(0.7);
}

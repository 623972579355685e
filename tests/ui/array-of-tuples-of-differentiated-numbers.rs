use autodiff_core::differentiate;

// A table of knots as `(t, value)` pairs holding differentiated values: each part in an array
// of its own works (a table of constant tuples does too).
#[differentiate]
fn interpolate(a: f64, b: f64, x: f64) -> f64 {
    let knots = [(0.0, a), (1.0, b)];
    let (x0, y0) = knots[0];
    let (x1, y1) = knots[1];
    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
}

fn main() {}

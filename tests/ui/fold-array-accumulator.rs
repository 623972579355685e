use autodiff_core::differentiate;

// A closure written in the `fold` works; one bound to a name is not inlined with an array.
#[differentiate]
fn f(xs: &[f64]) -> f64 {
    let step = |acc: [f64; 2], v: &f64| [acc[0] + v, acc[1] * v];
    let s = xs.iter().fold([0.0, 1.0], step);
    s[0] * s[1]
}

// A `Vec` accumulator changed in place (`mut acc`) is not rewritten into the loop.
#[differentiate]
fn g(xs: &[f64]) -> f64 {
    let c = xs.iter().fold(vec![0.0; 2], |mut acc, v| {
        acc[0] += v;
        acc
    });
    c[0]
}

fn main() {}

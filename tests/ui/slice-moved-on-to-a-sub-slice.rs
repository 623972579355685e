use autodiff_core::differentiate;

// A slice variable walked forward, by re-slicing and by a slice pattern's rest: an index
// into the slice is the supported form.
#[differentiate]
fn pair_error(x: &[f64], a: f64) -> f64 {
    let mut rest = x;
    let mut acc = 0.0;
    while rest.len() >= 2 {
        acc += (rest[1] - a * rest[0]).powi(2);
        rest = &rest[1..];
    }
    acc
}

#[differentiate]
fn energy(x: &[f64], a: f64) -> f64 {
    let (mut acc, mut cur) = (0.0, x);
    while let [head, tail @ ..] = cur {
        acc += a * head * head;
        cur = tail;
    }
    acc
}

fn main() {}

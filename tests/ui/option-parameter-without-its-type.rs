use autodiff_core::differentiate;

// `Option` written without what it holds, next to rustc's own error about the missing argument:
// the macro cannot tell the payload, and said so with a panic before.
#[differentiate]
fn pick(x: f64, idx: Option) -> f64 {
    idx.or(Some(x)).unwrap()
}

fn main() {}

use autodiff_core::differentiate;

#[derive(Clone, Copy)]
pub enum Prior {
    Normal(f64),
    Flat,
}

#[differentiate]
fn clipped(x: f64) -> f64 {
    match x {
        v @ 0.0..=1.0 => 2.0 * v,
        _ => x,
    }
}

#[differentiate(wrt(x))]
fn guarded(x: f64, prior: Prior) -> f64 {
    match prior {
        Prior::Normal(s) if s > 1.0 => x / s,
        _ => x,
    }
}

fn main() {}

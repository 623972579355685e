use autodiff_core::differentiate;

// `g` differentiates only `x`; `f` passes its active `a` as `s` too. Its derivative through `s`
// would be lost, so the call does not compile.
#[differentiate(wrt(x))]
fn g(x: f64, s: f64) -> f64 {
    x * s
}

#[differentiate]
fn f(a: f64) -> f64 {
    g(a, a)
}

fn main() {
    let _ = f_grad(1.5);
}

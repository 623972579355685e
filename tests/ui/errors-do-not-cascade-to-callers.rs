use autodiff_core::differentiate;

#[differentiate]
fn f(x: f64, y: f64) -> f64 {
    let t = x.next_up();
    t * y
}

#[differentiate]
fn g(x: f64) -> f64 {
    f(x, 2.0) * x
}

fn main() {
    let (_value, (_dx, _dy)) = f_grad(1.0, 2.0);
    let (_dx, _dy) = f_pullback(1.0, 2.0, 1.0);
    let mut grad = (0.0, 0.0);
    let _value: f64 = f_grad_into(1.0, 2.0, &mut grad);
    let (_value, _dx) = g_grad(1.0);
}

use autodiff_core::differentiate;

// The generated code names the adjoint of `x` `d_x`, the slot of its gradient `grad_x`, the
// temporary for `x.sin()` `t0` and the second version of `z` `z_1`; none of them is visible to
// the user's code.
#[differentiate]
fn f(x: f64, y: f64) -> f64 {
    let mut z = x.sin() * y;
    z += x;
    z + d_x + grad_x + d_z + t0 + z_1 + d_out
}

fn main() {}

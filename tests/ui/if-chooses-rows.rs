use autodiff_core::differentiate;

// Each branch gives a different row: the macro would have to copy one; it asks for elements.
#[differentiate]
fn row_by_branch(m: &[[f64; 2]; 2], first: bool) -> f64 {
    let r = if first { m[0] } else { m[1] };
    r[0] * r[1]
}

fn main() {
    let _ = row_by_branch_grad(&[[1.0, 2.0], [3.0, 4.0]], true);
}

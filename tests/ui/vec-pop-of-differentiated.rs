use autodiff_core::differentiate;

// Methods that shrink a `Vec` of differentiated numbers: one message that says what to write.
#[differentiate]
fn stack(x: &[f64]) -> f64 {
    let mut st = x.to_vec();
    let mut s = 0.0;
    while let Some(v) = st.pop() {
        s = s * 0.5 + v;
    }
    s
}

fn main() {}

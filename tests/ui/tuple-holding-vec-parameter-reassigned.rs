use autodiff_core::differentiate;

#[differentiate]
fn carried(x0: Vec<f64>, a: f64) -> f64 {
    let mut st = (x0, 0.0);
    for _ in 0..3 {
        let xn = vec![st.0[1] * a, st.0[0]];
        st = (xn, st.1 + st.0[0]);
    }
    st.1
}

fn main() {}
